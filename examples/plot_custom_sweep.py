r"""
A custom sweep with the Python API, interrupted and resumed
===========================================================

``studies/rates.py`` is one configuration of :func:`lipconv.rates.run_sweep`; any other is a
:class:`lipconv.rates.SweepConfig` away. Here: the flat square (the cube with m = 2) and the 2-sphere
in :math:`\mathbb{R}^3`, ramp labels, the squared loss with :math:`\lambda = 0.02`, n from 32 to
256 and three seeds. Each run draws its n samples from ``numpy.random.default_rng([seed, n])``,
brackets the discrepancy :math:`W_1(\rho_n, \rho)` ([FCAO] Lemma 4.10), solves for
:math:`u_n` (eq. (2.7), certified) and measures its errors against the continuum minimizer
:math:`u^\lambda` (Theorem 4.8, Corollary 4.9). Every finished run is appended at once to a tidy
CSV, one row per run with its seed.

The CSV is also the sweep's memory. We cut its last row in half, as a sweep killed while writing
would leave it, and rerun with a fourth seed: only the cut run and the new seed's runs are
computed, and every other row is kept as it was.
"""

# %%
# The configuration and the first session
# ---------------------------------------
# ``sup_evals`` is the budget of each certified sup bracket (the study's default is 400,000; a
# twentieth is enough at these n). ``backend="sequential"`` runs in this process; "loky" with
# ``n_jobs`` uses worker processes, and "dask" a cluster (:doc:`/user_guide/dask`).
import os
import tempfile

import matplotlib.pyplot as plt
import numpy as np

from lipconv.plotting import plot_theorem
from lipconv.rates import SweepConfig, fit_rate, read_results, run_sweep

scratch = tempfile.TemporaryDirectory(prefix="lipconv_sweep_")  # removed when the script ends
workdir = scratch.name
csv_path = os.path.join(workdir, "rates.csv")
settings = {"problems": ("cube:m=2", "sphere"), "ns": (32, 64, 128, 256), "lams": (0.02,), "labels": ("ramp",),
            "sup_evals": 20_000, "backend": "sequential", "progress": False, "output": csv_path}

first = run_sweep(SweepConfig(seeds=(0, 1, 2), **settings))
print(f"session 1: {len(first)} rows, {first['run_time'].sum():.1f} s of runs, "
      f"statuses {first['status'].value_counts().to_dict()}")
print(first[["manifold", "m", "d", "n", "seed", "w1_lo", "w1_hi", "l2sq", "relative_gap", "run_time"]].head(6)
      .to_string(index=False))

# %%
# An interruption
# ---------------
# A sweep killed while appending a row leaves a record without its line end. We make one by hand.
with open(csv_path, newline="") as fh:
    text = fh.read()
last_start = text.rstrip("\r\n").rfind("\n") + 1
cut_key = read_results(csv_path)["run_key"].iloc[-1]  # the record about to be cut
with open(csv_path, "w", newline="") as fh:
    fh.write(text[: last_start + (len(text) - last_start) // 2])
print(f"cut short: the row of {cut_key}")

# %%
# Resuming with one more seed
# ---------------------------
# Rerunning with the same output reads the CSV, drops the record cut short, and computes only the
# runs whose key (manifold, m, d, density, n, seed, lam, loss, label, method) is not there yet:
# the cut run and the 8 runs of seed 3. The rows that were already there keep their numbers,
# their run time included.
second = run_sweep(SweepConfig(seeds=(0, 1, 2, 3), **settings))
before = first.set_index("run_key")["run_time"]
after = second.set_index("run_key")["run_time"]
kept = [k for k in after.index if k in before.index and after[k] == before[k]]
computed = [k for k in after.index if k not in kept]
print(f"session 2: {len(second)} rows; {len(kept)} kept unchanged, {len(computed)} computed "
      f"({sum(k == cut_key for k in computed)} redone after the cut, "
      f"{sum('seed=3' in k for k in computed)} of the new seed)")

# %%
# The settings that change a row's numbers without being in its key (``sup_evals``, ``l2_rtol``,
# ``sup_rtol``, ``n_reference``, the lipconv version) are recorded in every row, and a session
# asking for other values is refused before it computes anything: one CSV is one experiment.
try:
    run_sweep(SweepConfig(seeds=(0, 1, 2, 3), **{**settings, "sup_evals": 40_000}))
except ValueError as exc:
    print(f"refused: {exc}")

# %%
# Each row of the table, by the session that computed it. (On a fresh installation the first run
# of a session also compiles the transport code, and stands out as the slowest.)
origin = np.where([k == cut_key for k in second["run_key"]], "redone after the cut",
                  np.where(second["run_key"].isin(kept), "kept from session 1", "new seed (session 2)"))
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained", sharey=True)
for ax, (name, rows) in zip(axes, second.groupby("manifold", sort=False)):
    for k, (kind, marker) in enumerate((("kept from session 1", "o"), ("new seed (session 2)", "s"),
                                        ("redone after the cut", "*"))):
        sel = origin[rows.index] == kind
        jitter = 1.0 + 0.04 * (rows["seed"][sel] - 1.5)
        ax.loglog(rows["n"][sel] * jitter, rows["run_time"][sel], marker, color=f"C{k}", ms=9 if k == 2 else 6,
                  ls="none", label=kind)
    ax.set_title(f"{name} (m = {rows['m'].iloc[0]}, d = {rows['d'].iloc[0]})")
    ax.set_xlabel("n")
    ax.set_xticks([32, 64, 128, 256], ["32", "64", "128", "256"])
    ax.minorticks_off()
axes[0].set_ylabel("run time of the row (s)")
axes[1].legend(fontsize=8)
fig.suptitle("After the second session: 32 rows, 9 of them computed in it")
plt.show()

# %%
# The W1 bracket
# --------------
# :math:`W_1(\rho_n, \rho)` is not computed to a tolerance but bracketed: ``w1_hi`` is the cost of
# a transport plan (an upper bound), ``w1_lo`` the value of a 1-Lipschitz potential (a lower bound),
# both on quasi-Monte Carlo points of rho. The slopes come from :func:`lipconv.rates.fit_rate`,
# from the CSV alone: read it back, fit, plot.
df = read_results(csv_path)
print(f"widest W1 bracket: {100 * df['w1_rel_width'].max():.2f} % of its value")
fits = fit_rate(df, quantities=["w1", "l2sq", "l2sq_samples", "linf_hi"], n_boot=1000, seed=0)
print(fits[["manifold", "quantity", "theorem", "slope", "ci_low", "ci_high", "theory_exponent"]]
      .to_string(index=False, float_format=lambda v: f"{v:+.3f}"))

fig, (ax, ax_width) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
for k, (name, rows) in enumerate(df.groupby("manifold", sort=False)):
    fit = fits[(fits["manifold"] == name) & (fits["quantity"] == "w1")].iloc[0]
    jitter = 1.0 + 0.03 * (rows["seed"] - 1.5)
    ax.errorbar(rows["n"] * jitter, rows["w1"], yerr=[rows["w1"] - rows["w1_lo"], rows["w1_hi"] - rows["w1"]],
                fmt=".", color=f"C{k}", ms=3, elinewidth=1, capsize=2, alpha=0.7)
    means = rows.groupby("n")["w1"].mean()
    ax.loglog(means.index, means.values, "-", color=f"C{k}",
              label=f"{name}: slope {fit['slope']:+.2f} [{fit['ci_low']:+.2f}, {fit['ci_high']:+.2f}]")
    ax_width.semilogx(rows["n"] * jitter, 100 * rows["w1_rel_width"], "o", color=f"C{k}", ms=4, label=name)
n_grid = np.array([32.0, 256.0])
ax.loglog(n_grid, df["w1"].max() * (n_grid / 32.0) ** -0.25, "k--", lw=1,
          label="Lemma 4.10's exponent -1/(m+2) = -1/4")
ax.loglog(n_grid, 0.8 * df["w1"].min() * (n_grid / 256.0) ** -0.5, "k:", lw=1, label="n^(-1/2)")
ax.set_ylabel(r"$W_1(\rho_n, \rho)$: bracket of each run, mean over seeds")
ax.legend(fontsize=8)
ax_width.set_ylabel("(w1_hi - w1_lo) / w1 (%)")
ax_width.set_ylim(bottom=0)
ax_width.legend(fontsize=8)
ax_width.set_title("relative width of each run's bracket", fontsize=10)
for a in (ax, ax_width):
    a.set_xlabel("n")
    a.set_xticks([32, 64, 128, 256], ["32", "64", "128", "256"])
    a.minorticks_off()
plt.show()

# %%
# The study's own figure
# ----------------------
# :func:`lipconv.plotting.plot_theorem` draws one quantity for every problem of the table on shared
# axes and writes it to a file (here the worst-extension L2 error of Theorem 4.8); we show the file.
path = plot_theorem(df, fits, "l2sq", os.path.join(workdir, "theorem_l2sq.png"),
                    title="Theorem 4.8 on a custom sweep")
fig, ax = plt.subplots(figsize=(7.5, 5.2), layout="constrained")
ax.imshow(plt.imread(path))
ax.set_axis_off()
plt.show()
