"""Chapter 6's figures: calibration, best-of-N on the FLOPs axis, best-of-N with many
samples, and sequential against parallel compute."""

from __future__ import annotations

import numpy as np

from tsc.analysis import bootstrap, calibration, wilson
from tsc.viz import accuracy_axes, band, log2_samples_axis
from tsc.viz.colors import color


def calibration_plot(ax, scores: dict[str, np.ndarray], correct: np.ndarray, colours: dict[str, str]) -> dict[str, float]:
    """Reliability diagram: for each verifier, ten bins of scores, each point the bin's mean
    score against the fraction of its samples that are correct (95 % Wilson interval; area
    proportional to the bin's size). Returns each verifier's expected calibration error."""
    errors = {}
    for name, s in scores.items():
        result = calibration(s, correct)
        errors[name] = result["ece"]
        bins = [b for b in result["bins"] if b["count"]]
        x = np.array([b["mean_score"] for b in bins])
        y = np.array([b["accuracy"] for b in bins])
        low, high = np.array([wilson(round(b["accuracy"] * b["count"]), b["count"]) for b in bins]).T
        size = [12 + 400 * b["count"] / correct.size for b in bins]
        ax.errorbar(x, y, yerr=[y - low, high - y], color=colours[name], linestyle="-", alpha=0.6, capsize=2)
        ax.scatter(x, y, s=size, color=colours[name], label=f"{name}: calibration error {result['ece']:.3f}", zorder=3)
    ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
    ax.set_xlabel("verifier score (mean within a bin)")
    ax.set_ylabel("fraction of the bin's samples correct")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize="small")
    return errors


def flops_curves(ax, curves: dict[str, tuple[np.ndarray, dict, str, str]], *, nudge: dict[str, float] | None = None) -> None:
    """Curves with bands against FLOPs per problem: ``curves`` maps a label to (FLOPs at each
    budget, the curve with ``mean``/``low``/``high``, colour, line style); the label is also
    written at the curve's last point, so the figure needs no legend to be read (``nudge``
    moves a label up or down, in points, to keep neighbouring labels apart)."""
    for label, (x, curve, colour, style) in curves.items():
        band(ax, x, curve, label=label, color=colour, linestyle=style, marker="o" if len(x) <= 10 else "")
        lift = (nudge or {}).get(label, 0.0)
        ax.annotate(
            label, (x[-1], curve["mean"][-1]), textcoords="offset points", xytext=(4, lift), fontsize="x-small", color=colour, va="center"
        )
    accuracy_axes(ax, "FLOPs per problem (policy + verifier, log scale)", log=10)


def many_samples(ax, ks: list[int], curves: dict[str, np.ndarray], colours: dict[str, str], styles: dict[str, str]) -> dict[str, tuple]:
    """Best-of-k against k (log scale) for each chooser, from per-problem exact best-of-k
    (problems × ks), with 95 % bootstrap bands. Returns each curve's (mean, low, high)."""
    out = {}
    for name, per_problem in curves.items():
        out[name] = bootstrap(per_problem)
        band(ax, ks, out[name], label=name, color=colours[name], linestyle=styles.get(name, "-"))
    log2_samples_axis(ax, ks)
    accuracy_axes(ax)
    ax.legend(loc="upper left", fontsize="small", ncol=2)
    return out


STYLES = {  # label prefix: (the strategy whose colour it takes, line style); the first that fits
    "self-refine, PRM": ("self_refine", "-"),
    "self-refine, ORM": ("self_refine", "-."),
    "self-refine, step oracle": ("oracle", ":"),
    "revision model, last": ("revise", "-"),
    "revision model, PRM": ("revise", "--"),
    "best-of-N, oracle": ("oracle", "-"),
    "greedy + samples": ("best_of_n", "--"),
    "best-of-N": ("best_of_n", "-"),
}


def line_style(label: str) -> tuple[str, str]:
    """The colour and line style of a line of Chapter 6's sequential figure, by its label."""
    strategy, style = next((v for k, v in STYLES.items() if label.startswith(k)), ("sample", "-"))
    return color(strategy), style


def sequential_figure(ax, lines: dict[str, tuple[np.ndarray, np.ndarray]], *, nudge: dict[str, float] | None = None) -> None:
    """Sequential strategies and the parallel baseline on one FLOPs axis: ``lines`` maps a
    label to (per-problem outcomes, per-problem FLOPs), both problems × budgets. Each point
    sits at its budget's mean FLOPs, with a 95 % bootstrap band over problems; each curve is
    labelled at its end (``nudge`` moves a label up or down, in points)."""
    curves = {}
    for label, (solved, flops) in lines.items():
        colour, style = line_style(label)
        curves[label] = (flops.mean(axis=0), bootstrap(solved), colour, style)
    flops_curves(ax, curves, nudge=nudge)
