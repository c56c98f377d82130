"""Shared test machinery: figure comparison inside the nbval run, and the built book."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from figures import compare_figures  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIGURE_DIFFS = ROOT / "_build" / "figure-diffs"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """After nbval has re-executed a cell and compared its text, compare its figures.

    nbval skips image/png in its own comparison; this hook reads the outputs it just produced
    (item.test_outputs) and fails the cell if a stored figure is not reproduced. Cells marked
    NBVAL_IGNORE_OUTPUT (options['check'] false) are skipped, as nbval skips them.
    """
    result = yield
    outputs = getattr(item, "test_outputs", None)
    if outputs is not None and getattr(item, "options", {}).get("check", False):
        label = f"{pathlib.Path(str(item.fspath)).stem}-cell{item.cell_num}"
        failures = compare_figures(item.cell.outputs, outputs, FIGURE_DIFFS, label)
        if failures:
            pytest.fail("figures not reproduced:\n" + "\n".join(failures), pytrace=False)
    return result


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
