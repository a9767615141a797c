"""The few array operations whose numpy and torch spellings differ.

Everything in :mod:`lipconv.norms` takes numpy arrays and torch tensors alike and
returns the input's kind; torch is imported only when a tensor is passed.
"""
from __future__ import annotations

import numpy as np

__all__ = ["is_torch", "xp", "amax", "asum", "take_last", "as_like", "detached", "no_grad"]


def is_torch(x) -> bool:
    return type(x).__module__.startswith("torch")


def xp(x):
    """The module (numpy or torch) whose functions apply to ``x``."""
    if is_torch(x):
        import torch

        return torch
    return np


def amax(x, axis: int = -1, keepdims: bool = False):
    if is_torch(x):
        return x.amax(dim=axis, keepdim=keepdims)
    return np.max(x, axis=axis, keepdims=keepdims)


def asum(x, axis: int = -1, keepdims: bool = False):
    if is_torch(x):
        return x.sum(dim=axis, keepdim=keepdims)
    return np.sum(x, axis=axis, keepdims=keepdims)


def take_last(x, idx):
    """``x[..., idx[...]]`` along the last axis, ``idx`` of shape ``x.shape[:-1] + (1,)``."""
    if is_torch(x):
        return x.gather(-1, idx)
    return np.take_along_axis(x, idx, axis=-1)


def as_like(a, like):
    """``a`` (numpy) as an array of ``like``'s kind, dtype and device; numpy float64 when ``like`` is None."""
    if like is not None and is_torch(like):
        import torch

        return torch.as_tensor(np.asarray(a), dtype=like.dtype, device=like.device)
    return np.asarray(a, dtype=float)


def detached(x):
    return x.detach() if is_torch(x) else x


class no_grad:
    """``torch.no_grad()`` when ``like`` is a tensor, a no-op context otherwise."""

    def __init__(self, like):
        self._ctx = None
        if like is not None and is_torch(like):
            import torch

            self._ctx = torch.no_grad()

    def __enter__(self):
        if self._ctx is not None:
            self._ctx.__enter__()
        return self

    def __exit__(self, *exc):
        if self._ctx is not None:
            return self._ctx.__exit__(*exc)
        return False
