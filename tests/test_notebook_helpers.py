"""`tsc.notebook.glue` stores NumPy scalars as Python numbers, so `{glue:text}` can format them."""

from __future__ import annotations

import numpy as np
import pytest

from tsc import notebook


def test_glue_stores_python_numbers(monkeypatch):
    stored = {}
    monkeypatch.setattr(notebook, "_myst_glue", lambda name, value, display=True: stored.update({name: value}))
    notebook.glue("share", np.float64(0.25), display=False)
    notebook.glue("count", np.int64(3), display=False)
    notebook.glue("flag", np.bool_(True), display=False)
    notebook.glue("row", np.array([1.0, 2.0]), display=False)
    assert type(stored["share"]) is float and type(stored["count"]) is int and type(stored["flag"]) is bool
    assert isinstance(stored["row"], np.ndarray)  # arrays are left to myst-nb


def test_sci_writes_powers_of_ten():
    assert notebook.sci(3.0e13) == "3.0 × 10¹³" and notebook.sci(7.2e-5, 2) == "7.20 × 10⁻⁵"


def test_glue_interval_glues_three_scaled_numbers(monkeypatch):
    stored = {}
    monkeypatch.setattr(notebook, "_myst_glue", lambda name, value, display=True: stored.update({name: (value, display)}))
    assert notebook.glue_interval("gap", (np.float64(0.05), -0.01, 0.11)) == pytest.approx((5.0, -1.0, 11.0))
    assert stored == {"gap": (pytest.approx(5.0), False), "gap_low": (pytest.approx(-1.0), False), "gap_high": (pytest.approx(11.0), False)}
    assert all(type(value) is float for value, _ in stored.values())
    notebook.glue_interval("share", (0.5, 0.4, 0.6), scale=1)
    assert stored["share_high"][0] == pytest.approx(0.6)


def test_glue_refuses_a_rate_that_would_print_nan_or_inf(monkeypatch):
    import pytest

    stored = {}
    monkeypatch.setattr(notebook, "_myst_glue", lambda name, value, display=True: stored.update({name: value}))
    monkeypatch.setenv("TSC_STRICT", "1")
    for bad in (float("nan"), np.float64("inf"), -np.inf):
        with pytest.raises(AssertionError, match="the page would show it"):
            notebook.glue("rate", bad, display=False)
    assert "rate" not in stored
    monkeypatch.setenv("TSC_STRICT", "0")
    monkeypatch.delenv("CI", raising=False)
    with pytest.warns(UserWarning, match="the page would show it"):
        notebook.glue("rate", float("nan"), display=False)  # a reader's run goes on
