r"""A certified one-dimensional reference for labels of the first coordinate on the flat cube.

On the flat cube :math:`[-1, 1]^m` with rho uniform and labels :math:`y(x) = y(x_1)`, the continuum
problem ([FCAO] eq. (4.4)) for ANY convex loss and output norm has a minimizer depending on
:math:`t = x_1` alone: averaging u over the other coordinates lowers neither the loss (Jensen) nor
the Lipschitz constant (a mean of L-Lipschitz maps is L-Lipschitz in any norm). So

.. math::

    J^* = \min_v\ \tfrac12 \int_{-1}^{1} \ell(v(t), y(t))\, dt + \lambda\, \mathrm{Lip}(v),
    \qquad \lambda = \mathrm{lam} / \mathrm{scale},

a one-dimensional problem (DESIGN.md, "Exact continuum references"), whose discretization on N equal
cells is bracketed from both sides:

* **lower bound.** Every loss of :mod:`lipconv.losses` is jointly convex in (u, y) (a convex
  function of u - y, or the relative entropy of eq. (4.6)), so for any v the cell means
  :math:`(\bar v_c, \bar y_c)` satisfy :math:`\ell(\bar v_c, \bar y_c) \le` the cell average of
  :math:`\ell(v, y)`, and :math:`\|\bar v_{c+1} - \bar v_c\| \le \mathrm{Lip}(v)\,(t_{c+1} - t_c)`
  (couple the two cells' uniform laws by their quantiles: every coupled pair is at most the
  centres' distance apart on average). The cells are N equal ones split at the label's breaks, so
  none straddles a jump. The discrete program on the cell centres :math:`t_c` with weights
  :math:`\rho(\text{cell})`, labels :math:`\bar y_c` and adjacent pairs (exact in one dimension, any
  output norm) is therefore
  at most :math:`J^*`, and its solver's certified dual bound ``lower_bound`` is at most that;
* **upper bound.** The piecewise-linear interpolant :math:`v_h` of the discrete solution through the
  cell centres (constant beyond the first and last) is a competitor: :math:`J[v_h]`, its loss integral
  by an 8-point Gauss-Legendre rule on every piece between consecutive centres and label breaks (the
  integrand is analytic there: exact to round-off for the labels of :mod:`lipconv.manifolds`), plus
  :math:`\lambda` times its largest adjacent slope.

So :math:`J^* \in [\mathrm{lower}, \mathrm{value}]` and, for a loss strongly convex with theta
(eq. (4.5); Lemma 4.12 applied to :math:`v_h`),

.. math::

    \|v_h - u^\lambda\|_{L^2(\rho)} \le e_2 = \sqrt{2(\mathrm{value} - \mathrm{lower})/\theta},
    \qquad
    \sup |v_h - u^\lambda| \le b = \big(6 L_f e_2^2\big)^{1/3} \quad (b < L_f), \qquad
    L_f = L_h + \mathrm{value}/\lambda,

the second because :math:`f = v_h - u^\lambda` is :math:`L_f`-Lipschitz (:math:`\lambda\,
\mathrm{Lip}(u^\lambda) \le J^* \le \mathrm{value}`), and on [-1, 1] a sup s <= L_f gives
:math:`\tfrac12\int f^2 \ge s^3 / (6 L_f)` (a sup above L_f would force :math:`e_2^2 \ge L_f^2/6`,
i.e. b >= L_f; then :math:`\max(b, L_f/2 + \sqrt2 e_2)` is the bound). Both are
certified bounds (up to round-off in the Gauss sums), not estimates. The discretization error is
O(h^2) in J, so e_2 = O(h). Why a cell-mean discretization rather than the closed forms: it holds
for every label, loss and output dimension, and it certifies itself. (A continuum dual bound from
the discrete multipliers' flux, evaluated at the label itself rather than its cell means, was tried
and gave the same lower bound to 1e-16 for the squared loss: its dual integrand is affine in y, so
the Jensen gap is not what limits it; the flux's own O(h) error is.)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import (
    check_callable, check_int, check_label_values, check_norm, check_positive, check_simplex_labels,
)

__all__ = ["LiftedReference", "lifted_reference"]

_GAUSS = np.polynomial.legendre.leggauss(8)


@dataclass(frozen=True)
class LiftedReference:
    r"""The certified 1-D reference :math:`v_h` of a label of :math:`t = x_1` (module docstring).

    Attributes
    ----------
    label, loss : str
    lam : float
        Ambient regularization weight; ``lam_intrinsic`` = lam / scale.
    m : int
    scale : float
        Ambient / intrinsic distance of the cube.
    N : int
        Equal cells of [-1, 1] requested (split further at the label's breaks).
    t, values : ndarray, shapes (C,), (C, k)
        The cell centres and :math:`v_h` there.
    value : float
        :math:`J[v_h] \ge J^*` (certified upper bound; the reference's own J).
    lower : float
        Certified lower bound of :math:`J^*`.
    error_value : float
        value - lower.
    error_l2, error_sup : float
        Certified bounds on :math:`\|v_h - u^\lambda\|_{L^2(\rho)}` and :math:`\sup|v_h - u^\lambda|`
        (nan when theta = 0: no strong convexity, no bound on the minimizer from J).
    slope : float
        :math:`\mathrm{Lip}_t(v_h)` (intrinsic); ``lipschitz`` = slope / scale (ambient).
    theta : float
    p_y : float
        Output norm of the Lipschitz constant.
    """

    label: str
    loss: str
    lam: float
    lam_intrinsic: float
    m: int
    scale: float
    N: int
    t: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    value: float
    lower: float
    error_value: float
    error_l2: float
    error_sup: float
    slope: float
    lipschitz: float
    theta: float
    p_y: float

    def u(self, t) -> np.ndarray:
        """:math:`v_h(t)`, piecewise linear through the cell centres, constant beyond them; (q,) for
        scalar labels, else (q, k)."""
        t = np.asarray(t, dtype=float)
        cols = [np.interp(t, self.t, self.values[:, c]) for c in range(self.values.shape[1])]
        return cols[0] if len(cols) == 1 else np.stack(cols, axis=-1)


def _pieces(edges: np.ndarray, breaks) -> tuple[np.ndarray, np.ndarray]:
    """Gauss-Legendre nodes (P, 8) and weights (P, 8) on the pieces between the sorted ``edges`` and
    the ``breaks`` inside them (weights sum to the interval's length)."""
    inner = [b for b in breaks if edges[0] < b < edges[-1]]
    pts = np.unique(np.concatenate([edges, np.asarray(inner, dtype=float)]))
    a, b = pts[:-1], pts[1:]
    x, w = _GAUSS
    mid, half = 0.5 * (a + b), 0.5 * (b - a)
    return mid[:, None] + half[:, None] * x[None, :], half[:, None] * w[None, :]


def _label_values(label, t: np.ndarray) -> np.ndarray:
    return check_label_values(label(t.ravel()), t.size)


def lifted_reference(label, *, lam, loss="squared", m: int = 1, scale: float = 1.0, N: int = 16384,
                     p_y: float = 2.0) -> LiftedReference:
    r"""The certified 1-D continuum reference for labels of :math:`t = x_1` on the flat cube
    (uniform rho), for any loss of :mod:`lipconv.losses` (module docstring: the bracket
    :math:`J^* \in [\mathrm{lower}, \mathrm{value}]` and the bounds on :math:`v_h - u^\lambda`).

    Parameters
    ----------
    label : lipconv.manifolds.Label
        A label of t in [-1, 1]; its ``breaks`` split the quadrature (where it is not analytic).
    lam : float
        Ambient regularization weight, > 0.
    loss : str or lipconv.losses.Loss
    m : int
        Intrinsic dimension (the reference does not depend on it; recorded).
    scale : float
        ``FlatCube.scale``: ambient distance / intrinsic distance (1 for the intrinsic problem).
    N : int
        Cells, >= 4. J's bracket shrinks like N^-2 and the L2 bound like 1/N.
    p_y : float
        Output norm of the Lipschitz constant (vector labels).

    Returns
    -------
    LiftedReference
    """
    from ..losses import get_loss
    from ..norms import pnorm
    from ..solvers import lipschitz_regression

    check_callable(label, "label", "a callable of t (a lipconv.manifolds.Label)")
    lam = check_positive(lam, "lam")
    scale = check_positive(scale, "scale")
    m = check_int(m, "m", minimum=1)
    N = check_int(N, "N", minimum=4)
    p_y = check_norm(p_y, "p_y")
    loss_obj = get_loss(loss)
    lam_i = lam / scale
    breaks = tuple(float(b) for b in getattr(label, "breaks", ()) if -1.0 < b < 1.0)
    # Cells: N equal ones, split at the label's breaks (a cell never straddles a jump or a kink).
    edges = np.unique(np.concatenate([np.linspace(-1.0, 1.0, N + 1), breaks]))
    widths = np.diff(edges)
    t = 0.5 * (edges[:-1] + edges[1:])
    C = t.size
    # Cell means of the label: Gauss sums on each cell.
    nodes, weights = _pieces(edges, ())
    yflat = _label_values(label, nodes)
    if loss_obj.name == "cross_entropy":
        check_simplex_labels(yflat, "label")
    yq = yflat.reshape(nodes.shape[0], nodes.shape[1], -1)
    ybar = np.einsum("pg,pgk->pk", weights, yq) / widths[:, None]
    if loss_obj.name == "cross_entropy":  # round-off of the Gauss sums only: the label is on the simplex
        ybar = np.clip(ybar, 0.0, None)
        ybar /= ybar.sum(axis=1, keepdims=True)
    scalar = ybar.shape[1] == 1
    res = lipschitz_regression(t[:, None], ybar[:, 0] if scalar else ybar, lam=lam_i, loss=loss_obj,
                               weights=0.5 * widths, p_y=p_y, method="cutting-plane")
    V = np.asarray(res.values, dtype=float).reshape(C, -1)
    slope = float((pnorm(np.diff(V, axis=0), p_y, axis=1) / np.diff(t)).max())
    # J[v_h]: Gauss sums on the pieces between centres and breaks, v_h constant beyond the centres.
    qn, qw = _pieces(np.concatenate([[-1.0], t, [1.0]]), breaks)
    vq = np.stack([np.interp(qn.ravel(), t, V[:, c]) for c in range(V.shape[1])], axis=1)
    lq = loss_obj.value(vq, _label_values(label, qn))
    value = float(0.5 * (qw.ravel() @ lq) + lam_i * slope)
    lower = float(res.lower_bound)
    err = max(value - lower, 0.0)
    theta = float(loss_obj.theta)
    if theta > 0:
        e2 = float(np.sqrt(2.0 * err / theta))
        lip_star = value / lam_i  # lam Lip(u^lam) <= J* <= value
        Lf = slope + lip_star
        b = (6.0 * Lf * e2**2) ** (1.0 / 3.0)
        # b bounds the sup when it is at most Lf (then no sup above Lf is possible); otherwise the
        # Jensen bound of the case sup > Lf, sup <= Lf / 2 + sqrt(2) e2, may be the larger one.
        esup = float(b if b < Lf else max(b, 0.5 * Lf + np.sqrt(2.0) * e2))
    else:
        e2 = esup = float("nan")
    return LiftedReference(
        label=getattr(label, "name", repr(label)), loss=loss_obj.name, lam=lam, lam_intrinsic=lam_i, m=m,
        scale=scale, N=N, t=t, values=V, value=value, lower=lower, error_value=err, error_l2=e2, error_sup=esup,
        slope=slope, lipschitz=slope / scale, theta=theta, p_y=float(p_y),
    )
