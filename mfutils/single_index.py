"""Single-index models y = sigma*(theta . x): Hermite coefficients, the single-neuron overlap flow
and its escape time, and online SGD of one spherical neuron (chapter 5).

Links are expanded in the normalised Hermite basis h_j = He_j / sqrt(j!) of
:func:`mfutils.hermite_basis`: sigma = sum_j c_j h_j with c_j = E[sigma(g) h_j(g)], g ~ N(0, 1).
For a unit-norm neuron w and teacher theta with overlap m = w . theta, E[sigma(w.x) sigma(theta.x)]
= sum_j c_j^2 m^j, so everything below is a function of m and of the coefficients.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special

from . import _checks
from .activations import Activation
from .loop import DivergenceError, Run, _record_times, _shard_seeds

__all__ = ["hermite_coefficients", "information_exponent", "overlap_drift", "escape_time",
           "Escape", "sgd_escape"]


def hermite_coefficients(link: Activation | Callable, degree: int, n_nodes: int = 200) -> np.ndarray:
    """c_j = E[link(g) h_j(g)], j = 0..degree, g ~ N(0, 1), by Gauss-Hermite quadrature in float64.

    Args:
      link: an :class:`~mfutils.Activation` (evaluated in float64 NumPy), or a NumPy function of
        one array returning float64, e.g. ``np.tanh`` or ``np.sign``.
      degree: the highest coefficient returned.
      n_nodes: quadrature nodes. Exact for polynomial links of degree < 2 n_nodes - degree; for
        smooth links the error falls geometrically; for links with a kink (ReLU, abs) or a jump
        (sign) only algebraically: errors about 8e-4 (ReLU) and 2.5e-3 (sign) at 200 nodes,
        falling like 1/n_nodes.
    Returns:
      (degree + 1,) float64 array.

    Example:
      >>> import mfutils as mf
      >>> np.round(mf.hermite_coefficients(mf.hermite_series([0, 0.6, 0, 0.8]), 4), 12) + 0.0
      array([0. , 0.6, 0. , 0.8, 0. ])
    """
    degree = _checks.count("degree", degree, minimum=0)
    n_nodes = _checks.count("n_nodes", n_nodes, minimum=degree + 1)
    if n_nodes > 300:  # numpy's node weights overflow beyond about 360 nodes
        raise ValueError(f"n_nodes must be at most 300, got {n_nodes}")
    z, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    weights = weights / math.sqrt(2 * math.pi)  # the N(0, 1) expectation
    values = link.numpy(z) if isinstance(link, Activation) else np.asarray(link(z))
    if values.shape != z.shape:
        raise ValueError(f"link must act elementwise; it returned shape {values.shape} for {z.shape}")
    if values.dtype != np.float64:
        raise ValueError(f"link returned {values.dtype}; the quadrature needs float64: pass an "
                         "mfutils Activation or a NumPy function (np.tanh, not jnp.tanh)")
    if not np.all(np.isfinite(values)):
        raise ValueError("link is not finite at the quadrature nodes")
    j = np.arange(degree + 1)
    basis = scipy.special.eval_hermitenorm(j, z[:, None]) / np.sqrt(scipy.special.factorial(j))
    return (weights * values) @ basis


def information_exponent(link, atol: float = 1e-8) -> int:
    """k* = the smallest j >= 1 with abs(c_j) > atol (the degree of the first non-constant term).

    Args:
      link: a Hermite :class:`~mfutils.Activation`, or its coefficients c_0, c_1, ...

    Example:
      >>> import mfutils as mf
      >>> mf.information_exponent(mf.hermite_series([0.5, 0, 0, 1.0]))
      3
    """
    c = np.asarray(link.coeffs if isinstance(link, Activation) else link, dtype=float)
    if c.ndim != 1 or not np.all(np.isfinite(c)):
        raise ValueError(f"coeffs must be a finite 1-D sequence, got {link!r}")
    nonzero = np.flatnonzero(np.abs(c[1:]) > atol)
    if nonzero.size == 0:
        raise ValueError("the link is constant (no Hermite coefficient of degree >= 1 above atol)")
    return int(nonzero[0]) + 1


def overlap_drift(m, link: Activation):
    """The single-neuron population flow on the sphere: dm/dt = (1 - m^2) K'(m),
    K'(m) = sum_j j c_j^2 m^(j-1).

    The neuron sigma(w . x) (w a unit vector, sigma = sum_j c_j h_j) learns the teacher
    sigma(theta . x) by the spherical gradient flow of the population risk; m = w . theta.
    Elementwise in m; NumPy in, float64 NumPy out; JAX in, JAX out.

    Example:
      >>> import mfutils as mf
      >>> float(mf.overlap_drift(0.5, mf.hermite(2)))  # (1 - 1/4) * 2 * 0.5
      0.75
    """
    return (1 - m**2) * link.profile(m, derivative=True)


def escape_time(link: Activation, m0, m1: float = 0.5, n_nodes: int = 200) -> np.ndarray:
    """Time for :func:`overlap_drift` to carry the overlap from m0 to m1 (0 < m0 < m1 < 1).

    t = int_{m0}^{m1} dm / drift(m), by Gauss-Legendre quadrature in log m (the integrand is
    smooth there), in float64. For sigma = h_k and m0 = d^(-1/2) it grows like
    d^((k-2)/2) / (k (k - 2)) for k >= 3 and like log(d) / 4 for k = 2. ``m0`` may be an array.

    Example:
      >>> import mfutils as mf
      >>> round(float(mf.escape_time(mf.hermite(2), 0.01)), 4)  # (log 50 - log(0.75/0.9999)/2) / 2
      2.0279
    """
    m0 = np.asarray(m0, dtype=float)
    if not np.all(np.isfinite(m0)) or np.any(m0 <= 0) or np.any(m0 >= m1) or not m1 < 1:
        raise ValueError(f"need 0 < m0 < m1 < 1, got m0 = {m0}, m1 = {m1}")
    _checks.link_coeffs(link)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    lo, hi = np.log(m0)[..., None], math.log(m1)
    m = np.exp(lo + (hi - lo) * (x + 1) / 2)  # nodes in log m
    return (hi - lo[..., 0]) / 2 * np.sum(w * m / overlap_drift(m, link), axis=-1)


class Escape(NamedTuple):
    """The state of an escape run: ``overlap``, m (reduced chain) or the vector w (``full=True``);
    ``escaped_at``, the first step with abs(m) >= threshold (-1 while not escaped)."""

    overlap: jax.Array
    escaped_at: jax.Array


class _Args(NamedTuple):
    """What the escape steps read (arrays in the run's dtype): the link's Hermite coefficients and
    its derivative's, zero-padded to a common length so that links of degree < 8 share a
    program."""

    lr: jax.Array
    threshold: jax.Array
    d: jax.Array
    link: jax.Array
    slope: jax.Array


_CHUNK = 128  # steps whose samples are drawn at once, from one key


def _chisquare(z, df):
    """Wilson-Hilferty: df (1 - 2/(9 df) + z sqrt(2/(9 df)))^3 with z ~ N(0, 1) is nearly chi^2_df
    (quantiles within 1e-3 relative for df >= 10), from one normal instead of a slow gamma draw."""
    q = 2.0 / (9.0 * df)
    return df * jnp.maximum(1 - q + z * jnp.sqrt(q), 0.0) ** 3


def _series(z, coeffs):
    """sum_j coeffs[j] h_j(z), summed along the recurrence of :func:`mfutils.hermite_basis`
    (elementwise, so XLA fuses it with the step)."""
    h_prev, h = jnp.ones_like(z), z
    out = coeffs[0] + coeffs[1] * z
    for j in range(1, coeffs.shape[-1] - 1):
        h_prev, h = h, (z * h - math.sqrt(j) * h_prev) / math.sqrt(j + 1)
        out = out + coeffs[j + 1] * h
    return out


def _reduced_step(m, z, args):
    """One online SGD step in the overlap alone, from three normals z (O(1) cost for any d).

    With g1 = w.x, g2 = e.x (e the unit vector of theta orthogonal to w) and r = |x|^2 - g1^2 - g2^2
    ~ chi^2_{d-2}: theta.x = m g1 + s g2, s = sqrt(1 - m^2); the step w + c (x - g1 w),
    c = lr y sigma'(g1), has overlap m + c s g2 and squared norm 1 + c^2 (g2^2 + r).
    """
    g1, g2 = z[0], z[1]
    r = _chisquare(z[2], args.d - 2)
    s = jnp.sqrt(jnp.maximum(1 - m**2, 0.0))
    c = args.lr * _series(m * g1 + s * g2, args.link) * _series(g1, args.slope)
    return (m + c * s * g2) / jnp.sqrt(1 + c**2 * (g2**2 + r))


def _full_step(w, x, args):
    """The same step on the vector w in R^d (teacher theta = e_1, sample x): O(d) cost."""
    g1 = w @ x
    w = w + args.lr * _series(x[0], args.link) * _series(g1, args.slope) * (x - g1 * w)
    return w / jnp.linalg.norm(w)


@partial(jax.jit, static_argnames=("full", "n_records"))
def _escape_scan(x0, keys, args, every, *, full, n_records):
    """The escape chains of all seeds (x0: (S,) overlaps or (S, d) vectors, keys: (S,)).

    Sample k of a seed is row k % _CHUNK of the (_CHUNK, width) normals drawn from
    ``fold_in(key, k // _CHUNK)`` when k reaches a multiple of _CHUNK, so the results do not
    depend on the record interval; ``every`` and the budget are traced (one program for every
    budget). An escaped chain stays where it escaped.
    Returns the final :class:`Escape` and the (S, n_records + 1) overlaps at the records.
    """
    move = _full_step if full else _reduced_step
    width = x0.shape[-1] if full else 3

    def overlap(x):
        return x[0] if full else x

    def run(x, key):
        def draw(c):
            z = jax.random.normal(jax.random.fold_in(key, c), (_CHUNK * width,), x.dtype)
            return z.reshape(_CHUNK, width)

        def step(k, carry):
            x, hit, z = carry
            z = jax.lax.cond(k % _CHUNK == 0, draw, lambda c: z, k // _CHUNK)
            live = hit < 0
            x = jnp.where(live, move(x, z[k % _CHUNK], args), x)
            escaped = live & (jnp.abs(overlap(x)) >= args.threshold)
            return x, jnp.where(escaped, k + 1, hit), z

        def interval(carry, r):
            carry = jax.lax.fori_loop(r * every, (r + 1) * every, step, carry)
            return carry, overlap(carry[0])
        carry = (x, jnp.int32(-1), jnp.zeros((_CHUNK, width), x.dtype))
        (x_end, hit, _), records = jax.lax.scan(interval, carry,
                                                jnp.arange(n_records, dtype=jnp.int32))
        return Escape(x_end, hit), jnp.concatenate([overlap(x)[None], records])
    return jax.vmap(run)(x0, keys)


def sgd_escape(key, link: Activation, d: int, lr: float, n_samples: int, *, seeds: int,
               every: int | None = None, n_records: int | None = None, threshold: float = 0.5,
               m0: float | None = None, full: bool = False, shard_seeds: bool = True) -> Run:
    """Online SGD of one spherical neuron on the correlation loss, until abs(m) >= threshold.

    Per fresh sample x ~ N(0, I_d), y = sigma(theta . x): w <- (w + lr y sigma'(w.x) P_w x) / norm,
    P_w = I - w w^T (spherical gradient step on -y sigma(w.x), then back to the sphere). The square
    loss has the same population gradient on the sphere (E sigma(w.x)^2 is constant there) but more
    noise. By rotation invariance the overlap m_n is a Markov chain that needs only three scalars
    per sample (the chi-square of the other d - 2 coordinates, which only enters the
    normalisation, is drawn by the Wilson-Hilferty approximation), so large d costs nothing;
    ``full=True`` runs the d-dimensional vectors instead, to check that reduction.

    Args:
      key: PRNG key: ``init_key, run_key = split(key)``; ``init_key`` draws the initial vectors
        (``full=True``), ``run_key`` the samples: seed s has ``split(run_key, seeds)[s]``, whose
        ``fold_in`` with c draws the normals of samples 128 c to 128 c + 127 at once (so the
        runs do not depend on ``every``; about half the cost per sample of a key per sample).
        One compiled program serves every budget and every link of degree < 8.
      link: the Hermite link sigma (teacher and student). d: dimension (>= 3). lr: step size.
      n_samples: budget of samples (steps). seeds: independent runs.
      every, n_records: record interval in samples, or number of records (default about 200).
      threshold: the escape level for abs(m). m0: initial overlap (default d^(-1/2), typical at random).
      shard_seeds: as in :func:`mfutils.particle_flow`.
    Returns:
      a :class:`~mfutils.Run` over sample counts: ``final`` an :class:`Escape` (seed axis first),
      ``records["overlap"]`` (S, R + 1) the overlap at each record.

    Example:
      >>> import jax, mfutils as mf
      >>> run = mf.sgd_escape(jax.random.key(0), mf.hermite(2), d=64, lr=0.1 / 64,
      ...                     n_samples=20_000, seeds=8)
      >>> bool((run.final.escaped_at > 0).all()), run.records["overlap"].shape
      (True, (8, 201))
    """
    if not isinstance(link, Activation) or link.name != "hermite":
        raise ValueError(f"link must be a Hermite series (mf.hermite, mf.hermite_series), got {link!r}")
    _checks.link_coeffs(link)
    d = _checks.count("d", d, minimum=3)
    n_steps, every = _checks.schedule(_checks.count("n_samples", n_samples), 1, every, n_records)
    seeds = _checks.count("seeds", seeds)
    lr = _checks.positive("lr", lr)
    m0 = d**-0.5 if m0 is None else float(m0)
    if not (0 < threshold < 1 and -1 < m0 < 1):
        raise ValueError(f"need 0 < threshold < 1 and |m0| < 1, got {threshold}, {m0}")
    dtype = _checks.float_dtype()
    init_key, run_key = jax.random.split(key)
    if full:  # w0 = m0 e_1 + s xi, xi uniform on the unit sphere of e_1's complement
        xi = jax.random.normal(init_key, (seeds, d - 1), dtype)
        xi = xi / jnp.linalg.norm(xi, axis=1, keepdims=True)
        x0 = jnp.concatenate([jnp.full((seeds, 1), m0, dtype), math.sqrt(1 - m0**2) * xi], axis=1)
    else:
        x0 = jnp.full((seeds,), m0, dtype)
    length = max(8, len(link.coeffs))
    coeffs = [np.pad(c, (0, length - len(c))) for c in (link.coeffs, link.derivative().coeffs)]
    args = _Args(*(jnp.asarray(v, dtype) for v in (lr, threshold, d, *coeffs)))
    keys = jax.random.split(run_key, seeds)
    if shard_seeds:
        (x0, keys), _ = _shard_seeds((x0, keys), seeds)
    final, records = _escape_scan(x0, keys, args, jnp.int32(every), full=full,
                                  n_records=n_steps // every)
    bad = ~np.isfinite(np.asarray(records))
    if bad.any():   # a step too large for the normalisation: name the first record that shows it
        r = int(np.argmax(bad.any(axis=0)))
        seed = int(np.argmax(bad[:, r]))
        raise DivergenceError(
            f"the run became non-finite by sample {r * every} of {n_steps} (seed {seed} of "
            f"{seeds}, {int(bad.any(axis=1).sum())} diverged): reduce the step size")
    return Run(final, _record_times(n_steps, every, 1.0), {"overlap": records})
