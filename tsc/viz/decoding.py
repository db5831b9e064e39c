"""Chapter 3's pictures: a next-token distribution and what the knobs do to it (with an
explorer behind sliders), the knobs' effect on accuracy and diversity, chain of thought
against a direct answer, votes by temperature, and time per token with and without the cache.

The plotting functions take numbers (curves as ``{"mean", "low", "high"}`` dicts, as
`tsc.analysis` returns them) and an ``ax``; only `next_token_explorer` talks to a model.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np

from tsc.viz import PALETTE, accuracy_axes, band, percent_axis

# --- one next-token distribution -------------------------------------------------------------


def show_token(token: str) -> str:
    """A token as a bar label: visible quotes around a space, names for special tokens."""
    return "' '" if token == " " else token


def draw_candidates(ax, candidates: Sequence, *, title: str = "") -> None:
    """Bars of the model's probability (outlined, temperature 1) and of the distribution the
    sampler draws from after the knobs (filled) for each candidate token; a token a
    truncation rule removed is marked with an ×."""
    x = np.arange(len(candidates))
    model = np.array([c.model for c in candidates])
    sampled = np.array([c.sampled for c in candidates])
    ax.bar(x, sampled, width=0.62, color=PALETTE[0], label="sampled from (after the knobs)")
    ax.bar(x, model, width=0.62, fill=False, edgecolor="0.25", linewidth=1.0, label="model (temperature 1)")
    for i, c in enumerate(candidates):
        if c.sampled == 0 and c.model > 0:
            ax.plot(i, 0.02, marker="x", color=PALETTE[1], markersize=7, markeredgewidth=2)
    ax.set_xticks(x, [show_token(c.token) for c in candidates], fontfamily="monospace")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("probability of the next token")
    ax.set_xlabel("candidate next tokens, most likely first (× removed by truncation)")
    if title:
        ax.set_title(title, fontsize=10)


def knob_panels(policy, text: str, settings: Sequence[dict], *, show: int = 6, figsize: tuple[float, float] | None = None):
    """One small panel per setting of the knobs (dicts of temperature, top_k, top_p, min_p)
    for the same ``text``: how each reshapes one next-token distribution. Returns the figure."""
    from tsc.lm.decoding import candidates

    cols = min(3, len(settings))
    rows = -(-len(settings) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=figsize or (3.0 * cols, 2.5 * rows), sharey=True, squeeze=False)
    for ax, knobs in zip(axes.flat, settings):
        draw_candidates(ax, candidates(policy, text, show=show, **knobs), title=_knobs_title(knobs))
        ax.set_xlabel("")
        ax.set_ylabel("")
    for ax in list(axes.flat)[len(settings) :]:
        ax.set_visible(False)
    axes[0, 0].set_ylabel("probability")
    fig.supxlabel("candidate next tokens, most likely first (× removed)", fontsize=9)
    return fig


def _knobs_title(knobs: dict) -> str:
    parts = [f"T = {knobs.get('temperature', 1.0):g}"]
    if knobs.get("top_k"):
        parts.append(f"top-k {knobs['top_k']}")
    if knobs.get("top_p", 1.0) < 1:
        parts.append(f"top-p {knobs['top_p']:g}")
    if knobs.get("min_p", 0.0) > 0:
        parts.append(f"min-p {knobs['min_p']:g}")
    return ", ".join(parts)


def _least_sure(policy, prompt: str, answer: str) -> int:
    """The number of characters of ``answer`` after which the model is least sure of its next
    token (highest entropy); 0 for an empty answer (the prompt is the only prefix to read)."""
    from tsc.lm.decoding import entropy_bits, next_token_logits

    if not answer:
        return 0
    prefixes = [prompt + answer[:j] for j in range(len(answer))]
    return int(entropy_bits(next_token_logits(policy, prefixes).softmax(-1)).argmax())


def next_token_explorer(
    policy,
    problems: Sequence,
    *,
    problem: int = 0,
    prefix: int | None = None,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    min_p: float = 0.0,
    show: int = 8,
):
    """Pick a problem and a prefix of the model's own greedy answer, and see its most likely
    next tokens: the model's probabilities and what temperature, top-k, top-p and min-p make
    of them. ``prefix`` is a number of characters of the greedy answer (None: the position
    where the model is least sure). Returns an ipywidgets VBox (the web page shows the
    default view); display it as the last expression of a cell."""
    try:
        import ipywidgets as widgets
    except ImportError as error:
        raise ImportError("next_token_explorer needs ipywidgets (pip install ipywidgets)") from error
    from tsc.lm.decoding import candidates
    from tsc.viz.widgets import show_figure

    problems = list(problems)
    if not problems:
        raise ValueError("next_token_explorer needs at least one problem")
    if not 0 <= problem < len(problems):
        raise ValueError(f"problem must be an index from 0 to {len(problems) - 1}, got {problem}")
    prompts = [policy.format(p) for p in problems]
    answers = [row[0].text for row in policy.sample(prompts, n=1, temperature=0.0)]

    start = _least_sure(policy, prompts[problem], answers[problem]) if prefix is None else prefix
    if not 0 <= start <= len(answers[problem]):
        raise ValueError(f"prefix must be from 0 to {len(answers[problem])} characters, got {prefix}")
    chooser = widgets.Dropdown(options=[(p, i) for i, p in enumerate(prompts)], value=problem, description="problem")
    where = widgets.IntSlider(value=start, min=0, max=len(answers[problem]), description="prefix", continuous_update=False)
    knobs = {
        "temperature": widgets.FloatSlider(
            value=temperature, min=0.05, max=2.5, step=0.05, description="temperature", continuous_update=False
        ),
        "top_k": widgets.IntSlider(value=top_k, min=0, max=10, description="top-k (0: off)", continuous_update=False),
        "top_p": widgets.FloatSlider(value=top_p, min=0.05, max=1.0, step=0.05, description="top-p", continuous_update=False),
        "min_p": widgets.FloatSlider(value=min_p, min=0.0, max=0.5, step=0.01, description="min-p", continuous_update=False),
    }
    for slider in knobs.values():
        slider.style = {"description_width": "initial"}
    line, out = widgets.HTML(), widgets.Output()

    def redraw(change=None) -> None:
        i = chooser.value
        text = prompts[i] + answers[i][: where.value]
        cut = answers[i][where.value :]
        line.value = (
            f"<code>{prompts[i]}<b>{answers[i][: where.value]}</b>▌<span style='color:#999'>{cut}</span></code>"
            " &nbsp; (bold: the prefix; grey: the rest of the greedy answer)"
        )
        fig, ax = plt.subplots(figsize=(6.4, 3.0))
        draw_candidates(ax, candidates(policy, text, show=show, **{k: s.value for k, s in knobs.items()}))
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        show_figure(out, fig)

    def new_problem(change=None) -> None:
        i = chooser.value
        where.unobserve(redraw, names="value")
        where.max = len(answers[i])
        where.value = _least_sure(policy, prompts[i], answers[i])
        where.observe(redraw, names="value")
        redraw()

    chooser.observe(new_problem, names="value")
    where.observe(redraw, names="value")
    for slider in knobs.values():
        slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([chooser, where, widgets.HBox(list(knobs.values())[:2]), widgets.HBox(list(knobs.values())[2:]), line, out])


def next_token_twin(
    policy,
    problems: Sequence,
    *,
    temperatures: Sequence[float] = (0.25, 0.5, 1.0, 1.5, 2.0),
    top_ks: Sequence[int] = (1, 2, 3, 0),
    top_ps: Sequence[float] = (1.0, 0.9, 0.6),
    min_ps: Sequence[float] = (0.0, 0.05, 0.2),
    show: int = 8,
    count: int = 4,
):
    """`next_token_explorer` for the static page: for each of the first ``count`` problems, at the position where the
    model is least sure in its greedy answer, the same bars (the model's probability, and what
    the sampler draws from after the knobs) for every setting of temperature, top-k, top-p and
    min-p. The model reads each prefix once; the knobs reshape its logits (`tsc.lm.decoding.reshape`)."""
    from tsc.lm.decoding import next_token_logits, reshape, token_text
    from tsc.viz import interactive as iv

    problems = list(problems)[:count]
    prompts = [policy.format(p) for p in problems]
    answers = [row[0].text for row in policy.sample(prompts, n=1, temperature=0.0)]
    texts, logits = [], []
    for prompt, answer in zip(prompts, answers):
        at = _least_sure(policy, prompt, answer)
        texts.append((prompt, answer[:at]))
        logits.append(next_token_logits(policy, [prompt + answer[:at]])[0])
    orders = [row.softmax(-1).argsort(descending=True)[:show].tolist() for row in logits]
    labels = [[show_token(token_text(policy, i)) for i in order] for order in orders]

    def draw(index: int, temperature: float, top_k: int, top_p: float, min_p: float) -> dict:
        order = orders[index]
        model = logits[index].softmax(-1)[order].tolist()
        sampled = reshape(logits[index], temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)[order].tolist()
        prompt, prefix = texts[index]
        return {
            "data": [
                iv.bars(labels[index], sampled, name="sampled from (after the knobs)", color=PALETTE[0]),
                iv.bars(labels[index], model, name="model (temperature 1)", color="rgba(0,0,0,0)")
                | {"marker": {"color": "rgba(0,0,0,0)", "line": {"color": "#404040", "width": 1.2}}},
            ],
            "layout": {"title": {"text": f"next token after {prompt}{prefix}▌", "font": {"family": "monospace", "size": 12}}},
        }

    return iv.explorer(
        draw,
        iv.Menu("problem", list(range(len(problems))), format=lambda i: prompts[i]),
        iv.Slider("temperature", list(temperatures), start=1.0 if 1.0 in temperatures else None, format=lambda t: f"{t:g}"),
        iv.Slider("top-k", list(top_ks), start=0 if 0 in top_ks else None, format=lambda k: str(k) if k else "off"),
        iv.Slider("top-p", list(top_ps)),
        iv.Slider("min-p", list(min_ps)),
        layout=iv.axes("candidate next tokens, most likely first", "probability of the next token", y_range=(0, 1.02))
        | {"barmode": "overlay", "xaxis": {"type": "category", "title": {"text": "candidate next tokens, most likely first"}}},
        caption="Outlined: the model's own probabilities; filled: the distribution the sampler draws from after the knobs "
        "(a token a truncation rule removed has none).",
    )


# --- the knobs' effect on held-out problems ---------------------------------------------------


def knob_effects(axes, curves: dict, *, ylabels: Sequence[str], percent: Sequence[bool]) -> None:
    """One panel per measure (pass@1, coverage, distinct answers): x is the temperature, one
    line per truncation rule. ``curves[rule][measure]`` is a dict of ``temperature`` (x) and
    ``mean``/``low``/``high``."""
    for j, (ax, label, as_percent) in enumerate(zip(axes, ylabels, percent)):
        for (rule, measures), color in zip(curves.items(), PALETTE):
            curve = measures[j]
            band(ax, curve["temperature"], curve, label=rule, color=color)
        ax.set_xlabel("temperature")
        ax.set_ylabel(label)
        if as_percent:
            percent_axis(ax)


# --- chain of thought against a direct answer --------------------------------------------------


def paired_bars(ax, groups: Sequence, bars: dict, *, xlabel: str, ylabel: str = "problems solved") -> None:
    """Grouped bars with 95 % interval whiskers: ``bars[name]`` is a list (one per group) of
    (mean, low, high)."""
    x = np.arange(len(groups))
    width = 0.8 / len(bars)
    for j, ((name, stats), color) in enumerate(zip(bars.items(), PALETTE)):
        mean, low, high = np.array(stats, dtype=float).T
        ax.bar(x + (j - (len(bars) - 1) / 2) * width, mean, width=width, yerr=[mean - low, high - mean], capsize=3, color=color, label=name)
    ax.set_xticks(x, [str(g) for g in groups])
    accuracy_axes(ax, xlabel, ylabel)


def accuracy_per_flop(ax, curves: dict, *, xlabel: str = "FLOPs per question (log scale)") -> None:
    """Accuracy against FLOPs per question: ``curves[name]`` holds ``flops`` (x), the k of
    each point (``k``) and ``mean``/``low``/``high``; each point is labelled with its k."""
    for (name, curve), color in zip(curves.items(), PALETTE):
        band(ax, curve["flops"], curve, label=name, color=color)
        for f, m, k in zip(curve["flops"], curve["mean"], curve["k"]):
            ax.annotate(f"{k}", (f, m), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7, color=color)
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ax.set_xscale("log")
    ax.xaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:.0e}".replace("e+0", "e")))  # 2e7, 5e7, 1e8
    ax.xaxis.set_minor_formatter(NullFormatter())
    accuracy_axes(ax, xlabel)


# --- self-consistency ------------------------------------------------------------------------


def answer_histogram(ax, answers: Sequence, correct: str, *, title: str = "", top: int = 8) -> None:
    """How ``answers`` (one per sample; None for a malformed one) spread: a bar per distinct
    answer, most common first, the correct one in blue, the rest (and "other") in red."""
    from collections import Counter

    counts = Counter(a for a in answers if a is not None)
    shown = counts.most_common(top)
    rest = sum(counts.values()) - sum(c for _, c in shown)
    labels = [a for a, _ in shown] + (["other"] if rest else [])
    heights = [c for _, c in shown] + ([rest] if rest else [])
    colors = [PALETTE[0] if a == correct else PALETTE[1] for a, _ in shown] + (["0.6"] if rest else [])
    ax.bar(np.arange(len(labels)), heights, color=colors)
    ax.set_xticks(np.arange(len(labels)), labels, rotation=60, fontsize=7)
    if title:
        ax.set_title(title, fontsize=9, fontfamily="monospace")


# --- the KV cache ------------------------------------------------------------------------------


def time_per_token(ax, runs: dict) -> None:
    """Milliseconds per generated token against context length, one line per run
    (``runs[name]`` as `tsc.lm.kvcache.time_per_token` returns it): the fastest of the timed
    runs, shaded up to their median (how much the rest of the machine slowed them)."""
    for (name, run), color in zip(runs.items(), PALETTE):
        curve = {"mean": np.asarray(run["best"]) * 1e3, "low": np.asarray(run["best"]) * 1e3, "high": np.asarray(run["median"]) * 1e3}
        band(ax, run["lengths"], curve, label=name, color=color)
    ax.set_xlabel("tokens already in the context")
    ax.set_ylabel("ms per generated token (log scale)")
    ax.set_yscale("log")


def step_times(ax, positions: np.ndarray, seconds: np.ndarray, *, window: int = 32) -> None:
    """Milliseconds per decoding step along a chain: the median of each run of ``window``
    steps (robust to the occasional step another program slowed down), its quartiles shaded."""
    starts = np.arange(0, len(seconds) - window + 1, window)
    chunks = np.array([seconds[s : s + window] for s in starts]) * 1e3
    x = positions[starts + window // 2]
    curve = {"mean": np.median(chunks, axis=1), "low": np.percentile(chunks, 25, axis=1), "high": np.percentile(chunks, 75, axis=1)}
    band(ax, x, curve, label=f"measured (median of each {window} steps)", color=PALETTE[0])
    ax.set_xlabel("position in the chain (tokens)")
