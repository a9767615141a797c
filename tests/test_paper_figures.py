"""Smoke tests of paper_figures/: every script in its tiny setting, and the data loaders of item 3.

The scripts are called in-process through their ``main(argv)``; each must write its outputs and
return numbers that pass sanity checks (not the paper-scale values, which need the full settings).
"""
from __future__ import annotations

import gzip
import importlib.util
import json
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import cdist

FIGURES = Path(__file__).resolve().parent.parent / "paper_figures"


def _script(name, monkeypatch):
    monkeypatch.syspath_prepend(str(FIGURES))
    spec = importlib.util.spec_from_file_location(f"paper_figures_{name}", FIGURES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def one_thread():
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def test_fig1_classification(tmp_path, monkeypatch):
    out = _script("fig1_classification", monkeypatch).main(["--tiny", "--out", str(tmp_path)])
    assert (tmp_path / "fig1_classification.png").stat().st_size > 0
    saved = json.loads((tmp_path / "fig1_classification.json").read_text())
    assert saved["n_corrupted"] == 4  # 10% of the 40 tiny samples
    assert 0.0 <= out["fraction_corrected"] <= 1.0
    assert out["max_violation"] <= 1e-6
    # Independent check: the same data (same seed and order of draws) and the LP of [FCAO]
    # eq. (2.7) with the absolute loss written out in cvxpy over all pairs; the optimum is unique
    # in value even where the LP's minimizer is not.
    import cvxpy as cp

    from lipconv.manifolds import corrupt_labels

    module = _script("fig1_classification", monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(40, 2))
    y = module.boundary_labels(X)
    y_bad = corrupt_labels(y, 0.1, rng)
    i, j = np.triu_indices(40, k=1)
    dist = np.linalg.norm(X[i] - X[j], axis=1)
    for labels, key in ((y, "objective_clean"), (y_bad, "objective_corrupted")):
        u, L = cp.Variable(40), cp.Variable(nonneg=True)
        prob = cp.Problem(cp.Minimize(cp.sum(cp.abs(u - labels)) / 40 + 0.02 * L),
                          [cp.abs(u[i] - u[j]) <= L * dist])
        prob.solve(solver="CLARABEL")
        np.testing.assert_allclose(out[key], prob.value, rtol=1e-6)
        np.testing.assert_allclose(saved[key], prob.value, rtol=1e-6)


def test_table4_dataset_lipschitz_matches_an_independent_computation(tmp_path, monkeypatch):
    out = _script("table4_dataset_lipschitz", monkeypatch).main(["--tiny", "--out", str(tmp_path)])
    text = (tmp_path / "table4_dataset_lipschitz.md").read_text()
    for name, value in (("MNIST", "0.417"), ("FashionMNIST", "0.626"), ("CIFAR-10", "0.364"), ("CIFAR-100", "1.245")):
        assert f"| {name} |" in text and value in text
    from lipconv.datasets import load_sklearn

    X, y = load_sklearn("iris")  # 150 points: the tiny 200-point subsample keeps them all
    D = cdist(X, X)
    expected = 1.0 / D[y[:, None] != y[None, :]].min()
    row = next(r for r in out["rows"] if r["dataset"] == "iris")
    np.testing.assert_allclose(row["lipschitz"], expected, rtol=1e-12, atol=0)


def test_fig2_rates_redraws_from_a_csv(tmp_path, monkeypatch):
    out = _script("fig2_rates", monkeypatch).main(["--tiny", "--out", str(tmp_path)])
    assert out["rows"] > 0 and out["figures"]
    for name in out["figures"]:
        assert (tmp_path / "fig2_rates" / name).stat().st_size > 0
    # Independent checks of the numbers drawn: the bound columns are the right sides of [FCAO]
    # Lemma 4.10 and Theorem 4.8 (eq. (4.9) over theta / 2) written out, and each fitted slope is the
    # least-squares slope of log mean against log n over the CSV's rows.
    import pandas as pd

    df = pd.read_csv(out["csv"])
    assert set(df["manifold"]) == {"cube"} and set(df["m"]) == {1}
    r = (np.log(df["n"]) / df["n"]) ** (1.0 / 3.0)
    np.testing.assert_allclose(df["bound_w1"], r, rtol=1e-12)
    np.testing.assert_allclose(df["bound_l2sq"], 2.0 / df["theta"] * df["J_ref"] / df["lam"] * r, rtol=1e-12)
    slopes = {row["quantity"]: row["slope"] for row in out["slopes"]}
    assert {"w1", "l2sq", "linf_hi"} <= set(slopes)
    for q in ("w1", "l2sq", "linf_hi", "l2sq_samples"):
        means = df.groupby("n")[q].mean()
        want = np.polyfit(np.log(means.index.to_numpy(dtype=float)), np.log(means.to_numpy()), 1)[0]
        np.testing.assert_allclose(slopes[q], want, rtol=1e-9)


@pytest.mark.usefixtures("one_thread")
def test_table2_digits_robustness(tmp_path, monkeypatch):
    out = _script("table2_digits_robustness", monkeypatch).main(["--tiny", "--out", str(tmp_path)])
    assert [r["defence"] for r in out["rows"]] == ["undefended", "tv", "tv+lipschitz", "fd-gradient",
                                                    "pgd-at", "jacobian-spectral"]
    for r in out["rows"]:
        assert 0.0 <= r["clean_error"] <= 1.0 and 0.0 <= r["error_at_eps"] <= 1.0
        assert r["max_grad_loss_l2"] >= 0 and r["max_jacobian_2inf"] >= 0
    assert (tmp_path / "table2_digits_robustness.md").is_file()


@pytest.mark.usefixtures("one_thread")
def test_fig_jacobian_spectrum(tmp_path, monkeypatch):
    mod = _script("fig_jacobian_spectrum", monkeypatch)
    out = mod.main(["--tiny", "--out", str(tmp_path)])
    assert (tmp_path / "fig_jacobian_spectrum.png").stat().st_size > 0
    for r in out["models"].values():
        assert np.all((np.asarray(r["mean_alignment"]) >= 0) & (np.asarray(r["mean_alignment"]) <= 1 + 1e-12))
    # The spectrum and alignment of a linear model, whose Jacobian is W at every x: the singular values
    # are W's, and a perturbation along W's top right singular vector has alignment (1, 0, ...).
    import torch

    torch.manual_seed(0)
    lin = torch.nn.Linear(6, 3).double()
    W = lin.weight.detach()
    _, S, Vh = torch.linalg.svd(W)
    x = torch.rand((2, 6), dtype=torch.float64)
    s, align = mod.spectrum_and_alignment(lin, x, Vh[:1].repeat(2, 1) * 0.3)
    np.testing.assert_allclose(s, np.tile(S.numpy(), (2, 1)), rtol=1e-12)
    np.testing.assert_allclose(align, np.tile([1.0, 0.0, 0.0], (2, 1)), atol=1e-12)


@pytest.mark.usefixtures("one_thread")
def test_fig_lipschitz_frontier(tmp_path, monkeypatch):
    mod = _script("fig_lipschitz_frontier", monkeypatch)
    out = mod.main(["--tiny", "--out", str(tmp_path)])
    assert out["all_certified"] and out["network_above_bound"]
    front = sorted((r["lipschitz"], r["best_loss"]) for r in out["rows"] if r["kind"] == "frontier")
    assert all(b2 <= b1 + 1e-9 for (_, b1), (_, b2) in zip(front, front[1:]))  # B(L) is nonincreasing
    assert front[-1][1] <= 1e-9  # 0 at the labels' own constant
    mod.plot(tmp_path / "fig_lipschitz_frontier.csv", tmp_path / "redrawn.png")
    assert (tmp_path / "redrawn.png").stat().st_size > 0


@pytest.mark.usefixtures("one_thread")
def test_sec67_bounds_detection(tmp_path, monkeypatch):
    out = _script("sec67_bounds_detection", monkeypatch).main(["--tiny", "--out", str(tmp_path)])
    for r in out["bounds"]:
        assert r["product_bound"] >= r["gradient_estimate"] * (1 - 1e-6)  # upper bound >= lower estimate
    assert out["detection"]["detector"]["fpr"] == 0.05
    assert (tmp_path / "sec67_bounds_detection.md").is_file()


def _write_idx(path, arr, code):
    header = struct.pack(">BBBB", 0, 0, code, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape)
    payload = header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "wb") as fh:
        fh.write(payload)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_idx_loader_reads_a_small_mnist_file(tmp_path, suffix):
    from lipconv.datasets import load_idx, load_mnist

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(5, 3, 4), dtype=np.uint8)
    labels = np.array([0, 1, 2, 1, 0], dtype=np.uint8)
    _write_idx(tmp_path / f"img{suffix}", images, 0x08)
    _write_idx(tmp_path / f"lab{suffix}", labels, 0x08)
    floats = rng.standard_normal((2, 3)).astype(np.float32)
    _write_idx(tmp_path / f"f32{suffix}", floats, 0x0D)
    np.testing.assert_array_equal(load_idx(tmp_path / f"img{suffix}"), images)
    np.testing.assert_array_equal(load_idx(tmp_path / f"f32{suffix}"), floats)
    X, y = load_mnist(tmp_path / f"img{suffix}", tmp_path / f"lab{suffix}")
    np.testing.assert_allclose(X, images.reshape(5, 12) / 255.0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(y, labels)


def test_idx_loader_rejects_bad_files(tmp_path):
    from lipconv.datasets import load_idx

    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="path must be an IDX file"):
        load_idx(tmp_path / "bad")
    _write_idx(tmp_path / "short", np.zeros((2, 2), dtype=np.uint8), 0x08)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="must hold 4 data bytes"):
        load_idx(tmp_path / "short")
    with pytest.raises(ValueError, match="path must be an existing IDX file"):
        load_idx(tmp_path / "missing")


@pytest.mark.parametrize("key", [b"labels", b"fine_labels"])
def test_cifar_loader_reads_a_small_batch(tmp_path, key):
    from lipconv.datasets import load_cifar

    rng = np.random.default_rng(1)
    data = rng.integers(0, 256, size=(4, 3072), dtype=np.uint8)
    for i in range(2):
        with open(tmp_path / f"data_batch_{i + 1}", "wb") as fh:
            pickle.dump({b"data": data, key: [3, 1, 4, 1]}, fh)
    X, y = load_cifar([tmp_path / "data_batch_1", tmp_path / "data_batch_2"])
    assert X.shape == (8, 3072)
    np.testing.assert_allclose(X[:4], data / 255.0, rtol=0, atol=1e-15)
    np.testing.assert_array_equal(y, [3, 1, 4, 1] * 2)


def test_drop_conflicting_duplicates_makes_the_data_lipschitz_constant_finite():
    from lipconv.datasets import drop_conflicting_duplicates
    from lipconv.extension import dataset_lipschitz_constant

    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [1.0, 0.0], [0.0, 2.0]])
    y = np.array([0, 1, 1, 1, 0])
    Xk, yk, removed = drop_conflicting_duplicates(X, y)
    assert removed == 2
    np.testing.assert_array_equal(yk, [1, 1, 0])
    np.testing.assert_allclose(dataset_lipschitz_constant(Xk, yk), 1.0 / np.sqrt(5.0), rtol=1e-12, atol=0)
