"""Tests of lipconv.rates: slope fits on synthetic power laws, verdicts, metrics, resume, bad configs."""
from __future__ import annotations

import functools
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lipconv.discrepancy import discrepancy_bound
from lipconv.rates import (
    COLUMNS, METHOD_RUNNERS, SweepConfig, convex_runner, error_metrics, fit_rate, fit_slope, make_problem,
    plan_runs, read_results, run_sweep, theorem_bounds, theorem_exponents,
)

NS = np.array([64, 128, 256, 512, 1024, 2048, 4096])


def _synthetic(slope, *, seeds=20, noise=0.3, A=2.0, rng=0):
    gen = np.random.default_rng(rng)
    n = np.repeat(NS, seeds)
    return n, A * n**slope * gen.lognormal(0.0, noise, size=n.size)


# --- fitters ------------------------------------------------------------------------------------


@given(st.floats(-2.0, 2.0), st.floats(1e-3, 1e3))
def test_property_exact_power_law_slope_recovered(b, A):
    """Property: fit_slope (the fitter behind the Lemma 4.10 / Theorem 4.8 verdicts) returns the
    exponent of an exact power law A n^b, with a degenerate interval and constant local slopes."""
    n = np.repeat(NS, 3)
    fit = fit_slope(n, A * n.astype(float) ** b, n_boot=50)
    np.testing.assert_allclose(fit.slope, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose([fit.ci_low, fit.ci_high], [b, b], rtol=0, atol=1e-10)
    np.testing.assert_allclose(fit.local_slopes, b, rtol=0, atol=1e-10)
    np.testing.assert_allclose(fit.intercept, np.log(A) + np.log(1.0), rtol=0, atol=1e-8 * (1 + abs(np.log(A))))


@pytest.mark.parametrize("slope", [-1.0, -0.5, -1 / 3])
def test_noisy_power_law_ci_covers_true_slope(slope):
    hits = 0
    for rng in range(20):
        n, e = _synthetic(slope, rng=rng)
        fit = fit_slope(n, e, n_boot=400, seed=rng)
        hits += fit.contains(slope)
        # Mean of a lognormal: A e^{s^2/2} n^b, so the intercept is known too.
        assert abs(fit.slope - slope) < 0.15
    # 95 % intervals: at least 15 of 20 cover (binomial(20, 0.95) >= 15 with prob. > 0.999).
    assert hits >= 15


def test_noisy_power_law_ci_excludes_wrong_slope():
    n, e = _synthetic(-0.5, seeds=30, noise=0.2)
    fit = fit_slope(n, e, n_boot=500)
    assert not fit.contains(-1 / 3) and not fit.contains(-1.0)
    assert fit.ci_low < fit.slope < fit.ci_high


def test_stratified_bootstrap_keeps_per_n_counts():
    n, e = _synthetic(-0.5, seeds=5)
    fit = fit_slope(n, e, n_boot=100)
    np.testing.assert_array_equal(fit.counts, np.full(NS.size, 5))
    np.testing.assert_array_equal(fit.n_values, NS)
    assert np.all(fit.mean_ci[:, 0] <= fit.means) and np.all(fit.means <= fit.mean_ci[:, 1])


def test_fit_slope_bad_inputs():
    with pytest.raises(ValueError, match="at least 2 distinct values"):
        fit_slope([10, 10, 10], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="same length"):
        fit_slope([10, 20], [1.0])
    with pytest.raises(ValueError, match="positive mean at every n"):
        fit_slope([10, 20], [1.0, 0.0])
    with pytest.raises(ValueError, match="errors must be finite"):
        fit_slope([10, 20], [1.0, np.nan])
    with pytest.raises(ValueError, match="level must be in"):
        fit_slope([10, 20], [1.0, 0.5], level=1.5)


def _table(m, slope, bound_scale, *, seeds=15, rng=0):
    n, e = _synthetic(slope, seeds=seeds, rng=rng, A=0.3)
    base = dict(manifold="cube", m=m, d=m, density="uniform", lam=0.02, loss="squared", label="ramp",
                method="convex", status="ok")
    df = pd.DataFrame({**base, "n": n, "w1": e})
    df["bound_w1"] = bound_scale(n)
    return df


def test_fit_rate_verdict_for_sharp_w1():
    df = _table(1, -0.5, lambda n: discrepancy_bound(n, 1))
    row = fit_rate(df, n_boot=500).iloc[0]
    assert row["theorem"] == "Lemma 4.10"
    assert row["theory_exponent"] == pytest.approx(-1 / 3) and row["sharp_exponent"] == pytest.approx(-0.5)
    assert row["ci_contains_sharp"] and not row["ci_contains_theory"]
    assert row["below_bound"] and row["non_increasing"] and row["ratio_slope"] < 0


def test_fit_rate_flags_an_increasing_ratio_and_an_exceeded_bound():
    # Error decays like n^-0.5 but the "bound" decays like n^-1 from below the error.
    df = _table(2, -0.5, lambda n: 0.01 * n.astype(float) ** -1.0)
    row = fit_rate(df, n_boot=300).iloc[0]
    assert not row["non_increasing"] and not row["below_bound"] and row["ratio_slope"] > 0


def test_fit_rate_leaves_out_failed_rows_and_notes_unfittable():
    df = _table(1, -0.5, lambda n: discrepancy_bound(n, 1))
    df.loc[df["n"] == 64, "status"] = "failed"
    df.loc[df["n"] == 64, "w1"] = np.nan
    row = fit_rate(df, n_boot=50).iloc[0]
    assert row["n_min"] == 128
    one_n = df[df["n"] == 128]
    assert fit_rate(one_n, n_boot=50).iloc[0]["note"].startswith("no fit")
    with pytest.raises(ValueError, match="df must have at least one row, got 0"):
        fit_rate(df.iloc[:0])


def test_theorem_exponents():
    assert theorem_exponents("w1", 3) == pytest.approx((-0.2, -1 / 3))
    # no sharp rate is known for the errors: none is claimed
    assert theorem_exponents("l2sq", 2)[0] == pytest.approx(-0.25) and np.isnan(theorem_exponents("l2sq", 2)[1])
    assert theorem_exponents("linf_hi", 1)[0] == pytest.approx(-1 / 9) and np.isnan(theorem_exponents("linf_hi", 1)[1])
    assert all(np.isnan(theorem_exponents("gap_Jn", 1)))


# --- metrics and references ---------------------------------------------------------------------


def _solved(name, m, n, *, d=None, seed=0, lam=0.02):
    prob = make_problem(name, m, d=d, label="ramp", lam=lam)
    M = prob.manifold()
    X = M.sample(n, np.random.default_rng([seed, n]))
    y = prob.label().on(M, X)
    return prob, M, X, y, convex_runner(X, y, lam=lam, loss="squared")


@pytest.mark.parametrize("name, m", [("cube", 2), ("sphere", 2), ("curved_torus", 2)])
def test_envelope_errors_bracket_the_midpoint_and_match_an_independent_estimate(name, m):
    """The McShane and Whitney envelopes bound every extension pointwise, so the worst envelope's
    L2 error is at least the midpoint's and, pointwise, |mid - u| <= max(|up - u|, |lo - u|); the
    stratified estimates agree with plain Monte Carlo on 200,000 independent points within their
    standard errors, and their relative standard error meets the 5 % target."""
    from lipconv.extension import mcshane, whitney

    prob, M, X, y, res = _solved(name, m, 300)
    out = error_metrics(res, prob, X=X, y=y, seed=0)
    assert out["l2sq"] == max(out["l2sq_mcshane"], out["l2sq_whitney"], out["l2sq_midpoint"])
    assert out["l2sq_midpoint"] <= out["l2sq"] and out["l2sq_rel_se"] <= 0.05
    z = M.sample(200_000, 99)
    u = prob.u_ref(z)
    L = res.lipschitz
    up, lo = mcshane(X, res.values[:, 0], z, L=L), whitney(X, res.values[:, 0], z, L=L)
    mc = {"mcshane": np.mean((up - u) ** 2), "whitney": np.mean((lo - u) ** 2),
          "midpoint": np.mean((0.5 * (up + lo) - u) ** 2)}
    for k, v in mc.items():
        assert abs(out[f"l2sq_{k}"] - v) <= 4 * out["l2sq_se"] + 0.02 * v, (k, out[f"l2sq_{k}"], v)
    # error at the samples: the definition
    np.testing.assert_allclose(out["l2sq_samples"], np.mean((res.values[:, 0] - prob.u_ref(X)) ** 2), rtol=1e-12)


@pytest.mark.parametrize("name, m", [("cube", 2), ("cube", 3), ("sphere", 2)])
def test_sup_bracket_contains_a_dense_evaluation_including_the_boundary(name, m):
    """The certified sup bracket [linf_lo, linf_hi] of the worst envelope must contain the maximum
    of a dense evaluation that includes the cube's faces, edges and corners (where the sup sits):
    dense <= hi, and lo <= hi <= (1 + sup_rtol) lo."""
    from lipconv.extension import mcshane, whitney

    prob, M, X, y, res = _solved(name, m, 200)
    out = error_metrics(res, prob, X=X, y=y, seed=0)
    gen = np.random.default_rng(5)
    z = [M.sample(100_000, gen)]
    if name == "cube":
        # points on every face, edge and corner: random parameters with some coordinates at +-1
        for k in range(1, m + 1):
            P = gen.uniform(-1, 1, size=(20_000, m))
            P[:, :k] = gen.choice([-1.0, 1.0], size=(20_000, k))
            z.append(M._clip(M.embed(P)))
    z = np.concatenate(z)
    u = prob.u_ref(z)
    up, lo = mcshane(X, res.values[:, 0], z, L=res.lipschitz), whitney(X, res.values[:, 0], z, L=res.lipschitz)
    dense = max(np.abs(up - u).max(), np.abs(lo - u).max())
    assert dense <= out["linf_hi"] * (1 + 1e-12)
    assert out["linf_lo"] <= out["linf_hi"] <= 1.05 * out["linf_lo"] * (1 + 1e-9)
    mid = np.abs(0.5 * (up + lo) - u).max()
    assert mid <= out["linf_mid_hi"] * (1 + 1e-12) and out["linf_mid_lo"] <= out["linf_lo"]


def test_lemma_412_holds_per_run_and_fails_for_a_planted_bad_reference():
    """Lemma 4.12 holds for every u when u^lambda minimizes J: the check passes (ratio <= 1) for the
    solver's u_n, and fails (ratio > 1) when the reference is planted as non-optimal (its Lipschitz
    constant, hence J_ref, inflated as if u^lambda were steeper than the minimizer)."""
    import dataclasses

    prob, M, X, y, res = _solved("cube", 2, 200)
    out = error_metrics(res, prob, X=X, y=y, seed=0)
    assert 0 < out["lemma412"] <= 1.0 and out["excess_J"] > 0
    bad = dataclasses.replace(prob, lipschitz_ref=prob.lipschitz_ref + 5.0)
    assert error_metrics(res, bad, X=X, y=y, seed=0, max_sup_evals=20_000)["lemma412"] > 1.0


def test_theorem_bounds_formulas():
    b = theorem_bounds(1000, 2, lam=0.05, J_ref=0.1, theta=2.0, lipschitz_diff=3.0)
    rate = (np.log(1000) / 1000) ** 0.25
    np.testing.assert_allclose(b["bound_w1"], rate, rtol=1e-14)
    np.testing.assert_allclose(b["bound_l2sq"], 0.1 / 0.05 * rate, rtol=1e-14)
    np.testing.assert_allclose(b["bound_linf"], (4 * 9 * 2 * rate) ** 0.25, rtol=1e-14)
    assert np.isnan(theorem_bounds(100, 1, lam=0.1, J_ref=1, theta=0.0, lipschitz_diff=1)["bound_l2sq"])


def test_exact_reference_problem_is_consistent():
    """The closed-form cube reference: J_ref equals a Monte Carlo estimate of J[u^lambda]."""
    prob = make_problem("cube", 2, label="ramp", lam=0.02)
    assert prob.ref_kind == "closed-form" and prob.exact and prob.theta == 2.0
    M = prob.manifold()
    z = M.sample(400_000, 1)
    J = np.mean((prob.u_ref(z) - prob.label().on(M, z)) ** 2) + prob.lam * prob.lipschitz_ref
    np.testing.assert_allclose(J, prob.J_ref, rtol=5e-3)


# --- sweep: bad configurations, resume ----------------------------------------------------------


def test_bad_configurations_raise_clear_errors(tmp_path):
    out = str(tmp_path / "r.csv")
    with pytest.raises(ValueError, match="manifold must be one of .* got 'klein'"):
        SweepConfig(manifolds=("klein",), output=out)
    with pytest.raises(ValueError, match="n must be an integer >= 2, got 1"):
        SweepConfig(ns=(1, 8), output=out)
    with pytest.raises(ValueError, match="ns must not be empty"):
        SweepConfig(ns=(), output=out)
    with pytest.raises(ValueError, match="seeds must not be empty"):
        SweepConfig(seeds=(), output=out)
    with pytest.raises(ValueError, match="method must be one of"):
        SweepConfig(methods=("magic",), output=out)
    with pytest.raises(ValueError, match="label must be one of"):
        SweepConfig(labels=("zigzag",), output=out)
    with pytest.raises(ValueError, match="lam must be finite and > 0"):
        SweepConfig(lams=(-1.0,), output=out)
    with pytest.raises(ValueError, match="backend must be one of"):
        SweepConfig(backend="mpi", output=out)
    with pytest.raises(ValueError, match="n_caps keys must be among"):
        SweepConfig(n_caps={"sphere": 10}, output=out)
    with pytest.raises(ValueError, match="the sweep has no run"):
        SweepConfig(ns=(64,), n_caps={"cube m=1 d=1": 32}, output=out)
    with pytest.raises(ValueError, match="problems must look like"):
        SweepConfig(problems=("cube:k=2",), output=out)
    with pytest.raises(ValueError, match=r"run_costs\['cube m=1 d=1'\] must be \(seconds at n = 8192, exponent\), both > 0"):
        SweepConfig(run_costs={"cube m=1 d=1": (float("nan"), 1.0)}, output=out)


def test_dask_backend_without_dask_is_a_clear_error(tmp_path):
    try:
        import dask.distributed  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError, match="backend 'dask' needs dask.distributed"):
            SweepConfig(backend="dask", output=str(tmp_path / "r.csv"))
    else:
        assert SweepConfig(backend="dask", output=str(tmp_path / "r.csv")).backend == "dask"


def test_method_registry_plugs_in_a_runner(tmp_path):
    calls = []

    def constant_runner(X, y, *, lam, loss, seed):
        calls.append(seed)
        return METHOD_RUNNERS["convex"](X, y, lam=lam, loss=loss, seed=seed)

    METHOD_RUNNERS["test-constant"] = constant_runner
    try:
        cfg = SweepConfig(ns=(8, 16), seeds=(0, 1), methods=("test-constant",),
                          output=str(tmp_path / "r.csv"), backend="sequential", progress=False)
        df = run_sweep(cfg)
    finally:
        del METHOD_RUNNERS["test-constant"]
    assert sorted(calls) == [0, 0, 1, 1] and set(df["method"]) == {"test-constant"}
    assert (df["status"] == "ok").all()


def test_sweep_rows_are_tidy_and_reproducible(tmp_path):
    kw = dict(ms=(1,), ns=(16, 32), seeds=(0, 1, 2), backend="sequential", progress=False)
    a = run_sweep(SweepConfig(output=str(tmp_path / "a.csv"), **kw))
    b = run_sweep(SweepConfig(output=str(tmp_path / "b.csv"), n_jobs=2, **{**kw, "backend": "threading"}))
    assert list(a.columns) == list(COLUMNS) and len(a) == 6 and a["run_key"].is_unique
    key = ["n", "seed"]
    a, b = a.sort_values(key).reset_index(drop=True), b.sort_values(key).reset_index(drop=True)
    np.testing.assert_allclose(a["w1"], b["w1"], rtol=1e-12)
    np.testing.assert_allclose(a["l2sq"], b["l2sq"], rtol=1e-6, atol=1e-12)
    assert (a["l2sq"] <= a["bound_l2sq"]).all()


def test_partial_last_line_is_dropped_and_redone(tmp_path):
    out = str(tmp_path / "r.csv")
    cfg = SweepConfig(ns=(8, 16), seeds=(0, 1), output=out, backend="sequential", progress=False)
    run_sweep(cfg)
    with open(out) as fh:
        lines = fh.readlines()
    # Simulate a kill while the last row was being written.
    with open(out, "w") as fh:
        fh.writelines(lines[:-1])
        fh.write(lines[-1][: len(lines[-1]) // 2])
    df = run_sweep(cfg)
    assert len(df) == 4 and df["run_key"].is_unique
    assert set(df["run_key"]) == {r["run_key"] for r in plan_runs(cfg)}


def test_foreign_csv_is_refused(tmp_path):
    out = tmp_path / "r.csv"
    out.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a sweep CSV"):
        run_sweep(SweepConfig(ns=(8, 16), seeds=(0,), output=str(out), progress=False))


def test_resume_after_kill_mid_sweep(tmp_path):
    """Kill a sweep process while it runs, rerun: every planned row exactly once."""
    out = str(tmp_path / "r.csv")
    script = textwrap.dedent(f"""
        from lipconv.rates import SweepConfig, run_sweep
        cfg = SweepConfig(ns=(8, 16, 32, 64), seeds=tuple(range(40)), output={out!r},
                          backend="sequential", progress=False)
        run_sweep(cfg)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script])
    deadline = time.time() + 120
    rows = 0
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(out):
            with open(out) as fh:
                rows = sum(1 for _ in fh) - 1
            if rows >= 5:
                break
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = read_results(out)
    assert 5 <= len(before) < 160, "the sweep was not interrupted mid-way"
    cfg = SweepConfig(ns=(8, 16, 32, 64), seeds=tuple(range(40)), output=out,
                      backend="sequential", progress=False)
    after = run_sweep(cfg)
    assert len(after) == 160 and after["run_key"].is_unique
    assert set(after["run_key"]) == {r["run_key"] for r in plan_runs(cfg)}
    # Rows finished before the kill are kept, not redone.
    kept = after.set_index("run_key").loc[before["run_key"], "run_time"].to_numpy()
    np.testing.assert_array_equal(kept, before["run_time"].to_numpy())


# --- sweep: settings of a CSV, failed rows, odd files, canonical fits, streaming ----------------

_TINY = dict(ns=(8, 16), seeds=(0,), l2_rtol=0.05, n_reference=32, sup_evals=20_000, backend="sequential",
             progress=False)


def _counting_runner(calls, *, error=None):
    def runner(X, y, *, lam, loss, seed):
        calls.append((X.shape[0], seed))
        if error is not None:
            raise ValueError(error)
        return METHOD_RUNNERS["convex"](X, y, lam=lam, loss=loss, seed=seed)

    return runner


@pytest.fixture
def counting_method():
    """Register a method "test-count" that counts its calls (and fails when told to)."""
    calls = []

    def register(error=None):
        METHOD_RUNNERS["test-count"] = _counting_runner(calls, error=error)
        return calls

    yield register
    METHOD_RUNNERS.pop("test-count", None)


@pytest.mark.parametrize("name, other", [("l2_rtol", 0.1), ("n_reference", 64), ("sup_evals", 30_000)])
def test_resume_with_other_row_settings_is_refused_naming_the_setting(tmp_path, name, other):
    out = str(tmp_path / "r.csv")
    run_sweep(SweepConfig(output=out, **_TINY))
    msg = (f"{name}: the CSV at {out} was computed with {name} = {_TINY[name]}, this run asks for {other}; "
           "use another output (--out; SweepConfig.output) or the same settings")
    with pytest.raises(ValueError, match=f"^{re.escape(msg)}$"):
        run_sweep(SweepConfig(output=out, **{**_TINY, name: other}))
    before = pd.read_csv(out)
    assert (before[name] == _TINY[name]).all() and len(before) == 2


def test_resume_with_another_lipconv_version_is_refused(tmp_path, monkeypatch):
    import lipconv

    out = str(tmp_path / "r.csv")
    run_sweep(SweepConfig(output=out, **_TINY))
    monkeypatch.setattr(lipconv, "__version__", "99.0")
    with pytest.raises(ValueError, match=r"lipconv_version: .* computed with lipconv_version = .*, this run asks "
                                         r"for 99\.0"):
        run_sweep(SweepConfig(output=out, **_TINY))


def test_resume_ignores_execution_settings_and_appends_new_keys(tmp_path, counting_method):
    calls = counting_method()
    out = str(tmp_path / "r.csv")
    first = run_sweep(SweepConfig(output=out, methods=("test-count",), **_TINY))
    assert sorted(calls) == [(8, 0), (16, 0)]
    # Other workers, backend and progress, one more seed: only the new seed's runs are computed.
    kw = {**_TINY, "seeds": (0, 1), "n_jobs": 2, "backend": "threading"}
    again = run_sweep(SweepConfig(output=out, methods=("test-count",), **kw))
    assert sorted(calls) == [(8, 0), (8, 1), (16, 0), (16, 1)]
    assert list(zip(again["n"], again["seed"])) == [(8, 0), (8, 1), (16, 0), (16, 1)]
    kept = again[again["seed"] == 0].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, first.sort_values("n").reset_index(drop=True))


def test_failed_run_with_multiline_error_is_kept_and_not_rerun(tmp_path, counting_method):
    calls = counting_method(error="first line\nsecond line\r\n  third")
    out = str(tmp_path / "r.csv")
    cfg = SweepConfig(output=out, methods=("test-count",), **{**_TINY, "seeds": (3,)})
    df = run_sweep(cfg)
    assert len(calls) == 2 and (df["status"] == "failed").all()
    assert (df["error"] == "ValueError: first line | second line | third").all()
    assert (df["seed"] == 3).all() and set(df["n"]) == {8, 16}
    again = run_sweep(cfg)
    assert len(calls) == 2, "a failed run was redone on resume"
    pd.testing.assert_frame_equal(df, again)
    # A CSV whose error field holds a quoted line break (e.g. saved by pandas) is read as one record.
    edited = read_results(out)
    edited["error"] = "ValueError: first line\nsecond line"
    edited.to_csv(out, index=False)
    after = run_sweep(cfg)
    assert len(calls) == 2 and len(after) == 2
    assert (after["error"] == "ValueError: first line\nsecond line").all()


@pytest.mark.parametrize("header", [
    ",".join(COLUMNS),                          # header without its line end
    ",".join(COLUMNS) + "\r",                   # cut between \r and \n
    ",".join(COLUMNS)[:17],                     # header cut short
    "",                                         # empty file
], ids=["no-newline", "cr-only", "cut-header", "empty"])
def test_header_only_csv_resumes(tmp_path, header):
    out = tmp_path / "r.csv"
    out.write_bytes(header.encode())
    cfg = SweepConfig(output=str(out), **_TINY)
    df = run_sweep(cfg)
    assert len(df) == 2 and (df["status"] == "ok").all()
    lines = out.read_bytes().split(b"\r\n")
    assert lines[0].decode() == ",".join(COLUMNS) and lines[-1] == b"" and len(lines) == 4
    pd.testing.assert_frame_equal(read_results(str(out)).sort_values("n", ignore_index=True), df)


def test_fit_rate_does_not_depend_on_row_order():
    tables = []
    for m, slope in ((1, -0.5), (2, -0.4)):
        t = _table(m, slope, lambda n: discrepancy_bound(n, m), seeds=6, rng=m)
        t["seed"] = np.tile(np.arange(6), NS.size)
        tables.append(t)
    df = pd.concat(tables, ignore_index=True)
    shuffled = df.sample(frac=1.0, random_state=1).reset_index(drop=True)
    assert not shuffled["n"].equals(df["n"])
    a, b = fit_rate(df, n_boot=200), fit_rate(shuffled, n_boot=200)
    assert a.to_csv(index=False) == b.to_csv(index=False)
    # A group's fit does not depend on the other groups of the table either.
    alone = fit_rate(df[df["m"] == 2], n_boot=200)
    assert alone.to_csv(index=False) == a[a["m"] == 2].to_csv(index=False)
    with pytest.raises(ValueError, match="seed must be"):
        fit_rate(df, seed=-1)


def _rows_written(path) -> int:
    with open(path, newline="") as fh:
        return sum(1 for _ in fh) - 1


def _wait_for_others_runner(X, y, *, lam, loss, seed, csv_path, waiting, others):
    """Convex; the run ``waiting`` = (n, seed) first waits until the rows of all other runs are in the CSV."""
    if (X.shape[0], seed) == waiting:
        deadline = time.monotonic() + 60.0
        while _rows_written(csv_path) < others:
            if time.monotonic() > deadline:
                raise RuntimeError("finished runs were not written while another run was still running")
            time.sleep(0.01)
    return convex_runner(X, y, lam=lam, loss=loss, seed=seed)


@pytest.mark.parametrize("backend, n_jobs", [("sequential", 1), ("threading", 2), ("loky", 2)])
def test_each_run_is_written_when_it_finishes(tmp_path, backend, n_jobs):
    """One run finishes only once the rows of all others are in the CSV, so it fails unless every run
    is written when it finishes, not when its batch of tasks or the sweep ends."""
    out = str(tmp_path / "r.csv")
    seeds = tuple(range(40))
    # Runs start largest n first. With one worker the waiting run must be the last; with two it is in
    # the middle, where loky's automatic batching would put it in one batch with other runs.
    waiting = (8, seeds[-1]) if n_jobs == 1 else (8, 10)
    METHOD_RUNNERS["test-wait"] = functools.partial(_wait_for_others_runner, csv_path=out, waiting=waiting,
                                                    others=2 * len(seeds) - 1)
    try:
        df = run_sweep(SweepConfig(output=out, methods=("test-wait",), n_jobs=n_jobs,
                                   **{**_TINY, "seeds": seeds, "backend": backend}))
    finally:
        del METHOD_RUNNERS["test-wait"]
    assert (df["status"] == "ok").all(), df.loc[df["status"] != "ok", "error"].tolist()
    assert df["seed"].tolist() == list(seeds) * 2
