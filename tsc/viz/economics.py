"""Chapter 7's figures: latency against throughput, the cost frontier, many cheap samples
against one expensive one, early stopping, and who carries the risk of a long think.

Each function draws on an ``ax`` it is given (or a new figure) and returns the axes, so the
chapter's cells stay short and the figures share the book's style (`tsc.viz.use_style`).
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from tsc.viz import PALETTE, accuracy_axes, band


def _axes(ax):
    return ax if ax is not None else plt.subplots()[1]


def latency_throughput(rows: Sequence, *, ax=None):
    """Tokens per second (the machine's output) against seconds per request (one user's
    wait), one point per batch size, labelled; bars span the timed repeats."""
    ax = _axes(ax)
    wait = np.array([r.seconds_per_request for r in rows])
    rate = np.array([r.tokens_per_second for r in rows])
    low = np.array([min(r.repeat_seconds) for r in rows])
    high = np.array([max(r.repeat_seconds) for r in rows])
    rate_low, rate_high = np.array([r.tokens for r in rows]) / high, np.array([r.tokens for r in rows]) / low
    ax.errorbar(wait, rate, xerr=[wait - low, high - wait], yerr=[rate - rate_low, rate_high - rate], fmt="o-", color=PALETTE[0], capsize=2)
    for r, x, y in zip(rows, wait, rate):
        ax.annotate(f"batch {r.batch:,}", (x, y), textcoords="offset points", xytext=(6, -10), fontsize="small")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("seconds until a request is answered (log scale)")
    ax.set_ylabel("generated tokens per second, all requests (log scale)")
    return ax


def frontier(
    points: Sequence[dict],
    on_frontier: Sequence[int],
    *,
    ax=None,
    label_frontier: bool = True,
    color: str | None = None,
    labels: Sequence[str] = (),
):
    """Accuracy against dollars per problem, one point per configuration with its 95 %
    intervals (``cost``, ``cost_low``, ``cost_high``, ``accuracy``, ``low``, ``high``,
    ``name``); the Pareto frontier joined by a line and its points named, and the points
    named in ``labels`` (those the text discusses) named too, in grey when off the frontier."""
    ax = _axes(ax)
    color = color or PALETTE[0]
    for i, p in enumerate(points):
        front = i in on_frontier
        ax.errorbar(
            p["cost"], p["accuracy"], xerr=[[p["cost"] - p["cost_low"]], [p["cost_high"] - p["cost"]]],
            yerr=[[p["accuracy"] - p["low"]], [p["high"] - p["accuracy"]]], fmt="o" if front else ".",
            color=color if front else "grey", alpha=1.0 if front else 0.6, capsize=2, markersize=5 if front else 4,
        )  # fmt: skip
        if (front and label_frontier) or p["name"] in labels:
            ax.annotate(
                p["name"], (p["cost"], p["accuracy"]), textcoords="offset points", xytext=(5, 3) if front else (5, -9),
                fontsize="x-small", color="black" if front else "dimgrey",
            )  # fmt: skip
    xs = [points[i]["cost"] for i in on_frontier]
    ys = [points[i]["accuracy"] for i in on_frontier]
    ax.step(xs, ys, where="post", color=color, linewidth=1.2, alpha=0.8)
    accuracy_axes(ax, "dollars per problem (log scale)", log=10)
    ax.margins(x=0.15)  # room for the last point's name
    return ax


def cheap_versus_expensive(curves: dict, single: dict, *, ax=None):
    """Problems solved against dollars per problem: for each model a curve over samples k
    (``dollars``, ``mean``, ``low``, ``high``), and the expensive model's single attempt as
    one point with its interval (``dollars``, ``mean``, ``low``, ``high``, ``label``)."""
    ax = _axes(ax)
    for (name, curve), color in zip(curves.items(), PALETTE):
        band(ax, curve["dollars"], curve, label=name, color=color, linestyle=curve.get("linestyle", "-"))
    ax.errorbar(
        [single["dollars"]], [single["mean"]], yerr=[[single["mean"] - single["low"]], [single["high"] - single["mean"]]],
        fmt="*", markersize=12, color="black", capsize=3, label=single["label"],
    )  # fmt: skip
    accuracy_axes(ax, "dollars per problem (log scale)", log=10)
    ax.legend(loc="upper left", fontsize="small")
    return ax


def stopping(curves: dict, reference: dict, *, ax=None, chosen: dict | None = None):
    """Accuracy against generated tokens per question: early stopping as its threshold moves
    (one curve per window, ``tokens``, ``mean``, ``low``, ``high``, ``thresholds``) and
    majority voting over a fixed number of samples k (``reference``), on the same samples;
    ``chosen`` (``tokens``, ``mean``, ``label``) marks the setting chosen on the dev split."""
    ax = _axes(ax)
    if chosen is not None:
        ax.plot([chosen["tokens"]], [chosen["mean"]], marker="*", markersize=14, color="black", linestyle="none", label=chosen["label"],
                zorder=5)  # fmt: skip
    band(ax, reference["tokens"], reference, label=reference.get("label", "majority of k (fixed k)"), color="grey", marker="s")
    for k, tokens, mean in zip(reference["k"], reference["tokens"], reference["mean"]):
        ax.annotate(f"k={k}", (tokens, mean), textcoords="offset points", xytext=(3, -11), fontsize="x-small", color="grey")
    for (name, curve), color in zip(curves.items(), PALETTE):
        band(ax, curve["tokens"], curve, label=name, color=color)
    ax.set_xlabel("generated tokens per question")
    ax.set_ylabel("questions answered correctly")
    ax.yaxis.set_major_formatter(plt.FuncFormatter(lambda y, _: f"{y:.0%}"))
    ax.legend(loc="lower right", fontsize="small")
    return ax


def pricing(simulation: dict, *, ax=None):
    """The provider's daily margin against the share of hard questions, for each pricing
    model, with the 95 % range over simulated days."""
    ax = _axes(ax)
    share = np.asarray(simulation["hard_share"])
    for (name, row), color in zip(simulation["models"].items(), PALETTE):
        curve = {"mean": np.asarray(row["margin"]), "low": np.asarray(row["margin_low"]), "high": np.asarray(row["margin_high"])}
        band(ax, share, curve, label=name, color=color)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.axvline(simulation.get("reference_share", 0.5), color="grey", linestyle=":", linewidth=0.8)
    ax.xaxis.set_major_formatter(plt.FuncFormatter(lambda x, _: f"{x:.0%}"))
    ax.set_xlabel("share of hard questions in a day's traffic")
    ax.set_ylabel("provider's margin per day (dollars)")
    ax.legend(loc="lower left", fontsize="small")
    return ax


def confidence_histogram(confidence: Sequence[float], correct: Sequence[bool], *, ax=None, bins: int = 30):
    """How confident the model was in its right and its wrong samples: the two distributions
    of a sample's confidence (DeepConf's group confidence), each normalised to its own count."""
    ax = _axes(ax)
    confidence, correct = np.asarray(confidence, dtype=float), np.asarray(correct, dtype=bool)
    edges = np.linspace(confidence.min(), confidence.max(), bins + 1)
    for mask, name, color in ((correct, "right samples", PALETTE[0]), (~correct, "wrong samples", PALETTE[1])):
        ax.hist(
            confidence[mask], bins=edges, density=True, histtype="stepfilled", alpha=0.45, color=color, label=f"{name} ({mask.sum():,})"
        )
    ax.set_xlabel("sample's confidence (lowest window mean of its tokens')")
    ax.set_ylabel("density")
    ax.legend(fontsize="small")
    return ax


def price_twin(tasks: dict[str, dict], *, models: Sequence[str] | None = None, start: str = "o3-mini"):
    """The price knob for the static page: each task's strategies priced at each model's list
    price (`tsc.economics.LIST_PRICES`), accuracy against dollars per problem with 95 %
    intervals, the Pareto frontier joined and named."""
    from tsc.analysis import pareto_front
    from tsc.economics import LIST_PRICES, list_price, price_runs
    from tsc.viz import interactive as iv

    models = list(models or [p["model"] for p in LIST_PRICES])
    priced = {(task, model): price_runs(runs, list_price(model)) for task, runs in tasks.items() for model in models}
    dates = {p["model"]: p["date"] for p in LIST_PRICES}

    def draw(task: str, model: str) -> dict:
        pts = priced[task, model]
        on = pareto_front([p["cost"] for p in pts], [p["accuracy"] for p in pts])
        every = iv.lines([p["cost"] for p in pts], [p["accuracy"] for p in pts], name="strategy", color="#9a9a9a",
                         low=[p["low"] for p in pts], high=[p["high"] for p in pts])  # fmt: skip
        every |= {"mode": "markers", "hovertext": [p["name"] for p in pts], "hoverinfo": "text+x+y"}
        front = [pts[i] for i in on]
        line = iv.lines([p["cost"] for p in front], [p["accuracy"] for p in front], name="Pareto frontier", color=PALETTE[0])
        line |= {"mode": "lines+markers+text", "text": [p["name"] for p in front], "textposition": "top left", "textfont": {"size": 10}}
        title = f"{task} at {model}'s list price (listed {dates[model]})"
        return {"data": [every, line], "layout": {"title": {"text": title, "font": {"size": 12}}}}

    return iv.explorer(
        draw,
        iv.Menu("task", list(tasks)),
        iv.Menu("list price of", models, start=start if start in models else None),
        layout=iv.axes("dollars per problem (log scale)", "problems solved", percent=True, x_log=True),
        height=380,
        caption="Every strategy's tokens priced at the chosen model's list price per million input and output tokens; "
        "hover a point for its name. The tokens are ours; only the prices change.",
    )


def stopping_twin(samples, *, windows: Sequence[int] = (1, 2, 4), thresholds: Sequence[float] | None = None,
                  fixed_k: Sequence[int] = (1, 2, 4, 8, 12, 16)):  # fmt: skip
    """The early-stopping knobs for the static page: `early_stop` replayed on ``samples`` at each
    window and threshold, accuracy against generated tokens per question (95 % intervals),
    next to majority voting over a fixed number of samples k on the same questions."""
    from tsc.analysis import bootstrap
    from tsc.economics import THRESHOLDS, replay, replay_early_stop
    from tsc.viz import interactive as iv
    from tsc.viz.colors import color

    thresholds = list(thresholds or THRESHOLDS)
    runs = {(w, t): replay_early_stop(samples, threshold=t, window=w) for w in windows for t in thresholds}
    fixed = [replay(samples, lambda keys, n, k=k: k) for k in fixed_k]

    def summary(outs: list[dict]) -> tuple[list, list, list, list]:
        mean, low, high = bootstrap(np.array([o["correct"] for o in outs], dtype=float).T)
        return [float(o["generated_tokens"].mean()) for o in outs], list(mean), list(low), list(high)

    tokens, mean, low, high = summary(fixed)
    name = "majority of k (k = " + ", ".join(map(str, fixed_k)) + ")"
    vote = iv.lines(tokens, mean, name=name, color=color("majority"), low=low, high=high, dash="dot")
    curves = {w: summary([runs[w, t] for t in thresholds]) for w in windows}
    full = fixed[-1]

    def draw(threshold: float, window: int) -> dict:
        tokens, mean, low, high = curves[window]
        curve = iv.lines(tokens, mean, name=f"early_stop, window {window}", color=color("early_stop"), low=low, high=high)
        j = thresholds.index(threshold)
        point = iv.lines([tokens[j]], [mean[j]], name=f"threshold {threshold:g}", color=color("majority"))
        point |= {"mode": "markers", "marker": {"size": 15, "color": "rgba(0,0,0,0)", "line": {"color": INK, "width": 2.5}}}
        out = runs[window, threshold]
        share = out["generated_tokens"].sum() / full["generated_tokens"].sum()
        title = (f"window {window}, threshold {threshold:g}: {mean[j]:.1%} right, {out['samples'].mean():.1f} samples, "
                 f"{share:.0%} of majority-of-{fixed_k[-1]}'s generated tokens")  # fmt: skip
        return {"data": [vote, curve, point], "layout": {"title": {"text": title, "font": {"size": 12}}}}

    return iv.explorer(
        draw,
        iv.Slider("threshold", thresholds, format=lambda t: f"{t:g}"),
        iv.Menu("window (samples per round)", list(windows)),
        layout=iv.axes("generated tokens per question", "questions answered right", percent=True),
        caption="early_stop replayed on the same stored samples at each window and threshold (95% intervals), and majority "
        "voting over a fixed k. A higher threshold waits for a clearer lead: more tokens, fewer wrong early stops.",
    )


INK = "#333333"
