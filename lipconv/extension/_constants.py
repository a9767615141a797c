r"""Discrete Lipschitz constants of functions and of labelled data sets."""
from __future__ import annotations

import warnings

import numpy as np

from .._pairwise import DEFAULT_BLOCK_BYTES, distance_blocks, pairwise_distances
from .._validation import check_int, check_norm, check_points, check_real, check_values

__all__ = ["lipschitz_constant", "dataset_lipschitz_constant", "data_lipschitz"]


def lipschitz_constant(X, u, *, p_x=2, p_y=2, block_bytes=DEFAULT_BLOCK_BYTES) -> float:
    r"""Discrete Lipschitz constant :math:`\max_{i \ne j} \|u_i - u_j\|_{p_y} / \|x_i - x_j\|_{p_x}`.

    Duplicated points with equal values are skipped; duplicated points with different values make
    the constant infinite (returned as ``inf`` with a ``RuntimeWarning``). Blocked over rows.

    Parameters
    ----------
    X : array_like, shape (n, d)
    u : array_like, shape (n,) or (n, k)
    p_x, p_y : {1, 2, inf}

    Returns
    -------
    float

    Examples
    --------
    >>> from lipconv.extension import lipschitz_constant
    >>> lipschitz_constant([[0.0, 0.0], [3.0, 4.0]], [0.0, 10.0])
    2.0
    >>> lipschitz_constant([[0.0, 0.0], [3.0, 4.0]], [0.0, 10.0], p_x=1)
    1.4285714285714286
    """
    X = check_points(X, "X")
    U, _ = check_values(u, X.shape[0], "u")
    check_int(block_bytes, "block_bytes")
    p_x = check_norm(p_x, "p_x")
    p_y = check_norm(p_y, "p_y")
    best = 0.0
    conflict = False
    for start, stop, D in distance_blocks(X, X, p=p_x, block_bytes=block_bytes):
        V = pairwise_distances(U[start:stop], U, p=p_y)
        zero = D == 0
        if np.any(V[zero] > 0):
            conflict = True
            break
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(zero, 0.0, V / np.where(zero, 1.0, D))
        best = max(best, float(ratio.max(initial=0.0)))
    if conflict:
        warnings.warn("duplicate points in X carry different values of u: the Lipschitz constant is infinite",
                      RuntimeWarning, stacklevel=2)
        return float("inf")
    return best


def dataset_lipschitz_constant(X, labels, *, p=2, block_bytes=DEFAULT_BLOCK_BYTES) -> float:
    r"""Lipschitz constant :math:`\mathrm{Lip}_{p,\infty}(D)` of a labelled data set.

    With one-hot labels (the inf-distance between different labels is 1) this is

    .. math:: \mathrm{Lip}(D) = \Big(\min_{y_i \ne y_j} \|x_i - x_j\|_p\Big)^{-1},

    [FOA] App. C and [FCAO] Table 4. Labels may be classes (n,) or one-hot (n, k); numeric
    labels must be real and finite (a ``ValueError`` otherwise).
    Returns ``inf`` (with a warning) when two identical inputs carry different labels, and 0 when
    there is only one class.
    """
    X = check_points(X, "X")
    lab = np.asarray(labels)
    if lab.dtype.kind in "biufc":
        # A NaN label differs from every label, itself included, and would set the constant. Only
        # checked: the labels keep their dtype (int64 classes above 2^53 are not floats).
        check_real(lab, "labels")
    if lab.ndim == 2:
        if lab.shape[0] != X.shape[0]:
            raise ValueError(f"labels must have n = {X.shape[0]} rows to match X, got {lab.shape[0]}")
        lab = lab.argmax(axis=1)
    if lab.ndim != 1 or lab.shape[0] != X.shape[0]:
        raise ValueError(f"labels must have shape ({X.shape[0]},) or ({X.shape[0]}, k), got {np.shape(labels)}")
    p = check_norm(p, "p")
    check_int(block_bytes, "block_bytes")
    dmin = np.inf
    for start, stop, D in distance_blocks(X, X, p=p, block_bytes=block_bytes):
        differ = lab[start:stop, None] != lab[None, :]
        if np.any(differ):
            dmin = min(dmin, float(D[differ].min()))
    if dmin == np.inf:
        return 0.0
    if dmin == 0.0:
        warnings.warn("identical inputs carry different labels: the data set's Lipschitz constant is infinite",
                      RuntimeWarning, stacklevel=2)
        return float("inf")
    return 1.0 / dmin


def data_lipschitz(X, U, name: str, *, p_x=2, p_y=2) -> float:
    """The Lipschitz constant of the values ``U`` on ``X``, the default L of the extensions; a
    ``ValueError`` naming ``name`` when duplicate points carry different values (no finite L: every
    extension formula would be given L = inf)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        L = lipschitz_constant(X, U, p_x=p_x, p_y=p_y)
    if not np.isfinite(L):
        raise ValueError(f"{name} must take one value at each point for L=None (L is then the data's Lipschitz "
                         "constant), got duplicate points of X with different values; drop them or give L")
    return L
