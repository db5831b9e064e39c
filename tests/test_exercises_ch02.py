"""Chapter 2's exercise checkers: the reference is correct, the placeholder is "not attempted",
and the wrong answers students most likely write are rejected with a message that names the
mistake (never an exception)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsc.exercises import check_advantages, check_cost_per_task, check_informative, check_surrogate, selftest

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


# --- Exercise 2.4: the loss of GRPO's update -----------------------------------------------------


def surrogate(logp, old_logp, advantages, mask, clip):
    ratio = torch.exp(logp - old_logp)
    return -(torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages) * mask).sum() / mask.sum()


def _ppo(logp, old, adv, clip):
    ratio = torch.exp(logp - old)
    return torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)


@pytest.mark.parametrize(
    "wrong, hint",
    [
        (lambda lp, old, a, m, c: -(torch.exp(lp - old) * a * m).sum() / m.sum(), "No clip"),
        (lambda lp, old, a, m, c: -(torch.exp(lp - old).clamp(1 - c, 1 + c) * a * m).sum() / m.sum(), "not the clipped term alone"),
        (lambda lp, old, a, m, c: (_ppo(lp, old, a, c) * m).sum() / m.sum(), "negated surrogate"),
        (lambda lp, old, a, m, c: -((_ppo(lp, old, a, c) * m).sum(1) / m.sum(1)).mean(), "GRPO's paper"),
        (lambda lp, old, a, m, c: -(_ppo(lp, old, a, c) * m).mean(), "number of trained tokens"),
        (lambda lp, old, a, m, c: -_ppo(lp, old, a, c).sum() / m.sum(), "Multiply by the mask"),
        (lambda lp, old, a, m, c: -(_ppo(old, lp, a, c) * m).sum() / m.sum(), "not its inverse"),
        (lambda lp, old, a, m, c: float(-(_ppo(lp, old, a, c) * m).sum() / m.sum()) * 1.5, ""),  # wrong, no name: still rejected
    ],
    ids=["no-clip", "clip-only", "not-negated", "per-sequence-mean", "padding-counted", "no-mask", "inverse-ratio", "other"],
)
def test_surrogate_names_the_mistake(wrong, hint):
    feedback = check_surrogate(wrong)
    assert feedback.status == "incorrect" and hint in feedback.message, feedback.message


def test_surrogate_accepts_the_reference_in_torch_or_numpy_and_never_raises():
    assert check_surrogate(surrogate).correct
    assert check_surrogate(lambda *args: surrogate(*args).item()).correct  # a float is fine too
    assert check_surrogate(lambda *args: None).status == "not attempted"
    assert check_surrogate(None).status == "not attempted"
    assert check_surrogate("loss").status == "incorrect"
    crashed = check_surrogate(lambda lp, old, a, m, c: np.minimum(lp.numpy() @ old, a))
    assert crashed.status == "incorrect" and "raised" in crashed.message
    assert check_surrogate(lambda *args: torch.ones(3)).status == "incorrect"  # not one number


def test_surrogate_is_checked_against_policy_update_with_two_epochs():
    from tsc.exercises.ch02 import surrogate_batches

    batches = surrogate_batches()
    assert len(batches) == 2  # one chunk, two epochs
    assert torch.equal(batches[0]["logp"], batches[0]["old"])  # the first epoch: the sampling policy
    assert not torch.equal(batches[1]["logp"], batches[1]["old"])
    for batch in batches:
        assert surrogate(batch["logp"], batch["old"], batch["advantages"], batch["mask"], batch["clip"]).item() == pytest.approx(
            batch["loss"], abs=1e-7
        )


@pytest.mark.parametrize("name", ["ex-2-1", "ex-2-2", "ex-2-3", "ex-2-4"])
def test_chapter_2_selftests_pass(name):
    selftest(name)
