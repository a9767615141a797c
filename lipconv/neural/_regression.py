r"""A neural network approximator of the empirical minimizer u_n ([FCAO] eq. (2.6) with eps = 0).

The convex program of :func:`lipconv.solvers.lipschitz_regression` is exact but lives on the
samples; a network :math:`u_\theta` is defined everywhere and is what [FCAO] trains in practice.
Both minimize the same :math:`J_n`, so comparing them is a two-sided check: the network's
:math:`J_n` at any *upper* bound of :math:`\mathrm{Lip}(u_\theta)` can never fall below the convex
optimum, and its :math:`J_n` at the discrete Lipschitz constant of its sample values is the objective
of a feasible point of the convex program, so it measures how close training came to the optimum.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._validation import check_int, check_points, check_positive, check_simplex_labels, check_values
from ..extension import lipschitz_constant
from ..losses import get_loss
from ..norms import layer_norm_product

__all__ = ["NeuralResult", "neural_lipschitz_regression", "gradient_norms", "rate_runner"]

_DENSE_POINTS = 20_000
# Relative slack of the certificate J_n[u_theta] >= J_n[u_n]: the convex solver stops at a
# relative gap of about its tolerance, and the network values are evaluated in float64.
_CERTIFICATE_RTOL = 1e-6


@dataclass(frozen=True)
class NeuralResult:
    r"""A trained network :math:`u_\theta` with three Lipschitz estimates and :math:`J_n` at each.

    Attributes
    ----------
    values : ndarray, shape (n, k)
        :math:`u_\theta(x_i)` on the samples (float64).
    loss_value : float
        :math:`\frac1n \sum_i \ell(u_\theta(x_i), y_i)`.
    lipschitz_gradient : float
        :math:`\max \|\nabla u_\theta(x)\|` over the data and ``dense_points`` seeded uniform points
        of the box ([FCAO] eq. (2.3)): a lower estimate of :math:`\mathrm{Lip}(u_\theta)`.
    lipschitz_discrete : float
        Discrete Lipschitz constant of ``values`` on the samples (a lower bound of
        :math:`\mathrm{Lip}(u_\theta)`, and the L that makes ``values`` feasible for the convex program).
    lipschitz_upper : float
        Product of the layers' spectral norms ([FOA] eq. (6)), an upper bound.
    objective_gradient, objective_discrete, objective_upper : float
        :math:`J_n` = ``loss_value`` + lam times the corresponding Lipschitz value.
    convex_objective : float or None
        :math:`J_n[u_n]` of the supplied convex solution.
    gap : float or None
        ``objective_upper - convex_objective``; >= 0 up to the solver tolerance (the certificate).
    ratio : float or None
        ``objective_discrete / convex_objective`` (>= 1 up to solver tolerance; the quality measure).
    certified : bool or None
        True when ``objective_upper >= convex_objective`` and ``objective_discrete >= convex_objective``
        within a relative ``1e-6``; False means the convex solver (or the network evaluation) is wrong.
    lam : float
    loss : str
    hidden : tuple of int
    epochs : int
    seed : int
    device : str
    train_time : float
        Seconds spent training.
    solve_time : float
        Seconds of the whole call (training and the three Lipschitz evaluations).
    history : ndarray, shape (epochs,)
        Training objective (loss + lam * max gradient norm on the epoch's points) per epoch.
    model : torch.nn.Module
        The trained network (float64, on ``device``), mapping (m, d) to (m, k).
    """

    values: np.ndarray
    loss_value: float
    lipschitz_gradient: float
    lipschitz_discrete: float
    lipschitz_upper: float
    objective_gradient: float
    objective_discrete: float
    objective_upper: float
    convex_objective: float | None
    gap: float | None
    ratio: float | None
    certified: bool | None
    lam: float
    loss: str
    hidden: tuple
    epochs: int
    seed: int
    device: str
    train_time: float
    solve_time: float
    history: np.ndarray = field(repr=False)
    model: Any = field(repr=False)
    scalar: bool = True

    method = "neural"

    @property
    def lipschitz(self) -> float:
        """The larger of the two lower estimates (gradient and discrete); the Lip used by the rate
        studies (:data:`lipconv.rates.METHOD_RUNNERS`), since the product bound is far from tight."""
        return max(self.lipschitz_gradient, self.lipschitz_discrete)

    @property
    def objective(self) -> float:
        """:math:`J_n` at :attr:`lipschitz`."""
        return self.loss_value + self.lam * self.lipschitz

    def predict(self, X_new) -> np.ndarray:
        """:math:`u_\\theta` at ``X_new`` (m, d): shape (m,) for scalar labels, else (m, k)."""
        X_new = check_points(X_new, "X_new")
        out = _evaluate(self.model, X_new)
        return out[:, 0] if self.scalar else out


def _mlp(d: int, k: int, hidden: tuple, head) -> torch.nn.Sequential:
    layers: list[torch.nn.Module] = []
    width = d
    for h in hidden:
        layers += [torch.nn.Linear(width, h), torch.nn.ReLU()]
        width = h
    layers.append(torch.nn.Linear(width, k))
    if head is not None:
        layers.append(head)
    return torch.nn.Sequential(*layers)


def gradient_norms(model, x: torch.Tensor, *, create_graph: bool = False) -> torch.Tensor:
    r"""Per-point :math:`\|\nabla u(x)\|_2` (k = 1) or Jacobian spectral norm :math:`\|Du(x)\|_{2,2}`
    (k > 1) of a network mapping (m, d) to (m, k): the local Lipschitz constant in the Euclidean norms
    of [FCAO] eq. (2.3). Differentiable in the parameters when ``create_graph``."""
    x = x.detach().requires_grad_(True)
    out = model(x)
    k = out.shape[1]
    if k == 1:
        (g,) = torch.autograd.grad(out.sum(), x, create_graph=create_graph)
        return torch.linalg.vector_norm(g, dim=1)
    # Rows of the Jacobian one output at a time: each point's output depends on that point only.
    rows = [torch.autograd.grad(out[:, c].sum(), x, create_graph=create_graph, retain_graph=True)[0]
            for c in range(k)]
    return torch.linalg.matrix_norm(torch.stack(rows, dim=1), ord=2)


def _evaluate(model, X: np.ndarray) -> np.ndarray:
    p = next(model.parameters())
    with torch.no_grad():
        return model(torch.as_tensor(X, dtype=p.dtype, device=p.device)).cpu().numpy().astype(float)


def _max_gradient_norm(model, X: np.ndarray, lo, hi, n_points: int, gen: torch.Generator) -> float:
    p = next(model.parameters())
    U = torch.rand(n_points, X.shape[1], generator=gen, dtype=torch.float64).to(device=p.device, dtype=p.dtype)
    pts = torch.cat([torch.as_tensor(X, dtype=p.dtype, device=p.device), lo + (hi - lo) * U])
    best = 0.0
    for chunk in torch.split(pts, 4096):
        best = max(best, float(gradient_norms(model, chunk).max()))
    return best


def _check_hidden(hidden) -> tuple:
    try:
        widths = tuple(hidden)
    except TypeError:
        raise ValueError(f"hidden must be a sequence of layer widths >= 1, got {hidden!r}") from None
    if not widths:
        raise ValueError(f"hidden must contain at least one layer width, got {hidden!r}")
    return tuple(check_int(h, f"hidden[{i}]", minimum=1) for i, h in enumerate(widths))


def _check_convex(convex, lam: float, loss_name: str, X: np.ndarray, Y: np.ndarray) -> float | None:
    if convex is None:
        return None
    values = getattr(convex, "values", None)
    if values is None or not hasattr(convex, "objective"):
        raise ValueError(f"convex must be a lipconv.solvers.LipschitzResult or None, got {type(convex).__name__}")
    if np.shape(values) != Y.shape:
        raise ValueError(f"convex.values must have shape {Y.shape} to match y, got {np.shape(values)}")
    if not np.isclose(getattr(convex, "lam", lam), lam, rtol=1e-12, atol=0.0):
        raise ValueError(f"convex must be solved with the same lam = {lam}, got lam = {convex.lam}")
    if getattr(convex, "p_x", 2.0) != 2.0 or getattr(convex, "p_y", 2.0) != 2.0:
        raise ValueError(f"convex must use p_x = p_y = 2 like the network, got p_x = {convex.p_x}, p_y = {convex.p_y}")
    if not np.array_equal(np.asarray(convex.X, dtype=float), X):
        raise ValueError("convex must be solved on the same samples X")
    # J_n[u_n] recomputed in float64 with 1/n weights; a mismatch with the stored loss value means
    # the convex problem had another loss or other weights, and the comparison would be meaningless.
    fit = float(get_loss(loss_name).value(values, Y).mean())
    if not np.isclose(fit, convex.loss_value, rtol=1e-6, atol=1e-12):
        raise ValueError(
            f"convex must be solved with loss {loss_name!r} and weights 1/n: its loss_value {convex.loss_value!r} "
            f"differs from the recomputed {fit!r}"
        )
    return fit + lam * float(convex.lipschitz)


def neural_lipschitz_regression(
    X, y, *, lam, loss="squared", hidden=(64, 64), epochs=1000, lr=1e-2, n_random=512,
    dense_points=_DENSE_POINTS, device=None, seed=0, convex=None,
) -> NeuralResult:
    r"""Train an MLP :math:`u_\theta` on :math:`J_n` ([FCAO] eq. (2.6) with :math:`\varepsilon = 0`).

    .. math::

        \min_\theta\ \frac1n \sum_{i=1}^n \ell(u_\theta(x_i), y_i)
            + \lambda \max_{x \in S} \|\nabla u_\theta(x)\|_2 ,

    where S is the data plus ``n_random`` points drawn afresh each epoch uniformly in the box
    :math:`[\min(0, \min_i x_i), \max(1, \max_i x_i)]` (that is :math:`[0,1]^d` for data in it):
    the max-gradient estimate of :math:`\mathrm{Lip}(u_\theta)` of [FCAO] eq. (2.3), taken over X
    rather than the data only, since Lip is a sup over the whole domain. Full-batch Adam with a
    cosine-decaying step. For k > 1 outputs the gradient norm is the Jacobian's spectral norm.

    After training :math:`J_n` is evaluated (in float64) with three values of Lip:

    * the max gradient norm over the data and ``dense_points`` seeded uniform points (a lower estimate);
    * the discrete Lipschitz constant of the values on the samples, which makes the values a
      feasible point of the convex program (:func:`lipconv.solvers.lipschitz_regression`), so
      :math:`J_n` there is >= the convex optimum;
    * the product of the layers' spectral norms (:func:`lipconv.norms.layer_norm_product`, [FOA]
      eq. (6)), an upper bound of :math:`\mathrm{Lip}(u_\theta)`: :math:`J_n` there is >= the optimum
      of the continuous problem (2.7) = the convex optimum. A convex solution that beats it would be
      wrong, so the comparison certifies the convex solver (or exposes the network).

    Parameters
    ----------
    X : array_like, shape (n, d) or (n,)
    y : array_like, shape (n,) or (n, k)
        Real labels; for "cross_entropy" rows on the probability simplex with k >= 2.
    lam : float
        lambda > 0.
    loss : str or lipconv.losses.Loss
        Any loss of :mod:`lipconv.losses`; per-sample values from its ``torch`` method. For
        "cross_entropy" the network ends in a softmax (1-Lipschitz in l2) so outputs lie on the simplex.
    hidden : sequence of int
        Hidden widths of the ReLU MLP.
    epochs : int
        Full-batch Adam steps.
    lr : float
        Initial Adam step (cosine decay to lr / 100).
    n_random : int
        Uniform points per epoch added to the data in the max-gradient penalty (0: data only).
    dense_points : int
        Uniform points (plus the data) of the final max-gradient estimate.
    device : str or torch.device, optional
        Default "cuda" when available, else "cpu". Training runs in float32, evaluation in float64.
    seed : int
        Seeds the initialization and every random point.
    convex : lipconv.solvers.LipschitzResult, optional
        The convex u_n for the same X, y, lam and loss (p_x = p_y = 2, weights 1/n); adds
        ``convex_objective``, ``gap``, ``ratio`` and ``certified``.

    Returns
    -------
    NeuralResult
    """
    X = check_points(X, "X", min_rows=2)
    n, d = X.shape
    Y, scalar = check_values(y, n, "y")
    lam = check_positive(lam, "lam")
    loss_obj = get_loss(loss)
    if loss_obj.name == "cross_entropy":
        # The softmax head of one output is identically 1: the loss would be constant (or NaN).
        check_simplex_labels(Y, "y")
    hidden = _check_hidden(hidden)
    epochs = check_int(epochs, "epochs", minimum=1)
    lr = check_positive(lr, "lr")
    n_random = check_int(n_random, "n_random", minimum=0)
    dense_points = check_int(dense_points, "dense_points", minimum=0)
    seed = check_int(seed, "seed", minimum=0)
    convex_objective = _check_convex(convex, lam, loss_obj.name, X, Y)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(device)

    gen = torch.Generator().manual_seed(seed)
    lo = torch.as_tensor(np.minimum(X.min(axis=0), 0.0), dtype=torch.float32, device=device)
    hi = torch.as_tensor(np.maximum(X.max(axis=0), 1.0), dtype=torch.float32, device=device)
    head = torch.nn.Softmax(dim=1) if loss_obj.name == "cross_entropy" else None
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = _mlp(d, Y.shape[1], hidden, head).to(device)
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    Yt = torch.as_tensor(Y, dtype=torch.float32, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=lr / 100)
    history = np.empty(epochs)
    t0 = time.perf_counter()
    for epoch in range(epochs):
        U = torch.rand(n_random, d, generator=gen).to(device)
        pts = torch.cat([Xt, lo + (hi - lo) * U])
        fit = loss_obj.torch(model(Xt), Yt).mean()
        lip = gradient_norms(model, pts, create_graph=True).max()
        total = fit + lam * lip
        opt.zero_grad(set_to_none=True)
        total.backward()
        opt.step()
        sched.step()
        history[epoch] = float(total.detach())
    train_time = time.perf_counter() - t0

    model = model.double().eval()
    for prm in model.parameters():
        prm.requires_grad_(False)
    values = _evaluate(model, X)
    loss_value = float(loss_obj.value(values, Y).mean())
    lip_grad = _max_gradient_norm(model, X, lo.double(), hi.double(), dense_points, gen)
    lip_disc = lipschitz_constant(X, values)
    weights = [m.weight for m in model if isinstance(m, torch.nn.Linear)]
    lip_upper = float(layer_norm_product(weights, 2, 2))
    obj = {name: loss_value + lam * L for name, L in
           (("gradient", lip_grad), ("discrete", lip_disc), ("upper", lip_upper))}
    gap = ratio = certified = None
    if convex_objective is not None:
        gap = obj["upper"] - convex_objective
        ratio = obj["discrete"] / convex_objective
        slack = _CERTIFICATE_RTOL * abs(convex_objective)
        certified = bool(gap >= -slack and obj["discrete"] - convex_objective >= -slack)
    return NeuralResult(
        values=values, loss_value=loss_value, lipschitz_gradient=lip_grad, lipschitz_discrete=lip_disc,
        lipschitz_upper=lip_upper, objective_gradient=obj["gradient"], objective_discrete=obj["discrete"],
        objective_upper=obj["upper"], convex_objective=convex_objective, gap=gap, ratio=ratio,
        certified=certified, lam=lam, loss=loss_obj.name, hidden=hidden, epochs=epochs, seed=seed,
        device=str(device), train_time=train_time, solve_time=time.perf_counter() - t0, history=history, model=model, scalar=scalar,
    )


def rate_runner(X, y, *, lam, loss, seed=None):
    """Method runner of the rate studies (the :data:`lipconv.rates.METHOD_RUNNERS` protocol):
    :func:`neural_lipschitz_regression` with its defaults, ``seed`` None read as 0.

    Runs with one torch thread (restored afterwards): the networks are small, the sweeps already run
    one fit per worker, and torch's thread pool on a shared machine slowed training 5-20x here.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return neural_lipschitz_regression(X, y, lam=lam, loss=loss, seed=0 if seed is None else seed)
    finally:
        torch.set_num_threads(threads)
