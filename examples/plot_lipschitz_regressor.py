r"""
A certified Lipschitz regressor in a scikit-learn workflow: diabetes progression
================================================================================

:class:`~lipconv.sklearn.LipschitzRegressor` fits the exact minimizer of the Lipschitz-regularized
least-squares problem ([FCAO] eq. (2.7))

.. math::

    \min_{u,\ L \ge 0}\ \frac1n \sum_{i=1}^n (u(x_i) - y_i)^2 + \lambda L
    \quad\text{s.t.}\quad |u(x_i) - u(x_j)| \le L\,\|x_i - x_j\|_2 \ \ \forall i < j

and predicts with the midpoint Lipschitz extension of the fitted values. Here it runs inside a
scikit-learn ``Pipeline`` (standardized inputs), ``GridSearchCV`` chooses :math:`\lambda` by 5-fold
cross-validation, and the result is set beside two standard regressors tuned the same way:
k-nearest neighbours and gradient boosting.

The data are scikit-learn's diabetes set (442 patients, 10 baseline measurements: age, sex, body
mass index, blood pressure and six blood serum values), loaded in raw units
(``scaled=False``); the target is a measure of disease progression one year later (25 to 346). The
pipeline standardizes the inputs, so L is in progression units per standard deviation of the
inputs, and :math:`\lambda` in progression units squared per unit of L.
"""

# %%
# The data and the three models
# -----------------------------
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_diabetes
from sklearn.ensemble import GradientBoostingRegressor
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.neighbors import KNeighborsRegressor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from lipconv.sklearn import LipschitzRegressor

X, y = load_diabetes(return_X_y=True, scaled=False)
print(f"{X.shape[0]} patients, {X.shape[1]} inputs; target from {y.min():.0f} to {y.max():.0f}, "
      f"standard deviation {y.std():.1f}")

cv = KFold(5, shuffle=True, random_state=0)
searches = {
    "Lipschitz": GridSearchCV(
        make_pipeline(StandardScaler(), LipschitzRegressor()),
        {"lipschitzregressor__lam": [1.0, 2.0, 5.0, 10.0, 20.0, 50.0]}, cv=cv,
        scoring="neg_root_mean_squared_error"),
    "k-nearest neighbours": GridSearchCV(
        make_pipeline(StandardScaler(), KNeighborsRegressor()),
        {"kneighborsregressor__n_neighbors": [5, 10, 20, 40]}, cv=cv, scoring="neg_root_mean_squared_error"),
    "gradient boosting": GridSearchCV(
        GradientBoostingRegressor(n_estimators=100, max_depth=2, random_state=0),
        {"learning_rate": [0.02, 0.05, 0.1]}, cv=cv, scoring="neg_root_mean_squared_error"),
}
for search in searches.values():
    search.fit(X, y)

# %%
# Cross-validated error, in the target's units
# --------------------------------------------
# The root mean squared error over the same 5 folds, for the best setting of each model's grid
# (each model gets the same selection bias). A constant prediction would score the target's
# standard deviation.
print(f"{'model':22s}{'best setting':>34s}{'CV RMSE':>10s}{'+-':>6s}")
for name, search in searches.items():
    best = search.best_index_
    mean, std = -search.cv_results_["mean_test_score"][best], search.cv_results_["std_test_score"][best]
    setting = ", ".join(f"{k.split('__')[-1]} = {v:g}" for k, v in search.best_params_.items())
    print(f"{name:22s}{setting:>34s}{mean:10.1f}{std:6.1f}")

# %%
# The refitted regressor and its certificate
# ------------------------------------------
# ``GridSearchCV`` refits the best pipeline on all 442 patients. The fit is certified in two
# dimensionless parts: ``max_violation``, the worst excess of a pair constraint over all
# 97,461 pairs relative to the target's range, and ``relative_gap``, the relative duality gap of
# the whole problem; ``print`` of the solver's result shows both with their tolerances.
reg = searches["Lipschitz"].best_estimator_[-1]
print(reg.result_)
print(f"L = {reg.lipschitz_:.2f} progression units per standard deviation of the inputs; "
      f"{reg.n_active_pairs_} active pairs; certified: {reg.certified_}")

# %%
# How the error depends on :math:`\lambda`
# ----------------------------------------
# Small :math:`\lambda` lets L grow and the fit follow the noise; large :math:`\lambda` flattens it
# towards the mean (at the critical value, the constant itself).
lipschitz = searches["Lipschitz"]
lams = np.array(lipschitz.cv_results_["param_lipschitzregressor__lam"], dtype=float)
rmse = -lipschitz.cv_results_["mean_test_score"]
spread = lipschitz.cv_results_["std_test_score"]
fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), layout="constrained")
axes[0].errorbar(lams, rmse, yerr=spread, marker="o", capsize=3)
axes[0].axhline(y.std(), color="0.6", ls="--", label="constant prediction")
axes[0].set_xscale("log")
axes[0].set_xlabel(r"$\lambda$ (progression$^2$ per unit of L)")
axes[0].set_ylabel("5-fold CV RMSE (progression units)")
axes[0].set_title("LipschitzRegressor: choosing $\\lambda$")
axes[0].legend()
names = list(searches)
best_rmse = [-s.cv_results_["mean_test_score"][s.best_index_] for s in searches.values()]
best_std = [s.cv_results_["std_test_score"][s.best_index_] for s in searches.values()]
axes[1].barh(names, best_rmse, xerr=best_std, color=["C0", "C1", "C2"], capsize=3)
axes[1].axvline(y.std(), color="0.6", ls="--")
axes[1].set_xlabel("best 5-fold CV RMSE (progression units)")
axes[1].set_title("the three models, tuned on the same folds")
plt.show()
