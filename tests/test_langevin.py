"""Mean-field Langevin dynamics and the free energy (mfutils.langevin), and the k-NN entropy."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import mfutils as mf
from mfutils.langevin import LangevinArgs, _langevin_step


def test_zero_temperature_is_the_particle_flow(setup, x64):
    problem, params = setup
    flow = mf.particle_flow(params, problem, dt=0.05, t_end=1.0, every=5)
    cold = mf.langevin_flow(params, problem, jax.random.key(0), dt=0.05, t_end=1.0,
                            temperature=0.0, every=5)
    assert cold.final.w.dtype == x64 and cold.records["risk"].shape == (5,)
    np.testing.assert_allclose(cold.records["risk"], flow.records["risk"], rtol=1e-6)
    np.testing.assert_allclose(cold.final.w, flow.final.w, rtol=1e-6, atol=1e-7)


def test_one_step_is_euler_maruyama(x64):
    """(theta_1 - theta_0 - dt (v - lam theta_0)) / sqrt(2 tau dt) are i.i.d. N(0, 1) over the
    (d + 1) N coordinates: mean, variance and a Kolmogorov-Smirnov test."""
    problem = mf.erf_testbed(d=5)
    params = mf.init_params(jax.random.key(1), 2000, 5)
    dt, tau, lam = 0.01, 0.3, 0.5
    args = LangevinArgs(problem, *(jnp.asarray(x, x64) for x in (dt, tau, lam)))
    moved = _langevin_step(None)(params, 0, jax.random.key(2), args)
    v = mf.velocity(params, problem)
    z = jax.tree.map(lambda p1, p0, v: (p1 - p0 - dt * (v - lam * p0)) / np.sqrt(2 * tau * dt),
                     moved, params, v)
    z = np.concatenate([np.ravel(z.a), np.ravel(z.w)]).astype(float)
    assert abs(z.mean()) < 5 / np.sqrt(z.size) and abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)
    assert stats.kstest(z, "norm").pvalue > 1e-3


def test_gibbs_law_of_a_symmetric_problem():
    """With a zero teacher the Gibbs measure prop. to exp(-(V_mu + lam |theta|^2 / 2) / tau) is
    N(0, tau/lam I): V_mu = a E[f_mu sigma(w.x)] vanishes at a law symmetric in a. The particles,
    started far from it, reach its variance tau/lam in every coordinate (N = 512, 4 seeds, time
    average over the last half; the O(1/N) interaction is below the tolerance)."""
    problem = mf.Problem(mf.Params(jnp.zeros(1), jnp.eye(1, 2)), mf.erf, mf.erf)
    params = mf.init_params(jax.random.key(0), 512, 2, seeds=4, a_std=3.0, w_std=0.1)
    run = mf.langevin_flow(params, problem, jax.random.key(1), dt=0.02, t_end=16.0,
                           temperature=0.5, confinement=1.0, n_records=16,
                           observe=lambda p: {"a2": jnp.mean(p.a**2, -1),
                                              "w2": jnp.mean(p.w**2, axis=(-2, -1))})
    a2, w2 = (np.asarray(run.records[k])[:, 8:].mean() for k in ("a2", "w2"))
    np.testing.assert_allclose([a2, w2], 0.5, rtol=0.06)


def test_results_do_not_depend_on_the_record_interval_and_keys_matter(setup):
    problem, params = setup
    kw = dict(dt=0.05, t_end=1.0, temperature=0.1, confinement=0.1)
    a = mf.langevin_flow(params, problem, jax.random.key(4), every=2, **kw)
    b = mf.langevin_flow(params, problem, jax.random.key(4), every=10, **kw)
    c = mf.langevin_flow(params, problem, jax.random.key(5), every=10, **kw)
    np.testing.assert_allclose(a.final.w, b.final.w, rtol=1e-5, atol=1e-6)
    assert not np.allclose(b.final.w, c.final.w)


def test_seed_batch_equals_separate_runs(setup):
    problem, _ = setup
    batch = mf.init_params(jax.random.key(5), 16, 5, seeds=3)
    kw = dict(dt=0.05, t_end=1.0, temperature=0.05, every=10)
    run = mf.langevin_flow(batch, problem, jax.random.key(6), **kw)
    one = mf.langevin_flow(jax.tree.map(lambda t: t[1], batch), problem,
                           jax.random.split(jax.random.key(6), 3)[1], **kw)
    np.testing.assert_allclose(run.records["risk"][1], one.records["risk"], rtol=1e-5)


@pytest.mark.parametrize("kw, match", [
    ({"temperature": -0.1}, "temperature must be finite and >= 0"),
    ({"temperature": float("nan")}, "temperature must be finite and >= 0"),
    ({"confinement": -1.0}, "confinement must be finite and >= 0"),
    ({"temperature": "hot"}, "temperature must be a number"),
    ({"dt": 0.0}, "dt must be finite and > 0"),
    ({"t_end": 0.33}, "whole number of steps"),
])
def test_bad_input_gives_clear_errors(setup, kw, match):
    problem, params = setup
    args = dict(dt=0.1, t_end=1.0, temperature=0.1) | kw
    with pytest.raises(ValueError, match=match):
        mf.langevin_flow(params, problem, jax.random.key(0), **args)


def test_missing_key_non_finite_params_and_divergence(setup):
    problem, params = setup
    with pytest.raises(ValueError, match="PRNG key"):
        mf.langevin_flow(params, problem, None, dt=0.1, t_end=1.0, temperature=0.1)
    bad = params._replace(a=params.a.at[0].set(jnp.nan))
    with pytest.raises(ValueError, match="non-finite"):
        mf.langevin_flow(bad, problem, jax.random.key(0), dt=0.1, t_end=1.0, temperature=0.1)
    with pytest.raises(mf.DivergenceError, match="non-finite at step"):
        mf.langevin_flow(params, problem, jax.random.key(0), dt=1e3, t_end=1e5,
                         temperature=1e30, confinement=10.0)


def test_free_energy_parts():
    """F = R + (lam/2) mean |theta|^2 - tau H, with R exact and H the k-NN estimate."""
    problem = mf.erf_testbed(d=2)
    params = mf.init_params(jax.random.key(0), 400, 2, seeds=2)
    out = mf.free_energy(params, problem, temperature=0.2, confinement=0.5)
    np.testing.assert_allclose(out["risk"], mf.population_risk(params, problem), rtol=1e-6)
    m2 = np.mean(np.asarray(params.a) ** 2 + np.sum(np.asarray(params.w) ** 2, -1), -1)
    np.testing.assert_allclose(out["confinement"], 0.25 * m2, rtol=1e-5)
    np.testing.assert_allclose(out["free_energy"],
                               out["risk"] + out["confinement"] - 0.2 * out["entropy"], rtol=1e-6)
    # the particles' law is N(0, diag(1, 1/2, 1/2)): H = (3/2) log(2 pi e) + log(1/2)
    exact = 1.5 * np.log(2 * np.pi * np.e) + np.log(0.5)
    assert np.all(np.abs(out["entropy"] - exact) < 0.15)
    with pytest.raises(ValueError, match="temperature"):
        mf.free_energy(params, problem, temperature=-1.0)


@pytest.mark.parametrize("dim", [1, 3])
def test_knn_entropy_of_gaussians(rng, dim):
    """Within 0.1 of the exact entropy of N(0, s^2 I_D) at n = 3000, and shifting and scaling
    act as they must (H(cX) = H(X) + D log c)."""
    x = 2.0 * rng.standard_normal((3000, dim))
    exact = 0.5 * dim * np.log(2 * np.pi * np.e * 4.0)
    h = mf.knn_entropy(x)
    assert abs(h - exact) < 0.1
    np.testing.assert_allclose(mf.knn_entropy(3.0 * x + 1.0), h + dim * np.log(3.0), rtol=1e-9)


def test_knn_entropy_errors():
    with pytest.raises(ValueError, match="shape"):
        mf.knn_entropy(np.ones(5))
    with pytest.raises(ValueError, match="more than k"):
        mf.knn_entropy(np.random.default_rng(0).standard_normal((4, 2)), k=4)
    with pytest.raises(ValueError, match="finite"):
        mf.knn_entropy(np.array([[0.0, 1.0], [np.inf, 0.0], [1.0, 1.0]]), k=1)
    with pytest.raises(ValueError, match="distinct"):
        mf.knn_entropy(np.zeros((5, 2)), k=1)
