r"""Kirszbraun extension of Euclidean-valued Lipschitz data."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .._pairwise import pairwise_distances
from .._validation import check_int, check_points, check_positive, check_values

__all__ = ["kirszbraun", "QUERIES"]

QUERIES = ("sequential", "independent")


def _minimax_points(P, C, rows, cols, settings):
    r"""Solve, for every query q at once, :math:`\min_{v_q, t_q} t_q` s.t.
    :math:`\|v_q - P_i\|_2 \le C_{qi} + t_q` for the listed pairs (q, i) = (rows, cols).

    The problems are independent, so one block-diagonal SOCP (objective :math:`\sum_q t_q`) solves
    them all in a single Clarabel call. Returns ``(V, T)`` of shapes (b, k) and (b,).
    """
    import clarabel

    b, k = C.shape[0], P.shape[1]
    width = k + 1
    # x = (v_0, t_0, v_1, t_1, ...); cone r: s = (C_qi + t_q, v_q - P_i) in SOC(k + 1), as s = h - A x.
    # Each row of A holds one -1, in the column of t_q (first entry of the cone) or of v_q.
    offsets = np.concatenate([[k], np.arange(k)])
    A = sp.csc_matrix(
        (-np.ones(len(rows) * width), (np.arange(len(rows) * width), (rows[:, None] * width + offsets).ravel())),
        shape=(len(rows) * width, b * width),
    )
    h = np.column_stack([C[rows, cols], -P[cols]]).ravel()
    objective = np.zeros(b * width)
    objective[k::width] = 1.0
    solver = clarabel.DefaultSolver(
        sp.csc_matrix((b * width, b * width)), objective, A, h, [clarabel.SecondOrderConeT(width)] * len(rows), settings,
    )
    sol = solver.solve()
    if str(sol.status) not in ("Solved", "AlmostSolved"):
        raise RuntimeError(f"Clarabel returned status {sol.status} on the Kirszbraun minimax problem")
    x = np.asarray(sol.x).reshape(b, width)
    return x[:, :k], x[:, k]


def _active_set(Xq, Xp, P, L, active, start, tol, settings):
    r"""Minimax values at the queries ``Xq`` (b, d) against the points (``Xp``, ``P``) (N, d), (N, k).

    Active-set rounds: solve on each query's active points (boolean ``active``, (b, N), updated in
    place), evaluate all N constraints, and add up to ``start`` of the most violated to each query
    with a constraint above its optimum + ``tol``; a query is done when it has none, and its value
    is then the minimax point over all N points (to ``tol``). Points that cannot bind are never
    solved with; a far point that binds is found by the evaluation. Returns ``(V, T, S)``: values,
    active-set optima and the largest slack over all N points.
    """
    C = L * pairwise_distances(Xq, Xp)
    b, k = C.shape[0], P.shape[1]
    V, T, S = np.zeros((b, k)), np.zeros(b), np.zeros(b)
    pending = np.arange(b)
    while pending.size:
        rows, cols = np.nonzero(active[pending])
        V[pending], T[pending] = _minimax_points(P, C[pending], rows, cols, settings)
        slack = pairwise_distances(V[pending], P) - C[pending]
        S[pending] = slack.max(axis=1)
        # Active points sit at T up to the solver's accuracy, so only inactive ones count as violated.
        look = np.flatnonzero(S[pending] > T[pending] + tol)
        excess = np.where(active[pending[look]], -np.inf, slack[look] - (T[pending[look]] + tol)[:, None])
        top = min(start, excess.shape[1])
        worst = np.argpartition(-excess, top - 1, axis=1)[:, :top]
        add = np.take_along_axis(excess, worst, axis=1) > 0
        r, c = np.nonzero(add)
        active[pending[look[r]], worst[r, c]] = True
        pending = pending[look[add.any(axis=1)]]
    return V, T, S


def kirszbraun(X, U, X_new, *, L=None, queries="sequential", start=8, tol=1e-9, batch=64):
    r"""Kirszbraun extension of Euclidean-valued data to new points.

    For each query x the value v solves the convex minimax problem

    .. math:: \min_{v \in \mathbb{R}^k} \max_i \big(\|v - U_i\|_2 - L\,\|x - x_i\|_2\big),

    whose optimum is <= 0 by Kirszbraun's theorem when U is L-Lipschitz on X (Euclidean norms on
    both sides), so that v keeps the constant L against the data.

    Method: an active set per query (the ``start`` nearest points first; every round solves the
    queries' small SOCPs together as one block-diagonal problem with Clarabel, evaluates all
    constraints, and adds the most violated points) until no point is violated beyond the optimum
    of the active set, so that v is the minimax point over all points (to ``tol``). Queries go in
    blocks of ``batch``. (Before issue 14 the loop stopped as soon as every constraint held, which
    returned the minimax point of the active set only: another valid extension, up to 6e-2 away.)

    Parameters
    ----------
    X : array_like, shape (n, d)
    U : array_like, shape (n, k)
    X_new : array_like, shape (m, d)
    L : float, optional
        Lipschitz constant (default: the discrete constant of U on X).
    queries : {"sequential", "independent"}
        "independent": each query's value is the minimax point against the data alone (queries
        solved in blocks); it is L-Lipschitz against the data, but two queries may be further apart
        than L times their distance. "sequential": the constructive proof of the theorem, queries
        added one at a time, each the minimax point against the data and the earlier queries, so
        that data and queries together are L-Lipschitz. It starts from the independent values and
        re-solves, in order, only the queries where an earlier query's constraint exceeds the
        optimum (there the extra points change the minimax point); elsewhere the two agree.
    start : int
        Size of the initial active set, and most points added to it per round (8: 20% faster than
        16 and 40% than 32 at n = 10^4, m = 10^3, k = 3; the minimax point has at most k + 1 active).
    tol : float
        Feasibility tolerance of the active-set loop (absolute, in units of U).
    batch : int
        Queries per block SOCP (fewer when n is large: a block holds at most 2^22 query-point
        distances, 32 MiB, in each of its two (batch, n) arrays).

    Returns
    -------
    ndarray, shape (m, k)
    """
    import clarabel

    X = check_points(X, "X")
    U, _ = check_values(U, X.shape[0], "U")
    X_new = check_points(X_new, "X_new")
    if X_new.shape[1] != X.shape[1]:
        raise ValueError(f"X_new must have d = {X.shape[1]} columns to match X, got {X_new.shape[1]}")
    if queries not in QUERIES:
        raise ValueError(f"queries must be one of {QUERIES}, got {queries!r}")
    start = check_int(start, "start")
    batch = check_int(batch, "batch")
    tol = check_positive(tol, "tol")
    if L is None:
        from ._constants import data_lipschitz

        L = data_lipschitz(X, U, "U")
    L = check_positive(L, "L", allow_zero=True)
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    # Near two active cones the objective is quadratic across their segment, so v is only as accurate
    # as the square root of the gap: 1e-8 (the default) left v off by 1e-5, 1e-12 by 1e-7.
    settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = 1e-12
    n, m = X.shape[0], X_new.shape[0]
    _, near = cKDTree(X).query(X_new, k=min(start, n))
    near = near.reshape(m, -1)
    V, T, S = np.empty((m, U.shape[1])), np.empty(m), np.empty(m)
    kept = []  # each query's final active points, for the sequential pass
    batch = min(batch, max(1, 2**22 // n))
    for lo in range(0, m, batch):
        hi = min(m, lo + batch)
        active = np.zeros((hi - lo, n), dtype=bool)
        np.put_along_axis(active, near[lo:hi], True, axis=1)
        V[lo:hi], T[lo:hi], S[lo:hi] = _active_set(X_new[lo:hi], X, U, L, active, start, tol, settings)
        kept += [np.flatnonzero(row) for row in active]
    if queries == "independent":
        return V
    for q in range(1, m):
        slack = np.linalg.norm(V[:q] - V[q], axis=1) - L * np.linalg.norm(X_new[:q] - X_new[q], axis=1)
        if max(S[q], slack.max()) <= T[q] + tol:
            continue
        grown = np.zeros((1, n + q), dtype=bool)
        grown[0, kept[q]] = True
        grown[0, n:] = slack > T[q] + tol
        V[q : q + 1], T[q : q + 1], S[q : q + 1] = _active_set(
            X_new[q : q + 1], np.vstack([X, X_new[:q]]), np.vstack([U, V[:q]]), L, grown, start, tol, settings,
        )
    return V
