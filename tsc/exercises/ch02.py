"""Checkers for the exercises of Chapter 2, From o1 to o3."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tsc.exercises.feedback import NOT_ATTEMPTED, Feedback, as_number, call, show

# --- Exercise 2.1: what a task costs ----------------------------------------------------------

# (tokens in all, tasks, dollars per million output tokens)
COST_CASES: list[tuple[float, int, float]] = [
    (33e6, 100, 60.0),  # o3's low-compute ARC-AGI run, at o1's output price
    (5.7e9, 100, 40.0),  # o3's high-compute run, at o3's launch output price
    (5.7e9, 100, 8.0),  # ... and at its later price
    (1_000_000, 1, 60.0),
    (250_000, 10, 4.4),
    (12_345, 3, 2.19),
]


def _cost_per_task(tokens: float, tasks: int, price: float) -> float:
    return tokens / tasks * price / 1e6


def check_cost_per_task(fn: Callable) -> Feedback:
    """Compare a student's ``fn(tokens, tasks, price_per_million)`` with dollars per task."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function cost_per_task(tokens, tasks, price_per_million); got {show(fn)}.")
    results = []
    for tokens, tasks, price in COST_CASES:
        value, error = call(fn, tokens, tasks, price)
        if error:
            return Feedback("incorrect", f"cost_per_task({tokens:g}, {tasks}, {price}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for (tokens, tasks, price), value in zip(COST_CASES, results):
        number = as_number(value)
        expected = _cost_per_task(tokens, tasks, price)
        if number is None:
            return Feedback(
                "incorrect", f"cost_per_task({tokens:g}, {tasks}, {price}) should return dollars (one number); got {show(value)}."
            )
        if abs(number - expected) <= 1e-6 * max(1.0, expected):
            continue
        hint = ""
        if tasks > 1 and abs(number - expected * tasks) <= 1e-6 * expected * tasks:
            hint = " That is the cost of all the tasks together: divide by the number of tasks."
        elif abs(number - expected * 1000) <= 1e-3 * expected * 1000:
            hint = " The price is per million tokens, not per thousand."
        elif abs(number - expected * 1e6) <= 1e-3 * expected * 1e6:
            hint = " The price is per million tokens: divide by 1,000,000."
        elif abs(number - expected / tasks) <= 1e-6 * max(1.0, expected) and tasks > 1:
            hint = " You divided by the number of tasks twice."
        return Feedback("incorrect", f"cost_per_task({tokens:g}, {tasks}, {price}): expected ${expected:,.4f}, got {number!r}.{hint}")
    return Feedback("correct", f"Correct on all {len(COST_CASES)} cases, including o3's two ARC-AGI runs.")


# --- Exercise 2.2: group-relative advantages ---------------------------------------------------


def _advantage_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(2)
    return [
        np.array([[1.0, 0.0, 0.0, 0.0]]),
        np.array([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]),
        np.array([[1.0, 1.0, 1.0, 1.0], [0.0, 1.0, 0.0, 0.0]]),  # an all-correct group: advantage 0
        np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]]),  # no signal anywhere
        (rng.random((5, 8)) < 0.3).astype(float),
        np.array([[0.5, 1.0, 0.0, 0.25, 0.75, 1.0]]),  # rewards need not be 0 or 1
    ]


def reference_advantages(rewards) -> np.ndarray:
    """GRPO's advantages: within each group (row), reward minus the mean over the population
    standard deviation; 0 for a group whose rewards are all equal."""
    from tsc.lm.rl import group_advantages

    return group_advantages(np.asarray(rewards, dtype=float))


def check_advantages(fn: Callable) -> Feedback:
    """Compare a student's ``fn(rewards)`` (rewards: groups × group size) with GRPO's advantages."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function advantages(rewards); got {show(fn)}.")
    cases = _advantage_cases()
    results = []
    for rewards in cases:
        value, error = call(fn, rewards.copy())
        if error:
            return Feedback("incorrect", f"advantages({rewards.tolist()}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    for rewards, value in zip(cases, results):
        shown = f"advantages({rewards.tolist()})" if rewards.size <= 12 else f"advantages of a {rewards.shape[0]}×{rewards.shape[1]} batch"
        try:
            got = np.asarray(value, dtype=float)
        except (TypeError, ValueError):
            return Feedback("incorrect", f"{shown} should return an array of the rewards' shape {rewards.shape}; got {show(value)}.")
        if got.shape != rewards.shape:
            return Feedback("incorrect", f"{shown} should return an array of the rewards' shape {rewards.shape}; got shape {got.shape}.")
        expected = reference_advantages(rewards)
        if np.allclose(got, expected, atol=1e-3, rtol=1e-3):  # (std + 1e-4), as TRL writes it, is fine
            continue
        return Feedback(
            "incorrect",
            f"{shown}: expected {np.round(expected, 3).tolist()}, got {np.round(got, 3).tolist()}.{_advantage_hint(rewards, got)}",
        )
    return Feedback("correct", f"Correct on all {len(cases)} batches, including groups whose samples all agree.")


def _advantage_hint(rewards: np.ndarray, got: np.ndarray) -> str:
    """What a wrong answer most likely did."""
    same = (rewards == rewards[:, :1]).all(axis=1)
    if not np.isfinite(got).all():
        return " A group whose rewards are all equal has standard deviation 0: give it advantage 0, not a division by zero."
    if same.any() and not np.allclose(got[same], 0):
        return " A group whose rewards are all equal carries no signal: its advantages must be 0."
    centred = rewards - rewards.mean(axis=1, keepdims=True)
    if np.allclose(got, centred, atol=1e-6):
        return " You subtracted the group's mean but did not divide by the group's standard deviation (that is Dr. GRPO's variant)."
    if np.allclose(got, rewards, atol=1e-6):
        return " These are the raw rewards: subtract each group's mean (a baseline), then divide by its standard deviation."
    spread = rewards.std(axis=1, ddof=1, keepdims=True) if rewards.shape[1] > 1 else None
    if spread is not None and np.allclose(got[~same], (centred / np.where(spread > 0, spread, 1))[~same], atol=1e-6):
        return " Use the population standard deviation (numpy's default, ddof=0), not the sample one (ddof=1)."
    flat = rewards.std()
    if flat > 0 and np.allclose(got, (rewards - rewards.mean()) / flat, atol=1e-6):
        return " You normalised over the whole batch: each group (row) needs its own mean and standard deviation."
    return " Within each row: subtract the row's mean, divide by the row's standard deviation (0 where it is 0)."


# --- Exercise 2.3: how many groups carry a signal ----------------------------------------------

INFORMATIVE_CASES: list[tuple[float, int]] = [
    (0.5, 2),
    (0.5, 16),
    (0.05, 16),
    (0.9, 16),
    (0.0, 8),
    (1.0, 8),
    (0.3, 1),
    (0.2, 64),
    (0.97, 4),
]


def _informative(p: float, group_size: int) -> float:
    return 1.0 - p**group_size - (1.0 - p) ** group_size


def check_informative(fn: Callable) -> Feedback:
    """Compare a student's ``fn(p, group_size)`` with the chance that a group of samples of a
    problem solved with probability ``p`` is neither all right nor all wrong."""
    if fn is None:
        return NOT_ATTEMPTED
    if not callable(fn):
        return Feedback("incorrect", f"Expected a function informative(p, group_size); got {show(fn)}.")
    results = []
    for p, g in INFORMATIVE_CASES:
        value, error = call(fn, p, g)
        if error:
            return Feedback("incorrect", f"informative({p}, {g}) raised {error}.")
        results.append(value)
    if all(r is None for r in results):
        return NOT_ATTEMPTED
    numbers = []
    for (p, g), value in zip(INFORMATIVE_CASES, results):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"informative({p}, {g}) should return a probability (one number); got {show(value)}.")
        numbers.append(number)

    def matches(formula) -> bool:  # the student's numbers follow ``formula`` on every case
        return all(abs(n - formula(p, g)) <= 1e-9 for n, (p, g) in zip(numbers, INFORMATIVE_CASES))

    for (p, g), number in zip(INFORMATIVE_CASES, numbers):
        expected = _informative(p, g)
        if abs(number - expected) <= 1e-9:
            continue
        hint = ""
        if matches(lambda p, g: 1 - (1 - p) ** g):
            hint = " That is the chance of at least one correct sample; a group where all are correct teaches nothing either."
        elif matches(lambda p, g: 1 - p**g):
            hint = " That is the chance that not all are correct; a group where all are wrong teaches nothing either."
        elif matches(lambda p, g: 2 * p * (1 - p)) or matches(lambda p, g: p * (1 - p)):
            hint = " The group size matters: a larger group is more likely to hold both a right and a wrong sample."
        elif g == 1:
            hint = " A group of one sample has nothing to be compared with."
        return Feedback("incorrect", f"informative({p}, {g}): expected {expected:.6f}, got {number:.6f}.{hint}")
    return Feedback("correct", f"Correct on all {len(INFORMATIVE_CASES)} cases, including p = 0, p = 1 and groups of one.")
