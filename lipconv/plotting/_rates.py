r"""Log-log rate figures drawn from a sweep table (a figure can be redrawn without recomputing)."""
from __future__ import annotations

import math
import os

import numpy as np

__all__ = ["plot_rate", "plot_rates"]

_TITLES = {
    "w1": r"$W_1(\rho_n, \rho)$ (Lemma 4.10)",
    "l2sq": r"$\int |u_n - u^\lambda|^2 \rho$ (Theorem 4.8)",
    "linf": r"$\sup_M |u_n - u^\lambda|$ (Corollary 4.9)",
    "excess_J": r"$J[u_n] - J[u^\lambda]$",
    "gap_Jn": r"$|J_n[u_n] - J[u^\lambda]|$",
}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _rate_shapes(quantity: str, n: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray]:
    """Theory rate (log n / n)^{1/(m+2)} and the sharp W1 rate, raised to the power the quantity uses."""
    from ..discrepancy import discrepancy_bound, sharp_rate

    theory, sharp = discrepancy_bound(n, m), sharp_rate(n, m)
    if quantity == "linf":
        return theory ** (1.0 / (m + 2)), sharp ** (1.0 / (m + 2))
    return theory, sharp


def plot_rate(df, fits, quantity: str, path: str) -> str:
    r"""One log-log figure of ``quantity`` against n, a panel per problem group; saved to ``path``.

    Each panel shows the seeds (dots), their mean with a 10-90 % band over seeds, the bound of the
    theorem (the ``bound_<quantity>`` column, C = 1) when the table has it, otherwise the theory
    rate :math:`(\log n / n)^{1/(m+2)}` anchored at the first mean; the sharp rate anchored at the
    first mean; and the fitted slope with its interval in the legend.

    Parameters
    ----------
    df : pandas.DataFrame
        Sweep rows (:func:`lipconv.rates.run_sweep`); failed rows are left out.
    fits : pandas.DataFrame
        :func:`lipconv.rates.fit_rate` of ``df``.
    quantity : str
        A column of ``df``.
    path : str
        Output file (the extension picks the format).
    """
    from ..rates import GROUP_COLUMNS

    plt = _pyplot()
    if "status" in df.columns:
        df = df[df["status"] == "ok"]
    groups = list(df.groupby(list(GROUP_COLUMNS), sort=True))
    if not groups:
        raise ValueError(f"df has no successful rows to plot for {quantity!r}")
    ncols = min(4, len(groups))
    nrows = math.ceil(len(groups) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.2 * ncols, 3.6 * nrows), squeeze=False)
    for ax, (key, g) in zip(axes.ravel(), groups):
        info = dict(zip(GROUP_COLUMNS, key))
        m = int(info["m"])
        g = g[np.isfinite(g[quantity].to_numpy(dtype=float))]
        stats = g.groupby("n")[quantity].agg(["mean", lambda s: s.quantile(0.1), lambda s: s.quantile(0.9)])
        n = stats.index.to_numpy(dtype=float)
        mean = stats.iloc[:, 0].to_numpy()
        match = fits[(fits["quantity"] == quantity)
                     & np.logical_and.reduce([fits[c] == info[c] for c in GROUP_COLUMNS])]
        label = "mean over seeds"
        if len(match) and np.isfinite(match["slope"].iloc[0]):
            f = match.iloc[0]
            label += f", slope {f['slope']:+.3f} [{f['ci_low']:+.3f}, {f['ci_high']:+.3f}]"
        positive = g[g[quantity] > 0]
        ax.loglog(positive["n"], positive[quantity], ".", color="0.6", ms=3, alpha=0.5)
        ax.fill_between(n, np.maximum(stats.iloc[:, 1], 1e-300), np.maximum(stats.iloc[:, 2], 1e-300),
                        color="C0", alpha=0.2, label="10-90 % of seeds")
        ax.loglog(n, mean, "o-", color="C0", label=label)
        theory, sharp = _rate_shapes(quantity, n, m)
        bound_col = f"bound_{quantity}"
        if bound_col in g.columns and np.all(np.isfinite(g[bound_col].to_numpy(dtype=float))):
            ax.loglog(n, g.groupby("n")[bound_col].mean().to_numpy(), "k--", label="theorem bound (C = 1)")
        elif mean[0] > 0:
            ax.loglog(n, mean[0] * theory / theory[0], "k--", label=r"$(\log n/n)^{1/(m+2)}$ (anchored)")
        if mean[0] > 0:
            ax.loglog(n, mean[0] * sharp / sharp[0], "r:", label="sharp rate (anchored)")
        ax.set_title(f"{info['manifold']} m={m} d={info['d']} {info['label']} lam={info['lam']:g}\n"
                     f"{info['loss']}, {info['method']}", fontsize=9)
        ax.set_xlabel("n")
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.legend(fontsize=6.5, loc="lower left", framealpha=0.7)
    for ax in axes.ravel()[len(groups):]:
        ax.set_visible(False)
    fig.suptitle(_TITLES.get(quantity, quantity))
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_rates(df, fits, directory: str, *, quantities=None, ext: str = "png") -> list[str]:
    """:func:`plot_rate` for each quantity; returns the written paths ``<directory>/rate_<q>.<ext>``."""
    from ..rates import QUANTITIES

    quantities = [q for q in QUANTITIES if q in df.columns] if quantities is None else list(quantities)
    return [plot_rate(df, fits, q, os.path.join(directory, f"rate_{q}.{ext}")) for q in quantities]
