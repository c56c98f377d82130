"""The influence function of the flow (mfutils.fluctuations)."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf
from mfutils.fluctuations import _outputs
from helpers import arr


def test_influence_at_time_zero_is_the_unit(rng, x64):
    problem = mf.erf_testbed(d=5)
    params = mf.init_params(jax.random.key(3), 16, 5)
    x0 = arr(rng.standard_normal((2, 5)), x64)
    run = mf.influence_function(params, problem, x0, dt=0.1, t_end=0.4, every=2)
    f, values = run.records["f"], run.records["influence"]
    assert run.times.shape == (3,) and f.shape == (3, 2) and values.shape == (3, 2, 16)
    assert values.dtype == x64 and run.final.a.shape == (16,)
    unit = np.asarray(params.a)[:, None] * np.asarray(problem.sigma(params.w @ x0.T))
    np.testing.assert_allclose(values[0], unit.T, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(f[0], mf.network(params, x0, problem.sigma), rtol=1e-5)


def test_influence_predicts_the_effect_of_duplicating_a_neuron():
    """Adding a copy of neuron j turns mu into (N mu + delta_j)/(N + 1), so
    (N + 1)(f_{N+1}(x0, t) - f_N(x0, t)) = Phi_t(theta_j) - <Phi_t, mu> + O(1/N)."""
    problem = mf.erf_testbed(d=5)
    n = 48
    params = mf.init_params(jax.random.key(5), n, problem.d)
    x0 = jnp.array([[1.0, 0.0, 0.0, 0.0, 0.0], [0.3, -0.6, 0.2, 0.4, 0.1]])

    def probe(p):
        return {"f": mf.network(p, x0, problem.sigma)}

    inf = mf.influence_function(params, problem, x0, dt=0.1, t_end=1.5, n_records=1)
    base = mf.particle_flow(params, problem, dt=0.1, t_end=1.5, n_records=1, observe=probe)
    dup = jax.tree.map(lambda x: jnp.concatenate([jnp.broadcast_to(x, (n,) + x.shape),
                                                  x[:, None]], axis=1), params)  # seed j: + copy of j
    runs = mf.particle_flow(dup, problem, dt=0.1, t_end=1.5, n_records=1, observe=probe)
    measured = (n + 1) * (np.asarray(runs.records["f"])[:, -1] - np.asarray(base.records["f"])[-1])
    phi = np.asarray(inf.records["influence"][-1]).T                     # (n, P)
    predicted = phi - phi.mean(axis=0)
    assert np.abs(measured - predicted).max() < 0.1 * np.abs(predicted).max()
    assert np.corrcoef(measured.ravel(), predicted.ravel())[0, 1] > 0.99


@pytest.mark.slow
def test_influence_at_chapter_size_is_the_forward_mode_derivative():
    """J = 8 references of 512 to T = 2, the chapter's setting: the batched reverse-mode influence
    of each reference is its forward-mode Jacobian (jax.jacfwd, another code path) at every
    record, and a central difference in one weight. (Reverse mode through autodiff of the full
    kernel sums, the velocity before the analytic gradient, gave the T = 2 record 3-7% off with
    jax 0.10.2 on CPU while forward mode and finite differences agreed.)"""
    problem = mf.erf_testbed(d=5)
    x0 = jnp.array([[1.0, 0, 0, 0, 0], [0, 2.0, 0, 0, 0], [0.5, -0.5, 0.5, 0.5, 0.5]])
    ref = mf.init_params(jax.random.key(1), 512, 5, seeds=8)
    batched = np.asarray(mf.influence_function(ref, problem, x0, dt=0.1, t_end=2.0,
                                               every=5).records["influence"])
    weights = jnp.full(512, 1 / 512)
    for k in (0, 7):
        one = jax.tree.map(lambda x, k=k: x[k], ref)

        def outputs(w, one=one):
            return _outputs(w, one, x0, problem, jnp.float32(0.1), 20, 5)[0]

        forward = np.asarray(jax.jacfwd(outputs)(weights))
        np.testing.assert_allclose(batched[k], forward, rtol=1e-4,
                                   atol=1e-4 * np.abs(forward).max())
        e = jnp.zeros(512).at[3].set(1e-3)
        central = np.asarray(outputs(weights + e) - outputs(weights - e)) / 2e-3
        np.testing.assert_allclose(batched[k][-1, :, 3], central[-1], rtol=2e-3, atol=1e-3)


def test_influence_variance_and_errors():
    problem = mf.erf_testbed(d=5)
    refs = mf.init_params(jax.random.key(9), 32, problem.d, seeds=4)
    x0 = jnp.ones((1, problem.d))
    run = mf.influence_function(refs, problem, x0, dt=0.1, t_end=0.2, every=1)
    values = run.records["influence"]
    assert values.shape == (4, 3, 1, 32) and run.records["f"].shape == (4, 3, 1)
    est = mf.influence_variance(values)
    assert est.value.shape == (3, 1) and np.all(est.ci[0] < est.value) and np.all(est.value < est.ci[1])
    per_ref = np.asarray(values).var(axis=-1, ddof=1)
    np.testing.assert_allclose(est.value, per_ref.mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(est.se, per_ref.std(axis=0, ddof=1) / 2, rtol=1e-6)
    single = mf.influence_variance(values[0])
    assert np.all(np.isnan(single.ci[0])) and single.value.shape == (3, 1)


@pytest.mark.parametrize("kw, match", [
    ({"x0": jnp.ones(5)}, "x0 must have shape"),
    ({"x0": jnp.full((1, 5), jnp.nan)}, "non-finite"),
    ({"every": 2, "t_end": 0.3}, "must divide"),
    ({"dt": -1.0}, "dt"),
])
def test_bad_input_gives_clear_errors(kw, match):
    problem = mf.erf_testbed(d=5)
    refs = mf.init_params(jax.random.key(9), 8, 5, seeds=2)
    args = {"x0": jnp.ones((1, 5)), "dt": 0.1, "t_end": 0.2, **kw}
    with pytest.raises(ValueError, match=match):
        mf.influence_function(refs, problem, args.pop("x0"), **args)


def test_influence_variance_refuses_bad_shapes():
    with pytest.raises(ValueError, match="at least 2"):
        mf.influence_variance(np.ones((1, 3, 1, 8)))
    with pytest.raises(ValueError, match="values must be"):
        mf.influence_variance(np.ones((3, 8)))


def test_noise_coefficient_is_the_finite_difference_sum(x64):
    """B(T) = sum_k dt Var_x G_k(x), G_k(x) the derivative of f(x0, T) along the single-sample
    velocity of the particles after step k: here each G_k(x_m) is a central difference of the
    flow restarted from the kicked state, with the same samples x_m."""
    problem = mf.erf_testbed(d=3)
    ref = mf.init_params(jax.random.key(4), 8, 3, dtype=x64)
    x0 = arr([[1.0, -0.5, 0.3], [0.2, 1.0, 0.0]], x64)
    dt, n_steps, samples, key = 0.1, 4, 16, jax.random.key(5)
    run = mf.influence_function(ref, problem, x0, dt=dt, t_end=0.4, n_records=2,
                                sgd_samples=samples, key=key)
    assert run.records["noise"].shape == (3, 2) and run.records["noise"].dtype == x64
    np.testing.assert_array_equal(run.records["noise"][0], 0.0)

    def flow(p, steps):
        for _ in range(steps):
            p = jax.tree.map(lambda q, v: q + dt * v, p, mf.velocity(p, problem))
        return p

    def single_sample_velocity(p, x):   # (y - f(x)) grad phi(theta_j; x), for one sample
        residual = mf.target(problem, x) - mf.network(p, x, problem.sigma)
        return jax.tree.map(lambda g: residual * p.a.shape[0] * g,
                            jax.grad(lambda q: mf.network(q, x, problem.sigma))(p))

    h, expected = 1e-4 if x64 == jnp.float64 else 1e-2, np.zeros((2, 2))
    for k in range(n_steps):
        before = flow(ref, k)
        after = flow(before, 1)
        x = jax.random.normal(jax.random.fold_in(key, k), (samples, 3), x64)
        for r, t_steps in ((0, 2), (1, 4)):
            if k >= t_steps:
                continue
            g = []
            for m in range(samples):
                v = single_sample_velocity(before, x[m])
                up, down = (mf.network(flow(jax.tree.map(lambda p, u, s=s: p + s * h * u, after, v),
                                            t_steps - k - 1), x0, problem.sigma) for s in (1, -1))
                g.append(np.asarray(up - down) / (2 * h))
            expected[r] += dt * np.var(np.array(g), axis=0, ddof=1)
    rtol = 1e-6 if x64 == jnp.float64 else 2e-2
    np.testing.assert_allclose(run.records["noise"][1:], expected, rtol=rtol)


@pytest.mark.slow
def test_noise_coefficient_predicts_the_measured_martingale_part():
    """Online SGD and the gradient flow from the same draws, N = 128, eps = dt = 1/128, T = 1:
    N Var of their difference, the martingale part, is (N eps) B(T) to leading order; measured
    over 600 draws (standard error about 6%) against 8 references of 128."""
    problem = mf.erf_testbed(d=5)
    x0 = jnp.array([[1.0, 0, 0, 0, 0], [0.5, -0.5, 0.5, 0.5, 0.5]])
    n, eps, seeds = 128, 1 / 128, 600
    refs = mf.init_params(jax.random.key(1), 128, 5, seeds=8)
    predicted = mf.noise_variance(mf.influence_function(
        refs, problem, x0, dt=1 / 32, t_end=1.0, n_records=1, sgd_samples=512,
        key=jax.random.key(2)).records["noise"])

    def probe(p):
        return {"f": mf.network(p, x0, problem.sigma)}

    draws = mf.init_params(jax.random.key(3), n, 5, seeds=seeds)
    sgd = mf.online_sgd(draws, problem, jax.random.key(4), lr=eps, t_end=1.0, n_records=1,
                        observe=probe).records["f"][:, -1]
    flow = mf.particle_flow(draws, problem, dt=eps, t_end=1.0, n_records=1,
                            observe=probe).records["f"][:, -1]
    measured = n * np.var(np.asarray(sgd - flow), axis=0, ddof=1) / (n * eps)
    se = measured * np.sqrt(2 / (seeds - 1))
    z = (measured - predicted.value[-1]) / np.hypot(se, predicted.se[-1])
    assert np.all(np.abs(z) < 3.5), (measured, predicted.value[-1])
    # and a 30% error in B would be seen
    assert np.all(np.abs(measured - 1.3 * predicted.value[-1]) > 2 * np.hypot(se, predicted.se[-1]))


def test_noise_errors():
    problem = mf.erf_testbed(d=5)
    refs = mf.init_params(jax.random.key(9), 8, 5, seeds=2)
    x0 = jnp.ones((1, 5))
    with pytest.raises(ValueError, match="PRNG key"):
        mf.influence_function(refs, problem, x0, dt=0.1, t_end=0.2, sgd_samples=16)
    with pytest.raises(ValueError, match="sgd_samples"):
        mf.influence_function(refs, problem, x0, dt=0.1, t_end=0.2, sgd_samples=1,
                              key=jax.random.key(0))
    bad = refs._replace(a=refs.a.at[0, 0].set(jnp.inf))
    with pytest.raises(ValueError, match="non-finite"):
        mf.influence_function(bad, problem, x0, dt=0.1, t_end=0.2)
    with pytest.raises(ValueError, match="noise must be"):
        mf.noise_variance(np.ones((3, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        mf.noise_variance(np.ones((1, 3, 2)))
    run = mf.influence_function(refs, problem, x0, dt=0.1, t_end=0.2, n_records=2, sgd_samples=64,
                                key=jax.random.key(0))
    est = mf.noise_variance(run.records["noise"])
    assert est.value.shape == (3, 1) and np.all(est.value[1:] > 0)
    np.testing.assert_allclose(est.value, np.asarray(run.records["noise"]).mean(axis=0), rtol=1e-6)
