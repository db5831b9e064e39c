"""Chapter 8's experiments: the free-energy controller's fitted model, and its frontiers.

- ``ch08_fit`` samples training-split questions and fits what the controller believes: the
  answer model (`tsc.strategies.free_energy.fit_answer_model`) for the bundled arithmetic
  and Countdown models at each temperature, and the PRM's likelihood as an observation
  channel (`Channel.fit`). The controller reads the stored result at run time
  (`tsc.strategies.free_energy.fitted`). It also sweeps the cost per token on the training
  questions, which is where the controller's default cost comes from.
- ``ch08_arithmetic`` and ``ch08_countdown`` run every contender (`contenders`) on held-out
  problems from one table of samples (`tsc.replay`): fixed-n majority voting, the stopping
  rule `stop_when_decided`, the controller at a grid of costs per token, the ablations of
  its epistemic term, and on Countdown best-of-N and the weighted vote with the same PRM.
  Each setting keeps its per-problem outcomes, so the chapter computes paired intervals.

Recompute with ``python -m tsc experiment NAME --refresh`` (``ch08_fit`` first: the others
use its fits). Adding a contender is one line in `contenders`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from tsc.analysis import SampleTable, draw
from tsc.experiments.base import experiment, key_ids
from tsc.replay import TablePolicy, TableVerifier, check_replay


def _table(problems, policy, verifier=None, *, n: int, **options) -> SampleTable:
    """The first ``n`` samples of each problem's stream, each scored on its own by ``verifier``
    (if any), as the strategies replayed from it check one candidate at a time; one problem per
    call, as the stored results were drawn (the PRM's scores then agree to the last bit)."""
    verifiers = None if verifier is None else {"verifier": verifier}
    return draw(problems, policy, n=n, verifiers=verifiers, one_by_one=True, chunk=n if verifier else None, **options)


COSTS = [0.0002, 0.0005, 0.001, 0.002, 0.004, 0.008, 0.016]  # nats of preference per token
ABLATION_COSTS = [0.0005, 0.002, 0.008]  # the ablations run at fewer costs (risk alone samples a lot)
VERIFIER = "<the table's verifier>"  # in a contender's knobs: replaced by the table's verifier


def contenders(
    task: str, *, n: int, costs: list[float], ablation_costs: list[float], ns: list[int], leads: list
) -> dict[str, tuple[Callable, list[dict]]]:
    """Every strategy the chapter compares, each with the knob settings it is run at.

    One line per contender: ``name: (strategy, [knobs, ...])``. Chapter 7's ``early_stop``
    joins with one more line (``"early stop (Ch. 7)": (early_stop, [{"n": n, ...}, ...])``).
    """
    from tsc.strategies import best_of_n, majority_vote, weighted_vote
    from tsc.strategies.free_energy import free_energy
    from tsc.strategies.stopping import stop_when_decided

    verify = {"verifier": VERIFIER} if task == "countdown" else {}
    out = {
        "majority": (majority_vote, [{"n": k} for k in ns]),
        "stop when decided": (stop_when_decided, [{"n": n, "lead": d} for d in leads]),
        "free energy": (free_energy, [{"n": n, "cost_per_token": c, **verify} for c in costs]),
        "free energy, risk only": (free_energy, [{"n": n, "cost_per_token": c, "objective": "risk", **verify} for c in ablation_costs]),
        "free energy, expected utility": (
            free_energy,
            [{"n": n, "cost_per_token": c, "objective": "utility", **verify} for c in ablation_costs],
        ),
    }
    # the decisive control: a plain Bayesian decision maker planning further ahead (the stopping problem
    # is solved exactly by backward induction; the epistemic term can only patch a short horizon)
    horizons = (3, 4) if task == "arithmetic" else (3,)
    for h in horizons:
        out[f"expected utility, horizon {h}"] = (
            free_energy,
            [
                {"n": n, "cost_per_token": c, "objective": "utility", "horizon": h, **verify}
                for c in (costs if task == "arithmetic" else ablation_costs)
            ],
        )
    if task == "arithmetic":  # tokens free: does the agent pay for samples that cannot change its answer?
        out["free energy, tokens free"] = (free_energy, [{"n": n, "cost_per_token": 0.0}])
        out["expected utility, tokens free"] = (free_energy, [{"n": n, "cost_per_token": 0.0, "objective": "utility"}])
    if task == "countdown":
        out["free energy, no verifier"] = (free_energy, [{"n": n, "cost_per_token": c} for c in ablation_costs])
        out["best-of-n (PRM)"] = (best_of_n, [{"n": k, "verifier": VERIFIER} for k in ns])
        out["weighted vote (PRM)"] = (weighted_vote, [{"n": k, "verifier": VERIFIER} for k in ns])
    return out


def run_contenders(table: SampleTable, policy, verifier=None, *, contenders: dict, progress: bool = False) -> dict:
    """Every setting of every contender on the table's problems, replayed (`tsc.replay`):
    per problem its correctness, generated tokens, FLOPs, samples drawn and (for the
    controller) its confidence in its answer."""
    from tsc.strategies import solve_many

    replay = TablePolicy(policy, table)
    judge = TableVerifier(verifier, table) if verifier is not None else None
    out = {}
    for name, (strategy, settings) in contenders.items():
        out[name] = []
        for knobs in settings:
            started = time.perf_counter()
            run = {k: (judge if v == VERIFIER else v) for k, v in knobs.items()}
            results = solve_many(strategy, table.problems, replay, seed=table.seed, temperature=table.temperature, **run)
            traced = results[0].trace if results else {}
            out[name].append(
                {
                    "knobs": {k: ("table" if v == VERIFIER else v) for k, v in knobs.items()},
                    "correct": "".join("1" if r.correct else "0" for r in results),
                    "tokens": [r.ledger.generated_tokens for r in results],
                    "flops": [r.ledger.flops for r in results],
                    "samples": [r.ledger.samples for r in results],
                    "confidence": [round(float(r.trace["confidence"]), 5) for r in results] if "confidence" in traced else None,
                    "verifies": [sum(s["action"] == "verify" for s in r.trace["steps"]) for r in results] if "steps" in traced else None,
                    "after_decided": [after_decided(p, r, table.n) for p, r in zip(table.problems, results)],
                }
            )
            if progress:
                row = out[name][-1]
                print(
                    f"  {name} {row['knobs']}: {np.mean([c == '1' for c in row['correct']]):.3f} correct, "
                    f"{np.mean(row['tokens']):.1f} tokens ({time.perf_counter() - started:.0f} s)",
                    flush=True,
                )
    return out


def after_decided(problem, result, n: int) -> int:
    """How many of ``result``'s samples were drawn after the vote among the first ones was
    decided: no answer could overtake the leader with the samples left of ``n``
    (`tsc.strategies.stopping.decided`), so they could not change majority voting's answer."""
    from tsc.strategies.stopping import decided, tally

    keys = [problem.answer_key(text) for text in result.candidates]
    return sum(decided(tally(keys[:j]), n - j) for j in range(1, len(keys)))


def _policy_and_verifier(task: str, verifier_name: str | None):
    from tsc.lm.policy import load_policy
    from tsc.verifiers import get_verifier

    policy = load_policy("arithmetic" if task == "arithmetic" else "countdown")
    return policy, (get_verifier(verifier_name) if verifier_name else None)


# --- the fit ---------------------------------------------------------------------------------


@experiment(
    "ch08_fit",
    describe="Chapter 8: the free-energy controller's answer models and PRM channel, fitted on training questions",
    arithmetic=1000,
    countdown=600,
    temperatures=[0.8, 1.0],
    n=16,
    seed=8,
    bins=4,
    costs=COSTS,
)
def fit(*, arithmetic: int, countdown: int, temperatures: list[float], n: int, seed: int, bins: int, costs: list[float]) -> dict:
    from tsc.strategies.free_energy import Channel, fit_answer_model
    from tsc.tasks import get_task

    fits, sweeps = [], {}
    for task, count, verifier_name in (("arithmetic", arithmetic, None), ("countdown", countdown, "prm")):
        policy, verifier = _policy_and_verifier(task, verifier_name)
        problems = get_task(task).generate(count, seed=seed, split="train")
        for temperature in temperatures:
            started = time.perf_counter()
            table = _table(problems, policy, verifier, n=n, temperature=temperature, seed=seed)
            rows = [list(zip(keys, ok)) for keys, ok in zip(table.keys, table.correct.tolist())]
            model = fit_answer_model(rows, tokens=float(table.tokens.mean()))
            entry = {
                "policy": policy.name,
                "task": task,
                "temperature": temperature,
                "questions": len(problems),
                "samples": n,
                "answer_model": model.to_json(),
                "sample_accuracy": float(table.correct.mean()),
            }
            if verifier is not None:
                # a query's cost in policy-token equivalents: verifier FLOPs over the policy's FLOPs per generated token
                per_token = (policy.flops(16, 64) - policy.flops(16, 0)) / 64
                cost = float(table.verifier_flops["verifier"].mean() / per_token)
                answered = np.array([[k is not None for k in keys] for keys in table.keys])
                channel = Channel.fit(table.scores("verifier")[answered], table.correct[answered], bins=bins, cost=round(cost, 3))
                entry["channels"] = {verifier.name: channel.to_json()}
            entry["seconds"] = round(time.perf_counter() - started, 1)
            fits.append(entry)
            if task == "arithmetic" and temperature == 0.8:
                sweeps[task] = _sweep(table, policy, model, costs)
    chosen = _choose_cost(sweeps["arithmetic"])
    card = {
        "what": "the generative model the free_energy controller believes (tsc.strategies.free_energy.AnswerModel) and the PRM's "
        "likelihood as an observation channel (Channel), by maximum likelihood on training-split questions",
        "data": f"the first {n} samples of each question's stream (seed {seed}); {arithmetic} arithmetic questions, "
        f"{countdown} Countdown problems (sizes 3-5), training split (never the held-out tenth)",
        "refit": "python -m tsc experiment ch08_fit --refresh",
        "default_cost": chosen,
        "default_cost_rule": "the cost per token on the grid with the best training accuracy (arithmetic, T=0.8, at most 16 samples) "
        "among those that spend at most half of majority voting's tokens over 16 samples",
    }
    return {"fits": fits, "train_sweep": sweeps, "card": card}


def _sweep(table: SampleTable, policy, model, costs: list[float]) -> dict:
    """The controller at each cost on training questions, against majority of all n samples."""
    from tsc.strategies import majority_vote, solve_many
    from tsc.strategies.free_energy import free_energy

    replay = TablePolicy(policy, table)
    base = solve_many(majority_vote, table.problems, replay, seed=table.seed, temperature=table.temperature, n=table.n)
    tokens = float(np.mean([r.ledger.generated_tokens for r in base]))
    out = {"majority": {"accuracy": float(np.mean([r.correct for r in base])), "tokens": tokens}}
    out["free_energy"] = []
    for cost in costs:
        runs = solve_many(
            free_energy, table.problems, replay, seed=table.seed, temperature=table.temperature, n=table.n, cost_per_token=cost, model=model
        )
        out["free_energy"].append(
            {
                "cost_per_token": cost,
                "accuracy": float(np.mean([r.correct for r in runs])),
                "tokens": float(np.mean([r.ledger.generated_tokens for r in runs])),
            }
        )
    return out


def _choose_cost(sweep: dict) -> float:
    """The cost with the best training accuracy among those spending at most half of
    majority voting's tokens (ties: the higher cost, which spends less)."""
    half = [row for row in sweep["free_energy"] if row["tokens"] <= sweep["majority"]["tokens"] / 2]
    rows = half or sweep["free_energy"]
    return max(rows, key=lambda row: (row["accuracy"], row["cost_per_token"]))["cost_per_token"]


# --- the frontiers ---------------------------------------------------------------------------


def _frontier(
    task: str, *, problems, temperature, n, seed, costs, ablation_costs, ns, leads, verifier_name, live_check, rule_questions: int = 0
) -> dict:
    from tsc.strategies.free_energy import free_energy
    from tsc.strategies.stopping import stop_when_decided
    from tsc.tasks import get_task

    policy, verifier = _policy_and_verifier(task, verifier_name)
    sizes = get_task(task).sizes
    held_out = get_task(task).per_size(problems // len(sizes), seed=seed, sizes=sizes)
    started = time.perf_counter()
    table = _table(held_out, policy, verifier, n=n, temperature=temperature, seed=seed)
    table_seconds = time.perf_counter() - started
    plan = contenders(task, n=n, costs=costs, ablation_costs=ablation_costs, ns=ns, leads=leads)
    results = run_contenders(table, policy, verifier, contenders=plan, progress=True)
    checks = {}
    if live_check:
        few = list(held_out[:: max(1, len(held_out) // live_check)][:live_check])
        small = _table(few, policy, verifier, n=n, temperature=temperature, seed=seed)
        extra = {"verifier": verifier} if verifier is not None else {}
        checks["free_energy"] = check_replay(free_energy, few, policy, small, seed=seed, n=n, **extra)
        checks["stop_when_decided"] = check_replay(stop_when_decided, few, policy, small, seed=seed, n=n, lead=2)
    rule_table = None
    if rule_questions:  # Exercise 8.3 grades on a dev split stratified by size, from the training questions
        dev = [
            p
            for size in sizes
            for p in get_task(task).generate(rule_questions // len(sizes), seed=seed + 100 + size, sizes=(size,), split="train")
        ]
        rule_table = _rule_table(_table(dev, policy, n=n, temperature=temperature, seed=seed), len(dev))
    return {
        "task": task,
        "rule_table": rule_table,
        "problems": len(held_out),
        "sizes": list(sizes),
        "size": [int(p.difficulty) for p in held_out],
        "temperature": temperature,
        "n": n,
        "table_seconds": round(table_seconds, 1),
        "sample_accuracy": float(table.correct.mean()),
        "contenders": results,
        "live_check": checks,
    }


@experiment(
    "ch08_arithmetic",
    describe="Chapter 8: accuracy against tokens on held-out arithmetic: majority, a stopping rule, the free-energy controller",
    problems=2001,
    temperature=0.8,
    n=16,
    seed=88,
    costs=COSTS,
    ablation_costs=ABLATION_COSTS,
    ns=[1, 2, 3, 4, 6, 8, 12, 16],
    leads=[1, 2, 3, 4, None],
    live_check=40,
    rule_questions=600,
)
def arithmetic_frontier(**config) -> dict:
    return _frontier("arithmetic", verifier_name=None, **config)


@experiment(
    "ch08_countdown",
    describe="Chapter 8: accuracy against FLOPs on held-out Countdown with the PRM as the controller's observation channel",
    problems=900,
    temperature=1.0,
    n=16,
    seed=89,
    costs=COSTS,
    ablation_costs=ABLATION_COSTS,
    ns=[1, 2, 4, 8, 16],
    leads=[1, 2, 3, None],
    live_check=20,
)
def countdown_frontier(**config) -> dict:
    return _frontier("countdown", verifier_name="prm", **config)


def _rule_table(table: SampleTable, count: int) -> dict:
    """The first ``count`` questions of the table (a dev split, not the held-out questions),
    compactly, for Exercise 8.3: each sample's
    answer as a letter (A: the question's first answer, B: its second, ...; "." malformed),
    the letter of the right answer ("" if no sample found it) and each sample's tokens."""
    keys, right = [], []
    for i in range(min(count, len(table.problems))):
        letters = ["." if n < 0 else chr(ord("A") + n) for n in key_ids(table.keys[i])]  # at most 16 answers: A to P
        keys.append("".join(letters))
        right.append(next((letter for letter, ok in zip(letters, table.correct[i]) if ok and letter != "."), ""))
    size = [int(p.difficulty) for p in table.problems[: len(keys)]]
    return {"n": table.n, "keys": keys, "right": right, "tokens": table.tokens[: len(keys)].tolist(), "size": size}


# --- reading the results (the chapter's intervals) ---------------------------------------------


def setting(data: dict, name: str, **knobs) -> dict:
    """The run of contender ``name`` at ``knobs`` (those given must match) in a frontier's data."""
    for row in data["contenders"][name]:
        if all(row["knobs"].get(k) == v for k, v in knobs.items()):
            return row
    raise ValueError(f"{name!r} was not run at {knobs}; its settings: {[row['knobs'] for row in data['contenders'][name]]}")


def outcomes(row: dict) -> dict[str, np.ndarray]:
    """One run's per-problem arrays: correct (0/1), tokens, flops, samples (and confidence)."""
    out = {
        "correct": np.array([c == "1" for c in row["correct"]], dtype=float),
        "tokens": np.asarray(row["tokens"], dtype=float),
        "flops": np.asarray(row["flops"], dtype=float),
        "samples": np.asarray(row["samples"], dtype=float),
    }
    if row.get("confidence") is not None:
        out["confidence"] = np.asarray(row["confidence"], dtype=float)
    return out


def summarize(data: dict, *, cost: str = "tokens", n_boot: int = 1000, seed: int = 0) -> dict[str, list[dict]]:
    """Per contender, per setting: accuracy and mean ``cost`` ("tokens" generated or "flops")
    per problem, each with a 95 % bootstrap interval over problems."""
    from tsc.analysis import bootstrap

    out = {}
    for name, rows in data["contenders"].items():
        out[name] = []
        for row in rows:
            o = outcomes(row)
            mean, low, high = bootstrap(np.stack([o["correct"], o[cost]], axis=1), n_boot=n_boot, seed=seed)
            out[name].append(
                {
                    "knobs": row["knobs"],
                    "accuracy": float(mean[0]),
                    "accuracy_low": float(low[0]),
                    "accuracy_high": float(high[0]),
                    "cost": float(mean[1]),
                    "cost_low": float(low[1]),
                    "cost_high": float(high[1]),
                    "samples": float(o["samples"].mean()),
                }
            )
    return out


def compare(a: dict, b: dict, *, cost: str = "tokens", n_boot: int = 2000, seed: int = 0) -> dict[str, float]:
    """Run ``a`` against run ``b`` on the same problems, paired: the difference in accuracy
    (a - b) and the ratio of mean ``cost`` (a / b), each with a 95 % bootstrap interval that
    resamples problems together."""
    oa, ob = outcomes(a), outcomes(b)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, len(oa["correct"]), size=(n_boot, len(oa["correct"])))
    diffs = (oa["correct"][index] - ob["correct"][index]).mean(axis=1)
    ratios = oa[cost][index].mean(axis=1) / ob[cost][index].mean(axis=1)
    return {
        "difference": float((oa["correct"] - ob["correct"]).mean()),
        "difference_low": float(np.percentile(diffs, 2.5)),
        "difference_high": float(np.percentile(diffs, 97.5)),
        "ratio": float(oa[cost].mean() / ob[cost].mean()),
        "ratio_low": float(np.percentile(ratios, 2.5)),
        "ratio_high": float(np.percentile(ratios, 97.5)),
    }


def verdict(comparison: dict, a: str, b: str) -> str:
    """A sentence that says no more than a paired interval: within the noise, or who is ahead."""
    if comparison["difference_low"] <= 0 <= comparison["difference_high"]:
        return f"The difference between {a} and {b} is within the noise."
    ahead = a if comparison["difference"] > 0 else b
    return f"{ahead[0].upper() + ahead[1:]} is ahead, and the interval excludes zero."


def ece_interval(outcome: dict, *, bins: int = 5, n_boot: int = 300, seed: int = 0) -> tuple[float, float, float]:
    """The expected calibration error of a run's beliefs in its answers (``bins`` equal-width
    bins), with a bootstrap interval over problems: (value, low, high)."""
    from tsc.analysis import bootstrap_statistic, calibration

    return bootstrap_statistic(
        lambda s, y: calibration(s, y, bins=bins)["ece"], outcome["confidence"], outcome["correct"], n_boot=n_boot, seed=seed
    )


def reached_level(confidence, *, levels=(0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.6, 0.5), least: int = 30) -> float:
    """The highest of ``levels`` that at least ``least`` answers reach (a belief at or above
    it), so that "the answers given with belief L or more" is never an empty set; the lowest
    level if none is reached that often."""
    confidence = np.asarray(confidence, dtype=float)
    return next((level for level in levels if (confidence >= level).sum() >= least), levels[-1])


def same_samples(a: dict, b: dict) -> float:
    """The share of problems on which two runs drew the same number of samples."""
    return float(np.mean(np.asarray(a["samples"]) == np.asarray(b["samples"])))


def cheaper_rival(data: dict, row: dict, name: str, *, cost: str = "flops") -> dict | None:
    """The setting of contender ``name`` that spends the most mean ``cost`` per problem without
    spending more than ``row`` does (None if every setting spends more): a rival that ``row``
    must beat to be worth its compute."""
    budget = float(np.mean(row[cost]))
    within = [r for r in data["contenders"][name] if float(np.mean(r[cost])) <= budget]
    return max(within, key=lambda r: float(np.mean(r[cost])), default=None)
