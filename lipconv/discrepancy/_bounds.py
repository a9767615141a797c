r"""The discrepancy bound of [FCAO] Lemma 4.10, and the sharp known rates beside it."""
from __future__ import annotations

import numpy as np

from .._validation import check_int, check_manifold, check_positive, check_real

__all__ = ["discrepancy_bound", "sharp_rate", "theory_exponent", "sharp_exponent", "ball_mass_constant", "quantization_floor"]


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


def ball_mass_constant(manifold) -> float:
    r"""A constant K with :math:`\rho(B(p, r)) \le K r^m` for every centre p on M and radius r > 0.

    * Flat cube ``FlatCube(m, d)`` (model :math:`[-1, 1]^m`, ambient side 2s): an ambient ball of
      radius r (centred anywhere) meets the embedded m-flat in an m-ball of radius at most r, of
      volume :math:`\omega_m r^m` (:math:`\omega_m = \pi^{m/2} / \Gamma(m/2 + 1)`), and rho has density
      at most :math:`\bar\rho / (2s)^m` on it: :math:`K = \bar\rho\, \omega_m / (2s)^m`.
    * Sphere (radius s in R^3): the cap cut off by a ball of chordal radius r <= 2s around a point
      of the sphere has area :math:`\pi r^2` exactly (Archimedes; for r > 2s the whole sphere,
      :math:`4\pi s^2 < \pi r^2`), out of :math:`4\pi s^2`: :math:`K = \bar\rho / (4 s^2)`. (A centre
      inside the sphere can hold more: the bound needs centres on M.)

    :math:`\bar\rho` is the largest density (1 uniform, 3/2 ``"linear"``).

    Raises
    ------
    ValueError
        For other manifolds (no such constant is derived here).
    """
    from scipy.special import gamma

    from ..manifolds import FlatCube, Sphere
    from ..manifolds._base import LINEAR_TILT

    check_manifold(manifold)
    rho_max = 1.0 if manifold.density_name == "uniform" else 1.0 + LINEAR_TILT
    s = float(manifold.scale)
    if isinstance(manifold, FlatCube):
        m = manifold.m
        return rho_max * np.pi ** (m / 2.0) / gamma(m / 2.0 + 1.0) / (2.0 * s) ** m
    if isinstance(manifold, Sphere):
        return rho_max / (4.0 * s * s)
    raise ValueError(f"manifold must be a FlatCube or a Sphere for the ball-mass constant, got {manifold!r}")


def quantization_floor(n, manifold):
    r"""A deterministic lower bound of :math:`W_1(\rho_n, \rho)` that holds for every sample.

    .. math::

        W_1(\rho, \nu) \;\ge\; \frac{m}{m+1}\, (n K)^{-1/m}
        \qquad\text{for every measure } \nu \text{ on at most } n \text{ points of } M,

    K from :func:`ball_mass_constant` (:math:`\rho(B(p, r)) \le K r^m`). Proof: a plan from rho to
    :math:`\nu = \sum_i a_i \delta_{p_i}` moves x at least :math:`\mathrm{dist}(x, \{p_i\})`, so
    :math:`W_1 \ge \int \mathrm{dist}(x, \{p_i\})\, d\rho = \int_0^\infty \rho(\mathrm{dist} > r)\, dr
    \ge \int_0^\infty (1 - n K r^m)_+\, dr = \frac{m}{m+1} (nK)^{-1/m}`. The empirical measure
    :math:`\rho_n` of any n samples is such a :math:`\nu`, so the floor :math:`c_m n^{-1/m}` holds
    on every sample, not only in expectation: it is why no bound on :math:`W_1(\rho_n, \rho)` (the
    discrepancy of [FCAO] Lemma 4.10) can fall faster than :math:`n^{-1/m}`. Ambient units.

    Parameters
    ----------
    n : int or array_like
        Number of points, each >= 1.
    manifold : lipconv.manifolds.FlatCube or lipconv.manifolds.Sphere

    Returns
    -------
    float or ndarray
        Same shape as ``n``.
    """
    arr = check_real(n, "n")
    if arr.size == 0 or np.any(arr < 1):
        raise ValueError(f"n must be >= 1, got {n!r} (a number of points)")
    K = ball_mass_constant(manifold)
    m = manifold.m
    value = m / (m + 1.0) * (arr * K) ** (-1.0 / m)
    return _out(value, n)
