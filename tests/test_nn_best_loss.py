"""Tests of lipconv.nn.lipschitz_loss_gap: a network's training loss against the best loss any function with
its Lipschitz constant reaches on the same data (issue 16, item 5), checked against the penalized solver,
a closed form, and the certified inequality."""
from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import lipconv.nn as L  # noqa: E402
from lipconv.solvers import lipschitz_regression  # noqa: E402
from _nn_references import log_form_best_loss  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _linear_net_with_data_constant(x, L_target, k=2, seed=0):
    """A linear logit map whose largest pair quotient on x is exactly L_target (l2 -> l2)."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(x.shape[1], k)).double()
    q = L.pair_lipschitz(model, x, norm="L2", out_norm="L2")
    with torch.no_grad():
        model[0].weight.mul_(L_target / q)
    return model


def test_fixed_lipschitz_program_at_the_penalized_constant_returns_the_penalized_loss():
    """Lagrangian duality: the penalized solution (lam) with constant L* is optimal for the fixed-L program
    at L*, so B(L*) equals its loss; lipschitz_loss_gap's "data" row at a network whose data constant is
    L* returns that loss, certified, and the network's loss is not below it."""
    g = np.random.default_rng(0)
    X = g.uniform(0, 1, size=(14, 3))
    y = (X[:, 0] + 0.3 * g.standard_normal(14) > 0.5).astype(int)
    Y = np.eye(2)[y]
    pen = lipschitz_regression(X, Y, lam=0.02)
    assert pen.certified and 0 < pen.lipschitz
    fixed = lipschitz_regression(X, Y, lipschitz=pen.lipschitz)
    np.testing.assert_allclose(fixed.loss_value, pen.loss_value, rtol=1e-5, atol=1e-9)
    x = torch.as_tensor(X)
    model = _linear_net_with_data_constant(x, pen.lipschitz)
    gap = L.lipschitz_loss_gap(model, x, torch.as_tensor(y), outputs="logits")
    row = gap.row("data")
    np.testing.assert_allclose(row.lipschitz, pen.lipschitz, rtol=1e-12)
    np.testing.assert_allclose(row.best_loss, pen.loss_value, rtol=1e-5, atol=1e-9)
    assert row.certified and row.lower_bound <= row.best_loss * (1 + 1e-9)
    assert gap.train_loss >= row.lower_bound - 1e-9 and gap.certified_gap >= -1e-9


def test_clip_network_is_the_best_lipschitz_function_on_a_symmetric_step():
    """Closed form: for labels one-hot(x > 0) on a symmetric 1-D grid, the best squared loss with data
    constant L (l2 outputs) is reached by g(x) = (1 - c, 1 + c)/2, c = clip(sqrt(2) L x, -1, 1): the program's
    optimum lies on the label line u_0 + u_1 = 1 (projecting on it contracts distances and moves u toward
    y), where it is the clip ramp of maximal slope. The network's loss equals B(L) and its empirical and
    data constants are L; a train loss summed instead of averaged, or another L, fails."""
    Lc = 1.3
    x = torch.linspace(-1, 1, 20, dtype=torch.float64)[:, None]
    y = (x[:, 0] > 0).long()
    model = nn.Sequential(nn.Linear(1, 1), nn.Hardtanh(), nn.Linear(1, 2)).double()
    with torch.no_grad():
        model[0].weight.fill_(math.sqrt(2) * Lc)
        model[0].bias.zero_()
        model[2].weight.copy_(torch.tensor([[-0.5], [0.5]]))
        model[2].bias.fill_(0.5)
    gap = L.lipschitz_loss_gap(model, x, y, outputs="logits")
    np.testing.assert_allclose(gap.row("data").lipschitz, Lc, rtol=1e-12)
    np.testing.assert_allclose(gap.row("empirical lower").lipschitz, Lc, rtol=1e-12)
    np.testing.assert_allclose(gap.row("certified upper").lipschitz, Lc, rtol=1e-12)
    c = np.clip(math.sqrt(2) * Lc * x[:, 0].numpy(), -1, 1)
    want = np.mean(2 * (0.5 * (1 - np.abs(c))) ** 2)
    np.testing.assert_allclose(gap.train_loss, want, rtol=1e-12)
    np.testing.assert_allclose(gap.row("data").best_loss, want, rtol=1e-5)
    assert abs(gap.certified_gap) <= 1e-5 * want
    assert "best loss at L" in str(gap)


def test_trained_network_loss_is_above_the_certified_bound_and_rows_are_ordered():
    """For a small trained tanh network on probabilities (squared and cross-entropy losses): training loss
    >= certified B(L_data) >= B(certified upper); the empirical lower estimate is <= the certified upper."""
    g = torch.Generator().manual_seed(0)
    x = torch.rand((16, 4), generator=g, dtype=torch.float64)
    y = (x[:, 0] + x[:, 1] > 1).long()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 2)).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(60):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for loss in ("squared", "cross_entropy"):
        gap = L.lipschitz_loss_gap(model, x, y, loss=loss)
        lo, data, up = gap.rows
        assert lo.lipschitz <= up.lipschitz and data.lipschitz <= up.lipschitz
        assert gap.train_loss >= data.lower_bound - 1e-9
        assert up.best_loss <= data.best_loss * (1 + 1e-6) + 1e-9
        assert all(r.certified for r in gap.rows)


def test_softmax_upper_bound_is_half_the_layer_product_and_tight_at_a_tie():
    """||J_softmax|| <= 1/2, attained at two equal logits: for logits (a x_0, -a x_0) the probabilities'
    Jacobian at x_0 = 0 has norm a / sqrt(2), which is half of ||W||_2 = sqrt(2) a; so the empirical lower
    and certified upper constants coincide (a missing or wrong factor breaks the equality or the order)."""
    a = 1.7
    model = nn.Sequential(nn.Linear(2, 2, bias=False)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[a, 0.0], [-a, 0.0]], dtype=torch.float64))
    x = torch.tensor([[0.0, 0.2], [0.3, 0.1], [-0.4, 0.5], [0.6, -0.2]], dtype=torch.float64)
    y = torch.tensor([0, 0, 1, 0])
    gap = L.lipschitz_loss_gap(model, x, y)
    np.testing.assert_allclose(gap.row("empirical lower").lipschitz, a / math.sqrt(2), rtol=1e-12)
    np.testing.assert_allclose(gap.row("certified upper").lipschitz, a / math.sqrt(2), rtol=1e-12)


def test_lipschitz_loss_gap_rejects_bad_input():
    model = nn.Sequential(nn.Linear(2, 2)).double()
    x = torch.rand((4, 2), dtype=torch.float64)
    y = torch.tensor([0, 1, 0, 1])
    with pytest.raises(ValueError, match="outputs must be one of"):
        L.lipschitz_loss_gap(model, x, y, outputs="scores")
    with pytest.raises(ValueError, match="outputs must be 'probabilities' for loss='cross_entropy'"):
        L.lipschitz_loss_gap(model, x, y, loss="cross_entropy", outputs="logits")


def _log_form_best_loss(X, Z, L_fixed):
    value, status = log_form_best_loss(X, Z, L_fixed)
    assert status == "optimal"
    return value


def test_cross_entropy_loss_gap_of_a_ten_class_network_matches_an_independent_log_form_solve():
    """Issue 28, item 3: on one-hot labels with k = 10 the fixed-L cross-entropy program keeps most values
    at 0 with zero multipliers; both of lipconv's solves (the cutting plane's Newton QPs and the all-pairs
    exponential-cone program) used to stop 'insufficient progress' / 'almost solved' there and
    lipschitz_loss_gap raised SolverError ("auto" tries the cutting plane, then all pairs). The data row
    must now be certified and equal B(L_data) from an independent log-form program, by each method."""
    g = torch.Generator().manual_seed(0)
    n, d, k = 30, 8, 10
    x = torch.rand((n, d), generator=g, dtype=torch.float64)
    y = torch.randint(0, k, (n,), generator=g)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(d, 32), nn.Tanh(), nn.Linear(32, k)).double()
    opt = torch.optim.Adam(model.parameters(), lr=0.02)
    for _ in range(50):
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    gap = L.lipschitz_loss_gap(model, x, y, loss="cross_entropy", method="cutting-plane")
    row = gap.row("data")
    want = _log_form_best_loss(x.numpy(), np.eye(k)[y.numpy()], row.lipschitz)
    assert want > 1e-3  # L_data is below the labels' constant: a program with work to do
    assert all(r.certified for r in gap.rows)
    # SCS's gap at 1e-9 and the certificate's 1e-6 bound the difference
    np.testing.assert_allclose(row.best_loss, want, rtol=1e-6)
    assert row.lower_bound <= want * (1 + 1e-8)
    pairs = L.lipschitz_loss_gap(model, x, y, loss="cross_entropy", method="pairs").row("data")
    assert pairs.certified
    np.testing.assert_allclose(pairs.best_loss, want, rtol=1e-6)


@pytest.mark.parametrize("method", ["cutting-plane", "pairs"])
def test_cross_entropy_program_keeps_the_simplex_bounds_where_the_relaxation_goes_negative(method):
    """The rows u >= 0 enter the cross-entropy programs as cuts (issue 28, item 3). On these 4 points with
    one-hot labels in 3 classes at L = 0.3 the program without them has entries down to -0.007 (SCS, log
    form): the cuts must come back, and the loss equal the independent log-form program WITH the bounds
    (a solver that never adds them is off by 1.1e-3 and uncertified)."""
    rng = np.random.default_rng(22)
    X = rng.random((4, 2))
    Z = np.eye(3)[rng.integers(0, 3, 4)]
    want = _log_form_best_loss(X, Z, 0.3)
    res = lipschitz_regression(X, Z, lipschitz=0.3, loss="cross_entropy", method=method)
    assert res.certified and res.values.min() >= 0
    np.testing.assert_allclose(res.values.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.loss_value, want, rtol=1e-7)
