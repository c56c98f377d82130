"""The erf teacher-student testbed of chapters 1-4."""
from __future__ import annotations

import jax.numpy as jnp

from . import _checks
from .activations import erf
from .network import Params, Problem

__all__ = ["erf_testbed"]


def erf_testbed(d: int = 5, dtype=jnp.float32) -> Problem:
    """f*(x) = 1.5 erf(u1 . x) - erf(u2 . x), u1 = e1, u2 = e2 (orthonormal), student sigma = erf.

    The book pairs it with a ~ N(0, 1), w ~ N(0, I/d): :func:`mfutils.init_params`' default.
    """
    d = _checks.count("d", d, minimum=2)
    u = jnp.eye(2, d, dtype=dtype)
    return Problem(Params(jnp.asarray([1.5, -1.0], dtype), u), erf, erf)
