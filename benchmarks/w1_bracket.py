"""The certified W1 bracket (issue 12, item 1): width (hi - lo) / value and time per call.

For each problem and n, ``wasserstein1`` on the samples of seeds 0..S-1 (drawn as the rate sweep does,
``numpy.random.default_rng([seed, n])``), printing the median and worst relative width, the median
time, and at n <= 1,024 the previous method (exact optimal transport against the 4,096-node
quadrature, POT ``emd2``) with its distance from the bracket. Times are wall clock on whatever the
machine gives (numba's kernels are single-threaded except the c-transform evaluations); the load
average is printed beside them. The first call of a run compiles the kernels and is excluded.

    python benchmarks/w1_bracket.py                       # cube m = 2, 3 and the sphere, n = 32 .. 8,192
    python benchmarks/w1_bracket.py --ns 1024 --seeds 2   # a quick look
    python benchmarks/w1_bracket.py --k 8                 # points per sample for every problem
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np

from lipconv.discrepancy import wasserstein1
from lipconv.manifolds import FlatCube, Sphere, Torus

PROBLEMS = {
    "cube2": lambda: FlatCube(2, 3, seed=0),
    "cube3": lambda: FlatCube(3, 4, seed=0),
    "cube2-linear": lambda: FlatCube(2, 3, density="linear", seed=0),
    "sphere": lambda: Sphere(3, seed=0),
    "torus": lambda: Torus(5, seed=0),
}


def grid_value(X, manifold, N=4096):
    """The previous method: exact discrete OT against the N-node quadrature of rho."""
    import ot

    nodes, w = manifold.quadrature(N)
    return float(ot.emd2(np.full(X.shape[0], 1.0 / X.shape[0]), w, ot.dist(X, nodes, metric="euclidean"),
                         numItermax=10**7))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--problems", nargs="+", default=["cube2", "cube3", "sphere"], choices=sorted(PROBLEMS))
    ap.add_argument("--ns", nargs="+", type=int, default=[32, 256, 1024, 4096, 8192])
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--k", type=int, default=None, help="points_per_sample (default: wasserstein1's)")
    ap.add_argument("--no-grid", action="store_true", help="skip the previous method at n <= 1,024")
    args = ap.parse_args()

    warm = FlatCube(2, 2, seed=0)
    wasserstein1(warm.sample(64, 0), warm)  # compile
    print(f"load average at start: {os.getloadavg()[0]:.2f} (2 cores, shared)")
    print(f"{'problem':13s} {'n':>6s} {'N':>7s} {'value':>10s} {'width med':>9s} {'width max':>9s} "
          f"{'se/value':>9s} {'time s':>7s} {'grid':>10s} {'grid-mid':>9s} {'load':>5s}")
    for name in args.problems:
        manifold = PROBLEMS[name]()
        for n in args.ns:
            widths, times, values, ses, grids, offs = [], [], [], [], [], []
            for seed in range(args.seeds):
                X = manifold.sample(n, np.random.default_rng([seed, n]))
                t0 = time.perf_counter()
                res = wasserstein1(X, manifold, seed=seed, points_per_sample=args.k)
                times.append(time.perf_counter() - t0)
                widths.append(res.relative_width)
                values.append(res.value)
                ses.append(res.integration_error / res.value)
                if n <= 1024 and not args.no_grid:
                    g = grid_value(X, manifold)
                    grids.append(g)
                    # Signed distance of the old value from the bracket, relative to the value.
                    offs.append((min(g - res.lo, 0.0) + max(g - res.hi, 0.0)) / res.value)
            grid = f"{statistics.mean(grids):10.5f}" if grids else f"{'':>10s}"
            off = f"{max(offs, key=abs):+9.2%}" if offs else f"{'':>9s}"
            print(f"{name:13s} {n:6d} {res.N:7d} {statistics.mean(values):10.5f} {statistics.median(widths):9.2%} "
                  f"{max(widths):9.2%} {statistics.median(ses):9.1e} {statistics.median(times):7.2f} {grid} {off} "
                  f"{os.getloadavg()[0]:5.2f}", flush=True)


if __name__ == "__main__":
    main()
