"""The real model code on a tiny random model: tokenizer, KV-cached sampler, saving, training.

The sampler is checked against a plain forward loop without a KV cache, one prompt at a
time: that catches mistakes in left padding, position ids and cache reuse, and in the
log-probabilities the sampler reports.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch
from conftest import build_tiny_policy
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoTokenizer

import tsc
from tsc.compute import Ledger
from tsc.lm.checkpoint import bundled_models
from tsc.lm.tokenizer import CHARS, build_char_tokenizer
from tsc.lm.train import collate, learning_rate, save_checkpoint, training_examples
from tsc.tasks.countdown import Countdown

PROMPTS = ["1 2 3>6:", "13 4 7 2>48:", "10 11 12 13 9>100:"]  # three different lengths
MAX_NEW = 12
N_SAMPLES = 16
_TOKENIZER = build_char_tokenizer()

# --- the tokenizer ----------------------------------------------------------------------


def test_tokenizer_round_trips_through_save_pretrained(tmp_path):
    tokenizer = build_char_tokenizer()
    tokenizer.save_pretrained(tmp_path)
    loaded = AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert len(loaded) == len(tokenizer) == len(CHARS) + 4
    for name in ("pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id"):
        assert getattr(loaded, name) == getattr(tokenizer, name) is not None
    assert loaded.padding_side == "left"
    for text in ["13 4 7 2>48:", "13-7=6,6*4=24,24*2=48.", "1 2 3>6:1+2=3, 3+3=6.", "100/4=25"]:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        assert len(ids) == len(text)  # one token per character
        assert loaded(text, add_special_tokens=False)["input_ids"] == ids
        assert loaded.decode(ids) == tokenizer.decode(ids) == text


@settings(max_examples=40)
@given(text=st.text(alphabet=CHARS, max_size=40))
def test_tokenizer_decode_inverts_encode(text):
    tokenizer = _TOKENIZER
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert len(ids) == len(text)
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids) == text


def test_tokenizer_maps_unknown_characters_to_unk():
    ids = _TOKENIZER("1a2", add_special_tokens=False)["input_ids"]
    assert ids[1] == _TOKENIZER.unk_token_id and len(ids) == 3


# --- a reference decoder without cache, batch or padding --------------------------------


def stop_ids(policy) -> set[int]:
    return {policy.tokenizer.convert_tokens_to_ids("."), policy.tokenizer.eos_token_id}


@torch.no_grad()
def token_logprobs(policy, prompt: str, ids: list[int]) -> list[float]:
    """log p(ids[t] | prompt, ids[:t]) for every t, from one forward pass without cache."""
    context = policy.encode([prompt])[0]
    logits = policy.model(input_ids=torch.tensor([context + ids]), use_cache=False).logits[0].double()
    log_probs = torch.log_softmax(logits, dim=-1)
    return [float(log_probs[len(context) - 1 + t, token]) for t, token in enumerate(ids)]


@torch.no_grad()
def reference_greedy(policy, prompt: str, max_new_tokens: int) -> tuple[str, int, float]:
    """(text, number of tokens, logprob) of greedy decoding by full forward passes."""
    context, out = policy.encode([prompt])[0], []
    for _ in range(max_new_tokens):
        logits = policy.model(input_ids=torch.tensor([context + out]), use_cache=False).logits[0, -1]
        out.append(int(logits.argmax()))
        if out[-1] in stop_ids(policy):
            break
    kept = [t for t in out if t != policy.tokenizer.eos_token_id]
    return policy.tokenizer.decode(kept, skip_special_tokens=True), len(out), sum(token_logprobs(policy, prompt, out))


# --- the sampler ------------------------------------------------------------------------


@pytest.fixture(scope="module", params=["lean", "transformers"])
def sampler(request):
    """The tiny model on each of the two sampling paths: the lean forward pass (tsc.lm.fast),
    and the `transformers` forward pass it is checked against."""
    policy = build_tiny_policy()
    policy.lean = request.param == "lean"
    return policy


@pytest.fixture(scope="module")
def sampled(sampler):
    """N_SAMPLES samples of each prompt at temperature 1 (seed 0) and the ledger they were charged to."""
    ledger = Ledger()
    rows = sampler.sample(PROMPTS, n=N_SAMPLES, temperature=1.0, max_new_tokens=MAX_NEW, seed=0, ledger=ledger)
    return rows, ledger


@pytest.fixture(scope="module")
def greedy_rows(tiny_policy):
    return tiny_policy.sample(PROMPTS, n=2, temperature=0.0, max_new_tokens=MAX_NEW)


def test_sample_shapes_and_bounds(sampled):
    rows, _ = sampled
    assert len(rows) == len(PROMPTS) and all(len(row) == N_SAMPLES for row in rows)
    for row in rows:
        for c in row:
            assert isinstance(c, tsc.Completion)
            assert 1 <= c.num_tokens <= MAX_NEW
            assert len(c.text) <= c.num_tokens
            assert math.isfinite(c.logprob) and c.logprob <= 0.0


def test_sample_stops_at_the_first_full_stop(sampled):
    texts = [c.text for row in sampled[0] for c in row]
    stopped = [t for t in texts if "." in t]
    assert stopped, "the tiny model should end some samples with '.' (else this test checks nothing)"
    assert all(t.index(".") == len(t) - 1 for t in stopped)
    # a sample that did not stop ran to the token limit
    for row in sampled[0]:
        for c in row:
            if not c.text.endswith(".") and len(c.text) == c.num_tokens:  # no stop, no end token
                assert c.num_tokens == MAX_NEW


def test_sample_charges_the_ledger(sampled, sampler):
    rows, ledger = sampled
    assert ledger.samples == len(PROMPTS) * N_SAMPLES and ledger.calls == 1
    prompt_lengths = [len(ids) for ids in sampler.encode(PROMPTS)]
    assert prompt_lengths == [len(p) + 1 for p in PROMPTS]  # characters plus the BOS token
    # both paths read each prompt once and copy its keys and values to its samples
    reads = 1
    assert ledger.prompt_tokens == reads * sum(prompt_lengths)
    assert ledger.generated_tokens == sum(c.num_tokens for row in rows for c in row)
    per_sample = sum(sampler.flops(length, c.num_tokens) for length, row in zip(prompt_lengths, rows) for c in row)
    shared = (N_SAMPLES - reads) * sum(sampler.flops(length, 0) for length in prompt_lengths)
    assert ledger.policy_flops == per_sample - shared > 0
    assert ledger.verifier_flops == 0 and ledger.seconds > 0


def test_sample_is_reproducible_by_seed(sampled, sampler):
    rows, _ = sampled
    assert sampler.sample(PROMPTS, n=N_SAMPLES, temperature=1.0, max_new_tokens=MAX_NEW, seed=0) == rows
    other = sampler.sample(PROMPTS, n=N_SAMPLES, temperature=1.0, max_new_tokens=MAX_NEW, seed=1)
    assert [c.text for row in other for c in row] != [c.text for row in rows for c in row]
    assert len({c.text for row in rows for c in row}) > 5  # temperature 1 gives varied samples


def test_sampled_logprobs_match_a_forward_pass_without_cache(sampled, sampler):
    checked = 0
    eos = sampler.tokenizer.eos_token_id
    for prompt, row in zip(PROMPTS, sampled[0]):
        for c in row:
            ids = sampler.tokenizer(c.text, add_special_tokens=False)["input_ids"]
            ended_by_eos = not c.text.endswith(".") and c.num_tokens < MAX_NEW
            if ended_by_eos:  # the end token has no text
                ids.append(eos)
            if len(ids) != c.num_tokens:  # another special token was sampled: its id is not in the text
                continue
            assert c.logprob == pytest.approx(sum(token_logprobs(sampler, prompt, ids)), abs=1e-4)
            checked += 1
    assert checked >= 8  # tests/test_fast.py checks every sample, by token ids


def test_greedy_matches_unbatched_decoding_without_cache(greedy_rows, tiny_policy):
    assert len({row[0].text for row in greedy_rows}) == len(PROMPTS), "greedy paths should differ per prompt"
    for prompt, row in zip(PROMPTS, greedy_rows):
        text, count, logprob = reference_greedy(tiny_policy, prompt, MAX_NEW)
        for c in row:  # temperature 0: every one of the n completions is the greedy one
            assert (c.text, c.num_tokens) == (text, count)
            assert c.logprob == pytest.approx(logprob, abs=1e-4)


def test_greedy_does_not_depend_on_batching(greedy_rows, tiny_policy):
    one_at_a_time = tiny_policy.sample(PROMPTS, n=2, temperature=0.0, max_new_tokens=MAX_NEW, batch_size=1)
    assert [[c.text for c in row] for row in one_at_a_time] == [[c.text for c in row] for row in greedy_rows]
    for row_a, row_b in zip(one_at_a_time, greedy_rows):
        for a, b in zip(row_a, row_b):
            assert a.num_tokens == b.num_tokens and a.logprob == pytest.approx(b.logprob, abs=1e-4)


def test_tiny_top_p_is_greedy(greedy_rows, tiny_policy):
    rows = tiny_policy.sample(PROMPTS, n=2, temperature=1.0, top_p=1e-6, max_new_tokens=MAX_NEW, seed=3)
    assert [[c.text for c in row] for row in rows] == [[c.text for c in row] for row in greedy_rows]


@pytest.mark.parametrize("knob", [{"top_k": 1}, {"min_p": 0.999}])
@pytest.mark.parametrize("lean", [True, False])
def test_tightest_top_k_and_min_p_are_greedy(greedy_rows, tiny_policy, knob, lean):
    tiny_policy.lean = lean
    try:
        rows = tiny_policy.sample(PROMPTS, n=2, temperature=1.5, max_new_tokens=MAX_NEW, seed=5, **knob)
    finally:
        tiny_policy.lean = True
    assert [[c.text for c in row] for row in rows] == [[c.text for c in row] for row in greedy_rows]


def test_filter_probs_by_hand():
    from tsc.lm.fast import filter_probs

    probs = torch.tensor([[0.5, 0.2, 0.15, 0.1, 0.05]])
    kept = lambda **knobs: (filter_probs(probs.clone(), **knobs) > 0).squeeze(0).tolist()
    assert kept() == [True] * 5
    assert kept(top_k=2) == [True, True, False, False, False]
    assert kept(top_p=0.6) == [True, True, False, False, False]  # 0.5 < 0.6, 0.5 + 0.2 reaches it
    assert kept(top_p=0.5) == [True, False, False, False, False]
    assert kept(min_p=0.3) == [True, True, True, False, False]  # 0.15 >= 0.3 * 0.5
    assert kept(min_p=0.31) == [True, True, False, False, False]
    assert kept(top_k=3, min_p=0.25) == [True, True, True, False, False]
    # top-p after top-k works on what top-k left (renormalised): 0.5/0.85 = 0.59 < 0.6
    assert kept(top_k=3, top_p=0.6) == [True, True, False, False, False]
    assert torch.equal(filter_probs(probs.clone(), top_k=0, top_p=1.0, min_p=0.0), probs)


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"prompts": "1 2>3:"}, TypeError),
        ({"top_k": -1}, ValueError),
        ({"top_k": 1.5}, ValueError),
        ({"min_p": 1.0}, ValueError),
        ({"min_p": -0.1}, ValueError),
        ({"temperature": float("nan")}, ValueError),
        ({"n": 0}, ValueError),
        ({"max_new_tokens": 0}, ValueError),
        ({"temperature": -1.0}, ValueError),
        ({"top_p": 0.0}, ValueError),
        ({"top_p": 1.5}, ValueError),
    ],
)
def test_sample_rejects_bad_arguments(tiny_policy, kwargs, error):
    kwargs = {"prompts": ["1 2>3:"], **kwargs}
    with pytest.raises(error):
        tiny_policy.sample(kwargs.pop("prompts"), **kwargs)


def test_policy_formats_countdown_prompts(tiny_policy):
    assert tiny_policy.prompt([13, 4, 7, 2], 48) == "13 4 7 2>48:"
    assert tiny_policy.format(Countdown((1, 2, 3), 6)) == "1 2 3>6:"
    assert isinstance(tiny_policy, tsc.Policy)


# --- saving and loading -----------------------------------------------------------------


def test_save_and_load_round_trip(tiny_model_dir, tiny_policy, greedy_rows):
    loaded = tsc.load_policy(str(tiny_model_dir))
    assert loaded.path == tiny_model_dir
    assert loaded.card["name"] == "tiny" and loaded.n_params == tiny_policy.n_params
    assert next(loaded.model.parameters()).dtype == torch.float32
    again = loaded.sample(PROMPTS, n=2, temperature=0.0, max_new_tokens=MAX_NEW)
    for row_a, row_b in zip(again, greedy_rows):
        for a, b in zip(row_a, row_b):
            assert (a.text, a.num_tokens) == (b.text, b.num_tokens)
            assert a.logprob == pytest.approx(b.logprob, abs=1e-5)


def test_save_checkpoint_replaces_an_existing_folder(tiny_policy, tmp_path):
    folder = tmp_path / "model"
    save_checkpoint(tiny_policy.model, tiny_policy.tokenizer, folder, {"version": 1})
    save_checkpoint(tiny_policy.model, tiny_policy.tokenizer, folder, {"version": 2})
    card = json.loads((folder / "card.json").read_text())
    assert card == {"version": 2, "weights_sha256": card["weights_sha256"]}  # the card plus its weights' hash
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no .tmp or .old left behind


def test_load_policy_rejects_unknown_names(tmp_path):
    with pytest.raises(ValueError) as info:
        tsc.load_policy("no-such-model")
    message = str(info.value)
    assert "no-such-model" in message
    names = list(bundled_models())
    assert all(name in message for name in names) if names else "none bundled" in message
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="config.json"):
        tsc.load_policy(empty)
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(ValueError, match="file"):
        tsc.load_policy(tmp_path / "file.txt")


# --- training ---------------------------------------------------------------------------


def test_collate_trains_on_the_solution_only():
    tokenizer = _TOKENIZER
    examples = [("1 2 3>6:", "1+2=3,3+3=6."), ("13 4>17:", "13+4=17.")]
    batch = collate(tokenizer, examples)
    ids, labels, mask = batch["input_ids"].tolist(), batch["labels"].tolist(), batch["attention_mask"].tolist()
    encode = lambda s: tokenizer(s, add_special_tokens=False)["input_ids"]
    for row, (prompt, answer) in enumerate(examples):
        length = 1 + len(prompt) + len(answer) + 1
        expected = [tokenizer.bos_token_id] + encode(prompt) + encode(answer) + [tokenizer.eos_token_id]
        assert ids[row][:length] == expected
        assert all(t == tokenizer.pad_token_id for t in ids[row][length:])  # right padding
        assert labels[row][: 1 + len(prompt)] == [-100] * (1 + len(prompt))
        assert labels[row][1 + len(prompt) : length] == encode(answer) + [tokenizer.eos_token_id]
        assert all(t == -100 for t in labels[row][length:])
        assert mask[row] == [1] * length + [0] * (len(mask[row]) - length)


def test_learning_rate_warms_up_then_decays(smoke_recipe):
    recipe = dataclasses.replace(smoke_recipe, steps=100, warmup=10, lr=1e-2, min_lr_ratio=0.1)
    rates = [learning_rate(recipe, step) for step in range(101)]
    assert rates[0] == pytest.approx(1e-3)  # linear warm-up from lr / warmup
    assert all(a < b for a, b in zip(rates[:9], rates[1:10]))
    assert rates[9] == pytest.approx(1e-2) and rates[10] == pytest.approx(1e-2)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:]))  # then a monotone cosine decay
    assert rates[55] == pytest.approx(1e-2 * (0.1 + 0.9 * 0.5))  # halfway down the cosine
    assert rates[100] == pytest.approx(1e-3)  # to min_lr_ratio of the peak
    assert min(rates) >= 1e-3 - 1e-12


def test_training_examples_are_reproducible_training_data(smoke_recipe):
    examples = training_examples(smoke_recipe, 3)
    assert examples == training_examples(smoke_recipe, 3)
    assert examples != training_examples(smoke_recipe, 4)
    assert len(examples) == smoke_recipe.batch_size
    from tsc.tasks import countdown

    for prompt, solution in examples:
        numbers, target = prompt.rstrip(":").split(">")
        problem = Countdown(tuple(map(int, numbers.split())), int(target))
        assert problem.prompt() == prompt and problem.check(solution)
        assert countdown.split_of(problem.numbers, problem.target) == "train"


def test_smoke_training_lowers_the_loss_and_writes_a_card(smoke_run, smoke_recipe):
    out, card = smoke_run
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == list(range(1, smoke_recipe.steps + 1))
    losses = [r["loss"] for r in log]
    assert sum(losses[-3:]) / 3 < sum(losses[:3]) / 3 - 0.2
    assert all(a["tokens"] < b["tokens"] and a["flops"] < b["flops"] for a, b in zip(log, log[1:]))
    for key in ("params", "train_tokens", "train_flops", "seconds", "seed", "steps", "shape", "recipe", "final_loss"):
        assert key in card, key
    assert card["train_tokens"] == log[-1]["tokens"] and card["train_flops"] == log[-1]["flops"]
    assert card["steps"] == smoke_recipe.steps and card["seed"] == smoke_recipe.seed
    # about 6 N FLOPs per training token, plus attention
    assert 6 * card["params"] * card["train_tokens"] < card["train_flops"] < 8 * card["params"] * card["train_tokens"]
    saved = json.loads((out / "final" / "card.json").read_text())
    assert saved == json.loads(json.dumps(card))
    policy = tsc.load_policy(out / "final")
    assert policy.n_params == card["params"]
