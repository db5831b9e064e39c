"""Chapter 5's figures: every strategy on one FLOPs axis, and search against best-of-N at
equal compute.

The chapter's cells stay short: they call these with the data of the stored experiment
``ch05-search-vs-best-of-n`` (`tsc.experiments.ch05.load_search_vs_best_of_n`) and say what
to see. Colours come from `tsc.viz.colors`, so a strategy looks the same in every chapter.
"""

from __future__ import annotations

import numpy as np

from tsc.analysis import bootstrap
from tsc.viz import accuracy_axes, band
from tsc.viz.colors import color
from tsc.viz.compare import bars, forest  # noqa: F401 (the chapter calls them from here too)

# the chapter's names for the searches of the experiment, and the strategy each one is
OTHERS = {
    "greedy": "greedy",
    "DVTS 4x2": "dvts",
    "ToT-BFS, breadth 5": "tot_bfs",
    "ToT-DFS": "dfs",
    "MCTS, 16 simulations": "mcts",
}


def _point(ax, x: float, values: np.ndarray, *, label: str, colour: str, marker: str, filled: bool = True, offset=(6, -3)) -> None:
    mean, low, high = bootstrap(values)
    face = colour if filled else "white"
    ax.errorbar(
        [x], [mean], yerr=[[mean - low], [high - mean]], color=colour, marker=marker, markersize=6, capsize=2, mfc=face, linestyle="none"
    )
    ax.annotate(label, (x, mean), textcoords="offset points", xytext=offset, fontsize="x-small", color=colour)


# where each point's label sits (offset in points), so that the crowded middle stays legible
LABEL_AT = {
    "beam 4×1": (-58, 7),
    "beam 4×2": (-46, 16),
    "beam 4×4": (7, -10),
    "beam 8×4": (-50, 8),
    "greedy": (7, -3),
    "DVTS 4x2": (-50, -30),
    "ToT-BFS, breadth 5": (-14, -46),
    "ToT-DFS": (7, -3),
    "MCTS, 16 simulations": (10, 2),
    "particle filter": (8, 4),
}


def flops_map(ax, data, *, beams=("4x1", "4x2", "4x4", "8x4")) -> None:
    """Accuracy against FLOPs per problem: best-of-N by the PRM (k = 1 to 32, scored by the
    last step and by the weakest step), majority voting, beam search (scored both ways) and
    the other searches, each point with its 95 % bootstrap interval, labelled in place."""
    for how, style, label in (("last", "-", "best-of-N, PRM last step"), ("min", "--", "best-of-N, PRM weakest step")):
        per_problem, flops = data.curve(how)
        band(ax, flops, bootstrap(per_problem), label=label, color=color("best_of_n"), marker="", linestyle=style)
    if data.majority.any():
        flops = data.sample_flops.mean(axis=0)[np.array(data.vote_ks) - 1]
        band(ax, flops, bootstrap(data.majority), label="majority vote", color=color("majority"))
    for how, filled in (("last", True), ("min", False)):
        names = [f"beam {b}, {how}" for b in beams if f"beam {b}, {how}" in data.searches]
        xs = [data.flops(n) for n in names]
        ys = [data.searches[n][0].mean() for n in names]
        label = "beam search, last step" if filled else "beam search, weakest step"
        ax.plot(xs, ys, color=color("beam"), linewidth=1, linestyle="-" if filled else ":", label=label)
        for name, x in zip(names, xs):
            tag = name.split(",")[0].replace("x", "×")
            _point(ax, x, data.searches[name][0], label=tag if filled else "", colour=color("beam"), marker="D", filled=filled,
                   offset=LABEL_AT.get(tag, (6, -3)))  # fmt: skip
    markers = {"greedy": "*", "dvts": "^", "tot_bfs": "v", "dfs": "<", "mcts": "P", "particle_filter": "o"}
    others = dict(OTHERS, **{name: "particle_filter" for name in data.searches if name.startswith("particle filter")})
    for name, strategy in others.items():
        if name in data.searches:
            tag = "particle filter" if strategy == "particle_filter" else name.split(",")[0]
            _point(ax, data.flops(name), data.searches[name][0], label=tag, colour=color(strategy),
                   marker=markers[strategy], offset=LABEL_AT.get(tag, (6, -3)))  # fmt: skip
    accuracy_axes(ax, "FLOPs per problem (policy + verifier, log scale)", log=10)
    ax.set_ylim(0, max(0.6, float(data.best_of["last"].mean(axis=0).max()) + 0.1))
    ax.legend(loc="upper left", fontsize="x-small")


def ess_along_steps(ax, ess: list[np.ndarray], sizes: np.ndarray, particles: int) -> dict[int, np.ndarray]:
    """The particle filter's effective sample size at each step, one line per problem size
    (mean over the problems still running at that step, 95 % bootstrap band), from 1 (one
    particle holds all the weight) to ``particles`` (equal weights). Returns each size's means."""
    means = {}
    for size in sorted(set(int(s) for s in sizes)):
        rows = [e for e, s in zip(ess, sizes) if s == size]
        steps = max(len(e) for e in rows)
        mean, low, high = [], [], []
        for t in range(steps):
            values = np.array([e[t] for e in rows if len(e) > t])
            m, lo, hi = bootstrap(values) if len(values) > 1 else (values.mean(), values.mean(), values.mean())
            mean.append(m), low.append(lo), high.append(hi)
        x = np.arange(1, steps + 1)
        ax.plot(x, mean, marker="o", color=color(size), label=f"{size} numbers")
        ax.fill_between(x, low, high, color=color(size), alpha=0.2, linewidth=0)
        means[size] = np.array(mean)
    ax.axhline(particles, color="0.5", linestyle=":", linewidth=1)
    ax.annotate("equal weights", (1, particles), textcoords="offset points", xytext=(2, -10), fontsize="x-small", color="0.4")
    ax.set_ylim(0, particles + 0.5)
    ax.set_xlabel("step (weighing after each new step)")
    ax.set_ylabel("effective sample size (particles)")
    ax.legend(fontsize="small")
    return means


def print_dev_table(summary: dict) -> None:
    """The particle filter's settings on the dev split: problems solved and mean FLOPs (as a
    multiple of beam search 4x2's), the chosen one marked, those over the FLOPs cap marked."""
    table, beam = summary["table"], summary["table"]["beam 4x2, last"]
    chosen = summary["chosen"]
    print(f"{'setting (dev split)':<46}{'solved':>8}{'FLOPs / beam 4x2':>18}")
    for label, row in table.items():
        mark = " <- chosen" if row["knobs"] == chosen else (" (over the cap)" if row["flops"] > summary["cap_flops"] else "")
        print(f"{label:<46}{row['solved']:>8.1%}{row['flops'] / beam['flops']:>18.2f}{mark}")


def print_by_size(data, name: str) -> dict[str, dict]:
    """A search against best-of-N with the same PRM at the search's own FLOPs, size by size
    (`SearchVsBestOfN.by_size`): the search's accuracy and FLOPs, and the paired difference in
    points scoring best-of-N by the last step and by the weakest step. Returns the differences
    ({"last": {size: (mean, low, high)}, "min": ...}; size ``"all"`` pools the sizes)."""
    diffs = {how: data.by_size(name, how) for how in ("last", "min")}
    print(f"{'problems':<14}{name:>16}{'FLOPs':>10}{'minus best-of-N, last step':>30}{'weakest step':>24}")
    for size in [*sorted(k for k in diffs["last"] if k != "all"), "all"]:
        rows = np.ones(len(data.sizes), dtype=bool) if size == "all" else data.sizes == size
        label = f"{int(rows.sum())} " + ("in all" if size == "all" else f"of {size} numbers")
        solved = data.searches[name][0][rows].mean()
        cells = [f"{m:+.1f} ({lo:+.1f} to {hi:+.1f})" for m, lo, hi in (diffs["last"][size], diffs["min"][size])]
        print(f"{label:<14}{solved:>16.1%}{data.flops(name, rows):>10.2e}{cells[0]:>30}{cells[1]:>24}")
    return diffs


LEDGER_ROWS = [
    ("prompt_tokens", "prompt tokens computed (prefill)"),
    ("reused_tokens", "prompt tokens reused"),
    ("generated_tokens", "tokens generated"),
    ("policy_flops", "policy FLOPs"),
    ("verifier_tokens", "tokens the PRM's top read"),
    ("verifier_flops", "verifier FLOPs"),
]


def mean_ledger(ledgers) -> dict[str, float]:
    """The mean per problem of each ledger entry of ``LEDGER_ROWS``."""
    ledgers = list(ledgers)
    return {key: float(np.mean([getattr(ledger, key) for ledger in ledgers])) for key, _ in LEDGER_ROWS}


def print_ledgers(columns: dict[str, dict[str, float]]) -> None:
    """A table of mean ledgers side by side (one column per way of running)."""
    print(f"{'per problem':<34}" + "".join(f"{name:>14}" for name in columns))
    for key, label in LEDGER_ROWS:
        print(f"{label:<34}" + "".join(f"{column[key]:>14.3g}" for column in columns.values()))
