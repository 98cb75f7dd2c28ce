#!/usr/bin/env python3
"""Training data for the recall pair: corpus windows mixed with recall sequences.

Writes a uint16 token file that train.py reads with --train-bin. The file is a
series of (T-1)-token windows, exactly the windows train.py cuts, so every
recall window is one whole recall sequence (make_recall.py's generator, filler
drawn from the training corpus, never from the held-out texts), followed by
<|endoftext|> and corpus text up to the window's end. The other windows are
consecutive corpus windows from train.bin. Which window is which is a seeded
draw with probability --recall-frac; train.py then visits the windows in its own
seeded order, the same for both models of a pair.

    python3 tools/train/make_mix.py --tokenizer models/selattn-4l256-sa \\
        --out tools/train/runs/corpus/recall-mix.bin --windows 2048 --recall-frac 0.5
"""
import argparse
import os
import random
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_recall import add_generator_args, filler_chunks, load_tokenizer, make_sequence, value_words  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, "tools/train/runs/corpus")
EOT_ID = 0


def sample_text(path, max_bytes, rng):
    """Whole documents of the corpus drawn at random until max_bytes."""
    with open(path, encoding="utf-8") as f:
        docs = f.read().split("<|endoftext|>")
    rng.shuffle(docs)
    out, n = [], 0
    for d in docs:
        out.append(d)
        n += len(d)
        if n >= max_bytes:
            break
    return "<|endoftext|>".join(out)


def encode_sequence(seq, tok):
    """Token ids of a recall sequence, each segment on its own (as the scorer does), no BOS."""
    ids = []
    for s in seq["segments"]:
        ids += tok.encode(s.get("text", s.get("answer", ""))).ids
    return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tokenizer", required=True, help="folder with tokenizer.json (or the file)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--train-bin", default=os.path.join(CORPUS, "train.bin"))
    ap.add_argument("--train-txt", default=os.path.join(CORPUS, "train.txt"), help="filler text source")
    ap.add_argument("--filler-bytes", type=float, default=6e6, help="corpus bytes sampled for filler sentences")
    ap.add_argument("--seq-len", type=int, default=2048, help="T of train.py (windows are T-1 tokens)")
    ap.add_argument("--windows", type=int, required=True)
    ap.add_argument("--recall-frac", type=float, default=0.5)
    ap.add_argument("--min-tokens", type=int, default=512, help="recall sequence length range (incl. BOS)")
    add_generator_args(ap)
    ap.add_argument("--seed", type=int, default=11)
    args = ap.parse_args()
    tok = load_tokenizer(args.tokenizer)
    rng = random.Random(args.seed)
    W = args.seq_len - 1
    corpus = np.memmap(args.train_bin, dtype=np.uint16, mode="r")
    n_corpus = (len(corpus) - 1) // W
    text = sample_text(args.train_txt, args.filler_bytes, rng)
    chunks = filler_chunks(text, tok, rng, where=args.train_txt)
    words = value_words(text, tok) if args.values == "words" else None
    gen = argparse.Namespace(min_tokens=args.min_tokens, max_tokens=args.seq_len, keys=args.keys,
                             p_assign=args.p_assign, p_query=args.p_query, names=args.names)
    out = np.empty(args.windows * W + 1, dtype=np.uint16)
    next_corpus, n_recall, answers = 0, 0, 0
    for w in range(args.windows):
        if rng.random() < args.recall_frac:
            seq = make_sequence(w, chunks, tok, rng, gen, words)
            ids = encode_sequence(seq, tok)[:W]
            answers += sum(1 for s in seq["segments"] if "answer" in s)
            rest = W - len(ids)
            if rest > 0:     # <|endoftext|>, then corpus text from a random place
                start = rng.randrange(len(corpus) - rest)
                ids = ids + [EOT_ID] + corpus[start:start + rest - 1].tolist()
            out[w * W:(w + 1) * W] = ids
            n_recall += 1
        else:
            k = next_corpus % n_corpus
            out[w * W:(w + 1) * W] = corpus[k * W:(k + 1) * W]
            next_corpus += 1
        if (w + 1) % 500 == 0:
            print(f"{w + 1}/{args.windows} windows", flush=True)
    out[-1] = EOT_ID
    out.tofile(args.out)
    print(f"{args.out}: {args.windows} windows of {W} tokens, {n_recall} recall sequences "
          f"({answers} queries), {args.windows - n_recall} corpus windows")


if __name__ == "__main__":
    main()
