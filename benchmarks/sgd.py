"""Benchmark: online SGD steps per second (``mf.ss_sgd``, the Sirignano-Spiliopoulos step alpha/N),
seed-batched, against a peer that draws each step's sample inside the scan (one ``fold_in`` and
one ``normal`` per step, the way a loop is first written), in the same run.

Usage: python benchmarks/sgd.py [--n 1024] [--d 50] [--seeds 16] [--t-end 2] [--repeat 3]
"""
import argparse
import time

import jax
import numpy as np

import mfutils as mf
from mfutils.dynamics import StepArgs, _sample, _sgd_step
from mfutils.loop import simulate


def _inline_step(params, k, xi, args):
    """The SGD step with its sample drawn inside the scan, keyed by the step."""
    key = jax.random.fold_in(params[1], k)
    return _sgd_step("mean-field")(params[0], k, _sample(key, args), args), params[1]


def _no_records(state, args):
    return {}


def inline_sgd(params, problem, key, alpha, n_steps, seeds):
    """ss_sgd's steps with per-step draws inside the scan; no records."""
    keys = jax.random.split(key, seeds)
    lr = np.asarray(alpha / params.a.shape[-1], params.a.dtype)
    return simulate(_inline_step, _no_records, (params, keys), StepArgs(problem, lr),
                    n_steps=n_steps, every=n_steps, time_per_step=1.0, seeds=seeds).final[0]


def median_time(f, repeat):
    jax.block_until_ready(f())
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        jax.block_until_ready(f())
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--t-end", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    problem = mf.erf_testbed(d=args.d)
    params = mf.init_params(jax.random.key(0), args.n, args.d, seeds=args.seeds)
    key = jax.random.key(1)
    n_steps = round(args.n * args.t_end)
    ours = median_time(lambda: mf.ss_sgd(params, problem, key, alpha=1.0, t_end=args.t_end,
                                         n_records=1).final, args.repeat)
    peer = median_time(lambda: inline_sgd(params, problem, key, 1.0, n_steps, args.seeds),
                       args.repeat)
    print(f"ss_sgd, N = {args.n}, d = {args.d}, {args.seeds} seeds, {n_steps} steps")
    print(f"{'':<28} {'us/step':>8} {'steps/s':>8}")
    for name, t in (("mfutils (block draws)", ours), ("per-step draws in the scan", peer)):
        print(f"{name:<28} {t / n_steps * 1e6:>8.0f} {n_steps / t:>8.0f}")
    print(f"speed-up: {peer / ours:.1f}x")


if __name__ == "__main__":
    main()
