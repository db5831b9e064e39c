"""``python -m tsc``, run in-process: solve a file with bad lines, exit codes, the zoo.

The tests solve with a tiny random model saved to a temporary folder (``--model FOLDER``), so
they do not depend on the bundled model; one test uses the bundled model when it exists.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from fakes import ScriptedStepVerifier

import tsc.verifiers
from tsc.cli import main, read_problem
from tsc.lm.checkpoint import ASSETS, bundled_models
from tsc.strategies import get_strategy
from tsc.tasks import get_task
from tsc.tasks.countdown import Countdown

COUNTDOWN, ARITHMETIC = get_task("countdown"), get_task("arithmetic")  # what solve writes as "answer"

GOOD = [
    {"numbers": [1, 2, 3], "target": 6, "id": "a"},
    {"numbers": [13, 4, 7, 2], "target": 48, "id": "b", "extra": {"kept": True}},
    {"numbers": [5, 5], "target": 10},
]

BAD_LINES = [
    "this is not json",
    "[1, 2, 3]",
    "null",
    '"a string"',
    '{"numbers": [1, 2, 3]}',
    '{"target": 6}',
    '{"numbers": null, "target": 6}',
    '{"numbers": [1, -2, 3], "target": 6}',
    '{"numbers": [1, "2", 3], "target": 6}',
    '{"numbers": [1e308, 2], "target": 6}',
    '{"numbers": [1.5, 2], "target": 6}',
    '{"numbers": ' + json.dumps(list(range(1, 40))) + ', "target": 6}',
    '{"numbers": [7], "target": 7}',
    '{"numbers": 7, "target": 7}',
    '{"numbers": [1, 2, 3], "target": 0}',
    '{"numbers": [1, 2, 3], "target": -6}',
    '{"numbers": [1, 2, 3], "target": 1.5}',
    '{"numbers": [1, 2, 3], "target": NaN}',
    '{"numbers": [1, 2, 3], "target": "6"}',
    '{"numbers": [true, 2, 3], "target": 6}',
    '{"numbers": [1, 2, 3], "target": true}',
    '{"numbers": [1, 2, 3], "target": 10000000000}',
    '{"numbers": [1, 2, 3], "target": ' + "9" * 5000 + "}",  # beyond Python's int-parsing limit
    "[" * 100_000,  # nesting deeper than the JSON parser's recursion limit
]


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def solve(tiny_model_dir, source: Path, output: Path, *options: str) -> int:
    return main(
        ["solve", "--model", str(tiny_model_dir), "--max-new-tokens", "8", "--input", str(source), "--output", str(output), *options]
    )


@pytest.mark.parametrize("line", BAD_LINES, ids=lambda line: line[:40])
def test_read_problem_reports_bad_lines(line):
    record, problem, error = read_problem(line)
    assert problem is None
    assert isinstance(error, str) and error
    assert isinstance(record, dict)
    json.dumps(record)  # the error record can be written out


def test_read_problem_accepts_good_lines_and_keeps_other_keys():
    record, problem, error = read_problem(json.dumps(GOOD[1]))
    assert error is None and problem == Countdown((13, 4, 7, 2), 48)
    assert record == GOOD[1]


def test_answers_as_the_contract_writes_them():
    assert COUNTDOWN.answer("13-7=6,6*4=24,24*2=48.") == "13-7=6, 6*4=24, 24*2=48"
    assert COUNTDOWN.answer(" 13 - 7 = 6 .junk") == "13-7=6"
    assert COUNTDOWN.answer("  gibberish ") == "gibberish"
    assert COUNTDOWN.answer("") == ""


def test_solve_answers_good_lines_and_flags_bad_ones(tmp_path, tiny_model_dir, tiny_policy, capsys):
    lines = [json.dumps(GOOD[0]), "", *BAD_LINES[:12], "   ", json.dumps(GOOD[1]), *BAD_LINES[12:], json.dumps(GOOD[2])]
    source = write_lines(tmp_path / "in.jsonl", lines)
    output = tmp_path / "out.jsonl"
    assert solve(tiny_model_dir, source, output, "--strategy", "greedy") == 0

    records = [json.loads(line) for line in output.read_text().splitlines()]
    non_empty = [line for line in lines if line.strip()]
    assert len(records) == len(non_empty)
    good = [r for r in records if "error" not in r]
    bad = [r for r in records if "error" in r]
    assert len(good) == len(GOOD) and len(bad) == len(BAD_LINES)
    for record, original in zip(good, GOOD):
        assert {k: record[k] for k in original} == original  # other keys are carried through
        assert "answer" in record and isinstance(record["correct"], bool)
        assert isinstance(record["tokens"], int) and record["tokens"] > 0
        assert isinstance(record["flops"], int) and record["flops"] > 0
    for record in bad:
        assert isinstance(record["error"], str) and "answer" not in record
    # order is kept: the first and last records are the first and last good problems
    assert records[0]["id"] == "a" and records[-1]["numbers"] == [5, 5]
    assert f"{len(GOOD)} answered" in capsys.readouterr().err

    # the answer and its cost are the tiny model's greedy completion and its ledger
    [[completion]] = tiny_policy.sample([Countdown((1, 2, 3), 6).prompt()], n=1, temperature=0.0, max_new_tokens=8)
    assert records[0]["answer"] == COUNTDOWN.answer(completion.text)
    prompt_tokens = len("1 2 3>6:") + 1
    assert records[0]["tokens"] == prompt_tokens + completion.num_tokens
    assert records[0]["flops"] == tiny_policy.flops(prompt_tokens, completion.num_tokens)


@pytest.mark.parametrize("strategy", ["sample", "best_of_n", "majority"])
def test_solve_runs_every_strategy(tmp_path, tiny_model_dir, strategy):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(g) for g in GOOD[:2]])
    output = tmp_path / "out.jsonl"
    assert solve(tiny_model_dir, source, output, "--strategy", strategy, "--n", "3") == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 2 and all("error" not in r and r["tokens"] > 0 for r in records)
    if strategy != "sample":  # three samples cost at least the prompt (read once or per sample) and a token each
        assert all(r["tokens"] >= len(Countdown(tuple(r["numbers"]), r["target"]).prompt()) + 1 + 3 for r in records)


def test_solve_is_deterministic_for_a_seed(tmp_path, tiny_model_dir):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(g) for g in GOOD] + [BAD_LINES[0]])
    first, second = tmp_path / "first.jsonl", tmp_path / "second.jsonl"
    options = ("--strategy", "majority", "--n", "4", "--temperature", "1.0", "--seed", "7")
    assert solve(tiny_model_dir, source, first, *options) == 0
    assert solve(tiny_model_dir, source, second, *options) == 0
    assert first.read_bytes() == second.read_bytes()
    assert len(first.read_text().splitlines()) == 4


def assert_one_line_error(capsys):
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err


def test_missing_input_file(tmp_path, tiny_model_dir, capsys):
    output = tmp_path / "out.jsonl"
    assert solve(tiny_model_dir, tmp_path / "nope.jsonl", output) == 2
    assert "nope.jsonl" in assert_one_line_error(capsys)
    assert not output.exists()


def test_unknown_model(tmp_path, capsys):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD[0])])
    code = main(["solve", "--model", "no-such-model", "--input", str(source), "--output", str(tmp_path / "out.jsonl")])
    assert code == 2
    assert "no-such-model" in assert_one_line_error(capsys)


def test_unwritable_output_folder(tmp_path, tiny_model_dir, capsys):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD[0])])
    assert solve(tiny_model_dir, source, tmp_path / "missing" / "out.jsonl") == 2
    assert "missing" in assert_one_line_error(capsys)
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        assert solve(tiny_model_dir, source, locked / "out.jsonl") == 2
        assert_one_line_error(capsys)


@pytest.mark.parametrize(
    "option",
    [("--n", "0"), ("--temperature", "-1"), ("--top-k", "-2"), ("--top-p", "0"), ("--top-p", "1.2"), ("--min-p", "1"), ("--min-p", "nan")],
)
def test_bad_options_are_user_errors(tmp_path, tiny_model_dir, capsys, option):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD[0])])
    assert solve(tiny_model_dir, source, tmp_path / "out.jsonl", "--strategy", "majority", *option) == 2
    assert option[0] in assert_one_line_error(capsys)


def test_truncation_flags_reach_the_sampler(tmp_path, tiny_model_dir):
    """--top-k 1 (and a min-p near 1) leave one token to draw from: sampling is greedy decoding."""
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(g) for g in GOOD[:3]])
    read = lambda path: [(r["answer"], r["tokens"]) for r in map(json.loads, path.read_text().splitlines())]
    assert solve(tiny_model_dir, source, tmp_path / "greedy.jsonl", "--strategy", "greedy") == 0
    for flags in (("--top-k", "1"), ("--min-p", "0.999"), ("--top-p", "0.000001")):
        out = tmp_path / f"{flags[0][2:]}.jsonl"
        assert solve(tiny_model_dir, source, out, "--strategy", "sample", "--temperature", "2", *flags) == 0
        assert read(out) == read(tmp_path / "greedy.jsonl"), flags
    hot = tmp_path / "hot.jsonl"
    assert solve(tiny_model_dir, source, hot, "--strategy", "sample", "--temperature", "2", "--top-k", "0") == 0
    assert read(hot) != read(tmp_path / "greedy.jsonl")  # without truncation, T=2 does wander


def test_unknown_strategy_is_an_argparse_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["solve", "--strategy", "telepathy", "--input", "x", "--output", "y"])
    assert info.value.code == 2
    assert "telepathy" in capsys.readouterr().err


def test_zoo_json_lists_the_bundled_models(capsys):
    assert main(["zoo", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list)
    assert [row["name"] for row in rows] == list(bundled_models(kind=None))  # policies and reward models
    for row in rows:
        assert {"name", "kind", "task", "params", "train_tokens", "train_flops", "seconds", "seed", "eval"} <= set(row)


def test_zoo_table(capsys):
    assert main(["zoo"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == len(bundled_models(kind=None))


@pytest.mark.skipif(not (ASSETS / "countdown" / "config.json").exists(), reason="the bundled Countdown model is not trained yet")
def test_solve_with_the_bundled_model(tmp_path):
    problems = [
        {"numbers": [3, 5, 8], "target": 16},
        {"numbers": [13, 4, 7, 2], "target": 48},
        {"numbers": [2, 6, 9, 10, 12], "target": 39},
    ]
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(p) for p in problems])
    output = tmp_path / "out.jsonl"
    assert main(["solve", "--strategy", "greedy", "--input", str(source), "--output", str(output)]) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 3
    for record, problem in zip(records, problems):
        assert "error" not in record and record["tokens"] > 0 and record["flops"] > 0
        assert isinstance(record["answer"], str)
        assert record["correct"] == Countdown(tuple(problem["numbers"]), problem["target"]).check(record["answer"])


@pytest.mark.parametrize(
    "strategy, options",
    [
        ("weighted_vote", ("--n", "3", "--verifier", "oracle")),
        ("self_refine", ("--rounds", "2", "--verifier", "step_oracle")),
        ("revise", ("--rounds", "2", "--verifier", "oracle")),
    ],
)
def test_solve_runs_the_strategies_of_issue_4(tmp_path, tiny_model_dir, strategy, options):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(g) for g in GOOD])
    output = tmp_path / "out.jsonl"
    extra = ("--reviser", str(tiny_model_dir)) if strategy == "revise" else ()
    assert solve(tiny_model_dir, source, output, "--strategy", strategy, *options, *extra) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 3 and all("error" not in r for r in records)
    for record in records:
        assert record["tokens"] > 0 and record["flops"] > 0 and record["verifier_flops"] == 0  # exact verifiers cost no FLOPs
        assert record["correct"] == Countdown(tuple(record["numbers"]), record["target"]).check(record["answer"] or "")


def test_solve_flops_include_the_verifiers(tmp_path, tiny_model_dir, monkeypatch):
    """Each line's flops are the policy's plus its verifier_flops: a verifier that charges
    FLOPs and a free one with the same scores lead to the same policy calls."""

    class Free(ScriptedStepVerifier):
        def _charge(self, problem, texts, ledger, method):
            ledger.charge_verifier(tokens=0, flops=0)

    reject_all = lambda problem, text: [0.0]  # every attempt fails at its first step: all rounds are spent
    monkeypatch.setitem(tsc.verifiers.VERIFIERS, "paid", lambda: ScriptedStepVerifier(reject_all))
    monkeypatch.setitem(tsc.verifiers.VERIFIERS, "free", lambda: Free(reject_all))
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(g) for g in GOOD])
    paid, free = tmp_path / "paid.jsonl", tmp_path / "free.jsonl"
    options = ("--strategy", "self_refine", "--rounds", "3")
    assert solve(tiny_model_dir, source, paid, *options, "--verifier", "paid") == 0
    assert solve(tiny_model_dir, source, free, *options, "--verifier", "free") == 0
    for p, f in zip(map(json.loads, paid.read_text().splitlines()), map(json.loads, free.read_text().splitlines())):
        assert p["verifier_flops"] > 0 and f["verifier_flops"] == 0
        assert p["flops"] == f["flops"] + p["verifier_flops"] and p["tokens"] == f["tokens"]


def test_solve_rejects_a_whole_completion_verifier_for_self_refine(tmp_path, tiny_model_dir, capsys):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD[0])])
    assert solve(tiny_model_dir, source, tmp_path / "out.jsonl", "--strategy", "self_refine", "--verifier", "oracle") == 2
    assert "step verifier" in assert_one_line_error(capsys)
    assert solve(tiny_model_dir, source, tmp_path / "out.jsonl", "--strategy", "revise", "--rounds", "0") == 2
    assert "--rounds" in assert_one_line_error(capsys)


# --- the tree searches (tsc.strategies.search) ------------------------------------------


@pytest.mark.parametrize(
    "strategy, options",
    [
        ("beam", ("--beam-width", "2", "--expansions", "2")),
        ("dvts", ("--subtrees", "2", "--expansions", "2")),
        ("tot_bfs", ("--breadth", "2", "--expansions", "2")),
        ("dfs", ("--max-expansions", "3", "--threshold", "0.5")),
        ("mcts", ("--simulations", "3", "--expansions", "2")),
        ("particle_filter", ("--particles", "3", "--reward-temperature", "0.5", "--resampling", "multinomial")),
    ],
)
def test_solve_runs_the_tree_searches(tmp_path, tiny_model_dir, strategy, options):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(g) for g in GOOD])
    output = tmp_path / "out.jsonl"
    assert solve(tiny_model_dir, source, output, "--strategy", strategy, "--verifier", "step_oracle", *options) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == 3 and all("error" not in r for r in records)
    for record in records:
        assert record["tokens"] > 0 and record["flops"] > 0 and record["verifier_flops"] == 0  # the step oracle is free
        assert record["correct"] == Countdown(tuple(record["numbers"]), record["target"]).check(record["answer"] or "")


def test_search_flags_reach_their_strategy_only(tiny_policy):
    from tsc.cli import _parser, _strategy_options

    def options(*argv):
        return _strategy_options(
            _parser().parse_args(["solve", "--input", "x", "--output", "y", "--verifier", "step_oracle", *argv]), tiny_policy
        )

    flags = ("--beam-width", "3", "--expansions", "5", "--breadth", "2", "--subtrees", "6", "--simulations", "7", "--max-expansions", "8")
    beam = options("--strategy", "beam", *flags, "--n", "9", "--threshold", "0.3")
    assert {k: beam[k] for k in ("beam_width", "expansions")} == {"beam_width": 3, "expansions": 5}
    assert not {"breadth", "subtrees", "simulations", "max_expansions", "n", "threshold"} & set(beam)
    assert isinstance(beam["verifier"], tsc.verifiers.StepOracle)
    assert options("--strategy", "tot_bfs", *flags)["breadth"] == 2
    assert options("--strategy", "dvts", *flags)["subtrees"] == 6
    assert options("--strategy", "mcts", *flags)["simulations"] == 7
    dfs = options("--strategy", "dfs", *flags, "--threshold", "0.3")
    assert (dfs["max_expansions"], dfs["threshold"]) == (8, 0.3)
    assert "beam_width" not in options("--strategy", "mcts")  # unset flags leave the strategy's defaults
    particle = options("--strategy", "particle_filter", *flags, "--particles", "5", "--reward-temperature", "2")
    assert (particle["particles"], particle["reward_temperature"]) == (5, 2.0) and "beam_width" not in particle
    assert "particles" not in options("--strategy", "beam", "--particles", "5")


@pytest.mark.skipif("prm" not in bundled_models("prm"), reason="no bundled PRM")
def test_best_of_n_scores_with_the_prm_by_the_last_step_unless_told(tiny_policy):
    from tsc.cli import _parser, _strategy_options

    def options(*argv):
        return _strategy_options(_parser().parse_args(["solve", "--input", "x", "--output", "y", *argv]), tiny_policy)

    # best-of-N and the weighted vote score a sample as the searches score a partial solution (Chapter 5)
    assert options("--strategy", "best_of_n", "--verifier", "prm")["verifier"].aggregate == "last"
    assert options("--strategy", "weighted_vote", "--verifier", "prm")["verifier"].aggregate == "last"
    assert options("--strategy", "best_of_n", "--verifier", "prm", "--aggregate", "min")["verifier"].aggregate == "min"
    assert options("--strategy", "revise", "--verifier", "prm")["verifier"].aggregate == "min"  # elsewhere the PRM's own default
    beam = options("--strategy", "beam", "--aggregate", "min")
    assert beam["aggregate"] == "min" and "aggregate" not in options("--strategy", "beam")
    assert "aggregate" not in options("--strategy", "particle_filter", "--aggregate", "min")  # it weighs by the last step


@pytest.mark.parametrize("strategy", ["beam", "dvts", "tot_bfs", "dfs", "mcts", "particle_filter"])
def test_tree_searches_default_to_a_step_verifier(strategy):
    from tsc.cli import _default_verifier

    assert _default_verifier(get_strategy(strategy)) == ("prm" if "prm" in bundled_models("prm") else "step_oracle")


@pytest.mark.parametrize(
    "strategy, option",
    [
        ("beam", ("--beam-width", "0")),
        ("beam", ("--expansions", "-1")),
        ("tot_bfs", ("--breadth", "0")),
        ("mcts", ("--simulations", "0")),
        ("dfs", ("--max-expansions", "0")),
        ("dvts", ("--subtrees", "0")),
        ("dfs", ("--threshold", "nan")),
        ("early_stop", ("--window", "0")),
        ("early_stop", ("--threshold", "0.2")),
        ("self_refine", ("--rounds", "0")),
        ("free_energy", ("--cost-per-token", "-1")),
        ("budget_forcing", ("--min-thinking-tokens", "600")),
        ("particle_filter", ("--particles", "0")),
        ("particle_filter", ("--reward-temperature", "0")),
        ("particle_filter", ("--reward-temperature", "inf")),
        ("particle_filter", ("--resampling", "stratified")),
    ],
)
def test_bad_strategy_options_are_user_errors(tmp_path, tiny_model_dir, capsys, strategy, option):
    """Each strategy's own flags are checked by its registry entry's check, before any model loads."""
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD[0])])
    output = tmp_path / "out.jsonl"
    assert solve(tiny_model_dir, source, output, "--strategy", strategy, "--verifier", "step_oracle", *option) == 2
    assert assert_one_line_error(capsys).startswith(f"error: {option[0]}: ") and not output.exists()


def test_solve_rejects_a_whole_completion_verifier_for_the_tree_searches(tmp_path, tiny_model_dir, capsys):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD[0])])
    assert solve(tiny_model_dir, source, tmp_path / "out.jsonl", "--strategy", "mcts", "--verifier", "oracle") == 2
    assert "mcts needs a step verifier" in assert_one_line_error(capsys)


# --- the second task, the new kinds of model and budget forcing (issue 3) -----------------------

QUESTIONS = [{"question": "7*8-13+6*4", "id": "q1"}, {"question": "12 + 30*2"}, {"question": "9-4"}]
BAD_QUESTIONS = ['{"numbers": [1, 2], "target": 3}', '{"question": "7//2"}', '{"question": ""}', '{"question": 7}', '{"question": "3-9"}']


def _bundled(name):
    return pytest.mark.skipif(not (ASSETS / name / "config.json").exists(), reason=f"the bundled {name!r} model is not trained yet")


@_bundled("arithmetic")
@pytest.mark.parametrize("strategy", ["greedy", "majority", "best_of_n", "self_refine"])
def test_solve_arithmetic_writes_the_answer_number(tmp_path, strategy):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(q) for q in QUESTIONS] + BAD_QUESTIONS)
    output = tmp_path / "out.jsonl"
    args = ["solve", "--model", "arithmetic", "--strategy", strategy, "--n", "4", "--rounds", "2", "--input", str(source)]
    assert main([*args, "--output", str(output)]) == 0
    records = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(records) == len(QUESTIONS) + len(BAD_QUESTIONS)
    for record in records[: len(QUESTIONS)]:
        assert "error" not in record and (record["answer"] is None or isinstance(record["answer"], int))
        value = eval(record["question"])  # the test's own arithmetic
        assert record["correct"] == (record["answer"] == value)
    assert records[0]["id"] == "q1"
    assert all("error" in r for r in records[len(QUESTIONS) :])


@_bundled("arithmetic")
def test_task_and_model_must_agree(tmp_path, capsys):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(QUESTIONS[0])])
    output = tmp_path / "out.jsonl"
    assert main(["solve", "--model", "countdown", "--task", "arithmetic", "--input", str(source), "--output", str(output)]) == 2
    assert "trained on countdown" in capsys.readouterr().err
    assert (
        main(
            [
                "solve",
                "--model",
                "arithmetic",
                "--verifier",
                "prm",
                "--strategy",
                "best_of_n",
                "--input",
                str(source),
                "--output",
                str(output),
            ]
        )
        == 2
    )
    assert "trained on countdown" in capsys.readouterr().err


@_bundled("trace")
@pytest.mark.parametrize("options", [("--thinking-tokens", "64"), ("--thinking-tokens", "128", "--min-thinking-tokens", "100")])
def test_solve_with_budget_forcing(tmp_path, options):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(g) for g in GOOD[:2]])
    output = tmp_path / "out.jsonl"
    assert (
        main(["solve", "--model", "trace", "--strategy", "budget_forcing", *options, "--input", str(source), "--output", str(output)]) == 0
    )
    records = [json.loads(line) for line in output.read_text().splitlines()]
    budget = int(options[1])
    for record, problem in zip(records, GOOD):
        assert "error" not in record and isinstance(record["answer"], str) and "#" not in record["answer"]
        assert record["generated_tokens"] <= budget + 1 + 64 + 2  # thinking, the forced '#', the answer (and a wait)
        assert record["correct"] == Countdown(tuple(problem["numbers"]), problem["target"]).check(record["answer"])


@_bundled("trace")
def test_the_trace_model_runs_the_other_strategies(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD[0])])
    output = tmp_path / "out.jsonl"
    assert main(["solve", "--model", "trace", "--strategy", "majority", "--n", "2", "--input", str(source), "--output", str(output)]) == 0
    assert "error" not in json.loads(output.read_text())


def test_budget_forcing_needs_a_thinking_model_and_a_budget(tmp_path, tiny_model_dir, capsys):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(GOOD[0])])
    assert solve(tiny_model_dir, source, tmp_path / "o.jsonl", "--strategy", "budget_forcing") == 2
    assert "budget_forcing needs a model that thinks" in capsys.readouterr().err
    assert solve(tiny_model_dir, source, tmp_path / "o.jsonl", "--strategy", "budget_forcing", "--thinking-tokens", "0") == 2
    assert "--thinking-tokens: thinking_tokens (the thinking budget) must be a positive integer" in capsys.readouterr().err


@_bundled("countdown-direct")
def test_a_direct_model_answers_with_an_expression(tmp_path):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(g) for g in GOOD[:2]])
    output = tmp_path / "out.jsonl"
    assert (
        main(
            ["solve", "--model", "countdown-direct", "--strategy", "majority", "--n", "4", "--input", str(source), "--output", str(output)]
        )
        == 0
    )
    for record, problem in zip((json.loads(line) for line in output.read_text().splitlines()), GOOD):
        assert "error" not in record
        assert record["correct"] == Countdown(tuple(problem["numbers"]), problem["target"]).check(record["answer"])


def test_format_answer_of_arithmetic():
    assert ARITHMETIC.answer("7*8=56,56-13=43.") == 43
    assert ARITHMETIC.answer("43.") == 43
    assert ARITHMETIC.answer("nonsense") is None
    assert COUNTDOWN.answer("(13-7)*4*2.") == "13-7=6, 6*4=24, 24*2=48"


def test_read_problem_arithmetic():
    record, problem, error = read_problem('{"question": "7*8 - 13", "id": 3}', task="arithmetic")
    assert error is None and problem.question == "7*8-13" and record["id"] == 3
    for line in BAD_QUESTIONS:
        _, problem, error = read_problem(line, task="arithmetic")
        assert problem is None and error and "\n" not in error


@_bundled("arithmetic")
def test_revise_needs_a_reviser_of_the_same_task(tmp_path, capsys):
    source = write_lines(tmp_path / "in.jsonl", [json.dumps(QUESTIONS[0])])
    assert main(["solve", "--model", "arithmetic", "--strategy", "revise", "--input", str(source), "--output", str(tmp_path / "o")]) == 2
    assert "was trained on countdown, not arithmetic" in capsys.readouterr().err


# --- solve --resume ----------------------------------------------------------------------


def test_resume_after_an_interruption_computes_only_the_rest(tmp_path, tiny_model_dir, monkeypatch, capsys):
    import tsc.cli
    import tsc.strategies
    from tsc.tasks import countdown

    lines = [json.dumps(dict(p.to_json(), id=i)) for i, p in enumerate(countdown.generate(8, seed=4))]
    source = write_lines(tmp_path / "in.jsonl", lines[:3] + ['{"numbers": [1]}'] + lines[3:])
    options = ("--strategy", "majority", "--n", "4", "--seed", "3")
    whole = tmp_path / "whole.jsonl"
    assert solve(tiny_model_dir, source, whole, *options) == 0

    real, calls = tsc.strategies.solve_many, []

    def flaky(strategy, problems, *args, **kwargs):
        calls.append(len(problems))
        if len(calls) == 3 and fail:
            raise KeyboardInterrupt
        return real(strategy, problems, *args, **kwargs)

    monkeypatch.setattr(tsc.strategies, "solve_many", flaky)
    monkeypatch.setattr(tsc.cli, "_blocks", lambda todo, strategy, opts: [todo[i : i + 2] for i in range(0, len(todo), 2)])
    output = tmp_path / "out.jsonl"
    fail = True
    assert solve(tiny_model_dir, source, output, *options, "--resume") == 130
    assert not output.exists() and "--resume" in capsys.readouterr().err
    partial = tmp_path / "out.jsonl.partial"
    assert len(partial.read_text().splitlines()) == 1 + 4  # a header, then two blocks of two problems
    fail, calls[:] = False, []
    assert solve(tiny_model_dir, source, output, *options, "--resume") == 0
    assert calls == [2, 2] and "4 of 8 problems read back" in capsys.readouterr().err
    assert output.read_bytes() == whole.read_bytes() and not partial.exists()

    partial.write_text(json.dumps({"run": "another"}) + "\n")
    assert solve(tiny_model_dir, source, output, *options, "--resume") == 2
    assert "other options" in assert_one_line_error(capsys)
    partial.write_text("[1]\n")  # JSON, but no header (it raised AttributeError)
    assert solve(tiny_model_dir, source, output, *options, "--resume") == 2
    assert "other options" in assert_one_line_error(capsys)
