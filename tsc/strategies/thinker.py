"""A compute-optimal thinker: probe, decide, spend, check, and stop or escalate.

Chapters 4, 7 and 8 each built one part of a thinking controller: Chapter 4 spent by
predicted difficulty (`compute_optimal`), Chapter 7 stopped sampling once the answer was
decided (`early_stop`), Chapter 8 looked for information where it was unsure
(`free_energy`). `thinker` puts the three in one loop, per problem:

1. **Probe.** One greedy attempt and the process reward model's score of every step: the
   first attempt of `self_refine`. If every step passes the verifier's ``threshold`` the
   attempt is *accepted* and the thinker stops: most easy problems end here, at the price
   of one attempt.
2. **Decide.** The problem's size (count of numbers) and the probe's score put it in a
   difficulty bin; a table fitted once on development problems gives each bin a plan:
   ``refine`` more rounds of self-refinement and then up to ``samples`` fresh samples.
   The table has one column of plans per mean budget (`plan_for`: the largest fitted budget
   not above ``flops``), fitted so that the mean FLOPs per problem stays within it.
3. **Spend and check.** Refinement rounds continue from the probe (each rewrites from the
   last step the verifier trusts); after each the verifier checks the attempt, and an
   accepted one ends the thinking. Where refinement is stuck, fresh samples are drawn,
   ``window`` at a time, from the problem's own random stream, until one is accepted or the
   plan's samples are spent: a new start rather than more of the same.
4. **Answer** with the candidate the verifier scores highest (its last step's score; the
   earliest on ties), whether or not it was accepted.

Every FLOP is charged (policy and verifier, probe included) to the result's one ledger,
inside the prefix caches as every strategy here runs (`tsc.strategies.reuse`), and
``trace["decisions"]`` logs each decision with what it was based on. `explore` runs the same
loop to its limits and records everything, so `replay` can say what any plan would have done
on a recorded problem without running the model again: that is how the table is fitted
(`tsc.experiments.ch09`). Like every strategy here this module never imports torch.
"""

from __future__ import annotations

from pathlib import Path

from tsc.compute import Ledger
from tsc.core import Policy, Problem, Result, StepVerifier
from tsc.strategies.adaptive import bundled, difficulty_bin, plan_for, read_fitted
from tsc.strategies.base import check_knobs, check_problem, check_step_verifier, is_int, make_result
from tsc.strategies.reuse import reuses_prefixes
from tsc.strategies.sequential import check_threshold, refinements
from tsc.strategies.stopping import draw_more

TABLE = Path(__file__).resolve().parent.parent / "assets" / "thinker" / "policy.json"
THRESHOLD = 0.5  # a step passes when the verifier's score is at least this (self_refine's default)
WINDOW = 4  # fresh samples drawn per round of the escalation


def check_table(table) -> dict:
    """``table`` (a dict, or a path to its JSON) checked for what `thinker` reads; a
    ValueError says what is wrong."""
    table = read_fitted(table, what="thinker table", example=TABLE, refit="python -m tsc experiment ch09-thinker")
    for name, spec in table["candidates"].items():
        if not isinstance(spec, dict) or not all(is_int(spec.get(k)) and spec[k] >= 0 for k in ("refine", "samples")):
            raise ValueError(f"candidate {name!r} must give refine and samples as integers >= 0, got {spec!r}")
    for plan in table["plans"]:
        unknown = [c for c in plan["choice"] if c not in table["candidates"]]
        if unknown:
            raise ValueError(f"the plan for {plan['flops']:.3g} FLOPs chooses {unknown[0]!r}, which is not one of the table's candidates")
    return table


def load_table(table=None) -> dict:
    """The bundled fitted table (read once per process), or ``table`` (a dict or a path) checked."""
    return bundled(TABLE, check_table, "thinker", "python -m tsc experiment ch09-thinker") if table is None else check_table(table)


def check_flops(*, flops=None, table=None) -> None:
    """A ValueError unless ``flops`` (None: not checked) is a budget the table has a plan for."""
    if flops is not None:
        plan_for(load_table(table), flops)


def accepted(step_scores, threshold: float) -> bool:
    """Whether the verifier accepts an attempt: it has steps and every one scores at least ``threshold``."""
    return bool(step_scores) and min(step_scores) >= threshold


def _samples(problem, policy, verifier, *, start: int, count: int, seed: int, max_new_tokens: int, ledger: Ledger) -> list[dict]:
    """Fresh samples ``start .. start+count-1`` of the problem's stream, each scored step by step."""
    row = draw_more(problem, policy, start=start, count=count, temperature=1.0, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    texts = [c.text for c in row]
    scored = verifier.score_steps(problem, texts, ledger=ledger)
    out = []
    for text, steps in zip(texts, scored):
        steps = [float(s) for s in steps][: len(problem.steps(text))]
        out.append({"text": text, "step_scores": steps, "score": steps[-1] if steps else 0.0})
    return out


def _attempts(problem, policy, verifier, *, threshold: float, seed: int, max_new_tokens: int, ledger: Ledger):
    """The probe, then refinement rounds, one per ``next`` (`sequential.refinements`, greedy first)."""
    return refinements(
        problem, policy, verifier=verifier, threshold=threshold, temperature=1.0, first_temperature=0.0,
        seed=seed, max_new_tokens=max_new_tokens, ledger=ledger,
    )  # fmt: skip


def _check(problem, policy, verifier, *, seed, max_new_tokens, threshold, window) -> None:
    check_knobs(seed=seed, max_new_tokens=max_new_tokens)
    check_threshold(threshold)
    if not is_int(window) or window < 1:
        raise ValueError(f"window (fresh samples drawn per round) must be a positive integer, got {window!r}")
    check_step_verifier("thinker", verifier, "the process reward model (prm) its table was fitted with")
    check_problem(problem, policy)


@reuses_prefixes
def thinker(
    problem: Problem,
    policy: Policy,
    *,
    flops: float,
    verifier: StepVerifier,
    seed: int = 0,
    table=None,
    max_new_tokens: int = 64,
) -> Result:
    """Think about ``problem`` as long as it seems to need, at a mean of at most ``flops``
    FLOPs per problem (see the module's docs for the loop).

    ``table``: None for the bundled one (fitted for the ``countdown`` policy with the ``prm``
    verifier; `tsc/assets/thinker/card.json` says on what), or a dict or path of that shape.
    The mean budget holds over problems like those it was fitted on, for that policy and
    verifier; a single problem may cost more or less. ``trace["decisions"]`` lists what was
    done and why; ``trace["bin"]``, ``trace["plan"]`` and ``trace["stopped"]`` (``"probe"``,
    ``"refine"``, ``"samples"``: where a candidate was accepted; ``"plan"``: the plan's
    budget ran out first) summarise it.
    """
    spec_table = load_table(table)
    plan = plan_for(spec_table, flops)
    threshold = float(spec_table.get("threshold", THRESHOLD))
    window = int(spec_table.get("window", WINDOW))
    _check(problem, policy, verifier, seed=seed, max_new_tokens=max_new_tokens, threshold=threshold, window=window)
    ledger = Ledger()
    attempts = _attempts(problem, policy, verifier, threshold=threshold, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    texts: list[str] = []
    scores: list[float] = []
    decisions: list[dict] = []

    def add(text: str, score: float) -> None:
        texts.append(text)
        scores.append(score)

    # 1. probe: the greedy attempt, checked step by step
    first = next(attempts)
    add(first["text"], first["score"])
    size = problem.difficulty
    which = difficulty_bin(spec_table["predictor"], size=size, score=first["score"])
    name = plan["choice"][which]
    spec = spec_table["candidates"][name]
    done = first["first_bad"] is None
    decisions.append({"step": "probe", "score": first["score"], "accepted": done, "flops": ledger.flops})
    stopped = "probe" if done else "plan"
    if not done:  # 2. decide: the plan for this problem's bin
        decisions.append({"step": "plan", "bin": which, "bin_label": spec_table["bins"][which], "choice": name, **spec})
        # 3a. refine: rewrite from the last trusted step, check, stop when accepted
        for _ in range(spec["refine"]):
            attempt = next(attempts)
            add(attempt["text"], attempt["score"])
            done = attempt["first_bad"] is None
            decisions.append({"step": "refine", "score": attempt["score"], "accepted": done, "flops": ledger.flops})
            if done:
                stopped = "refine"
                break
        # 3b. escalate: fresh samples, a window at a time, until one is accepted
        drawn = 0
        while not done and drawn < spec["samples"]:
            count = min(window, spec["samples"] - drawn)
            new = _samples(problem, policy, verifier, start=drawn, count=count, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
            drawn += count
            for sample in new:
                add(sample["text"], sample["score"])
            done = any(accepted(s["step_scores"], threshold) for s in new)
            best = max(s["score"] for s in new)
            decisions.append({"step": "samples", "drawn": drawn, "best_score": best, "accepted": done, "flops": ledger.flops})
            if done:
                stopped = "samples"
    # 4. answer with the best-scored candidate (the earliest on ties)
    chosen = max(range(len(texts)), key=lambda i: (scores[i], -i))
    trace = {
        "bin": which,
        "bin_label": spec_table["bins"][which],
        "plan": name,
        "plan_flops": plan["flops"],
        "stopped": stopped,
        "decisions": decisions,
        "fitted_on": {"model": spec_table.get("model"), "verifier": spec_table.get("verifier")},
    }
    return make_result(problem, texts, chosen, scores, ledger, "thinker", trace)


def explore(
    problem: Problem,
    policy: Policy,
    *,
    verifier: StepVerifier,
    refine: int,
    samples: int,
    seed: int = 0,
    threshold: float = THRESHOLD,
    window: int = WINDOW,
    max_new_tokens: int = 64,
) -> dict:
    """What `thinker` could see on ``problem``, recorded to its limits: the probe and up to
    ``refine`` refinement rounds (stopping at an accepted attempt, as the thinker would), and
    ``samples`` fresh samples in windows. Each attempt records its score, acceptance,
    correctness and the FLOPs spent up to it; each window the FLOPs it cost. `replay` then
    gives any plan's answer and cost from the record alone (the fitting data of the table).

    The windows are drawn in a second pass that starts again from the probe, because what a
    window costs depends on what the caches already hold (a reward model that has scored
    refinements of the same prompt reads fresh samples of it more cheaply): recorded right
    after the probe, a window's cost is what a plan without refinement pays, and at least what
    one after refinement pays, so a replayed plan never spends less than it would live."""
    _check(problem, policy, verifier, seed=seed, max_new_tokens=max_new_tokens, threshold=threshold, window=window)
    record = {"size": problem.difficulty}
    record["attempts"] = _record_refinements(
        problem, policy, verifier=verifier, refine=refine, seed=seed, threshold=threshold, max_new_tokens=max_new_tokens
    )
    record["windows"] = _record_windows(
        problem, policy, verifier=verifier, samples=samples, seed=seed, threshold=threshold, window=window, max_new_tokens=max_new_tokens
    )
    return record


@reuses_prefixes
def _record_refinements(problem, policy, *, verifier, refine: int, seed: int, threshold: float, max_new_tokens: int) -> list[dict]:
    ledger = Ledger()
    attempts = _attempts(problem, policy, verifier, threshold=threshold, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    out = []
    for _ in range(refine + 1):
        attempt = next(attempts)
        done = attempt["first_bad"] is None
        correct = bool(problem.check(attempt["text"]))
        out.append({"score": round(attempt["score"], 6), "accepted": done, "correct": correct, "flops": int(ledger.flops)})
        if done:
            break
    return out


@reuses_prefixes
def _record_windows(
    problem, policy, *, verifier, samples: int, seed: int, threshold: float, window: int, max_new_tokens: int
) -> list[dict]:
    ledger = Ledger()
    attempts = _attempts(problem, policy, verifier, threshold=threshold, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
    next(attempts)  # the probe, as the thinker reads it before any fresh sample
    out, drawn = [], 0
    while drawn < samples:
        count = min(window, samples - drawn)
        before = ledger.flops
        new = _samples(problem, policy, verifier, start=drawn, count=count, seed=seed, max_new_tokens=max_new_tokens, ledger=ledger)
        drawn += count
        out.append(
            {
                "flops": int(ledger.flops - before),
                "scores": [round(s["score"], 6) for s in new],
                "accepted": [accepted(s["step_scores"], threshold) for s in new],
                "correct": [bool(problem.check(s["text"])) for s in new],
            }
        )
    return out


def replay(record: dict, *, refine: int, samples: int) -> tuple[bool, int]:
    """Whether `thinker` with the plan (``refine``, ``samples``) would have answered the
    recorded problem (`explore`) correctly, and the FLOPs it would have spent."""
    attempts = record["attempts"]
    used = attempts[: 1 + refine]
    if len(used) < 1 + refine and not used[-1]["accepted"]:
        raise ValueError(f"the record holds {len(attempts) - 1} refinement rounds, the plan asks for {refine}")
    spent = used[-1]["flops"]
    candidates = [(a["score"], a["correct"]) for a in used]
    done = used[-1]["accepted"]
    drawn = 0
    for window in record["windows"]:
        if done or drawn >= samples:
            break
        take = min(len(window["scores"]), samples - drawn)
        if take < len(window["scores"]):
            raise ValueError(f"a plan's samples ({samples}) must be a multiple of the recorded window ({len(window['scores'])})")
        drawn += take
        spent += window["flops"]
        candidates += list(zip(window["scores"], window["correct"]))
        done = any(window["accepted"])
    if not done and drawn < samples:
        raise ValueError(f"the record holds {drawn} fresh samples, the plan asks for {samples}")
    best = max(range(len(candidates)), key=lambda i: (candidates[i][0], -i))
    return bool(candidates[best][1]), int(spent)


__all__ = ["accepted", "check_table", "explore", "load_table", "replay", "thinker"]
