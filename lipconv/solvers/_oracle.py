r"""Exact, pruned, blocked search for violated Lipschitz constraints over ALL pairs.

For values :math:`u_1..u_n` (rows of U) at points :math:`x_1..x_n` and a constant :math:`L`, the
excess of a pair is

.. math:: e_{ij} = \|u_i - u_j\|_{p_y} - L\,\|x_i - x_j\|_{p_x},

and the pair constraint of [FCAO] eq. (2.7) (as the finite program of DESIGN.md) is violated iff
:math:`e_{ij} > 0`. One routine, :func:`scan_pairs`, serves both the cutting-plane oracle (the worst
few violated partners of every point) and the certificate :func:`~lipconv.solvers.violation_scan`
(the maximum excess over all pairs).

Pruning. The points are split into blocks by recursive median cuts along the widest coordinate (a
KD-tree partition with leaves of ``leaf_size`` points). For two blocks A, B with coordinate boxes
:math:`[a^-, a^+]`, :math:`[b^-, b^+]` in X and in Y,

.. math:: e_{ij} \le \bar e_{AB} = \big\|\max(b^+_Y - a^-_Y,\, a^+_Y - b^-_Y)\big\|_{p_y}
          - L\,\big\|\max(0,\, b^-_X - a^+_X,\, a^-_X - b^+_X)\big\|_{p_x}

for every :math:`i \in A, j \in B`, so a block pair with :math:`\bar e_{AB} \le \tau` (the threshold,
raised to the running maximum when only the maximum is wanted) holds no pair that matters. This is the
radius bound :math:`\|x_i - x_j\| < \|u_i - u_j\| / L` of the issue applied to whole blocks (a dual-tree
radius query); it is safe in floating point, because each coordinate gap is computed with the same
monotone operations as the point differences it bounds. Surviving block pairs are scanned densely.

Backends: a numba kernel (serial, bounded memory: O(n) plus the per-point lists), a pure numpy/scipy
path used when numba is missing (the same pruning, dense ``cdist`` on surviving blocks, at most
``block_bytes`` per temporary), and a torch path for a GPU (dense blocked scan, no pruning: on a GPU the
brute force is faster than the irregular pruned loop). All three return the same pairs up to ties.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.distance import cdist

from .._pairwise import DEFAULT_BLOCK_BYTES
from .._tree import KDTree, build_tree, kd_split

__all__ = ["ScanResult", "scan_pairs", "block_partition", "build_tree", "KDTree", "BACKENDS", "TREE_MIN_N"]

# From this many points on, the oracle of scalar outputs in the cutting plane and the forest method
# is the KD-tree's weighted nearest-neighbour search; below it the serial block search (the tree's
# parallel kernel cost 6.6 ms of CPU a scan at n = 500, mostly its threads' start-up).
TREE_MIN_N = 4096

BACKENDS = ("auto", "numba", "numpy", "torch")
_NORM_CODE = {1.0: 0, 2.0: 1, np.inf: 2}
_METRIC = {1.0: "cityblock", 2.0: "euclidean", np.inf: "chebyshev"}


@dataclass(frozen=True)
class ScanResult:
    """Outcome of :func:`scan_pairs`.

    Attributes
    ----------
    max_excess : float
        :math:`\\max(0, \\max_{i<j} e_{ij})` over ALL pairs (exact).
    i, j : ndarray of int64, shape (P,)
        Pairs ``i < j`` among the ``per_point`` worst partners of each point with excess above the
        threshold, sorted by decreasing excess (empty when ``per_point = 0``).
    excess : ndarray, shape (P,)
        Their excesses :math:`e_{ij}`.
    pruned_fraction : float
        Fraction of block pairs skipped by the bound (for scalar outputs on the numba path, of
        ordered pairs never evaluated).
    backend : str
    """

    max_excess: float
    i: np.ndarray
    j: np.ndarray
    excess: np.ndarray
    pruned_fraction: float
    backend: str


def block_partition(X: np.ndarray, leaf_size: int) -> tuple[np.ndarray, np.ndarray]:
    """KD-tree leaves: ``(order, starts)`` with block b = ``order[starts[b]:starts[b+1]]``.

    Recursive median cuts along the widest coordinate (:func:`lipconv._tree.kd_split`, the tree
    oracle's splits), so every block is spatially compact.
    """
    order, start, _, left, _ = kd_split(X, leaf_size)
    starts = np.append(np.sort(start[left < 0]), X.shape[0]).astype(np.int64)
    return order, starts


def _scan_weighted_nn(tree: KDTree, U: np.ndarray, L: float, p_x: float, threshold: float, m: int):
    """Scalar outputs on the numba path: the additively weighted nearest-neighbour search of
    :func:`~lipconv.solvers._oracle_numba.weighted_nn_kernel` (module docstring)."""
    from .._tree_numba import tree_umin
    from ._oracle_numba import weighted_nn_kernel

    u = np.ascontiguousarray(U[tree.order, 0])
    umin = np.empty(len(tree.start))
    tree_umin(u, tree.start, tree.end, tree.left, tree.right, umin)
    n = u.shape[0]
    scale = float(np.abs(u).max(initial=0.0)) + float(L) * float(np.max(tree.hi[0] - tree.lo[0], initial=0.0)) * 2.0
    margin = 16.0 * np.finfo(float).eps * max(scale, np.finfo(float).tiny)
    vmin = np.empty(n)
    vidx = np.empty(n, dtype=np.int64)
    evals = np.zeros(n, dtype=np.int64)
    best_val = np.full((n, max(m, 1)), -np.inf)
    best_idx = np.full((n, max(m, 1)), -1, dtype=np.int64)
    weighted_nn_kernel(tree.Xs, u, tree.lo, tree.hi, tree.start, tree.end, tree.left, tree.right, umin, float(L),
                       _NORM_CODE[p_x], float(threshold), int(m), margin, vmin, vidx, evals, best_val, best_idx)
    # Excess of the reported pairs with the dense definition |u_i - u_j| - L d_ij.
    ok = best_idx[:, :m] >= 0
    rows = np.repeat(np.arange(n), max(m, 1))[: n * m].reshape(n, m) if m > 0 else np.zeros((n, 0), dtype=np.int64)
    if m > 0:
        jj = np.where(ok, best_idx[:, :m], 0)
        d = _norm_rows(np.abs(tree.Xs[rows] - tree.Xs[jj]), p_x)
        ev = np.abs(u[rows] - u[jj]) - L * d
        best_val = np.where(ok & (ev > threshold), ev, -np.inf)
    worst = 0.0
    if n:
        i = int(np.argmax(u - vmin))
        j = int(vidx[i])
        if j >= 0:  # the maximum by the dense definition |u_i - u_j| - L d_ij, at the arg max pair
            d = _norm_rows(np.abs(tree.Xs[i] - tree.Xs[j])[None, :], p_x)[0]
            worst = float(abs(u[i] - u[j]) - L * d)
    pruned = 1.0 - float(evals.sum()) / max(1, n * (n - 1))  # pairs never evaluated
    return max(0.0, worst), best_val[:, :m], best_idx[:, :m], pruned


def _boxes(Z: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    lo = np.minimum.reduceat(Z, starts[:-1], axis=0)
    hi = np.maximum.reduceat(Z, starts[:-1], axis=0)
    return lo, hi


def _norm_rows(V: np.ndarray, p: float) -> np.ndarray:
    if p == 1.0:
        return V.sum(axis=-1)
    if p == 2.0:
        return np.sqrt((V * V).sum(axis=-1))
    return V.max(axis=-1)


def _block_bounds(a, xlo, xhi, ulo, uhi, L, p_x, p_y) -> np.ndarray:
    """Upper bounds of the excess between block a and every block (vectorized over blocks)."""
    gap = np.maximum(0.0, np.maximum(xlo - xhi[a], xlo[a] - xhi))
    span = np.maximum(uhi - ulo[a], uhi[a] - ulo)
    return _norm_rows(span, p_y) - L * _norm_rows(gap, p_x)


def _merge_top(vals, idx, new_vals, new_idx, m):
    """Row-wise top-m of the concatenation (largest first)."""
    V = np.concatenate([vals, new_vals], axis=1)
    I = np.concatenate([idx, new_idx], axis=1)
    if V.shape[1] > m:
        part = np.argpartition(-V, m - 1, axis=1)[:, :m]
        V = np.take_along_axis(V, part, axis=1)
        I = np.take_along_axis(I, part, axis=1)
    return V, I


def _scan_numpy(Xs, Us, starts, L, p_x, p_y, threshold, m, block_bytes, oriented=False):
    n = Xs.shape[0]
    xlo, xhi = _boxes(Xs, starts)
    ulo, uhi = _boxes(Us, starts)
    nb = len(starts) - 1
    worst = 0.0
    best_val = np.full((n, max(m, 1)), -np.inf)
    best_idx = np.full((n, max(m, 1)), -1, dtype=np.int64)
    pruned = 0
    for a in range(nb):
        s, e = starts[a], starts[a + 1]
        tau = threshold if m > 0 else max(threshold, worst)
        keep = np.flatnonzero(_block_bounds(a, xlo, xhi, ulo, uhi, L, p_x, p_y) > tau)
        pruned += nb - len(keep)
        if len(keep) == 0:
            continue
        cols = np.concatenate([np.arange(starts[b], starts[b + 1]) for b in keep])
        chunk = max(1, int(block_bytes // (8 * (e - s))))
        for c0 in range(0, len(cols), chunk):
            J = cols[c0:c0 + chunk]
            E = cdist(Us[s:e], Us[J], metric=_METRIC[p_y]) - L * cdist(Xs[s:e], Xs[J], metric=_METRIC[p_x])
            E[J[None, :] == np.arange(s, e)[:, None]] = -np.inf
            worst = max(worst, float(E.max(initial=0.0)))
            if m > 0:
                E[E <= threshold] = -np.inf
                if oriented:  # scalar outputs: row i keeps the partners below it (u_j <= u_i)
                    E[Us[s:e, 0][:, None] < Us[J, 0][None, :]] = -np.inf
                best_val[s:e], best_idx[s:e] = _merge_top(
                    best_val[s:e], best_idx[s:e], E, np.broadcast_to(J, E.shape), m
                )
    return worst, best_val[:, :m], best_idx[:, :m], pruned / max(1, nb * nb)


def _get_numba_kernel():
    """The numba scan kernel (compiled on first use, cached on disk); None without numba."""
    try:
        from ._oracle_numba import scan_kernel
    except ImportError:
        return None
    return scan_kernel


def _scan_numba(kernel, Xs, Us, starts, L, p_x, p_y, threshold, m):
    n = Xs.shape[0]
    xlo, xhi = _boxes(Xs, starts)
    ulo, uhi = _boxes(Us, starts)
    best_val = np.full((n, max(m, 1)), -np.inf)
    best_idx = np.full((n, max(m, 1)), -1, dtype=np.int64)
    worst, pruned = kernel(
        Xs, Us, starts, xlo, xhi, ulo, uhi, float(L), _NORM_CODE[p_x], _NORM_CODE[p_y],
        float(threshold), int(m), best_val, best_idx,
    )
    nb = len(starts) - 1
    # The kernel visits nb (nb + 1) / 2 unordered block pairs; report the fraction of those.
    return float(worst), best_val[:, :m], best_idx[:, :m], pruned / max(1, nb * (nb + 1) // 2)


def _torch_norm(D, p):
    if p == 1.0:
        return D.abs().sum(-1)
    if p == 2.0:
        return D.pow(2).sum(-1).sqrt()
    return D.abs().amax(-1)


def _scan_torch(X, U, L, p_x, p_y, threshold, m, block_bytes, device, oriented=False):
    import torch

    n = X.shape[0]
    Xt = torch.as_tensor(X, dtype=torch.float64, device=device)
    Ut = torch.as_tensor(U, dtype=torch.float64, device=device)
    width = max(X.shape[1], U.shape[1])
    rows = max(1, int(block_bytes // (8 * n * width)))
    worst = 0.0
    best_val = np.full((n, max(m, 1)), -np.inf)
    best_idx = np.full((n, max(m, 1)), -1, dtype=np.int64)
    ar = torch.arange(n, device=device)
    for s in range(0, n, rows):
        e = min(n, s + rows)
        # Explicit differences (not torch.cdist) so the arithmetic matches the CPU kernels.
        E = _torch_norm(Ut[s:e, None, :] - Ut[None, :, :], p_y) - L * _torch_norm(Xt[s:e, None, :] - Xt[None, :, :], p_x)
        E[ar[s:e, None] == ar[None, :]] = -torch.inf
        worst = max(worst, float(E.max().clamp(min=0.0)))
        if m > 0:
            E = torch.where(E > threshold, E, torch.full_like(E, -torch.inf))
            if oriented:  # scalar outputs: row i keeps the partners below it (u_j <= u_i)
                E = torch.where(Ut[s:e, :1] >= Ut[None, :, 0], E, torch.full_like(E, -torch.inf))
            v, ix = torch.topk(E, min(m, n), dim=1)
            best_val[s:e, : v.shape[1]] = v.cpu().numpy()
            best_idx[s:e, : v.shape[1]] = ix.cpu().numpy()
    return worst, best_val[:, :m], best_idx[:, :m], 0.0


def _collect(best_val, best_idx, order):
    """Unique pairs ``i < j`` (original indices) from the per-point lists, worst first."""
    ok = np.isfinite(best_val) & (best_idx >= 0)
    a = np.repeat(np.arange(best_val.shape[0]), best_val.shape[1])[ok.ravel()]
    b = best_idx.ravel()[ok.ravel()]
    v = best_val.ravel()[ok.ravel()]
    a, b = order[a], order[b]
    i, j = np.minimum(a, b), np.maximum(a, b)
    if len(i) == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros(0)
    key = i.astype(np.int64) * (int(order.shape[0]) + 1) + j
    _, first = np.unique(key, return_index=True)
    i, j, v = i[first], j[first], v[first]
    by = np.argsort(-v, kind="stable")
    return i[by].astype(np.int64), j[by].astype(np.int64), v[by]


def scan_pairs(
    X: np.ndarray, U: np.ndarray, L: float, *, p_x: float = 2.0, p_y: float = 2.0,
    per_point: int = 0, threshold: float = 0.0, leaf_size: int = 64, backend: str = "auto",
    block_bytes: int = DEFAULT_BLOCK_BYTES, tree: "KDTree | None" = None, blocks: bool = False,
) -> ScanResult:
    r"""Maximum excess over all pairs and, optionally, the worst violated partners of every point.

    .. math:: e^\star = \max\big(0, \max_{i<j} \|u_i - u_j\|_{p_y} - L\,\|x_i - x_j\|_{p_x}\big)

    computed exactly with the block pruning of the module docstring.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    U : ndarray, shape (n, k)
    L : float
        Lipschitz constant tested (>= 0).
    p_x, p_y : {1.0, 2.0, inf}
    per_point : int
        If > 0, also return, for each point, its ``per_point`` partners of largest excess among
        those with excess > ``threshold`` (absolute units), as unique pairs ``i < j``. For scalar
        outputs (k = 1) a point's partners are those below it (:math:`u_j \le u_i`): each pair is
        the worst of its upper end (the oriented cut :math:`u_i - u_j \le L d_{ij}`).
    threshold : float
        Absolute excess below which pairs are not reported (and blocks are pruned); for scalar
        outputs on the numba path it may be negative, to collect the near-tight pairs.
    leaf_size : int
        Block size of the KD partition.
    backend : {"auto", "numba", "numpy", "torch"}
        "auto": torch on a CUDA device when torch is already imported and sees one, else numba,
        else numpy. "torch" without a GPU runs on the CPU (used to test agreement).
    block_bytes : int
        Memory bound of the numpy and torch temporaries.
    tree : KDTree, optional
        :func:`build_tree` of X, reused across calls on the same points (scalar outputs, numba).
    blocks : bool
        Use the symmetric block-pair search for scalar outputs too (the method before the tree;
        kept for comparisons).

    Returns
    -------
    ScanResult
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    X = np.ascontiguousarray(X, dtype=float)
    U = np.ascontiguousarray(U, dtype=float)
    U = U[:, None] if U.ndim == 1 else U
    n = X.shape[0]
    m = int(per_point)
    threshold = float(threshold)
    if threshold < 0 and not (U.shape[1] == 1 and backend in ("auto", "numba")):
        threshold = 0.0
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return ScanResult(0.0, empty, empty, np.zeros(0), 1.0, "none")
    if backend == "auto":
        backend = _auto_backend()
    oriented = U.shape[1] == 1
    if backend == "torch":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
        worst, bv, bi, pf = _scan_torch(X, U, L, p_x, p_y, threshold, m, block_bytes, device, oriented)
        order = np.arange(n)
    elif oriented and not blocks and backend == "numba" and _get_numba_kernel() is not None:
        tree = build_tree(X, int(leaf_size)) if tree is None else tree
        # Searched at threshold min(0, threshold), so the maximum is exact whatever the threshold;
        # the lists are filtered to the threshold afterwards.
        worst, bv, bi, pf = _scan_weighted_nn(tree, U, L, p_x, min(0.0, threshold), m)
        if m > 0:
            bv = np.where(bv > threshold, bv, -np.inf)
        order = tree.order
    else:
        order, starts = block_partition(X, int(leaf_size))
        Xs, Us = np.ascontiguousarray(X[order]), np.ascontiguousarray(U[order])
        kernel = _get_numba_kernel() if backend == "numba" else None
        if backend == "numba" and kernel is None:
            raise ValueError("backend 'numba' needs numba installed, got ImportError")
        backend = "numba" if kernel is not None else "numpy"
        if kernel is not None:
            worst, bv, bi, pf = _scan_numba(kernel, Xs, Us, starts, L, p_x, p_y, threshold, m)
        else:
            worst, bv, bi, pf = _scan_numpy(Xs, Us, starts, L, p_x, p_y, threshold, m, block_bytes, oriented)
    if m > 0:
        i, j, v = _collect(bv, bi, order)
    else:
        i = j = np.zeros(0, dtype=np.int64)
        v = np.zeros(0)
    return ScanResult(max(0.0, worst), i, j, v, pf, backend)


def _auto_backend() -> str:
    """torch when it is already imported and sees a CUDA device (importing torch here would cost
    seconds on every first call), else numba, else numpy."""
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        return "torch"
    return "numba" if _get_numba_kernel() is not None else "numpy"
