r"""Vector p-norms, Hölder conjugates, dual norms and steepest directions.

Works on numpy arrays and torch tensors alike (the result has the input's
type, device and dtype), batched over leading axes: the norm is taken over the
last axis unless ``axis`` says otherwise.
"""
from __future__ import annotations

import numpy as np

from .._validation import check_norm

__all__ = ["pnorm", "dual_exponent", "dual_norm", "steepest_direction"]


def _is_torch(v) -> bool:
    return type(v).__module__.startswith("torch")


def _parse_p(p) -> float:
    """Accept any p in [1, inf] (not only {1, 2, inf}), with the string aliases of ``check_norm``."""
    if isinstance(p, str):
        return check_norm(p)
    try:
        q = float(p)
    except (TypeError, ValueError):
        raise ValueError(f"p must be a number in [1, inf], got {p!r}") from None
    if not (q >= 1.0):
        raise ValueError(f"p must be a number in [1, inf], got {p!r}")
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
    p : float or str
        Exponent in [1, inf].
    """
    q = _parse_p(p)
    if _is_torch(v):
        import torch

        return torch.linalg.vector_norm(v, ord=q, dim=axis)
    a = np.asarray(v, dtype=float)
    if np.isinf(q):
        return np.abs(a).max(axis=axis)
    if q == 1.0:
        return np.abs(a).sum(axis=axis)
    if q == 2.0:
        return np.sqrt((a * a).sum(axis=axis))
    return (np.abs(a) ** q).sum(axis=axis) ** (1.0 / q)


def dual_norm(v, p, *, axis: int = -1):
    r"""Dual norm :math:`\|v\|_{p,*} = \sup_{\|w\|_p \le 1} w \cdot v = \|v\|_{p^*}`."""
    return pnorm(v, dual_exponent(p), axis=axis)


def steepest_direction(z, p):
    r"""Maximizer of :math:`v \cdot z` over :math:`\|v\|_p \le 1` (seed 003, eq. (16)).

    .. math::

        v^* = \frac{\operatorname{sign}(z)\,|z|^{p^*-1}}{\|z\|_{p^*}^{p^*-1}},
        \qquad v^* \cdot z = \|z\|_{p^*}.

    For p = inf this is ``sign(z)``; for p = 1 the mass goes to one entry of
    largest ``|z_i|`` (the first, where there are ties). The zero vector maps to
    the zero vector (any feasible v attains the value 0). Batched over the
    leading axes; the last axis is the vector.

    Parameters
    ----------
    z : ndarray or torch.Tensor, shape (..., n)
    p : float or str
        Exponent of the constraint ball, in [1, inf].

    Returns
    -------
    v : same type and shape as ``z``
    """
    q = _parse_p(p)
    ps = dual_exponent(q)
    if _is_torch(z):
        import torch

        if np.isinf(q):
            return torch.sign(z)
        if q == 1.0:
            idx = z.abs().argmax(dim=-1, keepdim=True)
            out = torch.zeros_like(z)
            out.scatter_(-1, idx, torch.gather(torch.sign(z), -1, idx))
            return out
        nrm = torch.linalg.vector_norm(z, ord=ps, dim=-1, keepdim=True)
        num = torch.sign(z) * z.abs() ** (ps - 1.0)
        safe = torch.where(nrm > 0, nrm, torch.ones_like(nrm))
        return torch.where(nrm > 0, num / safe ** (ps - 1.0), torch.zeros_like(z))
    a = np.asarray(z, dtype=float)
    if np.isinf(q):
        return np.sign(a)
    if q == 1.0:
        idx = np.abs(a).argmax(axis=-1)[..., None]
        out = np.zeros_like(a)
        np.put_along_axis(out, idx, np.take_along_axis(np.sign(a), idx, axis=-1), axis=-1)
        return out
    nrm = pnorm(a, ps)[..., None]
    num = np.sign(a) * np.abs(a) ** (ps - 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = num / nrm ** (ps - 1.0)
    return np.where(nrm > 0, v, 0.0)
