r"""Tightness probe of [FCAO] Theorem 4.8: how close to n^{-1/(m+2)} can the L2^2 error fall?

A fixed target shows its own rate (the rate study's ramps fall like n^-1 or faster); Theorem 4.8
bounds the worst case over targets with one Lipschitz bound. This study runs the families of targets
chosen per n before sampling (:data:`lipconv.rates.TIGHTNESS_FAMILIES`, all with Lip_t(y_n) <= 1: oscillations
and tents at the scale n^{-1/(m+2)}, an oscillation at the sample spacing, a fixed control and
lam_n -> 0) on FlatCube(m, m), m = 1, 2, 3, squared loss, and fits the slope in n of the worst
envelope's L2(rho)^2 error against the theory's -1/(m+2). Writes to the output directory:

* ``tightness.csv``: one row per run (family, m, n, seed and settings recorded); rerunning resumes it,
  and refuses to when --n-lifted or --l2-rtol differ from the rows already there;
* ``table.md``: per family and m the slope with its 95 % interval, -1/(m+2), their ratio and
  distance, the slowest fixed-lam family per m, and the reference's effect (worst relative change of
  an error, and the slopes of the bounds the reference's certified error allows);
* ``tightness.png``: measured exponent against m beside -1/(m+2);
* ``summary.md``: what is found, in words, with the table (also printed).

Usage::

    python studies/tightness.py              # default grid (n = 64..4,096, 5 seeds; 4 min 40 s measured on 2 cores)
    python studies/tightness.py --quick      # smoke run (25 s measured)
    python studies/tightness.py --families osc tents --m 2 --n 256 1024 4096 --seeds 5 --out out/
    python studies/tightness.py --replot     # table, figure and summary again from the CSV
"""
from __future__ import annotations

import argparse
import os
import sys
import time

from lipconv._validation import check_distinct, check_int, check_output_directory
from lipconv.rates import (
    TIGHTNESS_FAMILIES as FAMILIES,
)
from lipconv.rates import (
    plot_tightness,
    read_tightness,
    tightness_markdown,
    tightness_summary,
    tightness_sweep,
    tightness_table,
)
from lipconv.rates._resumable import write_report

DEFAULT = dict(ns=(64, 128, 256, 512, 1024, 2048, 4096), seeds=5, n_lifted=16384)
# A lifted reference on 16,384 cells takes about 1.5 s and is certified to an L2 error of 1.5e-5
# (65,536 cells: 15 s for 1e-5). In the default run the smallest errors (m = 1, n = 4,096: l2sq ~ 2e-7)
# may move by up to 29 %, but every fitted slope by at most 0.008 (the table's last column).
QUICK = dict(ns=(64, 128, 256, 512, 1024), seeds=2, n_lifted=8192)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small smoke run (about 25 s)")
    p.add_argument("--families", nargs="+", default=list(FAMILIES), choices=list(FAMILIES))
    p.add_argument("--m", nargs="+", type=int, default=[1, 2, 3], help="intrinsic dimensions (FlatCube(m, m))")
    p.add_argument("--n", nargs="+", type=int, default=None,
                   help=f"sample sizes (default {' '.join(map(str, DEFAULT['ns']))}; --quick "
                        f"{' '.join(map(str, QUICK['ns']))})")
    p.add_argument("--seeds", type=int, default=None,
                   help=f"seeds per n, 0..S-1 (default {DEFAULT['seeds']}; --quick {QUICK['seeds']})")
    p.add_argument("--n-lifted", type=int, default=None,
                   help=f"cells of the lifted reference (default {DEFAULT['n_lifted']}; --quick {QUICK['n_lifted']})")
    p.add_argument("--l2-rtol", type=float, default=0.05, help="target relative SE of the L2 estimate")
    p.add_argument("--jobs", type=int, default=2, help="parallel workers (joblib loky)")
    p.add_argument("--boot", type=int, default=2000, help="bootstrap replicates of each slope")
    p.add_argument("--out", default=None, help="output directory (default: tightness_output[_quick])")
    p.add_argument("--replot", action="store_true", help="only remake table, figure and summary from the CSV")
    p.add_argument("--no-plots", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def report(df, out: str, *, boot: int, plots: bool, footer: str = "") -> str:
    """Write table.md, tightness.png and summary.md for the runs ``df``; return the summary."""
    table = tightness_table(df, n_boot=boot)
    md = tightness_markdown(table)
    ok = df["status"] == "ok"
    failed = int((~ok).sum())
    lines = [
        "# Tightness probe of Theorem 4.8 ([FCAO])", "",
        "Slope of the worst envelope's L2(rho)^2 error in n, FlatCube(m, m), squared loss, targets chosen per n "
        "with Lip_t(y_n) <= 1 (lipconv.rates.TIGHTNESS_FAMILIES). Theorem 4.8 bounds this error by C (log n / n)^(1/(m+2)) "
        "for a fixed lam: a slope near -1/(m+2) would show the bound's exponent attained; ratio = slope / "
        "(-1/(m+2)) (1 is tight, larger is faster than the bound).", "",
        tightness_summary(table), "",
        md, "",
        f"Runs: {int(ok.sum())} ok, {failed} failed; n = {', '.join(map(str, sorted(df['n'].unique())))}; "
        f"seeds {', '.join(map(str, sorted(df['seed'].unique())))}; lifted reference on "
        f"{', '.join(map(str, sorted(df['n_lifted'].unique())))} cells. Worst certificate: max violation "
        f"{df.loc[ok, 'max_violation'].max():.1e}, relative gap {df.loc[ok, 'relative_gap'].max():.1e}.",
    ]
    if failed:
        lines.append("Failed runs: " + "; ".join(f"{r.family} m={r.m} n={r.n} seed={r.seed}: {r.error}"
                                                 for r in df[~ok].itertuples()))
    return write_report(out, table, md, lines, plot=plot_tightness if plots else None, figure="tightness.png",
                        footer=footer)


def check_args(args, *, ns: tuple, seeds: int, out: str) -> None:
    """Refuse, before any work, the flags whose fault would show only after the sweep (--boot is read by the
    table, --out when the CSV is written) or would run a configuration twice (--n, --m); the library checks
    the others (--families, --n-lifted, --l2-rtol, --jobs) as it starts the sweep."""
    check_int(seeds, "--seeds", minimum=1)
    check_int(args.boot, "--boot", minimum=1)
    check_int(args.jobs, "--jobs", minimum=1)
    check_distinct(ns, "--n")
    check_distinct(args.m, "--m")
    check_output_directory(out, "--out")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    base = QUICK if args.quick else DEFAULT
    ns = tuple(args.n) if args.n else base["ns"]
    seeds = args.seeds if args.seeds is not None else base["seeds"]
    n_lifted = args.n_lifted if args.n_lifted is not None else base["n_lifted"]
    out = args.out or ("tightness_output_quick" if args.quick else "tightness_output")
    path = os.path.join(out, "tightness.csv")
    try:
        check_args(args, ns=ns, seeds=seeds, out=out)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.replot:
        if not os.path.exists(path):
            print(f"error: --replot needs {path}; run the study first", file=sys.stderr)
            return 2
        print(report(read_tightness(path), out, boot=args.boot, plots=not args.no_plots))
        return 0
    print(f"tightness probe: families {', '.join(args.families)}; m = {', '.join(map(str, args.m))}; "
          f"n = {', '.join(map(str, ns))}; {seeds} seeds; lifted reference on {n_lifted} cells; "
          f"{args.jobs} worker(s)", flush=True)
    t0 = time.perf_counter()
    try:
        df = tightness_sweep(path, families=args.families, ms=args.m, ns=ns, seeds=range(seeds), n_lifted=n_lifted,
                             rtol_l2=args.l2_rtol, n_jobs=args.jobs, progress=not args.no_progress)
    except ValueError as exc:  # bad option, or the CSV holds rows of other settings
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall = time.perf_counter() - t0
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    footer = (f"Wall time of the runs {wall:.0f} s on {args.jobs} worker(s) (load average at the end: {load}; "
              "runs already in the CSV are not redone).")
    print(report(df, out, boot=args.boot, plots=not args.no_plots, footer=footer))
    print(f"wrote {out}/: tightness.csv, table.csv, table.md, summary.md" + ("" if args.no_plots else ", tightness.png"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
