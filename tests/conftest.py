"""Shared fixture: the book, built once per session from a clean state."""
from __future__ import annotations

import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent


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
