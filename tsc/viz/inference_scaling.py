"""Chapter 2's figures: o1's two axes on our models, and what RL changes.

- `rl_curve`: held-out accuracy against RL training FLOPs (log axis), o1's train-time plot;
- `thinking_curve`: accuracy against thinking tokens under budget forcing (log axis), o1's
  test-time plot, with s1's "Wait" as separate points;
- `pass_at_k_panels`: pass@k of several models (and single answers such as greedy) and their
  paired differences;
- `training_run`: RL runs step by step (training reward, length, held-out entropy), to see a
  collapse;
- `length_curve`: response length on held-out problems during RL, per problem size;
- `tokens_curves`: strategies on one axis of generated tokens per problem.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsc.viz import PALETTE, accuracy_axes, band, log2_samples_axis


def _figure(points: Sequence[dict], key: str) -> dict:
    """{"mean", "low", "high"} arrays from a list of ``{key: {"value", "low", "high"}}``."""
    return {
        "mean": np.array([p[key]["value"] for p in points]),
        "low": np.array([p[key]["low"] for p in points]),
        "high": np.array([p[key]["high"] for p in points]),
    }


def rl_curve(
    ax,
    evals: Sequence[dict],
    *,
    metrics: Sequence[tuple[str, str]] = (("pass@1", "one sample at T=1"), ("greedy", "greedy")),
    controls: dict[str, dict] | None = None,
) -> None:
    """Held-out accuracy after each evaluated RL step against the FLOPs spent on RL so far
    (sampling plus updates, log axis); the starting model's figures as dotted lines with
    their intervals shaded. ``controls``: more of the starting model's figures on the same
    problems (label -> {"value", "low", "high"}), e.g. one sample at a lower temperature,
    drawn as dashed grey lines: what the starting model reaches with no training at all."""
    start = next((e for e in evals if e["step"] == 0), None)
    later = [e for e in evals if e["step"] > 0]
    x = np.array([e["sampling_flops"] + e["update_flops"] for e in later], dtype=float)
    for j, (key, label) in enumerate(metrics):
        color = PALETTE[j]
        band(ax, x, _figure(later, key), label=f"{label}, after RL", color=color)
        if start is not None:
            ax.axhline(start[key]["value"], color=color, linestyle=":", linewidth=1.2, label=f"{label}, before RL")
            ax.axhspan(start[key]["low"], start[key]["high"], color=color, alpha=0.08, linewidth=0)
    highest = max(float(_figure(evals, k)["high"].max()) for k, _ in metrics)
    for j, (label, figure) in enumerate((controls or {}).items()):
        grey = str(0.25 + 0.45 * j / max(1, len(controls) - 1))
        ax.axhline(figure["value"], color=grey, linestyle="--", linewidth=1.0, label=label)
        highest = max(highest, float(figure["high"]))
    accuracy_axes(ax, "RL training compute so far (FLOPs: sampling + updates, log scale)", "held-out problems solved", log=10)
    ax.set_ylim(0, max(0.05, highest * 1.25))


def thinking_curve(ax, tokens: Sequence[float], curve: dict, *, label: str, wait: tuple[Sequence[float], dict] | None = None) -> None:
    """Accuracy against the thinking tokens actually spent (mean per problem, log axis);
    ``wait``: (tokens, curve) of the runs extended with "Wait", drawn as separate points."""
    band(ax, tokens, curve, label=label, color=PALETTE[0])
    if wait is not None:
        x, points = np.asarray(wait[0], dtype=float), wait[1]
        err = np.array([points["mean"] - points["low"], points["high"] - points["mean"]])
        ax.errorbar(x, points["mean"], yerr=err, fmt="s", color=PALETTE[1], capsize=3, markersize=5, label='extended with "Wait"')
    accuracy_axes(ax, "thinking tokens per problem (mean spent, log scale)", "held-out problems solved", log=2)


def pass_at_k_panels(
    axes,
    ks: Sequence[int],
    curves: dict[str, dict],
    differences: dict[str, dict],
    *,
    single: dict[str, dict] | None = None,
    dashed: Sequence[str] = (),
) -> None:
    """Left: pass@k of each curve with intervals (log-2 k axis; names in ``dashed`` drawn
    dashed), and ``single`` answers (label -> {"mean", "low", "high"}, e.g. greedy decoding)
    as points with error bars at k = 1. Right: each paired difference (label -> {"mean",
    "low", "high"}, as fractions), in percentage points, with a line at zero."""
    left, right = axes
    for j, (name, curve) in enumerate(curves.items()):
        band(left, ks, curve, label=name, color=PALETTE[j % len(PALETTE)], linestyle="--" if name in dashed else "-")
    for j, (name, point) in enumerate((single or {}).items()):
        x = ks[0] * (0.82 - 0.07 * j)  # just left of k = 1, side by side
        err = [[point["mean"] - point["low"]], [point["high"] - point["mean"]]]
        left.errorbar([x], [point["mean"]], yerr=err, fmt="D", color=str(0.15 + 0.3 * j), capsize=3, markersize=4, label=name)
    log2_samples_axis(left, ks, label="samples per problem, k (log scale)")
    accuracy_axes(left, ylabel="pass@k (held-out problems)")
    left.legend(loc="lower right", fontsize="small")
    for j, (name, difference) in enumerate(differences.items()):
        band(
            right,
            ks,
            {k: np.asarray(v) * 100 for k, v in difference.items() if k in ("mean", "low", "high")},
            label=name,
            color=PALETTE[(j + len(curves)) % len(PALETTE)],
        )
    right.axhline(0, color="0.3", linewidth=0.8)
    log2_samples_axis(right, ks, label="samples per problem, k (log scale)")
    right.set_ylabel("difference (percentage points)")
    right.legend(loc="lower left", fontsize="small")


def training_run(axes, runs: dict[str, dict], *, marks: dict[str, int] | None = None, window: int = 5) -> None:
    """Three panels of RL runs against the step (linear axis): the training reward (the share
    of each step's samples the oracle accepted, a running mean over ``window`` steps), the mean
    length of the training samples, and the held-out entropy estimate (nats per token) at each
    evaluation. ``runs``: label -> a training log (``steps`` and ``evals``); ``marks``:
    label -> a step to mark with a vertical line."""
    reward_ax, length_ax, entropy_ax = axes
    kernel = np.ones(window) / window
    for j, (name, log) in enumerate(runs.items()):
        color = PALETTE[j % len(PALETTE)]
        steps = np.array([s["step"] for s in log["steps"]])
        reward = np.convolve([s["reward"] for s in log["steps"]], kernel, mode="valid")
        length = np.convolve([s["mean_tokens"] for s in log["steps"]], kernel, mode="valid")
        reward_ax.plot(steps[window - 1 :], reward, color=color, label=name)
        length_ax.plot(steps[window - 1 :], length, color=color, label=name)
        evals = log["evals"]
        entropy_ax.plot(
            [e["step"] for e in evals], [e["nll_per_token"] for e in evals], marker="o", markersize=3.5, color=color, label=name
        )
    for ax, label in (
        (reward_ax, "training reward (running mean)"),
        (length_ax, "tokens per training sample"),
        (entropy_ax, "entropy (nats per token, held out)"),
    ):
        for j, (name, step) in enumerate((marks or {}).items()):
            ax.axvline(step, color=str(0.3 + 0.3 * j), linestyle=":", linewidth=1.0, label=name if ax is reward_ax else None)
        ax.set_xlabel("RL step")
        ax.set_ylabel(label)
    reward_ax.set_ylim(0, None)
    entropy_ax.set_ylim(0, None)
    reward_ax.legend(loc="lower left", fontsize="small")


def length_curve(ax, evals: Sequence[dict], *, sizes: Sequence[str] = ("3", "4", "5"), key: str = "mean_tokens") -> None:
    """Mean length in tokens of the held-out samples at T=1 after each evaluated RL step,
    one line per problem size (the step axis is linear: length is read against time)."""
    steps = [e["step"] for e in evals]
    for j, size in enumerate(sizes):
        ax.plot(steps, [e["by_size"][size][key] for e in evals], marker="o", markersize=3.5, color=PALETTE[j], label=f"{size} numbers")
    ax.set_xlabel("RL step")
    ax.set_ylabel("tokens per completion (mean)")
    ax.legend(loc="center right")


def tokens_curves(
    ax,
    curves: dict[str, tuple[Sequence[float], dict]],
    *,
    dashed: Sequence[str] = (),
    xlabel: str = "generated tokens per problem (mean, log scale)",
    legend: bool = True,
) -> None:
    """Accuracy against the compute spent per problem (log axis; generated tokens unless
    ``xlabel`` says otherwise, e.g. FLOPs) for several strategies: each entry is (cost,
    curve); names in ``dashed`` are drawn dashed (e.g. an oracle's bound)."""
    for j, (name, (x, curve)) in enumerate(curves.items()):
        band(ax, x, curve, label=name, color=PALETTE[j % len(PALETTE)], linestyle="--" if name in dashed else "-")
    accuracy_axes(ax, xlabel, "held-out problems solved", log=2)
    if legend:
        ax.legend(loc="lower right", fontsize="small")


def samples_explorer(problems: Sequence, policies: dict, *, n: int = 16, seed: int = 0):
    """Widgets: pick a problem and a temperature; see ``n`` samples of each policy side by side,
    each marked right or wrong, and how many *different* correct solutions each found.

    Returns the widget; display it as the last expression of a cell.
    """
    import ipywidgets as widgets

    names = list(policies)

    def show(index: int, temperature: float) -> None:
        problem = problems[index]
        columns = {}
        for name in names:
            policy = policies[name]
            [row] = policy.sample([policy.format(problem)], n=n, temperature=temperature, seed=seed)
            columns[name] = [(c.text, problem.check(c.text)) for c in row]
        width = max(len(text) for rows in columns.values() for text, _ in rows) + 4
        print("".join(f"{name:<{width + 2}}" for name in names))
        for i in range(n):
            print("".join(f"{'✓' if ok else '✗'} {text:<{width}}" for text, ok in (columns[name][i] for name in names)))
        for name in names:
            right = [problem.answer_key(t) for t, ok in columns[name] if ok]
            print(f"{name}: {len(right)} of {n} right, {len(set(right))} different correct solutions")

    choose = widgets.Dropdown(options=[(p.prompt(), i) for i, p in enumerate(problems)], value=0, description="problem")
    temperature = widgets.FloatSlider(value=1.0, min=0.2, max=1.6, step=0.2, description="temperature")
    return widgets.interactive(show, index=choose, temperature=temperature)


def samples_twin(problems: Sequence, policies: dict, *, n: int = 16, seed: int = 0, temperatures: Sequence[float] = (0.2, 0.6, 1.0, 1.4)):
    """`samples_explorer` for the static page: for each problem and temperature, how many of
    ``n`` samples of each policy are right and how many *different* correct solutions they
    hold (hover a bar for them). The samples are the explorer's: the same prompt, ``n`` and seed."""
    from tsc.viz import interactive as iv

    problems, names = list(problems), list(policies)
    found = {}  # (policy, temperature) -> per problem: (right, different correct solutions)
    for name in names:
        policy = policies[name]
        prompts = [policy.format(p) for p in problems]
        for t in temperatures:
            rows = policy.sample(prompts, n=n, temperature=t, seed=[seed] * len(prompts))
            found[name, t] = [
                ([c.text for c in row if p.check(c.text)], sorted({p.answer_key(c.text) for c in row if p.check(c.text)}))
                for p, row in zip(problems, rows)
            ]

    def draw(index: int, temperature: float) -> dict:
        right = [len(found[name, temperature][index][0]) for name in names]
        different = [found[name, temperature][index][1] for name in names]
        return {
            "data": [
                iv.bars(names, right, name=f"right (of {n})", color="#2e933c", text=[str(r) for r in right]),
                iv.bars(
                    names,
                    [len(d) for d in different],
                    name="different correct solutions",
                    color="#1f5aa6",
                    text=[str(len(d)) for d in different],
                )
                | {"hovertext": ["<br>".join(d) or "none" for d in different]},
            ],
            "layout": {"title": {"text": f"{problems[index].prompt()} at temperature {temperature:g}"}},
        }

    return iv.explorer(
        draw,
        iv.Menu("problem", list(range(len(problems))), format=lambda i: problems[i].prompt()),
        iv.Slider("temperature", list(temperatures), start=1.0 if 1.0 in temperatures else None, format=lambda t: f"{t:g}"),
        layout=iv.axes("model", f"samples (of {n})", y_range=(0, n + 2)),
        caption=f"{n} samples of each model per problem and temperature; hover a bar for the different correct solutions.",
    )
