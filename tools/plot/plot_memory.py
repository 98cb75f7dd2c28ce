#!/usr/bin/env python3
"""Plots `selattn memory` results: perplexity against KV memory, one curve per
eviction policy, one panel per context, with the baseline's full-cache
perplexity as a line and the calibrated selective budgets as a star.

  python3 tools/plot/plot_memory.py memory.json -o memory.png
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from panels import context_panels, finish, finish_axis  # noqa: E402

COLORS = {"selective": "tab:blue", "h2o": "tab:orange", "streaming": "tab:green"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results")
    ap.add_argument("-o", "--output", default="memory.png")
    args = ap.parse_args()
    r, fig, panels = context_panels(args.results)
    for ax, c in panels:
        full = c["full_context"] if c.get("full_context") else c["ctx"] * r["n_layer"]
        for policy, color in COLORS.items():
            pts = sorted((p["budget_sum"] / full, p["perplexity"]) for p in c["curve"] if p["policy"] == policy)
            if pts:
                ax.plot([x for x, _ in pts], [y for _, y in pts], "o-", color=color, label=policy, ms=4)
        ax.axhline(c["baseline_perplexity"], color="gray", ls="--", lw=1, label="baseline, full cache")
        ax.plot([1.0], [c["full_perplexity"]], "s", color="black", ms=5, label="selective model, full cache")
        if c["feasible"]:
            sel = c["at_budget"][0]
            ax.plot([sel["budget_sum"] / full], [sel["perplexity"]], "*", color="tab:blue", ms=14,
                    label=f"calibrated: {c['reduction']:.1f}x less")
        ax.set_xscale("log")
        ax.set_xlabel("KV memory: sum of budgets / (L x N)")
        ax.set_ylabel("held-out perplexity")
        finish_axis(ax, f"context {c['ctx']}")
    finish(fig, r, args.output)


if __name__ == "__main__":
    main()
