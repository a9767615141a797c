r"""Error metrics of u_n against u^lambda ([FCAO] Theorem 4.8, Corollary 4.9, Lemma 4.12).

Off the samples, u_n is ANY Lipschitz extension of its sample values with the same constant L_n
(DESIGN.md, "Every minimizer"), and the theorems bound every one of them. For scalar outputs all lie
between the Whitney (lower) and McShane (upper) envelopes, both minimizers themselves; so the
metrics are measured for the midpoint extension and for both envelopes, and the verdicts use the
worst (``l2sq``, ``linf_lo``, ``linf_hi``).

With an exact reference (a function of the label coordinate, :class:`lipconv.rates.Problem`):

* :math:`\|\bar u_n - u^\lambda\|^2_{L^2(\rho)}` on a stratified random sample of rho
  (:meth:`lipconv.manifolds.Manifold.stratified`), unbiased, with its standard error
  (:func:`lipconv.manifolds._base.stratified_error`); the sample grows (doubling from
  ``max(4096, 4 n)`` points) until the standard error is below ``rtol_l2`` / 2 of the value or
  ``max_error_points`` is reached, and the relative standard error is reported;
* :math:`\sup_M |\bar u_n - u^\lambda|` as a certified bracket [lo, hi]
  (:meth:`lipconv.manifolds.Manifold.lipschitz_sup`): the error is
  :math:`(L_n + \mathrm{Lip}(u^\lambda))`-Lipschitz, the first grid holds the boundary of M (faces,
  edges, corners of the cube) and the kinks of :math:`u^\lambda`, and cells that could hold a larger
  value are refined until hi is within ``rtol_sup`` of lo;
* :math:`J[\bar u_n] - J[u^\lambda]` (the paired stratified estimate of
  :math:`\mathbb{E}[\ell(\bar u_n, y) - \ell(u^\lambda, y)] + \lambda(L_n - \mathrm{Lip}(u^\lambda))`, with
  its standard error), and Lemma 4.12,
  :math:`J[\bar u_n] - J[u^\lambda] \ge \frac\theta2 \|\bar u_n - u^\lambda\|^2_{L^2(\rho)}`, for each
  extension: ``lemma412`` is the largest ratio of the right side to the left side plus two standard
  errors (<= 1 when the lemma holds within the estimate's error);
* the error at the samples alone, :math:`\frac1n \sum_i |u_n(x_i) - u^\lambda(x_i)|^2`, which
  carries no extension (the parametric part of the error; DESIGN.md, "Where the fast rates come from").

For vector outputs (one-hot or soft labels, the cross-entropy; Euclidean norms on X and Y) there
are no envelopes: the minimizers' extensions are the L_n-Lipschitz maps through the sample values,
and every one of them obeys, pointwise,

.. math:: \|\bar u_n(x) - u^\lambda(x)\| \le B(x) = \min_i \big(\|u_i - u^\lambda(x)\| + L_n \|x - x_i\|\big)

(the triangle inequality through each sample). B is :math:`(L_n + \mathrm{Lip}(u^\lambda))`-Lipschitz,
so its L2 estimate and its certified sup bracket are measured as above and bound the errors of
EVERY minimizer: ``l2sq`` and ``linf_lo/hi`` are B's (``l2sq_worst`` "bound"), upper bounds of the
worst extension's errors (B exceeds the error at the nearest sample by at most
:math:`L_n + \mathrm{Lip}(u^\lambda)` times the distance to it). The error at the
samples is every extension's. J and Lemma 4.12 need one extension and are not measured (nan).

A method whose result certifies an upper bound of the Lipschitz constant of its own function on the
box X (``lipschitz_upper``, a trained network: :class:`lipconv.neural.NeuralResult`) returns a
function defined everywhere, not only sample values; its errors are then those of the function
itself, measured beside the worst extension of its sample values (which the theorems bound for any
minimizer with those values): ``l2sq_function`` with its standard error on the same stratified
sample, and the certified bracket ``linf_function_lo/hi``, whose cells are judged with that bound
plus :math:`\mathrm{Lip}(u^\lambda)` (segments between points of M stay in the convex box X).

With a quadrature reference the errors are measured on its nodes (no sup bracket).
"""
from __future__ import annotations

import numpy as np

from .._validation import check_int, check_points, check_positive, check_real, check_values
from ..discrepancy import discrepancy_bound

__all__ = ["error_metrics", "theorem_bounds", "EXTENSIONS", "extension_error_bound", "extension_l2"]

EXTENSIONS = ("midpoint", "mcshane", "whitney")


def _extensions(X, u, L, p, x) -> dict:
    """The three L-Lipschitz extensions of the scalar sample values u (on X, norm p) at points x."""
    from ..extension import mcshane, whitney

    up, lo = mcshane(X, u, x, L=L, p=p), whitney(X, u, x, L=L, p=p)
    return {"midpoint": 0.5 * (up + lo), "mcshane": up, "whitney": lo}


def _sample_values(result, X):
    """The minimizer's values at the samples: ``result.values`` where the method gives them
    (the method-runner protocol, :mod:`lipconv.rates._methods`), else ``result.predict(X)``."""
    values = getattr(result, "values", None)
    return result.predict(X) if values is None else values


def _function_bound(result, problem):
    """A Lipschitz constant of predict - u^lambda on the box X, from the method's certified
    ``lipschitz_upper`` (a network's), or None when the method certifies none.

    A segment between two points of M lies in X (a box, convex), so the constant holds for every
    pair of points of M, whatever cell of a sup bracket they share."""
    upper = getattr(result, "lipschitz_upper", None)
    if upper is None or not np.isfinite(float(upper)):
        return None
    return float(upper) + problem.lipschitz_ref


def error_metrics(result, problem, *, X, y, seed: int, rtol_l2: float = 0.05, rtol_sup: float = 0.05,
                  max_error_points: int = 1 << 20, max_sup_evals: int = 400_000) -> dict:
    r"""Errors of the extensions of u_n (``result``, a :class:`lipconv.solvers.LipschitzResult` or
    any result of the method-runner protocol, :mod:`lipconv.rates._methods`: ``predict``,
    ``lipschitz``, ``objective``, and optionally ``values``, ``p_x``, ``lipschitz_upper``) against
    :math:`u^\lambda` (module docstring).

    Parameters
    ----------
    result
        The solve on the samples X (n, d) with labels y.
    problem : lipconv.rates.Problem
    X, y : ndarray
        The samples and their labels (for the error at the samples).
    seed : int
        Seed of the stratified samples (recorded by the sweep).
    rtol_l2, rtol_sup : float
        Targets: relative standard error (halved, for margin) of the L2 estimate, relative width
        of the sup bracket.
    max_error_points, max_sup_evals : int
        Budgets of the two (the midpoint's sup bracket gets a quarter of ``max_sup_evals``; the
        verdicts use the envelopes' bracket, which gets all of it).

    Returns
    -------
    dict
        ``l2sq_<kind>``, ``l2sq`` (worst), ``l2sq_se`` (its standard error), ``l2sq_rel_se``,
        ``n_error`` (points used), ``linf_mid_lo``, ``linf_mid_hi``, ``linf_lo``, ``linf_hi`` (worst
        envelope), ``sup_evals``, ``J_un`` (worst extension), ``excess_J``, ``excess_J_se``,
        ``lemma412``, ``l2sq_samples``, ``gap_Jn``; with a quadrature reference the nodes' values.
        With a certified ``lipschitz_upper``: ``l2sq_function``, ``l2sq_function_se``,
        ``linf_function_lo``, ``linf_function_hi`` (the returned function's own errors).
    """
    from ..losses import get_loss
    from ._problems import Problem

    if not isinstance(problem, Problem):
        raise ValueError(f"problem must be a lipconv.rates.Problem (make_problem), got {type(problem).__name__}")
    missing = [a for a in ("predict", "lipschitz", "objective") if not hasattr(result, a)]
    if missing:
        raise ValueError(f"result must follow the method-runner protocol (predict, lipschitz, objective; a "
                         f"LipschitzResult), got {type(result).__name__} without {missing}")
    X = check_points(X, "X")
    L = check_positive(result.lipschitz, "result.lipschitz", allow_zero=True)
    vals = check_real(_sample_values(result, X), "result.values")
    if vals.ndim not in (1, 2) or vals.shape[0] != X.shape[0]:
        raise ValueError(f"X must hold the samples of the result's {vals.shape[0]} values, got {X.shape[0]} rows")
    vals = vals.reshape(X.shape[0], -1)
    check_values(y, X.shape[0], "y")
    seed = check_int(seed, "seed", minimum=0)
    rtol_l2, rtol_sup = check_positive(rtol_l2, "rtol_l2"), check_positive(rtol_sup, "rtol_sup")
    max_error_points = check_int(max_error_points, "max_error_points", minimum=4096)
    max_sup_evals = check_int(max_sup_evals, "max_sup_evals", minimum=1000)
    loss = get_loss(problem.loss)
    lam = problem.lam
    p_x = float(getattr(result, "p_x", 2.0))
    out: dict = {"gap_Jn": abs(float(result.objective) - problem.J_ref)}
    fn_bound = _function_bound(result, problem)
    if vals.shape[1] != 1:
        if not problem.exact:
            raise ValueError(f"error_metrics needs an exact reference for vector outputs, got {problem.ref_kind!r}")
        return {**out, **_vector_metrics(result, problem, vals, L, X=X, seed=seed, rtol_l2=rtol_l2, rtol_sup=rtol_sup,
                                         max_error_points=max_error_points, max_sup_evals=max_sup_evals)}
    if not problem.exact:
        return {**out, **_node_metrics(result, problem, loss, X, vals[:, 0], L, p_x)}
    M = problem.manifold()
    label = problem.label()
    out["l2sq_samples"] = float(np.mean((vals[:, 0] - problem.u_ref(X)) ** 2))

    from ..manifolds._base import stratified_error

    x, w, strata, ref, ext, l2_out = extension_l2(
        X, vals[:, 0], L, M, problem.u_ref, p_x=p_x, seed=seed, rtol_l2=rtol_l2, max_error_points=max_error_points,
        function=None if fn_bound is None else result.predict)
    out.update(l2_out)
    yx = label.on(M, x)
    l2, worst = {k: l2_out[f"l2sq_{k}"] for k in EXTENSIONS}, l2_out["l2sq_worst"]
    # J of each extension and Lemma 4.12, from the paired differences on the same sample:
    # J[u] - J[u^lam] = E[l(u, y) - l(u^lam, y)] + lam (L_n - Lip(u^lam)), whose estimate has the spread
    # of the difference, not of J itself (at m = 1, n = 1,024 the difference is 1e-4 of J).
    ell_ref = loss.value(ref, yx)
    ratios, excess_worst, excess_se = [], None, None
    for k, v in ext.items():
        diff = loss.value(v, yx) - ell_ref
        excess = float(w @ diff) + lam * (L - problem.lipschitz_ref)
        se_k = stratified_error(diff, w, strata)
        # Lemma 4.12 at its most favourable reading within two standard errors of the estimate.
        upper = excess + 2.0 * se_k
        ratios.append(0.5 * problem.theta * l2[k] / upper if upper > 0 else (np.inf if l2[k] > 0 else 0.0))
        if k == worst:
            excess_worst, excess_se = excess, se_k
    out.update(J_un=problem.J_ref + excess_worst, excess_J=excess_worst, excess_J_se=excess_se,
               lemma412=float(max(ratios)) if problem.theta > 0 else float("nan"))
    # Certified sup brackets: the midpoint, and the worse of the two envelopes.
    Le = L + problem.lipschitz_ref
    budget = dict(t_extra=problem.kinks, rtol=rtol_sup, N0=4096, max_evals=max_sup_evals)

    def err_mid(z):
        return _extensions(X, vals[:, 0], L, p_x, z)["midpoint"] - problem.u_ref(z)

    def err_env(z):
        e = _extensions(X, vals[:, 0], L, p_x, z)
        r = problem.u_ref(z)
        return np.maximum(np.abs(e["mcshane"] - r), np.abs(e["whitney"] - r))

    env_lo, env_hi, ev2 = M.lipschitz_sup(err_env, Le, **budget)
    # The midpoint's bracket is reported beside the verdicts' (the worst envelope's), at a quarter of
    # the budget: at m = 3, 4 and n = 8,192 the two brackets were 70 % of a run's time.
    mid_lo, mid_hi, ev1 = M.lipschitz_sup(err_mid, Le, **{**budget, "max_evals": max(1000, max_sup_evals // 4)})
    out.update(linf_mid_lo=mid_lo, linf_mid_hi=mid_hi, linf_lo=env_lo, linf_hi=env_hi, sup_evals=int(ev1 + ev2))
    if fn_bound is not None:
        out.update(_function_sup(result, problem, M, fn_bound, budget))
        out["sup_evals"] += out.pop("function_evals")
    return out


def _function_sup(result, problem, M, fn_bound, budget) -> dict:
    """The returned function's certified sup bracket (module docstring)."""
    def err(z):
        return np.asarray(result.predict(z), dtype=float).reshape(z.shape[0], -1) - problem.u_ref(z).reshape(z.shape[0], -1)

    lo, hi, evals = M.lipschitz_sup(err, fn_bound, **budget)
    return {"linf_function_lo": lo, "linf_function_hi": hi, "function_evals": int(evals)}


def extension_l2(X, values, L: float, manifold, target, *, p_x: float = 2.0, seed: int, rtol_l2: float = 0.05,
                 max_error_points: int = 1 << 20, function=None):
    r""":math:`\|\bar u_n - v\|^2_{L^2(\rho)}` of the midpoint and both envelope extensions of the
    scalar sample values (L-Lipschitz in the norm ``p_x``) against a target v, on a stratified random
    sample of rho (:meth:`lipconv.manifolds.Manifold.stratified`: an unbiased estimate, with its
    standard error), doubled from ``max(4096, 4 n)`` points until the worst extension's relative
    standard error (and the function's, when given) is at most ``rtol_l2`` / 2 or
    ``max_error_points`` is reached.

    Parameters
    ----------
    X : ndarray (n, d)
        The samples.
    values : ndarray (n,)
        The minimizer's scalar values at the samples.
    L : float
        The Lipschitz constant of the extensions (the solve's).
    manifold : lipconv.manifolds.Manifold
    target : callable
        v at ambient points (N, d) -> (N,): :math:`u^\lambda` or the regression function.
    p_x : float
        The norm of the extensions.
    seed : int
        Seed of the stratified sample (with n: the stream ``[seed, n, 12]``).
    rtol_l2 : float
        Target relative standard error (halved, for margin).
    max_error_points : int
        Largest stratified sample.
    function : callable, optional
        A function defined everywhere (a network's ``predict``), whose own error is estimated on
        the same sample.

    Returns
    -------
    tuple
        (x, w, strata, v(x), the extensions at x by name, a dict with ``l2sq_<kind>``, ``l2sq``
        (worst), ``l2sq_se``, ``l2sq_rel_se``, ``l2sq_worst``, ``n_error`` and, with ``function``,
        ``l2sq_function`` and ``l2sq_function_se``).
    """
    from ..manifolds._base import stratified_error

    n = X.shape[0]
    N = max(4096, 4 * n)
    rng = np.random.default_rng([int(seed), n, 12])
    while True:
        x, w, strata = manifold.stratified(N, rng)
        ref = target(x)
        ext = _extensions(X, values, L, p_x, x)
        sq = {k: (v - ref) ** 2 for k, v in ext.items()}
        if function is not None:
            sq["function"] = (np.asarray(function(x), dtype=float).reshape(-1) - ref) ** 2
        l2 = {k: float(w @ s) for k, s in sq.items()}
        se = {k: stratified_error(s, w, strata) for k, s in sq.items()}
        worst = max(EXTENSIONS, key=l2.get)
        rel = {k: se[k] / l2[k] if l2[k] > 0 else 0.0 for k in l2}
        if max(rel[worst], rel.get("function", 0.0)) <= 0.5 * rtol_l2 or 2 * N > max_error_points:
            break
        N *= 2
    out = {f"l2sq_{k}": l2[k] for k in EXTENSIONS}
    out.update(l2sq=l2[worst], l2sq_se=se[worst], l2sq_rel_se=rel[worst], l2sq_worst=worst, n_error=int(x.shape[0]))
    if function is not None:
        out.update(l2sq_function=l2["function"], l2sq_function_se=se["function"])
    return x, w, strata, ref, ext, out


def extension_error_bound(X, U, L: float, x, v, *, k_near: int = 32) -> np.ndarray:
    r""":math:`B(x) = \min_i (\|U_i - v(x)\|_2 + L \|x - X_i\|_2)` at each row of x (v: the values of
    the reference there), an upper bound on :math:`\|\bar u(x) - v(x)\|` for every L-Lipschitz
    :math:`\bar u` through (X, U) (module docstring).

    Exact: the minimum over the ``k_near`` nearest samples (scipy's KD-tree), which is the minimum
    over all whenever it is at most L times the distance to the k-th nearest (every other term is
    at least that); the remaining rows take the minimum over every sample, in blocks. The value
    distances are differences taken entry by entry (scipy's ``cdist``), never through
    :math:`\|a\|^2 - 2 a \cdot b + \|b\|^2`, which loses every digit of a small distance between large
    values (values offset by 1e8 gave a bound 0.3 below the exact one)."""
    from scipy.spatial import cKDTree

    from .._pairwise import distance_blocks, pairwise_distances

    X, U, x, v = (check_points(a, name) for a, name in ((X, "X"), (U, "U"), (x, "x"), (v, "v")))
    if U.shape[0] != X.shape[0] or v.shape[0] != x.shape[0]:
        raise ValueError(f"U must have one row per row of X and v one per row of x, got {U.shape[0]} for "
                         f"{X.shape[0]} and {v.shape[0]} for {x.shape[0]}")
    if x.shape[1] != X.shape[1] or v.shape[1] != U.shape[1]:
        raise ValueError(f"x must have d = {X.shape[1]} columns and v k = {U.shape[1]}, got {x.shape[1]} and {v.shape[1]}")
    L = check_positive(L, "L", allow_zero=True)
    kk = min(check_int(k_near, "k_near", minimum=1), X.shape[0])
    dist, idx = cKDTree(X).query(x, k=kk)
    dist, idx = dist.reshape(x.shape[0], kk), idx.reshape(x.shape[0], kk)
    terms = np.linalg.norm(U[idx] - v[:, None, :], axis=2) + L * dist
    B = terms.min(axis=1)
    open_rows = np.flatnonzero(B > L * dist[:, -1]) if kk < X.shape[0] else np.array([], dtype=int)
    if open_rows.size:
        xr, vr = x[open_rows], v[open_rows]
        for a, b, D in distance_blocks(xr, X):
            B[open_rows[a:b]] = (pairwise_distances(vr[a:b], U) + L * D).min(axis=1)
    return B


def _vector_metrics(result, problem, vals, L, *, X, seed, rtol_l2, rtol_sup, max_error_points, max_sup_evals) -> dict:
    """The errors of vector outputs through the bound B of every extension (module docstring)."""
    from ..manifolds._base import stratified_error

    p_x, p_y = getattr(result, "p_x", 2.0), getattr(result, "p_y", 2.0)
    if p_x != 2.0 or p_y != 2.0:
        raise ValueError(f"error_metrics for vector outputs needs Euclidean norms (p_x = p_y = 2), got p_x = {p_x}, "
                         f"p_y = {p_y}")
    M = problem.manifold()
    n = X.shape[0]
    out = {"l2sq_samples": float(np.mean(((vals - problem.u_ref(X).reshape(n, -1)) ** 2).sum(axis=1)))}
    N = max(4096, 4 * n)
    rng = np.random.default_rng([int(seed), n, 12])
    fn_bound = _function_bound(result, problem)
    while True:
        x, w, strata = M.stratified(N, rng)
        ref = problem.u_ref(x).reshape(x.shape[0], -1)
        sq = extension_error_bound(X, vals, L, x, ref) ** 2
        l2, se = float(w @ sq), stratified_error(sq, w, strata)
        rel = se / l2 if l2 > 0 else 0.0
        rel_fn = 0.0
        if fn_bound is not None:
            sq_fn = ((np.asarray(result.predict(x), dtype=float).reshape(x.shape[0], -1) - ref) ** 2).sum(axis=1)
            l2_fn, se_fn = float(w @ sq_fn), stratified_error(sq_fn, w, strata)
            rel_fn = se_fn / l2_fn if l2_fn > 0 else 0.0
        if max(rel, rel_fn) <= 0.5 * rtol_l2 or 2 * N > max_error_points:
            break
        N *= 2
    nan = float("nan")
    out.update(l2sq=l2, l2sq_se=se, l2sq_rel_se=rel, l2sq_worst="bound", n_error=int(x.shape[0]),
               l2sq_midpoint=nan, l2sq_mcshane=nan, l2sq_whitney=nan, J_un=nan, excess_J=nan, excess_J_se=nan,
               lemma412=nan, linf_mid_lo=nan, linf_mid_hi=nan)

    def bound(z):
        return extension_error_bound(X, vals, L, z, problem.u_ref(z))

    budget = dict(t_extra=problem.kinks, rtol=rtol_sup, N0=4096, max_evals=max_sup_evals)
    lo, hi, ev = M.lipschitz_sup(bound, L + problem.lipschitz_ref, **budget)
    out.update(linf_lo=lo, linf_hi=hi, sup_evals=int(ev))
    if fn_bound is not None:
        out.update(_function_sup(result, problem, M, fn_bound, budget, l2_fn, se_fn))
        out["sup_evals"] += out.pop("function_evals")
    return out


def _node_metrics(result, problem, loss, X, u, L, p_x) -> dict:
    """Errors on a quadrature reference's nodes (no bracket): the three extensions at the nodes,
    and the returned function there when the method certifies its Lipschitz bound."""
    ext = _extensions(X, u, L, p_x, problem.nodes)
    R = np.asarray(problem.u_nodes, dtype=float).reshape(-1)
    w = problem.weights
    l2 = {k: float(w @ (v - R) ** 2) for k, v in ext.items()}
    worst = max(l2, key=l2.get)
    J = float(w @ loss.value(ext[worst], problem.labels)) + problem.lam * L
    out = {f"l2sq_{k}": v for k, v in l2.items()}
    out.update(l2sq=l2[worst], l2sq_worst=worst, n_error=int(len(w)),
               linf_mid_lo=float(np.abs(ext["midpoint"] - R).max()),
               linf_lo=float(max(np.abs(ext["mcshane"] - R).max(), np.abs(ext["whitney"] - R).max())),
               J_un=J, excess_J=J - problem.J_ref)
    if _function_bound(result, problem) is not None:
        f = np.asarray(result.predict(problem.nodes), dtype=float).reshape(-1)
        out.update(l2sq_function=float(w @ (f - R) ** 2), linf_function_lo=float(np.abs(f - R).max()))
    return out


def theorem_bounds(n: int, m: int, *, lam, J_ref, theta, lipschitz_diff, t: float = 1.0, C: float = 1.0) -> dict:
    r"""The right sides of [FCAO] Lemma 4.10, Theorem 4.8 and Corollary 4.9 for one n, at the
    nominal constants C = 1, t = 1 (the unknown C makes "below the bound" a nominal check; the trend
    of error / bound is the check with unknown constants).

    With :math:`r_n = C (t \log n / n)^{1/(m+2)}` (:func:`lipconv.discrepancy.discrepancy_bound`):

    .. math::

        B_{W_1} = r_n, \qquad
        B_{L^2} = \frac{2}{\theta}\, \frac{J[u^\lambda]}{\lambda}\, r_n, \qquad
        B_{L^\infty} = \Big(m^2 L^m\, \frac{2}{\theta}\, \frac{J[u^\lambda]}{\lambda}\, r_n\Big)^{1/(m+2)},

    i.e. eq. (4.12) with L = 1, eq. (4.9) divided by theta/2, and eq. (4.10) with the same factor,
    where L bounds :math:`\mathrm{Lip}(u_n - u^\lambda)` (callers pass
    :math:`\mathrm{Lip}(u_n) + \mathrm{Lip}(u^\lambda)`). Theorem 4.8 needs a strongly convex loss:
    for theta = 0 the two error bounds are nan (Theorem 4.7 gives convergence without a rate).
    """
    lam = check_positive(lam, "lam")
    n = check_int(n, "n", minimum=2)
    J_ref = check_positive(J_ref, "J_ref", allow_zero=True)
    theta = check_positive(theta, "theta", allow_zero=True)
    lipschitz_diff = check_positive(lipschitz_diff, "lipschitz_diff", allow_zero=True)
    rate = discrepancy_bound(n, m, t=t, C=C)
    if theta <= 0:
        return {"bound_w1": rate, "bound_l2sq": float("nan"), "bound_linf": float("nan")}
    l2 = 2.0 / theta * J_ref / lam * rate
    return {"bound_w1": rate, "bound_l2sq": l2,
            "bound_linf": float((m * m * lipschitz_diff**m * l2) ** (1.0 / (m + 2)))}
