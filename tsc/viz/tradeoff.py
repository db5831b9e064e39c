"""Chapter 4's figures: the family on one FLOPs axis, iso-accuracy, deployment, allocation.

Each function draws one idea on the axes it is given (or on a new figure) from the stored
results (`tsc.experiments.ch04`) through `tsc.tradeoff`, so a chapter cell stays a few lines.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

import tsc.tradeoff as tt
from tsc.viz import PALETTE, accuracy_axes, band

SIZE_COLOURS = {"countdown-xs": PALETTE[3], "countdown-s": PALETTE[2], "countdown-m": PALETTE[1], "countdown": PALETTE[0]}
STEP_STYLES = {500: ":", 1000: "--", 1125: "-"}


def _colour(row: dict) -> str:
    return SIZE_COLOURS.get(row["size"], "0.4")


def label(row: dict) -> str:
    """``countdown-s, step 500`` style names for legends."""
    return row["name"] if row["step"] == 1125 else f"{row['size']} @ {row['step']}"


def training_axis(ax, grid: dict, *, ks: Sequence[int] = (1, 16, 256), how: str = "oracle", seed: int = 0) -> None:
    """Accuracy against training FLOPs for each checkpoint, one line per test budget k
    (samples per problem), with bootstrap intervals; marker colour = model size."""
    train = np.array([row["train_flops"] for row in grid["checkpoints"]])
    order = np.argsort(train)
    for j, k in enumerate(ks):
        stats = [tt.curve(tt.per_problem(row, [k], grid["samples"], how, measured=grid["ks"]), seed=seed) for row in grid["checkpoints"]]
        mean = np.array([s["mean"][0] for s in stats])[order]
        low = np.array([s["low"][0] for s in stats])[order]
        high = np.array([s["high"][0] for s in stats])[order]
        grey = str(0.15 + 0.25 * j)
        ax.plot(train[order], mean, color=grey, linewidth=1, zorder=1, label=f"k = {k} sample{'s' if k > 1 else ''} per problem")
        ax.fill_between(train[order], low, high, color=grey, alpha=0.12, linewidth=0)
        colours = [_colour(grid["checkpoints"][i]) for i in order]
        ax.scatter(train[order], mean, color=colours, s=22, zorder=2)
    accuracy_axes(
        ax, "training FLOPs (log scale)", "problems solved (oracle picks)" if how == "oracle" else "problems solved (majority vote)", log=10
    )
    for name, colour in SIZE_COLOURS.items():
        ax.scatter([], [], color=colour, s=22, label=name)
    ax.legend(loc="upper left", fontsize=8, ncol=2)


def budget_curves(ax, grid: dict, *, how: str = "oracle", bands_for: Sequence[str] = (), seed: int = 0) -> None:
    """Accuracy against test-time FLOPs per problem (k = 1, 2, 4, ... samples) for every
    checkpoint: colour = size, line style = training step (dotted 500, dashed 1,000, solid
    1,125); the final checkpoints carry 95 % bootstrap bands."""
    ks = grid["ks"]
    for row in grid["checkpoints"]:
        values = tt.per_problem(row, ks, grid["samples"], how, measured=ks)
        flops = tt.sample_flops(row, ks)
        style = STEP_STYLES.get(row["step"], "-")
        if row["step"] == 1125 or row["name"] in bands_for:
            band(ax, flops, tt.curve(values, seed=seed), label=label(row), color=_colour(row), linestyle=style, marker="o")
        else:
            ax.plot(flops, values.mean(axis=0), color=_colour(row), linestyle=style, linewidth=1, label=label(row))
    accuracy_axes(ax, "test-time FLOPs per problem (log scale)", ylabel=None, log=10)


def iso_accuracy_plot(ax, grid: dict, levels: Sequence[float], *, how: str = "oracle") -> dict:
    """For each accuracy level, the test-time FLOPs per problem each checkpoint needs (dots)
    against its training FLOPs, and the frontier (line): the checkpoints no other beats on
    both axes. Returns {level: test FLOPs per checkpoint}."""
    train = np.array([row["train_flops"] for row in grid["checkpoints"]])
    prepared = tt.prepare(grid, how)
    out = {}
    for j, level in enumerate(levels):
        test = tt.iso_accuracy(grid, level, prepared=prepared)
        out[level] = test
        colour = PALETTE[j % len(PALETTE)]
        ok = np.isfinite(test)
        ax.scatter(train[ok], test[ok], color=colour, s=16, alpha=0.55)
        keep = tt.frontier(train, test)
        if len(keep):
            ax.plot(train[keep], test[keep], color=colour, marker="o", markersize=4, label=f"{level:.0%} solved")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.set_xlabel("training FLOPs (log scale)")
    ax.set_ylabel("test-time FLOPs per problem (log scale)")
    ax.legend(loc="upper right", fontsize=8)
    return out


def exchange_plot(ax, rates: dict[str, list[dict]], *, jones: float | None = 15.0) -> None:
    """Exchange rates (`tsc.tradeoff.pair_exchange`) against the accuracy level, one series per
    pair of checkpoints or group of problems, with bootstrap intervals (an interval that
    reaches infinity is drawn to the top of the axes). A level the less-trained model does not
    reach within the grid is a triangle at the top: the rate is unbounded by what was measured.
    Dotted: 1×, where 10× the training saves nothing at test time; dashed: Jones's 15×."""
    top = 1e3
    for j, (name, series) in enumerate(rates.items()):
        colour = PALETTE[j % len(PALETTE)]
        offset = (j - (len(rates) - 1) / 2) * 0.008
        x = np.array([r["level"] for r in series]) + offset
        y = np.array([r["rate"] for r in series])
        low = np.array([r["low"] for r in series])
        high = np.minimum(np.array([r["high"] for r in series]), top)
        finite = np.isfinite(y)
        ax.errorbar(x[finite], y[finite], yerr=[y[finite] - low[finite], high[finite] - y[finite]], marker="o", markersize=4,
                    capsize=3, color=colour, label=name)  # fmt: skip
        censored = np.array([r["censored"] for r in series])
        ax.scatter(x[censored], np.full(censored.sum(), top * 0.6), marker="^", s=36, color=colour, zorder=3)
    ax.axhline(1, color="0.4", linestyle=":", linewidth=1)
    if jones:
        ax.axhline(jones, color="0.4", linestyle="--", linewidth=1)
        ax.annotate("Jones (2021): ~15×", (ax.get_xlim()[0], jones), textcoords="offset points", xytext=(4, 3), fontsize=8, color="0.3")
    ax.set_yscale("log")
    ax.set_ylim(top=top)
    ax.set_xlabel("accuracy to reach (problems solved, an oracle picks)")
    ax.set_ylabel("test FLOPs replacing 10× training (×)")
    from matplotlib.ticker import PercentFormatter

    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize=8, loc="center right")


def deployment_plot(ax, rows: Sequence[dict], per_query: Sequence[float], *, queries: np.ndarray) -> list:
    """The cost of a deployment per query served, training included, (training + queries ×
    FLOPs per query) / queries, against the number of queries, for each checkpoint that can
    reach the target (colour = size, line style = training step); the cheapest at each volume
    in grey, the break-even volumes dotted. Returns the envelope [(index, from volume)]."""
    train = np.array([row["train_flops"] for row in rows])
    per_query = np.asarray(per_query, dtype=float)
    for i, row in enumerate(rows):
        if np.isfinite(per_query[i]):
            style = STEP_STYLES.get(row["step"], "-")
            ax.plot(queries, train[i] / queries + per_query[i], linewidth=1.2, color=_colour(row), linestyle=style, label=label(row))
    envelope = tt.deployment_envelope(train, per_query)
    best = np.min([train[i] / queries + per_query[i] for i, _ in envelope], axis=0)
    ax.plot(queries, best, color="black", linewidth=5, alpha=0.15, label="cheapest", zorder=0)
    for _, start in envelope[1:]:
        ax.axvline(start, color="0.3", linestyle=":", linewidth=1)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("queries served (log scale)")
    ax.set_ylabel("FLOPs per query, training included (log scale)")
    ax.legend(fontsize=7, loc="upper right")
    return envelope


def allocation_plot(ax, curves: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]], points: dict | None = None) -> None:
    """Accuracy on held-out problems against mean FLOPs per problem: one curve per method
    (flops, accuracy, low, high), plus single strategies as labelled points."""
    for j, (name, (flops, acc, low, high)) in enumerate(curves.items()):
        order = np.argsort(flops)
        band(ax, np.asarray(flops)[order], {"mean": np.asarray(acc)[order], "low": np.asarray(low)[order], "high": np.asarray(high)[order]},
             label=name, color=PALETTE[j % len(PALETTE)], marker=".")  # fmt: skip
    for name, (flops, acc) in (points or {}).items():
        ax.scatter([flops], [acc], color="black", marker="x", s=30, zorder=3)
        ax.annotate(name, (flops, acc), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xscale("log")
    ax.set_xlabel("mean FLOPs per problem (log scale)")
    ax.set_ylabel("held-out problems solved")
    ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize=8, loc="lower right")


FAMILIES = {"best_of_n": PALETTE[0], "self_refine": PALETTE[1], "beam": PALETTE[2], "weighted_vote": PALETTE[4], "dvts": PALETTE[5]}


def per_bin_plot(axes, arrays: dict, bins: np.ndarray, labels: Sequence[str], candidates: dict) -> None:
    """One panel per difficulty bin: accuracy against mean FLOPs per problem of every candidate
    on the problems of that bin, a line per strategy (its budgets in order), greedy as a star."""
    names = arrays["names"]
    for b, ax in enumerate(axes):
        inside = np.asarray(bins) == b
        acc = arrays["correct"][:, inside].mean(axis=1)
        flops = arrays["flops"][:, inside].mean(axis=1)
        for family, colour in FAMILIES.items():
            members = [i for i, n in enumerate(names) if candidates.get(n, {}).get("strategy") == family]
            if members:
                order = sorted(members, key=lambda i: flops[i])
                ax.plot(flops[order], acc[order], marker="o", markersize=3, color=colour, label=family.replace("_", " "))
        for i, n in enumerate(names):
            if n in ("greedy", "stop"):
                ax.scatter([flops[i]], [acc[i]], marker="*", s=60, color="black", zorder=3, label="greedy")
        ax.set_xscale("log")
        ax.set_title(f"{labels[b]}\n({int(inside.sum())} problems)", fontsize=9)
        ax.yaxis.set_major_formatter(plt.matplotlib.ticker.PercentFormatter(1.0, decimals=0))
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("FLOPs per problem")
    axes[0].set_ylabel("problems solved")
    axes[-1].legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))


def deployment_explorer(grid: dict, *, start: float = 0.3, how: str = "oracle", queries: np.ndarray | None = None):
    """A slider over the target accuracy (``how``: an oracle picks, or the majority vote): the
    total FLOPs of every checkpoint that reaches it against the number of queries, and which
    is cheapest from when. Returns the widget; display it as the last expression of a cell."""
    import ipywidgets as widgets

    queries = np.geomspace(1e2, 1e9, 300) if queries is None else queries
    rows = grid["checkpoints"]
    prepared = {h: tt.prepare(grid, h) for h in ("oracle", "majority")}

    def draw(target: float, selection: str) -> None:
        per_query = tt.iso_accuracy(grid, target, prepared=prepared[selection], floor=True)
        fig, ax = plt.subplots(figsize=(6.4, 3.8))
        if not np.isfinite(per_query).any():
            ax.text(0.5, 0.5, f"no checkpoint reaches {target:.0%} within {grid['ks'][-1]} samples", ha="center", transform=ax.transAxes)
            plt.show()
            return
        envelope = deployment_plot(ax, rows, per_query, queries=queries)
        ax.set_title(
            f"target: {target:.0%} of problems solved ({'an oracle picks' if selection == 'oracle' else 'majority vote'})", fontsize=10
        )
        plt.show()
        for i, begin in envelope:
            print(f"from {begin:>14,.0f} queries: {label(rows[i])}, {per_query[i]:.2e} FLOPs per query")

    slider = widgets.FloatSlider(value=start, min=0.1, max=0.9, step=0.05, description="target", readout_format=".0%")
    toggle = widgets.ToggleButtons(options=[("oracle picks", "oracle"), ("majority vote", "majority")], value=how, description="selection")
    return widgets.interactive(draw, target=slider, selection=toggle)


def deployment_twin(grid: dict, *, start: float = 0.3, targets: Sequence[float] | None = None, queries: np.ndarray | None = None):
    """`deployment_explorer` for the static page: for each target accuracy and selection rule,
    the cost per query served, training included, of every checkpoint that reaches it, against
    the number of queries (log axes), and the cheapest in grey."""
    from tsc.viz import interactive as iv

    queries = np.geomspace(1e2, 1e9, 22) if queries is None else queries  # smooth on log axes; the page carries every state
    targets = [round(t, 2) for t in np.arange(0.1, 0.91, 0.05)] if targets is None else list(targets)
    rows = grid["checkpoints"]
    train = np.array([row["train_flops"] for row in rows])
    prepared = {h: tt.prepare(grid, h) for h in ("oracle", "majority")}
    dash = {":": "dot", "--": "dash", "-": "solid", "-.": "dashdot"}

    def draw(target: float, selection: str) -> dict:
        per_query = tt.iso_accuracy(grid, target, prepared=prepared[selection], floor=True)
        reach = [i for i in range(len(rows)) if np.isfinite(per_query[i])]
        how = "an oracle picks" if selection == "oracle" else "majority vote"
        if not reach:
            title = f"no checkpoint reaches {target:.0%} within {grid['ks'][-1]} samples ({how})"
            return {"data": [], "layout": {"title": {"text": title}}}
        traces = []
        envelope = tt.deployment_envelope(train, per_query)
        best = np.min([train[i] / queries + per_query[i] for i, _ in envelope], axis=0)
        traces.append(
            iv.lines(queries, best, name="cheapest", color="rgba(0,0,0,0.18)")
            | {"mode": "lines", "line": {"width": 8, "color": "rgba(0,0,0,0.18)"}}
        )
        for i in reach:
            style = dash[STEP_STYLES.get(rows[i]["step"], "-")]
            colour = matplotlib.colors.to_hex(_colour(rows[i]))
            traces.append(
                iv.lines(queries, train[i] / queries + per_query[i], name=label(rows[i]), color=colour, dash=style) | {"mode": "lines"}
            )
        return {"data": traces, "layout": {"title": {"text": f"target: {target:.0%} of problems solved ({how})"}}}

    return iv.explorer(
        draw,
        iv.Slider("target", targets, start=min(targets, key=lambda t: abs(t - start)), format=lambda t: f"{t:.0%}"),
        iv.Menu("selection", ["oracle", "majority"], format=lambda h: "an oracle picks" if h == "oracle" else "majority vote"),
        layout=iv.axes("queries served (log scale)", "FLOPs per query, training included (log scale)", x_log=True)
        | {"yaxis": {"type": "log", "title": {"text": "FLOPs per query, training included (log scale)"}}, "height": 380},
        height=380,
        caption="Each line: a checkpoint that reaches the target (colour: size; dotted, dashed, solid: training step 500, "
        "1000, 1125); grey: the cheapest at each volume.",
    )
