r"""McShane, Whitney and midpoint extensions of scalar Lipschitz data (blocked, bounded memory)."""
from __future__ import annotations

import numpy as np

from .._pairwise import DEFAULT_BLOCK_BYTES, distance_blocks
from .._validation import check_int, check_norm, check_points, check_positive, check_values

__all__ = ["mcshane", "whitney", "midpoint"]


def _prepare(X, u, X_new, L, p, block_bytes):
    check_int(block_bytes, "block_bytes")
    X = check_points(X, "X")
    U, scalar = check_values(u, X.shape[0], "u")
    if not scalar:
        raise ValueError(f"u must be a vector of shape ({X.shape[0]},) for a scalar extension, got shape {np.shape(u)}")
    X_new = check_points(X_new, "X_new")
    if X_new.shape[1] != X.shape[1]:
        raise ValueError(f"X_new must have d = {X.shape[1]} columns to match X, got {X_new.shape[1]}")
    p = check_norm(p, "p")
    if L is None:
        from ._constants import data_lipschitz

        L = data_lipschitz(X, U, "u", p_x=p)
    L = check_positive(L, "L", allow_zero=True)
    return X, U[:, 0], X_new, L, p


# Above this many (query, point) pairs the envelopes are computed by the KD-tree's weighted
# nearest-neighbour search (lipconv._tree), which visits only the points that can attain the
# minimum; below it the dense blocks are as fast. Both give the same minimum (up to the last bit of
# the distance's rounding).
TREE_MIN_PAIRS = 4_000_000


def _envelope(X, u, X_new, L, p, upper: bool, block_bytes: int) -> np.ndarray:
    r""":math:`\min_i (u_i + L d(x, x_i))` (upper) or :math:`\max_i (u_i - L d(x, x_i))` at each row
    of X_new."""
    if X.shape[0] * X_new.shape[0] > TREE_MIN_PAIRS:
        from .._tree import build_tree, weighted_nearest

        sign = 1.0 if upper else -1.0
        return sign * weighted_nearest(build_tree(X, 16), sign * u, L, X_new, p=p)[0]
    out = np.empty(X_new.shape[0])
    for start, stop, D in distance_blocks(X_new, X, p=p, block_bytes=block_bytes):
        if upper:
            out[start:stop] = (u[None, :] + L * D).min(axis=1)
        else:
            out[start:stop] = (u[None, :] - L * D).max(axis=1)
    return out


def mcshane(X, u, X_new, *, L=None, p=2, block_bytes=DEFAULT_BLOCK_BYTES) -> np.ndarray:
    r"""McShane extension :math:`\overline{u}(x) = \min_i \big(u_i + L\,\|x - x_i\|_p\big)`.

    The largest L-Lipschitz function on X that agrees with u on the data (when u is L-Lipschitz
    there). Rows of ``X_new`` are processed in blocks of at most ``block_bytes`` of distances, so
    20,000 queries against 20,000 points never hold a (queries x points x d) array.

    Parameters
    ----------
    X : array_like, shape (n, d)
    u : array_like, shape (n,)
    X_new : array_like, shape (m, d)
    L : float, optional
        Lipschitz constant to use (default: the discrete constant of u on X).
    p : {1, 2, inf}
        Norm on X.

    Returns
    -------
    ndarray, shape (m,)

    Examples
    --------
    Two samples on a line, extended with L = 2 (the data's own constant is 1): McShane is the
    upper envelope, Whitney the lower one, and every 2-Lipschitz extension lies between them.

    >>> import numpy as np
    >>> from lipconv.extension import mcshane, midpoint, whitney
    >>> X, u = np.array([[0.0], [1.0]]), np.array([0.0, 1.0])
    >>> X_new = np.array([[0.5], [2.0]])
    >>> mcshane(X, u, X_new, L=2.0)
    array([1., 3.])
    >>> whitney(X, u, X_new, L=2.0)
    array([ 0., -1.])
    >>> midpoint(X, u, X_new, L=2.0)
    array([0.5, 1. ])
    """
    X, u, X_new, L, p = _prepare(X, u, X_new, L, p, block_bytes)
    return _envelope(X, u, X_new, L, p, True, block_bytes)


def whitney(X, u, X_new, *, L=None, p=2, block_bytes=DEFAULT_BLOCK_BYTES) -> np.ndarray:
    r"""Whitney extension :math:`\underline{u}(x) = \max_i \big(u_i - L\,\|x - x_i\|_p\big)`.

    The smallest L-Lipschitz extension; see :func:`mcshane` for the parameters.
    """
    X, u, X_new, L, p = _prepare(X, u, X_new, L, p, block_bytes)
    return _envelope(X, u, X_new, L, p, False, block_bytes)


def midpoint(X, u, X_new, *, L=None, p=2, block_bytes=DEFAULT_BLOCK_BYTES) -> np.ndarray:
    r"""Midpoint :math:`\tfrac12(\overline{u} + \underline{u})` of the McShane and Whitney extensions.

    Also L-Lipschitz and interpolating; it is the extension used by ``LipschitzResult.predict``.
    """
    X, u, X_new, L, p = _prepare(X, u, X_new, L, p, block_bytes)
    return 0.5 * (_envelope(X, u, X_new, L, p, True, block_bytes) + _envelope(X, u, X_new, L, p, False, block_bytes))
