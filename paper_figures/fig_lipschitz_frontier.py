r"""The best training loss a Lipschitz function can reach on digits, and how far trained networks are from it.

For n training digits (8x8, in [0, 1]^64) with one-hot labels and a budget L, the fixed-L program

.. math:: \mathcal B(L) = \min_u \frac1n\sum_i \|u_i - y_i\|_2^2 \quad\text{s.t.}\quad
          \|u_i - u_j\|_2 \le L\,\|x_i - x_j\|_2

(``lipconv.solvers.lipschitz_regression(..., lipschitz=L)``, certified) is the best training loss
(squared loss of the class probabilities, the Brier score) of ANY function whose Lipschitz constant
on these points is at most L: no network, whatever its architecture or training, does better. The
frontier :math:`\mathcal B(L)` is drawn on a grid of L up to the labels' own constant (where it
reaches 0), and beside it MLPs trained on the same n digits with increasing finite-difference
gradient penalties ([FO] Algorithm 1): each network at its training loss, drawn from its
empirical Lipschitz lower bound (the larger of its largest Jacobian norm at a sample and its largest
pair quotient) to its certified upper bound (layer-norm product, halved for the softmax), with a dot at
its constant on the data (largest pair quotient), where the certified inequality
loss >= :math:`\mathcal B(L_{data})` applies (a cross marks that bound;
:func:`lipconv.nn.lipschitz_loss_gap`).

Outputs: fig_lipschitz_frontier.csv (one row per solve), fig_lipschitz_frontier.png (drawn from the
CSV by :func:`plot`), fig_lipschitz_frontier.json.
"""
from __future__ import annotations

import csv
import sys
import time
from pathlib import Path

import numpy as np

try:
    from . import _common, _digits
except ImportError:
    import _common
    import _digits

PENALTIES = (0.0, 0.3, 3.0, 30.0)
FIELDS = ("kind", "network", "fd_weight", "which", "lipschitz", "best_loss", "lower_bound", "train_loss",
          "max_violation", "relative_gap", "certified", "n", "seed")


def frontier_rows(X, Y, Ls, seed):
    from lipconv.solvers import lipschitz_regression

    rows = []
    for L in Ls:
        r = lipschitz_regression(X, Y, lipschitz=float(L))
        rows.append({"kind": "frontier", "network": "", "fd_weight": "", "which": "grid", "lipschitz": float(L),
                     "best_loss": r.loss_value, "lower_bound": r.lower_bound, "train_loss": "",
                     "max_violation": r.max_violation, "relative_gap": r.relative_gap, "certified": r.certified,
                     "n": X.shape[0], "seed": seed})
        print(f"frontier L = {L:.4g}: B(L) = {r.loss_value:.5f} (certified >= {r.lower_bound:.5f})", flush=True)
    return rows


def network_rows(split, weights, *, hidden, epochs, seed):
    import torch

    import lipconv.nn as lnn

    rows = []
    x, y = split.x_train.to(torch.float64), split.y_train
    for w in weights:
        defence = "undefended" if w == 0 else "fd-gradient"
        trained = _digits.train(defence, split, hidden=hidden, epochs=epochs, weights={"fd": w}, seed=seed)
        model = trained.model.double()
        gap = lnn.lipschitz_loss_gap(model, x, y, loss="squared", outputs="probabilities")
        print(f"FD weight {w:g}:\n{gap}", flush=True)
        for r in gap.rows:
            rows.append({"kind": "network", "network": f"fd={w:g}", "fd_weight": w, "which": r.name,
                         "lipschitz": r.lipschitz, "best_loss": r.best_loss, "lower_bound": r.lower_bound,
                         "train_loss": gap.train_loss, "max_violation": r.max_violation,
                         "relative_gap": r.relative_gap, "certified": r.certified, "n": gap.n, "seed": seed})
    return rows


def plot(csv_path: Path, png_path: Path) -> Path:
    """Draw the figure from the CSV alone (no solve)."""
    import matplotlib.pyplot as plt

    with open(csv_path) as f:
        rows = list(csv.DictReader(f))
    front = sorted((float(r["lipschitz"]), float(r["best_loss"]), float(r["lower_bound"]))
                   for r in rows if r["kind"] == "frontier")
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    Ls, B, D = (np.array(c) for c in zip(*front))
    ax.plot(Ls, B, "k-", lw=2, label=r"best loss $\mathcal{B}(L)$ of any $L$-Lipschitz function")
    ax.fill_between(Ls, 0, D, color="0.85", label="certified: no function with constant $\\leq L$ goes below")
    nets = sorted({r["network"] for r in rows if r["kind"] == "network"}, key=lambda s: float(s.split("=")[1]))
    colors = plt.cm.viridis(np.linspace(0, 0.85, max(len(nets), 1)))
    for c, name in zip(colors, nets):
        rr = {r["which"]: r for r in rows if r["network"] == name}
        loss = float(rr["data"]["train_loss"])
        lo = max(float(rr["empirical lower"]["lipschitz"]), float(rr["data"]["lipschitz"]))
        hi = float(rr["certified upper"]["lipschitz"]) if "certified upper" in rr else lo
        ax.plot([lo, hi], [loss, loss], "-", color=c, lw=1.5)
        ax.plot([lo], [loss], "|", color=c, ms=10)
        ax.plot([float(rr["data"]["lipschitz"])], [loss], "o", color=c, label=f"MLP, FD penalty {name[3:]}")
        ax.plot([float(rr["data"]["lipschitz"])], [float(rr["data"]["best_loss"])], "x", color=c)
    ax.set_xscale("log")
    ax.set(xlabel="Lipschitz constant L (l2 -> l2, class probabilities)", ylabel="training Brier score",
           title="digits: networks vs the best Lipschitz function on their data")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=2, frameon=False)
    _common.save_figure(fig, png_path)
    plt.close(fig)
    return png_path


def main(argv=None) -> dict:
    args, out = _digits.parse_args(__doc__.splitlines()[0], argv)
    import torch

    t0 = time.perf_counter()
    n = 24 if args.tiny else 100
    split = _digits.load_split(args.seed, n_train=n, n_test=8)
    weights = PENALTIES[:2] if args.tiny else PENALTIES
    hidden = (16,) if args.tiny else (64, 64)
    epochs = 5 if args.tiny else 300
    X = split.x_train.to(torch.float64).numpy()
    Y = np.eye(10)[split.y_train.numpy()]
    dX = np.sqrt(((X[:, None] - X[None]) ** 2).sum(-1))
    dY = np.sqrt(((Y[:, None] - Y[None]) ** 2).sum(-1))
    L_labels = float((dY[dX > 0] / dX[dX > 0]).max())
    rows = network_rows(split, weights, hidden=hidden, epochs=epochs, seed=args.seed)
    smallest = min([L_labels / 30] + [r["lipschitz"] for r in rows if r["which"] == "data"])
    grid = np.geomspace(smallest / 1.5, L_labels, 3 if args.tiny else 10)
    rows += frontier_rows(X, Y, grid, args.seed)
    csv_path = out / "fig_lipschitz_frontier.csv"
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        w.writerows(rows)
    print(f"wrote {csv_path}")
    plot(csv_path, out / "fig_lipschitz_frontier.png")
    result = {"n": n, "labels_lipschitz": L_labels, "rows": rows, "seconds": time.perf_counter() - t0,
              "all_certified": all(bool(r["certified"]) for r in rows),
              "network_above_bound": all(r["train_loss"] >= r["lower_bound"] - 1e-9
                                         for r in rows if r["kind"] == "network" and r["which"] == "data")}
    _common.write_json(out / "fig_lipschitz_frontier.json", result)
    return result


if __name__ == "__main__":
    main(sys.argv[1:])
