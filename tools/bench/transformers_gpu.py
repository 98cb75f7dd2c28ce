#!/usr/bin/env python3
"""Greedy decode and prefill speed of a GPT-2 folder in Hugging Face transformers
on a CUDA GPU, as the reference for `selattn bench --device cuda`.

For each attention implementation (eager, sdpa) and dtype, it times:
  prefill P: one forward pass over P tokens (tokens per second);
  decode N after depth D: `generate` from a D-token prompt with exactly N new
    tokens minus `generate` with 1 new token, over N - 1 steps (tokens per
    second of the decode loop alone), with the dynamic cache and, where this
    transformers version supports it for GPT-2, the static cache.
Each figure is the median of --reps runs after one warm-up. Prints one JSON
object per line.

  python3 tools/bench/transformers_gpu.py --model DIR --dtype f16 [--depths 0,512,1024,2048] [--n 128]
"""
import argparse
import json
import statistics
import time

import torch
from transformers import GPT2LMHeadModel

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def test_name(n, depth):
    """As `selattn bench` names its decode tests."""
    return f"tg{n}" if depth == 0 else f"tg{n}@d{depth}"


def timed(fn, reps):
    fn()  # warm-up
    out = []
    for _ in range(reps):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--dtype", choices=sorted(DTYPES), default="f16")
    ap.add_argument("--depths", default="0,512,1024,2048")
    ap.add_argument("--prefill", default="512,2048")
    ap.add_argument("--n", type=int, default=128)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    gen = torch.Generator().manual_seed(0)
    for impl in ("eager", "sdpa"):
        model = GPT2LMHeadModel.from_pretrained(args.model, torch_dtype=DTYPES[args.dtype],
                                                attn_implementation=impl).cuda().eval()
        V = model.config.vocab_size
        for p in [int(x) for x in args.prefill.split(",") if x]:
            ids = torch.randint(0, V, (1, p), generator=gen).cuda()
            with torch.inference_mode():
                t = timed(lambda: model(ids, use_cache=False), args.reps)
            print(json.dumps({"engine": "transformers", "attn": impl, "dtype": args.dtype, "test": f"pp{p}",
                              "tok_s": p / t}), flush=True)
        for cache in ("dynamic", "static"):
            for d in [int(x) for x in args.depths.split(",") if x]:
                ids = torch.randint(0, V, (1, max(d, 1)), generator=gen).cuda()
                kw = dict(do_sample=False, pad_token_id=0)
                if cache == "static":
                    kw["cache_implementation"] = "static"
                try:
                    with torch.inference_mode():
                        t_n = timed(lambda: model.generate(ids, min_new_tokens=args.n, max_new_tokens=args.n, **kw),
                                    args.reps)
                        t_1 = timed(lambda: model.generate(ids, min_new_tokens=1, max_new_tokens=1, **kw), args.reps)
                except Exception as e:  # static cache not supported by this version for GPT-2
                    print(json.dumps({"engine": "transformers", "attn": impl, "cache": cache, "dtype": args.dtype,
                                      "test": test_name(args.n, d), "error": str(e)[:200]}), flush=True)
                    break
                print(json.dumps({"engine": "transformers", "attn": impl, "cache": cache, "dtype": args.dtype,
                                  "test": test_name(args.n, d), "tok_s": (args.n - 1) / max(t_n - t_1, 1e-9)}),
                      flush=True)
        del model
        torch.cuda.empty_cache()
    # The device's copy bandwidth: read + write of a 1 GiB buffer.
    a = torch.empty(1 << 28, dtype=torch.float32, device="cuda")
    b = torch.empty_like(a)
    t = timed(lambda: b.copy_(a), 10)
    print(json.dumps({"engine": "device", "test": "copy", "gb_s": 2 * a.numel() * 4 / t / 1e9}), flush=True)


if __name__ == "__main__":
    main()
