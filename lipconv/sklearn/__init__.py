r"""scikit-learn estimators of the Lipschitz-regularized problem ([FCAO] eq. (2.7)).

:class:`LipschitzRegressor` and :class:`LipschitzClassifier` solve the exact finite program of
:func:`lipconv.solvers.lipschitz_regression` in ``fit``, predict through a named Lipschitz
extension (:mod:`lipconv.extension`), and keep the two-part certificate in fitted attributes. They
follow the scikit-learn estimator API (``Pipeline``, ``GridSearchCV``, ``cross_val_score``).

scikit-learn is an optional dependency of lipconv, imported only by this subpackage: install it
with ``pip install "lipconv[sklearn]"``.
"""
from __future__ import annotations

_NEEDS = (1, 6)  # __sklearn_tags__ and sklearn.utils.validation.validate_data


def _require_sklearn() -> None:
    message = 'lipconv.sklearn needs scikit-learn >= 1.6: install it with pip install "lipconv[sklearn]"'
    try:
        import sklearn
    except ImportError as exc:
        raise ImportError(f"{message} (scikit-learn is not installed)") from exc
    version = tuple(int(part) for part in sklearn.__version__.split(".")[:2] if part.isdigit())
    if version < _NEEDS:
        raise ImportError(f"{message} (found scikit-learn {sklearn.__version__})")


_require_sklearn()

from ._estimators import LipschitzClassifier, LipschitzRegressor  # noqa: E402

__all__ = ["LipschitzRegressor", "LipschitzClassifier"]
