"""Cost of one training step (forward + backward + SGD step) under each regularizer of lipconv.nn.

Times plain, TV, Lipschitz, FD (squared l2 / squared l1), double backprop (squared l2),
data-dependent Jacobian-spectral training and 10-step L2 PGD adversarial training on a
CIFAR-shaped CNN (3 conv layers, 32x32x3 inputs), as ratios to plain training, on CPU and on CUDA
when present, and prints them beside the figures published in [FO] and [RKH]:

* MNIST-sized networks ([FO] §3.1): FD "roughly a 10% speed improvement" over double backprop;
* CIFAR-10 ([FO] Table 1, training hours): FD squared-l1 5.22 h vs double backprop 9.85 h
  (FD about 50% cheaper, FD/DBP = 0.53), plain 2.06 h (FD/plain 2.53, DBP/plain 4.78);
* ImageNet-1k (Table 1): squared l2 FD 32.60-33.87 h vs plain 20.30 h (1.61-1.67x, "about 1.65x");
* [RKH] §4.1: data-dependent spectral regularization with k power iterations costs about as much
  as adversarial training with k PGD steps.

Two models: ``cnn`` (no BatchNorm: :class:`lipconv.nn.RegularizedLoss` computes the gradient
penalties on the data loss's own forward pass, [FO] Algorithm 1) and ``cnn_bn`` (BatchNorm in
train mode: the penalties need their own passes). Rows marked "separate" switch the sharing off
(``share_forward=False``), which is what calling the penalties one by one costs.

Usage: ``python benchmarks/regularizer_cost.py [--quick] [--threads 1] [--device cpu|cuda|all]``.
Seeds are fixed; each method's time is the median over timed steps after warm-up steps, with the
methods interleaved round-robin (a shared machine's changing load then biases no ratio); the load
average before and after is printed.
"""
from __future__ import annotations

import argparse
import functools
import os
import statistics
import time

import torch
import torch.nn as nn

import lipconv.nn as L

PUBLISHED = {
    "fd_l2": "ImageNet FD/plain 1.61-1.67",
    "fd_l1": "CIFAR-10 FD/plain 2.53",
    "double_backprop": "CIFAR-10 DBP/plain 4.78",
}
PGD_STEPS = 10


def small_cnn(channels: int = 3, classes: int = 10, *, batchnorm: bool = True) -> nn.Module:
    bn = (lambda c: [nn.BatchNorm2d(c)]) if batchnorm else (lambda c: [])
    return nn.Sequential(
        nn.Conv2d(channels, 16, 3, padding=1), *bn(16), nn.ReLU(),
        nn.Conv2d(16, 32, 3, stride=2, padding=1), *bn(32), nn.ReLU(),
        nn.Conv2d(32, 32, 3, stride=2, padding=1), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32 * 4, classes),
    )


def methods(iters: int):
    """name -> (RegularizedLoss terms, share_forward); "pgd_at" is handled by the step itself."""
    fd = functools.partial(L.fd_gradient_penalty, norm="L2", h=0.01)
    dbp = functools.partial(L.double_backprop_penalty, norm="L2")
    return {
        "plain": ({}, True),
        "tv": ({"tv": (0.1, functools.partial(L.tv_penalty, norm="L2"))}, True),
        "lipschitz": ({"lip": (0.1, functools.partial(L.lipschitz_penalty, norm="L2"))}, True),
        "fd_l2": ({"fd": (0.1, fd)}, True),
        "fd_l1": ({"fd": (0.1, functools.partial(L.fd_gradient_penalty, norm="Linf", h=0.01))}, True),
        "double_backprop": ({"dbp": (0.1, dbp)}, True),
        "fd_l2 separate": ({"fd": (0.1, fd)}, False),
        "double_backprop separate": ({"dbp": (0.1, dbp)}, False),
        f"jacobian_spectral k={iters}": ({"jsp": (0.01, lambda m, x, y: L.jacobian_spectral_penalty(m, x, iters=iters))},
                                         True),
        f"pgd_at k={PGD_STEPS}": ({}, True),
    }


def _setup(spec, device, *, batchnorm, batch, size, seed):
    terms, share = spec
    torch.manual_seed(seed)
    model = small_cnn(batchnorm=batchnorm).to(device).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    g = torch.Generator().manual_seed(seed)
    x = torch.rand((batch, 3, size, size), generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    return model, opt, x, y, L.RegularizedLoss(terms, share_forward=share)


def _step(model, opt, x, y, objective, device, *, pgd: bool):
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    if pgd:
        x = L.pgd(model, x, y, eps=0.5, norm="L2", steps=PGD_STEPS)
    opt.zero_grad(set_to_none=True)
    objective(model, x, y).total.backward()
    opt.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


def time_methods(all_specs, device, *, batchnorm, batch, size, warmup, reps, seed):
    """Median step time per method; methods are interleaved round-robin so that a changing machine
    load affects all of them alike (the machine is shared)."""
    setups = {m: _setup(s, device, batchnorm=batchnorm, batch=batch, size=size, seed=seed)
              for m, s in all_specs.items()}
    times = {m: [] for m in all_specs}
    for i in range(warmup + reps):
        for m, (model, opt, x, y, objective) in setups.items():
            t = _step(model, opt, x, y, objective, device, pgd=m.startswith("pgd_at"))
            if i >= warmup:
                times[m].append(t)
    return {m: statistics.median(ts) for m, ts in times.items()}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer, smaller steps (smoke run)")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: shared machine)")
    ap.add_argument("--device", choices=["cpu", "cuda", "all"], default="all")
    ap.add_argument("--batch", type=int, default=None)
    ap.add_argument("--size", type=int, default=None, help="image side (CIFAR-like: 32)")
    ap.add_argument("--iters", type=int, default=PGD_STEPS, help="power iterations of the Jacobian-spectral penalty")
    ap.add_argument("--models", default="cnn,cnn_bn", help="comma-separated: cnn (no BatchNorm), cnn_bn")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    batch = args.batch or (16 if args.quick else 64)
    size = args.size or (16 if args.quick else 32)
    warmup, reps = (1, 3) if args.quick else (2, 9)
    devices = []
    if args.device in ("cpu", "all"):
        devices.append(torch.device("cpu"))
    if args.device in ("cuda", "all") and torch.cuda.is_available():
        devices.append(torch.device("cuda"))
    print(f"CIFAR-shaped CNN (3 conv + linear), batch {batch}, {size}x{size}x3, float32, SGD; seed {args.seed}; "
          f"torch {torch.__version__}, {args.threads} CPU thread(s); median of {reps} interleaved steps after "
          f"{warmup} warm-up; Jacobian power iterations {args.iters}; PGD-AT {PGD_STEPS} L2 steps")
    for device in devices:
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        for kind in args.models.split(","):
            load0 = os.getloadavg()[0]
            res = time_methods(methods(args.iters), device, batchnorm=kind == "cnn_bn", batch=batch, size=size,
                               warmup=warmup, reps=reps, seed=args.seed)
            base = res["plain"]
            print(f"\ndevice: {name}; model: {kind}; load average {load0:.2f} before, {os.getloadavg()[0]:.2f} after")
            print(f"{'method':<28}{'ms/step':>10}{'x plain':>10}   published")
            for m, t in res.items():
                print(f"{m:<28}{1e3 * t:>10.2f}{t / base:>10.2f}   {PUBLISHED.get(m, '')}")
            ratios = [
                ("FD(l2)/DBP", res["fd_l2"] / res["double_backprop"],
                 "CIFAR-10 FD/DBP 0.53 (\"roughly 50% faster\"); MNIST-sized nets ~0.9; issue 16 target <= 0.8"),
                ("FD(l2)/DBP separate", res["fd_l2 separate"] / res["double_backprop separate"], ""),
                ("FD(l2)/DBP(separate)", res["fd_l2"] / res["double_backprop separate"], "issue 16's comparison"),
                ("FD(l1)/DBP", res["fd_l1"] / res["double_backprop"], ""),
                (f"Jacobian k={args.iters} / PGD-AT k={PGD_STEPS}",
                 res[f"jacobian_spectral k={args.iters}"] / res[f"pgd_at k={PGD_STEPS}"], "[RKH]: about 1"),
            ]
            for label, r, note in ratios:
                print(f"{label:<28}{'':>10}{r:>10.2f}   {note}")


if __name__ == "__main__":
    main()
