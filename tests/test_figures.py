"""The figure comparison used on every notebook cell: it passes on a reproduction, fails on a change.

The end-to-end counterpart (a tampered notebook fails under nbval) is test_nbval_catches_changes.py.
"""
import base64
import io

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from nbval_figures import compare_figures  # noqa: E402


def figure_output(shift=0.0, size=(4, 3)):
    fig, ax = plt.subplots(figsize=size, dpi=100)
    t = np.linspace(0, 5, 50)
    ax.semilogy(t, np.exp(-t) + 0.05 + shift)
    ax.set(xlabel="t", ylabel="risk")
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return [{"output_type": "display_data",
             "data": {"image/png": base64.b64encode(buf.getvalue()).decode()}}]


def test_identical_figures_pass(tmp_path):
    assert compare_figures(figure_output(), figure_output(), tmp_path, "same") == []


def test_a_changed_curve_fails(tmp_path):
    failures = compare_figures(figure_output(), figure_output(shift=0.05), tmp_path, "moved")
    assert len(failures) == 1 and "RMS" in failures[0]


def test_missing_or_resized_figures_fail(tmp_path):
    assert "1 stored figure(s), 0 produced" in compare_figures(figure_output(), [], tmp_path, "x")[0]
    assert compare_figures(figure_output(), figure_output(size=(5, 3)), tmp_path, "size")
