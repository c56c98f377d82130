"""Input validation shared by the public functions: clear ValueErrors instead of crashes or NaNs."""
from __future__ import annotations

import math

import jax
import numpy as np


def is_concrete(*trees) -> bool:
    """True when no leaf is a tracer, i.e. values can be inspected (outside jit/vmap)."""
    return not any(isinstance(leaf, jax.core.Tracer) for t in trees for leaf in jax.tree.leaves(t))


def positive(name: str, value) -> float:
    """A finite, strictly positive number (a step size, a time, a rate)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return x


def count(name: str, value, minimum: int = 1) -> int:
    """An integer >= minimum (a width, a number of steps or seeds)."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def schedule(n_steps, every) -> tuple[int, int]:
    """A number of steps and a record interval dividing it; every=None records about 200 times."""
    n_steps = count("n_steps", n_steps)
    every = max(n_steps // 200, 1) if every is None else count("every", every)
    if n_steps % every:
        raise ValueError(f"n_steps = {n_steps} must be a multiple of every = {every}")
    return n_steps, every


def link_coeffs(coeffs) -> tuple[float, ...]:
    """Hermite coefficients (c_0, c_1, ...) of a link: finite, with a non-zero term of degree >= 1."""
    c = tuple(float(x) for x in coeffs)
    if len(c) < 2 or not all(math.isfinite(x) for x in c) or not any(c[1:]):
        raise ValueError(f"coeffs must be finite with a non-zero term of degree >= 1, got {coeffs!r}")
    return c


def level(value) -> None:
    """A confidence level strictly between 0 and 1."""
    if not 0 < value < 1:
        raise ValueError(f"level must be in (0, 1), got {value}")


def params_shape(params, d: int | None = None) -> tuple[int | None, int, int]:
    """Check a (possibly seed-batched) Params pytree; return (seeds or None, N, d).

    Accepts a: (N,), w: (N, d), or with a leading seed axis a: (S, N), w: (S, N, d).
    """
    a, w = np.shape(params.a), np.shape(params.w)
    if len(a) not in (1, 2) or len(w) != len(a) + 1 or w[:-1] != a:
        raise ValueError(f"params need a: (N,) and w: (N, d) (optionally with a leading seed axis); "
                         f"got a: {a}, w: {w}")
    if a[-1] < 1:
        raise ValueError("the network needs N >= 1 neurons")
    if d is not None and w[-1] != d:
        raise ValueError(f"params have input dimension {w[-1]}, the problem has d = {d}")
    if is_concrete(params) and not all(np.isfinite(np.asarray(x)).all() for x in params):
        raise ValueError("params contain non-finite values (nan or inf)")
    return (a[0] if len(a) == 2 else None), a[-1], w[-1]
