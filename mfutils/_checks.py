"""Input validation shared by the public functions: clear ValueErrors instead of crashes or NaNs."""
from __future__ import annotations

import math

import jax
import numpy as np


def is_concrete(*trees) -> bool:
    """True when no leaf is a tracer, i.e. values can be inspected (outside jit/vmap)."""
    return not any(isinstance(leaf, jax.core.Tracer) for t in trees for leaf in jax.tree.leaves(t))


def float_dtype(dtype=None):
    """The given dtype, or the default float of the current mode (float64 under jax_enable_x64)."""
    return jax.dtypes.canonicalize_dtype(float if dtype is None else dtype)


def unit_rows(name: str, w, atol: float = 1e-4) -> None:
    """Rows of w have unit norm (checked only when w is concrete)."""
    if is_concrete(w):
        norms = np.linalg.norm(np.asarray(w, float), axis=-1)
        if norms.size and not np.allclose(norms, 1.0, atol=atol):
            raise ValueError(f"{name} must have unit-norm rows (Hermite kernels are exact only on "
                             f"the sphere); norms range over [{norms.min():.4g}, {norms.max():.4g}]")


def positive(name: str, value) -> float:
    """A finite, strictly positive number (a step size, a time, a rate)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(x) or x <= 0:
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return x


def non_negative(name: str, value) -> float:
    """A finite number >= 0 (a temperature, a penalty weight)."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number >= 0, got {value!r}") from None
    if not math.isfinite(x) or x < 0:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return x


def count(name: str, value, minimum: int = 1) -> int:
    """An integer >= minimum (a width, a number of steps or seeds)."""
    if isinstance(value, bool) or int(value) != value or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def schedule(t_end, dt, every=None, n_records=None) -> tuple[int, int]:
    """The steps covering [0, t_end] with step dt (rounded: 0.3 / 0.1 gives 3), and the record
    interval: ``every`` steps, or ``n_records`` records, or by default about 200 records
    (the largest divisor of the step count not above n_steps / 200). Returns (n_steps, every)."""
    t_end, dt = positive("t_end", t_end), positive("dt", dt)
    n_steps = round(t_end / dt)
    if n_steps < 1 or abs(n_steps * dt - t_end) > 1e-6 * t_end:
        raise ValueError(f"t_end = {t_end:g} is not a whole number of steps of {dt:g}")
    if every is not None and n_records is not None:
        raise ValueError("give every or n_records, not both")
    if n_records is not None:
        every = n_steps // count("n_records", n_records)
        if every * n_records != n_steps:
            raise ValueError(f"n_records = {n_records} must divide the {n_steps} steps")
    elif every is None:
        every = max(k for k in range(1, max(n_steps // 200, 1) + 1) if n_steps % k == 0)
    elif n_steps % count("every", every):
        raise ValueError(f"every = {every} must divide the {n_steps} steps")
    return n_steps, int(every)


def link_coeffs(link) -> tuple[float, ...]:
    """Hermite coefficients (c_0, c_1, ...) of a Hermite link (``mf.hermite(k)``,
    ``mf.hermite_series(c)``): finite, with a non-zero term of degree >= 1."""
    coeffs = getattr(link, "coeffs", None)
    if not coeffs:
        raise TypeError("the link must be a Hermite activation, mf.hermite(k) or "
                        f"mf.hermite_series([c_0, c_1, ...]), got {link!r}")
    c = tuple(float(x) for x in coeffs)
    if len(c) < 2 or not all(math.isfinite(x) for x in c) or not any(c[1:]):
        raise ValueError(f"coeffs must be finite with a non-zero term of degree >= 1, got {coeffs!r}")
    return c


_EXPONENT = {"mean-field": 1.0, "ntk": 0.5}


def scaling(value) -> float:
    """A network scaling, 'mean-field' (s_N = 1/N) or 'ntk' (1/sqrt(N)); returns beta, s_N = N^-beta."""
    if value not in _EXPONENT:
        raise ValueError(f"scaling must be 'mean-field' or 'ntk', got {value!r}")
    return _EXPONENT[value]


def level(value) -> None:
    """A confidence level strictly between 0 and 1."""
    if not 0 < value < 1:
        raise ValueError(f"level must be in (0, 1), got {value}")


def finite(what: str, tree) -> None:
    """Every leaf of ``tree`` is finite (checked only when the values are concrete); the error
    reads ``f"{what} non-finite values (nan or inf)"``."""
    if is_concrete(tree) and not all(np.isfinite(np.asarray(x)).all() for x in jax.tree.leaves(tree)):
        raise ValueError(f"{what} non-finite values (nan or inf)")


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
    finite("params contain", params)
    return (a[0] if len(a) == 2 else None), a[-1], w[-1]


def problem_seeds(params, problem) -> int | None:
    """Validate a problem's teacher and particles for it; return the seed count (None if unbatched)."""
    params_shape(problem.teacher)
    return params_shape(params, problem.d)[0]
