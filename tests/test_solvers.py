"""Reference all-pairs solver: certificates, cross-solver agreement, Lemma 4.4, bad input."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lipconv.extension import lipschitz_constant
from lipconv.losses import get_loss
from lipconv.solvers import LipschitzResult, SolverError, kantorovich_dual, lipschitz_regression

VIOLATION_TOL = 1e-6  # relative to L; Clarabel stops at 1e-8 feasibility.


def _instance(seed: int, n: int = 30, d: int = 2):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, d))
    y = np.sign(X[:, 0] - 0.5) + 0.3 * rng.standard_normal(n)
    return X, y


@pytest.mark.parametrize("loss", ["squared", "absolute", "huber"])
@pytest.mark.parametrize("p_x", [1, 2, np.inf])
def test_certificate_scalar(loss, p_x):
    X, y = _instance(0)
    res = lipschitz_regression(X, y, lam=0.05, loss=loss, p_x=p_x, method="pairs")
    assert isinstance(res, LipschitzResult)
    assert res.status == "optimal"
    assert res.max_violation <= VIOLATION_TOL
    assert res.values.shape == (30, 1)
    assert res.n_pairs == 30 * 29 // 2
    np.testing.assert_allclose(res.objective, res.loss_value + 0.05 * res.lipschitz, rtol=1e-12)
    # L is the discrete Lipschitz constant of the solution (tight at the optimum).
    np.testing.assert_allclose(lipschitz_constant(X, res.values, p_x=p_x), res.lipschitz, rtol=1e-5)


@pytest.mark.parametrize("p_y", [1, 2, np.inf])
def test_certificate_vector(p_y):
    rng = np.random.default_rng(3)
    X = rng.uniform(size=(25, 2))
    Y = np.column_stack([np.sin(3 * X[:, 0]), np.cos(3 * X[:, 1]), X[:, 0] * X[:, 1]])
    res = lipschitz_regression(X, Y, lam=0.02, p_y=p_y, method="pairs")
    assert res.values.shape == (25, 3)
    assert not res.scalar
    assert res.max_violation <= VIOLATION_TOL
    np.testing.assert_allclose(lipschitz_constant(X, res.values, p_y=p_y), res.lipschitz, rtol=1e-5)


def test_cross_entropy_on_simplex():
    rng = np.random.default_rng(4)
    X = rng.uniform(size=(30, 2))
    Z = np.eye(3)[(X[:, 0] * 3).astype(int).clip(0, 2)]
    res = lipschitz_regression(X, Z, lam=0.01, loss="cross_entropy", method="pairs")
    assert res.max_violation <= VIOLATION_TOL
    np.testing.assert_allclose(res.values.sum(axis=1), 1.0, atol=1e-7)
    assert res.values.min() >= -1e-7


@pytest.mark.parametrize("loss, other", [("squared", "OSQP"), ("squared", "SCS"), ("absolute", "HIGHS")])
def test_objective_agrees_across_solvers(loss, other):
    X, y = _instance(1, n=40)
    a = lipschitz_regression(X, y, lam=0.05, loss=loss, solver="CLARABEL", method="pairs")
    b = lipschitz_regression(X, y, lam=0.05, loss=loss, solver=other, method="pairs")
    np.testing.assert_allclose(a.objective, b.objective, rtol=1e-6)
    assert b.max_violation <= VIOLATION_TOL


def test_one_dimensional_adjacent_pairs_match_all_pairs():
    """In 1-D, adjacent pairs are exactly equivalent to all pairs (triangle inequality)."""
    rng = np.random.default_rng(5)
    x = rng.uniform(size=60)
    y = np.sign(x - 0.4) + 0.2 * rng.standard_normal(60)
    adj = lipschitz_regression(x, y, lam=0.03, method="pairs")
    # Embedding the line in 2-D with a zero second coordinate keeps distances; all pairs there.
    full = lipschitz_regression(np.column_stack([x, np.zeros_like(x)]), y, lam=0.03, method="pairs")
    assert adj.n_pairs == 59 and full.n_pairs == 60 * 59 // 2
    np.testing.assert_allclose(adj.objective, full.objective, rtol=1e-6)
    np.testing.assert_allclose(adj.values, full.values, atol=1e-5)
    assert adj.max_violation <= VIOLATION_TOL


def test_duplicate_points_get_equal_values():
    X, y = _instance(6, n=20)
    X = np.vstack([X, X[:3]])
    y = np.concatenate([y, y[:3] + 1.0])
    res = lipschitz_regression(X, y, lam=0.05)
    np.testing.assert_allclose(res.values[20:], res.values[:3], atol=1e-6)
    assert res.max_violation <= VIOLATION_TOL


def test_weights_equal_to_repeated_samples():
    """Weights w_i stand for a quadrature of rho: weight 2/n equals a sample repeated twice."""
    X, y = _instance(7, n=15)
    w = np.ones(15)
    w[:5] = 2.0
    weighted = lipschitz_regression(X, y, lam=0.05, weights=w / w.sum())
    repeated = lipschitz_regression(np.vstack([X, X[:5]]), np.concatenate([y, y[:5]]), lam=0.05)
    np.testing.assert_allclose(weighted.objective, repeated.objective, rtol=1e-6)


def test_large_lam_gives_constant_median_or_mean():
    X, y = _instance(8, n=25)
    res = lipschitz_regression(X, y, lam=1e3)
    assert res.lipschitz <= 1e-6
    np.testing.assert_allclose(res.values[:, 0], y.mean(), atol=1e-5)


def test_predict_interpolates_and_keeps_L():
    X, y = _instance(9, n=30)
    res = lipschitz_regression(X, y, lam=0.05)
    np.testing.assert_allclose(res.predict(X), res.values[:, 0], atol=1e-8)
    Q = np.random.default_rng(0).uniform(size=(40, 2))
    pred = res.predict(Q)
    assert pred.shape == (40,)
    L_all = lipschitz_constant(np.vstack([X, Q]), np.concatenate([res.values[:, 0], pred]))
    assert L_all <= res.lipschitz * (1 + 1e-6)


def test_sphere_n500_certified():
    """Issue 2 done-when: n = 500 on Sphere(d=3), squared loss, certified, reference method."""
    rng = np.random.default_rng(10)
    try:
        from lipconv.manifolds import Sphere
        X = Sphere(3).sample(500, rng)
    except ImportError:
        g = rng.standard_normal((500, 3))
        X = 0.5 + 0.5 * g / np.linalg.norm(g, axis=1, keepdims=True)
    y = np.sign(X[:, 0] - 0.5)
    res = lipschitz_regression(X, y, lam=0.1, method="pairs")
    assert res.n_pairs == 500 * 499 // 2
    assert res.max_violation <= VIOLATION_TOL
    assert 0 < res.lipschitz < lipschitz_constant(X, y)


# --- Lemma 4.4 and monotonicity ------------------------------------------------------------

_seeds = st.integers(min_value=0, max_value=2**31 - 1)
_lams = st.floats(min_value=1e-3, max_value=1.0)


@settings(max_examples=max(3, settings().max_examples // 5))
@given(seed=_seeds, lam=_lams)
def test_lemma_4_4(seed, lam):
    """Property: [FCAO] Lemma 4.4, eq. (4.2), on the discrete problem.

    f^0 interpolates (zero loss, R(f^0) = Lip of the labels) and C_L is the loss of the constant
    average label, so  loss(u_lam) <= lam * Lip(y)  and  Lip(u_lam) <= C_L / lam.
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(12, 2))
    y = rng.uniform(-1, 1, size=12)
    res = lipschitz_regression(X, y, lam=lam)
    lip_y = lipschitz_constant(X, y)
    C_L = float(np.mean((y - y.mean()) ** 2))
    slack = 1e-7 * (1 + lam * lip_y)
    assert res.loss_value <= lam * lip_y + slack
    assert res.lipschitz <= C_L / lam * (1 + 1e-6) + 1e-9


@settings(max_examples=max(3, settings().max_examples // 5))
@given(seed=_seeds, lam1=_lams, lam2=_lams)
def test_monotone_in_lam(seed, lam1, lam2):
    """Property: along lam the optimal L is non-increasing and the loss non-decreasing.

    (Exchange argument: optimality at lam1 and at lam2 gives (lam2 - lam1)(L1 - L2) >= 0.)
    """
    lo, hi = sorted((lam1, lam2))
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(12, 2))
    y = rng.uniform(-1, 1, size=12)
    a = lipschitz_regression(X, y, lam=lo)
    b = lipschitz_regression(X, y, lam=hi)
    assert b.lipschitz <= a.lipschitz * (1 + 1e-6) + 1e-7
    assert b.loss_value >= a.loss_value - 1e-7


def test_kantorovich_dual_matches_pot():
    ot = pytest.importorskip("ot")
    rng = np.random.default_rng(11)
    X = rng.uniform(size=(12, 2))
    a = rng.dirichlet(np.ones(12))
    b = rng.dirichlet(np.ones(12))
    value, w = kantorovich_dual(X, a - b)
    M = ot.dist(X, X, metric="euclidean")
    np.testing.assert_allclose(value, ot.emd2(a, b, M), rtol=1e-6, atol=1e-9)
    assert lipschitz_constant(X, w) <= 1 + 1e-7


# --- bad input ---------------------------------------------------------------------------

@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(X=np.array([[0.0, np.nan], [1.0, 1.0]]), y=[0.0, 1.0], lam=0.1), "X must be finite"),
        (dict(X=np.eye(2), y=[0.0, np.inf], lam=0.1), "y must be finite"),
        (dict(X=np.eye(3), y=[0.0, 1.0], lam=0.1), "y must have n = 3 rows"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=0.0), "lam must be finite and > 0, got 0.0"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=-1), "lam must be finite and > 0, got -1"),
        (dict(X=np.ones((1, 2)), y=[0.0], lam=0.1), "X must have at least 2 rows, got n = 1"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=0.1, loss="hinge"), "loss must be one of"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=0.1, p_x=3), "p_x must be one of 1, 2, inf"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=0.1, p_y="L7"), "p_y must be one of 1, 2, inf"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=0.1, method="sgd"), "method must be one of"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=0.1, weights=[0.2, 0.2]), "weights must sum to 1"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=0.1, weights=[1.5, -0.5]), "weights must be finite and >= 0"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=0.1, loss="cross_entropy"), "k >= 2 on the simplex"),
        (dict(X=np.eye(2), y=[[0.5, 0.7], [1.0, 0.0]], lam=0.1, loss="cross_entropy"), "probability simplex"),
        (dict(X=np.zeros((2, 2, 2)), y=[0.0, 1.0], lam=0.1), "X must be a 2-D array"),
        (dict(X=np.eye(2), y=[0.0, 1.0], lam=0.1, solver="MOSEK9"), "solver must be one of"),
    ],
)
def test_bad_input(kwargs, match):
    X, y = kwargs.pop("X"), kwargs.pop("y")
    with pytest.raises(ValueError, match=match):
        lipschitz_regression(X, y, **kwargs)


def test_solver_failure_raises_solver_error():
    X, y = _instance(12, n=20)
    # OSQP cannot certify this LP within its iteration budget at tol 1e-12.
    with pytest.raises(SolverError, match=r"OSQP ended with status .* n = 20"):
        lipschitz_regression(X, y, lam=0.05, loss="absolute", solver="OSQP", tol=1e-12)


def test_loss_metadata():
    assert get_loss("squared").theta == 2.0
    assert get_loss("absolute").theta == 0.0
    with pytest.raises(ValueError, match="eps must be finite and > 0"):
        from lipconv.losses import cross_entropy
        cross_entropy(eps=0)
