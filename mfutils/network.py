"""Two-layer networks f_N(x) = s_N sum_i a_i sigma(w_i . x) in mean-field and NTK scalings.

The empirical measure mu^N = (1/N) sum_i delta_{theta_i}, theta_i = (a_i, w_i), is stored as a
:class:`Params` pytree. In the mean-field scaling s_N = 1/N, so f_N = <phi(.; x), mu^N> with the
unit phi(theta; x) = a sigma(w . x); in the lazy/NTK scaling s_N = 1/sqrt(N).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Literal, NamedTuple

import jax
import jax.numpy as jnp

from . import _checks
from .activations import Activation

__all__ = ["Params", "Problem", "Scaling", "output_scale", "time_scale", "network", "target",
           "init_params"]

Scaling = Literal["mean-field", "ntk"]


class Params(NamedTuple):
    """Particles theta_i = (a_i, w_i): ``a`` (N,) output weights, ``w`` (N, d) input weights.

    A leading seed axis (a: (S, N), w: (S, N, d)) denotes S independent networks.
    """

    a: jax.Array
    w: jax.Array


@jax.tree_util.register_dataclass
@dataclass(frozen=True)
class Problem:
    """A teacher-student problem with target y = f*(x) = sum_j b_j sigma_star(u_j . x).

    Attributes:
      teacher: Params with a = b (M,) and w = u (M, d); summed without normalisation.
      sigma: the student's activation (static under jit).
      sigma_star: the teacher's activation (static under jit).
    """

    teacher: Params
    sigma: Activation = field(metadata=dict(static=True))
    sigma_star: Activation = field(metadata=dict(static=True))

    @property
    def d(self) -> int:
        """Input dimension d."""
        return self.teacher.w.shape[-1]


def output_scale(n: int, scaling: Scaling = "mean-field") -> float:
    """s_N: 1/N (mean-field) or 1/sqrt(N) (NTK).

    Example:
      >>> output_scale(16), output_scale(16, "ntk")
      (0.0625, 0.25)
    """
    return float(n) ** -_checks.scaling(scaling)


def time_scale(n: int, scaling: Scaling = "mean-field") -> float:
    """The factor N^{2 beta - 1} with s_N = N^-beta that makes each particle move at O(1) speed
    per unit time when f changes at O(1) speed: N (mean-field), 1 (NTK).

    With it, d theta_i/dt = -time_scale * grad_{theta_i} R; in the mean-field scaling this is
    exactly -grad V_{mu^N}(theta_i).

    Example:
      >>> time_scale(16), time_scale(16, "ntk")
      (16.0, 1.0)
    """
    return float(n) ** (2.0 * _checks.scaling(scaling) - 1.0)


@partial(jax.jit, static_argnames=("sigma", "scaling"))
def network(params: Params, x, sigma: Activation, scaling: Scaling = "mean-field"):
    """f_N(x) = s_N sum_i a_i sigma(w_i . x).

    Args:
      params: a (N,), w (N, d).
      x: inputs (..., d).
    Returns:
      the outputs, an array of shape ``x.shape[:-1]``.

    Example:
      >>> import jax, mfutils as mf
      >>> params = mf.init_params(jax.random.key(0), 8, 5)
      >>> mf.network(params, jax.numpy.ones((3, 5)), mf.erf).shape
      (3,)
    """
    n = params.a.shape[-1]
    return output_scale(n, scaling) * sigma(jnp.asarray(x) @ params.w.T) @ params.a


@jax.jit
def target(problem: Problem, x):
    """The teacher's output y = f*(x) for inputs x (..., d); returns shape x.shape[:-1].

    Example:
      >>> import jax.numpy as jnp, mfutils as mf
      >>> round(float(mf.target(mf.erf_testbed(d=5), jnp.zeros(5).at[0].set(1.0))), 4)  # 1.5 erf(1)
      1.2641
    """
    return problem.sigma_star(jnp.asarray(x) @ problem.teacher.w.T) @ problem.teacher.a


def standard_normal(key, shape: tuple[int, ...], dtype) -> jax.Array:
    """i.i.d. N(0, 1) of the given shape, drawn flat and reshaped: XLA compiles a 1-D normal
    several times faster than a 3-D one (and the draws are those of the flat call)."""
    return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape)


def standard_normals(keys, shapes: tuple[tuple[int, ...], ...], dtype) -> tuple[jax.Array, ...]:
    """One :func:`standard_normal` array per key and shape, for use inside an initialiser's
    ``jit``. The optimisation barrier keeps the initialiser's scaling from being merged into the
    draw's own arithmetic, so a scaled draw equals, bit for bit, the same formula run operation by
    operation (an added shift may still be fused with the draw's last product: one rounding
    instead of two). Run operation by operation, each of an initialiser's operations compiles, and
    JAX keeps, a program of a few MB for every new width; compiled whole, it costs one."""
    return jax.lax.optimization_barrier(
        tuple(standard_normal(k, s, dtype) for k, s in zip(keys, shapes)))


def init_params(key, n: int, d: int, *, seeds: int | None = None, a_std: float = 1.0,
                w_std: float | None = None, dtype=None) -> Params:
    """i.i.d. particles a_i ~ N(0, a_std^2), w_i ~ N(0, w_std^2 I_d), w_std = 1/sqrt(d) by default.

    With ``seeds=S`` returns S independent networks stacked on a leading axis (a: (S, N),
    w: (S, N, d)), ready for the seed-batched dynamics.

    Example:
      >>> import jax, mfutils as mf
      >>> p = mf.init_params(jax.random.key(0), 16, 5, seeds=3)
      >>> p.a.shape, p.w.shape
      ((3, 16), (3, 16, 5))
    """
    n, d = _checks.count("N", n), _checks.count("d", d)
    a_std = _checks.positive("a_std", a_std)
    w_std = d**-0.5 if w_std is None else _checks.positive("w_std", w_std)
    dtype = _checks.float_dtype(dtype)
    shape = (n,) if seeds is None else (_checks.count("seeds", seeds), n)
    return _init_params(key, a_std, w_std, shapes=(shape, shape + (d,)), dtype=dtype)


@partial(jax.jit, static_argnames=("shapes", "dtype"))
def _init_params(key, a_std, w_std, *, shapes, dtype) -> Params:
    a, w = standard_normals(jax.random.split(key), shapes, dtype)
    return Params(a_std * a, w_std * w)
