r"""How far a trained network is from the best Lipschitz function on its own data.

For data :math:`(x_i, y_i)` and a budget L, the fixed-L program (DESIGN.md, "The core problem")

.. math::

    \mathcal B(L) = \min_{u}\ \frac1n\sum_i \ell(u_i, y_i)
    \quad\text{s.t.}\quad \|u_i - u_j\|_{p_y} \le L\,\|x_i - x_j\|_{p_x}\ \ \forall i < j

is the best training loss of any function whose Lipschitz constant on the data is at most L: the
values :math:`u_i = g(x_i)` of such a g are feasible. A network g is such a function for every L at
least its Lipschitz constant restricted to the data, :math:`L_{data} = \max_{i \ne j}
\|g(x_i) - g(x_j)\|/\|x_i - x_j\|` (computable exactly, and at most its global constant), so its
training loss is at least :math:`\mathcal B(L_{data})`, certified by the solver's lower bound.
:math:`\mathcal B` is nonincreasing in L.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from ._common import check_seed, checked_outputs, flat, parse_norm, restore_mode
from ._estimation import _check_module, empirical_lipschitz, layer_norm_product, pair_lipschitz

__all__ = ["BestLossRow", "LipschitzLossGap", "lipschitz_loss_gap"]

_OUTPUTS = ("probabilities", "logits")


@dataclass(frozen=True)
class BestLossRow:
    """The fixed-L program at one Lipschitz constant.

    Attributes
    ----------
    name : str
        Which constant: "empirical lower" (largest Jacobian norm at a sample), "data" (largest pair
        quotient: the constant the program constrains), "certified upper" (layer-norm product).
    lipschitz : float
    best_loss : float
        The program's loss at its solution (feasible up to ``max_violation``): the best loss at L.
    lower_bound : float
        Certified lower bound of the best loss at L (dual multipliers).
    max_violation, relative_gap : float
        The solver's two-part certificate.
    certified : bool
    """

    name: str
    lipschitz: float
    best_loss: float
    lower_bound: float
    max_violation: float
    relative_gap: float
    certified: bool


@dataclass(frozen=True)
class LipschitzLossGap:
    r"""A network's training loss beside the best loss any function with its Lipschitz constants reaches.

    Attributes
    ----------
    train_loss : float
        :math:`\frac1n\sum_i \ell(g(x_i), y_i)` of the network (g = its probabilities or logits).
    rows : tuple of BestLossRow
        The program at the empirical lower estimate, at the data constant and at the certified upper
        bound (in that order; the upper one is omitted when no bound is available).
    loss : str
    p_x, p_y : float
    outputs : str
    n : int
    """

    train_loss: float
    rows: tuple
    loss: str
    p_x: float
    p_y: float
    outputs: str
    n: int

    @property
    def certified_gap(self) -> float:
        r"""Training loss minus the certified lower bound at the data constant (>= 0 up to rounding)."""
        return self.train_loss - self.row("data").lower_bound

    def row(self, name: str) -> BestLossRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise ValueError(f"name must be one of {[r.name for r in self.rows]}, got {name!r}")

    def __str__(self) -> str:
        lines = [f"network training loss ({self.loss}, {self.outputs}, n = {self.n}): {self.train_loss:.6g}",
                 f"{'Lipschitz constant':<22}{'L':>11}{'best loss at L':>16}{'certified >=':>14}{'gap':>11}"]
        for r in self.rows:
            lines.append(f"{r.name:<22}{r.lipschitz:>11.4g}{r.best_loss:>16.6g}{r.lower_bound:>14.6g}"
                         f"{self.train_loss - r.best_loss:>11.4g}" + ("" if r.certified else "  (not certified)"))
        return "\n".join(lines)


def lipschitz_loss_gap(model, x, y, *, loss="squared", outputs: str = "probabilities", p_x="L2", p_y="L2",
                       input_shape=None, solve: Callable | None = None, seed: int = 0,
                       **solver_options) -> LipschitzLossGap:
    r"""Training loss of a network against :math:`\mathcal B(L)`, the best loss at its Lipschitz constants.

    Computes the network's outputs g(x) (``outputs="probabilities"``: softmax of the logits;
    ``"logits"``: the model's outputs), its training loss with the program's loss, and
    :math:`\mathcal B(L)` (module docstring) at three constants of g in the (p_x, p_y) norms:

    * "empirical lower": :math:`\max_i \|J_g(x_i)\|_{p_x, p_y}` (:func:`empirical_lipschitz`);
    * "data": the largest pair quotient on x (:func:`pair_lipschitz`): the training loss is at least
      the certified lower bound of this row (``certified_gap`` >= 0);
    * "certified upper": the layer-norm product ([FOA] eq. (6)), times 1/2 for the softmax
      (whose Jacobian :math:`\mathrm{diag}(s) - s s^\top` has norm at most 1/2 in l1, l2 and linf).

    Each :math:`\mathcal B(L)` is ``lipconv.solvers.lipschitz_regression(X, Y, lipschitz=L)``
    with its certificate (``max_violation``, ``relative_gap``, ``lower_bound``).

    Parameters
    ----------
    model : torch.nn.Module, x -> logits (n, k)
    x : torch.Tensor, shape (n, ...)
        The training inputs (flattened for the program; distances in ``p_x``).
    y : torch.Tensor, shape (n,)
        Integer class labels in [0, k); the program's targets are their one-hot rows.
    loss : str
        A loss of ``lipconv.losses`` ("squared", "absolute", "huber", "cross_entropy"; the
        cross-entropy needs ``outputs="probabilities"``).
    outputs : {"probabilities", "logits"}
    p_x, p_y : {"L1", "L2", "Linf"}
    input_shape : tuple, optional
        For the certified upper bound (default one sample's shape).
    solve : callable, optional
        The solver (default ``lipconv.solvers.lipschitz_regression``).
    seed : int
        Seed of the power-method fallback of the empirical estimate.
    **solver_options
        Passed to the solver (e.g. ``method``, ``tol``).
    """
    from ..losses import get_loss

    if outputs not in _OUTPUTS:
        raise ValueError(f"outputs must be one of {_OUTPUTS}, got {outputs!r}")
    px = parse_norm(p_x, "p_x")
    py = parse_norm(p_y, "p_y")
    seed = check_seed(seed)
    if solve is not None and not callable(solve):
        raise TypeError(f"solve must be None or a callable (X, Y, *, lipschitz, ...), got {type(solve).__name__}")
    checked_outputs(model, x, y, labels="classes")
    if input_shape is not None and isinstance(model, torch.nn.Module):
        _check_module(model, input_shape)
    lossobj = get_loss(loss)
    if lossobj.name == "cross_entropy" and outputs != "probabilities":
        raise ValueError("outputs must be 'probabilities' for loss='cross_entropy', got 'logits'")
    if solve is None:
        from ..solvers import lipschitz_regression as solve

    probs = outputs == "probabilities"
    g = _OutputMap(model, probs)
    with restore_mode(model, eval_mode=True), torch.no_grad():
        u = flat(g(x.detach())).to(torch.float64)
    k = u.shape[1]
    Y = torch.nn.functional.one_hot(y.to(torch.long), k).to(torch.float64)
    train = float(lossobj.torch(u, Y).mean())
    constants = [("empirical lower", empirical_lipschitz(g, x, norm=px, out_norm=py, seed=seed).value),
                 ("data", pair_lipschitz(g, x, norm=px, out_norm=py))]
    try:
        upper = float(layer_norm_product(model, input_shape=input_shape or tuple(x.shape[1:]), norm=px,
                                         out_norm=py))
        constants.append(("certified upper", 0.5 * upper if probs else upper))
    except (ValueError, TypeError):
        pass
    X = flat(x.detach()).to(torch.float64).cpu().numpy()
    Yn = Y.cpu().numpy()
    rows = []
    for name, L in constants:
        res = solve(X, Yn, lipschitz=float(L), loss=lossobj, p_x=px, p_y=py, **solver_options)
        rows.append(BestLossRow(name, float(L), float(res.loss_value), float(res.lower_bound),
                                float(res.max_violation), float(res.relative_gap), bool(res.certified)))
    return LipschitzLossGap(train, tuple(rows), lossobj.name, px, py, outputs, int(X.shape[0]))


class _OutputMap(torch.nn.Module):
    """The model followed by a softmax (probabilities) or not (logits), as one module."""

    def __init__(self, model, probabilities: bool):
        super().__init__()
        self.model = model
        self.probabilities = probabilities

    def forward(self, z):
        out = self.model(z)
        return torch.softmax(out, dim=1) if self.probabilities else out
