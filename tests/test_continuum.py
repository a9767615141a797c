"""Tests of lipconv.continuum: the exact references and the quadrature continuum solver."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import minimize_scalar

from lipconv.continuum import continuum_minimizer, ramp_reference, reflection_reference, step_reference
from lipconv.manifolds import (
    Circle, CurvedTorus, FlatCube, Sphere, Torus, onehot_label, ramp_label, smooth_label, step_label,
)
from lipconv.solvers import lipschitz_regression


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
    assert fine.values.shape == (200,) and fine.seed is None and fine.method == "cutting-plane"


def test_sphere_vector_labels_and_recorded_fields():
    M = Sphere(3, seed=0)
    sol = continuum_minimizer(M, onehot_label(3), lam=0.05, N=120, seed=7)
    assert sol.values.shape == (120, 3) and sol.labels.shape == (120, 3)
    np.testing.assert_allclose(sol.weights.sum(), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(sol.objective, sol.result.objective, rtol=1e-15)
    assert sol.seed == 7 and sol.label == "onehot(k=3)" and sol.loss == "squared"
    assert np.isfinite(sol.error_objective) and np.isfinite(sol.error_sup)


# --- exact references on reflection-symmetric manifolds (sphere, circle, tori) ---------------------

def _mirrored_sphere_rule(M, N):
    """A mirror-symmetric quadrature of the sphere: a Fibonacci spiral on the upper hemisphere (heights
    at the midpoints of (0, 1), so z is uniform) and its mirror image z -> -z, equal weights."""
    h = N // 2
    i = np.arange(h)
    z = 1.0 - (2 * i + 1) / (2 * h)
    phi = i * np.pi * (3.0 - np.sqrt(5.0))
    r = np.sqrt(1.0 - z * z)
    p = np.stack([z, r * np.cos(phi), r * np.sin(phi)], axis=1)
    return M.embed(np.vstack([p, p * [-1.0, 1.0, 1.0]])), np.full(2 * h, 1.0 / (2 * h))


def _mirrored_torus_rule(M, ka, kb):
    """Tensor grid of midpoint angles; with ka even the a-nodes are symmetric under a -> pi - a."""
    a = 2 * np.pi * (np.arange(ka) + 0.5) / ka
    b = 2 * np.pi * (np.arange(kb) + 0.5) / kb
    A, B = np.meshgrid(a, b, indexing="ij")
    return M.embed_angles(A.ravel(), B.ravel()), np.full(ka * kb, 1.0 / (ka * kb))


@pytest.mark.parametrize("lam_t", [0.01, 0.04, 0.1, 0.2])
@pytest.mark.parametrize("M", [Sphere(3, seed=0), FlatCube(2, 3, seed=1), FlatCube(4, 4, seed=2)], ids=lambda M: M.name)
def test_reflection_reference_is_the_closed_form_for_the_uniform_law(M, lam_t):
    """On the sphere the height is uniform on [-1, 1] (Archimedes), as z_1 on the cube: the same exact
    u^lambda, J* and L* as ramp_reference / step_reference (all three step regimes), to round-off."""
    lam = lam_t * M.scale
    for label, closed in [(ramp_label(0.5), ramp_reference(lam, 0.5, M.m, scale=M.scale)),
                          (step_label(), step_reference(lam, M.m, scale=M.scale)),
                          (step_label(), step_reference(10 * lam, M.m, scale=M.scale))]:
        ref = reflection_reference(M, label, lam=closed.lam)
        np.testing.assert_allclose(ref.value, closed.value, rtol=1e-12)
        np.testing.assert_allclose(ref.slope, closed.slope, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(ref.lipschitz, closed.lipschitz, rtol=1e-12, atol=1e-15)
        t = np.linspace(-1, 1, 101)
        np.testing.assert_allclose(ref.u(t), closed.u(t), rtol=0, atol=1e-12)
        assert ref.error_slope <= 1e-12 and ref.error_value <= 1e-12
        assert (ref.regime == "zero") == (closed.slope == 0.0)


def _arcsine_ramp_objective(L, delta, lam_t):
    """J(L) for ramp labels under the arcsine law, integrated by hand with t = cos(theta):
    E (clip(Y, +-L|t|) - Y)^2 = (2/pi) [ (1/delta - L)^2 C(0, delta) + S(delta, 1/L) ], with
    C = int cos^2 and S = int (1 - L cos)^2 over theta in [arccos(hi), arccos(lo)]."""
    def cos2(lo, hi):
        f = lambda t: 0.5 * np.arccos(t) + 0.25 * np.sin(2 * np.arccos(t))
        return f(lo) - f(hi)

    def ones(lo, hi):
        f = lambda t: np.arccos(t) - 2 * L * np.sin(np.arccos(t)) + L**2 * (0.5 * np.arccos(t) + 0.25 * np.sin(2 * np.arccos(t)))
        return f(lo) - f(hi)

    tail = min(1.0, 1.0 / L)
    return 2 / np.pi * ((1 / delta - L) ** 2 * cos2(0.0, delta) + ones(delta, tail)) + lam_t * L


@pytest.mark.parametrize("lam, delta", [(0.02, 0.5), (0.05, 0.3), (0.005, 0.6)])
def test_arcsine_law_reference_matches_hand_integrals(lam, delta):
    """Circle, flat and bent tori (t = cos a, the arcsine law): J* and L* from the hand-integrated
    objective above, minimized independently; one reference for every d of the bent torus."""
    refs = [reflection_reference(M, ramp_label(delta), lam=lam * M.scale / Torus(4).scale)
            for M in (Torus(4), CurvedTorus(6), CurvedTorus(11), Circle(2))]
    lam_t = refs[0].lam_intrinsic
    best = minimize_scalar(lambda L: _arcsine_ramp_objective(L, delta, lam_t), bounds=(1.0, 1.0 / delta),
                           method="bounded", options={"xatol": 1e-12})
    for ref in refs:
        np.testing.assert_allclose(ref.lam_intrinsic, lam_t, rtol=1e-14)
        np.testing.assert_allclose(ref.slope, best.x, rtol=1e-7)
        np.testing.assert_allclose(ref.value, _arcsine_ramp_objective(ref.slope, delta, lam_t), rtol=1e-12)
        assert ref.value <= best.fun + 1e-14
        assert ref.law == "arcsine"


@pytest.mark.parametrize("label", [ramp_label(0.5), smooth_label(), step_label()], ids=lambda lab: lab.name)
def test_sphere_reference_agrees_with_direct_weighted_solve(label):
    """The reference against the weighted program ([FCAO] eq. (2.7)) solved directly on 3-D points
    of the sphere, all pairs certified: on a mirror-symmetric quadrature the proof of
    reflection_reference holds for the discrete law, so the two agree to the solver's tolerance; a
    zonal reduction with the geodesic metric, the wrong scale or the wrong law would not (they move u by
    more than 1e-2). Values to 1e-4: the certificate bounds the objective, and values only through
    strong convexity with weights 1/N (typically they agree to 1e-8)."""
    M = Sphere(3, seed=0)
    X, w = _mirrored_sphere_rule(M, 800)
    t = M.coordinate(X)
    ref = reflection_reference(M, label, lam=0.02, law=(X, w))
    res = lipschitz_regression(X, label(t), lam=0.02, weights=w, method="cutting-plane")
    assert res.certified
    np.testing.assert_allclose(res.values[:, 0], ref.u(t), rtol=0, atol=1e-4)
    np.testing.assert_allclose(res.objective, ref.value, rtol=1e-8)
    np.testing.assert_allclose(res.lipschitz, ref.lipschitz, rtol=1e-6)
    assert ref.law == "discrete"


def test_sphere_reference_agrees_with_the_meridian_problem():
    """The zonal reduction: u^lambda = v(z), and the ambient Lipschitz constant of x -> v(z(x)) is that of
    v in the distance between the circles of heights z, z', attained on one meridian: the chord of the
    half circle (z, sqrt(1 - z^2)) (scale 1/2), not |z - z'| and not the arc. The 2-D weighted program on
    that half circle (weights uniform in z) gives the reference's discrete law."""
    M = Sphere(3, seed=0)
    N = 400
    z = -1.0 + (2 * np.arange(N) + 1) / N
    meridian = M.scale * np.stack([z, np.sqrt(1 - z * z)], axis=1)
    w = np.full(N, 1.0 / N)
    res = lipschitz_regression(meridian, ramp_label(0.5)(z), lam=0.02, weights=w)
    # The same law of z as a quadrature of the sphere: the meridian's points, mirror images of each other.
    ref = reflection_reference(M, ramp_label(0.5), lam=0.02,
                               law=(M.embed(np.stack([z, np.sqrt(1 - z * z), np.zeros(N)], axis=1)), w))
    assert res.certified
    np.testing.assert_allclose(res.values[:, 0], ref.u(z), rtol=0, atol=1e-4)
    np.testing.assert_allclose(res.objective, ref.value, rtol=1e-8)


def test_sphere_reference_against_study_quadrature_solve():
    """The continuum reference against continuum_minimizer on the sphere's own (not mirror-symmetric)
    Fibonacci rule: agreement within that solve's quadrature error, which shrinks with N."""
    M = Sphere(3, seed=0)
    ref = reflection_reference(M, ramp_label(0.5), lam=0.02)
    errors = []
    for N in (200, 800):
        sol = continuum_minimizer(M, ramp_label(0.5), lam=0.02, N=N, estimate_error=False)
        diff = sol.values - ref.u(M.coordinate(sol.nodes))
        errors.append((np.sqrt(sol.weights @ diff**2), abs(sol.objective - ref.value)))
    assert errors[1][0] < errors[0][0] and errors[1][1] < errors[0][1]
    assert errors[1][0] <= 0.005 and errors[1][1] <= 2e-3 * ref.value


@pytest.mark.parametrize("d", [5, 8, 12])
def test_curved_torus_reference_agrees_with_direct_weighted_solve(d):
    """The panel's reference: the weighted program on ambient points of the bent torus in R^d
    (mirror-symmetric 36 x 20 grid) is solved by clip(Y, +-L|t|) with L from the grid's law of t, the
    same formula in every d although the pairwise distances differ."""
    M = CurvedTorus(d, seed=0)
    X, w = _mirrored_torus_rule(M, 36, 20)
    t = M.coordinate(X)
    ref = reflection_reference(M, ramp_label(0.5), lam=0.02, law=(X, w))
    res = lipschitz_regression(X, ramp_label(0.5)(t), lam=0.02, weights=w, method="cutting-plane")
    assert res.certified
    np.testing.assert_allclose(res.values[:, 0], ref.u(t), rtol=0, atol=1e-4)
    np.testing.assert_allclose(res.objective, ref.value, rtol=1e-8)


def _two_azimuth_sphere_rule(M, K, a):
    """4K nodes of the sphere: K heights z in (0, 1), two azimuths phi and phi + pi at each, and the
    mirror images z -> -z of all 2K. Weights a c at (z, phi), (2 - a) c at (z, phi + pi), and swapped on
    the mirror images ((2 - a) c at H(z, phi)), c = 1 / 4K: the pairs (t, w) are a symmetric multiset
    for every a, the measure is mirror-invariant only for a = 1."""
    z = 1.0 - (2 * np.arange(K) + 1) / (2 * K)
    phi = np.arange(K) * np.pi * (3.0 - np.sqrt(5.0))
    ring = lambda f: np.stack([z, np.sqrt(1 - z * z) * np.cos(f), np.sqrt(1 - z * z) * np.sin(f)], axis=1)  # noqa: E731
    upper = np.vstack([ring(phi), ring(phi + np.pi)])
    c = 1.0 / (4 * K)
    w = np.concatenate([np.full(K, a * c), np.full(K, (2 - a) * c), np.full(K, (2 - a) * c), np.full(K, a * c)])
    return M.embed(np.vstack([upper, upper * [-1.0, 1.0, 1.0]])), w


def test_reflection_reference_refuses_a_quadrature_whose_mirror_images_differ_in_weight():
    """A planted quadrature whose (t, w) pairs are symmetric under t -> -t (so a check of the law of t
    passes) but whose nodes' mirror images carry other weights: the proof of reflection_reference does
    not hold, and indeed the weighted program on it has another minimizer (J lower by 6e-4, values
    moved by 0.017) than the formula, which from the law of t alone equals the symmetrized rule's.
    reflection_reference must refuse it; the symmetrized rule (a = 1) is accepted and agrees with
    the direct solve."""
    M = Sphere(3, seed=0)
    label = ramp_label(0.5)
    X, w = _two_azimuth_sphere_rule(M, 100, 1.8)
    t = M.coordinate(X)
    tr = np.round(t, 12)  # the two azimuths of one height differ in t by round-off only
    order, mirror = np.lexsort((w, tr)), np.lexsort((w, -tr))
    np.testing.assert_array_equal(w[order], w[mirror])  # the (t, w) multiset is symmetric
    np.testing.assert_allclose(t[order], -t[mirror], rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match=r"law must be symmetric under the mirror \(t -> -t\).* 400 of 400 nodes"):
        reflection_reference(M, label, lam=0.02, law=(X, w))
    X1, w1 = _two_azimuth_sphere_rule(M, 100, 1.0)
    formula = reflection_reference(M, label, lam=0.02, law=(X1, w1))
    same = lipschitz_regression(X1, label(t), lam=0.02, weights=w1)
    planted = lipschitz_regression(X, label(t), lam=0.02, weights=w)
    assert same.certified and planted.certified
    np.testing.assert_allclose(same.objective, formula.value, rtol=1e-8)
    assert formula.value - planted.objective > 1e-4
    assert np.max(np.abs(planted.values[:, 0] - formula.u(t))) > 1e-2


@given(lam=st.floats(1e-3, 0.3), delta=st.floats(0.05, 0.9))
def test_reflection_reference_minimizes_its_family(lam, delta):
    """Property: J(L*) <= J(L) for L near L* (the scalar problem of reflection_reference, evaluated by
    independent adaptive quadrature on the uniform law) and J* <= E y^2 = J[0]."""
    M = FlatCube(1, 1)
    label = ramp_label(delta)
    ref = reflection_reference(M, label, lam=lam)
    for L in (ref.slope * 0.99, ref.slope * 1.01):
        assert ref.value <= _family_objective(L, label, ref.lam_intrinsic) + 1e-12
    assert ref.value <= 1.0 - 2.0 * delta / 3.0 + 1e-12


def _not_a_manifold_with_symmetry():
    sphere = Sphere(3)
    sphere.coordinate_law = None  # a manifold that declares no reflection symmetry
    return sphere


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: reflection_reference(Sphere(3, density="linear"), ramp_label(0.5), lam=0.02),
         "manifold density must be 'uniform' for the reflection reference"),
        (lambda: reflection_reference(_not_a_manifold_with_symmetry(), ramp_label(0.5), lam=0.02),
         "manifold must declare a reflection symmetry"),
        (lambda: reflection_reference("sphere", ramp_label(0.5), lam=0.02),
         r"manifold must be a lipconv.manifolds.Manifold \(e.g. Sphere\(3\)\), got str 'sphere'"),
        (lambda: reflection_reference(Sphere(3), ramp_label(0.5), lam=0.02, loss="absolute"),
         "loss must be 'squared' for the reflection reference, got 'absolute'"),
        (lambda: reflection_reference(Sphere(3), onehot_label(3), lam=0.02), "label must be scalar"),
        (lambda: reflection_reference(Sphere(3), lambda t: t**3, lam=0.02), "which is not concave on"),
        (lambda: reflection_reference(Sphere(3), lambda t: t + 1.0, lam=0.02), "which is not odd"),
        (lambda: reflection_reference(Sphere(3), ramp_label(0.5), lam=0.0), "lam must be finite and > 0, got 0.0"),
        (lambda: reflection_reference(Sphere(3), ramp_label(0.5), lam=0.02, law=(np.array([0.1, -0.1]), np.array([0.5, 0.5]))),
         r"law nodes must have shape \(N, d = 3\): a law of t alone cannot show"),
        (lambda: reflection_reference(Sphere(3), ramp_label(0.5), lam=0.02, law=(np.full((2, 3), 0.5), np.array([0.5, 0.5]))),
         "law nodes must lie on the manifold"),
        (lambda: reflection_reference(Sphere(3), ramp_label(0.5), lam=0.02, law=(_mirrored_sphere_rule(Sphere(3), 4)[0], np.ones(3) / 3)),
         "law must have one weight per node, >= 0 and summing to 1, got 4 nodes and 3 weights"),
        (lambda: reflection_reference(Sphere(3), ramp_label(0.5), lam=0.02,
                                      law=(_mirrored_sphere_rule(Sphere(3), 4)[0], np.array([0.4, 0.2, 0.2, 0.2]))),
         r"law must be symmetric under the mirror \(t -> -t\)"),
        (lambda: reflection_reference(Sphere(3), ramp_label(0.5), lam=0.02, law=np.ones(3)), "law must be a tuple"),
    ],
)
def test_reflection_reference_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()
