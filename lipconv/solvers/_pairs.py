r"""The reference method: every pair constraint in one vectorized cvxpy program."""
from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp

from .._pairwise import all_pairs, pair_distances

__all__ = ["reference_pairs", "difference_matrix", "solve_pair_program", "solver_options", "RETRY_SETTINGS"]


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


# Clarabel settings for a second attempt after a stall: shorter steps, less static regularization,
# tighter iterative refinement of the KKT solves. On small cross-entropy problems (exponential and
# second- or first-order cones) the defaults stopped "almost solved" at any tolerance, one with a
# certified gap of 2e-7 and values 9e-6 off, another with L 2e-6 off; shorter steps alone solved the
# first, only the combination both (gaps 3e-11 and 1e-10).
RETRY_SETTINGS = dict(
    max_step_fraction=0.95, static_regularization_constant=1e-10,
    iterative_refinement_reltol=1e-15, iterative_refinement_abstol=1e-15,
)


def solver_options(solver: str, tol: float) -> dict:
    """Map one tolerance to the stopping options of the cvxpy solvers we use."""
    if solver == "CLARABEL":
        # qdldl, not Clarabel's "auto" (which picks faer on large problems; on the cutting plane's
        # subproblem at n = 32,768 faer took 106 s where qdldl took 7.2 s). With qdldl the reference
        # at n = 1,000 (499,500 pairs) takes 43 s here; the issue reports > 10 minutes before.
        # tol_feas 100x tighter than the gap: the certificate's dual bound is only as good as the
        # L-row of the stationarity, sum_r ||Lambda_r|| d_r = lam (see _cutting_plane._DirectProgram).
        return dict(tol_gap_abs=tol, tol_gap_rel=tol, tol_feas=1e-2 * tol, max_iter=500, direct_solve_method="qdldl")
    if solver == "SCS":
        return dict(eps_abs=tol, eps_rel=tol, max_iters=200_000)
    if solver == "OSQP":
        return dict(eps_abs=tol, eps_rel=tol, max_iter=200_000, polishing=True)
    return {}


def pair_constraints(u, D, Ld, p_y: float, k: int):
    r"""Constraints ``||(D u)_r||_{p_y} <= Ld_r`` for every row r, vectorized, and a function that
    reads the pair multipliers off the solved constraints.

    The multipliers are returned as an array (P, k) with the orientation of the rows of D: the
    Lagrangian holds :math:`\langle \Lambda_r, (D u)_r\rangle - \|\Lambda_r\|_* L d_r`
    (:mod:`._certificate`). Linear rows (k = 1, or p_y = inf) give :math:`\Lambda = \mu^+ - \mu^-`
    from the duals of the two signs; the 1- and 2-norms of vector outputs are written with an
    auxiliary ``V == D u`` whose equality dual is :math:`-\Lambda` (cvxpy's Lagrangian convention
    :math:`f + \nu^\top (V - D u)`).
    """
    import cvxpy as cp

    Du = D @ u
    if k == 1:
        cons = [Du[:, 0] <= Ld, -Du[:, 0] <= Ld]
        return cons, lambda: (np.asarray(cons[0].dual_value) - np.asarray(cons[1].dual_value))[:, None]
    if p_y == np.inf:
        Lb = cp.reshape(Ld, (Du.shape[0], 1), order="C") @ np.ones((1, k))
        cons = [Du <= Lb, -Du <= Lb]
        return cons, lambda: np.asarray(cons[0].dual_value) - np.asarray(cons[1].dual_value)
    V = cp.Variable((D.shape[0], k))
    cons = [V == Du, cp.norm(V, p_y, axis=1) <= Ld]
    return cons, lambda: -np.asarray(cons[0].dual_value)


def solve_pair_program(X, Y, w, loss, lam, i, j, *, p_x, p_y, solver, tol, objective_scale=None, fixed_L=None):
    """Solve the finite program restricted to the pairs (i, j).

    Returns ``(values, L, status, multipliers)``, the multipliers of shape (P, k) as in
    :func:`pair_constraints` (None when the solver returned no point or no duals).
    ``objective_scale`` multiplies the objective (the multipliers are divided by it back).
    ``fixed_L``: the program at that Lipschitz constant (no lambda term; ``lam`` is ignored).
    """
    import cvxpy as cp

    n, k = Y.shape
    dist = pair_distances(X, i, j, p=p_x)
    D = difference_matrix(i, j, n)
    # Residual variables r = u - y: the objective has no constant term (see _DirectProgram), so
    # the solver's relative gap is relative to J.
    r = cp.Variable((n, k))
    u = Y + r
    L = cp.Variable(nonneg=True) if fixed_L is None else cp.Constant(float(fixed_L))
    cons, multipliers = pair_constraints(u, D, L * dist, p_y, k)
    sigma = 1.0 if objective_scale is None else float(objective_scale)
    penalty = lam * L if fixed_L is None else 0.0
    objective = cp.Minimize(sigma * (loss.cvxpy(u, Y, w) + penalty))
    # The cross-entropy's simplex: its rows u >= 0 are added as cuts, on the entries that came out
    # negative. At one-hot labels the unconstrained optimum sits on those bounds with zero
    # multipliers (the loss's gradient there is the same in every entry), a degenerate
    # complementarity on which Clarabel stalled ("almost solved", relative gaps 2e-6 to 1e-4 on
    # trained digits networks, n = 30, k = 10); without the inactive bounds it solved to 1e-9.
    simplex = loss.name == "cross_entropy"
    bounded = np.zeros((n, k), dtype=bool)
    while True:
        extra_cons = loss.constraints(u) if not simplex else [cp.sum(u, axis=1) == 1] + (
            [u[np.nonzero(bounded)] >= 0] if bounded.any() else [])
        prob = cp.Problem(objective, cons + extra_cons)
        status = _solve_with_retries(prob, loss, solver, tol)
        if not simplex or r.value is None or status.startswith("solver_error"):
            break
        below = (Y + r.value < -10.0 * tol) & ~bounded  # a hair below 0 is rounding (see _subproblem)
        if not below.any():
            break
        bounded |= below
    if r.value is None or status.startswith("solver_error"):
        return None, None, status, None
    try:
        M = multipliers() / sigma
    except (TypeError, ValueError):
        M = None
    if M is not None and (M.shape != (len(i), k) or not np.all(np.isfinite(M))):
        M = None
    return Y + np.asarray(r.value, dtype=float), float(L.value), status, M


def _solve_with_retries(prob, loss, solver, tol) -> str:
    """Solve ``prob``; returns its status (or "solver_error: ...").

    The cross-entropy's values are pinned by the gap only to sqrt(gap / theta), and
    theta = eps / (1 + eps)^2 is small (0.083 at eps = 0.1): two equivalent problems solved at 1e-8
    gave values 1.5e-6 apart, at 1e-9 up to 6e-7 (L 5e-7 off), at 1e-10 2e-10. So it is solved at
    tol / 100 first. A solve that stalls ("optimal_inaccurate") is retried with RETRY_SETTINGS,
    then at tol; the first "optimal" is kept, else the last attempt (the certificate judges it).
    """
    import cvxpy as cp

    rungs = [1e-2 * tol, tol] if loss.name == "cross_entropy" else [tol]
    attempts = [(rung, extra) for rung in rungs for extra in ({}, RETRY_SETTINGS if solver == "CLARABEL" else None)]
    status = "not_started"
    for rung, extra in attempts:
        if extra is None:
            continue
        try:
            with warnings.catch_warnings():
                # cvxpy's "Solution may be inaccurate": the status says so, and the certificate decides.
                warnings.filterwarnings("ignore", message="Solution may be inaccurate", category=UserWarning)
                prob.solve(solver=solver, **{**solver_options(solver, rung), **extra})
        except cp.error.SolverError as exc:
            status = f"solver_error: {exc}"
            continue
        status = prob.status
        if status == "optimal":
            break
    return status
