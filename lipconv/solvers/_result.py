"""The solver result and the solver error."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["LipschitzResult", "Certificate", "SolverError", "CertificateWarning", "RawSolution"]


class SolverError(RuntimeError):
    """A convex solve failed, was infeasible, or ended with an inaccurate status."""


class CertificateWarning(UserWarning):
    """A solve returned a point whose certificate exceeds its tolerances (see ``certified``)."""


@dataclass
class RawSolution:
    """What a method returns to :func:`lipconv.solvers.lipschitz_regression`, in normalized units.

    ``i, j, multipliers``: pairs of the final program and their multipliers (P, k), oriented as in
    :mod:`._certificate` (None when the solver gave no duals). ``max_excess``: the method's own exact
    all-pairs scan at ``(values, lipschitz)``, or None. ``oriented``: each pair (i, j) is the one
    row ``u_i - u_j <= L d_ij`` (scalar outputs).
    """

    values: np.ndarray | None
    lipschitz: float | None
    status: str
    i: np.ndarray
    j: np.ndarray
    multipliers: np.ndarray | None
    n_pairs: int
    info: dict
    max_excess: float | None = None
    oriented: bool = False


class _Certified:
    """The verdicts of the two-part certificate (fields ``max_violation``, ``relative_gap``,
    ``feasibility_tol``, ``gap_tol``)."""

    @property
    def feasibility_certified(self) -> bool:
        """``max_violation <= feasibility_tol``."""
        return bool(self.max_violation <= self.feasibility_tol)

    @property
    def optimality_certified(self) -> bool:
        """``relative_gap <= gap_tol``."""
        return bool(self.relative_gap <= self.gap_tol)

    @property
    def certified(self) -> bool:
        """Both parts of the certificate hold."""
        return self.feasibility_certified and self.optimality_certified


@dataclass(frozen=True)
class Certificate(_Certified):
    """Both parts of the certificate of a candidate (values, L) (:func:`lipconv.solvers.certify`).

    Attributes
    ----------
    objective : float
        :math:`J(u, L)` in the user's units.
    lower_bound : float
        The certified lower bound D of the optimum from the given multipliers (or from the
        constant's transport alone).
    relative_gap : float
        :math:`(J - D) / J`.
    max_violation : float
        Worst pair excess over all pairs relative to the label range.
    feasibility_tol, gap_tol : float
    """

    objective: float
    lower_bound: float
    relative_gap: float
    max_violation: float
    feasibility_tol: float = 1e-6
    gap_tol: float = 1e-6


@dataclass(frozen=True)
class LipschitzResult(_Certified):
    """Minimizer of the finite Lipschitz program, with its two-part certificate.

    All quantities are in the user's units; the certificate's two numbers are dimensionless
    (:mod:`lipconv.solvers._certificate` has the formulas).

    Attributes
    ----------
    values : ndarray, shape (n, k)
        The minimizer u_n on the samples.
    lipschitz : float
        L, the Lipschitz constant of ``values`` over the pairs of the final program (in the
        (p_x, p_y) norms); ``max_violation`` certifies it over all pairs.
    objective : float
        :math:`J = \\sum_i w_i \\ell(u_i, y_i) + \\lambda L`, an upper bound of the optimum
        (up to ``max_violation``), evaluated in the normalized units and mapped back.
    loss_value : float
        :math:`\\sum_i w_i \\ell(u_i, y_i)`.
    lower_bound : float
        D, a certified lower bound of the optimum from the dual multipliers.
    relative_gap : float
        :math:`(J - D) / J`: the optimality certificate (0 for the exact constant answers).
    max_violation : float
        :math:`\\max_{i<j} (\\|u_i-u_j\\| - L d_{ij})_+ / s` over ALL pairs, s the largest label
        range (1 for the cross-entropy): the feasibility certificate.
    feasibility_certified, optimality_certified : bool
        ``max_violation <= feasibility_tol`` and ``relative_gap <= gap_tol``.
    feasibility_tol, gap_tol : float
        The tolerances the two parts were checked against.
    dual : tuple (i, j, multipliers) or None
        The pair multipliers behind ``lower_bound``, in the user's units, shape (P, k), oriented as
        :math:`\\langle \\Lambda_r, u_{i_r} - u_{j_r}\\rangle` (None for the constant's star);
        pass the result to :func:`~lipconv.solvers.certify` to judge another point with them.
    status : str
        "optimal", or "constant" for the exact constant answer (lam at or above its critical
        value, constant labels, or coincident points), solved without a convex program.
    solve_time : float
        Wall-clock seconds of the whole call (the certificate included).
    method, solver : str
        The method ("pairs", "cutting-plane", "constant") and the convex solver used.
    n_pairs : int
        Number of pair constraints in the final program.
    X : ndarray, shape (n, d)
        The inputs, kept for :meth:`predict`.
    lam, p_x, p_y : float
    scalar : bool
        True when the labels were a vector (then :meth:`predict` returns a vector).
    info : dict
        Method-specific diagnostics (rounds, ...), and ``units`` (:class:`~lipconv.solvers._units.Units`).
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
    lower_bound: float = float("-inf")
    relative_gap: float = float("inf")
    feasibility_tol: float = 1e-6
    gap_tol: float = 1e-6
    dual: tuple | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        """One line: the problem's size, L, the objective, both parts of the certificate with their
        tolerances, the method and the time (the values are in ``values``)."""
        n, k = self.values.shape
        lam = "None" if self.lam is None else f"{self.lam:.6g}"
        return (
            f"LipschitzResult(n={n}, k={k}, lam={lam}, L={self.lipschitz:.6g}, objective={self.objective:.6g}, "
            f"max_violation={self.max_violation:.3g} (tol {self.feasibility_tol:g}), "
            f"relative_gap={self.relative_gap:.3g} (tol {self.gap_tol:g}), certified={self.certified}, "
            f"method={self.method!r}, status={self.status!r}, solve_time={self.solve_time:.3g}s)"
        )

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
