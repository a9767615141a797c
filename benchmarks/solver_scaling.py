"""Scaling of the exact solvers of seed 000 eq. (2.7): cutting plane vs the all-pairs reference (issue 3).

Prints one table row per (n, method): time, pairs in the final program, objective, the two parts of
the certificate (max_violation over ALL pairs relative to the label range, and the relative duality
gap of the full program) and the speed-up over the all-pairs reference where it
runs. The reference "pairs" is lipconv's cvxpy all-pairs program (at n = 1,000: 499,500 pairs, about
45 s and 1.1 GB here). Also times one full exact oracle scan, the n = 1,000 solve in a fresh process
(the first call loads numba's cached oracle), and (with --big) the n = 100,000 run with its peak
memory (process peak RSS, measured in a fresh subprocess).

    python benchmarks/solver_scaling.py            # n = 300, 500, 1000 (FlatCube), 10,000 (Sphere)
    python benchmarks/solver_scaling.py --big      # also n = 100,000 (minutes)
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import numpy as np

from lipconv.manifolds import FlatCube, Sphere, ramp_label
from lipconv.solvers import lipschitz_regression, violation_scan

LAM = 0.01
NOISE = 0.1


def problem(manifold: str, n: int, seed: int):
    M = FlatCube(m=2, d=3) if manifold == "flatcube" else Sphere(d=3)
    rng = np.random.default_rng(seed)
    X = M.sample(n, rng)
    y = ramp_label(0.5).on(M, X) + NOISE * rng.standard_normal(n)
    return X, y


def row(n, manifold, method, t, pairs, obj, viol, gap, speedup="", extra=""):
    print(f"{n:>7d}  {manifold:<9s} {method:<14s} {t:9.2f}  {pairs:>9d}  {obj:.10f}  {viol:9.1e}  {gap:8.1e}  {speedup:>8s} {extra}",
          flush=True)


def run_case(manifold, n, seed, reference):
    X, y = problem(manifold, n, seed)
    t0 = time.perf_counter()
    cp = lipschitz_regression(X, y, lam=LAM, method="cutting-plane")
    t_cp = time.perf_counter() - t0
    ref = None
    if reference == "pairs":
        t0 = time.perf_counter()
        r = lipschitz_regression(X, y, lam=LAM, method="pairs")
        ref = (time.perf_counter() - t0, r.n_pairs, r.objective, r.max_violation, r.relative_gap, "pairs (cvxpy)")
    extra = (f"rounds={cp.info['rounds']} oracle={cp.info['oracle_time']:.2f}s "
             f"sub={cp.info['subproblem_time']:.2f}s L={cp.lipschitz:.8f}")
    if ref is not None:
        row(n, manifold, ref[5], ref[0], ref[1], ref[2], ref[3], ref[4])
        rel = abs(cp.objective - ref[2]) / abs(ref[2])
        row(n, manifold, "cutting-plane", t_cp, cp.n_pairs, cp.objective, cp.max_violation, cp.relative_gap,
            f"{ref[0] / t_cp:.1f}x", extra + f" rel_obj_diff={rel:.1e}")
    else:
        row(n, manifold, "cutting-plane", t_cp, cp.n_pairs, cp.objective, cp.max_violation, cp.relative_gap, "", extra)
    return X, cp


def big_child(n, seed):
    """One cutting-plane solve in this (fresh) process; prints a JSON line with its peak RSS."""
    X, y = problem("flatcube", n, seed)
    t0 = time.perf_counter()
    cp = lipschitz_regression(X, y, lam=LAM, method="cutting-plane")
    levels = [dict(n=lv["n"], rounds=lv["rounds"], time=round(lv["time"], 1)) for lv in cp.info["levels"]]
    out = dict(n=n, time=time.perf_counter() - t0, pairs=cp.n_pairs, objective=cp.objective,
               max_violation=cp.max_violation, relative_gap=cp.relative_gap, rounds=cp.info["rounds"], oracle=cp.info["oracle_time"],
               sub=cp.info["subproblem_time"], L=cp.lipschitz, levels=levels,
               peak_rss_gb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20)
    print("RESULT " + json.dumps(out), flush=True)


def run_child(n, seed):
    """Run :func:`big_child` in a fresh interpreter (cold numba cache load included in its time)."""
    proc = subprocess.run([sys.executable, __file__, "--child", str(n), "--seed", str(seed)],
                          capture_output=True, text=True)
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")]
    if not line:
        print(f"n = {n} run failed:\n{proc.stderr[-2000:]}")
        return None
    return json.loads(line[0][7:])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--big", action="store_true", help="also run n = 100,000 on FlatCube(2, 3)")
    ap.add_argument("--big-n", type=int, default=100_000)
    ap.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        big_child(args.child, args.seed)
        return
    # Compile/load the numba oracle once so that no row pays for it.
    violation_scan(np.random.default_rng(0).random((50, 2)), np.zeros((50, 1)), 1.0)
    print(f"seed={args.seed} lam={LAM} labels=ramp(0.5)+{NOISE}N(0,1), squared loss, p_x=p_y=2")
    print(f"{'n':>7s}  {'manifold':<9s} {'method':<14s} {'time[s]':>9s}  {'pairs':>9s}  {'objective':<12s}  "
          f"{'max_viol':>9s}  {'rel_gap':>8s}  {'speed-up':>8s}")
    for n, ref in [(300, "pairs"), (500, "pairs"), (1000, "pairs")]:
        run_case("flatcube", n, args.seed, ref)
    X, cp = run_case("sphere", 10_000, args.seed, None)
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        violation_scan(X, cp.values, cp.lipschitz)
        times.append(time.perf_counter() - t0)
    print(f"full exact oracle scan (violation_scan) at n = 10,000 on the optimum: best of 3 = {min(times):.3f} s")
    r = run_child(1000, args.seed)
    if r is not None:
        print(f"n = 1,000 in a fresh process (includes loading numba's cached oracle): {r['time']:.2f} s")
    if args.big:
        r = run_child(args.big_n, args.seed)
        if r is None:
            return
        row(r["n"], "flatcube", "cutting-plane", r["time"], r["pairs"], r["objective"], r["max_violation"],
            r["relative_gap"], "",
            f"rounds={r['rounds']} oracle={r['oracle']:.1f}s sub={r['sub']:.1f}s L={r['L']:.8f} "
            f"peak_rss={r['peak_rss_gb']:.2f} GB")
        print("levels (n, rounds, seconds): " + ", ".join(f"({lv['n']}, {lv['rounds']}, {lv['time']})" for lv in r["levels"]))


if __name__ == "__main__":
    main()
