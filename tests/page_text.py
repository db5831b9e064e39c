"""What a built page's text must not show, as pure functions (the browser check in tests/html
applies them to each page; tests/test_page_text.py proves that each can fail)."""

from __future__ import annotations

import re

# A number that is not one: nan or inf as Python, NumPy or a format spec prints it ("nan%",
# "-inf", "NaN", "inf×"), never a word that contains the letters (financial, infinite, Nancy, info).
NOT_A_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:nan|inf)(?![\w])", re.IGNORECASE)
# TeX that MathJax left as text: its delimiters, or a control word such as \frac or \mathrm.
RAW_TEX = re.compile(r"\\[()\[\]]|\$\$|\\(?:frac|mathrm|mathbb|sum|log|cdot|times|le|ge|alpha|beta|gamma|sigma|theta|text)\b")

# The page's text as a reader sees it, less code, typeset math and scripts (their "inf" and
# backslashes are meant): run in the browser on a copy of the page's body.
READER_TEXT_JS = """
const copy = document.body.cloneNode(true);
copy.querySelectorAll('script, style, noscript, mjx-container, mjx-assistive-mml, .cell_input, pre.literal-block, '
  + 'div.highlight-python, div.highlight-bash, div.highlight-default, code, .MathJax, textarea')
  .forEach(e => e.remove());
return copy.textContent;
"""


def bad_numbers(text: str) -> list[str]:
    """Each nan or inf in ``text``, with 40 characters either side."""
    return [text[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ") for m in NOT_A_NUMBER.finditer(text)]


def raw_tex(text: str) -> list[str]:
    """Each piece of TeX left untypeset in ``text``, with 40 characters either side."""
    return [text[max(0, m.start() - 40) : m.end() + 40].replace("\n", " ") for m in RAW_TEX.finditer(text)]
