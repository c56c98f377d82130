"""Mean-field Langevin dynamics: the particle gradient flow with temperature and confinement.

The particles follow the Euler-Maruyama scheme of

    d theta_i = -(grad V_{mu^N_t}(theta_i) + lam theta_i) dt + sqrt(2 tau) dB^i_t,

the noisy gradient flow of the free energy F(mu) = R(mu) + (lam/2) int theta . theta dmu
+ tau int mu log mu (Mei-Montanari-Nguyen's noisy SGD in continuous time). At tau = lam = 0 a
step is exactly one step of :func:`mfutils.particle_flow`. The free energy of the particles is
estimated with a k-nearest-neighbour entropy (:func:`mfutils.knn_entropy`) in R^{d+1}.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .dynamics import _risk
from .loop import Run, observer, simulate
from .network import Params, Problem
from .population import _rows_per_block, _seeds_in_turn, _velocity, population_risk
from .stats import knn_entropy

__all__ = ["langevin_flow", "free_energy"]


class LangevinArgs(NamedTuple):
    """What a Langevin step reads: the problem, the step, the temperature tau and the
    confinement lam (all in the particles' dtype)."""

    problem: Problem
    dt: jax.Array
    temperature: jax.Array
    confinement: jax.Array


@functools.cache
def _langevin_step(rows):
    def step(params, k, key, args):
        """theta <- theta + dt (v - lam theta) + sqrt(2 tau dt) xi, xi ~ N(0, I) per coordinate."""
        v = _velocity(params, args.problem, "mean-field", rows)
        ka, kw = jax.random.split(key)
        xi = Params(jax.random.normal(ka, params.a.shape, params.a.dtype),
                    jax.random.normal(kw, params.w.shape, params.w.dtype))
        kick = jnp.sqrt(2.0 * args.temperature * args.dt)
        return jax.tree.map(lambda p, v, z: p + args.dt * (v - args.confinement * p) + kick * z,
                            params, v, xi)
    return step


def _step_key(key, args):
    """A step's randomness is its own key (the step draws the Gaussian kicks of every particle)."""
    return key


def langevin_flow(params: Params, problem: Problem, key, *, dt: float, t_end: float,
                  temperature: float, confinement: float = 0.0,
                  observe: Callable | None = None, every: int | None = None,
                  n_records: int | None = None, shard_seeds: bool = True) -> Run:
    """Mean-field Langevin dynamics of the particles (mean-field scaling), by Euler-Maruyama:

        theta_i <- theta_i + dt (-grad V_{mu^N}(theta_i) - lam theta_i) + sqrt(2 tau dt) xi_i,

    with xi_i independent standard Gaussians in R^{d+1} (every particle, every step).

    Args:
      params: a (N,), w (N, d), or seed-batched (S, N), (S, N, d).
      problem: the teacher and activations (exact population risk: the noise is the Brownian
        motion alone, not sampling).
      key: PRNG key of the Brownian increments (the key policy of :func:`mfutils.loop.simulate`:
        results do not depend on ``every``).
      dt: Euler-Maruyama step (> 0); t_end: the horizon, a whole number of steps.
      temperature: tau >= 0 (tau = 0: the gradient flow); confinement: lam >= 0, the weight of
        the L^2 penalty (lam/2) int theta . theta dmu.
      observe, every, n_records, shard_seeds: as in :func:`mfutils.particle_flow`; the default
        record is ``{"risk": R(mu^N)}`` (the risk, not the free energy).

    Returns:
      a :class:`~mfutils.Run` whose ``final`` is the particles at t_end.

    Raises:
      DivergenceError: if the particles become non-finite (the message names the step).
      ValueError: for bad shapes, a non-positive step, a negative or non-finite temperature or
        confinement, non-finite parameters or a missing key.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> params = mf.init_params(jax.random.key(0), 64, 5, seeds=2)
      >>> run = mf.langevin_flow(params, problem, jax.random.key(1), dt=0.1, t_end=2.0,
      ...                        temperature=0.01, confinement=0.01, n_records=4)
      >>> run.records["risk"].shape
      (2, 5)
    """
    dt = _checks.positive("dt", dt)
    tau = _checks.non_negative("temperature", temperature)
    lam = _checks.non_negative("confinement", confinement)
    if key is None:
        raise ValueError("langevin_flow needs a PRNG key for the Brownian increments")
    seeds = _checks.problem_seeds(params, problem)
    n = params.a.shape[-1]
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    in_turn = _seeds_in_turn(n, problem.d)
    rows = _rows_per_block(n, 1 if in_turn else seeds or 1, problem.d)
    dtype = params.a.dtype
    args = LangevinArgs(problem, *(jnp.asarray(x, dtype) for x in (dt, tau, lam)))
    return simulate(_langevin_step(rows), _risk("mean-field") if observe is None
                    else observer(observe),
                    params, args, key, n_steps=n_steps, every=every, time_per_step=dt,
                    seeds=seeds, noise=_step_key, shard_seeds=shard_seeds,
                    seeds_in_turn=in_turn)


def free_energy(params: Params, problem: Problem, *, temperature: float,
                confinement: float = 0.0, k: int = 4) -> dict:
    """The free energy F(mu^N) = R + (lam/2) int theta . theta dmu^N + tau int mu log mu of the
    particles, with the entropy of their law estimated from the particles themselves.

    The negative entropy int mu log mu is estimated by :func:`mfutils.knn_entropy` of the N
    points theta_i in R^{d+1} (its bias grows with the dimension: it is reliable for d + 1 up to
    about 5 with N of a few hundred). R and the confinement term are exact for mu^N.

    Args:
      params: a (N,), w (N, d), or seed-batched (one value per seed).
    Returns:
      dict of ``risk``, ``confinement`` ((lam/2) mean theta_i . theta_i), ``entropy`` (the estimated
      differential entropy H = -int mu log mu) and ``free_energy`` (risk + confinement - tau H).

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=2)
      >>> params = mf.init_params(jax.random.key(0), 256, 2)
      >>> sorted(mf.free_energy(params, problem, temperature=0.1))
      ['confinement', 'entropy', 'free_energy', 'risk']
    """
    tau = _checks.non_negative("temperature", temperature)
    lam = _checks.non_negative("confinement", confinement)
    seeds = _checks.problem_seeds(params, problem)
    points = jnp.concatenate([params.a[..., None], params.w], axis=-1)
    risk = np.asarray(population_risk(params, problem))
    conf = 0.5 * lam * np.asarray(jnp.mean(jnp.sum(points**2, axis=-1), axis=-1))
    if seeds is None:
        entropy = knn_entropy(points, k=k)
    else:
        entropy = np.array([knn_entropy(p, k=k) for p in points])
    return {"risk": risk, "confinement": conf, "entropy": entropy,
            "free_energy": risk + conf - tau * entropy}
