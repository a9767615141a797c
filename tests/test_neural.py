"""Tests of lipconv.neural: the network approximator of u_n against the exact convex program.

The convex minimizer (lipconv.solvers) is the reference: the network's sample values at their
discrete Lipschitz constant are a feasible point of the same program, so their J_n can never beat
the convex solve's certified lower bound; the relative gap between the two is the network's
certified distance to the optimum.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from lipconv.extension import lipschitz_constant  # noqa: E402
from lipconv.manifolds import FlatCube, onehot_label, ramp_label  # noqa: E402
from lipconv.neural import gradient_norms, neural_lipschitz_regression, rate_runner  # noqa: E402
from lipconv.solvers import lipschitz_regression  # noqa: E402


pytestmark = pytest.mark.usefixtures("torch_one_thread")


def _problem(n, seed=0):
    M = FlatCube(2, 2, seed=0)
    X = M.sample(n, seed)
    return X, ramp_label(0.5).on(M, X)


@pytest.fixture(scope="module")
def flat200():
    X, y = _problem(200)
    return X, y, lipschitz_regression(X, y, lam=0.05)


def test_quality_target_default_settings(flat200):
    """On a 2-D n = 200 problem the network's sample values at their discrete Lipschitz constant, a
    feasible point of the exact program, are within 2 % of its optimum by the certified gap (the
    study's target), and the gap equals lipconv.solvers.certify's recomputed from its definition."""
    from lipconv.solvers import certify

    X, y, convex = flat200
    res = neural_lipschitz_regression(X, y, lam=0.05, convex=convex, device="cpu", seed=0)
    cert = certify(X, y, res.values[:, 0], lam=0.05, lipschitz=res.lipschitz_discrete, dual=convex)
    np.testing.assert_allclose(res.relative_gap, (cert.objective - cert.lower_bound) / cert.objective, rtol=1e-12,
                               atol=1e-15)
    np.testing.assert_allclose(res.lower_bound, cert.lower_bound, rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.objective_discrete, cert.objective, rtol=1e-9, atol=0)
    assert 0.0 <= res.relative_gap <= 0.02
    assert res.relative_gap <= res.relative_gap_upper and res.consistent is True
    assert res.max_violation <= 1e-12
    np.testing.assert_allclose(res.convex_objective, convex.objective, rtol=1e-9, atol=0)
    # The convex optimum lies between its certified lower bound and every feasible objective.
    assert res.lower_bound <= convex.objective <= res.objective_discrete * (1 + 1e-9)


def test_lipschitz_estimates_are_ordered_and_objectives_consistent():
    """The gradient and discrete estimates are lower bounds of Lip(u_theta); the certified bracket
    holds them and lies below the layer product; each J_n is loss + lam * its Lip."""
    X, y = _problem(40)
    res = neural_lipschitz_regression(X, y, lam=0.1, epochs=60, device="cpu", seed=1, dense_points=2000)
    assert res.lipschitz_discrete <= res.lipschitz_lower * (1 + 1e-12)
    assert res.lipschitz_gradient <= res.lipschitz_lower * (1 + 1e-12)
    assert res.lipschitz_lower <= res.lipschitz_upper <= res.lipschitz_product * (1 + 1e-12)
    assert res.lipschitz_converged and res.lipschitz_upper <= 1.01 * res.lipschitz_lower * (1 + 1e-12)
    np.testing.assert_allclose(res.lipschitz_discrete, lipschitz_constant(X, res.values), rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.loss_value, np.mean((res.values[:, 0] - y) ** 2), rtol=1e-12, atol=0)
    for name in ("discrete", "upper"):
        np.testing.assert_allclose(getattr(res, f"objective_{name}"),
                                   res.loss_value + 0.1 * getattr(res, f"lipschitz_{name}"), rtol=1e-12, atol=0)
    np.testing.assert_allclose(res.predict(X), res.values[:, 0], rtol=1e-12, atol=1e-12)
    assert res.convex_objective is None and res.relative_gap is None and res.consistent is None


def test_a_lower_bound_above_the_network_objective_is_flagged_inconsistent(monkeypatch):
    """A planted certificate whose lower bound exceeds the network's feasible objective (what a wrong
    convex solution or a wrong evaluation would give) makes the gap negative, unclipped, and
    ``consistent`` False."""
    import lipconv.solvers as solvers
    from lipconv.solvers import Certificate

    X, y = _problem(30)
    convex = lipschitz_regression(X, y, lam=0.1)
    real = solvers.certify

    def planted(*args, **kwargs):
        c = real(*args, **kwargs)
        return dataclasses.replace(c, lower_bound=1.5 * c.objective)

    monkeypatch.setattr(solvers, "certify", planted)
    res = neural_lipschitz_regression(X, y, lam=0.1, convex=convex, epochs=50, device="cpu")
    assert isinstance(real(X, y, convex.values[:, 0], lam=0.1, dual=convex), Certificate)
    assert res.consistent is False and res.relative_gap < 0 and res.relative_gap_upper < 0
    assert "INCONSISTENT" in repr(res)


def test_gradient_norms_of_linear_maps():
    """For u(x) = W x + b the local Lipschitz constant is ||w||_2 (k = 1) or the spectral norm of W."""
    torch.manual_seed(0)
    x = torch.rand(5, 3, dtype=torch.float64)
    for k in (1, 4):
        lin = torch.nn.Linear(3, k).double()
        expected = torch.linalg.matrix_norm(lin.weight.detach(), ord=2).item()
        np.testing.assert_allclose(gradient_norms(lin, x).detach().numpy(), np.full(5, expected), rtol=1e-12, atol=0)


def test_seed_reproducibility_and_vector_outputs():
    """Same seed, same network; one-hot labels with the cross-entropy give values on the simplex."""
    X, y = _problem(20)
    a = neural_lipschitz_regression(X, y, lam=0.1, epochs=20, device="cpu", seed=3, dense_points=100)
    b = neural_lipschitz_regression(X, y, lam=0.1, epochs=20, device="cpu", seed=3, dense_points=100)
    np.testing.assert_array_equal(a.values, b.values)
    Y = onehot_label(3)(FlatCube(2, 2, seed=0).coordinate(X))
    r = neural_lipschitz_regression(X, Y, lam=0.1, loss="cross_entropy", epochs=20, device="cpu", dense_points=100)
    assert r.values.shape == (20, 3) and r.predict(X).shape == (20, 3)
    np.testing.assert_allclose(r.values.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert np.all(r.values >= 0)


def test_rate_runner_protocol():
    """The lipconv.rates method-runner protocol: predict, lipschitz, objective, values, the certified
    gap against the exact program it solves itself, and local Lipschitz bounds of predict."""
    X, y = _problem(20)
    res = rate_runner(X, y, lam=0.1, loss="squared", seed=None)
    assert res.method == "neural" and res.seed == 0 and res.solve_time > 0
    # The study's training budget: the wider network below n = 256, the defaults from there on.
    assert res.hidden == (128, 128) and res.epochs == 1000
    from lipconv.neural._regression import _study_training

    assert _study_training(255) == {"hidden": (128, 128)} and _study_training(256) == {}
    assert res.predict(X[:5]).shape == (5,)
    assert res.lipschitz == res.lipschitz_discrete
    np.testing.assert_allclose(res.objective, res.loss_value + 0.1 * res.lipschitz, rtol=1e-12, atol=0)
    convex = lipschitz_regression(X, y, lam=0.1)
    np.testing.assert_allclose(res.convex_objective, convex.objective, rtol=1e-9, atol=0)
    assert res.relative_gap >= 0 and res.consistent
    grads = gradient_norms(res.model, torch.as_tensor(X)).numpy()
    assert res.lipschitz_lower >= grads.max() * (1 - 1e-12) and res.lipschitz_upper >= res.lipschitz_lower
    assert torch.get_num_threads() == 1  # the fixture's value, restored by the runner


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lam": 0.0}, "lam must be finite and > 0"),
        ({"lam": 0.1, "hidden": ()}, "hidden must contain at least one layer width"),
        ({"lam": 0.1, "hidden": (8, 0)}, r"hidden\[1\] must be"),
        ({"lam": 0.1, "epochs": 0}, "epochs must be"),
        ({"lam": 0.1, "convex": "u_n"}, "convex must be a lipconv.solvers.LipschitzResult"),
    ],
)
def test_bad_input_raises(kwargs, match):
    X, y = _problem(10)
    with pytest.raises(ValueError, match=match):
        neural_lipschitz_regression(X, y, **kwargs)


def test_convex_solution_of_another_problem_is_rejected():
    X, y = _problem(12)
    convex = lipschitz_regression(X, y, lam=0.2)
    with pytest.raises(ValueError, match="convex must be solved with the same lam = 0.1"):
        neural_lipschitz_regression(X, y, lam=0.1, convex=convex)
    with pytest.raises(ValueError, match="convex must be solved with loss 'absolute'"):
        neural_lipschitz_regression(X, y, lam=0.2, loss="absolute", convex=convex)


def test_import_lipconv_does_not_import_torch():
    code = "import sys, lipconv, lipconv.solvers, lipconv.datasets; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.gpu
def test_quality_target_on_cuda(flat200):
    """Same objective, target and certified bracket on the GPU (run where a CUDA device exists)."""
    X, y, convex = flat200
    res = neural_lipschitz_regression(X, y, lam=0.05, convex=convex, device="cuda", seed=0)
    assert res.device.startswith("cuda")
    assert res.consistent is True and 0.0 <= res.relative_gap <= 0.02
    assert res.lipschitz_lower <= res.lipschitz_upper
