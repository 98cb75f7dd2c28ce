#!/usr/bin/env python3
"""Loss curves of a selective/baseline pair: training cross-entropy (smoothed)
and validation loss against tokens seen, both runs on one plot.

  python3 tools/train/plot_loss.py tools/train/runs/NAME-sa tools/train/runs/NAME-base -o loss.png
"""
import argparse
import csv
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def read(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def smooth(values, k=10):
    out, acc = [], []
    for v in values:
        acc.append(v)
        if len(acc) > k:
            acc.pop(0)
        out.append(sum(acc) / len(acc))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", help="run folders holding log.csv and val.csv")
    ap.add_argument("-o", "--output", default="loss.png")
    args = ap.parse_args()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for run, color in zip(args.runs, ["tab:blue", "tab:orange", "tab:green", "tab:red"]):
        name = os.path.basename(os.path.normpath(run))
        log = read(os.path.join(run, "log.csv"))
        ax.plot([int(r["tokens"]) / 1e6 for r in log], smooth([float(r["ce"]) for r in log]), color=color, alpha=0.6,
                lw=1, label=f"{name} train CE (smoothed)")
        val_path = os.path.join(run, "val.csv")
        if os.path.exists(val_path):
            val = read(val_path)
            ax.plot([int(r["tokens"]) / 1e6 for r in val], [float(r["val_loss"]) for r in val], "o-", color=color,
                    ms=4, label=f"{name} validation")
    ax.set_xlabel("training tokens (millions)")
    ax.set_ylabel("cross-entropy (nats/token)")
    ax.set_ylim(top=8)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.output, dpi=110)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
