r"""The scalable exact method: cutting planes on the pair constraints of seed 000, eq. (2.7).

The finite program (DESIGN.md, "The core problem")

.. math::

    \min_{u \in \mathbb{R}^{n \times k},\, L \ge 0}\ \sum_i w_i\, \ell(u_i, y_i) + \lambda L
    \quad \text{s.t.}\quad \|u_i - u_j\|_{p_y} \le L\, \|x_i - x_j\|_{p_x}\ \ \forall i < j

has n(n-1)/2 constraints, but at the optimum only a few per point are active. The method solves the
program restricted to an active set of pairs E (a relaxation, so its objective is a lower bound),
asks an exact oracle for the pairs violated by the relaxed solution among ALL pairs, adds the worst
``per_point`` per point, and repeats. It stops when no pair outside E is violated by more than
``viol_tol`` relative to L; since the last relaxation is then feasible for the full program to that
tolerance, its value is the optimum (a lower bound attained by a feasible point).
"""
from __future__ import annotations

import time

import numpy as np
import scipy.sparse as sp
from scipy.spatial import cKDTree

from .._pairwise import pair_distances
from ._certificate import relative_violation_scale
from ._oracle import scan_pairs
from ._pairs import reference_pairs, solve_pair_program

__all__ = ["solve_cutting_plane", "knn_pairs", "DIRECT_LOSSES"]

DIRECT_LOSSES = ("squared", "absolute")


def knn_pairs(X: np.ndarray, k: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs ``i < j`` of the symmetrized k-nearest-neighbour graph in the p-norm."""
    n = X.shape[0]
    k = min(int(k), n - 1)
    _, nb = cKDTree(X).query(X, k=k + 1, p=p)
    a = np.repeat(np.arange(n, dtype=np.int64), k + 1)
    b = nb.reshape(-1).astype(np.int64)
    keep = a != b
    i, j = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    key = np.unique(i * n + j)
    return key // n, key % n


def _direct_supported(loss, k: int, p_y: float, solver: str) -> bool:
    return solver == "CLARABEL" and loss.name in DIRECT_LOSSES and (k == 1 or p_y in (2.0, np.inf))


class _DirectProgram:
    """The restricted program in Clarabel's standard form, assembled from numpy/scipy arrays.

    Variables ``x = [vec(u) (row-major, n k), L, t (n k, absolute loss only)]``. The objective is
    scaled by ``1 / mean(w) = n`` so that its terms are O(1) for the interior-point tolerances. The
    loss rows and the objective are built once; the pair rows are rebuilt from the accumulated pair
    arrays each round (O(pairs), negligible next to the factorizations).
    """

    def __init__(self, Y, w, loss, lam, *, p_y, tol):
        import clarabel

        self.clarabel = clarabel
        self.n, self.k = Y.shape
        n, k = self.n, self.k
        nk = n * k
        self.absolute = loss.name == "absolute"
        self.nvar = nk + 1 + (nk if self.absolute else 0)
        self.iL = nk
        scale = float(n)
        wk = np.repeat(w, k) * scale
        y = Y.reshape(-1)
        q = np.zeros(self.nvar)
        q[self.iL] = lam * scale
        if self.absolute:
            self.P = sp.csc_matrix((self.nvar, self.nvar))
            q[nk + 1:] = wk
            I = sp.identity(nk, format="csc")
            T = sp.hstack([sp.csc_matrix((nk, nk + 1)), I], format="csc")
            U = sp.hstack([I, sp.csc_matrix((nk, self.nvar - nk))], format="csc")
            self.A_fixed = sp.vstack([U - T, -U - T, self._unit_row(-1.0)], format="csc")
            self.b_fixed = np.concatenate([y, -y, [0.0]])
        else:
            self.P = sp.diags(np.concatenate([2.0 * wk, np.zeros(self.nvar - nk)]), format="csc")
            q[:nk] = -2.0 * wk * y
            self.A_fixed = self._unit_row(-1.0)
            self.b_fixed = np.zeros(1)
        self.q = q
        self.soc = k > 1 and p_y == 2.0
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.tol_gap_abs = tol
        settings.tol_gap_rel = tol
        settings.tol_feas = tol
        settings.max_iter = 500
        self.settings = settings

    def _unit_row(self, value):
        return sp.csc_matrix(([value], ([0], [self.iL])), shape=(1, self.nvar))

    def _pair_rows(self, i, j, d):
        """Rows of ``A x + s = 0``: linear pairs ``+-(u_ic - u_jc) - d L <= 0``, or SOC blocks
        ``(d L, u_i - u_j)``."""
        k, P = self.k, len(i)
        c = np.arange(k)
        ci = (i[:, None] * k + c).reshape(-1)
        cj = (j[:, None] * k + c).reshape(-1)
        if self.soc:
            # Block r: row (k+1) r holds -d L (s0 = d L), rows (k+1) r + 1 + c hold -(u_ic - u_jc).
            base = (np.arange(P) * (k + 1))[:, None]
            rc = (base + 1 + c).reshape(-1)
            rows = np.concatenate([base[:, 0], rc, rc])
            cols = np.concatenate([np.full(P, self.iL), ci, cj])
            vals = np.concatenate([-d, -np.ones(P * k), np.ones(P * k)])
            return sp.csc_matrix((vals, (rows, cols)), shape=(P * (k + 1), self.nvar))
        m = P * k
        r = np.arange(m)
        dk = np.repeat(d, k)
        rows = np.concatenate([r, r, r, m + r, m + r, m + r])
        cols = np.concatenate([ci, cj, np.full(m, self.iL), ci, cj, np.full(m, self.iL)])
        vals = np.concatenate([np.ones(m), -np.ones(m), -dk, -np.ones(m), np.ones(m), -dk])
        return sp.csc_matrix((vals, (rows, cols)), shape=(2 * m, self.nvar))

    def solve(self, i, j, d):
        clarabel = self.clarabel
        Apair = self._pair_rows(i, j, d)
        A = sp.vstack([self.A_fixed, Apair], format="csc")
        b = np.concatenate([self.b_fixed, np.zeros(Apair.shape[0])])
        n_lin = self.A_fixed.shape[0]
        if self.soc:
            cones = [clarabel.NonnegativeConeT(n_lin)] + [clarabel.SecondOrderConeT(self.k + 1)] * len(i)
        else:
            cones = [clarabel.NonnegativeConeT(n_lin + Apair.shape[0])]
        sol = clarabel.DefaultSolver(self.P, self.q, A, b, cones, self.settings).solve()
        status = str(sol.status)
        status = {"Solved": "optimal", "AlmostSolved": "optimal_inaccurate"}.get(status, status.lower())
        x = np.asarray(sol.x, dtype=float)
        if x.size != self.nvar or not np.all(np.isfinite(x)):
            return None, None, status
        return x[: self.n * self.k].reshape(self.n, self.k), max(float(x[self.iL]), 0.0), status


def _near_active(X, U, L, i, j, p_x, p_y, slack):
    """Mask of the pairs whose constraint is within ``slack`` (relative to L d_ij) of being tight."""
    du = U[i] - U[j]
    if p_y == 1.0:
        nu = np.abs(du).sum(axis=1)
    elif p_y == 2.0:
        nu = np.sqrt((du * du).sum(axis=1))
    else:
        nu = np.abs(du).max(axis=1)
    return nu >= (1.0 - slack) * L * pair_distances(X, i, j, p=p_x)


def solve_cutting_plane(
    X, Y, w, loss, lam, *, p_x, p_y, solver, tol, verbose, k_init=6, per_point=3, viol_tol=None,
    max_rounds=100, backend="auto", leaf_size=64, drop_slack=1e-3,
):
    r"""Solve seed 000 eq. (2.7) (finite form) exactly by cutting planes on the pair constraints.

    Algorithm (module docstring): start from the symmetrized ``k_init``-nearest-neighbour graph in
    the :math:`p_x`-norm (for d = 1 the adjacent pairs, which are exact, and no iteration), solve the
    restricted program, find the violated pairs among ALL pairs with the exact pruned oracle
    :func:`~lipconv.solvers._oracle.scan_pairs`, add each point's ``per_point`` worst violated
    partners not yet in the set, and repeat until none is left above ``viol_tol`` (relative to L, as
    in :func:`~lipconv.solvers.violation_scan`).

    The subproblem. For the squared loss (a QP) and the absolute loss (an LP), with scalar outputs or
    :math:`p_y \in \{2, \infty\}`, the restricted program is handed to Clarabel directly in its
    standard form (:class:`_DirectProgram`), without cvxpy: the objective and loss rows are built
    once, the pair rows are appended from arrays each round. We chose the interior-point solver over a
    warm-started first-order method because the certificate asks for the reference's accuracy
    (objective to 1e-6 relative): measured on n = 10,000 (46k pairs) Clarabel reaches 1e-8 in 3.7 s,
    OSQP needed 17 s for 1e-5 and 88 s for 1e-7. An interior-point method gains nothing from a primal
    warm start, so the warm start between rounds is the active set itself: each round re-solves only
    the previous pairs plus the new cuts. All other cases (huber, cross-entropy, vector outputs with
    :math:`p_y = 1`, a solver other than Clarabel) use the same loop with the cvxpy program of the
    reference (:func:`~lipconv.solvers._pairs.solve_pair_program`) rebuilt on the active pairs each
    round: exact, only slower.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    Y : ndarray, shape (n, k)
    w : ndarray, shape (n,)
        Weights summing to 1.
    loss : lipconv.losses.Loss
    lam : float
    p_x, p_y : {1.0, 2.0, inf}
    solver : str
        "CLARABEL" uses the direct path where supported; other names go through cvxpy.
    tol : float
        Solver tolerance (gap and feasibility).
    verbose : bool
        A tqdm bar showing rounds, pairs, L and the worst violation.
    k_init : int
        Neighbours of the initial graph.
    per_point : int
        Violated pairs added per point and round.
    viol_tol : float, optional
        Stopping tolerance on the relative violation (default ``max(10 tol, 1e-9)``: the subproblem is
        itself only feasible to about ``tol``).
    max_rounds : int
    drop_slack : float or None
        For strictly convex losses (theta > 0), pairs whose constraint has relative slack above
        ``drop_slack`` are dropped from the active set before the new cuts are added; this keeps the
        subproblem near the ~1 active pair per point of the optimum (measured: 18 s -> 5 s at n = 3,000).
        None disables it; it is never used for the absolute loss, whose LP optimum may be non-unique.
    backend : {"auto", "numba", "numpy", "torch"}
        Oracle backend.
    leaf_size : int
        Oracle block size.

    Returns
    -------
    values : ndarray, shape (n, k)
    L : float
    status : str
        "optimal" on success; "max_rounds" if the loop did not converge; else the solver's status.
    n_pairs : int
        Pairs in the final restricted program.
    info : dict
        rounds, pairs_per_round, violation_per_round (relative), oracle_time, subproblem_time,
        subproblem ("clarabel-direct" or "cvxpy"), backend, k_init, per_point, viol_tol,
        dropped (whether slack pairs were dropped in the last round).
    """
    from tqdm.auto import tqdm

    n, k = Y.shape
    viol_tol = max(10.0 * tol, 1e-9) if viol_tol is None else float(viol_tol)
    direct = _direct_supported(loss, k, p_y, solver)
    program = _DirectProgram(Y, w, loss, lam, p_y=p_y, tol=tol) if direct else None

    def subproblem(i, j):
        if direct:
            return program.solve(i, j, pair_distances(X, i, j, p=p_x))
        return solve_pair_program(X, Y, w, loss, lam, i, j, p_x=p_x, p_y=p_y, solver=solver, tol=tol)

    exact_graph = X.shape[1] == 1
    i, j = reference_pairs(X) if exact_graph else knn_pairs(X, k_init, p_x)
    i, j = np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64)
    keys = np.sort(i * n + j)
    info = dict(
        rounds=0, pairs_per_round=[], violation_per_round=[], oracle_time=0.0, subproblem_time=0.0,
        subproblem="clarabel-direct" if direct else "cvxpy", backend=backend, k_init=int(k_init),
        per_point=int(per_point), viol_tol=viol_tol, dropped=False,
    )
    values, L, status = None, None, "not_started"
    dropping = drop_slack is not None and loss.theta > 0
    last_objective = -np.inf
    bar = tqdm(total=max_rounds, disable=not verbose, desc="cutting-plane", leave=False)
    try:
        for _ in range(max_rounds):
            t0 = time.perf_counter()
            values, L, status = subproblem(i, j)
            info["subproblem_time"] += time.perf_counter() - t0
            info["rounds"] += 1
            info["pairs_per_round"].append(int(len(i)))
            if values is None or status not in ("optimal", "optimal_inaccurate"):
                return values, L, status, len(i), info
            if exact_graph:
                info["violation_per_round"].append(0.0)
                break
            t0 = time.perf_counter()
            scale = relative_violation_scale(L, values, X)
            scan = scan_pairs(
                X, values, L, p_x=p_x, p_y=p_y, per_point=per_point, threshold=viol_tol * scale,
                leaf_size=leaf_size, backend=backend,
            )
            info["oracle_time"] += time.perf_counter() - t0
            info["backend"] = scan.backend
            worst = scan.max_excess / scale
            info["violation_per_round"].append(worst)
            new = scan.i * n + scan.j
            new = new[~np.isin(new, keys, assume_unique=False)]
            bar.update(1)
            bar.set_postfix(pairs=len(i), L=f"{L:.6g}", viol=f"{worst:.2e}", new=len(new))
            if len(new) == 0:
                break
            objective = float(w @ loss.value(values, Y)) + lam * L
            # Dropping slack pairs keeps the relaxed optimum (their multipliers are 0), so the relaxed
            # objective still cannot decrease; with a strictly convex loss the minimizer is unique and
            # the loop cannot cycle. Stop dropping if the objective ever stalls, as a guard.
            dropping = dropping and objective > last_objective * (1.0 + 1e-12)
            last_objective = objective
            if dropping:
                keys = keys[_near_active(X, values, L, i, j, p_x, p_y, drop_slack)]
            info["dropped"] = dropping
            keys = np.union1d(keys, new)
            i, j = keys // n, keys % n
        else:
            return values, L, "max_rounds", len(i), info
    finally:
        bar.close()
    if status == "optimal_inaccurate":
        status = "inaccurate"
    return values, L, status, len(i), info
