"""Benchmark: one Euler step of the particle gradient flow (the exact erf-kernel velocity), against
today's peers and the machine's own rates, all measured in this run.

Prints, for each (d, N): nanoseconds per (i, j) pair and GFLOP/s of
  - mfutils: ``mf.velocity`` (analytic kernel-sum gradient, row blocks, fast arcsine),
  - autodiff: the previous implementation, ``jax.grad`` of the full N x N kernel sums (written here),
  - numpy: a hand-written float32 NumPy step (full N x N matrices, ``np.arcsin``),
and the ratio of mfutils' GFLOP/s to the machine's float32 matrix product (sgemm, through XLA) and
of its arcsine to XLA's. The flop count is that of the two matrix products a step needs, 4d per
pair (the cosines, and the slopes times the weights); elementwise work is not counted.
The peers store N x N matrices, so they run only up to ``--peer-max`` particles.
Then seed-batched flows (S networks of N particles, ten Euler steps): ns per pair with the seeds
batched by ``jax.vmap`` and run one after another (``lax.map``), and which mfutils picks.
Then, one subprocess per N, one step's wall time and peak memory: the process's resident set
(Linux VmHWM) on CPU, the device's peak allocation on an accelerator.

Usage: python benchmarks/velocity.py [--sizes 1024,4096,16384] [--memory 16384,32768,102400]
       [--dims 5,50] [--repeat 5] [--peer-max 16384] [--rows R]
       [--seeds 32x1024,64x1024,128x1024,256x256,1024x16]
"""
import argparse
import os
import re
import subprocess
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

import mfutils as mf
from mfutils.dynamics import StepArgs, _flow_step
from mfutils.loop import simulate
from mfutils.population import _rows_per_block, _seeds_in_turn
from mfutils.special import arcsin


def median_time(f, *args, repeat=5):
    """Median wall time of f(*args) after one warm-up call (compilation excluded)."""
    jax.block_until_ready(f(*args))
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(f(*args))
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def autodiff_velocity(params, problem):
    """The previous implementation: -N grad R through the full N x N kernel matrices."""
    def risk(p):
        n = p.a.shape[-1]
        k, k_star = problem.sigma.kernel(p.w, p.w), problem.sigma.kernel(p.w, problem.teacher.w)
        return 0.5 * (p.a @ k @ p.a / n**2 - 2.0 * p.a @ k_star @ problem.teacher.a / n)
    n = params.a.shape[-1]
    return jax.tree.map(lambda g: -n * g, jax.grad(risk)(params))


def numpy_step(a, w, b, u, dt):
    """The same Euler step in float32 NumPy, gradients written out (erf kernel)."""
    def sums(v, c):
        ru = np.sqrt(2.0 / (1.0 + 2.0 * (w * w).sum(1)), dtype=np.float32)
        rv = np.sqrt(2.0 / (1.0 + 2.0 * (v * v).sum(1)), dtype=np.float32)
        sv = v * rv[:, None]
        cos = (w * ru[:, None]) @ sv.T
        slope = (2.0 / np.pi) / np.sqrt((1.0 - cos) * (1.0 + cos)) * c
        g = ru[:, None] * (slope @ sv) - (ru**2 * (slope * cos).sum(1))[:, None] * w
        return np.float32(2.0 / np.pi) * np.arcsin(cos) @ c, g
    k, g = sums(w, a / len(a))
    k_star, g_star = sums(u, b)
    return a - dt * (k - k_star), w - dt * a[:, None] * (g - g_star)


def machine_rates(repeat):
    """float32 matrix product (GFLOP/s) and arcsine throughputs (G elements/s), through XLA."""
    x = jax.random.normal(jax.random.key(0), (2048, 2048))
    sgemm = 2 * 2048**3 / median_time(jax.jit(lambda x: x @ x), x, repeat=repeat) / 1e9
    z = jax.random.uniform(jax.random.key(1), (1 << 22,), minval=-1.0, maxval=1.0)
    fast = (1 << 22) / median_time(jax.jit(arcsin), z, repeat=repeat) / 1e9
    xla = (1 << 22) / median_time(jax.jit(jnp.arcsin), z, repeat=repeat) / 1e9
    return sgemm, fast, xla


def step_times(sizes, dims, repeat, peer_max, rows):
    sgemm, fast, xla = machine_rates(repeat)
    print(f"machine: {jax.devices()[0].device_kind}, {os.cpu_count()} CPUs seen; float32 sgemm "
          f"{sgemm:.1f} GFLOP/s; arcsine {fast:.3f} G/s (mfutils) vs {xla:.3f} G/s (XLA), "
          f"{fast / xla:.1f}x")
    print(f"{'d':>3} {'N':>6} | {'mfutils':>8} {'autodiff':>9} {'numpy':>8} ns/pair | "
          f"{'GFLOP/s':>8} {'of sgemm':>9} | {'speed-up':>8} {'vs numpy':>8}")
    step = jax.jit(lambda p, pr: jax.tree.map(lambda x, v: x + 0.1 * v, p,
                                              mf.velocity(p, pr, rows=rows)))
    peer = jax.jit(lambda p, pr: jax.tree.map(lambda x, v: x + 0.1 * v, p,
                                              autodiff_velocity(p, pr)))
    for d in dims:
        problem = mf.erf_testbed(d=d)
        b, u = (np.asarray(x, np.float32) for x in problem.teacher)
        for n in sizes:
            params = mf.init_params(jax.random.key(0), n, d)
            ns = {"mfutils": median_time(step, params, problem, repeat=repeat) / n**2 * 1e9,
                  "autodiff": np.nan, "numpy": np.nan}
            if n <= peer_max:
                ns["autodiff"] = median_time(peer, params, problem, repeat=repeat) / n**2 * 1e9
                a, w = (np.asarray(x) for x in params)
                start = time.perf_counter()
                numpy_step(a, w, b, u, np.float32(0.1))
                ns["numpy"] = (time.perf_counter() - start) / n**2 * 1e9
            gflops = 4 * d / ns["mfutils"]
            print(f"{d:>3} {n:>6} | {ns['mfutils']:>8.3f} {ns['autodiff']:>9.3f} {ns['numpy']:>8.2f}"
                  f"         | {gflops:>8.1f} {gflops / sgemm:>8.0%} | "
                  f"{ns['autodiff'] / ns['mfutils']:>7.1f}x {ns['numpy'] / ns['mfutils']:>7.1f}x",
                  flush=True)


def seed_batches(shapes, dims, repeat):
    """ns per pair of ten flow steps of S networks of N particles, seeds batched or in turn."""
    print(f"{'d':>3} {'N':>6} {'S':>6} | {'batched':>8} {'in turn':>8} ns/pair | mfutils runs")
    for d in dims:
        problem = mf.erf_testbed(d=d)
        args = StepArgs(problem, jnp.float32(0.1))
        for n, seeds in shapes:
            params = mf.init_params(jax.random.key(0), n, d, seeds=seeds)
            ns = {turn: median_time(_ten_steps, params, args, turn, repeat=repeat)
                  / (10 * seeds * n**2) * 1e9 for turn in (False, True)}
            picked = "in turn" if _seeds_in_turn(n, d) else "batched"
            print(f"{d:>3} {n:>6} {seeds:>6} | {ns[False]:>8.2f} {ns[True]:>8.2f}         | "
                  f"{picked}", flush=True)


def _ten_steps(params, args, turn):
    seeds, n, d = params.w.shape
    step = _flow_step("mean-field", rows=_rows_per_block(n, 1 if turn else seeds, d))
    return simulate(step, _no_records, params, args, n_steps=10, every=10, time_per_step=0.1,
                    seeds=seeds, seeds_in_turn=turn).final


def _no_records(state, args):
    return {}


def one_step(n, d, rows):
    """Child process: one compiled step at width n, then print its time and peak memory."""
    params = mf.init_params(jax.random.key(0), n, d)
    problem = mf.erf_testbed(d=d)
    v = jax.block_until_ready(mf.velocity(params, problem, rows=rows))   # compile, run once
    start = time.perf_counter()
    v = jax.block_until_ready(mf.velocity(params, problem, rows=rows))
    wall = time.perf_counter() - start
    assert all(bool(jnp.isfinite(x).all()) for x in v)
    if jax.default_backend() == "cpu":
        peak = int(re.search(r"VmHWM:\s+(\d+) kB", open("/proc/self/status").read())[1]) / 1024
    else:
        peak = jax.devices()[0].memory_stats()["peak_bytes_in_use"] / 2**20
    print(f"{wall:.3f} {peak:.0f}")


def memory(sizes, dims, rows):
    where = "resident" if jax.default_backend() == "cpu" else "device"
    print(f"{'d':>3} {'N':>7} | {'one step (s)':>12} {'ns/pair':>8} {'peak ' + where + ' (MB)':>17}")
    for d in dims:
        for n in sizes:
            out = subprocess.run([sys.executable, __file__, "--child", str(n), str(d), str(rows)],
                                 capture_output=True, text=True, check=True).stdout.split()
            wall, peak = float(out[0]), float(out[1])
            print(f"{d:>3} {n:>7} | {wall:>12.3f} {wall / n**2 * 1e9:>8.2f} {peak:>17.0f}",
                  flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ints = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    parser.add_argument("--sizes", type=ints, default=[1024, 4096, 16384])
    parser.add_argument("--memory", type=ints, default=[16384, 32768, 102400])
    parser.add_argument("--dims", type=ints, default=[5, 50])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--peer-max", type=int, default=16384)
    parser.add_argument("--rows", type=int, default=0, help="rows per block (default: mfutils')")
    parser.add_argument("--seeds", default="32x1024,64x1024,128x1024,256x256,1024x16",
                        type=lambda s: [tuple(map(int, x.split("x"))) for x in s.split(",") if x],
                        help="N x S of the seed-batched flows")
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        n, d, rows = args.child
        return one_step(n, d, rows or None)
    step_times(args.sizes, args.dims, args.repeat, args.peer_max, args.rows or None)
    seed_batches(args.seeds, args.dims, args.repeat)
    memory(args.memory, args.dims, args.rows)


if __name__ == "__main__":
    main()
