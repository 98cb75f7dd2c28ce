#!/usr/bin/env python3
"""Joins `selattn bench --json` records and tools/bench/transformers_gpu.py lines
into the GPU table (markdown and JSON) that tools/gpu_check.sh writes.

Columns: per test (pp512, pp2048, tg128@dD), tokens per second of selattn
with the full cache and with a budget of 64 per layer, of transformers
(eager, SDPA; the faster of its dynamic and static caches), and the ratio of
selattn (full cache) to transformers SDPA. Below the table: the device copy
bandwidth, and the bandwidth at which selattn's decode reads the extra K/V of
depth 2048 over depth 0 (extra K/V bytes / extra time per token).
"""
import argparse
import json

GPT2_LAYERS, GPT2_WIDTH = 12, 768


def read_lines(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--selattn", required=True)
    ap.add_argument("--transformers", required=True)
    ap.add_argument("--md", required=True)
    ap.add_argument("--json", required=True)
    args = ap.parse_args()
    ours = read_lines(args.selattn)
    theirs = read_lines(args.transformers)
    copy_gbs = next((r["gb_s"] for r in theirs if r.get("engine") == "device"), None)

    rows = []
    for dt in ("f16", "bf16"):
        tests = []
        for r in ours:
            if r["weights"] == dt and r["test"] not in tests:
                tests.append(r["test"])
        for test in tests:
            def ours_ts(kv):
                return next((r["avg_ts"] for r in ours if r["weights"] == dt and r["test"] == test and r["kv"] == kv),
                            None)

            def theirs_ts(attn):
                vals = [r["tok_s"] for r in theirs
                        if r.get("dtype") == dt and r.get("attn") == attn and r.get("test") == test and "tok_s" in r]
                return max(vals) if vals else None

            row = {"weights": dt, "test": test, "selattn": ours_ts("none"), "selattn_budget64": ours_ts("selective"),
                   "transformers_eager": theirs_ts("eager"), "transformers_sdpa": theirs_ts("sdpa")}
            s, t = row["selattn"], row["transformers_sdpa"]
            row["vs_sdpa"] = s / t if s and t else None
            rows.append(row)

    def attention_gbs(dt):
        full = {r["test"]: r["avg_ts"] for r in ours if r["weights"] == dt and r["kv"] == "none"}
        t0, t2048 = full.get("tg128"), full.get("tg128@d2048")
        if not t0 or not t2048 or 1 / t2048 <= 1 / t0:
            return None
        # f32 K/V pages: 2 x layers x width x 4 bytes per token of depth
        kv_bytes = 2 * GPT2_LAYERS * GPT2_WIDTH * 4 * 2048
        return kv_bytes / (1 / t2048 - 1 / t0) / 1e9

    summary = {"copy_gb_s": copy_gbs, "attention_gb_s": {dt: attention_gbs(dt) for dt in ("f16", "bf16")}}
    with open(args.json, "w") as f:
        json.dump({"rows": rows, "summary": summary}, f, indent=1)

    fmt = lambda v, d=1: "-" if v is None else f"{v:,.{d}f}"
    lines = ["| weights | test | selattn t/s | selattn, budget 64 | transformers eager | transformers SDPA | selattn / SDPA |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['weights']} | {r['test']} | {fmt(r['selattn'])} | {fmt(r['selattn_budget64'])} | "
                     f"{fmt(r['transformers_eager'])} | {fmt(r['transformers_sdpa'])} | "
                     f"{fmt(r['vs_sdpa'], 2) + 'x' if r['vs_sdpa'] else '-'} |")
    lines.append("")
    lines.append(f"Device copy bandwidth: {fmt(copy_gbs)} GB/s. Decode attention at depth 2048 (full cache) reads "
                 f"K/V at {fmt(summary['attention_gb_s']['f16'])} GB/s (f16 weights), "
                 f"{fmt(summary['attention_gb_s']['bf16'])} GB/s (bf16 weights).")
    with open(args.md, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
