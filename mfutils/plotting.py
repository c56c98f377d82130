"""The book's figures: one style, standard sizes for the text column, colours with fixed meanings.

Every figure of the book is made with :func:`panels` under the style ``mfutils.book`` (applied by
:func:`panels` itself), so that its smallest text is at least 11 CSS pixels when the page shows it
at the 672-pixel column width: one or two panels a row, 6.5 inches wide at 100 dpi.
"""
from __future__ import annotations

import numpy as np

COLUMN_PX = 672          # the book's text column, CSS pixels
DPI = 100                # figure.dpi of the style
WIDTH = 6.5              # inches: 650 pixels, 670 with the saved margin
ROW_HEIGHT = {1: 3.6, 2: 2.9}   # inches per row of panels, by panels per row
STYLE = "mfutils.book"

# Okabe-Ito colours, one meaning each across the book.
COLORS = {
    "mean-field": "#0072B2",    # blue: the mean-field scaling, measured particles
    "ntk": "#D55E00",           # vermilion: the lazy (NTK) scaling
    "prediction": "#D55E00",    # vermilion: a theoretical prediction or bound
    "reference": "#000000",     # black: a large-N reference or the mean-field limit
    "fit": "#009E73",           # bluish green: a fitted line or a second measurement
    "guide": "#777777",         # grey: a slope guide
}
SEQUENCE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]


def panels(ncols: int = 1, nrows: int = 1, *, height: float | None = None, **subplots):
    """A figure of ``nrows`` x ``ncols`` panels sized for the text column, in the book's style.

    Args:
      ncols: panels per row, 1 or 2 (three panels in a row cannot be read at column width).
      nrows: rows of panels.
      height: the height of one row in inches (default 3.6 for one panel a row, 2.9 for two).
      **subplots: passed to ``plt.subplots`` (``sharex``, ``sharey``, ...).

    Returns:
      ``(fig, axes)`` as ``plt.subplots`` returns them.

    Example:
      >>> fig, (left, right) = panels(2)
      >>> fig.get_size_inches().tolist()
      [6.5, 2.9]
    """
    import matplotlib.pyplot as plt

    if ncols not in (1, 2) or nrows < 1:
        raise ValueError(f"panels: one or two panels a row and at least one row, got "
                         f"ncols={ncols}, nrows={nrows}")
    plt.style.use(STYLE)
    row = ROW_HEIGHT[ncols] if height is None else height
    if not row > 0:
        raise ValueError(f"panels: height must be positive, got {height}")
    return plt.subplots(nrows, ncols, figsize=(WIDTH, row * nrows), **subplots)


def width_axis(ax, widths) -> None:
    """A logarithmic x axis labelled with the widths themselves (16, 32, ...), no minor ticks.

    Example:
      >>> fig, ax = panels()
      >>> width_axis(ax, [16, 64, 256])
      >>> [t.get_text() for t in ax.get_xticklabels()]
      ['16', '64', '256']
    """
    widths = np.asarray(widths)
    ax.set_xscale("log")
    ax.set_xticks(widths, [f"{w:g}" for w in widths])
    ax.minorticks_off()


def smallest_text_px(png_width: int, points: float, dpi: float = DPI,
                     column: int = COLUMN_PX) -> float:
    """The CSS size in pixels of text of ``points`` in a PNG of ``png_width`` pixels made at
    ``dpi``, when the page scales the image down to the column (never up).

    Example:
      >>> round(smallest_text_px(670, 9), 1), round(smallest_text_px(1340, 9), 1)
      (12.5, 6.3)
    """
    if png_width <= 0 or points <= 0 or dpi <= 0:
        raise ValueError("smallest_text_px: width, size and dpi must be positive")
    return points * dpi / 72 * min(1.0, column / png_width)
