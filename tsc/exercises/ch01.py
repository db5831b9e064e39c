"""Checkers for the exercises of Chapter 1, The New Scaling Law."""

from __future__ import annotations

import math
import re
from collections.abc import Callable

from tsc.analysis import pass_at_k, samples_for_coverage
from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, is_bool, registers_selftest, rejects, remembered, run_cases, show
from tsc.tasks.countdown import Countdown

# --- Exercise 1.1: the unbiased pass@k estimator -------------------------------------------

PASS_AT_K_CASES = [
    (10, 0, 1), (10, 3, 1), (10, 3, 2), (10, 3, 5), (10, 8, 3),
    (10, 10, 4), (32, 1, 8), (32, 5, 16), (100, 7, 50), (5, 2, 5),
    (1000, 3, 100), (1000, 0, 500), (1000, 40, 250), (1000, 995, 10),
]  # fmt: skip


PLUG_IN_HINT = " That is 1-(1-c/n)^k, the plug-in estimate: it treats samples as drawn with replacement and is biased low."


def _pass_at_k_slips(n: int, c: int, k: int) -> list[tuple[float, str]]:
    """The values the most common slips give for (n, c, k), each with what went wrong."""
    slips = [
        (1 - (1 - c / n) ** k, PLUG_IN_HINT),
        (
            1 - pass_at_k(n, c, k),
            " That is the chance that all k samples are wrong, C(n-c,k)/C(n,k); pass@k is one minus it.",
        ),
        (min(1.0, k * c / n), " k·c/n adds the samples' chances as if two of them could never both be right: it overcounts."),
    ]
    product = " The product 1-∏(1-k/i) runs over i = n-c+1, ..., n: exactly c factors."
    for low, high in ((n - c, n + 1), (n - c + 1, n), (n - c, n)):  # off by one at either end
        if n - c >= k and 0 < low:
            slips.append((1 - math.prod(1 - k / i for i in range(low, high)), product))
    return slips


def check_pass_at_k(fn: Callable) -> Feedback:
    """Compare a student's ``fn(n, c, k)`` with the unbiased estimator of Chen et al. (2021),
    on small cases and on n = 1000 (where binomial coefficients overflow a float), and name
    the most common slips: the plug-in estimate, the chance of failure, a union bound and a
    product that is off by one."""

    def raised(case: tuple[int, int, int], error: str) -> str:
        n, c, k = case
        hint = ""
        if "Overflow" in error or "too large" in error:
            hint = " At n=1000 the binomial coefficients overflow a float: use the product form 1-∏(1-k/i)."
        return f"Calling your function with n={n}, c={c}, k={k} raised {error}.{hint}"

    results = run_cases(fn, "pass_at_k(n, c, k)", PASS_AT_K_CASES, raised=raised)
    if isinstance(results, Feedback):
        return results
    for (n, c, k), value in zip(PASS_AT_K_CASES, results):
        number = as_number(value)
        if number is None:
            hint = " nan or inf usually means a ratio of two huge numbers: use the product form." if n >= 1000 else ""
            expected_what = "a probability (one float between 0 and 1)"
            return Feedback("incorrect", f"For n={n}, c={c}, k={k} expected {expected_what}; got {show(value)}.{hint}")
        expected = pass_at_k(n, c, k)
        if abs(number - expected) > 1e-6:
            hint = next((why for slip, why in _pass_at_k_slips(n, c, k) if abs(number - slip) < 1e-6), "")
            if not hint and not 0 <= number <= 1:
                hint = " A probability lies between 0 and 1."
            return Feedback("incorrect", f"For n={n}, c={c}, k={k} expected {expected:.6f}, got {number:.6f}.{hint}")
    return Feedback("correct", f"Correct on all {len(PASS_AT_K_CASES)} cases, including c=0, n-c<k and n=1000.")


# --- Exercise 1.2: how many samples for a coverage goal -------------------------------------


def check_samples_needed(answer, *, a: float, b: float, goal: float, tolerance: float = 0.05) -> Feedback:
    """Is ``answer`` the number of samples the fitted law exp(a·k^-b) needs to reach ``goal``?
    Names the usual slips: the exponent +1/b, a base-10 logarithm, a log skipped, the goal
    in percent, or the largest k that was measured."""
    if answer is None:
        return NOT_ATTEMPTED
    if isinstance(answer, complex) or type(answer).__name__.startswith("complex"):
        return Feedback(
            "incorrect",
            "Got a complex number: a negative number was raised to a fractional power. Take the log of the goal first: "
            "ln(goal) / a is positive (both are negative), and k = (ln(goal) / a)^(-1/b).",
        )
    number = as_number(answer)
    if number is None:
        return Feedback("incorrect", f"Expected a number of samples (one number); got {show(answer)}.")
    try:
        expected = samples_for_coverage(goal, a, b)
        if not math.isfinite(expected):
            raise ValueError(f"the law never reaches {goal}")
    except (ValueError, ZeroDivisionError, OverflowError, TypeError) as error:  # the law given to the checker is unusable
        return Feedback("incorrect", f"Cannot check: the law exp(a·k^(-b)) with a={a!r}, b={b!r}, goal={goal!r} has no answer ({error}).")
    answer = number
    right = f"Correct: the fit reaches {goal:.0%} coverage at k ≈ {expected:.1f} samples."
    if abs(answer - expected) <= 1e-6 * expected or abs(answer - math.ceil(expected)) < 1e-9:
        return Feedback("correct", right)
    # the named slips come before the tolerance: an approximate logarithm can land within it
    slips = []
    ratio = math.log(goal) / a
    slips.append((ratio ** (1 / b), "The exponent is -1/b: from k^(-b) = ln(goal)/a, raise both sides to the power -1/b."))
    slips.append(((math.log10(goal) / a) ** (-1 / b), "Use the natural logarithm: the law is exp(a·k^(-b)), so ln(goal) = a·k^(-b)."))
    if goal < 1 and (goal - 1) / a > 0:
        slips.append((((goal - 1) / a) ** (-1 / b), "ln(goal) is not goal - 1 at this precision: use math.log(goal)."))
    for slip, why in slips:
        if math.isfinite(slip) and abs(answer - slip) <= 1e-6 * max(1.0, abs(slip)):
            return Feedback("incorrect", f"{answer!r} is not it. {why} Expected about {expected:.1f}.")
    if abs(answer - expected) <= tolerance * expected:  # rounded, or read off a plot
        return Feedback("correct", right)
    if answer in (64, 64.0) and expected > 64:
        why = f"64 is the largest k measured, where coverage is still below {goal:.0%}"
        return Feedback("incorrect", f"{why}: solve the fitted law for k instead.")
    direction = "too many" if answer > expected else "too few"
    how = f"solve exp(a·k^(-b)) = {goal} for k (take logs twice)"
    return Feedback("incorrect", f"{answer!r} is {direction}: {how}. Expected about {expected:.1f}.")


# --- Exercise 1.3: a Countdown verifier written from scratch --------------------------------

ARITHMETIC = "Redo each step's arithmetic: a step whose result is false is wrong even when it writes the target."
ALL_USED = "Every given number must be used: at the end exactly one number, the target, must remain."
AVAILABLE = "A step may only use numbers currently available; remove each operand from the pool when a step uses it."
SPACES = "Spaces around numbers and signs are allowed."
SPACES_INSIDE = "Spaces are allowed inside a step too, around the sign and the '=' ('13 - 7 = 6')."
FLOOR = "A division must come out exact: 7/2 is 3.5, not 3. Floor division (//) hides the remainder; check a % b == 0."
ABSOLUTE = "A subtraction may not go below zero: 3-5 is -2, not 2. Do not take the absolute value; reject a - b when b > a."
BY_ZERO = "A step may divide by a 0 made earlier (4-4=0, then 7/0): guard against dividing by zero and return False."
ZERO_OK = "Zero is a number like any other: 4-4=0 is allowed, and so is adding it."
TWICE = "A number given twice may be used twice."
STOP = "The full stop ends a completion; it is not required."
MALFORMED = "Text that is not a list of steps 'a op b = c' with non-negative integers is simply wrong."

VERIFIER_CASES: list[tuple[Countdown, str, str, str]] = [
    # (problem, completion, what the case is, the hint when the verifier gets it wrong)
    (Countdown((13, 4, 7, 2), 48), "13-7=6,6*4=24,24*2=48.", "a correct solution", "This solution is correct."),
    (Countdown((13, 4, 7, 2), 48), "13-7=6, 6*4=24, 24*2=48.", "a correct solution with spaces", SPACES),
    (Countdown((13, 4, 7, 2), 48), "13-7=6,6*4=24,24+2=48.", "a last step whose result is false but is the target", ARITHMETIC),
    (Countdown((13, 4, 7, 2), 48), "13-7=6,6*4=24,24*2=49.", "a last step computed wrongly", ARITHMETIC),
    (Countdown((13, 4, 7, 2), 48), "13-7=6,6*4=24.", "a solution that leaves a number unused", ALL_USED),
    (Countdown((13, 4, 7, 2), 24), "13-7=6,6*4=24.", "a solution that reaches the target but leaves 2 unused", ALL_USED),
    (Countdown((13, 4, 7, 2), 48), "13-7=6,6*4=24,24*2=48,48-0=48.", "an extra step that uses a number not on the table", AVAILABLE),
    (Countdown((3, 5, 8), 2), "3-5=-2,8+-2=6.", "a negative intermediate (malformed)", MALFORMED),
    (Countdown((3, 5, 8), 16), "5-3=2,8*2=16.", "a correct 3-number solution", "This solution is correct."),
    (Countdown((3, 5, 8), 0), "3-5=0,8*0=0.", "a subtraction that goes below zero", "A subtraction may not go below zero."),
    (Countdown((3, 6, 9), 18), "9/6=1,1*3=3.", "an inexact division", "A division must come out exact: 9/6 is not a whole number."),
    (Countdown((3, 6, 9), 18), "6/3=2,9*2=18.", "an exact division", "6/3=2 is an exact division: allowed."),
    (Countdown((5, 5, 2), 50), "5*5=25,25*2=50.", "a repeated number used twice (it appears twice)", TWICE),
    (Countdown((5, 2, 3), 50), "5*5=25,25*2=50.", "a number used twice that appears once", AVAILABLE),
    (Countdown((1, 2, 3), 6), "", "an empty completion", "An empty completion solves nothing."),
    (Countdown((1, 2, 3), 6), "1+2=3,3+3=6", "a correct solution without the final full stop", STOP),
    (Countdown((1, 2, 3), 6), "banana", "gibberish", MALFORMED),
    (Countdown((1, 2, 3), 6), "1+2=3,3+3=6.1+1=2", "text after the full stop (ignored)", "Ignore everything after the first full stop."),
    (Countdown((1, 2, 3), 6), "1+2=3,3*2=6.", "an operand taken from the wrong place", AVAILABLE),
    (Countdown((13, 4, 7, 2), 48), "13 - 7 = 6,6 * 4 = 24,24 * 2 = 48.", "a correct solution with spaces inside its steps", SPACES_INSIDE),
    (Countdown((7, 2, 3), 9), "7/2=3,3*3=9.", "a division that floors (7/2 is not 3)", FLOOR),
    (Countdown((3, 5, 4), 8), "3-5=2,2*4=8.", "a subtraction written as its absolute value (3-5 is not 2)", ABSOLUTE),
    (Countdown((4, 4, 7), 7), "4-4=0,7/0=7.", "a division by a zero made by an earlier step", BY_ZERO),
    (Countdown((4, 4, 7), 7), "4-4=0,7+0=7.", "a correct solution through a zero", ZERO_OK),
]


def check_verifier(fn: Callable) -> Feedback:
    """Compare a student's ``fn(numbers, target, text) -> bool`` with the oracle on tricky cases."""

    def described(problem: Countdown, text: str, what: str) -> str:
        return f"{what} ({text!r}, numbers {list(problem.numbers)}, target {problem.target})"

    def raised(case: tuple, error: str) -> str:
        advice = BY_ZERO if error.startswith("ZeroDivisionError") else "A verifier should return False for bad text, never crash."
        return f"On {described(*case[:3])} your verifier raised {error}. {advice}"

    answers = run_cases(
        fn,
        "verify(numbers, target, text)",
        VERIFIER_CASES,
        arguments=lambda case: (list(case[0].numbers), case[0].target, case[1]),
        raised=raised,
    )
    if isinstance(answers, Feedback):
        return answers
    for (problem, text, what, hint), value in zip(VERIFIER_CASES, answers):
        expected = problem.check(text)
        if not is_bool(value):
            return Feedback("incorrect", f"On {what} expected True or False; got {show(value)}.")
        value = bool(value)
        if value != expected:
            return Feedback("incorrect", f"On {described(problem, text, what)} expected {expected}, got {value}. {hint}")
    return Feedback("correct", f"Your verifier agrees with the oracle on all {len(VERIFIER_CASES)} cases.")


# --- Exercise 1.4 (an experiment): coverage at a lower temperature ---------------------------

_DRAWS: dict = {}


def coverage_at_temperature(problems, policy, *, n: int, temperature: float, seed: int) -> dict:
    """Coverage at k = n, pass@1 and the plug-in estimate of one table of n samples per
    problem (`tsc.analysis.draw`), drawn once per configuration, and which problems some
    sample solved (``solved``, for a paired comparison)."""
    from tsc.analysis import draw

    def measure() -> dict:
        table = draw(list(problems), policy, n=n, temperature=temperature, seed=seed)
        counts = table.correct.sum(axis=1)
        return {
            "coverage": float((counts > 0).mean()),
            "pass1": float(table.correct.mean()),
            "plug_in": float(sum(1 - (1 - c / n) ** n for c in counts) / len(counts)),
            "solved": (counts > 0).astype(float),
        }

    key = (id(policy), tuple(p.prompt() for p in problems), n, float(temperature), seed)
    return remembered(_DRAWS, key, (policy,), measure)


def check_temperature_coverage(answer, *, problems, policy, temperature: float, n: int = 32, seed: int = 0) -> Feedback:
    """Is ``answer`` the coverage at k = ``n`` of ``n`` samples per problem drawn at
    ``temperature`` (`tsc.analysis.draw(problems, policy, n=n, temperature=temperature,
    seed=seed)`, then `tsc.analysis.coverage`)? Draws the table itself (once) to know, and
    names the usual slips: pass@1 instead of coverage, temperature 1 instead of the one asked,
    the plug-in estimate, a percentage."""
    if answer is None:
        return NOT_ATTEMPTED
    number = as_number(answer)
    if number is None:
        return Feedback("incorrect", f"Expected one number, the fraction of problems solved by at least one sample; got {show(answer)}.")
    truth = coverage_at_temperature(problems, policy, n=n, temperature=temperature, seed=seed)
    expected = truth["coverage"]
    if abs(number - expected) < 1e-6:
        return Feedback("correct", f"Correct: at temperature {temperature}, {n} samples solve {expected:.1%} of these problems.")
    hot = coverage_at_temperature(problems, policy, n=n, temperature=1.0, seed=seed) if temperature != 1.0 else truth
    slips = [
        (100 * expected, "Give a fraction between 0 and 1, not a percentage."),
        (truth["pass1"], f"That is pass@1, the fraction of samples that are right; coverage asks whether any of the {n} samples is."),
        (hot["coverage"], f"That is the coverage at temperature 1: draw the samples with temperature={temperature}."),
        (truth["plug_in"], f"That is the plug-in estimate 1-(1-c/n)^n; at k = n = {n} coverage is simply whether any sample is right."),
    ]
    hint = next((why for value, why in slips if abs(number - value) < 1e-6), "")
    return Feedback("incorrect", f"Expected {expected:.4f}, got {number:.4f}. {hint}".rstrip())


# --- Self-tests: each checker accepts the reference and names the mistakes a class makes ------


def reference_pass_at_k(n: int, c: int, k: int) -> float:
    """Ex 1.1's reference: 1 − ∏(1 − k/i) over i = n−c+1..n, exactly 1 when n − c < k."""
    if n - c < k:
        return 1.0
    fail = 1.0
    for i in range(n - c + 1, n + 1):
        fail *= 1 - k / i
    return 1 - fail


_STEP = re.compile(r"^\s*(\d+)\s*([-+*/])\s*(\d+)\s*=\s*(\d+)\s*$")


def reference_verify(numbers, target, text, *, slip: str | None = None) -> bool:
    """Ex 1.3's reference verifier; ``slip`` switches on one mistake a class makes
    (``"arithmetic"``: steps not recomputed, ``"unused"``: numbers may be left over,
    ``"available"``: operands not checked against the pool, ``"floor"``: 7/2 = 3,
    ``"absolute"``: 3−5 = 2, ``"zero"``: no guard against dividing by zero, ``"spaces"``: no
    spaces inside a step)."""
    if not isinstance(text, str):
        return False
    body = text.split(".", 1)[0]
    if not body.strip():
        return False
    pool = list(numbers)
    for part in body.split(","):
        if slip == "spaces":
            part = part.strip()
            match = None if " " in part else _STEP.match(part)
        else:
            match = _STEP.match(part)
        if match is None:
            return False
        left, op, right, result = int(match[1]), match[2], int(match[3]), int(match[4])
        for operand in (left, right):
            if operand in pool:
                pool.remove(operand)
            elif slip != "available":
                return False
        if op == "+":
            value = left + right
        elif op == "*":
            value = left * right
        elif op == "-":
            value = abs(left - right) if slip == "absolute" else left - right if left >= right else None
        elif slip == "floor":
            value = left // right if right else None
        elif slip == "zero":
            value = left // right if left % right == 0 else None  # raises on a zero divisor
        else:
            value = left // right if right != 0 and left % right == 0 else None
        if slip != "arithmetic" and (value is None or value != result):
            return False
        pool.append(result)
    return result == target if slip == "unused" else pool == [target]


@registers_selftest("ex-1-1")
def _selftest_pass_at_k() -> None:
    check = check_pass_at_k
    assert check(lambda *args, **kwargs: None).status == "not attempted"
    assert check(reference_pass_at_k).correct
    assert rejects(check(lambda n, c, k: 1 - (1 - c / n) ** k), "plug-in")
    assert rejects(check(lambda n, c, k: math.comb(n - c, k) / math.comb(n, k)), "one minus")
    assert rejects(check(lambda n, c, k: min(1.0, k * c / n)), "overcounts")
    off_by_one = lambda n, c, k: 1 - math.prod(1 - k / i for i in range(n - c, n + 1)) if n - c >= k else 1.0  # noqa: E731
    assert rejects(check(off_by_one), "c factors")


@registers_selftest("ex-1-2")
def _selftest_samples_needed(*, a: float, b: float, goal: float) -> None:
    law = dict(a=a, b=b, goal=goal)
    check = check_samples_needed
    assert check(None, **law).status == "not attempted"
    assert check((math.log(goal) / a) ** (-1 / b), **law).correct
    assert rejects(check((math.log(goal) / a) ** (1 / b), **law), "-1/b")
    assert rejects(check((math.log10(goal) / a) ** (-1 / b), **law), "natural")
    approximate = ((goal - 1) / a) ** (-1 / b)
    if abs(approximate - math.ceil(samples_for_coverage(goal, a, b))) > 1e-9:  # not the whole-number answer by chance
        assert rejects(check(approximate, **law), "goal - 1")  # close, but named before the tolerance
    if samples_for_coverage(goal, a, b) > 64:  # the goal lies beyond the largest k measured
        assert rejects(check(64, **law), "largest k")


@registers_selftest("ex-1-3")
def _selftest_verifier(*, problems=(), texts=(), coverage_at_16: float | None = None) -> None:
    """With ``problems``, ``texts`` (the chapter's table) and ``coverage_at_16``: the reference
    agrees with the oracle on the table's samples, and best-of-16 with it reaches coverage."""
    check = check_verifier
    assert check(lambda *args, **kwargs: None).status == "not attempted"
    assert check(reference_verify).correct
    for slip, words in (
        ("arithmetic", "arithmetic"),
        ("unused", "must be used"),
        ("available", "currently available"),
        ("floor", "Floor division"),
        ("absolute", "absolute value"),
        ("zero", "dividing by zero"),
        ("spaces", "inside a step"),
    ):
        assert rejects(check(lambda n, t, x, slip=slip: reference_verify(n, t, x, slip=slip)), words), slip
    assert rejects(check(lambda n, t, x: int(x.split("=")[-1].rstrip(".")) == t), "never crash")
    if problems:
        assert all(reference_verify(p.numbers, p.target, t) == p.check(t) for p, row in zip(problems, texts) for t in row[:8])
        solved = [any(reference_verify(p.numbers, p.target, t) for t in row[:16]) for p, row in zip(problems, texts)]
        assert abs(sum(solved) / len(solved) - coverage_at_16) < 0.08, (sum(solved) / len(solved), coverage_at_16)


@registers_selftest("ex-1-4")
def _selftest_temperature_coverage(*, problems, policy, n: int = 32, seed: int = 0) -> None:
    exp = dict(problems=problems, policy=policy, n=n, seed=seed)
    cool = coverage_at_temperature(problems, policy, n=n, temperature=0.5, seed=seed)
    warm = coverage_at_temperature(problems, policy, n=n, temperature=1.0, seed=seed)
    check = check_temperature_coverage
    assert check(None, temperature=0.5, **exp).status == "not attempted"
    assert check(cool["coverage"], temperature=0.5, **exp).correct
    assert rejects(check(cool["pass1"], temperature=0.5, **exp), "pass@1")
    if abs(warm["coverage"] - cool["coverage"]) > 1e-9:
        assert rejects(check(warm["coverage"], temperature=0.5, **exp), "temperature 1")
    assert rejects(check(cool["plug_in"], temperature=0.5, **exp), "plug-in")
    assert rejects(check(100 * cool["coverage"], temperature=0.5, **exp), "percentage")
