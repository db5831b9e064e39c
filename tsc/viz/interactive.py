"""Figures that move in the static HTML book: every state computed in Python, drawn by Plotly.js.

An ipywidgets explorer needs a running kernel, so the built book shows only its first view.
Its twin here computes every state in advance (``draw`` called on each combination of the
controls' values) and writes them into the page with a slider or menu per control; moving one
redraws the figure with Plotly.js, which the book serves from its own ``_static`` folder (copied
from the pinned ``plotly`` package by the `setup` Sphinx hook below: no CDN, works offline).
Nothing is computed in the browser: what a slider shows is what Python computed.

A figure is a Plotly figure as plain data (``{"data": [...], "layout": {...}}``); `bars` and
`lines` build the traces the book uses (with error bars for intervals). In Jupyter, JupyterLab
or Colab, where the page has no ``_static``, the cell shows a note pointing to the explorer above
it (the ipywidgets one) instead of an empty box.
"""

from __future__ import annotations

import html
import itertools
import json
import math
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

# Where the chapter pages (book/*.html) find Plotly.js in the built site.
PLOTLY_SRC = "../_static/plotly.min.js"
MAX_STATES = 4000  # a page carries every state: keep it to a few hundred kilobytes


@dataclass(frozen=True)
class Slider:
    """A control that steps through ``values`` (numbers or names), shown as ``label``."""

    label: str
    values: Sequence
    start: object = None
    format: Callable[[object], str] = str

    def labels(self) -> list[str]:
        return [self.format(v) for v in self.values]

    def start_index(self) -> int:
        return 0 if self.start is None else list(self.values).index(self.start)


@dataclass(frozen=True)
class Menu(Slider):
    """A control that picks one of ``values`` from a drop-down menu."""


@dataclass(frozen=True)
class Explorer:
    """Every state of a figure, ready to be written into a page (`html`). Displayed as the
    last expression of a cell, it shows itself."""

    controls: tuple[Slider, ...]
    states: dict[str, dict]
    layout: dict = field(default_factory=dict)
    caption: str = ""
    height: int = 340

    def state(self, *indices: int) -> dict:
        """The figure shown when control i is at its ``indices[i]``-th value."""
        return self.states[",".join(map(str, indices))]

    def html(self) -> str:
        uid = f"tsc-explorer-{uuid.uuid4().hex[:12]}"
        rows = []
        for number, control in enumerate(self.controls):
            labels, start = control.labels(), control.start_index()
            name = html.escape(control.label)
            if isinstance(control, Menu):
                options = "".join(
                    f'<option value="{i}"{" selected" if i == start else ""}>{html.escape(label)}</option>'
                    for i, label in enumerate(labels)
                )
                widget = f'<select data-control="{number}" aria-label="{name}">{options}</select>'
            else:
                widget = (
                    f'<input type="range" data-control="{number}" min="0" max="{len(labels) - 1}" step="1" value="{start}"'
                    f' aria-label="{name}"><output>{html.escape(labels[start])}</output>'
                )
            rows.append(f'<label class="tsc-explorer-control"><span>{name}</span> {widget}</label>')
        spec = {"labels": [c.labels() for c in self.controls], "layout": self.layout, "states": self.states}
        payload = json.dumps(spec, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
        caption = f'<p class="tsc-explorer-caption">{html.escape(self.caption)}</p>' if self.caption else ""
        return f"""<div class="tsc-explorer" id="{uid}">
<style>#{uid} .tsc-explorer-control {{ display: inline-flex; align-items: center; gap: 0.4em; margin: 0 1.2em 0.3em 0; font-size: 0.9em; }}
#{uid} input[type=range] {{ width: 12em; }} #{uid} output {{ min-width: 3em; font-variant-numeric: tabular-nums; }}
#{uid} .tsc-explorer-caption {{ font-size: 0.85em; color: #555; margin: 0.2em 0 0; }}</style>
<div class="tsc-explorer-controls">{"".join(rows)}</div>
<div class="tsc-explorer-figure" style="height: {self.height}px"></div>
<p class="tsc-explorer-note" hidden>This figure moves in the book's HTML edition. Here, use the explorer in the cell above.</p>
{caption}
<script type="application/json" class="tsc-explorer-states">{payload}</script>
<script>(function () {{
  const root = document.getElementById("{uid}");
  const spec = JSON.parse(root.querySelector("script.tsc-explorer-states").textContent);
  const inputs = Array.from(root.querySelectorAll("[data-control]"));
  const figure = root.querySelector(".tsc-explorer-figure");
  window.tscPlotly = window.tscPlotly || new Promise(function (resolve) {{
    if (window.Plotly) {{ resolve(window.Plotly); return; }}
    const script = document.createElement("script");
    script.src = "{PLOTLY_SRC}";
    script.onload = function () {{ resolve(window.Plotly || null); }};
    script.onerror = function () {{ resolve(null); }};
    document.head.appendChild(script);
  }});
  window.tscPlotly.then(function (Plotly) {{
    if (!Plotly) {{ root.querySelector(".tsc-explorer-note").hidden = false; figure.hidden = true; root.dataset.failed = "1"; return; }}
    function show() {{
      const key = inputs.map(function (i) {{ return i.value; }}).join(",");
      inputs.forEach(function (i) {{
        const out = i.parentNode.querySelector("output");
        if (out) out.textContent = spec.labels[+i.dataset.control][+i.value];
      }});
      const state = spec.states[key];
      const layout = Object.assign({{}}, spec.layout, state.layout || {{}});
      const options = {{displayModeBar: false, responsive: true}};
      Plotly.react(figure, state.data, layout, options).then(function () {{ root.dataset.shown = key; }});
    }}
    inputs.forEach(function (i) {{ i.addEventListener("input", show); i.addEventListener("change", show); }});
    show();
  }});
}})();</script>
</div>"""

    def _repr_mimebundle_(self, include=None, exclude=None) -> dict:
        start = ", ".join(f"{c.label} = {c.labels()[c.start_index()]}" for c in self.controls)
        return {"text/html": self.html(), "text/plain": f"<an explorer over {len(self.states)} states; {start}>"}


def explorer(
    draw: Callable[..., dict],
    *controls: Slider,
    layout: dict | None = None,
    caption: str = "",
    height: int = 340,
) -> Explorer:
    """Call ``draw(value_1, value_2, ...)`` on every combination of the controls' values and
    keep each figure (``{"data": [...], "layout": {...}}``; ``layout`` holds what all of them
    share). A ValueError names a control without values, too many states, or a figure whose
    numbers are not finite (the page would show them as nan)."""
    if not controls:
        raise ValueError("an explorer needs at least one control (a Slider or a Menu)")
    for control in controls:
        if not len(control.values):
            raise ValueError(f"the control {control.label!r} has no values")
    count = math.prod(len(c.values) for c in controls)
    if count > MAX_STATES:
        raise ValueError(f"{count} states are too many for one page (at most {MAX_STATES}): use fewer values per control")
    states = {}
    for indices in itertools.product(*(range(len(c.values)) for c in controls)):
        figure = draw(*(c.values[i] for c, i in zip(controls, indices)))
        try:
            json.dumps(figure, allow_nan=False)
        except ValueError:
            values = dict(zip((c.label for c in controls), (c.values[i] for c, i in zip(controls, indices))))
            raise ValueError(f"the figure at {values} holds a number that is not finite (nan or inf)") from None
        states[",".join(map(str, indices))] = {"data": figure.get("data", []), "layout": figure.get("layout", {})}
    return Explorer(tuple(controls), states, dict(layout or {}), caption, height)


# --- traces and axes, as Plotly data ------------------------------------------------------------


def _finite(values) -> list:
    return [None if v is None or not math.isfinite(float(v)) else float(f"{float(v):.4g}") for v in values]


def _errors(y, low, high) -> dict | None:
    if low is None or high is None:
        return None
    up = [h - m for m, h in zip(y, high)]
    down = [m - lo for m, lo in zip(y, low)]
    return {"type": "data", "symmetric": False, "array": _finite(up), "arrayminus": _finite(down), "thickness": 1.2, "width": 4}


def bars(x: Sequence, y: Sequence[float], *, name: str, color: str, low=None, high=None, text: Sequence[str] | None = None) -> dict:
    """A bar trace, with the interval [low, high] as error bars when given."""
    trace = {"type": "bar", "x": list(x), "y": _finite(y), "name": name, "marker": {"color": color}}
    if (errors := _errors(list(y), low, high)) is not None:
        trace["error_y"] = errors
    if text is not None:
        trace.update(text=list(text), textposition="outside", cliponaxis=False)
    return trace


def lines(x: Sequence, y: Sequence[float], *, name: str, color: str, low=None, high=None, dash: str = "solid") -> dict:
    """A line with markers, with the interval [low, high] as error bars when given."""
    trace = {
        "type": "scatter",
        "mode": "lines+markers",
        "x": list(x),
        "y": _finite(y),
        "name": name,
        "line": {"color": color, "dash": dash},
        "marker": {"color": color, "size": 6},
    }
    if (errors := _errors(list(y), low, high)) is not None:
        trace["error_y"] = errors | {"color": color}
    return trace


def axes(x: str, y: str, *, percent: bool = False, x_log: bool = False, y_range: Sequence[float] | None = None, **more) -> dict:
    """The layout every state of a figure shares: axis titles (with their units), a percent or
    log scale, the book's font and margins, the legend on top."""
    yaxis = {"title": {"text": y}, "zeroline": False}
    if percent:
        yaxis.update(tickformat=".0%", range=list(y_range or (0, 1.05)))
    elif y_range is not None:
        yaxis["range"] = list(y_range)
    layout = {
        "xaxis": {"title": {"text": x}, **({"type": "log"} if x_log else {})},
        "yaxis": yaxis,
        "margin": {"l": 60, "r": 20, "t": 40, "b": 50},
        "font": {"family": "DejaVu Sans, Helvetica, Arial, sans-serif", "size": 12},
        "legend": {"orientation": "h", "y": 1.12, "x": 0},
        "barmode": "group",
        "template": "none",
    }
    layout.update(more)
    return layout


# --- the Sphinx hook: Plotly.js into the built site -----------------------------------------------


def plotly_js() -> Path:
    """plotly.min.js as the pinned ``plotly`` package ships it."""
    try:
        import plotly
    except ImportError as error:
        raise ImportError("the book's moving figures need the plotly package (pip install -r requirements.txt)") from error
    return Path(plotly.__file__).parent / "package_data" / "plotly.min.js"


def setup(app) -> dict:
    """Sphinx extension (``tsc.viz.interactive`` in _config.yml): copy Plotly.js into
    ``_static`` once the HTML is written, where the explorers load it from; and keep the
    explorers' Output widgets from stalling the chapters' execution (`tsc.grade.wake_after_widget_sends`)."""
    from tsc.grade import wake_after_widget_sends

    wake_after_widget_sends()

    def copy(app, error) -> None:
        if error is None and app.builder.format == "html":
            import shutil

            target = Path(app.outdir) / "_static" / "plotly.min.js"
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(plotly_js(), target)

    app.connect("build-finished", copy)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
