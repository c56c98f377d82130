"""Benchmark: online SGD steps per second (``mf.ss_sgd``, the Sirignano-Spiliopoulos step alpha/N),
seed-batched, against two peers run in the same process on the same loop:

  - "checked every step": the loop as it was, checking the state's finiteness after every step
    (mfutils checks once per record interval and reruns only a diverged run to name its step);
  - "draws in the scan": the same, with each step's sample drawn inside the scan by ``fold_in``
    and ``normal`` (the way such a loop is first written; mfutils draws a record interval's
    samples at once).

All three run with no records, so the table compares steps; the cost of ``ss_sgd``'s default
records (the population risk at t = 0 and t_end, an N x N kernel sum per seed) is printed below
it, per record and per step of this run.

Usage: python benchmarks/sgd.py [--n 1024] [--d 50] [--seeds 16] [--t-end 2] [--repeat 5]
"""
import argparse
import time

import jax
import numpy as np

import mfutils as mf
from mfutils.dynamics import StepArgs, _sample, _sgd_step
from mfutils.loop import _scan, observer


def _inline_step(state, k, xi, args):
    """The SGD step with its sample drawn inside the scan, keyed by the step."""
    params, key = state
    return _sgd_step("mean-field")(params, k, _sample(jax.random.fold_in(key, k), args), args), key


def _no_records(params):
    return {}


def peers(params, problem, key, n_steps, seeds):
    """The two peers: (checked every step, draws in the scan), as functions of nothing."""
    keys = jax.random.split(key, seeds)
    args = StepArgs(problem, np.asarray(1.0 / params.a.shape[-1], params.a.dtype))
    kw = dict(observe=observer(_no_records), n_steps=n_steps, every=n_steps, batched=True, each_step=True)
    checked = lambda: _scan(params, args, keys, step=_sgd_step("mean-field"),  # noqa: E731
                            noise=_sample, **kw)[0]
    inline = lambda: _scan((params, keys), args, keys, step=_inline_step,  # noqa: E731
                           noise=None, **kw)[0]
    return checked, inline


def median_times(fns, repeat):
    """Median wall time of each function, timed in turn (round robin) so that the machine's
    drift from minute to minute falls on all of them alike."""
    for f in fns.values():
        jax.block_until_ready(f())
    times = {name: [] for name in fns}
    for _ in range(repeat):
        for name, f in fns.items():
            start = time.perf_counter()
            jax.block_until_ready(f())
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--d", type=int, default=50)
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--t-end", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    problem = mf.erf_testbed(d=args.d)
    params = mf.init_params(jax.random.key(0), args.n, args.d, seeds=args.seeds)
    key = jax.random.key(1)
    n_steps = round(args.n * args.t_end)
    checked, inline = peers(params, problem, key, n_steps, args.seeds)
    run = lambda observe=None: mf.ss_sgd(params, problem, key, alpha=1.0,  # noqa: E731
                                         t_end=args.t_end, n_records=1, observe=observe).final
    times = median_times({
        "mfutils": lambda: run(_no_records),
        "checked every step": checked,
        "draws in the scan": inline,
        "recorded": run,
    }, args.repeat)
    recorded = times.pop("recorded")
    print(f"ss_sgd, N = {args.n}, d = {args.d}, {args.seeds} seeds, {n_steps} steps")
    print(f"{'':<20} {'us/step':>8} {'steps/s':>8} {'mfutils is':>11}")
    for name, t in times.items():
        print(f"{name:<20} {t / n_steps * 1e6:>8.0f} {n_steps / t:>8.0f} "
              f"{t / times['mfutils']:>10.1f}x")
    print(f"speed-up: {times['draws in the scan'] / times['mfutils']:.1f}x")
    print(f"with the default risk records (t = 0 and t_end): {recorded / n_steps * 1e6:.0f} us/step, "
          f"{(recorded - times['mfutils']) / 2 * 1e3:.0f} ms per record")


if __name__ == "__main__":
    main()
