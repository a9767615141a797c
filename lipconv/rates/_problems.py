r"""Problems of a rate sweep: a manifold, a label, a loss and lam, with the continuum reference
:math:`u^\lambda` of [FCAO] eq. (4.4).

A reference is *exact* when it is a function of the label coordinate t that can be evaluated at any
point of M: the closed forms on the flat cube (uniform density, squared loss, ramp or step labels,
any m, lifted from one dimension; DESIGN.md), the certified one-dimensional references on the flat
cube for every other label and loss (:func:`lipconv.continuum.lifted_reference`: the cross-entropy,
the absolute and Huber losses, oscillating and soft labels) and the reflection references on the
sphere, circle and tori (uniform density, squared loss, odd labels;
:func:`lipconv.continuum.reflection_reference`).

Labels are specs ``<base>[+noise:<sigma>][+flip:<p>]`` (:func:`parse_label`): a deterministic base
label of t, then optional label noise drawn with the samples. The continuum problem of noisy
labels is the population one, :math:`\mathbb{E}_{y|x}\,\ell(u, y)`; for the squared loss and the
cross-entropy it equals :math:`\ell(u, \bar y(x))` plus a constant, :math:`\bar y` the mean label
(:class:`LabelModel`), so the reference is the mean label's and J_ref carries the constant.
Errors are then measured anywhere on M (stratified samples, a certified sup;
:func:`lipconv.rates.error_metrics`). Otherwise the reference is a fine-quadrature continuum solve
(:func:`lipconv.continuum.continuum_minimizer`) known on its nodes only, where the errors are
measured, beside the solve's own error estimate.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_positive

__all__ = ["MANIFOLDS", "LABELS", "LabelModel", "Problem", "make_manifold", "make_label", "parse_label", "make_problem",
           "problem_name", "label_hypotheses", "loss_hypotheses"]

# name -> (constructor, intrinsic dimension or None when m is free, minimal ambient dimension)
MANIFOLDS = {
    "cube": ("FlatCube", None, None),
    "circle": ("Circle", 1, 2),
    "sphere": ("Sphere", 2, 3),
    "torus": ("Torus", 2, 4),
    "curved_torus": ("CurvedTorus", 2, 4),
}
LABELS = ("ramp", "step", "smooth", "sin", "onehot", "soft")
MODIFIERS = ("noise", "flip")
_DEFAULT_DELTA = 0.5
_MAX_KINKS = 32


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


def _base_label(spec: str):
    from .. import manifolds

    name, _, arg = str(spec).partition(":")
    if name not in LABELS:
        raise ValueError(f"label must be one of {LABELS} (e.g. 'ramp:0.25', 'sin:2', 'onehot:3'), optionally "
                         f"followed by '+noise:<sigma>' or '+flip:<p>', got {spec!r}")

    def number(kind, convert=float):
        try:
            return convert(arg)
        except ValueError:
            raise ValueError(f"label '{name}:<{kind}>' needs a number for {kind}, got {spec!r}") from None

    if name == "ramp":
        return manifolds.ramp_label(number("delta") if arg else _DEFAULT_DELTA)
    if name == "sin":
        return manifolds.sine_label(number("k") if arg else 1.0)
    if name in ("onehot", "soft"):
        k = number("k", int) if arg else 3
        return manifolds.onehot_label(k) if name == "onehot" else manifolds.soft_label(k)
    if arg:
        raise ValueError(f"label {name!r} takes no parameter, got {spec!r}")
    return manifolds.step_label() if name == "step" else manifolds.smooth_label()


@dataclass(frozen=True)
class LabelModel:
    r"""How labels are drawn: a deterministic base label of t, then optional noise.

    * ``noise`` sigma: scalar labels plus :math:`\sigma\, N(0, 1)` (each output);
    * ``flip`` p: each label flipped with probability p, independently: a scalar label to -y, a
      one-hot label to one of the k - 1 other classes, uniformly.

    ``mean`` is the mean label :math:`\bar y(t) = \mathbb{E}[y \mid t]` (the base label when there is
    no noise): for the squared loss and the cross-entropy, :math:`\mathbb{E}_{y|t}\,\ell(u, y) =
    \ell(u, \bar y(t)) + c(t)` (the squared loss: c the conditional variance; the cross-entropy of
    eq. (4.6) is affine in its second argument up to the entropy term, so c is that term's Jensen
    gap), so the population problem is the mean label's, with J shifted by :meth:`offset`.
    """

    spec: str
    base: object
    noise: float = 0.0
    flip: float = 0.0

    @property
    def deterministic(self) -> bool:
        return self.noise == 0.0 and self.flip == 0.0

    @property
    def mean(self):
        """The mean label :math:`\bar y` as a :class:`lipconv.manifolds.Label`."""
        from ..manifolds import Label

        base, p = self.base, self.flip
        if p == 0.0:
            return base
        if base.k == 1:
            return Label(f"{base.name}*(1-2p={1 - 2 * p:g})", abs(1 - 2 * p) * base.lipschitz, 1, dict(base.params),
                         lambda t: (1.0 - 2.0 * p) * base(t), breaks=base.breaks)
        k = base.k
        return Label(f"{base.name} flipped(p={p:g})", base.lipschitz, k, dict(base.params),
                     lambda t: (1.0 - p) * base(t) + p / (k - 1) * (1.0 - base(t)), breaks=base.breaks)

    def sample(self, t, rng) -> np.ndarray:
        """Labels at coordinates t, noise drawn from ``rng`` (after the samples)."""
        y = np.asarray(self.base(t), dtype=float)
        if self.flip > 0.0:
            hit = rng.random(y.shape[0]) < self.flip
            if y.ndim == 1:
                y = np.where(hit, -y, y)
            else:
                k = y.shape[1]
                shift = rng.integers(1, k, size=y.shape[0])
                y = np.where(hit[:, None], np.eye(k)[(y.argmax(axis=1) + shift) % k], y)
        if self.noise > 0.0:
            y = y + self.noise * rng.standard_normal(y.shape)
        return y

    def offset(self, loss, t) -> np.ndarray:
        r""":math:`c(t) = \mathbb{E}_{y|t}\,\ell(u, y) - \ell(u, \bar y(t))`, which does not depend on u."""
        t = np.asarray(t, dtype=float)
        if self.deterministic:
            return np.zeros(t.size)
        base = np.asarray(self.base(t), dtype=float).reshape(t.size, -1)
        k = base.shape[1]
        if loss.name == "squared":
            # Var of the flip (4 p (1 - p) y^2 for scalars, sum over outputs for one-hot) plus the noise's.
            if k == 1:
                flip_var = 4.0 * self.flip * (1.0 - self.flip) * base[:, 0] ** 2
            else:
                ybar = np.asarray(self.mean(t)).reshape(t.size, k)
                flip_var = 1.0 - (ybar**2).sum(axis=1)  # E||e_Z - ybar||^2 = 1 - ||ybar||^2 for one-hot Z
            return flip_var + k * self.noise**2
        eps = loss.params["eps"]
        ybar = np.asarray(self.mean(t)).reshape(t.size, k)
        onehot_entropy = (1.0 + eps) * np.log(1.0 + eps) + (k - 1) * eps * np.log(eps)
        return onehot_entropy - ((ybar + eps) * np.log(ybar + eps)).sum(axis=1)


def parse_label(spec: str) -> LabelModel:
    """The :class:`LabelModel` of a spec ``<base>[+noise:<sigma>][+flip:<p>]``, base one of
    ``ramp[:<delta>]``, ``step``, ``smooth``, ``sin[:<k>]`` (sin(2 pi k t)), ``onehot[:<k>]``,
    ``soft[:<k>]`` (k classes, default 3)."""
    base_spec, *mods = str(spec).split("+")
    base = _base_label(base_spec)
    opts = {}
    for mod in mods:
        key, _, value = mod.partition(":")
        if key not in MODIFIERS or key in opts:
            raise ValueError(f"label modifiers must be '+noise:<sigma>' or '+flip:<p>', each at most once, got {spec!r}")
        try:
            opts[key] = float(value)
        except ValueError:
            raise ValueError(f"label modifier '{key}' needs a number, got {spec!r}") from None
    noise, flip = opts.get("noise", 0.0), opts.get("flip", 0.0)
    if not (np.isfinite(noise) and noise >= 0):
        raise ValueError(f"label noise sigma must be >= 0, got {noise} in {spec!r}")
    if not (0.0 <= flip < 0.5):
        raise ValueError(f"label flip probability must be in [0, 0.5), got {flip} in {spec!r}")
    if noise > 0 and base.k > 1:
        raise ValueError(f"label noise needs scalar labels (vector labels live on the simplex; use +flip), got {spec!r}")
    if flip > 0 and base.k > 1 and not base.name.startswith("onehot"):
        raise ValueError(f"+flip of vector labels needs one-hot labels, got {spec!r}")
    return LabelModel(str(spec), base, noise, flip)


def make_label(spec: str):
    """The deterministic (mean) label of a spec: "ramp" (delta 0.5), "ramp:0.25", "step", "smooth",
    "sin:2", "onehot:3", "soft:3", with optional "+noise:<sigma>", "+flip:<p>" (:func:`parse_label`)."""
    return parse_label(spec).mean


def label_hypotheses(spec: str) -> str:
    """Which hypotheses of [FCAO] (Section 4.2) the labels of ``spec`` meet or break, in words."""
    model = parse_label(spec)
    base = model.base
    parts = []
    if np.isfinite(base.lipschitz):
        parts.append(f"Lipschitz labels (constant {base.lipschitz:.3g} in t)")
    else:
        parts.append("discontinuous labels (not Lipschitz; J[u^lam] and the theorems still make sense, "
                     "the reference is exact)")
    if model.deterministic:
        parts.append("deterministic y(x) as in eq. (4.4)")
    else:
        parts.append("NOISY labels: outside the deterministic-label theory (eq. (4.4) has y(x)); the "
                     "population problem is the mean label's (reference: the mean label's minimizer)")
    return "; ".join(parts)


def loss_hypotheses(loss) -> str:
    """Which of Theorems 4.7 and 4.8 of [FCAO] the loss meets, in words."""
    from ..losses import get_loss

    loss = get_loss(loss)
    if loss.theta > 0:
        return (f"Lipschitz and strongly convex (theta = {loss.theta:.3g}): Theorem 4.8's rate applies")
    if loss.name == "huber":
        return ("not strongly convex (theta = 0; strictly convex only where |r| <= delta): no rate is claimed; "
                "Theorem 4.7 (uniform convergence, no rate) needs strict convexity")
    return ("convex, not strictly convex (theta = 0): no rate is claimed, and Theorem 4.7's uniform convergence "
            "needs strict convexity, which it lacks")


def problem_name(manifold: str, m: int, d: int) -> str:
    """A short name of the problem: "cube m=2 d=3", "sphere d=3"."""
    manifold = check_manifold_name(manifold)
    m, d = check_int(m, "m"), check_int(d, "d")
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
        Strong-convexity constant of the loss ([FCAO] eq. (4.5)).
    ref_kind : str
        "closed-form" (flat cube), "lifted" (certified 1-D reference on the flat cube),
        "reflection" (reflection symmetry) or "quadrature".
    ref_err_sup, ref_err_J : float
        Error estimates of the reference (sup of u, and J); certified bounds for "lifted".
    ref_err_l2 : float
        Certified bound on the reference's L2(rho) error ("lifted" with theta > 0; else nan).
    kinks : tuple of float
        t-values where :math:`u^\lambda` (or the label) has a kink.
    label_model : LabelModel
        How the labels are drawn (:func:`parse_label` of ``label_spec``, or the given Label).
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
    ref_err_l2: float = float("nan")
    kinks: tuple = ()
    label_model: LabelModel | None = field(default=None, repr=False, compare=False)
    reference: object = field(default=None, repr=False, compare=False)
    nodes: np.ndarray | None = field(default=None, repr=False, compare=False)
    weights: np.ndarray | None = field(default=None, repr=False, compare=False)
    labels: np.ndarray | None = field(default=None, repr=False, compare=False)
    u_nodes: np.ndarray | None = field(default=None, repr=False, compare=False)

    def manifold(self):
        return make_manifold(self.manifold_name, self.m, self.d, density=self.density)

    def label(self):
        """The deterministic (mean) label: the continuum problem's (:class:`LabelModel`)."""
        return self._model().mean

    def sample_labels(self, manifold, X, rng) -> np.ndarray:
        """Labels of the samples X, with the spec's noise drawn from ``rng``."""
        return self._model().sample(manifold.coordinate(X), rng)

    def _model(self) -> LabelModel:
        return self.label_model if self.label_model is not None else parse_label(self.label_spec)

    def u_ref(self, x) -> np.ndarray:
        """:math:`u^\\lambda` at ambient points x of M (exact references only)."""
        if not self.exact:
            raise ValueError(f"u_ref needs an exact reference, got ref_kind {self.ref_kind!r}")
        return self.reference.u(self.manifold().coordinate(x))


def make_problem(manifold_name: str, m: int, *, d=None, density="uniform", label="ramp", lam, loss="squared",
                 n_reference: int = 1024, n_lifted: int = 16384) -> Problem:
    r"""Build a :class:`Problem` and its continuum reference :math:`u^\lambda` ([FCAO] eq. (4.4)).

    * Flat cube, uniform density, squared loss, ramp or step labels: the closed forms of
      :mod:`lipconv.continuum` (``ramp_reference``/``step_reference``, lam converted with the cube's
      scale), any m.
    * Flat cube, uniform density, any other label or loss (the cross-entropy, absolute, Huber;
      sin, soft, one-hot, flipped labels): the certified 1-D reference
      :func:`lipconv.continuum.lifted_reference` on ``n_lifted`` cells.
    * A manifold with a coordinate law (sphere, circle, tori; :attr:`Manifold.coordinate_law`),
      uniform density, squared loss, and an odd scalar label: the reflection reference
      (:func:`lipconv.continuum.reflection_reference`).
    * Otherwise: :func:`lipconv.continuum.continuum_minimizer` on the ``n_reference``-point
      quadrature, whose nodes are then the nodes on which errors are measured (scalar labels only).

    Noisy labels (:class:`LabelModel`) take the mean label's reference, with J_ref raised by the
    mean of the loss's constant :meth:`LabelModel.offset`. ``label`` is a spec (:func:`parse_label`)
    or a :class:`lipconv.manifolds.Label` (deterministic; its reference is never a closed form).
    """
    from ..continuum import (
        continuum_minimizer, lifted_reference, ramp_reference, reflection_reference, step_reference,
    )
    from ..losses import get_loss

    lam = check_positive(lam, "lam")
    n_reference = check_int(n_reference, "n_reference", minimum=4)
    n_lifted = check_int(n_lifted, "n_lifted", minimum=4)
    loss_obj = get_loss(loss)
    manifold = make_manifold(manifold_name, m, d, density=density)
    if hasattr(label, "fn"):  # a Label object (e.g. a target chosen per n): deterministic, no closed form
        model = LabelModel(label.name, label)
        name = ""
    else:
        model = parse_label(label)
        name = str(label).partition(":")[0].partition("+")[0]
    lab = model.mean
    if lab.k > 1 and loss_obj.name not in ("cross_entropy", "squared"):
        raise ValueError(f"label {label!r} has k = {lab.k} outputs; vector labels need loss 'cross_entropy' or "
                         f"'squared', got {loss_obj.name!r}")
    if lab.k == 1 and loss_obj.name == "cross_entropy":
        raise ValueError(f"loss 'cross_entropy' needs labels on the simplex ('onehot:<k>' or 'soft:<k>'), got {label!r}")
    if not model.deterministic and loss_obj.name not in ("squared", "cross_entropy"):
        raise ValueError(f"noisy labels ({label!r}) need loss 'squared' or 'cross_entropy' (whose population problem "
                         f"is the mean label's), got {loss_obj.name!r}")
    common = dict(manifold_name=manifold_name, m=manifold.m, d=manifold.d, density=density, label_spec=model.spec,
                  lam=lam, loss=loss_obj.name, theta=float(loss_obj.theta), label_model=model)
    uniform = density == "uniform"
    squared_uniform = uniform and loss_obj.name == "squared"
    offset = 0.0 if model.deterministic else _mean_offset(model, loss_obj, manifold)
    if squared_uniform and manifold_name == "cube" and name in ("ramp", "step") and model.flip == 0.0:
        ref = (ramp_reference(lam, lab.params["delta"], manifold.m, scale=manifold.scale) if name == "ramp"
               else step_reference(lam, manifold.m, scale=manifold.scale))
        return Problem(**common, exact=True, J_ref=float(ref.value) + offset, lipschitz_ref=float(ref.lipschitz),
                       ref_kind="closed-form", ref_err_sup=0.0, ref_err_J=0.0, ref_err_l2=0.0, kinks=_kinks(ref, lab),
                       reference=ref)
    if uniform and manifold_name == "cube":
        ref = lifted_reference(lab, lam=lam, loss=loss_obj, m=manifold.m, scale=manifold.scale, N=n_lifted)
        return Problem(**common, exact=True, J_ref=float(ref.value) + offset, lipschitz_ref=float(ref.lipschitz),
                       ref_kind="lifted", ref_err_sup=float(ref.error_sup), ref_err_J=float(ref.error_value),
                       ref_err_l2=float(ref.error_l2), kinks=_kinks(ref, lab), reference=ref)
    if squared_uniform and lab.k == 1 and getattr(manifold, "coordinate_law", None) is not None:
        try:
            ref = reflection_reference(manifold, lab, lam=lam)
        except ValueError:
            ref = None
        if ref is not None:
            return Problem(**common, exact=True, J_ref=float(ref.value) + offset, lipschitz_ref=float(ref.lipschitz),
                           ref_kind="reflection", ref_err_sup=float(ref.error_slope),
                           ref_err_J=float(ref.error_value), kinks=_kinks(ref, lab), reference=ref)
    if lab.k > 1:
        raise ValueError(f"vector labels ({label!r}) have a reference on the flat cube with uniform density only "
                         f"(lipconv.continuum.lifted_reference), got manifold {manifold_name!r}, density {density!r}")
    sol = continuum_minimizer(manifold, lab, lam=lam, loss=loss_obj, N=check_int(n_reference, "n_reference", minimum=4))
    return Problem(**common, exact=False, J_ref=float(sol.objective) + offset, lipschitz_ref=float(sol.lipschitz),
                   ref_kind="quadrature", ref_err_sup=float(sol.error_sup), ref_err_J=float(sol.error_objective),
                   nodes=sol.nodes, weights=sol.weights, labels=sol.labels, u_nodes=sol.values)


def _mean_offset(model: LabelModel, loss, manifold) -> float:
    r""":math:`\mathbb{E}_\rho\, c(t)` of :meth:`LabelModel.offset`: a 20,000-point midpoint rule of rho's
    quadrature (c depends on t only; exact for the noise, whose c is constant)."""
    nodes, weights = manifold.quadrature(20000)
    return float(weights @ model.offset(loss, manifold.coordinate(nodes)))


def _kinks(ref, label) -> tuple:
    """t-values of the kinks of an exact reference u(t): where its slope jumps on a fine grid of t
    (the clip points of u and of the label), located to the grid's resolution (they only seed the
    certified sup's first grid, which is rigorous wherever its nodes are)."""
    t = np.linspace(-1.0, 1.0, 40001)
    u = np.asarray(ref.u(t), dtype=float).reshape(t.size, -1)
    second = np.abs(np.diff(u, 2, axis=0)).max(axis=1)
    scale = max(float(np.abs(np.diff(u, axis=0)).max()), 1e-300)
    idx = np.flatnonzero(second > 1e-3 * scale) + 1
    idx = idx[np.argsort(-second[idx - 1], kind="stable")[:_MAX_KINKS]]  # a piecewise-linear reference bends everywhere
    kinks = sorted({round(float(t[i]), 6) for i in idx} | {float(b) for b in getattr(label, "breaks", ())})
    delta = label.params.get("delta") if hasattr(label, "params") else None
    if delta is not None:
        kinks = sorted(set(kinks) | {float(delta), -float(delta)})
    return tuple(kinks)
