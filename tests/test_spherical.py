"""Spherical networks and the exact overlap reduction (mfutils.spherical): the one model, the fast
velocity against the general one, the reduction against particles and Monte Carlo."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

import mfutils as mf
from mfutils.spherical import _z_moment


def test_the_spherical_model_is_the_two_layer_model(x64):
    """sphere_velocity is the tangent part of the general particle velocity."""
    problem = mf.sphere_problem(mf.hermite_series([0, 0.3, 0.5, 0, 0.8]), 7)
    p = mf.sphere_init(jax.random.key(0), 40, 7, signs="random")
    assert p.w.dtype == x64 and problem.teacher.w.dtype == x64
    general = mf.velocity(p, problem).w
    tangent = general - jnp.sum(general * p.w, axis=1, keepdims=True) * p.w
    fast = mf.sphere_velocity(p, problem)
    assert fast.dtype == x64
    np.testing.assert_allclose(fast, tangent, atol=1e-5 if x64 == jnp.float32 else 1e-13)


def test_z_moments_and_overlap_law_match_monte_carlo(rng):
    d = 7
    u, v = rng.standard_normal((400_000, d - 1)), rng.standard_normal((400_000, d - 1))
    z = np.sum(u * v, 1) / np.linalg.norm(u, axis=1) / np.linalg.norm(v, axis=1)
    for r in (2, 4, 6):
        assert abs(_z_moment(r, d) - (z**r).mean()) < 5 * (z**r).std() / np.sqrt(len(z))
    a, m = mf.overlap_init(jax.random.key(0), 200_000, d)
    assert abs(float(jnp.mean(m**2)) - 1 / d) < 5 * float(jnp.std(m**2)) / np.sqrt(2e5)
    assert np.all(np.asarray(a) == 1)


@pytest.mark.parametrize("link, signs", [(mf.hermite(4), "plus"), (mf.hermite(3), "random"),
                                         (mf.hermite_series([0, 0.3, 0.5, 0, 0.8]), "plus")])
def test_overlap_reduction_matches_many_particles(link, signs):
    """For a rotation-invariant measure the reduced velocity and risk are those of the particles,
    up to the O(N^-1/2) of a finite sample (N = 6000 here: about 0.005 on velocities of order 0.5)."""
    with jax.enable_x64(True):
        problem = mf.sphere_problem(link, 12)
        p = mf.sphere_init(jax.random.key(1), 6000, 12, signs=signs)
        w = p.w.at[:, 0].add(0.7 * jnp.sign(p.w[:, 0]))  # spread the overlaps over [-1, 1]
        p = p._replace(w=w / jnp.linalg.norm(w, axis=1, keepdims=True))
        m = p.w[:, 0]
        v = mf.sphere_velocity(p, problem)[:, 0]
        vr = mf.overlap_velocity(p.a, m, problem)
        assert float(jnp.abs(v - vr).max()) < 0.02 * float(jnp.abs(v).max()) + 1e-3
        assert abs(float(mf.population_risk(p, problem) - mf.overlap_risk(p.a, m, problem))) < 2e-3
        assert 0 < float(mf.mf_distance(p, p.a, m, problem)) < 2e-3


def test_trained_output_weights_follow_the_risk_gradient():
    """With train_a a particle's weight moves by -N dR/da_i (the mean-field time scale), from
    the same positions as its direction, which still moves as with a fixed a."""
    with jax.enable_x64(True):
        problem = mf.sphere_problem(mf.hermite_series([0, 0.5, 0, 0.8]), 8)
        p = mf.sphere_init(jax.random.key(6), 32, 8, signs="random")
        grad_a = jax.grad(lambda a: mf.population_risk(p._replace(a=a), problem))(p.a)
        dt = 1e-3
        step = mf.sphere_flow(p, problem, dt=dt, t_end=dt, train_a=True, n_records=1)
        fixed = mf.sphere_flow(p, problem, dt=dt, t_end=dt, n_records=1)
        np.testing.assert_allclose((step.final.a - p.a) / dt, -32 * grad_a, rtol=1e-9)
        np.testing.assert_allclose(step.final.w, fixed.final.w, rtol=1e-12)
        np.testing.assert_allclose(step.records["a"][-1], step.final.a)


@pytest.mark.parametrize("link, signs", [(mf.hermite(4), "plus"), (mf.hermite(3), "random")])
def test_trained_reduction_follows_many_particles(link, signs):
    """The reduction with trained weights against 2048 particles in d = 12 over a horizon
    where they learn: risks and mean weights agree to the O(N^-1/2) of the sample."""
    with jax.enable_x64(True):
        problem = mf.sphere_problem(link, 12)
        p = mf.sphere_init(jax.random.key(1), 2048, 12, signs=signs)
        parts = mf.sphere_flow(p, problem, dt=0.1, t_end=10.0, train_a=True, n_records=5)
        red = mf.overlap_flow(p.a, p.w[:, 0], problem, dt=0.1, t_end=10.0, train_a=True,
                              n_records=5)
        risk = np.asarray(parts.records["risk"])
        assert risk[-1] < 0.5 * risk[0]   # the horizon covers the learning
        np.testing.assert_allclose(red.records["risk"], risk, atol=0.02)
        np.testing.assert_allclose(np.mean(red.records["a"], axis=1),
                                   np.mean(parts.records["a"], axis=1), atol=0.02)
        gap = mf.mf_gap_flow(p, p.a, p.w[:, 0], problem, dt=0.1, t_end=10.0, train_a=True,
                             n_records=5)
        np.testing.assert_allclose(gap.records["risk"], risk, rtol=1e-10)
        np.testing.assert_allclose(gap.records["risk_mf"], red.records["risk"], rtol=1e-10)
        assert float(np.max(gap.records["gap"])) < 0.02


def test_flows_stay_on_the_sphere_and_descend(x64):
    link = mf.hermite_series([0, 0, 0.6, 0, 0.8])
    problem = mf.sphere_problem(link, 8)
    p = mf.sphere_init(jax.random.key(3), 64, 8)
    run = mf.sphere_flow(p, problem, dt=0.05, t_end=20.0, every=20)
    risk = np.asarray(run.records["risk"])
    assert risk.dtype == x64 and run.records["overlaps"].shape == (21, 64)
    assert np.all(np.diff(risk) < 1e-6) and risk[-1] < 0.2 * risk[0]
    np.testing.assert_allclose(np.linalg.norm(np.asarray(run.final.w), axis=1), 1, atol=1e-5)
    assert run.times[-1] == pytest.approx(20.0)
    a, m = mf.overlap_init(jax.random.key(3), 4096, 8)
    red = mf.overlap_flow(a, m, problem, dt=0.05, t_end=20.0, every=20)
    assert red.final.m.dtype == x64 and np.all(np.diff(np.asarray(red.records["risk"])) < 1e-6)


def test_gap_flow_records_the_distance_of_the_two_runs():
    with jax.enable_x64(True):
        problem = mf.sphere_problem(mf.hermite(4), 8)
        p = mf.sphere_init(jax.random.key(4), 128, 8)
        a_ref, m_ref = mf.overlap_init(jax.random.key(5), 4096, 8)
        run = mf.mf_gap_flow(p, a_ref, m_ref, problem, dt=0.1, t_end=4.0, every=10)
        gap, rate = run.records["gap"], run.records["rate"]
        assert gap.shape == rate.shape == (5,) and np.all(np.isfinite(np.asarray(rate)))
        assert float(gap[0]) == pytest.approx(float(mf.mf_distance(p, a_ref, m_ref, problem)))
        particles = mf.sphere_flow(p, problem, dt=0.1, t_end=4.0, every=10)
        limit = mf.overlap_flow(a_ref, m_ref, problem, dt=0.1, t_end=4.0, every=10)
        np.testing.assert_allclose(run.records["risk"], particles.records["risk"], rtol=1e-10)
        np.testing.assert_allclose(run.records["risk_mf"], limit.records["risk"], rtol=1e-10)
        assert float(mf.mf_distance(particles.final, *limit.final, problem)) == \
            pytest.approx(float(gap[-1]), rel=1e-8)


def test_gap_flow_runs_seeds_as_one_network_each():
    """Networks stacked by sphere_init(seeds=S) run as S separate runs would."""
    with jax.enable_x64(True):
        problem = mf.sphere_problem(mf.hermite(4), 8)
        nets = mf.sphere_init(jax.random.key(4), 64, 8, seeds=3)
        assert nets.w.shape == (3, 64, 8) and np.allclose(np.linalg.norm(nets.w, axis=-1), 1)
        a_ref, m_ref = mf.overlap_init(jax.random.key(5), 2048, 8)
        batch = mf.mf_gap_flow(nets, a_ref, m_ref, problem, dt=0.1, t_end=2.0, every=5)
        assert batch.records["gap"].shape == (3, 5) and batch.final[1].m.shape == (2048,)
        for s in range(3):
            one = mf.mf_gap_flow(mf.Params(nets.a[s], nets.w[s]), a_ref, m_ref, problem,
                                 dt=0.1, t_end=2.0, every=5)
            for k, v in one.records.items():
                mine = batch.records[k][s] if k in ("gap", "risk") else batch.records[k]
                np.testing.assert_allclose(mine, v, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(batch.final[0].w[s], one.final[0].w, rtol=1e-12)
    with pytest.raises(ValueError, match="one spherical network"):
        mf.sphere_flow(nets, problem, dt=0.1, t_end=1.0)


def test_gap_flow_in_float32_matches_float64_through_the_escape():
    """Chapter 6.11 runs the coupling in float32: from the same draw (cast), N ||f_N - f_mu||^2
    agrees with float64 to 1e-2 over T = d, escape included, though it is an O(1/N) difference
    of O(1) terms."""
    d, n, f32 = 16, 256, jnp.float32
    with jax.enable_x64(True):
        p = mf.sphere_init(jax.random.key(7), n, d)
        a_ref, m_ref = mf.overlap_init(jax.random.key(8), 16384, d)
        runs = [mf.mf_gap_flow(p, a_ref, m_ref, mf.sphere_problem(mf.hermite(4), d), dt=0.1,
                               t_end=d, every=10),
                mf.mf_gap_flow(type(p)(*(x.astype(f32) for x in p)), a_ref.astype(f32),
                               m_ref.astype(f32), mf.sphere_problem(mf.hermite(4), d, dtype=f32),
                               dt=0.1, t_end=d, every=10)]
    (g64, risk), g32 = (np.asarray(runs[0].records[k]) for k in ("gap", "risk_mf")), \
        np.asarray(runs[1].records["gap"])
    assert g32.dtype == np.float32 and risk[0] / risk[-1] > 5   # the escape is in the horizon
    np.testing.assert_allclose(n * g32, n * g64, rtol=1e-2)


@pytest.mark.parametrize("call, match", [
    (lambda p, a, m, pb: mf.sphere_flow(p._replace(w=2 * p.w), pb, dt=0.1, t_end=1.0), "unit-norm"),
    (lambda p, a, m, pb: mf.overlap_flow(a, m + 2, pb, dt=0.1, t_end=1.0), r"\[-1, 1\]"),
    (lambda p, a, m, pb: mf.sphere_problem(mf.hermite_series([1.0]), 8), "non-zero term"),
    (lambda p, a, m, pb: mf.sphere_problem(mf.erf, 8), "Hermite link"),
    (lambda p, a, m, pb: mf.overlap_risk(a, m, mf.erf_testbed(8)), "single-index problem"),
    (lambda p, a, m, pb: mf.sphere_velocity(p, mf.sphere_problem(mf.hermite(2), 9)), "dimension"),
    (lambda p, a, m, pb: mf.sphere_init(jax.random.key(0), 4, 8, signs="mixed"), "signs"),
])
def test_bad_input_gives_clear_errors(call, match):
    problem = mf.sphere_problem(mf.hermite(2), 8)
    p = mf.sphere_init(jax.random.key(3), 16, 8)
    a, m = mf.overlap_init(jax.random.key(3), 16, 8)
    with pytest.raises(ValueError, match=match):
        call(p, a, m, problem)
