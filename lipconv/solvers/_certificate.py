r"""The two-part certificate of the finite Lipschitz program ([FCAO] eq. (2.7); DESIGN.md).

For values :math:`u_i` and a constant L returned by a solver of

.. math::

    \min_{u,\ L \ge 0}\ J(u, L) = \sum_i w_i\,\ell(u_i, y_i) + \lambda L
    \quad\text{s.t.}\quad \|u_i - u_j\|_{p_y} \le L\,\|x_i - x_j\|_{p_x}\ \ \forall i < j,

**feasibility** is the worst pair excess over ALL pairs, relative to the label scale s (the largest
label range; 1 on the simplex):

.. math:: \varepsilon_{\mathrm{feas}} = \max_{i<j}\ (\|u_i - u_j\|_{p_y} - L\,\|x_i - x_j\|_{p_x})_+ \,/\, s,

computed exactly by the pruned scan of :mod:`._oracle` (:func:`violation_scan`). It is
dimensionless: it does not change with the units of X (a length) nor with those of y.

**Optimality** is a duality gap. For multipliers :math:`\Lambda_r \in \mathbb{R}^k` of any set of
pairs :math:`r = (a_r, b_r)` (zero on every other pair), weak duality of the full program gives the
lower bound

.. math::

    J^\star \ \ge\ D(\Lambda) = \sum_i \min_{u \in B} \big[w_i\,\ell(u, y_i) + \langle s_i, u\rangle\big],
    \qquad s = D^\top \Lambda,\ \ s_i = \sum_{r: a_r = i} \Lambda_r - \sum_{r: b_r = i} \Lambda_r,

whenever :math:`\sum_r \|\Lambda_r\|_{p_y^*}\, \|x_{a_r} - x_{b_r}\|_{p_x} \le \lambda` (the L-part of
the dual; :math:`p_y^*` the dual exponent). Proof: :math:`\langle \Lambda_r, u_a - u_b\rangle \le
\|\Lambda_r\|_* \|u_a - u_b\|`, so the Lagrangian is at most J on feasible points, and the infimum
over :math:`L \ge 0` of :math:`L(\lambda - \sum_r \|\Lambda_r\|_* d_r)` is 0. B is the label box (the
simplex for the cross-entropy), a redundant constraint (:meth:`lipconv.losses.Loss.dual_inner`).
Multipliers of a relaxation over a subset of the pairs, extended by zero, are therefore dual
feasible for the full program (after the scaling :math:`\Lambda \leftarrow \Lambda \min(1, \lambda
/ \sum_r \|\Lambda_r\|_* d_r)` that absorbs the solver's tolerance), and the relative gap

.. math:: \varepsilon_{\mathrm{gap}} = \frac{J(u, L) - D(\Lambda)}{J(u, L)}

bounds the suboptimality of the returned point, relative to its objective (0 when J = 0, which
happens only for exact interpolation by a constant). A solve is certified when
:math:`\varepsilon_{\mathrm{feas}} \le` ``FEASIBILITY_TOL`` and :math:`\varepsilon_{\mathrm{gap}} \le`
``GAP_TOL`` (both 1e-6 by default; the interior-point subproblems stop at 1e-8).
"""
from __future__ import annotations

import numpy as np

from .._pairwise import DEFAULT_BLOCK_BYTES, pair_distances
from .._validation import check_int, check_norm, check_points, check_positive, check_values
from ..norms import dual_exponent, pnorm
from ._oracle import scan_pairs

__all__ = [
    "violation_scan", "lipschitz_on_pairs", "dual_bound", "relative_gap", "label_scale",
    "FEASIBILITY_TOL", "GAP_TOL",
]

FEASIBILITY_TOL = 1e-6
GAP_TOL = 1e-6


def label_scale(U: np.ndarray) -> float:
    """The largest component range of U (1 when U is constant)."""
    span = float(np.ptp(U, axis=0).max()) if U.size else 0.0
    return span if span > 0 and np.isfinite(span) else 1.0


def violation_scan(
    X: np.ndarray, U: np.ndarray, L: float, *, p_x: float = 2.0, p_y: float = 2.0, scale: float | None = None,
    block_bytes: int = DEFAULT_BLOCK_BYTES, backend: str = "auto",
) -> float:
    r"""Exact feasibility certificate: the worst pair excess over ALL pairs, relative to a label scale.

    .. math:: \max_{i<j} \frac{(\|u_i - u_j\|_{p_y} - L\,\|x_i - x_j\|_{p_x})_+}{s}

    for the constraints of [FCAO] eq. (2.7) written as a finite program (DESIGN.md); 0 means the
    values are L-Lipschitz on the data. Every pair is accounted for: pairs are either scanned or
    excluded by a floating-point-safe bound (a pair can only violate when
    :math:`\|x_i - x_j\| < \|u_i - u_j\| / L`, applied to KD-tree blocks; see
    :func:`lipconv.solvers._oracle.scan_pairs`, the same routine the cutting-plane oracle uses), so
    this is the final word on feasibility whatever subset of pairs a solver used.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    U : ndarray, shape (n,) or (n, k)
    L : float
    p_x, p_y : {1, 2, inf}
    scale : float, optional
        The label scale s, in the units of U (:func:`lipschitz_regression` passes the largest range
        of the labels y). Default: the largest component range of U (1 if U is constant). Never L:
        L is a slope, so a violation divided by L changes with the units of X.
    block_bytes : int
        Memory bound of the numpy and torch temporaries.
    backend : {"auto", "numba", "numpy", "torch"}
    """
    X = check_points(X, "X")
    U, _ = check_values(U, X.shape[0], "U")
    L = check_positive(L, "L", allow_zero=True)
    p_x, p_y = check_norm(p_x, "p_x"), check_norm(p_y, "p_y")
    s = label_scale(U) if scale is None else check_positive(scale, "scale")
    block_bytes = check_int(block_bytes, "block_bytes")
    worst = scan_pairs(X, U, L, p_x=p_x, p_y=p_y, backend=backend, block_bytes=block_bytes).max_excess
    return worst / s


def lipschitz_on_pairs(X, U, i, j, *, p_x: float, p_y: float, oriented: bool = False) -> float:
    r"""The smallest L that makes the pairs (i, j) feasible: :math:`\max_r \|u_{i_r} - u_{j_r}\|_{p_y}
    / \|x_{i_r} - x_{j_r}\|_{p_x}` over the pairs at positive distance (0 if there are none).
    ``oriented`` (scalar outputs): each pair stands for the one row :math:`u_i - u_j \le L d_{ij}`,
    so the signed difference counts."""
    if len(i) == 0:
        return 0.0
    d = pair_distances(X, i, j, p=p_x)
    du = U[i, 0] - U[j, 0] if oriented else pnorm(U[i] - U[j], p_y, axis=1)
    pos = d > 0
    if not pos.any():
        return 0.0
    return max(0.0, float((du[pos] / d[pos]).max()))


def dual_bound(X, Y, w, loss, lam, i, j, multipliers, *, p_x: float, p_y: float, lo, hi, fixed_L=None) -> float:
    r"""The certified lower bound :math:`D(\Lambda)` of the module docstring.

    With ``fixed_L`` (the program at a fixed Lipschitz constant, no lambda) the L-part of the
    dual is not a constraint but a price: :math:`D(\Lambda) = \sum_i \min_{u \in B}[\dots] -
    L \sum_r \|\Lambda_r\|_{p_y^*} d_r`, a lower bound for any multipliers.

    ``multipliers`` has shape (P, k), row r for the pair ``(i[r], j[r])`` oriented as
    :math:`\langle \Lambda_r, u_{i_r} - u_{j_r}\rangle`. Rows are scaled down, if needed, so that
    :math:`\sum_r \|\Lambda_r\|_{p_y^*} d_r \le \lambda` holds in floating point (the bound
    shrinks with them, so it is only as good as the solver's stationarity in L).
    """
    n, k = Y.shape
    M = np.asarray(multipliers, dtype=float).reshape(len(i), k)
    alpha, price = 1.0, 0.0
    if len(i):
        price = float(pnorm(M, dual_exponent(p_y), axis=1) @ pair_distances(X, i, j, p=p_x))
        if fixed_L is None and price > lam:
            alpha = (lam / price) * (1.0 - 4 * np.finfo(float).eps)
    S = np.zeros((n, k))
    np.add.at(S, i, M)
    np.add.at(S, j, -M)
    inner = float(loss.dual_inner(alpha * S, Y, w, lo, hi).sum())
    return inner if fixed_L is None else inner - float(fixed_L) * price


def relative_gap(upper: float, lower: float) -> float:
    r""":math:`(J - D) / J`, clipped at 0 (a lower bound above J by round-off is no gap); 0 when
    J = D = 0 and inf when J = 0 < J - D."""
    diff = upper - lower
    if diff <= 0:
        return 0.0
    return diff / upper if upper > 0 else float("inf")
