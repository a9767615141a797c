r"""The registry of methods that compute u_n for a rate sweep.

A method runner is a callable

    runner(X, y, *, lam, loss, seed) -> result

with X (n, d) samples, y (n,) or (n, k) labels, lam the ambient regularization weight, loss a
name or :class:`lipconv.losses.Loss`, and seed an int (for methods with randomness). The result
must have

* ``predict(X_new)`` -> (N,) or (N, k): the function :math:`\bar u_n` on new points;
* ``lipschitz``: float, an (upper estimate of the) ambient Lipschitz constant of ``predict``, used
  in :math:`J[\bar u_n] = \int \ell(\bar u_n, y)\rho + \lambda\,\mathrm{Lip}(\bar u_n)`;
* ``objective``: float, :math:`J_n[u_n]` ([FCAO] eq. (2.7)) at the returned solution;

and may have ``method`` (str), ``max_violation`` and ``relative_gap`` (floats, the two parts of
the certificate) and ``solve_time`` (float), which are recorded when present. :class:`lipconv.solvers.LipschitzResult` qualifies.

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
