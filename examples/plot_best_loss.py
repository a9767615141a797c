r"""
The best training loss any L-Lipschitz model can reach
=======================================================

Given data :math:`(x_i, y_i)` and a budget L, the fixed-L program ([FCAO] eq. (2.7) with L
fixed instead of priced)

.. math::

    \mathcal B(L) = \min_{u}\ \frac1n\sum_{i=1}^n \|u_i - y_i\|_2^2
    \quad\text{s.t.}\quad \|u_i - u_j\|_2 \le L\,\|x_i - x_j\|_2\ \ \forall i < j

is the lowest training loss that any function with Lipschitz constant at most L can reach on the
data: the values :math:`u_i = g(x_i)` of any such g (a network with Lipschitz constant at most L
included) are feasible, and by Kirszbraun's theorem every feasible u is the trace of an
L-Lipschitz function on the whole space. So :math:`\mathcal B(L)` is a floor that no model of that
constant goes through, and it is computed exactly, with a certified lower bound from the program's
dual (:func:`lipconv.solvers.lipschitz_regression` with ``lipschitz=L``).

The data: the digits 3 and 8 of scikit-learn's digits (357 images of 8x8 pixels in [0, 1]), with
one-hot targets, so that the loss is the Brier score of a model's class probabilities.
"""

# %%
# The data
# --------
import matplotlib.pyplot as plt
import numpy as np
import torch

from lipconv.datasets import load_sklearn
from lipconv.extension import lipschitz_constant
from lipconv.nn import global_spectral_penalty, lipschitz_loss_gap
from lipconv.solvers import lipschitz_regression

X, digit = load_sklearn("digits")
keep = (digit == 3) | (digit == 8)
X, classes = X[keep], (digit[keep] == 8).astype(int)
Y = np.eye(2)[classes]  # one-hot rows
L_labels = lipschitz_constant(X, Y)  # beyond it the labels themselves are feasible: loss 0
print(f"n = {len(X)}, d = {X.shape[1]}, Lipschitz constant of the labels L_y = {L_labels:.4f}")

# %%
# B(L) over a grid of L, each with its certificate
# ------------------------------------------------
# At L = 0 the answer is the best constant (the mean label row); at L >= L_y it is the labels
# themselves. In between, each solve is certified by ``max_violation`` (over all 63,546 pairs) and
# the relative gap to the dual's lower bound. The cutting-plane method solves these in a fraction
# of a second each (the reference program over all pairs gives the same numbers, slower).
grid = np.linspace(0.0, 1.0, 17) * L_labels
best = [lipschitz_regression(X, Y, lipschitz=L, method="cutting-plane") for L in grid]
for L, r in zip(grid[::4], best[::4]):
    print(f"L = {L:.3f}: best loss {r.loss_value:.6f} >= {r.lower_bound:.6f} (certified), "
          f"max_violation {r.max_violation:.1e}, relative_gap {r.relative_gap:.1e}, status {r.status!r}")
print("all certified:", all(r.certified for r in best))

# %%
# The penalized solution lies on the curve
# ----------------------------------------
# The penalized problem (``lam=...``) minimizes :math:`\mathcal B(L) + \lambda L` over L, so its
# constant :math:`L_\lambda` is where the convex curve has slope :math:`-\lambda`, and its loss is
# :math:`\mathcal B(L_\lambda)`: the line of slope :math:`-\lambda` through it is tangent.
lam = 0.3
penalized = lipschitz_regression(X, Y, lam=lam, method="cutting-plane")
at_L = lipschitz_regression(X, Y, lipschitz=penalized.lipschitz, method="cutting-plane")
print(f"lam = {lam}: L = {penalized.lipschitz:.4f}, loss {penalized.loss_value:.6f}; "
      f"B(L) at that L = {at_L.loss_value:.6f}")

# %%
# Two small networks beside the floor
# -----------------------------------
# Two MLPs 64-32-2 trained with the cross-entropy, one plainly and one with the global
# spectral-norm penalty (:func:`lipconv.nn.global_spectral_penalty`). A network's Lipschitz
# constant on the data, :math:`L_{data} = \max_{i \ne j} \|g(x_i) - g(x_j)\| / \|x_i - x_j\|` for g
# its class probabilities, is computed exactly, and its training loss is at least
# :math:`\mathcal B(L_{data})`: :func:`lipconv.nn.lipschitz_loss_gap` reports the program at
# :math:`L_{data}`, at the largest Jacobian norm at a sample and at the layer-norm product (a
# certified upper bound of the global constant).
torch.set_num_threads(1)  # a network this small gains nothing from threads, and loses on a busy machine
xt, yt = torch.tensor(X, dtype=torch.float32), torch.tensor(classes)


def train_mlp(spectral_weight: float, steps: int = 300):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    state = {}  # power-iteration vectors of the penalty, carried from step to step
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        if spectral_weight:
            loss = loss + spectral_weight * global_spectral_penalty(model, state=state).value
        loss.backward()
        opt.step()
    return model.eval()


gaps = {}
for name, weight in (("plain", 0.0), ("spectral penalty 0.3", 0.3)):
    gaps[name] = lipschitz_loss_gap(train_mlp(weight), xt, yt, loss="squared", outputs="probabilities",
                                    method="cutting-plane")
    print(f"\n{name}:\n{gaps[name]}")
    print(f"certified gap at L_data: {gaps[name].certified_gap:.4g}")

# %%
# The floor and where the models sit
# ----------------------------------
# Below the curve no model of that constant can go. The plain network sits at the floor: its
# constant on the data is just below :math:`L_y` and its loss near 0, as the floor allows. The
# penalized one has a third of that constant and a training loss above :math:`\mathcal B` of its
# constant: the gap is what training left on the table at that constant, not what the constant
# forbids. The grey bar spans its constant from the largest lower estimate to the certified upper
# bound; the plain network's upper bound (printed above) is off this scale.
loss_at = np.array([r.loss_value for r in best])
lower_at = np.array([r.lower_bound for r in best])
fig, (ax, ax_gap) = plt.subplots(1, 2, figsize=(12, 4.4), layout="constrained",
                                 gridspec_kw={"width_ratios": [2, 1]})
ax.plot(grid, loss_at, "-", color="C0", lw=2, label="B(L), the best training loss")
ax.plot(grid, lower_at, "x", color="k", ms=6, label="certified lower bound (dual)")
ax.plot(penalized.lipschitz, penalized.loss_value, "o", color="C3", ms=8,
        label=rf"penalized solution, $\lambda$ = {lam}: L = {penalized.lipschitz:.3f}")
tangent = np.array([penalized.lipschitz - 0.25, penalized.lipschitz + 0.25])
ax.plot(tangent, penalized.loss_value - lam * (tangent - penalized.lipschitz), "--", color="C3", lw=1,
        label=r"slope $-\lambda$")
ax.axvline(L_labels, color="0.5", lw=0.8, ls=":")
ax.text(L_labels, 0.45, r" $L_y$", color="0.4")
for k, (name, gap) in enumerate(gaps.items()):
    data = gap.row("data")
    known_low = max(r.lipschitz for r in gap.rows if r.name != "certified upper")
    upper = gap.row("certified upper").lipschitz
    ax.plot([known_low, min(upper, 1.08 * L_labels)], [gap.train_loss] * 2, color="0.75", lw=6,
            solid_capstyle="butt", zorder=0)
    ax.plot(data.lipschitz, gap.train_loss, "s^"[k], color=f"C{k + 1}", ms=9,
            label=f"MLP, {name}: training loss at its $L_{{data}}$ = {data.lipschitz:.3f}")
ax.set_xlim(-0.02, 1.08 * L_labels)
ax.set_xlabel("Lipschitz constant L (l2 -> l2)")
ax.set_ylabel("mean squared loss on the training data")
ax.set_title("digits 3 vs 8: the best loss at each Lipschitz constant")
ax.legend(fontsize=8)

relative = (loss_at - lower_at) / np.maximum(loss_at, 1e-300)
solved = loss_at > 0  # at L >= L_y the loss is 0, and a relative gap has nothing to be relative to
ax_gap.semilogy(grid[solved], np.maximum(relative[solved], 1e-16), "o-", color="k", ms=4)
ax_gap.axhline(best[0].gap_tol, color="C3", ls="--", lw=1, label=f"gap tolerance {best[0].gap_tol:g}")
ax_gap.set_xlabel("L")
ax_gap.set_ylabel("(best loss - lower bound) / best loss")
ax_gap.set_title("the certificate of each point", fontsize=10)
ax_gap.legend(fontsize=8)
plt.show()
