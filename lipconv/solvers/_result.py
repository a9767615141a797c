"""The solver result and the solver error."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LipschitzResult", "SolverError"]


class SolverError(RuntimeError):
    """A convex solve failed, was infeasible, or ended with an inaccurate status."""


@dataclass(frozen=True)
class LipschitzResult:
    """Minimizer of the finite Lipschitz program, with its certificate.

    Attributes
    ----------
    values : ndarray, shape (n, k)
        The minimizer u_n on the samples.
    lipschitz : float
        The optimal L (Lipschitz constant of u_n on the samples, in the (p_x, p_y) norms).
    objective : float
        :math:`\\sum_i w_i \\ell(u_i, y_i) + \\lambda L`, evaluated in float64 from ``values``.
    loss_value : float
        :math:`\\sum_i w_i \\ell(u_i, y_i)`.
    status : str
        The convex solver's status ("optimal").
    max_violation : float
        Exact maximum over ALL pairs of :math:`(\\|u_i-u_j\\| - L d_{ij})_+ / L` (see
        :func:`lipconv.solvers.violation_scan`): the feasibility certificate.
    solve_time : float
        Wall-clock seconds of the whole call (the certificate scan included).
    method, solver : str
        The method ("pairs", "cutting-plane") and the convex solver used.
    n_pairs : int
        Number of pair constraints in the final program.
    X : ndarray, shape (n, d)
        The inputs, kept for :meth:`predict`.
    lam, p_x, p_y : float
    scalar : bool
        True when the labels were a vector (then :meth:`predict` returns a vector).
    info : dict
        Method-specific diagnostics (rounds, duality gap, ...).
    """

    values: np.ndarray
    lipschitz: float
    objective: float
    loss_value: float
    status: str
    max_violation: float
    solve_time: float
    method: str
    solver: str
    n_pairs: int
    X: np.ndarray = field(repr=False)
    lam: float = 0.0
    p_x: float = 2.0
    p_y: float = 2.0
    scalar: bool = True
    info: dict = field(default_factory=dict, repr=False)

    def predict(self, X_new, *, kind: str = "auto"):
        """Evaluate a Lipschitz extension of ``values`` at ``X_new`` (shape (m, d)).

        ``kind``: "midpoint" (default for scalar outputs), "mcshane", "whitney" (scalar outputs,
        applied per component for vector outputs), or "kirszbraun" (default for vector outputs
        with p_x = p_y = 2; keeps the Euclidean Lipschitz constant). Returns shape (m,) for
        scalar labels, else (m, k).
        """
        from ..extension import extend

        out = extend(self.X, self.values, X_new, L=self.lipschitz, kind=kind, p_x=self.p_x, p_y=self.p_y)
        return out[:, 0] if self.scalar else out
