"""Checkers for the exercises of Chapter 6, Self-Refinement and Verification."""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, registers_selftest, rejects, run_cases, show

# --- Exercise 6.1: one score from a process reward model's step scores ---------------------

AGGREGATE_CASES: list[tuple[list[float], str, float]] = [
    ([0.9, 0.8, 0.95], "min", 0.8),
    ([0.9, 0.8, 0.95], "last", 0.95),
    ([0.9, 0.8, 0.95], "product", 0.9 * 0.8 * 0.95),
    ([0.2], "min", 0.2),
    ([0.2], "last", 0.2),
    ([0.2], "product", 0.2),
    ([0.99, 0.1, 0.99, 0.99], "min", 0.1),
    ([0.99, 0.1, 0.99, 0.99], "last", 0.99),
    ([0.5, 0.5, 0.5, 0.5], "product", 0.0625),
    ([0.3, 0.8, 0.9], "min", 0.3),  # the weakest step is the first
    ([0.9, 0.8, 0.4], "min", 0.4),  # ... or the last: every step counts
    ([0.5, 0.9, 0.4], "product", 0.18),
    ([], "min", 0.0),
    ([], "last", 0.0),
    ([], "product", 0.0),
]


def _aggregate_hint(scores: list[float], how: str, got: float) -> str:
    if not scores:
        why = " (math.prod of nothing is 1)" if got == 1 else ""
        return f" A completion with no steps has nothing to vouch for it: score it 0{why}."
    mean = sum(scores) / len(scores)
    left_out = []
    if len(scores) > 1:
        left_out = [(scores[1:], " It leaves the first step out: every step counts, the first included."),
                    (scores[:-1], " It leaves the last step out: the step that gives the answer counts too.")]  # fmt: skip
    slips = {
        "last": [(scores[0], " The last step's score is step_scores[-1], not the first."), (min(scores), " 'last' is not the lowest.")],
        "min": [(min(part), why) for part, why in left_out]
        + [(scores[-1], " 'min' is the lowest step score, not the last."), (max(scores), " 'min' is the lowest, not the highest.")],
        "product": [(math.prod(part), why) for part, why in left_out]
        + [(mean, " 'product' multiplies the step scores; that is their mean."), (min(scores), " 'product' multiplies them all.")],
    }
    return next((why for slip, why in slips.get(how, []) if abs(got - slip) < 1e-9), "")


def check_aggregate(fn: Callable) -> Feedback:
    """Compare a student's ``fn(step_scores, how)`` with min / last / product aggregation
    (0.0 for a completion with no steps)."""

    def raised(case: tuple, error: str) -> str:
        scores, how, _ = case
        hint = " An attempt with no steps has nothing to vouch for it: check for an empty list first and return 0." if not scores else ""
        return f"aggregate({scores}, {how!r}) raised {error}.{hint}"

    results = run_cases(fn, "aggregate(step_scores, how)", AGGREGATE_CASES, arguments=lambda case: (list(case[0]), case[1]), raised=raised)
    if isinstance(results, Feedback):
        return results
    for (scores, how, expected), value in zip(AGGREGATE_CASES, results):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"aggregate({scores}, {how!r}) should return one number; got {show(value)}.")
        if abs(number - expected) > 1e-9:
            return Feedback(
                "incorrect",
                f"aggregate({scores}, {how!r}): expected {expected:.4g}, got {number:.4g}.{_aggregate_hint(scores, how, number)}",
            )
    return Feedback(
        "correct", f"Correct on all {len(AGGREGATE_CASES)} cases: min, last and product, the weakest step first or last, and no steps."
    )


# --- Exercise 6.2: the area under the ROC curve ---------------------------------------------


def _auc_cases() -> list[tuple[list[float], list[bool]]]:
    import random

    rng = random.Random(6)
    cases = [
        ([0.9, 0.8, 0.3, 0.1], [True, True, False, False]),  # perfect ranking: 1.0
        ([0.1, 0.3, 0.8, 0.9], [True, True, False, False]),  # reversed: 0.0
        ([0.5, 0.5, 0.5, 0.5], [True, False, True, False]),  # all tied: 0.5
        ([0.7, 0.7, 0.2], [True, False, False]),  # one tie between classes counts half
    ]
    for size in (10, 40):
        labels = [rng.random() < 0.4 for _ in range(size)]
        labels[0], labels[1] = True, False
        cases.append(([round(rng.random(), 1) for _ in range(size)], labels))  # rounding makes ties
    cases.append(([0.9, 0.2, 0.4], [False, False, False]))  # no correct sample: nan
    cases.append(([0.3, 0.6], [True, True]))  # no wrong sample: nan
    return cases


def _auc_hint(scores: list[float], labels: list[bool], got: float) -> str:
    positives = [x for x, y in zip(scores, labels) if y]
    negatives = [x for x, y in zip(scores, labels) if not y]
    pairs = len(positives) * len(negatives)
    wins = sum(p > n for p in positives for n in negatives)
    ties = sum(p == n for p in positives for n in negatives)
    slips = [
        (wins / pairs, " Count a tie between a correct and a wrong sample as half a win; here ties counted nothing."),
        ((wins + ties) / pairs, " A tie counts half a win, not a whole one."),
        (1 - (wins + 0.5 * ties) / pairs, " Labels True are the positives: this is the AUC with the classes swapped."),
        (
            (wins + 0.5 * ties) / max(1, len(scores) * (len(scores) - 1) / 2),
            " Divide by the number of (correct, wrong) pairs, not all pairs.",
        ),
        ((wins + 0.5 * ties) / len(scores), " Divide by the number of (correct, wrong) pairs, not the number of samples."),
    ]
    return next((why for slip, why in slips if abs(got - slip) < 1e-9), "")


def check_auc(fn: Callable) -> Feedback:
    """Compare a student's ``fn(scores, labels)`` with the AUC (ties count half)."""
    from tsc.analysis import auc

    cases = _auc_cases()
    results = run_cases(
        fn,
        "auc(scores, labels)",
        cases,
        arguments=lambda case: (list(case[0]), list(case[1])),
        raised=lambda case, error: f"auc({case[0][:4]}..., {case[1][:4]}...) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
    for (scores, labels), value in zip(cases, results):
        shown = f"scores {scores}, labels {[int(x) for x in labels]}" if len(scores) <= 6 else f"{len(scores)} scores"
        one_class = all(labels) or not any(labels)
        if one_class:
            is_nan = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isnan(float(value))
            if not is_nan:
                missing = "wrong" if all(labels) else "correct"
                why = f"with no {missing} sample there is no pair to rank, so the AUC is undefined: return float('nan')"
                return Feedback("incorrect", f"For {shown} expected nan, got {show(value)}: {why}.")
            continue
        number = as_number(value)
        expected = auc(scores, labels)
        if number is None:
            return Feedback("incorrect", f"For {shown} expected one number between 0 and 1; got {show(value)}.")
        if abs(number - expected) > 1e-9:
            return Feedback("incorrect", f"For {shown} expected {expected:.4f}, got {number:.4f}.{_auc_hint(scores, labels, number)}")
    return Feedback("correct", f"Correct on all {len(cases)} cases, ties and the undefined (nan) cases included.")


# --- Exercise 6.3: the weighted vote ---------------------------------------------------------

WEIGHTED_CASES: list[tuple[list, list[float], int | None, str]] = [
    (["a", "b", "a", "c"], [0.1, 0.9, 0.1, 0.3], 1, "one trusted sample outweighs two doubted ones"),
    (["a", "b", "a", "a"], [0.4, 0.9, 0.4, 0.4], 0, "three samples at 0.4 outweigh one at 0.9 (the first of equal members)"),
    (["a", "a", "b"], [0.2, 0.7, 0.8], 1, "the winning key's best-scored member is returned"),
    ([None, "b", None], [0.9, 0.1, 0.9], 1, "a malformed sample (key None) has no vote"),
    ([None, None], [0.5, 0.5], None, "no sample has a key: no answer"),
    (["x", "y"], [0.5, 0.5], 0, "a tie between keys goes to the key seen first"),
]


def _vote(keys: list, scores: list[float], *, weighted: bool = True, best_member: bool = True, none_votes: bool = False):
    """The weighted vote, or one of its common slips (for naming a wrong answer)."""
    weights: dict = {}
    for key, score in zip(keys, scores):
        if key is not None or none_votes:
            weights[key] = weights.get(key, 0.0) + (score if weighted else 1.0)
    if not weights:
        return None
    winner = max(weights, key=weights.get)
    members = [i for i, key in enumerate(keys) if key == winner]
    return max(members, key=lambda i: (scores[i], -i)) if best_member else members[0]


def _weighted_hint(keys: list, scores: list[float], got: int) -> str:
    if not 0 <= got < len(keys):
        return " Return the index of a sample."
    if keys[got] is None:
        return " A malformed sample (key None) does not vote and cannot be chosen."
    slips = [
        (
            max(range(len(scores)), key=lambda i: (scores[i], -i)),
            " That is best-of-N: the vote adds up the scores of every sample with the same key first.",
        ),
        (
            _vote(keys, scores, weighted=False),
            " That is the plain majority: each sample should vote with its score as its weight, not with 1.",
        ),
        (_vote(keys, scores, best_member=False), " Return the winning key's highest-scored member, not its first."),
        (_vote(keys, scores, none_votes=True), " A malformed sample (key None) does not vote and cannot be chosen."),
    ]
    expected = _vote(keys, scores)
    return next((why for slip, why in slips if slip == got and slip != expected), "")


def check_weighted_vote(fn: Callable) -> Feedback:
    """Compare a student's ``fn(keys, scores) -> index or None`` with the weighted vote."""
    results = run_cases(
        fn,
        "weighted_vote(keys, scores)",
        WEIGHTED_CASES,
        arguments=lambda case: (list(case[0]), list(case[1])),
        raised=lambda case, error: f"weighted_vote({case[0]}, {case[1]}) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
    for (keys, scores, expected, what), value in zip(WEIGHTED_CASES, results):
        if expected is None:
            if value is not None:
                return Feedback("incorrect", f"weighted_vote({keys}, {scores}): {what}, so expected None; got {show(value)}.")
            continue
        number = as_number(value)
        if number is None or number != int(number):
            return Feedback("incorrect", f"weighted_vote({keys}, {scores}) should return an index (an int); got {show(value)}.")
        if int(number) != expected:
            hint = _weighted_hint(keys, scores, int(number))
            return Feedback("incorrect", f"weighted_vote({keys}, {scores}): {what}; expected index {expected}, got {int(number)}.{hint}")
    return Feedback("correct", f"Correct on all {len(WEIGHTED_CASES)} cases.")


# --- Exercise 6.4 (an experiment): feedback from a verifier that never saw a step label ----


def orm_feedback_reference(seq, attempts: int = 4) -> dict:
    """What Exercise 6.4 asks of ``seq`` (`tsc.experiments.ch06.load_sequential`): per problem,
    self-refinement with the ORM's step scores as feedback minus the same loop with the PRM's
    (both at the threshold chosen on dev), after ``attempts`` attempts, in points, with a 95%
    paired bootstrap interval; and each loop's accuracy and mean FLOPs there."""
    import numpy as np

    from tsc.analysis import bootstrap

    prm_name = f"self-refine, PRM (threshold {seq.threshold})"
    (orm, orm_flops), (prm, prm_flops) = seq.lines["self-refine, ORM"], seq.lines[prm_name]
    mean, low, high = bootstrap(orm[:, attempts - 1] - prm[:, attempts - 1])
    return {
        "difference": (100 * float(mean), 100 * float(low), 100 * float(high)),
        "orm": float(orm[:, attempts - 1].mean()),
        "prm": float(prm[:, attempts - 1].mean()),
        "first": float(prm[:, 0].mean()),
        "orm_gain": tuple(100 * float(x) for x in bootstrap(orm[:, attempts - 1] - orm[:, 0])),  # over its greedy start
        "orm_flops": float(orm_flops[:, attempts - 1].mean()),
        "prm_flops": float(prm_flops[:, attempts - 1].mean()),
        "problems": int(len(orm)),
        # what the usual slips give
        "per_attempt": [100 * float((orm[:, r] - prm[:, r]).mean()) for r in range(orm.shape[1])],
        "unpaired_width": 100 * 2 * 1.96 * float(np.sqrt(orm[:, attempts - 1].var() / len(orm) + prm[:, attempts - 1].var() / len(prm))),
        "other_threshold": (
            100 * float((orm[:, attempts - 1] - seq.lines["self-refine, PRM (threshold 0.5)"][0][:, attempts - 1]).mean())
            if seq.threshold != 0.5 and "self-refine, PRM (threshold 0.5)" in seq.lines
            else None
        ),
    }


def check_orm_feedback(answer, *, seq, attempts: int = 4) -> Feedback:
    """Is ``answer`` (mean, low, high) the ORM loop minus the PRM loop after ``attempts``
    attempts, in points, paired by problem with a 95% bootstrap interval? Names the usual
    slips: a fraction for points, the difference the wrong way round, another number of
    attempts, one loop's accuracy instead of the difference, an unpaired interval."""
    if answer is None:
        return NOT_ATTEMPTED
    try:
        values = [as_number(v) for v in answer]
    except TypeError:
        values = [None]
    if len(values) != 3 or any(v is None for v in values):
        return Feedback("incorrect", f"Expected three numbers, (mean, low, high) from tsc.analysis.bootstrap; got {show(answer)}.")
    mean, low, high = values
    ref = orm_feedback_reference(seq, attempts)
    want, want_low, want_high = ref["difference"]
    close = lambda a, b, tol=1e-6: abs(a - b) < tol  # noqa: E731
    if close(mean, want):
        if not low <= mean <= high:
            return Feedback("incorrect", f"The mean {mean:.2f} is right, but an interval ({low:.2f}, {high:.2f}) must contain it.")
        width, want_width = high - low, want_high - want_low
        if width > 1.4 * want_width and abs(width - ref["unpaired_width"]) < abs(width - want_width):
            return Feedback(
                "incorrect",
                f"The mean is right, but the interval ({low:.1f} to {high:.1f}) treats the two loops as independent: both ran on "
                "the same problems from the same greedy start, so bootstrap the per-problem differences (a paired interval).",
            )
        if abs(low - want_low) > 1.5 or abs(high - want_high) > 1.5:
            return Feedback(
                "incorrect",
                f"The mean is right; expected an interval near {want_low:.1f} to {want_high:.1f}, got {low:.1f} to {high:.1f}: "
                "bootstrap the per-problem differences (tsc.analysis.bootstrap) and give the bounds in points.",
            )
        return Feedback(
            "correct",
            f"Correct: after {attempts} attempts the ORM's feedback solved {ref['orm']:.1%} and the PRM's {ref['prm']:.1%} of "
            f"{ref['problems']} problems, a paired difference of {want:+.1f} points ({want_low:.1f} to {want_high:.1f}).",
        )
    slips = [
        (want / 100, "That is a fraction: give the difference in percentage points (times 100)."),
        (-want, "That is the difference the wrong way round (the PRM loop minus the ORM loop): take the ORM's minus the PRM's."),
        (100 * ref["orm"], "That is the ORM loop's accuracy alone: subtract the PRM loop's on the same problems."),
        (ref["orm"], "That is the ORM loop's accuracy alone (as a fraction): subtract the PRM loop's, in points."),
    ]
    slips += [
        (value, f"That is the difference after {r + 1} attempt{'s' if r else ''}: column {attempts - 1} holds {attempts} attempts.")
        for r, value in enumerate(ref["per_attempt"])
        if r != attempts - 1
    ]
    if ref["other_threshold"] is not None:
        why = f"That compares with the PRM loop at threshold 0.5: use the one at {seq.threshold}, as the ORM's."
        slips.append((ref["other_threshold"], why))
    hint = next((why for value, why in slips if close(mean, value) and not close(value, want)), "")
    if not hint:
        hint = "Subtract the two loops' columns for four attempts, problem by problem, then bootstrap the differences."
    return Feedback("incorrect", f"Expected a mean difference of {want:.2f} points, got {mean:.2f}. {hint}")


# --- Self-tests: each checker accepts the reference and rejects the mistakes it names ----------


def _aggregate(step_scores, how):
    if not step_scores:
        return 0.0
    return {"min": min, "last": lambda s: s[-1], "product": math.prod}[how](step_scores)


@registers_selftest("ex-6-1")
def _selftest_aggregate() -> None:
    assert check_aggregate(lambda *args, **kwargs: None).status == "not attempted"
    assert check_aggregate(_aggregate).correct
    no_empty = lambda s, how: {"min": min, "last": lambda x: x[-1], "product": math.prod}[how](s)  # noqa: E731
    assert rejects(check_aggregate(no_empty), "empty list")
    assert rejects(check_aggregate(lambda s, how: math.prod(s) if how == "product" else _aggregate(s, how)), "math.prod of nothing is 1")
    assert rejects(check_aggregate(lambda s, how: (s[0] if s else 0.0) if how == "last" else _aggregate(s, how)), "step_scores[-1]")
    skip_last = lambda s, how: (min(s[:-1]) if len(s) > 1 else _aggregate(s, how)) if how == "min" else _aggregate(s, how)  # noqa: E731
    skip_first = lambda s, how: (min(s[1:]) if len(s) > 1 else _aggregate(s, how)) if how == "min" else _aggregate(s, how)  # noqa: E731
    assert rejects(check_aggregate(skip_last), "leaves the last step out")
    assert rejects(check_aggregate(skip_first), "leaves the first step out")


@registers_selftest("ex-6-2")
def _selftest_auc() -> None:
    def variant(scores, labels, *, tie=0.5, empty=float("nan")):
        pos = [s for s, y in zip(scores, labels) if y]
        neg = [s for s, y in zip(scores, labels) if not y]
        if not pos or not neg:
            return empty
        return sum((p > n) + tie * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))

    assert check_auc(lambda *args, **kwargs: None).status == "not attempted"
    assert check_auc(variant).correct
    assert rejects(check_auc(lambda s, y: variant(s, y, tie=0.0)), "tie")
    assert rejects(check_auc(lambda s, y: variant(s, y, tie=1.0)), "not a whole one")
    assert rejects(check_auc(lambda s, y: variant(s, y, empty=0.5)), "nan")


@registers_selftest("ex-6-3")
def _selftest_weighted_vote() -> None:
    assert check_weighted_vote(lambda *args, **kwargs: None).status == "not attempted"
    assert check_weighted_vote(_vote).correct
    assert rejects(check_weighted_vote(lambda k, s: max(range(len(s)), key=s.__getitem__)), "best-of-N")
    assert rejects(check_weighted_vote(lambda k, s: _vote(k, s, weighted=False)), "plain majority")
    assert rejects(check_weighted_vote(lambda k, s: _vote(k, s, best_member=False)), "highest-scored member")
    assert rejects(check_weighted_vote(lambda k, s: _vote(k, s, none_votes=True)), "does not vote")


@registers_selftest("ex-6-4")
def _selftest_orm_feedback(*, seq, attempts: int = 4) -> None:
    ref = orm_feedback_reference(seq, attempts)
    mean, low, high = ref["difference"]
    assert check_orm_feedback(None, seq=seq, attempts=attempts).status == "not attempted"
    assert check_orm_feedback(ref["difference"], seq=seq, attempts=attempts).correct
    assert rejects(check_orm_feedback((mean / 100, low / 100, high / 100), seq=seq, attempts=attempts), "fraction")
    if abs(mean) > 1e-6:
        assert rejects(check_orm_feedback((-mean, -high, -low), seq=seq, attempts=attempts), "wrong way round")
    half = ref["unpaired_width"] / 2
    if ref["unpaired_width"] > 1.4 * (high - low):
        assert rejects(check_orm_feedback((mean, mean - half, mean + half), seq=seq, attempts=attempts), "independent")
    orm = 100 * ref["orm"]
    assert rejects(check_orm_feedback((orm, orm - 5, orm + 5), seq=seq, attempts=attempts), "accuracy alone")
