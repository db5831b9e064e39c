"""Chapter 9's figures of the thinker: its accuracy against compute beside fixed strategies,
and where its compute goes."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsc.analysis import bootstrap
from tsc.viz import accuracy_axes
from tsc.viz.colors import color


def thinker_curve(ax, data: dict, *, fixed: Sequence[dict] = (), rows: slice | None = None) -> None:
    """Held-out accuracy against mean FLOPs per problem: the fitted thinker at every budget
    (replayed on the recorded problems, 95 % bootstrap band), the live runs at the chapter's
    budget (thinker, compute_optimal, beam 4x2) with intervals, and ``fixed`` strategies
    (map rows: ``name``, ``strategy``, ``correct``, ``flops``) as thin dashed lines, one per
    strategy through its budgets (their intervals are as wide as the thinker's band). ``rows`` restricts
    the problems (e.g. to those the map also ran)."""
    rows = rows or slice(None)
    test = data["test"]
    curve = [(np.mean(r["each_flops"][rows]), *bootstrap(np.array(r["correct"][rows], dtype=float))) for r in test["replayed"]]
    x, mean, low, high = (np.array(v) for v in zip(*curve))
    ax.plot(x, mean, color=color("thinker"), marker="o", markersize=3, label="thinker, fitted at each budget")
    ax.fill_between(x, low, high, color=color("thinker"), alpha=0.15, linewidth=0)
    shown = list(low) + list(high)
    by_strategy: dict[str, list] = {}
    for row in fixed:  # each fixed strategy as one thin line through its budgets
        by_strategy.setdefault(row["strategy"], []).append((np.mean(row["flops"]), np.mean(row["correct"])))
    for strategy, points in by_strategy.items():
        fx, fy = zip(*sorted(points))
        shown += fy
        ax.plot(fx, fy, color=color(strategy), marker="s", markersize=3.5, linewidth=0.9, linestyle="--", label=strategy)
    for name, key, marker in (("thinker (live)", "thinker", "*"), ("compute_optimal", "compute_optimal", "D"), ("beam 4x2", "beam", "^")):
        run = test["live"][name.split(" (")[0]]
        m, lo, hi = bootstrap(np.array(run["correct"][rows], dtype=float))
        f = np.mean(run["flops"][rows])
        ax.errorbar(
            [f],
            [m],
            yerr=[[m - lo], [hi - m]],
            color=color(key),
            marker=marker,
            markersize=9 if marker == "*" else 6,
            capsize=3,
            label=name,
        )
    ax.axvline(data["budget"], color="0.5", linestyle=":", linewidth=1)
    accuracy_axes(ax, "mean FLOPs per problem", "held-out problems solved", log=10)
    ax.set_ylim(max(0.0, min(shown) - 0.05), min(1.0, max(shown) + 0.08))
    ax.legend(fontsize="x-small", loc="lower right", ncol=2)


def compute_by_bin(ax, data: dict) -> list[dict]:
    """For the live thinker at the chapter's budget: per difficulty bin, the mean FLOPs spent
    (bars, with 95 % bootstrap intervals) and the share solved (written above). Returns the
    bars' numbers."""
    live = data["test"]["live"]["thinker"]
    labels = data["table"]["bins"]
    bins = np.array(live["bin"])
    flops = np.array(live["flops"], dtype=float)
    correct = np.array(live["correct"], dtype=float)
    sizes = np.array(data["test"]["sizes"])
    stats = []
    for b, label in enumerate(labels):
        inside = bins == b
        if not inside.any():
            continue
        mean, low, high = bootstrap(flops[inside])
        stats.append({"bin": b, "label": label, "count": int(inside.sum()), "flops": mean, "low": low, "high": high,
                      "solved": float(correct[inside].mean()), "size": int(np.bincount(sizes[inside]).argmax())})  # fmt: skip
    xs = np.arange(len(stats))
    ax.bar(xs, [s["flops"] for s in stats], yerr=[[s["flops"] - s["low"] for s in stats], [s["high"] - s["flops"] for s in stats]],
           color=[color(s["size"]) for s in stats], capsize=3)  # fmt: skip
    for x, s in zip(xs, stats):
        ax.annotate(f"{100 * s['solved']:.0f}%\n(n={s['count']})", (x, s["high"]), textcoords="offset points", xytext=(0, 3),
                    ha="center", fontsize="x-small")  # fmt: skip
    ax.set_xticks(xs)
    ax.set_xticklabels([s["label"].replace("numbers, ", "numbers,\n") for s in stats], fontsize="x-small", rotation=30, ha="right")
    ax.axhline(data["budget"], color="0.5", linestyle=":", linewidth=1)
    ax.set_ylabel("mean FLOPs per problem")
    return stats
