"""The graded coursework: `make assignments` builds every master with otter-grader (no Docker);
student versions and the published book leak no solution; a blank student notebook scores nothing
and the solutions score full marks under the autograder; a wrong solution stops the build."""
from __future__ import annotations

import concurrent.futures
import importlib.util
import json
import pathlib
import re
import shutil
import subprocess
import sys
import zipfile

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
MASTERS = sorted((ROOT / "assignments").glob("*.ipynb"))
OTTER = pathlib.Path(sys.executable).parent / "otter"

_spec = importlib.util.spec_from_file_location("assignments", ROOT / "tools" / "assignments.py")
assignments = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(assignments)


def questions(master: pathlib.Path) -> list[tuple[str, bool]]:
    """(name, manual) of each otter question of a master."""
    return [(name, manual) for name, _, manual in assignments.questions(master)]


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """`make assignments` into a fresh folder: (output folder, completed process). Otter's own run
    of the tests against the solutions is skipped: `graded` runs every solution through its
    autograder (public and hidden tests alike), and the last test of this module checks that a
    failing solution stops the build when the tests do run."""
    out = tmp_path_factory.mktemp("assignments")
    proc = subprocess.run(["make", "--no-print-directory", "assignments", f"ASSIGNMENTS_OUT={out}",
                           "ASSIGNMENTS_FLAGS=--no-run-tests"], cwd=ROOT, capture_output=True, text=True)
    return out, proc


def grade(autograder: pathlib.Path, notebook: pathlib.Path,
          out: pathlib.Path) -> dict[str, tuple[float, float]]:
    """Run the autograder on one submission with `otter run` (no Docker): {question: (score, max)}."""
    out.mkdir(parents=True)
    submission = out / notebook.name
    shutil.copy(notebook, submission)
    subprocess.run([str(OTTER), "run", "--no-logo", "-a", str(autograder), "-o", str(out), str(submission)],
                   cwd=out, check=True, capture_output=True, text=True)
    results = json.loads((out / "results.json").read_text())["tests"]
    return {t["name"]: (t["score"], t["max_score"]) for t in results if t["name"] != "Public Tests"}


@pytest.fixture(scope="module")
def graded(built, tmp_path_factory):
    """Scores of the blank student notebook and of the solution notebook of every assignment.
    The solutions go first: the blank notebooks, which run the same code up to each missing
    answer, then find its compiled programs in JAX's persistent cache."""
    out, proc = built
    assert proc.returncode == 0, proc.stdout + proc.stderr
    work = tmp_path_factory.mktemp("graded")
    jobs = {}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        for kind, folder in (("solution", "autograder"), ("blank", "student")):
            for master in MASTERS:
                dist = out / master.stem
                zip_ = dist / "autograder" / f"{master.stem}-autograder.zip"
                jobs[master.stem, kind] = pool.submit(grade, zip_, dist / folder / master.name,
                                                      work / master.stem / kind)
        return {key: job.result() for key, job in jobs.items()}


def test_one_assignment_per_finished_chapter():
    chapters = sorted(p.stem for p in (ROOT / "chapters").glob("ch0*.ipynb"))
    covered = {int(m.group(1)) for master in MASTERS
               for m in [re.search(r"\*Chapter (\d+),", master.read_text())] if m}
    assert covered == {int(c[2:4]) for c in chapters}, (chapters, covered)


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_master_mixes_derivation_code_and_figure(master):
    nb = nbformat.read(master, as_version=4)
    numbered = {re.match(r"q(\d+)", name).group(1) for name, _ in questions(master)}
    assert 2 <= len(numbered) <= 4, "2 to 4 questions per assignment"
    assert any(manual for _, manual in questions(master)), "a written derivation"
    assert any(not manual for _, manual in questions(master)), "autograded parts"
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    assert "mf." in code and "plt.show()" in code, "coding with mfutils and a figure to read"
    assert sum(map(assignments.is_hidden_test, nb.cells)) >= len(numbered), "hidden tests for every question"


def test_make_assignments_builds_every_master(built):
    out, proc = built
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for master in MASTERS:
        assert re.search(rf"^{master.stem}: ok", proc.stdout, re.M), proc.stdout
        dist = out / master.stem
        student = nbformat.read(dist / "student" / master.name, as_version=4)
        checks = {m.group(1) for c in student.cells if c.cell_type == "code"
                  for m in re.finditer(r'grader\.check\("(\w+)"\)', c.source)}
        assert checks == {name for name, manual in questions(master) if not manual}
        with zipfile.ZipFile(dist / "autograder" / f"{master.stem}-autograder.zip") as z:
            names = set(z.namelist())
            env = z.read("environment.yml").decode()
        assert {f"tests/{q}.py" for q in checks} <= names
        assert f"files/_support/{assignments.WHEEL}" in names and assignments.WHEEL in env
        assert re.search(r"jax==\d", env) and "python=3.11" in env


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_student_version_leaks_no_solution(built, master):
    out, _ = built
    secret = assignments.secrets(master)
    assert len(secret) >= 10
    assert assignments.leaks(out / master.stem / "student", secret) == []
    # The autograder folder (instructors only) does hold them: the check looks in the right place.
    assert assignments.leaks(out / master.stem / "autograder", secret)


def test_leak_check_finds_planted_solutions(built, tmp_path):
    out, _ = built
    master = ROOT / "assignments" / "a1_scalings.ipynb"
    nb = nbformat.read(out / "a1_scalings" / "student" / master.name, as_version=4)
    planted = ['lazy = "ntk"', 'assert lazy == "ntk"',
               "NTK: the variance is $c$ for every $N$; by the central limit theorem $f_N(x)$ converges to a"]
    assert set(planted) <= assignments.secrets(master)  # a solution line, a hidden test, a written answer
    nb.cells.append(nbformat.v4.new_code_cell(planted[0] + "\n" + planted[1]))
    nb.cells.append(nbformat.v4.new_markdown_cell(planted[2]))
    nbformat.write(nb, tmp_path / master.name)
    found = assignments.leaks(tmp_path, assignments.secrets(master))
    assert len(found) == 3 and all(f.startswith(master.name) for f in found), found


def test_published_book_holds_no_graded_solution(built_book):
    assert built_book.returncode == 0
    assert not list(built_book.html.rglob("a[0-9]_*")), "assignments must stay out of the book"
    for master in MASTERS:
        assert assignments.leaks(built_book.html, assignments.secrets(master)) == [], master.stem


@pytest.mark.parametrize("master", MASTERS, ids=lambda p: p.stem)
def test_blank_notebook_fails_and_solution_passes(graded, master):
    blank, solution = graded[master.stem, "blank"], graded[master.stem, "solution"]
    auto = {name for name, manual in questions(master) if not manual}
    assert set(blank) == set(solution) == auto
    assert all(score == 0 for score, _ in blank.values()), blank
    assert all(score == top > 0 for score, top in solution.values()), solution


def test_hidden_tests_catch_a_wrong_answer_the_public_tests_accept(built, tmp_path):
    out, _ = built
    dist = out / "a1_scalings"
    nb = nbformat.read(dist / "autograder" / "a1_scalings.ipynb", as_version=4)
    cell = next(c for c in nb.cells if 'lazy = "ntk"' in c.source)
    cell.source = cell.source.replace('lazy = "ntk"', 'lazy = "mean-field"')  # a valid but wrong choice
    nbformat.write(nb, tmp_path / "a1_scalings.ipynb")
    scores = grade(dist / "autograder" / "a1_scalings-autograder.zip", tmp_path / "a1_scalings.ipynb",
                   tmp_path / "run")
    assert scores["q3"][0] < scores["q3"][1] and scores["q2"][0] == scores["q2"][1], scores


def test_a_solution_that_fails_its_tests_stops_the_build(tmp_path):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    R, C = nbformat.v4.new_raw_cell, nbformat.v4.new_code_cell
    nb.cells = [R("# ASSIGNMENT CONFIG\nname: broken\ngenerate: true\nexport_cell: false"),
                R("# BEGIN QUESTION\nname: q1\npoints: 1"), R("# BEGIN SOLUTION"),
                C("answer = 41  # SOLUTION"), R("# END SOLUTION"), R("# BEGIN TESTS"),
                C("assert answer == 42"), R("# END TESTS"), R("# END QUESTION")]
    nbformat.write(nb, tmp_path / "broken.ipynb")
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "assignments.py"), "--out",
                           str(tmp_path / "dist"), str(tmp_path / "broken.ipynb")],
                          capture_output=True, text=True)
    assert proc.returncode == 1 and "broken: FAILED" in proc.stdout and "otter assign failed" in proc.stdout
