"""Unit tests of the single-index pieces of mfutils (chapters 5 and 6): Hermite coefficients
against closed forms, escape times against exact integrals, the reduced SGD chain against the
d-dimensional one, and the overlap reduction against particles and Monte Carlo."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.special import factorial

import mfutils as mf


def he_at_zero(n):
    """He_n(0) = (-1)^(n/2) (n - 1)!! for even n, 0 for odd n."""
    return 0.0 if n % 2 else (-1) ** (n // 2) * math.prod(range(n - 1, 0, -2))


def relu_coeffs(degree):
    phi0 = 1 / math.sqrt(2 * math.pi)  # E[relu h_j] = phi(0) He_{j-2}(0) / sqrt(j!) for j >= 2
    return np.array([phi0, 0.5] + [phi0 * he_at_zero(j - 2) / math.sqrt(math.factorial(j))
                                   for j in range(2, degree + 1)])


def test_hermite_coefficients_match_closed_forms():
    j = np.arange(11)
    a = 0.7  # E[e^{a g} He_j(g)] = a^j e^{a^2/2}
    exp_exact = a**j * np.exp(a * a / 2) / np.sqrt(factorial(j))
    np.testing.assert_allclose(mf.hermite_coefficients(lambda z: jnp.exp(a * z), 10, 60), exp_exact,
                               atol=1e-13)
    np.testing.assert_allclose(mf.hermite_coefficients(mf.hermite(3), 6, 20), [0, 0, 0, 1, 0, 0, 0],
                               atol=1e-13)
    # a kink converges like 1/n_nodes: within 1e-3 at 200 nodes, and the error halves from 100 to 200
    err = [np.abs(mf.hermite_coefficients(mf.relu, 8, n) - relu_coeffs(8)).max() for n in (100, 200)]
    assert err[1] < 1e-3 and 1.7 < err[0] / err[1] < 2.3, err


def test_information_exponent_and_errors():
    assert mf.information_exponent(mf.hermite_coefficients(mf.relu, 6)) == 1
    assert mf.information_exponent([1.0, 0, 0, 0.5, 1e-12]) == 3
    assert mf.information_exponent(mf.hermite_coefficients(lambda z: z**2 - 1, 6, 20)) == 2
    with pytest.raises(ValueError, match="constant"):
        mf.information_exponent([2.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="finite"):
        mf.information_exponent([0.0, np.nan])
    with pytest.raises(ValueError, match="at most 300"):
        mf.hermite_coefficients(mf.relu, 4, 400)
    with pytest.raises(ValueError, match="finite"):
        mf.hermite_coefficients(lambda z: 1 / z, 4, 21)  # the middle node is z = 0


@pytest.mark.parametrize("k", [2, 3, 4])
def test_escape_time_matches_the_exact_integral(k):
    m0, m1 = 0.01, 0.5
    exact = {2: lambda m: 0.5 * np.log(m) - 0.25 * np.log(1 - m * m),
             3: lambda m: (-1 / m + np.arctanh(m)) / 3,
             4: lambda m: (-1 / (2 * m * m) + np.log(m) - 0.5 * np.log(1 - m * m)) / 4}[k]
    np.testing.assert_allclose(mf.escape_time([0] * k + [1], m0, m1), exact(m1) - exact(m0), rtol=1e-10)
    # the drift it integrates is the derivative of the single-neuron population overlap
    m = jnp.linspace(0.05, 0.95, 7)
    np.testing.assert_allclose(mf.overlap_drift(m, [0] * k + [1]), k * m ** (k - 1) * (1 - m**2), rtol=1e-6)
    with pytest.raises(ValueError, match="0 < m0 < m1 < 1"):
        mf.escape_time([0, 1], 0.6, 0.5)


def test_reduced_sgd_chain_has_the_law_of_the_full_one():
    """Escape steps of the overlap chain and of the d-dimensional vectors: same median (k = 2)."""
    coeffs, d = (0, 0, 1.0), 32
    lr = 0.2 / d
    runs = [mf.sgd_escape(jax.random.key(s), coeffs, d, lr, 4000, seeds=200, full=full).steps
            for s, full in ((0, False), (1, True))]
    med = [np.median(np.asarray(r)) for r in runs]
    assert all(np.all(np.asarray(r) > 0) for r in runs)
    assert abs(np.log(med[0] / med[1])) < 0.15, med   # the spread of a median of 200 is ~ 5 %
    predicted = mf.escape_time(coeffs, d**-0.5) / lr
    assert 0.7 < med[0] / predicted < 1.6, (med, predicted)


def test_too_large_a_step_never_escapes():
    """At k = 2 the normalisation costs (lr^2 d / 2) C(m) m per step, C(m) = 2 + 8 m^2, against the
    drift 2 lr m (1 - m^2): at lr d = 2 the overlap stays at the noise level (d large)."""
    d = 1024
    run = mf.sgd_escape(jax.random.key(2), (0, 0, 1.0), d, 2.0 / d, 40_000, seeds=32)
    assert np.all(np.asarray(run.steps) < 0)
    assert float(jnp.sqrt(jnp.mean(run.overlaps[:, -1] ** 2))) < 0.3
    with pytest.raises(ValueError, match="multiple of every"):
        mf.sgd_escape(jax.random.key(2), (0, 0, 1.0), d, 0.01, 1001, seeds=2, every=10)
    with pytest.raises(ValueError, match="d must be"):
        mf.sgd_escape(jax.random.key(2), (0, 0, 1.0), 2, 0.01, 100, seeds=2)


def test_z_moments_and_overlap_law_match_monte_carlo():
    d = 7
    rng = np.random.default_rng(5)
    u = rng.standard_normal((400_000, d - 1))
    v = rng.standard_normal((400_000, d - 1))
    z = np.sum(u * v, 1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    from mfutils.spherical import _z_moment
    for r in (2, 4, 6):
        se = (z**r).std() / np.sqrt(len(z))
        assert abs(_z_moment(r, d) - (z**r).mean()) < 5 * se
    a, m = mf.overlap_init(jax.random.key(0), 200_000, d)
    assert abs(float(jnp.mean(m**2)) - 1 / d) < 5 * float(jnp.std(m**2)) / np.sqrt(2e5)
    assert np.all(np.asarray(a) == 1)


@pytest.mark.parametrize("coeffs,signs", [((0, 0, 0, 0, 1.0), "plus"), ((0, 0, 0, 1.0), "random"),
                                          ((0, 0.3, 0.5, 0, 0.8), "plus")])
def test_overlap_reduction_matches_many_particles(coeffs, signs):
    """For a rotation-invariant measure the reduced velocity and risk are those of the particles,
    up to the O(N^-1/2) of a finite sample (N = 6000 here: about 0.005 on velocities of order 0.5)."""
    with jax.enable_x64(True):
        p = mf.sphere_init(jax.random.key(1), 6000, 12, signs=signs, dtype=jnp.float64)
        w = p.w.at[:, 0].add(0.7 * jnp.sign(p.w[:, 0]))  # spread the overlaps over [-1, 1]
        p = p._replace(w=w / jnp.linalg.norm(w, axis=1, keepdims=True))
        m = p.w[:, 0]
        v = mf.sphere_velocity(p, coeffs)[:, 0]
        vr = mf.overlap_velocity(p.a, m, coeffs, 12)
        assert float(jnp.abs(v - vr).max()) < 0.02 * float(jnp.abs(v).max()) + 1e-3
        assert abs(float(mf.sphere_risk(p, coeffs) - mf.overlap_risk(p.a, m, coeffs, 12))) < 2e-3
        assert 0 < float(mf.mf_distance(p, p.a, m, coeffs, 12)) < 2e-3


def test_sphere_flow_stays_on_the_sphere_and_descends():
    p = mf.sphere_init(jax.random.key(3), 64, 8)
    run = mf.sphere_flow(p, (0, 0, 0.6, 0, 0.8), dt=0.05, n_steps=400, every=20)
    risk = np.asarray(run.risk)
    assert np.all(np.diff(risk) < 1e-6) and risk[-1] < 0.2 * risk[0]
    np.testing.assert_allclose(np.linalg.norm(np.asarray(run.final.w), axis=1), 1, atol=1e-5)
    assert run.overlaps.shape == (21, 64) and run.times[-1] == pytest.approx(20.0)
    a, m = mf.overlap_init(jax.random.key(3), 4096, 8)
    red = mf.overlap_flow(a, m, (0, 0, 0.6, 0, 0.8), 8, dt=0.05, n_steps=400, every=20)
    assert np.all(np.diff(np.asarray(red.risk)) < 1e-6)
    with pytest.raises(ValueError, match="unit-norm"):
        mf.sphere_flow(p._replace(w=2 * p.w), (0, 1.0), dt=0.1, n_steps=10)
    with pytest.raises(ValueError, match="\\[-1, 1\\]"):
        mf.overlap_flow(a, m + 2, (0, 1.0), 8, dt=0.1, n_steps=10)
    with pytest.raises(ValueError, match="non-zero term"):
        mf.overlap_risk(a, m, (1.0,), 8)


def test_gap_flow_records_the_distance_of_the_two_runs():
    with jax.enable_x64(True):
        p = mf.sphere_init(jax.random.key(4), 128, 8, dtype=jnp.float64)
        a_ref, m_ref = mf.overlap_init(jax.random.key(5), 4096, 8, dtype=jnp.float64)
        run = mf.mf_gap_flow(p, a_ref, m_ref, (0, 0, 0, 0, 1.0), 8, dt=0.1, n_steps=40, every=10)
        assert run.gap.shape == run.rate.shape == (5,) and np.all(np.isfinite(np.asarray(run.rate)))
        assert float(run.gap[0]) == pytest.approx(float(mf.mf_distance(p, a_ref, m_ref, (0, 0, 0, 0, 1.0), 8)))
        particles = mf.sphere_flow(p, (0, 0, 0, 0, 1.0), dt=0.1, n_steps=40, every=10)
        limit = mf.overlap_flow(a_ref, m_ref, (0, 0, 0, 0, 1.0), 8, dt=0.1, n_steps=40, every=10)
        np.testing.assert_allclose(run.risk, particles.risk, rtol=1e-10)
        np.testing.assert_allclose(run.risk_mf, limit.risk, rtol=1e-10)
        assert float(mf.mf_distance(particles.final, *limit.final, (0, 0, 0, 0, 1.0), 8)) == \
            pytest.approx(float(run.gap[-1]), rel=1e-8)
