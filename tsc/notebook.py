"""Small helpers the chapter notebooks share: pasting numbers into the prose, and writing them.

In the book build, myst-nb's ``glue`` stores a value under a name and the prose shows it with
``{glue:text}`name```. In plain Jupyter or Colab there is no build, so ``glue`` falls back to
displaying the value (or to nothing, with ``display=False``): the notebook still runs.
"""

from __future__ import annotations

import math

try:
    from myst_nb import glue as _myst_glue  # the book build pastes glued values into the prose
except ImportError:  # plain Jupyter or Colab: glue only shows the value
    _myst_glue = None


def glue(name: str, value, display: bool = True) -> None:
    """Store ``value`` as ``name`` for ``{glue:text}`` in the book build, and show it unless
    ``display=False``. A NumPy scalar is stored as the Python number it holds: myst-nb formats
    ``{glue:text}`name`:.1%``` from the stored text, which for NumPy 2 reads
    ``np.float64(0.5)`` and fails to format.

    A number that is not finite (a rate over an empty set, a ratio over zero) would print
    "nan%" or "inf" in the page: under CI and ``make test`` that is an error naming the value
    (the cell must guard the rate), in a reader's run a warning."""
    if type(value).__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        expect(False, f"glue({name!r}) got {value}: the page would show it; guard the rate (an empty set, a division by zero)")
    if _myst_glue is not None:
        _myst_glue(name, value, display=display)
    elif display:
        from IPython.display import display as show

        show(value)


def glue_interval(name: str, interval, *, scale: float = 100.0) -> tuple[float, float, float]:
    """Glue an estimate with its interval, ``(mean, low, high)`` such as `tsc.analysis.bootstrap`
    returns, as ``name``, ``name_low`` and ``name_high`` (times ``scale``: percentage points by
    default), none displayed; returns the three scaled numbers. A paired difference is quoted
    with its interval everywhere in the book, so the three always travel together."""
    mean, low, high = (float(x) * scale for x in interval)
    for suffix, value in (("", mean), ("_low", low), ("_high", high)):
        glue(name + suffix, value, display=False)
    return mean, low, high


SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(x: float, digits: int = 1) -> str:
    """``x`` as text in scientific notation, e.g. ``3.0 × 10¹³`` (for numbers in the prose)."""
    mantissa, exponent = f"{x:.{digits}e}".split("e")
    return f"{mantissa} × 10" + str(int(exponent)).translate(SUPERSCRIPTS)


def strict() -> bool:
    """Whether this run is a check of the book (CI, or ``make test``, which sets
    ``TSC_STRICT=1``) rather than a reader's run in Jupyter or Colab."""
    import os

    flag = lambda name: os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")
    return flag("CI") or flag("TSC_STRICT")


def expect(condition: bool, message: str) -> bool:
    """A hidden cell's check of something another machine or torch build may change (a live
    wall-clock timing, an exact count under a fixed seed): an AssertionError under CI and
    ``make test``, only a warning elsewhere, so a reader's laptop or Colab never loses the
    exercises after it. Checks of the book's claims on shipped results stay plain asserts."""
    if condition:
        return True
    if strict():
        raise AssertionError(message)
    import warnings

    warnings.warn(f"this machine differs from the book's: {message}", stacklevel=2)
    return False


def setup() -> None:
    """The book's plotting style, a fixed torch seed, and no download progress bars."""
    import torch
    import transformers

    import tsc.viz

    tsc.viz.use_style()
    torch.manual_seed(0)
    transformers.utils.logging.disable_progress_bar()


__all__ = ["expect", "glue", "sci", "setup", "strict"]
