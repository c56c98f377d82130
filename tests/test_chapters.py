"""The chapters as a reader meets them: code that serves the reading, figures legible at the
book's column width. These read the stored notebooks (no execution, no build)."""
from __future__ import annotations

import base64
import io
import json
import pathlib
import re

import matplotlib
import pytest
from PIL import Image

from mfutils import plotting

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
STYLE = ROOT / "mfutils" / "book.mplstyle"
MAX_LINE, MAX_VISIBLE_LINES, MIN_TEXT_PX = 88, 25, 11.0
HIDDEN = {"hide-input", "remove-cell"}


def code_cells(path):
    for index, cell in enumerate(json.loads(path.read_text())["cells"]):
        if cell["cell_type"] == "code":
            yield index, cell, "".join(cell["source"]), set(cell["metadata"].get("tags", []))


def style_text_sizes() -> dict[str, float]:
    """Every text size the style sets, in points."""
    params = matplotlib.rc_params_from_file(str(STYLE), use_default_template=False)
    return {k: float(v) for k, v in params.items()
            if k == "font.size" or k.endswith(("labelsize", "titlesize", "fontsize"))}


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_code_is_short_wraps_and_keeps_plotting_out_of_the_reading_path(path):
    problems = []
    for index, _cell, source, tags in code_cells(path):
        lines = source.split("\n")
        where = f"cell {index}"
        problems += [f"{where}: line of {len(line)} characters" for line in lines
                     if len(line) > MAX_LINE]
        if not tags & HIDDEN and len(lines) > MAX_VISIBLE_LINES:
            problems.append(f"{where}: {len(lines)} visible lines")
        if "plt.show" in source and not tags & HIDDEN:
            problems.append(f"{where}: a plotting cell shown to readers (tag it hide-input)")
        for pattern, why in ((r"NBVAL_", "an nbval marker in a comment (use a cell tag)"),
                             (r"plt\.subplots\(|rcParams|plt\.style", "a figure not made by mf.panels"),
                             (r"fontsize\s*=|size\s*=\s*['\"]?(x-)?small", "a font size set by hand")):
            if re.search(pattern, source):
                problems.append(f"{where}: {why}")
    assert not problems, "\n".join(problems)


def test_the_style_is_the_one_the_figures_assume():
    assert plotting.DPI == matplotlib.rc_params_from_file(str(STYLE))["figure.dpi"]
    assert min(style_text_sizes().values()) >= 9


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_every_stored_figure_is_legible_at_column_width(path):
    """Its smallest text, rendered at the 672-px column, is at least 11 CSS pixels: computed from
    the PNG's width, its dpi (stored in the file) and the style's smallest font."""
    smallest = min(style_text_sizes().values())
    figures = 0
    for index, cell, _, _ in code_cells(path):
        for output in cell.get("outputs", []):
            data = output.get("data", {}).get("image/png")
            if data is None:
                continue
            figures += 1
            image = Image.open(io.BytesIO(base64.b64decode(data)))
            dpi = round(image.info.get("dpi", (0, 0))[0])
            assert dpi == plotting.DPI, f"cell {index}: figure at {dpi} dpi, not the style's"
            px = plotting.smallest_text_px(image.width, smallest, dpi)
            assert px >= MIN_TEXT_PX, (f"cell {index}: {image.width}-px figure, its smallest text "
                                       f"is {px:.1f} px at the column width")
    assert figures >= 2


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_the_gaussian_is_written_with_its_own_letter(path):
    """N is the width; the Gaussian law is \\mathcal N, in the text, the captions and the labels."""
    cells = json.loads(path.read_text())["cells"]
    text = "\n".join("".join(c["source"]) + json.dumps(c["metadata"]) for c in cells)
    text = text.replace("\\\\", "\\")  # the captions, from their JSON form
    wrong = [text[max(0, m.start() - 20): m.end() + 10]
             for m in re.finditer(r"\bN(?:\\big)?\(0,", text)
             if not text[:m.start()].endswith(("mathcal ", "mathcal{", "mathcal"))]
    assert not wrong, f"a Gaussian written N(0, ...) instead of \\mathcal N(0, ...): {wrong}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_stored_outputs_carry_no_warnings(path):
    """A warning printed by a cell is stored with the author's file paths, which differ on every
    other machine, so nbval fails there (and a reader sees it): chapters keep stderr empty."""
    stderr = [f"cell {index}: {''.join(out.get('text', ''))[:120]}"
              for index, cell, _source, _tags in code_cells(path)
              for out in cell.get("outputs", [])
              if out.get("output_type") == "stream" and out.get("name") == "stderr"]
    assert not stderr, stderr
