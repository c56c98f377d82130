"""The code is lint-clean: ruff, configured in pyproject.toml, over the library, the tests, the
tools, the benchmarks and the chapter notebooks."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_ruff_is_clean():
    ruff = pathlib.Path(sys.executable).parent / "ruff"
    proc = subprocess.run([str(ruff), "check", "--no-cache", "mfutils", "tests", "tools", "benchmarks",
                           "chapters"],
                          cwd=ROOT, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_public_function_has_a_runnable_example():
    """Each public function and activation documents one ``Example:`` that the doctests run."""
    import inspect
    import typing

    import mfutils as mf
    missing = [name for name in mf.__all__
               if callable(obj := getattr(mf, name)) and typing.get_origin(obj) is None
               and not inspect.isclass(obj) and ">>>" not in (inspect.getdoc(obj) or "")]
    assert not missing, f"no Example: in the docstrings of {missing}"
