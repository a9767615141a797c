r"""The l1 machinery of the attacks: exact projections onto the l1 ball and onto its intersection with
the input box, the box-aware sparse steps, and L1-APGD.

The effective threat model of an l1 attack on inputs in a box is :math:`\{\|\delta\|_1 \le \epsilon\}
\cap \{lo \le x + \delta \le hi\}` (Croce and Hein, "Mind the box: l1-APGD for sparse adversarial
attacks on image classifiers", ICML 2021). Every l1 iterate here is projected exactly onto it.
"""
from __future__ import annotations

import math

import torch

__all__ = ["project_l1", "project_l1_box", "box_room", "sparse_l1_direction", "greedy_l1_box_step", "apgd_l1"]


def project_l1(delta: torch.Tensor, r: torch.Tensor) -> torch.Tensor:
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


_BISECTIONS = 60


def project_l1_box(z: torch.Tensor, r: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    r"""Euclidean projection of each row of z onto :math:`\{\|\delta\|_1 \le r,\ lo \le \delta \le hi\}`, lo <= 0 <= hi.

    The KKT conditions give :math:`\delta_i(\lambda) = \mathrm{clip}(\mathrm{sign}(z_i)(|z_i| - \lambda)_+, lo_i, hi_i)`
    with the smallest :math:`\lambda \ge 0` that makes :math:`\|\delta(\lambda)\|_1 \le r` (Croce and Hein,
    "Mind the box: l1-APGD", ICML 2021, Lemma 1). :math:`\|\delta(\lambda)\|_1` is nonincreasing, so
    :math:`\lambda` is found by a fixed number of bisections (no data-dependent control flow, hence no
    host synchronization), and the upper end of the final bracket is used, which keeps the result
    inside the ball. Computed in at least float32.
    """
    work = torch.promote_types(z.dtype, torch.float32)
    zw, rw, low, high = (t.to(work) for t in (z, r, lo, hi))
    a = zw.abs()
    s = torch.sign(zw)

    def mass(lam):
        return (s * (a - lam).clamp_min(0)).clamp(low, high).abs().sum(dim=1, keepdim=True)

    lam_lo = torch.zeros_like(rw)
    lam_hi = a.amax(dim=1, keepdim=True)
    for _ in range(_BISECTIONS):
        mid = 0.5 * (lam_lo + lam_hi)
        over = mass(mid) > rw
        lam_lo = torch.where(over, mid, lam_lo)
        lam_hi = torch.where(over, lam_hi, mid)
    lam = torch.where(mass(torch.zeros_like(rw)) <= rw, torch.zeros_like(rw), lam_hi)
    return (s * (a - lam).clamp_min(0)).clamp(low, high).to(z.dtype)


def box_room(xk: torch.Tensor, clamp):
    """Per-entry room (down, up) to the box from xk, shape (n, N) each; None without a box."""
    if clamp is None:
        return None
    xf = xk.reshape(xk.shape[0], -1)
    return (xf - clamp[0]).clamp_min(0), (clamp[1] - xf).clamp_min(0)


def sparse_l1_direction(g: torch.Tensor, room, sparsity: float) -> torch.Tensor:
    r"""Box-aware sparse l1 step direction of SLIDE (Tramer and Boneh, NeurIPS 2019, Alg. 1; their
    cleverhans ``SparseL1Descent`` with ``clip_grad=True``).

    Entries whose ascent direction leaves the box (no room in the sign of the gradient) are zeroed;
    the direction is :math:`\operatorname{sign}(g)\,1\{|g_i| \ge P_q\} / \#\{|g_i| \ge P_q\}`, P_q the
    q-quantile (``sparsity``) of the remaining :math:`|g_i|`, which has unit l1 norm. The one-hot
    steepest direction (q -> 1) without the box test stalls once its coordinate reaches the box.
    """
    n, N = g.shape
    a = g.abs()
    if room is not None:
        down, up = room
        blocked = torch.where(g > 0, up <= 0, torch.where(g < 0, down <= 0, torch.ones_like(up, dtype=torch.bool)))
        a = torch.where(blocked, torch.zeros_like(a), a)
    k = max(1, N - int(math.floor(sparsity * N)))
    thr = torch.topk(a, k, dim=1).values[:, -1:]
    on = (a >= thr) & (a > 0)
    count = on.sum(dim=1, keepdim=True).clamp_min(1).to(g.dtype)
    return torch.sign(g) * on.to(g.dtype) / count


def greedy_l1_box_step(g: torch.Tensor, room, r: torch.Tensor) -> torch.Tensor:
    r"""The maximizer of :math:`g\cdot\delta` over :math:`\{\|\delta\|_1 \le r\}` intersected with the box.

    A fractional knapsack: the budget r is spent on the entries in decreasing order of :math:`|g_i|`, each
    up to its room to the box in the direction of :math:`\operatorname{sign}(g_i)`.
    """
    down, up = room
    cap = torch.where(g > 0, up, torch.where(g < 0, down, torch.zeros_like(up)))
    order = torch.argsort(g.abs(), dim=1, descending=True)
    cap_sorted = cap.gather(1, order)
    before = cap_sorted.cumsum(dim=1) - cap_sorted
    take_sorted = torch.minimum(cap_sorted, (r - before).clamp_min(0))
    take = torch.zeros_like(take_sorted).scatter(1, order, take_sorted)
    return torch.sign(g) * take


# L1-APGD's schedule, from Croce and Hein (2021), Sec. 4 and their reference implementation's defaults:
# the step starts at eps and is divided by 1.5 at each checkpoint (every 4 % of the iterations), down to
# eps / 10, unless the best point got sparser (its l0 norm fell below 95 % of the last checkpoint's), in
# which case the step goes back to eps and the iterate restarts from the best point; the fraction of
# coordinates a step moves starts at 20 % and is then the best point's l0 fraction / 1.5.
_APGD_START_FRACTION = 0.2
_APGD_STEP_DECAY = 1.5
_APGD_MIN_STEP = 0.1
_APGD_SPARSER = 0.95
_APGD_CHECKPOINT = 0.04


def apgd_l1(loss_grad, xd: torch.Tensor, r: torch.Tensor, *, steps: int, clamp, start: torch.Tensor,
            success_fn=None):
    r"""L1-APGD (Croce and Hein, ICML 2021): sparse sign steps of adaptive length and sparsity, each
    projected exactly onto :math:`\{\|\delta\|_1 \le r\} \cap \{lo \le x + \delta \le hi\}`.

    At iterate :math:`x_k` with gradient g the step moves the coordinates whose :math:`|g_i|` is among
    the largest :math:`\lceil q_k N \rceil` of those that can still move toward the ascent inside the box
    (the box-aware choice of Tramer and Boneh's SLIDE; a blocked coordinate would spend budget the
    projection takes back), by :math:`\eta_k \operatorname{sign}(g_i) / \#\{\text{moved}\}`, an l1
    step of length :math:`\eta_k`. Every ``max(1, floor(0.04 steps))`` iterations (a checkpoint) the
    schedule adapts per sample (constants above): :math:`q` to the l0 fraction of the best point so
    far over 1.5, and :math:`\eta` divided by 1.5 (at least r/10), or reset to r with a restart from
    the best point when that point got sparser. Nothing is read back to the host.

    Parameters
    ----------
    loss_grad : callable x -> (per-sample loss (n,), input gradient of x's shape)
    xd : torch.Tensor, shape (n, ...)
        Clean points.
    r : torch.Tensor, shape (n, 1)
        Radii.
    steps : int >= 1
    clamp : (low, high) or None
    start : torch.Tensor, shape of xd
        First iterate (projected onto the threat model here).
    success_fn : callable x -> bool (n,), optional

    Returns
    -------
    (x_best, loss_best, first_success, found): the highest-loss iterate and its loss, the first
    iterate with ``success_fn`` true (x_best where none), and where one was found.
    """
    n = xd.shape[0]
    shape = (-1,) + (1,) * (xd.ndim - 1)
    xf = xd.reshape(n, -1)
    N = xf.shape[1]
    if clamp is None:
        lo = hi = None

        def project(z):
            return project_l1(z, r)
    else:
        lo, hi = (clamp[0] - xf).clamp_max(0), (clamp[1] - xf).clamp_min(0)

        def project(z):
            return project_l1_box(z, r, lo, hi)

    delta = project((start - xd).reshape(n, -1))
    loss, g = loss_grad((xf + delta).reshape(xd.shape))
    loss_best, delta_best, g_best = loss.detach(), delta, g
    found = torch.zeros(n, dtype=torch.bool, device=xd.device)
    first = (xf + delta).reshape(xd.shape)
    if success_fn is not None:
        found = success_fn(first)
    eta = r.clone()
    frac = torch.full((n, 1), _APGD_START_FRACTION, dtype=r.dtype, device=r.device)
    nnz_old = torch.full((n, 1), float(N), dtype=r.dtype, device=r.device)
    every = max(1, int(math.floor(_APGD_CHECKPOINT * steps)))
    for it in range(steps):
        gf = g.reshape(n, -1)
        a = gf.abs()
        if clamp is not None:
            down, up = delta - lo, hi - delta  # room to the box from the iterate
            blocked = torch.where(gf > 0, up <= 0, torch.where(gf < 0, down <= 0, torch.ones_like(up, dtype=torch.bool)))
            a = torch.where(blocked, torch.zeros_like(a), a)
        k = (frac * N).ceil().clamp(1, N).to(torch.long)  # (n, 1) coordinates to move
        srt = torch.sort(a, dim=1, descending=True).values
        thr = srt.gather(1, k - 1)
        on = (a >= thr) & (a > 0)
        d = torch.sign(gf) * on.to(gf.dtype) / on.sum(dim=1, keepdim=True).clamp_min(1).to(gf.dtype)
        delta = project(delta + eta.to(gf.dtype) * d).detach()
        x_new = (xf + delta).reshape(xd.shape)
        loss, g = loss_grad(x_new)
        loss = loss.detach()
        if success_fn is not None:
            with torch.no_grad():
                ok = success_fn(x_new) & ~found
            first = torch.where(ok.reshape(shape), x_new, first)
            found = found | ok
        better = (loss > loss_best).reshape(-1, 1)
        delta_best = torch.where(better, delta, delta_best)
        g_best = torch.where(better.reshape(shape), g, g_best)
        loss_best = torch.maximum(loss, loss_best)
        if (it + 1) % every == 0:
            nnz = (delta_best != 0).sum(dim=1, keepdim=True).to(r.dtype)
            sparser = nnz < _APGD_SPARSER * nnz_old
            frac = (nnz / N / _APGD_STEP_DECAY).clamp(1.0 / N, 1.0)
            eta = torch.where(sparser, r, torch.maximum(eta / _APGD_STEP_DECAY, _APGD_MIN_STEP * r))
            nnz_old = nnz
            delta = torch.where(sparser, delta_best, delta)
            g = torch.where(sparser.reshape(shape), g_best, g)
    best = (xf + delta_best).reshape(xd.shape)
    if success_fn is None:
        first = best
    else:
        first = torch.where(found.reshape(shape), first, best)
    return best, loss_best, first, found
