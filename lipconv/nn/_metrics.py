r"""Robustness metrics: error curves, empirical Lipschitz constants and bounds, EVT fits, detection.

Data-dependent quantities run the model in eval mode (restoring every module's flag afterwards), so
that each sample's gradient or Jacobian is its own.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn as nn
from scipy import stats

from ..norms import dual_norm, operator_norm, steepest_direction
from ..norms import layer_norm_product as _chain_product
from .._validation import check_int, check_positive
from ._common import check_batch, default_loss, check_eps, flat, input_gradient, parse_norm, restore_mode

__all__ = [
    "margin_loss",
    "error_curve",
    "median_adversarial_distance",
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
    "GradientNormDetector",
    "gradient_norm_detector",
    "CleverResult",
    "clever",
]


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Carlini-Wagner margin :math:`\ell(x) = \max_{i \ne c} f_i(x) - f_c(x)` per sample ([FO] §2).

    Negative exactly when the sample is classified correctly, so :math:`\ell_0 = 0` in
    :func:`l_bound` and :func:`omega_bound`.
    """
    true = logits.gather(1, y.reshape(-1, 1)).reshape(-1)
    other = logits.scatter(1, y.reshape(-1, 1), -math.inf).amax(dim=1)
    return other - true


def _check_distances(distances) -> np.ndarray:
    d = np.asarray(distances, dtype=float)
    if d.ndim != 1 or d.size == 0:
        raise ValueError(f"distances must be a non-empty 1-D array, got shape {d.shape}")
    if np.isnan(d).any() or (d < 0).any():
        raise ValueError("distances must be >= 0 (+inf for a failed attack), got NaN or negative entries")
    return d


def error_curve(distances, eps) -> np.ndarray:
    r"""Error curve :math:`C_{err}(\epsilon) = P\{\|a\| \le \epsilon \text{ misclassifies}\}` ([FOA] Def. 5.1).

    Computed from per-sample minimal adversarial distances (:func:`minimal_adversarial_distance`):
    the fraction with distance :math:`\le \epsilon`. A failed attack is ``+inf`` and never counts;
    a clean error is 0 and counts at every radius, so :math:`C_{err}(0)` is the test error.

    Parameters
    ----------
    distances : array (n,)
    eps : float or array (m,)

    Returns
    -------
    numpy.ndarray, shape (m,) (or a float for scalar eps)
    """
    d = _check_distances(distances)
    e = np.asarray(eps, dtype=float)
    if np.isnan(e).any() or (e < 0).any():
        raise ValueError(f"eps must be >= 0, got {eps}")
    out = (d[None, :] <= e.reshape(-1, 1)).mean(axis=1)
    return float(out[0]) if e.ndim == 0 else out


def median_adversarial_distance(distances) -> float:
    """Median of the per-sample minimal adversarial distances ([FOA] §5.1; +inf counts, so the
    median is +inf when at least half the attacks failed)."""
    return float(np.median(_check_distances(distances)))


def jacobian(model, x, *, transform: Callable | None = None) -> torch.Tensor:
    r"""Per-sample Jacobians :math:`J_i = \partial g(x_i)/\partial x_i`, shape (n, k, N), g = transform∘model.

    One backward pass per output (k passes); samples stay separate because the model runs in eval
    mode. Meant for small models and metrics, not for training.
    """
    check_batch(x)
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
    check_batch(data, y, name="data")
    if of == "loss" and y is None:
        raise ValueError("y must be given when of='loss', got None")
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


def _layer_matrices(model: nn.Module, input_shape) -> list[torch.Tensor]:
    """Dense matrices of the affine layers of a sequential model, in order (biases dropped)."""
    mats = []
    shape = tuple(input_shape)
    dtype = next(model.parameters()).dtype
    device = next(model.parameters()).device
    with restore_mode(model, eval_mode=True):
        z = torch.zeros((1,) + shape, dtype=dtype, device=device)
        for mod in (m for m in model.modules() if not list(m.children())):
            if isinstance(mod, nn.Linear):
                mats.append(mod.weight.detach())
            elif isinstance(mod, _LINEAR_MAPS):
                if isinstance(mod, _CONVS):
                    fn = lambda t, mod=mod: mod._conv_forward(t, mod.weight, None)  # noqa: E731
                else:
                    fn = mod
                J = torch.autograd.functional.jacobian(fn, z.detach())
                out_n = J.shape[: J.ndim // 2].numel()
                mats.append(J.reshape(out_n, -1).detach())
            elif isinstance(mod, nn.modules.batchnorm._BatchNorm):
                scale = (mod.weight.detach() if mod.affine else 1.0) / torch.sqrt(mod.running_var + mod.eps)
                per = z[0].numel() // scale.numel()
                mats.append(torch.diag(scale.repeat_interleave(per)))
            elif isinstance(mod, nn.LeakyReLU) and abs(mod.negative_slope) > 1:
                raise ValueError(f"model layers must be 1-Lipschitz, got LeakyReLU slope {mod.negative_slope}")
            elif isinstance(mod, nn.ELU) and mod.alpha > 1:
                raise ValueError(f"model layers must be 1-Lipschitz, got ELU alpha {mod.alpha}")
            elif not isinstance(mod, _ACTIVATIONS):
                raise ValueError(f"model must be a sequence of Linear/Conv/AvgPool/BatchNorm layers and 1-Lipschitz "
                                 f"elementwise activations, got {type(mod).__name__}")
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
    lv = np.asarray(loss_values, dtype=float)
    return np.maximum(l0 - lv, 0.0) / L


def omega_bound(loss_values, grad_norms, eps, omega, *, l0: float = 0.0) -> np.ndarray:
    r"""(omega-bound) of [FO] Proposition 2.2, as a certified radius per sample.

    The minimal adversarial distance is at least :math:`\epsilon` whenever
    :math:`(\ell_0 - \ell(x) - \omega(\epsilon))/\|\nabla\ell(x)\|_* \ge \epsilon`. Given the modulus of
    continuity on an increasing grid ``eps`` (``omega[j]`` = :math:`\omega(\epsilon_j)`), returns for each
    sample the largest grid radius that satisfies it (0 when none does; a zero gradient with a
    positive gap certifies every radius in the grid).
    """
    lv = np.asarray(loss_values, dtype=float).reshape(-1)
    gn = np.asarray(grad_norms, dtype=float).reshape(-1)
    e = np.asarray(eps, dtype=float).reshape(-1)
    om = np.asarray(omega, dtype=float).reshape(-1)
    if lv.shape != gn.shape:
        raise ValueError(f"grad_norms must have the shape of loss_values {lv.shape}, got {gn.shape}")
    if e.shape != om.shape or e.size == 0:
        raise ValueError(f"omega must have the shape of eps {e.shape} (non-empty), got {om.shape}")
    if (np.diff(e) <= 0).any() or (e < 0).any():
        raise ValueError("eps must be >= 0 and strictly increasing")
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
    check_batch(x, y)
    gen = torch.Generator(device=x.device).manual_seed(int(seed))
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
    m = np.asarray(maxima, dtype=float).reshape(-1)
    if m.size < 5 or not np.isfinite(m).all():
        raise ValueError(f"maxima must hold at least 5 finite values, got {m.size} values")
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if not 0 <= min_distinct <= 1:
        raise ValueError(f"min_distinct must be in [0, 1], got {min_distinct}")
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
    check_batch(x)
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
    check_batch(x)
    grad = empirical_lipschitz(model, x, norm=p, out_norm=q, seed=seed)
    pair = pair_lipschitz(model, x, norm=p, out_norm=q)
    try:
        upper = float(layer_norm_product(model, input_shape=input_shape or tuple(x.shape[1:]), norm=p, out_norm=q))
    except ValueError:
        upper = math.inf
    return LipschitzBracket(max(grad.value, pair), upper, estimate, grad.value, pair, p, q, grad.exact)


@dataclass(frozen=True)
class CleverResult:
    r"""CLEVER scores and the Lipschitz estimates behind them (:func:`clever`).

    For sample i with predicted class c and target class j, :math:`g = f_c - f_j` and

    .. math:: \text{score}_{ij} = \min\big(g(x_i) / \hat L_{ij},\ R\big),\qquad
              \text{score}_i = \min_{j \ne c} \text{score}_{ij}.

    Attributes
    ----------
    score : numpy.ndarray, shape (n,)
        Untargeted CLEVER score (ART's ``clever_u``); 0 for a sample whose margin is not positive.
    lipschitz : numpy.ndarray, shape (n, k)
        :math:`\hat L_{ij}`: the reverse-Weibull location estimate, raised to ``sample_max`` when below
        it, or ``sample_max`` where the fit was not used (``fallback``); NaN at the predicted class.
    sample_max : numpy.ndarray, shape (n, k)
        Largest :math:`\|\nabla g\|_*` met in the ball (pool and ascent): attained, so a certified lower
        bound of the Lipschitz constant of g on the ball.
    upper : numpy.ndarray, shape (n, k)
        Certified upper bound of the (global) Lipschitz constant of g from the layer norms (inf when
        the model is not a chain :func:`layer_norm_product` handles).
    fallback : numpy.ndarray of bool, shape (n, k)
        Where the fit was replaced by the sample maximum: the pool's largest gradient norm is
        attained at several pool points (repeated maxima: a piecewise-linear network has the same
        gradient on a whole region), or the fitted location is not finite.
    margin : numpy.ndarray, shape (n, k)
        :math:`f_c(x_i) - f_j(x_i)`.
    predicted : numpy.ndarray, shape (n,)
    radius, norm : float
    nb_batches, batch_size, pool_factor, seed : int
    """

    score: np.ndarray
    lipschitz: np.ndarray
    sample_max: np.ndarray
    upper: np.ndarray
    fallback: np.ndarray
    margin: np.ndarray
    predicted: np.ndarray
    radius: float
    norm: float
    nb_batches: int
    batch_size: int
    pool_factor: int
    seed: int

    def brackets(self) -> list[str]:
        """Per sample, for the class attaining the score: "[lower, upper] estimate E (fallback)"."""
        out = []
        for i in range(self.score.shape[0]):
            ratio = np.where(np.isnan(self.lipschitz[i]), np.inf, self.margin[i] / self.lipschitz[i])
            j = int(np.argmin(ratio))
            flag = " (sample max: fit not used)" if self.fallback[i, j] else ""
            out.append(f"class {j}: Lip in [{self.sample_max[i, j]:.4g}, {self.upper[i, j]:.4g}], "
                       f"CLEVER estimate {self.lipschitz[i, j]:.4g}{flag}")
        return out


def _margin_upper_bounds(model, input_shape, p: float, k: int) -> np.ndarray:
    """(k, k) certified upper bounds of Lip_p(f_c - f_j): the layer-norm product with the last
    Linear layer replaced by its row difference when the model ends in one, else 2 Lip_{p,inf}(f)."""
    try:
        mats = _layer_matrices(model, input_shape)
    except ValueError:
        return np.full((k, k), math.inf)
    leaves = [m for m in model.modules() if not list(m.children())] if isinstance(model, nn.Module) else []
    if leaves and isinstance(leaves[-1], nn.Linear) and len(mats) >= 1:
        W = mats[-1].to(torch.float64)
        rows = (W[:, None, :] - W[None, :, :]).reshape(k * k, -1)
        last = dual_norm(rows, p).reshape(k, k)
        head = float(_chain_product(mats[:-1], p, p)) if len(mats) > 1 else 1.0
        return (head * last).cpu().numpy()
    return np.full((k, k), 2.0 * float(_chain_product(mats, p, math.inf)))


def _ascend_gradient_norm(model, xi, starts, c, targets, *, radius, p, clamp, steps):
    r"""Largest :math:`\|\nabla(f_c - f_j)\|_*` met by projected ascent on it from ``starts`` (one target
    class per start; steps of radius / 20 along the attack norm's steepest direction, kept in the
    ball and the box). Returns the per-start maxima (each attained at a point of the ball)."""
    from ._attacks import _clamp, _project_ball, _radius

    r = _radius(radius, flat(starts))
    base = xi.expand_as(starts)
    best = torch.full((starts.shape[0],), -math.inf, dtype=torch.float64, device=starts.device)
    z = starts.detach()
    for it in range(steps + 1):
        zg = z.detach().requires_grad_(True)
        out = flat(model(zg))
        margin = out[:, c] - out.gather(1, targets[:, None])[:, 0]
        (gr,) = torch.autograd.grad(margin.sum(), zg, create_graph=it < steps)
        h = dual_norm(flat(gr), p)
        best = torch.maximum(best, h.detach().to(torch.float64))
        if it == steps or not h.requires_grad:
            break
        (dh,) = torch.autograd.grad(h.sum(), zg, allow_unused=True)
        if dh is None:  # the gradient norm does not depend on x (a linear model)
            break
        step = (radius / 20) * steepest_direction(flat(dh), p).reshape(z.shape)
        z = _clamp(base + _project_ball(z + step - base, r, p), clamp).detach()
    return best


def clever(model, x, *, radius: float, norm="L2", nb_batches: int = 50, batch_size: int = 10,
           pool_factor: int = 10, c_init: float = 1.0, clamp=(0.0, 1.0), input_shape=None,
           refine: int = 20, seed: int = 0) -> CleverResult:
    r"""CLEVER robustness scores (Weng et al., ICLR 2018) with ART's sampling semantics, and guards.

    Follows ``art.metrics.clever_u`` / ``clever_t`` (Adversarial Robustness Toolbox 1.20): for each
    sample, a pool of ``pool_factor * batch_size`` points uniform in the ``norm`` ball of radius
    ``radius`` (clipped to ``clamp``); at each the dual norm of :math:`\nabla(f_c - f_j)`; then
    ``nb_batches`` batches of ``batch_size`` pool entries drawn with replacement, their maxima, and
    the location of a reverse Weibull law fitted to them (``weibull_min.fit(-maxima, c_init,
    optimizer=fmin)``, as ART does) as the estimate :math:`\hat L` of the local Lipschitz constant.
    The score is :math:`\min(\text{margin}/\hat L, R)`, minimized over target classes.

    Differences from ART: (1) ``refine`` steps of projected ascent on the gradient norm itself,
    from the 8 best pool points of each class, raise the sampled maximum (random points rarely
    land where the gradient peaks: on a digits tanh MLP the pool maximum and the fit ran at 0.75 of a
    dense search's maximum in 44 of 45 cases); ``refine=0`` is ART's sampling. (2) A guard: where
    the pool's largest gradient norm is attained at several pool points (a ReLU network's
    piecewise-constant gradient), or the fit's location is not finite, :math:`\hat L` is the
    largest value met and ``fallback`` is set; a fitted location below it is raised to it. Every
    estimate comes
    with its certified bracket [``sample_max``, ``upper``] (see :class:`CleverResult`): the
    estimate itself is statistical, neither a lower nor an upper bound of the Lipschitz constant.

    Parameters
    ----------
    model : callable, x -> logits (n, k)
    x : torch.Tensor, shape (n, ...)
    radius : float > 0
    norm : {"L2", "Linf", "L1"}
    nb_batches, batch_size, pool_factor : int
        ART's parameters (CLEVER's paper: 500 batches of 1024; ART's pool_factor default 10).
    c_init : float
        Initial Weibull shape of the fit.
    clamp : (low, high) or None
    input_shape : tuple, optional
        For the certified upper bound (default one sample's shape).
    refine : int >= 0
        Ascent steps on the gradient norm (0: ART's sampling only).
    seed : int
        Seeds the pool (torch, on x's device) and the batch draws (numpy).
    """
    from scipy.optimize import fmin

    from ._attacks import _check_clamp, _generator, _random_in_ball, _radius

    p = parse_norm(norm)
    radius = check_eps(radius, "radius", allow_zero=False)
    nb_batches = check_int(nb_batches, "nb_batches")
    batch_size = check_int(batch_size, "batch_size")
    pool_factor = check_int(pool_factor, "pool_factor")
    refine = check_int(refine, "refine", minimum=0)
    clamp = _check_clamp(clamp)
    check_batch(x)
    n = x.shape[0]
    P = pool_factor * batch_size
    rng = np.random.default_rng(seed)
    gen = _generator(x, seed)
    with restore_mode(model, eval_mode=True), torch.no_grad():
        logits = flat(model(x.detach())).to(torch.float64)
    k = logits.shape[1]
    pred = logits.argmax(dim=1)
    margin = (logits.gather(1, pred[:, None]) - logits).cpu().numpy()
    est = np.full((n, k), math.nan)
    smax = np.full((n, k), math.nan)
    fb = np.zeros((n, k), dtype=bool)
    for i in range(n):  # one pool of P points per sample; the Jacobians are batched over the pool
        xi = x[i:i + 1].detach().expand((P,) + tuple(x.shape[1:]))
        pool = xi + _random_in_ball(xi, _radius(radius, flat(xi)), p, gen)
        if clamp is not None:
            pool = pool.clamp(clamp[0], clamp[1])
        J = jacobian(model, pool).to(torch.float64)  # (P, k, N)
        c = int(pred[i])
        G = dual_norm(J[:, c:c + 1, :] - J, p).cpu().numpy()  # (P, k)
        draws = rng.integers(0, P, size=(nb_batches, batch_size))
        maxima = G[draws].max(axis=1)  # (nb_batches, k)
        refined = np.full(k, -math.inf)
        if refine:
            js = [j for j in range(k) if j != c]
            m = min(8, P)
            order = np.argsort(-G, axis=0, kind="stable")[:m]  # (m, k) best pool points per class
            starts = pool[torch.as_tensor(order[:, js].T.reshape(-1), device=x.device)]
            targets = torch.as_tensor(np.repeat(js, m), device=x.device)
            with restore_mode(model, eval_mode=True):
                got = _ascend_gradient_norm(model, x[i:i + 1].detach(), starts, c, targets, radius=radius, p=p,
                                            clamp=clamp, steps=refine).cpu().numpy().reshape(len(js), m)
            refined[js] = got.max(axis=1)
        for j in range(k):
            if j == c:
                continue
            top = max(float(G[:, j].max()), float(refined[j]))
            smax[i, j] = top
            repeated = np.count_nonzero(G[:, j] >= top * (1 - 1e-12)) > 1
            loc = math.nan
            if not repeated and np.ptp(maxima[:, j]) > 0:
                _, loc, _ = stats.weibull_min.fit(-maxima[:, j], c_init, optimizer=lambda f, x0, args=(), disp=0:
                                                  fmin(f, x0, args=args, disp=disp))
            fit = -float(loc)
            if repeated or not math.isfinite(fit):
                est[i, j], fb[i, j] = top, True
            else:
                est[i, j] = max(fit, top)
    upper = _margin_upper_bounds(model, input_shape or tuple(x.shape[1:]), p, k)[pred.cpu().numpy()]
    with np.errstate(divide="ignore", invalid="ignore"):
        per = np.where(np.isnan(est), np.inf, np.minimum(np.maximum(margin, 0) / est, radius))
    return CleverResult(per.min(axis=1), est, smax, upper, fb, margin, pred.cpu().numpy(), radius, p,
                        nb_batches, batch_size, pool_factor, int(seed))


@dataclass(frozen=True)
class GradientNormDetector:
    r"""Adversarial-input detector :math:`\|\nabla g(x)\|_{p,q} > c` ([FCAO] §7, eq. (7.1)).

    Attributes
    ----------
    threshold : float
        c, the (1 - fpr) empirical quantile of the clean scores.
    fpr : float
        Target false-positive rate on clean data.
    norm, out_norm : float
    softmax : bool
        Whether g is softmax∘model (the model's probabilities) or the logits.
    clean_rejection : float
        Measured rejection rate on the clean calibration data (<= fpr).
    """

    threshold: float
    fpr: float
    norm: float
    out_norm: float
    softmax: bool
    clean_rejection: float

    def scores(self, model, x) -> np.ndarray:
        """Per-sample Jacobian operator norms ([FCAO] eq. (7.1))."""
        return _detector_scores(model, x, self.norm, self.out_norm, self.softmax)

    def detect(self, model, x) -> np.ndarray:
        """Boolean flags: True where the input is rejected as adversarial."""
        return self.scores(model, x) > self.threshold


def _detector_scores(model, x, p, q, softmax):
    J = jacobian(model, x, transform=(lambda z: torch.softmax(z, dim=1)) if softmax else None).detach()
    return torch.as_tensor(operator_norm(J, p, q).value).reshape(-1).cpu().to(torch.float64).numpy()


def gradient_norm_detector(model, x_clean, *, fpr: float = 0.05, norm="L2", out_norm="Linf",
                           softmax: bool = True) -> GradientNormDetector:
    r"""Calibrate the gradient-norm detector of [FCAO] §7 at false-positive rate ``fpr`` on clean data.

    The score is :math:`\|J_g(x)\|_{p\to q}` with :math:`g` the model's probabilities ([FCAO] uses
    :math:`\|\nabla f(x)\|_{2,\infty}`, the largest l2 norm of a class-probability gradient), and the
    threshold is the smallest clean score that at most ``fpr`` of the clean inputs exceed.
    """
    p = parse_norm(norm)
    q = parse_norm(out_norm, "out_norm")
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0 < fpr < 1:
        raise ValueError(f"fpr must be in (0, 1), got {fpr}")
    check_batch(x_clean, name="x_clean")
    s = np.sort(_detector_scores(model, x_clean, p, q, softmax))
    allowed = int(math.floor(fpr * s.size + 1e-9))  # clean inputs that may exceed the threshold
    c = float(s[s.size - allowed - 1])
    return GradientNormDetector(c, float(fpr), p, q, bool(softmax), float((s > c).mean()))
