"""compute_optimal: difficulty bins, the fitted table, the budget on average, the CLI flag."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import ScriptedPolicy, ScriptedStepVerifier, step_oracle_scores

import tsc.allocation as fitting
from tsc.cli import main
from tsc.core import problem_seed
from tsc.experiments.ch04 import candidate_results, install_allocation
from tsc.strategies import STRATEGIES, best_of_n, compute_optimal
from tsc.strategies.adaptive import ALLOCATION, check_allocation, difficulty_bin, load_allocation, plan_for, probe
from tsc.tasks import countdown
from tsc.tasks.countdown import Countdown
from tsc.verifiers import StepOracle

P3 = Countdown((1, 2, 3), 6)
P4 = Countdown((13, 4, 7, 2), 48)
RIGHT3, WRONG3 = "1+2=3,3+3=6.", "1*2=2,2+3=6."
RIGHT4, WRONG4 = "13-7=6,6*4=24,24*2=48.", "13+4=17,17*2=34,34+7=48."
SCRIPT = {P3.prompt(): [WRONG3, RIGHT3, WRONG3], P4.prompt(): [WRONG4, WRONG4, RIGHT4, WRONG4]}


def verifier(scores: dict[str, float] | None = None) -> ScriptedStepVerifier:
    """Step scores from the exact step oracle, or ``scores[text]`` at every step."""
    if scores is None:
        return ScriptedStepVerifier(step_oracle_scores)
    return ScriptedStepVerifier(lambda problem, text: [scores.get(text, 0.0)] * max(1, len(problem.steps(text))))


def table(predictor: dict, bins: list[str], plans: list[dict], candidates: dict | None = None) -> dict:
    candidates = candidates or {
        "stop": {"strategy": "stop", "knobs": {}},
        "greedy": {"strategy": "greedy", "knobs": {}},
        "best_of_n 4": {"strategy": "best_of_n", "knobs": {"n": 4}},
    }
    return {"model": "fake", "verifier": "scripted_step", "predictor": predictor, "bins": bins, "candidates": candidates, "plans": plans}


class CostlyStepOracle(StepOracle):
    """The exact step oracle, charging FLOPs as if it were a network reading every character."""

    def _charge(self, problem, texts, ledger) -> None:
        if ledger is not None:
            ledger.charge_verifier(tokens=sum(len(problem.prompt()) + len(t) for t in texts), flops=300 * sum(len(t) + 10 for t in texts))

    def score_steps(self, problem, texts, *, ledger=None):
        self._charge(problem, texts, ledger)
        return super().score_steps(problem, texts)

    def score(self, problem, texts, *, ledger=None):
        self._charge(problem, texts, ledger)
        return super().score(problem, texts)


SIZE = table(
    {"name": "size", "sizes": [3, 4, 5]},
    ["3 numbers", "4 numbers", "5 numbers"],
    [
        {"flops": 1e4, "choice": ["greedy", "greedy", "greedy"]},
        {"flops": 1e6, "choice": ["greedy", "best_of_n 4", "best_of_n 4"]},
    ],
    {k: v for k, v in table({}, [], [])["candidates"].items() if k != "stop"},
)
PROBE = table(
    {"name": "probe", "sizes": [3, 4, 5], "edges": [0.5]},
    ["probe score < 0.5", "probe score ≥ 0.5"],
    [{"flops": 1e4, "choice": ["best_of_n 4", "stop"]}],
)


def test_registered_and_in_the_cli():
    assert STRATEGIES["compute_optimal"].run is compute_optimal


def test_difficulty_bins():
    assert [difficulty_bin({"name": "size", "sizes": [3, 4, 5]}, size=s) for s in (2, 3, 4, 5, 6)] == [0, 0, 1, 2, 2]
    assert [difficulty_bin({"name": "probe", "edges": [0.1, 0.5]}, size=4, score=x) for x in (0.0, 0.1, 0.3, 0.5, 0.9)] == [0, 1, 1, 2, 2]
    ragged = {"name": "size+probe", "sizes": [3, 4, 5], "edges": [[0.5], [0.2, 0.6], []]}
    assert difficulty_bin(ragged, size=3, score=0.7) == 1
    assert difficulty_bin(ragged, size=4, score=0.7) == 5  # every size gets 3 bins: the most any size has
    assert difficulty_bin(ragged, size=5, score=0.7) == 6
    assert difficulty_bin({"name": "oracle", "edges": [0.01, 0.2]}, size=3, pass_rate=0.0) == 0
    assert difficulty_bin({"name": "none"}, size=5) == 0
    with pytest.raises(ValueError, match="unknown difficulty predictor"):
        difficulty_bin({"name": "vibes"}, size=3)


def test_size_bins_choose_the_strategy_and_charge_only_it():
    policy = ScriptedPolicy(SCRIPT)
    judge = verifier()
    cheap = compute_optimal(P4, policy, flops=5e5, verifier=judge, seed=3, allocation=SIZE)
    assert cheap.trace["choice"] == "greedy" and cheap.trace["plan_flops"] == 1e4 and cheap.answer == WRONG4
    rich = compute_optimal(P4, policy, flops=2e6, verifier=judge, seed=3, allocation=SIZE)
    direct = best_of_n(P4, policy, n=4, verifier=judge, seed=3)
    assert rich.trace["choice"] == "best_of_n 4" and rich.trace["bin_label"] == "4 numbers"
    assert rich.correct and rich.answer == direct.answer == RIGHT4
    assert rich.ledger == direct.ledger  # the size is free: no probe is charged
    assert compute_optimal(P3, policy, flops=2e6, verifier=judge, allocation=SIZE).trace["choice"] == "greedy"


def test_the_probe_is_charged_and_stop_answers_greedily():
    policy = ScriptedPolicy(SCRIPT)
    trusted = verifier({WRONG4: 0.9})  # the verifier believes the (wrong) greedy answer: stop
    result = compute_optimal(P4, policy, flops=1e4, verifier=trusted, allocation=PROBE)
    looked = probe(P4, ScriptedPolicy(SCRIPT), verifier=verifier({WRONG4: 0.9}))
    assert result.trace["choice"] == "stop" and result.answer == WRONG4 and not result.correct
    assert result.ledger == looked.ledger and looked.scores == (0.9,) and looked.ledger.verifier_flops > 0
    doubted = verifier({RIGHT4: 0.8})  # the greedy answer scores 0: spend best-of-4
    result = compute_optimal(P4, ScriptedPolicy(SCRIPT), flops=1e4, verifier=doubted, seed=1, allocation=PROBE)
    direct = best_of_n(P4, ScriptedPolicy(SCRIPT), n=4, verifier=verifier({RIGHT4: 0.8}), seed=1)
    looked = probe(P4, ScriptedPolicy(SCRIPT), verifier=verifier({RIGHT4: 0.8}))
    assert result.trace["choice"] == "best_of_n 4" and result.correct
    assert result.ledger == looked.ledger + direct.ledger


def test_plans_and_bad_budgets():
    assert plan_for(SIZE, 5e5)["flops"] == 1e4 and plan_for(SIZE, 1e6)["flops"] == 1e6 and plan_for(SIZE, 1e12)["flops"] == 1e6
    policy, judge = ScriptedPolicy(SCRIPT), verifier()
    with pytest.raises(ValueError, match="below the cheapest fitted plan"):
        compute_optimal(P4, policy, flops=10.0, verifier=judge, allocation=SIZE)
    for bad in (0, -7e8, float("nan"), float("inf"), "7e8", True, None):
        with pytest.raises(ValueError, match="positive finite number"):
            compute_optimal(P4, policy, flops=bad, verifier=judge, allocation=SIZE)
    with pytest.raises(ValueError, match="step-level verifier"):
        compute_optimal(P4, policy, flops=1e6, verifier=None, allocation=SIZE)
    with pytest.raises(ValueError, match="problem must be"):
        compute_optimal({"numbers": [1, 2, 3]}, policy, flops=1e6, verifier=judge, allocation=SIZE)


def test_malformed_allocations_are_named():
    with pytest.raises(ValueError, match="lacks plans"):
        check_allocation({k: v for k, v in SIZE.items() if k != "plans"})
    with pytest.raises(ValueError, match="not one of its candidates"):
        check_allocation(dict(SIZE, plans=[{"flops": 1.0, "choice": ["greedy", "telepathy", "greedy"]}]))
    with pytest.raises(ValueError, match="chooses for 2 bins"):
        check_allocation(dict(SIZE, plans=[{"flops": 1.0, "choice": ["greedy", "greedy"]}]))
    with pytest.raises(ValueError, match="runs no probe"):
        check_allocation(dict(SIZE, candidates=PROBE["candidates"], plans=[{"flops": 1.0, "choice": ["stop"] * 3}]))
    with pytest.raises(ValueError, match="predictor must be one of"):
        check_allocation(dict(SIZE, predictor={"name": "oracle", "edges": [0.1]}))
    with pytest.raises(ValueError, match="cannot read"):
        check_allocation("/nonexistent/allocation.json")


def test_the_bundled_allocation_loads_with_its_card():
    bundled = load_allocation()
    assert bundled["model"] == "countdown" and bundled["verifier"] == "prm"
    plan = plan_for(bundled, 7e8)
    assert plan["flops"] <= 7e8 and plan["dev_flops"] <= plan["flops"]
    assert all(name in bundled["candidates"] for name in plan["choice"])
    flops = [p["flops"] for p in bundled["plans"]]
    assert flops == sorted(flops) and len(set(flops)) == len(flops)
    card = json.loads((ALLOCATION.parent / "card.json").read_text())
    assert card["model"] == "countdown" and card["verifier"] == "prm" and card["fitted_on"]["split"] == "dev"
    assert card["fitted_on"]["problems"] >= 500 and "ch04-allocation --install" in card["reproduce"] and card["fitted"]
    assert card["mix"]["sizes"] == {"3": 1, "4": 2, "5": 1} and bundled["mix"] == card["mix"]["sizes"]
    assert "allocation-first.json" in card["earlier"]["files"]


def test_the_bundled_allocation_is_what_install_fits_and_the_earlier_one_is_kept(tmp_path):
    from tsc.experiments.ch04 import install_allocation

    first = ALLOCATION.parent / "allocation-first.json"
    (tmp_path / "allocation.json").write_text(first.read_text())  # an earlier install no allocation-*.json keeps
    install_allocation(folder=tmp_path)
    assert json.loads((tmp_path / "allocation.json").read_text()) == load_allocation()  # fitted on dev, reproducibly
    kept = list(tmp_path.glob("allocation-*.json"))
    assert len(kept) == 1 and kept[0].read_text() == first.read_text()
    assert json.loads((tmp_path / "card.json").read_text())["earlier"]["files"] == [kept[0].name]
    for _ in range(2):  # installing again keeps the table it replaces once, not once per install
        install_allocation(folder=tmp_path)
    assert len(list(tmp_path.glob("allocation-*.json"))) == 2


# --- the fit: a knapsack over bins, and the budget on average ----------------------------------


def brute_force(bins, correct, flops, budget, n_bins):
    import itertools

    best = (-1.0, None)
    for choice in itertools.product(range(correct.shape[0]), repeat=n_bins):
        c, f = fitting.apply_plan(choice, bins, correct, flops)
        if f.mean() <= budget + 1e-9 and c.mean() > best[0] + 1e-12:
            best = (c.mean(), choice)
    return best[0]


@pytest.mark.parametrize("seed", range(6))
def test_the_knapsack_finds_the_best_allocation_within_budget(seed):
    rng = np.random.default_rng(seed)
    problems, n_cand, n_bins = 30, 4, 3
    bins = rng.integers(0, n_bins, problems)
    correct = (rng.random((n_cand, problems)) < np.linspace(0.2, 0.7, n_cand)[:, None]).astype(float)
    flops = rng.uniform(1, 3, (n_cand, problems)) * np.array([1e7, 5e7, 1e8, 4e8])[:, None]
    budgets = [3e7, 1e8, 2e8, 5e8]
    for budget, plan in zip(budgets, fitting.fit_allocation(bins, correct, flops, budgets, n_bins=n_bins, unit=1e5)):
        if plan is None:
            assert brute_force(bins, correct, flops, budget, n_bins) < 0
            continue
        assert plan["flops"] <= budget
        # exact up to the rounding of costs to whole units (1e5 FLOPs per bin at most)
        assert plan["accuracy"] >= brute_force(bins, correct, flops, budget - n_bins * 1e5, n_bins) - 1e-9
        assert plan["accuracy"] <= brute_force(bins, correct, flops, budget, n_bins) + 1e-9


def test_a_bin_without_problems_gets_the_cheapest_candidate():
    bins = np.array([0, 0, 2])
    correct = np.array([[0, 0, 1.0], [1, 1, 1.0]])
    flops = np.array([[1e6, 1e6, 1e6], [5e6, 5e6, 5e6]])
    [plan] = fitting.fit_allocation(bins, correct, flops, [1e7], n_bins=3)
    assert plan["choice"] == [1, 0, 0] and plan["accuracy"] == 1.0


def synthetic(seed: int = 0, count: int = 200) -> dict:
    """Data shaped like ch04-allocation: bigger budgets pay on 4- and 5-number problems only."""
    rng = np.random.default_rng(seed)
    names = {"greedy": (1e7, 0.0), "best_of_n 4": (4e7, 0.25), "self_refine 4": (3e7, 0.15)}
    candidates = {
        "greedy": {"strategy": "greedy", "knobs": {}},
        "best_of_n 4": {"strategy": "best_of_n", "knobs": {"n": 4}},
        "self_refine 4": {"strategy": "self_refine", "knobs": {"rounds": 4}},
    }

    def split(offset: int) -> dict:
        sizes = rng.integers(3, 6, count)
        base = np.where(sizes == 3, 0.7, 0.1)
        score = np.clip(base + rng.normal(0, 0.2, count), 0, 1)
        luck = rng.random(count)  # common random numbers: a bigger budget never loses a problem a smaller one solves
        results = {}
        for name, (cost, gain) in names.items():
            p = base + np.where(sizes > 3, gain, 0.0)
            results[name] = {"correct": (luck < p).tolist(), "flops": (cost * sizes / 4).astype(int).tolist()}
        return {
            "problems": [[[1] * int(s), offset + i] for i, s in enumerate(sizes)],
            "probe": {"score": score.tolist(), "correct": (rng.random(count) < base).tolist(), "flops": [int(1.2e7)] * count},
            "difficulty": {"correct": (base * 64).astype(int).tolist(), "samples": 64},
            "results": results,
        }

    return {"model": "fake", "verifier": "prm", "seed": 0, "candidates": candidates, "splits": {"dev": split(0), "test": split(1000)}}


def test_fit_evaluate_and_install_on_synthetic_data(tmp_path):
    data = synthetic()
    fitted = fitting.fit(data, "size", budgets=[1.2e7, 3e7, 6e7])
    cheap, middle, rich = fitted["plans"]
    assert [fitted["names"][c] for c in cheap["choice"]] == ["greedy"] * 3
    assert [fitted["names"][c] for c in rich["choice"]] == ["greedy", "best_of_n 4", "best_of_n 4"]  # nothing to gain on 3 numbers
    assert all(p["flops"] <= p["budget"] for p in fitted["plans"])
    evaluated = fitting.evaluate(data, fitted)
    assert evaluated[2]["accuracy"] > evaluated[0]["accuracy"] + 0.1
    probe_fit = fitting.fit(data, "size+probe", bins=2, budgets=[3e7])
    assert probe_fit["names"][0] == "stop" and "greedy" not in probe_fit["names"] and probe_fit["n_bins"] == 6
    scores = fitting.cross_validate(data, "size", budgets=[3e7, 6e7])
    assert scores.shape == (2,) and 0 < scores[0] <= scores[1] <= 1
    folder = install_allocation(data, folder=tmp_path)
    installed = check_allocation(folder / "allocation.json")
    assert installed["predictor"]["name"] in ("none", "size", "probe", "size+probe")
    assert json.loads((folder / "card.json").read_text())["fitted_on"]["problems"] == 200


def test_a_mix_of_sizes_reweights_the_fit_and_the_budget_holds_for_it():
    data = synthetic()
    sizes = np.array([len(p[0]) for p in data["splits"]["dev"]["problems"]])
    weights = fitting.mix_weights(sizes, {3: 1, 4: 2, 5: 1})
    assert weights.sum() == pytest.approx(1.0)
    assert weights[sizes == 4].sum() == pytest.approx(0.5) and weights[sizes == 3].sum() == pytest.approx(0.25)
    assert fitting.mix_weights(sizes, None) == pytest.approx(np.full(len(sizes), 1 / len(sizes)))
    with pytest.raises(ValueError, match="6-number"):
        fitting.mix_weights(sizes, {3: 1, 6: 1})
    budgets = [1.5e7, 2.5e7, 4e7]
    even = fitting.fit(data, "size", budgets=budgets)
    heavy = fitting.fit(data, "size", budgets=budgets, mix={3: 1, 4: 2, 5: 1})
    assert heavy["mix"] == {3: 1, 4: 2, 5: 1} and even["mix"] is None
    arrays = fitting.split_arrays(data, "dev")
    for plan in heavy["plans"]:  # the plan's mean FLOPs, taken over the mix, is within its budget
        picked = np.array(plan["choice"])[arrays["size"] - 3]
        spent = arrays["flops"][picked, np.arange(len(sizes))] @ weights
        assert spent == pytest.approx(plan["flops"]) and spent <= plan["budget"]
    table = fitting.allocation_table(data, heavy)
    assert table["mix"] == {"3": 1, "4": 2, "5": 1}
    chosen = fitting.choose_predictor(data, budgets=[3e7, 6e7], mix={3: 1, 4: 2, 5: 1})
    assert set(chosen["scores"]) == {f"{n}/{b}" for n, b in fitting.PREDICTOR_CHOICES}


def test_the_budget_holds_on_average(tiny_policy):
    """Fit on one split with the tiny model's real costs, then solve online: each problem costs
    exactly what the fit assumed, so the mean stays within the budget on the fitting problems,
    and near it on fresh ones."""
    judge = CostlyStepOracle()
    dev, test = countdown.generate(16, seed=11), countdown.generate(16, seed=12)
    candidates = {
        "greedy": {"strategy": "greedy", "knobs": {}},
        "best_of_n 2": {"strategy": "best_of_n", "knobs": {"n": 2}},
        "self_refine 2": {"strategy": "self_refine", "knobs": {"rounds": 2}},
        "beam 2x2": {"strategy": "beam", "knobs": {"beam_width": 2, "expansions": 2, "max_steps": 2}},
    }
    data = {"model": "tiny", "verifier": "scripted_step", "seed": 0, "candidates": candidates, "splits": {}}
    for name, problems in (("dev", dev), ("test", test)):
        data["splits"][name] = candidate_results(problems, tiny_policy, judge, candidates=candidates, seed=0, difficulty_samples=4)
    rng = np.random.default_rng(0)  # the random model solves nothing: give the fit varied successes to choose by
    for record in data["splits"].values():
        for result in record["results"].values():
            result["correct"] = (rng.random(len(result["correct"])) < 0.5).tolist()
    mean_flops = {n: np.mean(r["flops"]) for n, r in data["splits"]["dev"]["results"].items()}
    budget = float(np.mean(sorted(mean_flops.values())[1:3]))
    fitted = fitting.fit(data, "size", budgets=[budget])
    allocation = fitting.allocation_table(data, fitted)
    assert len(set(allocation["plans"][0]["choice"])) > 1  # a mixed allocation, not one strategy everywhere
    offline = fitting.evaluate(data, fitted, split="dev")[0]["flops"]

    def solve(problem):  # the per-problem seed python -m tsc solve passes, as the candidates were run with
        return compute_optimal(problem, tiny_policy, flops=budget, verifier=judge, seed=problem_seed(0, problem), allocation=allocation)

    online = [solve(p).ledger.flops for p in dev]
    assert online == offline.tolist()
    assert np.mean(online) <= budget
    fresh = [solve(p).ledger.flops for p in test]
    assert np.mean(fresh) <= 1.3 * budget


# --- python -m tsc solve --strategy compute_optimal --flops F ----------------------------------


def problems_file(tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"numbers": [1, 2, 3], "target": 6}) + "\n" + json.dumps({"numbers": [13, 4, 7, 2], "target": 48}) + "\n")
    return source


@pytest.mark.parametrize(
    "flops, message",
    [
        (None, "needs --flops"),
        ("-7e8", "positive finite number"),
        ("0", "positive finite number"),
        ("nan", "positive finite number"),
        ("inf", "positive finite number"),
        ("1e3", "below the cheapest fitted plan"),
    ],
)
def test_bad_flops_are_rejected_in_one_line(tmp_path, tiny_model_dir, capsys, flops, message):
    source = problems_file(tmp_path)
    args = [
        "solve",
        "--model",
        str(tiny_model_dir),
        "--strategy",
        "compute_optimal",
        "--input",
        str(source),
        "--output",
        str(tmp_path / "o"),
    ]
    assert main(args + ([f"--flops={flops}"] if flops else [])) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_flops_that_is_not_a_number_is_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main(["solve", "--strategy", "compute_optimal", "--flops", "lots", "--input", "x", "--output", "y"])
    assert stop.value.code == 2 and "--flops" in capsys.readouterr().err


def test_solve_with_compute_optimal(tmp_path, tiny_model_dir):
    source, output = problems_file(tmp_path), tmp_path / "out.jsonl"
    args = ["solve", "--model", str(tiny_model_dir), "--strategy", "compute_optimal", "--flops", "7e8", "--verifier", "step_oracle"]
    assert main(args + ["--input", str(source), "--output", str(output)]) == 0
    lines = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(lines) == 2 and all("error" not in line and line["flops"] > 0 for line in lines)


def test_candidate_results_in_chunks_are_the_same():
    problems = [P3, P4, P4, P3, P4]
    candidates = {"greedy": {"strategy": "greedy", "knobs": {}}, "best_of_n 4": {"strategy": "best_of_n", "knobs": {"n": 4}}}
    stored = []

    def cached(what, compute, **config):
        stored.append((what, config["chunk"]))
        return compute()

    whole = candidate_results(problems, ScriptedPolicy(SCRIPT), verifier(), candidates=candidates, seed=0, difficulty_samples=3)
    parts = candidate_results(
        problems, ScriptedPolicy(SCRIPT), verifier(), candidates=candidates, seed=0, difficulty_samples=3, cached=cached, chunk=2
    )
    assert parts["results"] == whole["results"] and parts["probe"] == whole["probe"]
    assert len(parts["difficulty"]["correct"]) == 5 and parts["difficulty"]["samples"] == 3
    assert ("best_of_n 4", [4, 5]) in stored and len(stored) == 4 * 3


def test_candidate_results_stop_after_whole_chunks():
    problems = [P3, P4, P4, P3, P4]
    candidates = {"greedy": {"strategy": "greedy", "knobs": {}}}
    whole = candidate_results(problems, ScriptedPolicy(SCRIPT), verifier(), candidates=candidates, seed=0, difficulty_samples=3)
    first = candidate_results(
        problems, ScriptedPolicy(SCRIPT), verifier(), candidates=candidates, seed=0, difficulty_samples=3, chunk=2, upto=4
    )
    assert len(first["problems"]) == 4 and first["results"]["greedy"]["correct"] == whole["results"]["greedy"]["correct"][:4]
    with pytest.raises(ValueError, match="multiple of the chunk"):
        candidate_results(
            problems, ScriptedPolicy(SCRIPT), verifier(), candidates=candidates, seed=0, difficulty_samples=3, chunk=2, upto=3
        )


def test_the_allocation_is_installed_through_the_experiment_command(capsys):
    """`python -m tsc experiment ch04-allocation --install` fits the bundled table (no second command line)."""
    from tsc.experiments import EXPERIMENTS

    assert EXPERIMENTS["ch04-allocation"].install is install_allocation
    assert main(["experiment", "ch09-map", "--install"]) == 2
    assert "installs nothing; --install is for ch04-allocation" in capsys.readouterr().err
