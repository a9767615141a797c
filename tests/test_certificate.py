"""The two-part certificate, equivariance under changes of units, and exact degenerate answers.

Each test is written against the mathematics of [FCAO] eq. (2.7) and lipconv.solvers._certificate:
weak duality, the dense all-pairs definition of the excess, closed forms of the constant solution
and of the critical lambda in one dimension, and the exact transformation of the minimizer under
x -> c x + t, y -> s y + b.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lipconv._pairwise import pairwise_distances
from lipconv.losses import get_loss, huber
from lipconv.solvers import CertificateWarning, certify, lipschitz_regression, violation_scan
from lipconv.solvers._certificate import dual_bound
from lipconv.solvers._oracle import scan_pairs

NORMS = [1.0, 2.0, np.inf]


def _dense_max_excess(X, U, L, p_x, p_y):
    E = pairwise_distances(U, p=p_y) - L * pairwise_distances(X, p=p_x)
    np.fill_diagonal(E, -np.inf)
    return max(0.0, float(E.max()))


def _labels(rng, X, k, loss):
    base = np.sin(3.0 * X[:, 0]) + 0.4 * rng.standard_normal(X.shape[0])
    if loss == "cross_entropy":
        logits = np.stack([base * (c + 1) - c for c in range(max(k, 2))], axis=1)
        P = np.exp(logits - logits.max(axis=1, keepdims=True))
        return P / P.sum(axis=1, keepdims=True)
    if k == 1:
        return base
    return np.stack([base] + [np.cos(2.0 * X[:, -1] + c) for c in range(1, k)], axis=1)


# ---------------------------------------------------------------- feasibility: planted violations


@pytest.mark.parametrize("p_x", NORMS)
@pytest.mark.parametrize("d", [2, 3])
def test_certificate_finds_far_violating_pairs_between_two_tight_clusters(p_x, d):
    """Two tight clusters far apart; u = 0.5 L x_1 is feasible with margin, then cluster B is lifted
    by exactly the amount that makes the largest cross-cluster excess delta. Within each cluster
    nothing changes, so every violating pair is a far pair: the pruned all-pairs scan must find
    exactly delta (= the dense scan) and report far pairs only. A pruning bound that is too
    aggressive (or a norm swapped) misses pairs whose ends sit in blocks far apart."""
    rng = np.random.default_rng(int(10 * d + {1.0: 1, 2.0: 2, np.inf: 3}[p_x]))
    A = 0.01 * rng.random((60, d))
    B = 1.0 - 0.01 * rng.random((60, d))
    X = np.vstack([A, B])
    L, delta = 1.0, 0.05
    U = 0.5 * L * X[:, :1]
    cross = np.abs(U[60:, 0][None, :] - U[:60, 0][:, None]) - L * pairwise_distances(A, B, p=p_x)
    U[60:] += delta - cross.max()
    dense = _dense_max_excess(X, U, L, p_x, 2.0)
    assert dense == pytest.approx(delta, rel=1e-12)
    got = scan_pairs(X, U, L, p_x=p_x, per_point=1, leaf_size=8)
    assert got.max_excess == pytest.approx(dense, rel=1e-12)
    assert len(got.i) > 0 and np.all((got.i < 60) != (got.j < 60))  # far pairs only
    assert got.excess.max() == pytest.approx(delta, rel=1e-12)
    # The certificate: the same number relative to the label scale, and > 0 for this bad point.
    assert violation_scan(X, U, L, p_x=p_x, scale=2.0) == pytest.approx(dense / 2.0, rel=1e-12)
    y = U[:, 0]
    cert = certify(X, y, U[:, 0], lipschitz=L, lam=0.1, p_x=p_x)
    assert cert.max_violation == pytest.approx(dense / np.ptp(y), rel=1e-12)
    assert not cert.feasibility_certified


@pytest.mark.parametrize("p_x", NORMS)
@pytest.mark.parametrize("p_y,k", [(1.0, 2), (2.0, 3), (np.inf, 2)])
def test_violation_scan_is_the_dense_definition_for_vector_outputs(p_x, p_y, k):
    rng = np.random.default_rng(5)
    X = rng.random((150, 3))
    U = rng.standard_normal((150, k))
    dense = _dense_max_excess(X, U, 2.0, p_x, p_y)
    assert dense > 0
    assert violation_scan(X, U, 2.0, p_x=p_x, p_y=p_y, scale=3.0) == pytest.approx(dense / 3.0, rel=1e-12)


# ---------------------------------------------------------------- optimality: the duality gap


def _instance(seed, n=60, d=2, k=1, loss="squared"):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    return X, _labels(rng, X, k, loss), rng


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("loss", ["squared", "absolute"])
@pytest.mark.parametrize("p_x", NORMS)
def test_cutting_plane_lower_bound_equals_the_reference_optimum(seed, loss, p_x):
    """Multipliers of the cutting plane's active pairs, extended by zero, are dual feasible for the
    full program: their bound D equals the cvxpy all-pairs optimum (strong duality) to 1e-6, and
    so does the bound from the reference's own multipliers. Both gaps are small and agree."""
    X, y, _ = _instance(seed, n=70, loss=loss)
    ref = lipschitz_regression(X, y, lam=0.03, loss=loss, p_x=p_x, method="pairs")
    cp = lipschitz_regression(X, y, lam=0.03, loss=loss, p_x=p_x, method="cutting-plane")
    assert cp.dual is not None and len(cp.dual[0]) < 70 * 69 // 2
    np.testing.assert_allclose(cp.lower_bound, ref.objective, rtol=1e-6)
    np.testing.assert_allclose(ref.lower_bound, ref.objective, rtol=1e-6)
    assert cp.relative_gap <= 1e-6 and ref.relative_gap <= 1e-6
    assert abs(cp.relative_gap - ref.relative_gap) <= 1e-6
    # The bound is a lower bound: never above the (certified) optimum by more than round-off.
    assert cp.lower_bound <= ref.objective * (1 + 1e-9)


@pytest.mark.parametrize("loss", ["squared", "absolute", "huber"])
def test_dual_bound_is_a_lower_bound_for_any_multipliers(loss):
    """Weak duality: D(Lambda) <= J* for arbitrary multipliers on arbitrary pairs (after the
    scaling that makes them feasible). A sign error in s = D^T Lambda or in the per-sample inner
    minimum makes some random Lambda exceed the optimum."""
    X, y, rng = _instance(3, n=30, loss=loss)
    lam = 0.05
    ref = lipschitz_regression(X, y, lam=lam, loss=loss, method="pairs")
    lossf = get_loss(loss)
    Y = y[:, None]
    w = np.full(30, 1 / 30)
    worst = -np.inf
    for _ in range(200):
        P = int(rng.integers(1, 60))
        i, j = rng.integers(0, 30, P), rng.integers(0, 30, P)
        keep = i != j
        M = rng.standard_normal((keep.sum(), 1)) * 10 ** rng.uniform(-3, 1)
        D = dual_bound(X, Y, w, lossf, lam, i[keep], j[keep], M, p_x=2.0, p_y=2.0, lo=Y.min(0), hi=Y.max(0))
        worst = max(worst, D)
    assert worst <= ref.objective * (1 + 1e-9)
    # and the optimal multipliers attain it
    i, j, M = ref.dual
    D = dual_bound(X, Y, w, lossf, lam, i, j, M, p_x=2.0, p_y=2.0, lo=Y.min(0), hi=Y.max(0))
    np.testing.assert_allclose(D, ref.objective, rtol=1e-6)


@pytest.mark.parametrize("loss", ["squared", "absolute"])
def test_a_suboptimal_feasible_point_gets_a_large_gap(loss):
    """Shrinking the optimum towards its mean keeps it feasible (with L shrunk alike) but worsens
    the objective: the gap against the optimal multipliers must show the loss in objective."""
    X, y, _ = _instance(4, n=80, d=3, loss=loss)
    lam = 0.02
    res = lipschitz_regression(X, y, lam=lam, loss=loss)
    assert res.certified
    u = res.values[:, 0]
    bad = u.mean() + 0.7 * (u - u.mean())
    cert = certify(X, y, bad, lipschitz=0.7 * res.lipschitz, lam=lam, loss=loss, dual=res)
    assert cert.max_violation <= 1e-9  # feasible
    assert cert.objective > res.objective * 1.01
    np.testing.assert_allclose(cert.relative_gap, (cert.objective - res.lower_bound) / cert.objective, rtol=1e-9)
    assert cert.relative_gap > 0.009 and not cert.optimality_certified
    # The optimum itself passes with the same multipliers.
    ok = certify(X, y, u, lipschitz=res.lipschitz, lam=lam, loss=loss, dual=res)
    assert ok.certified and ok.relative_gap <= 1e-6


def test_certify_without_multipliers_is_weak_but_valid():
    X, y, _ = _instance(5)
    res = lipschitz_regression(X, y, lam=0.05)
    cert = certify(X, y, res.values[:, 0], lipschitz=res.lipschitz, lam=0.05)
    assert 0 < cert.relative_gap < 1 and cert.lower_bound <= res.objective
    # Default L is the exact Lipschitz constant of the values.
    cert2 = certify(X, y, res.values[:, 0], lam=0.05, dual=res)
    np.testing.assert_allclose(cert2.objective, res.objective, rtol=1e-7)


# ---------------------------------------------------------------- weighted cutting plane


@pytest.mark.parametrize("loss", ["squared", "absolute"])
@pytest.mark.parametrize("p_x", [1.0, 2.0])
def test_cutting_plane_with_nonuniform_weights_equals_the_reference(loss, p_x):
    X, y, rng = _instance(6, n=90, loss=loss)
    w = rng.dirichlet(0.5 * np.ones(90))
    w[:5] = 0.0
    w /= w.sum()
    ref = lipschitz_regression(X, y, lam=0.03, loss=loss, weights=w, p_x=p_x, method="pairs")
    cp = lipschitz_regression(X, y, lam=0.03, loss=loss, weights=w, p_x=p_x, method="cutting-plane")
    assert cp.method == "cutting-plane" and cp.certified and ref.certified
    np.testing.assert_allclose(cp.objective, ref.objective, rtol=1e-6)
    np.testing.assert_allclose(cp.lipschitz, ref.lipschitz, rtol=1e-5)
    if loss == "squared":  # unique at positive weights
        pos = w > 0
        np.testing.assert_allclose(cp.values[pos], ref.values[pos], atol=1e-5 * np.ptp(y))
    # The weights are what is minimized: uniform weights give another optimum.
    uni = lipschitz_regression(X, y, lam=0.03, loss=loss, p_x=p_x, method="cutting-plane")
    assert abs(uni.objective - cp.objective) > 1e-4 * cp.objective


# ---------------------------------------------------------------- exact degenerate answers


@pytest.mark.parametrize("loss", ["squared", "absolute", "huber", "cross_entropy"])
def test_lam_above_the_star_price_gives_the_exact_constant(loss):
    X, y, rng = _instance(7, n=50, loss=loss)
    w = rng.dirichlet(np.ones(50))
    res = lipschitz_regression(X, y, lam=1e6, loss=loss, weights=w)
    assert res.status == "constant" and res.method == "constant"
    assert res.lipschitz == 0.0 and res.max_violation == 0.0 and res.relative_gap <= 1e-15
    Y = y[:, None] if y.ndim == 1 else y
    if loss == "squared" or loss == "cross_entropy":
        want = w @ Y
    elif loss == "absolute":
        order = np.argsort(Y[:, 0])
        cum = np.cumsum(w[order])
        want = Y[order[np.searchsorted(cum, 0.5)]]
    else:
        from scipy.optimize import minimize_scalar

        f = lambda c: w @ get_loss("huber").value(np.full(50, c), Y[:, 0])  # noqa: E731
        want = np.array([minimize_scalar(f, bounds=(Y.min(), Y.max()), method="bounded", options={"xatol": 1e-12}).x])
    np.testing.assert_allclose(res.values[0], want, atol=1e-9)
    assert np.ptp(res.values, axis=0).max() == 0.0
    np.testing.assert_allclose(res.objective, w @ get_loss(loss).value(res.values, Y), rtol=1e-12)


def test_critical_lambda_in_one_dimension_is_exact():
    """On a line the critical lambda is the W1 norm of the constant's subgradient, the integral of
    its cumulative sum: lam_c = int |G(x)| dx with G(x) = sum_{x_i <= x} 2 w_i (c - y_i). Just
    above it the exact constant comes back with a zero gap; just below, a convex solve gives L > 0."""
    x = np.linspace(0.0, 1.0, 40)
    y = np.sign(np.sin(9.0 * x)) + 0.1 * x
    w = np.full(40, 1 / 40)
    g = 2 * w * (y.mean() - y)
    lam_c = float(np.sum(np.abs(np.cumsum(g)[:-1]) * np.diff(x)))
    X2 = np.column_stack([x, np.zeros(40)])  # force all pairs and the cutting plane in 2-D
    for method in ("pairs", "cutting-plane"):
        above = lipschitz_regression(X2, y, lam=1.001 * lam_c, method=method)
        assert above.lipschitz == 0.0 and above.info["constant"] and above.certified
        np.testing.assert_allclose(above.values[:, 0], y.mean(), atol=1e-12)
        below = lipschitz_regression(X2, y, lam=0.999 * lam_c, method=method)
        assert below.lipschitz > 0 and below.certified
        assert below.objective < above.objective
    # The exact critical lambda, computed as an optimal transport in the plane (POT), equals the
    # closed form on the line; the star transport's price is an upper bound of it.
    np.testing.assert_allclose(above.info["lam_critical"], lam_c, rtol=1e-12)
    assert above.info["lam_star"] >= lam_c
    assert above.method == "constant" and above.relative_gap <= 1e-15


@pytest.mark.parametrize("method", ["pairs", "cutting-plane"])
def test_constant_labels_and_coincident_points(method):
    X, _, _ = _instance(8, n=40)
    res = lipschitz_regression(X, np.full(40, -3e5), lam=0.05, method=method)
    assert res.status == "constant" and np.all(res.values == -3e5) and res.objective == 0.0
    same = lipschitz_regression(np.ones((5, 3)), np.arange(5.0), lam=1e-6, method=method)
    assert same.status == "constant" and same.lipschitz == 0.0
    np.testing.assert_allclose(same.values[:, 0], 2.0)
    np.testing.assert_allclose(same.objective, np.mean((np.arange(5.0) - 2.0) ** 2))


@pytest.mark.parametrize("loss", ["squared", "absolute"])
def test_duplicates_with_conflicting_labels_are_averaged_under_the_loss(loss):
    """Coincident samples must get one value. For the squared loss that value solves the merged
    problem (one point, their total weight and mean label); the objectives differ by the constant
    sum_i w_i (y_i - ybar)^2."""
    X, y, _ = _instance(9, n=50)
    Xd = np.vstack([X, X[:3]])
    yd = np.concatenate([y, y[:3] + np.array([1.0, -0.7, 0.4])])
    res = lipschitz_regression(Xd, yd, lam=0.03, loss=loss, method="pairs")
    assert res.certified
    np.testing.assert_array_equal(res.values[50:], res.values[:3])
    if loss == "squared":
        w = np.full(50, 1 / 53)
        w[:3] *= 2
        ym = y.copy()
        ym[:3] = 0.5 * (y[:3] + yd[50:])
        merged = lipschitz_regression(X, ym, lam=0.03, weights=w, method="pairs")
        # Strong convexity: sum_i w_i (u_i - u*_i)^2 <= J - J* <= J - D, so each certified solve is
        # within sqrt((J - D) / w_i) of the minimizer.
        radius = np.sqrt((res.objective - res.lower_bound) / w) + np.sqrt((merged.objective - merged.lower_bound) / w)
        assert np.all(np.abs(res.values[:50, 0] - merged.values[:, 0]) <= radius + 1e-12)
        assert radius.max() < 1e-3
        offset = np.sum((y[:3] - ym[:3]) ** 2 + (yd[50:] - ym[:3]) ** 2) / 53
        np.testing.assert_allclose(res.objective, merged.objective + offset, rtol=1e-7)


def test_tiny_lambda_is_certified_and_l_is_that_of_the_values():
    """lam -> 0: u -> y, L -> Lip(y). The solver's own L barely moves the objective; the returned L
    must be the values' Lipschitz constant, and the gap relative to the tiny objective small."""
    from lipconv.extension import lipschitz_constant

    X, y, _ = _instance(10, n=120, d=3)
    for method in ("pairs", "cutting-plane"):
        res = lipschitz_regression(X, y, lam=1e-12, method=method)
        assert res.certified
        np.testing.assert_allclose(res.lipschitz, lipschitz_constant(X, res.values), rtol=1e-9)
        np.testing.assert_allclose(res.lipschitz, lipschitz_constant(X, y), rtol=1e-6)


def test_uncertified_solves_warn():
    X, y, _ = _instance(11, n=40)
    with pytest.warns(CertificateWarning, match="not certified"):
        res = lipschitz_regression(X, y, lam=0.05, method="pairs", gap_tol=1e-14, feasibility_tol=1e-30)
    assert not res.certified


# ---------------------------------------------------------------- equivariance (property)


_LOSSES = ["squared", "absolute", "huber", "cross_entropy"]


@st.composite
def _change_of_units(draw):
    loss = draw(st.sampled_from(_LOSSES))
    c = 10.0 ** draw(st.floats(-8, 8))
    s = 1.0 if loss == "cross_entropy" else 10.0 ** draw(st.floats(-8, 8))
    # s y + b rounds each label by ulp(b) / 2 = 1.1e-16 |b|, and the objective moves by about that
    # much (first order, for both losses): at b = 1e8 s that is 7e-9 s, 1.7e-6 of an optimum of
    # 0.004 s (lam = 3e-4), more than the 1e-6 asked. |b| <= 1e6 s keeps the data's own rounding
    # below 1e-7 of every optimum here (b = 1e7 on the problem: test_issue_table_...).
    b = 0.0 if loss == "cross_entropy" else draw(st.floats(-1.0, 1.0)) * min(1e8, 1e6 * s)
    # Likewise c x + t moves each point by ulp(t); relative to the closest pair's distance (about
    # 1e-3 of the diameter for 20 random points on a line) that is 1e-5 at t = 1e8 c. For the
    # cross-entropy (asked for under x -> c x only) even t = 1e3 c moved L by 2e-6 at lam = 3e-4:
    # with theta = 0.083 the objective is that flat along the change, so L is determined only to
    # about sqrt(gap / theta) by any solver at tolerance 1e-10, while J still agreed to 3e-13.
    t = 0.0 if loss == "cross_entropy" else draw(st.floats(-1.0, 1.0)) * 1e3 * c
    return dict(
        loss=loss, c=c, s=s, b=b, t=t,
        p_x=draw(st.sampled_from(NORMS)), p_y=draw(st.sampled_from(NORMS)),
        method=draw(st.sampled_from(["pairs", "cutting-plane"])),
        k=draw(st.sampled_from([1, 2])) if loss != "cross_entropy" else draw(st.sampled_from([2, 3])),
        d=draw(st.sampled_from([1, 2, 3])), weighted=draw(st.booleans()),
        seed=draw(st.integers(0, 2**16)), lam_exp=draw(st.floats(-3, 0)),
    )


# Cases found by random search, kept: second-order cones with small weights (values pinned only
# to the certificates' radius); exponential-cone stalls (now Newton QPs, or the exact critical
# transport); a loose round's multipliers and the LP's stationarity in L (absolute loss).
@example(case={"c": 1.0, "s": 1.0, "b": 0.0, "t": 1000.0, "weighted": True, "loss": "squared", "p_x": 2.0, "p_y": 2.0, "method": "cutting-plane", "k": 2, "d": 3, "seed": 30, "lam_exp": -0.5})
@example(case={"c": 10.0, "s": 1.0, "b": 0.0, "t": 0.0, "weighted": False, "loss": "squared", "p_x": 1.0, "p_y": 2.0, "method": "pairs", "k": 2, "d": 1, "seed": 21477, "lam_exp": 0.0})
@example(case={"c": 10.0, "s": 1.0, "b": 0.0, "t": 0.0, "weighted": True, "loss": "cross_entropy", "p_x": 1.0, "p_y": 2.0, "method": "cutting-plane", "k": 3, "d": 1, "seed": 537, "lam_exp": -0.54296875})
@example(case={"c": 0.01024179103379464, "s": 1.0, "b": 0.0, "t": 0.0, "weighted": True, "loss": "cross_entropy", "p_x": 1.0, "p_y": np.inf, "method": "pairs", "k": 2, "d": 3, "seed": 65536, "lam_exp": -0.7090016869061717})
@example(case={"c": 10.0, "s": 1.0, "b": 0.0, "t": 0.0, "weighted": False, "loss": "cross_entropy", "p_x": 1.0, "p_y": np.inf, "method": "pairs", "k": 2, "d": 3, "seed": 744, "lam_exp": 0.0})
@example(case={"c": 10.0, "s": 1.0, "b": 0.0, "t": 0.0, "weighted": True, "loss": "cross_entropy", "p_x": 2.0, "p_y": 1.0, "method": "pairs", "k": 2, "d": 2, "seed": 8336, "lam_exp": -2.5625})
@example(case={"c": 1.0, "s": 1.0, "b": 0.0, "t": 0.0, "weighted": False, "loss": "absolute", "p_x": 1.0, "p_y": 1.0, "method": "cutting-plane", "k": 1, "d": 2, "seed": 0, "lam_exp": 0.0})
@example(case={"c": 1.0, "s": 1.0, "b": 0.0, "t": 0.0, "weighted": False, "loss": "absolute", "p_x": 1.0, "p_y": 1.0, "method": "cutting-plane", "k": 1, "d": 2, "seed": 2025, "lam_exp": -2.025390625})
@given(_change_of_units())
def test_property_equivariance_under_changes_of_units(case):
    """Property ([FCAO] eq. (2.7); lipconv.solvers._units): for x -> c x + t and y -> s y + b with
    lambda scaled as the loss requires (squared, Huber: s c; absolute: c; cross-entropy: c, no y
    change; Huber's threshold times s), the objective maps to s^2 J, s J or J (1e-6 relative) and,
    for the strictly convex losses (unique minimizer), the minimizer to s u + b (1e-6 of the label
    range, or the certificates' radius where that is larger) and L to (s / c) L; for the absolute and
    Huber losses the moved solution mapped back is certified optimal for the base problem. Both solves certified. Over c, s in
    [1e-8, 1e8], every (p_x, p_y), both methods, k = 1, 2 (3 for the cross-entropy)."""
    rng = np.random.default_rng(case["seed"])
    n = int(rng.integers(8, 22))
    X = rng.random((n, case["d"]))
    y = _labels(rng, X, case["k"], case["loss"])
    w = rng.dirichlet(np.ones(n)) if case["weighted"] else None
    lam = 10.0 ** case["lam_exp"] * (0.1 if case["loss"] != "absolute" else 0.3)
    c, s, b, t = case["c"], case["s"], case["b"], case["t"]
    name = case["loss"]
    loss0 = huber(0.3) if name == "huber" else name
    loss1 = huber(0.3 * s) if name == "huber" else name
    lam1 = lam * (s * c if name in ("squared", "huber") else c)
    obj_scale = {"squared": s * s, "huber": s * s, "absolute": s, "cross_entropy": 1.0}[name]
    kw = dict(p_x=case["p_x"], p_y=case["p_y"], method=case["method"], weights=w)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CertificateWarning)
        base = lipschitz_regression(X, y, lam=lam, loss=loss0, **kw)
        moved = lipschitz_regression(c * X + t, s * y + b, lam=lam1, loss=loss1, **kw)
    assert base.certified and moved.certified
    Y = y[:, None] if y.ndim == 1 else y
    span = float(np.ptp(Y, axis=0).max())
    np.testing.assert_allclose(moved.objective, obj_scale * base.objective, rtol=1e-6)
    theta = get_loss(name).theta
    if theta > 0:
        # Strong convexity: J(u, L) - J* >= (theta / 2) sum_i w_i |u_i - u*_i|^2, so each certified
        # solve is within r_i = sqrt(2 (J - D) / (theta w_i)) of the minimizer at sample i. Values
        # must agree to 1e-6 of the label range or, where the certificate pins them less tightly
        # (small weights, second-order cones: 7e-6 on one such case with gaps 1e-11 and 5e-9), to
        # the sum of the two radii. L is a ratio over pairs, so it may move by the values' error
        # over the shortest distance.
        ww = np.full(n, 1.0 / n) if w is None else w
        r0 = np.sqrt(2 * max(base.objective - base.lower_bound, 0.0) / (theta * ww))
        r1 = np.sqrt(2 * max(moved.objective - moved.lower_bound, 0.0) / (theta * ww)) / s
        tol_u = np.maximum(1e-6 * span, r0 + r1)[:, None]
        assert np.all(np.abs((moved.values - b) / s - base.values) <= tol_u)
        dmin = float(np.min(pairwise_distances(X, p=case["p_x"])[np.triu_indices(n, 1)]))
        # (floor: round-off of the values, 1e-12 of their range, over the shortest distance; at the
        # constant solution L itself is round-off, 3e-13 against 5e-12 on one case)
        tol_L = max(1e-6 * base.lipschitz, (2 * float((r0 + r1).max()) + 1e-12 * span) / max(dmin, 1e-300))
        assert abs(moved.lipschitz * c / s - base.lipschitz) <= tol_L
    else:
        # Without strict convexity the minimizer need not be unique (an optimal face; values of
        # two certified solves differed by 5e-6 on one): the moved solution, mapped back, must be
        # an optimal point of the base problem, certified with the base solve's multipliers.
        back = certify(X, y, (moved.values - b) / s, lipschitz=moved.lipschitz * c / s, lam=lam, loss=loss0,
                       p_x=case["p_x"], p_y=case["p_y"], weights=w, dual=base)
        assert back.max_violation <= 1e-6 and back.relative_gap <= 1e-6


# ---------------------------------------------------------------- vector outputs at the critical lambda


def _critical_lambda_reference(X, G, p_x, p_y):
    """Independent reference: the transport program min sum_r ||Lambda_r||_{p_y*} d_r over ALL
    pairs subject to D^T Lambda = -G, written directly in cvxpy (the dual of sup <-G, v> over
    1-Lipschitz v)."""
    import cvxpy as cp

    from lipconv.norms import dual_exponent

    n, k = G.shape
    i, j = np.triu_indices(n, 1)
    d = pairwise_distances(X, p=p_x)[i, j]
    Lam = cp.Variable((len(i), k))
    D = np.zeros((len(i), n))
    D[np.arange(len(i)), i] = 1.0
    D[np.arange(len(i)), j] = -1.0
    q = dual_exponent(p_y)
    prob = cp.Problem(cp.Minimize(d @ cp.norm(Lam, q, axis=1)), [D.T @ Lam == -G])
    prob.solve(solver="CLARABEL")
    return float(prob.value)


@pytest.mark.parametrize("p_y", [1.0, 2.0, np.inf])
def test_vector_outputs_around_the_critical_lambda(p_y):
    """Around the exact critical lambda (an independent transport LP/SOCP) the answer switches from
    L > 0 to the exact constant (values equal to the label mean, L = 0, zero excess), certified on
    both sides, whichever path (star, exact transport, or a convex solve) gets there."""
    rng = np.random.default_rng(21)
    X = rng.random((24, 2))
    Y = np.column_stack([np.sin(4 * X[:, 0]), X[:, 1] ** 2, np.cos(3 * X[:, 0] * X[:, 1])])
    G = 2.0 / 24 * (Y.mean(axis=0) - Y)
    lam_c = _critical_lambda_reference(X, G, 2.0, p_y)
    for method in ("pairs", "cutting-plane"):
        above = lipschitz_regression(X, Y, lam=1.0005 * lam_c, p_y=p_y, method=method)
        assert above.certified and above.lipschitz == 0.0 and above.max_violation == 0.0
        np.testing.assert_allclose(above.values, np.broadcast_to(Y.mean(axis=0), Y.shape), atol=1e-12)
        assert np.ptp(above.values, axis=0).max() == 0.0
        below = lipschitz_regression(X, Y, lam=0.9995 * lam_c, p_y=p_y, method=method)
        assert below.certified and below.lipschitz > 0
    # the star's price (the shortcut) is never below the true critical lambda
    assert above.info["lam_star"] >= lam_c * (1 - 1e-9)


def test_cutting_plane_reports_the_exact_scan_of_what_it_returns():
    """The contract the certificate's reuse relies on: the cutting plane's L is at most the tightest
    L of its final pairs (equal to it at lam = 1e-12, where the solver's own L is far above), and
    its max_excess is the exact all-pairs maximum excess at (values, L) (a dense scan)."""
    from lipconv.solvers._certificate import lipschitz_on_pairs
    from lipconv.solvers._cutting_plane import solve_cutting_plane

    X, y, _ = _instance(12, n=150)
    lossf = get_loss("squared")
    w = np.full(150, 1 / 150)
    for lam in (1e-12, 0.01):
        for oracle in ("tree", "blocks"):
            raw = solve_cutting_plane(X, y[:, None], w, lossf, lam, p_x=2.0, p_y=2.0, solver="CLARABEL", tol=1e-8,
                                      verbose=False, oracle=oracle)
            tight = lipschitz_on_pairs(X, raw.values, raw.i, raw.j, p_x=2.0, p_y=2.0, oriented=raw.oriented)
            assert raw.lipschitz <= tight and (lam > 1e-6 or raw.lipschitz == tight)
            dense = _dense_max_excess(X, raw.values, raw.lipschitz, 2.0, 2.0)
            if oracle == "tree":  # the tree search runs at threshold 0: its maximum is exact
                assert raw.max_excess == pytest.approx(dense, rel=1e-12, abs=1e-15)
            else:  # the thresholded block scan reports None below the threshold (the caller rescans)
                assert raw.max_excess is None or raw.max_excess == pytest.approx(dense, rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------- the program at a fixed L


@pytest.mark.parametrize("loss", ["squared", "absolute", "huber", "cross_entropy"])
@pytest.mark.parametrize("method", ["pairs", "cutting-plane"])
def test_fixed_lipschitz_at_the_penalized_l_returns_the_penalized_loss(loss, method):
    """The penalized minimizer (u, L) is feasible at that L, and any better loss at that L would beat
    it in the penalized problem too: the fixed-L program at the penalized L returns its loss."""
    X, y, _ = _instance(13, n=70, loss=loss)
    pen = lipschitz_regression(X, y, lam=0.03, loss=loss, method="pairs")
    fix = lipschitz_regression(X, y, lipschitz=pen.lipschitz, loss=loss, method=method)
    assert fix.certified and fix.lam is None and fix.lipschitz == pen.lipschitz
    np.testing.assert_allclose(fix.loss_value, pen.loss_value, rtol=1e-6)
    assert fix.objective == fix.loss_value and fix.lower_bound <= fix.loss_value


def test_fixed_lipschitz_lower_bound_holds_for_every_l_lipschitz_candidate():
    """The certified lower bound is below the loss of every L-Lipschitz function: ramps of slope
    <= L in random directions, clipped (1-Lipschitz operations keep the constant), and the
    fixed-L optimum itself (whose loss the bound approaches)."""
    X, y, rng = _instance(14, n=90, d=3)
    L = 1.5
    res = lipschitz_regression(X, y, lipschitz=L)
    assert res.certified
    lossf = get_loss("squared")
    for _ in range(200):
        direction = rng.standard_normal(3)
        direction *= rng.uniform(0, L) / np.linalg.norm(direction)
        f = np.clip(X @ direction + rng.uniform(-1, 1), y.min(), y.max())
        assert np.mean(lossf.value(f, y)) >= res.lower_bound
    assert res.lower_bound <= res.loss_value <= res.lower_bound * (1 + 1e-6)


def test_fixed_lipschitz_degenerate_answers_and_units():
    X, y, _ = _instance(15, n=60)
    zero = lipschitz_regression(X, y, lipschitz=0.0)
    assert zero.status == "constant" and np.all(zero.values == y.mean()) and zero.relative_gap <= 1e-15
    np.testing.assert_allclose(zero.loss_value, np.var(y), rtol=1e-12)
    big = lipschitz_regression(X, y, lipschitz=1e6)
    assert big.status == "interpolation" and big.loss_value == 0.0 and np.all(big.values[:, 0] == y)
    a = lipschitz_regression(X, y, lipschitz=1.3)
    b = lipschitz_regression(1e3 * X + 5, 7 * y + 2, lipschitz=1.3 * 7 / 1e3)
    np.testing.assert_allclose(b.loss_value, 49 * a.loss_value, rtol=1e-7)
    np.testing.assert_allclose(b.values, 7 * a.values + 2, atol=1e-6 * 7 * np.ptp(y))
    with pytest.raises(ValueError, match="give exactly one of lam and lipschitz"):
        lipschitz_regression(X, y, lam=0.1, lipschitz=1.0)
    with pytest.raises(ValueError, match="give exactly one of lam and lipschitz"):
        lipschitz_regression(X, y)
    with pytest.raises(ValueError, match="lipschitz must be finite and >= 0"):
        lipschitz_regression(X, y, lipschitz=-1.0)
