#!/usr/bin/env python3
"""Train a GPT-2 style model, with or without Selective Attention, on CPU.

    python3 tools/train/train.py --out tools/train/runs/NAME-sa --selective \
        --tokens 10_000_000 [--seq-len 2048 --batch 8 --micro-batch 2 ...]

Resumable: rerunning the same command continues from --out/ckpt.pt (model, optimizer,
step = data position, RNG states). Logs one CSV row per step to --out/log.csv and the
validation loss every --eval-every steps to --out/val.csv.

Data: uint16 token ids (tools/train/train_tokenizer.py writes them). Each training
sequence is <|endoftext|> (id 0, the BOS) followed by T-1 corpus tokens; targets are the
next T tokens. Sequences are non-overlapping windows of the corpus, visited in a
permutation fixed by --data-seed and the epoch, so two runs with the same data seed,
sequence length and batch see exactly the same tokens in the same order.
"""
import argparse
import csv
import json
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from model import GPT, GPTConfig, memory_loss, num_params  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CORPUS = os.path.join(REPO, "tools/train/runs/corpus")
BOS = 0


class Windows:
    """Non-overlapping (T-1)-token windows of a uint16 memmap in a seeded order."""

    def __init__(self, path, T, seed):
        self.data = np.memmap(path, dtype=np.uint16, mode="r")
        self.T, self.seed = T, seed
        self.n = (len(self.data) - 1) // (T - 1)      # windows; +1 token for the last target
        if self.n < 1:
            raise SystemExit(f"{path}: {len(self.data)} tokens, too few for sequences of {T}")

    def order(self, epoch):
        return np.random.default_rng([self.seed, epoch]).permutation(self.n)

    def batch(self, first, count):
        """Sequences first .. first+count-1 of the global stream -> x, y (count, T) int64."""
        xs, ys = [], []
        cache = {}
        for s in range(first, first + count):
            epoch, k = divmod(s, self.n)
            if epoch not in cache:
                cache[epoch] = self.order(epoch)
            w = int(cache[epoch][k])
            chunk = np.asarray(self.data[w * (self.T - 1): w * (self.T - 1) + self.T], dtype=np.int64)
            xs.append(np.concatenate([[BOS], chunk[:-1]]))
            ys.append(chunk)
        return torch.from_numpy(np.stack(xs)), torch.from_numpy(np.stack(ys))


def lr_at(step, total, args):
    if step < args.warmup:
        return args.lr * (step + 1) / args.warmup
    frac = min(1.0, (step - args.warmup) / max(1, total - args.warmup))
    return args.min_lr + 0.5 * (args.lr - args.min_lr) * (1 + math.cos(math.pi * frac))


def autocast(args):
    return torch.autocast("cpu", dtype=torch.bfloat16, enabled=args.bf16)


def loss_fn(model, x, y, args):
    """(cross-entropy, memory loss, the cross-entropy to train on). The last weighs
    the token after each --answer-after token --answer-weight times (1: the same)."""
    with autocast(args):
        logits, ms = model(x)
    per_token = F.cross_entropy(logits.float().view(-1, logits.size(-1)), y.view(-1), reduction="none")
    ce = per_token.mean()
    mem = memory_loss(ms, args.mem_tau) if ms is not None and args.mem_eps > 0 else torch.zeros(())
    if args.answer_weight == 1.0:
        return ce, mem, ce
    w = 1.0 + (args.answer_weight - 1.0) * (x.view(-1) == args.answer_after).float()
    return ce, mem, (per_token * w).sum() / w.sum()


@torch.no_grad()
def evaluate(model, val, args):
    model.eval()
    n = min(val.n, args.eval_seqs)
    total = 0.0
    for k in range(n):
        w = k                                   # fixed windows in file order
        chunk = np.asarray(val.data[w * (val.T - 1): w * (val.T - 1) + val.T], dtype=np.int64)
        x = torch.from_numpy(np.concatenate([[BOS], chunk[:-1]]))[None]
        y = torch.from_numpy(chunk)[None]
        ce, _, _ = loss_fn(model, x, y, args)
        total += ce.item()
    model.train()
    return total / n


def load_model_folder(model, folder):
    """Weights of an exported model folder (model.safetensors, Hugging Face GPT-2 names)."""
    from safetensors.torch import load_file
    conv1d = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
    path = os.path.join(folder, "model.safetensors")
    if not os.path.exists(path):
        raise SystemExit(f"{folder}: no model.safetensors")
    with open(os.path.join(folder, "config.json")) as f:
        hf = json.load(f)
    if bool(hf.get("selective_attention", {}).get("enabled")) != model.cfg.selective:
        raise SystemExit(f"{folder}: selective attention {'on' if model.cfg.selective else 'off'} on the "
                         "command line but not in the model")
    want = model.state_dict()
    got = {}
    for name, t in load_file(path).items():
        if name.endswith(conv1d):
            t = t.t()                       # Conv1D [in, out] -> nn.Linear [out, in]
        got[name] = t.float().contiguous()
    if "lm_head.weight" in want and "lm_head.weight" not in got:
        got["lm_head.weight"] = got["transformer.wte.weight"]     # tied
    missing = sorted(set(want) - set(got))
    shapes = [n for n in want if n in got and tuple(got[n].shape) != tuple(want[n].shape)]
    if missing or shapes:
        raise SystemExit(f"{folder}: does not fit the command line's model (missing {missing[:3]}, "
                         f"wrong shapes {shapes[:3]})")
    model.load_state_dict({n: got[n] for n in want})


def save_ckpt(path, model, opt, step, args, extra):
    tmp = path + ".tmp"
    torch.save({
        "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step,
        "config": model.cfg.to_dict(), "args": vars(args), "extra": extra,
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
    }, tmp)
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="run folder (checkpoint, logs)")
    ap.add_argument("--train-bin", default=os.path.join(CORPUS, "train.bin"))
    ap.add_argument("--val-bin", default=os.path.join(CORPUS, "validation.bin"))
    ap.add_argument("--selective", action="store_true", help="Selective Attention (docs/design.md section 1)")
    ap.add_argument("--selection-head", type=int, default=0)
    ap.add_argument("--mem-eps", type=float, default=0.0, help="memory-loss weight eps (SA only; 0 = off)")
    ap.add_argument("--mem-tau", type=float, default=1.0, help="memory-loss threshold tau (F >= tau = evicted)")
    ap.add_argument("--n-layer", type=int, default=4)
    ap.add_argument("--n-head", type=int, default=4)
    ap.add_argument("--n-embd", type=int, default=256)
    ap.add_argument("--n-positions", type=int, default=2048)
    ap.add_argument("--vocab-size", type=int, default=8192)
    ap.add_argument("--seq-len", type=int, default=2048, help="T: tokens per sequence (incl. BOS)")
    ap.add_argument("--batch", type=int, default=8, help="sequences per optimizer step")
    ap.add_argument("--micro-batch", type=int, default=2, help="sequences per forward/backward")
    ap.add_argument("--tokens", type=float, default=10e6, help="training tokens (sets the step count)")
    ap.add_argument("--max-steps", type=int, default=0, help="stop after this many steps in this invocation "
                    "(schedule still spans --tokens); 0 = run to the end")
    ap.add_argument("--stop-step", type=int, default=0, help="stop (with checkpoint) once the run reaches this step, "
                    "counted from the start of the schedule; a rerun past it does nothing; 0 = run to the end")
    ap.add_argument("--max-minutes", type=float, default=0, help="stop (with checkpoint) after this long")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--min-lr", type=float, default=1e-4)
    ap.add_argument("--warmup", type=int, default=50, help="warmup steps")
    ap.add_argument("--weight-decay", type=float, default=0.1)
    ap.add_argument("--grad-clip", type=float, default=1.0)
    ap.add_argument("--bf16", action="store_true", help="bf16 autocast (F, softmax, loss stay float32)")
    ap.add_argument("--seed", type=int, default=1234, help="init seed")
    ap.add_argument("--data-seed", type=int, default=1, help="data order seed; same for both models")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=50)
    ap.add_argument("--eval-seqs", type=int, default=16, help="validation sequences per evaluation")
    ap.add_argument("--ckpt-every", type=int, default=20)
    ap.add_argument("--answer-weight", type=float, default=1.0,
                    help="weigh the loss of each token that follows an --answer-after token this many times "
                         "(recall fine-tuning: the value after ' K ?'); 1 = plain mean")
    ap.add_argument("--answer-after", type=int, default=-1, help="that token's id (needed with --answer-weight)")
    ap.add_argument("--init-from", default="", help="warm start: load model weights from this ckpt.pt or exported model folder")
    args = ap.parse_args()

    if args.answer_weight != 1.0 and args.answer_after < 0:
        raise SystemExit("--answer-weight needs --answer-after ID (the token before each answer)")
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)      # softmax under a large F yields denormals: slow matmuls
    os.makedirs(args.out, exist_ok=True)
    ckpt_path = os.path.join(args.out, "ckpt.pt")
    cfg = GPTConfig(vocab_size=args.vocab_size, n_positions=args.n_positions, n_layer=args.n_layer,
                    n_head=args.n_head, n_embd=args.n_embd, selective=args.selective,
                    selection_head=args.selection_head, mem_tau=args.mem_tau)
    if args.seq_len > args.n_positions:
        raise SystemExit("--seq-len must be <= --n-positions")
    if args.batch % args.micro_batch:
        raise SystemExit("--batch must be a multiple of --micro-batch")

    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    random.seed(args.seed)
    model = GPT(cfg)
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": args.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.95), eps=1e-8)
    step, extra = 0, {"tokens_seen": 0, "train_seconds": 0.0}
    if os.path.exists(ckpt_path):
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        if ck["config"] != cfg.to_dict():
            raise SystemExit(f"{ckpt_path}: config {ck['config']} differs from the command line {cfg.to_dict()}")
        for key in ("seq_len", "batch", "data_seed", "tokens"):
            if ck["args"][key] != getattr(args, key):
                raise SystemExit(f"{ckpt_path}: --{key.replace('_', '-')} was {ck['args'][key]}, now {getattr(args, key)}")
        model.load_state_dict(ck["model"])
        opt.load_state_dict(ck["optimizer"])
        step, extra = ck["step"], ck["extra"]
        torch.set_rng_state(ck["rng"]["torch"])
        np.random.set_state(ck["rng"]["numpy"])
        random.setstate(ck["rng"]["python"])
        print(f"resumed {ckpt_path} at step {step}", flush=True)
    elif args.init_from and os.path.isdir(args.init_from):
        load_model_folder(model, args.init_from)
        print(f"fine-tuning from the exported model {args.init_from}", flush=True)
    elif args.init_from:
        ck = torch.load(args.init_from, map_location="cpu", weights_only=False)
        model.load_state_dict(ck["model"])
        print(f"warm start from {args.init_from} (step {ck['step']}, T={ck['args']['seq_len']})", flush=True)
    with open(os.path.join(args.out, "run.json"), "w") as f:
        json.dump({"config": cfg.to_dict(), "args": vars(args), "params": num_params(model)}, f, indent=2)

    T = args.seq_len
    data = Windows(args.train_bin, T, args.data_seed)
    val = Windows(args.val_bin, T, 0) if os.path.exists(args.val_bin) else None
    total_steps = max(1, int(args.tokens // (args.batch * T)))
    print(f"params {num_params(model) / 1e6:.2f}M, selective={args.selective}, mem_eps={args.mem_eps}, "
          f"bf16={args.bf16}, T={T}, batch={args.batch}x{T}={args.batch * T} tokens/step, "
          f"{total_steps} steps, corpus {len(data.data) / 1e6:.1f}M tokens = {data.n} windows "
          f"(epochs {total_steps * args.batch / data.n:.2f})", flush=True)

    log_path = os.path.join(args.out, "log.csv")
    new_log = not os.path.exists(log_path)
    log = open(log_path, "a", newline="")
    logw = csv.writer(log)
    if new_log:
        logw.writerow(["step", "tokens", "lr", "loss", "ce", "mem", "grad_norm", "step_s", "tok_per_s", "elapsed_s"])
    val_path = os.path.join(args.out, "val.csv")
    if not os.path.exists(val_path):
        with open(val_path, "w") as f:
            f.write("step,tokens,val_loss,val_ppl\n")

    if args.stop_step and step >= args.stop_step:
        print(f"at step {step}, --stop-step {args.stop_step} reached: nothing to do", flush=True)
        return
    model.train()
    t_start = time.time()
    steps_here = 0
    n_micro = args.batch // args.micro_batch
    while step < total_steps:
        t0 = time.time()
        lr = lr_at(step, total_steps, args)
        for g in opt.param_groups:
            g["lr"] = lr
        ce_sum, mem_sum = 0.0, 0.0
        for m in range(n_micro):
            x, y = data.batch(step * args.batch + m * args.micro_batch, args.micro_batch)
            ce, mem, ce_train = loss_fn(model, x, y, args)
            loss = ce_train + args.mem_eps * mem
            (loss / n_micro).backward()
            ce_sum += ce.item() / n_micro
            mem_sum += mem.item() / n_micro
        gn = torch.nn.utils.clip_grad_norm_(model.parameters(), args.grad_clip).item()
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        steps_here += 1
        dt = time.time() - t0
        extra["tokens_seen"] += args.batch * T
        extra["train_seconds"] += dt
        logw.writerow([step, extra["tokens_seen"], f"{lr:.3e}", f"{ce_sum + args.mem_eps * mem_sum:.4f}",
                       f"{ce_sum:.4f}", f"{mem_sum:.4f}", f"{gn:.3f}", f"{dt:.2f}",
                       f"{args.batch * T / dt:.0f}", f"{extra['train_seconds']:.0f}"])
        log.flush()
        if step % 10 == 0 or step == 1 or step == total_steps:
            eta = extra["train_seconds"] / step * (total_steps - step) / 3600
            print(f"step {step}/{total_steps} ce {ce_sum:.4f} mem {mem_sum:.4f} lr {lr:.2e} "
                  f"gn {gn:.2f} {args.batch * T / dt:.0f} tok/s eta {eta:.2f} h", flush=True)
        done = step == total_steps
        stop = (args.max_steps and steps_here >= args.max_steps) or (args.stop_step and step >= args.stop_step) or \
               (args.max_minutes and time.time() - t_start > args.max_minutes * 60)
        if val is not None and (step % args.eval_every == 0 or done):
            vl = evaluate(model, val, args)
            with open(val_path, "a") as f:
                f.write(f"{step},{extra['tokens_seen']},{vl:.4f},{math.exp(vl):.2f}\n")
            print(f"step {step} val_loss {vl:.4f} ppl {math.exp(vl):.2f}", flush=True)
        if step % args.ckpt_every == 0 or done or stop:
            save_ckpt(ckpt_path, model, opt, step, args, extra)
        if stop and not done:
            print(f"stopping at step {step} (limit); rerun the same command to resume", flush=True)
            break
    if step >= total_steps:
        with open(os.path.join(args.out, "DONE"), "w") as f:
            f.write(f"{step}\n")
        print("training complete", flush=True)


if __name__ == "__main__":
    main()
