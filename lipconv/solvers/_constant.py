r"""The constant solution of [FCAO] eq. (2.7) and the dual point that proves it optimal.

For lambda large enough the minimizer is the constant :math:`c = \arg\min_c \sum_i w_i \ell(c, y_i)`
with L = 0 (DESIGN.md: mean, median, loss minimizer). The threshold is a transport price: with
:math:`G` a subgradient of :math:`F(u) = \sum_i w_i \ell(u_i, y_i)` at the constant whose columns sum
to zero (:meth:`lipconv.losses.Loss.constant_minimizer`), the constant is optimal iff

.. math:: \lambda \ \ge\ \lambda_c = \sup_{\mathrm{Lip}(v) \le 1} \textstyle\sum_i \langle -G_i, v_i\rangle,

the Kantorovich-Rubinstein norm of G. Any transport of G prices an upper bound of :math:`\lambda_c`:
routing every point's :math:`G_i` through one hub :math:`o` (a star) gives the dual multipliers
:math:`\Lambda_{(i, o)} = -G_i` of the pair constraints, feasible for the dual of the full program
whenever

.. math:: \lambda \ \ge\ \lambda_\star = \sum_i \|G_i\|_{p_y^*}\, \|x_i - x_o\|_{p_x} \ \ge\ \lambda_c,

and then the dual value equals :math:`F(c)`: a zero duality gap, computed rather than assumed
(:func:`lipconv.solvers._certificate.dual_bound`). The solve returns this exact answer without a
convex solve when :math:`\lambda \ge \lambda_\star` (in particular for constant labels, G = 0, and for
coincident points, all distances 0).

The exact threshold :math:`\lambda_c` is itself a transport problem. For scalar outputs, and for
:math:`p_y = \infty` (whose dual norm, the 1-norm, splits over components), it is the sum over
components of the Wasserstein-1 distance between the positive and negative parts of :math:`G_{:,c}`
with ground cost :math:`\|x_i - x_j\|_{p_x}`, solved exactly by POT's network simplex
(:func:`critical_transport`); its optimal plan is the certificate. For :math:`p_y \in \{1, 2\}`
with k > 1 the same per-component plans are still dual feasible at that price (each row has one
nonzero component, which every dual norm prices the same), so they certify the constant above it:
an upper bound of :math:`\lambda_c` there, never worse than the star. It is computed only when the
cheap lower bound :math:`\lambda_c \ge \max_j \|\sum_i x_{ij} G_i\|_{p_y^*}` (the coordinate
functions are 1-Lipschitz) does not already exclude the constant, and n is at most
``TRANSPORT_MAX_N``: the convex solvers' optimum is degenerate there (every pair constraint active
at L = 0), and the exponential-cone solver stalled on such problems.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._pairwise import pairwise_distances
from ..norms import dual_exponent, pnorm

__all__ = ["ConstantSolution", "constant_solution", "critical_lower_bound", "critical_transport", "TRANSPORT_MAX_N"]

# The dense cost matrix of the transport is TRANSPORT_MAX_N^2 floats (128 MB at 4,096).
TRANSPORT_MAX_N = 4096


@dataclass(frozen=True)
class ConstantSolution:
    """The best constant, its loss, the subgradient G and the star transport certifying it
    (module docstring)."""

    c: np.ndarray
    loss_value: float
    G: np.ndarray
    i: np.ndarray
    j: np.ndarray
    multipliers: np.ndarray
    lam_star: float


def constant_solution(X, Y, w, loss, *, p_x: float, p_y: float) -> ConstantSolution:
    """Best constant c, F(c), and the cheaper of two star transports of G (hub nearest to the
    |G|-weighted mean of X, or to the coordinate-wise weighted median), with its price lam_star."""
    n = X.shape[0]
    c, G = loss.constant_minimizer(Y, w)
    loss_value = float(w @ loss.value(np.broadcast_to(c, Y.shape), Y))
    mass = pnorm(G, dual_exponent(p_y), axis=1)
    best = None
    total = mass.sum()
    centres = [X.mean(axis=0)] if total <= 0 else [mass @ X / total, _weighted_median_point(X, mass)]
    for centre in centres:
        hub = int(np.argmin(pairwise_distances(X, centre[None, :], p=p_x)[:, 0]))
        dist = pairwise_distances(X, X[hub][None, :], p=p_x)[:, 0]
        price = float(mass @ dist)
        if best is None or price < best[1]:
            best = (hub, price)
    hub, price = best
    others = np.flatnonzero(np.arange(n) != hub)
    return ConstantSolution(
        c=c, loss_value=loss_value, G=G, i=others, j=np.full(len(others), hub), multipliers=-G[others],
        lam_star=price,
    )


def _weighted_median_point(X: np.ndarray, mass: np.ndarray) -> np.ndarray:
    out = np.empty(X.shape[1])
    for c in range(X.shape[1]):
        order = np.argsort(X[:, c], kind="stable")
        cum = np.cumsum(mass[order])
        out[c] = X[order[min(int(np.searchsorted(cum, 0.5 * cum[-1])), len(order) - 1)], c]
    return out


def critical_lower_bound(X, G, *, p_y: float) -> float:
    r"""A lower bound of the critical lambda: :math:`\max_j \|\sum_i x_{ij} G_i\|_{p_y^*}` (the value
    of the transport dual at :math:`v(x) = x_j e`, a 1-Lipschitz function for every coordinate j
    and unit vector e, in every p-norm on X)."""
    return float(pnorm(X.T @ G, dual_exponent(p_y), axis=1).max())


def critical_transport(X, G, *, p_x: float, p_y: float):
    r"""The critical lambda (exact for k = 1 or :math:`p_y = \infty`) and its transport, or None.

    Per component c, the optimal plan T between the positive
    and negative parts of :math:`G_{:,c}` (POT ``emd``, network simplex) with cost
    :math:`\|x_i - x_j\|_{p_x}`; each transported mass :math:`T_{ij}` from i to j becomes a pair
    multiplier :math:`\Lambda_{(i, j)} = -T_{ij} e_c`, so that :math:`D^\top \Lambda = -G`, at price
    :math:`\sum_c W_1(G_{:,c}^+, G_{:,c}^-)`, which is :math:`\lambda_c` for k = 1 or
    :math:`p_y = \infty` and an upper bound of it otherwise. Returns ``(i, j, multipliers, price)``;
    None for n > ``TRANSPORT_MAX_N``.
    """
    n, k = G.shape
    if n > TRANSPORT_MAX_N:
        return None
    import ot

    rows_i, rows_j, mult = [], [], []
    price = 0.0
    for c in range(k):
        g = G[:, c]
        pos, neg = np.flatnonzero(g > 0), np.flatnonzero(g < 0)
        if len(pos) == 0 or len(neg) == 0:
            continue
        a, b = g[pos], -g[neg]
        b = b * (a.sum() / b.sum())  # equal masses up to the round-off of sum G = 0
        M = pairwise_distances(X[pos], X[neg], p=p_x)
        T = ot.emd(a, b, M, numItermax=max(100_000, 50 * n * n))
        ii, jj = np.nonzero(T > 0)
        rows_i.append(pos[ii])
        rows_j.append(neg[jj])
        m = np.zeros((len(ii), k))
        m[:, c] = -T[ii, jj]
        mult.append(m)
        price += float((T * M).sum())
    if not rows_i:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty, np.zeros((0, k)), 0.0
    return np.concatenate(rows_i), np.concatenate(rows_j), np.vstack(mult), price
