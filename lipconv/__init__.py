r"""lipconv: certified solvers and convergence-rate verification for Lipschitz-regularized learning.

Subpackages (DESIGN.md): manifolds, losses, norms, solvers, extension, continuum,
discrepancy, rates, neural, nn, plotting. They are imported on first access, so
``import lipconv`` stays light; torch and matplotlib load only where used. The scikit-learn
estimators live in ``lipconv.sklearn`` (import it explicitly; scikit-learn is optional).

Examples
--------
Two samples, squared loss: the minimizer of
:math:`\tfrac12[u_0^2 + (u_1 - 1)^2] + \lambda |u_1 - u_0|` is
:math:`u = (\lambda, 1 - \lambda)` with :math:`L = 1 - 2\lambda` (for :math:`\lambda < 1/2`),
returned with its certificate:

>>> import numpy as np
>>> from lipconv import lipschitz_regression
>>> res = lipschitz_regression([0.0, 1.0], [0.0, 1.0], lam=0.1)
>>> np.round(res.values.ravel(), 6), round(res.lipschitz, 6), round(res.objective, 6)
(array([0.1, 0.9]), 0.8, 0.09)
>>> res.certified
True
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
