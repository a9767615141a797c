r"""Lipschitz constants of a network: certified bounds, empirical estimates, extreme-value fits.

Certified: :func:`layer_norm_product` ([FOA] eq. (6), an upper bound), :func:`empirical_lipschitz`
and :func:`pair_lipschitz` (values the network attains: lower bounds), bracketed by
:func:`lipschitz_bracket`; the robustness certificates of [FO] Proposition 2.2 (:func:`l_bound`,
:func:`omega_bound`). Statistical: :func:`modulus_of_continuity` and the GEV fit of batch maxima
(:func:`fit_extreme_value`, [FO] §2), estimates that are not bounds. CLEVER lives in ``_clever``.
Data-dependent quantities run the model in eval mode (restoring every module's flag afterwards), so
that each sample's gradient or Jacobian is its own.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from scipy import stats

from ..norms import dual_norm, operator_norm, steepest_direction
from ..norms import layer_norm_product as _chain_product
from .._validation import check_int, check_positive
from ._common import (
    check_array,
    check_eps,
    check_input_shape,
    check_inputs,
    check_seed,
    checked_outputs,
    default_loss,
    flat,
    input_gradient,
    parse_norm,
    restore_mode,
)

__all__ = [
    "margin_loss",
    "jacobian",
    "LipschitzEstimate",
    "empirical_lipschitz",
    "layer_norm_product",
    "l_bound",
    "omega_bound",
    "modulus_of_continuity",
    "ExtremeValueFit",
    "fit_extreme_value",
    "LipschitzBracket",
    "lipschitz_bracket",
    "pair_lipschitz",
]


def _check_real_number(v, name: str) -> float:
    if isinstance(v, bool) or not isinstance(v, numbers.Real) or not math.isfinite(float(v)):
        raise ValueError(f"{name} must be a finite real number, got {v!r}")
    return float(v)


def _check_fraction(v, name: str, *, closed: bool) -> float:
    """A number in (0, 1) (``closed``: [0, 1])."""
    ok = isinstance(v, numbers.Real) and not isinstance(v, bool) and (
        0 <= float(v) <= 1 if closed else 0 < float(v) < 1)
    if not ok:
        raise ValueError(f"{name} must be in {'[0, 1]' if closed else '(0, 1)'}, got {v!r}")
    return float(v)


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Carlini-Wagner margin :math:`\ell(x) = \max_{i \ne c} f_i(x) - f_c(x)` per sample ([FO] §2).

    Negative exactly when the sample is classified correctly, so :math:`\ell_0 = 0` in
    :func:`l_bound` and :func:`omega_bound`.
    """
    check_inputs(None, logits, y, labels="classes", outputs=logits, x_name="logits")
    true = logits.gather(1, y.reshape(-1, 1)).reshape(-1)
    other = logits.scatter(1, y.reshape(-1, 1), -math.inf).amax(dim=1)
    return other - true



def jacobian(model, x, *, transform: Callable | None = None) -> torch.Tensor:
    r"""Per-sample Jacobians :math:`J_i = \partial g(x_i)/\partial x_i`, shape (n, k, N), g = transform∘model.

    One backward pass per output (k passes); samples stay separate because the model runs in eval
    mode. Meant for small models and metrics, not for training.
    """
    check_inputs(model, x)
    if transform is not None and not callable(transform):
        raise TypeError(f"transform must be None or a callable, got {type(transform).__name__}")
    with restore_mode(model, eval_mode=True):
        xg = x.detach().requires_grad_(True)
        out = model(xg)
        if transform is not None:
            out = transform(out)
        out = flat(out)
        rows = [torch.autograd.grad(out[:, j].sum(), xg, retain_graph=j + 1 < out.shape[1])[0]
                for j in range(out.shape[1])]
    return torch.stack([flat(r) for r in rows], dim=1)


@dataclass(frozen=True)
class LipschitzEstimate:
    """Empirical Lipschitz constant :math:`\\max_i \\|\\nabla g(x_i)\\|` over data ([FOA] eq. (5)).

    Attributes
    ----------
    value : float
        The maximum (a lower bound on the Lipschitz constant).
    per_sample : numpy.ndarray, shape (n,)
    argmax : int
    of : {"model", "loss"}
    norm, out_norm : float
        Input norm and (for the model) output norm.
    exact : bool
        False where the per-sample operator norm is a power-method lower bound (NP-hard cases).
    """

    value: float
    per_sample: np.ndarray
    argmax: int
    of: str
    norm: float
    out_norm: float
    exact: bool


def empirical_lipschitz(model, data, *, norm="L2", out_norm="Linf", of: str = "model", y=None,
                        loss_fn: Callable | None = None, batch_size: int = 256,
                        seed: int = 0) -> LipschitzEstimate:
    r"""Maximum gradient norm over data, a lower bound on Lip ([FOA] eq. (5)).

    ``of="loss"``: :math:`\max_i \|\nabla_x \ell(x_i)\|_*` (dual of the input norm; needs ``y``).
    ``of="model"``: :math:`\max_i \|J_f(x_i)\|_{p, q}` with p = ``norm``, q = ``out_norm``, from the
    extracted Jacobians (:func:`jacobian`) by ``lipconv.norms.operator_norm``: closed forms for the
    tractable entries of [RKH] Table 1, brute force for small NP-hard ones, otherwise the
    power-method lower bound (then ``exact`` is False; the estimate stays a lower bound of Lip).
    Compare with :func:`layer_norm_product` ([FOA] eq. (6)), an upper bound.
    """
    if of not in ("model", "loss"):
        raise ValueError(f"of must be 'model' or 'loss', got {of!r}")
    p = parse_norm(norm)
    q = parse_norm(out_norm, "out_norm")
    batch_size = check_int(batch_size, "batch_size")
    seed = check_seed(seed)
    if of == "loss" and y is None:
        raise ValueError("y must be given when of='loss', got None")
    if of == "loss":
        checked_outputs(model, data, y, labels="loss", loss_fn=loss_fn, x_name="data")
    else:
        check_inputs(model, data, x_name="data")
    vals = []
    exact = True
    with restore_mode(model, eval_mode=True):
        for s in range(0, data.shape[0], batch_size):
            xb = data[s : s + batch_size]
            if of == "loss":
                g, _ = input_gradient(model, xb, y[s : s + batch_size], loss_fn)
                vals.append(dual_norm(flat(g), p).detach())
                continue
            res = operator_norm(jacobian(model, xb).detach(), p, q, fallback="lower", seed=seed)
            exact = exact and res.exact
            vals.append(torch.as_tensor(res.value).reshape(-1))
    per = torch.cat(vals).detach().cpu().to(torch.float64).numpy()
    i = int(per.argmax())
    return LipschitzEstimate(float(per[i]), per, i, of, p, q, exact)


_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_LINEAR_MAPS = _CONVS + (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                         nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.Identity, nn.Dropout, nn.Flatten,
                nn.Unflatten, nn.Hardtanh)


def _check_module(model, input_shape):
    """(model, input shape) of the layer-norm bounds: a torch.nn.Module with parameters and a tuple of
    positive integers."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if next(model.parameters(), None) is None:
        raise ValueError("model must have at least one parameter (a Linear or Conv layer), got none")
    return check_input_shape(input_shape)


def _layer_matrices(model: nn.Module, input_shape) -> list[torch.Tensor]:
    """Dense float64 matrices of the affine layers of a sequential model, in order (biases dropped).

    Built in float64 from the layers' own weights whatever their dtype (a bfloat16 weight is exact
    in float64, and the norms of ``lipconv.norms`` need float32 or float64)."""
    mats = []
    shape = _check_module(model, input_shape)
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    with restore_mode(model, eval_mode=True):
        z = torch.zeros((1,) + shape, dtype=dtype, device=device)
        for mod in (m for m in model.modules() if not list(m.children())):
            z64 = torch.zeros(z.shape, dtype=torch.float64, device=device)
            if isinstance(mod, nn.Linear):
                mats.append(mod.weight.detach().to(torch.float64))
            elif isinstance(mod, _LINEAR_MAPS):
                if isinstance(mod, _CONVS):
                    w64 = mod.weight.detach().to(torch.float64)
                    fn = lambda t, mod=mod, w64=w64: mod._conv_forward(t, w64, None)  # noqa: E731
                else:
                    fn = mod
                J = torch.autograd.functional.jacobian(fn, z64)
                out_n = J.shape[: J.ndim // 2].numel()
                mats.append(J.reshape(out_n, -1).detach())
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
                weight = mod.weight.detach().to(torch.float64) if mod.affine else 1.0
                scale = weight / torch.sqrt(mod.running_var.to(torch.float64) + mod.eps)
                per = z[0].numel() // scale.numel()
                mats.append(torch.diag(scale.repeat_interleave(per)))
            elif isinstance(mod, nn.LeakyReLU) and abs(mod.negative_slope) > 1:
                raise ValueError(f"model layers must be 1-Lipschitz, got LeakyReLU slope {mod.negative_slope}")
            elif isinstance(mod, nn.ELU) and mod.alpha > 1:
                raise ValueError(f"model layers must be 1-Lipschitz, got ELU alpha {mod.alpha}")
            elif not isinstance(mod, _ACTIVATIONS):
                raise ValueError(f"model must be a sequence of Linear/Conv/AvgPool/BatchNorm layers and 1-Lipschitz "
                                 f"elementwise activations, got {type(mod).__name__}")
            with torch.no_grad():
                z = mod(z)
    return mats


def layer_norm_product(model: nn.Module, *, input_shape, norm="L2", out_norm="L2"):
    r"""Data-independent bound :math:`\mathrm{Lip}_{p,q}(f) \le \prod_k \|W_k\|_{p_{k-1}\to p_k}` ([FOA] eq. (6)).

    For a sequential model of Linear, Conv, average-pooling and (eval-mode) BatchNorm layers separated by
    1-Lipschitz elementwise activations (ReLU, tanh, ...), with :math:`p_0 = \dots = p_{N-1} = p` and
    :math:`p_N = q`: every elementwise 1-Lipschitz map is 1-Lipschitz in every l_p norm, so any
    intermediate choice gives a bound, and keeping p throughout keeps each factor computable.
    Convolutions and poolings are turned into their dense matrices at ``input_shape`` (so keep the
    input small), and BatchNorm into the
    diagonal scaling ([FOA] §4: omitting it misses terms). The product itself is
    ``lipconv.norms.layer_norm_product`` (NP-hard factors are brute-forced when small, else replaced by
    an upper bound, so the product stays an upper bound).

    Parameters
    ----------
    model : torch.nn.Module
    input_shape : tuple
        Shape of one input (without the batch axis).
    norm, out_norm : {"L1", "L2", "Linf"} or {1, 2, inf}

    Returns
    -------
    lipconv.norms.NormProductResult
        ``float(result)`` is the bound; ``result.factors`` holds the per-layer norms.
    """
    p = parse_norm(norm)
    q = parse_norm(out_norm, "out_norm")
    return _chain_product(_layer_matrices(model, input_shape), p, q)


def l_bound(loss_values, L, *, l0: float = 0.0) -> np.ndarray:
    r"""(L-bound) of [FO] Proposition 2.2: :math:`\|v\| \ge \max\{\ell_0 - \ell(x), 0\}/L`.

    Parameters
    ----------
    loss_values : array (n,)
        :math:`\ell(x_i)`, e.g. the :func:`margin_loss` (then :math:`\ell_0 = 0`).
    L : float > 0
        Lipschitz constant of the loss (e.g. from :func:`fit_extreme_value`).
    """
    L = check_positive(L, "L")
    l0 = _check_real_number(l0, "l0")
    lv = check_array(loss_values, "loss_values", ndim=1)
    return np.maximum(l0 - lv, 0.0) / L


def omega_bound(loss_values, grad_norms, eps, omega, *, l0: float = 0.0) -> np.ndarray:
    r"""(omega-bound) of [FO] Proposition 2.2, as a certified radius per sample.

    The minimal adversarial distance is at least :math:`\epsilon` whenever
    :math:`(\ell_0 - \ell(x) - \omega(\epsilon))/\|\nabla\ell(x)\|_* \ge \epsilon`. Given the modulus of
    continuity on an increasing grid ``eps`` (``omega[j]`` = :math:`\omega(\epsilon_j)`), returns for each
    sample the largest grid radius that satisfies it (0 when none does; a zero gradient with a
    positive gap certifies every radius in the grid).
    """
    l0 = _check_real_number(l0, "l0")
    lv = check_array(loss_values, "loss_values", ndim=1)
    gn = check_array(grad_norms, "grad_norms", ndim=1, nonnegative=True)
    e = check_array(eps, "eps", ndim=0).reshape(-1)
    # omega(eps) is a sup over ||v|| <= eps that includes v = 0: never negative ([FO] eq. (5)).
    om = check_array(omega, "omega", ndim=0, nonnegative=True).reshape(-1)
    if lv.shape != gn.shape:
        raise ValueError(f"grad_norms must have the shape of loss_values {lv.shape}, got {gn.shape}")
    if e.shape != om.shape or e.size == 0:
        raise ValueError(f"omega must have the shape of eps {e.shape} (non-empty), got {om.shape}")
    if (np.diff(e) <= 0).any() or (e < 0).any():
        raise ValueError(f"eps must be >= 0 and strictly increasing, got {e}")
    gap = l0 - lv[:, None] - om[None, :]
    ok = gap >= e[None, :] * gn[:, None]
    return np.where(ok, e[None, :], 0.0).max(axis=1)


def modulus_of_continuity(model, x, y, *, eps: float, norm="L2", n_samples: int = 32,
                          loss_fn: Callable | None = None, seed: int = 0) -> np.ndarray:
    r"""Per-sample sampled :math:`\max_v\, \ell(x+v) - \ell(x) - v\cdot\nabla\ell(x)` over :math:`\|v\| = \epsilon`.

    The sampled version of [FO] eq. (5): ``n_samples`` random directions of the ``norm`` sphere
    plus the steepest-ascent direction, each scaled to radius eps. A lower estimate of
    :math:`\omega(\epsilon)` at x; batch maxima of it feed :func:`fit_extreme_value`. No clamping.
    """
    p = parse_norm(norm)
    eps = check_eps(eps)
    n_samples = check_int(n_samples, "n_samples")
    seed = check_seed(seed)
    checked_outputs(model, x, y, labels="loss", loss_fn=loss_fn)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    best = torch.full((x.shape[0],), -math.inf, dtype=torch.float64)
    with restore_mode(model, eval_mode=True):
        g, loss = input_gradient(model, x, y, loss_fn)
        loss = loss.detach()
        dirs = [steepest_direction(flat(g), p)]
        for _ in range(n_samples):
            z = torch.randn(flat(x).shape, generator=gen, device=x.device, dtype=x.dtype)
            dirs.append(z / torch.linalg.vector_norm(z, ord=p, dim=1, keepdim=True))
        with torch.no_grad():
            for d in dirs:
                v = (eps * d).reshape(x.shape)
                lv = (loss_fn or default_loss)(model(x.detach() + v), y)
                gap = (lv - loss - (flat(v) * flat(g)).sum(dim=1)).cpu().to(torch.float64)
                best = torch.maximum(best, gap)
    return best.numpy()


@dataclass(frozen=True)
class ExtremeValueFit:
    r"""GEV fit of sampled maxima (scipy ``genextreme``: shape c > 0 is the reverse-Weibull case).

    Attributes
    ----------
    c, loc, scale : float
        scipy's parameters (scipy's sign of c is the opposite of many texts); NaN when no fit was made.
    endpoint : float
        Right end of the support, loc + scale / c when c > 0 (reverse Weibull), else +inf.
    quantile : float
        The (1 - p) quantile of the fitted law: the estimate used by [FO] (p = 0.001).
    p : float
    pvalue : float
        Kolmogorov-Smirnov p-value of the sample against the fitted law (optimistic, since the
        parameters were fitted to the same sample; a small value rejects the fit).
    n : int
        Number of maxima.
    sample_max : float
        The largest maximum: attained, so a lower bound of what is estimated.
    estimate : float
        ``quantile`` when the fit passed every check, else ``sample_max``.
    fallback : str or None
        Why the fit was not used (None when ``estimate`` is the quantile): "repeated maxima" (fewer
        than ``min_distinct`` of the maxima are distinct: piecewise-linear networks give the same
        gradient norm on a whole region, and a continuous law fitted to ties is meaningless),
        "no finite end point" (c <= 0), "fit rejected" (KS p-value below ``ks_level``), or "quantile
        below the sample maximum".
    """

    c: float
    loc: float
    scale: float
    endpoint: float
    quantile: float
    p: float
    pvalue: float
    n: int
    sample_max: float
    estimate: float = math.nan
    fallback: str | None = None


def fit_extreme_value(maxima, *, p: float = 1e-3, min_distinct: float = 0.5,
                      ks_level: float = 0.01) -> ExtremeValueFit:
    r"""Maximum-likelihood GEV fit of batch maxima ([FO] §2; Weng et al.'s CLEVER), with guards.

    Estimates an upper end of a quantity known only through maxima over batches (the loss
    Lipschitz constant L, or :math:`\omega(\epsilon)`) by the fitted law's right end point and its
    (1 - p) quantile; ``scipy.stats.genextreme.fit`` does the MLE and ``scipy.stats.kstest`` the
    goodness of fit. The fit is only used when the maxima can carry one: otherwise ``estimate`` is
    the sample maximum and ``fallback`` says why (on a ReLU MLP, repeated maxima gave KS p = 0, an
    infinite end point in 17 of 45 fits and a quantile of 2.3e20; issue 16). Either way the
    estimate is not a bound: report it beside a certified upper bound
    (:func:`layer_norm_product`, :func:`lipschitz_bracket`).
    """
    m = np.asarray(maxima) if not isinstance(maxima, torch.Tensor) else maxima.detach().cpu().numpy()
    if m.ndim == 1 and m.dtype.kind in "iuf" and (m.size < 5 or not np.isfinite(m).all()):
        raise ValueError(f"maxima must hold at least 5 finite values, got {m.size} values "
                         f"({int(np.sum(~np.isfinite(m)))} not finite)")
    m = check_array(m, "maxima", ndim=1, min_size=5)
    p = _check_fraction(p, "p", closed=False)
    min_distinct = _check_fraction(min_distinct, "min_distinct", closed=True)
    ks_level = _check_fraction(ks_level, "ks_level", closed=True)
    top = float(m.max())
    nan = math.nan
    if np.unique(m).size < max(2, min_distinct * m.size):
        return ExtremeValueFit(nan, nan, nan, nan, nan, p, nan, m.size, top, top, "repeated maxima")
    c, loc, scale = stats.genextreme.fit(m)
    endpoint = loc + scale / c if c > 0 else math.inf
    quant = float(stats.genextreme.ppf(1 - p, c, loc, scale))
    pval = float(stats.kstest(m, "genextreme", args=(c, loc, scale)).pvalue)
    reason = None
    if not c > 0:
        reason = "no finite end point"
    elif not pval >= ks_level:
        reason = "fit rejected"
    elif not quant >= top:
        reason = "quantile below the sample maximum"
    return ExtremeValueFit(float(c), float(loc), float(scale), float(endpoint), quant, p, pval, m.size, top,
                           top if reason else quant, reason)


@dataclass(frozen=True)
class LipschitzBracket:
    r"""A Lipschitz constant bracketed: :math:`\text{lower} \le \mathrm{Lip}_{p,q}(f) \le \text{upper}`.

    Attributes
    ----------
    lower : float
        Certified lower bound: a value the function attains, :math:`\max_i \|J_f(x_i)\|_{p,q}` over the
        data (:func:`empirical_lipschitz`), or the largest difference quotient over data pairs,
        whichever is larger.
    upper : float
        Certified upper bound (:func:`layer_norm_product`; inf when the model is not a chain of the
        layers it handles).
    estimate : float or None
        A statistical estimate (CLEVER, GEV) when one was made: not a bound on either side.
    gradient_lower, pair_lower : float
        The two lower bounds: largest Jacobian norm at a sample, largest pair quotient.
    norm, out_norm : float
    exact : bool
        Whether the per-sample Jacobian norms were exact (False: a power-method lower bound).
    """

    lower: float
    upper: float
    estimate: float | None
    gradient_lower: float
    pair_lower: float
    norm: float
    out_norm: float
    exact: bool

    def __str__(self) -> str:
        est = "" if self.estimate is None else f", estimate {self.estimate:.4g}"
        return (f"Lip_({_name(self.norm)}, {_name(self.out_norm)}) in [{self.lower:.4g}, {self.upper:.4g}]"
                f" (empirical lower, certified upper{est})")


def _name(p: float) -> str:
    return "inf" if math.isinf(p) else f"{p:g}"


def pair_lipschitz(model, x, *, norm="L2", out_norm="L2", batch_size: int = 1024) -> float:
    r"""Largest difference quotient :math:`\max_{i \ne j} \|f(x_i) - f(x_j)\|_q / \|x_i - x_j\|_p` over data.

    The Lipschitz constant of the network restricted to the data: a certified lower bound of its
    Lipschitz constant, and the constant the fixed-L program of :func:`best_lipschitz_loss` constrains
    (coincident inputs are skipped). O(n^2) pairs, evaluated in row blocks.
    """
    p = parse_norm(norm)
    q = parse_norm(out_norm, "out_norm")
    batch_size = check_int(batch_size, "batch_size")
    check_inputs(model, x)
    with restore_mode(model, eval_mode=True), torch.no_grad():
        fx = flat(model(x)).to(torch.float64)
    xf = flat(x.detach()).to(torch.float64)
    best = torch.zeros((), dtype=torch.float64, device=xf.device)
    for s in range(0, xf.shape[0], batch_size):
        dx = torch.cdist(xf[s:s + batch_size], xf, p=p)
        dy = torch.cdist(fx[s:s + batch_size], fx, p=q)
        ratio = torch.where(dx > 0, dy / torch.where(dx > 0, dx, torch.ones_like(dx)), torch.zeros_like(dx))
        best = torch.maximum(best, ratio.max())
    return float(best)


def lipschitz_bracket(model, x, *, input_shape=None, norm="L2", out_norm="L2", estimate: float | None = None,
                      seed: int = 0) -> LipschitzBracket:
    r"""Bracket :math:`[\text{empirical lower}, \text{certified upper}]` of :math:`\mathrm{Lip}_{p,q}(f)`.

    Lower: the larger of :math:`\max_i \|J_f(x_i)\|_{p,q}` ([FOA] eq. (5); :func:`empirical_lipschitz`)
    and :func:`pair_lipschitz` on ``x``. Upper: :func:`layer_norm_product` ([FOA] eq. (6)) at
    ``input_shape`` (default one sample's shape), inf when the model is not a chain of the layers it
    handles. ``estimate`` (e.g. from :func:`clever` or :func:`fit_extreme_value`) is carried along
    and printed, not checked.
    """
    p = parse_norm(norm)
    q = parse_norm(out_norm, "out_norm")
    seed = check_seed(seed)
    check_inputs(model, x)
    if input_shape is not None and isinstance(model, nn.Module):
        _check_module(model, input_shape)
    if estimate is not None:
        estimate = _check_real_number(estimate, "estimate")
        if estimate < 0:
            raise ValueError(f"estimate must be a Lipschitz estimate >= 0, got {estimate}")
    grad = empirical_lipschitz(model, x, norm=p, out_norm=q, seed=seed)
    pair = pair_lipschitz(model, x, norm=p, out_norm=q)
    try:
        upper = float(layer_norm_product(model, input_shape=input_shape or tuple(x.shape[1:]), norm=p, out_norm=q))
    except (ValueError, TypeError):
        upper = math.inf
    return LipschitzBracket(max(grad.value, pair), upper, estimate, grad.value, pair, p, q, grad.exact)
