"""Chapter 5's slow experiment: step-level search against best-of-N with the same PRM.

Search and best-of-N are compared at matched FLOPs, problem by problem, with the same
process reward model and the same way of turning its step scores into one score:

- best-of-N: 32 samples per problem drawn once and scored step by step by the PRM inside the
  caches best-of-N uses (`tsc.scoring.draw_scored`), so best-of-k for every k <= 32, scored by
  the last step or by the weakest one, is estimated from one table, at the FLOPs best-of-k
  costs (the prompt once, k samples, k PRM reads with the policy's trunk shared);
- beam search of width 4 with 1, 2 and 4 expansions per kept node (and width 8 with 4, to
  reach best-of-32's FLOPs), scoring partial solutions by their last step, and the same
  beams scoring by the weakest step;
- on the same problems, the chapter's other strategies: greedy decoding, DVTS (4 subtrees,
  2 expansions), Tree of Thoughts BFS (breadth 5) and DFS, and MCTS (16 simulations).

Every run charges the ledger what was computed (prefix reuse on everywhere). Problems are
held-out Countdown problems, equally many with 3, 4 and 5 numbers, each on its own seed.
Results are cached per problem in ``runs/experiments/`` so an interrupted run resumes.

    python -m tsc experiment ch05-search-vs-best-of-n            # read back (or compute)
    python -m tsc experiment ch05-search-vs-best-of-n --refresh  # compute again (about 15 min, one thread)
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tsc.experiments.base import experiment

CACHE = Path("runs") / "experiments"


def _key(name: str, config: dict, problem) -> str:
    text = json.dumps([name, config, problem.to_json()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _key_ids(keys) -> list[int]:
    """Each sample's answer key as a small integer (the first key seen is 0; -1: malformed)."""
    ids: dict[str, int] = {}
    return [-1 if k is None else ids.setdefault(k, len(ids)) for k in keys]


@experiment(
    "ch05-search-vs-best-of-n",
    describe="beam search vs best-of-N, same PRM and scoring, matched FLOPs, paired by problem",
    per_size=120,
    problems_seed=5700,
    samples=32,
    beams=[[4, 1], [4, 2], [4, 4], [8, 4]],
    min_beams=[[4, 1], [4, 2], [4, 4]],
    others=True,
    seed=0,
)
def search_vs_best_of_n(*, per_size: int, problems_seed: int, samples: int, beams: list, min_beams: list, others: bool, seed: int) -> dict:
    from tsc.analysis import SweepCache
    from tsc.lm.policy import load_policy
    from tsc.scoring import dense_ranks, draw_scored
    from tsc.strategies import beam_search, dfs, dvts, greedy, mcts, solve_many, tot_bfs
    from tsc.tasks import countdown
    from tsc.verifiers.learned import PRM

    config = dict(per_size=per_size, problems_seed=problems_seed, samples=samples, beams=beams, min_beams=min_beams)
    config.update(others=others, seed=seed)
    policy, prm = load_policy(), PRM()
    problems = [p for size in (3, 4, 5) for p in countdown.generate(per_size, seed=problems_seed + size, sizes=(size,))]
    cache = SweepCache(CACHE / "ch05-search-vs-best-of-n.jsonl")
    runs = [(f"beam {w}x{e}, last", beam_search, dict(beam_width=w, expansions=e, aggregate="last")) for w, e in beams]
    runs += [(f"beam {w}x{e}, min", beam_search, dict(beam_width=w, expansions=e, aggregate="min")) for w, e in min_beams]
    if others:  # the other searches of the chapter's Figure 2, on the same problems
        runs += [
            ("greedy", greedy, {}),
            ("DVTS 4x2", dvts, dict(subtrees=4, expansions=2)),
            ("ToT-BFS, breadth 5", tot_bfs, dict(breadth=5)),
            ("ToT-DFS", dfs, {}),
            ("MCTS, 16 simulations", mcts, dict(simulations=16)),
        ]
    rows = []
    for i, problem in enumerate(problems):
        key = _key("ch05-search-vs-best-of-n", config, problem)
        row = cache.get(key)
        if row is None:
            scored = draw_scored([problem], policy, {"prm": prm}, n=samples, seed=seed)
            row = {
                "numbers": list(problem.numbers),
                "target": problem.target,
                "correct": "".join("1" if c else "0" for c in scored.table.correct[0]),
                "keys": _key_ids(scored.table.keys[0]),
                "min": dense_ranks(scored.scores("prm", "min")[0]),  # 0: the PRM's favourite
                "last": dense_ranks(scored.scores("prm", "last")[0]),
                "prompt_flops": float(scored.prompt_flops[0]),
                "sample_flops": float(scored.sample_flops[0]),
                "verifier_flops": float(scored.verifier_flops["prm"][0]),
                "searches": {},
            }
            for name, strategy, knobs in runs:
                knobs = knobs if strategy is greedy else dict(knobs, verifier=prm)
                [result] = solve_many(strategy, [problem], policy, seed=seed, **knobs)
                ledger = result.ledger
                row["searches"][name] = [int(result.correct), float(ledger.flops), float(ledger.verifier_flops)]
                if strategy is dfs:
                    row["dfs_accepted"] = bool(result.trace["accepted"])
                if strategy is mcts:
                    row["mcts_completed"] = result.trace["completed"] is not None
                    row["mcts_depth"] = max(node["depth"] for node in result.trace["tree"])
            cache.append(key, config, row)
        rows.append(row)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(problems)} problems", flush=True)
    return _columns([name for name, *_ in runs], rows)


def _ints(values) -> str:
    return ",".join(str(int(round(v))) for v in values)


def _columns(searches: list[str], rows: list[dict]) -> dict:
    """The per-problem rows as compact columns (a few hundred kilobytes instead of several
    megabytes of one-number lines): every list of a problem, and every search's outcomes,
    become comma-separated strings."""
    return {
        "searches": searches,
        "prompts": [f"{' '.join(map(str, row['numbers']))}>{row['target']}" for row in rows],
        "correct": [row["correct"] for row in rows],
        "keys": [_ints(row["keys"]) for row in rows],
        "min": [_ints(row["min"]) for row in rows],
        "last": [_ints(row["last"]) for row in rows],
        "prompt_flops": _ints(row["prompt_flops"] for row in rows),
        "sample_flops": _ints(row["sample_flops"] for row in rows),
        "verifier_flops": _ints(row["verifier_flops"] for row in rows),
        "solved": {name: "".join(str(row["searches"][name][0]) for row in rows) for name in searches},
        "flops": {name: _ints(row["searches"][name][1] for row in rows) for name in searches},
        "search_verifier_flops": {name: _ints(row["searches"][name][2] for row in rows) for name in searches},
        "dfs_accepted": "".join("1" if row.get("dfs_accepted") else "0" for row in rows),
        "mcts_completed": "".join("1" if row.get("mcts_completed") else "0" for row in rows),
        "mcts_depth": _ints(row.get("mcts_depth", 0) for row in rows),
    }


def _numbers(text: str) -> np.ndarray:
    return np.array([float(x) for x in text.split(",")]) if text else np.zeros(0)


def _bits(text: str) -> np.ndarray:
    return np.array([c == "1" for c in text])


@dataclass(frozen=True)
class SearchVsBestOfN:
    """The stored result of ``ch05-search-vs-best-of-n``, as arrays over its problems.

    ``best_of[how]`` is each problem's exact best-of-k accuracy for k = 1, ..., ``ks[-1]``
    (problems × ks), choosing by the PRM's last-step score (``"last"``), its weakest step
    (``"min"``) or the oracle (``"oracle"``: coverage); ``best_of_flops`` the mean FLOPs per
    problem of best-of-k with the PRM (reuse on), ``sample_flops`` of k samples alone;
    ``majority`` majority voting at ``vote_ks`` (problems × vote_ks); ``searches[name]`` each
    search's (solved, FLOPs) per problem.
    """

    sizes: np.ndarray
    ks: np.ndarray
    best_of: dict[str, np.ndarray]
    best_of_flops: np.ndarray
    sample_flops: np.ndarray
    vote_ks: list[int]
    majority: np.ndarray
    searches: dict[str, tuple[np.ndarray, np.ndarray]]
    extra: dict

    def flops(self, name: str) -> float:
        """A search's mean FLOPs per problem."""
        return float(self.searches[name][1].mean())

    def matched(self, name: str, how: str = "last", rows=None) -> np.ndarray:
        """Per problem: the search ``name`` solved (0/1) minus best-of-k scored by ``how`` at
        the search's own mean FLOPs (`tsc.scoring.at_flops`): positive where searching won."""
        from tsc.scoring import at_flops

        rows = np.ones(len(self.sizes), dtype=bool) if rows is None else np.asarray(rows)
        solved, flops = self.searches[name]
        matched = at_flops(self.best_of[how][rows], self.best_of_flops, float(flops.mean()))
        return solved[rows] - matched


def load_search_vs_best_of_n(trials: int = 100) -> SearchVsBestOfN:
    """Read back (or compute, about a quarter of an hour) ``ch05-search-vs-best-of-n`` as arrays."""
    from tsc.analysis import SampleTable, majority_accuracy
    from tsc.compute import Ledger
    from tsc.experiments.base import run
    from tsc.scoring import best_of_k

    data = run("ch05-search-vs-best-of-n")
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
    keys = tuple(tuple(None if i < 0 else str(int(i)) for i in _numbers(k)) for k in data["keys"])
    table = SampleTable(
        problems=tuple(range(len(correct))),
        texts=tuple(("",) * n for _ in correct),
        keys=keys,
        correct=correct,
        tokens=np.zeros(correct.shape),
        logprobs=np.zeros(correct.shape),
        temperature=1.0,
        seed=0,
        ledger=Ledger(),
    )
    majority = majority_accuracy(table, vote_ks, trials=trials, seed=0)["per_problem"]
    searches = {name: (_bits(data["solved"][name]).astype(float), _numbers(data["flops"][name])) for name in data["searches"]}
    extra = {
        "dfs_accepted": _bits(data["dfs_accepted"]),
        "mcts_completed": _bits(data["mcts_completed"]),
        "mcts_depth": _numbers(data["mcts_depth"]),
        "verifier_flops": {name: _numbers(data["search_verifier_flops"][name]) for name in data["searches"]},
    }
    return SearchVsBestOfN(
        sizes=np.array([len(prompt.split(">")[0].split()) for prompt in data["prompts"]]),
        ks=ks,
        best_of=best_of,
        best_of_flops=np.array([float(np.mean(prompt + k * (sample + verifier))) for k in ks]),
        sample_flops=np.array([float(np.mean(prompt + k * sample)) for k in ks]),
        vote_ks=vote_ks,
        majority=majority,
        searches=searches,
        extra=extra,
    )
