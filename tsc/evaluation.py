"""The evaluation figures on a model's card: greedy, pass@k and majority vote, per size.

Problems are fresh held-out Countdown problems (the test split, uniform over solvable ones);
every figure carries a 95 % interval (bootstrap over problems).
"""

from __future__ import annotations

import numpy as np

from tsc.analysis import auc, best_of_accuracy, bootstrap, bootstrap_statistic, calibration, coverage, draw, majority_accuracy, paired
from tsc.compute import Ledger
from tsc.tasks import TASKS, countdown, get_task

PASS_KS = (1, 4, 16, 32)


def _figure(mean, low, high) -> dict:
    return {"value": round(float(mean), 4), "low": round(float(low), 4), "high": round(float(high), 4)}


def _column(curve: dict, j: int) -> dict:
    """Column ``j`` of a curve (`tsc.analysis.coverage` and friends) as a card figure."""
    return _figure(curve["mean"][j], curve["low"][j], curve["high"][j])


def trained_on(policy) -> tuple[str, tuple[int, ...], int]:
    """(task, sizes, digits) of the problems ``policy``'s card says it was trained on:
    Countdown's default sizes for a model without a card."""
    card = getattr(policy, "card", None) or {}
    task = card.get("task", "countdown")
    sizes, options = get_task(task).trained(card)
    return task, sizes, int(options.get("digits", 2))


def evaluate_policy(
    policy,
    *,
    per_size: int = 300,
    sizes: tuple[int, ...] | None = None,
    n: int = 32,
    vote_n: int = 16,
    vote_temperature: float = 0.8,
    seed: int = 2024,
    max_new_tokens: int = 64,
) -> dict:
    """Card figures for a policy of either task, overall (sizes equally weighted) and per size.

    greedy: temperature-0 accuracy; pass@k: unbiased coverage from ``n`` samples at
    temperature 1 (pass@1 is one sample's accuracy); majority@vote_n: self-consistency over
    ``vote_n`` samples at ``vote_temperature``, and its paired difference from greedy. The
    task and the sizes (the difficulty dial) come from the model's card unless given.
    """
    from tsc.lm.train import task_problems

    task, trained_sizes, digits = trained_on(policy)
    sizes = tuple(sizes or trained_sizes)
    problems = [p for size in sizes for p in task_problems(task, per_size, seed=seed + size, sizes=(size,), digits=digits)]
    greedy = draw(problems, policy, n=1, temperature=0.0, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
    samples = draw(problems, policy, n=n, temperature=1.0, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
    votes = draw(problems, policy, n=vote_n, temperature=vote_temperature, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
    size_of = np.array([p.difficulty for p in problems])

    def figures(mask) -> dict:
        out = {"problems": int(mask.sum()), "greedy": _figure(*bootstrap(greedy.correct[mask, 0]))}
        cov = coverage(samples.subset(mask), PASS_KS)
        out |= {f"pass@{k}": _column(cov, j) for j, k in enumerate(PASS_KS)}
        vote = majority_accuracy(votes.subset(mask), [vote_n])
        out[f"majority@{vote_n}"] = _column(vote, 0)
        out[f"majority@{vote_n}-greedy"] = _figure(*paired(vote["per_problem"][:, 0], greedy.correct[mask, 0]))
        out["mean_tokens_per_sample"] = round(float(samples.tokens[mask].mean()), 2)
        return out

    return {
        "task": task,
        "split": get_task(task).split,
        "seed": seed,
        "per_size": per_size,
        "samples": n,
        "vote": {"n": vote_n, "temperature": vote_temperature},
        "overall": figures(np.ones(len(problems), dtype=bool)),
        "by_size": {str(s): figures(size_of == s) for s in sizes},
    }


THINKING_BUDGETS = (32, 64, 128, 256, 512, 1024)


def evaluate_trace(policy, *, problems: int = 600, budgets: tuple[int, ...] = THINKING_BUDGETS, seed: int = 2024) -> dict:
    """Card figures for a trace model: accuracy under greedy budget forcing at each thinking
    budget on the same held-out problems, the paired gain of the largest budget over 64
    tokens, and the thinking tokens spent.

    Greedy thinking cut at ``B`` tokens is the first ``B`` tokens of the thinking left to run,
    so one batched run of the longest budget serves every budget; then each budget's answers
    are sampled in one batch from the thinking cut there plus ``#`` (what `budget_forcing`
    does problem by problem, without waits; `tests/test_zoo.py` checks they agree).
    """
    from tsc.tasks.trace import THINK_END

    _, sizes, _ = trained_on(policy)
    chosen = countdown.generate(problems, seed=seed, sizes=sizes)
    prompts = [policy.format(p) for p in chosen]
    room = policy.max_len - max(len(policy.encode([q])[0]) for q in prompts) - 48  # the answer needs room too
    budgets = tuple(b for b in budgets if b <= room)
    runs = policy.sample(prompts, n=1, temperature=0.0, max_new_tokens=max(budgets), stop=(THINK_END,), seed=seed)
    thoughts = [policy.encode([row[0].text.split(THINK_END, 1)[0]])[0][1:] for row in runs]  # token ids, without bos
    lengths = np.array([len(ids) for ids in thoughts])
    stopped = np.array([THINK_END in row[0].text for row in runs])  # the model ended its thinking itself
    correct = np.zeros((len(chosen), len(budgets)))
    for j, budget in enumerate(budgets):
        cut = [policy.tokenizer.decode(ids[:budget]) for ids in thoughts]
        answers = policy.sample([q + c + THINK_END for q, c in zip(prompts, cut)], n=1, temperature=0.0, max_new_tokens=48, seed=seed)
        correct[:, j] = [problem.check(thinking + THINK_END + row[0].text) for problem, thinking, row in zip(chosen, cut, answers)]
    out = {
        "task": "countdown",
        "split": TASKS["countdown"].split,
        "seed": seed,
        "problems": len(chosen),
        "sizes": list(sizes),
        "strategy": "budget_forcing: greedy thinking cut at the budget, then the answer; no waits",
        "thinking": {str(b): _figure(*bootstrap(correct[:, j], seed=seed)) for j, b in enumerate(budgets)},
        "mean_thinking_tokens": {str(b): round(float(np.minimum(lengths, b).mean()), 1) for b in budgets},
        "stops_by_itself_within": {str(b): round(float((stopped & (lengths < b)).mean()), 4) for b in budgets},
    }
    if 64 in budgets and budgets[-1] > 64:
        gain = bootstrap(correct[:, -1] - correct[:, budgets.index(64)], seed=seed)
        out[f"thinking@{budgets[-1]}-thinking@64"] = _figure(*gain)
    return out


def evaluate_model(policy, **options) -> dict:
    """The card figures that fit ``policy``'s kind: budget forcing for a trace model, greedy,
    pass@k and majority vote for the others (see `evaluate_policy`, `evaluate_trace`)."""
    if (getattr(policy, "card", None) or {}).get("kind") == "trace":
        return evaluate_trace(policy, **options)
    return evaluate_policy(policy, **options)


def evaluate_verifiers(
    verifiers: dict,
    policy,
    *,
    problems: int = 300,
    sizes: tuple[int, ...] = countdown.SIZES,
    n: int = 16,
    temperature: float = 1.0,
    seed: int = 2024,
) -> dict:
    """How well each verifier ranks the policy's own samples on held-out problems.

    ``problems`` test-split problems (sizes drawn uniformly), ``n`` samples each at
    ``temperature``. For each verifier (name → object with ``score``): AUC of its score
    against the oracle's verdict over all samples, expected calibration error (10 bins) with
    its bin table, and best-of-n accuracy, overall and by size; intervals are 95 % bootstraps
    over problems. As baselines on the same samples: one sample's accuracy, pass@n and
    majority@n.
    """
    chosen = countdown.generate(problems, seed=seed, sizes=sizes, split="test")
    table = draw(chosen, policy, n=n, temperature=temperature, seed=seed, one_stream=True)
    size_of = np.array([len(p.numbers) for p in chosen])
    masks = {"overall": np.ones(len(chosen), dtype=bool), **{str(s): size_of == s for s in sizes}}

    def baselines(mask) -> dict:
        sub = table.subset(mask)
        cov, vote = coverage(sub, [1, n]), majority_accuracy(sub, [n])
        return {
            "problems": int(mask.sum()),
            "one_sample": _column(cov, 0),
            f"pass@{n}": _column(cov, 1),
            f"majority@{n}": _column(vote, 0),
        }

    out = {
        "split": TASKS["countdown"].split,
        "problems": problems,
        "sizes": list(sizes),
        "samples": n,
        "temperature": temperature,
        "seed": seed,
        "baselines": {name: baselines(mask) for name, mask in masks.items()},
        "verifiers": {},
    }
    for name, verifier in verifiers.items():
        ledger = Ledger()
        scores = np.array([verifier.score(p, list(texts), ledger=ledger) for p, texts in zip(chosen, table.texts)], dtype=float)
        calib = calibration(scores, table.correct)
        figures = {
            "auc": _figure(*bootstrap_statistic(auc, scores, table.correct, seed=seed)),
            "ece": _figure(*bootstrap_statistic(lambda s, c: calibration(s, c)["ece"], scores, table.correct, seed=seed)),
            "calibration": [{k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()} for row in calib["bins"]],
            "verifier_flops_per_sample": round(ledger.verifier_flops / scores.size),
            "verifier_tokens_per_sample": round(ledger.verifier_tokens / scores.size, 2),
        }
        for where, mask in masks.items():
            best = best_of_accuracy(table.subset(mask), scores[mask], [n], seed=seed)
            figures.setdefault(f"best_of_{n}", {})[where] = _column(best, 0)
        if callable(getattr(verifier, "score_steps", None)):
            figures["steps"] = _step_figures(verifier, chosen, table.texts, seed=seed)
        out["verifiers"][name] = figures
    return out


def _step_figures(verifier, problems, texts, *, seed: int) -> dict:
    """How well a step verifier's scores of the step prefixes before the last step rank
    against the exact process labels of `StepOracle` (legal so far and the target still
    reachable), as an AUC with a bootstrap interval over problems, and the labels' base rate."""
    from tsc.verifiers import StepOracle

    oracle, rows = StepOracle(), []
    for problem, row in zip(problems, texts):
        scores, labels = verifier.score_steps(problem, list(row)), oracle.score_steps(problem, list(row))
        rows.append([(s, y) for ss, ys in zip(scores, labels) for s, y in zip(ss[:-1], ys[:-1])])
    width = max(map(len, rows), default=0)
    if width == 0:
        return {}
    # problems × steps arrays padded with NaN, so the bootstrap resamples problems
    padded = np.full((len(rows), width, 2), np.nan)
    for i, row in enumerate(rows):
        padded[i, : len(row)] = np.reshape(row, (len(row), 2))  # (score, label) pairs
    scores, labels = padded[..., 0], padded[..., 1]

    def step_auc(s, y):
        keep = ~np.isnan(y)
        return auc(s[keep], y[keep].astype(bool))

    known = ~np.isnan(labels)
    return {
        "auc_vs_step_oracle": _figure(*bootstrap_statistic(step_auc, scores, labels, seed=seed)),
        "prefixes": int(known.sum()),
        "alive_rate": round(float(labels[known].mean()), 4),
    }


def evaluate_reward_model(reward, policy=None, **options) -> dict:
    """The card figures of a reward model (a `RewardModel`, a bundled name or a folder): see
    `evaluate_verifiers`. An ORM is read after the last step; a PRM's step scores are
    combined by min, last and product. ``overall`` repeats the headline figures (the ORM, or
    the PRM by min) beside the baselines, for `python -m tsc zoo`."""
    from tsc.lm.policy import load_policy
    from tsc.lm.reward import RewardModel, load_reward_model
    from tsc.verifiers import AGGREGATES, ORM, PRM

    reward = reward if isinstance(reward, RewardModel) else load_reward_model(reward)
    policy = policy if policy is not None else load_policy(reward.card.get("base", {}).get("name") or None)
    if reward.kind == "prm":
        verifiers = {f"prm_{how}": PRM(reward, aggregate=how) for how in AGGREGATES}
        headline = "prm_min"
    else:
        verifiers, headline = {"orm": ORM(reward)}, "orm"
    figures = evaluate_verifiers(verifiers, policy, **options)
    main, n = figures["verifiers"][headline], figures["samples"]
    base = figures["baselines"]["overall"]
    figures["overall"] = {
        "auc": main["auc"],
        "ece": main["ece"],
        f"best_of_{n}": main[f"best_of_{n}"]["overall"],
        f"majority@{n}": base[f"majority@{n}"],
        f"pass@{n}": base[f"pass@{n}"],
        "one_sample": base["one_sample"],
    }
    figures["headline"] = headline
    return figures


def evaluate_revision(
    reviser,
    policy,
    *,
    per_size: int = 100,
    sizes: tuple[int, ...] = countdown.SIZES,
    rounds: tuple[int, ...] = (1, 2, 4),
    temperatures: tuple[float, ...] = (1.0, 0.0),
    parallel_n: int = 16,
    seed: int = 2024,
) -> dict:
    """Card figures for a revision model: do k sequential revisions beat k parallel samples?

    On ``per_size`` held-out problems per size, `revise` runs with ``rounds=k`` for each k of
    ``rounds``, at each of ``temperatures`` (the policy's first attempt, then the reviser's,
    each reading the attempts before it, until the reviser writes nothing):

    - ``revise_last@k``: revise's answer, its last attempt, is correct (no verifier: the
      reviser is trusted);
    - ``revise_any@k``: some attempt is correct (what best-of with the oracle would choose
      among them: sequential coverage);

    against the policy alone: ``greedy``, and ``parallel_pass@k``, the unbiased pass@k of k
    independent samples at temperature 1 (from ``parallel_n`` per problem): best-of-k with
    the oracle over parallel samples. ``flops@k`` gives the mean policy FLOPs per problem of
    both (a revision re-reads the earlier attempts, so its attempts cost more).
    """
    from tsc.strategies import revise

    problems = TASKS["countdown"].per_size(per_size, seed=seed, sizes=sizes)
    size_of = np.array([len(p.numbers) for p in problems])
    last = max(rounds)
    greedy = draw(problems, policy, n=1, temperature=0.0, seed=seed, one_stream=True)
    samples = draw(problems, policy, n=parallel_n, temperature=1.0, seed=seed, one_stream=True)
    prompt_len = samples.prompt_tokens.tolist()
    sample_flops = np.array([[policy.flops(n, int(t)) for t in row] for n, row in zip(prompt_len, samples.tokens)])
    runs = {}  # temperature -> (last attempt right, some attempt right, policy FLOPs): problems x rounds
    for temperature in temperatures:
        right, covered, flops = (np.zeros((len(problems), len(rounds))) for _ in range(3))
        for j, k in enumerate(rounds):
            # a seed per problem: one seed for all would give every problem the same random draws
            # (each revise call samples alone), and their errors would move together. Round r
            # uses seed + r, so the run of k rounds repeats the first attempts of a longer one.
            for i, p in enumerate(problems):
                result = revise(p, policy, reviser=reviser, rounds=k, temperature=temperature, seed=seed + i * last)
                right[i, j] = result.correct
                covered[i, j] = any(p.check(t) for t in result.candidates)
                flops[i, j] = result.ledger.policy_flops
        runs[temperature] = (right, covered, flops)

    def figures(mask) -> dict:
        out = {"problems": int(mask.sum()), "greedy": _figure(*bootstrap(greedy.correct[mask, 0]))}
        cov = coverage(samples.subset(mask), rounds)
        for j, k in enumerate(rounds):
            out[f"parallel_pass@{k}"] = _column(cov, j)
            out[f"parallel_flops@{k}"] = round(float(k * sample_flops[mask].mean()))
        for temperature, (right, covered, flops) in runs.items():
            tag = "" if temperature == 1.0 else f"_t{temperature:g}"
            for j, k in enumerate(rounds):
                out[f"revise{tag}_last@{k}"] = _figure(*bootstrap(right[mask, j]))
                out[f"revise{tag}_any@{k}"] = _figure(*bootstrap(covered[mask, j]))
                out[f"revise{tag}_flops@{k}"] = round(float(flops[mask, j].mean()))
        return out

    overall = figures(np.ones(len(problems), dtype=bool))
    return {
        "split": TASKS["countdown"].split,
        "seed": seed,
        "per_size": per_size,
        "rounds": list(rounds),
        "temperatures": list(temperatures),
        "parallel": {"n": parallel_n, "temperature": 1.0},
        "overall": overall,
        "by_size": {str(s): figures(size_of == s) for s in sizes},
        "verdict": _revision_verdict(overall, last),
    }


def _revision_verdict(overall: dict, k: int) -> str:
    """One sentence: do k revisions beat k parallel samples (intervals apart, or not)?"""
    seq, par = overall[f"revise_any@{k}"], overall[f"parallel_pass@{k}"]
    if seq["low"] > par["high"]:
        word = "beat"
    elif seq["high"] < par["low"]:
        word = "lose to"
    else:
        word = "do not clearly differ from"
    return (
        f"{k} sequential revisions at T=1 {word} {k} parallel samples at equal attempts "
        f"(best-of-{k} with the oracle: {seq['value']:.1%} vs {par['value']:.1%}); revise's own answer (its last "
        f"attempt, no verifier) is right {overall[f'revise_last@{k}']['value']:.1%} of the time (greedy {overall['greedy']['value']:.1%})"
    )


def rl_figures(policy, problems: list, *, samples: int = 4, seed: int = 2024, max_new_tokens: int = 64) -> dict:
    """Held-out figures at one point of an RL run (`tsc.lm.rl.train_rl` logs them), with 95 % bootstrap intervals over problems:
    greedy accuracy, pass@1 (the mean over ``samples`` samples at T=1 of each problem), both
    per size; the samples' mean length in tokens, the share that are well formed, and their
    mean negative log-probability per token (an estimate of the policy's entropy)."""
    greedy = draw(problems, policy, n=1, temperature=0.0, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
    table = draw(problems, policy, n=samples, temperature=1.0, seed=seed, max_new_tokens=max_new_tokens, one_stream=True)
    sizes = np.array([len(p.numbers) for p in problems])

    def figure(values) -> dict:
        return _figure(*bootstrap(np.asarray(values, dtype=float), seed=seed))

    def figures(mask) -> dict:
        return {
            "problems": int(mask.sum()),
            "greedy": figure(greedy.correct[mask, 0]),
            "pass@1": figure(table.correct[mask].mean(axis=1)),
            "mean_tokens": round(float(table.tokens[mask].mean()), 2),
            "greedy_tokens": round(float(greedy.tokens[mask].mean()), 2),
        }

    well_formed = np.array([[countdown.parse(t) is not None for t in row] for row in table.texts])
    return {
        **figures(np.ones(len(problems), dtype=bool)),
        "well_formed": round(float(well_formed.mean()), 4),
        "nll_per_token": round(float(-table.logprobs.sum() / table.tokens.sum()), 4),
        "by_size": {str(s): figures(sizes == s) for s in sorted(set(sizes.tolist()))},
    }
