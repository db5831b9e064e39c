"""Small helpers the chapter notebooks share: pasting numbers into the prose, and writing them.

In the book build, myst-nb's ``glue`` stores a value under a name and the prose shows it with
``{glue:text}`name```. In plain Jupyter or Colab there is no build, so ``glue`` falls back to
displaying the value (or to nothing, with ``display=False``): the notebook still runs.
"""

from __future__ import annotations

try:
    from myst_nb import glue  # the book build pastes glued values into the prose
except ImportError:  # plain Jupyter or Colab: glue only shows the value

    def glue(name: str, value, display: bool = True) -> None:
        """Show ``value`` (the book build would also store it as ``name``)."""
        if display:
            from IPython.display import display as show

            show(value)


SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(x: float, digits: int = 1) -> str:
    """``x`` as text in scientific notation, e.g. ``3.0 × 10¹³`` (for numbers in the prose)."""
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return f"{mantissa} × 10" + str(int(exponent)).translate(SUPERSCRIPTS)


def setup() -> None:
    """The book's plotting style, a fixed torch seed, and no download progress bars."""
    import torch
    import transformers

    import tsc.viz

    tsc.viz.use_style()
    torch.manual_seed(0)
    transformers.utils.logging.disable_progress_bar()


__all__ = ["glue", "sci", "setup"]
