"""End to end: the notebook checks of this suite really fail when a stored output is not reproduced.

A two-cell notebook (a printed number, a figure) is executed, then checked by a pytest subprocess
with the project's own configuration (nbval, the sanitize file, the figure plugin) three times:
untouched (must pass), with its stored figure altered (must fail), and with its stored number
altered (must fail).
"""
import base64
import io
import pathlib
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient
from PIL import Image, ImageDraw

ROOT = pathlib.Path(__file__).resolve().parent.parent
CELLS = ["print(f'{sum(k * k for k in range(10)) / 7:.3f}')",
         "import matplotlib.pyplot as plt\nplt.plot([0, 1, 2], [1, 0.2, 0.1])\nplt.xlabel('t')\nplt.show()"]


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in CELLS])
    NotebookClient(nb, kernel_name="python3").execute()
    return nb


def run_checks(nb, tmp_path) -> subprocess.CompletedProcess:
    path = tmp_path / "probe.ipynb"
    nbformat.write(nb, path)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "nbval_figures",
         "--nbval", "--nbval-current-env", "--nbval-sanitize-with",
         str(ROOT / "tests" / "nbval_sanitize.cfg"), "--rootdir", str(tmp_path), "-c", "/dev/null",
         str(path)],
        capture_output=True, text=True, cwd=tmp_path,
        env={"PYTHONPATH": str(ROOT / "tests"), "PATH": str(pathlib.Path(sys.executable).parent)})


def test_untouched_notebook_passes(executed, tmp_path):
    proc = run_checks(executed, tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:]


def test_altered_figure_fails(executed, tmp_path):
    nb = nbformat.from_dict(executed)
    out = nb.cells[1].outputs[0]
    image = Image.open(io.BytesIO(base64.b64decode(out.data["image/png"]))).convert("RGBA")
    ImageDraw.Draw(image).rectangle([250, 60, 300, 90], fill=(200, 30, 30, 255))
    buf = io.BytesIO()
    image.save(buf, "PNG")
    out.data["image/png"] = base64.b64encode(buf.getvalue()).decode()
    proc = run_checks(nb, tmp_path)
    assert proc.returncode != 0 and "figures not reproduced" in proc.stdout, proc.stdout[-2000:]


def test_altered_number_fails(executed, tmp_path):
    nb = nbformat.from_dict(executed)
    nb.cells[0].outputs[0].text = "40.715\n"  # the cell prints 285 / 7 = 40.714
    proc = run_checks(nb, tmp_path)
    assert proc.returncode != 0 and "Cell outputs differ" in proc.stdout, proc.stdout[-2000:]
