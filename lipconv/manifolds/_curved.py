r"""A flat torus bent in R^d: the same intrinsic manifold, an ambient geometry that changes with d.

The manifold hypothesis (DESIGN.md, "What the measurements mean") is tested only by embeddings whose
pairwise distances change with d; an orthonormal frame into a larger space changes none.
:class:`CurvedTorus` keeps the intrinsic problem fixed (the flat torus :math:`(2\pi)^2`, its uniform
measure, the label coordinate :math:`t = \cos a`) and bends it by an amount and into a number of
directions that grow with d.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_int, check_positive
from ._base import Manifold
from ._manifolds import _TwoAngleTorus, _unit_rows

__all__ = ["CurvedTorus"]

_ZERO_FREQUENCY = 1e-12
_NEWTON_STEPS = 100
_ANGLE_TOL = 1e-13


class CurvedTorus(_TwoAngleTorus, Manifold):
    r"""The flat torus bent isometrically into :math:`\mathbb{R}^d`: chordal distances, curvature and
    reach depend on d; intrinsic distances, the uniform measure and the labels do not.

    Model points (D = d, k = d - 3):

    .. math::

        p(a, b) = \big(\cos a,\ \gamma(\sin a),\ \cos b,\ \sin b\big) \in \mathbb{R}^{1 + k + 2},
        \qquad \gamma(s) = \int_0^s e^{rA} e_1\, dr \in \mathbb{R}^k,

    with A the skew chain matrix :math:`A_{i+1,i} = -A_{i,i+1} = \kappa` (k x k). Since
    :math:`e^{rA}` is orthogonal, :math:`|\gamma'| = 1` and :math:`|\gamma''| = |A e_1| = \kappa`:
    :math:`\gamma` is a unit-speed curve of constant curvature :math:`\kappa` whose velocity turns
    through all k directions (the Krylov space of a chain is all of :math:`\mathbb{R}^k`). The curve
    :math:`F(a) = (\cos a, \gamma(\sin a))` has :math:`|F'|^2 = \sin^2 a + \cos^2 a = 1`, so the
    metric of p is :math:`da^2 + db^2` for every d and kappa: the same flat torus, whose uniform
    (normalized volume) measure is uniform in (a, b). The embedding bends the unit circle of the
    Clifford torus along :math:`\gamma` (an isometric bending of the plane strip
    :math:`(x_1, x_2) \mapsto (x_1, \gamma(x_2))`), so chords shrink while arc lengths stay.

    Geometry in model units: the curvature of F is :math:`\sqrt{1 + \kappa^2 \cos^4 a}`, at most
    :attr:`max_curvature` :math:`= \sqrt{1 + \kappa^2}`, so the reach is at most
    :math:`1/\sqrt{1+\kappa^2}`. The default :math:`\kappa = (d - 4)/2` grows with d, and d = 4
    (k = 1, :math:`\gamma(s) = s`) is the Clifford torus :class:`Torus` itself, point for point.

    Symmetry: :math:`a \to \pi - a` maps p to p with :math:`p_1 \to -p_1` only, a reflection of the
    ambient space that preserves M and the uniform measure and flips :math:`t = \cos a`; so the
    continuum minimizer for odd labels is known exactly (:func:`lipconv.continuum.reflection_reference`,
    the same for every d: the law of t is the arcsine law).

    Embedded as :math:`x = \tfrac12 + s Q p` with :math:`s = 1/(2\sqrt2)` (as :class:`Torus`;
    :math:`|\gamma(s)| \le |s|` gives :math:`|p| \le \sqrt2`) and Q a seeded Haar-random rotation of
    :math:`\mathbb{R}^d`.

    Parameters
    ----------
    d : int
        Ambient dimension, >= 4.
    curvature : float, optional
        kappa >= 0, the curvature of the bending curve :math:`\gamma` (default (d - 4)/2; must be 0
        for d = 4, where :math:`\gamma` is a line).
    density : {"uniform", "linear"}
        Density w.r.t. the normalized volume (``"linear"``: :math:`1 + \tfrac12 \cos a`).
    seed : int, numpy.random.Generator or None
        Seed of the embedding frame.

    Notes
    -----
    :meth:`quadrature` is the tensor grid of equally spaced angles of :class:`Torus` (N' <= N).
    Nearest points (:meth:`distance_to_manifold`) are found by a grid over a and safeguarded Newton
    on the derivative of the squared distance, to round-off.
    """

    coordinate_law = "arcsine"

    def __init__(self, d: int = 4, *, curvature: float | None = None, density: str = "uniform", seed=0):
        d = check_int(d, "d", minimum=1)
        if d < 4:
            raise ValueError(f"d must be >= 4 for CurvedTorus (m = 2), got {d}")
        kappa = 0.5 * (d - 4) if curvature is None else check_positive(curvature, "curvature", allow_zero=True)
        if d == 4 and kappa != 0.0:
            raise ValueError(f"curvature must be 0 for d = 4 (the bending needs d >= 5), got {kappa}")
        self.curvature = float(kappa)
        k = d - 3
        chain = np.zeros((k, k))
        idx = np.arange(k - 1)
        chain[idx + 1, idx] = kappa
        chain[idx, idx + 1] = -kappa
        # i A is Hermitian: A = V diag(-i mu) V^H with V unitary, so exp(rA) e_1 = V (exp(-i mu r) * c).
        mu, V = np.linalg.eigh(1j * chain)
        self._mu = mu
        self._V = V
        self._c = V.conj()[0, :]
        self._grid = 128 + 64 * int(np.ceil(2.0 * kappa))
        super().__init__(2, d, d, 1.0 / (2.0 * np.sqrt(2.0)), density=density, seed=seed)

    @property
    def name(self) -> str:
        return f"CurvedTorus(m=2, d={self.d}, curvature={self.curvature:g}, density={self.density_name!r})"

    @property
    def max_curvature(self) -> float:
        r""":math:`\sqrt{1 + \kappa^2}`, the largest curvature of the a-circles in model units (divide by
        ``scale`` for ambient units); the reach is at most its inverse."""
        return float(np.hypot(1.0, self.curvature))

    def embed_angles(self, a, b) -> np.ndarray:
        """Ambient points (n, d) of the angles a, b (each (n,)); :meth:`sample` draws them uniformly."""
        a = np.asarray(a, dtype=float).reshape(-1)
        b = np.asarray(b, dtype=float).reshape(-1)
        if a.shape != b.shape:
            raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
        return self._clip(self.embed(self._points(a, b)))

    # --- the bending curve -----------------------------------------------------------------------

    def _phases(self, s):
        return np.exp(-1j * np.outer(s, self._mu)) * self._c

    def _gamma(self, s):
        """gamma(s) = int_0^s exp(rA) e_1 dr, shape (n,) -> (n, k)."""
        s = np.asarray(s, dtype=float)
        mu = self._mu
        zero = np.abs(mu) < _ZERO_FREQUENCY
        safe = np.where(zero, 1.0, mu)
        integral = np.where(zero, s[:, None] + 0j, np.expm1(-1j * np.outer(s, safe)) / (-1j * safe))
        return np.real((integral * self._c) @ self._V.T)

    def _gamma_derivatives(self, s):
        """gamma'(s) and gamma''(s), each (n, k)."""
        ph = self._phases(s)
        return np.real(ph @ self._V.T), np.real((-1j * self._mu * ph) @ self._V.T)

    def _curve(self, a):
        """F(a) = (cos a, gamma(sin a)), shape (n,) -> (n, 1 + k)."""
        return np.hstack([np.cos(a)[:, None], self._gamma(np.sin(a))])

    def _curve_slope(self, a, q):
        """First and second derivatives in a of |F(a) - q|^2 / 2: (F - q).F' and |F'|^2 + (F - q).F''."""
        sin, cos = np.sin(a)[:, None], np.cos(a)[:, None]
        g1, g2 = self._gamma_derivatives(sin[:, 0])
        r = self._curve(a) - q
        dF = np.hstack([-sin, g1 * cos])
        ddF = np.hstack([-cos, g2 * cos * cos - g1 * sin])
        return np.sum(r * dF, axis=1), 1.0 + np.sum(r * ddF, axis=1)

    def _points(self, a, b):
        return np.hstack([self._curve(a), np.cos(b)[:, None], np.sin(b)[:, None]])

    # --- model interface -------------------------------------------------------------------------

    def _coordinate_model(self, p):
        return np.clip(p[:, 0], -1.0, 1.0)

    def _project_model(self, p):
        # The model is a product: the nearest point is the nearest point of each factor.
        k1 = self.d - 2
        return np.hstack([self._nearest_on_curve(p[:, :k1]), _unit_rows(p[:, k1:])])

    def _nearest_on_curve(self, q, chunk: int = 2048):
        """Nearest points of the closed curve F to the rows of q (n, 1 + k): the best of a grid of
        angles, then safeguarded Newton on the slope of |F(a) - q|^2 over the two neighbouring grid cells."""
        G = self._grid
        grid = 2.0 * np.pi * np.arange(G) / G
        Fg = self._curve(grid)
        h = 2.0 * np.pi / G
        best = np.empty(q.shape[0])
        for lo in range(0, q.shape[0], chunk):
            qc = q[lo:lo + chunk]
            d2 = np.sum(qc * qc, axis=1)[:, None] - 2.0 * qc @ Fg.T + np.sum(Fg * Fg, axis=1)[None, :]
            best[lo:lo + chunk] = grid[np.argmin(d2, axis=1)]
        left, right = best - h, best + h
        a = best.copy()
        # Newton on the slope, kept inside a bracket [left, right] on whose ends the slope is <= 0
        # and >= 0 (when the minimum lies within a grid cell of the best node); a step that leaves
        # the bracket, or meets negative curvature, bisects instead.
        for _ in range(_NEWTON_STEPS):
            slope, curv = self._curve_slope(a, q)
            up = slope > 0.0
            right = np.where(up, a, right)
            left = np.where(up, left, a)
            newton = a - slope / np.where(curv > 0.0, curv, 1.0)
            inside = (curv > 0.0) & (newton >= left) & (newton <= right)
            if np.all((inside & (np.abs(newton - a) <= _ANGLE_TOL)) | (right - left <= _ANGLE_TOL)):
                break
            a = np.where(inside, newton, 0.5 * (left + right))
        candidates = [a, best]
        dist = [np.sum((self._curve(c) - q) ** 2, axis=1) for c in candidates]
        return self._curve(np.where(dist[0] <= dist[1], candidates[0], candidates[1]))
