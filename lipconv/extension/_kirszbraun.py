r"""Kirszbraun extension of Euclidean-valued Lipschitz data."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._pairwise import pairwise_distances
from .._validation import check_int, check_points, check_positive, check_values

__all__ = ["kirszbraun"]


def _minimax_point(U: np.ndarray, c: np.ndarray, settings) -> tuple[np.ndarray, float]:
    r"""Solve :math:`\min_{v, t} t` s.t. :math:`\|v - U_i\|_2 \le c_i + t` with Clarabel (one SOCP)."""
    import clarabel

    m, k = U.shape
    # x = (v, t); cone i: s = (c_i + t, v - U_i) in SOC(k + 1), written as s = b - A x.
    blocks = []
    for _ in range(m):
        top = sp.hstack([sp.csc_matrix((1, k)), sp.csc_matrix(np.array([[-1.0]]))])
        rest = sp.hstack([-sp.identity(k, format="csc"), sp.csc_matrix((k, 1))])
        blocks += [top, rest]
    A = sp.vstack(blocks, format="csc")
    b = np.column_stack([c, -U]).ravel()
    q = np.zeros(k + 1)
    q[-1] = 1.0
    P = sp.csc_matrix((k + 1, k + 1))
    solver = clarabel.DefaultSolver(P, q, A, b, [clarabel.SecondOrderConeT(k + 1)] * m, settings)
    sol = solver.solve()
    x = np.asarray(sol.x)
    return x[:k], float(x[k])


def kirszbraun(X, U, X_new, *, L=None, start=16, tol=1e-9):
    r"""Kirszbraun extension of Euclidean-valued data to new points, one query at a time.

    For each query x the value v solves the convex minimax problem

    .. math:: \min_{v \in \mathbb{R}^k} \max_i \big(\|v - U_i\|_2 - L\,\|x - x_i\|_2\big),

    whose optimum is <= 0 by Kirszbraun's theorem when U is L-Lipschitz on X (Euclidean norms on
    both sides). Queries are added to the data one by one (the constructive proof of the theorem),
    so the values on the data and all queries together are L-Lipschitz, not only each query
    against the data. Method: an active set on the data points (start with the ``start``
    nearest, solve the SOCP with Clarabel called directly, add every violated point, repeat until
    all n constraints hold to ``tol``), so that each query solves a small problem; written by hand
    because cvxpy's per-problem compilation would dominate the cost of these tiny SOCPs.

    Parameters
    ----------
    X : array_like, shape (n, d)
    U : array_like, shape (n, k)
    X_new : array_like, shape (m, d)
    L : float, optional
        Lipschitz constant (default: the discrete constant of U on X).
    start : int
        Size of the initial active set.
    tol : float
        Feasibility tolerance of the active-set loop (absolute, in units of U).

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
    start = check_int(start, "start")
    tol = check_positive(tol, "tol")
    if L is None:
        from ._constants import lipschitz_constant

        L = lipschitz_constant(X, U)
    L = check_positive(L, "L", allow_zero=True)
    settings = clarabel.DefaultSettings()
    settings.verbose = False
    n = X.shape[0]
    X_all = np.vstack([X, X_new])
    U_all = np.vstack([U, np.empty((X_new.shape[0], U.shape[1]))])
    for q in range(X_new.shape[0]):
        known = n + q
        x = X_all[known]
        c = L * pairwise_distances(x[None, :], X_all[:known])[0]
        Uk = U_all[:known]
        active = np.argsort(c)[: min(start, len(c))]
        while True:
            v, _ = _minimax_point(Uk[active], c[active], settings)
            slack = np.linalg.norm(Uk - v, axis=1) - c
            t_all = slack.max()
            t_act = slack[active].max()
            violated = np.flatnonzero(slack > t_act + tol)
            if violated.size == 0 or t_all <= tol:
                break
            active = np.union1d(active, violated)
        U_all[known] = v
    return U_all[n:]
