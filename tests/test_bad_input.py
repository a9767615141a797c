"""Inputs that used to give silently wrong answers: each now raises a ValueError naming the
parameter and the offending value, or returns the right answer.

Found by an audit: samples off the manifold in W1, inf/NaN in the p-norms, complex input truncated
to its real part, NaN labels, AMLE on a graph with unreachable nodes, cross-entropy with scalar labels.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from lipconv._validation import check_points, check_values
from lipconv.discrepancy import wasserstein1
from lipconv.extension import (
    absolutely_minimizing_extension, dataset_lipschitz_constant, extend, kirszbraun, lipschitz_constant, mcshane,
    midpoint, whitney,
)
from lipconv.manifolds import Circle, FlatCube, Sphere, Torus
from lipconv.norms import dual_norm, pnorm, sphere_projection, steepest_direction
from lipconv.solvers import lipschitz_regression

MANIFOLDS = [
    FlatCube(1, 1, seed=0), FlatCube(2, 4, seed=1), Circle(2, seed=2), Circle(3, seed=2), Sphere(3, seed=3),
    Sphere(4, seed=3), Torus(4, seed=4), Torus(5, seed=4),
]


def _off_manifold(manifold, x, step):
    """x (on M) moved by ``step`` along a unit ambient vector normal to M, so at distance ``step`` from M."""
    Q = manifold.frame
    if manifold.d > Q.shape[1]:  # off the span of the model
        g = np.random.default_rng(0).standard_normal(manifold.d)
        g -= Q @ (Q.T @ g)
        return x + step * g / np.linalg.norm(g)
    if isinstance(manifold, FlatCube):  # d = m: off the end z_1 = 1 of the cube, along the first axis
        return manifold.embed(np.array([[1.0] + [0.0] * (manifold.m - 1)]))[0] + step * Q[:, 0]
    return x + step * (x - 0.5) / np.linalg.norm(x - 0.5)  # sphere in its own span: radially out


# --- 1. wasserstein1 on samples off the manifold ---------------------------------------------------


def test_wasserstein1_rejects_samples_off_the_segment():
    # Before: 0.5 (the samples were read through their clipped model coordinate z = 1); the true W1
    # between 5 points at x = 5 and U[0, 1] is 4.5.
    cube = FlatCube(1, 1)
    with pytest.raises(
        ValueError,
        match=r"samples must lie on the manifold FlatCube\(m=1, d=1, density='uniform'\) \(ambient distance "
              r"<= 5e-07 = 1e-06 \* scale\), got 5 of 5 points off it, the farthest \(row 0\) at distance 4$",
    ):
        wasserstein1(np.full((5, 1), 5.0), cube)


def test_wasserstein1_rejects_samples_off_the_circle_on_every_path():
    circle = Circle(2, seed=1)
    X = circle.sample(20, 0)
    X[3] = 0.5  # the centre: model coordinates (0, 0), at distance scale = 0.5 from the circle
    for kwargs in ({"metric": "geodesic"}, {"metric": "ambient", "N": 64}):
        with pytest.raises(ValueError, match=r"samples must lie on the manifold Circle.*got 1 of 20 points off it, "
                                             r"the farthest \(row 3\) at distance 0\.5$"):
            wasserstein1(X, circle, **kwargs)


@pytest.mark.parametrize("manifold", MANIFOLDS, ids=repr)
def test_distance_to_manifold_closed_form(manifold):
    x = manifold.sample(7, 0)
    np.testing.assert_allclose(manifold.distance_to_manifold(x), 0.0, rtol=0, atol=1e-14)
    off = _off_manifold(manifold, x[0], 1e-3)[None, :]
    np.testing.assert_allclose(manifold.distance_to_manifold(off), [1e-3], rtol=1e-9, atol=0)
    with pytest.raises(ValueError, match=r"pts must lie on the manifold .*got 1 of 1 points off it.*distance 0\.001$"):
        manifold.check_on_manifold(off, "pts")


@pytest.mark.parametrize("manifold", MANIFOLDS, ids=repr)
def test_check_on_manifold_accepts_samples_quadrature_and_float32(manifold):
    x = manifold.sample(50, 1)
    np.testing.assert_array_equal(manifold.check_on_manifold(x), x)
    manifold.check_on_manifold(x.astype(np.float32))
    manifold.check_on_manifold(manifold.quadrature(64)[0])


def test_check_on_manifold_names_the_argument_in_shape_errors():
    with pytest.raises(ValueError, match="samples must have d = 3 columns, got 2"):
        Sphere(3).check_on_manifold(np.zeros((2, 2)), "samples")


# --- 2. p-norms with inf and NaN entries -----------------------------------------------------------


@pytest.mark.parametrize("p", [1, 1.5, 2, 3, np.inf])
def test_pnorm_of_infinite_entry_is_inf(p):
    # Before: nan for 1 < p < inf (the scaling by max|v| computed inf / inf).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pnorm(np.array([np.inf, 1.0]), p) == np.inf
        assert dual_norm(np.array([1.0, -np.inf]), p) == np.inf
        V = np.array([[np.inf, 1e200], [3.0, 4.0], [0.0, 0.0]])
        expected = [np.inf, np.linalg.norm([3.0, 4.0], ord=p), 0.0]
        np.testing.assert_allclose(pnorm(V, p), expected, rtol=1e-14, atol=0)
        np.testing.assert_allclose(pnorm(V.T, p, axis=0), expected, rtol=1e-14, atol=0)


def test_pnorm_of_infinite_entry_is_inf_in_torch():
    torch = pytest.importorskip("torch")
    for p in (1, 2, 3, np.inf):
        assert float(pnorm(torch.tensor([np.inf, 1.0]), p)) == np.inf


@pytest.mark.parametrize("p", [1, 2, 3, np.inf])
def test_pnorm_rejects_nan(p):
    with pytest.raises(ValueError, match="v must not contain NaN, got 1 NaN entries"):
        pnorm(np.array([np.nan, 1.0]), p)
    with pytest.raises(ValueError, match="v must not contain NaN, got 2 NaN entries"):
        dual_norm([[np.nan, 1.0], [0.0, np.nan]], p)


def test_steepest_direction_and_sphere_projection_of_infinite_entries_are_the_limits():
    # Before: steepest_direction([1, inf], 2) = [0, 0] and sphere_projection([1, inf], 2) = [1, 0]
    # (NaN from inf / inf, then the zero-vector branches); p = 1 projection gave [nan, 0].
    z = np.array([np.inf, 5.0, -np.inf])
    np.testing.assert_allclose(steepest_direction(z, 3), 2 ** (-1 / 3) * np.array([1.0, 0.0, -1.0]), rtol=1e-14)
    np.testing.assert_array_equal(steepest_direction(np.array([1.0, np.inf]), 2), [0.0, 1.0])
    np.testing.assert_allclose(sphere_projection(z, 2), np.sqrt(0.5) * np.array([1.0, 0.0, -1.0]), rtol=1e-14)
    np.testing.assert_allclose(sphere_projection(z, 1), [0.5, 0.0, -0.5], rtol=1e-14)
    np.testing.assert_array_equal(sphere_projection(z, np.inf), [1.0, 1.0, -1.0])
    # Finite rows of a batch are untouched.
    Z = np.array([[np.inf, 1.0], [3.0, 4.0]])
    np.testing.assert_allclose(sphere_projection(Z, 2), [[1.0, 0.0], [0.6, 0.8]], rtol=1e-14)
    with pytest.raises(ValueError, match="z must not contain NaN, got 1 NaN entries"):
        steepest_direction(np.array([np.nan, 1.0]), 2)
    with pytest.raises(ValueError, match="x must not contain NaN, got 1 NaN entries"):
        sphere_projection(np.array([np.nan, 1.0]), 2)


def test_steepest_direction_and_sphere_projection_limits_in_torch():
    torch = pytest.importorskip("torch")
    z = np.array([np.inf, 5.0, -np.inf])
    for p in (1, 2):
        np.testing.assert_allclose(sphere_projection(torch.tensor(z), p).numpy(), sphere_projection(z, p),
                                   rtol=1e-14, atol=0)
    np.testing.assert_allclose(steepest_direction(torch.tensor(z), 3).numpy(), steepest_direction(z, 3),
                               rtol=1e-14, atol=0)


# --- 3. complex input ------------------------------------------------------------------------------


def test_norm_helpers_reject_complex_input():
    # Before: pnorm(np.array([3 + 4j, 0]), 2) = 3.0 (real part, with a ComplexWarning only).
    v = np.array([3 + 4j, 0])
    with pytest.raises(ValueError, match="v must be real, got complex128"):
        pnorm(v, 2)
    with pytest.raises(ValueError, match="v must be real, got complex128"):
        dual_norm(v, 2)
    with pytest.raises(ValueError, match="z must be real, got complex128"):
        steepest_direction(v, 2)
    with pytest.raises(ValueError, match="x must be real, got complex128"):
        sphere_projection(v, 2)


def test_norm_helpers_reject_complex_tensors():
    torch = pytest.importorskip("torch")
    v = torch.tensor([3 + 4j, 0])
    with pytest.raises(ValueError, match="v must be real, got torch.complex64"):
        pnorm(v, 2)
    with pytest.raises(ValueError, match="z must be real, got torch.complex64"):
        steepest_direction(v, 2)
    with pytest.raises(ValueError, match="x must be real, got torch.complex64"):
        sphere_projection(v, 1)


def test_validation_rejects_complex_dtype():
    with pytest.raises(ValueError, match="X must be real, got complex128"):
        check_points(np.ones((3, 2)) + 0j)
    with pytest.raises(ValueError, match="y must be real, got complex64"):
        check_values(np.ones(3, dtype=np.complex64), 3)


@pytest.mark.parametrize("which", ["X", "y"])
def test_lipschitz_regression_rejects_complex_input(which):
    # Before: the real part was fitted, e.g. values [0.2, 0.35, 0.5, 0.65, 0.8] for y = x + i x.
    x = np.linspace(0.0, 1.0, 5)
    X, y = (x + 1j, x) if which == "X" else (x, x + 1j * x)
    with pytest.raises(ValueError, match=f"{which} must be real, got complex128"):
        lipschitz_regression(X, y, lam=0.1)


X5 = np.linspace(0.0, 1.0, 5)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: mcshane(X5, X5 * (1 + 1j), [0.5], L=1.0), "u must be real, got complex128"),
        (lambda: whitney(X5, X5, np.array([0.5 + 1j]), L=1.0), "X_new must be real, got complex128"),
        (lambda: midpoint(X5 + 0j, X5, [0.5], L=1.0), "X must be real, got complex128"),
        (lambda: kirszbraun(X5, np.c_[X5, X5] * (1 + 1j), [[0.5]], L=2.0), "U must be real, got complex128"),
        (lambda: extend(X5, np.c_[X5] * 1j, [[0.5]], L=1.0), "U must be real, got complex128"),
        (lambda: lipschitz_constant(X5, X5 * 1j), "u must be real, got complex128"),
        (lambda: dataset_lipschitz_constant(X5, [0, 1, 1j, 1, 0]), "labels must be real, got complex128"),
        (lambda: absolutely_minimizing_extension(X5, [0], [1j]), "known_values must be real, got complex128"),
    ],
)
def test_extensions_reject_complex_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize("which", ["X", "y"])
def test_neural_regression_rejects_complex_input(which):
    pytest.importorskip("torch")
    from lipconv.neural import neural_lipschitz_regression

    X, y = (X5 + 1j, X5) if which == "X" else (X5, X5 * (1 + 1j))
    with pytest.raises(ValueError, match=f"{which} must be real, got complex128"):
        neural_lipschitz_regression(X, y, lam=0.1, epochs=1, device="cpu")


# --- 4. dataset_lipschitz_constant with NaN labels -------------------------------------------------


def test_dataset_lipschitz_constant_rejects_nan_labels():
    # Before: inf (a NaN label differs from every label, itself included).
    with pytest.raises(ValueError, match="labels must be finite, got 1 NaN or inf entries"):
        dataset_lipschitz_constant(X5, [0, 1, np.nan, 1, 0])
    onehot = np.eye(2)[[0, 1, 0, 1, 0]]
    onehot[2, 1] = np.nan
    with pytest.raises(ValueError, match="labels must be finite, got 1 NaN or inf entries"):
        dataset_lipschitz_constant(X5, onehot)


def test_dataset_lipschitz_constant_keeps_non_numeric_and_integer_labels():
    # min distance between different labels is 0.25 (adjacent points of the grid X5).
    assert dataset_lipschitz_constant(X5, ["a", "a", "b", "b", "b"]) == pytest.approx(4.0, rel=1e-14)
    big = 2**62
    assert dataset_lipschitz_constant(X5[:2], np.array([big, big + 1])) == pytest.approx(4.0, rel=1e-14)


# --- 5. AMLE on graphs where some unlabelled node cannot reach a labelled one ----------------------


def test_amle_rejects_graph_without_edges():
    # Before: converged = True, residual 0.0, n_edges 0, values [1, 1, 1, 1, 1] (the start value).
    with pytest.raises(
        ValueError,
        match=r"radius must make the epsilon graph connect every unlabelled node to a labelled node, got "
              r"radius = 0\.01: 4 of 4 unlabelled nodes have no path to a labelled node",
    ):
        absolutely_minimizing_extension(X5, [0], [1.0], graph="epsilon", radius=0.01)


def test_amle_rejects_knn_graph_with_unlabelled_component():
    X = np.concatenate([np.arange(5.0), 100.0 + np.arange(5.0)])[:, None]
    with pytest.raises(ValueError, match=r"k must make the knn graph connect .* got k = 2: 5 of 9 unlabelled nodes"):
        absolutely_minimizing_extension(X, [0], [1.0], k=2)
    # One label per component determines the extension: constant on each component.
    res = absolutely_minimizing_extension(X, [0, 5], [1.0, -1.0], k=2, tol=1e-10)
    assert res.converged
    np.testing.assert_allclose(res.values, np.repeat([1.0, -1.0], 5), rtol=0, atol=1e-8)


# --- 6. neural regression with the cross-entropy and labels off the simplex ------------------------


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([0.0, 1.0, 0.0, 1.0, 1.0]),
         r"y must have shape \(n, k\) with k >= 2 on the simplex for loss 'cross_entropy', got k = 1"),
        (np.c_[[0.0, 1.0, 0.0, 1.0, 1.0]], r"y must have shape \(n, k\) with k >= 2 .*got k = 1"),
        (np.eye(2)[[0, 1, 0, 1, 1]] * 2.0,
         r"y must have rows on the probability simplex \(>= 0, summing to 1\) for loss 'cross_entropy', "
         r"got entries >= 0 and row sums in \[2, 2\]"),
    ],
)
def test_neural_cross_entropy_needs_simplex_labels(y, match):
    # Before: scalar labels trained a one-output softmax (identically 1) and returned loss_value
    # -0.0959 (or NaN), with no error.
    pytest.importorskip("torch")
    from lipconv.neural import neural_lipschitz_regression

    with pytest.raises(ValueError, match=match):
        neural_lipschitz_regression(X5, y, lam=0.1, loss="cross_entropy", epochs=1, device="cpu")


# --- 7. issue 27: silent wrong answers and crashes at the edges -------------------------------------


def test_extension_error_bound_is_exact_with_a_large_offset():
    # Before: the dense fallback computed |v - U| through |v|^2 - 2 v.U + |U|^2, which at values near
    # 1e8 lost every digit of the distance: the bound fell 0.33 below the exact one (k_near = 1).
    from lipconv.rates._metrics import extension_error_bound

    rng = np.random.default_rng(0)
    X, x = rng.random((300, 2)), rng.random((50, 2))
    U, v = X + 1e8, np.c_[x[:, 0] + 0.3, x[:, 1]] + 1e8
    exact = (np.linalg.norm((U - 1e8)[None] - (v - 1e8)[:, None], axis=2)
             + 0.5 * np.linalg.norm(X[None] - x[:, None], axis=2)).min(axis=1)
    for k_near in (1, 32):
        # Differences of numbers near 1e8 carry their ulp, 1.5e-8: the bound is exact to that.
        np.testing.assert_allclose(extension_error_bound(X, U, 0.5, x, v, k_near=k_near), exact, rtol=0, atol=1e-7)


@pytest.mark.parametrize("k_near", [0, -3, 2.5, "4"])
def test_extension_error_bound_checks_k_near(k_near):
    from lipconv.rates._metrics import extension_error_bound

    X = np.random.default_rng(0).random((10, 2))
    with pytest.raises(ValueError, match="k_near must be an integer >= 1, got "):
        extension_error_bound(X, X, 1.0, X, X, k_near=k_near)


def test_w1_bracket_of_samples_all_at_one_point_contains_the_exact_value():
    # W1 between n copies of one point x0 and rho is E|Y - x0|, Y ~ rho: 4/3 times the radius on the
    # sphere (Archimedes: the chord is uniform in the height), an integral on the square. Before, the
    # upper side's margin was the spread of replicates of 4,096 points beside a plan on 4,200 (n = 200):
    # hi fell below the exact value in seeds 0, 2 and 3 (lo > hi in 0 and 2).
    from scipy import integrate

    sphere = Sphere(3)
    exact = 4.0 / 3.0 * sphere.scale
    for seed in range(5):
        res = wasserstein1(np.repeat(sphere.sample(1, seed), 200, axis=0), sphere, seed=seed)
        assert res.lo <= exact <= res.hi, (seed, res.lo, res.hi)
    square = FlatCube(2, 2)
    x0 = square.sample(1, 0)[0]
    value = integrate.dblquad(lambda b, a: np.linalg.norm(square.embed(np.array([[a, b]]))[0] - x0), -1, 1, -1, 1,
                              epsabs=1e-11, epsrel=1e-11)[0] / 4.0
    res = wasserstein1(np.repeat(x0[None], 200, axis=0), square, seed=0)
    assert res.lo <= value <= res.hi


@pytest.mark.parametrize(
    "label, match",
    [
        (lambda t: t + 1j, r"label must be real, got complex128 \(the values it returned\)"),
        (lambda t: np.where(t > 0, np.nan, t), r"label must be finite, got \d+ NaN or inf entries"),
        (lambda t: np.full(t.shape, "a"), r"label must be an array of real numbers, got dtype <U1"),
        (lambda t: t[:5], r"label must return an array of shape \(q,\) or \(q, k\) for q = \d+ points, got shape \(5,\)"),
        (lambda t: np.ones((t.size, 2, 2)), r"label must return an array .* got shape \(\d+, 2, 2\)"),
        (3, r"label must be a callable of t \(a lipconv.manifolds.Label\), got int 3"),
    ],
)
def test_lifted_reference_refuses_bad_labels_naming_label(label, match):
    # Before: a complex label lost its imaginary part (a ComplexWarning only) and a wrong shape failed
    # in a reshape (IndexError) or was blamed on the solver's y.
    from lipconv.continuum import lifted_reference

    with pytest.raises(ValueError, match=match):
        lifted_reference(label, lam=0.02, N=16)


def test_lifted_reference_refuses_labels_off_the_simplex_for_the_cross_entropy():
    from lipconv.continuum import lifted_reference

    with pytest.raises(ValueError, match="label must have rows on the probability simplex"):
        lifted_reference(lambda t: np.c_[t, 1.0 - t], lam=0.02, N=16, loss="cross_entropy")


def test_certify_refuses_a_malformed_dual_naming_dual():
    # Before: numpy's "len() of unsized object", "too many values to unpack" or an internal 'v'.
    from lipconv.solvers import certify

    res = lipschitz_regression(X5, X5**2, lam=0.1)
    i, j, M = res.dual
    cases = [
        (np.ones(3), r"dual must be a LipschitzResult or a tuple \(i, j, multipliers\), got ndarray"),
        ((i, j), r"dual must be .* got tuple of length 2"),
        ((i * 1.0, j, M), r"dual's i must be a 1-D array of integer indices, got float64"),
        ((i, j + 5, M), r"dual's j must hold indices in \[0, 5\)"),
        ((i, j, np.full_like(M, np.nan)), r"dual's multipliers must be finite"),
        ((i[:-1], j, M), r"dual must hold i and j of one length P and multipliers of shape \(P, k = 1\)"),
    ]
    for dual, match in cases:
        with pytest.raises(ValueError, match=match):
            certify(X5, X5**2, res.values, lam=0.1, dual=dual)
    # The well-formed dual is accepted and certifies the solve.
    assert certify(X5, X5**2, res.values, lam=0.1, dual=(i, j, M)).certified


@pytest.mark.parametrize(
    "y, match",
    [
        (np.ones((5, 0)), r"y must have at least one column \(k >= 1\), got shape \(5, 0\)"),
        (np.array(list("abcde")), "y must be an array of real numbers, got dtype <U1"),
        (np.array([object()] * 5, dtype=object), "y must be an array of real numbers, got objects of type object"),
    ],
)
def test_lipschitz_regression_refuses_labels_of_the_wrong_kind(y, match):
    # Before: "zero-size array to reduction operation maximum" and "could not convert string to float".
    with pytest.raises(ValueError, match=match):
        lipschitz_regression(X5, y, lam=0.1)


@pytest.mark.parametrize("p", [1, 1.5, 2, np.inf])
def test_pnorm_of_an_empty_vector_is_zero(p):
    # Before: "zero-size array to reduction operation maximum which has no identity". R^0 = {0}.
    torch = pytest.importorskip("torch")
    assert pnorm([], p) == 0.0 and dual_norm(np.zeros(0), p) == 0.0
    np.testing.assert_array_equal(pnorm(np.zeros((3, 0)), p), np.zeros(3))
    assert torch.equal(pnorm(torch.zeros(2, 0), p), torch.zeros(2))
    assert steepest_direction(np.zeros(0), p).shape == (0,)
    with pytest.raises(ValueError, match=r"axis must be an axis of v, an integer in \[-1, 1\), got 3"):
        pnorm([1.0, 2.0], p, axis=3)


def test_extensions_without_L_refuse_duplicate_points_with_other_values():
    # Before: "L must be finite and >= 0, got inf", an L the caller never gave.
    X = np.array([[0.0], [0.0], [1.0]])
    for f in (mcshane, whitney, midpoint):
        with pytest.raises(ValueError, match="u must take one value at each point for L=None"):
            f(X, [0.0, 1.0, 2.0], [[0.5]])
    with pytest.raises(ValueError, match="U must take one value at each point for L=None"):
        kirszbraun(X, np.c_[[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]], [[0.5]])
    # Equal values at the duplicates are one function: its L is finite.
    np.testing.assert_allclose(mcshane(X, [0.0, 0.0, 2.0], [[0.5]]), [1.0], rtol=0, atol=1e-15)
