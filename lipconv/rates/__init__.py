"""Convergence-rate sweeps, error metrics, slope fits and verdicts ([FCAO] Theorem 4.8, Corollary 4.9)."""
from ._fit import GROUP_COLUMNS, QUANTITIES, SlopeFit, fit_rate, fit_slope, theorem_exponents
from ._methods import METHOD_RUNNERS, convex_runner, get_runner
from ._metrics import error_metrics, theorem_bounds
from ._report import group_name, summary_markdown
from ._problems import (
    LABELS, MANIFOLDS, LabelModel, Problem, label_hypotheses, loss_hypotheses, make_label, make_manifold, make_problem,
    parse_label, problem_name,
)
from ._sweep import BACKENDS, COLUMNS, SETTING_COLUMNS, SweepConfig, parse_problem, plan_runs, read_results, run_sweep

__all__ = [
    "SweepConfig", "run_sweep", "read_results", "plan_runs", "parse_problem", "COLUMNS", "SETTING_COLUMNS", "BACKENDS",
    "fit_slope", "fit_rate", "SlopeFit", "theorem_exponents", "QUANTITIES", "GROUP_COLUMNS",
    "error_metrics", "theorem_bounds", "summary_markdown", "group_name",
    "METHOD_RUNNERS", "get_runner", "convex_runner",
    "Problem", "make_problem", "make_manifold", "make_label", "problem_name", "MANIFOLDS", "LABELS",
    "LabelModel", "parse_label", "label_hypotheses", "loss_hypotheses",
]
from ._tightness import (
    FAMILIES as TIGHTNESS_FAMILIES, TightnessFamily, plot_tightness, tightness_markdown, tightness_problem,
    tightness_run, tightness_scale, tightness_summary, tightness_table,
)
from ._tightness import read_tightness, tightness_sweep

__all__ += [
    "TIGHTNESS_FAMILIES", "TightnessFamily", "tightness_scale", "tightness_problem", "tightness_run",
    "tightness_table", "tightness_markdown", "tightness_summary", "plot_tightness",
    "tightness_sweep", "read_tightness",
]
from ._sharpness import (
    SERIES as SHARPNESS_SERIES, SIGMAS as SHARPNESS_SIGMAS, SharpnessTarget, bump_energy, plot_sharpness, read_sharpness, sharpness_markdown, sharpness_run,
    sharpness_summary, sharpness_sweep, sharpness_table, sharpness_target,
)

__all__ += [
    "SHARPNESS_SERIES", "SHARPNESS_SIGMAS", "SharpnessTarget", "bump_energy", "sharpness_target", "sharpness_run", "sharpness_sweep", "read_sharpness",
    "sharpness_table", "sharpness_markdown", "sharpness_summary", "plot_sharpness",
]
