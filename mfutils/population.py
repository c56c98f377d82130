"""Exact population quantities under Gaussian inputs: the risk R, the first variation V_mu, the
particle velocity and the mean-field velocity field.

All expectations over x ~ N(0, I_d) are closed-form kernel sums (see :mod:`mfutils.activations`),
so these functions cost O(N^2 d) and are differentiated exactly by JAX. A measure is the empirical
measure of a :class:`~mfutils.Params` (weights 1/N), or with ``weights`` omega the weighted measure
sum_j omega_j delta_{theta_j}, whose weights need not sum to one (chapter 4 differentiates in them).
"""
from __future__ import annotations

from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from . import _checks
from .network import Params, Problem, Scaling, output_scale, time_scale

__all__ = ["population_risk", "first_variation", "velocity", "velocity_field"]


def _on_sphere(problem: Problem, *params: Params) -> None:
    """Hermite kernels hold for unit-norm rows only: check them where values are concrete."""
    if problem.sigma.name == "hermite" or problem.sigma_star.name == "hermite":
        for name, p in zip(("teacher", "params", "theta"), (problem.teacher,) + params):
            _checks.unit_rows(f"{name}.w", p.w)


_ROWS = 512  # rows of K(w, w) per block in the tiled quadratic form


def _quadratic_form(a, w, sig, tiled):
    """a' K(w, w) a; tiled (N a multiple of _ROWS above it), in row blocks of O(_ROWS N) memory."""
    n = a.shape[-1]
    if not tiled or n <= _ROWS or n % _ROWS:
        return a @ sig.kernel(w, w) @ a
    blocks = (a.reshape(n // _ROWS, _ROWS), w.reshape(n // _ROWS, _ROWS, w.shape[-1]))
    return jax.lax.map(lambda blk: blk[0] @ sig.kernel(blk[1], w) @ a, blocks).sum()


@partial(jax.jit, static_argnames=("scaling", "tiled"))
def _risk(params: Params, problem: Problem, scaling: Scaling, tiled: bool = False):
    a, w = params
    b, u = problem.teacher
    s = output_scale(a.shape[-1], scaling)
    sig, sig_star = problem.sigma, problem.sigma_star
    student = s**2 * _quadratic_form(a, w, sig, tiled)
    cross = s * a @ sig.kernel(w, u, sig_star) @ b
    teacher = b @ sig_star.kernel(u, u) @ b
    return 0.5 * (student - 2.0 * cross + teacher)


def population_risk(params: Params, problem: Problem, scaling: Scaling = "mean-field"):
    """R(mu^N) = 1/2 E (f_N(x) - y)^2, exactly: a scalar, or one risk per seed, shape (S,), for
    seed-batched params.

    Expands the square into kernel sums: 1/2 [s^2 a'K(w,w)a - 2 s a'K(w,u)b + b'K(u,u)b]; for
    N a multiple of 512 above it, a'K(w,w)a is summed in blocks of 512 rows, so the memory is
    O(512 N) per seed instead of O(N^2).

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> round(float(mf.population_risk(mf.init_params(jax.random.key(0), 256, 5), problem)), 2)
      0.72
    """
    _on_sphere(problem, params)
    if _checks.problem_seeds(params, problem) is None:
        return _risk(params, problem, scaling, tiled=True)
    return jax.vmap(lambda p: _risk(p, problem, scaling, tiled=True))(params)


@jax.jit
def _first_variation(theta: Params, params: Params, problem: Problem, weights):
    b, u = problem.teacher
    sig = problem.sigma
    m = 1.0 / params.a.shape[-1] if weights is None else weights
    residual = (sig.kernel(theta.w, params.w) @ (m * params.a)
                - sig.kernel(theta.w, u, problem.sigma_star) @ b)
    return theta.a * residual


def first_variation(theta: Params, params: Params, problem: Problem, weights=None):
    """V_mu(theta) = E[(f_mu(x) - y) phi(theta; x)], phi(theta; x) = a sigma(w . x).

    Args:
      theta: the points where V is evaluated, a (M,), w (M, d).
      params: the particles theta_j of mu (a (N,), w (N, d)).
      weights: omega (N,) or a scalar for mu = sum_j omega_j delta_{theta_j}; default 1/N, the empirical
        measure, for which ``grad V_{mu^N}(theta_i) = N grad_{theta_i} R``.
    Returns:
      an (M,) array.

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> params = mf.init_params(jax.random.key(0), 8, 5)
      >>> mf.first_variation(params, params, problem).shape
      (8,)
    """
    _on_sphere(problem, params, theta)
    return _first_variation(theta, params, problem, weights)


_WHOLE_ROWS = 4096   # up to this many particles a block's row runs against all of them


def _cols_per_block(n: int) -> int:
    """Columns (particles) of a velocity block: all n up to 4096 particles; beyond, blocks of
    1024, against 1024 rows, so that a block's few (rows, cols) temporaries stay in cache
    (side by side at N = 16384: 2.3-2.6 against 2.6 ns per pair with whole rows of 512 x N pairs
    at d = 50, 0.87-0.96 against 0.99-1.29 at d = 5; at N = 102400, d = 50: 2.2-2.5 against
    4.0-4.2 ns per pair, in half the memory)."""
    return n if n <= _WHOLE_ROWS else 1024


def _rows_per_block(n: int, seeds: int = 1, d: int = 1) -> int:
    """Rows of a velocity block against n particles in R^d, for ``seeds`` networks batched
    together: a power of two between 8 and 512, about 2^21 pairs per block in all so the few
    (seeds, rows, n) temporaries stay in cache, or, from d = 16, where the two matrix products
    dominate and re-read the (n, d) weights once per block, about 2^25 (measured at d = 50
    with benchmarks/velocity.py). Beyond 4096 particles the columns come in blocks too
    (:func:`_cols_per_block`), against 1024 rows."""
    if n > _WHOLE_ROWS:
        return max(8, 1024 // seeds)
    pairs = 2**25 if d >= 16 else 2**21
    return int(min(512, max(8, 2 ** int(np.log2(max(1, pairs // (n * seeds)))))))


def _seeds_in_turn(n: int, d: int) -> bool:
    """Whether seed-batched flows of n particles in R^d run their seeds one after another: from
    about n^2 d = 2^15 one seed's velocity is a large enough matrix computation that XLA's
    batched products (on CPU, several times slower than one product at a time) lose to a loop
    over seeds (2-4x at n = 128-1024, benchmarks/velocity.py --seeds)."""
    return n * n * d >= 2**15


def _block_size(value, name="rows"):
    return None if value is None else _checks.count(name, value)


def _field(theta: Params, params: Params, problem: Problem, weights, rows: int | None,
           cols: int | None = None):
    """-grad V_mu at the points theta (M rows), mu = sum_j omega_j delta_{theta_j}, in blocks.

    ``rows`` rows of theta at a time (default :func:`_rows_per_block`), each against the
    particles ``cols`` at a time (default :func:`_cols_per_block`), summing the blocks' kernel
    sums, so the temporaries take O(rows cols) memory whatever M and N; theta is padded to whole
    blocks by repeating its last row, the particles with weightless copies of the last one.
    """
    b, u = problem.teacher
    sig = problem.sigma
    c = params.a * weights
    n, d = params.w.shape
    cols = min(_cols_per_block(n) if cols is None else cols, n)
    if cols < n:
        pad = -n % cols
        w = jnp.concatenate([params.w, jnp.broadcast_to(params.w[-1:], (pad, d))])
        blocks = (w.reshape(-1, cols, d), jnp.pad(c, (0, pad)).reshape(-1, cols))

    def sums(tw):   # the kernel sums against all particles, a block of columns at a time
        if cols == n:
            return sig.kernel_sums(tw, params.w, c)

        def add(total, block):
            return jax.tree.map(jnp.add, total, sig.kernel_sums(tw, *block)), None
        zero = (jnp.zeros(tw.shape[:1], tw.dtype), jnp.zeros_like(tw))
        return jax.lax.scan(add, zero, blocks)[0]

    def block(tw):
        k, g = sums(tw)
        k_star, g_star = sig.kernel_sums(tw, u, b, problem.sigma_star)
        return k - k_star, g - g_star

    m = theta.a.shape[-1]
    rows = _rows_per_block(params.a.shape[-1], 1, theta.w.shape[-1]) if rows is None else rows
    if m <= rows:
        residual, grad = block(theta.w)
    else:
        pad = -m % rows
        tw = jnp.concatenate([theta.w, jnp.broadcast_to(theta.w[-1:], (pad, theta.w.shape[-1]))])
        residual, grad = jax.lax.map(block, tw.reshape(-1, rows, tw.shape[-1]))
        residual, grad = residual.reshape(-1)[:m], grad.reshape(-1, tw.shape[-1])[:m]
    return Params(-residual, -theta.a[:, None] * grad)


def _own_velocity(params: Params, everyone: Params, problem: Problem, scaling: Scaling, rows,
                  cols=None):
    """-time_scale grad_{theta_i} R for the rows ``params`` of the network ``everyone``."""
    n = everyone.a.shape[-1]
    # -ts grad R = ts s (-grad V) in the measure of weights s: s^2 K a - s K* b = s (K (s a) - K* b)
    scale = time_scale(n, scaling) * output_scale(n, scaling)
    s = jnp.asarray(output_scale(n, scaling), params.a.dtype)
    return jax.tree.map(lambda x: scale * x, _field(params, everyone, problem, s, rows, cols))


@partial(jax.jit, static_argnames=("scaling", "rows", "split_rows", "cols"))
def _velocity(params: Params, problem: Problem, scaling: Scaling, rows: int | None,
              split_rows: bool = False, cols: int | None = None) -> Params:
    devices = jax.devices()
    if not split_rows or len(devices) < 2:
        return _own_velocity(params, params, problem, scaling, rows, cols)
    # each device: its rows against all particles, gathered from every device (explicitly)
    mesh = jax.sharding.Mesh(np.array(devices), ("rows",))
    spec, whole = jax.sharding.PartitionSpec("rows"), jax.sharding.PartitionSpec()

    def local(mine, problem):
        everyone = jax.lax.all_gather(mine, "rows", tiled=True)
        return _own_velocity(mine, everyone, problem, scaling, rows, cols)

    return jax.shard_map(local, mesh=mesh, in_specs=(spec, whole), out_specs=spec)(params, problem)


def velocity(params: Params, problem: Problem, scaling: Scaling = "mean-field", *,
             rows: int | None = None, cols: int | None = None,
             split_rows: bool = False) -> Params:
    """The particle velocity -time_scale(N) grad_{theta_i} R, as Params of the same shapes.

    Mean-field scaling: -N grad_{theta_i} R = -grad V_{mu^N}(theta_i), the particle gradient flow.
    NTK scaling: -grad_{theta_i} R, plain gradient flow on the 1/sqrt(N) network.

    The gradient of the kernel sums is analytic (:meth:`~mfutils.Activation.kernel_sums`) and rows are
    processed ``rows`` at a time (default: 2^21 to 2^25 pairs per block), against the particles
    ``cols`` at a time (default: all of them up to N = 4096, else blocks of 1024 x 1024 pairs),
    so no (N, N) array is stored: a step costs O(N^2 d) time and O(N d + rows cols) memory.
    Differentiable, as a JAX function.
    With ``split_rows=True`` and several devices, each device computes the velocity of N / D
    rows after an all-gather of the particles (N must be a multiple of the D devices; the result
    is the same).

    Example:
      >>> import jax, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> v = mf.velocity(mf.init_params(jax.random.key(0), 8, 5), problem)
      >>> v.a.shape, v.w.shape
      ((8,), (8, 5))
    """
    if split_rows:
        _check_split(params.a.shape[-1])
    return _velocity(params, problem, scaling, _block_size(rows), split_rows, _block_size(cols, "cols"))


def _check_split(n: int) -> None:
    devices = jax.device_count()
    if n % devices:
        raise ValueError(f"split_rows needs N a multiple of the {devices} devices, got N = {n}")


@partial(jax.jit, static_argnames=("rows", "cols"))
def _velocity_field(theta: Params, params: Params, problem: Problem, weights, rows, cols):
    weights = 1.0 / params.a.shape[-1] if weights is None else weights
    return _field(theta, params, problem, jnp.asarray(weights, params.a.dtype), rows, cols)


def velocity_field(theta: Params, params: Params, problem: Problem, weights=None, *,
                   rows: int | None = None, cols: int | None = None) -> Params:
    """The mean-field velocity field v_mu(theta) = -grad V_mu(theta) at arbitrary points theta
    (a (M,), w (M, d)), mu the measure of ``params`` (weights as in :func:`first_variation`).

    At the particles themselves, with the default weights, it is :func:`velocity`; with other
    weights every particle moves in the field of the weighted measure, whatever its own weight.
    Computed in blocks of ``rows`` points against ``cols`` particles, as :func:`velocity`.

    Example:
      >>> import jax, numpy as np, mfutils as mf
      >>> problem = mf.erf_testbed(d=5)
      >>> params = mf.init_params(jax.random.key(0), 8, 5)
      >>> v, field = mf.velocity(params, problem), mf.velocity_field(params, params, problem)
      >>> bool(np.allclose(v.w, field.w, atol=1e-6))
      True
    """
    _on_sphere(problem, params, theta)
    return _velocity_field(theta, params, problem, weights, _block_size(rows), _block_size(cols, "cols"))
