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


@pytest.mark.parametrize("seed", range(20))
def test_undominated_is_the_brute_force_set_and_matches_the_front_on_one_cost(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 12))
    points = [
        {"accuracy": float(rng.choice([0.1, 0.2, 0.3])), "dollars": float(rng.choice([1, 2, 3])), "seconds": float(rng.choice([1, 2]))}
        for _ in range(n)
    ]  # ties on purpose
    keys = [(p["accuracy"], p["dollars"], p["seconds"]) for p in points]

    def beaten(i):
        a, d, s = keys[i]
        return any(b >= a and e <= d and t <= s and (b > a or e < d or t < s) for b, e, t in keys)

    kept = synthesis.undominated(points)
    assert kept == [i for i in range(n) if not beaten(i)]  # identical points beat neither: all kept
    front = pareto_front([p["dollars"] for p in points], [p["accuracy"] for p in points])
    assert sorted(front) == synthesis.undominated(points, costs=("dollars",))


def test_undominated_keeps_what_one_cost_alone_drops():
    points = [{"accuracy": 0.3, "dollars": 1.0, "seconds": 9.0}, {"accuracy": 0.3, "dollars": 2.0, "seconds": 1.0}]
    assert synthesis.undominated(points) == [0, 1]
    assert synthesis.undominated(points, costs=("dollars",)) == [0]


def test_dollars_and_seconds_of_a_map_row():
    from tsc.compute import TokenPrice

    task = toy_task()
    ledger = {"prompt_tokens": [10, 10, 10, 10], "reused_tokens": [0, 0, 0, 10], "generated_tokens": [20, 20, 20, 20],
              "verifier_tokens": [0, 5, 0, 0], "seconds": [0.5, 0.5, 1.0, 1.0], "calls": [1, 2, 1, 1]}  # fmt: skip
    task["rows"][0]["ledger"] = ledger
    price = TokenPrice(input=1.0, output=2.0, cached_input=0.5)
    cost = synthesis.dollars(ledger, price)
    assert cost.tolist() == pytest.approx([50e-6, 55e-6, 50e-6, 55e-6])
    point = synthesis.summarize(task, price=price)[0]
    assert point["dollars"] == pytest.approx(52.5e-6) and point["seconds"] == 0.75 and point["calls"] == 1.25
    assert "dollars" not in synthesis.summarize(task)[1]  # a row without its ledger has no price
    half = synthesis.summarize(task, price=price, mask=np.array([True, True, False, False]))[0]
    assert half["dollars"] == pytest.approx(52.5e-6) and half["seconds"] == 0.5


def test_front_of_a_subset_indexes_the_points():
    points = synthesis.summarize(toy_task())
    assert synthesis.front(points) == pareto_front([p["flops"] for p in points], [p["accuracy"] for p in points])
    fixed = synthesis.front(points, keep=lambda p: p["family"] != "adaptive")
    assert [points[i]["name"] for i in fixed] == ["greedy", "majority 4"]
    assert points[0]["verifier"] is None


def test_front_holds_and_join_names():
    points = synthesis.summarize(toy_task())
    front = pareto_front([p["flops"] for p in points], [p["accuracy"] for p in points])
    assert synthesis.front_holds(points, front)
    assert not synthesis.front_holds(points, front[:1])  # a point nothing beats left out
    assert not synthesis.front_holds(points, sorted([*front, 1]))  # a beaten point kept
    assert synthesis.join_names(["a"]) == "a" and synthesis.join_names(["a", "b", "c"]) == "a, b and c"


def test_matched_pairs_pairs_rows_nearest_in_flops():
    def r(name, family, verifier, correct, flops):
        return {"name": name, "strategy": name.split()[0], "family": family, "knobs": {"verifier": verifier}, "correct": correct,
                "flops": [flops] * 2}  # fmt: skip

    rows = [
        r("self_refine 2", "sequential", "prm", [1, 0], 2),
        r("self_refine 8", "sequential", "prm", [1, 1], 9),
        r("best_of_n 4", "parallel", "prm", [0, 0], 4),
        r("best_of_n 8", "parallel", "prm", [1, 0], 8),
        r("best_of_n 8 (exact)", "parallel", "oracle", [1, 1], 8.5),
    ]
    task = {"rows": rows}
    pairs = synthesis.matched_pairs(task, "self_refine", "best_of_n")
    assert [(p["first"], p["second"]) for p in pairs] == [("self_refine 8", "best_of_n 8")]  # 2 against 4 is too far apart
    assert pairs[0]["ratio"] == pytest.approx(9 / 8) and pairs[0]["paired"][0] == pytest.approx(0.5)
    assert [p["second"] for p in synthesis.matched_pairs(task, "self_refine", "best_of_n", verifier=None)] == ["best_of_n 8 (exact)"]
    assert len(synthesis.matched_pairs(task, "self_refine", "best_of_n", within=2.5)) == 2


def test_verdict_and_standing_say_what_the_intervals_show():
    assert synthesis.verdict((0.05, 0.01, 0.09)).startswith("a gain")
    assert synthesis.verdict({"mean": -0.05, "low": -0.09, "high": -0.01}).startswith("a loss")
    assert synthesis.verdict((0.01, -0.02, 0.04), problems=1000) == "within the noise of 1,000 problems"
    table = {"paired": {"a": {"all": (0.1, 0.05, 0.15)}, "b": {"all": (0.0, -0.1, 0.1)}, "c": {"all": (-0.1, -0.2, -0.05)}}}
    assert synthesis.standing(table) == ("ahead of a beyond the noise, level with b within the noise and behind c beyond the noise")


def test_early_stopping_counts_generated_tokens_all_tokens_and_flops_apart():
    def run(correct, prompt, generated, flops):
        return {"correct": correct, "prompt_tokens": prompt, "generated_tokens": generated, "policy_flops": flops,
                "verifier_flops": [0, 0], "samples": [1, 3]}  # fmt: skip

    stop = run([1, 0], [10, 10], [5, 15], [30, 50])
    full = run([1, 1], [10, 10], [40, 40], [100, 100])
    out = synthesis.early_stopping({"live": {"early_stop": stop, "majority": full}})
    assert out["token_share"] == 20 / 80 and out["total_share"] == 40 / 100 and out["flops_share"] == 80 / 200
    assert out["samples"] == 2 and out["questions"] == 2 and out["accuracy_stop"] == 0.5


def test_per_size_stats_and_paired_differences():
    runs = {"thinker": {"correct": [1, 1, 0, 1], "flops": [1, 3, 2, 2]}, "beam": {"correct": [1, 0, 0, 0], "flops": [2, 2, 2, 2]}}
    table = synthesis.per_size(runs, [3, 3, 4, 4])
    assert table["groups"] == [3, 4, "all"]
    assert table["stats"]["thinker"][3]["solved"] == 2 and table["stats"]["thinker"][3]["flops"] == 2.0
    assert table["stats"]["beam"]["all"]["accuracy"] == 0.25
    assert table["paired"]["beam"][4][0] == pytest.approx(0.5) and table["paired"]["beam"][3][0] == pytest.approx(0.5)
    assert "thinker" not in table["paired"]
    text = synthesis.format_per_size(table)
    assert "3 numbers (2)" in text and "all (4)" in text and "thinker minus" in text and "+50.0" in text
    with pytest.raises(ValueError, match="verdicts for 4 problems"):
        synthesis.per_size({"thinker": {"correct": [1], "flops": [1]}}, [3, 3, 4, 4])


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


def test_log_linear_fit():
    ks = [1, 2, 4, 8, 16]
    assert synthesis.log_linear_fit(ks, [0.1, 0.2, 0.3, 0.4, 0.5]) == pytest.approx(1.0)
    assert synthesis.log_linear_fit(ks, [0.1, 0.5, 0.5, 0.5, 0.5]) < 0.6  # a plateau is not log-linear
    assert synthesis.log_linear_fit(ks, [0.3] * 5) == 0.0


def test_findings_table_lines():
    rows = [synthesis.finding(1, "coverage rises", "Brown2024monkeys", "log-linear", "16% to 87%", np.bool_(True))]
    text = synthesis.findings_table(rows)
    assert "Brown2024monkeys" in text and "yes" in text and isinstance(rows[0]["held"], bool)
    tested = [synthesis.finding(1, "c", "p", "t", "o", False, test="a paired interval above 0")]
    assert "test: a paired interval above 0" in synthesis.findings_table(tested) and "no" in synthesis.findings_table(tested)


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
    from tsc.strategies.adaptive import FIRST_ALLOCATION, load_allocation, plan_for

    rows = synthesis.allocation_by_size(data("ch04-allocation"), plan_for(load_allocation(FIRST_ALLOCATION), 7e8))
    assert [r["size"] for r in rows] == [3, 4, 5] and sum(r["problems"] for r in rows) == 500
    with pytest.raises(ValueError, match="not one per size"):  # the bundled refit bins by size and probe
        synthesis.allocation_by_size(data("ch04-allocation"), plan_for(load_allocation(), 7e8))
    stop = synthesis.early_stopping(data("ch07-early-stop"))
    assert 0 < stop["token_share"] < 1 and stop["questions"] == 1000
    sharp = synthesis.sharpening(data("rl_pass_at_k"))
    assert sharp[1][0] > 0 > sharp[256][0]


def test_book_findings_are_computed_and_all_cited():
    from tsc.strategies.adaptive import FIRST_ALLOCATION, load_allocation, plan_for

    rows = synthesis.book_findings(
        self_consistency=data("ch03-self-consistency"),
        rl=data("rl_pass_at_k"),
        budget_forcing=data("budget_forcing_curve"),
        best_of_many=data("ch06-best-of-many"),
        allocation_rows=synthesis.allocation_by_size(data("ch04-allocation"), plan_for(load_allocation(FIRST_ALLOCATION), 7e8)),
        stopping=synthesis.early_stopping(data("ch07-early-stop")),
    )
    bib = (__import__("pathlib").Path(__file__).resolve().parent.parent / "book" / "references.bib").read_text()
    for r in rows:
        assert f"{{{r['paper']}," in bib, r["paper"]
        assert isinstance(r["held"], bool) and r["ours"] and r["test"]
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


def test_strategy_map_draws_any_cost_and_a_second_front():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    import tsc.viz.synthesis as sviz

    points = synthesis.summarize(toy_task())
    for p in points:
        p.update(dollars=p["flops"] * 1e-6, seconds=p["flops"] / 10)
    fig, ax = plt.subplots()
    front = pareto_front([p["dollars"] for p in points], [p["accuracy"] for p in points])
    sviz.strategy_map(ax, points, front, cost="dollars", second=[0, 1])
    assert ax.get_xlabel().startswith("mean dollars") and len(ax.texts) == len(set(front) | {0, 1})
    with pytest.raises(ValueError, match="cost must be one of"):
        sviz.strategy_map(ax, points, front, cost="joules")
    plt.close(fig)


def test_dates_and_the_price_s_dates_read_as_words():
    assert synthesis.in_words("2025-06") == "June 2025"
    assert synthesis.in_words("2026-12-07") == "7 December 2026"
    assert synthesis.in_words("2025") == "2025" and synthesis.in_words("2025-13") == "2025-13"
    listed, read = synthesis.price_when(synthesis.PRICE)
    assert "-" not in listed + read and len(read.split()) == 3 and read.split()[-1].isdigit()
    with pytest.raises(ValueError, match="no list price for 'nobody'"):
        synthesis.price_when("nobody")


def _ch05_like() -> tuple[dict, dict]:
    """A tiny ch05-fresh (3 problems, 4 PRM-ranked samples each) and ch09-fresh on the same problems."""
    problems = [[[1, 2, 3], 6], [[2, 3, 4], 9], [[5, 6, 7], 18]]
    samples = {
        "prompts": ["1 2 3>6", "2 3 4>9", "5 6 7>18"],
        "correct": ["0110", "0100", "0001"],
        "last": ["1,0,0,2", "2,1,0,0", "0,1,1,2"],  # rank 0: the PRM's favourite by the last step
        "min": ["0,1,1,0", "1,0,2,2", "0,0,0,0"],
        "prompt_flops": "10,10,10",
        "sample_flops": "5,5,5",
        "verifier_flops": "5,5,5",  # best-of-n costs 10 + 10 n
    }
    fresh = {
        "problems": problems,
        "runs": {
            "thinker": {"correct": [1, 1, 1], "flops": [30, 35, 40]},
            "best_of_n 2": {"strategy": "best_of_n", "knobs": {"n": 2, "verifier": "prm"}, "correct": [0, 1, 0], "flops": [30] * 3},
        },
    }
    return samples, fresh


def test_best_of_n_last_step_matches_the_thinkers_flops_and_picks_the_first_favourite():
    from tsc.experiments.ch09 import best_of_n_last_step

    samples, fresh = _ch05_like()
    out = best_of_n_last_step(samples, fresh)
    assert out["ns"] == [2, 3] and out["thinker_flops"] == 35.0  # 30 <= 35 < 40
    assert out["mean_flops"] == {1: 20.0, 2: 30.0, 3: 40.0, 4: 50.0}
    assert out["runs"]["best_of_n 2 (last step)"] == {"correct": [True, True, False], "flops": [30.0] * 3}
    assert out["runs"]["best_of_n 3 (last step)"]["correct"] == [True, False, False]  # ties go to the first sample
    assert out["weakest_matches"] == {"best_of_n 2": True}
    fresh["runs"]["best_of_n 2"]["correct"] = [1, 1, 0]
    assert best_of_n_last_step(samples, fresh)["weakest_matches"] == {"best_of_n 2": False}
    fresh["runs"]["thinker"]["flops"] = [100] * 3  # beyond every N: only the nearest below
    assert best_of_n_last_step(samples, fresh)["ns"] == [4]
    fresh["problems"] = fresh["problems"][::-1]
    with pytest.raises(ValueError, match="not on the same problems"):
        best_of_n_last_step(samples, fresh)


def test_format_per_size_fits_long_names():
    runs = {"thinker": {"correct": [1, 0], "flops": [1, 1]}, "best_of_n 16 (last step)": {"correct": [0, 0], "flops": [2, 2]}}
    lines = synthesis.format_per_size(synthesis.per_size(runs, [3, 4])).splitlines()
    assert len({len(line) for line in lines}) == 1  # one column of names, wide enough for the longest
