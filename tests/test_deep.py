"""Three-layer networks (mfutils.deep): the network, the risk, one step of each scaling against
its definition, minibatch SGD, the movement and dependence statistics, and the errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf


def sample(n=32, d=3, key=0):
    x = jax.random.normal(jax.random.key(key), (n, d))
    return mf.Sample(x, x[:, 0] * x[:, 1])


def test_network_is_the_formula(x64):
    p = mf.init_deep(jax.random.key(0), 6, 4, 3, dtype=x64)
    x = np.asarray(jax.random.normal(jax.random.key(1), (5, 3)), float)
    u, w, c = (np.asarray(v, float) for v in p)
    h = np.maximum(x @ u.T, 0) @ w.T / 6
    np.testing.assert_allclose(mf.deep_network(p, x), np.tanh(h) @ c / 4, rtol=1e-5)
    ntk = np.tanh(np.maximum(x @ u.T, 0) @ w.T / np.sqrt(6)) @ c / 2
    np.testing.assert_allclose(mf.deep_network(p, x, "ntk"), ntk, rtol=1e-5)


@pytest.mark.parametrize("scaling, rates", [("mean-field", (5, 35, 7)), ("ntk", (1, 1, 1))])
def test_one_step_is_gradient_descent_with_the_layer_rates(scaling, rates):
    """One step moves each layer by -dt * rate * grad R, with rates (N1, N1 N2, N2) in the
    mean-field scaling: checked against a gradient by central differences (float64)."""
    with jax.enable_x64(True):
        p = mf.init_deep(jax.random.key(2), 5, 7, 3, dtype=jnp.float64)
        data = sample()
        run = mf.deep_flow(p, data, dt=0.01, t_end=0.01, scaling=scaling, every=1)
        eps = 1e-6
        for layer, rate in zip(range(3), rates):
            flat = np.asarray(p[layer]).ravel()
            for j in (0, 3, flat.size - 1):
                bump = np.zeros_like(flat)
                bump[j] = eps

                def risk(delta, layer=layer, flat=flat):
                    q = list(p)
                    q[layer] = jnp.asarray((flat + delta).reshape(np.shape(p[layer])))
                    return float(mf.deep_risk(mf.DeepParams(*q), data, scaling))
                grad = (risk(bump) - risk(-bump)) / (2 * eps)
                moved = np.asarray(run.final[layer]).ravel()[j] - flat[j]
                np.testing.assert_allclose(moved, -0.01 * rate * grad, rtol=1e-5, atol=1e-12)


def test_mean_field_flow_learns_and_batches_seeds(x64):
    data = sample(128)
    p = mf.init_deep(jax.random.key(3), 32, 32, 3, seeds=3, dtype=x64)
    run = mf.deep_flow(p, data, dt=0.1, t_end=10.0, n_records=5)
    risk = np.asarray(run.records["risk"])
    assert risk.shape == (3, 6) and run.final.w.dtype == x64
    assert np.all(risk[:, -1] < 0.5 * risk[:, 0])
    one = mf.deep_flow(jax.tree.map(lambda v: v[1], p), data, dt=0.1, t_end=10.0, n_records=5)
    np.testing.assert_allclose(one.records["risk"], risk[1], rtol=1e-4)
    np.testing.assert_allclose(mf.deep_risk(run.final, data), risk[:, -1], rtol=1e-5)


def test_minibatch_sgd_is_reproducible_and_tracks_gradient_descent():
    data = sample(256)
    p = mf.init_deep(jax.random.key(4), 32, 32, 3, seeds=2)
    kw = dict(dt=0.02, t_end=4.0, n_records=4)
    a = mf.deep_flow(p, data, batch=64, key=jax.random.key(5), **kw)
    b = mf.deep_flow(p, data, batch=64, key=jax.random.key(5), **kw)
    other = mf.deep_flow(p, data, batch=64, key=jax.random.key(6), **kw)
    gd = mf.deep_flow(p, data, **kw)
    np.testing.assert_array_equal(a.records["risk"], b.records["risk"])
    assert not np.allclose(a.records["risk"], other.records["risk"])
    final = np.asarray(a.records["risk"])[:, -1]
    np.testing.assert_allclose(final, np.asarray(gd.records["risk"])[:, -1], rtol=0.2)


def test_movement_and_singular_share():
    p = mf.init_deep(jax.random.key(7), 200, 300, 4, seeds=2)
    moved = p._replace(u=p.u + 0.5 * jnp.eye(1, 4), w=p.w - 1.0)
    du, dw, dc = mf.layer_movement(p, moved)
    np.testing.assert_allclose(du, 0.5, rtol=1e-6)
    np.testing.assert_allclose(dw, 1.0, rtol=1e-6)
    np.testing.assert_allclose(dc, 0.0, atol=1e-7)
    # i.i.d. entries: about (1/sqrt(N1) + 1/sqrt(N2))^2 (Bai-Yin edge); a rank-one part stays
    share = np.asarray(mf.top_singular_share(p.w))
    edge = (200**-0.5 + 300**-0.5) ** 2
    assert np.all(np.abs(share / edge - 1) < 0.15)
    g = jax.random.normal(jax.random.key(8), (2, 300, 1)) * jax.random.normal(
        jax.random.key(9), (2, 1, 200))
    assert np.all(np.asarray(mf.top_singular_share(p.w + 2.0 * g)) > 0.6)


def test_clear_errors():
    p = mf.init_deep(jax.random.key(0), 6, 4, 3)
    data = sample()
    with pytest.raises(ValueError, match="input dimension"):
        mf.deep_flow(p, sample(d=5), dt=0.1, t_end=1.0)
    with pytest.raises(ValueError, match="DeepParams need"):
        mf.deep_flow(p._replace(c=p.c[:3]), data, dt=0.1, t_end=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        mf.deep_flow(p._replace(c=p.c.at[0].set(jnp.nan)), data, dt=0.1, t_end=1.0)
    with pytest.raises(ValueError, match="non-finite"):
        mf.deep_flow(p, data._replace(y=data.y.at[0].set(jnp.inf)), dt=0.1, t_end=1.0)
    with pytest.raises(ValueError, match="Sample needs"):
        mf.deep_flow(p, mf.Sample(data.x, data.y[:5]), dt=0.1, t_end=1.0)
    with pytest.raises(ValueError, match="scaling"):
        mf.deep_flow(p, data, dt=0.1, t_end=1.0, scaling="standard")
    with pytest.raises(ValueError, match="PRNG key"):
        mf.deep_flow(p, data, dt=0.1, t_end=1.0, batch=8)
    with pytest.raises(ValueError, match="batch"):
        mf.deep_flow(p, data, dt=0.1, t_end=1.0, batch=0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="dt"):
        mf.deep_flow(p, data, dt=0.0, t_end=1.0)
    with pytest.raises(ValueError, match="jax.vmap"):
        mf.deep_network(mf.init_deep(jax.random.key(0), 6, 4, 3, seeds=2), data.x)
    with pytest.raises(ValueError, match="w_mean"):
        mf.init_deep(jax.random.key(0), 6, 4, 3, w_mean=np.inf)
    with pytest.raises(ValueError, match="2 x 2"):
        mf.top_singular_share(jnp.ones((1, 5)))
    with pytest.raises(ValueError, match="different shapes"):
        mf.layer_movement(p, mf.init_deep(jax.random.key(0), 6, 5, 3))
    with pytest.raises(mf.DivergenceError, match="step"):
        mf.deep_flow(p._replace(w=p.w * 1e3), data, dt=1e3, t_end=2e4)
