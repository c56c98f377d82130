"""Small statistics used to state a chapter's figures: log-log slopes with confidence intervals."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import stdtrit

__all__ = ["SlopeFit", "loglog_slope"]


class SlopeFit(NamedTuple):
    """Least-squares fit log y = intercept + slope log x, with a two-sided t interval for the slope."""

    slope: float
    intercept: float
    ci: tuple[float, float]


def loglog_slope(x, y, level: float = 0.95) -> SlopeFit:
    """Fit log y against log x (ordinary least squares); needs >= 3 positive, finite points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError("a slope with an interval needs at least 3 points")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("log-log fit needs finite, positive x and y")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    lx, ly = np.log(x), np.log(y)
    lx_c = lx - lx.mean()
    slope = float(lx_c @ (ly - ly.mean()) / (lx_c @ lx_c))
    intercept = float(ly.mean() - slope * lx.mean())
    resid = ly - intercept - slope * lx
    stderr = np.sqrt(resid @ resid / (len(x) - 2) / (lx_c @ lx_c))
    half = float(stdtrit(len(x) - 2, 0.5 + level / 2) * stderr)
    return SlopeFit(slope, intercept, (slope - half, slope + half))
