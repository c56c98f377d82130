"""Activations and their exact Gaussian kernels (mfutils.activations), in both precisions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf
from helpers import arr, assert_mc, unit


@pytest.mark.parametrize("act, on_sphere", [
    (mf.erf, False), (mf.relu, False), (mf.hermite(3), True),
    (mf.hermite_series([0.1, 0.5, 0.7, 0.0, 0.3]), True)])
def test_kernel_matches_monte_carlo(act, on_sphere, rng, x64):
    x = rng.standard_normal((400_000, 5))
    u, v = 0.7 * rng.standard_normal((3, 5)), 0.7 * rng.standard_normal((4, 5))
    u[0] = v[0]  # a coincident pair: the diagonal of the kernel
    if on_sphere:
        u, v = unit(u), unit(v)
    exact = act.kernel(arr(u, x64), arr(v, x64))
    assert exact.shape == (3, 4) and exact.dtype == x64
    su, sv = act.numpy(x @ u.T), act.numpy(x @ v.T)
    assert_mc(exact, su[:, :, None] * sv[:, None, :])


def test_hermite_cross_kernel_matches_monte_carlo(rng):
    s1, s2 = mf.hermite_series([0.0, 1.0, 0.5]), mf.hermite_series([0.2, 0.0, 1.0, 0.4])
    x = rng.standard_normal((400_000, 5))
    u, v = unit(rng.standard_normal((2, 5))), unit(rng.standard_normal((3, 5)))
    exact = s1.kernel(arr(u, jnp.float32), arr(v, jnp.float32), s2)
    assert_mc(exact, s1.numpy(x @ u.T)[:, :, None] * s2.numpy(x @ v.T)[:, None, :])


def test_hermite_kernel_refuses_rows_off_the_sphere():
    """E[h_2(2 x_1)^2] = 20.5, not the 16 that the unit-sphere formula gives: refuse, don't lie."""
    with pytest.raises(ValueError, match="unit-norm rows"):
        mf.hermite(2).kernel(jnp.array([[2.0, 0, 0]]), jnp.array([[2.0, 0, 0]]))
    g = np.random.default_rng(0).standard_normal(1_000_000)
    assert abs(np.mean(mf.hermite(2).numpy(2 * g) ** 2) - 20.5) < 0.2


def test_numpy_evaluation_and_profile_agree_with_jax(x64):
    z = np.linspace(-3, 3, 13)
    for act in (mf.erf, mf.tanh, mf.relu, mf.hermite_series([0.3, -0.2, 0.5, 0.1])):
        np.testing.assert_allclose(act.numpy(z), np.asarray(act(arr(z, x64))), rtol=1e-5, atol=1e-6)
        assert act.numpy(z).dtype == np.float64
    link = mf.hermite_series([0.0, 0.6, 0.0, 0.8])
    rho = np.linspace(-1, 1, 9)
    np.testing.assert_allclose(link.profile(rho), 0.36 * rho + 0.64 * rho**3, atol=1e-12)
    np.testing.assert_allclose(link.profile(rho, derivative=True), 0.36 + 1.92 * rho**2, atol=1e-12)
    out = link.profile(arr(rho, x64), derivative=True)
    assert out.dtype == x64
    np.testing.assert_allclose(out, 0.36 + 1.92 * rho**2, rtol=1e-6)


def test_derivative_of_a_hermite_series_matches_finite_differences():
    link = mf.hermite_series([0.1, 0.4, -0.3, 0.2, 0.5])
    z, h = np.linspace(-2, 2, 9), 1e-6
    np.testing.assert_allclose(link.derivative().numpy(z),
                               (link.numpy(z + h) - link.numpy(z - h)) / (2 * h), rtol=1e-6)


def test_hermite_basis_is_orthonormal(x64):
    z, wq = np.polynomial.hermite_e.hermegauss(40)
    h = np.asarray(mf.hermite_basis(arr(z, x64), 6), float)
    gram = (h * (wq / np.sqrt(2 * np.pi))[:, None]).T @ h
    np.testing.assert_allclose(gram, np.eye(7), atol=1e-4 if x64 == jnp.float32 else 1e-12)
    np.testing.assert_allclose(h[:, 3], (z**3 - 3 * z) / np.sqrt(6), rtol=1e-4, atol=1e-3)


def test_relu_kernel_gradient_is_finite_on_the_diagonal(rng, x64):
    u = arr(rng.standard_normal((4, 5)), x64)
    g = jax.grad(lambda u: mf.relu.kernel(u, u).sum())(u)
    assert np.all(np.isfinite(g)) and g.dtype == x64


@pytest.mark.parametrize("call, match", [
    (lambda: mf.tanh.kernel(jnp.ones((2, 3)), jnp.ones((2, 3))), "no closed-form"),
    (lambda: mf.erf.kernel(jnp.ones((2, 3)), jnp.ones((2, 3)), mf.relu), "no closed-form"),
    (lambda: mf.erf.kernel(jnp.ones((2, 3)), jnp.ones((2, 4))), r"\(n, d\)"),
    (lambda: mf.hermite(-1), "non-negative integer"),
    (lambda: mf.hermite_series([0.0, float("nan")]), "finite"),
    (lambda: mf.Activation("sigmoid"), "unknown activation"),
    (lambda: mf.erf.profile(0.5), "Hermite series"),
    (lambda: mf.relu.derivative(), "Hermite series"),
])
def test_bad_input_gives_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
