"""Chapter 3's experiments that take minutes: the sampling knobs, self-consistency by
temperature, and chain of thought against a direct answer at equal FLOPs.

Each draws many samples for hundreds of held-out problems, so the chapter reads the stored
result (`tsc/assets/results/ch03-*.json`) and says how to recompute it:

    python -m tsc experiment ch03-decoding
    python -m tsc experiment ch03-self-consistency
    python -m tsc experiment ch03-cot-vs-direct

Results keep one number per problem (counts of correct samples, votes won), so the chapter
computes its own bootstrap intervals and paired differences from them.
"""

from __future__ import annotations

import numpy as np

from tsc.experiments.base import experiment

DIALS = {"arithmetic": (2, 3, 4), "countdown": (3, 4, 5)}  # operations; count of numbers


def problem_set(task: str, per_size: int, *, seed: int) -> list:
    """``per_size`` held-out problems at each setting of the task's difficulty dial (the
    operations of an arithmetic question, the count of numbers of a Countdown problem), in
    that order, reproducibly from ``seed``."""
    from tsc.tasks import arithmetic, countdown

    if task == "arithmetic":
        return [p for ops in DIALS[task] for p in arithmetic.generate(per_size, seed=seed + ops, ops=(ops,))]
    if task == "countdown":
        return [p for size in DIALS[task] for p in countdown.generate(per_size, seed=seed + size, sizes=(size,))]
    raise ValueError(f"unknown task {task!r}; known: {', '.join(DIALS)}")


def difficulty(problem) -> int:
    """Where a problem sits on its task's dial: operations, or count of numbers."""
    return problem.ops if problem.task == "arithmetic" else len(problem.numbers)


def setting_name(temperature: float, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0) -> str:
    """A setting of the sampling knobs as text, e.g. ``"T=1.5, min-p 0.1"``."""
    parts = [f"T={temperature:g}"]
    if top_k:
        parts.append(f"top-k {top_k}")
    if top_p < 1:
        parts.append(f"top-p {top_p:g}")
    if min_p > 0:
        parts.append(f"min-p {min_p:g}")
    return ", ".join(parts)


def _draw(problems, policy, *, n: int, seed: int, temperature: float, top_k: int = 0, top_p: float = 1.0, min_p: float = 0.0):
    from tsc.analysis import draw
    from tsc.core import with_sampling

    truncated = (top_k, top_p, min_p) != (0, 1.0, 0.0)
    sampler = with_sampling(policy, top_k=top_k, top_p=top_p, min_p=min_p) if truncated else policy
    return draw(problems, sampler, n=n, temperature=temperature, seed=seed)


@experiment(
    "ch03-decoding",
    describe="temperature, top-k, top-p and min-p: pass@1, coverage@16 and distinct answers (both tasks, 600 held-out problems each)",
    models={"arithmetic": "arithmetic", "countdown": "countdown"},
    per_size=200,
    n=16,
    seed=3,
    settings=[[0.3, 0, 1.0, 0.0], [0.6, 0, 1.0, 0.0]]
    + [[t, k, p, m] for t in (1.0, 1.5, 2.0) for k, p, m in ((0, 1.0, 0.0), (3, 1.0, 0.0), (0, 0.9, 0.0), (0, 1.0, 0.1))],
)
def decoding(*, models: dict, per_size: int, n: int, seed: int, settings: list) -> dict:
    """For each task and each setting [temperature, top_k, top_p, min_p]: per problem, how
    many of ``n`` samples are correct, how many distinct answers (voting keys) they give, and
    how many are malformed. pass@1 is correct / n, coverage@n is correct > 0."""
    from tsc.lm.policy import load_policy

    out = {}
    for task, model in models.items():
        policy = load_policy(model)
        problems = problem_set(task, per_size, seed=seed * 1000)
        rows = {}
        for i, (temperature, top_k, top_p, min_p) in enumerate(settings):
            table = _draw(problems, policy, n=n, seed=seed + i, temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p)
            rows[setting_name(temperature, top_k, top_p, min_p)] = {
                "knobs": {"temperature": temperature, "top_k": top_k, "top_p": top_p, "min_p": min_p},
                "correct": table.correct.sum(axis=1).tolist(),
                "distinct": [len({k for k in keys if k is not None}) for keys in table.keys],
                "malformed": [sum(k is None for k in keys) for keys in table.keys],
                "tokens": round(float(table.ledger.generated_tokens / table.ledger.samples), 2),
            }
        out[task] = {"model": model, "difficulty": [difficulty(p) for p in problems], "settings": rows}
    return out


@experiment(
    "ch03-self-consistency",
    describe="majority@k against k at several temperatures (arithmetic; Countdown for contrast), 600 held-out problems, 64 samples each",
    models={"arithmetic": "arithmetic", "countdown": "countdown"},
    temperatures={"arithmetic": [0.3, 0.6, 1.0, 1.5], "countdown": [0.6, 1.0]},
    per_size=200,
    n=64,
    ks=[1, 2, 4, 8, 16, 32, 64],
    trials=100,
    seed=5,
)
def self_consistency(*, models: dict, temperatures: dict, per_size: int, n: int, ks: list, trials: int, seed: int) -> dict:
    """Per task, temperature and problem: the fraction of ``trials`` random subsets of k of its
    ``n`` samples whose majority answer is right (majority@k), and pass@k, for each k; plus
    the greedy answer's verdict on the same problems."""
    from tsc.analysis import coverage, draw, majority_accuracy
    from tsc.lm.policy import load_policy

    out = {}
    for task, model in models.items():
        policy = load_policy(model)
        problems = problem_set(task, per_size, seed=seed * 1000)
        greedy = draw(problems, policy, n=1, temperature=0.0, seed=seed)
        by_temperature = {}
        for i, temperature in enumerate(temperatures[task]):
            table = draw(problems, policy, n=n, temperature=temperature, seed=seed + i)
            vote = majority_accuracy(table, ks, trials=trials, seed=seed)["per_problem"]
            cover = coverage(table, ks)["per_problem"]
            by_temperature[f"{temperature:g}"] = {"majority": np.round(vote, 3).tolist(), "coverage": np.round(cover, 3).tolist()}
        out[task] = {
            "model": model,
            "ks": list(ks),
            "difficulty": [difficulty(p) for p in problems],
            "greedy": greedy.correct[:, 0].astype(int).tolist(),
            "temperatures": by_temperature,
        }
    return out


@experiment(
    "ch03-cot-vs-direct",
    describe="chain of thought against a direct answer: majority@k and FLOPs per question (both tasks, 900 held-out problems each)",
    models={"arithmetic": ["arithmetic", "arithmetic-direct"], "countdown": ["countdown", "countdown-direct"]},
    per_size=300,
    n=16,
    ks=[1, 2, 4, 8, 16],
    temperature=0.8,
    trials=100,
    seed=7,
)
def cot_vs_direct(*, models: dict, per_size: int, n: int, ks: list, temperature: float, trials: int, seed: int) -> dict:
    """Per task and model, on the same problems: greedy correctness and its FLOPs, and
    majority@k over ``n`` samples at ``temperature`` with the FLOPs of k samples (the prompt
    read once, as the sampler charges it), per problem."""
    from tsc.analysis import draw, majority_accuracy
    from tsc.lm.policy import load_policy

    out = {}
    for task, names in models.items():
        problems = problem_set(task, per_size, seed=seed * 1000)
        rows = {}
        for name in names:
            policy = load_policy(name)
            prompt_tokens = [len(ids) for ids in policy.encode([policy.format(p) for p in problems])]
            greedy = draw(problems, policy, n=1, temperature=0.0, seed=seed)
            table = draw(problems, policy, n=n, temperature=temperature, seed=seed)
            vote = majority_accuracy(table, ks, trials=trials, seed=seed)["per_problem"]
            read = np.array([policy.flops(t, 0) for t in prompt_tokens], dtype=float)
            per_sample = np.array(
                [np.mean([policy.flops(t, int(g)) - policy.flops(t, 0) for g in row]) for t, row in zip(prompt_tokens, table.tokens)]
            )
            greedy_flops = [policy.flops(t, int(g)) for t, g in zip(prompt_tokens, greedy.tokens[:, 0])]
            rows[name] = {
                "kind": policy.card.get("kind", "policy"),
                "params": int(policy.n_params),
                "greedy": greedy.correct[:, 0].astype(int).tolist(),
                "greedy_flops": greedy_flops,
                "greedy_tokens": greedy.tokens[:, 0].astype(int).tolist(),
                "majority": np.round(vote, 3).tolist(),
                "flops_k": [float(np.mean(read + k * per_sample)) for k in ks],
                "tokens_per_sample": round(float(table.tokens.mean()), 2),
            }
        out[task] = {"ks": list(ks), "difficulty": [difficulty(p) for p in problems], "models": rows}
    return out


# --- reading the results back ------------------------------------------------------------------

RULES = {"no truncation": (0, 1.0, 0.0), "top-k 3": (3, 1.0, 0.0), "top-p 0.9": (0, 0.9, 0.0), "min-p 0.1": (0, 1.0, 0.1)}
MEASURES = ("pass@1", "coverage", "distinct answers")


def knob_measures(row: dict, n: int) -> dict[str, np.ndarray]:
    """One setting's per-problem measures from `decoding`: pass@1 (correct samples / n),
    coverage@n (any correct) and the number of distinct answers among the n samples."""
    correct = np.asarray(row["correct"], dtype=float)
    return {"pass@1": correct / n, "coverage": (correct > 0).astype(float), "distinct answers": np.asarray(row["distinct"], dtype=float)}


def knob_curves(result: dict, n: int, *, seed: int = 0) -> dict[str, list[dict]]:
    """For each truncation rule of `RULES`: one curve per measure of `MEASURES` against the
    temperature (``temperature``, ``mean``, ``low``, ``high``: 95 % bootstrap intervals over
    problems), from one task's part of the `decoding` result."""
    from tsc.analysis import bootstrap

    curves = {}
    for rule, (top_k, top_p, min_p) in RULES.items():
        rows = [
            r
            for r in result["settings"].values()
            if (r["knobs"]["top_k"], r["knobs"]["top_p"], r["knobs"]["min_p"]) == (top_k, top_p, min_p)
        ]
        rows.sort(key=lambda r: r["knobs"]["temperature"])
        if not rows:
            continue
        per_measure = []
        for measure in MEASURES:
            stats = np.array([bootstrap(knob_measures(r, n)[measure], seed=seed) for r in rows])
            per_measure.append(
                {
                    "temperature": np.array([r["knobs"]["temperature"] for r in rows]),
                    "mean": stats[:, 0],
                    "low": stats[:, 1],
                    "high": stats[:, 2],
                }
            )
        curves[rule] = per_measure
    return curves
