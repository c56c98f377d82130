"""The initialisers: each is one compiled program per shape, and its draws are, bit for bit, those
of its formula evaluated operation by operation (the draws every stored notebook output rests on);
a shift (init_deep's w_mean, never used by the book) may fuse with the draw: within one rounding."""
import logging

import jax
import numpy as np
import pytest

import mfutils as mf
from mfutils.network import standard_normal as normal   # the flat draw, reshaped


@pytest.mark.parametrize("seeds,w_mean", [(None, 0.0), (3, 0.0), (3, 0.3)])
def test_draws_equal_the_formulas_operation_by_operation(seeds, w_mean, x64):
    lead = () if seeds is None else (seeds,)
    key = jax.random.key(7)
    # the formulas, one operation (and one compiled program) at a time
    ka, kw = jax.random.split(key)
    params = (1.5 * normal(ka, lead + (6,), x64), 0.25 * normal(kw, lead + (6, 4), x64))
    ku, kw, kc = jax.random.split(key, 3)
    deep = (normal(ku, lead + (6, 4), x64) * 4**-0.5, w_mean + normal(kw, lead + (5, 6), x64),
            normal(kc, lead + (5,), x64))
    kc, kw = jax.random.split(key)
    classifier = (normal(kc, lead + (6, 10), x64),
                  normal(kw, lead + (6, 12), x64) * 3.0 / 12**0.5)
    got = (mf.init_params(key, 6, 4, seeds=seeds, a_std=1.5, w_std=0.25),
           mf.init_deep(key, 6, 5, 4, seeds=seeds, w_mean=w_mean),
           mf.init_classifier(key, 6, 12, seeds=seeds, w_scale=3.0))
    for expected, result in zip((params, deep, classifier), got):
        for e, r in zip(expected, result):
            assert r.dtype == x64 and r.shape == e.shape
            if w_mean and result is got[1]:
                # one rounding of the product: half an ulp of the largest draw
                np.testing.assert_allclose(r, e, rtol=0, atol=np.finfo(x64).eps * np.abs(e).max())
            else:
                np.testing.assert_array_equal(np.asarray(r), np.asarray(e))


def test_a_new_width_compiles_one_program(caplog):
    calls = {"init_params": lambda n: mf.init_params(jax.random.key(0), n, 3, seeds=2),
             "init_deep": lambda n: mf.init_deep(jax.random.key(0), n, n + 1, 3, seeds=2),
             "init_classifier": lambda n: mf.init_classifier(jax.random.key(0), n, 5, 3)}
    for name, init in calls.items():
        jax.block_until_ready(init(11))      # programs every width shares (the key split)
        with jax.log_compiles(), caplog.at_level(logging.WARNING, logger="jax"):
            caplog.clear()
            jax.block_until_ready(init(13))
        compiled = [r.getMessage() for r in caplog.records if "Finished XLA compilation" in
                    r.getMessage()]
        assert len(compiled) == 1, (name, compiled)
