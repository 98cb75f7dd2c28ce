#!/usr/bin/env python3
"""The recall scorer's reference: tests/data/recall/tiny.jsonl (short recall
sequences from tools/train/make_recall.py with the tiny-tok fixture's
tokenizer) and tiny-tok.golden.json, every answer scored by an independent
implementation: Hugging Face transformers' GPT-2 on tests/data/models/tiny-tok
with the full cache, segments tokenized by `tokenizers`, argmax per answer
token. tests/model/recall_test.cpp checks selattn's `evaluate_recall` gives
the same tokens.

  python3 tools/reference/make_recall_fixture.py   (torch, transformers, tokenizers)
"""
import json
import os
import subprocess
import sys

import torch
from tokenizers import Tokenizer
from transformers import GPT2LMHeadModel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DATA = os.path.join(ROOT, "tests", "data")
MODEL = os.path.join(DATA, "models", "tiny-tok")


def main():
    out_dir = os.path.join(DATA, "recall")
    os.makedirs(out_dir, exist_ok=True)
    seqs = os.path.join(out_dir, "tiny.jsonl")
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "train", "make_recall.py"), "--corpus",
                    os.path.join(ROOT, "models", "data", "validation.txt"), "--tokenizer", MODEL, "--out", seqs,
                    "--count", "8", "--min-tokens", "120", "--max-tokens", "250", "--keys", "4", "--p-assign", "0.3",
                    "--p-query", "0.3", "--seed", "3"],
                   check=True)
    tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
    model = GPT2LMHeadModel.from_pretrained(MODEL).eval()
    bos = model.config.bos_token_id
    answers = []
    with open(seqs) as f:
        for item, line in enumerate(f):
            segs = json.loads(line)["segments"]
            ids, spans = [bos], []
            for s in segs:
                piece = tok.encode(s.get("text", s.get("answer")), add_special_tokens=False).ids
                if "answer" in s:
                    spans.append((len(ids), len(ids) + len(piece)))
                ids += piece
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0]
            for b, e in spans:
                predicted = [int(logits[p - 1].argmax()) for p in range(b, e)]
                answers.append({"item": item, "position": b, "expected": ids[b:e], "predicted": predicted,
                                "correct": predicted == ids[b:e]})
    with open(os.path.join(out_dir, "tiny-tok.golden.json"), "w") as f:
        json.dump({"about": "tools/reference/make_recall_fixture.py: transformers' argmax per answer token, "
                            "full cache, on tests/data/models/tiny-tok", "answers": answers}, f, indent=1)
    print(f"{len(answers)} answers in {seqs}")


if __name__ == "__main__":
    main()
