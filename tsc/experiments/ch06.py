"""Chapter 6's slow experiments: sequential refinement on one FLOPs axis, and best-of-N with
many samples.

``ch06-sequential`` puts every way of spending a budget one attempt at a time on the FLOPs
axis of parallel sampling, problem by problem on the same held-out problems:

1. the refinement threshold (the PRM score below which a step is rewritten) is chosen on a
   *dev* split of held-out problems, disjoint from the test problems: the threshold with the
   highest dev accuracy after four attempts (ties to the cheaper one);
2. on the test problems: self-refinement with the PRM at that threshold; the same loop with
   the exact step oracle as feedback (the upper bound of better feedback), and with the ORM's
   step scores at the same threshold (feedback from a verifier never taught steps); sequential
   revisions by the learned revision model (no feedback: its last attempt; or the PRM picks
   among its attempts); and 16 parallel samples scored by the PRM, for the parallel baselines
   at every k <= 16 (`tsc.scoring`): best-of-k picked by the PRM or by the oracle, and the
   greedy attempt plus k - 1 samples picked by the PRM. All are charged what was computed
   (prefix reuse on).

``ch06-best-of-many`` draws 256 samples for problems of every size and scores them with the
PRM (weakest step and last step), the ORM and the policy's own confidence, to look for
verifier over-optimisation: best-of-k accuracy that falls as k grows (Cobbe et al. 2021;
Gao et al. 2023). It stores each problem's exact best-of-k at k = 1, 2, 4, ..., 256
(`tsc.scoring.best_of_k`).

    python -m tsc experiment ch06-sequential        # read back (or compute: about 15 min, one thread)
    python -m tsc experiment ch06-best-of-many      # about 10 min
    python -m tsc experiment NAME --refresh         # compute again

Per-problem results are cached in ``runs/experiments/`` so an interrupted run resumes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tsc.experiments.base import experiment
from tsc.experiments.ch05 import CACHE, _key, _scored_samples


@experiment(
    "ch06-sequential",
    describe="self-refinement (threshold chosen on a dev split), step-oracle feedback, revisions and best-of-k on one FLOPs axis",
    dev_per_size=30,
    test_per_size=100,
    dev_seed=6300,
    test_seed=6400,
    rounds=8,
    choose_at=4,
    thresholds=[0.2, 0.3, 0.4, 0.5, 0.6],
    samples=16,
    seed=0,
)
def sequential(
    *,
    dev_per_size: int,
    test_per_size: int,
    dev_seed: int,
    test_seed: int,
    rounds: int,
    choose_at: int,
    thresholds: list,
    samples: int,
    seed: int,
) -> dict:
    from tsc.analysis import SweepCache, draw
    from tsc.compute import Ledger
    from tsc.core import problem_seed
    from tsc.lm.policy import load_policy
    from tsc.strategies import revise, self_refine
    from tsc.tasks import TASKS
    from tsc.verifiers import StepOracle
    from tsc.verifiers.learned import ORM, PRM

    config = dict(dev_per_size=dev_per_size, test_per_size=test_per_size, dev_seed=dev_seed, test_seed=test_seed, rounds=rounds,
                  choose_at=choose_at, thresholds=thresholds, samples=samples, seed=seed)  # fmt: skip
    policy, reviser, prm, step_oracle, orm = load_policy(), load_policy("revision"), PRM(), StepOracle(), ORM()
    dev = TASKS["countdown"].per_size(dev_per_size, seed=dev_seed, sizes=(3, 4, 5))
    test = TASKS["countdown"].per_size(test_per_size, seed=test_seed, sizes=(3, 4, 5))
    overlap = {p.prompt() for p in dev} & {p.prompt() for p in test}
    test = [p for p in test if p.prompt() not in overlap]  # the dev split never grades a test problem
    cache = SweepCache(CACHE / "ch06-sequential.jsonl")

    def refine_curve(problem, verifier, threshold):
        result = self_refine(problem, policy, verifier=verifier, rounds=rounds, threshold=threshold, seed=problem_seed(seed, problem))
        attempts = result.trace["attempts"]
        ok, best = [], 0
        for r, attempt in enumerate(attempts):
            if attempt["score"] >= attempts[best]["score"]:
                best = r
            ok.append(int(problem.check(attempts[best]["text"])))
        return {
            "ok": ok,
            "flops": [float(a["flops"]) for a in attempts],
            "accepted": bool(result.trace["accepted"]),
            "first_score": round(float(attempts[0]["score"]), 5),  # the greedy attempt's last-step score
        }

    # 1. the threshold, on the dev split
    dev_rows = []
    for problem in dev:
        key = _key("ch06-sequential/dev", config, problem)
        row = cache.get(key)
        if row is None:
            row = {"size": len(problem.numbers), "refine": {str(t): refine_curve(problem, prm, t) for t in thresholds}}
            cache.append(key, config, row)
        dev_rows.append(row)

    def at(curve, r):  # the answer after r attempts (a loop that stopped keeps its last answer)
        return curve["ok"][min(r, len(curve["ok"])) - 1]

    def cost(curve, r):
        return curve["flops"][min(r, len(curve["flops"])) - 1]

    dev_summary = {}
    for t in thresholds:
        curves = [row["refine"][str(t)] for row in dev_rows]
        dev_summary[str(t)] = {
            "accuracy": [sum(at(c, r) for c in curves) / len(curves) for r in range(1, rounds + 1)],
            "flops": [sum(cost(c, r) for c in curves) / len(curves) for r in range(1, rounds + 1)],
        }
    chosen = max(thresholds, key=lambda t: (dev_summary[str(t)]["accuracy"][choose_at - 1], -dev_summary[str(t)]["flops"][choose_at - 1]))
    print(f"  threshold chosen on {len(dev)} dev problems: {chosen}", flush=True)

    # 2. the test problems
    rows = []
    for i, problem in enumerate(test):
        key = _key(f"ch06-sequential/test/{chosen}", config, problem)
        row = cache.get(key)
        if row is None:
            pseed = problem_seed(seed, problem)
            row = {"numbers": list(problem.numbers), "target": problem.target}
            row["refine"] = refine_curve(problem, prm, chosen)
            row["refine_0.5"] = refine_curve(problem, prm, 0.5) if chosen != 0.5 else row["refine"]
            row["refine_oracle"] = refine_curve(problem, step_oracle, 0.5)
            row["refine_orm"] = refine_curve(problem, orm, chosen)  # feedback from a verifier never taught steps
            revised = revise(problem, policy, reviser=reviser, rounds=rounds, seed=pseed)
            marks, extra = [], []
            for text in revised.candidates:  # the PRM reads each attempt as it comes
                charged = Ledger()
                marks.append(float(prm.score(problem, [text], ledger=charged)[0]))
                extra.append(float(charged.verifier_flops))
            row["revise"] = {
                "ok": [int(problem.check(t)) for t in revised.candidates],
                "prm": [round(m, 5) for m in marks],
                "policy_flops": [float(f) for f in revised.trace["policy_flops"]],
                "prm_flops": extra,
            }
            scored = draw([problem], policy, n=samples, seed=seed, verifiers={"prm": prm})
            # with the scores themselves, to rank the greedy attempt among the samples
            row["parallel"] = _scored_samples(scored, last_scores=[round(float(x), 5) for x in scored.scores("prm", "last")[0]])
            cache.append(key, config, row)
        rows.append(row)
        if (i + 1) % 50 == 0:
            print(f"  {i + 1}/{len(test)} test problems", flush=True)
    return {"threshold": chosen, "dev": dev_summary, "dev_problems": len(dev), "problems": [_compact(row) for row in rows]}


def _compact(value):
    """A stored row with every list of numbers as one comma-separated string (the result file
    is written one JSON value per line: lists of numbers would take a line per number)."""
    if isinstance(value, dict):
        return {key: _compact(v) for key, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        return ",".join(f"{v:.6g}" if isinstance(v, float) else str(v) for v in value)
    return value


def _expand(value, key: str = ""):
    """`_compact` undone: comma-separated numbers back to lists (the strings of 0s and 1s that
    mark correct samples stay strings)."""
    if isinstance(value, dict):
        return {k: _expand(v, k) for k, v in value.items()}
    if isinstance(value, str) and key not in ("correct",) and value and all(c in "0123456789.,-+e" for c in value):
        return [float(x) if any(c in x for c in ".e") else int(x) for x in value.split(",")]
    return value


@experiment(
    "ch06-best-of-many",
    describe="best-of-k up to 256 samples by the PRM, the ORM and the policy's confidence, against the oracle",
    per_size=40,
    problems_seed=6600,
    samples=256,
    seed=0,
)
def best_of_many(*, per_size: int, problems_seed: int, samples: int, seed: int) -> dict:
    from tsc.analysis import SweepCache, draw
    from tsc.lm.policy import load_policy
    from tsc.scoring import best_of_k
    from tsc.tasks import TASKS
    from tsc.verifiers.learned import ORM, PRM, SelfVerifier

    config = dict(per_size=per_size, problems_seed=problems_seed, samples=samples, seed=seed)
    policy = load_policy()
    verifiers = {"prm": PRM(), "orm": ORM(), "self": SelfVerifier(policy)}
    problems = TASKS["countdown"].per_size(per_size, seed=problems_seed, sizes=(3, 4, 5))
    ks = [2**i for i in range(samples.bit_length()) if 2**i <= samples]
    cache = SweepCache(CACHE / "ch06-best-of-many.jsonl")
    rows = []
    for i, problem in enumerate(problems):
        key = _key("ch06-best-of-many", config, problem)
        row = cache.get(key)
        if row is None:
            scored = draw([problem], policy, n=samples, seed=seed, verifiers=verifiers)
            correct = scored.correct[0]
            choosers = {
                "oracle": correct.astype(float),
                "PRM (min)": scored.scores("prm", "min")[0],
                "PRM (last)": scored.scores("prm", "last")[0],
                "ORM": scored.scores("orm", "last")[0],
                "self": scored.scores("self", "last")[0],
            }
            row = {
                "size": len(problem.numbers),
                "correct": int(correct.sum()),
                "best_of": {name: [round(best_of_k(s, correct, k), 5) for k in ks] for name, s in choosers.items()},
                "flops": {
                    "prompt": float(scored.prompt_flops[0]),
                    "sample": float(scored.sample_flops[0]),
                    **{name: float(v[0].mean()) for name, v in scored.verifier_flops.items()},
                },
                # the wrong samples the PRM (weakest step) scores above one half: confidently wrong
                "confident_wrong": int(((choosers["PRM (min)"] > 0.5) & ~correct).sum()),
            }
            cache.append(key, config, row)
        rows.append(row)
        if (i + 1) % 25 == 0:
            print(f"  {i + 1}/{len(problems)} problems", flush=True)
    return {"ks": ks, "problems": rows}


@dataclass(frozen=True)
class Sequential:
    """The stored result of ``ch06-sequential`` as arrays over its test problems.

    ``lines[name]`` is (solved, FLOPs), each problems × budgets: after 1, ..., ``rounds``
    attempts for the sequential strategies (a loop that stopped early keeps its answer and
    its cost), and for the parallel baselines at k = 1, ..., ``samples`` (exact over subsets,
    charged as `tsc.strategies.best_of_n` charges): best-of-k picked by the PRM, best-of-k
    picked by the oracle (its pick costs no FLOPs), and the greedy attempt plus k - 1 samples
    picked by the PRM (self-refinement's own start, then samples instead of rewrites).
    ``threshold`` is the refinement threshold chosen on the dev split, ``dev`` the dev
    accuracy and FLOPs of every threshold tried; ``revisions`` the revision model's attempts
    as they happened: each problem's list of verdicts, as long as the attempts it made.
    """

    sizes: np.ndarray
    threshold: float
    dev: dict
    dev_problems: int
    lines: dict[str, tuple[np.ndarray, np.ndarray]]
    revisions: list[list[bool]]
    accepted: np.ndarray

    def versus(self, name: str, attempts: int, baseline: str = "best-of-N, PRM", rows=None) -> np.ndarray:
        """Per problem of ``rows`` (a boolean mask; default all): ``name`` after ``attempts``
        attempts minus the parallel ``baseline`` at the same mean FLOPs on those rows
        (`tsc.scoring.at_flops`, interpolated in log FLOPs): positive where the sequential
        strategy solved more at equal compute."""
        from tsc.scoring import at_flops

        rows = np.ones(len(self.sizes), dtype=bool) if rows is None else np.asarray(rows, dtype=bool)
        solved, flops = self.lines[name]
        base, base_flops = self.lines[baseline]
        target = float(flops[rows, attempts - 1].mean())
        return solved[rows, attempts - 1] - at_flops(base[rows], base_flops[rows].mean(axis=0), target)

    def transitions(self) -> dict[str, int]:
        """The revision model's real revisions (an attempt followed by another; a loop that
        stopped made no more): how many right attempts it revised into wrong ones
        (``broke``, of ``right``) and wrong ones into right (``mended``, of ``wrong``)."""
        pairs = [(a, b) for attempts in self.revisions for a, b in zip(attempts, attempts[1:])]
        return {
            "right": sum(a for a, _ in pairs),
            "wrong": sum(not a for a, _ in pairs),
            "broke": sum(a and not b for a, b in pairs),
            "mended": sum(b and not a for a, b in pairs),
            "revisions": len(pairs),
            "problems": len(self.revisions),
            "stopped_after_one": sum(len(attempts) == 1 for attempts in self.revisions),
        }


def _rounds(curves: list[dict], rounds: int, key: str) -> np.ndarray:
    return np.array([[c[key][min(r, len(c[key])) - 1] for r in range(1, rounds + 1)] for c in curves], dtype=float)


def load_sequential() -> Sequential:
    """Read back (or compute, about a quarter of an hour) ``ch06-sequential`` as arrays."""
    from tsc.experiments.base import run
    from tsc.scoring import best_of_k

    data = run("ch06-sequential")
    rows, rounds = [_expand(row) for row in data["problems"]], len(next(iter(data["dev"].values()))["accuracy"])
    lines = {}
    for name, key in (
        (f"self-refine, PRM (threshold {data['threshold']})", "refine"),
        ("self-refine, PRM (threshold 0.5)", "refine_0.5"),
        ("self-refine, step oracle", "refine_oracle"),
        ("self-refine, ORM", "refine_orm"),
    ):
        curves = [row[key] for row in rows]
        lines[name] = (_rounds(curves, rounds, "ok"), _rounds(curves, rounds, "flops"))
    revised = [row["revise"] for row in rows]
    last, picked, spent, with_prm = [], [], [], []
    for r in revised:
        n = len(r["ok"])
        last.append([r["ok"][min(i, n) - 1] for i in range(1, rounds + 1)])
        best = [max(range(min(i, n)), key=lambda j: (r["prm"][j], j)) for i in range(1, rounds + 1)]
        picked.append([r["ok"][b] for b in best])
        spent.append([r["policy_flops"][min(i, n) - 1] for i in range(1, rounds + 1)])
        with_prm.append([r["policy_flops"][min(i, n) - 1] + sum(r["prm_flops"][: min(i, n)]) for i in range(1, rounds + 1)])
    lines["revision model, last attempt"] = (np.array(last, dtype=float), np.array(spent, dtype=float))
    lines["revision model, PRM picks"] = (np.array(picked, dtype=float), np.array(with_prm, dtype=float))
    par = [row["parallel"] for row in rows]
    correct = np.array([[c == "1" for c in p["correct"]] for p in par])
    ks = range(1, correct.shape[1] + 1)
    # scored by the last step, as self_refine chooses its answer (and the stronger rule: Chapter 5)
    solved = np.array([[best_of_k(-np.array(p["last"], dtype=float), ok, k) for k in ks] for p, ok in zip(par, correct)])
    flops = np.array([[p["prompt_flops"] + k * (p["sample_flops"] + p["verifier_flops"]) for k in ks] for p in par])
    lines["best-of-N, PRM"] = (solved, flops)
    oracle = np.array([[best_of_k(ok.astype(float), ok, k) for k in ks] for ok in correct])
    lines["best-of-N, oracle picks"] = (oracle, np.array([[p["prompt_flops"] + k * p["sample_flops"] for k in ks] for p in par]))
    # the greedy attempt (self-refinement's first, charged with its PRM read) and k - 1 samples, the PRM picking
    lines["greedy + samples, PRM picks"] = _anchored([row["refine"] for row in rows], par, correct)
    return Sequential(
        sizes=np.array([len(row["numbers"]) for row in rows]),
        threshold=float(data["threshold"]),
        dev=data["dev"],
        dev_problems=int(data["dev_problems"]),
        lines=lines,
        revisions=[[bool(x) for x in r["ok"]] for r in revised],
        accepted=np.array([row["refine"]["accepted"] for row in rows]),
    )


def _anchored(first: list[dict], par: list[dict], correct: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The greedy attempt plus k - 1 samples, the PRM picking by the last step, for every k:
    (solved, FLOPs), each problems × k."""
    from tsc.scoring import best_of_k_after

    ks = range(1, correct.shape[1] + 1)
    anchored = np.array(
        [
            [best_of_k_after(f["first_score"], bool(f["ok"][0]), p["last_scores"], ok, k) for k in ks]
            for f, p, ok in zip(first, par, correct)
        ]
    )

    def anchored_cost(f: dict, p: dict, k: int) -> float:  # the greedy attempt, then one call for k - 1 samples
        return f["flops"][0] + (p["prompt_flops"] + (k - 1) * (p["sample_flops"] + p["verifier_flops"]) if k > 1 else 0.0)

    anchored_flops = np.array([[anchored_cost(f, p, k) for k in ks] for f, p in zip(first, par)])
    return anchored, anchored_flops
