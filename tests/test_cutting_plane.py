"""Tests of the cutting-plane solver and the pruned pair oracle / certificate (issue 3)."""
from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lipconv._pairwise import pairwise_distances
from lipconv.solvers import lipschitz_regression, violation_scan
from lipconv.solvers._cutting_plane import knn_pairs, solve_cutting_plane
from lipconv.solvers._oracle import block_partition, scan_pairs

NORMS = [1.0, 2.0, np.inf]


def _instance(seed, n=90, d=2, k=1):
    rng = np.random.default_rng(seed)
    X = rng.random((n, d))
    y = np.sin(4.0 * X[:, 0]) + 0.3 * rng.standard_normal(n)
    if k > 1:
        y = np.stack([y] + [np.cos(3.0 * X[:, -1] + c) for c in range(1, k)], axis=1)
    return X, y


def _dense_excess(X, U, L, p_x, p_y):
    E = pairwise_distances(U, p=p_y) - L * pairwise_distances(X, p=p_x)
    np.fill_diagonal(E, -np.inf)
    return E


# ---------------------------------------------------------------- oracle and certificate


@pytest.mark.parametrize("p_x", NORMS)
@pytest.mark.parametrize("p_y,k", [(2.0, 1), (1.0, 3), (2.0, 2), (np.inf, 2)])
@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_scan_matches_dense_scan(p_x, p_y, k, backend):
    rng = np.random.default_rng(7)
    X = rng.random((230, 3))
    U = 0.3 * rng.standard_normal((230, k)) + X[:, :1]
    L = 1.0
    E = _dense_excess(X, U, L, p_x, p_y)
    res = scan_pairs(X, U, L, p_x=p_x, p_y=p_y, per_point=3, threshold=0.01, leaf_size=16, backend=backend)
    assert res.max_excess == pytest.approx(max(0.0, E.max()), rel=1e-12, abs=1e-14)
    Et = np.where(E > 0.01, E, -np.inf)
    if k == 1:  # scalar outputs: a point's partners are the points below it (the oriented cut)
        Et = np.where(U[:, :1] >= U[:, 0][None, :], Et, -np.inf)
    want = set()
    for i, row in enumerate(np.argsort(-Et, axis=1)[:, :3]):
        want |= {(min(i, j), max(i, j)) for j in row if np.isfinite(Et[i, j])}
    assert set(zip(res.i.tolist(), res.j.tolist())) == want
    np.testing.assert_allclose(res.excess, E[res.i, res.j], rtol=1e-12, atol=1e-14)
    assert np.all(np.diff(res.excess) <= 0)


def test_torch_cpu_backend_agrees_with_numba():
    pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    X = rng.random((150, 2))
    U = rng.standard_normal((150, 2))
    a = scan_pairs(X, U, 2.0, per_point=2, threshold=0.05, backend="numba")
    b = scan_pairs(X, U, 2.0, per_point=2, threshold=0.05, backend="torch")
    assert a.max_excess == pytest.approx(b.max_excess, rel=1e-12)
    assert set(zip(a.i.tolist(), a.j.tolist())) == set(zip(b.i.tolist(), b.j.tolist()))


def test_scan_prunes_a_lipschitz_function():
    """A 1-Lipschitz ramp tested with L = 1 has no violation; most block pairs must be pruned."""
    rng = np.random.default_rng(0)
    X = rng.random((4000, 2))
    U = np.clip(X[:, :1] - 0.5, -0.1, 0.1)
    res = scan_pairs(X, U, 1.0, backend="numba")
    assert res.max_excess == 0.0
    assert res.pruned_fraction > 0.5


def test_violation_scan_equals_dense_definition():
    rng = np.random.default_rng(1)
    X = rng.random((120, 3))
    U = rng.standard_normal((120, 1))
    L = 0.7
    E = _dense_excess(X, U, L, 2.0, 2.0)
    # Default scale: the range of U; never L (a slope, which would make the number depend on units of X).
    want = max(0.0, E.max()) / np.ptp(U)
    assert violation_scan(X, U, L) == pytest.approx(want, rel=1e-12)
    assert violation_scan(X, U, L, scale=2.5) == pytest.approx(max(0.0, E.max()) / 2.5, rel=1e-12)
    # In other units of X (X -> c X, L -> L / c) the number does not move.
    assert violation_scan(1e-6 * X, U, 1e6 * L) == pytest.approx(want, rel=1e-9)


def test_scan_handles_duplicate_points():
    X = np.zeros((5, 2))
    U = np.arange(5.0)[:, None]
    assert scan_pairs(X, U, 3.0).max_excess == pytest.approx(4.0, rel=1e-15)


def test_block_partition_is_a_permutation_of_compact_leaves():
    X = np.random.default_rng(2).random((1000, 3))
    order, starts = block_partition(X, 64)
    np.testing.assert_array_equal(np.sort(order), np.arange(1000))
    assert starts[0] == 0 and starts[-1] == 1000
    assert np.diff(starts).max() <= 64


def test_scan_rejects_unknown_backend():
    with pytest.raises(ValueError, match="backend must be one of"):
        scan_pairs(np.zeros((3, 1)), np.zeros((3, 1)), 1.0, backend="gpu")


@given(seed=st.integers(0, 10_000), L=st.floats(0.0, 5.0), p_x=st.sampled_from(NORMS))
def test_property_scan_is_exact(seed, L, p_x):
    """Property: the pruned scan equals the dense maximum excess (exactness of the block bound)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 120))
    X = rng.random((n, 2))
    U = rng.standard_normal((n, 1))
    E = _dense_excess(X, U, L, p_x, 2.0)
    got = scan_pairs(X, U, L, p_x=p_x, leaf_size=8).max_excess
    assert got == pytest.approx(max(0.0, E.max()), rel=1e-12, abs=1e-15)


# ---------------------------------------------------------------- the solver


@pytest.mark.parametrize("loss", ["squared", "absolute"])
@pytest.mark.parametrize("p_x", NORMS)
def test_cutting_plane_matches_reference_scalar(loss, p_x):
    X, y = _instance(11)
    ref = lipschitz_regression(X, y, lam=0.05, loss=loss, p_x=p_x, method="pairs")
    cp = lipschitz_regression(X, y, lam=0.05, loss=loss, p_x=p_x, method="cutting-plane")
    np.testing.assert_allclose(cp.objective, ref.objective, rtol=1e-6)
    # J grows quadratically in u around the optimum and L moves linearly with u, so a gap of g pins
    # L only to about sqrt(g) (gaps 4e-11 and 4e-9 here, L 1.3e-5 apart).
    np.testing.assert_allclose(cp.lipschitz, ref.lipschitz, rtol=1e-4)
    assert cp.max_violation <= 1e-6
    assert cp.n_pairs < X.shape[0] * (X.shape[0] - 1) // 2


@pytest.mark.parametrize("loss", ["squared", "absolute"])
@pytest.mark.parametrize("p_y", [2.0, np.inf])
def test_cutting_plane_matches_reference_vector(loss, p_y):
    X, y = _instance(12, n=70, k=2)
    ref = lipschitz_regression(X, y, lam=0.05, loss=loss, p_y=p_y, method="pairs")
    cp = lipschitz_regression(X, y, lam=0.05, loss=loss, p_y=p_y, method="cutting-plane")
    np.testing.assert_allclose(cp.objective, ref.objective, rtol=1e-6)
    assert cp.max_violation <= 1e-6
    if loss == "squared":
        np.testing.assert_allclose(cp.values, ref.values, rtol=0, atol=1e-4)


def test_cutting_plane_falls_back_to_cvxpy_for_huber():
    rng = np.random.default_rng(5)
    X = rng.random((40, 2))
    y = rng.random(40)
    ref = lipschitz_regression(X, y, lam=0.05, loss="huber", method="pairs")
    cp = lipschitz_regression(X, y, lam=0.05, loss="huber", method="cutting-plane")
    assert cp.info["subproblem"] == "cvxpy"
    np.testing.assert_allclose(cp.objective, ref.objective, rtol=1e-6)


@pytest.mark.parametrize("p_y,k", [(2.0, 2), (np.inf, 3), (2.0, 3)])
def test_cross_entropy_newton_subproblems_match_the_exponential_cone_reference(p_y, k):
    """The direct path solves the cross-entropy by damped Newton steps of QPs (no exponential
    cones); it must reach the cvxpy exponential-cone reference's optimum and values, and so must the
    cutting plane forced onto its cvxpy subproblems."""
    rng = np.random.default_rng(5 + k)
    X = rng.random((45, 2))
    Z = np.eye(k)[np.minimum((X[:, 0] * k).astype(int), k - 1)]
    Z = 0.8 * Z + 0.2 / k  # soft labels
    ref = lipschitz_regression(X, Z, lam=0.02, loss="cross_entropy", p_y=p_y, method="pairs")
    cp = lipschitz_regression(X, Z, lam=0.02, loss="cross_entropy", p_y=p_y, method="cutting-plane")
    old = lipschitz_regression(X, Z, lam=0.02, loss="cross_entropy", p_y=p_y, method="cutting-plane",
                               method_options={"subproblem": "cvxpy"})
    assert cp.info["subproblem"] == "clarabel-direct" and old.info["subproblem"] == "cvxpy"
    assert ref.certified and cp.certified and old.certified
    for res in (cp, old):
        np.testing.assert_allclose(res.objective, ref.objective, rtol=1e-7)
        np.testing.assert_allclose(res.values, ref.values, atol=1e-6)
        np.testing.assert_allclose(res.lipschitz, ref.lipschitz, rtol=1e-6)


def test_one_dimensional_inputs_use_adjacent_pairs_once():
    rng = np.random.default_rng(4)
    x = rng.random(400)
    y = np.sign(x - 0.5)
    res = lipschitz_regression(x, y, lam=0.01, method="cutting-plane")
    assert res.info["rounds"] == 1 and res.n_pairs == 399
    assert res.max_violation <= 1e-7


def test_auto_uses_cutting_plane_above_threshold_and_certifies():
    X, y = _instance(6, n=400, d=3)
    res = lipschitz_regression(X, y, lam=0.02)
    assert res.method == "cutting-plane"
    assert res.max_violation <= 1e-6
    assert res.info["violation_per_round"][-1] <= res.info["viol_tol"]


def test_cutting_plane_verbose_bar_runs(capsys):
    X, y = _instance(8, n=60)
    lipschitz_regression(X, y, lam=0.05, method="cutting-plane", verbose=True)
    assert "cutting-plane" in capsys.readouterr().err


def test_knn_pairs_are_unique_and_ordered():
    X = np.random.default_rng(0).random((50, 2))
    i, j = knn_pairs(X, 5, 2.0)
    assert np.all(i < j)
    assert len(np.unique(i * 50 + j)) == len(i)


def test_max_rounds_reports_non_convergence():
    X, y = _instance(9, n=120)
    w = np.full(120, 1 / 120)
    from lipconv.losses import get_loss

    raw = solve_cutting_plane(
        X, y[:, None], w, get_loss("squared"), 0.05, p_x=2.0, p_y=2.0, solver="CLARABEL",
        tol=1e-8, verbose=False, k_init=2, per_point=1, max_rounds=1,
    )
    assert raw.status == "max_rounds" and raw.info["rounds"] == 1


def _direct(X, y, lam, loss="squared", p_x=2.0, **kw):
    from lipconv.losses import get_loss

    n = X.shape[0]
    w = np.full(n, 1.0 / n)
    lo = get_loss(loss)
    raw = solve_cutting_plane(
        X, y[:, None], w, lo, lam, p_x=p_x, p_y=2.0, solver="CLARABEL", tol=1e-8, verbose=False, **kw
    )
    U, L = raw.values, raw.lipschitz
    return float(w @ lo.value(U, y[:, None])) + lam * L, U, L, raw.status, raw.n_pairs, raw.info


@pytest.mark.parametrize("loss", ["squared", "absolute"])
@pytest.mark.parametrize("p_x", [1.0, np.inf])
def test_coarse_to_fine_start_matches_reference(loss, p_x):
    """Forcing two levels (400 points, then the first 100 of a seeded order) changes only the start."""
    X, y = _instance(13, n=400)
    ref = lipschitz_regression(X, y, lam=0.05, loss=loss, p_x=p_x, method="pairs")
    obj, U, L, status, n_pairs, info = _direct(X, y, 0.05, loss=loss, p_x=p_x, coarse_min=40, seed=3)
    assert status == "optimal"
    assert [lv["n"] for lv in info["levels"]] == [100, 400] and info["seed"] == 3
    np.testing.assert_allclose(obj, ref.objective, rtol=1e-6)
    np.testing.assert_allclose(L, ref.lipschitz, rtol=1e-5)
    assert violation_scan(X, U, L, p_x=p_x) <= 1e-6
    if loss == "squared":  # the minimizer is unique: values come back in the caller's order
        np.testing.assert_allclose(U, ref.values, atol=1e-4)


def test_oriented_cuts_and_loose_rounds_end_at_the_target_tolerance():
    X, y = _instance(14, n=300, d=3)
    obj, U, L, status, n_pairs, info = _direct(X, y, 0.02, coarsen=0, engine="ipm")
    assert status == "optimal" and info["oriented"]
    assert info["tolerance_per_round"][0] > 1e-8 and info["tolerance_per_round"][-1] == 1e-8
    # n_pairs counts unordered pairs; the rows (oriented cuts) can only be as many or more.
    assert n_pairs <= info["pairs_per_round"][-1]
    ref = lipschitz_regression(X, y, lam=0.02, method="pairs")
    np.testing.assert_allclose(obj, ref.objective, rtol=1e-6)


@pytest.mark.parametrize("loss", ["squared", "absolute"])
def test_lam_above_critical_value_gives_an_exact_constant(loss):
    """For a large lam the minimizer is the constant minimizing the loss (L = 0): the solver must
    return it with a zero certificate instead of chasing solver noise divided by L ~ 1e-13."""
    rng = np.random.default_rng(15)
    X = rng.random((400, 2))
    y = rng.random(400)
    res = lipschitz_regression(X, y, lam=100.0, loss=loss, method="cutting-plane")
    assert res.info["constant"] and res.lipschitz == 0.0 and res.max_violation == 0.0
    assert np.ptp(res.values) == 0.0
    best = np.mean((y - y.mean()) ** 2) if loss == "squared" else np.mean(np.abs(y - np.median(y)))
    np.testing.assert_allclose(res.objective, best, rtol=1e-7)


@pytest.mark.slow
def test_cutting_plane_thousand_points_matches_reference():
    """All-pairs reference at n = 1,000 (minutes) against the cutting plane."""
    X, y = _instance(10, n=1000, d=3)
    ref = lipschitz_regression(X, y, lam=0.02, method="pairs")
    cp = lipschitz_regression(X, y, lam=0.02, method="cutting-plane")
    np.testing.assert_allclose(cp.objective, ref.objective, rtol=1e-6)


# ---------------------------------------------------------------- coarse-to-fine start (issue 14)


def _noisy_ramp(m, seed, n=1600):
    """n points of FlatCube(m, 3) with ramp(0.5) labels plus 0.1 N(0, 1) noise (the benchmark's
    problem at test size)."""
    from lipconv.manifolds import FlatCube, ramp_label

    M = FlatCube(m, 3)
    rng = np.random.default_rng(seed)
    X = M.sample(n, rng)
    return X, ramp_label(0.5).on(M, X) + 0.1 * rng.standard_normal(n)


@pytest.mark.parametrize("m", [1, 2, 3])
def test_intrinsic_dimension_estimate_of_flat_cubes(m):
    from lipconv.manifolds import FlatCube
    from lipconv.solvers._cutting_plane import intrinsic_dimension

    rng = np.random.default_rng(m)
    X = FlatCube(m, 3).sample(8192, rng)
    assert abs(intrinsic_dimension(X[:2048], X, 2.0) - m) < 0.3
    assert abs(intrinsic_dimension(X[:4096], X, np.inf) - m) < 0.3


def test_intrinsic_dimension_of_duplicated_points_is_infinite():
    from lipconv.solvers._cutting_plane import intrinsic_dimension

    X = np.repeat(np.random.default_rng(0).random((50, 2)), 5, axis=0)  # 4 copies of every point
    assert intrinsic_dimension(X[::5], X, 2.0) == np.inf


@pytest.mark.parametrize("m,inherits", [(2, True), (3, False)])
def test_auto_transfer_inherits_pairs_below_three_dimensions(m, inherits, monkeypatch):
    """transfer="auto" starts the fine level like transfer=True on a 2-manifold and like
    transfer=False on a 3-manifold (the first fine round's rows tell the starts apart); the size
    from which it decides is lowered to this test's 1,600 points."""
    from lipconv.solvers import _cutting_plane

    monkeypatch.setattr(_cutting_plane, "TRANSFER_FILL_N", 1000)
    X, y = _noisy_ramp(m, 20 + m)
    first = {}
    for transfer in (True, False, "auto"):
        *_, status, _, info = _direct(X, y, 0.01, coarse_min=400, coarsen=4, transfer=transfer, engine="ipm")
        assert status == "optimal" and [lv["n"] for lv in info["levels"]] == [400, 1600]
        first[transfer] = info["levels"][1]["pairs_per_round"][0]
        if transfer == "auto":
            assert abs(info["levels"][0]["dimension_estimate"] - m) < 0.4
    assert first[True] != first[False]
    assert first["auto"] == first[inherits]


def test_auto_transfer_keeps_the_transfer_below_its_size():
    """Below TRANSFER_FILL_N points "auto" inherits pairs in any dimension (measured faster there)."""
    X, y = _noisy_ramp(3, 23)
    first = {t: _direct(X, y, 0.01, coarse_min=400, coarsen=4, transfer=t)[5]["levels"] for t in (True, "auto")}
    assert first["auto"][1]["pairs_per_round"][0] == first[True][1]["pairs_per_round"][0]
    assert "dimension_estimate" not in first["auto"][0]


def test_transfer_rejects_an_unknown_value():
    X, y = _instance(24, n=60)
    with pytest.raises(ValueError, match="transfer must be True, False or 'auto', got 'yes'"):
        _direct(X, y, 0.05, transfer="yes")


@pytest.mark.parametrize("option", ["keep_slack", "per_point", "fine_k"])
@pytest.mark.parametrize("m,fill", [(2, False), (3, True)])
def test_auto_level_options_take_the_fill_values_in_three_dimensions(option, m, fill, monkeypatch):
    """An option left at "auto" takes LEVEL_DEFAULTS on a 2-manifold and FILL_SETTINGS on a
    3-manifold's large levels (size threshold lowered to this test's 1,600 points). Against a run
    with the option set to its LEVEL_DEFAULTS value (the other two "auto" in both): the coarse level
    runs round for round alike, and the fine level too exactly when it is not in the fill regime."""
    from lipconv.solvers import _cutting_plane

    monkeypatch.setattr(_cutting_plane, "TRANSFER_FILL_N", 1000)
    X, y = _noisy_ramp(m, 30 + m)
    runs = {}
    for value in (_cutting_plane.LEVEL_DEFAULTS[option], "auto"):
        J, *_, status, _, info = _direct(X, y, 0.01, coarse_min=400, coarsen=4, transfer=False, engine="ipm", **{option: value})
        assert status == "optimal"
        runs[value] = (J, [lv["pairs_per_round"] for lv in info["levels"]], [lv[option] for lv in info["levels"]],
                       [lv["fill"] for lv in info["levels"]])
    J0, rounds0, *_ = runs[_cutting_plane.LEVEL_DEFAULTS[option]]
    J, rounds, values, fills = runs["auto"]
    assert fills == [False, fill]
    assert rounds[0] == rounds0[0]
    assert (rounds[1] != rounds0[1]) == fill
    assert values == [_cutting_plane.LEVEL_DEFAULTS[option], (_cutting_plane.FILL_SETTINGS if fill else _cutting_plane.LEVEL_DEFAULTS)[option]]
    np.testing.assert_allclose(J, J0, rtol=1e-7)


@pytest.mark.parametrize("name,bad", [("keep_slack", -0.5), ("keep_slack", "wide"), ("keep_slack", True),
                                      ("keep_slack", None), ("keep_slack", float("nan")), ("per_point", 0),
                                      ("per_point", 2.5), ("fine_k", -1), ("fine_k", "none")])
def test_level_options_reject_a_bad_value(name, bad):
    X, y = _instance(24, n=60)
    with pytest.raises(ValueError, match=rf"{name} must be .* >= \d or 'auto', got {re.escape(repr(bad))}"):
        _direct(X, y, 0.05, **{name: bad})


# ---------------------------------------------------------------- issue 26: the forest method and the auto options


@pytest.mark.parametrize("p_x", NORMS)
@pytest.mark.parametrize("kind", ["lam", "fixed", "weights", "duplicates", "line"])
def test_forest_engine_reaches_the_interior_point_optimum(kind, p_x):
    """engine="forest" (the dual active-set method on forests of tight rows) against engine="ipm" on
    the same problem: both certified, objectives to 1e-7 relative (the IPM's tolerance), values to 1e-4
    (a strictly convex loss: the minimizer is unique); the forest's gap is at round-off (its flows are
    the exact multipliers of its tight rows)."""
    rng = np.random.default_rng({"lam": 1, "fixed": 2, "weights": 3, "duplicates": 4, "line": 5}[kind])
    n, d = (150, 1) if kind == "line" else (260, 3)
    X = rng.random((n, d))
    if kind == "duplicates":
        X[:60] = X[60:120]
    y = np.sin(4.0 * X[:, 0]) + 0.3 * rng.standard_normal(n)
    kw = dict(lipschitz=1.2) if kind == "fixed" else dict(lam=0.004)
    if kind == "weights":
        w = rng.random(n)
        kw["weights"] = w / w.sum()
    runs = {e: lipschitz_regression(X, y, p_x=p_x, method="cutting-plane", method_options={"engine": e}, **kw)
            for e in ("forest", "ipm")}
    forest, ipm = runs["forest"], runs["ipm"]
    assert forest.certified and ipm.certified
    assert forest.info["engine"] == "forest" and ipm.info["engine"] == "ipm"
    np.testing.assert_allclose(forest.objective, ipm.objective, rtol=1e-7)
    np.testing.assert_allclose(forest.values, ipm.values, rtol=0, atol=1e-4)
    assert forest.relative_gap <= 1e-12


def test_forest_is_the_default_engine_of_the_squared_loss_with_scalar_outputs():
    X, y = _instance(31, n=200)
    res = lipschitz_regression(X, y, lam=0.01)
    assert res.info["engine"] == "forest" and res.info["steps"] > 0 and res.certified
    for kw in (dict(loss="absolute"), dict(loss="huber")):
        assert lipschitz_regression(X, y, lam=0.01, **kw).info["engine"] == "ipm"
    assert lipschitz_regression(X, np.stack([y, -y], 1), lam=0.01).info["engine"] == "ipm"


def test_engine_rejects_an_unknown_value_and_an_unsupported_problem():
    X, y = _instance(32, n=60)
    with pytest.raises(ValueError, match="engine must be one of .*, got 'simplex'"):
        _direct(X, y, 0.05, engine="simplex")
    with pytest.raises(ValueError, match="engine 'forest' needs the squared loss.*got loss 'absolute'"):
        _direct(X, y, 0.05, loss="absolute", engine="forest")


def test_a_failed_forest_level_falls_back_to_the_interior_point_rounds(monkeypatch):
    """A forest level that ends "failed" (round-off stops a row's steps) is re-solved by the interior-point
    rounds from its rows; the answer is the optimum all the same."""
    from lipconv.solvers import _forest

    real = _forest.solve_forest

    def failing(*args, **kwargs):
        sol = real(*args, **kwargs)
        sol.status = "failed"
        return sol

    monkeypatch.setattr(_forest, "solve_forest", failing)
    X, y = _instance(33, n=150)
    J, _, _, status, _, info = _direct(X, y, 0.01)
    ref = lipschitz_regression(X, y, lam=0.01, method="pairs")
    assert status == "optimal" and info["levels"][-1]["fallback"] == "ipm" and info["subproblem"] == "clarabel-direct"
    np.testing.assert_allclose(J, ref.objective, rtol=1e-6)


def test_auto_k_init_and_fill_follow_the_sampled_intrinsic_dimension():
    """k_init="auto" is 6 and no level is in the fill regime on a 2-manifold; on points filling 8
    dimensions (estimate >= HIGH_DIM = 4) it is 2 and every level is in the fill regime, at any size
    (interior-point rounds); the objective is that of k_init = 6 without the fill values."""
    from lipconv.solvers._cutting_plane import HIGH_DIM

    rng = np.random.default_rng(34)
    X8 = rng.random((1200, 8))
    y8 = np.sin(3.0 * X8[:, 0]) + 0.2 * rng.standard_normal(1200)
    J, *_, status, _, info = _direct(X8, y8, 0.01, engine="ipm")
    assert status == "optimal" and info["dimension_first"] >= HIGH_DIM
    assert info["k_init"] == 2 and all(lv["fill"] for lv in info["levels"])
    J6, *_, status6, _, info6 = _direct(X8, y8, 0.01, engine="ipm", k_init=6, high_dim=float("inf"))
    assert status6 == "optimal" and info6["k_init"] == 6 and not any(lv["fill"] for lv in info6["levels"])
    np.testing.assert_allclose(J, J6, rtol=1e-7)
    X2, y2 = _noisy_ramp(2, 35)
    *_, info2 = _direct(X2, y2, 0.01, engine="ipm")
    assert info2["dimension_first"] < HIGH_DIM and info2["k_init"] == 6
    assert not any(lv["fill"] for lv in info2["levels"])


def test_auto_coarse_min_gives_the_forest_smaller_levels():
    """coarse_min="auto": levels while one has at least 4 x 256 points for the forest method and 4 x 2,048
    for the interior-point rounds (FlatCube(2, 3), n = 1,600: levels 400 and 1,600 against one level)."""
    X, y = _noisy_ramp(2, 36)
    *_, status, _, info = _direct(X, y, 0.01)
    *_, status_ipm, _, info_ipm = _direct(X, y, 0.01, engine="ipm")
    assert status == status_ipm == "optimal"
    assert info["coarse_min"] == 256 and [lv["n"] for lv in info["levels"]] == [400, 1600]
    assert info_ipm["coarse_min"] == 2048 and [lv["n"] for lv in info_ipm["levels"]] == [1600]


@pytest.mark.parametrize("name,bad", [("k_init", 0), ("k_init", "six"), ("coarse_min", 0), ("coarse_min", 1.5),
                                      ("high_dim", -1.0), ("high_dim", "x"), ("high_dim", float("nan"))])
def test_auto_integer_options_reject_a_bad_value(name, bad):
    X, y = _instance(37, n=60)
    with pytest.raises((ValueError, TypeError), match=name):
        _direct(X, y, 0.05, **{name: bad})


def test_sample_knn_pairs_is_the_knn_graph_of_a_seeded_sample():
    from lipconv.solvers._cutting_plane import sample_knn_pairs

    rng = np.random.default_rng(38)
    X = rng.random((500, 3))
    small = sample_knn_pairs(X, 4, 2.0, size=600)
    np.testing.assert_array_equal(np.stack(small), np.stack(knn_pairs(X, 4, 2.0)))
    i, j = sample_knn_pairs(X, 4, 2.0, size=100, seed=3)
    used = np.unique(np.concatenate([i, j]))
    assert len(used) == 100
    sub = np.sort(np.random.default_rng(3).choice(500, 100, replace=False))
    np.testing.assert_array_equal(used, sub)
    si, sj = knn_pairs(X[sub], 4, 2.0)
    np.testing.assert_array_equal(np.stack([i, j]), np.stack([sub[si], sub[sj]]))
