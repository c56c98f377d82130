"""The erf teacher-student testbed of chapters 1-4."""
from __future__ import annotations

import jax.numpy as jnp

from . import _checks
from .activations import erf
from .network import Params, Problem

__all__ = ["erf_testbed"]


def erf_testbed(d: int = 5, dtype=None) -> Problem:
    """f*(x) = 1.5 erf(u1 . x) - erf(u2 . x), u1 = e1, u2 = e2 (orthonormal), student sigma = erf.

    The book pairs it with a ~ N(0, 1), w ~ N(0, I/d): :func:`mfutils.init_params`' default.
    ``dtype`` defaults to the current mode's float (float64 under ``jax_enable_x64``).

    Example:
      >>> import mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> problem.d, problem.teacher.a.tolist()
      (5, [1.5, -1.0])
    """
    d, dtype = _checks.count("d", d, minimum=2), _checks.float_dtype(dtype)
    u = jnp.eye(2, d, dtype=dtype)
    return Problem(Params(jnp.asarray([1.5, -1.0], dtype), u), erf, erf)
