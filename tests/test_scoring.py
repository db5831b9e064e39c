"""tsc.scoring: exact best-of-k, compute-matched comparisons, a scored table charged as
best-of-N charges, verifier quality and where a step verifier points; the book's colours;
the second-edition experiments' loaders."""

from __future__ import annotations

import itertools
import json
import math

import numpy as np
import pytest
from fakes import ScriptedPolicy, ScriptedStepVerifier, step_oracle_scores

from tsc.analysis import SampleTable, best_of_accuracy, draw, pass_at_k
from tsc.scoring import (
    at_flops,
    best_of_k,
    dense_ranks,
    first_flagged,
    localisation,
    verifier_quality,
    within_auc,
)
from tsc.tasks.countdown import Countdown


def _brute_best_of(scores, correct, k):
    total = 0.0
    subsets = list(itertools.combinations(range(len(scores)), k))
    for subset in subsets:
        top = max(scores[i] for i in subset)
        tied = [i for i in subset if scores[i] == top]
        total += np.mean([correct[i] for i in tied])
    return total / len(subsets)


@pytest.mark.parametrize("seed", range(6))
def test_best_of_k_is_exact_over_subsets_with_ties(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 11))
    scores = np.round(rng.random(n), 1)  # rounding makes ties
    correct = rng.random(n) < 0.4
    for k in range(1, n + 1):
        assert best_of_k(scores, correct, k) == pytest.approx(_brute_best_of(scores, correct, k), abs=1e-12)


def test_best_of_k_with_the_oracle_is_pass_at_k_and_agrees_with_monte_carlo():
    correct = np.array([True, False, False, True, False, False, False, False])
    for k in range(1, 9):
        assert best_of_k(correct.astype(float), correct, k) == pytest.approx(pass_at_k(8, 2, k))
    rng = np.random.default_rng(1)
    scores = rng.random((40, 16))
    truth = rng.random((40, 16)) < 0.3
    table = SampleTable.of_votes([[None] * 16] * 40, truth)
    monte_carlo = best_of_accuracy(table, scores, [4], trials=4000, seed=0)["mean"][0]
    exact = np.mean([best_of_k(s, c, 4) for s, c in zip(scores, truth)])
    assert monte_carlo == pytest.approx(exact, abs=0.01)


@pytest.mark.parametrize("seed", range(6))
def test_best_of_k_after_a_first_attempt_is_exact_over_subsets(seed):
    import itertools

    from tsc.scoring import best_of_k_after

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 9))
    scores, correct = np.round(rng.random(n), 1), rng.random(n) < 0.4
    first, first_ok = float(np.round(rng.random(), 1)), bool(rng.random() < 0.5)
    for k in range(1, n + 2):
        subsets = list(itertools.combinations(range(n), k - 1))

        # the first attempt wins ties; among tied samples the pick is uniform
        def pick(subset):
            best = max([scores[i] for i in subset], default=-1.0)
            if first >= best:
                return float(first_ok)
            tied = [i for i in subset if scores[i] == best]
            return float(np.mean([correct[i] for i in tied]))

        brute = np.mean([pick(s) for s in subsets])
        assert best_of_k_after(first, first_ok, scores, correct, k) == pytest.approx(brute, abs=1e-12)
    with pytest.raises(ValueError, match="k must be an integer from 1 to n"):
        best_of_k_after(0.5, True, scores, correct, n + 2)


@pytest.mark.parametrize("k", [0, 9, 2.5, True])
def test_best_of_k_rejects_a_bad_k(k):
    with pytest.raises(ValueError, match="k must be an integer from 1 to n=8"):
        best_of_k(np.zeros(8), np.zeros(8, dtype=bool), k)


def test_dense_ranks_keep_order_and_ties():
    assert dense_ranks([0.5, 0.9, 0.5, 0.1]) == [1, 0, 1, 2]
    scores, correct = np.array([0.3, 0.8, 0.3, 0.1, 0.8]), np.array([1, 0, 1, 0, 1], dtype=bool)
    ranks = -np.array(dense_ranks(scores), dtype=float)
    assert all(best_of_k(ranks, correct, k) == pytest.approx(best_of_k(scores, correct, k)) for k in range(1, 6))


def test_at_flops_interpolates_in_log_flops_problem_by_problem():
    per_problem = np.array([[0.0, 1.0, 1.0], [0.2, 0.4, 0.8]])
    flops = [1e6, 1e8, 1e10]
    assert at_flops(per_problem, flops, 1e8) == pytest.approx([1.0, 0.4])
    assert at_flops(per_problem, flops, 1e7) == pytest.approx([0.5, 0.3])  # half way in log FLOPs
    assert at_flops(per_problem, flops, 1e6) == pytest.approx([0.0, 0.2])
    with pytest.raises(ValueError, match="outside the curve's range"):
        at_flops(per_problem, flops, 1e11)
    with pytest.raises(ValueError, match="increase"):
        at_flops(per_problem, [1e6, 1e6, 1e8], 1e7)


PROBLEMS = [Countdown((13, 4, 7, 2), 48), Countdown((3, 5, 8), 16)]
SCRIPT = {
    "13 4 7 2>48:": ["13-7=6,6*4=24,24*2=48.", "13+7=20,20*2=40,40+4=44.", "13-7=6,6*4=24,24+2=48."],
    "3 5 8>16:": ["5-3=2,8*2=16.", "8+5=13,13+3=16.", "5*3=15,15+8=23."],
}


def _scored(n=3, chunk=256):
    policy = ScriptedPolicy(SCRIPT)
    verifier = ScriptedStepVerifier(lambda problem, text: [0.9] * (len(problem.steps(text)) - 1) + [0.8 if problem.check(text) else 0.2])
    return draw(PROBLEMS, policy, n=n, seed=0, chunk=chunk, verifiers={"v": verifier}), policy, verifier


def test_draw_with_verifiers_grades_scores_and_prices_every_sample():
    scored, policy, verifier = _scored()
    table = scored
    assert table.correct.shape == (2, 3) and set(map(len, table.texts)) == {3}
    assert all(table.correct[i, j] == p.check(t) for i, p in enumerate(PROBLEMS) for j, t in enumerate(table.texts[i]))
    assert np.array_equal(scored.scores("v", "last") > 0.5, table.correct)
    assert scored.scores("v", "min").shape == (2, 3)
    # both problems in one policy call (each on its own seed), one verifier call per problem
    assert len(policy.calls) == 1 and len(verifier.calls) == 2
    one_by_one, single, _ = _scored(chunk=3)
    assert len(single.calls) == 2 and one_by_one.texts == table.texts
    assert one_by_one.flops(3, "v") == pytest.approx(scored.flops(3, "v"))
    assert np.all(scored.verifier_flops["v"] > 0) and np.all(scored.sample_flops > 0)
    assert scored.flops(3, "v") == pytest.approx(scored.prompt_flops + 3 * (scored.sample_flops + scored.verifier_flops["v"].mean(axis=1)))
    assert np.all(scored.flops(2, "v") < scored.flops(3, "v")) and np.all(scored.flops(3) < scored.flops(3, "v"))
    part = scored.subset([True, False])
    assert part.correct.shape == (1, 3) and part.flops(3, "v") == pytest.approx(scored.flops(3, "v")[:1])
    assert part.scores("v").tolist() == scored.scores("v")[:1].tolist() and part.texts == scored.texts[:1]
    with pytest.raises(ValueError, match="no verifier 'w'"):
        scored.scores("w")
    with pytest.raises(ValueError, match="how must be one of"):
        scored.scores("v", "mean")


def test_draw_rejects_bad_input():
    with pytest.raises(ValueError, match="n must be a positive integer"):
        draw(PROBLEMS, ScriptedPolicy(SCRIPT), n=0)
    with pytest.raises(ValueError, match="verifier 'x' must have score"):
        draw(PROBLEMS, ScriptedPolicy(SCRIPT), n=2, verifiers={"x": object()})
    with pytest.raises(ValueError, match="no per-problem FLOPs"):
        SampleTable.of_votes([["a"]], [[True]]).flops(1)


def test_localisation_counts_where_the_verifier_points():
    scored, _, _ = _scored()
    labels = [[step_oracle_scores(p, t) for t in row] for p, row in zip(PROBLEMS, scored.texts)]
    # the scripted verifier flags only the last step of a wrong sample. Of the three wrong
    # samples, 13+7=20,20*2=40,40+4=44. is lost at its second step and 5*3=15,15+8=23. at its
    # first (flagged late); 13-7=6,6*4=24,24+2=48. at its last (flagged exactly)
    where = localisation(scored, "v", labels, 0.5)
    assert where["wrong"] == 3 and where["correct"] == 3
    assert where["exact"] == pytest.approx(1 / 3) and where["late"] == pytest.approx(2 / 3)
    assert where["false_alarm"] == 0 and where["missed"] == 0 and where["early"] == 0
    assert first_flagged([0.9, 0.4, 0.1], 0.5) == 1 and first_flagged([0.9], 0.5) is None


def test_verifier_quality_ranks_within_and_across_problems():
    correct = np.array([[True, False, False], [True, True, False], [False, False, False]])
    perfect = correct.astype(float)
    assert within_auc(perfect, correct) == 1.0
    assert math.isnan(within_auc(perfect[2:], correct[2:]))
    quality = verifier_quality({"perfect": perfect, "reversed": 1 - perfect}, correct, n_boot=50)
    assert quality["perfect"]["auc"][0] == 1.0 and quality["reversed"]["within"][0] == 0.0
    assert quality["perfect"]["ece"] == pytest.approx(0.0)


def test_every_strategy_has_a_colour_and_unknown_names_are_clear():
    from tsc.strategies import STRATEGIES
    from tsc.viz.colors import color

    assert all(color(name).startswith("#") for name in STRATEGIES)
    assert color("majority_vote") == color("majority") and color(3) != color(5)
    assert len({color(name) for name in ("majority", "best_of_n", "beam", "mcts", "self_refine", "revise")}) == 6
    with pytest.raises(ValueError, match="no colour for 'nope'; known:"):
        color("nope")


def test_the_experiments_are_registered_with_json_configs():
    from tsc import experiments

    for name in ("ch05-search-vs-best-of-n", "ch06-sequential", "ch06-best-of-many"):
        spec = experiments.EXPERIMENTS[name]
        assert json.loads(json.dumps(spec.config)) == spec.config and spec.describe


def test_the_chapter_5_loader_reads_a_stored_record(monkeypatch):
    from tsc.experiments import base, ch05

    rows = []
    for i, size in enumerate((3, 4, 5, 3)):
        cost = 100.0 * size  # bigger problems cost more, on both sides
        rows.append({
            "numbers": list(range(1, size + 1)), "target": 10, "correct": "0110", "keys": [0, 1, 1, -1],
            "min": [2, 0, 1, 3], "last": [1, 0, 0, 2], "prompt_flops": 10.0, "sample_flops": cost, "verifier_flops": cost / 2,
            "searches": {
                "beam 4x1, last": {"solved": i % 2, "flops": 3 * cost + i, "verifier_flops": cost},
                "greedy": {"solved": 0, "flops": cost + 10, "verifier_flops": 0.0},
                "particle filter 4, T=1": {"solved": 1, "flops": 2 * cost, "verifier_flops": cost,
                                           "ess": [3.5, 2.0], "live": [4, 0], "unique": [3, 2]},
            },
        })  # fmt: skip
    names = ["beam 4x1, last", "greedy", "particle filter 4, T=1"]
    stored = json.loads(json.dumps(ch05._columns(names, rows)))
    monkeypatch.setattr(base, "run", lambda name: stored)
    data = ch05.load_search_vs_best_of_n(trials=20)
    assert data.best_of["oracle"][:, 0] == pytest.approx([0.5] * 4) and data.best_of["oracle"][:, 2] == pytest.approx([1.0] * 4)
    assert data.best_of["last"][:, 0] == pytest.approx([0.5] * 4)  # one sample: pass@1
    assert data.best_of["last"][:, 3] == pytest.approx([1.0] * 4)  # all four: the two favourites, both right
    assert data.best_of_flops[0, 0] == pytest.approx(10 + 450) and data.sample_flops[1, 1] == pytest.approx(10 + 2 * 400)
    assert data.flops("beam 4x1, last") == pytest.approx(3 * 375 + 1.5)
    difference = data.matched("beam 4x1, last", "last")
    assert difference.shape == (4,) and np.all(np.abs(difference) <= 1)
    # per size, each size at its own compute: 3-number problems' beam spent 901.5 FLOPs on average,
    # where best-of-k on those problems costs 10 + 450 k: k = 1.98, between best-of-1 and best-of-2
    small = data.sizes == 3
    assert data.matched("beam 4x1, last", "last", rows=small).shape == (2,)
    from tsc.scoring import at_flops

    expected = data.searches["beam 4x1, last"][0][small] - at_flops(data.best_of["last"][small], 10 + 450 * data.ks, 901.5)
    assert data.matched("beam 4x1, last", "last", rows=small) == pytest.approx(expected)
    assert set(data.per_size("particle filter 4, T=1")) == {3, 4, 5}
    # by size, with the sizes pooled (each at its own compute) and intervals in points
    report = data.by_size("beam 4x1, last")
    assert set(report) == {3, 4, 5, "all"}
    pooled = np.concatenate(list(data.per_size("beam 4x1, last").values()))
    assert report["all"][0] == pytest.approx(100 * pooled.mean())
    assert all(low <= mean <= high for mean, low, high in report.values())
    assert report[3][0] == pytest.approx(100 * expected.mean())
    from tsc.viz.ch05 import print_by_size

    assert print_by_size(data, "beam 4x1, last")["last"] == report
    trace = data.traces["particle filter 4, T=1"]
    assert [list(x) for x in trace["ess"]] == [[3.5, 2.0]] * 4 and [list(x) for x in trace["live"]] == [[4, 0]] * 4


def test_scored_table_is_frozen():
    scored, _, _ = _scored()
    assert isinstance(scored, SampleTable)
    with pytest.raises(AttributeError):
        scored.steps = {}


def test_the_chapter_6_loader_counts_real_revisions_and_builds_the_baselines(monkeypatch):
    from tsc.experiments import base, ch06

    def curve(ok, flops, first_score=0.5):
        return {"ok": ok, "flops": flops, "accepted": False, "first_score": first_score}

    def problem(size, revise_ok, greedy_ok, first_score):
        return {
            "numbers": list(range(1, size + 1)), "target": 10,
            "refine": curve([greedy_ok, 1], [100.0, 200.0], first_score), "refine_0.5": curve([greedy_ok, 1], [100.0, 200.0]),
            "refine_oracle": curve([greedy_ok, 1], [60.0, 120.0]), "refine_orm": curve([greedy_ok, greedy_ok], [100.0, 200.0]),
            "revise": {"ok": revise_ok, "prm": [0.5] * len(revise_ok), "policy_flops": [50.0 * (i + 1) for i in range(len(revise_ok))],
                       "prm_flops": [10.0] * len(revise_ok)},
            "parallel": {"correct": "0110", "keys": [0, 1, 1, -1], "min": [2, 0, 1, 3], "last": [1, 0, 0, 2],
                         "last_scores": [0.3, 0.6, 0.6, 0.1], "prompt_flops": 10.0, "sample_flops": 40.0, "verifier_flops": 20.0},
        }  # fmt: skip

    rows = [problem(3, [1, 0], 1, 0.9), problem(4, [0], 0, 0.2), problem(5, [0, 1], 0, 0.7)]
    stored = {"threshold": 0.4, "dev": {"0.4": {"accuracy": [0.1, 0.2], "flops": [1.0, 2.0]}}, "dev_problems": 3,
              "problems": [ch06._compact(row) for row in rows]}  # fmt: skip
    stored = json.loads(json.dumps(stored))
    monkeypatch.setattr(base, "run", lambda name: stored)
    seq = ch06.load_sequential()
    # real revisions only: problem 1 broke one right attempt, problem 3 mended one wrong one, problem 2 stopped
    assert seq.transitions() == {"right": 1, "wrong": 1, "broke": 1, "mended": 1, "revisions": 2, "problems": 3, "stopped_after_one": 1}
    oracle, oracle_flops = seq.lines["best-of-N, oracle picks"]
    assert oracle[:, 0] == pytest.approx([0.5] * 3) and oracle[:, 2] == pytest.approx([1.0] * 3)
    assert oracle_flops[0, 1] == pytest.approx(10 + 2 * 40)  # the oracle's pick costs the samples alone
    anchored, anchored_flops = seq.lines["greedy + samples, PRM picks"]
    assert anchored[:, 0] == pytest.approx([1, 0, 0])  # k = 1: the greedy attempt alone
    # the greedy attempt scored 0.9 beats every sample; 0.2 loses to the samples' favourites (both right)
    assert anchored[0, 3] == pytest.approx(1.0) and anchored[1, 3] == pytest.approx(1.0)
    assert anchored_flops[0, 0] == pytest.approx(100.0) and anchored_flops[0, 2] == pytest.approx(100 + 10 + 2 * 60)
    assert "self-refine, ORM" in seq.lines
    # against a baseline at the same FLOPs: at 200 FLOPs best-of-k (10 + 60 k) is between k = 3 and 4
    assert seq.versus("self-refine, PRM (threshold 0.4)", 2).shape == (3,)
    assert seq.versus("self-refine, PRM (threshold 0.4)", 2, rows=seq.sizes == 3).shape == (1,)


def test_a_table_charges_k_samples_as_the_prompt_once_plus_k_samples(tiny_policy):
    """Chapter 1's accounting: the table's FLOPs split exactly into each problem's prompt
    (read once) and its samples (each priced by its own length)."""
    from tsc.tasks import countdown

    problems = countdown.generate(6, seed=3, sizes=(3, 4))
    table = costs = draw(problems, tiny_policy, n=8, temperature=1.0, seed=0, max_new_tokens=24, chunk=16)  # 2 problems a call
    assert np.isclose(costs.prompt_flops.sum() + 8 * costs.sample_flops.sum(), table.ledger.policy_flops)
    lengths = [len(ids) for ids in tiny_policy.encode([tiny_policy.format(p) for p in problems])]
    assert costs.prompt_flops.tolist() == [tiny_policy.flops(n, 0) for n in lengths]
    assert np.allclose(costs.flops(4), costs.prompt_flops + 4 * costs.sample_flops)
    # one sample costs more than the table's FLOPs spread evenly over its samples
    assert costs.flops(1).mean() > table.ledger.policy_flops / table.ledger.samples
    # each sample priced by its own length: the prompt once plus each sample's own FLOPs
    own = [np.mean([tiny_policy.flops(m, int(t)) - tiny_policy.flops(m, 0) for t in row]) for m, row in zip(lengths, table.tokens)]
    assert np.allclose(costs.sample_flops, own)


def test_the_chapter_6_sequential_figure_labels_each_curve_where_it_is_told():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from tsc.viz.ch06 import line_style, sequential_figure

    solved = np.array([[0.0, 1.0], [1.0, 1.0]])
    flops = np.array([[1e8, 2e8], [1e8, 2e8]])
    lines = {"self-refine, PRM (threshold 0.3)": (solved, flops), "greedy + samples, PRM picks": (solved, flops * 1.1)}
    fig, ax = plt.subplots()
    sequential_figure(ax, lines, nudge={"greedy + samples, PRM picks": -12})
    labels = {t.get_text(): t for t in ax.texts}
    assert set(labels) == set(lines)
    assert labels["greedy + samples, PRM picks"].xyann == (4, -12) and labels["self-refine, PRM (threshold 0.3)"].xyann == (4, 0.0)
    assert line_style("greedy + samples, PRM picks")[1] == "--" and line_style("best-of-N, PRM")[1] == "-"
    plt.close(fig)
