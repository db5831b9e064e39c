"""Explorers: ipywidgets for Jupyter and Colab, and their twins that move in the static HTML
(`tsc.viz.interactive`: every state computed here, redrawn by the page)."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib.pyplot as plt
import numpy as np

from tsc.analysis import SampleTable, coverage, majority_accuracy
from tsc.viz import accuracy_axes
from tsc.viz.colors import color


def printed_slider(options: list, value, description: str, show: Callable[[object], None]):
    """A SelectionSlider over ``options`` (values, or (label, value) pairs) above what
    ``show(value)`` prints, printed afresh whenever the slider moves (Jupyter and Colab)."""
    import ipywidgets as widgets

    out = widgets.Output()

    def update(value) -> None:
        with out:
            out.clear_output(wait=True)
            show(value)

    slider = widgets.SelectionSlider(options=options, value=value, description=description)
    slider.observe(lambda change: update(change["new"]), names="value")
    update(slider.value)
    return widgets.VBox([slider, out])


def show_figure(out, fig) -> None:
    """Show ``fig`` in the Output widget ``out`` in place of what it showed, and close it."""
    from IPython.display import display

    with out:
        out.clear_output(wait=True)
        display(fig)
    plt.close(fig)


def _budget_bars(table: SampleTable, sizes: tuple[int, ...]) -> tuple[list[int], list, dict]:
    """The ks on the budget slider, the two curves, and each curve's statistics by problem size
    for every k at once (one call per size, so the explorer and its twin show the same bars)."""
    size_of = np.array([len(p.numbers) for p in table.problems])
    ks = [k for k in (1, 2, 4, 8, 16, 32, 64, 128) if k <= table.n]
    curves = [("coverage (oracle picks)", coverage, color("oracle")), ("majority vote", majority_accuracy, color("majority"))]
    stats = {(name, s): fn(table.subset(size_of == s), ks) for name, fn, _ in curves for s in sizes}
    return ks, curves, stats


def budget_explorer(table: SampleTable, *, sizes: tuple[int, ...] = (3, 4, 5), start: int = 8):
    """A slider over the samples per problem k: coverage and majority vote by problem size.

    Returns the widget; display it as the last expression of a cell.
    """
    import ipywidgets as widgets

    ks, curves, stats = _budget_bars(table, sizes)

    def draw(k: int) -> None:
        j = ks.index(k)
        fig, ax = plt.subplots(figsize=(5.6, 3.2))
        x = np.arange(len(sizes))
        for offset, (name, _, colour) in enumerate(curves):
            mean, low, high = (np.array([stats[name, s][key][j] for s in sizes]) for key in ("mean", "low", "high"))
            ax.bar(x + (offset - 0.5) * 0.38, mean, width=0.38, yerr=[mean - low, high - mean], capsize=3, color=colour, label=name)
        ax.set_xticks(x, [f"{s} numbers" for s in sizes])
        accuracy_axes(ax)
        ax.set_title(f"k = {k} samples per problem")
        ax.legend(loc="upper right")
        plt.show()

    slider = widgets.SelectionSlider(options=ks, value=start if start in ks else ks[0], description="samples k")
    return widgets.interactive(draw, k=slider)


def budget_twin(table: SampleTable, *, sizes: tuple[int, ...] = (3, 4, 5), start: int = 8):
    """`budget_explorer` for the static page: the same bars (coverage and majority vote by
    problem size, 95 % intervals) for every k, with a slider over k."""
    from tsc.viz import interactive as iv

    ks, curves, stats = _budget_bars(table, sizes)
    labels = [f"{s} numbers" for s in sizes]

    def draw(k: int) -> dict:
        j = ks.index(k)
        traces = []
        for name, _, colour in curves:
            cells = [stats[name, s] for s in sizes]
            mean, low, high = ([c[key][j] for c in cells] for key in ("mean", "low", "high"))
            traces.append(iv.bars(labels, mean, low=low, high=high, name=name, color=colour))
        return {"data": traces, "layout": {"title": {"text": f"k = {k} samples per problem"}}}

    return iv.explorer(
        draw,
        iv.Slider("samples per problem, k", ks, start=start if start in ks else ks[0]),
        layout=iv.axes("problem size", "problems solved", percent=True),
        caption="Coverage (an oracle picks any correct sample) and majority vote over k samples, by problem size, "
        "with 95% bootstrap intervals over problems.",
    )
