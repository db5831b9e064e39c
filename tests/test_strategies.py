"""Strategies and the sample-table analysis, on a scripted fake policy with known answers."""

from __future__ import annotations

import math
from dataclasses import FrozenInstanceError

import numpy as np
import pytest
from fakes import FLOPS_PER_TOKEN, ScriptedPolicy, countdown_prompt_problem

from tsc.analysis import coverage, draw, majority_accuracy, pass_at_k, sweep, wilson
from tsc.core import Policy, Result, Verifier, problem_seed
from tsc.evaluation import evaluate_policy
from tsc.strategies import (
    STRATEGIES,
    beam_search,
    best_of_n,
    budget_forcing,
    compute_optimal,
    deepconf,
    dfs,
    dvts,
    early_stop,
    greedy,
    majority_vote,
    mcts,
    particle_filter,
    revise,
    sample,
    self_refine,
    short_m_at_k,
    thinker,
    tot_bfs,
    weighted_vote,
)
from tsc.strategies.free_energy import free_energy
from tsc.tasks.countdown import Countdown
from tsc.verifiers import Oracle

P = Countdown((1, 2, 3, 4), 21)
A = "1+2=3,3+4=7,7*3=21."  # correct
A2 = "2+1=3,4+3=7,3*7=21."  # the same solution written differently: votes with A
C = "4+2=6,6+1=7,7*3=21."  # a different correct solution
W = "1+2=3,3*4=12,12+3=15."  # well formed, wrong
M = "banana."  # malformed

Q = Countdown((2, 3, 4), 20)
Q_RIGHT = "2+3=5,5*4=20."
Q_WRONG = "2*3=6,6+4=10."

R = Countdown((5, 6, 7), 18)  # no sample ever solves it
R_WRONG = "5+6=11,11+7=19."


def expected_tokens(problem, texts) -> int:
    """What the fake charges for these completions of ``problem``."""
    return sum(len(problem.prompt()) + 1 + len(t) for t in texts)


def test_fake_implements_the_protocol():
    assert isinstance(ScriptedPolicy({}), Policy)
    assert isinstance(Oracle(), Verifier)


def test_problem_fixtures_are_what_the_tests_assume():
    assert P.check(A) and P.check(A2) and P.check(C)
    assert not P.check(W) and not P.check(M)
    assert P.answer_key(A) == P.answer_key(A2) != P.answer_key(C)
    assert P.answer_key(W) is not None and P.answer_key(M) is None
    assert Q.check(Q_RIGHT) and not Q.check(Q_WRONG) and not R.check(R_WRONG)


def test_greedy_decodes_at_temperature_zero_and_charges_the_ledger():
    policy = ScriptedPolicy({P.prompt(): [W, A, A, A]})
    result = greedy(P, policy, n=8, seed=5)  # budget knobs that greedy does not use are ignored
    assert policy.calls == [{"prompts": [P.prompt()], "n": 1, "temperature": 0.0, "seed": [0], "max_new_tokens": 64}]
    assert isinstance(result, Result)
    assert (result.answer, result.correct, result.chosen, result.strategy) == (W, False, 0, "greedy")
    assert result.ledger.tokens == expected_tokens(P, [W])
    assert result.ledger.flops == FLOPS_PER_TOKEN * result.ledger.tokens
    assert result.ledger.samples == 1 and result.ledger.calls == 1
    with pytest.raises(FrozenInstanceError):
        result.answer = A


def test_sample_uses_temperature_and_seed():
    policy = ScriptedPolicy({P.prompt(): [W, A, M]})
    result = sample(P, policy, temperature=0.7, seed=1, max_new_tokens=40)
    assert policy.calls[0]["temperature"] == 0.7 and policy.calls[0]["max_new_tokens"] == 40
    assert result.answer == A and result.correct
    assert sample(P, policy, seed=2).answer == M
    assert not sample(P, policy, seed=2).correct


def test_best_of_n_with_the_oracle_picks_a_correct_sample():
    policy = ScriptedPolicy({P.prompt(): [W, M, C, W]})
    result = best_of_n(P, policy, n=4, verifier=Oracle())
    assert result.answer == C and result.correct and result.chosen == 2
    assert result.scores == (0.0, 0.0, 1.0, 0.0)
    assert result.candidates == (W, M, C, W)
    assert result.ledger.samples == 4
    assert result.ledger.calls == 2  # one policy call, one verifier call
    assert result.ledger.tokens == expected_tokens(P, [W, M, C, W])


def test_best_of_n_ties_go_to_the_first_and_the_verifier_decides():
    policy = ScriptedPolicy({P.prompt(): [W, M, W]})
    result = best_of_n(P, policy, n=3, verifier=Oracle())
    assert result.chosen == 0 and not result.correct

    class PrefersLong:
        def score(self, problem, texts, *, ledger=None):
            if ledger is not None:
                ledger.charge_verifier(tokens=sum(map(len, texts)), flops=7)
            return [len(t) for t in texts]

    policy = ScriptedPolicy({P.prompt(): [A, W, M]})
    result = best_of_n(P, policy, n=3, verifier=PrefersLong())
    assert result.answer == W and not result.correct  # the verifier is trusted, even when wrong
    assert result.ledger.verifier_tokens == len(A) + len(W) + len(M)
    assert result.ledger.flops == FLOPS_PER_TOKEN * result.ledger.tokens + 7


def test_best_of_n_needs_a_verifier():
    with pytest.raises(ValueError, match="verifier"):
        best_of_n(P, ScriptedPolicy({P.prompt(): [A]}), n=2, verifier=None)


def test_majority_vote_picks_the_most_common_answer():
    policy = ScriptedPolicy({P.prompt(): [W, A, M, A2, C]})
    result = majority_vote(P, policy, n=5, temperature=0.8, seed=0)
    assert result.chosen == 1 and result.answer == A and result.correct
    assert result.scores == (1.0, 2.0, 0.0, 2.0, 1.0)
    assert result.ledger.tokens == expected_tokens(P, [W, A, M, A2, C])
    assert result.ledger.samples == 5 and policy.calls[0]["temperature"] == 0.8


def test_majority_vote_malformed_do_not_vote():
    policy = ScriptedPolicy({P.prompt(): [M, M, M, W]})
    result = majority_vote(P, policy, n=4)
    assert result.answer == W and result.chosen == 3 and not result.correct

    result = majority_vote(P, ScriptedPolicy({P.prompt(): [M, "", "1+"]}), n=3)
    assert result.answer is None and result.chosen is None and not result.correct
    assert result.candidates == (M, "", "1+")
    assert result.ledger.samples == 3  # the wasted samples are still paid for


def test_majority_vote_tie_goes_to_the_first_key():
    assert majority_vote(P, ScriptedPolicy({P.prompt(): [W, A]}), n=2).answer == W
    assert majority_vote(P, ScriptedPolicy({P.prompt(): [A, W]}), n=2).answer == A


@pytest.mark.parametrize("n", [0, -1, True, 2.5])
def test_strategies_reject_bad_budgets(n):
    policy = ScriptedPolicy({P.prompt(): [A]})
    with pytest.raises(ValueError):
        majority_vote(P, policy, n=n)
    with pytest.raises(ValueError):
        best_of_n(P, policy, n=n, verifier=Oracle())


def test_strategies_reject_negative_temperature():
    with pytest.raises(ValueError):
        sample(P, ScriptedPolicy({P.prompt(): [A]}), temperature=-0.1)


class TableVerifier:
    """Scores each text from a table (0.0 for texts not in it), charging 5 FLOPs per text."""

    def __init__(self, table: dict[str, float]):
        self.table = table

    def score(self, problem, texts, *, ledger=None):
        if ledger is not None:
            ledger.charge_verifier(tokens=len(texts), flops=5 * len(texts))
        return [self.table.get(t, 0.0) for t in texts]


def test_weighted_vote_picks_the_heaviest_answer_not_the_most_frequent():
    policy = ScriptedPolicy({P.prompt(): [W, W, A, W, A2, M]})
    verifier = TableVerifier({W: 0.2, A: 0.3, A2: 0.4, M: 5.0})
    assert majority_vote(P, policy, n=6).answer == W  # three votes for W, two for A
    result = weighted_vote(P, policy, n=6, verifier=verifier, temperature=0.8, seed=0)
    assert result.strategy == "weighted_vote"
    assert result.answer == A2 and result.chosen == 4 and result.correct  # A's key weighs 0.7 > 0.6; its best member
    assert result.scores == pytest.approx((0.6, 0.6, 0.7, 0.6, 0.7, 0.0))  # the malformed sample's 5.0 is no vote
    assert result.trace["verifier_scores"] == [0.2, 0.2, 0.3, 0.2, 0.4, 5.0]
    assert sorted(result.trace["weights"].values()) == pytest.approx([0.6, 0.7])
    assert result.ledger.samples == 6 and result.ledger.calls == 2
    assert result.ledger.verifier_flops == 30 and result.ledger.flops == FLOPS_PER_TOKEN * result.ledger.tokens + 30
    assert policy.calls[-1]["temperature"] == 0.8


def test_weighted_vote_ties_go_to_the_first_key_and_malformed_samples_do_not_vote():
    verifier = TableVerifier({W: 0.5, A: 0.5})
    assert weighted_vote(P, ScriptedPolicy({P.prompt(): [W, A]}), n=2, verifier=verifier).answer == W
    assert weighted_vote(P, ScriptedPolicy({P.prompt(): [A, W]}), n=2, verifier=verifier).answer == A
    result = weighted_vote(P, ScriptedPolicy({P.prompt(): [M, "", "1+"]}), n=3, verifier=TableVerifier({M: 1.0}))
    assert result.answer is None and result.chosen is None and not result.correct and result.ledger.samples == 3


def test_weighted_vote_with_the_oracle_and_bad_knobs():
    result = weighted_vote(P, ScriptedPolicy({P.prompt(): [W, W, W, C]}), n=4, verifier=Oracle())
    assert result.answer == C and result.correct  # the oracle's weight is all on correct answers
    with pytest.raises(ValueError, match="verifier"):
        weighted_vote(P, ScriptedPolicy({P.prompt(): [A]}), n=2, verifier=None)
    with pytest.raises(ValueError):
        weighted_vote(P, ScriptedPolicy({P.prompt(): [A]}), n=0, verifier=Oracle())


def test_strategy_registry():
    assert {name: s.run for name, s in STRATEGIES.items()} == {
        "greedy": greedy,
        "sample": sample,
        "best_of_n": best_of_n,
        "majority": majority_vote,
        "weighted_vote": weighted_vote,
        "self_refine": self_refine,
        "revise": revise,
        "beam": beam_search,
        "dvts": dvts,
        "tot_bfs": tot_bfs,
        "dfs": dfs,
        "mcts": mcts,
        "particle_filter": particle_filter,
        "budget_forcing": budget_forcing,
        "short_m_at_k": short_m_at_k,
        "early_stop": early_stop,
        "deepconf": deepconf,
        "free_energy": free_energy,
        "compute_optimal": compute_optimal,
        "thinker": thinker,
    }


# --- analysis on the fake: sample tables, coverage, voting, sweeps ----------------------

SCRIPT = {
    P.prompt(): [A, W, M, W],  # 1 of 4 correct; the vote goes to W
    Q.prompt(): [Q_RIGHT, Q_RIGHT, Q_WRONG, Q_RIGHT],  # 3 of 4 correct; the vote is right
    R.prompt(): [R_WRONG, M, R_WRONG, R_WRONG],  # never correct
}


def test_draw_grades_every_sample():
    policy = ScriptedPolicy(SCRIPT)
    table = draw([P, Q, R], policy, n=4, seed=0)
    assert table.n == 4 and len(policy.calls) == 1  # one batched call, each problem on its own stream
    start = problem_seed(0, P) % 4  # the scripted policy cycles through its texts from the seed
    assert table.texts[0] == tuple((SCRIPT[P.prompt()] * 2)[start : start + 4])
    assert table.correct.sum(axis=1).tolist() == [1, 3, 0]
    assert all(table.correct[i, j] == p.check(t) for i, p in enumerate([P, Q, R]) for j, t in enumerate(table.texts[i]))
    assert all((key is None) == (text == M) for keys, texts in zip(table.keys, table.texts) for key, text in zip(keys, texts))
    assert table.tokens.shape == table.logprobs.shape == (3, 4)
    assert table.tokens[0].tolist() == [len(t) for t in table.texts[0]]
    assert table.ledger.samples == 12
    assert draw([Q, P], policy, n=4, seed=0).texts[1] == table.texts[0]  # a problem's samples do not depend on the others
    assert table.ledger.tokens == sum(expected_tokens(p, SCRIPT[p.prompt()]) for p in (P, Q, R))
    with pytest.raises(ValueError):
        draw([P], ScriptedPolicy(SCRIPT), n=0)


def test_coverage_from_known_answers():
    table = draw([P], ScriptedPolicy(SCRIPT), n=4)
    cov = coverage(table, [1, 2, 4])
    assert cov["k"].tolist() == [1, 2, 4]
    assert cov["mean"].tolist() == pytest.approx([0.25, 0.5, 1.0])

    table = draw([P, Q, R], ScriptedPolicy(SCRIPT), n=4)
    cov = coverage(table, [1, 2, 4])
    expected = [np.mean([pass_at_k(4, c, k) for c in (1, 3, 0)]) for k in (1, 2, 4)]
    assert cov["mean"].tolist() == pytest.approx(expected)
    assert cov["mean"][0] == pytest.approx(1 / 3) and cov["mean"][2] == pytest.approx(2 / 3)
    assert np.all(cov["low"] <= cov["mean"]) and np.all(cov["mean"] <= cov["high"])
    assert cov["high"][2] > cov["low"][2]  # problems differ, so the interval has width

    only_q = coverage(table.subset([False, True, False]), [1, 4])
    assert only_q["mean"].tolist() == pytest.approx([0.75, 1.0])


def test_majority_accuracy_from_known_answers():
    table = draw([P, Q, R], ScriptedPolicy(SCRIPT), n=4)
    full = majority_accuracy(table, [4])
    assert full["mean"][0] == pytest.approx(1 / 3)  # only Q's vote is right
    single = majority_accuracy(table, [1], trials=400, seed=1)
    # one vote is one sample: accuracy is pass@1 (P: 1/4, Q: 3/4, R: 0), up to sampling noise
    assert single["mean"][0] == pytest.approx(1 / 3, abs=0.06)
    assert majority_accuracy(table, [1], trials=400, seed=1)["mean"][0] == single["mean"][0]


def test_sweep_rows():
    policy = ScriptedPolicy(SCRIPT)
    rows = sweep(majority_vote, [P, Q], policy, budgets=[1, 4], seeds=[0, 1])
    assert [(r["budget"], r["seed"]) for r in rows] == [(1, 0), (1, 1), (4, 0), (4, 1)]
    # each problem is solved with its own seed, derived from the row's seed and the problem
    for row in rows:
        seeds = {p: problem_seed(row["seed"], p) for p in (P, Q)}
        assert seeds[P] != seeds[Q]
        expected = np.mean([majority_vote(p, policy, n=row["budget"], seed=seeds[p]).correct for p in (P, Q)])
        assert row["accuracy"] == expected
        assert (row["low"], row["high"]) == pytest.approx(wilson(round(row["accuracy"] * 2), 2))
        picked = {p: [SCRIPT[p.prompt()][(seeds[p] + j) % 4] for j in range(row["budget"])] for p in (P, Q)}
        assert row["tokens"] == pytest.approx(np.mean([expected_tokens(p, t) for p, t in picked.items()]))
        assert row["flops"] == pytest.approx(FLOPS_PER_TOKEN * row["tokens"])

    rows = sweep(best_of_n, [P, Q, R], policy, budgets=[4], seeds=[0], verifier=Oracle())
    assert rows[0]["accuracy"] == pytest.approx(2 / 3)  # with the oracle, best-of-n is coverage


def test_sweep_over_another_knob_keeps_each_problem(tmp_path):
    policy = ScriptedPolicy(SCRIPT)
    cache = tmp_path / "rows.jsonl"
    rows = sweep(best_of_n, [P, Q, R], policy, budgets=[2], seeds=[0], knob="n", per_problem=True, verifier=Oracle(), cache=cache)
    results = [best_of_n(p, policy, n=2, seed=problem_seed(0, p), verifier=Oracle()) for p in (P, Q, R)]
    assert rows[0]["correct"] == [r.correct for r in results] and rows[0]["each_flops"] == [r.ledger.flops for r in results]
    again = sweep(best_of_n, [P, Q, R], policy, budgets=[2], seeds=[0], knob="n", per_problem=True, verifier=Oracle(), cache=cache)
    assert again == rows and len(cache.read_text().splitlines()) == 1  # read back, not recomputed
    # the budget can go to any keyword: here the samples of majority voting, named explicitly
    named = sweep(majority_vote, [P, Q], policy, budgets=[4], seeds=[1], knob="n")
    assert named == sweep(majority_vote, [P, Q], policy, budgets=[4], seeds=[1])
    with pytest.raises(ValueError, match="knob"):
        sweep(majority_vote, [P], policy, budgets=[4], seeds=[0], knob="n", n=3)
    with pytest.raises(ValueError, match="knob"):
        sweep(majority_vote, [P], policy, budgets=[4], seeds=[0], knob="seed")


def test_sweep_cache_fetch_computes_once_and_reads_back(tmp_path):
    from tsc.analysis import SweepCache, config_key

    calls = []
    store = SweepCache(tmp_path / "rows.jsonl")
    row = store.fetch({"b": 1, "a": [2]}, lambda: calls.append(1) or {"x": 1})
    assert row == {"x": 1} and store.fetch({"a": [2], "b": 1}, lambda: calls.append(1) or {"x": 2}) == {"x": 1}
    assert calls == [1] and store.get(config_key({"a": [2], "b": 1})) == {"x": 1}
    assert SweepCache(tmp_path / "rows.jsonl").fetch({"a": [2], "b": 1}, dict) == {"x": 1}  # from the file


def test_evaluate_policy_card_figures_on_a_half_right_fake():
    def script(prompt):
        problem = countdown_prompt_problem(prompt)
        return [problem.solution_text(problem.solve()), "x."]  # one right, one malformed

    card = evaluate_policy(ScriptedPolicy(script), per_size=3, sizes=(3,), n=32, vote_n=4, seed=1)
    overall = card["overall"]
    assert overall["problems"] == 3 and set(card["by_size"]) == {"3"}
    assert overall["greedy"]["value"] == 1.0  # greedy returns the first text: the solution
    assert overall["pass@1"]["value"] == 0.5
    assert overall["pass@4"]["value"] == pytest.approx(1 - math.comb(16, 4) / math.comb(32, 4), abs=1e-4)
    assert overall["majority@4"]["value"] == 1.0  # the malformed half never votes
    assert card["by_size"]["3"]["pass@1"] == overall["pass@1"]
