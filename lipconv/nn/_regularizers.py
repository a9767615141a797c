r"""Input-gradient and Jacobian regularizers of the four seeds, as composable PyTorch functions.

Every function takes the model and a batch, runs on the batch's device and dtype, and returns a
:class:`PenaltyResult`: the scalar penalty (differentiable in the model parameters), the per-sample
terms whose batch mean (or max) it is, and the per-sample norm estimates behind them. Input gradients
are per-sample because BatchNorm layers are switched to their running statistics while they are
computed (see ``lipconv.nn._common``); every other module keeps its mode, and all flags are restored.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping

import torch
import torch.nn as nn
from torch.func import jvp, vjp

from ..norms import dual_norm, operator_norm_iteration, steepest_direction
from .._validation import check_int
from ._common import (
    check_batch,
    check_eps,
    check_h,
    flat,
    input_gradient,
    parse_norm,
    per_sample_loss,
    per_sample_mode,
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


def _gradient_dual_norms(model, x, y, *, p, method, h, loss_fn):
    """Per-sample ||grad_x loss||_* (differentiable in the parameters) and the per-sample loss."""
    if method == "exact":
        g, loss = input_gradient(model, x, y, loss_fn, create_graph=True)
        return dual_norm(flat(g), p), loss
    # The clean-loss graph is kept and reused, so the finite difference costs one extra forward.
    g, loss = input_gradient(model, x, y, loss_fn, retain_graph=True)
    d = steepest_direction(flat(g), p).reshape(x.shape).detach()
    loss_h = per_sample_loss(model, x.detach() + h * d, y, loss_fn)
    return (loss_h - loss) / h, loss


def tv_penalty(model, x, y, *, norm="L2", method: str = "exact", h: float = 1e-3,
               loss_fn: Callable | None = None) -> PenaltyResult:
    r"""Total-variation penalty :math:`\frac1n\sum_i \|\nabla_x \ell(x_i)\|_*` (seed 000, eq. (2.9)).

    The dual norm :math:`\|\cdot\|_*` is that of the attack norm ``norm`` (l1 for linf attacks, l2 for
    l2 attacks). ``method="exact"`` differentiates the gradient norm by double backpropagation;
    ``method="fd"`` uses the finite difference of seed 000, eq. (2.8),

    .. math:: \|\nabla_x \ell(x)\|_* \approx \frac{\ell(x + h d) - \ell(x)}{h},

    with :math:`d` the steepest-ascent unit vector of the attack norm (seed 000, eqs. (3.2), (3.4)),
    detached from the graph. This is also the one-step adversarial-training term (seed 001, Lemma 3.1).

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
    return _gradient_norm_penalty(model, x, y, norm, method, h, loss_fn, reduce="mean")


def lipschitz_penalty(model, x, y, *, norm="L2", method: str = "exact", h: float = 1e-3,
                      loss_fn: Callable | None = None) -> PenaltyResult:
    r"""Lipschitz (WCAT) penalty :math:`\max_i \|\nabla_x \ell(x_i)\|_*` over the batch.

    Seed 000, eq. (2.6) (the Lipschitz term, estimated on the batch as in seed 001, eq. (5)) and the
    WCAT term of seed 001, eq. (1). Arguments as in :func:`tv_penalty`; ``per_sample`` holds every
    sample's gradient norm and ``value`` their maximum.
    """
    return _gradient_norm_penalty(model, x, y, norm, method, h, loss_fn, reduce="max")


def _gradient_norm_penalty(model, x, y, norm, method, h, loss_fn, *, reduce: str) -> PenaltyResult:
    """Per-sample dual norms of the input gradient, reduced by their mean (TV) or max (Lipschitz)."""
    p = parse_norm(norm)
    _check_method(method)
    h = check_h(h)
    check_batch(x, y)
    with per_sample_mode(model):
        norms, _ = _gradient_dual_norms(model, x, y, p=p, method=method, h=h, loss_fn=loss_fn)
    value = norms.mean() if reduce == "mean" else norms.max()
    return PenaltyResult(value, norms, norms.detach(), {"norm": p, "method": method, "h": h})


def fd_gradient_penalty(model, x, y, *, norm="L2", h: float = 1e-2,
                        loss_fn: Callable | None = None) -> PenaltyResult:
    r"""Finite-difference squared gradient penalty (seed 002, Algorithm 1 and Proposition 3.2).

    .. math::

        R = \frac1n \sum_i \frac{\big(\ell(x_i + h d_i) - \ell(x_i)\big)^2}{h^2},
        \qquad d_i = \frac{s_i}{c}, \quad s_i = \arg\max_{\|s\|\le 1} s\cdot g_i,\ g_i = \nabla_x\ell(x_i),

    with :math:`d_i` detached (two ordinary backward passes, no double backpropagation). For
    ``norm="L2"``, :math:`d = g/\|g\|_2` and :math:`R \to \|g\|_2^2` as h -> 0; for ``norm="Linf"``,
    :math:`d = \operatorname{sign}(g)/\sqrt N` (N input entries) and :math:`R \to \|g\|_1^2 / N`, the
    seed's squared-l1 variant with its 1/N scale kept; for ``norm="L1"`` d is the one-hot steepest
    direction and :math:`R \to \|g\|_\infty^2`. Zero gradients give d = 0 and a zero term.
    :func:`double_backprop_penalty` is the exact counterpart with the same scaling.
    """
    p = parse_norm(norm)
    h = check_h(h)
    check_batch(x, y)
    c = _fd_scale(p, x)
    with per_sample_mode(model):
        g, loss = input_gradient(model, x, y, loss_fn, retain_graph=True)
        d = (steepest_direction(flat(g), p) / c).reshape(x.shape).detach()
        loss_h = per_sample_loss(model, x.detach() + h * d, y, loss_fn)
    terms = ((loss_h - loss) / h) ** 2
    return PenaltyResult(terms.mean(), terms, terms.detach().sqrt(), {"norm": p, "h": h, "scale": c})


def double_backprop_penalty(model, x, y, *, norm="L2", loss_fn: Callable | None = None) -> PenaltyResult:
    r"""Exact squared gradient penalty :math:`\frac1n\sum_i \|\nabla_x\ell(x_i)\|_*^2 / c^2` by double backprop.

    The exact counterpart of :func:`fd_gradient_penalty` (seed 002, eq. (8) and Proposition 3.2), with
    the same scale c (1 for L2 and L1 attacks, sqrt(N) for Linf), so that the finite difference
    converges to this value as h -> 0.
    """
    p = parse_norm(norm)
    check_batch(x, y)
    c = _fd_scale(p, x)
    with per_sample_mode(model):
        g, _ = input_gradient(model, x, y, loss_fn, create_graph=True)
    norms = dual_norm(flat(g), p) / c
    terms = norms ** 2
    return PenaltyResult(terms.mean(), terms, norms.detach(), {"norm": p, "scale": c})


@dataclass(frozen=True)
class JacobianNormResult:
    """Data-dependent Jacobian operator norms from the power method (seed 003, eqs. (6), (11), (12)).

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
    r"""Data-dependent (p, q) operator norm :math:`\max_{\|v\|_p=1}\|J_f(x)v\|_q` per sample (seed 003, eq. (8)).

    Power-method limit (``alpha=None``, seed 003, eq. (12); eq. (6) for p = q = 2):

    .. math::

        u_k = \frac{\operatorname{sign}(\tilde u_k)|\tilde u_k|^{q-1}}{\|\tilde u_k\|_q^{q-1}},\
        \tilde u_k = J v_{k-1}; \qquad
        v_k = \frac{\operatorname{sign}(\tilde v_k)|\tilde v_k|^{p^*-1}}{\|\tilde v_k\|_{p^*}^{p^*-1}},\
        \tilde v_k = J^\top u_k.

    With a finite ``alpha`` the v-update is the projected gradient step of eq. (11),
    :math:`v_k = \Pi_{\|\cdot\|_p = 1}(v_{k-1} + \alpha\tilde v_k)`. The iteration itself is
    ``lipconv.norms.operator_norm_iteration``; here the operator is the batch of Jacobians, applied
    through exact linear Jacobian products (``torch.func.jvp`` for :math:`Jv`, ``torch.func.vjp``
    for :math:`J^\top u`, one linearization point per sample; sample i only sees its own Jacobian
    because BatchNorm runs on running statistics). For p = q = 2 this is the spectral norm; for the
    NP-hard entries of seed 003, Table 1 it is a lower bound (a local maximum).

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
    with torch.no_grad():
        return _jacobian_iteration(model, x, p=p, q=q, iters=iters, alpha=alpha, v0=v0, seed=seed)


def _jacobian_iteration(model, x, *, p, q, iters, alpha, v0, seed) -> JacobianNormResult:
    r""":func:`jacobian_operator_norm` with ``norms`` left differentiable in the model parameters.

    ``lipconv.norms.operator_norm_iteration`` runs its loop without gradients and evaluates the final
    ``||J v||_q`` outside it; with a jvp as ``matvec`` that value carries the parameter gradient
    :math:`u^\top (\partial J) v` (u the dual direction of Jv), which is what the penalties need.
    """
    pp = parse_norm(p, "p")
    qq = parse_norm(q, "q")
    iters = check_int(iters, "iters")
    check_batch(x)
    if alpha is not None:
        alpha = check_eps(alpha, "alpha", allow_zero=False)
    if v0 is None:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        v0 = torch.randn(x.shape, generator=gen, dtype=torch.float64).to(device=x.device, dtype=x.dtype)
    elif not isinstance(v0, torch.Tensor) or v0.shape != x.shape:
        raise ValueError(f"v0 must be a tensor of x's shape {tuple(x.shape)}, got "
                         f"{tuple(v0.shape) if isinstance(v0, torch.Tensor) else type(v0).__name__}")
    xd = x.detach()
    with per_sample_mode(model):
        with torch.no_grad():
            out, pullback = vjp(model, xd)

        def matvec(v):
            return flat(jvp(model, (xd,), (v.reshape(x.shape),))[1])

        def rmatvec(u):
            return flat(pullback(u.reshape(out.shape))[0])

        res = operator_norm_iteration(matvec, rmatvec, pp, qq, v0=flat(v0.detach().to(x)),
                                      alpha=math.inf if alpha is None else alpha, iters=iters, tol=0.0,
                                      seed=None)
    return JacobianNormResult(res.value, res.u.reshape(out.shape), res.v.reshape(x.shape),
                              res.iterations, pp, qq)


def jacobian_spectral_penalty(model, x, *, iters: int = 10, form: str = "sigma", eps: float = 1e-2,
                              v0: torch.Tensor | None = None, seed: int = 0) -> PenaltyResult:
    r"""Data-dependent spectral norm penalty :math:`\frac1n\sum_i \tfrac12\sigma(J_f(x_i))^2` (seed 003, eq. (7)).

    :math:`u_i, v_i` come from the power method (eq. (6), :func:`jacobian_operator_norm`) and are held
    fixed; ``form="sigma"`` differentiates :math:`\sigma_i = \|J_f(x_i) v_i\|_2` (an exact jvp), whose
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
    r"""Data-dependent (p, q) operator-norm penalty :math:`\frac1n\sum_i \|J_f(x_i)\|_{p,q}` (seed 003, eq. (13)).

    The maximizer :math:`v_i` comes from eq. (12) (``alpha=None``) or eq. (11) (finite ``alpha``) and
    is held fixed; the penalty differentiates :math:`\|J_f(x_i) v_i\|_q` (an exact jvp).
    """
    res = _jacobian_iteration(model, x, p=p, q=q, iters=iters, alpha=alpha, v0=v0, seed=seed)
    terms = res.norms
    return PenaltyResult(terms.mean(), terms, terms.detach(),
                         {"p": res.p, "q": res.q, "iters": res.iters, "alpha": alpha, "seed": seed})


_WEIGHTED = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def global_spectral_penalty(model: nn.Module, *, state: dict | None = None, iters: int = 1,
                            seed: int = 0) -> PenaltyResult:
    r"""Global spectral norm penalty :math:`\tfrac12\sum_\ell \sigma(W^\ell)^2` (Yoshida-Miyato; seed 003, eq. (5)).

    :math:`\sigma(W^\ell) = u^\top W^\ell v` with u, v from ``iters`` power iterations (seed 003,
    eq. (4)) started from the vectors kept in ``state``, so one iteration per training step suffices
    (the amortization of Yoshida and Miyato). Convolution kernels are read as the matrix
    (out_channels, in_channels * kernel size), as Yoshida and Miyato do; that matrix's norm is not the
    convolution operator's norm. The gradient of each term is :math:`\sigma u v^\top`.

    Parameters
    ----------
    model : torch.nn.Module
        Its Linear and Conv layers are penalized.
    state : dict, optional
        Layer name -> (u, v); updated in place. Pass the same dict at every training step.
    iters : int >= 1
    seed : int
        Seed of the start vectors of layers not yet in ``state``.
    """
    iters = check_int(iters, "iters")
    if not isinstance(model, nn.Module):
        raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    state = {} if state is None else state
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    sigmas, names = [], []
    for name, mod in model.named_modules():
        if not isinstance(mod, _WEIGHTED):
            continue
        w = mod.weight.reshape(mod.weight.shape[0], -1)
        if name not in state:
            v = torch.randn(w.shape[1], generator=gen, dtype=torch.float64).to(w)
            state[name] = (torch.zeros(w.shape[0], dtype=w.dtype, device=w.device), v / v.norm())
        u, v = (t.to(w) for t in state[name])
        with torch.no_grad():
            wd = w.detach()
            for _ in range(iters):
                u = wd @ v
                u = u / u.norm().clamp_min(torch.finfo(u.dtype).tiny)
                v = wd.T @ u
                v = v / v.norm().clamp_min(torch.finfo(v.dtype).tiny)
        state[name] = (u, v)
        sigmas.append(u @ w @ v)
        names.append(name)
    if not sigmas:
        raise ValueError("model must contain at least one Linear or Conv layer, got none")
    sig = torch.stack(sigmas)
    return PenaltyResult(0.5 * (sig ** 2).sum(), None, sig.detach(),
                         {"layers": names, "iters": iters, "state": state, "seed": seed})


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
    """

    total: torch.Tensor
    loss: torch.Tensor
    terms: dict
    weights: dict


class RegularizedLoss:
    r"""Data loss plus weighted regularizers, :math:`\frac1n\sum_i\ell(x_i) + \sum_k \lambda_k R_k`.

    This is seed 000, eq. (2.6) with ``{"tv": (eps, tv_penalty), "lip": (lam, lipschitz_penalty)}``,
    seed 001, eq. (1) (AT + WCAT) with the one-step terms, seed 002, eq. (8) with
    :func:`fd_gradient_penalty`, or seed 003, eqs. (5)/(7) with the spectral penalties.

    Parameters
    ----------
    terms : mapping name -> (weight, penalty)
        ``penalty(model, x, y)`` returns a :class:`PenaltyResult` or a scalar tensor; bind options
        with ``functools.partial`` (e.g. ``partial(tv_penalty, norm="Linf")``) or a lambda (the
        spectral penalties take no labels: ``lambda m, x, y: jacobian_spectral_penalty(m, x)``).
    loss_fn : callable (logits, y) -> (n,), optional
        Per-sample data loss; default softmax cross-entropy.

    A class because it holds state: the weights and whatever state the bound penalties keep (e.g.
    the power-iteration vectors of :func:`global_spectral_penalty`).
    """

    def __init__(self, terms: Mapping[str, tuple] | None = None, *, loss_fn: Callable | None = None):
        terms = dict(terms or {})
        for name, spec in terms.items():
            if not (isinstance(spec, tuple) and len(spec) == 2 and callable(spec[1])):
                raise ValueError(f"terms[{name!r}] must be a (weight, penalty) pair, got {spec!r}")
            w = spec[0]
            if isinstance(w, bool) or not isinstance(w, (int, float)) or not (math.isfinite(w) and w >= 0):
                raise ValueError(f"weight of term {name!r} must be finite and >= 0, got {w}")
        self.terms = terms
        self.loss_fn = loss_fn

    def __call__(self, model, x, y) -> RegularizedLossResult:
        check_batch(x, y)
        loss = per_sample_loss(model, x, y, self.loss_fn).mean()
        total = loss
        values, weights = {}, {}
        for name, (w, pen) in self.terms.items():
            r = pen(model, x, y)
            val = r.value if isinstance(r, PenaltyResult) else r
            total = total + float(w) * val
            values[name] = float(val.detach())
            weights[name] = float(w)
        return RegularizedLossResult(total, loss, values, weights)
