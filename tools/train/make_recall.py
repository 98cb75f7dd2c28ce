#!/usr/bin/env python3
"""Long-range recall sequences (variable assignment), seeded and deterministic.

Each sequence mixes filler text from a corpus with assignments (` x7 = river.`)
that later assignments to the same name may overwrite, and queries (` x7 ?`)
whose answer is the name's latest value (` river`). Values are words that are
one token of the tokenizer (so an answer is one token to recall, as in the
paper's task) and occur as whole words in the corpus; `--values digits` draws
4-digit numbers instead (several tokens each). The distance between an
assignment and its query spreads over the whole sequence, so a model (or a KV
cache) that forgot the wrong token gets it wrong. This is the paper's Variable
Assignment task, with natural text in between.

Output: JSONL, one sequence per line:
  {"id": 0, "tokens": 1536, "segments": [
     {"text": "filler ..."},
     {"text": " x7 = river.", "assign": "x7"},
     {"text": "more filler ..."},
     {"text": " x7 ?", "query": "x7"},
     {"answer": " river"},
     ...]}
A scorer tokenizes every segment on its own and joins them after BOS (so
segment boundaries are token boundaries); an answer is right when the model's
argmax at each of its tokens is that token, given everything before it.
"tokens" counts BOS and every segment's tokens with the tokenizer given here.

  python3 tools/train/make_recall.py --corpus models/data/validation.txt \\
      --tokenizer models/selattn-4l256-sa --out models/data/recall-validation.jsonl \\
      --count 200 --min-tokens 512 --max-tokens 2048 --seed 1
"""
import argparse
import json
import os
import random
import re

from tokenizers import Tokenizer


def read_text(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def filler_chunks(text, tok, rng, lo=8, hi=40, where="the corpus"):
    """Sentences of the text, grouped into chunks of lo..hi tokens."""
    sentences = []
    for doc in text.split("<|endoftext|>"):
        for para in doc.split("\n"):
            para = para.strip()
            if len(para) < 20:
                continue
            sentences.extend(s.strip() for s in re.split(r"(?<=[.!?])\s+", para) if len(s.strip()) > 3)
    chunks, cur, n = [], [], 0
    for s in sentences:
        k = len(tok.encode(" " + s).ids)
        if k > hi:
            continue
        cur.append(s)
        n += k
        if n >= lo + rng.randrange(hi - lo):
            chunks.append(" " + " ".join(cur))
            cur, n = [], 0
    if not chunks:
        raise SystemExit(f"{where}: no usable filler text")
    return chunks


def value_words(text, tok):
    """Lower-case words of 4-8 letters that are one token after a space, stay
    that token before a full stop, and occur as whole words in text."""
    seen = set(re.findall(r"\b[a-z]{4,8}\b", text))
    out = []
    for piece, i in tok.get_vocab().items():
        w = piece[1:]
        if piece.startswith("\u0120") and w in seen and tok.encode(" " + w).ids == [i] \
                and tok.encode(f" {w}.").ids[0] == i:
            out.append(w)
    if len(out) < 100:
        raise SystemExit(f"only {len(out)} one-token value words: the corpus or tokenizer is too small")
    return sorted(out)


def draw_value(rng, words):
    return rng.choice(words) if words else str(rng.randrange(1000, 10000))


def make_sequence(idx, chunks, tok, rng, args, words=None):
    target = rng.randint(args.min_tokens, args.max_tokens)
    if args.names == "letter":
        names = rng.sample("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min(args.keys, 26))
    else:
        names = [f"{rng.choice('abcdefghjkmnpqrstuvwxyz')}{rng.randrange(100)}" for _ in range(args.keys)]
    names = sorted(set(names))
    value_of = {}
    segments = []
    used = 1  # BOS
    n_count = lambda s: len(tok.encode(s).ids)

    def add(seg, tokens):
        nonlocal used
        segments.append(seg)
        used += tokens

    # One assignment first, so every sequence has something to recall at the end.
    name, value = rng.choice(names), draw_value(rng, words)
    value_of[name] = value
    add({"text": f" {name} = {value}.", "assign": name}, n_count(f" {name} = {value}."))
    # Room kept at the end for a last query and its answer; a step that does
    # not fit is tried again a few times (shorter filler may), then it ends.
    misses = 0
    while misses < 20:
        r = rng.random()
        if r < args.p_assign:
            name = rng.choice(names)
            value = draw_value(rng, words)
            text = f" {name} = {value}."
            cost = n_count(text)
            if used + cost + 16 > target:
                misses += 1
                continue
            value_of[name] = value
            add({"text": text, "assign": name}, cost)
        elif r < args.p_assign + args.p_query and value_of:
            name = rng.choice(sorted(value_of))
            q, a = f" {name} ?", f" {value_of[name]}"
            cost = n_count(q) + n_count(a) + n_count(".")
            if used + cost + 16 > target:
                misses += 1
                continue
            add({"text": q, "query": name}, n_count(q))
            add({"answer": a}, n_count(a))
            add({"text": "."}, n_count("."))
        else:
            text = rng.choice(chunks)
            cost = n_count(text)
            if used + cost + 16 > target:
                misses += 1
                continue
            add({"text": text}, cost)
    # Every sequence ends with a query for the oldest still-valid assignment.
    last_set = {}
    for i, s in enumerate(segments):
        if "assign" in s:
            last_set[s["assign"]] = i
    name = min(last_set, key=last_set.get)
    q, a = f" {name} ?", f" {value_of[name]}"
    add({"text": q, "query": name}, n_count(q))
    add({"answer": a}, n_count(a))
    # Join neighbouring plain text segments.
    merged = []
    for s in segments:
        if merged and set(s) == {"text"} and set(merged[-1]) == {"text"}:
            merged[-1] = {"text": merged[-1]["text"] + s["text"]}
        else:
            merged.append(dict(s))
    tokens = 1 + sum(n_count(s.get("text", s.get("answer", ""))) for s in merged)
    return {"id": idx, "tokens": tokens, "segments": merged}


def add_generator_args(ap):
    """The generator's options, shared with make_mix.py."""
    ap.add_argument("--keys", type=int, default=12, help="distinct variable names per sequence")
    ap.add_argument("--p-assign", type=float, default=0.2, help="chance a step is an assignment")
    ap.add_argument("--p-query", type=float, default=0.15, help="chance a step is a query")
    ap.add_argument("--values", choices=["words", "digits"], default="words",
                    help="one-token words of the corpus, or 4-digit numbers")
    ap.add_argument("--names", choices=["letter-number", "letter"], default="letter-number",
                    help="names like k46 (two tokens), or one capital letter (one token)")


def load_tokenizer(path):
    """A tokenizer.json, or the one in a model folder."""
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    return Tokenizer.from_file(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, help="filler text (documents separated by <|endoftext|>)")
    ap.add_argument("--tokenizer", required=True, help="folder with tokenizer.json (or the file)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--min-tokens", type=int, default=512)
    ap.add_argument("--max-tokens", type=int, default=2048)
    add_generator_args(ap)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    tok = load_tokenizer(args.tokenizer)
    rng = random.Random(args.seed)
    text = read_text(args.corpus)
    chunks = filler_chunks(text, tok, rng, where=args.corpus)
    words = value_words(text, tok) if args.values == "words" else None
    with open(args.out, "w", encoding="utf-8") as f:
        for i in range(args.count):
            f.write(json.dumps(make_sequence(i, chunks, tok, rng, args, words), ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
