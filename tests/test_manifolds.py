"""Tests of lipconv.manifolds: geometry of the embeddings, densities, quadratures, labels."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import pdist

from lipconv.manifolds import (
    Circle, CurvedTorus, FlatCube, Sphere, Torus, corrupt_labels, onehot_label, ramp_label, smooth_label, step_label,
)

MANIFOLDS = [
    lambda density: FlatCube(1, 1, density=density, seed=0),
    lambda density: FlatCube(2, 5, density=density, seed=1),
    lambda density: FlatCube(3, 4, density=density, seed=2),
    lambda density: Circle(2, density=density, seed=3),
    lambda density: Circle(6, density=density, seed=4),
    lambda density: Sphere(3, density=density, seed=5),
    lambda density: Sphere(5, density=density, seed=6),
    lambda density: Torus(4, density=density, seed=7),
    lambda density: Torus(6, density=density, seed=8),
    lambda density: CurvedTorus(5, density=density, seed=9),
    lambda density: CurvedTorus(9, density=density, seed=10),
]
DENSITY_NAMES = ["uniform", "linear"]


def _distance_to_model(M, x):
    """Distance of model points to the model manifold (0 on it; <= 0 inside the cube)."""
    p = M.model(x)
    if isinstance(M, FlatCube):
        return np.max(np.abs(p), axis=1) - 1.0  # <= 0 inside the cube
    if isinstance(M, CurvedTorus):
        return M.distance_to_manifold(x) / M.scale  # checked against a brute-force search below
    if isinstance(M, Torus):
        return np.abs(np.hypot(p[:, 0], p[:, 1]) - 1.0) + np.abs(np.hypot(p[:, 2], p[:, 3]) - 1.0)
    return np.abs(np.linalg.norm(p, axis=1) - 1.0)


@pytest.mark.parametrize("make", MANIFOLDS)
@pytest.mark.parametrize("density", DENSITY_NAMES)
def test_samples_in_box_and_on_manifold(make, density):
    M = make(density)
    x = M.sample(500, 0)
    assert x.shape == (500, M.d)
    assert np.all((x >= 0) & (x <= 1))
    # On the manifold: x is reconstructed from its model coordinates, and those lie on the model.
    np.testing.assert_allclose(M.embed(M.model(x)), x, rtol=0, atol=1e-12)
    assert np.all(_distance_to_model(M, x) <= 1e-12)
    t = M.coordinate(x)
    assert np.all((t >= -1) & (t <= 1))


@pytest.mark.parametrize("make", MANIFOLDS)
def test_quadrature_nodes_on_manifold_and_weights_sum_to_one(make):
    M = make("linear")
    X, w = M.quadrature(64)
    assert X.shape[1] == M.d and w.shape == (X.shape[0],)
    assert 0.5 * 64 <= X.shape[0] <= 64
    assert np.all((X >= 0) & (X <= 1))
    assert np.all(_distance_to_model(M, X) <= 1e-12)
    assert np.all(w > 0)
    np.testing.assert_allclose(w.sum(), 1.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("make", MANIFOLDS)
def test_linear_density_integrates_to_one_and_is_bounded_below(make):
    """The density is w.r.t. the normalized volume, so its uniform-quadrature mean is 1."""
    M = make("linear")
    X, w_uniform = make("uniform").quadrature(400)
    rho = M.density(X)
    np.testing.assert_allclose(w_uniform @ rho, 1.0, rtol=0, atol=1e-12)
    assert rho.min() >= 0.5 - 1e-12 and rho.max() <= 1.5 + 1e-12
    np.testing.assert_allclose(make("uniform").density(X), 1.0, rtol=0, atol=0)


def _test_function(M, x):
    t = M.coordinate(x)
    return np.exp(t) + np.cos(3.0 * np.linalg.norm(x - 0.5, axis=1))


@pytest.mark.parametrize("make", MANIFOLDS)
@pytest.mark.parametrize("density", DENSITY_NAMES)
def test_sample_mean_matches_quadrature_mean(make, density):
    """Monte Carlo mean within 5 standard errors of the quadrature mean (both approximate E_rho f)."""
    M = make(density)
    f = _test_function(M, M.sample(4000, 11))
    X, w = M.quadrature(900)
    quad = w @ _test_function(M, X)
    se = f.std(ddof=1) / np.sqrt(f.size)
    assert abs(f.mean() - quad) <= 5.0 * se


@pytest.mark.parametrize("density", DENSITY_NAMES)
def test_linear_density_moment_is_exact(density):
    """E[t] = tilt * E_uniform[t^2]: 0 (uniform) or 1/6 (linear) on the cube and sphere, 1/4 on the circle."""
    tilt = 0.0 if density == "uniform" else 0.5
    for M, second_moment in [(FlatCube(2, 3, density=density), 1 / 3), (Sphere(4, density=density), 1 / 3),
                             (Circle(3, density=density), 1 / 2), (Torus(4, density=density), 1 / 2),
                             (CurvedTorus(7, density=density), 1 / 2)]:
        X, w = M.quadrature(10000)
        np.testing.assert_allclose(w @ M.coordinate(X), tilt * second_moment, rtol=0, atol=1e-3)


@given(m=st.integers(1, 4), extra=st.integers(0, 3), seed=st.integers(0, 2**31 - 1))
def test_flat_cube_is_scaled_isometry(m, extra, seed):
    """Property: the FlatCube embedding is an isometry up to its scale (DESIGN.md, lift to m dimensions):
    ||x - x'|| = scale * ||z - z'|| and scale * sqrt(m) = 1/2."""
    M = FlatCube(m, m + extra, seed=seed)
    x = M.sample(30, seed)
    z = M.intrinsic(x)
    assert np.all(np.abs(z) <= 1 + 1e-12)
    np.testing.assert_allclose(pdist(x), M.scale * pdist(z), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(M.scale * np.sqrt(m), 0.5, rtol=1e-15)


def test_curved_scales_relate_model_and_ambient_distances():
    for M in [Circle(4, seed=1), Sphere(4, seed=2), Torus(5, seed=3), CurvedTorus(6, seed=4)]:
        x = M.sample(40, 0)
        np.testing.assert_allclose(pdist(x), M.scale * pdist(M.model(x)), rtol=1e-10, atol=1e-14)


def test_seeds_reproduce_and_differ():
    M = Sphere(5, seed=3)
    np.testing.assert_array_equal(M.sample(10, 4), Sphere(5, seed=3).sample(10, 4))
    assert not np.allclose(M.sample(10, 4), M.sample(10, 5))
    assert not np.allclose(Sphere(5, seed=4).frame, M.frame)
    gen = np.random.default_rng(0)
    a, b = M.sample(5, gen), M.sample(5, gen)
    assert not np.allclose(a, b)


def test_flat_cube_quadrature_is_tensor_midpoint_grid():
    M = FlatCube(2, 2, seed=0)
    X, w = M.quadrature(300)
    assert X.shape[0] == 17 * 17
    z = M.intrinsic(X)
    np.testing.assert_allclose(np.unique(np.round(z[:, 0], 12)), -1 + (2 * np.arange(17) + 1) / 17, atol=1e-12)
    X, w = M.grid_quadrature((40, 3))
    assert X.shape[0] == 120
    # Midpoint rule in z_1 integrates z_1^2 to 1/3 - 1/(3 k^2).
    np.testing.assert_allclose(w @ M.intrinsic(X)[:, 0] ** 2, 1 / 3 - 1 / (3 * 40**2), rtol=1e-12)


def test_sphere_coordinate_is_uniform_on_fibonacci_lattice():
    M = Sphere(3)
    X, _ = M.quadrature(1000)
    np.testing.assert_allclose(np.sort(M.coordinate(X)), -1 + (2 * np.arange(1000) + 1) / 1000, atol=1e-12)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: FlatCube(0, 3), "m must be an integer >= 1, got 0"),
        (lambda: FlatCube(3, 2), "d must be >= 3 for FlatCube"),
        (lambda: Circle(1), "d must be >= 2 for Circle"),
        (lambda: Sphere(2), "d must be >= 3 for Sphere"),
        (lambda: Torus(3), "d must be >= 4 for Torus"),
        (lambda: CurvedTorus(3), "d must be >= 4 for CurvedTorus"),
        (lambda: CurvedTorus(4, curvature=1.0), "curvature must be 0 for d = 4"),
        (lambda: CurvedTorus(6, curvature=-1.0), "curvature must be finite and >= 0, got -1.0"),
        (lambda: CurvedTorus(6).embed_angles(np.zeros(3), np.zeros(2)), "a and b must have the same length"),
        (lambda: FlatCube(2, 2, density="gaussian"), "density must be one of"),
        (lambda: Circle(2).sample(0, 0), "n must be an integer >= 1, got 0"),
        (lambda: Circle(2).quadrature(1), "N must be an integer >= 2, got 1"),
        (lambda: Circle(2).sample(5, "abc"), "rng must be an int"),
        (lambda: FlatCube(2, 3).grid_quadrature((4,)), "counts must have m = 2 entries"),
        (lambda: FlatCube(2, 3).coordinate(np.zeros((4, 2))), "x must have d = 3 columns, got 2"),
        (lambda: ramp_label(0.0), "delta must be finite and > 0, got 0.0"),
        (lambda: onehot_label(1), "k must be an integer >= 2, got 1"),
        (lambda: corrupt_labels(np.ones(4), 1.5, 0), r"fraction must be in \[0, 1\], got 1.5"),
        (lambda: corrupt_labels(np.full((3, 2), 0.5), 0.5, 0), "must be one-hot rows"),
    ],
)
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_labels_depend_on_coordinate():
    t = np.array([-1.0, -0.3, 0.0, 0.1, 0.9])
    np.testing.assert_allclose(ramp_label(0.2)(t), [-1.0, -1.0, 0.0, 0.5, 1.0], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(step_label()(t), [-1, -1, 0, 1, 1])
    np.testing.assert_allclose(smooth_label()(t), np.sin(np.pi * t / 2), rtol=0, atol=0)
    np.testing.assert_array_equal(onehot_label(4)(t).argmax(axis=1), [0, 1, 2, 2, 3])
    M = Circle(3, seed=2)
    x = M.sample(20, 0)
    np.testing.assert_array_equal(ramp_label(0.5).on(M, x), ramp_label(0.5)(M.coordinate(x)))
    assert ramp_label(0.25).lipschitz == 4.0 and step_label().lipschitz == np.inf


@given(n=st.integers(1, 60), fraction=st.floats(0.0, 1.0), k=st.integers(2, 5), seed=st.integers(0, 1000))
def test_corrupt_labels_flips_exact_fraction(n, fraction, k, seed):
    """Property: corrupt_labels changes exactly round(fraction * n) labels, each to a different valid label."""
    rng = np.random.default_rng(seed)
    y = np.where(rng.random(n) < 0.5, -1.0, 1.0)
    z = corrupt_labels(y, fraction, seed)
    changed = z != y
    assert changed.sum() == round(fraction * n)
    np.testing.assert_array_equal(z[changed], -y[changed])
    Y = np.eye(k)[rng.integers(0, k, size=n)]
    Z = corrupt_labels(Y, fraction, seed)
    moved = Z.argmax(axis=1) != Y.argmax(axis=1)
    assert moved.sum() == round(fraction * n)
    np.testing.assert_array_equal(Z.sum(axis=1), 1.0)
    np.testing.assert_array_equal(corrupt_labels(Y, fraction, seed), Z)


# --- the reflection symmetry and the bent torus (manifold-hypothesis panel) -----------------------

SYMMETRIC = [FlatCube(2, 3, seed=1), FlatCube(4, 4, seed=2), Circle(3, seed=3), Sphere(3, seed=4), Torus(5, seed=5),
             CurvedTorus(5, seed=6), CurvedTorus(8, seed=7), CurvedTorus(12, seed=8)]
LAW_MEAN_ABS_T = {"uniform": 0.5, "arcsine": 2.0 / np.pi}


@pytest.mark.parametrize("M", SYMMETRIC, ids=lambda M: M.name)
def test_declared_reflection_maps_manifold_to_itself(M):
    """The reflection p_1 -> -p_1 behind ``coordinate_law`` (used by lipconv.continuum.reflection_reference)
    maps M to M, flips t, and moves x by exactly 2 scale |t|; the law's E|t| matches the quadrature."""
    x = M.sample(400, 0)
    q1 = M.frame[:, 0]
    mirror = x - 2.0 * ((x - 0.5) @ q1)[:, None] * q1[None, :]
    t = M.coordinate(x)
    assert np.max(M.distance_to_manifold(mirror)) <= 1e-12
    np.testing.assert_allclose(M.coordinate(mirror), -t, rtol=0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(x - mirror, axis=1), 2.0 * M.scale * np.abs(t), rtol=1e-12, atol=1e-14)
    X, w = M.quadrature(40000)
    np.testing.assert_allclose(w @ np.abs(M.coordinate(X)), LAW_MEAN_ABS_T[M.coordinate_law], rtol=0, atol=2e-3)


@pytest.mark.parametrize("seed", [0, 7])
def test_curved_torus_in_d4_is_the_clifford_torus(seed):
    """kappa = 0 (d = 4): the same points as Torus(4) with the same frame seed."""
    M, T = CurvedTorus(4, seed=seed), Torus(4, seed=seed)
    np.testing.assert_allclose(M.sample(200, 3), T.sample(200, 3), rtol=0, atol=1e-15)
    np.testing.assert_allclose(M.quadrature(300)[0], T.quadrature(300)[0], rtol=0, atol=1e-15)


@pytest.mark.parametrize("d", [4, 5, 6, 9, 12])
def test_curved_torus_is_intrinsically_the_same_flat_torus(d):
    """Same intrinsic problem in every d: the parametrization (a, b) has ambient speed = scale in both
    directions and orthogonal tangents (metric s^2 (da^2 + db^2)), so the uniform measure is uniform in
    the angles; the a-circles have curvature sqrt(1 + kappa^2 cos^4 a) (model units), at most max_curvature."""
    M = CurvedTorus(d, seed=d)
    rng = np.random.default_rng(d)
    a, b = rng.uniform(0.0, 2.0 * np.pi, (2, 300))
    h = 1e-5
    Ta = (M.embed_angles(a + h, b) - M.embed_angles(a - h, b)) / (2 * h)
    Tb = (M.embed_angles(a, b + h) - M.embed_angles(a, b - h)) / (2 * h)
    np.testing.assert_allclose(np.linalg.norm(Ta, axis=1), M.scale, rtol=1e-8)
    np.testing.assert_allclose(np.linalg.norm(Tb, axis=1), M.scale, rtol=1e-8)
    np.testing.assert_allclose(np.sum(Ta * Tb, axis=1), 0.0, rtol=0, atol=1e-9)
    h = 1e-4
    acc = (M.embed_angles(a + h, b) - 2 * M.embed_angles(a, b) + M.embed_angles(a - h, b)) / h**2
    kappa = M.curvature
    np.testing.assert_allclose(np.linalg.norm(acc, axis=1) / M.scale, np.sqrt(1 + kappa**2 * np.cos(a) ** 4), rtol=1e-5)
    assert M.max_curvature == pytest.approx(np.hypot(1.0, kappa), rel=1e-15)
    assert np.all(np.abs(M.sample(500, 1) - 0.5) <= 0.5)


def _distance_change(make, dims, n=300):
    """Relative change of the ambient pairwise distances of the same parameter points across d,
    against the first d: (mean over pairs, max over pairs), one row per later d."""
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0.0, 2.0 * np.pi, (2, n))
    p4 = np.stack([np.cos(a), np.sin(a), np.cos(b), np.sin(b)], axis=1)
    dist = []
    for d in dims:
        M = make(d)
        x = M.embed_angles(a, b) if isinstance(M, CurvedTorus) else M.embed(p4)
        dist.append(pdist(x) / M.scale)  # in model units, so that a change of scale alone is no change
    base = dist[0]
    return np.array([[np.mean(np.abs(dd - base) / base), np.max(np.abs(dd - base) / base)] for dd in dist[1:]])


def test_panel_embedding_changes_pairwise_distances():
    """The manifold-hypothesis panel (DESIGN.md, "The manifold hypothesis"): the same parameter points
    have different pairwise distances in every d, increasingly so, while their intrinsic metric is fixed
    (test above). The isometric version (Torus(d): a frame into a larger space) changes none, so this
    test would have caught it."""
    dims = [4, 5, 6, 8, 12]
    change = _distance_change(lambda d: CurvedTorus(d, seed=d), dims)
    assert np.all(change[:, 0] >= [0.003, 0.01, 0.03, 0.06])
    assert np.all(change[:, 1] >= [0.03, 0.1, 0.3, 0.45])
    assert np.all(np.diff(change[:, 0]) > 0)
    curv = [CurvedTorus(d).max_curvature for d in dims]
    assert np.all(np.diff(curv) > 0)
    isometric = _distance_change(lambda d: Torus(d, seed=d), dims)
    np.testing.assert_allclose(isometric, 0.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("d", [5, 8, 12])
def test_curved_torus_distance_matches_brute_force(d):
    """distance_to_manifold against a search over 40,000 angles: never larger (it is a minimum over M),
    and smaller only by the search grid's resolution; 0 to round-off on M."""
    M = CurvedTorus(d, seed=1)
    rng = np.random.default_rng(d)
    x = np.vstack([M.sample(150, 2) + 0.02 * rng.standard_normal((150, d)), rng.uniform(0, 1, (150, d))])
    ours = M.distance_to_manifold(x)
    p = M.model(x)
    k1 = d - 2
    grid = np.linspace(0.0, 2.0 * np.pi, 40001)[:-1]
    near = np.full(x.shape[0], np.inf)
    for chunk in np.split(grid, 20):  # 20 blocks keep the difference array near 50 MB
        F = M._curve(chunk)
        near = np.minimum(near, np.min(np.sum((p[:, None, :k1] - F[None]) ** 2, axis=2), axis=1))
    brute = M.scale * np.sqrt(near + (np.linalg.norm(p[:, k1:], axis=1) - 1.0) ** 2)
    assert np.all(ours <= brute + 1e-12)
    assert np.all(ours >= brute - 1e-6)
    assert np.max(M.distance_to_manifold(M.sample(300, 3))) <= 1e-13


# ---------------------------------------------------------------- stratified samples and sup grids


from lipconv.manifolds import CurvedTorus  # noqa: E402
from lipconv.manifolds._base import stratified_error  # noqa: E402


def _box_manifolds():
    return [FlatCube(1, 1), FlatCube(2, 3), FlatCube(3, 3), Circle(2), Sphere(3), Torus(4), CurvedTorus(6)]


@pytest.mark.parametrize("M", _box_manifolds(), ids=lambda M: M.name)
def test_stratified_sample_is_unbiased_with_an_honest_standard_error(M):
    """The stratified estimate of E[t^2] (1/3 where t is uniform, 1/2 for the arcsine law) lies within
    4 standard errors of the truth, and the standard error is the spread of repeated estimates
    (within a factor 2): a sampler that put its points at the cell centres would give se = 0."""
    truth = {"uniform": 1 / 3, "arcsine": 1 / 2}[M.coordinate_law]
    est, ses = [], []
    for seed in range(20):
        x, w, strata = M.stratified(2000, seed)
        f = M.coordinate(x) ** 2
        est.append(float(w @ f))
        ses.append(stratified_error(f, w, strata))
        assert np.all(np.bincount(strata) == 2) and abs(w.sum() - 1.0) < 1e-12
    est, ses = np.array(est), np.array(ses)
    assert abs(est.mean() - truth) <= 4 * ses.mean() / np.sqrt(20)
    assert 0.5 < est.std(ddof=1) / ses.mean() < 2.0
    np.testing.assert_allclose(M.distance_to_manifold(M.stratified(200, 0)[0]), 0.0, atol=1e-12)


@pytest.mark.parametrize("M", _box_manifolds(), ids=lambda M: M.name)
def test_lipschitz_sup_brackets_the_maximum_of_a_lipschitz_function(M):
    """f = max(0, 0.3 - |x - peak|) is 1-Lipschitz with maximum exactly 0.3, at a point of the boundary
    of the parameter box (a corner of the cube). The bracket must contain 0.3 and meet its 5 %
    width; no sample point may exceed its upper end. A bound that forgot the cells' covering radius
    could end below the peak; a first grid without the boundary would have to find it by splitting."""
    plo, phi, _ = M._param_box()
    P0 = np.array([[phi[0]] + [plo[i] for i in range(1, M.m)]])
    peak = M._clip(M.embed(M._from_param(P0)))[0]
    f = lambda x: np.maximum(0.0, 0.3 - np.linalg.norm(x - peak, axis=1))  # noqa: E731
    lo, hi, evals = M.lipschitz_sup(f, 1.0, t_extra=[0.37])
    assert lo <= 0.3 * (1 + 1e-12) and 0.3 <= hi * (1 + 1e-12)
    assert hi <= 1.05 * lo * (1 + 1e-9) and evals < 2_000_000
    assert f(M.sample(20000, 3)).max() <= hi
    # A peak strictly inside (not on a node of the first grid) is found by splitting.
    P1 = 0.5 * (plo + phi)[None, :] + 0.0123
    inner = M._clip(M.embed(M._from_param(P1)))[0]
    g = lambda x: np.maximum(0.0, 0.2 - np.linalg.norm(x - inner, axis=1))  # noqa: E731
    lo, hi, _ = M.lipschitz_sup(g, 1.0)
    assert lo <= 0.2 * (1 + 1e-12) <= hi * (1 + 1e-12) and hi <= 1.05 * lo * (1 + 1e-9)


@pytest.mark.parametrize("M", _box_manifolds(), ids=lambda M: M.name)
def test_lipschitz_sup_upper_end_counts_the_cells_it_closed(M):
    """Cells closed in early rounds stay part of hi. With f = 0.3 |sin(3 a.x)| + 0.2 x_1 (declared
    1.5-Lipschitz) the cells close over several rounds; the cell holding lo's node has a bound of at
    least lo + L r > lo, so hi > lo always. A bracket that kept only the last round's cells returned
    hi = lo on the sphere (a certified sup narrower than any evaluation can know)."""
    a = np.linspace(1, 2, M.d)
    a /= np.linalg.norm(a)
    f = lambda x: 0.3 * np.abs(np.sin(3 * x @ a)) + 0.2 * x[:, 0]  # noqa: E731
    lo, hi, _ = M.lipschitz_sup(f, 1.5)
    assert lo < hi <= 1.05 * lo * (1 + 1e-9)
    assert f(M.sample(50000, 4)).max() <= hi
