#!/usr/bin/env python3
"""Train the selattn byte-level BPE tokenizer (GPT-2 style) on the training corpus,
then tokenize the corpus and the held-out texts for the trainer.

    python3 tools/train/train_tokenizer.py [--vocab-size 8192]

Reads  tools/train/runs/corpus/train.txt, models/data/{validation,calibration}.txt
Writes tools/train/runs/tokenizer/{tokenizer.json,vocab.json,merges.txt,tokenizer_config.json}
       tools/train/runs/corpus/{train,validation,calibration}.bin  (uint16 token ids)

<|endoftext|> is id 0 and serves as BOS and EOS; documents in the text files are
separated by the literal string <|endoftext|>, which encodes to id 0.
"""
import argparse
import json
import os
import time

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

EOT = "<|endoftext|>"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUNS = os.path.join(REPO, "tools/train/runs")


def build(vocab_size, files):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[EOT],                       # first special token -> id 0
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # Documents are separated by EOT; the trainer must not learn merges across it.
    def docs():
        for path in files:
            with open(path, encoding="utf-8") as f:
                for doc in f.read().split(EOT):
                    yield doc
    tok.train_from_iterator(docs(), trainer=trainer)
    return tok


def encode_file(tok, path, out_path):
    with open(path, encoding="utf-8") as f:
        docs = f.read().split(EOT)
    ids = []
    batch = 256
    for k in range(0, len(docs), batch):
        for enc in tok.encode_batch(docs[k:k + batch]):
            ids.extend(enc.ids)
            ids.append(0)
    ids = ids[:-1]            # EOT between documents, not after the last
    arr = np.asarray(ids, dtype=np.uint16)
    arr.tofile(out_path)
    return arr


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--corpus", default=os.path.join(RUNS, "corpus"))
    ap.add_argument("--heldout-dir", default=os.path.join(REPO, "models/data"))
    ap.add_argument("--out", default=os.path.join(RUNS, "tokenizer"))
    ap.add_argument("--skip-train", action="store_true", help="reuse --out/tokenizer.json, only re-tokenize")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    train_txt = os.path.join(args.corpus, "train.txt")

    t0 = time.time()
    if args.skip_train:
        tok = Tokenizer.from_file(os.path.join(args.out, "tokenizer.json"))
    else:
        tok = build(args.vocab_size, [train_txt])
        assert tok.token_to_id(EOT) == 0, "<|endoftext|> must be id 0"
        assert tok.get_vocab_size() == args.vocab_size, tok.get_vocab_size()
        tok.save(os.path.join(args.out, "tokenizer.json"))
        tok.model.save(args.out)                    # vocab.json + merges.txt
        with open(os.path.join(args.out, "tokenizer_config.json"), "w") as f:
            json.dump({"tokenizer_class": "GPT2Tokenizer", "bos_token": EOT, "eos_token": EOT,
                       "unk_token": EOT, "add_prefix_space": False, "model_max_length": 2048}, f, indent=2)
        print(f"trained {tok.get_vocab_size()} tokens in {time.time() - t0:.0f} s", flush=True)

    stats = {"vocab_size": tok.get_vocab_size()}
    for name, src in (("train", train_txt),
                      ("validation", os.path.join(args.heldout_dir, "validation.txt")),
                      ("calibration", os.path.join(args.heldout_dir, "calibration.txt"))):
        if not os.path.exists(src):
            print(f"skip {name}: {src} missing")
            continue
        arr = encode_file(tok, src, os.path.join(args.corpus, f"{name}.bin"))
        nbytes = os.path.getsize(src)
        stats[name] = {"tokens": int(arr.size), "bytes": nbytes, "bytes_per_token": round(nbytes / arr.size, 3)}
        print(f"{name}: {arr.size} tokens, {nbytes / arr.size:.3f} bytes/token", flush=True)
    with open(os.path.join(args.out, "stats.json"), "w") as f:
        json.dump(stats, f, indent=2)


if __name__ == "__main__":
    main()
