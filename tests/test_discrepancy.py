"""Tests of lipconv.discrepancy: exact W1 against POT, the U[0,1] constant, the OT path, the bounds."""
from __future__ import annotations

import numpy as np
import ot
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lipconv.discrepancy import (
    discrepancy_bound, sharp_exponent, sharp_rate, theory_exponent, wasserstein1,
)
from lipconv.discrepancy._semidiscrete import rho_points
from lipconv.discrepancy._wasserstein import _semidiscrete_bracket
from lipconv.manifolds import Circle, CurvedTorus, FlatCube, Sphere


def _pot_segment_reference(manifold, X, n_grid=200_000):
    """W1 by POT's 1-D routine against a fine midpoint grid of rho (intrinsic coordinate, scaled)."""
    nodes, w = manifold.quadrature(n_grid)
    z, zq = manifold.model(X)[:, 0], manifold.model(nodes)[:, 0]
    return manifold.scale * ot.wasserstein_1d(z, zq, None, w, p=1)


@pytest.mark.parametrize("density", ["uniform", "linear"])
@pytest.mark.parametrize("d", [1, 3])
def test_exact_segment_matches_pot_on_fine_grid(density, d):
    cube = FlatCube(1, d, density=density, seed=3)
    X = cube.sample(400, 11)
    res = wasserstein1(X, cube)
    assert res.method == "exact-segment" and res.lo == res.value == res.hi and res.integration_error == 0.0
    # The grid rule's own W1 to rho is (grid spacing)/4 * scale = 2.5e-6 * 0.5.
    np.testing.assert_allclose(res.value, _pot_segment_reference(cube, X), rtol=0, atol=2e-6)


def test_exact_segment_single_point_closed_form():
    # One point at z0 against U[-1,1] (density 1/2 in z): int |1{z >= z0} - (z+1)/2| dz = (1 + z0^2)/2.
    cube = FlatCube(1, 1, seed=0)
    for z0 in (-0.7, 0.0, 0.4):
        x = cube.embed(np.array([[z0]]))
        np.testing.assert_allclose(wasserstein1(x, cube).value, cube.scale * (1 + z0**2) / 2, rtol=1e-12)


def test_sqrt_n_mean_w1_uniform_unit_interval():
    """sqrt(n) E W1(rho_n, U[0,1]) -> sqrt(pi/32) = 0.3133 (E int |B(t)| dt for a Brownian bridge)."""
    cube = FlatCube(1, 1, seed=0)
    n, reps = 10_000, 400
    # The cube [-1,1] at scale 1/2 is an isometric copy of [0, 1].
    vals = np.array([np.sqrt(n) * wasserstein1(cube.sample(n, s), cube).value for s in range(reps)])
    se = vals.std(ddof=1) / np.sqrt(reps)
    assert abs(vals.mean() - np.sqrt(np.pi / 32)) < 3.5 * se + 0.003


def test_circle_geodesic_exact_matches_ot_with_arc_cost():
    circle = Circle(2, seed=1)
    X = circle.sample(150, 5)
    exact = wasserstein1(X, circle, metric="geodesic")
    nodes, w = circle.quadrature(8000)
    angle = lambda P: np.arctan2(circle.model(P)[:, 1], circle.model(P)[:, 0])  # noqa: E731
    diff = np.abs(angle(X)[:, None] - angle(nodes)[None, :])
    cost = circle.scale * np.minimum(diff, 2 * np.pi - diff)
    ref = ot.emd2(np.full(150, 1 / 150), w, cost, numItermax=10**7)
    # The 8000-node rule is within (2 pi r / N) / 4 = 1e-4 of rho.
    np.testing.assert_allclose(exact.value, ref, rtol=0, atol=2e-4)
    chordal = wasserstein1(X, circle, N=4096)
    assert chordal.method == "semi-discrete" and chordal.metric == "ambient"
    # chordal <= arc <= (pi / 2) chordal, pointwise, hence for W1
    assert 2 / np.pi * exact.value <= chordal.hi and chordal.lo <= exact.value


def test_semidiscrete_bracket_contains_the_exact_segment_value():
    """The semi-discrete bracket (plan cost above, c-transform potential below) run on a segment
    embedded in R^2, where the exact value is known in closed form: it must contain it, for several
    n and seeds, with a relative width of a few per cent."""
    cube = FlatCube(1, 2, seed=0)
    for n, seed in ((40, 0), (300, 1), (2000, 2)):
        X = cube.sample(n, seed)
        exact = wasserstein1(X, cube).value
        for entries in (0, 1 << 22):  # the auction, and the exact network-simplex plan
            res = _semidiscrete_bracket(X, cube, 4, 4, 3.0, np.random.default_rng(seed), exact_entries=entries)
            assert res.lo <= exact <= res.hi, (n, entries, res.lo, exact, res.hi)
            assert res.relative_width < 0.1


def test_circle_chordal_bracket_meets_its_width_target_at_small_n():
    """Regression: on the circle the auction's candidate lists missed long-range assignments at
    n = 128 (widths up to 24 %); the exact plan used at that size keeps every seed under 5 %."""
    circle = Circle(2, seed=0)
    for seed in range(6):
        X = circle.sample(128, np.random.default_rng([seed, 128]))
        res = wasserstein1(X, circle, seed=seed)
        geo = wasserstein1(X, circle, metric="geodesic").value
        assert res.relative_width <= 0.05 and 2 / np.pi * geo <= res.hi and res.lo <= geo


def _pot_reference(X, manifold, N):
    """Exact discrete OT (POT's network simplex) against N stratified points of rho, with the
    quadrature's own distance to rho bounded by the mean distance from rho to its nearest node."""
    from scipy.spatial import cKDTree

    nodes, w, _ = manifold.stratified(N, 7)
    value = ot.emd2(np.full(X.shape[0], 1 / X.shape[0]), w, ot.dist(X, nodes, metric="euclidean"), numItermax=10**7)
    # A stratified rule with 2 points per cell is within about the cell radius of rho; estimate it
    # (an upper estimate: each point of rho moved to its nearest node, twice for the cell weights).
    far = manifold.sample(20000, 8)
    bias = 2.0 * float(np.mean(cKDTree(nodes).query(far)[0]))
    return float(value), bias


@pytest.mark.parametrize("make", [lambda: FlatCube(2, 3, seed=0), lambda: Sphere(3, seed=0),
                                  lambda: CurvedTorus(6, seed=0)])
def test_semidiscrete_bracket_overlaps_an_independent_pot_value(make):
    """Independent reference: POT's exact discrete transport to a 20,000-point stratified rule,
    +- its quadrature error. The bracket must meet that interval, and be narrower than 5 % (the
    issue's target) at n = 256."""
    manifold = make()
    X = manifold.sample(256, 3)
    res = wasserstein1(X, manifold, seed=4)
    ref, bias = _pot_reference(X, manifold, 20000)
    assert res.lo <= ref + bias and ref - bias <= res.hi, (res.lo, res.hi, ref, bias)
    assert res.relative_width <= 0.05


def test_semidiscrete_bracket_is_a_function_of_the_seed_and_brackets_a_planted_shift():
    cube = FlatCube(2, 3, seed=0)
    X = cube.sample(200, 0)
    a, b = wasserstein1(X, cube, seed=5), wasserstein1(X, cube, seed=5)
    assert (a.lo, a.hi) == (b.lo, b.hi)
    # Planted: samples all moved by a vector v of length s along the cube's plane change W1 by at
    # most s (triangle inequality); a bracket of the shifted set that ignored the shift would fail.
    s = 0.05
    shifted = cube.embed(np.clip(cube.model(X) + np.array([s / cube.scale, 0.0]), -1, 1))
    c = wasserstein1(shifted, cube, seed=5)
    assert c.lo <= a.hi + s and a.lo <= c.hi + s
    assert c.value > a.value  # moving every sample one way away from uniform costs transport


def test_rho_points_are_rho_distributed_on_the_curved_torus():
    """The Sobol path through the parameter box: the points lie on the manifold and their mean of
    a test function matches a large i.i.d. sample's."""
    M = CurvedTorus(6, seed=0)
    Y, kind = rho_points(M, 8192, np.random.default_rng(0))
    assert kind == "sobol"
    assert M.distance_to_manifold(Y).max() < 1e-9
    ref = M.sample(200_000, 1)
    np.testing.assert_allclose(Y.mean(axis=0), ref.mean(axis=0), atol=3e-3)
    np.testing.assert_allclose((Y**2).mean(axis=0), (ref**2).mean(axis=0), atol=3e-3)


def test_semidiscrete_path_square_decreases_with_n():
    cube = FlatCube(2, 3, seed=0)
    small = np.mean([wasserstein1(cube.sample(50, s), cube).value for s in range(4)])
    large = np.mean([wasserstein1(cube.sample(800, s), cube).value for s in range(4)])
    assert large < small


@given(st.lists(st.floats(-1, 1, allow_nan=False), min_size=1, max_size=40), st.sampled_from(["uniform", "linear"]))
def test_property_segment_w1_is_kr_dual_sup_bounded(zs, density):
    """Property: Lemma 4.10 (Kantorovich-Rubinstein): W1 >= |mean w(x_i) - int w rho| for the
    1-Lipschitz test functions w = +-(ambient coordinate), and 0 <= W1 <= scale * 2 (diameter)."""
    cube = FlatCube(1, 1, density=density, seed=0)
    x = cube.embed(np.array(zs)[:, None])
    val = wasserstein1(x, cube).value
    nodes, w = cube.quadrature(20_000)
    gap = abs(x[:, 0].mean() - w @ nodes[:, 0])
    assert val >= 0.0
    assert gap - 1e-6 <= val <= 2 * cube.scale + 1e-12


def test_bounds_and_rates():
    n = np.array([10, 100, 1000])
    np.testing.assert_allclose(discrepancy_bound(n, 2, t=2.0, C=3.0), 3 * (2 * np.log(n) / n) ** 0.25, rtol=1e-14)
    assert isinstance(discrepancy_bound(100, 1), float)
    np.testing.assert_allclose(sharp_rate(n, 1), n**-0.5, rtol=1e-14)
    np.testing.assert_allclose(sharp_rate(n, 2), np.sqrt(np.log(n) / n), rtol=1e-14)
    np.testing.assert_allclose(sharp_rate(n, 4), n**-0.25, rtol=1e-14)
    assert theory_exponent(1) == pytest.approx(-1 / 3) and sharp_exponent(3) == pytest.approx(-1 / 3)


def test_bad_inputs():
    cube = FlatCube(1, 2, seed=0)
    with pytest.raises(ValueError, match="n must be >= 2"):
        discrepancy_bound(1, 1)
    with pytest.raises(ValueError, match="m must be an integer >= 1"):
        sharp_rate(10, 0)
    with pytest.raises(ValueError, match="t must be finite and > 0"):
        discrepancy_bound(10, 1, t=0.0)
    with pytest.raises(ValueError, match="samples must have d = 2 columns"):
        wasserstein1(np.zeros((3, 3)), cube)
    with pytest.raises(ValueError, match="metric must be 'ambient' or 'geodesic'"):
        wasserstein1(np.zeros((3, 2)), cube, metric="chordal")
    with pytest.raises(ValueError, match="metric 'geodesic' is available for segments"):
        wasserstein1(np.full((3, 3), 0.5), FlatCube(2, 3), metric="geodesic")
    square = FlatCube(2, 3, seed=0)
    X = square.sample(10, 0)
    with pytest.raises(ValueError, match="points_per_sample must be an integer >= 1, got 0"):
        wasserstein1(X, square, points_per_sample=0)
    with pytest.raises(ValueError, match="replicates must be an integer >= 2, got 1"):
        wasserstein1(X, square, replicates=1)
    with pytest.raises(ValueError, match="se_multiple must be finite and > 0"):
        wasserstein1(X, square, se_multiple=float("nan"))
    with pytest.raises(ValueError, match="N must be an integer >= 1, got 0"):
        wasserstein1(X, square, N=0)
