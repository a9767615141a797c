r"""
Lipschitz extensions of a point cloud: McShane, Whitney, midpoint and AMLE
==========================================================================

Five labelled points in the unit square, and 4,000 unlabelled ones. Every function that agrees
with the labels and is L-Lipschitz, for the labels' own constant L, lies between two envelopes:

.. math::

    \underline u(x) = \max_i\,\big(g_i - L\|x - x_i\|\big) \ \le\ u(x)\ \le\
    \overline u(x) = \min_i\,\big(g_i + L\|x - x_i\|\big),

Whitney's (the smallest) and McShane's (the largest); their midpoint is a third extension with the
same constant, the one :meth:`lipconv.solvers.LipschitzResult.predict` uses. The absolutely
minimizing Lipschitz extension (AMLE, the infinity-harmonic function of Oberman's scheme) is
different in kind: it also minimizes the Lipschitz constant on every subdomain, so away from the
pair of labels that sets L it is flatter than the envelopes. We compute it on the kNN graph of the
cloud (:func:`lipconv.extension.absolutely_minimizing_extension`) and compare the four, with their
local slopes.
"""

# %%
# The labelled points and the cloud
# ---------------------------------
import matplotlib.pyplot as plt
import numpy as np

from lipconv.extension import (
    absolutely_minimizing_extension,
    lipschitz_constant,
    mcshane,
    midpoint,
    point_cloud_graph,
    whitney,
)

rng = np.random.default_rng(1)
cloud = rng.uniform(size=(4000, 2))
known = np.array([[0.15, 0.2], [0.85, 0.25], [0.5, 0.85], [0.5, 0.45], [0.1, 0.8]])
g = np.array([-1.0, 1.0, 1.0, -0.2, -1.0])
L = lipschitz_constant(known, g)
print(f"Lipschitz constant of the labels: L = {L:.4f}")

# %%
# The four extensions
# -------------------
# The envelopes are closed forms (blocked over the queries, so memory stays bounded). The AMLE
# is solved on the cloud with the labelled points added as its known nodes; its certificate is
# the graph infinity-Laplacian residual relative to the slope scale.
upper = mcshane(known, g, cloud, L=L)
lower = whitney(known, g, cloud, L=L)
mid = midpoint(known, g, cloud, L=L)

nodes = np.vstack([known, cloud])
amle = absolutely_minimizing_extension(nodes, np.arange(len(known)), g, graph="knn", k=12)
print(f"AMLE: {amle.iterations} sweeps, residual {amle.residual:.1e}, converged {amle.converged}, "
      f"{amle.n_edges} edges, {amle.solve_time:.1f} s")
inf_harmonic = amle.values[len(known):]

# %%
# Local slopes
# ------------
# The slope at a cloud point is the largest :math:`|u_j - u_i| / \|x_j - x_i\|` over its graph
# neighbours. McShane and Whitney are as steep as allowed (slope L) almost everywhere; the midpoint
# is flatter where the envelopes disagree; the AMLE spreads the slope as evenly as the labels
# allow. The discrete constant over all pairs of the cloud is computed exactly: the envelopes and
# the midpoint keep L, and the graph AMLE exceeds it slightly, since it is Lipschitz for the graph's
# path metric, which is longer than the straight-line distance.
indptr, indices, lengths = point_cloud_graph(cloud, graph="knn", k=12)
rows = np.repeat(np.arange(len(cloud)), np.diff(indptr))


def local_slope(u):
    slope = np.abs(u[indices] - u[rows]) / lengths
    return np.maximum.reduceat(slope, indptr[:-1])


panels = {"McShane (upper)": upper, "Whitney (lower)": lower, "midpoint": mid, "AMLE": inf_harmonic}
for name, u in panels.items():
    print(f"{name:16s} Lipschitz constant on the cloud {lipschitz_constant(cloud, u):.4f}, "
          f"median local slope {np.median(local_slope(u)):.3f}")
inside = np.mean((inf_harmonic >= lower - 1e-9) & (inf_harmonic <= upper + 1e-9))
print(f"AMLE between the envelopes at {100 * inside:.1f} % of the cloud")

# %%
# Side by side
# ------------
fig, axes = plt.subplots(2, 4, figsize=(14, 7), layout="constrained", sharex=True, sharey=True)
for col, (name, u) in enumerate(panels.items()):
    top = axes[0, col].tricontourf(cloud[:, 0], cloud[:, 1], u, levels=np.linspace(-1.6, 1.6, 17),
                                   cmap="RdBu_r", extend="both")
    axes[0, col].scatter(known[:, 0], known[:, 1], c=g, cmap="RdBu_r", vmin=-1.6, vmax=1.6,
                         edgecolors="k", s=60)
    axes[0, col].set_title(name)
    bottom = axes[1, col].tricontourf(cloud[:, 0], cloud[:, 1], local_slope(u),
                                      levels=np.arange(0.0, 6.51, 0.5), cmap="viridis", extend="max")
    axes[1, col].plot(known[:, 0], known[:, 1], "k*", ms=9)
for ax in axes.ravel():
    ax.set_aspect("equal")
fig.colorbar(top, ax=axes[0, :], label="u", shrink=0.85)
fig.colorbar(bottom, ax=axes[1, :], label=f"local slope (L = {L:.2f})", shrink=0.85)
plt.show()
