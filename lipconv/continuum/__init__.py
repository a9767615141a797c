"""Exact continuum references and the fine-quadrature continuum solver ([FCAO] eq. (4.4))."""
from ._lifted import LiftedReference, lifted_reference
from ._minimizer import ContinuumSolution, continuum_minimizer
from ._references import ContinuumReference, ramp_reference, step_reference
from ._reflection import COORDINATE_LAWS, ReflectionReference, reflection_reference

__all__ = [
    "ContinuumReference", "ramp_reference", "step_reference", "ReflectionReference", "reflection_reference",
    "COORDINATE_LAWS", "ContinuumSolution", "continuum_minimizer", "LiftedReference", "lifted_reference",
]
