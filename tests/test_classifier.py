"""Classifiers with the N^-gamma normalisation (mfutils.classifier): the output against its
formula, one SGD step against -dt N^(2 gamma - 1) grad R, the shared minibatch stream, learning
on MNIST, and the errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf
from mfutils.datasets import Dataset


def toy(n=12, dim=6, classes=3, key=0):
    x = np.asarray(jax.random.uniform(jax.random.key(key), (n, dim)), np.float32)
    return Dataset(x, np.arange(n, dtype=np.int32) % classes)


@pytest.mark.parametrize("gamma", [0.5, 0.75, 1.0])
def test_output_is_the_formula(x64, gamma):
    p = mf.init_classifier(jax.random.key(0), 7, 6, 3, dtype=x64)
    x = toy().images
    c, w = (np.asarray(v, float) for v in p)
    expected = 7.0**-gamma * np.tanh(x.astype(float) @ w.T) @ c
    np.testing.assert_allclose(mf.classifier_output(p, x, gamma), expected, rtol=1e-5, atol=1e-6)
    one_hot = np.eye(3)[toy().labels]
    risk = 0.5 * np.mean(np.sum((expected - one_hot) ** 2, axis=-1))
    np.testing.assert_allclose(mf.classifier_risk(p, toy(), gamma), risk, rtol=1e-5)
    accuracy = np.mean(expected.argmax(-1) == toy().labels)
    assert float(mf.classifier_accuracy(p, toy(), gamma)) == pytest.approx(accuracy)


def test_batched_output_is_each_networks():
    p = mf.init_classifier(jax.random.key(0), 7, 6, 3, seeds=4)
    x = toy().images.reshape(3, 4, 6)
    out = mf.classifier_output(p, x, 0.7)
    assert out.shape == (4, 3, 4, 3)
    for s in range(4):
        alone = mf.classifier_output(jax.tree.map(lambda v, s=s: v[s], p), x, 0.7)
        np.testing.assert_allclose(out[s], alone, rtol=1e-5, atol=1e-6)


def test_init_law():
    p = mf.init_classifier(jax.random.key(0), 4000, 50, 10, w_scale=3.0)
    assert np.std(p.c) == pytest.approx(1.0, rel=0.02)
    assert np.mean(np.sum(np.asarray(p.w) ** 2, axis=-1)) == pytest.approx(9.0, rel=0.02)


@pytest.mark.parametrize("gamma", [0.5, 1.0])
def test_one_step_is_sgd_with_the_rate(gamma):
    """One step moves every weight by -dt N^(2 gamma - 1) dR/dtheta. The data set repeats one
    example, so every minibatch's loss is that example's; the gradient by central differences
    (float64)."""
    with jax.enable_x64(True):
        n, dt = 9, 0.01
        p = mf.init_classifier(jax.random.key(2), n, 6, 3, dtype=jnp.float64)
        one = toy()
        data = Dataset(np.repeat(one.images[:1], 5, 0).astype(float), np.repeat(one.labels[:1], 5))
        run = mf.classifier_sgd(p, data, jax.random.key(3), gamma=gamma, dt=dt, t_end=dt, batch=4)
        eps = 1e-6
        for layer in range(2):
            flat = np.asarray(p[layer]).ravel()
            for j in (0, 5, flat.size - 1):
                bump = np.zeros_like(flat)
                bump[j] = eps
                moved = [p._replace(**{p._fields[layer]: (flat + s * bump).reshape(p[layer].shape)})
                         for s in (1, -1)]
                grad = (mf.classifier_risk(moved[0], data, gamma)
                        - mf.classifier_risk(moved[1], data, gamma)) / (2 * eps)
                step = np.asarray(run.final[layer]).ravel()[j] - flat[j]
                np.testing.assert_allclose(step, -dt * n ** (2 * gamma - 1) * grad, rtol=1e-5)


def test_seeds_share_the_minibatches():
    """A seed-batched run equals the unbatched runs with the same key (shared stream); with
    shared_batches=False identical networks part ways."""
    data = toy(40)
    p = mf.init_classifier(jax.random.key(0), 8, 6, 3, seeds=2)
    run = mf.classifier_sgd(p, data, jax.random.key(5), gamma=1.0, dt=0.1, t_end=1.0)
    for s in range(2):
        alone = mf.classifier_sgd(jax.tree.map(lambda v, s=s: v[s], p), data, jax.random.key(5),
                                  gamma=1.0, dt=0.1, t_end=1.0)
        np.testing.assert_allclose(run.final.w[s], alone.final.w, rtol=1e-5, atol=1e-6)
    twins = jax.tree.map(lambda v: jnp.stack([v[0], v[0]]), p)
    same = mf.classifier_sgd(twins, data, jax.random.key(5), gamma=1.0, dt=0.1, t_end=1.0)
    np.testing.assert_array_equal(same.final.c[0], same.final.c[1])
    apart = mf.classifier_sgd(twins, data, jax.random.key(5), gamma=1.0, dt=0.1, t_end=1.0,
                              shared_batches=False)
    assert np.abs(apart.final.c[0] - apart.final.c[1]).max() > 1e-3


def test_learns_mnist_and_records():
    train, test = mf.datasets.mnist()
    p = mf.init_classifier(jax.random.key(0), 50, 784, seeds=2, w_scale=3.0)
    run = mf.classifier_sgd(p, train, jax.random.key(1), gamma=1.0, dt=0.1, t_end=5.0,
                            evaluate=test, n_records=5)
    acc = np.asarray(run.records["accuracy"])
    assert acc.shape == (2, 6) and (acc[:, 0] < 0.3).all() and (acc[:, -1] > 0.7).all()
    assert (np.diff(np.asarray(run.records["risk"])[:, [0, -1]]) < 0).all()
    assert run.records["c"].shape == (2, 6, 50, 10) and run.records["w_norm"].shape == (2, 6, 50)
    np.testing.assert_allclose(run.records["w_norm"][:, -1], np.linalg.norm(run.final.w, axis=-1),
                               rtol=1e-5)


def test_errors():
    data, p = toy(), mf.init_classifier(jax.random.key(0), 5, 6, 3)
    key = jax.random.key(1)
    with pytest.raises(ValueError, match="gamma"):
        mf.classifier_sgd(p, data, key, gamma=1.5, dt=0.1, t_end=1.0)
    with pytest.raises(ValueError, match="gamma"):
        mf.classifier_output(p, data.images, gamma=0.25)
    with pytest.raises(ValueError, match="input dimension"):
        mf.classifier_risk(mf.init_classifier(key, 5, 7, 3), data)
    with pytest.raises(ValueError, match="c: \\(N, K\\)"):
        mf.classifier_risk(p._replace(c=p.c[:3]), data)
    with pytest.raises(ValueError, match="labels must be in 0..2"):
        mf.classifier_sgd(p, data._replace(labels=data.labels + 1), key, gamma=1.0, dt=0.1,
                          t_end=1.0)
    with pytest.raises(ValueError, match="integers"):
        mf.classifier_risk(p, data._replace(labels=data.labels.astype(float)))
    with pytest.raises(ValueError, match="images contain non-finite"):
        mf.classifier_risk(p, data._replace(images=np.where(data.images > 0.5, np.nan, 0)))
    with pytest.raises(ValueError, match="params contain non-finite"):
        mf.classifier_risk(p._replace(c=p.c.at[0, 0].set(jnp.inf)), data)
    with pytest.raises(ValueError, match="images: \\(n, D\\)"):
        mf.classifier_risk(p, data._replace(labels=data.labels[:3]))
    with pytest.raises(ValueError, match="batch"):
        mf.classifier_sgd(p, data, key, gamma=1.0, dt=0.1, t_end=1.0, batch=0)
    with pytest.raises(ValueError, match="dt"):
        mf.classifier_sgd(p, data, key, gamma=1.0, dt=-0.1, t_end=1.0)
    with pytest.raises(ValueError, match="w_scale"):
        mf.init_classifier(key, 5, 6, w_scale=0.0)
    with pytest.raises(mf.DivergenceError, match="step"):
        mf.classifier_sgd(p, data._replace(images=data.images * 1e3), key, gamma=1.0, dt=1e6,
                          t_end=1e7)
