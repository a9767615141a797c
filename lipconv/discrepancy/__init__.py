"""The discrepancy of [FCAO] Lemma 4.10: W1(rho_n, rho), its bound and the sharp rates."""
from ._bounds import discrepancy_bound, sharp_exponent, sharp_rate, theory_exponent
from ._wasserstein import DEFAULT_MIN_POINTS, W1Result, wasserstein1

__all__ = [
    "wasserstein1", "W1Result", "DEFAULT_MIN_POINTS",
    "discrepancy_bound", "sharp_rate", "theory_exponent", "sharp_exponent",
]
