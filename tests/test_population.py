"""Networks, problems and the exact population quantities (mfutils.network, .population,
.testbed) against Monte Carlo, in both precisions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf
from helpers import arr, assert_mc, unit
from mfutils.population import _risk


def test_shapes_scalings_and_default_dtype(setup, rng, x64):
    problem, params = setup
    assert params.a.shape == (16,) and params.w.shape == (16, 5) and params.a.dtype == x64
    assert problem.teacher.w.dtype == x64
    batch = mf.init_params(jax.random.key(0), 16, 5, seeds=7)
    assert batch.a.shape == (7, 16) and batch.w.shape == (7, 16, 5)
    x = arr(rng.standard_normal((10, 5)), x64)
    assert mf.network(params, x, mf.erf).shape == (10,)
    assert mf.network(params, x[0], mf.erf).shape == ()
    f_mf, f_ntk = mf.network(params, x, mf.erf), mf.network(params, x, mf.erf, "ntk")
    np.testing.assert_allclose(f_ntk, 4.0 * f_mf, rtol=1e-5)  # sqrt(16) / 16 * 16
    assert mf.time_scale(16) == 16 and mf.time_scale(16, "ntk") == 1
    with pytest.raises(ValueError, match="scaling"):
        mf.output_scale(16, "lazy")


@pytest.mark.parametrize("scaling", ["mean-field", "ntk"])
def test_population_risk_matches_monte_carlo(setup, scaling, rng, x64):
    problem, params = setup
    x = rng.standard_normal((100_000, 5))
    f = np.asarray(mf.network(params, arr(x, x64), mf.erf, scaling), float)
    y = np.asarray(mf.target(problem, arr(x, x64)), float)
    risk = mf.population_risk(params, problem, scaling)
    assert risk.dtype == x64
    assert_mc(risk, 0.5 * (f - y) ** 2)


@pytest.mark.parametrize("sigma", ["erf", "relu"])
def test_population_risk_in_row_blocks_is_the_full_quadratic_form(sigma, x64):
    """N = 1536 is summed in three blocks of 512 rows: the same risk as the full N x N form,
    seed-batched too, in both precisions and scalings."""
    problem = mf.erf_testbed(d=5)
    problem = mf.Problem(problem.teacher, getattr(mf, sigma), getattr(mf, sigma))
    params = mf.init_params(jax.random.key(5), 1536, 5, seeds=2)
    for scaling in ("mean-field", "ntk"):
        tiled = mf.population_risk(params, problem, scaling)
        full = jax.vmap(lambda p, s=scaling: _risk(p, problem, s))(params)
        assert tiled.shape == (2,) and tiled.dtype == x64
        np.testing.assert_allclose(tiled, full, rtol=1e-5 if x64 == jnp.float32 else 1e-12)


def test_first_variation_matches_monte_carlo_and_is_the_particle_gradient(setup, rng, x64):
    problem, params = setup
    x = rng.standard_normal((100_000, 5))
    resid = np.asarray(mf.network(params, arr(x, x64), mf.erf) - mf.target(problem, arr(x, x64)),
                       float)
    theta = mf.Params(arr([0.7, -1.2], x64), arr(0.5 * rng.standard_normal((2, 5)), x64))
    phi = np.asarray(theta.a, float)[None, :] * mf.erf.numpy(x @ np.asarray(theta.w, float).T)
    assert_mc(mf.first_variation(theta, params, problem), resid[:, None] * phi)
    # grad V_{mu^N}(theta_i) = N grad_{theta_i} R: the velocity field at the particles is velocity
    v, field = mf.velocity(params, problem), mf.velocity_field(params, params, problem)
    for a, b in zip(v, field):
        assert a.dtype == b.dtype == x64
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_gradient_of_first_variation_matches_monte_carlo(setup, rng):
    """grad_theta V_mu(theta) = E[(f - y) grad phi], grad_a phi = sigma(w.x), grad_w phi = a sigma'(w.x) x."""
    problem, params = setup
    dtype = params.a.dtype
    xs = rng.standard_normal((200_000, 5))
    resid = np.asarray(mf.network(params, arr(xs, dtype), mf.erf) - mf.target(problem, arr(xs, dtype)),
                       float)
    a0, w0 = 0.8, 0.6 * rng.standard_normal(5)
    v = mf.velocity_field(mf.Params(arr([a0], dtype), arr(w0[None], dtype)), params, problem)
    z = xs @ w0
    dsigma = 2 / np.sqrt(np.pi) * np.exp(-z**2)
    samples = np.concatenate([(resid * mf.erf.numpy(z))[:, None],
                              (resid * a0 * dsigma)[:, None] * xs], axis=1)
    assert_mc(-np.concatenate([np.asarray(v.a), np.asarray(v.w[0])]), samples)


def test_weights_define_the_weighted_measure(setup):
    """weights 1/N: the empirical measure; weights 2/N: the measure with output weights doubled."""
    problem, params = setup
    n = params.a.shape[0]
    dtype = params.a.dtype
    same = mf.velocity_field(params, params, problem, jnp.full(n, 1.0 / n, dtype))
    doubled = mf.velocity_field(params, params, problem, jnp.full(n, 2.0 / n, dtype))
    field = mf.velocity_field(params, params._replace(a=2 * params.a), problem)
    for x, y, z, u in zip(same, mf.velocity(params, problem), doubled, field):
        np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(z, u, rtol=1e-4, atol=1e-6)


def test_relu_and_hermite_problems_have_exact_risks(rng, x64):
    u = unit(rng.standard_normal((1, 4)))
    problem = mf.Problem(mf.Params(jnp.ones(1, x64), arr(u, x64)),
                         mf.hermite_series([0, 0, 1, 0.5]), mf.hermite(2))
    params = mf.Params(jnp.linspace(-1, 1, 8, dtype=x64), arr(unit(rng.standard_normal((8, 4))), x64))
    x = rng.standard_normal((200_000, 4))
    f = np.asarray(mf.network(params, arr(x, x64), problem.sigma), float)
    y = mf.hermite(2).numpy(x @ u.T)[:, 0]
    assert_mc(mf.population_risk(params, problem), 0.5 * (f - y) ** 2)
    with pytest.raises(ValueError, match="unit-norm"):
        mf.population_risk(params._replace(w=2 * params.w), problem)
    relu = mf.Problem(mf.Params(jnp.ones(1, x64), arr(u, x64)), mf.relu, mf.relu)
    params = mf.Params(params.a, 0.7 * params.w)
    f = np.asarray(mf.network(params, arr(x, x64), mf.relu), float)
    assert_mc(mf.population_risk(params, relu), 0.5 * (f - np.maximum(x @ u.T, 0)[:, 0]) ** 2)


def _problems(rng, dtype):
    """erf, ReLU and a Hermite pair on the sphere, with particles of 37 rows (not a whole number
    of blocks) in dimension 4."""
    u = unit(rng.standard_normal((2, 4)))
    a = arr(rng.standard_normal(37), dtype)
    w = rng.standard_normal((37, 4)) / 2
    teacher = mf.Params(arr([1.0, -0.5], dtype), arr(u, dtype))
    return [(mf.Problem(teacher, mf.erf, mf.erf), mf.Params(a, arr(w, dtype))),
            (mf.Problem(teacher, mf.relu, mf.relu), mf.Params(a, arr(w, dtype))),
            (mf.Problem(teacher, mf.hermite_series([0, 0.5, 1, 0.3]), mf.hermite(3)),
             mf.Params(a, arr(unit(w), dtype)))]


def test_tiled_velocity_is_the_gradient_of_the_risk(rng, x64):
    """The analytic, row-blocked velocity is -time_scale grad R by autodiff of the full N x N
    kernel sums (the definition), for erf, ReLU and Hermite units, both scalings, any block size
    (37 rows in blocks of 8 pads the last; 37 particles in blocks of 5 or 36 columns pad theirs
    with weightless copies), to rounding."""
    tol = 2e-5 if x64 == jnp.float32 else 1e-12
    for problem, params in _problems(rng, x64):
        for scaling in ("mean-field", "ntk"):
            grad = jax.grad(_risk)(params, problem, scaling)
            exact = jax.tree.map(lambda g, s=scaling: -mf.time_scale(37, s) * g, grad)
            for rows, cols in ((None, None), (8, None), (64, None), (8, 5), (None, 36)):
                v = mf.velocity(params, problem, scaling, rows=rows, cols=cols)
                for got, want in zip(v, exact):
                    assert got.dtype == x64
                    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * np.abs(want).max())


def test_velocity_field_and_its_jacobian_are_those_of_the_first_variation(rng, x64):
    """At other points and weights, v_mu = -grad V_mu by autodiff of the first variation, and the
    JAX derivative of the analytic field (the local Hessian of chapter 3) is -Hess V_mu."""
    tol = 2e-5 if x64 == jnp.float32 else 1e-11
    weights = arr(rng.uniform(0.0, 0.1, 37), x64)
    for problem, params in _problems(rng, x64)[::2]:      # erf and Hermite: smooth kernels
        theta = mf.Params(params.a[:5] + 0.3, params.w[:5])

        def potential(th, problem=problem, params=params):
            return mf.first_variation(th, params, problem, weights).sum()

        exact = jax.tree.map(jnp.negative, jax.grad(potential)(theta))
        for rows, cols in ((None, None), (2, None), (2, 8)):
            got = mf.velocity_field(theta, params, problem, weights, rows=rows, cols=cols)
            for g, e in zip(got, exact):
                np.testing.assert_allclose(g, e, rtol=tol, atol=tol * np.abs(e).max())
        if problem.sigma == mf.erf:
            hess = jax.hessian(lambda z: potential(mf.Params(z[:1], z[None, 1:])))
            flat = jnp.concatenate([theta.a[:, None], theta.w], axis=1)
            jac = mf.velocity_jacobian(theta, params._replace(a=params.a * 37 * weights), problem)
            for i in range(5):
                np.testing.assert_allclose(jac[i], -hess(flat[i]), rtol=20 * tol,
                                           atol=20 * tol * np.abs(jac[i]).max())
            # JAX's derivative through blocks of 8 columns: the same Jacobian, along ones
            ones = jax.tree.map(jnp.ones_like, theta)
            moved = jax.jvp(lambda th, p=params, pr=problem: mf.velocity_field(
                th, p, pr, weights, cols=8), (theta,), (ones,))[1]
            got = jnp.concatenate([moved.a[:, None], moved.w], axis=1)
            want = jac @ jnp.ones(flat.shape[1], x64)
            np.testing.assert_allclose(got, want, rtol=20 * tol, atol=20 * tol * np.abs(want).max())


@pytest.mark.parametrize("call, match", [
    (lambda: mf.velocity(mf.init_params(jax.random.key(0), 4, 5), mf.erf_testbed(d=5), rows=0),
     "rows must be an integer >= 1"),
    (lambda: mf.erf.kernel_sums(jnp.ones((2, 3)), jnp.ones((4, 3)), jnp.ones(3)), "c \\(m,\\)"),
    (lambda: mf.tanh.kernel_sums(jnp.ones((2, 3)), jnp.ones((4, 3)), jnp.ones(4)),
     "no closed-form"),
    (lambda: mf.init_params(jax.random.key(0), 0, 5), "N must be an integer >= 1"),
    (lambda: mf.init_params(jax.random.key(0), 4, 5, a_std=-1.0), "a_std"),
    (lambda: mf.init_params(jax.random.key(0), 4, 5, seeds=0), "seeds"),
    (lambda: mf.erf_testbed(d=1), "d must be an integer >= 2"),
    (lambda: mf.time_scale(4, "lazy"), "scaling"),
])
def test_bad_input_gives_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
