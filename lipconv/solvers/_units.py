r"""The change of units that every solve goes through: normalize, solve, map back.

For a change of units :math:`x \mapsto c\,x + t`, :math:`y \mapsto s\,y + b` the minimizer of [FCAO]
eq. (2.7) transforms exactly: :math:`u \mapsto s\,u + b`, :math:`L \mapsto (s/c)\,L`, provided lambda
moves with the objective (squared loss: :math:`\lambda \mapsto s c \lambda`, objective times
:math:`s^2`; absolute loss: :math:`\lambda \mapsto c \lambda`, objective times :math:`s`; Huber with
its threshold times :math:`s`: as the squared loss; cross-entropy, whose labels live on the simplex,
only :math:`x \mapsto c x + t`: :math:`\lambda \mapsto c \lambda`). The solvers therefore see

.. math::

    x' = (x - x_0)/\ell, \qquad y' = (y - y_0)/s, \qquad \lambda' = \lambda / (\ell s)\ \text{(squared, Huber)},
    \quad \lambda/\ell\ \text{(absolute, cross-entropy)},

with :math:`x_0` the centre of the coordinate bounding box of X, :math:`\ell` its largest side (a
characteristic length in the units of X), :math:`y_0` the centre of each label component's range
and :math:`s` the largest component range (one scale for all components, so that the norm on Y is
preserved up to a factor; the cross-entropy keeps :math:`y_0 = 0, s = 1`). Every quantity in a
normalized solve is then dimensionless and O(1) whatever the units, which is what makes the
interior-point tolerances and the certificate's tolerances mean the same thing in every unit. A
zero side or range (all points equal, constant labels) is replaced by 1: those problems are solved
exactly by :mod:`._constant`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..losses import Loss, huber

__all__ = ["Units", "normalize"]


@dataclass(frozen=True)
class Units:
    """The affine maps between the user's units and the normalized problem (module docstring).

    Attributes
    ----------
    x_center : ndarray, shape (d,)
    x_scale : float
        :math:`\\ell`, the largest side of the bounding box of X (1 if all points coincide).
    y_center : ndarray, shape (k,)
    y_scale : float
        :math:`s`, the largest label range (1 for constant labels and for the cross-entropy).
    lam_scale : float
        :math:`\\lambda = \\text{lam\\_scale}\\,\\lambda'`.
    objective_scale : float
        :math:`J = \\text{objective\\_scale}\\,J'` (:math:`s^2`, :math:`s` or 1).
    """

    x_center: np.ndarray
    x_scale: float
    y_center: np.ndarray
    y_scale: float
    lam_scale: float
    objective_scale: float

    def values(self, U: np.ndarray) -> np.ndarray:
        """Normalized values back to the user's units: :math:`s u' + y_0`."""
        return self.y_scale * U + self.y_center

    def lipschitz(self, L: float) -> float:
        """Normalized Lipschitz constant back: :math:`(s / \\ell) L'`."""
        return float(L) * self.y_scale / self.x_scale

    def objective(self, J: float) -> float:
        return float(J) * self.objective_scale


def _scale(span: np.ndarray) -> float:
    m = float(span.max()) if span.size else 0.0
    return m if m > 0 and np.isfinite(m) else 1.0


def normalize(X: np.ndarray, Y: np.ndarray, loss: Loss, lam: float):
    """Return ``(X', Y', loss', lam', units)`` for the normalized problem (module docstring).

    ``loss'`` is ``loss`` except for the Huber loss, whose threshold is divided by s.
    """
    lo, hi = X.min(axis=0), X.max(axis=0)
    x_center = 0.5 * (lo + hi)
    x_scale = _scale(hi - lo)
    Xn = (X - x_center) / x_scale
    if loss.name == "cross_entropy":
        y_center, y_scale = np.zeros(Y.shape[1]), 1.0
    else:
        ylo, yhi = Y.min(axis=0), Y.max(axis=0)
        y_center = 0.5 * (ylo + yhi)
        y_scale = _scale(yhi - ylo)
    Yn = (Y - y_center) / y_scale
    if loss.name in ("squared", "huber"):
        lam_scale, objective_scale = x_scale * y_scale, y_scale**2
    elif loss.name == "absolute":
        lam_scale, objective_scale = x_scale, y_scale
    else:
        lam_scale, objective_scale = x_scale, 1.0
    if loss.name == "huber":
        loss = huber(loss.params["delta"] / y_scale)
    units = Units(x_center, x_scale, y_center, y_scale, lam_scale, objective_scale)
    return Xn, Yn, loss, lam / lam_scale, units
