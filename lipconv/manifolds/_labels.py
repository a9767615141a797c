r"""Label functions of the intrinsic coordinate t = ``manifold.coordinate(x)`` in [-1, 1].

Convention: a label is a :class:`Label`, a callable of the coordinate only,
``label(t) -> (n,)`` (scalar labels) or ``(n, k)`` (one-hot labels). On a manifold use
``label(manifold.coordinate(x))`` or, equivalently, ``label.on(manifold, x)``. Keeping labels
functions of t alone lets the same label serve every manifold and makes the continuum references
(which depend on t = x_1 only, DESIGN.md) apply directly.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_positive, check_real, check_rng

__all__ = ["Label", "ramp_label", "step_label", "smooth_label", "sine_label", "onehot_label", "soft_label",
           "corrupt_labels"]


@dataclass(frozen=True)
class Label:
    """A label function of the coordinate t in [-1, 1], with the metadata the theory uses.

    Attributes
    ----------
    name : str
        E.g. ``"ramp(delta=0.5)"``.
    lipschitz : float
        Lipschitz constant in t (``inf`` for discontinuous labels).
    k : int
        Number of outputs; 1 means scalar labels of shape (n,).
    params : dict
        The parameters (``{"delta": 0.5}``, ``{"k": 3}``, ...).
    breaks : tuple of float
        The t-values in [-1, 1] where the label is not smooth (kinks, jumps); between them it is
        analytic, which quadratures of the label use (:func:`lipconv.continuum.lifted_reference`).
    """

    name: str
    lipschitz: float
    k: int
    params: dict
    fn: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)
    breaks: tuple = ()

    def __call__(self, t) -> np.ndarray:
        t = np.asarray(t, dtype=float)
        if t.ndim != 1:
            raise ValueError(f"t must be a 1-D array of coordinates, got shape {t.shape}")
        return self.fn(t)

    def on(self, manifold, x) -> np.ndarray:
        """Labels of ambient points x (n, d) on ``manifold``: ``self(manifold.coordinate(x))``."""
        return self(manifold.coordinate(x))


def ramp_label(delta: float) -> Label:
    r"""Lipschitz ramp :math:`y(t) = \mathrm{clip}(t/\delta, -1, 1)`, Lipschitz constant 1/delta.

    The Lipschitz labels of DESIGN.md ("Exact continuum references"); they satisfy the hypotheses of
    [FCAO] Theorems 4.7/4.8.
    """
    delta = check_positive(delta, "delta")
    return Label(f"ramp(delta={delta:g})", 1.0 / delta, 1, {"delta": delta},
                 lambda t: np.clip(t / delta, -1.0, 1.0), breaks=(-delta, delta) if delta < 1 else ())


def step_label() -> Label:
    r"""Step :math:`y(t) = \mathrm{sign}(t)` (with y(0) = 0, the odd choice, so that symmetric
    quadratures stay symmetric). Not Lipschitz: outside the theorems, still a useful case."""
    return Label("step", np.inf, 1, {}, np.sign, breaks=(0.0,))


def smooth_label() -> Label:
    r"""Smooth :math:`y(t) = \sin(\pi t / 2)`, Lipschitz constant :math:`\pi/2`."""
    return Label("smooth", np.pi / 2.0, 1, {}, lambda t: np.sin(0.5 * np.pi * t))


def onehot_label(k: int) -> Label:
    r"""One-hot classes by k equal bins of t: class :math:`c(t) = \min(\lfloor k (t+1)/2 \rfloor, k-1)`.

    Returns (n, k) rows on the simplex (usable with the cross-entropy of [FCAO] eq. (4.6)).
    Piecewise constant, so not Lipschitz.
    """
    k = check_int(k, "k", minimum=2)

    def fn(t):
        cls = np.clip(np.floor(0.5 * k * (t + 1.0)).astype(int), 0, k - 1)
        return np.eye(k)[cls]

    return Label(f"onehot(k={k})", np.inf, k, {"k": k}, fn, breaks=tuple(-1.0 + 2.0 * c / k for c in range(1, k)))


def sine_label(k: float) -> Label:
    r"""Oscillating :math:`y(t) = \sin(2\pi k t)`, Lipschitz constant :math:`2\pi k` (odd in t).

    Lipschitz for every k, with a constant that grows with k: the family of the issue's label study
    ([FCAO]'s theorems hold for each k; their constants grow with it)."""
    k = check_positive(k, "k")
    return Label(f"sin(k={k:g})", 2.0 * np.pi * k, 1, {"k": k}, lambda t: np.sin(2.0 * np.pi * k * t))


def soft_label(k: int, *, beta: float = 4.0) -> Label:
    r"""Soft classes on the simplex: :math:`z_c(t) = \mathrm{softmax}_c(-\beta (t - t_c)^2)`, with
    :math:`t_c` the centres of k equal bins of [-1, 1].

    Smooth, so Lipschitz: the softmax's Jacobian has spectral norm at most 1/2 and the scores'
    derivative has Euclidean norm at most :math:`4\beta\sqrt k`, so :math:`2\beta\sqrt k` (stored)
    bounds the Lipschitz constant in the Euclidean norm. The soft counterpart of
    :func:`onehot_label` (its class is the largest component, the same bins), inside the
    Lipschitz-label hypotheses.
    """
    k = check_int(k, "k", minimum=2)
    beta = check_positive(beta, "beta")
    centres = -1.0 + (2.0 * np.arange(k) + 1.0) / k

    def fn(t):
        s = -beta * (t[:, None] - centres[None, :]) ** 2
        s -= s.max(axis=1, keepdims=True)
        e = np.exp(s)
        return e / e.sum(axis=1, keepdims=True)

    return Label(f"soft(k={k}, beta={beta:g})", 2.0 * beta * np.sqrt(k), k, {"k": k, "beta": beta}, fn)


def corrupt_labels(y, fraction: float, rng) -> np.ndarray:
    """Corrupt exactly ``round(fraction * n)`` labels chosen uniformly without replacement.

    Scalar labels (n,) have their sign flipped (y -> -y); one-hot labels (n, k) are moved to a
    class drawn uniformly among the k - 1 other classes. Returns a new array; y is not modified.

    Parameters
    ----------
    y : array_like, shape (n,) or (n, k)
        Scalar labels, or one-hot rows (k >= 2).
    fraction : float
        In [0, 1].
    rng : int, numpy.random.Generator or None
        Seed or generator.
    """
    fraction = check_positive(fraction, "fraction", allow_zero=True)
    if fraction > 1.0:
        raise ValueError(f"fraction must be in [0, 1], got {fraction}")
    y = check_real(y, "y").copy()
    if y.ndim not in (1, 2) or y.shape[0] < 1:
        raise ValueError(f"y must have shape (n,) or (n, k) with n >= 1, got shape {y.shape}")
    gen = check_rng(rng, "rng")
    n = y.shape[0]
    idx = gen.choice(n, size=int(round(fraction * n)), replace=False)
    if y.ndim == 1:
        y[idx] = -y[idx]
        return y
    k = y.shape[1]
    if k < 2 or not (np.all((y == 0) | (y == 1)) and np.all(y.sum(axis=1) == 1)):
        raise ValueError(f"y of shape (n, k) must be one-hot rows with k >= 2, got shape {y.shape}")
    old = y[idx].argmax(axis=1)
    new = (old + gen.integers(1, k, size=len(idx))) % k
    y[idx] = np.eye(k)[new]
    return y
