"""The whole book as one PDF, printed from the built HTML by headless Chromium (``make pdf``).

Each page of the table of contents (``_toc.yml``) is opened as a reader opens it, left to
finish typesetting its math and drawing its figures, and printed by Chromium's own
``Page.printToPDF``; the pages are joined in table-of-contents order behind a title page with
a table of contents (page numbers included), numbered at the foot of every page, with a
bookmark per chapter for the PDF viewer's outline. Nothing is fetched from outside: the
HTML, MathJax and the figures' scripts come from the built site.

Needs selenium (pinned in requirements.txt), pypdf and a Chromium with its chromedriver
(``make check-html`` installs Debian's).
"""

from __future__ import annotations

import html
import io
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tsc.io import write_atomic

PDF_NAME = "test-time-compute-scaling.pdf"  # in the built site's root; the introduction links to it
A4 = {"paperWidth": 8.27, "paperHeight": 11.69}
MARGINS = {"marginTop": 0.55, "marginBottom": 0.7, "marginLeft": 0.55, "marginRight": 0.55}
# Resolves when the page is ready to print: MathJax has typeset it (where it has math) and
# every moving figure (tsc.viz.interactive) has drawn its first state.
READY_JS = """
const done = arguments[arguments.length - 1];
let tries = 0;
(function poll() {
  const mathjax = !document.querySelector('.math') || (window.MathJax && MathJax.startup && MathJax.startup.promise);
  const figures = [...document.querySelectorAll('.tsc-explorer')].every(e => e.dataset.shown || e.dataset.failed);
  if (mathjax && figures) {
    (mathjax === true ? Promise.resolve() : MathJax.startup.promise).then(() => done(true), () => done(false));
  } else if (tries++ < 600) { setTimeout(poll, 100); } else { done(false); }
})();
"""
# Print as a book: open every solution dropdown (a class's copy can drop them with the
# instructors' page's recipe) and leave out the buttons that only work on screen.
PRINT_CSS = """
.header-article, .bd-header-article, .prev-next-area, .bd-footer-article, .bd-sidebar-secondary,
.bd-sidebar-primary, .toggle-button, button.toggle-button, .headerlink, #pst-back-to-top { display: none !important; }
details, .toggle-hidden, .solution.dropdown section, .dropdown section { display: block !important; visibility: visible !important; }
.bd-main .bd-content .bd-article-container { max-width: 100% !important; }
pre { white-space: pre-wrap !important; overflow-wrap: anywhere; overflow: visible !important; }
div.highlight, .cell_output, .output { overflow: visible !important; }
"""


@dataclass(frozen=True)
class PrintedPage:
    """One page of the book in the PDF: its title and the PDF page it starts on (0-based)."""

    docname: str
    title: str
    first_page: int
    pages: int


def toc_docnames(root: str | Path) -> list[str]:
    """The book's pages in table-of-contents order (``_toc.yml``: the root, then each part's
    chapters and their sections, depth first)."""
    import yaml

    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    names = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                names.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    walk(toc.get("parts"))
    walk(toc.get("chapters"))
    return [re.sub(r"\.(md|ipynb)$", "", name) for name in names]


def chromium():
    """A headless Chromium driven by selenium, with a clear error where one is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        raise RuntimeError("printing the book needs selenium (pip install -r requirements.txt)") from error
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        raise RuntimeError("printing the book needs Chromium and chromedriver (Debian: apt-get install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1100,1400"):
        options.add_argument(flag)
    options.binary_location = binary
    browser = webdriver.Chrome(service=Service(driver), options=options)
    browser.set_page_load_timeout(120)
    browser.set_script_timeout(120)
    return browser


def _print(browser, url: str, *, css: str = "", page_css: bool = False) -> bytes:
    """The page at ``url`` as PDF bytes, once it is ready to print (A4 with the book's
    margins, or with ``page_css`` the page's own ``@page`` size and margins)."""
    import base64

    browser.get(url)
    browser.execute_async_script(READY_JS)
    if css:
        add_style = "const s = document.createElement('style'); s.textContent = arguments[0]; document.head.appendChild(s);"
        browser.execute_script(add_style, css)
    options = {"printBackground": True, "preferCSSPageSize": page_css, **A4, **({} if page_css else MARGINS)}
    return base64.b64decode(browser.execute_cdp_cmd("Page.printToPDF", options)["data"])


def _page_title(browser) -> str:
    return browser.execute_script("const h = document.querySelector('main h1, article h1, h1'); return h ? h.textContent : document.title;")


def _toc_html(title: str, entries: list[tuple[str, int]]) -> str:
    rows = "\n".join(f'<tr><td class="t">{html.escape(name)}</td><td class="n">{page}</td></tr>' for name, page in entries)
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
body {{ font-family: 'DejaVu Sans', Helvetica, Arial, sans-serif; margin: 0; }} h1 {{ font-size: 30pt; margin: 2.2in 0 0.3in; }}
.sub {{ font-size: 13pt; color: #444; margin-bottom: 1in; }} h2 {{ page-break-before: always; font-size: 18pt; }}
table {{ width: 100%; border-collapse: collapse; font-size: 11.5pt; }} td {{ padding: 5pt 0; vertical-align: top; }}
td.t {{ padding-right: 18pt; }} td.n {{ text-align: right; width: 40pt; }}
</style></head><body><h1>{html.escape(title)}</h1>
<div class="sub">An executable textbook, printed from its HTML edition. Every figure and number was computed when the book was built.</div>
<h2>Contents</h2><table>{rows}</table></body></html>"""


def _numbers_html(first: int, count: int) -> str:
    """``count`` A4 pages, each with its page number (``first`` onwards) at the foot."""
    pages = "".join(f'<div class="p"><span>{first + i}</span></div>' for i in range(count))
    return f"""<!doctype html><html><head><meta charset="utf-8"><style>
@page {{ size: A4; margin: 0; }} body {{ margin: 0; }}
.p {{ height: 11.69in; width: 8.27in; position: relative; page-break-after: always; }}
.p span {{ position: absolute; bottom: 0.28in; width: 100%; text-align: center; font: 9pt sans-serif; color: #555; }}
</style></head><body>{pages}</body></html>"""


def print_book(
    html_dir: str | Path, out: str | Path, *, root: str | Path = ".", title: str = "Test-Time Compute Scaling", progress=None
) -> list[PrintedPage]:
    """Print every page of the built book in ``html_dir`` into the PDF ``out`` (written
    atomically); return where each page starts in it."""
    from pypdf import PdfReader, PdfWriter

    html_dir, out = Path(html_dir), Path(out)
    docnames = toc_docnames(root)
    missing = [name for name in docnames if not (html_dir / f"{name}.html").exists()]
    if missing:
        raise RuntimeError(f"the built book in {html_dir} lacks {', '.join(missing)}: run `make book` first")
    browser = chromium()
    try:
        printed, titles = [], []
        for name in docnames:
            pdf = _print(browser, (html_dir / f"{name}.html").resolve().as_uri(), css=PRINT_CSS)
            number = re.match(r"(\d+)_", Path(name).name)
            heading = " ".join(_page_title(browser).split()).rstrip("#¶ ").strip()
            titles.append(f"{int(number.group(1))}. {heading}" if number else heading)
            printed.append(PdfReader(io.BytesIO(pdf)))
            if progress:
                progress(name, len(printed[-1].pages))
        with tempfile.TemporaryDirectory(prefix="tsc-pdf-") as folder:
            toc_file = Path(folder) / "contents.html"
            # the table of contents' own length shifts every page number: print it twice
            toc_pages = 0
            for _ in range(2):
                starts, page = [], toc_pages + 1
                for reader, name in zip(printed, titles):
                    starts.append((name, page))
                    page += len(reader.pages)
                toc_file.write_text(_toc_html(title, starts), encoding="utf-8")
                toc = PdfReader(io.BytesIO(_print(browser, toc_file.as_uri())))
                if len(toc.pages) == toc_pages:
                    break
                toc_pages = len(toc.pages)
            total = sum(len(r.pages) for r in printed)
            numbers_file = Path(folder) / "numbers.html"
            numbers_file.write_text(_numbers_html(toc_pages + 1, total), encoding="utf-8")
            numbers = PdfReader(io.BytesIO(_print(browser, numbers_file.as_uri(), page_css=True)))
    finally:
        browser.quit()
    writer = PdfWriter()
    writer.append(toc)
    layout, at = [], toc_pages
    for reader, name, docname in zip(printed, titles, docnames):
        writer.append(reader)
        layout.append(PrintedPage(docname, name, at, len(reader.pages)))
        writer.add_outline_item(name, at)
        at += len(reader.pages)
    for index in range(toc_pages, len(writer.pages)):
        writer.pages[index].merge_page(numbers.pages[index - toc_pages])
    writer.add_metadata({"/Title": title, "/Creator": "tsc.pdf (headless Chromium)"})
    out.parent.mkdir(parents=True, exist_ok=True)
    pdf = io.BytesIO()
    writer.write(pdf)
    write_atomic(out, pdf.getvalue())
    return layout
