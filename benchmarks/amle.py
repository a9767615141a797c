"""Graph AMLE (infinity-harmonic extension): the Aronsson experiment of Bungert-Calder-Roith and a
comparison with graphlearning's ``amle`` on the same graph (skipped when graphlearning is absent).

u(x, y) = |x|^{4/3} - |y|^{4/3} is infinity-harmonic away from the axes. Setup "bcr" (default) is the
one of BCR's published square experiment (their repository LipschitzLearningRates, "gscale1"): n
uniform points in [0, 1]^2, the labelled set is every point within h of the top or right edge, the
graph is the epsilon graph with h = 3 (log n / n)^{1/2}, and the graph infinity Laplacian has the
constant kernel (``weights="unit"``). Their mean sup errors are 0.0244 (n = 4,096) and 0.0114
(n = 65,536). Setup "knn": points in [-1, 1]^2, 4 sqrt(n) evenly spaced boundary points, kNN graph
with Euclidean edge lengths (``weights="distance"``).

    python benchmarks/amle.py                                  # bcr, n = 4096 and 65536, 3 trials
    python benchmarks/amle.py --setup knn --sizes 4096 --k 20
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import scipy.sparse as sp

from lipconv.extension import absolutely_minimizing_extension, point_cloud_graph


def aronsson(P):
    return np.abs(P[:, 0]) ** (4 / 3) - np.abs(P[:, 1]) ** (4 / 3)


def instance(n, seed):
    """Setup "knn": uniform points in [-1, 1]^2 plus 4 sqrt(n) evenly spaced boundary points."""
    rng = np.random.default_rng(seed)
    inner = rng.uniform(-1.0, 1.0, (n, 2))
    s = np.linspace(-1.0, 1.0, int(np.sqrt(n)), endpoint=False)
    one = np.ones_like(s)
    B = np.concatenate([np.c_[s, -one], np.c_[one, s], np.c_[-s, one], np.c_[-one, -s]])
    return np.concatenate([B, inner]), np.arange(len(B))


def bcr_instance(n, seed):
    """Setup "bcr": uniform points in [0, 1]^2; labelled: within h of the top or right edge."""
    X = np.random.default_rng(seed).random((n, 2))
    h = 3.0 * np.sqrt(np.log(n) / n)
    return X, np.where((X[:, 0] > 1.0 - h) | (X[:, 1] > 1.0 - h))[0], h


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--setup", choices=["bcr", "knn"], default="bcr")
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536])
    ap.add_argument("--trials", type=int, default=3, help="seeds per size (bcr setup)")
    ap.add_argument("--k", type=int, default=20, help="neighbours (knn setup)")
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare-n", type=int, default=2000, help="n of the graphlearning comparison")
    args = ap.parse_args(argv)
    print(f"setup={args.setup} seed={args.seed} tol={args.tol}" + (f" k={args.k}" if args.setup == "knn" else ""))
    print(f"{'n':>7s} {'seed':>4s} {'sup_error':>10s} {'residual':>9s} {'sweeps':>7s} {'levels':>6s} {'edges':>9s} {'time[s]':>8s}")
    for n in args.sizes:
        errs = []
        for seed in range(args.seed, args.seed + (args.trials if args.setup == "bcr" else 1)):
            if args.setup == "bcr":
                X, known, h = bcr_instance(n, seed)
                r = absolutely_minimizing_extension(X, known, aronsson(X[known]), graph="epsilon", radius=h,
                                                    weights="unit", tol=args.tol)
            else:
                X, known = instance(n, seed)
                r = absolutely_minimizing_extension(X, known, aronsson(X[known]), k=args.k, tol=args.tol)
            errs.append(np.abs(r.values - aronsson(X)).max())
            print(f"{n:>7d} {seed:>4d} {errs[-1]:>10.4f} {r.residual:>9.1e} {r.iterations:>7d} {r.levels:>6d} "
                  f"{r.n_edges:>9d} {r.solve_time:>8.1f}", flush=True)
        bcr = {4096: 0.0244, 65536: 0.0114}.get(n) if args.setup == "bcr" else None
        print(f"{n:>7d} mean sup error {np.mean(errs):.4f} over {len(errs)} seed(s)"
              + (f"; BCR's published mean {bcr}" if bcr else ""))
    try:
        import graphlearning as gl
    except ImportError:
        print("graphlearning not installed: comparison skipped")
        return
    X, known = instance(args.compare_n, args.seed)
    g = aronsson(X[known])
    t0 = time.perf_counter()
    ours = absolutely_minimizing_extension(X, known, g, k=args.k, tol=args.tol)
    t_ours = time.perf_counter() - t0
    indptr, indices, lengths = point_cloud_graph(X, k=args.k)
    W = sp.csr_matrix((1.0 / lengths, indices, indptr), shape=(len(X), len(X)))
    t0 = time.perf_counter()
    theirs = gl.graph(W).amle(known, g, tol=args.tol, max_num_it=1e6, weighted=True)
    t_gl = time.perf_counter() - t0
    print(f"graphlearning comparison (n = {args.compare_n}, same graph, weights 1/d): "
          f"max |ours - gl| = {np.abs(ours.values - theirs).max():.2e}, time ours {t_ours:.2f} s, gl {t_gl:.2f} s")
    X, known, h = bcr_instance(args.compare_n, args.seed)
    g = aronsson(X[known])
    t0 = time.perf_counter()
    ours = absolutely_minimizing_extension(X, known, g, graph="epsilon", radius=h, weights="unit", tol=args.tol,
                                           coarse_min=args.compare_n)
    t_ours = time.perf_counter() - t0
    indptr, indices, lengths = point_cloud_graph(X, graph="epsilon", radius=h)
    W = sp.csr_matrix((np.ones_like(lengths), indices, indptr), shape=(len(X), len(X)))
    t0 = time.perf_counter()
    theirs = gl.graph(W).amle(known, g, tol=args.tol, max_num_it=1e6, weighted=False)
    t_gl = time.perf_counter() - t0
    print(f"graphlearning comparison (n = {args.compare_n}, bcr epsilon graph, unit weights): "
          f"max |ours - gl| = {np.abs(ours.values - theirs).max():.2e}, time ours {t_ours:.2f} s, gl {t_gl:.2f} s")


if __name__ == "__main__":
    main()
