"""The browser check's text rules (tests/page_text.py) catch what they are for, and only that."""

from __future__ import annotations

import pytest
from page_text import bad_numbers, raw_tex


@pytest.mark.parametrize(
    "text",
    [
        "the 0% of answers given with belief 0.9 or more are right nan% of the time",
        "accuracy nan (n = 0)",
        "a ratio of inf over the baseline",
        "FLOPs: -inf",
        "spread −inf to +inf",
        "NaN",
        "(nan, 0.3)",
        "inf%",
        "value=nan.",
    ],
)
def test_nan_and_inf_shown_as_numbers_are_caught(text):
    assert bad_numbers(text)


@pytest.mark.parametrize(
    "text",
    [
        "financial incentives",
        "an infinite budget",
        "information gain",
        "Nancy's inference",
        "influence and infrastructure",
        "banana nano",
        "math.inf in code is not prose",
        "k → ∞",
    ],
)
def test_words_that_contain_the_letters_are_not(text):
    assert bad_numbers(text) == []


@pytest.mark.parametrize("text", [r"\(x^2\)", r"\[ \sum_i p_i \]", "$$x$$", r"where \frac{a}{b} is", r"the \mathrm{FLOPs}"])
def test_untypeset_tex_is_caught(text):
    assert raw_tex(text)


@pytest.mark.parametrize("text", ["costs $5 and $6", "a / b", "C:\\Users", "x = 2 × 3", "\\n in a string"])
def test_text_without_tex_passes(text):
    assert raw_tex(text) == []
