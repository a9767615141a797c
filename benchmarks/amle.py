"""Graph AMLE (issue 14): every target row against today's method (commit b5058da) and graphlearning.

Rows, all on the same graph for the three solvers (ours builds it from the points; graphlearning gets
it as a weight matrix; today's method, loaded from ``git archive b5058da``, builds its own):

* unit BCR: Bungert-Calder-Roith's square (their repository LipschitzLearningRates, "gscale1"): n
  uniform points in [0, 1]^2, labelled within h of the top or right edge, epsilon graph with
  h = 3 (log n / n)^{1/2}, constant kernel (``weights="unit"``; graphlearning ``weighted=False``);
  n = 2,000 and 4,096 (65,536 with ``--large``);
* kNN 1/d: [-1, 1]^2 with 4 sqrt(n) boundary points, kNN graph (k = 20), edge lengths d
  (``weights="distance"``; graphlearning ``weighted=True`` with weights 1/d, the same equation);
* distance BCR: the BCR square with edge lengths, n = 4,096 (today: 200-550 s).

Labels u(x, y) = |x|^{4/3} - |y|^{4/3} (Aronsson's infinity-harmonic function).

"The same tolerance". Ours stops when the certificate, max |Delta_inf u| over unlabelled nodes
relative to ptp(g) (unit) or ptp(g) / diam (distance), is <= tol. graphlearning stops when the largest
change of a Gauss-Seidel sweep is < tol (after 21 sweeps), in units of u. For unit weights the two
agree (the residual is twice the change, ptp(g) = 2 here); for 1/d weights its tol = 1e-5 leaves a
certificate of 6e-4, so those rows give graphlearning twice: at tol 1e-5 against ours at the
certificate it reached, and at a tol that reaches 1e-5 against ours at 1e-5. Every row prints the
certificate of all three results.

Times are CPU seconds (``time.process_time``; every solver here runs on one thread, so on an idle
machine they equal wall seconds, and the load of a shared machine disturbs them far less), medians
over ``--repeats`` runs, the solvers interleaved round-robin (today's distance-weighted row runs
once). "solve" excludes building the graph (ours: a second call in the same repeat whose
``point_cloud_graph`` returns the graph the first call built; graphlearning: ``amle`` without
``gl.graph(W)``); "total" includes it (ours from the points; graphlearning from the weight matrix). Then the Kirszbraun rows of ``benchmarks/kirszbraun.py``
(``--no-kirszbraun`` skips them).

graphlearning is optional (``pip install graphlearning``; its columns print n/a without it).

    python benchmarks/amle.py                      # every issue-14 row, about 10 minutes
    python benchmarks/amle.py --large              # adds the unit BCR square at n = 65,536
    python benchmarks/amle.py --aronsson           # BCR's experiment: sup errors, n = 4,096 and 65,536
"""
from __future__ import annotations

import argparse
import importlib
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

from lipconv.extension import _amle, absolutely_minimizing_extension, graph_infinity_laplacian, point_cloud_graph

BASELINE = "b5058da"


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


def baseline(commit=BASELINE):
    """``lipconv.extension`` as of ``commit``, imported as a separate package (None if git cannot)."""
    repo = Path(__file__).resolve().parents[1]
    try:
        tar = subprocess.run(["git", "-C", str(repo), "archive", commit, "lipconv"], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        print(f"today's method (git archive {commit}) unavailable: {err}")
        return None
    name = f"lipconv_{commit}"
    if name in sys.modules:
        return importlib.import_module(f"{name}.extension")
    root = tempfile.mkdtemp(prefix="lipconv_baseline_")
    tarfile.open(fileobj=io.BytesIO(tar.stdout)).extractall(root, filter="data")
    os.rename(os.path.join(root, "lipconv"), os.path.join(root, name))
    sys.path.insert(0, root)
    return importlib.import_module(f"{name}.extension")


def load():
    return os.getloadavg()[0]


def interleaved(calls, repeats):
    """{name: (median CPU seconds, last output, all outputs)}, the calls run round-robin ``repeats`` times."""
    times, out = {k: [] for k in calls}, {k: [] for k in calls}
    for _ in range(repeats):
        for name, f in calls.items():
            t0 = time.process_time()
            out[name].append(f())
            times[name].append(time.process_time() - t0)
    return {k: (statistics.median(v), out[k][-1], out[k]) for k, v in times.items()}


class Case:
    """One graph: points, labels, graph keywords, weights; the certificate of any values on it."""

    def __init__(self, name, X, known, graph_kw, weights):
        self.name, self.X, self.known, self.graph_kw, self.weights = name, X, known, graph_kw, weights
        self.g = aronsson(X[known])
        self.indptr, self.indices, self.lengths = point_cloud_graph(X, **graph_kw)
        self.free = np.setdiff1d(np.arange(len(X)), known)
        unit = weights == "unit"
        self.scale = np.ptp(self.g) if unit else np.ptp(self.g) / np.ptp(X, axis=0).max()
        self.edge = np.ones_like(self.lengths) if unit else self.lengths

    def certificate(self, u):
        lap = graph_infinity_laplacian(u, self.indptr, self.indices, self.edge)[self.free]
        return float(np.abs(lap).max() / self.scale)

    def ours(self, tol, **kw):
        """Ours from the points, then (its "solve") again with the graphs it built served from a cache;
        returns (result, CPU seconds of the first call, CPU seconds of the second)."""
        def run():
            built = []
            build = _amle.point_cloud_graph

            def record(X, **graph_kw):
                built.append((X, build(X, **graph_kw)))
                return built[-1][1]

            def cached(X, **graph_kw):
                return next(csr for Xc, csr in built if Xc.shape == X.shape and np.array_equal(Xc, X))

            call = lambda: absolutely_minimizing_extension(  # noqa: E731
                self.X, self.known, self.g, weights=self.weights, tol=tol, **self.graph_kw, **kw)
            try:
                _amle.point_cloud_graph = record
                t0 = time.process_time()
                result = call()
                total = time.process_time() - t0
                _amle.point_cloud_graph = cached
                t0 = time.process_time()
                call()
                solve = time.process_time() - t0
            finally:
                _amle.point_cloud_graph = build
            return result, total, solve

        return run

    def today(self, old, tol):
        return lambda: old.absolutely_minimizing_extension(
            self.X, self.known, self.g, weights=self.weights, tol=tol, **self.graph_kw)

    def graphlearning(self, gl, tol):
        n = len(self.X)
        W = sp.csr_matrix((1.0 / self.edge, self.indices, self.indptr), shape=(n, n))

        def run():
            t0 = time.process_time()
            G = gl.graph(W)
            t1 = time.process_time()
            u = G.amle(self.known, self.g, tol=tol, max_num_it=1e6, weighted=self.weights != "unit")
            return u, t1 - t0, time.process_time() - t1

        return run


HEAD = (f"{'row':<28s} {'load':>4s} {'n':>6s} {'tol':>7s} | {'ours':>7s} {'solve':>7s} | {'today':>8s} {'x':>6s} | "
        f"{'gl tol':>7s} {'gl':>7s} {'solve':>7s} {'x solve':>7s} | {'|ours-gl|':>9s} {'|o-today|':>9s} | "
        f"{'cert':>7s} {'cert gl':>7s} {'c today':>7s}")


def row(label, case, tol, ours, today=None, gl=None, gl_tol=None):
    """One printed row; ``ours``, ``today`` and ``gl`` are :func:`interleaved` entries whose outputs
    are (AMLEResult, total, solve CPU seconds) (ours), AMLEResults (today) or (values, graph seconds,
    amle seconds) (graphlearning)."""
    r = ours[1][0]
    t_ours, solve = (statistics.median(x[i] for x in ours[2]) for i in (1, 2))
    parts = [f"{label:<28s} {load():>4.1f} {len(case.X):>6d} {tol:>7.0e} | {t_ours:>7.3f} {solve:>7.3f} |"]
    if today is None:
        parts.append(f" {'n/a':>8s} {'':>6s} |")
    else:
        parts.append(f" {today[0]:>8.3f} {today[0] / t_ours:>5.1f}x |")
    if gl is None:
        parts.append(f" {'n/a':>7s} {'':>7s} {'':>7s} {'':>7s} | {'':>9s}")
    else:
        u_gl = gl[1][0]
        t_graph, t_amle = (statistics.median(x[i] for x in gl[2]) for i in (1, 2))
        parts.append(f" {gl_tol:>7.0e} {t_graph + t_amle:>7.3f} {t_amle:>7.3f} {t_amle / solve:>6.1f}x |"
                     f" {np.abs(r.values - u_gl).max():>9.1e}")
    parts.append(f" {'' if today is None else format(np.abs(r.values - today[1].values).max(), '9.1e'):>9s} |")
    parts.append(f" {r.residual:>7.1e} {'' if gl is None else format(case.certificate(gl[1][0]), '7.1e'):>7s}"
                 f" {'' if today is None else format(today[1].residual, '7.1e'):>7s}")
    print("".join(parts), flush=True)


def issue_rows(args):
    old = baseline()
    try:
        import graphlearning as gl
    except ImportError:
        gl = None
        print("graphlearning not installed (pip install graphlearning): its columns are n/a")
    print(f"load average {os.getloadavg()}; 2 cores shared with other jobs; medians of {args.repeats} "
          f"interleaved runs; CPU seconds; x = other / ours (> 1: ours faster)")
    print(HEAD)
    warm = bcr_instance(300, 1)
    absolutely_minimizing_extension(warm[0], warm[1], aronsson(warm[0][warm[1]]), graph="epsilon", radius=warm[2])
    sizes = [2000, 4096] + ([65536] if args.large else [])
    for n in sizes:
        X, known, h = bcr_instance(n, args.seed)
        case = Case("unit BCR", X, known, dict(graph="epsilon", radius=h), "unit")
        calls = {"ours": case.ours(args.tol)}
        if old is not None:
            calls["today"] = case.today(old, args.tol)
        if gl is not None:
            calls["gl"] = case.graphlearning(gl, args.tol)
        res = interleaved(calls, args.repeats if n < 10_000 else 1)
        row("unit BCR epsilon", case, args.tol, res["ours"], res.get("today"), res.get("gl"),
            args.tol)
    X, known = instance(args.n_knn, args.seed)
    case = Case("knn", X, known, dict(graph="knn", k=args.k), "distance")
    _distance_rows(case, f"kNN k={args.k} 1/d", args, old, gl, args.repeats, [1e-5, 1e-6, 1e-7, 1e-8])
    X, known, h = bcr_instance(4096, args.seed)
    case = Case("distance BCR", X, known, dict(graph="epsilon", radius=h), "distance")
    _distance_rows(case, "distance BCR eps", args, old, gl, max(1, args.repeats // 2), [1e-5, 1e-7])


def _distance_rows(case, label, args, old, gl, repeats, gl_tols):
    """Two rows: graphlearning at tol 1e-5 against ours at the certificate it reached; graphlearning at
    the first of ``gl_tols`` whose certificate is <= tol against ours at tol. Today's method runs once
    (at tol) when ``case`` is the slow BCR square, else with the others."""
    if gl is not None:
        first = interleaved({"gl": case.graphlearning(gl, gl_tols[0])}, repeats)["gl"]
        reached = case.certificate(first[1][0])
        matched = interleaved({"ours": case.ours(reached)}, repeats)["ours"]
        row(f"{label}, same cert", case, reached, matched, None, first, gl_tols[0])
    calls = {"ours": case.ours(args.tol)}
    slow = len(case.X) > 3000
    if old is not None and not slow:
        calls["today"] = case.today(old, args.tol)
    if gl is not None:
        for gl_tol in gl_tols:
            tight = interleaved({"gl": case.graphlearning(gl, gl_tol)}, 1)["gl"]
            if case.certificate(tight[1][0]) <= args.tol:
                calls["gl"] = case.graphlearning(gl, gl_tol)
                break
    res = interleaved(calls, repeats)
    if old is not None and slow and not args.quick:
        res["today"] = interleaved({"today": case.today(old, args.tol)}, 1)["today"]
    row(label, case, args.tol, res["ours"], res.get("today"), res.get("gl"),
        gl_tol if "gl" in res else None)


def aronsson_experiment(args):
    """BCR's published square experiment: sup errors against u, mean over seeds."""
    print(f"{'n':>7s} {'seed':>4s} {'sup_error':>10s} {'residual':>9s} {'sweeps':>7s} {'newton':>6s} {'levels':>6s} "
          f"{'edges':>9s} {'time[s]':>8s}")
    for n in args.sizes:
        errs = []
        for seed in range(args.seed, args.seed + args.trials):
            X, known, h = bcr_instance(n, seed)
            r = absolutely_minimizing_extension(X, known, aronsson(X[known]), graph="epsilon", radius=h,
                                                weights="unit", tol=args.tol)
            errs.append(np.abs(r.values - aronsson(X)).max())
            print(f"{n:>7d} {seed:>4d} {errs[-1]:>10.4f} {r.residual:>9.1e} {r.iterations:>7d} {r.newton_steps:>6d} "
                  f"{r.levels:>6d} {r.n_edges:>9d} {r.solve_time:>8.1f}", flush=True)
        bcr = {4096: 0.0244, 65536: 0.0114}.get(n)
        print(f"{n:>7d} mean sup error {np.mean(errs):.4f} over {len(errs)} seed(s)"
              + (f"; BCR's published mean {bcr}" if bcr else ""))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tol", type=float, default=1e-5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--k", type=int, default=20, help="neighbours of the kNN rows")
    ap.add_argument("--n-knn", type=int, default=2000)
    ap.add_argument("--large", action="store_true", help="add the unit BCR square at n = 65,536")
    ap.add_argument("--no-kirszbraun", action="store_true")
    ap.add_argument("--quick", action="store_true", help="skip today's distance-weighted BCR run (200-550 s)")
    ap.add_argument("--aronsson", action="store_true", help="run BCR's sup-error experiment instead")
    ap.add_argument("--sizes", type=int, nargs="+", default=[4096, 65536], help="n of --aronsson")
    ap.add_argument("--trials", type=int, default=3, help="seeds per size of --aronsson")
    args = ap.parse_args(argv)
    if args.aronsson:
        aronsson_experiment(args)
        return
    issue_rows(args)
    if not args.no_kirszbraun:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import kirszbraun as kirszbraun_benchmark

        kirszbraun_benchmark.main([])


if __name__ == "__main__":
    main()
