r"""Vector p-norms, Hölder conjugates, dual norms, steepest directions and sphere projections.

Works on numpy arrays and torch tensors alike (the result has the input's
type, device and dtype), batched over leading axes: the norm is taken over the
last axis unless ``axis`` says otherwise.

Inputs must be real: complex arrays and tensors raise ``ValueError``. Entries may be infinite (a
vector with an infinite entry has norm inf; the maps to directions return their limit as those
entries grow). NaN entries raise ``ValueError`` for numpy input; a torch tensor is not scanned, since
that would synchronize the device on every call, and NaN propagates as in torch.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_norm, check_real
from ._backend import amax, asum, xp
from ._backend import is_torch as _is_torch

__all__ = ["pnorm", "dual_exponent", "dual_norm", "steepest_direction", "sphere_projection"]


def _check_vector(v, name: str):
    """``v`` as a float array (numpy input) or the tensor itself, rejecting complex input and numpy NaN."""
    if _is_torch(v):
        if v.is_complex():
            raise ValueError(f"{name} must be real, got {v.dtype}")
        return v
    return check_real(v, name, allow_inf=True)


def _limit_direction(a, M):
    """Rows (last axis) holding an infinite entry replaced by sign(a) on the infinite entries, 0 elsewhere.

    A scale-invariant map of such a row is read as its limit as those entries grow; dividing by the
    largest |a_i| instead gives inf / inf = NaN.
    """
    inf_row = M.isinf(a).any(-1, keepdims=True) if M is np else M.isinf(a).any(dim=-1, keepdim=True)
    return M.where(inf_row, M.sign(a) * M.isinf(a), a)


def _parse_p(p) -> float:
    """Accept any p in [1, inf] (not only {1, 2, inf}), with the string aliases of ``check_norm``."""
    if isinstance(p, str):
        try:
            return check_norm(p)
        except ValueError:
            pass
    try:
        q = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"p must be a number in [1, inf] (or 'L1', 'L2', 'Linf'), got {p!r}") from None
    if not (q >= 1.0):
        raise ValueError(f"p must be a number in [1, inf] (or 'L1', 'L2', 'Linf'), got {p!r}")
    return q


def dual_exponent(p) -> float:
    r"""Hölder conjugate :math:`p^*` with :math:`1/p + 1/p^* = 1` (1 <-> inf).

    Parameters
    ----------
    p : float or str
        Exponent in [1, inf]; strings "L1", "L2", "Linf", "inf" are accepted.
    """
    q = _parse_p(p)
    if q == 1.0:
        return np.inf
    if np.isinf(q):
        return 1.0
    return q / (q - 1.0)


def pnorm(v, p, *, axis: int = -1):
    r""":math:`\|v\|_p = (\sum_i |v_i|^p)^{1/p}` over ``axis`` (max for p = inf).

    Parameters
    ----------
    v : ndarray or torch.Tensor, shape (..., n)
        Real; entries may be infinite (the norm is then inf), not NaN (numpy input). n = 0 is the
        vector space {0}: its norm is 0 for every p (as ``numpy.linalg.norm([])``).
    p : float or str
        Exponent in [1, inf].
    """
    q = _parse_p(p)
    v = _check_vector(v, "v")
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)) or not -v.ndim <= axis < v.ndim:
        raise ValueError(f"axis must be an axis of v, an integer in [{-v.ndim}, {v.ndim}), got {axis!r} "
                         f"(v of shape {tuple(v.shape)})")
    if _is_torch(v):
        import torch

        if np.isinf(q) and v.ndim and v.shape[axis] == 0:  # torch has no identity for an empty max
            return v.abs().sum(dim=axis)
        return torch.linalg.vector_norm(v, ord=q, dim=axis)
    a = np.abs(v)
    if np.isinf(q):
        return a.max(axis=axis, initial=0.0)
    if q == 1.0:
        return a.sum(axis=axis)
    # |a|^q overflows (or underflows: |a| ~ 1e-200, q = 2) outside a narrow range, more so as q grows;
    # the norm is 1-homogeneous, so scale by max|a| (as torch.linalg.vector_norm does). A vector with
    # an infinite entry has norm inf, which the scaling (inf / inf) would turn into NaN.
    top = a.max(axis=axis, keepdims=True, initial=0.0)
    infinite = np.isinf(top)
    safe = np.where((top > 0) & ~infinite, top, 1.0)
    ratio = np.where(infinite, 0.0, a / safe)
    norm = np.squeeze(safe, axis=axis) * (ratio**q).sum(axis=axis) ** (1.0 / q)
    return np.where(np.squeeze(infinite, axis=axis), np.inf, norm)[()]


def dual_norm(v, p, *, axis: int = -1):
    r"""Dual norm :math:`\|v\|_{p,*} = \sup_{\|w\|_p \le 1} w \cdot v = \|v\|_{p^*}`."""
    return pnorm(v, dual_exponent(p), axis=axis)


def steepest_direction(z, p):
    r"""Maximizer of :math:`v \cdot z` over :math:`\|v\|_p \le 1` ([RKH] eq. (16)).

    .. math::

        v^* = \frac{\operatorname{sign}(z)\,|z|^{p^*-1}}{\|z\|_{p^*}^{p^*-1}},
        \qquad v^* \cdot z = \|z\|_{p^*}.

    For p = inf this is ``sign(z)``; for p = 1 the mass goes to one entry of
    largest ``|z_i|`` (the first, where there are ties). The zero vector maps to
    the zero vector (any feasible v attains the value 0). A vector with infinite
    entries maps to the limit of v* as those entries grow: v* of ``sign(z)`` on
    them and 0 elsewhere. Batched over the leading axes; the last axis is the
    vector.

    Parameters
    ----------
    z : ndarray or torch.Tensor, shape (..., n)
        Real; not NaN (numpy input).
    p : float or str
        Exponent of the constraint ball, in [1, inf].

    Returns
    -------
    v : same type and shape as ``z``
    """
    q = _parse_p(p)
    ps = dual_exponent(q)
    z = _check_vector(z, "z")
    if z.ndim < 1:
        raise ValueError(f"z must have shape (..., n), got a scalar of shape {tuple(z.shape)}")
    if z.shape[-1] == 0:  # the unit ball of R^0 is {0}
        return z * 0
    if _is_torch(z):
        import torch

        if np.isinf(q):
            return torch.sign(z)
        if q == 1.0:
            idx = z.abs().argmax(dim=-1, keepdim=True)
            out = torch.zeros_like(z)
            out.scatter_(-1, idx, torch.gather(torch.sign(z), -1, idx))
            return out
        # v* is invariant under z -> z / max|z|; scaling keeps |z|^(p*-1) finite when p* is large.
        z = _limit_direction(z, torch)
        top = z.abs().amax(dim=-1, keepdim=True)
        zs = z / torch.where(top > 0, top, torch.ones_like(top))
        nrm = torch.linalg.vector_norm(zs, ord=ps, dim=-1, keepdim=True)
        num = torch.sign(zs) * zs.abs() ** (ps - 1.0)
        safe = torch.where(nrm > 0, nrm, torch.ones_like(nrm))
        return torch.where(nrm > 0, num / safe ** (ps - 1.0), torch.zeros_like(z))
    a = z
    if np.isinf(q):
        return np.sign(a)
    if q == 1.0:
        idx = np.abs(a).argmax(axis=-1)[..., None]
        out = np.zeros_like(a)
        np.put_along_axis(out, idx, np.take_along_axis(np.sign(a), idx, axis=-1), axis=-1)
        return out
    a = _limit_direction(a, np)
    top = np.abs(a).max(axis=-1, keepdims=True)  # see the torch branch: keeps |a|^(p*-1) finite
    a = a / np.where(top > 0, top, 1.0)
    nrm = pnorm(a, ps)[..., None]
    num = np.sign(a) * np.abs(a) ** (ps - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = num / nrm ** (ps - 1.0)
    return np.where(nrm > 0, v, 0.0)


def sphere_projection(x, p):
    r"""Euclidean projection onto the unit p-sphere, :math:`\Pi_{\{\|\cdot\|_p = 1\}}` of [RKH] eq. (9).

    .. math::

        \Pi(x) \in \operatorname*{arg\,min}_{\|y\|_p = 1} \|y - x\|_2 ,
        \qquad p \in \{1, 2, \infty\}.

    Outside the unit ball the nearest point of the sphere is the nearest point of the ball:
    ``x / ||x||_2`` (p = 2), ``clip(x, -1, 1)`` (p = inf), the l1-ball projection
    ``sign(x) * proj_simplex(|x|)`` (p = 1, POT's ``ot.utils.proj_simplex``, sort-based). Inside the
    ball the sphere is non-convex and the minimizer need not be unique; we return the one found by
    moving to the nearest face: the coordinate of largest ``|x_i|`` set to ``±1`` (p = inf), the
    orthogonal projection onto the facet ``sign(x) . y = 1`` (p = 1, zeros counted as +), and
    ``e_1`` for ``x = 0`` (p = 2). A vector with infinite entries maps to the limit as those entries
    grow (``sign(x)`` on them, spread equally: ``/ sqrt(#inf)`` for p = 2, ``/ #inf`` for p = 1, and
    ``clip`` for p = inf). Batched over the leading axes (last axis = vector).

    Parameters
    ----------
    x : ndarray or torch.Tensor, shape (..., n)
        Real; not NaN (numpy input).
    p : {1, 2, inf}

    Returns
    -------
    y : same kind and shape as ``x``, with ``pnorm(y, p) == 1``.
    """
    q = check_norm(p, "p")
    x = _check_vector(x, "x")
    if x.ndim < 1 or x.shape[-1] < 1:
        raise ValueError(f"x must have shape (..., n) with n >= 1, got shape {tuple(x.shape)}")
    M = xp(x)
    if q != np.inf:
        # With infinite entries the p = 1, 2 projection is the limit of the projections as they grow,
        # i.e. the projection of the limit direction; clip (p = inf) needs no limit.
        x = _limit_direction(x, M)
    absx = abs(x)
    sgn = M.where(x < 0, -M.ones_like(x), M.ones_like(x))
    if q == 2.0:
        nrm = pnorm(x, 2.0)[..., None]
        first = M.zeros_like(x)
        first[..., 0] = 1.0
        return M.where(nrm > 0, x / M.where(nrm > 0, nrm, M.ones_like(nrm)), first)
    if np.isinf(q):
        top = amax(absx, -1, keepdims=True)
        outside = M.clip(x, -1.0, 1.0)
        idx = absx.argmax(-1)[..., None]
        onehot = M.arange(x.shape[-1], device=x.device) == idx if _is_torch(x) else np.arange(x.shape[-1]) == idx
        inside = M.where(onehot, sgn, x)
        return M.where(top >= 1.0, outside, inside)
    from ot.utils import proj_simplex

    total = asum(absx, -1, keepdims=True)
    flat = absx.reshape(-1, x.shape[-1])
    # proj_simplex projects the columns of an (n, batch) array.
    ball = sgn * proj_simplex(flat.T).T.reshape(x.shape)
    inside = x + sgn * (1.0 - asum(sgn * x, -1, keepdims=True)) / x.shape[-1]
    return M.where(total >= 1.0, ball, inside)
