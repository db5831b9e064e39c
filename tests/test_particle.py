"""Particle filtering over steps (tsc.strategies.particle) on the scripted fakes of test_search."""

from __future__ import annotations

import math
import random

import pytest
from fakes import FLOPS_PER_TOKEN, PROMPT, TREE, VERIFIER_FLOPS_PER_TOKEN, A, P, StepPolicy, TinyStepOracle, valued

from tsc.strategies import STRATEGIES, particle_filter
from tsc.strategies.particle import effective_sample_size, resample, weights


def test_registered_under_its_cli_name():
    assert STRATEGIES["particle_filter"].run is particle_filter


# --- the three pieces: weights, effective sample size, resampling -----------------------------


def test_weights_are_a_softmax_of_the_scores_logits():
    w = weights([0.5, 0.8, 0.2])
    odds = [1.0, 4.0, 0.25]  # at temperature 1 a weight is proportional to the odds r / (1 - r)
    assert w == pytest.approx([o / sum(odds) for o in odds])
    assert sum(weights([0.3, 0.9], 0.1)) == pytest.approx(1.0)
    # a low temperature puts the weight on the best particle; a high one spreads it evenly
    assert weights([0.6, 0.7], 0.01)[1] > 0.999
    assert weights([0.1, 0.9], 1e6) == pytest.approx([0.5, 0.5], abs=1e-5)
    # scores of exactly 0 and 1 are clipped, never an infinite logit
    assert all(math.isfinite(x) for x in weights([0.0, 1.0, 1.0]))
    assert weights([0.0, 1.0, 1.0]) == pytest.approx([0.0, 0.5, 0.5], abs=1e-12)


def test_effective_sample_size():
    assert effective_sample_size([0.25] * 4) == pytest.approx(4.0)
    assert effective_sample_size([1.0, 0.0, 0.0]) == pytest.approx(1.0)
    assert effective_sample_size([0.5, 0.5, 0.0, 0.0]) == pytest.approx(2.0)


def test_systematic_resampling_gives_each_particle_the_floor_or_ceiling_of_its_share():
    rng = random.Random(0)
    for _ in range(200):
        count = rng.randint(1, 12)
        raw = [rng.random() ** 3 for _ in range(rng.randint(1, 9))]
        w = [x / sum(raw) for x in raw]
        picked = resample(w, count, rng, "systematic")
        assert len(picked) == count and picked == sorted(picked)
        for i, share in enumerate(w):
            assert math.floor(count * share) <= picked.count(i) <= math.ceil(count * share) + 1e-9
    assert resample([0.5, 0.25, 0.25], 4, random.Random(1)) == [0, 0, 1, 2]  # exact shares: exact copies, whatever u
    assert resample([0.0, 1.0], 3, random.Random(2)) == [1, 1, 1]  # nothing of weight 0 survives


def test_multinomial_resampling_draws_each_copy_independently():
    rng = random.Random(3)
    picked = resample([0.2, 0.8], 10_000, rng, "multinomial")
    assert len(picked) == 10_000 and picked == sorted(picked)
    assert 0.17 < picked.count(0) / 10_000 < 0.23
    # where systematic resampling always keeps a particle of weight 1/N, multinomial often loses it
    lost = sum(0 not in resample([0.25] * 4, 4, random.Random(s), "multinomial") for s in range(400))
    assert 0.2 < lost / 400 < 0.5  # (3/4)^4 = 0.32
    assert all(0 in resample([0.25] * 4, 4, random.Random(s), "systematic") for s in range(400))


# --- the strategy on the scripted tree ---------------------------------------------------------


def test_golden_run_with_the_step_oracle():
    policy, verifier = StepPolicy(), TinyStepOracle()
    result = particle_filter(P, policy, verifier=verifier, particles=4, seed=0)
    assert result.strategy == "particle_filter" and result.answer == A and result.correct
    # step 1: the root samples 4 first steps (one call); "1+2=3," twice, the dead end "4*3=12," twice
    assert policy.calls[0]["prompts"] == [PROMPT] and policy.calls[0]["n"] == 4
    # the dead end's weight is ~0: all four particles are copies of "1+2=3,", each writing one step
    assert policy.calls[1]["prompts"] == [PROMPT + "1+2=3,"] * 4 and policy.calls[1]["n"] == 1
    assert policy.calls[2]["prompts"] == [PROMPT + "1+2=3,3+4=7,"] * 4
    assert len(policy.calls) == 3  # every particle finished at step 3: no further call
    assert [c["seed"] for c in policy.calls] == [0, 1, 2]
    assert result.trace["ess"] == pytest.approx([2.0, 4.0, 4.0])
    assert result.trace["live"] == [4, 4, 0]
    assert result.trace["unique"] == [2, 1, 1]
    assert (result.trace["particles"], result.trace["resampling"], result.trace["reward_temperature"]) == (4, "systematic", 1.0)
    # one verifier call per step, each text read once
    assert [c["texts"] for c in verifier.calls] == [["1+2=3,.", "4*3=12,."], ["1+2=3,3+4=7,."], [A]]
    chosen = [n["text"] for n in result.trace["tree"] if n["chosen"]]
    assert chosen == ["", "1+2=3,", "1+2=3,3+4=7,", A]


def test_the_weights_follow_the_verifier_not_the_truth():
    # a verifier that prefers the dead end: the particles follow it there
    values = {"1+2=3,": 0.1, "4*3=12,": 0.9, "4*3=12,12+2=14,": 0.8, "4*3=12,12-2=10,": 0.7, "4*3=12,12+2=14,14+1=15.": 0.6}
    result = particle_filter(P, StepPolicy(), verifier=valued(values), particles=4, reward_temperature=0.05)
    assert not result.correct and result.answer.startswith("4*3=12,")
    # at a high temperature the population keeps the prefix the verifier dislikes
    result = particle_filter(P, StepPolicy(), verifier=valued(values), particles=4, reward_temperature=100.0)
    assert result.trace["ess"][0] == pytest.approx(4.0, abs=0.01)
    assert any(n["text"] == "1+2=3,3+4=7," for n in result.trace["tree"])


def test_budgets_are_respected():
    # a tree that never finishes: every prefix samples another step
    policy = StepPolicy(lambda prefix: ["1+1=2,", "2+2=4,", "3+3=6,"])
    result = particle_filter(P, policy, verifier=valued({}), particles=5, max_steps=3, seed=7)
    step_calls = [c for c in policy.calls if c["stop"] == (",", ".")]
    assert len(step_calls) == 3  # max_steps policy calls, then the greedy completion of the best partial solution
    assert len(policy.calls) == 4 and policy.calls[-1]["stop"] == (".",) and policy.calls[-1]["temperature"] == 0
    assert all(len(c["prompts"]) * c["n"] <= 5 for c in step_calls)  # never more samples than particles per step
    assert len(result.trace["ess"]) == 3 and all(1.0 <= e <= 5.0 + 1e-9 for e in result.trace["ess"])
    assert result.trace["completed"] is not None
    # the ledger charged every sampled step and every text the verifier read, like beam search's
    sampled = sum(len(c["prompts"]) * c["n"] for c in policy.calls)
    assert result.ledger.samples == sampled
    assert result.ledger.policy_flops == FLOPS_PER_TOKEN * (result.ledger.prompt_tokens + result.ledger.generated_tokens)
    assert result.ledger.verifier_flops % VERIFIER_FLOPS_PER_TOKEN == 0 and result.ledger.verifier_flops > 0


def test_dead_particles_are_dropped_and_a_run_of_dead_ends_still_answers():
    # every first step is cut off (no comma): every particle is dead, the answer completes the root greedily
    policy = StepPolicy({"": ["1+2"]}, rest={"": A})
    result = particle_filter(P, policy, verifier=TinyStepOracle(), particles=3)
    assert result.answer == A and result.correct and result.trace["live"] == [0]
    assert len(policy.calls) == 2


def test_same_seed_same_run_and_batched_equals_one_at_a_time():
    runs = [particle_filter(P, StepPolicy(), verifier=TinyStepOracle(), particles=6, seed=11) for _ in range(2)]
    assert runs[0].trace == runs[1].trace and runs[0].ledger.flops == runs[1].ledger.flops
    from tsc.strategies import solve_many

    many = solve_many(particle_filter, [P, P], StepPolicy(), seed=4, verifier=TinyStepOracle(), particles=3)
    alone = solve_many(particle_filter, [P], StepPolicy(), seed=4, verifier=TinyStepOracle(), particles=3)
    assert many[0].trace == alone[0].trace


@pytest.mark.parametrize(
    "knobs, named",
    [
        ({"particles": 0}, "particles"),
        ({"particles": 2.5}, "particles"),
        ({"particles": True}, "particles"),
        ({"reward_temperature": 0}, "reward_temperature"),
        ({"reward_temperature": -1.0}, "reward_temperature"),
        ({"reward_temperature": math.inf}, "reward_temperature"),
        ({"reward_temperature": math.nan}, "reward_temperature"),
        ({"resampling": "stratified"}, "resampling"),
        ({"max_steps": 0}, "max_steps"),
        ({"temperature": -1.0}, "temperature"),
    ],
)
def test_bad_knobs_are_refused_in_one_line_before_sampling(knobs, named):
    policy = StepPolicy()
    with pytest.raises(ValueError) as error:
        particle_filter(P, policy, verifier=TinyStepOracle(), **knobs)
    message = str(error.value)
    assert named in message and "\n" not in message and not policy.calls


def test_needs_a_step_verifier():
    from tsc.verifiers import Oracle

    with pytest.raises(ValueError, match="step-level verifier"):
        particle_filter(P, StepPolicy(), verifier=Oracle())


def test_tree_is_the_scripted_one():
    assert TREE[""] == ["1+2=3,", "4*3=12,"]  # the golden run above depends on it


def test_the_chapter_5_figures_of_the_particle_filter(capsys):
    """Figure 6's effective sample size per step and size (only the problems still running at a
    step count there), and the dev table's marks (chosen, over the FLOPs cap)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    from tsc.viz.ch05 import ess_along_steps, print_dev_table

    fig, ax = plt.subplots()
    ess = [np.array([4.0, 2.0]), np.array([2.0]), np.array([3.0, 1.0, 1.0])]
    means = ess_along_steps(ax, ess, np.array([3, 3, 4]), particles=4)
    plt.close(fig)
    assert means[3].tolist() == [3.0, 2.0] and means[4].tolist() == [3.0, 1.0, 1.0]
    summary = {
        "chosen": {"particles": 6, "reward_temperature": 1.0},
        "cap_flops": 105.0,
        "table": {
            "beam 4x2, last": {"knobs": {}, "solved": 0.3, "flops": 100.0},
            "particle filter 6, T=1": {"knobs": {"particles": 6, "reward_temperature": 1.0}, "solved": 0.35, "flops": 80.0},
            "particle filter 8, T=2": {"knobs": {"particles": 8, "reward_temperature": 2.0}, "solved": 0.4, "flops": 110.0},
        },
    }
    print_dev_table(summary)
    out = capsys.readouterr().out.splitlines()
    assert out[2].endswith("0.80 <- chosen") and out[3].endswith("(over the cap)") and "35.0%" in out[2]
