"""Train bigger or think longer: Chapter 4's analysis on one FLOPs axis.

Everything here reads the stored experiments of `tsc.experiments.ch04` (or data of the same
shape) and needs no model, so the chapter's figures are quick and reproducible:

- curves: accuracy against test-time FLOPs per problem for a checkpoint, selected by the
  oracle (coverage, pass@k) or by majority vote, with bootstrap intervals over problems;
- iso-accuracy: the test-time FLOPs per problem each checkpoint needs to reach an accuracy,
  and the *exchange rate*: how many times more test-time FLOPs per problem replace a 10×
  larger training budget along the frontier (Jones 2021);
- deployment: total FLOPs = training + queries × FLOPs per query; the cheapest checkpoint
  as the number of queries grows, and the break-even volumes;
- allocation: difficulty bins, the multiple-choice knapsack that picks a strategy and budget
  per bin at a mean FLOPs budget (`fit_allocation`), its evaluation on held-out problems and
  its efficiency against the best single fixed strategy (Snell et al. 2024).

``python -m tsc.tradeoff install-allocation`` fits the allocation `compute_optimal` ships
(`tsc/assets/compute_optimal/`) from the stored ``ch04-allocation`` results.
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from tsc.analysis import bootstrap, pass_at_k

ASSET = Path(__file__).resolve().parent / "assets" / "compute_optimal"

# ---------------------------------------------------------------- the grid: curves per checkpoint


def sample_flops(row: dict, ks: Sequence[int], mask: np.ndarray | None = None) -> np.ndarray:
    """Mean test-time FLOPs per problem of k samples, for each k: the prompt read once plus k
    samples' generated tokens (what the ledger charges a batched draw)."""
    prefill = np.asarray(row["prefill_flops"], dtype=float)
    per_sample = np.asarray(row["sample_flops"], dtype=float)
    if mask is not None:
        prefill, per_sample = prefill[mask], per_sample[mask]
    return prefill.mean() + np.asarray(ks, dtype=float) * per_sample.mean()


def per_problem(row: dict, ks: Sequence[int], samples: int, how: str = "oracle", *, measured: Sequence[int] | None = None) -> np.ndarray:
    """Success per problem (problems × ks): pass@k from the correct counts (``"oracle"``:
    the best of k samples chosen by the oracle) or the majority vote's success rate, which
    the grid stored at its budgets ``measured`` (the grid's ``ks``; ``ks`` must be among them)."""
    if how == "oracle":
        table = {}
        return np.array([[table.setdefault((c, k), pass_at_k(samples, c, k)) for k in ks] for c in row["correct"]])
    if how == "majority":
        votes = np.asarray(row["majority"], dtype=float)
        measured = list(measured) if measured is not None else list(ks)
        if len(measured) != votes.shape[1] or any(k not in measured for k in ks):
            raise ValueError(f"the majority vote was stored at k = {measured}; pass measured=grid['ks'] and ks among them, got {list(ks)}")
        return votes[:, [measured.index(k) for k in ks]]
    raise ValueError(f"how must be 'oracle' or 'majority', got {how!r}")


def curve(values: np.ndarray, *, seed: int = 0, n_boot: int = 1000) -> dict:
    """Mean over problems of a problems × budgets matrix, with 95 % bootstrap intervals."""
    mean, low, high = bootstrap(values, seed=seed, n_boot=n_boot)
    return {"mean": np.atleast_1d(mean), "low": np.atleast_1d(low), "high": np.atleast_1d(high)}


def flops_to_reach(level: float, accuracy: Sequence[float], flops: Sequence[float], *, floor: bool = False) -> float:
    """Test-time FLOPs at which a curve first reaches ``level``, interpolating linearly in
    log FLOPs between measured budgets; NaN when it never does, or already does at the
    first budget (the curve says nothing about budgets below its first point), unless
    ``floor``: then the first budget's FLOPs (one sample: the least a deployment spends)."""
    accuracy, flops = np.asarray(accuracy, dtype=float), np.asarray(flops, dtype=float)
    if accuracy[0] >= level:
        return float(flops[0]) if floor else float("nan")
    above = np.flatnonzero(accuracy >= level)
    if not len(above):
        return float("nan")
    i = above[0]
    a0, a1, f0, f1 = accuracy[i - 1], accuracy[i], math.log(flops[i - 1]), math.log(flops[i])
    return float(math.exp(f0 + (level - a0) / (a1 - a0) * (f1 - f0)))


def accuracy_at(budget: float, accuracy: Sequence[float], flops: Sequence[float]) -> float:
    """A curve's accuracy at ``budget`` test-time FLOPs, linear in log FLOPs between measured
    budgets; NaN below its first budget (not even one sample is affordable) or above its last."""
    accuracy, flops = np.asarray(accuracy, dtype=float), np.asarray(flops, dtype=float)
    if budget < flops[0] or budget > flops[-1]:
        return float("nan")
    return float(np.interp(math.log(budget), np.log(flops), accuracy))


def frontier(train: Sequence[float], test: Sequence[float]) -> np.ndarray:
    """Indices of the checkpoints on the iso-accuracy frontier: those that reach the level
    (finite ``test``) and that no other checkpoint beats on both training FLOPs and test
    FLOPs, in order of training FLOPs."""
    train, test = np.asarray(train, dtype=float), np.asarray(test, dtype=float)
    ok = np.flatnonzero(np.isfinite(test))
    keep, best = [], math.inf
    for i in ok[np.argsort(train[ok], kind="stable")]:
        if test[i] < best:
            keep.append(i)
            best = test[i]
    return np.asarray(keep, dtype=int)


def exchange_slope(train: Sequence[float], test: Sequence[float]) -> float:
    """Slope of log10(test FLOPs) against log10(training FLOPs) along the frontier (least
    squares; NaN with fewer than two frontier points). ``10 ** -slope`` is the exchange rate:
    how many times more test-time FLOPs per problem a 10× smaller training budget needs."""
    keep = frontier(train, test)
    if len(keep) < 2:
        return float("nan")
    x, y = np.log10(np.asarray(train, dtype=float)[keep]), np.log10(np.asarray(test, dtype=float)[keep])
    return float(np.polyfit(x, y, 1)[0])


def prepare(grid: dict, how: str = "oracle") -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per checkpoint: (success per problem × k, prompt FLOPs per problem, FLOPs per sample
    per problem), computed once so that bootstrap resamples only index them."""
    return [
        (
            per_problem(row, grid["ks"], grid["samples"], how, measured=grid["ks"]),
            np.asarray(row["prefill_flops"], dtype=float),
            np.asarray(row["sample_flops"], dtype=float),
        )
        for row in grid["checkpoints"]
    ]


def iso_accuracy(
    grid: dict,
    level: float,
    *,
    how: str = "oracle",
    mask: np.ndarray | None = None,
    rows: np.ndarray | None = None,
    prepared: list | None = None,
    floor: bool = False,
) -> np.ndarray:
    """For each checkpoint, the test-time FLOPs per problem to reach ``level`` (NaN if not
    within the grid's budgets). ``mask`` selects problems (e.g. one size); ``rows`` resamples
    them (a bootstrap draw of problem indices); ``prepared``: `prepare`'s output, reused;
    ``floor``: a checkpoint already at the level with one sample needs one sample's FLOPs."""
    ks = np.asarray(grid["ks"], dtype=float)
    out = []
    for values, prefill, per_sample in prepared or prepare(grid, how):
        index = np.arange(len(values))
        if mask is not None:
            index = index[np.asarray(mask)]
        if rows is not None:
            index = index[rows]
        out.append(flops_to_reach(level, values[index].mean(axis=0), prefill[index].mean() + ks * per_sample[index].mean(), floor=floor))
    return np.asarray(out)


def exchange_rate(
    grid: dict,
    level: float,
    *,
    how: str = "oracle",
    mask: np.ndarray | None = None,
    names: Sequence[str] | None = None,
    n_boot: int = 300,
    seed: int = 0,
) -> dict:
    """The exchange rate at ``level`` with a bootstrap interval over problems: ``rate`` is
    how many times more test-time FLOPs per problem replace 10× the training FLOPs at equal
    accuracy (``10 ** -slope`` along the frontier), ``points`` the frontier checkpoints'
    names, and ``defined``, the fraction of resamples where the frontier had two points;
    ``names`` restricts the checkpoints (e.g. the final checkpoint of each size).
    ``verdict``: ``"trade-off"`` (a frontier of two or more checkpoints), ``"thinking wins"``
    (the least-trained checkpoint that reaches the level also needs the fewest test FLOPs:
    more training only costs more), ``"only one reaches it"`` or ``"none reaches it"``."""
    chosen = [i for i, row in enumerate(grid["checkpoints"]) if names is None or row["name"] in names]
    grid = dict(grid, checkpoints=[grid["checkpoints"][i] for i in chosen])
    train = np.array([row["train_flops"] for row in grid["checkpoints"]])
    prepared = prepare(grid, how)
    test = iso_accuracy(grid, level, mask=mask, prepared=prepared)
    slope = exchange_slope(train, test)
    count = len(grid["sizes"]) if mask is None else int(np.sum(mask))
    rng = np.random.default_rng(seed)
    slopes = [
        exchange_slope(train, iso_accuracy(grid, level, mask=mask, rows=rng.integers(0, count, count), prepared=prepared))
        for _ in range(n_boot)
    ]
    slopes = np.asarray(slopes)
    finite = slopes[np.isfinite(slopes)]
    low, high = (10 ** -np.percentile(finite, [97.5, 2.5])) if len(finite) else (math.nan, math.nan)
    names = [grid["checkpoints"][i]["name"] for i in frontier(train, test)]
    reaching = int(np.sum(np.isfinite(test)))
    return {
        "reaching": reaching,
        "verdict": "trade-off"
        if len(names) > 1
        else "thinking wins"
        if reaching > 1
        else "only one reaches it"
        if reaching
        else "none reaches it",
        "level": level,
        "slope": slope,
        "rate": 10**-slope if math.isfinite(slope) else math.nan,
        "low": float(low),
        "high": float(high),
        "points": names,
        "test_flops": test,
        "defined": float(len(finite) / n_boot),
    }


def pair_exchange(
    grid: dict, small: str, big: str, level: float, *, how: str = "oracle", mask: np.ndarray | None = None, n_boot: int = 300, seed: int = 0
) -> dict:
    """The exchange rate between two checkpoints at ``level``: how many times more test-time
    FLOPs per problem the less-trained ``small`` needs than ``big``, per 10× of training,
    ``(test_small / test_big) ** (1 / log10(train_big / train_small))``, with a bootstrap
    interval over problems. Below 1 the less-trained model is also the cheaper one to run
    (thinking wins outright); infinite where ``small`` does not reach the level within the
    grid's largest budget while ``big`` does (``censored``: then ``bound`` is the rate with
    the small model's largest budget, a lower bound). NaN where ``big`` does not reach it."""
    rows = {row["name"]: i for i, row in enumerate(grid["checkpoints"])}
    picked = dict(grid, checkpoints=[grid["checkpoints"][rows[small]], grid["checkpoints"][rows[big]]])
    prepared = prepare(picked, how)
    decades = math.log10(picked["checkpoints"][1]["train_flops"] / picked["checkpoints"][0]["train_flops"])
    ks = np.asarray(grid["ks"], dtype=float)

    def rate(index: np.ndarray | None) -> float:
        f_small, f_big = iso_accuracy(picked, level, mask=mask, rows=index, prepared=prepared)
        if not math.isfinite(f_big):
            return math.nan
        return math.inf if not math.isfinite(f_small) else (f_small / f_big) ** (1 / decades)

    count = len(grid["sizes"]) if mask is None else int(np.sum(mask))
    rng = np.random.default_rng(seed)
    draws = np.array([rate(rng.integers(0, count, count)) for _ in range(n_boot)])
    draws = draws[~np.isnan(draws)]
    low, high = (
        np.percentile(draws, [2.5, 97.5], method="nearest") if len(draws) else (math.nan, math.nan)
    )  # no interpolation: inf stays inf
    value = rate(None)
    bound = math.nan
    if math.isinf(value):
        values, prefill, per = prepared[0]
        keep = np.arange(len(values)) if mask is None else np.flatnonzero(mask)
        f_big = iso_accuracy(picked, level, mask=mask, prepared=prepared)[1]
        bound = ((prefill[keep].mean() + ks[-1] * per[keep].mean()) / f_big) ** (1 / decades)
    return {"small": small, "big": big, "level": level, "rate": value, "low": float(low), "high": float(high),
            "censored": math.isinf(value), "bound": bound, "training_ratio": 10**decades}  # fmt: skip


# ---------------------------------------------------------------- deployment: training + queries × per query


def cheapest(train: Sequence[float], per_query: Sequence[float], queries: Sequence[float]) -> np.ndarray:
    """For each number of queries, the index of the option with the least total FLOPs,
    training + queries × per-query FLOPs (options with NaN per-query FLOPs cannot reach the
    target and are skipped); -1 where none can."""
    train, per_query = np.asarray(train, dtype=float), np.asarray(per_query, dtype=float)
    ok = np.isfinite(per_query)
    out = []
    for q in np.asarray(queries, dtype=float):
        total = np.where(ok, train + q * np.nan_to_num(per_query, nan=0.0), np.inf)
        out.append(int(np.argmin(total)) if ok.any() else -1)
    return np.asarray(out)


def break_even(train_small: float, query_small: float, train_big: float, query_big: float) -> float:
    """Queries after which the option with more training and cheaper queries has spent less
    in all: (train_big − train_small) / (query_small − query_big); infinity if its queries
    are not cheaper."""
    if query_small <= query_big:
        return math.inf
    return max(0.0, (train_big - train_small) / (query_small - query_big))


def deployment_envelope(train: Sequence[float], per_query: Sequence[float]) -> list[tuple[int, float]]:
    """The options that are cheapest for some number of queries, in the order they take
    over as queries grow, each with the volume from which it is cheapest: [(index, from)]."""
    train, per_query = np.asarray(train, dtype=float), np.asarray(per_query, dtype=float)
    ok = [i for i in range(len(train)) if math.isfinite(per_query[i])]
    if not ok:
        return []
    current = min(ok, key=lambda i: (train[i], per_query[i]))  # at zero queries: the least training
    out, start = [(current, 0.0)], 0.0
    while True:
        options = [
            (break_even(train[current], per_query[current], train[j], per_query[j]), j) for j in ok if per_query[j] < per_query[current]
        ]
        options = [(q, j) for q, j in options if q >= start]
        if not options:
            return out
        q, j = min(options)
        out.append((j, q))
        current, start = j, q


# ---------------------------------------------------------------- compute-optimal allocation


def split_arrays(data: dict, split: str, *, candidates: Sequence[str] | None = None, with_probe: bool = False) -> dict:
    """One split of ``ch04-allocation`` as arrays: ``names``, ``correct`` and ``flops``
    (candidates × problems), ``size``, ``score`` (the probe's), ``pass_rate`` (oracle
    difficulty). ``with_probe``: every candidate pays the probe first, and a ``stop``
    candidate (answer with the probe's greedy answer) replaces ``greedy``."""
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
    return {
        "names": names,
        "correct": correct,
        "flops": flops,
        "size": np.array([len(p[0]) for p in record["problems"]]),
        "score": np.asarray(probe["score"], dtype=float),
        "pass_rate": np.asarray(difficulty["correct"], dtype=float) / difficulty["samples"],
    }


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
    from tsc.strategies.adaptive import difficulty_bin

    return np.array(
        [
            difficulty_bin(predictor, size=int(s), score=float(c), pass_rate=float(r))
            for s, c, r in zip(arrays["size"], arrays["score"], arrays["pass_rate"])
        ]
    )


def fit_allocation(
    bins: np.ndarray, correct: np.ndarray, flops: np.ndarray, budgets: Sequence[float], *, n_bins: int, unit: float | None = None
) -> list[dict]:
    """For each budget, the candidate per bin that maximises mean accuracy over the problems
    with mean FLOPs per problem at most the budget: a multiple-choice knapsack, solved
    exactly by dynamic programming over the budget in steps of ``unit`` FLOPs (default: a
    ten-thousandth of the largest budget; costs are rounded up, so the budget holds).
    ``correct`` and ``flops`` are candidates × problems; a bin with
    no problem gets its cheapest candidate. Returns one plan per budget: ``choice`` (candidate
    index per bin), ``accuracy`` and ``flops`` (means over the problems it was fitted on)."""
    bins = np.asarray(bins)
    total = len(bins)
    n_cand = correct.shape[0]
    weights = np.array([np.mean(bins == b) for b in range(n_bins)])
    acc = np.zeros((n_bins, n_cand))
    cost = np.zeros((n_bins, n_cand))
    for b in range(n_bins):
        inside = bins == b
        if inside.any():
            acc[b] = correct[:, inside].mean(axis=1)
            cost[b] = flops[:, inside].mean(axis=1)
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
                "accuracy": float(correct[picked, np.arange(total)].mean()),
                "flops": float(flops[picked, np.arange(total)].mean()),
            }
        )
    return plans


def apply_plan(choice: Sequence[int], bins: np.ndarray, correct: np.ndarray, flops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-problem success and FLOPs of an allocation on a split (candidates × problems)."""
    picked = np.asarray(choice)[np.asarray(bins)]
    index = np.arange(correct.shape[1])
    return correct[picked, index], flops[picked, index]


def pareto_front(flops: Sequence[float], accuracy: Sequence[float]) -> list[int]:
    """Indices of the points no other point beats, in order of FLOPs: a point is dropped when
    another has at least its accuracy at no more FLOPs, and is better in one of the two (of two
    identical points the first is kept)."""
    flops, accuracy = np.asarray(flops, dtype=float), np.asarray(accuracy, dtype=float)
    if flops.shape != accuracy.shape:
        raise ValueError(f"flops and accuracy must have one value per point; got {flops.size} and {accuracy.size}")
    front = []
    for i in np.lexsort((-accuracy, flops)):  # cheapest first, the more accurate first among equals
        if not front or accuracy[i] > accuracy[front[-1]]:
            front.append(int(i))
    return front


def pareto(flops: Sequence[float], accuracy: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """The points no other point beats on both FLOPs and accuracy, by increasing FLOPs (`pareto_front`)."""
    keep = pareto_front(flops, accuracy)
    return np.asarray(flops, dtype=float)[keep], np.asarray(accuracy, dtype=float)[keep]


def flops_for(level: float, flops: Sequence[float], accuracy: Sequence[float]) -> float:
    """The FLOPs the Pareto frontier of (flops, accuracy) points needs to reach ``level``,
    linear in log FLOPs between its points; its cheapest point's FLOPs at or below that
    point's accuracy; infinity above its best."""
    f, a = pareto(flops, accuracy)
    if level <= a[0]:
        return float(f[0])
    if level > a[-1]:
        return math.inf
    i = int(np.searchsorted(a, level))
    return float(math.exp(math.log(f[i - 1]) + (level - a[i - 1]) / (a[i] - a[i - 1]) * (math.log(f[i]) - math.log(f[i - 1]))))


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
    rng = np.random.default_rng(seed)
    draws = np.sort([ratio(rng.integers(0, count, count)) for _ in range(n_boot)])
    low, high = draws[int(0.025 * n_boot)], draws[min(n_boot - 1, int(math.ceil(0.975 * n_boot)) - 1)]  # order statistics: inf-safe
    return {"ratio": ratio(np.arange(count)), "low": float(low), "high": float(high), "censored": float(np.mean(~np.isfinite(draws)))}


def paired(a: np.ndarray, b: np.ndarray, *, seed: int = 0, n_boot: int = 2000) -> dict:
    """Mean of a − b over problems with a paired 95 % bootstrap interval."""
    mean, low, high = bootstrap(np.asarray(a, dtype=float) - np.asarray(b, dtype=float), seed=seed, n_boot=n_boot)
    return {"mean": float(mean), "low": float(low), "high": float(high)}


BUDGETS = tuple(float(f"{x:.3g}") for x in np.geomspace(1e8, 4e9, 64))  # the plans fitted and shipped
PREDICTOR_CHOICES = (("none", 1), ("size", 1), ("probe", 2), ("probe", 3), ("probe", 4), ("size+probe", 2), ("size+probe", 3))


def fit(
    data: dict,
    predictor_name: str,
    *,
    bins: int = 4,
    split: str = "dev",
    budgets: Sequence[float] = BUDGETS,
    rows: np.ndarray | None = None,
) -> dict:
    """Fit predictor and plans on ``split`` (or on its ``rows``): {predictor, names, plans}."""
    arrays = split_arrays(data, split, with_probe=predictor_name in ("probe", "size+probe"))
    if rows is not None:
        arrays = dict(
            arrays,
            correct=arrays["correct"][:, rows],
            flops=arrays["flops"][:, rows],
            **{k: arrays[k][rows] for k in ("size", "score", "pass_rate")},
        )
    predictor = fit_predictor(predictor_name, arrays, bins=bins)
    assigned = assign_bins(predictor, arrays)
    n_bins = int(max(bin_count(predictor), assigned.max() + 1))
    plans = fit_allocation(assigned, arrays["correct"], arrays["flops"], budgets, n_bins=n_bins)
    return {"predictor": predictor, "names": arrays["names"], "n_bins": n_bins, "plans": plans}


def evaluate(data: dict, fitted: dict, *, split: str = "test", rows: np.ndarray | None = None) -> list[dict | None]:
    """Each plan of ``fitted`` applied to ``split``: its ``choice`` (candidate per bin) and
    per-problem ``correct`` and ``flops``, with their means."""
    arrays = split_arrays(data, split, with_probe=fitted["predictor"]["name"] in ("probe", "size+probe"))
    assert arrays["names"] == fitted["names"], (arrays["names"], fitted["names"])
    if rows is not None:
        arrays = dict(
            arrays,
            correct=arrays["correct"][:, rows],
            flops=arrays["flops"][:, rows],
            **{k: arrays[k][rows] for k in ("size", "score", "pass_rate")},
        )
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
) -> np.ndarray:
    """Held-out accuracy at each budget, by ``folds``-fold cross-validation within the dev
    split (fit on the other folds, evaluate on the fold): how well a predictor generalises,
    judged without touching the test split. ``per_problem``: the budgets × problems matrix of
    held-out successes (NaN where a fold had no plan within the budget) instead of its means."""
    count = len(data["splits"]["dev"]["problems"])
    order = np.random.default_rng(seed).permutation(count)
    correct = np.full((len(budgets), count), np.nan)
    for k in range(folds):
        held = order[k::folds]
        train = np.setdiff1d(order, held)
        fitted = fit(data, predictor_name, bins=bins, budgets=budgets, rows=train)
        for j, result in enumerate(evaluate(data, fitted, split="dev", rows=held)):
            if result is not None:
                correct[j, held] = result["correct"]
    if per_problem:
        return correct
    counted = np.isfinite(correct).sum(axis=1)
    return np.where(counted > 0, np.nansum(correct, axis=1) / np.maximum(counted, 1), np.nan)


def choose_predictor(data: dict, *, budgets: Sequence[float] | None = None, choices=PREDICTOR_CHOICES) -> dict:
    """The predictor (and bin count) to ship, by cross-validation within the dev split: the
    simplest of ``choices`` (they are listed from simplest to richest) whose mean held-out
    accuracy over ``budgets`` is within one standard error of the best one's (the "one
    standard error" rule: a richer predictor must earn its extra bins). A problem's score is
    its mean success over the budgets; the standard error is that of the paired difference
    with the best. By default the budgets are those of `BUDGETS` from 2e8 FLOPs up, which
    every predictor can meet (one with a probe cannot go much below 1.2e8)."""
    budgets = [b for b in BUDGETS if b >= 2e8] if budgets is None else budgets
    per = {f"{name}/{bins}": cross_validate(data, name, bins=bins, budgets=budgets, per_problem=True) for name, bins in choices}
    problem_scores = {key: np.nan_to_num(m, nan=0.0).mean(axis=0) for key, m in per.items()}  # no plan counts as unsolved
    scores = {key: float(v.mean()) for key, v in problem_scores.items()}
    best = max(scores, key=scores.get)
    errors = {key: float(np.std(problem_scores[best] - v, ddof=1) / math.sqrt(len(v))) for key, v in problem_scores.items()}
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
    }


def bin_labels(predictor: dict, n_bins: int) -> list[str]:
    name, sizes = predictor["name"], predictor.get("sizes", [3, 4, 5])
    if name == "none":
        return ["every problem"]
    if name == "size":
        return [f"{s} numbers" for s in sizes]

    def ranges(edges: list[float], what: str) -> list[str]:
        bounds = [-math.inf] + list(edges) + [math.inf]
        out = []
        for lo, hi in zip(bounds[:-1], bounds[1:]):
            out.append(
                f"{what} < {hi:.3g}" if lo == -math.inf else f"{what} ≥ {lo:.3g}" if hi == math.inf else f"{lo:.3g} ≤ {what} < {hi:.3g}"
            )
        return out

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


def install_allocation(data: dict | None = None, *, folder: Path = ASSET) -> Path:
    """Fit the shipped allocation from the ``ch04-allocation`` results (the dev split only),
    choosing the predictor by cross-validation within dev, and write ``allocation.json``
    and ``card.json`` into ``folder``."""
    from tsc.experiments import stored
    from tsc.lm.checkpoint import write_atomic

    record = stored("ch04-allocation") if data is None else {"data": data, "config": {}, "computed": time.strftime("%Y-%m-%d")}
    if record is None:
        raise ValueError("no stored ch04-allocation results: run python -m tsc experiment ch04-allocation first")
    data = record["data"]
    chosen = choose_predictor(data)
    fitted = fit(data, chosen["name"], bins=chosen["bins"])
    table = allocation_table(data, fitted, chosen=chosen)
    dev = data["splits"]["dev"]
    config = record.get("config", {})
    card = {
        "name": "compute_optimal",
        "kind": "allocation",
        "what": "the strategy and budget per difficulty bin that maximise accuracy at a mean FLOPs budget per problem (Snell et al. 2024)",
        "model": data["model"],
        "verifier": data["verifier"],
        "fitted_on": {
            "split": "dev",
            "problems": len(dev["problems"]),
            "drawn_by": (
                f"tsc.experiments.ch04.allocation_splits(dev={config.get('dev')}, test={config.get('test')}, "
                f"seed={config.get('split_seed')}): countdown.generate(split='test'), the held-out tenth, sizes 3-5, "
                "uniform over solvable problems, kept if the puzzle hashes into the dev half (tsc.experiments.ch04.half_of); "
                "the evaluation split (test) is the other half, so no puzzle is in both"
            ),
            "seed": data["seed"],
            "per_problem_seed": "tsc.core.problem_seed(seed, problem), as python -m tsc solve passes it",
            "results_computed": record.get("computed"),
        },
        "predictor": table["predictor"],
        "predictor_choice": chosen,
        "candidates": list(table["candidates"]),
        "plans": len(table["plans"]),
        "budget_range": [table["plans"][0]["flops"], table["plans"][-1]["flops"]],
        "fitted": time.strftime("%Y-%m-%d"),
        "reproduce": "python -m tsc experiment ch04-allocation && python -m tsc.tradeoff install-allocation",
    }
    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "allocation.json", json.dumps(table, indent=1) + "\n")
    write_atomic(folder / "card.json", json.dumps(card, indent=2) + "\n")
    return folder


def apply_table(data: dict, table: dict, flops: float, *, split: str = "test") -> dict:
    """What `compute_optimal` with ``table`` (e.g. the bundled allocation) at ``flops`` does
    on a split of ``ch04-allocation``, problem by problem, from the stored results:
    ``correct``, ``flops``, ``bin`` and ``choice`` per problem (the probe's cost included)."""
    from tsc.strategies.adaptive import difficulty_bin, plan_for, uses_probe

    plan = plan_for(table, flops)
    record = data["splits"][split]
    probe = record["probe"]
    looked = uses_probe(table["predictor"])
    correct, spent, bins, choices = [], [], [], []
    for i, (numbers, _) in enumerate(record["problems"]):
        which = difficulty_bin(table["predictor"], size=len(numbers), score=probe["score"][i])
        name = plan["choice"][which]
        if name == "stop":
            correct.append(bool(probe["correct"][i]))
            spent.append(probe["flops"][i])
        else:
            correct.append(bool(record["results"][name]["correct"][i]))
            spent.append(record["results"][name]["flops"][i] + (probe["flops"][i] if looked else 0))
        bins.append(which)
        choices.append(name)
    return {"correct": np.array(correct, dtype=float), "flops": np.array(spent, dtype=float), "bin": np.array(bins), "choice": choices}


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv != ["install-allocation"]:
        print(
            "usage: python -m tsc.tradeoff install-allocation  (fits tsc/assets/compute_optimal from the stored ch04-allocation results)",
            file=sys.stderr,
        )
        return 2
    try:
        folder = install_allocation()
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(f"wrote {folder / 'allocation.json'} and {folder / 'card.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
