r"""(p, q) operator norms of matrices ([RKH] Table 1) and the layer-wise product bound ([FOA] eq. (6)).

.. math::

    \|A\|_{p,q} = \max_{\|v\|_p \le 1} \|A v\|_q , \qquad p, q \in \{1, 2, \infty\}.

Table 1 of [RKH] (rows: domain p, columns: co-domain q):

=====  =====================  =====================  =====================
p\\q    1                      2                      inf
=====  =====================  =====================  =====================
1      max l1 column norm     max l2 column norm     max |a_ij|
2      NP-hard                max singular value     max l2 row norm
inf    NP-hard                NP-hard                max l1 row norm
=====  =====================  =====================  =====================

The closed forms: p = 1 attains the max at a vertex ``±e_j`` of the l1 ball, so
:math:`\|A\|_{1,q} = \max_j \|a_{:,j}\|_q`; q = inf swaps max and max, so
:math:`\|A\|_{p,\infty} = \max_i \|a_{i,:}\|_{p^*}` (Hölder); (2, 2) is the spectral norm.

The NP-hard entries are computed exactly on small inputs by brute force over the vertices of a
cube. A convex function attains its max over a polytope at a vertex, and
:math:`\|A\|_{p,q} = \|A^\top\|_{q^*,p^*}` (duality), so

* (inf, 2): :math:`\max_{s \in \{\pm1\}^n} \|A s\|_2`  (2^(n-1) vertices, by the symmetry s -> -s);
* (2, 1):   :math:`\max_{s \in \{\pm1\}^m} \|A^\top s\|_2` (the (inf, 2) norm of A^T; 2^(m-1));
* (inf, 1): :math:`\max_{s \in \{\pm1\}^n} \|A s\|_1 = \max_{s \in \{\pm1\}^m} \|A^\top s\|_1`
  (the smaller of the two dimensions; 2^(min(m, n)-1)).

Above ``max_vertices`` the result is either a lower bound from the power-method limit of the (p, q)
iteration ([RKH] eq. (12), best of several random starts: a value attained by a feasible v) or a
closed-form upper bound from norm equivalence (what :func:`layer_norm_product` needs to stay an upper
bound).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import check_int, check_norm, check_real
from ._backend import amax, asum, detached, is_torch, no_grad, xp
from ._iteration import operator_norm_iteration
from ._pnorm import dual_exponent, pnorm

__all__ = ["OperatorNormResult", "NormProductResult", "operator_norm", "layer_norm_product", "METHODS"]

METHODS = ("closed-form", "brute-force", "iteration-lower-bound", "closed-form-upper-bound")
_FALLBACKS = ("lower", "upper")
_VERTEX_BLOCK = 4096


@dataclass(frozen=True)
class OperatorNormResult:
    """A (p, q) operator norm and how it was obtained.

    Attributes
    ----------
    value : float, ndarray of shape batch, or torch.Tensor
        The norm (a float for one numpy matrix; the input's kind otherwise, differentiable in torch).
    method : str
        One of :data:`METHODS`.
    exact : bool
        True for "closed-form" and "brute-force"; False for the two bounds.
    p, q : float
        Domain and co-domain exponents.
    vertices : int
        Cube vertices evaluated by the brute force (0 otherwise).
    seed : int or None
        Seed of the random starts of the iteration ("iteration-lower-bound" only).
    """

    value: Any
    method: str
    exact: bool
    p: float
    q: float
    vertices: int = 0
    seed: int | None = None

    def __float__(self) -> float:
        return float(np.asarray(detached(self.value).cpu() if is_torch(self.value) else self.value))


@dataclass(frozen=True)
class NormProductResult:
    r"""The product bound :math:`\prod_k \|W_k\|_{p_{k-1}, p_k}` of [FOA] eq. (6).

    Attributes
    ----------
    value : float or torch.Tensor
        The product (differentiable in the weights when they are tensors).
    factors : tuple of OperatorNormResult
        One per layer, in the order the layers are applied.
    exponents : tuple of float
        The chain :math:`p_0 = p, p_1, \dots, p_N = q`.
    exact : bool
        True when every factor is the exact operator norm (the product is then exactly eq. (6));
        False when some NP-hard factor was replaced by its closed-form upper bound.
    """

    value: Any
    factors: tuple
    exponents: tuple
    exact: bool

    def __float__(self) -> float:
        return float(np.asarray(detached(self.value).cpu() if is_torch(self.value) else self.value))


def _check_matrix(A, name: str = "A"):
    if not is_torch(A):
        A = check_real(A, name, allow_inf=True)
    elif A.is_complex():
        raise ValueError(f"{name} must be real, got {A.dtype}")
    if A.ndim < 2 or A.shape[-1] < 1 or A.shape[-2] < 1:
        raise ValueError(f"{name} must have shape (..., m, n) with m, n >= 1, got shape {tuple(A.shape)}")
    finite = bool(xp(A).isfinite(A).all())
    if not finite:
        raise ValueError(f"{name} must be finite, got NaN or inf entries")
    return A


def _spectral(A):
    if is_torch(A):
        import torch

        return torch.linalg.matrix_norm(A, ord=2)
    return np.linalg.norm(A, ord=2, axis=(-2, -1))


def _closed_form(A, p: float, q: float):
    """Table 1's tractable entries, or None for the NP-hard ones."""
    if p == 1.0:
        return amax(pnorm(A, q, axis=-2), -1)
    if np.isinf(q):
        return amax(pnorm(A, dual_exponent(p), axis=-1), -1)
    if p == 2.0 and q == 2.0:
        return _spectral(A)
    return None


def _hard_orientation(A, p: float, q: float):
    """(B, r): ``||A||_{p,q} = max over sign vectors s of ||B s||_r`` (see the module docstring)."""
    At = A.transpose(-1, -2) if is_torch(A) else np.swapaxes(A, -1, -2)
    if p == 2.0:  # (2, 1) = (inf, 2) of A^T
        return At, 2.0
    if q == 1.0 and A.shape[-2] < A.shape[-1]:  # (inf, 1) is self-dual: enumerate the shorter side
        return At, 1.0
    return A, q


def _sign_vertices(k: int, start: int, stop: int, like):
    """Rows ``start..stop-1`` of the 2^(k-1) sign vectors of length k with first entry +1."""
    bits = (np.arange(start, stop)[:, None] >> np.arange(k - 1)[None, :]) & 1
    S = np.concatenate([np.ones((stop - start, 1)), 1.0 - 2.0 * bits], axis=1)
    if is_torch(like):
        import torch

        return torch.as_tensor(S, dtype=like.dtype, device=like.device)
    return S


def _brute_force(A, p: float, q: float):
    """Exact NP-hard entry by enumeration; the search is gradient-free, the value is recomputed at the argmax."""
    B, r = _hard_orientation(A, p, q)
    k = B.shape[-1]
    total = 2 ** (k - 1)
    M = xp(B)
    with no_grad(B):
        Bd = detached(B)
        best = None
        best_s = None
        for start in range(0, total, _VERTEX_BLOCK):
            S = _sign_vertices(k, start, min(total, start + _VERTEX_BLOCK), Bd)
            vals = pnorm(Bd @ S.T, r, axis=-2)  # (..., V)
            i = vals.argmax(-1)
            top = amax(vals, -1)
            cand = S[i]  # (..., k)
            if best is None:
                best, best_s = top, cand
            else:
                better = top > best
                best = M.where(better, top, best)
                best_s = M.where(better[..., None], cand, best_s)
    value = pnorm((B @ best_s[..., None])[..., 0], r)
    return value, total


def _upper_bound(A, p: float, q: float):
    """Closed-form upper bounds of the NP-hard entries (norm equivalence and the triangle inequality).

    (2, 1):   ||Av||_1 <= sqrt(m) ||Av||_2;  |a_i . v| <= ||a_i||_2 ||v||_2.
    (inf, 2): ||v||_2 <= sqrt(n) ||v||_inf;  |a_i . v| <= ||a_i||_1 ||v||_inf;  ||sum_j v_j a_:j|| <= sum_j ||a_:j||_2.
    (inf, 1): sum_i |a_i . v| <= sum_ij |a_ij|;  ||Av||_1 <= sqrt(m n) sigma_1 ||v||_inf.
    """
    M = xp(A)
    m, n = A.shape[-2], A.shape[-1]
    sig = _spectral(A)
    if p == 2.0:
        cands = [math.sqrt(m) * sig, asum(pnorm(A, 2.0, axis=-1), -1)]
    elif q == 2.0:
        cands = [
            math.sqrt(n) * sig,
            pnorm(pnorm(A, 1.0, axis=-1), 2.0),
            asum(pnorm(A, 2.0, axis=-2), -1),
        ]
    else:
        cands = [asum(asum(abs(A), -1), -1), math.sqrt(m * n) * sig]
    return -amax(-M.stack(cands), 0)


def _iteration_lower_bound(A, p: float, q: float, *, iters: int, restarts: int, seed: int):
    rng = np.random.default_rng(seed)
    shape = (restarts,) + tuple(A.shape[:-2]) + (A.shape[-1],)
    v0 = rng.standard_normal(shape)
    v0 = v0 if not is_torch(A) else xp(A).as_tensor(v0, dtype=A.dtype, device=A.device)
    At = A.transpose(-1, -2).contiguous() if is_torch(A) else np.ascontiguousarray(np.swapaxes(A, -1, -2))
    if A.ndim == 2:
        # One (restarts, n) x (n, m) product per pass: broadcast stacks of matrix-vector products are not BLAS calls.
        def matvec(v):
            return v @ At

        def rmatvec(u):
            return u @ A
    else:
        def matvec(v):
            return (A @ v[..., None])[..., 0]

        def rmatvec(u):
            return (At @ u[..., None])[..., 0]
    res = operator_norm_iteration(matvec, rmatvec, p, q, v0=v0, alpha=np.inf, iters=iters, tol=0.0)
    return amax(res.value, 0)


def operator_norm(
    A, p, q, *, max_vertices: int = 2**16, fallback: str = "lower", iters: int = 100,
    restarts: int = 32, seed: int = 0,
) -> OperatorNormResult:
    r"""The (p, q) operator norm :math:`\|A\|_{p,q} = \max_{\|v\|_p \le 1} \|Av\|_q` ([RKH] eq. (8), Table 1).

    Closed forms for the tractable entries of Table 1; for the NP-hard entries ((2, 1), (inf, 1),
    (inf, 2)) an exact brute force over the sign vectors of the relevant cube (see the module
    docstring for why the vertices suffice) when there are at most ``max_vertices`` of them, and
    otherwise a bound chosen by ``fallback``.

    Parameters
    ----------
    A : ndarray or torch.Tensor, shape (..., m, n)
        Batched over the leading axes.
    p, q : {1, 2, inf}
        Domain and co-domain norms (strings "L1", "L2", "Linf" accepted).
    max_vertices : int
        Largest brute force attempted (the work is about m * n * max_vertices).
    fallback : {"lower", "upper"}
        Above ``max_vertices``: "lower" returns the best value of the power-method limit of the
        (p, q) iteration ([RKH] eq. (12)) over ``restarts`` random starts, a value attained by a
        unit vector and so a certified lower bound; "upper" returns the smallest of a few closed-form
        upper bounds from norm equivalence and the triangle inequality, e.g.
        :math:`\|A\|_{2,1} \le \min(\sqrt{m}\,\sigma_1, \sum_i \|a_{i,:}\|_2)`.
    iters, restarts, seed : int
        Settings of the "lower" fallback.

    Returns
    -------
    OperatorNormResult
        ``value`` (float for one numpy matrix, ndarray of the batch shape, or a tensor that carries
        gradients), ``method``, ``exact``.

    Examples
    --------
    The (1, 1) norm is the largest column l1 norm (closed form); the (inf, 1) norm is NP-hard in
    general, and exact here by brute force over the vertices :math:`s \in \{\pm 1\}^2`
    (:math:`\|A (1, 1)^\top\|_1 = 8`):

    >>> import numpy as np
    >>> from lipconv.norms import operator_norm
    >>> A = np.array([[1.0, -2.0], [3.0, 4.0]])
    >>> operator_norm(A, 1, 1).value
    6.0
    >>> res = operator_norm(A, np.inf, 1)
    >>> res.value, res.method, res.exact
    (8.0, 'brute-force', True)
    """
    A = _check_matrix(A)
    p = check_norm(p, "p")
    q = check_norm(q, "q")
    max_vertices = check_int(max_vertices, "max_vertices", minimum=1)
    if fallback not in _FALLBACKS:
        raise ValueError(f"fallback must be one of {_FALLBACKS}, got {fallback!r}")
    iters = check_int(iters, "iters", minimum=1)
    restarts = check_int(restarts, "restarts", minimum=1)
    seed = check_int(seed, "seed", minimum=0)

    def out(value, method, exact, vertices=0, used_seed=None):
        if not is_torch(value) and np.ndim(value) == 0:
            value = float(value)
        return OperatorNormResult(value, method, exact, p, q, vertices, used_seed)

    closed = _closed_form(A, p, q)
    if closed is not None:
        return out(closed, "closed-form", True)
    B, _ = _hard_orientation(A, p, q)
    if 2 ** (B.shape[-1] - 1) <= max_vertices:
        value, vertices = _brute_force(A, p, q)
        return out(value, "brute-force", True, vertices)
    if fallback == "upper":
        return out(_upper_bound(A, p, q), "closed-form-upper-bound", False)
    value = _iteration_lower_bound(A, p, q, iters=iters, restarts=restarts, seed=seed)
    return out(value, "iteration-lower-bound", False, used_seed=seed)


def _check_chain(weights) -> list:
    try:
        Ws = list(weights)
    except TypeError:
        raise ValueError(f"weights must be a sequence of 2-D arrays, got {type(weights).__name__}") from None
    if not Ws:
        raise ValueError("weights must contain at least one matrix, got an empty sequence")
    out = []
    for k, W in enumerate(Ws):
        W = _check_matrix(W, f"weights[{k}]")
        if W.ndim != 2:
            raise ValueError(f"weights[{k}] must be a 2-D array (out, in), got shape {tuple(W.shape)}")
        if out and W.shape[1] != out[-1].shape[0]:
            raise ValueError(
                f"weights[{k}] must have {out[-1].shape[0]} columns to follow weights[{k - 1}] of shape "
                f"{tuple(out[-1].shape)}, got shape {tuple(W.shape)}"
            )
        out.append(W)
    return out


def layer_norm_product(weights, p, q, *, inner=None, max_vertices: int = 2**16) -> NormProductResult:
    r"""Data-independent upper bound on the Lipschitz constant of a network ([FOA] eq. (6)).

    .. math::

        \mathrm{Lip}_{p,q}(f) \le \prod_{k=1}^{N} \|W_k\|_{p_{k-1}, p_k}, \qquad p_0 = p,\ p_N = q,

    for :math:`f = W_N \circ \phi \circ \dots \circ \phi \circ W_1` (biases do not matter) whose
    nonlinearities are 1-Lipschitz from :math:`\|\cdot\|_{p_k}` to itself; elementwise 1-Lipschitz
    activations (ReLU, tanh, ...) are, for every p_k. Each factor is computed by
    :func:`operator_norm` with ``fallback="upper"``, so the product stays an upper bound when an
    NP-hard factor is too large for the brute force (then ``exact`` is False).

    Parameters
    ----------
    weights : sequence of ndarray or torch.Tensor
        :math:`W_1, \dots, W_N` in the order they are applied; :math:`W_k` has shape
        (d_k, d_{k-1}), as ``torch.nn.Linear.weight``.
    p, q : {1, 2, inf}
        Norms on the input and on the output.
    inner : None, sequence of N - 1 exponents, or "best"
        The intermediate norms :math:`p_1, \dots, p_{N-1}`: None uses p for all of them (all-2 for
        the spectral bound of [RKH] Sec. 3; every factor but the last is then a closed form, and
        this is the convention of ``lipconv.nn.layer_norm_product``); "best" returns the smallest product over
        :math:`\{1, 2, \infty\}^{N-1}` (dynamic programming over the 9 norms of each layer; every
        chain is a valid bound, so their minimum is).
    max_vertices : int
        Passed to :func:`operator_norm`.

    Returns
    -------
    NormProductResult
    """
    Ws = _check_chain(weights)
    p = check_norm(p, "p")
    q = check_norm(q, "q")
    N = len(Ws)

    def factor(W, a, b):
        return operator_norm(W, a, b, max_vertices=max_vertices, fallback="upper")

    if isinstance(inner, str) and inner == "best":
        chain = _best_chain(Ws, p, q, factor)
    else:
        if inner is None:
            mids = [p] * (N - 1)
        else:
            if isinstance(inner, str) or len(list(inner)) != N - 1:
                raise ValueError(
                    f"inner must be None, 'best' or a sequence of {N - 1} exponents (one per hidden layer), "
                    f"got {inner!r}"
                )
            mids = [check_norm(r, f"inner[{k}]") for k, r in enumerate(inner)]
        chain = [p, *mids, q]
    factors = tuple(factor(W, chain[k], chain[k + 1]) for k, W in enumerate(Ws))
    value = factors[0].value
    for f in factors[1:]:
        value = value * f.value
    return NormProductResult(value, factors, tuple(chain), all(f.exact for f in factors))


def _best_chain(Ws, p: float, q: float, factor) -> list:
    """Exponent chain minimizing the product (log-space dynamic program; zero factors allowed)."""
    norms = (1.0, 2.0, np.inf)
    cost = {p: 0.0}  # log of the best product of the layers so far, by the last exponent
    back = []
    for k, W in enumerate(Ws):
        targets = (q,) if k == len(Ws) - 1 else norms
        new, arg = {}, {}
        for b in targets:
            for a, c in cost.items():
                val = float(factor(W, a, b))
                total = c + (math.log(val) if val > 0 else -math.inf)
                if b not in new or total < new[b]:
                    new[b], arg[b] = total, a
        cost = new
        back.append(arg)
    chain = [q]
    for arg in reversed(back):
        chain.append(arg[chain[-1]])
    return chain[::-1]
