"""Compare the PNG figures stored in a notebook cell with the ones its re-execution produced."""
from __future__ import annotations

import base64
import pathlib

from matplotlib.testing.compare import compare_images

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
