"""Chapter 8's figures: free energy as a function of belief, frontiers of accuracy against
compute, reliability diagrams, and where the controller spends its samples."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tsc.viz import PALETTE, accuracy_axes

STYLES = {  # one look per contender, the same in every figure of the chapter
    "majority": dict(color=PALETTE[0], marker="o", linestyle="-"),
    "stop when decided": dict(color=PALETTE[3], marker="s", linestyle="-"),
    "free energy": dict(color=PALETTE[1], marker="D", linestyle="-"),
    "free energy, risk only": dict(color=PALETTE[4], marker="^", linestyle=":"),
    "free energy, expected utility": dict(color=PALETTE[5], marker="v", linestyle="--"),
    "expected utility, horizon 3": dict(color="dimgrey", marker="<", linestyle="--"),
    "expected utility, horizon 4": dict(color="black", marker=">", linestyle="-."),
    "free energy, tokens free": dict(color=PALETTE[1]),
    "expected utility, tokens free": dict(color=PALETTE[5]),
    "free energy, no verifier": dict(color=PALETTE[1], marker="d", linestyle=":"),
    "best-of-n (PRM)": dict(color=PALETTE[2], marker="o", linestyle="-"),
    "weighted vote (PRM)": dict(color=PALETTE[2], marker="x", linestyle="--"),
}


def free_energy_curve(ax, prior: float, p_correct: float, p_wrong: float) -> dict:
    """Variational free energy F[q] of the belief q(correct) (x axis) about one attempt after
    one observation with likelihoods ``p_correct`` and ``p_wrong``, under prior ``prior``:
    F, its complexity and its -accuracy; the minimum (the posterior) and the surprise -ln p(o)
    are marked. Returns the posterior and the surprise."""
    from tsc.strategies.free_energy import variational_free_energy

    qs = np.linspace(0.001, 0.999, 400)
    terms = [variational_free_energy([q, 1 - q], [prior, 1 - prior], [p_correct, p_wrong]) for q in qs]
    f = np.array([t["free_energy"] for t in terms])
    ax.plot(qs, f, color=PALETTE[1], label="free energy F = complexity − accuracy")
    ax.plot(qs, [t["complexity"] for t in terms], color=PALETTE[0], linestyle="--", label="complexity KL[q ‖ prior]")
    ax.plot(qs, [-t["accuracy"] for t in terms], color=PALETTE[2], linestyle=":", label="−accuracy −E_q ln p(o | s)")
    evidence = prior * p_correct + (1 - prior) * p_wrong
    posterior = prior * p_correct / evidence
    surprise = -np.log(evidence)
    ax.axhline(surprise, color="grey", linewidth=0.8)
    ax.plot([posterior], [surprise], "o", color=PALETTE[1])
    text = f"posterior {posterior:.2f}\nF = −ln p(o) = {surprise:.2f}"
    ax.annotate(text, (posterior, surprise), textcoords="offset points", xytext=(8, 14))
    ax.axvline(prior, color=PALETTE[0], linewidth=0.8, linestyle="--")
    ax.set_xlabel("belief q(correct) about the attempt")
    ax.set_ylabel("nats")
    ax.set_ylim(0, max(4.0, surprise + 1.5))
    ax.legend(loc="upper center", fontsize="small")
    return {"posterior": posterior, "surprise": surprise}


def frontier(ax, summary: dict, names: Sequence[str], *, cost_label: str, log_x: bool = True, label_costs: str | None = None) -> None:
    """Accuracy (y) against mean cost per problem (x) for each contender's settings, joined in
    order of cost, with 95 % intervals on both axes. ``label_costs``: annotate that
    contender's points with their cost per token."""
    for name in names:
        rows = sorted(summary[name], key=lambda r: r["cost"])
        x = np.array([r["cost"] for r in rows])
        y = np.array([r["accuracy"] for r in rows])
        xerr = np.array([[r["cost"] - r["cost_low"] for r in rows], [r["cost_high"] - r["cost"] for r in rows]])
        yerr = np.array([[r["accuracy"] - r["accuracy_low"] for r in rows], [r["accuracy_high"] - r["accuracy"] for r in rows]])
        style = STYLES.get(name, {})
        ax.errorbar(x, y, xerr=xerr, yerr=yerr, label=name, markersize=4, capsize=2, elinewidth=0.8, **style)
        if name == label_costs:
            for r in rows:
                if "cost_per_token" in r["knobs"]:
                    where = (r["cost"], r["accuracy"])
                    ax.annotate(f"{r['knobs']['cost_per_token']:g}", where, fontsize=7, xytext=(3, -10), textcoords="offset points")
    accuracy_axes(ax, cost_label, log=10 if log_x else 0)
    ax.legend(fontsize="small", loc="lower right")


def reliability(ax, confidence: np.ndarray, correct: np.ndarray, *, bins: int = 5, label: str = "", color: str | None = None) -> dict:
    """Reliability diagram: within equal-width bins of the agent's confidence in its answer,
    the fraction answered correctly (95 % Wilson intervals), against the diagonal of perfect
    calibration. Returns the expected calibration error and the bin table."""
    from tsc.analysis import calibration, wilson

    table = calibration(confidence, np.asarray(correct, dtype=bool), bins=bins)
    xs, ys = [row["mean_score"] for row in table["bins"]], np.array([row["accuracy"] for row in table["bins"]])
    low, high = np.array([wilson(round(row["accuracy"] * row["count"]), row["count"]) for row in table["bins"]]).T
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, linestyle="--")
    ax.errorbar(xs, ys, yerr=[ys - low, high - ys], marker="o", capsize=3, label=f"{label} (ECE {table['ece']:.3f})", color=color)
    ax.set_xlim(0, 1.02)
    accuracy_axes(ax, "agent's belief that its answer is right (bin mean)", "answers that were right")
    ax.legend(fontsize="small", loc="upper left")
    return table


def samples_by_cost(ax, costs: Sequence[float], samples: Sequence[np.ndarray], sizes: np.ndarray, *, dial: str) -> None:
    """Mean samples drawn per problem (95 % bootstrap intervals) against the cost per token,
    one line per value of the difficulty dial."""
    from tsc.analysis import bootstrap

    sizes = np.asarray(sizes)
    for i, size in enumerate(sorted(set(sizes.tolist()))):
        mean, low, high = np.array([bootstrap(np.asarray(s)[sizes == size]) for s in samples]).T
        ax.errorbar(costs, mean, yerr=[mean - low, high - mean], marker="o", capsize=2, label=f"{size} {dial}", color=PALETTE[i])
    ax.set_xscale("log")
    ax.set_xlabel("cost per token, λ (nats of preference, log scale)")
    ax.set_ylabel("samples drawn per problem")
    ax.legend(fontsize="small")


def cost_explorer(summary: dict, majority: dict, *, name: str = "free energy"):
    """A slider over the controller's cost per token showing its accuracy and tokens next to
    majority voting's (Jupyter and Colab; the static page shows the default)."""
    from tsc.viz.widgets import printed_slider

    rows = sorted(summary[name], key=lambda r: r["knobs"]["cost_per_token"])
    costs = [r["knobs"]["cost_per_token"] for r in rows]

    def show(index):
        r = rows[index]
        print(
            f"cost per token {costs[index]:g} nats: {r['accuracy']:.1%} solved "
            f"({r['accuracy_low']:.1%} to {r['accuracy_high']:.1%}) with {r['cost']:.0f} tokens per problem, "
            f"{r['samples']:.1f} samples;\nmajority of {majority['knobs']['n']}: "
            f"{majority['accuracy']:.1%} with {majority['cost']:.0f} tokens"
        )

    return printed_slider([(f"{c:g}", i) for i, c in enumerate(costs)], len(costs) // 2, "λ", show)


def after_decided(ax, runs: dict[str, dict]) -> None:
    """Samples each run drew per question after the vote among its first samples was decided
    (they could not change majority voting's answer), with 95 % bootstrap intervals: one bar
    per run (``{"after_decided": [...], ...}``, as `tsc.experiments.ch08.run_contenders`
    stores them)."""
    from tsc.analysis import bootstrap

    names = list(runs)
    mean, low, high = np.array([bootstrap(np.asarray(runs[name]["after_decided"], dtype=float)) for name in names]).T
    ax.bar(
        range(len(names)), mean, yerr=[mean - low, high - mean], capsize=4, color=[STYLES.get(n, {}).get("color", "grey") for n in names]
    )
    ax.set_xticks(range(len(names)), names, fontsize="small")
    ax.set_ylabel("samples per question after the vote was decided")


def cost_twin(summary: dict, majority: dict, *, name: str = "free energy"):
    """`cost_explorer` for the static page: the controller at every cost per token λ as a point
    (accuracy against tokens per problem, 95 % intervals), the chosen λ ringed, and majority
    voting's point for comparison."""
    from tsc.viz import interactive as iv
    from tsc.viz.colors import color

    rows = sorted(summary[name], key=lambda r: r["knobs"]["cost_per_token"])
    costs = [r["knobs"]["cost_per_token"] for r in rows]

    def point(r: dict, label: str, colour: str, size: int = 8) -> dict:
        low, high = r.get("accuracy_low", r["accuracy"]), r.get("accuracy_high", r["accuracy"])
        trace = iv.lines([r["cost"]], [r["accuracy"]], name=label, color=colour, low=[low], high=[high])
        return trace | {"mode": "markers", "marker": {"size": size, "color": colour}}

    every = iv.lines(
        [r["cost"] for r in rows],
        [r["accuracy"] for r in rows],
        name=f"{name}, every λ",
        color="#c8b6a6",
        low=[r["accuracy_low"] for r in rows],
        high=[r["accuracy_high"] for r in rows],
    )
    vote = point(majority, f"majority of {majority['knobs']['n']}", color("majority"))

    def draw(cost: float) -> dict:
        r = rows[costs.index(cost)]
        title = f"λ = {cost:g} nats per token: {r['accuracy']:.1%} solved, {r['cost']:.0f} tokens, {r['samples']:.1f} samples"
        chosen = point(r, f"λ = {cost:g}", color("free_energy"), size=14)
        return {"data": [every, vote, chosen], "layout": {"title": {"text": title, "font": {"size": 12}}}}

    return iv.explorer(
        draw,
        iv.Slider("cost per token λ (nats)", costs, start=costs[len(costs) // 2], format=lambda c: f"{c:g}"),
        layout=iv.axes("generated tokens per problem", "problems solved", percent=True),
        caption="The free-energy controller at each cost per token (a dearer token: fewer samples), with 95% intervals; "
        "majority voting for comparison.",
    )
