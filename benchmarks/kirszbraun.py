"""Kirszbraun extension (issue 14): cost per query at n = 10^4 data points and m = 10^3 queries.

Data: n uniform points in [0, 1]^3 with values U(x) = (sin 3x_1, cos 2x_2, x_1 x_3 + x_2), L the discrete
Lipschitz constant of U (Euclidean on both sides), m uniform queries. Rows: today's method (commit
b5058da, one SOCP per query, queries added one at a time), ours with ``queries="independent"``
(block SOCPs of ``batch`` queries) and ours with ``queries="sequential"`` (the same, then the queries
that break the constant against an earlier query re-solved in order). Certificates, over all
queries: the largest slack against the data, max_{q,i} ||v_q - U_i|| - L ||x_q - x_i|| (<= 0: the
values keep L against the data), and between queries, max_{q != p} ||v_q - v_p|| - L ||x_q - x_p||
(<= 0: data and queries together keep L; only "sequential" promises it).

    python benchmarks/kirszbraun.py                 # n = 10^4, m = 10^3; today's method takes ~20 s
    python benchmarks/kirszbraun.py --today-queries 200
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

from lipconv.extension import kirszbraun, lipschitz_constant


def instance(n, m, seed):
    rng = np.random.default_rng(seed)
    X, Q = rng.random((n, 3)), rng.random((m, 3))
    U = np.column_stack([np.sin(3 * X[:, 0]), np.cos(2 * X[:, 1]), X[:, 0] * X[:, 2] + X[:, 1]])
    return X, U, Q


def slacks(X, U, Q, V, L):
    """(max slack against the data, max slack between distinct queries)."""
    data = max(float((np.linalg.norm(V[lo:lo + 100, None] - U[None], axis=2)
                      - L * np.linalg.norm(Q[lo:lo + 100, None] - X[None], axis=2)).max())
               for lo in range(0, len(Q), 100))
    between = np.linalg.norm(V[:, None] - V[None], axis=2) - L * np.linalg.norm(Q[:, None] - Q[None], axis=2)
    np.fill_diagonal(between, -np.inf)
    return data, float(between.max())


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--m", type=int, default=1_000)
    ap.add_argument("--today-queries", type=int, default=None, help="time today's method on the first queries only")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from amle import baseline

    X, U, Q = instance(args.n, args.m, args.seed)
    t0 = time.perf_counter()
    L = lipschitz_constant(X, U)
    print(f"Kirszbraun: n = {args.n}, m = {args.m}, k = 3, d = 3, L = {L:.4f} ({time.perf_counter() - t0:.1f} s); "
          f"load average {os.getloadavg()}; 2 cores shared with other jobs")
    old = baseline()
    rows = {}
    if old is not None:
        mq = args.today_queries or args.m
        t0 = time.perf_counter()
        V_today = old.kirszbraun(X, U, Q[:mq], L=L)
        rows["today (b5058da)"] = (time.perf_counter() - t0, mq, V_today)
    times = {"independent": [], "sequential": []}
    for _ in range(args.repeats):
        for queries in times:
            t0 = time.perf_counter()
            V = kirszbraun(X, U, Q, L=L, queries=queries)
            times[queries].append(time.perf_counter() - t0)
            rows[f"ours, {queries}"] = (None, args.m, V)
    for queries, ts in times.items():
        rows[f"ours, {queries}"] = (statistics.median(ts), args.m, rows[f"ours, {queries}"][2])
    today_per = rows["today (b5058da)"][0] / rows["today (b5058da)"][1] if old is not None else None
    print(f"{'method':<22s} {'queries':>7s} {'time[s]':>8s} {'ms/query':>9s} {'today/x':>8s} "
          f"{'slack data':>10s} {'slack q-q':>10s} {'max|v-today|':>12s}  (load {os.getloadavg()[0]:.1f})")
    for name, (t, mq, V) in rows.items():
        data, between = slacks(X, U, Q[:mq], V, L)
        per = t / mq
        diff = "" if old is None else f"{np.abs(V[:len(V_today)] - V_today).max():.1e}"
        ratio = "" if today_per is None else f"{today_per / per:.1f}x"
        print(f"{name:<22s} {mq:>7d} {t:>8.2f} {1e3 * per:>9.2f} {ratio:>8s} {data:>10.1e} {between:>10.1e} {diff:>12s}",
              flush=True)


if __name__ == "__main__":
    main()
