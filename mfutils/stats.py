"""Small statistics used to state a chapter's figures: fitted lines and power laws, variances,
each with a confidence interval (quantiles from :mod:`scipy.stats`)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import special, stats

from . import _checks

__all__ = ["Fit", "line_fit", "power_law_fit", "ScalingFit", "scaling_fit", "Estimate",
           "mean_interval", "seed_variance", "variance_interval", "wasserstein1", "knn_entropy"]


class Fit(NamedTuple):
    """A fitted line y = intercept + slope x (``loglog=False``) or power law
    y = exp(intercept) x^slope (``loglog=True``: a line in log y against log x), with two-sided
    t intervals (n - 2 degrees of freedom). Calling the fit evaluates it: ``fit(x)``."""

    slope: float
    intercept: float
    slope_ci: tuple[float, float]
    intercept_ci: tuple[float, float]
    loglog: bool = False

    def __call__(self, x):
        """The fitted curve at x."""
        x = np.asarray(x, float)
        return np.exp(self.intercept) * x**self.slope if self.loglog else self.intercept + self.slope * x


def _finite_1d(x, y, se):
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of the same length, got {x.shape} and {y.shape}")
    if len(x) < 3:
        raise ValueError("a fit with intervals needs at least 3 points")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("x and y must be finite")
    return x, y, _standard_errors(se, y)


def _standard_errors(se, y):
    """None, or one finite, positive standard error per point of y, as a float array."""
    if se is None:
        return None
    se = np.asarray(se, float)
    if se.shape != y.shape or not np.all(np.isfinite(se) & (se > 0)):
        raise ValueError(f"se must hold one finite, positive standard error per point, got {se}")
    return se


def _wls(x, y, se, level, loglog):
    """Least squares, weighted by 1/se^2 when standard errors are given. Weighted intervals use
    the stated errors, scaled up (never down) by the residual scatter: sqrt(max(1, chi2/(n-2)))."""
    _checks.level(level)
    w = np.ones_like(y) if se is None else se**-2.0
    xm = np.sum(w * x) / np.sum(w)
    xc = x - xm
    sxx = np.sum(w * xc**2)
    if not sxx > 0:
        raise ValueError("x must take at least two distinct values")
    slope = float(np.sum(w * xc * (y - np.sum(w * y) / np.sum(w))) / sxx)
    intercept = float(np.sum(w * y) / np.sum(w) - slope * xm)
    chi2 = np.sum(w * (y - intercept - slope * x) ** 2) / (len(x) - 2)
    s2 = chi2 if se is None else max(1.0, chi2)
    q = float(stats.t.ppf(0.5 + level / 2, len(x) - 2))
    hs = q * float(np.sqrt(s2 / sxx))
    hi = q * float(np.sqrt(s2 * (1 / np.sum(w) + xm**2 / sxx)))
    return Fit(slope, intercept, (slope - hs, slope + hs), (intercept - hi, intercept + hi), loglog)


def line_fit(x, y, se=None, level: float = 0.95) -> Fit:
    """Least-squares line y = intercept + slope x; needs >= 3 finite points, not all at one x.

    Args:
      se: optional standard errors of y, one per point: weighted least squares.

    Example:
      >>> fit = line_fit([0, 1, 2, 3], [1.0, 3.1, 4.9, 7.0])
      >>> round(fit.slope, 2), round(float(fit(10)), 1)
      (1.98, 20.8)
    """
    return _wls(*_finite_1d(x, y, se), level, loglog=False)


def power_law_fit(x, y, se=None, level: float = 0.95) -> Fit:
    """Fit y = C x^slope by least squares of log y on log x; needs >= 3 positive, finite points.

    Args:
      se: optional standard errors of y, one per point; they enter as the errors se / y of log y.

    Example:
      >>> fit = power_law_fit([32, 64, 128, 256], [0.1, 0.05, 0.025, 0.0125])
      >>> round(fit.slope, 6), round(float(fit(512)), 6)
      (-1.0, 0.00625)
    """
    x, y, se = _finite_1d(x, y, se)
    if not (np.all(x > 0) and np.all(y > 0)):
        raise ValueError("a power-law fit needs positive x and y")
    return _wls(np.log(x), np.log(y), None if se is None else se / y, level, loglog=True)


class ScalingFit(NamedTuple):
    """A fitted scaling law y = C prod_k x_k^(exponent_k), with two-sided t intervals
    (n - K - 1 degrees of freedom for K variables). Calling the fit evaluates it:
    ``fit(d=..., N=...)`` with the variables by name."""

    exponents: dict[str, float]
    exponent_ci: dict[str, tuple[float, float]]
    log_prefactor: float

    def __call__(self, **x):
        """The fitted law at the given values of every variable."""
        if set(x) != set(self.exponents):
            raise ValueError(f"give every variable of the fit, {sorted(self.exponents)}")
        return np.exp(self.log_prefactor) * np.prod(
            [np.asarray(x[k], float) ** e for k, e in self.exponents.items()], axis=0)


def scaling_fit(y, se=None, level: float = 0.95, **x) -> ScalingFit:
    """Fit y = C prod_k x_k^(exponent_k) by least squares of log y on the log x_k, the
    variables given by name (``d=dims, N=widths``), one value per point each.

    Args:
      y: (n,) positive values, n > K + 1 for K variables.
      se: optional standard errors of y, one per point; they enter as the errors se / y of log y,
        and the intervals use them, scaled up (never down) by the residual scatter
        sqrt(max(1, chi2/(n - K - 1))), as :func:`line_fit`.
      x: the variables, each (n,) positive and not all equal.

    Example:
      >>> d, n = np.array([16, 32, 64, 16, 32, 64.0]), np.array([128, 128, 128, 512, 512, 512.0])
      >>> fit = scaling_fit(2 * d**0.5 / n, d=d, N=n)
      >>> {k: round(v, 6) for k, v in fit.exponents.items()}
      {'d': 0.5, 'N': -1.0}
    """
    _checks.level(level)
    if not x:
        raise ValueError("scaling_fit needs at least one variable, given by name")
    y = np.asarray(y, float)
    cols = {k: np.asarray(v, float) for k, v in x.items()}
    if y.ndim != 1 or any(v.shape != y.shape for v in cols.values()):
        raise ValueError(f"y and every variable must be 1-D of one length, got {y.shape} and "
                         f"{ {k: v.shape for k, v in cols.items()} }")
    n, k = len(y), len(cols)
    if n <= k + 1:
        raise ValueError(f"a fit of {k} exponents with intervals needs more than {k + 1} points")
    values = np.column_stack([y, *cols.values()])
    if not (np.all(np.isfinite(values)) and np.all(values > 0)):
        raise ValueError("a scaling fit needs finite, positive y and variables")
    ly = np.log(y)
    se = _standard_errors(se, y)
    w = np.ones(n) if se is None else (y / se) ** 2
    design = np.column_stack([np.ones(n), *(np.log(v) for v in cols.values())])
    normal = design.T @ (w[:, None] * design)
    if np.linalg.matrix_rank(normal) < k + 1:
        raise ValueError("the variables must vary independently of one another")
    cov = np.linalg.inv(normal)
    coef = cov @ design.T @ (w * ly)
    chi2 = float(np.sum(w * (ly - design @ coef) ** 2)) / (n - k - 1)
    s2 = chi2 if se is None else max(1.0, chi2)
    half = float(stats.t.ppf(0.5 + level / 2, n - k - 1)) * np.sqrt(s2 * np.diag(cov))
    names = list(cols)
    return ScalingFit({m: float(coef[i + 1]) for i, m in enumerate(names)},
                      {m: (float(coef[i + 1] - half[i + 1]), float(coef[i + 1] + half[i + 1]))
                       for i, m in enumerate(names)}, float(coef[0]))


class Estimate(NamedTuple):
    """A point estimate with its two-sided confidence interval and its standard error."""

    value: float
    ci: tuple[float, float]
    se: float


def _samples(name: str, samples, minimum: int, level: float) -> np.ndarray:
    """A 1-D float array of at least ``minimum`` finite samples, and a valid confidence level."""
    s = np.asarray(samples, float)
    if s.ndim != 1 or len(s) < minimum or not np.all(np.isfinite(s)):
        raise ValueError(f"{name} needs a 1-D array of at least {minimum} finite samples")
    _checks.level(level)
    return s


def mean_interval(samples, level: float = 0.95) -> Estimate:
    """Sample mean of i.i.d. samples, with the Student-t interval mean +- t_{(1+level)/2, n-1} s/sqrt(n)
    and the standard error s / sqrt(n) (s the unbiased standard deviation).

    Example:
      >>> est = mean_interval(np.random.default_rng(0).normal(1, 2, 4000))
      >>> bool(est.ci[0] < 1 < est.ci[1]), round(est.se, 3)
      (True, 0.032)
    """
    s = _samples("mean_interval", samples, 2, level)
    n, mean = len(s), float(np.mean(s))
    se = float(np.std(s, ddof=1) / np.sqrt(n))
    half = float(stats.t.ppf((1 + level) / 2, n - 1)) * se
    return Estimate(mean, (mean - half, mean + half), se)


def variance_interval(samples, level: float = 0.95) -> Estimate:
    """Unbiased sample variance of i.i.d. (approximately Gaussian) samples, with the chi-square
    interval (n-1) s^2 / chi2_{(1 +- level)/2, n-1} and the standard error s^2 sqrt(2/(n-1)).

    Example:
      >>> est = variance_interval(np.random.default_rng(0).normal(0, 2, 4000))
      >>> bool(est.ci[0] < 4 < est.ci[1]), round(est.se, 2)
      (True, 0.09)
    """
    s = _samples("variance_interval", samples, 3, level)
    n, var = len(s), float(np.var(s, ddof=1))
    lo_q, hi_q = stats.chi2.interval(level, n - 1)
    return Estimate(var, (float((n - 1) * var / hi_q), float((n - 1) * var / lo_q)),
                    var * float(np.sqrt(2 / (n - 1))))


def seed_variance(samples, level: float = 0.95) -> Estimate:
    """The variance over seeds of many outputs at once: the unbiased variance over axis 0 (the S
    seeds) of ``samples`` (S, ...), averaged over every other axis (test points, classes), with
    the jackknife standard error over the seeds and a Student-t interval with S - 1 degrees of
    freedom. The outputs of one seed may be correlated in any way; the seeds must be independent.

    Example:
      >>> x = np.random.default_rng(0).normal(0, 2, (400, 30))
      >>> est = seed_variance(x)
      >>> bool(est.ci[0] < 4 < est.ci[1]), round(est.value, 2)
      (True, 3.99)
    """
    x = np.asarray(samples, float)
    if x.ndim < 1 or len(x) < 3 or x[0].size < 1 or not np.all(np.isfinite(x)):
        raise ValueError(f"seed_variance needs finite samples of shape (S, ...) with S >= 3 seeds, "
                         f"got shape {x.shape}")
    _checks.level(level)
    s = len(x)
    flat = x.reshape(s, -1)
    value = float(np.var(flat, axis=0, ddof=1).mean())
    leave_out = np.array([np.var(np.delete(flat, k, axis=0), axis=0, ddof=1).mean() for k in range(s)])
    se = float(np.sqrt((s - 1) / s * np.sum((leave_out - leave_out.mean()) ** 2)))
    half = float(stats.t.ppf((1 + level) / 2, s - 1)) * se
    return Estimate(value, (value - half, value + half), se)


def wasserstein1(samples, reference, rows_per_block: int = 256):
    """W1 between the empirical law of each row of ``samples`` and that of ``reference``, on the line.

    In one dimension W1 is the L1 distance between quantile functions; both are step functions,
    constant between consecutive points of {j/n} and {m/M}, so the integral is a finite sum over
    those cells, computed exactly and for all rows at once (in blocks of ``rows_per_block``).

    Args:
      samples: (n,) or (S, n) finite values, one empirical measure per row.
      reference: (M,) finite values.
    Returns:
      a float, or an (S,) array.

    Example:
      >>> float(wasserstein1([0.0, 1.0], [0.5]))
      0.5
      >>> wasserstein1([[0.0, 1.0], [2.0, 3.0]], [0.0, 0.5, 1.0]).round(4).tolist()
      [0.1667, 2.0]
    """
    x, r = np.asarray(samples, float), np.sort(np.asarray(reference, float))
    if x.ndim not in (1, 2) or r.ndim != 1 or x.shape[-1] < 1 or r.size < 1:
        raise ValueError(f"wasserstein1 needs samples (n,) or (S, n) and reference (M,); "
                         f"got {x.shape} and {r.shape}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(r))):
        raise ValueError("wasserstein1 needs finite samples and reference")
    rows_per_block = _checks.count("rows_per_block", rows_per_block)
    n, m = x.shape[-1], r.size
    cuts = np.union1d(np.arange(n + 1) / n, np.arange(m + 1) / m)
    width, mid = np.diff(cuts), 0.5 * (cuts[:-1] + cuts[1:])
    i = np.minimum((mid * n).astype(int), n - 1)
    j = np.minimum((mid * m).astype(int), m - 1)
    rows = np.sort(x.reshape(-1, n), axis=1)
    out = np.concatenate([np.abs(block[:, i] - r[j]) @ width
                          for block in np.split(rows, range(rows_per_block, len(rows),
                                                            rows_per_block))])
    return out.reshape(x.shape[:-1]) if x.ndim == 2 else float(out[0])


def knn_entropy(points, k: int = 4) -> float:
    """The Kozachenko-Leonenko estimate of the differential entropy H = -int p log p of the law of
    n points in R^D (rows of ``points``, (n, D)), from each point's distance r_i to its k-th
    nearest neighbour:

        H = psi(n) - psi(k) + log V_D + (D/n) sum_i log r_i,   V_D = pi^{D/2} / Gamma(D/2 + 1).

    Consistent for densities with finite entropy; its bias is O(n^{-1/D}) up to logarithms, so
    it is for low dimensions (D <= 5 or so at n of a few hundred). O(n^2 D) work.

    Example:
      >>> rng = np.random.default_rng(0)
      >>> h = knn_entropy(rng.standard_normal((2000, 2)))  # exact: log(2 pi e) = 2.838
      >>> round(h, 1)
      2.8
    """
    x = np.asarray(points, float)
    if x.ndim != 2 or x.shape[0] < 2:
        raise ValueError(f"points must be (n, D) with n >= 2, got shape {x.shape}")
    n, dim = x.shape
    k = _checks.count("k", k)
    if k >= n:
        raise ValueError(f"k = {k} needs more than k points, got n = {n}")
    if not np.all(np.isfinite(x)):
        raise ValueError("points must be finite")
    sq = np.sum(x**2, axis=1)
    dist2 = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    np.fill_diagonal(dist2, np.inf)
    r = np.sqrt(np.partition(dist2, k - 1, axis=1)[:, k - 1])
    if np.any(r == 0):
        raise ValueError("points must be distinct (a zero nearest-neighbour distance)")
    log_ball = 0.5 * dim * np.log(np.pi) - special.gammaln(0.5 * dim + 1)
    return float(special.digamma(n) - special.digamma(k) + log_ball + dim * np.mean(np.log(r)))
