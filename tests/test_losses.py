"""Losses: numpy, torch and cvxpy values agree; theta is a valid strong-convexity constant."""
from __future__ import annotations

import cvxpy as cp
import numpy as np
import pytest

from lipconv.losses import LOSSES, get_loss

NAMES = sorted(LOSSES)


def _data(name, rng, n=7):
    if name == "cross_entropy":
        return rng.dirichlet(np.ones(3), size=n), np.eye(3)[rng.integers(0, 3, n)]
    return rng.normal(size=(n, 2)), rng.normal(size=(n, 2))


@pytest.mark.parametrize("name", NAMES)
def test_numpy_torch_cvxpy_agree(name):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    loss = get_loss(name)
    u, y = _data(name, rng)
    w = rng.dirichlet(np.ones(len(u)))
    ref = loss.value(u, y)
    assert ref.shape == (len(u),) and np.all(ref >= 0)
    np.testing.assert_allclose(loss.torch(torch.tensor(u), torch.tensor(y)).numpy(), ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(loss.cvxpy(cp.Constant(u), y, w).value, w @ ref, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(loss.value(y, y), 0.0, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_theta_is_strong_convexity_constant(name):
    """Seed 000 eq. (4.5): l(t a + (1-t) b, y) + theta/2 t(1-t)|a-b|^2 <= t l(a, y) + (1-t) l(b, y)."""
    rng = np.random.default_rng(1)
    loss = get_loss(name)
    for _ in range(200):
        a, y = _data(name, rng, n=1)
        b, _ = _data(name, rng, n=1)
        t = rng.uniform()
        lhs = loss.value(t * a + (1 - t) * b, y) + 0.5 * loss.theta * t * (1 - t) * np.sum((a - b) ** 2)
        rhs = t * loss.value(a, y) + (1 - t) * loss.value(b, y)
        assert lhs[0] <= rhs[0] + 1e-12


@pytest.mark.parametrize("name", NAMES)
def test_lipschitz_metadata_bounds_difference_quotients(name):
    rng = np.random.default_rng(2)
    loss = get_loss(name)
    Lip = loss.lipschitz(1.0, k=3 if name == "cross_entropy" else 2)
    for _ in range(200):
        if name == "cross_entropy":
            a, y = _data(name, rng, n=1)
            b, _ = _data(name, rng, n=1)
        else:
            a, b, y = (rng.uniform(-1, 1, size=(1, 2)) for _ in range(3))
        gap = abs(loss.value(a, y)[0] - loss.value(b, y)[0])
        assert gap <= Lip * np.linalg.norm(a - b) + 1e-12


def test_bad_loss_name():
    with pytest.raises(ValueError, match="loss must be one of"):
        get_loss("hinge")
    with pytest.raises(ValueError, match="radius must be finite and > 0"):
        get_loss("squared").lipschitz(0.0)
