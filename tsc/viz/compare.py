"""Comparisons with their uncertainty: paired differences as a forest of intervals, and bars
of success rates with intervals. Used by several chapters (5, 6)."""

from __future__ import annotations

import numpy as np

from tsc.analysis import bootstrap
from tsc.viz import percent_axis


def forest(ax, rows: list[tuple[str, np.ndarray, str]], *, xlabel: str) -> list[tuple[float, float, float]]:
    """One row per comparison: the mean of ``values`` (per-problem differences, in points)
    with its 95 % bootstrap interval, a line at zero. ``rows`` holds (label, values, colour);
    returns each row's (mean, low, high)."""
    stats = []
    for i, (_, values, colour) in enumerate(rows):
        mean, low, high = (100 * v for v in bootstrap(values))
        stats.append((mean, low, high))
        ax.errorbar([mean], [i], xerr=[[mean - low], [high - mean]], color=colour, marker="o", capsize=3)
    ax.axvline(0, color="0.4", linewidth=1)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([label for label, _, _ in rows], fontsize="small")
    ax.invert_yaxis()
    ax.set_xlabel(xlabel)
    ax.grid(axis="y", alpha=0)
    return stats


def bars(ax, labels: list[str], values: list[np.ndarray], colours: list[str], *, notes: list[str] | None = None) -> None:
    """Bars of the mean of each array of per-problem 0/1 outcomes with 95 % bootstrap
    intervals; ``notes`` are written above the bars (e.g. their FLOPs)."""
    stats = np.array([bootstrap(v) for v in values])
    mean, low, high = stats.T
    ax.bar(range(len(labels)), mean, yerr=[mean - low, high - mean], capsize=4, color=colours)
    for i, note in enumerate(notes or []):
        ax.annotate(note, (i, high[i]), textcoords="offset points", xytext=(0, 4), ha="center", fontsize="small")
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels([label.replace(", ", ",\n") for label in labels], fontsize="small")
    percent_axis(ax)
