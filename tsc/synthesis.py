"""Chapter 9's analysis: the map of every strategy on one FLOPs axis, and the numbers behind
what the book's experiments say about thinking.

Torch-free and pure: every function takes the data of a shipped result (what
``tsc.experiments.run(NAME)`` returns) and returns numbers with intervals, so the chapter
stays a few short cells and each claim has one function behind it.

The map (experiment ``ch09-map``) holds, per task, rows of per-problem verdicts and FLOPs on
the same problems with the same per-problem seeds, so any two rows compare problem by problem
(`tsc.analysis.paired`). A row is on the **Pareto front** (`tsc.analysis.pareto_front`)
when no other row solves at least as many problems at no more mean FLOPs per problem, and
strictly more of one or less of the other.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

import tsc.strategies as strategies
from tsc.analysis import bootstrap, paired, pareto_front, pass_at_k, wilson

# the families the map draws (`tsc.strategies.FAMILIES`): every one but thinking, whose budget
# forcing needs the trace model, which the map does not run
FAMILIES = tuple(f for f in strategies.FAMILIES if f != "thinking")


# --- the map ------------------------------------------------------------------------------------


def check_task(task: dict) -> dict:
    """``task`` checked: rows with a name, a family from `FAMILIES`, and one verdict and one FLOPs
    count per problem. A ValueError says what is wrong."""
    if not isinstance(task, dict) or not task.get("rows"):
        raise ValueError("a map task is a dict with 'rows' (a list of strategies); got none; read it with tsc.experiments.run('ch09-map')")
    n = len(task["sizes"]) if "sizes" in task else len(task["rows"][0]["correct"])
    for row in task["rows"]:
        if row.get("family") not in FAMILIES:
            raise ValueError(f"row {row.get('name')!r} has family {row.get('family')!r}; expected one of {', '.join(FAMILIES)}")
        if len(row["correct"]) != n or len(row["flops"]) != n:
            raise ValueError(
                f"row {row['name']!r} has {len(row['correct'])} verdicts and {len(row['flops'])} FLOPs counts for {n} problems"
            )
    return task


def interval(correct: Sequence[bool]) -> tuple[float, float, float]:
    """Share of problems solved with its 95 % Wilson interval: (accuracy, low, high)."""
    correct = np.asarray(correct, dtype=bool)
    low, high = wilson(int(correct.sum()), len(correct))
    return float(correct.mean()), low, high


def _solved(correct: Sequence[bool]) -> dict[str, float]:
    """`interval` by name (``accuracy``, ``low``, ``high``), to spread into a row of a table."""
    return dict(zip(("accuracy", "low", "high"), interval(correct)))


PRICE = "o3-mini"  # the list price the map's dollars are counted at (Chapter 7's, `tsc.economics.list_price`)


def dollars(ledger: dict, price=None) -> np.ndarray:
    """Per problem, what a row's ledger columns (`tsc.analysis.ledger_columns`) cost at
    ``price`` (a `tsc.compute.TokenPrice`; None: `PRICE`'s list price): prompt tokens at the
    input price, reused ones at the cached price, generated ones at the output price."""
    from tsc.compute import Ledger
    from tsc.economics import list_price

    price = list_price(PRICE) if price is None else price
    fields = ("prompt_tokens", "reused_tokens", "generated_tokens", "verifier_tokens")
    return np.array([Ledger(**dict(zip(fields, map(int, values)))).cost(price) for values in zip(*(ledger[f] for f in fields))])


def summarize(task: dict, *, mask: np.ndarray | None = None, price=None) -> list[dict]:
    """One point per row: name, strategy, family, accuracy with its interval, mean FLOPs per
    problem, over all problems or those where ``mask`` is True. Rows that keep their ledgers
    also give mean ``dollars`` per problem (at ``price``, see `dollars`), ``seconds`` per
    problem (one thread, as measured when the map was computed) and model ``calls``."""
    check_task(task)
    points = []
    for row in task["rows"]:
        keep = np.ones(len(row["correct"]), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
        correct, flops = np.asarray(row["correct"], dtype=bool)[keep], np.asarray(row["flops"], dtype=float)[keep]
        point = {
            "name": row["name"],
            "strategy": row["strategy"],
            "family": row["family"],
            **_solved(correct),
            "flops": float(flops.mean()),
            "problems": int(len(correct)),
            "verifier": row.get("knobs", {}).get("verifier"),
        }
        if "ledger" in row:
            ledger = row["ledger"]
            point["dollars"] = float(dollars(ledger, price)[keep].mean())
            point["seconds"] = float(np.asarray(ledger["seconds"], dtype=float)[keep].mean())
            point["calls"] = float(np.asarray(ledger["calls"], dtype=float)[keep].mean())
        points.append(point)
    return points


def front(points: Sequence[dict], *, cost: str = "flops", keep=None) -> list[int]:
    """Indices into ``points`` of the Pareto front on ``cost`` (`pareto_front`) of the points
    for which ``keep(point)`` is true (all of them by default), cheapest first."""
    kept = [i for i, p in enumerate(points) if keep is None or keep(p)]
    inner = pareto_front([points[i][cost] for i in kept], [points[i]["accuracy"] for i in kept])
    return [kept[j] for j in inner]


def undominated(points: Sequence[dict], costs: Sequence[str] = ("dollars", "seconds"), gain: str = "accuracy") -> list[int]:
    """Indices (in the points' order) of the points no other beats on ``gain`` (higher is
    better) and every one of ``costs`` (lower is better) at once. A point is beaten when
    another is at least as good on every axis and better on one; identical points do not beat
    each other, so all of them are kept, the tie rule of `tsc.analysis.pareto_front` (with
    one cost, this is its front)."""
    values = np.array([[-float(p[gain])] + [float(p[c]) for c in costs] for p in points])
    return [i for i, v in enumerate(values) if not (np.all(values <= v, axis=1) & np.any(values < v, axis=1)).any()]


def verdict(diff, *, problems: int | None = None) -> str:
    """What a paired difference (mean, low, high) shows, in words: a gain or a loss the
    interval separates from zero, or within the noise (of ``problems`` problems, if given)."""
    _, low, high = (diff["mean"], diff["low"], diff["high"]) if isinstance(diff, dict) else tuple(diff)
    if low > 0:
        return "a gain the paired interval separates from zero"
    if high < 0:
        return "a loss the paired interval separates from zero"
    return "within the noise" + (f" of {problems:,} problems" if problems else "")


def standing(table: dict, *, group="all") -> str:
    """Where the run a `per_size` table compares (its ``versus``) stands against every other
    run on ``group``: ahead of some beyond the noise, level with some within it, behind some
    beyond it."""
    diffs = table["paired"]
    ahead = [n for n in diffs if diffs[n][group][1] > 0]
    behind = [n for n in diffs if diffs[n][group][2] < 0]
    level = [n for n in diffs if n not in ahead and n not in behind]
    parts = []
    if ahead:
        parts.append(f"ahead of {join_names(ahead)} beyond the noise")
    if level:
        parts.append(f"level with {join_names(level)} within the noise")
    if behind:
        parts.append(f"behind {join_names(behind)} beyond the noise")
    return join_names(parts)


MONTHS = "January February March April May June July August September October November December".split()


def in_words(date: str) -> str:
    """``2025-06`` as ``June 2025``, ``2026-12-07`` as ``7 December 2026``, ``2025`` as is."""
    parts = date.split("-")
    if len(parts) == 2 and parts[1].isdigit() and 1 <= int(parts[1]) <= 12:
        return f"{MONTHS[int(parts[1]) - 1]} {parts[0]}"
    if len(parts) == 3 and parts[1].isdigit() and 1 <= int(parts[1]) <= 12 and parts[2].isdigit():
        return f"{int(parts[2])} {MONTHS[int(parts[1]) - 1]} {parts[0]}"
    return date


def price_when(model: str) -> tuple[str, str]:
    """When ``model``'s list price (`tsc.economics.LIST_PRICES`) was listed and when it was read,
    in words for a sentence: ``("June 2025", "7 December 2026")``."""
    from tsc.economics import LIST_PRICES

    row = next((r for r in LIST_PRICES if r["model"] == model), None)
    if row is None:
        raise ValueError(f"no list price for {model!r}; known: {', '.join(r['model'] for r in LIST_PRICES)}")
    return in_words(row["date"]), in_words(row["accessed"])


def join_names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``: names in a sentence."""
    items = list(items)
    if not items:
        raise ValueError("no names to join")
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def front_holds(points: Sequence[dict], front: Sequence[int], cost: str = "flops") -> bool:
    """Whether ``front`` is what its definition says for ``points`` on ``cost``: nothing
    beats a point on it, everything off it is beaten (or is the twin of a kept point), and
    along it cost and accuracy both rise."""
    kept = undominated(points, (cost,))
    for i, p in enumerate(points):
        twin = any(q[cost] == p[cost] and q["accuracy"] == p["accuracy"] for j, q in enumerate(points) if j != i)
        if (i in front) != (i in kept) and not twin:
            return False
    steps = zip(front, list(front)[1:])
    return all(points[a][cost] <= points[b][cost] and points[a]["accuracy"] < points[b]["accuracy"] for a, b in steps)


def within_noise(points: Sequence[dict], front: Sequence[int]) -> list[tuple[str, str]]:
    """Neighbours on the front whose 95 % intervals overlap: the dearer one's gain is within the noise."""
    pairs = []
    for a, b in zip(front, front[1:]):
        if points[b]["low"] <= points[a]["high"]:
            pairs.append((points[a]["name"], points[b]["name"]))
    return pairs


def row(task: dict, name: str) -> dict:
    """The row called ``name`` (a ValueError lists the names there are)."""
    for r in task["rows"]:
        if r["name"] == name:
            return r
    raise ValueError(f"no row {name!r}; the map has {', '.join(r['name'] for r in task['rows'])}")


def best_fixed(points: Sequence[dict], budget: float, *, exclude: Sequence[str] = ("adaptive",)) -> int:
    """Index of the most accurate point at no more than ``budget`` mean FLOPs, among fixed
    strategies (families not in ``exclude``; the cheaper one among equals)."""
    fits = [i for i, p in enumerate(points) if p["flops"] <= budget and p["family"] not in exclude]
    if not fits:
        raise ValueError(f"no fixed strategy spends at most {budget:.3g} FLOPs per problem on average")
    return max(fits, key=lambda i: (points[i]["accuracy"], -points[i]["flops"]))


def halves(task: dict, *, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint random halves of the task's problems (boolean masks), to choose on one and
    report on the other."""
    n = len(task["rows"][0]["correct"])
    order = np.random.default_rng(seed).permutation(n)
    first = np.zeros(n, dtype=bool)
    first[order[: n // 2]] = True
    return first, ~first


def by_size(task: dict, name: str) -> dict[int, dict]:
    """Accuracy (with its interval) and mean FLOPs of one row on each problem size."""
    stats = per_size({name: row(task, name)}, task["sizes"], versus=name)["stats"][name]
    return {size: {key: s[key] for key in ("accuracy", "low", "high", "flops")} for size, s in stats.items() if size != "all"}


def matched_pairs(task: dict, first: str, second: str, *, within: float = 1.3, verifier: str | None = "prm") -> list[dict]:
    """Each row of strategy ``first`` beside the row of strategy ``second`` nearest to it in
    mean FLOPs (both judged by ``verifier``; None: any), kept when the dearer spends at most
    ``within`` times the cheaper: names, FLOPs ratio (first over second) and first minus
    second, paired over the problems (mean, low, high)."""
    check_task(task)

    def mean_flops(r):
        return float(np.mean(r["flops"]))

    def judged(r):
        return verifier is None or r.get("knobs", {}).get("verifier") == verifier

    others = [r for r in task["rows"] if r["strategy"] == second and judged(r)]
    out = []
    for r in task["rows"]:
        if r["strategy"] != first or not judged(r) or not others:
            continue
        near = min(others, key=lambda o: abs(np.log(mean_flops(o) / mean_flops(r))))
        ratio = mean_flops(r) / mean_flops(near)
        if max(ratio, 1 / ratio) <= within:
            out.append({"first": r["name"], "second": near["name"], "ratio": ratio, "paired": paired(r["correct"], near["correct"])})
    return out


def per_size(runs: dict[str, dict], sizes: Sequence[int], *, versus: str = "thinker") -> dict:
    """Runs on the same problems (name -> per-problem ``correct`` and ``flops``), per problem
    size and over all (key ``"all"``): problems solved with a 95 % Wilson interval and mean
    FLOPs (``stats``), and ``versus`` minus each other run, paired over the problems (``paired``:
    mean, low, high)."""
    sizes = np.asarray(sizes)
    groups = {int(k): sizes == k for k in sorted(set(sizes.tolist()))} | {"all": np.ones(len(sizes), dtype=bool)}
    stats, diffs = {}, {}
    for name, run in runs.items():
        correct, flops = np.asarray(run["correct"], dtype=bool), np.asarray(run["flops"], dtype=float)
        if len(correct) != len(sizes):
            raise ValueError(f"run {name!r} has {len(correct)} verdicts for {len(sizes)} problems")
        stats[name] = {}
        for key, mask in groups.items():
            stats[name][key] = {"solved": int(correct[mask].sum()), "problems": int(mask.sum()), **_solved(correct[mask]),
                                "flops": float(flops[mask].mean())}  # fmt: skip
    mine = np.asarray(runs[versus]["correct"], dtype=float)
    for name, run in runs.items():
        if name != versus:
            other = np.asarray(run["correct"], dtype=float)
            diffs[name] = {key: paired(mine[mask], other[mask]) for key, mask in groups.items()}
    return {"groups": list(groups), "stats": stats, "paired": diffs}


def format_per_size(table: dict, *, versus: str = "thinker") -> str:
    """`per_size`'s table as text: per run, solved share (95 % interval) and mean FLOPs per
    group of problems, and below each rival ``versus`` minus it, paired, in points."""

    def head(group) -> str:
        return "all" if group == "all" else f"{group} numbers"

    groups = table["groups"]
    counts = [table["stats"][versus][g]["problems"] for g in groups]
    width = max([18] + [len(name) + 1 for name in table["stats"]])  # the names' column fits the longest
    lines = [f"{'':<{width}}" + "".join(f"{head(g) + f' ({n})':>27}" for g, n in zip(groups, counts))]
    for name, stats in table["stats"].items():
        cells = [f"{s['accuracy']:6.1%} ({s['low']:.0%}-{s['high']:.0%}) {s['flops']:.1e}" for s in (stats[g] for g in groups)]
        lines.append(f"{name:<{width}}" + "".join(f"{c:>27}" for c in cells))
        if name in table["paired"]:
            diffs = [table["paired"][name][g] for g in groups]
            lines.append(
                f"{'  ' + versus + ' minus':<{width}}"
                + "".join(f"{f'{100 * m:+.1f} ({100 * lo:+.1f} to {100 * hi:+.1f})':>27}" for m, lo, hi in diffs)
            )
    return "\n".join(lines)


# --- what the experiments say -----------------------------------------------------------------


def _curve(per_problem: np.ndarray, seed: int = 0) -> dict:
    mean, low, high = bootstrap(per_problem, seed=seed, n_boot=1000)
    return {"mean": np.asarray(mean), "low": np.asarray(low), "high": np.asarray(high)}


def selection_gap(self_consistency: dict, task: str, temperature: str) -> dict:
    """Coverage (some sample right) against majority voting at each k, from Chapter 3's
    ``ch03-self-consistency``; ``gap`` is coverage minus majority at the largest k, paired."""
    d = self_consistency[task]
    t = d["temperatures"][temperature]
    coverage, majority = np.asarray(t["coverage"], dtype=float), np.asarray(t["majority"], dtype=float)
    return {
        "ks": list(d["ks"]),
        "coverage": _curve(coverage),
        "majority": _curve(majority),
        "greedy": float(np.mean(d["greedy"])),
        "gap": paired(coverage[:, -1], majority[:, -1]),
        "coverage_gain": paired(coverage[:, -1], coverage[:, 0]),
        "majority_gain": paired(majority[:, -1], majority[:, 0]),
    }


def selectors(best_of_many: dict, k: int) -> dict[str, tuple[float, float, float]]:
    """Best-of-k accuracy of each selector of Chapter 6's ``ch06-best-of-many`` (the oracle, the
    PRM scored two ways, the ORM, the policy's own confidence), mean over problems with a 95 %
    bootstrap interval."""
    out = {}
    for name in best_of_many["problems"][0]["best_of"]:
        mean, low, high = bootstrap(selector_values(best_of_many, name, k), n_boot=1000)
        out[name] = (float(mean), float(low), float(high))
    return out


def sequential_and_parallel(budget_forcing: dict, parallel: dict, model: str = "countdown") -> dict:
    """Chapter 2's two ways to spend generated tokens on the same 3-number problems: one long
    search trace under budget forcing (the ``trace`` model, greedy) and many short samples of
    ``model`` (coverage, and a majority vote). Accuracy against mean generated tokens, and the
    comparison at the longest thinking budget's tokens."""
    if budget_forcing["problems"] != parallel["problems"]:
        raise ValueError("the budget-forcing and parallel results are not on the same problems")
    sequential = [
        {"budget": c["thinking_tokens"], "tokens": float(np.mean(c["generated_tokens"])), **_solved(c["correct"])}
        for c in budget_forcing["configs"]
    ]
    m = parallel["models"][model]
    ns = np.asarray(parallel["ns"])
    coverage = np.asarray(m["coverage"], dtype=float).T  # problems × ns
    majority = np.asarray(m["majority"], dtype=float).T
    tokens = ns * m["tokens_per_sample"]
    longest = max(sequential, key=lambda s: s["tokens"])
    j = int(np.searchsorted(tokens, longest["tokens"], side="right")) - 1  # the most samples within those tokens
    thinking = np.asarray(max(budget_forcing["configs"], key=lambda c: np.mean(c["generated_tokens"]))["correct"], dtype=float)
    return {
        "sequential": sequential,
        "problems": len(thinking),
        "tokens": tokens,
        "coverage": _curve(coverage),
        "majority": _curve(majority),
        "matched_n": int(ns[j]),
        "matched_tokens": float(tokens[j]),
        "thinking": longest,
        "thinking_vs_vote": paired(thinking, majority[:, j]),
        "thinking_vs_coverage": paired(thinking, coverage[:, j]),
    }


def knowledge(grid: dict, *, ks: Sequence[int] | None = None) -> dict:
    """From Chapter 4's ``ch04-grid`` (256 samples of every problem by every checkpoint): for
    each fully trained size of the family, coverage@k on each problem size (mean with a 95 %
    bootstrap interval) and the share of problems no sample solved."""
    ks = list(ks or grid["ks"])
    sizes = np.asarray(grid["sizes"])
    samples = grid["samples"]
    out = {"ks": ks, "models": {}}
    for ck in grid["checkpoints"]:
        if ck["name"] != ck["size"]:
            continue  # intermediate checkpoints
        correct = np.asarray(ck["correct"])
        per = np.array([[pass_at_k(samples, int(c), k) for k in ks] for c in correct])
        model = {"params": ck["params"], "by_size": {}}
        for size in sorted(set(sizes.tolist())):
            mask = sizes == size
            unsolved, low, high = interval(correct[mask] == 0)
            model["by_size"][size] = {"coverage": _curve(per[mask]), "unsolved": (unsolved, low, high)}
        model["all"] = _curve(per)
        out["models"][ck["name"]] = model
    return out


def allocation_by_size(allocation: dict, plan: dict, split: str = "test") -> list[dict]:
    """What Chapter 4's fitted compute-optimal plan spends on each size of problem: the strategy
    it chose there, that strategy's mean FLOPs and accuracy on the held-out problems of that
    size, and its gain over greedy decoding there (paired) (``allocation`` is ``ch04-allocation``'s data, ``plan`` one of the bundled plans,
    `tsc.strategies.adaptive.plan_for`)."""
    data = allocation["splits"][split]
    sizes = np.array([len(p[0]) for p in data["problems"]])
    if len(plan["choice"]) != len(set(sizes.tolist())):
        raise ValueError(
            f"the plan has {len(plan['choice'])} bins, not one per size ({len(set(sizes.tolist()))}): "
            "pass a plan binned by size alone (e.g. of tsc.strategies.adaptive.FIRST_ALLOCATION)"
        )
    out = []
    for size, name in zip(sorted(set(sizes.tolist())), plan["choice"]):
        mask = sizes == size
        r = data["results"][name]
        correct = np.asarray(r["correct"], dtype=float)[mask]
        greedy = np.asarray(data["results"]["greedy"]["correct"], dtype=float)[mask]
        out.append(
            {
                "size": size,
                "choice": name,
                "flops": float(np.mean(np.asarray(r["flops"], dtype=float)[mask])),
                **_solved(correct > 0),
                "greedy": float(greedy.mean()),
                "greedy_low": interval(greedy > 0)[1],
                "greedy_high": interval(greedy > 0)[2],
                "gain": paired(correct, greedy),
                "problems": int(mask.sum()),
            }
        )
    return out


def early_stopping(early_stop: dict) -> dict:
    """Chapter 7's stopping rule against the full majority vote on the same held-out arithmetic
    questions: accuracy difference (paired) and the share of what the full vote spent that it
    spent, counted three ways: generated tokens (``token_share``), all tokens read and written
    (``total_share``: prompts and generated tokens) and FLOPs (``flops_share``, the verifier's
    included). A prompt is read once per call however many samples it gets, so stopping early
    saves a smaller share of all tokens and FLOPs than of the generated ones."""
    live = early_stop["live"]
    stop, full = live["early_stop"], live["majority"]

    def share(*columns: str) -> float:
        return float(sum(np.sum(stop[c]) for c in columns) / sum(np.sum(full[c]) for c in columns))

    return {
        "accuracy_stop": float(np.mean(stop["correct"])),
        "accuracy_full": float(np.mean(full["correct"])),
        "difference": paired(np.asarray(stop["correct"], dtype=float), np.asarray(full["correct"], dtype=float)),
        "token_share": share("generated_tokens"),
        "total_share": share("prompt_tokens", "generated_tokens"),
        "flops_share": share("policy_flops", "verifier_flops"),
        "samples": float(np.mean(stop["samples"])),
        "questions": len(stop["correct"]),
    }


# --- the findings table -------------------------------------------------------------------------


def finding(chapter: int, claim: str, paper: str, theirs: str, ours: str, held: bool, test: str = "") -> dict:
    """One line of the findings table: a chapter's finding, the paper it reproduces (a
    bibliography key), the paper's figure (as the paper states it), ours (computed), the test
    the verdict applies (in words) and whether the shape held by that test (computed)."""
    return {"chapter": chapter, "claim": claim, "paper": paper, "theirs": theirs, "ours": ours, "held": bool(held), "test": test}


def findings_table(rows: Sequence[dict]) -> str:
    """The findings as plain text, one line per finding with its test below it (the chapter's
    Markdown table cites the papers)."""
    lines = [f"{'ch.':<4}{'finding':<60}{'paper':<24}{'held':<6}our figure"]
    for r in rows:
        lines.append(f"{r['chapter']:<4}{r['claim']:<60}{r['paper']:<24}{'yes' if r['held'] else 'no':<6}{r['ours']}")
        if r.get("test"):
            lines.append(f"{'':<4}test: {r['test']}")
    return "\n".join(lines)


def log_linear_fit(ks: Sequence[int], values: Sequence[float]) -> float:
    """R² of a straight line through ``values`` against log k: 1 for a curve that rises by the
    same amount at every doubling of k."""
    x, y = np.log(np.asarray(ks, dtype=float)), np.asarray(values, dtype=float)
    fitted = np.polyval(np.polyfit(x, y, 1), x)
    total = float(np.sum((y - y.mean()) ** 2))
    return 1.0 - float(np.sum((y - fitted) ** 2)) / total if total > 0 else 0.0


def selector_values(best_of_many: dict, name: str, k: int) -> np.ndarray:
    """Per problem, the chance that selector ``name`` picks a right sample from ``k`` (Chapter 6's
    ``ch06-best-of-many``), for paired comparisons."""
    if k not in best_of_many["ks"]:
        raise ValueError(f"k={k} was not measured; choose one of {best_of_many['ks']}")
    j = best_of_many["ks"].index(k)
    return np.array([p["best_of"][name][j] for p in best_of_many["problems"]], dtype=float)


def sharpening(
    rl: dict, *, base: str = "countdown", tuned: str = "countdown-rl", ks: Sequence[int] = (1, 256)
) -> dict[int, tuple[float, float, float]]:
    """Chapter 2's ``rl_pass_at_k``: pass@k of the RL-tuned model minus the base model's, per k,
    paired over problems with a 95 % bootstrap interval."""
    n = rl["samples"]
    out = {}
    for k in ks:
        a = np.array([pass_at_k(n, int(c), k) for c in rl["models"][tuned]["correct"]])
        b = np.array([pass_at_k(n, int(c), k) for c in rl["models"][base]["correct"]])
        out[k] = paired(a, b)
    return out


def book_findings(
    *, self_consistency: dict, rl: dict, budget_forcing: dict, best_of_many: dict, allocation_rows: Sequence[dict], stopping: dict
) -> list[dict]:
    """The findings table: each chapter's reproduced finding beside its paper. The papers'
    figures are quoted as the papers state them (see the bibliography); ours are computed from
    the shipped results passed in, and so is whether the shape held."""
    # Chapter 1: coverage and voting (Chapter 3's self-consistency runs)
    cd = selection_gap(self_consistency, "countdown", "1")
    ks = cd["ks"]
    coverage = np.asarray(self_consistency["countdown"]["temperatures"]["1"]["coverage"], dtype=float)
    last = paired(coverage[:, -1], coverage[:, -2])
    fit = log_linear_fit(ks, cd["coverage"]["mean"])
    orders = np.log10(ks[-1] / ks[0])
    ar_gap = selection_gap(self_consistency, "arithmetic", "0.6")
    gap = ar_gap["gap"]
    # Chapter 2: RL's sharpening and the thinking budget
    sharp = sharpening(rl)
    low_k, high_k = min(sharp), max(sharp)
    configs = sorted(budget_forcing["configs"], key=lambda c: c["thinking_tokens"])
    correct = [np.asarray(c["correct"], dtype=float) for c in configs]
    span = paired(correct[-1], correct[0])
    steps = [paired(b, a) for a, b in zip(correct, correct[1:])]
    # Chapters 3 and 4: the vote against greedy, and where compute pays
    ar = self_consistency["arithmetic"]
    t = ar["temperatures"]["0.6"]
    vote = paired(np.asarray(t["majority"], dtype=float)[:, -1], np.asarray(ar["greedy"], dtype=float))
    easy, hard = allocation_rows[0], allocation_rows[-1]
    # Chapter 6: the verifiers at 16 samples and at the most
    prm = selector_values(best_of_many, "PRM (last)", 16)
    orm = selector_values(best_of_many, "ORM", 16)
    better = paired(prm, orm)
    many = max(best_of_many["ks"])
    plateau = paired(selector_values(best_of_many, "PRM (last)", many), prm)
    climb = paired(selector_values(best_of_many, "oracle", many), selector_values(best_of_many, "oracle", 16))
    return [
        finding(
            1,
            "coverage keeps rising with samples",
            "Brown2024monkeys",
            "log-linear over four orders of magnitude",
            f"Countdown: {cd['coverage']['mean'][0]:.0%} (1 sample) to {cd['coverage']['mean'][-1]:.0%} ({ks[-1]}); "
            f"line in log k: R² {fit:.3f}",
            fit >= 0.95 and last[1] > 0,
            f"a line in log k fits coverage from k = {ks[0]} to {ks[-1]} (R² at least 0.95) and the last doubling still "
            f"gains (paired interval above 0); {orders:.1f} orders of magnitude, not four",
        ),
        finding(
            1,
            "voting falls far short of coverage",
            "Brown2024monkeys",
            "coverage 95.3 %, selection about 40 % (MATH, 10k samples)",
            f"arithmetic, {ar_gap['ks'][-1]} samples: coverage {ar_gap['coverage']['mean'][-1]:.0%}, vote "
            f"{ar_gap['majority']['mean'][-1]:.0%}",
            gap[1] > 0.1,
            "coverage minus the vote at the most samples, paired interval above 10 points, on arithmetic (on Countdown "
            "a vote counts identical solutions only)",
        ),
        finding(
            2,
            "RL sharpens: it wins at small k, not at large k",
            "Yue2025rl",
            "base models match or beat RL models at pass@256",
            f"pass@{low_k} {sharp[low_k][0] * 100:+.0f} points, pass@{high_k} {sharp[high_k][0] * 100:+.0f}",
            sharp[low_k][1] > 0 and sharp[high_k][2] <= 0,
            f"tuned minus base, paired: pass@{low_k} interval above 0 and pass@{high_k} interval at or below 0",
        ),
        finding(
            2,
            "accuracy rises with the thinking budget",
            "Muennighoff2025s1",
            "AIME24 50 % to 57 % with budget forcing",
            f"{correct[0].mean():.0%} at {configs[0]['thinking_tokens']} to {correct[-1].mean():.0%} at "
            f"{configs[-1]['thinking_tokens']} thinking tokens",
            span[1] > 0 and all(step[2] >= 0 for step in steps),
            "largest budget minus smallest, paired interval above 0, and no step down beyond the noise (paired)",
        ),
        finding(
            3,
            "self-consistency beats greedy decoding",
            "Wang2022selfconsistency",
            "+17.9 points on GSM8K (40 paths)",
            f"arithmetic, {ar['ks'][-1]} votes: {vote[0] * 100:+.1f} points ({vote[1] * 100:+.1f} to {vote[2] * 100:+.1f})",
            vote[1] > 0,
            "majority vote minus greedy, paired interval above 0",
        ),
        finding(
            4,
            "test-time compute pays where the model has a real chance",
            "Snell2024",
            "beats a 14× larger model on easy and medium problems, not on the hardest",
            f"gain over greedy: {easy['gain'][0] * 100:+.0f} points ({easy['size']} numbers), "
            f"{hard['gain'][0] * 100:+.0f} ({hard['size']} numbers)",
            easy["gain"][1] > hard["gain"][2],
            f"gain over greedy on {easy['size']}-number problems above that on {hard['size']}-number ones, intervals apart",
        ),
        finding(
            6,
            "a process reward model selects better than an outcome one",
            "Lightman2023prm",
            "best-of-1860: PRM 78.2 %, ORM 72.4 %",
            f"best-of-16: PRM {prm.mean():.0%}, ORM {orm.mean():.0%}",
            better[1] > 0,
            "PRM minus ORM on the same 16 samples, paired interval above 0",
        ),
        finding(
            6,
            "a learned verifier stops paying while coverage climbs",
            "Cobbe2021verifiers",
            "best-of-N improves up to about 400 completions, then declines",
            f"best-of-16 to best-of-{many}: PRM {plateau[0] * 100:+.0f} points, oracle {climb[0] * 100:+.0f}",
            plateau[1] <= 0 < climb[1] and plateau[2] < climb[1],
            f"from 16 to {many} samples the PRM gains nothing beyond the noise while the oracle does, paired intervals apart "
            "(a decline, as the paper found, is not tested)",
        ),
        finding(
            7,
            "stopping a vote early keeps nearly all its accuracy",
            "Aggarwal2023adaptive",
            "up to 6× fewer samples, under 0.1 point lost",
            f"{stopping['token_share']:.0%} of the generated tokens, {stopping['difference'][0] * 100:+.1f} points "
            f"({stopping['difference'][1] * 100:+.1f} to {stopping['difference'][2] * 100:+.1f})",
            stopping["token_share"] < 0.6 and stopping["difference"][1] <= 0 <= stopping["difference"][2],
            "at most 60 % of the generated tokens, and the paired accuracy change includes 0 (no loss beyond the noise)",
        ),
    ]
