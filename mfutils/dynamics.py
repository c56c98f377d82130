"""Time stepping: the particle gradient flow (explicit Euler) and online SGD, both seed-batched.

One generic integrator drives both: ``jax.lax.scan`` over records, an inner scan over the
``every`` steps between records, and the index of the first step whose particles are non-finite,
so a diverging run raises :class:`DivergenceError` naming that step instead of returning NaNs.
A leading seed axis on the parameters (see :func:`mfutils.init_params`) runs S independent
networks at once through ``jax.vmap``.
"""
from __future__ import annotations

from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .network import Params, Problem, Scaling, network, target, time_scale
from .population import population_risk, velocity

__all__ = ["Trajectory", "DivergenceError", "particle_flow", "online_sgd", "ss_sgd"]


class Trajectory(NamedTuple):
    """The result of a run: ``params``, the final particles (with the seed axis, if any);
    ``times``, the (R + 1,) mean-field times of the records, starting at t = 0; ``observables``,
    the recorded ``observe(params)`` pytree, each leaf with a leading (R + 1,) axis (after the
    seed axis for seed-batched runs).
    """

    params: Params
    times: jax.Array
    observables: Any


class DivergenceError(FloatingPointError):
    """A run produced non-finite particles; the message names the step, time and seed."""


def _flow_step(params, problem, key, k, lr, scaling):
    """Explicit Euler: theta_i <- theta_i + lr * v_i, v_i = -grad V_{mu^N}(theta_i) (mean-field)."""
    return jax.tree.map(lambda p, v: p + lr * v, params, velocity(params, problem, scaling))


def _sgd_step(params, problem, key, k, lr, scaling):
    """One fresh sample x_k ~ N(0, I_d): theta_i <- theta_i - lr * time_scale * grad_i loss."""
    x = jax.random.normal(jax.random.fold_in(key, k), (problem.d,), params.w.dtype)
    y = target(problem, x)
    grad = jax.grad(lambda p: 0.5 * (network(p, x, problem.sigma, scaling) - y) ** 2)(params)
    c = lr * time_scale(params.a.shape[-1], scaling)
    return jax.tree.map(lambda p, g: p - c * g, params, grad)


@partial(jax.jit, static_argnames=("step", "scaling", "n_steps", "every", "observe", "batched"))
def _simulate(params, problem, key, lr, *, step, scaling, n_steps, every, observe, batched):
    def observe_(p):
        return population_risk(p, problem, scaling) if observe is None else observe(p)

    def run(params, key):
        def inner(carry, k):
            p, bad = carry
            p = step(p, problem, key, k, lr, scaling)
            finite = jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in jax.tree.leaves(p)]))
            return (p, jnp.where((bad < 0) & ~finite, (k + 1).astype(bad.dtype), bad)), None

        def outer(carry, r):
            carry, _ = jax.lax.scan(inner, carry, r * every + jnp.arange(every))
            return carry, observe_(carry[0])

        (p, bad), records = jax.lax.scan(outer, (params, jnp.int32(-1)),
                                         jnp.arange(n_steps // every))
        first = observe_(params)
        records = jax.tree.map(lambda r0, r: jnp.concatenate([r0[None], r]), first, records)
        return p, records, bad

    return jax.vmap(run)(params, key) if batched else run(params, key)


def _checked_seeds(params, problem) -> int | None:
    """Validate the teacher and the particles; return the seed count (None if unbatched)."""
    _checks.params_shape(problem.teacher)
    return _checks.params_shape(params, problem.d)[0]


def _integrate(state, problem, key, *, seeds, lr, time_per_step, step, scaling, n_steps, every,
               observe):
    """Check the schedule, run `step` from `state` (vmapped over `seeds` unless None), and raise
    DivergenceError on non-finite particles. Returns (final state, record times, records)."""
    n_steps, every = _checks.schedule(n_steps, every)
    if observe is not None and not callable(observe):
        raise ValueError("observe must be a function of the state (or None for the risk)")
    if seeds is not None:
        key = jax.random.split(key, seeds)
    final, records, bad = _simulate(state, problem, key, lr, step=step, scaling=scaling,
                                    n_steps=n_steps, every=every, observe=observe,
                                    batched=seeds is not None)
    if _checks.is_concrete(bad):
        bad = np.atleast_1d(np.asarray(bad))
        if (bad >= 0).any():
            seed = int(np.argmax(bad >= 0))
            k = int(bad[seed])
            where = f" (seed {seed} of {len(bad)}, {int((bad >= 0).sum())} diverged)" if seeds else ""
            raise DivergenceError(
                f"the run became non-finite at step {k} of {n_steps}, t = {k * time_per_step:.4g}"
                f"{where}: reduce the step size")
    return final, jnp.arange(n_steps // every + 1) * (every * time_per_step), records


def particle_flow(params: Params, problem: Problem, *, dt: float, n_steps: int,
                  scaling: Scaling = "mean-field", observe: Callable | None = None,
                  every: int = 1) -> Trajectory:
    """The particle gradient flow d theta_i/dt = -time_scale(N) grad_{theta_i} R, by explicit Euler.

    In the mean-field scaling this is d theta_i/dt = -grad V_{mu^N_t}(theta_i), on the exact
    population risk (no sampling: the randomness is the initial draw alone).

    Args:
      params: a (N,), w (N, d), or seed-batched (S, N), (S, N, d).
      problem: the teacher and activations.
      dt: Euler step (> 0); the run covers t in [0, n_steps * dt].
      observe: ``params -> pytree`` recorded every ``every`` steps and at t = 0 (default: the
        population risk). Pass the same function object across calls to reuse the compilation.
    Returns:
      a :class:`Trajectory`.

    Raises:
      DivergenceError: if the particles become non-finite (the message names the step).
      ValueError: for bad shapes, a non-positive step or non-finite parameters.
    """
    dt = _checks.positive("dt", dt)
    return Trajectory(*_integrate(params, problem, jax.random.key(0),
                                  seeds=_checked_seeds(params, problem), lr=dt, time_per_step=dt,
                                  step=_flow_step, scaling=scaling, n_steps=n_steps, every=every,
                                  observe=observe))


def online_sgd(params: Params, problem: Problem, key, *, lr: float, n_steps: int,
               scaling: Scaling = "mean-field", observe: Callable | None = None,
               every: int = 1) -> Trajectory:
    """Online SGD with a fixed step: one fresh sample (x_k, f*(x_k)) per step,

        theta_i <- theta_i - lr * time_scale(N) grad_{theta_i} 1/2 (f_N(x_k) - y_k)^2,

    i.e. lr times the single-sample estimate of the mean-field velocity. Times are k * lr, so
    small lr tracks :func:`particle_flow` at the same t (Mei-Montanari-Nguyen's fixed step eps).
    ``key`` seeds the samples (split per seed for seed-batched params).
    """
    lr = _checks.positive("lr", lr)
    return Trajectory(*_integrate(params, problem, key, seeds=_checked_seeds(params, problem),
                                  lr=lr, time_per_step=lr, step=_sgd_step, scaling=scaling,
                                  n_steps=n_steps, observe=observe, every=every))


def ss_sgd(params: Params, problem: Problem, key, *, alpha: float, n_steps: int,
           observe: Callable | None = None, every: int = 1) -> Trajectory:
    """Sirignano-Spiliopoulos online SGD: mean-field scaling, step alpha/N, one sample per step.

    Records are at the times t = k/N; as N -> infinity the particles follow the gradient flow
    run at rate alpha (for alpha = 1, :func:`particle_flow` at the same t).
    """
    alpha = _checks.positive("alpha", alpha)
    seeds = _checked_seeds(params, problem)
    n = params.a.shape[-1]
    return Trajectory(*_integrate(params, problem, key, seeds=seeds, lr=alpha / n,
                                  time_per_step=1.0 / n, step=_sgd_step, scaling="mean-field",
                                  n_steps=n_steps, observe=observe, every=every))
