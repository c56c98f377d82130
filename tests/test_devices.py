"""Several devices give the results of one (bit for bit, or to float32 rounding): the seed axis
split across devices (every seed-batched runner) and the velocity's rows split across devices
with an all-gather. Run in a subprocess with two CPU devices (XLA_FLAGS must be set before JAX
starts)."""
import os
import pathlib
import subprocess
import sys
import textwrap

ROOT = pathlib.Path(__file__).resolve().parent.parent

SCRIPT = textwrap.dedent("""
    import jax, jax.numpy as jnp, numpy as np
    import mfutils as mf

    assert jax.device_count() == 2, jax.devices()

    def devices(tree):
        return {len(x.sharding.device_set) for x in jax.tree.leaves(tree)}

    def same(a, b, exact=False):
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            if exact:
                np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
            else:
                np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)

    problem = mf.erf_testbed(d=5)
    params = mf.init_params(jax.random.key(0), 64, 5, seeds=4)
    key = jax.random.key(1)
    runs = {
        "particle_flow": lambda **kw: mf.particle_flow(params, problem, dt=0.1, t_end=1.0,
                                                        every=5, **kw),
        "particle_flow_in_turn": lambda **kw: mf.particle_flow(  # N^2 d >= 2^15: seeds in turn
            mf.init_params(jax.random.key(4), 128, 5, seeds=4), problem, dt=0.1, t_end=1.0,
            every=5, **kw),
        "online_sgd": lambda **kw: mf.online_sgd(params, problem, key, lr=0.01, t_end=0.5,
                                                  every=10, **kw),
        "ss_sgd": lambda **kw: mf.ss_sgd(params, problem, key, alpha=1.0, t_end=0.5, every=8,
                                          **kw),
        "synchronous_coupling": lambda **kw: mf.synchronous_coupling(
            params, mf.init_params(jax.random.key(2), 256, 5, seeds=4), problem, dt=0.1,
            t_end=1.0, every=5, **kw),
        "sgd_escape": lambda **kw: mf.sgd_escape(key, mf.hermite(3), 64, 0.01, 2000, seeds=8,
                                                  every=100, **kw),
    }
    for name, run in runs.items():
        split, alone = run(), run(shard_seeds=False)
        assert devices(split.final) == {2} and devices(alone.final) == {1}, name
        # the same arithmetic per seed, bit for bit (the coupling's matrix products to rounding)
        same(split, alone, exact=name != "synchronous_coupling")
        print(name, "ok")

    # three seeds do not divide over two devices: one device, no error
    three = mf.particle_flow(jax.tree.map(lambda x: x[:3], params), problem, dt=0.1, t_end=0.5)
    assert devices(three.final) == {1}

    # rows across devices: 1000 particles (blocks of 16 rows, a padded last block per device)
    big = mf.init_params(jax.random.key(3), 1000, 5)
    for scaling in ("mean-field", "ntk"):
        same(mf.velocity(big, problem, scaling, split_rows=True, rows=16),
             mf.velocity(big, problem, scaling, rows=16))
    flow = mf.particle_flow(big, problem, dt=0.1, t_end=0.5, every=5, split_rows=True)
    same(flow, mf.particle_flow(big, problem, dt=0.1, t_end=0.5, every=5))
    try:
        mf.velocity(mf.init_params(jax.random.key(3), 999, 5), problem, split_rows=True)
    except ValueError as e:
        assert "multiple of the 2 devices" in str(e)
    else:
        raise AssertionError("odd N split over two devices")
    print("rows ok")
""")


def test_two_devices_give_the_results_of_one():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2",
               JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.split() == ["particle_flow", "ok", "particle_flow_in_turn", "ok",
                                   "online_sgd", "ok", "ss_sgd", "ok",
                                   "synchronous_coupling", "ok", "sgd_escape", "ok", "rows", "ok"]
