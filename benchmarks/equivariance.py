"""The table of issue 11 ("certified means certified"), re-measured: the same problem in other units.

FlatCube(2, 3), 500 points, ramp labels clip(t / 0.5, -1, 1), lam = 0.05, squared loss, solved by
``lipschitz_regression`` (cutting plane unless stated). Each row changes the units of X (c) and of y
(s, b) with lam changed accordingly (X -> c X: lam -> c lam; y -> s y + b: lam -> s lam, objective
-> s^2 objective), maps the answer back and prints its relative deviation from the base solve
(L, objective; values relative to the label range), the certificate's two parts (feasibility: worst
pair excess over all pairs relative to the label range; optimality: relative duality gap) and
whether it is certified. The degenerate rows print the exact answer they must give.

    python benchmarks/equivariance.py
"""
from __future__ import annotations

import os
import time

import numpy as np

from lipconv.manifolds import FlatCube, ramp_label
from lipconv.solvers import lipschitz_regression


def _row(name, res, *, ref=None, c=1.0, s=1.0, b=0.0):
    L, J = res.lipschitz * c / s, res.objective / s**2
    vals = (np.asarray(res.values)[:, 0] - b) / s
    if ref is None:
        dev = ""
    else:
        span = float(np.ptp(ref.values)) or 1.0
        dev = (f"{abs(L - ref.lipschitz) / max(ref.lipschitz, 1e-300):9.1e} {abs(J - ref.objective) / ref.objective:9.1e} "
               f"{float(np.abs(vals - ref.values[:, 0]).max()) / span:9.1e}")
    print(f"{name:34s} {L:12.8g} {J:12.8g} {dev:29s} {res.max_violation:9.1e} {res.relative_gap:9.1e} "
          f"{str(res.certified):>5s} {res.status:>12s}", flush=True)


def main():
    M = FlatCube(2, 3, seed=0)
    X = M.sample(500, np.random.default_rng(0))
    y = ramp_label(0.5).on(M, X)
    lam = 0.05
    t0 = time.perf_counter()
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(f"{'case':34s} {'L (base units)':>12s} {'objective':>12s} {'rel dL':>9s} {'rel dJ':>9s} {'d values':>9s} "
          f"{'feas.':>9s} {'gap':>9s} {'cert.':>5s} {'status':>12s}")
    base = lipschitz_regression(X, y, lam=lam)
    _row("base", base)
    for name, c, s, b in [("X * 1e-6, lam * 1e-6", 1e-6, 1, 0), ("X * 1e8, lam * 1e8", 1e8, 1, 0),
                          ("X * 1e6, lam * 1e6", 1e6, 1, 0), ("y + 1e7", 1, 1, 1e7),
                          ("y * 1e-6, lam * 1e-6", 1, 1e-6, 0), ("y * 1e6, lam * 1e6", 1, 1e6, 0)]:
        _row(name, lipschitz_regression(c * X, s * y + b, lam=lam * c * s), ref=base, c=c, s=s, b=b)
    _row("pairs method", lipschitz_regression(X, y, lam=lam, method="pairs"), ref=base)
    tiny = lipschitz_regression(X, y, lam=1e-12)
    Dxy = np.linalg.norm(X[:, None] - X[None], axis=2)
    mask = ~np.eye(len(y), dtype=bool)
    data_lip = float(np.max(np.abs(y[:, None] - y[None])[mask] / Dxy[mask]))
    _row(f"lam = 1e-12 (Lip of labels {data_lip:.8g})", tiny)
    D = np.linalg.norm(X[:, None] - X[None], axis=2)
    off = ~np.eye(len(y), dtype=bool)
    u = np.asarray(tiny.values)[:, 0]
    print(f"{'':34s} Lipschitz constant of the returned values: "
          f"{float(np.max(np.abs(u[:, None] - u[None])[off] / D[off])):.8g}")
    for name, kw in [("lam = 1e12", dict(X=X, y=y, lam=1e12)),
                     ("constant labels -3e5", dict(X=X, y=np.full(500, -3e5), lam=lam)),
                     ("all-zero labels", dict(X=X, y=np.zeros(500), lam=lam)),
                     ("pairs, n = 60, lam = 10", dict(X=X[:60], y=y[:60], lam=10.0, method="pairs")),
                     ("two identical points", dict(X=np.array([[0.3, 0.3, 0.3]] * 2), y=np.array([0.0, 1.0]), lam=lam))]:
        args = dict(kw)
        res = lipschitz_regression(args.pop("X"), args.pop("y"), **args)
        _row(name, res)
    print(f"total {time.perf_counter() - t0:.1f} s, load average at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
