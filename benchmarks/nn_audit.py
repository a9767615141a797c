"""Side-by-side audit of lipconv.nn on small digits models (issues 16 and 28, re-run).

Models on scikit-learn's 8x8 digits (inputs in [0, 1]^64, one CPU thread): a ReLU MLP, a tanh MLP, a
CNN, a CNN with BatchNorm, and the MLP and CNN trained with lipconv's finite-difference gradient
penalty ([FO] Algorithm 1; ``mlp_gp``, ``cnn_gp``), each trained for a few epochs with Adam from a
fixed seed. Each section prints one row of the issue with the quantity it was measured by:

* ``linf``: Linf PGD / FGSM against torchattacks and ART (bit-identity), L2 PGD against ART;
* ``l1``: robust accuracy at L1 eps = 2 of lipconv's L1-APGD (one run of 100 steps, four of 25),
  of its fixed-step SLIDE, of torchattacks' FAB-L1 (``attack_single_run``, 100 steps; its
  ``perturb`` crashes in 3.5.1 for L1) and of ART's AutoProjectedGradientDescent (norm 1, 100
  steps); L1 minimal distances of ``minimal_adversarial_distance`` against FAB's (medians, the
  median per-sample ratio, the share within 5 %);
* ``l1_old``: issue 16's L1 table (eps 4, the one-hot step, the independent sparse reference);
* ``clever``: lipconv's CLEVER bracket [attained lower, certified upper] and estimate against an
  independent gradient-norm search (dense uniform sampling and projected ascent, written here),
  beside ART's ``clever_t``;
* ``ce``: ``lipschitz_loss_gap(loss="cross_entropy")`` on 30 training digits against an
  independent cvxpy program in log form (SCS);
* ``bf16``: the finite-difference penalty in bfloat16 / float16 against the exact one;
* ``lipschitz``: issue 16's table (GEV, CLEVER with and without refinement, ART);
* ``pq``: the (p, q) iteration against the closed forms of [RKH] Table 1;
* ``conv``: the global spectral penalty's convolution norms against the dense operator's;
* ``dtype``: the Jacobian penalties in bfloat16 / float16.

Usage: ``python benchmarks/nn_audit.py [--only l1,lipschitz] [--n 100]``. torchattacks and ART are
optional (``pip install --no-deps torchattacks adversarial-robustness-toolbox``); their sections are
skipped without them. The machine this was run on was shared (load average printed).
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch
import torch.nn as nn

import lipconv.nn as L

ISSUE16_MODELS = ("mlp", "tanh_mlp", "cnn", "cnn_bn")
# FD-penalty weights of the "_gp" models: the largest of 0.3 / 1.0 / 3.0 keeping 95 % test accuracy.
GP_WEIGHT = {"mlp": 0.3, "cnn": 1.0}


def make_model(kind: str, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    if kind == "mlp":
        return nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 10))
    if kind == "tanh_mlp":
        return nn.Sequential(nn.Linear(64, 128), nn.Tanh(), nn.Linear(128, 128), nn.Tanh(), nn.Linear(128, 10))
    bn = [nn.BatchNorm2d(16)] if kind == "cnn_bn" else []
    bn2 = [nn.BatchNorm2d(32)] if kind == "cnn_bn" else []
    return nn.Sequential(nn.Unflatten(1, (1, 8, 8)), nn.Conv2d(1, 16, 3, padding=1), *bn, nn.ReLU(),
                         nn.Conv2d(16, 32, 3, stride=2, padding=1), *bn2, nn.ReLU(), nn.Flatten(),
                         nn.Linear(32 * 4 * 4, 10))


def load_digits(seed: int = 0):
    from sklearn.datasets import load_digits as _load
    from sklearn.model_selection import train_test_split

    X, y = _load(return_X_y=True)
    X = X / 16.0
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    g = lambda a: torch.as_tensor(a, dtype=torch.long)  # noqa: E731
    return f(Xtr), g(ytr), f(Xte), g(yte)


def train(kind: str, Xtr, ytr, *, epochs: int = 15, seed: int = 0) -> nn.Module:
    """Adam, batches of 64; a ``_gp`` kind adds lipconv's FD gradient penalty (squared l2, h = 0.01)."""
    import functools

    base = kind[:-3] if kind.endswith("_gp") else kind
    model = make_model(base, seed)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    gen = torch.Generator().manual_seed(seed)
    terms = {}
    if kind.endswith("_gp"):
        terms["gp"] = (GP_WEIGHT[base], functools.partial(L.fd_gradient_penalty, norm="L2", h=0.01))
    objective = L.RegularizedLoss(terms)
    for _ in range(epochs):
        perm = torch.randperm(Xtr.shape[0], generator=gen)
        for s in range(0, Xtr.shape[0], 64):
            idx = perm[s:s + 64]
            loss = objective(model, Xtr[idx], ytr[idx]).total
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


# ----------------------------------------------------------------------------- independent L1 reference
def reference_sparse_l1(model, x, y, *, eps, steps, alpha, q=0.95, seed=0):
    """Box-aware sparse L1 descent written from Tramer and Boneh (2019), Alg. 1, and the cleverhans
    ``SparseL1Descent`` conventions (``clip_grad=True``: entries that would leave [0, 1] get no
    gradient), with the exact projection onto {||d||_1 <= eps} intersected with the box by sorting
    (Croce and Hein 2021, Alg. 2, here by a per-sample numpy loop: slow, independent)."""
    rng = np.random.default_rng(seed)
    xd = x.detach().numpy().astype(np.float64).reshape(x.shape[0], -1)
    n, N = xd.shape
    # uniform start in the L1 ball (ART's random_sphere recipe), then projected
    u = np.sort(rng.uniform(size=(n, N)), axis=1)
    sp = np.diff(np.concatenate([np.zeros((n, 1)), u], axis=1), axis=1)
    delta = eps * sp * rng.choice([-1, 1], (n, N))
    delta = np.stack([_np_project_l1_box(delta[i], eps, -xd[i], 1 - xd[i]) for i in range(n)])
    for _ in range(steps):
        xa = torch.tensor(xd + delta, dtype=x.dtype).reshape(x.shape).requires_grad_(True)
        loss = nn.functional.cross_entropy(model(xa), y, reduction="sum")
        g = torch.autograd.grad(loss, xa)[0].reshape(n, N).double().numpy()
        xa_np = xd + delta
        g = np.where(((xa_np <= 0) & (g < 0)) | ((xa_np >= 1) & (g > 0)), 0.0, g)
        a = np.abs(g)
        k = int(np.floor(q * N))
        thr = np.sort(a, axis=1)[:, min(k, N - 1)][:, None]
        on = (a >= thr) & (a > 0)
        e = np.sign(g) * on / np.maximum(on.sum(axis=1, keepdims=True), 1)
        z = delta + alpha * e
        delta = np.stack([_np_project_l1_box(z[i], eps, -xd[i], 1 - xd[i]) for i in range(n)])
    return torch.tensor(xd + delta, dtype=x.dtype).reshape(x.shape)


def _np_project_l1_box(z, r, lo, hi):
    """Projection of z onto {||d||_1 <= r, lo <= d <= hi} by sorting the breakpoints of
    lambda -> ||clip(soft(z, lambda), lo, hi)||_1 (piecewise linear, nonincreasing)."""
    d0 = np.clip(z, lo, hi)
    if np.abs(d0).sum() <= r:
        return d0
    a = np.abs(z)
    cap = np.where(z >= 0, hi, -lo)  # room in the sign of z
    # |d_i(lam)| = min(cap_i, max(a_i - lam, 0)); breakpoints at a_i - cap_i and a_i
    bps = np.unique(np.concatenate([a - cap, a, [0.0]]).clip(0))

    def mass(lam):
        return np.minimum(cap, np.maximum(a - lam, 0)).sum()

    vals = np.array([mass(b) for b in bps])
    j = np.searchsorted(-vals, -r)  # first breakpoint with mass <= r
    l0, l1 = bps[j - 1], bps[j]
    m0, m1 = vals[j - 1], vals[j]
    lam = l0 + (m0 - r) * (l1 - l0) / (m0 - m1)
    return np.sign(z) * np.minimum(cap, np.maximum(a - lam, 0))


def _acc(model, x, y):
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def one_hot_stall_fraction(model, x, y, *, eps, steps):
    """Fraction of one-hot L1 PGD steps (the previous lipconv / ART step) that move nothing."""
    xd = x.detach()
    xk = xd.clone()
    alpha = 2.5 * eps / steps
    stalled = 0
    for _ in range(steps):
        xg = xk.clone().requires_grad_(True)
        g = torch.autograd.grad(nn.functional.cross_entropy(model(xg), y, reduction="sum"), xg)[0]
        i = g.abs().argmax(dim=1)
        v = torch.zeros_like(g).scatter(1, i[:, None], torch.sign(g.gather(1, i[:, None])))
        new = (xd + L.project_ball(xk + alpha * v - xd, eps, "L1")).clamp(0, 1)
        stalled += int((new == xk).all(dim=1).sum())
        xk = new
    return stalled / (steps * x.shape[0])


def section_l1_old(models, Xte, yte, n, steps=20):
    print(f"\n## L1 attacks (eps = 4, {steps} steps, step 2.5 eps / steps, {n} test digits)")
    print(f"{'model':<10}{'clean':>7}{'one-hot':>9}{'lipconv':>9}{'reference':>11}{'stalled':>9}")
    x, y = Xte[:n], yte[:n]
    out = {}
    for kind, model in ((k, models[k]) for k in ISSUE16_MODELS):
        eps = 4.0
        alpha = 2.5 * eps / steps
        ours = _acc(model, L.pgd(model, x, y, eps=eps, norm="L1", steps=steps, seed=0), y)
        ref = _acc(model, reference_sparse_l1(model, x, y, eps=eps, steps=steps, alpha=alpha), y)
        onehot = _acc(model, _one_hot_pgd(model, x, y, eps, steps), y)
        stall = one_hot_stall_fraction(model, x, y, eps=eps, steps=steps)
        print(f"{kind:<10}{_acc(model, x, y):>7.3f}{onehot:>9.3f}{ours:>9.3f}{ref:>11.3f}{stall:>9.2f}")
        out[kind] = (ours, ref)
    print("\nminimal_adversarial_distance, L1 (eps_max 8, 8 bisections, 20 steps)")
    print(f"{'model':<10}{'inf':>5}{'finite':>8}{'median':>8}{'ref at 1/4 succeeds':>21}")
    for kind, model in ((k, models[k]) for k in ISSUE16_MODELS):
        res = L.minimal_adversarial_distance(model, x, y, norm="L1", eps_max=8.0, bisections=8, steps=20)
        d = res.distances
        fin = np.isfinite(d) & (d > 0)
        quarter = 0
        if fin.any():
            idx = torch.as_tensor(np.nonzero(fin)[0])
            rad = torch.as_tensor(d[fin] / 4, dtype=torch.float32)
            xq = torch.stack([reference_sparse_l1(model, x[i:i + 1], y[i:i + 1], eps=float(r), steps=40,
                                                  alpha=2.5 * float(r) / 40)[0]
                              for i, r in zip(idx.tolist(), rad)])
            with torch.no_grad():
                quarter = int((model(xq).argmax(1) != y[idx]).sum())
        print(f"{kind:<10}{int(np.isinf(d).sum()):>5}{int(fin.sum()):>8}{float(np.median(d)):>8.3f}"
              f"{quarter:>14} / {int(fin.sum())}")
    return out


def _one_hot_pgd(model, x, y, eps, steps):
    xd = x.detach()
    xk = xd.clone()
    alpha = 2.5 * eps / steps
    for _ in range(steps):
        xg = xk.clone().requires_grad_(True)
        g = torch.autograd.grad(nn.functional.cross_entropy(model(xg), y, reduction="sum"), xg)[0]
        i = g.abs().argmax(dim=1)
        v = torch.zeros_like(g).scatter(1, i[:, None], torch.sign(g.gather(1, i[:, None])))
        xk = (xd + L.project_ball(xk + alpha * v - xd, eps, "L1")).clamp(0, 1)
    return xk


def _art_classifier(model):
    from art.estimators.classification import PyTorchClassifier

    return PyTorchClassifier(model=model, loss=nn.CrossEntropyLoss(), input_shape=(64,), nb_classes=10,
                             clip_values=(0.0, 1.0))


def _references():
    """The independent references shared with the tests (tests/_nn_references.py)."""
    import importlib.util
    import pathlib

    path = pathlib.Path(__file__).resolve().parents[1] / "tests" / "_nn_references.py"
    spec = importlib.util.spec_from_file_location("_nn_references", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def dense_search_max(model, x, c, j, *, radius, n_random=4000, ascent=50, seed=0):
    """Reference maximum of ||grad(f_c - f_j)||_2 over the L2 ball (clipped to [0, 1]): the best of
    many uniform points, then projected gradient ascent on the gradient norm from the 20 best."""
    return _references().dense_gradient_norm_max(model, x, c, j, radius=radius, n_random=n_random, ascent=ascent,
                                                  starts=20, step=0.02, seed=seed)


def _art_margin_over_clever(model, x, c, j, *, radius, seed):
    """ART's CLEVER as a Lipschitz estimate: margin / clever_t score (NaN when the score is the radius,
    which carries no estimate)."""
    import art.metrics as art_metrics

    np.random.seed(seed)
    score = art_metrics.clever_t(_art_classifier(model), x.numpy(), j, 50, 20, radius, 2, pool_factor=10)
    logits = model(x[None]).detach()[0]
    return float(logits[c] - logits[j]) / score if score < radius else np.nan


def section_lipschitz(models, Xte, yte, n, n_samples=5, radius=0.5):
    """45 (sample, class) cases per model, as in issue 16: 5 test digits x 9 target classes."""
    print(f"\n## Lipschitz estimates of f_c - f_j on the L2 ball of radius {radius} "
          f"({n_samples} digits x 9 classes; CLEVER 50 batches of 20, pool factor 10)")
    print("GEV: [FO]'s (1 - 1e-3) quantile of 50 maxima of fresh batches of 20 (fit_extreme_value, guarded);"
          " CLEVER: lipconv.nn.clever with ART's sampling (refine=0) and with 20 ascent steps (refine=20);"
          " ART: art.metrics.clever_t (margin / score where score < radius); ratios to the dense-search maximum")
    print(f"{'model':<10}{'GEV<dense':>10}{'med':>7}{'fb':>4}{'CLEVER0<dense':>15}{'med':>7}{'fb':>4}"
          f"{'CLEVER20<dense':>16}{'med':>7}{'ART<dense':>11}{'med':>7}{'upper >= all':>15}")
    try:
        import art.metrics as art_metrics
    except ImportError:
        art_metrics = None
    for kind in ("tanh_mlp", "mlp"):
        model = models[kind]
        x = Xte[:n_samples]
        ours = L.clever(model, x, radius=radius, nb_batches=50, batch_size=20, seed=0)
        ours0 = L.clever(model, x, radius=radius, nb_batches=50, batch_size=20, seed=0, refine=0)
        gev_ratio, gev_fb, cl_ratio, cl0_ratio, art_ratio, upper_ok = [], 0, [], [], [], 0
        for i in range(n_samples):
            c = int(ours.predicted[i])
            for j in range(10):
                if j == c:
                    continue
                dense = dense_search_max(model, x[i], c, j, radius=radius)
                # [FO]'s recipe: GEV (1 - 1e-3) quantile of maxima over fresh batches of 20
                gen = torch.Generator().manual_seed(i * 10 + j)
                g = torch.randn((50 * 20, 64), generator=gen)
                pts = (x[i].reshape(1, -1) + g / g.norm(dim=1, keepdim=True) * radius
                       * torch.rand((50 * 20, 1), generator=gen) ** (1 / 64)).clamp(0, 1).requires_grad_(True)
                out = model(pts)
                gn = torch.autograd.grad((out[:, c] - out[:, j]).sum(), pts)[0].norm(dim=1)
                fit = L.fit_extreme_value(gn.reshape(50, 20).amax(dim=1).detach().numpy())
                gev_ratio.append(fit.estimate / dense)
                gev_fb += fit.fallback is not None
                cl_ratio.append(ours.lipschitz[i, j] / dense)
                cl0_ratio.append(ours0.lipschitz[i, j] / dense)
                upper_ok += ours.upper[i, j] >= max(dense, ours.sample_max[i, j]) * (1 - 1e-9)
                if art_metrics is not None:
                    art_ratio.append(_art_margin_over_clever(model, x[i], c, j, radius=radius, seed=i * 10 + j) / dense)
        gr, cr, c0, ar = (np.array(a) for a in (gev_ratio, cl_ratio, cl0_ratio, art_ratio))

        def below(a):
            return f"{int(np.nansum(a < 1 - 1e-6))}/{int(np.isfinite(a).sum())}"

        med = np.nanmedian(ar) if np.isfinite(ar).any() else np.nan
        print(f"{kind:<10}{below(gr):>10}{np.median(gr):>7.3f}{gev_fb:>4}{below(c0):>15}{np.median(c0):>7.3f}"
              f"{int(ours0.fallback.sum()):>4}{below(cr):>16}{np.median(cr):>7.3f}{below(ar):>11}{med:>7.3f}"
              f"{upper_ok:>9} / {cr.size}")
        print(f"  bracket on the test set: {L.lipschitz_bracket(model, Xte[:200], norm='L2', out_norm='L2')}")
        print(f"  sample 0: {ours.brackets()[0]}")


def section_pq(models, Xte, yte, n):
    from lipconv.norms import operator_norm, operator_norm_iteration

    print("\n## (p, q) iteration (one random start, 100 passes) / exact closed form, [RKH] Table 1")
    rng = np.random.default_rng(0)
    J = L.jacobian(models["tanh_mlp"], Xte[:20]).double().numpy()
    print(f"{'(p, q)':<12}{'Gaussian 20x30 median':>22}{'min':>7}{'digits Jacobians median':>25}{'min':>7}")
    for p, q in [(1, 1), (1, 2), (1, np.inf), (2, np.inf), (np.inf, np.inf), (2, 2)]:
        gauss, jac = [], []
        for t in range(20):
            A_ = rng.standard_normal((20, 30))
            gauss.append(operator_norm_iteration(lambda v, A_=A_: v @ A_.T, lambda u, A_=A_: u @ A_, p, q,
                                                 shape=A_.shape, seed=t).value / operator_norm(A_, p, q).value)
            B = J[t]
            jac.append(operator_norm_iteration(lambda v, B=B: v @ B.T, lambda u, B=B: u @ B, p, q, shape=B.shape,
                                               seed=t).value / operator_norm(B, p, q).value)
        print(f"{str((p, q)):<12}{np.median(gauss):>22.3f}{np.min(gauss):>7.3f}{np.median(jac):>25.3f}{np.min(jac):>7.3f}")


def section_conv(models, Xte, yte, n):
    print("\n## Global spectral penalty on the digits CNN: per-layer sigma (200 power iterations)")
    model = models["cnn"]
    st_op, st_rs = {}, {}
    for _ in range(200):
        op = L.global_spectral_penalty(model, state=st_op, input_shape=(64,))
        rs = L.global_spectral_penalty(model, state=st_rs, conv="reshaped")
    print(f"{'layer':<8}{'operator':>10}{'reshaped':>10}{'dense SVD':>11}{'dense/reshaped':>16}")
    for k, name in enumerate(op.info["layers"]):
        mod = dict(model.named_modules())[name]
        if isinstance(mod, nn.Conv2d):
            shape = st_op[name][1].shape
            Jc = torch.autograd.functional.jacobian(lambda t, mod=mod: mod._conv_forward(t, mod.weight.detach(), None),
                                                    torch.zeros(shape))
            dense = float(torch.linalg.matrix_norm(Jc.reshape(Jc.shape[:Jc.ndim // 2].numel(), -1), 2))
        else:
            dense = float(torch.linalg.matrix_norm(mod.weight.detach(), 2))
        print(f"{name:<8}{float(op.norms[k]):>10.4f}{float(rs.norms[k]):>10.4f}{dense:>11.4f}"
              f"{dense / float(rs.norms[k]):>16.2f}")


def section_dtype(models, Xte, yte, n):
    print("\n## Jacobian penalties in low precision (CPU): value / float64 value")
    for dt in (torch.bfloat16, torch.float16):
        for kind in ("mlp", "cnn_bn"):
            m64 = copy_model(models[kind]).double()
            mlo = copy_model(models[kind]).to(dt)
            x = Xte[:16]
            ref = float(L.jacobian_spectral_penalty(m64, x.double(), iters=10).value.detach())
            try:
                r = L.jacobian_spectral_penalty(mlo, x.to(dt), iters=10)
                r.value.backward()
                msg = f"{float(r.value.detach()) / ref:.3f} (dtype {r.value.dtype})"
            except Exception as e:  # noqa: BLE001 - printed, this is a report
                msg = f"fails: {type(e).__name__}: {e}"
            print(f"{str(dt):<16}{kind:<8}{msg}")


def section_syncs(models, Xte, yte, n):
    """Host reads per call, counted by wrapping the tensor methods that read a value back."""
    print("\n## Host reads (Tensor.__bool__/item/tolist/numpy/cpu/__float__/__int__) per call")
    x, y = Xte[:32], yte[:32]
    calls = {
        "jacobian_spectral_penalty(iters=10)": lambda: L.jacobian_spectral_penalty(models["cnn"], x, iters=10),
        "pgd(L2, 10 steps)": lambda: L.pgd(models["cnn"], x, y, eps=0.5, norm="L2", steps=10),
        "pgd(L1, 10 steps)": lambda: L.pgd(models["cnn"], x, y, eps=4.0, norm="L1", steps=10),
        "minimal_adversarial_distance(L2, 4 bisections)":
            lambda: L.minimal_adversarial_distance(models["cnn"], x, y, eps_max=4.0, bisections=4, steps=10),
    }
    for name, f in calls.items():
        print(f"{name:<48}{count_host_reads(f):>6}")


def count_host_reads(f):
    names = ("__bool__", "item", "tolist", "numpy", "cpu", "__float__", "__int__", "__index__")
    orig = {k: getattr(torch.Tensor, k) for k in names}
    count = [0]

    def wrap(fn):
        def inner(self, *a, **kw):
            count[0] += 1
            return fn(self, *a, **kw)
        return inner

    try:
        for k, fn in orig.items():
            setattr(torch.Tensor, k, wrap(fn))
        f()
    finally:
        for k, fn in orig.items():
            setattr(torch.Tensor, k, fn)
    return count[0]


def section_linf(models, Xte, yte, n):
    print("\n## Linf / L2 attacks against torchattacks 3.5.1 and ART 1.20.1 (no random start)")
    import torchattacks as ta
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent

    x, y = Xte[:n], yte[:n]
    for kind, model in ((k, models[k]) for k in ISSUE16_MODELS):
        eps = 0.1
        ours = L.pgd(model, x, y, eps=eps, norm="Linf", steps=10, alpha=eps / 4, random_start=False)
        atk = ta.PGD(model, eps=eps, alpha=eps / 4, steps=10, random_start=False)
        theirs = atk(x, y)
        art_pgd = ProjectedGradientDescent(_art_classifier(model), norm=np.inf, eps=eps, eps_step=eps / 4, max_iter=10,
                                           num_random_init=0, verbose=False)
        art_x = torch.as_tensor(art_pgd.generate(x.numpy(), y.numpy()))
        f_ours = L.fgsm(model, x, y, eps=eps)
        f_ta = ta.FGSM(model, eps=eps)(x, y)
        f_art = torch.as_tensor(FastGradientMethod(_art_classifier(model), norm=np.inf, eps=eps).generate(
            x.numpy(), y.numpy()))
        l2 = L.pgd(model, x, y, eps=1.0, norm="L2", steps=1, alpha=0.25, random_start=False)
        art_l2 = torch.as_tensor(ProjectedGradientDescent(_art_classifier(model), norm=2, eps=1.0, eps_step=0.25,
                                                          max_iter=1, num_random_init=0, verbose=False)
                                 .generate(x.numpy(), y.numpy()))
        l2_10 = L.pgd(model, x, y, eps=1.0, norm="L2", steps=10, alpha=0.25, random_start=False)
        art_10 = torch.as_tensor(ProjectedGradientDescent(_art_classifier(model), norm=2, eps=1.0, eps_step=0.25,
                                                          max_iter=10, num_random_init=0, verbose=False)
                                 .generate(x.numpy(), y.numpy()))
        with torch.no_grad():
            agree = float(((model(l2_10).argmax(1) != y) == (model(art_10).argmax(1) != y)).float().mean())
        print(f"{kind:<10} PGD-Linf max|ours - torchattacks| {float((ours - theirs).abs().max()):.1e}, "
              f"- ART {float((ours - art_x).abs().max()):.1e}; FGSM - torchattacks "
              f"{float((f_ours - f_ta).abs().max()):.1e}, - ART {float((f_ours - f_art).abs().max()):.1e}; "
              f"PGD-L2 1 step - ART {float((l2 - art_l2).abs().max()):.1e}, 10 steps "
              f"{float((l2_10 - art_10).abs().max()):.1e} (ART adds 1e-7 to norms), success agreement {agree:.2f}")

# ----------------------------------------------------------------------------- issue 28
L1_MODELS = ("mlp", "mlp_gp", "cnn", "cnn_gp")


def fab_l1_distances(model, x, y, *, steps=100, eps=2.0, seed=0, ta=None):
    """Per-sample L1 distances of torchattacks' FAB-L1 (``attack_single_run``, no random start; inf where
    it found no adversarial point). 3.5.1's ``perturb`` has no L1 branch (NameError), hence the single run."""
    if ta is None:
        import torchattacks as ta
    atk = ta.FAB(model, norm="L1", steps=steps, eps=eps, n_restarts=1, seed=seed, n_classes=10)
    torch.manual_seed(seed)
    adv = atk.attack_single_run(x, y, use_rand_start=False)
    with torch.no_grad():
        wrong = model(adv).argmax(1) != y
    d = (adv - x).abs().reshape(x.shape[0], -1).sum(1)
    return torch.where(wrong, d, torch.full_like(d, float("inf"))).numpy().astype(np.float64)


def _art_apgd_l1(model, x, y, *, eps, steps):
    from art.attacks.evasion import AutoProjectedGradientDescent

    atk = AutoProjectedGradientDescent(_art_classifier(model), norm=1, eps=eps, eps_step=eps / 10, max_iter=steps,
                                       nb_random_init=1, batch_size=512, verbose=False)
    np.random.seed(0)
    return torch.as_tensor(atk.generate(x.numpy(), y.numpy()))


def _cpu(f):
    t = time.process_time()
    out = f()
    return out, time.process_time() - t


def section_l1(models, Xte, yte, n, eps=2.0):
    x, y = Xte[:n], yte[:n]
    print(f"\n## L1 robust accuracy at eps = {eps} ({n} test digits; 100 gradient steps per attack; CPU seconds)")
    print(f"{'model':<8}{'clean':>7}{'APGD 4x25':>11}{'APGD 1x100':>12}{'SLIDE':>8}{'FAB-L1':>8}{'ART APGD':>10}"
          f"{'best':>7}{'ours-best':>11}   seconds (APGD 4x25 / FAB / ART)")
    for kind in L1_MODELS:
        model = models[kind]
        a4, t4 = _cpu(lambda: _acc(model, L.pgd(model, x, y, eps=eps, norm="L1", steps=25, restarts=4), y))
        a1, _ = _cpu(lambda: _acc(model, L.pgd(model, x, y, eps=eps, norm="L1", steps=100), y))
        sl, _ = _cpu(lambda: _acc(model, L.pgd(model, x, y, eps=eps, norm="L1", steps=100, l1_sparsity=0.95), y))
        fd, tf = _cpu(lambda: fab_l1_distances(model, x, y, steps=100, eps=eps))
        fab = float((fd > eps).mean())
        art, ta_ = _cpu(lambda: _acc(model, _art_apgd_l1(model, x, y, eps=eps, steps=100), y))
        best = min(a4, fab)
        print(f"{kind:<8}{_acc(model, x, y):>7.3f}{a4:>11.3f}{a1:>12.3f}{sl:>8.3f}{fab:>8.3f}{art:>10.3f}{best:>7.3f}"
              f"{a4 - best:>+11.3f}   {t4:.1f} / {tf:.1f} / {ta_:.1f}")
    print("\n## L1 minimal distances: minimal_adversarial_distance (eps_max 8, 8 bisections of four 25-step L1-APGD runs)"
          " against FAB-L1 (100 steps), samples where both found one")
    print(f"{'model':<8}{'both':>6}{'median ours':>13}{'median FAB':>12}{'ratio':>8}{'median ratio':>14}"
          f"{'ours <= 1.05 FAB':>18}{'ours < FAB':>12}{'inf ours/FAB':>14}   seconds (ours / FAB)")
    for kind in L1_MODELS:
        model = models[kind]
        md, tm = _cpu(lambda: L.minimal_adversarial_distance(model, x, y, norm="L1", eps_max=8.0, bisections=8,
                                                             steps=25, restarts=4).distances)
        fd, tf = _cpu(lambda: fab_l1_distances(model, x, y, steps=100, eps=eps))
        both = np.isfinite(md) & np.isfinite(fd) & (md > 0) & (fd > 0)
        r = md[both] / fd[both]
        print(f"{kind:<8}{int(both.sum()):>6}{np.median(md[both]):>13.3f}{np.median(fd[both]):>12.3f}"
              f"{np.median(md[both]) / np.median(fd[both]):>8.3f}{np.median(r):>14.3f}{np.mean(r <= 1.05):>18.2f}"
              f"{np.mean(r < 1):>12.2f}{int(np.isinf(md).sum()):>8}/{int(np.isinf(fd).sum())}   {tm:.1f} / {tf:.1f}")


def section_clever(models, Xte, yte, n, n_samples=5, radius=0.5):
    """45 (sample, class) pairs per model: 5 test digits x 9 target classes, as in issue 16."""
    print(f"\n## CLEVER bracket on the L2 ball of radius {radius} ({n_samples} digits x 9 classes; 50 batches of 20, "
          f"pool factor 10, refine 50) against an independent search (4,000 uniform points, 50 ascent steps from "
          f"the 20 best): est = lipconv's estimate, ref = the search's maximum, lower/upper = the certified bracket")
    print(f"{'model':<9}{'est<ref':>9}{'med est/ref':>13}{'min':>7}{'ref<=upper':>12}{'lower>ref':>11}"
          f"{'lower/ref med':>15}{'capped':>8}{'fallback':>10}{'ART<ref':>9}{'ART med':>9}{'seconds':>9}")
    try:
        import art.metrics as art_metrics
    except ImportError:
        art_metrics = None
    for kind in ("tanh_mlp", "mlp", "mlp_gp"):
        model = models[kind]
        x = Xte[:n_samples]
        res, sec = _cpu(lambda: L.clever(model, x, radius=radius, nb_batches=50, batch_size=20, seed=0))
        est, low, ok, art = [], [], 0, []
        for i in range(n_samples):
            c = int(res.predicted[i])
            for j in (j for j in range(10) if j != c):
                ref = dense_search_max(model, x[i], c, j, radius=radius)
                est.append(res.lipschitz[i, j] / ref)
                low.append(res.sample_max[i, j] / ref)
                ok += ref <= res.upper[i, j] * (1 + 1e-9)
                if art_metrics is not None:
                    art.append(_art_margin_over_clever(model, x[i], c, j, radius=radius, seed=i * 10 + j) / ref)
        est, low, art = np.array(est), np.array(low), np.array(art)
        art_below = f"{int(np.nansum(art < 1 - 1e-6))}/{int(np.isfinite(art).sum())}" if art.size else "-"
        art_med = np.nanmedian(art) if np.isfinite(art).any() else np.nan
        print(f"{kind:<9}{int(np.sum(est < 1 - 1e-6)):>5}/{est.size}{np.median(est):>13.3f}{est.min():>7.3f}"
              f"{ok:>8}/{est.size}{int(np.sum(low > 1 + 1e-6)):>8}/{est.size}{np.median(low):>15.3f}"
              f"{int(res.capped.sum()):>8}{int(res.fallback.sum()):>10}{art_below:>9}{art_med:>9.3g}{sec:>9.1f}")
        print(f"  sample 0: {res.brackets()[0]}")
    print("ART med: margin / score / ref over the pairs whose score is below the radius (a score at the radius "
          "carries no estimate)")


def section_ce(models, Xte, yte, n, n_train=30):
    import warnings

    Xtr, ytr, _, _ = load_digits()
    x, y = Xtr[:n_train].double(), ytr[:n_train]
    print(f"\n## lipschitz_loss_gap(loss='cross_entropy') on {n_train} training digits (float64 copies) against an "
          f"independent log-form cvxpy program (SCS, eps 1e-9), at the data constant")
    print(f"{'model':<9}{'row':<17}{'L':>9}{'lipconv B(L)':>15}{'certified >=':>15}{'rel. gap':>10}{'status':>13}"
          f"{'cvxpy log form':>16}{'|diff|/B':>10}{'s lipconv':>11}{'s cvxpy':>9}")
    for kind in ("mlp", "tanh_mlp", "mlp_gp"):
        model = copy_model(models[kind]).double()
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # an uncertified row would warn: fail loudly instead
            gap, t1 = _cpu(lambda: L.lipschitz_loss_gap(model, x, y, loss="cross_entropy"))
        row = gap.row("data")
        (ref, status), t2 = _cpu(lambda: _references().log_form_best_loss(x.numpy(), np.eye(10)[y.numpy()], row.lipschitz))
        print(f"{kind:<9}{'data':<17}{row.lipschitz:>9.4f}{row.best_loss:>15.8g}{row.lower_bound:>15.8g}"
              f"{row.relative_gap:>10.1e}{'certified' if row.certified else 'NOT':>13}{ref:>16.8g}"
              f"{abs(row.best_loss - ref) / ref:>10.1e}{t1:>11.1f}{t2:>9.1f}")


def section_bf16(models, Xte, yte, n, batch=128):
    print(f"\n## FD gradient penalty (squared l2, default h) in low precision against the exact float64 penalty "
          f"(double backprop); {batch}-digit batches; zero terms = per-sample terms exactly 0")
    print(f"{'model':<9}{'dtype':<10}{'step h':>8}{'batch 1':>9}{'batch 2':>9}{'batch 3':>9}{'zero terms':>12}")
    for kind in ("mlp", "cnn", "mlp_gp", "cnn_gp", "tanh_mlp"):
        m64 = copy_model(models[kind]).double()
        for dt in (torch.bfloat16, torch.float16):
            low = copy_model(models[kind]).to(dt)
            ratios, zeros = [], 0
            for b in range(3):
                xb, yb = Xte[b * batch:(b + 1) * batch], yte[b * batch:(b + 1) * batch]
                ex = float(L.double_backprop_penalty(m64, xb.double(), yb).value.detach())
                r = L.fd_gradient_penalty(low, xb.to(dt), yb)
                ratios.append(float(r.value.detach()) / ex)
                zeros += int((r.per_sample == 0).sum())
            print(f"{kind:<9}{str(dt)[6:]:<10}{r.info['h']:>8.3g}" + "".join(f"{v:>9.3f}" for v in ratios)
                  + f"{zeros:>8} / {3 * batch}")


def copy_model(model):
    import copy

    return copy.deepcopy(model)



class _Models(dict):
    """Models trained on first use (so that a section trains only what it reads)."""

    def __init__(self, data, epochs):
        super().__init__()
        self.data, self.epochs = data, epochs

    def __missing__(self, kind):
        Xtr, ytr, Xte, yte = self.data
        t0 = time.perf_counter()
        model = train(kind, Xtr, ytr, epochs=self.epochs)
        print(f"[trained {kind} in {time.perf_counter() - t0:.1f} s: test accuracy {_acc(model, Xte, yte):.3f}]")
        self[kind] = model
        return model


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="l1,clever,ce,bf16")
    ap.add_argument("--n", type=int, default=200, help="test digits per attack section")
    ap.add_argument("--epochs", type=int, default=15)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    print(f"torch {torch.__version__}, 1 thread, load average {os.getloadavg()} (shared machine)")
    data = load_digits()
    models = _Models(data, args.epochs)
    for sec in args.only.split(","):
        globals()[f"section_{sec}"](models, data[2], data[3], args.n)
    print(f"\nwall {time.perf_counter() - t0:.0f} s, CPU {time.process_time():.0f} s, load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
