"""What the plot tools share: reading a results file into one panel per
context, and finishing the figure."""
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def context_panels(path):
    """(results, figure, one axis per entry of results["contexts"])."""
    with open(path) as f:
        r = json.load(f)
    ctxs = r["contexts"]
    fig, axes = plt.subplots(1, len(ctxs), figsize=(5.2 * len(ctxs), 4.2), squeeze=False)
    return r, fig, list(zip(axes[0], ctxs))


def finish(fig, r, output):
    fig.suptitle(f"{r['model']} vs baseline {r['baseline']}", fontsize=9)
    fig.tight_layout()
    fig.savefig(output, dpi=110)
    print(f"wrote {output}")


def finish_axis(ax, title):
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
