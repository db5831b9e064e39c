"""Chapter 2's experiments: what RL changes in pass@k, budget forcing with and without
"Wait", and the samples of the step-by-step models that sequential thinking is compared with.

Each stores per-problem results (counts, verdicts, tokens), so the chapter computes every
curve, interval and paired difference from them in a moment:

    python -m tsc experiment rl_pass_at_k
    python -m tsc experiment budget_forcing_curve
    python -m tsc experiment budget_forcing_wait
    python -m tsc experiment parallel_samples
"""

from __future__ import annotations

import numpy as np

from tsc.experiments.base import experiment


@experiment(
    "rl_pass_at_k",
    describe="pass@k for k = 1..256 of countdown-rl and its KL-penalised twin countdown-rl-kl against countdown, 300 "
    "held-out problems (the first 100 of each size of the cards'), 256 samples each at T=1 and greedy; the starting model "
    "also at T = 0.3, 0.5, 0.7 (the cheap explanation of RL's gain: a sharper distribution)",
    models=["countdown", "countdown-rl", "countdown-rl-kl"],
    base_temperatures=[0.3, 0.5, 0.7],
    card_per_size=300,
    card_samples=4,
    per_size=100,
    sizes=[3, 4, 5],
    samples=256,
    seed=2024,
    max_new_tokens=64,
)
def rl_pass_at_k(
    *, models, base_temperatures, card_per_size, card_samples, per_size, samples, sizes, seed, max_new_tokens, only: str | None = None
) -> dict | None:
    """For every model (at T=1) and problem: how many of ``samples`` samples are correct, how
    many *different* correct solutions they hold (by answer key), the samples' mean length,
    and whether greedy decoding solves it; the same for the first model (the starting one) at
    each of ``base_temperatures`` (``base_temperatures[T]``, without greedy). pass@k for any
    k <= samples follows from the counts (`tsc.analysis.pass_at_k`). Every model and
    temperature reads the same problems with the same seeds, so all comparisons are paired.
    ``card_controls[T]``: the first model's pass@1 at each base temperature on all the cards'
    problems (``card_per_size`` of each size), from ``card_samples`` samples per problem drawn
    as the RL runs' held-out evaluations draw them (`tsc.lm.rl.evaluate_point`), for Figure 1.

    It takes about twenty minutes on one CPU thread, so each block of 100 problems is kept in
    ``runs/cache/rl_pass_at_k.jsonl`` (keyed by model weights and configuration) as it is
    finished: a stopped run resumes, and ``only=MODEL`` (from Python, not a configuration
    option) computes one model's parts alone and returns None."""
    from tsc.lm.policy import load_policy
    from tsc.tasks import TASKS

    # the held-out problems of the models' cards (`tsc.evaluation.evaluate_policy`)
    problems = TASKS["countdown"].per_size(per_size, seed=seed, sizes=tuple(sizes))
    out = {"problems": [p.prompt() for p in problems], "sizes": [len(p.numbers) for p in problems], "samples": samples, "models": {}}
    out["base_temperatures"] = {}
    for name in [only] if only else models:
        policy = load_policy(name)
        runs = [1.0] + (list(base_temperatures) if name == models[0] else [])
        for temperature in runs:
            key = {
                "model": name,
                "weights": policy.card.get("weights_sha256", ""),
                "samples": samples,
                "seed": seed,
                "max_new_tokens": max_new_tokens,
                "temperature": temperature,
            }
            blocks = [
                _cached(
                    "rl_pass_at_k",
                    {**key, "problems": [p.prompt() for p in problems[start : start + 100]], "start": start},
                    lambda start=start, policy=policy, temperature=temperature: _pass_block(
                        policy, problems[start : start + 100], samples, seed + start, max_new_tokens, temperature
                    ),
                )
                for start in range(0, len(problems), 100)  # 100 problems x 256 samples at a time: bounded memory
            ]
            part = {key: [c for b in blocks for c in b[key]] for key in ("correct", "distinct_correct", "mean_tokens")}
            part["generated_tokens"] = sum(b["generated_tokens"] for b in blocks)
            if temperature == 1.0:
                out["models"][name] = {**part, "greedy": [c for b in blocks for c in b["greedy"]]}
            else:
                out["base_temperatures"][f"{temperature:g}"] = part
    if not only or only == models[0]:
        out["card_controls"] = {
            f"{t:g}": _card_controls(models[0], card_per_size, seed, tuple(sizes), card_samples, t, max_new_tokens)
            for t in base_temperatures
        }
    return None if only else out


def _card_controls(
    model: str, per_size: int, seed: int, sizes: tuple[int, ...], samples: int, temperature: float, max_new_tokens: int
) -> dict:
    """pass@1 per problem (the mean of ``samples`` samples at ``temperature``) on the cards'
    held-out problems, drawn with the evaluations' seed; cached like the blocks."""
    from tsc.analysis import draw
    from tsc.lm.policy import load_policy
    from tsc.tasks import TASKS

    policy = load_policy(model)
    problems = TASKS["countdown"].per_size(per_size, seed=seed, sizes=sizes)  # the cards' held-out problems
    key = {"model": model, "weights": policy.card.get("weights_sha256", ""), "card_controls": True, "per_size": per_size,
           "samples": samples, "seed": seed, "temperature": temperature, "max_new_tokens": max_new_tokens}  # fmt: skip

    def compute() -> dict:
        table = draw(problems, policy, n=samples, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
        return {"pass1": np.round(table.correct.mean(axis=1), 4).tolist()}

    return _cached("rl_pass_at_k", key, compute)


def _pass_block(policy, chunk: list, samples: int, seed: int, max_new_tokens: int, temperature: float = 1.0) -> dict:
    """One block of `rl_pass_at_k`: ``samples`` samples of each problem at ``temperature``,
    and at T=1 greedy decoding too."""
    from tsc.analysis import draw

    table = draw(chunk, policy, n=samples, temperature=temperature, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
    out = {
        "correct": table.correct.sum(axis=1).astype(int).tolist(),
        "distinct_correct": [len({k for k, c in zip(keys, ok) if c}) for keys, ok in zip(table.keys, table.correct)],
        "mean_tokens": np.round(table.tokens.mean(axis=1), 3).tolist(),
        "generated_tokens": int(table.ledger.generated_tokens),
    }
    if temperature == 1.0:
        greedy = draw(chunk, policy, n=1, temperature=0.0, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
        out["greedy"] = greedy.correct[:, 0].astype(int).tolist()
    return out


def _cached(name: str, key: dict, compute) -> dict:
    """``compute()``, kept under ``key`` in ``runs/cache/NAME.jsonl`` (`tsc.analysis.SweepCache`,
    with the seconds it took) so a long experiment that is stopped resumes where it stopped."""
    from pathlib import Path

    from tsc.analysis import SweepCache

    return SweepCache(Path("runs") / "cache" / f"{name}.jsonl").fetch(key, compute)


def _forced(model: str, problems: int, seed: int, configs: list[tuple[int, int]], max_new_tokens: int) -> dict:
    """`tsc.strategies.budget_forcing` itself, problem by problem, greedy, on the first
    ``problems`` held-out 3-number problems of the trace model's card, for each (thinking
    budget, minimum) in ``configs``: solved or not, tokens generated (thinking, ``#`` and
    answer), thinking tokens, waits appended, whether the thinking was cut, FLOPs."""
    from tsc.lm.policy import load_policy
    from tsc.strategies import budget_forcing
    from tsc.tasks import countdown

    policy = load_policy(model)
    chosen = countdown.generate(problems, seed=seed, sizes=(3,))
    out = {"problems": [p.prompt() for p in chosen], "configs": []}
    for budget, minimum in configs:
        rows = [
            budget_forcing(p, policy, thinking_tokens=budget, min_thinking_tokens=minimum, seed=seed, max_new_tokens=max_new_tokens)
            for p in chosen
        ]
        out["configs"].append(
            {
                "thinking_tokens": budget,
                "min_thinking_tokens": minimum,
                "correct": [int(r.correct) for r in rows],
                "generated_tokens": [r.ledger.generated_tokens for r in rows],
                "thinking": [r.trace["thinking_tokens"] for r in rows],
                "waits": [r.trace["waits"] for r in rows],
                "forced": [int(r.trace["forced"]) for r in rows],
                "flops": [r.ledger.flops for r in rows],
            }
        )
    return out


@experiment(
    "budget_forcing_curve",
    describe="the trace model under budget forcing (greedy) on 300 held-out 3-number problems, its thinking cut at 16 to 512 tokens",
    model="trace",
    problems=300,
    seed=2024,
    budgets=[16, 32, 64, 128, 256, 512],
    max_new_tokens=32,
)
def budget_forcing_curve(*, model, problems, seed, budgets, max_new_tokens) -> dict:
    """Accuracy against the thinking budget: o1's test-time axis on the trace model."""
    return _forced(model, problems, seed, [(b, 0) for b in budgets], max_new_tokens)


@experiment(
    "budget_forcing_wait",
    describe="the trace model's thinking extended with s1's 'Wait' (its backtrack mark) to at least 256, 384 or 512 tokens, "
    "against no minimum, on the first 100 problems of budget_forcing_curve",
    model="trace",
    problems=100,
    seed=2024,
    budget=560,
    minimums=[0, 256, 384, 512],
    max_new_tokens=32,
)
def budget_forcing_wait(*, model, problems, seed, budget, minimums, max_new_tokens) -> dict:
    """Accuracy when the model may not stop thinking before a minimum (a "Wait" each time it tries)."""
    return _forced(model, problems, seed, [(budget, m) for m in minimums], max_new_tokens)


@experiment(
    "parallel_samples",
    describe="64 samples at T=1 of countdown and countdown-rl on the budget-forcing problems (300 held-out, 3 numbers): "
    "coverage and majority vote over N samples, per problem, for N = 1..16, 24, 32, 48, 64, and what a prompt and a sample cost",
    models=["countdown", "countdown-rl"],
    problems=300,
    seed=2024,
    samples=64,
    ns=[*range(1, 17), 24, 32, 48, 64],
    max_new_tokens=64,
)
def parallel_samples(*, models, problems, seed, samples, ns, max_new_tokens) -> dict:
    """Per model, problem and N: coverage (some of N samples is right: an oracle picks,
    unbiased pass@N) and majority vote over N samples (no verifier), with the samples' mean
    generated tokens, on the problems of `budget_forcing_curve`; and per problem the FLOPs of
    reading its prompt and of writing one of its samples (the table's ``prompt_flops`` and
    ``sample_flops``), so N samples
    cost ``prompt_flops + N * sample_flops``."""
    from tsc.analysis import coverage, draw, majority_accuracy
    from tsc.lm.policy import load_policy
    from tsc.tasks import countdown

    chosen = countdown.generate(problems, seed=seed, sizes=(3,))
    out = {"problems": [p.prompt() for p in chosen], "ns": ns, "models": {}}
    for name in models:
        policy = load_policy(name)
        table = draw(chosen, policy, n=samples, temperature=1.0, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
        greedy = draw(chosen, policy, n=1, temperature=0.0, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
        cov = coverage(table, ns)["per_problem"]
        vote = majority_accuracy(table, ns, trials=200, seed=seed)["per_problem"]
        out["models"][name] = {
            "coverage": np.round(cov.T, 4).tolist(),  # [N][problem]
            "majority": np.round(vote.T, 4).tolist(),
            "greedy": greedy.correct[:, 0].astype(int).tolist(),
            "tokens_per_sample": round(float(table.tokens.mean()), 3),
            "prompt_flops": [int(f) for f in table.prompt_flops],
            "sample_flops": np.round(table.sample_flops, 1).tolist(),
        }
    return out
