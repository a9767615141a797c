r"""The abstract sampled manifold: an m-dimensional model in R^D, embedded in [0,1]^d.

Every manifold here is a fixed *model* :math:`P \subset \mathbb{R}^D` (the cube
:math:`[-1,1]^m`, the unit circle, the unit 2-sphere, the flat torus
:math:`S^1 \times S^1 \subset \mathbb{R}^4`, the same flat torus bent into :math:`\mathbb{R}^d`)
placed in :math:`X = [0,1]^d` by

.. math::

    x = c + s\, Q p, \qquad c = (\tfrac12, \dots, \tfrac12), \quad Q \in \mathbb{R}^{d \times D},\ Q^\top Q = I,

with a seeded Haar-random orthonormal frame Q and a recorded scale s chosen so that the image lies in
:math:`[0,1]^d`. Ambient distances are s times model (chordal) distances, so a function that is
L-Lipschitz in model coordinates is (L / s)-Lipschitz in ambient ones. The data of [FCAO] (Section 4:
samples from a density rho bounded below on a compact manifold M in X) are drawn from these.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
from scipy.stats import ortho_group

from .._validation import check_callable, check_int, check_points, check_positive, check_real, check_rng
from ..norms import pnorm

__all__ = ["Manifold", "DENSITIES", "LINEAR_TILT", "ON_MANIFOLD_RTOL", "stratified_error"]

DENSITIES = ("uniform", "linear")
LINEAR_TILT = 0.5
# Points made by embed (or sample, quadrature) are on M to round-off (~1e-16 * scale); float32 data
# to ~1e-7. Anything farther than this fraction of the scale was not drawn from M.
ON_MANIFOLD_RTOL = 1e-6


class Manifold(ABC):
    r"""A compact m-dimensional manifold in :math:`[0,1]^d` carrying a probability density rho.

    ``density(x)`` is the density of rho with respect to the *normalized* volume measure of M (total
    mass 1), so the uniform density is identically 1. Two densities are offered on every manifold:

    * ``"uniform"``: :math:`\rho \equiv 1`;
    * ``"linear"``: :math:`\rho(x) = 1 + \tfrac12\, t(x)`, where :math:`t = ` ``coordinate(x)`` in
      [-1, 1] has mean 0 under the uniform measure on each manifold here. So rho integrates to 1 and
      lies in [1/2, 3/2]: bounded below, as [FCAO] (Section 4) requires.

    Subclasses implement the model: uniform sampling, a uniform-measure quadrature rule, the label
    coordinate and the nearest model point, all in model coordinates p in R^D.

    Attributes
    ----------
    m : int
        Intrinsic dimension.
    d : int
        Ambient dimension.
    name : str
        Short description, e.g. ``"FlatCube(m=2, d=5, density='uniform')"``.
    scale : float
        Ambient distance / model distance (the s above).
    density_name : str
        ``"uniform"`` or ``"linear"``.
    seed : int or None
        Seed of the embedding frame Q.
    frame : ndarray, shape (d, D)
        The orthonormal frame Q.
    coordinate_law : {"uniform", "arcsine"} or None
        The law of the label coordinate t under the uniform measure, given when the model is
        symmetric under the reflection :math:`p_1 \to -p_1` with :math:`t = p_1` (the uniform measure
        is then invariant, and the mirror image of x lies at ambient distance :math:`2 s |t|`):
        ``"uniform"`` (t ~ U[-1, 1]) or ``"arcsine"`` (:math:`t = \cos a`, a uniform). None when no
        such symmetry is declared. :func:`lipconv.continuum.reflection_reference` uses it.
    """

    coordinate_law: str | None = None

    def __init__(self, m: int, d: int, model_dim: int, scale: float, *, density: str, seed):
        self.m = check_int(m, "m", minimum=1)
        self.d = check_int(d, "d", minimum=1)
        if self.d < model_dim:
            raise ValueError(
                f"d must be >= {model_dim} for {type(self).__name__} (m = {self.m}), got {self.d}"
            )
        if density not in DENSITIES:
            raise ValueError(f"density must be one of {DENSITIES}, got {density!r}")
        self.density_name = density
        self.seed = seed
        self.scale = float(scale)
        self.frame = _random_frame(self.d, model_dim, check_rng(seed))

    def __repr__(self) -> str:
        return self.name

    @property
    def name(self) -> str:
        return f"{type(self).__name__}(m={self.m}, d={self.d}, density={self.density_name!r})"

    @property
    def model_dim(self) -> int:
        """Dimension D of the model space R^D."""
        return self.frame.shape[1]

    # --- model interface -------------------------------------------------------------------------

    @abstractmethod
    def _sample_uniform_model(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """n model points (n, D) from the uniform (normalized volume) measure."""

    @abstractmethod
    def _uniform_rule(self, N: int) -> tuple[np.ndarray, np.ndarray]:
        """Model nodes (N', D) and weights (N',) summing to 1 for the uniform measure."""

    @abstractmethod
    def _coordinate_model(self, p: np.ndarray) -> np.ndarray:
        """The label coordinate t in [-1, 1] of model points p (n, D)."""

    @abstractmethod
    def _project_model(self, p: np.ndarray) -> np.ndarray:
        """The nearest point of the model P to each row of p (n, D), in the Euclidean norm of R^D."""

    # --- public interface ------------------------------------------------------------------------

    def embed(self, p) -> np.ndarray:
        """Ambient points ``0.5 + scale * p @ Q.T`` of model points p, shape (n, D) -> (n, d)."""
        p = check_points(p, "p")
        if p.shape[1] != self.model_dim:
            raise ValueError(f"p must have D = {self.model_dim} columns, got {p.shape[1]}")
        return 0.5 + self.scale * (p @ self.frame.T)

    def model(self, x) -> np.ndarray:
        """Model coordinates ``Q.T (x - 0.5) / scale`` of ambient points x, shape (n, d) -> (n, D).

        This is the inverse of :meth:`embed` on the manifold; off the manifold it is the model
        coordinates of the orthogonal projection onto the affine span of the embedding.
        """
        x = self._check_ambient(x)
        return ((x - 0.5) @ self.frame) / self.scale

    def distance_to_manifold(self, x) -> np.ndarray:
        r"""Ambient Euclidean distance from each point x to M, shape (n, d) -> (n,).

        Writing :math:`x = c + s Q p + r` with r orthogonal to the range of Q (p = ``model(x)``),

        .. math::

            \operatorname{dist}(x, M)^2 = \|r\|_2^2 + s^2 \operatorname{dist}(p, P)^2 ,

        so the nearest point of M is the embedding of the nearest model point of p.
        """
        x = self._check_ambient(x)
        nearest = self.embed(self._project_model(self.model(x)))
        return np.linalg.norm(x - nearest, axis=1)

    def check_on_manifold(self, x, name: str = "x", *, rtol: float = ON_MANIFOLD_RTOL) -> np.ndarray:
        """Return ``x`` as a float array (n, d), raising ``ValueError`` unless every row lies on M.

        A point is on M when :meth:`distance_to_manifold` is at most ``rtol * scale`` (round-off of
        :meth:`embed`, :meth:`sample` and float32 storage pass; a point drawn elsewhere does not).

        Parameters
        ----------
        x : array_like, shape (n, d)
        name : str
            Name of the argument in the error message.
        rtol : float
            Tolerance relative to the embedding scale.
        """
        x = self._check_ambient(x, name)
        dist = self.distance_to_manifold(x)
        tol = check_positive(rtol, "rtol") * self.scale
        off = dist > tol
        if np.any(off):
            worst = int(np.argmax(dist))
            raise ValueError(
                f"{name} must lie on the manifold {self.name} (ambient distance <= {tol:.3g} = "
                f"{rtol:g} * scale), got {int(off.sum())} of {x.shape[0]} points off it, the farthest "
                f"(row {worst}) at distance {dist[worst]:.6g}"
            )
        return x

    def coordinate(self, x) -> np.ndarray:
        """The first intrinsic coordinate t(x) in [-1, 1], shape (n,); the label functions use it."""
        return self._coordinate_model(self.model(x))

    def density(self, x) -> np.ndarray:
        r"""Density of rho w.r.t. the normalized volume measure of M at points x (n, d) -> (n,).

        ``"uniform"``: 1; ``"linear"``: :math:`1 + \tfrac12 t(x)`.
        """
        x = self._check_ambient(x)
        if self.density_name == "uniform":
            return np.ones(x.shape[0])
        return self._density_model(self.model(x))

    def sample(self, n: int, rng) -> np.ndarray:
        """n i.i.d. points of rho, shape (n, d), in [0, 1]^d.

        Non-uniform densities are sampled by rejection from the uniform measure (acceptance
        probability rho / max rho >= 1/3), which is exact and needs no inverse CDF per manifold.

        Parameters
        ----------
        n : int
            Number of points, >= 1.
        rng : int, numpy.random.Generator or None
            Seed or generator (see :func:`lipconv._validation.check_rng`).
        """
        n = check_int(n, "n", minimum=1)
        gen = check_rng(rng, "rng")
        if self.density_name == "uniform":
            return self._clip(self.embed(self._sample_uniform_model(n, gen)))
        bound = 1.0 + LINEAR_TILT
        kept: list[np.ndarray] = []
        have = 0
        while have < n:
            batch = max(16, int(1.6 * bound * (n - have)))
            p = self._sample_uniform_model(batch, gen)
            accept = gen.uniform(0.0, bound, size=batch) < self._density_model(p)
            kept.append(p[accept])
            have += int(accept.sum())
        return self._clip(self.embed(np.concatenate(kept)[:n]))

    def quadrature(self, N: int) -> tuple[np.ndarray, np.ndarray]:
        r"""A deterministic quadrature rule for rho: nodes (N', d) and weights (N',) summing to 1.

        The nodes are the subclass's uniform-measure rule (N' close to N, see the subclass) and the
        weights are the uniform weights times the density at the nodes, renormalized:
        :math:`\int f\, d\rho \approx \sum_i w_i f(x_i)`.

        Parameters
        ----------
        N : int
            Requested number of nodes, >= 2.
        """
        N = check_int(N, "N", minimum=2)
        p, w = self._uniform_rule(N)
        if self.density_name != "uniform":
            w = w * self._density_model(p)
        return self._clip(self.embed(p)), w / w.sum()

    # --- parameter boxes: stratified samples and node grids with a covering radius ----------------
    #
    # Every manifold here is the image of a box of parameters in which its uniform measure is uniform
    # (the cube's z, the circle's angle, the sphere's (z, phi) by Archimedes, the tori's two angles).
    # Subclasses give the box (_param_box), the map to model points (_from_param), the parameter
    # values where the label coordinate t takes given values (_label_param), and a bound of the
    # model distance from any point of a parameter cell to its nearest corner (_cell_radius).

    def _param_box(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(lo, hi, periodic) of the parameter box, each of shape (m,)."""
        raise NotImplementedError(f"{type(self).__name__} has no parameter box")

    def _from_param(self, P: np.ndarray) -> np.ndarray:
        """Model points (n, D) of parameters P (n, m)."""
        raise NotImplementedError(f"{type(self).__name__} has no parameter box")

    def _label_param(self, t: np.ndarray) -> list:
        """Values of the first parameter at which the label coordinate equals each t."""
        raise NotImplementedError(f"{type(self).__name__} has no parameter box")

    def _cell_radius(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Model-distance bound from any point of each parameter cell [lo, hi] (rows) to its nearest
        corner. Default: the parameter map is 1-Lipschitz per coordinate in the model norm, so the
        bound is the Euclidean norm of the half sides (cube, circle, tori: unit-speed angles)."""
        return np.linalg.norm(0.5 * (hi - lo), axis=1)

    def stratified(self, N: int, rng, *, per_stratum: int = 2):
        r"""A stratified random sample of rho: ``per_stratum`` uniform points in each cell of a grid
        of about N / per_stratum cells of the parameter box.

        Returns ``(x, weights, strata)``: points (n, d), weights (n,) summing to 1 (the cell's
        uniform mass times the density, renormalized) and the cell of each point. For an integrand
        f, :math:`\sum_i w_i f(x_i)` estimates :math:`\int f\, d\rho` without bias (uniform density),
        and the spread of f within the cells its error (:func:`stratified_error`).
        """
        N = check_int(N, "N", minimum=2)
        per_stratum = check_int(per_stratum, "per_stratum", minimum=2)
        gen = check_rng(rng, "rng")
        lo, hi, _ = self._param_box()
        counts = grid_counts(max(1, N // per_stratum), self.m)
        edges = [np.linspace(lo[i], hi[i], counts[i] + 1) for i in range(self.m)]
        idx = np.stack(np.meshgrid(*[np.arange(c) for c in counts], indexing="ij"), axis=-1).reshape(-1, self.m)
        K = idx.shape[0]
        clo = np.column_stack([edges[i][idx[:, i]] for i in range(self.m)])
        chi = np.column_stack([edges[i][idx[:, i] + 1] for i in range(self.m)])
        strata = np.repeat(np.arange(K), per_stratum)
        P = clo[strata] + (chi - clo)[strata] * gen.random((K * per_stratum, self.m))
        p = self._from_param(P)
        w = np.ones(P.shape[0]) if self.density_name == "uniform" else self._density_model(p)
        return self._clip(self.embed(p)), w / w.sum(), strata

    def lipschitz_sup(self, f, L: float, *, t_extra=(), rtol: float = 0.05, N0: int = 4096,
                      max_evals: int = 2_000_000):
        r"""A certified bracket :math:`[lo, hi] \ni \max_M |f|` for an L-Lipschitz function f on M.

        Branch and bound over the cells of the parameter box: a cell's bound is :math:`|f|` at its
        centre plus :math:`L\, r` (r its radius from the centre in ambient units, :meth:`_cell_radius`:
        every point of the cell is within half a step of the centre in every parameter); lo is the
        largest value found. Cells whose bound is at most lo cannot hold the maximum and are dropped; the rest
        are halved along every axis, until the largest bound is within ``rtol`` of lo or the next split
        would spend more than ``max_evals`` evaluations in all; when the budget cannot split every open
        cell, those with the largest bounds are split (best first), so that hi falls as far as the
        budget allows. hi is always the largest bound of all cells, the open ones and those closed
        on the way (a closed cell's bound is at most (1 + rtol) lo of its time): a certified upper bound
        whatever the budget; the budget only decides how close it comes to lo. The first grid (about
        ``N0`` corners) holds both ends of every non-periodic axis (the boundary of M: faces, edges, corners) and, along the first
        parameter, the values where the label coordinate t equals each of ``t_extra`` (kinks).

        Parameters
        ----------
        f : callable
            Ambient points (q, d) -> values (q,) (or (q, k), taken in the Euclidean norm).
        L : float
            A Lipschitz constant of f in the ambient Euclidean distance.
        t_extra : sequence of float
        rtol, N0, max_evals

        Returns
        -------
        lo, hi : float
        evals : int
        """
        check_callable(f, "f", "a callable of ambient points (q, d)")
        L = check_positive(L, "L", allow_zero=True)
        rtol = check_positive(rtol, "rtol")
        max_evals = check_int(max_evals, "max_evals")
        t_extra = check_real(t_extra, "t_extra").ravel()
        plo, phi, periodic = self._param_box()
        counts = grid_counts(check_int(N0, "N0", minimum=2), self.m)
        axes = []
        for i in range(self.m):
            ax = np.linspace(plo[i], phi[i], max(int(counts[i]), 1) + 1)
            if i == 0 and len(t_extra):
                extra = np.concatenate([np.atleast_1d(v) for v in self._label_param(t_extra)])
                ax = np.unique(np.concatenate([ax, extra[(extra >= plo[0]) & (extra <= phi[0])]]))
            axes.append(ax)
        evals = 0

        def values(P):
            """|f| at parameter points P (rows)."""
            nonlocal evals
            x = self._clip(self.embed(self._from_param(P)))
            v = np.asarray(f(x), dtype=float).reshape(P.shape[0], -1)
            evals += P.shape[0]
            # pnorm scales by the largest entry: np.linalg.norm squares first, and |f| below 1e-154
            # underflowed to a bracket [0, 0] (hypothesis drew f ~ 3e-215).
            return pnorm(v, 2.0, axis=1)

        # The first grid's nodes (boundary and kinks included) seed lo; then every cell is judged by
        # its centre, from which each of its points is within _cell_radius (half steps in every
        # parameter), so that every cell costs one new evaluation and none is repeated.
        grid = np.stack(np.meshgrid(*[a if not periodic[i] else a[:-1] for i, a in enumerate(axes)], indexing="ij"),
                        axis=-1).reshape(-1, self.m)
        lo = float(values(grid).max(initial=0.0))
        cell_lo = np.stack(np.meshgrid(*[a[:-1] for a in axes], indexing="ij"), axis=-1).reshape(-1, self.m)
        cell_hi = np.stack(np.meshgrid(*[a[1:] for a in axes], indexing="ij"), axis=-1).reshape(-1, self.m)
        halves = np.array(np.meshgrid(*[[0, 1]] * self.m, indexing="ij")).reshape(self.m, -1).T
        v = values(0.5 * (cell_lo + cell_hi))
        lo = max(lo, float(v.max(initial=0.0)))
        ub = v + L * self.scale * self._cell_radius(cell_lo, cell_hi)
        children = halves.shape[0]
        closed = 0.0  # the largest bound of the cells closed so far (they stay part of hi)
        while True:
            hi = max(float(ub.max(initial=0.0)), closed, lo)  # over every cell, open or closed
            keep = ub > lo * (1.0 + rtol)
            closed = max(closed, float(ub[~keep].max(initial=0.0)))
            cell_lo, cell_hi, ub = cell_lo[keep], cell_hi[keep], ub[keep]
            room = (max_evals - evals) // children
            if not keep.any() or room < 1:
                return lo, hi, evals
            # Best first: when the budget cannot split every open cell, split those with the largest
            # bounds (they decide hi); the others stay open with their bounds.
            split = np.argsort(-ub, kind="stable")[:room] if room < ub.size else np.arange(ub.size)
            rest = np.ones(ub.size, dtype=bool)
            rest[split] = False
            slo, shi = cell_lo[split], cell_hi[split]
            mid = 0.5 * (slo + shi)
            new_lo = np.where(halves[None, :, :] == 0, slo[:, None, :], mid[:, None, :]).reshape(-1, self.m)
            new_hi = np.where(halves[None, :, :] == 0, mid[:, None, :], shi[:, None, :]).reshape(-1, self.m)
            v = values(0.5 * (new_lo + new_hi))
            lo = max(lo, float(v.max(initial=0.0)))
            new_ub = v + L * self.scale * self._cell_radius(new_lo, new_hi)
            cell_lo = np.concatenate([cell_lo[rest], new_lo])
            cell_hi = np.concatenate([cell_hi[rest], new_hi])
            ub = np.concatenate([ub[rest], new_ub])

    # --- helpers ---------------------------------------------------------------------------------

    def _density_model(self, p: np.ndarray) -> np.ndarray:
        return 1.0 + LINEAR_TILT * self._coordinate_model(p)

    def _check_ambient(self, x, name: str = "x") -> np.ndarray:
        x = check_points(x, name)
        if x.shape[1] != self.d:
            raise ValueError(f"{name} must have d = {self.d} columns, got {x.shape[1]}")
        return x

    @staticmethod
    def _clip(x: np.ndarray) -> np.ndarray:
        # The scale keeps the image inside [0,1]^d exactly; clipping only removes round-off
        # (|excess| ~ 1e-16) so that callers may rely on the box.
        return np.clip(x, 0.0, 1.0)


def _random_frame(d: int, D: int, rng: np.random.Generator) -> np.ndarray:
    """A Haar-random orthonormal D-frame in R^d (scipy's ``ortho_group``; +-1 when d = 1)."""
    if d == 1:
        return np.array([[1.0 if rng.random() < 0.5 else -1.0]])
    return ortho_group.rvs(d, random_state=rng)[:, :D]


def grid_counts(N: int, k: int) -> tuple[int, ...]:
    """Per-axis counts of a k-dimensional tensor grid with product as large as possible but <= N.

    Starts from floor(N^(1/k)) on every axis and adds one point to the leading axes while the
    product stays <= N, so N' lies in (N b / (b + 1), N] with b = floor(N^(1/k)) and the first
    axis (the label coordinate) is never the coarsest.
    """
    base = max(1, int(np.floor(N ** (1.0 / k) + 1e-9)))
    while (base + 1) ** k <= N:
        base += 1
    counts = [base] * k
    for axis in range(k):
        prod = int(np.prod(counts))
        if prod // counts[axis] * (counts[axis] + 1) <= N:
            counts[axis] += 1
    return tuple(counts)


def stratified_error(values: np.ndarray, weights: np.ndarray, strata: np.ndarray) -> float:
    r"""Standard error of the stratified estimate :math:`\sum_i w_i f_i` of :meth:`Manifold.stratified`:

    .. math:: \widehat{\mathrm{se}}^2 = \sum_h \frac{W_h^2\, s_h^2}{n_h}, \qquad
              s_h^2 = \frac{1}{n_h - 1}\sum_{i \in h} (f_i - \bar f_h)^2,

    with :math:`W_h` the weight of stratum h and :math:`n_h \ge 2` its points (the unbiased
    within-stratum variance; Cochran, *Sampling Techniques*, eq. (5.6)).
    """
    f = np.asarray(values, dtype=float)
    w = np.asarray(weights, dtype=float)
    K = int(strata.max()) + 1
    nh = np.bincount(strata, minlength=K)
    Wh = np.bincount(strata, weights=w, minlength=K)
    mean = np.bincount(strata, weights=f, minlength=K) / nh
    ss = np.bincount(strata, weights=(f - mean[strata]) ** 2, minlength=K) / (nh - 1)
    return float(np.sqrt(np.sum(Wh**2 * ss / nh)))
