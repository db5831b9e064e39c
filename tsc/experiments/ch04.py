"""Chapter 4's experiments: train bigger or think longer, and compute-optimal allocation.

``ch04-grid``: every checkpoint of the Countdown family (four sizes, three training steps
each) draws ``samples`` completions for each of ``3 * per_size`` held-out problems, once;
coverage (an oracle picks, as a unit test would) and majority voting at every k are computed
from the same draws (`tsc.analysis`). What is stored per checkpoint and problem: how many of
the samples were correct, the majority vote's success rate at each k, and the FLOPs of
reading the prompt and of one sample, so the chapter can rebin problems and bootstrap.

``ch04-allocation``: the bundled ``countdown`` policy with the ``prm`` verifier runs every
candidate (strategy, budget) on a development split and a disjoint held-out split, problem
by problem, with the seeds `compute_optimal` would use; plus the probe (greedy answer and
its PRM score) and the model's own pass rate from ``difficulty_samples`` samples (oracle
difficulty). The allocation is fitted on the first split and evaluated on the second
offline (`tsc.allocation`). ``test_evaluated`` keeps the first so many problems of the
held-out split (whole chunks of 250), for a run that had to stop early.

Both resume: each finished checkpoint, or candidate and split, is appended to a cache in
``runs/ch04/`` (`tsc.analysis.SweepCache`), so a stopped run picks up where it was.

    python -m tsc experiment ch04-grid
    python -m tsc experiment ch04-allocation
    python -m tsc experiment ch04-allocation --install   # then fit the allocation compute_optimal ships
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import numpy as np

from tsc.experiments.base import experiment, installs, stored

CACHE = Path("runs") / "ch04"
ASSET = Path(__file__).resolve().parent.parent / "assets" / "compute_optimal"  # the table compute_optimal ships
FAMILY = ("countdown-xs", "countdown-s", "countdown-m", "countdown")
CHECKPOINTS = tuple(f"{m}{step}" for m in FAMILY for step in ("-step500", "-step1000", ""))
KS = (1, 2, 4, 8, 16, 32, 64, 128, 256)

# candidate (strategy, budget) pairs of the allocation: name -> the strategy and its knobs
CANDIDATES = {
    "greedy": {"strategy": "greedy", "knobs": {}},
    "best_of_n 2": {"strategy": "best_of_n", "knobs": {"n": 2}},
    "best_of_n 4": {"strategy": "best_of_n", "knobs": {"n": 4}},
    "best_of_n 8": {"strategy": "best_of_n", "knobs": {"n": 8}},
    "best_of_n 16": {"strategy": "best_of_n", "knobs": {"n": 16}},
    "best_of_n 32": {"strategy": "best_of_n", "knobs": {"n": 32}},
    "weighted_vote 16": {"strategy": "weighted_vote", "knobs": {"n": 16}},
    "self_refine 2": {"strategy": "self_refine", "knobs": {"rounds": 2}},
    "self_refine 4": {"strategy": "self_refine", "knobs": {"rounds": 4}},
    "self_refine 8": {"strategy": "self_refine", "knobs": {"rounds": 8}},
    "self_refine 16": {"strategy": "self_refine", "knobs": {"rounds": 16}},
    "beam 2x2": {"strategy": "beam", "knobs": {"beam_width": 2, "expansions": 2}},
    "beam 4x2": {"strategy": "beam", "knobs": {"beam_width": 4, "expansions": 2}},
    "beam 4x4": {"strategy": "beam", "knobs": {"beam_width": 4, "expansions": 4}},
    "dvts 4x2": {"strategy": "dvts", "knobs": {"subtrees": 4, "expansions": 2}},
}


@experiment(
    "ch04-grid",
    describe="every checkpoint of the Countdown family: coverage and majority@k against test-time FLOPs",
    checkpoints=list(CHECKPOINTS),
    per_size=300,
    samples=256,
    ks=list(KS),
    temperature=1.0,
    seed=4000,
    trials=100,
)
def grid(**config) -> dict:
    return checkpoint_table(**config, cache="grid.jsonl", experiment="ch04-grid")


def checkpoint_table(*, checkpoints, per_size, samples, ks, temperature, seed, trials, cache: str, experiment: str) -> dict:
    """`checkpoint_row` for each checkpoint on the same ``per_size`` held-out problems of each
    size (3, 4, 5), their samples cached in ``CACHE / cache``."""
    import tsc.analysis as ta
    from tsc.tasks import TASKS

    problems = TASKS["countdown"].per_size(per_size, seed=seed, sizes=(3, 4, 5))
    store = ta.SweepCache(CACHE / cache)
    rows = [
        checkpoint_row(
            name, problems, store, samples=samples, ks=ks, temperature=temperature, seed=seed, trials=trials, experiment=experiment
        )
        for name in checkpoints
    ]
    return {
        "problems": [[list(p.numbers), p.target] for p in problems],
        "sizes": [len(p.numbers) for p in problems],
        "samples": samples,
        "ks": list(ks),
        "checkpoints": rows,
    }


def checkpoint_row(name: str, problems: list, store, *, samples, ks, temperature, seed, trials, experiment: str = "ch04-grid") -> dict:
    """One checkpoint's row of the grid: ``samples`` completions per problem, and from them
    per problem the correct count, majority@k, and the FLOPs of the prompt and of a sample;
    with the card's training figures. Cached in ``store`` (a `tsc.analysis.SweepCache`)."""
    import tsc.analysis as ta
    from tsc.lm.policy import load_policy

    policy = load_policy(name)
    config = {
        "experiment": experiment,
        "model": name,
        "weights": policy.card.get("weights_sha256"),
        "problems": [p.to_json() for p in problems],
        "samples": samples,
        "ks": list(ks),
        "temperature": temperature,
        "seed": seed,
        "trials": trials,
    }
    key = ta.config_key(config)
    row = store.get(key)
    if row is None:
        started = time.perf_counter()
        table = ta.draw(problems, policy, n=samples, temperature=temperature, seed=seed, one_stream=True)
        vote = ta.majority_accuracy(table, list(ks), trials=trials, seed=seed)
        prompt_lens = table.prompt_tokens.tolist()
        prefill = [policy.flops(n, 0) for n in prompt_lens]
        per_sample = [
            float(np.mean([policy.flops(n, int(t)) - policy.flops(n, 0) for t in row_tokens]))
            for n, row_tokens in zip(prompt_lens, table.tokens)
        ]
        card = policy.card
        row = {
            "name": name,
            "size": name.split("-step")[0].split("-anneal")[0],
            "params": int(policy.n_params),
            "n_layer": int(policy.n_layer),
            "d_model": int(policy.d_model),
            "step": int(card.get("steps", 0)),
            "schedule_steps": int((card.get("recipe") or {}).get("schedule_steps") or card.get("steps", 0)),
            "train_tokens": int(card.get("train_tokens", 0)),
            "train_flops": float(card.get("train_flops", 0)),
            "prefill_flops": [int(x) for x in prefill],
            "sample_flops": [round(x, 1) for x in per_sample],
            "correct": [int(c) for c in table.correct.sum(axis=1)],
            "majority": [[round(float(v), 4) for v in r] for r in vote["per_problem"]],
            "tokens_per_sample": float(table.tokens.mean()),
            "ledger_flops": int(table.ledger.flops),
            "seconds": round(time.perf_counter() - started, 1),
        }
        store.append(key, config, row)
        print(f"  {name}: {row['seconds']:.0f} s, pass@1 {np.mean(row['correct']) / samples:.3f}", flush=True)
    return row


ANNEALED = ("countdown-m-anneal500", "countdown-m-anneal1125", "countdown-anneal210", "countdown-anneal500")


@experiment(
    "ch04-annealed",
    describe="the four runs annealed at their own budget (countdown-m at 500 and 1,125 steps, the default shape at 210 and 500) "
    "on ch04-grid's 900 problems: coverage and majority@k against test-time FLOPs, beside the family's mid-schedule checkpoints",
    checkpoints=list(ANNEALED),
    per_size=300,
    samples=64,
    ks=[1, 2, 4, 8, 16, 32, 64],
    temperature=1.0,
    seed=4000,
    trials=100,
)
def annealed(**config) -> dict:
    """The grid's measurement (`checkpoint_row`) for the annealed runs, on the grid's problems
    (`checkpoint_table` with its seed), with fewer samples: comparisons with the grid's
    checkpoints use k up to ``samples`` (pass@k estimated without bias from either count)."""
    return checkpoint_table(**config, cache="annealed.jsonl", experiment="ch04-annealed")


def half_of(problem) -> str:
    """``"dev"`` or ``"test"``: which half of the held-out puzzles ``problem`` belongs to, by a
    stable hash of the puzzle (numbers in any order, target). Every puzzle is in one half
    only, so the two splits are disjoint, and both are uniform over the solvable held-out
    puzzles of their half: the same distribution. (Dropping the puzzles of one split from the
    other instead would skew the second split: there are only 574 held-out 3-number puzzles,
    so most of the 3-number problems would go.)"""
    key = "ch04-allocation:" + ",".join(map(str, sorted(problem.numbers))) + f">{problem.target}"
    return "dev" if int(hashlib.sha256(key.encode()).hexdigest(), 16) % 2 == 0 else "test"


def allocation_splits(dev: int, test: int, seed: int) -> tuple[list, list]:
    """Two disjoint sets of held-out problems, drawn like every evaluation in the book
    (`countdown.generate(split="test")`: sizes 3-5, uniform over solvable problems) and kept
    by `half_of`: ``dev`` problems to fit an allocation on, ``test`` to evaluate it on."""
    from tsc.tasks import countdown

    def draw(count: int, seed: int, half: str) -> list:
        kept = [p for p in countdown.generate(4 * count, seed=seed) if half_of(p) == half]
        if len(kept) < count:
            raise ValueError(f"only {len(kept)} of {4 * count} problems fell in the {half} half; ask for fewer")
        return kept[:count]

    return draw(dev, seed, "dev"), draw(test, seed + 1, "test")


# The third edition's fresh test split: drawn once (7 Dec 2026), after every design it tests
# was fixed on the dev half, from a seed no earlier experiment used; stratified by size 1:2:1.
FRESH_SEED = 20261207
FRESH_SIZES = {3: 300, 4: 600, 5: 300}


def fresh_test_split(sizes: dict[int, int] | None = None, *, seed: int = FRESH_SEED) -> list:
    """The book's fresh held-out test set: ``sizes[k]`` problems of each size ``k`` (default
    300 / 600 / 300 of 3, 4 and 5 numbers), drawn like every evaluation in the book (uniform
    over solvable held-out problems) but only from the ``"test"`` half of `half_of`, so no
    problem of the dev half that `compute_optimal` and the thinker were fitted on is in it.

    Results on Chapter 4's held-out half were shipped before later strategies were designed,
    so that split is spent for them; this one is a new draw from a new seed, used only for
    final reports, never for choosing. (There are only 574 held-out 3-number puzzles, about
    287 in each half, so 3-number problems repeat across any two draws; 4- and 5-number
    problems almost never do.)"""
    from tsc.tasks import countdown

    sizes = dict(FRESH_SIZES if sizes is None else sizes)
    out = []
    for size, count in sorted(sizes.items()):
        kept = [p for p in countdown.generate(4 * count, seed=seed + size, sizes=(size,)) if half_of(p) == "test"]
        if len(kept) < count:
            raise ValueError(f"only {len(kept)} of {4 * count} {size}-number problems fell in the test half; ask for fewer")
        out += kept[:count]
    return out


def candidate_results(
    problems: list,
    policy,
    verifier,
    *,
    candidates: dict,
    seed: int,
    difficulty_samples: int,
    cached=None,
    chunk: int = 250,
    upto: int | None = None,
) -> dict:
    """One split's record: every candidate run on every problem (with the per-problem seeds
    `compute_optimal` uses, through `tsc.strategies.solve_many`), the probe, and the oracle
    difficulty (correct samples of ``difficulty_samples``; none when 0). The work goes in chunks of
    ``chunk`` problems, chunk by chunk (every candidate on the first chunk, then on the
    next), so a run stopped early has whole chunks; ``upto`` keeps the first ``upto``
    problems only (a multiple of ``chunk``). ``cached(what, compute, **config)`` may store
    and read back each piece (the experiment's resumable cache); by default each is computed."""
    import tsc.analysis as ta
    from tsc.strategies import get_strategy, solve_many
    from tsc.strategies.adaptive import probe

    cached = cached or (lambda what, compute, **config: compute())
    upto = len(problems) if upto is None else upto
    if upto % chunk and upto != len(problems):
        raise ValueError(f"upto={upto} must be a multiple of the chunk ({chunk}) or the split's size ({len(problems)})")
    pieces = [(start, min(start + chunk, upto)) for start in range(0, upto, chunk)]

    def ledgers(results) -> dict:
        return {
            "correct": [bool(r.correct) for r in results],
            "flops": [int(r.ledger.flops) for r in results],
            "verifier_flops": [int(r.ledger.verifier_flops) for r in results],
        }

    def run_probe(part: list) -> dict:
        results = [probe(p, policy, verifier=verifier) for p in part]
        return dict(ledgers(results), score=[round(r.scores[0], 6) for r in results])

    def run_difficulty(part: list) -> dict:
        if not difficulty_samples:
            return {"correct": [0] * len(part), "samples": 0}
        table = ta.draw(part, policy, n=difficulty_samples, seed=seed + 1, one_stream=True)
        return {"correct": [int(c) for c in table.correct.sum(axis=1)], "samples": difficulty_samples}

    def run(spec: dict, part: list) -> dict:
        strategy = get_strategy(spec["strategy"])
        extra = {"verifier": verifier} if strategy.needs_verifier else {}
        return ledgers(solve_many(strategy, part, policy, seed=seed, **spec["knobs"], **extra))

    jobs = [("probe", run_probe, {}), ("difficulty", run_difficulty, {"samples": difficulty_samples})]
    jobs += [(name, lambda part, spec=spec: run(spec, part), {"spec": spec}) for name, spec in candidates.items()]
    rows: dict[str, list] = {what: [] for what, _, _ in jobs}
    for a, b in pieces:
        for what, compute, config in jobs:
            rows[what].append(cached(what, lambda compute=compute, a=a, b=b: compute(problems[a:b]), chunk=[a, b], **config))

    def joined(parts: list) -> dict:
        return {key: ([x for row in parts for x in row[key]] if isinstance(parts[0][key], list) else parts[0][key]) for key in parts[0]}

    return {
        "problems": [[list(p.numbers), p.target] for p in problems[:upto]],
        "probe": joined(rows["probe"]),
        "difficulty": joined(rows["difficulty"]),
        "results": {name: joined(rows[name]) for name in candidates},
    }


# the model, verifier, splits (`allocation_splits`) and seed compute_optimal is fitted and tested on;
# Chapter 9's thinker (``ch09-thinker``) is fitted and tested on the same
ALLOCATION_SETUP = {"model": "countdown", "verifier": "prm", "dev": 1000, "test": 1000, "split_seed": 6000, "seed": 0}


@experiment(
    "ch04-allocation",
    describe="candidate strategies per problem on a dev and a held-out split (countdown + prm), for compute-optimal allocation",
    **ALLOCATION_SETUP,
    candidates=CANDIDATES,
    difficulty_samples=64,
    test_evaluated=500,
)
def allocation(*, model, verifier, dev, test, split_seed, seed, candidates, difficulty_samples, test_evaluated) -> dict:
    import tsc.analysis as ta
    from tsc.lm.policy import load_policy
    from tsc.verifiers import get_verifier

    policy = load_policy(model)
    judge = get_verifier(verifier)
    store = ta.SweepCache(CACHE / "allocation.jsonl")
    base = {
        "experiment": "ch04-allocation",
        "model": model,
        "weights": policy.card.get("weights_sha256"),
        "verifier": verifier,
        "seed": seed,
    }
    out = {"model": model, "verifier": verifier, "seed": seed, "candidates": candidates, "splits": {}}
    for split, problems in zip(("dev", "test"), allocation_splits(dev, test, split_seed)):
        listed = [p.to_json() for p in problems]

        def cached(what: str, compute, split=split, listed=listed, **extra):
            config = dict(base, split=split, problems=listed, what=what, **extra)
            return store.fetch(config, compute, label=f"{split} {what} {extra.get('chunk')}")

        out["splits"][split] = candidate_results(
            problems,
            policy,
            judge,
            candidates=candidates,
            seed=seed,
            difficulty_samples=difficulty_samples,
            cached=cached,
            upto=test_evaluated if split == "test" else None,
        )
    return out


@experiment(
    "ch04-fresh",
    describe="every candidate of ch04-allocation and the probe on the fresh test split (1,200 problems, 3/4/5 numbers 1:2:1), "
    "for the final, once-only test of compute_optimal against the fixed strategies",
    model="countdown",
    verifier="prm",
    seed=0,
    candidates=CANDIDATES,
    sizes={str(k): v for k, v in FRESH_SIZES.items()},
    split_seed=FRESH_SEED,
)
def fresh(*, model, verifier, seed, candidates, sizes, split_seed) -> dict:
    """Per problem of `fresh_test_split`: every candidate's verdict and FLOPs (and the
    verifier's share), with the per-problem seeds `compute_optimal` and ``python -m tsc solve``
    use, and the probe; no oracle difficulty (``samples`` 0: it is for fitting, never done here). Chunks of
    300 problems, each cached in ``runs/ch04/`` as it finishes. Nothing is chosen on these
    problems: `compute_optimal` and the fixed strategy it is compared with are fitted on the
    dev half (`allocation_splits`) and applied here once."""
    import tsc.analysis as ta
    from tsc.lm.policy import load_policy
    from tsc.verifiers import get_verifier

    policy = load_policy(model)
    judge = get_verifier(verifier)
    problems = fresh_test_split({int(k): v for k, v in sizes.items()}, seed=split_seed)
    store = ta.SweepCache(CACHE / "fresh.jsonl")
    listed = [p.to_json() for p in problems]
    base = {"experiment": "ch04-fresh", "model": model, "weights": policy.card.get("weights_sha256"), "verifier": verifier, "seed": seed}

    def cached(what: str, compute, **extra):
        return store.fetch(dict(base, problems=listed, what=what, **extra), compute, label=f"fresh {what} {extra.get('chunk')}")

    record = candidate_results(problems, policy, judge, candidates=candidates, seed=seed, difficulty_samples=0, cached=cached, chunk=300)
    return {"model": model, "verifier": verifier, "seed": seed, "candidates": candidates, "splits": {"fresh": record}}


# The mix of sizes the bundled allocation is fitted for: 3, 4 and 5 numbers in proportion 1:2:1,
# the mix of the fresh split (`FRESH_SIZES`). A mean budget is a mean over a mix of problems:
# the first table, fitted for the development split's own mix (about a third of each size),
# under-spent its budget on a 1:2:1 mix and lost to beam search there (Chapter 4, "On problems
# nobody tuned on"); it stays beside the refit as ``allocation-first.json``.
INSTALL_MIX = {3: 1, 4: 2, 5: 1}
# The book's budget: Chapters 4 and 9 run compute_optimal at 7e8 FLOPs per problem, so the table
# has a plan fitted at exactly that budget besides the 64 of the grid (`plan_for` takes the
# largest fitted budget not above the one asked for).
BOOK_BUDGET = 7e8


@installs("ch04-allocation")
def install_allocation(data: dict | None = None, *, folder: Path = ASSET, mix: dict[int, float] | None = None, budgets=None) -> Path:
    """Fit the shipped allocation from the ``ch04-allocation`` results (the dev split only),
    for the mix of sizes ``mix`` ({size: share}; `INSTALL_MIX`, 1:2:1, by default), choosing the
    predictor by cross-validation within dev (reweighted to the mix), and write
    ``allocation.json`` and ``card.json`` into ``folder``, each atomically. The plans are fitted
    at ``budgets`` (`tsc.allocation.BUDGETS` and `BOOK_BUDGET` by default). An allocation
    already there that no ``allocation-*.json`` beside it keeps is kept as
    ``allocation-<its hash>.json`` first, so results that record the hash of the plan they ran
    (``tsc.experiments.ch09.allocation_used``) stay readable."""
    import tsc.analysis as ta
    from tsc.allocation import BUDGETS, allocation_table, choose_predictor, fit
    from tsc.io import write_atomic

    record = stored("ch04-allocation") if data is None else {"data": data, "config": {}, "computed": time.strftime("%Y-%m-%d")}
    if record is None:
        raise ValueError("no stored ch04-allocation results: run python -m tsc experiment ch04-allocation first")
    data = record["data"]
    mix = dict(INSTALL_MIX if mix is None else mix)
    budgets = sorted(set(BUDGETS) | {BOOK_BUDGET}) if budgets is None else list(budgets)
    chosen = choose_predictor(data, mix=mix)
    fitted = fit(data, chosen["name"], bins=chosen["bins"], budgets=budgets, mix=mix)
    table = allocation_table(data, fitted, chosen=chosen)
    dev = data["splits"]["dev"]
    config = record.get("config", {})
    card = {
        "name": "compute_optimal",
        "kind": "allocation",
        "what": "the strategy and budget per difficulty bin that maximise accuracy at a mean FLOPs budget per problem (Snell et al. 2024)",
        "model": data["model"],
        "verifier": data["verifier"],
        "fitted_on": {
            "split": "dev",
            "problems": len(dev["problems"]),
            "drawn_by": (
                f"tsc.experiments.ch04.allocation_splits(dev={config.get('dev')}, test={config.get('test')}, "
                f"seed={config.get('split_seed')}): countdown.generate(split='test'), the held-out tenth, sizes 3-5, "
                "uniform over solvable problems, kept if the puzzle hashes into the dev half (tsc.experiments.ch04.half_of); "
                "the evaluation split (test) is the other half, so no puzzle is in both"
            ),
            "seed": data["seed"],
            "per_problem_seed": "tsc.core.problem_seed(seed, problem), as python -m tsc solve passes it",
            "results_computed": record.get("computed"),
        },
        "mix": {
            "sizes": {str(k): v for k, v in sorted(mix.items())},
            "what": "the share of problems of each size (numbers) the mean budget and accuracy are taken over; "
            "the development problems are reweighted to it (tsc.allocation.mix_weights)",
        },
        "predictor": table["predictor"],
        "predictor_choice": chosen,
        "candidates": list(table["candidates"]),
        "plans": len(table["plans"]),
        "budget_range": [table["plans"][0]["flops"], table["plans"][-1]["flops"]],
        "fitted": time.strftime("%Y-%m-%d"),
        "reproduce": "python -m tsc experiment ch04-allocation --install",
    }
    folder.mkdir(parents=True, exist_ok=True)
    current = folder / "allocation.json"
    if current.exists():
        key = ta.config_key(json.loads(current.read_text()))
        kept = {ta.config_key(json.loads(p.read_text())) for p in folder.glob("allocation-*.json")}
        if key not in kept:
            write_atomic(folder / f"allocation-{key[:12]}.json", current.read_text())
    card["earlier"] = {
        "files": sorted(p.name for p in folder.glob("allocation-*.json")),
        "what": "earlier allocations kept beside this one, so that results recording the hash of the plan they ran stay readable",
    }
    write_atomic(folder / "allocation.json", json.dumps(table, indent=1) + "\n")
    write_atomic(folder / "card.json", json.dumps(card, indent=2) + "\n")
    return folder
