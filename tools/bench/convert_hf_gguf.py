#!/usr/bin/env python3
"""Runs llama.cpp's convert_hf_to_gguf.py (from a llama.cpp source tree) on a
Hugging Face model folder, with one optional run-time adjustment.

  python3 tools/bench/convert_hf_gguf.py --llama-cpp SRC [--pre-tokenizer-fallback gpt-2] \
      MODEL_DIR --outtype f16 --outfile OUT.gguf

Everything after the options below goes to convert_hf_to_gguf.py unchanged. The
converter's own gguf-py (SRC/gguf-py) is used, not a pip-installed gguf.

--pre-tokenizer-fallback NAME: the converter names a BPE tokenizer's pre-tokenizer
(the regex that splits text before BPE) by hashing the tokens of a test string, and
refuses a tokenizer whose hash is not in its table. The hash depends on the whole
vocabulary, so a new vocabulary with GPT-2's pre-tokenizer (the bundled models' 8192-token
BPE) is refused although llama.cpp runs it correctly as "gpt-2". With this option,
and only when the converter does not recognise the hash, the pre-tokenizer is written as
NAME, provided the model's tokenizer.json declares GPT-2's pre-tokenizer (ByteLevel,
use_regex true, add_prefix_space false); otherwise the converter's error stands. The
converter's files are not modified: the method is wrapped in this process only.
"""
import argparse
import json
import logging
import os
import runpy
import sys

# The pre-tokenizer of GPT-2's tokenizer.json, which llama.cpp calls "gpt-2".
GPT2_PRE_TOKENIZER = {"type": "ByteLevel", "add_prefix_space": False, "use_regex": True}


def declares_gpt2_pre_tokenizer(model_dir):
    path = os.path.join(model_dir, "tokenizer.json")
    if not os.path.isfile(path):
        return False
    with open(path, encoding="utf-8") as f:
        pre = json.load(f).get("pre_tokenizer") or {}
    return all(pre.get(k) == v for k, v in GPT2_PRE_TOKENIZER.items())


def install_fallback(name):
    import conversion.base as base

    owners = [c for c in vars(base).values() if isinstance(c, type) and "get_vocab_base_pre" in vars(c)]
    if len(owners) != 1:
        sys.exit(f"convert_hf_gguf.py: cannot find the converter's get_vocab_base_pre (found {len(owners)}); "
                 "this llama.cpp version needs a different adjustment")
    owner = owners[0]
    original = owner.get_vocab_base_pre

    def get_vocab_base_pre(self, tokenizer):
        try:
            return original(self, tokenizer)
        except NotImplementedError:
            if not declares_gpt2_pre_tokenizer(str(self.dir_model)):
                raise
            logging.getLogger("convert_hf_gguf").warning(
                "pre-tokenizer hash not in the converter's table; %s/tokenizer.json declares GPT-2's "
                "pre-tokenizer, so tokenizer.ggml.pre is written as %r", self.dir_model, name)
            return name

    owner.get_vocab_base_pre = get_vocab_base_pre


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], add_help=True)
    ap.add_argument("--llama-cpp", required=True, help="llama.cpp source tree (holds convert_hf_to_gguf.py)")
    ap.add_argument("--pre-tokenizer-fallback", metavar="NAME",
                    help="pre-tokenizer to write when the converter does not know the tokenizer's hash")
    args, rest = ap.parse_known_args()

    src = os.path.abspath(args.llama_cpp)
    script = os.path.join(src, "convert_hf_to_gguf.py")
    if not os.path.isfile(script):
        sys.exit(f"convert_hf_gguf.py: {script} not found")
    sys.path.insert(0, src)
    sys.path.insert(1, os.path.join(src, "gguf-py"))
    if args.pre_tokenizer_fallback:
        install_fallback(args.pre_tokenizer_fallback)
    sys.argv = [script] + rest
    runpy.run_path(script, run_name="__main__")


if __name__ == "__main__":
    main()
