r"""
Lipschitz regression of scattered data, in physical units, with its certificate
===============================================================================

Air temperature measured at 200 stations scattered over a 40 km x 25 km region, with a cold front
crossing it and 0.8 degC of measurement noise. We fit the Lipschitz-regularized least-squares
problem ([FCAO] eq. (2.7))

.. math::

    \min_{u,\ L \ge 0}\ \frac1n \sum_{i=1}^n (u_i - T_i)^2 + \lambda L
    \quad\text{s.t.}\quad |u_i - u_j| \le L\,\|x_i - x_j\|_2 \ \ \forall i < j

directly in the data's units: x in km, T in degC, so L is a temperature gradient in degC/km and
:math:`\lambda` is in degC^2 per (degC/km), i.e. degC km. The solve is certified in two
dimensionless parts (:doc:`/user_guide/problem`): ``max_violation``, the worst excess of a pair
constraint over all :math:`n(n-1)/2` pairs relative to the label range, and ``relative_gap``, the
relative duality gap of the full problem.
"""

# %%
# The data
# --------
import matplotlib.pyplot as plt
import numpy as np

from lipconv.solvers import certify, lipschitz_regression

rng = np.random.default_rng(0)
n = 200
X = rng.uniform([0.0, 0.0], [40.0, 25.0], size=(n, 2))  # station positions, km
front = 6.0 * np.tanh((X[:, 0] - 0.6 * X[:, 1] - 15.0) / 3.0)
T = 14.0 - front + 1.5 * np.sin(X[:, 1] / 4.0) + rng.normal(0.0, 0.8, n)  # degC

# %%
# The solve and its two-part certificate
# --------------------------------------
# With n = 200 the default method is the reference program over all 19,900 pairs.
lam = 0.5  # degC km
res = lipschitz_regression(X, T, lam=lam, loss="squared")
print(f"method {res.method!r}, {res.n_pairs} pair constraints, {res.solve_time:.2f} s")
print(f"L = {res.lipschitz:.4f} degC/km, J = {res.objective:.6f} degC^2 "
      f"(loss {res.loss_value:.6f} + lam L {lam * res.lipschitz:.6f})")
print(f"feasibility: max_violation = {res.max_violation:.2e}  (tolerance {res.feasibility_tol:g})")
print(f"optimality:  relative_gap  = {res.relative_gap:.2e}  (tolerance {res.gap_tol:g}), "
      f"lower bound D = {res.lower_bound:.6f}")
print("certified:", res.certified)

# %%
# The same problem in other units
# -------------------------------
# Positions in metres (:math:`x \mapsto 1000 x`) and temperatures in degF
# (:math:`T \mapsto 1.8 T + 32`). For the squared loss the objective scales by :math:`1.8^2` and L by
# 1.8/1000, so the same problem has :math:`\lambda \mapsto 1.8 \cdot 1000\,\lambda`. The answer is
# the transformed one, and the certificate, being dimensionless, reads the same.
res_f = lipschitz_regression(1000.0 * X, 1.8 * T + 32.0, lam=lam * 1.8 * 1000.0)
print(f"L = {res_f.lipschitz:.6e} degF/m    vs 1.8/1000 x L = {1.8 / 1000 * res.lipschitz:.6e}")
print(f"J = {res_f.objective:.6f} degF^2   vs 1.8^2 x J    = {1.8**2 * res.objective:.6f}")
print(f"max |u_F - (1.8 u_C + 32)| = {np.abs(res_f.values - (1.8 * res.values + 32.0)).max():.1e} degF")
print(f"max_violation {res_f.max_violation:.2e}, relative_gap {res_f.relative_gap:.2e}, "
      f"certified {res_f.certified}")

# %%
# Judging other candidates with ``certify``
# -----------------------------------------
# :func:`~lipconv.solvers.certify` computes the same two numbers for any candidate (values, L),
# with the solver's multipliers (``dual=res``) giving the lower bound. A least-squares plane is
# Lipschitz with L = the norm of its gradient, so it is feasible, but far from optimal; the
# solver's own values with a 10 % smaller L are infeasible: their objective falls below the
# certified lower bound, which only an infeasible point can do (the gap, clipped at 0, then says
# nothing; ``max_violation`` says what is wrong).
A = np.column_stack([X, np.ones(n)])
coef, *_ = np.linalg.lstsq(A, T, rcond=None)
plane = certify(X, T, A @ coef, lam=lam, lipschitz=float(np.hypot(*coef[:2])), dual=res)
short = certify(X, T, res.values, lam=lam, lipschitz=0.9 * res.lipschitz, dual=res)
for name, c in (("least-squares plane", plane), ("solver values, 0.9 L", short)):
    print(f"{name:22s} J = {c.objective:.4f}, max_violation = {c.max_violation:.3f}, "
          f"relative_gap = {c.relative_gap:.3f}, certified = {c.certified}")

# %%
# The fit off the samples
# -----------------------
# ``res.predict`` evaluates the midpoint Lipschitz extension of the fitted values (it keeps L).
# Off the samples every L-Lipschitz extension of those values is also a minimizer; all of them lie
# between the Whitney and McShane envelopes (:doc:`/user_guide/extension`).
gx, gy = np.meshgrid(np.linspace(0, 40, 161), np.linspace(0, 25, 101))
grid = np.column_stack([gx.ravel(), gy.ravel()])
fit = res.predict(grid).reshape(gx.shape)
fit_f = res_f.predict(1000.0 * grid)  # the fit in (m, degF), on the same grid

fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), layout="constrained")
vmin, vmax = T.min(), T.max()
sc = axes[0].scatter(X[:, 0], X[:, 1], c=T, s=18, cmap="coolwarm", vmin=vmin, vmax=vmax)
axes[0].set_title("stations (degC)")
axes[1].pcolormesh(gx, gy, fit, cmap="coolwarm", vmin=vmin, vmax=vmax, shading="auto")
axes[1].scatter(X[:, 0], X[:, 1], c="k", s=3)
axes[1].set_title(f"Lipschitz fit, L = {res.lipschitz:.2f} degC/km")
for ax in axes[:2]:
    ax.set_xlabel("x (km)")
    ax.set_ylabel("y (km)")
    ax.set_aspect("equal")
fig.colorbar(sc, ax=axes[:2], label="T (degC)", shrink=0.8)
line = np.array([vmin, vmax])
axes[2].plot(line, 1.8 * line + 32.0, color="0.6", lw=4, label="1.8 T + 32")
axes[2].plot(fit.ravel()[::7], fit_f[::7], "k.", ms=2, label="grid points")
axes[2].set_xlabel("fit in (km, degC)")
axes[2].set_ylabel("fit in (m, degF)")
deviation = np.abs(fit_f - (1.8 * fit.ravel() + 32.0)).max()
axes[2].set_title(f"same problem in (m, degF)\nmax deviation {deviation:.0e} degF")
axes[2].legend()
plt.show()
