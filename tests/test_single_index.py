"""Single-index pieces (mfutils.single_index): Hermite coefficients against closed forms, escape
times against exact integrals, the reduced SGD chain against the d-dimensional one."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import eval_hermitenorm, factorial

import mfutils as mf


def relu_coeffs(degree):
    """E[relu h_j] = phi(0) He_{j-2}(0) / sqrt(j!) for j >= 2."""
    j = np.arange(2, degree + 1)
    phi0 = 1 / np.sqrt(2 * np.pi)
    return np.r_[phi0, 0.5, phi0 * eval_hermitenorm(j - 2, 0.0) / np.sqrt(factorial(j))]


def _inverse(z):
    with np.errstate(divide="ignore"):
        return 1 / z


def test_hermite_coefficients_match_closed_forms():
    j = np.arange(11)
    a = 0.7  # E[e^{a g} He_j(g)] = a^j e^{a^2/2}
    np.testing.assert_allclose(mf.hermite_coefficients(lambda z: np.exp(a * z), 10, 60),
                               a**j * np.exp(a * a / 2) / np.sqrt(factorial(j)), atol=1e-13)
    np.testing.assert_allclose(mf.hermite_coefficients(mf.hermite(3), 6, 20), [0, 0, 0, 1, 0, 0, 0],
                               atol=1e-13)
    # a kink converges like 1/n_nodes: within 1e-3 at 200 nodes, and the error halves from 100 to 200
    err = [np.abs(mf.hermite_coefficients(mf.relu, 8, n) - relu_coeffs(8)).max() for n in (100, 200)]
    assert err[1] < 1e-3 and 1.7 < err[0] / err[1] < 2.3, err


def test_coefficients_are_float64_whatever_the_mode(x64):
    c = mf.hermite_coefficients(mf.erf, 5)
    assert c.dtype == np.float64 and abs(c[1] - np.sqrt(2 / np.pi) / np.sqrt(1.5)) < 1e-14


def test_information_exponent():
    assert mf.information_exponent(mf.hermite_coefficients(mf.relu, 6)) == 1
    assert mf.information_exponent([1.0, 0, 0, 0.5, 1e-12]) == 3
    assert mf.information_exponent(mf.hermite_series([0.3, 0, 0, 0, 1.0])) == 4
    assert mf.information_exponent(mf.hermite_coefficients(lambda z: z**2 - 1, 6, 20)) == 2


@pytest.mark.parametrize("call, match", [
    (lambda: mf.information_exponent([2.0, 0.0, 0.0]), "constant"),
    (lambda: mf.information_exponent([0.0, np.nan]), "finite"),
    (lambda: mf.hermite_coefficients(mf.relu, 4, 400), "at most 300"),
    (lambda: mf.hermite_coefficients(_inverse, 4, 21), "finite"),  # z = 0 is a node
    (lambda: mf.hermite_coefficients(jnp.tanh, 4), "float64"),
    (lambda: mf.hermite_coefficients(lambda z: z[:3], 4), "elementwise"),
    (lambda: mf.escape_time(mf.hermite(2), 0.6, 0.5), "0 < m0 < m1 < 1"),
    (lambda: mf.escape_time(mf.hermite_series([1.0]), 0.1), "non-zero term"),
])
def test_bad_input_gives_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("link", [[0.0, 0.0, 0.0, 1.0], mf.erf], ids=["a list", "erf"])
def test_a_link_that_is_not_a_hermite_activation_is_refused_by_name(link):
    with pytest.raises(TypeError, match=r"mf\.hermite\(k\)"):
        mf.escape_time(link, 0.1)


@pytest.mark.parametrize("k", [2, 3, 4])
def test_escape_time_matches_the_exact_integral(k):
    m0, m1 = 0.01, 0.5
    exact = {2: lambda m: 0.5 * np.log(m) - 0.25 * np.log(1 - m * m),
             3: lambda m: (-1 / m + np.arctanh(m)) / 3,
             4: lambda m: (-1 / (2 * m * m) + np.log(m) - 0.5 * np.log(1 - m * m)) / 4}[k]
    np.testing.assert_allclose(mf.escape_time(mf.hermite(k), m0, m1), exact(m1) - exact(m0),
                               rtol=1e-10)


def test_overlap_drift_in_numpy_and_both_jax_precisions(x64):
    m = np.linspace(0.05, 0.95, 7)
    exact = 3 * m**2 * (1 - m**2)
    np.testing.assert_allclose(mf.overlap_drift(m, mf.hermite(3)), exact, rtol=1e-14)
    out = mf.overlap_drift(jnp.asarray(m, x64), mf.hermite(3))
    assert out.dtype == x64
    np.testing.assert_allclose(out, exact, rtol=1e-6)


def test_reduced_sgd_chain_has_the_law_of_the_full_one():
    """Escape steps of the overlap chain and of the d-dimensional vectors: same median (k = 2)."""
    link, d = mf.hermite(2), 32
    lr = 0.2 / d
    runs = [np.asarray(mf.sgd_escape(jax.random.key(s), link, d, lr, 4000, seeds=200,
                                     full=full).final.escaped_at)
            for s, full in ((0, False), (1, True))]
    med = [np.median(r) for r in runs]
    assert all(np.all(r > 0) for r in runs)
    assert abs(np.log(med[0] / med[1])) < 0.15, med   # the spread of a median of 200 is ~ 5 %
    predicted = mf.escape_time(link, d**-0.5) / lr
    assert 0.7 < med[0] / predicted < 1.6, (med, predicted)


def test_sgd_escape_runs_in_both_precisions_and_freezes_at_escape(x64):
    run = mf.sgd_escape(jax.random.key(0), mf.hermite(2), 16, 0.2 / 16, 2000, seeds=4, every=100)
    hit = np.asarray(run.final.escaped_at)
    assert run.records["overlap"].dtype == x64 and run.records["overlap"].shape == (4, 21)
    assert hit.dtype == np.int32 and np.all(hit > 0)
    assert np.all(np.abs(np.asarray(run.final.overlap)) >= 0.5)
    np.testing.assert_allclose(run.times[-1], 2000)


def test_sgd_escape_does_not_depend_on_the_record_interval_and_compiles_once():
    """Samples are keyed by their index, not by the record interval; budgets, intervals and links
    of degree < 8 are traced, so runs with the same seeds and record count share one program."""
    from mfutils.single_index import _escape_scan
    args = dict(d=64, lr=0.1 / 64, seeds=16, threshold=0.3)
    before = _escape_scan._cache_size()
    for link, n in ((mf.hermite(2), 3000), (mf.hermite(4), 7000),
                    (mf.hermite_series([0, 0, 0.3, 0, 0.95]), 2000)):
        mf.sgd_escape(jax.random.key(4), link, n_samples=n, every=n // 200, **args)
    assert _escape_scan._cache_size() - before <= 1
    coarse = mf.sgd_escape(jax.random.key(3), mf.hermite(2), n_samples=4000, every=400, **args)
    fine = mf.sgd_escape(jax.random.key(3), mf.hermite(2), n_samples=4000, every=20, **args)
    hit = np.asarray(coarse.final.escaped_at)
    assert (hit > 0).sum() >= 8 and np.all(hit % 400 > 0)   # escapes inside record intervals
    np.testing.assert_array_equal(hit, np.asarray(fine.final.escaped_at))
    np.testing.assert_array_equal(coarse.records["overlap"], fine.records["overlap"][:, ::20])


def test_sgd_escape_names_a_divergence():
    with pytest.raises(mf.DivergenceError, match="non-finite by sample 10 of 100"):
        mf.sgd_escape(jax.random.key(0), mf.hermite(2), 16, 1e30, 100, seeds=4, every=10,
                      full=True)   # |w|^2 overflows: w = 0, then 0 / 0


def test_too_large_a_step_never_escapes():
    """At k = 2 the normalisation costs (lr^2 d / 2) C(m) m per step, C(m) = 2 + 8 m^2, against the
    drift 2 lr m (1 - m^2): at lr d = 2 the overlap stays at the noise level (d large)."""
    d = 1024
    run = mf.sgd_escape(jax.random.key(2), mf.hermite(2), d, 2.0 / d, 40_000, seeds=32)
    assert np.all(np.asarray(run.final.escaped_at) < 0)
    assert float(jnp.sqrt(jnp.mean(run.records["overlap"][:, -1] ** 2))) < 0.3


@pytest.mark.parametrize("kw, match", [
    ({"n_samples": 1001, "every": 10}, "must divide"),
    ({"d": 2}, "d must be"),
    ({"link": (0, 0, 1.0)}, "Hermite series"),
    ({"threshold": 1.5}, "threshold"),
    ({"lr": 0.0}, "lr"),
])
def test_sgd_escape_errors(kw, match):
    args = {"key": jax.random.key(2), "link": mf.hermite(2), "d": 16, "lr": 0.01,
            "n_samples": 100, "seeds": 2, **kw}
    with pytest.raises(ValueError, match=match):
        mf.sgd_escape(**args)
