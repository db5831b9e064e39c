"""Checkers for the exercises of Chapter 4, The Compute Trade-Off, and their self-tests
(`tsc.exercises.selftest("ex-4-K")`)."""

from __future__ import annotations

import math
from collections.abc import Callable

from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, registers_selftest, rejects, run_cases, show

# --- Exercise 4.1: a Chinchilla-optimal training budget ------------------------------------

CHINCHILLA_PARAMS = (33_696, 132_928, 445_344, 1_052_800, 7_000_000_000)


def _pair(value) -> tuple[float, float] | None:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        return None
    tokens, flops = as_number(value[0]), as_number(value[1])
    return None if tokens is None or flops is None else (tokens, flops)


def check_chinchilla(fn: Callable) -> Feedback:
    """Is ``fn(n_params)`` = (tokens, training FLOPs) of Chinchilla's rule: 20 tokens per
    parameter, 6·N FLOPs per training token?"""
    answers = run_cases(
        fn,
        "chinchilla(n_params) returning (tokens, flops)",
        CHINCHILLA_PARAMS,
        arguments=lambda n: (n,),
        raised=lambda n, error: f"chinchilla({n:,}) raised {error}.",
    )
    if isinstance(answers, Feedback):
        return answers
    for n, value in zip(CHINCHILLA_PARAMS, answers):
        pair = _pair(value)
        if pair is None:
            return Feedback("incorrect", f"chinchilla({n:,}) should return two numbers, (tokens, flops); got {show(value)}.")
        tokens, flops = pair
        if not math.isclose(tokens, 20 * n, rel_tol=1e-3):
            hint = (
                " Chinchilla's rule is 20 tokens *per parameter*: D = 20·N, not N/20." if math.isclose(tokens, n / 20, rel_tol=1e-3) else ""
            )
            return Feedback("incorrect", f"For N = {n:,} parameters expected {20 * n:,} training tokens, got {tokens:,.0f}.{hint}")
        expected = 6 * n * 20 * n
        if not math.isclose(flops, expected, rel_tol=1e-3):
            if math.isclose(flops, 2 * n * tokens, rel_tol=1e-3):
                hint = " 2·N per token is a forward pass (inference); training adds the backward pass, twice as dear: 6·N per token."
            elif math.isclose(flops, 6 * n * 20, rel_tol=1e-3) or math.isclose(flops, 6 * 20 * n, rel_tol=1e-3):
                hint = " That is the cost of 20 tokens; training reads D = 20·N tokens, so C = 6·N·D = 120·N²."
            elif math.isclose(flops, 6 * n, rel_tol=1e-3):
                hint = " That is one training token's cost; multiply by the D = 20·N tokens."
            else:
                hint = " Use C = 6·N·D."
            return Feedback("incorrect", f"For N = {n:,} expected {expected:.3e} training FLOPs, got {flops:.3e}.{hint}")
    return Feedback("correct", "Correct: D = 20·N tokens and C = 6·N·D = 120·N² FLOPs, e.g. 2.7e13 FLOPs for the 1.05 M model.")


# --- Exercise 4.2: an exchange rate from two checkpoints -----------------------------------

EXCHANGE_CASES = [
    # (train_small, test_small, train_big, test_big)
    (1e12, 1e9, 1e13, 1e8),  # 10x training saves 10x test: 10
    (1e12, 6e8, 1e14, 6e6),  # 100x training saves 100x: 10 per 10x
    (2.2e12, 4e9, 6.7e13, 2e8),
    (8.5e12, 3e8, 2.8e13, 4e8),  # the bigger model needs more test FLOPs: below 1
    (1e12, 5e8, 4e12, 5e8),  # no saving: 1
]


def reference_exchange(train_small: float, test_small: float, train_big: float, test_big: float) -> float:
    return (test_small / test_big) ** (1 / math.log10(train_big / train_small))


def check_exchange(fn: Callable) -> Feedback:
    """Is ``fn(train_small, test_small, train_big, test_big)`` the factor of test-time FLOPs
    that replaces 10× the training FLOPs, at equal accuracy?"""
    answers = run_cases(
        fn,
        "exchange(train_small, test_small, train_big, test_big)",
        EXCHANGE_CASES,
        raised=lambda case, error: f"exchange{case} raised {error}.",
    )
    if isinstance(answers, Feedback):
        return answers
    for case, value in zip(EXCHANGE_CASES, answers):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"exchange{case} should return one number (a factor); got {show(value)}.")
        expected = reference_exchange(*case)
        if not math.isclose(number, expected, rel_tol=1e-6):
            ts, ss, tb, sb = case
            if math.isclose(number, ss / sb, rel_tol=1e-6):
                hint = " That is the whole ratio of test FLOPs; express it per 10× of training: raise it to 1 / log10(train ratio)."
            elif math.isclose(number, 1 / expected, rel_tol=1e-6):
                hint = " Upside down: the small model needs the extra test FLOPs, so divide its test FLOPs by the big model's."
            elif math.isclose(number, (ss / sb) ** (1 / math.log(tb / ts)), rel_tol=1e-6):
                hint = " That is per factor e of training; a factor of 10 needs log base 10."
            else:
                hint = ""
            return Feedback("incorrect", f"exchange{case}: expected {expected:.4g}, got {number:.4g}.{hint}")
    return Feedback("correct", f"Correct on all {len(EXCHANGE_CASES)} cases, including one where bigger training saves nothing (1×).")


# --- Exercise 4.3: the break-even volume ---------------------------------------------------

BREAK_EVEN_CASES = [
    # (train_a, per_query_a, train_b, per_query_b) -> B has more training
    (1e12, 1e9, 1e13, 1e8),
    (2.2e12, 4e9, 6.7e13, 2e8),
    (1e12, 1e8, 5e12, 1e8),  # B's queries are no cheaper: never
    (1e12, 1e8, 5e12, 3e8),  # B's queries are dearer: never
    (3e12, 7e8, 3e12, 2e8),  # the same training, cheaper queries: from the first query
    (1e12, 7e8, 4e12, 4e8),  # a crossing between two whole numbers: 10,000 exactly
    (1e12, 9e8, 4.5e12, 2e8),  # 5,000 exactly
    (2e12, 1e9, 9e12, 3e8),  # 10,000 exactly
    (1e12, 3e8, 2e12, 1e8 + 1),  # 5,000.000025...: from query 5,001 on
]


def reference_break_even(train_a: float, query_a: float, train_b: float, query_b: float) -> float:
    if query_b >= query_a:
        return math.inf
    return max(0.0, (train_b - train_a) / (query_a - query_b))


def check_break_even(fn: Callable) -> Feedback:
    """Is ``fn(train_a, per_query_a, train_b, per_query_b)`` the number of queries after which
    B (more training) has cost less in all, and ``math.inf`` when it never does?"""
    answers = run_cases(
        fn,
        "break_even(train_a, per_query_a, train_b, per_query_b)",
        BREAK_EVEN_CASES,
        raised=lambda case, error: f"break_even{case} raised {error}. When B's queries are not cheaper, return math.inf.",
    )
    if isinstance(answers, Feedback):
        return answers
    for case, value in zip(BREAK_EVEN_CASES, answers):
        ta, qa, tb, qb = case
        expected = reference_break_even(*case)
        number = math.inf if value == math.inf else as_number(value)
        if number is None:
            return Feedback("incorrect", f"break_even{case} should return a number of queries (or math.inf); got {show(value)}.")
        if math.isinf(expected):
            if not math.isinf(number):
                return Feedback(
                    "incorrect",
                    f"break_even{case}: B's queries cost {qb:.3g} FLOPs, A's {qa:.3g}: B never catches up, so return math.inf "
                    f"(got {number:.10g}; a negative or zero volume would mean B was cheaper from the start).",
                )
            continue
        # the crossing itself, or the first whole number of queries from which B is no dearer: both are right
        whole = math.ceil(expected - 1e-9 * max(1.0, expected))
        if not math.isinf(number) and (math.isclose(number, expected, rel_tol=1e-6, abs_tol=1e-9) or number == whole):
            continue
        if not math.isinf(number) and math.isclose(number, tb / qa, rel_tol=1e-6):
            hint = " B's training is only the extra cost: count what A spent on training too, (train_b - train_a)."
        elif not math.isinf(number) and math.isclose(number, (tb - ta) / qa, rel_tol=1e-6):
            hint = " B pays for its queries too: each query saves only the difference, per_query_a - per_query_b."
        elif not math.isinf(number) and math.isclose(number, (tb + ta) / (qa - qb), rel_tol=1e-6):
            hint = " Totals are equal where train_a + Q·a = train_b + Q·b: the trainings subtract."
        elif not math.isinf(number) and number == math.floor(expected) and number < expected:
            hint = f" Rounded down: at {number:,.0f} queries B is still dearer; the first whole number of queries is {whole:,}."
        else:
            hint = " Solve train_a + Q·per_query_a = train_b + Q·per_query_b for Q."
        shown = "inf" if math.isinf(number) else f"{number:,.10g}"
        return Feedback(
            "incorrect", f"break_even{case}: expected {expected:,.10g} queries (or {whole:,} as a whole number), got {shown}.{hint}"
        )
    return Feedback(
        "correct",
        f"Correct on all {len(BREAK_EVEN_CASES)} cases, including the ones where B never breaks even (a whole number of queries is fine).",
    )


# --- Exercise 4.4: your own allocation by size ---------------------------------------------


def best_allocation(table: dict, shares: dict, budget: float) -> tuple[dict, float]:
    """The choice per size (exhaustively) with the most accuracy at mean FLOPs <= budget."""
    import itertools

    sizes = sorted(table)
    best, value = None, -1.0
    for combo in itertools.product(*(sorted(table[s]) for s in sizes)):
        flops = sum(shares[s] * table[s][c][1] for s, c in zip(sizes, combo))
        acc = sum(shares[s] * table[s][c][0] for s, c in zip(sizes, combo))
        if flops <= budget and acc > value + 1e-12:
            best, value = dict(zip(sizes, combo)), acc
    return best, value


def check_allocation_choice(choice, *, table: dict, shares: dict, budget: float, tolerance: float = 0.002) -> Feedback:
    """Is ``choice`` ({size: candidate name}) within ``budget`` mean FLOPs per problem on
    ``table`` ({size: {candidate: (accuracy, mean FLOPs)}}, problems weighted by ``shares``),
    and within ``tolerance`` of the most accuracy any such choice reaches?"""
    if choice is None:
        return NOT_ATTEMPTED
    if not isinstance(choice, dict):
        return Feedback(
            "incorrect",
            f"Expected a dict {{size: candidate name}}, e.g. {{3: 'greedy', 4: 'best_of_n 4', 5: 'greedy'}}; got {show(choice)}.",
        )
    missing = [s for s in table if s not in choice]
    if missing:
        return Feedback("incorrect", f"Choose a candidate for every size: missing {', '.join(map(str, missing))}.")
    for s, name in choice.items():
        if s not in table:
            return Feedback("incorrect", f"{s!r} is not a size of the table (sizes: {', '.join(map(str, table))}).")
        if name not in table[s]:
            return Feedback("incorrect", f"{name!r} is not a candidate (candidates: {', '.join(sorted(table[s]))}).")
    flops = sum(shares[s] * table[s][choice[s]][1] for s in table)
    acc = sum(shares[s] * table[s][choice[s]][0] for s in table)
    _, optimum = best_allocation(table, shares, budget)
    if flops > budget * (1 + 1e-9):
        unweighted = sum(table[s][choice[s]][1] for s in table) / len(table)
        hint = (
            " Weight each size by its share of the problems: the mean is over problems, not over sizes."
            if unweighted <= budget
            else " The most accurate candidate everywhere is over budget: give the expensive ones only to the sizes where they pay most."
        )
        return Feedback(
            "incorrect", f"Over budget: your choice costs {flops:.3g} FLOPs per problem on average, the budget is {budget:.3g}.{hint}"
        )
    if acc < optimum - tolerance:
        same = len(set(choice.values())) == 1
        hint = (
            " One strategy for every size is the fixed baseline; spend differently by size: where does the next FLOP buy the most accuracy?"
            if same
            else " Compare, for each size, the extra accuracy per extra FLOP of its candidates."
        )
        return Feedback(
            "incorrect", f"Within budget ({flops:.3g} FLOPs per problem) but {acc:.1%} solved; {optimum:.1%} is possible.{hint}"
        )
    return Feedback("correct", f"Correct: {acc:.1%} solved at {flops:.3g} FLOPs per problem on average (budget {budget:.3g}).")


# --- the self-tests the chapter's hidden cells run ----------------------------------------------


@registers_selftest("ex-4-1")
def _selftest_chinchilla() -> None:
    assert check_chinchilla(lambda n_params: None).status == "not attempted"
    assert check_chinchilla(lambda n: (20 * n, 120 * n * n)).correct
    assert rejects(check_chinchilla(lambda n: (20 * n, 40 * n * n)), "forward pass")  # 2N per token
    assert rejects(check_chinchilla(lambda n: (n / 20, 6 * n * n / 20)), "per parameter")
    assert rejects(check_chinchilla(lambda n: (20 * n, 120 * n)), "20 tokens")


@registers_selftest("ex-4-2")
def _selftest_exchange() -> None:
    assert check_exchange(lambda ts, qs, tb, qb: None).status == "not attempted"
    assert check_exchange(reference_exchange).correct
    assert rejects(check_exchange(lambda ts, ss, tb, sb: ss / sb), "per 10")
    assert rejects(check_exchange(lambda ts, ss, tb, sb: 1 / reference_exchange(ts, ss, tb, sb)), "Upside down")
    assert rejects(check_exchange(lambda ts, ss, tb, sb: (ss / sb) ** (1 / math.log(tb / ts))), "log base 10")


@registers_selftest("ex-4-3")
def _selftest_break_even() -> None:
    assert check_break_even(lambda ta, qa, tb, qb: None).status == "not attempted"
    assert check_break_even(reference_break_even).correct
    whole = lambda ta, qa, tb, qb: math.ceil(reference_break_even(ta, qa, tb, qb) - 1e-9) if qb < qa else math.inf  # noqa: E731
    assert check_break_even(whole).correct  # the first whole number of queries is right too
    assert rejects(check_break_even(lambda ta, qa, tb, qb: (tb - ta) / (qa - qb)), "math.inf")  # divides by zero
    assert rejects(check_break_even(lambda ta, qa, tb, qb: (tb - ta) / qa if qb < qa else math.inf), "saves only the difference")
    floor = lambda ta, qa, tb, qb: math.floor(reference_break_even(ta, qa, tb, qb)) if qb < qa else math.inf  # noqa: E731
    assert rejects(check_break_even(floor), "Rounded down")


@registers_selftest("ex-4-4")
def _selftest_allocation(*, table: dict, shares: dict, budget: float) -> None:
    """The placeholder, the knapsack's own choice, and the two likely mistakes: the richest
    candidate everywhere (over budget) and one strategy for every size (the fixed baseline)."""
    assert check_allocation_choice(None, table=table, shares=shares, budget=budget).status == "not attempted"
    reference, _ = best_allocation(table, shares, budget)
    assert check_allocation_choice(reference, table=table, shares=shares, budget=budget).correct
    richest = {s: max(table[s], key=lambda n: table[s][n][0]) for s in table}
    assert rejects(check_allocation_choice(richest, table=table, shares=shares, budget=budget), "Over budget")
    names = sorted(table[next(iter(table))])
    affordable = [n for n in names if sum(shares[s] * table[s][n][1] for s in table) <= budget]
    same = max(affordable, key=lambda n: sum(shares[s] * table[s][n][0] for s in table))
    fixed = {s: same for s in table}
    feedback = check_allocation_choice(fixed, table=table, shares=shares, budget=budget)
    assert feedback.correct or rejects(feedback, "fixed baseline"), feedback.message


__all__ = ["check_allocation_choice", "check_break_even", "check_chinchilla", "check_exchange"]
