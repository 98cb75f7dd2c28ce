#!/usr/bin/env python3
"""Export a trainer checkpoint to a Hugging Face GPT-2 folder (docs/design.md section 4).

    python3 tools/train/export.py --ckpt tools/train/runs/NAME-sa/ckpt.pt --out models/NAME-sa

Writes config.json, model.safetensors (f16 by default; Conv1D weights [in, out], no
lm_head since it is tied), tokenizer.json, vocab.json, merges.txt, tokenizer_config.json
and a README.md model card. Then verifies: transformers.GPT2LMHeadModel loads the folder
and its logits equal the trainer's on the same exported weights with selective attention
switched off (for an SA model this checks the weight mapping; HF has no SA).
"""
import argparse
import csv
import json
import os
import shutil
import sys

import torch
from safetensors.torch import save_file

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GPT, GPTConfig, num_params  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DTYPES = {"f16": torch.float16, "bf16": torch.bfloat16, "f32": torch.float32}
CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def hf_tensors(model, dtype):
    out = {}
    for name, t in model.state_dict().items():
        t = t.detach()
        if name.endswith(CONV1D):
            t = t.t()                       # nn.Linear [out, in] -> Conv1D [in, out]
        out[name] = t.to(dtype).contiguous()
    return out


def hf_config(cfg: GPTConfig):
    c = {
        "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2",
        "vocab_size": cfg.vocab_size, "n_positions": cfg.n_positions, "n_ctx": cfg.n_positions,
        "n_embd": cfg.n_embd, "n_layer": cfg.n_layer, "n_head": cfg.n_head, "n_inner": None,
        "activation_function": "gelu_new", "layer_norm_epsilon": cfg.layer_norm_epsilon,
        "resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0, "initializer_range": 0.02,
        "bos_token_id": 0, "eos_token_id": 0, "tie_word_embeddings": True,
        "scale_attn_weights": True, "torch_dtype": "float32",
    }
    if cfg.selective:
        c["selective_attention"] = {"enabled": True, "selection_head": cfg.selection_head}
    return c


def read_csv(run_dir, name):
    path = os.path.join(run_dir, name)
    return list(csv.DictReader(open(path))) if os.path.exists(path) else []


def corpus_sources():
    path = os.path.join(REPO, "tools/train/runs/corpus/sources.tsv")
    return list(csv.DictReader(open(path), delimiter="\t")) if os.path.exists(path) else []


def model_card(out, cfg, ck, dtype_name, nparams):
    """README.md of an exported model: what it is, how it was trained, and (when
    tools/train/measure_pair.sh has run) what selattn measured on it."""
    a = ck["args"]
    run_dir = os.path.dirname(os.path.abspath(ck["_path"]))
    log, val = read_csv(run_dir, "log.csv"), read_csv(run_dir, "val.csv")
    folder = os.path.basename(os.path.abspath(out))
    variant = "sa" if cfg.selective else "base"
    pair = folder.rsplit("-", 1)[0]
    sa = f"yes, selection head {cfg.selection_head}" if cfg.selective else "no (baseline)"
    mem = (f"eps {a.get('mem_eps', 0.0)}, tau {a.get('mem_tau', 1.0)}" if cfg.selective else "none")
    tokens, secs = ck["extra"]["tokens_seen"], ck["extra"]["train_seconds"]
    lines = [
        f"# {folder}",
        "",
        ("A GPT-2 style model with **selective attention** ([docs/design.md](../../docs/design.md) section 1), trained by selattn's "
         f"tools/train. Its twin without selective attention is `{pair}-base`: same architecture, data, "
         "order and token count." if cfg.selective else
         "A GPT-2 style model with standard attention, trained by selattn's tools/train as the baseline "
         f"of `{pair}-sa`: same architecture, data, order and token count, selective attention off."),
        "Small and trained on 2 CPU cores: expect dictionary-, Bible- and manual-flavoured English "
        "with weak coherence.",
        "",
        "| field | value |", "| --- | --- |",
        f"| selective attention | {sa} |",
        f"| memory loss | {mem} |",
        f"| layers / heads / d_model | {cfg.n_layer} / {cfg.n_head} / {cfg.n_embd} (GPT-2: pre-LN, gelu_new, "
        "learned positions, tied lm_head) |",
        f"| n_positions | {cfg.n_positions} |",
        f"| tokenizer | byte-level BPE, {cfg.vocab_size} tokens (Hugging Face `tokenizers`), "
        "`<|endoftext|>` = 0 = BOS = EOS between documents |",
        f"| parameters | {nparams:,} |",
        f"| training tokens | {tokens:,} ({ck['step']} steps of {a['batch']} sequences x {a['seq_len']} tokens) |",
        f"| optimizer | AdamW lr {a['lr']} -> {a['min_lr']} cosine, warmup {a['warmup']} steps, weight decay "
        f"{a['weight_decay']}, gradient clip {a['grad_clip']} |",
        f"| precision | trained in {'bf16 autocast' if a['bf16'] else 'f32'}; weights stored {dtype_name} |",
        f"| data seed / init seed | {a['data_seed']} / {a['seed']} |",
        f"| training wall time | {secs / 3600:.2f} h on 2 CPU cores ({tokens / max(secs, 1):,.0f} tokens/s) |",
    ]
    def fine_tuned_from(args, what):
        if args.get("init_from") and os.path.isdir(args["init_from"]):
            lines.append(f"| fine-tuned from | `{os.path.basename(os.path.normpath(args['init_from']))}` ({what}) |")

    fine_tuned_from(a, f"the tokens above are the fine-tuning's; data `{os.path.basename(a['train_bin'])}`")
    prev, earlier = a, "above"     # the chain of warm starts, newest first
    while prev.get("init_from") and not os.path.isdir(prev["init_from"]) and os.path.exists(prev["init_from"]):
        w = torch.load(prev["init_from"], map_location="cpu", weights_only=False)
        lines.append(f"| warm start | {w['extra']['tokens_seen']:,} tokens at T={w['args']['seq_len']} "
                     f"({w['extra']['train_seconds'] / 3600:.2f} h; data `{os.path.basename(w['args']['train_bin'])}`) "
                     f"before the tokens {earlier} |")
        fine_tuned_from(w["args"], "before the warm starts")
        prev, earlier = w["args"], "of the warm start above"
    if log:
        tail = log[-10:]
        ce = sum(float(r["ce"]) for r in tail) / len(tail)
        lines.append(f"| final train loss (cross-entropy, mean of the last {len(tail)} steps) | {ce:.4f} |")
    if val:
        lines.append(f"| final validation loss (trainer, T={a['seq_len']}, first {a['eval_seqs']} windows of "
                     f"validation.txt) | {float(val[-1]['val_loss']):.4f} (ppl {float(val[-1]['val_ppl']):.2f}) |")
    lines += ["", "![loss curves of the pair](loss.png)", ""]

    src = corpus_sources()
    lines += ["## Data", "",
              "English text from Debian packages, extracted, cleaned and de-duplicated by "
              "`tools/train/build_corpus.sh` (details in tools/train/README.md). Held-out texts, never "
              "trained on: `models/data/validation.txt` and `models/data/calibration.txt`.", ""]
    if src:
        lines += ["| source | Debian package | licence | MB |", "| --- | --- | --- | ---: |"]
        lines += [f"| {r['source']} | {r['package']} | {r['licence']} | {int(r['bytes']) / 1e6:.2f} |" for r in src]
        lines.append("")

    res_path = os.path.join(REPO, "models/results", f"pair-{pair}.json")
    if os.path.exists(res_path):
        res = json.load(open(res_path))
        lines += ["## Perplexity measured by selattn", "",
                  f"`{res['text']}` ({res['contexts'][0][variant]['tokens']:,} tokens, `<|endoftext|>` read as the "
                  "separator), non-overlapping windows each starting from BOS, full cache; PyTorch = the trainer's "
                  "model on the f32 checkpoint, same windows (`tools/train/eval_ppl.py`):", "",
                  f"    build/bin/selattn perplexity -m models/{folder} -f {res['text']} --special --ctx N", "",
                  f"| ctx | {pair}-sa | {pair}-base | {folder}: PyTorch | relative difference |",
                  "| ---: | ---: | ---: | ---: | ---: |"]
        for c in res["contexts"]:
            lines.append(f"| {c['ctx']} | {c['sa']['selattn']:.2f} | {c['base']['selattn']:.2f} | "
                         f"{c[variant]['pytorch']:.2f} | {c[variant]['rel_diff']:.1e} |")
        samples = res.get("samples", {}).get(variant, [])
        if samples:
            lines += ["", "## Samples", "",
                      f"Three unedited samples (default sampling: temperature 0.8, top-k 40, top-p 0.95, min-p 0.05; "
                      f"`--seed 7`):", "",
                      f"    build/bin/selattn generate -m models/{folder} -p PROMPT -n 60 --seed 7", ""]
            for smp in samples:
                lines += ["```", smp.rstrip("\n"), "```", ""]
    mem_path = os.path.join(REPO, "models/results", f"memory-{pair}.md")
    if cfg.selective and os.path.exists(mem_path):
        lines += ["## Memory", "",
                  f"`selattn memory` against `{pair}-base` (README \"Results\"; "
                  f"models/results/memory-{pair}.json and .png):", "",
                  open(mem_path).read().strip(), ""]
    recall_path = os.path.join(REPO, "models/results", f"recall-{pair}.md")
    if os.path.exists(recall_path):
        lines += ["## Long-range recall", "",
                  f"`selattn recall` on the held-out recall files, this pair (README \"Results\"; "
                  f"models/results/recall-{pair}.json and .png):", "",
                  open(recall_path).read().strip(), ""]
    with open(os.path.join(out, "README.md"), "w") as f:
        f.write("\n".join(lines).rstrip("\n") + "\n")


def verify(out, model, dtype):
    from transformers import GPT2LMHeadModel
    hf = GPT2LMHeadModel.from_pretrained(out, torch_dtype=torch.float32).eval()
    plain = GPT(GPTConfig(**{**model.cfg.to_dict(), "selective": False})).eval()
    # the trainer model with the exported (rounded) weights, SA off
    sd = {k: v.float() for k, v in model.state_dict().items()}
    rounded = {k: t.float().t() if k.endswith(CONV1D) else t.float()
               for k, t in hf_tensors(model, DTYPES[dtype]).items()}
    plain.load_state_dict(rounded)
    g = torch.Generator().manual_seed(0)
    idx = torch.randint(0, model.cfg.vocab_size, (2, min(256, model.cfg.n_positions)), generator=g)
    idx[:, 0] = 0
    with torch.no_grad():
        ours, _ = plain(idx)
        theirs = hf(idx).logits
    diff = (ours - theirs).abs().max().item()
    scale = theirs.abs().max().item()
    print(f"verify: transformers loads {out}; max |logit diff| trainer(SA off) vs HF = {diff:.3e} "
          f"(max |logit| {scale:.2f})")
    if diff > 1e-3 * max(1.0, scale):
        raise SystemExit("verify FAILED: logits differ")
    with torch.no_grad():
        plain.load_state_dict(sd)
        full = plain(idx)[0]
    print(f"verify: rounding to the stored dtype moves logits by at most {(full - theirs).abs().max().item():.3e}")
    return diff


def load_checked(ck, path):
    """The trainer model for checkpoint `ck`, or SystemExit naming every tensor that does
    not match what the checkpoint's config implies (a config edited by hand, a checkpoint
    from another run)."""
    try:
        cfg = GPTConfig(**ck["config"])
    except (KeyError, TypeError) as e:
        raise SystemExit(f"{path}: not a tools/train checkpoint with a usable config ({e})")
    model = GPT(cfg)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in ck.get("model", {}).items()}
    problems = [f"{k}: missing (config implies {want[k]})" for k in want if k not in have]
    problems += [f"{k}: not in this architecture" for k in have if k not in want]
    problems += [f"{k}: shape {have[k]}, config implies {want[k]}" for k in want if k in have and have[k] != want[k]]
    if problems:
        shown = "\n  ".join(problems[:8]) + (f"\n  ... {len(problems) - 8} more" if len(problems) > 8 else "")
        raise SystemExit(f"{path}: the config {ck['config']} does not match the tensors:\n  {shown}")
    model.load_state_dict(ck["model"])
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ckpt", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tokenizer", default=os.path.join(REPO, "tools/train/runs/tokenizer"))
    ap.add_argument("--dtype", choices=DTYPES, default="f16")
    ap.add_argument("--max-mb", type=float, default=20.0)
    ap.add_argument("--no-verify", action="store_true")
    ap.add_argument("--card-only", action="store_true",
                    help="rewrite only README.md of --out (after tools/train/measure_pair.sh has measured)")
    args = ap.parse_args()

    try:
        ck = torch.load(args.ckpt, map_location="cpu", weights_only=False)
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise SystemExit(f"{args.ckpt}: cannot read the checkpoint ({e.__class__.__name__}: {e})")
    ck["_path"] = args.ckpt
    model = load_checked(ck, args.ckpt).eval()
    cfg = model.cfg
    if args.card_only:
        if not os.path.isdir(args.out):
            raise SystemExit(f"{args.out}: no such model folder to write the card into")
        model_card(args.out, cfg, ck, args.dtype, num_params(model))
        print(f"wrote {os.path.join(args.out, 'README.md')}")
        return

    os.makedirs(args.out, exist_ok=True)
    tensors = hf_tensors(model, DTYPES[args.dtype])
    save_file(tensors, os.path.join(args.out, "model.safetensors"), metadata={"format": "pt"})
    os.chmod(os.path.join(args.out, "model.safetensors"), 0o644)
    with open(os.path.join(args.out, "config.json"), "w") as f:
        json.dump(hf_config(cfg), f, indent=2)
    for name in ("tokenizer.json", "vocab.json", "merges.txt", "tokenizer_config.json"):
        shutil.copy(os.path.join(args.tokenizer, name), os.path.join(args.out, name))
    model_card(args.out, cfg, ck, args.dtype, num_params(model))

    size = sum(os.path.getsize(os.path.join(args.out, n)) for n in os.listdir(args.out))
    print(f"wrote {args.out}: {size / 1e6:.2f} MB ({len(tensors)} tensors, {args.dtype})")
    if size > args.max_mb * 1e6:
        raise SystemExit(f"{args.out} is {size / 1e6:.1f} MB > --max-mb {args.max_mb}")
    if not args.no_verify:
        verify(args.out, model, args.dtype)


if __name__ == "__main__":
    main()
