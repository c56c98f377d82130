"""Activations sigma and their exact Gaussian kernels E[sigma(u.x) sigma'(v.x)], x ~ N(0, I_d).

An :class:`Activation` is a small frozen (hashable) description, so it can be a static argument
of ``jax.jit`` and live in the static part of a pytree. Calling it evaluates sigma pointwise;
:meth:`Activation.kernel` returns the exact population kernel matrix, which is what makes risks
and gradients exact and cheap throughout the book (no Monte Carlo over x).
"""
from __future__ import annotations

from dataclasses import dataclass
import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from jax.scipy.special import erf as _erf

from . import _checks
from .special import arcsin

__all__ = ["Activation", "erf", "tanh", "relu", "hermite", "hermite_series", "hermite_basis"]


def hermite_basis(z, degree: int):
    """Normalised probabilists' Hermite polynomials h_j = He_j / sqrt(j!), j = 0..degree.

    Orthonormal under N(0, 1): E[h_j(g) h_k(g)] = delta_jk. Computed with the stable recurrence
    h_{j+1} = (z h_j - sqrt(j) h_{j-1}) / sqrt(j + 1). Returns shape z.shape + (degree + 1,).

    Example:
      >>> hermite_basis(jnp.zeros(3), 4).shape
      (3, 5)
    """
    z = jnp.asarray(z)
    hs = [jnp.ones_like(z), z]
    for j in range(1, degree):
        hs.append((z * hs[j] - math.sqrt(j) * hs[j - 1]) / math.sqrt(j + 1))
    return jnp.stack(hs[: degree + 1], axis=-1)


@jax.custom_jvp
def _arccos_profile(c):
    """J(c) = sqrt(1 - c^2) + (pi - arccos c) c, the ReLU arc-cosine profile.

    (pi - arccos c = pi/2 + arcsin c, with the fast :func:`mfutils.special.arcsin`.)
    J'(c) = pi - arccos(c) is finite on [-1, 1]; the custom JVP avoids the 0 * inf that plain
    autodiff through arccos and sqrt produces on the diagonal (c = 1).
    """
    c = jnp.clip(c, -1.0, 1.0)
    return jnp.sqrt(jnp.maximum(1.0 - c**2, 0.0)) + (jnp.pi / 2 + arcsin(c)) * c


@_arccos_profile.defjvp
def _arccos_profile_jvp(primals, tangents):
    (c,), (dc,) = primals, tangents
    return _arccos_profile(c), (jnp.pi / 2 + arcsin(jnp.clip(c, -1.0, 1.0))) * dc


@dataclass(frozen=True)
class Activation:
    """A pointwise activation sigma with its exact Gaussian kernel where one is known.

    Attributes:
      name: ``"erf"``, ``"tanh"``, ``"relu"`` or ``"hermite"``.
      coeffs: for ``"hermite"`` only, the coefficients c_j of sigma = sum_j c_j He_j / sqrt(j!).

    Example:
      >>> import jax.numpy as jnp
      >>> relu(jnp.array([-1.0, 2.0])).tolist(), tanh
      ([0.0, 2.0], tanh)
    """

    name: str
    coeffs: tuple[float, ...] = ()

    def __post_init__(self):
        if self.name not in ("erf", "tanh", "relu", "hermite"):
            raise ValueError(f"unknown activation {self.name!r}")
        if (self.name == "hermite") != bool(self.coeffs):
            raise ValueError("Hermite coefficients are given for (and only for) name='hermite'")
        if not all(math.isfinite(c) for c in self.coeffs):
            raise ValueError(f"Hermite coefficients must be finite, got {self.coeffs}")

    def __repr__(self):
        return f"hermite_series({list(self.coeffs)})" if self.coeffs else self.name

    def __call__(self, z):
        """sigma(z), elementwise."""
        if self.name == "erf":
            return _erf(z)
        if self.name == "tanh":
            return jnp.tanh(z)
        if self.name == "relu":
            return jnp.maximum(z, 0.0)
        c = jnp.asarray(self.coeffs, dtype=jnp.result_type(z, float))
        return hermite_basis(z, len(self.coeffs) - 1) @ c

    def numpy(self, z):
        """sigma(z) in float64 NumPy, whatever JAX's precision mode (for quadrature).

        Example:
          >>> round(float(erf.numpy(0.5)), 6), float(hermite(2).numpy(1.0))
          (0.5205, 0.0)
        """
        z = np.asarray(z, dtype=np.float64)
        if self.name == "erf":
            return scipy.special.erf(z)
        if self.name == "tanh":
            return np.tanh(z)
        if self.name == "relu":
            return np.maximum(z, 0.0)
        j = np.arange(len(self.coeffs))
        return scipy.special.eval_hermitenorm(j, z[..., None]) @ (
            np.asarray(self.coeffs) / np.sqrt(scipy.special.factorial(j)))

    def derivative(self) -> Activation:
        """sigma' of a Hermite series: h_j' = sqrt(j) h_{j-1}.

        Example:
          >>> hermite(2).derivative()  # sqrt(2) h_1
          hermite_series([0.0, 1.4142135623730951])
        """
        if self.name != "hermite":
            raise ValueError(f"derivative() is for Hermite series, not {self!r}")
        dc = [math.sqrt(j) * c for j, c in enumerate(self.coeffs)][1:]
        return hermite_series(dc if any(dc) else [0.0])

    def profile(self, rho, other: Activation | None = None, derivative: bool = False):
        """K(rho) = sum_j c_j c'_j rho^j (or K'(rho)): the kernel of two Hermite series at unit
        vectors u, v with u . v = rho. NumPy in, float64 NumPy out; JAX in, JAX out (same dtype).

        Example:
          >>> float(hermite_series([0.0, 1.0, 0.5]).profile(0.5))
          0.5625
        """
        other = self if other is None else other
        if self.name != "hermite" or other.name != "hermite":
            raise ValueError(f"profile() is for Hermite series, not {self!r} and {other!r}")
        k = min(len(self.coeffs), len(other.coeffs))
        c = np.asarray(self.coeffs[:k]) * np.asarray(other.coeffs[:k])
        if derivative:
            c = c[1:] * np.arange(1, k) if k > 1 else np.zeros(1)
        if isinstance(rho, jax.Array):
            return jnp.polyval(jnp.asarray(c[::-1], dtype=rho.dtype), rho)
        return np.polynomial.polynomial.polyval(np.asarray(rho, np.float64), c)

    def kernel(self, u, v, other: Activation | None = None):
        """Exact K[i, j] = E[sigma(u_i . x) other(v_j . x)], x ~ N(0, I_d).

        Args:
          u: (n, d) and v: (m, d) weight vectors.
          other: the second activation (default: this one).
        Returns:
          (n, m) array.

        Closed forms: for erf the arcsine kernel
        ``(2/pi) arcsin(2 u.v / sqrt((1 + 2 |u|^2)(1 + 2 |v|^2)))``; for the ReLU the arc-cosine
        kernel ``|u| |v| (sin t + (pi - t) cos t) / (2 pi)``, t the angle between u and v; for
        Hermite series :meth:`profile` ``(u.v)``, **valid for unit-norm u and v only** (the
        spherical models of chapters 5 and 6; checked when the values are concrete). tanh has no
        closed form: use erf, or Monte Carlo.

        Example:
          >>> import jax.numpy as jnp
          >>> round(float(erf.kernel(jnp.ones((1, 2)), jnp.ones((1, 2)))[0, 0]), 4)
          0.5903
        """
        other = self if other is None else other
        u, v = jnp.asarray(u), jnp.asarray(v)
        if u.ndim != 2 or v.ndim != 2 or u.shape[1] != v.shape[1]:
            raise ValueError(f"kernel needs u (n, d) and v (m, d); got {u.shape} and {v.shape}")
        if self.name == "hermite" and other.name == "hermite":
            _checks.unit_rows("u", u)
            _checks.unit_rows("v", v)
            return self.profile(u @ v.T, other)
        if other != self:
            raise ValueError(f"no closed-form kernel between {self!r} and {other!r}")
        if self.name == "erf":
            # Rescale rows first (u -> u sqrt(2 / (1 + 2|u|^2))): one matmul and one arcsin per
            # entry, about 2.7x faster than normalising the (n, m) matrix, gradients included.
            su, sv = (x * jnp.sqrt(2.0 / (1.0 + 2.0 * jnp.sum(x**2, axis=1)))[:, None] for x in (u, v))
            return (2.0 / jnp.pi) * arcsin(su @ sv.T)
        if self.name == "relu":
            ru, rv = jnp.linalg.norm(u, axis=1), jnp.linalg.norm(v, axis=1)
            norms = ru[:, None] * rv[None, :]
            return norms * _arccos_profile((u @ v.T) / norms) / (2.0 * jnp.pi)
        raise ValueError(f"{self!r} has no closed-form Gaussian kernel; use erf, relu or hermite")

    def kernel_sums(self, u, v, c, other: Activation | None = None):
        """The kernel against a weighted set and its gradient, without the (n, m) matrix's gradient:

            k_i = sum_j K(u_i, v_j) c_j,    g_i = sum_j c_j grad_u K(u_i, v_j),

        with K as in :meth:`kernel`. This is what a velocity needs (chapter 2:
        grad V_mu(theta) = a [sum_j omega_j a_j grad K(w, w_j) - sum_m b_m grad K(w, u_m)]); the
        gradient is written out analytically, so its cost is two matrix products and one
        arcsine (or polynomial) per pair, and JAX still differentiates it (the local Hessians,
        the influence function). Hermite series give the Euclidean gradient K'(u . v) v.

        Args:
          u: (n, d) points; v: (m, d) weight vectors; c: (m,) coefficients.
          other: the activation of v's units (default: this one).
        Returns:
          k (n,) and g (n, d).

        Example:
          >>> import jax, jax.numpy as jnp
          >>> u, v = jnp.ones((2, 3)), jnp.eye(3)
          >>> k, g = erf.kernel_sums(u, v, jnp.ones(3))
          >>> bool(jnp.allclose(k, erf.kernel(u, v).sum(1))), g.shape
          (True, (2, 3))
        """
        other = self if other is None else other
        u, v, c = jnp.asarray(u), jnp.asarray(v), jnp.asarray(c)
        if u.ndim != 2 or v.ndim != 2 or u.shape[1] != v.shape[1] or c.shape != v.shape[:1]:
            raise ValueError("kernel_sums needs u (n, d), v (m, d) and c (m,); got "
                             f"{u.shape}, {v.shape} and {c.shape}")
        if self.name == "hermite" and other.name == "hermite":
            rho = u @ v.T
            return self.profile(rho, other) @ c, (self.profile(rho, other, True) * c) @ v
        if other != self:
            raise ValueError(f"no closed-form kernel between {self!r} and {other!r}")
        if self.name == "erf":
            # rows rescaled by r = sqrt(2 / (1 + 2|x|^2)), C = (r_u u) . (r_v v), K = (2/pi) asin C;
            # grad_u C = r_u (r_v v) - r_u^2 C u
            ru, rv = (jnp.sqrt(2.0 / (1.0 + 2.0 * jnp.sum(x**2, axis=1))) for x in (u, v))
            sv = v * rv[:, None]
            cos = (u * ru[:, None]) @ sv.T
            slope = (2.0 / jnp.pi) * jax.lax.rsqrt((1.0 - cos) * (1.0 + cos)) * c
            g = ru[:, None] * (slope @ sv) - (ru**2 * jnp.sum(slope * cos, axis=1))[:, None] * u
            return (2.0 / jnp.pi) * arcsin(cos) @ c, g
        if self.name == "relu":
            # K = |u||v| J(C) / (2 pi), C the cosine; grad_u K = [|v| sqrt(1 - C^2) u/|u|
            # + (pi/2 + asin C) v] / (2 pi), since J - C J' = sqrt(1 - C^2) and J' = pi/2 + asin C
            ru, rv = jnp.linalg.norm(u, axis=1), jnp.linalg.norm(v, axis=1)
            cos = jnp.clip((u / ru[:, None]) @ (v / rv[:, None]).T, -1.0, 1.0)
            sine = jnp.sqrt(jnp.maximum((1.0 - cos) * (1.0 + cos), 0.0))
            angle = jnp.pi / 2 + arcsin(cos)
            k = ru * ((sine + angle * cos) @ (rv * c)) / (2.0 * jnp.pi)
            g = ((sine @ (rv * c)) / ru)[:, None] * u + (angle * c) @ v
            return k, g / (2.0 * jnp.pi)
        raise ValueError(f"{self!r} has no closed-form Gaussian kernel; use erf, relu or hermite")


erf = Activation("erf")
tanh = Activation("tanh")
relu = Activation("relu")


def hermite_series(coeffs) -> Activation:
    """sigma = sum_j coeffs[j] He_j / sqrt(j!), e.g. ``hermite_series([0, 0, 1])`` is He_2/sqrt(2).

    Example:
      >>> link = hermite_series([0, 0, 0.3, 0, 0.95])
      >>> link.coeffs
      (0.0, 0.0, 0.3, 0.0, 0.95)
    """
    return Activation("hermite", tuple(float(c) for c in coeffs))


def hermite(k: int) -> Activation:
    """The normalised pure Hermite link He_k / sqrt(k!) (information exponent k).

    Example:
      >>> float(hermite(2)(3.0))  # (3^2 - 1) / sqrt(2)
      5.656854152679443
    """
    if int(k) != k or k < 0:
        raise ValueError(f"Hermite degree must be a non-negative integer, got {k}")
    return hermite_series([0.0] * int(k) + [1.0])
