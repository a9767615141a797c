r"""Absolutely minimizing Lipschitz extension (AMLE) on a point-cloud graph.

On a graph with edge lengths :math:`d_{ij}` the AMLE (the infinity-harmonic extension of Oberman 2005,
cited by [FOA]; continuum theory in Crandall-Evans-Gariepy 2001) of values :math:`g` on the known
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
swept Gauss-Seidel style (numba; a vectorized Jacobi sweep when numba is missing). The pair is found
by Dinkelbach's iteration on that ratio, O(degree) a pass and a few passes (O(degree log degree) at
worst, :mod:`._amle_numba`), where the exhaustive search over pairs cost O(degree^2); with unit edge
lengths (``weights="unit"``, the constant kernel of Bungert-Calder-Roith) it is the mid-range
:math:`(\max_j u_j + \min_j u_j) / 2`. The update is monotone and its fixed points are exactly the
solutions, so the iteration converges; it is slow on large graphs (information crosses the graph one
hop per sweep). Two accelerations: semismooth Newton steps, which solve the sparse linear system of
the sweep's fixed point with every node's maximizing pair held fixed (policy iteration of the
tug-of-war game) and are kept only when they lower the residual; and, for distance weights, a
cascadic start: the problem is first solved on a nested random subsample (with the same known
nodes), and its values seed the finer graph. For unit weights the sweeps are over-relaxed instead
(``relax``, 1.3: :math:`u_i \leftarrow u_i + 1.3\,(\text{mid-range} - u_i)`, the same fixed points),
which cut the sweeps more cheaply than Newton steps did. Measured on the unit BCR square (CPU
seconds of the solve without the graph, tol 1e-5, load 7-10, ``benchmarks/amle.py``): Newton steps
with plain sweeps 17.7 / 48 / 352 ms and 2.41 s at n = 2,000 / 4,096 / 16,384 / 65,536 (with the
graph), over-relaxed sweeps alone 15.3 / 38 / 298 ms and 2.43 s; relax 1.2 / 1.3 / 1.4 took 21 / 29 /
38 sweeps at n = 2,000, 34 / 29 / 48 at 4,096, 90 / 69 / 64 at 16,384, 188 / 153 / 122 at 65,536 (in
random order), and 1.5 was worse everywhere. Every solve runs with the points renumbered in the
order of a KD-tree's leaves and 32-bit neighbour indices, so that a sweep reads nearby memory: at
n = 65,536 a sweep took 10.2 ms against 28.8 ms before (graphlearning's C: 19-20 ms). The returned
certificate is the residual :math:`\max_i |\Delta_\infty u(x_i)|` over unknown nodes, relative to the
slope scale :math:`\operatorname{ptp}(g) / \operatorname{diam}(X)` (to ptp(g) for unit weights),
whatever path the iteration took.

**What the residual does and does not bound.** It is the defect of the equation at each node, not
the distance to its solution u*. The scheme is monotone, and a defect can move the values by much
more than itself: read as the tug-of-war game whose value u* is, a residual r is a running payoff of
up to r collected at every move, and a game from a node lasts of the order of the square of its hop
count H to the labels, so the values' error is of order r (H + 1)^2 (a heuristic allowance that the
tests use, tol ptp(g) (H + 1)^2; we do not prove it here). Measured on the unit BCR square, n =
65,536, H = 26: a solve to tol 1e-5 (residual 9.7e-6) is 5.5e-4 from a solve to tol 1e-10,
graphlearning's (residual 9.5e-6) 7.0e-4, and the two 5.4e-4 apart (1.3e-3 before the renumbering,
which changed our path to the same residual); the allowance is 1.5e-2. At n = 4,096 (H = 7): 1.5e-5,
8.9e-5 and 7.7e-5. So equal residuals do not mean equal values; to bound the values' error, solve to
a smaller tol (there, tol 1e-7 gave residual 9.6e-8 and an error of 7.6e-6 at n = 65,536).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csc_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.sparse.linalg import MatrixRankWarning, spsolve
from scipy.spatial import cKDTree

from .._validation import check_indices, check_int, check_norm, check_points, check_positive, check_real, check_rng

__all__ = ["absolutely_minimizing_extension", "AMLEResult", "graph_infinity_laplacian", "point_cloud_graph"]

GRAPHS = ("knn", "epsilon")
LOCAL_SOLVES = ("dinkelbach", "pairs")
# Over-relaxation of the unit-length (mid-range) sweeps (``relax``).
UNIT_RELAX = 1.3
# From this many points on, the solve runs with the points in a KD-tree's leaf order.
PERMUTE_MIN = 0
# A Newton step costs a sparse LU, 5-8 sweeps at n = 2,000-16,384, and the 4 sweeps that test it;
# convergence takes two or more steps.
NEWTON_WORTH = 24


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
    newton_steps : int
        Newton steps kept on the finest graph.
    graph_time : float
        Seconds of ``solve_time`` spent building the graphs (all levels).
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
    newton_steps: int = 0
    graph_time: float = 0.0


def point_cloud_graph(X: np.ndarray, *, graph: str = "knn", k: int = 10, radius: float | None = None, p: float = 2.0):
    """Symmetric graph on the rows of X as CSR arrays ``(indptr, indices, lengths)``.

    ``"knn"``: i ~ j when either is among the other's k nearest neighbours (p-norm); ``"epsilon"``:
    i ~ j when ``||x_i - x_j||_p <= radius``. Zero-length edges (duplicate points) are dropped.
    """
    X = check_points(X, "X")
    if graph not in GRAPHS:
        raise ValueError(f"graph must be one of {GRAPHS}, got {graph!r}")
    p = check_norm(p, "p")
    if graph == "knn":
        k = check_int(k, "k")
    else:
        radius = check_positive(radius, "radius") if radius is not None else None
        if radius is None:
            raise ValueError("radius must be given (> 0) for graph 'epsilon', got None")
    n = X.shape[0]
    tree = cKDTree(X)
    if graph == "knn":
        kk = min(k, n - 1)
        _, nb = tree.query(X, k=kk + 1, p=p)
        a = np.repeat(np.arange(n), kk + 1)
        b = nb.reshape(-1)
        lo, hi = np.minimum(a, b), np.maximum(a, b)
        keep = lo != hi
        # A sort and a neighbour comparison: np.unique was 10x slower here (numpy 2.4, 4e5 keys).
        key = np.sort(lo[keep].astype(np.int64) * n + hi[keep])
        key = key[np.diff(key, prepend=-1) != 0]
        a, b = key // n, key % n
    else:
        pairs = tree.query_pairs(radius, p=p, output_type="ndarray")
        a, b = pairs[:, 0], pairs[:, 1]
    return _csr_from_edges(X, a.astype(np.int64), b.astype(np.int64), p)


def _csr_from_edges(X, a, b, p):
    """CSR arrays of the symmetric graph whose undirected edges a[e] -- b[e] are each listed once;
    zero-length edges (duplicate points) are dropped."""
    try:
        from ._amle_numba import csr_from_edges
    except ImportError:
        diff = X[a] - X[b]
        length = np.abs(diff).sum(1) if p == 1.0 else np.sqrt((diff * diff).sum(1)) if p == 2.0 else np.abs(diff).max(1)
        a, b, length = a[length > 0], b[length > 0], length[length > 0]
        rows = np.concatenate([a, b])
        order = np.argsort(rows, kind="stable")
        indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=X.shape[0]))])
        return indptr, np.concatenate([b, a])[order], np.concatenate([length, length])[order]
    return csr_from_edges(X, a, b, p)


def graph_infinity_laplacian(u: np.ndarray, indptr: np.ndarray, indices: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    r""":math:`\Delta_\infty u(x_i) = \max_j (u_j - u_i)/d_{ij} + \min_j (u_j - u_i)/d_{ij}` per node
    (0 at isolated nodes), on the CSR graph ``(indptr, indices, lengths)`` of :func:`point_cloud_graph`."""
    u, indptr, indices, lengths = _check_graph(u, indptr, indices, lengths)
    return _infinity_laplacian(u, indptr, indices, lengths)


def _check_graph(u, indptr, indices, lengths):
    indptr = check_indices(indptr, "indptr", size=2**62, min_len=1)
    if indptr[0] != 0 or np.any(np.diff(indptr) < 0):
        raise ValueError(f"indptr must be non-decreasing offsets from 0 (CSR), got {indptr[:8].tolist()}...")
    n = indptr.size - 1
    u = check_real(u, "u")
    if u.shape != (n,):
        raise ValueError(f"u must have one value per node of the graph (indptr holds n + 1 = {n + 1} offsets), got "
                         f"shape {u.shape}")
    indices = check_indices(indices, "indices", size=n)
    lengths = check_real(lengths, "lengths")
    if indices.size != indptr[-1] or lengths.shape != indices.shape:
        raise ValueError(f"indices and lengths must hold indptr[-1] = {indptr[-1]} entries, got {indices.size} and "
                         f"{lengths.size}")
    if np.any(lengths <= 0):
        raise ValueError(f"lengths must be > 0, got {int(np.sum(lengths <= 0))} entries <= 0")
    return u, indptr, indices, lengths


def _infinity_laplacian(u, indptr, indices, lengths):
    n = len(indptr) - 1
    deg = np.diff(indptr)
    rows = np.repeat(np.arange(n), deg)
    slope = (u[indices] - u[rows]) / lengths
    out = np.zeros(n)
    has = deg > 0
    starts = indptr[:-1][has]
    out[has] = np.maximum.reduceat(slope, starts) + np.minimum.reduceat(slope, starts)
    return out


def _numpy_sweeper(indptr, indices, lengths, free, mode, relax=1.0):
    """Jacobi counterpart of the numba kernel (used when numba cannot be imported; ``relax`` is
    ignored: over-relaxed Jacobi steps are not the Gauss-Seidel ones measured).

    Dinkelbach's iteration of :func:`._amle_numba.fractional_pair`, vectorized over the free nodes on
    padded neighbour lists (O(n degree) memory); the exhaustive and hull searches exist only in numba.
    """
    deg = np.diff(indptr)[free]
    cols = np.arange(max(int(deg.max(initial=0)), 1))
    valid = cols[None, :] < deg[:, None]
    pos = np.where(valid, indptr[free][:, None] + cols[None, :], 0)
    D = np.where(valid, 1.0 if mode == "unit" else lengths[pos] if len(lengths) else 0.0, np.nan)
    rows = np.arange(len(free))
    isolated = deg == 0

    def sweep(u, sweeps, pair_a, pair_b, stop):
        estimate = np.inf
        for done in range(1, sweeps + 1):
            previous = estimate
            V = u[indices[pos]] if len(indices) else np.zeros(pos.shape)
            lam = np.zeros(len(free))
            while True:
                ia = np.argmax(np.where(valid, V - lam[:, None] * D, -np.inf), axis=1)
                ib = np.argmin(np.where(valid, V + lam[:, None] * D, np.inf), axis=1)
                da, db = D[rows, ia], D[rows, ib]
                with np.errstate(invalid="ignore"):
                    ratio = (V[rows, ia] - V[rows, ib]) / (da + db)
                better = ratio > lam
                if not better.any():
                    break
                lam = np.where(better, ratio, lam)
            with np.errstate(invalid="ignore"):
                t = (db * V[rows, ia] + da * V[rows, ib]) / (da + db)
                estimate = float(np.max(np.where(isolated, 0.0, (1 / da + 1 / db) * np.abs(t - u[free])), initial=0.0))
            u[free] = np.where(isolated, u[free], t)
            if estimate <= stop:
                break
        pair_a[:] = np.where(isolated, -1, pos[rows, ia])
        pair_b[:] = np.where(isolated, -1, pos[rows, ib])
        return done, estimate, previous

    def residual(u):
        lap = _infinity_laplacian(u, indptr, indices, np.ones_like(lengths) if mode == "unit" else lengths)
        return float(np.abs(lap[free]).max(initial=0.0))

    return sweep, residual


def _check_reachable(indptr, indices, known, graph, k, radius) -> None:
    r"""Raise ``ValueError`` unless every node has a path to a known node.

    On a component without a known node :math:`\Delta_\infty u = 0` holds for every constant (an
    isolated node has no neighbours, so its residual is 0 whatever its value): the extension is not
    determined there, and the solver would report convergence at its starting value.
    """
    n = len(indptr) - 1
    try:
        from ._amle_numba import reached_from
    except ImportError:
        adjacency = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n, n))
        _, component = connected_components(adjacency, directed=False)
        reached = np.isin(component, component[known])
    else:
        reached = reached_from(indptr, indices, np.asarray(known, dtype=np.int64))
    stranded = int(n - reached.sum())
    if stranded:
        name, value = ("k", k) if graph == "knn" else ("radius", radius)
        raise ValueError(
            f"{name} must make the {graph} graph connect every unlabelled node to a labelled node, got "
            f"{name} = {value}: {stranded} of {n - len(known)} unlabelled nodes have no path to a labelled node, "
            f"so the extension is not determined there (increase {name}, or label a node in each component)"
        )


def _numba_sweeper(indptr, indices, lengths, free, mode, relax=1.0):
    from ._amle_numba import MODES, gauss_seidel, residual

    code, unit = MODES[mode], mode == "unit"
    # 32-bit neighbour indices: a sweep reads each once, and at n = 65,536 (20M entries) it is
    # memory bound (28.8 -> 16.8 ms a sweep).
    if len(indptr) < 2**31:
        indices = indices.astype(np.int32)
    return (
        lambda u, sweeps, pair_a, pair_b, stop: gauss_seidel(
            u, indptr, indices, lengths, free, sweeps, code, pair_a, pair_b, stop, float(relax)),
        lambda u: residual(u, indptr, indices, lengths, free, unit),
    )


def _get_sweeper():
    try:
        import numba  # noqa: F401
    except ImportError:
        return _numpy_sweeper
    return _numba_sweeper


def _newton_step(u, indices, lengths, free, slot, pair_a, pair_b, unit):
    r"""Semismooth Newton step: solve :math:`(w_a + w_b) u_i = w_a u_a + w_b u_b` at every free node for
    its stored maximizing pair (a, b), :math:`w = 1/d` (1 for unit lengths); ``None`` if singular.

    This is the fixed point of the sweep with the pairs held fixed (policy iteration for the
    tug-of-war game): a sparse system with three entries a row, solved by SuperLU.
    """
    m = len(free)
    rows = np.arange(m)
    lone = pair_a < 0
    ea, eb = np.where(lone, 0, pair_a), np.where(lone, 0, pair_b)
    a, b = indices[ea], indices[eb]
    wa = np.where(lone, 0.0, 1.0 if unit else 1.0 / lengths[ea])
    wb = np.where(lone, 0.0, 1.0 if unit else 1.0 / lengths[eb])
    fa, fb = slot[a], slot[b]
    rhs = np.where(fa < 0, wa * u[a], 0.0) + np.where(fb < 0, wb * u[b], 0.0) + np.where(lone, u[free], 0.0)
    ka, kb = (fa >= 0) & ~lone, (fb >= 0) & ~lone
    A = csc_matrix(
        (np.concatenate([np.where(lone, 1.0, wa + wb), -wa[ka], -wb[kb]]),
         (np.concatenate([rows, rows[ka], rows[kb]]), np.concatenate([rows, fa[ka], fb[kb]]))),
        shape=(m, m),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MatrixRankWarning)
        try:
            x = spsolve(A, rhs)
        except RuntimeError:
            return None
    if not np.all(np.isfinite(x)):
        return None
    trial = u.copy()
    trial[free] = x
    return trial


def _sweeps_left(estimate, previous, tol_abs):
    """Sweeps still needed at the per-sweep contraction ``estimate / previous`` (inf if none)."""
    if not 0.0 < estimate < previous < np.inf:
        return np.inf if estimate > tol_abs else 0.0
    return float(np.log(tol_abs / estimate) / np.log(estimate / previous))


def _solve_level(u, indptr, indices, lengths, free, tol_abs, max_iter, mode, check_every, newton, sweeper, relax=1.0):
    """Sweep until the residual is <= tol_abs; returns (sweeps, residual, Newton steps kept).

    Sweeps run in blocks (``check_every``; 8 with ``newton``) that end early once the sweep's own
    estimate of the residual is <= tol_abs, and only then is the true residual computed. With
    ``newton``, a block after which the sweeps' contraction predicts more than ``NEWTON_WORTH``
    further sweeps is followed by a Newton step (:func:`_newton_step`) and 4 sweeps from it, kept
    when its residual is then below the current one (so the residual at the checks only
    decreases), and tried again at once while kept; from then on blocks are 4 sweeps. The 4 sweeps
    matter: a Newton step cuts the error 3-10x but raises the residual at the few nodes whose pair
    it got wrong (BCR square, n = 16,384), and they remove that. After a rejected step the next 1,
    2, 4, then 8 blocks sweep without trying one.
    """
    sweep, residual = sweeper(indptr, indices, lengths, free, mode, relax)
    # -1 (no pair) until a sweep stores them: a Newton step from no pairs is the identity, rejected.
    pair_a, pair_b = np.full(len(free), -1, dtype=np.int64), np.full(len(free), -1, dtype=np.int64)
    slot = np.full(len(u), -1, dtype=np.int64)
    slot[free] = np.arange(len(free))
    it, steps, wait, skip, res = 0, 0, 1, 0, np.inf
    block, estimate = (8 if newton else check_every), np.inf
    while it < max_iter:
        done, estimate, previous = sweep(u, min(block, max_iter - it), pair_a, pair_b, tol_abs)
        it += done
        worth = newton and (block == 4 or _sweeps_left(estimate, previous, tol_abs) > NEWTON_WORTH)
        if estimate > tol_abs and not worth and it < max_iter:
            continue
        res = residual(u)
        if res <= tol_abs:
            break
        if not worth or it >= max_iter:
            continue
        block = 4
        if skip:
            skip -= 1
            continue
        while res > tol_abs and it < max_iter:
            trial = _newton_step(u, indices, lengths, free, slot, pair_a, pair_b, mode == "unit")
            if trial is None:
                skip, wait = wait, min(2 * wait, 8)
                break
            it += sweep(trial, min(4, max_iter - it), pair_a, pair_b, 0.0)[0]
            res_trial = residual(trial)
            if res_trial >= res:
                skip, wait = wait, min(2 * wait, 8)
                break
            u[:], res, steps, wait = trial, res_trial, steps + 1, 1
        if res <= tol_abs:
            break
    return it, res, steps


def absolutely_minimizing_extension(
    X, known_index, known_values, *, graph: str = "knn", k: int = 10, radius: float | None = None,
    p=2, weights: str = "distance", tol: float = 1e-6, max_iter: int = 200_000, coarse_min: int | None = None,
    check_every: int = 32, local_solve: str = "dinkelbach", newton=None, seed=0, relax=None,
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
        "distance": the edge lengths :math:`d_{ij} = \|x_i - x_j\|_p` above (Oberman's scheme).
        "unit": every edge has length 1, i.e. the graph infinity Laplacian
        :math:`\max_{j \sim i} (u_j - u_i) + \min_{j \sim i} (u_j - u_i)` with the constant kernel of
        Bungert-Calder-Roith (2022), whose local update is the mid-range of the neighbours.
    tol : float
        Stop when the relative residual (see :class:`AMLEResult`) is <= tol.
    max_iter : int
        Maximum number of sweeps on the finest graph.
    coarse_min : int, optional
        Cascadic start: when more than ``4 coarse_min`` nodes are unknown, first solve on a random
        quarter of the unknown nodes (recursively; the kNN graph keeps k, the epsilon graph doubles
        the radius) and start from its values (nearest coarse node). Default: 250 for
        ``weights="distance"`` (it cuts the finest graph's sweeps 4-9x: kNN n = 2,000 and BCR square
        n = 4,096); none for "unit", where with Newton steps it saved no sweep (BCR square,
        n = 2,000 to 65,536) and cost its graphs.
    check_every : int
        Most sweeps between residual evaluations (every ``check_every`` sweeps when ``newton`` is
        False).
    local_solve : {"dinkelbach", "pairs"}
        Local update for ``weights="distance"``: "dinkelbach", exact in O(degree) per pass and a few
        passes (O(degree log degree) at worst, see :mod:`._amle_numba`); "pairs", the exhaustive
        search over neighbour pairs, O(degree^2) (the method before issue 14; same values).
    newton : bool, optional
        Interleave semismooth Newton steps (the sweep's fixed point with each node's maximizing pair
        held fixed, one sparse solve), each kept only when it lowers the residual. Default: True for
        ``weights="distance"``, False for "unit" (over-relaxed sweeps were as fast or faster, module
        docstring).
    seed : int or Generator
        Seed of the coarse subsamples.
    relax : float, optional
        Over-relaxation factor in (0, 2) of the unit-weight sweeps (numba path): each node moves
        ``relax`` times the way to its mid-range (same solution, fewer sweeps; module docstring).
        Default: 1.3 for ``weights="unit"``; the distance-weighted sweeps do not use it.

    Returns
    -------
    AMLEResult
        Values and the residual certificate; ``converged`` is False when ``max_iter`` was reached.
    """
    t0 = time.perf_counter()
    X = check_points(X, "X", min_rows=2)
    n = X.shape[0]
    idx = check_indices(known_index, "known_index", size=n, distinct=True, min_len=1)
    g = check_real(known_values, "known_values")
    if g.shape != idx.shape:
        raise ValueError(f"known_values must have shape {idx.shape} (one value per known index), got {g.shape}")
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
    if local_solve not in LOCAL_SOLVES:
        raise ValueError(f"local_solve must be one of {LOCAL_SOLVES}, got {local_solve!r}")
    unit = weights == "unit"
    mode = "unit" if unit else local_solve
    tol = check_positive(tol, "tol")
    max_iter = check_int(max_iter, "max_iter")
    if coarse_min is None:
        coarse_min = n if unit else 250
    coarse_min = check_int(coarse_min, "coarse_min")
    check_every = check_int(check_every, "check_every")
    if newton is None:
        newton = not unit
    if not isinstance(newton, (bool, np.bool_)):
        raise ValueError(f"newton must be True, False or None, got {newton!r}")
    if relax is None:
        relax = UNIT_RELAX if unit else 1.0
    relax = check_positive(relax, "relax")
    if not relax < 2.0:
        raise ValueError(f"relax must be in (0, 2), got {relax!r}")
    rng = check_rng(seed)

    diam = float(np.ptp(X, axis=0).max())
    scale = (float(np.ptp(g)) / diam) if diam > 0 and np.ptp(g) > 0 else 1.0
    if unit:  # the residual is then a difference of values, not a slope
        scale = float(np.ptp(g)) if np.ptp(g) > 0 else 1.0
    sweeper = _get_sweeper()
    graph_time = 0.0

    def solve(Xl, idx_l, g_l, rad, finest):
        nonlocal graph_time
        nl = Xl.shape[0]
        labelled = np.zeros(nl, dtype=bool)
        labelled[idx_l] = True
        free = np.flatnonzero(~labelled)
        tg = time.perf_counter()
        indptr, indices, lengths = point_cloud_graph(Xl, graph=graph, k=k, radius=rad, p=p)
        graph_time += time.perf_counter() - tg
        if finest:
            # A coarse level only seeds the start, so only the requested graph must be connected.
            _check_reachable(indptr, indices, idx_l, graph, k, rad)
        if len(free) > 4 * coarse_min:
            sub_free = np.sort(rng.choice(free, size=len(free) // 4, replace=False))  # sorted: KD order kept
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
        it, res, steps = _solve_level(
            u, indptr, indices, lengths, free, tol * scale, max_iter, mode, check_every, newton, sweeper, relax,
        )
        return u, it, (res, steps, len(indices) // 2), levels + 1

    # Solve with the points renumbered in the order of a KD-tree's leaves: a node's neighbours then
    # sit nearby in memory, which halved a sweep at n = 65,536 (unit BCR square: 16.8 -> 10.2 ms with
    # 32-bit neighbour indices, 28.8 ms before, graphlearning's C 19-20 ms). scipy's tree: building
    # it cost 0.3 ms at n = 2,000 where lipconv._tree.kd_split's Python loop cost 4 ms.
    perm = cKDTree(X, leafsize=32).indices.astype(np.int64) if n >= PERMUTE_MIN else np.arange(n)
    rank = np.empty(n, dtype=np.int64)
    rank[perm] = np.arange(n)
    u_perm, it, (res, steps, n_edges), levels = solve(X[perm], rank[idx], g, radius, True)
    u = np.empty(n)
    u[perm] = u_perm
    rel = res / scale
    return AMLEResult(
        values=u, residual=rel, iterations=int(it), converged=bool(rel <= tol), graph=graph,
        k=k if graph == "knn" else None, radius=radius, n_edges=int(n_edges),
        solve_time=time.perf_counter() - t0, levels=levels, newton_steps=int(steps), graph_time=graph_time,
    )
