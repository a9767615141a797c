"""The discrepancy of [FCAO] Lemma 4.10: W1(rho_n, rho), its bound and the sharp rates."""
from ._bounds import (
    ball_mass_constant, discrepancy_bound, quantization_floor, sharp_exponent, sharp_rate, theory_exponent,
)
from ._wasserstein import DEFAULT_MIN_POINTS, W1Result, wasserstein1

__all__ = [
    "wasserstein1", "W1Result", "DEFAULT_MIN_POINTS",
    "discrepancy_bound", "sharp_rate", "theory_exponent", "sharp_exponent", "ball_mass_constant", "quantization_floor",
]
