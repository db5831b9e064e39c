"""Figures in one house style: curves with shaded intervals, log axes for compute.

Every helper takes an ``ax`` and draws on it, so a chapter composes figures with ordinary
matplotlib and keeps one idea per figure. Colours come from one table for the whole book
(`tsc.viz.colors.color`: a strategy, verifier or model has the same colour in every chapter);
the chapters' longer figures live in modules of their own (`tsc.viz.ch01`, `ch05`, `ch06`).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

PALETTE = ["#1f5aa6", "#d1495b", "#2e933c", "#edae49", "#66458f", "#00798c"]


def use_style() -> None:
    """The book's matplotlib style (call once per chapter)."""
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 3.8),
            "figure.dpi": 110,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": plt.cycler(color=PALETTE),
            "legend.frameon": False,
            "font.size": 10,
        }
    )


def band(ax, x: Sequence[float], curve: dict, *, label: str, color: str | None = None, marker: str = "o", linestyle: str = "-") -> None:
    """A curve ``curve["mean"]`` with its interval ``curve["low"]..curve["high"]`` shaded."""
    x = np.asarray(x, dtype=float)
    line = ax.plot(x, curve["mean"], marker=marker, markersize=3.5, label=label, color=color, linestyle=linestyle)[0]
    ax.fill_between(x, curve["low"], curve["high"], color=line.get_color(), alpha=0.18, linewidth=0)


def percent_axis(ax, axis: str = "y") -> None:
    """Format an axis holding fractions as percentages from 0 to 100 %."""
    from matplotlib.ticker import PercentFormatter

    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))
    (ax.set_ylim if axis == "y" else ax.set_xlim)(0, 1.02)


def accuracy_axes(ax, xlabel: str | None = None, ylabel: str | None = "problems solved", *, log: int = 0) -> None:
    """The book's axes for a share solved against a cost: the y axis in percent, the labels
    (None: leave that one as it is) and, when ``log`` is a base (10, 2), a log x axis."""
    if log:
        ax.set_xscale("log", base=log)
    if xlabel is not None:
        ax.set_xlabel(xlabel)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    percent_axis(ax)


def log2_samples_axis(ax, ks: Sequence[int], label: str = "samples per problem, k (log scale)") -> None:
    """A log-2 x axis with a tick at every power of two in ``ks``."""
    ax.set_xscale("log", base=2)
    ax.set_xticks(list(ks))
    ax.set_xticklabels([str(k) for k in ks])
    ax.set_xlabel(label)
