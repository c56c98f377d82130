"""Fits and intervals (mfutils.stats): exact on exact data, covering at their level on noisy data."""
import numpy as np
import pytest
from scipy.stats import wasserstein_distance

import mfutils as mf


def test_power_law_fit_recovers_a_power_law_and_draws_itself(rng):
    x = np.array([32, 64, 128, 256, 512.0])
    fit = mf.power_law_fit(x, 3.0 * x**-1.0)
    assert abs(fit.slope + 1) < 1e-12 and fit.slope_ci[0] <= -1 <= fit.slope_ci[1]
    np.testing.assert_allclose(fit(x), 3.0 / x)
    fit = mf.power_law_fit(x, 3.0 * x**-1.0 * np.exp(rng.normal(0, 0.05, 5)))
    assert fit.slope_ci[0] < fit.slope < fit.slope_ci[1]


def test_line_fit_covers_at_its_level(rng):
    x = np.linspace(0.0, 4.0, 9)
    hits = []
    for _ in range(300):
        fit = mf.line_fit(x, 0.5 + 2.0 * x + 0.3 * rng.standard_normal(x.size))
        hits.append((fit.intercept_ci[0] <= 0.5 <= fit.intercept_ci[1],
                     fit.slope_ci[0] <= 2.0 <= fit.slope_ci[1]))
    rate = np.mean(hits, axis=0)
    assert np.all((0.9 < rate) & (rate < 0.99))  # nominal 0.95; binomial s.e. ~0.013


def test_weighted_fit_uses_the_errors_and_covers(rng):
    """Points with errors 0.02..0.5: the weighted slope interval covers at ~95 % and is narrower
    than the unweighted one; a point with a huge error does not move the fit."""
    x = np.linspace(1.0, 5.0, 8)
    se = np.linspace(0.02, 0.5, 8)
    hits, widths = [], []
    for _ in range(300):
        y = 1.0 - 0.5 * x + se * rng.standard_normal(8)
        w, u = mf.line_fit(x, y, se=se), mf.line_fit(x, y)
        hits.append(w.slope_ci[0] <= -0.5 <= w.slope_ci[1])
        widths.append((np.diff(w.slope_ci)[0], np.diff(u.slope_ci)[0]))
    assert 0.92 < np.mean(hits) <= 1.0
    assert np.median(np.array(widths)[:, 0] / np.array(widths)[:, 1]) < 0.8
    y = 1.0 - 0.5 * x
    y[-1] += 100.0
    fit = mf.line_fit(x, y, se=np.r_[np.full(7, 0.01), 1e6])
    assert abs(fit.slope + 0.5) < 1e-6
    rel = mf.power_law_fit(x, 2 * x**1.5, se=0.01 * 2 * x**1.5)  # 1 % errors: se / y in log
    assert abs(rel.slope - 1.5) < 1e-9 and np.diff(rel.slope_ci)[0] < 0.05


def test_scaling_fit_recovers_two_exponents_and_covers(rng):
    """y = 2 d^0.4 N^-1 on a 3 x 3 grid: exact on exact data; with 10 % log-normal noise and
    its stated errors the intervals cover at about their level and evaluate by name."""
    d, n = (a.ravel() for a in np.meshgrid([16.0, 32, 64], [128.0, 256, 512]))
    law = 2 * d**0.4 / n
    fit = mf.scaling_fit(law, d=d, N=n)
    assert abs(fit.exponents["d"] - 0.4) < 1e-12 and abs(fit.exponents["N"] + 1) < 1e-12
    np.testing.assert_allclose(fit(d=d, N=n), law)
    hits = []
    for _ in range(300):
        y = law * np.exp(0.1 * rng.standard_normal(law.size))
        f = mf.scaling_fit(y, se=0.1 * y, d=d, N=n)
        hits.append([lo <= true <= hi for (lo, hi), true
                     in zip(f.exponent_ci.values(), (0.4, -1.0))])
    assert np.all((0.92 < np.mean(hits, axis=0)) & (np.mean(hits, axis=0) <= 1.0))
    one = mf.scaling_fit(3 * n**-0.5 * np.exp(0.01 * rng.standard_normal(9)), N=n)
    assert one.exponent_ci["N"][0] < -0.5 < one.exponent_ci["N"][1]


@pytest.mark.parametrize("call, match", [
    (lambda: mf.scaling_fit([1.0, 2, 3]), "at least one variable"),
    (lambda: mf.scaling_fit([1.0, 2], d=[1, 2]), "more than 2 points"),
    (lambda: mf.scaling_fit([1.0, 2, 3, 4], d=[1, 2, 3]), "one length"),
    (lambda: mf.scaling_fit([1.0, -2, 3, 4], d=[1, 2, 3, 4]), "positive"),
    (lambda: mf.scaling_fit([1.0, 2, 3, 4], d=[1, 2, 3, 4], N=[2, 4, 6, 8]), "independently"),
    (lambda: mf.scaling_fit([1.0, 2, 3, 4], se=[1, 1, 0, 1], d=[1, 2, 3, 4]), "standard error"),
])
def test_scaling_fit_refuses_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
    with pytest.raises(ValueError, match="every variable"):
        mf.scaling_fit([1.0, 2, 3, 4], d=[1, 2, 3, 4])(N=3)


def test_variance_interval_covers_at_its_level(rng):
    ests = [mf.variance_interval(2.0 * rng.standard_normal(50)) for _ in range(400)]
    assert 0.91 < np.mean([lo <= 4.0 <= hi for lo, hi in (e.ci for e in ests)]) < 0.99
    assert abs(np.std([e.value for e in ests]) / np.mean([e.se for e in ests]) - 1) < 0.15


def test_mean_interval_covers_at_its_level(rng):
    ests = [mf.mean_interval(1.0 + 2.0 * rng.standard_normal(8)) for _ in range(400)]
    assert 0.91 < np.mean([lo <= 1.0 <= hi for lo, hi in (e.ci for e in ests)]) < 0.99
    assert abs(np.std([e.value for e in ests]) / np.mean([e.se for e in ests]) - 1) < 0.15


@pytest.mark.parametrize("n, m", [(32, 16384), (7, 13), (1, 5), (100, 100)])
def test_wasserstein1_is_scipys_distance(rng, n, m):
    samples, reference = rng.standard_normal((300, n)), 0.5 + 2 * rng.standard_normal(m)
    samples[0, :] = np.round(samples[0, :])  # ties
    expected = [wasserstein_distance(s, reference) for s in samples]
    np.testing.assert_allclose(mf.wasserstein1(samples, reference, rows_per_block=64), expected,
                               rtol=1e-9, atol=1e-12)
    assert mf.wasserstein1(samples[1], reference) == pytest.approx(expected[1], rel=1e-9)


def test_seed_variance_covers_and_sees_correlation(rng):
    """Outputs correlated within a seed: the jackknife interval covers the true variance at about
    its level (a naive error that treated the 50 outputs as independent would be far too narrow)."""
    truth, hits = 2.0, 0
    for _ in range(400):
        common = rng.standard_normal((8, 1))
        x = np.sqrt(truth) * (0.9 * common + np.sqrt(1 - 0.81) * rng.standard_normal((8, 50)))
        est = mf.seed_variance(x)
        hits += est.ci[0] < truth < est.ci[1]
        assert est.value == pytest.approx(np.var(x, axis=0, ddof=1).mean())
    assert 0.88 < hits / 400 < 0.99


@pytest.mark.parametrize("call, match", [
    (lambda: mf.power_law_fit([1, 2, 3], [-1, 2, 3]), "positive"),
    (lambda: mf.power_law_fit([1, 2], [1, 2]), "at least 3"),
    (lambda: mf.line_fit([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]), "distinct"),
    (lambda: mf.line_fit([0.0, 1.0, 2.0], [1.0, np.nan, 3.0]), "finite"),
    (lambda: mf.line_fit([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], se=[1.0, 0.0, 1.0]), "standard error"),
    (lambda: mf.line_fit([0.0, 1.0, 2.0], [1.0, 2.0, 3.0], level=1.0), "level"),
    (lambda: mf.variance_interval([1.0, 2.0]), "at least 3"),
    (lambda: mf.mean_interval([1.0]), "at least 2"),
    (lambda: mf.seed_variance(np.ones((2, 4))), "S >= 3"),
    (lambda: mf.seed_variance([[1.0, np.nan]] * 3), "finite"),
    (lambda: mf.mean_interval([1.0, np.inf]), "finite"),
    (lambda: mf.wasserstein1([[[1.0]]], [1.0]), "samples"),
    (lambda: mf.wasserstein1([1.0], []), "reference"),
    (lambda: mf.wasserstein1([1.0, np.nan], [1.0]), "finite"),
    (lambda: mf.wasserstein1([[1.0]], [1.0], rows_per_block=0), "rows_per_block"),
])
def test_bad_input_gives_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
