"""Per-token log-probabilities on every completion, against the `transformers` forward pass.

Both local samplers (the lean decoder and the `transformers` path) return each generated
token's log-probability (their sum is ``logprob``), the k largest log-probabilities at each
step when asked (``top_logprobs=k``), and can cut a completion whose window confidence falls
below a threshold (``confidence_stop``, DeepConf's online cut) exactly where
`tsc.core.confidence_cut` says a replay of the stored values cuts it.
"""

from __future__ import annotations

import math

import pytest
import torch
from conftest import build_tiny_policy

import tsc
from tsc.core import Completion, confidence_cut, token_confidence, window_means

PROMPTS = ["1 2 3>6:", "13 4 7 2>48:", "2 2 7 9>40:"]
SEEDS = [5, 6, 7]


@pytest.fixture(scope="module", params=["lean", "transformers"])
def tiny(request):
    policy = build_tiny_policy(seed=2)
    policy.lean = request.param == "lean"
    return policy


@torch.no_grad()
def forward_log_probs(policy, prompt: str, text: str) -> tuple[list[int], torch.Tensor]:
    """The completion's token ids (the char tokenizer: one per character) and the model's
    log-probabilities at every position, from one forward pass without cache or batch."""
    context = policy.encode([prompt])[0]
    ids = policy.tokenizer(text, add_special_tokens=False)["input_ids"]
    logits = policy.model(input_ids=torch.tensor([context + ids]), use_cache=False).logits[0].double()
    return ids, torch.log_softmax(logits, dim=-1)[len(context) - 1 :]


def test_every_token_has_its_log_probability_and_they_sum_to_logprob(tiny):
    rows = tiny.sample(PROMPTS, n=16, temperature=1.0, seed=SEEDS, max_new_tokens=12, top_logprobs=3)
    checked = 0
    for prompt, row in zip(PROMPTS, rows):
        for c in row:
            assert len(c.token_logprobs) == len(c.top_logprobs) == c.num_tokens
            assert c.logprob == sum(c.token_logprobs)  # exactly: the sum, left to right
            assert all(len(top) == 3 and list(top) == sorted(top, reverse=True) for top in c.top_logprobs)
            ids, log_probs = forward_log_probs(tiny, prompt, c.text)
            if len(ids) != c.num_tokens:  # a random model writes special tokens, which its text leaves out
                continue
            for t, token in enumerate(ids):
                assert c.token_logprobs[t] == pytest.approx(float(log_probs[t, token]), abs=1e-4)
                assert list(c.top_logprobs[t]) == pytest.approx(log_probs[t].topk(3).values.tolist(), abs=1e-4)
                assert c.token_logprobs[t] <= c.top_logprobs[t][0] + 1e-6
                checked += 1
    assert checked > 40  # tokens compared with the forward pass


def test_greedy_decoding_reports_them_too(tiny):
    [[c]] = tiny.sample(PROMPTS[:1], n=1, temperature=0.0, seed=0, max_new_tokens=10, top_logprobs=1)
    assert c.token_logprobs == pytest.approx([top[0] for top in c.top_logprobs], abs=1e-6)  # greedy takes the top token


def test_without_top_logprobs_nothing_more_is_kept(tiny):
    [[c]] = tiny.sample(PROMPTS[:1], n=1, seed=[1], max_new_tokens=8)
    assert c.top_logprobs == () and len(c.token_logprobs) == c.num_tokens and not c.cut_off


def test_a_prompts_log_probabilities_do_not_depend_on_the_batch(tiny):
    together = tiny.sample(PROMPTS, n=3, seed=SEEDS, max_new_tokens=12, top_logprobs=2)
    alone = [tiny.sample([p], n=3, seed=[s], max_new_tokens=12, top_logprobs=2)[0] for p, s in zip(PROMPTS, SEEDS)]
    for a_row, b_row in zip(together, alone):
        for a, b in zip(a_row, b_row):
            assert a.text == b.text
            assert a.token_logprobs == pytest.approx(b.token_logprobs, abs=1e-4)
            assert [x for top in a.top_logprobs for x in top] == pytest.approx([x for top in b.top_logprobs for x in top], abs=1e-4)


def test_the_two_samplers_agree():
    lean, plain = build_tiny_policy(seed=2), build_tiny_policy(seed=2)
    plain.lean = False
    a = lean.sample(PROMPTS, n=4, seed=SEEDS, max_new_tokens=10, top_logprobs=4)
    b = plain.sample(PROMPTS, n=4, seed=SEEDS, max_new_tokens=10, top_logprobs=4)
    for x, y in zip((c for row in a for c in row), (c for row in b for c in row)):
        assert x.text == y.text and x.token_logprobs == pytest.approx(y.token_logprobs, abs=1e-4)
        assert [v for top in x.top_logprobs for v in top] == pytest.approx([v for top in y.top_logprobs for v in top], abs=1e-4)


def test_the_confidence_cut_is_where_a_replay_of_the_stored_values_cuts(tiny):
    """Sampling with ``confidence_stop`` writes a prefix of what sampling without it writes
    (each row draws from its own stream), and stops exactly where `confidence_cut` of the full
    completion's top log-probabilities says: the replay of a stored table equals the live cut."""
    window = 3
    full = tiny.sample(PROMPTS, n=8, seed=SEEDS, max_new_tokens=14, top_logprobs=5)
    means = sorted(m for row in full for c in row for m in window_means([token_confidence(t) for t in c.top_logprobs], window))
    threshold = means[len(means) // 3]  # cuts some completions and spares others
    cut = tiny.sample(PROMPTS, n=8, seed=SEEDS, max_new_tokens=14, top_logprobs=5, confidence_stop=(window, threshold))
    kinds = set()
    for full_row, cut_row in zip(full, cut):
        for whole, live in zip(full_row, cut_row):
            at = confidence_cut(whole.top_logprobs, window, threshold)
            replayed = at is not None and at < whole.num_tokens  # a cut at the last token is the natural end
            assert live.cut_off == replayed
            assert live.num_tokens == (at if replayed else whole.num_tokens)
            assert whole.text.startswith(live.text) and live.token_logprobs == whole.token_logprobs[: live.num_tokens]
            if live.cut_off:
                assert not live.text.endswith(".")
            kinds.add(live.cut_off)
    assert kinds == {True, False}


def test_a_cut_trace_is_charged_only_what_it_wrote(tiny):
    from tsc.compute import Ledger

    full, cut = Ledger(), Ledger()
    rows = tiny.sample(PROMPTS, n=4, seed=SEEDS, max_new_tokens=14, top_logprobs=3, ledger=full)
    short = tiny.sample(PROMPTS, n=4, seed=SEEDS, max_new_tokens=14, top_logprobs=3, confidence_stop=(2, 100.0), ledger=cut)
    assert all(c.num_tokens == min(2, w.num_tokens) for r, s in zip(rows, short) for w, c in zip(r, s))  # every window is low
    assert cut.generated_tokens == sum(c.num_tokens for row in short for c in row) < full.generated_tokens
    assert cut.prompt_tokens == full.prompt_tokens and cut.flops < full.flops


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"top_logprobs": -1}, "top_logprobs must be a whole number"),
        ({"top_logprobs": 2.5}, "top_logprobs must be a whole number"),
        ({"confidence_stop": (4, 1.0)}, "needs top_logprobs"),
        ({"top_logprobs": 2, "confidence_stop": (0, 1.0)}, "window >= 1"),
        ({"top_logprobs": 2, "confidence_stop": 3}, "confidence_stop must be"),
        ({"top_logprobs": 2, "confidence_stop": (3, math.nan)}, "finite"),
    ],
)
def test_bad_knobs_are_refused_in_one_line(tiny, knobs, message):
    with pytest.raises(ValueError, match=message):
        tiny.sample(PROMPTS[:1], n=1, seed=[0], max_new_tokens=4, **knobs)


def test_the_bundled_model_matches_its_forward_pass():
    policy = tsc.load_policy()
    [row] = policy.sample(["13 4 7 2>48:"], n=4, temperature=1.0, seed=[3], max_new_tokens=40, top_logprobs=2)
    for c in row:
        ids, log_probs = forward_log_probs(policy, "13 4 7 2>48:", c.text)
        assert len(ids) == c.num_tokens
        assert c.token_logprobs == pytest.approx([float(log_probs[t, i]) for t, i in enumerate(ids)], abs=1e-4)


def test_confidence_helpers_by_hand():
    assert token_confidence([-0.5, -1.5]) == 1.0
    assert window_means([1.0, 2.0, 3.0, 4.0], 2) == [1.5, 2.5, 3.5]
    assert window_means([1.0], 2) == []
    tops = [[-0.1, -3.0]] * 3 + [[-0.7, -0.7]] * 3  # confidences 1.55, ..., then 0.7
    assert confidence_cut(tops, 2, 1.0) == 5  # window (4th, 5th) = (0.7, 0.7) is the first below 1.0
    assert confidence_cut(tops, 2, 0.5) is None
    assert Completion("1.", 2, -1.0).token_logprobs == ()


def test_one_threshold_per_prompt_cuts_each_prompt_as_alone(tiny):
    window = 2
    thresholds = [0.5, 50.0, 1.0]  # never, always (after the first window), in between
    together = tiny.sample(PROMPTS, n=4, seed=SEEDS, max_new_tokens=10, top_logprobs=3, confidence_stop=(window, thresholds))
    for prompt, seed, threshold, row in zip(PROMPTS, SEEDS, thresholds, together):
        [alone] = tiny.sample([prompt], n=4, seed=[seed], max_new_tokens=10, top_logprobs=3, confidence_stop=(window, threshold))
        assert [(c.text, c.num_tokens, c.cut_off) for c in row] == [(c.text, c.num_tokens, c.cut_off) for c in alone]
    assert all(c.num_tokens <= window for c in together[1])
    with pytest.raises(ValueError, match="2 thresholds for 3 prompts"):
        tiny.sample(PROMPTS, n=1, seed=SEEDS, max_new_tokens=4, top_logprobs=2, confidence_stop=(2, [1.0, 2.0]))
