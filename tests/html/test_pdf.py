"""The book's PDF (``make pdf``, before ``make check-html``): every page of the table of contents
in order, each chapter's title in its text where its bookmark points, and the introduction's
link to it."""

from __future__ import annotations

import html
import re
import unicodedata
from pathlib import Path

import pytest

from tsc.pdf import PDF_NAME, toc_docnames

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
PDF = HTML / PDF_NAME


def words(text: str) -> str:
    """Text with its whitespace collapsed, ligatures (ﬀ, ﬁ) undone and a line broken after a
    hyphen joined again."""
    return re.sub(r"-\s+", "-", " ".join(unicodedata.normalize("NFKC", text).split()))


def heading(page: Path) -> str:
    """A built page's title: the text of its first <h1>, less the permalink sign."""
    match = re.search(r"<h1[^>]*>(.*?)</h1>", page.read_text(encoding="utf-8"), re.DOTALL)
    return words(html.unescape(re.sub(r"<[^>]+>", "", match.group(1))).replace("#", "")) if match else ""


@pytest.fixture(scope="module")
def book():
    from pypdf import PdfReader

    if not PDF.exists():
        pytest.fail(f"no {PDF_NAME} in _build/html: run `make pdf` after `make book`")
    reader = PdfReader(str(PDF))
    outline = [(item.title, reader.get_destination_page_number(item)) for item in reader.outline if not isinstance(item, list)]
    return reader, outline


def test_the_pdf_holds_every_page_in_table_of_contents_order(book):
    reader, outline = book
    docnames = toc_docnames(ROOT)
    assert len(outline) == len(docnames), f"{len(outline)} bookmarks for {len(docnames)} pages of the table of contents"
    starts = [page for _, page in outline]
    assert starts == sorted(starts) and len(set(starts)) == len(starts), f"bookmarks out of order: {outline}"
    chapters = [name for name in docnames if re.match(r"book/\d\d_", name)]
    # each chapter prints to several pages (3,000-6,000 words, three figures or more)
    assert len(reader.pages) >= starts[0] + 5 * len(chapters), f"only {len(reader.pages)} pages"
    contents = words(reader.pages[1].extract_text() + " " + reader.pages[starts[0] - 1].extract_text())
    assert "Contents" in contents


def test_every_chapters_title_is_in_its_text_where_its_bookmark_points(book):
    reader, outline = book
    for (title, page), name in zip(outline, toc_docnames(ROOT)):
        expected = heading(HTML / f"{name}.html")
        assert expected and expected in title, f"bookmark {title!r} for {name} ({expected!r})"
        text = words(reader.pages[page].extract_text() + " " + reader.pages[page + 1].extract_text())
        assert expected in text, f"{expected!r} is not on PDF page {page + 1}: {text[:200]!r}"


def test_the_introduction_links_to_the_pdf():
    intro = (HTML / "book" / "intro.html").read_text(encoding="utf-8")
    assert f'href="../{PDF_NAME}"' in intro, "the introduction has no link to the PDF"
