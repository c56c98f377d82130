"""Spherical two-layer networks for single-index targets, and the exact overlap reduction of their
mean-field dynamics (chapters 5 and 6).

Model: f(x) = (1/N) sum_i a_i sigma(w_i . x) with |w_i| = 1 and fixed signs a_i in {-1, +1};
teacher y = sigma(theta . x) with theta = e_1 (well-specified: the same link sigma = sum_j c_j h_j).
On the sphere E[sigma(u.x) sigma(v.x)] = K(u.v) with K(rho) = sum_j c_j^2 rho^j, so

  R(mu) = 1/2 [ E_{mu x mu} a a' K(w.w') - 2 E_mu a K(w.theta) + K(1) ],
  V_mu(w) = E_{mu} a a' K(w.w') - a K(w.theta),   dw/dt = -(I - w w^T) grad_w V_mu(w).

Overlap reduction. If mu is invariant under the rotations that fix theta, a neuron is described by
its overlap m = w.theta: writing w = m theta + s u (s = sqrt(1 - m^2)), the cosine z = u.u' of two
independent neurons is distributed like one coordinate of a uniform point of S^{d-2}, with
E z^{2q} = (2q - 1)!! / prod_{i<q} (d - 1 + 2i) and odd moments 0. Since K is a polynomial, every
average over mu becomes a polynomial in the moments E_mu[a m^p s^q] (q even), so the mean-field
velocity of all N_ref overlaps costs O(N_ref K^2) per step for a link of degree K, independent of d.
"""
from __future__ import annotations

from functools import partial
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .network import Params

__all__ = ["sphere_init", "sphere_risk", "sphere_velocity", "sphere_flow", "overlap_init",
           "sphere_moments", "overlap_velocity", "overlap_risk", "overlap_flow", "mf_distance",
           "SphereRun", "GapRun", "mf_gap_flow"]


class SphereRun(NamedTuple):
    """A run: ``final`` state (Params for particles, (a, m) for overlaps); ``times`` (R + 1,);
    ``risk`` (R + 1,) the exact population risk; ``overlaps`` (R + 1, N) every particle's m."""

    final: object
    times: jax.Array
    risk: jax.Array
    overlaps: jax.Array


def _kernel(rho, coeffs, derivative=False):
    """K(rho) = sum_j c_j^2 rho^j, or K'(rho)."""
    c2 = np.asarray(coeffs) ** 2
    if derivative:
        c2 = c2[1:] * np.arange(1, len(c2))
    return jnp.polyval(jnp.asarray(c2[::-1], dtype=rho.dtype), rho)


def _signs(key, n, signs, dtype):
    if signs == "plus":
        return jnp.ones((n,), dtype)
    if signs == "random":
        return jax.random.rademacher(key, (n,), dtype)
    raise ValueError(f"signs must be 'plus' or 'random', got {signs!r}")


def sphere_init(key, n: int, d: int, *, signs: str = "plus", dtype=jnp.float32) -> Params:
    """N neurons uniform on S^{d-1} (a: (N,) signs, +1 or random +-1; w: (N, d) unit rows)."""
    n, d = _checks.count("n", n), _checks.count("d", d, minimum=3)
    kw, ka = jax.random.split(key)
    w = jax.random.normal(kw, (n, d), dtype)
    return Params(_signs(ka, n, signs, dtype), w / jnp.linalg.norm(w, axis=1, keepdims=True))


def _check_sphere(params):
    _checks.params_shape(params)
    if params.a.ndim != 1:
        raise ValueError("spherical networks take one network (a: (N,), w: (N, d)); vmap for seeds")
    if _checks.is_concrete(params) and not np.allclose(np.linalg.norm(np.asarray(params.w), axis=1), 1,
                                                        atol=1e-4):
        raise ValueError("spherical networks need unit-norm rows w_i")


def sphere_risk(params: Params, coeffs):
    """Exact population risk R(mu^N) of the spherical network (teacher sigma(e_1 . x))."""
    coeffs = _checks.link_coeffs(coeffs)
    a, w = params
    n = a.shape[0]
    m = w[:, 0]
    self_term = a @ _kernel(w @ w.T, coeffs) @ a / n**2
    return 0.5 * (self_term - 2 * jnp.mean(a * _kernel(m, coeffs)) + sum(c * c for c in coeffs))


def sphere_velocity(params: Params, coeffs):
    """The particles' spherical velocities -(I - w_i w_i^T) grad V_{mu^N}(w_i): (N, d)."""
    coeffs = _checks.link_coeffs(coeffs)
    a, w = params
    n = a.shape[0]
    grad = a[:, None] * ((_kernel(w @ w.T, coeffs, True) * a[None, :]) @ w) / n
    grad = grad.at[:, 0].add(-a * _kernel(w[:, 0], coeffs, True))
    return -(grad - jnp.sum(grad * w, axis=1, keepdims=True) * w)


def _record(observe, step, state, n_steps, every):
    """Scan ``step`` n_steps times, recording ``observe(state)`` at step 0 and every ``every`` steps."""
    def outer(state, _):
        state = jax.lax.fori_loop(0, every, lambda i, s: step(s), state)
        return state, observe(state)

    final, records = jax.lax.scan(outer, state, None, length=n_steps // every)
    records = jax.tree.map(lambda r0, r: jnp.concatenate([jnp.asarray(r0)[None], r]), observe(state), records)
    return final, records


def _sphere_step(p, dt, coeffs):
    """Euler step of the particle flow, then back to the sphere."""
    w = p.w + dt * sphere_velocity(p, coeffs)
    return Params(p.a, w / jnp.linalg.norm(w, axis=1, keepdims=True))


def _overlap_step(a, m, dt, coeffs, d):
    """Euler step of the reduced mean-field dynamics, kept in [-1, 1]."""
    return jnp.clip(m + dt * overlap_velocity(a, m, coeffs, d), -1.0, 1.0)


@partial(jax.jit, static_argnames=("coeffs", "n_steps", "every"))
def _sphere_flow(params, dt, *, coeffs, n_steps, every):
    return _record(lambda p: (sphere_risk(p, coeffs), p.w[:, 0]),
                   lambda p: _sphere_step(p, dt, coeffs), params, n_steps, every)


def sphere_flow(params: Params, coeffs, *, dt: float, n_steps: int, every: int | None = None) -> SphereRun:
    """The N-particle spherical gradient flow: Euler step w + dt v, then back to the sphere.

    Cost O(N^2 d) per step (the Gram matrix). Records every ``every`` steps (default n_steps/200).
    """
    _check_sphere(params)
    coeffs = _checks.link_coeffs(coeffs)
    dt, (n_steps, every) = _checks.positive("dt", dt), _checks.schedule(n_steps, every)
    final, (risk, ms) = _sphere_flow(params, dt, coeffs=coeffs, n_steps=n_steps, every=every)
    return SphereRun(final, dt * every * jnp.arange(n_steps // every + 1), risk, ms)


# --- the overlap reduction ---------------------------------------------------------------------

def _z_moment(r: int, d: int) -> float:
    """E z^r for z one coordinate of a uniform point on S^{d-2} (z = u.u' of two neurons)."""
    if r % 2:
        return 0.0
    return math.prod((2 * i + 1) / (d - 1 + 2 * i) for i in range(r // 2))


def overlap_init(key, n: int, d: int, *, signs: str = "plus", dtype=jnp.float32):
    """N overlaps m = w.theta of neurons uniform on S^{d-1}, with their signs: (a, m), each (N,).

    Exact: m = g / sqrt(g^2 + chi^2_{d-1}) with g ~ N(0, 1).
    """
    n, d = _checks.count("n", n), _checks.count("d", d, minimum=3)
    kg, kc, ka = jax.random.split(key, 3)
    g = jax.random.normal(kg, (n,), dtype)
    m = g / jnp.sqrt(g**2 + jax.random.chisquare(kc, d - 1, (n,), dtype))
    return _signs(ka, n, signs, dtype), m


def sphere_moments(a, m, p_max: int, q_max: int):
    """M[p, q] = mean_i a_i m_i^p s_i^q, s = sqrt(1 - m^2), for p <= p_max, even q <= q_max."""
    s2 = 1 - m**2
    mp = m[:, None] ** jnp.arange(p_max + 1)
    sq = s2[:, None] ** (jnp.arange(q_max // 2 + 1))
    return jnp.einsum("i,ip,iq->pq", a, mp, sq) / a.shape[0]  # column q/2 holds s^q


def _check_overlaps(a, m, d):
    a, m = jnp.asarray(a), jnp.asarray(m)
    if a.ndim != 1 or a.shape != m.shape:
        raise ValueError(f"a and m must be (N,) arrays of one shape, got {a.shape} and {m.shape}")
    if _checks.is_concrete(a, m) and not (np.all(np.abs(np.asarray(m)) <= 1)
                                          and np.all(np.isfinite(np.asarray(a)))):
        raise ValueError("overlaps must lie in [-1, 1] and signs be finite")
    return a, m, _checks.count("d", d, minimum=3)


def _cross_kernel(m, moments, coeffs, d):
    """E_{w' ~ mu}[a' K(w . w')] for a neuron of overlap m, mu the symmetric measure: (N,)."""
    s = jnp.sqrt(jnp.maximum(1 - m**2, 0.0))
    out = jnp.zeros_like(m)
    for j, c in enumerate(coeffs):
        for r in range(0, j + 1, 2):
            coef = c * c * math.comb(j, r) * _z_moment(r, d)
            out = out + coef * m ** (j - r) * s**r * moments[j - r, r // 2]
    return out


def overlap_risk(a, m, coeffs, d: int):
    """Exact risk of the symmetric mean-field measure whose (sign, overlap) law is that of (a, m)."""
    coeffs = _checks.link_coeffs(coeffs)
    a, m, d = _check_overlaps(a, m, d)
    deg = len(coeffs) - 1
    moments = sphere_moments(a, m, deg, deg)
    self_term = jnp.mean(a * _cross_kernel(m, moments, coeffs, d))
    return 0.5 * (self_term - 2 * jnp.mean(a * _kernel(m, coeffs)) + sum(c * c for c in coeffs))


def overlap_velocity(a, m, coeffs, d: int):
    """dm_i/dt of the symmetric mean-field dynamics, each particle being its overlap: (N,).

    dm/dt = a (1 - m^2) K'(m) - a E_{w'}[a' K'(rho) (m' - m rho)], rho = m m' + s s' z, where the
    expectation over the independent directions (z) and over mu (moments) is exact.
    """
    coeffs = _checks.link_coeffs(coeffs)
    a, m, d = _check_overlaps(a, m, d)
    deg = len(coeffs) - 1
    return _reduced_velocity(a, m, sphere_moments(a, m, deg, deg), coeffs, d)


def _reduced_velocity(a, m, moments, coeffs, d):
    """The velocity of overlap m (sign a) in the symmetric measure with the given moments."""
    s = jnp.sqrt(jnp.maximum(1 - m**2, 0.0))
    interaction = jnp.zeros_like(m)
    for j in range(1, len(coeffs)):
        jb = j * coeffs[j] ** 2
        for r in range(j):  # K'(rho) = sum_j j c_j^2 sum_r C(j-1, r) (m m')^(j-1-r) (s s' z)^r
            binom = jb * math.comb(j - 1, r)
            if r % 2 == 0:  # the m'(1 - m^2) part of (m' - m rho), with E z^r
                interaction += binom * _z_moment(r, d) * m ** (j - 1 - r) * s**r * (1 - m**2) \
                    * moments[j - r, r // 2]
            else:  # the -m s s' z part, with E z^(r+1)
                interaction -= binom * _z_moment(r + 1, d) * m ** (j - r) * s ** (r + 1) \
                    * moments[j - 1 - r, (r + 1) // 2]
    return a * (1 - m**2) * _kernel(m, coeffs, True) - a * interaction


@partial(jax.jit, static_argnames=("coeffs", "d", "n_steps", "every"))
def _overlap_flow(a, m, dt, *, coeffs, d, n_steps, every):
    return _record(lambda m: (overlap_risk(a, m, coeffs, d), m),
                   lambda m: _overlap_step(a, m, dt, coeffs, d), m, n_steps, every)


def overlap_flow(a, m, coeffs, d: int, *, dt: float, n_steps: int, every: int | None = None) -> SphereRun:
    """The mean-field dynamics by the overlap reduction: Euler steps of :func:`overlap_velocity`.

    ``a``, ``m``: (N_ref,) signs and initial overlaps (e.g. from :func:`overlap_init`); they stand
    for the symmetric measure with that (sign, overlap) law. Cost O(N_ref K^2) per step, any d.
    """
    coeffs = _checks.link_coeffs(coeffs)
    a, m, d = _check_overlaps(a, m, d)
    dt, (n_steps, every) = _checks.positive("dt", dt), _checks.schedule(n_steps, every)
    final, (risk, ms) = _overlap_flow(a, m, dt, coeffs=coeffs, d=d, n_steps=n_steps, every=every)
    return SphereRun((a, final), dt * every * jnp.arange(n_steps // every + 1), risk, ms)


def mf_distance(params: Params, a_ref, m_ref, coeffs, d: int):
    """``||f_N - f_MF||^2 = E_x (f_N(x) - f_MF(x))^2``: N particles against the symmetric measure
    given by (a_ref, m_ref). Three O(1) terms cancel to O(1/N): use float64."""
    coeffs = _checks.link_coeffs(coeffs)
    _check_sphere(params)
    a_ref, m_ref, d = _check_overlaps(a_ref, m_ref, d)
    if params.w.shape[1] != d:
        raise ValueError(f"particles live in dimension {params.w.shape[1]}, not d = {d}")
    a, w = params
    deg = len(coeffs) - 1
    moments = sphere_moments(a_ref, m_ref, deg, deg)
    nn = a @ _kernel(w @ w.T, coeffs) @ a / a.shape[0] ** 2
    cross = jnp.mean(a * _cross_kernel(w[:, 0], moments, coeffs, d))
    mfmf = jnp.mean(a_ref * _cross_kernel(m_ref, moments, coeffs, d))
    return nn - 2 * cross + mfmf


class GapRun(NamedTuple):
    """``times`` (R + 1,); ``gap`` (R + 1,) the squared distance ``||f_N - f_MF||^2``; ``risk``
    and ``risk_mf`` (R + 1,) the particles' and the mean-field risks; ``rate`` (R + 1,)
    max_i d(dm_i/dt)/dm_i along the mean-field overlaps (the rate at which a particle's own
    overlap amplifies a perturbation)."""

    times: jax.Array
    gap: jax.Array
    risk: jax.Array
    risk_mf: jax.Array
    rate: jax.Array


@partial(jax.jit, static_argnames=("coeffs", "d", "n_steps", "every"))
def _gap_flow(params, a_ref, m_ref, dt, *, coeffs, d, n_steps, every):
    def step(state):
        p, m = state
        return _sphere_step(p, dt, coeffs), _overlap_step(a_ref, m, dt, coeffs, d)

    def observe(state):
        p, m = state
        moments = sphere_moments(a_ref, m, len(coeffs) - 1, len(coeffs) - 1)
        own = jax.vmap(jax.grad(lambda mi, ai: _reduced_velocity(ai, mi, moments, coeffs, d)))
        rate = jnp.max(own(jnp.clip(m, -1 + 1e-6, 1 - 1e-6), a_ref))  # d v_i / d m_i, mu held fixed
        return (mf_distance(p, a_ref, m, coeffs, d), sphere_risk(p, coeffs),
                overlap_risk(a_ref, m, coeffs, d), rate)

    return _record(observe, step, (params, m_ref), n_steps, every)[1]


def mf_gap_flow(params: Params, a_ref, m_ref, coeffs, d: int, *, dt: float, n_steps: int,
                every: int | None = None) -> GapRun:
    """Run N particles (:func:`sphere_flow`) and the mean-field overlaps (:func:`overlap_flow`)
    side by side and record ``||f_N - f_MF||^2`` (:func:`mf_distance`), both risks and the local rate.

    Use float64 (``jax.enable_x64``): the gap is a difference of O(1) terms of size O(1/N).
    """
    coeffs = _checks.link_coeffs(coeffs)
    _check_sphere(params)
    a_ref, m_ref, d = _check_overlaps(a_ref, m_ref, d)
    dt, (n_steps, every) = _checks.positive("dt", dt), _checks.schedule(n_steps, every)
    gap, risk, risk_mf, rate = _gap_flow(params, a_ref, m_ref, dt, coeffs=coeffs, d=d,
                                         n_steps=n_steps, every=every)
    return GapRun(dt * every * jnp.arange(n_steps // every + 1), gap, risk, risk_mf, rate)
