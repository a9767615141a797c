r"""Exact continuum minimizers for the squared loss on the flat cube (DESIGN.md, "Exact continuum references").

The continuum problem ([FCAO] eq. (4.4)) with the squared loss, rho uniform on :math:`[-1,1]^m` and
labels depending on :math:`t = x_1` only,

.. math::

    J[u] = \mathbb{E}_\rho (u - y)^2 + \lambda\, \mathrm{Lip}(u),

is minimized by a profile :math:`u^\lambda(x) = \mathrm{clip}(L^* x_1, -1, 1)` for every m (averaging
over the other coordinates lowers neither Lip nor the loss). With :math:`a = \sqrt{3\lambda + \delta^2}`:

* ramp labels :math:`y = \mathrm{clip}(t/\delta, -1, 1)`: :math:`L^* = 1/a`,
  :math:`J^* = \tfrac23 (a - \delta)`, valid while :math:`3\lambda + \delta^2 \le 1`;
* step labels :math:`y = \mathrm{sign}(t)`: :math:`L^* = 1/\sqrt{3\lambda}`, :math:`J^* = 2\sqrt{\lambda/3}`
  for :math:`\lambda \le 1/3`; :math:`L^* = \tfrac32(1-\lambda)`, :math:`J^* = 1 - \tfrac34(1-\lambda)^2`
  for :math:`1/3 \le \lambda \le 1`; :math:`u = 0`, :math:`J^* = 1` for :math:`\lambda \ge 1`.

Scale. The embedded cube (:class:`lipconv.manifolds.FlatCube`) has ambient distances = scale x
intrinsic distances, so :math:`\mathrm{Lip}_{\rm amb} = \mathrm{Lip}_{\rm intr}/s` and the ambient problem
with weight lam is the intrinsic one with :math:`\lambda = \mathrm{lam}/s`. The functions below take the
ambient lam and the scale s; J* is the same number in both descriptions.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._validation import check_int, check_positive

__all__ = ["ContinuumReference", "ramp_reference", "step_reference"]


@dataclass(frozen=True)
class ContinuumReference:
    r"""Exact continuum minimizer :math:`u^\lambda(t) = \mathrm{clip}(L^* t, -1, 1)` and its value.

    Attributes
    ----------
    label : str
        ``"ramp"`` or ``"step"``.
    lam : float
        Ambient regularization weight (the lam passed in).
    lam_intrinsic : float
        lam / scale, the weight of the intrinsic problem on [-1, 1]^m.
    m : int
        Intrinsic dimension (the value does not depend on it).
    scale : float
        Ambient distance / intrinsic distance.
    delta : float
        Ramp width (``nan`` for the step).
    value : float
        :math:`J^* = \min J` (the same in ambient and intrinsic units).
    slope : float
        :math:`L^*`, the intrinsic Lipschitz constant of :math:`u^\lambda`.
    lipschitz : float
        The ambient Lipschitz constant, slope / scale.
    lam_range : tuple of float
        Ambient lam for which the formula used is valid, (low, high].
    regime : str
        ``"clipped"`` (u saturates at +-1), ``"linear"`` (u = L* t, unsaturated) or ``"zero"``.
    """

    label: str
    lam: float
    lam_intrinsic: float
    m: int
    scale: float
    delta: float
    value: float
    slope: float
    lipschitz: float
    lam_range: tuple[float, float]
    regime: str

    def u(self, t) -> np.ndarray:
        """The minimizer as a function of the coordinate t = x_1 in [-1, 1] (use ``manifold.coordinate(x)``)."""
        return np.clip(self.slope * np.asarray(t, dtype=float), -1.0, 1.0)


def _common(lam, m, scale):
    lam = check_positive(lam, "lam")
    m = check_int(m, "m", minimum=1)
    scale = check_positive(scale, "scale")
    return lam, m, scale, lam / scale


def ramp_reference(lam: float, delta: float, m: int, *, scale: float = 1.0) -> ContinuumReference:
    r"""Exact minimizer for ramp labels :math:`y = \mathrm{clip}(x_1/\delta, -1, 1)` (squared loss, rho uniform).

    .. math::

        u^\lambda = \mathrm{clip}(L^* x_1, -1, 1), \quad L^* = \frac{1}{\sqrt{3\lambda + \delta^2}}, \quad
        J^* = \tfrac23\big(\sqrt{3\lambda + \delta^2} - \delta\big),

    for :math:`\lambda = \mathrm{lam}/\mathrm{scale}` with :math:`3\lambda + \delta^2 \le 1` (continuum
    problem of [FCAO] eq. (4.4); DESIGN.md, "Exact continuum references").

    Parameters
    ----------
    lam : float
        Ambient regularization weight, > 0.
    delta : float
        Ramp width, in (0, 1).
    m : int
        Intrinsic dimension of the cube, >= 1.
    scale : float
        Ambient distance / intrinsic distance (``FlatCube.scale``; 1 for the intrinsic problem).

    Raises
    ------
    ValueError
        If lam is outside the validity range ``lam <= scale * (1 - delta**2) / 3``.
    """
    lam, m, scale, lam_i = _common(lam, m, scale)
    delta = check_positive(delta, "delta")
    if delta >= 1.0:
        raise ValueError(f"delta must be in (0, 1) for the ramp reference, got {delta}")
    lam_max = scale * (1.0 - delta**2) / 3.0
    if lam > lam_max:
        raise ValueError(
            f"lam must be <= scale * (1 - delta**2) / 3 = {lam_max:.6g} for the ramp reference "
            f"(3 lam / scale + delta**2 <= 1), got {lam}"
        )
    a = np.sqrt(3.0 * lam_i + delta**2)
    return ContinuumReference(
        label="ramp", lam=lam, lam_intrinsic=lam_i, m=m, scale=scale, delta=delta,
        value=float(2.0 / 3.0 * (a - delta)), slope=float(1.0 / a), lipschitz=float(1.0 / (a * scale)),
        lam_range=(0.0, lam_max), regime="clipped",
    )


def step_reference(lam: float, m: int, *, scale: float = 1.0) -> ContinuumReference:
    r"""Exact minimizer for step labels :math:`y = \mathrm{sign}(x_1)` (squared loss, rho uniform).

    With :math:`\lambda = \mathrm{lam}/\mathrm{scale}`, :math:`u^\lambda = \mathrm{clip}(L^* x_1, -1, 1)` and

    .. math::

        (L^*, J^*) = \begin{cases}
          \big(1/\sqrt{3\lambda},\ 2\sqrt{\lambda/3}\big) & \lambda \le 1/3,\\
          \big(\tfrac32(1-\lambda),\ 1 - \tfrac34(1-\lambda)^2\big) & 1/3 \le \lambda \le 1,\\
          (0,\ 1) & \lambda \ge 1.
        \end{cases}

    Step labels are not Lipschitz, so they are outside [FCAO] Theorems 4.7/4.8; the formula is
    still exact (DESIGN.md, "Exact continuum references"). Valid for every lam > 0.

    Parameters
    ----------
    lam : float
        Ambient regularization weight, > 0.
    m : int
        Intrinsic dimension of the cube, >= 1.
    scale : float
        Ambient distance / intrinsic distance.
    """
    lam, m, scale, lam_i = _common(lam, m, scale)
    if lam_i <= 1.0 / 3.0:
        slope, value, regime, valid = 1.0 / np.sqrt(3.0 * lam_i), 2.0 * np.sqrt(lam_i / 3.0), "clipped", (0.0, scale / 3.0)
    elif lam_i <= 1.0:
        slope, value, regime, valid = 1.5 * (1.0 - lam_i), 1.0 - 0.75 * (1.0 - lam_i) ** 2, "linear", (scale / 3.0, scale)
    else:
        slope, value, regime, valid = 0.0, 1.0, "zero", (scale, np.inf)
    return ContinuumReference(
        label="step", lam=lam, lam_intrinsic=lam_i, m=m, scale=scale, delta=float("nan"),
        value=float(value), slope=float(slope), lipschitz=float(slope / scale), lam_range=valid, regime=regime,
    )
