"""The strategy registry (`tsc.strategies.STRATEGIES`): every table that lists strategies is
derived from it, and adding a strategy is one module plus one entry."""

from __future__ import annotations

import inspect
import json

import pytest
from fakes import ScriptedPolicy

import tsc.cli as cli
import tsc.strategies as strategies
from tsc.compute import Ledger
from tsc.core import Result
from tsc.experiments.ch09 import ARITHMETIC_ROWS, COUNTDOWN_ROWS
from tsc.strategies import FAMILIES, STRATEGIES, Strategy, get_strategy, solve_many
from tsc.strategies.adaptive import follow_up
from tsc.tasks.countdown import Countdown

P = Countdown((13, 4, 7, 2), 48)
RIGHT = "13-7=6,6*4=24,24*2=48."
WRONG = "13+4=17,17+7=24,24*2=48."


def test_the_command_line_offers_exactly_the_registry():
    solve = next(a for a in cli._parser()._subparsers._group_actions[0].choices["solve"]._actions if a.dest == "strategy")
    assert list(solve.choices) == sorted(STRATEGIES)


@pytest.mark.parametrize("name", sorted(STRATEGIES))
def test_each_record_is_consistent_with_its_function(name):
    record = STRATEGIES[name]
    assert record.name == name and record.family in FAMILIES and get_strategy(name) is record
    takes = cli._takes(record)
    assert record.budget is None or record.budget in takes, "the budget knob is a keyword of the function"
    assert set(record.knobs) <= set(takes), "every command-line knob is a keyword of the function"
    assert ("verifier" in takes) == (record.verifier != "none")
    if record.needs_verifier:
        assert takes["verifier"].default is inspect.Parameter.empty, "a strategy that needs a verifier has no default one"
    if record.batched is not None:
        assert "seeds" in inspect.signature(record.batched).parameters
    if record.check is not None:  # the check takes the knobs it checks by keyword, each optional
        params = inspect.signature(record.check).parameters
        assert all(p.kind is p.KEYWORD_ONLY and p.default is not p.empty for p in params.values())
        record.check()  # nothing given: nothing to complain about
    for knob in record.knobs:
        assert cli.knob_type(knob) in (int, float, str) and name in cli.knob_help(knob)


def test_every_strategy_has_a_colour_of_its_own():
    from tsc.viz.colors import color

    colours = [color(name) for name in STRATEGIES]
    assert len(set(colours)) == len(colours) and all(c.startswith("#") for c in colours)


def test_bad_records_are_refused():
    with pytest.raises(ValueError, match="family"):
        Strategy("x", lambda problem, policy: None, family="magic", budget=None, color="#000000")
    with pytest.raises(ValueError, match="verifier"):
        Strategy("x", lambda problem, policy: None, family="single", budget=None, color="#000000", verifier="sometimes")
    with pytest.raises(ValueError, match="unknown strategy 'telepathy'; known: "):
        get_strategy("telepathy")


def test_the_map_and_compute_optimal_read_the_registry():
    for row in COUNTDOWN_ROWS + ARITHMETIC_ROWS:
        assert row[1] in STRATEGIES
    assert {STRATEGIES[row[1]].family for row in COUNTDOWN_ROWS} == {"single", "parallel", "sequential", "search", "adaptive"}
    assert follow_up("beam") is STRATEGIES["beam"] and follow_up("thinker") is None and follow_up("telepathy") is None


def test_a_record_and_its_function_solve_alike():
    policy = ScriptedPolicy({P.prompt(): [WRONG, RIGHT, RIGHT, WRONG]})
    by_record = solve_many(STRATEGIES["majority"], [P, P], policy, seed=3, n=4)
    calls = len(policy.calls)
    by_function = solve_many(strategies.majority_vote, [P, P], policy, seed=3, n=4)
    assert [r.answer for r in by_record] == [r.answer for r in by_function]
    assert calls == 1 and len(policy.calls) == 2  # the batched form: both problems in one policy call


def echo(problem, policy, *, loudness: int = 3, seed: int = 0, max_new_tokens: int = 64) -> Result:
    """A strategy for the test: the first scripted completion, ``loudness`` times charged."""
    [[completion]] = policy.sample([policy.format(problem)], n=1, temperature=0.0, max_new_tokens=max_new_tokens)
    return Result(
        answer=completion.text, correct=problem.check(completion.text), ledger=Ledger(), strategy="echo", trace={"loudness": loudness}
    )


def check_echo(*, loudness=None) -> None:
    if loudness is not None and loudness < 1:
        raise ValueError(f"loudness must be at least 1, got {loudness}")


def test_one_entry_adds_a_strategy_to_the_command_line(tmp_path, tiny_model_dir, monkeypatch, capsys):
    """A new strategy is a function and one entry: its name, flag, help and check appear."""
    monkeypatch.setitem(
        STRATEGIES,
        "echo",
        Strategy("echo", echo, "single", "loudness", "#123456", knobs={"loudness": "times to say it"}, check=check_echo),
    )
    assert "echo: times to say it (default 3)" in cli.knob_help("loudness") and cli.knob_type("loudness") is int
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"numbers": [13, 4, 7, 2], "target": 48}) + "\n")
    out = tmp_path / "out.jsonl"
    common = ["solve", "--model", str(tiny_model_dir), "--strategy", "echo", "--input", str(source), "--output", str(out)]
    assert cli.main([*common, "--loudness", "0"]) == 2
    assert capsys.readouterr().err.startswith("error: --loudness: loudness must be at least 1") and not out.exists()
    assert cli.main([*common, "--loudness", "2"]) == 0
    [line] = [json.loads(x) for x in out.read_text().splitlines()]
    assert "error" not in line and line["completion"]


def test_a_failing_problem_is_solved_once(tmp_path, monkeypatch):
    """`solve` records a problem's error from its one run (it used to run it a second time to read the error)."""
    runs = []

    def fails(problem, policy, *, seed: int = 0, max_new_tokens: int = 64) -> Result:
        runs.append(problem)
        raise ValueError("this problem is too long for the model\nsecond line")

    record = Strategy("fails", fails, family="single", budget=None, color="#000000")
    assert cli._solve_block([P], record, ScriptedPolicy({}), {"seed": 0}) == ["this problem is too long for the model"]
    assert len(runs) == 1
