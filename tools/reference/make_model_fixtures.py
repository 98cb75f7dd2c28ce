#!/usr/bin/env python3
"""Builds the tiny GPT-2 fixture models and their golden files in tests/data.

Everything here comes from Hugging Face transformers itself: the models are
random `GPT2LMHeadModel(GPT2Config(...))` saved with `save_pretrained`, and the
goldens are what transformers computes on them (f32 compute). The C++ tests
check that selattn computes the same.

  pip install torch transformers safetensors numpy
  python3 tools/reference/make_model_fixtures.py            # writes tests/data/models
"""
import argparse
import json
import os
import re
import shutil
import sys

import numpy as np
import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from golden import write_golden  # noqa: E402

GREEDY_TOKENS = 32


def build(seed, **cfg):
    torch.manual_seed(seed)
    config = GPT2Config(attn_implementation="eager", **cfg)
    model = GPT2LMHeadModel(config).eval()
    # Larger than GPT-2's 0.02 so that logits differ clearly between tokens
    # and attention is far from uniform: a wrong op cannot hide in the noise.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() >= 2:
                p.normal_(0.0, cfg.get("initializer_range", 0.02))
            elif "ln" in name and name.endswith("weight"):
                p.uniform_(0.5, 1.5)
            else:
                p.normal_(0.0, 0.05)
    return model


@torch.no_grad()
def goldens(folder, tokens):
    """Logits at every position and a greedy continuation, computed in f32 by
    transformers from the weights stored in `folder`."""
    model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()
    ids = torch.tensor([tokens], dtype=torch.long)
    logits = model(ids).logits[0].float().numpy()
    seq = list(tokens)
    min_gap = float("inf")
    for _ in range(GREEDY_TOKENS):
        last = model(torch.tensor([seq])).logits[0, -1].float()
        top2 = torch.topk(last, 2).values
        min_gap = min(min_gap, float(top2[0] - top2[1]))
        seq.append(int(torch.argmax(last)))
    greedy = np.array(seq[len(tokens):], dtype=np.int32)
    return {"tokens": np.array(tokens, dtype=np.int32), "logits": logits.astype(np.float32), "greedy": greedy}, min_gap


def save_dtype(model, folder, dtype, **kw):
    if os.path.exists(folder):
        shutil.rmtree(folder)
    m = model.to(dtype)
    m.save_pretrained(folder, safe_serialization=True, **kw)
    model.to(torch.float32)


@torch.no_grad()
def window_perplexity(model, tokens, bos, ctx):
    """exp(mean NLL) over non-overlapping windows of ctx positions, each being
    BOS followed by up to ctx - 1 text tokens; every text token is scored once."""
    total, count, windows = 0.0, 0, 0
    for start in range(0, len(tokens), ctx - 1):
        chunk = tokens[start:start + ctx - 1]
        ids = torch.tensor([[bos] + chunk])
        logp = torch.log_softmax(model(ids).logits[0].double(), dim=-1)
        total -= sum(float(logp[i, t]) for i, t in enumerate(chunk))
        count += len(chunk)
        windows += 1
    return float(np.exp(total / count)), count, windows


def tiny_tok(out):
    """A model over the fixture tokenizer, for the text-in, text-out commands."""
    from tokenizers import Tokenizer

    data = os.path.join(out, "..")
    tok = Tokenizer.from_file(os.path.join(data, "tokenizer", "tokenizer.json"))
    vocab = tok.get_vocab_size(with_added_tokens=True)
    bos = tok.token_to_id("<|endoftext|>")
    m = build(23, vocab_size=vocab, n_positions=256, n_embd=64, n_layer=2, n_head=4, initializer_range=0.1,
              bos_token_id=bos, eos_token_id=bos)
    folder = os.path.join(out, "tiny-tok")
    save_dtype(m, folder, torch.float32)
    shutil.copy(os.path.join(data, "tokenizer", "tokenizer.json"), folder)
    model = GPT2LMHeadModel.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager").eval()

    with open(os.path.join(data, "text", "sample.txt"), encoding="utf-8") as f:
        text = f.read()
    tokens = tok.encode(text).ids
    result = {"magic": "selattn-golden", "version": 1, "text": "text/sample.txt", "n_tokens": len(tokens),
              "perplexity": {}}
    for ctx in (16, 64, 256):
        ppl, count, windows = window_perplexity(model, tokens, bos, ctx)
        result["perplexity"][str(ctx)] = {"perplexity": ppl, "tokens_scored": count, "windows": windows}
        print(f"tiny-tok: ctx {ctx}: perplexity {ppl:.6f} over {count} tokens in {windows} windows")

    prompt = "The lighthouse keeper"
    ids = [bos] + tok.encode(prompt).ids
    seq = list(ids)
    with torch.no_grad():
        for _ in range(24):
            seq.append(int(torch.argmax(model(torch.tensor([seq])).logits[0, -1])))
    result["greedy"] = {"prompt": prompt, "n": 24, "ids": seq[len(ids):],
                        "text": tok.decode(seq[len(ids):], skip_special_tokens=False)}
    with open(os.path.join(out, "tiny-tok.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=1, ensure_ascii=False)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "..", "..", "tests", "data", "models"))
    args = ap.parse_args()
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(1234)

    # tiny-a: 2 layers, 64 wide, 4 heads; stored with the transformer. prefix
    # and lm_head tied (absent from the file); in f32, f16, bf16, and sharded.
    a = build(7, vocab_size=300, n_positions=128, n_embd=64, n_layer=2, n_head=4, initializer_range=0.1,
              bos_token_id=0, eos_token_id=0)
    tokens_a = [0] + rng.integers(1, 300, size=39).tolist()
    for dtype, name in [(torch.float32, "f32"), (torch.float16, "f16"), (torch.bfloat16, "bf16")]:
        folder = os.path.join(out, f"tiny-a-{name}")
        save_dtype(a, folder, dtype)
        g, gap = goldens(folder, tokens_a)
        write_golden(os.path.join(out, f"tiny-a-{name}.golden"), g)
        print(f"tiny-a-{name}: {len(tokens_a)} tokens, greedy min top-2 gap {gap:.4g}")
    folder = os.path.join(out, "tiny-a-sharded")
    save_dtype(a, folder, torch.bfloat16, max_shard_size="100KB")
    print("tiny-a-sharded:", sorted(os.listdir(folder)))

    # tiny-b: odd sizes (48 wide, 3 heads, n_inner 100), untied lm_head, and
    # tensor names without the transformer. prefix, written by hand.
    b = build(11, vocab_size=257, n_positions=64, n_embd=48, n_layer=3, n_head=3, n_inner=100,
              initializer_range=0.1, tie_word_embeddings=False, bos_token_id=256, eos_token_id=256)
    folder = os.path.join(out, "tiny-b-f32")
    if os.path.exists(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)
    b.config.save_pretrained(folder)
    tensors = {k: v.contiguous() for k, v in b.transformer.state_dict().items()
               if not re.fullmatch(r"h\.\d+\.attn\.(masked_)?bias", k)}
    tensors["lm_head.weight"] = b.lm_head.weight.detach().clone().contiguous()
    save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
    tokens_b = [256] + rng.integers(0, 256, size=23).tolist()
    g, gap = goldens(folder, tokens_b)
    write_golden(os.path.join(out, "tiny-b-f32.golden"), g)
    print(f"tiny-b-f32: {len(tokens_b)} tokens, greedy min top-2 gap {gap:.4g}")

    tiny_tok(out)

    with open(os.path.join(out, "README.md"), "w") as f:
        f.write(
            "# Fixture models\n\n"
            "Random GPT-2 models written by `tools/reference/make_model_fixtures.py` with Hugging Face\n"
            "transformers; each `*.golden` holds token ids, transformers' f32 logits at every position\n"
            "and its 32-token greedy continuation for the folder of the same name.\n\n"
            "| folder | layers | n_embd | heads | vocab | n_positions | stored as |\n"
            "|---|---|---|---|---|---|---|\n"
            "| tiny-a-f32 / -f16 / -bf16 | 2 | 64 | 4 | 300 | 128 | `transformer.` names, lm_head tied (absent) |\n"
            "| tiny-a-sharded | 2 | 64 | 4 | 300 | 128 | bf16, `model.safetensors.index.json` + shards |\n"
            "| tiny-b-f32 | 3 | 48 | 3 | 257 | 64 | names without prefix, n_inner 100, untied lm_head |\n"
            "| tiny-tok | 2 | 64 | 4 | 2000 | 256 | with the fixture tokenizer (tests/data/tokenizer); random weights |\n\n"
            "`tiny-tok.json` holds transformers' perplexity of `tests/data/text/sample.txt` at several\n"
            "window sizes and a greedy continuation as text: it checks `selattn perplexity` and\n"
            "`selattn generate`. Its weights are random, so its text is gibberish by design.\n"
        )


if __name__ == "__main__":
    main()
