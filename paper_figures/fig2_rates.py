r"""The rate figures of the default rate study ([FCAO] Section 4), redrawn from its CSV.

Reads ``rates.csv`` (and ``fits.csv`` when present; otherwise the fits are recomputed from the CSV
by :func:`lipconv.rates.fit_rate`) and draws the study's figures with :func:`lipconv.plotting.plot_study`
(one per theorem, all problems on shared axes, and the manifold-hypothesis panel); nothing is
re-solved. The default CSV is ``rates_output/rates.csv`` in the repository, the default output of
``python studies/rates.py`` (about 8 minutes on 2 cores; run it first for the real figures).

When that CSV does not exist the script says so and, unless ``--no-fallback``, runs
``python studies/rates.py --quick`` (about a minute) into ``<out>/fig2_rates_quick/`` and redraws from
that CSV instead, marking the outputs as the quick study, so that ``make_all.py`` always produces
the item from a fresh install.

Outputs: fig2_rates/theorem_<w1|l2sq|linf>.png, fig2_rates/panel.png (when the CSV holds the curved
torus) and fig2_rates.json (source CSV, rows, slopes).
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

try:
    from . import _common
except ImportError:
    import _common

REPO = _common.HERE.parent
DEFAULT_CSV = REPO / "rates_output" / "rates.csv"


def quick_study(folder: Path, *, tiny: bool) -> Path:
    cmd = [sys.executable, str(REPO / "studies" / "rates.py"), "--quick", "--out", str(folder), "--no-plots",
           "--no-progress", "--jobs", "1"]
    if tiny:
        cmd += ["--problems", "cube:m=1", "--n", "16", "32", "64", "--seeds", "2", "--boot", "50",
                "--sup-evals", "20000"]
    print("running: " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True, cwd=REPO, stdout=subprocess.DEVNULL)
    return folder / "rates.csv"


def main(argv=None) -> dict:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--csv", type=Path, default=DEFAULT_CSV, help=f"the study's rates.csv (default {DEFAULT_CSV})")
    p.add_argument("--no-fallback", action="store_true", help="fail instead of running the quick study")
    args = p.parse_args(argv)
    out = _common.prepare(args)
    import pandas as pd

    from lipconv.plotting import plot_study
    from lipconv.rates import fit_rate

    t0 = time.perf_counter()
    csv, source = args.csv, "default study"
    if args.tiny or not csv.is_file():
        if not args.tiny:
            msg = (f"{csv} not found: produce the default study with `python studies/rates.py` "
                   f"(output rates_output/), or pass --csv PATH.")
            if args.no_fallback:
                raise SystemExit(msg)
            print(msg + " Falling back to the quick study.", flush=True)
        csv, source = quick_study(out / "fig2_rates_quick", tiny=args.tiny), "quick study (studies/rates.py --quick)"
    df = pd.read_csv(csv)
    fits_csv = csv.parent / "fits.csv"
    fits = pd.read_csv(fits_csv) if fits_csv.is_file() else fit_rate(df, n_boot=200 if args.tiny else 2000)
    folder = out / "fig2_rates"
    paths = plot_study(df, fits, str(folder))
    for path in paths:
        print(f"wrote {path}")
    summary = {
        "csv": str(csv), "source": source, "rows": int(len(df)), "figures": [str(Path(x).name) for x in paths],
        "methods": sorted(map(str, df["method"].unique())) if "method" in df.columns else [],
        "slopes": fits.to_dict(orient="records"), "seconds": time.perf_counter() - t0,
    }
    _common.write_json(out / "fig2_rates.json", summary)
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
