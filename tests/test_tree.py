"""The package's KD-tree and its additively weighted nearest-neighbour query (lipconv._tree)."""
from __future__ import annotations

import numpy as np
import pytest

from lipconv._pairwise import pairwise_distances
from lipconv._tree import build_tree, weighted_nearest


@pytest.mark.parametrize("p", [1.0, 2.0, np.inf])
@pytest.mark.parametrize("d", [1, 2, 3])
def test_weighted_nearest_equals_the_dense_minimum(p, d):
    """min_j (u_j + L ||x_q - x_j||_p) and its arg min, against a dense evaluation; values spread
    over several orders of magnitude so that pruning by the node minima matters."""
    rng = np.random.default_rng(int(10 * d + p if np.isfinite(p) else 10 * d + 7))
    X = rng.random((900, d))
    u = rng.standard_normal(900) * 10.0 ** rng.uniform(-3, 1, 900)
    Q = rng.uniform(-0.2, 1.2, (300, d))
    tree = build_tree(X, 8)
    for L in (0.0, 0.3, 5.0):
        V = u[None, :] + L * pairwise_distances(Q, X, p=p)
        got, idx = weighted_nearest(tree, u, L, Q, p=p)
        np.testing.assert_array_equal(got, V.min(axis=1))
        np.testing.assert_array_equal(V[np.arange(300), idx], V.min(axis=1))


def test_tree_is_a_partition_into_compact_leaves():
    X = np.random.default_rng(1).random((1000, 2))
    tree = build_tree(X, 16)
    np.testing.assert_array_equal(np.sort(tree.order), np.arange(1000))
    leaves = tree.left < 0
    assert (tree.end - tree.start)[leaves].max() <= 16
    assert (tree.end - tree.start)[leaves].sum() == 1000
    assert np.all(tree.left[~leaves] > np.flatnonzero(~leaves))  # children after parents
    for node in range(len(tree.start)):  # boxes contain their points
        pts = tree.Xs[tree.start[node]:tree.end[node]]
        assert np.all(pts >= tree.lo[node]) and np.all(pts <= tree.hi[node])


@pytest.mark.parametrize("p", [1.0, 2.0, np.inf])
def test_extension_envelopes_agree_on_the_tree_and_dense_paths(p, monkeypatch):
    """McShane and Whitney extensions switch to the tree above a size; both paths give the same
    envelopes (and the tree path is taken: a broken tree search would make them differ)."""
    import lipconv.extension._mcshane as mc
    from lipconv.extension import mcshane, midpoint, whitney

    rng = np.random.default_rng(3)
    X = rng.random((700, 3))
    u = np.sin(5 * X[:, 0]) + X[:, 1]
    Q = rng.uniform(-0.1, 1.1, (400, 3))
    from lipconv.extension import lipschitz_constant

    L = 1.2 * lipschitz_constant(X, u, p_x=p)  # above the data's constant: the envelopes interpolate
    monkeypatch.setattr(mc, "TREE_MIN_PAIRS", 10**12)
    dense = [f(X, u, Q, L=L, p=p) for f in (mcshane, whitney, midpoint)]
    monkeypatch.setattr(mc, "TREE_MIN_PAIRS", 0)
    tree = [f(X, u, Q, L=L, p=p) for f in (mcshane, whitney, midpoint)]
    for a, b in zip(dense, tree):
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-14)
    assert np.all(tree[0] >= tree[1])
    np.testing.assert_allclose(mcshane(X, u, X[:50], L=L, p=p), u[:50], atol=1e-14)
