"""The fast arcsine (mfutils.special): accuracy in ulp in both precisions, edge points, the
derivative and its derivative, and the kernels that use it."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf
from mfutils.special import arcsin


def points(dtype):
    """Dense and edge points of [-1, 1]: uniform draws, a fine grid, both branch switches, the
    approach to 1 on a log scale, tiny and signed zeros."""
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.uniform(-1, 1, 400_000), np.linspace(-1, 1, 100_001),
                        rng.uniform(0.49, 0.51, 20_000), rng.uniform(0.62, 0.63, 20_000),
                        1 - np.logspace(-16, -1, 2_000), -(1 - np.logspace(-16, -1, 2_000)),
                        [0.5, -0.5, 0.625, -0.625, 1, -1, 0, -0.0, 1e-30, -1e-9]])
    return np.clip(x, -1, 1).astype(dtype)


def ulps(y, x, dtype):
    """|y - asin x| in units in the last place of dtype, against long-double arcsine."""
    exact = np.arcsin(x.astype(np.longdouble))
    spacing = np.spacing(np.abs(exact).astype(dtype)).astype(np.longdouble)
    return np.abs(np.asarray(y).astype(np.longdouble) - exact) / spacing


@pytest.mark.skipif(np.finfo(np.longdouble).eps >= np.finfo(np.float64).eps / 100,
                    reason="needs an extended-precision long double for the float64 reference")
def test_arcsin_is_within_three_ulp_in_both_precisions(x64):
    x = points(np.dtype(x64))
    y = jax.jit(arcsin)(jnp.asarray(x))
    assert y.dtype == x64
    err = ulps(y, x, np.dtype(x64))
    assert err.max() < 3, (err.max(), x[np.argmax(err)])
    # as accurate as XLA's own arcsine, within one ulp
    assert err.max() < ulps(jnp.arcsin(jnp.asarray(x)), x, np.dtype(x64)).max() + 1


def test_arcsin_edge_values_and_domain(x64):
    x = jnp.asarray([1.0, -1.0, 0.0, -0.0, 1.5, -1.01, np.nan], x64)
    y = np.asarray(arcsin(x))
    assert y[0] == np.float32(np.pi / 2) if x64 == jnp.float32 else y[0] == np.pi / 2
    assert y[1] == -y[0] and y[2] == 0 and np.signbit(y[3]) and np.isnan(y[4:]).all()
    with pytest.raises(TypeError, match="float"):
        arcsin(jnp.arange(3))


def test_arcsin_derivatives_are_those_of_the_arcsine(x64):
    x = jnp.asarray(np.linspace(-0.99, 0.99, 41), x64)
    d1 = jax.vmap(jax.grad(arcsin))(x)
    d2 = jax.vmap(jax.grad(jax.grad(arcsin)))(x)
    tol = 1e-5 if x64 == jnp.float32 else 1e-12
    np.testing.assert_allclose(d1, 1 / np.sqrt(1 - np.asarray(x) ** 2), rtol=tol)
    np.testing.assert_allclose(d2, np.asarray(x) / (1 - np.asarray(x) ** 2) ** 1.5, rtol=10 * tol)


@pytest.mark.parametrize("act", [mf.erf, mf.relu])
def test_kernels_and_velocity_agree_with_xla_arcsine(act, monkeypatch, x64):
    """The kernels, and the velocity differentiated through them, are those XLA's arcsine gives
    (to rounding), so the fast arcsine changes speed, not results."""
    u = jax.random.normal(jax.random.key(0), (64, 5), x64)
    v = jax.random.normal(jax.random.key(1), (48, 5), x64)
    fast = act.kernel(u, v)
    teacher = mf.erf_testbed(d=5).teacher
    problem = mf.Problem(jax.tree.map(lambda t: t.astype(x64), teacher), act, act)
    params = mf.init_params(jax.random.key(2), 32, 5, dtype=x64)
    fast_v = mf.population._velocity.__wrapped__(params, problem, "mean-field", None)
    monkeypatch.setattr("mfutils.activations.arcsin", jnp.arcsin)
    slow = act.kernel(u, v)
    slow_v = mf.population._velocity.__wrapped__(params, problem, "mean-field", None)
    tol = 2e-6 if x64 == jnp.float32 else 1e-14
    np.testing.assert_allclose(fast, slow, atol=tol)
    for f, s in zip(jax.tree.leaves(fast_v), jax.tree.leaves(slow_v)):
        np.testing.assert_allclose(f, s, atol=20 * tol, rtol=20 * tol)
