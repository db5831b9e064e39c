"""Tree search over steps (beam, DVTS, ToT BFS/DFS, MCTS) on scripted fakes with known answers."""

from __future__ import annotations

import math

import pytest
from fakes import (
    FLOPS_PER_TOKEN,
    PROMPT,
    TREE,
    VERIFIER_FLOPS_PER_TOKEN,
    A,
    P,
    ScriptedStepVerifier,
    StepPolicy,
    TinyStepOracle,
    valued,
)

from tsc.core import Result
from tsc.strategies import STRATEGIES, beam_search, dfs, dvts, mcts, tot_bfs
from tsc.strategies.search import AGGREGATES, check_search_knobs
from tsc.tasks.countdown import Countdown
from tsc.verifiers import Oracle, StepOracle

SEARCHES = {"beam": beam_search, "dvts": dvts, "tot_bfs": tot_bfs, "dfs": dfs, "mcts": mcts}


def tree_of(result: Result) -> dict[str, dict]:
    return {node["text"]: node for node in result.trace["tree"]}


def test_the_scripted_tree_is_what_the_tests_assume():
    assert P.check(A)
    oracle = TinyStepOracle()
    # a partial solution is judged as if finished by the oracle: the search sends it with an empty last step
    assert oracle.score_steps(P, ["1+2=3,", "1+2=3,.", "4*3=12,."]) == [[0.0], [1.0, 0.0], [0.0, 0.0]]
    assert set(AGGREGATES) == {"last", "min", "product"}


def test_search_aggregates_are_the_verifiers():
    from tsc.verifiers import AGGREGATES as LEARNED

    for name, how in AGGREGATES.items():
        for scores in ([0.9, 0.5, 0.8], [0.2], [1.0, 0.0]):
            assert how(scores) == pytest.approx(LEARNED[name](scores))
    assert set(AGGREGATES) == set(LEARNED)


# --- beam search --------------------------------------------------------------------------


def test_beam_search_with_the_step_oracle_finds_the_solution_and_keeps_the_best_beams():
    policy, verifier = StepPolicy(), TinyStepOracle()
    result = beam_search(P, policy, verifier=verifier, beam_width=1, expansions=2, seed=3)
    assert isinstance(result, Result) and result.strategy == "beam"
    assert result.answer == A and result.correct and result.candidates[result.chosen] == A
    # one batched policy call per depth, one step at a time; only the best beam is expanded
    assert [c["prompts"] for c in policy.calls] == [[PROMPT], [PROMPT + "1+2=3,"], [PROMPT + "1+2=3,3+4=7,"]]
    assert [c["n"] for c in policy.calls] == [2, 2, 2]  # the root samples beam_width * expansions
    assert [c["seed"] for c in policy.calls] == [3, 4, 5]
    assert all(c["stop"] == (",", ".") for c in policy.calls)
    nodes = tree_of(result)
    assert nodes["1+2=3,"]["kept"] and not nodes["4*3=12,"]["kept"]
    assert nodes["1+2=3,3+4=7,"]["kept"] and not nodes["1+2=3,3*4=12,"]["kept"]
    assert nodes["1+2=3,"]["score"] == 1.0 and nodes["4*3=12,"]["score"] == 0.0
    assert [n["text"] for n in result.trace["tree"] if n["chosen"]] == ["", "1+2=3,", "1+2=3,3+4=7,", A]
    # the verifier read every partial solution followed by an empty last step, each text once
    assert [sorted(c["texts"]) for c in verifier.calls] == [["1+2=3,.", "4*3=12,."], ["1+2=3,3*4=12,.", "1+2=3,3+4=7,."], [A]]


def test_beam_search_keeps_beam_width_beams_and_stops_when_as_many_have_finished():
    policy = StepPolicy()
    result = beam_search(P, policy, verifier=TinyStepOracle(), beam_width=2, expansions=2)
    # depth 2 expands both first steps; depth 3 the two best of their four children
    assert [len(c["prompts"]) for c in policy.calls] == [1, 2, 2]
    assert policy.calls[1]["prompts"] == [PROMPT + "1+2=3,", PROMPT + "4*3=12,"]
    assert policy.calls[2]["prompts"][0] == PROMPT + "1+2=3,3+4=7,"  # the live prefix comes first
    assert result.answer == A and len(result.candidates) == 2  # two finished: the search stopped
    assert result.scores[result.chosen] == max(result.scores) == 1.0


def test_beam_search_ranks_by_the_verifier_and_the_aggregate():
    values = {"1+2=3,": 0.4, "4*3=12,": 0.6, "4*3=12,12+2=14,": 0.9, "4*3=12,12+2=14,14+1=15.": 0.7, "4*3=12,12-2=10,": 0.1}
    last = beam_search(P, StepPolicy(), verifier=valued(values), beam_width=1, expansions=2)
    assert last.answer == "4*3=12,12+2=14,14+1=15." and not last.correct  # a wrong verifier misleads the search
    assert last.scores[last.chosen] == 0.7
    low = beam_search(P, StepPolicy(), verifier=valued(values), beam_width=1, expansions=2, aggregate="min")
    assert low.scores[low.chosen] == pytest.approx(0.6)


# --- DVTS and ToT BFS -----------------------------------------------------------------------


def test_dvts_grows_independent_subtrees_of_width_one():
    policy = StepPolicy()
    result = dvts(P, policy, verifier=TinyStepOracle(), subtrees=2, expansions=2)
    assert result.strategy == "dvts" and result.answer == A and result.correct
    assert policy.calls[0]["prompts"] == [PROMPT, PROMPT] and policy.calls[0]["n"] == 2  # each subtree samples its own
    groups = {n["group"] for n in result.trace["tree"][1:]}
    assert groups == {0, 1}
    # each subtree keeps one node per depth
    for group in groups:
        for depth in (1, 2):
            assert sum(n["kept"] and not n["finished"] for n in result.trace["tree"] if (n["group"], n["depth"]) == (group, depth)) <= 1


@pytest.mark.parametrize("breadth", [1, 5])
def test_tot_bfs_keeps_the_breadth_best_states(breadth):
    policy = StepPolicy()
    result = tot_bfs(P, policy, verifier=TinyStepOracle(), breadth=breadth, expansions=2)
    assert result.strategy == "tot_bfs" and result.answer == A and result.correct
    for depth in (1, 2, 3):
        assert sum(n["kept"] for n in result.trace["tree"] if n["depth"] == depth) <= breadth
    expanded = sum(len(c["prompts"]) for c in policy.calls)
    assert expanded == (3 if breadth == 1 else 1 + 2 + 4)  # greedy by value, or the whole tree


def test_tot_bfs_ends_when_every_kept_state_is_finished():
    tree = dict(TREE, **{"": ["1+2=3,", "5+5=10."]})
    values = {"5+5=10.": 0.9, "1+2=3,": 0.5}
    result = tot_bfs(P, StepPolicy(tree), verifier=valued(values), breadth=1, expansions=2)
    assert result.answer == "5+5=10." and len(result.trace["tree"]) == 3  # the finished state took the only slot


# --- DFS -----------------------------------------------------------------------------------


def test_dfs_backtracks_out_of_a_dead_end():
    # the verifier first prefers the dead end "4*3=12,", whose children it then rejects
    values = {"4*3=12,": 0.9, "1+2=3,": 0.6, "4*3=12,12+2=14,": 0.2, "4*3=12,12-2=10,": 0.3, "1+2=3,3+4=7,": 0.8, A: 1.0}
    policy = StepPolicy()
    result = dfs(P, policy, verifier=valued(values), threshold=0.5, expansions=2)
    assert result.strategy == "dfs" and result.answer == A and result.correct and result.trace["accepted"]
    assert [c["prompts"] for c in policy.calls] == [[PROMPT], [PROMPT + "4*3=12,"], [PROMPT + "1+2=3,"], [PROMPT + "1+2=3,3+4=7,"]]
    ids = {n["id"]: n["text"] for n in result.trace["tree"]}
    assert [ids[i] for i in result.trace["order"]] == ["", "4*3=12,", "1+2=3,", "1+2=3,3+4=7,"]
    assert result.trace["backtracks"] == 1
    nodes = tree_of(result)
    assert not nodes["4*3=12,12+2=14,"]["kept"] and not nodes["1+2=3,3*4=12,"]["kept"]  # pruned below the threshold


def test_dfs_stops_when_max_expansions_are_spent():
    values = {"4*3=12,": 0.9, "1+2=3,": 0.6, "4*3=12,12+2=14,": 0.7, "4*3=12,12+2=14,14+1=15.": 0.2}
    policy = StepPolicy(rest={"4*3=12,": "12-2=10,10+1=11."})
    result = dfs(P, policy, verifier=valued(values), max_expansions=2, expansions=2)
    assert len(policy.calls) == 2 + 1 and not result.trace["accepted"]  # two expansions, then the fallback
    # no finished node: the best-scoring partial one, completed greedily
    assert result.answer == "4*3=12,12-2=10,10+1=11." and result.trace["completed"] == "12-2=10,10+1=11." and not result.correct
    assert (policy.calls[-1]["prompts"], policy.calls[-1]["temperature"]) == ([PROMPT + "4*3=12,"], 0.0)
    assert [n["text"] for n in result.trace["tree"] if n["chosen"]] == ["", "4*3=12,"]
    wrong = dfs(P, StepPolicy(), verifier=valued(values), max_expansions=3, expansions=2)
    assert wrong.answer == "4*3=12,12+2=14,14+1=15." and not wrong.trace["accepted"]  # finished, but below the threshold


# --- MCTS ----------------------------------------------------------------------------------


def test_mcts_visits_sum_to_simulations_and_the_answer_follows_the_most_visited_child():
    values = {"1+2=3,": 0.9, "4*3=12,": 0.2, "1+2=3,3+4=7,": 0.9, A: 1.0}
    policy = StepPolicy(logprobs={"1+2=3,": math.log(0.1), "4*3=12,": math.log(0.3)})
    result = mcts(P, policy, verifier=valued(values), simulations=12, expansions=2, c_puct=1.0)
    assert result.strategy == "mcts" and result.answer == A and result.correct
    nodes = result.trace["tree"]
    root = nodes[0]
    children = [n for n in nodes if n["parent"] == 0]
    assert root["visits"] == 12 and sum(c["visits"] for c in children) == 12
    # the priors are the step probabilities normalised over siblings
    assert {c["text"]: c["prior"] for c in children} == pytest.approx({"1+2=3,": 0.25, "4*3=12,": 0.75})
    # along the answer's path every node is its siblings' most visited
    for node in nodes[1:]:
        if node["chosen"]:
            siblings = [n for n in nodes if n["parent"] == node["parent"]]
            assert node["visits"] == max(s["visits"] for s in siblings)
    assert tree_of(result)["1+2=3,"]["visits"] > tree_of(result)["4*3=12,"]["visits"]  # value beats the prior
    assert result.trace["completed"] is None


def test_mcts_backs_up_the_mean_value():
    result = mcts(P, StepPolicy(), verifier=TinyStepOracle(), simulations=6, expansions=2)
    for node in result.trace["tree"]:
        children = [n for n in result.trace["tree"] if n["parent"] == node["id"]]
        if node["visits"] and children and node["id"]:  # the visit that expanded the node backed up its own score
            assert node["visits"] == 1 + sum(c["visits"] for c in children)
            total = node["score"] + sum(c["value"] * c["visits"] for c in children)
            assert node["value"] * node["visits"] == pytest.approx(total)


def test_mcts_completes_an_unfinished_path_greedily():
    policy = StepPolicy(rest={"1+2=3,": "3+4=7,7*3=21."})
    result = mcts(P, policy, verifier=TinyStepOracle(), simulations=1, expansions=2)
    assert result.answer == A and result.correct and result.trace["completed"] == "3+4=7,7*3=21."
    last = policy.calls[-1]
    assert (last["prompts"], last["temperature"], last["stop"]) == ([PROMPT + "1+2=3,"], 0.0, (".",))
    assert result.scores[result.chosen] == 1.0  # the completion is scored too


def test_mcts_with_rollouts_needs_only_a_whole_completion_verifier():
    rest = {"1+2=3,": "3+4=7,7*3=21.", "1+2=3,3+4=7,": "7*3=21.", "4*3=12,": "12+2=14,14+1=15."}
    policy = StepPolicy(rest=rest)
    result = mcts(P, policy, verifier=Oracle(), value="rollout", simulations=4, expansions=2)
    assert result.answer == A and result.correct
    assert tree_of(result)["1+2=3,"]["rollout"] == A and tree_of(result)["1+2=3,"]["value"] > 0
    assert any(c["stop"] == (".",) for c in policy.calls) and result.ledger.calls > len(policy.calls)
    with pytest.raises(ValueError, match="step"):
        mcts(P, policy, verifier=Oracle())  # the verifier's value needs step scores


# --- every strategy: the ledger, knobs, malformed output, the real sampler ------------------


@pytest.mark.parametrize("name", SEARCHES)
def test_every_call_is_charged_to_the_ledger(name):
    policy, verifier = StepPolicy(), valued({"1+2=3,": 0.8, "1+2=3,3+4=7,": 0.9, A: 1.0})
    result = SEARCHES[name](P, policy, verifier=verifier, expansions=2)
    ledger = result.ledger
    assert result.correct and STRATEGIES[name].run is SEARCHES[name]
    assert ledger.calls == len(policy.calls) + len(verifier.calls) and len(verifier.calls) >= 1
    assert ledger.samples == sum(len(c["prompts"]) * c["n"] for c in policy.calls)
    assert ledger.policy_flops == FLOPS_PER_TOKEN * ledger.tokens > 0
    read = sum(len(PROMPT) + 1 + len(t) for c in verifier.calls for t in c["texts"])
    assert ledger.verifier_tokens == read and ledger.verifier_flops == VERIFIER_FLOPS_PER_TOKEN * read
    assert ledger.flops == ledger.policy_flops + ledger.verifier_flops
    texts = [t for c in verifier.calls for t in c["texts"]]
    assert len(texts) == len(set(texts))  # no text is scored twice
    assert result.trace["policy_calls"] == len(policy.calls)


@pytest.mark.parametrize("name", SEARCHES)
def test_the_real_step_oracle_guides_every_search(name):
    result = SEARCHES[name](P, StepPolicy(), verifier=StepOracle(), expansions=2)
    assert result.answer == A and result.correct and result.ledger.verifier_flops == 0


BAD_KNOBS = [
    ("beam", {"beam_width": 0}, "beam_width"),
    ("beam", {"beam_width": 2.5}, "beam_width"),
    ("beam", {"expansions": True}, "expansions"),
    ("beam", {"beam_width": 1000, "expansions": 1000}, "samples per depth"),
    ("beam", {"aggregate": "mean"}, "aggregate"),
    ("beam", {"max_steps": 0}, "max_steps"),
    ("beam", {"temperature": -1}, "temperature"),
    ("beam", {"seed": -1}, "seed"),
    ("dvts", {"subtrees": 0}, "subtrees"),
    ("tot_bfs", {"breadth": -2}, "breadth"),
    ("dfs", {"threshold": float("nan")}, "threshold"),
    ("dfs", {"max_expansions": 0}, "max_expansions"),
    ("mcts", {"simulations": 0}, "simulations"),
    ("mcts", {"c_puct": -1.0}, "c_puct"),
    ("mcts", {"c_puct": float("inf")}, "c_puct"),
    ("mcts", {"value": "random"}, "value"),
    ("mcts", {"max_new_tokens": 0}, "max_new_tokens"),
]


@pytest.mark.parametrize("name, knobs, match", BAD_KNOBS, ids=lambda x: str(x))
def test_bad_knobs_are_value_errors(name, knobs, match):
    policy = StepPolicy()
    with pytest.raises(ValueError, match=match):
        SEARCHES[name](P, policy, verifier=TinyStepOracle(), **knobs)
    assert policy.calls == []  # nothing was sampled


@pytest.mark.parametrize("name", SEARCHES)
def test_searches_need_a_step_verifier_and_a_problem(name):
    for verifier in (None, Oracle(), "prm"):
        with pytest.raises(ValueError, match="verifier"):
            SEARCHES[name](P, StepPolicy(), verifier=verifier)
    with pytest.raises(ValueError, match="problem"):
        SEARCHES[name]({"numbers": [1, 2], "target": 3}, StepPolicy(), verifier=TinyStepOracle())


def test_check_search_knobs_names_the_knob():
    check_search_knobs(beam_width=4, expansions=4, simulations=16, c_puct=0.0, aggregate="min", value="rollout")
    with pytest.raises(ValueError, match=r"simulations \(MCTS simulations\) must be an integer from 1"):
        check_search_knobs(simulations=10**9)


JUNK = ["banana", "", "1+2=3", ".", ",", "  ,", "1+2=3,3+4=7,7*3=21.", "ü*ß=∞.", "99999999999999999*9=1,"]


@pytest.mark.parametrize("name", SEARCHES)
def test_malformed_output_is_a_dead_branch_not_a_crash(name):
    policy = StepPolicy(tree=lambda prefix: JUNK, rest={"": "junk"})
    result = SEARCHES[name](P, policy, verifier=TinyStepOracle(), expansions=len(JUNK), max_new_tokens=40)
    assert isinstance(result, Result) and result.correct == P.check(result.answer or "")
    first = [n for n in result.trace["tree"] if n["depth"] == 1 and n["group"] == 0]
    # a policy that ignores stop is cut to its first step
    assert [n["step"] for n in first] == JUNK[:6] + ["1+2=3,"] + JUNK[7:]
    assert [n["dead"] for n in first] == [True, True, True, True, True, True, False, False, False]
    assert all(n["score"] in (None, 0.0) for n in result.trace["tree"] if n["dead"])


@pytest.mark.parametrize("name", SEARCHES)
def test_a_verifier_that_returns_nonsense_does_not_crash(name):
    nonsense = ScriptedStepVerifier(lambda problem, text: [float("nan")] * 7 if "1" in text else [])
    result = SEARCHES[name](P, StepPolicy(), verifier=nonsense, expansions=2)
    assert isinstance(result, Result)
    assert all(n["score"] is None or math.isfinite(n["score"]) for n in result.trace["tree"])


@pytest.mark.parametrize("name", SEARCHES)
def test_when_every_branch_dies_the_policy_answers_greedily(name):
    policy = StepPolicy(tree={"": ["1+2"]}, rest={"": A})
    result = SEARCHES[name](P, policy, verifier=TinyStepOracle(), expansions=2)
    assert [n["dead"] for n in result.trace["tree"]] == [False] + [True] * (4 if name == "dvts" else 1)  # dvts: 4 subtrees
    assert result.answer == A and result.trace["completed"] == A and result.correct
    assert result.candidates == (A,) and result.scores == (1.0,) and result.chosen == 0


def test_search_strategies_are_registered():
    assert {k: STRATEGIES[k].run for k in SEARCHES} == SEARCHES


@pytest.mark.parametrize("name", SEARCHES)
def test_every_search_runs_on_the_tiny_model(tiny_policy, name):
    """The real sampler (stop at "," or "."), a random model: whatever it writes, a Result."""
    problem = Countdown((1, 2, 3), 6)
    knobs = {"simulations": 3} if name == "mcts" else {"max_expansions": 3} if name == "dfs" else {}
    result = SEARCHES[name](problem, tiny_policy, verifier=StepOracle(), expansions=2, max_steps=3, max_new_tokens=8, **knobs)
    assert isinstance(result, Result) and result.ledger.policy_flops > 0
    assert len(result.trace["tree"]) > 1
    assert result.correct == (result.answer is not None and problem.check(result.answer))
