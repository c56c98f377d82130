"""Fluctuations around the mean-field limit: the influence function of the flow.

The particle flow from mu^N_0 is the limit equation started at mu^N_0, so the output at time t is
a functional of the initial measure, f_N(x0, t) = F_t(mu^N_0). Its first variation
Phi_t(theta; x0) = dF_t/dmu_0 (theta) is the *influence function*; the delta method predicts

    sqrt(N) (f_N(x0, t) - f_MF(x0, t))  ->  N(0, Var_{theta ~ mu_0} Phi_t(theta; x0)).

For a reference measure mu = sum_j m_j delta_{theta_j}, Phi_t(theta_j) = d f(x0, t) / d m_j: the
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
from scipy.special import stdtrit

from . import _checks
from .chaos import mean_field_velocity
from .dynamics import DivergenceError, _checked_seeds, _integrate
from .network import Params, Problem
from .stats import Estimate

__all__ = ["Influence", "weighted_velocity", "influence_function", "influence_variance"]


class Influence(NamedTuple):
    """``times`` (R + 1,); ``outputs`` (..., R + 1, P): f(x0_p, t) of the reference flow;
    ``values`` (..., R + 1, P, N_ref): Phi_t(theta_j; x0_p) at the reference's initial particles.
    The leading axis ``...`` is the seed axis of a seed-batched reference."""

    times: jax.Array
    outputs: jax.Array
    values: jax.Array


class _Weighted(NamedTuple):
    """The flow's state: particles, their weights m (constant) and the probe inputs x0 (constant)."""

    params: Params
    weights: jax.Array
    x0: jax.Array


def weighted_velocity(params: Params, weights, problem: Problem) -> Params:
    """-grad V_mu(theta_i) for mu = sum_j m_j delta_{theta_j}: each particle moves in the velocity
    field of the weighted measure, whatever its own weight. With m_j = 1/N this is
    :func:`mfutils.velocity` in the mean-field scaling."""
    return mean_field_velocity(params, params, problem, weights)


@partial(jax.checkpoint, static_argnums=(5,))
def _weighted_step(state, problem, key, k, lr, scaling):
    move = weighted_velocity(state.params, state.weights, problem)
    return state._replace(params=jax.tree.map(lambda p, v: p + lr * v, state.params, move))


def _probe(state, sigma):
    """f_mu(x0_p) = sum_j m_j a_j sigma(w_j . x0_p) for the P probe inputs: shape (P,)."""
    return sigma(state.x0 @ state.params.w.T) @ (state.weights * state.params.a)


def _outputs(weights, reference, x0, problem, dt, n_steps, every):
    """f(x0_p, t) at the record times, shape (R + 1, P), as a function of the weights m; with the
    records and their times again as auxiliary output (for ``jax.jacrev(..., has_aux=True)``)."""
    _, times, records = _integrate(_Weighted(reference, weights, x0), problem, jax.random.key(0),
                                   seeds=None, lr=dt, time_per_step=dt, step=_weighted_step,
                                   scaling="mean-field", n_steps=n_steps, every=every,
                                   observe=partial(_probe, sigma=problem.sigma))
    return records, (records, times)


@partial(jax.jit, static_argnames=("n_steps", "every"))
def _influence(reference, x0, problem, dt, n_steps, every):
    def one(ref):
        m = jnp.full(ref.a.shape, 1.0 / ref.a.shape[-1], ref.a.dtype)
        f = partial(_outputs, reference=ref, x0=x0, problem=problem, dt=dt, n_steps=n_steps,
                    every=every)
        values, (outputs, times) = jax.jacrev(f, has_aux=True)(m)
        return times, outputs, values

    if reference.a.ndim == 1:
        return one(reference)
    times, outputs, values = jax.vmap(one)(reference)
    return times[0], outputs, values  # the same record times for every reference


def influence_function(reference: Params, problem: Problem, x0, *, dt: float, n_steps: int,
                       every: int = 1) -> Influence:
    """The influence function Phi_t(theta_j; x0) = d f(x0, t) / d m_j of the gradient flow.

    The reference particles theta_j, i.i.d. from mu_0, carry weights m_j = 1/N_ref; the flow
    (explicit Euler, step ``dt``) moves every particle with the velocity of the weighted measure
    (:func:`weighted_velocity`), and the outputs f(x0_p, t) are differentiated with respect to the
    weights by ``jax.jacrev`` through the scan (one backward pass per output, each step
    recomputed under ``jax.checkpoint``).

    Args:
      reference: a (N_ref,), w (N_ref, d), or seed-batched (K, N_ref), (K, N_ref, d): K independent
        references (cheaper than one of size K N_ref: the cost per step is O(N_ref^2)).
      x0: probe inputs, shape (P, d).
      dt, n_steps, every: as in :func:`mfutils.particle_flow`; records at t = 0, every*dt, ...
    Returns:
      an :class:`Influence`; at t = 0, Phi_0(theta; x0) = a sigma(w . x0) exactly.

    Raises:
      ValueError: bad shapes, non-finite inputs, or a bad schedule.
      DivergenceError: if the flow's outputs become non-finite (reduce ``dt``).
    """
    _checked_seeds(reference, problem)
    x0 = jnp.asarray(x0, reference.a.dtype)
    if x0.ndim != 2 or x0.shape[1] != problem.d:
        raise ValueError(f"x0 must have shape (P, {problem.d}), got {x0.shape}")
    if not bool(jnp.all(jnp.isfinite(x0))):
        raise ValueError("x0 contains non-finite values")
    times, outputs, values = _influence(reference, x0, problem, _checks.positive("dt", dt),
                                        n_steps, every)  # the schedule is checked by _integrate
    if not (np.isfinite(np.asarray(outputs)).all() and np.isfinite(np.asarray(values)).all()):
        raise DivergenceError("the weighted flow became non-finite: reduce dt")
    return Influence(times, outputs, values)


def influence_variance(influence: Influence, level: float = 0.95) -> Estimate:
    """The predicted CLT variance Var_{theta ~ mu_0} Phi_t(theta; x0), shape (R + 1, P).

    For a seed-batched influence (K >= 2 references) the value is the mean of the K per-reference
    sample variances and the interval is the t interval (K - 1 degrees of freedom) of that mean, so
    it includes the randomness of the reference flows themselves; the O(1/N_ref) bias of a finite
    reference is not included. A single reference gives the sample variance with no interval (nan).
    """
    _checks.level(level)
    values = np.asarray(influence.values, float)
    if values.ndim == 3:
        return Estimate(values.var(axis=-1, ddof=1), (np.nan, np.nan))
    per_ref = values.var(axis=-1, ddof=1)
    k = per_ref.shape[0]
    if k < 2:
        raise ValueError("an interval needs at least 2 independent references")
    mean = per_ref.mean(axis=0)
    half = stdtrit(k - 1, 0.5 + level / 2) * per_ref.std(axis=0, ddof=1) / np.sqrt(k)
    return Estimate(mean, (mean - half, mean + half))
