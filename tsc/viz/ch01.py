"""Chapter 1's longer figures: how hard each problem is, and the family on one FLOPs axis."""

from __future__ import annotations

import numpy as np

from tsc.analysis import wilson
from tsc.viz import accuracy_axes, band
from tsc.viz.colors import color


def rate_bins(n: int) -> list[tuple[int, int, str]]:
    """Bins of per-problem success counts out of ``n`` samples that double in width: none
    right, 1, 2-3, 4-7, ..., and all ``n`` right. Each is (low, high, label), counts
    low <= c <= high."""
    bins = [(0, 0, "0")]
    low = 1
    while low < n:
        high = min(2 * low - 1, n - 1)
        bins.append((low, high, f"{low}" if low == high else f"{low}–{high}"))
        low *= 2
    bins.append((n, n, f"{n}"))
    return bins


def solve_rate_histogram(ax, correct: np.ndarray, sizes: np.ndarray) -> dict[str, np.ndarray]:
    """How many of its ``n`` samples solve each problem, in bins that double in width, one bar
    segment per problem size stacked, with a 95 % Wilson interval on each bin's share of all
    problems. Returns the shares and the bins."""
    counts = correct.sum(axis=1)
    n = correct.shape[1]
    bins = rate_bins(n)
    bottom = np.zeros(len(bins))
    for size in sorted(set(sizes.tolist())):
        share = np.array([np.sum((counts >= lo) & (counts <= hi) & (sizes == size)) for lo, hi, _ in bins]) / len(counts)
        ax.bar(range(len(bins)), share, bottom=bottom, color=color(int(size)), label=f"{size} numbers", width=0.8)
        bottom += share
    total = np.array([np.sum((counts >= lo) & (counts <= hi)) for lo, hi, _ in bins])
    low, high = np.array([wilson(int(t), len(counts)) for t in total]).T
    ax.errorbar(range(len(bins)), bottom, yerr=[bottom - low, high - bottom], fmt="none", color="0.2", capsize=3)
    ax.set_xticks(range(len(bins)))
    ax.set_xticklabels([label for _, _, label in bins])
    accuracy_axes(ax, f"samples out of {n} that solve the problem (bins double in width)", "share of problems")
    ax.set_ylim(0, min(1.0, float(high.max()) + 0.08))
    ax.legend(loc="upper right")
    return {"share": total / len(counts), "bins": bins}


def family_coverage(ax, curves: dict[str, tuple[np.ndarray, dict]], *, labels: dict[str, str]) -> None:
    """Coverage against inference FLOPs per problem for each model of the family: ``curves``
    maps a model's name to (FLOPs per problem at each k, its coverage curve with a band)."""
    for name, (flops, curve) in curves.items():
        band(ax, flops, curve, label=labels.get(name, name), color=color(name))
    accuracy_axes(ax, "inference FLOPs per problem (log scale)", "problems solved by some sample", log=10)
    ax.legend(loc="upper left", fontsize="small")
