"""The code is lint-clean: ruff, configured in pyproject.toml, over the library, the tests, the
tools and the chapter notebooks."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = pathlib.Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "--no-cache", "mfutils", "tests", "tools", "chapters"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
