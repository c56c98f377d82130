"""Spherical two-layer networks for single-index targets, and the exact overlap reduction of their
mean-field dynamics (chapters 5 and 6).

Model: f(x) = (1/N) sum_i a_i sigma(w_i . x) with |w_i| = 1 and fixed signs a_i in {-1, +1};
teacher y = sigma(theta . x) with theta = e_1 (well-specified: the same link sigma = sum_j c_j h_j).
This is the book's two-layer model with a Hermite :class:`~mfutils.Problem`
(:func:`sphere_problem`): its risk is :func:`mfutils.population_risk`. On the sphere
E[sigma(u.x) sigma(v.x)] = K(u.v) with K = ``sigma.profile``, K(rho) = sum_j c_j^2 rho^j, so

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

import math
from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .activations import Activation
from .loop import Run, simulate
from .network import Params, Problem
from .population import population_risk
from .single_index import overlap_drift

__all__ = ["sphere_problem", "sphere_init", "sphere_velocity", "sphere_flow", "Overlaps",
           "overlap_init", "overlap_velocity", "overlap_risk", "overlap_flow", "mf_distance",
           "mf_gap_flow"]


def sphere_problem(link: Activation, d: int, dtype=None) -> Problem:
    """The single-index problem y = link(e_1 . x) for spherical students with the same link.

    Example:
      >>> import mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(4), d=32)
      >>> problem.d, problem.sigma
      (32, hermite_series([0.0, 0.0, 0.0, 0.0, 1.0]))
    """
    if not isinstance(link, Activation) or link.name != "hermite":
        raise ValueError(f"the spherical models need a Hermite link (mf.hermite, "
                         f"mf.hermite_series), got {link!r}")
    _checks.link_coeffs(link)
    d, dtype = _checks.count("d", d, minimum=3), _checks.float_dtype(dtype)
    # built in numpy: jnp.eye would compile programs for every new d
    return Problem(Params(jnp.ones(1, dtype), jnp.asarray(np.eye(1, d, dtype=dtype))), link, link)


def _single_index(problem: Problem) -> tuple[Activation, jax.Array, int]:
    """Check a problem of :func:`sphere_problem`'s form; return (link, teacher direction, d)."""
    b, u = problem.teacher
    if (problem.sigma.name != "hermite" or problem.sigma_star != problem.sigma
            or np.shape(u)[0] != 1 or (_checks.is_concrete(b) and float(b[0]) != 1.0)):
        raise ValueError("need a single-index problem with one unit teacher of weight 1 and the "
                         "student's Hermite link: use mf.sphere_problem(link, d)")
    _checks.unit_rows("the teacher direction", u)
    return problem.sigma, u[0], problem.d


def _signs(key, shape, signs, dtype):
    if signs == "plus":
        return jnp.ones(shape, dtype)
    if signs == "random":
        return jax.random.rademacher(key, shape, dtype)
    raise ValueError(f"signs must be 'plus' or 'random', got {signs!r}")


def sphere_init(key, n: int, d: int, *, signs: str = "plus", seeds: int | None = None,
                dtype=None) -> Params:
    """N neurons uniform on S^{d-1} (a: (N,) signs, +1 or random +-1; w: (N, d) unit rows).

    With ``seeds=S`` returns S independent networks stacked on a leading axis (a: (S, N),
    w: (S, N, d)), for the seed-batched :func:`mf_gap_flow`.

    Example:
      >>> import jax, mfutils as mf
      >>> p = mf.sphere_init(jax.random.key(0), 4, 8, signs="random")
      >>> p.w.shape, sorted(set(p.a.tolist())) <= [-1.0, 1.0]
      ((4, 8), True)
      >>> mf.sphere_init(jax.random.key(0), 4, 8, seeds=3).w.shape
      (3, 4, 8)
    """
    n, d = _checks.count("n", n), _checks.count("d", d, minimum=3)
    shape = (n,) if seeds is None else (_checks.count("seeds", seeds), n)
    dtype = _checks.float_dtype(dtype)
    kw, ka = jax.random.split(key)
    w = jax.random.normal(kw, shape + (d,), dtype)
    return Params(_signs(ka, shape, signs, dtype), w / jnp.linalg.norm(w, axis=-1, keepdims=True))


def _check_sphere(params, problem, seeds_ok=False):
    _checks.params_shape(params, problem.d)
    if params.a.ndim != 1 and not seeds_ok:
        raise ValueError("this function takes one spherical network (a: (N,), w: (N, d)); "
                         "vmap for seeds")
    _checks.unit_rows("params.w", params.w)
    return _single_index(problem)


def _sphere_velocity(params, link, u):
    a, w = params
    n = a.shape[0]
    grad = a[:, None] * ((link.profile(w @ w.T, derivative=True) * a[None, :]) @ w) / n
    grad = grad - (a * link.profile(w @ u, derivative=True))[:, None] * u[None, :]
    return -(grad - jnp.sum(grad * w, axis=1, keepdims=True) * w)


def sphere_velocity(params: Params, problem: Problem):
    """The particles' spherical velocities -(I - w_i w_i^T) grad V_{mu^N}(w_i): (N, d).

    The tangent part of ``mf.velocity(params, problem).w``, written out with the kernel's
    derivative K' (no automatic differentiation): 2-3 times faster.

    Example:
      >>> import jax, numpy as np, mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(3), d=6)
      >>> p = mf.sphere_init(jax.random.key(0), 5, 6)
      >>> v = mf.sphere_velocity(p, problem)
      >>> bool(np.allclose(np.sum(v * p.w, axis=1), 0, atol=1e-6))  # tangent to the sphere
      True
    """
    link, u, _ = _check_sphere(params, problem)
    return _sphere_velocity(params, link, u)


class _Args(NamedTuple):
    """What the spherical steps read: the problem and the Euler step."""

    problem: Problem
    dt: jax.Array


def _output_velocity(params, link, u):
    """da_i/dt = -dR/da_i = K(w_i . theta) - (1/N) sum_j a_j K(w_i . w_j): (N,)."""
    a, w = params
    return link.profile(w @ u) - link.profile(w @ w.T) @ a / a.shape[0]


def _sphere_step(p, dt, problem, train_a=False):
    """Euler step of the particle flow, then back to the sphere; with ``train_a`` the output
    weights take their Euler step too, from the same positions."""
    link, u = problem.sigma, problem.teacher.w[0]
    w = p.w + dt * _sphere_velocity(p, link, u)
    a = p.a + dt * _output_velocity(p, link, u) if train_a else p.a
    return Params(a, w / jnp.linalg.norm(w, axis=1, keepdims=True))


def _particles_step(p, k, xi, args, train_a=False):
    return _sphere_step(p, args.dt, args.problem, train_a)


def _particles_observe(p, args, train_a=False):
    out = {"risk": population_risk(p, args.problem), "overlaps": p.w @ args.problem.teacher.w[0]}
    return {**out, "a": p.a} if train_a else out


_trained_particles_step = partial(_particles_step, train_a=True)
_trained_particles_observe = partial(_particles_observe, train_a=True)


def sphere_flow(params: Params, problem: Problem, *, dt: float, t_end: float,
                train_a: bool = False, every: int | None = None,
                n_records: int | None = None) -> Run:
    """The N-particle spherical gradient flow: Euler step w + dt v, then back to the sphere.

    Cost O(N^2 d) per step (the Gram matrix). Records ``{"risk": R(mu^N), "overlaps": (N,)}``.
    With ``train_a`` the output weights follow their gradient flow too,
    da_i/dt = K(w_i . theta) - (1/N) sum_j a_j K(w_i . w_j) (one more Gram product per step), and
    are recorded as ``"a"``.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(2), d=8)
      >>> run = mf.sphere_flow(mf.sphere_init(jax.random.key(0), 64, 8), problem, dt=0.1,
      ...                      t_end=5.0, n_records=5)
      >>> run.records["overlaps"].shape, bool(run.records["risk"][-1] < run.records["risk"][0])
      ((6, 64), True)
    """
    _check_sphere(params, problem)
    dt = _checks.positive("dt", dt)
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    step, observe = ((_trained_particles_step, _trained_particles_observe) if train_a
                     else (_particles_step, _particles_observe))
    return simulate(step, observe, params,
                    _Args(problem, jnp.asarray(dt, params.w.dtype)), n_steps=n_steps, every=every,
                    time_per_step=dt)


# --- the overlap reduction ---------------------------------------------------------------------

class Overlaps(NamedTuple):
    """A symmetric measure by the (sign, overlap) law of its neurons: ``a`` (N,), ``m`` (N,)."""

    a: jax.Array
    m: jax.Array


def _z_moment(r: int, d: int) -> float:
    """E z^r for z one coordinate of a uniform point on S^{d-2} (z = u.u' of two neurons)."""
    if r % 2:
        return 0.0
    return math.prod((2 * i + 1) / (d - 1 + 2 * i) for i in range(r // 2))


def overlap_init(key, n: int, d: int, *, signs: str = "plus", dtype=None) -> Overlaps:
    """N overlaps m = w.theta of neurons uniform on S^{d-1}, with their signs.

    Exact: m = g / sqrt(g^2 + chi^2_{d-1}) with g ~ N(0, 1).

    Example:
      >>> import jax, mfutils as mf
      >>> a, m = mf.overlap_init(jax.random.key(0), 10_000, 100)
      >>> round(float((m**2).mean()) * 100, 1)  # E m^2 = 1/d
      1.0
    """
    n, d = _checks.count("n", n), _checks.count("d", d, minimum=3)
    dtype = _checks.float_dtype(dtype)
    kg, kc, ka = jax.random.split(key, 3)
    g = jax.random.normal(kg, (n,), dtype)
    m = g / jnp.sqrt(g**2 + jax.random.chisquare(kc, d - 1, (n,), dtype))
    return Overlaps(_signs(ka, (n,), signs, dtype), m)


def _moments(a, m, p_max: int, q_max: int):
    """M[p, q/2] = mean_i a_i m_i^p s_i^q, s = sqrt(1 - m^2), for p <= p_max, even q <= q_max."""
    s2 = 1 - m**2
    mp = m[:, None] ** jnp.arange(p_max + 1, dtype=m.dtype)
    sq = s2[:, None] ** jnp.arange(q_max // 2 + 1, dtype=m.dtype)
    return jnp.einsum("i,ip,iq->pq", a, mp, sq) / a.shape[0]


def _check_overlaps(a, m, problem):
    a, m = jnp.asarray(a), jnp.asarray(m)
    if a.ndim != 1 or a.shape != m.shape:
        raise ValueError(f"a and m must be (N,) arrays of one shape, got {a.shape} and {m.shape}")
    if _checks.is_concrete(a, m) and not (np.all(np.abs(np.asarray(m)) <= 1)
                                          and np.all(np.isfinite(np.asarray(a)))):
        raise ValueError("overlaps must lie in [-1, 1] and signs be finite")
    link, _, d = _single_index(problem)
    return a, m, link, d


def _cross_kernel(m, moments, link, d):
    """E_{w' ~ mu}[a' K(w . w')] for a neuron of overlap m, mu the symmetric measure: (N,)."""
    s = jnp.sqrt(jnp.maximum(1 - m**2, 0.0))
    out = jnp.zeros_like(m)
    for j, c in enumerate(link.coeffs):
        for r in range(0, j + 1, 2):
            coef = c * c * math.comb(j, r) * _z_moment(r, d)
            out = out + coef * m ** (j - r) * s**r * moments[j - r, r // 2]
    return out


def _self_term(a, m, link, d):
    deg = len(link.coeffs) - 1
    return jnp.mean(a * _cross_kernel(m, _moments(a, m, deg, deg), link, d))


def _overlap_risk(a, m, link, d):
    return 0.5 * (_self_term(a, m, link, d) - 2 * jnp.mean(a * link.profile(m))
                  + sum(c * c for c in link.coeffs))


def overlap_risk(a, m, problem: Problem):
    """Exact risk of the symmetric mean-field measure whose (sign, overlap) law is that of (a, m).

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(4), d=64)
      >>> a, m = mf.overlap_init(jax.random.key(0), 4096, 64)
      >>> round(float(mf.overlap_risk(a, m, problem)), 2)  # K(1) / 2 at the equator
      0.5
    """
    a, m, link, d = _check_overlaps(a, m, problem)
    return _overlap_risk(a, m, link, d)


def _reduced_velocity(a, m, moments, link, d):
    """The velocity of overlap m (sign a) in the symmetric measure with the given moments."""
    s = jnp.sqrt(jnp.maximum(1 - m**2, 0.0))
    interaction = jnp.zeros_like(m)
    coeffs = link.coeffs
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
    return a * overlap_drift(m, link) - a * interaction


def _overlap_velocity(a, m, link, d):
    deg = len(link.coeffs) - 1
    return _reduced_velocity(a, m, _moments(a, m, deg, deg), link, d)


def overlap_velocity(a, m, problem: Problem):
    """dm_i/dt of the symmetric mean-field dynamics, each particle being its overlap: (N,).

    dm/dt = a (1 - m^2) K'(m) - a E_{w'}[a' K'(rho) (m' - m rho)], rho = m m' + s s' z, where the
    expectation over the independent directions (z) and over mu (moments) is exact; the first
    term is :func:`mfutils.overlap_drift`.

    Example:
      >>> import jax.numpy as jnp, mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(2), d=16)
      >>> mf.overlap_velocity(jnp.ones(3), jnp.array([-0.5, 0.0, 0.5]), problem).shape
      (3,)
    """
    a, m, link, d = _check_overlaps(a, m, problem)
    return _overlap_velocity(a, m, link, d)


def _weight_rate(m, moments, link, d):
    """da/dt = K(m) - E_{w' ~ mu}[a' K(w . w')] of a neuron of overlap m (trained weights)."""
    return link.profile(m) - _cross_kernel(m, moments, link, d)


def _overlap_step(ref, dt, problem, train_a=False):
    """Euler step of the reduced mean-field dynamics, overlaps kept in [-1, 1]; with ``train_a``
    each weight moves too, by da/dt = K(m) - E_{w' ~ mu}[a' K(w . w')]."""
    link, d = problem.sigma, problem.d
    deg = len(link.coeffs) - 1
    moments = _moments(ref.a, ref.m, deg, deg)
    m = jnp.clip(ref.m + dt * _reduced_velocity(ref.a, ref.m, moments, link, d), -1.0, 1.0)
    if not train_a:
        return ref._replace(m=m)
    return Overlaps(ref.a + dt * _weight_rate(ref.m, moments, link, d), m)


def _overlaps_step(ref, k, xi, args, train_a=False):
    return _overlap_step(ref, args.dt, args.problem, train_a)


def _overlaps_observe(ref, args, train_a=False):
    out = {"risk": _overlap_risk(ref.a, ref.m, args.problem.sigma, args.problem.d),
           "overlaps": ref.m}
    return {**out, "a": ref.a} if train_a else out


_trained_overlaps_step = partial(_overlaps_step, train_a=True)
_trained_overlaps_observe = partial(_overlaps_observe, train_a=True)


def overlap_flow(a, m, problem: Problem, *, dt: float, t_end: float, train_a: bool = False,
                 every: int | None = None, n_records: int | None = None) -> Run:
    """The mean-field dynamics by the overlap reduction: Euler steps of :func:`overlap_velocity`.

    ``a``, ``m``: (N_ref,) signs and initial overlaps (e.g. from :func:`overlap_init`); they stand
    for the symmetric measure with that (sign, overlap) law. Cost O(N_ref K^2) per step, any d.
    Records ``{"risk", "overlaps"}``; ``final`` is the :class:`Overlaps` at t_end.

    With ``train_a`` the output weights are trained too: the measure stays symmetric, so a neuron
    is still described by its (a, m), and its weight moves by da/dt = K(m) - E_{w' ~ mu}[a' K(w .
    w')], the exact mean-field value of :func:`sphere_flow`'s; ``a`` is then recorded as well.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(4), d=32)
      >>> a, m = mf.overlap_init(jax.random.key(0), 2048, 32)
      >>> run = mf.overlap_flow(a, m, problem, dt=0.1, t_end=40.0, n_records=4)
      >>> bool(run.records["risk"][-1] < 0.2 * run.records["risk"][0])
      True
    """
    a, m, _, _ = _check_overlaps(a, m, problem)
    dt = _checks.positive("dt", dt)
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    step, observe = ((_trained_overlaps_step, _trained_overlaps_observe) if train_a
                     else (_overlaps_step, _overlaps_observe))
    return simulate(step, observe, Overlaps(a, m), _Args(problem, jnp.asarray(dt, m.dtype)),
                    n_steps=n_steps, every=every, time_per_step=dt)


def _mf_distance(params, a_ref, m_ref, problem):
    link, d = problem.sigma, problem.d
    a, w = params
    deg = len(link.coeffs) - 1
    moments = _moments(a_ref, m_ref, deg, deg)
    nn = a @ link.profile(w @ w.T) @ a / a.shape[0] ** 2
    cross = jnp.mean(a * _cross_kernel(w @ problem.teacher.w[0], moments, link, d))
    mfmf = jnp.mean(a_ref * _cross_kernel(m_ref, moments, link, d))
    return nn - 2 * cross + mfmf


def mf_distance(params: Params, a_ref, m_ref, problem: Problem):
    """``||f_N - f_MF||^2 = E_x (f_N(x) - f_MF(x))^2``: N particles against the symmetric measure
    given by (a_ref, m_ref). Three O(1) terms cancel to O(1/N): use float64.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(2), d=8)
      >>> p = mf.sphere_init(jax.random.key(0), 256, 8)
      >>> float(mf.mf_distance(p, p.a, p.w[:, 0], problem)) < 0.05  # O(1/N) from one draw
      True
    """
    _check_sphere(params, problem)
    a_ref, m_ref, _, _ = _check_overlaps(a_ref, m_ref, problem)
    return _mf_distance(params, a_ref, m_ref, problem)


def _each_network(fn, p):
    """fn on one network, or on each of S stacked networks in turn (a leading output axis)."""
    return fn(p) if p.a.ndim == 1 else jax.lax.map(fn, p)


def _gap_step(state, k, xi, args, train_a=False):
    p, ref = state
    return (_each_network(lambda q: _sphere_step(q, args.dt, args.problem, train_a), p),
            _overlap_step(ref, args.dt, args.problem, train_a))


_trained_gap_step = partial(_gap_step, train_a=True)


def _gap_observe(state, args):
    p, (a_ref, m) = state
    link, d = args.problem.sigma, args.problem.d
    moments = _moments(a_ref, m, len(link.coeffs) - 1, len(link.coeffs) - 1)
    own = jax.vmap(jax.grad(lambda mi, ai: _reduced_velocity(ai, mi, moments, link, d)))
    rate = jnp.max(own(jnp.clip(m, -1 + 1e-6, 1 - 1e-6), a_ref))  # d v_i / d m_i, mu held fixed
    network = _each_network(lambda q: {"gap": _mf_distance(q, a_ref, m, args.problem),
                                       "risk": population_risk(q, args.problem)}, p)
    return {**network, "risk_mf": _overlap_risk(a_ref, m, link, d), "rate": rate}


def mf_gap_flow(params: Params, a_ref, m_ref, problem: Problem, *, dt: float, t_end: float,
                train_a: bool = False, every: int | None = None,
                n_records: int | None = None) -> Run:
    """Run N particles (:func:`sphere_flow`) and the mean-field overlaps (:func:`overlap_flow`)
    side by side. Records ``gap`` = ``||f_N - f_MF||^2`` (:func:`mf_distance`), ``risk`` and
    ``risk_mf`` (the particles' and the mean-field risks) and ``rate``: max_i d(dm_i/dt)/dm_i
    along the mean-field overlaps (the rate at which a particle's own overlap amplifies a
    perturbation). ``final`` is (particles, reference :class:`Overlaps`). With ``train_a`` the
    output weights of both are trained (:func:`sphere_flow`, :func:`overlap_flow`).

    ``params`` may hold S networks stacked on a leading axis (``sphere_init(..., seeds=S)``):
    they move one after another in one compiled loop next to one reference, ``gap`` and
    ``risk`` are recorded as (S, records) and the final particles keep the seed axis, while
    ``risk_mf``, ``rate`` and the final reference do not.

    Use float64 (``jax.enable_x64``) for the gap of one network at large N: it is a difference
    of O(1) terms of size O(1/N). In float32 it keeps about three digits at N = 512.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.sphere_problem(mf.hermite(2), d=8)
      >>> p = mf.sphere_init(jax.random.key(0), 128, 8)
      >>> run = mf.mf_gap_flow(p, p.a, p.w[:, 0], problem, dt=0.1, t_end=1.0, n_records=2)
      >>> sorted(run.records)
      ['gap', 'rate', 'risk', 'risk_mf']
      >>> nets = mf.sphere_init(jax.random.key(1), 128, 8, seeds=4)
      >>> a_ref, m_ref = mf.overlap_init(jax.random.key(2), 4096, 8)
      >>> run = mf.mf_gap_flow(nets, a_ref, m_ref, problem, dt=0.1, t_end=1.0, n_records=2)
      >>> run.records["gap"].shape, run.records["risk_mf"].shape
      ((4, 3), (3,))
    """
    _check_sphere(params, problem, seeds_ok=True)
    seeds = params.a.shape[0] if params.a.ndim == 2 else None
    a_ref, m_ref, _, _ = _check_overlaps(a_ref, m_ref, problem)
    dt = _checks.positive("dt", dt)
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    run = simulate(_trained_gap_step if train_a else _gap_step, _gap_observe,
                   (params, Overlaps(a_ref, m_ref)), _Args(problem, jnp.asarray(dt, m_ref.dtype)),
                   n_steps=n_steps, every=every, time_per_step=dt)
    if seeds is None:
        return run
    return run._replace(records={k: v.T if k in ("gap", "risk") else v
                                 for k, v in run.records.items()})
