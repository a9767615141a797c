r"""Power-law fits of error against n, with stratified bootstrap intervals and theorem verdicts."""
from __future__ import annotations

import numbers
import zlib
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_fraction, check_frame, check_int, check_real, check_rng
from ..discrepancy import discrepancy_bound, sharp_exponent, sharp_rate

__all__ = ["SlopeFit", "fit_slope", "fit_rate", "QUANTITIES", "GROUP_COLUMNS", "BOUND_OF", "theorem_exponents"]

GROUP_COLUMNS = ("manifold", "m", "d", "density", "lam", "loss", "label", "method")

# quantity -> (theorem of [FCAO] it is set beside, description). The verdicts of the theorems use
# the worst extension of u_n (the theorems bound every minimizer; lipconv.rates.error_metrics).
QUANTITIES = {
    "w1": ("Lemma 4.10", "W1(rho_n, rho)"),
    "l2sq": ("Theorem 4.8", "int |u_n - u^lam|^2 rho, worst extension"),
    "linf_lo": ("Corollary 4.9", "sup_M |u_n - u^lam|, worst envelope (lower end of its bracket)"),
    "linf_hi": ("Corollary 4.9", "sup_M |u_n - u^lam|, worst envelope (upper end of its bracket)"),
    "l2sq_midpoint": (None, "int |u_n - u^lam|^2 rho, midpoint extension"),
    "l2sq_samples": (None, "(1/n) sum_i |u_n(x_i) - u^lam(x_i)|^2, at the samples"),
    "excess_J": (None, "J[u_n] - J[u^lam], worst extension"),
    "gap_Jn": (None, "|J_n[u_n] - J[u^lam]|"),
    "l2sq_function": (None, "int |u - u^lam|^2 rho of the returned function itself (a network)"),
    "linf_function_lo": (None, "sup_M |u - u^lam| of the returned function (lower end of its bracket)"),
    "linf_function_hi": (None, "sup_M |u - u^lam| of the returned function (upper end of its bracket)"),
}
# The bound column each quantity is compared with (C = 1 nominal).
BOUND_OF = {"w1": "bound_w1", "l2sq": "bound_l2sq", "linf_lo": "bound_linf", "linf_hi": "bound_linf"}


@dataclass(frozen=True)
class SlopeFit:
    r"""Least-squares fit of :math:`\log \bar e(n) = a + b \log n` over the distinct n.

    Attributes
    ----------
    slope, intercept : float
        b and a, fitted to the per-n means :math:`\bar e(n)` (mean over seeds).
    ci_low, ci_high : float
        Percentile interval of the slope under the stratified bootstrap (rows resampled with
        replacement within each n, from the errors of that n sorted, so that the fit does not
        depend on the order of the rows).
    level : float
        Confidence level of the interval.
    n_values : ndarray
        The distinct n, increasing.
    means : ndarray
        :math:`\bar e(n)`.
    mean_ci : ndarray, shape (len(n_values), 2)
        Bootstrap percentile interval of each mean.
    counts : ndarray
        Rows (seeds) per n.
    local_slopes : ndarray
        :math:`\Delta \log \bar e / \Delta \log n` between neighbouring n.
    n_boot : int
    """

    slope: float
    intercept: float
    ci_low: float
    ci_high: float
    level: float
    n_values: np.ndarray = field(repr=False)
    means: np.ndarray = field(repr=False)
    mean_ci: np.ndarray = field(repr=False)
    counts: np.ndarray = field(repr=False)
    local_slopes: np.ndarray = field(repr=False)
    n_boot: int = 0

    def __repr__(self) -> str:
        """One line: the slope with its interval, the intercept, and the design it was fitted on."""
        counts = np.asarray(self.counts)
        rows = f"{counts.min()}" if counts.min() == counts.max() else f"{counts.min()}-{counts.max()}"
        return (
            f"SlopeFit(slope={self.slope:.4g}, {100 * self.level:g}% interval [{self.ci_low:.4g}, {self.ci_high:.4g}], "
            f"intercept={self.intercept:.4g}, n={self.n_values[0]:g}..{self.n_values[-1]:g} "
            f"({len(self.n_values)} sizes, {rows} rows each), n_boot={self.n_boot})"
        )

    def contains(self, exponent: float) -> bool:
        """Whether the slope interval contains ``exponent``."""
        return bool(self.ci_low <= exponent <= self.ci_high)


def _ls_slopes(logn: np.ndarray, logy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares slopes and intercepts of rows of ``logy`` (B, k) against ``logn`` (k,)."""
    xc = logn - logn.mean()
    slope = (logy - logy.mean(axis=-1, keepdims=True)) @ xc / (xc @ xc)
    return slope, logy.mean(axis=-1) - slope * logn.mean()


def fit_slope(n, errors, *, n_boot: int = 2000, level: float = 0.95, seed=0) -> SlopeFit:
    r"""Fit :math:`\bar e(n) \approx e^{a} n^{b}` by least squares on log-log means over seeds.

    .. math::

        (a, b) = \arg\min \sum_{k} \big(\log \bar e(n_k) - a - b \log n_k\big)^2,
        \qquad \bar e(n_k) = \operatorname{mean}\{e_r : n_r = n_k\},

    with a 2-sided percentile confidence interval for b from a stratified bootstrap: within each n
    the rows (seeds) are resampled with replacement, so every replicate keeps the design in n
    (STYLE.md habit 10: rates are slopes with intervals over seeds, never clipped).

    The rows are put in a canonical order first (by n, then by error), so that a table and any
    permutation of its rows give bit-identical fits: the bootstrap draws positions, and the means
    are sums whose rounding depends on the order of their terms.

    Parameters
    ----------
    n : array_like, shape (r,)
        Sample size of each row; at least 2 distinct values, each >= 1.
    errors : array_like, shape (r,)
        Error of each row; finite, with a positive mean at every n.
    n_boot : int
        Bootstrap replicates, >= 1.
    level : float
        Confidence level in (0, 1).
    seed : int, numpy.random.SeedSequence or numpy.random.Generator
        Seed of the bootstrap.

    Returns
    -------
    SlopeFit
    """
    n = check_real(n, "n").ravel()
    e = check_real(errors, "errors").ravel()
    if n.shape != e.shape:
        raise ValueError(f"n and errors must have the same length, got {n.size} and {e.size}")
    if n.size == 0 or not np.all(np.isfinite(n)) or np.any(n < 1):
        raise ValueError(f"n must be a non-empty array of finite values >= 1, got {n.size} values")
    if not np.all(np.isfinite(e)):
        raise ValueError(f"errors must be finite, got {int(np.sum(~np.isfinite(e)))} NaN or inf entries")
    n_boot = check_int(n_boot, "n_boot", minimum=1)
    level = check_fraction(level, "level")
    rng = check_rng(seed)
    order = np.lexsort((e, n))
    n, e = n[order], e[order]
    n_values = np.unique(n)
    if n_values.size < 2:
        raise ValueError(f"n must take at least 2 distinct values to fit a slope, got {n_values.tolist()}")
    groups = [e[n == v] for v in n_values]
    means = np.array([g.mean() for g in groups])
    if np.any(means <= 0):
        bad = n_values[means <= 0].tolist()
        raise ValueError(f"errors must have a positive mean at every n to fit on a log scale, not at n = {bad}")
    boot = np.column_stack([g[rng.integers(0, g.size, size=(n_boot, g.size))].mean(axis=1) for g in groups])
    logn = np.log(n_values)
    slope, intercept = _ls_slopes(logn, np.log(means))
    # A replicate whose resampled mean is 0 (all-zero draws) has no log; it is dropped, not clipped.
    ok = np.all(boot > 0, axis=1)
    boot_slopes, _ = _ls_slopes(logn, np.log(boot[ok]))
    alpha = 0.5 * (1.0 - level)
    lo, hi = np.quantile(boot_slopes, [alpha, 1.0 - alpha])
    mean_ci = np.quantile(boot, [alpha, 1.0 - alpha], axis=0).T
    return SlopeFit(
        slope=float(slope), intercept=float(intercept), ci_low=float(lo), ci_high=float(hi), level=level,
        n_values=n_values, means=means, mean_ci=mean_ci, counts=np.array([g.size for g in groups]),
        local_slopes=np.diff(np.log(means)) / np.diff(logn), n_boot=int(ok.sum()),
    )


def theorem_exponents(quantity: str, m: int) -> tuple[float, float]:
    r"""(theoretical, sharp) exponents of n for a quantity in intrinsic dimension m.

    * ``w1`` (Lemma 4.10): :math:`-1/(m+2)`; sharp :math:`-1/2` (m <= 2), :math:`-1/m` (m >= 3):
      the known rates of the empirical W1 distance.
    * ``l2sq`` (Theorem 4.8, whose only n-dependence is Lemma 4.10's factor): :math:`-1/(m+2)`; no
      sharp rate is known for this error, so none is given (nan).
    * ``linf_lo``, ``linf_hi`` (Corollary 4.9, eq. (4.10): the (m+2)-th power of the error is
      bounded by the Theorem 4.8 factor): :math:`-1/(m+2)^2`; no sharp rate (nan).
    * other quantities: (nan, nan).

    Logarithmic factors are ignored; the bound lines in the figures keep them.
    """
    if not isinstance(quantity, str):
        raise ValueError(f"quantity must be a column name (str), got {quantity!r}")
    m = check_int(m, "m")
    theory = -1.0 / (m + 2)
    if quantity == "w1":
        return theory, sharp_exponent(m)
    if quantity == "l2sq":
        return theory, float("nan")
    if quantity in ("linf_lo", "linf_hi"):
        return theory / (m + 2), float("nan")
    return float("nan"), float("nan")


def _log_corrected_exponents(quantity: str, m: int, n_values: np.ndarray) -> tuple[float, float]:
    """Least-squares log-log slopes of the theory and sharp rates themselves over the measured n.

    With the logarithms kept (e.g. sqrt(log n / n) has local slope -1/2 + 1/(2 log n), about -0.43
    at n = 1000), this is the slope a measurement following that rate exactly would show on this grid.
    """
    theory, sharp = theorem_exponents(quantity, m)
    if not np.isfinite(theory) or n_values.size < 2 or n_values.min() < 2:
        return float("nan"), float("nan")
    power = 1.0 / (m + 2) if quantity in ("linf_lo", "linf_hi") else 1.0
    logn = np.log(n_values)
    slopes, _ = _ls_slopes(logn, power * np.log(np.vstack([discrepancy_bound(n_values, m), sharp_rate(n_values, m)])))
    return float(slopes[0]), float(slopes[1]) if np.isfinite(sharp) else float("nan")


def fit_rate(df, *, quantities=None, n_boot: int = 2000, level: float = 0.95, seed=0):
    r"""Slopes, intervals and verdicts for every problem group and quantity of a sweep table.

    For each group of rows sharing :data:`GROUP_COLUMNS` and each quantity q present in ``df``,
    :func:`fit_slope` fits :math:`\bar q(n) \sim n^{b}`. For the quantities with a theorem
    (``w1``: [FCAO] Lemma 4.10; ``l2sq``: Theorem 4.8; ``linf``: Corollary 4.9) the verdict sets
    the measured slope and its interval beside the theoretical and sharp exponents
    (:func:`theorem_exponents`), and checks the one-sided bound through the ratio
    :math:`r(n) = \bar q(n) / \bar B(n)` with the bound column ``bound_<q>`` of the table (C = 1):

    * ``max_ratio``: :math:`\max_n r(n)`; ``below_bound``: it is < 1;
    * ``ratio_slope`` (with interval): the fitted exponent of r;
    * ``theory_exponent_log``, ``sharp_exponent_log``, ``ci_contains_sharp_log``: the same exponents
      with the logarithms of the rates kept, as the log-log slope of the rate over the measured n;
    * ``non_increasing``: no neighbouring step of r is a resolved increase, i.e. for every k either
      :math:`r_{k+1} \le r_k` or the bootstrap intervals of the two means overlap.

    The bounds are one-sided and not tight, so a verdict never asserts that the measured slope
    equals the theoretical exponent (DESIGN.md, "What the theory predicts").

    The result is canonical: groups are taken in sorted order, :func:`fit_slope` orders the rows of
    a fit itself, and each (group, quantity) bootstraps from its own stream, seeded from ``seed``, the
    group's key and the quantity. So the same rows in any order (e.g. as written by a sweep with
    another number of workers) give bit-identical fits, and a group's fit does not depend on which
    other groups the table holds.

    Parameters
    ----------
    df : pandas.DataFrame
        Rows of :func:`lipconv.rates.run_sweep` (failed rows, ``status != "ok"``, are left out).
    quantities : sequence of str, optional
        Default: every key of :data:`QUANTITIES` that is a column of ``df``.
    n_boot, level
        As in :func:`fit_slope`.
    seed : int
        Root seed (>= 0) of the per-(group, quantity) bootstrap streams.

    Returns
    -------
    pandas.DataFrame
        One row per (group, quantity); the slope fit's columns plus ``theorem``, ``theory_exponent``,
        ``sharp_exponent``, ``ci_contains_theory``, ``ci_contains_sharp``, ``theory_exponent_log``,
        ``sharp_exponent_log``, ``ci_contains_sharp_log``, ``max_ratio``,
        ``below_bound``, ``ratio_slope``, ``ratio_ci_low``, ``ratio_ci_high``, ``non_increasing``,
        ``local_slopes`` (text), ``n_min``, ``n_max``, ``seeds_min`` and ``note``.
    """
    import pandas as pd

    check_frame(df, "df", columns=(*GROUP_COLUMNS, "n"))
    seed = check_int(seed, "seed", minimum=0)
    # Checked here: a fit catches the ValueErrors of fit_slope (too few rows) and reports nan.
    n_boot = check_int(n_boot, "n_boot", minimum=1)
    level = check_fraction(level, "level")
    if "status" in df.columns:
        df = df[df["status"] == "ok"]
    if quantities is None:
        quantities = [q for q in QUANTITIES if q in df.columns]
    unknown = [q for q in quantities if q not in df.columns]
    if unknown:
        raise ValueError(f"quantities must be columns of df, got {unknown}")
    out = []
    for key, group in df.groupby(list(GROUP_COLUMNS), sort=True, dropna=False):
        base = dict(zip(GROUP_COLUMNS, key))
        for q in quantities:
            out.append({**base, **_verdict(group, q, n_boot=n_boot, level=level, seed=_group_seed(seed, key, q))})
    return pd.DataFrame(out)


def _group_seed(seed: int, key: tuple, quantity: str) -> np.random.SeedSequence:
    """The bootstrap seed of one (group, quantity): ``seed`` and a stable hash of the key's text.

    Numbers are written as floats, so that m = 1 read as 1 or 1.0 names the same group.
    """
    text = "|".join(repr(float(v)) if isinstance(v, numbers.Real) else str(v) for v in (*key, quantity))
    return np.random.SeedSequence([seed, zlib.crc32(text.encode())])


def _verdict(group, q: str, *, n_boot: int, level: float, seed: np.random.SeedSequence) -> dict:
    theorem = QUANTITIES.get(q, (None, q))[0]
    m = int(group["m"].iloc[0])
    theory, sharp = theorem_exponents(q, m)
    strong = "theta" not in group.columns or float(group["theta"].iloc[0]) > 0
    if theorem in ("Theorem 4.8", "Corollary 4.9") and not strong:
        # A loss that is not strongly convex (huber, absolute): Theorem 4.7 gives uniform
        # convergence (strictly convex losses) and no rate, so there is no exponent to compare with.
        theorem, theory = "Theorem 4.7 (no rate)", float("nan")
    rows = group[np.isfinite(group[q].to_numpy(dtype=float))]
    row = {"quantity": q, "theorem": theorem or "", "theory_exponent": theory, "sharp_exponent": sharp,
           "n_min": int(rows["n"].min()) if len(rows) else 0, "n_max": int(rows["n"].max()) if len(rows) else 0,
           "seeds_min": int(rows.groupby("n").size().min()) if len(rows) else 0, "note": ""}
    try:
        seed_error, seed_ratio = seed.spawn(2)
        fit = fit_slope(rows["n"], rows[q], n_boot=n_boot, level=level, seed=seed_error)
    except ValueError as exc:
        return {**row, "slope": np.nan, "ci_low": np.nan, "ci_high": np.nan, "note": f"no fit: {exc}"}
    theory_log, sharp_log = _log_corrected_exponents(q, m, fit.n_values)
    row.update(
        slope=fit.slope, ci_low=fit.ci_low, ci_high=fit.ci_high,
        ci_contains_theory=fit.contains(theory) if np.isfinite(theory) else None,
        ci_contains_sharp=fit.contains(sharp) if np.isfinite(sharp) else None,
        theory_exponent_log=theory_log, sharp_exponent_log=sharp_log,
        ci_contains_sharp_log=fit.contains(sharp_log) if np.isfinite(sharp_log) else None,
        local_slopes=" ".join(f"{s:+.2f}" for s in fit.local_slopes),
    )
    bound_col = BOUND_OF.get(q, f"bound_{q}")
    if not np.isfinite(theory) or bound_col not in rows.columns or not np.all(np.isfinite(rows[bound_col].to_numpy(dtype=float))):
        return row
    ratio = rows[q].to_numpy(dtype=float) / rows[bound_col].to_numpy(dtype=float)
    rfit = fit_slope(rows["n"], ratio, n_boot=n_boot, level=level, seed=seed_ratio)
    resolved_rise = (rfit.means[1:] > rfit.means[:-1]) & (rfit.mean_ci[1:, 0] > rfit.mean_ci[:-1, 1])
    row.update(
        max_ratio=float(rfit.means.max()), below_bound=bool(rfit.means.max() < 1.0),
        ratio_slope=rfit.slope, ratio_ci_low=rfit.ci_low, ratio_ci_high=rfit.ci_high,
        non_increasing=bool(not resolved_rise.any()),
    )
    return row
