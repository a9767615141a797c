r"""Input-gradient and Jacobian regularizers of the four seeds, as composable PyTorch functions.

Every function takes the model and a batch, runs on the batch's device and dtype, and returns a
:class:`PenaltyResult`: the scalar penalty (differentiable in the model parameters), the per-sample
terms whose batch mean (or max) it is, and the per-sample norm estimates behind them. Input gradients
are per-sample because BatchNorm layers are switched to their running statistics while they are
computed (see ``lipconv.nn._common``); every other module keeps its mode, and all flags are restored.
"""
from __future__ import annotations

import functools
import math
import numbers
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch
import torch.nn as nn

from ..norms import dual_norm, steepest_direction
from ..norms._iteration import _iterate
from .._validation import check_int
from ._common import (
    _batchnorms,
    check_eps,
    check_h,
    check_input_shape,
    check_inputs,
    check_seed,
    flat,
    parse_norm,
    per_sample_loss,
    per_sample_mode,
    restore_mode,
)

__all__ = [
    "PenaltyResult",
    "tv_penalty",
    "lipschitz_penalty",
    "fd_gradient_penalty",
    "double_backprop_penalty",
    "JacobianNormResult",
    "jacobian_operator_norm",
    "jacobian_spectral_penalty",
    "jacobian_operator_penalty",
    "global_spectral_penalty",
    "RegularizedLoss",
    "RegularizedLossResult",
]


@dataclass(frozen=True)
class PenaltyResult:
    """A regularizer's value and what it is made of.

    Attributes
    ----------
    value : torch.Tensor, shape ()
        The penalty, differentiable in the model parameters.
    per_sample : torch.Tensor, shape (n,) or None
        Per-sample terms (``value`` is their mean, or max for the Lipschitz penalty).
    norms : torch.Tensor, shape (n,) or (layers,)
        The norm estimates behind the terms (gradient dual norms, Jacobian operator norms, or
        per-layer spectral norms), detached.
    info : dict
        Settings used (norm, method, h, iters, ...), for the record.
    """

    value: torch.Tensor
    per_sample: torch.Tensor | None
    norms: torch.Tensor
    info: dict = field(default_factory=dict)


def _check_method(method: str) -> str:
    if method not in ("exact", "fd"):
        raise ValueError(f"method must be 'exact' or 'fd', got {method!r}")
    return method


def _fd_scale(p: float, x: torch.Tensor) -> float:
    """Euclidean length of the unit steepest direction: 1 for l2 and l1 attacks, sqrt(N) for linf."""
    return math.sqrt(flat(x).shape[1]) if math.isinf(p) else 1.0


class _Forward:
    """The per-sample loss at x recorded with x requiring grad, and its input gradients (computed once).

    :class:`RegularizedLoss` builds one and hands it to every gradient penalty, so that the data loss
    and the penalties share a single forward pass ([FO] Algorithm 1: L(w) and the clean term of
    R(w) are the same forward); each penalty called alone builds its own.
    """

    def __init__(self, model, x, y, loss_fn):
        self.model, self.y, self.loss_fn = model, y, loss_fn
        self.x = x.detach().requires_grad_(True)
        self.loss = per_sample_loss(model, self.x, y, loss_fn, check=True)
        self._grads = {}

    def grad(self, *, create_graph: bool) -> torch.Tensor:
        """Per-sample input gradients; with ``create_graph`` differentiable in the parameters."""
        if create_graph not in self._grads:
            if not create_graph and True in self._grads:
                return self._grads[True].detach()
            (g,) = torch.autograd.grad(self.loss.sum(), self.x, create_graph=create_graph, retain_graph=True)
            self._grads[create_graph] = g
        return self._grads[create_graph]


# Finite differences in float16 / bfloat16. The losses are taken in float32 (``per_sample_loss``), but
# the logits are rounded to the dtype, and the squared penalty turns their noise into an upward bias
# (E (a + e)^2 = a^2 + var e). In bfloat16 (eps 2^-7) the forward difference of [FO] Algorithm 1 at
# h = 0.01 also lost a third of its input steps to rounding (x + h d == x): 20-25 of 32 per-sample
# terms were exactly 0, and at h = 0.02 the penalty was 0.98-1.15 of the exact one on digits batches
# of 128. A central difference at h >= 6.4 eps (0.05 in bfloat16), whose truncation error is second
# order, was within 0.954-1.026 on the same 15 batches (issue 28, item 4). Wider dtypes keep [FO]'s
# forward difference and the given h.
_FD_LOW_PRECISION = (torch.float16, torch.bfloat16)
_FD_MIN_STEP_EPS = 6.4


def _fd_step(h: float, dtype) -> float:
    """The finite-difference step used in ``dtype``: h, raised to 6.4 machine epsilons in low precision."""
    return max(h, _FD_MIN_STEP_EPS * torch.finfo(dtype).eps) if dtype in _FD_LOW_PRECISION else h


def _fd_quotient(fwd: "_Forward", d: torch.Tensor, h: float) -> torch.Tensor:
    r"""Per-sample :math:`(\ell(x + h d) - \ell(x)) / h` on the shared forward's loss, or in low precision
    the central :math:`(\ell(x + h d) - \ell(x - h d)) / 2h` (both points in one forward pass)."""
    x = fwd.x.detach()
    if x.dtype not in _FD_LOW_PRECISION:
        return (per_sample_loss(fwd.model, x + h * d, fwd.y, fwd.loss_fn) - fwd.loss) / h
    n = x.shape[0]
    y2 = torch.cat([fwd.y, fwd.y]) if isinstance(fwd.y, torch.Tensor) else fwd.y
    both = per_sample_loss(fwd.model, torch.cat([x + h * d, x - h * d]), y2, fwd.loss_fn)
    return (both[:n] - both[n:]) / (2 * h)


def _gradient_dual_norms(fwd: _Forward, *, p, method, h):
    """Per-sample ||grad_x loss||_* (differentiable in the parameters)."""
    if method == "exact":
        return dual_norm(flat(fwd.grad(create_graph=True)), p)
    # The clean-loss graph is kept and reused, so the finite difference costs one extra forward.
    d = steepest_direction(flat(fwd.grad(create_graph=False)), p).reshape(fwd.x.shape).detach()
    return _fd_quotient(fwd, d, _fd_step(h, fwd.x.dtype))


def _with_forward(model, x, y, loss_fn, fwd, compute):
    """``compute(fwd)`` in per-sample mode, on the given shared forward or on a new one."""
    with per_sample_mode(model):
        return compute(fwd if fwd is not None else _Forward(model, x, y, loss_fn))


def tv_penalty(model, x, y, *, norm="L2", method: str = "exact", h: float = 1e-3,
               loss_fn: Callable | None = None) -> PenaltyResult:
    r"""Total-variation penalty :math:`\frac1n\sum_i \|\nabla_x \ell(x_i)\|_*` ([FCAO] eq. (2.9)).

    The dual norm :math:`\|\cdot\|_*` is that of the attack norm ``norm`` (l1 for linf attacks, l2 for
    l2 attacks). ``method="exact"`` differentiates the gradient norm by double backpropagation;
    ``method="fd"`` uses the finite difference of [FCAO] eq. (2.8),

    .. math:: \|\nabla_x \ell(x)\|_* \approx \frac{\ell(x + h d) - \ell(x)}{h},

    with :math:`d` the steepest-ascent unit vector of the attack norm ([FCAO] eqs. (3.2), (3.4)),
    detached from the graph. This is also the one-step adversarial-training term ([FOA] Lemma 3.1).

    Parameters
    ----------
    model : torch.nn.Module or callable, x -> logits (n, k)
    x : torch.Tensor, shape (n, ...)
        Inputs in [0, 1] (normalization belongs inside the model).
    y : torch.Tensor, shape (n,) or (n, ...)
        Targets passed to ``loss_fn``.
    norm : {"L2", "Linf", "L1"} or {2, inf, 1}
        Attack norm.
    method : {"exact", "fd"}
    h : float
        Finite-difference step (``method="fd"``), > 0.
    loss_fn : callable (logits, y) -> (n,), optional
        Per-sample loss; default softmax cross-entropy.
    """
    return _gradient_norm_penalty(model, x, y, None, norm=norm, method=method, h=h, loss_fn=loss_fn, reduce="mean")


def lipschitz_penalty(model, x, y, *, norm="L2", method: str = "exact", h: float = 1e-3,
                      loss_fn: Callable | None = None) -> PenaltyResult:
    r"""Lipschitz (WCAT) penalty :math:`\max_i \|\nabla_x \ell(x_i)\|_*` over the batch.

    Seed 000, eq. (2.6) (the Lipschitz term, estimated on the batch as in [FOA] eq. (5)) and the
    WCAT term of [FOA] eq. (1). Arguments as in :func:`tv_penalty`; ``per_sample`` holds every
    sample's gradient norm and ``value`` their maximum.
    """
    return _gradient_norm_penalty(model, x, y, None, norm=norm, method=method, h=h, loss_fn=loss_fn, reduce="max")


def _gradient_norm_penalty(model, x, y, fwd, *, norm="L2", method="exact", h=1e-3, loss_fn=None,
                           reduce: str) -> PenaltyResult:
    """Per-sample dual norms of the input gradient, reduced by their mean (TV) or max (Lipschitz)."""
    p = parse_norm(norm)
    _check_method(method)
    h = check_h(h)
    if fwd is None:
        check_inputs(model, x, y, labels="loss", loss_fn=loss_fn, values=False)
    norms = _with_forward(model, x, y, loss_fn, fwd, lambda f: _gradient_dual_norms(f, p=p, method=method, h=h))
    value = norms.mean() if reduce == "mean" else norms.max()
    info = {"norm": p, "method": method, "h": _fd_step(h, x.dtype) if method == "fd" else h}
    return PenaltyResult(value, norms, norms.detach(), info)


def fd_gradient_penalty(model, x, y, *, norm="L2", h: float = 1e-2,
                        loss_fn: Callable | None = None) -> PenaltyResult:
    r"""Finite-difference squared gradient penalty ([FO] Algorithm 1 and Proposition 3.2).

    .. math::

        R = \frac1n \sum_i \frac{\big(\ell(x_i + h d_i) - \ell(x_i)\big)^2}{h^2},
        \qquad d_i = \frac{s_i}{c}, \quad s_i = \arg\max_{\|s\|\le 1} s\cdot g_i,\ g_i = \nabla_x\ell(x_i),

    with :math:`d_i` detached (two ordinary backward passes, no double backpropagation). For
    ``norm="L2"``, :math:`d = g/\|g\|_2` and :math:`R \to \|g\|_2^2` as h -> 0; for ``norm="Linf"``,
    :math:`d = \operatorname{sign}(g)/\sqrt N` (N input entries) and :math:`R \to \|g\|_1^2 / N`, the
    seed's squared-l1 variant with its 1/N scale kept; for ``norm="L1"`` d is the one-hot steepest
    direction and :math:`R \to \|g\|_\infty^2`. Zero gradients give d = 0 and a zero term.
    :func:`double_backprop_penalty` is the exact counterpart with the same scaling.

    In float16 and bfloat16 the losses are taken in float32, the difference is the central one,
    :math:`(\ell(x + hd) - \ell(x - hd))/2h` (one more forward pass), and in bfloat16 h is raised to
    at least 0.05 (6.4 machine epsilons; ``info["h"]`` is the step used). [FO]'s forward difference
    at h = 0.01 in bfloat16 had 20-25 of 32 per-sample terms exactly 0 on digits networks (the step
    rounded away); the central one was within 0.954-1.026 of the exact penalty on 15 digits batches
    of 128 (issue 28, item 4).
    """
    return _fd_penalty(model, x, y, None, norm=norm, h=h, loss_fn=loss_fn)


def _fd_penalty(model, x, y, fwd, *, norm="L2", h=1e-2, loss_fn=None) -> PenaltyResult:
    p = parse_norm(norm)
    h = check_h(h)
    if fwd is None:
        check_inputs(model, x, y, labels="loss", loss_fn=loss_fn, values=False)
    c = _fd_scale(p, x)
    h = _fd_step(h, x.dtype)

    def compute(f):
        d = (steepest_direction(flat(f.grad(create_graph=False)), p) / c).reshape(x.shape).detach()
        return _fd_quotient(f, d, h) ** 2

    terms = _with_forward(model, x, y, loss_fn, fwd, compute)
    info = {"norm": p, "h": h, "scale": c, "difference": "central" if x.dtype in _FD_LOW_PRECISION else "forward"}
    return PenaltyResult(terms.mean(), terms, terms.detach().sqrt(), info)


def double_backprop_penalty(model, x, y, *, norm="L2", loss_fn: Callable | None = None) -> PenaltyResult:
    r"""Exact squared gradient penalty :math:`\frac1n\sum_i \|\nabla_x\ell(x_i)\|_*^2 / c^2` by double backprop.

    The exact counterpart of :func:`fd_gradient_penalty` ([FO] eq. (8) and Proposition 3.2), with
    the same scale c (1 for L2 and L1 attacks, sqrt(N) for Linf), so that the finite difference
    converges to this value as h -> 0.
    """
    return _dbp_penalty(model, x, y, None, norm=norm, loss_fn=loss_fn)


def _dbp_penalty(model, x, y, fwd, *, norm="L2", loss_fn=None) -> PenaltyResult:
    p = parse_norm(norm)
    if fwd is None:
        check_inputs(model, x, y, labels="loss", loss_fn=loss_fn, values=False)
    c = _fd_scale(p, x)
    norms = _with_forward(model, x, y, loss_fn, fwd, lambda f: dual_norm(flat(f.grad(create_graph=True)), p) / c)
    terms = norms ** 2
    return PenaltyResult(terms.mean(), terms, norms.detach(), {"norm": p, "scale": c})


@dataclass(frozen=True)
class JacobianNormResult:
    """Data-dependent Jacobian operator norms from the power method ([RKH] eqs. (6), (11), (12)).

    Attributes
    ----------
    norms : torch.Tensor, shape (n,)
        :math:`\\|J_f(x_i) v_i\\|_q`, the (p, q) operator-norm estimate per sample (detached).
    u : torch.Tensor, shape (n, k)
        Output-space vectors (dual-normalized :math:`J v`).
    v : torch.Tensor, shape (n, ...)
        Input-space maximizers, :math:`\\|v_i\\|_p = 1`.
    iters : int
    p, q : float
    """

    norms: torch.Tensor
    u: torch.Tensor
    v: torch.Tensor
    iters: int
    p: float
    q: float


def jacobian_operator_norm(model, x, *, p="L2", q="L2", iters: int = 20, alpha: float | None = None,
                           v0: torch.Tensor | None = None, seed: int = 0) -> JacobianNormResult:
    r"""Data-dependent (p, q) operator norm :math:`\max_{\|v\|_p=1}\|J_f(x)v\|_q` per sample ([RKH] eq. (8)).

    Power-method limit (``alpha=None``, [RKH] eq. (12); eq. (6) for p = q = 2):

    .. math::

        u_k = \frac{\operatorname{sign}(\tilde u_k)|\tilde u_k|^{q-1}}{\|\tilde u_k\|_q^{q-1}},\
        \tilde u_k = J v_{k-1}; \qquad
        v_k = \frac{\operatorname{sign}(\tilde v_k)|\tilde v_k|^{p^*-1}}{\|\tilde v_k\|_{p^*}^{p^*-1}},\
        \tilde v_k = J^\top u_k.

    With a finite ``alpha`` the v-update is the projected gradient step of eq. (11),
    :math:`v_k = \Pi_{\|\cdot\|_p = 1}(v_{k-1} + \alpha\tilde v_k)`. The loop is that of
    ``lipconv.norms.operator_norm_iteration``; here the operator is the batch of Jacobians at one
    linearization point per sample, applied by exact linear products on one recorded forward pass:
    :math:`J^\top u` is a backward pass, and :math:`J v` the backward pass of that backward pass
    (the "double vjp": :math:`J^\top u` is linear in u, and its transpose is J), which costs about as
    much as a backward and, unlike ``torch.func.jvp``, does not redo the forward at every product.
    Sample i only sees its own Jacobian because BatchNorm runs on running statistics. For
    p = q = 2 this is the spectral norm; otherwise a lower bound (a local maximum; see
    ``operator_norm_iteration`` for how far below the closed forms it was measured).

    Runs on x's device and dtype (bfloat16 and float16 included) without reading anything back to
    the host; the random start is drawn on x's device.

    Parameters
    ----------
    model : callable, x -> outputs (n, k)
    x : torch.Tensor, shape (n, ...)
    p, q : norm names or numbers in {1, 2, inf}
        Domain and co-domain norms.
    iters : int >= 1
        Forward-backward passes.
    alpha : float > 0 or None
    v0 : torch.Tensor, shape like x, optional
        Start vectors (any scale, scaled onto the unit p-sphere); default Gaussian from ``seed``.
    seed : int
    """
    res = _jacobian_iteration(model, x, p=p, q=q, iters=iters, alpha=alpha, v0=v0, seed=seed)
    return JacobianNormResult(res.norms.detach(), res.u, res.v, res.iters, res.p, res.q)


def _jacobian_iteration(model, x, *, p, q, iters, alpha, v0, seed) -> JacobianNormResult:
    r""":func:`jacobian_operator_norm` with ``norms`` left differentiable in the model parameters.

    The value is :math:`v\cdot J^\top u = u\cdot Jv = \|Jv\|_q` (u the dual direction of Jv, so the
    identity is Euler's for the q-norm) with :math:`J^\top u` taken with ``create_graph``; its
    parameter gradient is :math:`u^\top (\partial J) v`, the gradient of :math:`\|J v\|_q` at fixed v,
    which is what the penalties need.
    """
    pp = parse_norm(p, "p")
    qq = parse_norm(q, "q")
    iters = check_int(iters, "iters")
    seed = check_seed(seed)
    check_inputs(model, x)
    if alpha is not None:
        alpha = check_eps(alpha, "alpha", allow_zero=False)
        if not isinstance(alpha, float):
            raise ValueError(f"alpha must be a finite number > 0 or None, got {alpha!r}")
    if v0 is None:
        gen = torch.Generator(device=x.device).manual_seed(seed)
        v0 = torch.randn(x.shape, generator=gen, device=x.device, dtype=x.dtype)
    elif not isinstance(v0, torch.Tensor) or v0.shape != x.shape:
        raise ValueError(f"v0 must be a tensor of x's shape {tuple(x.shape)}, got "
                         f"{tuple(v0.shape) if isinstance(v0, torch.Tensor) else type(v0).__name__}")
    else:
        check_inputs(None, v0, x_name="v0")
    with per_sample_mode(model), torch.enable_grad():
        xg = x.detach().requires_grad_(True)
        out = model(xg)
        u0 = torch.zeros_like(out, requires_grad=True)
        (jt_u0,) = torch.autograd.grad(out, xg, u0, create_graph=True)

        def matvec(v):
            return flat(torch.autograd.grad(jt_u0, u0, v.reshape(x.shape), retain_graph=True)[0])

        def rmatvec(u):
            return flat(torch.autograd.grad(out, xg, u.reshape(out.shape), retain_graph=True)[0])

        v, u, done = _iterate(matvec, rmatvec, pp, qq, flat(v0.detach().to(x)),
                              alpha=math.inf if alpha is None else alpha, iters=iters, tol=0.0)
        (jt_u,) = torch.autograd.grad(out, xg, u.reshape(out.shape), create_graph=True)
    norms = (flat(jt_u) * v).sum(dim=1)
    return JacobianNormResult(norms, u.reshape(out.shape), v.reshape(x.shape), done, pp, qq)


def jacobian_spectral_penalty(model, x, *, iters: int = 10, form: str = "sigma", eps: float = 1e-2,
                              v0: torch.Tensor | None = None, seed: int = 0) -> PenaltyResult:
    r"""Data-dependent spectral norm penalty :math:`\frac1n\sum_i \tfrac12\sigma(J_f(x_i))^2` ([RKH] eq. (7)).

    :math:`u_i, v_i` come from the power method (eq. (6), :func:`jacobian_operator_norm`) and are held
    fixed; ``form="sigma"`` differentiates :math:`\sigma_i = \|J_f(x_i) v_i\|_2` (exactly, as
    :math:`v_i\cdot J_f(x_i)^\top u_i` by double backpropagation), whose
    parameter gradient is that of :math:`u_i^\top J_f(x_i) v_i`.
    ``form="sum_of_squares"`` uses the seed's sum-of-squares variant
    :math:`\|f(x_i + \epsilon v_i) - f(x_i)\|_2^2 / (2\epsilon^2)`, normalized by :math:`\epsilon^2`
    (the seed's :math:`\tilde\lambda = \lambda\epsilon^2`) so that both forms estimate
    :math:`\sigma_i^2/2`, exactly so while :math:`x_i + \epsilon v_i` stays in the linear region of x_i.
    """
    if form not in ("sigma", "sum_of_squares"):
        raise ValueError(f"form must be 'sigma' or 'sum_of_squares', got {form!r}")
    eps = check_eps(eps, allow_zero=False)
    if form == "sigma":
        res = _jacobian_iteration(model, x, p=2, q=2, iters=iters, alpha=None, v0=v0, seed=seed)
        terms = 0.5 * res.norms ** 2
    else:
        res = jacobian_operator_norm(model, x, p=2, q=2, iters=iters, v0=v0, seed=seed)
        xd = x.detach()
        with per_sample_mode(model):
            out = model(torch.cat([xd, xd + eps * res.v]))
        diff = flat(out[x.shape[0]:] - out[: x.shape[0]])
        terms = 0.5 * (diff ** 2).sum(dim=1) / eps ** 2
    return PenaltyResult(terms.mean(), terms, res.norms.detach(),
                         {"form": form, "iters": res.iters, "eps": eps, "seed": seed})


def jacobian_operator_penalty(model, x, *, p="L2", q="L2", iters: int = 10, alpha: float | None = None,
                              v0: torch.Tensor | None = None, seed: int = 0) -> PenaltyResult:
    r"""Data-dependent (p, q) operator-norm penalty :math:`\frac1n\sum_i \|J_f(x_i)\|_{p,q}` ([RKH] eq. (13)).

    The maximizer :math:`v_i` comes from eq. (12) (``alpha=None``) or eq. (11) (finite ``alpha``) and
    is held fixed; the penalty differentiates :math:`\|J_f(x_i) v_i\|_q` exactly (as
    :math:`v_i\cdot J_f(x_i)^\top u_i`, u the dual direction of :math:`J v`).
    """
    res = _jacobian_iteration(model, x, p=p, q=q, iters=iters, alpha=alpha, v0=v0, seed=seed)
    terms = res.norms
    return PenaltyResult(terms.mean(), terms, terms.detach(),
                         {"p": res.p, "q": res.q, "iters": res.iters, "alpha": alpha, "seed": seed})


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_WEIGHTED = (nn.Linear,) + _CONVS
_CONV_MODES = ("operator", "reshaped")


def _conv_input_shapes(model: nn.Module, input_shape) -> dict:
    """Name -> input shape (1, C, ...) of every convolution, from one forward pass on zeros."""
    shape = check_input_shape(input_shape)
    shapes, hooks = {}, []
    for name, mod in model.named_modules():
        if isinstance(mod, _CONVS):
            hooks.append(mod.register_forward_pre_hook(
                lambda m, args, name=name: shapes.__setitem__(name, (1,) + tuple(args[0].shape[1:]))))
    ref = next(model.parameters())
    try:
        with restore_mode(model, eval_mode=True), torch.no_grad():
            model(torch.zeros((1,) + shape, dtype=ref.dtype, device=ref.device))
    finally:
        for h in hooks:
            h.remove()
    return shapes


def global_spectral_penalty(model: nn.Module, *, state: dict | None = None, iters: int = 1, seed: int = 0,
                            input_shape=None, conv: str = "operator") -> PenaltyResult:
    r"""Global spectral norm penalty :math:`\tfrac12\sum_\ell \sigma(W^\ell)^2` (Yoshida-Miyato; [RKH] eq. (5)).

    :math:`\sigma(W^\ell) = u^\top W^\ell v` with u, v from ``iters`` power iterations ([RKH],
    eq. (4)) started from the vectors kept in ``state``, so one iteration per training step suffices
    (the amortization of Yoshida and Miyato). The gradient of each term is :math:`\sigma u v^\top`.

    Convolutions (``conv="operator"``, the default) are the linear operators they are on their
    input: u and v are feature maps, :math:`W v` is the convolution without bias (its own padding
    mode, stride, dilation and groups; circular padding included) and :math:`W^\top u` its
    transpose, taken as the backward pass of that convolution, so :math:`\sigma` is the largest
    singular value of the convolution on inputs of the layer's shape, found from ``input_shape``
    by one forward pass. ``conv="reshaped"`` reads the kernel as the matrix (out_channels,
    in_channels * kernel size), as Yoshida and Miyato do: cheaper, but that matrix's norm is not
    the convolution's (on the digits CNN of issue 16 the operators' norms were 2.2x and 1.3x
    larger), so it neither bounds nor estimates the layer's Lipschitz constant.

    Parameters
    ----------
    model : torch.nn.Module
        Its Linear and Conv layers are penalized.
    state : dict, optional
        Layer name -> (u, v); updated in place. Pass the same dict at every training step.
    iters : int >= 1
    seed : int
        Seed of the start vectors of layers not yet in ``state`` (drawn on the weights' device).
    input_shape : tuple, optional
        Shape of one model input (without the batch axis); needed with ``conv="operator"`` when
        the model has convolutions not yet in ``state``.
    conv : {"operator", "reshaped"}
    """
    iters = check_int(iters, "iters")
    seed = check_seed(seed)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if conv not in _CONV_MODES:
        raise ValueError(f"conv must be one of {_CONV_MODES}, got {conv!r}")
    if state is not None and not isinstance(state, dict):
        raise TypeError(f"state must be None or a dict (layer name -> (u, v)), got {type(state).__name__}")
    if input_shape is not None:
        check_input_shape(input_shape)
    state = {} if state is None else state
    gens = {}
    shapes = None
    sigmas, names = [], []
    for name, mod in model.named_modules():
        if not isinstance(mod, _WEIGHTED):
            continue
        w = mod.weight
        if isinstance(mod, _CONVS) and conv == "operator":
            def apply(v, weight, mod=mod):
                return mod._conv_forward(v, weight, None)

            if name in state and state[name][1].ndim == mod.weight.ndim:
                v_shape = tuple(state[name][1].shape)
            else:
                if shapes is None:
                    if input_shape is None:
                        raise ValueError("input_shape must be given with conv='operator' for a model with "
                                         "convolutions (the operator norm depends on the input size), got None")
                    shapes = _conv_input_shapes(model, input_shape)
                v_shape = shapes[name]
        else:
            w = w.reshape(w.shape[0], -1)

            def apply(v, weight):
                return v @ weight.reshape(weight.shape[0], -1).T

            v_shape = (1, w.shape[1])
        if name not in state or tuple(state[name][1].shape) != v_shape:
            if w.device not in gens:
                gens[w.device] = torch.Generator(device=w.device).manual_seed(seed)
            v = torch.randn(v_shape, generator=gens[w.device], device=w.device, dtype=w.dtype)
            state[name] = (None, v / torch.linalg.vector_norm(v))
        v = state[name][1].to(w)
        wd = mod.weight.detach()
        with torch.no_grad():
            for _ in range(iters):
                u = apply(v, wd)
                u = u / torch.linalg.vector_norm(u).clamp_min(torch.finfo(u.dtype).tiny)
                with torch.enable_grad():
                    vg = v.detach().requires_grad_(True)
                    (v,) = torch.autograd.grad(apply(vg, wd), vg, u)
                v = v / torch.linalg.vector_norm(v).clamp_min(torch.finfo(v.dtype).tiny)
            u = apply(v, wd)
            u = u / torch.linalg.vector_norm(u).clamp_min(torch.finfo(u.dtype).tiny)
        state[name] = (u, v)
        sigmas.append((u * apply(v, mod.weight)).sum())
        names.append(name)
    if not sigmas:
        raise ValueError("model must contain at least one Linear or Conv layer, got none")
    sig = torch.stack(sigmas)
    return PenaltyResult(0.5 * (sig ** 2).sum(), None, sig.detach(),
                         {"layers": names, "iters": iters, "state": state, "seed": seed, "conv": conv})


@dataclass(frozen=True)
class RegularizedLossResult:
    """Output of :class:`RegularizedLoss`.

    Attributes
    ----------
    total : torch.Tensor, shape ()
        ``loss + sum_k weight_k * penalty_k``; call ``total.backward()``.
    loss : torch.Tensor, shape ()
        Mean data loss.
    terms : dict[str, float]
        Unweighted value of each penalty.
    weights : dict[str, float]
    shared : tuple of str
        The terms computed on the data loss's own forward pass (see :class:`RegularizedLoss`).
    """

    total: torch.Tensor
    loss: torch.Tensor
    terms: dict
    weights: dict
    shared: tuple = ()


class RegularizedLoss:
    r"""Data loss plus weighted regularizers, :math:`\frac1n\sum_i\ell(x_i) + \sum_k \lambda_k R_k`.

    This is [FCAO] eq. (2.6) with ``{"tv": (eps, tv_penalty), "lip": (lam, lipschitz_penalty)}``,
    [FOA] eq. (1) (AT + WCAT) with the one-step terms, [FO] eq. (8) with
    :func:`fd_gradient_penalty`, or [RKH] eqs. (5)/(7) with the spectral penalties.

    **One forward pass, as in [FO] Algorithm 1.** The gradient penalties (:func:`tv_penalty`,
    :func:`lipschitz_penalty`, :func:`fd_gradient_penalty`, :func:`double_backprop_penalty`, given
    as the functions themselves or as ``functools.partial`` of them with keyword options and the
    same ``loss_fn``) are computed on the data loss's own forward pass, with its input gradient
    computed once for all of them, whenever the model allows it: no BatchNorm layer in train mode
    (the data loss then normalizes with batch statistics and the penalties with running ones, two
    different functions). The FD penalty then costs one forward, one input-gradient backward and
    one forward at the shifted points beyond plain training. Other penalties (lambdas, the Jacobian
    penalties) run on their own passes.

    Parameters
    ----------
    terms : mapping name -> (weight, penalty)
        ``penalty(model, x, y)`` returns a :class:`PenaltyResult` or a scalar tensor; bind options
        with ``functools.partial`` (e.g. ``partial(tv_penalty, norm="Linf")``) or a lambda (the
        spectral penalties take no labels: ``lambda m, x, y: jacobian_spectral_penalty(m, x)``).
    loss_fn : callable (logits, y) -> (n,), optional
        Per-sample data loss; default softmax cross-entropy.
    share_forward : bool
        Reuse the data loss's forward pass where possible (default True; False computes every
        penalty on its own passes, the behaviour of calling them one by one).

    A class because it holds state: the weights and whatever state the bound penalties keep (e.g.
    the power-iteration vectors of :func:`global_spectral_penalty`).
    """

    def __init__(self, terms: Mapping[str, tuple] | None = None, *, loss_fn: Callable | None = None,
                 share_forward: bool = True):
        if terms is not None and not isinstance(terms, Mapping):
            raise TypeError(f"terms must be a mapping name -> (weight, penalty), got {type(terms).__name__}")
        if loss_fn is not None and not callable(loss_fn):
            raise TypeError(f"loss_fn must be None or a callable (logits, y) -> (n,), got {type(loss_fn).__name__}")
        if not isinstance(share_forward, bool):
            raise TypeError(f"share_forward must be True or False, got {share_forward!r}")
        terms = dict(terms or {})
        for name, spec in terms.items():
            if not (isinstance(spec, tuple) and len(spec) == 2 and callable(spec[1])):
                raise ValueError(f"terms[{name!r}] must be a (weight, penalty) pair, got {spec!r}")
            w = spec[0]
            if isinstance(w, bool) or not isinstance(w, numbers.Real) or not (math.isfinite(w) and w >= 0):
                raise ValueError(f"terms[{name!r}] weight must be finite and >= 0, got {w!r}")
        self.terms = terms
        self.loss_fn = loss_fn
        self.share_forward = bool(share_forward)

    def _shareable(self, pen):
        """(implementation, keyword options) for a gradient penalty that can use the shared forward."""
        func, kw = pen, {}
        if isinstance(pen, functools.partial):
            if pen.args:
                return None
            func, kw = pen.func, dict(pen.keywords)
        impl = _SHARED.get(func)
        if impl is None or kw.get("loss_fn") is not self.loss_fn:
            return None
        kw.pop("loss_fn", None)
        return impl, kw

    def __call__(self, model, x, y) -> RegularizedLossResult:
        check_inputs(model, x, y, labels="loss", loss_fn=self.loss_fn, values=False)
        plans = {name: self._shareable(pen) for name, (_, pen) in self.terms.items()}
        share = self.share_forward and any(plans.values()) and not any(
            m.training for m in _batchnorms(model))
        fwd = None
        if share:
            with per_sample_mode(model):
                fwd = _Forward(model, x, y, self.loss_fn)
            per = fwd.loss
        else:
            per = per_sample_loss(model, x, y, self.loss_fn, check=True)
        loss = per.mean()
        total = loss
        values, weights, shared = {}, {}, []
        for name, (w, pen) in self.terms.items():
            if share and plans[name] is not None:
                impl, kw = plans[name]
                r = impl(model, x, y, fwd, loss_fn=self.loss_fn, **kw)
                shared.append(name)
            else:
                r = pen(model, x, y)
            val = r.value if isinstance(r, PenaltyResult) else r
            total = total + float(w) * val
            values[name] = float(val.detach())
            weights[name] = float(w)
        return RegularizedLossResult(total, loss, values, weights, tuple(shared))


_SHARED = {
    tv_penalty: functools.partial(_gradient_norm_penalty, reduce="mean"),
    lipschitz_penalty: functools.partial(_gradient_norm_penalty, reduce="max"),
    fd_gradient_penalty: _fd_penalty,
    double_backprop_penalty: _dbp_penalty,
}
