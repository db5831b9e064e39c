"""Parallel strategies: draw completions independently, then choose one.

greedy and sample are the baselines (one completion); best_of_n asks a verifier to pick among
n samples; majority_vote (self-consistency, Wang et al. 2022) picks the answer most samples
agree on, with no verifier at all; weighted_vote (Li et al. 2023; Uesato et al. 2022) lets
each sample vote with its verifier score, so one confident answer can outweigh many doubtful
ones. Each takes a problem and a policy, keyword-only knobs, and
returns a `Result` whose ledger holds exactly what the policy and verifier spent.
"""

from __future__ import annotations

from tsc.compute import Ledger
from tsc.core import JudgesSamples, Policy, Problem, Result, Verifier
from tsc.strategies.base import SHARED_KNOBS, batch_prompts, check_knobs, make_result
from tsc.strategies.reuse import reuses_prefixes
from tsc.votes import majority_choice, weighted_choice


def _ignore_shared(strategy: str, options: dict) -> None:
    """greedy and sample take the other strategies' knobs (so one sweep can pass one set of
    options) and ignore them; anything else is a typo that would otherwise pass silently."""
    unknown = sorted(set(options) - set(SHARED_KNOBS))
    if unknown:
        raise ValueError(
            f"{strategy} got unknown option(s) {', '.join(unknown)}; it accepts max_new_tokens and ignores {', '.join(SHARED_KNOBS)}"
        )


def judge(problem, completions: list, verifier, ledger: Ledger) -> list[float]:
    """The verifier's score of each completion: from what came with sampling when it can
    (`tsc.core.JudgesSamples`: free), else by reading the texts (charged to ``ledger``)."""
    if isinstance(verifier, JudgesSamples):
        return [float(s) for s in verifier.score_samples(problem, completions, ledger=ledger)]
    return [float(s) for s in verifier.score(problem, [c.text for c in completions], ledger=ledger)]


def _judged_draws(strategy: str, problems: list, policy, *, verifier, seeds: list[int], **draw) -> list[tuple]:
    """(problem, texts, the verifier's scores, ledger) of each problem (`_draw_completions`):
    what best-of-N and the weighted vote choose from."""
    if verifier is None:
        raise ValueError(f"{strategy} needs a verifier (e.g. tsc.verifiers.Oracle())")
    check_knobs(verifier=verifier)
    ledgers = [Ledger() for _ in problems]
    draws = _draw_completions(problems, policy, seeds=seeds, ledgers=ledgers, **draw)
    return [(p, [c.text for c in row], judge(p, row, verifier, ledger), ledger) for p, row, ledger in zip(problems, draws, ledgers)]


def _draw_completions(
    problems: list, policy, *, n: int, temperature: float, seeds: list[int], max_new_tokens: int, ledgers: list[Ledger]
) -> list[list]:
    """``n`` completions of each problem in one policy call, each problem drawing from its own
    seed's stream and charged to its own ledger: the same texts and costs as one call per
    problem (`tsc.lm.policy.LocalPolicy.sample` with a list of seeds)."""
    check_knobs(n=n, temperature=temperature, max_new_tokens=max_new_tokens)
    prompts = batch_prompts(problems, policy, seeds)
    return policy.sample(prompts, n=n, temperature=temperature, seed=list(seeds), max_new_tokens=max_new_tokens, ledger=list(ledgers))


def greedy(problem: Problem, policy: Policy, *, max_new_tokens: int = 64, **ignored) -> Result:
    """The single most likely completion (temperature 0): the no-extra-thinking baseline."""
    _ignore_shared("greedy", ignored)
    [result] = greedy_many([problem], policy, seeds=[0], max_new_tokens=max_new_tokens)
    return result


def greedy_many(problems, policy, *, seeds, max_new_tokens: int = 64, **ignored) -> list[Result]:
    _ignore_shared("greedy", ignored)
    ledgers = [Ledger() for _ in problems]
    draws = _draw_completions(
        problems, policy, n=1, temperature=0.0, seeds=[0] * len(problems), max_new_tokens=max_new_tokens, ledgers=ledgers
    )
    return [make_result(p, [row[0].text], 0, [1.0], ledger, "greedy") for p, row, ledger in zip(problems, draws, ledgers)]


def sample(problem: Problem, policy: Policy, *, temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 64, **ignored) -> Result:
    """One completion sampled at ``temperature``: what each of best-of-N's draws looks like."""
    [result] = sample_many([problem], policy, seeds=[seed], temperature=temperature, max_new_tokens=max_new_tokens, **ignored)
    return result


def sample_many(problems, policy, *, seeds, temperature: float = 1.0, max_new_tokens: int = 64, **ignored) -> list[Result]:
    _ignore_shared("sample", ignored)
    ledgers = [Ledger() for _ in problems]
    draws = _draw_completions(problems, policy, n=1, temperature=temperature, seeds=seeds, max_new_tokens=max_new_tokens, ledgers=ledgers)
    return [make_result(p, [row[0].text], 0, [1.0], ledger, "sample") for p, row, ledger in zip(problems, draws, ledgers)]


@reuses_prefixes(only_to_share=True)
def best_of_n(
    problem: Problem, policy: Policy, *, n: int, verifier: Verifier, temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 64
) -> Result:
    """Sample ``n`` completions and return the one the verifier scores highest (first on ties).

    With the oracle as verifier this measures coverage (pass@n): the problem counts as solved
    if any sample is correct.
    """
    return best_of_n_many([problem], policy, seeds=[seed], n=n, verifier=verifier, temperature=temperature, max_new_tokens=max_new_tokens)[
        0
    ]


def best_of_n_many(problems, policy, *, seeds, n: int, verifier, temperature: float = 1.0, max_new_tokens: int = 64) -> list[Result]:
    draws = _judged_draws(
        "best_of_n", problems, policy, verifier=verifier, seeds=seeds, n=n, temperature=temperature, max_new_tokens=max_new_tokens
    )
    results = []
    for problem, texts, scores, ledger in draws:
        chosen = max(range(n), key=lambda i: (scores[i], -i))
        results.append(make_result(problem, texts, chosen, scores, ledger, "best_of_n"))
    return results


def majority_vote(problem: Problem, policy: Policy, *, n: int, temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 64) -> Result:
    """Sample ``n`` completions and return one whose answer key got the most votes.

    The key comes from the task (`problem.answer_key`): the final number for arithmetic, the
    canonical expression for Countdown. Malformed completions do not vote; if none is
    well formed the answer is None. Ties go to the key that appeared first.
    """
    return majority_many([problem], policy, seeds=[seed], n=n, temperature=temperature, max_new_tokens=max_new_tokens)[0]


def majority_many(problems, policy, *, seeds, n: int, temperature: float = 1.0, max_new_tokens: int = 64) -> list[Result]:
    ledgers = [Ledger() for _ in problems]
    draws = _draw_completions(problems, policy, n=n, temperature=temperature, seeds=seeds, max_new_tokens=max_new_tokens, ledgers=ledgers)
    results = []
    for problem, row, ledger in zip(problems, draws, ledgers):
        texts = [c.text for c in row]
        keys = [problem.answer_key(t) for t in texts]
        votes = [float(sum(k == key for k in keys)) if key is not None else 0.0 for key in keys]
        results.append(make_result(problem, texts, majority_choice(keys), votes, ledger, "majority_vote"))
    return results


@reuses_prefixes(only_to_share=True)
def weighted_vote(
    problem: Problem, policy: Policy, *, n: int, verifier: Verifier, temperature: float = 1.0, seed: int = 0, max_new_tokens: int = 64
) -> Result:
    """Sample ``n`` completions; each votes for its answer key with its verifier score.

    The samples are grouped by `problem.answer_key`; a group's weight is the sum of its
    members' scores, and the heaviest group wins (so four samples the verifier trusts can beat
    six it doubts, where majority_vote would side with the six). Malformed completions (no key)
    get no vote; if none is well formed the answer is None. Ties between groups go to the key
    seen first. The answer is the winning group's highest-scoring member (the first of them on
    ties); ``scores`` holds each candidate's group weight (0 for malformed ones) and
    ``trace["weights"]`` the weight of every key.
    """
    return weighted_vote_many(
        [problem], policy, seeds=[seed], n=n, verifier=verifier, temperature=temperature, max_new_tokens=max_new_tokens
    )[0]


def weighted_vote_many(problems, policy, *, seeds, n: int, verifier, temperature: float = 1.0, max_new_tokens: int = 64) -> list[Result]:
    draws = _judged_draws(
        "weighted_vote", problems, policy, verifier=verifier, seeds=seeds, n=n, temperature=temperature, max_new_tokens=max_new_tokens
    )
    results = []
    for problem, texts, scores, ledger in draws:
        keys = [problem.answer_key(t) for t in texts]
        chosen, weights = weighted_choice(keys, scores)
        votes = [weights[key] if key is not None else 0.0 for key in keys]
        trace = {"verifier_scores": scores, "weights": weights}
        results.append(make_result(problem, texts, chosen, votes, ledger, "weighted_vote", trace))
    return results
