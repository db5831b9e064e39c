"""Test-time strategies: functions of (problem, policy, *, budget knobs) that return a Result.

`STRATEGIES` is the registry, one `Strategy` record per strategy (`tsc.strategies.base`):
the command line's ``--strategy`` choices, its flags and their help, the batched forms
`solve_many` uses, the families the book's map draws and the strategies `compute_optimal`
may choose all come from it. To add a strategy, write its module in this folder and add one
entry below.
"""

from tsc.core import SharesPrefixes, problem_seed
from tsc.strategies.adaptive import check_flops as check_allocation_flops
from tsc.strategies.adaptive import compute_optimal
from tsc.strategies.base import FAMILIES, STRATEGIES, Strategy, check_knobs, get_strategy, record_of
from tsc.strategies.deepconf import check_deepconf, deepconf, deepconf_many
from tsc.strategies.free_energy import check_efe_knobs, free_energy
from tsc.strategies.parallel import (
    best_of_n,
    best_of_n_many,
    greedy,
    greedy_many,
    majority_many,
    majority_vote,
    sample,
    sample_many,
    weighted_vote,
    weighted_vote_many,
)
from tsc.strategies.particle import particle_filter
from tsc.strategies.search import beam_search, check_search_knobs, dfs, dvts, mcts, tot_bfs
from tsc.strategies.sequential import check_sequential, revise, self_refine
from tsc.strategies.short_m_at_k import check_short_knobs, short_m_at_k
from tsc.strategies.stopping import check_stopping, early_stop, early_stop_many
from tsc.strategies.thinker import check_flops as check_table_flops
from tsc.strategies.thinker import thinker
from tsc.strategies.thinking import budget_forcing, check_budget

SAMPLES = {"n": "samples"}
AT_MOST = {"n": "samples at most"}
STEPS = "next steps sampled per node"
FLOPS = {"flops": "the mean FLOPs per problem to aim at, e.g. 7e8 (the fitted table picks each problem's plan)"}
THRESHOLD = "lowest step score accepted"
EARLY_STOP = {
    **AT_MOST,
    "threshold": "stop when the leading answer is ahead with this posterior probability (1: only when the vote is decided)",
    "window": "samples drawn per round",
}
DEEPCONF = {
    **AT_MOST,
    "warmup": "online: traces drawn in full that set the confidence threshold",
    "keep": "the share of most confident traces that vote (offline), or that the threshold keeps (online)",
    "group": "tokens per window of group confidence",
    "consensus": "online: stop when the leader holds this share of the confidence-weighted vote",
}
PARTICLES = {
    "particles": "partial solutions carried from step to step",
    "reward_temperature": "temperature of the verifier's weights, softmax(logit(score)/T) (lower presses harder)",
    "resampling": "how particles are redrawn: systematic or multinomial",
}
THINKING = {
    "thinking_tokens": "the most thinking tokens before the answer is forced",
    "min_thinking_tokens": "a model that stops thinking earlier is made to go on (s1's 'Wait')",
}

# name, function, family, budget knob, its colour in every figure of the book; then the command line's knobs and what
# the strategy takes
# fmt: off
STRATEGIES.update({s.name: s for s in [
    Strategy("greedy", greedy, "single", None, "#4d4d4d", batched=greedy_many),
    Strategy("sample", sample, "single", None, "#a6a6a6", batched=sample_many),
    Strategy("best_of_n", best_of_n, "parallel", "n", "#2e933c", SAMPLES, verifier="scores", batched=best_of_n_many),
    Strategy("majority", majority_vote, "parallel", "n", "#d1495b", SAMPLES, batched=majority_many),
    Strategy("weighted_vote", weighted_vote, "parallel", "n", "#8cc084", SAMPLES, verifier="scores", batched=weighted_vote_many),
    # each round of early stopping is one policy call for every problem still voting
    Strategy("early_stop", early_stop, "parallel", "n", "#e8828f", EARLY_STOP, batched=early_stop_many, check=check_stopping),
    Strategy("deepconf", deepconf, "parallel", "n", "#f4a259", DEEPCONF, batched=deepconf_many, check=check_deepconf),
    Strategy("self_refine", self_refine, "sequential", "rounds", "#e07a1f", {"rounds": "attempts per problem", "threshold": THRESHOLD},
             verifier="steps", check=check_sequential),
    Strategy("revise", revise, "sequential", "rounds", "#b5446e",
             {"rounds": "attempts per problem", "threshold": "stop at this verifier score (none: the last attempt is the answer)"},
             verifier="optional", check=check_sequential),
    Strategy("beam", beam_search, "search", "expansions", "#1f5aa6", {"beam_width": "partial solutions kept per step", "expansions": STEPS},
             verifier="steps", check=check_search_knobs),
    Strategy("dvts", dvts, "search", "expansions", "#00798c", {"subtrees": "independent beams of width one", "expansions": STEPS},
             verifier="steps", check=check_search_knobs),
    Strategy("tot_bfs", tot_bfs, "search", "expansions", "#edae49", {"breadth": "states kept per step", "expansions": STEPS},
             verifier="steps", check=check_search_knobs),
    Strategy("dfs", dfs, "search", "max_expansions", "#c27c0e",
             {"max_expansions": "policy calls at most", "expansions": STEPS, "threshold": "lowest step score followed"},
             verifier="steps", check=check_search_knobs),
    Strategy("mcts", mcts, "search", "simulations", "#66458f", {"simulations": "simulations per problem", "expansions": STEPS},
             verifier="steps", check=check_search_knobs),
    Strategy("particle_filter", particle_filter, "search", "particles", "#0b6e4f", PARTICLES, verifier="steps", check=check_search_knobs),
    Strategy("budget_forcing", budget_forcing, "thinking", "thinking_tokens", "#3d5a80", THINKING, check=check_budget, needs="trace"),
    Strategy("short_m_at_k", short_m_at_k, "parallel", "n", "#9d0208",
             {"n": "chains started (k in short-m@k)", "m": "the first chains to finish, which vote (m in short-m@k)"},
             check=check_short_knobs),
    Strategy("free_energy", free_energy, "adaptive", "n", "#9c6644",
             {**AT_MOST, "cost_per_token": "nats of preference each generated token costs"}, verifier="optional", check=check_efe_knobs),
    Strategy("compute_optimal", compute_optimal, "adaptive", "flops", "#2a9d8f", FLOPS, verifier="steps", check=check_allocation_flops,
             tasks=("countdown",)),
    Strategy("thinker", thinker, "adaptive", "flops", "#1b1b3a", FLOPS, verifier="steps", check=check_table_flops, tasks=("countdown",)),
]})
# fmt: on


def solve_many(strategy, problems, policy, *, seed: int = 0, batch: int = 1024, **knobs) -> list:
    """``strategy`` (a registered `Strategy`, or any strategy function) on every problem,
    problem ``p`` seeded ``problem_seed(seed, p)``: the one loop that the CLI, the evaluation,
    the sweeps, the benchmarks and the chapters share.

    A strategy with a batched form (``Strategy.batched``: greedy, sample, majority, best-of-N,
    weighted vote, early stop) decodes up to ``batch`` sequences of many problems in each
    policy call; its answers and ledgers are those of one call per problem, since each problem
    draws from its own seed. Any other strategy, or a verifier that shares the policy's work,
    runs one problem at a time.
    """
    problems = list(problems)
    seeds = [problem_seed(seed, p) for p in problems]
    record = record_of(strategy)
    run = strategy.run if isinstance(strategy, Strategy) else strategy
    many = record.batched if record is not None else None
    if many is None or isinstance(knobs.get("verifier"), SharesPrefixes):
        return [run(p, policy, seed=s, **knobs) for p, s in zip(problems, seeds)]
    step = max(1, batch // max(1, int(knobs.get("n") or 1)))
    out = []
    for start in range(0, len(problems), step):
        out += many(problems[start : start + step], policy, seeds=seeds[start : start + step], **knobs)
    return out


__all__ = [
    "FAMILIES",
    "STRATEGIES",
    "Strategy",
    "beam_search",
    "best_of_n",
    "budget_forcing",
    "check_knobs",
    "compute_optimal",
    "deepconf",
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
