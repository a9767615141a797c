r"""Error metrics between the extension of u_n and u^lambda (seed 000, Theorem 4.8, Corollary 4.9)."""
from __future__ import annotations

import numpy as np

from .._validation import check_positive
from ..discrepancy import discrepancy_bound

__all__ = ["error_metrics", "theorem_bounds"]


def error_metrics(u_pred, u_ref, labels, weights, *, loss, lam, lipschitz, J_n, J_ref, J_ref_quad) -> dict:
    r"""Distances between :math:`\bar u_n` (the extension of u_n) and :math:`u^\lambda` on a quadrature of M.

    With nodes :math:`\xi_j` and weights :math:`w_j` of a quadrature of rho:

    .. math::

        \mathrm{l2sq} = \sum_j w_j \|\bar u_n(\xi_j) - u^\lambda(\xi_j)\|^2
        \approx \int_M \|\bar u_n - u^\lambda\|^2 \rho, \qquad
        \mathrm{linf} = \max_j \|\bar u_n(\xi_j) - u^\lambda(\xi_j)\|,

    the left sides of seed 000, Theorem 4.8 (eq. (4.9), up to the factor theta/2) and Corollary 4.9
    (eq. (4.10)), and

    .. math::

        J[\bar u_n] - J[u^\lambda] = \sum_j w_j \ell(\bar u_n(\xi_j), y_j) + \lambda L_n - J_Q[u^\lambda],
        \qquad |J_n[u_n] - J[u^\lambda]|,

    where :math:`L_n` is the Lipschitz constant of u_n (kept by the extension) and :math:`J_Q` the
    quadrature value of J on the same nodes, so the two J values share their quadrature error.

    Parameters
    ----------
    u_pred, u_ref : array_like, shape (N,) or (N, k)
        :math:`\bar u_n` and :math:`u^\lambda` at the nodes.
    labels : array_like, shape (N,) or (N, k)
        y at the nodes.
    weights : array_like, shape (N,)
        Quadrature weights summing to 1.
    loss : lipconv.losses.Loss
    lam : float
        Ambient regularization weight.
    lipschitz : float
        :math:`L_n`.
    J_n : float
        The empirical objective :math:`J_n[u_n]` (seed 000, eq. (2.7)).
    J_ref, J_ref_quad : float
        :math:`J[u^\lambda]` and its quadrature value on these nodes.

    Returns
    -------
    dict
        ``l2sq``, ``linf``, ``J_un``, ``excess_J``, ``gap_Jn``.
    """
    P = np.asarray(u_pred, dtype=float)
    R = np.asarray(u_ref, dtype=float)
    if P.shape != R.shape:
        raise ValueError(f"u_pred and u_ref must have the same shape, got {P.shape} and {R.shape}")
    w = np.asarray(weights, dtype=float)
    if w.shape != (P.shape[0],):
        raise ValueError(f"weights must have shape ({P.shape[0]},), got {w.shape}")
    diff = (P - R).reshape(P.shape[0], -1)
    sq = np.sum(diff * diff, axis=1)
    J_un = float(w @ loss.value(P, labels) + lam * lipschitz)
    return {
        "l2sq": float(w @ sq),
        "linf": float(np.sqrt(sq.max())),
        "J_un": J_un,
        "excess_J": J_un - float(J_ref_quad),
        "gap_Jn": abs(float(J_n) - float(J_ref)),
    }


def theorem_bounds(n: int, m: int, *, lam, J_ref, theta, lipschitz_diff, t: float = 1.0, C: float = 1.0) -> dict:
    r"""The right sides of seed 000, Lemma 4.10, Theorem 4.8 and Corollary 4.9 for one n (constants C).

    With :math:`r_n = C (t \log n / n)^{1/(m+2)}` (:func:`lipconv.discrepancy.discrepancy_bound`):

    .. math::

        B_{W_1} = r_n, \qquad
        B_{L^2} = \frac{2}{\theta}\, \frac{J[u^\lambda]}{\lambda}\, r_n, \qquad
        B_{L^\infty} = \Big(m^2 L^m\, \frac{2}{\theta}\, \frac{J[u^\lambda]}{\lambda}\, r_n\Big)^{1/(m+2)},

    i.e. eq. (4.12) with L = 1, eq. (4.9) divided by theta/2, and eq. (4.10) with the same factor,
    where L bounds :math:`\mathrm{Lip}(u_n - u^\lambda)` (callers pass
    :math:`\mathrm{Lip}(u_n) + \mathrm{Lip}(u^\lambda)`). Eq. (4.10) holds in the regime
    :math:`\|u_n - u^\lambda\|_\infty \le L r`; the other regime (4.11) has a constant depending on
    the unknown r and is not used. Theorem 4.8 needs a strongly convex loss: for theta = 0 the two
    error bounds are nan.
    """
    lam = check_positive(lam, "lam")
    rate = discrepancy_bound(n, m, t=t, C=C)
    if theta <= 0:
        return {"bound_w1": rate, "bound_l2sq": float("nan"), "bound_linf": float("nan")}
    l2 = 2.0 / theta * J_ref / lam * rate
    return {"bound_w1": rate, "bound_l2sq": l2,
            "bound_linf": float((m * m * lipschitz_diff**m * l2) ** (1.0 / (m + 2)))}
