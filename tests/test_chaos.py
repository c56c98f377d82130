"""Sznitman's coupling and the Gronwall constants (mfutils.chaos)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf
from helpers import arr


def test_coupling_with_itself_as_reference_stays_together(setup, x64):
    """If the reference is the interacting system itself, the twins are the neurons."""
    problem, params = setup
    run = mf.synchronous_coupling(params, params, problem, dt=0.1, t_end=3.0, every=10)
    sq = run.records["sq_distance"]
    assert run.times.shape == (4,) and float(sq[0]) == 0.0 and sq.dtype == x64
    assert float(np.max(sq)) < 1e-8


def test_coupling_separates_and_batches(setup):
    problem, _ = setup
    p = mf.init_params(jax.random.key(1), 16, 5, seeds=2)
    r = mf.init_params(jax.random.key(2), 128, 5, seeds=2)
    run = mf.synchronous_coupling(p, r, problem, dt=0.1, t_end=2.0, every=10)
    sq = run.records["sq_distance"]
    assert sq.shape == (2, 3) and np.all(sq[:, -1] > 1e-5)
    assert run.final.reference.a.shape == (2, 128)
    one = mf.synchronous_coupling(jax.tree.map(lambda x: x[1], p), jax.tree.map(lambda x: x[1], r),
                                  problem, dt=0.1, t_end=2.0, every=10)
    np.testing.assert_allclose(one.records["sq_distance"], sq[1], rtol=1e-4, atol=1e-9)
    with pytest.raises(ValueError, match="same seed axis"):
        mf.synchronous_coupling(p, jax.tree.map(lambda x: x[0], r), problem, dt=0.1, t_end=0.2)


def test_velocity_splits_into_teacher_force_and_pair_interaction(setup, rng):
    """v_mu(theta) = F(theta) + mean_j K(theta, theta_j); F is v for output weights a_j = 0."""
    problem, params = setup
    dtype = params.a.dtype
    theta = mf.Params(arr([0.7, -1.1], dtype), arr(rng.standard_normal((2, 5)), dtype))
    v = mf.velocity_field(theta, params, problem)
    force = mf.velocity_field(theta, mf.Params(jnp.zeros_like(params.a), params.w), problem)
    n = params.a.shape[0]
    pairs = [mf.interaction(mf.Params(jnp.repeat(theta.a[k:k + 1], n),
                                      jnp.repeat(theta.w[k:k + 1], n, 0)), params, problem).mean(0)
             for k in range(2)]
    total = np.concatenate([force.a[:, None], force.w], axis=1) + np.stack(pairs)
    np.testing.assert_allclose(np.concatenate([v.a[:, None], v.w], axis=1), total, rtol=1e-4,
                               atol=1e-6)


def test_jacobians_match_finite_differences(rng):
    """In float64, so that central differences are accurate."""
    with jax.enable_x64(True):
        problem = mf.erf_testbed(d=5)
        params = mf.init_params(jax.random.key(3), 16, 5)
        z0 = np.concatenate([[0.9], 0.5 * rng.standard_normal(5)])
        zp0 = np.concatenate([[-0.4], 0.5 * rng.standard_normal(5)])

        def params_of(z):
            return mf.Params(jnp.asarray(z[:1]), jnp.asarray(z[None, 1:]))

        def v_flat(z):
            v = mf.velocity_field(params_of(z), params, problem)
            return np.concatenate([np.asarray(v.a), np.asarray(v.w[0])])

        def k_flat(zp):
            return np.asarray(mf.interaction(params_of(z0), params_of(zp), problem))[0]

        h, eye = 1e-5, np.eye(6)
        jac = np.asarray(mf.velocity_jacobian(params_of(z0), params, problem))[0]
        np.testing.assert_allclose(jac, jac.T, atol=1e-12)  # v is a gradient field
        fd = np.stack([(v_flat(z0 + h * e) - v_flat(z0 - h * e)) / (2 * h) for e in eye], axis=1)
        np.testing.assert_allclose(jac, fd, atol=1e-7)
        kj = np.asarray(mf.interaction_jacobian(params_of(z0), params_of(zp0), problem))[0]
        fd = np.stack([(k_flat(zp0 + h * e) - k_flat(zp0 - h * e)) / (2 * h) for e in eye], axis=1)
        np.testing.assert_allclose(kj, fd, atol=1e-7)


def test_gronwall_bound_formula_and_inputs():
    t = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(mf.gronwall_bound(t, 100, 2.0, 3.0), 3.0 / (2.0 * 10) * np.expm1(4.0 * t))
    for args in ((t, 100, 0.0, 1.0), (t, 0, 1.0, 1.0), (t, 100, 1.0, -1.0)):
        with pytest.raises(ValueError):
            mf.gronwall_bound(*args)
