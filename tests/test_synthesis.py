"""Chapter 9's analysis (`tsc.synthesis`): the Pareto front against brute force, intervals and
paired differences, bad maps rejected clearly, and the evidence functions on the shipped results
(the numbers the chapter's prose stands on)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from tsc import synthesis
from tsc.analysis import paired, pareto_front
from tsc.experiments import stored


def dominated(i, flops, accuracy):
    return any(
        flops[j] <= flops[i] and accuracy[j] >= accuracy[i] and (flops[j] < flops[i] or accuracy[j] > accuracy[i])
        for j in range(len(flops))
    )


@pytest.mark.parametrize("seed", range(20))
def test_pareto_front_is_exactly_the_undominated_points(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    flops = rng.choice([1e8, 2e8, 4e8, 8e8, 1.6e9], size=n)  # ties on purpose
    accuracy = rng.choice([0.1, 0.2, 0.3, 0.4], size=n)
    front = pareto_front(flops, accuracy)
    undominated = [i for i in range(n) if not dominated(i, flops, accuracy)]
    # identical points dominate each other no more than themselves: all of them are kept
    assert sorted(front) == undominated
    assert all(flops[a] <= flops[b] and accuracy[a] <= accuracy[b] for a, b in zip(front, front[1:]))


def test_pareto_front_examples():
    assert pareto_front([1, 2, 3], [0.1, 0.3, 0.2]) == [0, 1]
    assert pareto_front([3, 1, 2], [0.5, 0.1, 0.5]) == [1, 2]  # the dearer of two equals dropped
    assert pareto_front([1, 1], [0.2, 0.4]) == [1]
    assert pareto_front([5], [0.0]) == [0]
    assert pareto_front([1.0, 1.0], [0.5, 0.5]) == [0, 1]  # identical points beat neither: both on the front
    assert pareto_front([2, 1, 2], [0.4, 0.3, 0.4]) == [1, 0, 2]  # twins on the front, in their order
    assert pareto_front([3.0, 1.0, 2.0], [0.3, 0.1, 0.2]) == [1, 2, 0]  # sorted from the cheapest
    with pytest.raises(ValueError, match="one value per point"):
        pareto_front([1, 2], [0.1])


def test_interval_and_paired():
    accuracy, low, high = synthesis.interval([True] * 30 + [False] * 70)
    assert accuracy == pytest.approx(0.3) and low < 0.3 < high
    a = np.array([1, 1, 0, 1] * 50)
    b = np.array([1, 0, 0, 1] * 50)
    mean, low, high = paired(a, b)
    assert mean == pytest.approx(0.25) and low <= 0.25 <= high and low > 0
    assert paired(a, b)["mean"] == paired(a, b).mean == mean and isinstance(mean, float)  # by name, as a dict or a record
    curves = paired(np.vstack([a, a]).T, np.vstack([b, a]).T)  # problems x 2: one interval per column
    assert curves.mean.tolist() == [pytest.approx(0.25), 0.0] and curves.low[1] == curves.high[1] == 0.0
    with pytest.raises(ValueError, match="same problems"):
        paired([1, 0], [1, 0, 1])


def toy_task():
    rows = [
        {"name": "greedy", "strategy": "greedy", "family": "single", "knobs": {}, "correct": [1, 0, 0, 0], "flops": [1, 1, 1, 1]},
        {
            "name": "majority 4",
            "strategy": "majority",
            "family": "parallel",
            "knobs": {"n": 4},
            "correct": [1, 1, 0, 0],
            "flops": [4, 4, 4, 4],
        },
        {"name": "beam 4x2", "strategy": "beam", "family": "search", "knobs": {}, "correct": [1, 0, 0, 0], "flops": [6, 6, 6, 6]},
        {"name": "thinker", "strategy": "thinker", "family": "adaptive", "knobs": {}, "correct": [1, 1, 1, 0], "flops": [2, 3, 4, 3]},
    ]
    return {"model": "m", "verifier": None, "problems": [[[1, 2], 3]] * 4, "sizes": [3, 3, 4, 4], "rows": rows}


def test_summarize_front_and_best_fixed():
    task = toy_task()
    points = synthesis.summarize(task)
    assert [p["flops"] for p in points] == [1, 4, 6, 3]
    front = pareto_front([p["flops"] for p in points], [p["accuracy"] for p in points])
    assert [points[i]["name"] for i in front] == ["greedy", "thinker"]
    assert points[synthesis.best_fixed(points, 5)]["name"] == "majority 4"  # the adaptive thinker is not fixed
    assert points[synthesis.best_fixed(points, 5, exclude=())]["name"] == "thinker"
    with pytest.raises(ValueError, match="no fixed strategy"):
        synthesis.best_fixed(points, 0.5)
    assert synthesis.by_size(task, "majority 4") == {
        3: pytest.approx({"accuracy": 1.0, "low": synthesis.interval([1, 1])[1], "high": 1.0, "flops": 4.0}),
        4: pytest.approx({"accuracy": 0.0, "low": 0.0, "high": synthesis.interval([0, 0])[2], "flops": 4.0}),
    }
    first, second = synthesis.halves(task, seed=1)
    assert first.sum() == 2 and not np.any(first & second) and np.all(first | second)
    masked = synthesis.summarize(task, mask=first)
    assert all(p["problems"] == 2 for p in masked)


def test_within_noise_uses_overlapping_intervals():
    points = [
        {"name": "a", "low": 0.1, "high": 0.3},
        {"name": "b", "low": 0.25, "high": 0.4},
        {"name": "c", "low": 0.5, "high": 0.6},
    ]
    assert synthesis.within_noise(points, [0, 1, 2]) == [("a", "b")]


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.update(rows=[]), "rows"),
        (lambda t: t["rows"][0].update(family="clever"), "family"),
        (lambda t: t["rows"][1].update(correct=[1]), "verdicts"),
    ],
)
def test_bad_maps_are_rejected_clearly(change, message):
    task = toy_task()
    change(task)
    with pytest.raises(ValueError, match=message):
        synthesis.summarize(task)
    with pytest.raises(ValueError, match="no row"):
        synthesis.row(toy_task(), "nonsense")


def test_findings_table_lines():
    rows = [synthesis.finding(1, "coverage rises", "Brown2024monkeys", "log-linear", "16% to 87%", np.bool_(True))]
    text = synthesis.findings_table(rows)
    assert "Brown2024monkeys" in text and "yes" in text and isinstance(rows[0]["held"], bool)


# --- the evidence, on the shipped results ---------------------------------------------------------


def data(name):
    record = stored(name)
    assert record is not None, f"the shipped result {name} is missing"
    return record["data"]


def test_selection_gap_on_the_shipped_samples():
    for task, temperature in (("countdown", "1"), ("arithmetic", "0.6")):
        gap = synthesis.selection_gap(data("ch03-self-consistency"), task, temperature)
        assert gap["gap"][1] > 0
        assert np.all(gap["coverage"]["mean"] >= gap["majority"]["mean"] - 0.01)  # two estimates of k = 1
        assert np.all(gap["coverage"]["low"] <= gap["coverage"]["mean"]) and np.all(gap["coverage"]["mean"] <= gap["coverage"]["high"])


def test_selectors_and_their_errors():
    best_of_many = data("ch06-best-of-many")
    picks = synthesis.selectors(best_of_many, 16)
    assert picks["oracle"][0] >= max(v[0] for v in picks.values())  # nothing picks better than the oracle
    assert np.allclose(synthesis.selector_values(best_of_many, "oracle", 16).mean(), picks["oracle"][0])
    with pytest.raises(ValueError, match="not measured"):
        synthesis.selectors(best_of_many, 3)


def test_sequential_and_parallel_at_matched_tokens():
    evidence = synthesis.sequential_and_parallel(data("budget_forcing_curve"), data("parallel_samples"))
    assert evidence["matched_tokens"] <= evidence["thinking"]["tokens"]
    assert evidence["thinking_vs_vote"][1] > 0
    bad = dict(data("parallel_samples"), problems=["1 2>3:"])
    with pytest.raises(ValueError, match="same problems"):
        synthesis.sequential_and_parallel(data("budget_forcing_curve"), bad)


def test_knowledge_allocation_stopping_and_sharpening():
    know = synthesis.knowledge(data("ch04-grid"))
    assert list(know["models"]) == ["countdown-xs", "countdown-s", "countdown-m", "countdown"]
    for model in know["models"].values():
        for size in model["by_size"].values():
            assert np.all(np.diff(size["coverage"]["mean"]) >= -1e-12)  # coverage never falls with k
    from tsc.strategies.adaptive import load_allocation, plan_for

    rows = synthesis.allocation_by_size(data("ch04-allocation"), plan_for(load_allocation(), 7e8))
    assert [r["size"] for r in rows] == [3, 4, 5] and sum(r["problems"] for r in rows) == 500
    stop = synthesis.early_stopping(data("ch07-early-stop"))
    assert 0 < stop["token_share"] < 1 and stop["questions"] == 1000
    sharp = synthesis.sharpening(data("rl_pass_at_k"))
    assert sharp[1][0] > 0 > sharp[256][0]


def test_book_findings_are_computed_and_all_cited():
    from tsc.strategies.adaptive import load_allocation, plan_for

    rows = synthesis.book_findings(
        self_consistency=data("ch03-self-consistency"),
        rl=data("rl_pass_at_k"),
        budget_forcing=data("budget_forcing_curve"),
        best_of_many=data("ch06-best-of-many"),
        allocation_rows=synthesis.allocation_by_size(data("ch04-allocation"), plan_for(load_allocation(), 7e8)),
        stopping=synthesis.early_stopping(data("ch07-early-stop")),
    )
    bib = (__import__("pathlib").Path(__file__).resolve().parent.parent / "book" / "references.bib").read_text()
    for r in rows:
        assert f"{{{r['paper']}," in bib, r["paper"]
        assert isinstance(r["held"], bool) and r["ours"]
    assert [r["chapter"] for r in rows] == sorted(r["chapter"] for r in rows)
    assert not list(itertools.chain.from_iterable(r["ours"].split("{")[1:] for r in rows))  # plain text, no roles


def test_budget_explorer_shows_the_best_strategy_within_budget(capsys):
    import tsc.viz.synthesis as sviz

    points = {"toy": synthesis.summarize(toy_task())}
    widget = sviz.budget_explorer(points, start=5)
    slider = widget.children[0]
    assert slider.value == pytest.approx(min((b for _, b in slider.options), key=lambda b: abs(np.log(b / 5))))
    slider.value = slider.options[0][1]  # the cheapest point's budget: greedy is affordable
    slider.value = slider.options[-1][1]  # everything is: the adaptive thinker wins, the best fixed one is named
    text = capsys.readouterr().out
    assert "best greedy" in text and "best thinker" in text and "best fixed majority 4" in text
