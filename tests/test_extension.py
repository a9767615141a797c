"""Extensions (McShane, Whitney, midpoint, Kirszbraun) and discrete Lipschitz constants."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lipconv.extension import (
    dataset_lipschitz_constant, extend, kirszbraun, lipschitz_constant, mcshane, midpoint, whitney,
)

_seeds = st.integers(min_value=0, max_value=2**31 - 1)
_norms = st.sampled_from([1, 2, np.inf])


@given(seed=_seeds, p=_norms, n=st.integers(min_value=2, max_value=25), d=st.integers(min_value=1, max_value=4))
def test_mcshane_whitney_properties(seed, p, n, d):
    """Property: McShane >= Whitney everywhere; both interpolate the data and keep the constant L.

    (McShane-Whitney extension theorem; the extremal L-Lipschitz extensions of scalar data.)
    """
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, d))
    u = rng.uniform(-1, 1, size=n)
    L = lipschitz_constant(X, u, p_x=p)
    Q = rng.uniform(-0.2, 1.2, size=(30, d))
    up, lo, mid = (f(X, u, Q, p=p) for f in (mcshane, whitney, midpoint))
    assert np.all(up >= lo - 1e-12)
    np.testing.assert_allclose(mid, 0.5 * (up + lo), rtol=0, atol=1e-12)
    for f in (mcshane, whitney, midpoint):
        np.testing.assert_allclose(f(X, u, X, p=p), u, rtol=0, atol=1e-12)
    for vals in (up, lo, mid):
        L_ext = lipschitz_constant(np.vstack([X, Q]), np.concatenate([u, vals]), p_x=p)
        assert L_ext <= L * (1 + 1e-9) + 1e-12


def test_extremality_of_mcshane_whitney():
    """Any L-Lipschitz extension lies between Whitney and McShane: check with u itself known."""
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(50, 2))
    f = lambda Z: np.sin(2 * Z[:, 0]) + 0.5 * Z[:, 1]  # Lipschitz with constant <= sqrt(4 + 0.25)
    L = np.sqrt(4.25)
    Q = rng.uniform(size=(200, 2))
    assert np.all(f(Q) <= mcshane(X, f(X), Q, L=L) + 1e-12)
    assert np.all(f(Q) >= whitney(X, f(X), Q, L=L) - 1e-12)


def test_blocking_bounds_memory():
    """20,000 x 20,000 in the issue; here 3,000 x 3,000 with a 1 MiB block: peak stays O(block)."""
    rng = np.random.default_rng(1)
    X = rng.uniform(size=(3000, 5))
    Q = rng.uniform(size=(3000, 5))
    u = rng.uniform(size=3000)
    tracemalloc.start()
    out = mcshane(X, u, Q, L=1.0, block_bytes=2**20)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    full = 3000 * 3000 * 8
    assert peak < full / 4, f"peak {peak} bytes is not bounded by the block size (full matrix {full})"
    np.testing.assert_allclose(out[:50], mcshane(X, u, Q[:50], L=1.0), rtol=0, atol=0)


def test_kirszbraun_keeps_euclidean_constant():
    rng = np.random.default_rng(2)
    X = rng.uniform(size=(40, 2))
    U = np.column_stack([np.sin(3 * X[:, 0]), np.cos(2 * X[:, 1]), X.sum(axis=1)])
    L = lipschitz_constant(X, U)
    Q = rng.uniform(size=(30, 2))
    V = kirszbraun(X, U, Q)
    np.testing.assert_allclose(kirszbraun(X, U, X[:5]), U[:5], atol=1e-6)
    L_all = lipschitz_constant(np.vstack([X, Q]), np.vstack([U, V]))
    assert L_all <= L * (1 + 1e-6)
    # Componentwise McShane keeps L only in the sup-norm on Y, and may exceed it in the 2-norm.
    W = extend(X, U, Q, L=L, kind="midpoint")
    assert lipschitz_constant(np.vstack([X, Q]), np.vstack([U, W]), p_y=np.inf) <= L * (1 + 1e-9)


def test_lipschitz_constant_duplicates():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]])
    assert lipschitz_constant(X, [1.0, 1.0, 3.0]) == pytest.approx(2.0, rel=1e-12)
    with pytest.warns(RuntimeWarning, match="duplicate points"):
        assert lipschitz_constant(X, [1.0, 2.0, 3.0]) == np.inf


def test_dataset_lipschitz_constant():
    # Class 0 at the origin (twice, equal labels are fine); class 1 at (2, 2) and (3, 0).
    X = np.array([[0.0, 0.0], [0.0, 0.0], [2.0, 2.0], [3.0, 0.0]])
    labels = np.array([0, 0, 1, 1])
    assert dataset_lipschitz_constant(X, labels) == pytest.approx(1.0 / np.sqrt(8.0), rel=1e-12)
    assert dataset_lipschitz_constant(X, np.eye(2)[labels], p=np.inf) == pytest.approx(1.0 / 2.0, rel=1e-12)
    assert dataset_lipschitz_constant(X, labels, p=1) == pytest.approx(1.0 / 3.0, rel=1e-12)
    assert dataset_lipschitz_constant(X, np.zeros(4, dtype=int)) == 0.0
    with pytest.warns(RuntimeWarning, match="identical inputs"):
        assert dataset_lipschitz_constant(np.zeros((2, 2)), [0, 1]) == np.inf


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mcshane(np.eye(2), [0.0, 1.0], np.ones((1, 3))), "X_new must have d = 2 columns"),
        (lambda: mcshane(np.eye(2), [0.0, 1.0], np.ones((1, 2)), L=-1.0), "L must be finite and >= 0"),
        (lambda: whitney(np.eye(2), [0.0, np.nan], np.ones((1, 2))), "u must be finite"),
        (lambda: midpoint(np.eye(2), np.ones((2, 2)), np.ones((1, 2))), "u must be a vector"),
        (lambda: mcshane(np.eye(2), [0.0, 1.0], np.ones((1, 2)), p=0.5), "p must be one of 1, 2, inf"),
        (lambda: extend(np.eye(2), np.ones((2, 2)), np.ones((1, 2)), L=1.0, kind="nearest"), "kind must be one of"),
        (lambda: extend(np.eye(2), np.ones((2, 2)), np.ones((1, 2)), L=1.0, kind="kirszbraun", p_x=1.0),
         "kind 'kirszbraun' needs p_x = p_y = 2"),
        (lambda: dataset_lipschitz_constant(np.eye(3), [0, 1]), r"labels must have shape \(3,\)"),
        (lambda: lipschitz_constant(np.eye(3), [0.0, 1.0]), "u must have n = 3 rows"),
    ],
)
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
