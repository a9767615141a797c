"""One dispatch for extending solver values to new points."""
from __future__ import annotations

import numpy as np

from .._validation import check_points, check_values
from ._kirszbraun import kirszbraun
from ._mcshane import mcshane, midpoint, whitney

__all__ = ["extend", "KINDS"]

_SCALAR = {"midpoint": midpoint, "mcshane": mcshane, "whitney": whitney}
KINDS = ("auto", "kirszbraun", *_SCALAR)


def extend(X, U, X_new, *, L, kind="auto", p_x=2.0, p_y=2.0) -> np.ndarray:
    """Extend values ``U`` (n, k) on ``X`` to ``X_new``; returns (m, k).

    ``kind="auto"`` is "midpoint" for k = 1 and "kirszbraun" for k > 1 (which needs Euclidean
    norms on X and Y). The scalar kinds applied per component keep L in the sup-norm on Y.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    X = check_points(X, "X")
    U, _ = check_values(U, X.shape[0], "U")
    if kind == "auto":
        kind = "midpoint" if U.shape[1] == 1 else "kirszbraun"
    if kind == "kirszbraun":
        if p_x != 2.0 or p_y != 2.0:
            raise ValueError(f"kind 'kirszbraun' needs p_x = p_y = 2, got p_x = {p_x}, p_y = {p_y}; use kind='midpoint'")
        return kirszbraun(X, U, X_new, L=L)
    f = _SCALAR[kind]
    return np.column_stack([f(X, U[:, c], X_new, L=L, p=p_x) for c in range(U.shape[1])])
