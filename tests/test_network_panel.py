"""The network beside the exact minimizer in the rate sweep and the study (lipconv.neural through the
method-runner protocol): a tiny sweep runs both, and every number of a network row is recomputed
independently (the certified gap from lipconv.solvers.certify, the L2 error by plain Monte Carlo,
the sup bracket against a dense evaluation)."""
from __future__ import annotations

import importlib.util
import os

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from lipconv.rates import SweepConfig, fit_rate, make_problem, plan_runs, run_sweep, summary_markdown  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

_STUDY = os.path.join(os.path.dirname(__file__), os.pardir, "studies", "rates.py")


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    out = tmp_path_factory.mktemp("panel") / "rates.csv"
    cfg = SweepConfig(problems=("cube:m=2",), ns=(24, 48), seeds=(0,), methods=("convex", "neural"),
                      output=str(out), backend="sequential", progress=False, sup_evals=40_000)
    return cfg, run_sweep(cfg)


def test_network_rows_hold_the_network_numbers(sweep):
    from lipconv.neural import rate_runner
    from lipconv.solvers import certify

    cfg, df = sweep
    assert (df["status"] == "ok").all() and set(df["method"]) == {"convex", "neural"} and len(df) == 4
    prob = make_problem("cube", 2, lam=0.02)
    M = prob.manifold()
    for _, row in df[df["method"] == "neural"].iterrows():
        rng = np.random.default_rng([int(row["seed"]), int(row["n"])])
        X = M.sample(int(row["n"]), rng)
        y = prob.sample_labels(M, X, rng)
        res = rate_runner(X, y, lam=0.02, loss="squared", seed=int(row["seed"]))
        # The certified gap: (J_n - D) / J_n at the discrete constant, D from the convex multipliers.
        from lipconv.solvers import lipschitz_regression

        c = certify(X, y, res.values[:, 0], lam=0.02, dual=lipschitz_regression(X, y, lam=0.02))
        np.testing.assert_allclose(row["relative_gap"], (c.objective - c.lower_bound) / c.objective, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(row["J_n"], c.objective, rtol=1e-9, atol=0)
        assert 0.0 <= row["relative_gap"] <= row["relative_gap_upper"]
        assert row["lipschitz"] <= row["lipschitz_upper"] and row["J_n"] <= row["J_n_upper"]
        # The network's own L2 error by plain Monte Carlo on 200,000 fresh points.
        Z = M.sample(200_000, np.random.default_rng(99))
        sq = (res.predict(Z) - prob.u_ref(Z)) ** 2
        se = sq.std() / np.sqrt(sq.size)
        assert abs(row["l2sq_function"] - sq.mean()) <= 4.0 * np.hypot(se, row["l2sq_function_se"])
        # ... which is not the worst extension's of its values (measured beside it).
        assert row["l2sq_function"] < row["l2sq"]
        # The certified sup bracket holds every value the network's error takes.
        dense = float(np.abs(res.predict(Z) - prob.u_ref(Z)).max())
        assert row["linf_function_lo"] <= row["linf_function_hi"] and dense <= row["linf_function_hi"] * (1 + 1e-12)
        assert row["linf_function_hi"] <= 1.06 * row["linf_function_lo"]


def test_exact_rows_have_no_function_errors_and_the_report_compares_both(sweep):
    cfg, df = sweep
    convex = df[df["method"] == "convex"]
    assert convex["l2sq_function"].isna().all() and (convex["relative_gap"] <= 1e-6).all()
    text = summary_markdown(df, fit_rate(df, n_boot=50), wall=1.0, load=(0, 0, 0), n_boot=50)
    section = text.split("## The network against the exact minimizer")[1]
    net = df[df["method"] == "neural"].sort_values("n")
    for _, row in net.iterrows():
        assert f"| {row['n']} | 1 | {row['relative_gap']:.2%} |" in section
        assert f"{row['l2sq_function']:.3e}" in section
    # The exact minimizer is left out of no table, the network out of the theorem verdicts.
    verdicts = text.split("## Verdicts")[1].split("## ")[0]
    assert "neural" not in verdicts.split("Left out of this table")[0] and "cube m=2 d=2 convex | l2sq | Theorem 4.8" in verdicts


def test_median_gap_target_sentence_follows_the_data(sweep):
    """The target sentence is computed: planted gaps above 2 % at one n make it say 'missed' there."""
    cfg, df = sweep
    planted = df.copy()
    sel = (planted["method"] == "neural") & (planted["n"] == 48)
    planted.loc[sel, "relative_gap"] = 0.031
    text = summary_markdown(planted, fit_rate(planted, n_boot=50), wall=1.0, load=(0, 0, 0), n_boot=50)
    assert "Target missed (median gap above 2%) at: cube m=2 d=2 neural n=48 (3.10%)." in text
    assert "Target met" not in text
    planted.loc[sel, "relative_gap"] = -0.01
    text = summary_markdown(planted, fit_rate(planted, n_boot=50), wall=1.0, load=(0, 0, 0), n_boot=50)
    assert "INCONSISTENT rows" in text and "n=48 seed=0" in text


def test_method_scope_selects_runs_and_is_checked(tmp_path):
    kw = dict(problems=("cube:m=1", "cube:m=2"), ns=(16, 32, 64), seeds=(0, 1, 2), methods=("convex", "neural"),
              output=str(tmp_path / "r.csv"))
    cfg = SweepConfig(method_scope={"neural": {"problems": ("cube:m=2",), "ns": (16, 64), "seeds": (0, 1)}}, **kw)
    runs = plan_runs(cfg)
    neural = [(r["m"], r["n"], r["seed"]) for r in runs if r["method"] == "neural"]
    assert sorted(neural) == [(2, 16, 0), (2, 16, 1), (2, 64, 0), (2, 64, 1)]
    assert sum(r["method"] == "convex" for r in runs) == 2 * 3 * 3
    with pytest.raises(ValueError, match="method_scope keys must be among the sweep's methods"):
        SweepConfig(method_scope={"pairs": {}}, **kw)
    with pytest.raises(ValueError, match=r"method_scope\['neural'\]\['problems'\] must be problems of the sweep"):
        SweepConfig(method_scope={"neural": {"problems": ("sphere",)}}, **kw)
    with pytest.raises(ValueError, match=r"method_scope\['neural'\] must be a dict with keys among"):
        SweepConfig(method_scope={"neural": {"n": (16,)}}, **kw)
    with pytest.raises(ValueError, match="n must be"):
        SweepConfig(method_scope={"neural": {"ns": (1,)}}, **kw)


def test_progress_bar_counts_predicted_seconds(tmp_path, monkeypatch):
    """The bar's total is the runs' predicted cost: a long run advances it by its share, so its
    remaining time is (cost left) / (cost done per second), not (runs left) x (mean run time)."""
    import lipconv.rates._sweep as sweep_module

    updates = []

    class Bar:
        def __init__(self, total, **kw):
            updates.append(("total", total))

        def update(self, v):
            updates.append(("update", v))

        def set_postfix_str(self, s, refresh=True):
            pass

        def close(self):
            pass

    costs = {"a": 9.0, "b": 1.0}
    bar = sweep_module._ProgressBar(lambda **kw: Bar(**kw), costs, disable=False)
    bar.done("a")
    bar.done("b")
    steps = [v for k, v in updates if k == "update"]
    np.testing.assert_allclose(steps, [900.0, 100.0], rtol=1e-12)
    assert updates[0] == ("total", 1000)


def _study():
    spec = importlib.util.spec_from_file_location("rates_study_panel", _STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_default_study_plans_the_panel_inside_its_budget():
    study = _study()
    args = study.build_parser().parse_args([])
    cfg, plan = study.config_from_args(args)
    scope = cfg.method_scope["neural"]
    assert cfg.methods == ("convex", "neural") and [p[0] for p in scope["problems"]] == ["cube", "sphere"]
    assert np.log10(max(scope["ns"]) / min(scope["ns"])) >= 1.5 and len(scope["seeds"]) >= 5
    predicted = float(plan.split("predicted ")[1].split(" s")[0])
    assert predicted <= study.DEFAULT_BUDGET and "of which the network panel" in plan
    quick = study.config_from_args(study.build_parser().parse_args(["--quick"]))[0]
    assert "neural" in quick.methods and len(quick.method_scope["neural"]["ns"]) >= 2
    assert "neural" not in study.config_from_args(study.build_parser().parse_args(["--no-panel"]))[0].methods


def test_study_without_torch_skips_the_panel_and_says_how_to_get_it(tmp_path, monkeypatch, capsys):
    study = _study()
    monkeypatch.setattr(study, "torch_available", lambda: False)
    out = tmp_path / "out"
    argv = ["--problems", "cube:m=2", "--n", "16", "32", "--seeds", "2", "--jobs", "1", "--backend", "sequential",
            "--no-progress", "--boot", "50", "--sup-evals", "20000", "--no-plots", "--out", str(out)]
    assert study.main(argv) == 0
    df = pd.read_csv(out / "rates.csv")
    assert set(df["method"]) == {"convex"}
    summary = (out / "summary.md").read_text()
    assert "The network panel was skipped: torch is not installed" in summary and "pip install torch==2.13.0" in summary


def test_study_panel_end_to_end_writes_the_section_and_figure(tmp_path):
    study = _study()
    out = tmp_path / "out"
    argv = ["--problems", "cube:m=2", "--n", "16", "32", "--seeds", "2", "--jobs", "1", "--backend", "sequential",
            "--no-progress", "--boot", "50", "--sup-evals", "20000", "--out", str(out)]
    study.NEURAL_NS, study.NEURAL_SEEDS = (16, 32), 2
    assert study.main(argv) == 0
    df = pd.read_csv(out / "rates.csv")
    net = df[df["method"] == "neural"]
    assert len(net) == 4 and (net["status"] == "ok").all() and net["relative_gap"].between(0, 0.2).all()
    assert (out / "network.png").stat().st_size > 20_000
    summary = (out / "summary.md").read_text()
    assert "## The network against the exact minimizer" in summary and "Target " in summary
