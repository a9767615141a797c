"""Tests of the sharpness study (lipconv.rates._sharpness, studies/sharpness.py) and of the W1 quantization
floor (lipconv.discrepancy.quantization_floor): targets, runs, resumption, the table, the report's
sentences against planted data, and the command line, on tiny grids."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pandas as pd
import pytest
from scipy.special import gamma

import lipconv.rates._sharpness as sharp
from lipconv.discrepancy import ball_mass_constant, quantization_floor, wasserstein1
from lipconv.manifolds import Circle, FlatCube, Sphere, ramp_label
from lipconv.rates import (
    make_manifold, make_problem, read_sharpness, sharpness_run, sharpness_summary, sharpness_sweep, sharpness_table,
    sharpness_target,
)
from lipconv.rates._sharpness import SHARPNESS_COLUMNS, SHARPNESS_TABLE_COLUMNS
from lipconv.solvers import lipschitz_regression

# --- the W1 quantization floor ---------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 7, 100])
def test_floor_is_attained_on_a_segment_by_the_midpoint_quantizer(n):
    """m = 1: the best n-point measure of U[-1, 1] (scale s) is the n cell midpoints, at W1 = s / (2n);
    the floor m/(m+1) (nK)^(-1) with K = 2 / (2s) is exactly that (the bound is tight at m = 1).
    wasserstein1's exact segment path gives the left side."""
    M = FlatCube(1, 1)
    mid = M.embed((-1.0 + (2.0 * np.arange(n) + 1.0) / n)[:, None])
    np.testing.assert_allclose(quantization_floor(n, M), wasserstein1(mid, M).value, rtol=1e-12, atol=0)
    np.testing.assert_allclose(quantization_floor(n, M), M.scale / (2.0 * n), rtol=1e-12, atol=0)


def test_floor_is_within_two_percent_of_the_square_grid_quantizer():
    """m = 2: the k x k grid of cell centres (n = k^2 points, weight 1/n) is at W1 = (cell side)
    (sqrt 2 + asinh 1) / 6, the mean distance to the centre of a square; the floor (2/3) (nK)^(-1/2),
    K = pi / (2s)^2, lies below it by the factor (2/3) / (sqrt(pi) 0.3826) = 0.983 (disks cannot tile).
    A dropped m/(m+1) or a wrong ball volume would leave that window."""
    M = FlatCube(2, 2)
    for k in (4, 16, 64):
        side = 2.0 * M.scale / k
        grid_w1 = side * (np.sqrt(2.0) + np.arcsinh(1.0)) / 6.0
        ratio = quantization_floor(k * k, M) / grid_w1
        np.testing.assert_allclose(ratio, (2.0 / 3.0) / (np.sqrt(np.pi) * (np.sqrt(2) + np.arcsinh(1)) / 6),
                                   rtol=1e-12, atol=0)
        assert 0.98 < ratio < 1.0


@pytest.mark.parametrize("M", [FlatCube(2, 3, seed=1), FlatCube(3, 3), FlatCube(5, 5), Sphere(3, seed=0),
                               FlatCube(4, 6, density="linear", seed=2)], ids=lambda M: M.name)
def test_floor_lies_below_the_w1_bracket_on_actual_samples(M):
    """Every sample's W1(rho_n, rho) is at least the floor, deterministically: it lies below the lower end of
    wasserstein1's bracket on 2 seeds at n = 64 and 256, and for m >= 3 within a factor 2 of it (the floor
    has the right exponent -1/m and a constant of the right size)."""
    for n in (64, 256):
        floor = quantization_floor(n, M)
        for seed in range(2):
            w1 = wasserstein1(M.sample(n, np.random.default_rng([seed, n])), M, seed=seed)
            assert floor <= w1.lo
            if M.m >= 3:
                assert w1.lo < 2.0 * floor


def test_ball_mass_constants():
    """K of the cube is omega_m rho_max / (2s)^m (checked by Monte Carlo: the mass of a ball around the
    centre); K of the sphere is rho_max / (4 s^2) (Archimedes: the cap of chordal radius r has area pi r^2)."""
    for m in (1, 2, 3, 5):
        M = FlatCube(m, m)
        np.testing.assert_allclose(ball_mass_constant(M), np.pi ** (m / 2) / gamma(m / 2 + 1) / (2 * M.scale) ** m,
                                   rtol=1e-12, atol=0)
        x = M.sample(200000, np.random.default_rng(m))
        r = 0.5 * M.scale
        mass = np.mean(np.linalg.norm(x - 0.5, axis=1) <= r)
        np.testing.assert_allclose(mass, ball_mass_constant(M) * r**m, rtol=0.03, atol=0)
    S = Sphere(3)
    x = S.sample(200000, np.random.default_rng(0))
    pole = S.embed(np.array([[0.0, 0.0, 1.0]]))
    for r in (0.2, 0.6, 0.95):
        mass = np.mean(np.linalg.norm(x - pole, axis=1) <= r)
        np.testing.assert_allclose(mass, ball_mass_constant(S) * r**2, rtol=0.03, atol=0)
    np.testing.assert_allclose(ball_mass_constant(FlatCube(2, 2, density="linear")), 1.5 * ball_mass_constant(FlatCube(2, 2)),
                               rtol=1e-12, atol=0)


def test_floor_bad_input():
    with pytest.raises(ValueError, match="n must be >= 1, got 0"):
        quantization_floor(0, FlatCube(2, 2))
    with pytest.raises(ValueError, match="manifold must be a FlatCube or a Sphere for the ball-mass constant"):
        quantization_floor(10, Circle(2))


# --- targets ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("m", [1, 2, 3, 5])
def test_bump_target_is_lipschitz_at_the_minimax_scale_with_random_signs(m):
    """The bump ensemble at n: cell side h_n = 2 n^(-1/(m+2)), cones of height h_n / 2 at the cell
    centres, signs +-1 from the stream [seed, n, 7]; ambient Lipschitz bound 1/s, checked on random and
    on near pairs (the bound is attained along a cone's slope); other seeds and n give other targets."""
    M = make_manifold("cube", m)
    n = 1000
    tgt = sharpness_target("bumps", M, n, 3)
    h = 2.0 * n ** (-1.0 / (m + 2))
    np.testing.assert_allclose(tgt.scale, h, rtol=1e-12, atol=0)
    np.testing.assert_allclose(tgt.lipschitz, 1.0 / M.scale, rtol=1e-12, atol=0)
    rng = np.random.default_rng(m)
    x = M.sample(4000, rng)
    y = np.clip(x + 1e-3 * M.scale * rng.standard_normal(x.shape), 0.5 - M.scale, 0.5 + M.scale)
    y = M.embed(np.clip(M.model(y), -1, 1))
    for a, b in ((x, y), (x, x[::-1])):
        ratio = np.abs(tgt.fn(a) - tgt.fn(b)) / np.linalg.norm(a - b, axis=1).clip(1e-300)
        assert ratio.max() <= tgt.lipschitz * (1 + 1e-9)
    assert ratio.max() >= 0 and np.max(np.abs(tgt.fn(x))) <= 0.5 * h + 1e-12
    centre = M.embed(np.full((1, m), -1.0 + 0.5 * h))
    np.testing.assert_allclose(np.abs(tgt.fn(centre)), 0.5 * h, rtol=1e-12, atol=0)
    values = tgt.fn(x)
    assert np.any(values > 0.1 * h) and np.any(values < -0.1 * h)
    other_seed, other_n = sharpness_target("bumps", M, n, 4), sharpness_target("bumps", M, 2 * n, 3)
    assert np.max(np.abs(other_seed.fn(x) - values)) > 0.1 * h
    assert other_n.scale < tgt.scale
    np.testing.assert_array_equal(sharpness_target("bumps", M, n, 3).fn(x), values)


@pytest.mark.parametrize("k", [4, 10])
def test_bump_energy_of_whole_cells_is_h_squared_over_12(k):
    """m = 1 with n = k^3: k whole cells of side h = 2 / k, each holding a tent of height h / 2, whose mean
    square over the cell is h^2 / 12; bump_energy (Monte Carlo, 200,000 points) finds it within 2 %."""
    h = 2.0 / k
    np.testing.assert_allclose(sharp.bump_energy(1, k**3), h * h / 12.0, rtol=0.02, atol=0)


def test_ramp_target_is_the_rate_study_ramp():
    M = make_manifold("cube", 3)
    tgt = sharpness_target("ramp", M, 100, 0)
    x = M.sample(50, 0)
    np.testing.assert_array_equal(tgt.fn(x), ramp_label(0.5)(M.coordinate(x)))
    np.testing.assert_allclose(tgt.lipschitz, 2.0 / M.scale, rtol=1e-12, atol=0)


def test_target_bad_input():
    with pytest.raises(ValueError, match="family must be one of"):
        sharpness_target("tents", make_manifold("cube", 2), 10, 0)
    with pytest.raises(ValueError, match="manifold must be a FlatCube"):
        sharpness_target("ramp", Sphere(3), 10, 0)
    with pytest.raises(ValueError, match=r"\(estimator, family\) must be one of"):
        sharpness_run("penalized", "bumps", 0.1, 2, 32, 0)
    with pytest.raises(ValueError, match="sigma must be finite and >= 0, got -0.1"):
        sharpness_run("constrained", "ramp", -0.1, 2, 32, 0)


# --- runs ------------------------------------------------------------------------------------------


def _data(m, n, seed, family, sigma):
    M = make_manifold("cube", m)
    rng = np.random.default_rng([seed, n])
    X = M.sample(n, rng)
    tgt = sharpness_target(family, M, n, seed)
    return M, X, tgt.fn(X) + sigma * rng.standard_normal(n), tgt


@pytest.mark.parametrize("estimator, family", [("penalized", "ramp"), ("constrained", "ramp"), ("constrained", "bumps")])
def test_run_reproduces_an_independent_solve(estimator, family):
    """Each estimator's row against the same solve done here from the same streams: its L, its error
    at the samples (against u^lam for the penalized, f* for the constrained), and an L2(rho) error of
    the worst extension that is at least the midpoint's and within 3 standard errors of a Monte Carlo
    estimate of the midpoint extension on 20,000 fresh points when the midpoint is the worst."""
    from lipconv.extension import mcshane, whitney

    m, n, seed, sigma = 2, 96, 1, 0.3
    row = sharpness_run(estimator, family, sigma, m, n, seed)
    assert row["status"] == "ok", row["error"]
    assert tuple(row) == SHARPNESS_COLUMNS
    M, X, y, tgt = _data(m, n, seed, family, sigma)
    if estimator == "penalized":
        res = lipschitz_regression(X, y, lam=sharp.LAM)
        v = make_problem("cube", m, lam=sharp.LAM, label="ramp").u_ref
    else:
        res = lipschitz_regression(X, y, lipschitz=tgt.lipschitz)
        v = tgt.fn
        np.testing.assert_allclose(row["lipschitz"], tgt.lipschitz, rtol=1e-12, atol=0)
        np.testing.assert_allclose(row["lipschitz_bound"], tgt.lipschitz, rtol=1e-12, atol=0)
    np.testing.assert_allclose(row["lipschitz"], res.lipschitz, rtol=1e-6, atol=0)
    np.testing.assert_allclose(row["l2sq_samples"], np.mean((res.values[:, 0] - v(X)) ** 2), rtol=1e-5, atol=0)
    assert row["l2sq"] >= row["l2sq_midpoint"] > 0 and row["l2sq_rel_se"] <= 0.025
    z = M.sample(20000, np.random.default_rng(99))
    L = res.lipschitz
    mid = 0.5 * (mcshane(X, res.values[:, 0], z, L=L) + whitney(X, res.values[:, 0], z, L=L))
    sq = (mid - v(z)) ** 2
    assert abs(sq.mean() - row["l2sq_midpoint"]) <= 3 * (sq.std() / np.sqrt(z.shape[0]) + row["l2sq_se"])
    assert row["max_violation"] <= 1e-6 and row["relative_gap"] <= 1e-6


def test_w1_run_brackets_and_floor():
    row = sharpness_run("w1", "samples", 0.0, 3, 128, 2)
    assert row["status"] == "ok", row["error"]
    M, X, _, _ = _data(3, 128, 2, "ramp", 0.0)
    w1 = wasserstein1(X, M, seed=2)
    np.testing.assert_allclose([row["w1_lo"], row["w1_hi"]], [w1.lo, w1.hi], rtol=1e-12, atol=0)
    np.testing.assert_allclose(row["w1_floor"], quantization_floor(128, M), rtol=1e-12, atol=0)
    assert row["w1_floor"] <= row["w1_lo"] <= row["w1"] <= row["w1_hi"]


def test_sigmas_share_their_noise_and_sigma_zero_interpolates():
    """The constrained ramp at sigma 0 interpolates f* (its labels are L-Lipschitz): zero error at the
    samples, and an L2 error that is the extensions' alone; at sigma > 0 the error at the samples grows."""
    rows = [sharpness_run("constrained", "ramp", s, 2, 64, 0) for s in (0.0, 0.1, 0.3)]
    assert rows[0]["solver_status"] == "interpolation" and rows[0]["l2sq_samples"] == 0.0 and rows[0]["l2sq"] > 0
    assert 0 < rows[1]["l2sq_samples"] < rows[2]["l2sq_samples"]


# --- sweep, resumption -----------------------------------------------------------------------------

_GRID = dict(series=("constrained/bumps", "w1"), sigmas=(0.3,), grid={2: (32, 64)}, n_jobs=1, progress=False)


def test_sweep_resumes_refuses_other_settings_and_stops_after(tmp_path, monkeypatch):
    """A second sweep computes nothing; a record cut short is redone alone; a new seed adds only its runs;
    a CSV of another lam is refused naming it; stop_after stops at the first finished run, and the
    next sweep completes the rest."""
    path = str(tmp_path / "s.csv")
    first = sharpness_sweep(path, seeds=(0, 1), **_GRID)
    assert len(first) == 8 and (first["status"] == "ok").all()
    calls = []
    real = sharp.sharpness_run

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(sharp, "sharpness_run", counting)
    again = sharpness_sweep(path, seeds=(0, 1), **_GRID)
    assert calls == []
    pd.testing.assert_frame_equal(again, first)
    with open(path) as fh:
        text = fh.read()
    with open(path, "w") as fh:
        fh.write(text[:-30])
    resumed = sharpness_sweep(path, seeds=(0, 1), **_GRID)
    assert len(calls) == 1 and len(resumed) == 8 and len(read_sharpness(path)) == 8
    calls.clear()
    more = sharpness_sweep(path, seeds=(0, 1, 2), **_GRID)
    assert sorted(c[4] for c in calls) == [32, 32, 64, 64] and {c[5] for c in calls} == {2} and len(more) == 12
    with pytest.raises(ValueError, match="lam: the CSV at .* was computed with lam = 0.02, this run asks for 0.05"):
        sharpness_sweep(path, seeds=(0,), lam=0.05, **_GRID)
    other = str(tmp_path / "t.csv")
    calls.clear()
    part = sharpness_sweep(other, seeds=(0, 1), stop_after=1e-9, **_GRID)
    assert 1 <= len(part) < 8
    rest = sharpness_sweep(other, seeds=(0, 1), **_GRID)
    assert len(rest) == 8 and len(calls) == 8 and sorted(map(tuple, calls)) == sorted(set(map(tuple, calls)))


def test_sweep_bad_options():
    with pytest.raises(ValueError, match="series must be among"):
        sharpness_sweep("x.csv", series=("nope",))
    with pytest.raises(ValueError, match="rtol_l2 must be in"):
        sharpness_sweep("x.csv", rtol_l2=2.0)
    with pytest.raises(ValueError, match="stop_after must be finite and > 0"):
        sharpness_sweep("x.csv", stop_after=0)


# --- table and report: sentences computed from the data ------------------------------------------


def _planted(series_slopes, ns=(512, 1024, 2048, 4096, 8192), seeds=4, jitter=0.01, floor_above=0):
    """Rows whose errors fall like n^b exactly (times a small seeded jitter), b per (estimator, family,
    sigma, m) and quantity; W1 rows with a floor below their bracket except on ``floor_above`` rows."""
    rng = np.random.default_rng(0)
    rows = []
    for (estimator, family, sigma, m), slopes in series_slopes.items():
        for n in ns:
            for s in range(seeds):
                j = np.exp(jitter * rng.standard_normal(2))
                row = dict(estimator=estimator, family=family, sigma=sigma, m=m, n=n, seed=s, status="ok",
                           lipschitz=5.0, lipschitz_ref=5.0)
                if estimator == "w1":
                    w1 = n ** slopes["w1"] * j[0]
                    floor = 0.7 * w1 if len([r for r in rows if r["estimator"] == "w1"]) >= floor_above else 1.5 * w1
                    row.update(w1=w1, w1_lo=0.99 * w1, w1_hi=1.01 * w1, w1_floor=floor)
                else:
                    row.update(l2sq=n ** slopes["l2sq"] * j[0], l2sq_samples=n ** slopes["l2sq_samples"] * j[1])
                rows.append(row)
    return pd.DataFrame(rows)


def test_planted_slopes_are_recovered_in_the_table():
    df = _planted({("constrained", "bumps", 0.3, 4): {"l2sq": -1 / 3, "l2sq_samples": -0.25},
                   ("w1", "samples", 0.0, 3): {"w1": -1 / 3}})
    table = sharpness_table(df, n_boot=500)
    assert tuple(table.columns) == SHARPNESS_TABLE_COLUMNS
    got = {(r.estimator, r.quantity): r for r in table.itertuples()}
    np.testing.assert_allclose(got["constrained", "l2sq"].slope, -1 / 3, rtol=0, atol=0.01)
    np.testing.assert_allclose(got["constrained", "l2sq_samples"].slope, -0.25, rtol=0, atol=0.01)
    np.testing.assert_allclose(got["w1", "w1"].slope, -1 / 3, rtol=0, atol=0.01)
    r = got["constrained", "l2sq"]
    np.testing.assert_allclose([r.theorem, r.minimax, r.entropy], [-1 / 6, -1 / 3, -1 / 4], rtol=1e-12, atol=0)
    assert r.width < 0.06 and r.ci_low <= r.slope <= r.ci_high
    assert got["w1", "w1"].floor_ok == got["w1", "w1"].floor_rows == 20
    last = df[(df["estimator"] == "constrained") & (df["n"] == 8192)]["l2sq"].mean()
    np.testing.assert_allclose(r.energy_ratio_last, last / sharp.bump_energy(4, 8192), rtol=1e-12, atol=0)


def test_report_prints_only_sentences_the_data_support():
    """Planted slopes on each side of each claim: the sentence that the data contradict is absent, its
    counterpart present (STYLE.md item 14)."""
    minimax_4, entropy_4 = -1 / 3, -1 / 4
    cases = {
        # Theorem 4.8's exponent reached (-1/(m+2) = -0.2 at m = 3) or not
        "reach": {("penalized", "ramp", 0.0, 3): {"l2sq": -0.2, "l2sq_samples": -0.2}},
        "steep": {("penalized", "ramp", 0.0, 3): {"l2sq": -0.6, "l2sq_samples": -0.6}},
        # least squares: minimax or entropy exponent at m = 4
        "minimax": {("constrained", "bumps", 0.3, 4): {"l2sq": minimax_4, "l2sq_samples": -1.0}},
        "entropy": {("constrained", "bumps", 0.3, 4): {"l2sq": entropy_4, "l2sq_samples": entropy_4}},
    }
    text = {k: sharpness_summary(sharpness_table(_planted(v), n_boot=500)) for k, v in cases.items()}
    steeper = "m = 3: every penalized L2(rho)^2 interval is steeper than -1/(m+2)"
    assert steeper not in text["reach"] and "reaches -1/(m+2)" in text["reach"]
    assert steeper in text["steep"] and "reaches -1/(m+2)" not in text["steep"]
    assert "(Theorem 4.8 (stated for smooth M))" in text["reach"]
    # an interval that reaches -1/(m+2) around a steeper point estimate: the interval decides
    near = sharpness_table(_planted({("penalized", "ramp", 0.1, 3): {"l2sq": -0.215, "l2sq_samples": -0.3}},
                                    jitter=0.1), n_boot=500)
    r = near[near["quantity"] == "l2sq"].iloc[0]
    assert r.slope < -0.2 <= r.ci_high  # the planted case is what it should be
    near_text = sharpness_summary(near)
    assert "reaches -1/(m+2)" in near_text and "steeper than -1/(m+2) = -0.200; the slowest" not in near_text
    assert "(measured for comparison (noisy labels: outside Theorem 4.8))" in near_text
    assert "consistent with the minimax exponent, not with -1/m" in text["minimax"]
    assert "interval contains -2/(m+2) = -0.333; steeper than -1/m = -0.250" in text["minimax"]
    assert "shallower than -2/(m+2) = -0.333; interval contains -1/m = -0.250" in text["entropy"]
    assert "consistent with -1/m" not in text["minimax"]
    assert "consistent with -1/m, not with the minimax exponent" in text["entropy"]
    assert "consistent with the minimax exponent" not in text["entropy"]
    # at the samples against L2: disjoint intervals named by direction, or overlap
    assert "the error at the samples falls faster (intervals disjoint)" in text["minimax"]
    assert "intervals overlap" in text["entropy"] and "falls faster" not in text["entropy"]
    # the floor: all below the bracket, or not
    w1 = {("w1", "samples", 0.0, 3): {"w1": -1 / 3}}
    held, broken = (sharpness_summary(sharpness_table(_planted(w1, floor_above=k), n_boot=200)) for k in (0, 2))
    assert "lies below the upper end of the bracket on all 20 samples" in held and "ABOVE" not in held
    assert "ABOVE the upper end of the bracket on 2 of 20 samples" in broken and "on all 20 samples" not in broken
    # interval widths: narrow planted fits meet 0.06, noisy ones do not
    wide = sharpness_summary(sharpness_table(_planted(cases["entropy"], jitter=0.5), n_boot=500))
    assert "0 of 2 fits are wider than 0.06" in text["entropy"]
    assert "2 of 2 fits are wider than 0.06" in wide


def test_summary_numbers_are_the_table_numbers():
    table = sharpness_table(_planted({("constrained", "ramp", 0.1, 3): {"l2sq": -0.4, "l2sq_samples": -0.3}}), n_boot=300)
    text = sharpness_summary(table)
    r = table[table["quantity"] == "l2sq"].iloc[0]
    assert f"L2(rho)^2: slope {r.slope:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]" in text


def test_table_refuses_an_empty_frame():
    with pytest.raises(ValueError, match="df must have at least one row"):
        sharpness_table(pd.DataFrame(columns=list(SHARPNESS_COLUMNS)))


# --- the command line ------------------------------------------------------------------------------

_STUDY = os.path.join(os.path.dirname(__file__), os.pardir, "studies", "sharpness.py")


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("sharpness_study", _STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_modes_reach_the_required_n(study):
    """--long reaches n = 32,768 at m = 3 and 16,384 at m = 4, 5 with 8 seeds; the default spans
    m = 1 ... 5; --m / --n / --seeds / --out replace the mode's values."""
    parse = study.build_parser().parse_args
    name, grid, seeds, sigmas, out = study.plan(parse(["--long"]))
    assert name == "long" and max(grid[3]) == 32768 and max(grid[4]) == max(grid[5]) == 16384 and seeds == 8
    assert out == "sharpness_output_long" and sigmas == (0.3, 1.0)
    name, grid, seeds, sigmas, _ = study.plan(parse([]))
    assert name == "default" and sorted(grid) == [1, 2, 3, 4, 5] and sigmas == (0.1, 0.3, 1.0)
    _, grid, seeds, sigmas, out = study.plan(parse(["--quick", "--m", "2", "--n", "40", "80", "--seeds", "3", "--sigma",
                                                    "0.5", "--out", "o"]))
    assert grid == {2: (40, 80)} and seeds == 3 and out == "o" and sigmas == (0.5,)


def test_small_study_end_to_end(study, tmp_path, capsys):
    """Every option of a run on a tiny grid: the CSV records the asked lam, sigma, l2-rtol and seeds;
    the summary's numbers are the table's; --replot rewrites the same summary; --no-plots writes no
    figure; another --lam on the same output is refused (exit 2)."""
    out = str(tmp_path / "o")
    argv = ["--series", "constrained/ramp", "w1", "--sigma", "0.2", "--m", "2", "--n", "32", "64", "--seeds", "2",
            "--lam", "0.03", "--l2-rtol", "0.1", "--jobs", "1", "--boot", "300", "--no-progress", "--out", out]
    assert study.main(argv) == 0
    df = pd.read_csv(os.path.join(out, "sharpness.csv"))
    assert len(df) == 8 and (df["status"] == "ok").all()
    assert set(df["lam"]) == {0.03} and set(df["rtol_l2"]) == {0.1} and sorted(df["seed"].unique()) == [0, 1]
    assert set(df.loc[df["estimator"] == "constrained", "sigma"]) == {0.2}
    table = pd.read_csv(os.path.join(out, "table.csv"))
    summary = open(os.path.join(out, "summary.md")).read()
    r = table[(table["estimator"] == "constrained") & (table["quantity"] == "l2sq")].iloc[0]
    assert f"slope {r.slope:+.3f} [{r.ci_low:+.3f}, {r.ci_high:+.3f}]" in summary
    assert os.path.exists(os.path.join(out, "sharpness.png"))
    os.remove(os.path.join(out, "sharpness.png"))
    assert study.main(["--replot", "--no-plots", "--boot", "300", "--out", out]) == 0
    assert not os.path.exists(os.path.join(out, "sharpness.png"))
    replot = open(os.path.join(out, "summary.md")).read()
    assert replot.split("Redrawn from")[0].rstrip() == summary.split("Wall time")[0].rstrip()
    assert study.main(argv[:-2] + ["--lam", "0.05", "--out", out]) == 2
    assert "lam: the CSV at" in capsys.readouterr().err
    cut = str(tmp_path / "cut")
    assert study.main(argv[:-1] + [cut, "--stop-after", "1e-6", "--no-plots"]) == 0
    assert 1 <= len(pd.read_csv(os.path.join(cut, "sharpness.csv"))) < 8


@pytest.mark.slow
def test_quick_mode_runs(study, tmp_path):
    out = str(tmp_path / "q")
    assert study.main(["--quick", "--no-progress", "--out", out]) == 0
    table = pd.read_csv(os.path.join(out, "table.csv"))
    assert sorted(table["m"].unique()) == [1, 3, 5] and np.isfinite(table["slope"]).all()
