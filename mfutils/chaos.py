"""Propagation of chaos: Sznitman's synchronous coupling and the constants of the Gronwall bound.

The mean-field velocity is v_mu(theta) = -grad V_mu(theta) = F(theta) + int K(theta, theta') mu(dtheta'),
with the teacher force F(theta) = grad_theta[a sum_j b_j k*(w, u_j)] and the pair interaction
K(theta, theta') = -grad_theta[a a' k(w, w')], k and k* the exact Gaussian kernels of the problem.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .dynamics import StepArgs
from .loop import Run, observer, simulate
from .network import Params, Problem
from .population import _rows_per_block, _seeds_in_turn, velocity, velocity_field

__all__ = ["Coupled", "synchronous_coupling", "squared_distance", "velocity_jacobian",
           "interaction", "interaction_jacobian", "gronwall_bound"]


class Coupled(NamedTuple):
    """The three systems of the coupling: ``interacting`` theta_i (N), ``nonlinear`` theta_bar_i (N,
    same initial draws, driven by the reference measure) and ``reference`` (N_ref particles whose
    empirical measure stands in for the limit mu_t)."""

    interacting: Params
    nonlinear: Params
    reference: Params


def _flat(theta: Params):
    """Particles as rows of coordinates (a, w_1, ..., w_d): shape (M, 1 + d)."""
    return jnp.concatenate([theta.a[:, None], theta.w], axis=1)


def velocity_jacobian(theta: Params, params: Params, problem: Problem):
    """The local Hessian: grad_theta v_mu(theta) = -Hess V_mu(theta), shape (M, 1 + d, 1 + d).

    Coordinates are ordered (a, w_1, ..., w_d). The matrix is symmetric (v is a gradient field).

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> params = mf.init_params(jax.random.key(0), 8, 5)
      >>> mf.velocity_jacobian(params, params, problem).shape
      (8, 6, 6)
    """
    def v_single(z):
        v = velocity_field(Params(z[:1], z[None, 1:]), params, problem)
        return _flat(v)[0]

    return jax.vmap(jax.jacfwd(v_single))(_flat(theta))


def _pair_potential(z, zp, problem):
    """a a' k(w, w') for flat z = (a, w), zp = (a', w')."""
    return z[0] * zp[0] * problem.sigma.kernel(z[None, 1:], zp[None, 1:])[0, 0]


def _pair_interaction(z, zp, problem):
    """K(z, zp) = -grad_z [a a' k(w, w')] for one pair of flat particles."""
    return -jax.grad(_pair_potential)(z, zp, problem)


def interaction(theta: Params, theta_p: Params, problem: Problem):
    """K(theta_i, theta'_i) = -grad_theta [a a' k(w, w')] for paired rows, shape (M, 1 + d).

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> p, q = (mf.init_params(jax.random.key(s), 3, 5) for s in (0, 1))
      >>> mf.interaction(p, q, problem).shape
      (3, 6)
    """
    return jax.vmap(_pair_interaction, (0, 0, None))(_flat(theta), _flat(theta_p), problem)


def interaction_jacobian(theta: Params, theta_p: Params, problem: Problem):
    """grad_{theta'} K(theta_i, theta'_i) for paired rows, shape (M, 1 + d, 1 + d).

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> p, q = (mf.init_params(jax.random.key(s), 3, 5) for s in (0, 1))
      >>> mf.interaction_jacobian(p, q, problem).shape
      (3, 6, 6)
    """
    return jax.vmap(jax.jacfwd(_pair_interaction, argnums=1), (0, 0, None))(
        _flat(theta), _flat(theta_p), problem)


@functools.cache
def _coupled_step(rows, rows_ref):
    def step(state, k, xi, args):
        """One Euler step of the three systems, with the same step size."""
        inter = velocity(state.interacting, args.problem, rows=rows)  # -grad V_{mu^N}(theta_i)
        nonlin = velocity_field(state.nonlinear, state.reference, args.problem,
                                rows=rows_ref)                       # -grad V_{mu_ref}(theta_bar_i)
        ref = velocity(state.reference, args.problem, rows=rows_ref)
        move = lambda p, v: jax.tree.map(lambda x, y: x + args.dt * y, p, v)  # noqa: E731
        return Coupled(move(state.interacting, inter), move(state.nonlinear, nonlin),
                       move(state.reference, ref))
    return step


def _sq_distance(state, args):
    return {"sq_distance": squared_distance(state)}


def synchronous_coupling(params: Params, reference: Params, problem: Problem, *, dt: float,
                         t_end: float, every: int | None = None, n_records: int | None = None,
                         observe: Callable[[Coupled], Any] | None = None,
                         shard_seeds: bool = True) -> Run:
    """Sznitman's synchronous coupling, by explicit Euler.

    theta_i(t): the N interacting particles (the particle gradient flow from ``params``);
    theta_bar_i(t): N nonlinear particles from the *same* initial draws, each moved by the velocity
    field -grad V_{mu_t} of the limit, which is approximated by the empirical measure of an
    independent ``reference`` system of N_ref particles run alongside (take N_ref >= 8 N: its own
    error, of order N_ref^-1/2, then adds about a fraction N / N_ref to ``N E|theta - theta_bar|^2``).

    Args:
      params: a (N,), w (N, d); reference: a (N_ref,), w (N_ref, d); or both with the same
        leading seed axis (S independent couplings).
      dt, t_end, every, n_records: as in :func:`mfutils.particle_flow`.
      observe: ``Coupled -> dict``, recorded at t = 0 and every ``every`` steps. The default
        records ``{"sq_distance": mean_i |theta_i - theta_bar_i|^2}``.
      shard_seeds: as in :func:`mfutils.particle_flow`.
    Returns:
      a :class:`~mfutils.Run` whose ``final`` is a :class:`Coupled`.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> p, ref = (mf.init_params(jax.random.key(s), n, 5) for s, n in ((0, 16), (1, 128)))
      >>> run = mf.synchronous_coupling(p, ref, problem, dt=0.1, t_end=1.0, every=5)
      >>> run.records["sq_distance"].shape, float(run.records["sq_distance"][0])
      ((3,), 0.0)
    """
    seeds = _checks.problem_seeds(params, problem)
    if _checks.params_shape(reference, problem.d)[0] != seeds:
        raise ValueError("params and reference need the same seed axis")
    dt = _checks.positive("dt", dt)
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    in_turn = _seeds_in_turn(reference.a.shape[-1], problem.d)   # the reference costs most
    batch = 1 if in_turn else seeds or 1    # seeds batched together share the blocks' cache
    rows = _rows_per_block(params.a.shape[-1], batch, problem.d)
    rows_ref = _rows_per_block(reference.a.shape[-1], batch, problem.d)
    return simulate(_coupled_step(rows, rows_ref), _sq_distance if observe is None else observer(observe),
                    Coupled(params, params, reference),
                    StepArgs(problem, jnp.asarray(dt, params.a.dtype)), n_steps=n_steps,
                    every=every, time_per_step=dt, seeds=seeds, shard_seeds=shard_seeds,
                    seeds_in_turn=in_turn)


def squared_distance(state: Coupled):
    """``mean_i |theta_i - theta_bar_i|^2`` over the coupled pairs (a scalar).

    Example:
      >>> import jax, mfutils as mf
      >>> p = mf.init_params(jax.random.key(0), 4, 3)
      >>> float(mf.squared_distance(mf.Coupled(p, p, p)))
      0.0
    """
    da = state.interacting.a - state.nonlinear.a
    dw = state.interacting.w - state.nonlinear.w
    return jnp.mean(da**2 + jnp.sum(dw**2, axis=-1))


def gronwall_bound(t, n: int, lipschitz: float, bound_b: float):
    """(B / (L sqrt(N))) (e^{2 L t} - 1): the bound of the chapter-3 theorem on
    ``(E|theta_i(t) - theta_bar_i(t)|^2)^{1/2}``.

    Example:
      >>> round(float(gronwall_bound(0.5, n=100, lipschitz=1.0, bound_b=1.0)), 6)  # (e - 1) / 10
      0.171828
    """
    lipschitz = _checks.positive("L", lipschitz)
    bound_b = _checks.positive("B", bound_b)
    n = _checks.count("N", n)
    return bound_b / (lipschitz * np.sqrt(n)) * np.expm1(2 * lipschitz * np.asarray(t, float))
