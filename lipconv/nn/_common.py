"""Shared plumbing for lipconv.nn: argument checks, mode handling, per-sample input gradients.

Per-sample gradients and BatchNorm
----------------------------------
Every regularizer and attack here needs :math:`\\nabla_x \\ell(x_i)` for each sample on its own.
The gradient of the *summed* per-sample loss with respect to the batch input is exactly the stack of
per-sample gradients **only if samples do not interact**. A BatchNorm layer in training mode
normalizes with the batch's own mean and variance, so each output depends on every input and the
summed-loss gradient mixes samples. :func:`per_sample_mode` therefore puts every BatchNorm layer in
eval mode (running statistics, a fixed affine map per sample) for the duration of the input-gradient
computation, leaving all other layers (dropout included, which is per-sample anyway) as they are,
and restores each module's own flag afterwards. A side effect worth knowing: the extra forward
passes made for a penalty do not update the running statistics. Inside it a BatchNorm computes
its eval-mode affine map with elementwise operations (same values), whose double backward is far
cheaper than torch's BatchNorm double backward.
"""
from __future__ import annotations

import contextlib
import math
import numbers

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .._validation import check_norm

__all__ = [
    "parse_norm",
    "check_eps",
    "check_h",
    "check_batch",
    "default_loss",
    "per_sample_loss",
    "per_sample_mode",
    "restore_mode",
    "input_gradient",
    "flat",
]


def parse_norm(norm, name: str = "norm") -> float:
    """Attack norm as 1.0, 2.0 or inf; accepts "L1", "L2", "Linf", 1, 2, inf."""
    return check_norm(norm, name)


def check_eps(eps, name: str = "eps", *, allow_zero: bool = True):
    """Radius: a finite real >= 0 (or > 0), or a 1-D tensor/array of such radii (one per sample)."""
    if isinstance(eps, (torch.Tensor, np.ndarray)):
        arr = torch.as_tensor(eps, dtype=torch.float64)
        if arr.ndim > 1 or not bool(torch.isfinite(arr).all()) or bool((arr < 0).any()) or (
            not allow_zero and bool((arr == 0).any())
        ):
            op = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"{name} must be finite and {op} (a scalar or one per sample), got {eps}")
        return eps
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(float(eps)) or (
        float(eps) < 0 or (not allow_zero and float(eps) == 0)
    ):
        op = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {op}, got {eps}")
    return float(eps)


def check_h(h) -> float:
    """Finite-difference step: finite and > 0."""
    if isinstance(h, bool) or not isinstance(h, numbers.Real) or not (math.isfinite(float(h)) and float(h) > 0):
        raise ValueError(f"h must be finite and > 0, got {h}")
    return float(h)


def check_batch(x, y=None, *, name: str = "x"):
    """Require a batched tensor x of shape (n, ...) and, if given, labels y with n rows."""
    if not isinstance(x, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor of shape (n, ...), got {type(x).__name__}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (n, ...) with a batch axis and at least one feature axis, "
                         f"got shape {tuple(x.shape)}")
    if y is not None:
        if not isinstance(y, torch.Tensor):
            raise ValueError(f"y must be a torch.Tensor with {x.shape[0]} rows, got {type(y).__name__}")
        if y.ndim < 1 or y.shape[0] != x.shape[0]:
            raise ValueError(f"y must have n = {x.shape[0]} rows to match {name}, got shape {tuple(y.shape)}")


def default_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample softmax cross-entropy (``reduction="none"``)."""
    return F.cross_entropy(logits, y, reduction="none")


def per_sample_loss(model, x, y, loss_fn) -> torch.Tensor:
    """``loss_fn(model(x), y)`` checked to be one value per sample, shape (n,)."""
    out = (loss_fn or default_loss)(model(x), y)
    if out.ndim != 1 or out.shape[0] != x.shape[0]:
        raise ValueError(
            f"loss_fn must return per-sample losses of shape ({x.shape[0]},) (reduction='none'), "
            f"got shape {tuple(out.shape)}"
        )
    return out


def _batchnorms(model):
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


def _check_running_stats(bns) -> None:
    for m in bns:
        if m.running_mean is None or m.running_var is None:
            raise ValueError(
                f"model must not contain BatchNorm without running statistics (track_running_stats=False), "
                f"got {type(m).__name__}: it normalizes with the batch's statistics in every mode, so "
                f"per-sample input gradients are undefined")


def _affine_batchnorm(m):
    """Eval-mode BatchNorm as the per-channel affine map it is (same values up to rounding).

    torch's BatchNorm double backward (``NativeBatchNormBackwardBackward0``) carries the batch-statistics
    terms even in eval mode and cost about a quarter of a double-backprop penalty on a CIFAR-shaped CNN;
    a multiply-add has a trivial one.
    """
    def forward(z):
        scale = torch.rsqrt(m.running_var + m.eps)
        if m.affine:
            scale = scale * m.weight
        shift = -m.running_mean * scale
        if m.affine:
            shift = shift + m.bias
        view = (1, -1) + (1,) * (z.ndim - 2)
        return z * scale.to(z.dtype).reshape(view) + shift.to(z.dtype).reshape(view)

    return forward


@contextlib.contextmanager
def per_sample_mode(model):
    """Put BatchNorm layers in eval mode so that samples do not interact (see module docstring).

    Raises ``ValueError`` for a BatchNorm without running statistics (``track_running_stats=False``),
    which couples the samples in every mode.
    """
    bns = _batchnorms(model) if isinstance(model, nn.Module) else []
    _check_running_stats(bns)
    flags = [m.training for m in bns]
    own = [m.__dict__.get("forward") for m in bns]
    try:
        for m in bns:
            m.eval()
            m.forward = _affine_batchnorm(m)
        yield model
    finally:
        for m, f, fw in zip(bns, flags, own):
            m.train(f)
            if fw is None:
                m.__dict__.pop("forward", None)
            else:
                m.forward = fw


@contextlib.contextmanager
def restore_mode(model, *, eval_mode: bool = False):
    """Restore the train/eval flag of every submodule on exit; optionally switch to eval inside."""
    if not isinstance(model, nn.Module):
        yield model
        return
    flags = [(m, m.training) for m in model.modules()]
    if eval_mode:
        _check_running_stats(_batchnorms(model))
    try:
        if eval_mode:
            model.eval()
        yield model
    finally:
        for m, f in flags:
            m.train(f)


def input_gradient(model, x, y, loss_fn=None, *, create_graph: bool = False, retain_graph: bool = False):
    """Per-sample input gradients and losses: ``(g, loss)`` with g of x's shape, loss of shape (n,).

    Must be called inside :func:`per_sample_mode` when the model has BatchNorm in train mode.
    With ``create_graph=True`` the gradient stays differentiable in the model parameters
    (double backpropagation); with ``retain_graph=True`` the returned loss can still be
    backpropagated to the parameters (one forward shared by two uses).
    """
    xg = x.detach().requires_grad_(True)
    loss = per_sample_loss(model, xg, y, loss_fn)
    (g,) = torch.autograd.grad(loss.sum(), xg, create_graph=create_graph,
                               retain_graph=create_graph or retain_graph)
    return g, loss


def flat(t: torch.Tensor) -> torch.Tensor:
    """View a batch (n, ...) as (n, N)."""
    return t.reshape(t.shape[0], -1)
