r"""A tightness probe of [FCAO] Theorem 4.8: targets chosen per n, before sampling.

Theorem 4.8 bounds the L2(rho)^2 error of every minimizer u_n by
:math:`\frac{2}{\theta}\frac{J[u^\lambda]}{\lambda}\, C (\log n / n)^{1/(m+2)}`. A fixed target
shows the rate of that target (the study's ramps fall like n^-1 or faster); the bound is a worst
case over the class of targets with a Lipschitz bound, so probing it needs a family
:math:`y_n` chosen for each n before the samples are drawn, with one Lipschitz bound for all n.

Every family here is a label of the first intrinsic coordinate t in [-1, 1] of the flat cube
FlatCube(m, m) (uniform rho, squared loss), with :math:`\mathrm{Lip}_t(y_n) \le 1` for every n, so
that its continuum minimizer is the certified lifted reference
(:func:`lipconv.continuum.lifted_reference`). The regularization weight is set in intrinsic units,
:math:`\lambda_{\mathrm{int}} = \lambda / s` with s = ``FlatCube.scale``, so that the 1-D problem and
its reference are the same for every m. :math:`h_n = n^{-1/(m+2)}` is the scale at which Theorem
4.8's rate would be attained by a bias-variance balance.

Families (:data:`FAMILIES`):

* ``fixed`` (control): :math:`y = \mathrm{clip}(t, -\tfrac12, \tfrac12)`, lam fixed;
* ``osc``: half the control plus an oscillation at the scale h_n,
  :math:`\tfrac12\mathrm{clip}(t, \pm\tfrac12) + \frac{h_n}{4\pi}\sin(2\pi t/h_n)`, lam fixed (a
  pure oscillation of Lipschitz constant 1 has amplitude h_n/2pi and lies below the critical lam,
  so that u^lam and u_n are constants: the baseline keeps the problem non-degenerate);
* ``tents``: half the control plus tents of width h_n and height h_n/4 every 2 h_n, lam fixed;
* ``lam_n``: the control target with :math:`\lambda_{\mathrm{int},n} = 0.2\, h_n \to 0` (outside
  a fixed-lam bound: its constant J/lam grows like 1/lam_n, so it is reported, not counted as a
  probe of the fixed-lam bound);
* ``spacing``: half the control plus an oscillation whose period is the samples' spacing,
  :math:`s_n = 2 n^{-1/m}` (the mean distance to a neighbour in [-1, 1]^m), lam fixed: the scale at
  which the minimizer's error sits between samples, where only the extension decides it.
"""
from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validation import check_distinct, check_fraction, check_frame, check_int, check_output_file
from ._resumable import check_settings, read_complete_rows, read_frame, row_appender

__all__ = ["TightnessFamily", "FAMILIES", "LAM_INTRINSIC", "LIPSCHITZ_BOUND", "N_LIFTED", "TIGHTNESS_COLUMNS", "TABLE_COLUMNS",
           "tightness_scale", "tightness_problem", "tightness_run", "tightness_table", "tightness_markdown",
           "tightness_summary", "plot_tightness"]

LAM_INTRINSIC = 0.05  # lam / FlatCube.scale of the fixed-lam families: u^lam non-degenerate for each
LIPSCHITZ_BOUND = 1.0  # the uniform bound Lip_t(y_n) <= 1 of every family
# Cells of the lifted reference: its certified L2 error halves from 8,192 to 16,384 cells (3.1e-5 to
# 1.5e-5, osc at m = 1, n = 1,024; 1.2 s) but only reaches 1.1e-5 at 32,768 (3.9 s) and 65,536 (6-16 s):
# above 16,384 the solver's duality gap, not the grid, sets the bound.
N_LIFTED = 16384

TIGHTNESS_COLUMNS = (
    "family", "m", "n", "seed", "status", "h", "lam", "lam_intrinsic", "target", "target_lipschitz",
    "l2sq", "l2sq_se", "l2sq_rel_se", "l2sq_worst", "l2sq_midpoint", "l2sq_samples", "n_error",
    "lipschitz", "lipschitz_ref", "J_ref", "ref_err_l2", "ref_effect", "n_lifted",
    "max_violation", "relative_gap", "solve_time", "metrics_time", "rtol_l2", "lipconv_version", "error",
)
# Settings that change a row's numbers without being in its key (family, m, n, seed): a CSV holds one value of each.
TIGHTNESS_SETTINGS = ("n_lifted", "rtol_l2", "lipconv_version")
TABLE_COLUMNS = (
    "family", "m", "lam_fixed", "slope", "ci_low", "ci_high", "theory", "ratio", "distance", "local_slopes",
    "n_min", "n_max", "seeds", "ref_effect_max", "ref_slope_low", "ref_slope_high", "slowest",
)


def tightness_scale(n, m: int) -> float:
    r""":math:`h_n = n^{-1/(m+2)}`, the scale of Theorem 4.8's rate in dimension m (n >= 2, m >= 1)."""
    n, m = check_int(n, "n", minimum=2), check_int(m, "m", minimum=1)
    return float(n) ** (-1.0 / (m + 2))


def _clip_half(t):
    return np.clip(t, -0.5, 0.5)


def _grid_breaks(step: float, offset: float = 0.0, limit: int = 20000) -> tuple:
    """Points offset + k step inside (-1, 1) (the kinks of a periodic piece), at most ``limit``."""
    k = np.arange(math.ceil((-1.0 - offset) / step), math.floor((1.0 - offset) / step) + 1)
    pts = offset + k * step
    pts = pts[(pts > -1.0) & (pts < 1.0)]
    return tuple(float(p) for p in pts[:limit])


def _fixed(n, m):
    from ..manifolds import Label

    return Label("clip(t,1/2)", 1.0, 1, {}, _clip_half, breaks=(-0.5, 0.5)), LAM_INTRINSIC, float("nan")


def _sine_on_ramp(name: str, period: float):
    from ..manifolds import Label

    def fn(t):
        return 0.5 * _clip_half(t) + period / (4.0 * np.pi) * np.sin(2.0 * np.pi * t / period)

    return Label(f"{name}(p={period:.4g})", 1.0, 1, {"period": period}, fn, breaks=(-0.5, 0.5))


def _osc(n, m):
    h = tightness_scale(n, m)
    return _sine_on_ramp("ramp/2+sin", h), LAM_INTRINSIC, h


def _tents(n, m):
    from ..manifolds import Label

    h = tightness_scale(n, m)

    def fn(t):
        # a tent of half-width h/2 (slope 1/2, height h/4) centred at every odd multiple of h
        r = np.abs(np.mod(t, 2.0 * h) - h)
        return 0.5 * _clip_half(t) + 0.5 * np.maximum(0.0, 0.5 * h - r)

    breaks = tuple(sorted(set(_grid_breaks(h, 0.0)) | set(_grid_breaks(2.0 * h, 0.5 * h))
                          | set(_grid_breaks(2.0 * h, 1.5 * h)) | {-0.5, 0.5}))
    return Label(f"ramp/2+tents(h={h:.4g})", 1.0, 1, {"h": h}, fn, breaks=breaks), LAM_INTRINSIC, h


def _lam_n(n, m):
    label, _, _ = _fixed(n, m)
    h = tightness_scale(n, m)
    return label, 0.2 * h, h


def _spacing(n, m):
    s = 2.0 * float(n) ** (-1.0 / m)
    return _sine_on_ramp("ramp/2+sin", s), LAM_INTRINSIC, s


@dataclass(frozen=True)
class TightnessFamily:
    """A family of problems chosen per n: ``make(n, m) -> (label, lam_intrinsic, scale)``.

    Attributes
    ----------
    name : str
    lam_fixed : bool
        Whether lam is the same for every n (Theorem 4.8's constant is then uniform in n).
    description : str
    make : callable
        (n, m) -> (:class:`lipconv.manifolds.Label` of t with Lipschitz constant <= 1, lam in intrinsic
        units, the family's scale at n (nan for the control)).
    """

    name: str
    lam_fixed: bool
    description: str
    make: Callable = None

    def __call__(self, n: int, m: int):
        return self.make(check_int(n, "n", minimum=2), check_int(m, "m", minimum=1))


FAMILIES = {
    "fixed": TightnessFamily("fixed", True, "control: clip(t, -1/2, 1/2), one target for all n", _fixed),
    "osc": TightnessFamily("osc", True, "clip/2 + (h/4pi) sin(2 pi t/h), h = n^(-1/(m+2))", _osc),
    "tents": TightnessFamily("tents", True, "clip/2 + tents of width h, height h/4, h = n^(-1/(m+2))", _tents),
    "lam_n": TightnessFamily("lam_n", False, "control target, lam_int = 0.2 n^(-1/(m+2)) -> 0", _lam_n),
    "spacing": TightnessFamily("spacing", True, "clip/2 + (s/4pi) sin(2 pi t/s), s = 2 n^(-1/m) (sample spacing)",
                               _spacing),
}


def _family(name) -> TightnessFamily:
    if name not in FAMILIES:
        raise ValueError(f"family must be one of {tuple(FAMILIES)}, got {name!r}")
    return FAMILIES[name]


def tightness_problem(family: str, m: int, n: int, *, n_lifted: int = N_LIFTED):
    r"""The :class:`lipconv.rates.Problem` of ``family`` at (m, n) on FlatCube(m, m), squared loss,
    with its certified lifted reference :math:`u^\lambda` on ``n_lifted`` cells ([FCAO] eq. (4.4))."""
    from ._problems import make_manifold, make_problem

    label, lam_i, _ = _family(family)(n, m)
    scale = make_manifold("cube", m).scale
    return make_problem("cube", m, lam=lam_i * scale, label=label, loss="squared",
                        n_lifted=check_int(n_lifted, "n_lifted", minimum=4))


def tightness_run(family: str, m: int, n: int, seed: int, *, problem=None, n_lifted: int = N_LIFTED,
                  rtol_l2: float = 0.05) -> dict:
    r"""One run of the probe: n samples of rho from ``numpy.random.default_rng([seed, n])`` (the
    rate sweep's stream, so families share their samples), the convex solve
    (:func:`lipconv.rates.convex_runner`) and the errors of :func:`lipconv.rates.error_metrics`.

    ``l2sq`` is the worst envelope's :math:`\|\bar u_n - u^\lambda\|^2_{L^2(\rho)}` (Theorem 4.8 bounds
    every minimizer). ``ref_effect`` bounds the relative change of ``l2sq`` that the reference's
    certified L2 error e can make: :math:`e (2\sqrt{\mathrm{l2sq}} + e) / \mathrm{l2sq}`. The sup
    brackets are not needed here and get the smallest budget. A failure is a row with status "failed".
    """
    from .. import __version__
    from ._methods import convex_runner
    from ._metrics import error_metrics

    m, n, seed = check_int(m, "m", minimum=1), check_int(n, "n", minimum=2), check_int(seed, "seed", minimum=0)
    n_lifted = check_int(n_lifted, "n_lifted", minimum=4)
    rtol_l2 = check_fraction(rtol_l2, "rtol_l2")
    if problem is None:
        problem = tightness_problem(family, m, n, n_lifted=n_lifted)
    label, lam_i, h = _family(family)(n, m)
    row = dict(family=family, m=m, n=n, seed=seed, h=h, lam=problem.lam, lam_intrinsic=lam_i, target=label.name,
               target_lipschitz=label.lipschitz, lipschitz_ref=problem.lipschitz_ref, J_ref=problem.J_ref,
               ref_err_l2=problem.ref_err_l2, n_lifted=n_lifted, rtol_l2=rtol_l2, lipconv_version=__version__,
               error="")
    try:
        manifold = problem.manifold()
        rng = np.random.default_rng([seed, n])
        X = manifold.sample(n, rng)
        y = problem.sample_labels(manifold, X, rng)
        t0 = time.perf_counter()
        result = convex_runner(X, y, lam=problem.lam, loss="squared")
        t1 = time.perf_counter()
        met = error_metrics(result, problem, X=X, y=y, seed=seed, rtol_l2=rtol_l2, max_sup_evals=1000)
        e = problem.ref_err_l2
        row.update({k: met[k] for k in ("l2sq", "l2sq_se", "l2sq_rel_se", "l2sq_worst", "l2sq_midpoint",
                                        "l2sq_samples", "n_error")})
        row.update(lipschitz=float(result.lipschitz), max_violation=getattr(result, "max_violation", np.nan),
                   relative_gap=getattr(result, "relative_gap", np.nan), solve_time=t1 - t0,
                   metrics_time=time.perf_counter() - t1,
                   ref_effect=e * (2.0 * math.sqrt(met["l2sq"]) + e) / met["l2sq"] if met["l2sq"] > 0 else np.inf,
                   status="ok")
    except Exception as exc:  # a failed run is data: recorded, not fatal to the probe
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}".replace("\n", " | ")[:500])
    return {c: row.get(c, np.nan) for c in TIGHTNESS_COLUMNS}


# Seconds of one run at n = 4,096 per m (solve and metrics, 2 workers on the 2 shared cores), and the exponent
# of its growth in n: used only to start the most expensive runs first.
RUN_COST_4096 = {1: (1.5, 1.0), 2: (20.0, 1.6), 3: (6.0, 1.2)}


def _run_cost(m: int, n: int) -> float:
    c, a = RUN_COST_4096.get(m, max(RUN_COST_4096.values()))
    return c * (n / 4096.0) ** a


def _key(family, m, n, seed) -> tuple:
    return (str(family), int(m), int(n), int(seed))


def read_tightness(path):
    """The probe's CSV as a pandas.DataFrame (one row per run), for tables and figures without recomputing;
    a ``ValueError`` naming ``path`` unless it is a file with the probe's header (:data:`TIGHTNESS_COLUMNS`)."""
    return read_frame(path, TIGHTNESS_COLUMNS, "tightness")


def tightness_sweep(output, *, families=tuple(FAMILIES), ms=(1, 2, 3), ns=(64, 128, 256, 512, 1024, 2048, 4096),
                    seeds=(0, 1, 2), n_lifted: int = 16384, rtol_l2: float = 0.05, n_jobs: int = 2,
                    progress: bool = True):
    r"""Run :func:`tightness_run` for every (family, m, n, seed) and append each finished run to the CSV
    ``output`` at once; return the rows of these runs as a pandas.DataFrame.

    The references (one certified lifted reference per (family, m, n), :func:`tightness_problem`) are
    computed first, in the joblib workers (loky, ``n_jobs``), one task per reference; then the runs,
    one task per run, the most expensive first. Rerunning with the same ``output`` resumes: runs whose
    (family, m, n, seed) is in the CSV are not redone (nor their references), a record cut short by an
    interruption is dropped and redone, and a failed run stays failed. The settings that change a row
    without being in its key (:data:`TIGHTNESS_SETTINGS`: ``n_lifted``, ``rtol_l2``, the lipconv
    version) are recorded in every row; a CSV computed with other values raises ``ValueError``
    naming the setting, rather than mixing two experiments.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    from .. import __version__

    output = check_output_file(output, "output")
    families = check_distinct((_family(f).name for f in families), "families")
    ms = check_distinct((check_int(m, "m", minimum=1) for m in ms), "ms")
    ns = check_distinct((check_int(n, "n", minimum=2) for n in ns), "ns")
    seeds = check_distinct((check_int(s, "seed", minimum=0) for s in seeds), "seeds")
    n_lifted = check_int(n_lifted, "n_lifted", minimum=4)
    n_jobs = check_int(n_jobs, "n_jobs", minimum=1)
    rtol_l2 = check_fraction(rtol_l2, "rtol_l2")
    if not (families and ms and ns and seeds):
        raise ValueError("families, ms, ns and seeds must each hold at least one value")
    rows = read_complete_rows(output, TIGHTNESS_COLUMNS, "tightness")
    check_settings(rows, dict(n_lifted=n_lifted, rtol_l2=rtol_l2, lipconv_version=__version__), output)
    done = {_key(r["family"], r["m"], r["n"], r["seed"]) for r in rows}
    runs = [(f, m, n, s) for f in families for m in ms for n in ns for s in seeds]
    pending = [r for r in runs if r not in done]
    pending.sort(key=lambda r: -_run_cost(r[1], r[2]))
    keys = list(dict.fromkeys(r[:3] for r in pending))
    with row_appender(output, TIGHTNESS_COLUMNS) as write:
        if pending:
            # batch_size=1: an auto-batching backend holds a finished run back until its batch is done,
            # and an interruption would lose it.
            parallel = Parallel(n_jobs=n_jobs, batch_size=1, return_as="generator")
            bar = tqdm(total=len(keys), desc="references", disable=not progress)
            problems = {}
            for key, problem in zip(keys, parallel(delayed(tightness_problem)(*key, n_lifted=n_lifted) for key in keys)):
                problems[key] = problem
                bar.update(1)
            bar.close()
            bar = tqdm(total=len(pending), desc="tightness runs", disable=not progress, smoothing=0.05)
            tasks = (delayed(tightness_run)(f, m, n, s, problem=problems[(f, m, n)], n_lifted=n_lifted,
                                            rtol_l2=rtol_l2) for f, m, n, s in pending)
            for row in Parallel(n_jobs=n_jobs, batch_size=1, return_as="generator_unordered")(tasks):
                write(row)
                bar.update(1)
            bar.close()
    df = read_tightness(output)
    order = {r: i for i, r in enumerate(runs)}
    position = np.array([order.get(_key(*k), -1) for k in zip(df["family"], df["m"], df["n"], df["seed"])], dtype=int)
    mine = position >= 0
    return df[mine].iloc[np.argsort(position[mine], kind="stable")].reset_index(drop=True)


def _ref_slopes(g) -> tuple:
    """The smaller and larger point slope of the bounds (sqrt(l2sq) -/+ e)^2 between which the true
    error lies when the reference is off by e in L2: how far the reference's error can move the fitted
    slope (nan where the lower bound reaches 0: the reference cannot resolve that error)."""
    from ._fit import fit_slope

    root = np.sqrt(g["l2sq"].to_numpy(float))
    e = g["ref_err_l2"].to_numpy(float)
    out = []
    for bound in (np.maximum(root - e, 0.0) ** 2, (root + e) ** 2):
        try:
            out.append(fit_slope(g["n"], bound, n_boot=1).slope)
        except ValueError:  # the lower bound is 0 at some n: the reference cannot resolve that error
            out.append(np.nan)
    return (min(out), max(out)) if np.all(np.isfinite(out)) else (np.nan, np.nan)


def tightness_table(df, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    r"""Per (family, m): the log-log slope of the mean ``l2sq`` in n with its bootstrap interval over
    seeds (:func:`lipconv.rates.fit_slope`), Theorem 4.8's exponent -1/(m+2), ``ratio`` = slope /
    (-1/(m+2)) (1 would be tight; larger is faster than the bound), ``distance`` = slope + 1/(m+2),
    the worst ``ref_effect`` and ``slowest``: the fixed-lam family with the largest slope in each m
    (families with lam_n -> 0 are outside a fixed-lam bound and never count as the slowest).

    Returns a pandas.DataFrame with :data:`TABLE_COLUMNS`, in the order of :data:`FAMILIES` and m.
    """
    import pandas as pd

    from ._fit import fit_slope

    check_frame(df, "df", columns=("family", "m", "n", "l2sq", "status", "ref_effect", "ref_err_l2"))
    # checked here, not only in fit_slope: its ValueError marks a fit that is impossible (nan slope)
    n_boot, level = check_int(n_boot, "n_boot", minimum=1), check_fraction(level, "level")
    seed = check_int(seed, "seed", minimum=0)
    ok = df[df["status"] == "ok"]
    order = {name: i for i, name in enumerate(FAMILIES)}
    out = []
    for (family, m), g in sorted(ok.groupby(["family", "m"]), key=lambda kv: (order.get(kv[0][0], 99), kv[0][1])):
        m = int(m)
        theory = -1.0 / (m + 2)
        row = dict(family=family, m=m, lam_fixed=_family(family).lam_fixed, theory=theory,
                   n_min=int(g["n"].min()), n_max=int(g["n"].max()), seeds=int(g.groupby("n").size().min()),
                   ref_effect_max=float(g["ref_effect"].max()))
        row["ref_slope_low"], row["ref_slope_high"] = _ref_slopes(g)
        try:
            fit = fit_slope(g["n"], g["l2sq"], n_boot=n_boot, level=level, seed=seed)
        except ValueError:
            row.update(slope=np.nan, ci_low=np.nan, ci_high=np.nan, local_slopes="")
        else:
            row.update(slope=fit.slope, ci_low=fit.ci_low, ci_high=fit.ci_high,
                       local_slopes=" ".join(f"{s:+.2f}" for s in fit.local_slopes))
        row.update(ratio=row["slope"] / theory, distance=row["slope"] - theory)
        out.append(row)
    table = pd.DataFrame(out, columns=[c for c in TABLE_COLUMNS if c != "slowest"])
    table["slowest"] = False
    for _, g in table[table["lam_fixed"] & np.isfinite(table["slope"])].groupby("m"):
        table.loc[g["slope"].idxmax(), "slowest"] = True
    return table[list(TABLE_COLUMNS)]


def tightness_markdown(table) -> str:
    """The table as markdown: one line per (family, m), the slowest fixed-lam family of each m starred."""
    check_frame(table, "table", columns=TABLE_COLUMNS, min_rows=0)
    lines = ["| family | m | slope | 95 % CI | -1/(m+2) | slope / (-1/(m+2)) | slope + 1/(m+2) | local slopes "
             "| n | seeds | max ref effect | slope within ref error |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        name = f"**{r.family}** (slowest)" if r.slowest else r.family + ("" if r.lam_fixed else " (lam_n -> 0)")
        lines.append(f"| {name} | {r.m} | {r.slope:+.3f} | [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | {r.theory:+.3f} "
                     f"| {r.ratio:.2f} | {r.distance:+.3f} | {r.local_slopes} | {r.n_min}-{r.n_max} | {r.seeds} "
                     f"| {r.ref_effect_max:.1e} | [{r.ref_slope_low:+.3f}, {r.ref_slope_high:+.3f}] |")
    return "\n".join(lines)


def tightness_summary(table) -> str:
    """What the probe finds, in words: the slowest fixed-lam family per m against -1/(m+2), and
    whether any family comes within a factor 1.5 of the bound's exponent (its interval reaching it)."""
    check_frame(table, "table", columns=TABLE_COLUMNS, min_rows=0)
    lines = []
    reached = []
    for m, g in table.groupby("m"):
        slow = g[g["slowest"]]
        if slow.empty:
            lines.append(f"- m = {m}: no fit.")
            continue
        r = slow.iloc[0]
        lines.append(f"- m = {m}: the slowest fixed-lam family is '{r.family}', slope {r.slope:+.3f} "
                     f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}] against {r.theory:+.3f}: {r.ratio:.2f} times the "
                     f"theory's exponent.")
        reached += [f"{x.family} (m = {m})" for x in g.itertuples() if x.ci_high >= x.theory or x.ratio <= 1.5]
    if reached:
        head = ("Some families come within a factor 1.5 of Theorem 4.8's exponent, or their interval reaches it: "
                + ", ".join(reached) + ".")
    else:
        worst = table[table["slowest"]]["ratio"].min()
        head = ("No family approaches the bound: every measured L2^2 slope is steeper than -1/(m+2), the slowest "
                f"fixed-lam family by a factor {worst:.2f} at best, and no 95 % interval reaches -1/(m+2).")
    for r in table[~table["lam_fixed"]].itertuples():
        lines.append(f"- m = {r.m}, '{r.family}' (lam_n -> 0, outside a fixed-lam bound): slope {r.slope:+.3f} "
                     f"[{r.ci_low:+.3f}, {r.ci_high:+.3f}], {r.ratio:.2f} times the theory's exponent.")
    effect = float(table["ref_effect_max"].max())
    shift = np.nanmax(np.abs(table[["ref_slope_low", "ref_slope_high"]].to_numpy(float)
                             - table[["slope"]].to_numpy(float)))
    tail = (f"The reference's certified L2 error changes any measured l2sq by at most {100 * effect:.2g} % "
            "(ref_effect = e (2 sqrt(l2sq) + e) / l2sq, worst row), and any fitted slope by at most "
            f"{shift:.3f} (slopes of the bounds (sqrt(l2sq) -/+ e)^2).")
    return "\n".join([head, *lines, tail])


def plot_tightness(table, path) -> None:
    """Measured exponent (with its 95 % interval) against m for each family, beside -1/(m+2); written
    to the file ``path`` (its folder must exist; the format from its extension, as matplotlib's savefig)."""
    import matplotlib

    check_frame(table, "table", columns=TABLE_COLUMNS)
    path = check_output_file(path, "path", parent_exists=True)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.0, 4.2))
    ms = np.array(sorted(table["m"].unique()))
    grid = np.linspace(ms.min() - 0.2, ms.max() + 0.2, 50)
    ax.plot(grid, -1.0 / (grid + 2.0), "k-", lw=2, label="Theorem 4.8: -1/(m+2)")
    families = list(dict.fromkeys(table["family"]))
    for i, fam in enumerate(families):
        g = table[table["family"] == fam].sort_values("m")
        dx = 0.06 * (i - (len(families) - 1) / 2)
        err = np.vstack([g["slope"] - g["ci_low"], g["ci_high"] - g["slope"]])
        ax.errorbar(g["m"] + dx, g["slope"], yerr=err, fmt="o--" if fam == "fixed" else "o-", capsize=3,
                    label=fam + ("" if g["lam_fixed"].iloc[0] else " (lam_n -> 0)"))
    ax.set_xticks(ms)
    ax.set_xlabel("intrinsic dimension m")
    ax.set_ylabel("slope of worst-envelope L2^2 error in n")
    ax.set_title("Tightness probe, FlatCube(m, m), squared loss")
    ax.axhline(0.0, color="0.8", lw=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

