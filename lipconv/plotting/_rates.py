r"""Log-log rate figures drawn from a sweep table (a figure can be redrawn without recomputing)."""
from __future__ import annotations

import math
import os

import numpy as np

from .._validation import check_frame

__all__ = ["plot_rate", "plot_rates", "plot_theorem", "plot_panel", "plot_network", "plot_study"]

_TITLES = {
    "w1": r"$W_1(\rho_n, \rho)$ (Lemma 4.10)",
    "l2sq": r"$\int |u_n - u^\lambda|^2 \rho$, worst extension (Theorem 4.8)",
    "l2sq_midpoint": r"$\int |u_n - u^\lambda|^2 \rho$, midpoint extension",
    "l2sq_samples": r"$\frac{1}{n}\sum_i |u_n(x_i) - u^\lambda(x_i)|^2$ (at the samples)",
    "linf_lo": r"$\sup_M |u_n - u^\lambda|$, lower end of the bracket (Corollary 4.9)",
    "linf_hi": r"$\sup_M |u_n - u^\lambda|$, upper end of the bracket (Corollary 4.9)",
    "excess_J": r"$J[u_n] - J[u^\lambda]$",
    "gap_Jn": r"$|J_n[u_n] - J[u^\lambda]|$",
    "l2sq_function": r"$\int |u_\theta - u^\lambda|^2 \rho$, the network itself",
    "linf_function_hi": r"$\sup_M |u_\theta - u^\lambda|$, the network (upper end of its bracket)",
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
    if quantity in ("linf_lo", "linf_hi"):
        return theory ** (1.0 / (m + 2)), sharp ** (1.0 / (m + 2))
    return theory, sharp


def _check_tables(df, fits, *quantity):
    """``df`` a sweep table (its group columns and n), ``fits`` None or a table of
    :func:`lipconv.rates.fit_rate` (possibly empty), ``quantity`` (if given) a column of df; a
    ``ValueError`` naming the argument otherwise."""
    from ..rates import GROUP_COLUMNS

    check_frame(df, "df", columns=(*GROUP_COLUMNS, "n"))
    if fits is not None:
        check_frame(fits, "fits", min_rows=0)
        if len(fits):
            check_frame(fits, "fits", columns=("quantity", "slope", *GROUP_COLUMNS))
    for q in quantity:
        if not isinstance(q, str) or q not in df.columns:
            raise ValueError(f"quantity must be a column of df, got {q!r}")


def _check_ext(ext: str) -> str:
    from matplotlib.figure import Figure

    formats = Figure().canvas.get_supported_filetypes()
    if ext not in formats:
        raise ValueError(f"ext must be one of matplotlib's formats {tuple(sorted(formats))}, got {ext!r}")
    return ext


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

    _check_tables(df, fits, quantity)
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

    _check_tables(df, fits)
    _check_ext(ext)
    quantities = [q for q in QUANTITIES if q in df.columns] if quantities is None else list(quantities)
    unknown = [q for q in quantities if q not in df.columns]
    if unknown:
        raise ValueError(f"quantities must be columns of df, got {unknown}")
    return [plot_rate(df, fits, q, os.path.join(directory, f"rate_{q}.{ext}")) for q in quantities]


# The figure of each theorem: (file stem, quantity, theorem, y label).
THEOREM_FIGURES = (
    ("theorem_w1", "w1", "Lemma 4.10", r"$W_1(\rho_n, \rho)$ (bracket midpoint)"),
    ("theorem_l2sq", "l2sq", "Theorem 4.8", r"$\|u_n - u^\lambda\|^2_{L^2(\rho)}$, worst extension"),
    ("theorem_linf", "linf_hi", "Corollary 4.9", r"$\sup_M |u_n - u^\lambda|$ (upper end of the bracket)"),
)


def _fit_of(fits, key, quantity):
    from ..rates import GROUP_COLUMNS

    if fits is None or len(fits) == 0:
        return None
    sel = fits[(fits["quantity"] == quantity) & np.logical_and.reduce([fits[c] == v for c, v in zip(GROUP_COLUMNS, key)])]
    return sel.iloc[0] if len(sel) and np.isfinite(float(sel["slope"].iloc[0])) else None


def plot_theorem(df, fits, quantity: str, path: str, *, title: str = "", groups=None) -> str:
    r"""All problems of a sweep on shared log-log axes for one quantity: the mean over seeds with a
    10-90 % band, the measured slope and its interval in the legend, and beside each curve a dashed
    guide with the theorem's exponent (:func:`lipconv.rates.theorem_exponents`, logs ignored), anchored
    at the curve's first mean. ``groups`` filters the problem groups (a predicate on their key dict)."""
    from ..rates import GROUP_COLUMNS, group_name, theorem_exponents

    _check_tables(df, fits, quantity)
    plt = _pyplot()
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    fig, ax = plt.subplots(figsize=(7.5, 5.2))
    drawn = 0
    for i, (key, g) in enumerate(ok.groupby(list(GROUP_COLUMNS), sort=True)):
        info = dict(zip(GROUP_COLUMNS, key))
        if groups is not None and not groups(info):
            continue
        g = g[np.isfinite(g[quantity].to_numpy(dtype=float)) & (g[quantity] > 0)]
        if g["n"].nunique() < 1:
            continue
        stats = g.groupby("n")[quantity].agg(["mean", lambda s: s.quantile(0.1), lambda s: s.quantile(0.9)])
        n = stats.index.to_numpy(dtype=float)
        mean = stats.iloc[:, 0].to_numpy()
        color = f"C{drawn % 10}"
        f = _fit_of(fits, key, quantity)
        label = group_name(info)
        if f is not None:
            label += f": slope {f['slope']:+.2f} [{f['ci_low']:+.2f}, {f['ci_high']:+.2f}]"
        ax.fill_between(n, stats.iloc[:, 1], stats.iloc[:, 2], color=color, alpha=0.15, lw=0)
        ax.loglog(n, mean, "o-", color=color, ms=4, label=label)
        theory, _ = theorem_exponents(quantity, int(info["m"]))
        if np.isfinite(theory) and len(n) > 1:
            ax.loglog(n, mean[0] * (n / n[0]) ** theory, "--", color=color, lw=0.9, alpha=0.7)
        drawn += 1
    if not drawn:
        plt.close(fig)
        raise ValueError(f"df has no successful rows to plot for {quantity!r}")
    ax.plot([], [], "k--", lw=0.9, label="theorem exponent (dashed, anchored at n_min)")
    ax.set_xlabel("n")
    ax.set_ylabel(_TITLES.get(quantity, quantity))
    ax.set_title(title or _TITLES.get(quantity, quantity), fontsize=10)
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend(fontsize=6.5, loc="lower left", framealpha=0.8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_panel(df, fits, path: str, *, curved: str = "curved_torus", full=("cube", 4)) -> str:
    """The manifold-hypothesis panel: W1 and the worst L2 error of the curved m = 2 problem at every
    d beside the full-dimensional cube (m = 4 by default), two axes side by side."""
    from ..rates import GROUP_COLUMNS, group_name

    _check_tables(df, fits)
    plt = _pyplot()
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6))
    for ax, quantity in zip(axes, ("w1", "l2sq")):
        drawn = 0
        for key, g in ok.groupby(list(GROUP_COLUMNS), sort=True):
            info = dict(zip(GROUP_COLUMNS, key))
            is_full = info["manifold"] == full[0] and int(info["m"]) == full[1]
            if info["manifold"] != curved and not is_full:
                continue
            stats = g.groupby("n")[quantity].mean()
            f = _fit_of(fits, key, quantity)
            label = group_name(info) + (f": {f['slope']:+.3f} [{f['ci_low']:+.3f}, {f['ci_high']:+.3f}]" if f is not None else "")
            ax.loglog(stats.index, stats.to_numpy(), "s--" if is_full else "o-", color="k" if is_full else f"C{drawn}",
                      label=label, ms=4)
            drawn += 1
        ax.set_xlabel("n")
        ax.set_title(_TITLES.get(quantity, quantity), fontsize=9)
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.legend(fontsize=7, loc="lower left")
    fig.suptitle("Manifold hypothesis: the m = 2 torus bent into R^d (colours) vs full-dimensional data (black)",
                 fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def _network_groups(ok) -> list:
    """(info, network rows, exact-minimizer rows of the same problem on the same (n, seed)) per network group."""
    from ..rates import GROUP_COLUMNS
    from ..rates._report import _exact_partner

    out = []
    if "l2sq_function" not in ok.columns:
        return out
    for key, g in ok.groupby(list(GROUP_COLUMNS), sort=True):
        if not np.isfinite(g["l2sq_function"].to_numpy(dtype=float)).any():
            continue
        info = dict(zip(GROUP_COLUMNS, key))
        exact = _exact_partner(ok, info)
        if exact is not None:
            pairs = set(zip(g["n"], g["seed"]))
            exact = exact[[p in pairs for p in zip(exact["n"], exact["seed"])]]
        out.append((info, g, exact))
    return out


def plot_network(df, path: str, *, target: float = 0.02) -> str:
    r"""The network against the exact minimizer, three axes side by side: the L2(rho)^2 errors and the
    sup errors (upper ends of the certified brackets) of the network and of the exact minimizer's
    midpoint and worst extensions against n, all problems on shared axes (network: solid; exact:
    dashed and dotted), and the certified relative gap of the network's J_n (median over seeds with a
    10-90 % band; at its certified Lipschitz upper bound dashed), with the ``target`` line."""
    from ..rates import group_name

    plt = _pyplot()
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    groups = _network_groups(ok)
    if not groups:
        raise ValueError("df has no network rows (l2sq_function) to plot")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.8))
    for i, (info, g, exact) in enumerate(groups):
        color = f"C{i % 10}"
        name = group_name({**info, "method": ""}).strip()
        for ax, (q_net, q_exact) in zip(axes[:2], (("l2sq_function", ("l2sq_midpoint", "l2sq")),
                                                 ("linf_function_hi", ("linf_hi",)))):
            s = g.groupby("n")[q_net].mean()
            ax.loglog(s.index, s.to_numpy(), "o-", color=color, ms=4, label=f"{name}: network")
            if exact is not None and len(exact):
                for q, style in zip(q_exact, ("s--", "^:")):
                    e = exact.groupby("n")[q].mean()
                    kind = "exact, midpoint" if q == "l2sq_midpoint" else "exact, worst extension"
                    ax.loglog(e.index, e.to_numpy(), style, color=color, ms=3.5, lw=1, label=f"{name}: {kind}")
        gap = g.groupby("n")["relative_gap"]
        n = np.array(sorted(g["n"].unique()), dtype=float)
        axes[2].fill_between(n, gap.quantile(0.1).to_numpy(), gap.quantile(0.9).to_numpy(), color=color, alpha=0.15, lw=0)
        axes[2].semilogx(n, gap.median().to_numpy(), "o-", color=color, ms=4, label=f"{name}: at L_disc")
        axes[2].semilogx(n, g.groupby("n")["relative_gap_upper"].median().to_numpy(), "--", color=color, lw=1,
                         label=f"{name}: at the certified Lip bound")
    axes[2].axhline(target, color="k", lw=0.8, ls=":", label=f"target {target:.0%}")
    gaps = np.concatenate([g[c].to_numpy(dtype=float) for _, g, _ in groups for c in ("relative_gap", "relative_gap_upper")])
    # A negative gap (something wrong) must stay visible: a log axis would drop it.
    axes[2].set_yscale("log" if np.all(gaps > 0) else "symlog", **({} if np.all(gaps > 0) else {"linthresh": 1e-4}))
    titles = (_TITLES["l2sq_function"].replace(", the network itself", "") + ": network and exact minimizer",
              r"$\sup_M |u - u^\lambda|$ (certified upper ends)", r"certified relative gap $(J_n - D)/J_n$ of the network")
    for ax, title in zip(axes, titles):
        ax.set_xlabel("n")
        ax.set_title(title, fontsize=9)
        ax.xaxis.set_minor_formatter(plt.NullFormatter())
        ax.legend(fontsize=6.5, loc="best", framealpha=0.8)
    fig.suptitle("The Lipschitz-regularized network against the exact minimizer of the same J_n", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=130)
    plt.close(fig)
    return path


def plot_study(df, fits, directory: str, *, ext: str = "png") -> list[str]:
    """The study's figures: one per theorem (:data:`THEOREM_FIGURES`, all problems on shared axes;
    the row sets that are certified minimizers), the panel (:func:`plot_panel`) when the table holds
    the curved torus, and the network figure (:func:`plot_network`) when it holds network rows.
    Returns the paths."""
    from ..rates._report import _minimizer_rows

    _check_tables(df, fits)
    _check_ext(ext)
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    minimizers = ok[_minimizer_rows(ok)]
    paths = []
    for stem, quantity, theorem, _ in THEOREM_FIGURES:
        if quantity in df.columns and len(minimizers):
            paths.append(plot_theorem(minimizers, fits, quantity, os.path.join(directory, f"{stem}.{ext}"),
                                      title=f"{theorem}: {_TITLES.get(quantity, quantity)}"))
    if (minimizers["manifold"] == "curved_torus").any():
        paths.append(plot_panel(minimizers, fits, os.path.join(directory, f"panel.{ext}")))
    if _network_groups(ok):
        paths.append(plot_network(df, os.path.join(directory, f"network.{ext}")))
    return paths
