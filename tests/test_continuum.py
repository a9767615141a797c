"""Tests of lipconv.continuum: the exact references and the quadrature continuum solver."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import minimize_scalar

from lipconv.continuum import continuum_minimizer, ramp_reference, step_reference
from lipconv.manifolds import Circle, FlatCube, Sphere, onehot_label, ramp_label, smooth_label, step_label


def _family_objective(slope, label, lam_i):
    """J[clip(slope t, -1, 1)] on [-1, 1] with density 1/2, by adaptive quadrature (independent of the solver)."""
    kinks = [k for k in (1.0 / max(slope, 1e-300), getattr(label, "params", {}).get("delta", 0.0)) if 0 < k < 1]
    loss, _ = quad(lambda t: (np.clip(slope * t, -1, 1) - label(np.array([t]))[0]) ** 2, 0.0, 1.0,
                   points=kinks or None, epsabs=1e-13, epsrel=1e-13)
    return loss + lam_i * slope  # the integrand is even, so E = int_0^1


@pytest.mark.parametrize("lam_i, delta", [(0.01, 0.2), (0.1, 0.5), (0.2, 0.6), (0.3, 0.1)])
def test_ramp_value_and_slope_minimize_the_clip_family(lam_i, delta):
    """J* equals J[u^lambda] by adaptive quadrature and L* is the best slope of the clip family."""
    ref = ramp_reference(lam_i, delta, 1)
    label = ramp_label(delta)
    np.testing.assert_allclose(_family_objective(ref.slope, label, lam_i), ref.value, rtol=1e-10)
    best = minimize_scalar(lambda s: _family_objective(s, label, lam_i), bounds=(1.0, 1.0 / delta),
                           method="bounded", options={"xatol": 1e-10})
    np.testing.assert_allclose(best.x, ref.slope, rtol=1e-5)


@pytest.mark.parametrize("lam_i", [0.01, 0.2, 1 / 3, 0.5, 0.9, 1.0, 2.0])
def test_step_value_matches_clip_family(lam_i):
    ref = step_reference(lam_i, 1)
    np.testing.assert_allclose(_family_objective(ref.slope, step_label(), lam_i), ref.value, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("m, d", [(1, 1), (1, 3), (3, 4)])
def test_scale_converts_lam_and_lipschitz(m, d):
    """Ambient lam = scale * intrinsic lam; ambient Lip = intrinsic slope / scale; J* unchanged."""
    s = FlatCube(m, d).scale
    for amb, intr in [(ramp_reference(0.05 * s, 0.4, m, scale=s), ramp_reference(0.05, 0.4, m)),
                      (step_reference(0.5 * s, m, scale=s), step_reference(0.5, m))]:
        np.testing.assert_allclose(amb.lam_intrinsic, intr.lam, rtol=1e-15)
        np.testing.assert_allclose(amb.value, intr.value, rtol=1e-15)
        np.testing.assert_allclose(amb.slope, intr.slope, rtol=1e-15)
        np.testing.assert_allclose(amb.lipschitz, intr.slope / s, rtol=1e-15)
    assert ramp_reference(0.05 * s, 0.4, m, scale=s).lam_range[1] == pytest.approx(s * (1 - 0.16) / 3, rel=1e-15)


@given(lam=st.floats(1e-4, 0.33), delta=st.floats(1e-3, 0.5))
def test_ramp_tends_to_step(lam, delta):
    """Property: ramp references are continuous in delta with the step as delta -> 0 (DESIGN.md formulas),
    J* decreases in delta, and J* <= J[0] = E y^2 (u = 0 is admissible)."""
    lam = min(lam, (1 - delta**2) / 3)
    ramp, step = ramp_reference(lam, delta, 2), step_reference(lam, 2)
    assert ramp.value <= step.value + 1e-15
    assert ramp.value <= 1.0 - 2.0 * delta / 3.0 + 1e-15
    np.testing.assert_allclose(ramp_reference(lam, 1e-9, 2).value, step.value, rtol=1e-6)


def test_regimes_of_step_and_continuity():
    assert [step_reference(v, 1).regime for v in (0.1, 0.5, 1.5)] == ["clipped", "linear", "zero"]
    for edge in (1 / 3, 1.0):
        lo, hi = step_reference(edge * (1 - 1e-12), 1), step_reference(edge * (1 + 1e-12), 1)
        np.testing.assert_allclose(lo.value, hi.value, rtol=1e-9)
        np.testing.assert_allclose(lo.slope, hi.slope, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(step_reference(0.1, 1).u(np.array([-1.0, 0.1, 0.9])),
                               np.clip(np.array([-1.0, 0.1, 0.9]) / np.sqrt(0.3), -1, 1), rtol=1e-15)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: ramp_reference(0.3, 0.5, 1), r"lam must be <= scale \* \(1 - delta\*\*2\) / 3 = 0.25"),
        (lambda: ramp_reference(0.2, 0.5, 1, scale=0.5), r"lam must be <= .* = 0.125 .*got 0.2"),
        (lambda: ramp_reference(0.1, 1.0, 1), r"delta must be in \(0, 1\)"),
        (lambda: ramp_reference(0.0, 0.5, 1), "lam must be finite and > 0, got 0.0"),
        (lambda: step_reference(0.1, 0), "m must be an integer >= 1, got 0"),
        (lambda: step_reference(0.1, 1, scale=-1.0), "scale must be finite and > 0"),
        (lambda: continuum_minimizer(FlatCube(1, 1), step_label(), lam=0.1, N=3), "N must be an integer >= 4, got 3"),
        (lambda: continuum_minimizer(FlatCube(1, 1), step_label(), lam=-1.0, N=10), "lam must be finite and > 0"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


# --- the quadrature solver against the closed forms -----------------------------------------------

CASES_1D = [("ramp", 0.02, 0.3), ("ramp", 0.1, 0.5), ("step", 0.02, None), ("step", 0.3, None), ("step", 0.6, None)]


def _reference(kind, lam, delta, m, scale):
    if kind == "ramp":
        return ramp_label(delta), ramp_reference(lam, delta, m, scale=scale)
    return step_label(), step_reference(lam, m, scale=scale)


@pytest.mark.parametrize("kind, lam, delta", CASES_1D)
def test_solver_reproduces_closed_form_m1(kind, lam, delta):
    """FlatCube(m=1), 2000-node midpoint rule (adjacent pairs): J and L* within 1e-3 relative,
    u within 1e-3 of clip(L* t) on the nodes; the N/2 estimate bounds the actual error of J."""
    M = FlatCube(1, 1)
    label, ref = _reference(kind, lam, delta, 1, M.scale)
    sol = continuum_minimizer(M, label, lam=lam, N=2000)
    np.testing.assert_allclose(sol.objective, ref.value, rtol=1e-3)
    np.testing.assert_allclose(sol.lipschitz, ref.lipschitz, rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(sol.values, ref.u(M.coordinate(sol.nodes)), rtol=0, atol=1e-3)
    assert sol.result.max_violation <= 1e-6
    assert abs(sol.objective - ref.value) <= 4.0 * sol.error_objective + 1e-8


@pytest.mark.parametrize("kind, lam, delta", [("ramp", 0.05, 0.5), ("step", 0.05, None)])
def test_solver_reproduces_closed_form_m2(kind, lam, delta):
    """FlatCube(m=2) in R^3, all-pairs solve on a 100 x 3 tensor midpoint grid (the minimizer depends
    on x_1 only, DESIGN.md): J and L* within 1e-3 relative."""
    M = FlatCube(2, 3, seed=1)
    label, ref = _reference(kind, lam, delta, 2, M.scale)
    sol = continuum_minimizer(M, label, lam=lam, N=300, quadrature=lambda n: M.grid_quadrature((n // 3, 3)),
                              method="pairs", estimate_error=False)
    assert sol.nodes.shape == (300, 3)
    np.testing.assert_allclose(sol.objective, ref.value, rtol=1e-3)
    np.testing.assert_allclose(sol.lipschitz, ref.lipschitz, rtol=1e-3)
    np.testing.assert_allclose(sol.values, ref.u(M.coordinate(sol.nodes)), rtol=0, atol=1e-2)


@pytest.mark.parametrize("kind, lam, delta", [("ramp", 0.05, 0.5), ("step", 0.05, None)])
def test_solver_on_default_square_grid_m2(kind, lam, delta):
    """FlatCube(m=2) on the default 17 x 17 grid (N = 300 requested): a coarse grid in x_1, so the
    stated tolerance is looser, 1e-2 relative for J and L*."""
    M = FlatCube(2, 2, seed=3)
    label, ref = _reference(kind, lam, delta, 2, M.scale)
    sol = continuum_minimizer(M, label, lam=lam, N=300, estimate_error=False)
    assert sol.nodes.shape[0] == 289
    np.testing.assert_allclose(sol.objective, ref.value, rtol=1e-2)
    np.testing.assert_allclose(sol.lipschitz, ref.lipschitz, rtol=1e-2)


@pytest.mark.slow
@pytest.mark.parametrize("kind, lam, delta", [("ramp", 0.05, 0.5), ("step", 0.02, None)])
def test_solver_reproduces_closed_form_m3_slow(kind, lam, delta):
    """FlatCube(m=3) in R^4 on a 150 x 2 x 2 grid: J and L* within 1e-3 relative."""
    M = FlatCube(3, 4, seed=2)
    label, ref = _reference(kind, lam, delta, 3, M.scale)
    sol = continuum_minimizer(M, label, lam=lam, N=600, quadrature=lambda n: M.grid_quadrature((n // 4, 2, 2)),
                              method="pairs", estimate_error=False)
    np.testing.assert_allclose(sol.objective, ref.value, rtol=1e-3)
    np.testing.assert_allclose(sol.lipschitz, ref.lipschitz, rtol=1e-3)


def test_quadrature_error_estimate_shrinks_with_N():
    """On the circle (no closed form) the N/2 change of J shrinks as N grows, and predict extends u."""
    M = Circle(2, seed=0)
    coarse = continuum_minimizer(M, smooth_label(), lam=0.05, N=40)
    fine = continuum_minimizer(M, smooth_label(), lam=0.05, N=200)
    assert fine.error_objective < coarse.error_objective
    assert fine.error_sup < coarse.error_sup
    np.testing.assert_allclose(fine.predict(fine.nodes), fine.values, rtol=0, atol=1e-9)
    assert fine.values.shape == (200,) and fine.seed is None and fine.method == "pairs"


def test_sphere_vector_labels_and_recorded_fields():
    M = Sphere(3, seed=0)
    sol = continuum_minimizer(M, onehot_label(3), lam=0.05, N=120, seed=7)
    assert sol.values.shape == (120, 3) and sol.labels.shape == (120, 3)
    np.testing.assert_allclose(sol.weights.sum(), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sol.objective, sol.result.objective, rtol=1e-15)
    assert sol.seed == 7 and sol.label == "onehot(k=3)" and sol.loss == "squared"
    assert np.isfinite(sol.error_objective) and np.isfinite(sol.error_sup)
