"""Shared set-up of the suite: JAX's persistent compilation cache, strict dtype promotion for the
unit tests, per-test random generators, both precisions, markers, and the book built once."""
from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys

import pytest

from jax_cache import environment

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Before JAX is imported and any kernel starts: this process and the nbval kernels share the cache.
for name, value in environment().items():
    os.environ.setdefault(name, value)

import jax  # noqa: E402
import numpy as np  # noqa: E402

import mfutils as mf  # noqa: E402

jax.config.update("jax_compilation_cache_dir", os.environ["JAX_COMPILATION_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
# Unit tests run with strict promotion: a silent float32 -> float64 mix in mfutils is an error.
jax.config.update("jax_numpy_dtype_promotion", "strict")

SLOW = {"test_assignments.py", "test_nbval_catches_changes.py", "test_reader.py"}
BOOK = {"test_book.py", "test_pages.py", "test_pdf.py", "test_reader.py"}


BINDER_RUN = "test_every_chapters_code_runs_under_nbval_in_the_binder_environment"


def pytest_collection_modifyitems(config, items):
    """Notebooks and coursework are `slow`, the built book's tests `book`; the rest is the fast
    set (`make test-fast`).

    Each chapter runs under nbval once a session: when the session also holds test_reader's run of
    every chapter in the reader's (Binder) environment, which checks the same code cells against
    the same stored outputs and figures, the chapters' own nbval items are deselected (so
    `make test` executes every chapter once, in the stricter environment, while
    `pytest chapters/...` still checks one in this environment)."""
    for item in items:
        name = pathlib.Path(str(item.fspath)).name
        if name.endswith(".ipynb") or name in SLOW:
            item.add_marker(pytest.mark.slow)
        if name in BOOK:
            item.add_marker(pytest.mark.book)
    if any(item.name == BINDER_RUN for item in items):
        chapter = [pathlib.Path(str(item.fspath)).parent.name == "chapters"
                   and str(item.fspath).endswith(".ipynb") for item in items]
        if any(chapter):
            config.hook.pytest_deselected(items=[i for i, c in zip(items, chapter) if c])
            items[:] = [i for i, c in zip(items, chapter) if not c]


@pytest.fixture
def rng(request):
    """A generator seeded by the test's own name: the data of a test do not depend on which
    other tests run (``pytest -k``) or in what order."""
    return np.random.default_rng(int(hashlib.sha256(request.node.name.encode()).hexdigest()[:8], 16))


@pytest.fixture(params=[False, True], ids=["float32", "float64"])
def x64(request):
    """Run the test in float32 and again in float64 (``jax.enable_x64``); yields the float dtype."""
    with jax.enable_x64(request.param):
        yield jax.numpy.float64 if request.param else jax.numpy.float32


@pytest.fixture
def setup(x64):
    """The erf testbed (d = 5) and 16 particles drawn for it, in the test's precision."""
    return mf.erf_testbed(d=5), mf.init_params(jax.random.key(3), 16, 5)


class Build:
    """The result of one clean book build."""

    def __init__(self, html: pathlib.Path, returncode: int, log: str):
        self.html, self.returncode, self.log = html, returncode, log


@pytest.fixture(scope="session")
def built_book(tmp_path_factory) -> Build:
    """Build the book once per session with `-W -n --keep-going` into a fresh output folder
    (equivalent to a `jupyter-book clean` first: nothing incremental survives)."""
    out = tmp_path_factory.mktemp("book")
    subprocess.run([sys.executable, str(ROOT / "tools" / "web_assets.py")], check=True)
    proc = subprocess.run(
        [str(pathlib.Path(sys.executable).parent / "jupyter-book"), "build", "-W", "-n",
         "--keep-going", "--path-output", str(out), str(ROOT)],
        capture_output=True, text=True, cwd=ROOT)
    return Build(out / "_build" / "html", proc.returncode, proc.stdout + proc.stderr)
