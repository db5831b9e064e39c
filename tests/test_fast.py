"""The lean sampler (tsc.lm.fast) against `transformers`: same logits, same distribution.

The lean forward pass reuses the checkpoint's weights with its own code, so it must compute
what `LlamaForCausalLM` computes: the logits agree within 1e-5 on random models and inputs
(with left padding, and decoding token by token against one full pass), and sampling from
either path gives the same token frequencies for a fixed prompt.
"""

from __future__ import annotations

import pytest
import torch
from conftest import build_tiny_policy
from scipy.stats import chi2_contingency
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

import tsc
from tsc.compute import Ledger
from tsc.lm import fast
from tsc.lm.fast import LeanLlama, sample_rows, supports
from tsc.lm.policy import LocalPolicy, _chunks
from tsc.lm.prefix import PrefixStore
from tsc.lm.tokenizer import build_char_tokenizer

TOKENIZER = build_char_tokenizer()
SHAPES = [  # (hidden, layers, heads, ff): head dims 16, 32 and 8
    (32, 1, 2, 64),
    (64, 2, 2, 96),
    (64, 3, 8, 128),
]


def random_llama(hidden: int, layers: int, heads: int, ff: int, *, seed: int) -> LlamaForCausalLM:
    config = LlamaConfig(
        vocab_size=len(TOKENIZER),
        hidden_size=hidden,
        intermediate_size=ff,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=heads,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        rms_norm_eps=1e-6,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config).eval()
    with torch.no_grad():  # larger weights than the init's 0.02, so the logits are far from uniform
        for parameter in model.parameters():
            if parameter.dim() >= 2:
                parameter.normal_(0.0, 0.2)
    return model


def left_padded(lengths: list[int], *, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    width = max(lengths)
    ids = torch.randint(4, len(TOKENIZER), (len(lengths), width), generator=generator)
    valid = torch.arange(width)[None, :] >= torch.tensor([width - n for n in lengths])[:, None]
    return ids.masked_fill(~valid, TOKENIZER.pad_token_id), valid


@torch.no_grad()
def reference_logits(model, ids: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    positions = (valid.long().cumsum(-1) - 1).clamp(min=0)
    return model(input_ids=ids, attention_mask=valid.long(), position_ids=positions, use_cache=False).logits


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_lean_logits_equal_transformers_on_random_models(shape, seed):
    model = random_llama(*shape, seed=seed)
    assert supports(model)
    lean = LeanLlama(model)
    ids, valid = left_padded([7, 19, 1, 12], seed=seed)
    expected = reference_logits(model, ids, valid)
    cache = lean.new_cache(len(ids), ids.shape[1])
    cache.valid[:] = valid
    positions = (valid.long().cumsum(-1) - 1).clamp(min=0)
    logits = lean.forward(ids, positions, cache, 0, every_position=True)
    assert (logits - expected)[valid].abs().max() < 1e-5
    assert expected[valid].std() > 0.5  # the models' logits are far from constant


@pytest.mark.parametrize("onednn", [True, False])
@pytest.mark.parametrize("shape", SHAPES[:2])
def test_decoding_token_by_token_equals_one_full_pass(shape, onednn, monkeypatch):
    """Decoding runs its own code path (tsc.lm.fast.LeanLlama._decode), with oneDNN's fused
    products where available and plain `F.linear` otherwise: both must match."""
    monkeypatch.setattr(fast, "USE_ONEDNN", onednn)
    model = random_llama(*shape, seed=3)
    lean = LeanLlama(model)
    assert (lean.blocks[0].qkv.packed is not None) == (onednn and fast._pack(model.lm_head.weight) is not None)
    ids, valid = left_padded([5, 9, 3, 8] * 5, seed=3)  # 20 rows: enough for oneDNN's kernels
    prompt = 6  # the first 6 columns are the prompt; the rest are fed one at a time
    expected = reference_logits(model, ids, valid)
    cache = lean.new_cache(len(ids), ids.shape[1])
    cache.valid[:, :prompt] = valid[:, :prompt]
    positions = (valid.long().cumsum(-1) - 1).clamp(min=0)
    last = lean.forward(ids[:, :prompt], positions[:, :prompt], cache, 0)
    real = valid[:, prompt - 1]  # rows whose token there is not padding
    assert (last - expected[:, prompt - 1])[real].abs().max() < 1e-5
    for t in range(prompt, ids.shape[1]):
        cache.valid[:, t] = valid[:, t]
        last = lean.forward(ids[:, t : t + 1], positions[:, t : t + 1], cache, t)
        assert (last - expected[:, t])[valid[:, t]].abs().max() < 1e-5


def test_the_bundled_model_takes_the_lean_path_with_equal_logits():
    policy = tsc.load_policy()
    assert policy.lean
    ids, valid = left_padded([14, 18, 11], seed=5)
    expected = reference_logits(policy.model, ids, valid)
    lean = LeanLlama(policy.model)
    cache = lean.new_cache(len(ids), ids.shape[1])
    cache.valid[:] = valid
    logits = lean.forward(ids, (valid.long().cumsum(-1) - 1).clamp(min=0), cache, 0, every_position=True)
    assert (logits - expected)[valid].abs().max() < 1e-5


@torch.no_grad()
def sequence_logprob(model, prompt: list[int], tokens: list[int]) -> float:
    logits = model(input_ids=torch.tensor([prompt + tokens]), use_cache=False).logits[0].double()
    log_probs = torch.log_softmax(logits, dim=-1)
    return float(sum(log_probs[len(prompt) - 1 + t, token] for t, token in enumerate(tokens)))


def test_every_sample_matches_a_forward_pass_without_cache():
    """Each sampled sequence, read back token by token without cache or batch, has the
    log-probability the sampler reported: prompt sharing, left padding and dropping finished
    rows from the batch (which reorders it) all keep each row's own cache."""
    policy = build_tiny_policy()
    prompts = [policy.encode([p])[0] for p in ["1 2 3>6:", "13 4 7 2>48:", "10 11 12 13 9>100:"]]
    stop = policy._stop_ids((".",))
    tokens, token_logprobs, _, _, _ = sample_rows(
        LeanLlama(policy.model),
        prompts,
        [5, 16, 3],
        temperature=1.0,
        top_p=1.0,
        max_new_tokens=14,
        generator=torch.Generator().manual_seed(0),
        stop_ids=stop,
        pad=policy._pad,
    )
    owners = [0] * 5 + [1] * 16 + [2] * 3
    logprobs = [sum(row) for row in token_logprobs]
    assert len(tokens) == len(logprobs) == len(owners)
    lengths = {len(t) for t in tokens}
    assert len(lengths) > 3, "samples of different lengths: finished rows left the batch"
    for owner, row, logprob in zip(owners, tokens, logprobs):
        assert 1 <= len(row) <= 14
        assert all(t not in stop for t in row[:-1])  # each sample ends at its first stop token
        assert row[-1] in stop or len(row) == 14
        assert logprob == pytest.approx(sequence_logprob(policy.model, prompts[owner], row), abs=1e-4)


def test_both_paths_sample_the_same_token_frequencies():
    """A fixed prompt sampled 1,500 times on each path: the first token and the completion's
    length have the same distribution (chi-square test of homogeneity), and the first token's
    frequencies match the model's probabilities."""
    policy = tsc.load_policy()
    prompt = "7 3 9 5>26:"
    draws = {}
    for lean, seed in ((True, 11), (False, 12)):
        policy.lean = lean
        draws[lean] = policy.sample([prompt], n=1500, temperature=1.0, max_new_tokens=40, seed=seed)[0]
    policy.lean = True
    first = {lean: [c.text[:1] for c in row] for lean, row in draws.items()}
    length = {lean: [min(c.num_tokens, 30) for c in row] for lean, row in draws.items()}
    for feature in (first, length):
        values = sorted(set(feature[True]) | set(feature[False]))
        table = [[feature[lean].count(v) for v in values] for lean in (True, False)]
        table = [list(col) for col in zip(*table) if sum(col) >= 10]  # drop categories too rare to test
        assert len(table) >= 2
        assert chi2_contingency(list(zip(*table))).pvalue > 1e-3
    with torch.no_grad():
        ids = torch.tensor(policy.encode([prompt]))
        probs = torch.softmax(policy.model(input_ids=ids).logits[0, -1], -1)
    for token, p in enumerate(probs.tolist()):
        if p > 0.05:
            text = policy.tokenizer.decode([token])
            share = first[True].count(text) / 1500
            assert abs(share - p) < 4 * (p * (1 - p) / 1500) ** 0.5, (text, share, p)


def test_models_the_lean_path_does_not_cover_fall_back_to_transformers():
    grouped = LlamaConfig(
        vocab_size=len(TOKENIZER), hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=4, num_key_value_heads=2
    )
    gpt2 = GPT2Config(vocab_size=len(TOKENIZER), n_embd=32, n_layer=1, n_head=2, n_positions=64)
    for model in (LlamaForCausalLM(grouped), GPT2LMHeadModel(gpt2)):
        policy = LocalPolicy(model, TOKENIZER, name="other")
        assert not policy.lean
        rows = policy.sample(["1 2>3:"], n=3, max_new_tokens=5)
        assert len(rows[0]) == 3 and all(1 <= c.num_tokens <= 5 for c in rows[0])


@pytest.mark.parametrize("n_prompts, n, batch_size", [(3, 4, 5), (2, 10, 4), (5, 1, 1024), (1, 7, 7), (4, 3, 1)])
def test_chunks_cover_every_sample_once_within_the_batch_size(n_prompts, n, batch_size):
    chunks = _chunks(n_prompts, n, batch_size)
    assert all(0 < sum(k for _, k in chunk) <= batch_size for chunk in chunks)
    flat = [(i, k) for chunk in chunks for i, k in chunk]
    assert [i for i, _ in flat] == sorted(i for i, _ in flat)  # prompt order kept
    for i in range(n_prompts):
        assert sum(k for j, k in flat if j == i) == n


def test_sampling_in_small_chunks_keeps_every_sample():
    policy = build_tiny_policy()
    rows = policy.sample(["1 2 3>6:", "4 5>9:"], n=5, temperature=1.0, max_new_tokens=6, batch_size=3)
    assert [len(row) for row in rows] == [5, 5]


def test_the_lean_model_follows_changes_to_the_weights():
    policy = build_tiny_policy()
    before = policy.sample(["1 2 3>6:"], n=1, temperature=0.0, max_new_tokens=8)
    with torch.no_grad():
        for parameter in policy.model.parameters():
            parameter.mul_(-1.0)  # an in-place update, as an optimizer step makes
    after = policy.sample(["1 2 3>6:"], n=1, temperature=0.0, max_new_tokens=8)
    policy.lean = False
    reference = policy.sample(["1 2 3>6:"], n=1, temperature=0.0, max_new_tokens=8)
    assert after[0][0].text == reference[0][0].text != before[0][0].text
    assert after[0][0].logprob == pytest.approx(reference[0][0].logprob, abs=1e-4)


# --- prefix reuse (tree search continues sequences an earlier call wrote) -----------------

STOPS = tuple("0123456789,.")  # the random tiny model then ends its sequences within a few tokens


def test_prefix_store_finds_the_longest_stored_prefix_and_forgets_the_oldest():
    store = PrefixStore(max_tokens=7)
    kv = torch.zeros(1, 1, 3, 2)
    store.add([1, 2, 3], kv, kv)
    store.add([1, 2], kv[:, :, :2], kv[:, :, :2])
    assert store.longest([1, 2, 3, 4])[0] == 3 and store.longest([1, 2, 5])[0] == 2
    assert store.longest([1, 2, 3])[0] == 2  # at least the last prompt token is always computed
    assert store.longest([9, 9])[0] == 0
    store.add([4, 5, 6], kv, kv)  # 8 tokens > 7: the least recently used entry goes
    assert store.tokens <= 7 and store.longest([4, 5, 6, 7])[0] == 3


@pytest.mark.parametrize("onednn", [True, False])
def test_continuing_a_stored_sequence_computes_only_its_new_tokens_and_samples_the_same(monkeypatch, onednn):
    monkeypatch.setattr(fast, "USE_ONEDNN", onednn)
    policy = build_tiny_policy()
    prompts = ["13 4 7 2>48:", "5 6>30:", "9 9 1>81:"]
    with policy.prefix_cache() as store:
        first = policy.sample(prompts, n=8, temperature=1.0, seed=3, stop=STOPS, max_new_tokens=12)
        extended = sorted({p + c.text for p, row in zip(prompts, first) for c in row if c.text[-1:] in STOPS})
        assert len(extended) >= 5 and len(store.entries) >= 5
        reusing = Ledger()
        again = policy.sample(extended + ["1 2>3:"], n=2, temperature=0.0, stop=STOPS, max_new_tokens=12, ledger=reusing)
    fresh = Ledger()
    baseline = policy.sample(extended + ["1 2>3:"], n=2, temperature=0.0, stop=STOPS, max_new_tokens=12, ledger=fresh)
    # the same greedy continuations, the same log-probabilities
    assert [[c.text for c in row] for row in again] == [[c.text for c in row] for row in baseline]
    for row, base in zip(again, baseline):
        for c, b in zip(row, base):
            assert c.logprob == pytest.approx(b.logprob, abs=1e-4)
    # every extended prompt reused all but its last token; the unrelated prompt reused nothing
    lengths = [len(ids) for ids in policy.encode(extended + ["1 2>3:"])]
    rest = max(1, lengths[-1])  # the computed window spans the longest rest: the fresh prompt
    assert reusing.reused_tokens == sum(n - min(n, rest) for n in lengths)
    assert reusing.prompt_tokens + reusing.reused_tokens == fresh.prompt_tokens
    assert reusing.generated_tokens == fresh.generated_tokens
    saved = sum(policy.flops(n - min(n, rest), 0) for n in lengths)
    assert fresh.policy_flops - reusing.policy_flops == saved > 0


def test_prefix_reuse_is_off_outside_the_block():
    policy = build_tiny_policy()
    with policy.prefix_cache():
        pass
    ledger = Ledger()
    first = policy.sample(["5 6>30:"], n=4, temperature=1.0, seed=1, stop=STOPS, max_new_tokens=12)
    policy.sample(["5 6>30:" + first[0][0].text], temperature=0.0, stop=STOPS, ledger=ledger)
    assert ledger.reused_tokens == 0 and policy._prefix_store is None
