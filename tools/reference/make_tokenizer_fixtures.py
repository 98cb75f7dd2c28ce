#!/usr/bin/env python3
"""Builds the byte-level BPE tokenizer fixtures and their goldens in tests/data/tokenizer.

Everything here comes from the Hugging Face `tokenizers` library itself: a
small GPT-2-style tokenizer (models.BPE + ByteLevel pre-tokenizer/decoder, no
prefix space, special token <|endoftext|>) is trained on the licence texts
that Debian ships, and the expected ids are what that library returns. The C++
tests check that selattn's tokenizer returns the same ids.

  pip install tokenizers
  python3 tools/reference/make_tokenizer_fixtures.py     # writes tests/data/tokenizer

Training text: every file in /usr/share/common-licenses (sorted by name,
symlinks followed), then /usr/share/doc/*/copyright (sorted) until about
600 KB have been read. The exact list is written to training_files.txt.

Files written:
  tokenizer.json            the trained tokenizer (merges as ["a", "b"] pairs)
  vocab_merges/vocab.json, vocab_merges/merges.txt
                            the same model in the GPT-2 two-file layout
  small_legacy/tokenizer.json  a second, tiny tokenizer whose merges are "a b"
                            strings, the layout older `tokenizers` versions wrote
  golden.txt                expected ids, format below
  training_files.txt        the training inputs

golden.txt is line based so that a C++ test reads it without a JSON parser:
  selattn-tokenizer-golden 1          magic and version
  tokenizer <relative path>           the tokenizer the following cases use
  case <name>
  text <utf-8 bytes as lowercase hex>
  ids <ids with special tokens recognised>
  plain <ids with special tokens encoded as ordinary text>
  end
"""
import argparse
import glob
import json
import os
import sys

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

MAGIC = "selattn-tokenizer-golden"
VERSION = 1
EOT = "<|endoftext|>"
TRAIN_BYTES = 600_000


def training_files():
    files = sorted(glob.glob("/usr/share/common-licenses/*"))
    total = sum(os.path.getsize(f) for f in files)
    for f in sorted(glob.glob("/usr/share/doc/*/copyright")):
        if total >= TRAIN_BYTES:
            break
        files.append(f)
        total += os.path.getsize(f)
    return [f for f in files if os.path.isfile(f)]


def train(files, vocab_size):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=[AddedToken(EOT, special=True, normalized=False)],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train(files, trainer)
    return tok


def without_added_tokens(tok):
    """The same model with no added tokens: it encodes <|endoftext|> as text.

    The `tokenizers` library always splits out added tokens, so the "special
    tokens not allowed" expectation comes from a copy that has none."""
    spec = json.loads(tok.to_str())
    spec["added_tokens"] = []
    return Tokenizer.from_str(json.dumps(spec))


def corpus():
    word300 = "".join("abcdefghijklmnopqrstuvwxyz"[(i * 7) % 26] for i in range(300))
    cases = [
        ("empty", ""),
        ("ascii", "Hello world! The quick brown fox jumps over the lazy dog."),
        ("contractions_lower", "I'll say it's done, don't worry, we've seen they're here, I'm sure he'd go."),
        ("contractions_upper", "I'LL SAY IT'S DONE, DON'T WORRY, WE'VE SEEN THEY'RE HERE, I'M SURE HE'D GO."),
        ("contractions_mixed", "Don't DON'T don'T I'll I'LL i'Ll we've WE'VE 's 't 're 've 'm 'll 'd"),
        ("digits", "0 1 12 123 1234 12345 3.14159 2024-01-31 +1 (555) 010-9999"),
        ("long_number", "12345678901234567890123456789012345678901234567890 and 99999999999999999999"),
        ("spaces_run", "a   b    c     d"),
        ("spaces_only", "     "),
        ("leading_spaces", "   leading"),
        ("trailing_spaces", "trailing   "),
        ("tabs", "col1\tcol2\t\tcol3\t \tend\t"),
        ("crlf", "line one\r\nline two\r\n\r\nline four\r\n"),
        ("newlines", "para\n\n\nnext para\n  indented\n"),
        ("cjk", "\u4e2d\u6587\u5b57\u7b26\u4e32\uff0c\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3002\ud55c\uad6d\uc5b4 \ud14d\uc2a4\ud2b8"),
        ("greek", "\u0393\u03b5\u03b9\u03ac \u03c3\u03bf\u03c5 \u039a\u03cc\u03c3\u03bc\u03b5! \u03b1\u03b2\u03b3 \u0391\u0392\u0393"),
        ("cyrillic", "\u041f\u0440\u0438\u0432\u0435\u0442, \u043c\u0438\u0440! \u0401\u0436 \u0449\u0451\u043b\u043a"),
        ("arabic", "\u0645\u0631\u062d\u0628\u0627 \u0628\u0627\u0644\u0639\u0627\u0644\u0645 \u0661\u0662\u0663"),
        ("devanagari", "\u0928\u092e\u0938\u094d\u0924\u0947 \u0926\u0941\u0928\u093f\u092f\u093e \u0967\u0968\u0969"),
        ("accents_composed", "caf\u00e9 na\u00efve r\u00e9sum\u00e9 \u00c5ngstr\u00f6m \u00fcber"),
        ("accents_decomposed", "cafe\u0301 nai\u0308ve re\u0301sume\u0301 A\u030angstro\u0308m"),
        ("combining_only", "\u0301\u0308 x\u0301\u0302\u0303"),
        ("emoji", "I \u2764\ufe0f tokens \U0001f600\U0001f602 \U0001f44d\U0001f3fd \U0001f469\U0001f3ff\u200d\U0001f4bb"),
        ("emoji_zwj", "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466 family \U0001f3f3\ufe0f\u200d\U0001f308"),
        ("flags", "\U0001f1fa\U0001f1f8 \U0001f1ef\U0001f1f5 \U0001f1e9\U0001f1ea\U0001f1eb\U0001f1f7"),
        ("nbsp", "non\u00a0breaking\u00a0\u00a0space \u00a0lead trail\u00a0"),
        ("ideographic_space", "\u6587\u3000\u5b57\u3000\u3000end \u3000x"),
        ("other_spaces", "en\u2002em\u2003thin\u2009zw\u200bnarrow\u202fline\u2028para\u2029nel\u0085vt\x0bff\x0c."),
        ("code", 'def f(x):\n    return {"a": [1, 2, 3], \'b\': x ** 2}  # comment\n\tif x != 0: pass\n'),
        ("code_c", "int main(void) { printf(\"%d\\n\", a[i++] >> 2); return 0; } // done"),
        ("url", "See https://example.com/path/to?query=1&x=y#frag or mailto:someone@example.org."),
        ("punct_runs", "!!! ??? ... --- *** ''' \"\"\" ``` @@@ ### $$$ %%% ^^^ &&& ~~~"),
        ("word300", word300),
        ("word300_spaced", "x " + word300 + " y"),
        ("eot_alone", EOT),
        ("eot_inside", "Hello" + EOT + "world"),
        ("eot_spaced", "end of doc. " + EOT + " Next doc"),
        ("eot_repeat", EOT + EOT + " " + EOT + "\n" + EOT),
        ("eot_partial", "<|endoftext| <|endof <|endoftext|>|>"),
        ("license", "Permission is hereby granted, free of charge, to any person obtaining a copy of this software."),
        ("mixed", "Mixed: English, \u0420\u0443\u0441\u0441\u043a\u0438\u0439, \u4e2d\u6587, \U0001f600, 123abc abc123, \u00bd \u2153 \u2460 \u00b2."),
    ]
    return cases


def write_cases(out, tok_rel, tok, plain, cases):
    out.append(f"tokenizer {tok_rel}")
    for name, text in cases:
        ids = tok.encode(text, add_special_tokens=False).ids
        plain_ids = plain.encode(text, add_special_tokens=False).ids
        # The decoder must give the text back; a fixture that does not would test nothing.
        assert tok.decode(ids, skip_special_tokens=False) == text, name
        out.append(f"case {name}")
        out.append("text " + text.encode("utf-8").hex())
        out.append("ids " + " ".join(map(str, ids)))
        out.append("plain " + " ".join(map(str, plain_ids)))
        out.append("end")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    default_out = os.path.normpath(os.path.join(here, "..", "..", "tests", "data", "tokenizer"))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=default_out)
    ap.add_argument("--vocab-size", type=int, default=2000)
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    files = training_files()
    with open(os.path.join(args.out, "training_files.txt"), "w") as f:
        f.write("\n".join(files) + "\n")

    tok = train(files, args.vocab_size)
    tok.save(os.path.join(args.out, "tokenizer.json"))
    # A folder of its own, since a folder that also holds tokenizer.json loads that.
    pair_dir = os.path.join(args.out, "vocab_merges")
    os.makedirs(pair_dir, exist_ok=True)
    tok.model.save(pair_dir)  # vocab.json + merges.txt
    plain = without_added_tokens(tok)

    # A tiny second tokenizer, saved with "a b" merge strings as tokenizers
    # versions before 0.20 wrote them.
    small = train(files, 400)
    spec = json.loads(small.to_str())
    merges = spec["model"]["merges"]
    spec["model"]["merges"] = [m if isinstance(m, str) else " ".join(m) for m in merges]
    legacy_dir = os.path.join(args.out, "small_legacy")
    os.makedirs(legacy_dir, exist_ok=True)
    with open(os.path.join(legacy_dir, "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(spec, f, ensure_ascii=False)
    small = Tokenizer.from_file(os.path.join(legacy_dir, "tokenizer.json"))
    small_plain = without_added_tokens(small)

    cases = corpus()
    out = [f"{MAGIC} {VERSION}"]
    write_cases(out, "tokenizer.json", tok, plain, cases)
    write_cases(out, "small_legacy/tokenizer.json", small, small_plain, cases)
    with open(os.path.join(args.out, "golden.txt"), "w") as f:
        f.write("\n".join(out) + "\n")
    print(f"wrote {args.out}: vocab {tok.get_vocab_size()}, {len(cases)} cases, "
          f"{len(files)} training files", file=sys.stderr)


if __name__ == "__main__":
    main()
