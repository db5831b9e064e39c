"""Test-time strategies: functions of (problem, policy, *, budget knobs) that return a Result."""

from tsc.strategies.adaptive import compute_optimal
from tsc.strategies.parallel import best_of_n, check_knobs, greedy, majority_vote, sample, weighted_vote
from tsc.strategies.search import beam_search, dfs, dvts, mcts, tot_bfs
from tsc.strategies.sequential import revise, self_refine
from tsc.strategies.thinking import budget_forcing

STRATEGIES = {
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
    "budget_forcing": budget_forcing,
    "compute_optimal": compute_optimal,
}


def get_strategy(name: str):
    """The strategy registered as ``name``, or a ValueError that lists the known names."""
    if not isinstance(name, str) or name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}")
    return STRATEGIES[name]


__all__ = [
    "STRATEGIES",
    "beam_search",
    "best_of_n",
    "budget_forcing",
    "check_knobs",
    "compute_optimal",
    "dfs",
    "dvts",
    "get_strategy",
    "greedy",
    "majority_vote",
    "mcts",
    "revise",
    "sample",
    "self_refine",
    "tot_bfs",
    "weighted_vote",
]
