"""Checkers for the exercises of Chapter 9, Synthesis: What Inference Scaling Teaches About the
Nature of Thinking."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from tsc.analysis import pareto_front
from tsc.exercises.feedback import Feedback, accepts_and_rejects, as_number, registers_selftest, run_cases, show
from tsc.synthesis import best_fixed, halves, summarize, undominated

# --- Exercise 9.1: the noise on the map -------------------------------------------------------

HALF_WIDTH_CASES: list[tuple[float, int]] = [(0.3, 500), (0.5, 100), (0.05, 180), (0.9, 1000), (0.62, 60)]


def _half_width(p: float, n: int, z: float = 1.96) -> float:
    return z * math.sqrt(p * (1 - p) / n)


def check_half_width(fn: Callable) -> Feedback:
    """Compare ``fn(accuracy, problems)`` with the half-width of the 95 % normal-approximation
    interval of a share, 1.96 · sqrt(p (1 − p) / n)."""
    values = run_cases(
        fn,
        "half_width(accuracy, problems)",
        HALF_WIDTH_CASES,
        raised=lambda case, error: f"half_width({case[0]}, {case[1]}) raised {error}.",
    )
    if isinstance(values, Feedback):
        return values
    for (p, n), value in zip(HALF_WIDTH_CASES, values):
        number = as_number(value)
        if number is None:
            return Feedback("incorrect", f"half_width({p}, {n}) should return one number; got {show(value)}.")
        expected = _half_width(p, n)
        if math.isclose(number, expected, rel_tol=1e-6):
            continue
        where = f"half_width({p}, {n}): expected {expected:.4f}, got {number:.4f}."
        if math.isclose(number, expected / 1.96, rel_tol=1e-6):
            return Feedback("incorrect", f"{where} That is one standard error; a 95 % interval reaches 1.96 standard errors either side.")
        if math.isclose(number, _half_width(p, n, 1.645), rel_tol=1e-3):
            return Feedback("incorrect", f"{where} 1.645 standard errors make a 90 % interval; a 95 % one needs 1.96.")
        if math.isclose(number, 1.96 * p * (1 - p) / n, rel_tol=1e-6) or math.isclose(number, p * (1 - p) / n, rel_tol=1e-6):
            return Feedback("incorrect", f"{where} p (1 − p) / n is the variance of the share; take its square root first.")
        if math.isclose(number, 1.96 * math.sqrt(p / n), rel_tol=1e-6) or math.isclose(number, 1.96 * math.sqrt((1 - p) / n), rel_tol=1e-6):
            return Feedback("incorrect", f"{where} The variance of a share is p (1 − p) / n: both p and 1 − p belong in it.")
        return Feedback("incorrect", f"{where} Use 1.96 × sqrt(p × (1 − p) / n).")
    p, n = HALF_WIDTH_CASES[0]
    return Feedback(
        "correct",
        f"Correct on all {len(HALF_WIDTH_CASES)} cases: at {p:.0%} solved on {n} problems the interval is ±{_half_width(p, n):.1%}, "
        "so two strategies a point or two apart on the map are within the noise unless compared problem by problem.",
    )


# --- Exercise 9.2: dollars, seconds and accuracy on the map -------------------------------------


def _pt(name: str, accuracy: float, dollars: float, seconds: float) -> dict:
    return {"name": name, "accuracy": accuracy, "dollars": dollars, "seconds": seconds}


UNDOMINATED_CASES: list[list[dict]] = [
    # cheap but slow, fast but dear: both survive; sorting on one cost keeps only one of them
    [_pt("refine", 0.3, 1.0, 9.0), _pt("vote", 0.3, 2.0, 1.0), _pt("beam", 0.2, 3.0, 3.0)],
    # only as good on two axes and worse on the third: beaten
    [_pt("cheap", 0.5, 1.0, 1.0), _pt("dear", 0.5, 2.0, 1.0), _pt("slow", 0.5, 1.0, 3.0)],
    # identical strategies: neither beats the other, so both are kept
    [_pt("best_of_n 8", 0.4, 1.0, 1.0), _pt("weighted_vote 8", 0.4, 1.0, 1.0), _pt("greedy", 0.3, 2.0, 2.0)],
    # higher accuracy is better
    [_pt("weak", 0.1, 1.0, 1.0), _pt("strong", 0.9, 1.0, 1.0)],
    # unsorted, one strategy beats all on every axis but one
    [_pt("c", 0.2, 5.0, 1.0), _pt("a", 0.6, 3.0, 4.0), _pt("b", 0.4, 1.0, 2.0), _pt("d", 0.6, 4.0, 4.0), _pt("e", 0.1, 6.0, 6.0)],
    [_pt("alone", 0.4, 2.0, 2.0)],
]


def _names_of(points: list[dict], keep) -> list[str]:
    return [points[i]["name"] for i in keep]


def _one_cost_fronts(points: list[dict]) -> dict[str, set]:
    """The front on accuracy and one cost alone (what sorting on one key gives)."""
    return {
        cost: set(_names_of(points, pareto_front([p[cost] for p in points], [p["accuracy"] for p in points])))
        for cost in ("dollars", "seconds")
    }


def _undominated_mistake(points: list[dict], got: list, expected: list[str]) -> str:
    """What a wrong answer on ``points`` most likely did."""
    names = [p["name"] for p in points]
    got_set, want = set(got), set(expected)
    for cost, front in _one_cost_fronts(points).items():
        if got_set == front and front != want:
            return (
                f"That is the front on accuracy and {cost} alone, as if the points were sorted on one key: a strategy "
                "survives when no other is at least as good on all three axes, so one that loses on one cost can still be "
                "saved by the other."
            )
    twins = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :] if _same(points, a, b)]
    for first, second in twins:
        if first in want and first not in got_set and second not in got_set:
            return (
                f"{first!r} and {second!r} are equal on all three axes, and your answer drops both: equal points do not "
                "beat each other (neither is better on any axis), so both stay."
            )
        if first in want and (first in got_set) != (second in got_set):
            return (
                f"{first!r} and {second!r} are equal on all three axes: neither beats the other, so keep both (the book's "
                "tie rule: the front must not depend on the order of the strategies)."
            )
    reversed_gain = [dict(p, accuracy=-p["accuracy"]) for p in points]
    if got_set == set(_names_of(points, undominated(reversed_gain))) and got_set != want:
        return "Higher accuracy is better (dollars and seconds are what should be low)."
    if got_set > want:
        extra = sorted(got_set - want)[0]
        return (
            f"{extra!r} is beaten: another strategy is at least as good on all three axes and strictly better on one. "
            "Being only as good on some axes is not enough to survive."
        )
    if got_set < want:
        missing = sorted(want - got_set)[0]
        return f"{missing!r} is beaten by no strategy on all three axes at once, so it stays."
    return "Keep a strategy when no other is at least as accurate, as cheap and as fast, and strictly better on one of the three."


def _same(points: list[dict], a: str, b: str) -> bool:
    pa, pb = (next(p for p in points if p["name"] == n) for n in (a, b))
    return all(pa[k] == pb[k] for k in ("accuracy", "dollars", "seconds"))


def check_undominated(fn: Callable, points: list[dict] | None = None) -> Feedback:
    """Compare ``fn(points)`` (the names of the strategies no other beats on accuracy, dollars
    and seconds at once; equal ones all kept) with `tsc.synthesis.undominated`, on small
    cases and, given the map's ``points`` (`tsc.synthesis.summarize` of a task with ledgers),
    on them; then say what the two extra axes changed on the map."""
    cases = [list(case) for case in UNDOMINATED_CASES]
    if points is not None:
        cases.append([{k: p[k] for k in ("name", "family", "accuracy", "flops", "dollars", "seconds")} for p in points])
    answers = run_cases(
        fn,
        "undominated(points)",
        cases,
        arguments=lambda case: ([dict(p) for p in case],),
        raised=lambda case, error: f"undominated(...) on {len(case)} strategies raised {error}.",
    )
    if isinstance(answers, Feedback):
        return answers
    for case, value in zip(cases, answers):
        names = [p["name"] for p in case]
        expected = _names_of(case, undominated(case))
        shown = ", ".join(names) if len(names) <= 6 else f"the map's {len(names)} strategies"
        where = f"For {shown}: expected {sorted(expected)}, got {show(value)}."
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            return Feedback("incorrect", f"{where} Return a list of the strategies' names.")
        got = list(value)
        if got and all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in got):
            return Feedback("incorrect", f"{where} Those are indices: return the strategies' names (the 'name' of each point).")
        if not all(v in names for v in got):
            return Feedback("incorrect", f"{where} Return names of the points given, e.g. {names[0]!r}.")
        if len(set(got)) != len(got):
            return Feedback("incorrect", f"{where} Name each strategy once.")
        if set(got) == set(expected):
            continue
        return Feedback("incorrect", f"{where} {_undominated_mistake(case, got, expected)}")
    if points is None:
        return Feedback("correct", f"Correct on all {len(cases)} cases, ties included.")
    case = cases[-1]
    kept = set(_names_of(case, undominated(case)))
    on_flops = set(_names_of(case, pareto_front([p["flops"] for p in case], [p["accuracy"] for p in case])))
    fronts = _one_cost_fronts(case)
    saved = sorted(kept - fronts["dollars"] - fronts["seconds"])
    text = (
        f"Correct. Of the map's {len(case)} strategies, {len(kept)} are beaten by none on accuracy, dollars and seconds at once; "
        f"the front on FLOPs alone has {len(on_flops)}, on dollars alone {len(fronts['dollars'])}, on seconds alone "
        f"{len(fronts['seconds'])}."
    )
    if saved:
        text += f" Kept only because two costs count at once: {', '.join(saved)}."
    return Feedback("correct", text)


# --- Exercise 9.3: choose on one half, report on the other ------------------------------------


def _choice_cases() -> list[tuple[list[dict], float]]:
    def point(name, family, accuracy, flops):
        return {
            "name": name,
            "strategy": name.split()[0],
            "family": family,
            "accuracy": accuracy,
            "low": accuracy,
            "high": accuracy,
            "flops": flops,
            "problems": 100,
        }

    rows = [
        point("greedy", "single", 0.2, 7e7),
        point("best_of_n 8", "parallel", 0.33, 6e8),
        point("beam 4x4", "search", 0.36, 1.2e9),  # better but over the budget
        point("self_refine 4", "sequential", 0.31, 4e8),
        point("compute_optimal", "adaptive", 0.4, 6.5e8),  # adaptive: not a fixed strategy
    ]
    thrifty = [  # the cheapest is poor value, and a middling one the best value per FLOP
        point("sample", "single", 0.01, 5e7),
        point("majority 4", "parallel", 0.3, 2e8),
        point("best_of_n 16", "parallel", 0.38, 6e8),
    ]
    return [(thrifty, 7e8), (rows, 7e8), (rows, 1e8), (rows, 5e9), (rows[::-1], 7e8)]


def _held_out(task: dict, budget: float, name: str, seed: int = 0) -> dict:
    choose, report = halves(task, seed=seed)
    dev, test = summarize(task, mask=choose), summarize(task, mask=report)
    chosen = next(p for p in test if p["name"] == name)
    hindsight = test[best_fixed(test, budget)]
    return {"dev": dev, "chosen": chosen, "hindsight": hindsight}


def check_choice(fn: Callable, task: dict | None = None, *, budget: float = 7e8) -> Feedback:
    """Compare ``fn(points, budget)`` (the name of the most accurate fixed strategy at no more
    than ``budget`` mean FLOPs per problem) with `tsc.synthesis.best_fixed` on small cases and,
    given a map ``task``, on one half of its problems; the choice is then scored on the other
    half, against the best fixed strategy chosen there with hindsight."""
    cases = _choice_cases()
    if task is not None:
        choose, _ = halves(task, seed=0)
        cases.append((summarize(task, mask=choose), budget))
    answers = run_cases(
        fn,
        "choose(points, budget)",
        cases,
        arguments=lambda case: ([dict(p) for p in case[0]], case[1]),
        raised=lambda case, error: f"choose(points, {case[1]:.3g}) raised {error}.",
    )
    if isinstance(answers, Feedback):
        return answers
    for (points, b), value in zip(cases, answers):
        names = [p["name"] for p in points]
        expected = points[best_fixed(points, b)]
        if isinstance(value, (int, np.integer)) and not isinstance(value, bool) and 0 <= value < len(points):
            return Feedback(
                "incorrect", f"choose(points, {b:.3g}) returned the index {value}; return the point's name, e.g. {expected['name']!r}."
            )
        if value not in names:
            return Feedback("incorrect", f"choose(points, {b:.3g}) should return one of the names {names}; got {show(value)}.")
        got = points[names.index(value)]
        if got["accuracy"] == expected["accuracy"] and got["flops"] <= b and got["family"] != "adaptive":
            continue
        where = f"At {b:.3g} FLOPs per problem you chose {value!r}; the best fixed strategy within budget is {expected['name']!r}."
        if got["family"] == "adaptive":
            return Feedback("incorrect", f"{where} {value!r} is adaptive, not a fixed strategy: leave out the rows of family 'adaptive'.")
        if got["flops"] > b:
            return Feedback("incorrect", f"{where} {value!r} spends {got['flops']:.3g} FLOPs per problem, over the budget.")
        if got["flops"] == min(p["flops"] for p in points):
            return Feedback("incorrect", f"{where} You took the cheapest strategy; take the most accurate one the budget allows.")
        return Feedback(
            "incorrect",
            f"{where} Compare accuracy, not accuracy per FLOP: any strategy within the budget is affordable, "
            "and the most accurate of them wins.",
        )
    if task is None:
        return Feedback("correct", f"Correct on all {len(cases)} cases.")
    result = _held_out(task, budget, answers[-1])
    c, h = result["chosen"], result["hindsight"]
    d = next(p for p in result["dev"] if p["name"] == c["name"])
    return Feedback(
        "correct",
        f"Correct. Chosen on half the problems: {c['name']!r}, which solved {d['accuracy']:.1%} there; on the other half it solves "
        f"{c['accuracy']:.1%} "
        f"({c['low']:.1%} to {c['high']:.1%}) at {c['flops']:.2g} FLOPs, against {h['accuracy']:.1%} for {h['name']!r}, "
        "the best fixed strategy there chosen with hindsight.",
    )


# --- the checkers' self-tests: each reference accepted, each mistake a class would make named ---


def ref_half_width(accuracy, problems):
    return 1.96 * math.sqrt(accuracy * (1 - accuracy) / problems)


def ref_undominated(points):
    def beats(q, p):
        no_worse = q["accuracy"] >= p["accuracy"] and q["dollars"] <= p["dollars"] and q["seconds"] <= p["seconds"]
        return no_worse and (q["accuracy"] > p["accuracy"] or q["dollars"] < p["dollars"] or q["seconds"] < p["seconds"])

    return [p["name"] for p in points if not any(beats(q, p) for q in points)]


def ref_choice(points, budget):
    fixed = [p for p in points if p["family"] != "adaptive" and p["flops"] <= budget]
    return max(fixed, key=lambda p: (p["accuracy"], -p["flops"]))["name"]


def _front_on(points, cost):  # a 2-D sweep: sorted on one cost, then kept while accuracy rises
    front, best = [], -1.0
    for p in sorted(points, key=lambda p: (p[cost], -p["accuracy"])):
        if p["accuracy"] > best:
            front.append(p["name"])
            best = p["accuracy"]
    return front


def _weak(points):  # "at least as good on all three" without "better on one": equal points remove each other
    return [
        p["name"]
        for p in points
        if not any(q is not p and all(q[k] <= p[k] for k in ("dollars", "seconds")) and q["accuracy"] >= p["accuracy"] for q in points)
    ]


def _strict(points):  # beaten only when worse on every axis: points only as good survive
    return [
        p["name"]
        for p in points
        if not any(q["accuracy"] > p["accuracy"] and q["dollars"] < p["dollars"] and q["seconds"] < p["seconds"] for q in points)
    ]


def _first_twin_only(points):  # a tie rule of its own: of equal points only the first
    kept = ref_undominated(points)
    same = {k: [p["name"] for p in points if (p["accuracy"], p["dollars"], p["seconds"]) == k] for k in
            {(p["accuracy"], p["dollars"], p["seconds"]) for p in points}}  # fmt: skip
    return [n for n in kept if all(group[0] == n or n not in group for group in same.values())]


def _lower_accuracy(points):
    return ref_undominated([dict(p, accuracy=-p["accuracy"]) for p in points])


# each mistake: (a wrong answer, words its feedback must contain)
HALF_WIDTH_MISTAKES = {
    "one standard error": (lambda p, n: math.sqrt(p * (1 - p) / n), ("standard error",)),
    "a 90 % interval": (lambda p, n: 1.645 * math.sqrt(p * (1 - p) / n), ("90 %",)),
    "no square root": (lambda p, n: 1.96 * p * (1 - p) / n, ("square root",)),
    "p / n": (lambda p, n: 1.96 * math.sqrt(p / n), ("1 − p",)),
    "a string": (lambda p, n: "0.04", ("one number",)),
    "a crash": (lambda p, n: 1 / 0, ("raised",)),
}
UNDOMINATED_MISTAKES = {
    "sorted on dollars alone": (lambda pts: _front_on(pts, "dollars"), ("sorted on one key",)),
    "sorted on seconds alone": (lambda pts: _front_on(pts, "seconds"), ("sorted on one key",)),
    "equal points remove each other": (_weak, ("drops both",)),
    "only the first of two equal points kept": (_first_twin_only, ("keep both",)),
    "beaten only when worse on every axis": (_strict, ("is beaten",)),
    "lower accuracy taken as better": (_lower_accuracy, ("Higher accuracy is better",)),
    "indices instead of names": (lambda pts: [pts.index(p) for p in pts if p["name"] in ref_undominated(pts)], ("indices",)),
    "one name, not a list": (lambda pts: ref_undominated(pts)[0], ("list",)),
    "a name twice": (lambda pts: ref_undominated(pts) * 2, ("once",)),
    "a crash": (lambda pts: pts[99], ("raised",)),
}
CHOICE_MISTAKES = {
    "the budget ignored": (
        lambda pts, b: max((p for p in pts if p["family"] != "adaptive"), key=lambda p: p["accuracy"])["name"],
        ("over the budget",),
    ),
    "an adaptive strategy chosen": (
        lambda pts, b: max((p for p in pts if p["flops"] <= b), key=lambda p: p["accuracy"])["name"],
        ("adaptive",),
    ),
    "the cheapest chosen": (lambda pts, b: min(pts, key=lambda p: p["flops"])["name"], ("cheapest",)),
    "accuracy per FLOP": (
        lambda pts, b: max((p for p in pts if p["family"] != "adaptive" and p["flops"] <= b), key=lambda p: p["accuracy"] / p["flops"])[
            "name"
        ],
        ("per FLOP",),
    ),
    "an index": (lambda pts, b: [p["name"] for p in pts].index(ref_choice(pts, b)), ("index",)),
    "not a name": (lambda pts, b: "the best one", ("one of the names",)),
}


@registers_selftest("ex-9-1")
def selftest_half_width() -> None:
    accepts_and_rejects(check_half_width, ref_half_width, [(wrong, *words) for wrong, words in HALF_WIDTH_MISTAKES.values()])


@registers_selftest("ex-9-2")
def selftest_undominated(points: list[dict] | None = None) -> None:
    accepts_and_rejects(check_undominated, ref_undominated, [(wrong, *words) for wrong, words in UNDOMINATED_MISTAKES.values()], points)


@registers_selftest("ex-9-3")
def selftest_choice(task: dict | None = None) -> None:
    accepts_and_rejects(check_choice, ref_choice, [(wrong, *words) for wrong, words in CHOICE_MISTAKES.values()], task)


__all__ = ["check_choice", "check_half_width", "check_undominated"]
