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
    # A rerun resumes: nothing is recomputed and the rows are unchanged.
    assert study.main(argv + ["--no-plots"]) == 0
    again = pd.read_csv(out / "rates.csv")
    pd.testing.assert_frame_equal(df, again)


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
