"""Chapter 3's exercise checkers: the placeholder reads "not attempted", the reference
"correct", and each of the wrong answers a student most likely writes "incorrect" with a
message that points at the mistake (never an exception)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tsc.compute import Ledger
from tsc.core import Completion
from tsc.exercises import check_kv_cache_bytes, check_temperature_choice, check_top_p
from tsc.exercises.ch03 import BYTES, is_nucleus, top_p_reference
from tsc.tasks import arithmetic

# --- Exercise 3.1: top-p ---------------------------------------------------------------------


def reference_top_p(probs, p):
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs)
    kept = np.zeros_like(probs)
    total = 0.0
    for i in order:
        if total >= p:
            break
        kept[i] = probs[i]
        total += probs[i]
    return kept / kept.sum()


def drops_the_crossing_token(probs, p):  # keeps tokens while the running total stays within p
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs)
    kept = np.zeros_like(probs)
    total = 0.0
    for i in order:
        total += probs[i]
        if total > p:
            break
        kept[i] = probs[i]
    return kept / kept.sum()


def not_renormalised(probs, p):
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs)
    kept = np.zeros_like(probs)
    total = 0.0
    for i in order:
        if total >= p:
            break
        kept[i] = probs[i]
        total += probs[i]
    return kept


def vocabulary_order(probs, p):  # forgets to sort
    kept, total = [], 0.0
    for q in probs:
        kept.append(q if total < p else 0.0)
        total += q
    return [k / sum(kept) for k in kept]


def keeps_at_p(probs, p):  # keeps a token when the mass before it equals p
    probs = np.asarray(probs, dtype=float)
    order = np.argsort(-probs, kind="stable")
    kept = np.zeros_like(probs)
    total = 0.0
    for i in order:
        if total > p:
            break
        kept[i] = probs[i]
        total += probs[i]
    return kept / kept.sum()


def keeps_every_tie(probs, p):  # a threshold at the last needed token's probability
    edge = top_p_reference(probs, p)
    smallest = np.asarray(probs)[edge > 0].min()
    kept = np.where(np.asarray(probs) >= smallest, probs, 0.0)
    return kept / kept.sum()


def per_token_threshold(probs, p):
    kept = [q if q >= p else 0.0 for q in probs]
    return [k / sum(kept) for k in kept]


def placeholder(*args):
    return None


def test_top_p_placeholder_and_reference():
    assert check_top_p(placeholder).status == "not attempted"
    assert check_top_p(reference_top_p).correct
    assert check_top_p(lambda probs, p: torch.tensor(reference_top_p(probs, p))).correct  # a tensor is fine


def test_top_p_ties_may_keep_any_of_the_tied_tokens():
    from tsc.lm.fast import top_p_filter

    def last_of_ties(probs, p):  # breaks ties the other way: the last tied token first
        reverse = top_p_reference(list(probs)[::-1], p)[::-1]
        return reverse

    def sampler(probs, p):
        kept = top_p_filter(torch.tensor([probs], dtype=torch.float64), p)[0].numpy()
        return kept / kept.sum()

    assert check_top_p(last_of_ties).correct
    assert check_top_p(sampler).correct  # the book's own sampler passes
    assert is_nucleus([0.5 / 0.7, 0.0, 0.2 / 0.7, 0.0], [0.5, 0.2, 0.2, 0.1], 0.6)  # either 0.2 may be the one kept
    assert is_nucleus([0.5 / 0.7, 0.2 / 0.7, 0.0, 0.0], [0.5, 0.2, 0.2, 0.1], 0.6)
    assert not is_nucleus([0.5 / 0.9, 0.2 / 0.9, 0.2 / 0.9, 0.0], [0.5, 0.2, 0.2, 0.1], 0.6)  # one more than needed
    assert not is_nucleus([1.0, 0.0, 0.0], [0.5, 0.3, 0.2], 0.7)  # does not reach p
    assert not is_nucleus([0.0, 1.0, 0.0], [0.5, 0.3, 0.2], 0.2)  # not the likeliest


@pytest.mark.filterwarnings("ignore:invalid value")  # the wrong versions divide 0 by 0 on purpose
@pytest.mark.parametrize(
    "wrong, words",
    [
        (drops_the_crossing_token, "takes the running total past p"),
        (keeps_at_p, "already equals p"),
        (keeps_every_tie, "tied with the last one needed"),
        (not_renormalised, "did not renormalise"),
        (vocabulary_order, "Sort the tokens by probability"),
        (per_token_threshold, "threshold on each token"),
    ],
)
def test_top_p_mistakes_are_named(wrong, words):
    feedback = check_top_p(wrong)
    assert feedback.status == "incorrect"
    assert words in feedback.message, feedback.message


def test_top_p_wrong_shape_and_crash_are_reported():
    kept_only = check_top_p(lambda probs, p: [q for q in reference_top_p(probs, p) if q > 0])
    assert kept_only.status == "incorrect" and "probabilities in the input's order" in kept_only.message
    crash = check_top_p(lambda probs, p: 1 / 0)
    assert crash.status == "incorrect" and "ZeroDivisionError" in crash.message
    assert check_top_p(3).status == "incorrect"


def test_top_p_reference_agrees_with_the_sampler():
    from tsc.lm.fast import filter_probs

    rng = np.random.default_rng(0)
    for _ in range(50):
        probs = rng.dirichlet(np.ones(12) * 0.5)
        p = float(rng.uniform(0.05, 1.0))
        sampler = filter_probs(torch.tensor(probs[None], dtype=torch.float64), top_p=p)[0].numpy()
        assert np.allclose(top_p_reference(probs, p), sampler / sampler.sum(), atol=1e-9)


# --- Exercise 3.2: the KV cache's memory -------------------------------------------------------


def kv_reference(config, context, batch):
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * config["num_key_value_heads"] * head_dim * context * batch * BYTES[config["torch_dtype"]]


def keys_only(config, context, batch):
    return kv_reference(config, context, batch) // 2


def every_query_head(config, context, batch):
    return 2 * config["num_hidden_layers"] * config["hidden_size"] * context * batch * BYTES[config["torch_dtype"]]


def always_two_bytes(config, context, batch):
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * config["num_key_value_heads"] * head_dim * context * batch * 2


def one_sequence(config, context, batch):
    return kv_reference(config, context, 1)


def test_kv_placeholder_and_reference():
    assert check_kv_cache_bytes(placeholder).status == "not attempted"
    assert check_kv_cache_bytes(kv_reference).correct
    assert check_kv_cache_bytes(lambda c, t, b: float(kv_reference(c, t, b))).correct


@pytest.mark.parametrize(
    "wrong, words",
    [
        (keys_only, "a key and a value"),
        (every_query_head, "num_key_value_heads"),
        (always_two_bytes, "4 for float32"),
        (one_sequence, "batch size"),
        (lambda c, t, b: kv_reference(c, t, b) / 2**30, "in GiB"),
        (lambda c, t, b: kv_reference(c, t, b) // BYTES[c["torch_dtype"]], "values, not bytes"),
    ],
)
def test_kv_mistakes_are_named(wrong, words):
    feedback = check_kv_cache_bytes(wrong)
    assert feedback.status == "incorrect"
    assert words in feedback.message, feedback.message


def test_kv_crash_and_missing_key_are_reported():
    feedback = check_kv_cache_bytes(lambda c, t, b: c["head_dim"])
    assert feedback.status == "incorrect" and "KeyError" in feedback.message


def test_kv_values_match_the_package():
    """The checker's formula is the one `tsc.lm.kvcache` uses for the chapter's table."""
    from tsc.exercises.ch03 import KV_CASES, kv_cache_reference
    from tsc.lm.kvcache import Shape, cache_bytes

    for config, context, batch, _ in KV_CASES:
        heads = config["num_attention_heads"]
        shape = Shape(
            "x", config["num_hidden_layers"], config["hidden_size"], heads, config["num_key_value_heads"], config["hidden_size"] // heads
        )
        expected = cache_bytes(shape, context, batch=batch, bytes_per_value=BYTES[config["torch_dtype"]])
        assert kv_cache_reference(config, context, batch) == expected


# --- Exercise 3.3: a temperature for majority@8 --------------------------------------------------

TEMPERATURES = (0.3, 0.6, 1.0, 1.5)
# the fake model's majority@8 and coverage@8 on each set: the dev set prefers 0.6, coverage
# prefers 1.5, the test set prefers 1.0
PLAN = {
    "dev": {0.3: (0.5, 0.6), 0.6: (0.7, 0.8), 1.0: (0.6, 0.8), 1.5: (0.4, 0.9)},
    "test": {0.3: (0.55, 0.7), 0.6: (0.6, 0.75), 1.0: (0.65, 0.8), 1.5: (0.3, 0.85)},
}
DEV = arithmetic.generate(20, seed=1, ops=(2,))
TEST = arithmetic.generate(20, seed=2, ops=(3,))


class VotePolicy:
    """Eight samples per question: all right (the vote wins), one right (coverage only) or
    none, in the proportions of PLAN for the set the question belongs to."""

    name, prompt_format = "votes", "compact"

    def format(self, problem):
        return problem.prompt()

    def sample(self, prompts, *, n=1, temperature=1.0, seed=0, max_new_tokens=64, ledger: Ledger | list | None = None, **knobs):
        rows = []
        for prompt in prompts:
            which = "dev" if prompt in [p.prompt() for p in DEV] else "test"
            problems = DEV if which == "dev" else TEST
            index = [p.prompt() for p in problems].index(prompt)
            vote, cover = PLAN[which][temperature]
            value = problems[index].value
            if index < round(vote * len(problems)):
                texts = [f"{value}."] * n
            elif index < round(cover * len(problems)):
                texts = [f"{value}."] + [f"{value + 1}."] * (n - 1)
            else:
                texts = [f"{value + 1}."] * n
            rows.append([Completion(t, len(t), -1.0) for t in texts])
        for mine in ledger if isinstance(ledger, list) else [ledger] * (ledger is not None):  # one per prompt, or one for the call
            mine.charge_policy(prompt_tokens=1, generated_tokens=1, flops=1, seconds=0.0, samples=len(prompts) * n)
        return rows


DEV_VOTES = {t: vote for t, (vote, _) in PLAN["dev"].items()}
DEV_COVERAGE = {t: cover for t, (_, cover) in PLAN["dev"].items()}
TEST_VOTES = {t: vote for t, (vote, _) in PLAN["test"].items()}


def choose(temperature, accuracy, scores=DEV_VOTES):
    return check_temperature_choice(temperature, accuracy, scores, policy=VotePolicy(), dev=DEV, test=TEST, temperatures=TEMPERATURES)


def test_temperature_placeholder_and_reference():
    assert choose(None, None, None).status == "not attempted"
    feedback = choose(0.6, 0.6)
    assert feedback.correct, feedback.message
    assert choose(np.float64(0.6), np.float64(0.6), {np.float64(t): np.float64(v) for t, v in DEV_VOTES.items()}).correct


@pytest.mark.parametrize(
    "temperature, scores, words",
    [
        (1.5, DEV_COVERAGE, "coverage@8"),  # scored by coverage
        (0.6, DEV_COVERAGE, "coverage@8"),  # ... even when coverage happens to pick the same temperature
        (1.0, TEST_VOTES, "test set"),  # scored on the test set
        (0.6, TEST_VOTES, "test set"),
        (0.6, None, "dev_scores"),  # how the choice was made is part of the answer
        (0.6, {0.3: 0.5, 0.6: 0.7}, "every candidate"),
        (0.6, {0.3: 0.5, 0.6: 0.7, 1.0: 0.6, 1.5: 0.5}, "dev_scores[1.5]"),
        (0.6, {0.3: 0.5, 0.6: 0.7, 1.0: 0.6, 2.0: 0.4}, "each candidate"),
    ],
)
def test_temperature_dev_scores_show_how_the_choice_was_made(temperature, scores, words):
    feedback = choose(temperature, 0.6, scores)
    assert feedback.status == "incorrect" and words in feedback.message, feedback.message


@pytest.mark.parametrize(
    "temperature, accuracy, words",
    [
        (1.5, 0.3, "highest at T=0.6"),  # right scores, another choice
        (0.6, 0.7, "dev-set accuracy"),  # reported the dev accuracy
        (0.6, 0.75, "coverage@8"),  # reported the test coverage
        (0.6, 60.0, "percentage"),
        (0.3, 0.55, "highest at T=0.6"),
        (0.0, 0.5, "among the candidates"),
        (0.6, [0.6], "one number"),
    ],
)
def test_temperature_mistakes_are_named(temperature, accuracy, words):
    feedback = choose(temperature, accuracy)
    assert feedback.status == "incorrect"
    assert words in feedback.message, feedback.message


def test_the_chapters_self_tests_pass():
    from tsc.exercises import selftest

    assert selftest("ex-3-1").startswith("ex-3-1")
    assert selftest("ex-3-2").startswith("ex-3-2")
    assert selftest("ex-3-3", policy=VotePolicy(), dev=DEV, test=TEST, temperatures=TEMPERATURES).startswith("ex-3-3")
