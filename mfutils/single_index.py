"""Single-index models y = sigma*(theta . x): Hermite coefficients, the single-neuron overlap flow
and its escape time, and online SGD of one spherical neuron (chapter 5).

Links are expanded in the normalised Hermite basis h_j = He_j / sqrt(j!) of
:func:`mfutils.hermite_basis`: sigma = sum_j c_j h_j with c_j = E[sigma(g) h_j(g)], g ~ N(0, 1).
For a unit-norm neuron w and teacher theta with overlap m = w . theta, E[sigma(w.x) sigma(theta.x)]
= sum_j c_j^2 m^j, so everything below is a function of m and of the coefficients.
"""
from __future__ import annotations

from functools import partial
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .activations import hermite_basis

__all__ = ["hermite_coefficients", "information_exponent", "overlap_drift", "escape_time",
           "SGDEscape", "sgd_escape"]


def hermite_coefficients(link, degree: int, n_nodes: int = 200) -> np.ndarray:
    """c_j = E[link(g) h_j(g)], j = 0..degree, g ~ N(0, 1), by Gauss-Hermite quadrature.

    Args:
      link: a function of one array (jax.numpy or numpy), e.g. ``mf.relu`` or ``jnp.tanh``.
      degree: the highest coefficient returned.
      n_nodes: quadrature nodes. Exact for polynomial links of degree < 2 n_nodes - degree; for
        smooth links the error falls geometrically; for links with a kink (ReLU, abs) or a jump
        (sign) only algebraically: errors about 8e-4 (ReLU) and 2.5e-3 (sign) at 200 nodes,
        falling like 1/n_nodes.
    Returns:
      (degree + 1,) float64 numpy array.
    """
    degree = _checks.count("degree", degree, minimum=0)
    n_nodes = _checks.count("n_nodes", n_nodes, minimum=degree + 1)
    if n_nodes > 300:  # numpy's node weights overflow beyond about 360 nodes
        raise ValueError(f"n_nodes must be at most 300, got {n_nodes}")
    z, weights = np.polynomial.hermite_e.hermegauss(n_nodes)
    weights = weights / math.sqrt(2 * math.pi)  # the N(0, 1) expectation
    with jax.enable_x64(True):
        values = np.asarray(link(jnp.asarray(z)), dtype=np.float64)
        basis = np.asarray(hermite_basis(jnp.asarray(z), degree))
    if values.shape != z.shape:
        raise ValueError(f"link must act elementwise; it returned shape {values.shape} for {z.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("link is not finite at the quadrature nodes")
    return (weights * values) @ basis


def information_exponent(coeffs, atol: float = 1e-8) -> int:
    """k* = the smallest j >= 1 with abs(c_j) > atol (the degree of the first non-constant term)."""
    c = np.asarray(coeffs, dtype=float)
    if c.ndim != 1 or not np.all(np.isfinite(c)):
        raise ValueError(f"coeffs must be a finite 1-D sequence, got {coeffs!r}")
    nonzero = np.flatnonzero(np.abs(c[1:]) > atol)
    if nonzero.size == 0:
        raise ValueError("the link is constant (no Hermite coefficient of degree >= 1 above atol)")
    return int(nonzero[0]) + 1


def overlap_drift(m, coeffs):
    """The single-neuron population flow on the sphere: dm/dt = (1 - m^2) sum_j j c_j^2 m^(j-1).

    The neuron sigma(w . x) (w a unit vector, sigma = sum_j c_j h_j) learns the teacher sigma(theta . x) by
    the spherical gradient flow of the population risk; m = w . theta. Elementwise in m.
    """
    c2 = np.asarray(coeffs, dtype=float) ** 2
    j = np.arange(1, len(c2))
    m = jnp.asarray(m)
    powers = m[..., None] ** (j - 1)
    return (1 - m**2) * (powers @ jnp.asarray(j * c2[1:], dtype=powers.dtype))


def escape_time(coeffs, m0, m1: float = 0.5, n_nodes: int = 200) -> np.ndarray:
    """Time for :func:`overlap_drift` to carry the overlap from m0 to m1 (0 < m0 < m1 < 1).

    t = int_{m0}^{m1} dm / drift(m), by Gauss-Legendre quadrature in log m (the integrand is
    smooth there). For sigma = h_k and m0 = d^(-1/2) it grows like d^((k-2)/2) / (k (k - 2)) for
    k >= 3 and like log(d) / 4 for k = 2. ``m0`` may be an array; float64 result of its shape.
    """
    m0 = np.asarray(m0, dtype=float)
    if not np.all(np.isfinite(m0)) or np.any(m0 <= 0) or np.any(m0 >= m1) or not m1 < 1:
        raise ValueError(f"need 0 < m0 < m1 < 1, got m0 = {m0}, m1 = {m1}")
    coeffs = _checks.link_coeffs(coeffs)
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    lo, hi = np.log(m0)[..., None], math.log(m1)
    m = np.exp(lo + (hi - lo) * (x + 1) / 2)  # nodes in log m
    with jax.enable_x64(True):
        drift = np.asarray(overlap_drift(jnp.asarray(m), coeffs))
    return (hi - lo[..., 0]) / 2 * np.sum(w * m / drift, axis=-1)


class SGDEscape(NamedTuple):
    """Online SGD escape runs: ``steps``, (S,) the first step with abs(m) >= threshold (-1 if none
    within the budget); ``overlaps``, (S, R + 1) the overlap every ``every`` steps from step 0."""

    steps: jax.Array
    overlaps: jax.Array


def _link_and_derivative(coeffs, z):
    """sigma(z) and sigma'(z) for sigma = sum_j c_j h_j (h_j' = sqrt(j) h_{j-1})."""
    c = jnp.asarray(coeffs, dtype=z.dtype)
    h = hermite_basis(z, len(coeffs) - 1)
    dc = jnp.asarray([math.sqrt(j) * coeffs[j] for j in range(1, len(coeffs))], dtype=z.dtype)
    return h @ c, h[..., :-1] @ dc


def _chisquare(z, df):
    """Wilson-Hilferty: df (1 - 2/(9 df) + z sqrt(2/(9 df)))^3 with z ~ N(0, 1) is nearly chi^2_df
    (quantiles within 1e-3 relative for df >= 10), from one normal instead of a slow gamma draw."""
    q = 2.0 / (9.0 * df)
    return df * jnp.maximum(1 - q + z * jnp.sqrt(q), 0.0) ** 3


def _reduced_step(m, z, coeffs, d, lr):
    """One online SGD step in the overlap alone, from three normals z (O(1) cost for any d).

    With g1 = w.x, g2 = e.x (e the unit vector of theta orthogonal to w) and r = |x|^2 - g1^2 - g2^2
    ~ chi^2_{d-2}: theta.x = m g1 + s g2, s = sqrt(1 - m^2); the step w + c (x - g1 w),
    c = lr y sigma'(g1), has overlap m + c s g2 and squared norm 1 + c^2 (g2^2 + r).
    """
    g1, g2 = z[0], z[1]
    r = _chisquare(z[2], d - 2)
    s = jnp.sqrt(jnp.maximum(1 - m**2, 0.0))
    y, _ = _link_and_derivative(coeffs, m * g1 + s * g2)
    _, dsig = _link_and_derivative(coeffs, g1)
    c = lr * y * dsig
    return (m + c * s * g2) / jnp.sqrt(1 + c**2 * (g2**2 + r))


def _full_step(w, x, coeffs, d, lr):
    """The same step on the vector w in R^d (teacher theta = e_1, sample x): O(d) cost."""
    y, _ = _link_and_derivative(coeffs, x[0])
    g1 = w @ x
    _, dsig = _link_and_derivative(coeffs, g1)
    w = w + lr * y * dsig * (x - g1 * w)
    return w / jnp.linalg.norm(w)


@partial(jax.jit, static_argnames=("coeffs", "d", "n_steps", "every", "full"))
def _escape_runs(keys, m0, lr, threshold, *, coeffs, d, n_steps, every, full):
    def run(key):
        k0, key = jax.random.split(key)
        if full:  # w0 = m0 e_1 + s xi, xi uniform on the unit sphere of e_1's complement
            xi = jax.random.normal(k0, (d - 1,), m0.dtype)
            state = jnp.concatenate([m0[None], jnp.sqrt(1 - m0**2) * xi / jnp.linalg.norm(xi)])
            overlap, step, width = (lambda w: w[0]), _full_step, d
        else:
            state, overlap, step, width = m0, (lambda m: m), _reduced_step, 3

        def inner(carry, nz):
            (state, hit), (n, z) = carry, nz
            state = jnp.where(hit >= 0, state, step(state, z, coeffs, d, lr))
            hit = jnp.where((hit < 0) & (jnp.abs(overlap(state)) >= threshold), n + 1, hit)
            return (state, hit), None

        def outer(carry, r):  # the block's samples are drawn at once: far faster than per step
            noise = jax.random.normal(jax.random.fold_in(key, r), (every, width), m0.dtype)
            carry, _ = jax.lax.scan(inner, carry, (r * every + jnp.arange(every), noise))
            return carry, overlap(carry[0])

        (_, hit), ms = jax.lax.scan(outer, (state, jnp.int32(-1)), jnp.arange(n_steps // every))
        return hit, jnp.concatenate([m0[None], ms])

    return jax.vmap(run)(keys)


def sgd_escape(key, coeffs, d: int, lr: float, n_steps: int, *, seeds: int, every: int | None = None,
               threshold: float = 0.5, m0: float | None = None, full: bool = False) -> SGDEscape:
    """Online SGD of one spherical neuron on the correlation loss, until abs(m) >= threshold.

    Per fresh sample x ~ N(0, I_d), y = sigma(theta . x): w <- (w + lr y sigma'(w.x) P_w x) / norm,
    P_w = I - w w^T (spherical gradient step on -y sigma(w.x), then back to the sphere). The square
    loss has the same population gradient on the sphere (E sigma(w.x)^2 is constant there) but more
    noise. By rotation invariance the overlap m_n is a Markov chain that needs only three scalars
    per sample (the chi-square of the other d - 2 coordinates, which only
    enters the normalisation, is drawn by the Wilson-Hilferty approximation), so large d costs
    nothing; ``full=True`` runs the d-dimensional vectors instead, to check that reduction.

    Args:
      key: PRNG key; seed s uses ``fold_in(key, s)``.
      coeffs: Hermite coefficients of sigma (teacher and student).
      d: dimension (>= 3). lr: step size. n_steps: budget of samples.
      seeds: independent runs. every: record interval (default: n_steps // 200, at least 1).
      threshold: the escape level for abs(m). m0: initial overlap (default d^(-1/2), typical at random).
    """
    d = _checks.count("d", d, minimum=3)
    n_steps, every = _checks.schedule(n_steps, every)
    seeds = _checks.count("seeds", seeds)
    lr = _checks.positive("lr", lr)
    m0 = d**-0.5 if m0 is None else float(m0)
    if not (0 < threshold < 1 and -1 < m0 < 1):
        raise ValueError(f"need 0 < threshold < 1 and |m0| < 1, got {threshold}, {m0}")
    coeffs = _checks.link_coeffs(coeffs)
    keys = jax.vmap(lambda s: jax.random.fold_in(key, s))(jnp.arange(seeds))
    hit, ms = _escape_runs(keys, jnp.float32(m0), jnp.float32(lr), jnp.float32(threshold),
                           coeffs=coeffs, d=d, n_steps=n_steps, every=every, full=full)
    return SGDEscape(hit, ms)
