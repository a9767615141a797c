"""Vector outputs in the rate study (issue 13): the bound B(x) on the error of every extension, the
cross-entropy sweep end to end, and the report's hypotheses for the label families and losses."""
from __future__ import annotations

import numpy as np
import pytest

from lipconv.rates import SweepConfig, error_metrics, fit_rate, make_problem, run_sweep, summary_markdown
from lipconv.rates._metrics import extension_error_bound
from lipconv.rates._report import hypotheses


def _brute_B(X, U, L, x, v):
    D = np.linalg.norm(x[:, None, :] - X[None, :, :], axis=2)
    E = np.linalg.norm(v[:, None, :] - U[None, :, :], axis=2)
    return (E + L * D).min(axis=1)


@pytest.mark.parametrize("L", [0.01, 1.0, 50.0])
def test_extension_error_bound_equals_the_brute_force_minimum(L):
    """Exact at every L: at L = 0.01 the nearest 32 samples never decide the minimum, so the
    blocked fallback over all samples is what is tested."""
    rng = np.random.default_rng(0)
    X, U = rng.random((300, 2)), rng.random((300, 3))
    x, v = rng.random((500, 2)), rng.random((500, 3))
    np.testing.assert_allclose(extension_error_bound(X, U, L, x, v), _brute_B(X, U, L, x, v), rtol=1e-12, atol=1e-12)


def test_extension_error_bound_bounds_a_lipschitz_extension():
    """For the Kirszbraun extension (L-Lipschitz through the data) ||u(x) - v(x)|| <= B(x)."""
    from lipconv.extension import kirszbraun

    rng = np.random.default_rng(1)
    X = rng.random((60, 2))
    U = np.column_stack([np.sin(3 * X[:, 0]), X[:, 1] ** 2])
    L = 3.0
    x = rng.random((200, 2))
    v = np.column_stack([np.cos(x[:, 0]), x[:, 1]])
    ext = kirszbraun(X, U, x, L=L)
    assert np.all(np.linalg.norm(ext - v, axis=1) <= extension_error_bound(X, U, L, x, v) + 1e-9)


def test_vector_metrics_match_an_independent_estimate_and_a_dense_sup():
    """error_metrics for the cross-entropy: the L2 estimate of B against plain Monte Carlo of the
    brute-force B (within 4 standard errors of both), the sup bracket against a dense grid that
    holds the square's boundary."""
    from lipconv.solvers import lipschitz_regression

    prob = make_problem("cube", 2, lam=0.05, label="soft:3", loss="cross_entropy")
    M = prob.manifold()
    rng = np.random.default_rng([3, 200])
    X = M.sample(200, rng)
    y = prob.sample_labels(M, X, rng)
    res = lipschitz_regression(X, y, lam=0.05, loss="cross_entropy")
    out = error_metrics(res, prob, X=X, y=y, seed=3)
    assert out["l2sq_worst"] == "bound" and np.isnan(out["l2sq_midpoint"])
    L = float(res.lipschitz)
    z = M.sample(60_000, np.random.default_rng(9))
    b2 = _brute_B(X, res.values, L, z, prob.u_ref(z)) ** 2
    mc, mc_se = b2.mean(), b2.std() / np.sqrt(b2.size)
    assert abs(out["l2sq"] - mc) <= 4 * np.hypot(mc_se, out["l2sq_se"])
    g = np.linspace(-1, 1, 161)
    Z = M.embed(np.array(np.meshgrid(g, g)).reshape(2, -1).T)  # holds the edges and corners
    dense = _brute_B(X, res.values, L, Z, prob.u_ref(Z)).max()
    assert dense <= out["linf_hi"] * (1 + 1e-9)
    assert out["linf_hi"] <= (1 + 0.05) * out["linf_lo"] * (1 + 1e-9)


def test_cross_entropy_sweep_end_to_end(tmp_path):
    cfg = SweepConfig(problems=("cube:m=2",), ns=(32, 64), seeds=(0, 1), losses=("cross_entropy",),
                      labels=("onehot:3", "soft:3"), output=str(tmp_path / "r.csv"), progress=False)
    df = run_sweep(cfg)
    assert len(df) == 8 and (df["status"] == "ok").all(), df["error"].tolist()
    for col in ("w1", "l2sq", "linf_hi", "l2sq_samples", "max_violation", "relative_gap", "ref_err_l2"):
        assert np.isfinite(df[col].astype(float)).all(), col
    assert (df["ref_kind"] == "lifted").all()
    assert (df["max_violation"] <= 1e-6).all() and (df["relative_gap"] <= 1e-6).all()
    text = summary_markdown(df, fit_rate(df, n_boot=50), wall=1.0, load=(0, 0, 0))
    assert "Accuracy of the certified 1-D references" in text
    assert "onehot:3: discontinuous labels" in text and "soft:3: Lipschitz labels" in text


def test_hypotheses_name_the_families_and_losses():
    import pandas as pd

    rows = []
    for label, loss in [("ramp", "squared"), ("step", "squared"), ("ramp+noise:0.5", "squared"),
                        ("ramp+flip:0.1", "squared"), ("sin:2", "squared"), ("ramp", "huber"), ("ramp", "absolute"),
                        ("soft:3", "cross_entropy")]:
        rows.append(dict(manifold="cube", m=2, d=2, density="uniform", lam=0.02, loss=loss, label=label,
                         method="convex", n=64, status="ok"))
    hyp = {(h["labels"].split(":")[0], h["loss"].split(":")[0]): h for h in hypotheses(pd.DataFrame(rows))}
    assert "Theorem 4.8" in hyp[("ramp", "squared")]["theorems that apply"]
    assert hyp[("step", "squared")]["theorems that apply"].startswith("none (labels not Lipschitz)")
    assert hyp[("ramp+noise", "squared")]["theorems that apply"].startswith("none (noisy labels")
    assert hyp[("ramp+flip", "squared")]["theorems that apply"].startswith("none (noisy labels")
    assert "Theorem 4.8" in hyp[("sin", "squared")]["theorems that apply"]
    assert "no rate is claimed" in hyp[("ramp", "huber")]["loss"]
    assert "Lemma 4.10 only" in hyp[("ramp", "absolute")]["theorems that apply"]
    assert "theta = 0.0826" in hyp[("soft", "cross_entropy")]["loss"]


@pytest.mark.parametrize("args, match", [
    (dict(X=np.full((5, 2), np.nan)), "X must be finite"),
    (dict(U=np.ones((4, 3))), "one row per row of X"),
    (dict(x=np.ones((7, 3))), "x must have d = 2"),
    (dict(v=np.ones((7, 2))), "v k = 3"),
    (dict(L=-1.0), "L must be"),
])
def test_extension_error_bound_bad_input_raises(args, match):
    base = dict(X=np.zeros((5, 2)), U=np.zeros((5, 3)), L=1.0, x=np.zeros((7, 2)), v=np.zeros((7, 3)))
    base.update(args)
    with pytest.raises(ValueError, match=match):
        extension_error_bound(base["X"], base["U"], base["L"], base["x"], base["v"])
