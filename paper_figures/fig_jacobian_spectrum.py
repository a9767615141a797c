r"""Seed 003, Figure 2 in small: singular values of the logit Jacobian :math:`J_f(x)` and the
alignment of adversarial perturbations with its right singular vectors, standard vs adversarial
training, on scikit-learn digits.

For each model (MLP 64-128-128-10: standard training, L2 PGD adversarial training at radius 0.5, and
the data-dependent Jacobian spectral penalty of [RKH] eq. (7)) and each of the first 200 test
points: the full SVD :math:`J_f(x) = \sum_r \sigma_r u_r v_r^\top` of the extracted 10 x 64 Jacobian
(:func:`lipconv.nn.jacobian`), and the cosine :math:`|\langle \delta, v_r\rangle| / \|\delta\|_2` of the
model's own 20-step L2 PGD perturbation :math:`\delta` (radius 0.5) with each :math:`v_r`. As in the
seed, the standard model's perturbations are also compared with the singular vectors of an untrained
("random") network of the same architecture. Seed 003 reports that adversarial training damps the
singular values and that perturbations align with the dominant singular vectors.

Outputs: fig_jacobian_spectrum.png, fig_jacobian_spectrum.json.
"""
from __future__ import annotations

import sys
import time

import numpy as np

try:
    from . import _common, _digits
except ImportError:
    import _common
    import _digits

MODELS = ("undefended", "pgd-at", "jacobian-spectral")


def spectrum_and_alignment(model, x, delta) -> tuple[np.ndarray, np.ndarray]:
    """Singular values (n, k) of the logit Jacobians at x and |cos(delta, v_r)| (n, k)."""
    import torch

    import lipconv.nn as lnn

    J = lnn.jacobian(model, x).to(torch.float64)
    _, S, Vh = torch.linalg.svd(J, full_matrices=False)
    d = delta.reshape(delta.shape[0], -1).to(torch.float64)
    d = d / torch.linalg.vector_norm(d, dim=1, keepdim=True).clamp_min(1e-300)
    cos = (Vh @ d[:, :, None])[..., 0].abs()
    return S.numpy(), cos.numpy()


def main(argv=None) -> dict:
    args, out = _digits.parse_args(__doc__.splitlines()[0], argv)
    import matplotlib.pyplot as plt

    import lipconv.nn as lnn

    t0 = time.perf_counter()
    if args.tiny:
        split, epochs, hidden, n_points = _digits.load_split(args.seed, n_train=128, n_test=16), 1, (16,), 16
    else:
        split, epochs, hidden, n_points = _digits.load_split(args.seed), args.epochs, (128, 128), 200
    x, y = split.x_test[:n_points], split.y_test[:n_points]
    results, deltas = {}, {}
    for name in MODELS:
        model = _digits.train(name, split, hidden=hidden, epochs=epochs, eps=args.eps, seed=args.seed).model
        delta = lnn.pgd(model, x, y, eps=args.eps, norm="L2", steps=20, seed=args.seed) - x
        deltas[name] = delta
        S, cos = spectrum_and_alignment(model, x, delta)
        results[name] = {"singular_values": S, "alignment": cos, "clean_error": _digits.error(model, x, y)}
    random_net = _digits.make_mlp(hidden, seed=args.seed + 1)
    S, cos = spectrum_and_alignment(random_net, x, deltas["undefended"])
    results["random network"] = {"singular_values": S, "alignment": cos, "clean_error": _digits.error(random_net, x, y)}

    fig, (ax_s, ax_a) = plt.subplots(1, 2, figsize=(11, 4.2), constrained_layout=True)
    for name, r in results.items():
        ranks = np.arange(1, r["singular_values"].shape[1] + 1)
        mean_s = r["singular_values"].mean(axis=0)
        lo, hi = np.quantile(r["singular_values"], [0.1, 0.9], axis=0)
        if name != "random network":
            line, = ax_s.semilogy(ranks, mean_s, marker="o", ms=3, label=name)
            ax_s.fill_between(ranks, lo, hi, color=line.get_color(), alpha=0.15)
        ax_a.plot(ranks, r["alignment"].mean(axis=0), marker="o", ms=3,
                  ls="--" if name == "random network" else "-",
                  label=name + (" (undefended's perturbations)" if name == "random network" else ""))
    ax_s.set(xlabel="rank r", ylabel=r"$\sigma_r(J_f(x))$ (mean, 10-90% band)",
             title="singular values of the logit Jacobian")
    ax_a.set(xlabel="rank r", ylabel=r"mean $|\cos(\delta, v_r)|$",
             title=f"alignment of L2 PGD perturbations ($\\epsilon$ = {args.eps:g})")
    ax_s.legend(fontsize=8)
    ax_a.legend(fontsize=8)
    fig.suptitle(f"digits, MLP {list(hidden)}, {x.shape[0]} test points, seed {args.seed}")
    _common.save_figure(fig, out / "fig_jacobian_spectrum.png")
    plt.close(fig)

    summary = {"eps": args.eps, "epochs": epochs, "n_points": int(x.shape[0]), "seed": args.seed, "models": {
        name: {"mean_singular_values": r["singular_values"].mean(axis=0).tolist(),
               "mean_alignment": r["alignment"].mean(axis=0).tolist(), "clean_error": r["clean_error"]}
        for name, r in results.items()}}
    summary["seconds"] = time.perf_counter() - t0
    _common.write_json(out / "fig_jacobian_spectrum.json", summary)
    for name, r in summary["models"].items():
        print(f"{name:18s} sigma_1 {r['mean_singular_values'][0]:.3f}  align_1 {r['mean_alignment'][0]:.3f}  "
              f"align_10 {r['mean_alignment'][-1]:.3f}")
    return summary


if __name__ == "__main__":
    main(sys.argv[1:])
