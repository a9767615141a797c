r"""
Bounding a trained network's Lipschitz constant from both sides
===============================================================

The Lipschitz constant of a network :math:`f: [0,1]^{64} \to \mathbb{R}^{10}` in the l2 norms,

.. math:: \mathrm{Lip}(f) = \sup_{x \ne x'} \frac{\|f(x) - f(x')\|_2}{\|x - x'\|_2}
          = \sup_x \|J_f(x)\|_{2 \to 2},

cannot be computed exactly for a ReLU network of any size, but it can be bracketed:

* **above**, by the product of the layers' operator norms ([FOA] eq. (6);
  :func:`lipconv.nn.layer_norm_product`), valid for every input because ReLU is 1-Lipschitz;
* **below**, by anything that a pair of inputs or a single input attains: the ratio
  :math:`\|f(x_i) - f(x_j)\| / \|x_i - x_j\|` over pairs of data points
  (:func:`lipconv.extension.lipschitz_constant` applied to the network's outputs), and the
  Jacobian norm :math:`\|J_f(x)\|_{2\to2}` at any x (:func:`lipconv.nn.empirical_lipschitz`, exact
  per sample for the spectral norm), at the data, between data points and at random inputs.

We train two small MLPs on scikit-learn's digits (8x8 images in [0, 1], the inputs convention of
:mod:`lipconv.nn`): one plainly, one with the global spectral-norm penalty of Yoshida and Miyato
(:func:`lipconv.nn.global_spectral_penalty`), and bracket both.
"""

# %%
# Data and training
# -----------------
import matplotlib.pyplot as plt
import numpy as np
import torch

from lipconv.datasets import load_sklearn
from lipconv.extension import lipschitz_constant
from lipconv.nn import empirical_lipschitz, global_spectral_penalty, layer_norm_product

torch.set_num_threads(1)  # a network this small gains nothing from threads, and loses on a busy machine
X, labels = load_sklearn("digits")  # X in [0, 1]^64
rng = np.random.default_rng(0)
order = rng.permutation(len(X))
train, test = order[:1200], order[1200:]
Xt = torch.tensor(X, dtype=torch.float32)
yt = torch.tensor(labels)


def train_mlp(spectral_weight: float, steps: int = 250):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 64), torch.nn.ReLU(),
        torch.nn.Linear(64, 10),
    )
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    state = {}  # power-iteration vectors of the penalty, carried from step to step
    for _ in range(steps):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(Xt[train]), yt[train])
        if spectral_weight:
            loss = loss + spectral_weight * global_spectral_penalty(model, state=state).value
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        accuracy = (model(Xt[test]).argmax(1) == yt[test]).float().mean().item()
    return model, accuracy


models = {"plain": train_mlp(0.0), "spectral penalty": train_mlp(0.05)}
for name, (model, accuracy) in models.items():
    print(f"{name:17s} test accuracy {accuracy:.3f}")

# %%
# Lower estimates
# ---------------
# Every number here is attained by the network at some input (or pair of inputs), so each is a
# lower bound of Lip(f). A ReLU network is piecewise linear: its Jacobian is constant on each
# activation region, so gradient ascent on the Jacobian norm does not move, and the lower end is
# a search over regions, here by sampling.


def lower_estimates(model):
    Xtest = Xt[test]
    with torch.no_grad():
        outputs = model(Xtest).double().numpy()
    at_data = empirical_lipschitz(model, Xtest, norm="L2", out_norm="L2")
    i, j = rng.integers(0, len(test), (2, 2000))
    t = torch.rand(2000, 1, generator=torch.Generator().manual_seed(0))
    between = empirical_lipschitz(model, (1 - t) * Xtest[i] + t * Xtest[j], norm="L2", out_norm="L2")
    uniform = torch.rand(2000, 64, generator=torch.Generator().manual_seed(1))
    at_random = empirical_lipschitz(model, uniform, norm="L2", out_norm="L2")
    return {
        "pairs of test inputs": lipschitz_constant(X[test], outputs),
        "Jacobian at test inputs": at_data.value,
        "Jacobian between test inputs": between.value,
        "Jacobian at uniform inputs": at_random.value,
    }


# %%
# Upper bound and the bracket
# ---------------------------
results = {}
for name, (model, accuracy) in models.items():
    upper = layer_norm_product(model, input_shape=(64,), norm="L2", out_norm="L2")
    lows = lower_estimates(model)
    results[name] = (lows, float(upper))
    factors = ", ".join(f"{float(f.value):.2f}" for f in upper.factors)
    print(f"\n{name}: upper bound {float(upper):.2f} = product of the layers' spectral norms ({factors})")
    for label, value in lows.items():
        print(f"  {label:30s} {value:8.2f}")
    best = max(lows.values())
    print(f"  bracket [{best:.2f}, {float(upper):.2f}]: upper / lower = {float(upper) / best:.2f}")

# %%
# At the same test accuracy, the penalized network's constant is several times smaller at both ends
# of the bracket. The ratio upper / lower printed above is how far the data-independent product
# bound can be from the truth: the truth lies in the grey bar.
fig, ax = plt.subplots(figsize=(8, 3.2), layout="constrained")
markers = ["o", "s", "^", "D"]
for row, (name, (lows, upper)) in enumerate(results.items()):
    best = max(lows.values())
    ax.plot([best, upper], [row, row], color="0.7", lw=8, solid_capstyle="butt", zorder=0)
    for k, (label, value) in enumerate(lows.items()):
        ax.plot(value, row, markers[k], color=f"C{k}", label=label if row == 0 else None)
    ax.plot(upper, row, "k|", ms=22, mew=3, label="layer-norm product (upper)" if row == 0 else None)
ax.set_yticks(range(len(results)), [f"{n}\n(acc. {models[n][1]:.3f})" for n in results])
ax.set_xscale("log")
ax.set_xlabel("Lipschitz constant, l2 -> l2")
ax.set_ylim(-0.6, len(results) - 0.4)
ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.0, 0.5))
ax.set_title("lower estimates and upper bound; grey: the bracket")
plt.show()
