"""Draw a search tree, and step through a search node by node.

Every tree search in `tsc.strategies.search` records its tree in ``result.trace["tree"]``: one
dict per node, in the order the search created them (a child always after its parent). This
module turns that list into a picture: the root (the prompt) at the top, one row per step
below it, so a reader sees which branches the search grew, which it pruned, which died and
which path became the answer. `tree_viewer` adds a slider over the node ids, so the same
picture can be replayed as the search grew it.

Only the trace is read, never the model: the pictures are cheap, and a hand-written list of
node dicts (``id`` and ``parent`` at least) draws as well as a real search.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable

import matplotlib.pyplot as plt
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, Normalize, to_rgba
from matplotlib.lines import Line2D

from tsc.core import Result
from tsc.viz import PALETTE

TEXT_LIMIT = 40  # write each node's step next to it only in trees this small (beyond, the words overlap)
TEXT_CHARS = 12  # the longest step written in full; longer ones are cut with an ellipsis
LABELS = ("score", "value", "prior")  # the numbers a node's colour can show
GREY, INK = "#9a9a9a", "#333333"
# low scores red, high scores blue (the book's first two colours), through a light middle
CMAP = LinearSegmentedColormap.from_list("tsc_score", [PALETTE[1], "#f4efe6", PALETTE[0]])

Node = dict  # one entry of trace["tree"] (a plain dict, not `tsc.strategies.search.Node`)


# --- reading a trace ------------------------------------------------------------------------


def tree_nodes(source) -> list[Node]:
    """The node dicts of ``source``: a `Result` of a tree search, its ``trace`` dict, or the
    ``trace["tree"]`` list itself. Checked so that a wrong argument fails here, with a
    message, rather than deep inside matplotlib."""
    nodes = _node_list(source)
    if not nodes:
        raise ValueError("the search tree is empty: it needs at least its root node")
    for node in nodes:
        if not isinstance(node, dict) or "id" not in node or "parent" not in node:
            raise ValueError(f"every node of a search tree must be a dict with 'id' and 'parent', got {node!r:.80}")
    ids = [n["id"] for n in nodes]
    if len(set(ids)) != len(ids):
        raise ValueError("node ids of a search tree must be distinct")
    roots = [n for n in nodes if n["parent"] is None]
    if len(roots) != 1:
        raise ValueError(f"a search tree has exactly one root (parent None), got {len(roots)}")
    unknown = [n["id"] for n in nodes if n["parent"] is not None and n["parent"] not in set(ids)]
    if unknown:
        raise ValueError(f"nodes {unknown[:5]} name a parent that is not in the tree")
    return list(nodes)


def _node_list(source) -> list:
    """The raw node list of a Result, a trace dict or a list (a TypeError for anything else)."""
    if isinstance(source, Result):
        if "tree" not in source.trace:
            raise ValueError(f"this Result ({source.strategy or 'no strategy'}) has no trace['tree']: only tree searches record one")
        return source.trace["tree"]
    if isinstance(source, dict):
        if "tree" not in source:
            raise ValueError("a trace dict must hold the node list under 'tree'")
        return source["tree"]
    if isinstance(source, list | tuple):
        return list(source)
    raise TypeError(f"expected a tree-search Result, its trace dict or its trace['tree'] list, got {type(source).__name__}")


def _is_mcts(source, nodes: list[Node]) -> bool:
    """Whether the tree comes from MCTS, whose ``value`` (mean backed-up value) is meaningful.

    DFS counts visits too but backs up no value, so visits alone cannot tell. A bare node list
    carries no strategy name: there, any nonzero value means MCTS."""
    if isinstance(source, Result):
        return source.strategy == "mcts"
    if isinstance(source, dict) and "simulations" in source:
        return True
    return any(n.get("value") for n in nodes)


def _children(nodes: list[Node]) -> dict:
    """Each node id's children ids, in creation (id) order."""
    kids: dict = {n["id"]: [] for n in nodes}
    for n in sorted(nodes, key=lambda n: n["id"]):
        if n["parent"] is not None:
            kids[n["parent"]].append(n["id"])
    return kids


# --- layout ---------------------------------------------------------------------------------


def tree_layout(source) -> dict:
    """Positions ``{id: (x, y)}``: ``y = -depth`` (root on top), leaves on consecutive x slots
    ``0, 1, 2, ...`` in depth-first order, each parent centred over its children's x range.

    A simple tidy layout: no two subtrees overlap and siblings stay in the order the search
    sampled them. Iterative (no recursion limit), and it raises a ValueError for nodes the
    root does not reach (a cycle of parents)."""
    nodes = tree_nodes(source)
    kids = _children(nodes)
    root = next(n["id"] for n in nodes if n["parent"] is None)
    pos: dict = {}
    slot = 0
    stack = [(root, 0, False)]
    while stack:
        node, depth, placed_kids = stack.pop()
        if not kids[node]:
            pos[node], slot = (float(slot), -float(depth)), slot + 1
        elif placed_kids:
            xs = [pos[k][0] for k in kids[node]]
            pos[node] = ((min(xs) + max(xs)) / 2, -float(depth))
        else:
            stack.append((node, depth, True))
            stack += [(k, depth + 1, False) for k in reversed(kids[node])]
    if len(pos) != len(nodes):
        raise ValueError("some nodes are not connected to the root (their parents form a cycle)")
    return pos


# --- drawing --------------------------------------------------------------------------------


def _colour_number(node: Node, label: str, mcts: bool) -> float | None:
    """The number that colours ``node``: its verifier score, or MCTS's backed-up value once the
    node was visited (the estimate the search itself acted on)."""
    if label == "score" and mcts and node.get("visits", 0) > 0:
        label = "value"
    x = node.get(label)
    return float(x) if isinstance(x, numbers.Real) and not isinstance(x, bool) and math.isfinite(x) else None


def _norm(nodes: list[Node], label: str, mcts: bool) -> Normalize:
    """A colour scale covering 0..1 and every number in the whole tree (stable while stepping)."""
    xs = [x for n in nodes if (x := _colour_number(n, label, mcts)) is not None]
    return Normalize(min([0.0, *xs]), max([1.0, *xs]))


def _size(node: Node, mcts: bool, big: bool) -> float:
    """Marker area: grows with MCTS visits (elsewhere with how many samples proposed the step)."""
    weight = max(1, node.get("visits", 0) if mcts else node.get("count", 1))
    return (14 if big else 30) * (1 + math.log2(weight))


def _short(step: str) -> str:
    """A step as written next to its node: cut to TEXT_CHARS, an empty one shown as ''."""
    if not step:
        return "''"
    return step if len(step) <= TEXT_CHARS else step[: TEXT_CHARS - 1] + "…"


def _edges(ax, nodes: list[Node], pos: dict) -> int:
    """Thin grey edges to every drawn node; thick dark ones along the chosen path. Returns the
    number of thick edges."""
    chosen = {n["id"] for n in nodes if n.get("chosen")}
    thin, thick = [], []
    for n in nodes:
        if n["parent"] in pos:
            segment = [pos[n["parent"]], pos[n["id"]]]
            (thick if n["id"] in chosen and n["parent"] in chosen else thin).append(segment)
    ax.add_collection(LineCollection(thin, colors=GREY, linewidths=0.8, zorder=1))
    ax.add_collection(LineCollection(thick, colors=INK, linewidths=3.0, zorder=2))
    return len(thick)


def _verdict_colour(node: Node, correct: Callable[[str], bool] | None) -> str | None:
    """A finished leaf's ring: green if ``correct`` accepts its text, red if not; None for
    other nodes, or when there is no ``correct`` to ask (the trace alone cannot tell)."""
    if correct is None or not node.get("finished"):
        return None
    return PALETTE[2] if correct(node.get("text", "")) else PALETTE[1]


def _nodes(ax, nodes: list[Node], pos: dict, *, label: str, mcts: bool, norm: Normalize, big: bool) -> None:
    """The markers: circles for partial solutions, squares for finished ones, grey crosses for
    dead branches; nodes the search did not keep (pruned) are faded."""
    groups: dict[str, list] = {"o": [], "s": [], "x": []}
    for n in nodes:
        marker = "x" if n.get("dead") else "s" if n.get("finished") else "o"
        alpha = 1.0 if n.get("kept", True) or n["parent"] is None or marker == "x" else 0.45
        x = _colour_number(n, label, mcts)
        face = GREY if marker == "x" else "white" if x is None else CMAP(norm(x))
        groups[marker].append((pos[n["id"]], _size(n, mcts, big), to_rgba(face, alpha), to_rgba(INK, alpha)))
    for marker, points in groups.items():
        if points:
            xy, sizes, faces, edges = zip(*points)
            if marker == "x":
                ax.scatter(*zip(*xy), s=sizes, marker="x", c=faces, linewidths=1.5, zorder=3)
            else:
                ax.scatter(*zip(*xy), s=sizes, marker=marker, c=faces, edgecolors=edges, linewidths=0.8, zorder=3)


def _verdicts(ax, nodes: list[Node], pos: dict, *, mcts: bool, big: bool, correct) -> None:
    """A green (right) or red (wrong) ring around each finished leaf, apart from its fill colour."""
    rings = [(pos[n["id"]], 2.6 * _size(n, mcts, big), c) for n in nodes if (c := _verdict_colour(n, correct))]
    if rings:
        xy, sizes, colours = zip(*rings)
        ax.scatter(*zip(*xy), s=sizes, marker="s", facecolors="none", edgecolors=colours, linewidths=1.6, zorder=3)


def _texts(ax, nodes: list[Node], pos: dict, completed: str | None) -> None:
    """Each node's step next to it; what the policy appended to an unfinished answer, if any."""
    for n in nodes:
        text = "prompt" if n["parent"] is None else _short(n.get("step", ""))
        ax.annotate(text, pos[n["id"]], xytext=(5, 0), textcoords="offset points", fontsize=6.5, va="center", color=INK)
    ends = [n for n in nodes if n.get("chosen")]
    if completed and ends:
        end = max(ends, key=lambda n: -pos[n["id"]][1])
        note = f"+ policy: {_short(completed)}"
        ax.annotate(note, pos[end["id"]], xytext=(5, -9), textcoords="offset points", fontsize=6.5, va="center", color=PALETTE[4])


def _legend(ax, *, label: str, mcts: bool, norm: Normalize, correct) -> None:
    """A colourbar-free key below the axes (never over the tree): the two ends of the colour
    scale and the marker kinds."""
    name = "value (score if unvisited)" if label == "score" and mcts else label
    dot = lambda colour, text, marker="o", edge=INK: Line2D(
        [], [], marker=marker, linestyle="", markerfacecolor=colour, markeredgecolor=edge, color=edge, label=text
    )
    handles = [
        dot(CMAP(0.0), f"{name} {norm.vmin:g}"),
        dot(CMAP(1.0), f"{name} {norm.vmax:g}"),
        dot("white", "finished", "s"),
        dot(GREY, "dead branch", "x", GREY),
        Line2D([], [], color=INK, linewidth=3.0, label="chosen path"),
    ]
    if correct is not None:
        handles += [dot("none", "right answer", "s", PALETTE[2]), dot("none", "wrong answer", "s", PALETTE[1])]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=4, fontsize=7, handlelength=1.6)


def _frame(ax, full: dict, *, text: bool, title: str) -> None:
    """Axes that fit the whole tree (so they stay still while stepping): one row per depth."""
    xs, ys = [p[0] for p in full.values()], [p[1] for p in full.values()]
    ax.set_xlim(min(xs) - 0.6, max(xs) + (1.6 if text else 0.6))
    ax.set_ylim(min(ys) - 0.5, max(ys) + 0.6)
    depths = sorted({-int(y) for y in ys})
    ax.set_yticks([-d for d in depths], [str(d) for d in depths])
    ax.set_ylabel("depth (steps)")
    ax.set_xticks([])
    ax.grid(False)
    for side in ("top", "right", "bottom"):
        ax.spines[side].set_visible(False)
    ax.set_title(title, fontsize=10)


def draw_tree(
    ax,
    result_or_trace,
    *,
    upto: int | None = None,
    label: str = "score",
    correct: Callable[[str], bool] | None = None,
) -> dict:
    """Draw a search tree on ``ax``: root on top, one row per depth, the answer's path thick.

    ``result_or_trace`` is a tree search's `Result`, its ``trace`` or ``trace["tree"]``.
    Node colour shows ``label`` (``"score"``: the verifier's score, or MCTS's backed-up
    value once visited; ``"value"``; ``"prior"``) from red (low) to blue (high); size grows
    with MCTS visits (or the samples that proposed the step); squares are finished
    solutions, grey crosses dead branches, faded nodes ones the search pruned. ``correct``
    (text -> bool, e.g. ``problem.check``) rings finished leaves green (right) or red
    (wrong): the trace alone cannot tell. ``upto`` draws only nodes with ``id <= upto``:
    ids follow the search, so this replays it (the axes fit the whole tree throughout, and
    the answer's path is drawn thick as far as it is drawn). Steps are written next to
    their nodes in trees of at most ``TEXT_LIMIT`` nodes; the key sits below the axes.

    Returns ``{"positions": {id: (x, y)} of the drawn nodes, "chosen": drawn ids on the
    answer's path, "thick_edges": how many edges of that path were drawn}``.
    """
    nodes = tree_nodes(result_or_trace)
    if label not in LABELS:
        raise ValueError(f"label must be one of {', '.join(map(repr, LABELS))}, got {label!r}")
    if correct is not None and not callable(correct):
        raise TypeError(f"correct must be a function text -> bool, got {type(correct).__name__}")
    full = tree_layout(nodes)
    shown = _upto(nodes, upto)
    pos = {n["id"]: full[n["id"]] for n in shown}
    mcts = _is_mcts(result_or_trace, nodes)
    norm, text = _norm(nodes, label, mcts), len(nodes) <= TEXT_LIMIT
    thick = _edges(ax, shown, pos)
    big = len(nodes) > TEXT_LIMIT
    _nodes(ax, shown, pos, label=label, mcts=mcts, norm=norm, big=big)
    _verdicts(ax, shown, pos, mcts=mcts, big=big, correct=correct)
    if text:
        whole = upto is None or upto >= max(full)
        _texts(ax, shown, pos, _trace_of(result_or_trace).get("completed") if whole else None)
    _frame(ax, full, text=text, title=_title(result_or_trace, len(shown), len(nodes)))
    _legend(ax, label=label, mcts=mcts, norm=norm, correct=correct)
    return {"positions": pos, "chosen": [n["id"] for n in shown if n.get("chosen")], "thick_edges": thick}


def _upto(nodes: list[Node], upto: int | None) -> list[Node]:
    """The nodes created up to id ``upto`` (all of them for None)."""
    if upto is None:
        return nodes
    if isinstance(upto, bool) or not isinstance(upto, int):
        raise TypeError(f"upto must be a node id (an integer) or None, got {upto!r}")
    first = min(n["id"] for n in nodes)
    if upto < first:
        raise ValueError(f"upto must be at least the first node id ({first}), got {upto}")
    return [n for n in nodes if n["id"] <= upto]


def _trace_of(source) -> dict:
    """The trace dict behind ``source`` (empty for a bare node list)."""
    return source.trace if isinstance(source, Result) else source if isinstance(source, dict) else {}


def _title(source, shown: int, total: int) -> str:
    name = source.strategy if isinstance(source, Result) and source.strategy else "search"
    return f"{name} tree: {total} nodes" if shown == total else f"{name} tree: {shown} of {total} nodes"


# --- the viewer -----------------------------------------------------------------------------


def describe_node(node: Node) -> str:
    """One line about a node for the viewer: its step, score, visits and fate."""
    score = node.get("score")
    parts = [
        f"node {node['id']}",
        f"depth {node.get('depth', '?')}",
        "the prompt" if node["parent"] is None else f"step {node.get('step', '')!r}",
        "unscored" if score is None else f"score {score:.2f}",
        f"visits {node.get('visits', 0)}",
    ]
    fate = [word for key, word in (("finished", "finished"), ("dead", "dead"), ("chosen", "on the answer's path")) if node.get(key)]
    return " · ".join(parts + fate)


def _figsize(full: dict) -> tuple[float, float]:
    """A figure wide enough for the leaves and tall enough for the depths (and the key below)."""
    leaves = max(p[0] for p in full.values()) + 1
    depth = -min(p[1] for p in full.values())
    return (min(16.0, max(6.4, 0.55 * leaves + 2.0)), min(10.0, max(3.6, 1.1 * (depth + 1) + 0.6)))


def tree_viewer(result, *, correct: Callable[[str], bool] | None = None, label: str = "score"):
    """Step through a search: a slider (with a play button) over node ids redraws the tree up
    to that node, and a line describes the newest node. Returns an ipywidgets VBox; display
    it as the last expression of a cell (Jupyter or Colab)."""
    try:
        import ipywidgets as widgets
    except ImportError as error:
        raise ImportError("tree_viewer needs ipywidgets (pip install ipywidgets); draw_tree draws a still picture without it") from error
    from tsc.viz.widgets import show_figure

    nodes = tree_nodes(result)
    by_id = {n["id"]: n for n in nodes}
    ids = sorted(by_id)
    size = _figsize(tree_layout(nodes))
    slider = widgets.IntSlider(value=ids[-1], min=ids[0], max=ids[-1], description="node", continuous_update=False)
    play = widgets.Play(value=ids[-1], min=ids[0], max=ids[-1], interval=600, description="replay the search")
    widgets.jslink((play, "value"), (slider, "value"))
    out, line = widgets.Output(), widgets.Label()

    def redraw(change=None) -> None:
        upto = slider.value
        line.value = describe_node(by_id[max(i for i in ids if i <= upto)])
        fig, ax = plt.subplots(figsize=size)
        draw_tree(ax, result, upto=upto, label=label, correct=correct)
        fig.tight_layout()  # room for the key below the axes
        show_figure(out, fig)

    slider.observe(redraw, names="value")
    redraw()
    return widgets.VBox([widgets.HBox([play, slider]), line, out])


def replay_twin(result, *, correct: Callable[[str], bool] | None = None, label: str = "score"):
    """`tree_viewer` for the static page: a slider over the node ids redraws the tree as the
    search grew it (the same layout, colours and marks as `draw_tree`; hover a node for
    `describe_node`)."""
    from matplotlib.colors import to_hex

    from tsc.viz import interactive as iv

    nodes = tree_nodes(result)
    mcts = _is_mcts(result, nodes)
    pos, norm = tree_layout(nodes), _norm(nodes, label, mcts)
    ids = sorted(n["id"] for n in nodes)
    text = len(nodes) <= TEXT_LIMIT
    scale = [[0.0, to_hex(CMAP(0.0))], [0.5, to_hex(CMAP(0.5))], [1.0, to_hex(CMAP(1.0))]]
    symbols = {"o": "circle", "s": "square", "x": "x"}

    def edges(shown: list[Node], thick: bool) -> dict:
        chosen = {n["id"] for n in shown if n.get("chosen")}
        xs, ys = [], []
        for n in shown:
            if n["parent"] is not None and (n["id"] in chosen and n["parent"] in chosen) == thick:
                (x0, y0), (x1, y1) = pos[n["parent"]], pos[n["id"]]
                xs += [x0, x1, None]
                ys += [y0, y1, None]
        width, colour = (3.0, INK) if thick else (0.8, GREY)
        name = "chosen path" if thick else "edges"
        return {"type": "scatter", "mode": "lines", "x": xs, "y": ys, "name": name, "line": {"color": colour, "width": width},
                "hoverinfo": "skip", "showlegend": thick}  # fmt: skip

    def draw(upto: int) -> dict:
        shown = _upto(nodes, upto)
        traces = [edges(shown, False), edges(shown, True)]
        for marker, name in (("o", "partial solution"), ("s", "finished"), ("x", "dead branch")):
            group = [n for n in shown if ("x" if n.get("dead") else "s" if n.get("finished") else "o") == marker]
            if not group:
                continue
            values = [_colour_number(n, label, mcts) for n in group]
            line_colours = [(_verdict_colour(n, correct) or INK) for n in group]
            trace = {
                "type": "scatter",
                "mode": "markers+text" if text else "markers",
                "x": [pos[n["id"]][0] for n in group],
                "y": [pos[n["id"]][1] for n in group],
                "name": name,
                "hovertext": [describe_node(n) for n in group],
                "hoverinfo": "text",
                "marker": {
                    "symbol": symbols[marker],
                    "size": [6 * math.sqrt(_size(n, mcts, not text) / 14) + 4 for n in group],
                    "color": [norm.vmin if v is None else v for v in values] if marker != "x" else GREY,
                    "line": {"color": line_colours, "width": [2.2 if _verdict_colour(n, correct) else 0.8 for n in group]},
                    "opacity": [1.0 if n.get("kept", True) or n["parent"] is None else 0.45 for n in group],
                },
            }
            if marker != "x":
                trace["marker"].update(colorscale=scale, cmin=norm.vmin, cmax=norm.vmax)
            if text:
                trace.update(text=["prompt" if n["parent"] is None else _short(n.get("step", "")) for n in group],
                             textposition="middle right", textfont={"size": 9, "color": INK})  # fmt: skip
            traces.append(trace)
        return {"data": traces, "layout": {"title": {"text": _title(result, len(shown), len(nodes)) + f", up to node {upto}"}}}

    xs, ys = [p[0] for p in pos.values()], [p[1] for p in pos.values()]
    depths = sorted({-int(y) for y in ys})
    layout = iv.axes("", "depth (steps)") | {
        "xaxis": {"visible": False, "range": [min(xs) - 0.6, max(xs) + (1.6 if text else 0.6)]},
        "yaxis": {
            "title": {"text": "depth (steps)"},
            "tickvals": [-d for d in depths],
            "ticktext": [str(d) for d in depths],
            "range": [min(ys) - 0.5, max(ys) + 0.6],
            "zeroline": False,
        },  # fmt: skip
        "hovermode": "closest",
    }
    ring = "; squares ringed green or red: right or wrong answers" if correct is not None else ""
    return iv.explorer(
        draw,
        iv.Slider("replay up to node", ids, start=ids[-1]),
        layout=layout,
        height=int(100 * _figsize(pos)[1]) + 60,
        caption=f"Colour: the node's {label} (red low, blue high); squares: finished solutions{ring}; x: dead branches; "
        "faded: not kept. Hover a node for its step and score.",
    )
