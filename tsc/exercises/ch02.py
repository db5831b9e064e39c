"""Checkers for the exercises of Chapter 2, From o1 to o3."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from tsc.exercises.feedback import Feedback, accepts_and_rejects, as_number, registers_selftest, rejects, run_cases, show

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
    results = run_cases(
        fn,
        "cost_per_task(tokens, tasks, price_per_million)",
        COST_CASES,
        raised=lambda case, error: f"cost_per_task({case[0]:g}, {case[1]}, {case[2]}) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
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
    cases = _advantage_cases()
    results = run_cases(
        fn,
        "advantages(rewards)",
        cases,
        arguments=lambda rewards: (rewards.copy(),),
        raised=lambda rewards, error: f"advantages({rewards.tolist()}) raised {error}.",
    )
    if isinstance(results, Feedback):
        return results
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
    results = run_cases(
        fn, "informative(p, group_size)", INFORMATIVE_CASES, raised=lambda case, error: f"informative({case[0]}, {case[1]}) raised {error}."
    )
    if isinstance(results, Feedback):
        return results
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


# --- Exercise 2.4: the loss of GRPO's update ----------------------------------------------------

_SURROGATE: list[dict] = []  # the toy update's batches, made once


def surrogate_batches() -> list[dict]:
    """The batches of one `tsc.lm.rl.policy_update` with ``epochs = 2``: a copy of
    ``countdown`` samples groups of 8 for 6 problems, and the update runs twice on them (AdamW,
    learning rate 1e-3, so the second epoch's ratios move away from 1 and the clip binds on
    some tokens). Each record holds the tensors the loss was computed from (``logp``,
    ``old``, ``advantages``, ``mask``), ``clip`` and the update's own ``loss``."""
    if not _SURROGATE:
        import copy

        import torch

        from tsc.compute import Ledger
        from tsc.lm.policy import LocalPolicy, load_policy
        from tsc.lm.rl import RLRecipe, policy_update, rollouts
        from tsc.tasks import countdown

        base = load_policy("countdown")
        model = copy.deepcopy(base.model)  # the update changes its weights, not the bundled model's
        policy = LocalPolicy(model, base.tokenizer, name="toy")
        recipe = RLRecipe(name="toy", epochs=2, lr=1e-3, warmup=1, group_size=8, problems_per_step=6, sizes=(3, 4))
        data = rollouts(policy, countdown.generate(6, seed=7, sizes=(3, 4)), recipe, seed=0, ledger=Ledger())
        keep = [i for i, a in enumerate(data.advantages) if a != 0.0]
        record: list[dict] = []
        torch.manual_seed(0)
        policy_update(model, torch.optim.AdamW(model.parameters(), lr=recipe.lr), base.tokenizer, data, keep, recipe, 1, record=record)
        _SURROGATE.extend({**r, "clip": recipe.clip} for r in record)
    return _SURROGATE


def reference_surrogate(logp, old_logp, advantages, mask, clip):
    """Ex 2.4's reference: PPO's clipped surrogate, negated, averaged over the trained tokens."""
    import torch

    ratio = torch.exp(logp - old_logp)
    surrogate = torch.minimum(ratio * advantages, ratio.clamp(1 - clip, 1 + clip) * advantages)
    return -(surrogate * mask).sum() / mask.sum()


def _surrogate_slips(batch: dict) -> list[tuple[float, str]]:
    """The losses the likely mistakes give on ``batch``, each with what went wrong."""
    import torch

    logp, old, adv, mask, clip = batch["logp"], batch["old"], batch["advantages"], batch["mask"], batch["clip"]
    m = mask.float()
    ratio = torch.exp(logp - old)
    clipped = ratio.clamp(1 - clip, 1 + clip)
    tokens = m.sum()

    def mean(x):  # over the trained tokens
        return (-(x * m).sum() / tokens).item()

    inverse = torch.exp(old - logp)
    return [
        (
            mean(torch.minimum(inverse * adv, inverse.clamp(1 - clip, 1 + clip) * adv)),
            "The ratio is π_new / π_old: exp(logp - old_logp), not its inverse.",
        ),
        (mean(ratio * adv), "No clip: PPO's surrogate is min(ratio·A, clip(ratio, 1-ε, 1+ε)·A)."),
        (
            mean(clipped * adv),
            "Take the minimum of the clipped and the unclipped term, not the clipped term alone: the clip may only lower the objective.",
        ),
        (
            mean(torch.maximum(ratio * adv, clipped * adv)),
            "The minimum of the two terms, not the maximum: the clip is a pessimistic bound.",
        ),
        (
            -mean(torch.minimum(ratio * adv, clipped * adv)),
            "A loss to minimise is the negated surrogate (gradient descent must raise the objective).",
        ),
        (
            (-((torch.minimum(ratio * adv, clipped * adv) * m).sum(1) / m.sum(1).clamp(min=1)).mean()).item(),
            "That averages each completion's tokens first and then the completions (GRPO's paper); policy_update averages over "
            "all trained tokens of the batch at once (DAPO's token-level mean): each token weighs the same, whatever its "
            "completion's length.",
        ),
        (
            (-(torch.minimum(ratio * adv, clipped * adv) * m).sum() / m.numel()).item(),
            "Divide by the number of trained tokens (mask.sum()), not by every position of the padded batch.",
        ),
        (
            (-torch.minimum(ratio * adv, clipped * adv).sum() / tokens).item(),
            "Multiply by the mask: prompt and padding positions are not trained on (their log-probs are 0, their ratio 1).",
        ),
    ]


def check_surrogate(fn: Callable) -> Feedback:
    """Compare a student's ``fn(logp, old_logp, advantages, mask, clip)`` with the loss that
    `tsc.lm.rl.policy_update` computed on the batches of a toy update with ``epochs = 2``
    (`surrogate_batches`): first the epoch whose policy is the sampling one (every ratio 1),
    then the second, where ratios have moved and the clip binds."""
    signature = "surrogate(logp, old_logp, advantages, mask, clip)"
    if fn is None or not callable(fn):  # answered before the toy update is made
        return run_cases(fn, signature, [], raised=str)
    batches = surrogate_batches()
    results = run_cases(
        fn,
        signature,
        batches,
        arguments=lambda batch: (*(batch[k].clone() for k in ("logp", "old", "advantages", "mask")), batch["clip"]),
        raised=lambda batch, error: (
            f"On the toy batch your function raised {error}. The inputs are torch tensors: use torch.exp, torch.minimum, .clamp."
        ),
    )
    if isinstance(results, Feedback):
        return results
    for epoch, (batch, value) in enumerate(zip(batches, results), start=1):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"Expected the loss, one number (a 0-dimensional tensor is fine); got {show(value)}.")
        expected = batch["loss"]
        if abs(number - expected) <= 1e-5 * max(1e-3, abs(expected)):
            continue
        hint = next((why for slip, why in _surrogate_slips(batch) if abs(number - slip) <= 1e-5 * max(1e-3, abs(slip))), "")
        when = (
            "the first epoch (every ratio is 1)"
            if epoch == 1
            else "the second epoch (the ratios have moved; the clip binds on some tokens)"
        )
        return Feedback("incorrect", f"On {when} policy_update's loss is {expected:.6f}; yours is {number:.6f}. {hint}".rstrip())
    return Feedback(
        "correct", "Your loss equals policy_update's on both epochs of the toy update, including the tokens where the clip binds."
    )


# --- Self-tests: each checker accepts the reference and names the mistakes a class makes ------


@registers_selftest("ex-2-1")
def _selftest_cost_per_task() -> None:
    check = check_cost_per_task
    assert check(lambda *args, **kwargs: None).status == "not attempted"
    assert check(_cost_per_task).correct
    assert rejects(check(lambda t, n, p: t * p / 1e6), "divide by the number of tasks")
    assert rejects(check(lambda t, n, p: t / n * p / 1e3), "per thousand")
    assert rejects(check(lambda t, n, p: t / n * p), "1,000,000")


@registers_selftest("ex-2-2")
def _selftest_advantages() -> None:
    check = check_advantages
    assert check(lambda *args, **kwargs: None).status == "not attempted"
    assert check(reference_advantages).correct
    assert rejects(check(lambda r: r - r.mean(axis=1, keepdims=True)), "standard deviation")
    with np.errstate(invalid="ignore", divide="ignore"):  # the batch-wide slip divides 0 by 0 on a batch with no signal
        assert rejects(check(lambda r: (r - r.mean()) / r.std()), "whole batch")


@registers_selftest("ex-2-3")
def _selftest_informative(*, p_hat=None, measured_first: float | None = None) -> None:
    """With ``p_hat`` (the starting model's success rate per held-out problem) and
    ``measured_first`` (the share of samples RL trained on in its first steps): the
    exercise's experiment with the reference lands within 8 points of the measurement."""
    check = check_informative
    assert check(lambda *args, **kwargs: None).status == "not attempted"
    assert check(_informative).correct
    assert rejects(check(lambda p, g: 1 - (1 - p) ** g), "at least one correct")
    assert rejects(check(lambda p, g: 1 - p**g), "all are wrong")
    assert rejects(check(lambda p, g: 2 * p * (1 - p)), "group size")
    if p_hat is not None:
        predicted = float(np.mean([_informative(float(p), 16) for p in p_hat]))
        assert abs(predicted - measured_first) < 0.08, (predicted, measured_first)


@registers_selftest("ex-2-4")
def _selftest_surrogate() -> None:
    import torch

    batch = surrogate_batches()[-1]
    ratio = torch.exp(batch["logp"] - batch["old"])[batch["mask"]]
    # the toy batch is one on which the mistakes show: the clip binds in the second epoch and the
    # completions differ in length
    assert ((ratio - 1).abs() > batch["clip"]).any() and len(set(batch["mask"].sum(1).tolist())) > 1
    assert all(
        abs(reference_surrogate(b["logp"], b["old"], b["advantages"], b["mask"], b["clip"]).item() - b["loss"]) < 1e-6
        for b in surrogate_batches()
    )
    t = torch

    def loss(surrogate, reduce=lambda s, m: -(s * m).sum() / m.sum()):
        return lambda lp, old, a, m, c: reduce(surrogate(lp, old, a, c), m)

    def ppo(lp, old, a, c):
        r = t.exp(lp - old)
        return t.minimum(r * a, r.clamp(1 - c, 1 + c) * a)

    mistakes = [
        (loss(lambda lp, old, a, c: t.exp(lp - old) * a), "No clip"),
        (loss(lambda lp, old, a, c: t.exp(lp - old).clamp(1 - c, 1 + c) * a), "not the clipped term alone"),
        (loss(lambda lp, old, a, c: t.maximum(t.exp(lp - old) * a, t.exp(lp - old).clamp(1 - c, 1 + c) * a)), "not the maximum"),
        (loss(lambda lp, old, a, c: ppo(old, lp, a, c)), "not its inverse"),
        (loss(ppo, lambda s, m: (s * m).sum() / m.sum()), "negated surrogate"),
        (loss(ppo, lambda s, m: -((s * m).sum(1) / m.sum(1)).mean()), "GRPO's paper"),
        (loss(ppo, lambda s, m: -(s * m).sum() / m.numel()), "number of trained tokens"),
        (loss(ppo, lambda s, m: -s.sum() / m.sum()), "Multiply by the mask"),
    ]
    accepts_and_rejects(check_surrogate, reference_surrogate, mistakes)
