"""Chapter 5's slow experiments: step-level search against best-of-N with the same PRM.

Search and best-of-N are compared at matched FLOPs, problem by problem, with the same
process reward model and the same way of turning its step scores into one score:

- best-of-N: 32 samples per problem drawn once and scored step by step by the PRM inside the
  caches best-of-N uses (`tsc.analysis.draw` with ``verifiers``), so best-of-k for every k <= 32, scored by
  the last step or by the weakest one, is estimated from one table, at the FLOPs best-of-k
  costs (the prompt once, k samples, k PRM reads with the policy's trunk shared);
- beam search of width 4 with 1, 2 and 4 expansions per kept node (and width 8 with 4, to
  reach best-of-32's FLOPs), scoring partial solutions by their last step, and the same
  beams scoring by the weakest step;
- on the same problems, the chapter's other strategies: greedy decoding, DVTS (4 subtrees,
  2 expansions), Tree of Thoughts BFS (breadth 5) and DFS, MCTS (16 simulations), and the
  particle filter at the setting chosen on a dev split.

Three experiments:

- ``ch05-particle-dev``: the particle filter's particle count and reward temperature, chosen
  on 120 problems of Chapter 4's dev half at no more than 1.05 times beam search 4x2's FLOPs;
- ``ch05-search-vs-best-of-n``: all of the above on 360 held-out problems, 120 of each size
  (the chapter's Figures 2 to 5), the particle filter at the setting chosen on dev;
- ``ch05-fresh``: best-of-N's samples on Chapter 4's fresh 1,200-problem split, beside the
  beam search 4x2 that ``ch04-fresh`` ran there: the comparison on a third, larger set.

Every run charges the ledger what was computed (prefix reuse on everywhere); each problem is
solved on its own seed (`tsc.core.problem_seed`). Each problem's samples and each search's
result are cached apart in ``runs/experiments/``, so an interrupted run resumes.

    python -m tsc experiment ch05-search-vs-best-of-n            # read back (or compute)
    python -m tsc experiment ch05-search-vs-best-of-n --refresh  # compute again (about 30 min, one thread)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsc.experiments.base import experiment, key_ids

CACHE = Path("runs") / "experiments"


def _key(name: str, config: dict, problem) -> str:
    text = json.dumps([name, config, problem.to_json()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _scored_samples(scored, **extra) -> dict:
    """A one-problem table of samples scored by the PRM (`tsc.analysis.draw` with
    ``verifiers={"prm": ...}``), compactly: verdicts, answer keys (`key_ids`), the PRM's dense
    ranks by the weakest and by the last step (0: its favourite), ``extra`` and the FLOPs of
    the prompt, of a sample and of the PRM's read of a sample."""
    from tsc.scoring import dense_ranks

    return {
        "correct": "".join("1" if c else "0" for c in scored.correct[0]),
        "keys": key_ids(scored.keys[0]),
        "min": dense_ranks(scored.scores("prm", "min")[0]),
        "last": dense_ranks(scored.scores("prm", "last")[0]),
        **extra,
        "prompt_flops": float(scored.prompt_flops[0]),
        "sample_flops": float(scored.sample_flops[0]),
        "verifier_flops": float(scored.verifier_flops["prm"][0].mean()),
    }


def _searches(beams: list, min_beams: list, others: bool, particle: dict | None) -> list[tuple[str, str, dict]]:
    """(name, strategy, knobs) of every search an experiment runs on each problem."""
    runs = [(f"beam {w}x{e}, last", "beam", dict(beam_width=w, expansions=e, aggregate="last")) for w, e in beams]
    runs += [(f"beam {w}x{e}, min", "beam", dict(beam_width=w, expansions=e, aggregate="min")) for w, e in min_beams]
    if others:  # the other searches of the chapter's Figure 2, on the same problems
        runs += [
            ("greedy", "greedy", {}),
            ("DVTS 4x2", "dvts", dict(subtrees=4, expansions=2)),
            ("ToT-BFS, breadth 5", "tot_bfs", dict(breadth=5)),
            ("ToT-DFS", "dfs", {}),
            ("MCTS, 16 simulations", "mcts", dict(simulations=16)),
        ]
    if particle is not None:
        runs.append((particle_name(particle), "particle_filter", dict(particle)))
    return runs


def particle_name(knobs: dict) -> str:
    """How the chapter names a particle filter: ``"particle filter 8, T=1"``."""
    return f"particle filter {knobs['particles']}, T={knobs['reward_temperature']:g}"


def _problem_rows(name: str, problems: list, runs: list, *, samples: int, seed: int) -> list[dict]:
    """Per problem: ``samples`` samples scored by the PRM (best-of-k for every k from one
    table) and every search of ``runs``, each cached on its own in ``runs/experiments/`` (a
    new search added later computes only itself)."""
    from tsc.analysis import SweepCache, draw
    from tsc.lm.policy import load_policy
    from tsc.strategies import get_strategy, solve_many
    from tsc.verifiers.learned import PRM

    policy, prm = load_policy(), PRM()
    cache = SweepCache(CACHE / f"{name}.jsonl")
    weights = [policy.card.get("weights_sha256"), prm.model.card.get("weights_sha256")]
    rows = []
    for i, problem in enumerate(problems):

        def sampled(problem=problem) -> dict:
            return _scored_samples(draw([problem], policy, n=samples, seed=seed, verifiers={"prm": prm}))

        base = dict(problem=problem.to_json(), seed=seed, weights=weights)
        row = {"numbers": list(problem.numbers), "target": problem.target, "searches": {}}
        row.update(cache.fetch(dict(base, what="samples", samples=samples), sampled))
        for label, strategy, knobs in runs:

            def searched(strategy=strategy, knobs=knobs, problem=problem) -> dict:
                options = knobs if strategy == "greedy" else dict(knobs, verifier=prm)
                [result] = solve_many(get_strategy(strategy), [problem], policy, seed=seed, **options)
                out = {
                    "solved": int(result.correct),
                    "flops": float(result.ledger.flops),
                    "verifier_flops": float(result.ledger.verifier_flops),
                }
                if strategy == "dfs":
                    out["accepted"] = bool(result.trace["accepted"])
                if strategy == "mcts":
                    out["completed"] = result.trace["completed"] is not None
                    out["depth"] = max(node["depth"] for node in result.trace["tree"])
                if strategy == "particle_filter":
                    out["ess"] = [round(x, 3) for x in result.trace["ess"]]
                    out["live"] = result.trace["live"]
                    out["unique"] = result.trace["unique"]
                return out

            key = dict(base, what="search", strategy=strategy, knobs=knobs)
            row["searches"][label] = cache.fetch(key, searched)
        rows.append(row)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(problems)} problems", flush=True)
    return rows


@experiment(
    "ch05-search-vs-best-of-n",
    describe="beam search vs best-of-N, same PRM and scoring, matched FLOPs, paired by problem",
    per_size=120,
    problems_seed=5700,
    samples=32,
    beams=[[4, 1], [4, 2], [4, 4], [8, 4]],
    min_beams=[[4, 1], [4, 2], [4, 4]],
    others=True,
    particle="chosen on ch05-particle-dev",
    seed=0,
)
def search_vs_best_of_n(
    *, per_size: int, problems_seed: int, samples: int, beams: list, min_beams: list, others: bool, particle: str, seed: int
) -> dict:
    from tsc.tasks import TASKS

    problems = TASKS["countdown"].per_size(per_size, seed=problems_seed, sizes=(3, 4, 5))
    runs = _searches(beams, min_beams, others, _chosen_particle(particle))
    rows = _problem_rows("ch05-search-vs-best-of-n", problems, runs, samples=samples, seed=seed)
    return _columns([label for label, *_ in runs], rows)


@experiment(
    "ch05-fresh",
    describe="best-of-N with the PRM (last and weakest step, exact for every k) beside ch04-fresh's beam search 4x2 on the fresh "
    "1,200-problem split, for a report across problem sets",
    samples=16,
    beams=["beam 4x2"],
    seed=0,
)
def fresh(*, samples: int, beams: list, seed: int) -> dict:
    """Report-only: on `tsc.experiments.ch04.fresh_test_split` (1,200 problems, 300/600/300 of
    3, 4 and 5 numbers; nothing is chosen on it), ``samples`` samples per problem scored by the
    PRM, as ``ch05-search-vs-best-of-n`` draws them (per-problem seeds, so best-of-16 by the
    weakest step is ``ch04-fresh``'s ``best_of_n 16`` sample for sample), and beside them the
    beam searches ``ch04-fresh`` already ran on the same problems with the same seeds (read
    back from its stored result, not run twice): the chapter's comparison on a third,
    larger and size-stratified set of problems."""
    from tsc.experiments.base import run
    from tsc.experiments.ch04 import fresh_test_split

    problems = fresh_test_split()
    searched = run("ch04-fresh")["splits"]["fresh"]
    if searched["problems"] != [[list(p.numbers), p.target] for p in problems]:
        raise RuntimeError("ch04-fresh was run on other problems than fresh_test_split(): refresh it first")
    rows = _problem_rows("ch05-fresh", problems, [], samples=samples, seed=seed)
    labels = [f"{name}, last" for name in beams]  # ch04-fresh's beams score partial solutions by the last step (the default)
    for name, label in zip(beams, labels):
        record = searched["results"][name]
        for i, row in enumerate(rows):
            row["searches"][label] = {
                "solved": int(record["correct"][i]),
                "flops": float(record["flops"][i]),
                "verifier_flops": float(record["verifier_flops"][i]),
            }
    return _columns(labels, rows)


def load_fresh() -> SearchVsBestOfN:
    """Read back (or compute: about ten minutes) ``ch05-fresh`` as arrays."""
    from tsc.experiments.base import run

    return _arrays(run("ch05-fresh"), trials=0)


@experiment(
    "ch05-particle-dev",
    describe="particle filtering's particles and reward temperature chosen on Chapter 4's dev half, FLOPs-matched to beam 4x2",
    dev=120,
    split_seed=6000,
    particles=[6, 8],
    reward_temperatures=[0.5, 1.0, 2.0],
    resampling="systematic",
    ablation="multinomial",
    flops_cap=1.05,
    seed=0,
)
def particle_dev(
    *,
    dev: int,
    split_seed: int,
    particles: list,
    reward_temperatures: list,
    resampling: str,
    ablation: str,
    flops_cap: float,
    seed: int,
) -> dict:
    """The particle filter's two knobs, chosen on the first ``dev`` problems of Chapter 4's dev
    half (`tsc.experiments.ch04.allocation_splits`, which no test report uses): among the
    settings whose mean FLOPs are at most ``flops_cap`` times beam search 4x2's on the same
    problems, the one that solves the most (ties to the cheaper). The ``ablation`` resampling
    runs beside it at reward temperature 1, for comparison only."""
    from tsc.experiments.ch04 import allocation_splits

    problems = allocation_splits(1000, 1000, split_seed)[0][:dev]
    grid = [dict(particles=n, reward_temperature=float(t), resampling=resampling) for n in particles for t in reward_temperatures]
    runs = [("beam 4x2, last", "beam", dict(beam_width=4, expansions=2, aggregate="last"))]
    runs += [(particle_name(knobs), "particle_filter", knobs) for knobs in grid]
    other = [dict(particles=max(particles), reward_temperature=1.0, resampling=ablation)]
    runs += [(particle_name(knobs) + f", {ablation}", "particle_filter", knobs) for knobs in other]
    rows = _problem_rows("ch05-particle-dev", problems, runs, samples=32, seed=seed)
    table = {}
    for label, _, knobs in runs:
        solved = [row["searches"][label]["solved"] for row in rows]
        flops = [row["searches"][label]["flops"] for row in rows]
        table[label] = {"knobs": knobs, "solved": sum(solved) / len(solved), "flops": sum(flops) / len(flops)}
    cap = flops_cap * table["beam 4x2, last"]["flops"]
    fits = [label for label, _, knobs in runs[1 : 1 + len(grid)] if table[label]["flops"] <= cap]
    if not fits:
        raise RuntimeError(f"no particle filter setting fits {flops_cap}x beam 4x2's FLOPs on the dev split: widen the grid")
    chosen = max(fits, key=lambda label: (table[label]["solved"], -table[label]["flops"]))
    print(f"  chosen on {len(problems)} dev problems: {chosen}", flush=True)
    return {"chosen": table[chosen]["knobs"], "cap_flops": cap, "table": table, "columns": _columns([label for label, *_ in runs], rows)}


def _chosen_particle(particle) -> dict | None:
    """The particle filter's knobs: as given, or (``"chosen on ch05-particle-dev"``) read from
    that experiment's result (computed first if it was not)."""
    if particle is None or isinstance(particle, dict):
        return particle
    from tsc.experiments.base import run

    return dict(run("ch05-particle-dev")["chosen"])


def _ints(values) -> str:
    return ",".join(str(int(round(v))) for v in values)


def problem_key(numbers, target) -> str:
    """How the stored results name a problem (``"1 2 3>6"``): the ``prompts`` column."""
    return f"{' '.join(map(str, numbers))}>{target}"


def _columns(searches: list[str], rows: list[dict]) -> dict:
    """The per-problem rows as compact columns (a few hundred kilobytes instead of several
    megabytes of one-number lines): every list of a problem, and every search's outcomes,
    become comma-separated strings."""

    def column(label: str, key: str):
        return [row["searches"][label].get(key) for row in rows]

    out = {
        "searches": searches,
        "prompts": [problem_key(row["numbers"], row["target"]) for row in rows],
        "correct": [row["correct"] for row in rows],
        "keys": [_ints(row["keys"]) for row in rows],
        "min": [_ints(row["min"]) for row in rows],
        "last": [_ints(row["last"]) for row in rows],
        "prompt_flops": _ints(row["prompt_flops"] for row in rows),
        "sample_flops": _ints(row["sample_flops"] for row in rows),
        "verifier_flops": _ints(row["verifier_flops"] for row in rows),
        "solved": {label: "".join(str(x) for x in column(label, "solved")) for label in searches},
        "flops": {label: _ints(column(label, "flops")) for label in searches},
        "search_verifier_flops": {label: _ints(column(label, "verifier_flops")) for label in searches},
        "traces": {},
    }
    for label in searches:
        first = rows[0]["searches"][label] if rows else {}
        if "accepted" in first:
            out["traces"][label] = {"accepted": "".join("1" if x else "0" for x in column(label, "accepted"))}
        if "completed" in first:
            out["traces"][label] = {
                "completed": "".join("1" if x else "0" for x in column(label, "completed")),
                "depth": _ints(column(label, "depth")),
            }
        if "ess" in first:  # the particle filter: per problem, its effective sample size (and more) at every step
            out["traces"][label] = {
                key: [",".join(f"{x:g}" for x in values) for values in column(label, key)] for key in ("ess", "live", "unique")
            }
    return out


def _numbers(text: str) -> np.ndarray:
    return np.array([float(x) for x in text.split(",")]) if text else np.zeros(0)


def _bits(text: str) -> np.ndarray:
    return np.array([c == "1" for c in text])


@dataclass(frozen=True)
class SearchVsBestOfN:
    """A stored result of ``ch05-search-vs-best-of-n`` (or ``ch05-particle-dev``'s columns),
    as arrays over its problems.

    ``best_of[how]`` is each problem's exact best-of-k accuracy for k = 1, ..., ``ks[-1]``
    (problems × ks), choosing by the PRM's last-step score (``"last"``), its weakest step
    (``"min"``) or the oracle (``"oracle"``: coverage); ``best_of_flops`` the FLOPs of
    best-of-k with the PRM (reuse on) per problem (problems × ks), ``sample_flops`` of k
    samples alone (what majority voting and the oracle's pick cost); ``majority`` majority
    voting at ``vote_ks`` (problems × vote_ks); ``searches[name]`` each search's (solved,
    FLOPs) per problem; ``traces[name]`` what a search recorded per problem (DFS: accepted;
    MCTS: completed, depth; the particle filter: ess, live, unique at every step).
    """

    sizes: np.ndarray
    ks: np.ndarray
    best_of: dict[str, np.ndarray]
    best_of_flops: np.ndarray
    sample_flops: np.ndarray
    vote_ks: list[int]
    majority: np.ndarray
    searches: dict[str, tuple[np.ndarray, np.ndarray]]
    traces: dict
    verifier_flops: dict

    def flops(self, name: str, rows=None) -> float:
        """A search's mean FLOPs per problem (over ``rows``: a boolean mask, default all)."""
        rows = self._rows(rows)
        return float(self.searches[name][1][rows].mean())

    def _rows(self, rows) -> np.ndarray:
        return np.ones(len(self.sizes), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)

    def curve(self, how: str = "last", rows=None) -> tuple[np.ndarray, np.ndarray]:
        """Best-of-k chosen by ``how`` on ``rows``: (per problem × ks, mean FLOPs of each k on
        those rows; the oracle's pick costs the samples alone)."""
        rows = self._rows(rows)
        flops = self.sample_flops if how == "oracle" else self.best_of_flops
        return self.best_of[how][rows], flops[rows].mean(axis=0)

    def matched(self, name: str, how: str = "last", rows=None) -> np.ndarray:
        """Per problem of ``rows``: the search ``name`` solved (0/1) minus best-of-k chosen by
        ``how`` at the search's own mean FLOPs *on those rows* (`tsc.scoring.at_flops`), so a
        size is compared at that size's compute: positive where searching won."""
        from tsc.scoring import at_flops

        rows = self._rows(rows)
        per_problem, flops = self.curve(how, rows)
        solved = self.searches[name][0][rows]
        return solved - at_flops(per_problem, flops, self.flops(name, rows))

    def at(self, how: str, target: float, rows=None) -> np.ndarray:
        """Per problem of ``rows``: best-of-k chosen by ``how`` at ``target`` mean FLOPs."""
        from tsc.scoring import at_flops

        per_problem, flops = self.curve(how, rows)
        return at_flops(per_problem, flops, target)

    def per_size(self, name: str, how: str = "last") -> dict[int, np.ndarray]:
        """`matched` for every problem size apart: {size: per-problem differences}."""
        return {int(size): self.matched(name, how, rows=self.sizes == size) for size in np.unique(self.sizes)}

    def by_size(self, name: str, how: str = "last") -> dict:
        """`per_size` with every size at its own compute, and ``"all"``: the sizes' differences
        pooled (the set's own mix of sizes), each with a 95% bootstrap interval in points,
        resampled within each size: {size or "all": (mean, low, high)}."""
        from tsc.analysis import bootstrap

        parts = self.per_size(name, how)
        out = {size: tuple(100 * float(x) for x in bootstrap(d)) for size, d in parts.items()}
        # the pooled interval keeps each size's count fixed (a stratified bootstrap): resample
        # within each size, then pool
        rng = np.random.default_rng(0)
        total = sum(len(d) for d in parts.values())
        means = np.zeros(2000)
        for d in parts.values():
            means += d[rng.integers(0, len(d), size=(2000, len(d)))].sum(axis=1) / total
        pooled = np.concatenate(list(parts.values()))
        low, high = np.percentile(means, [2.5, 97.5])
        out["all"] = (100 * float(pooled.mean()), 100 * float(low), 100 * float(high))
        return out


def load_search_vs_best_of_n(trials: int = 100) -> SearchVsBestOfN:
    """Read back (or compute: about half an hour) ``ch05-search-vs-best-of-n`` as arrays."""
    from tsc.experiments.base import run

    data = run("ch05-search-vs-best-of-n")
    return _arrays(data, trials)


def load_particle_dev() -> tuple[dict, SearchVsBestOfN]:
    """``ch05-particle-dev``: (its summary: the chosen knobs, the FLOPs cap and every setting's
    dev accuracy and FLOPs; its per-problem arrays)."""
    from tsc.experiments.base import run

    data = run("ch05-particle-dev")
    summary = {key: value for key, value in data.items() if key != "columns"}
    return summary, _arrays(data["columns"], trials=0)


def _arrays(data: dict, trials: int) -> SearchVsBestOfN:
    from tsc.analysis import SampleTable, majority_accuracy
    from tsc.scoring import best_of_k

    correct = np.array([_bits(c) for c in data["correct"]])
    n = correct.shape[1]
    ks = np.arange(1, n + 1)
    best_of = {}
    for how in ("last", "min"):
        ranks = [-_numbers(r) for r in data[how]]  # rank 0 is the favourite: negate to score
        best_of[how] = np.array([[best_of_k(r, ok, int(k)) for k in ks] for r, ok in zip(ranks, correct)])
    best_of["oracle"] = np.array([[best_of_k(ok.astype(float), ok, int(k)) for k in ks] for ok in correct])
    prompt, sample, verifier = (_numbers(data[key]) for key in ("prompt_flops", "sample_flops", "verifier_flops"))
    vote_ks = [k for k in (1, 2, 4, 8, 16, 32) if k <= n]
    if trials:
        table = SampleTable.of_votes([_numbers(k) for k in data["keys"]], correct)
        majority = majority_accuracy(table, vote_ks, trials=trials, seed=0)["per_problem"]
    else:
        majority = np.zeros((len(correct), len(vote_ks)))
    searches = {name: (_bits(data["solved"][name]).astype(float), _numbers(data["flops"][name])) for name in data["searches"]}
    traces = {}
    for name, columns in data.get("traces", {}).items():
        traces[name] = {
            key: (_bits(value) if set(value) <= {"0", "1"} and key != "depth" else _numbers(value))
            if isinstance(value, str)
            else [_numbers(v) for v in value]
            for key, value in columns.items()
        }
    return SearchVsBestOfN(
        sizes=np.array([len(prompt.split(">")[0].split()) for prompt in data["prompts"]]),
        ks=ks,
        best_of=best_of,
        best_of_flops=prompt[:, None] + ks[None, :] * (sample + verifier)[:, None],
        sample_flops=prompt[:, None] + ks[None, :] * sample[:, None],
        vote_ks=vote_ks,
        majority=majority,
        searches=searches,
        traces=traces,
        verifier_flops={name: _numbers(data["search_verifier_flops"][name]) for name in data["searches"]},
    )
