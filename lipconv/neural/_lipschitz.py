r"""Certified Lipschitz bounds of a ReLU network on boxes, and a certified bracket of its constant.

A network :math:`u_\theta = W_L \sigma(\cdots \sigma(W_1 x + b_1) \cdots) + b_L` (ReLU :math:`\sigma`,
optionally followed by a softmax) is piecewise affine, so on a box B

.. math::

    \mathrm{Lip}_B(u_\theta) = \sup_{x \in B} \|D u_\theta(x)\|_{2,2},
    \qquad D u_\theta(x) = W_L\, \Delta_{L-1}(x)\, W_{L-1} \cdots \Delta_1(x)\, W_1 ,

with :math:`\Delta_l(x)` the diagonal 0/1 activation pattern of layer l (Lipschitz in the Euclidean
norms, the network's norms of [FCAO] eq. (2.3)). :func:`box_lipschitz_bounds` bounds it from
above in two interval passes (no solver):

1. *Forward* (interval bound propagation): the pre-activations over B lie in boxes
   :math:`[z_l^-, z_l^+]`; a unit with :math:`z^- \ge 0` is on over all of B (its slope is 1),
   one with :math:`z^+ \le 0` off (slope 0), any other unit's slope is only known to lie in [0, 1].
2. *Backward*: the product above in interval arithmetic (midpoint-radius form), each undecided
   unit multiplying its column by [0, 1]. Every entry of :math:`D u_\theta(x)`, for every x in B,
   lies in the resulting interval :math:`[J^-, J^+]`, so
   :math:`\|D u_\theta(x)\|_{2,2} \le \|\max(|J^-|, |J^+|)\|_F`.

Every dot product's rounding is covered by adding :math:`\gamma_h \cdot |x| \cdot |y|`,
:math:`\gamma_h = (h + 2)\,\varepsilon_{\mathrm{mach}}`, to each radius (the a-priori bound of
floating-point dot products of length h), so the bounds hold in floating point, not only in exact
arithmetic. On a box where no unit is undecided the bound is the gradient norm there, to rounding:
the bounds are tight on small boxes, which is what the branch and bound of
:func:`lipschitz_bracket` relies on. The product of
the layers' spectral norms ([FOA] eq. (6)) is the same kind of bound with every unit undecided
and the signs thrown away; it is kept beside these for comparison only.

Why written here: the packages that certify networks (auto_LiRPA, LipSDP, ...) are heavy
dependencies (a solver, a graph tracer) for what is, on the small MLPs of :mod:`lipconv.neural`,
two vectorized interval passes in torch.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .._validation import check_int, check_points, check_positive, check_real

__all__ = ["box_lipschitz_bounds", "lipschitz_bracket", "LipschitzBracket"]

_EPS = float(np.finfo(np.float64).eps)
_CHUNK = 8192
# Boxes with at most this many undecided units get the maximum over their activation patterns (default).
_PATTERNS = 6
_ENUMERATE_CHUNK = 1024
# Relative error allowance of a computed spectral norm (an SVD is backward stable to a few eps).
_SVD_RTOL = 1e-12


def _layers(model) -> list:
    """The network as a list of ("linear", W, b) / ("relu",) / ("softmax",), in float64."""
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential of Linear, ReLU (and a final Softmax), got "
                        f"{type(model).__name__}")
    out = []
    for i, layer in enumerate(model):
        if isinstance(layer, torch.nn.Linear):
            b = layer.bias if layer.bias is not None else torch.zeros(layer.out_features)
            out.append(("linear", layer.weight.detach().double(), b.detach().double().to(layer.weight.device)))
        elif isinstance(layer, torch.nn.ReLU):
            out.append(("relu",))
        elif isinstance(layer, torch.nn.Softmax) and i == len(model) - 1:
            out.append(("softmax",))
        elif isinstance(layer, torch.nn.Identity):
            continue
        else:
            raise TypeError(f"model must be a torch.nn.Sequential of Linear, ReLU (and a final Softmax), got a "
                            f"{type(layer).__name__} at position {i}")
    if not out or out[0][0] != "linear":
        raise TypeError("model must start with a torch.nn.Linear layer")
    return out


def _dot_radius(mid: torch.Tensor, rad: torch.Tensor, A: torch.Tensor, extra=0.0) -> torch.Tensor:
    """Radius of ``[mid - rad, mid + rad] @ A`` (rows), with the rounding of both products covered."""
    absA = A.abs()
    gamma = (A.shape[0] + 2) * _EPS
    return rad @ absA + gamma * ((mid.abs() + rad) @ absA + extra)


def _box_bounds(layers, centres: torch.Tensor, half: torch.Tensor, patterns: int) -> torch.Tensor:
    """Upper bounds of Lip on each box (rows of centres, half-widths), one chunk."""
    states = _activation_states(layers, centres, half)
    linears = [p[0] for kind, *p in layers if kind == "linear"]
    bound = _interval_jacobian_bound(linears, states)
    if states and patterns > 0:
        undecided = sum(u.sum(dim=1) for _, u in states)
        for count in range(1, patterns + 1):
            rows = torch.nonzero(undecided == count, as_tuple=True)[0]
            for a in range(0, rows.numel(), _ENUMERATE_CHUNK):
                sub = rows[a:a + _ENUMERATE_CHUNK]
                exact = _enumerated_bound(linears, [(on[sub], u[sub]) for on, u in states], count)
                bound[sub] = torch.minimum(bound[sub], exact)
    # The softmax head is 1-Lipschitz in the Euclidean norms (its Jacobian diag(p) - p p^T has
    # spectral norm <= 1/2), so the logits' bound is also the output's.
    return bound


def _activation_states(layers, centres: torch.Tensor, half: torch.Tensor) -> list:
    """Step 1 of the module docstring: per ReLU layer, the units on over the whole box and the
    undecided ones, by symbolic interval propagation.

    Each pre-activation is kept as an affine function of the box coordinate s in [-1, 1]^d plus an
    interval, z = A s + c + [e^-, e^+]; a unit decided on passes it on unchanged, one decided off
    drops it, and only an undecided unit is replaced by its interval [0, z^+]. Unlike plain interval
    bound propagation, the decided units' dependence on x is carried exactly through the layers, so
    the deeper layers' bounds (and hence their undecided units) do not blow up with |W_l| ... |W_1|.
    Every product's rounding is added to the interval (the gamma terms).
    """
    (_, W, b) = layers[0]
    A = W[None, :, :] * half[:, None, :]  # (q, h, d): z = A s + c
    c = centres @ W.T + b
    e_mid = torch.zeros_like(c)
    e_rad = (W.shape[1] + 2) * _EPS * ((centres.abs() + half) @ W.abs().T + b.abs())
    states = []
    for kind, *params in layers[1:]:
        if kind == "relu":
            spread = A.abs().sum(dim=2)
            lo, hi = c - spread + e_mid - e_rad, c + spread + e_mid + e_rad
            on, undecided = lo >= 0, (lo < 0) & (hi > 0)
            states.append((on, undecided))
            keep = on.to(A.dtype)
            A = A * keep[:, :, None]
            top = hi.clamp(min=0) * undecided.to(A.dtype)
            c = c * keep
            e_mid = e_mid * keep + 0.5 * top
            e_rad = e_rad * keep + 0.5 * top
        elif kind == "linear":
            W, b = params
            absW = W.abs()
            gamma = (W.shape[1] + 2) * _EPS
            size = c.abs() + A.abs().sum(dim=2) + e_mid.abs() + e_rad
            A = torch.einsum("oh,qhd->qod", W, A)
            c = c @ W.T + b
            e_rad = e_rad @ absW.T + gamma * (size @ absW.T + b.abs())
            e_mid = e_mid @ W.T
    return states


def _interval_jacobian_bound(linears, states) -> torch.Tensor:
    """Step 2 of the module docstring: J = W_L Delta_{L-1} ... Delta_1 W_1 in interval arithmetic."""
    q = states[0][0].shape[0] if states else 1
    W_last = linears[-1]
    J_mid = W_last.expand(q, *W_last.shape).clone()
    J_rad = torch.zeros_like(J_mid)
    for W, (on, undecided) in zip(reversed(linears[:-1]), reversed(states)):
        lo, hi = J_mid - J_rad, J_mid + J_rad
        lo = torch.where(undecided[:, None, :], lo.clamp(max=0), torch.where(on[:, None, :], lo, torch.zeros_like(lo)))
        hi = torch.where(undecided[:, None, :], hi.clamp(min=0), torch.where(on[:, None, :], hi, torch.zeros_like(hi)))
        J_mid, J_rad = 0.5 * (lo + hi), 0.5 * (hi - lo)
        new_mid = J_mid @ W
        J_rad = _dot_radius(J_mid, J_rad, W)
        J_mid = new_mid
    if J_mid.shape[1] == 1:  # a gradient: every entry of it lies in [mid - rad, mid + rad]
        bound = torch.linalg.vector_norm((J_mid.abs() + J_rad).flatten(1), dim=1)
    else:  # ||J||_2 <= ||J_mid||_2 + || |J - J_mid| ||_2 <= ||J_mid||_2 + ||J_rad||_2 (J_rad >= 0)
        frob = torch.linalg.vector_norm((J_mid.abs() + J_rad).flatten(1), dim=1)
        spec = torch.linalg.matrix_norm(J_mid, ord=2) + torch.linalg.matrix_norm(J_rad, ord=2)
        bound = torch.minimum(frob, spec * (1.0 + _SVD_RTOL))
    return bound * (1.0 + 4 * _EPS)


def _enumerated_bound(linears, states, count: int) -> torch.Tensor:
    """max over the activation patterns the box allows of ||J_pattern||, for boxes with exactly
    ``count`` undecided units: every point of the box has one of these 2^count patterns, so the
    maximum bounds the Jacobian there; unlike the interval hull it does not mix two patterns'
    entries, and it is exact on a box cut by one boundary."""
    P = 1 << count
    bits = ((torch.arange(P)[:, None] >> torch.arange(count)[None, :]) & 1).bool()  # (P, count)
    flat_u = torch.cat([u for _, u in states], dim=1)
    flat_on = torch.cat([on for on, _ in states], dim=1)
    # The r-th undecided unit of a box (over all layers, in order) reads bit r of the pattern.
    ranks = (torch.cumsum(flat_u.long(), dim=1) - 1).clamp(min=0)
    chosen = bits.to(flat_u.device)[:, ranks]  # (P, q, units)
    masks = torch.where(flat_u[None], chosen, flat_on[None]).to(linears[0].dtype)
    masks = torch.split(masks, [u.shape[1] for _, u in states], dim=2)
    q = flat_u.shape[0]
    W_last = linears[-1]
    J = W_last.expand(P, q, *W_last.shape)
    absprod = W_last.abs()
    for W, D in zip(reversed(linears[:-1]), reversed(masks)):
        J = (J * D[:, :, None, :]) @ W
        absprod = absprod @ W.abs()
    if J.shape[2] == 1:
        norms = torch.linalg.vector_norm(J.flatten(2), dim=2)
    else:
        norms = torch.linalg.matrix_norm(J, ord=2) * (1.0 + _SVD_RTOL)
    # Rounding of the exact products: at most gamma * || |W_L| ... |W_1| || (a-priori dot-product bound).
    gamma = (sum(W.shape[0] for W in linears) + 2) * _EPS
    return norms.max(dim=0).values + gamma * torch.linalg.vector_norm(absprod)


def box_lipschitz_bounds(model, centres, half_widths, *, patterns: int = _PATTERNS) -> np.ndarray:
    r"""Certified upper bounds of :math:`\mathrm{Lip}(u_\theta)` on boxes (module docstring).

    .. math:: \mathrm{Lip}_{B_i}(u_\theta) \le \beta_i, \qquad B_i = \prod_j [c_{ij} - r_{ij}, c_{ij} + r_{ij}],

    in the Euclidean norms of input and output (the spectral norm of the Jacobian for k > 1), by
    interval bound propagation of the activation pattern and interval arithmetic on the Jacobian,
    rounding included. A ball :math:`\{x: \|x - c\|_2 \le r\}` lies in the box of half-width r,
    so :math:`\beta` also bounds the Lipschitz constant on the ball and on every segment inside it.

    Parameters
    ----------
    model : torch.nn.Sequential
        Linear and ReLU layers, optionally ending in a Softmax (as built by
        :func:`lipconv.neural.neural_lipschitz_regression`).
    centres : array_like, shape (q, d)
    half_widths : array_like, shape (q,) or (q, d)
        Non-negative half side lengths (one per box, or one per box and coordinate).
    patterns : int
        Boxes with at most this many undecided units (1 to ``patterns``) are bounded by the largest
        Jacobian norm over their :math:`2^u` activation patterns, which is tighter than the interval
        hull (exact on a box cut by one boundary) and costs :math:`2^u` products; 0 uses the hull
        alone (enough for the sup brackets, whose cells shrink until the bound times the radius is
        small).

    Returns
    -------
    ndarray, shape (q,)
        The bounds :math:`\beta_i` (upper bounds; equal to the gradient norm, up to rounding, on a box
        inside one linear piece).
    """
    layers = _layers(model)
    patterns = check_int(patterns, "patterns", minimum=0)
    c = check_points(centres, "centres")
    r = check_real(half_widths, "half_widths", allow_inf=True)
    if r.ndim == 1:
        r = np.repeat(r[:, None], c.shape[1], axis=1)
    if r.shape != c.shape:
        raise ValueError(f"half_widths must have shape ({c.shape[0]},) or {c.shape}, got {np.shape(half_widths)}")
    if not np.all(np.isfinite(r)) or np.any(r < 0):
        raise ValueError("half_widths must be finite and >= 0")
    d_in = layers[0][1].shape[1]
    if c.shape[1] != d_in:
        raise ValueError(f"centres must have d = {d_in} columns (the model's input width), got {c.shape[1]}")
    device = layers[0][1].device
    out = np.empty(c.shape[0])
    with torch.no_grad():
        for a in range(0, c.shape[0], _CHUNK):
            ct = torch.as_tensor(c[a:a + _CHUNK], dtype=torch.float64, device=device)
            rt = torch.as_tensor(r[a:a + _CHUNK], dtype=torch.float64, device=device)
            out[a:a + _CHUNK] = _box_bounds(layers, ct, rt, patterns).cpu().numpy()
    return out


@dataclass(frozen=True)
class LipschitzBracket:
    r"""A certified bracket :math:`\mathrm{lower} \le \mathrm{Lip}(u_\theta) \le \mathrm{upper}` on a box.

    Attributes
    ----------
    lower : float
        The largest gradient norm found (attained, so a lower bound).
    upper : float
        The largest bound of the boxes that cover the domain (certified upper bound).
    boxes : int
        Boxes evaluated.
    converged : bool
        ``upper <= (1 + rtol) * lower`` (else the budget ended the search; the bracket still holds).
    """

    lower: float
    upper: float
    boxes: int
    converged: bool


def lipschitz_bracket(model, lo, hi, *, rtol: float = 0.01, n0: int = 4096, max_boxes: int = 400_000) -> LipschitzBracket:
    r"""A certified bracket of :math:`\mathrm{Lip}(u_\theta) = \sup_{x \in [lo, hi]} \|D u_\theta(x)\|_{2,2}`.

    Branch and bound over boxes: a grid of about ``n0`` boxes covers the domain; a box's bound is
    :func:`box_lipschitz_bounds`, and the gradient norm at its centre (a value the network attains)
    raises the lower end. Boxes whose bound exceeds ``(1 + rtol)`` times the lower end are halved
    along their widest side, largest bounds first, until none is left or ``max_boxes`` boxes were
    evaluated. The upper end is the largest bound over a cover of the domain at every stage, so it
    is certified whatever the budget; the budget decides only how close it comes.

    Parameters
    ----------
    model : torch.nn.Sequential
    lo, hi : array_like, shape (d,)
        The domain's corners (the box [0, 1]^d of [FCAO] eq. (2.7) for data in it).
    rtol : float
        Target relative width ``upper / lower - 1``.
    n0, max_boxes : int
        First grid and budget.

    Returns
    -------
    LipschitzBracket
    """
    from ..manifolds._base import grid_counts

    layers = _layers(model)
    lo = np.atleast_1d(np.asarray(lo, dtype=float))
    hi = np.atleast_1d(np.asarray(hi, dtype=float))
    d = layers[0][1].shape[1]
    if lo.shape != (d,) or hi.shape != (d,) or not (np.all(np.isfinite(lo)) and np.all(np.isfinite(hi)) and np.all(hi > lo)):
        raise ValueError(f"lo and hi must be finite corners of shape ({d},) with hi > lo, got {lo} and {hi}")
    rtol = check_positive(rtol, "rtol")
    n0 = check_int(n0, "n0", minimum=1)
    max_boxes = check_int(max_boxes, "max_boxes", minimum=1)
    counts = grid_counts(n0, d)
    axes = [np.linspace(lo[i], hi[i], counts[i] + 1) for i in range(d)]
    blo = np.stack(np.meshgrid(*[a[:-1] for a in axes], indexing="ij"), axis=-1).reshape(-1, d)
    bhi = np.stack(np.meshgrid(*[a[1:] for a in axes], indexing="ij"), axis=-1).reshape(-1, d)
    evaluated = 0

    def judge(blo, bhi):
        nonlocal evaluated
        c, r = 0.5 * (blo + bhi), 0.5 * (bhi - blo)
        evaluated += c.shape[0]
        return box_lipschitz_bounds(model, c, r), _gradient_norm_at(model, c)

    ub, g = judge(blo, bhi)
    lower = float(g.max())
    closed = 0.0
    while True:
        keep = ub > lower * (1.0 + rtol)
        closed = max(closed, float(ub[~keep].max(initial=0.0)))
        blo, bhi, ub = blo[keep], bhi[keep], ub[keep]
        room = (max_boxes - evaluated) // 2
        if not keep.any() or room < 1:
            upper = max(closed, float(ub.max(initial=0.0)), lower)
            return LipschitzBracket(lower=lower, upper=upper, boxes=evaluated, converged=not keep.any())
        split = np.argsort(-ub, kind="stable")[:room]
        rest = np.ones(ub.size, dtype=bool)
        rest[split] = False
        slo, shi = blo[split], bhi[split]
        axis = np.argmax(shi - slo, axis=1)
        rows = np.arange(split.size)
        mid = 0.5 * (slo[rows, axis] + shi[rows, axis])
        left_hi, right_lo = shi.copy(), slo.copy()
        left_hi[rows, axis] = mid
        right_lo[rows, axis] = mid
        new_lo, new_hi = np.concatenate([slo, right_lo]), np.concatenate([left_hi, shi])
        new_ub, g = judge(new_lo, new_hi)
        lower = max(lower, float(g.max()))
        blo, bhi = np.concatenate([blo[rest], new_lo]), np.concatenate([bhi[rest], new_hi])
        ub = np.concatenate([ub[rest], new_ub])


def _gradient_norm_at(model, x: np.ndarray) -> np.ndarray:
    """:math:`\\|D u_\\theta(x)\\|_{2,2}` at the rows of x (values the network attains)."""
    from ._regression import gradient_norms

    p = next(model.parameters())
    out = np.empty(x.shape[0])
    for a in range(0, x.shape[0], _CHUNK):
        xt = torch.as_tensor(x[a:a + _CHUNK], dtype=p.dtype, device=p.device)
        out[a:a + _CHUNK] = gradient_norms(model, xt).detach().cpu().numpy()
    return out
