"""Chapter 2's exercise checkers: the reference is correct, the placeholder is "not attempted",
and the wrong answers students most likely write are rejected with a message that names the
mistake (never an exception)."""

from __future__ import annotations

import numpy as np
import pytest

from tsc.exercises import check_advantages, check_cost_per_task, check_informative

# --- Exercise 2.1: cost per task ----------------------------------------------------------------


def cost_per_task(tokens, tasks, price_per_million):
    return tokens / tasks * price_per_million / 1e6


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda tokens, tasks, price: tokens * price / 1e6, "divide by the number of tasks"),  # forgot the tasks
        (lambda tokens, tasks, price: tokens / tasks * price / 1e3, "per million tokens, not per thousand"),
        (lambda tokens, tasks, price: tokens / tasks * price, "divide by 1,000,000"),
        (lambda tokens, tasks, price: tokens / tasks / tasks * price / 1e6, "divided by the number of tasks twice"),
    ],
)
def test_cost_per_task_names_the_mistake(wrong, hint):
    assert check_cost_per_task(cost_per_task).correct
    feedback = check_cost_per_task(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


# --- Exercise 2.2: group-relative advantages ------------------------------------------------------


def advantages(rewards):
    rewards = np.asarray(rewards, dtype=float)
    mean = rewards.mean(axis=1, keepdims=True)
    std = rewards.std(axis=1, keepdims=True)
    return np.where(std > 0, (rewards - mean) / np.where(std > 0, std, 1), 0.0)


def no_std(rewards):
    return rewards - rewards.mean(axis=1, keepdims=True)


def divide_by_zero(rewards):
    with np.errstate(invalid="ignore", divide="ignore"):
        return (rewards - rewards.mean(axis=1, keepdims=True)) / rewards.std(axis=1, keepdims=True)


def batch_wide(rewards):
    std = rewards.std()
    return (rewards - rewards.mean()) / std if std > 0 else np.zeros_like(rewards)


def sample_std(rewards):
    std = rewards.std(axis=1, ddof=1, keepdims=True)
    return np.where(std > 0, (rewards - rewards.mean(axis=1, keepdims=True)) / np.where(std > 0, std, 1), 0.0)


def epsilon_std(rewards):  # the usual (r - mean) / (std + eps): all-equal groups give 0, but the rest is off by eps
    return (rewards - rewards.mean(axis=1, keepdims=True)) / (rewards.std(axis=1, keepdims=True) + 1e-4)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (no_std, "did not divide by the group's standard deviation"),
        (divide_by_zero, "not a division by zero"),
        (batch_wide, "each group (row) needs its own mean"),
        (sample_std, "population standard deviation"),
        (lambda r: r, "raw rewards"),
        (lambda r: r.ravel() - r.mean(), "shape"),
    ],
)
def test_advantages_name_the_mistake(wrong, hint):
    assert check_advantages(advantages).correct
    assert check_advantages(None).status == "not attempted"
    assert check_advantages(lambda r: None).status == "not attempted"
    feedback = check_advantages(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


def test_advantages_with_a_small_epsilon_are_close_enough():
    assert check_advantages(epsilon_std).correct  # TRL's (std + 1e-4): all-equal groups give 0, the rest within 1e-3


# --- Exercise 2.3: informative groups -------------------------------------------------------------


def informative(p, group_size):
    return 1 - p**group_size - (1 - p) ** group_size


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda p, g: 1 - (1 - p) ** g, "at least one correct sample"),
        (lambda p, g: 1 - p**g, "not all are correct"),
        (lambda p, g: 2 * p * (1 - p), "group size matters"),
    ],
)
def test_informative_names_the_mistake(wrong, hint):
    assert check_informative(informative).correct
    feedback = check_informative(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


@pytest.mark.parametrize("check", [check_cost_per_task, check_advantages, check_informative])
@pytest.mark.parametrize("student", [42, "f", lambda *a: "x", lambda *a: 1 / 0, lambda *a: float("nan"), lambda: 0, lambda *a: [1, 2]])
def test_chapter_2_checkers_never_raise(check, student):
    feedback = check(student)
    assert feedback.status in ("incorrect", "not attempted") and feedback.message
