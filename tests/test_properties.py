"""Property-based checks of the seed papers' identities (hypothesis).

Every reference here is computed independently of the code under test (numpy SVD, enumeration in the
test itself, POT, scipy, cvxpy), and every tolerance says where it comes from. Example counts follow
the profile of tests/conftest.py (LIPCONV_HYPOTHESIS_PROFILE=ci|thorough); the few tests that call a
convex solver scale it down.
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.spatial.distance import cdist, pdist
from scipy.special import gamma

from lipconv.norms import (
    dual_exponent, operator_norm, operator_norm_iteration, pnorm, power_method, sphere_projection,
    steepest_direction,
)

NORMS = (1.0, 2.0, np.inf)
_seeds = st.integers(min_value=0, max_value=2**32 - 1)
_norms = st.sampled_from(NORMS)
_entries = st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False, allow_subnormal=False)
_matrices = hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=_entries)


def _solver_examples(divisor: int) -> settings:
    """Fewer examples for tests that call a convex solver, relative to the loaded profile."""
    return settings(max_examples=max(5, settings().max_examples // divisor))


# ---------------------------------------------------------------- [RKH] Table 1

def _reference_norm(A: np.ndarray, p: float, q: float) -> float:
    """||A||_{p,q} from the definition, independently of lipconv.

    A convex function attains its max over a polytope at a vertex: enumerate the 2n vertices +-e_j of
    the l1 ball (p = 1) or all 2^n sign vectors of the cube (p = inf). The l2 ball has no vertices;
    for p = 2 use the duality ||A||_{2,q} = ||A^T||_{q*,2} (q* in {1, inf}: enumeration again) and
    numpy's SVD for q = 2.
    """
    top = np.abs(A).max()
    if top == 0:
        return 0.0
    if top != 1.0:
        # numpy's norms square tiny entries to 0 (A = [[1e-286]]); the norm is 1-homogeneous.
        return top * _reference_norm(A / top, p, q)
    m, n = A.shape
    if p == 1.0:
        return max(np.linalg.norm(s * A[:, j], q) for j in range(n) for s in (-1.0, 1.0))
    if p == np.inf:
        return max(np.linalg.norm(A @ np.array(s), q) for s in itertools.product((-1.0, 1.0), repeat=n))
    if q == 2.0:
        return float(np.linalg.svd(A, compute_uv=False)[0])
    return _reference_norm(A.T, dual_exponent(q), 2.0)


@given(A=_matrices)
def test_table1_entries_equal_brute_force(A):
    """Property: every entry of [RKH] Table 1 equals the definition ||A||_{p,q} = max_{||v||_p<=1} ||Av||_q.

    The closed forms (max column norm, max singular value, max row norm, and those derived) and the
    brute force of the NP-hard entries against an enumeration written here; the (2, 2) entry against
    numpy's largest singular value. Tolerance: the two sides sum the same O(mn) terms in a different
    order, so rtol 1e-12 relative to the scale max|a_ij| * mn.
    """
    scale = np.abs(A).max() * A.size
    for p in NORMS:
        for q in NORMS:
            res = operator_norm(A, p, q)
            assert res.exact and res.method in ("closed-form", "brute-force")
            np.testing.assert_allclose(res.value, _reference_norm(A, p, q), rtol=1e-12, atol=1e-12 * scale)
    top = max(np.abs(A).max(), np.finfo(float).tiny)  # keeps numpy's SVD away from underflow
    np.testing.assert_allclose(operator_norm(A, 2, 2).value, top * np.linalg.norm(A / top, 2),
                               rtol=1e-12, atol=1e-12 * scale)


@given(A=_matrices, p=_norms, q=_norms, seed=_seeds,
       alpha=st.one_of(st.just(np.inf), st.floats(min_value=0.01, max_value=100.0)))
def test_iteration_never_exceeds_the_norm(A, p, q, seed, alpha):
    """Property: the (p, q) iteration ([RKH] eqs. (11), (12)) returns a unit vector v, so its value
    ||Av||_q never exceeds ||A||_{p,q}; the closed-form upper bounds of the NP-hard entries never fall
    below it. Tolerance: rounding of O(mn) sums, rtol 1e-12 of max|a_ij| * mn.
    """
    scale = np.abs(A).max() * A.size
    exact = _reference_norm(A, p, q)
    res = operator_norm_iteration(lambda v: v @ A.T, lambda u: u @ A, p, q, shape=A.shape, alpha=alpha,
                                  iters=30, seed=seed)
    np.testing.assert_allclose(pnorm(res.v, p), 1.0, rtol=1e-12)
    assert res.value <= exact + 1e-12 * scale
    upper = operator_norm(A, p, q, max_vertices=1, fallback="upper").value
    assert upper >= exact - 1e-12 * scale


@given(seed=_seeds, p=_norms, q=_norms, sizes=st.lists(st.integers(1, 6), min_size=2, max_size=5),
       inner=st.sampled_from([None, "best"]))
def test_layer_norm_product_bounds_every_jacobian(seed, p, q, sizes, inner):
    """Property ([FOA] eq. (6)): for a ReLU network f = W_N relu(... relu(W_1 x)), every Jacobian
    J_f(x) = W_N D_{N-1} ... D_1 W_1 (D_k = diag(relu'(z_k)), entries in {0, 1}) has
    ||J_f(x)||_{p,q} <= prod_k ||W_k||_{p_{k-1}, p_k}; checked at 5 random inputs with the exact
    (p, q) norm of the Jacobian. Tolerance: rounding of the products, rtol 1e-12.
    """
    from lipconv.norms import layer_norm_product

    rng = np.random.default_rng(seed)
    Ws = [rng.standard_normal((sizes[k + 1], sizes[k])) for k in range(len(sizes) - 1)]
    bound = layer_norm_product(Ws, p, q, inner=inner)
    assert bound.exact
    for x in rng.standard_normal((5, sizes[0])):
        J, z = np.eye(sizes[0]), x
        for k, W in enumerate(Ws):
            z = W @ z
            J = W @ J
            if k < len(Ws) - 1:
                J = (z > 0)[:, None] * J
                z = np.maximum(z, 0.0)
        assert _reference_norm(J, p, q) <= bound.value * (1 + 1e-12)


# ---------------------------------------------------------------- Hölder / dual norm

_exponents = st.one_of(_norms, st.floats(min_value=1.05, max_value=20.0))
_vectors = hnp.arrays(np.float64, st.integers(1, 8), elements=_entries)


@given(z=_vectors, p=_exponents, seed=_seeds)
def test_steepest_direction_attains_the_dual_norm(z, p, seed):
    """Property: v* of [RKH] eq. (16) (Lemma 1; [FOA] Lemma B.1, Hölder) has ||v*||_p = 1 and
    v*.z = ||z||_{p*}, and no unit vector does better (random search over 600 unit vectors: Gaussian,
    sparse and sign directions). The zero vector maps to zero (every v attains 0).
    Tolerance: rtol 1e-10 (powers |z|^(p*-1) with p* up to 21 lose a few digits).
    """
    v = steepest_direction(z, p)
    dual = pnorm(z, dual_exponent(p))
    if not np.any(z):
        np.testing.assert_array_equal(v, np.zeros_like(z))
        return
    np.testing.assert_allclose(pnorm(v, p), 1.0, rtol=1e-10)
    np.testing.assert_allclose(v @ z, dual, rtol=1e-10)
    rng = np.random.default_rng(seed)
    W = np.vstack([
        rng.standard_normal((200, z.size)),
        rng.standard_normal((200, z.size)) * (rng.uniform(size=(200, z.size)) < 0.3),
        rng.choice([-1.0, 1.0], size=(200, z.size)),
    ])
    W = W[np.any(W != 0, axis=1)]
    W = W / pnorm(W, p)[:, None]
    assert np.all(W @ z <= dual * (1 + 1e-10))


# ---------------------------------------------------------------- [RKH] Lemma 2

@st.composite
def _generic_directions(draw):
    """Vectors with entries bounded away from 0 and magnitudes separated by >= 0.1 (no ties), so the
    alpha -> inf limit of the projection is unique for p = 1 and p = inf."""
    n = draw(st.integers(1, 8))
    gaps = draw(st.lists(st.floats(0.1, 2.0), min_size=n, max_size=n))
    mags = 0.5 + np.cumsum(gaps)
    order = draw(st.permutations(range(n)))
    signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=n, max_size=n))
    return np.array(signs) * mags[list(order)]


@given(vt=_generic_directions(), w=hnp.arrays(np.float64, 8, elements=_entries), p=_norms)
def test_projection_limit_is_the_steepest_direction(vt, w, p):
    """Property ([RKH] Lemma 2): for v on the unit p-sphere, Pi_{||.||_p=1}(v + alpha vt) -> v*(vt)
    of eq. (16) as alpha -> inf, i.e. the update of eq. (11) becomes that of eq. (12).

    At alpha = 1e8: for p = inf and p = 1 the limit is reached exactly once alpha * (min |vt_i|,
    resp. the gap of the two largest |vt_i|) exceeds 2, so only the rounding of alpha-sized numbers
    remains (~ alpha * eps = 2e-8); for p = 2 the error is <= 2 ||v||_2 / (alpha ||vt||_2) < 1e-7.
    Hence atol 1e-6.
    """
    v = sphere_projection(w[: vt.size], p)
    alpha = 1e8
    np.testing.assert_allclose(sphere_projection(v + alpha * vt, p), steepest_direction(vt, p), rtol=0, atol=1e-6)


@given(seed=_seeds, p=_norms, q=_norms, m=st.integers(1, 6), n=st.integers(1, 6))
def test_iteration_alpha_limit_reproduces_eq12(seed, p, q, m, n):
    """Property ([RKH] Lemma 2): running eq. (11) with a huge alpha gives the iterates of eq. (12).

    Gaussian matrices (a.s. no ties in argmax |vt| or |ut|), 4 passes from the same start; alpha = 1e9
    leaves a per-step discrepancy ~ 1e-8 (see the projection test), so rtol 1e-5 on the value.
    """
    rng = np.random.default_rng(seed)
    A = rng.standard_normal((m, n))
    v0 = rng.standard_normal(n)
    kw = dict(v0=v0, iters=4, tol=0.0)
    big = operator_norm_iteration(lambda v: v @ A.T, lambda u: u @ A, p, q, alpha=1e9, **kw)
    lim = operator_norm_iteration(lambda v: v @ A.T, lambda u: u @ A, p, q, alpha=np.inf, **kw)
    np.testing.assert_allclose(big.value, lim.value, rtol=1e-5)
    np.testing.assert_allclose(big.v, lim.v, rtol=0, atol=1e-5)


# ---------------------------------------------------------------- power method ([RKH] eqs. (4), (6))

def _orthonormal(rng, k):
    Q, R = np.linalg.qr(rng.standard_normal((k, k)))
    return Q * np.sign(np.diag(R))


@given(seed=_seeds, m=st.integers(2, 8), n=st.integers(2, 8), gap=st.floats(0.2, 2.0),
       rest=st.lists(st.floats(0.0, 1.0), min_size=7, max_size=7))
def test_power_method_converges_to_sigma1(seed, m, n, gap, rest):
    """Property: with a spectral gap sigma_1 = (1 + gap) > 1 >= sigma_2, the power method ([RKH],
    eqs. (4), (6)) converges to sigma_1 and the top right singular vector.

    A = U diag(s) V^T with Haar U, V. The angle decays like (1/(1+gap))^(2k) <= 0.83^(2k); 400 passes
    put it below 1e-30, so the only error left is rounding: rtol 1e-10 on sigma, 1e-8 on |<v, v_1>|.
    """
    rng = np.random.default_rng(seed)
    k = min(m, n)
    s = np.concatenate([[1.0 + gap], np.array(rest[: k - 1])])
    U, V = _orthonormal(rng, m)[:, :k], _orthonormal(rng, n)[:, :k]
    A = (U * s) @ V.T
    res = power_method(lambda v: A @ v, lambda u: A.T @ u, A.shape, iters=400, tol=1e-15, seed=seed)
    np.testing.assert_allclose(res.sigma, 1.0 + gap, rtol=1e-10)
    np.testing.assert_allclose(abs(res.v @ V[:, 0]), 1.0, rtol=0, atol=1e-8)
    np.testing.assert_allclose(abs(res.u @ U[:, 0]), 1.0, rtol=0, atol=1e-8)


@given(seed=_seeds, n=st.integers(3, 8), ratio=st.floats(0.3, 0.9),
       tail=st.lists(st.floats(0.0, 0.5), min_size=6, max_size=6))
def test_power_method_linear_rate(seed, n, ratio, tail):
    """Property: the classical linear rate. On a constructed spectrum sigma_1 = 1, sigma_2 = r,
    sigma_i <= r / 2 (i >= 3), tan angle(v_k, v_1) falls by exactly r^2 = (sigma_2/sigma_1)^2 per
    forward-backward pass of eqs. (4)/(6), i.e. sigma_2/sigma_1 per application of A or A^T.

    v_0 = V 1 (equal components), so tan angle(v_k, v_1) = r^(2k) sqrt(1 + eps_k) with
    eps_k <= (n - 2) 2^(-4k): from k = 4 on the measured per-pass ratio is r^2 within a relative
    (n-2) 2^(-16) < 1e-4; rtol 1e-3.
    """
    rng = np.random.default_rng(seed)
    s = np.concatenate([[1.0, ratio], ratio * np.array(tail[: n - 2])])
    U, V = _orthonormal(rng, n), _orthonormal(rng, n)
    A = (U * s) @ V.T
    v0 = V @ np.ones(n)

    def tan_angle(k):
        v = power_method(lambda x: A @ x, lambda u: A.T @ u, A.shape, iters=k, tol=0.0, v0=v0).v
        c = V.T @ v
        return np.linalg.norm(c[1:]) / abs(c[0])

    t = np.array([tan_angle(k) for k in range(4, 9)])
    np.testing.assert_allclose(t[1:] / t[:-1], ratio**2, rtol=1e-3)


# ---------------------------------------------------------------- [FCAO] Theorem A.1 on the flat cube
#
# The norms of u are taken with lipconv (FlatCube.lipschitz_sup for the sup, FlatCube.grid_quadrature
# for the L2 norm, lipconv.extension for the McShane / Whitney test functions), each checked against
# the dense cell-centre grid of the quadrature, so a wrong bracket, rule or extension fails here.

def _ball_volume(m: int) -> float:
    return math.pi ** (m / 2) / gamma(m / 2 + 1)


def _a1_constants(m: int, r: float, *, cube: bool) -> tuple[float, float]:
    """Constants of (A.1) and (A.2) of [FCAO] Theorem A.1.

    The proof bounds ||u||_2^2 below by the integral of (K - L|x - x_0|)_+^2 over the part of
    B(x_0, r) inside the domain, which it takes to be at least half the ball (Jacobian >= 1/2).
    On the cube [-1,1]^m with r <= 1, only a 2^-m fraction is guaranteed (x_0 at a corner), which
    multiplies both constants by 2^(m-1): the same for m = 1, twice the stated one for m = 2.
    """
    a = _ball_volume(m)
    c1 = (m + 2) * (m + 1) / a
    c2 = 2 ** (m + 1) * (m + 1) / (a * r**m)
    factor = 2 ** (m - 1) if cube else 1
    return factor * c1, factor * c2


_CELLS = {1: 4000, 2: 200}


def _cube_norms(u, L: float, m: int, cells: int | None = None):
    """(K_lo, K_hi, I_hi) for an L-Lipschitz u on [-1,1]^m (Euclidean norm, Lebesgue measure).

    [K_lo, K_hi] is lipconv's certified bracket of ||u||_inf (FlatCube(m, m).lipschitz_sup of
    u(intrinsic(x)), which is (L / scale)-Lipschitz in the ambient distance); I_hi bounds ||u||_2^2
    from above with the tensor midpoint rule (FlatCube.grid_quadrature, weights 1 / cells^m, so the
    Lebesgue integral is 2^m times the weighted sum): every point lies within delta = L h sqrt(m) / 2
    in value of its cell's centre (h = 2 / cells), so ||u||_2^2 <= 2^m sum_c w_c (|u_c| + delta)^2.
    The bracket must contain the largest |u| on the grid, within delta.
    """
    from lipconv.manifolds import FlatCube

    M = FlatCube(m, m)
    cells = cells or _CELLS[m]

    def f(x):
        return u(M.intrinsic(x))

    budget = 100_000
    K_lo, K_hi, evals = M.lipschitz_sup(f, L / M.scale, rtol=0.01, N0=1024, max_evals=budget)
    nodes, w = M.grid_quadrature((cells,) * m)
    vals = np.abs(f(nodes))
    delta = L * (2.0 / cells) * math.sqrt(m) / 2
    np.testing.assert_allclose(w, 1.0 / cells**m, rtol=1e-12)
    assert vals.max() <= K_hi * (1 + 1e-12) and K_lo <= vals.max() + delta * (1 + 1e-9)
    assert K_lo <= K_hi
    # The bracket reaches rtol only within the budget: it stops early when the next split (2^m
    # evaluations a cell) does not fit, e.g. along a ridge of sin(5 x_1) where a whole line attains
    # the maximum. Either way [K_lo, K_hi] is certified, which is all the check below uses.
    if evals <= budget - 2**m:
        assert K_hi <= (1.01 + 1e-9) * K_lo + 1e-12
    return K_lo, K_hi, 2.0**m * float(w @ (vals + delta) ** 2)


def _interpolation_check(K_lo: float, K_hi: float, I_hi: float, L: float, m: int, r: float, *, cube: bool = True):
    """Return (lhs, rhs) of the case of Theorem A.1 that applies, from a bracket of K = ||u||_inf and
    an upper bound of I = ||u||_2^2. The theorem's inequality for the true (K, I) implies the
    returned one (lhs <= rhs)."""
    c1, c2 = _a1_constants(m, r, cube=cube)
    b1 = (c1 * L**m * I_hi) ** (1.0 / (m + 2))  # (A.1) as a bound on K
    b2 = math.sqrt(c2 * I_hi)  # (A.2) as a bound on K
    if K_hi <= L * r:
        return K_lo, b1
    if K_lo >= L * r:
        return K_lo, b2
    return K_lo, max(b1, b2)


_unit = st.floats(-1.0, 1.0)


@st.composite
def _lipschitz_functions(draw, m):
    """(u on points (N, m) -> (N,), a Lipschitz constant L of u): tents, sums of sines, and the
    McShane / Whitney extensions (lipconv.extension) of a few values at a few points."""
    from lipconv.extension import mcshane, whitney

    kind = draw(st.sampled_from(["tent", "sines", "mcshane", "whitney"]))
    if kind == "tent":
        c = np.array(draw(st.lists(_unit, min_size=m, max_size=m)))
        K, L = draw(st.floats(0.05, 3.0)), draw(st.floats(0.1, 10.0))
        sgn = draw(st.sampled_from([-1.0, 1.0]))
        return (lambda x: sgn * np.maximum(K - L * np.linalg.norm(x - c, axis=1), 0.0)), L
    if kind == "sines":
        # Amplitudes on a grid of 1e-3: a float amplitude drawn as small as 5e-324 (with w = 0, so L = 0)
        # made ||u||_2^2 underflow to 0 in the check itself.
        a = np.array(draw(st.lists(st.integers(-2000, 2000).map(lambda k: k / 1000.0), min_size=3, max_size=3)))
        w = np.array(draw(st.lists(st.floats(-5.0, 5.0), min_size=3 * m, max_size=3 * m))).reshape(3, m)
        phi = np.array(draw(st.lists(st.floats(0.0, 2 * np.pi), min_size=3, max_size=3)))
        L = float(np.sum(np.abs(a) * np.linalg.norm(w, axis=1)))
        return (lambda x: np.sin(x @ w.T + phi) @ a), L
    J = draw(st.integers(1, 4))
    C = np.array(draw(st.lists(_unit, min_size=J * m, max_size=J * m))).reshape(J, m)
    y = np.array(draw(st.lists(st.floats(-2.0, 2.0), min_size=J, max_size=J)))
    L = draw(st.floats(0.1, 10.0))
    # min_j (y_j + L|x - c_j|) and max_j (y_j - L|x - c_j|) are L-Lipschitz whatever the y_j.
    envelope = mcshane if kind == "mcshane" else whitney
    return (lambda x: envelope(C, y, x, L=L)), L


@pytest.mark.parametrize("m", [1, 2])
@given(data=st.data())
def test_interpolation_inequality_on_the_cube(m, data):
    """Property ([FCAO] Theorem A.1, (A.1)/(A.2)): ||u||_inf^(m+2) <= C1 L^m ||u||_2^2 when
    ||u||_inf <= L r, and ||u||_inf^2 <= C2 ||u||_2^2 otherwise, on the flat cube [-1,1]^m (r = 1,
    L^2 w.r.t. volume; the uniform density 2^-m only rescales ||u||_2^2), with C1, C2 the explicit
    constants of the proof adapted to the cube's corners (see _a1_constants; for m = 1 they are the
    stated ones). ||u||_inf is lipconv's certified sup bracket and ||u||_2^2 its midpoint rule with
    rigorous margins (_cube_norms), so no tolerance.
    """
    u, L = data.draw(_lipschitz_functions(m))
    K_lo, K_hi, I_hi = _cube_norms(u, L, m)
    lhs, rhs = _interpolation_check(K_lo, K_hi, I_hi, L, m, r=1.0)
    assert lhs <= rhs


def _corner_tent(m, K, L):
    corner = -np.ones(m)
    return lambda x: np.maximum(K - L * np.linalg.norm(x - corner, axis=1), 0.0)


def test_interpolation_inequality_is_sharp_at_the_corner():
    """The check above can fail: a tent at a corner attains (A.1) with equality (m = 1 with the stated
    constant, m = 2 with the cube constant), so lhs / rhs is within the grid margin of 1. The sup
    bracket must find the corner (it is on lipschitz_sup's first grid), and the midpoint rule must
    give the tent's closed-form integral, 2^(1-m) alpha(m) 2 K^(m+2) / ((m+2)(m+1) L^m) over the
    2^-m of the ball inside the cube, within the margin."""
    K, L = 0.9, 1.0
    for m, cells in ((1, 4000), (2, 400)):
        K_lo, K_hi, I_hi = _cube_norms(_corner_tent(m, K, L), L, m, cells)
        assert K_lo == pytest.approx(K, rel=1e-12) and K_hi <= 1.01 * K
        exact = 2.0 ** -m * 2 * _ball_volume(m) * K ** (m + 2) / ((m + 2) * (m + 1) * L**m)
        assert exact <= I_hi <= exact * (1 + 8 * m * L * (2.0 / cells) / K)
        lhs, rhs = _interpolation_check(K_lo, K_hi, I_hi, L, m, r=1.0)
        assert 0.98 <= lhs / rhs <= 1.0


def test_documented_finding_theorem_a1_stated_constant_fails_at_the_corner_of_the_square():
    """Documented finding about [FCAO] (not a property of lipconv; DESIGN.md, "Theorem A.1 on the
    cube"): Theorem A.1's stated (A.1) constant needs a domain without boundary. On [-1,1]^2 the
    corner tent (K - |x - x_0|)_+ has ||u||_2^2 = pi K^4 / 24, while (A.1) claims
    K^4 <= (12 / pi) ||u||_2^2 = K^4 / 2. With lipconv's certified sup and the rigorous midpoint
    margins the violation is certified, and the integral matches its closed form."""
    K = 0.9
    K_lo, K_hi, I_hi = _cube_norms(_corner_tent(2, K, 1.0), 1.0, 2, 400)
    assert math.pi * K**4 / 24 <= I_hi <= math.pi * K**4 / 24 * 1.05
    lhs, rhs = _interpolation_check(K_lo, K_hi, I_hi, 1.0, 2, r=1.0, cube=False)
    assert lhs > 1.15 * rhs  # (2)^(1/4) = 1.19 up to the grid margin


# ---------------------------------------------------------------- Kantorovich-Rubinstein duality

@_solver_examples(2)
@given(seed=_seeds, n=st.integers(2, 9), d=st.integers(1, 2), p=_norms)
def test_kantorovich_rubinstein_duality(seed, n, d, p):
    """Property (Kantorovich-Rubinstein; [FCAO] Lemma 4.10 reads the discrepancy as W1): W1(a, b)
    between two discrete measures on the same n points equals max sum_i w_i (a_i - b_i) over
    1-Lipschitz w. The dual LP (lipconv.solvers.kantorovich_dual, CLARABEL at tol 1e-9) against POT's
    network simplex ot.emd2 (exact up to rounding) and, in 1-D, scipy's CDF formula. The LP data are
    O(1), so its optimal value is accurate to ~1e-8; atol 1e-7. The returned w must be 1-Lipschitz
    (feasibility tolerance 1e-9, atol 1e-7) and attain the value.
    """
    import ot
    from scipy.stats import wasserstein_distance

    from lipconv.solvers import kantorovich_dual

    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, d))
    a = rng.uniform(0.05, 1.0, n)
    b = rng.uniform(0.05, 1.0, n)
    a, b = a / a.sum(), b / b.sum()
    metric = {1.0: "cityblock", 2.0: "euclidean", np.inf: "chebyshev"}[p]
    M = cdist(X, X, metric=metric)
    value, w = kantorovich_dual(X, a - b, p=p)
    emd = ot.emd2(a, b, M)
    np.testing.assert_allclose(value, emd, rtol=0, atol=1e-7)
    np.testing.assert_allclose(w @ (a - b), value, rtol=0, atol=1e-7)
    assert np.all(np.abs(w[:, None] - w[None, :]) <= M + 1e-7)
    if d == 1:
        np.testing.assert_allclose(value, wasserstein_distance(X[:, 0], X[:, 0], a, b), rtol=0, atol=1e-7)


# ---------------------------------------------------------------- [FCAO] Lemma 4.6

@_solver_examples(5)
@given(seed=_seeds, n=st.integers(3, 10), d=st.integers(1, 2), lam=st.floats(0.01, 1.0),
       other=st.sampled_from(["OSQP", "SCS"]))
def test_minimizer_unique_on_the_data(seed, n, d, lam, other):
    """Property ([FCAO] Lemma 4.6, discrete form): with the strictly convex squared loss the
    minimizer of eq. (2.7) is unique on the data, so two different solvers agree on the values.

    Quantitative form of the lemma's midpoint argument: for feasible (u, L), (u', L') with objectives
    F* + e, F* + e', the midpoint is feasible and, the loss being sum_i w_i (u_i - y_i)^2,
    F(mid) = (F + F')/2 - (1/4) sum_i w_i (u_i - u'_i)^2 >= F*, so sum_i w_i (u_i - u'_i)^2 <= 2 (e + e').
    Each solution is made exactly feasible by replacing L with the Lipschitz constant of its values;
    F* >= F_CLARABEL - delta with delta = 1e-7, ten times CLARABEL's stopping gap (tol 1e-8 on an
    O(1) objective).
    """
    from lipconv.solvers import lipschitz_regression

    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, d))
    y = rng.normal(size=n)
    w = np.full(n, 1.0 / n)
    dist = pdist(X)

    def feasible_objective(u):
        return float(w @ (u - y) ** 2 + lam * np.max(pdist(u[:, None]) / dist))

    u1 = lipschitz_regression(X, y, lam=lam, solver="CLARABEL").values[:, 0]
    u2 = lipschitz_regression(X, y, lam=lam, solver=other).values[:, 0]
    F1, F2 = feasible_objective(u1), feasible_objective(u2)
    F_lo = min(F1, F2) - 1e-7
    assert w @ (u1 - u2) ** 2 <= 2 * ((F1 - F_lo) + (F2 - F_lo))
