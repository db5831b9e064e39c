"""Checkers for the exercises of Chapter 5, Tree Search in Language Models."""

from __future__ import annotations

import math
from collections.abc import Callable

from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, registers_selftest, rejects, remembered, run_cases, show

# --- Exercise 5.1: the PUCT score of MCTS ----------------------------------------------------

PUCT_CASES = [
    # (q, prior, parent_visits, child_visits, c_puct)
    (0.5, 0.25, 16, 3, 1.0), (0.0, 1.0, 1, 0, 1.0), (0.9, 0.1, 100, 40, 1.5),
    (0.2, 0.6, 9, 0, 2.0), (0.7, 0.3, 0, 0, 1.0), (0.4, 0.5, 25, 4, 0.0),
]  # fmt: skip


def _puct(q: float, prior: float, parent_visits: int, child_visits: int, c_puct: float) -> float:
    return q + c_puct * prior * math.sqrt(parent_visits) / (1 + child_visits)


def _puct_slips(q: float, prior: float, parent: int, child: int, c: float) -> list[tuple[float, str]]:
    """What the common slips give for one case, each with what went wrong."""
    return [
        (q + c * prior * math.sqrt(parent) / max(child, 1), " Divide by 1 + child visits: an unvisited child must not divide by zero."),
        (q + c * prior * parent / (1 + child), " The parent's visits enter as a square root."),
        (q + c * math.sqrt(parent) / (1 + child), " The prior P(s, a) multiplies the exploration term."),
        (c * (q + prior * math.sqrt(parent) / (1 + child)), " c_puct scales only the exploration term, not Q."),
        (c * prior * math.sqrt(parent) / (1 + child), " Add Q(s, a), the mean value found below the child: PUCT = Q + exploration."),
        (q + c * prior * math.sqrt(parent + 1) / (1 + child), " The square root is of the parent's visits N(s), not N(s) + 1."),
    ]


PICKS = ("unvisited", "visited")


def check_puct(fn: Callable, pick=None) -> Feedback:
    """Compare a student's ``fn(q, prior, parent_visits, child_visits, c_puct)`` with PUCT,
    ``q + c_puct · prior · √parent_visits / (1 + child_visits)``, then the answer ``pick``
    (``"unvisited"`` or ``"visited"``) to the exercise's question: which child the next
    simulation picks."""

    def raised(case: tuple, error: str) -> str:
        hint = " An unvisited child has 0 visits: divide by 1 + child visits." if "ZeroDivision" in error else ""
        return f"puct{case} raised {error}.{hint}"

    results = run_cases(fn, "puct(q, prior, parent_visits, child_visits, c_puct)", PUCT_CASES, raised=raised)
    if isinstance(results, Feedback):
        return results
    numbers = [as_number(value) for value in results]
    for case, value, number in zip(PUCT_CASES, results, numbers):
        if number is None:
            return Feedback("incorrect", f"puct{case} should return one number; got {show(value)}.")
    wrong = [(case, number) for case, number in zip(PUCT_CASES, numbers) if abs(number - _puct(*case)) > 1e-9]
    if wrong:
        case, number = wrong[0]
        # the slip that explains every case (one case alone can be ambiguous: 0.25·16 = √16)
        slips = [[slip for slip, _ in _puct_slips(*c)] for c in PUCT_CASES]
        whys = [why for _, why in _puct_slips(*case)]
        hint = next((whys[j] for j in range(len(whys)) if all(abs(n - row[j]) < 1e-9 for n, row in zip(numbers, slips))), "")
        return Feedback("incorrect", f"puct{case}: expected {_puct(*case):.4g}, got {number:.4g}.{hint}")
    cases = f"Your PUCT is right on all {len(PUCT_CASES)} cases, the unvisited child and c_puct = 0 included."
    unvisited, visited = _puct(0.5, 0.5, 16, 0, 1.0), _puct(0.8, 0.4, 16, 8, 1.0)
    if pick is None:
        return Feedback("not attempted", f"{cases} Now answer the question: set pick to 'unvisited' or 'visited'.")
    if not isinstance(pick, str) or pick.strip().lower() not in PICKS:
        return Feedback("incorrect", f"{cases} pick should be 'unvisited' or 'visited'; got {show(pick)}.")
    if pick.strip().lower() != "unvisited":
        return Feedback(
            "incorrect",
            f"{cases} But the next simulation picks the higher score: the unvisited child scores {unvisited:.2f} "
            f"(0.5 + 1·0.5·√16/1, with its parent's value 0.5 as Q), the visited one {visited:.2f} (0.8 + 1·0.4·√16/9).",
        )
    return Feedback(
        "correct", f"{cases} And the unvisited child ({unvisited:.2f}) beats the visited one ({visited:.2f}): exploration first."
    )


# --- Exercise 5.2: which partial solutions a beam keeps --------------------------------------

KEEP_CASES = [
    # (candidates as (text, score, finished), width, expected indices, what the case checks)
    ([("a,", 0.2, False), ("b,", 0.9, False), ("c,", 0.5, False)], 2, [1, 2], "the two best"),
    ([("a,", 0.9, False), ("b.", 0.95, True), ("c,", 0.1, False)], 2, [0, 2], "a finished candidate is set aside"),
    ([("a,", 0.7, False), ("a,", 0.7, False), ("b,", 0.6, False)], 2, [0, 2], "a repeated text is kept once"),
    ([("a,", 0.5, False), ("b,", 0.5, False), ("c,", 0.5, False)], 2, [0, 1], "ties go to the earlier candidate"),
    ([("a.", 0.5, True)], 3, [], "nothing unfinished: nothing to keep"),
    ([("a,", 0.3, False), ("b,", 0.2, False)], 4, [0, 1], "fewer candidates than the width"),
    ([("a,", 0.5, False), ("b,", 0.1, False), ("c,", 0.9, False)], 2, [2, 0], "best first"),
    ([("a,", 0.4, False), ("b,", 0.8, False), ("b,", 0.8, False), ("c,", 0.6, False)], 2, [1, 3], "the first of equal texts"),
]

KEEP_HINTS = {
    "a finished candidate is set aside": " A finished candidate (it ends in '.') has nothing left to expand: leave it out.",
    "a repeated text is kept once": " Two equal texts are one partial solution: keep it once.",
    "the first of equal texts": " Of equal texts keep the first (the lowest index).",
    "ties go to the earlier candidate": " On equal scores the earlier candidate goes first.",
    "best first": " Return the indices best first, not in the order the candidates came.",
    "the two best": " Keep the highest scores.",
}


def _keep(candidates: list[tuple[str, float, bool]], width: int) -> list[int]:
    seen, kept = set(), []
    for i in sorted(range(len(candidates)), key=lambda i: (-candidates[i][1], i)):
        text, _, finished = candidates[i]
        if not finished and text not in seen:
            seen.add(text)
            kept.append(i)
    return kept[:width]


def check_beam_keep(fn: Callable) -> Feedback:
    """Compare a student's ``fn(candidates, width) -> list of indices`` with the beam's rule:
    the ``width`` best-scoring unfinished candidates with distinct texts, best first."""
    results = run_cases(
        fn,
        "keep(candidates, width)",
        KEEP_CASES,
        arguments=lambda case: ([tuple(c) for c in case[0]], case[1]),
        raised=lambda case, error: f"keep({case[0]}, {case[1]}) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
    for (candidates, width, expected, what), value in zip(KEEP_CASES, results):
        try:
            got = [int(i) for i in value]
        except Exception:
            return Feedback("incorrect", f"keep({candidates}, {width}) should return a list of indices; got {show(value)}.")
        if got != expected:
            hint = KEEP_HINTS.get(what, "")
            texts = [candidates[i][0] for i in got if 0 <= i < len(candidates)]
            if len(set(texts)) == len(texts) and what in ("a repeated text is kept once", "the first of equal texts"):
                hint = KEEP_HINTS["the first of equal texts"]
            if len(got) > width:
                hint = f" Keep at most width = {width} candidates."
            elif sorted(got) == sorted(expected):
                hint = KEEP_HINTS["best first"] if what != "ties go to the earlier candidate" else hint
            return Feedback("incorrect", f"keep({candidates}, {width}): {what}; expected {expected}, got {got}.{hint}")
    return Feedback("correct", f"Correct on all {len(KEEP_CASES)} cases.")


# --- Exercise 5.3: what re-encoding costs a search -------------------------------------------

PREFILL_CASES = [((12, [6, 7, 7]), 12 + 18 + 25), ((10, []), 0), ((10, [5]), 10), ((8, [4, 4, 4, 4]), 8 + 12 + 16 + 20)]


def _reencoded_hint(prompt: int, steps: list[int], got: int, expected: int) -> str:
    depth = len(steps)
    slips = [
        (
            sum(prompt + sum(steps[: d + 1]) for d in range(depth)),
            " The call that writes a step reads the steps before it, not the step itself.",
        ),
        (prompt * depth, " Each call also reads every step written before it, not only the prompt."),
        (prompt + sum(steps[:-1]) if steps else 0, " Without reuse every call reads the prompt again, and every earlier step again."),
        (sum(sum(steps[:d]) for d in range(depth)), " Each call also reads the prompt."),
    ]
    return next((why for slip, why in slips if got == slip and slip != expected), "")


def check_reencoded(fn: Callable) -> Feedback:
    """Compare a student's ``fn(prompt_tokens, step_tokens)`` with the prompt tokens a search
    re-encodes when it writes the steps one call at a time without prefix reuse: each call
    reads the prompt and every step written before it."""
    results = run_cases(
        fn,
        "reencoded(prompt_tokens, step_tokens)",
        [inputs for inputs, _ in PREFILL_CASES],
        arguments=lambda inputs: (inputs[0], list(inputs[1])),
        raised=lambda inputs, error: f"reencoded({inputs[0]}, {inputs[1]}) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
    for ((prompt, steps), expected), value in zip(PREFILL_CASES, results):
        number = as_number(value)
        if number is None or number != int(number):
            return Feedback("incorrect", f"reencoded({prompt}, {steps}) should return a whole number of tokens; got {show(value)}.")
        if int(number) != expected:
            hint = _reencoded_hint(prompt, list(steps), int(number), expected)
            return Feedback("incorrect", f"reencoded({prompt}, {steps}): expected {expected}, got {int(number)}.{hint}")
    return Feedback("correct", f"Correct on all {len(PREFILL_CASES)} cases.")


# --- Exercise 5.4 (an experiment): what prefix reuse saves a search --------------------------

_REUSE_RUNS: dict = {}


def reuse_saving(problems, policy, verifier, *, subtrees: int = 4, expansions: int = 2, seed: int = 0) -> dict[str, float]:
    """DVTS on ``problems`` read from scratch and with reuse (`tsc.strategies.reuse`): the
    fraction of all FLOPs, of the policy's FLOPs and of the prompt tokens that reuse saves,
    and what reuse costs as a fraction of from-scratch. Computed once per configuration."""
    from tsc.strategies import dvts, solve_many
    from tsc.strategies.reuse import without_reuse

    def measure() -> dict[str, float]:
        means = {}
        for name, model, judge in (("fresh", without_reuse(policy), without_reuse(verifier)), ("reuse", policy, verifier)):
            results = solve_many(dvts, problems, model, seed=seed, verifier=judge, subtrees=subtrees, expansions=expansions)
            means[name] = {k: sum(getattr(r.ledger, k) for r in results) / len(results) for k in ("flops", "policy_flops", "prompt_tokens")}
        fresh, reuse = means["fresh"], means["reuse"]
        return {
            "saving": 1 - reuse["flops"] / fresh["flops"],
            "policy_saving": 1 - reuse["policy_flops"] / fresh["policy_flops"],
            "prompt_saving": 1 - reuse["prompt_tokens"] / fresh["prompt_tokens"],
            "ratio": reuse["flops"] / fresh["flops"],
        }

    key = (id(policy), id(verifier), tuple(p.prompt() for p in problems), subtrees, expansions, seed)
    return remembered(_REUSE_RUNS, key, (policy, verifier), measure)


def check_reuse_saving(answer, *, problems, policy, verifier, subtrees: int = 4, expansions: int = 2, seed: int = 0) -> Feedback:
    """Is ``answer`` the fraction of all FLOPs (policy and verifier) that prefix reuse saves
    DVTS on ``problems``? Runs the experiment itself (once) to know, and names the usual
    slips: the policy's saving only, the ratio instead of the saving, prompt tokens instead of
    FLOPs, a percentage instead of a fraction."""
    if answer is None:
        return NOT_ATTEMPTED
    number = as_number(answer)
    if number is None:
        return Feedback("incorrect", f"Expected one number, the fraction of FLOPs saved; got {show(answer)}.")
    truth = reuse_saving(problems, policy, verifier, subtrees=subtrees, expansions=expansions, seed=seed)
    expected = truth["saving"]
    if abs(number - expected) < 0.005:
        return Feedback("correct", f"Correct: reuse saves {expected:.1%} of DVTS's FLOPs (policy {truth['policy_saving']:.0%}).")
    slips = [
        (100 * expected, 0.5, "Give a fraction between 0 and 1, not a percentage."),
        (truth["policy_saving"], 0.005, "That is the policy's saving alone: count the verifier too (ledger.flops, not policy_flops)."),
        (truth["ratio"], 0.005, "That is what reuse costs as a fraction of reading from scratch; the saving is one minus it."),
        (truth["prompt_saving"], 0.005, "That is the saving in prompt tokens; the question asks for FLOPs (ledger.flops)."),
    ]
    hint = next((why for value, tolerance, why in slips if abs(number - value) < tolerance), "")
    return Feedback("incorrect", f"Expected about {expected:.3f}, got {number:.3f}. {hint}".rstrip())


# --- Exercise 5.5: systematic resampling -------------------------------------------------------

SYSTEMATIC_CASES = [
    # (weights, count, u): weights need not sum to 1
    ([0.5, 0.25, 0.25], 4, 0.3),
    ([0.25, 0.25, 0.5], 4, 0.0),  # pointers on the slices' boundaries
    ([1.0, 3.0], 4, 0.99),  # not normalised
    ([0.1, 0.0, 0.6, 0.3], 5, 0.5),  # a particle of weight 0 never survives
    ([0.2, 0.2, 0.2, 0.2, 0.2], 5, 0.7),
    ([0.05, 0.9, 0.05], 3, 0.1),
    ([0.3, 0.7], 1, 0.5),
    ([2.0, 1.0, 1.0], 8, 0.25),
]


def _systematic(weights: list[float], count: int, u: float, *, normalise: bool = True, scale_u: bool = True, closed: bool = False) -> list:
    """Systematic resampling, or one of its common slips (for naming a wrong answer)."""
    total = sum(weights) if normalise else 1.0
    picked, edge, i = [], weights[0] / total, 0
    for k in range(count):
        pointer = (u + k) / count if scale_u else u + k / count
        while (pointer > edge if closed else pointer >= edge) and i < len(weights) - 1:
            i += 1
            edge += weights[i] / total
        picked.append(i)
    return picked


def _systematic_hint(weights: list[float], count: int, u: float, got: list[int]) -> str:
    expected = _systematic(weights, count, u)
    if len(got) != count:
        return f" Draw exactly count = {count} particles: every pointer picks one."
    slips = [
        (_systematic(weights, count, 0.0), " Use the draw u: the pointers are (u + k) / count, not k / count."),
        (_systematic(weights, count, u, scale_u=False), " Divide u by count as well: the pointers are (u + k) / count, all inside [0, 1)."),
        (_systematic(weights, count, u, normalise=False), " Normalise the weights first (divide by their sum): they need not add up to 1."),
        (_systematic(weights, count, u, closed=True), " A pointer on a boundary belongs to the next particle's slice [start, end)."),
    ]
    return next((why for slip, why in slips if slip == got and slip != expected), "")


def check_systematic(fn: Callable) -> Feedback:
    """Compare a student's ``fn(weights, count, u) -> list of indices`` with systematic
    resampling: pointers ``(u + k) / count`` on the normalised weights' cumulative slices."""

    def raised(case: tuple, error: str) -> str:
        hint = " A pointer must never run past the last particle." if "IndexError" in error else ""
        return f"systematic({case[0]}, {case[1]}, {case[2]}) raised {error}.{hint}"

    results = run_cases(
        fn, "systematic(weights, count, u)", SYSTEMATIC_CASES, arguments=lambda case: (list(case[0]), *case[1:]), raised=raised
    )
    if isinstance(results, Feedback):
        return results
    for (weights, count, u), value in zip(SYSTEMATIC_CASES, results):
        try:
            got = [int(i) for i in value]
        except Exception:
            return Feedback("incorrect", f"systematic({weights}, {count}, {u}) should return a list of indices; got {show(value)}.")
        expected = _systematic(weights, count, u)
        if got != expected:
            hint = _systematic_hint(weights, count, u, got)
            if not hint and sorted(got) == expected:
                hint = " Return the indices in the order the pointers meet them (ascending)."
            return Feedback("incorrect", f"systematic({weights}, {count}, {u}): expected {expected}, got {got}.{hint}")
    return Feedback("correct", f"Correct on all {len(SYSTEMATIC_CASES)} cases, boundaries and unnormalised weights included.")


# --- Self-tests: each checker accepts the reference and rejects the mistakes it names ----------


@registers_selftest("ex-5-1")
def _selftest_puct() -> None:
    assert check_puct(lambda q, p, n, c, k: None, pick=None).status == "not attempted"
    assert check_puct(_puct, pick="unvisited").correct
    assert rejects(check_puct(lambda q, p, n, c, k: q + k * p * n / (1 + c), pick="unvisited"), "square root")
    assert rejects(check_puct(lambda q, p, n, c, k: q + k * p * math.sqrt(n) / max(c, 1), pick="unvisited"), "1 + child")
    assert rejects(check_puct(lambda q, p, n, c, k: q + k * math.sqrt(n) / (1 + c), pick="unvisited"), "prior")
    assert rejects(check_puct(lambda q, p, n, c, k: k * (q + p * math.sqrt(n) / (1 + c)), pick="unvisited"), "not Q")
    assert rejects(check_puct(_puct, pick="visited"), "higher score")
    assert abs(_puct(0.5, 0.5, 16, 0, 1.0) - 2.5) < 1e-12  # the rule the bundled MCTS uses (tsc.strategies.search.mcts)


@registers_selftest("ex-5-2")
def _selftest_beam_keep() -> None:
    def keep(candidates, width, *, finished=True, dedupe=True, best_first=True):
        seen, kept = set(), []
        for i in sorted(range(len(candidates)), key=lambda i: (-candidates[i][1], i)):
            text, _, done = candidates[i]
            if (done and finished) or (dedupe and text in seen):
                continue
            seen.add(text)
            kept.append(i)
        return kept[:width] if best_first else sorted(kept[:width])

    assert check_beam_keep(lambda *args, **kwargs: None).status == "not attempted"
    assert check_beam_keep(keep).correct
    assert rejects(check_beam_keep(lambda c, w: keep(c, w, finished=False)), "nothing left to expand")
    assert rejects(check_beam_keep(lambda c, w: keep(c, w, dedupe=False)), "keep it once")
    assert rejects(check_beam_keep(lambda c, w: keep(c, w, best_first=False)), "best first")


@registers_selftest("ex-5-3")
def _selftest_reencoded() -> None:
    assert check_reencoded(lambda *args, **kwargs: None).status == "not attempted"
    assert check_reencoded(lambda p, s: sum(p + sum(s[:d]) for d in range(len(s)))).correct
    assert rejects(check_reencoded(lambda p, s: sum(p + sum(s[: d + 1]) for d in range(len(s)))), "not the step itself")
    assert rejects(check_reencoded(lambda p, s: p * len(s)), "not only the prompt")
    assert rejects(check_reencoded(lambda p, s: sum(sum(s[:d]) for d in range(len(s)))), "reads the prompt")


@registers_selftest("ex-5-4")
def _selftest_reuse_saving(*, problems, policy, verifier, subtrees: int = 4, expansions: int = 2, seed: int = 0) -> None:
    run = dict(problems=problems, policy=policy, verifier=verifier, subtrees=subtrees, expansions=expansions, seed=seed)
    truth = reuse_saving(problems, policy, verifier, subtrees=subtrees, expansions=expansions, seed=seed)
    assert check_reuse_saving(None, **run).status == "not attempted"
    assert check_reuse_saving(truth["saving"], **run).correct
    assert rejects(check_reuse_saving(truth["policy_saving"], **run), "policy's saving alone")
    assert rejects(check_reuse_saving(truth["ratio"], **run), "one minus it")
    assert rejects(check_reuse_saving(100 * truth["saving"], **run), "percentage")


@registers_selftest("ex-5-5")
def _selftest_systematic() -> None:
    from tsc.strategies.particle import systematic

    def reference(weights, count, u):
        return systematic([w / sum(weights) for w in weights], count, u)

    assert check_systematic(lambda *args: None).status == "not attempted"
    assert check_systematic(reference).correct
    assert check_systematic(lambda w, n, u: _systematic(w, n, u)).correct
    assert rejects(check_systematic(lambda w, n, u: _systematic(w, n, 0.0)), "Use the draw u")
    assert rejects(check_systematic(lambda w, n, u: _systematic(w, n, u, scale_u=False)), "Divide u by count")
    assert rejects(check_systematic(lambda w, n, u: _systematic(w, n, u, normalise=False)), "Normalise")
    assert rejects(check_systematic(lambda w, n, u: _systematic(w, n, u, closed=True)), "boundary")
    assert rejects(check_systematic(lambda w, n, u: [i for i, x in enumerate(w) for _ in range(int(n * x / sum(w)))]), "exactly count")
