r"""The convergence-rate sweep: every setting x n x seed, in parallel, into a resumable tidy CSV."""
from __future__ import annotations

import csv
import io
import itertools
import math
import os
import re
import time
from dataclasses import dataclass, field

import numpy as np

from .._validation import check_int, check_positive
from ._methods import get_runner
from ._metrics import error_metrics, theorem_bounds
from ._problems import (
    MANIFOLDS, check_manifold_name, intrinsic_dim, make_label, make_manifold, make_problem, problem_name,
)

__all__ = ["SweepConfig", "run_sweep", "read_results", "plan_runs", "parse_problem", "COLUMNS", "SETTING_COLUMNS",
           "BACKENDS"]

BACKENDS = ("loky", "threading", "sequential", "dask")

KEY_COLUMNS = ("manifold", "m", "d", "density", "n", "seed", "lam", "loss", "label", "method")
# Settings that change the numbers of a row without being part of its key: every row records them,
# and a CSV is only resumed with the same values (see run_sweep).
SETTING_COLUMNS = ("l2_rtol", "sup_rtol", "sup_evals", "n_reference", "lipconv_version")
RESULT_COLUMNS = (
    "status", "w1", "w1_lo", "w1_hi", "w1_rel_width", "w1_method",
    "l2sq", "l2sq_se", "l2sq_rel_se", "l2sq_worst", "l2sq_midpoint", "l2sq_mcshane", "l2sq_whitney",
    "l2sq_samples", "n_error", "linf_lo", "linf_hi", "linf_mid_lo", "linf_mid_hi", "sup_evals_used",
    "l2sq_function", "l2sq_function_se", "linf_function_lo", "linf_function_hi",
    "J_un", "J_n", "J_ref", "excess_J", "excess_J_se", "gap_Jn", "lemma412",
    "lipschitz", "lipschitz_ref", "theta", "bound_w1", "bound_l2sq", "bound_linf",
    "ref_kind", "ref_err_sup", "ref_err_J", "ref_err_l2", "solver_method", "max_violation", "relative_gap",
    "lipschitz_upper", "J_n_upper", "lower_bound", "relative_gap_upper",
    "solve_time", "w1_time", "metrics_time", "run_time", "error", "run_key",
)
# Optional attributes of a method's result (lipconv.rates._methods) recorded when present -> column.
OPTIONAL_RESULT_COLUMNS = {
    "max_violation": "max_violation", "relative_gap": "relative_gap", "lipschitz_upper": "lipschitz_upper",
    "objective_upper": "J_n_upper", "lower_bound": "lower_bound", "relative_gap_upper": "relative_gap_upper",
}
COLUMNS = KEY_COLUMNS + SETTING_COLUMNS + RESULT_COLUMNS
_EOL = "\r\n"  # the csv module's (excel dialect) record terminator


def _tuple(value, name: str, convert) -> tuple:
    items = (value,) if isinstance(value, (str, int, float)) else tuple(value)
    if not items:
        raise ValueError(f"{name} must not be empty, got an empty grid")
    return tuple(convert(v) for v in items)


@dataclass(frozen=True)
class SweepConfig:
    """Settings of a rate sweep (validated on construction; every grid must be non-empty).

    Attributes
    ----------
    problems : tuple of str, optional
        Problems as "<manifold>[:m=<m>][:d=<d>]" (e.g. "cube:m=2", "sphere", "curved_torus:d=8",
        "cube:m=4:d=4"); m for the cube only, d the ambient dimension (default the smallest). When
        None, the product of ``manifolds``, ``ms`` and ``ds``.
    manifolds : tuple of str
        Names from ``MANIFOLDS``: "cube", "circle", "sphere", "torus", "curved_torus".
    ms : tuple of int
        Intrinsic dimensions of the cube (ignored by the others, whose m is fixed).
    ds : tuple of int or None
        Ambient dimensions (None: the smallest, m for the cube); with ``problems`` None.
    ns : tuple of int
        Sample sizes, each >= 2.
    seeds : tuple of int
        Data seeds, each >= 0; the samples of a run come from ``numpy.random.default_rng([seed, n])``.
    lams : tuple of float
        Ambient regularization weights, > 0.
    losses : tuple of str
        Loss names (:func:`lipconv.losses.get_loss`).
    labels : tuple of str
        Label specs (:func:`lipconv.rates.parse_label`): "ramp", "ramp:<delta>", "step", "smooth",
        "sin:<k>", "onehot:<k>", "soft:<k>", optionally with "+noise:<sigma>" or "+flip:<p>".
    methods : tuple of str
        Keys of :data:`lipconv.rates.METHOD_RUNNERS` ("convex", "pairs", "cutting-plane", ...).
    output : str
        Path of the CSV; finished rows there are not redone (see :func:`run_sweep` for when it resumes).
    density : str
        "uniform" or "linear".
    n_caps : dict
        Largest n per problem, keyed by :func:`lipconv.rates.problem_name` (a cost-dependent grid).
        Caps select runs and never change a row, so they are not recorded.
    l2_rtol : float
        Target of the L2 error's relative standard error (reached at half, for margin;
        :func:`lipconv.rates.error_metrics`). The W1 bracket's width is
        :func:`lipconv.discrepancy.wasserstein1`'s (its defaults), reported per row.
    sup_rtol : float
        Target relative width of the sup brackets.
    sup_evals : int
        Evaluation budget of each sup bracket.
    n_reference : int
        Quadrature size of fine-quadrature references (other densities, losses or labels).
    method_scope : dict
        Restricts a method to part of the grid: method name -> dict with any of "problems" (specs as
        in ``problems``, each one of the sweep's), "ns" and "seeds" (tuples); a method without an
        entry runs the whole grid. The rate study's neural panel is ``{"neural": {"problems":
        ("cube:m=2", "sphere"), "ns": (32, 128, 512, 2048), "seeds": (0, 1, 2, 3, 4)}}``. Like
        ``n_caps`` it only selects runs and is never recorded.
    run_costs : dict
        Predicted seconds of a run at n = 8,192 and the exponent a of cost ~ n^a, keyed by problem
        name, as (seconds, a), or by "<problem name> [<method>]" for a method whose runs cost
        otherwise (e.g. "sphere d=3 [neural]"): runs start in decreasing predicted cost (longest
        first, so the last ones to finish are short), and the progress bar's remaining time is
        estimated from the predicted costs of the runs left. Never recorded.
    n_jobs : int
        Parallel workers (joblib). This and the settings below decide how the runs are executed,
        never what a row holds, so they may change between the sessions of one CSV.
    backend : str
        "loky" (processes), "threading", "sequential" or "dask" (needs dask.distributed).
    scheduler : str or None
        Address of a Dask scheduler (backend "dask"); None starts a local cluster.
    progress : bool
        Show a tqdm progress bar.
    """

    problems: tuple | None = None
    manifolds: tuple = ("cube",)
    ms: tuple = (1,)
    ds: tuple = (None,)
    ns: tuple = (64, 128, 256)
    seeds: tuple = tuple(range(10))
    lams: tuple = (0.02,)
    losses: tuple = ("squared",)
    labels: tuple = ("ramp",)
    methods: tuple = ("convex",)
    output: str = "rates.csv"
    density: str = "uniform"
    n_caps: dict = field(default_factory=dict)
    method_scope: dict = field(default_factory=dict)
    l2_rtol: float = 0.05
    sup_rtol: float = 0.05
    sup_evals: int = 400_000
    n_reference: int = 1024
    run_costs: dict = field(default_factory=dict)
    n_jobs: int = 1
    backend: str = "loky"
    scheduler: str | None = None
    progress: bool = True

    def __post_init__(self):
        from ..losses import get_loss

        def put(name, value):
            object.__setattr__(self, name, value)

        put("manifolds", _tuple(self.manifolds, "manifolds", check_manifold_name))
        put("ms", _tuple(self.ms, "ms", lambda v: check_int(v, "m", minimum=1)))
        put("ds", tuple(None if v is None else check_int(v, "d", minimum=1) for v in (self.ds or (None,))))
        if self.problems is None:
            specs = [(name, m, d) for name in self.manifolds for m in (self.ms if MANIFOLDS[name][1] is None
                     else (intrinsic_dim(name, 1),)) for d in self.ds]
        else:
            specs = [parse_problem(p) for p in _tuple(self.problems, "problems", str)]
        put("problems", tuple(dict.fromkeys((n, m, make_manifold(n, m, d).d) for n, m, d in specs)))
        put("ns", _tuple(self.ns, "ns", lambda v: check_int(v, "n", minimum=2)))
        put("seeds", _tuple(self.seeds, "seeds", lambda v: check_int(v, "seed", minimum=0)))
        put("lams", _tuple(self.lams, "lams", lambda v: check_positive(v, "lam")))
        put("losses", _tuple(self.losses, "losses", lambda v: get_loss(v).name))
        put("labels", _tuple(self.labels, "labels", _check_label))
        put("methods", _tuple(self.methods, "methods", _check_method))
        put("n_reference", check_int(self.n_reference, "n_reference", minimum=4))
        put("sup_evals", check_int(self.sup_evals, "sup_evals", minimum=1000))
        for name in ("l2_rtol", "sup_rtol"):
            put(name, check_positive(getattr(self, name), name))
        for key, cost in dict(self.run_costs).items():
            if not (isinstance(cost, (tuple, list)) and len(cost) == 2 and all(
                    isinstance(v, (int, float)) and np.isfinite(v) and v > 0 for v in cost)):
                raise ValueError(f"run_costs[{key!r}] must be (seconds at n = 8192, exponent), both > 0, got {cost!r}")
        put("run_costs", dict(self.run_costs))
        put("n_jobs", check_int(self.n_jobs, "n_jobs", minimum=1))
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {self.backend!r}")
        if self.backend == "dask":
            _dask_client_class()
        caps = dict(self.n_caps)
        for key, cap in caps.items():
            if key not in _problem_keys(self):
                raise ValueError(f"n_caps keys must be among {_problem_keys(self)}, got {key!r}")
            check_int(cap, f"n_caps[{key!r}]", minimum=2)
        put("n_caps", caps)
        put("method_scope", _check_scope(self))
        if not plan_runs(self):
            raise ValueError(f"the sweep has no run: every n in {self.ns} is above the caps {caps}")
        for name, m, d in self.problems:
            make_manifold(name, m, d, density=self.density)


def _check_scope(config) -> dict:
    """``config.method_scope`` validated, with problems as (name, m, d) and sorted tuples."""
    keys = {"problems", "ns", "seeds"}
    scope = {}
    for method, entry in dict(config.method_scope).items():
        if method not in config.methods:
            raise ValueError(f"method_scope keys must be among the sweep's methods {config.methods}, got {method!r}")
        if not isinstance(entry, dict) or not set(entry) <= keys:
            raise ValueError(f"method_scope[{method!r}] must be a dict with keys among {sorted(keys)}, got {entry!r}")
        out = {}
        if "problems" in entry:
            specs = [parse_problem(p) for p in _tuple(entry["problems"], f"method_scope[{method!r}]['problems']", str)]
            chosen = tuple(dict.fromkeys((n, m, make_manifold(n, m, d).d) for n, m, d in specs))
            missing = [problem_name(*p) for p in chosen if p not in config.problems]
            if missing:
                raise ValueError(f"method_scope[{method!r}]['problems'] must be problems of the sweep "
                                 f"{_problem_keys(config)}, got {missing}")
            out["problems"] = chosen
        if "ns" in entry:
            out["ns"] = tuple(sorted(_tuple(entry["ns"], f"method_scope[{method!r}]['ns']",
                                            lambda v: check_int(v, "n", minimum=2))))
        if "seeds" in entry:
            out["seeds"] = _tuple(entry["seeds"], f"method_scope[{method!r}]['seeds']",
                                  lambda v: check_int(v, "seed", minimum=0))
        scope[method] = out
    return scope


def _check_label(spec) -> str:
    make_label(spec)
    return str(spec)


def _check_method(name) -> str:
    get_runner(name)
    return name


def parse_problem(spec: str) -> tuple:
    """(manifold, m, d) of a spec "<manifold>[:m=<m>][:d=<d>]" (d None: the smallest)."""
    name, *parts = str(spec).split(":")
    check_manifold_name(name)
    opts = {}
    for part in parts:
        key, _, value = part.partition("=")
        if key not in ("m", "d") or not value.isdigit():
            raise ValueError(f"problems must look like 'cube:m=2', 'sphere' or 'curved_torus:d=8', got {spec!r}")
        opts[key] = int(value)
    if "m" in opts and MANIFOLDS[name][1] is not None:
        raise ValueError(f"problem {spec!r}: only the cube takes m (the {name} has m = {MANIFOLDS[name][1]})")
    m = intrinsic_dim(name, opts.get("m", 1))
    return name, m, opts.get("d")


def _problem_keys(config) -> list[str]:
    return [problem_name(name, m, d) for name, m, d in config.problems]


def run_key(spec: dict) -> str:
    """The identity of a run: its settings, as recorded in the ``run_key`` column."""
    return "|".join(f"{c}={spec[c]!r}" for c in KEY_COLUMNS)


def _check_config(config) -> SweepConfig:
    if not isinstance(config, SweepConfig):
        raise ValueError(f"config must be a lipconv.rates.SweepConfig, got {type(config).__name__}")
    return config


def plan_runs(config: SweepConfig) -> list[dict]:
    """Every run of the sweep as a dict of the key columns, in a fixed order."""
    _check_config(config)
    runs = []
    for (name, m, d), lam, loss, label, method in itertools.product(
        config.problems, config.lams, config.losses, config.labels, config.methods
    ):
        scope = config.method_scope.get(method, {})
        if (name, m, d) not in scope.get("problems", config.problems):
            continue
        cap = config.n_caps.get(problem_name(name, m, d), math.inf)
        ns, seeds = scope.get("ns", sorted(config.ns)), scope.get("seeds", config.seeds)
        for n, seed in itertools.product(ns, seeds):
            if n <= cap or "ns" in scope:
                spec = dict(manifold=name, m=m, d=d, density=config.density, n=n, seed=seed, lam=lam,
                            loss=loss, label=label, method=method)
                spec["run_key"] = run_key(spec)
                runs.append(spec)
    return runs


def _dask_client_class():
    try:
        from dask.distributed import Client
    except ImportError:
        raise ImportError(
            "backend 'dask' needs dask.distributed, which is not installed: "
            "pip install 'dask[distributed]' (or choose backend 'loky')"
        ) from None
    return Client


def read_results(path) -> "pandas.DataFrame":  # noqa: F821
    """Read a sweep CSV, leaving out a final record cut short by an interruption."""
    import pandas as pd

    _read_rows(path)
    return pd.read_csv(path, keep_default_na=True)


def _records(text: str):
    """(raw text, fields) of each CSV record of ``text``; a quoted field may span lines."""
    consumed = []

    def lines():
        for line in io.StringIO(text, newline=""):
            consumed.append(line)
            yield line

    for fields in csv.reader(lines()):
        yield "".join(consumed), fields
        consumed.clear()


def _read_rows(path) -> list[dict]:
    """The complete rows of the sweep CSV at ``path`` (as strings), after making it a clean CSV.

    Records are parsed as CSV, so a quoted field holding a line break stays one record. A sweep
    killed while appending can leave a last record without its line end or with missing fields;
    that record is dropped (its run is redone). A header without its line end gets one (and a header
    cut short is completed), so that appended rows start on a line of their own. A record repeating
    an earlier ``run_key`` is dropped. The file is rewritten atomically when anything changed.
    """
    if not os.path.exists(path):
        return []
    with open(path, newline="") as fh:
        text = fh.read()
    header = ",".join(COLUMNS) + _EOL
    if "\n" not in text and header.startswith(text):
        _rewrite(path, header)
        return []
    records = iter(_records(text))
    raw, fields = next(records)
    if tuple(fields) != COLUMNS:
        missing = [c for c in COLUMNS if c not in fields]
        raise ValueError(
            f"output {path!r} is not a sweep CSV of this version (its columns differ; missing {missing}); "
            "choose a new output"
        )
    keep = [raw.rstrip("\r\n") + _EOL]
    rows, keys = [], set()
    for raw, fields in records:
        if not raw.endswith("\n") or len(fields) != len(COLUMNS):
            continue
        row = dict(zip(COLUMNS, fields))
        if row["run_key"] in keys:
            continue
        keys.add(row["run_key"])
        rows.append(row)
        keep.append(raw)
    if "".join(keep) != text:
        _rewrite(path, "".join(keep))
    return rows


def _rewrite(path, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w", newline="") as fh:
        fh.write(text)
    os.replace(tmp, path)


def _settings(config: SweepConfig) -> dict:
    """The values of :data:`SETTING_COLUMNS` for this configuration."""
    from .. import __version__

    return dict(l2_rtol=config.l2_rtol, sup_rtol=config.sup_rtol, sup_evals=config.sup_evals,
                n_reference=config.n_reference, lipconv_version=__version__)


def _check_settings(path, rows: list[dict], settings: dict) -> None:
    """Raise unless every row of the CSV was computed with ``settings``."""
    for name, value in settings.items():
        stored = sorted({row[name] for row in rows})
        if stored and stored != [str(value)]:
            raise ValueError(
                f"{name}: the CSV at {path} was computed with {name} = {', '.join(stored)}, this run asks "
                f"for {value}; use another output (--out; SweepConfig.output) or the same settings"
            )


def run_sweep(config: SweepConfig):
    r"""Run every (manifold, m, n, seed, lam, loss, label, method) of ``config``; return the tidy table.

    Each run draws n points of rho (seed recorded), computes the discrepancy
    :math:`W_1(\rho_n, \rho)` ([FCAO] Lemma 4.10; :func:`lipconv.discrepancy.wasserstein1`),
    computes u_n with the method's runner (:data:`lipconv.rates.METHOD_RUNNERS`), and measures the
    errors of :func:`lipconv.rates.error_metrics` against the continuum reference
    :math:`u^\lambda` (Theorem 4.8, Corollary 4.9), beside the bounds of
    :func:`lipconv.rates.theorem_bounds`.

    Runs go to joblib workers (``n_jobs``, ``backend``; "dask" runs on a Dask cluster through joblib's
    dask backend), the most expensive first (``run_costs``; else largest n first), one run per task; each finished run is appended at once to
    ``config.output`` as one CSV row, in whatever order the runs finish, with its seed.

    Rerunning with the same output resumes: rows already there (by ``run_key``, built from the key
    columns) are not redone, and runs with new keys (a new n, new seeds, another method) are
    computed and appended. A record cut short by an interruption is dropped and redone. A run whose
    solver fails is recorded with ``status`` "failed" and its error message (on one line); it counts
    as done, and stays failed, on resume.

    The settings that change a row's numbers without being in its key, :data:`SETTING_COLUMNS`
    (``l2_rtol``, ``sup_rtol``, ``sup_evals``, ``n_reference`` and the lipconv version), are recorded
    in every row, and a CSV whose rows were computed with other values is refused with a
    ``ValueError`` naming the setting, the stored and the requested value: resuming would mix rows of
    two experiments. They are checked even for problems that ignore one of them (exact references
    ignore ``n_reference``), so that one CSV is one experiment. The settings live in the rows rather
    than in a sidecar file because a row and its settings are then written in one append: no crash,
    copy or concatenation of CSVs can separate them, and every row read alone says how it was
    computed. ``n_caps`` only select runs; ``n_jobs``, ``backend``, ``scheduler`` and ``progress``
    only decide how runs execute: none of them is recorded, and they may change between sessions.

    Returns
    -------
    pandas.DataFrame
        The rows of this configuration's runs (one per run), in the CSV's columns, in the order of
        :func:`plan_runs` (whatever order they were computed in).
    """
    from joblib import Parallel, delayed
    from tqdm.auto import tqdm

    runs = plan_runs(_check_config(config))
    rows = _read_rows(config.output)
    settings = _settings(config)
    _check_settings(config.output, rows, settings)
    done = {row["run_key"] for row in rows}
    pending = [r for r in runs if r["run_key"] not in done]
    pending.sort(key=lambda r: -_predicted_cost(config, r))
    problems = {}
    for r in pending:
        pkey = (r["manifold"], r["m"], r["d"], r["lam"], r["loss"], r["label"])
        if pkey not in problems:
            problems[pkey] = make_problem(
                r["manifold"], r["m"], d=r["d"], density=config.density, label=r["label"], lam=r["lam"],
                loss=r["loss"], n_reference=config.n_reference,
            )
    runners = {name: get_runner(name) for name in config.methods}
    tasks = (
        delayed(_run_one)(problems[(r["manifold"], r["m"], r["d"], r["lam"], r["loss"], r["label"])], r,
                          runners[r["method"]], settings)
        for r in pending
    )
    new_file = not os.path.exists(config.output)
    directory = os.path.dirname(os.path.abspath(config.output))
    os.makedirs(directory, exist_ok=True)
    with open(config.output, "a", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator=_EOL)
        if new_file:
            writer.writeheader()
            fh.flush()
        if pending:
            # The bar counts predicted seconds, not runs: the runs go longest first, so a count of
            # runs would extrapolate the first (long) runs' pace to the short ones left.
            costs = {r["run_key"]: _predicted_cost(config, r) for r in pending}
            bar = _ProgressBar(tqdm, costs, disable=not config.progress)
            with _backend(config):
                # batch_size=1: an auto-batching backend (loky, dask) would hold a finished run back
                # until the rest of its batch is done, and an interruption would lose it.
                results = Parallel(n_jobs=config.n_jobs, batch_size=1, return_as="generator_unordered")(tasks)
                for row in results:
                    writer.writerow(row)
                    fh.flush()
                    bar.done(row["run_key"])
            bar.close()
    df = read_results(config.output)
    order = {r["run_key"]: i for i, r in enumerate(runs)}
    df = df[df["run_key"].isin(order)]
    return df.sort_values("run_key", key=lambda keys: keys.map(order)).reset_index(drop=True)


def _predicted_cost(config: SweepConfig, run: dict) -> float:
    """Predicted seconds of a run from ``config.run_costs`` (n itself where the problem has none)."""
    name = problem_name(run["manifold"], run["m"], run["d"])
    cost = config.run_costs.get(f"{name} [{run['method']}]", config.run_costs.get(name))
    if cost is None:
        return float(run["n"])
    seconds, a = cost
    return seconds * (run["n"] / 8192.0) ** a * 8192.0


class _ProgressBar:
    """A tqdm bar over the runs' predicted costs (``run_costs``), with the count of runs beside it.

    Its remaining time is (predicted cost left) / (predicted cost done per second so far), which is
    right whatever order the runs go in, as long as the predictions are right relative to one
    another; a bar that counted runs would assume they all cost the same."""

    def __init__(self, tqdm, costs: dict, *, disable: bool):
        self.costs, self.count = costs, 0
        scale = sum(costs.values())
        self.unit = scale / 1000.0 if scale > 0 else 1.0  # 1,000 steps: the bar's resolution
        self.bar = tqdm(total=1000, desc="rate sweep", disable=disable, smoothing=0.0,
                        bar_format="{l_bar}{bar}| [{elapsed}<{remaining}{postfix}]")
        self.bar.set_postfix_str(f"0/{len(costs)} runs", refresh=False)

    def done(self, key: str) -> None:
        self.count += 1
        self.bar.set_postfix_str(f"{self.count}/{len(self.costs)} runs", refresh=False)
        self.bar.update(self.costs[key] / self.unit)

    def close(self) -> None:
        self.bar.close()


class _backend:
    """joblib's backend for the config, with a Dask client held open for the sweep when needed."""

    def __init__(self, config):
        self.config = config
        self.client = None
        self.ctx = None

    def __enter__(self):
        from joblib import parallel_config

        backend = self.config.backend
        if backend == "dask":
            Client = _dask_client_class()
            self.client = Client(self.config.scheduler) if self.config.scheduler else Client(
                n_workers=self.config.n_jobs, threads_per_worker=1)
        self.ctx = parallel_config(backend=backend)
        self.ctx.__enter__()
        return self

    def __exit__(self, *exc):
        self.ctx.__exit__(*exc)
        if self.client is not None:
            self.client.close()
        return False


def _run_one(problem, spec: dict, runner, settings: dict) -> dict:
    """One run: sample, discrepancy, solve, errors. Failures become a row with status 'failed'."""
    from ..discrepancy import wasserstein1

    t0 = time.perf_counter()
    row = {c: spec[c] for c in KEY_COLUMNS}
    row.update(settings)
    row.update(run_key=spec["run_key"], theta=problem.theta, J_ref=problem.J_ref, lipschitz_ref=problem.lipschitz_ref,
               ref_kind=problem.ref_kind, ref_err_sup=problem.ref_err_sup, ref_err_J=problem.ref_err_J,
               ref_err_l2=problem.ref_err_l2, error="")
    try:
        manifold = problem.manifold()
        rng = np.random.default_rng([spec["seed"], spec["n"]])
        X = manifold.sample(spec["n"], rng)
        y = problem.sample_labels(manifold, X, rng)  # noise (if any) drawn after the samples
        t = time.perf_counter()
        w1 = wasserstein1(X, manifold, seed=spec["seed"])
        row.update(w1=w1.value, w1_lo=w1.lo, w1_hi=w1.hi, w1_rel_width=w1.relative_width, w1_method=w1.method,
                   w1_time=time.perf_counter() - t)
        t = time.perf_counter()
        result = runner(X, y, lam=spec["lam"], loss=spec["loss"], seed=spec["seed"])
        row["solve_time"] = getattr(result, "solve_time", time.perf_counter() - t)
        row["solver_method"] = getattr(result, "method", "")
        for attribute, column in OPTIONAL_RESULT_COLUMNS.items():
            value = getattr(result, attribute, None)
            row[column] = float("nan") if value is None else float(value)
        row["lipschitz"] = float(result.lipschitz)
        row["J_n"] = float(result.objective)
        t = time.perf_counter()
        metrics = error_metrics(result, problem, X=X, y=y, seed=spec["seed"], rtol_l2=settings["l2_rtol"],
                                rtol_sup=settings["sup_rtol"], max_sup_evals=settings["sup_evals"])
        metrics["sup_evals_used"] = metrics.pop("sup_evals", float("nan"))
        row.update({k: v for k, v in metrics.items() if k in RESULT_COLUMNS})
        row["metrics_time"] = time.perf_counter() - t
        row.update(theorem_bounds(spec["n"], problem.m, lam=spec["lam"], J_ref=problem.J_ref, theta=problem.theta,
                                  lipschitz_diff=row["lipschitz"] + problem.lipschitz_ref))
        row["status"] = "ok"
    except Exception as exc:  # a failed run is data: recorded, not fatal to the sweep
        row["status"] = "failed"
        row["error"] = _one_line(f"{type(exc).__name__}: {exc}")[:500]
    row["run_time"] = time.perf_counter() - t0
    return row


def _one_line(message: str) -> str:
    """``message`` with its line breaks replaced by " | ", so that a row stays one line of the CSV."""
    return re.sub(r"\s*[\r\n]+\s*", " | ", message.strip())
