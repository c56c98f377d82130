"""pytest plugin: every stored figure of a notebook must be reproduced by its re-execution.

Loaded for the whole session with `-p nbval_figures` (pyproject.toml), not from a conftest.py:
conftest hooks only see the items of their own directory, and the notebooks live in chapters/.
"""
from __future__ import annotations

import base64
import pathlib

import pytest
from matplotlib.testing.compare import compare_images

FIGURE_DIFFS = pathlib.Path(__file__).resolve().parent.parent / "_build" / "figure-diffs"

# RMS difference (on the 0-255 scale) tolerated between a stored and a re-rendered figure. Runs on
# one machine give 0; the margin absorbs antialiasing differences between CPUs, while a moved
# curve, marker or label gives an RMS of several units (tests/test_figures.py checks both).
FIGURE_RMS_TOL = 1.0


def pngs(outputs) -> list[str]:
    """The base64 image/png payloads of a cell's display outputs, in order."""
    return [o["data"]["image/png"] for o in outputs
            if o.get("output_type") in ("display_data", "execute_result")
            and "image/png" in o.get("data", {})]


def compare_figures(stored, produced, workdir: pathlib.Path, label: str) -> list[str]:
    """Return a list of failures (empty when every figure matches within FIGURE_RMS_TOL)."""
    stored, produced = pngs(stored), pngs(produced)
    if len(stored) != len(produced):
        return [f"{label}: {len(stored)} stored figure(s), {len(produced)} produced"]
    failures = []
    workdir.mkdir(parents=True, exist_ok=True)
    for k, (ref, new) in enumerate(zip(stored, produced)):
        expected, actual = workdir / f"{label}-{k}-expected.png", workdir / f"{label}-{k}.png"
        expected.write_bytes(base64.b64decode(ref))
        actual.write_bytes(base64.b64decode(new))
        try:
            result = compare_images(str(expected), str(actual), FIGURE_RMS_TOL, in_decorator=True)
        except Exception as exc:  # e.g. a different image size
            failures.append(f"{label} figure {k}: {exc}")
            continue
        if result is not None:
            failures.append(f"{label} figure {k}: RMS {result['rms']:.2f} > {FIGURE_RMS_TOL} "
                            f"(images and diff in {workdir})")
    return failures


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
