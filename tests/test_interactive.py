"""tsc.viz.interactive: every state computed in Python, written into the page; the browser
check (tests/html) moves them."""

from __future__ import annotations

import json
import re

import pytest

from tsc.viz.interactive import MAX_STATES, PLOTLY_SRC, Menu, Slider, axes, bars, explorer, lines


def draw(k, name):
    return {"data": [bars(["a", "b"], [k / 10, k / 20], name=name, color="#123456", low=[0, 0], high=[1, 1])], "layout": {"title": name}}


def test_every_combination_of_the_controls_is_drawn_once():
    calls = []
    figure = explorer(lambda k, n: calls.append((k, n)) or draw(k, n), Slider("k", [1, 2, 4], start=2), Menu("who", ["x", "y"]))
    assert sorted(calls) == sorted((k, n) for k in (1, 2, 4) for n in "xy")
    assert figure.state(2, 1)["data"][0]["y"] == [0.4, 0.2] and figure.state(2, 1)["layout"] == {"title": "y"}


def test_the_page_carries_the_controls_the_states_and_the_local_plotly():
    page = explorer(draw, Slider("samples k", [1, 2, 4], start=2), Menu("who", ["x", "y"]), layout=axes("x", "y", percent=True)).html()
    assert 'type="range"' in page and 'max="2"' in page and 'value="1"' in page  # start at k = 2, the second value
    assert "<select" in page and '<option value="1">y</option>' in page
    assert PLOTLY_SRC in page and "https://" not in page and "cdn" not in page.lower()
    states = json.loads(re.search(r'<script type="application/json" class="tsc-explorer-states">(.*?)</script>', page, re.S).group(1))
    assert set(states["states"]) == {f"{i},{j}" for i in range(3) for j in range(2)}
    assert states["labels"] == [["1", "2", "4"], ["x", "y"]] and states["layout"]["yaxis"]["tickformat"] == ".0%"


def test_a_closing_tag_in_a_label_cannot_end_the_script():
    page = explorer(draw, Slider("k", [1]), Menu("who", ["</script><b>x"])).html()
    assert "</script><b>" not in page.split('class="tsc-explorer-states">', 1)[1].split("</script>", 1)[0]


def test_numbers_that_are_not_finite_are_refused_or_left_out():
    with pytest.raises(ValueError, match="not finite"):
        explorer(lambda k: {"data": [{"type": "bar", "y": [float("nan")]}]}, Slider("k", [1]))
    assert lines([1, 2], [float("nan"), 0.5], name="a", color="#000")["y"] == [None, 0.5]
    assert bars([1], [0.5], name="b", color="#000", low=[0.4], high=[0.7])["error_y"]["array"] == [pytest.approx(0.2)]


def test_bad_controls_are_named():
    with pytest.raises(ValueError, match="at least one control"):
        explorer(draw)
    with pytest.raises(ValueError, match="'k' has no values"):
        explorer(draw, Slider("k", []))
    with pytest.raises(ValueError, match="too many for one page"):
        explorer(lambda *a: {}, Slider("a", range(100)), Slider("b", range(MAX_STATES // 100 + 1)))


def test_outside_the_book_it_says_where_the_figure_moves():
    bundle = explorer(draw, Slider("k", [1, 2]), Menu("who", ["x"]))._repr_mimebundle_()
    assert "moves in the book's HTML edition" in bundle["text/html"] and bundle["text/plain"].startswith("<an explorer over 2 states")


def test_chapter_1s_explorer_and_its_twin_show_the_same_bars(monkeypatch):
    """The explorer (Jupyter) and its twin (the static page) read one set of statistics: the
    majority vote's random tie-breaks once differed between a k drawn alone and all k at once."""
    import dataclasses
    from types import SimpleNamespace

    import matplotlib.pyplot as plt
    import numpy as np

    from tsc.analysis import SampleTable
    from tsc.viz.widgets import budget_explorer, budget_twin

    rng = np.random.default_rng(0)
    keys = rng.integers(0, 3, size=(60, 16))
    table = SampleTable.of_votes(keys, keys == 0)
    table = dataclasses.replace(table, problems=tuple(SimpleNamespace(numbers=(1,) * (3 + i % 3)) for i in range(60)))
    shown = []
    monkeypatch.setattr(plt, "show", lambda: shown.append([bar.get_height() for bar in plt.gca().patches]))
    widget = budget_explorer(table, start=8)
    twin = budget_twin(table, start=8)
    for i, k in enumerate((1, 2, 4, 8, 16)):
        widget.children[0].value = k
        heights = [y for trace in twin.state(i)["data"] for y in trace["y"]]
        assert shown[-1] == pytest.approx(heights, abs=1e-4)  # the page keeps four digits
