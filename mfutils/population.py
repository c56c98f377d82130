"""Exact population quantities under Gaussian inputs: risk R, first variation V_mu, velocity.

All expectations over x ~ N(0, I_d) are closed-form kernel sums (see :mod:`mfutils.activations`),
so these functions cost O(N^2 d) and are differentiated exactly by JAX.
"""
from __future__ import annotations

from functools import partial

import jax

from .network import Params, Problem, Scaling, output_scale, time_scale

__all__ = ["population_risk", "first_variation", "weighted_first_variation", "velocity"]


@partial(jax.jit, static_argnames="scaling")
def population_risk(params: Params, problem: Problem, scaling: Scaling = "mean-field"):
    """R(mu^N) = 1/2 E (f_N(x) - y)^2, exactly.

    Expands the square into kernel sums: 1/2 [s^2 a'K(w,w)a - 2 s a'K(w,u)b + b'K(u,u)b].
    """
    a, w = params
    b, u = problem.teacher
    s = output_scale(a.shape[-1], scaling)
    sig, sig_star = problem.sigma, problem.sigma_star
    student = s**2 * a @ sig.kernel(w, w) @ a
    cross = s * a @ sig.kernel(w, u, sig_star) @ b
    teacher = b @ sig_star.kernel(u, u) @ b
    return 0.5 * (student - 2.0 * cross + teacher)


@partial(jax.jit, static_argnames="scaling")
def first_variation(theta: Params, params: Params, problem: Problem,
                    scaling: Scaling = "mean-field"):
    """V_mu(theta) = E[(f_mu(x) - y) phi(theta; x)], phi(theta; x) = a sigma(w . x).

    Args:
      theta: the points where V is evaluated, a (M,), w (M, d).
      params: the particles defining mu = mu^N (a (N,), w (N, d)).
    Returns:
      an (M,) array. In the mean-field scaling ``grad V_{mu^N}(theta_i) = N grad_{theta_i} R``.
    """
    return weighted_first_variation(theta, params, output_scale(params.a.shape[-1], scaling),
                                    problem)


@jax.jit
def weighted_first_variation(theta: Params, params: Params, weights, problem: Problem):
    """V_mu(theta) for the weighted measure mu = sum_j m_j delta_{theta_j}, weights m (N,) or a
    scalar (m_j = 1/N gives :func:`first_variation`); theta: a (M,), w (M, d). Returns (M,).

    The weights need not sum to one: this is what lets chapter 4 differentiate with respect to them.
    """
    b, u = problem.teacher
    sig = problem.sigma
    residual = (sig.kernel(theta.w, params.w) @ (weights * params.a)
                - sig.kernel(theta.w, u, problem.sigma_star) @ b)
    return theta.a * residual


@partial(jax.jit, static_argnames="scaling")
def velocity(params: Params, problem: Problem, scaling: Scaling = "mean-field") -> Params:
    """The particle velocity -time_scale(N) grad_{theta_i} R, as Params of the same shapes.

    Mean-field scaling: -N grad_{theta_i} R = -grad V_{mu^N}(theta_i), the particle gradient flow.
    NTK scaling: -grad_{theta_i} R, plain gradient flow on the 1/sqrt(N) network.
    """
    c = -time_scale(params.a.shape[-1], scaling)
    return jax.tree.map(lambda g: c * g, jax.grad(population_risk)(params, problem, scaling))
