"""A fast arcsine for the exact kernels.

The erf and ReLU kernels evaluate one arcsine per pair of neurons, and XLA's CPU ``arcsin``
(through ``atan2``) dominates the cost of a velocity step. :func:`arcsin` evaluates the classical
Cephes approximations (S. L. Moshier) with branch-free selects: in float32 a degree-5 polynomial
in x^2 with the half-angle reduction ``asin x = pi/2 - 2 asin sqrt((1 - x)/2)`` above 1/2, in
float64 the two rational approximations of Cephes ``asin``. Both are within 3 ulp of the correctly
rounded arcsine on [-1, 1] (tested), about 6x faster than ``jnp.arcsin`` on CPU, and carry the
exact derivative 1/sqrt(1 - x^2), so gradients, Hessians and Jacobians through the kernels are
those of the arcsine itself.
"""
from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

__all__ = ["arcsin"]

# Cephes asinf: asin x = x + x^3 P(x^2) on [0, 1/2], highest degree first.
_P32 = (4.2163199048e-2, 2.4181311049e-2, 4.5470025998e-2, 7.4953002686e-2, 1.6666752422e-1)
# Cephes asin: x + x^3 P(x^2)/Q(x^2) on [0, 0.625]; beyond, in z = 1 - |x|,
# asin = pi/2 - sqrt(2z) (1 + z R(z)/S(z)). Highest degree first; Q and S are monic.
_P64 = (4.253011369004428248960e-3, -6.019598008014123785661e-1, 5.444622390564711410273e0,
        -1.626247967210700244449e1, 1.956261983317594739197e1, -8.198089802484824371615e0)
_Q64 = (1.0, -1.474091372988853791896e1, 7.049610280856842141659e1, -1.471791292232726029859e2,
        1.395105614657485689735e2, -4.918853881490881290097e1)
_R64 = (2.967721961301243206100e-3, -5.634242780008963776856e-1, 6.968710824104713396794e0,
        -2.556901049652824852289e1, 2.853665548261061424989e1)
_S64 = (1.0, -2.194779531642920639778e1, 1.470656354026814941758e2, -3.838770957603691357202e2,
        3.424398657913078477438e2)
_MOREBITS = 6.123233995736765886130e-17  # pi/4 - fl(pi/4)


def _horner(coeffs, z):
    out = jnp.full_like(z, coeffs[0])
    for c in coeffs[1:]:
        out = out * z + c
    return out


def _asin32(a):
    """asin on |x| = a in [0, 1], float32."""
    big = a > 0.5
    z = jnp.where(big, 0.5 * (1.0 - a), a * a)
    s = jnp.where(big, jnp.sqrt(z), a)
    p = _horner(_P32, z) * z * s + s
    return jnp.where(big, np.float32(np.pi / 2) - 2.0 * p, p)


def _asin64(a):
    """asin on |x| = a in [0, 1], float64."""
    big = a > 0.625
    z = jnp.where(big, 1.0 - a, a * a)
    # the small branch: a + a z P(z)/Q(z)
    small = a * z * _horner(_P64, z) / _horner(_Q64, z) + a
    # the large branch: pi/4 - [sqrt(2z) - (pi/4 - sqrt(2z) ... )], as Cephes orders it
    r = z * _horner(_R64, z) / _horner(_S64, z)
    root = jnp.sqrt(z + z)
    large = (np.pi / 4 - root) - (root * r - _MOREBITS) + np.pi / 4
    return jnp.where(big, large, small)


@jax.custom_jvp
def arcsin(x):
    """Elementwise arcsine, as ``jnp.arcsin`` (NaN outside [-1, 1]) but about 6x faster on CPU.

    Args:
      x: a float array (float32 or float64; other float types are computed in float32).
    Returns:
      an array of the same shape and dtype.

    Example:
      >>> import jax.numpy as jnp
      >>> round(float(arcsin(jnp.float32(0.5))), 6)
      0.523599
    """
    x = jnp.asarray(x)
    if not jnp.issubdtype(x.dtype, jnp.floating):
        raise TypeError(f"arcsin needs a float array, got {x.dtype}")
    a = jnp.abs(x)
    if x.dtype == jnp.float64:
        y = _asin64(a)
    else:
        y = _asin32(a.astype(jnp.float32)).astype(x.dtype)
    return jnp.copysign(y, x)


@arcsin.defjvp
def _arcsin_jvp(primals, tangents):
    (x,), (dx,) = primals, tangents
    return arcsin(x), dx * jax.lax.rsqrt((1.0 - x) * (1.0 + x))
