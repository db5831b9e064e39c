"""tsc.pdf without a browser: the page order it prints in, and its errors. The PDF itself is
checked after `make pdf` by tests/html/test_pdf.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from tsc.cli import main
from tsc.pdf import print_book, toc_docnames

ROOT = Path(__file__).resolve().parent.parent


def test_pages_follow_the_table_of_contents():
    names = toc_docnames(ROOT)
    assert names[0] == "book/intro" and names[-1] == "book/references"
    chapters = [n for n in names if n[5:7].isdigit()]
    assert chapters == sorted(chapters) and len(chapters) == len(list((ROOT / "book").glob("[0-9][0-9]_*.ipynb")))


def test_nested_sections_are_printed_depth_first(tmp_path):
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: index\nchapters:\n  - file: a.md\n    sections:\n      - file: a1\n  - file: b\n"
    )
    assert toc_docnames(tmp_path) == ["index", "a", "a1", "b"]


def test_an_unbuilt_book_is_named_not_printed(tmp_path, capsys):
    with pytest.raises(RuntimeError, match="lacks book/intro.*run `make book` first"):
        print_book(tmp_path, tmp_path / "book.pdf", root=ROOT)
    assert main(["pdf", "--html", str(tmp_path), "--out", str(tmp_path / "book.pdf")]) == 2
    assert "make book" in capsys.readouterr().err and not (tmp_path / "book.pdf").exists()
