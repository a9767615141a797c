r"""The registry of methods that compute u_n for a rate sweep.

A method runner is a callable

    runner(X, y, *, lam, loss, seed) -> result

with X (n, d) samples, y (n,) or (n, k) labels, lam the ambient regularization weight, loss a
name or :class:`lipconv.losses.Loss`, and seed an int (for methods with randomness). The result
must have

* ``predict(X_new)`` -> (N,) or (N, k): the function :math:`\bar u_n` on new points;
* ``lipschitz``: float, the Lipschitz constant L of the returned minimizer at which ``objective`` is
  evaluated; the sample values are L-Lipschitz on the samples, and the error metrics measure their
  L-Lipschitz extensions (:func:`lipconv.rates.error_metrics`);
* ``objective``: float, :math:`J_n[u_n]` ([FCAO] eq. (2.7)) at the returned solution;

and may have

* ``values``: (n,) or (n, k), the minimizer's values at the samples (default: ``predict(X)``);
* ``p_x``: the norm on X of the Lipschitz constraint (default 2);
* ``lipschitz_upper``: a certified upper bound of the Lipschitz constant of ``predict`` on the box X
  of (2.7) (which holds M). A method that has it returns a function defined everywhere (a
  network), whose own errors are then measured beside those of the extensions of its values
  (columns ``l2sq_function``, ``linf_function_lo``/``hi``);
* ``method`` (str), ``solve_time`` (float), and the floats ``max_violation`` and ``relative_gap`` (the
  two parts of the certificate of (values, lipschitz) as a point of the exact program),
  ``objective_upper`` (:math:`J_n` at ``lipschitz_upper``), ``lower_bound`` (a certified lower bound of
  the optimum of (2.7)) and ``relative_gap_upper``, each recorded when present
  (:data:`lipconv.rates._sweep.OPTIONAL_RESULT_COLUMNS`).

:class:`lipconv.solvers.LipschitzResult` and :class:`lipconv.neural.NeuralResult` qualify; the sweep
and the metrics use no other attribute (STYLE.md: the protocol is the only door).

To add a method, add one entry to :data:`METHOD_RUNNERS` in this module, as ``"neural"`` is
added below (a module-level function that imports its backend lazily).

``run_sweep`` and ``studies/rates.py --method neural`` then accept the name. The runner is resolved
in the parent process and sent to the workers by reference, so it must be a module-level function.
"""
from __future__ import annotations

from collections.abc import Callable

__all__ = ["METHOD_RUNNERS", "get_runner", "convex_runner"]


def convex_runner(X, y, *, lam, loss, seed=None, method="auto"):
    """The exact convex program ([FCAO] eq. (2.7)) by :func:`lipconv.solvers.lipschitz_regression`.

    ``method`` is passed on unchanged, so ``"auto"`` is the solver's one rule
    (:func:`lipconv.solvers.lipschitz_regression`: the cutting plane, faster than all pairs at
    every measured n, loss and dimension). The program is
    deterministic, so ``seed`` is unused.
    """
    from ..solvers import lipschitz_regression

    return lipschitz_regression(X, y, lam=lam, loss=loss, method=method)


def _pairs_runner(X, y, *, lam, loss, seed=None):
    return convex_runner(X, y, lam=lam, loss=loss, seed=seed, method="pairs")


def _cutting_plane_runner(X, y, *, lam, loss, seed=None):
    return convex_runner(X, y, lam=lam, loss=loss, seed=seed, method="cutting-plane")


def _neural_runner(X, y, *, lam, loss, seed=None):
    from ..neural import rate_runner  # imported lazily: torch stays out of `import lipconv`

    return rate_runner(X, y, lam=lam, loss=loss, seed=seed)


METHOD_RUNNERS: dict[str, Callable] = {
    "convex": convex_runner,
    "pairs": _pairs_runner,
    "cutting-plane": _cutting_plane_runner,
    "neural": _neural_runner,
}


def get_runner(name: str) -> Callable:
    """The runner registered under ``name`` in :data:`METHOD_RUNNERS`."""
    if name not in METHOD_RUNNERS:
        raise ValueError(f"method must be one of {tuple(METHOD_RUNNERS)}, got {name!r}")
    return METHOD_RUNNERS[name]
