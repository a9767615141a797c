"""Deep-network regularizers, attacks and robustness metrics (PyTorch, any device).

Importing this subpackage imports torch (an optional dependency: ``pip install lipconv[torch]``);
``import lipconv`` alone does not. Everything runs on the device and dtype of its inputs.

Conventions: inputs in [0, 1] (normalization inside the model); ``eps`` is a radius in the attack
norm; ``norm`` is one of "L2", "Linf", "L1" (or 2, inf, 1); losses are per sample
(``reduction="none"``); every function restores each module's train/eval flag.

Per-sample input gradients: BatchNorm in train mode normalizes with batch statistics and so couples
the samples of a batch; the regularizers compute input gradients and Jacobian products with the
BatchNorm layers (only them) switched to their running statistics (:func:`per_sample_mode`), which
makes sample i's gradient depend on x_i alone. Attacks and metrics run the whole model in eval mode.
Dropout left in train mode draws a new mask at every forward pass, so the Jacobian power iterations
then see a different network at each pass: use eval mode, or no dropout, for those. A BatchNorm
without running statistics (``track_running_stats=False``) normalizes with the batch in every mode;
the functions that need per-sample gradients refuse it (``ValueError``) rather than mix samples.

Devices: everything runs on the inputs' device and dtype (bfloat16 and float16 included); random
starts are drawn on that device, and the hot loops (PGD steps, Jacobian power iterations) read
nothing back to the host. :class:`RegularizedLoss` computes the gradient penalties on the data
loss's own forward pass when no BatchNorm is in train mode ([FO] Algorithm 1).

Robustness evaluation: ``pgd``/``minimal_adversarial_distance`` in l1 run L1-APGD (adaptive step
and sparsity, exact projection onto the l1 ball intersected with the box); :func:`clever` (ART's
CLEVER inside a certified bracket), :func:`fit_extreme_value` ([FO]'s GEV, guarded), and
:func:`lipschitz_bracket` report Lipschitz estimates beside certified bounds;
:func:`lipschitz_loss_gap` compares a network's training loss with the best loss any function of
its Lipschitz constant reaches on the same data (``lipconv.solvers``, fixed L).

Bad input (a non-tensor, an integer or complex dtype, NaN or inf, an empty batch, labels of the
wrong kind or out of range, a one-output model where classes are needed, inputs outside the box an
attack clamps to) raises ``TypeError`` or ``ValueError`` naming the parameter, from one check
(``lipconv.nn._common.check_inputs``) that reads the data back once per call, never in a hot loop.

Modules: ``_regularizers`` (penalties), ``_attacks`` and ``_l1`` (attacks, distances, error curves),
``_estimation`` (Lipschitz bounds, estimates, GEV), ``_clever``, ``_detection``, ``_best_loss``.
"""
from ._attacks import (
    AdversarialDistances,
    error_curve,
    fgsm,
    median_adversarial_distance,
    minimal_adversarial_distance,
    pgd,
    project_ball,
)
from ._best_loss import BestLossRow, LipschitzLossGap, lipschitz_loss_gap
from ._clever import CleverResult, clever, reverse_weibull_location
from ._common import per_sample_mode
from ._detection import GradientNormDetector, gradient_norm_detector
from ._estimation import (
    ExtremeValueFit,
    LipschitzBracket,
    LipschitzEstimate,
    empirical_lipschitz,
    fit_extreme_value,
    jacobian,
    l_bound,
    layer_norm_product,
    lipschitz_bracket,
    margin_loss,
    modulus_of_continuity,
    omega_bound,
    pair_lipschitz,
)
from ._layers import TanhLogits
from ._regularizers import (
    JacobianNormResult,
    PenaltyResult,
    RegularizedLoss,
    RegularizedLossResult,
    double_backprop_penalty,
    fd_gradient_penalty,
    global_spectral_penalty,
    jacobian_operator_norm,
    jacobian_operator_penalty,
    jacobian_spectral_penalty,
    lipschitz_penalty,
    tv_penalty,
)

__all__ = [
    "tv_penalty",
    "lipschitz_penalty",
    "fd_gradient_penalty",
    "double_backprop_penalty",
    "jacobian_operator_norm",
    "jacobian_spectral_penalty",
    "jacobian_operator_penalty",
    "global_spectral_penalty",
    "PenaltyResult",
    "JacobianNormResult",
    "RegularizedLoss",
    "RegularizedLossResult",
    "TanhLogits",
    "per_sample_mode",
    "fgsm",
    "pgd",
    "project_ball",
    "minimal_adversarial_distance",
    "AdversarialDistances",
    "margin_loss",
    "error_curve",
    "median_adversarial_distance",
    "jacobian",
    "empirical_lipschitz",
    "LipschitzEstimate",
    "layer_norm_product",
    "l_bound",
    "omega_bound",
    "modulus_of_continuity",
    "fit_extreme_value",
    "ExtremeValueFit",
    "gradient_norm_detector",
    "GradientNormDetector",
    "clever",
    "CleverResult",
    "reverse_weibull_location",
    "lipschitz_bracket",
    "LipschitzBracket",
    "pair_lipschitz",
    "lipschitz_loss_gap",
    "LipschitzLossGap",
    "BestLossRow",
]
