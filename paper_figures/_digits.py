"""Small-scale robustness experiments on scikit-learn's digits (8x8 images in [0, 1]^64).

Shared by table2_digits_robustness.py, fig_jacobian_spectrum.py and sec67_bounds_detection.py:
the data split, a seeded MLP, and one training loop per defence of [FCAO] Table 2 / [FOA]
Table 1 / [RKH] built on :mod:`lipconv.nn`.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from functools import partial

# One entry per defence: the (weight, penalty) terms of lipconv.nn.RegularizedLoss, or PGD training.
DEFENCES = ("undefended", "tv", "tv+lipschitz", "fd-gradient", "pgd-at", "jacobian-spectral")
ATTACK_EPS = 0.5  # L2 radius of PGD training and of the "error at radius" column (digits: min
# out-of-class distance 1.18, so eps < 0.59 can in principle be survived by every test point)


def parse_args(description: str, argv=None):
    """Parse the options shared by the digits scripts (those of ``_common.parser`` plus --epochs and
    --eps), prepare the output folder and pin torch to one thread; return ``(args, out)``."""
    try:
        from . import _common
    except ImportError:
        import _common

    p = _common.parser(description)
    p.add_argument("--epochs", type=int, default=40, help="training epochs per model (default 40)")
    p.add_argument("--eps", type=float, default=ATTACK_EPS, help="L2 attack radius (default 0.5)")
    args = p.parse_args(argv)
    out = _common.prepare(args)
    _common.torch_single_thread()
    return args, out


@dataclass(frozen=True)
class Split:
    x_train: object
    y_train: object
    x_test: object
    y_test: object
    seed: int


@dataclass(frozen=True)
class Trained:
    defence: str
    model: object
    seconds: float
    settings: dict = field(default_factory=dict)


def load_split(seed: int = 0, *, n_train: int | None = None, n_test: int | None = None) -> Split:
    """Stratified 75/25 split of digits, as float32 tensors (optionally truncated for smoke tests)."""
    import torch
    from sklearn.model_selection import train_test_split

    from lipconv.datasets import load_sklearn

    X, y = load_sklearn("digits")
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=seed, stratify=y)
    Xtr, ytr = Xtr[:n_train], ytr[:n_train]
    Xte, yte = Xte[:n_test], yte[:n_test]
    f = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    g = lambda a: torch.as_tensor(a, dtype=torch.long)  # noqa: E731
    return Split(f(Xtr), g(ytr), f(Xte), g(yte), seed)


def make_mlp(hidden=(128, 128), *, seed: int = 0):
    """ReLU MLP 64 -> hidden -> 10 (logits), initialized from ``seed``."""
    import torch

    layers, width = [], 64
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for h in hidden:
            layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
            width = h
        layers.append(torch.nn.Linear(width, 10))
        return torch.nn.Sequential(*layers)


def _objective(defence: str, weights: dict):
    import lipconv.nn as lnn

    if defence in ("undefended", "pgd-at"):
        return lnn.RegularizedLoss({})
    if defence == "tv":
        return lnn.RegularizedLoss({"tv": (weights["tv"], partial(lnn.tv_penalty, norm="L2"))})
    if defence == "tv+lipschitz":
        return lnn.RegularizedLoss({"tv": (weights["tv"], partial(lnn.tv_penalty, norm="L2")),
                                    "lip": (weights["lip"], partial(lnn.lipschitz_penalty, norm="L2"))})
    if defence == "fd-gradient":
        return lnn.RegularizedLoss({"fd": (weights["fd"], partial(lnn.fd_gradient_penalty, norm="L2", h=1e-2))})
    if defence == "jacobian-spectral":
        return lnn.RegularizedLoss({"spec": (weights["spec"],
                                             lambda m, x, y: lnn.jacobian_spectral_penalty(m, x, iters=5))})
    raise ValueError(f"defence must be one of {DEFENCES}, got {defence!r}")


DEFAULT_WEIGHTS = {"tv": 0.5, "lip": 0.5, "fd": 0.5, "spec": 0.05}


def train(defence: str, split: Split, *, hidden=(128, 128), epochs: int = 40, batch: int = 64, lr: float = 1e-3,
          weights: dict | None = None, eps: float = ATTACK_EPS, seed: int = 0) -> Trained:
    """Train one MLP with ``defence`` (Adam, seeded shuffles); PGD training uses 7-step L2 PGD at ``eps``."""
    import torch

    import lipconv.nn as lnn

    weights = {**DEFAULT_WEIGHTS, **(weights or {})}
    model = make_mlp(hidden, seed=seed)
    objective = _objective(defence, weights)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    n = split.x_train.shape[0]
    t0 = time.perf_counter()
    step = 0
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen)
        for s in range(0, n, batch):
            idx = perm[s: s + batch]
            xb, yb = split.x_train[idx], split.y_train[idx]
            if defence == "pgd-at":
                xb = lnn.pgd(model, xb, yb, eps=eps, norm="L2", steps=7, seed=seed + step)
            res = objective(model, xb, yb)
            opt.zero_grad(set_to_none=True)
            res.total.backward()
            opt.step()
            step += 1
    model.eval()
    used = {k: v for k, v in weights.items() if k in _terms(defence)}
    settings = {"hidden": list(hidden), "epochs": epochs, "batch": batch, "lr": lr, "weights": used, "seed": seed}
    if defence == "pgd-at":
        settings.update(pgd_eps=eps, pgd_steps=7)
    return Trained(defence, model, time.perf_counter() - t0, settings)


def _terms(defence: str) -> tuple:
    return {"tv": ("tv",), "tv+lipschitz": ("tv", "lip"), "fd-gradient": ("fd",),
            "jacobian-spectral": ("spec",)}.get(defence, ())


def error(model, x, y) -> float:
    import torch

    with torch.no_grad():
        return float((model(x).argmax(dim=1) != y).float().mean())
