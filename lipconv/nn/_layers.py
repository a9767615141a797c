"""Layers used by the seeds' defended models."""
from __future__ import annotations

import torch
import torch.nn as nn

from .._validation import check_int, check_positive

__all__ = ["TanhLogits"]


class TanhLogits(nn.Module):
    r"""Pre-softmax sigmoid layer :math:`z \mapsto t\,\tanh(\mathrm{BN}(z))` ([FOA] App. A.1).

    BatchNorm without learnable parameters, then ``t * tanh``, with ``t`` a single learnable scalar
    shared by all inputs. The logits are bounded by ``|t|``, which bounds how far apart the softmax
    can push the classes.

    Parameters
    ----------
    num_features : int
        Number of logits k (inputs of shape (n, k)).
    t0 : float
        Initial value of t, > 0.
    """

    def __init__(self, num_features: int, *, t0: float = 1.0):
        super().__init__()
        num_features = check_int(num_features, "num_features")
        t0 = check_positive(t0, "t0")
        self.bn = nn.BatchNorm1d(num_features, affine=False)
        self.t = nn.Parameter(torch.tensor(t0))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.t * torch.tanh(self.bn(z))
