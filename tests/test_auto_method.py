"""Tests of ``method="auto"`` of :func:`lipconv.solvers.lipschitz_regression` (issue 13, part 4): it
picks the faster exact method (the cutting plane, in every dimension) and agrees
with the all-pairs reference (cvxpy, :mod:`lipconv.solvers._pairs`) on the answer."""
from __future__ import annotations

import numpy as np
import pytest

from lipconv.manifolds import FlatCube, onehot_label, ramp_label
from lipconv.rates import convex_runner
from lipconv.solvers import lipschitz_regression

LAM = 0.01


def _problem(loss, n, k=1, seed=0):
    """FlatCube(2, 3) samples (d = 3) with one-hot labels from x_1 for the cross-entropy, ramp(0.5)
    labels plus 0.1 N(0, 1) noise per column otherwise."""
    M = FlatCube(2, 3, seed=0)
    rng = np.random.default_rng(seed)
    X = M.sample(n, rng)
    if loss == "cross_entropy":
        return X, onehot_label(k).on(M, X)
    t = M.coordinate(X)
    y = np.stack([ramp_label(0.5)(t) * (-1.0) ** c for c in range(k)], axis=1) + 0.1 * rng.standard_normal((n, k))
    return X, y[:, 0] if k == 1 else y


@pytest.mark.parametrize("n", [20, 60])
@pytest.mark.parametrize("k", [2, 3])
def test_auto_picks_cutting_plane_for_cross_entropy_in_several_dimensions(n, k):
    X, y = _problem("cross_entropy", n, k)
    res = lipschitz_regression(X, y, lam=LAM, loss="cross_entropy", method="auto")
    assert res.method == "cutting-plane"
    assert res.certified


@pytest.mark.parametrize("loss,k,p_y", [
    ("squared", 1, 2), ("squared", 2, 2), ("squared", 3, 1), ("absolute", 2, np.inf), ("huber", 1, 2),
    ("huber", 2, 1), ("cross_entropy", 3, np.inf),
])
def test_auto_picks_cutting_plane_in_several_dimensions_for_every_loss(loss, k, p_y):
    X, y = _problem(loss, 40, k)
    res = lipschitz_regression(X, y, lam=LAM, loss=loss, p_y=p_y, method="auto")
    assert res.method == "cutting-plane"
    assert res.certified


@pytest.mark.parametrize("loss,k", [("squared", 1), ("huber", 1), ("squared", 2), ("cross_entropy", 3)])
def test_auto_picks_the_cutting_plane_in_one_dimension_and_agrees_with_adjacent_pairs(loss, k):
    X, y = _problem(loss, 400, k)
    t = FlatCube(2, 3, seed=0).coordinate(X)  # the labels' own coordinate: a 1-D problem
    res = lipschitz_regression(t, y, lam=LAM, loss=loss, method="auto")
    ref = lipschitz_regression(t, y, lam=LAM, loss=loss, method="pairs")
    assert res.method == "cutting-plane" and ref.n_pairs == len(t) - 1
    assert res.certified and ref.certified
    np.testing.assert_allclose(res.objective, ref.objective, rtol=1e-6, atol=0.0)


@pytest.mark.parametrize("loss,k,p_y", [
    ("squared", 1, 2), ("absolute", 1, 2), ("huber", 1, 2), ("cross_entropy", 3, 2),
    ("squared", 2, 2), ("absolute", 2, 1), ("huber", 3, np.inf), ("cross_entropy", 2, 1),
])
def test_auto_agrees_with_all_pairs(loss, k, p_y):
    X, y = _problem(loss, 30, k, seed=1)
    auto = lipschitz_regression(X, y, lam=LAM, loss=loss, p_y=p_y, method="auto")
    ref = lipschitz_regression(X, y, lam=LAM, loss=loss, p_y=p_y, method="pairs")
    assert auto.method == "cutting-plane" and ref.method == "pairs"
    assert auto.certified and ref.certified
    np.testing.assert_allclose(auto.objective, ref.objective, rtol=1e-6, atol=0.0)


def test_convex_runner_defers_to_the_solvers_auto():
    X, y = _problem("cross_entropy", 40, 3)
    res = convex_runner(X, y, lam=LAM, loss="cross_entropy")
    assert res.method == "cutting-plane"
    t = FlatCube(2, 3, seed=0).coordinate(X)
    assert convex_runner(t, y, lam=LAM, loss="cross_entropy").method == "cutting-plane"


def test_auto_falls_back_to_all_pairs_when_the_cutting_plane_fails(monkeypatch):
    """A SolverError of the cutting plane under "auto" is retried with all pairs (small n) and
    recorded; with the method named explicitly it propagates."""
    import lipconv.solvers._api as api
    from lipconv.solvers import SolverError

    def broken(*args, **kwargs):
        raise SolverError("planted failure")

    monkeypatch.setitem(api._METHOD_SOLVERS, "cutting-plane", broken)
    X, y = _problem("squared", 40)
    res = lipschitz_regression(X, y, lam=LAM, method="auto")
    assert res.method == "pairs" and "planted failure" in res.info["fallback"] and res.certified
    with pytest.raises(SolverError, match="planted"):
        lipschitz_regression(X, y, lam=LAM, method="cutting-plane")
