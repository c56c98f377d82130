"""Distances between empirical measures."""
from __future__ import annotations

import jax
import jax.numpy as jnp

__all__ = ["wasserstein1_1d"]


def _cdf(sorted_samples, points):
    """Empirical CDF of sorted samples (..., n) at points (..., k), batched over leading axes."""
    s = sorted_samples.reshape(-1, sorted_samples.shape[-1])
    t = points.reshape(-1, points.shape[-1])
    counts = jax.vmap(lambda a, b: jnp.searchsorted(a, b, side="right"))(s, t)
    return counts.reshape(points.shape) / sorted_samples.shape[-1]


@jax.jit
def wasserstein1_1d(x, y):
    """W1 between the empirical measures of samples x (n,) and y (m,) on the real line, exactly.

    Uses ``W1 = int |F_x(t) - F_y(t)| dt``, the CDFs being piecewise constant between the merged
    sample points; n and m may differ. Batched inputs (..., n) and (..., m) give (...) distances.
    """
    x, y = jnp.sort(jnp.asarray(x), axis=-1), jnp.sort(jnp.asarray(y), axis=-1)
    if x.shape[:-1] != y.shape[:-1] or x.shape[-1] == 0 or y.shape[-1] == 0:
        raise ValueError(f"need non-empty samples with matching batch shapes, got {x.shape}, {y.shape}")
    grid = jnp.sort(jnp.concatenate([x, y], axis=-1), axis=-1)
    left = grid[..., :-1]
    return jnp.sum(jnp.abs(_cdf(x, left) - _cdf(y, left)) * jnp.diff(grid, axis=-1), axis=-1)
