"""Reliability (issue 7): bad input at every edge, damaged checkpoints, interrupted sweeps,
determinism by seed, no network, checkers that never crash, and fuzzed parsers.

Every bad input must end in a ValueError (library) or a one-line ``error:`` and a non-zero
exit (CLI) that names the problem and what is allowed, never in a traceback from deep inside.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from fakes import ScriptedPolicy, countdown_prompt_problem
from hypothesis import given
from hypothesis import strategies as st

import tsc
from tsc.analysis import sweep
from tsc.cli import main, read_problem
from tsc.exercises import Feedback, check_pass_at_k, check_samples_needed, check_verifier
from tsc.lm.checkpoint import ASSETS, sha256_of
from tsc.lm.train import save_checkpoint
from tsc.strategies import best_of_n, get_strategy, greedy, majority_vote, sample
from tsc.tasks.countdown import Countdown, Limits, parse, validate
from tsc.verifiers import Oracle, get_verifier

ROOT = Path(__file__).resolve().parent.parent
BUNDLED = ASSETS / "countdown"
needs_bundled = pytest.mark.skipif(not (BUNDLED / "model.safetensors").exists(), reason="the bundled Countdown model is missing")


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def solver(problem: Countdown) -> list[str]:
    """A scripted model's completions: the solution, then a malformed one."""
    return [problem.solution_text(problem.solve()), "x."]


FAKE = ScriptedPolicy(lambda prompt: solver(countdown_prompt_problem(prompt)))
PROBLEM = Countdown((3, 5, 8), 16)


# --- 1. input validation ----------------------------------------------------------------

BAD_PROBLEMS = [
    ([1, -2, 3], 6, "from 1 to 13"),
    ([1, 0, 3], 6, "from 1 to 13"),
    ([1, 14, 3], 6, "from 1 to 13"),
    ([1, "2", 3], 6, "'2' (a str)"),
    ([1e308, 2], 6, "(a float)"),
    ([1.0, 2], 6, "(a float)"),
    ([True, 2], 6, "from 1 to 13"),
    (list(range(1, 40)), 6, "2 to 6 numbers"),
    ([7], 7, "2 to 6 numbers"),
    ([], 7, "2 to 6 numbers"),
    ("1 2 3", 6, "a list"),
    (7, 7, "a list"),
    ({"a": 1}, 7, "a list"),
    ([1, 2, 3], 0, "'target'"),
    ([1, 2, 3], -6, "'target'"),
    ([1, 2, 3], 1.5, "'target'"),
    ([1, 2, 3], float("nan"), "'target'"),
    ([1, 2, 3], "6", "'target'"),
    ([1, 2, 3], None, "'target'"),
    ([1, 2, 3], 10**7, "1 to 1,000,000"),
    ([1, 2, 3], 10**5000, "'target'"),  # beyond Python's int-to-str limit: still a clean message
]


def short_id(value) -> str:
    return "huge" if isinstance(value, int) and abs(value) > 10**100 else str(value)[:20]


@pytest.mark.parametrize("numbers, target, fragment", BAD_PROBLEMS, ids=short_id)
def test_validate_names_the_problem_and_the_trained_range(numbers, target, fragment):
    with pytest.raises(ValueError) as info:
        validate(numbers, target)
    message = str(info.value)
    assert fragment in message, message
    assert "trained on 3-5 numbers from 1 to 13" in message or "a list" in message
    assert len(message) < 300


def test_validate_accepts_the_range_and_numpy_integers():
    assert validate([13, 4, 7, 2], 48) == Countdown((13, 4, 7, 2), 48)
    assert validate(np.array([1, 2]), np.int64(3)) == Countdown((1, 2), 3)
    assert validate([np.int64(2), np.int32(13)], np.int64(26)) == Countdown((2, 13), 26)
    assert type(validate((np.int64(2), 3), 5).numbers[0]) is int
    assert validate((1, 1, 1, 1, 1, 1), 1_000_000).numbers == (1,) * 6  # 2-6 numbers, targets up to 1e6 accepted


@needs_bundled
def test_limits_come_from_the_model_card():
    limits = Limits.for_model(tsc.load_policy().card, "countdown")
    assert (limits.max_number, limits.trained) == (13, "3-5 numbers from 1 to 13, targets 1 to 100")
    custom = Limits.for_model({"task": "countdown", "problems": {"sizes": [2, 3], "max_number": 50, "max_target": 500}}, "m")
    assert custom.max_number == 50 and "2-3 numbers from 1 to 50" in custom.error([51, 2], 3)
    llm = Limits.for_model({}, "gpt2")  # no Countdown card: generous limits, no trained range to claim
    assert llm.error([100, 75, 50, 25], 999) is None and "1 to 1000" in llm.error([1001, 2], 3)
    assert Limits.for_model({"task": "countdown", "recipe": "garbage", "problems": [1]}, "m").max_number == 13


@pytest.mark.parametrize(
    "knobs, fragment",
    [
        ({"n": 0}, "n (samples"),
        ({"n": -3}, "n (samples"),
        ({"n": 2.5}, "n (samples"),
        ({"n": True}, "n (samples"),
        ({"n": "4"}, "n (samples"),
        ({"n": 10**9}, "100,000"),
        ({"n": 2, "temperature": -1.0}, "temperature"),
        ({"n": 2, "temperature": float("nan")}, "temperature"),
        ({"n": 2, "temperature": float("inf")}, "temperature"),
        ({"n": 2, "temperature": "hot"}, "temperature"),
        ({"n": 2, "seed": -1}, "seed"),
        ({"n": 2, "seed": 2**64}, "seed"),
        ({"n": 2, "seed": 1.5}, "seed"),
        ({"n": 2, "max_new_tokens": 0}, "max_new_tokens"),
    ],
)
@pytest.mark.parametrize("strategy", [majority_vote, best_of_n])
def test_strategies_reject_bad_knobs_with_a_clear_message(strategy, knobs, fragment):
    extra = {"verifier": Oracle()} if strategy is best_of_n else {}
    with pytest.raises(ValueError) as info:
        strategy(PROBLEM, FAKE, **knobs, **extra)
    assert fragment in str(info.value) and "got" in str(info.value)


def test_strategies_reject_bad_problems_verifiers_and_typos():
    with pytest.raises(ValueError, match="Countdown"):
        greedy({"numbers": [3, 5, 8], "target": 16}, FAKE)
    with pytest.raises(ValueError, match="score"):
        best_of_n(PROBLEM, FAKE, n=2, verifier="oracle")
    with pytest.raises(ValueError, match="temprature"):
        greedy(PROBLEM, FAKE, temprature=0.5)
    with pytest.raises(ValueError, match="policy"):
        sample(PROBLEM, "countdown")
    assert greedy(PROBLEM, FAKE, n=8, seed=3, temperature=1.0).correct  # other strategies' knobs are ignored


def test_unknown_names_are_listed_against_the_known_ones():
    with pytest.raises(ValueError, match="telepathy.*beam, best_of_n, budget_forcing, compute_optimal, .*dfs, dvts, .*greedy, majority"):
        get_strategy("telepathy")
    with pytest.raises(ValueError, match="telepathy.*oracle"):
        get_verifier("telepathy")
    assert get_strategy("majority").run is majority_vote and isinstance(get_verifier("oracle"), Oracle)
    with pytest.raises(ValueError, match="countdown"):
        tsc.load_policy("countdwn")
    with pytest.raises(TypeError, match="int"):
        tsc.load_policy(3)
    with pytest.raises(ValueError, match="empty"):
        tsc.load_policy("")


def test_a_hub_id_that_cannot_be_had_is_a_one_line_value_error(monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)  # no waiting on retries
    with pytest.raises(ValueError, match="nobody/no-such-model.*Hub"):
        tsc.load_policy("nobody/no-such-model")


def test_sweep_rejects_bad_budgets_and_seeds():
    for budgets, seeds in [([0], [0]), ([2, -1], [0]), ([1.5], [0]), ([2], [-1]), ([2], ["0"])]:
        with pytest.raises(ValueError, match="budgets|seeds"):
            sweep(majority_vote, [PROBLEM], FAKE, budgets=budgets, seeds=seeds)
    with pytest.raises(ValueError, match="problem"):
        sweep(majority_vote, [], FAKE, budgets=[1], seeds=[0])


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["--strategy", "telepathy"], "choose from"),
        (["--n", "abc"], "invalid int"),
        (["--verifier", "telepathy"], "choose from"),
        (["--n", "0"], "--n"),
        (["--temperature", "nan"], "--temperature"),
        (["--seed", "-1"], "--seed"),
        (["--max-new-tokens", "0"], "--max-new-tokens"),
        (["--model", "no-such-model"], "no-such-model"),
        (["--model", "nobody/x/y"], "nobody/x/y"),
    ],
)
def test_cli_bad_options_are_one_line_errors(tmp_path, capsys, argv, fragment):
    source = tmp_path / "in.jsonl"
    source.write_text('{"numbers": [3, 5, 8], "target": 16}\n')
    try:
        code = main(["solve", "--input", str(source), "--output", str(tmp_path / "out.jsonl"), *argv])
    except SystemExit as exit:  # argparse's own errors (now one line) exit directly
        code = exit.code
    assert code == 2
    assert fragment in one_line_error(capsys)
    assert not (tmp_path / "out.jsonl").exists()


def test_cli_input_and_output_that_are_folders(tmp_path, capsys, tiny_model_dir):
    source = tmp_path / "in.jsonl"
    source.write_text('{"numbers": [3, 5, 8], "target": 16}\n')
    assert main(["solve", "--model", str(tiny_model_dir), "--input", str(tmp_path), "--output", str(tmp_path / "o.jsonl")]) == 2
    assert "not a file" in one_line_error(capsys)
    assert main(["solve", "--model", str(tiny_model_dir), "--input", str(source), "--output", str(tmp_path)]) == 2
    assert "folder" in one_line_error(capsys)
    assert main(["evaluate", "--per-size", "0"]) == 2
    assert "--per-size" in one_line_error(capsys)


def test_cli_flags_lines_that_are_not_utf8(tmp_path, tiny_model_dir, capsys):
    source = tmp_path / "in.jsonl"
    source.write_bytes(b'{"numbers": [3, 5, 8], "target": 16}\n\xff\xfe{"numbers"\r\n{"numbers": [1, 2], "target": 3}\r\n')
    output = tmp_path / "out.jsonl"
    assert main(["solve", "--model", str(tiny_model_dir), "--max-new-tokens", "4", "--input", str(source), "--output", str(output)]) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert [r.get("error") for r in records] == [None, "not UTF-8 text", None]
    assert "1 bad lines (lines 2)" in capsys.readouterr().err


MIXED = [
    '{"numbers": [3, 5, 8], "target": 16, "id": 1}',
    "not json at all",
    '{"numbers": [13, 4, 7, 2]}',
    '{"numbers": [1, -2, 3], "target": 6}',
    '{"numbers": [1, "2", 3], "target": 6}',
    '{"numbers": [1e308, 2], "target": 6}',
    '{"numbers": ' + json.dumps(list(range(1, 40))) + ', "target": 6}',
    '{"numbers": [25, 50, 75, 100], "target": 300}',
    '{"numbers": [13, 4, 7, 2], "target": 48, "id": 2}',
    '{"numbers": [2, 6, 9, 10, 12], "target": 39, "id": 3}',
]


@needs_bundled
def test_done_when_a_mixed_file_runs_through_solve_with_the_bundled_model(tmp_path, capsys):
    """The issue's acceptance test: every good line answered, every bad line flagged, no traceback."""
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(MIXED) + "\n")
    output = tmp_path / "out.jsonl"
    assert main(["solve", "--strategy", "greedy", "--max-new-tokens", "40", "--input", str(source), "--output", str(output)]) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == len(MIXED)
    assert [r["id"] for r in records if "error" not in r] == [1, 2, 3]
    assert all(isinstance(r["answer"], str) and r["tokens"] > 0 for r in records if "error" not in r)
    errors = [r["error"] for r in records if "error" in r]
    assert len(errors) == 7
    assert "not valid JSON" in errors[0] and "missing key(s): target" in errors[1]
    for error in (errors[2], errors[3], errors[4], errors[6]):  # -2, "2", 1e308 and 25..100 name the trained range
        assert error.startswith("'numbers' must be integers from 1 to 13 (model 'countdown' was trained on 3-5 numbers"), error
    assert "2 to 6 numbers" in errors[5] and "got 39" in errors[5]
    err = capsys.readouterr().err
    assert "3 answered" in err and "7 bad lines (lines 2, 3, 4, 5, 6, 7, 8)" in err and "Traceback" not in err


# --- 2. checkpoints ---------------------------------------------------------------------


@pytest.fixture
def model_copy(tiny_model_dir, tmp_path) -> Path:
    folder = tmp_path / "model"
    shutil.copytree(tiny_model_dir, folder)
    return folder


def test_checkpoints_are_safetensors_with_their_hash_on_the_card(tiny_model_dir):
    card = json.loads((tiny_model_dir / "card.json").read_text())
    assert card["weights_sha256"] == sha256_of(tiny_model_dir / "model.safetensors")
    assert not [p for p in tiny_model_dir.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".pkl")]
    assert tsc.load_policy(tiny_model_dir).card["weights_sha256"] == card["weights_sha256"]


@needs_bundled
def test_the_bundled_card_records_the_hash_of_the_bundled_weights():
    card = json.loads((BUNDLED / "card.json").read_text())
    assert card["weights_sha256"] == sha256_of(BUNDLED / "model.safetensors")


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_a_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-100] ^= 0xFF  # inside the last tensor: the header still parses
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [truncate, flip_a_byte])
def test_a_damaged_checkpoint_is_named_in_a_clear_error(model_copy, damage):
    damage(model_copy / "model.safetensors")
    with pytest.raises(ValueError) as info:
        tsc.load_policy(model_copy)
    message = str(info.value)
    assert str(model_copy / "model.safetensors") in message and "damaged or truncated" in message
    assert "reinstall" in message


def test_a_truncated_checkpoint_without_a_hash_is_still_a_clear_error(model_copy):
    card = json.loads((model_copy / "card.json").read_text())
    del card["weights_sha256"]
    (model_copy / "card.json").write_text(json.dumps(card))
    truncate(model_copy / "model.safetensors")
    with pytest.raises(ValueError, match="cannot load the checkpoint in .*model.safetensors.*damaged"):
        tsc.load_policy(model_copy)
    (model_copy / "card.json").unlink()  # no card at all
    with pytest.raises(ValueError, match="cannot load the checkpoint"):
        tsc.load_policy(model_copy)


def test_pickle_weights_are_refused(model_copy, tiny_policy):
    import torch

    (model_copy / "model.safetensors").unlink()
    torch.save(tiny_policy.model.state_dict(), model_copy / "pytorch_model.bin")
    with pytest.raises(ValueError, match="pickle weights \\(pytorch_model.bin\\).*safetensors only"):
        tsc.load_policy(model_copy)
    (model_copy / "pytorch_model.bin").unlink()
    with pytest.raises(ValueError, match="no weights file model.safetensors"):
        tsc.load_policy(model_copy)


def test_a_broken_card_is_named(model_copy):
    (model_copy / "card.json").write_text('{"name": "tiny", "weights_sha2')
    with pytest.raises(ValueError, match="card.json is damaged"):
        tsc.load_policy(model_copy)


def test_cli_with_a_damaged_checkpoint_is_a_one_line_error(model_copy, tmp_path, capsys):
    truncate(model_copy / "model.safetensors")
    source = tmp_path / "in.jsonl"
    source.write_text('{"numbers": [3, 5, 8], "target": 16}\n')
    assert main(["solve", "--model", str(model_copy), "--input", str(source), "--output", str(tmp_path / "out.jsonl")]) == 2
    assert "model.safetensors is damaged or truncated" in one_line_error(capsys)


def test_save_checkpoint_leaves_no_half_written_folder(tiny_policy, tmp_path):
    card = save_checkpoint(tiny_policy.model, tiny_policy.tokenizer, tmp_path / "m", {"name": "m"})
    assert card == json.loads((tmp_path / "m" / "card.json").read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]


# --- 3. interrupted sweeps resume from the cache ----------------------------------------


class Interrupting:
    """majority_vote, counting the (budget, seed) rows it works on; Ctrl-C on row ``stop_at``."""

    def __init__(self, problems: int, stop_at: int | None = None):
        self.problems, self.stop_at, self.calls = problems, stop_at, 0
        self.__qualname__ = "Interrupting"  # the same strategy name in the cache key, run after run

    def __call__(self, problem, policy, **knobs):
        self.calls += 1
        row = (self.calls - 1) // self.problems + 1
        if self.stop_at is not None and row == self.stop_at:
            raise KeyboardInterrupt
        return majority_vote(problem, policy, **knobs)

    @property
    def rows(self) -> int:
        return self.calls // self.problems


PROBLEMS = [Countdown((3, 5, 8), 16), Countdown((13, 4, 7, 2), 48), Countdown((2, 6, 9), 3)]
GRID = {"budgets": [1, 2, 4], "seeds": [0, 1]}


@pytest.mark.parametrize("cache_name", ["sweep.jsonl", "cache-folder"])
def test_an_interrupted_sweep_resumes_where_it_stopped(tmp_path, cache_name):
    cache = tmp_path / cache_name
    expected = sweep(majority_vote, PROBLEMS, FAKE, **GRID)
    first = Interrupting(len(PROBLEMS), stop_at=3)
    with pytest.raises(KeyboardInterrupt):
        sweep(first, PROBLEMS, FAKE, cache=cache, **GRID)
    assert first.rows == 2  # rows 1 and 2 finished and were written
    second = Interrupting(len(PROBLEMS))
    assert sweep(second, PROBLEMS, FAKE, cache=cache, **GRID) == expected
    assert second.calls == 4 * len(PROBLEMS)  # only the 4 missing rows were computed
    third = Interrupting(len(PROBLEMS))
    assert sweep(third, PROBLEMS, FAKE, cache=cache, **GRID) == expected and third.calls == 0


class NamedPolicy(ScriptedPolicy):
    name = "another-model"


def test_the_cache_key_holds_the_whole_configuration(tmp_path):
    cache = tmp_path / "c.jsonl"
    base = {"problems": PROBLEMS, "policy": FAKE, "budgets": [2], "seeds": [0]}

    def run(**change) -> int:
        args = dict(base, **change)
        strategy = Interrupting(len(args["problems"]))
        sweep(strategy, args.pop("problems"), args.pop("policy"), cache=cache, **args)
        return strategy.calls

    assert run() == len(PROBLEMS) and run() == 0  # computed once, then read back
    for change in (
        {"problems": PROBLEMS[:2]},
        {"policy": NamedPolicy(FAKE.script)},
        {"temperature": 0.5},
        {"max_new_tokens": 10},
        {"seeds": [1]},
        {"budgets": [3]},
    ):
        assert run(**change) > 0, change
    lines = cache.read_text().splitlines()
    assert len(lines) == 7 and all(json.loads(line)["config"]["model"]["name"] for line in lines)


def test_a_cache_line_cut_short_is_skipped_and_appending_goes_on(tmp_path):
    cache = tmp_path / "c.jsonl"
    grid = {"budgets": [1, 2], "seeds": [0]}
    rows = sweep(Interrupting(len(PROBLEMS)), PROBLEMS, FAKE, cache=cache, **grid)
    text = cache.read_text()
    cache.write_text(text[: len(text) - 20])  # the machine stopped while writing the last line
    strategy = Interrupting(len(PROBLEMS))
    assert sweep(strategy, PROBLEMS, FAKE, cache=cache, **grid) == rows
    assert strategy.rows == 1  # only the row whose line was cut is computed again
    lines = cache.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[-1])["row"] == rows[-1]  # the new line starts on a line of its own


# --- 4. determinism ---------------------------------------------------------------------


@needs_bundled
@pytest.mark.parametrize("strategy", ["sample", "majority"])
def test_solve_twice_with_one_seed_gives_identical_files(tmp_path, strategy):
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(MIXED[:3] + MIXED[8:]) + "\n")
    outputs = [tmp_path / "a.jsonl", tmp_path / "b.jsonl"]
    for output in outputs:
        argv = ["solve", "--strategy", strategy, "--n", "4", "--temperature", "1.0", "--seed", "11", "--max-new-tokens", "40"]
        assert main([*argv, "--input", str(source), "--output", str(output)]) == 0
    assert outputs[0].read_bytes() == outputs[1].read_bytes()
    keys = set().union(*(json.loads(line) for line in outputs[0].read_text().splitlines()))
    assert "seconds" not in keys  # the output holds no wall-clock figures (they go to the stderr summary)


@needs_bundled
def test_the_library_gives_the_same_answers_and_ledger_for_a_seed():
    from dataclasses import asdict

    policy = tsc.load_policy()
    runs = [majority_vote(PROBLEMS[1], policy, n=6, seed=5, max_new_tokens=40) for _ in range(2)]
    assert runs[0].candidates == runs[1].candidates and runs[0].answer == runs[1].answer
    ledgers = [{k: v for k, v in asdict(r.ledger).items() if k != "seconds"} for r in runs]
    assert ledgers[0] == ledgers[1]  # everything but wall time


# --- 5. no network ----------------------------------------------------------------------

OFFLINE_SCRIPT = r"""
import socket
attempts = []
def refuse(*args, **kwargs):
    attempts.append(args[1:2] or args[:1])
    raise OSError("network blocked by the offline test")
socket.socket.connect = socket.socket.connect_ex = refuse
socket.create_connection = socket.getaddrinfo = refuse

import matplotlib.pyplot, numpy, torch, transformers  # a chapter's imports
import tsc, tsc.analysis, tsc.exercises, tsc.strategies, tsc.viz, tsc.viz.widgets
from tsc.tasks import Countdown
policy = tsc.load_policy()
problem = Countdown((3, 5, 8), 16)
first = tsc.strategies.greedy(problem, policy, max_new_tokens=24)
vote = tsc.strategies.majority_vote(problem, policy, n=4, max_new_tokens=24)
assert first.ledger.tokens > 0 and vote.ledger.samples == 4
print("attempts", len(attempts))
"""


@needs_bundled
def test_nothing_reaches_for_the_network(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")}
    env.update(PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", MPLBACKEND="Agg", HF_HOME=str(tmp_path / "hf"))
    done = subprocess.run([sys.executable, "-c", OFFLINE_SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "attempts 0" in done.stdout, done.stdout + done.stderr[-2000:]


# --- 6. exercise checkers never crash ---------------------------------------------------


def raises_system_exit(*args):
    raise SystemExit(1)


class BadRepr:
    def __repr__(self):
        raise RuntimeError("no repr")

    def __float__(self):
        raise RuntimeError("no float")


STUDENT_VALUES = [
    None,
    "0.5",
    [0.5],
    np.array([0.5, 0.5]),
    np.array([[0.5]]),
    np.float64("nan"),
    float("nan"),
    BadRepr(),
    {"p": 0.5},
    object,
]


@pytest.mark.parametrize("value", STUDENT_VALUES, ids=lambda v: type(v).__name__)
def test_checkers_say_what_was_expected_and_what_came_back(value):
    for feedback in (
        check_pass_at_k(lambda n, c, k: value),
        check_samples_needed(value, a=-1.0, b=1.0, goal=0.8),
        check_verifier(lambda numbers, target, text: value),
        check_pass_at_k(value),
        check_verifier(value),
    ):
        assert isinstance(feedback, Feedback) and str(feedback)
        if value is not None:
            assert feedback.status == "incorrect", feedback.message
            assert ("xpected" in feedback.message and "got" in feedback.message) or "raised" in feedback.message, feedback.message
            assert len(feedback.message) < 400


def test_checkers_report_shapes_exits_and_accept_numpy_scalars():
    feedback = check_pass_at_k(lambda n, c, k: np.full(3, 0.5))
    assert "ndarray of shape (3,)" in feedback.message
    feedback = check_pass_at_k(raises_system_exit)
    assert feedback.status == "incorrect" and "SystemExit" in feedback.message
    feedback = check_verifier(lambda numbers, target, text: 1 / 0)
    assert "ZeroDivisionError: division by zero" in feedback.message
    reference = tsc.analysis.pass_at_k
    assert check_pass_at_k(lambda n, c, k: np.float32(reference(n, c, k))).status == "correct"  # numpy scalars are numbers
    assert check_pass_at_k(lambda n, c, k: np.array(reference(n, c, k))).status == "correct"  # a 0-d array is one number
    assert check_verifier(lambda numbers, target, text: np.bool_(Countdown(tuple(numbers), target).check(text))).correct
    assert check_samples_needed(np.float64(4.48), a=-1.0, b=1.0, goal=0.8).correct
    assert check_pass_at_k(None).status == check_verifier(None).status == "not attempted"
    broken = check_samples_needed(5, a=0.0, b=1.0, goal=0.8)  # a law with no answer: a message, not a crash
    assert broken.status == "incorrect" and "Cannot check" in broken.message


# --- 7. fuzzing: the parser and the line validator --------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=8) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)
problem_like = st.fixed_dictionaries(
    {"numbers": st.one_of(json_values, st.lists(st.integers(-5, 20), max_size=8)), "target": st.one_of(json_values, st.integers(-5, 200))}
)


@given(text=st.text())
def test_parse_never_raises_on_arbitrary_text(text):
    steps = parse(text)
    assert steps is None or (steps and all(str(s) for s in steps))


def check_line(line: str) -> None:
    record, problem, error = read_problem(line)
    assert isinstance(record, dict)
    json.dumps(dict(record, error=error))  # what solve writes for the line
    assert (problem is None) != (error is None)
    if problem is not None:
        assert 2 <= len(problem.numbers) <= 6 and all(1 <= x <= 13 for x in problem.numbers) and problem.target >= 1
    else:
        assert isinstance(error, str) and 0 < len(error) < 400


@given(value=st.one_of(json_values, problem_like))
def test_the_line_validator_never_raises_on_arbitrary_json(value):
    check_line(json.dumps(value, allow_nan=True))


@given(line=st.text(max_size=200))
def test_the_line_validator_never_raises_on_arbitrary_text(line):
    check_line(line)


@given(numbers=json_values, target=json_values)
def test_validate_raises_only_value_errors(numbers, target):
    try:
        problem = validate(numbers, target)
    except ValueError as error:
        assert str(error)
    else:
        assert isinstance(problem, Countdown) and problem.prompt()


def test_a_float_nan_target_reads_as_json_nan():
    record, problem, error = read_problem('{"numbers": [1, 2], "target": NaN}')
    assert problem is None and "nan" in error and math.isnan(record["target"])
