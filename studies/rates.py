r"""Convergence-rate study: how u_n approaches u^lambda and rho_n approaches rho (seed 000, Section 4).

Measures, over a grid of n and seeds, the discrepancy W1(rho_n, rho) (Lemma 4.10), the L2(rho)
squared error (Theorem 4.8), the sup error on M (Corollary 4.9) and the objective gaps, fits their
slopes in log n with stratified-bootstrap intervals, and sets them beside the theoretical and sharp
exponents. Writes to the output directory:

* ``rates.csv``: one row per run (all settings and the seed recorded); rerunning resumes it, and
  refuses to when a setting that changes rows (--n-error, --n-reference, --n-ot, and so --quick,
  which changes their defaults) differs from the one the CSV was computed with;
* ``fits.csv``: one row per (problem, quantity) with slope, interval and verdict columns;
* ``rate_<quantity>.png``: log-log figures with seed bands, bound/theory and sharp lines;
* ``summary.md``: the verdict table (also printed).

Usage::

    python studies/rates.py              # built-in default (<= 10 min on 2 cores)
    python studies/rates.py --quick      # smoke run (<= 60 s)
    python studies/rates.py --manifolds cube --m 2 --n 64 128 256 --seeds 20 --jobs 2 --out out/
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

from lipconv.rates import BACKENDS, METHOD_RUNNERS, SweepConfig, fit_rate, run_sweep

DEFAULT_N = (32, 64, 128, 256, 512, 1024, 2048, 4096, 8192)
QUICK_N = (32, 64, 128, 256, 512, 1024)
MAX_FAILED_LISTED = 20


def _cutting_plane_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("lipconv.solvers._cutting_plane") is not None


def default_caps(manifolds, ms, *, quick: bool) -> dict:
    """Largest n per problem, from solver cost: the 1-D cube (adjacent pairs, O(n)) is uncapped.

    Every other problem needs the scalable solver beyond a few hundred points; at n = 4096 it takes
    40-200 s per solve here (2 shared cores), so those problems stop at 1024 (256 under --quick, 512
    when only the all-pairs reference solver exists).
    """
    cap = 256 if quick else (1024 if _cutting_plane_available() else 512)
    caps = {}
    for name in manifolds:
        if name == "cube":
            caps.update({f"cube:m={m}": cap for m in ms if m >= 2})
        else:
            caps[name] = cap
    return caps


def _parse_caps(items) -> dict:
    caps = {}
    for item in items or ():
        key, _, value = item.rpartition("=")
        if not key or not value.isdigit():
            raise ValueError(f"--cap must look like 'cube:m=2=1024' or 'circle=512', got {item!r}")
        caps[key] = int(value)
    return caps


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small smoke run (<= 60 s)")
    p.add_argument("--manifolds", nargs="+", default=None, help="cube circle sphere torus (default: cube circle)")
    p.add_argument("--m", nargs="+", type=int, default=None, help="intrinsic dimensions of the cube (default 1 2 3)")
    p.add_argument("--d", type=int, default=None, help="ambient dimension (default: the smallest)")
    p.add_argument("--n", nargs="+", type=int, default=None, help="sample sizes")
    p.add_argument("--cap", nargs="+", default=None,
                   help="largest n per problem, e.g. cube:m=2=1024 circle=512 (default: by solver cost)")
    p.add_argument("--seeds", type=int, default=None, help="number of seeds per n (seeds 0..S-1; default 10)")
    p.add_argument("--lam", nargs="+", type=float, default=[0.02], help="ambient lambda values")
    p.add_argument("--loss", nargs="+", default=["squared"])
    p.add_argument("--label", nargs="+", default=["ramp"], help="ramp, ramp:<delta>, step, smooth")
    p.add_argument("--method", nargs="+", default=["convex"], help=f"one of {tuple(METHOD_RUNNERS)}")
    p.add_argument("--density", default="uniform", choices=["uniform", "linear"])
    p.add_argument("--jobs", type=int, default=2, help="parallel workers")
    p.add_argument("--backend", default="loky", choices=BACKENDS)
    p.add_argument("--scheduler", default=None, help="Dask scheduler address (backend dask)")
    p.add_argument("--n-reference", type=int, default=None, help="quadrature size of numerical references")
    p.add_argument("--n-ot", type=int, default=None, help="quadrature size of optimal-transport W1")
    p.add_argument("--n-error", type=int, default=None,
                   help="quadrature size on which errors against exact references are measured")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap replicates")
    p.add_argument("--out", default=None, help="output directory (default: rates_output[_quick])")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def config_from_args(args) -> SweepConfig:
    quick = args.quick
    manifolds = tuple(args.manifolds or ("cube", "circle"))
    ms = tuple(args.m or ((1, 2) if quick else (1, 2, 3)))
    ns = tuple(args.n or (QUICK_N if quick else DEFAULT_N))
    caps = default_caps(manifolds, ms, quick=quick) if args.cap is None else _parse_caps(args.cap)
    seeds = args.seeds if args.seeds is not None else (6 if quick else 10)
    if seeds < 1:
        raise ValueError(f"--seeds must be >= 1, got {seeds}")
    out = args.out or ("rates_output_quick" if quick else "rates_output")
    return SweepConfig(
        manifolds=manifolds, ms=ms, ns=ns, seeds=tuple(range(seeds)), lams=tuple(args.lam),
        losses=tuple(args.loss), labels=tuple(args.label), methods=tuple(args.method), d=args.d,
        density=args.density, n_caps=caps, output=os.path.join(out, "rates.csv"),
        n_reference=args.n_reference or (512 if quick else 2048), n_ot=args.n_ot or (1024 if quick else 4096),
        n_error=args.n_error or (2048 if quick else 8192), n_jobs=args.jobs, backend=args.backend,
        scheduler=args.scheduler, progress=not args.no_progress,
    )


def _fmt(x, spec="+.3f"):
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def _yes(x):
    return "" if x is None or (isinstance(x, float) and np.isnan(x)) else ("yes" if bool(x) else "NO")


def _with_log(f, kind: str) -> str:
    plain, logged = f.get(f"{kind}_exponent"), f.get(f"{kind}_exponent_log")
    if plain is None or not np.isfinite(plain):
        return ""
    return f"{_fmt(plain)} ({_fmt(logged, '+.2f')})"


def _both(f) -> str:
    plain, logged = _yes(f.get("ci_contains_sharp")), _yes(f.get("ci_contains_sharp_log"))
    return f"{plain} / {logged}" if plain else ""


def summary_markdown(fits, df, *, wall: float, load: tuple) -> str:
    """The verdict table and the acceptance checks, as markdown."""
    ok = df[df["status"] == "ok"]
    lines = [
        "# Convergence-rate study: verdicts (seed 000, Lemma 4.10, Theorem 4.8, Corollary 4.9)",
        "",
        f"Runs: {len(df)} ({len(df) - len(ok)} failed); wall time {wall:.0f} s; "
        f"load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min).",
        "Slopes are least-squares fits of log(mean over seeds) on log n, with 95 % stratified-bootstrap "
        "intervals over seeds. Bounds use C = 1, t = 1; 'ratio' is mean error / bound.",
        "",
        "Exponents ignore logarithms; in parentheses, the log-log slope of the rate itself (logs kept) "
        "over the measured n. 'CI has sharp': the interval contains the sharp exponent (or, after /, "
        "its log-kept slope).",
        "",
        "| problem | quantity | theorem | slope [95 % CI] | theory exp. | sharp exp. | CI has sharp | "
        "max ratio | ratio slope | non-increasing | n | seeds |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for _, f in fits.iterrows():
        if f["quantity"] not in ("w1", "l2sq", "linf", "excess_J", "gap_Jn"):
            continue
        problem = f"{f['manifold']} m={f['m']} d={f['d']} {f['label']} lam={f['lam']:g} {f['loss']} {f['method']}"
        slope = (f"{_fmt(f['slope'])} [{_fmt(f['ci_low'])}, {_fmt(f['ci_high'])}]"
                 if np.isfinite(f["slope"]) else f["note"])
        lines.append(
            f"| {problem} | {f['quantity']} | {f['theorem']} | {slope} | {_with_log(f, 'theory')} | "
            f"{_with_log(f, 'sharp')} | {_both(f)} | "
            f"{_fmt(f.get('max_ratio'), '.3g')} | "
            f"{_fmt(f.get('ratio_slope'))} | {_yes(f.get('non_increasing'))} | {f['n_min']}-{f['n_max']} | {f['seeds_min']} |"
        )
    lines += ["", "## Checks", ""]
    w1 = fits[(fits["quantity"] == "w1") & (fits["m"] == 1)]
    for _, f in w1.iterrows():
        lines.append(f"- {f['manifold']} m=1: W1 slope CI [{_fmt(f['ci_low'])}, {_fmt(f['ci_high'])}] "
                     f"contains -1/2: {_yes(f['ci_contains_sharp'])}")
    for _, f in fits[fits["quantity"] == "l2sq"].iterrows():
        lines.append(f"- {f['manifold']} m={f['m']}: L2^2 error below the Theorem 4.8 bound at every n: "
                     f"{_yes(f.get('below_bound'))} (max ratio {_fmt(f.get('max_ratio'), '.3g')}); "
                     f"error/bound non-increasing: {_yes(f.get('non_increasing'))}")
    failed = df[df["status"] != "ok"]
    if len(failed):
        lines += ["", f"## Failed runs ({len(failed)}; kept as done on resume: rerun into another --out to retry)", ""]
        for _, r in failed.head(MAX_FAILED_LISTED).iterrows():
            lines.append(f"- {r['manifold']} m={r['m']} d={r['d']} {r['label']} lam={r['lam']:g} {r['loss']} "
                         f"{r['method']} n={r['n']} seed={r['seed']}: {r['error']}")
        if len(failed) > MAX_FAILED_LISTED:
            lines.append(f"- ... and {len(failed) - MAX_FAILED_LISTED} more (status 'failed' in rates.csv)")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except (ValueError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = os.path.dirname(config.output)
    t0 = time.perf_counter()
    try:
        df = run_sweep(config)
    except ValueError as exc:  # the output holds rows of other settings, or is not a sweep CSV
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    fits = fit_rate(df, n_boot=args.boot)
    fits.to_csv(os.path.join(out, "fits.csv"), index=False)
    if not args.no_plots:
        from lipconv.plotting import plot_rates

        plot_rates(df, fits, out)
    text = summary_markdown(fits, df, wall=wall, load=os.getloadavg())
    with open(os.path.join(out, "summary.md"), "w") as fh:
        fh.write(text)
    print(text)
    print(f"wrote {out}/: rates.csv, fits.csv, summary.md" + ("" if args.no_plots else ", rate_*.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
