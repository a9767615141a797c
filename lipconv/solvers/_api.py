r"""Public entry points of the solvers package."""
from __future__ import annotations

import time
import warnings
from dataclasses import dataclass

import numpy as np

from .._validation import (
    check_indices, check_norm, check_points, check_positive, check_real, check_simplex_labels, check_values,
)
from ..losses import get_loss
from ._certificate import FEASIBILITY_TOL, GAP_TOL, dual_bound, lipschitz_on_pairs, relative_gap, violation_scan
from ._oracle import scan_pairs
from ._constant import constant_solution, critical_lower_bound, critical_transport
from .._pairwise import pair_distances
from ._pairs import reference_pairs, solve_pair_program
from ._subproblem import DirectSubproblem, direct_supported
from ._result import Certificate, CertificateWarning, LipschitzResult, RawSolution, SolverError
from ._units import normalize

__all__ = ["lipschitz_regression", "certify", "Certificate", "kantorovich_dual", "METHODS", "AUTO_PAIRS_MAX_N"]

# ``method="auto"`` uses all pairs for n <= AUTO_PAIRS_MAX_N, the cutting plane otherwise. Zero: the
# cutting plane was the faster at every measured n, loss, k, output norm and d (``_resolve_method``).
AUTO_PAIRS_MAX_N = 0
# "auto" retries all pairs when the cutting plane fails, up to this n.
AUTO_FALLBACK_MAX_N = 1000
METHODS = ("auto", "pairs", "cutting-plane")
_SOLVERS = ("CLARABEL", "SCS", "OSQP", "HIGHS", "ECOS")


def _check_weights(weights, n: int) -> np.ndarray:
    if weights is None:
        return np.full(n, 1.0 / n)
    w = check_real(weights, "weights")
    if w.shape != (n,):
        raise ValueError(f"weights must have shape ({n},) to match X, got {w.shape}")
    if np.any(w < 0):
        raise ValueError(f"weights must be finite and >= 0, got {int(np.sum(w < 0))} negative entries")
    total = w.sum()
    if not abs(total - 1.0) <= 1e-8:
        raise ValueError(f"weights must sum to 1, got sum {total!r}")
    return w


def _resolve_method(method: str, n: int, d: int) -> str:
    """The method to run; ``"auto"``: the cutting plane (while n > ``AUTO_PAIRS_MAX_N``, which is 0).

    Measured (issue 13): time of all pairs / time of the cutting plane, all 135 pairs of solves
    certified, objectives equal to 3e-9 relative; FlatCube(2, 3) (d = 3), lam = 0.01, labels the
    first k of ramp(0.5), sin(pi t / 2), cos(pi t) of x_1 plus 0.1 N(0, 1) noise (one-hot from x_1
    for the cross-entropy), one solve each, load average 0.8 at the start and 2.1 at the end (a
    second process on the 2 cores); "-": pairs not run after more than 10 s at n = 200.

    =================  =====  ======  ======  ======  ======  ======
    loss               k p_y  n = 20      50     100     200     300
    =================  =====  ======  ======  ======  ======  ======
    squared            1       2.6     4.9     6.6    25      29
    squared            2 2     3.2     8.1    17      25      63
    squared            2 1     2.3     4.4    11      22      30
    squared            3 inf   2.1     4.6    11      26      37
    absolute           1       2.5     1.9     4.5    12      22
    absolute           2 2     2.9     5.2     9.8    47      64
    absolute           3 1     1.8     5.0    11      35      84
    huber              1       1.6     0.5     1.1     3.5     6.3
    huber              2 2     1.1     2.0     2.5     5.5     6.6
    huber              2 1     1.2     1.0     3.0     4.5     -
    huber              3 1     0.9     1.4     3.7     8.1     -
    cross_entropy      2 2     1.9    14      59     147       -
    cross_entropy      3 2     3.8    14      48     -         -
    cross_entropy      3 inf   3.3    24      23     172       -
    =================  =====  ======  ======  ======  ======  ======

    (All 22 loss/k/p_y combinations were run; the rows above span them.) The all-pairs time at
    n = 300 was 1.4-24 s except for the cross-entropy (293 s at k = 3, cutting plane 0.5 s). The
    five ratios below 1 (0.5-0.9) are Huber (the cutting plane's cvxpy subproblem) at n <= 50,
    where both took at most 0.1 s and differed by at most 0.03 s: not worth a threshold, so
    ``AUTO_PAIRS_MAX_N`` is 0.

    In d = 1 (the reference keeps only the n - 1 adjacent pairs there) at n = 8,192, uniform
    samples of FlatCube(1, 1), lam = 0.02, one solve each, load 0.3-1.0, both certified: squared
    ramp 0.92 s (pairs) / 0.20 s (cutting plane), absolute 2.86 / 2.80 s, Huber 0.45 / 0.44 s,
    squared k = 3 1.68 / 0.86 s, cross-entropy k = 3 (soft labels) 47.5 / 2.4 s (at n = 2,048:
    6.0 / 0.5 s; cvxpy's exponential cones ended "optimal_inaccurate" or in a solver error and fell
    back to the direct Newton solve): so "auto" takes the cutting plane in every dimension.
    """
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")
    if method == "auto":
        return "pairs" if n <= AUTO_PAIRS_MAX_N else "cutting-plane"
    return method


def _solve_pairs(X, Y, w, loss, lam, *, p_x, p_y, solver, tol, verbose, objective_scale, fixed_L=None) -> RawSolution:
    """The reference: every pair (adjacent pairs in 1-D) in one cvxpy program. A cross-entropy solve
    that the exponential-cone solver does not finish ("optimal_inaccurate" after its retries, or a
    failure) is redone by the Newton QPs of :class:`~lipconv.solvers._subproblem.DirectSubproblem`
    on the same pairs (``info["fallback"]``)."""
    i, j = reference_pairs(X)
    values, L, status, M = solve_pair_program(
        X, Y, w, loss, lam, i, j, p_x=p_x, p_y=p_y, solver=solver, tol=tol, objective_scale=objective_scale,
        fixed_L=fixed_L,
    )
    info = {}
    if loss.name == "cross_entropy" and status != "optimal" and direct_supported(loss, Y.shape[1], p_y, solver):
        sub = DirectSubproblem(X, Y, w, loss, lam, p_x=p_x, p_y=p_y, solver=solver, tol=tol,
                               objective_scale=objective_scale, fixed_L=fixed_L)
        values2, L2, status2, _, M2 = sub.solve(i, j, pair_distances(X, i, j, p=p_x))
        if values2 is not None and status2 == "optimal":
            info["fallback"] = f"clarabel-direct (cvxpy status {status!r})"
            values, L, status, M = values2, L2, status2, M2
    return RawSolution(values, L, status, i, j, M, len(i), info)


def _solve_cutting_plane(X, Y, w, loss, lam, *, p_x, p_y, solver, tol, verbose, objective_scale, fixed_L=None,
                         **options) -> RawSolution:
    from ._cutting_plane import solve_cutting_plane

    return solve_cutting_plane(
        X, Y, w, loss, lam, p_x=p_x, p_y=p_y, solver=solver, tol=tol, verbose=verbose, objective_scale=objective_scale,
        fixed_L=fixed_L, **options,
    )


def _check_method_options(method: str, options) -> dict:
    """``method_options`` are keyword options of the cutting plane
    (:func:`~lipconv.solvers._cutting_plane.solve_cutting_plane`); the reference takes none."""
    if options is None:
        return {}
    if not isinstance(options, dict):
        raise ValueError(f"method_options must be a dict, got {type(options).__name__}")
    if not options:
        return {}
    if method != "cutting-plane":
        raise ValueError(f"method_options are options of method 'cutting-plane', got {sorted(options)} with method {method!r}")
    import inspect

    from ._cutting_plane import solve_cutting_plane

    params = inspect.signature(solve_cutting_plane).parameters
    allowed = sorted(k for k, v in params.items() if v.kind == v.KEYWORD_ONLY
                     and k not in ("p_x", "p_y", "solver", "tol", "verbose", "objective_scale", "fixed_L"))
    bad = sorted(set(options) - set(allowed))
    if bad:
        raise ValueError(f"method_options must be among {allowed}, got {bad}")
    return dict(options)


def _objective_reference(X, Y, lam, constant_value, *, p_x, p_y, fixed_L=None) -> float:
    """An estimate of the optimum J* for scaling the subproblems (not a bound): the smaller of the
    constant's value and lam times the labels' Lipschitz constant L_y on a 6-nearest-neighbour graph
    of at most 2,048 of the points (the interpolation's value, with a lower estimate of its L). At a
    fixed L, the constant's value times (1 - L / L_y)^2 (the loss of shrinking the labels' slopes to
    L), at least 1e-6 of it."""
    from ._cutting_plane import sample_knn_pairs

    i, j = reference_pairs(X) if X.shape[1] == 1 else sample_knn_pairs(X, 6, p_x)
    L_y = lipschitz_on_pairs(X, Y, i, j, p_x=p_x, p_y=p_y)
    if fixed_L is None:
        ref = min(constant_value, lam * L_y)
    else:
        ref = constant_value * max(1e-6, (1.0 - min(1.0, fixed_L / L_y)) ** 2 if L_y > 0 else 1.0)
    return ref if ref > 0 and np.isfinite(ref) else 1.0


# The methods' seam: each takes the normalized problem and returns a RawSolution.
_METHOD_SOLVERS = {"pairs": _solve_pairs, "cutting-plane": _solve_cutting_plane}
_ACCEPTED = ("optimal", "optimal_inaccurate", "inaccurate", "max_rounds")


def _snap_duplicates(X: np.ndarray, U: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Give coincident points the weighted mean of their values (the program forces them equal;
    this removes the solver's round-off so that their pair excess is exactly 0)."""
    _, inverse, counts = np.unique(X, axis=0, return_inverse=True, return_counts=True)
    if counts.max() == 1:
        return U
    inverse = inverse.reshape(-1)
    dup = counts[inverse] > 1
    wsum = np.bincount(inverse, weights=w, minlength=len(counts))
    uniform = wsum[inverse] <= 0
    ww = np.where(uniform, 1.0, w)
    mean = np.stack([np.bincount(inverse, weights=ww * U[:, c], minlength=len(counts)) for c in range(U.shape[1])], axis=1)
    norm = np.bincount(inverse, weights=ww, minlength=len(counts))
    out = U.copy()
    out[dup] = (mean / norm[:, None])[inverse[dup]]
    return out


def lipschitz_regression(
    X, y, *, lam=None, lipschitz=None, loss="squared", p_x=2, p_y=2, weights=None, method="auto",
    solver=None, tol=1e-8, feasibility_tol=FEASIBILITY_TOL, gap_tol=GAP_TOL, verbose=False,
    method_options=None,
) -> LipschitzResult:
    r"""Minimize empirical loss plus lambda times the Lipschitz constant ([FCAO] eq. (2.7)).

    .. math::

        \min_{u \in \mathbb{R}^{n \times k},\, L \ge 0}\ \sum_{i=1}^n w_i\, \ell(u_i, y_i) + \lambda L
        \quad \text{s.t.}\quad \|u_i - u_j\|_{p_y} \le L\, \|x_i - x_j\|_{p_x}\ \ \forall i < j.

    By McShane/Whitney (scalar outputs) and Kirszbraun (Euclidean outputs) this finite program is
    exactly :math:`\min_u J_n[u]` over Lipschitz functions on X (DESIGN.md, "The core problem");
    with quadrature weights it solves the continuum problem (4.4) numerically.

    **Units.** The problem is solved in normalized units and mapped back
    (:mod:`lipconv.solvers._units`): X is centred on its bounding box and divided by its largest
    side; y (except for the cross-entropy) is centred on its range and divided by its largest
    component range s; lambda and the Huber threshold move with them. The answer is therefore
    equivariant: :math:`x \to c x`, :math:`y \to s y + b` (with lambda scaled as the loss
    requires) changes values, L and objective by exactly that change of units.

    **Exact degenerate answers.** When lambda is at least the price of a star transport of the
    constant's subgradient (:mod:`lipconv.solvers._constant`; this covers constant labels and
    coincident points), the minimizer is the constant (mean, median, Huber centre, mean label row)
    with L = 0, returned without a convex solve (``status = "constant"``) and with a zero
    certificate. Coincident points get one value (the program forces it).

    **At a fixed Lipschitz constant.** With ``lipschitz=L`` instead of ``lam`` the program is

    .. math:: \min_u \sum_i w_i\, \ell(u_i, y_i) \quad \text{s.t.}\quad \|u_i - u_j\|_{p_y} \le L\,
              \|x_i - x_j\|_{p_x}\ \ \forall i < j,

    the best training loss any L-Lipschitz function (any network with Lipschitz constant at most
    L in these norms) can reach on the data; ``lower_bound`` is then a certified lower bound of it
    (the L-part of the dual becomes a price, :func:`~lipconv.solvers._certificate.dual_bound`).
    L = 0 gives the constant; labels that are already L-Lipschitz are returned with loss 0
    (``status = "interpolation"``); ``objective`` equals ``loss_value`` and ``lam`` is None.

    **Certificate** (:mod:`lipconv.solvers._certificate`): ``max_violation``, the worst pair excess
    over all pairs relative to the label range, and ``relative_gap``, the duality gap of the full
    all-pairs program relative to the objective, from the final program's multipliers extended by
    zero. ``certified`` is True when both are within ``feasibility_tol`` and ``gap_tol``; a solve
    that is not certified emits a :class:`~lipconv.solvers.CertificateWarning` (or raises
    :class:`SolverError` when the convex solver also reported a failure).

    Parameters
    ----------
    X : array_like, shape (n, d) or (n,)
        Sample points (real); a 1-D array is n points on a line.
    y : array_like, shape (n,) or (n, k)
        Labels (rows on the simplex for the cross-entropy).
    lam : float
        Regularization weight lambda > 0, in the units of the objective per unit of L. Give
        exactly one of ``lam`` and ``lipschitz``.
    lipschitz : float, optional
        Solve at this fixed Lipschitz constant L >= 0 instead (no lambda; see above).
    loss : str or lipconv.losses.Loss
        "squared" (a QP), "absolute" (an LP), "huber", or "cross_entropy" ([FCAO] eq. (4.6), an
        exponential-cone program).
    p_x, p_y : {1, 2, inf}
        Norms on X and on Y (for k = 1 every p_y gives the absolute value).
    weights : array_like, shape (n,), optional
        Nonnegative weights summing to 1 (default 1/n each).
    method : {"auto", "pairs", "cutting-plane"}
        "pairs" is the reference: all n(n-1)/2 pairs in one vectorized program (adjacent pairs when
        d = 1, which is exactly equivalent). "cutting-plane" is the scalable exact method.
        "auto" uses "cutting-plane" (retrying "pairs", recorded in ``info["fallback"]``, if it
        fails with a SolverError at n <= 1,000), for every loss, norm and dimension: it was the faster from
        n = 20 on (e.g. cross-entropy, k = 3, n = 300: 0.5 s against 293 s; in d = 1 at n = 8,192:
        2.4 s against 47.5 s; the measurements are in ``_resolve_method``).
    solver : str, optional
        cvxpy solver for the convex programs (default "CLARABEL").
    tol : float
        Solver stopping tolerance (gap and feasibility of the normalized subproblems).
    feasibility_tol, gap_tol : float
        Tolerances of the two parts of the certificate (default 1e-6 each).
    verbose : bool
        Progress output of the iterative methods.
    method_options : dict, optional
        Keyword options of the cutting plane (:func:`lipconv.solvers._cutting_plane.solve_cutting_plane`),
        e.g. ``{"subproblem": "cvxpy"}`` for the cvxpy subproblems, ``{"coarsen": 0}`` for a cold
        start, ``{"backend": "numpy"}`` for the oracle.

    Returns
    -------
    LipschitzResult
        Values, L, objective, the lower bound and the two-part certificate.

    Raises
    ------
    ValueError
        On bad input (complex or non-finite data, mismatched lengths, lam <= 0, n < 2, unknown
        loss/norm/method).
    SolverError
        When the convex solver fails and its point is not certified.
    """
    if method == "auto":
        common = dict(lam=lam, lipschitz=lipschitz, loss=loss, p_x=p_x, p_y=p_y, weights=weights, solver=solver, tol=tol,
                      feasibility_tol=feasibility_tol, gap_tol=gap_tol, verbose=verbose)
        try:
            return lipschitz_regression(X, y, method="cutting-plane", method_options=method_options, **common)
        except SolverError as exc:
            # The one retry of "auto": the cutting plane's restricted programs can end without
            # progress where the all-pairs program does not (seen once: fixed L, k = 10 outputs,
            # n = 24, paper_figures/fig_lipschitz_frontier.py). All pairs is affordable only at small n.
            if np.shape(X)[0] > AUTO_FALLBACK_MAX_N:
                raise
            res = lipschitz_regression(X, y, method="pairs", **common)
            res.info["fallback"] = f"pairs (cutting plane: {exc})"
            return res
    t0 = time.perf_counter()
    if (lam is None) == (lipschitz is None):
        raise ValueError(f"give exactly one of lam and lipschitz, got lam = {lam!r}, lipschitz = {lipschitz!r}")
    if lipschitz is not None:
        lipschitz = check_positive(lipschitz, "lipschitz", allow_zero=True)
    X, Y, scalar, w, loss, lam, p_x, p_y = _check_problem(X, y, lam, loss, p_x, p_y, weights)
    n = X.shape[0]
    tol = check_positive(tol, "tol")
    feasibility_tol = check_positive(feasibility_tol, "feasibility_tol")
    gap_tol = check_positive(gap_tol, "gap_tol")
    solver = "CLARABEL" if solver is None else str(solver).upper()
    if solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {_SOLVERS}, got {solver!r}")
    method = _resolve_method(method, n, X.shape[1])
    options = _check_method_options(method, method_options)

    prob = _normalized_problem(X, Y, w, loss, lam, p_x, p_y, fixed_L=lipschitz)
    const, units = prob.const, prob.units
    if prob.fixed_L is not None:
        return _solve_fixed(prob, method, options, scalar=scalar, X=X, Y=Y, solver=solver, tol=tol, verbose=verbose,
                            feasibility_tol=feasibility_tol, gap_tol=gap_tol, t0=t0)
    # lam_star: the price of the star transport, in the user's units (lam >= lam_star: constant).
    info: dict = {"units": units, "lam_star": const.lam_star * units.lam_scale, "constant": False}
    transport = None
    if const.lam_star > prob.lam >= critical_lower_bound(prob.X, const.G, p_y=p_y):
        transport = critical_transport(prob.X, const.G, p_x=p_x, p_y=p_y)
        if transport is not None and (Y.shape[1] == 1 or p_y == np.inf):  # exact there (see _constant)
            info["lam_critical"] = transport[3] * units.lam_scale
    if prob.lam >= const.lam_star or (transport is not None and prob.lam >= transport[3]):
        method, status, n_pairs = "constant", "constant", 0
        values_n, L_n, excess = prob.constant_values(), 0.0, 0.0
        duals = [] if transport is None else [transport[:3]]
    else:
        J_ref = _objective_reference(prob.X, prob.Y, prob.lam, const.loss_value, p_x=p_x, p_y=p_y)
        raw = _METHOD_SOLVERS[method](
            prob.X, prob.Y, w, prob.loss, prob.lam, p_x=p_x, p_y=p_y, solver=solver, tol=tol, verbose=verbose,
            objective_scale=n / J_ref, **options,
        )
        info.update(raw.info)
        status, n_pairs = raw.status, int(raw.n_pairs)
        values_n = _finish_raw(prob, raw, method, n, loss.name, solver)
        # The smaller of the solver's L and the tightest L of its pairs (see _cutting_plane): the
        # first can be far too large at tiny lam, the second too large by round-off over short pairs.
        L_n = min(float(raw.lipschitz), lipschitz_on_pairs(prob.X, values_n, raw.i, raw.j, p_x=p_x, p_y=p_y, oriented=raw.oriented))
        duals = [] if raw.multipliers is None else [(raw.i, raw.j, raw.multipliers)]
        reuse = raw.max_excess is not None and values_n is raw.values and L_n == raw.lipschitz
        excess = raw.max_excess if reuse else None  # the method's last oracle scan was this exact scan
        if const.loss_value <= prob.objective(values_n, L_n):
            # At or just above the critical lam the solver returns the constant up to noise: the
            # exact constant is feasible for every pair and no worse.
            values_n, L_n, excess = prob.constant_values(), 0.0, 0.0
            info["constant"] = True
    cert = _certify_normalized(prob, values_n, L_n, duals, excess)
    info["constant"] = info["constant"] or status == "constant"
    result = LipschitzResult(
        values=units.values(values_n), lipschitz=units.lipschitz(L_n), objective=units.objective(cert.objective),
        loss_value=units.objective(cert.loss_value), status=status, max_violation=cert.max_violation,
        solve_time=time.perf_counter() - t0, method=method, solver=solver, n_pairs=n_pairs, X=X, lam=lam,
        p_x=p_x, p_y=p_y, scalar=scalar, info=info, lower_bound=units.objective(cert.lower_bound),
        relative_gap=cert.relative_gap, feasibility_tol=feasibility_tol, gap_tol=gap_tol,
        dual=prob.dual_to_user(cert.dual),
    )
    return _warn_uncertified(result, solver)


def _warn_uncertified(result: LipschitzResult, solver: str) -> LipschitzResult:
    """Warn (CertificateWarning) about an uncertified result; raise SolverError when the convex
    solver also reported a failure."""
    if not result.certified:
        message = (
            f"{result.method} solve (status {result.status!r}, n = {result.X.shape[0]}) is not certified: "
            f"max_violation = {result.max_violation:.3g} (tolerance {result.feasibility_tol:g}), relative_gap = "
            f"{result.relative_gap:.3g} (tolerance {result.gap_tol:g})"
        )
        if result.status not in ("optimal", "constant", "interpolation"):
            raise SolverError(f"{solver} ended with status {result.status!r}; {message}")
        warnings.warn(message, CertificateWarning, stacklevel=3)
    return result


def _finish_raw(prob, raw, method, n, loss_name, solver):
    """Check a method's raw solution and post-process its values (coincident points snapped, the
    simplex exact for the cross-entropy)."""
    if raw.values is None or raw.status not in _ACCEPTED:
        raise SolverError(
            f"{solver} ended with status {raw.status!r} (method {method!r}, n = {n}, k = {prob.Y.shape[1]}, "
            f"pairs = {raw.n_pairs}, loss {loss_name!r})"
        )
    values_n = _snap_duplicates(prob.X, raw.values, prob.w)
    if prob.loss.name == "cross_entropy":  # the simplex up to the solver's tolerance, exactly
        values_n = np.clip(values_n, 0.0, None)
        values_n /= values_n.sum(axis=1, keepdims=True)
    return values_n


def _solve_fixed(prob, method, options, *, scalar, X, Y, solver, tol, verbose, feasibility_tol, gap_tol, t0):
    """lipschitz_regression at a fixed L (normalized ``prob.fixed_L``): L = 0 gives the constant,
    L-Lipschitz labels themselves (exact, loss 0), else a convex solve; certified alike."""
    units, const, n = prob.units, prob.const, X.shape[0]
    L = prob.fixed_L
    info: dict = {"units": units, "constant": False}
    if L == 0.0:
        method, status, n_pairs, values_n = "constant", "constant", 0, prob.constant_values()
        duals, excess = [(const.i, const.j, const.multipliers)], 0.0
        info["constant"] = True
    elif scan_pairs(prob.X, prob.Y, L, p_x=prob.p_x, p_y=prob.p_y).max_excess == 0.0:
        method, status, n_pairs, values_n, duals, excess = "interpolation", "interpolation", 0, prob.Y.copy(), [], 0.0
    else:
        J_ref = _objective_reference(prob.X, prob.Y, 0.0, const.loss_value, p_x=prob.p_x, p_y=prob.p_y, fixed_L=L)
        raw = _METHOD_SOLVERS[method](
            prob.X, prob.Y, prob.w, prob.loss, 0.0, p_x=prob.p_x, p_y=prob.p_y, solver=solver, tol=tol,
            verbose=verbose, objective_scale=n / J_ref, fixed_L=L, **options,
        )
        info.update(raw.info)
        status, n_pairs = raw.status, int(raw.n_pairs)
        values_n = _finish_raw(prob, raw, method, n, prob.loss.name, solver)
        duals = [] if raw.multipliers is None else [(raw.i, raw.j, raw.multipliers)]
        reuse = raw.max_excess is not None and values_n is raw.values and raw.lipschitz == L
        excess = raw.max_excess if reuse else None
        info["lipschitz_of_values"] = units.lipschitz(
            lipschitz_on_pairs(prob.X, values_n, raw.i, raw.j, p_x=prob.p_x, p_y=prob.p_y, oriented=raw.oriented))
    cert = _certify_normalized(prob, values_n, L, duals, excess)
    result = LipschitzResult(
        values=Y.copy() if status == "interpolation" else units.values(values_n), lipschitz=units.lipschitz(L),
        objective=units.objective(cert.objective),
        loss_value=units.objective(cert.loss_value), status=status, max_violation=cert.max_violation,
        solve_time=time.perf_counter() - t0, method=method, solver=solver, n_pairs=n_pairs, X=X, lam=None,
        p_x=prob.p_x, p_y=prob.p_y, scalar=scalar, info=info, lower_bound=units.objective(cert.lower_bound),
        relative_gap=cert.relative_gap, feasibility_tol=feasibility_tol, gap_tol=gap_tol,
        dual=prob.dual_to_user(cert.dual),
    )
    return _warn_uncertified(result, solver)


def _check_problem(X, y, lam, loss, p_x, p_y, weights):
    X = check_points(X, "X", min_rows=2)
    n = X.shape[0]
    Y, scalar = check_values(y, n, "y")
    lam = None if lam is None else check_positive(lam, "lam")
    loss = get_loss(loss)
    if loss.name == "cross_entropy":
        check_simplex_labels(Y, "y")
    p_x = check_norm(p_x, "p_x")
    p_y = check_norm(p_y, "p_y")
    w = _check_weights(weights, n)
    return X, Y, scalar, w, loss, lam, p_x, p_y


@dataclass(frozen=True)
class _Normalized:
    """The problem in normalized units (:mod:`._units`) with its constant solution and label box."""

    X: np.ndarray
    Y: np.ndarray
    w: np.ndarray
    loss: object
    lam: float
    units: object
    p_x: float
    p_y: float
    const: object
    fixed_L: float | None = None

    def constant_values(self) -> np.ndarray:
        return np.broadcast_to(self.const.c, self.Y.shape).copy()

    def loss_value(self, U) -> float:
        return float(self.w @ self.loss.value(U, self.Y))

    def objective(self, U, L) -> float:
        """J(U, L); at a fixed L only the loss."""
        return self.loss_value(U) + (0.0 if self.fixed_L is not None else self.lam * float(L))

    def lower_bound(self, i, j, M) -> float:
        lo, hi = self.Y.min(axis=0), self.Y.max(axis=0)
        return dual_bound(self.X, self.Y, self.w, self.loss, self.lam, i, j, M, p_x=self.p_x, p_y=self.p_y, lo=lo, hi=hi,
                          fixed_L=self.fixed_L)

    def dual_to_user(self, dual):
        """Multipliers to the user's units: the Lagrangian term :math:`\\langle \\Lambda, u_a - u_b\\rangle`
        keeps its value when :math:`\\Lambda = (\\sigma / s) \\Lambda'` (objective scale sigma, label scale s)."""
        if dual is None:
            return None
        i, j, M = dual
        return i, j, M * (self.units.objective_scale / self.units.y_scale)

    def dual_from_user(self, dual):
        i, j, M = dual
        return np.asarray(i, dtype=np.int64), np.asarray(j, dtype=np.int64), np.asarray(M, dtype=float) * (
            self.units.y_scale / self.units.objective_scale
        )


def _normalized_problem(X, Y, w, loss, lam, p_x, p_y, fixed_L=None) -> _Normalized:
    """The problem in normalized units; ``lam`` None with ``fixed_L`` (user units) for the fixed-L
    program."""
    Xn, Yn, loss_n, lam_n, units = normalize(X, Y, loss, 1.0 if lam is None else lam)
    const = constant_solution(Xn, Yn, w, loss_n, p_x=p_x, p_y=p_y)
    if fixed_L is not None:
        return _Normalized(Xn, Yn, w, loss_n, 0.0, units, p_x, p_y, const, float(fixed_L) * units.x_scale / units.y_scale)
    return _Normalized(Xn, Yn, w, loss_n, lam_n, units, p_x, p_y, const)


@dataclass(frozen=True)
class _NormalizedCertificate:
    objective: float
    loss_value: float
    lower_bound: float
    relative_gap: float
    max_violation: float
    dual: tuple | None


def _certify_normalized(prob: _Normalized, U, L, duals, max_excess=None) -> _NormalizedCertificate:
    """Both parts of the certificate of (U, L) in normalized units (:mod:`._certificate`): the
    exact all-pairs excess (or the caller's exact scan of the same point), and the best lower bound
    among the given multipliers and the constant's star transport."""
    loss_value = prob.loss_value(U)
    upper = loss_value + prob.lam * float(L)
    const = prob.const
    k = prob.Y.shape[1]
    empty = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros((0, k)))  # D = 0
    candidates = [(const.i, const.j, const.multipliers), empty] + list(duals)
    bounds = [prob.lower_bound(*d) for d in candidates]
    best = int(np.argmax(bounds))
    # The given multipliers are kept when they certify as well up to rounding: on tiny problems (two
    # samples) the star transport is the program's own dual and wins the tie by 1e-12, which left
    # ``dual`` empty although the solve had its multipliers.
    own = [r for r in range(2, len(bounds)) if bounds[r] >= bounds[best] - 1e-9 * abs(bounds[best])]
    if own:
        best = max(own, key=lambda r: bounds[r])
    if max_excess is None:
        max_excess = violation_scan(prob.X, U, L, p_x=prob.p_x, p_y=prob.p_y, scale=1.0)
    return _NormalizedCertificate(
        objective=upper, loss_value=loss_value, lower_bound=bounds[best],
        relative_gap=relative_gap(upper, bounds[best]), max_violation=float(max_excess),
        dual=candidates[best] if best > 1 else None,
    )


def certify(
    X, y, values, *, lam=None, lipschitz=None, loss="squared", p_x=2, p_y=2, weights=None, dual=None,
    feasibility_tol=FEASIBILITY_TOL, gap_tol=GAP_TOL,
) -> Certificate:
    r"""The two-part certificate of any candidate point (values, L) of [FCAO] eq. (2.7).

    Feasibility: :math:`\max_{i<j}(\|u_i - u_j\|_{p_y} - L \|x_i - x_j\|_{p_x})_+ / s` over all
    pairs, s the largest label range. Optimality: :math:`(J(u, L) - D(\Lambda)) / J(u, L)` with the
    weak-duality lower bound D of :mod:`lipconv.solvers._certificate`, from the multipliers
    ``dual`` (those of a :class:`LipschitzResult`, or your own) or, without them, from the
    constant's star transport only (which is tight only at or above the critical lambda). Use it to
    judge a point from elsewhere, e.g. a neural network's values on the samples, against the
    optimum. Without ``lam`` it certifies a candidate of the fixed-L program (``lipschitz`` is then
    the constraint's L and the objective is the loss; see :func:`lipschitz_regression`).

    Parameters
    ----------
    X, y, lam, loss, p_x, p_y, weights
        The problem, as in :func:`lipschitz_regression`.
    values : array_like, shape (n,) or (n, k)
        The candidate's values on the samples.
    lipschitz : float, optional
        Its L (default: the exact Lipschitz constant of ``values`` on X, an O(n^2) dense scan);
        required without ``lam``.
    dual : LipschitzResult or tuple (i, j, multipliers), optional
        Pair multipliers in the user's units, shape (P, k), oriented as
        :math:`\langle \Lambda_r, u_{i_r} - u_{j_r}\rangle` (``LipschitzResult.dual``).
    feasibility_tol, gap_tol : float

    Returns
    -------
    Certificate
    """
    if lam is None and lipschitz is None:
        raise ValueError("certify needs lam (the penalized program) or lipschitz (the fixed-L program), got neither")
    X, Y, _, w, loss, lam, p_x, p_y = _check_problem(X, y, lam, loss, p_x, p_y, weights)
    U, _ = check_values(values, X.shape[0], "values")
    if U.shape != Y.shape:
        raise ValueError(f"values must have the shape of y, {Y.shape}, got {U.shape}")
    if lipschitz is None:
        from ..extension import lipschitz_constant

        lipschitz = lipschitz_constant(X, U, p_x=p_x, p_y=p_y)
    lipschitz = check_positive(lipschitz, "lipschitz", allow_zero=True)
    prob = _normalized_problem(X, Y, w, loss, lam, p_x, p_y, fixed_L=lipschitz if lam is None else None)
    units = prob.units
    Un = (U - units.y_center) / units.y_scale
    Ln = lipschitz * units.x_scale / units.y_scale
    if isinstance(dual, LipschitzResult):
        dual = dual.dual
    duals = [] if dual is None else [prob.dual_from_user(_check_dual(dual, *Y.shape))]
    cert = _certify_normalized(prob, Un, Ln, duals)
    return Certificate(
        objective=units.objective(cert.objective), lower_bound=units.objective(cert.lower_bound),
        relative_gap=cert.relative_gap, max_violation=cert.max_violation,
        feasibility_tol=check_positive(feasibility_tol, "feasibility_tol"),
        gap_tol=check_positive(gap_tol, "gap_tol"),
    )


def _check_dual(dual, n: int, k: int) -> tuple:
    """``dual`` as (i, j, M): index arrays of equal length P in [0, n) and finite real multipliers of
    shape (P, k) ((P,) accepted for k = 1); a ``ValueError`` naming ``dual`` otherwise."""
    if not isinstance(dual, (tuple, list)) or len(dual) != 3:
        raise ValueError(f"dual must be a LipschitzResult or a tuple (i, j, multipliers), got {type(dual).__name__}"
                         + (f" of length {len(dual)}" if isinstance(dual, (tuple, list)) else ""))
    i = check_indices(dual[0], "dual's i", size=n)
    j = check_indices(dual[1], "dual's j", size=n)
    M = check_real(dual[2], "dual's multipliers")
    if M.ndim == 1 and k == 1:
        M = M[:, None]
    if i.shape != j.shape or M.shape != (i.size, k):
        raise ValueError(f"dual must hold i and j of one length P and multipliers of shape (P, k = {k}), got "
                         f"lengths {i.size} and {j.size} and multipliers of shape {M.shape}")
    return i, j, M


def kantorovich_dual(X, c, *, p=2, solver=None):
    r"""Kantorovich–Rubinstein dual: :math:`\sup\{\sum_i c_i w_i : |w_i - w_j| \le \|x_i - x_j\|_p\}`.

    For two discrete measures :math:`a, b` on the points X and :math:`c = a - b`, the value is
    :math:`W_1(a, b)` (the discrepancy of [FCAO] Lemma 4.10 with L = 1). Solved as an LP over the
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
