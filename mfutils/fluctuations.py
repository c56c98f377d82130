"""Fluctuations around the mean-field limit: the influence function of the flow.

The particle flow from mu^N_0 is the limit equation started at mu^N_0, so the output at time t is
a functional of the initial measure, f_N(x0, t) = F_t(mu^N_0). Its first variation
Phi_t(theta; x0) = dF_t/dmu_0 (theta) is the *influence function*; the delta method predicts

    sqrt(N) (f_N(x0, t) - f_MF(x0, t))  ->  N(0, Var_{theta ~ mu_0} Phi_t(theta; x0)).

For a reference measure mu = sum_j omega_j delta_{theta_j}, Phi_t(theta_j) = d f(x0, t) / d omega_j: the
derivative of the flow's output with respect to the particle *weights*, computed by reverse-mode
differentiation through the time loop, with ``jax.checkpoint`` on the step so that memory grows
with the number of steps only by one particle state per step.

Online SGD adds a second source (Sirignano-Spiliopoulos): each step moves every particle by the
step times its single-sample velocity, whose data-centred part is a martingale increment common
to all particles. Its contribution to Var[sqrt(N) f_N(x0, t)] is (N eps) B(t) with

    B(t) = int_0^t Var_x[ int <grad_theta Phi_{s,t}(theta; x0), v_s(theta; x)> mu_s(d theta) ] ds,

v_s(theta; x) = (f*(x) - f_{mu_s}(x)) grad_theta phi(theta; x) the single-sample velocity. The
inner integral is the derivative of f(x0, t) along a displacement of the particles at time s:
the same backward pass gives it, as the gradient with respect to a zero kick added to the state
after each step.
"""
from __future__ import annotations

from functools import partial
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from . import _checks
from .dynamics import StepArgs
from .loop import DivergenceError, Run, _record_times, simulate
from .network import Params, Problem, target
from .population import velocity_field
from .stats import Estimate

__all__ = ["influence_function", "influence_variance", "noise_variance"]


class _Weighted(NamedTuple):
    """The flow's state: particles, their weights omega (constant) and the probe inputs x0 (constant)."""

    params: Params
    weights: jax.Array
    x0: jax.Array


@jax.checkpoint
def _weighted_step(state, k, xi, args):
    """Euler step in the field of the weighted measure (every particle, whatever its weight)."""
    move = velocity_field(state.params, state.params, args.problem, state.weights)
    return state._replace(params=jax.tree.map(lambda p, v: p + args.dt * v, state.params, move))


def _probe(state, args):
    """f_mu(x0_p) = sum_j omega_j a_j sigma(w_j . x0_p) for the P probe inputs: shape (P,)."""
    return {"f": args.problem.sigma(state.x0 @ state.params.w.T)
            @ (state.weights * state.params.a)}


def _outputs(weights, reference, x0, problem, dt, n_steps, every):
    """f(x0_p, t) at the record times, shape (R + 1, P), as a function of the weights omega; with the
    run again as auxiliary output (for ``jax.jacrev(..., has_aux=True)``)."""
    run = simulate(_weighted_step, _probe, _Weighted(reference, weights, x0), StepArgs(problem, dt),
                   n_steps=n_steps, every=every, time_per_step=dt)
    return run.records["f"], run


def _kicked_outputs(weights, kicks, reference, x0, problem, dt, n_steps, every):
    """As :func:`_outputs`, with ``kicks`` (Params of (n_steps, N_ref, ...)) added to the state
    after each step: the gradient with respect to kick k is d f(x0, t) / d theta(t_{k+1}). The
    auxiliary output holds the state before each step (Params of (n_steps, N_ref, ...))."""
    def step(params, kick):
        move = velocity_field(params, params, problem, weights)
        return jax.tree.map(lambda p, v, k: p + dt * v + k, params, move, kick), params

    def record(params, kicks):
        params, before = jax.lax.scan(jax.checkpoint(step), params, kicks)
        return params, (_probe(_Weighted(params, weights, x0), StepArgs(problem, dt))["f"], before)

    kicks = jax.tree.map(lambda k: k.reshape((n_steps // every, every) + k.shape[1:]), kicks)
    final, (records, before) = jax.lax.scan(record, reference, kicks)
    f0 = _probe(_Weighted(reference, weights, x0), StepArgs(problem, dt))["f"]
    before = jax.tree.map(lambda b: b.reshape((n_steps,) + b.shape[2:]), before)
    return jnp.concatenate([f0[None], records]), (final, before)


def _single_sample_gain(adjoint, params, weights, problem, x):
    """G(x) = sum_j <adjoint_j, v(theta_j; x)> for the single-sample velocity
    v(theta; x) = (f*(x) - f_mu(x)) (sigma(w . x), a sigma'(w . x) x), for each sample of x (M, d)
    and every output: adjoint a (O, N), w (O, N, d). Returns (O, M)."""
    z = x @ params.w.T                                             # (M, N)
    s, ds = jax.jvp(problem.sigma, (z,), (jnp.ones_like(z),))      # sigma, sigma' (elementwise)
    residual = target(problem, x) - s @ (weights * params.a)       # (M,)
    gain = adjoint.a @ s.T + jnp.einsum("mn,onm->om", ds * params.a, adjoint.w @ x.T)
    return residual * gain


@partial(jax.jit, static_argnames=("n_steps", "every", "samples"))
def _influence(reference, x0, problem, dt, n_steps, every, key=None, samples=None):
    def one(ref, key):
        m = jnp.full(ref.a.shape, 1.0 / ref.a.shape[-1], ref.a.dtype)
        if samples is None:
            f = partial(_outputs, reference=ref, x0=x0, problem=problem, dt=dt, n_steps=n_steps,
                        every=every)
            values, run = jax.jacrev(f, has_aux=True)(m)
            return run.final.params, run.records["f"], values, None

        def f(m, kicks):   # the outputs, also as auxiliary output (jacrev returns only the Jacobian)
            out, aux = _kicked_outputs(m, kicks, ref, x0, problem, dt, n_steps, every)
            return out, (out,) + aux

        kicks = jax.tree.map(lambda p: jnp.zeros((n_steps,) + p.shape, p.dtype), ref)
        (values, adjoints), (outputs, final, before) = jax.jacrev(f, (0, 1), has_aux=True)(m, kicks)

        def step_noise(k_state_adjoint):   # dt Var_x G_k(x) at step k, for every output
            k, state, adjoint = k_state_adjoint
            x = jax.random.normal(jax.random.fold_in(key, k), (samples, problem.d), dt.dtype)
            flat = jax.tree.map(lambda a: a.reshape((-1,) + a.shape[2:]), adjoint)
            return dt * jnp.var(_single_sample_gain(flat, state, m, problem, x), axis=-1, ddof=1)

        adjoints = jax.tree.map(lambda a: jnp.moveaxis(a, 2, 0), adjoints)   # steps first
        per_step = jax.lax.map(step_noise, (jnp.arange(n_steps), before, adjoints))
        # the adjoint of a step after a record's time is zero: sum over every step
        return final, outputs, values, per_step.sum(axis=0).reshape(outputs.shape)

    if reference.a.ndim == 1:
        return one(reference, key)
    # one reference at a time: the memory of one, whatever J
    keys = None if samples is None else jax.random.split(key, reference.a.shape[0])
    return jax.lax.map(lambda ref_key: one(*ref_key), (reference, keys))


def influence_function(reference: Params, problem: Problem, x0, *, dt: float, t_end: float,
                       every: int | None = None, n_records: int | None = None,
                       sgd_samples: int | None = None, key=None) -> Run:
    """The influence function Phi_t(theta_j; x0) = d f(x0, t) / d omega_j of the gradient flow,
    and optionally the SGD noise coefficient B(t).

    The reference particles theta_j, i.i.d. from mu_0, carry weights omega_j = 1/N_ref; the flow
    (explicit Euler, step ``dt``) moves every particle in the velocity field of the weighted
    measure (:func:`mfutils.velocity_field` with ``weights``), and the outputs f(x0_p, t) are
    differentiated with respect to the weights by ``jax.jacrev`` through the scan (one backward
    pass per output, each step recomputed under ``jax.checkpoint``).

    With ``sgd_samples=M`` the same backward passes also differentiate each output with respect
    to a displacement of the particles after every step k, and

        B(t) = sum_{k: t_k < t} dt Var_x[ sum_j <d f(x0, t) / d theta_j(t_{k+1}), v(theta_j(t_k); x)> ],

    the variance over M fresh samples x ~ N(0, I_d) per step (drawn with
    ``jax.random.normal(jax.random.fold_in(key_J, k), (M, d))``, ``key_J`` the key of the
    reference: ``key`` itself, or ``jax.random.split(key, J)[j]`` for a seed-batched one) of the
    derivative along the single-sample velocity v(theta; x) = (f*(x) - f_mu(x)) grad phi(theta; x).
    Online SGD with step eps adds (N eps) B(t) to Var[sqrt(N) f_N(x0, t)] (see the module
    docstring); its Monte Carlo error over x is part of the spread between references.

    Args:
      reference: a (N_ref,), w (N_ref, d), or seed-batched (J, N_ref), (J, N_ref, d): J independent
        references (cheaper than one of size J N_ref: the cost per step is O(N_ref^2)), computed
        one after another, so the memory is that of one reference whatever J.
      x0: probe inputs, shape (P, d).
      dt, t_end, every, n_records: as in :func:`mfutils.particle_flow`.
      sgd_samples: M >= 2 samples of x per step for B(t); None (default) skips it.
      key: a PRNG key, required with ``sgd_samples``.
    Returns:
      a :class:`~mfutils.Run`: ``final`` the reference particles at t_end; ``records["f"]``
      (..., R + 1, P) the outputs f(x0_p, t); ``records["influence"]`` (..., R + 1, P, N_ref) the
      values Phi_t(theta_j; x0_p) at the reference's initial particles, the leading ``...`` being
      the seed axis of a seed-batched reference. At t = 0, Phi_0(theta; x0) = a sigma(w . x0).
      With ``sgd_samples``, also ``records["noise"]`` (..., R + 1, P): B(t) of each reference.

    Raises:
      ValueError: bad shapes, non-finite inputs, a bad schedule, or ``sgd_samples`` without a key.
      DivergenceError: if the flow's outputs become non-finite (reduce ``dt``).

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> ref = mf.init_params(jax.random.key(0), 32, 5)
      >>> run = mf.influence_function(ref, problem, jax.numpy.ones((2, 5)), dt=0.1, t_end=1.0,
      ...                             every=5, sgd_samples=256, key=jax.random.key(1))
      >>> run.records["influence"].shape, run.records["noise"].shape
      ((3, 2, 32), (3, 2))
    """
    _checks.problem_seeds(reference, problem)
    if not all(bool(jnp.all(jnp.isfinite(p))) for p in reference):
        raise ValueError("the reference particles contain non-finite values")
    x0 = jnp.asarray(x0, reference.a.dtype)
    if x0.ndim != 2 or x0.shape[1] != problem.d:
        raise ValueError(f"x0 must have shape (P, {problem.d}), got {x0.shape}")
    if not bool(jnp.all(jnp.isfinite(x0))):
        raise ValueError("x0 contains non-finite values")
    dt = _checks.positive("dt", dt)
    n_steps, every = _checks.schedule(t_end, dt, every, n_records)
    if sgd_samples is not None:
        sgd_samples = _checks.count("sgd_samples", sgd_samples, minimum=2)
        if key is None:
            raise ValueError("sgd_samples needs a PRNG key")
    final, outputs, values, noise = _influence(reference, x0, problem,
                                               jnp.asarray(dt, reference.a.dtype), n_steps, every,
                                               key, sgd_samples)
    records = {"f": outputs, "influence": values}
    if noise is not None:
        records["noise"] = noise
    if not all(np.isfinite(np.asarray(r)).all() for r in records.values()):
        raise DivergenceError("the weighted flow became non-finite: reduce dt")
    return Run(final, _record_times(n_steps, every, dt, reference.a.dtype), records)


def _over_references(per_reference, level):
    """The mean over J independent references, (J, ...) -> (...), with its t interval (J - 1
    degrees of freedom) and standard error."""
    k = per_reference.shape[0]
    if k < 2:
        raise ValueError("an interval needs at least 2 independent references")
    mean, se = per_reference.mean(axis=0), per_reference.std(axis=0, ddof=1) / np.sqrt(k)
    half = stats.t.ppf(0.5 + level / 2, k - 1) * se
    return Estimate(mean, (mean - half, mean + half), se)


def influence_variance(values, level: float = 0.95) -> Estimate:
    """The predicted CLT variance Var_{theta ~ mu_0} Phi_t(theta; x0), shape (R + 1, P).

    Args:
      values: ``records["influence"]`` of :func:`influence_function`, (R + 1, P, N_ref) for one
        reference or (J, R + 1, P, N_ref) for J independent references.

    For J >= 2 references the value is the mean of the J per-reference sample variances and the
    interval is the t interval (J - 1 degrees of freedom) of that mean, so it includes the
    randomness of the reference flows themselves; the O(1/N_ref) bias of a finite reference is
    not included. A single reference gives the sample variance with no interval (nan).

    Example:
      >>> import numpy as np
      >>> values = np.random.default_rng(0).normal(0, 2, (4, 1, 1, 5000))
      >>> est = influence_variance(values)
      >>> bool(est.ci[0][0, 0] < 4 < est.ci[1][0, 0])
      True
    """
    _checks.level(level)
    values = np.asarray(values, float)
    if values.ndim not in (3, 4):
        raise ValueError(f"values must be (R + 1, P, N_ref) or (J, R + 1, P, N_ref), got {values.shape}")
    if values.ndim == 3:
        var = values.var(axis=-1, ddof=1)
        return Estimate(var, (np.full_like(var, np.nan), np.full_like(var, np.nan)),
                        np.full_like(var, np.nan))
    return _over_references(values.var(axis=-1, ddof=1), level)


def noise_variance(noise, level: float = 0.95) -> Estimate:
    """The predicted SGD noise coefficient B(t), shape (R + 1, P), from J >= 2 references.

    Args:
      noise: ``records["noise"]`` of :func:`influence_function` with ``sgd_samples``, of a
        seed-batched reference: (J, R + 1, P).

    The value is the mean over the references; the interval is the t interval of that mean, so it
    includes the randomness of the reference flows and of the samples x.

    Example:
      >>> import numpy as np
      >>> est = noise_variance(np.random.default_rng(0).normal(0.3, 0.01, (8, 2, 1)))
      >>> bool(est.ci[0][1, 0] < 0.3 < est.ci[1][1, 0])
      True
    """
    _checks.level(level)
    noise = np.asarray(noise, float)
    if noise.ndim != 3:
        raise ValueError(f"noise must be (J, R + 1, P) for J references, got {noise.shape}")
    return _over_references(noise, level)
