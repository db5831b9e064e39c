"""Chapter 3's figures of the trace model's long reasoning: how long it thinks and when it
is right, where its uncertainty sits along a trace, and what several traces buy against one
at matched tokens and latency."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsc.viz import accuracy_axes, band, percent_axis
from tsc.viz.colors import color

ENDING_COLORS = {"right": "#2e933c", "wrong answer": "#d1495b", "gave up": "#edae49", "cut off": "#66458f"}


def lengths_by_ending(ax, tokens: np.ndarray, endings: np.ndarray, *, bins: Sequence[float]) -> None:
    """A stacked histogram of trace lengths (tokens), one colour per way a trace ended."""
    shown = [e for e in ENDING_COLORS if np.any(endings == e)]
    ax.hist(
        [tokens[endings == e] for e in shown],
        bins=bins,
        stacked=True,
        color=[ENDING_COLORS[e] for e in shown],
        label=[f"{e} ({np.sum(endings == e):,})" for e in shown],
    )
    ax.set_yscale("log")
    ax.set_xlabel("tokens in the trace")
    ax.set_ylabel("traces (log scale)")
    ax.legend(fontsize=8)


def accuracy_by_length(ax, curve: dict) -> None:
    """Accuracy of the traces in each bin of length, with its interval; each bin at its middle."""
    edges = np.asarray(curve["edges"], dtype=float)
    middle = (edges[:-1] + edges[1:]) / 2
    keep = curve["count"] > 0
    band(ax, middle[keep], {k: np.asarray(curve[k])[keep] for k in ("mean", "low", "high")}, label="traces of this length", color="#1f5aa6")
    accuracy_axes(ax, "tokens in the trace", "traces right")


def entropy_along(ax, text: str, bits: np.ndarray, *, fork_bits: float) -> None:
    """The entropy (bits) of each token's distribution along one trace, forks (above
    ``fork_bits``) marked with the character the model wrote there."""
    bits = np.asarray(bits, dtype=float)
    ax.plot(np.arange(len(bits)), bits, color="0.35", linewidth=0.8)
    ax.axhline(fork_bits, color="0.6", linestyle=":", linewidth=0.8)
    for j in np.flatnonzero(bits > fork_bits):
        ax.plot(j, bits[j], "o", color="#d1495b", markersize=4)
        shown = text[j] if j < len(text) else "."
        ax.annotate(repr(shown)[1:-1], (j, bits[j]), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7)
    ax.set_xlabel("position in the trace (tokens)")
    ax.set_ylabel("entropy (bits)")


def kinds_bars(ax, kinds: dict) -> None:
    """For each kind of position: its share of all positions and its share of the forks."""
    names = list(kinds)
    positions = np.array([kinds[k]["positions"] for k in names], dtype=float)
    forks = np.array([kinds[k]["forks"] for k in names], dtype=float)
    x = np.arange(len(names))
    ax.bar(x - 0.2, positions / positions.sum(), width=0.4, color="0.7", label="share of positions")
    ax.bar(x + 0.2, forks / max(forks.sum(), 1), width=0.4, color="#d1495b", label="share of forks")
    ax.set_xticks(x, names, rotation=20)
    percent_axis(ax)
    ax.legend(fontsize=8)


def matched_compute(ax, curves: dict, *, x: str, xlabel: str) -> None:
    """Accuracy against ``x`` (mean tokens or decoding steps per problem) for each curve
    (``curves[label]`` holds ``x``, ``mean``, ``low``, ``high``, ``labels`` (what each point
    is) and ``style``: a strategy name for its colour)."""
    for label, curve in curves.items():
        order = np.argsort(curve[x])
        line = {k: np.asarray(curve[k])[order] for k in ("mean", "low", "high")}
        band(ax, np.asarray(curve[x])[order], line, label=label, color=color(curve["style"]), linestyle=curve.get("linestyle", "-"))
        for xi, yi, text in zip(np.asarray(curve[x])[order], line["mean"], np.asarray(curve["labels"])[order]):
            ax.annotate(
                str(text), (xi, yi), textcoords="offset points", xytext=(0, -10), ha="center", fontsize=6, color=color(curve["style"])
            )
    accuracy_axes(ax, xlabel, ylabel=None, log=10)
