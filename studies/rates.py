r"""Convergence-rate study: how u_n approaches u^lambda and rho_n approaches rho ([FCAO] Section 4).

Measures, over a grid of n and seeds, the discrepancy W1(rho_n, rho) as a certified bracket (Lemma
4.10), the L2(rho) squared error of the worst extension of u_n with its standard error (Theorem 4.8),
the certified sup error bracket on M (Corollary 4.9), Lemma 4.12 and the error at the samples; fits
slopes in log n with stratified-bootstrap intervals and sets them beside the theorems. The default
problems: the flat cube m = 1, 2, 3, the sphere, the circle, and the manifold-hypothesis panel (the
same m = 2 torus bent isometrically into R^4, R^6, R^8, whose chordal geometry changes with d, beside
full-dimensional data, the cube m = 4 in R^4). Beside the exact minimizer, the network panel trains
the Lipschitz-regularized network of [FCAO] eq. (2.6) (lipconv.neural) on the same samples of the
flat cube m = 2 and the sphere (n = 32 to 2,048, 5 seeds) and certifies how close it came to the
minimizer; it needs torch, and is skipped, with a note in the report, where torch is missing.
Writes to the output directory:

* ``rates.csv``: one row per run (settings and seed recorded); rerunning resumes it, and refuses to
  when a setting that changes rows (--l2-rtol, --sup-rtol, --sup-evals, --n-reference) differs;
* ``fits.csv``: one row per (problem, quantity) with slope, interval and verdict columns;
* ``theorem_w1.png``, ``theorem_l2sq.png``, ``theorem_linf.png`` (all problems on shared axes),
  ``panel.png`` (the manifold-hypothesis panel), ``network.png`` (the network against the exact
  minimizer: errors of both against n on shared axes, and the certified gap);
* ``summary.md``: hypotheses, verdicts, the pre-asymptotic diagnostic, certification of every row,
  Lemma 4.12, the panel, the errors at and between the samples, and the network (also printed).

Usage::

    python studies/rates.py                  # built-in default (convex grid + network panel)
    python studies/rates.py --quick          # smoke run
    python studies/rates.py --no-panel       # the exact minimizer only
    python studies/rates.py --budget 1800    # a larger grid planned for 30 minutes
    python studies/rates.py --problems cube:m=2 sphere --n 64 256 1024 --seeds 20 --out out/
    python studies/rates.py --problems cube:m=2 --n 64 256 1024 --seeds 3 --method convex neural
    python studies/rates.py --problems curved_torus --d 4 6 8 10
    python studies/rates.py --loss cross_entropy                   # k = 3 classes of x_1 on the cube m = 1, 2, 3
    python studies/rates.py --loss cross_entropy --label soft:3 onehot:3+flip:0.1
    python studies/rates.py --problems cube:m=1 cube:m=2 --label ramp step sin:2 ramp+noise:0.5 ramp+flip:0.1
    python studies/rates.py --problems cube:m=2 --loss absolute huber   # no rate claimed (not strongly convex)
"""
from __future__ import annotations

import argparse
import importlib.util
import math
import os
import socket
import sys
import time
from urllib.parse import urlsplit

from lipconv._validation import check_distinct, check_int, check_output_directory
from lipconv._workers import loky_backend_ending_with_parent
from lipconv.rates import BACKENDS, METHOD_RUNNERS, SweepConfig, fit_rate, parse_problem, problem_name, run_sweep

DEFAULT_PROBLEMS = ("cube:m=1", "cube:m=2", "cube:m=3", "sphere", "circle", "curved_torus:d=4",
                    "curved_torus:d=6", "curved_torus:d=8", "cube:m=4:d=4")
QUICK_PROBLEMS = ("cube:m=1", "cube:m=2", "sphere", "curved_torus:d=4", "curved_torus:d=8", "cube:m=4:d=4")
GRID_FACTOR = 4  # n = 32, 128, 512, ...: 2.4 decades up to 8,192 in 5 points
N_MIN = 32
# Seconds of wall time the default grid is planned for (2 cores): the exact minimizer's grid up to
# n = 8,192 in every problem (221 s predicted) and the network panel (109 s predicted); a budget
# large enough to raise the cheapest problem to n = 32,768 would change the default grid, so the
# default stays below that.
DEFAULT_BUDGET = 360.0
QUICK_BUDGET = 60.0
DEFAULT_SEEDS, QUICK_SEEDS = 10, 5
# Wall seconds of one run (sample, W1 bracket, solve, metrics) at n = 8,192, measured in the default
# study itself (2 workers on 2 cores, so each run shares the machine with the other worker), and the
# exponent a of cost ~ n^a between n = 2,048 and 8,192: the means over 10 seeds of the default study
# on a fresh clone with the forest engine (wall 323 s, load 2.3 from its own workers). `--calibrate`
# re-measures one run per problem on another machine; a problem absent here is planned with the most
# expensive entry.
COST_8192 = {
    "cube m=1 d=1": (0.9, 1.36), "circle d=2": (12.3, 1.92), "sphere d=3": (2.1, 1.07), "cube m=2 d=2": (3.3, 1.39),
    "curved_torus d=4": (1.5, 1.04), "curved_torus d=6": (1.8, 1.05), "curved_torus d=8": (2.5, 1.1),
    "cube m=3 d=3": (3.1, 1.0), "cube m=4 d=4": (6.3, 1.23),
}
OVERHEAD = 1.1  # measured wall / sum of run costs over 2 workers: 464 / 437 = 1.06 and 318 / 313 = 1.02 (start, imbalance)
# The cross-entropy study (--loss cross_entropy): vector labels have references on the flat cube only
# (lipconv.continuum.lifted_reference), and its runs cost more (a Newton sequence of QPs per solve);
# its own cost table, the dearer of its two default labels: `--calibrate --loss cross_entropy --label
# onehot:3` on this machine (one process, load 0.4-1.0) gave (6.6, 1.24), (49.1, 1.58), (27.3, 1.8)
# s at n = 8,192; soft:3 runs cost about 3x as much (m = 3, n = 8,192: 75-95 s per run in the study
# with 2 workers, against 22-33 s for onehot:3), so the table holds 3x the one-hot costs (m = 1
# measured with one-hot labels only: its runs are seconds).
CE_PROBLEMS = ("cube:m=1", "cube:m=2", "cube:m=3")
CE_COST_8192 = {"cube m=1 d=1": (20.0, 1.24), "cube m=2 d=2": (150.0, 1.58), "cube m=3 d=3": (85.0, 1.8)}
# Default labels per loss (others: "ramp"): for the cross-entropy, one-hot classes of x_1 (the
# classification problem; discontinuous labels) and their soft, Lipschitz counterpart (inside the
# theorems' hypotheses).
DEFAULT_LABELS = {"cross_entropy": ("onehot:3", "soft:3")}
# The network panel: lipconv.neural's network beside the exact minimizer on one flat and one curved
# problem, n over 1.8 decades (32 to 2,048; the default grid's first four values), 5 seeds; --quick
# runs 2 n and 2 seeds. A run solves the exact program, trains one network, brackets its Lipschitz
# constant and measures its errors. NEURAL_COST_8192, as COST_8192: wall seconds of one run in the
# same default study (means over 5 seeds: 2.5 / 3.0 / 2.2 / 4.5 s at n = 32 / 128 / 512 / 2,048 on the
# cube and 7.9 / 7.6 / 4.3 / 8.9 s on the sphere; the wider network below n = 256 costs as much as the
# larger n), fitted as c (n / 8192)^a by least squares in log-log (the sphere's exponent, -0.02, raised to
# 0.01: the cost model takes a > 0): 11.8 and 27.8 s per seed against 12.1 and 28.7 measured.
NEURAL_PANEL = ("cube:m=2", "sphere")
NEURAL_NS, NEURAL_SEEDS = (32, 128, 512, 2048), 5
QUICK_NEURAL_NS, QUICK_NEURAL_SEEDS = (32, 128), 2
NEURAL_COST_8192 = {"cube m=2 d=2": (4.2, 0.11), "sphere d=3": (7.2, 0.01)}
TORCH_HINT = "pip install torch==2.13.0 (the CPU build; the README's main-job command installs it)"


def _problem_key(spec: str) -> str:
    name, m, d = parse_problem(spec)
    from lipconv.rates import make_manifold

    return problem_name(name, m, make_manifold(name, m, d).d)


def run_cost(key: str, n: int, costs: dict) -> float:
    """Predicted seconds of one run of problem ``key`` at n (cost model: c (n / 8192)^a)."""
    c, a = costs.get(key, max(costs.values()))
    return c * (n / 8192.0) ** a


def plan_grid(problems, *, budget: float, seeds: int, jobs: int, costs: dict = COST_8192, n_min: int = N_MIN,
              factor: int = GRID_FACTOR, n_limit: int = 1 << 17, settings: int = 1,
              fixed: float = 0.0) -> tuple[tuple, dict, float]:
    """The n grid and per-problem caps that fit ``budget`` seconds of wall time.

    Every problem starts with n = n_min, n_min * factor; then the top n of the problem with the
    smallest top n (the cheapest next step among equals) is raised by ``factor`` while the predicted
    wall time,
    ``fixed`` + OVERHEAD * (sum of run costs over problems, n and seeds) * settings / jobs, stays within
    the budget, ``settings`` the number of (label, loss, lam, method) combinations run per problem and
    ``fixed`` the predicted seconds of runs outside the grid (the network panel, :func:`panel_seconds`).
    Returns (ns, caps keyed by problem name, predicted seconds)."""
    keys = [_problem_key(p) for p in problems]
    top = {k: n_min * factor for k in keys}

    def total(tops):
        s = 0.0
        for k, t in tops.items():
            n = n_min
            while n <= t:
                s += run_cost(k, n, costs)
                n *= factor
        return fixed + OVERHEAD * s * seeds * settings / max(jobs, 1)

    while True:
        # Smallest top n first (every problem reaches a common n before any goes beyond it), then
        # the cheapest next step.
        options = sorted((top[k], run_cost(k, top[k] * factor, costs), k) for k in keys if top[k] * factor <= n_limit)
        options = [(c, k) for _, c, k in options]
        grown = False
        for _, k in options:
            trial = dict(top, **{k: top[k] * factor})
            if total(trial) <= budget:
                top = trial
                grown = True
                break
        if not grown:
            break
    ns = []
    n = n_min
    while n <= max(top.values()):
        ns.append(n)
        n *= factor
    return tuple(ns), top, total(top)


def panel_seconds(problems, ns, seeds: int, jobs: int) -> float:
    """Predicted wall seconds of the network panel's runs (NEURAL_COST_8192, OVERHEAD, ``jobs`` workers)."""
    total = sum(run_cost(_problem_key(p), n, NEURAL_COST_8192) for p in problems for n in ns)
    return OVERHEAD * total * seeds / max(jobs, 1)


def torch_available() -> bool:
    """Whether torch can be imported (the network panel needs it)."""
    return importlib.util.find_spec("torch") is not None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small smoke run (<= 60 s)")
    p.add_argument("--problems", nargs="+", default=None,
                   help="<manifold>[:m=<m>][:d=<d>], e.g. cube:m=2 sphere circle curved_torus:d=8 cube:m=4:d=4 "
                        "(manifolds: cube circle sphere torus curved_torus; default: the study's nine)")
    p.add_argument("--d", nargs="+", type=int, default=None,
                   help="ambient dimensions: every problem given without d is run at each (e.g. "
                        "--problems curved_torus --d 4 6 8)")
    p.add_argument("--n", nargs="+", type=int, default=None, help="sample sizes (default: planned from --budget)")
    p.add_argument("--budget", type=float, default=None,
                   help=f"seconds of wall time the n grid is planned for (default {DEFAULT_BUDGET:g}, "
                        f"--quick {QUICK_BUDGET:g}); ignored with --n")
    p.add_argument("--cap", nargs="+", default=None,
                   help="largest n per problem, e.g. 'cube m=2 d=2=1024' 'circle d=2=512' (default: planned)")
    p.add_argument("--seeds", type=int, default=None, help=f"seeds per n (0..S-1; default {DEFAULT_SEEDS})")
    p.add_argument("--lam", nargs="+", type=float, default=[0.02], help="ambient lambda values")
    p.add_argument("--loss", nargs="+", default=["squared"],
                   help="squared, absolute, huber, cross_entropy (the last runs the cube problems with one-hot "
                        "labels of x_1 by default; absolute and huber: no rate is claimed)")
    p.add_argument("--label", nargs="+", default=None,
                   help="label specs: ramp, ramp:<delta>, step, smooth, sin:<k>, onehot:<k>, soft:<k>, each optionally "
                        "with +noise:<sigma> or +flip:<p> (default: ramp; onehot:3 and soft:3 for cross_entropy)")
    p.add_argument("--method", nargs="+", default=None,
                   help=f"methods run on the whole grid, among {tuple(METHOD_RUNNERS)} (default: convex, with the "
                        "network panel beside it)")
    p.add_argument("--no-panel", action="store_true",
                   help="leave out the network panel (lipconv.neural on cube:m=2 and sphere, n = 32 to 2,048, 5 seeds; "
                        "--quick: n = 32, 128, 2 seeds), which runs by default when torch is installed and --method is "
                        "not given")
    p.add_argument("--density", default="uniform", choices=["uniform", "linear"])
    p.add_argument("--jobs", type=int, default=2, help="parallel workers")
    p.add_argument("--backend", default="loky", choices=BACKENDS)
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (backend dask)")
    p.add_argument("--l2-rtol", type=float, default=0.05, help="target relative SE of the L2 estimate")
    p.add_argument("--sup-rtol", type=float, default=0.05, help="target relative width of the sup brackets")
    p.add_argument("--sup-evals", type=int, default=400_000, help="evaluation budget of each sup bracket")
    p.add_argument("--n-reference", type=int, default=1024, help="quadrature size of numerical references")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap replicates")
    p.add_argument("--out", default=None, help="output directory (default: rates_output[_quick])")
    p.add_argument("--calibrate", action="store_true",
                   help="time one run per problem at n = 2,048 and 8,192 and print the cost table (COST_8192)")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def _vector_loss(args) -> bool:
    return "cross_entropy" in args.loss


def _labels(args) -> tuple:
    if args.label:
        return tuple(args.label)
    return tuple(dict.fromkeys(lab for loss in args.loss for lab in DEFAULT_LABELS.get(loss, ("ramp",))))


def _costs(args) -> dict:
    return CE_COST_8192 if _vector_loss(args) else COST_8192


def _problems(args) -> tuple:
    default = CE_PROBLEMS if _vector_loss(args) else (QUICK_PROBLEMS if args.quick else DEFAULT_PROBLEMS)
    problems = list(args.problems or default)
    if args.d:
        out = []
        for spec in problems:
            parse_problem(spec)
            if ":d=" in spec:
                out.append(spec)
            else:
                out += [f"{spec}:d={d}" for d in args.d]
        problems = out
    for spec in problems:
        parse_problem(spec)
    return tuple(dict.fromkeys(problems))


def _parse_caps(items) -> dict:
    caps = {}
    for item in items or ():
        key, _, value = item.rpartition("=")
        if not key or not value.isdigit():
            raise ValueError(f"--cap must look like 'cube m=2 d=2=1024' or 'circle d=2=512', got {item!r}")
        caps[key] = int(value)
    return caps


def panel_plan(args, problems) -> tuple[tuple, str]:
    """The network panel's problems (a subset of ``problems``; empty when it does not run) and, when it
    does not run, the sentence the report prints in its place."""
    if args.no_panel:
        return (), "The network panel was not run (--no-panel)."
    if args.method is not None:
        return (), ("The network panel was not run: --method was given (it runs when --method is left out; "
                    "--method convex neural runs the network on the whole grid).")
    if _vector_loss(args) or tuple(args.loss) != ("squared",):
        return (), f"The network panel was not run: it uses the squared loss, this study's is {' '.join(args.loss)}."
    keys = {_problem_key(p): p for p in problems}
    chosen = tuple(keys[k] for k in (_problem_key(p) for p in NEURAL_PANEL) if k in keys)
    if not chosen:
        return (), (f"The network panel was not run: none of its problems ({', '.join(NEURAL_PANEL)}) is among this "
                    "study's problems.")
    if not torch_available():
        return (), ("The network panel was skipped: torch is not installed. Install it with " + TORCH_HINT
                    + " and rerun the same command: the finished rows are kept and only the network's runs are computed.")
    return chosen, ""


def check_scheduler(address: str, *, timeout: float = 5.0) -> None:
    """Refuse a Dask scheduler that does not accept a TCP connection within ``timeout`` seconds, before
    any work (dask.distributed itself retries for 30 s and ends in a traceback)."""
    try:
        parts = urlsplit(address if "://" in address else "tcp://" + address)
        host, port = parts.hostname, parts.port
    except ValueError:
        host = port = None
    if not host or port is None:
        raise ValueError(f"--scheduler must be an address like tcp://host:8786, got {address!r}")
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        raise ValueError(f"--scheduler {address!r} is unreachable ({exc}); start the scheduler or leave "
                         "--scheduler out (a local cluster)") from None


def config_from_args(args) -> tuple[SweepConfig, str]:
    """The sweep's configuration and a line describing how its grid was chosen."""
    quick = args.quick
    check_int(args.boot, "--boot", minimum=1)
    check_distinct(args.n or (), "--n")
    check_distinct(args.lam, "--lam")
    if args.scheduler is not None:
        if args.backend != "dask":
            raise ValueError(f"--scheduler needs --backend dask, got --backend {args.backend}")
        check_scheduler(args.scheduler)
    seeds = args.seeds if args.seeds is not None else (QUICK_SEEDS if quick else DEFAULT_SEEDS)
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    if args.jobs < 1:
        raise ValueError(f"--jobs must be >= 1, got {args.jobs}")
    problems = _problems(args)
    budget = args.budget if args.budget is not None else (QUICK_BUDGET if quick else DEFAULT_BUDGET)
    if not (budget > 0 and math.isfinite(budget)):
        raise ValueError(f"--budget must be a positive number of seconds, got {budget}")
    methods = tuple(args.method or ("convex",))
    panel, _ = panel_plan(args, problems)
    panel_ns, panel_seeds = (QUICK_NEURAL_NS, QUICK_NEURAL_SEEDS) if quick else (NEURAL_NS, NEURAL_SEEDS)
    panel_seeds = min(panel_seeds, seeds)
    scope, costs = {}, dict(_costs(args))
    if panel:
        methods += ("neural",)
        scope = {"neural": {"problems": panel, "ns": panel_ns, "seeds": tuple(range(panel_seeds))}}
        costs.update({f"{k} [neural]": v for k, v in NEURAL_COST_8192.items()})
    if args.n:
        ns, caps, plan = tuple(args.n), {}, f"grid given (--n {' '.join(map(str, args.n))})"
    else:
        settings = len(_labels(args)) * len(args.loss) * len(args.lam) * len(args.method or ("convex",))
        # The panel runs every label and lam of the study, like the grid.
        fixed = panel_seconds(panel, panel_ns, panel_seeds, args.jobs) * len(_labels(args)) * len(args.lam) if panel else 0.0
        ns, caps, predicted = plan_grid(problems, budget=budget, seeds=seeds, jobs=args.jobs, costs=_costs(args),
                                        settings=settings, fixed=fixed)
        plan = (f"grid planned for a budget of {budget:g} s on {args.jobs} worker(s) from the measured run costs "
                f"(predicted {predicted:.0f} s" + (f", of which the network panel {fixed:.0f} s" if panel else "")
                + "); largest n per problem: " + ", ".join(f"{k} {v}" for k, v in caps.items()))
    if args.cap is not None:
        caps.update(_parse_caps(args.cap))
    out = args.out or ("rates_output_quick" if quick else "rates_output") + ("_ce" if _vector_loss(args) and not args.out else "")
    check_output_directory(out, "--out")
    config = SweepConfig(
        problems=problems, ns=ns, seeds=tuple(range(seeds)), lams=tuple(args.lam), losses=tuple(args.loss),
        labels=_labels(args), methods=methods, method_scope=scope, density=args.density, n_caps=caps,
        output=os.path.join(out, "rates.csv"), l2_rtol=args.l2_rtol, sup_rtol=args.sup_rtol,
        sup_evals=args.sup_evals, n_reference=args.n_reference, run_costs=costs, n_jobs=args.jobs,
        backend=args.backend,
        scheduler=args.scheduler, progress=not args.no_progress,
    )
    return config, plan


def calibrate(problems, *, ns=(2048, 8192), loss="squared", label="ramp", method="convex") -> dict:
    """Time one run (seed 0) of ``method`` per problem at each n, in this process; print and return the
    cost table (COST_8192; NEURAL_COST_8192 for the network)."""
    from lipconv.rates import get_runner, make_problem
    from lipconv.rates._sweep import _run_one, run_key

    table = {}
    settings = dict(l2_rtol=0.05, sup_rtol=0.05, sup_evals=400_000, n_reference=1024, lipconv_version="calibrate")
    for spec in problems:
        name, m, d = parse_problem(spec)
        prob = make_problem(name, m, d=d, lam=0.02, label=label, loss=loss)
        times = []
        for n in ns:
            run = dict(manifold=name, m=prob.m, d=prob.d, density="uniform", n=n, seed=0, lam=0.02, loss=loss,
                       label=label, method=method)
            run["run_key"] = run_key(run)
            row = _run_one(prob, run, get_runner(method), settings)
            times.append(row["run_time"])
        a = math.log(times[-1] / times[0]) / math.log(ns[-1] / ns[0])
        key = problem_name(name, prob.m, prob.d)
        table[key] = (round(times[-1] * (8192 / ns[-1]) ** a, 1), round(a, 2))
        print(f"{key:20s} " + " ".join(f"n={n}: {t:.1f} s" for n, t in zip(ns, times))
              + f"  exponent {a:.2f}  load {os.getloadavg()[0]:.2f}", flush=True)
    print(("NEURAL_COST_8192 = " if method == "neural" else "COST_8192 = ") + str(table))
    return table


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.calibrate:
            calibrate(_problems(args), loss=args.loss[0], label=_labels(args)[0])
            panel, _ = panel_plan(args, _problems(args))
            if panel:
                calibrate(panel, ns=(512, 2048), method="neural")
            return 0
        config, plan = config_from_args(args)
        _, panel_note = panel_plan(args, _problems(args))
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = os.path.dirname(config.output)
    print(f"rate study: {len(config.problems)} problems, n = {', '.join(map(str, config.ns))}, "
          f"{len(config.seeds)} seeds; {plan}", flush=True)
    if panel_note:
        print(panel_note, flush=True)
    t0 = time.perf_counter()
    loky_backend_ending_with_parent()  # no worker outlives a SIGKILL of this process
    try:
        df = run_sweep(config)
    except ValueError as exc:  # the output holds rows of other settings, or is not a sweep CSV
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    from lipconv.rates._report import summary_markdown

    fits = fit_rate(df, n_boot=args.boot)
    fits.to_csv(os.path.join(out, "fits.csv"), index=False)
    written = ["rates.csv", "fits.csv", "summary.md"]
    if not args.no_plots and (df["status"] == "ok").any():
        from lipconv.plotting import plot_study

        written += [os.path.basename(p) for p in plot_study(df, fits, out)]
    text = summary_markdown(df, fits, wall=wall, load=os.getloadavg(), cores=config.n_jobs, budget=plan,
                            n_boot=args.boot, neural_note=panel_note)
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(text)
    print(text)
    print(f"wrote {out}/: " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
