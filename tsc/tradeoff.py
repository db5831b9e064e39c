"""Train bigger or think longer: Chapter 4's analysis on one FLOPs axis.

Everything here reads the stored experiments of `tsc.experiments.ch04` (or data of the same
shape) and needs no model, so the chapter's figures are quick and reproducible:

- curves: accuracy against test-time FLOPs per problem for a checkpoint, selected by the
  oracle (coverage, pass@k) or by majority vote, with bootstrap intervals over problems;
- iso-accuracy: the test-time FLOPs per problem each checkpoint needs to reach an accuracy,
  and the *exchange rate*: how many times more test-time FLOPs per problem replace a 10×
  larger training budget along the frontier (Jones 2021);
- deployment: total FLOPs = training + queries × FLOPs per query; the cheapest checkpoint
  as the number of queries grows, and the break-even volumes.

How to spend test-time compute per problem (difficulty bins and the plans fitted for them,
Snell et al. 2024) is `tsc.allocation`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tsc.analysis import bootstrap, pareto_front, pass_at_k, resampled

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
    FLOPs (`tsc.analysis.pareto_front`, the fewer test FLOPs the better), in order of
    training FLOPs."""
    train, test = np.asarray(train, dtype=float), np.asarray(test, dtype=float)
    ok = np.flatnonzero(np.isfinite(test))
    return ok[pareto_front(train[ok], -test[ok])]


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
    draws = resampled(rate, count, n_boot=n_boot, seed=seed)
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
    train, per_query, queries = np.asarray(train, dtype=float), np.asarray(per_query, dtype=float), np.asarray(queries, dtype=float)
    ok = np.isfinite(per_query)
    totals = np.where(ok, train + queries[:, None] * np.nan_to_num(per_query, nan=0.0), np.inf)  # queries x options
    return totals.argmin(axis=1) if ok.any() else np.full(len(queries), -1)


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
