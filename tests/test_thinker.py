"""The thinker (tsc.strategies.thinker): its loop on scripted fakes, its replay, its fit, its knobs."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from fakes import ScriptedPolicy, ScriptedStepVerifier, step_oracle_scores

from tsc.cli import main
from tsc.strategies import STRATEGIES, get_strategy, solve_many
from tsc.strategies.thinker import TABLE, check_table, explore, load_table, replay, thinker
from tsc.tasks.countdown import Countdown
from tsc.verifiers import Oracle

P = Countdown((1, 2, 3, 4), 21)
A = "1+2=3,3+4=7,7*3=21."  # correct
W = "1+2=3,3*4=12,12+3=15."  # first step fine, then a dead end
W2 = "4*3=12,12+2=14,14+1=15."  # wrong from the first step
PROMPT = P.prompt()


def script(prompt: str) -> list[str]:
    """Greedy writes W; refinements of its kept first step stay stuck; fresh samples cycle W2, W2, W2, A, ..."""
    if prompt == PROMPT:
        return [W, W2, W2, W2, A, W2, W2, W2]
    return ["3*4=12,12+3=15."]  # any continuation of a kept prefix: the same dead end


def judge() -> ScriptedStepVerifier:
    return ScriptedStepVerifier(step_oracle_scores)


def table(choice: dict, *, flops: float = 1e6, bins=("every problem",), predictor=None) -> dict:
    """A table with one plan whose every bin gets ``choice`` (refine, samples)."""
    return {
        "predictor": predictor or {"name": "none"},
        "bins": list(bins),
        "candidates": {"stop": {"refine": 0, "samples": 0}, "plan": choice},
        "plans": [{"flops": flops, "choice": ["plan"] * len(bins)}],
    }


def test_registered_with_a_colour():
    from tsc.viz.colors import color

    assert STRATEGIES["thinker"].run is thinker and get_strategy("thinker") is STRATEGIES["thinker"]
    assert color("thinker") not in {color(s) for s in STRATEGIES if s != "thinker"}


def test_an_accepted_probe_ends_the_thinking():
    policy = ScriptedPolicy(lambda prompt: [A])
    result = thinker(P, policy, flops=1e6, verifier=judge(), table=table({"refine": 4, "samples": 8}))
    assert result.correct and result.trace["stopped"] == "probe"
    assert [d["step"] for d in result.trace["decisions"]] == ["probe"] and result.trace["decisions"][0]["accepted"]
    assert len(policy.calls) == 1 and result.candidates == (A,)


def test_it_refines_then_escalates_to_fresh_samples_and_logs_every_decision():
    policy = ScriptedPolicy(script)
    result = thinker(P, policy, flops=1e6, verifier=judge(), seed=0, table=table({"refine": 2, "samples": 8}))
    steps = [d["step"] for d in result.trace["decisions"]]
    assert steps == ["probe", "plan", "refine", "refine", "samples", "samples"]
    assert result.trace["stopped"] == "samples" and result.correct and result.answer == A
    plan = result.trace["decisions"][1]
    assert plan["choice"] == "plan" and plan["refine"] == 2 and plan["samples"] == 8 and plan["bin"] == 0
    # samples 0-3 of seed 0 are W, W2, W2, W2 (none accepted); samples 4-7 start with A (accepted)
    assert [d.get("drawn") for d in result.trace["decisions"][4:]] == [4, 8]
    spent = [d["flops"] for d in result.trace["decisions"] if "flops" in d]
    assert spent == sorted(spent) and spent[-1] == result.ledger.flops
    assert len(result.candidates) == 1 + 2 + 8


def test_it_stops_when_the_plan_is_spent_and_answers_with_the_best_scored_candidate():
    policy = ScriptedPolicy(script)
    result = thinker(P, policy, flops=1e6, verifier=judge(), seed=0, table=table({"refine": 1, "samples": 0}))
    assert result.trace["stopped"] == "plan" and not result.correct
    assert result.chosen == max(range(len(result.scores)), key=lambda i: (result.scores[i], -i))


def test_the_bin_follows_size_and_probe_score():
    predictor = {"name": "size+probe", "sizes": [3, 4, 5], "edges": [[0.5], [0.5], [0.5]]}
    bins = [f"bin {b}" for b in range(6)]
    spec = dict(table({"refine": 0, "samples": 4}, bins=bins, predictor=predictor))
    result = thinker(P, ScriptedPolicy(script), flops=1e6, verifier=judge(), table=spec)
    assert result.trace["bin"] == 2  # 4 numbers (second size), probe score 0 (below the edge)


@pytest.mark.parametrize("choice", [{"refine": r, "samples": s} for r in (0, 1, 3) for s in (0, 4, 8)])
def test_replay_gives_what_a_live_run_gives(choice):
    policy, verifier = ScriptedPolicy(script), judge()
    record = explore(P, policy, verifier=verifier, refine=3, samples=8, seed=5)
    live = thinker(P, policy, flops=1e6, verifier=verifier, seed=5, table=table(choice))
    assert replay(record, **choice) == (live.correct, live.ledger.flops)


def test_replay_refuses_a_plan_beyond_the_record():
    record = explore(P, ScriptedPolicy(script), verifier=judge(), refine=1, samples=4)
    with pytest.raises(ValueError, match="refinement rounds"):
        replay(record, refine=3, samples=0)
    with pytest.raises(ValueError, match="fresh samples"):
        replay(record, refine=0, samples=8)
    with pytest.raises(ValueError, match="multiple"):
        replay(record, refine=0, samples=2)


def test_the_fitted_budget_holds_on_average_where_it_was_fitted():
    from tsc.experiments.ch09 import fit_thinker

    problems = [P, Countdown((1, 2, 3), 9), Countdown((2, 3, 4, 5, 6), 20), Countdown((1, 2, 3, 4), 21)] * 3
    policy, verifier = ScriptedPolicy(lambda prompt: script(PROMPT) if prompt.startswith(PROMPT) else [W2, "1+2=3,3*3=9."]), judge()
    records = [explore(p, policy, verifier=verifier, refine=16, samples=16, seed=s) for s, p in enumerate(problems)]
    fitted = check_table(dict(fit_thinker(records, budgets=(1e4, 3e4, 1e5)), model="fake", verifier="fake"))
    assert fitted["plans"], "no plan fitted"
    for plan in fitted["plans"]:
        results = [thinker(p, policy, flops=plan["flops"], verifier=verifier, seed=s, table=fitted) for s, p in enumerate(problems)]
        assert np.mean([r.ledger.flops for r in results]) <= plan["flops"]
        assert math.isclose(np.mean([r.correct for r in results]), plan["dev_accuracy"], abs_tol=1e-6)


@pytest.mark.parametrize("flops", [0, -1.0, math.nan, math.inf, "7e8", True, None])
def test_bad_budgets_are_rejected(flops):
    with pytest.raises(ValueError, match="flops"):
        thinker(P, ScriptedPolicy(script), flops=flops, verifier=judge(), table=table({"refine": 1, "samples": 0}))


def test_a_budget_below_the_cheapest_plan_says_what_to_ask_for():
    with pytest.raises(ValueError, match="below the cheapest fitted plan"):
        thinker(P, ScriptedPolicy(script), flops=10.0, verifier=judge(), table=table({"refine": 1, "samples": 0}, flops=1e6))


def test_other_bad_knobs_are_rejected():
    spec = table({"refine": 1, "samples": 0})
    with pytest.raises(ValueError, match="step-level verifier"):
        thinker(P, ScriptedPolicy(script), flops=1e6, verifier=Oracle(), table=spec)
    with pytest.raises(ValueError, match="step-level verifier"):
        thinker(P, ScriptedPolicy(script), flops=1e6, verifier=None, table=spec)
    with pytest.raises(ValueError, match="seed"):
        thinker(P, ScriptedPolicy(script), flops=1e6, verifier=judge(), seed=-1, table=spec)
    with pytest.raises(ValueError, match="problem"):
        thinker({"numbers": [1, 2, 3]}, ScriptedPolicy(script), flops=1e6, verifier=judge(), table=spec)


@pytest.mark.parametrize(
    "broken, message",
    [
        ({"plans": []}, "no plans"),
        ({"predictor": {"name": "oracle"}}, "predictor"),
        ({"candidates": {"plan": {"refine": -1, "samples": 0}}}, "integers >= 0"),
        ({"plans": [{"flops": 1e6, "choice": ["telepathy"]}]}, "telepathy"),
        ({"plans": [{"flops": 1e6, "choice": ["plan", "plan"]}]}, "bins"),
    ],
)
def test_a_malformed_table_is_rejected_in_one_line(broken, message):
    with pytest.raises(ValueError, match=message):
        check_table(dict(table({"refine": 1, "samples": 0}), **broken))
    with pytest.raises(ValueError, match="lacks"):
        check_table({"bins": []})
    with pytest.raises(ValueError, match="cannot read"):
        check_table("/nonexistent/policy.json")


def test_the_bundled_table_loads_with_its_card():
    bundled = load_table()
    assert bundled["model"] == "countdown" and bundled["verifier"] == "prm"
    flops = [p["flops"] for p in bundled["plans"]]
    assert flops == sorted(flops) and any(f <= 7e8 for f in flops)
    assert all(p["dev_flops"] <= p["flops"] for p in bundled["plans"])
    card = json.loads((TABLE.parent / "card.json").read_text())
    assert card["model"] == "countdown" and card["verifier"] == "prm" and card["fitted_on"]["problems"] >= 500
    assert "ch09-thinker" in card["recompute"]


def test_the_shipped_run_kept_the_mean_budget_on_held_out_problems():
    from tsc.experiments import stored

    record = stored("ch09-thinker")
    assert record is not None, "tsc/assets/results/ch09-thinker.json is missing: python -m tsc experiment ch09-thinker"
    data = record["data"]
    flops = np.array(data["test"]["live"]["thinker"]["flops"])
    assert len(flops) == len(data["test"]["problems"]) >= 500
    assert flops.mean() <= data["budget"]  # the mean budget holds live, on problems it was not fitted on


def test_solve_many_runs_it_problem_by_problem():
    policy, verifier = ScriptedPolicy(script), judge()
    spec = table({"refine": 1, "samples": 4})
    results = solve_many(thinker, [P, P], policy, seed=2, flops=1e6, verifier=verifier, table=spec)
    assert all(r.strategy == "thinker" for r in results) and results[0].ledger == results[1].ledger


@pytest.mark.parametrize("flops, message", [(None, "needs --flops"), ("10", "below the cheapest"), ("-5", "positive")])
def test_the_cli_rejects_a_missing_or_bad_budget_in_one_line(tmp_path, capsys, flops, message):
    source = tmp_path / "p.jsonl"
    source.write_text(json.dumps({"numbers": [1, 2, 3, 4], "target": 21}) + "\n")
    args = ["solve", "--strategy", "thinker", "--input", str(source), "--output", str(tmp_path / "o")]
    assert main(args + ([f"--flops={flops}"] if flops else [])) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "o").exists()


def test_the_allocation_a_run_used_is_found_by_its_hash_after_a_refit(tmp_path, monkeypatch):
    import json

    import tsc.analysis as ta
    import tsc.strategies.adaptive as adaptive
    from tsc.experiments.ch09 import allocation_used

    first = adaptive.load_allocation()
    used = {"fitted": {"allocation": {"hash": ta.config_key(first)[:12]}}}
    assert allocation_used(used) == (first, True)
    refit = json.loads(json.dumps(first))
    refit["plans"] = refit["plans"][:1]
    (tmp_path / "allocation.json").write_text(json.dumps(refit))
    (tmp_path / "allocation-first.json").write_text(json.dumps(first))
    monkeypatch.setattr(adaptive, "ALLOCATION", tmp_path / "allocation.json")  # the bundled table is read from ALLOCATION
    table, bundled = allocation_used(used)
    assert not bundled and ta.config_key(table) == ta.config_key(first)
    with pytest.raises(ValueError, match="no allocation .* has the hash 000000000000"):
        allocation_used({"fitted": {"allocation": {"hash": "000000000000"}}})


def test_chapter4s_record_replays_the_fresh_compute_optimal_run_and_gives_a_refit_to_compare():
    from tsc.experiments import stored
    from tsc.experiments.ch09 import against_chapter4

    fresh, ch04_fresh, ch04_allocation = (stored(name)["data"] for name in ("ch09-fresh", "ch04-fresh", "ch04-allocation"))
    out = against_chapter4(fresh, ch04_fresh, ch04_allocation)
    assert out["same"] and out["mix"] == {3: 300, 4: 600, 5: 300}
    assert out["paired"]["low"] <= out["paired"]["mean"] <= out["paired"]["high"]
    assert math.isclose(out["paired"]["mean"], out["thinker"]["accuracy"] - out["refit"]["accuracy"], abs_tol=1e-9)
    record = ch04_fresh["splits"]["fresh"]
    other = {**ch04_fresh, "splits": {"fresh": {**record, "problems": record["problems"][1:]}}}
    with pytest.raises(ValueError, match="not on the same problems"):
        against_chapter4(fresh, other, ch04_allocation)
