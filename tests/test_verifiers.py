"""Verifiers: the exact oracles, the learned reward models (on a tiny random model), the
policy's self-verification, their ledger charges, and a smoke training run of a reward model."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest
import torch
from fakes import ScriptedPolicy

import tsc
from tsc.analysis import auc, calibration
from tsc.compute import Ledger, forward_flops
from tsc.evaluation import evaluate_verifiers
from tsc.lm.reward import REWARD_RECIPES, RewardModel, collate_rewards, load_reward_model, reward_model_from_policy, train_reward
from tsc.tasks.countdown import Countdown
from tsc.verifiers import ORM, PRM, VERIFIERS, Oracle, SelfVerifier, StepOracle, aggregate, get_verifier

PROBLEM = Countdown((13, 4, 7, 2), 48)
TEXTS = ["13-7=6,6*4=24,24*2=48.", "13+7=20,", "", "4*2=8,13-7=6,8*6=48.", "7*7=49,49-1=48."]


@pytest.fixture(scope="module")
def tiny_reward(tiny_policy) -> RewardModel:
    return RewardModel(reward_model_from_policy(tiny_policy, seed=1), tiny_policy.tokenizer, card={"kind": "prm"})


# --- exact verifiers --------------------------------------------------------------------


def test_step_oracle_labels_every_step_exactly():
    problem = Countdown((1, 2, 3), 6)
    texts = ["1+2=3,3+3=6.", "1+2=3,3*3=9.", "3-2=1,1*1=1.", "4+2=6,6*1=6.", "1+2=4,4+2=6.", "1+2=3,", "", "1*2=2,2*3=6."]
    ledger = Ledger()
    labels = StepOracle().score_steps(problem, texts, ledger=ledger)
    # 3-2=1 leaves {1, 1}: 6 is out of reach; 4 is not on the table; 1+2=4 is wrong arithmetic;
    # "1+2=3," stops after a live step but is not a solution (its last step is the verdict)
    assert labels == [[1.0, 1.0], [1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0, 0.0], [0.0], [], [1.0, 1.0]]
    assert StepOracle().score(problem, texts) == Oracle().score(problem, texts) == [1.0, 0, 0, 0, 0, 0, 0, 1.0]
    assert (ledger.verifier_flops, ledger.calls) == (0, 1)
    # a step that uses up every number but is followed by another step cannot lead anywhere
    assert StepOracle().score_steps(problem, ["1+2=3,3+3=6,6+0=6."]) == [[1.0, 0.0, 0.0]]
    assert StepOracle().score_steps(PROBLEM, [TEXTS[0], TEXTS[3]]) == [[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]]


def test_aggregates_on_known_values():
    scores = [0.9, 0.5, 0.8]
    assert aggregate(scores, "min") == 0.5
    assert aggregate(scores, "last") == 0.8
    assert aggregate(scores, "product") == pytest.approx(0.36)
    assert all(aggregate([], how) == 0.0 for how in ("min", "last", "product"))
    with pytest.raises(ValueError, match="mean.*min, last, product"):
        aggregate(scores, "mean")


# --- the reward model on a tiny random model --------------------------------------------


def test_reward_model_reads_each_step_at_its_last_token(tiny_reward):
    prompt = PROBLEM.prompt()
    steps = PROBLEM.steps(TEXTS[0])
    ids, ends = tiny_reward.encode(prompt, steps)
    tokens = tiny_reward.tokenizer.convert_ids_to_tokens(ids)
    assert ids[0] == tiny_reward.tokenizer.bos_token_id and len(ids) == 1 + len(prompt) + len(TEXTS[0])
    assert [tokens[e] for e in ends] == [",", ",", "."]
    scores = tiny_reward.step_scores([prompt] * len(TEXTS), [PROBLEM.steps(t) for t in TEXTS])
    assert [len(s) for s in scores] == [3, 1, 0, 3, 2]
    assert all(0.0 < x < 1.0 for row in scores for x in row)
    # batched (right-padded, sorted by length) equals one text at a time
    for text, row in zip(TEXTS, scores):
        [alone] = tiny_reward.step_scores([prompt], [PROBLEM.steps(text)])
        assert alone == pytest.approx(row, abs=1e-5)
    # a prefix's score does not depend on what follows it (causal attention)
    assert scores[1][0] == pytest.approx(tiny_reward.step_scores([prompt], [["13+7=20,", "20*4=80."]])[0][0], abs=1e-5)


def test_learned_verifiers_charge_the_verifier_ledger_only(tiny_reward):
    ledger = Ledger()
    orm, prm = ORM(tiny_reward), PRM(tiny_reward, aggregate="product")
    steps = prm.score_steps(PROBLEM, TEXTS, ledger=ledger)
    lengths = [1 + len(PROBLEM.prompt()) + len(t) for t in TEXTS if t]
    assert ledger.verifier_tokens == sum(lengths)
    assert ledger.verifier_flops == sum(forward_flops(tiny_reward.n_params, 1, 32, n, 0) for n in lengths)
    assert (ledger.tokens, ledger.policy_flops, ledger.calls) == (0, 0, 1)
    assert prm.score(PROBLEM, TEXTS) == pytest.approx([math.prod(s) if s else 0.0 for s in steps])
    assert PRM(tiny_reward, aggregate="min").score(PROBLEM, TEXTS) == pytest.approx([min(s) if s else 0.0 for s in steps])
    assert orm.score(PROBLEM, TEXTS) == pytest.approx([s[-1] if s else 0.0 for s in steps])
    with pytest.raises(ValueError, match="aggregate"):
        PRM(tiny_reward, aggregate="max")
    with pytest.raises(TypeError, match="list"):
        orm.score(PROBLEM, TEXTS[0])


def test_self_verifier_is_the_policys_own_likelihood(tiny_policy):
    prompt = PROBLEM.prompt()
    [row] = tiny_policy.sample([prompt], n=32, temperature=1.0, max_new_tokens=4, seed=3)
    texts = [c.text for c in row]
    logprobs = tiny_policy.score([prompt] * len(texts), texts)
    # one forward pass gives the log-probabilities the sampler reported token by token (where
    # the random model wrote no special token, which the text leaves out)
    plain = [(c, lp) for c, lp in zip(row, logprobs) if c.num_tokens == len(c.text)]
    assert plain and all(len(lp) == len(c.text) and sum(lp) == pytest.approx(c.logprob, abs=1e-3) for c, lp in plain)
    ledger = Ledger()
    scores = SelfVerifier(tiny_policy).score(PROBLEM, texts, ledger=ledger)
    assert scores == pytest.approx([math.exp(sum(lp) / len(lp)) if lp else 0.0 for lp in logprobs])
    lengths = [1 + len(prompt) + len(t) for t in texts]
    assert (ledger.verifier_tokens, ledger.verifier_flops) == (sum(lengths), sum(tiny_policy.flops(n, 0) for n in lengths))
    assert ledger.tokens == ledger.policy_flops == 0
    assert SelfVerifier(tiny_policy).score(PROBLEM, [""]) == [0.0]


def test_self_verifier_judges_samples_from_their_own_logprobs_for_free(tiny_policy):
    from dataclasses import replace

    from tsc.core import JudgesSamples
    from tsc.strategies import best_of_n, weighted_vote

    judge = SelfVerifier(tiny_policy)
    assert isinstance(judge, JudgesSamples)
    [row] = tiny_policy.sample([PROBLEM.prompt()], n=16, temperature=1.0, max_new_tokens=4, seed=5)
    plain = [c for c in row if c.num_tokens == len(c.text)]
    ledger = Ledger()
    free = judge.score_samples(PROBLEM, plain, ledger=ledger)
    assert free == pytest.approx(judge.score(PROBLEM, [c.text for c in plain]), abs=1e-3)  # the same judgement ...
    assert ledger.flops == 0 and ledger.verifier_tokens == 0  # ... which came with sampling: free
    # a completion without a log-probability (a server that sends none) is read again, and charged
    charged = Ledger()
    again = judge.score_samples(PROBLEM, [replace(c, logprob=float("nan")) for c in plain], ledger=charged)
    assert again == pytest.approx(free, abs=1e-3) and charged.verifier_flops > 0
    # best-of-N and the weighted vote judge by the samples' log-probabilities: no verifier FLOPs
    for strategy in (best_of_n, weighted_vote):
        result = strategy(PROBLEM, tiny_policy, n=8, verifier=judge, seed=2, max_new_tokens=4)
        assert result.ledger.verifier_flops == 0 and result.ledger.policy_flops > 0


def test_get_verifier_builds_each_kind_and_names_the_known_ones(tiny_policy):
    assert set(VERIFIERS) == {"oracle", "step_oracle", "orm", "prm", "self"}
    assert isinstance(get_verifier("oracle"), Oracle) and isinstance(get_verifier("step_oracle"), StepOracle)
    assert isinstance(get_verifier("self", policy=tiny_policy), SelfVerifier)
    with pytest.raises(ValueError, match="telepathy.*oracle, orm, prm, self, step_oracle"):
        get_verifier("telepathy")
    with pytest.raises(ValueError, match="policy"):
        get_verifier("self")
    with pytest.raises(ValueError, match="oracle"):
        get_verifier("oracle", aggregate="min")
    with pytest.raises(ValueError, match="score"):
        SelfVerifier("countdown")


# --- ranking figures ---------------------------------------------------------------------


def test_auc_and_calibration_on_known_values():
    assert auc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == 0.75
    assert auc([0.5, 0.5], [0, 1]) == 0.5  # ties count half
    assert math.isnan(auc([0.1, 0.2], [1, 1]))
    result = calibration([0.05, 0.05, 0.95, 0.95], [0, 1, 1, 1])
    assert result["ece"] == pytest.approx(0.5 * 0.45 + 0.5 * 0.05)
    assert [(b["low"], b["count"], b["accuracy"]) for b in result["bins"]] == [(0.0, 2, 0.5), (0.9, 2, 1.0)]


def test_evaluate_verifiers_on_a_scripted_policy():
    def script(prompt):
        problem = Countdown(tuple(int(x) for x in prompt.split(">")[0].split()), int(prompt.split(">")[1].rstrip(":")))
        return [problem.solution_text(problem.solve()), "1+1=2."]

    figures = evaluate_verifiers({"oracle": Oracle(), "step_oracle": StepOracle()}, ScriptedPolicy(script), problems=6, n=2)
    for name in ("oracle", "step_oracle"):
        result = figures["verifiers"][name]
        assert result["auc"]["value"] == 1.0 and result["ece"]["value"] == 0.0
        assert result["best_of_2"]["overall"]["value"] == 1.0
    steps = figures["verifiers"]["step_oracle"]["steps"]  # every intermediate prefix of a solution is alive
    assert steps["prefixes"] > 0 and steps["alive_rate"] == 1.0 and "steps" not in figures["verifiers"]["oracle"]
    assert figures["baselines"]["overall"]["one_sample"]["value"] == 0.5
    assert figures["baselines"]["overall"]["pass@2"]["value"] == 1.0


# --- training -----------------------------------------------------------------------------


def test_smoke_training_lowers_the_loss_and_writes_a_card(tiny_policy, tmp_path):
    recipe = dataclasses.replace(
        REWARD_RECIPES["prm"], name="prm-smoke", problems=12, samples=2, rollouts=2, max_new_tokens=12, sizes=(3,),
        val_fraction=0.25, outcome_problems=4, steps=5, batch_size=8, lr=1e-2, warmup=1, save_every=0, eval_every=0,
    )  # fmt: skip
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(torch, "set_num_threads", lambda n: None)
        card = train_reward(recipe, tmp_path, policy=tiny_policy, progress=False)
    log = [json.loads(line) for line in (tmp_path / "train_log.jsonl").read_text().splitlines()]
    assert len(log) == 5 and log[-1]["loss"] < log[0]["loss"]
    assert card["kind"] == "prm" and card["steps"] == 5 and card["val_loss"] is not None
    assert card["train_tokens"] > 0 and card["train_flops"] > 0 and card["data_flops"] > 0 and card["weights_sha256"]
    assert card["data_summary"]["problems"] == 9 and card["data_summary"]["val_problems"] == 3
    assert 0 < card["data_summary"]["outcome_completions"] <= 8 and (tmp_path / "outcome-data.json.gz").exists()
    assert json.loads((tmp_path / "final" / "card.json").read_text()) == json.loads(json.dumps(card))
    loaded = load_reward_model(tmp_path / "final")
    assert loaded.kind == "prm" and loaded.n_params == card["params"]
    with pytest.raises(ValueError, match="reward model"):
        tsc.load_policy(tmp_path / "final")
    batch = collate_rewards(loaded, [{"prompt": PROBLEM.prompt(), "steps": PROBLEM.steps(TEXTS[0]), "labels": [0.5, 0.25, 1.0]}])
    assert np.isnan(batch["labels"].numpy()).sum() == batch["labels"].numel() - 3


def test_hard_labels_and_the_data_cache(tiny_policy, tmp_path):
    from tsc.lm.reward import reward_data
    from tsc.lm.reward.train import _as_labels

    examples = [
        {"prompt": "1 2 3>6:", "steps": ["1+2=3,", "3+3=6."], "labels": [0.25, 1.0]},
        {"prompt": "p", "steps": ["x,", "y."], "labels": [0.0, 0.0]},
    ]
    assert [e["labels"] for e in _as_labels(examples, "hard")] == [[1.0, 1.0], [0.0, 0.0]]
    assert _as_labels(examples, "soft") is examples
    recipe = dataclasses.replace(REWARD_RECIPES["orm"], problems=4, samples=2, max_new_tokens=8, sizes=(3,), val_fraction=0.0)
    cache = tmp_path / "data.json.gz"
    first = reward_data(recipe, tiny_policy, cache=cache, progress=False)
    assert first["summary"]["completions"] == len(first["train"]) and first["val"] == []
    assert all(e["labels"] == [e["correct"]] * len(e["steps"]) for e in first["train"])  # outcome labels on every step

    class NoSampling:  # a second build with the same data fields must not sample at all
        card, name = tiny_policy.card, tiny_policy.name

        def format(self, problem):
            return problem.prompt()

    assert reward_data(recipe, NoSampling(), cache=cache, progress=False)["train"] == first["train"]


def test_prm_labels_from_scripted_rollouts():
    from tsc.lm.reward import build_examples

    problem = Countdown((1, 2, 3), 6)
    script = {
        "1 2 3>6:": ["1+2=3,3+3=6.", "1+2=3,3*3=9.", "3-2=1,1*1=1."],
        "1 2 3>6:1+2=3,": ["3+3=6.", "3*3=9."],  # from here half the rollouts succeed
        "1 2 3>6:3-2=1,": ["1*1=1.", "1+1=2."],  # legal, but 6 is out of reach: none does
    }
    recipe = dataclasses.replace(REWARD_RECIPES["prm"], samples=3, rollouts=2)
    examples, ledger = build_examples(recipe, ScriptedPolicy(script), [problem], seed=0)
    sampled = [(e["steps"], e["labels"]) for e in examples if not e.get("rollout")]
    assert sampled == [
        (["1+2=3,", "3+3=6."], [0.5, 1.0]),
        (["1+2=3,", "3*3=9."], [0.5, 0.0]),
        (["3-2=1,", "1*1=1."], [0.0, 0.0]),
    ]
    rollouts = sorted(("".join(e["steps"]), tuple(e["labels"])) for e in examples if e.get("rollout"))
    assert rollouts == [
        ("1+2=3,3*3=9.", (0.5, 0.0)),
        ("1+2=3,3+3=6.", (0.5, 1.0)),
        ("3-2=1,1*1=1.", (0.0, 0.0)),
        ("3-2=1,1+1=2.", (0.0, 0.0)),
    ]
    assert ledger.samples == 3 + 2 * 2  # three samples, two rollouts of each of the two live prefixes
    # without rollouts only the free labels: the verdict, and 0 after a step that breaks the rules
    script["1 2 3>6:"].append("4+2=6,6*1=6.")
    free, _ = build_examples(dataclasses.replace(recipe, samples=4), ScriptedPolicy(script), [problem], seed=0, rollouts=False)
    assert [e["labels"] for e in free] == [[None, 1.0], [None, 0.0], [None, 0.0], [0.0, 0.0]] and all(e["outcome"] for e in free)
    script["1 2 3>6:"].pop()
    orm, _ = build_examples(dataclasses.replace(recipe, kind="orm"), ScriptedPolicy(script), [problem], seed=0)
    assert [e["labels"] for e in orm] == [[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]


# --- prefix reuse and the shared trunk (tree search scores steps the policy just wrote) -----


def _reward_on_top(policy, *, seed: int = 2) -> RewardModel:
    """A reward model whose trunk is ``policy``'s layers and whose fresh top layer does something."""
    model = reward_model_from_policy(policy, extra_layers=1, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for parameter in model.model.layers[-1].parameters():
            parameter.normal_(0.0, 0.3, generator=generator)
    return RewardModel(model, policy.tokenizer, card={"kind": "prm"})


def _written_steps(policy, n: int = 32) -> list[str]:
    [row] = policy.sample([PROBLEM.prompt()], n=n, temperature=1.0, seed=4, stop=(",", "."), max_new_tokens=8)
    # what a search sends: a partial solution with an empty last step, a finished one as it is
    return sorted({c.text + "." if c.text.endswith(",") else c.text for c in row if c.text[-1:] in (",", ".")})


@pytest.mark.parametrize("share", [True, False])
def test_scoring_inside_the_prefix_cache_matches_a_full_read_and_costs_less(tiny_policy, share):
    prm = PRM(_reward_on_top(tiny_policy))
    assert prm.model.shares_trunk_with(tiny_policy)
    with tiny_policy.prefix_cache(), prm.prefix_cache(share=tiny_policy if share else None):
        texts = _written_steps(tiny_policy)
        cached = Ledger()
        scores = prm.score_steps(PROBLEM, texts, ledger=cached)
        again = Ledger()
        repeated = prm.score_steps(PROBLEM, texts, ledger=again)  # read from the store
    flat = lambda rows: [x for row in rows for x in row]
    assert flat(repeated) == pytest.approx(flat(scores), abs=1e-6)
    full = Ledger()
    reference = prm.score_steps(PROBLEM, texts, ledger=full)
    assert len(texts) >= 3 and [len(r) for r in scores] == [len(r) for r in reference]
    assert flat(scores) == pytest.approx(flat(reference), abs=1e-5)
    assert again.verifier_tokens == len(texts) and again.verifier_flops < cached.verifier_flops  # one new token each
    if share:  # the trunk's work on the written text is the policy's: the reward model pays for its top layer
        assert cached.verifier_flops < 0.8 * full.verifier_flops
    else:
        assert cached.verifier_flops == full.verifier_flops


def test_a_reward_model_whose_trunk_differs_does_not_share(tiny_policy):
    reward = _reward_on_top(tiny_policy)
    with torch.no_grad():
        reward.model.model.layers[0].mlp.up_proj.weight[0, 0] += 1e-3
    assert not reward.shares_trunk_with(tiny_policy)
    with reward.prefix_cache(share=tiny_policy):
        assert reward._shared is None
