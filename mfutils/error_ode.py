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
N-particle fluctuation only, not by their discretisations. With trained output weights
(``train_a``) a particle is (a_i, w_i), P and Q move the weights too (Q by the reduction's
da/dt = K(m) - E_mu[a' K(w . w')], exact for symmetric measures), and the gap has a weight part.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp

from . import _checks
from .loop import Run, simulate
from .network import Params, Problem
from .spherical import (_check_overlaps, _check_sphere, _mf_distance, _moments, _reduced_velocity,
                        _sphere_step, _weight_rate)

__all__ = ["Twins", "tangent_gap_flow", "tangent_growth_rate"]


class Twins(NamedTuple):
    """The state of :func:`tangent_gap_flow`: particles ``w`` (N, d), their twins ``twin``
    (N, d), the linearised gap ``delta`` (N, d) and the reference overlaps ``m_ref`` (N_ref,);
    then the output weights of each: ``a`` and ``a_twin`` (N,), the linearised gap ``delta_a``
    (N,) and ``a_ref`` (N_ref,), which move only with ``train_a``."""

    w: jax.Array
    twin: jax.Array
    delta: jax.Array
    m_ref: jax.Array
    a: jax.Array
    a_twin: jax.Array
    delta_a: jax.Array
    a_ref: jax.Array


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
    """What a step reads: the problem and the Euler step."""

    problem: Problem
    dt: jax.Array


def _tangent_step(state, k, xi, args, train_a=False):
    s, dt = state, args.dt
    link, d, u = args.problem.sigma, args.problem.d, args.problem.teacher.w[0]
    deg = len(link.coeffs) - 1
    moments = _moments(s.a_ref, s.m_ref, deg, deg)

    def particle_map(p):  # P, on the weights too with train_a
        return _sphere_step(p, dt, args.problem, train_a)

    twins = Params(s.a_twin, s.twin)
    p_twin, carried = jax.jvp(particle_map, (twins,), (Params(s.delta_a, s.delta),))
    particles = particle_map(Params(s.a, s.w))
    twin_next = _twin_step(s.twin, s.a_twin, moments, u, dt, link, d)
    m_ref = _reference_step(s.a_ref, s.m_ref, moments, dt, link, d)
    a_twin, a_ref = s.a_twin, s.a_ref
    if train_a:   # the twins' and the reference's weights by the reduction, from the same state
        a_twin = a_twin + dt * _weight_rate(s.twin @ u, moments, link, d)
        a_ref = a_ref + dt * _weight_rate(s.m_ref, moments, link, d)
    return Twins(particles.w, twin_next, p_twin.w - twin_next + carried.w, m_ref,
                 particles.a, a_twin, p_twin.a - a_twin + carried.a, a_ref)


def _tangent_observe(state, args):
    s = state

    def gap(a, w):  # ||f_N - f_MF||^2 of N particles against the reference
        return _mf_distance(Params(a, w), s.a_ref, s.m_ref, args.problem)
    return {"gap": gap(s.a, s.w), "gap_linear": gap(s.a_twin + s.delta_a,
                                                      _normalise(s.twin + s.delta)),
            "gap_twins": gap(s.a_twin, s.twin),
            "distance": jnp.sum((s.w - s.twin) ** 2, axis=1) + (s.a - s.a_twin) ** 2,
            "distance_linear": jnp.sum(s.delta**2, axis=1) + s.delta_a**2}


_trained_tangent_step = partial(_tangent_step, train_a=True)


def tangent_gap_flow(params: Params, a_ref, m_ref, problem: Problem, *, dt: float,
                     t_end: float, gap0=None, train_a: bool = False, every: int | None = None,
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
      train_a: train the output weights too (as in :func:`sphere_flow`): the particles' by
        their gradient flow, the twins' and the reference's by the reduction's
        da/dt = K(m) - E_mu[a' K(w . w')]; the gap then has a weight part, linearised with the rest.
      every, n_records: the record interval, as in :func:`particle_flow`.

    Returns:
      a :class:`~mfutils.Run` with ``final`` a :class:`Twins` and records ``gap``,
      ``gap_linear`` and ``gap_twins``, the squared distance ``||f - f_MF||^2`` of the
      particles, of the twins moved by the linearised gap (normalise(wbar + Delta)) and of the
      twins alone, and ``distance`` and ``distance_linear``, each particle's squared gap
      ``|w_i - wbar_i|^2 + (a_i - abar_i)^2`` measured and linearised, (N,) per record. Use
      float64: the gaps in function space are O(1/N) differences of O(1) terms.

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
    a = params.a.astype(w.dtype)
    state = Twins(_normalise(w + delta), w, delta, m_ref.astype(w.dtype), a, a, jnp.zeros_like(a),
                  a_ref.astype(w.dtype))
    return simulate(_trained_tangent_step if train_a else _tangent_step, _tangent_observe, state,
                    _Args(problem, jnp.asarray(dt, w.dtype)), n_steps=n_steps, every=every,
                    time_per_step=dt)


@partial(jax.jit, static_argnames=("train_a", "n_iter", "n_average"))
def _growth_rate(params, problem, dt, key, train_a, n_iter, n_average):
    def tangent_map(v, _):   # DP(params) v, normalised; and log |DP v|
        v = jax.jvp(lambda q: _sphere_step(q, dt, problem, train_a), (params,), (v,))[1]
        norm = jnp.sqrt(sum(jnp.sum(x**2) for x in jax.tree.leaves(v)))
        return jax.tree.map(lambda x: x / norm, v), jnp.log(norm)

    ka, kw = jax.random.split(key)
    v = Params(jax.random.normal(ka, params.a.shape, params.w.dtype) if train_a
               else jnp.zeros_like(params.a), jax.random.normal(kw, params.w.shape, params.w.dtype))
    v, _ = jax.lax.scan(tangent_map, v, None, length=n_iter - n_average)   # forget the start
    _, logs = jax.lax.scan(tangent_map, v, None, length=n_average)
    return jnp.mean(logs) / dt


def tangent_growth_rate(params: Params, problem: Problem, *, dt: float, train_a: bool = False,
                        n_iter: int = 400, n_average: int = 150, key=None) -> float:
    """The top growth rate of the linearised N-particle flow at a configuration.

    Power iteration of the tangent map DP(params) of one Euler step of the spherical particle
    flow (as in :func:`sphere_flow`; with ``train_a`` the output weights are part of the state
    and of the tangent vectors): the rate (1/dt) log rho(DP), rho the spectral radius. As
    dt -> 0 it tends to the largest real part among the eigenvalues of the velocity's Jacobian
    (the step must be small enough not to amplify the fast decaying directions: dt < 2 / (-lambda)
    for each real eigenvalue lambda < 0). A gap carried by the linearised flow frozen at
    ``params`` grows like exp(rate * t). The rate is a lower bound for the largest eigenvalue of
    the Jacobian's symmetric part, whose integral along a path the geometric condition of
    chapter 6 bounds.

    Args:
      params: N spherical particles, a (N,), w (N, d) unit rows.
      problem: a :func:`sphere_problem`.
      dt: the Euler step of the map.
      train_a: the weights move and are perturbed too.
      n_iter: power iterations in all; the rate is the mean log growth over the last
        ``n_average`` of them (the first ones forget the random start).
      key: the random start (default ``jax.random.key(0)``).

    Returns:
      the rate, a float (per unit time; <= 0 where no direction grows).

    Raises:
      ValueError: for rows off the sphere or non-finite particles, a problem not of
        :func:`sphere_problem`'s form, a non-positive step, or ``n_average`` not in 1..n_iter.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(2), d=8)
      >>> p = mf.sphere_init(jax.random.key(0), 64, 8)
      >>> rate = mf.tangent_growth_rate(p, problem, dt=0.05)
      >>> bool(rate > 0)     # at the uninformed start the learners' overlaps grow
      True
    """
    _check_sphere(params, problem)
    dt = _checks.positive("dt", dt)
    n_iter = _checks.count("n_iter", n_iter)
    n_average = _checks.count("n_average", n_average)
    if n_average > n_iter:
        raise ValueError(f"n_average = {n_average} must not exceed n_iter = {n_iter}")
    key = jax.random.key(0) if key is None else key
    w = jnp.asarray(params.w)
    p = Params(jnp.asarray(params.a, w.dtype), w)
    return float(_growth_rate(p, problem, jnp.asarray(dt, w.dtype), key, train_a, n_iter,
                              n_average))
