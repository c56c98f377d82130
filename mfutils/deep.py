"""Three-layer networks (two hidden layers) in the mean-field and the NTK scaling.

    f(x) = s_2 sum_j c_j tanh(h_j(x)),    h_j(x) = s_1 sum_i W_ji relu(u_i . x),

with N_1 first-layer units u_i in R^d, N_2 second-layer units, middle weights W (N_2, N_1) and
output weights c_j. Mean-field scaling: s_1 = 1/N_1, s_2 = 1/N_2, and the learning rates N_1 (u),
N_1 N_2 (W), N_2 (c), so that every single weight moves by O(1) in O(1) time (the scaling of
Nguyen and Pham); NTK scaling: s = 1/sqrt(N) and rate 1 for every layer.

There is no closed-form population risk for a composition of two layers, so the networks are
trained on a fixed sample (x_k, y_k): full-batch gradient descent (the Euler scheme of the
gradient flow of the empirical risk) or minibatch SGD from the sample.
"""
from __future__ import annotations

import functools
import math
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .loop import Run, observer, simulate
from .network import Scaling, output_scale, standard_normals, time_scale

__all__ = ["DeepParams", "Sample", "init_deep", "deep_network", "deep_risk", "deep_flow",
           "layer_movement", "top_singular_share"]


class DeepParams(NamedTuple):
    """A three-layer network: u (N1, d), w (N2, N1), c (N2,); optionally with a leading seed axis
    on all three."""

    u: jax.Array
    w: jax.Array
    c: jax.Array


class Sample(NamedTuple):
    """A fixed training sample: inputs x (n, d) and targets y (n,)."""

    x: jax.Array
    y: jax.Array


def _scales(n1: int, n2: int, scaling: Scaling) -> tuple[float, float]:
    _checks.scaling(scaling)
    return output_scale(n1, scaling), output_scale(n2, scaling)


def _rates(n1: int, n2: int, scaling: Scaling) -> DeepParams:
    """Per-layer learning rates: N1, N1 N2, N2 (mean-field: O(1) motion of each weight), or 1
    (NTK), the product of the time scales of the layers a weight joins."""
    t1, t2 = time_scale(n1, scaling), time_scale(n2, scaling)
    return DeepParams(float(t1), float(t1 * t2), float(t2))


def _shapes(params: DeepParams, d: int | None = None) -> tuple[int | None, int, int, int]:
    """Check a (possibly seed-batched) DeepParams; return (seeds or None, N1, N2, d)."""
    u, w, c = (np.shape(x) for x in params)
    batched = len(c) == 2
    if len(c) not in (1, 2) or len(u) != len(c) + 1 or len(w) != len(c) + 1 or (
            batched and not u[0] == w[0] == c[0]) or w[-2] != c[-1] or w[-1] != u[-2]:
        raise ValueError(f"DeepParams need u: (N1, d), w: (N2, N1), c: (N2,) (optionally with a "
                         f"leading seed axis); got u: {u}, w: {w}, c: {c}")
    if min(u[-2], c[-1]) < 1:
        raise ValueError("both hidden layers need at least one unit")
    if d is not None and u[-1] != d:
        raise ValueError(f"params have input dimension {u[-1]}, the sample has d = {d}")
    _checks.finite("params contain", params)
    return (c[0] if batched else None), u[-2], c[-1], u[-1]


def _sample(sample: Sample) -> tuple[int, int]:
    x, y = np.shape(sample.x), np.shape(sample.y)
    if len(x) != 2 or y != x[:1] or x[0] < 1:
        raise ValueError(f"a Sample needs x: (n, d) and y: (n,), got x: {x}, y: {y}")
    _checks.finite("the sample contains", sample)
    return x


def init_deep(key, n1: int, n2: int, d: int, *, seeds: int | None = None,
              w_mean: float = 0.0, dtype=None) -> DeepParams:
    """i.i.d. initialisation: u_i ~ N(0, I_d / d), W_ji ~ N(w_mean, 1), c_j ~ N(0, 1).

    With ``seeds=S`` every array gains a leading axis of S independent networks.

    Example:
      >>> import jax, mfutils as mf
      >>> p = mf.init_deep(jax.random.key(0), 8, 4, 3, seeds=2)
      >>> p.u.shape, p.w.shape, p.c.shape
      ((2, 8, 3), (2, 4, 8), (2, 4))
    """
    n1, n2, d = _checks.count("N1", n1), _checks.count("N2", n2), _checks.count("d", d)
    w_mean = float(w_mean)
    if not math.isfinite(w_mean):
        raise ValueError(f"w_mean must be finite, got {w_mean}")
    dtype = _checks.float_dtype(dtype)
    lead = () if seeds is None else (_checks.count("seeds", seeds),)
    return _init_deep(key, d**-0.5, w_mean, shapes=(lead + (n1, d), lead + (n2, n1), lead + (n2,)),
                      dtype=dtype)


@functools.partial(jax.jit, static_argnames=("shapes", "dtype"))
def _init_deep(key, u_std, w_mean, *, shapes, dtype) -> DeepParams:
    u, w, c = standard_normals(jax.random.split(key, 3), shapes, dtype)
    return DeepParams(u * u_std, w_mean + w, c)


def _network(params: DeepParams, x, scaling: Scaling):
    s1, s2 = _scales(params.u.shape[-2], params.c.shape[-1], scaling)
    h = s1 * jax.nn.relu(x @ params.u.T) @ params.w.T          # (n, N2)
    return s2 * jnp.tanh(h) @ params.c


def deep_network(params: DeepParams, x, scaling: Scaling = "mean-field"):
    """The outputs f(x) of one network (unbatched params) at inputs x (..., d).

    Example:
      >>> import jax, mfutils as mf
      >>> p = mf.init_deep(jax.random.key(0), 8, 4, 3)
      >>> mf.deep_network(p, jax.numpy.ones((5, 3))).shape
      (5,)
    """
    if _shapes(params, np.shape(x)[-1])[0] is not None:
        raise ValueError("deep_network takes one network; map it over the seeds with jax.vmap")
    x = jnp.asarray(x)
    return _network(params, x.reshape(-1, x.shape[-1]), scaling).reshape(x.shape[:-1])


def _risk(params: DeepParams, x, y, scaling: Scaling):
    return 0.5 * jnp.mean((_network(params, x, scaling) - y) ** 2)


def deep_risk(params: DeepParams, sample: Sample, scaling: Scaling = "mean-field"):
    """The empirical risk (1/2n) sum_k (f(x_k) - y_k)^2; one value per seed if batched.

    Example:
      >>> import jax, mfutils as mf
      >>> x = jax.random.normal(jax.random.key(0), (32, 3))
      >>> p = mf.init_deep(jax.random.key(1), 8, 4, 3, seeds=2)
      >>> mf.deep_risk(p, mf.Sample(x, x[:, 0])).shape
      (2,)
    """
    seeds, *_ = _shapes(params, _sample(sample)[1])
    risk = functools.partial(_risk, x=sample.x, y=sample.y, scaling=scaling)
    return risk(params) if seeds is None else jax.vmap(risk)(params)


class DeepArgs(NamedTuple):
    """What a step reads: the sample, the step and the per-layer rates (the minibatch size is
    static, a parameter of the step)."""

    sample: Sample
    dt: jax.Array
    rates: DeepParams


@functools.cache
def _step(scaling: Scaling, batch: int | None):
    def step(params, k, xi, args):
        x, y = args.sample
        if batch is not None:
            x, y = x[xi], y[xi]
        grad = jax.grad(_risk)(params, x, y, scaling)
        return jax.tree.map(lambda p, g, r: p - args.dt * r * g, params, grad, args.rates)
    return step


@functools.cache
def _observe(scaling: Scaling):
    def observe(params, args):
        return {"risk": _risk(params, *args.sample, scaling)}
    return observe


@functools.cache
def _indices(batch: int, n: int):
    def noise(key, args):
        return jax.random.randint(key, (batch,), 0, n)
    return noise


def deep_flow(params: DeepParams, sample: Sample, *, dt: float, t_end: float,
              scaling: Scaling = "mean-field", batch: int | None = None, key=None,
              observe: Callable | None = None, every: int | None = None,
              n_records: int | None = None, shard_seeds: bool = True) -> Run:
    """Train a three-layer network on a fixed sample, one Euler step of size dt at a time:

        theta <- theta - dt * rate(layer) * grad R_n(theta),

    with the empirical risk R_n of the whole sample (gradient descent: the Euler scheme of the
    gradient flow) or, with ``batch = B``, of B sample points drawn with replacement at each step
    (minibatch SGD). The rates are N1 (u), N1 N2 (W), N2 (c) in the mean-field scaling and 1 in
    the NTK scaling, so a unit of time is the same amount of training at every width.

    Args:
      params: :class:`DeepParams`, optionally seed-batched (a leading seed axis on u, w, c).
      sample: the training :class:`Sample`.
      dt, t_end: the step and the horizon (a whole number of steps).
      batch: minibatch size (1 <= B), or None for the full sample; needs ``key``.
      observe, every, n_records, shard_seeds: as in :func:`mfutils.particle_flow`; the default
        record is ``{"risk": R_n}`` on the whole sample.

    Returns:
      a :class:`~mfutils.Run`; ``final`` is the trained network.

    Raises:
      DivergenceError: if the weights become non-finite (the message names the step).
      ValueError: for inconsistent shapes, non-finite params or sample, a non-positive step, an
        unknown scaling, a bad batch size or a missing key.

    Example:
      >>> import jax, mfutils as mf
      >>> x = jax.random.normal(jax.random.key(0), (64, 3))
      >>> sample = mf.Sample(x, x[:, 0] * x[:, 1])
      >>> p = mf.init_deep(jax.random.key(1), 16, 16, 3, seeds=2)
      >>> run = mf.deep_flow(p, sample, dt=0.05, t_end=1.0, n_records=4)
      >>> run.records["risk"].shape
      (2, 5)
    """
    dt = _checks.positive("dt", dt)
    n, d = _sample(sample)
    seeds, n1, n2, _ = _shapes(params, d)
    _checks.scaling(scaling)
    if batch is not None:
        batch = _checks.count("batch", batch)
        if key is None:
            raise ValueError("minibatch SGD (batch given) needs a PRNG key")
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    dtype = params.c.dtype
    args = DeepArgs(Sample(*(jnp.asarray(v, dtype) for v in sample)), jnp.asarray(dt, dtype),
                    jax.tree.map(lambda r: jnp.asarray(r, dtype), _rates(n1, n2, scaling)))
    return simulate(_step(scaling, batch), _observe(scaling) if observe is None
                    else observer(observe), params, args, key, n_steps=n_steps, every=every,
                    time_per_step=dt, seeds=seeds,
                    noise=None if batch is None else _indices(batch, n), shard_seeds=shard_seeds)


def layer_movement(start: DeepParams, end: DeepParams) -> DeepParams:
    """How far each layer moved: the root-mean-square change of one weight, per layer
    (u: over the N1 vectors u_i, so a vector's Euclidean change; w: over the N1 N2 entries;
    c: over the N2 entries); one value per seed if batched.

    Example:
      >>> import jax, mfutils as mf
      >>> p = mf.init_deep(jax.random.key(0), 8, 4, 3)
      >>> q = p._replace(c=p.c + 2.0)
      >>> [float(m) for m in mf.layer_movement(p, q)]
      [0.0, 0.0, 2.0]
    """
    s0, s1 = _shapes(start), _shapes(end)
    if s0 != s1:
        raise ValueError(f"start and end have different shapes: {s0} and {s1}")
    return _movement(start, end)


@jax.jit
def _movement(start: DeepParams, end: DeepParams) -> DeepParams:
    # compiled whole: one program per shape, not one per operation (JAX keeps each, a few MB)
    du = jnp.sqrt(jnp.mean(jnp.sum((end.u - start.u) ** 2, axis=-1), axis=-1))
    dw = jnp.sqrt(jnp.mean((end.w - start.w) ** 2, axis=(-2, -1)))
    dc = jnp.sqrt(jnp.mean((end.c - start.c) ** 2, axis=-1))
    return DeepParams(du, dw, dc)


def top_singular_share(w) -> jax.Array:
    """sigma_1(W - mean W)^2 / ||W - mean W||_F^2 for W (..., N2, N1): the share of the largest
    singular direction in the centred middle layer. For i.i.d. entries it is about
    (1/sqrt(N1) + 1/sqrt(N2))^2, vanishing as the widths grow; when W_ji depends on the units it
    joins, through a function of (u_i, c_j), it stays of order one.

    Example:
      >>> import jax, mfutils as mf
      >>> w = jax.random.normal(jax.random.key(0), (400, 400))
      >>> round(float(mf.top_singular_share(w)), 3)   # about (2 / 20)^2 = 0.01
      0.01
    """
    w = jnp.asarray(w)
    if w.ndim < 2 or min(w.shape[-2:]) < 2:
        raise ValueError(f"need a matrix of at least 2 x 2, got shape {w.shape}")
    return _top_share(w)


@jax.jit
def _top_share(w) -> jax.Array:
    centred = w - w.mean(axis=(-2, -1), keepdims=True)
    sv = jnp.linalg.svd(centred, compute_uv=False)
    return sv[..., 0] ** 2 / jnp.sum(sv**2, axis=-1)
