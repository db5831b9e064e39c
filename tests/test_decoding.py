"""Chapter 3's machinery: the next-token distribution and the sampling knobs (on both sampling
paths), `with_sampling`, and the KV cache's memory and timing helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from conftest import build_tiny_policy
from scipy.stats import chisquare

from tsc.compute import forward_flops
from tsc.core import with_sampling
from tsc.lm import kvcache
from tsc.lm.decoding import candidates, entropy_bits, next_token_logits, reshape
from tsc.lm.fast import LeanLlama

PROMPT = "7 3 9 5>26:"


@pytest.fixture(scope="module")
def policy():
    return build_tiny_policy(seed=3)


# --- the next-token distribution -----------------------------------------------------------


def test_next_token_logits_are_the_models_last_position(policy):
    texts = [PROMPT, PROMPT + "9-7=2,", "1 2>3:"]  # different lengths: left padding must not matter
    logits = next_token_logits(policy, texts)
    for text, row in zip(texts, logits):
        ids = torch.tensor(policy.encode([text]))
        with torch.no_grad():
            alone = policy.model(input_ids=ids).logits[0, -1]
        assert torch.allclose(row, alone, atol=1e-5)


def test_next_token_logits_reject_bad_input(policy):
    with pytest.raises(TypeError, match="list of strings"):
        next_token_logits(policy, PROMPT)
    with pytest.raises(ValueError, match="at least one"):
        next_token_logits(policy, [])
    with pytest.raises(ValueError, match="does not fit"):
        next_token_logits(policy, ["1" * (policy.max_len + 5)])


def test_reshape_by_hand():
    logits = torch.log(torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]))
    assert torch.allclose(reshape(logits), torch.tensor([0.5, 0.2, 0.15, 0.1, 0.05]))
    assert reshape(logits, temperature=0).tolist() == [1.0, 0.0, 0.0, 0.0, 0.0]
    cold, hot = reshape(logits, temperature=0.5), reshape(logits, temperature=2.0)
    assert cold[0] > 0.5 > hot[0] and hot[-1] > 0.05 > cold[-1]  # sharper and flatter
    assert torch.allclose(cold, torch.tensor([0.25, 0.04, 0.0225, 0.01, 0.0025]) / 0.325)  # p**2, renormalised
    assert torch.allclose(reshape(logits, top_k=2), torch.tensor([5 / 7, 2 / 7, 0, 0, 0]))
    assert torch.allclose(reshape(logits, top_p=0.6), torch.tensor([5 / 7, 2 / 7, 0, 0, 0]))
    assert torch.allclose(reshape(logits, min_p=0.3), torch.tensor([0.5, 0.2, 0.15, 0, 0]) / 0.85)
    # the knobs apply after the temperature: at T=2 the tail rises above min-p's bar
    assert (reshape(logits, temperature=2.0, min_p=0.3) > 0).sum() > (reshape(logits, min_p=0.3) > 0).sum()
    with pytest.raises(ValueError, match="min_p"):
        reshape(logits, min_p=1.5)


def test_candidates_rank_by_the_model_and_mark_removed_tokens(policy):
    shown = candidates(policy, PROMPT, show=6, top_k=2)
    model = [c.model for c in shown]
    assert model == sorted(model, reverse=True) and len(shown) == 6
    assert [c.sampled > 0 for c in shown] == [True, True, False, False, False, False]
    assert math.isclose(sum(c.sampled for c in shown), 1.0, rel_tol=1e-6)
    assert all(isinstance(c.token, str) and c.token for c in shown)


def test_entropy_bits():
    assert entropy_bits(torch.tensor([1.0, 0.0, 0.0])).item() == 0.0
    assert entropy_bits(torch.full((8,), 1 / 8)).item() == pytest.approx(3.0)


@pytest.mark.parametrize(
    "knobs", [{"temperature": 0.7}, {"temperature": 1.6, "top_k": 3}, {"top_p": 0.7}, {"temperature": 1.3, "min_p": 0.2}]
)
@pytest.mark.parametrize("lean", [True, False])
def test_first_tokens_follow_the_reshaped_distribution(policy, knobs, lean):
    """2,000 samples of one prompt: the first token's frequencies fit the distribution that
    `reshape` says the sampler draws from (chi-square), on the lean and the transformers path,
    and no removed token is ever drawn."""
    knobs = {"temperature": 1.0, **knobs}
    expected = reshape(next_token_logits(policy, [PROMPT])[0], **knobs).double()
    policy.lean = lean
    try:
        row = policy.sample([PROMPT], n=2000, max_new_tokens=1, seed=9, stop=("§",), **knobs)[0]
    finally:
        policy.lean = True
    # special tokens all read as "" (the sampler drops them from the text): one category
    texts = [policy.tokenizer.decode([i], skip_special_tokens=True) for i in range(len(expected))]
    expected_by_text: dict[str, float] = {}
    for text, p in zip(texts, expected.tolist()):
        expected_by_text[text] = expected_by_text.get(text, 0.0) + p
    drawn = [c.text for c in row]
    assert all(expected_by_text.get(t, 0.0) > 0 for t in drawn)  # no removed token is ever drawn
    common = [t for t, p in expected_by_text.items() if p > 0.01]
    observed = np.array([drawn.count(t) for t in common] + [sum(t not in common for t in drawn)], dtype=float)
    predicted = np.array([expected_by_text[t] for t in common] + [1 - sum(expected_by_text[t] for t in common)]) * len(row)
    observed, predicted = observed[predicted > 1e-9], predicted[predicted > 1e-9]
    predicted *= observed.sum() / predicted.sum()  # rounding
    assert chisquare(observed, predicted).pvalue > 1e-3


def test_with_sampling_sets_defaults_that_a_strategy_may_override(policy):
    truncated = with_sampling(policy, top_k=1)
    greedy = policy.sample([PROMPT], n=1, temperature=0.0, max_new_tokens=8)[0][0].text
    assert [c.text for c in truncated.sample([PROMPT], n=4, temperature=2.0, max_new_tokens=8, seed=1)[0]] == [greedy] * 4
    wide = truncated.sample([PROMPT], n=64, temperature=2.0, max_new_tokens=8, seed=1, top_k=0)[0]  # the caller's knob wins
    assert len({c.text for c in wide}) > 1
    assert truncated.format is not None and truncated.n_params == policy.n_params  # everything else is the policy's
    assert "top_k=1" in repr(truncated)
    with pytest.raises(ValueError, match="top_p"):
        with_sampling(policy, top_p=0.0)


# --- the KV cache -------------------------------------------------------------------------------


def test_values_per_token_and_bytes():
    assert kvcache.values_per_token(4, 4, 32) == 1024  # the countdown model: 2 × 4 layers × 128 wide
    llama3_8b = next(s for s in kvcache.PUBLISHED if s.name == "Llama 3 8B")
    assert llama3_8b.values_per_token == 65_536  # 8 key/value heads of 128, 32 layers
    assert kvcache.cache_bytes(llama3_8b, 8192, batch=1) == 1024**3  # one 8K-token sequence in 16-bit: 1 GiB
    llama2_7b = next(s for s in kvcache.PUBLISHED if s.name == "Llama 2 7B")
    assert llama2_7b.values_per_token == 2 * llama2_7b.n_layer * llama2_7b.d_model  # multi-head: 2 × layers × width
    for shape in kvcache.PUBLISHED:
        assert shape.n_kv_head * shape.head_dim <= shape.d_model == shape.n_head * shape.head_dim
        assert shape.source
    with pytest.raises(ValueError, match="n_layer"):
        kvcache.values_per_token(0, 1, 1)
    with pytest.raises(ValueError, match="context"):
        kvcache.cache_bytes(llama3_8b, -1)


def test_shape_of_a_policy(policy):
    shape = kvcache.shape_of(policy)
    config = policy.model.config
    assert shape.values_per_token == 2 * config.num_hidden_layers * config.hidden_size


def test_flops_without_cache_add_a_full_pass_per_token():
    n, layers, width = 1000, 2, 16
    assert kvcache.flops_without_cache(n, layers, width, 5, 1) == forward_flops(n, layers, width, 5, 0)
    assert kvcache.flops_without_cache(n, layers, width, 5, 3) == sum(forward_flops(n, layers, width, t, 0) for t in (5, 6, 7))
    # with the cache the same 3 tokens cost one pass over 7 tokens
    assert forward_flops(n, layers, width, 5, 2) < kvcache.flops_without_cache(n, layers, width, 5, 3)


def test_the_timed_steps_compute_the_same_logits(policy):
    lean = LeanLlama(policy.model)
    ids = torch.randint(4, 20, (3, 17), generator=torch.Generator().manual_seed(0))
    with_cache = kvcache.next_token_step(lean, ids, cache=True)()
    without = kvcache.next_token_step(lean, ids, cache=False)()
    assert torch.allclose(with_cache, without, atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(without, policy.model(input_ids=ids).logits[:, -1], atol=1e-5)


def test_timings_have_their_shape_and_reject_bad_lengths(policy):
    run = kvcache.time_per_token(policy, [4, 16], cache=True, repeats=3)
    assert list(run["lengths"]) == [4, 16]
    assert np.all(run["best"] <= run["low"]) and np.all(run["low"] <= run["median"]) and np.all(run["median"] <= run["high"])
    assert np.all(run["best"] > 0)
    steps = kvcache.chain_seconds(policy, 10, batch=2, prompt_len=3, repeats=2)
    assert steps.shape == (10,) and np.all(steps > 0) and np.all(np.isfinite(steps))
    with pytest.raises(ValueError, match="context lengths"):
        kvcache.time_per_token(policy, [policy.max_len + 1], cache=False)
    with pytest.raises(ValueError, match="context lengths"):
        kvcache.chain_seconds(policy, policy.max_len, prompt_len=2)


# --- Chapter 3's experiments --------------------------------------------------------------------


def test_problem_sets_follow_the_dial_and_are_held_out():
    from tsc.experiments import ch03
    from tsc.tasks import arithmetic, countdown

    maths = ch03.problem_set("arithmetic", 4, seed=1)
    assert [p.difficulty for p in maths] == [2] * 4 + [3] * 4 + [4] * 4
    assert all(arithmetic.split_of(p.question) == "test" for p in maths)
    games = ch03.problem_set("countdown", 3, seed=1)
    assert [p.difficulty for p in games] == [3] * 3 + [4] * 3 + [5] * 3
    assert all(countdown.split_of(p.numbers, p.target) == "test" for p in games)
    assert ch03.problem_set("arithmetic", 4, seed=1) == maths  # reproducible
    with pytest.raises(ValueError, match="unknown task"):
        ch03.problem_set("chess", 1, seed=0)


def test_setting_names_and_knob_curves():
    from tsc.experiments import ch03

    assert ch03.setting_name(1.5, 0, 1.0, 0.1) == "T=1.5, min-p 0.1"
    assert ch03.setting_name(0.3) == "T=0.3"
    assert ch03.setting_name(1.0, 3, 0.9) == "T=1, top-k 3, top-p 0.9"
    rows = {
        ch03.setting_name(t): {"knobs": {"temperature": t, "top_k": 0, "top_p": 1.0, "min_p": 0.0}, "correct": c, "distinct": d}
        for t, c, d in ((1.0, [4, 0, 2], [3, 5, 4]), (0.5, [8, 0, 4], [1, 2, 2]))
    }
    curves = ch03.knob_curves({"settings": rows}, 8)
    assert list(curves) == ["no truncation"]  # the other rules have no settings here
    pass1, cover, distinct = curves["no truncation"]
    assert list(pass1["temperature"]) == [0.5, 1.0]  # sorted by temperature
    assert pass1["mean"] == pytest.approx([0.5, 0.25])
    assert cover["mean"] == pytest.approx([2 / 3, 2 / 3])
    assert distinct["mean"] == pytest.approx([5 / 3, 4.0])
    assert np.all(pass1["low"] <= pass1["mean"]) and np.all(pass1["mean"] <= pass1["high"])


@pytest.mark.parametrize("name", ["ch03-decoding", "ch03-self-consistency", "ch03-cot-vs-direct", "ch03-thinking"])
def test_shipped_results_match_their_configuration(name):
    """The chapter reads these back instead of computing for minutes: the stored result must
    have been computed with the registered configuration, and hold every problem."""
    import json

    from tsc import experiments

    record = experiments.stored(name)
    assert record is not None, f"{name} has no stored result: run python -m tsc experiment {name}"
    config = experiments.EXPERIMENTS[name].config
    assert record["config"] == json.loads(json.dumps(config))
    if name == "ch03-thinking":
        data = record["data"]
        assert len(data["problems"]) == config["problems"] and np.shape(data["samples"]["tokens"]) == (
            config["problems"],
            config["samples"],
        )
        return
    for task in record["data"].values():
        assert len(task["difficulty"]) == 3 * config["per_size"]


# --- the trace model's long reasoning: reading the stored traces back ---------------------------


def test_completion_entropies_are_the_next_token_entropies(policy):
    from tsc.lm.decoding import completion_entropies

    completion = "13-7=6,"
    bits = completion_entropies(policy, PROMPT, completion)
    one_by_one = entropy_bits(next_token_logits(policy, [PROMPT + completion[:j] for j in range(len(completion))]).softmax(-1))
    assert bits.shape == (len(completion),) and torch.allclose(bits, one_by_one, atol=1e-4)
    with pytest.raises(ValueError, match="context"):
        completion_entropies(policy, PROMPT, "1" * 200)


def test_endings_and_position_kinds_of_a_trace():
    from tsc.experiments import ch03
    from tsc.tasks.countdown import Countdown

    problem = Countdown((8, 6, 10), 12)
    right = "8+6=14 10,14+10=24>12|14-10=4>12||8 6 10,8-6=2 10,10+2=12>12#8-6=2,10+2=12."
    assert ch03.ending(problem, right) == "right"
    assert ch03.ending(problem, "8+6=14 10,14-10=4>12#8+6=14,14-10=4.") == "wrong answer"
    assert ch03.ending(problem, "8+6=14 10,14-10=4>12|#.") == "gave up"
    assert ch03.ending(problem, "8+6=14 10,14+10=24>12|14-10") == "cut off"
    kinds = [ch03.position_kind(right, i) for i in range(len(right))]
    assert kinds[0] == "next move" and kinds[right.index("=") + 1] == "result"  # 8 (the first move), 1 of 14
    assert kinds[right.index(" 10")] == "copying" and kinds[right.index("|")] == "verdict"
    assert kinds[right.index("#") + 1] == "answer" and set(kinds) == set(ch03.POSITION_KINDS)


def toy_thinking():
    return {
        "samples": {
            "tokens": [[10, 10, 30, 50], [20, 20, 20, 20], [5, 40, 40, 40]],
            "correct": [[1, 1, 0, 0], [1, 1, 1, 1], [0, 1, 1, 0]],
            "backtracks": [[0, 0, 2, 4], [1, 1, 1, 1], [0, 3, 3, 3]],
            "ending": ["rrwc", "rrrr", "grrw"],
        }
    }


def test_trace_samples_lengths_and_the_shortest_against_the_longest():
    from tsc.experiments import ch03

    toy = toy_thinking()
    flat = ch03.trace_samples(toy)
    assert flat["tokens"].tolist()[:4] == [10, 10, 30, 50] and flat["problem"].tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert flat["ending"].tolist()[:4] == ["right", "right", "wrong answer", "cut off"] and flat["ending"][8] == "gave up"
    curve = ch03.accuracy_by_length(toy, [0, 15, 35, 100], n_boot=50)
    assert curve["count"].tolist() == [3, 5, 4] and curve["mean"].tolist() == pytest.approx([2 / 3, 4 / 5, 2 / 4])
    assert np.all(curve["low"] <= curve["mean"] + 1e-12) and np.all(curve["mean"] <= curve["high"] + 1e-12)
    short, long = ch03.shortest_and_longest(toy)  # the problem whose traces all have one length is left out
    assert short.tolist() == [1.0, 0.0] and long.tolist() == pytest.approx([0.0, 2 / 3])


def test_thinking_curves_read_the_strategies_and_the_capped_traces():
    from tsc.experiments import ch03

    def run(k, correct, tokens, steps):
        return {"k": k, "correct": correct, "tokens": tokens, "steps": steps}

    toy = {
        "strategies": {
            "majority@1": run(1, [1, 0], [10, 30], [10, 30]),
            "short-1@1": run(1, [1, 0], [10, 30], [10, 30]),
            "majority@4": run(4, [1, 1], [40, 120], [12, 40]),
            "short-1@4": run(4, [1, 0], [32, 80], [8, 20]),
            "short-3@4": run(4, [1, 1], [36, 100], [10, 30]),
        },
        "capped": {
            "1x64": {"budget": 64, "traces": 1, "cap": 64, "correct": [1, 0], "tokens": [10, 64], "steps": [10, 64]},
            "4x16": {"budget": 64, "traces": 4, "cap": 16, "correct": [0, 0], "tokens": [64, 64], "steps": [16, 16]},
            "2x32": {"budget": 64, "traces": 2, "cap": 32, "correct": [1, 0], "tokens": [20, 64], "steps": [10, 32]},
        },
    }
    curves = ch03.thinking_curves(toy)
    assert list(curves) == ["majority of k", "short-1 of k", "short-3 of k", "one trace, thinking cut", "four traces, each cut"]
    short = curves["short-1 of k"]
    assert short["labels"] == [1, 4] and short["tokens"].tolist() == [20, 56] and short["steps"].tolist() == [20, 14]
    assert short["per_problem"].tolist() == [[1, 1], [0, 0]] and short["mean"].tolist() == [0.5, 0.5]
    assert curves["majority of k"]["mean"].tolist() == [0.5, 1.0] and curves["short-3 of k"]["labels"] == [4]
    assert curves["one trace, thinking cut"]["tokens"].tolist() == [37] and curves["four traces, each cut"]["mean"].tolist() == [0.0]
    for curve in curves.values():
        assert np.all(curve["low"] <= curve["mean"] + 1e-12) and np.all(curve["mean"] <= curve["high"] + 1e-12)


def test_reading_back_the_knobs_and_the_votes():
    from tsc.analysis import significance
    from tsc.experiments import ch03

    table = ch03.knob_table({"settings": {"T=1": {"correct": [4, 0], "distinct": [2, 3]}}}, 8)
    assert table["T=1"]["pass@1"].tolist() == [0.5, 0.0] and table["T=1"]["coverage"].tolist() == [1.0, 0.0]
    votes = {"ar": {"ks": [1, 4], "temperatures": {"0.6": {"majority": [[0.2, 1.0], [0.0, 0.0]], "coverage": [[0.5, 1.0], [0.0, 0.5]]}}}}
    assert ch03.majority_at(votes, "ar", "0.6", 4).tolist() == [1.0, 0.0]
    assert ch03.solved_somewhere(votes, "ar", "0.6").tolist() == [True, False]
    assert significance((0.1, 0.02, 0.2)) == "a significant difference" == significance((-0.1, -0.2, -0.01))
    assert significance((0.1, -0.02, 0.2)) == "within the noise"


def test_the_trace_figures_draw_off_screen():
    import matplotlib.pyplot as plt

    import tsc.viz.traces as vt
    from tsc.experiments import ch03

    plt.switch_backend("Agg")
    toy = toy_thinking()
    flat = ch03.trace_samples(toy)
    fig, axes = plt.subplots(1, 5)
    vt.lengths_by_ending(axes[0], flat["tokens"], flat["ending"], bins=[0, 20, 40, 60])
    vt.accuracy_by_length(axes[1], ch03.accuracy_by_length(toy, [0, 15, 35, 100], n_boot=20))
    vt.entropy_along(axes[2], "8+6=14", np.array([0.0, 0.9, 0.0, 0.0, 0.7, 0.0]), fork_bits=0.5)
    vt.kinds_bars(axes[3], {"next move": {"positions": 4, "forks": 1}, "result": {"positions": 6, "forks": 0}})
    curve = {"tokens": [100, 200], "mean": [0.5, 0.6], "low": [0.4, 0.5], "high": [0.6, 0.7], "labels": [1, 2], "style": "short_m_at_k"}
    vt.matched_compute(axes[4], {"short-1@k": curve}, x="tokens", xlabel="tokens")
    assert len(axes[2].texts) == 2 and axes[4].get_xscale() == "log"
    plt.close(fig)


# --- the pictures and the explorer -------------------------------------------------------------


def test_pictures_draw_off_screen(policy):
    import matplotlib.pyplot as plt

    import tsc.viz.decoding as vd

    plt.switch_backend("Agg")
    fig = vd.knob_panels(policy, PROMPT, [{"temperature": 1.0}, {"temperature": 1.0, "top_k": 2}, {"min_p": 0.3}], show=4)
    assert len([ax for ax in fig.axes if ax.get_visible()]) == 3
    plt.close(fig)
    fig, axes = plt.subplots(1, 4)
    curve = {"mean": np.array([0.2, 0.4]), "low": np.array([0.1, 0.3]), "high": np.array([0.3, 0.5])}
    vd.knob_effects(axes[:1], {"no truncation": [dict(curve, temperature=np.array([0.5, 1.0]))]}, ylabels=["pass@1"], percent=[True])
    vd.paired_bars(axes[1], [3, 4], {"a": [(0.5, 0.4, 0.6), (0.2, 0.1, 0.3)], "b": [(0.4, 0.3, 0.5), (0.1, 0.0, 0.2)]}, xlabel="numbers")
    vd.accuracy_per_flop(axes[2], {"a": dict(curve, flops=[1e6, 2e6], k=[1, 2])})
    vd.answer_histogram(axes[3], ["12", "12", "13", None, "7"] + [str(i) for i in range(20)], "12", title="q")
    assert axes[3].patches[0].get_height() == 3  # "12": twice, and once more among the twenty
    plt.close(fig)
    fig, ax = plt.subplots()
    run = kvcache.time_per_token(policy, [4, 8], cache=True, repeats=2)
    vd.time_per_token(ax, {"with the cache": run})
    assert ax.get_yscale() == "log"
    plt.close(fig)


def test_the_explorer_starts_where_the_model_is_least_sure_and_follows_its_controls(policy):
    import matplotlib.pyplot as plt

    from tsc.tasks.countdown import Countdown
    from tsc.viz.decoding import next_token_explorer

    plt.switch_backend("Agg")
    problems = [Countdown((7, 3, 9, 5), 26), Countdown((1, 2, 3), 6)]
    box = next_token_explorer(policy, problems)
    chooser, where = box.children[0], box.children[1]
    answer = policy.sample([problems[0].prompt()], n=1, temperature=0.0)[0][0].text
    texts = [problems[0].prompt() + answer[:j] for j in range(len(answer))]
    assert where.value == int(entropy_bits(next_token_logits(policy, texts).softmax(-1)).argmax())
    chooser.value = 1  # another problem: the prefix slider follows it
    assert where.max == len(policy.sample([problems[1].prompt()], n=1, temperature=0.0)[0][0].text)
    temperature = box.children[2].children[0]
    temperature.value = 2.0  # redraws without error
    assert "<b>" in box.children[4].value
    with pytest.raises(ValueError, match="at least one problem"):
        next_token_explorer(policy, [])
    with pytest.raises(ValueError, match="prefix"):
        next_token_explorer(policy, problems, prefix=999)
    plt.close("all")


def test_the_explorer_reads_the_prompt_alone_when_the_greedy_answer_is_empty(policy, monkeypatch):
    """A model that ends at once leaves an empty greedy answer: the explorer starts at prefix 0
    (it failed looking for the least sure of no positions)."""
    from types import SimpleNamespace

    import matplotlib.pyplot as plt

    from tsc.tasks.countdown import Countdown
    from tsc.viz.decoding import next_token_explorer

    plt.switch_backend("Agg")
    monkeypatch.setattr(policy, "sample", lambda prompts, **knobs: [[SimpleNamespace(text="")] for _ in prompts])
    box = next_token_explorer(policy, [Countdown((7, 3, 9, 5), 26)])
    assert box.children[1].value == 0 and box.children[1].max == 0
    plt.close("all")
