r"""Problems of a rate sweep: a manifold, a label, a loss and lam, with the continuum reference
:math:`u^\lambda` of seed 000, eq. (4.4).

A reference is *exact* when it is a function of the label coordinate t that can be evaluated at any
point of M: the closed forms on the flat cube (uniform density, squared loss, ramp or step labels,
any m, lifted from one dimension; DESIGN.md) and the reflection references on the sphere, circle and
tori (uniform density, squared loss, odd labels; :func:`lipconv.continuum.reflection_reference`).
Errors are then measured anywhere on M (stratified samples, a certified sup;
:func:`lipconv.rates.error_metrics`). Otherwise the reference is a fine-quadrature continuum solve
(:func:`lipconv.continuum.continuum_minimizer`) known on its nodes only, where the errors are
measured, beside the solve's own error estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_positive

__all__ = ["MANIFOLDS", "LABELS", "Problem", "make_manifold", "make_label", "make_problem", "problem_name"]

# name -> (constructor, intrinsic dimension or None when m is free, minimal ambient dimension)
MANIFOLDS = {
    "cube": ("FlatCube", None, None),
    "circle": ("Circle", 1, 2),
    "sphere": ("Sphere", 2, 3),
    "torus": ("Torus", 2, 4),
    "curved_torus": ("CurvedTorus", 2, 4),
}
LABELS = ("ramp", "step", "smooth")
_DEFAULT_DELTA = 0.5


def check_manifold_name(name) -> str:
    if name not in MANIFOLDS:
        raise ValueError(f"manifold must be one of {tuple(MANIFOLDS)}, got {name!r}")
    return name


def intrinsic_dim(name: str, m: int) -> int:
    """The intrinsic dimension of the named manifold (the requested m for the cube)."""
    fixed = MANIFOLDS[check_manifold_name(name)][1]
    return check_int(m, "m", minimum=1) if fixed is None else fixed


def make_manifold(name: str, m: int, d: int | None = None, *, density: str = "uniform"):
    """The manifold ``name`` with frame seed 0; ``d=None`` takes the smallest ambient dimension
    (m for the cube). The frame is fixed: a sweep varies the data, not the embedding."""
    from .. import manifolds

    cls_name, fixed_m, min_d = MANIFOLDS[check_manifold_name(name)]
    cls = getattr(manifolds, cls_name)
    if fixed_m is None:
        m = check_int(m, "m", minimum=1)
        return cls(m, m if d is None else d, density=density, seed=0)
    return cls(min_d if d is None else d, density=density, seed=0)


def make_label(spec: str):
    """A label from its spec: "ramp" (delta 0.5), "ramp:0.25", "step", "smooth"."""
    from .. import manifolds

    name, _, arg = str(spec).partition(":")
    if name not in LABELS:
        raise ValueError(f"label must be one of {LABELS} (ramp may be 'ramp:<delta>'), got {spec!r}")
    if name == "ramp":
        try:
            delta = float(arg) if arg else _DEFAULT_DELTA
        except ValueError:
            raise ValueError(f"label 'ramp:<delta>' needs a number for delta, got {spec!r}") from None
        return manifolds.ramp_label(delta)
    if arg:
        raise ValueError(f"label {name!r} takes no parameter, got {spec!r}")
    return manifolds.step_label() if name == "step" else manifolds.smooth_label()


def problem_name(manifold: str, m: int, d: int) -> str:
    """A short name of the problem: "cube m=2 d=3", "sphere d=3"."""
    return f"{manifold} m={m} d={d}" if MANIFOLDS[manifold][1] is None else f"{manifold} d={d}"


@dataclass(frozen=True)
class Problem:
    r"""A manifold, a label, lam and a loss, with the continuum minimizer :math:`u^\lambda`.

    Attributes
    ----------
    manifold_name, label_spec, loss : str
    m, d : int
    density : str
    lam : float
        Ambient regularization weight.
    exact : bool
        Whether :meth:`u_ref` evaluates :math:`u^\lambda` at any point (then ``kinks`` holds the
        t-values of its kinks); else it is known on ``nodes`` only.
    J_ref : float
        :math:`J[u^\lambda]`.
    lipschitz_ref : float
        Ambient Lipschitz constant of :math:`u^\lambda`.
    theta : float
        Strong-convexity constant of the loss (seed 000, eq. (4.5)).
    ref_kind : str
        "closed-form" (flat cube), "reflection" (reflection symmetry) or "quadrature".
    ref_err_sup, ref_err_J : float
        Error estimates of the reference (sup of u, and J).
    kinks : tuple of float
        t-values where :math:`u^\lambda` (or the label) has a kink.
    nodes, weights, labels, u_nodes : ndarray
        For quadrature references: the solve's nodes, weights, labels and values.
    """

    manifold_name: str
    m: int
    d: int
    density: str
    label_spec: str
    lam: float
    loss: str
    exact: bool
    J_ref: float
    lipschitz_ref: float
    theta: float
    ref_kind: str
    ref_err_sup: float
    ref_err_J: float
    kinks: tuple = ()
    reference: object = field(default=None, repr=False, compare=False)
    nodes: np.ndarray | None = field(default=None, repr=False, compare=False)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    u_nodes: np.ndarray | None = field(default=None, repr=False, compare=False)

    def manifold(self):
        return make_manifold(self.manifold_name, self.m, self.d, density=self.density)

    def label(self):
        return make_label(self.label_spec)

    def u_ref(self, x) -> np.ndarray:
        """:math:`u^\\lambda` at ambient points x of M (exact references only)."""
        if not self.exact:
            raise ValueError(f"u_ref needs an exact reference, got ref_kind {self.ref_kind!r}")
        return self.reference.u(self.manifold().coordinate(x))


def make_problem(manifold_name: str, m: int, *, d=None, density="uniform", label="ramp", lam, loss="squared",
                 n_reference: int = 1024) -> Problem:
    r"""Build a :class:`Problem` and its continuum reference :math:`u^\lambda` (seed 000, eq. (4.4)).

    * Flat cube, uniform density, squared loss, ramp or step labels: the closed forms of
      :mod:`lipconv.continuum` (``ramp_reference``/``step_reference``, lam converted with the cube's
      scale), any m.
    * A manifold with a coordinate law (sphere, circle, tori; :attr:`Manifold.coordinate_law`),
      uniform density, squared loss, and an odd label: the reflection reference
      (:func:`lipconv.continuum.reflection_reference`).
    * Otherwise: :func:`lipconv.continuum.continuum_minimizer` on the ``n_reference``-point
      quadrature, whose nodes are then the nodes on which errors are measured.
    """
    from ..continuum import continuum_minimizer, ramp_reference, reflection_reference, step_reference
    from ..losses import get_loss

    lam = check_positive(lam, "lam")
    loss_obj = get_loss(loss)
    manifold = make_manifold(manifold_name, m, d, density=density)
    lab = make_label(label)
    name = str(label).partition(":")[0]
    common = dict(manifold_name=manifold_name, m=manifold.m, d=manifold.d, density=density, label_spec=str(label),
                  lam=lam, loss=loss_obj.name, theta=float(loss_obj.theta))
    squared_uniform = density == "uniform" and loss_obj.name == "squared"
    if squared_uniform and manifold_name == "cube" and name in ("ramp", "step"):
        ref = (ramp_reference(lam, lab.params["delta"], manifold.m, scale=manifold.scale) if name == "ramp"
               else step_reference(lam, manifold.m, scale=manifold.scale))
        return Problem(**common, exact=True, J_ref=float(ref.value), lipschitz_ref=float(ref.lipschitz),
                       ref_kind="closed-form", ref_err_sup=0.0, ref_err_J=0.0, kinks=_kinks(ref, lab),
                       reference=ref)
    if squared_uniform and getattr(manifold, "coordinate_law", None) is not None:
        try:
            ref = reflection_reference(manifold, lab, lam=lam)
        except ValueError:
            ref = None
        if ref is not None:
            return Problem(**common, exact=True, J_ref=float(ref.value), lipschitz_ref=float(ref.lipschitz),
                           ref_kind="reflection", ref_err_sup=float(ref.error_slope),
                           ref_err_J=float(ref.error_value), kinks=_kinks(ref, lab), reference=ref)
    sol = continuum_minimizer(manifold, lab, lam=lam, loss=loss_obj, N=check_int(n_reference, "n_reference", minimum=4))
    return Problem(**common, exact=False, J_ref=float(sol.objective), lipschitz_ref=float(sol.lipschitz),
                   ref_kind="quadrature", ref_err_sup=float(sol.error_sup), ref_err_J=float(sol.error_objective),
                   nodes=sol.nodes, weights=sol.weights, labels=sol.labels, u_nodes=sol.values)


def _kinks(ref, label) -> tuple:
    """t-values of the kinks of an exact reference u(t): where its slope jumps on a fine grid of t
    (the clip points of u and of the label), located to the grid's resolution (they only seed the
    certified sup's first grid, which is rigorous wherever its nodes are)."""
    t = np.linspace(-1.0, 1.0, 40001)
    u = np.asarray(ref.u(t), dtype=float).reshape(t.size, -1)
    second = np.abs(np.diff(u, 2, axis=0)).max(axis=1)
    scale = max(float(np.abs(np.diff(u, axis=0)).max()), 1e-300)
    idx = np.flatnonzero(second > 1e-3 * scale) + 1
    kinks = sorted({round(float(t[i]), 6) for i in idx})
    delta = label.params.get("delta") if hasattr(label, "params") else None
    if delta is not None:
        kinks = sorted(set(kinks) | {float(delta), -float(delta)})
    return tuple(kinks)
