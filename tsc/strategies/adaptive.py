"""Compute-optimal test-time allocation (Snell et al. 2024): spend by predicted difficulty.

A fixed strategy spends the same on every problem: best-of-16 draws 16 samples for a problem
the model gets right greedily and for one it has no chance on. `compute_optimal` first
predicts how hard a problem is, from what is known before solving it (its size) and, where
the fitted allocation says it pays, from a cheap *probe*: the greedy answer and the
verifier's score of it. It then looks up, in a table fitted once on development problems
(`tsc/assets/compute_optimal/allocation.json`), which strategy and budget that difficulty
bin gets at the mean FLOPs per problem asked for, and runs it. The table is fitted so that
the mean over problems stays within the budget (`tsc.allocation.fit_allocation`: each next
FLOP goes to the bin where it buys the most accuracy); single problems may cost more or less.

Every FLOP is charged: the probe's (policy and verifier) and the chosen strategy's, in one
ledger. Like every strategy here this module never imports torch or `tsc.lm`.
"""

from __future__ import annotations

import bisect
import json
import math
from collections.abc import Callable
from dataclasses import replace
from functools import lru_cache
from pathlib import Path

from tsc.compute import Ledger
from tsc.core import Result, is_real
from tsc.strategies.base import STRATEGIES, Strategy, check_knobs, check_problem, check_step_verifier, make_result
from tsc.strategies.reuse import reuses_prefixes

ALLOCATION = Path(__file__).resolve().parent.parent / "assets" / "compute_optimal" / "allocation.json"
# The first table, fitted for the development split's own mix of sizes (about a third each), which
# Chapter 9's stored runs used; the bundled one above is refitted for a 1:2:1 mix (Chapter 4).
FIRST_ALLOCATION = ALLOCATION.parent / "allocation-first.json"
PREDICTORS = ("none", "size", "probe", "size+probe", "oracle")


def follow_up(name: str) -> Strategy | None:
    """The registered strategy an allocation's candidate may name (any but the adaptive ones,
    which would plan again), or None; a candidate ``"stop"`` answers with the probe's answer."""
    record = STRATEGIES.get(name)
    return record if record is not None and record.family != "adaptive" else None


@reuses_prefixes(only_to_share=True)
def probe(problem, policy, *, verifier, max_new_tokens: int = 64) -> Result:
    """The cheap first look: the greedy answer and the verifier's score of it.

    Its ``scores[0]`` (the verifier's belief that the greedy answer is right) predicts how
    hard the problem is for this model before any budget is spent on it; its answer is what
    `compute_optimal` returns for a bin whose allocation says "stop". The PRM shares the
    policy's trunk here as in every strategy (`reuses_prefixes`), so checking costs only its
    own layers.
    """
    check_knobs(max_new_tokens=max_new_tokens, verifier=verifier)
    check_problem(problem, policy)
    ledger = Ledger()
    [[completion]] = policy.sample([policy.format(problem)], n=1, temperature=0.0, seed=0, max_new_tokens=max_new_tokens, ledger=ledger)
    [score] = verifier.score(problem, [completion.text], ledger=ledger)
    score = float(score) if math.isfinite(float(score)) else 0.0
    return make_result(problem, [completion.text], 0, [score], ledger, "probe", {"logprob": completion.logprob})


def difficulty_bin(predictor: dict, *, size: int, score: float | None = None, pass_rate: float | None = None) -> int:
    """The bin a problem falls in under ``predictor`` (a fitted allocation's ``"predictor"``).

    ``{"name": "size", "sizes": [3, 4, 5]}`` bins by the count of numbers (sizes outside
    the list go to the nearest end); ``"probe"`` by the probe's score against ``"edges"``
    (ascending: bin 0 holds scores below the first edge, the lowest); ``"size+probe"`` by
    size, then by score against that size's edges (``"edges"`` is a list per size);
    ``"oracle"`` by the model's own pass rate against ``"edges"`` (known only with an
    answer key: for measuring, not for solving); ``"none"``: one bin.
    """
    name = predictor["name"]
    if name == "none":
        return 0
    sizes = predictor.get("sizes") or [3, 4, 5]
    where = min(range(len(sizes)), key=lambda i: (abs(sizes[i] - size), i))
    if name == "size":
        return where
    if name == "probe":
        return bisect.bisect_right(predictor["edges"], score)
    if name == "size+probe":  # every size gets as many bins as the size with the most
        width = max(len(e) for e in predictor["edges"]) + 1
        return where * width + bisect.bisect_right(predictor["edges"][where], score)
    if name == "oracle":
        return bisect.bisect_right(predictor["edges"], pass_rate)
    raise ValueError(f"unknown difficulty predictor {name!r}; known: {', '.join(PREDICTORS)}")


def uses_probe(predictor: dict) -> bool:
    return predictor["name"] in ("probe", "size+probe")


def read_fitted(table, *, what: str, example: Path, refit: str) -> dict:
    """``table`` (a dict, or a path to its JSON) checked for what every fitted table of plans
    holds (`compute_optimal`'s allocation, the thinker's table): a predictor `difficulty_bin`
    applies without an answer key, bins, candidates, and plans choosing one name per bin.
    ``what`` names the table in the errors, ``example`` is the bundled one, ``refit`` the
    command that fits it again; what the candidates must be, each caller checks."""
    if isinstance(table, (str, Path)):
        try:
            table = json.loads(Path(table).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read the {what} {table}: {error}") from None
    if not isinstance(table, dict):
        raise ValueError(f"the {what} must be a dict (see {example.name}), got {type(table).__name__}")
    missing = [k for k in ("predictor", "candidates", "plans", "bins") if k not in table]
    if missing:
        raise ValueError(f"the {what} lacks {', '.join(missing)} (refit it: {refit})")
    if table["predictor"].get("name") not in PREDICTORS or table["predictor"]["name"] == "oracle":
        raise ValueError(f"the {what}'s predictor must be one of none, size, probe, size+probe; got {table['predictor'].get('name')!r}")
    if not table["plans"]:
        raise ValueError(f"the {what} has no plans (budgets)")
    for plan in table["plans"]:
        if len(plan["choice"]) != len(table["bins"]):
            raise ValueError(
                f"the plan for {plan['flops']:.3g} FLOPs chooses for {len(plan['choice'])} bins, the {what} has {len(table['bins'])}"
            )
    return table


def check_allocation(table) -> dict:
    """``table`` (a dict, or a path to its JSON) checked for what `compute_optimal` reads; a
    ValueError says what is missing."""
    table = read_fitted(table, what="allocation", example=ALLOCATION, refit="python -m tsc experiment ch04-allocation --install")
    for plan in table["plans"]:
        for name in plan["choice"]:
            spec = table["candidates"].get(name)
            if spec is None or (spec["strategy"] != "stop" and follow_up(spec["strategy"]) is None):
                raise ValueError(f"the allocation chooses {name!r}, which is not one of its candidates or not a known strategy")
            if spec["strategy"] == "stop" and not uses_probe(table["predictor"]):
                raise ValueError(
                    f"candidate {name!r} answers with the probe's answer, but the predictor {table['predictor']['name']!r} runs no probe"
                )
    return table


@lru_cache(maxsize=2)
def bundled(path: Path, check: Callable[[Path], dict], what: str, refit: str) -> dict:
    """The fitted table shipped at ``path``, read once per process and checked by ``check``."""
    if not path.exists():
        raise ValueError(f"no fitted {what} at {path}: fit one with {refit}")
    return check(path)


def load_allocation(table=None) -> dict:
    """The bundled fitted allocation (read once per process), or ``table`` (a dict or a path) checked."""
    if table is None:
        return bundled(ALLOCATION, check_allocation, "allocation", "python -m tsc experiment ch04-allocation --install")
    return check_allocation(table)


def check_flops(*, flops=None, allocation=None) -> None:
    """A ValueError unless ``flops`` (None: not checked) is a budget the allocation has a plan for."""
    if flops is not None:
        plan_for(load_allocation(allocation), flops)


def plan_for(table: dict, flops: float) -> dict:
    """The plan with the largest fitted budget not above ``flops`` (a ValueError below the cheapest)."""
    plans = sorted(table["plans"], key=lambda p: p["flops"])
    if not is_real(flops) or flops <= 0:
        raise ValueError(f"flops (mean FLOPs per problem to aim at) must be a positive finite number, e.g. 7e8; got {flops!r}")
    fits = [p for p in plans if p["flops"] <= flops]
    if not fits:
        raise ValueError(
            f"flops={flops:.3g} is below the cheapest fitted plan, {plans[0]['flops']:.3g} FLOPs per problem "
            f"(the least compute_optimal can spend on average); ask for at least that"
        )
    return fits[-1]


def compute_optimal(
    problem,
    policy,
    *,
    flops: float,
    verifier,
    seed: int = 0,
    allocation=None,
    max_new_tokens: int = 64,
) -> Result:
    """Solve ``problem`` with the strategy and budget the fitted allocation gives its
    predicted difficulty, at a mean of at most ``flops`` FLOPs per problem.

    1. Take the allocation's plan for the largest fitted budget not above ``flops``.
    2. Predict the difficulty bin: by the count of numbers, and, if the allocation's
       predictor uses it, by the verifier's score of the greedy answer (`probe`, charged).
    3. Run the strategy the plan gives that bin, with its knobs, the same ``verifier`` and
       ``seed``; "stop" answers with the probe's greedy answer at no further cost.

    ``allocation``: None for the bundled table (fitted for the bundled ``countdown`` policy
    with the ``prm`` verifier; its card says on what), or a dict or path of the same shape.
    The budget holds on average over problems like those it was fitted on, for that policy
    and verifier; ``trace`` records the bin, the choice and the plan's budget.
    """
    table = load_allocation(allocation)
    plan = plan_for(table, flops)
    check_knobs(seed=seed, max_new_tokens=max_new_tokens)
    check_step_verifier(
        "compute_optimal", verifier, f"the process reward model the allocation was fitted with ({table.get('verifier', 'prm')})"
    )
    check_problem(problem, policy)
    # 2. predict the difficulty: size is free; the probe is paid for
    looked = probe(problem, policy, verifier=verifier, max_new_tokens=max_new_tokens) if uses_probe(table["predictor"]) else None
    size = problem.difficulty
    which = difficulty_bin(table["predictor"], size=size, score=looked.scores[0] if looked else None)
    name = plan["choice"][which]
    spec = table["candidates"][name]
    trace = {
        "bin": which,
        "bin_label": table["bins"][which],
        "choice": name,
        "plan_flops": plan["flops"],
        "probe_score": looked.scores[0] if looked else None,
        "fitted_on": {"model": table.get("model"), "verifier": table.get("verifier")},
    }
    if spec["strategy"] == "stop":  # 3. the greedy answer is trusted: spend nothing more
        assert looked is not None  # check_allocation: a "stop" comes with a probe
        return replace(looked, strategy="compute_optimal", trace=trace)
    # 3. the chosen strategy, with the same verifier and seed
    knobs = dict(spec.get("knobs", {}), seed=seed, max_new_tokens=max_new_tokens)
    chosen = STRATEGIES[spec["strategy"]]
    if chosen.needs_verifier:
        knobs["verifier"] = verifier
    result = chosen.run(problem, policy, **knobs)
    ledger = looked.ledger + result.ledger if looked else result.ledger
    return replace(result, ledger=ledger, strategy="compute_optimal", trace=dict(trace, strategy=result.strategy))
