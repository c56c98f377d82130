"""The whole-book PDF (`make pdf`: LaTeX through Jupyter Book's PDF builder), read back with pdftotext."""
from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys

import pytest
import yaml

import repository

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def pdf_text(tmp_path_factory) -> tuple[str, int]:
    for tool in ("xelatex", "latexmk", "pdftotext", "pdfinfo"):
        assert shutil.which(tool), f"{tool} is missing: `make test` installs Debian's TeX packages"
    out = tmp_path_factory.mktemp("pdf")
    proc = subprocess.run([str(pathlib.Path(sys.executable).parent / "jupyter-book"), "build", "--builder",
                           "pdflatex", "--path-output", str(out), str(ROOT)], capture_output=True, text=True)
    pdf = out / "_build" / "latex" / "book.pdf"
    assert proc.returncode == 0 and pdf.exists(), (proc.stdout + proc.stderr)[-4000:]
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(pdf)], capture_output=True,
                                                             text=True).stdout)[1])
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True).stdout
    print(f"\nthe PDF has {pages} pages")
    return text, pages


def _title(file: str) -> str:
    """The title (first level-one heading) of a chapter notebook."""
    return re.search(r'"# ([^"\\]+)', (ROOT / f"{file}.ipynb").read_text())[1].strip()


def test_pdf_has_every_chapter_numbered_like_the_html_book(pdf_text):
    text, pages = pdf_text
    assert 60 < pages < 400
    numbered = next(part for part in yaml.safe_load((ROOT / "_toc.yml").read_text())["parts"]
                    if part.get("numbered"))["chapters"]
    for k, chapter in enumerate(numbered, start=1):
        title = _title(chapter["file"])
        assert re.search(rf"^\s*{k} {re.escape(title[:40])}", text, re.M), f"chapter {k}: {title}"
        for section in chapter.get("sections", []):   # numbered after the chapter's own sections
            title = _title(section["file"])
            assert re.search(rf"^\s*{k}\.\d+ {re.escape(title[:40])}", text, re.M), title
        assert re.search(rf"(Theorem|Proposition|Definition) {k}\.1 \(", text), f"no theorem box {k}.1"
        assert f"Exercise {k}.1" in text and f"Solution to Exercise {k}.1" in text
        assert re.search(rf"Fig\. {k}\.1: ", text), f"no captioned figure {k}.1"
    assert "Solutions" in text and "Bibliography" in text


def test_pdf_has_no_unresolved_reference_and_a_title_page_from_the_setting(pdf_text):
    text, _ = pdf_text
    assert "??" not in text
    repo = repository.load()
    head = text[:3000]
    assert f"Version {repository.version()}" in head and repo.site in head and repo.url in head
    assert yaml.safe_load((ROOT / "_config.yml").read_text())["title"].split()[0] in head
