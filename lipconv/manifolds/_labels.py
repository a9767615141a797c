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

from .._validation import check_int, check_positive, check_rng

__all__ = ["Label", "ramp_label", "step_label", "smooth_label", "onehot_label", "corrupt_labels"]


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
    """

    name: str
    lipschitz: float
    k: int
    params: dict
    fn: Callable[[np.ndarray], np.ndarray] = field(repr=False, compare=False)

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
    seed 000, Theorems 4.7/4.8.
    """
    delta = check_positive(delta, "delta")
    return Label(f"ramp(delta={delta:g})", 1.0 / delta, 1, {"delta": delta},
                 lambda t: np.clip(t / delta, -1.0, 1.0))


def step_label() -> Label:
    r"""Step :math:`y(t) = \mathrm{sign}(t)` (with y(0) = 0, the odd choice, so that symmetric
    quadratures stay symmetric). Not Lipschitz: outside the theorems, still a useful case."""
    return Label("step", np.inf, 1, {}, np.sign)


def smooth_label() -> Label:
    r"""Smooth :math:`y(t) = \sin(\pi t / 2)`, Lipschitz constant :math:`\pi/2`."""
    return Label("smooth", np.pi / 2.0, 1, {}, lambda t: np.sin(0.5 * np.pi * t))


def onehot_label(k: int) -> Label:
    r"""One-hot classes by k equal bins of t: class :math:`c(t) = \min(\lfloor k (t+1)/2 \rfloor, k-1)`.

    Returns (n, k) rows on the simplex (usable with the cross-entropy of seed 000, eq. (4.6)).
    Piecewise constant, so not Lipschitz.
    """
    k = check_int(k, "k", minimum=2)

    def fn(t):
        cls = np.clip(np.floor(0.5 * k * (t + 1.0)).astype(int), 0, k - 1)
        return np.eye(k)[cls]

    return Label(f"onehot(k={k})", np.inf, k, {"k": k}, fn)


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
    y = np.array(y, dtype=float)
    if y.ndim not in (1, 2) or y.shape[0] < 1:
        raise ValueError(f"y must have shape (n,) or (n, k) with n >= 1, got shape {y.shape}")
    gen = check_rng(rng)
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
