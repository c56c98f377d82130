"""One-hidden-layer classifiers on real data, with the N^-gamma normalisation.

    f_N(x) = N^-gamma sum_i c_i tanh(w_i . x),    c_i in R^K (one output per class), w_i in R^D,

trained by minibatch SGD on the square loss to the one-hot label, (1/2) norm(f_N(x) - e_y)^2, with the
step theta <- theta - dt N^(2 gamma - 1) grad R_B(theta) for every weight. gamma = 1 is the
mean-field normalisation, gamma = 1/2 the NTK one; the rate N^(2 gamma - 1) makes the output move
by O(1) per unit of time t = (steps) dt at every width (a single weight moves by N^(gamma - 1)).

The minibatches are drawn from ``key``, one stream shared by every seed of a seed-batched run by
default: the networks then differ only in their initialisation, and a variance over seeds is the
variance that initialisation causes.
"""
from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .datasets import Dataset
from .loop import Run, observer, simulate
from .network import standard_normals

__all__ = ["Classifier", "init_classifier", "classifier_output", "classifier_risk",
           "classifier_accuracy", "classifier_sgd"]


class Classifier(NamedTuple):
    """Output weights c (N, K) and input weights w (N, D); optionally a leading seed axis on both."""

    c: jax.Array
    w: jax.Array


def _gamma(gamma) -> float:
    g = float(gamma)
    if not 0.5 <= g <= 1.0:
        raise ValueError(f"gamma must be in [1/2, 1] (1/2: NTK, 1: mean field), got {gamma!r}")
    return g


def _shapes(params: Classifier, dim: int | None = None) -> tuple[int | None, int, int, int]:
    """Check a (possibly seed-batched) Classifier; return (seeds or None, N, K, D)."""
    c, w = np.shape(params.c), np.shape(params.w)
    if len(c) not in (2, 3) or len(w) != len(c) or c[:-1] != w[:-1] or min(c + w) < 1:
        raise ValueError(f"a Classifier needs c: (N, K) and w: (N, D) (optionally with a leading "
                         f"seed axis), got c: {c}, w: {w}")
    if dim is not None and w[-1] != dim:
        raise ValueError(f"the weights have input dimension {w[-1]}, the data has {dim}")
    _checks.finite("params contain", params)
    return (c[0] if len(c) == 3 else None), c[-2], c[-1], w[-1]


def _data(data: Dataset, classes: int, dim: int) -> None:
    """Check a Dataset for a network with K = classes outputs and inputs in R^dim: images
    (n, dim), finite; labels (n,), integers in 0..K-1."""
    x, y = np.shape(data.images), np.shape(data.labels)
    if len(x) != 2 or y != x[:1] or x[0] < 1:
        raise ValueError(f"a Dataset needs images: (n, D) and labels: (n,), got {x} and {y}")
    if x[1] != dim:
        raise ValueError(f"the weights have input dimension {dim}, the data has {x[1]}")
    _checks.finite("the images contain", data.images)
    labels = np.asarray(data.labels)
    if not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers, got dtype {labels.dtype}")
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must be in 0..{classes - 1} (the network has {classes} outputs), "
                         f"got {labels.min()}..{labels.max()}")


def init_classifier(key, n: int, dim: int, classes: int = 10, *, seeds: int | None = None,
                    w_scale: float = 1.0, dtype=None) -> Classifier:
    """i.i.d. initialisation: c_i ~ N(0, I_K), w_i ~ N(0, w_scale^2 I_D / D).

    With ``seeds=S`` both arrays gain a leading axis of S independent networks.

    Example:
      >>> import jax, mfutils as mf
      >>> p = mf.init_classifier(jax.random.key(0), 50, 784, seeds=3)
      >>> p.c.shape, p.w.shape
      ((3, 50, 10), (3, 50, 784))
    """
    n, dim = _checks.count("N", n), _checks.count("D", dim)
    classes = _checks.count("classes", classes)
    w_scale = _checks.positive("w_scale", w_scale)
    dtype = _checks.float_dtype(dtype)
    lead = () if seeds is None else (_checks.count("seeds", seeds),)
    return _init_classifier(key, w_scale, dim**0.5, shapes=(lead + (n, classes), lead + (n, dim)),
                            dtype=dtype)


@functools.partial(jax.jit, static_argnames=("shapes", "dtype"))
def _init_classifier(key, w_scale, sqrt_dim, *, shapes, dtype) -> Classifier:
    c, w = standard_normals(jax.random.split(key), shapes, dtype)
    return Classifier(c, w * w_scale / sqrt_dim)


def _output(params: Classifier, x, gamma):
    return params.c.shape[-2] ** -gamma * jnp.tanh(x @ params.w.T) @ params.c


def _risk(params: Classifier, x, y, gamma):
    one_hot = jax.nn.one_hot(y, params.c.shape[-1], dtype=x.dtype)
    return 0.5 * jnp.mean(jnp.sum((_output(params, x, gamma) - one_hot) ** 2, axis=-1))


def _accuracy(params: Classifier, x, y, gamma):
    return jnp.mean(jnp.argmax(_output(params, x, gamma), axis=-1).astype(y.dtype) == y)


@functools.partial(jax.jit, static_argnames=("fn", "batched"))
def _evaluate(fn, params, x, y, gamma, batched):
    """fn on one network, or on every seed one after another (no batched matrix products, whose
    broadcast copies of the data cost memory on a CPU)."""
    if not batched:
        return fn(params, x, y, gamma)
    return jax.lax.map(lambda p: fn(p, x, y, gamma), params)


def _outputs(params, x, y, gamma):
    return _output(params, x, gamma)


def classifier_output(params: Classifier, x, gamma: float = 1.0):
    """The outputs f_N(x) at inputs x (..., D): (..., K) for one network, (S, ..., K) for S
    seed-batched networks.

    Example:
      >>> import jax, mfutils as mf
      >>> p = mf.init_classifier(jax.random.key(0), 50, 784, seeds=3)
      >>> mf.classifier_output(p, jax.numpy.ones((4, 784)), gamma=0.5).shape
      (3, 4, 10)
    """
    seeds, _, classes, _ = _shapes(params, np.shape(x)[-1])
    x = jnp.asarray(x, params.c.dtype)
    flat = x.reshape(-1, x.shape[-1])
    out = _evaluate(_outputs, params, flat, None, jnp.asarray(_gamma(gamma), params.c.dtype),
                    seeds is not None)
    return out.reshape(out.shape[:-2] + x.shape[:-1] + (classes,))


def _per_seed(fn, params: Classifier, data: Dataset, gamma):
    seeds, _, classes, dim = _shapes(params)
    _data(data, classes, dim)
    x, y = jnp.asarray(data.images, params.c.dtype), jnp.asarray(data.labels, jnp.int32)
    return _evaluate(fn, params, x, y, jnp.asarray(_gamma(gamma), params.c.dtype), seeds is not None)


def classifier_risk(params: Classifier, data: Dataset, gamma: float = 1.0):
    """The square loss (1/2n) sum_k norm(f_N(x_k) - e_{y_k})^2 on a data set; one value per seed.

    Example:
      >>> import jax, mfutils as mf
      >>> train, test = mf.datasets.mnist()
      >>> p = mf.init_classifier(jax.random.key(0), 50, 784, seeds=2)
      >>> mf.classifier_risk(p, test).shape
      (2,)
    """
    return _per_seed(_risk, params, data, gamma)


def classifier_accuracy(params: Classifier, data: Dataset, gamma: float = 1.0):
    """The share of the data set whose largest output is the label's; one value per seed.

    Example:
      >>> import jax, mfutils as mf
      >>> train, test = mf.datasets.mnist()
      >>> p = mf.init_classifier(jax.random.key(0), 50, 784)
      >>> 0 <= float(mf.classifier_accuracy(p, test)) <= 1
      True
    """
    return _per_seed(_accuracy, params, data, gamma)


class SGDArgs(NamedTuple):
    """What a step reads: the training and evaluation data, the step dt, the rate N^(2 gamma - 1),
    gamma, and the key of the shared minibatch stream."""

    train: tuple
    evaluate: tuple
    dt: jax.Array
    rate: jax.Array
    gamma: jax.Array
    stream: jax.Array


@functools.cache
def _step(batch: int, shared: bool):
    def step(params, k, xi, args):
        x, y = args.train
        if shared:   # every seed reads the same minibatches
            xi = jax.random.randint(jax.random.fold_in(args.stream, k), (batch,), 0, x.shape[0])
        grad = jax.grad(_risk)(params, x[xi], y[xi], args.gamma)
        return jax.tree.map(lambda p, g: p - args.dt * args.rate * g, params, grad)
    return step


@functools.cache
def _indices(batch: int):
    def noise(key, args):
        return jax.random.randint(key, (batch,), 0, args.train[0].shape[0])
    return noise


def _observe(params, args):
    x, y = args.evaluate
    return {"risk": _risk(params, x, y, args.gamma), "accuracy": _accuracy(params, x, y, args.gamma),
            "c": params.c, "w_norm": jnp.linalg.norm(params.w, axis=-1)}


def classifier_sgd(params: Classifier, train: Dataset, key, *, gamma: float, dt: float,
                   t_end: float, batch: int = 32, evaluate: Dataset | None = None,
                   shared_batches: bool = True, observe: Callable | None = None,
                   every: int | None = None, n_records: int | None = None,
                   shard_seeds: bool = True) -> Run:
    """Train by minibatch SGD on the square loss to the one-hot labels:

        theta <- theta - dt N^(2 gamma - 1) grad R_B(theta),   t = (steps) dt,

    R_B the loss of ``batch`` training examples drawn uniformly with replacement at each step.

    Args:
      params: a :class:`Classifier`, optionally seed-batched.
      train: the training :class:`~mfutils.datasets.Dataset`.
      key: PRNG key of the minibatches.
      gamma: the normalisation exponent, in [1/2, 1].
      dt, t_end: the step and the horizon (a whole number of steps).
      batch: the minibatch size.
      evaluate: the data set on which the default records measure ``"risk"`` and ``"accuracy"``
        (the training set if None); they also hold the output weights ``"c"`` (N, K) and the
        norms ``"w_norm"`` (N,) of the input weights, the empirical law's statistics.
      shared_batches: every seed of a batched run reads the same minibatches (True), so the seeds
        differ only in their initialisation; False gives each seed its own stream.
      observe, every, n_records, shard_seeds: as in :func:`mfutils.particle_flow`.

    The seeds run one after another (each step is already a matrix product; on a CPU one
    product at a time is faster than a batch of them); the results are the same.

    Returns:
      a :class:`~mfutils.Run`; ``final`` is the trained network.

    Raises:
      DivergenceError: if the weights become non-finite (the message names the step).
      ValueError: for inconsistent shapes, non-finite weights or images, labels outside the
        outputs, gamma outside [1/2, 1], a non-positive step or a bad batch size.

    Example:
      >>> import jax, mfutils as mf
      >>> train, test = mf.datasets.mnist()
      >>> p = mf.init_classifier(jax.random.key(0), 50, 784, seeds=2)
      >>> run = mf.classifier_sgd(p, train, jax.random.key(1), gamma=1.0, dt=0.1, t_end=2.0,
      ...                         evaluate=test, n_records=2)
      >>> run.records["accuracy"].shape
      (2, 3)
    """
    gamma, dt = _gamma(gamma), _checks.positive("dt", dt)
    batch = _checks.count("batch", batch)
    evaluate = train if evaluate is None else evaluate
    seeds, n, classes, dim = _shapes(params)
    for data in (train,) if evaluate is train else (train, evaluate):
        _data(data, classes, dim)
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    dtype = params.c.dtype

    def arrays(data):
        return jnp.asarray(data.images, dtype), jnp.asarray(data.labels, jnp.int32)
    train_arrays = arrays(train)
    evaluate_arrays = train_arrays if evaluate is train else arrays(evaluate)
    args = SGDArgs(train_arrays, evaluate_arrays, jnp.asarray(dt, dtype),
                   jnp.asarray(n ** (2 * gamma - 1), dtype), jnp.asarray(gamma, dtype), key)
    shared = shared_batches or seeds is None
    return simulate(_step(batch, shared), _observe if observe is None else observer(observe),
                    params, args, key, n_steps=n_steps, every=every, time_per_step=dt,
                    seeds=seeds, noise=None if shared else _indices(batch), shard_seeds=shard_seeds,
                    seeds_in_turn=True)
