"""One colour per strategy, verifier and model for the whole book.

A reader who has learnt in Chapter 1 that majority voting is red should find it red in
Chapter 6. Figures look their colours up here by the name of what they draw (`color`), so
the same thing has the same colour in every chapter, whatever else shares the figure.
"""

from __future__ import annotations

from tsc.strategies import STRATEGIES

# Strategies: each registry entry's colour (`tsc.strategies.Strategy.color`), and the ceiling.
STRATEGY_COLORS: dict[str, str] = {
    "oracle": "#7f7f7f",  # coverage: the ceiling, always grey (dotted)
    **{name: strategy.color for name, strategy in STRATEGIES.items()},
}

# Verifiers (a strategy's verifier is drawn in the strategy's colour; these are for
# figures that compare verifiers with one another).
VERIFIER_COLORS: dict[str, str] = {
    "oracle": "#7f7f7f",
    "step_oracle": "#7f7f7f",
    "prm": "#2e933c",
    "prm_min": "#145a32",  # dark green: the same PRM, scored by its weakest step
    "orm": "#1f5aa6",
    "self": "#66458f",
}

# The Countdown family, smallest to largest: light to dark.
MODEL_COLORS: dict[str, str] = {
    "countdown-xs": "#9ecae1",
    "countdown-s": "#6baed6",
    "countdown-m": "#3182bd",
    "countdown": "#08519c",
}

# Problem sizes (Countdown's difficulty dial).
SIZE_COLORS: dict[int, str] = {3: "#74c476", 4: "#fd8d3c", 5: "#9e0142"}

ALIASES = {
    "majority_vote": "majority",
    "best-of-n": "best_of_n",
    "bon": "best_of_n",
    "beam_search": "beam",
    "coverage": "oracle",
}


def color(name: str | int) -> str:
    """The colour of a strategy, verifier, model or problem size, by name (a strategy's
    registered name, e.g. ``"beam"``, ``"majority"``; a verifier ``"prm"``; a model
    ``"countdown-s"``; a size 3, 4 or 5). Unknown names raise a ValueError that lists the
    known ones."""
    if isinstance(name, int) and name in SIZE_COLORS:
        return SIZE_COLORS[name]
    key = ALIASES.get(str(name), str(name))
    for table in (STRATEGY_COLORS, VERIFIER_COLORS, MODEL_COLORS):
        if key in table:
            return table[key]
    known = sorted(set(STRATEGY_COLORS) | set(VERIFIER_COLORS) | set(MODEL_COLORS))
    raise ValueError(f"no colour for {name!r}; known: {', '.join(known)}, and the sizes 3, 4, 5")
