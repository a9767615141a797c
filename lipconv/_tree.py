r"""The package's KD-tree and its additively weighted nearest-neighbour query.

One tree serves every all-pairs search over Lipschitz functions: the cutting plane's oracle and
certificate (:mod:`lipconv.solvers._oracle`), the McShane / Whitney envelopes
:math:`\min_j (u_j + L\,\|x - x_j\|)` and :math:`\max_j (u_j - L\,\|x - x_j\|)` at many points,
and the c-transform :math:`\min_i (g_i + \|x - x_i\|)` of semi-discrete optimal transport. The
search descends the tree best first and prunes a node when the lower bound
:math:`\min_{j \in \text{node}} u_j + L\, \mathrm{dist}(x, \text{box})` reaches the best value found;
the bound is safe in floating point (coordinate gaps are computed with the same monotone operations
as point differences). Written here rather than taken from scipy's cKDTree, which answers only
unweighted neighbour queries. The kernels are numba (:mod:`lipconv._tree_numba`), parallel over
query points.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_norm

__all__ = ["KDTree", "kd_split", "build_tree", "weighted_nearest", "NORM_CODE"]

NORM_CODE = {1.0: 0, 2.0: 1, np.inf: 2}


@dataclass(frozen=True)
class KDTree:
    """A KD-tree of X by recursive median cuts along the widest coordinate, as flat arrays.

    ``order`` permutes X to tree order; node ``v`` holds the points ``start[v]:end[v]`` (in tree
    order), children ``left[v]``, ``right[v]`` (-1 for a leaf), box ``lo[v]``, ``hi[v]``;
    children are numbered after their parent.
    """

    order: np.ndarray
    Xs: np.ndarray
    start: np.ndarray
    end: np.ndarray
    left: np.ndarray
    right: np.ndarray
    lo: np.ndarray
    hi: np.ndarray


def kd_split(X: np.ndarray, leaf_size: int) -> tuple[np.ndarray, ...]:
    """The KD splits of X (n, d): recursive median cuts along the widest coordinate down to leaves of
    at most ``leaf_size`` points. Returns ``(order, start, end, left, right)`` as in :class:`KDTree`
    (children numbered after their parent, -1 for a leaf). The one splitting rule of the package:
    the tree oracle's tree and the block oracle's blocks (its leaves) are the same partition."""
    n = X.shape[0]
    order = np.arange(n)
    start, end, left, right = [0], [n], [-1], [-1]
    queue = [0]
    while queue:
        node = queue.pop()
        s, e = start[node], end[node]
        if e - s <= leaf_size:
            continue
        idx = order[s:e]
        pts = X[idx]
        c = int(np.argmax(pts.max(axis=0) - pts.min(axis=0)))
        mid = (e - s) // 2
        order[s:e] = idx[np.argpartition(pts[:, c], mid)]
        for a, b in ((s, s + mid), (s + mid, e)):
            start.append(a)
            end.append(b)
            left.append(-1)
            right.append(-1)
        left[node], right[node] = len(start) - 2, len(start) - 1
        queue += [len(start) - 2, len(start) - 1]
    return (order, *(np.asarray(v, dtype=np.int64) for v in (start, end, left, right)))


def build_tree(X: np.ndarray, leaf_size: int = 32) -> KDTree:
    """:class:`KDTree` of X (n, d), leaves of at most ``leaf_size`` points (:func:`kd_split`)."""
    from ._tree_numba import tree_boxes

    order, *arrays = kd_split(X, leaf_size)
    Xs = np.ascontiguousarray(X[order])
    lo = np.empty((arrays[0].shape[0], X.shape[1]))
    hi = np.empty_like(lo)
    tree_boxes(Xs, *arrays, lo, hi)
    return KDTree(order, Xs, *arrays, lo, hi)


def weighted_nearest(tree: KDTree, u, L: float, queries, *, p: float = 2.0):
    r""":math:`\min_j (u_j + L\,\|x_q - x_j\|_p)` for every query point, and its arg min.

    Parameters
    ----------
    tree : KDTree
        :func:`build_tree` of the points :math:`x_j` (n, d).
    u : array_like, shape (n,)
        Values at the points, in their original order.
    L : float
        Weight of the distance (>= 0).
    queries : array_like, shape (q, d)
    p : {1, 2, inf}

    Returns
    -------
    values : ndarray, shape (q,)
    index : ndarray of int64, shape (q,)
        The minimizing point, in the original order.
    """
    from ._tree_numba import tree_umin, weighted_nearest_kernel

    p = check_norm(p, "p")
    us = np.ascontiguousarray(np.asarray(u, dtype=float)[tree.order])
    umin = np.empty(len(tree.start))
    tree_umin(us, tree.start, tree.end, tree.left, tree.right, umin)
    Xq = np.ascontiguousarray(queries, dtype=float)
    out = np.empty(Xq.shape[0])
    arg = np.empty(Xq.shape[0], dtype=np.int64)
    weighted_nearest_kernel(tree.Xs, us, tree.lo, tree.hi, tree.start, tree.end, tree.left, tree.right, umin,
                            float(L), NORM_CODE[p], Xq, out, arg)
    return out, tree.order[arg]
