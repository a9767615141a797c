r"""Public entry points of the solvers package."""
from __future__ import annotations

import time

import numpy as np

from .._validation import check_norm, check_points, check_positive, check_values
from ..losses import get_loss
from ._certificate import violation_scan
from ._pairs import reference_pairs, solve_pair_program
from ._result import LipschitzResult, SolverError

__all__ = ["lipschitz_regression", "kantorovich_dual", "METHODS", "AUTO_PAIRS_MAX_N"]

AUTO_PAIRS_MAX_N = 300
METHODS = ("auto", "pairs", "cutting-plane")
_SOLVERS = ("CLARABEL", "SCS", "OSQP", "HIGHS", "ECOS")


def _check_weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = np.asarray(weights, dtype=float)
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},) to match X, got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0, got negative or non-finite entries")
    total = w.sum()
    if not abs(total - 1.0) <= 1e-8:
        raise ValueError(f"weights must sum to 1, got sum {total!r}")
    return w


def _check_labels_for_loss(Y: np.ndarray, loss) -> None:
    if loss.name != "cross_entropy":
        return
    if Y.shape[1] < 2:
        raise ValueError(f"y must have shape (n, k) with k >= 2 on the simplex for loss 'cross_entropy', got k = {Y.shape[1]}")
    if np.any(Y < -1e-12) or not np.allclose(Y.sum(axis=1), 1.0, rtol=0, atol=1e-8):
        raise ValueError("y must have rows on the probability simplex (>= 0, summing to 1) for loss 'cross_entropy'")


def _resolve_method(method: str, n: int, d: int) -> str:
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        # In 1-D the reference keeps only the n - 1 adjacent pairs, so it scales like a sort.
        return "pairs" if n <= AUTO_PAIRS_MAX_N or d == 1 else "cutting-plane"
    return method


def lipschitz_regression(
    X, y, *, lam, loss="squared", p_x=2, p_y=2, weights=None, method="auto",
    solver=None, tol=1e-8, verbose=False,
) -> LipschitzResult:
    r"""Minimize empirical loss plus lambda times the Lipschitz constant (seed 000, eq. (2.7)).

    .. math::

        \min_{u \in \mathbb{R}^{n \times k},\, L \ge 0}\ \sum_{i=1}^n w_i\, \ell(u_i, y_i) + \lambda L
        \quad \text{s.t.}\quad \|u_i - u_j\|_{p_y} \le L\, \|x_i - x_j\|_{p_x}\ \ \forall i < j.

    By McShane/Whitney (scalar outputs) and Kirszbraun (Euclidean outputs) this finite program is
    exactly :math:`\min_u J_n[u]` over Lipschitz functions on X (DESIGN.md, "The core problem");
    with quadrature weights it solves the continuum problem (4.4) numerically.

    Parameters
    ----------
    X : array_like, shape (n, d) or (n,)
        Sample points; a 1-D array is n points on a line.
    y : array_like, shape (n,) or (n, k)
        Labels (rows on the simplex for the cross-entropy).
    lam : float
        Regularization weight lambda > 0.
    loss : str or lipconv.losses.Loss
        "squared" (a QP), "absolute" (an LP), "huber", or "cross_entropy" (seed 000 eq. (4.6), an
        exponential-cone program).
    p_x, p_y : {1, 2, inf}
        Norms on X and on Y (for k = 1 every p_y gives the absolute value).
    weights : array_like, shape (n,), optional
        Nonnegative weights summing to 1 (default 1/n each).
    method : {"auto", "pairs", "cutting-plane"}
        "pairs" is the reference: all n(n-1)/2 pairs in one vectorized program (adjacent pairs when
        d = 1, which is exactly equivalent). "cutting-plane" is the scalable exact method.
        "auto" uses "pairs" for n <= 300 or d = 1, and "cutting-plane" otherwise.
    solver : str, optional
        cvxpy solver for the convex programs (default "CLARABEL").
    tol : float
        Solver stopping tolerance (gap and feasibility).
    verbose : bool
        Progress output of the iterative methods.

    Returns
    -------
    LipschitzResult
        Values, L, objective and the certificate ``max_violation`` (exact scan over all pairs).

    Raises
    ------
    ValueError
        On bad input (non-finite data, mismatched lengths, lam <= 0, n < 2, unknown loss/norm/method).
    SolverError
        When the convex solver fails or ends in a status other than "optimal".
    """
    t0 = time.perf_counter()
    X = check_points(X, "X", min_rows=2)
    n = X.shape[0]
    Y, scalar = check_values(y, n, "y")
    lam = check_positive(lam, "lam")
    loss = get_loss(loss)
    _check_labels_for_loss(Y, loss)
    p_x = check_norm(p_x, "p_x")
    p_y = check_norm(p_y, "p_y")
    w = _check_weights(weights, n)
    tol = check_positive(tol, "tol")
    solver = "CLARABEL" if solver is None else str(solver).upper()
    if solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {_SOLVERS}, got {solver!r}")
    method = _resolve_method(method, n, X.shape[1])

    info: dict = {}
    if method == "pairs":
        i, j = reference_pairs(X)
        values, L, status = solve_pair_program(X, Y, w, loss, lam, i, j, p_x=p_x, p_y=p_y, solver=solver, tol=tol)
        n_pairs = len(i)
    else:
        from ._cutting_plane import solve_cutting_plane

        values, L, status, n_pairs, info = solve_cutting_plane(
            X, Y, w, loss, lam, p_x=p_x, p_y=p_y, solver=solver, tol=tol, verbose=verbose
        )
    if values is None or status != "optimal":
        raise SolverError(
            f"{solver} ended with status {status!r} (method {method!r}, n = {n}, k = {Y.shape[1]}, "
            f"pairs = {n_pairs}, loss {loss.name!r})"
        )
    loss_value = float(w @ loss.value(values, Y))
    max_violation = violation_scan(X, values, L, p_x=p_x, p_y=p_y)
    return LipschitzResult(
        values=values, lipschitz=L, objective=loss_value + lam * L, loss_value=loss_value,
        status=status, max_violation=max_violation, solve_time=time.perf_counter() - t0,
        method=method, solver=solver, n_pairs=int(n_pairs), X=X, lam=lam, p_x=p_x, p_y=p_y,
        scalar=scalar, info=info,
    )


def kantorovich_dual(X, c, *, p=2, solver=None):
    r"""Kantorovich–Rubinstein dual: :math:`\sup\{\sum_i c_i w_i : |w_i - w_j| \le \|x_i - x_j\|_p\}`.

    For two discrete measures :math:`a, b` on the points X and :math:`c = a - b`, the value is
    :math:`W_1(a, b)` (the discrepancy of seed 000 Lemma 4.10 with L = 1). Solved as an LP over the
    same pair constraints as :func:`lipschitz_regression`, with w_0 = 0 fixing the constant.

    Parameters
    ----------
    X : array_like, shape (n, d)
    c : array_like, shape (n,)
        Signed masses summing to 0.
    p : {1, 2, inf}
    solver : str, optional
        cvxpy solver (default "CLARABEL").

    Returns
    -------
    value : float
    w : ndarray, shape (n,)
        An optimal 1-Lipschitz potential.
    """
    import cvxpy as cp

    X = check_points(X, "X", min_rows=2)
    C, scalar = check_values(c, X.shape[0], "c")
    if not scalar:
        raise ValueError(f"c must be a vector of shape ({X.shape[0]},), got {np.shape(c)}")
    c = C[:, 0]
    if abs(c.sum()) > 1e-9 * max(1.0, np.abs(c).sum()):
        raise ValueError(f"c must sum to 0 (a difference of two measures of equal mass), got sum {c.sum()!r}")
    p = check_norm(p, "p")
    solver = "CLARABEL" if solver is None else str(solver).upper()
    from .._pairwise import pair_distances
    from ._pairs import difference_matrix, solver_options

    i, j = reference_pairs(X)
    dist = pair_distances(X, i, j, p=p)
    D = difference_matrix(i, j, X.shape[0])
    w = cp.Variable(X.shape[0])
    prob = cp.Problem(cp.Maximize(c @ w), [D @ w <= dist, -(D @ w) <= dist, w[0] == 0])
    prob.solve(solver=solver, **solver_options(solver, 1e-9))
    if prob.status != "optimal":
        raise SolverError(f"{solver} ended with status {prob.status!r} (kantorovich_dual, n = {X.shape[0]})")
    return float(prob.value), np.asarray(w.value, dtype=float)
