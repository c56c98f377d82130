"""The particle flow and online SGD (mfutils.dynamics), in both precisions."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf


def test_gradient_flow_decreases_the_risk(setup, x64):
    problem, params = setup
    run = mf.particle_flow(params, problem, dt=0.02, t_end=4.0, every=5)
    risk = np.asarray(run.records["risk"])
    assert run.times.shape == risk.shape == (41,) and run.records["risk"].dtype == x64
    assert run.final.w.dtype == x64
    np.testing.assert_allclose(run.times[-1], 4.0, rtol=1e-6)
    assert np.all(np.diff(risk) <= 1e-6) and risk[-1] < 0.5 * risk[0]


def test_ntk_weights_move_less_than_mean_field():
    problem = mf.erf_testbed()
    params = mf.init_params(jax.random.key(1), 256, 5)
    move = {}
    for s in ("mean-field", "ntk"):
        p = mf.particle_flow(params, problem, dt=0.05, t_end=2.0, scaling=s).final
        move[s] = float(jnp.sqrt(jnp.mean((p.w - params.w) ** 2 * 5)))
    assert move["ntk"] < 0.3 * move["mean-field"]


def test_seed_batch_equals_separate_runs_and_user_vmap(setup):
    problem, _ = setup
    batch = mf.init_params(jax.random.key(5), 16, 5, seeds=3)
    run = mf.particle_flow(batch, problem, dt=0.05, t_end=1.0, every=10)
    assert run.records["risk"].shape == (3, 3)
    one = mf.particle_flow(jax.tree.map(lambda t: t[1], batch), problem, dt=0.05, t_end=1.0, every=10)
    np.testing.assert_allclose(run.records["risk"][1], one.records["risk"], rtol=1e-5)
    user = jax.vmap(lambda p: mf.particle_flow(p, problem, dt=0.05, t_end=1.0,
                                               every=10).records["risk"])(batch)
    np.testing.assert_allclose(user, run.records["risk"], rtol=1e-5)


def test_sgd_matches_gradient_flow_on_average(setup):
    """Same initial particles, 256 sample streams: E[theta_SGD(t)] = theta_GF(t) + O(lr)."""
    problem, params = setup
    lr, t_end = 0.01, 1.5
    gf = mf.particle_flow(params, problem, dt=lr, t_end=t_end).final
    many = jax.tree.map(lambda t: jnp.broadcast_to(t, (256,) + t.shape), params)
    sgd = mf.online_sgd(many, problem, jax.random.key(9), lr=lr, t_end=t_end, n_records=1).final
    assert sgd.w.dtype == params.w.dtype
    for g, s in zip(gf, sgd):
        mean, se = np.asarray(s).mean(0), np.asarray(s).std(0) / np.sqrt(256)
        assert np.all(np.abs(mean - np.asarray(g)) < 5 * se + 5 * lr), "SGD mean drifts from GF"
        assert np.max(se) > 1e-4  # the streams really differ


def test_sgd_samples_are_keyed_per_step_not_per_record(setup):
    problem, params = setup
    runs = [mf.ss_sgd(params, problem, jax.random.key(0), alpha=1.0, t_end=2.0, every=every)
            for every in (1, 8, 32)]
    for run in runs[1:]:  # the same samples; XLA may round differently in another loop shape
        np.testing.assert_allclose(run.final.w, runs[0].final.w, rtol=1e-5)


def test_ss_sgd_equals_the_loop_as_first_written(setup):
    """Drawing a record interval's samples at once keeps each step's sample: seed s, step k
    reads normal(fold_in(split(key, S)[s], k)), as in a plain loop drawing it inside the step."""
    problem, _ = setup
    params = mf.init_params(jax.random.key(4), 32, 5, seeds=3)
    key, alpha, t_end = jax.random.key(7), 0.5, 2.0
    run = mf.ss_sgd(params, problem, key, alpha=alpha, t_end=t_end, n_records=2)

    def plain(p, seed_key):
        def step(p, k):
            x = jax.random.normal(jax.random.fold_in(seed_key, k), (problem.d,), p.w.dtype)

            def loss(q):
                return 0.5 * (mf.network(q, x, problem.sigma) - mf.target(problem, x)) ** 2
            return jax.tree.map(lambda a, g: a - alpha * g, p, jax.grad(loss)(p)), None
        return jax.lax.scan(step, p, jnp.arange(round(32 * t_end), dtype=jnp.int32))[0]

    by_hand = jax.jit(jax.vmap(plain))(params, jax.random.split(key, 3))
    for ours, theirs in zip(run.final, by_hand):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-6)
    assert float(jnp.max(jnp.abs(run.final.w - params.w))) > 1e-2  # the particles moved


def test_ss_sgd_records_times_k_over_n(setup):
    problem, params = setup
    run = mf.ss_sgd(params, problem, jax.random.key(0), alpha=1.0, t_end=4.0, every=16)
    np.testing.assert_allclose(run.times, [0, 1, 2, 3, 4])
    assert run.records["risk"][-1] < run.records["risk"][0]


def test_observe_records_a_pytree(setup):
    problem, params = setup
    x0 = jnp.ones(5, params.a.dtype) / jnp.sqrt(5.0)
    obs = lambda p: {"f": mf.network(p, x0, mf.erf), "a": p.a}  # noqa: E731
    run = mf.particle_flow(params, problem, dt=0.1, t_end=1.0, every=2, observe=obs)
    assert run.records["f"].shape == (6,) and run.records["a"].shape == (6, 16)
    np.testing.assert_allclose(run.records["a"][-1], run.final.a)


def _flow(params, problem, **kw):
    return mf.particle_flow(params, problem, **{"dt": 0.1, "t_end": 0.2, **kw})


@pytest.mark.parametrize("change, kw, match", [
    (lambda p: mf.Params(p.a[:3], p.w), {}, r"a: \(N,\) and w: \(N, d\)"),
    (lambda p: mf.Params(p.a, p.w[:, :4]), {}, "input dimension 4"),
    (lambda p: mf.Params(p.a[:0], p.w[:0]), {}, "N >= 1"),
    (lambda p: mf.Params(p.a.at[2].set(jnp.nan), p.w), {}, "non-finite"),
    (lambda p: p, {"dt": 0.0}, "dt must be finite and > 0"),
    (lambda p: p, {"dt": -0.1}, "dt must be finite and > 0"),
    (lambda p: p, {"dt": float("inf")}, "dt must be finite and > 0"),
    (lambda p: p, {"t_end": 0.25}, "whole number of steps"),
    (lambda p: p, {"every": 3}, "must divide"),
    (lambda p: p, {"scaling": "lazy"}, "scaling"),
])
def test_bad_input_gives_clear_errors(setup, change, kw, match):
    problem, params = setup
    with pytest.raises(ValueError, match=match):
        _flow(change(params), problem, **kw)


def test_bad_sgd_steps_and_teachers(setup):
    problem, params = setup
    with pytest.raises(ValueError, match="alpha"):
        mf.ss_sgd(params, problem, jax.random.key(0), alpha=0, t_end=1.0)
    with pytest.raises(ValueError, match="lr"):
        mf.online_sgd(params, problem, jax.random.key(0), lr=-1, t_end=1.0)
    bad = mf.Problem(mf.Params(jnp.asarray([jnp.inf]), jnp.ones((1, 5))), mf.erf, mf.erf)
    with pytest.raises(ValueError, match="non-finite"):
        _flow(params, bad)


def test_divergence_reports_the_step(x64):
    """ReLU units grow without bound under a far too large Euler step."""
    problem = mf.Problem(mf.Params(jnp.asarray([3.0], x64), jnp.eye(1, 3, dtype=x64)), mf.relu,
                         mf.relu)
    params = mf.init_params(jax.random.key(0), 8, 3, a_std=3.0)
    with pytest.raises(mf.DivergenceError, match=r"non-finite at step \d+ of 400, t = "):
        mf.particle_flow(params, problem, dt=20.0, t_end=8000.0, every=400)
    batch = mf.init_params(jax.random.key(0), 8, 3, seeds=2, a_std=3.0)
    with pytest.raises(mf.DivergenceError, match=r"seed \d of 2"):
        mf.particle_flow(batch, problem, dt=20.0, t_end=8000.0, every=400)
