"""Sampled manifolds in [0,1]^d with densities, quadratures and label functions ([FCAO] Section 4)."""
from ._base import DENSITIES, Manifold
from ._curved import CurvedTorus
from ._labels import (
    Label, corrupt_labels, onehot_label, ramp_label, sine_label, smooth_label, soft_label, step_label,
)
from ._manifolds import Circle, FlatCube, Sphere, Torus

__all__ = [
    "Manifold", "DENSITIES", "FlatCube", "Circle", "Sphere", "Torus", "CurvedTorus",
    "Label", "ramp_label", "step_label", "smooth_label", "sine_label", "onehot_label", "soft_label", "corrupt_labels",
]
