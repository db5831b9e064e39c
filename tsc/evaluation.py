"""The evaluation figures on a model's card: greedy, pass@k and majority vote, per size.

Problems are fresh held-out Countdown problems (the test split, uniform over solvable ones);
every figure carries a 95 % interval (bootstrap over problems).
"""

from __future__ import annotations

import numpy as np

from tsc.analysis import bootstrap, coverage, draw, majority_accuracy
from tsc.tasks import countdown

PASS_KS = (1, 4, 16, 32)


def _figure(mean, low, high) -> dict:
    return {"value": round(float(mean), 4), "low": round(float(low), 4), "high": round(float(high), 4)}


def evaluate_policy(
    policy,
    *,
    per_size: int = 300,
    sizes: tuple[int, ...] = countdown.SIZES,
    n: int = 32,
    vote_n: int = 16,
    vote_temperature: float = 0.8,
    seed: int = 2024,
) -> dict:
    """Card figures for a Countdown policy, overall (sizes equally weighted) and per size.

    greedy: temperature-0 accuracy; pass@k: unbiased coverage from ``n`` samples at
    temperature 1 (pass@1 is one sample's accuracy); majority@vote_n: self-consistency over
    ``vote_n`` samples at ``vote_temperature``.
    """
    problems = [p for size in sizes for p in countdown.generate(per_size, seed=seed + size, sizes=(size,))]
    greedy = draw(problems, policy, n=1, temperature=0.0, seed=seed)
    samples = draw(problems, policy, n=n, temperature=1.0, seed=seed)
    votes = draw(problems, policy, n=vote_n, temperature=vote_temperature, seed=seed)
    size_of = np.array([len(p.numbers) for p in problems])

    def figures(mask) -> dict:
        out = {"problems": int(mask.sum()), "greedy": _figure(*bootstrap(greedy.correct[mask, 0]))}
        cov = coverage(samples.subset(mask), PASS_KS)
        for j, k in enumerate(PASS_KS):
            out[f"pass@{k}"] = _figure(cov["mean"][j], cov["low"][j], cov["high"][j])
        vote = majority_accuracy(votes.subset(mask), [vote_n])
        out[f"majority@{vote_n}"] = _figure(vote["mean"][0], vote["low"][0], vote["high"][0])
        out["mean_tokens_per_sample"] = round(float(samples.tokens[mask].mean()), 2)
        return out

    return {
        "split": "test (held-out tenth of problems, uniform over solvable ones)",
        "seed": seed,
        "per_size": per_size,
        "samples": n,
        "vote": {"n": vote_n, "temperature": vote_temperature},
        "overall": figures(np.ones(len(problems), dtype=bool)),
        "by_size": {str(s): figures(size_of == s) for s in sizes},
    }
