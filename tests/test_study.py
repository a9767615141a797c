"""Smoke test of studies/rates.py on a small setting (well under 60 s)."""
from __future__ import annotations

import importlib.util
import os

import pandas as pd
import pytest

_PATH = os.path.join(os.path.dirname(__file__), os.pardir, "studies", "rates.py")


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("rates_study", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_small_study_writes_csv_figures_and_summary(study, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["--manifolds", "cube", "--m", "1", "2", "--n", "16", "32", "64", "--seeds", "3", "--jobs", "1",
            "--backend", "sequential", "--out", str(out), "--no-progress", "--boot", "200", "--n-ot", "256"]
    assert study.main(argv) == 0
    df = pd.read_csv(out / "rates.csv")
    assert len(df) == 2 * 3 * 3 and (df["status"] == "ok").all() and df["run_key"].is_unique
    fits = pd.read_csv(out / "fits.csv")
    assert set(fits["quantity"]) >= {"w1", "l2sq", "linf"} and set(fits["m"]) == {1, 2}
    for q in ("w1", "l2sq", "linf", "excess_J", "gap_Jn"):
        assert (out / f"rate_{q}.png").stat().st_size > 10_000
    summary = (out / "summary.md").read_text()
    printed = capsys.readouterr().out
    assert "| cube m=1 d=1 ramp lam=0.02 squared convex | w1 | Lemma 4.10 |" in summary
    assert "contains -1/2" in summary and summary.strip() in printed
    # A rerun resumes, with other workers and backend: nothing is recomputed and the rows are unchanged.
    assert study.main(argv + ["--no-plots", "--jobs", "2", "--backend", "threading"]) == 0
    again = pd.read_csv(out / "rates.csv")
    pd.testing.assert_frame_equal(df, again)
    assert (df["n_ot"] == 256).all() and (df["n_error"] == 8192).all() and (df["n_reference"] == 2048).all()


@pytest.mark.parametrize("extra, message", [
    (["--n-ot", "512"], "n_ot: the CSV at {csv} was computed with n_ot = 256, this run asks for 512; "),
    (["--n-reference", "64"], "n_reference: the CSV at {csv} was computed with n_reference = 2048, this run asks "
                              "for 64; "),
    (["--n-error", "100"], "n_error: the CSV at {csv} was computed with n_error = 8192, this run asks for 100; "),
    # --quick changes the defaults of n_error and n_reference.
    (["--quick"], "n_error: the CSV at {csv} was computed with n_error = 8192, this run asks for 2048; "),
], ids=["n-ot", "n-reference", "n-error", "quick"])
def test_study_refuses_to_resume_with_other_row_settings(study, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    argv = ["--manifolds", "cube", "--m", "1", "--n", "16", "32", "--seeds", "1", "--jobs", "1", "--backend",
            "sequential", "--out", str(out), "--no-progress", "--no-plots", "--boot", "50", "--n-ot", "256"]
    assert study.main(argv) == 0
    before = (out / "rates.csv").read_text()
    capsys.readouterr()
    assert study.main(argv + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + message.format(csv=out / "rates.csv")), err
    assert (out / "rates.csv").read_text() == before


def test_study_bad_configuration_exits_with_message(study, tmp_path, capsys):
    assert study.main(["--manifolds", "klein", "--out", str(tmp_path)]) == 2
    assert "manifold must be one of" in capsys.readouterr().err
    assert study.main(["--n", "1", "4", "--out", str(tmp_path)]) == 2
    assert "n must be an integer >= 2" in capsys.readouterr().err
    assert study.main(["--cap", "circle=x", "--out", str(tmp_path)]) == 2


def test_quick_configuration_is_within_its_design(study):
    cfg = study.config_from_args(study.build_parser().parse_args(["--quick"]))
    assert max(cfg.ns) >= 1024 and len(cfg.seeds) >= 5
    assert all(v <= 256 for v in cfg.n_caps.values())


def test_study_reports_failed_runs_and_keeps_them_on_resume(study, tmp_path, capsys):
    from lipconv.rates import METHOD_RUNNERS

    calls = []

    def fails_for_seed_1(X, y, *, lam, loss, seed):
        calls.append(seed)
        if seed == 1:
            raise ValueError("bad data\nsee the log")
        return METHOD_RUNNERS["convex"](X, y, lam=lam, loss=loss, seed=seed)

    METHOD_RUNNERS["test-fail"] = fails_for_seed_1
    out = tmp_path / "out"
    argv = ["--manifolds", "cube", "--m", "1", "--n", "16", "32", "--seeds", "2", "--jobs", "1", "--backend",
            "sequential", "--method", "test-fail", "--out", str(out), "--no-progress", "--no-plots", "--boot", "50"]
    try:
        assert study.main(argv) == 0
        assert study.main(argv) == 0
    finally:
        del METHOD_RUNNERS["test-fail"]
    assert len(calls) == 4, "failed runs were redone on resume"
    summary = (out / "summary.md").read_text()
    assert "Runs: 4 (2 failed)" in summary and "## Failed runs (2;" in summary
    assert "- cube m=1 d=1 ramp lam=0.02 squared test-fail n=16 seed=1: ValueError: bad data | see the log" in summary
