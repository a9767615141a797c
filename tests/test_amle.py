"""Tests of the graph AMLE / infinity-harmonic extension (issue 3)."""
from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import shortest_path

from lipconv.extension import absolutely_minimizing_extension, graph_infinity_laplacian, point_cloud_graph
from lipconv.extension import _amle
from lipconv.extension import _amle_numba as kernels


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
    monkeypatch.setattr(_amle, "_get_sweeper", lambda: _amle._numpy_sweeper)
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
        (dict(known_index=[], known_values=[]), "known_index must have length >= 1, got 0"),
        (dict(known_index=[0, 0], known_values=[1.0, 2.0]), "known_index must hold distinct indices, got 1 repeated"),
        (dict(known_index=[0, 99], known_values=[1.0, 2.0]), r"known_index must hold indices in \[0, "),
        (dict(known_index=[0], known_values=[1.0, 2.0]), r"known_values must have shape \(1,\)"),
        (dict(known_index=[0], known_values=[1.0], graph="full"), "graph must be one of"),
        (dict(known_index=[0], known_values=[1.0], graph="epsilon"), "radius must be given"),
        (dict(known_index=[0], known_values=[1.0], weights="kernel"), "weights must be 'distance' or 'unit'"),
        (dict(known_index=[0], known_values=[1.0], local_solve="hull"), "local_solve must be one of"),
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


def _bcr_square(n, seed):
    """Bungert-Calder-Roith's square: labelled strips of width h at the top and right edges."""
    X = np.random.default_rng(seed).random((n, 2))
    h = 3.0 * np.sqrt(np.log(n) / n)
    known = np.flatnonzero((X[:, 0] > 1.0 - h) | (X[:, 1] > 1.0 - h))
    return X, known, X[known, 0] ** (4 / 3) - X[known, 1] ** (4 / 3), h


@given(seed=st.integers(0, 2**31 - 1), degree=st.integers(1, 40), ties=st.booleans())
def test_property_local_solves_agree(seed, degree, ties):
    """Property: Dinkelbach's iteration, the sorted-hull walk and the exhaustive pair search return the same
    minimizer t* of max_j |v_j - t| / d_j, and t* balances steepest ascent and descent,
    max_j (v_j - t*)/d_j + min_j (v_j - t*)/d_j = 0 (Oberman 2005's local AMLE update)."""
    rng = np.random.default_rng(seed)
    d = rng.integers(1, 4, degree) / 4.0 if ties else rng.uniform(0.05, 1.0, degree)
    v = np.round(rng.standard_normal(degree), 1) if ties else rng.standard_normal(degree)
    u, idx = np.append(v, 7.0), np.arange(degree)
    t_pairs = kernels.exhaustive_pair(u, idx, d, 0, degree)[0]
    t_dinkelbach = kernels.fractional_pair(u, idx, d, 0, degree, 64)[0]
    t_hull = kernels.fractional_pair(u, idx, d, 0, degree, 0)[0]  # no pass: straight to hull_pair
    np.testing.assert_allclose([t_dinkelbach, t_hull], [t_pairs, t_pairs], rtol=0, atol=1e-13 * (1 + np.abs(v).max()))
    slope = (v - t_pairs) / d
    assert abs(slope.max() + slope.min()) <= 1e-12 * (1 + np.abs(slope).max())


def test_local_solves_agree_at_epsilon_graph_degree():
    """Degree 240, as in the n = 4,096 BCR graph: the capped Dinkelbach pass count (3 + log2 240 = 10)
    still gives the exhaustive search's t*, and so does the hull walk."""
    rng = np.random.default_rng(5)
    for _ in range(50):
        d, v = rng.uniform(0.01, 0.14, 240), np.cumsum(rng.standard_normal(240)) * 0.01
        idx = np.arange(240)
        t_pairs, a, b = kernels.exhaustive_pair(v, idx, d, 0, 240)
        assert kernels.fractional_pair(v, idx, d, 0, 240, 10)[0] == pytest.approx(t_pairs, abs=1e-15)
        assert kernels.hull_pair(v, idx, d, 0, 240)[0] == pytest.approx(t_pairs, abs=1e-15)
        assert t_pairs == pytest.approx((d[b] * v[a] + d[a] * v[b]) / (d[a] + d[b]), abs=0)


def test_point_cloud_graph_matches_brute_force():
    rng = np.random.default_rng(6)
    X = rng.random((150, 2))
    Xdup = np.vstack([X, [[0.5, 0.5], [0.5, 0.5]]])  # a duplicate pair: no edge between them
    for P, kw in [(Xdup, dict(graph="epsilon", radius=0.12)), (X, dict(graph="knn", k=5))]:
        D = np.linalg.norm(P[:, None] - P[None], axis=2)
        if kw["graph"] == "knn":
            adjacency = np.zeros_like(D, dtype=bool)
            np.put_along_axis(adjacency, np.argsort(D, axis=1)[:, 1:6], True, axis=1)
            adjacency |= adjacency.T
        else:
            adjacency = (D <= 0.12) & (D > 0)
        indptr, indices, lengths = point_cloud_graph(P, **kw)
        rows = np.repeat(np.arange(len(P)), np.diff(indptr))
        got = np.zeros_like(adjacency)
        got[rows, indices] = True
        np.testing.assert_array_equal(got, adjacency)
        assert len(indices) == adjacency.sum()  # no edge listed twice
        np.testing.assert_allclose(lengths, D[rows, indices], rtol=1e-15, atol=0)


def test_graph_construction_without_numba(monkeypatch):
    """The numpy/scipy paths (taken when the numba kernels cannot be imported) build the same graph
    and make the same reachability verdict."""
    X = np.vstack([np.random.default_rng(9).random((120, 2)), [[5.0, 5.0], [5.0, 5.0]]])
    built = {}
    for label, kernels_module in [("numba", kernels), ("numpy", None)]:
        monkeypatch.setitem(sys.modules, "lipconv.extension._amle_numba", kernels_module)
        indptr, indices, lengths = point_cloud_graph(X, graph="epsilon", radius=0.15)
        rows = np.repeat(np.arange(len(X)), np.diff(indptr))
        order = np.lexsort((indices, rows))
        built[label] = indptr, indices[order], lengths[order]
        with pytest.raises(ValueError, match="2 of 121 unlabelled nodes have no path"):
            _amle._check_reachable(indptr, indices, np.array([0]), "epsilon", 10, 0.15)
    for a, b in zip(built["numba"], built["numpy"]):
        np.testing.assert_array_equal(a, b)


def test_newton_step_is_the_fixed_point_of_the_pairs():
    """With each node's maximizing pair (a, b) held fixed, the step solves
    (1/d_a + 1/d_b) u_i = u_a / d_a + u_b / d_b at every free node (the sweep's update for that pair)."""
    rng = np.random.default_rng(7)
    X = rng.random((400, 2))
    known = np.arange(12)
    indptr, indices, lengths = point_cloud_graph(X, k=7)
    free = np.arange(12, 400)
    u = np.zeros(400)
    u[known] = rng.random(12)
    pair_a, pair_b = np.empty(388, dtype=np.int64), np.empty(388, dtype=np.int64)
    kernels.gauss_seidel(u, indptr, indices, lengths, free, 30, kernels.MODES["dinkelbach"], pair_a, pair_b, 0.0, 1.0)
    slot = np.full(400, -1)
    slot[free] = np.arange(388)
    trial = _amle._newton_step(u, indices, lengths, free, slot, pair_a, pair_b, False)
    wa, wb = 1.0 / lengths[pair_a], 1.0 / lengths[pair_b]
    np.testing.assert_allclose((wa + wb) * trial[free], wa * trial[indices[pair_a]] + wb * trial[indices[pair_b]],
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(trial[known], u[known])


def test_distance_weighted_options_give_one_solution():
    """The exhaustive pair search (the method before issue 14), Dinkelbach's update, with and without
    Newton steps: one solution, each with its certificate below tol."""
    rng = np.random.default_rng(8)
    X = rng.random((700, 2))
    known = np.flatnonzero((X[:, 0] > 0.9) | (X[:, 1] > 0.9))
    g = np.sin(3 * X[known, 0]) - X[known, 1]
    runs = [absolutely_minimizing_extension(X, known, g, graph="epsilon", radius=0.12, tol=1e-10, **kw)
            for kw in (dict(local_solve="pairs", newton=False), dict(newton=False), dict())]
    for r in runs:
        assert r.converged and r.residual <= 1e-10
    np.testing.assert_allclose(runs[1].values, runs[0].values, rtol=0, atol=1e-12)  # same sweeps, same t*
    np.testing.assert_allclose(runs[2].values, runs[0].values, rtol=0, atol=1e-8)
    assert runs[2].newton_steps > 0 and runs[2].iterations < runs[1].iterations / 2


def test_newton_steps_cut_the_sweeps_on_the_bcr_square():
    X, known, g, h = _bcr_square(3000, 0)
    kw = dict(graph="epsilon", radius=h, weights="unit", tol=1e-8, coarse_min=10_000, relax=1.0)
    plain = absolutely_minimizing_extension(X, known, g, newton=False, **kw)
    newton = absolutely_minimizing_extension(X, known, g, newton=True, **kw)
    assert plain.converged and newton.converged and newton.newton_steps > 0
    assert newton.iterations < plain.iterations / 3
    # Each stops at a residual <= tol ptp(g) (Newton's at 6e-17, the sweeps' at 8e-9 relative), so
    # they agree to the stability of the midrange scheme: a residual r moves u by about r times the
    # length of the tug-of-war game, at most (hops to the labels + 1)^2 (7^2 here). Measured: 5.8e-8
    # apart, against the old atol 1e-7 that the sweeps' stopping point alone could cross.
    indptr, indices, _ = point_cloud_graph(X, graph="epsilon", radius=h)
    adjacency = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(len(X), len(X)))
    hops = shortest_path(adjacency, unweighted=True, indices=known).min(axis=0).max()
    np.testing.assert_allclose(newton.values, plain.values, rtol=0, atol=1e-8 * np.ptp(g) * (hops + 1) ** 2)


def test_newton_steps_that_never_help_are_rejected(monkeypatch):
    """A "Newton step" that adds an error of the size of the residual: kept only when its residual after
    the following sweeps is lower, so the solve still converges to the certificate."""
    X, known, g, h = _bcr_square(1500, 1)
    indptr, indices, lengths = point_cloud_graph(X, graph="epsilon", radius=h)
    rng = np.random.default_rng(0)

    def harmful(u, indices_, lengths_, free, slot, pair_a, pair_b, unit):
        res = np.abs(graph_infinity_laplacian(u, indptr, indices, np.ones_like(lengths))[free]).max()
        trial = u.copy()
        trial[free] += 3.0 * res * rng.uniform(-1.0, 1.0, len(free))
        return trial

    monkeypatch.setattr(_amle, "_newton_step", harmful)
    res = absolutely_minimizing_extension(X, known, g, graph="epsilon", radius=h, weights="unit", tol=1e-7,
                                          coarse_min=10_000, max_iter=2_000, newton=True)
    assert res.converged and res.residual <= 1e-7


def test_over_relaxed_unit_sweeps_reach_the_same_extension_in_fewer_sweeps():
    """``relax`` (default 1.3 for unit weights): u_i += relax (midrange - u_i) has the same fixed points
    as the plain sweep, so both end at the same extension; measured 44 against 90 sweeps here (tol 1e-8,
    BCR square n = 3,000). Values agree within the stability allowance of the two residual certificates
    (tol ptp(g) times the squared hops, module docstring: here 2e-8 (H + 1)^2 with H <= 10)."""
    X, known, g, h = _bcr_square(3000, 0)
    kw = dict(graph="epsilon", radius=h, weights="unit", tol=1e-8, newton=False)
    plain = absolutely_minimizing_extension(X, known, g, relax=1.0, **kw)
    relaxed = absolutely_minimizing_extension(X, known, g, **kw)
    assert plain.converged and relaxed.converged
    assert relaxed.iterations < 0.7 * plain.iterations
    np.testing.assert_allclose(relaxed.values, plain.values, rtol=0, atol=2e-8 * 11**2)


@pytest.mark.parametrize("relax", [0.0, -1.0, 2.0, 2.5, float("nan"), "fast"])
def test_relax_outside_zero_two_is_rejected(relax):
    X, known, g, h = _bcr_square(200, 0)
    with pytest.raises(ValueError, match="relax must"):
        absolutely_minimizing_extension(X, known, g, graph="epsilon", radius=h, weights="unit", relax=relax)


def test_newton_must_be_a_bool_or_none():
    X, known, g, h = _bcr_square(200, 0)
    with pytest.raises(ValueError, match="newton must be True, False or None, got 'yes'"):
        absolutely_minimizing_extension(X, known, g, graph="epsilon", radius=h, weights="unit", newton="yes")


def test_agrees_with_graphlearning_unit_weights():
    """graphlearning (jwcalder/GraphLearning, ``graph.amle(weighted=False)``: Gauss-Seidel mid-range sweeps
    from u = 0 until the largest update is below tol) on the same unit-weight epsilon graph."""
    gl = pytest.importorskip("graphlearning")
    import scipy.sparse as sp

    X, known, g, h = _bcr_square(600, 2)
    indptr, indices, lengths = point_cloud_graph(X, graph="epsilon", radius=h)
    W = sp.csr_matrix((np.ones_like(lengths), indices, indptr), shape=(600, 600))
    theirs = gl.graph(W).amle(known, g, tol=1e-13, max_num_it=1e6, weighted=False)
    ours = absolutely_minimizing_extension(X, known, g, graph="epsilon", radius=h, weights="unit", tol=1e-13)
    np.testing.assert_allclose(ours.values, theirs, rtol=0, atol=1e-10)
