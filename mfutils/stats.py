"""Small statistics used to state a chapter's figures: slopes and variances with intervals."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.special import chdtri, stdtrit

from . import _checks

__all__ = ["LineFit", "line_fit", "SlopeFit", "loglog_slope", "Estimate", "variance_interval"]


class LineFit(NamedTuple):
    """Least-squares line y = intercept + slope x, with two-sided t intervals (n - 2 d.o.f.)."""

    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]


def line_fit(x, y, level: float = 0.95) -> LineFit:
    """Ordinary least squares y = intercept + slope x; needs >= 3 finite points, not all at one x."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError("a fit with intervals needs at least 3 points")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    _checks.level(level)
    xc = x - x.mean()
    if not (xc @ xc) > 0:
        raise ValueError("x must take at least two distinct values")
    slope = float(xc @ (y - y.mean()) / (xc @ xc))
    intercept = float(y.mean() - slope * x.mean())
    resid = y - intercept - slope * x
    s2 = resid @ resid / (len(x) - 2)
    q = float(stdtrit(len(x) - 2, 0.5 + level / 2))
    hs = q * float(np.sqrt(s2 / (xc @ xc)))
    hi = q * float(np.sqrt(s2 * (1 / len(x) + x.mean() ** 2 / (xc @ xc))))
    return LineFit(slope, intercept, (slope - hs, slope + hs), (intercept - hi, intercept + hi))


class SlopeFit(NamedTuple):
    """Least-squares fit log y = intercept + slope log x, with a two-sided t interval for the slope."""

    slope: float
    intercept: float
    ci: tuple[float, float]


def loglog_slope(x, y, level: float = 0.95) -> SlopeFit:
    """Fit log y against log x (ordinary least squares); needs >= 3 positive, finite points."""
    x, y = np.asarray(x, float), np.asarray(y, float)  # shapes and lengths: checked by line_fit
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y)) and np.all(x > 0) and np.all(y > 0)):
        raise ValueError("log-log fit needs finite, positive x and y")
    fit = line_fit(np.log(x), np.log(y), level)
    return SlopeFit(fit.slope, fit.intercept, fit.slope_ci)


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
