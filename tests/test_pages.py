"""The built book, opened in headless Chromium (Debian's, driven by Playwright), as a reader sees it.

Every page of the table of contents must load over HTTP from a local server with no failed and no
external request (the book is served whole: MathJax and the widget manager included) and no
JavaScript error; MathJax must typeset; every image must load. Chapter pages must show their
theorems, exercises, citations, captioned figures and the widget.
"""
from __future__ import annotations

import functools
import http.server
import os
import pathlib
import shutil
import re
import threading

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    def files(entries):   # the chapters and, after each, its sections
        for entry in entries:
            yield entry["file"]
            yield from files(entry.get("sections", []))
    return [f + ".html" for f in [toc["root"], *files(c for part in toc["parts"]
                                                      for c in part["chapters"])]]


PAGES = toc_pages()


@pytest.fixture(scope="module")
def site(built_book):
    assert built_book.returncode == 0, "the book did not build (see test_book.py)"
    handler = functools.partial(_QuietHandler, directory=str(built_book.html))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    assert os.path.exists(CHROMIUM), "Debian's chromium is missing: `make test` installs it"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


# How long a page may take to load and go quiet: generous, since two shared cores also run the
# rest of the suite (30 s, Playwright's default, once timed out on a slow hour); a page that never
# finishes loading still fails.
LOAD_MS = 120_000


class Visit:
    """One page load, with every problem a reader would meet recorded."""

    def __init__(self, browser, url: str):
        self.problems: list[str] = []
        self.sizes: list[int] = []  # the bytes of every response, from an empty cache
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.context.set_default_timeout(LOAD_MS)
        self.page = page = self.context.new_page()
        origin = url.split("/", 3)[:3]

        def route(r):
            if r.request.url.split("/", 3)[:3] == origin:
                r.continue_()
            else:
                self.problems.append(f"external request: {r.request.url}")
                r.abort()

        page.route("**/*", route)
        page.on("requestfailed", lambda r: self.problems.append(f"failed: {r.url} {r.failure}"))
        page.on("response", lambda r: r.status >= 400 and self.problems.append(
            f"HTTP {r.status}: {r.url}"))
        page.on("response", lambda r: self.sizes.append(int(r.headers.get("content-length", 0))))
        page.on("pageerror", lambda e: self.problems.append(f"JavaScript error: {e}"))
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{url} did not load"
        page.wait_for_load_state("networkidle")
        if page.locator(".math").count():
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise"
                                   " && document.querySelector('mjx-container')")
            page.evaluate("MathJax.startup.promise")

    def close(self):
        self.context.close()


@pytest.fixture
def visit(browser, site):
    opened = []

    def open_page(path):
        v = Visit(browser, f"{site}/{path}")
        opened.append(v)
        return v

    yield open_page
    for v in opened:
        v.close()


@pytest.mark.parametrize("path", PAGES)
def test_page_as_a_reader_meets_it(visit, path):
    """One load of each page, then everything checked on it in turn: it loads, typesets and shows
    its images; its first load is light, with one search box and proof marks; a chapter shows its
    theorems, exercises, citations and figures; axe-core finds no serious violation; a chapter's
    launch buttons work (last: that check replaces window.open)."""
    v = visit(path)
    loads_typesets_and_shows_its_images(v)
    first_load_weight_one_search_box_and_proof_marks(v, path)
    if path in CHAPTERS:
        renders_theorems_exercises_citations_figures(v.page, path)
    has_no_critical_or_serious_accessibility_violation(v.page)
    if path in CHAPTERS:
        has_launch_repository_and_download_buttons_from_the_setting(v, path)


def loads_typesets_and_shows_its_images(v):
    page = v.page
    assert not v.problems, "\n".join(v.problems)
    text = page.locator("main").inner_text()
    assert "\\(" not in text and "\\[" not in text and "$$" not in text, "raw TeX on the page"
    if page.locator(".math").count():
        assert page.locator("mjx-container").count() >= page.locator(".math").count()
        assert page.locator("mjx-merror").count() == 0, "MathJax reported a TeX error"
    broken = page.evaluate("[...document.images].filter(i => !(i.complete && i.naturalWidth > 0))"
                           ".map(i => i.src)")
    assert not broken, f"images that did not load: {broken}"
    # at a 1280-pixel window, no display equation may be wider than the text column
    overflowing = page.evaluate("""[...document.querySelectorAll('mjx-container[display="true"]')]
        .filter(m => m.firstElementChild.getBoundingClientRect().width >
                     m.parentElement.getBoundingClientRect().width + 1)
        .map(m => m.textContent.slice(0, 60))""")
    assert not overflowing, f"display equations wider than the column: {overflowing}"


CHAPTERS = {
    # page: (theorem-like boxes by kind, figure names, the "Fig." number it cross-references)
    "chapters/ch01_scalings.html": ({"definition": 3, "proposition": 1},
                                    ["fig-displacement", "fig-displacement-hist"], "Fig. 1.1"),
    "chapters/ch02_lln.html": ({"definition": 1, "proposition": 3, "theorem": 1},
                               ["fig-empirical-measure", "fig-lln-variance", "fig-sgd-collapse",
                                "fig-w1", "fig-particles"], "Fig. 2.1"),
    "chapters/ch03_chaos.html": ({"definition": 2, "proposition": 1, "theorem": 1},
                                 ["fig-coupling-sketch", "fig-coupling", "fig-local-global",
                                  "fig-coupling-n"], "Fig. 3.1"),
    "chapters/ch04_clt.html": ({"definition": 2, "proposition": 3, "theorem": 1},
                               ["fig-clt-hist", "fig-clt-variance", "fig-sgd-variance",
                                "fig-clt-vanish"], "Fig. 4.1"),
    "chapters/ch05_single_index.html": ({"definition": 2, "proposition": 3, "theorem": 1},
                                        ["fig-hermite", "fig-phases", "fig-sgd-escape",
                                         "fig-timescales"], "Fig. 5.2"),
    "chapters/ch06_beyond_log_time.html": ({"proposition": 4, "theorem": 2},
                                           ["fig-beyond", "fig-decay"], "Fig. 6.1"),
    "chapters/ch06_error_equation.html": ({}, ["fig-error-equation", "fig-error-widths"],
                                          "Fig. 6.4"),
    "chapters/ch06_escape_bump.html": ({}, ["fig-bump-draws", "fig-bump-law"], "Fig. 6.6"),
    "chapters/ch06_trained_layer.html": ({"proposition": 1},
                                         ["fig-trained-speed", "fig-trained-odd",
                                          "fig-trained-coupling", "fig-trained-error"],
                                         "Fig. 6.8"),
    "chapters/ch07_global.html": ({"proposition": 1, "theorem": 3},
                                  ["fig-noise", "fig-uniform"], "Fig. 7.1"),
    "chapters/ch08_deep.html": ({"proposition": 1, "theorem": 2}, ["fig-deep", "fig-middle"],
                                 "Fig. 8.1"),
    "chapters/ch09_mnist.html": ({"proposition": 1, "theorem": 1},
                                 ["fig-mnist-features", "fig-mnist-fluct", "fig-mnist-gamma",
                                  "fig-mnist-lln", "fig-mnist-training"], "Fig. 9.1"),
}


def renders_theorems_exercises_citations_figures(page, path):
    boxes, figures, crossref = CHAPTERS[path]
    for kind, count in boxes.items():
        assert page.locator(f"div.proof.{kind}").count() == count, kind
    exercises = page.locator("div.exercise").count()
    assert exercises >= 3 and page.locator("div.solution.dropdown").count() == exercises
    # citations link to the bibliography page, author-year style
    assert page.locator("a[href^='../bibliography.html#']").count() >= 3
    for fig in figures:
        figure = page.locator(f"figure#{fig}")
        assert figure.locator("img").get_attribute("alt"), f"{fig} has no alt text"
        assert len(figure.locator("figcaption").inner_text()) > 80, f"{fig} has no real caption"
    assert crossref in page.locator("main").inner_text(), "numbered figure references unresolved"


def test_bibliography_lists_the_cited_works(visit):
    text = visit("bibliography.html").page.locator("main").inner_text()
    for name in ("Jacot", "Chizat", "Mei", "Sirignano", "Rotskoff"):
        assert name in text, f"{name} missing from the bibliography"


def has_launch_repository_and_download_buttons_from_the_setting(v, path):
    """Binder, Colab and JupyterHub (nbgitpuller) launch the chapter with the URLs that the
    `repository:` setting implies; the repository and issue buttons and the .ipynb download exist;
    the footer shows the version and the licences."""
    import repository

    repo, source = repository.load(), path.replace(".html", ".ipynb")
    page = v.page
    assert page.locator("a.btn-launch-binder").get_attribute("href") == repo.binder(source)
    assert page.locator("a.btn-launch-colab").get_attribute("href") == repo.colab(source)
    assert page.locator("a.btn-source-repository-button").get_attribute("href") == repo.url
    assert page.locator("a.btn-source-issues-button").get_attribute("href").startswith(repo.issues)
    download = page.locator("a.btn-download-source-button")
    assert download.get_attribute("href").endswith(f"_sources/{source}")
    assert page.request.get(page.url.rsplit("/", 1)[0] + "/" + download.get_attribute("href")).ok
    # the hub button asks for the hub's address, then opens the nbgitpuller link there
    page.evaluate("""() => { window.prompt = () => 'https://hub.example.edu/';
                             window.open = (url) => { window.__opened = url; }; }""")
    page.locator("button.btn-launch-jupyterhub").dispatch_event("click")
    assert page.evaluate("window.__opened") == "https://hub.example.edu" + repo.hub_path(source)
    footer = page.locator(".mfbook-footer").inner_text()
    assert f"Version {repository.version()}" in footer and "MIT" in footer and "CC BY 4.0" in footer
    assert not v.problems, "\n".join(v.problems)


# --------------------------------------------------------------------------- reading the pages

AXE = ROOT / ".cache" / "test-assets" / "axe.min.js"
CHAPTER_PAGES = [p for p in PAGES if p.startswith("chapters/ch") and "preface" not in p]
KINDS = ("Exercise", "Theorem", "Proposition", "Definition", "Fig.", "Figure", "Lemma", "Remark")
TOOLING = re.compile(r"\bmake (?:book|test|execute|bench|pdf|notebooks)\b|\bpytest\b|\bnbval\b"
                     r"|\bCI\b|\btools/|continuous integration|bench_notebooks|\bruff\b")
RAW_ROLE = re.compile(r"\{(?:cite|ref|numref|eq|prf:ref|py:func|doc)(?::[a-z]+)?\}`")
SITE_MB, PAGE_MB = 20, 3


def soup(built_book, path):
    from bs4 import BeautifulSoup

    page = BeautifulSoup((built_book.html / path).read_text(), "html.parser")
    return page, page.find("main")


@pytest.fixture(scope="module")
def numbers(built_book):
    """Every numbered target of the site: id -> its number as the page shows it."""
    found = {}
    for path in PAGES:
        _, main = soup(built_book, path)
        for number in main.select("span.caption-number"):
            box = number.find_parent(id=True)
            if box is not None:
                found[box["id"]] = number.get_text(" ", strip=True)
        for eq in main.select("div.math[id]"):
            eqno = eq.find("span", class_="eqno")
            if eqno is not None:
                found[eq["id"]] = eqno.get_text(" ", strip=True).replace("#", "").strip()
    return found


@pytest.mark.parametrize("path", PAGES)
def test_cross_references_carry_their_targets_number(built_book, numbers, path):
    """A link to an exercise, a theorem-like box, a figure or an equation shows that target's own
    number, generated, never a hand-written or bare one."""
    _, main = soup(built_book, path)
    wrong = []
    for link in main.select("a.reference.internal[href*='#']"):
        text = " ".join(link.get_text(" ", strip=True).split())
        target = link["href"].split("#", 1)[1]
        if text in KINDS or text.rstrip(".") in KINDS:
            wrong.append(f"bare {text!r} -> {target}")
        elif target in numbers and (text.startswith(KINDS) or text.startswith("(")):
            number = numbers[target].split()[-1].strip("()")
            if number not in text:
                wrong.append(f"{text!r} -> {target}, which is {numbers[target]!r}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("path", CHAPTER_PAGES)
def test_key_equations_are_numbered_and_referred_to(built_book, numbers, path):
    _, main = soup(built_book, path)
    numbered = [eq["id"] for eq in main.select("div.math[id]") if eq.find("span", class_="eqno")]
    chapter = path.split("/")[1][2:4].lstrip("0")
    assert len(numbered) >= 2, f"{len(numbered)} numbered equations"
    assert all(numbers[i].strip("()").startswith(f"{chapter}.") for i in numbered)
    referred = {a["href"].split("#", 1)[1] for a in main.select("a.reference.internal[href*='#equation-']")}
    assert referred & set(numbered), "no numbered equation is referred to by its number"


@pytest.mark.parametrize("path", PAGES)
def test_no_author_facing_text_and_no_raw_markup(built_book, path):
    _, main = soup(built_book, path)
    for hidden in main.select("div.cell_input, div.highlight, pre, code"):
        hidden.decompose()  # code the reader expands is code, not prose
    text = main.get_text(" ", strip=True)
    assert not RAW_ROLE.search(text), RAW_ROLE.search(text).group(0)
    if path != "appendix/instructors.html":
        hits = sorted({m.group(0) for m in TOOLING.finditer(text)})
        assert not hits, f"tooling words in the lecture text: {hits}"


def test_every_chapter_closes_with_its_references_labelled_as_cited(built_book):
    bib, bib_main = soup(built_book, "bibliography.html")
    labels = {c["id"]: c.find("span", class_="label").get_text(strip=True).strip("[]")
              for c in bib_main.select("div.citation[id]")}
    assert len(set(labels.values())) == len(labels), "two works share a label"
    for path in CHAPTER_PAGES:
        _, main = soup(built_book, path)
        cited = {}
        for a in main.select("a[href^='../bibliography.html#']"):
            key = a["href"].split("#", 1)[1]
            shown = a.get_text()
            if re.fullmatch(r"\d{4}[a-z]?", shown.strip()):  # textual: Author et al. [2019]
                span = a.find_parent("span", class_="bibtex-citation")
                shown = span.get_text().split("[")[0].split(";")[-1] + shown
            assert re.sub(r"\W", "", shown) == re.sub(r"\W", "", labels[key]), \
                (path, shown, labels[key])
            cited[key] = labels[key]
        refs = main.select_one("section#chapter-references")
        assert refs is not None, f"{path} has no closing reference list"
        assert refs.find_next_sibling("section") is None, "the references are not the last section"
        listed = [li.find("strong").get_text(strip=True).rstrip(".")
                  for li in refs.select("ul.mfbook-references > li")]
        assert sorted(listed) == sorted(set(cited.values())), (path, listed)


def test_the_list_of_results_links_every_numbered_box(built_book, numbers):
    _, main = soup(built_book, "appendix/results.html")
    links = main.select("ul.mfbook-results a")
    boxes = {k: v for k, v in numbers.items()
             if v.split()[0] in ("Definition", "Theorem", "Proposition", "Lemma")}
    assert len(links) == len(boxes) >= 20
    for a in links:
        page, target = a["href"].split("#")
        assert numbers[target] == a.get_text(" ", strip=True), (a["href"], a.get_text())
        assert (built_book.html / "appendix" / page).resolve().exists()
    index, _ = soup(built_book, "intro.html")
    assert index.select_one("a[href$='appendix/results.html']"), "the list is not in the navigation"
    assert not (built_book.html / "prf-prf.html").exists()


def test_no_page_loads_widget_code_and_the_site_is_light(built_book):
    total = sum(f.stat().st_size for f in built_book.html.rglob("*") if f.is_file())
    assert total <= SITE_MB * 2**20, f"the site is {total / 2**20:.1f} MB"
    assert not (built_book.html / "assets" / "widgets").exists()
    for path in PAGES:
        html = (built_book.html / path).read_text()
        assert "embed-amd" not in html and "require.js" not in html, f"{path} loads widget code"
        assert "jupyter-widgets" not in html and "widget-view" not in html, f"{path} shows a widget"
        assert "application/vnd.jupyter.widget-state+json" not in html, path


def first_load_weight_one_search_box_and_proof_marks(v, path):
    page = v.page
    assert sum(v.sizes) <= PAGE_MB * 2**20, f"{sum(v.sizes) / 2**20:.2f} MB on first load"
    visible = page.evaluate("""[...document.querySelectorAll(
        'input[type=search], .search-button-field, .search-button')]
        .filter(e => e.offsetParent !== null && e.getBoundingClientRect().width > 0).length""")
    assert visible == 1, f"{visible} search boxes"
    ends = page.evaluate("""[...document.querySelectorAll('div.admonition.proof[id^="proof"]')]
        .map(e => getComputedStyle(e, '::after').content)""")
    assert all("\u220e" in c for c in ends), ends
    if path in CHAPTER_PAGES:
        caption = page.locator("figure figcaption").first
        body = page.locator("main p").first
        assert caption.evaluate("e => getComputedStyle(e).color") == \
            body.evaluate("e => getComputedStyle(e).color"), "captions are not in the body colour"
        assert page.locator("figure figcaption mjx-container").count() >= 1, "no math in captions"
        wraps = page.evaluate("""[...document.querySelectorAll('div.cell_output pre')]
            .map(p => getComputedStyle(p).whiteSpace)""")
        assert wraps and all(w == "pre-wrap" for w in wraps), "printed outputs do not wrap"


@pytest.mark.parametrize("path", ["chapters/ch00_preface.html", "chapters/ch02_lln.html"])
def test_on_a_phone_the_page_does_not_scroll_sideways_and_figures_keep_their_size(browser, site,
                                                                                 path):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2)
    context.set_default_timeout(LOAD_MS)
    page = context.new_page()
    page.goto(f"{site}/{path}", wait_until="networkidle")
    assert page.evaluate("document.documentElement.scrollWidth") <= 391
    sizes = page.evaluate("""[...document.querySelectorAll('figure img')]
        .map(i => [i.getBoundingClientRect().width, i.naturalWidth])""")
    assert all(abs(w - n) <= 1 for w, n in sizes), sizes
    if "preface" in path:  # the notation table scrolls inside itself
        box = page.locator("table").first.evaluate(
            "t => [t.parentElement.scrollWidth, t.parentElement.clientWidth]")
        assert box[0] >= box[1]
    context.close()


def test_the_notation_table_fits_the_column_at_desktop_width(visit):
    page = visit("chapters/ch00_preface.html").page
    table, column = page.evaluate("""() => { const t = document.querySelector('main table');
        return [t.getBoundingClientRect().width,
                t.closest('article, main').getBoundingClientRect().width]; }""")
    assert table <= column + 1, (table, column)


def has_no_critical_or_serious_accessibility_violation(page):
    """axe-core (npm, pinned and verified like MathJax) on the page as the reader sees it."""
    assert AXE.exists(), "axe-core is missing: tools/web_assets.py fetches it"
    page.add_script_tag(path=str(AXE))
    violations = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.filter(v => ['critical', 'serious'].includes(v.impact))
        .map(v => v.id + ' (' + v.impact + '): ' + v.nodes.slice(0, 3).map(n => n.target.join(' '))
        .join(' | '))""")
    assert not violations, "\n".join(violations)
