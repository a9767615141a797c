"""Scaling of the exact solvers of [FCAO] eq. (2.7): the cutting plane against the method of
before and against the all-pairs cvxpy reference (issue 3), measured in one run.

Every row is one certified solve (squared loss, lam = 0.01, p_x = p_y = 2, seed 0; labels ramp(0.5)
plus 0.1 N(0, 1) noise on the FlatCube and Sphere cases, ``sklearn.datasets.make_friedman1`` with
noise 1 and d = 10 or 64 features on ``fried10`` / ``fried64``) and prints: time (wall and CPU
seconds of its process, ``time.process_time``, which a shared machine's load disturbs far less),
peak resident memory of its process, pairs in the final program, objective, the two parts of the
certificate (max_violation over ALL pairs relative to the label range; the relative duality gap of
the full program) and the ratio to the other method of the same row (of CPU seconds). "before" is
the cutting plane as it was at the start of issue 26 (``LEGACY``, ``--before 26``, the default):
interior-point (Clarabel) rounds on every level (``engine="ipm"``), a kNN(6) start and the fill
regime only from 32,768 points whatever the dimension (``k_init=6``, ``high_dim=inf``; its
subproblems' objective scale is estimated on a 2,048-point sample as now, which only makes it
faster in high dimensions, where the estimate on all points cost up to 9.4 s); or at the start of issue 14
(``--before 14``): in addition the block-pair oracle, a cold kNN(6) start on every level without
transferred pairs, multipliers dropped at a fixed 1e-6 of the largest, 3 cuts per point and round
and the full band of near-active pairs on every level. A row of "before" that runs longer than
``--cap`` seconds is stopped and its ratio printed as a lower bound (">= x").

``--planted`` prints the physical limit (DESIGN.md): beside each solve, one Clarabel solve of the
program restricted to the final active pairs of the solve of now (multiplier above 1e-6 of the
largest), built as the cutting plane builds its subproblems (normalized units, the same objective
scale, oriented rows, tol 1e-8), with its CPU seconds, its objective against the full solve's and
its own all-pairs violation; then full / planted for now and before. All in one process after a
warm-up solve (numba's kernels loaded), so the CPU seconds compare like with like.

Each row runs in a fresh subprocess (numba's cached kernels are loaded there; its time includes
that), so that its peak memory is its own. The rows with n <= 10,000 are run ``--repeat`` times
(default 3), now and before alternating, and report the medians: at a second or less per solve,
single runs differ by more than the methods do.

    python benchmarks/solver_scaling.py                 # n <= 10,000 rows and FlatCube(3,3) 8,192 (minutes)
    python benchmarks/solver_scaling.py --planted       # + the planted active-set column (issue 26)
    python benchmarks/solver_scaling.py --targets       # + the issue-26 scale rows, "before" stopped at --cap
    python benchmarks/solver_scaling.py --million       # + FlatCube(2,3) 1,000,000, stopped at --million-cap (15 min)
    python benchmarks/solver_scaling.py --vector        # + vector outputs (issue 13; about 8 minutes)

``--vector`` (issue 13, part 4) adds rows for vector outputs on FlatCube(2, 3), lam = 0.01, p_y = 2:
the cross-entropy with k = 3 one-hot labels from x_1 (``ce3``) at n = 300 with ``method="auto"``
against what "auto" ran before (all pairs, the cvxpy reference), and at n = 8,192 with the cutting
plane against its cross-entropy subproblem of before (``CE_LEGACY``: Newton steps to convergence in
every round); and the squared loss with k = 2 labels (ramp(0.5) and -ramp(0.5) plus 0.1 N(0, 1)
noise, ``vec2``) at n = 2,000 with "auto" against the cutting plane named explicitly. It is not in
the default run because the all-pairs row alone takes about five minutes.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time

import numpy as np

LAM = 0.01
NOISE = 0.1
# The method at the start of issue 26 (``--before 26``) and at the start of issue 14 (``--before 14``).
BEFORE = {
    "26": {"engine": "ipm", "k_init": 6, "high_dim": float("inf")},
    "14": {"engine": "ipm", "k_init": 6, "high_dim": float("inf"), "oracle": "blocks", "transfer": False, "fine_k": 6,
           "drop_scale": 0.0, "coarsen": 4, "coarse_min": 2048, "keep_slack": 1.0, "per_point": 3},
}
LEGACY = dict(BEFORE["26"])
NEW: dict = {}
CE_LEGACY = {"loose_newton": None}
LOSS = {"ce3": "cross_entropy"}  # the other cases use the squared loss


def problem(case: str, n: int, seed: int):
    from lipconv.manifolds import FlatCube, Sphere, ramp_label

    if case in ("ce3", "vec2"):
        from lipconv.manifolds import onehot_label

        M = FlatCube(2, 3, seed=seed)
        rng = np.random.default_rng(seed)
        X = M.sample(n, rng)
        if case == "ce3":
            return X, onehot_label(3).on(M, X)
        ramp = ramp_label(0.5).on(M, X)
        return X, np.stack([ramp, -ramp], axis=1) + NOISE * rng.standard_normal((n, 2))
    if case.startswith("fried"):  # make_friedman1 ships with scikit-learn: no download
        from sklearn.datasets import make_friedman1

        return make_friedman1(n_samples=n, n_features=int(case[5:]), noise=1.0, random_state=seed)
    M = {"cube2": FlatCube(m=2, d=3), "cube3": FlatCube(m=3, d=3), "cube5": FlatCube(m=5, d=5),
         "sphere": Sphere(d=3)}[case]
    rng = np.random.default_rng(seed)
    X = M.sample(n, rng)
    y = ramp_label(0.5).on(M, X) + NOISE * rng.standard_normal(n)
    return X, y


def child(case: str, n: int, method: str, options: dict, seed: int, progress: bool = False, planted=None):
    """One solve in this (fresh) process; prints a JSON line with its result and peak RSS.
    ``progress``: the solver's progress bar on stderr (level, pairs, L, worst violation), which
    :func:`run` reads back when the row is stopped at its cap. ``planted``: the options of "before"
    (module docstring, ``--planted``): after a warm-up solve, the solve of now, the planted
    active-set solve and the solve of before, all timed in this process."""
    from lipconv.solvers import lipschitz_regression

    X, y = problem(case, n, seed)
    loss = LOSS.get(case, "squared")
    if planted is not None:
        Xw, yw = problem(case, 300, seed + 1)
        lipschitz_regression(Xw, yw, lam=LAM, loss=loss, method=method, method_options=options or None)
    out = solve_row(X, y, loss, method, options)
    if planted is not None:
        out["planted"] = planted_solve(X, y, out.pop("result"))
        before = solve_row(X, y, loss, method, planted)
        before.pop("result")
        out["before"] = before
    else:
        out.pop("result")
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print("RESULT " + json.dumps(out), flush=True)


def solve_row(X, y, loss, method, options, verbose=False):
    """One timed solve: wall and CPU seconds, certificate and level summary (and the result)."""
    from lipconv.solvers import lipschitz_regression

    t0, c0 = time.perf_counter(), time.process_time()
    res = lipschitz_regression(X, y, lam=LAM, loss=loss, method=method, method_options=options or None,
                               verbose=verbose)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    return dict(time=wall, cpu=cpu, pairs=res.n_pairs, objective=res.objective, lipschitz=res.lipschitz,
                max_violation=res.max_violation, relative_gap=res.relative_gap, certified=res.certified,
                method=res.method, subproblem_time=res.info.get("subproblem_time"), rounds=res.info.get("rounds"),
                engine=res.info.get("engine", "ipm"),
                levels=[(lv["n"], lv["rounds"], round(lv["time"], 1)) for lv in res.info.get("levels", [])],
                result=res)


def planted_solve(X, y, res):
    """The planted active-set solve of the module docstring: one Clarabel solve of the program on
    the final active pairs of ``res`` (multipliers above 1e-6 of the largest), built as the
    cutting plane builds its subproblems; its CPU and wall seconds, the pairs, its objective's
    relative difference from ``res.objective`` and its own all-pairs violation (relative to the
    label range, as the certificate measures it)."""
    from lipconv._pairwise import pair_distances
    from lipconv.solvers import certify
    from lipconv.solvers._api import _check_problem, _normalized_problem, _objective_reference
    from lipconv.solvers._subproblem import DirectSubproblem

    Xc, Y, _, w, loss, lam, p_x, p_y = _check_problem(X, y, LAM, "squared", 2, 2, None)
    prob = _normalized_problem(Xc, Y, w, loss, lam, p_x, p_y)
    J_ref = _objective_reference(prob.X, prob.Y, prob.lam, prob.const.loss_value, p_x=p_x, p_y=p_y)
    i, j, M = res.dual
    size = np.abs(M[:, 0])
    active = size > 1e-6 * size.max()
    up = M[active, 0] >= 0  # the multiplier's sign orients the row u_a - u_b <= L d_ab
    a, b = np.where(up, i[active], j[active]), np.where(up, j[active], i[active])
    t0, c0 = time.perf_counter(), time.process_time()
    sub = DirectSubproblem(prob.X, prob.Y, w, prob.loss, prob.lam, p_x=p_x, p_y=p_y, solver="CLARABEL", tol=1e-8,
                           objective_scale=len(y) / J_ref)
    U, L, status, _, _ = sub.solve(a, b, pair_distances(prob.X, a, b, p=p_x), oriented=True, tol=1e-8)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    values = prob.units.values(U)[:, 0]
    cert = certify(X, y, values, lam=LAM, lipschitz=prob.units.lipschitz(L))
    return dict(time=wall, cpu=cpu, pairs=int(len(a)), status=status,
                objective_difference=abs(cert.objective - res.objective) / abs(res.objective),
                max_violation=cert.max_violation)


def run(case, n, method, options, seed, cap, progress=False, planted=None):
    """:func:`child` in a fresh interpreter, stopped after ``cap`` seconds (None: no cap). A stopped
    run with ``progress`` returns the last status its progress bar printed (how far it got)."""
    cmd = [sys.executable, __file__, "--child", json.dumps([case, n, method, options, seed, progress, planted])]
    t0 = time.perf_counter()
    cpu0 = _children_cpu()
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=cap)
    except subprocess.TimeoutExpired as exc:
        # subprocess.run has killed and reaped the child, so its CPU seconds are in RUSAGE_CHILDREN.
        out = {"timeout": True, "time": time.perf_counter() - t0, "cpu": _children_cpu() - cpu0}
        err = exc.stderr.decode(errors="replace") if isinstance(exc.stderr, bytes) else (exc.stderr or "")
        bars = [s.strip() for s in re.split(r"[\r\n]", err) if "level=" in s]
        if bars:
            out["last_status"] = bars[-1]
        return out
    line = [s for s in proc.stdout.splitlines() if s.startswith("RESULT ")]
    if not line:
        return {"error": proc.stderr[-1500:]}
    return json.loads(line[0][7:])


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


HEADER = (f"{'case':<8s} {'n':>9s}  {'method':<14s} {'time[s]':>9s} {'cpu[s]':>9s} {'peak GB':>7s} {'pairs':>9s}  "
          f"{'objective':<14s} {'max_viol':>8s} {'rel_gap':>8s}  {'ratio':>8s}")


def row(case, n, label, r, ratio=""):
    if r.get("timeout"):
        cpu = f"{'>' + format(r['cpu'], '.0f'):>9s}" if "cpu" in r else ""
        print(f"{case:<8s} {n:>9,d}  {label:<14s} {'>' + format(r['time'], '.0f'):>9s} {cpu}  (stopped at the cap)", flush=True)
        if "last_status" in r:
            print(f"{'':<8s} {'':>9s}  its last progress line: {r['last_status']}", flush=True)
        return
    if "error" in r:
        print(f"{case:<8s} {n:>9,d}  {label:<14s} failed: {r['error'].splitlines()[-1] if r['error'] else ''}", flush=True)
        return
    print(f"{case:<8s} {n:>9,d}  {label:<14s} {r['time']:9.2f} {r.get('cpu', float('nan')):9.2f} "
          f"{r['peak_rss_gb']:7.2f} {r['pairs']:>9,d}  "
          f"{r['objective']:.10f} {r['max_violation']:8.1e} {r['relative_gap']:8.1e}  {ratio:>8s}", flush=True)


def median_run(case, n, seed, cap, repeat):
    """``repeat`` runs of now and before, alternating (so that a change of load hits both), each
    reported with the median of its times (the other fields are those of its first run)."""
    news, olds = [], []
    for _ in range(max(int(repeat), 1)):
        news.append(run(case, n, "cutting-plane", NEW, seed, None))
        olds.append(run(case, n, "cutting-plane", LEGACY, seed, cap))

    def med(rs):
        r = dict(rs[0])
        if all("time" in x and not x.get("timeout") for x in rs):
            r["time"] = float(np.median([x["time"] for x in rs]))
            r["cpu"] = float(np.median([x["cpu"] for x in rs]))
            r["times"] = [round(x["time"], 2) for x in rs]
            r["cpus"] = [round(x["cpu"], 2) for x in rs]
        return r

    return med(news), med(olds)


def compare(case, n, seed, cap, reference=None, repeat=1):
    """The new cutting plane against the method of before (and the cvxpy reference where given);
    with ``repeat`` > 1 the medians of that many alternating runs of each."""
    new, old = median_run(case, n, seed, cap, repeat)
    ratio = ratio_of(old, new)
    row(case, n, "cutting-plane", new, ratio)
    row(case, n, "before", old)
    if "objective" in old and "objective" in new:
        print(f"{'':<8s} {'':>9s}  objectives agree to {abs(old['objective'] - new['objective']) / abs(new['objective']):.1e} "
              f"relative; levels (n, rounds, s): {new['levels']}; certified: now {new['certified']}, "
              f"before {old['certified']}", flush=True)
    if "times" in new and "times" in old:
        print(f"{'':<8s} {'':>9s}  times of the {len(new['times'])} runs [s]: now {new['times']}, before {old['times']}; "
              f"CPU [s]: now {new['cpus']}, before {old['cpus']}", flush=True)
    if reference:
        ref = run(case, n, reference, {}, seed, cap)
        row(case, n, "pairs (cvxpy)", ref, f"{ref['time'] / new['time']:.1f}x" if "time" in ref and not ref.get("timeout") else "")
    return new


def ratio_of(before, now):
    """``before / now`` as printed in the ratio column, of CPU seconds; a lower bound where ``before``
    was stopped at its cap (of its CPU seconds until then, read back from the stopped child)."""
    if "time" not in now or now.get("timeout") or "time" not in before:
        return ""
    if before.get("timeout"):  # of CPU seconds when the stopped child's were read back
        if "cpu" in before and "cpu" in now:
            return f">= {before['cpu'] / now['cpu']:.2f}x"
        return f">= {before['time'] / now['time']:.1f}x"
    return f"{before['cpu'] / now['cpu']:.2f}x"


TARGET_ROWS = (("cube2", 100_000), ("cube3", 65_536), ("cube5", 65_536), ("fried10", 50_000), ("fried64", 16_000))
PLANTED_ROWS = (("cube2", 2000), ("cube2", 8000), ("cube2", 20000), ("fried10", 4000))


def planted_rows(seed, cap):
    """The rows of ``--planted`` (module docstring): now, before and the planted active-set solve
    in one process each, CPU seconds, and full / planted."""
    print("planted active-set solves (issue 26): CPU [s] (wall [s]) of one process after a warm-up solve; "
          "cube2 = FlatCube(2, 3) ramp(0.5) + 0.1 N(0,1); fried10 = make_friedman1(d = 10, noise 1)", flush=True)
    print(f"{'case':<8s} {'n':>7s}  {'now':>14s} {'before':>14s} {'ratio':>7s}  {'planted':>13s} {'pairs':>7s}  "
          f"{'now/planted':>11s} {'before/pl.':>10s}  certified  planted: dJ, max_viol", flush=True)
    for case, n in PLANTED_ROWS:
        r = run(case, n, "cutting-plane", NEW, seed, cap, planted=LEGACY)
        if "planted" not in r:
            print(f"{case:<8s} {n:>7,d}  failed or stopped: {r.get('error', '')[-300:] or r}", flush=True)
            continue
        b, pl = r["before"], r["planted"]
        print(f"{case:<8s} {n:>7,d}  {r['cpu']:6.2f} ({r['time']:5.1f}) {b['cpu']:6.2f} ({b['time']:5.1f}) "
              f"{b['cpu'] / r['cpu']:6.2f}x  {pl['cpu']:5.3f} ({pl['time']:5.3f}) {pl['pairs']:>7,d}  "
              f"{r['cpu'] / pl['cpu']:10.1f}x {b['cpu'] / pl['cpu']:9.1f}x  {r['certified']}/{b['certified']}  "
              f"{pl['objective_difference']:.1e}, {pl['max_violation']:.1e}", flush=True)


def vector_rows(seed, cap, *, n_small=300, n_large=8192, n_vec=2000):
    """The rows of ``--vector`` (module docstring): each pair of rows measured here, the ratio
    (before / now) printed on the row of now, and whether each solve is certified below it."""
    print(f"vector outputs: FlatCube(2, 3), lam = {LAM}, p_x = p_y = 2; ce3 = cross-entropy, k = 3 one-hot "
          f"labels from x_1; vec2 = squared loss, k = 2, (ramp(0.5), -ramp(0.5)) + {NOISE} N(0,1); "
          f"ce3 'before' = cutting plane with {CE_LEGACY}", flush=True)
    rows = [
        ("ce3", n_small, ("auto", NEW, "auto"), ("pairs", NEW, "auto before")),
        ("ce3", n_large, ("cutting-plane", NEW, "cutting-plane"), ("cutting-plane", CE_LEGACY, "before")),
        ("vec2", n_vec, ("auto", NEW, "auto"), ("cutting-plane", NEW, "cutting-plane")),
    ]
    for case, n, (method, options, label), (b_method, b_options, b_label) in rows:
        now = run(case, n, method, options, seed, None)
        before = run(case, n, b_method, b_options, seed, cap)
        row(case, n, label, now, ratio_of(before, now))
        row(case, n, b_label, before)
        for lab, r in ((label, now), (b_label, before)):
            if "certified" in r:
                detail = "" if r["rounds"] is None else (f", rounds {r['rounds']}, subproblem time "
                                                          f"{r['subproblem_time']:.1f} s")
                print(f"{'':<8s} {'':>9s}  {lab}: method {r['method']}, certified {r['certified']}{detail}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--targets", action="store_true", help="also the issue-26 scale rows")
    ap.add_argument("--planted", action="store_true", help="also the planted active-set column (issue 26)")
    ap.add_argument("--before", choices=sorted(BEFORE), default="26",
                    help="'before' = the cutting plane at the start of this issue (default 26) or of issue 14")
    ap.add_argument("--million", action="store_true", help="also FlatCube(2, 3) at n = 1,000,000")
    ap.add_argument("--vector", action="store_true", help="also the vector-output rows of issue 13")
    ap.add_argument("--vector-only", action="store_true", help="only the vector-output rows of issue 13")
    ap.add_argument("--million-cap", type=float, default=900.0,
                    help="seconds after which the n = 1,000,000 row is stopped (default: the target's 15 minutes)")
    ap.add_argument("--cap", type=float, default=1200.0, help="seconds after which a 'before' row is stopped")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each method per row with n <= 10,000 (medians)")
    ap.add_argument("--no-default", action="store_true", help="skip the n <= 10,000 rows")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*json.loads(args.child))
        return
    global LEGACY
    LEGACY = dict(BEFORE[args.before])
    if not args.vector_only:
        print(f"lam={LAM}, labels ramp(0.5) + {NOISE} N(0,1), squared loss, p_x=p_y=2, seed={args.seed}; "
              f"before = cutting plane with {LEGACY}", flush=True)
    print(f"load average at start: {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f} / {os.getloadavg()[2]:.2f}")
    print(HEADER)
    if not (args.vector_only or args.no_default):
        for n in (300, 500, 1000):
            compare("cube2", n, args.seed, args.cap, reference="pairs", repeat=args.repeat)
        compare("sphere", 10_000, args.seed, args.cap, repeat=args.repeat)
        compare("cube3", 8_192, args.seed, args.cap, repeat=args.repeat)
    if args.planted:
        planted_rows(args.seed, args.cap)
        print(HEADER)
    if args.targets:
        for case, n in TARGET_ROWS:
            compare(case, n, args.seed, args.cap)
    if args.million:
        r = run("cube2", 1_000_000, "cutting-plane", NEW, args.seed, args.million_cap, progress=True)
        row("cube2", 1_000_000, "cutting-plane", r)
        if "levels" in r:
            print(f"{'':<8s} {'':>9s}  levels (n, rounds, s): {r['levels']}; certified: {r['certified']}; "
                  f"relative gap {r['relative_gap']:.1e}, max_violation {r['max_violation']:.1e}", flush=True)
    if args.vector or args.vector_only:
        vector_rows(args.seed, args.cap)
    print(f"load average at end: {os.getloadavg()[0]:.2f} / {os.getloadavg()[1]:.2f} / {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
