"""Test-time strategies: functions of (problem, policy, *, budget knobs) that return a Result."""

from tsc.strategies.parallel import best_of_n, greedy, majority_vote, sample

STRATEGIES = {
    "greedy": greedy,
    "sample": sample,
    "best_of_n": best_of_n,
    "majority": majority_vote,
}

__all__ = ["STRATEGIES", "best_of_n", "greedy", "majority_vote", "sample"]
