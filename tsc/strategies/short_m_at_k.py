"""short-m@k: start k chains of thought, keep the first m that finish (Hassid et al. 2025).

"Don't Overthink it" found that a reasoning model's shorter chains for a question are more
often right than its longer ones, and turned that into a strategy: sample ``k`` chains in
parallel, stop as soon as the first ``m`` have finished, and take the majority answer among
those ``m`` (ties to the shortest chain). short-1@k answers with the first chain to finish;
it matched majority voting over all ``k`` with fewer thinking tokens, and since it never
waits for the slowest chain, in less wall time.

With a sampler that can stop a prompt's samples early (``stop_after``, the bundled models'),
the unfinished chains are cut when the ``m``-th finishes and the ledger charges only what
was computed; a policy that cannot (a server) writes all ``k`` to the end, is charged for all
of them, and the answer is the same. ``trace["steps"]`` is the latency in decoding steps:
the length of the ``m``-th chain to finish, the step at which the answer is known.
"""

from __future__ import annotations

from tsc.compute import Ledger
from tsc.core import Policy, Problem, Result, is_int
from tsc.strategies.base import check_knobs, check_problem, make_result


def check_short_knobs(*, n=None, m=None) -> None:
    """A one-line ValueError naming ``n`` (chains started) or ``m`` (chains waited for) when
    out of range; a knob not given (None) is not checked."""
    if n is not None and (not is_int(n) or n < 1):
        raise ValueError(f"n (chains started, k in short-m@k) must be a positive integer, got {n!r}")
    if m is not None and (not is_int(m) or m < 1 or (n is not None and m > n)):
        within = f"from 1 to n ({n})" if n is not None else "of at least 1"
        raise ValueError(f"m (chains waited for, m in short-m@k) must be an integer {within}, got {m!r}")


def short_m_at_k(
    problem: Problem,
    policy: Policy,
    *,
    n: int,
    m: int = 1,
    temperature: float = 1.0,
    seed: int = 0,
    max_new_tokens: int = 608,
) -> Result:
    """Sample ``n`` chains (k), stop when the first ``m`` have finished, vote among those.

    1. ``n`` completions are sampled at ``temperature``, at most ``max_new_tokens`` tokens
       each (608: the trace model's context of 640 less room for a prompt, what ``python -m
       tsc solve`` gives a trace model), with ``stop_after=m``: the sampler cuts the others
       when the ``m``-th finishes.
    2. The ``m`` chains that finished first (fewest tokens; ties by index) vote with their
       answer keys (`problem.answer_key`); a chain with no answer (an exhausted search, a
       malformed one) does not vote.
    3. The answer is the most-voted key's shortest chain; ties between keys go to the key
       whose shortest chain is shortest. No vote at all: the answer is None.

    ``candidates`` are the ``m`` voters, shortest first; ``scores`` their keys' votes;
    ``trace["steps"]`` the decoding steps until the answer was known (the ``m``-th chain's
    tokens), ``trace["lengths"]`` the voters' tokens.
    """
    check_knobs(temperature=temperature, seed=seed, max_new_tokens=max_new_tokens)
    check_short_knobs(n=n, m=m)
    check_problem(problem, policy)
    ledger = Ledger()
    [rows] = policy.sample(
        [policy.format(problem)],
        n=n,
        temperature=temperature,
        seed=[seed],
        max_new_tokens=max_new_tokens,
        ledger=ledger,
        stop_after=m,
    )
    # 2. the first m to finish: the shortest (a stopping sampler lists them first; a sort is stable)
    voters = sorted(rows, key=lambda c: c.num_tokens)[:m]
    keys = [problem.answer_key(c.text) for c in voters]
    votes = [float(keys.count(k)) if k is not None else 0.0 for k in keys]
    # 3. the most votes; the voters are sorted, so the first index of the best is the shortest chain
    chosen = max(range(m), key=lambda i: (votes[i], -i)) if any(votes) else None
    trace = {"steps": voters[-1].num_tokens, "lengths": [c.num_tokens for c in voters], "m": m, "k": n}
    return make_result(problem, [c.text for c in voters], chosen, votes, ledger, "short_m_at_k", trace)
