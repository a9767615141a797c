"""Extensions (McShane, Whitney, midpoint, Kirszbraun) and discrete Lipschitz constants."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lipconv.extension import _mcshane
from lipconv.extension import (
    dataset_lipschitz_constant, extend, kirszbraun, lipschitz_constant, mcshane, midpoint, whitney,
)

_seeds = st.integers(min_value=0, max_value=2**31 - 1)
_norms = st.sampled_from([1, 2, np.inf])


@given(seed=_seeds, p=_norms, n=st.integers(min_value=2, max_value=25), d=st.integers(min_value=1, max_value=4))
def test_mcshane_whitney_properties(seed, p, n, d):
    """Property: McShane >= Whitney everywhere; both interpolate the data and keep the constant L.

    (McShane-Whitney extension theorem; the extremal L-Lipschitz extensions of scalar data.)
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, d))
    u = rng.uniform(-1, 1, size=n)
    L = lipschitz_constant(X, u, p_x=p)
    Q = rng.uniform(-0.2, 1.2, size=(30, d))
    up, lo, mid = (f(X, u, Q, p=p) for f in (mcshane, whitney, midpoint))
    assert np.all(up >= lo - 1e-12)
    np.testing.assert_allclose(mid, 0.5 * (up + lo), rtol=0, atol=1e-12)
    for f in (mcshane, whitney, midpoint):
        np.testing.assert_allclose(f(X, u, X, p=p), u, rtol=0, atol=1e-12)
    for vals in (up, lo, mid):
        L_ext = lipschitz_constant(np.vstack([X, Q]), np.concatenate([u, vals]), p_x=p)
        assert L_ext <= L * (1 + 1e-9) + 1e-12


def test_extremality_of_mcshane_whitney():
    """Any L-Lipschitz extension lies between Whitney and McShane: check with u itself known."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(50, 2))
    f = lambda Z: np.sin(2 * Z[:, 0]) + 0.5 * Z[:, 1]  # Lipschitz with constant <= sqrt(4 + 0.25)
    L = np.sqrt(4.25)
    Q = rng.uniform(size=(200, 2))
    assert np.all(f(Q) <= mcshane(X, f(X), Q, L=L) + 1e-12)
    assert np.all(f(Q) >= whitney(X, f(X), Q, L=L) - 1e-12)


@pytest.mark.parametrize("path", ["blocks", "tree"])
def test_blocking_bounds_memory(path, monkeypatch):
    """20,000 x 20,000 in the issue; here 3,000 x 3,000 queries x points: the peak memory of a call is
    O(block), not the 72 MB of the full distance matrix, on both paths (chosen here by TREE_MIN_PAIRS):
    the dense blocks hold D, L D and u + L D at once (3 MiB for a 1 MiB block, measured), the KD-tree
    O(n) (0.3 MiB)."""
    monkeypatch.setattr(_mcshane, "TREE_MIN_PAIRS", np.inf if path == "blocks" else 0)
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(3000, 5))
    Q = rng.uniform(size=(3000, 5))
    u = rng.uniform(size=3000)
    block = 2**20
    # A first call imports the tree module and loads numba's compiled kernels (30 MiB traced when this
    # test ran alone, nothing when another test had loaded them): measure a second call.
    mcshane(X, u, Q, L=1.0, block_bytes=block)
    tracemalloc.start()
    out = mcshane(X, u, Q, L=1.0, block_bytes=block)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 4 * block, f"peak {peak} bytes is not bounded by the block size ({block} bytes)"
    # Against one dense block: the blocks give it bit for bit (the same cdist rows, the same min); the
    # KD-tree sums each distance's squares in its own order, a few ulps of the distance apart.
    monkeypatch.setattr(_mcshane, "TREE_MIN_PAIRS", np.inf)
    atol = 0.0 if path == "blocks" else 8 * np.finfo(float).eps * (np.abs(u).max() + np.sqrt(5.0))
    np.testing.assert_allclose(out[:50], mcshane(X, u, Q[:50], L=1.0), rtol=0, atol=atol)


def test_kirszbraun_keeps_euclidean_constant():
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(40, 2))
    U = np.column_stack([np.sin(3 * X[:, 0]), np.cos(2 * X[:, 1]), X.sum(axis=1)])
    L = lipschitz_constant(X, U)
    Q = rng.uniform(size=(30, 2))
    V = kirszbraun(X, U, Q)
    np.testing.assert_allclose(kirszbraun(X, U, X[:5]), U[:5], atol=1e-6)
    L_all = lipschitz_constant(np.vstack([X, Q]), np.vstack([U, V]))
    assert L_all <= L * (1 + 1e-6)
    # Componentwise McShane keeps L only in the sup-norm on Y, and may exceed it in the 2-norm.
    W = extend(X, U, Q, L=L, kind="midpoint")
    assert lipschitz_constant(np.vstack([X, Q]), np.vstack([U, W]), p_y=np.inf) <= L * (1 + 1e-9)


def _far_binding_instance():
    """30 points within 0.05 of the origin (values on a slope 0.2, rotated), the origin itself, and one
    point at (1, 0) whose value (1, 0) makes the pair with the cluster the steepest. The query at (0.02, 0)
    has all 31 near points closer than the far one, yet the far one binds."""
    rng = np.random.default_rng(0)
    angle, radius = rng.uniform(np.pi / 2, 3 * np.pi / 2, 30), 0.05 * np.sqrt(rng.random(30))
    C = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X = np.vstack([[0.0, 0.0], C, [1.0, 0.0]])
    U = np.vstack([[0.0, 0.0], 0.2 * C[:, ::-1], [1.0, 0.0]])
    return X, U, np.array([[0.02, 0.0]]), 1.01 * lipschitz_constant(X, U)


def test_kirszbraun_far_point_binds():
    """Issue 15: the minimax point against all 32 points (reference: cvxpy with Clarabel) has the far point
    active, and the start set of the 16 nearest alone gives a value that violates it by 4e-3."""
    cp = pytest.importorskip("cvxpy")
    X, U, x, L = _far_binding_instance()
    c = L * np.linalg.norm(X - x, axis=1)
    v, t = cp.Variable(2), cp.Variable()
    tight = dict(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)
    cp.Problem(cp.Minimize(t), [cp.norm(v - U[i]) <= c[i] + t for i in range(len(X))]).solve(**tight)
    for queries in ("sequential", "independent"):
        V = kirszbraun(X, U, x, L=L, queries=queries)
        np.testing.assert_allclose(V[0], v.value, rtol=0, atol=1e-6)
        slack = np.linalg.norm(V[0] - U, axis=1) - c
        assert slack[-1] == pytest.approx(slack.max(), abs=1e-8) and slack.max() < 0
    near = np.argsort(c)[:16]
    assert len(X) - 1 not in near
    w, s = cp.Variable(2), cp.Variable()
    cp.Problem(cp.Minimize(s), [cp.norm(w - U[i]) <= c[i] + s for i in near]).solve(**tight)
    assert np.linalg.norm(w.value - U[-1]) - c[-1] > 4e-3


def _minimax_reference(P, V, c):
    """min_v max_i ||v - V_i|| - c_i with cvxpy (Clarabel at 1e-11): the definition, solved directly.

    Along the active constraints the objective grows only quadratically away from the minimax point, so
    a solver's gap tau leaves v about 0.05 sqrt(tau) off: measured 4.8e-7 at 1e-10 (half the tests'
    atol 1e-6), 1.5e-7 at 1e-11, 5e-8 at 1e-12 (kirszbraun's own setting; Clarabel then ends
    "optimal_inaccurate" on some queries)."""
    cp = pytest.importorskip("cvxpy")
    v, t = cp.Variable(V.shape[1]), cp.Variable()
    cp.Problem(cp.Minimize(t), [cp.norm(v - V[i]) <= c[i] + t for i in range(len(V))]).solve(
        solver=cp.CLARABEL, tol_gap_abs=1e-11, tol_gap_rel=1e-11, tol_feas=1e-11)
    return v.value


def test_kirszbraun_sequential_and_independent_queries():
    """"independent": each value is the minimax point against the data, which keeps L against the data
    only (the queries among themselves reach 1.12 L here). "sequential": each value is the minimax point
    against the data and the earlier queries' values (reference: that definition solved query by query
    with cvxpy), so data and queries together keep L."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 2))
    U = np.column_stack([np.sin(3 * X[:, 0]), np.cos(2 * X[:, 1]), X.sum(axis=1)])
    L = lipschitz_constant(X, U)
    Q = rng.uniform(size=(60, 2))
    independent = kirszbraun(X, U, Q, L=L, queries="independent")
    sequential = kirszbraun(X, U, Q, L=L)
    for V in (independent, sequential):
        slack = np.linalg.norm(V[:, None] - U[None], axis=2) - L * np.linalg.norm(Q[:, None] - X[None], axis=2)
        assert slack.max() <= 1e-9
    assert lipschitz_constant(np.vstack([X, Q]), np.vstack([U, sequential])) <= L * (1 + 1e-6)
    assert lipschitz_constant(np.vstack([X, Q]), np.vstack([U, independent])) > 1.1 * L
    for q in range(12):
        P, V = np.vstack([X, Q[:q]]), np.vstack([U, sequential[:q]])
        np.testing.assert_allclose(sequential[q], _minimax_reference(P, V, L * np.linalg.norm(P - Q[q], axis=1)),
                                   rtol=0, atol=1e-6)
        np.testing.assert_allclose(independent[q], _minimax_reference(X, U, L * np.linalg.norm(X - Q[q], axis=1)),
                                   rtol=0, atol=1e-6)
    spread = np.array([[0.1, 0.1], [0.9, 0.1], [0.1, 0.9], [0.9, 0.9]])  # far apart: nothing to re-solve
    np.testing.assert_array_equal(kirszbraun(X, U, spread, L=L), kirszbraun(X, U, spread, L=L, queries="independent"))


def test_kirszbraun_blocks_do_not_change_values():
    """One block-diagonal SOCP for many queries gives each query the value of its own SOCP."""
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(200, 3))
    U = np.column_stack([np.sin(2 * X[:, 0]), X[:, 1] * X[:, 2], np.cos(X.sum(axis=1))])
    Q = rng.uniform(size=(25, 3))
    one = kirszbraun(X, U, Q, queries="independent", batch=1)
    for batch in (7, 64):
        np.testing.assert_allclose(kirszbraun(X, U, Q, queries="independent", batch=batch), one, rtol=0, atol=1e-6)


def test_lipschitz_constant_duplicates():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    assert lipschitz_constant(X, [1.0, 1.0, 3.0]) == pytest.approx(2.0, rel=1e-12)
    with pytest.warns(RuntimeWarning, match="duplicate points"):
        assert lipschitz_constant(X, [1.0, 2.0, 3.0]) == np.inf


def test_dataset_lipschitz_constant():
    # Class 0 at the origin (twice, equal labels are fine); class 1 at (2, 2) and (3, 0).
    X = np.array([[0.0, 0.0], [0.0, 0.0], [2.0, 2.0], [3.0, 0.0]])
    labels = np.array([0, 0, 1, 1])
    assert dataset_lipschitz_constant(X, labels) == pytest.approx(1.0 / np.sqrt(8.0), rel=1e-12)
    assert dataset_lipschitz_constant(X, np.eye(2)[labels], p=np.inf) == pytest.approx(1.0 / 2.0, rel=1e-12)
    assert dataset_lipschitz_constant(X, labels, p=1) == pytest.approx(1.0 / 3.0, rel=1e-12)
    assert dataset_lipschitz_constant(X, np.zeros(4, dtype=int)) == 0.0
    with pytest.warns(RuntimeWarning, match="identical inputs"):
        assert dataset_lipschitz_constant(np.zeros((2, 2)), [0, 1]) == np.inf


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mcshane(np.eye(2), [0.0, 1.0], np.ones((1, 3))), "X_new must have d = 2 columns"),
        (lambda: mcshane(np.eye(2), [0.0, 1.0], np.ones((1, 2)), L=-1.0), "L must be finite and >= 0"),
        (lambda: whitney(np.eye(2), [0.0, np.nan], np.ones((1, 2))), "u must be finite"),
        (lambda: midpoint(np.eye(2), np.ones((2, 2)), np.ones((1, 2))), "u must be a vector"),
        (lambda: mcshane(np.eye(2), [0.0, 1.0], np.ones((1, 2)), p=0.5), "p must be one of 1, 2, inf"),
        (lambda: extend(np.eye(2), np.ones((2, 2)), np.ones((1, 2)), L=1.0, kind="nearest"), "kind must be one of"),
        (lambda: extend(np.eye(2), np.ones((2, 2)), np.ones((1, 2)), L=1.0, kind="kirszbraun", p_x=1.0),
         "kind 'kirszbraun' needs p_x = p_y = 2"),
        (lambda: kirszbraun(np.eye(2), np.ones((2, 2)), np.ones((1, 2)), L=1.0, queries="parallel"),
         "queries must be one of"),
        (lambda: dataset_lipschitz_constant(np.eye(3), [0, 1]), r"labels must have shape \(3,\)"),
        (lambda: lipschitz_constant(np.eye(3), [0.0, 1.0]), "u must have n = 3 rows"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
