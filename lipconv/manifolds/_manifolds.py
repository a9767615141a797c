r"""Concrete manifolds: the flat cube, the circle, the 2-sphere and the flat torus."""
from __future__ import annotations

import numpy as np

from .._validation import check_int
from ._base import Manifold, grid_counts

__all__ = ["FlatCube", "Circle", "Sphere", "Torus"]


def _midpoints(k: int, lo: float, hi: float) -> np.ndarray:
    return lo + (hi - lo) * (np.arange(k) + 0.5) / k


def _unit_rows(p: np.ndarray) -> np.ndarray:
    """Nearest points of the unit sphere to the rows of p; e_1 for a zero row (all are nearest)."""
    nrm = np.linalg.norm(p, axis=1, keepdims=True)
    first = np.zeros_like(p)
    first[:, 0] = 1.0
    return np.where(nrm > 0, p / np.where(nrm > 0, nrm, 1.0), first)


class FlatCube(Manifold):
    r"""The cube :math:`[-1,1]^m` embedded isometrically, up to the scale s, in :math:`[0,1]^d`.

    .. math::

        x = \tfrac12 + s\, Q z, \qquad z \in [-1,1]^m, \quad s = \frac{1}{2\sqrt m},

    with Q a seeded Haar-random orthonormal m-frame in R^d. Since
    :math:`\|s Q z\|_\infty \le s \|z\|_2 \le s\sqrt m = \tfrac12`, the image lies in [0,1]^d, and
    :math:`\|x - x'\|_2 = s\, \|z - z'\|_2` exactly. This is the flat m-dimensional domain of the rate
    studies (DESIGN.md, "Exact continuum references"): with labels depending on z_1 only, the
    continuum minimizer is known in closed form (:mod:`lipconv.continuum`).

    Parameters
    ----------
    m : int
        Intrinsic dimension, >= 1.
    d : int
        Ambient dimension, >= m.
    density : {"uniform", "linear"}
        Density w.r.t. the normalized volume (``"linear"``: :math:`1 + z_1/2`).
    seed : int, numpy.random.Generator or None
        Seed of the embedding frame.

    Notes
    -----
    The coordinate used by labels is :math:`t = z_1`. :meth:`quadrature` is the tensor midpoint
    rule (see :meth:`grid_quadrature`) with per-axis counts from ``floor(N^(1/m))`` and one more
    point on leading axes while the product stays <= N, so N' is in (N b/(b+1), N] with
    b = floor(N^(1/m)) (e.g. N = 300, m = 2 gives 17 x 17 = 289).
    """

    coordinate_law = "uniform"

    def __init__(self, m: int, d: int, *, density: str = "uniform", seed=0):
        m = check_int(m, "m", minimum=1)
        super().__init__(m, d, m, 1.0 / (2.0 * np.sqrt(m)), density=density, seed=seed)

    def intrinsic(self, x) -> np.ndarray:
        """Intrinsic coordinates z in [-1, 1]^m of ambient points x, shape (n, d) -> (n, m)."""
        return self.model(x)

    def grid_quadrature(self, counts) -> tuple[np.ndarray, np.ndarray]:
        r"""Tensor midpoint rule with ``counts[i]`` cells along intrinsic axis i.

        Nodes :math:`z_{i} = -1 + (2 j + 1)/k_i`; weights are the cell volumes times the density,
        normalized. Use an anisotropic grid (many cells along z_1, few along the others) when the
        integrand depends on z_1 only.

        Parameters
        ----------
        counts : sequence of m ints, each >= 1, with product >= 2

        Returns
        -------
        nodes : ndarray, shape (prod(counts), d)
        weights : ndarray, shape (prod(counts),)
        """
        counts = tuple(counts)
        if len(counts) != self.m:
            raise ValueError(f"counts must have m = {self.m} entries, got {len(counts)}")
        counts = tuple(check_int(k, "counts[i]", minimum=1) for k in counts)
        if int(np.prod(counts)) < 2:
            raise ValueError(f"counts must give at least 2 nodes, got {counts}")
        z = self._tensor_grid(counts)
        w = np.full(z.shape[0], 1.0 / z.shape[0])
        if self.density_name != "uniform":
            w = w * self._density_model(z)
        return self._clip(self.embed(z)), w / w.sum()

    def _tensor_grid(self, counts) -> np.ndarray:
        axes = [_midpoints(k, -1.0, 1.0) for k in counts]
        return np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, self.m)

    def _sample_uniform_model(self, n, rng):
        return rng.uniform(-1.0, 1.0, size=(n, self.m))

    def _param_box(self):
        return np.full(self.m, -1.0), np.full(self.m, 1.0), np.zeros(self.m, dtype=bool)

    def _from_param(self, P):
        return np.asarray(P, dtype=float)

    def _label_param(self, t):
        return [t]

    def _uniform_rule(self, N):
        z = self._tensor_grid(grid_counts(N, self.m))
        return z, np.full(z.shape[0], 1.0 / z.shape[0])

    def _coordinate_model(self, p):
        return p[:, 0]

    def _project_model(self, p):
        return np.clip(p, -1.0, 1.0)


class Circle(Manifold):
    r"""The unit circle :math:`p = (\cos\theta, \sin\theta)` embedded as :math:`x = \tfrac12 + \tfrac12 Q p`.

    m = 1, d >= 2, scale 1/2 (ambient distance = chord of the unit circle / 2). The label coordinate
    is :math:`t = \cos\theta`. :meth:`quadrature` has N' = N equally spaced angles
    :math:`\theta_i = 2\pi(i + \tfrac12)/N` (weights equal, times the density). ``"linear"`` density:
    :math:`1 + \tfrac12\cos\theta`.

    Lipschitz constants are ambient (chordal): the geodesic ramp of slope L has a larger chordal
    constant (DESIGN.md, pitfalls).
    """

    coordinate_law = "arcsine"

    def __init__(self, d: int = 2, *, density: str = "uniform", seed=0):
        super().__init__(1, d, 2, 0.5, density=density, seed=seed)

    @staticmethod
    def _points(theta):
        return np.stack([np.cos(theta), np.sin(theta)], axis=1)

    def _sample_uniform_model(self, n, rng):
        return self._points(rng.uniform(0.0, 2.0 * np.pi, size=n))

    def _param_box(self):
        return np.zeros(1), np.full(1, 2.0 * np.pi), np.ones(1, dtype=bool)

    def _from_param(self, P):
        return self._points(P[:, 0])

    def _label_param(self, t):  # t = cos(theta)
        a = np.arccos(np.clip(t, -1.0, 1.0))
        return [a, 2.0 * np.pi - a]

    def _uniform_rule(self, N):
        return self._points(_midpoints(N, 0.0, 2.0 * np.pi)), np.full(N, 1.0 / N)

    def _coordinate_model(self, p):
        return np.clip(p[:, 0], -1.0, 1.0)

    def _project_model(self, p):
        return _unit_rows(p)


class Sphere(Manifold):
    r"""The unit 2-sphere in R^3 embedded as :math:`x = \tfrac12 + \tfrac12 Q p`.

    m = 2, d >= 3, scale 1/2. Model points :math:`p = (z, \sqrt{1-z^2}\cos\phi, \sqrt{1-z^2}\sin\phi)`;
    the label coordinate is t = z, which is uniform on [-1, 1] under the uniform measure (Archimedes),
    the same law as z_1 on the flat cube. ``"linear"`` density: :math:`1 + z/2`.

    :meth:`quadrature` is the Fibonacci lattice (N' = N): :math:`z_i = 1 - (2i+1)/N`,
    :math:`\phi_i = i \cdot \pi(3 - \sqrt5)` with equal weights (times the density). Its nodes are
    near-uniformly spread, which matters more for the Lipschitz program than polynomial exactness,
    and in t it is exactly the midpoint rule.
    """

    coordinate_law = "uniform"

    def __init__(self, d: int = 3, *, density: str = "uniform", seed=0):
        super().__init__(2, d, 3, 0.5, density=density, seed=seed)

    @staticmethod
    def _points(z, phi):
        r = np.sqrt(np.clip(1.0 - z * z, 0.0, None))
        return np.stack([z, r * np.cos(phi), r * np.sin(phi)], axis=1)

    def _sample_uniform_model(self, n, rng):
        g = rng.standard_normal((n, 3))
        return g / np.linalg.norm(g, axis=1, keepdims=True)

    def _param_box(self):  # (z, phi): uniform on the sphere (Archimedes)
        return np.array([-1.0, 0.0]), np.array([1.0, 2.0 * np.pi]), np.array([False, True])

    def _from_param(self, P):
        return self._points(P[:, 0], P[:, 1])

    def _label_param(self, t):
        return [t]

    def _cell_radius(self, lo, hi):
        r"""For the nearest corner, :math:`|z - z_c| \le \Delta z/2`, :math:`|\phi - \phi_c| \le
        \Delta\phi/2`, and the chord :math:`\|p - p_c\|^2 = (z - z_c)^2 + (r - r_c)^2 + 2 r r_c (1 -
        \cos(\phi - \phi_c)) \le (z - z_c)^2 + (r - r_c)^2 + r r_c (\phi - \phi_c)^2` with
        :math:`r = \sqrt{1 - z^2}` (whose variation over a half cell is at most its range over the
        cell, and r at most 1 there or its maximum over the cell)."""
        r_lo, r_hi = np.sqrt(np.clip(1.0 - lo[:, 0] ** 2, 0.0, 1.0)), np.sqrt(np.clip(1.0 - hi[:, 0] ** 2, 0.0, 1.0))
        straddle = (lo[:, 0] < 0.0) & (hi[:, 0] > 0.0)
        r_max = np.where(straddle, 1.0, np.maximum(r_lo, r_hi))
        r_min = np.minimum(r_lo, r_hi)
        dz, dphi = 0.5 * (hi[:, 0] - lo[:, 0]), 0.5 * (hi[:, 1] - lo[:, 1])
        return np.sqrt(dz**2 + (r_max - r_min) ** 2 + r_max**2 * dphi**2)

    def _uniform_rule(self, N):
        i = np.arange(N)
        return self._points(1.0 - (2.0 * i + 1.0) / N, i * np.pi * (3.0 - np.sqrt(5.0))), np.full(N, 1.0 / N)

    def _coordinate_model(self, p):
        return np.clip(p[:, 0], -1.0, 1.0)

    def _project_model(self, p):
        return _unit_rows(p)


class _TwoAngleTorus:
    """What a torus parametrized by two angles (a, b) in [0, 2 pi)^2 shares: uniform sampling and the
    midpoint rule in the angles, the parameter box, and the label coordinate t = cos(a). The class
    gives ``_points(a, b)``, unit-speed in each angle in model units (so the default
    ``_cell_radius`` of the parameter cells holds) with a constant volume element (so the uniform
    measure is uniform in the angles)."""

    def _sample_uniform_model(self, n, rng):
        ab = rng.uniform(0.0, 2.0 * np.pi, size=(n, 2))
        return self._points(ab[:, 0], ab[:, 1])

    def _uniform_rule(self, N):
        ka, kb = grid_counts(N, 2)
        a, b = np.meshgrid(_midpoints(ka, 0.0, 2.0 * np.pi), _midpoints(kb, 0.0, 2.0 * np.pi), indexing="ij")
        return self._points(a.ravel(), b.ravel()), np.full(ka * kb, 1.0 / (ka * kb))

    def _param_box(self):
        return np.zeros(2), np.full(2, 2.0 * np.pi), np.ones(2, dtype=bool)

    def _from_param(self, P):
        return self._points(P[:, 0], P[:, 1])

    def _label_param(self, t):  # t = cos(a)
        a = np.arccos(np.clip(t, -1.0, 1.0))
        return [a, 2.0 * np.pi - a]


class Torus(_TwoAngleTorus, Manifold):
    r"""The flat (Clifford) torus :math:`S^1 \times S^1 \subset \mathbb{R}^4`, embedded in [0,1]^d.

    Model points :math:`p = (\cos a, \sin a, \cos b, \sin b)` (norm :math:`\sqrt2`), embedded as
    :math:`x = \tfrac12 + s Q p` with :math:`s = 1/(2\sqrt2)`. m = 2, d >= 4. This is the flat torus,
    not a torus of revolution: its volume element is constant in (a, b), so the uniform measure is
    uniform in both angles. The label coordinate is :math:`t = \cos a`; ``"linear"`` density
    :math:`1 + \tfrac12\cos a`.

    :meth:`quadrature` is the tensor grid of equally spaced angles (counts as for
    :class:`FlatCube` with m = 2, N' <= N).
    """

    coordinate_law = "arcsine"

    def __init__(self, d: int = 4, *, density: str = "uniform", seed=0):
        super().__init__(2, d, 4, 1.0 / (2.0 * np.sqrt(2.0)), density=density, seed=seed)

    @staticmethod
    def _points(a, b):
        return np.stack([np.cos(a), np.sin(a), np.cos(b), np.sin(b)], axis=1)

    def _coordinate_model(self, p):
        return np.clip(p[:, 0], -1.0, 1.0)

    def _project_model(self, p):
        # The nearest point of a product of circles is the nearest point of each factor.
        return np.hstack([_unit_rows(p[:, :2]), _unit_rows(p[:, 2:])])
