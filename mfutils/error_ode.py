"""The error equation of the coupling, integrated: the tangent-linear propagation of the gap
between N spherical particles and their mean-field twins (chapter 6).

Each particle w_i has a twin wbar_i, started at the same point and moved by the mean-field
velocity of mu_t instead of the N-particle one. Both move by the same discrete map (an Euler step
on the sphere, then back to it): the particles by P(w) = normalise(w + dt V_N(w)), the twins by
Q(wbar) = normalise(wbar + dt v_mu(wbar)). The gap Delta = w - wbar then obeys exactly

    Delta_{k+1} = [P(wbar_k) - Q(wbar_k)] + [P(wbar_k + Delta_k) - P(wbar_k)],

a source, the fluctuation of the interaction at the twins (O(N^(-1/2))), plus the gap carried by
the N-particle map. The *linearised* gap replaces the second bracket by the tangent map
DP(wbar_k) Delta_k (one ``jax.jvp``): the discrete error equation, whose solution predicts the
measured gap wherever the remainder, quadratic in the gap, is negligible.

For the symmetric measures of the overlap reduction (:mod:`mfutils.spherical`) the mean-field
velocity of a neuron of overlap m = w . theta lies in the plane of w and theta,
v_mu(w) = mdot / (1 - m^2) (theta - m w) with mdot its :func:`~mfutils.overlap_velocity`, so twins
and the reference measure cost O(N + N_ref) per step; the particles and the tangent map cost
O(N^2 d). The reference overlaps move by the same sphere-consistent Euler map
m <- (m + dt mdot) / sqrt(1 + dt^2 mdot^2 / (1 - m^2)), so that the three systems differ by the
N-particle fluctuation only, not by their discretisations.
"""
from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _checks
from .loop import Run, simulate
from .network import Params, Problem
from .spherical import (_check_overlaps, _check_sphere, _mf_distance, _moments,
                        _reduced_velocity, _sphere_step)

__all__ = ["Twins", "tangent_gap_flow"]


class Twins(NamedTuple):
    """The state of :func:`tangent_gap_flow`: particles ``w`` (N, d), their twins ``twin``
    (N, d), the linearised gap ``delta`` (N, d) and the reference overlaps ``m_ref`` (N_ref,)."""

    w: jax.Array
    twin: jax.Array
    delta: jax.Array
    m_ref: jax.Array


def _normalise(w):
    return w / jnp.linalg.norm(w, axis=-1, keepdims=True)


def _overlap_rate(a, m, moments, link, d):
    """mdot / (1 - m^2): the mean-field speed along theta - m w (finite at m = +-1)."""
    edge = 1 - jnp.finfo(m.dtype).eps   # mdot vanishes like 1 - m^2 at the poles
    m = jnp.clip(m, -edge, edge)
    return _reduced_velocity(a, m, moments, link, d) / (1 - m**2)


def _twin_step(twin, a, moments, u, dt, link, d):
    """Q: the Euler step of the mean-field velocity on the sphere, then back to it."""
    m = twin @ u
    rate = _overlap_rate(a, m, moments, link, d)
    return _normalise(twin + dt * rate[:, None] * (u[None, :] - m[:, None] * twin))


def _reference_step(a_ref, m_ref, moments, dt, link, d):
    """The overlaps of Q's step: (m + dt mdot) / |w + dt v|, |v|^2 = mdot^2 / (1 - m^2)."""
    rate = _overlap_rate(a_ref, m_ref, moments, link, d)
    return (m_ref + dt * rate * (1 - m_ref**2)) / jnp.sqrt(1 + dt**2 * rate**2 * (1 - m_ref**2))


class _Args(NamedTuple):
    """What a step reads: the problem, the Euler step, the particles' signs (N,) and the
    reference's (N_ref,)."""

    problem: Problem
    dt: jax.Array
    signs: jax.Array
    a_ref: jax.Array


def _tangent_step(state, k, xi, args):
    w, twin, delta, m_ref = state
    link, d, u = args.problem.sigma, args.problem.d, args.problem.teacher.w[0]
    deg = len(link.coeffs) - 1
    moments = _moments(args.a_ref, m_ref, deg, deg)

    def particle_map(w):  # P
        return _sphere_step(Params(args.signs, w), args.dt, args.problem).w

    p_twin, carried = jax.jvp(particle_map, (twin,), (delta,))   # P(wbar), DP(wbar) Delta
    twin_next = _twin_step(twin, args.signs, moments, u, args.dt, link, d)
    return Twins(particle_map(w), twin_next, p_twin - twin_next + carried,
                 _reference_step(args.a_ref, m_ref, moments, args.dt, link, d))


def _tangent_observe(state, args):
    w, twin, delta, m_ref = state
    a = args.signs

    def gap(w):  # ||f_N - f_MF||^2 of N particles against the reference
        return _mf_distance(Params(a, w), args.a_ref, m_ref, args.problem)
    return {"gap": gap(w), "gap_linear": gap(_normalise(twin + delta)), "gap_twins": gap(twin),
            "distance": jnp.sum((w - twin) ** 2, axis=1), "distance_linear": jnp.sum(delta**2, axis=1)}


def tangent_gap_flow(params: Params, a_ref, m_ref, problem: Problem, *, dt: float,
                     t_end: float, gap0=None, every: int | None = None,
                     n_records: int | None = None) -> Run:
    """Particles, their mean-field twins and the linearised gap, side by side.

    Args:
      params: N spherical particles, a (N,) signs, w (N, d) unit rows (:func:`sphere_init`);
        the twins start at ``w``.
      a_ref, m_ref: the reference measure's signs and overlaps (:func:`overlap_init`), large
        (N_ref >> N) so that it stands for mu_t.
      problem: a :func:`sphere_problem`.
      dt, t_end: the Euler step and the horizon.
      gap0: the particles' initial displacement from the twins, (N, d) (default 0), of which
        the part tangent to the sphere is kept: the particles start at normalise(w + gap0) and
        the linearised gap at gap0.
      every, n_records: the record interval, as in :func:`particle_flow`.

    Returns:
      a :class:`~mfutils.Run` with ``final`` a :class:`Twins` and records ``gap``,
      ``gap_linear`` and ``gap_twins``, the squared distance ``||f - f_MF||^2`` of the
      particles, of the twins moved by the linearised gap (normalise(wbar + Delta)) and of the
      twins alone, and ``distance`` and ``distance_linear``, each particle's squared gap
      ``|w_i - wbar_i|^2`` measured and linearised, (N,) per record. Use float64: the gaps in
      function space are O(1/N) differences of O(1) terms.

    Raises:
      ValueError: for rows off the sphere, mismatched shapes, a problem not of
        :func:`sphere_problem`'s form, a non-positive step or a non-finite ``gap0``.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(2), d=8)
      >>> p = mf.sphere_init(jax.random.key(0), 128, 8)
      >>> a_ref, m_ref = mf.overlap_init(jax.random.key(1), 4096, 8)
      >>> run = mf.tangent_gap_flow(p, a_ref, m_ref, problem, dt=0.1, t_end=2.0, n_records=2)
      >>> sorted(run.records)
      ['distance', 'distance_linear', 'gap', 'gap_linear', 'gap_twins']
    """
    _check_sphere(params, problem)
    a_ref, m_ref, _, _ = _check_overlaps(a_ref, m_ref, problem)
    dt = _checks.positive("dt", dt)
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    w = params.w
    delta = jnp.zeros_like(w) if gap0 is None else jnp.asarray(gap0, w.dtype)
    if delta.shape != w.shape:
        raise ValueError(f"gap0 must have the particles' shape {w.shape}, got {delta.shape}")
    _checks.finite("gap0", delta)
    delta = delta - jnp.sum(delta * w, axis=1, keepdims=True) * w   # tangent at the twins
    state = Twins(_normalise(w + delta), w, delta, m_ref.astype(w.dtype))
    args = _Args(problem, jnp.asarray(dt, w.dtype), params.a, a_ref.astype(w.dtype))
    return simulate(_tangent_step, _tangent_observe, state, args, n_steps=n_steps, every=every,
                    time_per_step=dt)
