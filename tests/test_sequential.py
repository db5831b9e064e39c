"""Sequential strategies (self_refine, revise) on scripted fakes with known answers."""

from __future__ import annotations

import pytest
from fakes import FLOPS_PER_TOKEN, VERIFIER_FLOPS_PER_TOKEN, ScriptedPolicy, ScriptedStepVerifier, TinyStepOracle, step_oracle_scores

from tsc.core import Result, revision_prompt
from tsc.strategies import STRATEGIES, revise, self_refine
from tsc.tasks.countdown import Countdown
from tsc.verifiers import Oracle

P = Countdown((1, 2, 3, 4), 21)
A = "1+2=3,3+4=7,7*3=21."  # correct
W = "1+2=3,3*4=12,12+3=15."  # first step fine, second a dead end
W2 = "4*3=12,12+2=14,14+1=15."  # wrong from the first step
M = "banana."  # malformed
PROMPT = P.prompt()


def policy_tokens(prompt: str, text: str) -> int:
    """What the scripted policy charges for one completion of ``prompt``."""
    return len(prompt) + 1 + len(text)


def test_the_step_oracle_of_the_tests_scores_what_they_assume():
    assert step_oracle_scores(P, A) == [1.0, 1.0, 1.0]
    assert step_oracle_scores(P, W) == [1.0, 0.0, 0.0]
    assert step_oracle_scores(P, W2) == [0.0, 0.0, 0.0]
    assert step_oracle_scores(P, "1+2=3,3+4=7,") == [1.0, 0.0]  # unfinished: the last step is not a solution
    assert step_oracle_scores(P, M) == [0.0]


# --- self_refine ------------------------------------------------------------------------


def test_self_refine_keeps_the_good_prefix_and_stops_when_every_step_passes():
    policy = ScriptedPolicy({PROMPT: [W], PROMPT + "1+2=3,": ["3+4=7,7*3=21."]})
    verifier = TinyStepOracle()
    result = self_refine(P, policy, verifier=verifier, rounds=4, seed=3)
    assert isinstance(result, Result) and result.strategy == "self_refine"
    assert result.answer == A and result.correct and result.chosen == 1
    assert result.candidates == (W, A) and result.scores == (0.0, 1.0)
    # the first attempt is greedy; the retry continues the kept prefix at temperature, with the next seed
    assert [(c["prompts"], c["temperature"], c["seed"]) for c in policy.calls] == [
        ([PROMPT], 0.0, 3),
        ([PROMPT + "1+2=3,"], 1.0, 4),
    ]
    attempts = result.trace["attempts"]
    assert [a["first_bad"] for a in attempts] == [1, None] and result.trace["accepted"]
    assert [a["kept"] for a in attempts] == [0, len("1+2=3,")]
    assert attempts[0]["step_scores"] == [1.0, 0.0, 0.0]
    # every call is charged: two policy calls (the retry re-reads the prefix) and two verifier calls
    assert [c["texts"] for c in verifier.calls] == [[W], [A]]
    assert result.ledger.tokens == policy_tokens(PROMPT, W) + policy_tokens(PROMPT + "1+2=3,", "3+4=7,7*3=21.")
    assert result.ledger.samples == 2 and result.ledger.calls == 4


def test_self_refine_accepts_a_first_attempt_that_passes():
    policy = ScriptedPolicy({PROMPT: [A, W]})
    result = self_refine(P, policy, verifier=TinyStepOracle(), rounds=4)
    assert result.answer == A and result.candidates == (A,) and len(policy.calls) == 1
    assert result.ledger.calls == 2


@pytest.mark.parametrize("rounds", [1, 2, 5])
def test_self_refine_respects_rounds_and_charges_every_call(rounds):
    policy = ScriptedPolicy(lambda prompt: [W2])  # never right: every round is spent
    verifier = ScriptedStepVerifier(lambda problem, text: [0.2] * len(problem.steps(text)))
    result = self_refine(P, policy, verifier=verifier, rounds=rounds)
    assert len(policy.calls) == rounds and len(verifier.calls) == rounds
    assert len(result.candidates) == rounds and not result.trace["accepted"] and not result.correct
    # the first step is already bad: every retry starts over from the prompt
    assert all(c["prompts"] == [PROMPT] for c in policy.calls)
    assert result.ledger.policy_flops == FLOPS_PER_TOKEN * rounds * policy_tokens(PROMPT, W2)
    assert result.ledger.verifier_flops == VERIFIER_FLOPS_PER_TOKEN * rounds * policy_tokens(PROMPT, W2)
    assert result.ledger.flops == result.ledger.policy_flops + result.ledger.verifier_flops
    assert result.ledger.calls == 2 * rounds and result.ledger.samples == rounds


def test_self_refine_returns_the_best_scoring_attempt_not_the_last():
    kept = "1+2=3,3*4=12,"
    policy = ScriptedPolicy({PROMPT: [W], PROMPT + kept: ["12*3=36."]})
    scores = {W: [0.9, 0.9, 0.4], kept + "12*3=36.": [0.9, 0.9, 0.1]}
    result = self_refine(P, policy, verifier=ScriptedStepVerifier(scores), rounds=2, threshold=0.5)
    assert policy.calls[1]["prompts"] == [PROMPT + kept]  # the first bad step was the third: two kept
    assert result.candidates == (W, kept + "12*3=36.") and result.scores == (0.4, 0.1)
    assert result.chosen == 0 and result.answer == W  # the retry got worse: the first attempt stays


def test_self_refine_backs_up_a_step_when_a_retry_fails_at_its_first_new_step():
    kept = "1+2=3,3*4=12,"
    policy = ScriptedPolicy({PROMPT: [W], PROMPT + kept: ["12*3=36."], PROMPT + "1+2=3,": ["3+4=7,7*3=21."]})
    scores = {W: [0.9, 0.9, 0.2], kept + "12*3=36.": [0.9, 0.9, 0.1], A: [0.9, 0.9, 0.95]}
    result = self_refine(P, policy, verifier=ScriptedStepVerifier(scores), rounds=4, threshold=0.5)
    # the retry from two kept steps failed at its first new step, so the third attempt keeps one
    assert [c["prompts"] for c in policy.calls] == [[PROMPT], [PROMPT + kept], [PROMPT + "1+2=3,"]]
    assert [a["kept"] for a in result.trace["attempts"]] == [0, len(kept), len("1+2=3,")]
    assert result.answer == A and result.trace["accepted"]


def test_self_refine_scores_an_attempt_by_its_last_step():
    # the retry has a lower weakest step but a higher final judgement: it is chosen
    policy = ScriptedPolicy({PROMPT: [W], PROMPT + "1+2=3,": ["3+4=7,7*3=21."]})
    scores = {W: [0.9, 0.3, 0.2], A: [0.9, 0.1, 0.8]}
    result = self_refine(P, policy, verifier=ScriptedStepVerifier(scores), rounds=2, threshold=0.5)
    assert result.scores == (0.2, 0.8) and result.answer == A and not result.trace["accepted"]


def test_self_refine_threshold_decides_which_steps_are_bad():
    policy = ScriptedPolicy({PROMPT: [W], PROMPT + "1+2=3,": ["3*4=12,12+3=15."]})
    verifier = ScriptedStepVerifier({W: [0.9, 0.3, 0.6]})
    result = self_refine(P, policy, verifier=verifier, rounds=2, threshold=0.5)
    assert result.trace["attempts"][0]["first_bad"] == 1  # the first score below 0.5, though a later one is above
    assert policy.calls[1]["prompts"] == [PROMPT + "1+2=3,"]
    lenient = self_refine(P, ScriptedPolicy({PROMPT: [W]}), verifier=verifier, rounds=2, threshold=0.2)
    assert lenient.trace["accepted"] and lenient.candidates == (W,)  # every step at least 0.2: accepted


def test_self_refine_needs_a_step_verifier_and_sane_knobs():
    policy = ScriptedPolicy({PROMPT: [A]})
    with pytest.raises(ValueError, match="step"):
        self_refine(P, policy, verifier=Oracle())
    with pytest.raises(ValueError, match="step"):
        self_refine(P, policy, verifier=None)
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="rounds"):
            self_refine(P, policy, verifier=TinyStepOracle(), rounds=bad)
    with pytest.raises(ValueError, match="threshold"):
        self_refine(P, policy, verifier=TinyStepOracle(), threshold=float("nan"))
    with pytest.raises(ValueError, match="temperature"):
        self_refine(P, policy, verifier=TinyStepOracle(), temperature=-1)


# --- revise -----------------------------------------------------------------------------


def test_revision_prompt_concatenates_attempts_each_ending_in_a_full_stop():
    assert revision_prompt(PROMPT, []) == PROMPT
    assert revision_prompt(PROMPT, [W, "1+2="]) == PROMPT + W + "1+2=."


class Reviser(ScriptedPolicy):
    """A scripted revision model: its k-th revision (k previous attempts read) is ``texts[k-1]``."""

    def __init__(self, texts):
        super().__init__(lambda prompt: [texts[prompt.count(".") - 1]])


def test_revise_passes_the_previous_attempts_in_the_prompt():
    policy = ScriptedPolicy({PROMPT: [W]})
    reviser = Reviser([W2, M, A, A])
    result = revise(P, policy, reviser=reviser, rounds=4, context=3, seed=5, temperature=0.7)
    assert result.strategy == "revise" and result.candidates == (W, W2, M, A)
    assert [c["prompts"] for c in reviser.calls] == [[PROMPT + W], [PROMPT + W + W2], [PROMPT + W + W2 + M]]
    assert [c["seed"] for c in policy.calls + reviser.calls] == [5, 6, 7, 8]
    assert {c["temperature"] for c in policy.calls + reviser.calls} == {0.7}
    assert result.trace["prompts"] == [PROMPT, PROMPT + W, PROMPT + W + W2, PROMPT + W + W2 + M]
    # both models' calls go to one ledger
    expected = policy_tokens(PROMPT, W) + sum(policy_tokens(p, t) for p, t in zip(result.trace["prompts"][1:], (W2, M, A)))
    assert result.ledger.tokens == expected and result.ledger.samples == 4 and result.ledger.calls == 4


def test_revise_reads_only_the_last_context_attempts():
    reviser = Reviser([W2, M, A])
    result = revise(P, ScriptedPolicy({PROMPT: [W]}), reviser=reviser, rounds=4, context=2)
    assert [c["prompts"][0] for c in reviser.calls] == [PROMPT + W, PROMPT + W + W2, PROMPT + W2 + M]
    assert result.candidates == (W, W2, M, M)  # the last revision read two attempts, like the one before


def test_revise_returns_the_last_attempt_without_a_verifier_and_the_best_with_one():
    policy = ScriptedPolicy({PROMPT: [W]})
    last = revise(P, policy, reviser=Reviser([A, W2]), rounds=3)
    assert last.candidates == (W, A, W2) and last.chosen == 2 and not last.correct  # revising broke a right answer
    assert last.scores == (1.0, 1.0, 1.0) and last.ledger.verifier_flops == 0

    best = revise(P, policy, reviser=Reviser([A, W2]), rounds=3, verifier=Oracle())
    assert best.chosen == 1 and best.answer == A and best.correct and best.scores == (0.0, 1.0, 0.0)
    assert best.ledger.calls == 3 + 1  # three attempts, scored in one verifier call at the end

    early = revise(P, policy, reviser=Reviser([A, W2]), rounds=3, verifier=Oracle(), threshold=0.5)
    assert early.candidates == (W, A) and early.answer == A  # stopped at the first attempt scoring >= 0.5
    assert early.ledger.calls == 2 + 2  # two attempts, each scored as it came


def test_revise_charges_the_verifier():
    policy = ScriptedPolicy({PROMPT: [W]})
    verifier = ScriptedStepVerifier({W: [1.0, 0.0, 0.3], A: [1.0, 1.0, 0.9]})
    result = revise(P, policy, reviser=Reviser([A, W2]), rounds=3, verifier=verifier)
    assert result.scores == (0.3, 0.9, 0.0) and result.answer == A
    assert result.ledger.verifier_flops == VERIFIER_FLOPS_PER_TOKEN * sum(policy_tokens(PROMPT, t) for t in (W, A, W2))


def test_revise_stops_when_the_reviser_writes_nothing():
    policy = ScriptedPolicy({PROMPT: [A]})
    reviser = Reviser(["", W])  # nothing to revise after a right answer
    result = revise(P, policy, reviser=reviser, rounds=4)
    assert result.candidates == (A,) and result.answer == A and result.correct
    assert result.trace["stopped"] == "reviser" and len(reviser.calls) == 1
    assert result.ledger.samples == 2  # the empty revision is paid for: its prompt and its end token
    assert result.ledger.tokens == policy_tokens(PROMPT, A) + policy_tokens(PROMPT + A, "") + 1
    assert revise(P, policy, reviser=Reviser([W, W, W]), rounds=4).trace["stopped"] == "rounds"


def test_revise_without_a_reviser_revises_with_the_policy():
    policy = Reviser([A])
    policy.script = {PROMPT: [W], PROMPT + W: [A]}
    result = revise(P, policy, rounds=2)
    assert result.candidates == (W, A) and result.correct
    assert [c["prompts"] for c in policy.calls] == [[PROMPT], [PROMPT + W]]


def test_revise_rejects_bad_knobs():
    policy = ScriptedPolicy({PROMPT: [A]})
    with pytest.raises(ValueError, match="rounds"):
        revise(P, policy, rounds=0)
    with pytest.raises(ValueError, match="context"):
        revise(P, policy, context=0)
    with pytest.raises(ValueError, match="verifier"):
        revise(P, policy, threshold=0.5)  # a threshold needs a verifier
    with pytest.raises(ValueError, match="verifier"):
        revise(P, policy, verifier="oracle")


def test_sequential_strategies_are_registered():
    assert STRATEGIES["self_refine"].run is self_refine and STRATEGIES["revise"].run is revise


def test_a_prompt_longer_than_the_context_is_a_value_error(tiny_policy):
    """Many long attempts can outgrow a reviser's context: a clear ValueError (which `solve`
    reports on the problem's line), not an IndexError from deep inside the sampler."""
    prompt = revision_prompt(PROMPT, [W] * 10)
    with pytest.raises(ValueError, match=f"context of {tiny_policy.max_len} tokens"):
        tiny_policy.sample([prompt], max_new_tokens=4)
