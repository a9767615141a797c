r"""The continuum minimizer on a manifold, by a weighted solve on a fine quadrature."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from .._validation import check_callable, check_int, check_label_values, check_manifold, check_positive

if TYPE_CHECKING:
    from ..solvers import LipschitzResult

__all__ = ["ContinuumSolution", "continuum_minimizer"]


@dataclass(frozen=True)
class ContinuumSolution:
    r"""The quadrature approximation of :math:`u^\lambda`, with a quadrature-error estimate.

    Attributes
    ----------
    manifold, label, loss : str
        Names of the manifold, the label function and the loss.
    lam : float
        Ambient regularization weight.
    N : int
        Requested number of quadrature nodes.
    nodes : ndarray, shape (N', d)
    weights : ndarray, shape (N',)
    labels : ndarray, shape (N',) or (N', k)
    values : ndarray, shape (N',) or (N', k)
        :math:`u^\lambda` on the nodes.
    objective : float
        :math:`J_N = \sum_i w_i \ell(u_i, y_i) + \lambda L` (the quadrature value of J).
    lipschitz : float
        L, the ambient Lipschitz constant of the values on the nodes.
    result : lipconv.solvers.LipschitzResult
        The full solver result on the N-point rule.
    objective_coarse : float
        :math:`J_{N/2}` (``nan`` when the estimate was not requested).
    error_objective : float
        :math:`|J_N - J_{N/2}|`.
    error_sup : float
        :math:`\max_i |u_N(x_i) - u_{N/2}(x_i)|` over the N-point nodes, with :math:`u_{N/2}` extended by
        its solver result's ``predict``.
    method : str
        The solver method used.
    seed : int or None
        Recorded with the result; the built-in quadratures are deterministic.
    """

    manifold: str
    label: str
    loss: str
    lam: float
    N: int
    nodes: np.ndarray = field(repr=False)
    weights: np.ndarray = field(repr=False)
    labels: np.ndarray = field(repr=False)
    values: np.ndarray = field(repr=False)
    objective: float
    lipschitz: float
    result: LipschitzResult = field(repr=False)
    objective_coarse: float
    error_objective: float
    error_sup: float
    method: str
    seed: object = None

    def predict(self, x) -> np.ndarray:
        """Lipschitz extension of :math:`u^\\lambda` to ambient points x (n, d) (the solver result's predict)."""
        return self.result.predict(x)


def continuum_minimizer(
    manifold, label, *, lam, loss="squared", N, method="auto", seed=None,
    quadrature: Callable | None = None, estimate_error: bool = True,
) -> ContinuumSolution:
    r"""Minimize the continuum functional ([FCAO] eq. (4.4)) on a quadrature of rho.

    .. math::

        J[u] = \int_M \ell(u, y)\, d\rho + \lambda\, \mathrm{Lip}(u)
        \ \approx\ \min_{u, L}\ \sum_i w_i\, \ell(u_i, y(x_i)) + \lambda L
        \ \ \text{s.t.}\ \ \|u_i - u_j\| \le L \|x_i - x_j\|_2,

    the weighted finite program of :func:`lipconv.solvers.lipschitz_regression` on the nodes x_i and
    weights w_i of an N-point quadrature of rho (DESIGN.md, "The core problem"). Lipschitz constants are
    in the ambient Euclidean distance. The quadrature error is estimated by solving again on the
    N/2-point rule: :math:`|J_N - J_{N/2}|` and the sup-norm change of u on the N-point nodes.

    Parameters
    ----------
    manifold : lipconv.manifolds.Manifold
    label : callable
        Label function of the coordinate t = ``manifold.coordinate(x)`` (a
        :class:`lipconv.manifolds.Label` or any callable (n,) -> (n,) or (n, k)).
    lam : float
        Ambient regularization weight, > 0.
    loss : str or lipconv.losses.Loss
    N : int
        Quadrature size, >= 4 (so that the N/2 rule has at least 2 nodes).
    method : {"auto", "pairs", "cutting-plane"}
        Solver method. "auto" uses "pairs" when the nodes are 1-D (adjacent pairs: O(N) constraints,
        fast at any N) and otherwise the solver's own "auto" (the cutting plane, faster than all
        pairs at every measured N; :func:`lipconv.solvers.lipschitz_regression`).
    seed : int or None
        Recorded with the result (the built-in quadratures are deterministic).
    quadrature : callable, optional
        ``quadrature(N) -> (nodes (N', d), weights (N',))``; default ``manifold.quadrature``. E.g.
        ``lambda N: cube.grid_quadrature((N // 3, 3))`` for a label depending on x_1 only.
    estimate_error : bool
        Solve on the N/2 rule too (about 1.5x the cost) to fill the error fields; otherwise they are nan.

    Returns
    -------
    ContinuumSolution
    """
    from ..losses import get_loss
    from ..solvers import lipschitz_regression

    check_manifold(manifold)
    check_callable(label, "label", "a callable of the coordinate t (a lipconv.manifolds.Label)")
    lam = check_positive(lam, "lam")
    N = check_int(N, "N", minimum=4)
    seed = None if seed is None else check_int(seed, "seed", minimum=0)
    loss_name = get_loss(loss).name
    if quadrature is not None:
        check_callable(quadrature, "quadrature", "a callable N -> (nodes, weights)")
    rule = manifold.quadrature if quadrature is None else quadrature

    def solve(n_nodes):
        nodes, weights = rule(n_nodes)
        t = manifold.coordinate(nodes)
        y = check_label_values(label(t), t.size)
        y = y[:, 0] if y.shape[1] == 1 else y
        chosen = "pairs" if method == "auto" and nodes.shape[1] == 1 else method
        res = lipschitz_regression(nodes, y, lam=lam, loss=loss, weights=weights, method=chosen)
        return nodes, weights, y, res

    nodes, weights, y, res = solve(N)
    values = res.values[:, 0] if res.scalar else res.values
    if estimate_error:
        _, _, _, coarse = solve(N // 2)
        j_coarse = coarse.objective
        err_j = abs(res.objective - j_coarse)
        err_sup = float(np.max(np.abs(coarse.predict(nodes) - values)))
    else:
        j_coarse = err_j = err_sup = float("nan")
    return ContinuumSolution(
        manifold=getattr(manifold, "name", repr(manifold)), label=getattr(label, "name", repr(label)),
        loss=loss_name, lam=lam, N=N, nodes=nodes, weights=weights, labels=y, values=values,
        objective=float(res.objective), lipschitz=float(res.lipschitz), result=res,
        objective_coarse=float(j_coarse), error_objective=float(err_j), error_sup=err_sup,
        method=res.method, seed=seed,
    )
