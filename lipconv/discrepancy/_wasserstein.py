r"""The Wasserstein-1 distance between the empirical measure and rho ([FCAO] Lemma 4.10 with L = 1)."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import brentq

from .._tree import build_tree, weighted_nearest
from .._validation import check_int, check_manifold, check_points, check_positive, check_real, check_rng
from ._semidiscrete import rho_points, sample_spacing, transport_auction

__all__ = ["W1Result", "wasserstein1", "DEFAULT_MIN_POINTS"]

# Integration points per replicate at least (so that small n still gets a fine quadrature).
DEFAULT_MIN_POINTS = 4096
_REPLICATES = 4
# Up to this many plan entries (n * N; 8 bytes each) the plan is POT's exact network simplex, above
# it the auction (transport_auction): 2^22 on curves (m = 1), where the auction's candidate lists
# miss long-range assignments, 2^20 otherwise (at m >= 2 the auction's brackets are within 3.5 % and
# it is 3-6x faster than the network simplex at n = 512).
EXACT_PLAN_ENTRIES = 1 << 22
EXACT_PLAN_ENTRIES_M2 = 1 << 20
_SE_MULTIPLE = 3.0


@dataclass(frozen=True)
class W1Result:
    r"""A two-sided bound on :math:`W_1(\rho_n, \rho)` and how it was obtained.

    Attributes
    ----------
    value : float
        The midpoint (lo + hi) / 2, in ambient units (or geodesic ones, see ``metric``); the exact
        value on the exact paths.
    lo, hi : float
        The bracket: lo <= W1 <= hi, exactly on the exact paths (lo = hi = value); on the
        ``"semi-discrete"`` path each side is a one-sided confidence bound at ``se_multiple``
        standard errors of its randomized quasi-Monte Carlo estimate (see :func:`wasserstein1`).
    integration_error : float
        Standard error of the lower side's estimate (a mean over ``replicates``); the upper side
        adds ``se_multiple`` times the single-replicate deviation, ``sqrt(replicates)`` times
        larger. 0 on the exact paths.
    method : str
        ``"exact-segment"``, ``"exact-circle"`` or ``"semi-discrete"``.
    metric : str
        ``"ambient"`` (Euclidean distance in X) or ``"geodesic"`` (arc length on the embedded circle).
    n : int
        Number of samples.
    N : int
        Points of rho in the plan's replicate (0 on the exact paths).
    replicates : int
        Independent replicates that estimate the lower side (0 on the exact paths).
    potential_value, potential_lo, potential_error : float or None
        With a user's ``potential`` (:func:`wasserstein1`): the estimate of the Kantorovich lower
        bound it implies, that estimate minus ``se_multiple`` standard errors (a one-sided
        confidence bound, lo <= W1, not clipped at 0), and the standard error. None without one.
    """

    value: float
    lo: float
    hi: float
    integration_error: float
    method: str
    metric: str
    n: int
    N: int
    replicates: int
    potential_value: float | None = None
    potential_lo: float | None = None
    potential_error: float | None = None

    def __float__(self) -> float:
        return self.value

    def __repr__(self) -> str:
        """One line: the bracket with its relative width, how it was obtained, and the bound of a
        user's potential when one was given."""
        text = (
            f"W1Result(value={self.value:.6g}, lo={self.lo:.6g}, hi={self.hi:.6g}, "
            f"relative_width={self.relative_width:.3g}, integration_error={self.integration_error:.3g}, "
            f"method={self.method!r}, metric={self.metric!r}, n={self.n}, N={self.N}, replicates={self.replicates}"
        )
        if self.potential_lo is not None:
            text += f", potential_lo={self.potential_lo:.6g} (estimate {self.potential_value:.6g})"
        return text + ")"

    @property
    def relative_width(self) -> float:
        """(hi - lo) / value (0 on the exact paths)."""
        return (self.hi - self.lo) / self.value if self.value > 0 else 0.0


def _exact(value: float, method: str, metric: str, n: int) -> W1Result:
    return W1Result(value, value, value, 0.0, method, metric, n, 0, 0)


def wasserstein1(samples, manifold, *, N: int | None = None, metric: str = "ambient", seed=0,
                 points_per_sample: int | None = None, replicates: int = _REPLICATES,
                 se_multiple: float = _SE_MULTIPLE, potential=None) -> W1Result:
    r"""Wasserstein-1 distance between the empirical measure of ``samples`` and rho on ``manifold``.

    .. math::

        W_1(\rho_n, \rho) = \sup_{\mathrm{Lip}(w) \le 1} \Big(\int_M w\, \rho - \frac1n \sum_{i=1}^n w(x_i)\Big)
                          = \min_{\pi \in \Pi(\rho, \rho_n)} \int \|x - y\|\, d\pi

    (Kantorovich-Rubinstein): the left side of [FCAO] Lemma 4.10 (eq. (4.12)) for L = 1, where
    Lipschitz means in the ambient distance of X (``metric="ambient"``). Returned as a bracket
    [lo, hi] with its midpoint.

    * Segments (m = 1 manifolds whose model is an interval, e.g. ``FlatCube(1, d)``) with a density
      affine in the coordinate: exact. On a line
      :math:`W_1 = s\int_{-1}^{1} |F_n(z) - F(z)|\, dz` (s the embedding scale); F_n is constant
      between consecutive order statistics and F is a quadratic, so each gap is integrated in closed
      form after an O(n log n) sort. On a segment the geodesic and ambient metrics coincide.
    * The uniform circle with ``metric="geodesic"``: exact,
      :math:`W_1 = r \min_c \int_0^{2\pi} |F_n(\theta) - \theta/2\pi - c|\, d\theta` (r = scale, the
      ambient radius), with the median c found by root finding. The ambient (chordal) distance lies
      between 2/pi times this value and this value.
    * Otherwise (``"semi-discrete"``): both sides of the duality, on randomized quasi-Monte Carlo
      points of rho (:func:`lipconv.discrepancy._semidiscrete.rho_points`: scrambled Sobol points
      through a measure-preserving map of the model, so each point is exactly rho-distributed and
      the set is low-discrepancy; i.i.d. draws of ``manifold.sample`` on manifolds without a known
      map, which is valid but wider).

      *Upper side.* On one replicate Y of N = k n points a near-optimal plan from
      :math:`\rho_Y = \frac1N\sum_k \delta_{y_k}` to the samples, each sample receiving exactly k
      points, by an auction (:func:`lipconv.discrepancy._semidiscrete.transport_auction`); while
      n N <= ``EXACT_PLAN_ENTRIES`` (2^22 for m = 1, 2^20 for m >= 2) the optimal plan itself, by POT's network simplex
      (``ot.emd2``, with its optimal dual as the prices below): the auction's candidate lists
      missed long-range assignments on the circle at n <= 512, leaving brackets up to 24 % wide,
      where the exact plan leaves 0.2 %. Its cost
      :math:`C(Y) = \frac1N \sum_k \|y_k - x_{a(k)}\|` is at least :math:`W_1(\rho_Y, \rho_n)`, and
      :math:`\mathbb{E}\, W_1(\rho_Y, \rho_n) \ge W_1(\mathbb{E}\rho_Y, \rho_n) = W_1(\rho, \rho_n)`
      (W1 is convex in each argument and every point is rho-distributed): C(Y) estimates an upper
      bound with an upward bias. hi = C(Y) + se_multiple * sigma, sigma the standard deviation of one
      lower replicate below, which is the first-order fluctuation of C(Y) (envelope theorem: it
      moves with :math:`\int \varphi\, d\rho_Y`) and overstates it (a lower replicate has fewer points).

      *Lower side.* The auction's site prices P give the potential
      :math:`\varphi(x) = \min_i (P_i + \|x - x_i\|)` (the c-transform, evaluated by the package's
      weighted nearest-neighbour query :func:`lipconv._tree.weighted_nearest`), which is 1-Lipschitz,
      so :math:`\int \varphi\, \rho - \frac1n \sum_i \varphi(x_i) \le W_1` for every P. Its integral
      is estimated on ``replicates`` further independent replicates of N points (the plan's own
      size, so that their spread is that of C(Y) too), independent of P, so unbiased; lo is their
      mean minus se_multiple standard errors (and at least 0).

      *Why this method.* Both sides are exact transport objects, so the bracket holds whatever the
      optimizer does; only its width depends on the optimization and the quadrature. The plan on
      :math:`\rho_Y` and the potential fitted to it are optimal up to an error of second order in
      the quadrature's fluctuations of cell masses, so the width falls fast in k (exact discrete
      transport, n = 512: 1 % and 0.3 % at k = 4 and 8 for m = 2; 3 % and 1.2 % for m = 3).
      Repairing the cell masses of a fixed semi-discrete map instead costs a first-order error, and
      Newton's method for semi-discrete transport needs the twist condition, which the distance cost
      lacks (tried: it stalls at a 1-4 % mass imbalance). A fixed quadrature grid, the previous
      method, was accurate only while its size was far above n. The auction forms no n x N cost
      matrix: about 10-50 bids per point on each point's 24 nearest samples, then one exact check of
      every point against every sample.

      Measured (``benchmarks/w1_bracket.py``, cube m = 2, 3 and sphere, n = 32 ... 8,192): hi - lo
      is 0.3-3.5 % of the value; about 1-1.5 s per call at n = 8,192 on a loaded 2-core machine.

    Parameters
    ----------
    samples : array_like, shape (n, d)
        Points of M (n >= 1), each within 1e-6 times the embedding scale of M
        (:meth:`lipconv.manifolds.Manifold.check_on_manifold`); a ``ValueError`` otherwise.
    manifold : lipconv.manifolds.Manifold
    N : int, optional
        Least number of points of rho in the plan's replicate (>= 1), default
        ``DEFAULT_MIN_POINTS`` = 4096: it has k n points, k = max(points_per_sample, ceil(N / n)).
        Ignored by the exact paths.
    metric : {"ambient", "geodesic"}
        Distance in which Lipschitz is measured. "geodesic" is available on segments and the
        uniform circle.
    seed : int or numpy.random.Generator
        Seed of the scrambles (semi-discrete path only); the result is a function of it.
    points_per_sample : int, optional
        Least k (>= 1); default 1 for m = 1 (curves: the circle's chordal bracket is then 0.15 % wide
        at n = 8,192, in 8 s against 15 s at k = 4), 4 for m = 2 and 8 for m >= 3, which keeps
        hi - lo within a few per cent of the value (``benchmarks/w1_bracket.py``).
    replicates : int
        Independent replicates of the lower side (>= 2).
    se_multiple : float
        Standard errors added to hi and subtracted from lo (> 0).
    potential : array_like, shape (n,), or callable, optional
        A semi-dual potential g on the samples, in POT's convention (the output of
        ``ot.semidiscrete.solve_semidiscrete(samples, sampler, metric="euclidean")``, rho the
        source), or a callable returning it at the samples (``potential(samples)``, shape (n,)).
        Its c-transform :math:`\varphi(y) = \min_i (\|y - x_i\|_2 - g_i)` is 1-Lipschitz, so
        (Kantorovich-Rubinstein)

        .. math:: W_1(\rho_n, \rho) \ \ge\ \int \varphi\, \rho - \frac1n \sum_{i=1}^n \varphi(x_i)
                  \ \ge\ \int \varphi\, \rho + \frac1n \sum_{i=1}^n g_i,

        the right end being POT's semi-dual value at g (:math:`\varphi(x_i) \le -g_i`). The middle
        bound is estimated exactly like the lower side of the semi-discrete bracket, on
        ``replicates`` replicates of points of rho (as many as that side uses, N on the exact
        paths), and returned beside the bracket as ``potential_value``, ``potential_lo`` (minus
        ``se_multiple`` standard errors) and ``potential_error``; the bracket itself is the same as
        without it. It bounds the ambient W1, hence also the geodesic one.

    Returns
    -------
    W1Result

    Examples
    --------
    Any potential gives a certified lower bound: g = 0 gives the mean distance from rho to its
    nearest sample, and the optimal potential (the bracket's own lower side) gives more. A
    potential from POT's semi-discrete solver is passed the same way
    (:ref:`sphx_glr_auto_examples_plot_pot_potential.py`).

    >>> import numpy as np
    >>> from lipconv.discrepancy import wasserstein1
    >>> from lipconv.manifolds import FlatCube
    >>> cube = FlatCube(2, 2)
    >>> X = cube.sample(64, np.random.default_rng(0))
    >>> res = wasserstein1(X, cube, potential=np.zeros(64))
    >>> bool(0 < res.potential_lo < res.lo <= res.hi)
    True
    """
    check_manifold(manifold)
    if potential is not None:
        result = wasserstein1(samples, manifold, N=N, metric=metric, seed=seed, points_per_sample=points_per_sample,
                              replicates=replicates, se_multiple=se_multiple)
        return _with_potential(result, check_points(samples, "samples"), potential, manifold, N=N, seed=seed,
                               replicates=replicates, se_multiple=se_multiple)
    X = check_points(samples, "samples")
    if X.shape[1] != manifold.d:
        raise ValueError(f"samples must have d = {manifold.d} columns to match the manifold, got {X.shape[1]}")
    if metric not in ("ambient", "geodesic"):
        raise ValueError(f"metric must be 'ambient' or 'geodesic', got {metric!r}")
    # The exact paths read the samples through their model coordinates, which would silently
    # replace a point off M by its projection.
    manifold.check_on_manifold(X, "samples")
    n = X.shape[0]
    tilt = _segment_tilt(manifold)
    if tilt is not None:
        z = manifold.model(X)[:, 0]
        return _exact(manifold.scale * _segment_w1(z, tilt), "exact-segment", metric, n)
    if metric == "geodesic":
        if not _is_uniform_circle(manifold):
            raise ValueError(
                f"metric 'geodesic' is available for segments and the uniform circle, got {manifold!r}"
            )
        p = manifold.model(X)
        theta = np.mod(np.arctan2(p[:, 1], p[:, 0]), 2.0 * np.pi)
        return _exact(manifold.scale * _circle_w1(theta), "exact-circle", "geodesic", n)
    N = DEFAULT_MIN_POINTS if N is None else check_int(N, "N", minimum=1)
    if points_per_sample is None:
        points_per_sample = 1 if manifold.m == 1 else 4 if manifold.m == 2 else 8
    points_per_sample = check_int(points_per_sample, "points_per_sample", minimum=1)
    replicates = check_int(replicates, "replicates", minimum=2)
    se_multiple = check_positive(se_multiple, "se_multiple")
    return _semidiscrete_bracket(X, manifold, max(points_per_sample, -(-N // n)), replicates, se_multiple,
                                 check_rng(seed),
                                 exact_entries=EXACT_PLAN_ENTRIES if manifold.m == 1 else EXACT_PLAN_ENTRIES_M2)


def _semidiscrete_bracket(X, manifold, k: int, replicates: int, se_multiple: float, rng, *,
                          exact_entries: int = EXACT_PLAN_ENTRIES) -> W1Result:
    n = X.shape[0]
    N = k * n
    Y, _ = rho_points(manifold, N, rng)
    if n * N <= exact_entries:
        plan_cost, prices = _exact_plan(X, Y)
    else:
        assign, prices = transport_auction(X, Y, k, sample_spacing(X, manifold.m))
        plan_cost = float(np.mean(np.linalg.norm(Y - X[assign], axis=1)))
    # The lower side's replicates have the plan's own size N: their spread is also the upper side's
    # margin, and the error of scrambled Sobol points depends on the count itself, not only on its
    # magnitude (a power of 2 is balanced, N = 4,200 is not). Replicates of 4,096 points beside a plan
    # on 4,200 put a plan on 200 copies of one point of the sphere above its exact value in 8 of 20
    # seeds (lo > hi in 2 of 3).
    estimates = _potential_estimates(X, prices, manifold, N, replicates, rng)
    spread = float(np.std(estimates, ddof=1))
    se = spread / float(np.sqrt(replicates))
    lo = max(float(np.mean(estimates)) - se_multiple * se, 0.0)
    hi = plan_cost + se_multiple * spread
    return W1Result(0.5 * (lo + hi), lo, hi, se, "semi-discrete", "ambient", n, N, replicates)


def _potential_estimates(X: np.ndarray, prices: np.ndarray, manifold, size: int, replicates: int, rng) -> np.ndarray:
    r"""One estimate per replicate of :math:`\int \varphi\, \rho - \frac1n \sum_i \varphi(x_i)` for the
    1-Lipschitz :math:`\varphi(y) = \min_i (P_i + \|y - x_i\|_2)` (the c-transform of the prices P),
    each on ``size`` fresh points of rho (:func:`~lipconv.discrepancy._semidiscrete.rho_points`);
    each is an unbiased estimate of a lower bound of :math:`W_1(\rho_n, \rho)` (Kantorovich-Rubinstein)."""
    tree = build_tree(X)
    at_samples = float(np.mean(weighted_nearest(tree, prices, 1.0, X)[0]))
    return np.array([
        np.mean(weighted_nearest(tree, prices, 1.0, rho_points(manifold, size, rng)[0])[0]) - at_samples
        for _ in range(replicates)
    ])


def _with_potential(result: W1Result, X: np.ndarray, potential, manifold, *, N, seed, replicates: int,
                    se_multiple: float) -> W1Result:
    """``result`` with the lower bound implied by a user's semi-dual potential g (prices P = -g)."""
    g = potential(X) if callable(potential) else potential
    g = check_real(g, "potential")
    if g.shape != (X.shape[0],):
        raise ValueError(
            f"potential must have one value per sample, shape ({X.shape[0]},), got shape {g.shape}"
        )
    replicates = check_int(replicates, "replicates", minimum=2)
    se_multiple = check_positive(se_multiple, "se_multiple")
    # The bracket's own lower side used replicates of the plan's N points; the exact paths use N.
    if result.method == "semi-discrete":
        size = result.N
    else:
        size = DEFAULT_MIN_POINTS if N is None else check_int(N, "N", minimum=1)
    estimates = _potential_estimates(X, -g, manifold, size, replicates, check_rng(seed))
    value = float(np.mean(estimates))
    se = float(np.std(estimates, ddof=1)) / float(np.sqrt(replicates))
    return replace(result, potential_value=value, potential_lo=value - se_multiple * se, potential_error=se)


def _exact_plan(X: np.ndarray, Y: np.ndarray) -> tuple[float, np.ndarray]:
    """The optimal plan between the points Y (1/N each) and the samples X (1/n each) by POT's network
    simplex, with the sample-side prices of its optimal dual (P = -g, so that the c-transform
    min_i (P_i + |y - x_i|) is the optimal potential on Y). Exact where the auction is only
    eps-optimal: its candidate lists missed long-range assignments on the circle at n <= 512 (widths
    up to 24 %)."""
    import ot

    cost = ot.dist(Y, X, metric="euclidean")
    a, b = np.full(Y.shape[0], 1.0 / Y.shape[0]), np.full(X.shape[0], 1.0 / X.shape[0])
    value, log = ot.emd2(a, b, cost, numItermax=max(10**6, 50 * cost.size), log=True)
    if log.get("warning"):
        raise RuntimeError(f"ot.emd2 did not converge: {log['warning']}")
    return float(value), -np.asarray(log["v"], dtype=float)


def _segment_tilt(manifold) -> float | None:
    """Slope tau of a density 1 + tau z on a segment model [-1, 1], or None when not a segment.

    The density is read off at z = -1, 0, 1 and must be affine (as both built-in densities are).
    """
    if manifold.m != 1 or getattr(manifold, "model_dim", None) != 1:
        return None
    rho = manifold.density(manifold.embed(np.array([[-1.0], [0.0], [1.0]])))
    tau = 0.5 * (rho[2] - rho[0])
    if not (abs(rho[1] - 1.0) <= 1e-12 and abs(rho[2] - 1.0 - tau) <= 1e-12 and abs(tau) <= 1.0):
        return None
    return float(tau)


def _is_uniform_circle(manifold) -> bool:
    from ..manifolds import Circle

    return isinstance(manifold, Circle) and manifold.density_name == "uniform"


def _segment_w1(z: np.ndarray, tau: float) -> float:
    r""":math:`\int_{-1}^1 |F_n - F|` for F(z) = (z+1)/2 + tau (z^2-1)/4, gap by gap in closed form."""
    z = np.sort(np.clip(z, -1.0, 1.0))
    n = z.size
    edges = np.concatenate([[-1.0], z, [1.0]])
    a, b = edges[:-1], edges[1:]
    level = np.arange(n + 1) / n

    def cdf_antiderivative(x):
        return 0.25 * (x + 1.0) ** 2 + 0.25 * tau * (x**3 / 3.0 - x - 2.0 / 3.0)

    # F(r) = level; the root of tau r^2/4 + r/2 + (1/2 - tau/4 - level) in the form stable at tau = 0.
    const = 0.5 - 0.25 * tau - level
    root = -2.0 * const / (0.5 + np.sqrt(np.maximum(0.25 - tau * const, 0.0)))
    r = np.clip(root, a, b)
    Ga, Gb, Gr = cdf_antiderivative(a), cdf_antiderivative(b), cdf_antiderivative(r)
    below = level * (r - a) - (Gr - Ga)
    above = (Gb - Gr) - level * (b - r)
    return float(np.sum(below + above))


def _abs_linear_integral(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Mean of |f| over an interval on which f is linear from p to q."""
    same = p * q >= 0
    denom = np.where(same, 1.0, np.abs(p - q))
    return np.where(same, 0.5 * np.abs(p + q), 0.5 * (p * p + q * q) / denom)


def _circle_w1(theta: np.ndarray) -> float:
    r""":math:`\min_c \int_0^{2\pi} |F_n(\theta) - \theta/2\pi - c|\, d\theta` for angles in [0, 2 pi)."""
    two_pi = 2.0 * np.pi
    theta = np.sort(theta)
    n = theta.size
    lo = np.concatenate([[0.0], theta])
    hi = np.concatenate([theta, [two_pi]])
    level = np.arange(n + 1) / n
    d_lo, d_hi = level - lo / two_pi, level - hi / two_pi

    def excess(c):
        # Lebesgue measure of {D < c} minus half the circle; D decreases on every gap.
        start = np.clip(two_pi * (level - c), lo, hi)
        return np.sum(hi - start) - np.pi

    c = brentq(excess, d_hi.min() - 1e-12, d_lo.max() + 1e-12, xtol=1e-15, rtol=4 * np.finfo(float).eps)
    return float(np.sum((hi - lo) * _abs_linear_integral(d_lo - c, d_hi - c)))
