"""Fluctuations around the mean-field limit: the influence function of the flow.

The particle flow from mu^N_0 is the limit equation started at mu^N_0, so the output at time t is
a functional of the initial measure, f_N(x0, t) = F_t(mu^N_0). Its first variation
Phi_t(theta; x0) = dF_t/dmu_0 (theta) is the *influence function*; the delta method predicts

    sqrt(N) (f_N(x0, t) - f_MF(x0, t))  ->  N(0, Var_{theta ~ mu_0} Phi_t(theta; x0)).

For a reference measure mu = sum_j omega_j delta_{theta_j}, Phi_t(theta_j) = d f(x0, t) / d omega_j: the
derivative of the flow's output with respect to the particle *weights*, computed by reverse-mode
differentiation through the time loop, with ``jax.checkpoint`` on the step so that memory grows
with the number of steps only by one particle state per step.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from . import _checks
from .dynamics import StepArgs
from .loop import DivergenceError, Run, simulate
from .network import Params, Problem
from .population import velocity_field
from .stats import Estimate

__all__ = ["influence_function", "influence_variance"]


class _Weighted(NamedTuple):
    """The flow's state: particles, their weights omega (constant) and the probe inputs x0 (constant)."""

    params: Params
    weights: jax.Array
    x0: jax.Array


@jax.checkpoint
def _weighted_step(state, k, xi, args):
    """Euler step in the field of the weighted measure (every particle, whatever its weight)."""
    move = velocity_field(state.params, state.params, args.problem, state.weights)
    return state._replace(params=jax.tree.map(lambda p, v: p + args.dt * v, state.params, move))


def _probe(state, args):
    """f_mu(x0_p) = sum_j omega_j a_j sigma(w_j . x0_p) for the P probe inputs: shape (P,)."""
    return {"f": args.problem.sigma(state.x0 @ state.params.w.T)
            @ (state.weights * state.params.a)}


def _outputs(weights, reference, x0, problem, dt, n_steps, every):
    """f(x0_p, t) at the record times, shape (R + 1, P), as a function of the weights omega; with the
    run again as auxiliary output (for ``jax.jacrev(..., has_aux=True)``)."""
    run = simulate(_weighted_step, _probe, _Weighted(reference, weights, x0), StepArgs(problem, dt),
                   n_steps=n_steps, every=every, time_per_step=dt)
    return run.records["f"], run


@partial(jax.jit, static_argnames=("n_steps", "every"))
def _influence(reference, x0, problem, dt, n_steps, every):
    def one(ref):
        m = jnp.full(ref.a.shape, 1.0 / ref.a.shape[-1], ref.a.dtype)
        f = partial(_outputs, reference=ref, x0=x0, problem=problem, dt=dt, n_steps=n_steps,
                    every=every)
        values, run = jax.jacrev(f, has_aux=True)(m)
        return run.final.params, run.times, run.records["f"], values

    if reference.a.ndim == 1:
        return one(reference)
    # one reference at a time: the memory of one, whatever J
    final, times, outputs, values = jax.lax.map(one, reference)
    return final, times[0], outputs, values  # the same record times for every reference


def influence_function(reference: Params, problem: Problem, x0, *, dt: float, t_end: float,
                       every: int | None = None, n_records: int | None = None) -> Run:
    """The influence function Phi_t(theta_j; x0) = d f(x0, t) / d omega_j of the gradient flow.

    The reference particles theta_j, i.i.d. from mu_0, carry weights omega_j = 1/N_ref; the flow
    (explicit Euler, step ``dt``) moves every particle in the velocity field of the weighted
    measure (:func:`mfutils.velocity_field` with ``weights``), and the outputs f(x0_p, t) are
    differentiated with respect to the weights by ``jax.jacrev`` through the scan (one backward
    pass per output, each step recomputed under ``jax.checkpoint``).

    Args:
      reference: a (N_ref,), w (N_ref, d), or seed-batched (J, N_ref), (J, N_ref, d): J independent
        references (cheaper than one of size J N_ref: the cost per step is O(N_ref^2)), computed
        one after another, so the memory is that of one reference whatever J.
      x0: probe inputs, shape (P, d).
      dt, t_end, every, n_records: as in :func:`mfutils.particle_flow`.
    Returns:
      a :class:`~mfutils.Run`: ``final`` the reference particles at t_end; ``records["f"]``
      (..., R + 1, P) the outputs f(x0_p, t); ``records["influence"]`` (..., R + 1, P, N_ref) the
      values Phi_t(theta_j; x0_p) at the reference's initial particles, the leading ``...`` being
      the seed axis of a seed-batched reference. At t = 0, Phi_0(theta; x0) = a sigma(w . x0).

    Raises:
      ValueError: bad shapes, non-finite inputs, or a bad schedule.
      DivergenceError: if the flow's outputs become non-finite (reduce ``dt``).

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> ref = mf.init_params(jax.random.key(0), 32, 5)
      >>> run = mf.influence_function(ref, problem, jax.numpy.ones((2, 5)), dt=0.1, t_end=1.0,
      ...                             every=5)
      >>> run.records["influence"].shape
      (3, 2, 32)
    """
    _checks.problem_seeds(reference, problem)
    x0 = jnp.asarray(x0, reference.a.dtype)
    if x0.ndim != 2 or x0.shape[1] != problem.d:
        raise ValueError(f"x0 must have shape (P, {problem.d}), got {x0.shape}")
    if not bool(jnp.all(jnp.isfinite(x0))):
        raise ValueError("x0 contains non-finite values")
    dt = _checks.positive("dt", dt)
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    final, times, outputs, values = _influence(reference, x0, problem,
                                               jnp.asarray(dt, reference.a.dtype), n_steps, every)
    if not (np.isfinite(np.asarray(outputs)).all() and np.isfinite(np.asarray(values)).all()):
        raise DivergenceError("the weighted flow became non-finite: reduce dt")
    return Run(final, times, {"f": outputs, "influence": values})


def influence_variance(values, level: float = 0.95) -> Estimate:
    """The predicted CLT variance Var_{theta ~ mu_0} Phi_t(theta; x0), shape (R + 1, P).

    Args:
      values: ``records["influence"]`` of :func:`influence_function`, (R + 1, P, N_ref) for one
        reference or (J, R + 1, P, N_ref) for J independent references.

    For J >= 2 references the value is the mean of the J per-reference sample variances and the
    interval is the t interval (J - 1 degrees of freedom) of that mean, so it includes the
    randomness of the reference flows themselves; the O(1/N_ref) bias of a finite reference is
    not included. A single reference gives the sample variance with no interval (nan).

    Example:
      >>> import numpy as np
      >>> values = np.random.default_rng(0).normal(0, 2, (4, 1, 1, 5000))
      >>> est = influence_variance(values)
      >>> bool(est.ci[0][0, 0] < 4 < est.ci[1][0, 0])
      True
    """
    _checks.level(level)
    values = np.asarray(values, float)
    if values.ndim not in (3, 4):
        raise ValueError(f"values must be (R + 1, P, N_ref) or (J, R + 1, P, N_ref), got {values.shape}")
    if values.ndim == 3:
        var = values.var(axis=-1, ddof=1)
        return Estimate(var, (np.full_like(var, np.nan), np.full_like(var, np.nan)),
                        np.full_like(var, np.nan))
    per_ref = values.var(axis=-1, ddof=1)
    k = per_ref.shape[0]
    if k < 2:
        raise ValueError("an interval needs at least 2 independent references")
    mean, se = per_ref.mean(axis=0), per_ref.std(axis=0, ddof=1) / np.sqrt(k)
    half = stats.t.ppf(0.5 + level / 2, k - 1) * se
    return Estimate(mean, (mean - half, mean + half), se)
