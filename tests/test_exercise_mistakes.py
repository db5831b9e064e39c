"""For every exercise of Chapters 1, 5 and 6: the reference solution passes, and the three
wrong answers a student is most likely to write are rejected with a message that points at
the mistake (not only "expected x, got y")."""

from __future__ import annotations

import math
import re

import pytest

from tsc.analysis import pass_at_k
from tsc.exercises import (
    check_aggregate,
    check_auc,
    check_beam_keep,
    check_pass_at_k,
    check_puct,
    check_reencoded,
    check_samples_needed,
    check_verifier,
    check_weighted_vote,
)

# --- Chapter 1 ---------------------------------------------------------------------------------


def _product_pass_at_k(n, c, k):
    if n - c < k:
        return 1.0
    return 1 - math.prod(1 - k / i for i in range(n - c + 1, n + 1))


@pytest.mark.parametrize(
    "wrong, points_at",
    [
        (lambda n, c, k: 1 - (1 - c / n) ** k, "plug-in estimate"),
        (lambda n, c, k: 1 - math.prod(1 - k / i for i in range(n - c, n + 1)) if n - c >= k else 1.0, "exactly c factors"),
        (lambda n, c, k: math.comb(n - c, k) / math.comb(n, k), "pass@k is one minus it"),
        (lambda n, c, k: min(1.0, k * c / n), "overcounts"),
        (
            lambda n, c, k: (
                1 - math.gamma(n - c + 1) / math.gamma(n - c - k + 1) * math.gamma(n - k + 1) / math.gamma(n + 1) if n - c >= k else 1.0
            ),
            "product form",
        ),
    ],
    ids=["plug-in", "off-by-one", "failure-probability", "union-bound", "float-overflow"],
)
def test_ex_1_1_likely_mistakes_are_named(wrong, points_at):
    assert check_pass_at_k(_product_pass_at_k).correct
    feedback = check_pass_at_k(wrong)
    assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message


def test_ex_1_1_includes_n_1000():
    slow_but_exact = lambda n, c, k: 1 - math.comb(n - c, k) / math.comb(n, k)  # noqa: E731
    assert check_pass_at_k(slow_but_exact).correct  # Python's integers are exact, only slower
    seen = []
    check_pass_at_k(lambda n, c, k: seen.append(n) or pass_at_k(n, c, k))
    assert 1000 in seen


LAW = {"a": -1.2, "b": 0.45, "goal": 0.95}


@pytest.mark.parametrize(
    "wrong, points_at",
    [
        (lambda g, a, b: (math.log(g) / a) ** (1 / b), "exponent is -1/b"),
        (lambda g, a, b: (math.log10(g) / a) ** (-1 / b), "natural logarithm"),
        (lambda g, a, b: (g / a) ** (-1 / b), "log of the goal first"),
        (lambda g, a, b: 64, "largest k measured"),
    ],
    ids=["exponent-sign", "log10", "one-log-only", "the-last-measured-k"],
)
def test_ex_1_2_likely_mistakes_are_named(wrong, points_at):
    g, a, b = LAW["goal"], LAW["a"], LAW["b"]
    assert check_samples_needed((math.log(g) / a) ** (-1 / b), **LAW).correct
    feedback = check_samples_needed(wrong(g, a, b), **LAW)
    assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message


def test_ex_1_2_an_approximate_logarithm_inside_the_tolerance_is_still_named():
    """ln(goal) ≈ goal − 1 lands within 5 % of the answer for a steep law: the named slip is
    tested before the tolerance, so it is rejected, while a rounded answer is accepted."""
    law = {"a": -1.2, "b": 0.9, "goal": 0.95}
    exact = (math.log(0.95) / -1.2) ** (-1 / 0.9)
    approximate = ((0.95 - 1) / -1.2) ** (-1 / 0.9)
    assert abs(approximate - exact) < 0.05 * exact  # within the tolerance ...
    feedback = check_samples_needed(approximate, **law)
    assert feedback.status == "incorrect" and "goal - 1" in feedback.message, feedback.message  # ... and still named
    assert check_samples_needed(round(exact), **law).correct and check_samples_needed(math.ceil(exact), **law).correct


STEP = re.compile(r"^\s*(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)\s*$")
NO_INNER_SPACES = re.compile(r"^(\d+)([-+*/])(\d+)=(\d+)$")


def _verify(numbers, target, text, *, arithmetic=True, all_used=True, available=True, floor=False, absolute=False, guard=True, spaces=True):
    body = text.split(".", 1)[0]
    if not body.strip():
        return False
    pool = list(numbers)
    for part in body.split(","):
        match = STEP.match(part) if spaces else NO_INNER_SPACES.match(part.strip())
        if match is None:
            return False
        left, op, right, result = int(match[1]), match[2], int(match[3]), int(match[4])
        for operand in (left, right):
            if operand in pool:
                pool.remove(operand)
            elif available:
                return False
        difference = abs(left - right) if absolute else left - right if left >= right else None
        value = {"+": left + right, "*": left * right, "-": difference}.get(op)
        if op == "/":
            if floor:
                value = left // right if right else None
            elif not guard:
                value = left // right if left % right == 0 else None  # ZeroDivisionError on 7/0
            else:
                value = left // right if right and left % right == 0 else None
        if arithmetic and value != result:
            return False
        pool.append(result)
    return pool == [target] if all_used else result == target


@pytest.mark.parametrize(
    "wrong, points_at",
    [
        (lambda n, t, x: _verify(n, t, x, arithmetic=False), "Redo each step's arithmetic"),
        (lambda n, t, x: _verify(n, t, x, all_used=False), "Every given number must be used"),
        (lambda n, t, x: _verify(n, t, x, available=False), "only use numbers currently available"),
        (lambda n, t, x: _verify(n, t, x, floor=True), "Floor division"),
        (lambda n, t, x: _verify(n, t, x, absolute=True), "absolute value"),
        (lambda n, t, x: _verify(n, t, x, guard=False), "guard against dividing by zero"),
        (lambda n, t, x: _verify(n, t, x, spaces=False), "inside a step too"),
    ],
    ids=[
        "no-arithmetic-check",
        "numbers-left-unused",
        "operands-not-on-the-table",
        "floor-division",
        "absolute-subtraction",
        "no-zero-guard",
        "no-spaces-inside-a-step",
    ],
)
def test_ex_1_3_likely_mistakes_are_named(wrong, points_at):
    assert check_verifier(_verify).correct
    feedback = check_verifier(wrong)
    assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message


# --- Chapter 5 ---------------------------------------------------------------------------------


def _puct(q, p, n, c, k):
    return q + k * p * math.sqrt(n) / (1 + c)


@pytest.mark.parametrize(
    "wrong, points_at",
    [
        (lambda q, p, n, c, k: q + k * p * n / (1 + c), "square root"),
        (lambda q, p, n, c, k: q + k * p * math.sqrt(n) / max(c, 1), "1 + child visits"),
        (lambda q, p, n, c, k: q + k * math.sqrt(n) / (1 + c), "prior P(s, a) multiplies"),
        (lambda q, p, n, c, k: k * (q + p * math.sqrt(n) / (1 + c)), "c_puct scales only"),
        (lambda q, p, n, c, k: q + k * p * math.sqrt(n) / c, "1 + child visits"),
    ],
    ids=["no-sqrt", "max-1", "no-prior", "c-scales-q", "divides-by-zero"],
)
def test_ex_5_1_likely_mistakes_are_named(wrong, points_at):
    assert check_puct(_puct, pick="unvisited").correct
    feedback = check_puct(wrong, pick="unvisited")
    assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message


def test_ex_5_1_checks_the_question_too():
    assert check_puct(_puct).status == "not attempted" and "set pick" in check_puct(_puct).message
    wrong = check_puct(_puct, pick="visited")
    assert wrong.status == "incorrect" and "higher score" in wrong.message
    assert check_puct(_puct, pick=3).status == "incorrect"


def _keep(candidates, width, *, finished=True, dedupe=True, best_first=True, first_of_equal=True):
    seen, kept = set(), []
    order = sorted(range(len(candidates)), key=lambda i: (-candidates[i][1], i if first_of_equal else -i))
    for i in order:
        text, _, done = candidates[i]
        if (done and finished) or (dedupe and text in seen):
            continue
        seen.add(text)
        kept.append(i)
    kept = kept[:width]
    return kept if best_first else sorted(kept)


@pytest.mark.parametrize(
    "wrong, points_at",
    [
        (lambda c, w: _keep(c, w, finished=False), "has nothing left to expand"),
        (lambda c, w: _keep(c, w, dedupe=False), "keep it once"),
        (lambda c, w: _keep(c, w, best_first=False), "best first"),
        (lambda c, w: _keep(c, w, first_of_equal=False), "Of equal texts keep the first"),
    ],
    ids=["keeps-finished", "no-dedupe", "index-order", "later-on-ties"],
)
def test_ex_5_2_likely_mistakes_are_named(wrong, points_at):
    assert check_beam_keep(_keep).correct
    feedback = check_beam_keep(wrong)
    assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message


@pytest.mark.parametrize(
    "wrong, points_at",
    [
        (lambda p, s: sum(p + sum(s[: d + 1]) for d in range(len(s))), "not the step itself"),
        (lambda p, s: p * len(s), "not only the prompt"),
        (lambda p, s: sum(sum(s[:d]) for d in range(len(s))), "also reads the prompt"),
    ],
    ids=["reads-its-own-step", "prompt-only", "no-prompt"],
)
def test_ex_5_3_likely_mistakes_are_named(wrong, points_at):
    assert check_reencoded(lambda p, s: sum(p + sum(s[:d]) for d in range(len(s)))).correct
    feedback = check_reencoded(wrong)
    assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message


# --- Chapter 6 ---------------------------------------------------------------------------------


def _aggregate(s, how):
    if not s:
        return 0.0
    return {"min": min, "last": lambda x: x[-1], "product": math.prod}[how](s)


def _skipping(s, how, which, part):
    """The aggregate ``which`` taken over ``s[part]`` (a step left out), the others right."""
    return _aggregate(s[part], how) if how == which and len(s) > 1 else _aggregate(s, how)


@pytest.mark.parametrize(
    "wrong, points_at",
    [
        (lambda s, how: {"min": min, "last": lambda x: x[-1], "product": math.prod}[how](s), "check for an empty list first"),
        (lambda s, how: math.prod(s) if how == "product" else _aggregate(s, how), "math.prod of nothing is 1"),
        (lambda s, how: (s[0] if s else 0.0) if how == "last" else _aggregate(s, how), "step_scores[-1]"),
        (lambda s, how: (sum(s) / len(s) if s else 0.0) if how == "product" else _aggregate(s, how), "that is their mean"),
        (lambda s, how: _skipping(s, how, "min", slice(None, -1)), "leaves the last step out"),
        (lambda s, how: _skipping(s, how, "min", slice(1, None)), "leaves the first step out"),
        (lambda s, how: _skipping(s, how, "product", slice(None, -1)), "last step out"),
        (lambda s, how: (max(s) if s else 0.0) if how == "min" else _aggregate(s, how), "'min' is the lowest"),
    ],
    ids=[
        "crashes-on-empty",
        "product-of-nothing",
        "first-not-last",
        "mean-not-product",
        "min-skips-last",
        "min-skips-first",
        "product-skips-last",
        "max-not-min",
    ],
)
def test_ex_6_1_likely_mistakes_are_named(wrong, points_at):
    assert check_aggregate(_aggregate).correct
    feedback = check_aggregate(wrong)
    assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message


def _auc(scores, labels, *, tie=0.5, empty=math.nan):
    pos = [s for s, y in zip(scores, labels) if y]
    neg = [s for s, y in zip(scores, labels) if not y]
    if not pos or not neg:
        return empty
    return sum((p > n) + tie * (p == n) for p in pos for n in neg) / (len(pos) * len(neg))


@pytest.mark.parametrize(
    "wrong, points_at",
    [
        (lambda s, y: _auc(s, y, tie=0.0), "Count a tie"),
        (lambda s, y: _auc(s, y, tie=1.0), "not a whole one"),
        (lambda s, y: _auc(s, y, empty=0.5), "return float('nan')"),
        (
            lambda s, y: (
                sum((p > n) + 0.5 * (p == n) for p in [a for a, b in zip(s, y) if b] for n in [a for a, b in zip(s, y) if not b])
                / (sum(y) * (len(y) - sum(y)))
            ),
            "ZeroDivisionError",
        ),  # fmt: skip
    ],
    ids=["ties-ignored", "ties-as-wins", "half-when-undefined", "divides-by-zero"],
)
def test_ex_6_2_likely_mistakes_are_named(wrong, points_at):
    assert check_auc(_auc).correct
    feedback = check_auc(wrong)
    assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message


def _weighted(keys, scores, *, weight=True, best_member=True, none_votes=False):
    weights = {}
    for key, score in zip(keys, scores):
        if key is not None or none_votes:
            weights[key] = weights.get(key, 0.0) + (score if weight else 1.0)
    if not weights:
        return None
    winner = max(weights, key=weights.get)
    members = [i for i, k in enumerate(keys) if k == winner]
    return max(members, key=lambda i: (scores[i], -i)) if best_member else members[0]


@pytest.mark.parametrize(
    "wrong, points_at",
    [
        (lambda k, s: max(range(len(s)), key=lambda i: (s[i], -i)), "That is best-of-N"),
        (lambda k, s: _weighted(k, s, weight=False), "plain majority"),
        (lambda k, s: _weighted(k, s, best_member=False), "highest-scored member"),
        (lambda k, s: _weighted(k, s, none_votes=True), "does not vote"),
    ],
    ids=["best-of-n", "counts-not-scores", "first-member", "malformed-votes"],
)
def test_ex_6_3_likely_mistakes_are_named(wrong, points_at):
    assert check_weighted_vote(_weighted).correct
    feedback = check_weighted_vote(wrong)
    assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message


def test_ex_1_4_the_experiment_checker_names_the_likeliest_mistakes():
    from fakes import ScriptedPolicy

    from tsc.exercises import check_temperature_coverage
    from tsc.exercises.ch01 import coverage_at_temperature
    from tsc.tasks.countdown import Countdown

    script = {
        "13 4 7 2>48:": ["13-7=6,6*4=24,24*2=48.", "13+7=20,20*2=40,40+4=44.", "1+1=2."],
        "3 5 8>16:": ["8+5=13,13+3=17.", "5*3=15,15+8=23.", "1+1=2."],
        "3 6 9>18:": ["6/3=2,9*2=18.", "6/3=2,9*2=18.", "9+6=15,15+3=18."],
    }
    problems = [Countdown((13, 4, 7, 2), 48), Countdown((3, 5, 8), 16), Countdown((3, 6, 9), 18)]
    policy = ScriptedPolicy(script)
    run = dict(problems=problems, policy=policy, temperature=0.5, n=3, seed=0)  # every text drawn, whatever each problem's seed
    truth = coverage_at_temperature(problems, policy, n=3, temperature=0.5, seed=0)
    assert check_temperature_coverage(None, **run).status == "not attempted"
    assert check_temperature_coverage(truth["coverage"], **run).correct
    assert "pass@1" in check_temperature_coverage(truth["pass1"], **run).message
    assert "plug-in" in check_temperature_coverage(truth["plug_in"], **run).message
    assert "percentage" in check_temperature_coverage(100 * truth["coverage"], **run).message
    assert check_temperature_coverage("0.5", **run).status == "incorrect"


# The two experiment checkers below run their experiment on the bundled models (the chapters'
# hidden cells prove that with the real runs); here the experiment is replaced by fixed results,
# so that what is tested is how each checker reads an answer and names the slip.


def test_ex_5_4_the_experiment_checker_names_the_likeliest_mistakes(monkeypatch):
    import tsc.exercises.ch05 as ch05

    truth = {"saving": 0.42, "policy_saving": 0.30, "prompt_saving": 0.71, "ratio": 0.58}
    monkeypatch.setattr(ch05, "reuse_saving", lambda *args, **kwargs: truth)
    run = dict(problems=[], policy=None, verifier=None)
    assert ch05.check_reuse_saving(None, **run).status == "not attempted"
    assert ch05.check_reuse_saving(0.42, **run).correct
    for wrong, points_at in [(0.30, "policy's saving alone"), (0.58, "one minus it"), (42.0, "percentage"), (0.71, "prompt tokens")]:
        feedback = ch05.check_reuse_saving(wrong, **run)
        assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message
    assert ch05.check_reuse_saving("a lot", **run).status == "incorrect"


def _fake_sequential(threshold=0.3):
    """Two self-refinement loops on 300 problems from the same greedy start: the ORM's mends a
    little less than the PRM's (a stand-in for `tsc.experiments.ch06.load_sequential`)."""
    from types import SimpleNamespace

    import numpy as np

    rng = np.random.default_rng(0)
    start = rng.random(300) < 0.25
    prm = np.column_stack([start | (rng.random(300) < 0.06 * r) for r in range(8)]).astype(float)
    orm = np.column_stack([start | ((prm[:, r] > 0) & (rng.random(300) < 0.5)) for r in range(8)]).astype(float)
    flops = np.tile(np.arange(1, 9, dtype=float) * 1e8, (300, 1))
    lines = {
        f"self-refine, PRM (threshold {threshold})": (prm, flops),
        "self-refine, PRM (threshold 0.5)": (np.maximum(prm, rng.random((300, 8)) < 0.3).astype(float), flops),
        "self-refine, ORM": (orm, flops),
    }
    return SimpleNamespace(threshold=threshold, lines=lines)


def test_ex_6_4_the_experiment_checker_names_the_likeliest_mistakes():
    import numpy as np

    import tsc.exercises.ch06 as ch06
    from tsc.analysis import bootstrap

    seq = _fake_sequential()
    orm, prm = seq.lines["self-refine, ORM"][0], seq.lines["self-refine, PRM (threshold 0.3)"][0]
    diff = 100 * (orm[:, 3] - prm[:, 3])
    mean, low, high = (float(x) for x in bootstrap(diff))
    check = lambda answer: ch06.check_orm_feedback(answer, seq=seq)  # noqa: E731
    assert check(None).status == "not attempted"
    assert check((mean, low, high)).correct
    assert check(bootstrap(diff, seed=3)).correct  # another bootstrap seed: the same answer
    se = np.sqrt(orm[:, 3].var() / 300 + prm[:, 3].var() / 300) * 100
    half = 1.96 * se
    cases = [
        ((mean / 100, low / 100, high / 100), "fraction"),
        ((-mean, -high, -low), "wrong way round"),
        ((100 * orm[:, 3].mean(), 0.0, 100.0), "accuracy alone"),
        ((mean, mean - half, mean + half), "independent"),
        ((100 * float((orm[:, 4] - prm[:, 4]).mean()), -1.0, 1.0), "column 3 holds 4 attempts"),  # column 4: five attempts
        ((100 * float((orm[:, 3] - seq.lines["self-refine, PRM (threshold 0.5)"][0][:, 3]).mean()), -9.0, 9.0), "threshold 0.5"),
        ((mean, low - 2, high - 2), "interval near"),
        ((mean, mean + 1, mean + 2), "contain it"),
        ("a lot", "three numbers"),
        ((1.0, 2.0), "three numbers"),
    ]
    for wrong, points_at in cases:
        feedback = check(wrong)
        assert feedback.status == "incorrect" and points_at in feedback.message, (wrong, feedback.message)
    assert "bootstrap" in check((mean + 7.3, 0.0, 20.0)).message
    tsc_selftest = __import__("tsc.exercises", fromlist=["selftest"]).selftest
    tsc_selftest("ex-6-4", seq=seq)


def test_ex_5_5_systematic_resampling_mistakes_are_named():
    from tsc.exercises import check_systematic
    from tsc.exercises.ch05 import _systematic

    assert check_systematic(None).status == "not attempted"
    assert check_systematic(lambda w, n, u: None).status == "not attempted"
    assert check_systematic(_systematic).correct
    for wrong, points_at in [
        (lambda w, n, u: _systematic(w, n, 0.0), "Use the draw u"),
        (lambda w, n, u: _systematic(w, n, u, scale_u=False), "Divide u by count"),
        (lambda w, n, u: _systematic(w, n, u, normalise=False), "Normalise the weights"),
        (lambda w, n, u: _systematic(w, n, u, closed=True), "boundary belongs to the next"),
        (lambda w, n, u: _systematic(w, n, u)[:-1], "exactly count"),
        (lambda w, n, u: _systematic(w, n, u)[::-1], "ascending"),
        (lambda w, n, u: [w.index(max(w))] * n, "expected"),  # every copy of the best: beam search's top-1
        (lambda w, n, u: w[n], "raised"),
        (lambda w, n, u: "0, 1", "list of indices"),
    ]:
        feedback = check_systematic(wrong)
        assert feedback.status == "incorrect" and points_at in feedback.message, feedback.message
    assert check_systematic(3).status == "incorrect"


@pytest.mark.parametrize("name", ["ex-5-1", "ex-5-2", "ex-5-3", "ex-5-5", "ex-6-1", "ex-6-2", "ex-6-3"])
def test_the_chapters_self_tests_pass(name):
    from tsc.exercises import selftest

    assert name in selftest(name)
