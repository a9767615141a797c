"""p-norms, dual norms, steepest directions and operator norms (seed 003 Table 1)."""
from ._pnorm import dual_exponent, dual_norm, pnorm, steepest_direction

__all__ = ["pnorm", "dual_exponent", "dual_norm", "steepest_direction"]
