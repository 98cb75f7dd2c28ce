#!/usr/bin/env python3
"""Reads the raw runs of tools/bench/compare_llamacpp.sh and writes the comparison.

  python3 tools/bench/compare_table.py --manifest RUNS.tsv --out-json OUT.json --out-md OUT.md \
      [--meta KEY=VALUE ...] [--rss ENGINE=KIB ...]

RUNS.tsv has one line per engine invocation, tab-separated:
  round  model  weights  test  engine  json_file
where engine is "selattn" or "llama.cpp" and json_file holds what that invocation
printed: `selattn bench --json` or `llama-bench -o json`, both a JSON array with one
object per test carrying n_prompt, n_gen, n_depth and avg_ts (tokens per second).
Each invocation runs one test with one repetition, so each round gives one number per
engine and case; the table shows their median, mean ± sample standard deviation over
rounds, and the ratio of the medians (a round disturbed by the rest of the machine
moves a median least). The markdown goes to stdout too.
"""
import argparse
import csv
import datetime
import json
import statistics
import sys

ENGINES = ("selattn", "llama.cpp")


def test_name(obj):
    """The llama-bench style name of a test object: pp512, tg128, tg128@d900."""
    n_prompt, n_gen, n_depth = int(obj.get("n_prompt", 0)), int(obj.get("n_gen", 0)), int(obj.get("n_depth", 0))
    if n_prompt > 0 and n_gen == 0:
        name = f"pp{n_prompt}"
    elif n_gen > 0 and n_prompt == 0:
        name = f"tg{n_gen}"
    else:
        name = f"pp{n_prompt}+tg{n_gen}"
    return name + (f"@d{n_depth}" if n_depth > 0 else "")


def read_run(path, want_test):
    """The tokens/s of the one test in a bench JSON file, with its raw object."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        sys.exit(f"compare_table.py: {path}: not a bench JSON file ({e})")
    if isinstance(data, dict):
        data = [data]
    matches = [o for o in data if test_name(o) == want_test]
    if len(matches) != 1:
        found = ", ".join(test_name(o) for o in data) or "nothing"
        sys.exit(f"compare_table.py: {path}: expected one {want_test} result, found {found}")
    obj = matches[0]
    if obj.get("avg_ts") is None:
        sys.exit(f"compare_table.py: {path}: {want_test} has no avg_ts")
    return float(obj["avg_ts"]), obj


def summarise(values):
    if not values:
        return None
    return {
        "samples_ts": values,
        "median_ts": statistics.median(values),
        "mean_ts": statistics.fmean(values),
        "sd_ts": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def fmt(s):
    if s is None:
        return "—"
    if s["n"] > 1:
        return f"{s['median_ts']:.1f} ({s['mean_ts']:.1f} ± {s['sd_ts']:.1f})"
    return f"{s['mean_ts']:.1f}"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--out-json", required=True)
    ap.add_argument("--out-md", required=True)
    ap.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="recorded in the JSON and the markdown")
    ap.add_argument("--rss", action="append", default=[], metavar="ENGINE=KIB", help="peak resident set size of one run")
    ap.add_argument("--rss-case", default="", help="which run the --rss numbers are of")
    args = ap.parse_args()

    meta = dict(kv.split("=", 1) for kv in args.meta)
    rss = {k: int(v) for k, v in (kv.split("=", 1) for kv in args.rss)}

    cases = {}  # (model, weights, test) -> engine -> list of (round, tok/s, raw object)
    order = []
    with open(args.manifest, encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t"):
            if not row or row[0].startswith("#"):
                continue
            if len(row) != 6:
                sys.exit(f"compare_table.py: {args.manifest}: expected 6 tab-separated fields, found {row}")
            rnd, model, weights, test, engine, path = row
            if engine not in ENGINES:
                sys.exit(f"compare_table.py: {args.manifest}: unknown engine {engine!r}")
            key = (model, weights, test)
            if key not in cases:
                cases[key] = {e: [] for e in ENGINES}
                order.append(key)
            ts, obj = read_run(path, test)
            cases[key][engine].append({"round": int(rnd), "avg_ts": ts, "raw": obj})

    results = []
    for key in order:
        model, weights, test = key
        entry = {"model": model, "weights": weights, "test": test}
        for engine in ENGINES:
            runs = cases[key][engine]
            s = summarise([r["avg_ts"] for r in runs])
            entry[engine] = dict(s, runs=runs) if s else None
        sel, ref = entry["selattn"], entry["llama.cpp"]
        entry["ratio"] = sel["median_ts"] / ref["median_ts"] if sel and ref and ref["median_ts"] > 0 else None
        results.append(entry)

    lines = []
    if meta:
        for k, v in meta.items():
            lines.append(f"- {k}: {v}")
        lines.append("")
    lines.append("| model | weights | test | selattn tok/s, median (mean ± sd) | llama.cpp tok/s, median (mean ± sd) "
                 "| ratio of medians |")
    lines.append("| --- | --- | --- | ---: | ---: | ---: |")
    for e in results:
        ratio = f"{e['ratio']:.2f}" if e["ratio"] is not None else "—"
        lines.append(f"| {e['model']} | {e['weights']} | {e['test']} | {fmt(e['selattn'])} | {fmt(e['llama.cpp'])} | {ratio} |")
    if rss:
        lines.append("")
        what = f" ({args.rss_case})" if args.rss_case else ""
        lines.append(f"Peak RSS{what}: " + ", ".join(f"{k} {v / 1024:.1f} MiB" for k, v in rss.items()))
    md = "\n".join(lines) + "\n"

    out = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "meta": meta,
        "results": results,
        "peak_rss_kib": rss,
        "peak_rss_case": args.rss_case,
    }
    with open(args.out_json, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1)
        f.write("\n")
    with open(args.out_md, "w", encoding="utf-8") as f:
        f.write(md)
    sys.stdout.write(md)


if __name__ == "__main__":
    main()
