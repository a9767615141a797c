r"""The forest method: an exact dual active-set solver of [FCAO] eq. (2.7) for the squared loss
with scalar outputs.

The program

.. math::

    \min_{u \in \mathbb{R}^n,\, L \ge 0}\ \sum_i w_i (u_i - y_i)^2 + \lambda L
    \quad\text{s.t.}\quad u_a - u_b \le L\, d_{ab}\ \ \forall a \ne b

has, for points in general position, a *forest* of tight rows at its optimum: a row a -> b and a
row b -> c both tight would give :math:`u_a - u_c = L (d_{ab} + d_{bc}) > L d_{ac}`, so no point is
the lower end of one tight row and the upper end of another unless three points are collinear,
and a cycle of tight rows needs an equality between distances. On a tree T of rows held with
equality the values are :math:`u = c_T + L \psi` with the potential :math:`\psi_a - \psi_b =
d_{ab}` along its edges and :math:`c_T` the weighted mean of :math:`y - L\psi`; the multiplier
(the flow of the transport plan of the dual) of an edge is the residual mass
:math:`\sum 2 w_i (y_i - u_i)` of the side of its upper end. Both cost O(|T|).

**At a fixed L** the program is a strictly convex QP, solved by the dual active-set method of
Goldfarb and Idnani (Math. Programming 27, 1983) specialised to forests: start from a forest
whose flows are all >= 0 (each point alone, u = y, or a coarser level's forest after dropping its
negative-flow edges), and enforce each violated row (a, b) in turn. Sending flow s through it
moves a's tree down by s / (2 W_a) and b's tree up by s / (2 W_b) (W the trees' weights) and
changes each edge flow linearly; either the row becomes tight first (a full step: it joins the
forest, merging the two trees) or an edge flow reaches zero (a partial step: that edge leaves,
splitting its tree, and the row keeps its flow). A row inside one tree closes a cycle: its flow
returns along the tree path, the first edge whose flow reaches zero leaves, and the row is then
between two trees. Each step keeps every flow >= 0 and the values optimal for the rows held, so
the dual objective never decreases; the violated rows come from the exact all-pairs oracle
(:func:`~lipconv.solvers._oracle.scan_pairs`) in scans, each point's ``per_point`` worst
partners, together with the rows of earlier scans still within ``keep`` times the worst
violation of being tight, until a scan finds no row violated by more than the tolerance.

**L** is one scalar outside: with the forest held fixed, the objective is quadratic in L and its
minimizer is explicit (:func:`~._forest_numba.newton_L`, a Newton step on the piecewise-quadratic
convex function :math:`L \mapsto \min_u J`), safeguarded by the bracket that the sign of
:math:`\sum_e z_e d_e - \lambda` gives (its derivative). It stops when the step is below 1e-12
relative. The returned point is then feasible to the scan's tolerance over all pairs, its flows
are >= 0 and pay :math:`\sum_e z_e d_e = \lambda` up to rounding: the certificate of
:mod:`._certificate`, evaluated on these flows, is a duality gap at rounding level.

Why it is fast: every step touches two trees, not the whole program; no interior-point
factorization is formed. Why it is not everything: the trees of the optimum can be large (2-D,
FlatCube(2, 3), n = 20,000: the point-weighted mean size of a point's tree was 1,084, the largest
3,182 points), and each step walks its trees. Only the squared loss with scalar outputs and
positive weights has this structure; the other programs keep the interior-point rounds.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from .._tree import NORM_CODE
from ._oracle import TREE_MIN_N, build_tree, scan_pairs

__all__ = ["solve_forest", "ForestSolution", "forest_supported", "CONTRACTION"]

# Relative contraction of a fixed-L solution toward its mean (see the end of ``_solve_sorted``).
CONTRACTION = 1e-12


def forest_supported(loss, k: int, w: np.ndarray) -> bool:
    """Whether the forest method applies: squared loss, scalar outputs, every weight positive, numba."""
    if loss.name != "squared" or k != 1 or not np.all(w > 0):
        return False
    try:
        from . import _forest_numba  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class ForestSolution:
    """Outcome of :func:`solve_forest` (normalized units): values (n,), L, status ("optimal",
    "max_rounds" or "failed"), the alive edges ``a -> b`` with their flows ``z`` (the pair
    multipliers of :mod:`._certificate`), ``max_excess`` (the last scan's exact all-pairs maximum
    at the returned point; None at a fixed L, whose point is moved after it) and ``info``."""

    values: np.ndarray
    L: float
    status: str
    a: np.ndarray
    b: np.ndarray
    z: np.ndarray
    max_excess: float | None
    info: dict = field(default_factory=dict)


class _State:
    """The forest's arrays (:mod:`._forest_numba`) and the operations on them in Python."""

    def __init__(self, n: int, y: np.ndarray, cap: int):
        self.n = n
        self.ea = np.zeros(cap, dtype=np.int64)
        self.eb = np.zeros(cap, dtype=np.int64)
        self.ed = np.zeros(cap)
        self.alive = np.zeros(cap, dtype=bool)
        self.nxt = np.full(2 * cap, -1, dtype=np.int64)
        self.head = np.full(n, -1, dtype=np.int64)
        self.m = 0
        self.u = np.array(y, dtype=float)
        self.tid = np.arange(n, dtype=np.int64)
        self.labels = n
        self.stamp = 0
        self.order = np.zeros(n, dtype=np.int64)
        self.pos = np.zeros(n, dtype=np.int64)
        self.parent = np.zeros(n, dtype=np.int64)
        self.pedge = np.zeros(n, dtype=np.int64)
        self.psi = np.zeros(n)
        self.sr = np.zeros(n)
        self.sw = np.zeros(n)
        self.cnt = np.zeros(n, dtype=np.int64)
        self.mark = np.zeros(n, dtype=np.int64)
        self.stack = np.zeros(n, dtype=np.int64)

    def work(self):
        return (self.order, self.pos, self.parent, self.pedge, self.psi, self.sr, self.sw, self.cnt, self.mark)

    def edges(self):
        alive = self.alive[: self.m]
        return self.ea[: self.m][alive], self.eb[: self.m][alive], self.ed[: self.m][alive]

    def reset_edges(self, a, b, d, extra: int = 0):
        """Replace the edges (and rebuild the adjacency lists), with room for ``extra`` more."""
        k = len(a)
        if k + extra > len(self.ea):
            cap = max(2 * len(self.ea), k + extra)
            self.ea, self.eb = np.zeros(cap, dtype=np.int64), np.zeros(cap, dtype=np.int64)
            self.ed, self.alive = np.zeros(cap), np.zeros(cap, dtype=bool)
            self.nxt = np.full(2 * cap, -1, dtype=np.int64)
        self.ea[:k], self.eb[:k], self.ed[:k] = a, b, d
        self.alive[:] = False
        self.alive[:k] = True
        self.m = k
        self.head[:] = -1
        self.nxt[:] = -1
        nodes = np.empty(2 * k, dtype=np.int64)
        nodes[0::2], nodes[1::2] = a, b
        by = np.argsort(nodes, kind="stable")
        sn = nodes[by]
        first = np.ones(2 * k, dtype=bool)
        first[1:] = sn[1:] != sn[:-1]
        chained = np.ones(2 * k, dtype=bool)
        chained[:-1] = ~first[1:]
        chained[-1:] = False
        self.nxt[by[chained]] = by[np.flatnonzero(chained) + 1]
        self.head[sn[first]] = by[first]

    def compact(self, extra: int = 0):
        self.reset_edges(*(v.copy() for v in self.edges()), extra=extra)

    def roots(self) -> np.ndarray:
        return np.unique(self.tid, return_index=True)[1].astype(np.int64)


def solve_forest(
    X, y, w, lam, *, p_x, L0, viol_tol, per_point=3, keep=1.0, init=None, fixed_L=None, max_scans=500,
    max_outer=500, tree=None, bar=None, label="", max_sweeps=50, max_steps=100_000, scans_per_L=None,
) -> ForestSolution:
    r"""Solve the program of the module docstring (normalized units) by the forest method.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    y : ndarray, shape (n,)
    w : ndarray, shape (n,)
        Positive weights.
    lam : float
        Ignored with ``fixed_L``.
    p_x : {1.0, 2.0, inf}
    L0 : float
        Starting L (> 0); a coarser level's L makes the outer iteration short.
    viol_tol : float
        A row counts as violated when its excess exceeds this (absolute, normalized label units).
    per_point, keep : int, float
        Each scan's rows per point; rows of earlier scans are re-enforced while their excess is at
        least ``-keep`` times the scan's worst violation (0: only the scan's rows).
    init : tuple of ndarray (a, b), optional
        Oriented rows ``u_a - u_b <= L d`` to start the forest from (cycles are broken, then
        negative flows dropped).
    fixed_L : float, optional
        Solve at this L (no lambda term).
    max_scans, max_outer, max_sweeps, max_steps : int
        Caps of the scans in all, the L iterations, the re-enforcing sweeps per scan and the
        steps of one row.
    scans_per_L : int, optional
        Update L after at most this many scans (None: only once no row is violated at this L).
    tree : KDTree, optional
        The oracle's tree of X.
    bar : tqdm, optional
        Progress bar (updated once per scan).

    Returns
    -------
    ForestSolution
    """
    n = len(y)
    tree = build_tree(np.ascontiguousarray(X, dtype=float), 16) if tree is None else tree
    # Work in the tree's order: a tree of the forest is then a few runs of nearby indices, and its
    # walks stay in cache (in random order they did not: FlatCube(2, 3), n = 20,000, 80M nodes walked).
    perm = tree.order
    rank = np.empty(n, dtype=np.int64)
    rank[perm] = np.arange(n)
    if init is not None:
        init = (rank[np.asarray(init[0], dtype=np.int64)], rank[np.asarray(init[1], dtype=np.int64)])
    sol = _solve_sorted(tree.Xs, np.asarray(y, dtype=float)[perm], np.asarray(w, dtype=float)[perm], lam, p_x=p_x,
                        L0=L0, viol_tol=viol_tol, per_point=per_point, keep=keep, init=init, fixed_L=fixed_L,
                        max_scans=max_scans, max_outer=max_outer, tree=_identity_tree(tree), bar=bar, label=label,
                        max_sweeps=max_sweeps, max_steps=max_steps, scans_per_L=scans_per_L)
    values = np.empty(n)
    values[perm] = sol.values
    sol.values, sol.a, sol.b = values, perm[sol.a], perm[sol.b]
    return sol


def _identity_tree(tree):
    """The same tree for the points already in its order."""
    from dataclasses import replace

    return replace(tree, order=np.arange(len(tree.order), dtype=np.int64))


def _solve_sorted(X, y, w, lam, *, p_x, L0, viol_tol, per_point, keep, init, fixed_L, max_scans, max_outer, tree, bar,
                  label, max_sweeps, max_steps, scans_per_L) -> ForestSolution:
    """:func:`solve_forest` on points in the oracle tree's order."""
    from . import _forest_numba as fk

    X = np.ascontiguousarray(X, dtype=float)
    y = np.ascontiguousarray(y, dtype=float)
    w = np.ascontiguousarray(w, dtype=float)
    n = len(y)
    code = NORM_CODE[float(p_x)]
    blocks = n < TREE_MIN_N  # the serial block search below (as in the interior-point rounds)
    st = _State(n, y, cap=max(16, 2 * n))
    info = dict(engine="forest", scans=0, outer=0, oracle_time=0.0, process_time=0.0, L_per_outer=[],
                violation_per_round=[], pairs_per_round=[], drops=0, failures=0, sweeps=0)
    eps_flow = 1e-13 * float(w.sum())
    counts = np.zeros(5, dtype=np.int64)
    fixed = fixed_L is not None
    L = float(fixed_L) if fixed else float(L0)
    roots = np.arange(n, dtype=np.int64)
    if init is not None and len(init[0]):
        a, b = (np.asarray(v, dtype=np.int64) for v in init)
        ok = a != b
        a, b = a[ok], b[ok]
        st.reset_edges(a, b, _distances(X, a, b, p_x), extra=n)
        roots, used, st.stamp = fk.spanning(n, st.head, st.nxt, st.ea, st.eb, st.ed, st.alive, st.m, st.order, st.pos,
                                            st.parent, st.pedge, st.psi, st.mark, st.stamp, st.stack)
        st.alive[: st.m] &= used
        st.compact(extra=n)
    st.stamp, st.labels = fk.set_all(roots, w, y, L, st.u, st.tid, st.head, st.nxt, st.ea, st.eb, st.ed, st.alive,
                                     st.order, st.pos, st.parent, st.pedge, st.psi, st.mark, st.stamp, st.stack,
                                     st.labels)
    lo, hi = 0.0, np.inf
    status, worst = "max_rounds", np.inf
    ki = kj = np.zeros(0, dtype=np.int64)
    kd = np.zeros(0)
    for outer in range(max_outer if not fixed else 1):
        info["outer"] += 1
        info["L_per_outer"].append(L)
        st.stamp, st.labels, drops = fk.split_negative(
            st.roots(), w, y, L, st.u, st.tid, st.head, st.nxt, st.ea, st.eb, st.ed, st.alive, st.order, st.pos,
            st.parent, st.pedge, st.psi, st.sr, st.sw, st.cnt, st.mark, st.stamp, st.stack, st.labels, eps_flow)
        info["drops"] += int(drops)
        converged = False
        for _ in range(max_scans if fixed or scans_per_L is None else scans_per_L):
            t0 = time.perf_counter()
            scan = scan_pairs(X, st.u[:, None], L, p_x=p_x, per_point=per_point, threshold=viol_tol, tree=tree,
                              blocks=blocks)
            info["oracle_time"] += time.perf_counter() - t0
            info["scans"] += 1
            worst = scan.max_excess
            info["violation_per_round"].append(worst)
            info["pairs_per_round"].append(int(st.alive[: st.m].sum()))
            if bar is not None:
                bar.update(1)
                bar.set_postfix(level=label, pairs=info["pairs_per_round"][-1], L=f"{L:.6g}", viol=f"{worst:.2e}",
                                new=len(scan.i))
            if len(scan.i) == 0:
                converged = True
                break
            t0 = time.perf_counter()
            I, J = scan.i, scan.j
            if keep:
                ki, kj, kd = np.concatenate([ki, I]), np.concatenate([kj, J]), np.concatenate([kd, _distances(X, I, J, p_x)])
                _, first = np.unique(ki * n + kj, return_index=True)
                ki, kj, kd = ki[first], kj[first], kd[first]
            while True:
                # room for one new edge per row of the scan and of every sweep
                if st.m + len(I) + len(ki) > len(st.ea) or 2 * int(st.alive[: st.m].sum()) < st.m:
                    st.compact(extra=len(I) + len(ki))
                st.m, st.stamp, st.labels, failures, sweeps = fk.enforce(
                    I, J, ki, kj, kd, X, code, w, y, L, st.u, st.tid, st.head, st.nxt, st.ea, st.eb, st.ed, st.alive,
                    st.m, st.order, st.pos, st.parent, st.pedge, st.psi, st.sr, st.sw, st.cnt, st.mark, st.stamp,
                    st.stack, st.labels, viol_tol, max_steps, max_sweeps if keep else 0, counts)
                info["sweeps"] += int(sweeps)
                if failures == 0 or st.m < len(st.ea):
                    info["failures"] += int(failures)
                    break
                I = J = np.zeros(0, dtype=np.int64)  # the arrays filled up: grow them, go on with the sweeps
            if keep:
                near = np.abs(st.u[ki] - st.u[kj]) - L * kd >= -keep * worst
                ki, kj, kd = ki[near], kj[near], kd[near]
            info["process_time"] += time.perf_counter() - t0
        if fixed or info["scans"] >= max_scans:
            status = "optimal" if converged and fixed else status
            break
        roots = st.roots()
        z, st.stamp = fk.all_flows(roots, w, y, st.u, st.head, st.nxt, st.ea, st.eb, st.ed, st.alive, st.m,
                                   *_walk_args(st))
        a, b, d = st.edges()
        g = float(z[st.alive[: st.m]] @ d) - lam  # d/dL of min_u J: > 0 means L is too small
        L_new, st.stamp = fk.newton_L(roots, w, y, lam, st.head, st.nxt, st.ea, st.eb, st.ed, st.alive, st.order,
                                      st.pos, st.parent, st.pedge, st.psi, st.mark, st.stamp, st.stack)
        if converged and np.isfinite(L_new) and abs(L_new - L) <= 1e-12 * L:
            status = "optimal"
            break
        if converged:  # the sign of g brackets L* only at the optimum for this L
            if g > 0:
                lo = max(lo, L)
            else:
                hi = min(hi, L)
        else:
            L_new = float(np.clip(L_new, 0.5 * L, 2.0 * L)) if np.isfinite(L_new) else L_new
        if not (np.isfinite(L_new) and lo < L_new < hi):
            # Bisection in log scale inside a bracket, else a factor 4 toward it (from the labels'
            # slope, an upper estimate, halving took 7 scans of the 13 at n = 500).
            L_new = np.sqrt(lo * hi) if np.isfinite(hi) and lo > 0 else (4.0 * L if g > 0 else 0.25 * L)
        L = float(L_new)
        st.stamp, st.labels = fk.set_all(roots, w, y, L, st.u, st.tid, st.head, st.nxt, st.ea, st.eb, st.ed, st.alive,
                                         st.order, st.pos, st.parent, st.pedge, st.psi, st.mark, st.stamp, st.stack,
                                         st.labels)
    info.update(zip(("satisfied", "full_steps", "partial_steps", "cycle_steps", "walked"), counts.tolist()))
    if info["failures"]:
        status = "failed"
    z, st.stamp = fk.all_flows(st.roots(), w, y, st.u, st.head, st.nxt, st.ea, st.eb, st.ed, st.alive, st.m,
                               *_walk_args(st))
    a, b, _ = st.edges()
    u = st.u.copy()
    if fixed:
        # Tight rows hold with equality only up to round-off, and at a fixed L nothing absorbs it
        # (a penalized solve reports the tightest L of its rows): pull u toward its weighted mean by
        # CONTRACTION, which keeps it L-Lipschitz, makes the tight rows feasible in floating point
        # and raises the loss by 2 CONTRACTION <y - u, u - mean>_w >= 0 (u is the projection of y
        # onto a convex set that contains the contraction), so the certified bound stays below it.
        # The last scan's maximum no longer describes this point: the caller rescans.
        mean = float(w @ u) / float(w.sum())
        u = mean + (1.0 - CONTRACTION) * (u - mean)
        worst = None
    return ForestSolution(u, L, status, a.copy(), b.copy(), z[st.alive[: st.m]], worst, info)


def _walk_args(st: _State):
    return (st.order, st.pos, st.parent, st.pedge, st.psi, st.sr, st.sw, st.cnt, st.mark, st.stamp, st.stack)


def _distances(X, a, b, p_x):
    from .._pairwise import pair_distances

    return pair_distances(X, a, b, p=p_x)
