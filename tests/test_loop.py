"""The one time loop (mfutils.loop) and the schedule it runs on."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf
from mfutils import _checks
from mfutils.dynamics import StepArgs, _flow_step, _risk, _sample, _sgd_step
from mfutils.loop import _scan, observer, simulate


def _grow(x, k, xi, args):
    return x * args + xi


def _value(x, args):
    return {"x": x}


def _noise(key, args):
    return jax.random.normal(key, (), args.dtype)


def _step_k(x, k, xi, args):
    return x + k.astype(x.dtype)


def test_records_times_and_both_precisions(x64):
    run = simulate(_step_k, _value, jnp.zeros((), x64), jnp.ones((), x64), n_steps=6, every=2,
                   time_per_step=0.5)
    np.testing.assert_allclose(run.times, [0, 1, 2, 3])
    np.testing.assert_allclose(run.records["x"], [0, 1, 6, 15])  # sums of 0..k-1
    assert run.final.dtype == x64 and run.records["x"].dtype == x64


def test_randomness_does_not_depend_on_the_record_interval(x64):
    one = jnp.ones((), x64)
    runs = [simulate(_grow, _value, jnp.zeros(4, x64), one, jax.random.key(3), n_steps=12,
                     every=every, time_per_step=1.0, noise=_noise, seeds=None) for every in (1, 3, 12)]
    for run in runs[1:]:
        np.testing.assert_array_equal(run.final, runs[0].final)
    np.testing.assert_array_equal(runs[1].records["x"][-1], runs[0].records["x"][-1])


def test_seeds_are_split_keys_and_match_separate_runs(x64):
    one = jnp.ones((), x64)
    batch = simulate(_grow, _value, jnp.zeros((3,), x64), one, jax.random.key(1), n_steps=5,
                     every=5, time_per_step=1.0, noise=_noise, seeds=3)
    keys = jax.random.split(jax.random.key(1), 3)
    for s in range(3):
        alone = simulate(_grow, _value, jnp.zeros((), x64), one, keys[s], n_steps=5, every=5,
                         time_per_step=1.0, noise=_noise)
        np.testing.assert_array_equal(batch.final[s], alone.final)


def test_seeds_in_turn_give_the_batched_results(x64):
    """Seeds one after another (lax.map) or batched (vmap): the same draws and the same runs, to
    the rounding of the matrix products; a divergence names the same seed."""
    one = jnp.ones((), x64)
    kw = dict(n_steps=6, every=3, time_per_step=1.0, noise=_noise, seeds=4)
    batched, in_turn = (simulate(_grow, _value, jnp.zeros((4,), x64), one, jax.random.key(2),
                                 seeds_in_turn=turn, **kw) for turn in (False, True))
    np.testing.assert_array_equal(in_turn.final, batched.final)
    np.testing.assert_array_equal(in_turn.records["x"], batched.records["x"])
    problem = mf.erf_testbed(d=5)
    params = mf.init_params(jax.random.key(0), 128, 5, seeds=3, dtype=x64)
    args = StepArgs(problem, jnp.asarray(0.1, x64))
    flows = [simulate(_flow_step("mean-field"), _risk("mean-field"), params, args, n_steps=10,
                      every=5, time_per_step=0.1, seeds=3, seeds_in_turn=turn) for turn in (False, True)]
    tol = 1e-12 if x64 == jnp.float64 else 2e-6
    for x, y in zip(jax.tree.leaves(flows[0]), jax.tree.leaves(flows[1])):
        np.testing.assert_allclose(y, x, rtol=tol, atol=tol)
    with pytest.raises(mf.DivergenceError, match=r"seed 1 of 2, 1 diverged"):
        simulate(lambda x, k, xi, a: x / (x - 1), _value, jnp.array([3.0, 1.0], x64), None,
                 n_steps=2, every=1, time_per_step=1.0, seeds=2, seeds_in_turn=True)


def test_divergence_names_the_first_non_finite_step(x64):
    """The step counter is int32 in both precisions (it once broke under x64)."""
    with pytest.raises(mf.DivergenceError, match=r"non-finite at step 3 of 8, t = 0.75"):
        simulate(lambda x, k, xi, a: jnp.where(k >= 2, jnp.inf, x), _value, jnp.ones((), x64),
                 None, n_steps=8, every=4, time_per_step=0.25)
    with pytest.raises(mf.DivergenceError, match=r"seed 1 of 2, 1 diverged"):
        simulate(lambda x, k, xi, a: x / (x - 1), _value, jnp.array([3.0, 1.0], x64), None,
                 n_steps=2, every=1, time_per_step=1.0, seeds=2)


def test_checking_once_per_record_interval_changes_nothing_but_speed():
    """Online SGD with the finiteness check once per record interval (the default) gives the run
    of the check after every step, bit for bit: same draws, same states, same records."""
    problem = mf.erf_testbed(d=5)
    params = mf.init_params(jax.random.key(0), 32, 5, seeds=3)
    args = StepArgs(problem, jnp.asarray(0.01, params.a.dtype))
    keys = jax.random.split(jax.random.key(1), 3)
    kw = dict(step=_sgd_step("mean-field"), observe=_risk("mean-field"), noise=_sample,
              n_steps=60, every=20, batched=True)
    fast, checked = _scan(params, args, keys, **kw), _scan(params, args, keys, each_step=True, **kw)
    for x, y in zip(jax.tree.leaves(fast[:2]), jax.tree.leaves(checked[:2])):
        np.testing.assert_array_equal(x, y)
    assert np.all(np.asarray(fast[2]) == -1) and np.all(np.asarray(checked[2]) == -1)


def test_the_same_observe_function_compiles_once():
    problem = mf.erf_testbed(d=3)
    params = mf.init_params(jax.random.key(0), 8, 3)

    def observe(p):
        return {"a": p.a}

    mf.particle_flow(params, problem, dt=0.1, t_end=0.5, observe=observe)
    before = _scan._cache_size()
    mf.particle_flow(params, problem, dt=0.2, t_end=1.0, observe=observe)  # other dt: traced
    mf.particle_flow(params, problem, dt=0.1, t_end=0.5)
    after = _scan._cache_size()
    mf.particle_flow(params, problem, dt=0.1, t_end=0.5)
    assert after - before == 1 and _scan._cache_size() == after
    assert observer(observe) is observer(observe)


def test_observe_must_return_a_dict():
    problem = mf.erf_testbed(d=3)
    with pytest.raises(TypeError, match="dict of named records"):
        mf.particle_flow(mf.init_params(jax.random.key(0), 4, 3), problem, dt=0.1, t_end=0.2,
                         observe=lambda p: p.a)
    with pytest.raises(ValueError, match="needs a PRNG key"):
        simulate(_grow, _value, jnp.zeros(()), 1.0, n_steps=1, every=1, time_per_step=1.0,
                 noise=_noise)


@pytest.mark.parametrize("t_end, dt, every, n_records, expected", [
    (0.3, 0.1, None, None, (3, 1)),          # int(0.3 / 0.1) == 2: rounded, not truncated
    (5.0, 0.1, 5, None, (50, 5)),
    (2.0, 1 / 512, None, 4, (1024, 256)),
    (1000.0, 1.0, None, None, (1000, 5)),    # about 200 records by default
    (401.0, 1.0, None, None, (401, 1)),      # 401 is prime: every divisor-free default is 1
])
def test_schedule(t_end, dt, every, n_records, expected):
    assert _checks.schedule(t_end, dt, every, n_records) == expected


@pytest.mark.parametrize("args, match", [
    ((1.0, 0.3, None, None), "not a whole number of steps"),
    ((1.0, 0.1, 3, None), "every = 3 must divide the 10 steps"),
    ((1.0, 0.1, None, 3), "n_records = 3 must divide"),
    ((1.0, 0.1, 2, 5), "not both"),
    ((0.0, 0.1, None, None), "t_end must be finite and > 0"),
    ((1.0, float("nan"), None, None), "dt must be finite and > 0"),
    ((1.0, 0.1, 0, None), "every must be an integer >= 1"),
])
def test_schedule_errors(args, match):
    with pytest.raises(ValueError, match=match):
        _checks.schedule(*args)
