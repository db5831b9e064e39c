"""Checkers for the exercises of Chapter 8, Test-Time Compute Meets Active Inference."""

from __future__ import annotations

import math
from collections.abc import Callable

from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, call, registers_selftest, rejects, run_cases, show
from tsc.strategies.free_energy import entropy

# --- Exercise 8.1: the expected information gain of an observation ----------------------------

INFO_CASES: list[tuple[list[float], list[list[float]]]] = [
    ([0.5, 0.5], [[2 / 3, 1 / 3], [1 / 3, 2 / 3]]),  # one sample, flat model (the chapter's example)
    ([0.5, 0.5], [[1.0, 0.0], [0.0, 1.0]]),  # a perfect sensor: all of H(s) = ln 2
    ([0.5, 0.5], [[0.5, 0.5], [0.5, 0.5]]),  # pure noise (a "noisy TV"): nothing
    ([0.2, 0.8], [[0.01, 0.05, 0.2, 0.74], [0.3, 0.29, 0.26, 0.15]]),  # the PRM's bins
    ([0.1, 0.6, 0.3], [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.3, 0.3, 0.4]]),
    ([1.0, 0.0], [[0.3, 0.7], [0.9, 0.1]]),  # a certain belief: nothing left to learn
]


def _info(prior: list[float], likelihood: list[list[float]]) -> tuple[float, float, float]:
    """(information gain, predictive entropy, ambiguity) in nats."""
    predictive = [sum(q * row[o] for q, row in zip(prior, likelihood)) for o in range(len(likelihood[0]))]
    ambiguity = sum(q * entropy(row) for q, row in zip(prior, likelihood))
    return entropy(predictive) - ambiguity, entropy(predictive), ambiguity


def check_information_gain(fn: Callable) -> Feedback:
    """Compare a student's ``fn(prior, likelihood)`` with the expected information gain
    I(o; s) = H[q(o)] - E_q(s) H[p(o | s)], in nats."""
    results = run_cases(
        fn,
        "information_gain(prior, likelihood)",
        INFO_CASES,
        arguments=lambda case: (list(case[0]), [list(r) for r in case[1]]),
        raised=lambda case, error: f"information_gain({case[0]}, {case[1]}) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
    for (prior, likelihood), value in zip(INFO_CASES, results):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"information_gain({prior}, ...) should return one number; got {show(value)}.")
        expected, predictive, ambiguity = _info(prior, likelihood)
        if abs(number - expected) <= 1e-6:
            continue
        where = f"For prior {prior} and likelihood {likelihood}: expected {expected:.4f} nats, got {number:.4f}."
        if abs(number - predictive) <= 1e-6:
            return Feedback(
                "incorrect",
                f"{where} That is the entropy of the predicted outcome alone (what risk counts). Subtract the ambiguity, "
                "the expected entropy of p(o | s): an outcome that is random whatever s is teaches nothing.",
            )
        if expected > 1e-9 and abs(number - expected / math.log(2)) <= 1e-6:
            return Feedback("incorrect", f"{where} Your answer is in bits: use natural logarithms (math.log), so it is in nats.")
        if abs(number + expected) <= 1e-6 or abs(number - ambiguity) <= 1e-6:
            return Feedback(
                "incorrect",
                f"{where} Information gain is never negative: it is the predictive entropy MINUS the expected entropy of "
                "p(o | s), not the other way round, nor the ambiguity alone.",
            )
        return Feedback("incorrect", f"{where} Compute q(o) = sum over s of q(s) p(o | s), then H[q(o)] - sum over s of q(s) H[p(o | s)].")
    return Feedback(
        "correct", f"Correct on all {len(INFO_CASES)} cases, from a perfect sensor (ln 2 nats) to pure noise and a certain belief (0)."
    )


# --- Exercise 8.2: the belief after a vote ----------------------------------------------------

POSTERIOR_CASES: list[tuple[list[int], float, float, float]] = [
    ([1], 1.0, 1.0, 1.0),
    ([2], 0.3, 0.6, 4.0),
    ([3, 1], 0.29, 0.27, 12.0),
    ([2, 2], 0.29, 0.27, 12.0),
    ([5, 3, 1, 1], 0.4, 2.2, 25.0),
    ([1, 1, 1], 0.29, 0.27, 1.0),
]


def _reference_posterior(counts: list[int], a: float, b: float, gamma: float) -> list[float]:
    lg, n = math.lgamma, sum(counts)

    def log_w(c):
        beta = lg(a + c) + lg(b + n - c) - lg(a) - lg(b + n)
        return beta + lg(gamma + n) - lg(gamma + n - c) - math.log(gamma) - lg(c)

    logs = [0.0] + [log_w(c) for c in counts]
    top = max(logs)
    w = [math.exp(x - top) for x in logs]
    return [x / sum(w) for x in w]


def _beta_only(counts, a, b):
    lg, n = math.lgamma, sum(counts)
    logs = [0.0] + [lg(a + c) + lg(b + n - c) - lg(a) - lg(b + n) for c in counts]
    w = [math.exp(x - max(logs)) for x in logs]
    return [x / sum(w) for x in w]


def check_posterior(fn: Callable) -> Feedback:
    """Compare a student's ``fn(counts, a, b, gamma)`` with the answer model's exact belief:
    [P(something else), P(candidate 1), ...]."""
    results = run_cases(
        fn,
        "posterior(counts, a, b, gamma)",
        POSTERIOR_CASES,
        arguments=lambda case: (list(case[0]), *case[1:]),
        raised=lambda case, error: f"posterior({case[0]}, {case[1]}, {case[2]}, {case[3]}) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
    for (counts, a, b, gamma), value in zip(POSTERIOR_CASES, results):
        call_text = f"posterior({counts}, a={a}, b={b}, gamma={gamma})"
        try:
            numbers = [as_number(x) for x in value]
        except TypeError:
            numbers = [None]
        if not numbers or any(x is None for x in numbers):
            return Feedback("incorrect", f"{call_text} should return a list of numbers; got {show(value)}.")
        expected = _reference_posterior(counts, a, b, gamma)
        if len(numbers) == len(counts):
            return Feedback(
                "incorrect",
                f"{call_text} returned {len(numbers)} numbers; expected {len(expected)}: first P(something else), the "
                "hypothesis that the right answer has not been seen yet, then one per candidate.",
            )
        if len(numbers) != len(expected):
            return Feedback("incorrect", f"{call_text}: expected {len(expected)} probabilities, got {len(numbers)}.")
        if all(abs(x - y) <= 1e-6 for x, y in zip(numbers, expected)):
            continue
        shown = "[" + ", ".join(f"{x:.3f}" for x in numbers) + "]"
        want = "[" + ", ".join(f"{x:.3f}" for x in expected) + "]"
        if abs(sum(numbers) - 1) > 1e-6:
            return Feedback("incorrect", f"{call_text}: your probabilities sum to {sum(numbers):.4f}, not 1. Normalise the weights.")
        share = [0.0] + [c / sum(counts) for c in counts]
        if all(abs(x - y) <= 1e-6 for x, y in zip(numbers, share)):
            return Feedback(
                "incorrect",
                f"{call_text}: {shown} is the vote share, not a belief. A sample is right only with chance rho ~ Beta(a, b), "
                "and the right answer may not have been sampled yet: use the weights of the formula.",
            )
        if all(abs(x - y) <= 1e-6 for x, y in zip(numbers, _beta_only(counts, a, b))):
            return Feedback(
                "incorrect",
                f"{call_text}: expected {want}, got {shown}. You kept the Beta part and dropped the Dirichlet-process "
                "factor Gamma(gamma+N) / (Gamma(gamma+N-c) gamma Gamma(c)): how likely c wrong samples are to agree.",
            )
        return Feedback("incorrect", f"{call_text}: expected {want}, got {shown}.")
    return Feedback("correct", f"Correct on all {len(POSTERIOR_CASES)} vote counts: your belief matches the answer model's.")


# --- Exercise 8.3: a stopping rule of your own ----------------------------------------------


def _rule_table() -> tuple[list, int]:
    """Held-out arithmetic questions from the chapter's experiment: per question the answer
    key (a letter) of each of its 16 samples (None: malformed), the right key and tokens."""
    import json

    from tsc.experiments import path_of

    record = json.loads(path_of("ch08_arithmetic").read_text(encoding="utf-8"))["data"]["rule_table"]
    rows = []
    for keys, right, tokens in zip(record["keys"], record["right"], record["tokens"]):
        rows.append(([None if k == "." else k for k in keys], right, tokens))
    return rows, record["n"]


def run_rule(rule: Callable, rows: list, n: int) -> tuple[float, float, str | None]:
    """(accuracy, mean samples, error) of majority voting that stops when ``rule(counts,
    remaining)`` says so: ``counts`` the votes per answer so far (most first), ``remaining``
    the samples left; at ``remaining == 0`` it stops anyway."""
    from tsc.votes import majority_choice

    right_total = samples_total = 0
    for keys, right, _ in rows:
        used = n
        for k in range(n + 1):
            votes: dict[str, int] = {}
            for key in keys[:k]:
                if key is not None:
                    votes[key] = votes.get(key, 0) + 1
            counts = sorted(votes.values(), reverse=True)
            if k == n:
                break
            stop, error = call(rule, list(counts), n - k)
            if error:
                return 0.0, 0.0, f"your rule raised {error} on counts={counts}, remaining={n - k}"
            if not isinstance(stop, bool) and type(stop).__name__ != "bool_":
                return 0.0, 0.0, f"your rule returned {show(stop)} on counts={counts}; it should return True (stop) or False"
            if stop:
                used = k
                break
        chosen = majority_choice(keys[:used])
        right_total += chosen is not None and keys[chosen] == right
        samples_total += used
    return right_total / len(rows), samples_total / len(rows), None


# vote counts (most first) that a stopping rule should tell apart: a rule that answers the same
# for all of them at every number of samples left ignores the votes
PROBE_COUNTS = ([], [1], [2], [1, 1], [3], [2, 1], [1, 1, 1], [4], [3, 1], [2, 2], [6], [3, 3], [1, 1, 1, 1, 1, 1])


def ignores_votes(rule: Callable, n: int) -> bool:
    """Whether ``rule(counts, remaining)`` decides by ``remaining`` alone on the probes: a fixed
    budget (majority of k) dressed as a stopping rule. A rule that raises is not judged here."""
    for remaining in range(1, n + 1):
        answers = set()
        for counts in PROBE_COUNTS:
            if sum(counts) > n - remaining:
                continue
            value, error = call(rule, list(counts), remaining)
            if error:
                return False
            answers.add(bool(value))
        if len(answers) > 1:
            return False
    return True


def check_stopping_rule(rule: Callable) -> Feedback:
    """Run a student's ``rule(counts, remaining)`` on a dev split of the chapter's arithmetic
    questions (stratified by size, from the training questions: never the held-out ones);
    correct if it is within 1.5 points of majority voting over all 16 samples with at most
    half the samples (the chapter's target for the controller), and if it reads the votes
    (a fixed number of samples is a budget, not a stopping rule)."""
    if rule is None:
        return NOT_ATTEMPTED
    if not callable(rule):
        return Feedback("incorrect", f"Expected a function rule(counts, remaining) -> bool; got {show(rule)}.")
    first, error = call(rule, [1], 15)
    if error is None and first is None:
        return NOT_ATTEMPTED
    try:
        rows, n = _rule_table()
    except (OSError, ValueError, KeyError):
        return Feedback("incorrect", "The stored experiment ch08_arithmetic is missing: run `python -m tsc experiment ch08_arithmetic`.")
    accuracy, samples, error = run_rule(rule, rows, n)
    if error:
        return Feedback("incorrect", f"{error}. Before the first sample counts is [] (an empty list): handle it.")
    full, _, _ = run_rule(lambda counts, remaining: False, rows, n)
    summary = f"your rule: {accuracy:.1%} right with {samples:.1f} samples per question; majority of {n}: {full:.1%} with {n}"
    if samples <= 1.0 + 1e-9:
        return Feedback("incorrect", f"{summary}. It stops after at most one sample: one sample is no vote. Wait for agreement.")
    if samples >= n - 1e-9:
        return Feedback("incorrect", f"{summary}. It never stops early, so it saves nothing: stop once the leader is safely ahead.")
    if ignores_votes(rule, n):
        return Feedback(
            "incorrect",
            f"{summary}. It stops after the same number of samples whatever the votes say: that is a fixed budget (majority "
            "of k), not a stopping rule. Let the counts decide.",
        )
    if accuracy < full - 0.015:
        return Feedback("incorrect", f"{summary}: more than 1.5 points worse. It stops too soon: ask for a bigger lead.")
    if samples > n / 2:
        return Feedback("incorrect", f"{summary}: accurate enough, but more than half the samples ({n // 2}). Stop sooner.")
    return Feedback("correct", f"{summary}: within 1.5 points with at most half the samples.")


__all__ = ["check_information_gain", "check_posterior", "check_stopping_rule", "run_rule"]


# --- self-tests: each checker accepts the reference, rejects the mistakes it names ------------


def reference_information_gain(prior, likelihood):
    def entropy(p):
        return -sum(x * math.log(x) for x in p if x > 0)

    predictive = [sum(q * row[o] for q, row in zip(prior, likelihood)) for o in range(len(likelihood[0]))]
    return entropy(predictive) - sum(q * entropy(row) for q, row in zip(prior, likelihood))


def reference_posterior(counts, a, b, gamma):
    return _reference_posterior(list(counts), a, b, gamma)


def reference_rule(counts, remaining):
    votes = counts + [0, 0]
    return votes[0] - votes[1] >= 2


@registers_selftest("ex-8-1")
def _selftest_information_gain() -> None:
    assert check_information_gain(lambda *args, **kwargs: None).status == "not attempted"
    assert check_information_gain(reference_information_gain).correct
    assert rejects(check_information_gain(lambda p, lk: reference_information_gain(p, lk) / math.log(2)), "bits")
    predictive = lambda p, lk: _info(p, lk)[1]  # noqa: E731 (risk without the ambiguity)
    assert rejects(check_information_gain(predictive), "ambiguity")


@registers_selftest("ex-8-2")
def _selftest_posterior() -> None:
    assert check_posterior(lambda *args, **kwargs: None).status == "not attempted"
    assert check_posterior(reference_posterior).correct
    assert rejects(check_posterior(lambda c, a, b, g: [0.0] + [x / sum(c) for x in c]), "vote share")
    assert rejects(check_posterior(lambda c, a, b, g: _beta_only(c, a, b)), "Dirichlet")


@registers_selftest("ex-8-3")
def _selftest_stopping_rule() -> None:
    assert check_stopping_rule(lambda *args, **kwargs: None).status == "not attempted"
    assert check_stopping_rule(reference_rule).correct
    assert rejects(check_stopping_rule(lambda counts, remaining: True), "one sample")
    assert rejects(check_stopping_rule(lambda counts, remaining: remaining <= 8), "fixed budget")
    assert rejects(check_stopping_rule(lambda counts, remaining: False), "never stops")
