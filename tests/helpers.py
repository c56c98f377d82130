"""Helpers shared by the unit tests: Monte-Carlo comparisons and small constructions.

Monte-Carlo comparisons use float64 NumPy samples and a tolerance of 5 standard errors of the
Monte-Carlo mean (a false alarm has probability < 1e-6 per entry), computed from the sample.
"""
import jax.numpy as jnp
import numpy as np


def assert_mc(exact, samples, n_se=5.0, atol=1e-4):
    """|exact - mean(samples)| < n_se standard errors (+ atol), entrywise over axis 0's mean."""
    samples = np.asarray(samples, float)
    mean, se = samples.mean(0), samples.std(0) / np.sqrt(len(samples))
    np.testing.assert_array_less(np.abs(np.asarray(exact, float) - mean), n_se * se + atol)


def unit(v):
    """Rows scaled to unit norm."""
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def arr(x, dtype):
    """A NumPy array as a JAX array of the test's dtype."""
    return jnp.asarray(np.asarray(x), dtype)
