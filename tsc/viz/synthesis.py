"""Chapter 9's figures: the map of every strategy on one FLOPs axis, and one figure for each
lesson (selection, sequential against parallel thinking, what thinking cannot supply)."""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from tsc.viz import PALETTE, accuracy_axes, band, log2_samples_axis
from tsc.viz.colors import MODEL_COLORS, SIZE_COLORS, color

# one marker per family of strategy, so the map reads by family as well as by strategy
MARKERS = {"single": "s", "parallel": "o", "sequential": "^", "search": "D", "thinking": "v", "adaptive": "*"}


def _color(strategy: str) -> str:
    try:
        return color(strategy)
    except ValueError:  # a strategy without a colour of its own is drawn in the first palette colour
        return PALETTE[0]


COSTS = {
    "flops": "mean FLOPs per problem (log scale)",
    "dollars": "mean dollars per problem at o3-mini's list price (log scale)",
    "seconds": "mean seconds per problem, one CPU thread (log scale)",
}


def strategy_map(
    ax, points: Sequence[dict], front: Sequence[int], *, title: str = "", label: bool = True, cost: str = "flops",
    second: Sequence[int] = (),
):  # fmt: skip
    """Accuracy (95 % Wilson intervals) against the mean ``cost`` per problem (a key of
    `COSTS`), one point per row of the map: colour by strategy, marker by family; the Pareto
    front on that cost joined by a step line, its points named; ``second``, another front
    (e.g. without one kind of verifier), dashed, its points named too."""
    if cost not in COSTS:
        raise ValueError(f"cost must be one of {', '.join(COSTS)}; got {cost!r}")
    named = list(front) + [i for i in second if i not in front]
    place = {i: k for k, i in enumerate(sorted(named, key=lambda i: points[i][cost]))}  # labels alternate above and below
    for i, p in enumerate(points):
        on = i in named
        ax.errorbar(
            p[cost], p["accuracy"], yerr=[[p["accuracy"] - p["low"]], [p["high"] - p["accuracy"]]],
            fmt=MARKERS[p["family"]], color=_color(p["strategy"]), alpha=1.0 if on else 0.45,
            markersize=7 if on else 5, capsize=2, markeredgecolor="black" if on else "none",
        )  # fmt: skip
        if on and label:
            above = place[i] % 2 == 0
            ax.annotate(
                p["name"], (p[cost], p["accuracy"]), textcoords="offset points", xytext=(-6, 9) if above else (6, -12),
                ha="right" if above else "left", fontsize="x-small",
            )  # fmt: skip
    xs = [points[i][cost] for i in front]
    ys = [points[i]["accuracy"] for i in front]
    ax.step(xs, ys, where="post", color="black", linewidth=1, alpha=0.6)
    if len(second):
        xs, ys = [points[i][cost] for i in second], [points[i]["accuracy"] for i in second]
        ax.step(xs, ys, where="post", color="black", linewidth=1, alpha=0.5, linestyle="--")
    accuracy_axes(ax, COSTS[cost], log=10)
    ax.margins(x=0.12)
    if title:
        ax.set_title(title)
    return ax


def family_legend(ax, families: Sequence[str]) -> None:
    """A legend of the markers (families), in grey."""
    handles = [plt.Line2D([], [], marker=MARKERS[f], linestyle="", color="grey", label=f) for f in families]
    ax.legend(handles=handles, loc="lower right", fontsize="small", title="family", title_fontsize="small")


def selection(ax, gap: dict, *, title: str = ""):
    """Coverage (the oracle picks) and majority voting against samples per problem, with 95 %
    bootstrap bands: the distance between them is the selection gap."""
    ks = gap["ks"]
    band(ax, ks, gap["coverage"], label="coverage (an oracle picks)", color=color("oracle"), linestyle=":")
    band(ax, ks, gap["majority"], label="majority vote", color=color("majority"))
    ax.axhline(gap["greedy"], color=color("greedy"), linewidth=1, linestyle="--", label="greedy")
    log2_samples_axis(ax, ks)
    accuracy_axes(ax)
    if title:
        ax.set_title(title)
    return ax


def sequential_parallel(ax, evidence: dict):
    """Accuracy against mean generated tokens per problem: one long search trace under budget
    forcing (Wilson intervals) against many short samples (coverage and majority vote, bootstrap
    bands)."""
    seq = evidence["sequential"]
    ax.errorbar(
        [s["tokens"] for s in seq], [s["accuracy"] for s in seq],
        yerr=[[s["accuracy"] - s["low"] for s in seq], [s["high"] - s["accuracy"] for s in seq]],
        marker="^", color=color("budget_forcing"), capsize=2, label="one long trace (budget forcing)",
    )  # fmt: skip
    band(ax, evidence["tokens"], evidence["coverage"], label="short samples: coverage", color=color("oracle"), linestyle=":")
    band(ax, evidence["tokens"], evidence["majority"], label="short samples: majority vote", color=color("majority"))
    accuracy_axes(ax, "mean generated tokens per problem (log scale)", "3-number problems solved", log=10)
    ax.legend(fontsize="small")
    return ax


def knowledge(ax, evidence: dict, *, size: int):
    """Coverage@k on problems of one size for each fully trained model of the family (95 %
    bootstrap bands): where a curve flattens below 100 %, more samples stop helping."""
    ks = evidence["ks"]
    for name, model in evidence["models"].items():
        band(ax, ks, model["by_size"][size]["coverage"], label=f"{name} ({model['params'] / 1e6:.2f} M)", color=MODEL_COLORS.get(name))
    log2_samples_axis(ax, ks)
    accuracy_axes(ax, ylabel=f"{size}-number problems solved by some sample")
    ax.legend(fontsize="small", loc="upper left")
    return ax


def allocation(ax, rows: Sequence[dict]):
    """Per problem size: greedy's accuracy and the accuracy of the strategy a compute-optimal
    plan chose there (95 % Wilson intervals), the choice and its mean FLOPs written above."""
    x = np.arange(len(rows))
    ax.bar(
        x - 0.2, [r["greedy"] for r in rows], width=0.4, color=color("greedy"), label="greedy",
        yerr=[[r["greedy"] - r["greedy_low"] for r in rows], [r["greedy_high"] - r["greedy"] for r in rows]], capsize=3,
    )  # fmt: skip
    ax.bar(
        x + 0.2, [r["accuracy"] for r in rows], width=0.4, color=[SIZE_COLORS.get(r["size"], PALETTE[0]) for r in rows],
        yerr=[[r["accuracy"] - r["low"] for r in rows], [r["high"] - r["accuracy"] for r in rows]], capsize=3,
        label="the plan's choice",
    )  # fmt: skip
    for i, r in enumerate(rows):
        ax.annotate(
            f"{r['choice']}\n{r['flops']:.1e} FLOPs",
            (i + 0.2, r["high"]),
            textcoords="offset points",
            xytext=(0, 4),
            ha="center",
            fontsize="x-small",
        )
    ax.set_xticks(x, [f"{r['size']} numbers" for r in rows])
    accuracy_axes(ax, ylabel="held-out problems solved")
    ax.legend(fontsize="small", loc="upper right")
    return ax


def budget_explorer(points: dict[str, Sequence[dict]], *, start: float = 7e8):
    """A slider over the mean FLOPs budget per problem: for each task of the map, the most
    accurate strategy at no more than that budget, fixed and overall, with 95 % intervals
    (Jupyter and Colab; the static page shows the default budget)."""
    from tsc.synthesis import best_fixed
    from tsc.viz.widgets import printed_slider

    flops = [p["flops"] for pts in points.values() for p in pts]
    budgets = [float(b) for b in np.geomspace(min(flops), max(flops), 25)]

    def show(budget: float) -> None:
        for task, pts in points.items():
            fits = [p for p in pts if p["flops"] <= budget]
            if not fits:
                print(f"{task}: nothing spends that little")
                continue
            best = max(fits, key=lambda p: (p["accuracy"], -p["flops"]))
            line = f"{task}: best {best['name']} ({best['family']}) {best['accuracy']:.1%} ({best['low']:.1%} to {best['high']:.1%})"
            if best["family"] == "adaptive":
                fixed = pts[best_fixed(pts, budget)]
                line += f"; best fixed {fixed['name']} {fixed['accuracy']:.1%}"
            print(line)

    value = min(budgets, key=lambda b: abs(np.log(b / start)))
    return printed_slider([(f"{b:.1e}", b) for b in budgets], value, "FLOPs", show)


def budget_twin(points: dict[str, Sequence[dict]], *, start: float = 7e8, count: int = 25):
    """`budget_explorer` for the static page: for each task of the map and each FLOPs budget,
    every strategy as a point (accuracy against mean FLOPs per problem, 95 % intervals), the
    budget as a line, and the most accurate strategy at no more than it ringed and named."""
    from tsc.synthesis import best_fixed
    from tsc.viz import interactive as iv

    flops = [p["flops"] for pts in points.values() for p in pts]
    budgets = [float(f"{b:.3g}") for b in np.geomspace(min(flops), max(flops), count)]
    families = sorted({p["family"] for pts in points.values() for p in pts})
    symbols = {"s": "square", "o": "circle", "^": "triangle-up", "D": "diamond", "*": "star"}

    def draw(task: str, budget: float) -> dict:
        pts = points[task]
        traces = []
        for family in families:
            mine = [p for p in pts if p["family"] == family]
            if mine:
                trace = iv.lines([p["flops"] for p in mine], [p["accuracy"] for p in mine], name=family, color="#8a8a8a",
                                 low=[p["low"] for p in mine], high=[p["high"] for p in mine])  # fmt: skip
                symbol = symbols.get(MARKERS.get(family, "o"), "circle")
                traces.append(trace | {"mode": "markers", "marker": {"symbol": symbol, "size": 8, "color": "#8a8a8a"},
                                       "hovertext": [p["name"] for p in mine]})  # fmt: skip
        fits = [p for p in pts if p["flops"] <= budget]
        title = f"{task}: nothing spends {budget:.1e} FLOPs or less"
        if fits:
            best = max(fits, key=lambda p: (p["accuracy"], -p["flops"]))
            title = f"{task}: best at ≤ {budget:.1e} FLOPs: {best['name']}, {best['accuracy']:.1%}"
            if best["family"] == "adaptive":
                fixed = pts[best_fixed(pts, budget)]
                title += f" (best fixed: {fixed['name']}, {fixed['accuracy']:.1%})"
            traces.append({"type": "scatter", "mode": "markers+text", "x": [best["flops"]], "y": [best["accuracy"]],
                           "text": [best["name"]], "textposition": "top center", "name": "most accurate within the budget",
                           "marker": {"size": 16, "color": "rgba(0,0,0,0)", "line": {"color": PALETTE[1], "width": 2.5}}})  # fmt: skip
        shapes = [{"type": "line", "xref": "x", "yref": "paper", "x0": budget, "x1": budget, "y0": 0, "y1": 1,
                   "line": {"color": PALETTE[1], "dash": "dot", "width": 1.5}}]  # fmt: skip
        return {"data": traces, "layout": {"title": {"text": title, "font": {"size": 12}}, "shapes": shapes}}

    value = min(budgets, key=lambda b: abs(np.log(b / start)))
    return iv.explorer(
        draw,
        iv.Menu("task", list(points)),
        iv.Slider("FLOPs budget per problem", budgets, start=value, format=lambda b: f"{b:.1e}"),
        layout=iv.axes("mean FLOPs per problem (log scale)", "held-out problems solved", percent=True, x_log=True),
        height=380,
        caption="Every strategy of the map (marker: family; bars: 95% intervals); the dotted line is the budget, the "
        "ringed point the most accurate strategy that spends no more.",
    )
