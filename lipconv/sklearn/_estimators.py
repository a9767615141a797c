r"""The Lipschitz-regularized regressor and classifier with the scikit-learn estimator API."""
from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from .._validation import check_norm, check_real
from ..losses import cross_entropy, huber
from ..solvers import FEASIBILITY_TOL, GAP_TOL, lipschitz_regression

__all__ = ["LipschitzRegressor", "LipschitzClassifier", "EXTENSIONS", "REGRESSION_LOSSES", "ACTIVE_RTOL"]

REGRESSION_LOSSES = ("squared", "absolute", "huber")
EXTENSIONS = ("midpoint", "mcshane", "whitney", "kirszbraun")
# A pair counts as active when its multiplier exceeds this fraction of the largest one: the
# interior-point solves stop at a relative tolerance of about 1e-8, which leaves the multipliers of
# inactive pairs at that level, far below this threshold.
ACTIVE_RTOL = 1e-6


def _check_sample_weight(sample_weight, n: int) -> np.ndarray:
    """Nonnegative finite weights of shape (n,) with a positive sum (ones when None)."""
    if sample_weight is None:
        return np.ones(n)
    w = check_real(sample_weight, "sample_weight")
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) to match X, got shape {w.shape}")
    if np.any(w < 0):
        raise ValueError(f"sample_weight must be >= 0, got a smallest entry of {w.min()}")
    if not w.sum() > 0:
        raise ValueError("sample_weight must have a positive sum, got all weights zero")
    return w


def _merge_rows(X: np.ndarray, Y: np.ndarray, w: np.ndarray):
    """The rows of positive weight, identical (x, y) rows merged with their weights summed, in sorted
    order, and the weights normalized to sum 1.

    Neither step changes the program's optimum: a point of weight 0 enters only through its pair
    constraints, and any Lipschitz extension of the other values satisfies them; identical rows are
    forced to one value and contribute the sum of their weighted losses. Together they make a fit
    with integer weights the same as a fit on repeated rows, and the sorted order makes a fit
    independent of the order of the rows (the cutting plane's coarse levels follow the row order).
    """
    keep = w > 0
    d = X.shape[1]
    rows, inverse = np.unique(np.column_stack([X[keep], Y[keep]]), axis=0, return_inverse=True)
    weights = np.bincount(inverse.reshape(-1), weights=w[keep], minlength=rows.shape[0])
    return rows[:, :d], rows[:, d:], weights / weights.sum()


def _n_active_pairs(result) -> int:
    """Pairs of the final program whose multiplier exceeds ``ACTIVE_RTOL`` times the largest; 0 when
    no pair program was solved (``status`` "constant" or "interpolation") or L = 0."""
    if result.dual is None or result.status in ("constant", "interpolation") or result.lipschitz == 0.0:
        return 0
    size = np.abs(np.asarray(result.dual[2], dtype=float)).reshape(len(result.dual[0]), -1).max(axis=1, initial=0.0)
    if size.size == 0 or size.max() <= 0.0:
        return 0
    return int(np.count_nonzero(size > ACTIVE_RTOL * size.max()))


class _LipschitzEstimator(BaseEstimator):
    """The fit shared by both estimators: the validated program, its solve and its certificate."""

    def _check_extension(self) -> None:
        if self.extension not in EXTENSIONS:
            raise ValueError(f"extension must be one of {EXTENSIONS}, got {self.extension!r}")
        if self.extension == "kirszbraun" and (check_norm(self.p_x, "p_x"), check_norm(self.p_y, "p_y")) != (2.0, 2.0):
            raise ValueError(
                f"extension 'kirszbraun' needs p_x = p_y = 2, got p_x = {self.p_x}, p_y = {self.p_y}; "
                "use extension='midpoint'"
            )

    def _solve(self, X, Y, w, loss, *, scalar: bool) -> None:
        X, Y, w = _merge_rows(X, Y, w)
        if X.shape[0] < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 distinct samples of positive weight, got n_samples = {X.shape[0]}"
            )
        level = {"lam": None, "lipschitz": self.lipschitz} if self.lipschitz is not None else {"lam": self.lam}
        result = lipschitz_regression(
            X, Y[:, 0] if scalar else Y, loss=loss, p_x=self.p_x, p_y=self.p_y, weights=w, method=self.method,
            solver=self.solver, tol=self.tol, feasibility_tol=self.feasibility_tol, gap_tol=self.gap_tol,
            method_options=self.method_options, **level,
        )
        self.result_ = result
        self.lipschitz_ = result.lipschitz
        self.objective_ = result.objective
        self.lower_bound_ = result.lower_bound
        self.max_violation_ = result.max_violation
        self.relative_gap_ = result.relative_gap
        self.certified_ = result.certified
        self.n_active_pairs_ = _n_active_pairs(result)

    def _extend(self, X) -> np.ndarray:
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        return self.result_.predict(X, kind=self.extension)


_PARAMETERS = r"""
    lam : float, default=0.01
        :math:`\lambda > 0`, the price of one unit of Lipschitz constant, in the units of the
        objective per unit of L (for the squared loss: y-units times x-units). Not used when
        ``lipschitz`` is given. No default suits every unit of X and y (0.01 is a light
        regularization of standardized data): cross-validate it, e.g. with ``GridSearchCV``.
    lipschitz : float or None, default=None
        Solve at this fixed Lipschitz constant L >= 0 instead (no :math:`\lambda` term): the
        smallest training loss any L-Lipschitz function reaches
        (:func:`~lipconv.solvers.lipschitz_regression` with ``lipschitz=``).
    p_x, p_y : {1, 2, inf}, default=2
        Norms on the inputs and on the outputs in which L is measured.
    extension : {"midpoint", "mcshane", "whitney", "kirszbraun"}, default="midpoint"
        The Lipschitz extension that ``predict`` evaluates (:func:`lipconv.extension.extend`):
        the midpoint of the Whitney (lower) and McShane (upper) envelopes, one of the envelopes
        (applied per output for vector outputs, which keeps L in the max-norm on Y), or Kirszbraun's
        (vector outputs, p_x = p_y = 2: keeps the Euclidean L; its queries are added one at a
        time, so a prediction depends on the other rows of the batch). Each is L-Lipschitz and
        takes the fitted values at the samples, so each is a minimizer of :math:`J_n` over all
        Lipschitz functions.
    method : {"auto", "pairs", "cutting-plane"}, default="auto"
        The solver's method (:func:`~lipconv.solvers.lipschitz_regression`).
    solver : str or None, default=None
        The convex solver (default Clarabel).
    tol : float, default=1e-8
        The convex solver's stopping tolerance.
    feasibility_tol, gap_tol : float, default=1e-6
        Tolerances of the two parts of the certificate (``certified_``).
    method_options : dict or None, default=None
        Options of the cutting plane (:func:`~lipconv.solvers.lipschitz_regression`)."""

_ATTRIBUTES = r"""
    result_ : lipconv.solvers.LipschitzResult
        The whole solve (its ``print`` is a one-line summary). Its ``X`` holds the merged rows.
    lipschitz_ : float
        L, the Lipschitz constant of the fitted values (in the (p_x, p_y) norms, raw units).
    objective_ : float
        :math:`J = \sum_i w_i \ell(u_i, y_i) + \lambda L` with the normalized weights, an upper
        bound of the optimum (the training loss alone at a fixed ``lipschitz``).
    lower_bound_ : float
        A certified lower bound of the optimum (from the dual multipliers).
    max_violation_ : float
        Feasibility certificate: the worst pair excess :math:`(\|u_i - u_j\| - L d_{ij})_+` over
        all pairs, relative to the label range (dimensionless).
    relative_gap_ : float
        Optimality certificate: :math:`(J - D) / J`, D the lower bound (dimensionless).
    certified_ : bool
        ``max_violation_ <= feasibility_tol`` and ``relative_gap_ <= gap_tol``.
    n_active_pairs_ : int
        Pair constraints that bind the solution: multipliers above ``ACTIVE_RTOL`` = 1e-6 times the
        largest (0 when no pair program was solved: a constant answer, or labels already
        L-Lipschitz at a fixed ``lipschitz``).
    n_features_in_ : int
    feature_names_in_ : ndarray of str
        Only when X has feature names (a DataFrame)."""

_WEIGHTS = r"""Rows of weight 0 are dropped and identical (x, y) rows merged with their weights summed,
    in a sorted order: neither changes the optimum (a zero-weight point is constrained only through
    its pairs, which any Lipschitz extension of the other values satisfies; coincident points are
    forced to one value), so integer weights are the same as repeated rows and the fit does not
    depend on the order of the rows."""


class LipschitzRegressor(RegressorMixin, _LipschitzEstimator):
    __doc__ = r"""Lipschitz-regularized regression: the exact minimizer of [FCAO] eq. (2.7), certified.

    .. math::

        \min_{u,\ L \ge 0}\ \sum_{i=1}^n w_i\, \ell(u(x_i), y_i) + \lambda L
        \quad\text{s.t.}\quad \|u(x_i) - u(x_j)\|_{p_y} \le L\, \|x_i - x_j\|_{p_x}\ \ \forall i < j,

    with :math:`w_i` the sample weights normalized to sum 1 (1/n without them). ``fit`` solves this
    finite program exactly (:func:`lipconv.solvers.lipschitz_regression`, which normalizes the
    units inside: X, y and lam are given and returned in the data's own units); ``predict``
    evaluates a named Lipschitz extension of the fitted values, which is a minimizer over all
    Lipschitz functions (McShane/Whitney for scalar outputs, Kirszbraun for Euclidean vector
    outputs). The fit is certified in two dimensionless parts, kept as fitted attributes.

    Parameters
    ----------
    loss : {"squared", "absolute", "huber"}, default="squared"
        :math:`\ell(u, y)`: :math:`\|u - y\|_2^2` (a QP), :math:`\|u - y\|_1` (an LP), or the Huber
        loss with threshold ``delta`` (:func:`lipconv.losses.huber`).
    delta : float, default=1.0
        The Huber threshold, in the units of y (``loss="huber"`` only).
""" + _PARAMETERS + r"""

    Attributes
    ----------
""" + _ATTRIBUTES + r"""

    Notes
    -----
    y of shape (n, k) fits k outputs at once with one Lipschitz constant in the p_y-norm.

    """ + _WEIGHTS + r"""

    See Also
    --------
    lipconv.solvers.lipschitz_regression : the solver, on arrays.
    LipschitzClassifier : the regularized cross-entropy.

    Examples
    --------
    Two samples, squared loss: :math:`\tfrac12[u_0^2 + (u_1 - 1)^2] + \lambda |u_1 - u_0|` has the
    minimizer :math:`u = (\lambda, 1 - \lambda)` with L = 1 - 2 lam; predict extends it (midpoint):

    >>> import numpy as np
    >>> from lipconv.sklearn import LipschitzRegressor
    >>> reg = LipschitzRegressor(lam=0.1).fit([[0.0], [1.0]], [0.0, 1.0])
    >>> round(reg.lipschitz_, 6), round(reg.objective_, 6), reg.certified_
    (0.8, 0.09, True)
    >>> np.round(reg.predict([[0.0], [0.5], [1.0]]), 6)
    array([0.1, 0.5, 0.9])
    """

    def __init__(self, *, lam=0.01, lipschitz=None, loss="squared", delta=1.0, p_x=2, p_y=2, extension="midpoint",
                 method="auto", solver=None, tol=1e-8, feasibility_tol=FEASIBILITY_TOL, gap_tol=GAP_TOL,
                 method_options=None):
        self.lam = lam
        self.lipschitz = lipschitz
        self.loss = loss
        self.delta = delta
        self.p_x = p_x
        self.p_y = p_y
        self.extension = extension
        self.method = method
        self.solver = solver
        self.tol = tol
        self.feasibility_tol = feasibility_tol
        self.gap_tol = gap_tol
        self.method_options = method_options

    def fit(self, X, y, sample_weight=None):
        """Solve the program on (X, y) with optional ``sample_weight`` (n,), >= 0; returns self."""
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64, ensure_min_samples=2)
        if self.loss not in REGRESSION_LOSSES:
            raise ValueError(f"loss must be one of {REGRESSION_LOSSES}, got {self.loss!r}")
        loss = huber(self.delta) if self.loss == "huber" else self.loss
        self._check_extension()
        w = _check_sample_weight(sample_weight, X.shape[0])
        Y = np.asarray(y, dtype=float)
        scalar = Y.ndim == 1
        self._solve(X, Y.reshape(Y.shape[0], -1), w, loss, scalar=scalar)
        return self

    def predict(self, X):
        """The named extension of the fitted values at X (n_new, d): shape (n_new,), or (n_new, k)
        for y of shape (n, k)."""
        return self._extend(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n, k): one Lipschitz constant for all k
        return tags


class LipschitzClassifier(ClassifierMixin, _LipschitzEstimator):
    __doc__ = r"""Lipschitz-regularized classification with the regularized cross-entropy ([FCAO] eq. (4.6)).

    .. math::

        \min_{u,\ L \ge 0}\ \sum_{i=1}^n w_i\, \ell_\epsilon(u(x_i), z_i) + \lambda L
        \quad\text{s.t.}\quad \|u(x_i) - u(x_j)\|_{p_y} \le L\, \|x_i - x_j\|_{p_x},\
        u(x_i) \in \Delta_k,

    with :math:`z_i` the one-hot row of the class of :math:`x_i` among the k classes of
    ``classes_``, :math:`\ell_\epsilon(u, z) = -\sum_c (z_c + \epsilon) \log\frac{u_c + \epsilon}{z_c + \epsilon}`
    ([FCAO] eq. (4.6), :func:`lipconv.losses.cross_entropy`), :math:`\Delta_k` the probability
    simplex and :math:`w_i` the normalized sample weights. ``fit`` solves this exponential-cone
    program exactly ([FCAO] eq. (2.7) with this loss; :func:`lipconv.solvers.lipschitz_regression`)
    and certifies it. ``predict_proba`` evaluates the named extension of the fitted probability
    rows and projects it onto the simplex in the Euclidean norm (a 1-Lipschitz map that leaves the
    fitted rows unchanged): with ``extension="kirszbraun"`` and p_x = p_y = 2 the result is an
    L-Lipschitz probability field, a minimizer over all Lipschitz functions; with the per-class
    extensions (midpoint, McShane, Whitney) each class's probability is L-Lipschitz before the
    projection, so the Euclidean constant is at most :math:`\sqrt{k}\, L`. ``predict`` returns
    the class of largest probability.

    Parameters
    ----------
    eps : float, default=0.1
        :math:`\epsilon > 0` of the regularized cross-entropy (its strong convexity is
        :math:`\epsilon/(1+\epsilon)^2`).
""" + _PARAMETERS + r"""

    Attributes
    ----------
    classes_ : ndarray, shape (k,)
        The class labels (of the samples of positive weight), in sorted order.
""" + _ATTRIBUTES + r"""

    Notes
    -----
    At least two classes must have samples of positive weight.

    """ + _WEIGHTS + r"""

    See Also
    --------
    LipschitzRegressor : squared, absolute and Huber losses.

    Examples
    --------
    Two points of two classes: the probabilities are fitted at the points and extended between them.

    >>> import numpy as np
    >>> from lipconv.sklearn import LipschitzClassifier
    >>> clf = LipschitzClassifier(lam=0.01).fit([[0.0], [1.0]], ["a", "b"])
    >>> clf.classes_.tolist(), clf.predict([[0.1], [0.9]]).tolist(), clf.certified_
    (['a', 'b'], ['a', 'b'], True)
    >>> np.round(clf.predict_proba([[0.5]]), 6)
    array([[0.5, 0.5]])
    """

    def __init__(self, *, lam=0.01, lipschitz=None, eps=0.1, p_x=2, p_y=2, extension="midpoint", method="auto",
                 solver=None, tol=1e-8, feasibility_tol=FEASIBILITY_TOL, gap_tol=GAP_TOL, method_options=None):
        self.lam = lam
        self.lipschitz = lipschitz
        self.eps = eps
        self.p_x = p_x
        self.p_y = p_y
        self.extension = extension
        self.method = method
        self.solver = solver
        self.tol = tol
        self.feasibility_tol = feasibility_tol
        self.gap_tol = gap_tol
        self.method_options = method_options

    def fit(self, X, y, sample_weight=None):
        """Solve the program on (X, y), y the class labels (n,), with optional ``sample_weight``; returns self."""
        X, y = validate_data(self, X, y, dtype=np.float64, ensure_min_samples=2)
        check_classification_targets(y)
        loss = cross_entropy(self.eps)
        self._check_extension()
        w = _check_sample_weight(sample_weight, X.shape[0])
        keep = w > 0
        classes, index = np.unique(y[keep], return_inverse=True)
        if classes.size < 2:
            raise ValueError(
                f"LipschitzClassifier needs samples of at least 2 classes with positive weight, got 1 class "
                f"({classes[0]!r})"
            )
        self.classes_ = classes
        Y = np.eye(classes.size)[index.reshape(-1)]
        self._solve(X[keep], Y, w[keep], loss, scalar=False)
        return self

    def predict_proba(self, X):
        """Class probabilities at X (n_new, d), shape (n_new, k), columns in the order of ``classes_``."""
        from ot.utils import proj_simplex

        P = self._extend(X)
        # proj_simplex projects the columns of a (k, n_new) array.
        return np.ascontiguousarray(proj_simplex(P.T).T)

    def predict(self, X):
        """The class of largest probability at each row of X."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]
