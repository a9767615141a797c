r"""Exact continuum minimizers on reflection-symmetric manifolds (sphere, circle, tori, cube).

Setting ([FCAO] eq. (4.4), squared loss): M carries a reflection H of the ambient space that maps
M to itself, preserves rho and flips the label coordinate, :math:`t(Hx) = -t(x)`, with
:math:`\|x - Hx\| = 2 s |t(x)|` (s: the manifold's ``scale``; H is :math:`p_1 \to -p_1` in model
coordinates, ``Manifold.coordinate_law`` declares it). Labels :math:`y = Y(t)` with Y odd and, on
(0, 1], nonnegative, nondecreasing and concave (ramp, step, smooth). Then, with :math:`L` the
Lipschitz constant in t units (ambient :math:`L / s`) and :math:`\lambda_t = \lambda / s`,

.. math::

    u^\lambda(x) = \mathrm{clip}\big(Y(t), -L^*|t|, L^*|t|\big), \qquad
    L^* = \operatorname*{argmin}_{L \ge 0}\ \mathbb{E}\big[(|Y(t)| - L|t|)_+^2\big] + \lambda_t L,

the expectation over the law of t under rho. Proof, for a fixed L. (i) H is an isometry preserving
rho with :math:`y \circ H = -y`, so the functions of ambient Lipschitz constant <= L / s and the loss
are invariant under :math:`u \to -u \circ H`; by convexity the best such u may be taken odd
(replace u by :math:`(u - u \circ H)/2`). (ii) An odd u has
:math:`2|u(x)| = |u(x) - u(Hx)| \le (L/s)\, 2 s |t|`, so :math:`|u| \le L|t|` and its loss is at
least that of the pointwise projection :math:`\mathrm{clip}(Y, \pm L|t|)`. (iii) That projection is
:math:`\varphi(t) = \mathrm{sign}(t) \min(|Y(t)|, L|t|)`, concave nondecreasing on (0, 1] with slope
<= L, hence L-Lipschitz in t, and :math:`|t(x) - t(x')| \le \|x - x'\| / s`: it is admissible and
attains the bound. Minimizing over L gives the formula; the squared loss makes the minimizer unique
on M. Only the law of t enters: uniform on [-1, 1] for the cube and the sphere
(Archimedes; the closed forms of :mod:`._references` follow), the arcsine law of :math:`\cos a` for
the circle and the (curved) tori. The geometry of M off the mirror pairs plays no part, which is why
one reference serves :class:`~lipconv.manifolds.CurvedTorus` in every d.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from itertools import chain

import numpy as np
from scipy.integrate import quad
from scipy.optimize import brentq

from .._validation import check_callable, check_manifold, check_positive, check_real

__all__ = ["ReflectionReference", "reflection_reference", "COORDINATE_LAWS"]

COORDINATE_LAWS = ("uniform", "arcsine")
_SHAPE_GRID = 4097
_SHAPE_TOL = 1e-9
_QUAD = {"epsabs": 1e-15, "epsrel": 1e-13, "limit": 400}


@dataclass(frozen=True)
class ReflectionReference:
    r"""The continuum minimizer :math:`u^\lambda = \mathrm{clip}(Y(t), \pm L^* |t|)` on a reflection-symmetric manifold.

    Attributes
    ----------
    manifold, label : str
        Names.
    law : str
        ``"uniform"``, ``"arcsine"`` or ``"discrete"`` (a given mirror-invariant quadrature of rho).
    lam : float
        Ambient regularization weight.
    lam_intrinsic : float
        lam / scale, the weight per unit of slope in t.
    scale : float
        Ambient distance from a point to its mirror image, per unit of :math:`2|t|`.
    value : float
        :math:`J^* = \min J` (the same in ambient and t units).
    loss_value : float
        :math:`\mathbb{E}(u^\lambda - y)^2`.
    slope : float
        :math:`L^*`, the Lipschitz constant of :math:`u^\lambda` in t.
    lipschitz : float
        The ambient Lipschitz constant, slope / scale.
    regime : str
        ``"zero"`` (:math:`u^\lambda = 0`, lam at or above :math:`2 s\,\mathbb{E}|t\,Y|`) or ``"clipped"``.
    error_slope : float
        Estimated error of ``slope``: (residual of the optimality condition + its quadrature error)
        / its derivative. Also the sup-norm error of ``u`` (:math:`|t| \le 1`).
    error_value : float
        Estimated error of ``value`` (quadrature error plus the first-order effect of error_slope).
    """

    manifold: str
    label: str
    law: str
    lam: float
    lam_intrinsic: float
    scale: float
    value: float
    loss_value: float
    slope: float
    lipschitz: float
    regime: str
    error_slope: float
    error_value: float
    label_fn: object = field(repr=False, compare=False)

    def u(self, t) -> np.ndarray:
        """The minimizer as a function of the coordinate t in [-1, 1] (use ``manifold.coordinate(x)``)."""
        t = np.asarray(t, dtype=float)
        bound = self.slope * np.abs(t)
        return np.clip(self.label_fn(t), -bound, bound)


class _Law:
    """Expectations of even functions f(|t|) under a symmetric law of t, with error estimates."""

    def __init__(self, name, t=None, w=None):
        self.name = name
        self.t, self.w = t, w

    def expect(self, f, points) -> tuple[float, float]:
        """E f(|t|) and an estimate of its quadrature error; f maps an array in [0, 1] to an array,
        ``points`` are its kinks in (0, 1)."""
        if self.name == "discrete":
            return float(self.w @ f(np.abs(self.t))), 0.0
        pts = sorted(p for p in points if 0.0 < p < 1.0)
        if self.name == "uniform":
            val, err = quad(lambda s: float(f(np.array([s]))[0]), 0.0, 1.0, points=pts or None, **_QUAD)
            return val, err
        # Arcsine law of t = cos(theta), theta uniform: E f(|t|) = (2/pi) int_0^{pi/2} f(cos theta).
        th = sorted(float(np.arccos(p)) for p in pts)
        val, err = quad(lambda s: float(f(np.array([np.cos(s)]))[0]), 0.0, 0.5 * np.pi, points=th or None, **_QUAD)
        return 2.0 / np.pi * val, 2.0 / np.pi * err


def _check_label_shape(label) -> None:
    """Raise unless Y is odd, and nonnegative, nondecreasing and concave on (0, 1] (the hypotheses
    of step (iii) in the module docstring), checked on a grid."""
    t = np.linspace(0.0, 1.0, _SHAPE_GRID)[1:]
    y = np.asarray(label(t), dtype=float)
    if y.shape != t.shape:
        raise ValueError(f"label must be scalar (one output) for the reflection reference, got output shape {y.shape[1:]}")
    y_neg = np.asarray(label(-t), dtype=float)
    scale = max(1.0, float(np.max(np.abs(y))))
    tol = _SHAPE_TOL * scale
    problems = []
    if np.max(np.abs(y + y_neg)) > tol or abs(float(np.asarray(label(np.zeros(1)))[0])) > tol:
        problems.append("odd")
    if np.min(y) < -tol:
        problems.append("nonnegative on (0, 1]")
    if np.min(np.diff(y)) < -tol:
        problems.append("nondecreasing on (0, 1]")
    if np.max(np.diff(y, 2)) > tol:
        problems.append("concave on (0, 1]")
    if problems:
        raise ValueError(
            f"label must be odd, and nonnegative, nondecreasing and concave on (0, 1] for the reflection "
            f"reference, got {getattr(label, 'name', repr(label))} which is not {', '.join(problems)}"
        )


def _crossing(label, L: float) -> float:
    """The end t_c of {t in (0, 1]: |Y(t)| > L t} (an interval from 0, Y being concave), 0 if empty."""
    t = np.linspace(0.0, 1.0, _SHAPE_GRID)[1:]
    h = np.abs(label(t)) - L * t
    positive = np.flatnonzero(h > 0.0)
    if positive.size == 0:
        return 0.0
    last = positive[-1]
    if last == t.size - 1:
        return 1.0
    return brentq(lambda s: abs(float(label(np.array([s]))[0])) - L * s, t[last], t[last + 1], xtol=1e-16, rtol=1e-15)


def _kinks(label) -> list[float]:
    delta = getattr(label, "params", {}).get("delta")
    return [] if delta is None else [float(delta)]


def reflection_reference(manifold, label, *, lam, loss="squared", law=None) -> ReflectionReference:
    r"""Exact :math:`u^\lambda` of the continuum problem ([FCAO] eq. (4.4)) on a reflection-symmetric manifold.

    .. math::

        u^\lambda(x) = \mathrm{clip}\big(Y(t), -L^*|t|, L^*|t|\big), \qquad
        L^* = \operatorname*{argmin}_{L \ge 0}\ \mathbb{E}\big[(|Y(t)| - L|t|)_+^2\big]
        + \frac{\lambda}{s} L, \qquad t = t(x),

    for the squared loss, labels :math:`y = Y(t)` with Y odd and nonnegative, nondecreasing and
    concave on (0, 1] (ramp, step, smooth), and a manifold whose model is symmetric under
    :math:`p_1 \to -p_1` with rho uniform (the module docstring has the proof). The expectation is
    over the manifold's ``coordinate_law`` by adaptive quadrature split at the kinks, and
    :math:`L^*` solves the optimality condition :math:`2\,\mathbb{E}[|t| (|Y| - L|t|)_+] = \lambda / s`
    by Brent's method; for the uniform law and ramp or step labels this is the closed form of
    :func:`ramp_reference` / :func:`step_reference` (DESIGN.md, "Exact continuum references").

    Parameters
    ----------
    manifold : lipconv.manifolds.Manifold
        With ``coordinate_law`` set (FlatCube, Sphere, Circle, Torus, CurvedTorus) and the uniform density.
    label : lipconv.manifolds.Label or callable
        Scalar label of the coordinate t, (n,) -> (n,).
    lam : float
        Ambient regularization weight, > 0.
    loss : str or lipconv.losses.Loss
        Only ``"squared"``.
    law : tuple (nodes, weights) of arrays, optional
        A quadrature of rho instead of the manifold's law: nodes (N, d) on M (as
        ``manifold.quadrature(N)`` returns them) and weights (N,) summing to 1. The proof needs the
        measure :math:`\sum_i w_i \delta_{x_i}` to be invariant under the mirror H (each node's mirror
        image a node of the same weight), which is checked on the nodes: the weight within
        ``1e-9 * scale`` of each node's mirror image must equal the weight within that distance of
        the node. A law of t alone cannot show this (a quadrature whose (t, w) pairs are symmetric
        can give a node and its mirror image different weights), so the nodes are required. The
        result is then the exact minimizer of the weighted program ([FCAO] eq. (2.7)) on those
        nodes, by the same proof, with the law of t = t(nodes).

    Returns
    -------
    ReflectionReference

    Raises
    ------
    ValueError
        If the manifold declares no reflection symmetry or its density is not uniform, the loss is
        not squared, the label does not have the required shape, or ``law`` is not a quadrature
        of M invariant under the mirror.
    """
    from ..losses import get_loss

    check_manifold(manifold)
    check_callable(label, "label", "a callable of the coordinate t (a lipconv.manifolds.Label)")
    lam = check_positive(lam, "lam")
    if get_loss(loss).name != "squared":
        raise ValueError(f"loss must be 'squared' for the reflection reference, got {get_loss(loss).name!r}")
    name = getattr(manifold, "name", repr(manifold))
    if getattr(manifold, "coordinate_law", None) not in COORDINATE_LAWS:
        raise ValueError(f"manifold must declare a reflection symmetry (coordinate_law in {COORDINATE_LAWS}), got {name}")
    if manifold.density_name != "uniform":
        raise ValueError(
            f"manifold density must be 'uniform' for the reflection reference (the mirror must preserve rho), "
            f"got {manifold.density_name!r}"
        )
    _check_label_shape(label)
    dist = _Law(manifold.coordinate_law) if law is None else _discrete_law(law, manifold)
    scale = float(manifold.scale)
    lam_t = lam / scale

    def Y(t):
        return np.abs(np.asarray(label(t), dtype=float))

    def slope_condition(L):
        """G(L) = lam_t - 2 E[|t| (|Y| - L|t|)_+] (nondecreasing in L; L* is its root) and its error."""
        pts = _kinks(label) + [_crossing(label, L)]
        val, err = dist.expect(lambda s: s * np.maximum(Y(s) - L * s, 0.0), pts)
        return lam_t - 2.0 * val, 2.0 * err

    G0, _ = slope_condition(0.0)
    if G0 >= 0.0:
        L, G_L, err_G = 0.0, G0, 0.0
    else:
        hi = 1.0
        while slope_condition(hi)[0] < 0.0:
            hi *= 2.0
        L = brentq(lambda v: slope_condition(v)[0], 0.0, hi, xtol=1e-15, rtol=1e-15, maxiter=500)
        G_L, err_G = slope_condition(L)
    pts = _kinks(label) + [_crossing(label, L)]
    loss_value, err_loss = dist.expect(lambda s: np.maximum(Y(s) - L * s, 0.0) ** 2, pts)
    if L > 0.0:
        curvature, _ = dist.expect(lambda s: 2.0 * s * s * (Y(s) - L * s > 0.0), pts)
        error_slope = (abs(G_L) + err_G) / curvature
    else:
        error_slope = 0.0
    return ReflectionReference(
        manifold=name, label=getattr(label, "name", repr(label)), law=dist.name, lam=lam, lam_intrinsic=lam_t,
        scale=scale, value=float(loss_value + lam_t * L), loss_value=float(loss_value), slope=float(L),
        lipschitz=float(L / scale), regime="zero" if L == 0.0 else "clipped", error_slope=float(error_slope),
        error_value=float(err_loss + (abs(G_L) + err_G) * error_slope), label_fn=label,
    )


# Nodes closer than this (times the manifold's scale) are one point of the quadrature's measure.
_MIRROR_TOL = 1e-9


def _mass_near(tree, w, points, radius) -> np.ndarray:
    """The weight of the nodes of ``tree`` within ``radius`` of each of ``points``."""
    near = tree.query_ball_point(points, radius)
    counts = np.fromiter(map(len, near), dtype=np.intp, count=len(near))
    flat = np.fromiter(chain.from_iterable(near), dtype=np.intp, count=int(counts.sum()))
    return np.bincount(np.repeat(np.arange(len(near)), counts), weights=w[flat], minlength=len(near))


def _discrete_law(law, manifold) -> _Law:
    r"""The law of t of a quadrature (nodes, weights) of rho, after checking that its measure is
    invariant under the mirror H: :math:`p_1 \to -p_1` in model coordinates (``Manifold.coordinate_law``)."""
    from scipy.spatial import cKDTree

    if not (isinstance(law, tuple) and len(law) == 2):
        raise ValueError(f"law must be a tuple (nodes, weights) of a quadrature of rho, got {type(law).__name__}")
    shape = np.shape(law[0])
    if len(shape) != 2:
        raise ValueError(f"law nodes must have shape (N, d = {manifold.d}): a law of t alone cannot show that each "
                         f"node's mirror image is a node of the same weight, got shape {shape}")
    X = manifold.check_on_manifold(law[0], "law nodes")
    w = check_real(law[1], "law weights").reshape(-1)
    if w.shape[0] != X.shape[0] or np.any(w < 0) or abs(w.sum() - 1.0) > 1e-12:
        raise ValueError(f"law must have one weight per node, >= 0 and summing to 1, got {X.shape[0]} nodes and "
                         f"{w.shape[0]} weights summing to {w.sum():.15g}")
    p = manifold.model(X)
    p[:, 0] = -p[:, 0]
    mirror = manifold.embed(p)
    tree = cKDTree(X)
    radius = _MIRROR_TOL * manifold.scale
    own, image = _mass_near(tree, w, X, radius), _mass_near(tree, w, mirror, radius)
    bad = np.flatnonzero(np.abs(own - image) > 1e-12 * np.maximum(own, 1e-300) + 1e-15)
    if bad.size:
        i = int(bad[np.argmax(np.abs(own - image)[bad])])
        t = manifold.coordinate(X[i:i + 1])[0]
        raise ValueError(
            f"law must be symmetric under the mirror (t -> -t): each node's mirror image a node of the same weight, "
            f"got {bad.size} of {X.shape[0]} nodes whose mirror image carries another weight, e.g. node {i} "
            f"(t = {t:.6g}) with weight {own[i]:.6g} and {image[i]:.6g} at its mirror image")
    return _Law("discrete", manifold.coordinate(X), w)
