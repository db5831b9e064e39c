"""The search-tree picture and viewer: layout, stepping, the chosen path, every strategy's trace."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from fakes import TREE, A, P, StepPolicy, TinyStepOracle, valued

from tsc.core import Result
from tsc.strategies import beam_search, dfs, dvts, mcts, tot_bfs
from tsc.viz import tree as viewer
from tsc.viz.tree import describe_node, draw_tree, tree_layout, tree_viewer

plt.switch_backend("Agg")  # no window: the tests draw off screen

SEARCHES = {"beam": beam_search, "dvts": dvts, "tot_bfs": tot_bfs, "dfs": dfs, "mcts": mcts}

VALUES = {"1+2=3,": 0.8, "4*3=12,": 0.6, "1+2=3,3+4=7,": 0.9, A: 1.0}


def run(name: str, **knobs) -> Result:
    knobs = {"expansions": 2, **knobs}
    policy = StepPolicy(knobs.pop("tree", TREE), rest={"": A})
    return SEARCHES[name](P, policy, verifier=knobs.pop("verifier", valued(VALUES)), **knobs)


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


def assert_tidy(nodes: list[dict], pos: dict) -> None:
    """Each parent one row above its children and centred over their x range; no two nodes share a spot."""
    for node in nodes:
        kids = [pos[n["id"]] for n in nodes if n["parent"] == node["id"]]
        if kids:
            x, y = pos[node["id"]]
            assert all(ky == y - 1 for _, ky in kids)
            assert x == pytest.approx((min(kx for kx, _ in kids) + max(kx for kx, _ in kids)) / 2)
    assert len(set(pos.values())) == len(pos)


@pytest.mark.parametrize("name", SEARCHES)
def test_every_strategy_draws_a_tidy_tree_with_its_chosen_path(name, ax):
    result = run(name, beam_width=2) if name == "beam" else run(name)
    nodes = result.trace["tree"]
    drawn = draw_tree(ax, result, correct=P.check)
    pos = drawn["positions"]
    assert set(pos) == {n["id"] for n in nodes}
    assert pos[0][1] == 0 and all(pos[n["id"]][1] == -n["depth"] for n in nodes)
    assert_tidy(nodes, pos)
    leaves = sorted(pos[n["id"]][0] for n in nodes if not any(m["parent"] == n["id"] for m in nodes))
    assert leaves == list(range(len(leaves)))  # leaves on consecutive slots
    deepest = max((n for n in nodes if n["chosen"]), key=lambda n: n["depth"])
    assert len(drawn["chosen"]) == deepest["depth"] + 1 and drawn["thick_edges"] == deepest["depth"]
    assert result.correct and deepest["text"] == A


def test_upto_draws_only_the_nodes_created_so_far_on_a_fixed_layout(ax):
    result = run("beam", beam_width=2)
    whole = tree_layout(result)
    total = len(result.trace["tree"])
    for upto in range(total):
        fig, small = plt.subplots()
        drawn = draw_tree(small, result, upto=upto)
        plt.close(fig)
        assert sorted(drawn["positions"]) == list(range(upto + 1))
        assert all(drawn["positions"][i] == whole[i] for i in drawn["positions"])  # nodes do not move while stepping
    drawn = draw_tree(ax, result, upto=2)
    assert "3 of" in ax.get_title()
    assert len(drawn["chosen"]) <= 3


def test_the_layout_of_a_hand_written_tree():
    nodes = [
        {"id": 0, "parent": None},
        {"id": 1, "parent": 0},
        {"id": 2, "parent": 0},
        {"id": 3, "parent": 1},
        {"id": 4, "parent": 1},
        {"id": 5, "parent": 1},
        {"id": 6, "parent": 2},
    ]
    pos = tree_layout(nodes)
    assert pos == {3: (0, -2), 4: (1, -2), 5: (2, -2), 1: (1, -1), 6: (3, -2), 2: (3, -1), 0: (2, 0)}
    assert_tidy(nodes, pos)


def test_a_long_chain_needs_no_recursion():
    nodes = [{"id": 0, "parent": None}] + [{"id": i, "parent": i - 1} for i in range(1, 3000)]
    pos = tree_layout(nodes)
    assert pos[2999] == (0, -2999) and pos[0] == (0, 0)


@pytest.mark.parametrize("name", SEARCHES)
def test_a_tree_where_every_branch_died(name, ax):
    result = run(name, tree={"": ["1+2"]}, verifier=TinyStepOracle())
    drawn = draw_tree(ax, result)
    nodes = result.trace["tree"]
    assert all(n["dead"] for n in nodes[1:]) and len(drawn["positions"]) == len(nodes)
    assert drawn["chosen"] == [0] and drawn["thick_edges"] == 0  # the answer was completed from the root
    assert any("policy" in t.get_text() for t in ax.texts)  # what the policy appended is noted
    assert_tidy(nodes, drawn["positions"])


def test_a_root_only_tree_and_a_bare_node_list(ax):
    drawn = draw_tree(ax, [{"id": 0, "parent": None, "chosen": True}])
    assert drawn == {"positions": {0: (0.0, 0.0)}, "chosen": [0], "thick_edges": 0}
    fig, other = plt.subplots()
    draw_tree(other, {"tree": [{"id": 0, "parent": None}], "completed": "1+2=3."})
    plt.close(fig)


def test_mcts_colours_by_value_and_sizes_by_visits(ax):
    result = run("mcts", simulations=6)
    draw_tree(ax, result)
    assert any("value (score if unvisited)" in t.get_text() for t in ax.get_legend().get_texts())
    nodes = result.trace["tree"]
    root = nodes[0]
    assert viewer._size(root, True, False) > viewer._size(nodes[1], True, False) > 0
    visited = next(n for n in nodes[1:] if n["visits"])
    assert viewer._colour_number(visited, "score", True) == pytest.approx(visited["value"])
    assert viewer._colour_number(visited, "score", False) == visited["score"]


def test_correct_marks_finished_leaves(ax):
    result = run("beam", beam_width=2)
    draw_tree(ax, result, correct=P.check)
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "right answer" in labels and "wrong answer" in labels
    finished = [n for n in result.trace["tree"] if n["finished"]]
    rings = {viewer._verdict_colour(n, P.check) for n in finished}
    assert rings == {viewer.PALETTE[2], viewer.PALETTE[1]}  # one right, one wrong answer
    assert viewer._verdict_colour(finished[0], None) is None and viewer._verdict_colour(result.trace["tree"][1], P.check) is None


def test_step_texts_only_in_small_trees(ax):
    draw_tree(ax, run("beam"))
    assert any(t.get_text() == "1+2=3," for t in ax.texts)
    wide = [{"id": 0, "parent": None}] + [{"id": i, "parent": 0, "step": "1+2=3,"} for i in range(1, 60)]
    fig, big = plt.subplots()
    draw_tree(big, wide)
    assert not big.texts
    plt.close(fig)


BAD = [
    ("nonsense", TypeError, "tree-search Result"),
    (42, TypeError, "tree-search Result"),
    (Result(answer=None, correct=False, ledger=None, strategy="majority"), ValueError, "no trace"),
    ({"order": [0]}, ValueError, "'tree'"),
    ([], ValueError, "empty"),
    ([{"id": 0}], ValueError, "'parent'"),
    (["node"], ValueError, "dict"),
    ([{"id": 0, "parent": None}, {"id": 0, "parent": 0}], ValueError, "distinct"),
    ([{"id": 0, "parent": None}, {"id": 1, "parent": None}], ValueError, "one root"),
    ([{"id": 0, "parent": None}, {"id": 1, "parent": 7}], ValueError, "parent"),
    ([{"id": 0, "parent": None}, {"id": 1, "parent": 2}, {"id": 2, "parent": 1}], ValueError, "cycle"),
]


@pytest.mark.parametrize("source, error, match", BAD, ids=lambda x: repr(x)[:30])
def test_bad_input_is_a_clear_error(source, error, match, ax):
    with pytest.raises(error, match=match):
        draw_tree(ax, source)


def test_bad_knobs_are_clear_errors(ax):
    result = run("beam")
    with pytest.raises(ValueError, match="label"):
        draw_tree(ax, result, label="colour")
    with pytest.raises(TypeError, match="upto"):
        draw_tree(ax, result, upto="3")
    with pytest.raises(ValueError, match="upto"):
        draw_tree(ax, result, upto=-1)
    with pytest.raises(TypeError, match="correct"):
        draw_tree(ax, result, correct=True)


def test_the_viewer_builds_and_redraws_when_the_slider_moves(monkeypatch):
    import ipywidgets as widgets

    result = run("dfs")
    calls = []
    real = viewer.draw_tree
    monkeypatch.setattr(viewer, "draw_tree", lambda ax, source, **kw: calls.append(kw["upto"]) or real(ax, source, **kw))
    box = tree_viewer(result, correct=P.check)
    assert isinstance(box, widgets.VBox)
    controls, line, out = box.children
    play, slider = controls.children
    last = result.trace["tree"][-1]["id"]
    assert (slider.min, slider.max, slider.value) == (0, last, last) and calls == [last]
    assert line.value == describe_node(result.trace["tree"][-1])
    for upto in (0, 2, last - 1):
        slider.value = upto
        assert line.value.startswith(f"node {upto} ·")
    assert calls == [last, 0, 2, last - 1]
    assert "the prompt" in describe_node(result.trace["tree"][0])
    plt.close("all")


def test_the_viewer_without_ipywidgets_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_widgets(name, *args, **kwargs):
        if name == "ipywidgets":
            raise ImportError("No module named 'ipywidgets'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_widgets)
    with pytest.raises(ImportError, match="pip install ipywidgets"):
        tree_viewer(run("beam"))
