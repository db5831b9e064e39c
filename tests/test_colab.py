"""The chapters as Colab shows them: MyST turned into plain Markdown, one install line."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from tsc.colab import colab_notebook, directives, install_line, read_config, references, roles

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_every_chapter_installs_what_the_config_names(chapter):
    """The install cell and the launch buttons take their source from _config.yml."""
    line = install_line(read_config(ROOT))
    cells = ["".join(c["source"]) for c in json.loads(chapter.read_text())["cells"] if c["cell_type"] == "code"]
    installs = [c for c in cells if "%pip install" in c]
    assert installs, f"{chapter.name} has no install cell (Colab needs one)"
    assert all(line in c for c in installs), f"{chapter.name}'s install cell should read {line}"


def test_roles_become_text():
    refs = {"Brown2024monkeys": ("Brown et al.", "2024", "https://arxiv.org/abs/2407.21787"), "Snell2024": ("Snell et al.", "2024", None)}
    values = {"acc": "0.2714", "n": "1052800", "verdict": "'wrong'"}
    text = "Accuracy {glue:text}`acc:.1%` of {glue:text}`n:,d`, {glue:text}`verdict`; {cite:t}`Brown2024monkeys` and {cite:p}`Snell2024`."
    assert roles(text, values, refs) == (
        "Accuracy 27.1% of 1,052,800, wrong; [Brown et al. (2024)](https://arxiv.org/abs/2407.21787) and (Snell et al., 2024)."
    )
    assert roles("see {ref}`ex-5-2` and {term}`ledger`", {}, refs) == "see Exercise 5.2 and ledger"
    assert roles("{glue:text}`missing`", {}, refs) == "`missing`"


def test_directives_become_sections_and_quotes():
    text = (
        "Intro.\n\n```{exercise} The PUCT score\n:label: ex-5-1\n\nWrite it.\n```\n\n"
        "````{solution} ex-5-1\n:class: dropdown\n\n```python\nx = 1\n```\n````\n\n"
        "```{admonition} Key takeaways\n:class: important\n\n- one\n- two\n```"
    )
    out = directives(text)
    assert "### Exercise 5.1: The PUCT score\n\nWrite it." in out
    assert "#### Solution to exercise 5.1\n\n```python\nx = 1\n```" in out
    assert "> **Key takeaways**\n>\n> - one\n> - two" in out
    assert "{exercise}" not in out and "{solution}" not in out and ":label:" not in out


def test_a_chapter_exported_for_colab(tmp_path):
    source = nbformat.read(str(CHAPTERS[0]), as_version=4)
    refs = references(ROOT / "book" / "references.bib")
    nb = colab_notebook(source, source, refs, install_line(read_config(ROOT)))
    markdown = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    assert "{cite" not in markdown and "{exercise}" not in markdown and "{solution}" not in markdown
    assert all(not c.outputs for c in nb.cells if c.cell_type == "code")
    assert "colab" in nb.metadata
