"""Running the book outside this repository's environment.

- The reader copies (`make notebooks`, what Colab opens): no MyST survives, the book's numbers
  appear, and the code cells and stored outputs are exactly the sources'.
- Binder: repo2docker (the tool mybinder.org runs) produces, without Docker, the build it would
  run for this repository; its install steps are replayed into a fresh virtual environment, and
  every reader copy runs under nbval with that environment's kernel. The copies' code cells and
  stored outputs are the chapters' (the first test), so this runs the code Binder runs, once.
"""
from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys
import time

import pytest
import yaml

import reader_notebooks
import repository
from jax_cache import environment

ROOT = pathlib.Path(__file__).resolve().parent.parent
BIN = pathlib.Path(sys.executable).parent


@pytest.fixture(scope="module")
def copies(built_book, tmp_path_factory) -> pathlib.Path:
    assert built_book.returncode == 0, "the book did not build (see test_book.py)"
    out = tmp_path_factory.mktemp("reader")
    assert reader_notebooks.main(["--html", str(built_book.html), "--out", str(out)]) == 0
    return out


def _code(cells):
    return [(c["source"], c["outputs"]) for c in cells if c["cell_type"] == "code"]


def test_reader_copies_are_plain_markdown_with_the_books_numbers(copies):
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    chapters = {pathlib.Path(c["file"]).name for part in toc["parts"] for c in part["chapters"]}
    for source in repository.chapter_notebooks():
        copy = json.loads((copies / source.name).read_text())
        original = json.loads(source.read_text())
        assert _code(copy["cells"]) == _code(original["cells"]), source.name
        text = "\n".join("".join(c["source"]) for c in copy["cells"] if c["cell_type"] == "markdown")
        assert not re.search(r"\{[\w:-]+\}`|^\s*(```+|:::+)\s*\{|^\([\w.:-]+\)=\s*$", text, re.M)
        chapter = int(source.name[2:4])
        # a chapter's numbers start at k.1; a section's continue its chapter's (6.10: Fig. 6.4 ...)
        first = "1" if source.stem in chapters else r"\d+"
        if source.stem in chapters:
            assert re.search(rf"\*\*(Theorem|Proposition|Definition) {chapter}\.1 ", text), source.name
        assert re.search(rf"\*\*Exercise {chapter}\.{first}\.\*\*", text), source.name
        assert "<details>" in text and "<summary>Solution" in text
        assert re.search(rf"\*\*Fig\. {chapter}\.{first}\.\*\*", text), "figure captions under the figures"
        assert "## Works cited in this chapter" in text
        assert re.search(r"\w+ \(\d{4}[a-z]?\)|\(\w+.*, \d{4}[a-z]?\)", text), "author-year citations"
        assert re.search(rf"\\tag{{{chapter}\.{first}}}", text), "numbered equations keep the book's numbers"


def test_the_converter_refuses_markup_it_does_not_know(built_book):
    book = reader_notebooks.Book(built_book.html, repository.load(), ROOT / "references.bib")
    chapter = reader_notebooks.Chapter(book, "chapters/ch03_chaos")
    with pytest.raises(reader_notebooks.ConversionError, match="unknown role"):
        chapter.markdown("see {term}`chaos`")
    with pytest.raises(reader_notebooks.ConversionError, match="unknown directive"):
        chapter.markdown("```{warning}\nbody\n```")
    with pytest.raises(reader_notebooks.ConversionError, match="unknown label"):
        chapter.markdown("{numref}`fig-nowhere`")
    with pytest.raises(reader_notebooks.ConversionError, match="citation key"):
        chapter.markdown("{cite:t}`nobody2099`")


def _dockerfile(repo: pathlib.Path) -> str:
    proc = subprocess.run([str(BIN / "repo2docker"), "--no-build", "--debug", "--user-id", "1000",
                           "--user-name", "jovyan", str(repo)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def binder_env(tmp_path_factory):
    """The environment mybinder.org would build: repo2docker's own install steps, replayed into a
    fresh virtual environment from a copy of the repository's tracked files."""
    work = tmp_path_factory.mktemp("binder")
    repo = work / "repo"
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                           text=True).stdout.split("\0")
    for name in filter(None, files):
        if (ROOT / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, repo / name)
    build = _dockerfile(repo)
    assert "Building conda environment for python=3.11" in build
    steps = re.findall(r"^RUN (\$\{KERNEL_PYTHON_PREFIX\}/bin/pip install .*)$", build, re.M)
    assert steps == ['${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir -r "requirements.txt"',
                     "${KERNEL_PYTHON_PREFIX}/bin/pip install --no-cache-dir ."], steps
    venv = work / "env"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    start = time.perf_counter()
    for step in steps:
        subprocess.run(["bash", "-c", step], cwd=repo, check=True, capture_output=True,
                       env={**os.environ, "KERNEL_PYTHON_PREFIX": str(venv)})
    seconds = time.perf_counter() - start
    size = subprocess.run(["du", "-sm", str(venv)], capture_output=True, text=True).stdout.split()[0]
    print(f"\nBinder replay: reader environment installed in {seconds:.0f} s, {size} MB on disk")
    kernels = work / "kernels"
    subprocess.run([str(venv / "bin" / "python"), "-m", "ipykernel", "install", "--prefix", str(kernels),
                    "--name", "mfbook-reader"], check=True, capture_output=True)
    return venv, kernels / "share" / "jupyter"


def test_repo2docker_builds_python_311_with_the_readers_requirements_then_the_package(tmp_path):
    build = _dockerfile(ROOT)
    assert "python=3.11" in build
    install = build.index('pip install --no-cache-dir -r "requirements.txt"')
    assert install < build.index("pip install --no-cache-dir .\n")


def test_every_chapters_code_runs_under_nbval_in_the_binder_environment(binder_env, copies):
    venv, jupyter_path = binder_env
    freeze = subprocess.run([str(venv / "bin" / "pip"), "freeze", "--exclude-editable"],
                            capture_output=True, text=True, check=True).stdout
    pinned = {line for line in (ROOT / "requirements.txt").read_text().splitlines()
              if line and not line.startswith("#")}
    assert pinned <= set(freeze.splitlines()), pinned - set(freeze.splitlines())
    names = {line.split("==")[0].lower() for line in freeze.splitlines()}
    assert not names & {"jupyter-book", "myst-nb", "pytest", "nbval", "ruff", "jupyter-repo2docker"}
    notebooks = sorted(map(str, copies.glob("*.ipynb")))
    assert [pathlib.Path(n).name for n in notebooks] == [p.name for p in repository.chapter_notebooks()]
    # two kernels at a time: one compiles (on one core) while the other computes
    runs = [subprocess.Popen(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-o", "addopts=", "-p", "nbval_figures",
         "--nbval", "--nbval-kernel-name", "mfbook-reader", "--nbval-sanitize-with",
         str(ROOT / "tests" / "nbval_sanitize.cfg"), "-q", *half],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, **environment(), "JUPYTER_PATH": str(jupyter_path)})
        for half in (notebooks[0::2], notebooks[1::2])]
    for run, (stdout, stderr) in [(run, run.communicate()) for run in runs]:
        assert run.returncode == 0, stdout[-6000:] + stderr[-2000:]
        assert re.search(r"\d+ passed", stdout)
