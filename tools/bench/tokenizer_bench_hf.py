#!/usr/bin/env python3
"""Throughput of the Hugging Face `tokenizers` library, single-threaded, on the
text that tools/bench/tokenizer_bench.cpp encodes, so the two tables compare.

  python3 tools/bench/tokenizer_bench_hf.py [--tokenizer DIR_OR_JSON] [--text FILE] [--mb N]

Without --text the text is built as the C++ bench builds it: every file in
/usr/share/common-licenses and /usr/share/doc/*/copyright (sorted by path,
files that are not valid UTF-8 left out), in that order until the text holds
at least N MB, starting over from the first file when they run out.
The token counts printed should equal those of the C++ bench.
"""
import os

# One thread: both must be set before tokenizers is imported.
os.environ["RAYON_NUM_THREADS"] = "1"
os.environ["TOKENIZERS_PARALLELISM"] = "false"

import argparse  # noqa: E402
import glob  # noqa: E402
import time  # noqa: E402

from tokenizers import Tokenizer  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_TOKENIZER = os.path.join(HERE, "..", "..", "tests", "data", "tokenizer")


def build_text(mb):
    files = sorted(f for f in glob.glob("/usr/share/common-licenses/*") if os.path.isfile(f))
    files += sorted(f for f in glob.glob("/usr/share/doc/*/copyright") if os.path.isfile(f))
    want = int(mb * 1e6)
    out, size = [], 0
    while size < want:
        before = size
        for f in files:
            with open(f, "rb") as fh:
                raw = fh.read()
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                continue
            out.append(raw)
            size += len(raw)
            if size >= want:
                break
        if size == before:
            raise SystemExit("no text found under /usr/share; pass --text FILE")
    return b"".join(out).decode("utf-8")


def split_lines(text):
    """Lines with their '\n', as the C++ bench cuts them (str.splitlines
    would also cut at '\r' and other separators)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def load(path):
    if os.path.isdir(path):
        path = os.path.join(path, "tokenizer.json")
    return Tokenizer.from_file(path)


def measure(runs, fn):
    times, tokens = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        tokens = fn()
        times.append(time.perf_counter() - t0)
    return tokens, times[0], min(times[1:])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tokenizer", default=DEFAULT_TOKENIZER)
    ap.add_argument("--text")
    ap.add_argument("--mb", type=float, default=4.0)
    ap.add_argument("--runs", type=int, default=4)
    args = ap.parse_args()
    runs = max(2, args.runs)

    if args.text:
        with open(args.text, "rb") as f:
            text = f.read().decode("utf-8")
    else:
        text = build_text(args.mb)
    text_mb = len(text.encode("utf-8")) / 1e6
    lines = split_lines(text)

    rows = []
    tok = load(args.tokenizer)
    rows.append(("whole text",) + measure(runs, lambda: len(tok.encode(text, add_special_tokens=False).ids)))
    tok = load(args.tokenizer)
    # encode_batch saves a Python call per line; with RAYON_NUM_THREADS=1 it runs on one thread.
    rows.append(("line by line",) + measure(
        runs, lambda: sum(len(e.ids) for e in tok.encode_batch(lines, add_special_tokens=False))))
    ids = tok.encode(text, add_special_tokens=False).ids
    rows.append(("decode",) + measure(runs, lambda: len(ids) if tok.decode(ids) == text else 0))

    print("tokenizers %s, 1 thread" % __import__("tokenizers").__version__)
    print("tokenizer: %s (vocab %d)" % (args.tokenizer, tok.get_vocab_size()))
    print("text: %s, %.2f MB, %d lines\n" % (args.text or "built from /usr/share", text_mb, len(lines)))
    print("%-14s %10s %12s %12s %12s" % ("mode", "tokens", "first MB/s", "best MB/s", "best ms"))
    for mode, tokens, first, best in rows:
        print("%-14s %10d %12.1f %12.1f %12.1f" % (mode, tokens, text_mb / first, text_mb / best, best * 1e3))


if __name__ == "__main__":
    main()
