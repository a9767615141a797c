r"""The reference method: every pair constraint in one vectorized cvxpy program."""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from .._pairwise import all_pairs, pair_distances

__all__ = ["reference_pairs", "difference_matrix", "solve_pair_program", "solver_options"]


def reference_pairs(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """All pairs ``i < j``; for 1-D inputs the adjacent pairs of the sorted order only.

    In 1-D the adjacent pairs are exactly equivalent to all pairs: for x_i < x_j < x_k the triangle
    inequality in Y gives ``||u_i - u_k|| <= L (x_j - x_i) + L (x_k - x_j) = L (x_k - x_i)``.
    """
    if X.shape[1] == 1:
        order = np.argsort(X[:, 0], kind="stable")
        return order[:-1], order[1:]
    return all_pairs(X.shape[0])


def difference_matrix(i: np.ndarray, j: np.ndarray, n: int) -> sp.csr_matrix:
    """Sparse (P, n) matrix with rows ``e_i - e_j``."""
    P = len(i)
    rows = np.repeat(np.arange(P), 2)
    cols = np.stack([i, j], axis=1).ravel()
    vals = np.tile([1.0, -1.0], P)
    return sp.csr_matrix((vals, (rows, cols)), shape=(P, n))


def solver_options(solver: str, tol: float) -> dict:
    """Map one tolerance to the stopping options of the cvxpy solvers we use."""
    if solver == "CLARABEL":
        # qdldl, not Clarabel's "auto" (which picks faer on large problems; on the cutting plane's
        # subproblem at n = 32,768 faer took 106 s where qdldl took 7.2 s). With qdldl the reference
        # at n = 1,000 (499,500 pairs) takes 43 s here; the issue reports > 10 minutes before.
        return dict(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=tol, max_iter=500, direct_solve_method="qdldl")
    if solver == "SCS":
        return dict(eps_abs=tol, eps_rel=tol, max_iters=200_000)
    if solver == "OSQP":
        return dict(eps_abs=tol, eps_rel=tol, max_iter=200_000, polishing=True)
    return {}


def pair_constraints(Du, Ld, p_y: float, k: int) -> list:
    """Constraints ``||Du_r||_{p_y} <= Ld_r`` for every row r, vectorized (one object per sign)."""
    import cvxpy as cp

    if k == 1:
        return [Du[:, 0] <= Ld, -Du[:, 0] <= Ld]
    if p_y == np.inf:
        Lb = cp.reshape(Ld, (Du.shape[0], 1), order="C") @ np.ones((1, k))
        return [Du <= Lb, -Du <= Lb]
    return [cp.norm(Du, p_y, axis=1) <= Ld]


def solve_pair_program(X, Y, w, loss, lam, i, j, *, p_x, p_y, solver, tol):
    """Solve the finite program restricted to the pairs (i, j); return (values, L, status)."""
    import cvxpy as cp

    n, k = Y.shape
    dist = pair_distances(X, i, j, p=p_x)
    D = difference_matrix(i, j, n)
    u = cp.Variable((n, k))
    L = cp.Variable(nonneg=True)
    cons = pair_constraints(D @ u, L * dist, p_y, k) + loss.constraints(u)
    prob = cp.Problem(cp.Minimize(loss.cvxpy(u, Y, w) + lam * L), cons)
    try:
        prob.solve(solver=solver, **solver_options(solver, tol))
    except cp.error.SolverError as exc:
        return None, None, f"solver_error: {exc}"
    if u.value is None:
        return None, None, prob.status
    return np.asarray(u.value, dtype=float), float(L.value), prob.status
