r"""Problems of a rate sweep: a manifold, a label, and the continuum reference u^lambda on a quadrature."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_positive

__all__ = ["MANIFOLDS", "LABELS", "Problem", "make_manifold", "make_label", "make_problem"]

# name -> (constructor, intrinsic dimension or None when m is free, minimal ambient dimension)
MANIFOLDS = {
    "cube": ("FlatCube", None, None),
    "circle": ("Circle", 1, 2),
    "sphere": ("Sphere", 2, 3),
    "torus": ("Torus", 2, 4),
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
    """The manifold ``name`` ("cube", "circle", "sphere", "torus") with frame seed 0.

    ``d=None`` takes the smallest ambient dimension (m for the cube). The frame is fixed (seed 0):
    a sweep varies the data, not the embedding.
    """
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


@dataclass(frozen=True)
class Problem:
    r"""A manifold, a label, lam and a loss, with :math:`u^\lambda` on a quadrature of rho.

    Attributes
    ----------
    manifold_name, label_spec, loss : str
    m, d : int
    density : str
    lam : float
        Ambient regularization weight.
    nodes : ndarray, shape (N, d)
        Quadrature nodes on which errors are measured.
    weights : ndarray, shape (N,)
    labels : ndarray, shape (N,) or (N, k)
        y at the nodes.
    u_ref : ndarray, shape (N,) or (N, k)
        :math:`u^\lambda` at the nodes.
    J_ref : float
        :math:`J[u^\lambda]` (exact when ``ref_kind == "exact"``).
    J_ref_quad : float
        The quadrature value :math:`\sum_i w_i \ell(u^\lambda_i, y_i) + \lambda \mathrm{Lip}(u^\lambda)` on
        the same nodes as the errors, so that :math:`J[u_n] - J[u^\lambda]` shares the quadrature.
    lipschitz_ref : float
        Ambient Lipschitz constant of :math:`u^\lambda`.
    theta : float
        Strong-convexity constant of the loss (seed 000, eq. (4.5)).
    ref_kind : str
        "exact" (closed form, flat cube) or "quadrature" (fine-quadrature continuum solve).
    ref_err_sup, ref_err_J : float
        Quadrature-error estimates of the reference (0 for exact references).
    """

    manifold_name: str
    m: int
    d: int
    density: str
    label_spec: str
    lam: float
    loss: str
    nodes: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    u_ref: np.ndarray = field(repr=False)
    J_ref: float
    J_ref_quad: float
    lipschitz_ref: float
    theta: float
    ref_kind: str
    ref_err_sup: float
    ref_err_J: float

    def manifold(self):
        return make_manifold(self.manifold_name, self.m, self.d, density=self.density)

    def label(self):
        return make_label(self.label_spec)


def make_problem(manifold_name: str, m: int, *, d=None, density="uniform", label="ramp", lam, loss="squared",
                 n_error: int = 8192, n_reference: int = 1024) -> Problem:
    r"""Build a :class:`Problem` and its continuum reference :math:`u^\lambda` (seed 000, eq. (4.4)).

    On the flat cube with the uniform density, the squared loss and ramp or step labels the
    reference is the closed form of :mod:`lipconv.continuum` (``ramp_reference``/``step_reference``,
    lam converted with the cube's scale), evaluated on the ``n_error``-point quadrature of the cube.
    Otherwise it is :func:`lipconv.continuum.continuum_minimizer` on the ``n_reference``-point
    quadrature, whose nodes are then also the nodes on which errors are measured, and whose
    quadrature-error estimates are recorded.
    """
    from ..continuum import continuum_minimizer, ramp_reference, step_reference
    from ..losses import get_loss

    lam = check_positive(lam, "lam")
    loss_obj = get_loss(loss)
    manifold = make_manifold(manifold_name, m, d, density=density)
    lab = make_label(label)
    name = str(label).partition(":")[0]
    exact = (manifold_name == "cube" and density == "uniform" and loss_obj.name == "squared"
             and name in ("ramp", "step"))
    if exact:
        ref = (ramp_reference(lam, lab.params["delta"], manifold.m, scale=manifold.scale) if name == "ramp"
               else step_reference(lam, manifold.m, scale=manifold.scale))
        nodes, weights = manifold.quadrature(check_int(n_error, "n_error", minimum=2))
        t = manifold.coordinate(nodes)
        y, u = lab(t), ref.u(t)
        J_ref, lip_ref, kind, err_sup, err_J = ref.value, ref.lipschitz, "exact", 0.0, 0.0
    else:
        sol = continuum_minimizer(manifold, lab, lam=lam, loss=loss_obj,
                                  N=check_int(n_reference, "n_reference", minimum=4))
        nodes, weights, y, u = sol.nodes, sol.weights, sol.labels, sol.values
        J_ref, lip_ref, kind = sol.objective, sol.lipschitz, "quadrature"
        err_sup, err_J = sol.error_sup, sol.error_objective
    J_quad = float(weights @ loss_obj.value(u, y) + lam * lip_ref)
    return Problem(
        manifold_name=manifold_name, m=manifold.m, d=manifold.d, density=density, label_spec=str(label),
        lam=lam, loss=loss_obj.name, nodes=nodes, weights=weights, labels=y, u_ref=u, J_ref=float(J_ref),
        J_ref_quad=J_quad, lipschitz_ref=float(lip_ref), theta=float(loss_obj.theta), ref_kind=kind,
        ref_err_sup=float(err_sup), ref_err_J=float(err_J),
    )

