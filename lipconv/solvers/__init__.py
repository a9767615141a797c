"""Solvers of the empirical Lipschitz-regularized problem (seed 000, eq. (2.7))."""
from ._api import AUTO_PAIRS_MAX_N, METHODS, kantorovich_dual, lipschitz_regression
from ._certificate import violation_scan
from ._result import LipschitzResult, SolverError

__all__ = [
    "lipschitz_regression", "kantorovich_dual", "LipschitzResult", "SolverError",
    "violation_scan", "METHODS", "AUTO_PAIRS_MAX_N",
]
