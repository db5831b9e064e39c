"""Compute-optimal allocation (Snell et al. 2024), fitted offline: how `compute_optimal` learns
which strategy and budget each difficulty bin gets.

Everything here reads the stored ``ch04-allocation`` results (or data of the same shape) and
needs no model:

- difficulty: predictors (size, the probe's score, both, or the oracle's pass rate) whose
  bin edges are fitted on a development split (`fit_predictor`, `assign_bins`);
- plans: per mean FLOPs budget, the candidate per bin that maximises accuracy, a
  multiple-choice knapsack solved exactly (`fit_allocation`), evaluated on held-out problems
  (`evaluate`, `apply_table`) and cross-validated within the development split to choose the
  predictor (`choose_predictor`);
- efficiency: how many times fewer FLOPs an allocation needs than the best single fixed
  strategy for the same accuracy (`efficiency`).

The bundled table (`tsc/assets/compute_optimal/`) is written by
`tsc.experiments.ch04.install_allocation` (``python -m tsc experiment ch04-allocation --install``);
`tsc.strategies.adaptive` reads it when solving.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tsc.analysis import pareto, resampled
from tsc.strategies.adaptive import difficulty_bin, plan_for, uses_probe
from tsc.tradeoff import flops_to_reach


def split_arrays(
    data: dict, split: str, *, candidates: Sequence[str] | None = None, with_probe: bool = False, rows: np.ndarray | None = None
) -> dict:
    """One split of ``ch04-allocation`` as arrays: ``names``, ``correct`` and ``flops``
    (candidates × problems), ``size``, ``score`` (the probe's), ``pass_rate`` (oracle
    difficulty). ``with_probe``: every candidate pays the probe first, and a ``stop``
    candidate (answer with the probe's greedy answer) replaces ``greedy``. ``rows``: only
    these problems."""
    record = data["splits"][split]
    names = [n for n in (candidates or data["candidates"]) if n in record["results"]]
    probe = record["probe"]
    correct = np.array([record["results"][n]["correct"] for n in names], dtype=float)
    flops = np.array([record["results"][n]["flops"] for n in names], dtype=float)
    if with_probe:
        keep = [i for i, n in enumerate(names) if data["candidates"][n]["strategy"] != "greedy"]
        names = ["stop"] + [names[i] for i in keep]
        correct = np.vstack([np.asarray(probe["correct"], dtype=float), correct[keep]])
        flops = np.vstack([np.zeros(len(probe["flops"])), flops[keep]]) + np.asarray(probe["flops"], dtype=float)
    difficulty = record["difficulty"]
    arrays = {
        "names": names,
        "correct": correct,
        "flops": flops,
        "size": np.array([len(p[0]) for p in record["problems"]]),
        "score": np.asarray(probe["score"], dtype=float),
        "pass_rate": np.asarray(difficulty["correct"], dtype=float) / max(difficulty["samples"], 1),  # 0 samples: not measured
    }
    if rows is not None:
        arrays |= {k: arrays[k][:, rows] for k in ("correct", "flops")}  # candidates x problems
        arrays |= {k: arrays[k][rows] for k in ("size", "score", "pass_rate")}
    return arrays


def fit_predictor(name: str, arrays: dict, *, bins: int = 4) -> dict:
    """A difficulty predictor with its edges fitted on ``arrays`` (a dev split): quantiles of
    the probe's score (``"probe"``, ``bins`` bins; ``"size+probe"``, ``bins`` per size) or of
    the pass rate (``"oracle"``); ``"size"`` and ``"none"`` need no fit."""

    def edges(values: np.ndarray) -> list[float]:
        if bins < 2 or not len(values):
            return []
        return sorted({round(float(q), 6) for q in np.quantile(values, np.arange(1, bins) / bins)})

    sizes = [3, 4, 5]
    if name in ("none", "size"):
        return {"name": name, "sizes": sizes}
    if name == "probe":
        return {"name": name, "sizes": sizes, "edges": edges(arrays["score"])}
    if name == "size+probe":
        return {"name": name, "sizes": sizes, "edges": [edges(arrays["score"][arrays["size"] == s]) for s in sizes]}
    if name == "oracle":
        rates = arrays["pass_rate"]
        return {"name": name, "sizes": sizes, "edges": [e for e in edges(rates) if e > 0] or [0.5 / 64]}
    raise ValueError(f"unknown predictor {name!r}")


def bin_count(predictor: dict) -> int:
    name = predictor["name"]
    if name == "none":
        return 1
    if name == "size":
        return len(predictor["sizes"])
    if name == "size+probe":
        return len(predictor["sizes"]) * (max(len(e) for e in predictor["edges"]) + 1)
    return len(predictor["edges"]) + 1


def assign_bins(predictor: dict, arrays: dict) -> np.ndarray:
    """The bin of every problem of ``arrays`` under ``predictor`` (`difficulty_bin`)."""
    return np.array(
        [
            difficulty_bin(predictor, size=int(s), score=float(c), pass_rate=float(r))
            for s, c, r in zip(arrays["size"], arrays["score"], arrays["pass_rate"])
        ]
    )


def fit_allocation(
    bins: np.ndarray,
    correct: np.ndarray,
    flops: np.ndarray,
    budgets: Sequence[float],
    *,
    n_bins: int,
    unit: float | None = None,
    weights: np.ndarray | None = None,
) -> list[dict]:
    """For each budget, the candidate per bin that maximises mean accuracy over the problems
    with mean FLOPs per problem at most the budget: a multiple-choice knapsack, solved
    exactly by dynamic programming over the budget in steps of ``unit`` FLOPs (default: a
    ten-thousandth of the largest budget; costs are rounded up, so the budget holds).
    ``correct`` and ``flops`` are candidates × problems; a bin with
    no problem gets its cheapest candidate. ``weights`` (one per problem, default equal):
    the mix the mean is taken over, e.g. problems of each size reweighted to the mix of
    sizes the allocation will be used on (`mix_weights`). Returns one plan per budget:
    ``choice`` (candidate index per bin), ``accuracy`` and ``flops`` (weighted means over the
    problems it was fitted on)."""
    bins = np.asarray(bins)
    total = len(bins)
    n_cand = correct.shape[0]
    problem_weights = np.full(total, 1.0 / total) if weights is None else np.asarray(weights, dtype=float) / np.sum(weights)
    weights = np.array([problem_weights[bins == b].sum() for b in range(n_bins)])
    acc = np.zeros((n_bins, n_cand))
    cost = np.zeros((n_bins, n_cand))
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            share = problem_weights[inside] / problem_weights[inside].sum()
            acc[b] = correct[:, inside] @ share
            cost[b] = flops[:, inside] @ share
        else:
            cost[b] = flops.mean(axis=1)
    unit = unit or max(budgets) / 10_000
    top = int(math.ceil(max(budgets) / unit))
    units = np.ceil(weights[:, None] * cost / unit).astype(int)  # each bin's share of the mean, in units
    value = weights[:, None] * acc
    best = np.zeros(top + 1)  # best[u]: the most accuracy with at most u units (no bin yet)
    argmax = np.zeros((n_bins, top + 1), dtype=int)
    order = np.argsort(cost.mean(axis=0), kind="stable")  # cheaper candidates first: they win ties
    for b in range(n_bins):
        new = np.full(top + 1, -np.inf)
        if weights[b] == 0:  # no problem here: the cheapest candidate, free
            argmax[b] = int(np.argmin(cost[b]))
            continue
        for c in order:
            u = units[b, c]
            if u > top:
                continue
            shifted = np.full(top + 1, -np.inf)
            shifted[u:] = best[: top + 1 - u] + value[b, c]
            better = shifted > new + 1e-12
            new[better] = shifted[better]
            argmax[b, better] = c
        best = new
    plans = []
    for budget in budgets:
        u = int(math.floor(budget / unit))
        if u < 0 or not np.isfinite(best[min(u, top)]):
            plans.append(None)
            continue
        u = min(u, top)
        choice = [0] * n_bins
        for b in reversed(range(n_bins)):
            c = int(argmax[b, u])
            choice[b] = c
            if weights[b] > 0:
                u -= units[b, c]
        picked = np.array(choice)[bins]
        plans.append(
            {
                "budget": float(budget),
                "choice": choice,
                "accuracy": float(correct[picked, np.arange(total)] @ problem_weights),
                "flops": float(flops[picked, np.arange(total)] @ problem_weights),
            }
        )
    return plans


def apply_plan(choice: Sequence[int], bins: np.ndarray, correct: np.ndarray, flops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem success and FLOPs of an allocation on a split (candidates × problems)."""
    picked = np.asarray(choice)[np.asarray(bins)]
    index = np.arange(correct.shape[1])
    return correct[picked, index], flops[picked, index]


def flops_for(level: float, flops: Sequence[float], accuracy: Sequence[float]) -> float:
    """The FLOPs the Pareto frontier of (flops, accuracy) points needs to reach ``level``,
    linear in log FLOPs between its points; its cheapest point's FLOPs at or below that
    point's accuracy; infinity above its best."""
    f, a = pareto(flops, accuracy)
    needed = flops_to_reach(level, a, f, floor=True)
    return math.inf if math.isnan(needed) else needed


def efficiency(
    correct: np.ndarray, flops: np.ndarray, base_correct: np.ndarray, base_flops: np.ndarray, *, n_boot: int = 1000, seed: int = 0
) -> dict:
    """How many times fewer FLOPs an allocation needs than the best single fixed strategy
    for the same accuracy, on the same problems: ``ratio`` = (FLOPs the fixed strategies'
    frontier needs to reach the allocation's accuracy) / (the allocation's mean FLOPs), with a
    paired bootstrap interval over problems (the same resampled problems for both; a
    resample where no fixed strategy reaches the allocation's accuracy counts as infinite).
    ``correct``/``flops`` are the allocation's per problem; ``base_*`` candidates × problems."""

    def ratio(rows: np.ndarray) -> float:
        level = correct[rows].mean()
        return flops_for(level, base_flops[:, rows].mean(axis=1), base_correct[:, rows].mean(axis=1)) / flops[rows].mean()

    count = len(correct)
    draws = np.sort(resampled(ratio, count, n_boot=n_boot, seed=seed))
    low, high = draws[int(0.025 * n_boot)], draws[min(n_boot - 1, int(math.ceil(0.975 * n_boot)) - 1)]  # order statistics: inf-safe
    return {"ratio": ratio(np.arange(count)), "low": float(low), "high": float(high), "censored": float(np.mean(~np.isfinite(draws)))}


BUDGETS = tuple(float(f"{x:.3g}") for x in np.geomspace(1e8, 4e9, 64))  # the plans fitted and shipped


def mix_weights(sizes: np.ndarray, mix: dict | None) -> np.ndarray:
    """One weight per problem (summing to 1) so that the problems of each size together weigh
    its share of ``mix`` ({size: share}, any scale; e.g. {3: 1, 4: 2, 5: 1}); equal weights
    when ``mix`` is None. A size the mix names but no problem has is an error."""
    sizes = np.asarray(sizes)
    if mix is None:
        return np.full(len(sizes), 1.0 / len(sizes))
    total = float(sum(mix.values()))
    weights = np.zeros(len(sizes))
    for size, share in mix.items():
        inside = sizes == int(size)
        if share and not inside.any():
            raise ValueError(f"the mix gives {size}-number problems a share, but there are none to fit on")
        weights[inside] = share / total / max(inside.sum(), 1)
    return weights / weights.sum()


PREDICTOR_CHOICES = (("none", 1), ("size", 1), ("probe", 2), ("probe", 3), ("probe", 4), ("size+probe", 2), ("size+probe", 3))


def fit(
    data: dict,
    predictor_name: str,
    *,
    bins: int = 4,
    split: str = "dev",
    budgets: Sequence[float] = BUDGETS,
    rows: np.ndarray | None = None,
    mix: dict | None = None,
) -> dict:
    """Fit predictor and plans on ``split`` (or on its ``rows``): {predictor, names, plans}.
    ``mix`` ({size: share}): the mean FLOPs and accuracy are those of problems in that mix of
    sizes (the split's own when None), so a plan's budget holds for problems drawn so."""
    arrays = split_arrays(data, split, with_probe=predictor_name in ("probe", "size+probe"), rows=rows)
    predictor = fit_predictor(predictor_name, arrays, bins=bins)
    assigned = assign_bins(predictor, arrays)
    n_bins = int(max(bin_count(predictor), assigned.max() + 1))
    weights = mix_weights(arrays["size"], mix)
    plans = fit_allocation(assigned, arrays["correct"], arrays["flops"], budgets, n_bins=n_bins, weights=weights)
    return {"predictor": predictor, "names": arrays["names"], "n_bins": n_bins, "plans": plans, "mix": mix}


def evaluate(data: dict, fitted: dict, *, split: str = "test", rows: np.ndarray | None = None) -> list[dict | None]:
    """Each plan of ``fitted`` applied to ``split``: its ``choice`` (candidate per bin) and
    per-problem ``correct`` and ``flops``, with their means."""
    arrays = split_arrays(data, split, with_probe=uses_probe(fitted["predictor"]), rows=rows)
    assert arrays["names"] == fitted["names"], (arrays["names"], fitted["names"])
    assigned = np.minimum(assign_bins(fitted["predictor"], arrays), fitted["n_bins"] - 1)
    out = []
    for plan in fitted["plans"]:
        if plan is None:
            out.append(None)
            continue
        c, f = apply_plan(plan["choice"], assigned, arrays["correct"], arrays["flops"])
        choice = [fitted["names"][i] for i in plan["choice"]]
        out.append(
            {
                "budget": plan["budget"],
                "choice": choice,
                "correct": c,
                "flops": f,
                "accuracy": float(c.mean()),
                "mean_flops": float(f.mean()),
            }
        )
    return out


def cross_validate(
    data: dict,
    predictor_name: str,
    *,
    bins: int = 4,
    folds: int = 5,
    budgets: Sequence[float] = BUDGETS,
    seed: int = 0,
    per_problem: bool = False,
    mix: dict | None = None,
) -> np.ndarray:
    """Held-out accuracy at each budget, by ``folds``-fold cross-validation within the dev
    split (fit on the other folds, evaluate on the fold): how well a predictor generalises,
    judged without touching the test split. ``per_problem``: the budgets × problems matrix of
    held-out successes (NaN where a fold had no plan within the budget) instead of its means;
    ``mix``: plans fitted, and means taken, for that mix of sizes (`mix_weights`)."""
    count = len(data["splits"]["dev"]["problems"])
    order = np.random.default_rng(seed).permutation(count)
    correct = np.full((len(budgets), count), np.nan)
    for k in range(folds):
        held = order[k::folds]
        train = np.setdiff1d(order, held)
        fitted = fit(data, predictor_name, bins=bins, budgets=budgets, rows=train, mix=mix)
        for j, result in enumerate(evaluate(data, fitted, split="dev", rows=held)):
            if result is not None:
                correct[j, held] = result["correct"]
    if per_problem:
        return correct
    weights = mix_weights(np.array([len(p[0]) for p in data["splits"]["dev"]["problems"]]), mix)
    counted = np.isfinite(correct) @ weights
    return np.where(counted > 0, np.nan_to_num(correct, nan=0.0) @ weights / np.maximum(counted, 1e-12), np.nan)


def choose_predictor(data: dict, *, budgets: Sequence[float] | None = None, choices=PREDICTOR_CHOICES, mix: dict | None = None) -> dict:
    """The predictor (and bin count) to ship, by cross-validation within the dev split: the
    simplest of ``choices`` (they are listed from simplest to richest) whose mean held-out
    accuracy over ``budgets`` is within one standard error of the best one's (the "one
    standard error" rule: a richer predictor must earn its extra bins). A problem's score is
    its mean success over the budgets; the standard error is that of the paired difference
    with the best. By default the budgets are those of `BUDGETS` from 2e8 FLOPs up, which
    every predictor can meet (one with a probe cannot go much below 1.2e8). ``mix``: fitted and
    scored for that mix of sizes (problems weighted by `mix_weights`)."""
    budgets = [b for b in BUDGETS if b >= 2e8] if budgets is None else budgets
    per = {f"{name}/{bins}": cross_validate(data, name, bins=bins, budgets=budgets, per_problem=True, mix=mix) for name, bins in choices}
    problem_scores = {key: np.nan_to_num(m, nan=0.0).mean(axis=0) for key, m in per.items()}  # no plan counts as unsolved
    weights = mix_weights(np.array([len(p[0]) for p in data["splits"]["dev"]["problems"]]), mix)
    scores = {key: float(v @ weights) for key, v in problem_scores.items()}
    best = max(scores, key=scores.get)

    def error(v: np.ndarray) -> float:  # the standard error of a weighted mean of paired differences
        d = problem_scores[best] - v
        return float(math.sqrt(np.sum(weights**2 * (d - d @ weights) ** 2) * len(d) / (len(d) - 1)))

    errors = {key: error(v) for key, v in problem_scores.items()}
    chosen = next(key for key in scores if scores[key] >= scores[best] - errors[key])
    name, bins = chosen.split("/")
    return {"name": name, "bins": int(bins), "scores": scores, "standard_errors": errors, "best": best, "rule": "one standard error"}


def allocation_table(data: dict, fitted: dict, *, chosen: dict | None = None) -> dict:
    """The JSON `compute_optimal` loads: the predictor, bins, candidates and one plan per
    budget (candidate names per bin, with the dev accuracy and mean FLOPs)."""
    predictor = fitted["predictor"]
    labels = bin_labels(predictor, fitted["n_bins"])
    candidates = {n: {"strategy": "stop", "knobs": {}} if n == "stop" else data["candidates"][n] for n in fitted["names"]}
    plans, last = [], None
    for plan in fitted["plans"]:
        if plan is None:
            continue
        choice = [fitted["names"][c] for c in plan["choice"]]
        if choice == last:
            continue  # the same allocation as at the budget below: keep the cheaper entry
        last = choice
        plans.append(
            {"flops": plan["budget"], "choice": choice, "dev_accuracy": round(plan["accuracy"], 4), "dev_flops": round(plan["flops"])}
        )
    return {
        "format": 1,
        "model": data["model"],
        "verifier": data["verifier"],
        "predictor": predictor,
        "bins": labels,
        "candidates": candidates,
        "plans": plans,
        "chosen_by": chosen or {},
        "mix": {str(k): v for k, v in (fitted.get("mix") or {}).items()} or None,
    }


def bin_labels(predictor: dict, n_bins: int) -> list[str]:
    name, sizes = predictor["name"], predictor.get("sizes", [3, 4, 5])
    if name == "none":
        return ["every problem"]
    if name == "size":
        return [f"{s} numbers" for s in sizes]

    def ranges(edges: list[float], what: str) -> list[str]:
        bounds = [-math.inf, *edges, math.inf]
        return [
            f"{what} < {hi:.3g}" if lo == -math.inf else f"{what} ≥ {lo:.3g}" if hi == math.inf else f"{lo:.3g} ≤ {what} < {hi:.3g}"
            for lo, hi in zip(bounds[:-1], bounds[1:])
        ]

    if name == "probe":
        return ranges(predictor["edges"], "probe score")
    if name == "oracle":
        return ranges(predictor["edges"], "pass rate")
    width = n_bins // len(sizes)
    labels = []
    for s, edges in zip(sizes, predictor["edges"]):
        rows = ranges(edges, "probe score")
        labels += [f"{s} numbers, {r}" for r in rows] + [f"{s} numbers, (empty)"] * (width - len(rows))
    return labels


def apply_table(data: dict, table: dict, flops: float, *, split: str = "test") -> dict:
    """What `compute_optimal` with ``table`` (e.g. the bundled allocation) at ``flops`` does
    on a split of ``ch04-allocation``, problem by problem, from the stored results:
    ``correct``, ``flops``, ``bin`` and ``choice`` per problem (the probe's cost included)."""
    plan = plan_for(table, flops)
    arrays = split_arrays(data, split, with_probe=uses_probe(table["predictor"]))
    bins = np.array([difficulty_bin(table["predictor"], size=int(s), score=float(c)) for s, c in zip(arrays["size"], arrays["score"])])
    correct, spent = apply_plan([arrays["names"].index(name) for name in plan["choice"]], bins, arrays["correct"], arrays["flops"])
    return {"correct": correct, "flops": spent, "bin": bins, "choice": [plan["choice"][b] for b in bins]}
