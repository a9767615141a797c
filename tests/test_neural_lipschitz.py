"""Certified Lipschitz bounds of a ReLU network on boxes, and the bracket of its constant
(lipconv.neural._lipschitz): each bound is checked against gradients the network attains inside its
box, and the bracket against the exact constant of one-dimensional networks (a piecewise-linear
function whose constant is the largest slope between its breakpoints)."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lipconv.neural import box_lipschitz_bounds, lipschitz_bracket  # noqa: E402
from lipconv.neural._lipschitz import _gradient_norm_at  # noqa: E402
from lipconv.neural._regression import _mlp as _build_mlp  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _mlp(d, k, widths=(16, 16), seed=0, head=None):
    """The package's own ReLU network (lipconv.neural), seeded, in float64, frozen."""
    torch.manual_seed(seed)
    model = _build_mlp(d, k, widths, head).double()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


@pytest.mark.parametrize(("d", "k", "patterns"), [(2, 1, 0), (2, 1, 6), (3, 1, 6), (2, 3, 0), (2, 3, 6)])
def test_box_bounds_hold_at_every_sampled_point(d, k, patterns):
    """Property: every gradient norm (Jacobian spectral norm) the network attains in a box is at most
    the box's bound; on a box much smaller than the units' spacing the bound is the gradient there."""
    model = _mlp(d, k, seed=d + k)
    rng = np.random.default_rng(1)
    c = rng.uniform(size=(300, d))
    for h in (0.3, 0.05):
        r = np.full(300, h)
        bound = box_lipschitz_bounds(model, c, r, patterns=patterns)
        worst = 0.0
        for _ in range(40):
            x = c + h * rng.uniform(-1.0, 1.0, size=c.shape)
            worst = max(worst, float(np.max(_gradient_norm_at(model, x) / bound)))
        assert worst <= 1.0 + 1e-12
    tiny = box_lipschitz_bounds(model, c, np.full(300, 1e-10), patterns=patterns)
    np.testing.assert_allclose(tiny, _gradient_norm_at(model, c), rtol=1e-8, atol=0)


def test_pattern_enumeration_is_exact_on_a_box_cut_by_one_boundary():
    """A one-hidden-unit kink in 2-D: u(x) = w2 relu(w1 . x) + v . x. The interval hull mixes the two
    sides' gradients entry by entry; the enumeration of the two patterns gives the larger side's
    norm exactly."""
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.ReLU(), torch.nn.Linear(2, 1)).double()
    with torch.no_grad():
        model[0].weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
        model[0].bias.copy_(torch.tensor([0.0, 1.0]))  # unit 2 is always on: a constant 1
        model[2].weight.copy_(torch.tensor([[-2.0, 0.0]]))
        model[2].bias.zero_()
    # u = -2 relu(x_1): gradient (-2, 0) for x_1 > 0, (0, 0) for x_1 < 0; plus nothing in x_2.
    bound = box_lipschitz_bounds(model, np.array([[0.0, 0.5]]), np.array([0.1]), patterns=1)
    np.testing.assert_allclose(bound, [2.0], rtol=1e-12, atol=0)


def _exact_lipschitz_1d(model, lo=0.0, hi=1.0):
    """The exact constant of a 1-D ReLU network on [lo, hi], independently of lipconv: split [lo, hi]
    at every kink, layer by layer (on a piece where the earlier layers are affine, each
    pre-activation of the next layer is affine, so its zero is found exactly by interpolation), then
    take the largest |slope| over the pieces, each slope the difference quotient of the piece's ends."""
    linears = [m for m in model if isinstance(m, torch.nn.Linear)]

    def pre(x, depth):  # pre-activations of hidden layer `depth` (0-based) at the points x
        h = torch.as_tensor(np.asarray(x, dtype=float)[:, None])
        for i, lin in enumerate(linears[: depth + 1]):
            h = lin(h) if i == depth else torch.relu(lin(h))
        return h.numpy()

    knots = np.array([lo, hi])
    for depth in range(len(linears) - 1):
        new = []
        for a, b in zip(knots[:-1], knots[1:]):
            za, zb = pre([a, b], depth)
            cross = (za * zb) < 0
            new += list(a + (b - a) * za[cross] / (za[cross] - zb[cross]))
        knots = np.unique(np.concatenate([knots, new]))
    with torch.no_grad():
        u = model(torch.as_tensor(knots[:, None])).numpy()[:, 0]
    return float(np.max(np.abs(np.diff(u) / np.diff(knots))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bracket_contains_the_exact_constant_of_a_1d_network(seed):
    """Property: lower <= Lip <= upper, converged to rtol, for networks whose constant is known
    exactly (the largest slope between their kinks, located independently)."""
    model = _mlp(1, 1, seed=seed)
    exact = _exact_lipschitz_1d(model)
    br = lipschitz_bracket(model, [0.0], [1.0], rtol=1e-3)
    assert br.converged
    assert br.lower <= exact * (1 + 1e-12) and br.upper >= exact * (1 - 1e-12)
    assert br.upper <= (1 + 1e-3) * br.lower
    # A loose target closes boxes early: they still count in the upper end.
    loose = lipschitz_bracket(model, [0.0], [1.0], rtol=0.5, n0=2)
    assert loose.lower <= exact * (1 + 1e-12) <= loose.upper * (1 + 2e-12)


def test_bracket_is_certified_under_a_tiny_budget_and_beats_the_layer_product():
    """A budget too small to converge still gives a valid bracket: the upper end stays above every
    gradient norm found by a dense scan of the 2-D domain."""
    from lipconv.norms import layer_norm_product

    model = _mlp(2, 1, widths=(64, 64), seed=5)
    br = lipschitz_bracket(model, [0.0, 0.0], [1.0, 1.0], rtol=1e-6, n0=16, max_boxes=64)
    grid = np.stack(np.meshgrid(np.linspace(0, 1, 401), np.linspace(0, 1, 401)), -1).reshape(-1, 2)
    dense = float(_gradient_norm_at(model, grid).max())
    assert not br.converged and br.upper >= dense and br.lower <= dense * (1 + 1e-12)
    full = lipschitz_bracket(model, [0.0, 0.0], [1.0, 1.0], rtol=1e-3)
    product = float(layer_norm_product([m.weight for m in model if isinstance(m, torch.nn.Linear)], 2, 2))
    assert full.converged and full.upper < product


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: box_lipschitz_bounds(m, np.zeros((2, 3)), np.ones(2)), "centres must have d = 2"),
        (lambda m: box_lipschitz_bounds(m, np.zeros((2, 2)), -np.ones(2)), "half_widths must be finite and >= 0"),
        (lambda m: box_lipschitz_bounds(m, np.zeros((2, 2)), np.ones(3)), "half_widths must have shape"),
        (lambda m: box_lipschitz_bounds(torch.nn.Tanh(), np.zeros((2, 2)), np.ones(2)), "model must be a torch.nn.Sequential"),
        (lambda m: lipschitz_bracket(m, [0.0, 1.0], [1.0, 1.0]), "lo and hi must be finite corners"),
        (lambda m: lipschitz_bracket(m, [0.0, 0.0], [1.0, 1.0], rtol=0.0), "rtol must be"),
    ],
)
def test_bad_input_is_named(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call(_mlp(2, 1))
