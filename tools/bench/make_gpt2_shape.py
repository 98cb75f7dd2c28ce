#!/usr/bin/env python3
"""Writes a GPT-2 124M-shape model with random weights, for speed comparisons.

The model is `GPT2LMHeadModel(GPT2Config())` from Hugging Face transformers:
GPT2Config's defaults are GPT-2 124M's shape (12 layers, 12 heads, width 768,
vocabulary 50257, 1024 positions, tied embeddings), initialised by transformers
after `torch.manual_seed(seed)`. Random weights run exactly as fast as trained
ones; only the shape matters for a speed benchmark. The folder gets the real GPT-2
tokenizer (tools/bench/gpt2-tokenizer: vocab.json, merges.txt, and the
tokenizer.json that transformers' GPT2TokenizerFast writes from them).

  python3 tools/bench/make_gpt2_shape.py --out DIR --dtype f32|f16|bf16 [--seed 0] [--n-positions 1024]

With --dtype f16 (bf16) the same weights are saved as float16 (bfloat16).
--n-positions lengthens the position table (GPT-2 has 1024) for decode
benchmarks deeper in the context; everything else keeps GPT-2 124M's shape.
The weights go to DIR/model.safetensors (save_pretrained, safetensors format).
"""
import argparse
import os
import shutil

import torch
from transformers import GPT2Config, GPT2LMHeadModel, GPT2TokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER_DIR = os.path.join(HERE, "gpt2-tokenizer")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="model folder to write")
    ap.add_argument("--dtype", choices=["f32", "f16", "bf16"], default="f32", help="weight type of the saved file")
    ap.add_argument("--n-positions", type=int, default=1024, help="positions (GPT-2: 1024)")
    ap.add_argument("--seed", type=int, default=0, help="torch.manual_seed before the model is built")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    config = GPT2Config()  # GPT-2 124M: n_layer 12, n_head 12, n_embd 768, vocab 50257, n_positions 1024
    config.n_positions = args.n_positions
    # GPT-2's published config.json also names n_ctx (= n_positions); llama.cpp's converter reads it.
    config.n_ctx = config.n_positions
    model = GPT2LMHeadModel(config).eval()
    assert model.lm_head.weight.data_ptr() == model.transformer.wte.weight.data_ptr(), "embeddings not tied"
    if args.dtype == "f16":
        model = model.half()  # config.json then says "dtype": "float16"
    elif args.dtype == "bf16":
        model = model.to(torch.bfloat16)

    os.makedirs(args.out, exist_ok=True)
    model.save_pretrained(args.out, safe_serialization=True)

    # The tokenizer: GPT-2's own files, plus tokenizer.json as transformers writes it.
    vocab = os.path.join(TOKENIZER_DIR, "vocab.json")
    merges = os.path.join(TOKENIZER_DIR, "merges.txt")
    tok = GPT2TokenizerFast(vocab_file=vocab, merges_file=merges)
    tok.model_max_length = config.n_positions
    tok.save_pretrained(args.out)
    # save_pretrained rewrites vocab.json/merges.txt; keep the original bytes.
    shutil.copyfile(vocab, os.path.join(args.out, "vocab.json"))
    shutil.copyfile(merges, os.path.join(args.out, "merges.txt"))

    n_params = sum(p.numel() for p in model.parameters())
    print(f"wrote {args.out}: GPT-2 124M shape, {n_params / 1e6:.1f}M parameters, {args.dtype}, seed {args.seed}")


if __name__ == "__main__":
    main()
