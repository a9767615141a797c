"""Graph AMLE (infinity-harmonic extension): the Aronsson experiment of Bungert-Calder-Roith and a
comparison with graphlearning's ``amle`` on the same graph (skipped when graphlearning is absent).

u(x, y) = |x|^{4/3} - |y|^{4/3} is infinity-harmonic on the square [-1, 1]^2; we sample n uniform
points, label 4 sqrt(n) evenly spaced boundary points with u, extend by the graph AMLE on the kNN graph
(edge lengths = Euclidean distances) and report the sup error. BCR's published means are 0.0244
(n = 4,096) and 0.0114 (n = 65,536) for their graph scaling; ours is a kNN graph with fixed k.

    python benchmarks/amle.py --sizes 4096 65536 --k 20
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
    rng = np.random.default_rng(seed)
    inner = rng.uniform(-1.0, 1.0, (n, 2))
    s = np.linspace(-1.0, 1.0, int(np.sqrt(n)), endpoint=False)
    one = np.ones_like(s)
    B = np.concatenate([np.c_[s, -one], np.c_[one, s], np.c_[-s, one], np.c_[-one, -s]])
    return np.concatenate([B, inner]), np.arange(len(B))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536])
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--tol", type=float, default=1e-6)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--compare-n", type=int, default=2000, help="n of the graphlearning comparison")
    args = ap.parse_args(argv)
    print(f"seed={args.seed} k={args.k} tol={args.tol}")
    print(f"{'n':>7s} {'sup_error':>10s} {'residual':>9s} {'sweeps':>7s} {'levels':>6s} {'time[s]':>8s}")
    for n in args.sizes:
        X, known = instance(n, args.seed)
        r = absolutely_minimizing_extension(X, known, aronsson(X[known]), k=args.k, tol=args.tol)
        err = np.abs(r.values - aronsson(X)).max()
        print(f"{n:>7d} {err:>10.4f} {r.residual:>9.1e} {r.iterations:>7d} {r.levels:>6d} {r.solve_time:>8.1f}", flush=True)
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


if __name__ == "__main__":
    main()
