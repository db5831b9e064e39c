"""The free-energy controller (Chapter 8): its beliefs, its expected free energies on toy belief
states computed by hand, its choices, its knobs, and the stopping rule it is compared with."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from fakes import ScriptedPolicy, ScriptedStepVerifier

from tsc.core import problem_seed
from tsc.strategies import STRATEGIES, majority_vote, solve_many
from tsc.strategies.free_energy import (
    DEFAULT_COST,
    FITS,
    AnswerModel,
    Belief,
    Channel,
    decide,
    expected_free_energy,
    fit_answer_model,
    fitted,
    free_energy,
    information_gain,
    kl_binary,
    posterior,
    sample_outcomes,
)
from tsc.strategies.stopping import decided, stop_when_decided
from tsc.tasks.arithmetic import validate

FLAT = AnswerModel(a=1.0, b=1.0, gamma=1.0, malformed=0.0, tokens=10.0)
Q = validate("7*8-13+6*4")  # 67
RIGHT = "7*8=56,6*4=24,56-13=43,43+24=67."
WRONG = "7*8=56,6*4=24,56-13=43,43+24=66."
OTHER = "7*8=54,6*4=24,54-13=41,41+24=65."
BAD = "banana."


def h(*p):
    return -sum(x * math.log(x) for x in p if x > 0)


# --- beliefs ----------------------------------------------------------------------------------


def test_posterior_after_one_and_two_agreeing_samples():
    # one sample: P(it is right) is the prior mean a / (a + b)
    m = AnswerModel(a=0.3, b=0.6, gamma=4.0)
    assert posterior(Belief((1,)), m) == pytest.approx([0.6 / 0.9, 0.3 / 0.9])
    # two agreeing samples: odds a(a+1)(gamma+1) / (b(b+1)): both right, or both wrong and the second repeating the first
    odds = 0.3 * 1.3 * 5.0 / (0.6 * 1.6)
    assert posterior(Belief((2,)), m) == pytest.approx([1 / (1 + odds), odds / (1 + odds)])
    # no sample yet: certainly "something else"
    assert posterior(Belief(), m) == [1.0]


@pytest.mark.parametrize(
    "m, belief",
    [
        (AnswerModel(a=0.4, b=0.7, gamma=3.0, malformed=0.1), Belief((3, 1, 2))),
        (AnswerModel(a=0.3, b=0.3, gamma=(1.5, 30.0), weights=(0.3, 0.7), malformed=0.05), Belief((3, 1, 2))),
        (AnswerModel(a=0.3, b=0.3, gamma=(0.5, 5.0, 80.0), weights=(0.2, 0.3, 0.5)), Belief((1, 5))),
    ],
)
def test_posterior_is_bayes_rule_on_the_predictive(m, belief):
    # updating q(s) by p(o | s) gives what the counts give, outcome by outcome ("new" merges a new candidate with "something else")
    q = posterior(belief, m)
    names, rows = sample_outcomes(belief, m)
    assert all(sum(r) == pytest.approx(1.0) for r in rows)
    for o, name in enumerate(names):
        bayes = [qs * r[o] for qs, r in zip(q, rows)]
        if sum(bayes) == 0:  # an outcome the model rules out (malformed, when it never happens)
            continue
        bayes = [b / sum(bayes) for b in bayes]
        if name.startswith("repeat"):
            k = int(name.split()[1]) - 1
            counted = posterior(Belief(tuple(c + (i == k) for i, c in enumerate(belief.counts))), m)
        elif name == "new":
            fine = posterior(Belief(belief.counts + (1,)), m)
            counted = [fine[0] + fine[-1]] + fine[1:-1]
        else:  # a malformed sample tells nothing
            counted = q
        assert bayes == pytest.approx(counted), name


def test_verifier_evidence_multiplies_the_odds():
    channel = Channel(edges=(0.5,), correct=(0.2, 0.8), wrong=(0.7, 0.3), cost=5.0)
    q = posterior(Belief((1,), (1,)), FLAT, channel)  # prior odds 1, likelihood ratio 0.8 / 0.3
    assert q[1] / q[0] == pytest.approx(0.8 / 0.3)
    assert channel.bin(0.49) == 0 and channel.bin(0.5) == 1 and channel.bin(float("nan")) == 0


# --- expected free energy, by hand ------------------------------------------------------------


def _hand_sample_plan():
    """Belief: one sample of candidate A, flat model (a = b = gamma = 1). q = (1/2, 1/2).
    p(o | A) = (A 2/3, new 1/3); p(o | 0) = (A 1/3, new 2/3); so q(o) = (1/2, 1/2).
    After A: counts (2,), q(A) = 2/3; after new: counts (1, 1), q = (1/3, 1/3, 1/3)."""
    info = math.log(2) - h(2 / 3, 1 / 3)
    after = 0.5 * kl_binary(2 / 3, 0.99) + 0.5 * kl_binary(1 / 3, 0.99)
    return info, after


def test_efe_of_answering_and_sampling_by_hand():
    info, after = _hand_sample_plan()
    g = expected_free_energy(Belief((1,)), FLAT, cost_per_token=0.01, horizon=1, samples_left=3)
    assert g["answer"] == pytest.approx(0.5 * math.log(0.5 / 0.99) + 0.5 * math.log(0.5 / 0.01))
    assert g["sample"] == pytest.approx(0.01 * 10 - info + after)
    assert "verify" not in g
    # the same numbers, as risk plus ambiguity of the sample's outcome
    risk, ambiguity = -h(0.5, 0.5), 0.5 * h(2 / 3, 1 / 3) + 0.5 * h(1 / 3, 2 / 3)
    assert g["sample"] == pytest.approx(0.1 + risk + ambiguity + after)


def test_ablations_by_hand():
    _, after = _hand_sample_plan()
    risk_only = expected_free_energy(Belief((1,)), FLAT, cost_per_token=0.01, horizon=1, samples_left=3, objective="risk")
    assert risk_only["sample"] == pytest.approx(0.1 - math.log(2) + after)  # the predictive entropy, no ambiguity
    assert risk_only["answer"] == pytest.approx(kl_binary(0.5, 0.99))
    utility = expected_free_energy(Belief((1,)), FLAT, cost_per_token=0.01, horizon=1, samples_left=3, objective="utility")

    def ce(q):
        return -(q * math.log(0.99) + (1 - q) * math.log(0.01))

    assert utility["answer"] == pytest.approx(ce(0.5))
    assert utility["sample"] == pytest.approx(0.1 + 0.5 * ce(2 / 3) + 0.5 * ce(1 / 3))


def test_efe_of_verifying_by_hand():
    channel = Channel(edges=(0.5,), correct=(0.2, 0.8), wrong=(0.7, 0.3), cost=5.0)
    g = expected_free_energy(Belief((1,)), FLAT, cost_per_token=0.01, channel=channel, horizon=1, samples_left=0)
    assert "sample" not in g  # no samples left
    q_x = (0.5 * 0.2 + 0.5 * 0.7, 0.5 * 0.8 + 0.5 * 0.3)
    info = h(*q_x) - 0.5 * h(0.2, 0.8) - 0.5 * h(0.7, 0.3)
    after = q_x[0] * kl_binary(0.1 / 0.45, 0.99) + q_x[1] * kl_binary(0.4 / 0.55, 0.99)
    assert g["verify"] == pytest.approx(0.01 * 5 - info + after)
    assert info == pytest.approx(information_gain([0.5, 0.5], [[0.2, 0.8], [0.7, 0.3]]))


def test_two_step_plan_by_hand():
    # horizon 2 from one sample, the answer model flat: sample, then the better of answering or sampling again
    g2 = expected_free_energy(Belief((1,)), FLAT, cost_per_token=0.0, horizon=2, samples_left=5)
    info, _ = _hand_sample_plan()
    best_a = min(expected_free_energy(Belief((2,)), FLAT, cost_per_token=0.0, horizon=1, samples_left=4).values())
    best_new = min(expected_free_energy(Belief((1, 1)), FLAT, cost_per_token=0.0, horizon=1, samples_left=4).values())
    assert g2["sample"] == pytest.approx(-info + 0.5 * best_a + 0.5 * best_new)


def test_one_candidate_and_a_one_step_horizon_stops_at_once():
    # with one candidate the verdict of answering tells all a sample could: the information terms cancel, and one sample
    # cannot change the answer, so a one-step planner answers after its first sample even when sampling is free
    g = expected_free_energy(Belief((1,)), FLAT, cost_per_token=0.0, horizon=1, samples_left=10)
    assert g["sample"] >= g["answer"] - 1e-12
    assert decide(g) == "answer"


def test_decide_prefers_stopping_on_ties():
    assert decide({"answer": 1.0, "sample": 1.0, "verify": 1.0}) == "answer"
    assert decide({"answer": 2.0, "sample": 1.0, "verify": 1.0}) == "verify"
    assert decide({"answer": 2.0, "sample": 1.0}) == "sample"


def test_costlier_tokens_mean_fewer_samples():
    rng = random.Random(0)
    counts = [(rng.randint(1, 4), rng.randint(0, 2)) for _ in range(20)]
    for c1, c2 in counts:
        belief = Belief((c1, c2) if c2 else (c1,))
        cheap = expected_free_energy(belief, FLAT, cost_per_token=0.0, samples_left=8)
        dear = expected_free_energy(belief, FLAT, cost_per_token=1.0, samples_left=8)
        assert dear["answer"] == cheap["answer"]
        assert dear["sample"] > cheap["sample"]
        assert decide(dear) == "answer"


# --- knobs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"cost_per_token": -1}, "cost_per_token"),
        ({"cost_per_token": float("nan")}, "cost_per_token"),
        ({"cost_per_token": "cheap"}, "cost_per_token"),
        ({"prefer_correct": 1.0}, "prefer_correct"),
        ({"prefer_correct": 0.3}, "prefer_correct"),
        ({"objective": "free"}, "objective"),
        ({"horizon": 0}, "horizon"),
        ({"horizon": 9}, "horizon"),
        ({"horizon": 1.5}, "horizon"),
        ({"n": 0}, "n (samples"),
        ({"n": 2.5}, "n (samples"),
        ({"model": {"a": 1}}, "AnswerModel"),
        ({"channel": "prm"}, "Channel"),
        ({"verifier": "prm"}, "verifier must be"),
    ],
)
def test_bad_knobs_are_rejected_in_one_line(knobs, message):
    policy = ScriptedPolicy({Q.prompt(): [RIGHT]})
    with pytest.raises(ValueError, match=message.replace("(", r"\(")) as error:
        free_energy(Q, policy, **knobs)
    assert "\n" not in str(error.value)


def test_bad_models_and_channels_are_rejected():
    with pytest.raises(ValueError, match="AnswerModel.a"):
        AnswerModel(a=0)
    with pytest.raises(ValueError, match="malformed"):
        AnswerModel(malformed=1.0)
    with pytest.raises(ValueError, match="2 probabilities"):
        Channel(edges=(0.5,), correct=(1.0,), wrong=(0.5, 0.5))
    with pytest.raises(ValueError, match="summing to 1"):
        Channel(edges=(0.5,), correct=(0.5, 0.6), wrong=(0.5, 0.5))
    with pytest.raises(ValueError, match="both correct and wrong"):
        Channel.fit([0.1, 0.2], [True, True])


def test_a_verifier_without_a_channel_is_refused():
    policy = ScriptedPolicy({Q.prompt(): [RIGHT]})
    with pytest.raises(ValueError, match="likelihood of"):
        free_energy(Q, policy, verifier=ScriptedStepVerifier(lambda p, t: [1.0]))


def test_a_policy_that_cannot_continue_a_stream_is_refused():
    class OneShot:
        name, prompt_format = "one shot", "compact"

        def format(self, problem):
            return problem.prompt()

        def sample(self, prompts, *, n=1, temperature=1.0, seed=0, max_new_tokens=64, ledger=None):
            raise AssertionError("never reached")

    class NoOffset(OneShot):
        def sample(self, prompts, *, n=1, temperature=1.0, seed=0, max_new_tokens=64, ledger=None, stop=None):
            raise TypeError("sample() got an unexpected keyword argument 'offset'")

    with pytest.raises(ValueError, match="takes no offset"):
        free_energy(Q, NoOffset(), model=FLAT)


# --- the strategy on a scripted policy --------------------------------------------------------


def scripted(texts):
    return ScriptedPolicy({Q.prompt(): texts})


def test_agreeing_samples_stop_early_and_are_majoritys_first_samples():
    texts = [RIGHT] * 15 + [WRONG]
    policy = scripted(texts)
    model = AnswerModel(a=0.3, b=0.3, gamma=10.0, tokens=32.0)
    result = free_energy(Q, policy, n=16, model=model, cost_per_token=0.002, temperature=0.8, seed=0)
    k = result.trace["samples"]
    assert 2 <= k < 16 and result.correct
    assert result.ledger.samples == k
    full = majority_vote(Q, scripted(texts), n=16, temperature=0.8, seed=0)
    assert list(result.candidates) == list(full.candidates[:k])
    assert result.trace["confidence"] > 0.9
    assert [s["action"] for s in result.trace["steps"]] == ["sample"] * k + ["answer"]


def test_disagreement_buys_more_samples():
    model = AnswerModel(a=0.3, b=0.3, gamma=10.0, tokens=32.0)
    agree = free_energy(Q, scripted([RIGHT] * 16), n=16, model=model, cost_per_token=0.001)
    split = free_energy(Q, scripted([RIGHT, WRONG] * 8), n=16, model=model, cost_per_token=0.001)
    assert split.trace["samples"] > agree.trace["samples"]


def test_expensive_tokens_answer_without_sampling_and_n_caps_the_samples():
    none = free_energy(Q, scripted([RIGHT]), n=16, model=FLAT, cost_per_token=10.0)
    assert none.answer is None and not none.correct and none.trace["samples"] == 0 and none.ledger.tokens == 0
    capped = free_energy(Q, scripted([RIGHT, WRONG, OTHER, BAD]), n=3, model=FLAT, cost_per_token=0.0)
    assert capped.trace["samples"] <= 3


def test_malformed_samples_do_not_vote():
    result = free_energy(
        Q, scripted([BAD, BAD, RIGHT, RIGHT, RIGHT, RIGHT]), n=6, model=AnswerModel(a=0.5, b=0.5, gamma=5.0, malformed=0.2)
    )
    assert result.answer == RIGHT
    assert result.trace["keys"] == ["67"]


def test_the_verifier_is_queried_and_charged():
    channel = Channel(edges=(0.5,), correct=(0.1, 0.9), wrong=(0.9, 0.1), cost=2.0)
    verifier = ScriptedStepVerifier(lambda p, t: [1.0 if t == RIGHT else 0.0] * max(1, len(p.steps(t))))
    result = free_energy(
        Q, scripted([WRONG, RIGHT, WRONG, OTHER]), n=4, model=FLAT, cost_per_token=0.001, verifier=verifier, channel=channel
    )
    actions = [s["action"] for s in result.trace["steps"]]
    assert "verify" in actions and result.ledger.verifier_flops > 0
    assert result.correct  # the verifier overrules the vote's tie


def test_registered_and_solves_many():
    assert STRATEGIES["free_energy"].run is free_energy
    problems = [validate("7*8-13+6*4"), validate("3+4*5")]
    policy = ScriptedPolicy(lambda prompt: [RIGHT] if prompt.startswith("7*8") else ["4*5=20,3+20=23."])
    results = solve_many(free_energy, problems, policy, seed=3, model=FLAT, cost_per_token=0.001)
    assert [r.correct for r in results] == [True, True]


# --- fitting ----------------------------------------------------------------------------------


def simulate(truth: AnswerModel, questions: int, samples: int, seed: int = 0) -> list:
    """Questions drawn from the generative model itself: rho ~ Beta(a, b), gamma from the
    mixture, wrong answers from the Chinese restaurant process; one malformed sample each."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(questions):
        rho = rng.beta(truth.a, truth.b)
        gamma = truth.gammas[rng.choice(len(truth.gammas), p=truth.weights)]
        wrong: list[int] = []
        rows = []
        for _ in range(samples):
            if rng.random() < rho:
                rows.append(("right", True))
                continue
            if rng.random() < gamma / (gamma + len(wrong)):
                table = len(set(wrong))
            else:
                table = wrong[rng.integers(len(wrong))]
            wrong.append(table)
            rows.append((f"w{table}", False))
        out.append(rows + [(None, False)])
    return out


def test_fit_recovers_the_generating_model():
    truth = AnswerModel(a=0.4, b=0.6, gamma=3.0)
    model = fit_answer_model(simulate(truth, 3000, 12), tokens=20.0, mixture=1)
    assert model.a == pytest.approx(truth.a, rel=0.1)
    assert model.b == pytest.approx(truth.b, rel=0.1)
    assert model.gamma == pytest.approx(truth.gamma, rel=0.1)
    assert model.malformed == pytest.approx(1 / 13)


def test_fit_recovers_a_mixture_of_question_types():
    truth = AnswerModel(a=0.3, b=0.3, gamma=(1.0, 40.0), weights=(0.4, 0.6))
    model = fit_answer_model(simulate(truth, 4000, 16, seed=1), mixture=2)
    assert model.gamma[0] == pytest.approx(1.0, rel=0.25) and model.gamma[1] == pytest.approx(40.0, rel=0.25)
    assert model.weights[0] == pytest.approx(0.4, abs=0.05)
    with pytest.raises(ValueError, match="mixture"):
        fit_answer_model(simulate(truth, 3, 4), mixture=0)


def test_a_mixture_reads_repeated_wrong_answers():
    # a big second cluster is evidence that this question repeats its wrong answers: the
    # leader is then trusted less than under a model where wrong answers always scatter
    scatter = AnswerModel(a=0.3, b=0.3, gamma=40.0)
    mixed = AnswerModel(a=0.3, b=0.3, gamma=(1.0, 40.0), weights=(0.4, 0.6))
    belief = Belief((9, 6, 1))
    assert posterior(belief, mixed)[1] < posterior(belief, scatter)[1]
    assert mixed.gamma_posterior(2, 7)[0] > 0.9  # 7 wrong samples in two answers: a repeating question


def test_channel_fit_by_hand():
    channel = Channel.fit([0.1, 0.2, 0.8, 0.9], [False, False, True, True], bins=2, smoothing=1.0)
    assert channel.edges == (0.8,)
    assert channel.correct == pytest.approx((1 / 4, 3 / 4))  # (0 + 1, 2 + 1) / 4
    assert channel.wrong == pytest.approx((3 / 4, 1 / 4))


def test_the_shipped_fits_load():
    if not FITS.exists():
        pytest.skip("ch08_fit has not been computed")
    record = json.loads(FITS.read_text())
    assert record["data"]["card"]["default_cost"] == DEFAULT_COST  # the default is the one the fit chose
    model, channel = fitted("countdown", 1.0, "prm")
    assert isinstance(model, AnswerModel) and isinstance(channel, Channel)
    arithmetic, none = fitted("arithmetic", 0.8)
    assert none is None and 0 < arithmetic.a
    assert fitted("no such model", 1.0) is None and fitted("arithmetic", 0.8, "no such verifier") is None


# --- the stopping rule ------------------------------------------------------------------------


def test_decided_on_counts():
    assert decided({"a": 9}, 7)
    assert decided({"a": 8}, 8)  # a new key could tie at 8, but the leader was seen first
    assert not decided({"a": 8}, 9)
    assert not decided({"a": 5, "b": 3}, 3)  # b could reach 6 > 5
    assert decided({"a": 5, "b": 3}, 2)  # b reaches 5: a tie, and a was first
    assert not decided({"b": 3, "a": 5}, 2)  # b was first: a tie goes to b
    assert not decided({}, 1) and decided({}, 0)


def test_stop_when_decided_gives_majoritys_answer_with_fewer_samples():
    rng = random.Random(1)
    for _ in range(30):
        texts = [rng.choice([RIGHT, RIGHT, WRONG, OTHER, BAD]) for _ in range(16)]
        full = majority_vote(Q, scripted(texts), n=16, seed=2)
        early = stop_when_decided(Q, scripted(texts), n=16, seed=2)
        assert early.answer == full.answer
        assert list(early.candidates) == list(full.candidates[: len(early.candidates)])
        assert early.trace["samples"] == len(early.candidates) <= 16


def test_stop_when_decided_with_a_lead():
    early = stop_when_decided(Q, scripted([RIGHT, RIGHT, WRONG] * 6), n=16, lead=2)
    assert early.trace["samples"] == 2 and early.correct
    with pytest.raises(ValueError, match="lead"):
        stop_when_decided(Q, scripted([RIGHT]), n=16, lead=0)


def test_problem_seeds_match_majority():
    texts = [RIGHT, WRONG, OTHER, RIGHT, RIGHT, RIGHT]
    s = problem_seed(5, Q)
    a = free_energy(Q, scripted(texts), n=6, model=FLAT, cost_per_token=0.0005, seed=s)
    b = majority_vote(Q, scripted(texts), n=6, seed=s)
    assert list(a.candidates) == list(b.candidates[: len(a.candidates)])
