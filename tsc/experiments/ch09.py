"""Chapter 9's experiments: the book's strategies on one map, and a thinker fitted to beat them.

``ch09-thinker``: the bundled ``countdown`` policy with the ``prm`` verifier, on Chapter 4's
development and held-out splits (`tsc.experiments.ch04.allocation_splits`, the same problems
`compute_optimal` was fitted and tested on). `tsc.strategies.thinker.explore` records, for
every development problem, the probe, up to ``refine`` refinement rounds and ``samples``
fresh samples; `fit_thinker` replays every candidate plan on the records and fits the table
(`tsc.allocation.fit_allocation`: per difficulty bin, the plan that buys the most accuracy
within each mean budget). The held-out split is recorded the same way (to draw the fitted
thinker's whole curve without running it at every budget), and the thinker, Chapter 4's
`compute_optimal` and beam search 4x2 are then run live on it, problem by problem, with the
same per-problem seeds, through one resumable `tsc.analysis.sweep` cache.

``ch09-map``: every strategy of the book on one FLOPs axis, for both tasks, from one
resumable sweep (`tsc.analysis.sweep` with ``cache=``, ``runs/ch09/map.jsonl``): the rows
keep each problem's success and FLOPs, so the chapter can draw intervals, pair any two
strategies and find the Pareto front.

    python -m tsc experiment ch09-thinker   # fits and installs tsc/assets/thinker/, then tests it
    python -m tsc experiment ch09-map
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from tsc.experiments.base import experiment, resolve_knobs
from tsc.experiments.ch04 import ALLOCATION_SETUP

CACHE = Path("runs") / "ch09"
ASSET = Path(__file__).resolve().parent.parent / "assets" / "thinker"
REFINES = (0, 2, 4, 8, 16)  # refinement rounds a plan may give a bin (after the probe)
SAMPLES = (0, 4, 8, 16)  # fresh samples a plan may add where refinement is stuck
MARGIN = 0.95  # plans are fitted to spend at most this share of their budget on the development split
BUDGETS = (1.5e8, 2e8, 3e8, 4e8, 5e8, 6e8, 7e8, 8e8, 1e9, 1.2e9, 1.4e9)


def candidate_names(refines=REFINES, samples_grid=SAMPLES) -> dict[str, dict]:
    """Every plan a bin may get: ``refine`` rounds, then up to ``samples`` fresh samples."""
    out = {}
    for refine in refines:
        for samples in samples_grid:
            name = "stop" if refine == samples == 0 else f"refine {refine}" + (f" + samples {samples}" if samples else "")
            out[name] = {"refine": refine, "samples": samples}
    return out


def record_split(problems: list, policy, verifier, *, seed: int, refine: int, samples: int, cached, chunk: int = 250) -> list[dict]:
    """`explore` records of ``problems`` (problem p on seed `problem_seed(seed, p)`), computed
    in chunks that ``cached(compute, chunk=[a, b])`` may store and read back."""
    from tsc.core import problem_seed
    from tsc.strategies.thinker import explore

    records = []
    for a in range(0, len(problems), chunk):
        part = problems[a : a + chunk]

        def compute(part=part):
            return [explore(p, policy, verifier=verifier, refine=refine, samples=samples, seed=problem_seed(seed, p)) for p in part]

        records += cached(compute, chunk=[a, a + len(part)])
    return records


def replay_matrix(records: list[dict], candidates: dict[str, dict]) -> tuple[np.ndarray, np.ndarray]:
    """Success and FLOPs (candidates × problems) of every candidate plan on the records."""
    from tsc.strategies.thinker import replay

    correct = np.zeros((len(candidates), len(records)), dtype=bool)
    flops = np.zeros((len(candidates), len(records)))
    for c, spec in enumerate(candidates.values()):
        for i, record in enumerate(records):
            correct[c, i], flops[c, i] = replay(record, **spec)
    return correct, flops


def assign(records: list[dict], predictor: dict) -> np.ndarray:
    from tsc.strategies.adaptive import difficulty_bin

    return np.array([difficulty_bin(predictor, size=r["size"], score=r["attempts"][0]["score"]) for r in records])


def fit_thinker(records: list[dict], *, budgets=BUDGETS, bins: int = 3, keep=None, margin: float = MARGIN, refines=REFINES) -> dict:
    """The thinker's table fitted on development records: bins by size and probe score, and
    per mean budget the plan per bin that maximises accuracy within ``margin`` times it (the
    mean over new problems varies: a plan that just fits on the development split would spend
    a little more on half of the new sets of problems). ``bins`` probe-score bins per size:
    ``1`` bins by size alone, ``0`` gives every problem the same plan; ``keep(spec)`` limits
    the plans a bin may get (for ablations); ``refines`` the refinement rounds a plan may have."""
    from tsc.allocation import bin_count, bin_labels, fit_allocation, fit_predictor

    candidates = {name: spec for name, spec in candidate_names(refines).items() if keep is None or keep(spec)}
    # the probe-score edges split the problems the probe did not settle (accepted ones stop anyway)
    unsettled = [r for r in records if not r["attempts"][0]["accepted"]]
    arrays = {"score": np.array([r["attempts"][0]["score"] for r in unsettled]), "size": np.array([r["size"] for r in unsettled])}
    predictor = fit_predictor(("none", "size")[bins] if bins < 2 else "size+probe", arrays, bins=bins)
    where = assign(records, predictor)
    correct, flops = replay_matrix(records, candidates)
    n_bins = bin_count(predictor)
    names = list(candidates)
    plans = []
    for budget, plan in zip(budgets, fit_allocation(where, correct, flops, [margin * b for b in budgets], n_bins=n_bins)):
        if plan is None:
            continue
        plans.append(
            {
                "flops": float(budget),
                "choice": [names[c] for c in plan["choice"]],
                "dev_accuracy": round(plan["accuracy"], 6),
                "dev_flops": round(plan["flops"], 1),
            }
        )
    return {
        "format": 1,
        "predictor": predictor,
        "bins": bin_labels(predictor, n_bins),
        "candidates": candidates,
        "plans": plans,
        "threshold": 0.5,
        "window": 4,
        "margin": margin,
        "dev_bin_counts": [int((where == b).sum()) for b in range(n_bins)],
    }


def ablation_options(chosen: dict) -> dict[str, dict]:
    """What each part of the thinker buys: its table refitted on the development split
    without it (``chosen``: the fitting options cross-validation chose)."""
    other = {"bins": 3, "refines": chosen["refines"]} if chosen["bins"] < 2 else {"bins": 1, "refines": chosen["refines"]}
    return {
        "thinker": dict(chosen),
        "one plan for every problem (no difficulty bins)": dict(chosen, bins=0),
        ("probe-score bins within each size" if chosen["bins"] < 2 else "bins by size only (no probe score)"): other,
        "no refinement (fresh samples only)": dict(chosen, keep=lambda spec: spec["refine"] == 0),
        "no fresh samples (refinement only)": dict(chosen, keep=lambda spec: spec["samples"] == 0),
    }


def replay_plan(records: list[dict], table: dict, flops: float) -> tuple[list[bool], list[int]]:
    """Each recorded problem's success and FLOPs under ``table``'s plan for ``flops``."""
    from tsc.strategies.adaptive import plan_for
    from tsc.strategies.thinker import replay

    plan = plan_for(table, flops)
    rows = [replay(r, **table["candidates"][plan["choice"][b]]) for r, b in zip(records, assign(records, table["predictor"]))]
    return [bool(c) for c, _ in rows], [int(f) for _, f in rows]


def ablations(dev: list[dict], test: list[dict], *, budgets, budget: float, chosen: dict) -> dict:
    """Per ablation (`ablation_options`), refitted on ``dev`` and replayed on ``test`` at ``budget``."""
    out = {}
    for name, options in ablation_options(chosen).items():
        table = fit_thinker(dev, budgets=budgets, **options)
        correct, flops = replay_plan(test, table, budget)
        out[name] = {"correct": correct, "flops": flops}
    return out


FINE = (0, 1, 2, 3, 4, 6, 8, 12, 16)  # a finer grid of refinement rounds, compared by cross-validation


def cross_validate(records: list[dict], *, budget: float, repeats: int = 3, seed: int = 0) -> list[dict]:
    """Held-out accuracy of the fitting choices (probe-score bins per size, and the grid of
    refinement rounds), by 2-fold cross-validation on the development records repeated
    ``repeats`` times: the evidence for the choices `fit_thinker` makes by default."""
    rng = np.random.default_rng(seed)
    splits = []
    for _ in range(repeats):
        order = rng.permutation(len(records))
        half = len(order) // 2
        splits += [(order[:half], order[half:]), (order[half:], order[:half])]
    out = []
    for bins in (0, 1, 2, 3):
        for grid, refines in (("coarse", REFINES), ("fine", FINE)):
            accuracy, spent = [], []
            for fit_on, test_on in splits:
                table = fit_thinker([records[i] for i in fit_on], budgets=(budget,), bins=bins, refines=refines)
                correct, flops = replay_plan([records[i] for i in test_on], table, budget)
                accuracy.append(np.mean(correct))
                spent.append(np.mean(flops))
            out.append(
                {
                    "bins": bins,
                    "grid": grid,
                    "refines": list(refines),
                    "accuracy": float(np.mean(accuracy)),
                    "se": float(np.std(accuracy, ddof=1) / np.sqrt(len(accuracy))),
                    "flops": float(np.mean(spent)),
                }
            )
    return out


def _cached_in(store, base: dict):
    """A ``cached(compute, **extra)`` for `record_split` and the live runs: rows keyed by the
    configuration, appended to the experiment's `tsc.analysis.SweepCache` as they finish."""

    def cached(compute, **extra):  # rows must be dicts: the value is kept under "value"
        return store.fetch(dict(base, **extra), lambda: {"value": compute()}, label=str(extra))["value"]

    return cached


def live(results) -> dict:
    return {"correct": [bool(r.correct) for r in results], "flops": [int(r.ledger.flops) for r in results]}


def install_thinker(table: dict, *, dev: dict, folder: Path = ASSET) -> Path:
    """Write the fitted table and its card to ``folder`` (the bundled thinker), atomically."""
    from tsc.io import write_atomic

    folder.mkdir(parents=True, exist_ok=True)
    write_atomic(folder / "policy.json", json.dumps(table, indent=1) + "\n")
    card = {
        "what": "the thinker's fitted table (tsc.strategies.thinker): difficulty bins by size and probe score, and per mean "
        "budget the plan (refinement rounds, then fresh samples) each bin gets",
        "model": table["model"],
        "verifier": table["verifier"],
        "fitted_on": dev,
        "budgets": [p["flops"] for p in table["plans"]],
        "dev_accuracy": {f"{p['flops']:.3g}": p["dev_accuracy"] for p in table["plans"]},
        "dev_flops": {f"{p['flops']:.3g}": p["dev_flops"] for p in table["plans"]},
        "recompute": "python -m tsc experiment ch09-thinker --refresh",
        "computed": time.strftime("%Y-%m-%d"),
    }
    write_atomic(folder / "card.json", json.dumps(card, indent=1) + "\n")
    return folder


@experiment(
    "ch09-thinker",
    describe="the thinker fitted on a dev split and tested live against compute_optimal and beam 4x2 (countdown + prm)",
    **ALLOCATION_SETUP,
    refine=16,
    samples=16,
    budgets=list(BUDGETS),
    budget=7e8,
)
def thinker_experiment(*, model, verifier, dev, test, split_seed, seed, refine, samples, budgets, budget) -> dict:
    import tsc.analysis as ta
    from tsc.experiments.ch04 import allocation_splits
    from tsc.lm.policy import load_policy
    from tsc.strategies import beam_search, compute_optimal, solve_many
    from tsc.strategies.adaptive import load_allocation
    from tsc.strategies.thinker import thinker
    from tsc.verifiers import get_verifier

    policy = load_policy(model)
    judge = get_verifier(verifier)
    allocation = load_allocation()
    store = ta.SweepCache(CACHE / "thinker.jsonl")
    base = {"experiment": "ch09-thinker", "model": model, "weights": policy.card.get("weights_sha256"), "verifier": verifier, "seed": seed}
    dev_problems, test_problems = allocation_splits(dev, test, split_seed)
    records = {}
    for split, problems in (("dev", dev_problems), ("test", test_problems)):
        listed = [p.to_json() for p in problems]
        cached = _cached_in(store, dict(base, split=split, problems=listed, what="explore", refine=refine, samples=samples))
        records[split] = record_split(problems, policy, judge, seed=seed, refine=refine, samples=samples, cached=cached)
    # choose the fitting options by cross-validation on the development split, fit, install,
    # and replay every plan on the held-out records
    validated = cross_validate(records["dev"], budget=budget)
    best = max(validated, key=lambda row: row["accuracy"])
    chosen = {"bins": best["bins"], "refines": tuple(best["refines"])}
    table = dict(fit_thinker(records["dev"], budgets=budgets, **chosen), model=model, verifier=verifier)
    install_thinker(table, dev={"split": "ch04 allocation_splits dev half", "problems": dev, "split_seed": split_seed, "seed": seed})
    where = assign(records["test"], table["predictor"])
    replayed = []
    for plan in table["plans"]:
        correct, flops = replay_plan(records["test"], table, plan["flops"])
        replayed.append({"flops": plan["flops"], "correct": correct, "each_flops": flops})
    # live on the held-out split, problem by problem, same per-problem seeds
    listed = [p.to_json() for p in test_problems]
    cached = _cached_in(store, dict(base, split="test", problems=listed, what="live"))
    runs = {
        "thinker": lambda: solve_many(thinker, test_problems, policy, seed=seed, flops=budget, verifier=judge, table=table),
        "compute_optimal": lambda: solve_many(
            compute_optimal, test_problems, policy, seed=seed, flops=budget, verifier=judge, allocation=allocation
        ),
        "beam 4x2": lambda: solve_many(beam_search, test_problems, policy, seed=seed, verifier=judge, beam_width=4, expansions=2),
    }
    out = {}
    for name, run in runs.items():

        def compute(run=run, name=name):
            results = run()
            row = live(results)
            if name == "thinker":
                row["stopped"] = [r.trace["stopped"] for r in results]
                row["plan"] = [r.trace["plan"] for r in results]
                row["bin"] = [r.trace["bin"] for r in results]
            return row

        config = {"table": ta.config_key(table)} if name == "thinker" else {}
        if name == "compute_optimal":  # Chapter 4's fitted allocation: a refit of it is a new run
            config = {"allocation": ta.config_key(allocation)}
        out[name] = cached(compute, run=name, budget=budget, **config)
    return {
        "model": model,
        "verifier": verifier,
        "budget": budget,
        "table": table,
        "cross_validation": validated,
        "dev": {
            "problems": [[list(p.numbers), p.target] for p in dev_problems],
            "sizes": [r["size"] for r in records["dev"]],
            "probe_accepted": [r["attempts"][0]["accepted"] for r in records["dev"]],
        },
        "test": {
            "problems": [[list(p.numbers), p.target] for p in test_problems],
            "sizes": [r["size"] for r in records["test"]],
            "bins": [int(b) for b in where],
            "probe_correct": [r["attempts"][0]["correct"] for r in records["test"]],
            "probe_accepted": [r["attempts"][0]["accepted"] for r in records["test"]],
            "replayed": replayed,
            "ablations": ablations(records["dev"], records["test"], budgets=budgets, budget=budget, chosen=chosen),
            "live": out,
        },
    }


# The clean test: the thinker and its rivals once, on the fresh split, at the chapter's budget.
# The rivals' budgets were set before it was drawn, on the map's problems (Chapter 4's held-out
# half): self_refine 6 and best-of-7 (PRM) are the fixed strategies whose mean FLOPs there are
# nearest the thinker's at 7e8; beam 4x2 and compute_optimal are the rivals of the held-out test.
FRESH_RUNS = {
    "thinker": ("thinker", {"flops": 7e8, "verifier": "prm", "table": "bundled"}),
    "compute_optimal": ("compute_optimal", {"flops": 7e8, "verifier": "prm", "allocation": "bundled"}),
    "beam 4x2": ("beam", {"beam_width": 4, "expansions": 2, "verifier": "prm"}),
    "self_refine 6": ("self_refine", {"rounds": 6, "verifier": "prm"}),
    "best_of_n 7": ("best_of_n", {"n": 7, "verifier": "prm"}),
    "greedy": ("greedy", {}),
}


def fitted_knobs(options: dict) -> tuple[dict, dict]:
    """``options`` with ``"bundled"`` tables (the thinker's ``table``, compute_optimal's
    ``allocation``) replaced by their content, and what identifies each table in a cache key
    (its hash), so a refit is a new run."""
    import tsc.analysis as ta
    from tsc.strategies.adaptive import load_allocation
    from tsc.strategies.thinker import load_table

    out, keys = dict(options), {}
    for name, load in (("table", load_table), ("allocation", load_allocation)):
        if out.get(name) == "bundled":
            out[name] = load()
            keys[name] = ta.config_key(out[name])
    return out, keys


@experiment(
    "ch09-fresh",
    describe="the thinker on the fresh test split (300/600/300 problems of 3/4/5 numbers) against fixed and adaptive rivals at 7e8",
    model="countdown",
    seed=0,
)
def fresh_experiment(*, model, seed) -> dict:
    import tsc.analysis as ta
    from tsc.experiments.ch04 import FRESH_SEED, FRESH_SIZES, fresh_test_split
    from tsc.lm.policy import load_policy
    from tsc.strategies import get_strategy, solve_many

    policy = load_policy(model)
    problems = fresh_test_split()
    listed = [p.to_json() for p in problems]
    store = ta.SweepCache(CACHE / "fresh.jsonl")
    base = {"experiment": "ch09-fresh", "model": model, "weights": policy.card.get("weights_sha256"), "seed": seed, "problems": listed}
    runs, tables = {}, {}
    for name, (strategy, options) in FRESH_RUNS.items():
        knobs, keys = fitted_knobs(options)
        tables.update({k: {"hash": v[:12], **_fitted_card(k)} for k, v in keys.items()})

        def compute(strategy=strategy, knobs=knobs):
            results = solve_many(get_strategy(strategy), problems, policy, seed=seed, **resolve_knobs(knobs, policy))
            return {**live(results), "ledger": ta.ledger_columns([r.ledger for r in results])}

        config = dict(base, run=name, strategy=strategy, options=options, **keys)
        runs[name] = {"strategy": strategy, "knobs": options, **store.fetch(config, compute, label=name)}
    return {
        "model": model,
        "budget": 7e8,
        "split": {
            "drawn_by": "tsc.experiments.ch04.fresh_test_split()",
            "seed": FRESH_SEED,
            "sizes": {str(k): v for k, v in FRESH_SIZES.items()},
        },
        "fitted": tables,
        "problems": [[list(p.numbers), p.target] for p in problems],
        "sizes": [len(p.numbers) for p in problems],
        "runs": runs,
    }


def _fitted_card(name: str) -> dict:
    """When and on what a bundled table was fitted (its card), for the record."""
    folder = {"table": ASSET, "allocation": ASSET.parent / "compute_optimal"}[name]
    try:
        card = json.loads((folder / "card.json").read_text())
    except (OSError, ValueError):
        return {}
    return {"computed": card.get("computed") or card.get("fitted"), "fitted_on": card.get("fitted_on")}


def allocation_used(fresh: dict) -> tuple[dict, bool]:
    """The compute_optimal allocation Chapter 9's runs used (``fresh``: ``ch09-fresh``'s data,
    which records its hash; the map and the held-out test ran the same one), and whether it is
    still the bundled one. When Chapter 4 refits its allocation the earlier fit stays beside it
    (``allocation-*.json`` in ``tsc/assets/compute_optimal``), so the plan these runs followed
    can still be read."""
    import tsc.analysis as ta
    from tsc.strategies.adaptive import ALLOCATION, load_allocation

    wanted = fresh["fitted"]["allocation"]["hash"]
    bundled = load_allocation()
    if ta.config_key(bundled).startswith(wanted):
        return bundled, True
    for path in sorted(ALLOCATION.parent.glob("allocation*.json")):
        table = load_allocation(path)
        if ta.config_key(table).startswith(wanted):
            return table, False
    raise ValueError(
        f"no allocation in {ALLOCATION.parent} has the hash {wanted} that ch09-fresh ran with: "
        "keep the earlier fit beside a refit, or rerun python -m tsc experiment ch09-fresh --refresh"
    )


def against_chapter4(fresh: dict, ch04_fresh: dict, ch04_allocation: dict, *, budget: float = 7e8) -> dict:
    """The thinker on the fresh split (``fresh``: ``ch09-fresh``'s data) against Chapter 4's
    allocation refitted for the split's mix of sizes: fitted on Chapter 4's development half
    with each size weighted by its share of the split (a property of the problems to be
    served, known before any was solved), the predictor chosen by cross-validation as Chapter 4
    chooses it, and replayed on ``ch04-fresh``'s record of every candidate on the same problems.

    ``same``: whether Chapter 4's replay of the allocation ch09-fresh ran gives, problem by
    problem, the answers and FLOPs the live run here gave (per-problem seeds make them equal);
    ``refit``: the refitted allocation's accuracy, interval and mean FLOPs, its predictor and
    bins; ``paired``: the thinker minus it, problem by problem (points, with a 95 % interval)."""
    from tsc import allocation
    from tsc.analysis import paired

    record = ch04_fresh["splits"]["fresh"]
    if record["problems"] != fresh["problems"]:
        raise ValueError("ch04-fresh and ch09-fresh are not on the same problems: refresh the older of the two")
    sizes = [len(numbers) for numbers, _ in fresh["problems"]]
    mix = {size: sizes.count(size) for size in sorted(set(sizes))}
    used, _ = allocation_used(fresh)
    replayed = allocation.apply_table(ch04_fresh, used, budget, split="fresh")
    live = fresh["runs"]["compute_optimal"]
    same = replayed["correct"].astype(bool).tolist() == [bool(c) for c in live["correct"]] and bool(
        np.allclose(replayed["flops"], live["flops"], rtol=1e-9)
    )
    chosen = allocation.choose_predictor(ch04_allocation, mix=mix)
    fitted = allocation.fit(ch04_allocation, chosen["name"], bins=chosen["bins"], budgets=[budget], mix=mix)
    table = allocation.allocation_table(ch04_allocation, fitted, chosen=chosen)
    refit = allocation.apply_table(ch04_fresh, table, budget, split="fresh")
    think = np.array(fresh["runs"]["thinker"]["correct"], dtype=float)
    return {
        "same": same,
        "mix": mix,
        "refit": dict(_stats(refit["correct"], refit["flops"]), predictor=chosen["name"], bins=chosen["bins"]),
        "thinker": _stats(think, fresh["runs"]["thinker"]["flops"]),
        "paired": dict(zip(("mean", "low", "high"), map(float, paired(think, refit["correct"])))),
    }


def best_of_n_last_step(ch05_fresh: dict, fresh: dict) -> dict:
    """The rival ``ch09-fresh`` did not run: best-of-N with the thinker's PRM scoring each sample
    by its **last** step (as ``python -m tsc solve`` does, and on Chapter 5's sets the stronger
    rule), at the thinker's FLOPs. Read from ``ch05-fresh`` (``ch05_fresh``: its data), which
    holds 16 PRM-scored samples per problem of the same split on the same per-problem seeds:
    best-of-N picks, among a problem's first N samples, the one the PRM ranks highest (the
    first on ties, as `tsc.strategies.best_of_n` does), and is charged as Chapter 5 charges it,
    the prompt once plus N samples and N PRM reads at the problem's mean cost per sample.

    ``ns``: the N whose mean FLOPs per problem are nearest the thinker's without exceeding them,
    then the nearest above (if 16 samples reach that far); ``runs``: name -> per-problem
    ``correct`` and ``flops`` for each, ready for `tsc.synthesis.per_size`; ``mean_flops``: the
    mean FLOPs of every N from 1 to 16; ``weakest_matches``: for each best-of-N ``fresh`` ran
    live (the weakest step scores), whether the first N samples chosen by the weakest step give
    the same verdict on every problem (they should: same seeds, same samples)."""
    from tsc.experiments.ch05 import problem_key

    if ch05_fresh["prompts"] != [problem_key(numbers, target) for numbers, target in fresh["problems"]]:
        raise ValueError("ch05-fresh and ch09-fresh are not on the same problems: refresh the older of the two")
    correct = np.array([[c == "1" for c in row] for row in ch05_fresh["correct"]])
    ranks = {how: np.array([[int(x) for x in row.split(",")] for row in ch05_fresh[how]]) for how in ("last", "min")}
    prompt, sample, verifier = (
        np.array([float(x) for x in ch05_fresh[key].split(",")]) for key in ("prompt_flops", "sample_flops", "verifier_flops")
    )
    rows = np.arange(len(correct))

    def picked(how: str, n: int) -> np.ndarray:  # rank 0 is the PRM's favourite; argmin takes the first on ties
        return correct[rows, ranks[how][:, :n].argmin(axis=1)]

    thinker = float(np.mean(fresh["runs"]["thinker"]["flops"]))
    per_n = {n: prompt + n * (sample + verifier) for n in range(1, correct.shape[1] + 1)}
    mean_flops = {n: float(f.mean()) for n, f in per_n.items()}
    below = [n for n, f in mean_flops.items() if f <= thinker]
    above = [n for n, f in mean_flops.items() if f > thinker]
    ns = ([max(below)] if below else []) + ([min(above)] if above else [])
    runs = {f"best_of_n {n} (last step)": {"correct": picked("last", n).tolist(), "flops": per_n[n].tolist()} for n in ns}
    matches = {}
    for name, run in fresh["runs"].items():
        if run.get("strategy") == "best_of_n" and run.get("knobs", {}).get("verifier") == "prm" and "aggregate" not in run["knobs"]:
            n = int(run["knobs"]["n"])
            matches[name] = bool(np.array_equal(picked("min", n), np.asarray(run["correct"], dtype=bool)))
    return {"ns": ns, "thinker_flops": thinker, "mean_flops": mean_flops, "runs": runs, "weakest_matches": matches}


# the map's rows: (label, strategy, budgets, options); label has {} for the budget; each row's family and
# budget knob are its strategy's (`tsc.strategies.STRATEGIES`)
COUNTDOWN_ROWS = [
    ("greedy", "greedy", [1], {}),
    ("majority {}", "majority", [4, 16, 64], {}),
    ("early stop {}", "early_stop", [64], {}),
    ("best_of_n {}", "best_of_n", [4, 8, 16, 64], {"verifier": "prm"}),
    # Chapter 7's best: Countdown's answer can be checked exactly (the target is given), so best-of-N with that check
    ("best_of_n {} (exact check)", "best_of_n", [4, 16, 64], {"verifier": "oracle"}),
    ("weighted_vote {}", "weighted_vote", [4, 8, 16, 64], {"verifier": "prm"}),
    ("self_refine {}", "self_refine", [2, 4, 6, 8, 16], {"verifier": "prm"}),
    ("revise {}", "revise", [2, 4, 8], {"reviser": "revision"}),
    ("beam 4x{}", "beam", [1, 2, 4], {"verifier": "prm", "beam_width": 4}),
    ("dvts 4x{}", "dvts", [2, 4], {"verifier": "prm", "subtrees": 4}),
    ("tot_bfs 5x{}", "tot_bfs", [2, 4], {"verifier": "prm", "breadth": 5}),
    ("dfs {}", "dfs", [8, 16, 32], {"verifier": "prm"}),
    ("mcts {}", "mcts", [8, 16, 32], {"verifier": "prm"}),
    ("particle_filter {}", "particle_filter", [4, 8, 16], {"verifier": "prm"}),
    ("free_energy {}", "free_energy", [16], {"verifier": "prm"}),
    ("compute_optimal {:.2g}", "compute_optimal", [300_000_000, 700_000_000, 1_400_000_000], {"verifier": "prm", "allocation": "bundled"}),
    ("thinker {:.2g}", "thinker", [300_000_000, 700_000_000, 1_400_000_000], {"verifier": "prm", "table": "bundled"}),
]
ARITHMETIC_ROWS = [
    ("greedy", "greedy", [1], {}),
    ("majority {}", "majority", [4, 16, 64], {}),
    ("early stop {}", "early_stop", [16, 64], {}),
    ("best_of_n {}", "best_of_n", [4, 16], {"verifier": "self"}),
    ("weighted_vote {}", "weighted_vote", [4, 16], {"verifier": "self"}),
    ("free_energy {}", "free_energy", [16, 64], {}),
]


def map_rows(task: str, problems: list, policy, *, rows: list, seed: int, cache: Path, progress: bool = True) -> list[dict]:
    """Every row of ``rows`` on ``problems`` through one resumable `tsc.analysis.sweep` cache:
    per row and budget, each problem's success, FLOPs and ledger columns (tokens, seconds)."""
    import tsc.analysis as ta
    from tsc.strategies import get_strategy

    out = []
    for label, strategy, budgets, options in rows:
        record = get_strategy(strategy)
        knob = record.budget or "n"  # (a sweep needs a knob: greedy's is n=1)
        knobs = resolve_knobs(fitted_knobs(options)[0], policy)  # a fitted table's content: a refit changes the cache key
        started = time.perf_counter()
        swept = ta.sweep(record, problems, policy, budgets=budgets, seeds=[seed], cache=cache, knob=knob, per_problem=True, **knobs)
        for budget, row in zip(budgets, swept):
            out.append(
                {
                    "name": label.format(budget),
                    "strategy": strategy,
                    "family": record.family,
                    "knobs": {**{k: v for k, v in options.items() if k not in ("table", "allocation")}, knob: budget},
                    "correct": row["correct"],
                    "flops": row["each_flops"],
                    "ledger": row["each_ledger"],
                }
            )
        if progress:
            print(f"  {task} {label}: {time.perf_counter() - started:.0f} s", flush=True)
    return out


@experiment(
    "ch09-map",
    describe="every strategy of the book on one FLOPs axis, per problem, for Countdown (prm) and arithmetic",
    countdown=500,
    arithmetic=500,
    split_seed=6000,
    arithmetic_seed=9009,
    seed=0,
)
def strategy_map(*, countdown, arithmetic, split_seed, arithmetic_seed, seed) -> dict:
    from tsc.experiments.ch04 import allocation_splits
    from tsc.lm.policy import load_policy
    from tsc.tasks import get_task

    _, held_out = allocation_splits(1000, 1000, split_seed)  # the thinker's held-out problems (never fitted on)
    tasks = {
        "countdown": ("countdown", "prm", held_out[:countdown], COUNTDOWN_ROWS),
        "arithmetic": (
            "arithmetic",
            "self",
            get_task("arithmetic").generate(arithmetic, seed=arithmetic_seed, split="test"),
            ARITHMETIC_ROWS,
        ),
    }
    out = {}
    for task, (model, verifier, problems, rows) in tasks.items():
        policy = load_policy(model)
        out[task] = {
            "model": model,
            "verifier": verifier,
            "problems": [p.to_json() for p in problems],
            "sizes": [int(p.difficulty) for p in problems],
            "rows": map_rows(task, problems, policy, rows=rows, seed=seed, cache=CACHE / "map.jsonl"),
        }
    return {"tasks": out}


FIXED_FAMILIES = ("single", "parallel", "sequential", "search")
MATCHED = (0.85, 1.15)  # a fixed rival "at the thinker's compute" spends within this band of its mean FLOPs


def _stats(correct, flops) -> dict:
    from tsc.analysis import bootstrap

    mean, low, high = bootstrap(np.asarray(correct, dtype=float))
    return {"solved": int(np.sum(correct)), "accuracy": float(mean), "low": float(low), "high": float(high), "flops": float(np.mean(flops))}


def thinker_summary(data: dict, map_data: dict | None = None) -> dict:
    """The numbers Chapter 9 reports about the thinker (``data``: ``ch09-thinker``'s).

    ``live``: each live run's problems solved, accuracy with a 95 % bootstrap interval and
    mean FLOPs; ``paired``: the thinker minus beam 4x2 and minus compute_optimal, problem by
    problem (points, with intervals); ``by_size``: the same per problem size
    (`tsc.synthesis.per_size`); ``replay``: whether the replayed plan gave every live answer,
    and the largest ratio of live to replayed FLOPs; ``stopped``: how the live thinker
    stopped; ``ablations``: each refitted variant's accuracy and FLOPs on the held-out
    records, paired against the full thinker. With ``map_data`` (``ch09-map``'s),
    ``matched`` holds every fixed strategy of the map that judges with the thinker's verifier
    or with none and spends within `MATCHED` of the thinker's mean FLOPs on the map's problems
    (the first of the held-out split), most accurate first, each paired against the thinker;
    and ``budgets`` the thinker against compute_optimal at each budget the map ran both at."""
    from tsc.analysis import paired
    from tsc.strategies.adaptive import plan_for
    from tsc.synthesis import per_size

    test, budget = data["test"], data["budget"]
    live = test["live"]
    out = {"count": len(test["problems"]), "budget": budget}
    out["live"] = {name: _stats(run["correct"], run["flops"]) for name, run in live.items()}
    think = np.array(live["thinker"]["correct"], dtype=float)
    out["paired"] = {name: paired(think, np.array(live[name]["correct"], dtype=float)) for name in ("beam 4x2", "compute_optimal")}
    out["by_size"] = per_size(live, test["sizes"])
    plan = plan_for(data["table"], budget)
    replayed = next(r for r in test["replayed"] if r["flops"] == plan["flops"])
    ratio = np.array(live["thinker"]["flops"]) / np.array(replayed["each_flops"])
    out["replay"] = {
        "same_answers": replayed["correct"] == live["thinker"]["correct"],
        "max_ratio": float(ratio.max()),
        "mean_ratio": float(ratio.mean()),
    }
    out["stopped"] = {why: live["thinker"]["stopped"].count(why) for why in ("probe", "refine", "samples", "plan")}
    full = np.array(test["ablations"]["thinker"]["correct"], dtype=float)
    out["ablations"] = {
        name: dict(_stats(run["correct"], run["flops"]), vs_thinker=paired(np.array(run["correct"], dtype=float), full))
        for name, run in test["ablations"].items()
    }
    if map_data is not None:
        rows = map_data["tasks"]["countdown"]["rows"]
        n = len(rows[0]["correct"])
        mine, spent = think[:n], float(np.mean(live["thinker"]["flops"][:n]))
        low, high = MATCHED
        fair = [
            r for r in rows
            if r["family"] in FIXED_FAMILIES and r["knobs"].get("verifier") in (None, data["verifier"])
            and low * spent <= np.mean(r["flops"]) <= high * spent
        ]  # fmt: skip
        rivals = [
            {"name": r["name"], "fixed": _stats(r["correct"], r["flops"]), "paired": paired(mine, np.array(r["correct"], dtype=float))}
            for r in fair
        ]
        out["matched"] = {
            "count": n,
            "band": list(MATCHED),
            "thinker": _stats(mine, live["thinker"]["flops"][:n]),
            "rivals": sorted(rivals, key=lambda r: -r["fixed"]["accuracy"]),
        }
        named = {r["name"]: r for r in rows}
        out["budgets"] = {}
        for name, r in named.items():
            if r["strategy"] == "thinker":
                rival = named[name.replace("thinker", "compute_optimal")]
                out["budgets"][r["knobs"]["flops"]] = {
                    "thinker": _stats(r["correct"], r["flops"]),
                    "compute_optimal": _stats(rival["correct"], rival["flops"]),
                    "paired": paired(np.array(r["correct"], dtype=float), np.array(rival["correct"], dtype=float)),
                }
    return out
