"""Solvers of the empirical Lipschitz-regularized problem ([FCAO] eq. (2.7))."""
from ._api import AUTO_PAIRS_MAX_N, METHODS, Certificate, certify, kantorovich_dual, lipschitz_regression
from ._certificate import FEASIBILITY_TOL, GAP_TOL, violation_scan
from ._result import CertificateWarning, LipschitzResult, SolverError

__all__ = [
    "lipschitz_regression", "certify", "Certificate", "kantorovich_dual", "LipschitzResult", "SolverError", "CertificateWarning",
    "violation_scan", "METHODS", "AUTO_PAIRS_MAX_N", "FEASIBILITY_TOL", "GAP_TOL",
]
