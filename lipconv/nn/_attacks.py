r"""One-step and projected-gradient attacks in l2, linf and l1, and minimal adversarial distances.

Conventions: inputs live in [0, 1] (``clamp=(0, 1)``; pass ``clamp=None`` to attack an unbounded
domain), ``eps`` is a radius in the attack norm, losses are per sample, and the model runs in eval
mode during the attack with every module's train/eval flag restored afterwards.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..norms import steepest_direction
from .._validation import check_int
from ._common import check_batch, check_eps, flat, input_gradient, parse_norm, restore_mode

__all__ = [
    "fgsm",
    "pgd",
    "project_ball",
    "AdversarialDistances",
    "minimal_adversarial_distance",
]


def _radius(eps, x: torch.Tensor) -> torch.Tensor:
    """Radius as an (n, 1) tensor on x's device and dtype."""
    r = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    if r.ndim == 0:
        r = r.expand(x.shape[0])
    if r.shape[0] != x.shape[0]:
        raise ValueError(f"eps must be a scalar or have one entry per sample ({x.shape[0]}), got {tuple(r.shape)}")
    return r.reshape(-1, 1)


def _project_l1(delta: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
    """Euclidean projection of each row onto the l1 ball of radius r (sort-based).

    Torch has no such projection; the sort-and-threshold rule (Duchi et al., 2008) is a few lines.
    """
    a = delta.abs()
    inside = a.sum(dim=1, keepdim=True) <= r
    srt, _ = torch.sort(a, dim=1, descending=True)
    css = srt.cumsum(dim=1) - r
    k = torch.arange(1, a.shape[1] + 1, device=a.device, dtype=a.dtype)
    rho = ((srt - css / k) > 0).to(a.dtype).cumsum(dim=1).argmax(dim=1, keepdim=True)
    theta = torch.gather(css, 1, rho) / (rho + 1).to(a.dtype)
    proj = torch.sign(delta) * (a - theta.clamp_min(0)).clamp_min(0)
    return torch.where(inside, delta, proj)


def project_ball(delta: torch.Tensor, eps, norm) -> torch.Tensor:
    r"""Euclidean projection of each perturbation onto :math:`\{\|\delta\|_p \le \epsilon\}` (seed 003, eq. (15)).

    Parameters
    ----------
    delta : torch.Tensor, shape (n, ...)
    eps : float or tensor (n,)
    norm : {"L2", "Linf", "L1"} or {2, inf, 1}
    """
    p = parse_norm(norm)
    eps = check_eps(eps)
    d = flat(delta)
    r = _radius(eps, d)
    if math.isinf(p):
        out = torch.maximum(torch.minimum(d, r), -r)
    elif p == 2.0:
        nrm = torch.linalg.vector_norm(d, dim=1, keepdim=True)
        out = d * torch.where(nrm > r, r / torch.where(nrm > 0, nrm, torch.ones_like(nrm)), torch.ones_like(nrm))
    else:
        out = _project_l1(d, r)
    return out.reshape(delta.shape)


def _random_in_ball(x: torch.Tensor, r: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Uniform samples in the l_p ball of radius r around 0 (one per row of x)."""
    n, N = flat(x).shape
    kw = dict(generator=gen, dtype=torch.float64)
    if math.isinf(p):
        z = 2 * torch.rand((n, N), **kw) - 1
    elif p == 2.0:
        g = torch.randn((n, N), **kw)
        z = g / g.norm(dim=1, keepdim=True) * torch.rand((n, 1), **kw) ** (1.0 / N)
    else:
        e = -torch.log(torch.rand((n, N + 1), **kw))
        z = (e / e.sum(dim=1, keepdim=True))[:, :N] * torch.sign(torch.rand((n, N), **kw) - 0.5)
    return (z.to(device=x.device, dtype=x.dtype) * r).reshape(x.shape)


def _clamp(x, clamp):
    return x if clamp is None else x.clamp(clamp[0], clamp[1])


def _check_clamp(clamp):
    if clamp is None:
        return None
    try:
        lo, hi = (float(c) for c in clamp)
    except (TypeError, ValueError):
        raise ValueError(f"clamp must be None or a pair (low, high), got {clamp!r}") from None
    if not lo < hi:
        raise ValueError(f"clamp must be None or a pair (low, high) with low < high, got {clamp!r}")
    return lo, hi


def fgsm(model, x, y, *, eps, norm="Linf", loss_fn: Callable | None = None, clamp=(0.0, 1.0)) -> torch.Tensor:
    r"""One-step attack :math:`x' = x + \epsilon\, d`, d the steepest unit direction of the attack norm.

    For linf, :math:`d = \operatorname{sign}(\nabla_x\ell)` (FGSM, seed 000, eq. (3.2)); for l2,
    :math:`d = \nabla_x\ell/\|\nabla_x\ell\|_2` (eq. (3.4)); for l1, a signed one-hot vector at the
    largest gradient entry (seed 003, eq. (16)). To first order this raises the loss by
    :math:`\epsilon\|\nabla_x\ell\|_*` (seed 001, Lemma B.1). The result is clamped to ``clamp``.

    Parameters
    ----------
    model : callable, x -> logits
    x : torch.Tensor, shape (n, ...)
    y : torch.Tensor, shape (n, ...)
    eps : float or tensor (n,), >= 0
    norm : {"L2", "Linf", "L1"} or {2, inf, 1}
    loss_fn : callable (logits, y) -> (n,), optional
    clamp : (low, high) or None

    Returns
    -------
    torch.Tensor, shape of x (detached)
    """
    p = parse_norm(norm)
    eps = check_eps(eps)
    clamp = _check_clamp(clamp)
    check_batch(x, y)
    with restore_mode(model, eval_mode=True):
        g, _ = input_gradient(model, x, y, loss_fn)
    d = steepest_direction(flat(g), p).reshape(x.shape)
    r = _radius(eps, flat(x)).reshape((-1,) + (1,) * (x.ndim - 1))
    return _clamp(x.detach() + r * d, clamp)


def _pgd(model, x, y, *, eps, p, steps, alpha, random_start, x_init, loss_fn, clamp, seed, success_fn):
    """PGD iterations; returns (last iterate, first successful iterate or None, success flags)."""
    xd = x.detach()
    r = _radius(eps, flat(x))
    shape = (-1,) + (1,) * (x.ndim - 1)
    if x_init is not None:
        xk = x_init.detach().to(x)
    elif random_start:
        gen = torch.Generator(device="cpu").manual_seed(int(seed))
        xk = xd + _random_in_ball(xd, r, p, gen)
    else:
        xk = xd.clone()
    xk = _clamp(xd + project_ball(xk - xd, r.reshape(-1), p), clamp)
    found = torch.zeros(x.shape[0], dtype=torch.bool, device=x.device)
    best = xk.clone()
    if isinstance(alpha, torch.Tensor):
        step = alpha.to(x).reshape(shape)
    else:
        step = None if math.isinf(alpha) else alpha
    for _ in range(steps):
        g, _ = input_gradient(model, xk, y, loss_fn)
        v = steepest_direction(flat(g), p).reshape(x.shape)
        if step is None:
            # alpha -> inf limit of the projection (seed 003, Lemma 2): the iterate jumps to x + eps v.
            delta = r.reshape(shape) * v
        else:
            delta = project_ball(xk + step * v - xd, r.reshape(-1), p)
        xk = _clamp(xd + delta, clamp).detach()
        if success_fn is not None:
            with torch.no_grad():
                ok = success_fn(xk) & ~found
            best[ok] = xk[ok]
            found |= ok
    return xk, best, found


def pgd(model, x, y, *, eps, norm="Linf", steps: int = 10, alpha: float | None = None,
        random_start: bool = True, x_init: torch.Tensor | None = None, loss_fn: Callable | None = None,
        clamp=(0.0, 1.0), seed: int = 0) -> torch.Tensor:
    r"""Projected gradient ascent on the loss in the l_p ball (seed 003, eqs. (15), (17)).

    .. math::

        x_0 \sim \mathcal U(B^p_\epsilon(x)),\qquad
        x_k = \Pi_{[0,1]}\Pi_{B^p_\epsilon(x)}\Big(x_{k-1} + \alpha\,
        \frac{\operatorname{sign}(g)|g|^{p^*-1}}{\|g\|_{p^*}^{p^*-1}}\Big),\quad g = \nabla_x\ell(x_{k-1}),

    a Euclidean projection onto the ball followed by clipping to the box (the composition is what
    PGD implementations do; it is not the projection onto the intersection). ``alpha=inf`` takes the
    limit of the projection, :math:`x_k = x + \epsilon\,v_k` (seed 003, Lemma 2 and Theorem 1).
    Each sample's iterates only see its own gradient (the model runs in eval mode).

    Parameters
    ----------
    model : callable, x -> logits
    x : torch.Tensor, shape (n, ...)
    y : torch.Tensor
        Targets for ``loss_fn`` (labels, or e.g. clean logits for a logit-space loss).
    eps : float or tensor (n,), >= 0
    norm : {"L2", "Linf", "L1"} or {2, inf, 1}
    steps : int >= 1
    alpha : float > 0, inf, or None
        Step length in the attack norm; default ``2.5 * eps / steps`` (Madry et al.'s rule).
    random_start : bool
        Start uniformly in the ball (seeded by ``seed``).
    x_init : torch.Tensor, optional
        Explicit start (projected onto the ball); overrides ``random_start``.
    loss_fn : callable (logits, y) -> (n,), optional
        Per-sample loss to ascend; default cross-entropy.
    clamp : (low, high) or None
    seed : int

    Returns
    -------
    torch.Tensor, shape of x: the last iterate (detached).
    """
    p = parse_norm(norm)
    eps = check_eps(eps)
    steps = check_int(steps, "steps")
    clamp = _check_clamp(clamp)
    check_batch(x, y)
    alpha = _check_alpha(alpha, eps, steps)
    if x_init is not None and (not isinstance(x_init, torch.Tensor) or x_init.shape != x.shape):
        raise ValueError(f"x_init must be a tensor of x's shape {tuple(x.shape)}, got "
                         f"{tuple(x_init.shape) if isinstance(x_init, torch.Tensor) else type(x_init).__name__}")
    with restore_mode(model, eval_mode=True):
        xk, _, _ = _pgd(model, x, y, eps=eps, p=p, steps=steps, alpha=alpha, random_start=random_start,
                        x_init=x_init, loss_fn=loss_fn, clamp=clamp, seed=seed, success_fn=None)
    return xk


def _check_alpha(alpha, eps, steps) -> float | torch.Tensor:
    if alpha is None:
        if isinstance(eps, float):
            return 2.5 * eps / steps
        return 2.5 * torch.as_tensor(eps, dtype=torch.float64) / steps
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not (alpha > 0):
        raise ValueError(f"alpha must be > 0 (inf allowed) or None, got {alpha}")
    return float(alpha)


@dataclass(frozen=True)
class AdversarialDistances:
    """Per-sample minimal adversarial distances found by bisection over PGD.

    Attributes
    ----------
    distances : numpy.ndarray, shape (n,)
        Norm of the smallest successful perturbation found; 0 where the clean input is already
        misclassified; ``+inf`` where no attack of radius ``eps_max`` succeeded (never 0).
    x_adv : torch.Tensor, shape of x
        The adversarial examples (the clean input where none was found).
    norm : float
    eps_max : float
    seed : int
    """

    distances: np.ndarray
    x_adv: torch.Tensor
    norm: float
    eps_max: float
    seed: int


def minimal_adversarial_distance(model, x, y, *, norm="L2", eps_max: float = 1.0, bisections: int = 8,
                                 steps: int = 20, alpha_ratio: float | None = None,
                                 loss_fn: Callable | None = None, clamp=(0.0, 1.0),
                                 seed: int = 0) -> AdversarialDistances:
    r"""Smallest :math:`\|x' - x\|` with :math:`c(x') \ne y` found by bisection on eps over PGD.

    For each sample the radius bracket [lo, hi] starts at [0, eps_max]; PGD with radius
    (lo + hi)/2 (``steps`` iterations, step 2.5 eps/steps, random start) either finds a
    misclassified point in any iterate (hi shrinks) or not (lo grows). The PGD step is
    ``alpha_ratio * radius`` (default 2.5 / steps, Madry et al.'s rule; l2 PGD from a random start
    turns toward the best direction slowly with it, so raise it for a tighter distance). The reported distance is the
    norm of the smallest successful perturbation, an upper bound on the true minimal distance; an
    attack that never succeeds at eps_max gives ``+inf`` (seed 001, Def. 5.1 then counts it as
    robust at every radius). ``y`` are class labels.
    """
    p = parse_norm(norm)
    eps_max = check_eps(eps_max, "eps_max", allow_zero=False)
    bisections = check_int(bisections, "bisections", minimum=0)
    steps = check_int(steps, "steps")
    clamp = _check_clamp(clamp)
    check_batch(x, y)
    ratio = 2.5 / steps if alpha_ratio is None else check_eps(alpha_ratio, "alpha_ratio", allow_zero=False)
    n = x.shape[0]
    xd = x.detach()
    dist = torch.full((n,), math.inf, dtype=torch.float64)
    x_adv = xd.clone()
    with restore_mode(model, eval_mode=True):
        with torch.no_grad():
            clean_wrong = (model(xd).argmax(dim=1) != y).cpu()
        dist[clean_wrong] = 0.0
        lo = torch.zeros(n, dtype=torch.float64)
        hi = torch.full((n,), eps_max, dtype=torch.float64)
        active = ~clean_wrong
        for it in range(bisections + 1):
            if not bool(active.any()):
                break
            r = hi.clone() if it == 0 else (lo + hi) / 2
            idx = torch.nonzero(active).reshape(-1)
            sub = idx.to(x.device)
            rad = r[idx].to(x)
            ys = y[sub]
            _, best, found = _pgd(model, xd[sub], ys, eps=rad, p=p, steps=steps, alpha=ratio * rad,
                                  random_start=True, x_init=None, loss_fn=loss_fn, clamp=clamp,
                                  seed=seed + it, success_fn=lambda xs: model(xs).argmax(dim=1) != ys)
            found = found.cpu()
            size = torch.linalg.vector_norm(flat(best - xd[sub]), ord=p, dim=1).cpu().to(torch.float64)
            for j, i in enumerate(idx.tolist()):
                if found[j]:
                    if size[j] < dist[i]:
                        dist[i] = size[j]
                        x_adv[i] = best[j]
                    hi[i] = min(float(r[i]), float(size[j]))
                elif it == 0:
                    active[i] = False
                else:
                    lo[i] = r[i]
    return AdversarialDistances(dist.numpy(), x_adv, p, eps_max, seed)
