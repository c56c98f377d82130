"""Unit tests of mfutils: exact population quantities against Monte Carlo, dynamics, errors.

Monte-Carlo comparisons use float64 numpy samples and a tolerance of 5 standard errors of the
Monte-Carlo mean (a false alarm has probability < 1e-6 per entry), computed from the sample.
"""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf

N_MC = 400_000
RNG = np.random.default_rng(20261122)
X = RNG.standard_normal((N_MC, 5))


def mc_mean(samples):
    """Monte-Carlo mean over axis 0 and its standard error."""
    return samples.mean(0), samples.std(0) / np.sqrt(len(samples))


def sigma_np(act, z):
    return np.asarray(act(jnp.asarray(z, jnp.float32)), float)


def assert_mc(exact, samples, n_se=5.0):
    mean, se = mc_mean(samples)
    np.testing.assert_array_less(np.abs(np.asarray(exact, float) - mean), n_se * se + 1e-4)


def unit(v):
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


# ---------------------------------------------------------------- activations and kernels

@pytest.mark.parametrize("act, normalise", [
    (mf.erf, False), (mf.relu, False), (mf.hermite(3), True),
    (mf.hermite_series([0.1, 0.5, 0.7, 0.0, 0.3]), True)])
def test_kernel_matches_monte_carlo(act, normalise):
    u = RNG.standard_normal((3, 5)) * 0.7
    v = RNG.standard_normal((4, 5)) * 0.7
    u[0] = v[0]  # include a coincident pair: the diagonal of the kernel
    if normalise:
        u, v = unit(u), unit(v)
    exact = act.kernel(jnp.asarray(u, jnp.float32), jnp.asarray(v, jnp.float32))
    assert exact.shape == (3, 4)
    su, sv = sigma_np(act, X @ u.T), sigma_np(act, X @ v.T)
    assert_mc(exact, su[:, :, None] * sv[:, None, :])


def test_hermite_cross_kernel_matches_monte_carlo():
    s1, s2 = mf.hermite_series([0.0, 1.0, 0.5]), mf.hermite_series([0.2, 0.0, 1.0, 0.4])
    u, v = unit(RNG.standard_normal((2, 5))), unit(RNG.standard_normal((3, 5)))
    exact = s1.kernel(jnp.asarray(u, jnp.float32), jnp.asarray(v, jnp.float32), s2)
    su, sv = sigma_np(s1, X @ u.T), sigma_np(s2, X @ v.T)
    assert_mc(exact, su[:, :, None] * sv[:, None, :])


def test_hermite_basis_is_orthonormal():
    z, wq = np.polynomial.hermite_e.hermegauss(40)
    h = np.asarray(mf.hermite_basis(jnp.asarray(z), 6), float)
    gram = (h * (wq / np.sqrt(2 * np.pi))[:, None]).T @ h
    np.testing.assert_allclose(gram, np.eye(7), atol=1e-4)
    # He_3 = z^3 - 3z, normalised by sqrt(3!)
    np.testing.assert_allclose(h[:, 3], (z**3 - 3 * z) / np.sqrt(6), rtol=1e-4, atol=1e-3)


def test_relu_kernel_gradient_is_finite_on_the_diagonal():
    u = jnp.asarray(RNG.standard_normal((4, 5)), jnp.float32)
    g = jax.grad(lambda u: mf.relu.kernel(u, u).sum())(u)
    assert np.all(np.isfinite(g))


def test_kernels_refuse_what_has_no_closed_form():
    u = jnp.ones((2, 3))
    with pytest.raises(ValueError, match="no closed-form"):
        mf.tanh.kernel(u, u)
    with pytest.raises(ValueError, match="no closed-form"):
        mf.erf.kernel(u, u, mf.relu)
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        mf.erf.kernel(u, jnp.ones((2, 4)))
    with pytest.raises(ValueError):
        mf.hermite(-1)
    with pytest.raises(ValueError):
        mf.hermite_series([0.0, float("nan")])
    with pytest.raises(ValueError, match="unknown activation"):
        mf.Activation("sigmoid")


# ---------------------------------------------------------------- networks and population quantities

@pytest.fixture
def setup():
    problem = mf.erf_testbed(d=5)
    params = mf.init_params(jax.random.key(3), 16, 5)
    return problem, params


def test_shapes_and_scalings(setup):
    problem, params = setup
    assert params.a.shape == (16,) and params.w.shape == (16, 5) and params.a.dtype == jnp.float32
    batch = mf.init_params(jax.random.key(0), 16, 5, seeds=7)
    assert batch.a.shape == (7, 16) and batch.w.shape == (7, 16, 5)
    x = jnp.asarray(X[:10], jnp.float32)
    assert mf.network(params, x, mf.erf).shape == (10,)
    assert mf.network(params, x[0], mf.erf).shape == ()
    f_mf, f_ntk = mf.network(params, x, mf.erf), mf.network(params, x, mf.erf, "ntk")
    np.testing.assert_allclose(f_ntk, 4.0 * f_mf, rtol=1e-5)  # sqrt(16) / 16 * 16
    assert mf.time_scale(16) == 16 and mf.time_scale(16, "ntk") == 1
    with pytest.raises(ValueError, match="scaling"):
        mf.output_scale(16, "lazy")


@pytest.mark.parametrize("scaling", ["mean-field", "ntk"])
def test_population_risk_matches_monte_carlo(setup, scaling):
    problem, params = setup
    x = X[:100_000]
    f = np.asarray(mf.network(params, jnp.asarray(x, jnp.float32), mf.erf, scaling), float)
    y = np.asarray(mf.target(problem, jnp.asarray(x, jnp.float32)), float)
    assert_mc(mf.population_risk(params, problem, scaling), 0.5 * (f - y) ** 2)


def test_first_variation_matches_monte_carlo_and_is_the_particle_gradient(setup):
    problem, params = setup
    x32 = jnp.asarray(X[:100_000], jnp.float32)
    resid = np.asarray(mf.network(params, x32, mf.erf) - mf.target(problem, x32), float)
    theta = mf.Params(jnp.asarray([0.7, -1.2]), jnp.asarray(RNG.standard_normal((2, 5)) * 0.5,
                                                            jnp.float32))
    phi = np.asarray(theta.a)[None, :] * sigma_np(mf.erf, X[:100_000] @ np.asarray(theta.w).T)
    assert_mc(mf.first_variation(theta, params, problem), resid[:, None] * phi)
    # grad V_{mu^N}(theta_i) = N grad_{theta_i} R, i.e. velocity = -grad V at the particles
    grad_v = jax.vmap(jax.grad(lambda th: mf.first_variation(
        jax.tree.map(lambda t: t[None], th), params, problem)[0]))(params)
    v = mf.velocity(params, problem)
    np.testing.assert_allclose(v.a, -grad_v.a, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(v.w, -grad_v.w, rtol=1e-4, atol=1e-6)


def test_gradient_of_first_variation_matches_monte_carlo(setup):
    """grad_theta V_mu(theta) = E[(f - y) grad phi], grad_a phi = sigma(w.x), grad_w phi = a sigma'(w.x) x."""
    problem, params = setup
    xs = X[:200_000]
    x32 = jnp.asarray(xs, jnp.float32)
    resid = np.asarray(mf.network(params, x32, mf.erf) - mf.target(problem, x32), float)
    a0, w0 = 0.8, RNG.standard_normal(5) * 0.6
    grad = jax.grad(lambda th: mf.first_variation(
        mf.Params(th.a[None], th.w[None]), params, problem)[0])(
        mf.Params(jnp.float32(a0), jnp.asarray(w0, jnp.float32)))
    z = xs @ w0
    dsigma = 2 / np.sqrt(np.pi) * np.exp(-z**2)
    samples = np.concatenate([(resid * sigma_np(mf.erf, z))[:, None],
                              (resid * a0 * dsigma)[:, None] * xs], axis=1)
    assert_mc(np.concatenate([[grad.a], np.asarray(grad.w)]), samples)


def test_relu_and_hermite_problems_have_exact_risks():
    u = unit(RNG.standard_normal((1, 4)))
    problem = mf.Problem(mf.Params(jnp.ones(1), jnp.asarray(u, jnp.float32)),
                         mf.hermite_series([0, 0, 1, 0.5]), mf.hermite(2))
    w = jnp.asarray(unit(RNG.standard_normal((8, 4))), jnp.float32)
    params = mf.Params(jnp.linspace(-1, 1, 8), w)
    x = X[:200_000, :4]
    f = np.asarray(mf.network(params, jnp.asarray(x, jnp.float32), problem.sigma), float)
    y = sigma_np(mf.hermite(2), x @ u.T)[:, 0]
    assert_mc(mf.population_risk(params, problem), 0.5 * (f - y) ** 2)


# ---------------------------------------------------------------- dynamics

def test_gradient_flow_decreases_the_risk(setup):
    problem, params = setup
    tr = mf.particle_flow(params, problem, dt=0.02, n_steps=200, every=5)
    risk = np.asarray(tr.observables)
    assert tr.times.shape == risk.shape == (41,)
    np.testing.assert_allclose(tr.times[-1], 4.0, rtol=1e-6)
    assert np.all(np.diff(risk) <= 1e-6) and risk[-1] < 0.5 * risk[0]


def test_ntk_weights_move_less_than_mean_field():
    problem = mf.erf_testbed()
    params = mf.init_params(jax.random.key(1), 256, 5)
    move = {}
    for s in ("mean-field", "ntk"):
        p = mf.particle_flow(params, problem, dt=0.05, n_steps=40, scaling=s).params
        move[s] = float(jnp.sqrt(jnp.mean((p.w - params.w) ** 2 * 5)))
    assert move["ntk"] < 0.3 * move["mean-field"]


def test_seed_batch_equals_separate_runs_and_user_vmap(setup):
    problem, _ = setup
    batch = mf.init_params(jax.random.key(5), 16, 5, seeds=3)
    tr = mf.particle_flow(batch, problem, dt=0.05, n_steps=20, every=10)
    assert tr.observables.shape == (3, 3)
    one = mf.particle_flow(jax.tree.map(lambda t: t[1], batch), problem, dt=0.05, n_steps=20,
                           every=10)
    np.testing.assert_allclose(tr.observables[1], one.observables, rtol=1e-5)
    user = jax.vmap(lambda p: mf.particle_flow(p, problem, dt=0.05, n_steps=20,
                                               every=10).observables)(batch)
    np.testing.assert_allclose(user, tr.observables, rtol=1e-5)


def test_sgd_matches_gradient_flow_on_average(setup):
    """Same initial particles, 256 sample streams: E[theta_SGD(t)] = theta_GF(t) + O(lr)."""
    problem, params = setup
    lr, steps = 0.01, 150
    gf = mf.particle_flow(params, problem, dt=lr, n_steps=steps).params
    many = jax.tree.map(lambda t: jnp.broadcast_to(t, (256,) + t.shape), params)
    sgd = mf.online_sgd(many, problem, jax.random.key(9), lr=lr, n_steps=steps, every=steps).params
    for g, s in zip(gf, sgd):
        mean, se = np.asarray(s).mean(0), np.asarray(s).std(0) / np.sqrt(256)
        assert np.all(np.abs(mean - np.asarray(g)) < 5 * se + 5 * lr), "SGD mean drifts from GF"
        assert np.max(se) > 1e-4  # the streams really differ


def test_ss_sgd_records_times_k_over_n(setup):
    problem, params = setup
    tr = mf.ss_sgd(params, problem, jax.random.key(0), alpha=1.0, n_steps=64, every=16)
    np.testing.assert_allclose(tr.times, [0, 1, 2, 3, 4])
    assert tr.observables[-1] < tr.observables[0]


def test_observe_records_a_pytree(setup):
    problem, params = setup
    x0 = jnp.ones(5) / jnp.sqrt(5.0)
    obs = lambda p: {"f": mf.network(p, x0, mf.erf), "a": p.a}  # noqa: E731
    tr = mf.particle_flow(params, problem, dt=0.1, n_steps=10, every=2, observe=obs)
    assert tr.observables["f"].shape == (6,) and tr.observables["a"].shape == (6, 16)
    np.testing.assert_allclose(tr.observables["a"][-1], tr.params.a)


# ---------------------------------------------------------------- bad input

def test_bad_input_gives_clear_errors(setup):
    problem, params = setup
    flow = lambda p, **kw: mf.particle_flow(p, problem, **{"dt": 0.1, "n_steps": 2, **kw})  # noqa
    with pytest.raises(ValueError, match="a: \\(N,\\) and w: \\(N, d\\)"):
        flow(mf.Params(params.a[:3], params.w))
    with pytest.raises(ValueError, match="input dimension 4"):
        flow(mf.Params(params.a, params.w[:, :4]))
    with pytest.raises(ValueError, match="N >= 1"):
        flow(mf.Params(params.a[:0], params.w[:0]))
    with pytest.raises(ValueError, match="N must be an integer >= 1"):
        mf.init_params(jax.random.key(0), 0, 5)
    for dt in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="dt must be finite and > 0"):
            flow(params, dt=dt)
    with pytest.raises(ValueError, match="multiple of every"):
        flow(params, n_steps=5, every=2)
    with pytest.raises(ValueError, match="n_steps must be an integer"):
        flow(params, n_steps=2.5)
    with pytest.raises(ValueError, match="non-finite"):
        flow(mf.Params(params.a.at[2].set(jnp.nan), params.w))
    with pytest.raises(ValueError, match="alpha"):
        mf.ss_sgd(params, problem, jax.random.key(0), alpha=0, n_steps=4)
    with pytest.raises(ValueError, match="lr"):
        mf.online_sgd(params, problem, jax.random.key(0), lr=-1, n_steps=4)
    bad_teacher = mf.Problem(mf.Params(jnp.asarray([jnp.inf]), jnp.ones((1, 5))), mf.erf, mf.erf)
    with pytest.raises(ValueError, match="non-finite"):
        mf.particle_flow(params, bad_teacher, dt=0.1, n_steps=2)


def test_divergence_reports_the_step():
    """ReLU units grow without bound under a far too large Euler step."""
    u = jnp.eye(1, 3)
    problem = mf.Problem(mf.Params(jnp.asarray([3.0]), u), mf.relu, mf.relu)
    params = mf.init_params(jax.random.key(0), 8, 3, a_std=3.0)
    with pytest.raises(mf.DivergenceError, match=r"non-finite at step \d+ of 400, t = "):
        mf.particle_flow(params, problem, dt=20.0, n_steps=400, every=400)
    batch = mf.init_params(jax.random.key(0), 8, 3, seeds=2, a_std=3.0)
    with pytest.raises(mf.DivergenceError, match=r"seed \d of 2"):
        mf.particle_flow(batch, problem, dt=20.0, n_steps=400, every=400)


# ---------------------------------------------------------------- statistics

def test_loglog_slope_recovers_a_power_law_and_its_interval():
    x = np.array([32, 64, 128, 256, 512.0])
    fit = mf.loglog_slope(x, 3.0 * x**-1.0)
    assert abs(fit.slope + 1) < 1e-12 and fit.ci[0] <= -1 <= fit.ci[1]
    noisy = 3.0 * x**-1.0 * np.exp(np.random.default_rng(0).normal(0, 0.05, 5))
    fit = mf.loglog_slope(x, noisy)
    assert fit.ci[0] < fit.slope < fit.ci[1] and fit.ci[1] - fit.ci[0] > 0
    with pytest.raises(ValueError, match="positive"):
        mf.loglog_slope(x, -x)
    with pytest.raises(ValueError, match="at least 3"):
        mf.loglog_slope(x[:2], x[:2])


# ---------------------------------------------------------------- measures (chapter 2)

def test_wasserstein1_1d_exact_values():
    x = np.array([0.3, -1.2, 2.0, 0.7])
    assert float(mf.wasserstein1_1d(x, x + 0.25)) == pytest.approx(0.25, abs=1e-6)
    # equal sizes: mean distance between sorted samples
    y = np.array([1.0, 0.1, -0.4, 3.0])
    assert float(mf.wasserstein1_1d(x, y)) == pytest.approx(np.mean(np.abs(np.sort(x) - np.sort(y))),
                                                            abs=1e-6)
    # different sizes, by hand: F_x = 1/2 on [0, 1), F_y = 1/3 then 2/3 -> 1/6
    assert float(mf.wasserstein1_1d(np.array([0.0, 1.0]), np.array([0.0, 0.5, 1.0]))) == \
        pytest.approx(1 / 6, abs=1e-6)


def test_wasserstein1_1d_batches_and_rejects_bad_shapes():
    xb, yb = RNG.standard_normal((3, 20)), RNG.standard_normal((3, 7))
    batched = np.asarray(mf.wasserstein1_1d(xb, yb))
    assert batched.shape == (3,)
    np.testing.assert_allclose(batched, [float(mf.wasserstein1_1d(a, b)) for a, b in zip(xb, yb)],
                               rtol=1e-5)
    with pytest.raises(ValueError, match="matching batch"):
        mf.wasserstein1_1d(xb, yb[:2])


def test_variance_interval_covers_at_its_level():
    rng = np.random.default_rng(1)
    hits = [lo <= 4.0 <= hi for lo, hi in
            (mf.variance_interval(2.0 * rng.standard_normal(50)).ci for _ in range(400))]
    assert 0.91 < np.mean(hits) < 0.99  # nominal 0.95; binomial s.e. ~0.011
    with pytest.raises(ValueError, match="at least 3"):
        mf.variance_interval([1.0, 2.0])


# ---------------------------------------------------------------- propagation of chaos (chapter 3)

def test_coupling_with_itself_as_reference_stays_together(setup):
    """If the reference is the interacting system itself, the twins are the neurons."""
    problem, params = setup
    run = mf.synchronous_coupling(params, params, problem, dt=0.1, n_steps=30, every=10)
    assert run.times.shape == (4,) and float(run.observables[0]) == 0.0
    assert float(np.max(run.observables)) < 1e-8


def test_coupling_separates_and_batches(setup):
    problem, _ = setup
    p = mf.init_params(jax.random.key(1), 16, 5, seeds=2)
    r = mf.init_params(jax.random.key(2), 128, 5, seeds=2)
    run = mf.synchronous_coupling(p, r, problem, dt=0.1, n_steps=20, every=10)
    assert run.observables.shape == (2, 3) and np.all(run.observables[:, -1] > 1e-5)
    one = mf.synchronous_coupling(jax.tree.map(lambda x: x[1], p), jax.tree.map(lambda x: x[1], r),
                                  problem, dt=0.1, n_steps=20, every=10)
    np.testing.assert_allclose(one.observables, run.observables[1], rtol=1e-4, atol=1e-9)
    with pytest.raises(ValueError, match="same seed axis"):
        mf.synchronous_coupling(p, jax.tree.map(lambda x: x[0], r), problem, dt=0.1, n_steps=2)


def test_velocity_splits_into_teacher_force_and_pair_interaction(setup):
    """v_mu(theta) = F(theta) + mean_j K(theta, theta_j); F is v for output weights a_j = 0."""
    problem, params = setup
    theta = mf.Params(jnp.asarray([0.7, -1.1]), jnp.asarray(RNG.standard_normal((2, 5)), jnp.float32))
    v = mf.mean_field_velocity(theta, params, problem)
    force = mf.mean_field_velocity(theta, mf.Params(jnp.zeros_like(params.a), params.w), problem)
    n = params.a.shape[0]
    pairs = [mf.interaction(mf.Params(jnp.repeat(theta.a[k:k + 1], n), jnp.repeat(theta.w[k:k + 1], n, 0)),
                            params, problem).mean(0) for k in range(2)]
    total = np.concatenate([force.a[:, None], force.w], axis=1) + np.stack(pairs)
    np.testing.assert_allclose(np.concatenate([v.a[:, None], v.w], axis=1), total, rtol=1e-4, atol=1e-6)
    # at the particles it is the particle velocity
    at = mf.mean_field_velocity(params, params, problem)
    np.testing.assert_allclose(at.w, mf.velocity(params, problem).w, rtol=1e-4, atol=1e-6)


def test_jacobians_match_finite_differences(setup):
    problem, params = setup
    theta = mf.Params(jnp.asarray([0.9]), jnp.asarray(RNG.standard_normal((1, 5)) * 0.5, jnp.float32))
    jac = np.asarray(mf.velocity_jacobian(theta, params, problem))[0]
    np.testing.assert_allclose(jac, jac.T, atol=1e-5)  # v is a gradient field

    def v_flat(z):
        v = mf.mean_field_velocity(mf.Params(jnp.asarray(z[:1], jnp.float32),
                                             jnp.asarray(z[None, 1:], jnp.float32)), params, problem)
        return np.concatenate([np.asarray(v.a), np.asarray(v.w[0])]).astype(float)

    z0, h = np.concatenate([np.asarray(theta.a), np.asarray(theta.w[0])]).astype(float), 1e-2
    fd = np.stack([(v_flat(z0 + h * e) - v_flat(z0 - h * e)) / (2 * h) for e in np.eye(6)], axis=1)
    np.testing.assert_allclose(jac, fd, atol=2e-3)
    other = mf.Params(jnp.asarray([-0.4]), jnp.asarray(RNG.standard_normal((1, 5)) * 0.5, jnp.float32))
    kj = np.asarray(mf.interaction_jacobian(theta, other, problem))[0]

    def k_flat(zp):
        return np.asarray(mf.interaction(theta, mf.Params(jnp.asarray(zp[:1], jnp.float32),
                                                          jnp.asarray(zp[None, 1:], jnp.float32)),
                                         problem))[0].astype(float)

    zp0 = np.concatenate([np.asarray(other.a), np.asarray(other.w[0])]).astype(float)
    fd = np.stack([(k_flat(zp0 + h * e) - k_flat(zp0 - h * e)) / (2 * h) for e in np.eye(6)], axis=1)
    np.testing.assert_allclose(kj, fd, atol=2e-3)


def test_gronwall_bound_formula_and_inputs():
    t = np.array([0.0, 0.5, 1.0])
    np.testing.assert_allclose(mf.gronwall_bound(t, 100, 2.0, 3.0), 3.0 / (2.0 * 10) * np.expm1(4.0 * t))
    with pytest.raises(ValueError):
        mf.gronwall_bound(t, 100, 0.0, 1.0)
    with pytest.raises(ValueError):
        mf.gronwall_bound(t, 0, 1.0, 1.0)


# ---------------------------------------------------------------- fluctuations (chapter 4)

def test_weighted_velocity_with_uniform_weights_is_the_particle_velocity(setup):
    problem, params = setup
    n = params.a.shape[0]
    v = mf.weighted_velocity(params, jnp.full(n, 1.0 / n), problem)
    ref = mf.velocity(params, problem)
    for x, y in zip(v, ref):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-6)
    # weights 2/N: the field of the measure whose output weights are doubled, felt by the same points
    v2 = mf.weighted_velocity(params, jnp.full(n, 2.0 / n), problem)
    field = mf.mean_field_velocity(params, params._replace(a=2 * params.a), problem)
    for x, y in zip(v2, field):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-4, atol=1e-6)


def test_influence_at_time_zero_is_the_unit(setup):
    problem, params = setup
    x0 = jnp.asarray(RNG.standard_normal((2, problem.d)), jnp.float32)
    inf = mf.influence_function(params, problem, x0, dt=0.1, n_steps=4, every=2)
    assert inf.times.shape == (3,) and inf.outputs.shape == (3, 2)
    assert inf.values.shape == (3, 2, params.a.shape[0])
    unit = np.asarray(params.a)[:, None] * np.asarray(problem.sigma(params.w @ x0.T))
    np.testing.assert_allclose(np.asarray(inf.values[0]), unit.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(inf.outputs[0]),
                               np.asarray(mf.network(params, x0, problem.sigma)), rtol=1e-5)


def test_influence_predicts_the_effect_of_duplicating_a_neuron():
    """Adding a copy of neuron j turns mu into (N mu + delta_j)/(N + 1), so
    (N + 1)(f_{N+1}(x0, t) - f_N(x0, t)) = Phi_t(theta_j) - <Phi_t, mu> + O(1/N)."""
    problem = mf.erf_testbed(d=5)
    n = 48
    params = mf.init_params(jax.random.key(5), n, problem.d)
    x0 = jnp.array([[1.0, 0.0, 0.0, 0.0, 0.0], [0.3, -0.6, 0.2, 0.4, 0.1]])
    probe = lambda p: mf.network(p, x0, problem.sigma)  # noqa: E731
    inf = mf.influence_function(params, problem, x0, dt=0.1, n_steps=15, every=15)
    base = mf.particle_flow(params, problem, dt=0.1, n_steps=15, every=15, observe=probe)
    dup = jax.tree.map(lambda x: jnp.concatenate([jnp.broadcast_to(x, (n,) + x.shape),
                                                  x[:, None]], axis=1), params)  # seed j: + copy of j
    runs = mf.particle_flow(dup, problem, dt=0.1, n_steps=15, every=15, observe=probe)
    measured = (n + 1) * (np.asarray(runs.observables)[:, -1] - np.asarray(base.observables)[-1])
    phi = np.asarray(inf.values[-1]).T                                  # (n, P)
    predicted = phi - phi.mean(axis=0)
    err = np.abs(measured - predicted).max()
    assert err < 0.1 * np.abs(predicted).max(), err
    assert np.corrcoef(measured.ravel(), predicted.ravel())[0, 1] > 0.99


def test_influence_variance_and_errors(setup):
    problem, _ = setup
    refs = mf.init_params(jax.random.key(9), 32, problem.d, seeds=4)
    x0 = jnp.ones((1, problem.d))
    inf = mf.influence_function(refs, problem, x0, dt=0.1, n_steps=2, every=1)
    assert inf.values.shape == (4, 3, 1, 32) and inf.outputs.shape == (4, 3, 1)
    est = mf.influence_variance(inf)
    assert est.value.shape == (3, 1) and np.all(est.ci[0] < est.value) and np.all(est.value < est.ci[1])
    per_ref = np.asarray(inf.values).var(axis=-1, ddof=1).mean(axis=0)
    np.testing.assert_allclose(est.value, per_ref, rtol=1e-6)
    single = mf.influence_variance(jax.tree.map(lambda x: x[0], inf))
    assert np.isnan(single.ci[0]) and single.value.shape == (3, 1)
    with pytest.raises(ValueError, match="at least 2"):
        mf.influence_variance(jax.tree.map(lambda x: x[:1], inf))
    with pytest.raises(ValueError, match="x0 must have shape"):
        mf.influence_function(refs, problem, jnp.ones(problem.d), dt=0.1, n_steps=2)
    with pytest.raises(ValueError, match="non-finite"):
        mf.influence_function(refs, problem, jnp.full((1, problem.d), jnp.nan), dt=0.1, n_steps=2)
    with pytest.raises(ValueError, match="multiple"):
        mf.influence_function(refs, problem, x0, dt=0.1, n_steps=3, every=2)
    with pytest.raises(ValueError, match="dt"):
        mf.influence_function(refs, problem, x0, dt=-1.0, n_steps=2)


def test_line_fit_recovers_a_line_and_covers_at_its_level():
    rng = np.random.default_rng(3)
    x = np.linspace(0.0, 4.0, 9)
    hits = []
    for _ in range(300):
        fit = mf.line_fit(x, 0.5 + 2.0 * x + 0.3 * rng.standard_normal(x.size))
        hits.append((fit.intercept_ci[0] <= 0.5 <= fit.intercept_ci[1],
                     fit.slope_ci[0] <= 2.0 <= fit.slope_ci[1]))
    assert np.all((0.9 < np.mean(hits, axis=0)) & (np.mean(hits, axis=0) < 0.99))
    with pytest.raises(ValueError, match="distinct"):
        mf.line_fit([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        mf.line_fit([0.0, 1.0, 2.0], [1.0, np.nan, 3.0])


def test_dynamics_run_in_float64():
    """With JAX_ENABLE_X64 (chapter 6's exact errors need it) the flows keep their dtype and run."""
    import os
    import subprocess
    import sys
    code = ("import jax, jax.numpy as jnp, mfutils as mf\n"
            "pb = mf.erf_testbed(d=4, dtype=jnp.float64)\n"
            "p = mf.init_params(jax.random.key(0), 8, 4, seeds=2, dtype=jnp.float64)\n"
            "tr = mf.particle_flow(p, pb, dt=0.1, n_steps=4, every=2)\n"
            "sgd = mf.online_sgd(p, pb, jax.random.key(1), lr=0.01, n_steps=4)\n"
            "assert tr.params.a.dtype == jnp.float64 and tr.observables.dtype == jnp.float64\n"
            "assert sgd.params.w.dtype == jnp.float64\n")
    env = dict(os.environ, JAX_ENABLE_X64="1", JAX_PLATFORMS="cpu")
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]
