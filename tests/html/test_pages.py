"""The built HTML book in a real browser (headless Chromium through selenium).

Run by ``make check-html`` after ``make book`` (the main test run leaves this folder out:
it needs the built book). Every page: no traceback, no raw MyST role, every image loaded,
nothing loaded from outside the site (it works offline), every formula typeset by the
site's own MathJax with no TeX left as text, no nan or inf shown as a number, a screenshot
in ``_build/screenshots`` for a person to look at. Every chapter page: its Colab button and its .ipynb download, each
solution dropdown opening on a click, every citation link landing on an entry of the
bibliography, and (where the chapter has a widget) figures that move without a kernel when
a reader moves their controls.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from page_text import READER_TEXT_JS, bad_numbers, raw_tex

ROOT = Path(__file__).resolve().parents[2]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
RAW = re.compile(r"\{(glue|cite|ref|term|numref|doc)(:[a-z]+)?\}`|\{(exercise|solution|admonition)\}")


def pages() -> list[Path]:
    """Every page of the book (the root index.html only redirects to book/intro.html; a test
    below checks that it does)."""
    return sorted(HTML.glob("book/*.html")) if HTML.exists() else []


def chapters() -> list[Path]:
    return [p for p in pages() if re.match(r"\d\d_", p.name)]


@pytest.fixture(scope="module")
def browser():
    if not (HTML / "index.html").exists():
        pytest.fail("no built book in _build/html: run `make book` first")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600"):
        options.add_argument(flag)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver_path = shutil.which("chromedriver")
    if not chromium or not driver_path:
        pytest.fail("headless Chromium is missing: install Debian's chromium and chromium-driver (make check-html does)")
    options.binary_location = chromium
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def open_page(browser, page: Path):
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page.as_uri())
    loaded = 'return document.readyState === "complete" && document.body !== null'
    WebDriverWait(browser, 30).until(lambda b: b.execute_script(loaded))
    return browser.find_element("tag name", "body").text


def test_the_front_page_leads_to_the_introduction():
    assert pages(), "no built book in _build/html: run `make book` first"
    assert "book/intro.html" in (HTML / "index.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_a_page_shows_no_traceback_no_raw_markup_no_missing_image(browser, page):
    text = open_page(browser, page)
    assert "Traceback (most recent call last)" not in text
    raw = RAW.search(text)
    assert raw is None, f"raw markup on {page.name}: {text[max(0, raw.start() - 60) : raw.end() + 60]!r}"
    broken = browser.execute_script("return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src)")
    assert broken == [], f"images that did not load on {page.name}: {broken}"
    height = browser.execute_script("return document.body.scrollHeight")
    browser.set_window_size(1280, min(max(int(height), 800), 16000))
    browser.save_screenshot(str(SHOTS / f"{page.stem}.png"))
    browser.set_window_size(1280, 1600)


# Every element that would load something from outside the site.
EXTERNAL_JS = """
const outside = u => /^(https?:)?\\/\\//.test(u || '');
const tags = [...document.querySelectorAll('script[src], img[src], iframe[src], audio[src], video[src], source[src], embed[src]')]
  .filter(e => outside(e.getAttribute('src'))).map(e => e.getAttribute('src'));
const links = [...document.querySelectorAll('link[href]')]
  .filter(e => /stylesheet|preload|modulepreload|icon/.test(e.rel) && outside(e.getAttribute('href'))).map(e => e.getAttribute('href'));
const fetched = performance.getEntriesByType('resource').map(e => e.name).filter(n => /^https?:/.test(n));
return [...tags, ...links, ...fetched];
"""
# Resolves once MathJax has typeset the page: how many formulas there are, and how many were
# left untypeset (a formula is typeset when MathJax put an mjx-container in it).
TYPESET_JS = """
const done = arguments[arguments.length - 1];
const math = [...document.querySelectorAll('.math')];
const count = () => ({formulas: math.length, untypeset: math.filter(e => !e.querySelector('mjx-container')).length,
                      script: (document.querySelector('script[src*="mathjax"]') || {}).src || null});
if (!math.length) { done(count()); return; }
let tries = 0;
(function poll() {
  const ready = window.MathJax && MathJax.startup && MathJax.startup.promise;
  if (ready) { MathJax.startup.promise.then(() => done(count()), err => done({error: String(err)})); }
  else if (tries++ < 300) { setTimeout(poll, 100); }
  else { done(count()); }
})();
"""


@pytest.mark.parametrize("page", pages(), ids=lambda p: p.stem)
def test_a_page_works_offline_its_math_typeset_and_no_nan(browser, page):
    """One load of each page: nothing fetched from outside the site, every formula typeset by
    the site's own MathJax with no TeX left as text, and no nan or inf shown as a number
    (tests/page_text.py: "nan%", "-inf", not "financial" or "infinite")."""
    open_page(browser, page)
    outside = browser.execute_script(EXTERNAL_JS)
    assert outside == [], f"{page.name} loads from outside the site (it must work offline): {outside[:5]}"
    state = browser.execute_async_script(TYPESET_JS)
    assert "error" not in state, f"MathJax failed on {page.name}: {state}"
    if state["formulas"]:
        assert state["script"] and "/_static/mathjax/" in state["script"], f"{page.name} takes MathJax from {state['script']}"
    assert state["untypeset"] == 0, f"{state['untypeset']} of {state['formulas']} formulas on {page.name} were not typeset"
    text = browser.execute_script(READER_TEXT_JS)
    left = raw_tex(text)
    assert not left, f"TeX left as text on {page.name}: {left[:3]}"
    shown = bad_numbers(text)
    assert not shown, f"{page.name} shows nan or inf: {shown[:3]}"


# Chapters that must have a figure that moves in the page although they have no widget (issue 30).
MOVING_WITHOUT_WIDGET = ("07_",)


def has_widget(page: Path) -> bool:
    """Whether the chapter, as the build executed it, shows an ipywidgets explorer."""
    import json

    executed = ROOT / "_build" / "jupyter_execute" / "book" / f"{page.stem}.ipynb"
    if not executed.exists():
        return False
    cells = json.loads(executed.read_text(encoding="utf-8"))["cells"]
    return any("application/vnd.jupyter.widget-view+json" in out.get("data", {}) for c in cells for out in c.get("outputs", []))


def wait_for(condition, seconds: float = 30) -> bool:
    import time

    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("page", chapters(), ids=lambda p: p.stem)
def test_the_explorers_move_without_a_kernel(browser, page):
    """Each chapter with a widget (and Chapter 7) has a figure that moves in the static page:
    moving each of its controls, as a reader would (a click and the End key on a slider, a
    choice in a menu), redraws the figure."""
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import Select

    open_page(browser, page)
    roots = browser.find_elements("css selector", ".tsc-explorer")
    if not roots:
        assert not has_widget(page) and not page.stem.startswith(MOVING_WITHOUT_WIDGET), f"{page.name} has no figure that moves"
        return
    figure = "return arguments[0].querySelector('.tsc-explorer-figure').innerHTML"
    for number, root in enumerate(roots, 1):
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", root)
        drawn = lambda root=root: root.get_attribute("data-shown") or root.get_attribute("data-failed")
        assert wait_for(drawn), f"explorer {number} never drew"
        assert not root.get_attribute("data-failed"), f"explorer {number} on {page.name} could not load Plotly.js from the site"
        for control in root.find_elements("css selector", "[data-control]"):
            before, shown = browser.execute_script(figure, root), root.get_attribute("data-shown")
            value = control.get_attribute("value")
            if control.tag_name == "select":
                menu = Select(control)
                chosen = int(menu.first_selected_option.get_attribute("value"))
                menu.select_by_index(1 if chosen == 0 else 0)
            else:
                at_end = control.get_attribute("value") == control.get_attribute("max")
                browser.execute_script("arguments[0].focus();", control)
                control.send_keys(Keys.HOME if at_end else Keys.END)
            redrawn = lambda root=root, shown=shown: root.get_attribute("data-shown") != shown
            assert wait_for(redrawn), f"explorer {number}: moving a control redrew nothing"
            assert browser.execute_script(figure, root) != before, f"explorer {number} on {page.name}: the figure did not change"
            # back to where it was, so that each control moves from the figure's first view (knobs
            # interact: after top-p has left one token, min-p has nothing left to remove)
            browser.execute_script("arguments[0].value = arguments[1]; arguments[0].dispatchEvent(new Event('change'));", control, value)
            assert wait_for(lambda root=root, shown=shown: root.get_attribute("data-shown") == shown)


@pytest.mark.parametrize("page", chapters(), ids=lambda p: p.stem)
def test_a_chapter_has_its_colab_and_download_buttons(browser, page):
    open_page(browser, page)
    links = [a.get_attribute("href") or "" for a in browser.find_elements("css selector", "a")]
    assert any("colab.research.google.com" in href and href.endswith(f"{page.stem}.ipynb") for href in links), "no Colab button"
    downloads = [h for h in links if h.endswith(f"_sources/book/{page.stem}.ipynb")]
    assert downloads and (HTML / "_sources" / "book" / f"{page.stem}.ipynb").exists(), "no .ipynb download"


@pytest.mark.parametrize("page", chapters(), ids=lambda p: p.stem)
def test_a_solution_opens_on_a_click(browser, page):
    import time

    open_page(browser, page)
    solutions = browser.find_elements("css selector", "div.solution.dropdown")
    assert solutions, f"{page.name} has no solution dropdown"
    for solution in solutions:
        content = solution.find_element("css selector", "section")
        assert not content.is_displayed(), "a solution is shown before its dropdown is opened"
        button = solution.find_element("css selector", "button.toggle-button")
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'});", button)
        browser.execute_script("arguments[0].click();", button)
        for _ in range(20):
            if content.is_displayed():
                break
            time.sleep(0.1)
        assert content.is_displayed(), "a solution stays hidden after its dropdown is clicked"


def test_citation_links_resolve(browser):
    open_page(browser, HTML / "book" / "references.html")
    ids = set(browser.execute_script("return Array.from(document.querySelectorAll('[id]')).map(e => e.id)"))
    assert ids, "the bibliography page is empty"
    for page in chapters():
        open_page(browser, page)
        targets = [a.get_attribute("href") for a in browser.find_elements("css selector", "a[href*='references.html#']")]
        missing = [t for t in targets if t.split("#", 1)[1] not in ids]
        assert not missing, f"{page.name}: citations that land nowhere: {missing[:5]}"


@pytest.mark.parametrize("page", chapters(), ids=lambda p: p.stem)
def test_exercises_are_numbered_by_chapter(browser, page):
    """Exercise ex-C-K shows as "Exercise C.K", as the instructors' guide and the grader name it."""
    open_page(browser, page)
    exercises = browser.find_elements("css selector", "div.exercise[id^='ex-']")
    assert exercises, f"{page.name} has no exercise"
    for exercise in exercises:
        chapter, number = exercise.get_attribute("id").split("-")[1:]
        title = exercise.find_element("css selector", ".caption-number").get_attribute("textContent").strip()
        assert title == f"Exercise {chapter}.{number}", f"{exercise.get_attribute('id')} is shown as {title!r}"
