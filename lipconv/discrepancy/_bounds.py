r"""The discrepancy bound of [FCAO] Lemma 4.10, and the sharp known rates beside it."""
from __future__ import annotations

import numpy as np

from .._validation import check_int, check_positive, check_real

__all__ = ["discrepancy_bound", "sharp_rate", "theory_exponent", "sharp_exponent"]


def _check_n(n) -> np.ndarray:
    arr = check_real(n, "n")
    if arr.size == 0 or np.any(arr < 2):
        raise ValueError(f"n must be >= 2 (the bound involves log n), got {n!r}")
    return arr


def _out(value, n):
    return float(value) if np.ndim(n) == 0 else value


def discrepancy_bound(n, m: int, *, t: float = 1.0, C: float = 1.0):
    r"""The right side of [FCAO] Lemma 4.10 (eq. (4.12)) for L = 1.

    .. math::

        C \left(\frac{t \log n}{n}\right)^{1/(m+2)}.

    Lemma 4.10 bounds :math:`\sup_{\mathrm{Lip}(w) \le 1} |\frac1n\sum_i w(x_i) - \int w \rho|
    = W_1(\rho_n, \rho)` by this quantity with probability at least
    :math:`1 - 2 t^{-m/(m+2)} n^{-(ct-1)}`, with constants C, c depending on the manifold only. The
    same factor drives Theorem 4.8 and Corollary 4.9.

    Parameters
    ----------
    n : int or array_like
        Sample sizes, each >= 2.
    m : int
        Intrinsic dimension, >= 1.
    t : float
        Confidence parameter of Lemma 4.10, > 0.
    C : float
        The (unknown) constant, > 0; 1 by default.

    Returns
    -------
    float or ndarray
        Same shape as ``n``.
    """
    arr = _check_n(n)
    m = check_int(m, "m", minimum=1)
    t = check_positive(t, "t")
    C = check_positive(C, "C")
    return _out(C * (t * np.log(arr) / arr) ** (1.0 / (m + 2)), n)


def sharp_rate(n, m: int):
    r"""The sharp known decay of :math:`\mathbb{E}\, W_1(\rho_n, \rho)` in dimension m, without constant.

    .. math::

        n^{-1/2}\ (m = 1), \qquad \sqrt{\log n / n}\ (m = 2), \qquad n^{-1/m}\ (m \ge 3).

    Seed 000 (after Lemma 4.10) notes that 1/(m+2) is not the optimal exponent and that 1/m holds
    for m >= 3; the m = 1 and m = 2 rates are the classical ones (the m = 2 logarithm is the
    Ajtai-Komlos-Tusnady rate).

    Parameters
    ----------
    n : int or array_like
        Sample sizes, each >= 2.
    m : int
        Intrinsic dimension, >= 1.
    """
    arr = _check_n(n)
    m = check_int(m, "m", minimum=1)
    if m == 1:
        value = arr ** -0.5
    elif m == 2:
        value = np.sqrt(np.log(arr) / arr)
    else:
        value = arr ** (-1.0 / m)
    return _out(value, n)


def theory_exponent(m: int) -> float:
    """The exponent of n in Lemma 4.10's bound, ignoring the logarithm: -1/(m+2)."""
    return -1.0 / (check_int(m, "m", minimum=1) + 2)


def sharp_exponent(m: int) -> float:
    """The exponent of n in :func:`sharp_rate`, ignoring logarithms: -1/2 for m <= 2, -1/m for m >= 3."""
    m = check_int(m, "m", minimum=1)
    return -0.5 if m <= 2 else -1.0 / m
