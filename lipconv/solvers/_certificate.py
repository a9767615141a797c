r"""Optimality certificates of the finite Lipschitz program: the exact all-pairs violation scan (pruned)."""
from __future__ import annotations

import numpy as np

from .._pairwise import DEFAULT_BLOCK_BYTES
from ._oracle import scan_pairs

__all__ = ["violation_scan", "relative_violation_scale"]


def relative_violation_scale(L: float, U: np.ndarray, X: np.ndarray) -> float:
    """Denominator that makes a violation relative to L.

    It is L itself, guarded below by ``1e-9`` times the slope scale ``span(U) / diam(X)`` so that a
    constant solution (L = 0, values equal up to round-off) does not divide by zero.
    """
    span = float(np.ptp(U, axis=0).max()) if U.size else 0.0
    diam = float(np.ptp(X, axis=0).max()) if X.size else 0.0
    guard = 1e-9 * (span / diam if diam > 0 else 1.0)
    return max(float(L), guard, np.finfo(float).tiny)


def violation_scan(
    X: np.ndarray, U: np.ndarray, L: float, *, p_x: float = 2.0, p_y: float = 2.0,
    block_bytes: int = DEFAULT_BLOCK_BYTES, backend: str = "auto",
) -> float:
    r"""Exact maximum over all pairs :math:`i < j` of the relative violation

    .. math:: \max_{i<j} \frac{(\|u_i - u_j\|_{p_y} - L\,\|x_i - x_j\|_{p_x})_+}{L}

    of the constraints of seed 000 eq. (2.7) written as a finite program (DESIGN.md); 0 means the
    values are L-Lipschitz on the data. Every pair is accounted for: pairs are either scanned or
    excluded by a floating-point-safe bound (a pair can only violate when
    :math:`\|x_i - x_j\| < \|u_i - u_j\| / L`, applied to KD-tree blocks; see
    :func:`lipconv.solvers._oracle.scan_pairs`, the same routine the cutting-plane oracle uses), so
    this is the final word on feasibility whatever subset of pairs a solver used. ``block_bytes``
    bounds the temporaries of the numpy and torch backends. The denominator is
    :func:`relative_violation_scale`.
    """
    X = np.asarray(X, dtype=float)
    U = np.asarray(U, dtype=float)
    U = U[:, None] if U.ndim == 1 else U
    worst = scan_pairs(X, U, float(L), p_x=p_x, p_y=p_y, backend=backend, block_bytes=block_bytes).max_excess
    return worst / relative_violation_scale(L, U, X)
