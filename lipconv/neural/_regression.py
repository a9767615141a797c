r"""A neural network approximator of the empirical minimizer u_n ([FCAO] eq. (2.6) with eps = 0).

The convex program of :func:`lipconv.solvers.lipschitz_regression` is exact but lives on the
samples; a network :math:`u_\theta` is defined everywhere and is what [FCAO] trains in practice.
Both minimize the same :math:`J_n`, so comparing them is a two-sided check: the network's
:math:`J_n` at any *upper* bound of :math:`\mathrm{Lip}(u_\theta)` can never fall below the convex
optimum, and its :math:`J_n` at the discrete Lipschitz constant of its sample values is the objective
of a feasible point of the convex program, so it measures how close training came to the optimum.
"""
from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from .._validation import check_int, check_points, check_positive, check_simplex_labels, check_values
from ..extension import lipschitz_constant
from ..losses import get_loss
from ..norms import layer_norm_product
from ._lipschitz import lipschitz_bracket

__all__ = ["NeuralResult", "neural_lipschitz_regression", "gradient_norms", "rate_runner"]

_DENSE_POINTS = 20_000
# Relative slack of "the gaps are >= 0": the convex solver's certificate holds to a relative gap
# of its tolerance (GAP_TOL = 1e-6), and the network values are evaluated in float64.
_CONSISTENCY_RTOL = 1e-6


@dataclass(frozen=True)
class NeuralResult:
    r"""A trained network :math:`u_\theta`, its Lipschitz constant bracketed, and :math:`J_n` at each end.

    :math:`J_n` depends on a function only through its sample values and its Lipschitz constant, so
    the network is judged twice ([FCAO] eq. (2.7)):

    * at the discrete Lipschitz constant :math:`L_{\mathrm{disc}}` of its sample values, where
      (values, :math:`L_{\mathrm{disc}}`) is a feasible point of the exact program: its
      :math:`J_n` is at least the optimum :math:`J_n^\star`, so against the convex program's
      certified lower bound D it gives the certified relative gap
      ``relative_gap`` :math:`= (J_n(\text{values}, L_{\mathrm{disc}}) - D) / J_n(\dots)`,
      which measures how close training came to the minimizer on the samples;
    * at the certified upper bound :math:`L^+ \ge \mathrm{Lip}(u_\theta)` over the box X, where
      :math:`J_n[u_\theta] \le J_n(\text{values}, L^+)`: ``relative_gap_upper`` bounds the
      suboptimality of the network as a function.

    Both gaps are >= 0 unless something is wrong (a wrong lower bound or a wrong evaluation):
    ``consistent`` says whether that holds.

    Attributes
    ----------
    values : ndarray, shape (n, k)
        :math:`u_\theta(x_i)` on the samples (float64).
    loss_value : float
        :math:`\frac1n \sum_i \ell(u_\theta(x_i), y_i)`.
    lipschitz_discrete : float
        Discrete Lipschitz constant of ``values`` on the samples (a lower bound of
        :math:`\mathrm{Lip}(u_\theta)`, and the L that makes ``values`` feasible for the exact program).
    lipschitz_gradient : float
        :math:`\max \|D u_\theta(x)\|` over the data and ``dense_points`` seeded uniform points of
        the box ([FCAO] eq. (2.3)): a value the network attains, a lower bound.
    lipschitz_lower, lipschitz_upper : float
        The certified bracket of :math:`\mathrm{Lip}(u_\theta)` on the box X
        (:func:`lipconv.neural.lipschitz_bracket`; lower: the largest gradient norm found, upper:
        the branch and bound's certified bound, never above ``lipschitz_product``). The rate
        studies judge the cells of the network's sup bracket with ``lipschitz_upper``.
    lipschitz_converged : bool
        Whether the bracket reached its relative width ``lipschitz_rtol`` within its budget.
    lipschitz_product : float
        Product of the layers' spectral norms ([FOA] eq. (6)), the classical upper bound, for comparison.
    objective_discrete, objective_upper : float
        :math:`J_n` = ``loss_value`` + lam times ``lipschitz_discrete`` / ``lipschitz_upper``.
    convex_objective, lower_bound : float or None
        :math:`J_n[u_n]` of the supplied convex solution, and the certified lower bound D of the
        optimum from its multipliers (:func:`lipconv.solvers.certify`).
    relative_gap, relative_gap_upper : float or None
        The two certified gaps above (not clipped at 0).
    max_violation : float or None
        The feasibility part of the certificate of (values, ``lipschitz_discrete``): 0 up to
        rounding, by construction.
    consistent : bool or None
        Both gaps >= -1e-6 (the convex solve's relative tolerance): False means a lower bound above
        a feasible objective, i.e. the convex solution or the network's evaluation is wrong.
    lam, loss, hidden, epochs, lr, seed, device
        The settings.
    train_time : float
        Seconds spent training.
    solve_time : float
        Seconds of the whole call (training, the Lipschitz bracket and the certificate).
    history : ndarray, shape (epochs,)
        Training objective (loss + lam * max gradient norm on the epoch's points) per epoch.
    model : torch.nn.Module
        The trained network (float64, on ``device``), mapping (m, d) to (m, k).
    """

    values: np.ndarray
    loss_value: float
    lipschitz_discrete: float
    lipschitz_gradient: float
    lipschitz_lower: float
    lipschitz_upper: float
    lipschitz_converged: bool
    lipschitz_product: float
    objective_discrete: float
    objective_upper: float
    convex_objective: float | None
    lower_bound: float | None
    relative_gap: float | None
    relative_gap_upper: float | None
    max_violation: float | None
    consistent: bool | None
    lam: float
    loss: str
    hidden: tuple
    epochs: int
    lr: float
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
        """``lipschitz_discrete``: the L at which (values, L) is a feasible point of the exact program,
        and the constant of the extensions of ``values`` that the rate study measures beside the
        network (:data:`lipconv.rates.METHOD_RUNNERS` protocol)."""
        return self.lipschitz_discrete

    @property
    def objective(self) -> float:
        """:math:`J_n` at :attr:`lipschitz` (``objective_discrete``)."""
        return self.objective_discrete

    def predict(self, X_new) -> np.ndarray:
        """:math:`u_\theta` at ``X_new`` (m, d): shape (m,) for scalar labels, else (m, k).

        On the CPU with one torch thread (:func:`_one_thread`): the network is small, and a thread
        pool only adds synchronization (6.4 against 0.8 CPU s for one rate-study run's metrics)."""
        X_new = check_points(X_new, "X_new")
        with _one_thread():
            out = _evaluate(self.model, X_new)
        return out[:, 0] if self.scalar else out

    def __repr__(self) -> str:
        n, k = self.values.shape
        head = (f"NeuralResult(n={n}, k={k}, hidden={self.hidden}, epochs={self.epochs}, lam={self.lam:g}, "
                f"loss={self.loss!r}, device={self.device!r}, time={self.solve_time:.2f} s)")
        lines = [head,
                 f"  J_n = {self.objective_discrete:.6g} at L_disc = {self.lipschitz_discrete:.6g} (sample values)",
                 f"  Lip(u_theta) in [{self.lipschitz_lower:.6g}, {self.lipschitz_upper:.6g}] (certified"
                 + ("" if self.lipschitz_converged else ", budget-limited")
                 + f"); J_n = {self.objective_upper:.6g} at the upper end"]
        if self.relative_gap is not None:
            lines.append(f"  against the exact optimum {self.convex_objective:.6g} (certified lower bound "
                         f"{self.lower_bound:.6g}): relative gap {self.relative_gap:.3%} at L_disc, "
                         f"{self.relative_gap_upper:.3%} at the upper end"
                         + ("" if self.consistent else "; INCONSISTENT: a lower bound above a feasible objective"))
        return "\n".join(lines)


@contextlib.contextmanager
def _one_thread():
    """One intra-op torch thread inside the block, the caller's count restored after it."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


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
    if not callable(model):
        raise ValueError(f"model must be a torch module mapping (m, d) to (m, k), got {type(model).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.ndim != 2:
        raise ValueError(f"x must be a floating-point torch tensor of shape (m, d), got "
                         f"{type(x).__name__}{'' if not isinstance(x, torch.Tensor) else f' {x.dtype} {tuple(x.shape)}'}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x must be finite")
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


def _check_convex(convex, lam: float, loss_name: str, X: np.ndarray, Y: np.ndarray) -> None:
    if convex is None:
        return
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


def neural_lipschitz_regression(
    X, y, *, lam, loss="squared", hidden=(64, 64), epochs=1000, lr=1e-2, n_random=512,
    dense_points=_DENSE_POINTS, lipschitz_rtol=0.01, lipschitz_boxes=100_000, device=None, seed=0, convex=None,
) -> NeuralResult:
    r"""Train an MLP :math:`u_\theta` on :math:`J_n` ([FCAO] eq. (2.6) with :math:`\varepsilon = 0`).

    .. math::

        \min_\theta\ \frac1n \sum_{i=1}^n \ell(u_\theta(x_i), y_i)
            + \lambda \max_{x \in S} \|\nabla u_\theta(x)\|_2 ,

    where S is the data plus ``n_random`` points drawn afresh each epoch uniformly in the box
    :math:`X = [\min(0, \min_i x_i), \max(1, \max_i x_i)]` (that is :math:`[0,1]^d` for data in it):
    the max-gradient estimate of :math:`\mathrm{Lip}(u_\theta)` of [FCAO] eq. (2.3), taken over X
    rather than the data only, since Lip is a sup over the whole domain. Full-batch Adam with a
    cosine-decaying step. For k > 1 outputs the gradient norm is the Jacobian's spectral norm.

    After training (in float64) the network is judged as :class:`NeuralResult` says: its
    Lipschitz constant on X is bracketed by :func:`lipconv.neural.lipschitz_bracket` (certified
    upper end, attained lower end), and with ``convex`` its sample values at their discrete
    Lipschitz constant, a feasible point of the exact program, get the two-part certificate of
    :func:`lipconv.solvers.certify` against the convex solution's multipliers: the certified
    relative gap to the optimum.

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
        Uniform points (plus the data) of the final max-gradient estimate, >= 1.
    lipschitz_rtol, lipschitz_boxes : float, int
        Target relative width and box budget of the Lipschitz bracket.
    device : str or torch.device, optional
        Default "cuda" when available, else "cpu". Training runs in float32, evaluation in float64.
    seed : int
        Seeds the initialization and every random point.
    convex : lipconv.solvers.LipschitzResult, optional
        The convex u_n for the same X, y, lam and loss (p_x = p_y = 2, weights 1/n); adds
        ``convex_objective``, ``lower_bound``, ``relative_gap``, ``relative_gap_upper``,
        ``max_violation`` and ``consistent``.

    Returns
    -------
    NeuralResult
    """
    from ..solvers import certify

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
    dense_points = check_int(dense_points, "dense_points", minimum=1)
    lipschitz_rtol = check_positive(lipschitz_rtol, "lipschitz_rtol")
    lipschitz_boxes = check_int(lipschitz_boxes, "lipschitz_boxes", minimum=1)
    seed = check_int(seed, "seed", minimum=0)
    _check_convex(convex, lam, loss_obj.name, X, Y)
    if device is None:
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"device must be a torch device such as 'cpu' or 'cuda', got {device!r} ({exc})") from None

    gen = torch.Generator().manual_seed(seed)
    box_lo, box_hi = np.minimum(X.min(axis=0), 0.0), np.maximum(X.max(axis=0), 1.0)
    lo = torch.as_tensor(box_lo, dtype=torch.float32, device=device)
    hi = torch.as_tensor(box_hi, dtype=torch.float32, device=device)
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
    lip_product = float(layer_norm_product(weights, 2, 2))
    bracket = lipschitz_bracket(model, box_lo, box_hi, rtol=lipschitz_rtol, max_boxes=lipschitz_boxes)
    lip_upper = min(bracket.upper, lip_product)
    lip_lower = max(bracket.lower, lip_grad, lip_disc)
    fields = dict(convex_objective=None, lower_bound=None, relative_gap=None, relative_gap_upper=None,
                  max_violation=None, consistent=None)
    if convex is not None:
        cert = certify(X, Y if not scalar else Y[:, 0], values if not scalar else values[:, 0], lam=lam,
                       lipschitz=lip_disc, loss=loss_obj, dual=convex)
        upper = loss_value + lam * lip_upper
        # Unclipped on purpose: a negative gap is the sign that something is wrong.
        gap = (cert.objective - cert.lower_bound) / cert.objective
        gap_upper = (upper - cert.lower_bound) / upper
        fields.update(convex_objective=float(convex.objective), lower_bound=float(cert.lower_bound),
                      relative_gap=float(gap), relative_gap_upper=float(gap_upper),
                      max_violation=float(cert.max_violation),
                      consistent=bool(min(gap, gap_upper) >= -_CONSISTENCY_RTOL))
    return NeuralResult(
        values=values, loss_value=loss_value, lipschitz_discrete=lip_disc, lipschitz_gradient=lip_grad,
        lipschitz_lower=lip_lower, lipschitz_upper=lip_upper, lipschitz_converged=bracket.converged,
        lipschitz_product=lip_product, objective_discrete=loss_value + lam * lip_disc,
        objective_upper=loss_value + lam * lip_upper, **fields, lam=lam, loss=loss_obj.name, hidden=hidden,
        epochs=epochs, lr=lr, seed=seed, device=str(device), train_time=train_time,
        solve_time=time.perf_counter() - t0, history=history, model=model, scalar=scalar,
    )


# The training budget of the rate studies' network, chosen by measurement (rate_runner's docstring):
# a wider network below this n, the defaults of neural_lipschitz_regression from it on.
STUDY_WIDE_BELOW = 256
STUDY_WIDE_HIDDEN = (128, 128)


def _study_training(n: int) -> dict:
    """The network's training settings in the rate studies for n samples (:func:`rate_runner`)."""
    n = check_int(n, "n", minimum=2)
    return {"hidden": STUDY_WIDE_HIDDEN} if n < STUDY_WIDE_BELOW else {}


def rate_runner(X, y, *, lam, loss, seed=None):
    """Method runner of the rate studies (the :data:`lipconv.rates.METHOD_RUNNERS` protocol): the
    exact program (:func:`lipconv.solvers.lipschitz_regression`, for the certified gap), then
    :func:`neural_lipschitz_regression` against it, ``seed`` None read as 0.

    Training budget, chosen by measurement (certified gap at L_disc, median and max over seeds 0-4,
    squared loss, ramp labels, lam = 0.02, on the flat cube m = 2 and the sphere; CPU seconds of
    one fit, one thread). With the defaults (hidden (64, 64), 1,000 epochs) the gap at n = 32 was
    2.4 % (max 4.7 %) on the cube and 1.7 % (max 5.6 %) on the sphere, in 1.6-1.7 s; (128, 128)
    with 1,000 epochs gave 1.4 % (max 1.6 %) and 1.3 % (max 1.7 %) in 3.4 s. Against the same
    n = 32 samples, 4,000 epochs at (64, 64) gave a lower median but max 4.5 % / 5.3 % (in 6 s);
    2,048 random points per epoch, none, or a step of 3e-2 kept the max above 2.6 %; a top-5 %
    mean of the gradient norms or a penalty with a learned L (the cube, 3 seeds) did no better than
    the maximum. At n = 128 the defaults gave 0.6 % (max 1.2 %) and 1.5 % (max 1.9 %), (128, 128)
    0.5 % and 1.3 % (max 1.6 %); from n = 512 the defaults stay below 0.7 %. So the network is
    (128, 128) below n = 256 (``STUDY_WIDE_BELOW``), where it costs seconds, and the defaults from
    there on, where a wider network would cost 4x per epoch on every point.

    Runs with one torch thread (restored afterwards): the networks are small, the sweeps already run
    one fit per worker, and torch's thread pool on a shared machine slowed training 5-20x here.
    """
    from ..solvers import lipschitz_regression

    convex = lipschitz_regression(X, y, lam=lam, loss=loss)
    with _one_thread():
        return neural_lipschitz_regression(X, y, lam=lam, loss=loss, seed=0 if seed is None else seed, convex=convex,
                                           **_study_training(np.shape(X)[0]))
