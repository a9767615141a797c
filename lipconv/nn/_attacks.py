r"""One-step and projected-gradient attacks in l2, linf and l1, minimal adversarial distances, and the
error curves computed from them.

Conventions: inputs live in [0, 1] (``clamp=(0, 1)``; pass ``clamp=None`` to attack an unbounded
domain) and must lie in the box they are clamped to, ``eps`` is a radius in the attack norm, losses
are per sample, and the model runs in eval mode during the attack with every module's train/eval
flag restored afterwards.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from ..norms import steepest_direction
from .._validation import check_int
from ._common import (
    check_array,
    check_clamp,
    check_eps,
    check_inputs,
    check_seed,
    checked_outputs,
    flat,
    input_gradient,
    parse_norm,
    per_sample_loss,
    restore_mode,
)
from ._l1 import apgd_l1, box_room, greedy_l1_box_step, project_l1, project_l1_box, sparse_l1_direction

__all__ = [
    "fgsm",
    "pgd",
    "project_ball",
    "AdversarialDistances",
    "minimal_adversarial_distance",
    "error_curve",
    "median_adversarial_distance",
]


def _radius(eps, x: torch.Tensor) -> torch.Tensor:
    """Radius as an (n, 1) tensor on x's device and dtype."""
    r = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    if r.ndim == 0:
        r = r.expand(x.shape[0])
    if r.shape[0] != x.shape[0]:
        raise ValueError(f"eps must be a scalar or have one entry per sample ({x.shape[0]}), got {tuple(r.shape)}")
    return r.reshape(-1, 1)


def project_ball(delta: torch.Tensor, eps, norm) -> torch.Tensor:
    r"""Euclidean projection of each perturbation onto :math:`\{\|\delta\|_p \le \epsilon\}` ([RKH] eq. (15)).

    Parameters
    ----------
    delta : torch.Tensor, shape (n, ...)
    eps : float or tensor (n,)
    norm : {"L2", "Linf", "L1"} or {2, inf, 1}
    """
    p = parse_norm(norm)
    eps = check_eps(eps)
    check_inputs(None, delta, x_name="delta")
    return _project_ball(delta, _radius(eps, flat(delta)), p)


def _project_ball(delta: torch.Tensor, r: torch.Tensor, p: float) -> torch.Tensor:
    """:func:`project_ball` without the argument checks (they synchronize a device): r of shape (n, 1)."""
    d = flat(delta)
    if math.isinf(p):
        out = torch.maximum(torch.minimum(d, r), -r)
    elif p == 2.0:
        nrm = torch.linalg.vector_norm(d, dim=1, keepdim=True)
        out = d * torch.where(nrm > r, r / torch.where(nrm > 0, nrm, torch.ones_like(nrm)), torch.ones_like(nrm))
    else:
        out = project_l1(d, r)
    return out.reshape(delta.shape)


def _generator(x: torch.Tensor, seed) -> torch.Generator:
    """A generator on x's device (random starts are drawn where they are used, not copied from the host)."""
    return torch.Generator(device=x.device).manual_seed(int(seed))


def _random_in_ball(x: torch.Tensor, r: torch.Tensor, p: float, gen: torch.Generator) -> torch.Tensor:
    """Uniform samples in the l_p ball of radius r around 0 (one per row of x), drawn on x's device."""
    n, N = flat(x).shape
    kw = dict(generator=gen, dtype=torch.float32 if x.device.type == "mps" else torch.float64, device=x.device)
    if math.isinf(p):
        z = 2 * torch.rand((n, N), **kw) - 1
    elif p == 2.0:
        g = torch.randn((n, N), **kw)
        z = g / g.norm(dim=1, keepdim=True) * torch.rand((n, 1), **kw) ** (1.0 / N)
    else:
        e = -torch.log(torch.rand((n, N + 1), **kw))
        z = (e / e.sum(dim=1, keepdim=True))[:, :N] * torch.sign(torch.rand((n, N), **kw) - 0.5)
    return (z.to(dtype=x.dtype) * r).reshape(x.shape)


def _clamp(x, clamp):
    return x if clamp is None else x.clamp(clamp[0], clamp[1])


def fgsm(model, x, y, *, eps, norm="Linf", loss_fn: Callable | None = None, clamp=(0.0, 1.0)) -> torch.Tensor:
    r"""One-step attack :math:`x' = x + \epsilon\, d`, d the steepest unit direction of the attack norm.

    For linf, :math:`d = \operatorname{sign}(\nabla_x\ell)` (FGSM, [FCAO] eq. (3.2)); for l2,
    :math:`d = \nabla_x\ell/\|\nabla_x\ell\|_2` (eq. (3.4)); the result is clamped to ``clamp``. To
    first order this raises the loss by :math:`\epsilon\|\nabla_x\ell\|_*` ([FOA] Lemma B.1).
    For l1 the steepest direction is a signed one-hot vector at the largest gradient entry ([RKH],
    eq. (16)), which the box can cut to nothing; with a ``clamp`` the l1 step is instead the exact
    maximizer of the linearization over the ball intersected with the box (the budget eps spent on
    the largest gradient entries in turn, each up to its room to the box); without one it is the
    one-hot step.

    Parameters
    ----------
    model : callable, x -> logits
    x : torch.Tensor, shape (n, ...)
    y : torch.Tensor, shape (n, ...)
    eps : float or tensor (n,), >= 0
    norm : {"L2", "Linf", "L1"} or {2, inf, 1}
    loss_fn : callable (logits, y) -> (n,), optional
    clamp : (low, high) or None
        The input box; x must lie in it (``ValueError`` naming ``clamp`` otherwise).

    Returns
    -------
    torch.Tensor, shape of x (detached)
    """
    p = parse_norm(norm)
    eps = check_eps(eps)
    clamp = check_clamp(clamp)
    checked_outputs(model, x, y, labels="loss", loss_fn=loss_fn, clamp=clamp)
    with restore_mode(model, eval_mode=True):
        g, _ = input_gradient(model, x, y, loss_fn)
    r = _radius(eps, flat(x))
    if p == 1.0 and clamp is not None:
        step = greedy_l1_box_step(flat(g), box_room(x.detach(), clamp), r).reshape(x.shape)
        return _clamp(x.detach() + step, clamp)
    d = steepest_direction(flat(g), p).reshape(x.shape)
    return _clamp(x.detach() + r.reshape((-1,) + (1,) * (x.ndim - 1)) * d, clamp)


def _step_and_project(xk, xd, g, r, p, step, clamp, sparsity):
    """One PGD update from xk: the ascent step, then the projection(s) back to the ball (and box)."""
    shape = (-1,) + (1,) * (xd.ndim - 1)
    if step is None:
        # alpha -> inf limit of the projection ([RKH] Lemma 2): the iterate jumps to x + eps v.
        return _clamp(xd + r.reshape(shape) * steepest_direction(flat(g), p).reshape(xd.shape), clamp)
    if p == 1.0:
        room = box_room(xk, clamp)
        v = sparse_l1_direction(flat(g), room, sparsity).reshape(xd.shape)
        z = flat(xk + step * v - xd)
        if clamp is None:
            return xd + project_l1(z, r).reshape(xd.shape)
        xf = flat(xd)
        lo, hi = (clamp[0] - xf).clamp_max(0), (clamp[1] - xf).clamp_min(0)
        return _clamp(xd + project_l1_box(z, r, lo, hi).reshape(xd.shape), clamp)
    v = steepest_direction(flat(g), p).reshape(xd.shape)
    return _clamp(xd + _project_ball(xk + step * v - xd, r, p), clamp)


def _pgd(model, x, y, *, eps, p, steps, alpha, random_start, x_init, loss_fn, clamp, seed, success_fn,
         sparsity=None, restarts=1):
    """PGD from ``restarts`` random starts (seeds seed, seed + 1, ...); returns (the iterate of highest
    loss over the runs, the smallest successful iterate over the runs, success flags).

    l1 with ``alpha`` and ``sparsity`` both None runs L1-APGD (each run's highest-loss iterate is
    its result); otherwise fixed-step PGD (SLIDE in l1), whose run ends at its last iterate. No
    data-dependent Python control flow: a device runs the loop without waiting for the host.
    """
    xd = x.detach()
    out = None
    for rs in range(restarts):
        run = _pgd_run(model, xd, y, eps=eps, p=p, steps=steps, alpha=alpha, random_start=random_start,
                       x_init=x_init, loss_fn=loss_fn, clamp=clamp, seed=seed + rs, success_fn=success_fn,
                       sparsity=sparsity)
        if out is None:
            out = run
            continue
        shape = (-1,) + (1,) * (x.ndim - 1)
        (xb, lb, fb, ok), (xr, lr, fr, okr) = out, run
        higher = (lr > lb).reshape(shape)
        size = torch.linalg.vector_norm(flat(fr - xd), ord=p, dim=1)
        smaller = okr & (~ok | (size < torch.linalg.vector_norm(flat(fb - xd), ord=p, dim=1)))
        out = (torch.where(higher, xr, xb), torch.maximum(lr, lb), torch.where(smaller.reshape(shape), fr, fb),
               ok | okr)
    xb, _, fb, ok = out
    return xb, fb, ok


def _pgd_run(model, xd, y, *, eps, p, steps, alpha, random_start, x_init, loss_fn, clamp, seed, success_fn,
             sparsity):
    """One run of :func:`_pgd`: (result, its loss, first successful iterate, success flags)."""
    r = _radius(eps, flat(xd))
    shape = (-1,) + (1,) * (xd.ndim - 1)
    if x_init is not None:
        xk = x_init.detach().to(xd)
    elif random_start:
        xk = xd + _random_in_ball(xd, r, p, _generator(xd, seed))
    else:
        xk = xd.clone()
    if p == 1.0 and alpha is None and sparsity is None:
        def loss_grad(z):
            g, loss = input_gradient(model, z, y, loss_fn)
            return loss, g
        return apgd_l1(loss_grad, xd, r, steps=steps, clamp=clamp, start=xk, success_fn=success_fn)
    if alpha is None:
        alpha = 2.5 * r / steps
    if sparsity is None:
        sparsity = _SLIDE_SPARSITY
    if p == 1.0 and clamp is not None:
        xf = flat(xd)
        lo, hi = (clamp[0] - xf).clamp_max(0), (clamp[1] - xf).clamp_min(0)
        xk = _clamp(xd + project_l1_box(flat(xk - xd), r, lo, hi).reshape(xd.shape), clamp)
    else:
        xk = _clamp(xd + _project_ball(xk - xd, r, p), clamp)
    found = torch.zeros(xd.shape[0], dtype=torch.bool, device=xd.device)
    best = xk.clone()
    if isinstance(alpha, torch.Tensor):
        step = alpha.to(xd).reshape(shape)
    else:
        step = None if math.isinf(alpha) else alpha
    for _ in range(steps):
        g, _ = input_gradient(model, xk, y, loss_fn)
        xk = _step_and_project(xk, xd, g, r, p, step, clamp, sparsity).detach()
        if success_fn is not None:
            with torch.no_grad():
                ok = (success_fn(xk) & ~found).reshape(shape)
            best = torch.where(ok, xk, best)
            found = found | ok.reshape(-1)
    with torch.no_grad():  # the run's result is compared with other runs' by its loss
        loss = per_sample_loss(model, xk, y, loss_fn)
    return xk, loss, best, found


def pgd(model, x, y, *, eps, norm="Linf", steps: int = 10, alpha: float | None = None,
        random_start: bool = True, x_init: torch.Tensor | None = None, loss_fn: Callable | None = None,
        clamp=(0.0, 1.0), seed: int = 0, l1_sparsity: float | None = None, restarts: int = 1) -> torch.Tensor:
    r"""Projected gradient ascent on the loss in the l_p ball ([RKH] eqs. (15), (17)).

    .. math::

        x_0 \sim \mathcal U(B^p_\epsilon(x)),\qquad
        x_k = \Pi_{[0,1]}\Pi_{B^p_\epsilon(x)}\Big(x_{k-1} + \alpha\,
        \frac{\operatorname{sign}(g)|g|^{p^*-1}}{\|g\|_{p^*}^{p^*-1}}\Big),\quad g = \nabla_x\ell(x_{k-1}),

    for l2 and linf: a Euclidean projection onto the ball followed by clipping to the box (the
    composition torchattacks and ART use; for linf it is the projection onto the intersection).
    ``alpha=inf`` takes the limit of the projection, :math:`x_k = x + \epsilon\,v_k` ([RKH],
    Lemma 2 and Theorem 1). Each sample's iterates only see its own gradient (eval mode).

    **l1** runs L1-APGD by default (Croce and Hein, "Mind the box: l1-APGD for sparse adversarial
    attacks on image classifiers", ICML 2021): sparse sign steps whose length and sparsity adapt at
    checkpoints to the progress of the loss and to the sparsity of the best point so far, each
    projected exactly onto the intersection of the l1 ball with the box (see ``lipconv.nn._l1``);
    the highest-loss iterate is returned. A fixed step ``alpha`` or sparsity ``l1_sparsity`` runs
    fixed-step sparse l1 descent instead (SLIDE; Tramer and Boneh, "Adversarial training and
    robustness for multiple perturbations", NeurIPS 2019, Alg. 1: the step moves, in equal parts,
    the entries whose :math:`|g_i|` is at least the ``l1_sparsity`` quantile among those that can still
    move toward the ascent inside the box), which left 3-7.5 points more robust accuracy than FAB-L1
    on digits at eps 2 with 100 steps (``benchmarks/nn_audit.py``, issue 28); its last iterate is
    returned.
    The steepest one-hot step of eq. (16) stalls once its coordinate reaches the box (measured on
    digits in 62-97 % of the steps). Without a box (``clamp=None``) the projection is the l1-ball one.

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
        Step length in the attack norm; default ``2.5 * eps / steps`` (Madry et al.'s rule), in l1
        the adaptive step of L1-APGD.
    random_start : bool
        Start uniformly in the ball (seeded by ``seed``, drawn on x's device).
    x_init : torch.Tensor, optional
        Explicit start (projected onto the ball); overrides ``random_start``.
    loss_fn : callable (logits, y) -> (n,), optional
        Per-sample loss to ascend; default cross-entropy.
    clamp : (low, high) or None
        The input box; x must lie in it (``ValueError`` naming ``clamp`` otherwise).
    seed : int >= 0
        Seeds the random start (restart r uses ``seed + r``).
    restarts : int >= 1
        Runs from independent random starts; each sample gets the result of highest loss. On digits
        at L1 eps 2, four L1-APGD runs of 25 steps left 0.5-2.5 points less robust accuracy than one
        of 100, and 0-4 points less than FAB-L1 with 100 steps (``benchmarks/nn_audit.py``).
    l1_sparsity : float in [0, 1), or None
        SLIDE's quantile q (l1 only): the step moves the top ``max(1, N - floor(q N))`` feasible
        entries (and ties); 0.95 when only ``alpha`` is given (4 of 64 entries on digits, where it
        was the best of 0.8-0.99; Tramer and Boneh use 0.8-0.995). None with ``alpha=None``: L1-APGD.

    Returns
    -------
    torch.Tensor, shape of x (detached): the last iterate; in l1 with the adaptive schedule the
    iterate of highest loss.
    """
    p = parse_norm(norm)
    eps = check_eps(eps)
    steps = check_int(steps, "steps")
    restarts = check_int(restarts, "restarts")
    seed = check_seed(seed)
    clamp = check_clamp(clamp)
    alpha = _check_alpha(alpha, eps, steps, p)
    sparsity = _check_sparsity(l1_sparsity)
    if not isinstance(random_start, bool):
        raise TypeError(f"random_start must be True or False, got {random_start!r}")
    if x_init is not None:
        check_inputs(None, x_init, values=True, x_name="x_init")
        if x_init.shape != x.shape:
            raise ValueError(f"x_init must be a tensor of x's shape {tuple(x.shape)}, got {tuple(x_init.shape)}")
    checked_outputs(model, x, y, labels="loss", loss_fn=loss_fn, clamp=clamp)
    with restore_mode(model, eval_mode=True):
        xk, _, _ = _pgd(model, x, y, eps=eps, p=p, steps=steps, alpha=alpha, random_start=random_start,
                        x_init=x_init, loss_fn=loss_fn, clamp=clamp, seed=seed, success_fn=None,
                        sparsity=sparsity, restarts=restarts)
    return xk


_SLIDE_SPARSITY = 0.95


def _check_sparsity(q) -> float | None:
    if q is None:
        return None
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or not 0 <= q < 1:
        raise ValueError(f"l1_sparsity must be in [0, 1) or None, got {q!r}")
    return float(q)


def _check_alpha(alpha, eps, steps, p) -> float | torch.Tensor | None:
    if alpha is None:
        if p == 1.0:
            return None  # L1-APGD's adaptive step, or SLIDE's default from the radius (_pgd)
        if isinstance(eps, float):
            return 2.5 * eps / steps
        return 2.5 * torch.as_tensor(eps, dtype=torch.float64) / steps
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not (alpha > 0):
        raise ValueError(f"alpha must be > 0 (inf allowed) or None, got {alpha!r}")
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
                                 seed: int = 0, l1_sparsity: float | None = None,
                                 restarts: int = 1) -> AdversarialDistances:
    r"""Smallest :math:`\|x' - x\|` with :math:`c(x') \ne y` found by bisection on eps over PGD.

    For each sample the radius bracket [lo, hi] starts at [0, eps_max]; PGD with radius
    (lo + hi)/2 (``steps`` iterations from each of ``restarts`` random starts; l1 by L1-APGD, see
    :func:`pgd`) either finds a misclassified point in any iterate (hi shrinks to its size) or not
    (lo grows). The PGD step is ``alpha_ratio * radius`` (default 2.5 / steps, Madry et al.'s rule;
    l2 PGD from a random start turns toward the best direction slowly with it, so raise it for a
    tighter distance); in l1 the step is L1-APGD's adaptive one unless ``alpha_ratio`` or
    ``l1_sparsity`` is given (then SLIDE). The reported distance is the norm of the smallest
    successful perturbation, an upper bound on the true minimal distance; an attack that never
    succeeds at eps_max gives ``+inf`` ([FOA] Def. 5.1 then counts it as robust at every radius).
    ``y`` are integer class labels. All samples are attacked together (one PGD run per bisection
    round and restart on the samples still bracketed); there is no per-sample Python loop. ``x``
    must lie in the box ``clamp``.
    """
    p = parse_norm(norm)
    eps_max = check_eps(eps_max, "eps_max", allow_zero=False)
    if not isinstance(eps_max, float):
        raise ValueError(f"eps_max must be a finite number > 0, got {eps_max!r}")
    bisections = check_int(bisections, "bisections", minimum=0)
    steps = check_int(steps, "steps")
    restarts = check_int(restarts, "restarts")
    seed = check_seed(seed)
    clamp = check_clamp(clamp)
    sparsity = _check_sparsity(l1_sparsity)
    if alpha_ratio is not None:
        alpha_ratio = check_eps(alpha_ratio, "alpha_ratio", allow_zero=False)
        if not isinstance(alpha_ratio, float):
            raise ValueError(f"alpha_ratio must be a finite number > 0 or None, got {alpha_ratio!r}")
    adaptive = p == 1.0 and alpha_ratio is None and sparsity is None
    ratio = 2.5 / steps if alpha_ratio is None else alpha_ratio
    logits = checked_outputs(model, x, y, labels="classes", clamp=clamp)
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be None or a callable (logits, y) -> (n,), got {type(loss_fn).__name__}")
    n = x.shape[0]
    xd = x.detach()
    dev = x.device
    shape = (-1,) + (1,) * (x.ndim - 1)
    work = torch.float32 if dev.type == "mps" else torch.float64
    dist = torch.full((n,), math.inf, dtype=work, device=dev)
    x_adv = xd.clone()
    with restore_mode(model, eval_mode=True):
        clean_wrong = logits.argmax(dim=1) != y
        dist = torch.where(clean_wrong, torch.zeros_like(dist), dist)
        lo = torch.zeros(n, dtype=work, device=dev)
        hi = torch.full((n,), eps_max, dtype=work, device=dev)
        active = ~clean_wrong
        for it in range(bisections + 1):
            idx = torch.nonzero(active).reshape(-1)  # one synchronization per round
            if idx.numel() == 0:
                break
            r = hi if it == 0 else (lo + hi) / 2
            rad = r[idx]
            ys = y[idx]
            _, best, found = _pgd(model, xd[idx], ys, eps=rad.to(x.dtype), p=p, steps=steps,
                                  alpha=None if adaptive else ratio * rad, random_start=True, x_init=None,
                                  loss_fn=loss_fn, restarts=restarts,
                                  clamp=clamp, seed=seed + it * restarts, sparsity=sparsity,
                                  success_fn=lambda xs, ys=ys: model(xs).argmax(dim=1) != ys)
            size = torch.linalg.vector_norm(flat(best - xd[idx]), ord=p, dim=1).to(work)
            better = found & (size < dist[idx])
            dist[idx] = torch.where(better, size, dist[idx])
            x_adv[idx] = torch.where(better.reshape(shape), best, x_adv[idx])
            hi[idx] = torch.where(found, torch.minimum(rad, size), hi[idx])
            if it == 0:
                active[idx] = found
            else:
                lo[idx] = torch.where(found, lo[idx], rad)
    return AdversarialDistances(dist.cpu().to(torch.float64).numpy(), x_adv, p, eps_max, seed)


def _check_distances(distances) -> np.ndarray:
    if isinstance(distances, AdversarialDistances):
        distances = distances.distances
    d = check_array(distances, "distances", ndim=1, allow_inf=True)
    if (d < 0).any() or (d == -np.inf).any():
        raise ValueError(f"distances must be >= 0 (+inf for a failed attack), got entries down to {d.min():.6g}")
    return d


def error_curve(distances, eps) -> np.ndarray:
    r"""Error curve :math:`C_{err}(\epsilon) = P\{\|a\| \le \epsilon \text{ misclassifies}\}` ([FOA] Def. 5.1).

    Computed from per-sample minimal adversarial distances (:func:`minimal_adversarial_distance`):
    the fraction with distance :math:`\le \epsilon`. A failed attack is ``+inf`` and never counts;
    a clean error is 0 and counts at every radius, so :math:`C_{err}(0)` is the test error.

    Parameters
    ----------
    distances : array (n,)
    eps : float or array (m,)

    Returns
    -------
    numpy.ndarray, shape (m,) (or a float for scalar eps)
    """
    d = _check_distances(distances)
    e = check_array(eps, "eps", ndim=0, allow_inf=True)
    if (e < 0).any():
        raise ValueError(f"eps must be >= 0, got {eps}")
    out = (d[None, :] <= e.reshape(-1, 1)).mean(axis=1)
    return float(out[0]) if e.ndim == 0 else out


def median_adversarial_distance(distances) -> float:
    """Median of the per-sample minimal adversarial distances ([FOA] §5.1; +inf counts, so the
    median is +inf when at least half the attacks failed)."""
    return float(np.median(_check_distances(distances)))
