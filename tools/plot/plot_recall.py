#!/usr/bin/env python3
"""Plots `selattn recall` results: recall accuracy against the KV budget, one
curve per model and eviction policy, one panel per context, with each model's
full-cache accuracy as a line.

  python3 tools/plot/plot_recall.py recall.json -o recall.png
"""
import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"selective": "tab:blue", "h2o": "tab:orange", "streaming": "tab:green"}
STYLES = {"selective": "-", "baseline": "--"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("-o", "--output", default="recall.png")
    args = ap.parse_args()
    with open(args.results) as f:
        r = json.load(f)
    ctxs = r["contexts"]
    fig, axes = plt.subplots(1, len(ctxs), figsize=(5.2 * len(ctxs), 4.2), squeeze=False)
    for ax, c in zip(axes[0], ctxs):
        for s in c["series"]:
            pts = sorted((p["budget"] / c["ctx"], p["accuracy"]) for p in s["points"])
            ax.plot([x for x, _ in pts], [y for _, y in pts], "o" + STYLES[s["model"]], color=COLORS[s["policy"]],
                    ms=4, label=f"{s['policy']} ({s['model']} model)")
        ax.axhline(c["full"]["selective"]["accuracy"], color="black", lw=1, label="selective model, full cache")
        ax.axhline(c["full"]["baseline"]["accuracy"], color="gray", ls="--", lw=1, label="baseline, full cache")
        ax.set_xscale("log", base=2)
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("KV budget per layer / context")
        ax.set_ylabel("recall accuracy (exact match)")
        ax.set_title(f"context {c['ctx']} ({c['full']['selective']['count']} answers)")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7)
    fig.suptitle(f"{r['model']} vs baseline {r['baseline']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
