"""The error equation of the coupling (mfutils.error_ode): the linearised gap against finite
differences of the particle flow, the twins against the overlap reduction, and the prediction
against the measured gap where the linearisation holds."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf


def _setup(n=16, d=6, n_ref=512, link=None):
    problem = mf.sphere_problem(link or mf.hermite_series([0, 0.3, 0.5, 0, 0.8]), d)
    p = mf.sphere_init(jax.random.key(0), n, d, signs="random")
    a_ref, m_ref = mf.overlap_init(jax.random.key(1), n_ref, d, signs="random")
    return problem, p, a_ref, m_ref


@pytest.mark.parametrize("train_a", [False, True])
def test_the_linearised_gap_is_the_derivative_of_the_particle_map(train_a):
    """Started eps * eta away from the twins, the particles' finite difference over eps after a
    step is the linearised gap's response to gap0 (the source is the same in both runs): the
    tangent map DP(wbar) eta, equal to O(eps). (Over several steps the particles and the twins
    part, and the tangent map is taken along the twins, not along the particles.) With train_a
    the displacement of the directions moves the weights too, and the gap's weight part is that
    move's derivative in the same way."""
    with jax.enable_x64(True):
        problem, p, a_ref, m_ref = _setup()
        eta = jax.random.normal(jax.random.key(2), p.w.shape, jnp.float64)
        kw = dict(dt=0.1, t_end=0.1, n_records=1, train_a=train_a)
        base = mf.tangent_gap_flow(p, a_ref, m_ref, problem, **kw).final
        parts = [("w", "twin", "delta", 0.1)]          # (particles, twins, gap, its least size)
        if train_a:
            assert float(jnp.abs(base.a - p.a).max()) > 1e-3          # the weights move
            assert float(jnp.abs(base.a_ref - a_ref).max()) > 1e-3
            parts.append(("a", "a_twin", "delta_a", 0.01))
        errors = []
        for eps in (1e-4, 1e-5):
            moved = mf.tangent_gap_flow(p, a_ref, m_ref, problem, gap0=eps * eta, **kw).final
            for x, twin, delta, size in parts:
                np.testing.assert_array_equal(getattr(moved, twin), getattr(base, twin))
                finite_difference = (getattr(moved, x) - getattr(base, x)) / eps
                tangent = (getattr(moved, delta) - getattr(base, delta)) / eps
                assert float(jnp.abs(tangent).max()) > size      # not trivially zero
                errors.append(float(jnp.abs(finite_difference - tangent).max()))
        first, second = errors[:len(parts)], errors[len(parts):]
        assert max(second) < 1e-4                                  # O(eps), every part
        assert all(5 < e0 / e1 < 20 for e0, e1 in zip(first, second))


def test_one_step_remainder_is_quadratic():
    """After one step the measured gap minus the linearised one is O(|gap0|^2)."""
    with jax.enable_x64(True):
        problem, p, a_ref, m_ref = _setup()
        eta = jax.random.normal(jax.random.key(3), p.w.shape, jnp.float64)
        remainder = []
        for eps in (1e-2, 1e-3):
            final = mf.tangent_gap_flow(p, a_ref, m_ref, problem, gap0=eps * eta, dt=0.1,
                                        t_end=0.1, n_records=1).final
            remainder.append(float(jnp.abs(final.w - final.twin - final.delta).max()))
        assert 70 < remainder[0] / remainder[1] < 130


def test_twins_move_by_the_overlap_reduction():
    """A twin's overlap follows the reference's map when the reference is the particles' own law,
    and its direction orthogonal to the teacher does not turn."""
    with jax.enable_x64(True):
        problem, p, _, _ = _setup(n=64)
        m0 = p.w[:, 0]
        final = mf.tangent_gap_flow(p, p.a, m0, problem, dt=0.05, t_end=2.0, n_records=1).final
        np.testing.assert_allclose(final.twin[:, 0], final.m_ref, rtol=0, atol=1e-13)
        assert float(jnp.abs(final.m_ref - m0).max()) > 0.05           # they did move
        ortho = final.twin[:, 1:] / jnp.linalg.norm(final.twin[:, 1:], axis=1, keepdims=True)
        start = p.w[:, 1:] / jnp.linalg.norm(p.w[:, 1:], axis=1, keepdims=True)
        np.testing.assert_allclose(ortho, start, atol=1e-12)
        np.testing.assert_allclose(jnp.linalg.norm(final.twin, axis=1), 1.0, atol=1e-13)


@pytest.mark.parametrize("train_a, t_end, every", [(False, 3.0, 10), (True, 2.0, 5)])
def test_the_error_equation_predicts_the_gap_before_the_escape(train_a, t_end, every):
    """N E|Delta|^2 and N ||f_N - f_MF||^2 are O(1) (the twins feel the mean-field velocity, the
    particles' N-particle one: the gap is the fluctuation of the interaction) and the linearised
    gap predicts both within 5% up to t = 3 at N = 512, d = 16. With trained weights the twins
    follow the reduction, weights included, and the same holds up to t = 2 (the trained weights
    speed the escape: the parameter gap's error, 3.7% at t = 2, is 5% at t = 2.5), the weights
    having moved."""
    with jax.enable_x64(True):
        n, d = 512, 16
        problem = mf.sphere_problem(mf.hermite(4), d)
        p = mf.sphere_init(jax.random.key(5), n, d)
        a_ref, m_ref = mf.overlap_init(jax.random.key(6), 16384, d)
        run = mf.tangent_gap_flow(p, a_ref, m_ref, problem, dt=0.1, t_end=t_end, every=every,
                                  train_a=train_a)
        r = {k: n * np.asarray(v) for k, v in run.records.items()}
        r["distance"], r["distance_linear"] = (r[k].mean(axis=1) for k in ("distance",
                                                                         "distance_linear"))
        if train_a:
            assert float(jnp.abs(run.final.a - 1).max()) > 0.05
        assert 0.01 < r["distance"][-1] < 1 and 0.1 < r["gap"][-1] < 3
        np.testing.assert_allclose(r["distance_linear"][1:], r["distance"][1:], rtol=0.05)
        np.testing.assert_allclose(r["gap_linear"], r["gap"], rtol=0.05)
        np.testing.assert_allclose(r["gap"][0], r["gap_twins"][0])      # no gap yet at t = 0


def test_bad_inputs_are_refused():
    problem, p, a_ref, m_ref = _setup()
    kw = dict(dt=0.1, t_end=1.0)
    with pytest.raises(ValueError, match="gap0 must have"):
        mf.tangent_gap_flow(p, a_ref, m_ref, problem, gap0=jnp.zeros((3, 6)), **kw)
    with pytest.raises(ValueError, match="gap0 non-finite"):
        mf.tangent_gap_flow(p, a_ref, m_ref, problem, gap0=jnp.full(p.w.shape, jnp.nan), **kw)
    with pytest.raises(ValueError, match="unit"):
        mf.tangent_gap_flow(p._replace(w=2 * p.w), a_ref, m_ref, problem, **kw)
    with pytest.raises(ValueError, match="dt"):
        mf.tangent_gap_flow(p, a_ref, m_ref, problem, dt=-1.0, t_end=1.0)


def test_overlaps_at_the_poles_stay_finite(x64):
    """A reference overlap at exactly +-1 (reached in float32 within a few steps) has velocity 0,
    not 0/0."""
    problem, p, a_ref, m_ref = _setup()
    m_ref = m_ref.at[:2].set(jnp.array([1.0, -1.0], m_ref.dtype))
    run = mf.tangent_gap_flow(p, a_ref, m_ref, problem, dt=0.1, t_end=1.0, n_records=2)
    assert np.all(np.isfinite(np.asarray(run.records["gap"])))
    np.testing.assert_array_equal(np.abs(run.final.m_ref[:2]), 1.0)



@pytest.mark.parametrize("train_a", [False, True])
def test_growth_rate_is_the_spectral_radius_of_one_step(train_a):
    """The power iteration's rate is (1/dt) log of the spectral radius of the one-step map's
    Jacobian, here taken by central differences of sphere_flow itself, column by column
    (in float64, which the differences need)."""
    with jax.enable_x64(True):
        _check_growth_rate(train_a)


def _check_growth_rate(train_a):
    problem, p, _, _ = _setup(n=8, d=5)
    p = mf.sphere_flow(p, problem, dt=0.1, t_end=1.0, train_a=train_a, n_records=1).final
    dt, eps, n, d = 0.05, 1e-6, 8, 5

    def step(x):
        q = mf.sphere_flow(mf.Params(x[:n], x[n:].reshape(n, d)), problem, dt=dt, t_end=dt,
                           train_a=train_a, n_records=1).final
        return np.concatenate([q.a, np.ravel(q.w)])

    x = np.concatenate([p.a, np.ravel(p.w)])
    jacobian = np.stack([(step(x + eps * e) - step(x - eps * e)) / (2 * eps)
                         for e in np.eye(x.size)], axis=1)
    if not train_a:
        jacobian = jacobian[n:, n:]            # the weights are not part of the state
    expected = np.log(np.abs(np.linalg.eigvals(jacobian)).max()) / dt
    rate = mf.tangent_growth_rate(p, problem, dt=dt, train_a=train_a, n_iter=2000, n_average=500)
    assert abs(expected) > 0.1                                   # not trivially zero
    np.testing.assert_allclose(rate, expected, rtol=1e-3)


def test_growth_rate_refuses_bad_inputs():
    problem, p, _, _ = _setup()
    with pytest.raises(ValueError, match="unit"):
        mf.tangent_growth_rate(p._replace(w=2 * p.w), problem, dt=0.1)
    with pytest.raises(ValueError, match="dt"):
        mf.tangent_growth_rate(p, problem, dt=0.0)
    with pytest.raises(ValueError, match="n_average"):
        mf.tangent_growth_rate(p, problem, dt=0.1, n_iter=10, n_average=20)
    with pytest.raises(ValueError, match="non-finite"):
        mf.tangent_growth_rate(p._replace(a=p.a.at[0].set(jnp.inf)), problem, dt=0.1)
