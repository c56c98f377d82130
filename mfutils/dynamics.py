"""Time stepping of the two-layer network: the particle gradient flow (explicit Euler) and online
SGD, seed-batched, each a step and an observable on :func:`mfutils.loop.simulate`.

A leading seed axis on the parameters (see :func:`mfutils.init_params`) runs S independent
networks in one call: batched through ``jax.vmap``, or, for flows whose per-seed step is a large
matrix computation (N^2 d >= 2^15), one seed after another (faster on CPU; the same results).
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp

from . import _checks
from .loop import Run, observer, simulate
from .network import Params, Problem, Scaling, network, target, time_scale
from .population import _check_split, _rows_per_block, _seeds_in_turn, _velocity, population_risk

__all__ = ["particle_flow", "online_sgd", "ss_sgd"]


class StepArgs(NamedTuple):
    """What a step of the two-layer model reads: the problem and the step size (dt or lr, in
    the particles' dtype). Shared by the runners of dynamics, chaos and fluctuations."""

    problem: Problem
    dt: jax.Array


@functools.cache
def _flow_step(scaling, split_rows=False, rows=None):
    def step(params, k, xi, args):
        """Explicit Euler: theta_i <- theta_i + dt v_i, v_i = -grad V_{mu^N}(theta_i) (mean-field)."""
        v = _velocity(params, args.problem, scaling, rows, split_rows)
        return jax.tree.map(lambda p, v: p + args.dt * v, params, v)
    return step


@functools.cache
def _sgd_step(scaling):
    def step(params, k, x, args):
        """One fresh sample x: theta_i <- theta_i - lr * time_scale * grad_i 1/2 (f_N(x) - y)^2."""
        y = target(args.problem, x)
        grad = jax.grad(lambda p: 0.5 * (network(p, x, args.problem.sigma, scaling) - y) ** 2)(params)
        c = args.dt * time_scale(params.a.shape[-1], scaling)
        return jax.tree.map(lambda p, g: p - c * g, params, grad)
    return step


def _sample(key, args):
    """x ~ N(0, I_d), one step's sample."""
    return jax.random.normal(key, (args.problem.d,), args.dt.dtype)


@functools.cache
def _risk(scaling):
    def observe(params, args):
        return {"risk": population_risk(params, args.problem, scaling)}
    return observe


def _run(params, problem, key, *, lr, time_per_step, t_end, every, n_records, step, noise,
         scaling, observe, shard_seeds, seeds_in_turn=False):
    _checks.scaling(scaling)
    seeds = _checks.problem_seeds(params, problem)
    n_steps, every = _checks.schedule(t_end, time_per_step, every, n_records)
    return simulate(step(scaling), _risk(scaling) if observe is None else observer(observe),
                    params, StepArgs(problem, jnp.asarray(lr, params.a.dtype)), key,
                    n_steps=n_steps, every=every, time_per_step=time_per_step, seeds=seeds,
                    noise=noise, shard_seeds=shard_seeds, seeds_in_turn=seeds_in_turn)


def particle_flow(params: Params, problem: Problem, *, dt: float, t_end: float,
                  scaling: Scaling = "mean-field", observe: Callable | None = None,
                  every: int | None = None, n_records: int | None = None,
                  shard_seeds: bool = True, split_rows: bool = False) -> Run:
    """The particle gradient flow d theta_i/dt = -time_scale(N) grad_{theta_i} R, by explicit Euler.

    In the mean-field scaling this is d theta_i/dt = -grad V_{mu^N_t}(theta_i), on the exact
    population risk (no sampling: the randomness is the initial draw alone).

    Args:
      params: a (N,), w (N, d), or seed-batched (S, N), (S, N, d).
      problem: the teacher and activations.
      dt: Euler step (> 0); t_end: the horizon, a whole number of steps.
      observe: ``params -> dict`` recorded at t = 0 and every ``every`` steps (default:
        ``{"risk": R(mu^N)}``). Pass the same function across calls to reuse the compilation.
      every, n_records: the record interval in steps, or the number of records (default about 200).
      shard_seeds: split the seeds across several devices where there are (see
        :func:`mfutils.loop.simulate`); False keeps the run on one.
      split_rows: for one large network on several devices: each step, each device computes the
        velocity of its share of the particles after gathering them all (see
        :func:`mfutils.velocity`); N must be a multiple of the number of devices. The seeds, if
        any, then stay on one device.
    Returns:
      a :class:`~mfutils.Run` whose ``final`` is the particles at t_end.

    Raises:
      DivergenceError: if the particles become non-finite (the message names the step).
      ValueError: for bad shapes, a non-positive step or non-finite parameters.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> run = mf.particle_flow(mf.init_params(jax.random.key(0), 64, 5), problem,
      ...                        dt=0.1, t_end=2.0, every=10)
      >>> run.times.tolist(), bool(run.records["risk"][-1] < run.records["risk"][0])
      ([0.0, 1.0, 2.0], True)
    """
    dt = _checks.positive("dt", dt)
    n, seeds = params.a.shape[-1], _checks.problem_seeds(params, problem)
    if split_rows:
        _check_split(n)
    in_turn = _seeds_in_turn(n, problem.d)
    rows = _rows_per_block(n, 1 if in_turn else seeds or 1, problem.d)
    return _run(params, problem, None, lr=dt, time_per_step=dt, t_end=t_end, every=every,
                n_records=n_records, step=lambda scaling: _flow_step(scaling, split_rows, rows),
                noise=None, scaling=scaling, observe=observe,
                shard_seeds=shard_seeds and not split_rows, seeds_in_turn=in_turn)


def online_sgd(params: Params, problem: Problem, key, *, lr: float, t_end: float,
               scaling: Scaling = "mean-field", observe: Callable | None = None,
               every: int | None = None, n_records: int | None = None,
               shard_seeds: bool = True) -> Run:
    """Online SGD with a fixed step: one fresh sample (x_k, f*(x_k)) per step,

        theta_i <- theta_i - lr * time_scale(N) grad_{theta_i} 1/2 (f_N(x_k) - y_k)^2,

    i.e. lr times the single-sample estimate of the mean-field velocity. Step k is at time
    k * lr, so small lr tracks :func:`particle_flow` at the same t (Mei-Montanari-Nguyen's fixed
    step eps); the run takes t_end / lr steps. ``key`` seeds the samples (see
    the key policy of :func:`mfutils.loop.simulate`). Other arguments as in :func:`particle_flow`.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> params = mf.init_params(jax.random.key(0), 32, 5, seeds=4)
      >>> run = mf.online_sgd(params, problem, jax.random.key(1), lr=0.01, t_end=1.0, n_records=4)
      >>> run.records["risk"].shape
      (4, 5)
    """
    lr = _checks.positive("lr", lr)
    return _run(params, problem, key, lr=lr, time_per_step=lr, t_end=t_end, every=every,
                n_records=n_records, step=_sgd_step, noise=_sample, scaling=scaling,
                observe=observe, shard_seeds=shard_seeds)


def ss_sgd(params: Params, problem: Problem, key, *, alpha: float, t_end: float,
           observe: Callable | None = None, every: int | None = None,
           n_records: int | None = None, shard_seeds: bool = True) -> Run:
    """Sirignano-Spiliopoulos online SGD: mean-field scaling, step alpha/N, one sample per step.

    Step k is at time t = k/N (the run takes N t_end steps); as N -> infinity the particles
    follow the gradient flow run at rate alpha (for alpha = 1, :func:`particle_flow` at the same
    t). Other arguments as in :func:`online_sgd`.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> run = mf.ss_sgd(mf.init_params(jax.random.key(0), 16, 5), problem, jax.random.key(1),
      ...                 alpha=1.0, t_end=4.0, n_records=4)
      >>> run.times.tolist()
      [0.0, 1.0, 2.0, 3.0, 4.0]
    """
    alpha = _checks.positive("alpha", alpha)
    n = _checks.params_shape(params)[1]
    return _run(params, problem, key, lr=alpha / n, time_per_step=1.0 / n, t_end=t_end,
                every=every, n_records=n_records, step=_sgd_step, noise=_sample,
                scaling="mean-field", observe=observe, shard_seeds=shard_seeds)
