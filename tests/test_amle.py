"""Tests of the graph AMLE / infinity-harmonic extension (issue 3)."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lipconv.extension import absolutely_minimizing_extension, graph_infinity_laplacian, point_cloud_graph
from lipconv.extension import _amle


def _grid(m):
    t = np.linspace(0.0, 1.0, m)
    G = np.stack(np.meshgrid(t, t, indexing="ij"), axis=-1).reshape(-1, 2)
    boundary = np.flatnonzero((G == 0.0).any(axis=1) | (G == 1.0).any(axis=1))
    return G, boundary, t[1] - t[0]


def test_path_graph_gives_linear_interpolation():
    x = np.linspace(0.0, 1.0, 41)[:, None]
    res = absolutely_minimizing_extension(x, [0, 40], [1.0, 3.0], k=2, tol=1e-10)
    np.testing.assert_allclose(res.values, 1.0 + 2.0 * x[:, 0], rtol=0, atol=1e-8)
    assert res.converged and res.residual <= 1e-10


def test_linear_function_on_symmetric_grid_is_reproduced():
    """On a lattice with a symmetric stencil, linear functions satisfy Delta_inf u = 0 exactly."""
    G, bdy, h = _grid(21)
    f = 0.3 + 2.0 * G[:, 0] - 0.5 * G[:, 1]
    res = absolutely_minimizing_extension(G, bdy, f[bdy], graph="epsilon", radius=1.5 * h, tol=1e-10)
    np.testing.assert_allclose(res.values, f, rtol=0, atol=1e-7)


def test_certificate_is_the_infinity_laplacian_residual():
    rng = np.random.default_rng(0)
    X = rng.random((600, 2))
    known = np.arange(30)
    res = absolutely_minimizing_extension(X, known, np.sin(5 * X[known, 0]), k=8, tol=1e-7)
    indptr, indices, lengths = point_cloud_graph(X, k=8)
    free = np.setdiff1d(np.arange(600), known)
    lap = graph_infinity_laplacian(res.values, indptr, indices, lengths)[free]
    scale = np.ptp(np.sin(5 * X[known, 0])) / np.ptp(X, axis=0).max()
    assert res.converged
    np.testing.assert_allclose(np.abs(lap).max() / scale, res.residual, rtol=1e-12)
    assert res.residual <= 1e-7
    np.testing.assert_array_equal(res.values[known], np.sin(5 * X[known, 0]))


def test_cascadic_start_gives_the_same_solution():
    rng = np.random.default_rng(1)
    X = rng.random((2500, 2))
    known = np.arange(20)
    g = X[known, 0] ** 2 - X[known, 1]
    fine = absolutely_minimizing_extension(X, known, g, k=8, tol=1e-9, coarse_min=10_000)
    casc = absolutely_minimizing_extension(X, known, g, k=8, tol=1e-9, coarse_min=200)
    assert casc.levels > 1 and fine.levels == 1
    np.testing.assert_allclose(casc.values, fine.values, rtol=0, atol=1e-6)


def test_numpy_jacobi_fallback_matches_numba(monkeypatch):
    rng = np.random.default_rng(2)
    X = rng.random((300, 2))
    known = np.arange(10)
    g = rng.random(10)
    a = absolutely_minimizing_extension(X, known, g, k=6, tol=1e-9)
    monkeypatch.setattr(_amle, "_get_kernel", lambda: None)
    b = absolutely_minimizing_extension(X, known, g, k=6, tol=1e-9)
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-6)


def test_unit_weights_solve_the_unweighted_infinity_laplacian():
    """weights="unit": the residual max_j (u_j - u_i) + min_j (u_j - u_i) (constant kernel of
    Bungert-Calder-Roith) vanishes at the free nodes, and differs from the distance-weighted solution."""
    rng = np.random.default_rng(4)
    X = rng.random((800, 2))
    known = np.flatnonzero((X[:, 0] > 0.9) | (X[:, 1] > 0.9))
    g = X[known, 0] ** (4 / 3) - X[known, 1] ** (4 / 3)
    unit = absolutely_minimizing_extension(X, known, g, graph="epsilon", radius=0.15, weights="unit", tol=1e-9)
    dist = absolutely_minimizing_extension(X, known, g, graph="epsilon", radius=0.15, tol=1e-9)
    indptr, indices, lengths = point_cloud_graph(X, graph="epsilon", radius=0.15)
    free = np.setdiff1d(np.arange(800), known)
    lap = graph_infinity_laplacian(unit.values, indptr, indices, np.ones_like(lengths))[free]
    assert unit.converged and np.abs(lap).max() / np.ptp(g) == pytest.approx(unit.residual, rel=1e-12)
    assert unit.residual <= 1e-9
    assert np.abs(unit.values - dist.values).max() > 1e-3


def test_unit_and_distance_weights_agree_when_all_edges_are_equal():
    """On the 4-neighbour lattice every edge has the same length, so both schemes have one solution."""
    G, bdy, h = _grid(15)
    g = np.sin(3.0 * G[bdy, 0]) + G[bdy, 1]
    a = absolutely_minimizing_extension(G, bdy, g, graph="epsilon", radius=1.01 * h, weights="unit", tol=1e-10)
    b = absolutely_minimizing_extension(G, bdy, g, graph="epsilon", radius=1.01 * h, tol=1e-10)
    np.testing.assert_allclose(a.values, b.values, rtol=0, atol=1e-8)


@pytest.mark.slow
def test_agrees_with_graphlearning_amle():
    """graphlearning's weighted lip_iterate needs minutes at this tolerance (measured 384 s)."""
    gl = pytest.importorskip("graphlearning")
    import scipy.sparse as sp

    rng = np.random.default_rng(3)
    X = rng.random((400, 2))
    known = np.arange(12)
    g = np.cos(4 * X[known, 1])
    indptr, indices, lengths = point_cloud_graph(X, k=8)
    W = sp.csr_matrix((1.0 / lengths, indices, indptr), shape=(400, 400))
    theirs = gl.graph(W).amle(known, g, tol=1e-10, max_num_it=1e6, weighted=True)
    ours = absolutely_minimizing_extension(X, known, g, k=8, tol=1e-10)
    np.testing.assert_allclose(ours.values, theirs, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(known_index=[], known_values=[]), "known_index must be a non-empty"),
        (dict(known_index=[0, 0], known_values=[1.0, 2.0]), "known_index must hold distinct"),
        (dict(known_index=[0, 99], known_values=[1.0, 2.0]), "known_index must hold distinct"),
        (dict(known_index=[0], known_values=[1.0, 2.0]), "known_values must be finite"),
        (dict(known_index=[0], known_values=[1.0], graph="full"), "graph must be one of"),
        (dict(known_index=[0], known_values=[1.0], graph="epsilon"), "radius must be given"),
        (dict(known_index=[0], known_values=[1.0], weights="kernel"), "weights must be 'distance' or 'unit'"),
    ],
)
def test_bad_input_raises(kwargs, match):
    X = np.random.default_rng(0).random((10, 2))
    with pytest.raises(ValueError, match=match):
        absolutely_minimizing_extension(X, **kwargs)


@given(seed=st.integers(0, 10_000), m=st.integers(1, 8))
def test_property_maximum_principle(seed, m):
    """Property: the graph AMLE obeys the maximum principle, min g <= u <= max g (comparison principle
    of Crandall-Evans-Gariepy, discrete form of Oberman 2005)."""
    rng = np.random.default_rng(seed)
    X = rng.random((80, 2))
    g = rng.standard_normal(m)
    res = absolutely_minimizing_extension(X, np.arange(m), g, k=6, tol=1e-8)
    assert res.values.min() >= g.min() - 1e-12 and res.values.max() <= g.max() + 1e-12
