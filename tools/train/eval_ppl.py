#!/usr/bin/env python3
"""Perplexity of a text under a training checkpoint, windowed exactly as
`selattn perplexity` does: the text (with <|endoftext|> read as the separator
token) is split into non-overlapping windows of ctx - 1 tokens, each run as
BOS + window, every text token scored once. Used to check that selattn
computes what the trainer computes (selective attention included).

  python3 tools/train/eval_ppl.py --ckpt tools/train/runs/NAME-sa/ckpt.pt \\
      --text models/data/validation.txt --ctx 512
"""
import argparse
import math
import os
import sys

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GPT, GPTConfig  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--text", required=True)
    ap.add_argument("--tokenizer", default=None, help="tokenizer.json (default: beside the export of the run)")
    ap.add_argument("--ctx", type=int, required=True)
    ap.add_argument("--max-tokens", type=int, default=0, help="score only the first N tokens (0 = all)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.set_flush_denormal(True)
    ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    model = GPT(GPTConfig(**ck["config"]))
    model.load_state_dict(ck["model"])
    model.eval()
    tok_path = args.tokenizer or os.path.join(os.path.dirname(__file__), "runs", "tokenizer", "tokenizer.json")
    tok = Tokenizer.from_file(tok_path)
    ids = tok.encode(open(args.text, encoding="utf-8").read()).ids
    if args.max_tokens:
        ids = ids[: args.max_tokens]
    total, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(ids), args.ctx - 1):
            chunk = ids[start:start + args.ctx - 1]
            x = torch.tensor([[0] + chunk])
            logits, _ = model(x)
            logp = F.log_softmax(logits[0].double(), dim=-1)
            total -= float(logp[torch.arange(len(chunk)), torch.tensor(chunk)].sum())
            count += len(chunk)
    print(f"perplexity {math.exp(total / count):.6f} over {count} tokens (ctx {args.ctx})")


if __name__ == "__main__":
    main()
