"""p-norms, dual norms, steepest directions, operator norms ([RKH] Table 1) and the
power / (p, q) iterations ([RKH] eqs. (4), (6), (11), (12)); numpy and torch alike."""
from ._iteration import OperatorIterationResult, PowerMethodResult, operator_norm_iteration, power_method
from ._operator import METHODS, NormProductResult, OperatorNormResult, layer_norm_product, operator_norm
from ._pnorm import dual_exponent, dual_norm, pnorm, sphere_projection, steepest_direction

__all__ = [
    "pnorm", "dual_exponent", "dual_norm", "steepest_direction", "sphere_projection",
    "operator_norm", "OperatorNormResult", "METHODS",
    "layer_norm_product", "NormProductResult",
    "power_method", "PowerMethodResult",
    "operator_norm_iteration", "OperatorIterationResult",
]
