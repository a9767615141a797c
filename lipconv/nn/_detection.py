r"""Detection of adversarial inputs by the size of the model's gradient ([FCAO] §7)."""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from ..norms import operator_norm
from ._common import checked_outputs, parse_norm
from ._estimation import jacobian

__all__ = ["GradientNormDetector", "gradient_norm_detector"]


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
        checked_outputs(model, x, classes=self.softmax)
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
    if isinstance(fpr, bool) or not isinstance(fpr, numbers.Real) or not 0 < fpr < 1:
        raise ValueError(f"fpr must be in (0, 1), got {fpr!r}")
    if not isinstance(softmax, bool):
        raise TypeError(f"softmax must be True or False, got {softmax!r}")
    checked_outputs(model, x_clean, classes=softmax, x_name="x_clean")
    s = np.sort(_detector_scores(model, x_clean, p, q, softmax))
    allowed = int(math.floor(fpr * s.size + 1e-9))  # clean inputs that may exceed the threshold
    c = float(s[s.size - allowed - 1])
    return GradientNormDetector(c, float(fpr), p, q, bool(softmax), float((s > c).mean()))
