r"""Sharpness study of [FCAO] Theorem 4.8: where do the exponents -1/(m+2), -2/(m+2) and -1/m show?

Extends the tightness probe (``studies/tightness.py``: noise-free targets chosen per n, penalized
estimator) on FlatCube(m, m), m = 1 ... 5, squared loss (:mod:`lipconv.rates._sharpness`):

* noisy fixed targets (the ramp of the rate study plus sigma N(0, 1), several sigma), the error at
  the samples and in L2(rho) side by side;
* the constrained least-squares estimator (fixed L, ``lipschitz_regression(..., lipschitz=L)``)
  beside the penalized one (fixed lam): for m > 2 the least-squares rate over a Lipschitz class lies
  between the minimax n^(-2/(m+2)) and the entropy bound n^(-1/m), and which one holds is open;
* worst-case targets chosen per n before sampling (bump ensembles at the minimax scale
  h_n = 2 n^(-1/(m+2)), random signs), constrained estimator;
* W1(rho_n, rho) of every sample beside its deterministic floor m/(m+1) (nK)^(-1/m)
  (:func:`lipconv.discrepancy.quantization_floor`).

Writes to the output directory:

* ``sharpness.csv``: one row per run (series, sigma, m, n, seed and settings recorded), appended as
  runs finish; rerunning resumes it (only rows of the same --lam, --l2-rtol and lipconv version; a
  CSV of other settings is refused);
* ``table.csv`` / ``table.md``: per series, sigma, m and quantity the slope with its 95 % interval,
  its width, local slopes, and -1/(m+2), -2/(m+2), -1/m beside it;
* ``sharpness.png``: exponent against m for each series, with the three exponent curves;
* ``summary.md``: sentences computed from the table only (also printed).

Usage::

    python studies/sharpness.py              # default: m = 1..5, n = 256..4,096, 4 seeds (56 s wall, 104 s of CPU here)
    python studies/sharpness.py --quick      # smoke run
    python studies/sharpness.py --long --jobs 1   # n to 32,768 (m = 3) and 16,384 (m = 4, 5), 8 seeds: hours
    python studies/sharpness.py --long --stop-after 10800   # stop starting runs after 3 h (resume later)
    python studies/sharpness.py --series constrained/bumps w1 --m 3 --n 512 2048 8192 --seeds 6 --out out/
    python studies/sharpness.py --replot     # table, figure and summary again from the CSV
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from lipconv._validation import check_distinct, check_int, check_output_directory
from lipconv.rates import (
    SHARPNESS_SERIES,
    SHARPNESS_SIGMAS,
    plot_sharpness,
    read_sharpness,
    sharpness_markdown,
    sharpness_summary,
    sharpness_sweep,
    sharpness_table,
)
from lipconv.rates._resumable import write_report

# The long mode leaves out sigma = 0.1: over the n it reaches, least squares at a fixed L stays close to
# interpolating that noise at m >= 4 (default study: error at the samples slopes -0.05 to -0.15), and its
# solves would add half the time again (CPU seconds of one solve at m = 3, n = 32,768: penalized 44,
# constrained 21; one seed of the long grid about 1,000 s with three sigmas).
MODES = {
    "quick": dict(grid={m: (128, 256, 512) for m in (1, 3, 5)}, seeds=2, sigmas=SHARPNESS_SIGMAS),
    "default": dict(grid={m: (256, 512, 1024, 2048, 4096) for m in (1, 2, 3, 4, 5)}, seeds=4, sigmas=SHARPNESS_SIGMAS),
    "long": dict(grid={1: (512, 1024, 2048, 4096, 8192, 16384), 2: (512, 1024, 2048, 4096, 8192, 16384),
                       3: (512, 1024, 2048, 4096, 8192, 16384, 32768), 4: (512, 1024, 2048, 4096, 8192, 16384),
                       5: (512, 1024, 2048, 4096, 8192, 16384)}, seeds=8, sigmas=(0.3, 1.0)),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small smoke run (m = 1, 3, 5; n = 128..512; 2 seeds)")
    mode.add_argument("--long", action="store_true",
                      help="long mode: n = 512..16,384 (32,768 at m = 3), 8 seeds (hours on 2 cores; resumable)")
    p.add_argument("--series", nargs="+", default=list(SHARPNESS_SERIES), choices=list(SHARPNESS_SERIES))
    p.add_argument("--sigma", nargs="+", type=float, default=None,
                   help="noise levels of the labels (default 0.1 0.3 1; --long 0.3 1)")
    p.add_argument("--m", nargs="+", type=int, default=None, help="intrinsic dimensions (default: the mode's)")
    p.add_argument("--n", nargs="+", type=int, default=None, help="sample sizes for every m (default: the mode's)")
    p.add_argument("--seeds", type=int, default=None, help="seeds per n, 0..S-1 (default: the mode's)")
    p.add_argument("--lam", type=float, default=0.02, help="ambient lambda of the penalized estimator")
    p.add_argument("--l2-rtol", type=float, default=0.05, help="target relative SE of the L2 estimate")
    p.add_argument("--jobs", type=int, default=2, help="parallel workers (joblib loky)")
    p.add_argument("--stop-after", type=float, default=None,
                   help="seconds after which no new run is started (finished rows stay; rerun to resume)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap replicates of each slope")
    p.add_argument("--out", default=None, help="output directory (default: sharpness_output[_quick|_long])")
    p.add_argument("--replot", action="store_true", help="only remake table, figure and summary from the CSV")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def report(df, out: str, *, boot: int, plots: bool, footer: str = "") -> str:
    """Write table.csv, table.md, sharpness.png and summary.md for the runs ``df``; return the summary."""
    table = sharpness_table(df, n_boot=boot)
    md = sharpness_markdown(table)
    ok = df["status"] == "ok"
    solved = ok & (df["estimator"] != "w1")
    failed = int((~ok).sum())
    lines = [
        "# Sharpness study of Theorem 4.8 ([FCAO])", "",
        "Slopes in n of the worst extension's L2(rho)^2 error, of the error at the samples and of W1(rho_n, rho), "
        "FlatCube(m, m), squared loss (lipconv.rates._sharpness). Beside each: -1/(m+2) (Theorem 4.8's bound, an "
        "upper bound for each target), -2/(m+2) (the minimax rate over a Lipschitz class with noisy labels) and "
        "-1/m (for m > 2 the entropy bound of least squares over that class; the exponent of the W1 floor). "
        "'steeper than' / 'shallower than': the 95 % interval lies below / above that exponent.", "",
        sharpness_summary(table), "", "## Table", "", md, "",
        f"Runs: {int(ok.sum())} ok, {failed} failed; m = {', '.join(map(str, sorted(df['m'].unique())))}; "
        f"n = {', '.join(map(str, sorted(df['n'].unique())))}; seeds {', '.join(map(str, sorted(df['seed'].unique())))}; "
        f"sigma {', '.join(f'{s:g}' for s in sorted(df.loc[df['estimator'] != 'w1', 'sigma'].unique()))}.",
    ]
    if solved.any():
        lines.append(f"Worst certificate of the solves: max violation {df.loc[solved, 'max_violation'].max():.1e}, "
                     f"relative gap {df.loc[solved, 'relative_gap'].max():.1e}.")
    if failed:
        lines.append("Failed runs: " + "; ".join(f"{r.estimator}/{r.family} sigma={r.sigma:g} m={r.m} n={r.n} "
                                                 f"seed={r.seed}: {r.error}" for r in df[~ok].itertuples()))
    return write_report(out, table, md, lines, plot=plot_sharpness if plots else None, figure="sharpness.png",
                        footer=footer)


def plan(args) -> tuple:
    """(mode name, grid m -> n values, number of seeds, sigmas, output directory) of parsed ``args``:
    the mode's values, replaced by --m, --n, --seeds, --sigma and --out where given (an m outside the
    mode's grid takes the grid of its largest m)."""
    name = "quick" if args.quick else "long" if args.long else "default"
    base = MODES[name]
    ms = tuple(args.m) if args.m else tuple(base["grid"])
    grid = {m: (tuple(args.n) if args.n else base["grid"].get(m, base["grid"][max(base["grid"])])) for m in ms}
    seeds = args.seeds if args.seeds is not None else base["seeds"]
    sigmas = tuple(args.sigma) if args.sigma else base["sigmas"]
    out = args.out or ("sharpness_output" if name == "default" else f"sharpness_output_{name}")
    return name, grid, seeds, sigmas, out


def check_args(args, *, seeds: int, out: str) -> None:
    """Refuse, before any work, the flags whose fault would show only after the sweep (--boot is read by the
    table, --out when the CSV is written) or would run a configuration twice (--m, --n, --sigma); the library
    checks the values (--m, --n, --sigma, --lam, --l2-rtol, --stop-after) as the sweep starts."""
    check_int(seeds, "--seeds", minimum=1)
    check_int(args.boot, "--boot", minimum=1)
    check_int(args.jobs, "--jobs", minimum=1)
    for flag, values in (("--m", args.m), ("--n", args.n), ("--sigma", args.sigma)):
        check_distinct(values or (), flag)
    check_output_directory(out, "--out")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    name, grid, seeds, sigmas, out = plan(args)
    path = os.path.join(out, "sharpness.csv")
    try:
        check_args(args, seeds=seeds, out=out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.replot:
        if not os.path.exists(path):
            print(f"error: --replot needs {path}; run the study first", file=sys.stderr)
            return 2
        df = read_sharpness(path)
        footer = f"Redrawn from {path}; CPU time of its {len(df)} runs {df['cpu_time'].sum():.0f} s (each run's own process time)."
        print(report(df, out, boot=args.boot, plots=not args.no_plots, footer=footer))
        return 0
    print(f"sharpness study ({name}): series {', '.join(args.series)}; sigma {', '.join(map(str, sigmas))}; "
          + "; ".join(f"m = {m}: n = {', '.join(map(str, ns))}" for m, ns in grid.items())
          + f"; {seeds} seeds; {args.jobs} worker(s)", flush=True)
    t0 = time.perf_counter()
    try:
        df = sharpness_sweep(path, series=args.series, sigmas=sigmas, grid=grid, seeds=range(seeds), lam=args.lam,
                             rtol_l2=args.l2_rtol, n_jobs=args.jobs, progress=not args.no_progress,
                             stop_after=args.stop_after)
    except ValueError as exc:  # bad option, or the CSV holds rows of other settings
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    footer = (f"Wall time of this invocation {wall:.0f} s on {args.jobs} worker(s) (load average at the end: {load}; "
              f"runs already in the CSV are not redone); CPU time of all {len(df)} runs in the table "
              f"{df['cpu_time'].sum():.0f} s (each run's own process time).")
    print(report(df, out, boot=args.boot, plots=not args.no_plots, footer=footer))
    print(f"wrote {out}/: sharpness.csv, table.csv, table.md, summary.md" + ("" if args.no_plots else ", sharpness.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
