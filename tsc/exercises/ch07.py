"""Checkers for the exercises of Chapter 7, The Economics of Inference."""

from __future__ import annotations

from collections.abc import Callable

from tsc.analysis import pareto_front
from tsc.compute import Ledger, TokenPrice
from tsc.exercises.feedback import Feedback, as_number, registers_selftest, rejects, run_cases, show

__all__ = ["check_frontier", "check_token_cost", "check_window_rule"]

# --- Exercise 7.1: a ledger in dollars -------------------------------------------------------

COST_CASES: list[tuple[Ledger, TokenPrice]] = [
    (Ledger(prompt_tokens=1_000, generated_tokens=4_000), TokenPrice(input=2.0, output=8.0, cached_input=0.5)),
    (Ledger(prompt_tokens=200, reused_tokens=5_000, generated_tokens=300), TokenPrice(input=3.0, output=15.0, cached_input=0.3)),
    (Ledger(prompt_tokens=50, generated_tokens=20_000), TokenPrice(input=0.55, output=2.19, cached_input=0.14)),
    (
        Ledger(prompt_tokens=400, reused_tokens=1_200, generated_tokens=900, verifier_tokens=2_500),
        TokenPrice(input=1.1, output=4.4, cached_input=0.275),
    ),
    (Ledger(prompt_tokens=700, reused_tokens=700, generated_tokens=100), TokenPrice(input=2.5, output=10.0)),  # no cache price
    (Ledger(), TokenPrice(input=2.0, output=8.0)),
]  # fmt: skip


def _cost_mistakes(ledger: Ledger, price: TokenPrice) -> dict[str, float]:
    """What the likely wrong formulas give, each with the hint it deserves."""
    cached = price.input if price.cached_input is None else price.cached_input
    right = price.cost(ledger)
    return {
        "Prices are in dollars per million tokens: divide the token counts times the rates by 1,000,000.": right * 1e6,
        "Reused prompt tokens (reused_tokens) were read from the cache: bill them at cached_input, not at the full input price.": (
            right + ledger.reused_tokens * (price.input - cached) / 1e6
        ),
        "The ledger's reused_tokens are prompt tokens too: a cache hit is cheaper, not free; bill them at cached_input.": (
            right - ledger.reused_tokens * cached / 1e6
        ),
        "Generated tokens, the model's thinking included, are billed at the output price, not the input price.": (
            right + ledger.generated_tokens * (price.input - price.output) / 1e6
        ),
        "The verifier reads every sample: bill its verifier_tokens as input tokens.": right - ledger.verifier_tokens * price.input / 1e6,
        "The verifier only reads: bill its verifier_tokens at the input price, not the output price.": (
            right + ledger.verifier_tokens * (price.output - price.input) / 1e6
        ),
    }


def check_token_cost(fn: Callable) -> Feedback:
    """Compare a student's ``fn(ledger, price) -> dollars`` with `TokenPrice.cost`."""

    def raised(case: tuple[Ledger, TokenPrice], error: str) -> str:
        ledger, price = case
        hint = " When price.cached_input is None, reused tokens cost the input price." if price.cached_input is None else ""
        return f"cost({_show_ledger(ledger)}, {_show_price(price)}) raised {error}.{hint}"

    results = run_cases(fn, "cost(ledger, price)", COST_CASES, raised=raised)
    if isinstance(results, Feedback):
        return results
    for (ledger, price), value in zip(COST_CASES, results):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"cost({_show_ledger(ledger)}, ...) should return one number of dollars; got {show(value)}.")
        expected = price.cost(ledger)
        if abs(number - expected) <= 1e-9 * max(1.0, abs(expected)) + 1e-12:
            continue
        hint = next((h for h, wrong in _cost_mistakes(ledger, price).items() if abs(number - wrong) <= 1e-9 * max(1.0, abs(wrong))), "")
        return Feedback(
            "incorrect", f"cost({_show_ledger(ledger)}, {_show_price(price)}): expected ${expected:.6f}, got {number:.6g}. {hint}".rstrip()
        )
    return Feedback("correct", f"Correct on all {len(COST_CASES)} ledgers: input, cached input, output and the verifier's reading.")


def _show_ledger(ledger: Ledger) -> str:
    parts = [
        f"{k}={getattr(ledger, k):,}"
        for k in ("prompt_tokens", "reused_tokens", "generated_tokens", "verifier_tokens")
        if getattr(ledger, k)
    ]
    return f"Ledger({', '.join(parts)})"


def _show_price(price: TokenPrice) -> str:
    cached = f", cached_input={price.cached_input}" if price.cached_input is not None else ""
    return f"TokenPrice(input={price.input}, output={price.output}{cached})"


# --- Exercise 7.2: the Pareto frontier -------------------------------------------------------

FRONTIER_CASES: list[tuple[list[float], list[float], list[int], str]] = [
    ([1.0, 2.0, 3.0], [0.2, 0.4, 0.6], [0, 1, 2], "every extra dollar buys accuracy: all three are on the frontier"),
    ([1.0, 2.0, 3.0], [0.6, 0.4, 0.2], [0], "the cheapest point is also the most accurate"),
    ([3.0, 1.0, 2.0, 4.0], [0.5, 0.1, 0.3, 0.5], [1, 2, 0], "index 3 costs more than index 0 for the same accuracy"),
    ([0.5, 0.7, 0.6, 2.0, 1.5], [0.30, 0.25, 0.35, 0.80, 0.40], [0, 2, 4, 3], "listed from the cheapest"),
    ([1.0, 1.0, 2.0], [0.3, 0.5, 0.4], [1], "at equal cost the more accurate point wins"),
    ([1.0, 1.0, 2.0, 0.5], [0.5, 0.5, 0.7, 0.2], [3, 0, 1, 2], "two equal points do not beat each other: both stay"),
]


def check_frontier(fn: Callable) -> Feedback:
    """Compare a student's ``fn(costs, accuracies) -> indices`` with the Pareto frontier,
    listed from the cheapest point."""
    results = run_cases(
        fn,
        "frontier(costs, accuracies)",
        FRONTIER_CASES,
        arguments=lambda case: (list(case[0]), list(case[1])),
        raised=lambda case, error: f"frontier({case[0]}, {case[1]}) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
    for (cost, accuracy, expected, what), value in zip(FRONTIER_CASES, results):
        indices = _indices(value)
        if indices is None:
            return Feedback("incorrect", f"frontier({cost}, {accuracy}) should return a list of indices (ints); got {show(value)}.")
        if indices == expected:
            continue
        given = f"frontier(costs={cost}, accuracies={accuracy}): expected {expected} ({what}), got {indices}."
        if sorted(indices) == sorted(expected):
            return Feedback("incorrect", f"{given} The right points, in the wrong order: list them from the cheapest.")
        if sorted(indices) == sorted(pareto_front([-c for c in cost], accuracy)):
            return Feedback("incorrect", f"{given} Those are the most expensive points: a frontier point is one no cheaper point matches.")
        if set(expected) < set(indices):
            return Feedback(
                "incorrect",
                f"{given} Some of these are beaten: another point is at least as cheap and at least as accurate, "
                "and strictly better in one of the two.",
            )
        if set(indices) < set(expected):
            equal = [
                i
                for i in expected
                if i not in indices and any(j != i and (cost[j], accuracy[j]) == (cost[i], accuracy[i]) for j in expected)
            ]
            if equal:
                return Feedback(
                    "incorrect",
                    f"{given} Equal points removed each other: a point is beaten only by one at least as good in both "
                    "and strictly better in one, so two equal points both stay.",
                )
            return Feedback("incorrect", f"{given} Points between the cheapest and the most accurate belong too, if nothing beats them.")
        return Feedback("incorrect", given)
    return Feedback("correct", f"Correct on all {len(FRONTIER_CASES)} cases.")


def _indices(value) -> list[int] | None:
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        return None
    try:
        items = list(value)
    except Exception:
        return None
    out = []
    for item in items:
        number = as_number(item)
        if number is None or number != int(number) or isinstance(item, float):
            return None
        out.append(int(number))
    return out


# --- Exercise 7.3: stop when a window agrees (ESC) -------------------------------------------

WINDOW_CASES: list[tuple[list, int, bool, str]] = [
    (["7", "7", "7", "7"], 4, True, "the whole window agrees"),
    (["7", "7", "7", "9"], 4, False, "one sample disagrees"),
    (["3", "9", "1", "2", "7", "7", "7", "7"], 4, True, "the latest window agrees, whatever the first said"),
    (["7", "7", "7", "7", "7", "7", "9", "7"], 4, False, "the latest window has a dissent (an earlier one agreed)"),
    ([None, None, None, None], 4, False, "malformed samples have no answer to agree on"),
    (["7", None, "7", "7"], 4, False, "a malformed sample is not agreement"),
    (["5", "5"], 2, True, "a window of two agrees"),
    (["5", "6", "6", "6", "6", "6"], 2, True, "the latest window of two agrees"),
    (["5", "6", "6", "5"], 2, False, "the latest window of two disagrees"),
    (["4", "4", "4", "8", "8", "4"], 3, False, "the majority of the window is not enough"),
    (["7", "7"], 4, False, "the window is not full yet: two samples are not a window of four"),
    (["9"], 2, False, "one sample is not a window of two"),
]


def check_window_rule(fn: Callable) -> Feedback:
    """Compare a student's ``fn(keys, window) -> bool`` with ESC's rule: stop when the latest
    ``window`` answer keys are one and the same answer (None is no answer)."""
    from tsc.exercises.feedback import is_bool

    results = run_cases(
        fn,
        "should_stop(keys, window)",
        WINDOW_CASES,
        arguments=lambda case: (list(case[0]), case[1]),
        raised=lambda case, error: f"should_stop({case[0]}, window={case[1]}) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
    for (keys, window, expected, what), value in zip(WINDOW_CASES, results):
        if not is_bool(value):
            return Feedback("incorrect", f"should_stop({keys}, window={window}) should return True or False; got {show(value)}.")
        if bool(value) != expected:
            verdict = "stop" if expected else "go on"
            hint = (
                " Wait until there are at least `window` samples: keys[-window:] is shorter while the window fills."
                if len(keys) < window
                else ""
            )
            return Feedback("incorrect", f"should_stop({keys}, window={window}): expected {expected} (to {verdict}: {what}).{hint}")
    return Feedback("correct", f"Correct on all {len(WINDOW_CASES)} cases: ESC stops when the latest window is unanimous.")


# --- self-tests: each checker accepts the reference, rejects the mistakes it names ------------


def reference_cost(ledger, price):
    cached = price.input if price.cached_input is None else price.cached_input
    return (
        ledger.prompt_tokens * price.input + ledger.reused_tokens * cached + ledger.generated_tokens * price.output
        + ledger.verifier_tokens * price.input
    ) / 1e6  # fmt: skip


def reference_frontier(costs, accuracies):
    keep = [
        i for i, (c, a) in enumerate(zip(costs, accuracies))
        if not any(c2 <= c and a2 >= a and (c2 < c or a2 > a) for c2, a2 in zip(costs, accuracies))
    ]  # fmt: skip
    return sorted(keep, key=lambda i: (costs[i], -accuracies[i]))


def reference_window_rule(keys, window):
    latest = keys[-window:]
    return len(latest) == window and latest[0] is not None and all(k == latest[0] for k in latest)


@registers_selftest("ex-7-1")
def _selftest_token_cost(ledger: Ledger | None = None, price: TokenPrice | None = None) -> None:
    assert check_token_cost(lambda ledger, price: None).status == "not attempted"
    assert check_token_cost(reference_cost).correct
    assert rejects(check_token_cost(lambda l, p: ((l.prompt_tokens + l.reused_tokens) * p.input + l.generated_tokens * p.output) / 1e6))
    assert rejects(check_token_cost(lambda l, p: reference_cost(l, p) * 1e6), "per million")
    assert rejects(check_token_cost(lambda l, p: reference_cost(l, p) - l.verifier_tokens * p.input / 1e6), "verifier")
    if ledger is not None and price is not None:  # the chapter's run priced by the reference and by the package agree
        assert abs(reference_cost(ledger, price) - ledger.cost(price)) < 1e-12


@registers_selftest("ex-7-2")
def _selftest_frontier(costs: list | None = None, accuracies: list | None = None) -> None:
    assert check_frontier(lambda costs, accuracies: None).status == "not attempted"
    assert check_frontier(reference_frontier).correct
    assert rejects(check_frontier(lambda c, a: sorted(reference_frontier(c, a))), "from the cheapest")

    def drops_equal(c, a):  # "beaten" without "strictly better in one": two equal points remove each other
        keep = [i for i in range(len(c)) if not any(j != i and c[j] <= c[i] and a[j] >= a[i] for j in range(len(c)))]
        return sorted(keep, key=lambda i: (c[i], -a[i]))

    assert rejects(check_frontier(drops_equal), "Equal points removed each other")
    if costs is not None:  # on the chapter's own points the reference is the package's frontier
        assert reference_frontier(list(costs), list(accuracies)) == pareto_front(costs, accuracies)


@registers_selftest("ex-7-3")
def _selftest_window_rule() -> None:
    assert check_window_rule(lambda keys, window: None).status == "not attempted"
    assert check_window_rule(reference_window_rule).correct
    assert rejects(check_window_rule(lambda keys, window: len(set(keys[-window:])) == 1))  # None as an answer, or too early
    early = lambda keys, window: keys[-1] is not None and all(k == keys[-1] for k in keys[-window:])  # noqa: E731
    assert rejects(check_window_rule(early), "window is not full")
    assert rejects(check_window_rule(lambda keys, window: len(set(keys)) == 1 and keys[0] is not None))
