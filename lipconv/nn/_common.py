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

from .._validation import check_int, check_norm, check_real

__all__ = [
    "parse_norm",
    "check_eps",
    "check_h",
    "check_seed",
    "check_clamp",
    "check_input_shape",
    "check_array",
    "check_inputs",
    "checked_outputs",
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
        real = eps.dtype.kind in "iuf" if isinstance(eps, np.ndarray) else not (eps.dtype == torch.bool or eps.is_complex())
        if not real:
            raise TypeError(f"{name} must be real (a scalar or one per sample), got dtype {eps.dtype}")
        arr = torch.as_tensor(eps).detach().to("cpu", torch.float64)
        if arr.ndim > 1 or arr.numel() == 0 or not bool(torch.isfinite(arr).all()) or bool((arr < 0).any()) or (
            not allow_zero and bool((arr == 0).any())
        ):
            op = ">= 0" if allow_zero else "> 0"
            raise ValueError(f"{name} must be finite and {op} (a scalar or a 1-D array with one per sample), got {eps}")
        return eps
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not math.isfinite(float(eps)) or (
        float(eps) < 0 or (not allow_zero and float(eps) == 0)
    ):
        op = ">= 0" if allow_zero else "> 0"
        raise ValueError(f"{name} must be finite and {op}, got {eps!r}")
    return float(eps)


def check_h(h) -> float:
    """Finite-difference step: finite and > 0."""
    if isinstance(h, bool) or not isinstance(h, numbers.Real) or not (math.isfinite(float(h)) and float(h) > 0):
        raise ValueError(f"h must be finite and > 0, got {h!r}")
    return float(h)


def check_seed(seed) -> int:
    """Seed of a torch/numpy generator: an integer >= 0."""
    return check_int(seed, "seed", minimum=0)


def check_clamp(clamp):
    """The input box: None, or a pair (low, high) of finite reals with low < high."""
    if clamp is None:
        return None
    try:
        lo, hi = clamp
        if isinstance(lo, bool) or isinstance(hi, bool):
            raise TypeError
        lo, hi = float(lo), float(hi)
    except (TypeError, ValueError):
        raise ValueError(f"clamp must be None or a pair (low, high), got {clamp!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"clamp must be None or a pair (low, high) of finite numbers with low < high, got {clamp!r}")
    return lo, hi


def check_input_shape(input_shape) -> tuple:
    """One sample's shape (no batch axis): a non-empty tuple of positive integers."""
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise TypeError(f"input_shape must be a tuple of positive integers (one sample), got {input_shape!r}") from None
    if not shape or any(isinstance(d, bool) or not isinstance(d, numbers.Integral) or d < 1 for d in shape):
        raise ValueError(f"input_shape must be a tuple of positive integers (one sample), got {input_shape!r}")
    return tuple(int(d) for d in shape)


def check_array(a, name: str, *, ndim: int = 1, allow_inf: bool = False, nonnegative: bool = False,
                min_size: int = 1) -> np.ndarray:
    """A real numpy array of ``ndim`` dimensions (a scalar allowed for ndim 0) with at least ``min_size``
    entries, free of NaN (and of inf unless ``allow_inf``), optionally >= 0 (lipconv._validation's
    ``check_real`` underneath)."""
    if isinstance(a, torch.Tensor):
        a = a.detach().cpu().numpy()
    raw = np.asarray(a)
    if raw.dtype.kind not in "iuf":  # complex, bool, object, str
        raise TypeError(f"{name} must be an array of real numbers, got dtype {raw.dtype}")
    arr = check_real(raw, name, allow_inf=allow_inf)
    if ndim == 0:
        if arr.ndim > 1:
            raise ValueError(f"{name} must be a number or a 1-D array, got shape {arr.shape}")
    elif arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}")
    if arr.size < min_size:
        raise ValueError(f"{name} must hold at least {min_size} values, got {arr.size}")
    if nonnegative and (arr < 0).any():
        raise ValueError(f"{name} must be >= 0, got entries down to {arr.min():.6g}")
    return arr


_LABELS = (None, "classes", "targets", "loss")


def check_inputs(model, x, y=None, *, labels=None, loss_fn=None, clamp=None, outputs=None, classes=None,
                 values: bool = True, x_name: str = "x", y_name: str = "y") -> int | None:
    """The input check of every public function of lipconv.nn that takes a batch.

    Checks, raising ``TypeError`` (wrong type or dtype) or ``ValueError`` (wrong shape or value) with a
    message naming the parameter and what it received:

    * ``model``: callable (skipped when None);
    * ``x``: a floating-point torch.Tensor of shape (n, ...), n >= 1, at least one entry per sample;
      with ``values``: finite, and inside the box ``clamp`` when one is given (attacks would otherwise
      clamp the clean point itself, moving it farther than eps);
    * ``y`` by ``labels``: ``"classes"``: integer class labels of shape (n,), in [0, k) for a model with
      k >= 2 outputs (when ``outputs`` are given; else >= 0); ``"targets"``: a tensor with n rows for a
      custom ``loss_fn`` (finite when floating); ``"loss"``: the targets of ``loss_fn`` (None or a
      callable), class labels for the default cross-entropy; None: no y;
    * ``outputs`` (the model's outputs on x, when the caller has them): checked as logits of shape
      (n, k), k >= 2, with class labels or ``classes=True``; then k is returned (else None).

    The value checks read the data back to the host once (one device synchronization), never inside
    a hot loop; ``values=False`` skips them (for a caller that checks again at its first forward).
    """
    if model is not None and not callable(model):
        raise TypeError(f"model must be callable (x -> outputs), got {type(model).__name__}")
    if labels not in _LABELS:
        raise ValueError(f"labels must be one of {_LABELS}, got {labels!r}")
    if labels == "loss":
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn must be None or a callable (logits, y) -> (n,), got {type(loss_fn).__name__}")
        labels = "classes" if loss_fn is None else "targets"
    _check_batch_tensor(x, x_name)
    n = x.shape[0]
    if labels == "classes":
        _check_class_labels(y, n, y_name)
    elif labels == "targets":
        if not isinstance(y, torch.Tensor):
            raise TypeError(f"{y_name} must be a torch.Tensor with {n} rows (the targets of loss_fn), "
                            f"got {type(y).__name__}")
        if y.ndim < 1 or y.shape[0] != n:
            raise ValueError(f"{y_name} must have n = {n} rows to match {x_name}, got shape {tuple(y.shape)}")
    k = None
    if outputs is not None and (labels == "classes" if classes is None else classes):
        k = _check_logits(outputs, n)
    if values:
        _check_values(x, x_name, y if labels is not None else None, y_name, labels, k, clamp)
    return k


def _check_batch_tensor(x, name):
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of shape (n, ...), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype (float16, bfloat16, float32 or float64), "
                        f"got {x.dtype}")
    if x.ndim < 2:
        raise ValueError(f"{name} must have shape (n, ...) with a batch axis and at least one feature axis, "
                         f"got shape {tuple(x.shape)}")
    if x.shape[0] == 0 or x[0].numel() == 0:
        raise ValueError(f"{name} must hold at least one sample with at least one entry, got shape {tuple(x.shape)}")


def _check_class_labels(y, n, name):
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of {n} integer class labels, got {type(y).__name__}")
    if y.dtype == torch.bool or y.is_floating_point() or y.is_complex():
        raise TypeError(f"{name} must hold integer class labels (e.g. torch.int64), got dtype {y.dtype}")
    if y.ndim != 1 or y.shape[0] != n:
        hint = " (one-hot rows? pass y.argmax(dim=1))" if y.ndim == 2 and y.shape[0] == n else ""
        raise ValueError(f"{name} must have shape ({n},) with one class label per sample, got shape "
                         f"{tuple(y.shape)}{hint}")


def _check_logits(out, n):
    if not isinstance(out, torch.Tensor) or not out.is_floating_point():
        got = out.dtype if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"model must return a floating-point tensor of logits, got {got}")
    if out.ndim != 2 or out.shape[0] != n or out.shape[1] < 2:
        raise ValueError(f"model must return logits of shape ({n}, k) with k >= 2 classes, got shape "
                         f"{tuple(out.shape)}")
    return int(out.shape[1])


def _check_values(x, x_name, y, y_name, labels, k, clamp):
    """The value checks of :func:`check_inputs`, read back in one transfer."""
    xd = x.detach()
    stats = [(~torch.isfinite(xd)).sum().to(torch.float64)]
    if clamp is not None:
        stats += [xd.amin().to(torch.float64), xd.amax().to(torch.float64)]
    if labels == "classes":
        yd = y.detach().to(torch.float64)
        stats += [yd.amin(), yd.amax()]
    elif labels == "targets" and (y.is_floating_point() or y.is_complex()) and y.numel():
        stats += [(~torch.isfinite(y.detach())).sum().to(torch.float64)]
    vals = torch.stack([s.to(stats[0].device) for s in stats]).tolist()
    bad = int(vals.pop(0))
    if bad:
        raise ValueError(f"{x_name} must be finite, got {bad} NaN or inf entries")
    if clamp is not None:
        lo, hi = vals.pop(0), vals.pop(0)
        if lo < clamp[0] or hi > clamp[1]:
            raise ValueError(f"{x_name} must lie in the box clamp = ({clamp[0]:g}, {clamp[1]:g}) that the attack keeps "
                             f"its points in, got entries in [{lo:.6g}, {hi:.6g}]: pass the inputs' own box as "
                             f"clamp, or clamp=None")
    if labels == "classes":
        lo, hi = int(vals.pop(0)), int(vals.pop(0))
        top = k if k is not None else None
        if lo < 0 or (top is not None and hi >= top):
            want = f"[0, {top})" if top is not None else ">= 0"
            of = f" for a model with k = {top} outputs" if top is not None else ""
            raise ValueError(f"{y_name} must hold class labels in {want}{of}, got labels in [{lo}, {hi}]")
    elif vals:
        bad = int(vals.pop(0))
        if bad:
            raise ValueError(f"{y_name} must be finite, got {bad} NaN or inf entries")


def checked_outputs(model, x, y=None, *, labels=None, loss_fn=None, clamp=None, classes=None, x_name: str = "x",
                    y_name: str = "y") -> torch.Tensor:
    """:func:`check_inputs` on the model's outputs at x (one forward in eval mode, without a graph; every
    module's flag restored); returns those outputs."""
    kw = dict(labels=labels, loss_fn=loss_fn, clamp=clamp, classes=classes, x_name=x_name, y_name=y_name)
    check_inputs(model, x, y, values=False, **kw)
    with restore_mode(model, eval_mode=True), torch.no_grad():
        out = model(x.detach())
    check_inputs(model, x, y, outputs=out, **kw)
    return out


def default_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-sample softmax cross-entropy (``reduction="none"``)."""
    return F.cross_entropy(logits, y, reduction="none")


def per_sample_loss(model, x, y, loss_fn, *, check: bool = False) -> torch.Tensor:
    """``loss_fn(model(x), y)`` checked to be one value per sample, shape (n,).

    Outputs in float16 or bfloat16 are cast to float32 before the loss is taken (the usual
    mixed-precision rule): in bfloat16 a confident sample's cross-entropy is a multiple of about
    0.04, so a finite difference of two such losses was exactly 0 in 20-25 of 32 digits samples
    (issue 28, item 4); the model itself still runs in its own dtype. With ``check`` the inputs are
    checked (:func:`check_inputs`) on this forward's outputs before the loss is taken: the one host
    read of the call, folded into a forward it makes anyway.
    """
    out = model(x)
    if check:
        check_inputs(model, x, y, labels="loss", loss_fn=loss_fn, outputs=out if loss_fn is None else None)
    if isinstance(out, torch.Tensor) and out.dtype in (torch.float16, torch.bfloat16):
        out = out.float()
    out = (loss_fn or default_loss)(out, y)
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
    if not callable(model):
        raise TypeError(f"model must be callable (x -> outputs), got {type(model).__name__}")
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
