r"""Losses of the Lipschitz-regularized problem, with the metadata the theory uses.

Every loss :math:`\ell(u, y) \ge 0` with equality iff :math:`u = y` ([FCAO] §4.2) acts row-wise on
predictions ``u`` and labels ``y`` of shape (n, k). Each carries

* ``cvxpy(u, y, w)``: the convex expression :math:`\sum_i w_i \ell(u_i, y_i)`;
* ``value(u, y)``: per-sample numpy values, shape (n,);
* ``torch(u, y)``: per-sample torch values (differentiable), shape (n,);
* ``theta``: the strong-convexity constant of [FCAO] eq. (4.5) in the Euclidean norm on Y (0 when
  the loss is not strongly convex);
* ``lipschitz(radius)``: a Lipschitz constant of :math:`u \mapsto \ell(u, y)` in the Euclidean norm,
  valid for ``||u||_inf, ||y||_inf <= radius`` (used by the rate bounds of Theorem 4.8);
* ``constraints(u)``: extra constraints on u (the simplex, for the cross-entropy);
* ``dual_inner(S, y, w, lo, hi)``: per-sample :math:`\min_{u \in B} w_i \ell(u, y_i) + \langle s_i, u\rangle`
  over the box :math:`B = [lo, hi]` (the simplex for the cross-entropy), the separable piece of the
  Lagrange dual that certifies optimality (:mod:`lipconv.solvers._certificate`);
* ``constant_minimizer(y, w)``: the best constant and a subgradient certifying it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._validation import check_positive

__all__ = ["Loss", "squared", "absolute", "huber", "cross_entropy", "get_loss", "LOSSES"]


@dataclass(frozen=True)
class Loss:
    """A loss with its convex expression, numeric values and constants (see module docstring)."""

    name: str
    theta: float
    params: dict = field(default_factory=dict)

    def cvxpy(self, u, y, w):
        import cvxpy as cp

        r = u - y
        if self.name == "squared":
            return cp.sum(cp.multiply(w, cp.sum(cp.square(r), axis=1)))
        if self.name == "absolute":
            return cp.sum(cp.multiply(w, cp.sum(cp.abs(r), axis=1)))
        if self.name == "huber":
            return cp.sum(cp.multiply(w, cp.sum(cp.huber(r, self.params["delta"]), axis=1)))
        eps = self.params["eps"]
        # -(z+eps) log((u+eps)/(z+eps)) = rel_entr(z+eps, u+eps), one exponential cone per entry whose
        # epigraph variable is the term itself: the solver's objective is the loss with no constant
        # offset, so its relative gap is relative to the loss (with the split
        # (z+eps) log(z+eps) - (z+eps) log(u+eps) it stalled at 1e-6 of J at tol 1e-8).
        per = cp.sum(cp.rel_entr(y + eps, u + eps), axis=1)
        return cp.sum(cp.multiply(w, per))

    def constraints(self, u) -> list:
        if self.name != "cross_entropy":
            return []
        import cvxpy as cp

        return [u >= 0, cp.sum(u, axis=1) == 1]

    def value(self, u, y) -> np.ndarray:
        u = np.asarray(u, dtype=float)
        y = np.asarray(y, dtype=float)
        u, y = (u[:, None] if u.ndim == 1 else u), (y[:, None] if y.ndim == 1 else y)
        r = u - y
        if self.name == "squared":
            return (r * r).sum(axis=1)
        if self.name == "absolute":
            return np.abs(r).sum(axis=1)
        if self.name == "huber":
            M = self.params["delta"]
            a = np.abs(r)
            return np.where(a <= M, r * r, 2 * M * a - M * M).sum(axis=1)
        eps = self.params["eps"]
        return -((y + eps) * np.log((u + eps) / (y + eps))).sum(axis=1)

    def torch(self, u, y):
        import torch

        u = u[:, None] if u.ndim == 1 else u
        y = y[:, None] if y.ndim == 1 else y
        r = u - y
        if self.name == "squared":
            return (r * r).sum(dim=1)
        if self.name == "absolute":
            return r.abs().sum(dim=1)
        if self.name == "huber":
            M = self.params["delta"]
            a = r.abs()
            return torch.where(a <= M, r * r, 2 * M * a - M * M).sum(dim=1)
        eps = self.params["eps"]
        return -((y + eps) * torch.log((u + eps) / (y + eps))).sum(dim=1)

    def dual_inner(self, S, y, w, lo, hi) -> np.ndarray:
        r"""Per-sample minimum of the Lagrangian's separable part, a certified lower value.

        .. math:: \phi_i(s_i) = \min_{u \in B}\ w_i\, \ell(u, y_i) + \langle s_i, u \rangle,

        with :math:`B = \prod_c [lo_c, hi_c]` for the squared, absolute and Huber losses and the
        probability simplex for the cross-entropy. The box is the label range: clipping every
        component of u to it lowers each of these losses and no Lipschitz constant (clipping is
        1-Lipschitz per coordinate), so adding it leaves the optimum of [FCAO] eq. (2.7)
        unchanged, and it keeps :math:`\phi_i` finite for zero weights. Closed forms (the
        minimizer of a 1-D convex function over an interval is its unconstrained minimizer
        clipped); for the cross-entropy the value of the partial Lagrangian at a multiplier
        :math:`\nu` of :math:`\sum_c u_c = 1` found by bisection, which is a lower bound for any
        :math:`\nu` (weak duality), so inexact bisection can only make the bound weaker, never wrong.

        Parameters
        ----------
        S : ndarray, shape (n, k)
            Linear terms :math:`s_i`.
        y : ndarray, shape (n, k)
        w : ndarray, shape (n,)
            Nonnegative weights.
        lo, hi : ndarray, shape (k,)
            The box (ignored by the cross-entropy).

        Returns
        -------
        ndarray, shape (n,)
        """
        S = np.asarray(S, dtype=float)
        y = np.asarray(y, dtype=float)
        w = np.asarray(w, dtype=float)[:, None]
        if self.name == "cross_entropy":
            return _cross_entropy_dual_inner(S, y, w[:, 0], self.params["eps"])
        lo, hi = np.asarray(lo, dtype=float), np.asarray(hi, dtype=float)
        pos = w > 0
        wsafe = np.where(pos, w, 1.0)
        end = np.where(S > 0, lo, hi)  # the box minimizer of s u alone (zero weight)
        if self.name == "squared":
            u = np.where(pos, np.clip(y - S / (2.0 * wsafe), lo, hi), end)
        elif self.name == "huber":
            M = self.params["delta"]
            inner = np.abs(S) <= 2.0 * wsafe * M
            u = np.where(pos & inner, np.clip(y - S / (2.0 * wsafe), lo, hi), end)
        else:  # absolute: piecewise linear, minimum at an end or at the kink
            cands = np.stack([np.broadcast_to(lo, S.shape), np.broadcast_to(hi, S.shape), np.clip(y, lo, hi)])
            vals = w * np.abs(cands - y) + S * cands
            return vals.min(axis=0).sum(axis=1)
        r = u - y
        if self.name == "squared":
            ell = r * r
        else:
            M = self.params["delta"]
            a = np.abs(r)
            ell = np.where(a <= M, r * r, 2 * M * a - M * M)
        return (w * ell + S * u).sum(axis=1)

    def constant_minimizer(self, y, w) -> tuple[np.ndarray, np.ndarray]:
        r"""The best constant :math:`c = \arg\min_c \sum_i w_i \ell(c, y_i)` and a certificate.

        Returns ``(c, G)`` with ``c`` of shape (k,) and ``G`` of shape (n, k): a subgradient of
        :math:`F(u) = \sum_i w_i \ell(u_i, y_i)` at :math:`u_i = c` (plus, for the
        cross-entropy, a normal of the simplex) whose columns sum to zero up to round-off. A
        transport of G to one point prices the critical lambda above which c is the minimizer
        of [FCAO] eq. (2.7) (:mod:`lipconv.solvers._constant`). Mean (squared), weighted median
        with the tied mass split to balance (absolute), bisection on the monotone derivative
        (Huber), weighted mean of the label rows (cross-entropy: Gibbs' inequality).
        """
        y = np.asarray(y, dtype=float)
        w = np.asarray(w, dtype=float)
        if self.name == "squared":
            c = w @ y
            return c, 2.0 * w[:, None] * (c - y)
        if self.name == "cross_entropy":
            eps = self.params["eps"]
            c = w @ y
            return c, w[:, None] * (1.0 - (y + eps) / (c + eps))
        cols = [_weighted_median(y[:, j], w) if self.name == "absolute" else _huber_center(y[:, j], w, self.params["delta"])
                for j in range(y.shape[1])]
        c = np.array([col[0] for col in cols])
        return c, np.column_stack([col[1] for col in cols])

    def lipschitz(self, radius: float = 1.0, k: int = 1) -> float:
        """Lipschitz constant in u (Euclidean norm on Y, dimension k) for labels and predictions
        in the box of half-width ``radius`` (the simplex for the cross-entropy)."""
        radius = check_positive(radius, "radius")
        if self.name == "squared":
            return 4.0 * radius * np.sqrt(k)
        if self.name == "absolute":
            return float(np.sqrt(k))
        if self.name == "huber":
            return 2.0 * self.params["delta"] * np.sqrt(k)
        eps = self.params["eps"]
        return float(np.sqrt(k) * (1.0 + eps) / eps)


def _weighted_median(y: np.ndarray, w: np.ndarray) -> tuple[float, np.ndarray]:
    """Weighted median c (a label of positive weight) and the subgradient ``w sign(c - y)`` of
    ``sum w |c - y|`` with the tied points' share chosen so that it sums to zero."""
    pos = w > 0
    order = np.argsort(y[pos], kind="stable")
    ys, ws = y[pos][order], w[pos][order]
    cum = np.cumsum(ws)
    c = float(ys[min(int(np.searchsorted(cum, 0.5 * cum[-1])), len(ys) - 1)])
    g = w * np.sign(c - y)
    tied = y == c
    tied_mass = w[tied].sum()
    # At a weighted median |W_below - W_above| <= the tied mass, so a share in [-1, 1] balances.
    g[tied] = w[tied] * (-g[~tied].sum() / tied_mass)
    return c, g


def _huber_center(y: np.ndarray, w: np.ndarray, delta: float) -> tuple[float, np.ndarray]:
    """Minimizer of ``sum w h(c - y)`` (h: the Huber loss) by bisection on its nondecreasing
    derivative over [min y, max y], to the last bit; returns it with the gradient ``w h'(c - y)``."""

    def grad(c):
        return w * 2.0 * np.clip(c - y, -delta, delta)

    lo, hi = float(y.min()), float(y.max())
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if grad(mid).sum() > 0:
            hi = mid
        else:
            lo = mid
    c = lo if abs(grad(lo).sum()) <= abs(grad(hi).sum()) else hi
    return c, grad(c)


def _cross_entropy_dual_inner(S: np.ndarray, z: np.ndarray, w: np.ndarray, eps: float) -> np.ndarray:
    r"""Per row :math:`\max_\nu \min_{u \ge 0} w\,\ell_\epsilon(u, z) + \langle s + \nu 1, u\rangle - \nu`,
    a lower bound on :math:`\min_{u \in \Delta} w \ell_\epsilon(u, z) + \langle s, u\rangle` for every
    :math:`\nu > -\min_c s_c` (weak duality), maximized by bisection on :math:`\sum_c u_c(\nu) = 1`.
    With w = 0 the minimum is :math:`\min_c s_c` exactly."""
    a = z + eps
    smin = S.min(axis=1)
    pos = w > 0
    wa = w[:, None] * a
    lo = -smin + np.where(pos, 1e-300, 0.0)
    hi = -smin + np.where(pos, w * a.sum(axis=1), 1.0) + np.abs(smin) * 1e-15 + 1e-300

    def u_of(nu):
        t = S + nu[:, None]
        return np.maximum(0.0, wa / np.where(t > 0, t, np.inf) - eps)

    for _ in range(200):
        mid = 0.5 * (lo + hi)
        over = u_of(mid).sum(axis=1) > 1.0
        lo, hi = np.where(over, mid, lo), np.where(over, hi, mid)
    nu = hi  # sum u(hi) <= 1; any nu above -min s gives a valid bound
    t = S + nu[:, None]
    u = u_of(nu)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(wa > 0, -wa * np.log((u + eps) / a), 0.0) + t * u
    # A multiplier that rounding left at or below -min s would make the inner minimum -inf.
    value = np.where((t > 0).all(axis=1), terms.sum(axis=1) - nu, -np.inf)
    return np.where(pos, value, smin)


def squared() -> Loss:
    r""":math:`\ell(u, y) = \|u - y\|_2^2`, strongly convex with :math:`\theta = 2`."""
    return Loss("squared", theta=2.0)


def absolute() -> Loss:
    r""":math:`\ell(u, y) = \|u - y\|_1`: convex, not strictly convex (:math:`\theta = 0`); an LP."""
    return Loss("absolute", theta=0.0)


def huber(delta: float = 1.0) -> Loss:
    r"""Huber loss, cvxpy's convention: :math:`r^2` for :math:`|r| \le \delta`, else
    :math:`2\delta|r| - \delta^2`, summed over coordinates; :math:`\theta = 0`."""
    return Loss("huber", theta=0.0, params={"delta": check_positive(delta, "delta")})


def cross_entropy(eps: float = 0.1) -> Loss:
    r"""Regularized cross-entropy of [FCAO] eq. (4.6) on the probability simplex:

    .. math:: \ell_\epsilon(u, z) = -\sum_i (z_i + \epsilon) \log\frac{u_i + \epsilon}{z_i + \epsilon}.

    Its Hessian in u is :math:`\operatorname{diag}((z_i+\epsilon)/(u_i+\epsilon)^2) \succeq
    \epsilon/(1+\epsilon)^2`, so :math:`\theta = \epsilon/(1+\epsilon)^2` on the simplex.
    """
    eps = check_positive(eps, "eps")
    return Loss("cross_entropy", theta=eps / (1.0 + eps) ** 2, params={"eps": eps})


LOSSES = {"squared": squared, "absolute": absolute, "huber": huber, "cross_entropy": cross_entropy}


def get_loss(loss) -> Loss:
    """Return a :class:`Loss` from a name in ``LOSSES`` or a :class:`Loss` instance."""
    if isinstance(loss, Loss):
        return loss
    if isinstance(loss, str) and loss in LOSSES:
        return LOSSES[loss]()
    raise ValueError(f"loss must be one of {sorted(LOSSES)} or a Loss, got {loss!r}")
