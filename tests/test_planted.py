"""Tests that catch wrong numbers (issue 15): planted violations, weighted cutting planes, pinned
tolerances, exact verdict fields, and the power method's history.

Every reference is computed here, independently of the code under test: a dense all-pairs scan with
scipy's ``cdist`` for the excess of [FCAO] eq. (2.7), the all-pairs cvxpy program for the
cutting plane, numpy least squares and quantiles for the rate verdicts, and a plain numpy power
iteration for [RKH] eqs. (4), (6). Each test was checked to fail on a plausible wrong
implementation (see tests/mutation/run_mutants.py).
"""
from __future__ import annotations

import inspect
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.spatial.distance import cdist

from lipconv.discrepancy import discrepancy_bound, sharp_rate
from lipconv.norms import power_method
from lipconv.rates import fit_rate, fit_slope, theorem_bounds
from lipconv.solvers import (
    FEASIBILITY_TOL, GAP_TOL, CertificateWarning, certify, lipschitz_regression, violation_scan,
)
from lipconv.solvers._cutting_plane import solve_cutting_plane
from lipconv.solvers._oracle import scan_pairs

NORMS = [1.0, 2.0, np.inf]
_METRIC = {1.0: "cityblock", 2.0: "euclidean", np.inf: "chebyshev"}


def _dense_excess(X, U, L, p_x, p_y):
    """e_ij = ||u_i - u_j||_{p_y} - L ||x_i - x_j||_{p_x} for all i != j (diagonal -inf)."""
    E = cdist(U, U, _METRIC[p_y]) - L * cdist(X, X, _METRIC[p_x])
    np.fill_diagonal(E, -np.inf)
    return E


# ---------------------------------------------------------------- planted violations


def _two_clusters(*, k=1, p_y=2.0, shift=1.75, d=3, n_side=120, r=0.01, D=0.6, L=2.0, seed=0):
    """Two tight clusters (Euclidean balls of radius r/2 around c_A and c_B = c_A + D e_1) and one
    point of each on the axis, at c_A + r e_1 and c_B - r e_1: this pair is at distance D - 2r in
    every p-norm, every other cross pair at least D - 1.5 r (its l_inf distance already is).
    The values are L (D - shift r) v on B (||v||_{p_y} = 1) plus a slope of 0.05 L along x_2,
    which every pair sees at most as 0.05 L r and the planted pair (same x_2) not at all. So with
    shift = 1.75 exactly one pair violates, by 0.25 L r; with shift = 2.25 none does (margin 0.2 L r).
    Returns X, U, L, the planted pair (a, b), a < b, in the shuffled order, and its excess."""
    rng = np.random.default_rng(seed)

    def ball(c, m):
        v = rng.standard_normal((m, d))
        v /= np.linalg.norm(v, axis=1, keepdims=True)
        return c + 0.5 * r * v * rng.random((m, 1)) ** (1.0 / d)

    e = np.eye(d)[0]
    cA = np.full(d, 0.2)
    cB = cA + D * e
    A, B = ball(cA, n_side), ball(cB, n_side)
    A[7], B[11] = cA + r * e, cB - r * e
    perm = rng.permutation(2 * n_side)
    X = np.vstack([A, B])[perm]
    a = int(np.flatnonzero(perm == 7)[0])
    b = int(np.flatnonzero(perm == n_side + 11)[0])
    in_b = (perm >= n_side).astype(float)[:, None]
    v = rng.standard_normal(k)
    v /= np.linalg.norm(v, ord=p_y)
    w = rng.standard_normal(k)
    w /= np.linalg.norm(w, ord=p_y)
    U = L * (D - shift * r) * in_b * v + 0.05 * L * (X[:, 1:2] - cA[1]) * w
    return X, U, L, (min(a, b), max(a, b)), L * (2.0 - shift) * r


_BACKENDS = [("numba", False), ("numba", True), ("numpy", False)]


@pytest.mark.parametrize("p_x", NORMS)
@pytest.mark.parametrize("k,p_y", [(1, 2.0), (2, 1.0), (2, 2.0), (3, np.inf)])
def test_oracle_finds_the_single_far_violating_pair_between_two_tight_clusters(p_x, k, p_y):
    """The pruned scan (tree for scalar outputs, block pairs, numpy blocks) must report exactly the
    one violating pair, with its exact excess, like the dense scan. The pair's ends lie in blocks
    0.58 apart while its excess is 0.005: a block bound too aggressive by 1 % of L times the gap,
    or a norm of X or Y swapped, prunes it."""
    X, U, L, pair, excess = _two_clusters(k=k, p_y=p_y)
    E = _dense_excess(X, U, L, p_x, p_y)
    violating = {tuple(ij) for ij in np.argwhere(np.triu(E > 0))}
    assert violating == {pair}  # the construction does what it says
    np.testing.assert_allclose(E.max(), excess, rtol=1e-9)
    for backend, blocks in _BACKENDS:
        res = scan_pairs(X, U, L, p_x=p_x, p_y=p_y, per_point=3, leaf_size=8, backend=backend, blocks=blocks)
        np.testing.assert_allclose(res.max_excess, E.max(), rtol=1e-12, atol=0)
        assert list(zip(res.i.tolist(), res.j.tolist())) == [pair], (backend, blocks)
        np.testing.assert_allclose(res.excess, [E[pair]], rtol=1e-12, atol=0)
        assert res.pruned_fraction > 0.5  # the pruning ran, and still kept the pair


@pytest.mark.parametrize("p_x", NORMS)
@pytest.mark.parametrize("k,p_y", [(1, 2.0), (2, 1.0), (3, np.inf)])
def test_certificate_of_a_bad_point_is_its_planted_excess_and_of_a_good_point_zero(p_x, k, p_y):
    """violation_scan and certify report the planted pair's excess relative to the largest label
    range (dimensionless: neither L nor the units of X enter), > 0 and not certified; the same
    construction without the violation gives exactly 0."""
    X, U, L, _, excess = _two_clusters(k=k, p_y=p_y)
    s = float(np.ptp(U, axis=0).max())
    want = float(_dense_excess(X, U, L, p_x, p_y).max()) / s
    np.testing.assert_allclose(want, excess / s, rtol=1e-9)
    for backend in ("numba", "numpy"):
        got = violation_scan(X, U, L, p_x=p_x, p_y=p_y, backend=backend)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=0)
        assert got > 0
    cert = certify(X, U, U, lipschitz=L, lam=0.1, p_x=p_x, p_y=p_y)
    np.testing.assert_allclose(cert.max_violation, want, rtol=1e-9, atol=0)
    assert cert.max_violation > FEASIBILITY_TOL and not cert.feasibility_certified and not cert.certified
    # In other units of X (x -> c x, L -> L / c) and of y (u -> 3 u - 1: L -> 3 L) nothing moves.
    cert2 = certify(1e3 * X, 3.0 * U - 1.0, 3.0 * U - 1.0, lipschitz=3e-3 * L, lam=0.1, p_x=p_x, p_y=p_y)
    np.testing.assert_allclose(cert2.max_violation, want, rtol=1e-6, atol=0)

    Xg, Ug, Lg, _, _ = _two_clusters(k=k, p_y=p_y, shift=2.25)
    assert _dense_excess(Xg, Ug, Lg, p_x, p_y).max() < 0
    assert violation_scan(Xg, Ug, Lg, p_x=p_x, p_y=p_y) == 0.0
    good = certify(Xg, Ug, Ug, lipschitz=Lg, lam=0.1, p_x=p_x, p_y=p_y)
    assert good.max_violation == 0.0 and good.feasibility_certified
    res = scan_pairs(Xg, Ug, Lg, p_x=p_x, p_y=p_y, per_point=3, leaf_size=8)
    assert res.max_excess == 0.0 and len(res.i) == 0


@pytest.mark.parametrize("engine", ["forest", "ipm"])
@pytest.mark.parametrize("p_x", NORMS)
def test_cutting_plane_finds_the_far_pairs_that_its_start_graph_lacks(p_x, engine):
    """Two tight clusters with labels 0 and 1: the k-nearest-neighbour start graph has no cross
    pair, so the first relaxation interpolates each cluster with L ~ 0; only the oracle's far
    pairs can bind L. The cutting plane must end at the all-pairs optimum, certified, with either
    engine (the interior-point rounds take the cuts as oriented; the forest orients each row by
    the current values itself)."""
    rng = np.random.default_rng(3)
    A = 0.2 + 0.01 * rng.random((40, 2))
    B = 0.8 + 0.01 * rng.random((40, 2))
    X = np.vstack([A, B])
    y = np.r_[np.zeros(40), np.ones(40)] + 0.05 * rng.standard_normal(80)
    ref = lipschitz_regression(X, y, lam=0.05, p_x=p_x, method="pairs")
    with warnings.catch_warnings():
        warnings.simplefilter("error", CertificateWarning)
        cp = lipschitz_regression(X, y, lam=0.05, p_x=p_x, method="cutting-plane",
                                  method_options={"coarsen": 0, "engine": engine})
    assert cp.certified and ref.certified and ref.lipschitz > 0.5 and cp.info["engine"] == engine
    assert cp.info["rounds"] >= 2  # the start graph alone was not enough
    np.testing.assert_allclose(cp.objective, ref.objective, rtol=1e-6)
    np.testing.assert_allclose(cp.lipschitz, ref.lipschitz, rtol=1e-5)
    np.testing.assert_allclose(cp.values, ref.values, rtol=0, atol=1e-6)


# ---------------------------------------------------------------- the cutting plane with weights


def _weighted_instance(k=1, n=80):
    rng = np.random.default_rng(6)
    X = rng.random((n, 2))
    y = np.sin(3.0 * X[:, 0]) + 0.4 * rng.standard_normal(n)
    if k > 1:
        y = np.stack([y, np.cos(2.0 * X[:, 1])], axis=1)
    # Far from uniform (a factor 5 on a strip, a factor 9 within), bounded below where positive so
    # that the values there are determined to the solver's accuracy; four points carry no weight.
    w = rng.uniform(0.2, 1.8, n) * (1.0 + 4.0 * (X[:, 0] > 0.7))
    w[:4] = 0.0
    return X, y, w / w.sum()


@pytest.mark.parametrize("p_x, k, options", [
    (np.inf, 1, None),
    (2.0, 1, {"oracle": "tree"}),
    (1.0, 1, {"oracle": "tree", "backend": "numpy"}),
    (2.0, 2, None),
])
def test_weighted_cutting_plane_equals_the_all_pairs_reference(p_x, k, options):
    """Non-uniform sample weights through the cutting plane (blocks and tree oracle, scalar and
    vector outputs) against the all-pairs program: objective to 1e-6 relative, values at the
    weighted points to 1e-6, both certified; the objective is the weighted one, recomputed here."""
    X, y, w = _weighted_instance(k)
    lam = 0.03
    # The objective is strongly convex in each weighted value, so a certified gap g pins u_i only to
    # sqrt(g / w_i) (1e-5 here), and the interior-point values move about as sqrt(tol): at the default
    # tol 1e-8 the two solves' values were 2.7e-7 apart for k = 2 (a quarter of the atol below), at
    # tol 1e-10 they are 9e-8 apart (4e-10 for k = 1).
    ref = lipschitz_regression(X, y, lam=lam, weights=w, p_x=p_x, method="pairs", tol=1e-10)
    cp = lipschitz_regression(X, y, lam=lam, weights=w, p_x=p_x, method="cutting-plane", method_options=options,
                              tol=1e-10)
    assert cp.method == "cutting-plane" and ref.method == "pairs"
    assert cp.certified and ref.certified
    np.testing.assert_allclose(cp.objective, ref.objective, rtol=1e-6)
    Y = y.reshape(len(y), -1)
    resid = np.linalg.norm(cp.values - Y, axis=1) ** 2
    np.testing.assert_allclose(cp.objective, w @ resid + lam * cp.lipschitz, rtol=1e-9)
    pos = w > 0
    np.testing.assert_allclose(cp.values[pos], ref.values[pos], rtol=0, atol=1e-6)
    np.testing.assert_allclose(cp.lipschitz, ref.lipschitz, rtol=1e-6)
    # The weights are what was minimized: the uniform-weight optimum is worse for this objective.
    uni = lipschitz_regression(X, y, lam=lam, p_x=p_x, method="cutting-plane", method_options=options)
    J_uni = w @ (np.linalg.norm(uni.values - Y, axis=1) ** 2) + lam * uni.lipschitz
    assert J_uni > cp.objective * (1 + 1e-3)


# ---------------------------------------------------------------- the cutting plane's tolerances


def test_documented_default_tolerances_are_pinned():
    """The stopping rule is part of the contract: certificate tolerances 1e-6 (both parts),
    interior-point tolerance 1e-8, oracle tolerance max(10 tol, 1e-9) (checked on a solve below),
    loose rounds at most 1e-5, inactive pairs dropped below 1e-6 of the largest multiplier.
    A looser default would let a solve stop early and still look fine to tests with slack."""
    assert FEASIBILITY_TOL == 1e-6 and GAP_TOL == 1e-6
    api = inspect.signature(lipschitz_regression).parameters
    assert api["tol"].default == 1e-8
    assert api["feasibility_tol"].default == 1e-6 and api["gap_tol"].default == 1e-6
    cp = inspect.signature(solve_cutting_plane).parameters
    # The stopping rule and what decides it (speed-only options such as k_init are not pinned).
    want = dict(viol_tol=None, max_rounds=100, loose=1e-2, loose_max=1e-5, drop=1e-6)
    assert {name: cp[name].default for name in want} == want


def test_a_default_cutting_plane_solve_is_certified_to_1e_6_and_ends_at_the_target_tolerance():
    rng = np.random.default_rng(12)
    X = rng.random((400, 2))
    y = np.sign(X[:, 0] - 0.5) + 0.3 * rng.standard_normal(400)
    with warnings.catch_warnings():
        warnings.simplefilter("error", CertificateWarning)
        # The interior-point rounds (engine "ipm"): the default for this problem is the forest method,
        # which has no solver tolerance to end at.
        res = lipschitz_regression(X, y, lam=0.01, method="cutting-plane", method_options={"engine": "ipm"})
    assert 0 <= res.max_violation <= 1e-6 and 0 <= res.relative_gap <= 1e-6
    assert res.certified and res.status == "optimal"
    assert res.info["viol_tol"] == 1e-7  # max(10 tol, 1e-9) at tol = 1e-8
    assert res.info["tolerance_per_round"][-1] == 1e-8  # the last round at the target tolerance
    assert res.info["violation_per_round"][-1] <= 1e-7
    # The certificate is the dense definition: recompute the feasibility part here.
    Un = (res.values - 0.5 * (y.min() + y.max())) / np.ptp(y)
    Xn = X / np.ptp(X, axis=0).max()
    Ln = res.lipschitz * np.ptp(X, axis=0).max() / np.ptp(y)
    dense = max(0.0, float(_dense_excess(Xn, Un, Ln, 2.0, 2.0).max()))
    assert dense <= 1e-6
    np.testing.assert_allclose(res.max_violation, dense, rtol=1e-6, atol=1e-12)


# ---------------------------------------------------------------- verdict fields on constructed tables


_NS = np.array([32, 64, 128, 256, 512, 1024])
_COUNTS = np.array([2, 3, 5, 8, 13, 4])  # unequal seeds per n


def _table(seed=0):
    rng = np.random.default_rng(seed)
    n = np.repeat(_NS, _COUNTS)
    e = 0.7 * n.astype(float) ** -0.4 * rng.lognormal(0.0, 0.4, n.size)
    return n, e


def _bootstrap_slopes(n, e, n_boot, seed):
    """The stratified bootstrap of fit_slope's docstring, written out: rows put in order (n, then
    error), each n's errors resampled with replacement within that n (its own count), groups in
    increasing n, and the least-squares slope of log mean against log n per replicate."""
    rng = np.random.default_rng(seed)
    order = np.lexsort((e, n))
    n, e = n[order], e[order]
    values = np.unique(n)
    groups = [e[n == v] for v in values]
    boot = np.column_stack([g[rng.integers(0, g.size, size=(n_boot, g.size))].mean(axis=1) for g in groups])
    slopes = np.array([np.polyfit(np.log(values), np.log(row), 1)[0] for row in boot])
    return slopes, boot


def test_fit_slope_interval_is_the_stratified_bootstrap_at_the_requested_level():
    n, e = _table()
    n_boot = 400
    slopes, boot = _bootstrap_slopes(n, e, n_boot, seed=7)
    for level in (0.5, 0.95):
        fit = fit_slope(n, e, n_boot=n_boot, level=level, seed=7)
        a = 0.5 * (1.0 - level)
        np.testing.assert_allclose([fit.ci_low, fit.ci_high], np.quantile(slopes, [a, 1.0 - a]), rtol=1e-10)
        np.testing.assert_allclose(fit.mean_ci, np.quantile(boot, [a, 1.0 - a], axis=0).T, rtol=1e-12)
        assert fit.level == level and fit.n_boot == n_boot
    narrow = fit_slope(n, e, n_boot=n_boot, level=0.5, seed=7)
    wide = fit_slope(n, e, n_boot=n_boot, level=0.95, seed=7)
    assert wide.ci_low < narrow.ci_low < narrow.slope < narrow.ci_high < wide.ci_high
    # The point estimate: least squares on the per-n means.
    means = np.array([e[n == v].mean() for v in _NS])
    np.testing.assert_array_equal(wide.counts, _COUNTS)
    np.testing.assert_allclose(wide.means, means, rtol=1e-14)
    np.testing.assert_allclose([wide.slope, wide.intercept], np.polyfit(np.log(_NS), np.log(means), 1), rtol=1e-10)


def test_bootstrap_replicates_keep_the_per_n_counts():
    """With one row at each n but the last, a stratified replicate can only redraw that row: every
    replicate mean at those n is the row itself, so their mean intervals are points. Resampling
    across n (or with the wrong count) would mix rows of different n."""
    n = np.r_[_NS[:-1], np.full(6, _NS[-1])]
    e = np.r_[0.9 * _NS[:-1].astype(float) ** -0.5, np.linspace(0.02, 0.05, 6)]
    fit = fit_slope(n, e, n_boot=300, level=0.9, seed=1)
    np.testing.assert_array_equal(fit.counts, [1, 1, 1, 1, 1, 6])
    np.testing.assert_allclose(fit.mean_ci[:-1, 0], e[:5], rtol=1e-15)
    np.testing.assert_allclose(fit.mean_ci[:-1, 1], e[:5], rtol=1e-15)
    lo, hi = fit.mean_ci[-1]
    assert 0.02 <= lo < e[-6:].mean() < hi <= 0.05


def _sweep_table(m, *, theta=None, quantity="w1"):
    n, e = _table(seed=m)
    base = dict(manifold="cube", m=m, d=m, density="uniform", lam=0.02, loss="squared", label="ramp",
                method="convex", status="ok")
    df = pd.DataFrame({**base, "n": n, quantity: e})
    df[f"bound_{'linf' if quantity.startswith('linf') else quantity}"] = 2.0 * discrepancy_bound(n, m)
    if theta is not None:
        df["theta"] = theta
    return df


def _ls_slope(x, y):
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


@pytest.mark.parametrize("m", [1, 2, 3])
def test_fit_rate_log_corrected_exponents_are_least_squares_slopes_of_the_rates(m):
    """theory_exponent_log is the log-log least-squares slope of (log n / n)^(1/(m+2)) over the
    measured n, sharp_exponent_log that of the sharp rate (n^-1/2, sqrt(log n / n), n^-1/m); for the
    sup error (Corollary 4.9) the theory rate is the (m+2)-th root of the Theorem 4.8 factor."""
    row = fit_rate(_sweep_table(m), n_boot=50).iloc[0]
    rate = (np.log(_NS) / _NS) ** (1.0 / (m + 2))
    np.testing.assert_allclose(row["theory_exponent_log"], _ls_slope(_NS, rate), rtol=1e-12)
    sharp = {1: _NS ** -0.5, 2: np.sqrt(np.log(_NS) / _NS)}.get(m, _NS ** (-1.0 / m))
    np.testing.assert_allclose(row["sharp_exponent_log"], _ls_slope(_NS, sharp), rtol=1e-12)
    assert row["theory_exponent_log"] > row["theory_exponent"]  # the log makes the decay slower here
    sup = fit_rate(_sweep_table(m, quantity="linf_hi"), n_boot=50).iloc[0]
    np.testing.assert_allclose(sup["theory_exponent_log"], _ls_slope(_NS, rate ** (1.0 / (m + 2))), rtol=1e-12)
    np.testing.assert_allclose(sup["theory_exponent"], -1.0 / (m + 2) ** 2, rtol=1e-15)
    assert np.isnan(sup["sharp_exponent_log"])
    # and the sharp rates of lipconv.discrepancy are those written above
    np.testing.assert_allclose(sharp_rate(_NS, m), sharp, rtol=1e-14)


def test_fit_rate_ratio_fields_and_level():
    df = _sweep_table(2)
    wide = fit_rate(df, n_boot=300, level=0.95).iloc[0]
    narrow = fit_rate(df, n_boot=300, level=0.5).iloc[0]
    assert wide["ci_low"] < narrow["ci_low"] < narrow["ci_high"] < wide["ci_high"]
    assert wide["ratio_ci_low"] < narrow["ratio_ci_low"] < narrow["ratio_ci_high"] < wide["ratio_ci_high"]
    ratio = (df["w1"] / df["bound_w1"]).groupby(df["n"]).mean().to_numpy()
    np.testing.assert_allclose(wide["max_ratio"], ratio.max(), rtol=1e-12)
    assert wide["below_bound"] == bool(ratio.max() < 1.0)
    np.testing.assert_allclose(wide["ratio_slope"], _ls_slope(_NS, ratio), rtol=1e-10)
    means = df.groupby("n")["w1"].mean().to_numpy()
    np.testing.assert_allclose(wide["slope"], _ls_slope(_NS, means), rtol=1e-10)
    assert (wide["n_min"], wide["n_max"], wide["seeds_min"]) == (32, 1024, 2)


@pytest.mark.parametrize("theta", [0.5, 2.0])
def test_theorem_48_bound_for_a_loss_with_theta_other_than_two(theta):
    """Theorem 4.8: (theta/2) ||u_n - u||^2 <= C J / lam r_n, so the L2^2 bound is (2/theta) J/lam r_n
    (4 J/lam r_n at theta = 1/2, not the J/lam r_n of the squared loss), and Corollary 4.9's is
    (m^2 L^m (2/theta) J/lam r_n)^(1/(m+2))."""
    n, m, lam, J, Ld = 777, 3, 0.04, 0.3, 2.5
    r = (np.log(n) / n) ** (1.0 / (m + 2))
    b = theorem_bounds(n, m, lam=lam, J_ref=J, theta=theta, lipschitz_diff=Ld)
    np.testing.assert_allclose(b["bound_w1"], r, rtol=1e-14)
    np.testing.assert_allclose(b["bound_l2sq"], (2.0 / theta) * J / lam * r, rtol=1e-14)
    np.testing.assert_allclose(b["bound_linf"], (m**2 * Ld**m * (2.0 / theta) * J / lam * r) ** (1.0 / (m + 2)), rtol=1e-14)


def test_fit_rate_uses_the_theorem_that_the_loss_allows():
    """A strongly convex loss (theta > 0, any value) gets Theorem 4.8's exponent -1/(m+2); theta = 0
    (absolute, Huber) gets no exponent and no ratio verdict."""
    strong = fit_rate(_sweep_table(2, theta=0.5, quantity="l2sq"), n_boot=50).iloc[0]
    assert strong["theorem"] == "Theorem 4.8" and strong["theory_exponent"] == -0.25
    assert np.isfinite(strong["max_ratio"])
    weak = fit_rate(_sweep_table(2, theta=0.0, quantity="l2sq"), n_boot=50).iloc[0]
    assert weak["theorem"] == "Theorem 4.7 (no rate)" and np.isnan(weak["theory_exponent"])
    assert "max_ratio" not in weak or pd.isna(weak["max_ratio"])


# ---------------------------------------------------------------- the power method's history


def test_power_method_history_is_the_sequence_of_estimates():
    """history[k] = ||A^T u_k||_2 after pass k ([RKH] eqs. (4), (6)), recomputed with a plain
    numpy loop from the same start; it is non-decreasing (||A v_k|| <= ||A^T u_k|| <= ||A v_{k+1}||)
    and below sigma_1, and with tol = 0 every pass is recorded."""
    rng = np.random.default_rng(4)
    A = rng.standard_normal((7, 5))
    v0 = rng.standard_normal(5)
    res = power_method(lambda v: A @ v, lambda u: A.T @ u, A.shape, iters=25, tol=0.0, v0=v0)
    v = v0 / np.linalg.norm(v0)
    want = []
    for _ in range(25):
        u = A @ v
        u /= np.linalg.norm(u)
        vt = A.T @ u
        want.append(np.linalg.norm(vt))
        v = vt / np.linalg.norm(vt)
    assert res.iterations == 25 and res.history.shape == (25,) and not res.converged and res.seed is None
    np.testing.assert_allclose(res.history, want, rtol=1e-12)
    s1 = np.linalg.svd(A, compute_uv=False)[0]
    assert np.all(np.diff(res.history) >= -1e-12 * s1) and res.history.max() <= s1 * (1 + 1e-12)
    # With a tolerance the loop stops at the first relative change <= tol, recorded as the last entry.
    stop = power_method(lambda v: A @ v, lambda u: A.T @ u, A.shape, iters=500, tol=1e-9, v0=v0)
    h = stop.history
    assert stop.converged and stop.iterations == len(h) < 500
    assert abs(h[-1] - h[-2]) <= 1e-9 * h[-1] and np.all(np.abs(np.diff(h[:-1])) > 1e-9 * h[1:-1])
    k = min(len(h), len(want))
    np.testing.assert_allclose(h[:k], want[:k], rtol=1e-12)


# ---------------------------------------------------------------- survivors of the mutation check


def test_tree_oracle_maximum_is_exact_whatever_the_threshold():
    """The tree search of scalar outputs runs at threshold min(0, threshold), so its maximum excess
    is exact even when the list threshold is above it (the cutting plane then reports it as the
    certificate without a rescan); the list itself is empty."""
    X, U, L, pair, excess = _two_clusters()
    for threshold in (0.5 * excess, 2.0 * excess):
        res = scan_pairs(X, U, L, per_point=3, threshold=threshold, backend="numba")
        np.testing.assert_allclose(res.max_excess, excess, rtol=1e-9)
        assert list(zip(res.i.tolist(), res.j.tolist())) == ([pair] if threshold < excess else [])


def _far_binding_cluster():
    """A cluster of 31 points within 0.05 of the origin (values on a slope 0.2) and one far point
    at (1, 0) with value (1, 0); queries near the origin."""
    rng = np.random.default_rng(0)
    angle, radius = rng.uniform(np.pi / 2, 3 * np.pi / 2, 30), 0.05 * np.sqrt(rng.random(30))
    C = np.column_stack([radius * np.cos(angle), radius * np.sin(angle)])
    X = np.vstack([[0.0, 0.0], C, [1.0, 0.0]])
    U = np.vstack([[0.0, 0.0], 0.2 * C[:, ::-1], [1.0, 0.0]])
    return X, U


def test_kirszbraun_far_point_that_binds_without_being_violated():
    """At L = 1.02 Lip(data) the minimax point of the 8 nearest points already satisfies the far
    point's constraint (slack -5e-3) but not optimally: the far point binds at the minimax point
    over all points, 7.5e-3 away. A loop that stops as soon as every constraint holds returns the
    first point; the definition (cvxpy, Clarabel at 1e-12) gives the second."""
    import cvxpy as cp

    from lipconv.extension import kirszbraun, lipschitz_constant

    X, U = _far_binding_cluster()
    x = np.array([[0.02, 0.0]])
    L = 1.02 * lipschitz_constant(X, U)
    c = L * np.linalg.norm(X - x, axis=1)
    tight = dict(solver=cp.CLARABEL, tol_gap_abs=1e-12, tol_gap_rel=1e-12, tol_feas=1e-12)

    def minimax(rows):
        v, t = cp.Variable(2), cp.Variable()
        cp.Problem(cp.Minimize(t), [cp.norm(v - U[i]) <= c[i] + t for i in rows]).solve(**tight)
        return v.value, t.value

    v_all, t_all = minimax(range(len(X)))
    v_near, t_near = minimax(np.argsort(c)[:8])
    far_slack = np.linalg.norm(v_near - U[-1]) - c[-1]
    assert t_near < far_slack < 0 and np.linalg.norm(v_near - v_all) > 5e-3  # the construction
    for queries in ("sequential", "independent"):
        V = kirszbraun(X, U, x, L=L, queries=queries, start=8)
        np.testing.assert_allclose(V[0], v_all, rtol=0, atol=1e-6)
        slack = np.linalg.norm(V[0] - U, axis=1) - c
        np.testing.assert_allclose(slack.max(), t_all, rtol=0, atol=1e-8)


@pytest.mark.parametrize("p_x,p_y", [(1.0, np.inf), (np.inf, 1.0), (2.0, 1.0)])
def test_lipschitz_constant_of_vector_values_uses_both_norms(p_x, p_y):
    from lipconv.extension import lipschitz_constant

    rng = np.random.default_rng(9)
    X = rng.random((60, 3))
    U = rng.standard_normal((60, 4))
    D = cdist(X, X, _METRIC[p_x])
    V = cdist(U, U, _METRIC[p_y])
    off = ~np.eye(60, dtype=bool)
    np.testing.assert_allclose(lipschitz_constant(X, U, p_x=p_x, p_y=p_y), (V[off] / D[off]).max(), rtol=1e-12)


@pytest.mark.parametrize("density", ["uniform", "linear"])
def test_rho_points_have_the_moments_of_rho(density):
    """The quasi-Monte Carlo points of the W1 bracket are rho-distributed: on the cube [-1,1]^2
    (model coordinates) E z = (tau/3, 0) and E z^2 = (1/3, 1/3) for the density 1 + tau z_1
    (tau = 1/2 for "linear"); on the sphere the height t has the same law (Archimedes)."""
    from lipconv.discrepancy._semidiscrete import rho_points
    from lipconv.manifolds import FlatCube, Sphere

    tau = 0.5 if density == "linear" else 0.0
    cube = FlatCube(2, 3, density=density, seed=0)
    Y, kind = rho_points(cube, 4096, np.random.default_rng(0))
    z = cube.model(Y)
    assert kind == "sobol" and np.abs(z).max() <= 1 + 1e-12
    np.testing.assert_allclose(z.mean(axis=0), [tau / 3, 0.0], atol=3e-3)
    np.testing.assert_allclose((z**2).mean(axis=0), [1 / 3, 1 / 3], atol=3e-3)
    sphere = Sphere(3, density=density, seed=0)
    t = sphere.coordinate(rho_points(sphere, 4096, np.random.default_rng(1))[0])
    np.testing.assert_allclose([t.mean(), (t**2).mean()], [tau / 3, 1 / 3], atol=3e-3)


@pytest.mark.parametrize("m", [1, 2])
def test_sup_bracket_contains_the_peak_of_a_narrow_tent(m):
    """A tent of height 1 and slope 40 whose peak lies off every grid: its sup is exactly 1, and the
    certified bracket must contain it (the cell bounds, refined ones included, are what make hi an
    upper bound; halving them drops the cell of the peak with a bound below 1)."""
    from lipconv.manifolds import FlatCube

    M = FlatCube(m, m + 1, seed=0)
    peak = np.array([0.1234567, -0.3141593])[:m]
    slope = 40.0

    def f(x):
        return np.maximum(1.0 - slope * np.linalg.norm(M.intrinsic(x) - peak, axis=1), 0.0)

    lo, hi, _ = M.lipschitz_sup(f, slope / M.scale, rtol=0.05, N0=256, max_evals=100_000)
    assert lo <= 1.0 <= hi and hi <= 1.05 * lo * (1 + 1e-12)


def test_a_rise_within_the_bootstrap_noise_is_not_a_resolved_increase():
    """non_increasing fails only on a rise whose bootstrap intervals of the means do not overlap:
    a 2 % rise of the ratio between two n with 40 % scatter is not one, a factor 3 is."""
    rng = np.random.default_rng(2)
    n = np.repeat([100, 200, 400], 12)
    base = dict(manifold="cube", m=1, d=1, density="uniform", lam=0.02, loss="squared", label="ramp",
                method="convex", status="ok")
    noise = rng.lognormal(0.0, 0.4, n.size)
    noise /= np.repeat([noise[n == v].mean() for v in (100, 200, 400)], 12)  # per-n means exactly 1
    for rise, resolved in ((1.02, False), (3.0, True)):
        ratio = np.select([n == 100, n == 200], [1.0, rise], 0.5) * noise
        bound = discrepancy_bound(n, 1)
        df = pd.DataFrame({**base, "n": n, "w1": 0.1 * ratio * bound, "bound_w1": bound})
        row = fit_rate(df, n_boot=400).iloc[0]
        means = (df["w1"] / df["bound_w1"]).groupby(df["n"]).mean().to_numpy()
        assert means[1] > means[0]  # a rise in the means either way
        assert row["non_increasing"] == (not resolved)


def _cube_solve(m=1, n=64, lam=0.02):
    from lipconv.rates import convex_runner, make_problem

    prob = make_problem("cube", m, label="ramp", lam=lam)
    M = prob.manifold()
    X = M.sample(n, np.random.default_rng([0, n]))
    y = prob.label().on(M, X)
    return prob, M, X, y, convex_runner(X, y, lam=lam, loss="squared")


def test_lemma_412_ratio_is_at_least_that_of_the_worst_extension():
    """lemma412 is the largest ratio (theta/2) ||u - u^lam||^2 / (J[u] - J[u^lam] + 2 se) over the
    extensions; the worst extension's terms are reported, so the ratio is at least theirs."""
    from lipconv.rates import error_metrics

    prob, _, X, y, res = _cube_solve()
    out = error_metrics(res, prob, X=X, y=y, seed=0, max_sup_evals=20_000)
    worst = 0.5 * prob.theta * out["l2sq"] / (out["excess_J"] + 2.0 * out["excess_J_se"])
    assert 0 < worst <= out["lemma412"] * (1 + 1e-12) and out["lemma412"] <= 1.0


def test_sup_bracket_of_the_error_gets_a_lipschitz_constant_of_the_error(monkeypatch):
    """The error u_n - u^lam is (L_n + Lip(u^lam))-Lipschitz, not L_n-Lipschitz: every constant that
    error_metrics hands to the certified sup bracket must bound the error's difference quotients,
    measured here on 4,000 short pairs of points of M."""
    from lipconv.manifolds import FlatCube
    from lipconv.rates import error_metrics

    prob, M, X, y, res = _cube_solve(m=2, n=48)
    seen = []
    original = FlatCube.lipschitz_sup

    def spy(self, f, L, **kw):
        seen.append((f, float(L)))
        return original(self, f, L, **kw)

    monkeypatch.setattr(FlatCube, "lipschitz_sup", spy)
    error_metrics(res, prob, X=X, y=y, seed=0, max_sup_evals=20_000)
    assert len(seen) == 2
    rng = np.random.default_rng(5)
    z = rng.uniform(-1, 1, (4000, M.m))
    z2 = np.clip(z + rng.uniform(-0.02, 0.02, z.shape), -1, 1)
    a, b = M.embed(z), M.embed(z2)
    dist = np.linalg.norm(a - b, axis=1)
    steepest = 0.0
    for f, L in seen:
        quotient = np.abs(np.abs(f(a)) - np.abs(f(b))) / np.maximum(dist, 1e-300)
        assert quotient.max() <= L * (1 + 1e-9)
        steepest = max(steepest, quotient.max())
    assert steepest > float(res.lipschitz) * 1.05  # the reference's slope counts
