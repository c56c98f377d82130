"""The one time loop behind every runner of mfutils (but :func:`mfutils.sgd_escape`, whose
length is traced so that one program serves every budget; this loop, differentiable in reverse
mode, compiles its length).

A runner is a *step* ``state <- step(state, k, xi, args)``, an *observable*
``observe(state, args) -> dict`` and one call to :func:`simulate`. The loop scans the steps,
records the observable at t = 0 and every ``every`` steps, and checks once per record interval that
the state is finite; a run that is not is run again with the check after every step, so it raises
:class:`DivergenceError` naming the first non-finite step instead of returning NaNs (the check
costs as much as a cheap step, so only a diverged run pays it per step). ``step``, ``observe``
and ``noise`` are static (pass module-level functions, compiled once); everything that varies
between calls goes in the traced ``args``.

Keys: a seed-batched run gives seed s the key ``jax.random.split(key, S)[s]`` (an unbatched run
uses ``key`` itself); step k draws its randomness ``xi = noise(jax.random.fold_in(seed_key, k),
args)``. The draws of a block of steps are made at once, outside the inner loop, but each depends
only on (seed key, k): results do not depend on the record interval.
"""
from __future__ import annotations

import functools
from functools import partial
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks

__all__ = ["Run", "DivergenceError", "simulate", "observer"]


class Run(NamedTuple):
    """The result of every runner.

    Attributes:
      final: the state at the end (for seed-batched runs, with the seed axis first).
      times: (R + 1,) the times of the records, from t = 0.
      records: dict of the recorded observables, each with a leading (R + 1,) axis (after the
        seed axis for seed-batched runs).
    """

    final: Any
    times: jax.Array
    records: dict


class DivergenceError(FloatingPointError):
    """A run produced non-finite values; the message names the step, time and seed."""


def _finite(state):
    leaves = [x for x in jax.tree.leaves(state) if jnp.issubdtype(x.dtype, jnp.inexact)]
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


@partial(jax.jit, static_argnames=("step", "observe", "noise", "n_steps", "every", "batched",
                                   "in_turn", "shards", "each_step"))
def _scan(state, args, key, *, step, observe, noise, n_steps, every, batched, in_turn=False,
          shards=1, each_step=False):
    """The scan over records of the scan over steps. Finiteness is checked once per record
    interval (``bad``: the first non-finite record, -1 if none), or after every step with
    ``each_step`` (``bad``: the first non-finite step), which :func:`simulate` reruns to name
    the step only when a run has diverged: the check costs as much as a cheap step.
    Seeds run as one batch (``jax.vmap``) or, ``in_turn``, one after another (``lax.map``; over
    ``shards`` devices, each device its share)."""
    def run(state, key):
        def inner(carry, k_xi):
            (state, bad), (k, xi) = carry, k_xi
            state = step(state, k, xi, args)
            if each_step:
                bad = jnp.where((bad < 0) & ~_finite(state), k + 1, bad)
            return (state, bad), None

        def outer(carry, r):
            ks = r * every + jnp.arange(every, dtype=jnp.int32)
            xi = None if noise is None else jax.vmap(
                lambda k: noise(jax.random.fold_in(key, k), args))(ks)
            (state, bad), _ = jax.lax.scan(inner, carry, (ks, xi))
            if not each_step:
                bad = jnp.where((bad < 0) & ~_finite(state), r + 1, bad)
            return (state, bad), observe(state, args)

        (final, bad), records = jax.lax.scan(
            outer, (state, jnp.int32(-1)), jnp.arange(n_steps // every, dtype=jnp.int32))
        records = jax.tree.map(lambda r0, r: jnp.concatenate([r0[None], r]),
                               observe(state, args), records)
        return final, records, bad

    if not batched:
        return run(state, key)
    if not in_turn:
        return jax.vmap(run)(state, key)

    def each(state, key):
        return jax.lax.map(lambda s_k: run(*s_k), (state, key))
    if shards > 1:
        mesh = jax.sharding.Mesh(np.array(jax.devices()[:shards]), ("seeds",))
        seeds = jax.sharding.PartitionSpec("seeds")
        each = jax.shard_map(each, mesh=mesh, in_specs=(seeds, seeds), out_specs=seeds,
                             check_vma=False)  # every output is per seed
    return each(state, key)


def _record_times(n_steps: int, every: int, time_per_step, dtype=None):
    """The times of the records of a run: t = 0, every * time_per_step, ..., (R + 1 values)."""
    dtype = jnp.result_type(time_per_step) if dtype is None else dtype
    return jnp.arange(n_steps // every + 1, dtype=dtype) * (every * time_per_step)


def _shard_seeds(tree, seeds: int):
    """Place the seed axis of every leaf across the devices when there are several and they
    divide it (the runs are independent, so each device runs its share; results are those of
    one device). Traced values (a runner inside ``jit`` or ``grad``) are left to the caller.
    Returns the tree and the number of devices it is split over (1: not split)."""
    devices = jax.devices()
    if len(devices) < 2 or seeds % len(devices) or not _checks.is_concrete(tree):
        return tree, 1
    mesh = jax.sharding.Mesh(np.array(devices), ("seeds",))
    sharding = jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("seeds"))
    return jax.device_put(tree, sharding), len(devices)


def simulate(step: Callable, observe: Callable, state, args, key=None, *, n_steps: int,
             every: int, time_per_step: float, seeds: int | None = None,
             noise: Callable | None = None, shard_seeds: bool = True,
             seeds_in_turn: bool = False) -> Run:
    """Run ``step`` ``n_steps`` times from ``state``, recording ``observe`` every ``every`` steps.

    Args:
      step: ``(state, k, xi, args) -> state``; k the step index (int32), xi its randomness.
      observe: ``(state, args) -> dict`` of arrays, recorded at t = 0 and every ``every`` steps.
      state: a pytree; with ``seeds = S`` every leaf has a leading seed axis of size S.
      args: a pytree of the traced quantities the step and the observable read.
      key: PRNG key (required when ``noise`` is given).
      n_steps, every: the number of steps and the record interval, which divides n_steps.
      time_per_step: the time one step advances (dt, lr, 1/N or 1 sample).
      noise: ``(key, args) -> pytree``, one step's randomness; None for deterministic steps.
        Seed s of a batched run has the key ``jax.random.split(key, seeds)[s]`` (an unbatched run,
        ``key``), and step k draws ``noise(jax.random.fold_in(seed_key, k), args)``.
      shard_seeds: with several devices (GPUs, or CPU devices under
        ``XLA_FLAGS=--xla_force_host_platform_device_count=n``) whose number divides ``seeds``,
        split the seeds across them (``jax.sharding``); the results are the same. False keeps
        the run on one device.
      seeds_in_turn: run the seeds one after another (``lax.map``) instead of as one batch
        (``jax.vmap``): faster where one seed's step is already a large matrix computation (on
        CPU, XLA's batched matrix products run several times slower than one product at a
        time); the results are the same to rounding.

    Returns:
      a :class:`Run`.

    Raises:
      DivergenceError: if the state becomes non-finite (the message names the first such step).

    Example:
      >>> import jax.numpy as jnp
      >>> halve = lambda x, k, xi, args: x * args
      >>> run = simulate(halve, lambda x, args: {"x": x}, jnp.float32(1.0), jnp.float32(0.5),
      ...                n_steps=4, every=2, time_per_step=0.25)
      >>> run.times.tolist(), run.records["x"].tolist()
      ([0.0, 0.5, 1.0], [1.0, 0.25, 0.0625])
    """
    if noise is not None and key is None:
        raise ValueError("a run with noise needs a PRNG key")
    key = jax.random.key(0) if key is None else key
    shards = 1
    if seeds is not None:
        key = jax.random.split(key, seeds)
        if shard_seeds:
            (state, key), shards = _shard_seeds((state, key), seeds)
    kw = dict(step=step, observe=observe, noise=noise, n_steps=n_steps, every=every,
              batched=seeds is not None, in_turn=seeds_in_turn, shards=shards)
    final, records, bad = _scan(state, args, key, **kw)
    if _checks.is_concrete(bad):
        bad = np.atleast_1d(np.asarray(bad))
        if (bad >= 0).any():   # diverged: run again, checking every step, to name the step
            bad = np.atleast_1d(np.asarray(_scan(state, args, key, each_step=True, **kw)[2]))
            seed = int(np.argmax(bad >= 0))
            k = int(bad[seed])
            where = f" (seed {seed} of {len(bad)}, {int((bad >= 0).sum())} diverged)" if seeds else ""
            raise DivergenceError(
                f"the run became non-finite at step {k} of {n_steps}, t = {k * time_per_step:.4g}"
                f"{where}: reduce the step size")
    return Run(final, _record_times(n_steps, every, time_per_step), records)


@functools.cache
def observer(fn: Callable) -> Callable:
    """Adapt a user's ``fn(state) -> dict`` to the loop's ``observe(state, args)``, once per
    function, so that passing the same ``fn`` again reuses the compiled loop."""
    if not callable(fn):
        raise ValueError("observe must be a function of the state returning a dict")

    def observe(state, args):
        out = fn(state)
        if not isinstance(out, dict):
            raise TypeError(f"observe must return a dict of named records, got {type(out).__name__}")
        return out
    return observe
