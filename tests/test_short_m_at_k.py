"""short-m@k (Hassid et al. 2025): the first m chains to finish vote; the sampler stops the rest.

On the scripted fake (whose completions are as long as their text) the strategy's choice is
checked exactly: the shortest chains vote, ties go to the shortest, unanswered chains do not
vote. On a real model the sampler's ``stop_after`` is checked against a full draw: the first
m to finish are the m shortest of the same draw, the others are prefixes of their full
texts, and only what was computed is charged (on both sampling paths).
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import build_tiny_policy
from fakes import ScriptedPolicy

from tsc.compute import Ledger
from tsc.strategies import STRATEGIES, solve_many
from tsc.strategies.short_m_at_k import short_m_at_k
from tsc.tasks.countdown import Countdown

P = Countdown((13, 4, 7, 2), 48)
RIGHT = "13-7=6,6*4=24,24*2=48."  # 22 characters
RIGHT_LONG = "13+4=17 7 2,17+7=24 2,24*2=48>48#13+4=17,17+7=24,24*2=48."
WRONG = "13+4=17,17+7=24,24+2=26."
WRONG_2 = "13*4=52,52-7=45,45+2=47."
EXHAUSTED = "#."


def test_short_1_answers_with_the_first_chain_to_finish():
    policy = ScriptedPolicy({P.prompt(): [RIGHT_LONG, WRONG, RIGHT, WRONG_2]})
    result = short_m_at_k(P, policy, n=4, m=1, seed=0)
    assert result.answer == RIGHT and result.correct  # the shortest of the four
    assert result.trace["steps"] == len(RIGHT) and result.candidates == (RIGHT,)


def test_the_first_m_vote_and_ties_go_to_the_shortest():
    policy = ScriptedPolicy({P.prompt(): [WRONG, WRONG_2, RIGHT_LONG, WRONG]})
    three = short_m_at_k(P, policy, n=4, m=3, seed=0)  # voters: WRONG, WRONG_2, WRONG (the long right one is last)
    assert three.answer == WRONG and not three.correct and three.scores == (2.0, 1.0, 2.0)
    two = short_m_at_k(P, policy, n=4, m=2, seed=0)  # WRONG and WRONG_2 tie at one vote each: the first to finish wins
    assert two.candidates == (WRONG, WRONG_2) and two.answer == WRONG and two.scores == (1.0, 1.0)
    right = short_m_at_k(P, ScriptedPolicy({P.prompt(): [RIGHT, WRONG, RIGHT, RIGHT_LONG]}), n=4, m=3, seed=0)
    assert right.correct and right.scores.count(2.0) == 2


def test_a_chain_without_an_answer_does_not_vote():
    policy = ScriptedPolicy({P.prompt(): [EXHAUSTED, RIGHT_LONG]})
    assert short_m_at_k(P, policy, n=2, m=1, seed=0).answer is None  # the first to finish found nothing
    result = short_m_at_k(P, policy, n=2, m=2, seed=0)
    assert result.correct and result.scores == (0.0, 1.0)


def test_budget_respected():
    policy = ScriptedPolicy({P.prompt(): [RIGHT_LONG, WRONG, RIGHT, WRONG_2]})
    result = short_m_at_k(P, policy, n=4, m=2, seed=0, max_new_tokens=40)
    assert result.ledger.samples == 4 and len(policy.calls) == 1 and policy.calls[0]["n"] == 4
    assert result.ledger.generated_tokens <= 4 * 40
    assert all(length <= 40 for length in result.trace["lengths"])


@pytest.mark.parametrize(
    "knobs, message",
    [
        ({"n": 0}, "n .*positive integer"),
        ({"n": 4, "m": 5}, "m .*from 1 to n \\(4\\)"),
        ({"n": 4, "m": 0}, "m .*from 1 to n"),
        ({"n": 4, "m": 1.5}, "m .*integer"),
        ({"n": 4, "temperature": -1}, "temperature"),
    ],
)
def test_bad_knobs_are_refused_in_one_line(knobs, message):
    with pytest.raises(ValueError, match=message) as error:
        short_m_at_k(P, ScriptedPolicy({P.prompt(): [RIGHT]}), **knobs)
    assert "\n" not in str(error.value)


def test_registered():
    assert STRATEGIES["short_m_at_k"].run is short_m_at_k and STRATEGIES["short_m_at_k"].family == "parallel"


@pytest.mark.parametrize("lean", [True, False])
def test_stop_after_cuts_the_draw_at_the_m_th_finish(lean):
    policy = build_tiny_policy(seed=3)
    policy.lean = lean  # both sampling paths: the lean one and transformers'
    prompts = ["13 4 7 2>48:", "3 5 7>26:"]
    full_ledger, cut_ledger = Ledger(), Ledger()
    full = policy.sample(prompts, n=8, temperature=1.0, seed=[5, 6], max_new_tokens=30, ledger=full_ledger)
    cut = policy.sample(prompts, n=8, temperature=1.0, seed=[5, 6], max_new_tokens=30, ledger=cut_ledger, stop_after=3)
    for whole, short in zip(full, cut):
        finished = sorted((c for c in whole if c.num_tokens < 30), key=lambda c: c.num_tokens)  # ended at '.' or an end token
        assert len(finished) >= 3, "the tiny model should finish most of its samples"
        first = [c.text for c in short[:3]]
        assert sorted(first) == sorted(c.text for c in finished[:3])
        assert [c.num_tokens for c in short[:3]] == sorted(c.num_tokens for c in short[:3])
        for completion in short[3:]:  # cut when the third finished: a prefix of its whole text
            assert completion.num_tokens == short[2].num_tokens
            assert any(c.text.startswith(completion.text) for c in whole)
    assert cut_ledger.generated_tokens == sum(c.num_tokens for row in cut for c in row) < full_ledger.generated_tokens
    assert cut_ledger.flops < full_ledger.flops
    with pytest.raises(ValueError, match="stop_after"):
        policy.sample(prompts, n=4, stop_after=5)


def test_batched_runs_equal_one_at_a_time():
    policy = build_tiny_policy(seed=3)
    problems = [P, Countdown((3, 5, 7), 26)]
    together = solve_many(short_m_at_k, problems, policy, seed=1, n=6, m=2, max_new_tokens=30)
    alone = [solve_many(short_m_at_k, [p], policy, seed=1, n=6, m=2, max_new_tokens=30)[0] for p in problems]
    assert [r.candidates for r in together] == [r.candidates for r in alone]


def test_cli_refuses_bad_knobs_in_one_line(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text('{"numbers": [13, 4, 7], "target": 24}\n')
    for extra, message in ((["--n", "4", "--m", "5"], "--m: m (chains waited for"), (["--n", "0"], "--n:")):
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "tsc",
                "solve",
                "--strategy",
                "short_m_at_k",
                *extra,
                "--input",
                str(source),
                "--output",
                str(tmp_path / "o"),
            ],
            capture_output=True,
            text=True,
        )
        assert run.returncode == 2 and message in run.stderr and run.stderr.count("\n") == 1, run.stderr


def test_replay_from_a_table_equals_the_live_run():
    from tsc.analysis import draw
    from tsc.replay import check_replay

    policy = build_tiny_policy(seed=3)
    problems = [P, Countdown((3, 5, 7), 26), Countdown((2, 9, 6, 6), 30)]
    table = draw(problems, policy, n=6, temperature=1.0, seed=4, max_new_tokens=30)
    report = check_replay(short_m_at_k, problems, policy, table, seed=4, n=6, m=2, max_new_tokens=30)
    assert report["same_answer"] == report["same_tokens"] == 3 and abs(report["flops_ratio"] - 1) < 1e-9, report
