r"""
A small study of one theorem (Theorem 4.8 on the flat square)
=============================================================

Seed 000, Theorem 4.8: for a strongly convex loss (:math:`\theta > 0`) and Lipschitz labels, every
minimizer :math:`u_n` of the empirical problem (eq. (2.7)) on n samples of a density
:math:`\rho` on an m-dimensional domain approaches the continuum minimizer :math:`u^\lambda`
(eq. (4.4)) in :math:`L^2(\rho)`, with high probability,

.. math::

    \|u_n - u^\lambda\|^2_{L^2(\rho)} \ \le\ C\, \frac{2}{\theta}\, \frac{J[u^\lambda]}{\lambda}\,
    \Big(\frac{\log n}{n}\Big)^{1/(m+2)},

where the only dependence on n is Lemma 4.10's bound on :math:`W_1(\rho_n, \rho)`. We test it on
the flat square (:class:`lipconv.manifolds.FlatCube` with m = d = 2), uniform density, ramp labels
:math:`y = \mathrm{clip}(t / 0.5, -1, 1)` of the first coordinate, the squared loss
(:math:`\theta = 2`) and :math:`\lambda = 0.02`, where :math:`u^\lambda` is known in closed form.
This is the study's pipeline (:func:`lipconv.rates.run_sweep`) written out by hand for one problem,
without the CSV.

Off the samples, :math:`u_n` is any Lipschitz extension of its sample values with the same
constant, and the theorem bounds every one; all of them lie between the Whitney and McShane
envelopes, so the worst of the two envelopes is the error the theorem is about
(:func:`lipconv.rates.error_metrics`).
"""

# %%
# The problem and its reference
# -----------------------------
import matplotlib.pyplot as plt
import numpy as np

from lipconv.extension import mcshane, whitney
from lipconv.manifolds import FlatCube, ramp_label
from lipconv.rates import error_metrics, fit_slope, make_problem, theorem_bounds
from lipconv.solvers import lipschitz_regression

lam = 0.02
square = FlatCube(2, 2)  # frame seed 0, as in the study
label = ramp_label(0.5)
problem = make_problem("cube", 2, lam=lam)  # the same square, label and lam, with u^lambda in closed form
print(f"reference {problem.ref_kind}: J[u^lambda] = {problem.J_ref:.5f}, Lip(u^lambda) = "
      f"{problem.lipschitz_ref:.4f}, theta = {problem.theta:g}")

# %%
# n from 64 to 2,048, five seeds each
# -----------------------------------
# Each solve is certified (``max_violation`` over all pairs and the relative duality gap). The
# errors are stratified estimates on rho, with their standard error; ``max_sup_evals`` only bounds
# the sup brackets, which this example does not use.
ns = (64, 128, 256, 512, 1024, 2048)
seeds = range(5)
rows = []
for n in ns:
    for seed in seeds:
        X = square.sample(n, np.random.default_rng([seed, n]))
        y = label.on(square, X)
        res = lipschitz_regression(X, y, lam=lam)
        errors = error_metrics(res, problem, X=X, y=y, seed=seed, max_sup_evals=20_000)
        rows.append(dict(n=n, seed=seed, certified=res.certified, method=res.method, lipschitz=res.lipschitz,
                         **{q: errors[q] for q in ("l2sq", "l2sq_midpoint", "l2sq_samples", "l2sq_rel_se")}))
    print(f"n = {n:5d}: method {rows[-1]['method']!r}, all certified {all(r['certified'] for r in rows[-5:])}, "
          f"L_n = {np.mean([r['lipschitz'] for r in rows[-5:]]):.3f} (Lip u^lambda = {problem.lipschitz_ref:.3f})")

n_of = np.array([r["n"] for r in rows])
print(f"largest relative standard error of the L2 estimates: {max(r['l2sq_rel_se'] for r in rows):.3f}")

# %%
# Slopes
# ------
# :func:`lipconv.rates.fit_slope` fits :math:`\bar e(n) \approx e^a n^b` to the means over seeds,
# with a 95 % interval for b from a bootstrap over seeds within each n.
quantities = {
    "l2sq": "worst extension (Theorem 4.8)",
    "l2sq_midpoint": "midpoint extension",
    "l2sq_samples": "at the samples",
}
fits = {}
for q, name in quantities.items():
    fits[q] = fit_slope(n_of, [r[q] for r in rows], seed=0)
    f = fits[q]
    print(f"{name:30s} slope {f.slope:+.3f}  [{f.ci_low:+.3f}, {f.ci_high:+.3f}]")
print("the theorem's exponent, -1/(m+2) = -0.250, is that of an upper bound: a steeper slope agrees with it")

# %%
# Against n
# ---------
# The theorem's bound (C = 1, the dotted line) holds with a wide margin, and the measured errors
# fall far faster than its exponent :math:`-1/(m+2) = -1/4` (dashed, anchored at the first mean).
# The theorem is a worst case over all targets; for this fixed :math:`u^\lambda`, described by a few
# numbers (its slope and plateaus), the error at the samples falls at the parametric rate
# :math:`n^{-1}`, and an extension adds the error of filling the gaps of size
# :math:`n^{-1/m}` between samples, largest for the envelopes.
bound = [theorem_bounds(n, 2, lam=lam, J_ref=problem.J_ref, theta=problem.theta,
                        lipschitz_diff=2 * problem.lipschitz_ref)["bound_l2sq"] for n in ns]
fig, ax = plt.subplots(figsize=(7.5, 5), layout="constrained")
for k, (q, name) in enumerate(quantities.items()):
    f = fits[q]
    e = np.array([r[q] for r in rows])
    ax.loglog(n_of * (1 + 0.05 * (k - 1)), e, ".", color=f"C{k}", alpha=0.45)
    ax.loglog(f.n_values, f.means, "o-", color=f"C{k}",
              label=f"{name}: slope {f.slope:+.2f} [{f.ci_low:+.2f}, {f.ci_high:+.2f}]")
    ax.loglog(f.n_values, f.means[0] * (f.n_values / f.n_values[0]) ** -0.25, "--", color=f"C{k}", lw=0.9)
ax.loglog(ns, bound, "k:", label=r"Theorem 4.8's bound, C = 1: $\frac{2}{\theta}\frac{J}{\lambda}"
                                 r"(\log n / n)^{1/4}$")
ax.plot([], [], "k--", lw=0.9, label="exponent -1/(m+2) = -1/4 (anchored)")
ax.set_xlabel("n")
ax.set_ylabel(r"$\|u_n - u^\lambda\|^2$")
ax.set_xticks(ns, [str(n) for n in ns])
ax.minorticks_off()
ax.set_title(r"Theorem 4.8 on the flat square: squared $L^2(\rho)$ error of $u_n$ (dots: seeds)")
ax.legend(fontsize=8, loc="lower left")
plt.show()

# %%
# What the extensions look like
# -----------------------------
# At n = 256 (seed 0): the reference depends on the first coordinate only. The McShane and Whitney
# envelopes, and so all the extensions, agree on the ramp, where the sample values already rise at
# nearly the full slope L_n; they part on the plateaus, where between samples an extension may
# climb or fall at slope L_n. That gap is the extension error the worst-case curve above carries.
X = square.sample(256, np.random.default_rng([0, 256]))
res = lipschitz_regression(X, label.on(square, X), lam=lam)
g = np.linspace(-1.0, 1.0, 121)
Z = np.stack(np.meshgrid(g, g), axis=-1).reshape(-1, 2)
grid = square.embed(Z)
width = mcshane(X, res.values[:, 0], grid, L=res.lipschitz) - whitney(X, res.values[:, 0], grid, L=res.lipschitz)
fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), layout="constrained")
panels = ((problem.u_ref(grid), r"$u^\lambda$", "RdBu_r"), (width, "McShane - Whitney", "magma"))
for ax, (values, title, cmap) in zip(axes, panels):
    im = ax.pcolormesh(g, g, values.reshape(g.size, g.size), cmap=cmap, shading="auto")
    ax.plot(*square.intrinsic(X).T, "k.", ms=2)
    ax.set_title(title)
    ax.set_aspect("equal")
    ax.set_xlabel("$z_1$ (label coordinate)")
    fig.colorbar(im, ax=ax, shrink=0.85)
plt.show()
