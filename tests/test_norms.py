"""Unit tests of lipconv.norms: p-norms, projections, operator norms, power and (p, q) iterations.

The identities of the papers are checked as properties in tests/test_properties.py; here are the
hand-derivable values, the numpy/torch agreement, gradients, batching and bad input.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from lipconv.norms import (
    METHODS, dual_exponent, dual_norm, layer_norm_product, operator_norm, operator_norm_iteration,
    pnorm, power_method, sphere_projection, steepest_direction,
)

NORMS = (1.0, 2.0, np.inf)
PAIRS = [(p, q) for p in NORMS for q in NORMS]


def _matvecs(A):
    """Batched closures v (..., n) -> A v and u (..., m) -> A^T u."""
    return (lambda v: v @ A.T), (lambda u: u @ A)


# ---------------------------------------------------------------- p-norms and directions

@pytest.mark.parametrize("p", [1, 1.5, 2, 3, np.inf])
def test_pnorm_matches_numpy_and_torch(p):
    rng = np.random.default_rng(0)
    V = rng.standard_normal((4, 7))
    expected = np.linalg.norm(V, ord=p, axis=-1)
    np.testing.assert_allclose(pnorm(V, p), expected, rtol=1e-13, atol=0)
    np.testing.assert_allclose(pnorm(torch.tensor(V), p).numpy(), expected, rtol=1e-13, atol=0)
    np.testing.assert_allclose(dual_norm(V, p), np.linalg.norm(V, ord=dual_exponent(p), axis=-1), rtol=1e-13)


def test_dual_exponent_values():
    assert dual_exponent(1) == np.inf
    assert dual_exponent("L2") == 2.0
    assert dual_exponent(np.inf) == 1.0
    assert dual_exponent(3) == pytest.approx(1.5, rel=1e-15)


def test_large_exponents_do_not_overflow():
    """Regression: |z|^(p*-1) overflowed for p near 1 (p* = 101) and |z| ~ 1e3, giving NaN."""
    z = np.array([1e3, -2e3, 5e2])
    v = steepest_direction(z, 1.01)
    assert np.all(np.isfinite(v))
    np.testing.assert_allclose(pnorm(v, 1.01), 1.0, rtol=1e-12)
    np.testing.assert_allclose(v @ z, pnorm(z, dual_exponent(1.01)), rtol=1e-12)
    vt = steepest_direction(torch.tensor(z), 1.01).numpy()
    np.testing.assert_allclose(vt, v, rtol=1e-12, atol=1e-300)
    # 2^(1/3) * 1e200 is representable although (1e200)^3 is not.
    np.testing.assert_allclose(pnorm(np.array([1e200, 1e200]), 3), 2 ** (1 / 3) * 1e200, rtol=1e-14)
    # Regression (found by hypothesis): the square of 5e-204 underflowed, giving ||z||_2 = 0.
    np.testing.assert_allclose(pnorm(np.array([5e-204, 0.0]), 2), 5e-204, rtol=1e-15)


def test_steepest_direction_zero_and_ties():
    for p in (1, 2, 3, np.inf):
        np.testing.assert_array_equal(steepest_direction(np.zeros(4), p), np.zeros(4))
    # p = 1: all the mass on the first entry of largest |z_i|.
    np.testing.assert_array_equal(steepest_direction(np.array([1.0, -3.0, 3.0]), 1), [0.0, -1.0, 0.0])


@pytest.mark.parametrize("p", NORMS)
def test_sphere_projection_outside_ball_matches_cvxpy(p):
    """Outside the unit ball the projection onto the sphere is the projection onto the ball (cvxpy QP)."""
    import cvxpy as cp

    rng = np.random.default_rng(1)
    for _ in range(3):
        x = 3.0 * rng.standard_normal(6)
        y = cp.Variable(6)
        # The interior-point solution's error scales with the solver's tolerance: at Clarabel's default
        # 1e-8 it was 6.9e-7 off for p = inf (against this atol of 1e-6), at 1e-10 it is 6.9e-9
        # (1e-11 and below end "optimal_inaccurate" for p = 2).
        cp.Problem(cp.Minimize(cp.sum_squares(y - x)), [cp.norm(y, p) <= 1]).solve(
            solver="CLARABEL", tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
        np.testing.assert_allclose(sphere_projection(x, p), y.value, rtol=0, atol=1e-6)
        np.testing.assert_allclose(sphere_projection(torch.tensor(x), p).numpy(), sphere_projection(x, p),
                                   rtol=0, atol=1e-14)


def test_sphere_projection_inside_ball_values():
    x = np.array([0.1, -0.3, 0.0])
    np.testing.assert_allclose(sphere_projection(x, np.inf), [0.1, -1.0, 0.0], atol=0)
    # l1: facet s = (+, -, +) (zero counted +), s.x = 0.4, step (1 - 0.4) / 3 along s.
    np.testing.assert_allclose(sphere_projection(x, 1), [0.3, -0.5, 0.2], rtol=0, atol=1e-15)
    np.testing.assert_allclose(sphere_projection(np.zeros(3), 2), [1.0, 0.0, 0.0], atol=0)


# ---------------------------------------------------------------- operator norms

@pytest.mark.parametrize("m, n", [(1, 1), (3, 5), (6, 2)])
def test_operator_norm_of_all_ones(m, n):
    """||1_{m x n}||_{p,q} = ||1_m||_q ||1_n||_{p*} (the maximizer is a multiple of the ones vector)."""
    A = np.ones((m, n))
    for p, q in PAIRS:
        expected = (m ** (1 / q) if q != np.inf else 1.0) * (n ** (1 / dual_exponent(p)) if p != 1 else 1.0)
        res = operator_norm(A, p, q)
        assert res.exact
        np.testing.assert_allclose(res.value, expected, rtol=1e-12)


def test_operator_norm_identity_hard_entries():
    """||I_n||_{inf,1} = n, ||I_n||_{2,1} = ||I_n||_{inf,2} = sqrt(n) (attained at the ones vector)."""
    n = 7
    I = np.eye(n)
    assert operator_norm(I, np.inf, 1).value == pytest.approx(n, rel=1e-14)
    assert operator_norm(I, 2, 1).value == pytest.approx(math.sqrt(n), rel=1e-14)
    assert operator_norm(I, np.inf, 2).value == pytest.approx(math.sqrt(n), rel=1e-14)
    assert operator_norm(I, np.inf, 2).method == "brute-force"
    assert operator_norm(I, np.inf, 2).vertices == 2 ** (n - 1)


def test_operator_norm_methods_and_fallbacks():
    rng = np.random.default_rng(2)
    A = rng.standard_normal((6, 9))
    for p, q in PAIRS:
        exact = operator_norm(A, p, q)
        low = operator_norm(A, p, q, max_vertices=1, fallback="lower", seed=5)
        up = operator_norm(A, p, q, max_vertices=1, fallback="upper")
        assert exact.exact and exact.method in ("closed-form", "brute-force")
        assert {low.method, up.method} <= set(METHODS)
        if exact.method == "closed-form":
            assert low.method == up.method == "closed-form"
            continue
        assert low.method == "iteration-lower-bound" and not low.exact and low.seed == 5
        assert up.method == "closed-form-upper-bound" and not up.exact
        assert low.value <= exact.value * (1 + 1e-12)
        assert up.value >= exact.value * (1 - 1e-12)


def test_operator_norm_batched_and_torch():
    rng = np.random.default_rng(3)
    A = rng.standard_normal((2, 3, 4, 5))
    for p, q in PAIRS:
        batched = operator_norm(A, p, q).value
        assert batched.shape == (2, 3)
        loop = np.array([[operator_norm(A[i, j], p, q).value for j in range(3)] for i in range(2)])
        np.testing.assert_allclose(batched, loop, rtol=1e-13)
        tv = operator_norm(torch.tensor(A), p, q).value
        assert isinstance(tv, torch.Tensor)
        np.testing.assert_allclose(tv.numpy(), batched, rtol=1e-12)
        low = operator_norm(A, p, q, max_vertices=1).value
        assert low.shape == (2, 3) and np.all(low <= batched * (1 + 1e-12))


@pytest.mark.parametrize("p, q", PAIRS)
def test_operator_norm_torch_gradient(p, q):
    """The norm is differentiable where its maximizer is unique (true for a generic matrix)."""
    A = torch.tensor(np.random.default_rng(4).standard_normal((3, 4)), requires_grad=True)
    assert torch.autograd.gradcheck(lambda M: operator_norm(M, p, q).value, (A,), eps=1e-6, atol=1e-5)


def test_zero_matrix():
    Z = np.zeros((3, 4))
    for p, q in PAIRS:
        assert operator_norm(Z, p, q).value == 0.0
        assert operator_norm(Z, p, q, max_vertices=1).value == 0.0
        assert operator_norm(Z, p, q, max_vertices=1, fallback="upper").value == 0.0
    mv, rmv = _matvecs(Z)
    res = power_method(mv, rmv, Z.shape)
    assert res.sigma == 0.0 and res.converged
    assert operator_norm_iteration(mv, rmv, 2, 1, shape=Z.shape).value == 0.0


# ---------------------------------------------------------------- power method and (p, q) iteration

def test_power_method_matches_svd_numpy_torch_batched():
    rng = np.random.default_rng(6)
    A = rng.standard_normal((3, 5, 4))
    s = np.linalg.svd(A, compute_uv=False)
    mv = lambda v: (A @ v[..., None])[..., 0]  # noqa: E731
    rmv = lambda u: (np.swapaxes(A, -1, -2) @ u[..., None])[..., 0]  # noqa: E731
    res = power_method(mv, rmv, A.shape, iters=2000, tol=1e-14)
    assert res.converged and res.seed == 0 and res.history.shape == (res.iterations, 3)
    np.testing.assert_allclose(res.sigma, s[:, 0], rtol=1e-10)
    np.testing.assert_allclose(pnorm(res.v, 2), 1.0, rtol=1e-14)
    At = torch.tensor(A)
    rest = power_method(lambda v: (At @ v[..., None])[..., 0], lambda u: (At.transpose(-1, -2) @ u[..., None])[..., 0],
                        A.shape, iters=2000, tol=1e-14, like=At)
    np.testing.assert_allclose(rest.sigma.numpy(), s[:, 0], rtol=1e-10)


def test_power_method_gradient_is_u_v_transpose():
    """d sigma / dW = u v^T ([RKH] after eq. (5)), through the closure's parameters."""
    W = torch.tensor(np.random.default_rng(7).standard_normal((4, 6)), requires_grad=True)
    res = power_method(lambda v: v @ W.T, lambda u: u @ W, tuple(W.shape), iters=500, tol=1e-14, like=W)
    res.sigma.backward()
    np.testing.assert_allclose(W.grad.numpy(), np.outer(res.u.numpy(), res.v.numpy()), rtol=0, atol=1e-14)
    np.testing.assert_allclose(res.sigma.item(), np.linalg.norm(W.detach().numpy(), 2), rtol=1e-10)


@pytest.mark.parametrize("p, q", PAIRS)
def test_iteration_is_a_certified_lower_bound(p, q):
    rng = np.random.default_rng(8)
    A = rng.standard_normal((5, 6))
    mv, rmv = _matvecs(A)
    exact = operator_norm(A, p, q).value
    for alpha in (0.5, 10.0, np.inf):
        res = operator_norm_iteration(mv, rmv, p, q, shape=A.shape, alpha=alpha, iters=50, seed=1)
        np.testing.assert_allclose(pnorm(res.v, p), 1.0, rtol=1e-12)
        np.testing.assert_allclose(res.value, pnorm(A @ res.v, q), rtol=1e-12)
        assert res.value <= exact * (1 + 1e-12)
        assert res.alpha == alpha and res.seed == 1


def test_iteration_22_is_the_power_method():
    A = np.random.default_rng(9).standard_normal((5, 4))
    mv, rmv = _matvecs(A)
    it = operator_norm_iteration(mv, rmv, 2, 2, shape=A.shape, iters=500, tol=1e-15)
    np.testing.assert_allclose(it.value, np.linalg.norm(A, 2), rtol=1e-10)


def test_iteration_fixed_point_at_the_maximizer():
    """Started on the maximizer of Table 1's (2, inf) entry (the largest row, normalized) the
    iteration stays there; from other starts it is a local ascent and may stop lower."""
    A = np.random.default_rng(10).standard_normal((5, 4))
    mv, rmv = _matvecs(A)
    i = np.argmax(np.linalg.norm(A, axis=1))
    res = operator_norm_iteration(mv, rmv, 2, np.inf, v0=A[i], iters=20)
    np.testing.assert_allclose(res.value, np.linalg.norm(A[i]), rtol=1e-12)
    np.testing.assert_allclose(res.v, A[i] / np.linalg.norm(A[i]), rtol=0, atol=1e-14)


def test_iteration_torch_matches_numpy():
    A = np.random.default_rng(13).standard_normal((2, 4, 5))
    At = torch.tensor(A)
    v0 = np.random.default_rng(14).standard_normal((2, 5))
    for p, q in PAIRS:
        for alpha in (1.0, np.inf):
            r_np = operator_norm_iteration(lambda v: (A @ v[..., None])[..., 0],
                                           lambda u: (np.swapaxes(A, -1, -2) @ u[..., None])[..., 0],
                                           p, q, v0=v0, alpha=alpha, iters=10, tol=0.0)
            r_t = operator_norm_iteration(lambda v: (At @ v[..., None])[..., 0],
                                          lambda u: (At.transpose(-1, -2) @ u[..., None])[..., 0],
                                          p, q, v0=torch.tensor(v0), alpha=alpha, iters=10, tol=0.0)
            assert isinstance(r_t.value, torch.Tensor) and r_np.value.shape == (2,)
            np.testing.assert_allclose(r_t.value.numpy(), r_np.value, rtol=1e-10)
            assert r_np.iterations == 10


def test_brute_force_enumerates_the_shorter_side_and_large_inputs_fall_back():
    rng = np.random.default_rng(15)
    A = rng.standard_normal((3, 12))
    assert operator_norm(A, np.inf, 1).vertices == 2 ** 2  # (inf, 1) is self-dual: 3 < 12
    assert operator_norm(A, 2, 1).vertices == 2 ** 2  # (2, 1) = (inf, 2) of A^T: sign vectors in R^3
    assert operator_norm(A, np.inf, 2).vertices == 2 ** 11
    B = rng.standard_normal((30, 40))
    low = operator_norm(B, np.inf, 2, iters=30, restarts=4)
    up = operator_norm(B, np.inf, 2, fallback="upper")
    assert low.method == "iteration-lower-bound" and up.method == "closed-form-upper-bound"
    assert 0 < low.value <= up.value


# ---------------------------------------------------------------- product bound ([FOA] eq. (6))

def _relu_net(rng, sizes):
    return [rng.standard_normal((sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]


def test_layer_norm_product_spectral_equals_product_of_sigmas():
    Ws = _relu_net(np.random.default_rng(11), [4, 6, 5, 3])
    res = layer_norm_product(Ws, 2, 2)
    np.testing.assert_allclose(res.value, np.prod([np.linalg.norm(W, 2) for W in Ws]), rtol=1e-12)
    assert res.exponents == (2.0, 2.0, 2.0, 2.0) and res.exact
    assert float(res) == pytest.approx(res.value, rel=0)


def test_layer_norm_product_chains_and_torch():
    rng = np.random.default_rng(12)
    Ws = _relu_net(rng, [4, 6, 5, 3])
    for p, q in PAIRS:
        default = layer_norm_product(Ws, p, q)
        best = layer_norm_product(Ws, p, q, inner="best")
        assert default.exponents == (p, p, p, q)
        assert best.value <= default.value * (1 + 1e-12)
        assert best.exponents[0] == p and best.exponents[-1] == q
        upper = layer_norm_product(Ws, p, q, max_vertices=1)
        assert upper.value >= default.value * (1 - 1e-12)
        explicit = layer_norm_product(Ws, p, q, inner=[2, "Linf"])
        assert explicit.exponents == (p, 2.0, np.inf, q)
    Wt = [torch.tensor(W, requires_grad=True) for W in Ws]
    val = layer_norm_product(Wt, 2, np.inf).value
    val.backward()
    np.testing.assert_allclose(val.item(), layer_norm_product(Ws, 2, np.inf).value, rtol=1e-12)
    assert all(W.grad is not None for W in Wt)


# ---------------------------------------------------------------- bad input (messages pinned)

def test_bad_exponents():
    A = np.ones((2, 2))
    with pytest.raises(ValueError, match=r"p must be one of 1, 2, inf \(or 'L1', 'L2', 'Linf'\), got 3"):
        operator_norm(A, 3, 2)
    with pytest.raises(ValueError, match=r"q must be one of 1, 2, inf .*got 'L3'"):
        operator_norm(A, 2, "L3")
    with pytest.raises(ValueError, match=r"p must be a number in \[1, inf\] \(or 'L1', 'L2', 'Linf'\), got 0.5"):
        pnorm(np.ones(3), 0.5)
    with pytest.raises(ValueError, match=r"p must be a number in \[1, inf\] .*got 'x'"):
        steepest_direction(np.ones(3), "x")
    with pytest.raises(ValueError, match=r"p must be one of 1, 2, inf .*got 1.5"):
        sphere_projection(np.ones(3), 1.5)
    with pytest.raises(ValueError, match=r"p must be one of 1, 2, inf .*got 0"):
        operator_norm_iteration(lambda v: v, lambda u: u, 0, 2, shape=(2, 2))
    with pytest.raises(ValueError, match=r"inner\[1\] must be one of 1, 2, inf .*got 5"):
        layer_norm_product([A, A, A], 2, 2, inner=[1, 5])


def test_bad_shapes_and_values():
    with pytest.raises(ValueError, match=r"A must have shape \(\.\.\., m, n\) with m, n >= 1, got shape \(3,\)"):
        operator_norm(np.ones(3), 2, 2)
    with pytest.raises(ValueError, match=r"A must have shape .*got shape \(2, 0\)"):
        operator_norm(np.ones((2, 0)), 2, 2)
    with pytest.raises(ValueError, match="A must not contain NaN, got 1 NaN entries"):
        operator_norm(np.array([[1.0, np.nan]]), 2, 2)
    with pytest.raises(ValueError, match="A must be finite, got NaN or inf entries"):
        operator_norm(np.array([[1.0, np.inf]]), 2, 2)
    with pytest.raises(ValueError, match="fallback must be one of \\('lower', 'upper'\\), got 'exact'"):
        operator_norm(np.ones((2, 2)), 2, 1, fallback="exact")
    with pytest.raises(ValueError, match="max_vertices must be an integer >= 1, got 0"):
        operator_norm(np.ones((2, 2)), 2, 1, max_vertices=0)
    with pytest.raises(ValueError, match=r"x must have shape \(\.\.\., n\) with n >= 1, got shape \(\)"):
        sphere_projection(np.float64(1.0), 2)


def test_bad_iteration_arguments():
    mv, rmv = _matvecs(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"shape must be a tuple \(\.\.\., m, n\) of positive integers, got \(3,\)"):
        power_method(mv, rmv, (3,))
    with pytest.raises(ValueError, match=r"shape must be a tuple .*got \(2, 0\)"):
        power_method(mv, rmv, (2, 0))
    with pytest.raises(ValueError, match=r"v0 must have shape \(3,\) to match shape \(2, 3\), got \(2,\)"):
        power_method(mv, rmv, (2, 3), v0=np.ones(2))
    with pytest.raises(ValueError, match="v0 must be a finite array \\(\\.\\.\\., n\\) whose vectors are nonzero"):
        power_method(mv, rmv, (2, 3), v0=np.zeros(3))
    with pytest.raises(ValueError, match="iters must be an integer >= 1, got 0"):
        power_method(mv, rmv, (2, 3), iters=0)
    with pytest.raises(ValueError, match="tol must be finite and >= 0, got -1"):
        power_method(mv, rmv, (2, 3), tol=-1)
    with pytest.raises(ValueError, match=r"alpha must be > 0 \(np.inf for eq. \(12\)\), got 0"):
        operator_norm_iteration(mv, rmv, 2, 2, shape=(2, 3), alpha=0)
    with pytest.raises(ValueError, match="seed must be an integer >= 0, got -1"):
        power_method(mv, rmv, (2, 3), seed=-1)
    with pytest.raises(ValueError, match="shape must be given when v0 is None, got shape=None"):
        operator_norm_iteration(mv, rmv, 2, 2)


def test_bad_weight_chains():
    with pytest.raises(ValueError, match="weights must contain at least one matrix, got an empty sequence"):
        layer_norm_product([], 2, 2)
    msg = r"weights\[1\] must have 4 columns to follow weights\[0\] of shape \(4, 3\), got shape \(2, 5\)"
    with pytest.raises(ValueError, match=msg):
        layer_norm_product([np.ones((4, 3)), np.ones((2, 5))], 2, 2)
    with pytest.raises(ValueError, match=r"weights\[0\] must be a 2-D array \(out, in\), got shape \(2, 4, 3\)"):
        layer_norm_product([np.ones((2, 4, 3))], 2, 2)
    with pytest.raises(ValueError, match=r"inner must be None, 'best' or a sequence of 1 exponents"):
        layer_norm_product([np.ones((4, 3)), np.ones((2, 4))], 2, 2, inner=[2, 2])
