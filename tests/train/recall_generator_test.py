#!/usr/bin/env python3
"""The recall generators: tools/train/make_recall.py (held-out files) and
tools/train/make_mix.py (training windows).

- make_recall.py is deterministic for a seed and differs across seeds;
- every answer is the latest value assigned to the name its query asks for,
  every sequence ends with a query and fits --max-tokens;
- make_mix.py writes whole windows of T-1 tokens; its recall windows start with
  a recall sequence tokenized segment by segment.

Needs the `tokenizers` package (tools/test.sh installs it into build/pyenv);
exits 77 (ctest: skipped) without it.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

sys.path.insert(0, os.path.join(ROOT, "tests", "common"))
from pyenv import require  # noqa: E402

tokenizers, np = require("tokenizers", "numpy")
Tokenizer = tokenizers.Tokenizer

MODEL = os.path.join(ROOT, "models", "selattn-4l256-sa")
TEXT = os.path.join(ROOT, "models", "data", "validation.txt")


def make_recall(out, seed, count=6, lo=256, hi=600):
    subprocess.run([sys.executable, os.path.join(ROOT, "tools/train/make_recall.py"), "--corpus", TEXT,
                    "--tokenizer", MODEL, "--out", out, "--count", str(count), "--min-tokens", str(lo),
                    "--max-tokens", str(hi), "--seed", str(seed)], check=True)
    with open(out, "rb") as f:
        return f.read()


class RecallGenerator(unittest.TestCase):
    def test_deterministic_for_a_seed(self):
        with tempfile.TemporaryDirectory() as d:
            a = make_recall(os.path.join(d, "a.jsonl"), 5)
            b = make_recall(os.path.join(d, "b.jsonl"), 5)
            c = make_recall(os.path.join(d, "c.jsonl"), 6)
        self.assertEqual(a, b)
        self.assertNotEqual(a, c)

    def test_answers_are_the_latest_values(self):
        tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
        with tempfile.TemporaryDirectory() as d:
            lines = make_recall(os.path.join(d, "a.jsonl"), 9, count=10).decode().splitlines()
        self.assertEqual(len(lines), 10)
        for line in lines:
            seq = json.loads(line)
            value, answers = {}, 0
            segs = seq["segments"]
            for i, s in enumerate(segs):
                if "assign" in s:
                    name, _, rest = s["text"].strip().partition(" = ")
                    self.assertEqual(name, s["assign"])
                    value[name] = rest.rstrip(".")
                if "answer" in s:
                    answers += 1
                    self.assertIn("query", segs[i - 1])
                    self.assertEqual(s["answer"].strip(), value[segs[i - 1]["query"]])
            self.assertGreater(answers, 0)
            for s in segs:        # each answer is one token
                if "answer" in s:
                    self.assertEqual(len(tok.encode(s["answer"]).ids), 1)
            self.assertIn("answer", segs[-1])
            n = 1 + sum(len(tok.encode(s.get("text", s.get("answer", ""))).ids) for s in segs)
            self.assertEqual(n, seq["tokens"])
            self.assertLessEqual(n, 600)
            self.assertGreaterEqual(n, 200)

    def test_one_letter_names(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "a.jsonl")
            subprocess.run([sys.executable, os.path.join(ROOT, "tools/train/make_recall.py"), "--corpus", TEXT,
                            "--tokenizer", MODEL, "--out", out, "--count", "3", "--min-tokens", "128",
                            "--max-tokens", "256", "--names", "letter", "--seed", "4"], check=True)
            with open(out) as f:
                seqs = [json.loads(line) for line in f]
        names = {s.get("assign") or s.get("query") for q in seqs for s in q["segments"]} - {None}
        self.assertTrue(names)
        for n in names:
            self.assertRegex(n, r"^[A-Z]$")

    def test_mix_windows(self):
        tok = Tokenizer.from_file(os.path.join(MODEL, "tokenizer.json"))
        with tempfile.TemporaryDirectory() as d:
            corpus = os.path.join(d, "train.bin")
            np.arange(1, 5001, dtype=np.uint16).tofile(corpus)
            with open(TEXT, encoding="utf-8") as f:
                text = f.read()[:400000]
            txt = os.path.join(d, "train.txt")
            with open(txt, "w", encoding="utf-8") as f:
                f.write(text)
            out = os.path.join(d, "mix.bin")
            subprocess.run([sys.executable, os.path.join(ROOT, "tools/train/make_mix.py"), "--tokenizer", MODEL,
                            "--out", out, "--train-bin", corpus, "--train-txt", txt, "--seq-len", "512",
                            "--windows", "20", "--recall-frac", "0.5", "--min-tokens", "256", "--seed", "3"],
                           check=True, stdout=subprocess.DEVNULL)
            data = np.fromfile(out, dtype=np.uint16)
        W = 511
        self.assertEqual(len(data), 20 * W + 1)
        corpus_windows = recall_windows = 0
        for w in range(20):
            win = data[w * W:(w + 1) * W]
            if win[0] >= 1 and np.array_equal(win, np.arange(win[0], win[0] + W)):
                corpus_windows += 1     # consecutive ids: a window of the fake corpus
                continue
            recall_windows += 1
            # A recall sequence: starts with an assignment " name = value."
            text = tok.decode(win[:12].tolist())
            self.assertRegex(text, r"^ [a-z]\d+ = [a-z]+\.")
        self.assertGreater(corpus_windows, 0)
        self.assertGreater(recall_windows, 0)


if __name__ == "__main__":
    unittest.main()
