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
    "GradientNormDetector",
    "gradient_norm_detector",
]


def margin_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    r"""Carlini-Wagner margin :math:`\ell(x) = \max_{i \ne c} f_i(x) - f_c(x)` per sample (seed 002, §2).

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
    r"""Error curve :math:`C_{err}(\epsilon) = P\{\|a\| \le \epsilon \text{ misclassifies}\}` (seed 001, Def. 5.1).

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
    """Median of the per-sample minimal adversarial distances (seed 001, §5.1; +inf counts, so the
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
    """Empirical Lipschitz constant :math:`\\max_i \\|\\nabla g(x_i)\\|` over data (seed 001, eq. (5)).

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
    r"""Maximum gradient norm over data, a lower bound on Lip (seed 001, eq. (5)).

    ``of="loss"``: :math:`\max_i \|\nabla_x \ell(x_i)\|_*` (dual of the input norm; needs ``y``).
    ``of="model"``: :math:`\max_i \|J_f(x_i)\|_{p, q}` with p = ``norm``, q = ``out_norm``, from the
    extracted Jacobians (:func:`jacobian`) by ``lipconv.norms.operator_norm``: closed forms for the
    tractable entries of seed 003, Table 1, brute force for small NP-hard ones, otherwise the
    power-method lower bound (then ``exact`` is False; the estimate stays a lower bound of Lip).
    Compare with :func:`layer_norm_product` (seed 001, eq. (6)), an upper bound.
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
_ACTIVATIONS = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.Identity, nn.Dropout, nn.Flatten)


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
    r"""Data-independent bound :math:`\mathrm{Lip}_{p,q}(f) \le \prod_k \|W_k\|_{p_{k-1}\to p_k}` (seed 001, eq. (6)).

    For a sequential model of Linear, Conv, average-pooling and (eval-mode) BatchNorm layers separated by
    1-Lipschitz elementwise activations (ReLU, tanh, ...), with :math:`p_0 = \dots = p_{N-1} = p` and
    :math:`p_N = q`: every elementwise 1-Lipschitz map is 1-Lipschitz in every l_p norm, so any
    intermediate choice gives a bound, and keeping p throughout keeps each factor computable.
    Convolutions and poolings are turned into their dense matrices at ``input_shape`` (so keep the
    input small), and BatchNorm into the
    diagonal scaling (seed 001, §4: omitting it misses terms). The product itself is
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
    r"""(L-bound) of seed 002, Proposition 2.2: :math:`\|v\| \ge \max\{\ell_0 - \ell(x), 0\}/L`.

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
    r"""(omega-bound) of seed 002, Proposition 2.2, as a certified radius per sample.

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

    The sampled version of seed 002, eq. (5): ``n_samples`` random directions of the ``norm`` sphere
    plus the steepest-ascent direction, each scaled to radius eps. A lower estimate of
    :math:`\omega(\epsilon)` at x; batch maxima of it feed :func:`fit_extreme_value`. No clamping.
    """
    p = parse_norm(norm)
    eps = check_eps(eps)
    n_samples = check_int(n_samples, "n_samples")
    check_batch(x, y)
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    best = torch.full((x.shape[0],), -math.inf, dtype=torch.float64)
    with restore_mode(model, eval_mode=True):
        g, loss = input_gradient(model, x, y, loss_fn)
        loss = loss.detach()
        dirs = [steepest_direction(flat(g), p)]
        for _ in range(n_samples):
            z = torch.randn(flat(x).shape, generator=gen, dtype=torch.float64).to(x)
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
        scipy's parameters (scipy's sign of c is the opposite of many texts).
    endpoint : float
        Right end of the support, loc + scale / c when c > 0 (reverse Weibull), else +inf.
    quantile : float
        The (1 - p) quantile of the fitted law: the estimate used by seed 002 (p = 0.001).
    p : float
    pvalue : float
        Kolmogorov-Smirnov p-value of the sample against the fitted law (optimistic, since the
        parameters were fitted to the same sample; a small value rejects the fit).
    n : int
        Number of maxima.
    sample_max : float
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


def fit_extreme_value(maxima, *, p: float = 1e-3) -> ExtremeValueFit:
    r"""Maximum-likelihood GEV fit of batch maxima (seed 002, §2; Weng et al.'s CLEVER).

    Estimates an upper bound of a quantity known only through maxima over batches (the loss
    Lipschitz constant L, or :math:`\omega(\epsilon)`) by the fitted law's right end point and its
    (1 - p) quantile; ``scipy.stats.genextreme.fit`` does the MLE and ``scipy.stats.kstest`` the
    goodness of fit.
    """
    m = np.asarray(maxima, dtype=float).reshape(-1)
    if m.size < 5 or not np.isfinite(m).all():
        raise ValueError(f"maxima must hold at least 5 finite values, got {m.size} values")
    if not 0 < p < 1:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if np.ptp(m) == 0:
        v = float(m[0])
        return ExtremeValueFit(math.inf, v, 0.0, v, v, p, 1.0, m.size, v)
    c, loc, scale = stats.genextreme.fit(m)
    endpoint = loc + scale / c if c > 0 else math.inf
    quant = float(stats.genextreme.ppf(1 - p, c, loc, scale))
    pval = float(stats.kstest(m, "genextreme", args=(c, loc, scale)).pvalue)
    return ExtremeValueFit(float(c), float(loc), float(scale), float(endpoint), quant, p, pval, m.size,
                           float(m.max()))


@dataclass(frozen=True)
class GradientNormDetector:
    r"""Adversarial-input detector :math:`\|\nabla g(x)\|_{p,q} > c` (seed 000, §7, eq. (7.1)).

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
        """Per-sample Jacobian operator norms (seed 000, eq. (7.1))."""
        return _detector_scores(model, x, self.norm, self.out_norm, self.softmax)

    def detect(self, model, x) -> np.ndarray:
        """Boolean flags: True where the input is rejected as adversarial."""
        return self.scores(model, x) > self.threshold


def _detector_scores(model, x, p, q, softmax):
    J = jacobian(model, x, transform=(lambda z: torch.softmax(z, dim=1)) if softmax else None).detach()
    return torch.as_tensor(operator_norm(J, p, q).value).reshape(-1).cpu().to(torch.float64).numpy()


def gradient_norm_detector(model, x_clean, *, fpr: float = 0.05, norm="L2", out_norm="Linf",
                           softmax: bool = True) -> GradientNormDetector:
    r"""Calibrate the gradient-norm detector of seed 000, §7 at false-positive rate ``fpr`` on clean data.

    The score is :math:`\|J_g(x)\|_{p\to q}` with :math:`g` the model's probabilities (seed 000 uses
    :math:`\|\nabla f(x)\|_{2,\infty}`, the largest l2 norm of a class-probability gradient), and the
    threshold is the smallest clean score that at most ``fpr`` of the clean inputs exceed.
    """
    p = parse_norm(norm)
    q = parse_norm(out_norm, "out_norm")
    if isinstance(fpr, bool) or not isinstance(fpr, (int, float)) or not 0 < fpr < 1:
        raise ValueError(f"fpr must be in (0, 1), got {fpr}")
    check_batch(x_clean, name="x_clean")
    s = _detector_scores(model, x_clean, p, q, softmax)
    c = float(np.quantile(s, 1 - fpr, method="higher"))
    return GradientNormDetector(c, float(fpr), p, q, bool(softmax), float((s > c).mean()))
