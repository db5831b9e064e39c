"""Test-time strategies: functions of (problem, policy, *, budget knobs) that return a Result."""

from tsc.core import SharesPrefixes, problem_seed
from tsc.strategies.adaptive import compute_optimal
from tsc.strategies.free_energy import free_energy
from tsc.strategies.parallel import BATCHED, best_of_n, check_knobs, greedy, majority_vote, sample, weighted_vote
from tsc.strategies.particle import particle_filter
from tsc.strategies.search import beam_search, dfs, dvts, mcts, tot_bfs
from tsc.strategies.sequential import revise, self_refine
from tsc.strategies.short_m_at_k import short_m_at_k
from tsc.strategies.stopping import early_stop, early_stop_many
from tsc.strategies.thinker import thinker
from tsc.strategies.thinking import budget_forcing

BATCHED[early_stop] = early_stop_many  # each round one policy call for every problem still voting

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
    "particle_filter": particle_filter,
    "budget_forcing": budget_forcing,
    "short_m_at_k": short_m_at_k,
    "early_stop": early_stop,
    "free_energy": free_energy,
    "compute_optimal": compute_optimal,
    "thinker": thinker,
}


def solve_many(strategy, problems, policy, *, seed: int = 0, batch: int = 1024, **knobs) -> list:
    """``strategy`` on every problem, problem ``p`` seeded ``problem_seed(seed, p)``: the one
    loop that the CLI, the evaluation, the sweeps, the benchmarks and the chapters share.

    A parallel strategy (greedy, sample, majority, best-of-N, weighted vote, early stop) decodes up to
    ``batch`` sequences of many problems in each policy call (`parallel.BATCHED`); its answers
    and ledgers are those of one call per problem, since each problem draws from its own seed.
    Any other strategy, or a verifier that shares the policy's work, runs one problem at a time.
    """
    problems = list(problems)
    seeds = [problem_seed(seed, p) for p in problems]
    many = BATCHED.get(strategy)
    if many is None or isinstance(knobs.get("verifier"), SharesPrefixes):
        return [strategy(p, policy, seed=s, **knobs) for p, s in zip(problems, seeds)]
    step = max(1, batch // max(1, int(knobs.get("n") or 1)))
    out = []
    for start in range(0, len(problems), step):
        out += many(problems[start : start + step], policy, seeds=seeds[start : start + step], **knobs)
    return out


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
    "early_stop",
    "free_energy",
    "get_strategy",
    "greedy",
    "majority_vote",
    "mcts",
    "particle_filter",
    "revise",
    "sample",
    "self_refine",
    "short_m_at_k",
    "solve_many",
    "thinker",
    "tot_bfs",
    "weighted_vote",
]
