"""Build the graded assignments: student notebooks and autograders from the otter-grader masters.

    python tools/assignments.py [--out DIR] [--jobs J] [--no-run-tests] [MASTER.ipynb ...]
                                                                         (``make assignments``)

For each master ``assignments/<name>.ipynb`` (otter-grader's notebook format: questions, solutions,
public and hidden tests), ``otter assign`` writes ``DIR/<name>/student/`` (solutions removed, public
tests and ``grader.check`` cells in place) and ``DIR/<name>/autograder/`` (the solution notebook and
``<name>-autograder.zip``). ``otter assign`` runs every test against the solutions and fails if one
fails; this script then checks that no solution line and no hidden test reached the student folder,
and exits non-zero on any failure. No Docker is involved. ``--no-run-tests`` skips otter's run of
the tests (for the test suite, which grades every solution with its autograder afterwards: the same
tests, public and hidden, run once instead of twice).

The autograder zip carries a wheel of ``mfutils`` and the book's pins of its dependencies, so that a
course platform's grading image (Gradescope, or ``otter grade`` with Docker) can install them.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import json
import pathlib
import re
import shutil
import subprocess
import sys
import time

import nbformat

ROOT = pathlib.Path(__file__).resolve().parent.parent
MASTERS = ROOT / "assignments"
SUPPORT = MASTERS / "_support"
VERSION = re.search(r'__version__ = "([^"]+)"', (ROOT / "mfutils" / "__init__.py").read_text()).group(1)
WHEEL = f"mfutils-{VERSION}-py3-none-any.whl"  # in _support/, which the masters' configs list
PINNED = ("jax", "jaxlib", "numpy", "scipy", "matplotlib")  # what mfutils and the notebooks import
MIN_SECRET = 12  # shorter lines ("x = 1", "The terms") are too generic to call a leak


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def is_hidden_test(cell) -> bool:
    """Whether a test cell is hidden from students (its first line is ``# HIDDEN``)."""
    return cell.cell_type == "code" and cell.source.lstrip().startswith("# HIDDEN")


def secrets(master: pathlib.Path) -> set[str]:
    """The lines of a master that must never reach a student: solution lines (code between
    ``# BEGIN SOLUTION`` and ``# END SOLUTION``, lines marked ``# SOLUTION``, markdown solutions)
    and hidden tests. Lines that also occur in the master's public content, and very short lines,
    are left out: their presence proves nothing."""
    nb = nbformat.read(master, as_version=4)
    secret, public = set(), set()
    in_solution = in_tests = False
    for cell in nb.cells:
        src = cell.source
        if cell.cell_type == "raw":
            head = src.strip().splitlines()[0] if src.strip() else ""
            in_solution = {"# BEGIN SOLUTION": True, "# END SOLUTION": False}.get(head, in_solution)
            in_tests = {"# BEGIN TESTS": True, "# END TESTS": False}.get(head, in_tests)
            continue
        if in_tests and is_hidden_test(cell):
            secret.update(_lines(src)[1:])
        elif in_solution and cell.cell_type == "markdown":
            secret.update(_lines(src))
        elif cell.cell_type == "code":
            inside = False
            for line in _lines(src):
                if line == "# BEGIN SOLUTION":
                    inside = True
                elif line == "# END SOLUTION":
                    inside = False
                elif inside:
                    secret.add(line)
                elif line.endswith("# SOLUTION"):
                    secret.add(line[: -len("# SOLUTION")].strip())
                else:
                    public.add(line)
        else:
            public.update(_lines(src))
    return {s for s in secret - public if len(s) >= MIN_SECRET and not s.startswith("#")}


def _text(path: pathlib.Path) -> str:
    """Everything a reader of the file can see: for notebooks, every string in the JSON (sources,
    outputs, metadata such as otter's embedded tests), decoded; for other files, their text."""
    if path.suffix == ".ipynb":
        strings: list[str] = []

        def walk(node):
            if isinstance(node, str):
                strings.append(node)
            elif isinstance(node, dict):
                for v in node.values():
                    walk(v)
            elif isinstance(node, list):
                for v in node:
                    walk(v)
        walk(json.loads(path.read_text()))
        return "\n".join(strings)
    return path.read_text(errors="ignore")


def leaks(folder: pathlib.Path, secret: set[str]) -> list[str]:
    """``"file: line"`` for every secret line found in a text file under ``folder``."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix not in {".ipynb", ".py", ".html", ".txt", ".md", ".json", ".js", ".yml"}:
            continue
        text = _text(path)
        found += [f"{path.relative_to(folder)}: {s}" for s in sorted(secret) if s in text]
    return found


def build_support() -> None:
    """The autograder's extra files: a wheel of mfutils and the pins of what it imports."""
    SUPPORT.mkdir(exist_ok=True)
    for old in SUPPORT.glob("*.whl"):
        old.unlink()
    leftover = not (ROOT / "build").exists()  # setuptools leaves build/ behind: remove ours
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", str(SUPPORT),
                    str(ROOT)], check=True)
    if leftover:
        shutil.rmtree(ROOT / "build", ignore_errors=True)
    if not (SUPPORT / WHEEL).exists():
        sys.exit(f"expected {WHEEL} in {SUPPORT} (the version of mfutils/__init__.py), found "
                 f"{[p.name for p in SUPPORT.glob('*.whl')]}")
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.split("==")[0] in PINNED]
    # Where a grading image unpacks the zip's files (Gradescope and otter grade: /autograder/source).
    (SUPPORT / "requirements.txt").write_text(
        "\n".join(pins + [f"/autograder/source/files/_support/{WHEEL}"]) + "\n")


def build(master: pathlib.Path, out: pathlib.Path, run_tests: bool = True) -> list[str]:
    """Run ``otter assign`` on one master into ``out/<name>`` (running the solutions' tests unless
    ``run_tests`` is false); return the problems found."""
    dest = out / master.stem
    shutil.rmtree(dest, ignore_errors=True)
    otter = pathlib.Path(sys.executable).parent / "otter"
    flags = ["--no-pdfs"] + ([] if run_tests else ["--no-run-tests"])
    proc = subprocess.run([str(otter), "assign", *flags, str(master), str(dest)],
                          cwd=master.parent, capture_output=True, text=True)
    if proc.returncode != 0:
        failure = [line for line in proc.stderr.splitlines() if "WARNING: Location" not in line]
        return ["otter assign failed (a solution fails its own tests, or the master is malformed):\n"
                + "\n".join(failure[-60:])]
    zips = sorted((dest / "autograder").glob(f"{master.stem}-autograder_*.zip"))
    if len(zips) != 1:
        return [f"expected one autograder zip, found {[z.name for z in zips]}"]
    zips[0].rename(dest / "autograder" / f"{master.stem}-autograder.zip")  # a stable name
    return [f"solution leaked to the student: {hit}" for hit in leaks(dest / "student", secrets(master))]


def questions(master: pathlib.Path) -> list[tuple[str, float, bool]]:
    """(name, points, manual) of each otter question of a master."""
    nb = nbformat.read(master, as_version=4)
    heads = [c.source for c in nb.cells if c.cell_type == "raw" and c.source.startswith("# BEGIN QUESTION")]
    return [(re.search(r"name:\s*(\S+)", h).group(1), float(re.search(r"points:\s*([\d.]+)", h).group(1)),
             "manual: true" in h) for h in heads]


def summary(master: pathlib.Path) -> str:
    qs = questions(master)
    nb = nbformat.read(master, as_version=4)
    hidden = sum(map(is_hidden_test, nb.cells))
    return (f"{len(qs)} questions ({sum(m for *_, m in qs)} written), {sum(p for _, p, _ in qs):g} points, "
            f"{len(secrets(master))} secret lines, {hidden} hidden tests")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("masters", nargs="*", type=pathlib.Path)
    parser.add_argument("--out", type=pathlib.Path, default=MASTERS / "dist")
    parser.add_argument("--jobs", type=int, default=2, help="masters built at once (default 2)")
    parser.add_argument("--no-run-tests", dest="run_tests", action="store_false",
                        help="do not run the tests against the solutions (the suite grades them later)")
    args = parser.parse_args(argv)
    masters = [m.resolve() for m in args.masters] or sorted(MASTERS.glob("*.ipynb"))
    if not masters:
        sys.exit(f"no master notebooks in {MASTERS}")
    build_support()
    for master in masters:
        if master.parent != MASTERS:  # masters elsewhere (tests) get their own copy of the support files
            shutil.copytree(SUPPORT, master.parent / "_support", dirs_exist_ok=True)
    failed = 0

    def timed(master):
        start = time.perf_counter()
        return build(master, args.out.resolve(), args.run_tests), time.perf_counter() - start

    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:  # each build is a subprocess
        for master, (problems, seconds) in zip(masters, pool.map(timed, masters)):
            status = "FAILED" if problems else "ok"
            print(f"{master.stem}: {status} in {seconds:.0f} s; {summary(master)}", flush=True)
            for p in problems:
                print("  " + p.replace("\n", "\n    "))
            failed += bool(problems)
    print(f"\nStudent notebooks: {args.out}/<name>/student/; autograders: {args.out}/<name>/autograder/")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
