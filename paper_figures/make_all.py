"""Regenerate every paper figure and table into paper_figures/output/ (one script per item).

    python paper_figures/make_all.py            # everything (about 2-3 min on 2 cores)
    python paper_figures/make_all.py --tiny     # smoke setting (seconds per script)
    python paper_figures/make_all.py --only fig1_classification table4_dataset_lipschitz

Each script runs in its own process with the same seed; its wall time and exit status go to
``<out>/make_all.md``. The exit status is 1 when any script failed (the others still run).
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = (
    ("fig1_classification", "[FCAO] Figure 1: classification with 10% corrupted labels"),
    ("fig2_rates", "rate figures of the default study, from its CSV"),
    ("table4_dataset_lipschitz", "[FCAO] Table 4 / [FOA] Table 2: data set Lipschitz constants"),
    ("table2_digits_robustness", "[FCAO] Table 2 / [FOA] Table 1 in small, on digits"),
    ("fig_jacobian_spectrum", "[RKH] Figure 2 in small: Jacobian spectrum and alignment"),
    ("sec67_bounds_detection", "[FCAO] §6-7: product bound vs gradient estimate; attack detection"),
    ("fig_lipschitz_frontier", "best training loss of any L-Lipschitz function on digits vs trained networks"),
)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=HERE / "output")
    p.add_argument("--tiny", action="store_true", help="smoke setting of every script")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", nargs="+", choices=[s for s, _ in SCRIPTS], default=None)
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, failed = [], []
    t_all = time.perf_counter()
    for name, what in SCRIPTS:
        if args.only and name not in args.only:
            continue
        cmd = [sys.executable, str(HERE / f"{name}.py"), "--out", str(args.out), "--seed", str(args.seed)]
        cmd += ["--tiny"] if args.tiny else []
        print(f"=== {name}: {what}", flush=True)
        t0 = time.perf_counter()
        rc = subprocess.run(cmd).returncode
        dt = time.perf_counter() - t0
        rows.append((name, what, dt, rc))
        if rc != 0:
            failed.append(name)
        print(f"=== {name}: {'ok' if rc == 0 else f'FAILED (exit {rc})'} in {dt:.1f} s", flush=True)
    total = time.perf_counter() - t_all
    lines = ["# paper_figures/make_all.py run", "",
             f"Seed {args.seed}{', --tiny (smoke setting)' if args.tiny else ''}; total {total:.0f} s.", "",
             "| script | item | seconds | status |", "|---|---|---|---|"]
    lines += [f"| {n} | {w} | {dt:.1f} | {'ok' if rc == 0 else f'FAILED ({rc})'} |" for n, w, dt, rc in rows]
    (args.out / "make_all.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
