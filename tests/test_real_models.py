"""Real architectures (Qwen2 with grouped-query attention and a chat template, GPT-2) built
in the test without a download: load, prompt, sample, three strategies and `solve`."""

from __future__ import annotations

import json
import math

import pytest
import torch

import tsc
from tsc.cli import main
from tsc.strategies import best_of_n, greedy, majority_vote
from tsc.tasks import Arithmetic, Countdown
from tsc.verifiers import Oracle

P = Countdown((13, 4, 7, 2), 48)


@pytest.fixture(params=["qwen2", "gpt2"])
def folder(request, qwen2_dir, gpt2_dir):
    return {"qwen2": qwen2_dir, "gpt2": gpt2_dir}[request.param]


def test_prompt_formats_follow_the_model(qwen2_dir, gpt2_dir):
    chat = tsc.load_policy(str(qwen2_dir), device="cpu")
    assert chat.prompt_format == "chat" and not chat.lean and chat.stop == ()
    prompt = chat.format(P)
    assert prompt.endswith("<|im_start|>assistant\n") and prompt.count("<|im_start|>user") == 2
    assert "Answer: (13 - 7) * 4 * 2" in prompt and "Numbers: 13, 4, 7, 2. Target: 48." in prompt
    assert "Evaluate: 7*8-13" in chat.format(Arithmetic("7*8-13"))
    text = tsc.load_policy(str(gpt2_dir), device="cpu")
    assert text.prompt_format == "text" and text.stop == ("\n\n",)
    assert text.format(P).endswith("Numbers: 13, 4, 7, 2. Target: 48.\n")
    assert tsc.load_policy("countdown", device="cpu").format(P) == "13 4 7 2>48:"
    assert tsc.load_policy(str(qwen2_dir), device="cpu", prompt_format="text").format(P) == text.format(P)
    with pytest.raises(ValueError, match="prompt_format"):
        tsc.load_policy(str(qwen2_dir), device="cpu", prompt_format="fancy")


def test_sampling_stops_on_the_text_not_on_token_ids(folder):
    policy = tsc.load_policy(str(folder), device="cpu")
    stops = ("e", "48")  # "e" sits inside many BPE tokens; "48" may span two
    matcher = policy._stops(stops)
    assert not matcher.exact and len(matcher.candidate_ids) > 10
    rows = policy.sample([policy.format(P)] * 4, n=8, temperature=1.5, max_new_tokens=30, seed=list(range(4)), stop=stops)
    for completion in (c for row in rows for c in row):
        text = completion.text
        first = min([text.find(s) + len(s) for s in stops if s in text], default=None)
        assert first is None or first == len(text), text  # cut right after the first stop string
        assert 1 <= completion.num_tokens <= 30 and math.isfinite(completion.logprob)
    assert any(c.text.endswith(("e", "48")) for row in rows for c in row)


@pytest.mark.parametrize("strategy, knobs", [(greedy, {}), (majority_vote, {"n": 3}), (best_of_n, {"n": 3, "verifier": Oracle()})])
def test_strategies_run_unchanged(folder, strategy, knobs):
    policy = tsc.load_policy(str(folder), device="cpu")
    for problem in (P, Arithmetic("7*8-13+6*4")):
        result = strategy(problem, policy, max_new_tokens=24, **knobs)
        assert result.correct == (result.answer is not None and problem.check(result.answer))  # gibberish: (almost always) wrong
        assert result.ledger.generated_tokens >= len(result.candidates) >= 1
        prompt = len(policy.encode([policy.format(problem)])[0])
        assert result.ledger.prompt_tokens == prompt  # read once for all its samples
        assert result.ledger.flops >= policy.flops(prompt, 0) + policy.flops(prompt, 1) - policy.flops(prompt, 0)


def test_half_precision_takes_the_transformers_path(gpt2_dir):
    policy = tsc.load_policy(str(gpt2_dir), device="cpu", dtype="bfloat16")
    assert next(policy.model.parameters()).dtype == torch.bfloat16 and not policy.lean
    rows = policy.sample([policy.format(P)], n=2, temperature=1.0, max_new_tokens=8)
    assert len(rows[0]) == 2
    with pytest.raises(ValueError, match="dtype"):
        tsc.load_policy(str(gpt2_dir), device="cpu", dtype="float7")


def test_devices(monkeypatch):
    from tsc.lm.policy import pick_device

    assert pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="unknown device"):
        pick_device("toaster")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device().type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device().type in ("cpu", "mps")


def solve(tmp_path, model, *options, lines=None):
    source = tmp_path / "in.jsonl"
    source.write_text(
        "".join(json.dumps(x) + "\n" for x in lines or [{"numbers": [13, 4, 7, 2], "target": 48}, {"numbers": [3, 5], "target": 15}])
    )
    output = tmp_path / "out.jsonl"
    code = main(["solve", "--model", str(model), "--device", "cpu", "--input", str(source), "--output", str(output), *options])
    return code, [json.loads(line) for line in output.read_text().splitlines()] if output.exists() else []


@pytest.mark.parametrize("strategy", ["greedy", "majority", "best_of_n"])
def test_solve_on_a_real_architecture(tmp_path, folder, strategy):
    code, records = solve(tmp_path, folder, "--strategy", strategy, "--n", "2", "--max-new-tokens", "16")
    assert code == 0 and len(records) == 2
    for record in records:
        assert record["correct"] is False and isinstance(record["completion"], str) and record["flops"] > 0
        assert 1 <= record["generated_tokens"] <= 2 * 16


def test_solve_reads_arithmetic_for_a_real_model(tmp_path, qwen2_dir):
    code, records = solve(tmp_path, qwen2_dir, "--task", "arithmetic", "--max-new-tokens", "8", lines=[{"question": "7*8-13"}])
    assert code == 0 and records[0]["correct"] is False and "completion" in records[0]


@pytest.mark.parametrize(
    "options, says",
    [
        (("--strategy", "revise"), "revise needs a reviser"),
        (("--strategy", "beam"), "step by step"),
        (("--strategy", "self_refine"), "step by step"),
        (("--strategy", "best_of_n", "--verifier", "prm"), "compact answers"),
        (("--strategy", "budget_forcing"), "trace format"),
    ],
)
def test_companions_a_real_model_lacks_are_refused_in_one_line(tmp_path, qwen2_dir, capsys, options, says):
    code, _ = solve(tmp_path, qwen2_dir, *options)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1 and says in err, err


def test_the_library_refuses_what_a_free_text_model_cannot_use(qwen2_dir):
    from tsc.strategies import beam_search, revise, self_refine
    from tsc.verifiers import PRM, StepOracle

    policy = tsc.load_policy(str(qwen2_dir), device="cpu")
    with pytest.raises(ValueError, match="compact format"):
        beam_search(P, policy, verifier=StepOracle())
    with pytest.raises(ValueError, match="compact format"):
        self_refine(P, policy, verifier=StepOracle())
    with pytest.raises(ValueError, match="compact format"):
        revise(P, policy)
    with pytest.raises(ValueError, match="not free text"):
        PRM().score(P, ["Sure!\n13 - 7 = 6\nAnswer: 6"])
