"""Checkers for the exercises of Chapter 7, The Economics of Inference."""

from __future__ import annotations

from collections.abc import Callable

from tsc.compute import Ledger, TokenPrice
from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, call, show

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
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function cost(ledger, price); got {show(fn)}.")
    results = []
    for ledger, price in COST_CASES:
        value, error = call(fn, ledger, price)
        if error:
            hint = " When price.cached_input is None, reused tokens cost the input price." if price.cached_input is None else ""
            return Feedback("incorrect", f"cost({_show_ledger(ledger)}, {_show_price(price)}) raised {error}.{hint}")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
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
]


def _frontier(cost: list[float], accuracy: list[float]) -> list[int]:
    from tsc.analysis import pareto_front

    return pareto_front(cost, accuracy)


def check_frontier(fn: Callable) -> Feedback:
    """Compare a student's ``fn(costs, accuracies) -> indices`` with the Pareto frontier,
    listed from the cheapest point."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function frontier(costs, accuracies); got {show(fn)}.")
    results = []
    for cost, accuracy, _, _ in FRONTIER_CASES:
        value, error = call(fn, list(cost), list(accuracy))
        if error:
            return Feedback("incorrect", f"frontier({cost}, {accuracy}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (cost, accuracy, expected, what), value in zip(FRONTIER_CASES, results):
        indices = _indices(value)
        if indices is None:
            return Feedback("incorrect", f"frontier({cost}, {accuracy}) should return a list of indices (ints); got {show(value)}.")
        if indices == expected:
            continue
        given = f"frontier(costs={cost}, accuracies={accuracy}): expected {expected} ({what}), got {indices}."
        if sorted(indices) == sorted(expected):
            return Feedback("incorrect", f"{given} The right points, in the wrong order: list them from the cheapest.")
        if sorted(indices) == sorted(_frontier([-c for c in cost], accuracy)):
            return Feedback("incorrect", f"{given} Those are the most expensive points: a frontier point is one no cheaper point matches.")
        if set(expected) < set(indices):
            return Feedback(
                "incorrect",
                f"{given} Some of these are beaten: another point is at least as cheap and at least as accurate, "
                "and strictly better in one of the two.",
            )
        if set(indices) < set(expected):
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
]


def check_window_rule(fn: Callable) -> Feedback:
    """Compare a student's ``fn(keys, window) -> bool`` with ESC's rule: stop when the latest
    ``window`` answer keys are one and the same answer (None is no answer)."""
    from tsc.exercises.feedback import is_bool

    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function should_stop(keys, window); got {show(fn)}.")
    results = []
    for keys, window, _, _ in WINDOW_CASES:
        value, error = call(fn, list(keys), window)
        if error:
            return Feedback("incorrect", f"should_stop({keys}, window={window}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (keys, window, expected, what), value in zip(WINDOW_CASES, results):
        if not is_bool(value):
            return Feedback("incorrect", f"should_stop({keys}, window={window}) should return True or False; got {show(value)}.")
        if bool(value) != expected:
            verdict = "stop" if expected else "go on"
            return Feedback("incorrect", f"should_stop({keys}, window={window}): expected {expected} (to {verdict}: {what}).")
    return Feedback("correct", f"Correct on all {len(WINDOW_CASES)} cases: ESC stops when the latest window is unanimous.")
