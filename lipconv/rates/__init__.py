"""Convergence-rate sweeps, error metrics, slope fits and verdicts (seed 000, Theorem 4.8, Corollary 4.9)."""
from ._fit import GROUP_COLUMNS, QUANTITIES, SlopeFit, fit_rate, fit_slope, theorem_exponents
from ._methods import METHOD_RUNNERS, convex_runner, get_runner
from ._metrics import error_metrics, theorem_bounds
from ._problems import LABELS, MANIFOLDS, Problem, make_label, make_manifold, make_problem
from ._sweep import BACKENDS, COLUMNS, SETTING_COLUMNS, SweepConfig, plan_runs, read_results, run_sweep

__all__ = [
    "SweepConfig", "run_sweep", "read_results", "plan_runs", "COLUMNS", "SETTING_COLUMNS", "BACKENDS",
    "fit_slope", "fit_rate", "SlopeFit", "theorem_exponents", "QUANTITIES", "GROUP_COLUMNS",
    "error_metrics", "theorem_bounds",
    "METHOD_RUNNERS", "get_runner", "convex_runner",
    "Problem", "make_problem", "make_manifold", "make_label", "MANIFOLDS", "LABELS",
]
