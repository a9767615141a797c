r"""Losses of the Lipschitz-regularized problem, with the metadata the theory uses.

Every loss :math:`\ell(u, y) \ge 0` with equality iff :math:`u = y` (seed 000, §4.2) acts row-wise on
predictions ``u`` and labels ``y`` of shape (n, k). Each carries

* ``cvxpy(u, y, w)``: the convex expression :math:`\sum_i w_i \ell(u_i, y_i)`;
* ``value(u, y)``: per-sample numpy values, shape (n,);
* ``torch(u, y)``: per-sample torch values (differentiable), shape (n,);
* ``theta``: the strong-convexity constant of seed 000 eq. (4.5) in the Euclidean norm on Y (0 when
  the loss is not strongly convex);
* ``lipschitz(radius)``: a Lipschitz constant of :math:`u \mapsto \ell(u, y)` in the Euclidean norm,
  valid for ``||u||_inf, ||y||_inf <= radius`` (used by the rate bounds of Theorem 4.8);
* ``constraints(u)``: extra constraints on u (the simplex, for the cross-entropy).
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
        ze = y + eps
        # -(z+eps) log((u+eps)/(z+eps)) = (z+eps) log(z+eps) - (z+eps) log(u+eps), convex in u.
        per = cp.sum(cp.multiply(ze, np.log(ze)) - cp.multiply(ze, cp.log(u + eps)), axis=1)
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
    r"""Regularized cross-entropy of seed 000 eq. (4.6) on the probability simplex:

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
