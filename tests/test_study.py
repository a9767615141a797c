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


_SMALL = ["--problems", "cube:m=1", "cube:m=2", "--n", "16", "32", "64", "--seeds", "3", "--jobs", "1", "--no-panel",
          "--backend", "sequential", "--no-progress", "--boot", "200", "--sup-evals", "20000"]


def test_small_study_writes_csv_figures_and_summary(study, tmp_path, capsys):
    out = tmp_path / "out"
    argv = _SMALL + ["--out", str(out)]
    assert study.main(argv) == 0
    df = pd.read_csv(out / "rates.csv")
    assert len(df) == 2 * 3 * 3 and (df["status"] == "ok").all() and df["run_key"].is_unique
    fits = pd.read_csv(out / "fits.csv")
    assert set(fits["quantity"]) >= {"w1", "l2sq", "linf_hi", "l2sq_samples"} and set(fits["m"]) == {1, 2}
    for stem in ("theorem_w1", "theorem_l2sq", "theorem_linf"):
        assert (out / f"{stem}.png").stat().st_size > 10_000
    summary = (out / "summary.md").read_text()
    printed = capsys.readouterr().out
    assert "| cube m=1 d=1 | w1 | Lemma 4.10 |" in summary
    assert "## Hypotheses of the theorems, per problem" in summary and "no: boundary" in summary
    assert "## Certification of every row" in summary and "## Lemma 4.12 per run" in summary
    assert "## At the samples and between them" in summary and "## Pre-asymptotic diagnostic" in summary
    assert "| cube m=2 d=2 | l2sq | Theorem 4.8 |" in summary and "not known" in summary
    assert summary.strip() in printed
    # A rerun resumes, with other workers and backend: nothing is recomputed and the rows are unchanged.
    assert study.main(argv + ["--no-plots", "--jobs", "2", "--backend", "threading"]) == 0
    again = pd.read_csv(out / "rates.csv")
    pd.testing.assert_frame_equal(df, again)
    assert (df["sup_evals"] == 20000).all() and (df["l2_rtol"] == 0.05).all() and (df["n_reference"] == 1024).all()


@pytest.mark.parametrize("extra, message", [
    (["--sup-evals", "30000"], "sup_evals: the CSV at {csv} was computed with sup_evals = 20000, this run asks for "
                               "30000; "),
    (["--n-reference", "64"], "n_reference: the CSV at {csv} was computed with n_reference = 1024, this run asks "
                              "for 64; "),
    (["--l2-rtol", "0.1"], "l2_rtol: the CSV at {csv} was computed with l2_rtol = 0.05, this run asks for 0.1; "),
], ids=["sup-evals", "n-reference", "l2-rtol"])
def test_study_refuses_to_resume_with_other_row_settings(study, tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    argv = ["--problems", "cube:m=1", "--n", "16", "32", "--seeds", "1", "--jobs", "1", "--backend", "sequential",
            "--out", str(out), "--no-progress", "--no-plots", "--boot", "50", "--sup-evals", "20000"]
    assert study.main(argv) == 0
    before = (out / "rates.csv").read_text()
    capsys.readouterr()
    assert study.main(argv + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + message.format(csv=out / "rates.csv")), err
    assert (out / "rates.csv").read_text() == before


def test_study_bad_configuration_exits_with_message(study, tmp_path, capsys):
    assert study.main(["--problems", "klein", "--out", str(tmp_path)]) == 2
    assert "manifold must be one of" in capsys.readouterr().err
    assert study.main(["--n", "1", "4", "--out", str(tmp_path)]) == 2
    assert "n must be an integer >= 2" in capsys.readouterr().err
    assert study.main(["--cap", "circle=x", "--out", str(tmp_path)]) == 2
    assert "--cap must look like" in capsys.readouterr().err
    assert study.main(["--budget", "-5", "--out", str(tmp_path)]) == 2
    assert "--budget must be a positive number of seconds, got -5" in capsys.readouterr().err


def test_default_and_quick_grids_are_within_their_design(study):
    """The default reaches n = 8,192 (2.4 decades from 32) in every problem with 10 seeds inside its
    6-minute budget, the network panel counted; --quick plans for at most 60 s; a larger budget
    never shrinks a cap."""
    cfg, plan = study.config_from_args(study.build_parser().parse_args([]))
    assert min(cfg.ns) == 32 and len(cfg.seeds) >= 10 and len(cfg.problems) == 9
    assert all(v >= 8192 for v in cfg.n_caps.values()) and len(cfg.n_caps) == 9
    problems = [p for p in study.DEFAULT_PROBLEMS]
    fixed = study.panel_seconds(study.NEURAL_PANEL, study.NEURAL_NS, study.NEURAL_SEEDS, 2)
    _, caps, predicted = study.plan_grid(problems, budget=study.DEFAULT_BUDGET, seeds=10, jobs=2, fixed=fixed)
    assert predicted <= study.DEFAULT_BUDGET <= 360 and caps == cfg.n_caps
    quick, _ = study.config_from_args(study.build_parser().parse_args(["--quick"]))
    qfixed = study.panel_seconds(study.NEURAL_PANEL, study.QUICK_NEURAL_NS, study.QUICK_NEURAL_SEEDS, 2)
    _, _, qpred = study.plan_grid(study.QUICK_PROBLEMS, budget=study.QUICK_BUDGET, seeds=5, jobs=2, fixed=qfixed)
    assert len(quick.seeds) >= 5 and max(quick.ns) >= 2048 and qpred <= study.QUICK_BUDGET
    _, bigger, _ = study.plan_grid(problems, budget=4 * study.DEFAULT_BUDGET, seeds=10, jobs=2)
    assert all(bigger[k] >= caps[k] for k in caps) and sum(bigger.values()) > sum(caps.values())


def test_report_and_figures_reject_a_table_without_runs(study, tmp_path):
    import pandas as pd

    from lipconv.plotting import plot_theorem
    from lipconv.rates import summary_markdown

    empty = pd.DataFrame({"manifold": ["cube"], "m": [1], "d": [1], "density": ["uniform"], "lam": [0.02],
                          "loss": ["squared"], "label": ["ramp"], "method": ["convex"], "n": [16], "seed": [0],
                          "status": ["failed"], "error": ["x"], "w1": [float("nan")]})
    with pytest.raises(ValueError, match="df has no successful rows to plot for 'w1'"):
        plot_theorem(empty, None, "w1", str(tmp_path / "w1.png"))
    text = summary_markdown(empty, pd.DataFrame(), wall=1.0, load=(0.0, 0.0, 0.0))
    assert "Runs: 1 (1 failed)" in text


def test_several_d_expand_problems(study):
    args = study.build_parser().parse_args(["--problems", "curved_torus", "sphere:d=5", "--d", "4", "6", "--n", "8", "16"])
    cfg, _ = study.config_from_args(args)
    assert [(p[0], p[2]) for p in cfg.problems] == [("curved_torus", 4), ("curved_torus", 6), ("sphere", 5)]


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
    argv = ["--problems", "cube:m=1", "--n", "16", "32", "--seeds", "2", "--jobs", "1", "--backend",
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


def test_study_with_every_run_failed_still_reports(study, tmp_path, capsys):
    from lipconv.rates import METHOD_RUNNERS

    def always_fails(X, y, *, lam, loss, seed):
        raise RuntimeError("solver down")

    METHOD_RUNNERS["test-down"] = always_fails
    out = tmp_path / "out"
    try:
        assert study.main(["--problems", "cube:m=1", "--n", "16", "32", "--seeds", "1", "--jobs", "1", "--backend",
                           "sequential", "--method", "test-down", "--out", str(out), "--no-progress"]) == 0
    finally:
        del METHOD_RUNNERS["test-down"]
    summary = (out / "summary.md").read_text()
    assert "Runs: 2 (2 failed)" in summary and "RuntimeError: solver down" in summary


def test_cross_entropy_study_configuration(study):
    """--loss cross_entropy: the cube problems, one-hot and soft labels of x_1, its own cost table,
    a grid planned inside the budget counting both labels, its own output directory."""
    cfg, plan = study.config_from_args(study.build_parser().parse_args(["--loss", "cross_entropy"]))
    assert cfg.losses == ("cross_entropy",) and cfg.labels == ("onehot:3", "soft:3")
    assert [p[0] for p in cfg.problems] == ["cube"] * 3 and [p[1] for p in cfg.problems] == [1, 2, 3]
    assert cfg.run_costs == study.CE_COST_8192 and cfg.output.startswith("rates_output_ce")
    _, _, one = study.plan_grid(study.CE_PROBLEMS, budget=study.DEFAULT_BUDGET, seeds=10, jobs=2,
                                costs=study.CE_COST_8192)
    _, caps2, two = study.plan_grid(study.CE_PROBLEMS, budget=study.DEFAULT_BUDGET, seeds=10, jobs=2,
                                    costs=study.CE_COST_8192, settings=2)
    assert two <= study.DEFAULT_BUDGET and caps2 == cfg.n_caps
    labels, _ = study.config_from_args(study.build_parser().parse_args(["--label", "sin:2", "ramp+flip:0.1"]))
    assert labels.labels == ("sin:2", "ramp+flip:0.1")
    assert {k: v for k, v in labels.run_costs.items() if not k.endswith("[neural]")} == study.COST_8192


def test_cross_entropy_with_scalar_labels_is_a_clear_error(study, tmp_path, capsys):
    argv = ["--problems", "cube:m=1", "--n", "16", "--seeds", "1", "--loss", "cross_entropy", "--label", "ramp",
            "--out", str(tmp_path / "o"), "--no-progress", "--no-plots"]
    assert study.main(argv) == 2
    assert "simplex" in capsys.readouterr().err
