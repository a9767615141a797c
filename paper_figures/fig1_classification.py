r"""Seed 000, Figure 1: Lipschitz-regularized classification of synthetic 2-D data, clean and with
10% of the labels corrupted; the regularized solution corrects most corrupted labels.

Two classes y = ±1 on either side of a sine-shaped boundary in [0,1]^2, n uniform points. The
solution is the exact minimizer of [FCAO] eq. (2.7) with the absolute loss (an LP,
:func:`lipconv.solvers.lipschitz_regression`), extended to the plane by the midpoint (McShane-Whitney)
extension. With the absolute loss the solution equals the label on a large part of the data
(Figure 1, left); a corrupted label is "corrected" when sign(u_n(x_i)) is the clean label.

Outputs: fig1_classification.png, fig1_classification.json.
"""
from __future__ import annotations

import sys
import time

import numpy as np

try:
    from . import _common
except ImportError:
    import _common


def boundary_labels(X: np.ndarray) -> np.ndarray:
    return np.where(X[:, 1] > 0.5 + 0.2 * np.sin(2.0 * np.pi * X[:, 0]), 1.0, -1.0)


def main(argv=None) -> dict:
    p = _common.parser(__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=300, help="number of samples (default 300)")
    p.add_argument("--lam", type=float, default=0.02, help="lambda of eq. (2.7) (default 0.02)")
    p.add_argument("--fraction", type=float, default=0.1, help="fraction of corrupted labels (default 0.1)")
    args = p.parse_args(argv)
    out = _common.prepare(args)
    import matplotlib.pyplot as plt

    from lipconv.manifolds import corrupt_labels
    from lipconv.solvers import lipschitz_regression

    n = 40 if args.tiny else args.n
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    X = rng.uniform(size=(n, 2))
    y = boundary_labels(X)
    y_bad = corrupt_labels(y, args.fraction, rng)
    flipped = np.flatnonzero(y_bad != y)
    clean = lipschitz_regression(X, y, lam=args.lam, loss="absolute")
    noisy = lipschitz_regression(X, y_bad, lam=args.lam, loss="absolute")
    u0, u1 = clean.values[:, 0], noisy.values[:, 0]
    kept = np.setdiff1d(np.arange(n), flipped)
    summary = {
        "n": n, "lam": args.lam, "loss": "absolute", "seed": args.seed, "fraction_corrupted": args.fraction,
        "n_corrupted": int(flipped.size),
        "clean_exact_fit": float(np.mean(np.abs(u0 - y) <= 1e-6)),
        "clean_sign_accuracy": float(np.mean(np.sign(u0) == y)),
        "fraction_corrected": float(np.mean(np.sign(u1[flipped]) == y[flipped])) if flipped.size else float("nan"),
        "uncorrupted_kept": float(np.mean(np.sign(u1[kept]) == y[kept])),
        "lipschitz_clean": clean.lipschitz, "lipschitz_corrupted": noisy.lipschitz,
        "objective_clean": clean.objective, "objective_corrupted": noisy.objective,
        "max_violation": max(clean.max_violation, noisy.max_violation),
    }

    g = np.linspace(0.0, 1.0, 60 if args.tiny else 160)
    G = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.6), constrained_layout=True)
    for ax, res, labels, title in ((axes[0], clean, y, "clean labels"),
                                   (axes[1], noisy, y_bad, f"{args.fraction:.0%} labels corrupted")):
        U = res.predict(G).reshape(g.size, g.size)
        im = ax.imshow(U, origin="lower", extent=(0, 1, 0, 1), cmap="RdBu", vmin=-1, vmax=1, alpha=0.8)
        ax.contour(g, g, U, levels=[0.0], colors="k", linewidths=1.0)
        ax.scatter(X[:, 0], X[:, 1], c=labels, cmap="RdBu", vmin=-1, vmax=1, s=14, edgecolors="k", linewidths=0.4)
        ax.set(title=f"{title}: Lip(u) = {res.lipschitz:.2f}", xlabel="$x_1$", ylabel="$x_2$", aspect="equal")
    axes[1].scatter(X[flipped, 0], X[flipped, 1], s=70, facecolors="none", edgecolors="gold", linewidths=1.5,
                    label=f"corrupted ({summary['fraction_corrected']:.0%} corrected)")
    axes[1].legend(loc="lower left", fontsize=8)
    fig.colorbar(im, ax=axes, shrink=0.8, label="$u_n$ (midpoint extension)")
    fig.suptitle(f"Lipschitz-regularized classification, absolute loss, $\\lambda$ = {args.lam:g}, n = {n}")
    _common.save_figure(fig, out / "fig1_classification.png")
    plt.close(fig)
    summary["seconds"] = time.perf_counter() - t0
    _common.write_json(out / "fig1_classification.json", summary)
    print(f"corrected {summary['fraction_corrected']:.1%} of {flipped.size} corrupted labels; "
          f"kept {summary['uncorrupted_kept']:.1%} of the others")
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
