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

With a quadrature reference the errors are measured on its nodes (no sup bracket).
"""
from __future__ import annotations

import numpy as np

from .._validation import check_positive
from ..discrepancy import discrepancy_bound

__all__ = ["error_metrics", "theorem_bounds", "EXTENSIONS", "extension_error_bound", "extension_l2"]

EXTENSIONS = ("midpoint", "mcshane", "whitney")


def _extensions(result, x) -> dict:
    """The three extensions of the scalar values of ``result`` at points x, with L = L_n."""
    from ..extension import mcshane, whitney

    X, u, L, p = result.X, result.values[:, 0], float(result.lipschitz), result.p_x
    up, lo = mcshane(X, u, x, L=L, p=p), whitney(X, u, x, L=L, p=p)
    return {"midpoint": 0.5 * (up + lo), "mcshane": up, "whitney": lo}


def error_metrics(result, problem, *, X, y, seed: int, rtol_l2: float = 0.05, rtol_sup: float = 0.05,
                  max_error_points: int = 1 << 20, max_sup_evals: int = 400_000) -> dict:
    r"""Errors of the extensions of u_n (``result``, a :class:`lipconv.solvers.LipschitzResult` or
    any runner result with ``values``, ``lipschitz``, ``X``, ``p_x``, ``objective``) against
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
    """
    from ..losses import get_loss

    loss = get_loss(problem.loss)
    lam = problem.lam
    L = float(result.lipschitz)
    out: dict = {"gap_Jn": abs(float(result.objective) - problem.J_ref)}
    vals = np.asarray(result.values, dtype=float).reshape(X.shape[0], -1)
    if vals.shape[1] != 1:
        if not problem.exact:
            raise ValueError(f"error_metrics needs an exact reference for vector outputs, got {problem.ref_kind!r}")
        return {**out, **_vector_metrics(result, problem, vals, L, X=X, seed=seed, rtol_l2=rtol_l2, rtol_sup=rtol_sup,
                                         max_error_points=max_error_points, max_sup_evals=max_sup_evals)}
    if not problem.exact:
        return {**out, **_node_metrics(result, problem, loss, L)}
    M = problem.manifold()
    label = problem.label()
    out["l2sq_samples"] = float(np.mean((vals[:, 0] - problem.u_ref(X)) ** 2))

    from ..manifolds._base import stratified_error

    x, w, strata, ref, ext, l2_out = extension_l2(result, M, problem.u_ref, seed=seed, rtol_l2=rtol_l2,
                                                  max_error_points=max_error_points)
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
        return _extensions(result, z)["midpoint"] - problem.u_ref(z)

    def err_env(z):
        e = _extensions(result, z)
        r = problem.u_ref(z)
        return np.maximum(np.abs(e["mcshane"] - r), np.abs(e["whitney"] - r))

    env_lo, env_hi, ev2 = M.lipschitz_sup(err_env, Le, **budget)
    # The midpoint's bracket is reported beside the verdicts' (the worst envelope's), at a quarter of
    # the budget: at m = 3, 4 and n = 8,192 the two brackets were 70 % of a run's time.
    mid_lo, mid_hi, ev1 = M.lipschitz_sup(err_mid, Le, **{**budget, "max_evals": max(1000, max_sup_evals // 4)})
    out.update(linf_mid_lo=mid_lo, linf_mid_hi=mid_hi, linf_lo=env_lo, linf_hi=env_hi, sup_evals=int(ev1 + ev2))
    return out


def extension_l2(result, manifold, target, *, seed: int, rtol_l2: float = 0.05, max_error_points: int = 1 << 20):
    r""":math:`\|\bar u_n - v\|^2_{L^2(\rho)}` of the midpoint and both envelope extensions of the
    scalar values of ``result`` (with L = ``result.lipschitz``) against a target v, on a stratified
    random sample of rho (:meth:`lipconv.manifolds.Manifold.stratified`: unbiased, with its standard
    error), doubled from ``max(4096, 4 n)`` points until the worst extension's relative standard
    error is at most ``rtol_l2`` / 2 or ``max_error_points`` is reached.

    Parameters
    ----------
    result
        A solve with ``X`` (n, d), ``values`` (n, 1), ``lipschitz`` and ``p_x``.
    manifold : lipconv.manifolds.Manifold
    target : callable
        v at ambient points (N, d) -> (N,): :math:`u^\lambda` or the regression function.
    seed : int
        Seed of the stratified sample (with n: the stream ``[seed, n, 12]``).

    Returns
    -------
    tuple
        (x, w, strata, v(x), the extensions at x by name, a dict with ``l2sq_<kind>``, ``l2sq``
        (worst), ``l2sq_se``, ``l2sq_rel_se``, ``l2sq_worst`` and ``n_error``).
    """
    from ..manifolds._base import stratified_error

    n = result.X.shape[0]
    N = max(4096, 4 * n)
    rng = np.random.default_rng([int(seed), n, 12])
    while True:
        x, w, strata = manifold.stratified(N, rng)
        ref = target(x)
        ext = _extensions(result, x)
        sq = {k: (v - ref) ** 2 for k, v in ext.items()}
        l2 = {k: float(w @ s) for k, s in sq.items()}
        se = {k: stratified_error(s, w, strata) for k, s in sq.items()}
        worst = max(l2, key=l2.get)
        rel = se[worst] / l2[worst] if l2[worst] > 0 else 0.0
        if rel <= 0.5 * rtol_l2 or 2 * N > max_error_points:
            break
        N *= 2
    out = {f"l2sq_{k}": l2[k] for k in EXTENSIONS}
    out.update(l2sq=l2[worst], l2sq_se=se[worst], l2sq_rel_se=rel, l2sq_worst=worst, n_error=int(x.shape[0]))
    return x, w, strata, ref, ext, out


def extension_error_bound(X, U, L: float, x, v, *, k_near: int = 32) -> np.ndarray:
    r""":math:`B(x) = \min_i (\|U_i - v(x)\|_2 + L \|x - X_i\|_2)` at each row of x (v: the values of
    the reference there), an upper bound on :math:`\|\bar u(x) - v(x)\|` for every L-Lipschitz
    :math:`\bar u` through (X, U) (module docstring).

    Exact: the minimum over the ``k_near`` nearest samples (scipy's KD-tree), which is the minimum
    over all whenever it is at most L times the distance to the k-th nearest (every other term is
    at least that); the remaining rows take the minimum over every sample, in blocks."""
    from scipy.spatial import cKDTree

    from .._pairwise import distance_blocks
    from .._validation import check_points

    X, U, x, v = (check_points(a, name) for a, name in ((X, "X"), (U, "U"), (x, "x"), (v, "v")))
    if U.shape[0] != X.shape[0] or v.shape[0] != x.shape[0]:
        raise ValueError(f"U must have one row per row of X and v one per row of x, got {U.shape[0]} for "
                         f"{X.shape[0]} and {v.shape[0]} for {x.shape[0]}")
    if x.shape[1] != X.shape[1] or v.shape[1] != U.shape[1]:
        raise ValueError(f"x must have d = {X.shape[1]} columns and v k = {U.shape[1]}, got {x.shape[1]} and {v.shape[1]}")
    L = check_positive(L, "L", allow_zero=True)
    kk = min(k_near, X.shape[0])
    dist, idx = cKDTree(X).query(x, k=kk)
    dist, idx = dist.reshape(x.shape[0], kk), idx.reshape(x.shape[0], kk)
    terms = np.linalg.norm(U[idx] - v[:, None, :], axis=2) + L * dist
    B = terms.min(axis=1)
    open_rows = np.flatnonzero(B > L * dist[:, -1]) if kk < X.shape[0] else np.array([], dtype=int)
    if open_rows.size:
        xr, vr = x[open_rows], v[open_rows]
        for a, b, D in distance_blocks(xr, X):
            E = np.sqrt(np.maximum(0.0, (vr[a:b] ** 2).sum(axis=1)[:, None] - 2.0 * vr[a:b] @ U.T + (U**2).sum(axis=1)[None, :]))
            B[open_rows[a:b]] = (E + L * D).min(axis=1)
    return B


def _vector_metrics(result, problem, vals, L, *, X, seed, rtol_l2, rtol_sup, max_error_points, max_sup_evals) -> dict:
    """The errors of vector outputs through the bound B of every extension (module docstring)."""
    from ..manifolds._base import stratified_error

    if getattr(result, "p_x", 2.0) != 2.0 or getattr(result, "p_y", 2.0) != 2.0:
        raise ValueError("error_metrics for vector outputs needs Euclidean norms (p_x = p_y = 2), got "
                         f"p_x = {result.p_x}, p_y = {result.p_y}")
    M = problem.manifold()
    n = X.shape[0]
    out = {"l2sq_samples": float(np.mean(((vals - problem.u_ref(X).reshape(n, -1)) ** 2).sum(axis=1)))}
    N = max(4096, 4 * n)
    rng = np.random.default_rng([int(seed), n, 12])
    while True:
        x, w, strata = M.stratified(N, rng)
        sq = extension_error_bound(X, vals, L, x, problem.u_ref(x)) ** 2
        l2, se = float(w @ sq), stratified_error(sq, w, strata)
        rel = se / l2 if l2 > 0 else 0.0
        if rel <= 0.5 * rtol_l2 or 2 * N > max_error_points:
            break
        N *= 2
    nan = float("nan")
    out.update(l2sq=l2, l2sq_se=se, l2sq_rel_se=rel, l2sq_worst="bound", n_error=int(x.shape[0]),
               l2sq_midpoint=nan, l2sq_mcshane=nan, l2sq_whitney=nan, J_un=nan, excess_J=nan, excess_J_se=nan,
               lemma412=nan, linf_mid_lo=nan, linf_mid_hi=nan)

    def bound(z):
        return extension_error_bound(X, vals, L, z, problem.u_ref(z))

    lo, hi, ev = M.lipschitz_sup(bound, L + problem.lipschitz_ref, t_extra=problem.kinks, rtol=rtol_sup, N0=4096,
                                 max_evals=max_sup_evals)
    out.update(linf_lo=lo, linf_hi=hi, sup_evals=int(ev))
    return out


def _node_metrics(result, problem, loss, L) -> dict:
    """Errors on a quadrature reference's nodes (no bracket): the three extensions at the nodes."""
    ext = _extensions(result, problem.nodes)
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
    rate = discrepancy_bound(n, m, t=t, C=C)
    if theta <= 0:
        return {"bound_w1": rate, "bound_l2sq": float("nan"), "bound_linf": float("nan")}
    l2 = 2.0 / theta * J_ref / lam * rate
    return {"bound_w1": rate, "bound_l2sq": l2,
            "bound_linf": float((m * m * lipschitz_diff**m * l2) ** (1.0 / (m + 2)))}
