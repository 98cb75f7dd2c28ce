#!/usr/bin/env python3
"""Plots `selattn recall` results: recall accuracy against the KV budget, one
curve per model and eviction policy, one panel per context, with each model's
full-cache accuracy as a line.

  python3 tools/plot/plot_recall.py recall.json -o recall.png
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from panels import context_panels, finish, finish_axis  # noqa: E402

COLORS = {"selective": "tab:blue", "h2o": "tab:orange", "streaming": "tab:green"}
STYLES = {"selective": "-", "baseline": "--"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("-o", "--output", default="recall.png")
    args = ap.parse_args()
    r, fig, panels = context_panels(args.results)
    for ax, c in panels:
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
        finish_axis(ax, f"context {c['ctx']} ({c['full']['selective']['count']} answers)")
    finish(fig, r, args.output)


if __name__ == "__main__":
    main()
