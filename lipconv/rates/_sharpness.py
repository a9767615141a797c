r"""Where is [FCAO] Theorem 4.8 sharp? Noisy targets, two estimators, worst-case targets and the W1 floor.

Three exponents of the squared L2(rho) error in n are set beside every measured slope, on the flat
cube FlatCube(m, m), m = 1 ... 5 (uniform rho, squared loss):

* :math:`-1/(m+2)`: Theorem 4.8's bound for the penalized estimator (fixed lambda, deterministic
  Lipschitz labels), an upper bound for each target;
* :math:`-2/(m+2)`: the minimax rate over a Lipschitz class with noisy labels (Stone 1982): no
  estimator does better on the worst target, and bump ensembles at the scale
  :math:`n^{-1/(m+2)}` attain it (Tsybakov 2009, ch. 2);
* :math:`-1/m`: for m > 2, the entropy bound of the least-squares estimator over the Lipschitz
  class (Birge and Massart 1993; whether least squares attains the minimax rate there is open),
  and the exponent of the W1 quantization floor (:func:`lipconv.discrepancy.quantization_floor`).

Estimators (:data:`ESTIMATORS`), both exact convex programs
(:func:`lipconv.solvers.lipschitz_regression`):

* ``penalized``: :math:`\min_u \frac1n \sum_i (u_i - y_i)^2 + \lambda\,\mathrm{Lip}(u)` at a fixed
  ambient lambda ([FCAO] eq. (2.7)); its errors are measured against the continuum minimizer
  :math:`u^\lambda` of the mean label (:func:`lipconv.rates.make_problem`, closed form);
* ``constrained``: least squares over the class :math:`\mathrm{Lip}(u) \le L` (``lipschitz=L``),
  L the target's own Lipschitz bound; its errors are measured against the regression function
  :math:`f^* = \mathbb{E}[y \mid x]` itself, known exactly.

Families of targets (:data:`FAMILIES`), labels :math:`y = f^*(x) + \sigma \varepsilon`:

* ``ramp`` (fixed): :math:`f^* = \mathrm{clip}(2t, -1, 1)` of the first intrinsic coordinate
  (the rate study's ramp), both estimators;
* ``bumps`` (chosen per n before sampling): cones :math:`s_k (h_n/2 - \|p - c_k\|)_+` on the
  lattice of cells of side :math:`h_n = 2 n^{-1/(m+2)}` of the model cube :math:`[-1, 1]^m` (so
  :math:`n^{m/(m+2)}` cells), random signs :math:`s_k = \pm 1` from the stream ``[seed, n, 7]``,
  model Lipschitz constant 1: the classical lower-bound construction, at which each cell holds
  about :math:`n^{2/(m+2)}` samples and its bump's height and the noise of its cell mean both
  scale like :math:`n^{-1/(m+2)}`. Constrained estimator only: the penalized estimator's
  continuum minimizer for an m-dimensional bump ensemble has no certified reference here.

The series ``w1`` records, for each sample, the bracket of :math:`W_1(\rho_n, \rho)`
(:func:`lipconv.discrepancy.wasserstein1`) beside its deterministic floor
:math:`\frac{m}{m+1}(nK)^{-1/m}`, which every n-point measure obeys.

Every run of a (m, n, seed) draws the same samples (``numpy.random.default_rng([seed, n])``, the
rate sweep's stream) and the same standard normal noise after them, so series and sigmas differ
only by what they are meant to differ by.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._validation import (
    check_distinct, check_fraction, check_frame, check_int, check_output_file, check_positive,
)
from ._resumable import check_settings, read_complete_rows, read_frame, row_appender

__all__ = [
    "ESTIMATORS", "FAMILIES", "SERIES", "SIGMAS", "SHARPNESS_COLUMNS", "SHARPNESS_TABLE_COLUMNS", "SharpnessTarget",
    "sharpness_target", "bump_energy", "sharpness_run", "sharpness_sweep", "read_sharpness", "sharpness_table",
    "sharpness_markdown", "sharpness_summary", "plot_sharpness",
]

ESTIMATORS = ("penalized", "constrained")
FAMILIES = ("ramp", "bumps")
# (estimator, family) of each series, by its name on the command line.
SERIES = {
    "penalized/ramp": ("penalized", "ramp"),
    "constrained/ramp": ("constrained", "ramp"),
    "constrained/bumps": ("constrained", "bumps"),
    "w1": ("w1", "samples"),
}
LAM = 0.02  # the penalized estimator's ambient lambda (the rate study's default)
# Noise levels: large sigma reaches the asymptotic regime of least squares at a fixed L sooner (it needs
# L times the sample spacing well below sigma; before, the solve nearly interpolates the noise).
SIGMAS = (0.1, 0.3, 1.0)
RAMP_DELTA = 0.5  # f* = clip(t / delta, -1, 1): Lipschitz constant 2 in t
BUMP_CELL = 2.0  # h_n = BUMP_CELL n^(-1/(m+2)) in model units of [-1, 1]^m
_BUMP_STREAM = 7

SHARPNESS_COLUMNS = (
    "estimator", "family", "sigma", "m", "n", "seed", "status", "target", "h", "lam", "lipschitz_bound",
    "lipschitz", "lipschitz_ref", "l2sq", "l2sq_se", "l2sq_rel_se", "l2sq_worst", "l2sq_midpoint", "l2sq_samples",
    "n_error", "w1", "w1_lo", "w1_hi", "w1_floor", "solver_status", "max_violation", "relative_gap",
    "solve_time", "metrics_time", "cpu_time", "rtol_l2", "lipconv_version", "error",
)
# Settings that change a row's numbers without being in its key: a CSV holds one value of each.
SHARPNESS_SETTINGS = ("lam", "rtol_l2", "lipconv_version")
SHARPNESS_TABLE_COLUMNS = (
    "estimator", "family", "sigma", "m", "quantity", "slope", "ci_low", "ci_high", "width", "local_slopes",
    "last_slope", "n_min", "n_max", "seeds", "theorem", "minimax", "entropy", "sharp_w1", "hypotheses",
    "floor_ok", "floor_rows", "floor_ratio_min", "floor_ratio_max", "lipschitz_ratio_last", "energy_ratio_last",
)
QUANTITY_NAMES = {"l2sq": "L2(rho)^2", "l2sq_samples": "at the samples", "w1": "W1(rho_n, rho)"}


@dataclass(frozen=True)
class SharpnessTarget:
    r"""The regression function :math:`f^* = \mathbb{E}[y \mid x]` of one run.

    Attributes
    ----------
    name : str
    lipschitz : float
        Ambient Lipschitz bound of ``fn`` (the constrained estimator's L).
    scale : float
        The bump cell side :math:`h_n` in model units (nan for the ramp).
    fn : callable
        Ambient points (N, d) of the cube -> values (N,).
    """

    name: str
    lipschitz: float
    scale: float
    fn: object


def _check_series(estimator, family) -> None:
    if (estimator, family) not in SERIES.values():
        raise ValueError(f"(estimator, family) must be one of {tuple(SERIES.values())}, got {(estimator, family)!r}")


def sharpness_target(family: str, manifold, n: int, seed: int) -> SharpnessTarget:
    """The target of ``family`` for a run with n samples and ``seed`` on the flat cube ``manifold``
    (module docstring): the fixed ramp, or the bump ensemble of scale h_n with signs from the
    stream ``[seed, n, 7]``, drawn before and apart from the samples."""
    from ..manifolds import FlatCube, ramp_label

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if not isinstance(manifold, FlatCube):
        raise ValueError(f"manifold must be a FlatCube, got {type(manifold).__name__} {manifold!r:.60}")
    n, seed = check_int(n, "n", minimum=2), check_int(seed, "seed", minimum=0)
    s, m = float(manifold.scale), manifold.m
    if family == "ramp":
        label = ramp_label(RAMP_DELTA)
        return SharpnessTarget(label.name, label.lipschitz / s, float("nan"),
                               lambda x: label(manifold.coordinate(x)))
    h = BUMP_CELL * float(n) ** (-1.0 / (m + 2))
    cells = int(math.ceil(2.0 / h))
    signs = np.random.default_rng([int(seed), n, _BUMP_STREAM]).choice([-1.0, 1.0], size=(cells,) * m)

    def bumps(x):
        p = manifold.model(x)
        j = np.clip(np.floor((p + 1.0) / h).astype(np.intp), 0, cells - 1)
        r = np.linalg.norm(p - (-1.0 + h * (j + 0.5)), axis=1)
        return signs[tuple(j.T)] * np.maximum(0.5 * h - r, 0.0)

    return SharpnessTarget(f"bumps(h={h:.4g}, {cells}^{m} cells)", 1.0 / s, h, bumps)


@lru_cache(maxsize=256)
def bump_energy(m: int, n: int, *, points: int = 200_000) -> float:
    r""":math:`\int (f^*_n)^2\, d\rho` of the bump ensemble at (m, n): the L2(rho)^2 error of the zero
    function, the same for every sign pattern (:math:`s_k^2 = 1`). A Monte Carlo estimate on ``points``
    uniform points of the stream ``[m, n, 8]`` (relative standard error about 0.5 %)."""
    manifold = _cube(m)
    n, points = check_int(n, "n", minimum=2), check_int(points, "points", minimum=1)
    x = manifold.sample(points, np.random.default_rng([manifold.m, n, 8]))
    return float(np.mean(sharpness_target("bumps", manifold, n, 0).fn(x) ** 2))


def _cube(m):
    from ._problems import make_manifold

    return make_manifold("cube", check_int(m, "m", minimum=1))


def sharpness_run(estimator: str, family: str, sigma: float, m: int, n: int, seed: int, *, lam: float = LAM,
                  rtol_l2: float = 0.05) -> dict:
    r"""One run: n samples of rho on FlatCube(m, m) from ``numpy.random.default_rng([seed, n])``, labels
    :math:`f^*(x_i) + \sigma \varepsilon_i` (the normals drawn after the samples), the solve, and its errors.

    ``l2sq`` is the worst extension's :math:`\|\bar u_n - v\|^2_{L^2(\rho)}` (midpoint, McShane,
    Whitney with the solve's L; :func:`lipconv.rates._metrics.extension_l2`) and ``l2sq_samples``
    :math:`\frac1n \sum_i (u_i - v(x_i))^2`, v being :math:`u^\lambda` (penalized) or :math:`f^*`
    (constrained). Estimator ``"w1"`` (family ``"samples"``) brackets :math:`W_1(\rho_n, \rho)` and
    records the quantization floor. A failure is a row with status "failed".
    """
    from .. import __version__
    from ..discrepancy import quantization_floor, wasserstein1
    from ..solvers import lipschitz_regression
    from ._metrics import extension_l2
    from ._problems import make_manifold, make_problem

    _check_series(estimator, family)
    m, n, seed = check_int(m, "m", minimum=1), check_int(n, "n", minimum=2), check_int(seed, "seed", minimum=0)
    sigma = check_positive(sigma, "sigma", allow_zero=True)
    lam, rtol_l2 = check_positive(lam, "lam"), check_fraction(rtol_l2, "rtol_l2")
    row = dict(estimator=estimator, family=family, sigma=sigma, m=m, n=n, seed=seed, lam=lam, rtol_l2=rtol_l2,
               lipconv_version=__version__, error="")
    try:
        cpu0 = time.process_time()
        manifold = make_manifold("cube", m)
        rng = np.random.default_rng([seed, n])
        X = manifold.sample(n, rng)
        t0 = time.perf_counter()
        if estimator == "w1":
            w1 = wasserstein1(X, manifold, seed=seed)
            row.update(target="", w1=w1.value, w1_lo=w1.lo, w1_hi=w1.hi, w1_floor=quantization_floor(n, manifold),
                       metrics_time=time.perf_counter() - t0, cpu_time=time.process_time() - cpu0, status="ok")
            return {c: row.get(c, np.nan) for c in SHARPNESS_COLUMNS}
        noise = rng.standard_normal(n)
        target = sharpness_target(family, manifold, n, seed)
        y = target.fn(X) + sigma * noise
        if estimator == "penalized":
            problem = make_problem("cube", m, lam=lam, label=f"ramp:{RAMP_DELTA}")
            result = lipschitz_regression(X, y, lam=lam)
            reference, lip_ref = problem.u_ref, problem.lipschitz_ref
        else:
            result = lipschitz_regression(X, y, lipschitz=target.lipschitz)
            reference, lip_ref = target.fn, target.lipschitz
        t1 = time.perf_counter()
        l2 = extension_l2(result.X, result.values[:, 0], result.lipschitz, manifold, reference, p_x=result.p_x,
                          seed=seed, rtol_l2=rtol_l2)[-1]
        row.update({k: l2[k] for k in ("l2sq", "l2sq_se", "l2sq_rel_se", "l2sq_worst", "l2sq_midpoint", "n_error")})
        row.update(target=target.name, h=target.scale,
                   lipschitz_bound=target.lipschitz if estimator == "constrained" else np.nan,
                   lipschitz=float(result.lipschitz), lipschitz_ref=lip_ref,
                   l2sq_samples=float(np.mean((result.values[:, 0] - reference(X)) ** 2)),
                   solver_status=result.status, max_violation=result.max_violation,
                   relative_gap=result.relative_gap, solve_time=t1 - t0, metrics_time=time.perf_counter() - t1,
                   cpu_time=time.process_time() - cpu0, status="ok")
    except Exception as exc:  # a failed run is data: recorded, not fatal to the study
        row.update(status="failed", error=f"{type(exc).__name__}: {exc}".replace("\n", " | ")[:500])
    return {c: row.get(c, np.nan) for c in SHARPNESS_COLUMNS}


def _key(estimator, family, sigma, m, n, seed) -> tuple:
    return (str(estimator), str(family), float(sigma), int(m), int(n), int(seed))


# Relative cost of one run (order only: the cheapest n first, so that an interrupted long run leaves
# complete lower grids; within one n the dearest first).
_COST = {"penalized": 4.0, "constrained": 1.0, "w1": 0.5}


def _plan(series, sigmas, grid, seeds) -> list[tuple]:
    runs = []
    for name in series:
        estimator, family = SERIES[name]
        for sigma in ((0.0,) if estimator == "w1" else sigmas):
            for m, ns in grid.items():
                runs += [_key(estimator, family, sigma, m, n, s) for n in ns for s in seeds]
    return runs


def read_sharpness(path):
    """The study's CSV as a pandas.DataFrame (one row per run), for tables and figures without recomputing;
    a ``ValueError`` naming ``path`` unless it is a file with the study's header (:data:`SHARPNESS_COLUMNS`)."""
    return read_frame(path, SHARPNESS_COLUMNS, "sharpness")


def sharpness_sweep(output, *, series=tuple(SERIES), sigmas=SIGMAS, grid=None, seeds=(0, 1, 2), lam: float = LAM,
                    rtol_l2: float = 0.05, n_jobs: int = 2, progress: bool = True, stop_after: float | None = None):
    r"""Run :func:`sharpness_run` for every series, sigma, (m, n) of ``grid`` and seed, appending each
    finished run to the CSV ``output`` at once; return the rows of these runs as a pandas.DataFrame.

    ``grid`` maps m to its sample sizes (default m = 1 ... 3, n = 64 ... 512). The runs go to joblib
    workers (loky, ``n_jobs``), the smallest n first (within one n the dearest first), one task per
    run, so that an interrupted sweep leaves complete lower grids. Rerunning with the same
    ``output`` resumes: runs whose (estimator, family, sigma, m, n, seed) is in the CSV are not
    redone, a record cut short by an interruption is redone, a failed run stays failed. The
    settings that change a row without being in its key (lam, ``rtol_l2``, the lipconv version) are
    in every row; a CSV computed with other values raises ``ValueError`` naming the setting.
    ``stop_after`` (seconds): once exceeded, the sweep stops at the next finished run, cancels the
    runs not yet finished (they are redone on resumption) and returns the rows done so far.
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    from .. import __version__

    output = check_output_file(output, "output")
    series = _sequence(series, "series")
    bad = [s for s in series if s not in SERIES]
    if bad or not series:
        raise ValueError(f"series must be among {tuple(SERIES)} (at least one), got {list(series)}")
    series = check_distinct(series, "series")
    sigmas = check_distinct((check_positive(s, "sigma", allow_zero=True) for s in _sequence(sigmas, "sigmas")), "sigmas")
    grid = {1: (64, 128, 256, 512), 2: (64, 128, 256, 512), 3: (64, 128, 256, 512)} if grid is None else grid
    if not isinstance(grid, dict):
        raise ValueError(f"grid must be a dict of m -> sample sizes, got {type(grid).__name__} {grid!r:.60}")
    grid = {check_int(m, "m", minimum=1): check_distinct((check_int(n, "n", minimum=2) for n in _sequence(ns, "grid")),
                                                         f"grid[{m}]")
            for m, ns in grid.items()}
    seeds = check_distinct((check_int(s, "seed", minimum=0) for s in _sequence(seeds, "seeds")), "seeds")
    n_jobs = check_int(n_jobs, "n_jobs", minimum=1)
    lam, rtol_l2 = check_positive(lam, "lam"), check_fraction(rtol_l2, "rtol_l2")
    if stop_after is not None:
        stop_after = check_positive(stop_after, "stop_after")
    start = time.perf_counter()
    if not (sigmas and grid and all(grid.values()) and seeds):
        raise ValueError("sigmas, grid (each m with at least one n) and seeds must each hold at least one value")
    rows = read_complete_rows(output, SHARPNESS_COLUMNS, "sharpness")
    check_settings(rows, dict(lam=lam, rtol_l2=rtol_l2, lipconv_version=__version__), output)
    done = {_key(r["estimator"], r["family"], r["sigma"], r["m"], r["n"], r["seed"]) for r in rows}
    runs = _plan(series, sigmas, grid, seeds)
    pending = sorted((r for r in runs if r not in done), key=lambda r: (r[4], -_COST[r[0]] * r[3]))
    with row_appender(output, SHARPNESS_COLUMNS) as write:
        if pending:
            bar = tqdm(total=len(pending), desc="sharpness runs", disable=not progress, smoothing=0.05)
            # batch_size=1: an auto-batching backend holds a finished run back until its batch is done.
            tasks = (delayed(sharpness_run)(*r, lam=lam, rtol_l2=rtol_l2) for r in pending)
            results = Parallel(n_jobs=n_jobs, batch_size=1, return_as="generator_unordered")(tasks)
            for row in results:
                write(row)
                bar.update(1)
                if stop_after is not None and time.perf_counter() - start > stop_after:
                    results.close()  # cancels the runs not yet finished
                    break
            bar.close()
    df = read_sharpness(output)
    order = {r: i for i, r in enumerate(runs)}
    keys = zip(df["estimator"], df["family"], df["sigma"], df["m"], df["n"], df["seed"])
    position = np.array([order.get(_key(*k), -1) for k in keys], dtype=int)
    mine = position >= 0
    return df[mine].iloc[np.argsort(position[mine], kind="stable")].reset_index(drop=True)


def _sequence(values, name: str) -> tuple:
    """``values`` as a tuple, refusing a str or a scalar where a sequence of values is meant."""
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise ValueError(f"{name} must be a sequence of values, got {type(values).__name__} {values!r:.60}")
    return tuple(values)


def _hypotheses(estimator: str, sigma: float) -> str:
    """Which result of [FCAO] names a row's verdict: Theorem 4.8 only where its hypotheses hold."""
    if estimator == "w1":
        return "Lemma 4.10 (stated for smooth M)"
    if estimator == "constrained":
        return "measured for comparison (least squares at a fixed L, not the theorem's estimator)"
    if sigma == 0.0:
        return "Theorem 4.8 (stated for smooth M)"
    return "measured for comparison (noisy labels: outside Theorem 4.8)"


def sharpness_table(df, *, n_boot: int = 2000, level: float = 0.95, seed: int = 0):
    r"""Per (estimator, family, sigma, m) and quantity (``l2sq`` and ``l2sq_samples`` for the
    estimators, ``w1`` for the samples): the log-log slope of the mean over seeds in n with its
    bootstrap interval (:func:`lipconv.rates.fit_slope`), its width, the local slopes and the last
    one, and the three exponents -1/(m+2), -2/(m+2), -1/m (and W1's sharp exponent,
    :func:`lipconv.discrepancy.sharp_exponent`). For ``w1``: how many samples kept the floor below
    the upper end of their bracket, and the range of lower end / floor. ``lipschitz_ratio_last``:
    mean L_n / Lip(reference) at the largest n (penalized: has L_n settled at L*?);
    ``energy_ratio_last`` (bumps): the mean error at the largest n over :func:`bump_energy`, the
    error of the zero function (above 1 the solve fits the noise more than it resolves the bumps).

    Returns a pandas.DataFrame with :data:`SHARPNESS_TABLE_COLUMNS`; a fit that is impossible (an
    error that is 0 at some n, as at the samples of an interpolating solve, or a single n) has nan
    slopes.
    """
    import pandas as pd

    from ..discrepancy import sharp_exponent
    from ._fit import fit_slope

    check_frame(df, "df", columns=("estimator", "family", "sigma", "m", "n", "status"))
    ok = df[df["status"] == "ok"]
    # the columns each kind of row is read through (a table of W1 rows only has no l2sq, and conversely)
    needed = (("w1", "w1_lo", "w1_hi", "w1_floor") if (ok["estimator"] == "w1").any() else ()) + (
        ("l2sq", "l2sq_samples", "lipschitz", "lipschitz_ref") if (ok["estimator"] != "w1").any() else ())
    check_frame(df, "df", columns=needed)
    # checked here, not only in fit_slope: its ValueError marks a fit that is impossible (nan slope)
    n_boot, level = check_int(n_boot, "n_boot", minimum=1), check_fraction(level, "level")
    seed = check_int(seed, "seed", minimum=0)
    order = {v: i for i, v in enumerate(SERIES.values())}
    out = []
    groups = sorted(ok.groupby(["estimator", "family", "sigma", "m"]),
                    key=lambda kv: (order.get(kv[0][:2], 99), kv[0][2], kv[0][3]))
    for (estimator, family, sigma, m), g in groups:
        m = int(m)
        quantities = ("w1",) if estimator == "w1" else ("l2sq", "l2sq_samples")
        for q in quantities:
            row = dict(estimator=estimator, family=family, sigma=float(sigma), m=m, quantity=q,
                       n_min=int(g["n"].min()), n_max=int(g["n"].max()), seeds=int(g.groupby("n").size().min()),
                       theorem=-1.0 / (m + 2), minimax=-2.0 / (m + 2), entropy=-1.0 / m,
                       sharp_w1=sharp_exponent(m) if q == "w1" else np.nan,
                       hypotheses=_hypotheses(estimator, float(sigma)))
            try:
                fit = fit_slope(g["n"], g[q], n_boot=n_boot, level=level, seed=seed)
            except ValueError:
                row.update(slope=np.nan, ci_low=np.nan, ci_high=np.nan, local_slopes="", last_slope=np.nan)
            else:
                row.update(slope=fit.slope, ci_low=fit.ci_low, ci_high=fit.ci_high,
                           local_slopes=" ".join(f"{s:+.2f}" for s in fit.local_slopes),
                           last_slope=float(fit.local_slopes[-1]))
            row["width"] = row["ci_high"] - row["ci_low"]
            if q == "w1":
                floor = g["w1_floor"].to_numpy(float)
                row.update(floor_ok=int(np.sum(floor <= g["w1_hi"].to_numpy(float))), floor_rows=int(len(g)),
                           floor_ratio_min=float(np.min(g["w1_lo"] / floor)),
                           floor_ratio_max=float(np.max(g["w1_lo"] / floor)))
            else:
                last = g[g["n"] == g["n"].max()]
                row["lipschitz_ratio_last"] = float(np.mean(last["lipschitz"] / last["lipschitz_ref"]))
                if family == "bumps":
                    row["energy_ratio_last"] = float(last[q].mean()) / bump_energy(m, row["n_max"])
            out.append(row)
    table = pd.DataFrame(out)
    for c in SHARPNESS_TABLE_COLUMNS:
        if c not in table.columns:
            table[c] = np.nan
    return table[list(SHARPNESS_TABLE_COLUMNS)]


def _series_name(r) -> str:
    if r.estimator == "w1":
        return "W1 of the samples"
    est = "penalized (fixed lam)" if r.estimator == "penalized" else "constrained LS (fixed L)"
    return f"{est}, {r.family}, sigma {r.sigma:g}"


def sharpness_markdown(table) -> str:
    """The table as markdown: one line per fit, with the three exponents beside each slope."""
    check_frame(table, "table", columns=SHARPNESS_TABLE_COLUMNS, min_rows=0)
    lines = ["| series | m | quantity | slope | 95 % CI | width | -1/(m+2) | -2/(m+2) | -1/m | local slopes | n | seeds "
             "| at the largest n: L_n / L* (penalized), error / error of 0 (bumps) | hypotheses |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        ratio = (f"{r.lipschitz_ratio_last:.3f}" if r.estimator == "penalized"
                 else f"{r.energy_ratio_last:.2f}" if r.family == "bumps" else "")
        lines.append(f"| {_series_name(r)} | {r.m} | {QUANTITY_NAMES[r.quantity]} | {r.slope:+.3f} "
                     f"| [{r.ci_low:+.3f}, {r.ci_high:+.3f}] | {r.width:.3f} | {r.theorem:+.3f} | {r.minimax:+.3f} "
                     f"| {r.entropy:+.3f} | {r.local_slopes} | {r.n_min}-{r.n_max} | {r.seeds} | {ratio} "
                     f"| {r.hypotheses} |")
    return "\n".join(lines)


def _relation(lo: float, hi: float, exponent: float) -> str:
    """Where the interval [lo, hi] of a slope lies against an exponent, in words."""
    if hi < exponent:
        return "steeper than"
    if lo > exponent:
        return "shallower than"
    return "interval contains"


def _fit_text(r) -> str:
    return f"slope {r.slope:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}] (n = {r.n_min}-{r.n_max}, {r.seeds} seeds)"


def _against(r, names: tuple) -> str:
    labels = {"theorem": "-1/(m+2)", "minimax": "-2/(m+2)", "entropy": "-1/m",
              "sharp_w1": {1: "-1/2 (sharp for W1)", 2: "-1/2 (sharp for W1 up to a log factor)"}.get(
                  r.m, "-1/m (sharp for W1)")}
    return "; ".join(f"{_relation(r.ci_low, r.ci_high, getattr(r, k))} {labels[k]} = {getattr(r, k):+.3f}"
                     for k in names)


def sharpness_summary(table) -> str:
    """What the study finds, in sentences computed from ``table`` only: each states a measured slope
    with its interval and where the interval lies against the exponents; a sentence whose claim the
    table contradicts is not printed (STYLE.md items 14-16)."""
    check_frame(table, "table", columns=SHARPNESS_TABLE_COLUMNS, min_rows=0)
    fits = table[np.isfinite(table["slope"])]
    lines = ["## Where Theorem 4.8's exponent -1/(m+2) is reached", ""]
    pen = fits[(fits["estimator"] == "penalized") & (fits["quantity"] == "l2sq")]
    for m, g in pen.groupby("m"):
        reach = g[g["ci_high"] >= g["theorem"]]
        if reach.empty:
            slow = g.loc[g["slope"].idxmax()]
            lines.append(f"- m = {m}: every penalized L2(rho)^2 interval is steeper than -1/(m+2) = "
                         f"{slow.theorem:+.3f}; the slowest, {_series_name(slow)}, has {_fit_text(slow)} "
                         f"({slow.hypotheses}).")
        else:
            lines += [f"- m = {m}: the interval of {_series_name(r)} reaches -1/(m+2): {_fit_text(r)} ({r.hypotheses})."
                      for r in reach.itertuples()]
    if pen.empty:
        lines.append("- No penalized series was fitted.")
    lines += ["", "## Least squares at a fixed L: minimax -2/(m+2) or entropy -1/m?", ""]
    con = fits[fits["estimator"] == "constrained"].sort_values(["family", "sigma", "m", "quantity"], ascending=[True, True, True, False])
    for r in con.itertuples():
        text = (f"- m = {r.m}, {_series_name(r)}, {QUANTITY_NAMES[r.quantity]}: {_fit_text(r)}; "
                f"{_against(r, ('minimax',) if r.m <= 2 else ('minimax', 'entropy'))}")
        verdict = _ls_verdict(r)
        energy = (f" Error / error of the zero function at n = {r.n_max}: {r.energy_ratio_last:.2f}"
                  + (" (above 1: the solve is farther from f* than the zero function)." if r.energy_ratio_last > 1 else ".")
                  if r.family == "bumps" and np.isfinite(r.energy_ratio_last) else "")
        lines.append(text + (f": {verdict}." if verdict else ".") + energy)
    if con.empty:
        lines.append("- No constrained series was fitted.")
    lines += ["", "## At the samples and in L2(rho)", ""]
    for key, g in fits[fits["estimator"] != "w1"].groupby(["estimator", "family", "sigma", "m"], sort=False):
        if len(g) != 2:
            continue
        a, b = (g[g["quantity"] == q].iloc[0] for q in ("l2sq_samples", "l2sq"))
        if a.ci_high < b.ci_low:
            rel = "the error at the samples falls faster (intervals disjoint)"
        elif b.ci_high < a.ci_low:
            rel = "the error at the samples falls slower (intervals disjoint)"
        else:
            rel = "the intervals overlap"
        lines.append(f"- m = {key[3]}, {_series_name(a)}: at the samples {_fit_text(a)}; in L2(rho) "
                     f"slope {b.slope:+.3f} [{b.ci_low:+.3f}, {b.ci_high:+.3f}]; {rel}.")
    lines += ["", "## W1(rho_n, rho) and its quantization floor", ""]
    w1 = table[table["quantity"] == "w1"]
    for r in w1.itertuples():
        ok, rows = int(r.floor_ok), int(r.floor_rows)
        held = (f"the floor m/(m+1) (nK)^(-1/m) lies below the upper end of the bracket on all {rows} samples"
                if ok == rows else
                f"the floor lies ABOVE the upper end of the bracket on {rows - ok} of {rows} samples (a bracket or "
                "the floor is wrong there)")
        slope = f"; {_fit_text(r)}; {_against(r, ('sharp_w1', 'theorem'))}" if np.isfinite(r.slope) else ""
        lines.append(f"- m = {r.m}: {held}; lower end / floor {r.floor_ratio_min:.2f}-{r.floor_ratio_max:.2f}{slope}.")
    if w1.empty:
        lines.append("- No W1 rows.")
    lines += ["", "## Interval widths and pre-asymptotics", ""]
    wide = fits[fits["m"] >= 3]
    if not wide.empty:
        over = wide[wide["width"] > 0.06]
        lines.append(f"- m >= 3: the widest 95 % interval is {wide['width'].max():.3f} wide; {len(over)} of "
                     f"{len(wide)} fits are wider than 0.06.")
    drift = fits[(fits["last_slope"] < fits["ci_low"]) | (fits["last_slope"] > fits["ci_high"])]
    if len(fits):
        lines.append(f"- {len(drift)} of {len(fits)} fits have a local slope over their last two n outside their "
                     "interval (the fitted slope then describes a transient)" + (": " + ", ".join(
                         f"{_series_name(r)} m = {r.m} {QUANTITY_NAMES[r.quantity]} ({r.last_slope:+.2f})"
                         for r in drift.itertuples()) if len(drift) else "") + ".")
    return "\n".join(lines)


def _ls_verdict(r) -> str:
    """Which of -2/(m+2) and -1/m (m > 2) the constrained fit's interval is consistent with, or ''."""
    if r.m <= 2:
        return ""
    mini = r.ci_low <= r.minimax <= r.ci_high
    ent = r.ci_low <= r.entropy <= r.ci_high
    if mini and ent:
        return "the interval holds both exponents (undecided)"
    if mini:
        return "consistent with the minimax exponent, not with -1/m"
    if ent:
        return "consistent with -1/m, not with the minimax exponent"
    if r.ci_low > r.minimax and r.ci_high < r.entropy:
        return "between the two exponents"
    return "steeper than both exponents" if r.ci_high < r.minimax else "shallower than both exponents"


def plot_sharpness(table, path) -> None:
    """Measured exponent (95 % interval) against m for each series and quantity, beside -1/(m+2),
    -2/(m+2) and -1/m: L2(rho)^2 and W1 on the left, the error at the samples on the right; written to
    the file ``path`` (its folder must exist; the format from its extension, as matplotlib's savefig)."""
    import matplotlib

    check_frame(table, "table", columns=SHARPNESS_TABLE_COLUMNS)
    path = check_output_file(path, "path", parent_exists=True)

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11.0, 6.0), sharey=True)
    ms = np.array(sorted(table["m"].unique()))
    grid = np.linspace(ms.min() - 0.2, ms.max() + 0.2, 60)
    panels = ((axes[0], ("l2sq", "w1"), "L2(rho)^2 error (and W1)"), (axes[1], ("l2sq_samples",), "error at the samples"))
    for ax, quantities, title in panels:
        ax.plot(grid, -1.0 / (grid + 2.0), "k-", lw=2, label="-1/(m+2) (Theorem 4.8)")
        ax.plot(grid, -2.0 / (grid + 2.0), "k--", lw=1.5, label="-2/(m+2) (minimax)")
        ax.plot(grid, -1.0 / grid, "k:", lw=1.5, label="-1/m (entropy, W1 floor)")
        sub = table[table["quantity"].isin(quantities) & np.isfinite(table["slope"])]
        keys = list(dict.fromkeys(zip(sub["estimator"], sub["family"], sub["sigma"], sub["quantity"])))
        for i, key in enumerate(keys):
            g = sub[(sub["estimator"] == key[0]) & (sub["family"] == key[1]) & (sub["sigma"] == key[2])
                    & (sub["quantity"] == key[3])].sort_values("m")
            dx = 0.05 * (i - (len(keys) - 1) / 2)
            err = np.vstack([g["slope"] - g["ci_low"], g["ci_high"] - g["slope"]])
            ax.errorbar(g["m"] + dx, g["slope"], yerr=err, fmt="s-" if key[0] == "w1" else "o-", capsize=3, ms=4,
                        label=_series_name(g.iloc[0]))
        ax.set_xticks(ms)
        ax.set_xlim(ms.min() - 0.3, ms.max() + 0.3)
        ax.set_xlabel("intrinsic dimension m")
        ax.set_title(title)
    shown = table[np.isfinite(table["slope"])]
    low = min(-1.05, float(shown["ci_low"].min()) - 0.05) if len(shown) else -1.05
    high = max(0.02, float(shown["ci_high"].max()) + 0.05) if len(shown) else 0.02
    axes[0].set_ylim(low, high)
    axes[0].set_ylabel("slope in n (log-log, 95 % interval)")
    handles = {}
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            handles.setdefault(lab, h)
    fig.legend(handles.values(), handles.keys(), loc="lower center", ncol=3, fontsize=7, frameon=False)
    fig.suptitle("Sharpness study, FlatCube(m, m), squared loss")
    fig.tight_layout(rect=(0, 0.2, 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)
