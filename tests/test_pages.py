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
import threading

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def toc_pages() -> list[str]:
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f + ".html" for f in files]


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


class Visit:
    """One page load, with every problem a reader would meet recorded."""

    def __init__(self, browser, url: str):
        self.problems: list[str] = []
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
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
        page.on("pageerror", lambda e: self.problems.append(f"JavaScript error: {e}"))
        response = page.goto(url, wait_until="load")
        assert response is not None and response.ok, f"{url} did not load"
        page.wait_for_load_state("networkidle")
        if page.locator(".math").count():
            page.wait_for_function("window.MathJax && MathJax.startup && MathJax.startup.promise"
                                   " && document.querySelector('mjx-container')", timeout=20_000)
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
def test_page_loads_typesets_and_shows_its_images(visit, path):
    v = visit(path)
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
    "chapters/ch02_lln.html": ({"definition": 1, "proposition": 2, "theorem": 1},
                               ["fig-lln-variance", "fig-sgd-collapse", "fig-w1", "fig-particles"],
                               "Fig. 2.1"),
    "chapters/ch03_chaos.html": ({"definition": 2, "theorem": 1},
                                 ["fig-coupling", "fig-local-global", "fig-coupling-n"], "Fig. 3.1"),
    "chapters/ch04_clt.html": ({"definition": 2, "proposition": 2},
                               ["fig-clt-hist", "fig-clt-variance", "fig-sgd-variance", "fig-clt-vanish"],
                               "Fig. 4.1"),
    "chapters/ch05_single_index.html": ({"definition": 2, "proposition": 3, "theorem": 1},
                                        ["fig-hermite", "fig-sgd-escape", "fig-timescales"], "Fig. 5.2"),
    "chapters/ch06_beyond_log_time.html": ({"proposition": 2, "theorem": 2},
                                           ["fig-beyond", "fig-decay"], "Fig. 5.3"),
}


@pytest.mark.parametrize("path", sorted(CHAPTERS))
def test_chapter_renders_theorems_exercises_citations_figures(visit, path):
    boxes, figures, crossref = CHAPTERS[path]
    page = visit(path).page
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


@pytest.mark.parametrize("path", ["chapters/ch01_scalings.html", "chapters/ch02_lln.html"])
def test_widget_renders_from_embedded_state(visit, path):
    page = visit(path).page
    page.wait_for_selector(".widget-slider, .jupyter-widgets .widget-hslider", timeout=20_000)
    assert page.locator(".widget-toggle-buttons button").count() == 2  # two scalings / two widths
    # the interact output area holds its initial figure, rendered by the widget manager
    assert page.locator(".jupyter-widgets img, .widget-output img").count() >= 1


def test_bibliography_lists_the_cited_works(visit):
    text = visit("bibliography.html").page.locator("main").inner_text()
    for name in ("Jacot", "Chizat", "Mei", "Sirignano", "Rotskoff"):
        assert name in text, f"{name} missing from the bibliography"


@pytest.mark.parametrize("path", sorted(CHAPTERS))
def test_chapter_has_launch_repository_and_download_buttons_from_the_setting(visit, path):
    """Binder, Colab and JupyterHub (nbgitpuller) launch the chapter with the URLs that the
    `repository:` setting implies; the repository and issue buttons and the .ipynb download exist;
    the footer shows the version and the licences."""
    import repository

    repo, source = repository.load(), path.replace(".html", ".ipynb")
    v = visit(path)
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
