"""Tests of lipconv.manifolds: geometry of the embeddings, densities, quadratures, labels."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.spatial.distance import pdist

from lipconv.manifolds import (
    Circle, FlatCube, Sphere, Torus, corrupt_labels, onehot_label, ramp_label, smooth_label, step_label,
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
]
DENSITY_NAMES = ["uniform", "linear"]


def _distance_to_model(M, x):
    """Distance of model points to the model manifold (0 on it; <= 0 inside the cube)."""
    p = M.model(x)
    if isinstance(M, FlatCube):
        return np.max(np.abs(p), axis=1) - 1.0  # <= 0 inside the cube
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
                             (Circle(3, density=density), 1 / 2), (Torus(4, density=density), 1 / 2)]:
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
    for M in [Circle(4, seed=1), Sphere(4, seed=2), Torus(5, seed=3)]:
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
        (lambda: FlatCube(2, 2, density="gaussian"), "density must be one of"),
        (lambda: Circle(2).sample(0, 0), "n must be an integer >= 1, got 0"),
        (lambda: Circle(2).quadrature(1), "N must be an integer >= 2, got 1"),
        (lambda: Circle(2).sample(5, "abc"), "seed must be an int"),
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
