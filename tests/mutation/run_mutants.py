"""Mutation check of lipconv's numerical core (issue 15): do the tests fail on wrong numbers?

Each mutant below is one small, plausible mistake in the numerical core (a norm swapped, a factor
dropped, a pruning bound made too aggressive, a stopping rule loosened, a bootstrap that mixes
strata, ...), with the test files (and ``-k`` selection) that should catch it. The script copies
``lipconv/``, ``tests/``, ``pyproject.toml`` (and ``paper_figures/``, ``studies/``, which the
paper-figure tests run) of this repository into ONE temporary directory,
applies each mutant there in turn (restoring the file afterwards, with its original timestamp),
runs ``python -m pytest -x -q -p no:cacheprovider <tests>`` in that copy with ``PYTHONPATH``
pointing at it, and prints a table of killed / survived mutants and the kill rate. The repository's
own files are never modified. Runs are sequential, one pytest at a time (the CI machine has 2 cores).

A mutant is *killed* when the selected tests fail (or time out); it *survives* when they pass.
Before the mutants, every distinct test selection is run once on the unmutated copy and must pass
(``--skip-baseline`` skips this).

Usage::

    python tests/mutation/run_mutants.py               # all mutants, with the baseline
    python tests/mutation/run_mutants.py --list        # the mutants, no runs
    python tests/mutation/run_mutants.py --only cert-,cp-  # mutants whose name starts with cert- or cp-

numba kernels are cached on disk (``cache=True``): the copy gets its own ``NUMBA_CACHE_DIR``, and a
mutant of a numba module gets a fresh one, because numba does not invalidate the cache of a kernel
when a jitted function it calls from another module changes.

The file is not collected by pytest (its name does not match ``test_*.py``).
"""
from __future__ import annotations

import argparse
import dataclasses
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 600
NUMBA_MODULES = ("_numba.py",)


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str  # relative to the repository root
    old: str  # must occur exactly once in the file
    new: str
    tests: str  # pytest arguments (files and -k), relative to the repository root
    note: str = ""  # for a survivor: why it is equivalent
    timeout: float = TIMEOUT_S  # seconds; a mutant that makes a solver cycle is killed by this


P = "tests/test_planted.py"
W = "tests/test_wrong_numbers.py"

MUTANTS = [
    # ---------------------------------------------------------------- certificate (solvers/_certificate.py)
    Mutant("cert-scale-min-range", "lipconv/solvers/_certificate.py",
           "span = float(np.ptp(U, axis=0).max())", "span = float(np.ptp(U, axis=0).min())",
           f"{P} -k certificate_of_a_bad_point"),
    Mutant("cert-divides-by-L", "lipconv/solvers/_certificate.py",
           "    return worst / s\n", "    return worst / max(s, float(L))\n",
           f"{P} -k certificate_of_a_bad_point"),
    Mutant("cert-norms-swapped", "lipconv/solvers/_certificate.py",
           "scan_pairs(X, U, L, p_x=p_x, p_y=p_y,", "scan_pairs(X, U, L, p_x=p_y, p_y=p_x,",
           f"{P} -k certificate_of_a_bad_point"),
    Mutant("cert-dual-unscaled", "lipconv/solvers/_certificate.py",
           "alpha = (lam / price) * (1.0 - 4 * np.finfo(float).eps)", "alpha = 1.0",
           "tests/test_certificate.py -k dual_bound_is_a_lower_bound"),
    Mutant("cert-dual-sign", "lipconv/solvers/_certificate.py",
           "np.add.at(S, j, -M)", "np.add.at(S, j, M)",
           "tests/test_certificate.py -k dual_bound_is_a_lower_bound"),
    Mutant("cert-dual-primal-norm", "lipconv/solvers/_certificate.py",
           "pnorm(M, dual_exponent(p_y), axis=1)", "pnorm(M, p_y, axis=1)",
           "tests/test_certificate.py -k vector_outputs_around_the_critical_lambda"),
    Mutant("cert-gap-mean-denominator", "lipconv/solvers/_certificate.py",
           "return diff / upper if upper > 0", "return 2 * diff / (upper + lower) if upper > 0",
           "tests/test_certificate.py -k suboptimal_feasible_point"),
    # ---------------------------------------------------------------- oracle (solvers/_oracle.py, _oracle_numba.py)
    Mutant("oracle-numpy-bound-aggressive", "lipconv/solvers/_oracle.py",
           "return _norm_rows(span, p_y) - L * _norm_rows(gap, p_x)",
           "return _norm_rows(span, p_y) - 1.02 * L * _norm_rows(gap, p_x)",
           f"{P} -k oracle_finds"),
    Mutant("oracle-numpy-gap-corners", "lipconv/solvers/_oracle.py",
           "gap = np.maximum(0.0, np.maximum(xlo - xhi[a], xlo[a] - xhi))",
           "gap = np.maximum(0.0, np.maximum(xlo - xlo[a], xlo[a] - xlo))",
           f"{P} -k oracle_finds"),
    Mutant("oracle-numpy-linf-is-l1", "lipconv/solvers/_oracle.py",
           "        return np.sqrt((V * V).sum(axis=-1))\n    return V.max(axis=-1)",
           "        return np.sqrt((V * V).sum(axis=-1))\n    return V.sum(axis=-1)",
           f"{P} -k oracle_finds"),
    Mutant("oracle-tree-argmax", "lipconv/solvers/_oracle.py",
           "i = int(np.argmax(u - vmin))", "i = int(np.argmin(vmin))",
           f"{P} -k oracle_finds"),
    Mutant("oracle-tree-threshold", "lipconv/solvers/_oracle.py",
           "_scan_weighted_nn(tree, U, L, p_x, min(0.0, threshold), m)",
           "_scan_weighted_nn(tree, U, L, p_x, threshold, m)",
           f"tests/test_certificate.py {P} -k \"reports_the_exact_scan or tree_oracle_maximum\""),
    Mutant("oracle-order-ascending", "lipconv/solvers/_oracle.py",
           'by = np.argsort(-v, kind="stable")', 'by = np.argsort(v, kind="stable")',
           "tests/test_cutting_plane.py -k scan_matches_dense"),
    Mutant("oracle-numba-bound-aggressive", "lipconv/solvers/_oracle_numba.py",
           "return finish(s, cy) - L * finish(g, cx)", "return finish(s, cy) - 1.02 * L * finish(g, cx)",
           f"{P} -k oracle_finds"),
    Mutant("oracle-numba-skips-neighbour", "lipconv/solvers/_oracle_numba.py",
           "j0 = i + 1 if a == b else starts[b]", "j0 = i + 2 if a == b else starts[b]",
           "tests/test_cutting_plane.py -k \"scan_matches_dense or property_scan_is_exact\""),
    Mutant("oracle-numba-span-lower-corners", "lipconv/solvers/_oracle_numba.py",
           "s = accumulate(s, max(uhi[b, c] - ulo[a, c], uhi[a, c] - ulo[b, c]), cy)",
           "s = accumulate(s, max(uhi[b, c] - uhi[a, c], uhi[a, c] - uhi[b, c]), cy)",
           f"tests/test_cutting_plane.py {P} -k \"scan_matches_dense or oracle_finds\""),
    Mutant("oracle-nn-child-bound-aggressive", "lipconv/solvers/_oracle_numba.py",
           "                    ba = umin[a] + L * box_distance(x, lo, hi, a, cx)\n"
           "                    bb = umin[b] + L * box_distance(x, lo, hi, b, cx)\n"
           "                    if sp + 2 > depth_max:",
           "                    ba = umin[a] + 1.05 * L * box_distance(x, lo, hi, a, cx)\n"
           "                    bb = umin[b] + 1.05 * L * box_distance(x, lo, hi, b, cx)\n"
           "                    if sp + 2 > depth_max:",
           f"{P} -k oracle_finds"),
    # ---------------------------------------------------------------- KD-tree (lipconv/_tree.py, _tree_numba.py)
    Mutant("tree-box-distance-wrong-side", "lipconv/_tree_numba.py",
           "            g = x[c] - hi[node, c]", "            g = x[c] - lo[node, c]",
           "tests/test_tree.py -k weighted_nearest"),
    Mutant("tree-umin-left-child", "lipconv/_tree_numba.py",
           "umin[node] = min(umin[left[node]], umin[right[node]])", "umin[node] = umin[left[node]]",
           "tests/test_tree.py -k weighted_nearest"),
    Mutant("tree-linf-is-l1", "lipconv/_tree_numba.py",
           "        t = abs(x[c] - Xs[j, c])\n        if t > acc:\n            acc = t",
           "        t = abs(x[c] - Xs[j, c])\n        acc += t",
           "tests/test_tree.py -k weighted_nearest"),
    Mutant("tree-values-not-permuted", "lipconv/_tree.py",
           "us = np.ascontiguousarray(np.asarray(u, dtype=float)[tree.order])",
           "us = np.ascontiguousarray(np.asarray(u, dtype=float))",
           "tests/test_tree.py -k weighted_nearest"),
    Mutant("tree-index-in-tree-order", "lipconv/_tree.py",
           "    return out, tree.order[arg]", "    return out, arg",
           "tests/test_tree.py -k weighted_nearest"),
    # ---------------------------------------------------------------- cutting plane (solvers/_cutting_plane.py)
    Mutant("cp-loose-stopping-rule", "lipconv/solvers/_cutting_plane.py",
           "viol_tol = max(10.0 * tol, 1e-9) if viol_tol is None", "viol_tol = max(1e4 * tol, 1e-9) if viol_tol is None",
           f"{P} -k default_cutting_plane_solve"),
    Mutant("cp-weights-ignored", "lipconv/solvers/_cutting_plane.py",
           "wl = w[idx] / total if total > 0 else np.full(m, 1.0 / m)", "wl = np.full(m, 1.0 / m)",
           f"{P} -k weighted_cutting_plane"),
    Mutant("cp-stops-on-a-loose-solve", "lipconv/solvers/_cutting_plane.py",
           "            if round_tol <= tol:\n                break", "            if True:\n                break",
           f"{P} -k default_cutting_plane_solve"),
    Mutant("cp-cuts-not-oriented", "lipconv/solvers/_cutting_plane.py",
           "a, b = np.where(flip, b, a), np.where(flip, a, b)", "a, b = np.where(flip, a, b), np.where(flip, b, a)",
           f"{P} -k far_pairs_that_its_start_graph_lacks"),
    Mutant("cp-default-loose-rounds", "lipconv/solvers/_cutting_plane.py",
           "seed=0, fine_k=\"auto\", loose=1e-2, loose_max=1e-5,", "seed=0, fine_k=\"auto\", loose=1e-2, loose_max=1e-3,",
           f"{P} -k documented_default_tolerances"),
    Mutant("cp-oracle-at-the-solver-L", "lipconv/solvers/_cutting_plane.py",
           "L = min(L_solver, lipschitz_on_pairs(X, values, i, j, p_x=p_x, p_y=p_y, oriented=oriented))",
           "L = L_solver",
           "tests/test_certificate.py -k tiny_lambda",
           note="equivalent in every regime we could certify: the API recomputes L = min(L_solver, tight L "
                "of the pairs) and rescans, and with the subproblem scaled by n / J_ref the solver's L was "
                "within round-off of the tight L (n = 300, d = 2, lam 1e-12 ... 0.05, squared and absolute "
                "loss, 3 seeds: same rounds and certificates with and without the clamp; the only "
                "difference, absolute loss at lam = 1e-12, is uncertified without the mutant too)"),
    # ---------------------------------------------------------------- units (solvers/_units.py)
    Mutant("units-squared-objective-scale", "lipconv/solvers/_units.py",
           "lam_scale, objective_scale = x_scale * y_scale, y_scale**2",
           "lam_scale, objective_scale = x_scale * y_scale, y_scale",
           "tests/test_certificate.py -k equivariance"),
    Mutant("units-lipschitz-inverted", "lipconv/solvers/_units.py",
           "return float(L) * self.y_scale / self.x_scale", "return float(L) * self.x_scale / self.y_scale",
           f"{P} -k default_cutting_plane_solve"),
    Mutant("units-absolute-lam-scale", "lipconv/solvers/_units.py",
           "        lam_scale, objective_scale = x_scale, y_scale\n",
           "        lam_scale, objective_scale = x_scale * y_scale, y_scale\n",
           "tests/test_certificate.py -k equivariance"),
    Mutant("units-huber-threshold", "lipconv/solvers/_units.py",
           'loss = huber(loss.params["delta"] / y_scale)', 'loss = huber(loss.params["delta"])',
           "tests/test_certificate.py -k equivariance"),
    # ---------------------------------------------------------------- extensions (lipconv/extension)
    Mutant("ext-mcshane-forgets-L", "lipconv/extension/_mcshane.py",
           "out[start:stop] = (u[None, :] + L * D).min(axis=1)", "out[start:stop] = (u[None, :] + D).min(axis=1)",
           "tests/test_extension.py -k mcshane"),
    Mutant("ext-whitney-min", "lipconv/extension/_mcshane.py",
           "out[start:stop] = (u[None, :] - L * D).max(axis=1)", "out[start:stop] = (u[None, :] - L * D).min(axis=1)",
           "tests/test_extension.py -k mcshane"),
    Mutant("ext-kirszbraun-stops-when-feasible", "lipconv/extension/_kirszbraun.py",
           "look = np.flatnonzero(S[pending] > T[pending] + tol)", "look = np.flatnonzero(S[pending] > tol)",
           f"tests/test_extension.py {P} -k \"kirszbraun_far_point_binds or kirszbraun_far_point_that_binds\""),
    Mutant("ext-kirszbraun-sequential-ignores-queries", "lipconv/extension/_kirszbraun.py",
           "grown[0, n:] = slack > T[q] + tol", "grown[0, n:] = False",
           "tests/test_extension.py -k kirszbraun_sequential",
           note="equivalent: the earlier queries that a re-solve starts with are only a warm start; the "
                "active-set loop evaluates every constraint (data and earlier queries) and adds the "
                "violated ones itself, so it ends at the same minimax point (one or two rounds later)"),
    Mutant("ext-kirszbraun-sequential-skips-queries", "lipconv/extension/_kirszbraun.py",
           "if max(S[q], slack.max()) <= T[q] + tol:", "if S[q] <= T[q] + tol:",
           "tests/test_extension.py -k kirszbraun_sequential"),
    Mutant("ext-kirszbraun-forgets-L", "lipconv/extension/_kirszbraun.py",
           "    C = L * pairwise_distances(Xq, Xp)\n", "    C = pairwise_distances(Xq, Xp)\n",
           "tests/test_extension.py -k kirszbraun_keeps"),
    Mutant("ext-midpoint-of-mcshane", "lipconv/extension/_mcshane.py",
           "_envelope(X, u, X_new, L, p, True, block_bytes) + _envelope(X, u, X_new, L, p, False, block_bytes)",
           "_envelope(X, u, X_new, L, p, True, block_bytes) + _envelope(X, u, X_new, L, p, True, block_bytes)",
           "tests/test_extension.py -k mcshane_whitney_properties"),
    Mutant("ext-lipschitz-constant-norm-swap", "lipconv/extension/_constants.py",
           "V = pairwise_distances(U[start:stop], U, p=p_y)", "V = pairwise_distances(U[start:stop], U, p=p_x)",
           f"tests/test_extension.py {P} -k lipschitz_constant"),
    Mutant("ext-dataset-constant-factor", "lipconv/extension/_constants.py",
           "    return 1.0 / dmin\n", "    return 2.0 / dmin\n",
           "tests/test_extension.py -k dataset_lipschitz_constant"),
    # ---------------------------------------------------------------- norms (lipconv/norms)
    Mutant("norms-dual-exponent", "lipconv/norms/_pnorm.py",
           "    return q / (q - 1.0)\n", "    return q / (q + 1.0)\n",
           "tests/test_norms.py -k dual_exponent"),
    Mutant("norms-pnorm-root", "lipconv/norms/_pnorm.py",
           "(ratio**q).sum(axis=axis) ** (1.0 / q)", "(ratio**q).sum(axis=axis) ** 0.5",
           "tests/test_norms.py -k pnorm_matches"),
    Mutant("norms-table1-rows-for-columns", "lipconv/norms/_operator.py",
           "return amax(pnorm(A, q, axis=-2), -1)", "return amax(pnorm(A, q, axis=-1), -1)",
           "tests/test_properties.py -k table1"),
    Mutant("norms-table1-primal-for-dual", "lipconv/norms/_operator.py",
           "return amax(pnorm(A, dual_exponent(p), axis=-1), -1)", "return amax(pnorm(A, p, axis=-1), -1)",
           "tests/test_properties.py -k table1"),
    Mutant("norms-steepest-primal-exponent", "lipconv/norms/_pnorm.py",
           "    num = np.sign(a) * np.abs(a) ** (ps - 1.0)", "    num = np.sign(a) * np.abs(a) ** (q - 1.0)",
           "tests/test_properties.py -k steepest_direction_attains"),
    Mutant("norms-power-history-forward-estimate", "lipconv/norms/_iteration.py",
           "            est = pnorm(vt, 2.0)\n", "            est = pnorm(matvec(v), 2.0)\n",
           f"{P} -k power_method_history"),
    Mutant("norms-power-absolute-stopping", "lipconv/norms/_iteration.py",
           "np.all(np.abs(est_np - prev) <= tol * np.abs(est_np))", "np.all(np.abs(est_np - prev) <= tol)",
           f"{P} -k power_method_history"),
    # ---------------------------------------------------------------- W1 bracket (lipconv/discrepancy)
    Mutant("w1-segment-levels", "lipconv/discrepancy/_wasserstein.py",
           "    level = np.arange(n + 1) / n\n\n    def cdf_antiderivative",
           "    level = np.arange(n + 1) / (n + 1)\n\n    def cdf_antiderivative",
           "tests/test_discrepancy.py -k segment"),
    Mutant("w1-lower-side-plus", "lipconv/discrepancy/_wasserstein.py",
           "lo = max(float(np.mean(estimates)) - se_multiple * se, 0.0)",
           "lo = max(float(np.mean(estimates)) + se_multiple * se, 0.0)",
           "tests/test_discrepancy.py -k \"bracket_contains or planted_shift\""),
    Mutant("w1-upper-side-unmargined-potential", "lipconv/discrepancy/_wasserstein.py",
           "at_samples = float(np.mean(weighted_nearest(tree, prices, 1.0, X)[0]))",
           "at_samples = float(np.mean(weighted_nearest(tree, prices, 0.5, X)[0]))",
           "tests/test_discrepancy.py -k \"bracket_contains or planted_shift or independent_pot\""),
    Mutant("w1-circle-no-median", "lipconv/discrepancy/_wasserstein.py",
           "np.sum((hi - lo) * _abs_linear_integral(d_lo - c, d_hi - c))",
           "np.sum((hi - lo) * _abs_linear_integral(d_lo, d_hi))",
           "tests/test_discrepancy.py -k circle_geodesic"),
    Mutant("w1-rho-points-quadrant", "lipconv/discrepancy/_semidiscrete.py",
           "        p = 2.0 * u - 1.0\n", "        p = u.copy()\n",
           f"tests/test_discrepancy.py {P} -k \"bracket_contains or planted_shift or rho_points\""),
    Mutant("w1-tilt-sign", "lipconv/discrepancy/_semidiscrete.py",
           "    const = 0.5 - 0.25 * tau - v\n", "    const = 0.5 + 0.25 * tau - v\n",
           f"tests/test_discrepancy.py {P} -k \"bracket_overlaps or rho_points\""),
    Mutant("w1-segment-forgets-scale", "lipconv/discrepancy/_wasserstein.py",
           'return _exact(manifold.scale * _segment_w1(z, tilt), "exact-segment", metric, n)',
           'return _exact(_segment_w1(z, tilt), "exact-segment", metric, n)',
           "tests/test_discrepancy.py -k segment"),
    # ---------------------------------------------------------------- sup bracket (manifolds/_base.py)
    Mutant("sup-child-bound-halved", "lipconv/manifolds/_base.py",
           "new_ub = v + L * self.scale * self._cell_radius(new_lo, new_hi)",
           "new_ub = v + 0.5 * L * self.scale * self._cell_radius(new_lo, new_hi)",
           f"tests/test_properties.py {P} -k \"interpolation_inequality_on_the_cube or narrow_tent\""),
    Mutant("sup-forgets-closed-cells", "lipconv/manifolds/_base.py",
           "hi = max(float(ub.max(initial=0.0)), closed, lo)", "hi = max(float(ub.max(initial=0.0)), lo)",
           "tests/test_manifolds.py -k lipschitz_sup"),
    Mutant("sup-first-bound-unscaled-radius", "lipconv/manifolds/_base.py",
           "ub = v + L * self.scale * self._cell_radius(cell_lo, cell_hi)\n",
           "ub = v + L * self.scale * 0.5 * self._cell_radius(cell_lo, cell_hi)\n",
           "tests/test_properties.py -k \"interpolation_inequality_on_the_cube or sharp_at_the_corner\""),
    Mutant("cube-quadrature-shifted", "lipconv/manifolds/_manifolds.py",
           "axes = [_midpoints(k, -1.0, 1.0) for k in counts]", "axes = [_midpoints(k, -1.0, 0.98) for k in counts]",
           "tests/test_properties.py -k \"sharp_at_the_corner or documented_finding\""),
    # ---------------------------------------------------------------- rate fits (rates/_fit.py)
    Mutant("fit-bootstrap-not-stratified", "lipconv/rates/_fit.py",
           "boot = np.column_stack([g[rng.integers(0, g.size, size=(n_boot, g.size))].mean(axis=1) for g in groups])",
           "boot = np.column_stack([e[rng.integers(0, e.size, size=(n_boot, g.size))].mean(axis=1) for g in groups])",
           f"{P} -k bootstrap"),
    Mutant("fit-one-sided-alpha", "lipconv/rates/_fit.py",
           "alpha = 0.5 * (1.0 - level)", "alpha = 1.0 - level",
           f"{P} -k \"interval_is_the_stratified or ratio_fields\""),
    Mutant("fit-log-power-dropped", "lipconv/rates/_fit.py",
           'power = 1.0 / (m + 2) if quantity in ("linf_lo", "linf_hi") else 1.0', "power = 1.0",
           f"{P} -k log_corrected"),
    Mutant("fit-log-correction-dropped", "lipconv/rates/_fit.py",
           "np.vstack([discrepancy_bound(n_values, m), sharp_rate(n_values, m)])",
           "np.vstack([n_values ** theory, sharp_rate(n_values, m)])",
           f"{P} -k log_corrected"),
    Mutant("fit-strong-only-squared", "lipconv/rates/_fit.py",
           'float(group["theta"].iloc[0]) > 0', 'float(group["theta"].iloc[0]) >= 2',
           f"{P} -k theorem_that_the_loss_allows"),
    Mutant("fit-unresolved-rise-counts", "lipconv/rates/_fit.py",
           "resolved_rise = (rfit.means[1:] > rfit.means[:-1]) & (rfit.mean_ci[1:, 0] > rfit.mean_ci[:-1, 1])",
           "resolved_rise = rfit.means[1:] > rfit.means[:-1]",
           f"tests/test_rates.py {P} -k \"fit_rate_verdict_for_sharp_w1 or rise_within\""),
    Mutant("fit-means-are-medians", "lipconv/rates/_fit.py",
           "means = np.array([g.mean() for g in groups])", "means = np.array([np.median(g) for g in groups])",
           f"{P} tests/test_paper_figures.py -k \"interval_is_the_stratified or fig2\""),
    Mutant("bounds-exponent-without-log", "lipconv/discrepancy/_bounds.py",
           "C * (t * np.log(arr) / arr) ** (1.0 / (m + 2))", "C * (t / arr) ** (1.0 / (m + 2))",
           "tests/test_paper_figures.py -k fig2"),
    Mutant("fit-local-slopes-linear", "lipconv/rates/_fit.py",
           "local_slopes=np.diff(np.log(means)) / np.diff(logn)", "local_slopes=np.diff(means) / np.diff(n_values)",
           "tests/test_rates.py -k exact_power_law"),
    Mutant("fit-max-ratio-is-mean", "lipconv/rates/_fit.py",
           "max_ratio=float(rfit.means.max())", "max_ratio=float(rfit.means.mean())",
           f"{P} -k ratio_fields"),
    # ---------------------------------------------------------------- metrics and bounds (rates/_metrics.py)
    Mutant("metrics-bound-forgets-theta", "lipconv/rates/_metrics.py",
           "l2 = 2.0 / theta * J_ref / lam * rate", "l2 = J_ref / lam * rate",
           f"{P} -k theorem_48"),
    Mutant("metrics-linf-bound-m-not-squared", "lipconv/rates/_metrics.py",
           '"bound_linf": float((m * m * lipschitz_diff**m * l2)', '"bound_linf": float((m * lipschitz_diff**m * l2)',
           f"{P} -k theorem_48"),
    Mutant("metrics-lemma412-factor", "lipconv/rates/_metrics.py",
           "ratios.append(0.5 * problem.theta * l2[k] / upper", "ratios.append(0.25 * problem.theta * l2[k] / upper",
           f"tests/test_rates.py {P} -k \"lemma_412\""),
    Mutant("metrics-error-lipschitz-drops-reference", "lipconv/rates/_metrics.py",
           "    Le = L + problem.lipschitz_ref\n", "    Le = L\n",
           f"tests/test_rates.py {P} -k \"sup_bracket_contains or lipschitz_constant_of_the_error\""),
    Mutant("metrics-worst-is-midpoint", "lipconv/rates/_metrics.py",
           "        worst = max(EXTENSIONS, key=l2.get)\n        rel = ", '        worst = "midpoint"\n        rel = ',
           "tests/test_rates.py -k envelope_errors_bracket"),
    # ---------------------------------------------------------------- issue 27: numbers of the newer code
    # W1 bracket: which spread the upper margin takes, the replicates' size, the lower side's standard
    # error and where the lower side evaluates its potential.
    Mutant("w1-hi-margin-se", "lipconv/discrepancy/_wasserstein.py",
           "hi = plan_cost + se_multiple * spread", "hi = plan_cost + se_multiple * se",
           f"{W} -k w1_bracket"),
    Mutant("w1-replicates-half-size", "lipconv/discrepancy/_wasserstein.py",
           "rho_points(manifold, size, rng)[0])[0]) - at_samples",
           "rho_points(manifold, min(size, max(4096, size // 2)), rng)[0])[0]) - at_samples",
           f"{W} tests/test_bad_input.py -k w1_bracket"),
    Mutant("w1-lower-se-undivided", "lipconv/discrepancy/_wasserstein.py",
           "se = spread / float(np.sqrt(replicates))", "se = spread",
           f"{W} -k w1_bracket"),
    Mutant("w1-lower-at-plan-points", "lipconv/discrepancy/_wasserstein.py",
           "at_samples = float(np.mean(weighted_nearest(tree, prices, 1.0, X)[0]))",
           "at_samples = float(np.mean(weighted_nearest(tree, prices, 1.0, Y)[0]))",
           f"{W} -k w1_bracket"),
    # Stratified standard error and Lemma 4.12's per-run ratio.
    Mutant("strat-se-ddof", "lipconv/manifolds/_base.py",
           "weights=(f - mean[strata]) ** 2, minlength=K) / (nh - 1)", "weights=(f - mean[strata]) ** 2, minlength=K) / nh",
           f"{W} -k stratified_error"),
    Mutant("strat-se-weights-not-squared", "lipconv/manifolds/_base.py",
           "np.sum(Wh**2 * ss / nh)", "np.sum(Wh * ss / nh)",
           f"{W} -k stratified_error"),
    Mutant("stratified-weights-not-renormalized", "lipconv/manifolds/_base.py",
           "return self._clip(self.embed(p)), w / w.sum(), strata", "return self._clip(self.embed(p)), w / P.shape[0], strata",
           f"{W} -k \"stratified_error or stratified_weights\""),
    Mutant("metrics-lemma412-se-wrong-side", "lipconv/rates/_metrics.py",
           "upper = excess + 2.0 * se_k", "upper = excess - 2.0 * se_k",
           f"{W} -k lemma_412"),
    # Certified sup brackets: the cell radius of the sphere's (z, phi) cells.
    Mutant("sphere-cell-radius-no-equator", "lipconv/manifolds/_manifolds.py",
           "r_max = np.where(straddle, 1.0, np.maximum(r_lo, r_hi))", "r_max = np.maximum(r_lo, r_hi)",
           f"{W} -k cell_radius"),
    Mutant("sphere-cell-radius-min-side", "lipconv/manifolds/_manifolds.py",
           "r_max**2 * dphi**2", "r_min**2 * dphi**2",
           f"{W} -k cell_radius"),
    # The lifted reference's certified L2 and sup bounds.
    Mutant("lifted-l2-forgets-theta", "lipconv/continuum/_lifted.py",
           "e2 = float(np.sqrt(2.0 * err / theta))", "e2 = float(np.sqrt(err / theta))",
           f"{W} -k lifted_reference_bounds"),
    Mutant("lifted-sup-constant", "lipconv/continuum/_lifted.py",
           "b = (6.0 * Lf * e2**2) ** (1.0 / 3.0)", "b = (3.0 * Lf * e2**2) ** (1.0 / 3.0)",
           f"{W} -k lifted_reference_bounds"),
    Mutant("lifted-sup-power", "lipconv/continuum/_lifted.py",
           "b = (6.0 * Lf * e2**2) ** (1.0 / 3.0)", "b = (6.0 * Lf * e2**2) ** 0.5",
           f"{W} -k lifted_reference_bounds"),
    Mutant("lifted-Lf-without-lipstar", "lipconv/continuum/_lifted.py",
           "Lf = slope + lip_star", "Lf = slope",
           f"{W} -k lifted_reference_bounds"),
    # Samplers and quadratures against their stated density.
    Mutant("sampler-rejection-tilted-the-other-way", "lipconv/manifolds/_base.py",
           "accept = gen.uniform(0.0, bound, size=batch) < self._density_model(p)",
           "accept = gen.uniform(0.0, bound, size=batch) < 2.0 - self._density_model(p)",
           f"{W} -k samples_follow"),
    Mutant("sphere-sampler-cube-projection", "lipconv/manifolds/_manifolds.py",
           "g = rng.standard_normal((n, 3))", "g = rng.uniform(-1.0, 1.0, (n, 3))",
           f"{W} -k samples_follow"),
    Mutant("quadrature-density-twice", "lipconv/manifolds/_base.py",
           "w = w * self._density_model(p)", "w = w * self._density_model(p) ** 2",
           f"{W} -k quadrature_and_stratified"),
    # A sup error in the wrong power (Corollary 4.9's bound).
    Mutant("bounds-linf-power", "lipconv/rates/_metrics.py",
           "m * m * lipschitz_diff**m * l2) ** (1.0 / (m + 2))", "m * m * lipschitz_diff**m * l2) ** (1.0 / (m + 1))",
           f"{P} tests/test_rates.py -k theorem"),
    # The pairs method's certificate (its multipliers), recomputed from the data alone.
    Mutant("pairs-multipliers-unscaled", "lipconv/solvers/_pairs.py",
           "M = multipliers() / sigma", "M = multipliers()",
           f"{W} -k pairs_certificate"),
    Mutant("pairs-dual-orientation", "lipconv/solvers/_pairs.py",
           "return cons, lambda: (np.asarray(cons[0].dual_value) - np.asarray(cons[1].dual_value))[:, None]",
           "return cons, lambda: (np.asarray(cons[1].dual_value) - np.asarray(cons[0].dual_value))[:, None]",
           f"{W} -k pairs_certificate"),
    # The power method's normalization of its iterates.
    Mutant("power-u-unnormalized", "lipconv/norms/_iteration.py",
           "            u = _normalize(matvec(v), 2.0)\n", "            u = matvec(v)\n",
           f"{W} -k power_method"),
    Mutant("power-v-unnormalized", "lipconv/norms/_iteration.py",
           "v_new = _normalize(vt, 2.0)", "v_new = vt",
           f"{W} -k power_method"),
    # AMLE graph edge lengths in the 1- and inf-norms (the numba kernel).
    Mutant("amle-csr-l1-is-linf", "lipconv/extension/_amle_numba.py",
           "            if p == 1.0:\n                s += t", "            if p == 1.0:\n                s = max(s, t)",
           f"{W} -k point_cloud_graph"),
    Mutant("amle-csr-linf-is-l1", "lipconv/extension/_amle_numba.py",
           "            else:\n                s = max(s, t)\n        length[e]", "            else:\n                s += t\n        length[e]",
           f"{W} -k point_cloud_graph"),
    # ---------------------------------------------------------------- issue 26: the forest engine
    # A wrong potential or ratio test makes the dual steps cycle: those two are killed by a 120 s timeout
    # (their selection takes about 12 s unmutated).
    Mutant("forest-newton-lam-undivided", "lipconv/solvers/_forest_numba.py",
           "return (num - 0.5 * lam) / den, stamp", "return (num - lam) / den, stamp",
           "tests/test_cutting_plane.py -k \"forest_engine_reaches or forest_is_the_default\""),
    Mutant("forest-partial-step-wrong-direction", "lipconv/solvers/_forest_numba.py",
           "u[order[q]] -= 0.5 * best / W1", "u[order[q]] += 0.5 * best / W1",
           "tests/test_cutting_plane.py -k \"forest_engine_reaches or forest_is_the_default\""),
    Mutant("forest-merged-potential-sign", "lipconv/solvers/_forest_numba.py",
           "psi[v] -= dij", "psi[v] += dij",
           "tests/test_cutting_plane.py -k \"forest_engine_reaches or forest_is_the_default\"", timeout=120.0),
    Mutant("forest-ratio-test-wrong-end", "lipconv/solvers/_forest_numba.py",
           "upper_child = ea[pedge[v]] == v", "upper_child = eb[pedge[v]] == v",
           "tests/test_cutting_plane.py -k \"forest_engine_reaches or forest_is_the_default\"", timeout=120.0),
    # ---------------------------------------------------------------- issue 25: the sharpness study
    Mutant("floor-constant-inverted", "lipconv/discrepancy/_bounds.py",
           "value = m / (m + 1.0) * (arr * K) ** (-1.0 / m)", "value = (m + 1.0) / m * (arr * K) ** (-1.0 / m)",
           "tests/test_sharpness.py -k floor"),
    Mutant("bumps-at-the-entropy-scale", "lipconv/rates/_sharpness.py",
           "h = BUMP_CELL * float(n) ** (-1.0 / (m + 2))", "h = BUMP_CELL * float(n) ** (-1.0 / m)",
           "tests/test_sharpness.py -k bump_target"),
    # ---------------------------------------------------------------- issue 24: the network's own errors
    Mutant("network-sup-without-the-reference-constant", "lipconv/rates/_metrics.py",
           "return float(upper) + problem.lipschitz_ref", "return float(upper)",
           "tests/test_network_panel.py -k network_rows_hold",
           note="not equivalent (the bracket's certificate needs Lip(u_theta) + Lip(u^lam)), but not seen: the "
                "branch and bound refines the cells near the attained maximum whatever the constant, and the "
                "ramp's u^lam has its extremes on plateaus whose edges are on the first grid; planted networks "
                "(tents of slope 0.5 and 40 on the cube) left the mutant's upper end above an 801^2 grid's "
                "maximum. A target whose extremes lie between grid points (a curved manifold) would be needed."),
    # ---- nn mutants below
    # ---------------------------------------------------------------- lipconv.nn (issues 27 and 28)
    Mutant("nn-clever-weibull-location-sign", "lipconv/nn/_clever.py",
           "    return -float(loc)\n", "    return float(loc)\n",
           "tests/test_nn_clever.py -k reverse_weibull"),
    Mutant("nn-clever-weibull-fit-to-maxima", "lipconv/nn/_clever.py",
           "stats.weibull_min.fit(-m, c_init,", "stats.weibull_min.fit(m, c_init,",
           "tests/test_nn_clever.py -k reverse_weibull"),
    Mutant("nn-clever-estimate-not-capped", "lipconv/nn/_clever.py",
           "est[i, j] = min(max(fit, top), hi)", "est[i, j] = max(fit, top)",
           "tests/test_nn_clever.py -k capped"),
    Mutant("nn-clever-estimate-not-raised", "lipconv/nn/_clever.py",
           "est[i, j] = min(max(fit, top), hi)", "est[i, j] = min(fit, hi)",
           "tests/test_nn_clever.py -k certified_bracket"),
    Mutant("nn-clever-guard-against-the-refined-maximum", "lipconv/nn/_clever.py",
           "            repeated = _repeated_top(Jm[:, j, :], G[:, j], rtol)\n",
           "            repeated = np.count_nonzero(G[:, j] >= top * (1 - 1e-12)) > 1\n",
           "tests/test_nn_clever.py -k rounding"),
    Mutant("nn-clever-guard-exact-ties", "lipconv/nn/_clever.py",
           "rtol = min(1e3 * torch.finfo(x.dtype).eps, 0.01)", "rtol = 1e-12",
           "tests/test_nn_clever.py -k rounding",
           note="equivalent on CPU: the rows of one linear region are bitwise equal here (the backward pass of "
                "a ReLU network does no x-dependent arithmetic); the tolerance is for kernels whose rounding "
                "depends on the position in the batch"),
    Mutant("nn-clever-refine-without-proposals", "lipconv/nn/_clever.py",
           "sigma = _REFINE_SCALE * radius * 0.01 ** (it / max(1, steps - 1))", "sigma = 0.0 * radius",
           "tests/test_nn_clever.py -k relu"),
    Mutant("nn-clever-upper-primal-norm", "lipconv/nn/_clever.py",
           "last = dual_norm(rows, p).reshape(k, k)", "last = dual_norm(rows, 2.0).reshape(k, k)",
           "tests/test_nn_robust.py -k linear_model_is_exact"),
    Mutant("nn-apgd-step-decay", "lipconv/nn/_l1.py",
           "_APGD_STEP_DECAY = 1.5", "_APGD_STEP_DECAY = 2.0",
           "tests/test_nn_l1.py -k independent_implementation"),
    Mutant("nn-apgd-no-restart-from-best", "lipconv/nn/_l1.py",
           "            delta = torch.where(sparser, delta_best, delta)\n", "",
           "tests/test_nn_l1.py -k independent_implementation"),
    Mutant("nn-apgd-box-blind-coordinates", "lipconv/nn/_l1.py",
           "            a = torch.where(blocked, torch.zeros_like(a), a)\n        k = (frac",
           "        k = (frac",
           "tests/test_nn_l1.py -k independent_implementation"),
    Mutant("nn-pgd-restarts-keep-lowest", "lipconv/nn/_attacks.py",
           "higher = (lr > lb).reshape(shape)", "higher = (lr < lb).reshape(shape)",
           "tests/test_nn_l1.py -k restarts"),
    Mutant("nn-check-finite-skipped", "lipconv/nn/_common.py",
           "    if bad:\n        raise ValueError(f\"{x_name} must be finite", "    if False:\n        raise ValueError(f\"{x_name} must be finite",
           "tests/test_nn_bad_input.py"),
    Mutant("nn-check-box-skipped", "lipconv/nn/_common.py",
           "if lo < clamp[0] or hi > clamp[1]:", "if False:",
           "tests/test_nn_bad_input.py"),
    Mutant("nn-check-labels-upper-end", "lipconv/nn/_common.py",
           "if lo < 0 or (top is not None and hi >= top):", "if lo < 0:",
           "tests/test_nn_bad_input.py"),
    Mutant("nn-fd-forward-difference-in-bfloat16", "lipconv/nn/_regularizers.py",
           "    if x.dtype not in _FD_LOW_PRECISION:\n", "    if True:\n",
           "tests/test_nn_robust.py -k bfloat16_fd"),
    Mutant("nn-loss-in-bfloat16", "lipconv/nn/_common.py",
           "        out = out.float()\n", "        out = out\n",
           "tests/test_nn_robust.py -k bfloat16_fd"),
    Mutant("ce-newton-simplex-cuts-never-added", "lipconv/solvers/_subproblem.py",
           "                self.bounded |= below\n", "                break\n",
           "tests/test_nn_best_loss.py -k \"simplex_bounds and cutting\""),
    Mutant("ce-pairs-simplex-cuts-never-added", "lipconv/solvers/_pairs.py",
           "        bounded |= below\n", "        break\n",
           "tests/test_nn_best_loss.py -k \"simplex_bounds and pairs\""),
    Mutant("ce-newton-all-simplex-rows-upfront", "lipconv/solvers/_subproblem.py",
           "self.bounded = np.zeros(n * k, dtype=bool)", "self.bounded = np.ones(n * k, dtype=bool)",
           "tests/test_nn_best_loss.py -k ten_class"),
]


def _copy_tree(dest: Path) -> None:
    for name in ("lipconv", "tests", "paper_figures", "studies"):
        shutil.copytree(REPO / name, dest / name, copy_function=shutil.copy2,
                        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis"))
    shutil.copy2(REPO / "pyproject.toml", dest / "pyproject.toml")


def _run(copy: Path, tests: str, numba_cache: Path, timeout: float = TIMEOUT_S) -> tuple[bool, float, str]:
    """Run the selected tests in the copy; (passed, seconds, last lines of output)."""
    env = dict(os.environ, PYTHONPATH=str(copy), NUMBA_CACHE_DIR=str(numba_cache), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *shlex.split(tests)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - t0, "timeout"
    tail = (proc.stdout + proc.stderr).strip().splitlines()[-1:] or [""]
    # Exit code 5: no test selected, a broken selection, not a kill.
    if proc.returncode == 5:
        raise RuntimeError(f"no tests selected by {tests!r}")
    return proc.returncode == 0, time.perf_counter() - t0, tail[0]


def _check(copy: Path, m: Mutant) -> str:
    text = (copy / m.path).read_text()
    count = text.count(m.old)
    if count != 1:
        raise RuntimeError(f"mutant {m.name}: the old string occurs {count} times in {m.path}, expected once")
    return text


def _interrupt(signum, frame):
    # A terminated run ends like Ctrl-C: subprocess.run kills the running pytest and the temporary
    # copy is removed.
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv=None) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="run only the mutants whose name starts with one of these "
                        "comma-separated prefixes")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run the selections unmutated first")
    parser.add_argument("--tests", default=None, help="pytest arguments replacing every mutant's own selection "
                        "(to check that one test alone kills a mutant)")
    args = parser.parse_args(argv)
    mutants = [m for m in MUTANTS if m.name.startswith(tuple(args.only.split(",")))]
    if args.tests is not None:
        mutants = [dataclasses.replace(m, tests=args.tests) for m in mutants]
    if args.list:
        for m in mutants:
            print(f"{m.name:45s} {m.path:40s} {m.tests}")
        return 0
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lipconv-mutants-") as tmp:
        copy = Path(tmp) / "repo"
        copy.mkdir()
        _copy_tree(copy)
        shared_cache = Path(tmp) / "numba-cache"
        for m in mutants:
            _check(copy, m)
        if not args.skip_baseline:
            for tests in dict.fromkeys(m.tests for m in mutants):
                ok, secs, tail = _run(copy, tests, shared_cache)
                print(f"baseline {'pass' if ok else 'FAIL'} {secs:6.1f}s  {tests}", flush=True)
                if not ok:
                    print(f"  the unmutated tests fail ({tail}); fix them before counting kills", flush=True)
                    return 2
        rows = []
        for k, m in enumerate(mutants):
            target = copy / m.path
            original = _check(copy, m)
            stat = target.stat()
            target.write_text(original.replace(m.old, m.new))
            cache = shared_cache
            if m.path.endswith(NUMBA_MODULES):
                cache = Path(tmp) / f"numba-cache-{k}"
            try:
                passed, secs, tail = _run(copy, m.tests, cache, m.timeout)
            finally:
                target.write_text(original)
                os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
                if cache != shared_cache:
                    shutil.rmtree(cache, ignore_errors=True)
            status = "survived" if passed else "killed"
            rows.append((m, status, secs))
            print(f"{status:8s} {secs:6.1f}s  {m.name:45s} {tail}", flush=True)
    killed = sum(status == "killed" for _, status, _ in rows)
    print()
    print(f"{'mutant':45s} {'module':42s} {'result':8s} {'seconds':>7s}")
    for m, status, secs in rows:
        print(f"{m.name:45s} {m.path:42s} {status:8s} {secs:7.1f}")
    print()
    print(f"killed {killed} of {len(rows)} mutants: {100.0 * killed / max(1, len(rows)):.1f} % "
          f"(total {time.perf_counter() - t_start:.0f} s)")
    for m, status, _ in rows:
        if status == "survived":
            print(f"survivor {m.name}: {m.note or 'no explanation recorded'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
