"""Small statistics used to state a chapter's figures: slopes and variances with intervals."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import chdtri, stdtrit

from . import _checks

__all__ = ["SlopeFit", "loglog_slope", "Estimate", "variance_interval"]


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
    _checks.level(level)
    lx, ly = np.log(x), np.log(y)
    lx_c = lx - lx.mean()
    slope = float(lx_c @ (ly - ly.mean()) / (lx_c @ lx_c))
    intercept = float(ly.mean() - slope * lx.mean())
    resid = ly - intercept - slope * lx
    stderr = np.sqrt(resid @ resid / (len(x) - 2) / (lx_c @ lx_c))
    half = float(stdtrit(len(x) - 2, 0.5 + level / 2) * stderr)
    return SlopeFit(slope, intercept, (slope - half, slope + half))


class Estimate(NamedTuple):
    """A point estimate with a two-sided confidence interval."""

    value: float
    ci: tuple[float, float]


def variance_interval(samples, level: float = 0.95) -> Estimate:
    """Unbiased sample variance of i.i.d. (approximately Gaussian) samples, with the chi-square
    interval (n-1) s^2 / chi2_{(1 +- level)/2, n-1}."""
    s = np.asarray(samples, float)
    if s.ndim != 1 or len(s) < 3 or not np.all(np.isfinite(s)):
        raise ValueError("variance_interval needs a 1-D array of at least 3 finite samples")
    _checks.level(level)
    n, var = len(s), float(np.var(s, ddof=1))
    hi_q, lo_q = chdtri(n - 1, (1 - level) / 2), chdtri(n - 1, (1 + level) / 2)
    return Estimate(var, (float((n - 1) * var / hi_q), float((n - 1) * var / lo_q)))
