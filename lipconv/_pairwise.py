"""The package's one pairwise-distance routine, in blocks of bounded memory.

Distances are in the ambient p-norm of X (p in {1, 2, inf}); scipy's ``cdist``
does the arithmetic, and this module only adds blocking so that no caller ever
holds more than ``block_bytes`` of distances at once.
"""
from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.spatial.distance import cdist

__all__ = ["pairwise_distances", "distance_blocks", "pair_distances", "all_pairs", "DEFAULT_BLOCK_BYTES"]

DEFAULT_BLOCK_BYTES = 64 * 2**20

_METRIC = {1.0: ("cityblock", {}), 2.0: ("euclidean", {}), np.inf: ("chebyshev", {})}


def pairwise_distances(A: np.ndarray, B: np.ndarray | None = None, *, p: float = 2.0) -> np.ndarray:
    """Dense matrix ``D[i, j] = ||A_i - B_j||_p`` (use for small inputs only)."""
    metric, kw = _METRIC[p]
    return cdist(A, A if B is None else B, metric=metric, **kw)


def distance_blocks(
    A: np.ndarray, B: np.ndarray, *, p: float = 2.0, block_bytes: int = DEFAULT_BLOCK_BYTES
) -> Iterator[tuple[int, int, np.ndarray]]:
    """Yield ``(start, stop, D)`` with ``D = pairwise_distances(A[start:stop], B)``.

    Rows are grouped so that each block holds at most ``block_bytes`` of float64
    distances (at least one row per block).
    """
    rows = max(1, int(block_bytes // (8 * max(1, B.shape[0]))))
    for start in range(0, A.shape[0], rows):
        stop = min(A.shape[0], start + rows)
        yield start, stop, pairwise_distances(A[start:stop], B, p=p)


def pair_distances(X: np.ndarray, i: np.ndarray, j: np.ndarray, *, p: float = 2.0) -> np.ndarray:
    """Distances ``||X_i - X_j||_p`` for index arrays ``i`` and ``j`` of equal length."""
    diff = X[i] - X[j]
    if p == 1.0:
        return np.abs(diff).sum(axis=1)
    if p == 2.0:
        return np.sqrt(np.einsum("ij,ij->i", diff, diff))
    return np.abs(diff).max(axis=1)


def all_pairs(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Index arrays ``(i, j)`` of all pairs ``i < j`` among n points."""
    return np.triu_indices(n, k=1)
