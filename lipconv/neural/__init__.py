"""Neural network approximator of the empirical minimizer u_n ([FCAO] eq. (2.6) with eps = 0).

Importing this subpackage imports torch; ``import lipconv`` alone does not.
"""
from ._lipschitz import LipschitzBracket, box_lipschitz_bounds, lipschitz_bracket
from ._regression import NeuralResult, gradient_norms, neural_lipschitz_regression, rate_runner

__all__ = ["neural_lipschitz_regression", "NeuralResult", "gradient_norms", "rate_runner", "box_lipschitz_bounds",
           "lipschitz_bracket", "LipschitzBracket"]
