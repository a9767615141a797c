"""Independent references for the lipconv.nn tests and ``benchmarks/nn_audit.py`` (which loads this file):
written from the papers' definitions with plain torch / numpy / cvxpy, sharing no code with lipconv."""
from __future__ import annotations

import math

import numpy as np
import torch


def dense_gradient_norm_max(model, x, c, j, *, radius, n_random=4000, ascent=50, starts=20, step=0.02, seed=0):
    """Largest ||grad (f_c - f_j)||_2 met over the l2 ball of ``radius`` around x (clipped to [0, 1]): the best
    of ``n_random`` uniform points, then ``ascent`` steps of projected gradient ascent on that norm (length
    ``step`` times the radius) from the ``starts`` best. Attained, so a lower bound of the true maximum."""
    gen = torch.Generator().manual_seed(seed)
    N = x.numel()
    g = torch.randn((n_random, N), generator=gen, dtype=x.dtype)
    pts = (x.reshape(1, -1) + g / g.norm(dim=1, keepdim=True) * radius
           * torch.rand((n_random, 1), generator=gen, dtype=x.dtype) ** (1 / N)).clamp(0, 1)

    def norms(z, create=False):
        z = z.clone().requires_grad_(True)
        out = model(z)
        gr = torch.autograd.grad((out[:, c] - out[:, j]).sum(), z, create_graph=create)[0]
        return gr.norm(dim=1), z

    vals, _ = norms(pts)
    best = float(vals.detach().max())
    z = pts[vals.argsort(descending=True)[:starts]].detach()
    for _ in range(ascent):
        v, zg = norms(z, create=True)
        best = max(best, float(v.detach().max()))
        d = torch.autograd.grad(v.sum(), zg, allow_unused=True)[0]
        if d is None:
            break
        z = z + step * radius * d / d.norm(dim=1, keepdim=True).clamp_min(1e-12)
        off = z - x.reshape(1, -1)
        z = (x.reshape(1, -1) + off * (radius / off.norm(dim=1, keepdim=True)).clamp(max=1)).clamp(0, 1).detach()
    return best


def log_form_best_loss(X, Z, L_fixed, *, eps=0.1):
    """B(L) for the regularized cross-entropy of [FCAO] eq. (4.6): an all-pairs cvxpy program in log form (the
    simplex with its bounds, SCS to 1e-9). Returns (value, status)."""
    import cvxpy as cp

    n, k = Z.shape
    U = cp.Variable((n, k))
    i, j = np.triu_indices(n, 1)
    dist = np.linalg.norm(X[i] - X[j], axis=1)
    cons = [U >= 0, cp.sum(U, axis=1) == 1, cp.norm(U[i] - U[j], 2, axis=1) <= L_fixed * dist]
    obj = (cp.sum(cp.multiply(-(Z + eps), cp.log(U + eps))) + np.sum((Z + eps) * np.log(Z + eps))) / n
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver="SCS", eps=1e-9, max_iters=100_000)
    return prob.value, prob.status


def box_l1_distance_of_linear(model, x):
    """Exact smallest l1 perturbation inside [0, 1]^N that flips a linear two-class model's decision at each
    row of x: the margin spent on the largest |w_i| first, each up to its room to the box (inf if it cannot)."""
    logits = model(x).detach()
    w = (model[0].weight[1] - model[0].weight[0]).detach().numpy()
    out = []
    for i in range(x.shape[0]):
        wi = w if int(logits[i].argmax()) == 0 else -w  # the direction that raises the other class
        left, d = abs(float(logits[i, 1] - logits[i, 0])), 0.0
        room = np.where(wi > 0, 1 - x[i].numpy(), x[i].numpy())
        for k in np.argsort(-np.abs(wi)):
            take = min(room[k], left / abs(wi[k]))
            d, left = d + take, left - take * abs(wi[k])
            if left <= 0:
                break
        out.append(d if left <= 1e-12 else math.inf)
    return np.array(out)
