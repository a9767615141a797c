"""lipconv: certified solvers and convergence-rate verification for Lipschitz-regularized learning.

Subpackages (DESIGN.md): manifolds, losses, norms, solvers, extension, continuum,
discrepancy, rates, neural, nn, plotting. They are imported on first access, so
``import lipconv`` stays light; torch and matplotlib load only where used.
"""
from __future__ import annotations

import importlib

__version__ = "0.1.0"

_SUBPACKAGES = (
    "manifolds", "losses", "norms", "solvers", "extension", "continuum",
    "discrepancy", "rates", "neural", "nn", "plotting", "datasets",
)
_TOP_LEVEL = {
    "lipschitz_regression": "solvers",
    "LipschitzResult": "solvers",
    "SolverError": "solvers",
}

__all__ = [*_SUBPACKAGES, *_TOP_LEVEL]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _TOP_LEVEL:
        return getattr(importlib.import_module(f"{__name__}.{_TOP_LEVEL[name]}"), name)
    raise AttributeError(f"module 'lipconv' has no attribute {name!r}")
