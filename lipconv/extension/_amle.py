r"""Absolutely minimizing Lipschitz extension (AMLE) on a point-cloud graph.

On a graph with edge lengths :math:`d_{ij}` the AMLE (the infinity-harmonic extension of Oberman 2005,
cited by seed 001; continuum theory in Crandall-Evans-Gariepy 2001) of values :math:`g` on the known
nodes solves

.. math::

    \Delta_\infty u(x_i) := \max_{j \sim i} \frac{u_j - u_i}{d_{ij}} + \min_{j \sim i} \frac{u_j - u_i}{d_{ij}} = 0
    \quad \text{at every unknown node}, \qquad u = g \ \text{on the known nodes},

i.e. at each unknown node the steepest ascent equals the steepest descent. The solution is unique on a
connected graph; on a random geometric graph it converges to the continuum AMLE (Bungert, Calder,
Roith, IMA J. Numer. Anal. 2022).

We solve it by Oberman's monotone local update: :math:`u_i` is set to the minimizer of the local
Lipschitz constant :math:`\max_j |u_j - t| / d_{ij}`, namely :math:`t = (d_{ib} u_a + d_{ia} u_b) /
(d_{ia} + d_{ib})` for the neighbour pair (a, b) maximizing :math:`(u_a - u_b) / (d_{ia} + d_{ib})`,
swept Gauss-Seidel style (numba; a vectorized Jacobi sweep when numba is missing); with unit edge
lengths (``weights="unit"``, the constant kernel of Bungert-Calder-Roith) it is the mid-range
:math:`(\max_j u_j + \min_j u_j) / 2`, O(degree) instead of O(degree^2) per node. The update is
monotone and its fixed points are exactly the solutions, so the iteration converges; it is slow on
large graphs (information crosses the graph one hop per sweep), which we offset by a cascadic start:
the problem is first solved on a nested random subsample (with the same known nodes), and its values
seed the finer graph. The returned certificate is the residual :math:`\max_i |\Delta_\infty u(x_i)|`
over unknown nodes, relative to the slope scale :math:`\operatorname{ptp}(g) / \operatorname{diam}(X)`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .._validation import check_int, check_norm, check_points, check_positive

__all__ = ["absolutely_minimizing_extension", "AMLEResult", "graph_infinity_laplacian", "point_cloud_graph"]

GRAPHS = ("knn", "epsilon")


@dataclass(frozen=True)
class AMLEResult:
    """Outcome of :func:`absolutely_minimizing_extension`.

    Attributes
    ----------
    values : ndarray, shape (n,)
        The extension (equal to the known values on the known nodes).
    residual : float
        :math:`\\max |\\Delta_\\infty u|` over unknown nodes, divided by the slope scale
        ``ptp(known_values) / diam(X)`` (by ``ptp(known_values)`` for unit weights): the convergence
        certificate.
    iterations : int
        Sweeps on the finest graph.
    converged : bool
        ``residual <= tol``.
    graph : str
    k : int or None
    radius : float or None
    n_edges : int
        Undirected edges of the finest graph.
    solve_time : float
        Seconds (graph construction included).
    levels : int
        Number of cascadic levels (1 = no coarse start).
    """

    values: np.ndarray
    residual: float
    iterations: int
    converged: bool
    graph: str
    k: int | None
    radius: float | None
    n_edges: int
    solve_time: float
    levels: int


def point_cloud_graph(X: np.ndarray, *, graph: str = "knn", k: int = 10, radius: float | None = None, p: float = 2.0):
    """Symmetric graph on the rows of X as CSR arrays ``(indptr, indices, lengths)``.

    ``"knn"``: i ~ j when either is among the other's k nearest neighbours (p-norm); ``"epsilon"``:
    i ~ j when ``||x_i - x_j||_p <= radius``. Zero-length edges (duplicate points) are dropped.
    """
    n = X.shape[0]
    tree = cKDTree(X)
    if graph == "knn":
        kk = min(k, n - 1)
        _, nb = tree.query(X, k=kk + 1, p=p)
        a = np.repeat(np.arange(n), kk + 1)
        b = nb.reshape(-1)
    else:
        pairs = tree.query_pairs(radius, p=p, output_type="ndarray")
        a, b = pairs[:, 0], pairs[:, 1]
    a, b = np.concatenate([a, b]), np.concatenate([b, a])
    keep = a != b
    key = np.unique(a[keep].astype(np.int64) * n + b[keep])
    a, b = key // n, key % n
    diff = X[a] - X[b]
    length = np.abs(diff).sum(1) if p == 1.0 else (np.sqrt((diff * diff).sum(1)) if p == 2.0 else np.abs(diff).max(1))
    pos = length > 0
    a, b, length = a[pos], b[pos], length[pos]
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.add.at(indptr, a + 1, 1)
    return np.cumsum(indptr), b.astype(np.int64), length


def graph_infinity_laplacian(u: np.ndarray, indptr: np.ndarray, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    r""":math:`\Delta_\infty u(x_i) = \max_j (u_j - u_i)/d_{ij} + \min_j (u_j - u_i)/d_{ij}` per node
    (0 at isolated nodes)."""
    n = len(indptr) - 1
    deg = np.diff(indptr)
    rows = np.repeat(np.arange(n), deg)
    slope = (u[indices] - u[rows]) / lengths
    out = np.zeros(n)
    has = deg > 0
    starts = indptr[:-1][has]
    out[has] = np.maximum.reduceat(slope, starts) + np.minimum.reduceat(slope, starts)
    return out


def _local_solution_numpy(u, indptr, indices, lengths, free):
    """Jacobi update of every free node (vectorized over nodes, padded neighbour lists)."""
    deg = np.diff(indptr)[free]
    D = int(deg.max())
    cols = np.arange(D)
    valid = cols[None, :] < deg[:, None]
    pos = np.minimum(indptr[free][:, None] + cols[None, :], len(indices) - 1)
    V = np.where(valid, u[indices[pos]], np.nan)
    W = np.where(valid, lengths[pos], np.nan)
    score = (V[:, :, None] - V[:, None, :]) / (W[:, :, None] + W[:, None, :])
    score = np.where(np.isnan(score), -np.inf, score)
    flat = score.reshape(len(free), -1).argmax(1)
    a, b = np.divmod(flat, D)
    r = np.arange(len(free))
    da, db = W[r, a], W[r, b]
    return (db * V[r, a] + da * V[r, b]) / (da + db)


def _check_reachable(indptr, indices, known, graph, k, radius) -> None:
    r"""Raise ``ValueError`` unless every node has a path to a known node.

    On a component without a known node :math:`\Delta_\infty u = 0` holds for every constant (an
    isolated node has no neighbours, so its residual is 0 whatever its value): the extension is not
    determined there, and the solver would report convergence at its starting value.
    """
    n = len(indptr) - 1
    adjacency = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n, n))
    _, component = connected_components(adjacency, directed=False)
    stranded = int(np.sum(~np.isin(component, component[known])))
    if stranded:
        name, value = ("k", k) if graph == "knn" else ("radius", radius)
        raise ValueError(
            f"{name} must make the {graph} graph connect every unlabelled node to a labelled node, got "
            f"{name} = {value}: {stranded} of {n - len(known)} unlabelled nodes have no path to a labelled node, "
            f"so the extension is not determined there (increase {name}, or label a node in each component)"
        )


def _solve_level(u, indptr, indices, lengths, free, tol_abs, max_iter, kernel, check_every, unit=False):
    it = 0
    res = np.inf
    while it < max_iter:
        steps = min(check_every, max_iter - it)
        if kernel is not None:
            kernel(u, indptr, indices, lengths, free, steps, unit)
        else:
            for _ in range(steps):
                u[free] = _local_solution_numpy(u, indptr, indices, lengths, free)
        it += steps
        res = float(np.abs(graph_infinity_laplacian(u, indptr, indices, lengths)[free]).max(initial=0.0))
        if res <= tol_abs:
            break
    return it, res


def _get_kernel():
    try:
        from ._amle_numba import gauss_seidel
    except ImportError:
        return None
    return gauss_seidel


def absolutely_minimizing_extension(
    X, known_index, known_values, *, graph: str = "knn", k: int = 10, radius: float | None = None,
    p=2, weights: str = "distance", tol: float = 1e-6, max_iter: int = 200_000, coarse_min: int = 2_000,
    check_every: int = 20, seed=0,
) -> AMLEResult:
    r"""AMLE / infinity-harmonic extension of known values on a point-cloud graph (Oberman 2005).

    Solves :math:`\Delta_\infty u = 0` on the unknown nodes with :math:`u = g` on the known ones (module
    docstring), on the kNN or epsilon graph of X with edge lengths :math:`\|x_i - x_j\|_p`.

    Parameters
    ----------
    X : array_like, shape (n, d)
    known_index : array_like of int, shape (m,)
        Indices of the labelled nodes (distinct, at least one).
    known_values : array_like, shape (m,)
    graph : {"knn", "epsilon"}
        The graph must connect every unlabelled node to a labelled one (``ValueError`` otherwise:
        there the extension is not determined).
    k : int
        Neighbours of the kNN graph (symmetrized by union).
    radius : float, optional
        Radius of the epsilon graph (required for ``graph="epsilon"``).
    p : {1, 2, inf}
        Norm of the edge lengths.
    weights : {"distance", "unit"}
        "distance": the edge lengths :math:`d_{ij} = \|x_i - x_j\|_p` above (Oberman's scheme;
        O(degree^2) per local update). "unit": every edge has length 1, i.e. the graph infinity
        Laplacian :math:`\max_{j \sim i} (u_j - u_i) + \min_{j \sim i} (u_j - u_i)` with the constant
        kernel of Bungert-Calder-Roith (2022), whose local update is the mid-range of the neighbours
        (O(degree)).
    tol : float
        Stop when the relative residual (see :class:`AMLEResult`) is <= tol.
    max_iter : int
        Maximum number of sweeps on the finest graph.
    coarse_min : int
        Cascadic start: when more than ``4 coarse_min`` nodes are unknown, first solve on a random
        quarter of the unknown nodes (recursively; the kNN graph keeps k, the epsilon graph doubles
        the radius) and start from its values (nearest coarse node).
    check_every : int
        Sweeps between residual evaluations.
    seed : int or Generator
        Seed of the coarse subsamples.

    Returns
    -------
    AMLEResult
        Values and the residual certificate; ``converged`` is False when ``max_iter`` was reached.
    """
    t0 = time.perf_counter()
    X = check_points(X, "X", min_rows=2)
    n = X.shape[0]
    idx = np.asarray(known_index)
    if idx.ndim != 1 or idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
        raise ValueError(f"known_index must be a non-empty 1-D integer array, got {np.asarray(known_index)!r:.80}")
    if idx.min() < 0 or idx.max() >= n or len(np.unique(idx)) != len(idx):
        raise ValueError(f"known_index must hold distinct indices in [0, {n}), got min {idx.min()} max {idx.max()}")
    if np.iscomplexobj(known_values):
        raise ValueError(f"known_values must be real, got {np.asarray(known_values).dtype}")
    g = np.asarray(known_values, dtype=float)
    if g.shape != idx.shape or not np.all(np.isfinite(g)):
        raise ValueError(f"known_values must be finite with shape {idx.shape}, got {g.shape}")
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    k = check_int(k, "k", minimum=1)
    if graph == "epsilon":
        if radius is None:
            raise ValueError("radius must be given (> 0) for graph 'epsilon', got None")
        radius = check_positive(radius, "radius")
    p = check_norm(p, "p")
    if weights not in ("distance", "unit"):
        raise ValueError(f"weights must be 'distance' or 'unit', got {weights!r}")
    unit = weights == "unit"
    tol = check_positive(tol, "tol")
    rng = np.random.default_rng(seed)

    diam = float(np.ptp(X, axis=0).max())
    scale = (float(np.ptp(g)) / diam) if diam > 0 and np.ptp(g) > 0 else 1.0
    if unit:  # the residual is then a difference of values, not a slope
        scale = float(np.ptp(g)) if np.ptp(g) > 0 else 1.0
    kernel = _get_kernel()

    def solve(Xl, idx_l, g_l, rad, finest):
        nl = Xl.shape[0]
        free = np.setdiff1d(np.arange(nl), idx_l)
        indptr, indices, lengths = point_cloud_graph(Xl, graph=graph, k=k, radius=rad, p=p)
        if finest:
            # A coarse level only seeds the start, so only the requested graph must be connected.
            _check_reachable(indptr, indices, idx_l, graph, k, rad)
        if len(free) > 4 * coarse_min:
            sub_free = rng.choice(free, size=len(free) // 4, replace=False)
            sub = np.concatenate([idx_l, sub_free])
            coarse_rad = None if rad is None else 2.0 * rad
            uc, _, _, levels = solve(Xl[sub], np.arange(len(idx_l)), g_l, coarse_rad, False)
            _, near = cKDTree(Xl[sub]).query(Xl[free], k=1, p=p)
            u = np.empty(nl)
            u[free] = uc[near]
        else:
            u = np.full(nl, float(np.mean(g_l)))
            levels = 0
        u[idx_l] = g_l
        if unit:
            lengths = np.ones_like(lengths)
        it, res = _solve_level(u, indptr, indices, lengths, free, tol * scale, max_iter, kernel, check_every, unit)
        return u, it, (res, len(indices) // 2), levels + 1

    u, it, (res, n_edges), levels = solve(X, idx, g, radius, True)
    rel = res / scale
    return AMLEResult(
        values=u, residual=rel, iterations=int(it), converged=bool(rel <= tol), graph=graph,
        k=k if graph == "knn" else None, radius=radius, n_edges=int(n_edges),
        solve_time=time.perf_counter() - t0, levels=levels,
    )
