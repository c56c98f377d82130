"""Propagation of chaos: Sznitman's synchronous coupling and the constants of the Gronwall bound.

The mean-field velocity is v_mu(theta) = -grad V_mu(theta) = F(theta) + int K(theta, theta') mu(dtheta'),
with the teacher force F(theta) = grad_theta[a sum_j b_j k*(w, u_j)] and the pair interaction
K(theta, theta') = -grad_theta[a a' k(w, w')], k and k* the exact Gaussian kernels of the problem.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .dynamics import _checked_seeds, _integrate
from .network import Params, Problem
from .population import velocity, weighted_first_variation

__all__ = ["Coupled", "CouplingRun", "synchronous_coupling", "squared_distance", "mean_field_velocity",
           "velocity_jacobian", "interaction", "interaction_jacobian", "gronwall_bound"]


class Coupled(NamedTuple):
    """The three systems of the coupling: ``interacting`` theta_i (N), ``nonlinear`` theta_bar_i (N,
    same initial draws, driven by the reference measure) and ``reference`` (N_ref particles whose
    empirical measure stands in for the limit mu_t)."""

    interacting: Params
    nonlinear: Params
    reference: Params


class CouplingRun(NamedTuple):
    """``final``: the Coupled state at the end; ``times`` (R + 1,); ``observables``: the recorded
    ``observe(state)`` pytree, each leaf with a leading (R + 1,) axis."""

    final: Coupled
    times: jax.Array
    observables: Any


def _flat(theta: Params):
    """Particles as rows of coordinates (a, w_1, ..., w_d): shape (M, 1 + d)."""
    return jnp.concatenate([theta.a[:, None], theta.w], axis=1)


def mean_field_velocity(theta: Params, params: Params, problem: Problem, weights=None) -> Params:
    """v_mu(theta) = -grad V_mu(theta) at points theta (a (M,), w (M, d)), mu the measure of params:
    the empirical measure, or sum_j m_j delta_{theta_j} for ``weights`` m (N,)."""
    m = 1.0 / params.a.shape[-1] if weights is None else weights
    return jax.tree.map(jnp.negative, jax.grad(
        lambda th: weighted_first_variation(th, params, m, problem).sum())(theta))


def velocity_jacobian(theta: Params, params: Params, problem: Problem):
    """The local Hessian: grad_theta v_mu(theta) = -Hess V_mu(theta), shape (M, 1 + d, 1 + d).

    Coordinates are ordered (a, w_1, ..., w_d). The matrix is symmetric (v is a gradient field).
    """
    def v_single(z):
        v = mean_field_velocity(Params(z[:1], z[None, 1:]), params, problem)
        return _flat(v)[0]

    return jax.vmap(jax.jacfwd(v_single))(_flat(theta))


def _pair_potential(z, zp, problem):
    """a a' k(w, w') for flat z = (a, w), zp = (a', w')."""
    return z[0] * zp[0] * problem.sigma.kernel(z[None, 1:], zp[None, 1:])[0, 0]


def _pair_interaction(z, zp, problem):
    """K(z, zp) = -grad_z [a a' k(w, w')] for one pair of flat particles."""
    return -jax.grad(_pair_potential)(z, zp, problem)


def interaction(theta: Params, theta_p: Params, problem: Problem):
    """K(theta_i, theta'_i) = -grad_theta [a a' k(w, w')] for paired rows, shape (M, 1 + d)."""
    return jax.vmap(_pair_interaction, (0, 0, None))(_flat(theta), _flat(theta_p), problem)


def interaction_jacobian(theta: Params, theta_p: Params, problem: Problem):
    """grad_{theta'} K(theta_i, theta'_i) for paired rows, shape (M, 1 + d, 1 + d)."""
    return jax.vmap(jax.jacfwd(_pair_interaction, argnums=1), (0, 0, None))(
        _flat(theta), _flat(theta_p), problem)


def _coupled_step(state, problem, key, k, lr, scaling):
    """One Euler step of the three systems, with the same step size."""
    inter = velocity(state.interacting, problem)                      # -grad V_{mu^N}(theta_i)
    nonlin = mean_field_velocity(state.nonlinear, state.reference, problem)  # -grad V_{mu_ref}
    ref = velocity(state.reference, problem)
    move = lambda p, v: jax.tree.map(lambda x, y: x + lr * y, p, v)  # noqa: E731
    return Coupled(move(state.interacting, inter), move(state.nonlinear, nonlin),
                   move(state.reference, ref))


def synchronous_coupling(params: Params, reference: Params, problem: Problem, *, dt: float,
                         n_steps: int, every: int = 1,
                         observe: Callable[[Coupled], Any] | None = None) -> CouplingRun:
    """Sznitman's synchronous coupling, by explicit Euler.

    theta_i(t): the N interacting particles (the particle gradient flow from ``params``);
    theta_bar_i(t): N nonlinear particles from the *same* initial draws, each moved by the velocity
    field -grad V_{mu_t} of the limit, which is approximated by the empirical measure of an
    independent ``reference`` system of N_ref particles run alongside (take N_ref >= 8 N: its own
    error, of order N_ref^-1/2, then adds at most a fraction N / N_ref to ``N E|theta - theta_bar|^2``).

    Args:
      params: a (N,), w (N, d); reference: a (N_ref,), w (N_ref, d); or both with the same
        leading seed axis (S independent couplings, batched with vmap).
      observe: ``Coupled -> pytree``, recorded every ``every`` steps and at t = 0. The default
        records ``mean_i |theta_i - theta_bar_i|^2``.
    """
    seeds = _checked_seeds(params, problem)
    if _checks.params_shape(reference, problem.d)[0] != seeds:
        raise ValueError("params and reference need the same seed axis")
    dt = _checks.positive("dt", dt)
    final, times, records = _integrate(
        Coupled(params, params, reference), problem, jax.random.key(0), seeds=seeds, lr=dt,
        time_per_step=dt, step=_coupled_step, scaling="mean-field", n_steps=n_steps, every=every,
        observe=squared_distance if observe is None else observe)
    return CouplingRun(final, times, records)


def squared_distance(state: Coupled):
    """``mean_i |theta_i - theta_bar_i|^2`` over the coupled pairs."""
    da = state.interacting.a - state.nonlinear.a
    dw = state.interacting.w - state.nonlinear.w
    return jnp.mean(da**2 + jnp.sum(dw**2, axis=-1))


def gronwall_bound(t, n: int, lipschitz: float, bound_b: float):
    """(B / (L sqrt(N))) (e^{2 L t} - 1): the bound of the chapter-3 theorem on
    ``(E|theta_i(t) - theta_bar_i(t)|^2)^{1/2}``."""
    lipschitz = _checks.positive("L", lipschitz)
    bound_b = _checks.positive("B", bound_b)
    n = _checks.count("N", n)
    return bound_b / (lipschitz * np.sqrt(n)) * np.expm1(2 * lipschitz * np.asarray(t, float))
