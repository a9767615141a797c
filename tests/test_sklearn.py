"""The scikit-learn estimators: scikit-learn's own estimator checks, the numbers against the solver and
the named extensions, raw units, and Pipeline / GridSearchCV / cross_val_score."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from lipconv._pairwise import pairwise_distances
from lipconv.extension import kirszbraun, mcshane, midpoint, whitney
from lipconv.losses import cross_entropy, huber
from lipconv.sklearn import LipschitzClassifier, LipschitzRegressor
from lipconv.sklearn._estimators import ACTIVE_RTOL
from lipconv.solvers import lipschitz_regression

# Two certified solves of one program (relative gap <= gap_tol = 1e-6 each) have objectives within
# the sum of their gaps of each other.
CERTIFIED_RTOL = 2e-6


@parametrize_with_checks([LipschitzRegressor(), LipschitzClassifier()])
def test_estimator_checks(estimator, check):
    """scikit-learn's estimator checks with the default parameters; none is skipped or expected to fail."""
    check(estimator)


def _data(seed: int, n: int = 40, d: int = 2):
    rng = np.random.default_rng(seed)
    X = rng.uniform(size=(n, d))
    y = np.sin(3.0 * X[:, 0]) + 0.2 * rng.standard_normal(n)
    return X, y, rng


@pytest.mark.parametrize("loss", ["squared", "absolute", "huber"])
def test_objective_is_the_solvers_with_weights_and_repeated_rows(loss):
    """Zero weights, integer weights and repeated rows: the estimator's merged program has the optimum
    of lipschitz_regression on the raw rows with the normalized weights."""
    X, y, rng = _data(0)
    X2, y2 = np.vstack([X, X[:6]]), np.concatenate([y, y[:6]])
    w = rng.integers(0, 4, size=X2.shape[0]).astype(float)
    w[:3] = 0.0
    est = LipschitzRegressor(lam=0.05, loss=loss, delta=0.1).fit(X2, y2, sample_weight=w)
    ref = lipschitz_regression(X2, y2, lam=0.05, loss=huber(0.1) if loss == "huber" else loss, weights=w / w.sum())
    assert est.certified_ and ref.certified
    assert_allclose(est.objective_, ref.objective, rtol=CERTIFIED_RTOL)
    assert est.result_.X.shape[0] == np.unique(X2[w > 0], axis=0).shape[0]  # one row per distinct point
    assert (est.lipschitz_, est.objective_, est.max_violation_, est.relative_gap_, est.lower_bound_) == (
        est.result_.lipschitz, est.result_.objective, est.result_.max_violation, est.result_.relative_gap,
        est.result_.lower_bound)


def test_fixed_lipschitz_and_norms():
    """``lipschitz=`` solves at that constant (lam unused) and p_x, p_y reach the solver: vector outputs
    in (1, inf) norms against lipschitz_regression."""
    X, y, _ = _data(1)
    est = LipschitzRegressor(lam=123.0, lipschitz=0.5).fit(X, y)
    ref = lipschitz_regression(X, y, lipschitz=0.5)
    assert est.result_.lam is None
    assert est.lipschitz_ <= 0.5 * (1.0 + 1e-12)
    assert_allclose(est.objective_, ref.objective, rtol=CERTIFIED_RTOL)
    Y = np.column_stack([y, np.cos(2.0 * X[:, 1])])
    est = LipschitzRegressor(lam=0.05, p_x=1, p_y=np.inf).fit(X, Y)
    ref = lipschitz_regression(X, Y, lam=0.05, p_x=1, p_y=np.inf)
    assert_allclose(est.objective_, ref.objective, rtol=CERTIFIED_RTOL)
    assert est.predict(X[:5]).shape == (5, 2)


@pytest.mark.parametrize("kind, extension", [("midpoint", midpoint), ("mcshane", mcshane), ("whitney", whitney)])
def test_predict_is_the_named_extension(kind, extension):
    X, y, rng = _data(2)
    est = LipschitzRegressor(lam=0.05, extension=kind, p_x=1).fit(X, y)
    X_new = rng.uniform(size=(25, 2))
    expected = extension(est.result_.X, est.result_.values[:, 0], X_new, L=est.lipschitz_, p=1)
    assert_allclose(est.predict(X_new), expected, rtol=0, atol=0)
    # The three kinds differ off the samples (so the dispatch is tested) and agree at them.
    upper = mcshane(est.result_.X, est.result_.values[:, 0], X_new, L=est.lipschitz_, p=1)
    lower = whitney(est.result_.X, est.result_.values[:, 0], X_new, L=est.lipschitz_, p=1)
    assert np.max(upper - lower) > 1e-2
    span = np.ptp(y)
    assert_allclose(est.predict(est.result_.X), est.result_.values[:, 0], rtol=0, atol=1e-6 * span)


def test_kirszbraun_prediction_keeps_the_constant():
    """Kirszbraun for vector outputs: the predictions are lipconv.extension.kirszbraun's, and data and
    predictions together are L-Lipschitz (Euclidean norms)."""
    X, y, rng = _data(3, n=30)
    Y = np.column_stack([y, np.cos(3.0 * X[:, 1])])
    est = LipschitzRegressor(lam=0.05, extension="kirszbraun").fit(X, Y)
    X_new = rng.uniform(size=(8, 2))
    pred = est.predict(X_new)
    assert_allclose(pred, kirszbraun(est.result_.X, est.result_.values, X_new, L=est.lipschitz_), rtol=0, atol=0)
    points, values = np.vstack([est.result_.X, X_new]), np.vstack([est.result_.values, pred])
    iu = np.triu_indices(points.shape[0], 1)
    excess = pairwise_distances(values, values)[iu] - est.lipschitz_ * pairwise_distances(points, points)[iu]
    assert excess.max() <= 1e-6 * np.ptp(Y)


def test_raw_units():
    """Units: x -> a x, y -> c y + b with lam -> a c lam (squared loss) maps the fit exactly."""
    X, y, rng = _data(4)
    a, c, b = 1000.0, 1.8, 32.0
    est = LipschitzRegressor(lam=0.05).fit(X, y)
    est_units = LipschitzRegressor(lam=0.05 * a * c).fit(a * X, c * y + b)
    X_new = rng.uniform(size=(20, 2))
    # Both certified to 1e-6: the predictions agree to that fraction of the label range.
    assert_allclose(est_units.predict(a * X_new), c * est.predict(X_new) + b, rtol=0, atol=1e-6 * c * np.ptp(y))
    assert_allclose(est_units.lipschitz_, c / a * est.lipschitz_, rtol=1e-6)
    assert_allclose(est_units.objective_, c**2 * est.objective_, rtol=CERTIFIED_RTOL)


def test_n_active_pairs():
    """Two samples: the one pair binds; lam above its critical value: the constant, no pair; on data the
    active pairs are the tight ones (complementary slackness)."""
    two = LipschitzRegressor(lam=0.1).fit([[0.0], [1.0]], [0.0, 1.0])
    assert two.n_active_pairs_ == 1
    X, y, _ = _data(5)
    assert LipschitzRegressor(lam=100.0).fit(X, y).n_active_pairs_ == 0
    # The interior-point rounds' dual holds inactive rows too (so a count of all rows is wrong there);
    # the forest engine's holds only its tight rows.
    for options, has_inactive_rows in (({"engine": "ipm"}, True), ({"engine": "forest"}, False)):
        est = LipschitzRegressor(lam=0.02, method="cutting-plane", method_options=options).fit(X, y)
        i, j, M = est.result_.dual
        size = np.abs(M).reshape(len(i), -1).max(axis=1)
        active = size > ACTIVE_RTOL * size.max()
        assert 0 < est.n_active_pairs_ == np.count_nonzero(active) <= len(i)
        if has_inactive_rows:
            assert np.count_nonzero(active) < len(i)
        r = est.result_
        ratio = np.abs(r.values[i, 0] - r.values[j, 0]) / (r.lipschitz * np.linalg.norm(r.X[i] - r.X[j], axis=1))
        assert_allclose(ratio[active], 1.0, rtol=0, atol=1e-6)


def test_classifier_against_the_solver():
    rng = np.random.default_rng(6)
    X = rng.uniform(size=(45, 2))
    labels = np.array(["lo", "mid", "hi"])[np.clip((X[:, 0] * 3).astype(int), 0, 2)]
    clf = LipschitzClassifier(lam=0.02, eps=0.2).fit(X, labels)
    assert clf.classes_.tolist() == ["hi", "lo", "mid"]
    Z = (labels[:, None] == clf.classes_[None, :]).astype(float)
    ref = lipschitz_regression(X, Z, lam=0.02, loss=cross_entropy(0.2))
    assert clf.certified_ and ref.certified
    assert_allclose(clf.objective_, ref.objective, rtol=CERTIFIED_RTOL)
    X_new = rng.uniform(size=(30, 2))
    P = clf.predict_proba(X_new)
    assert P.shape == (30, 3) and P.min() >= 0.0
    assert_allclose(P.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    assert (clf.predict(X_new) == clf.classes_[P.argmax(axis=1)]).all()
    # The projection leaves the fitted rows (on the simplex) unchanged.
    assert_allclose(clf.predict_proba(clf.result_.X), clf.result_.values, rtol=0, atol=1e-6)
    assert (clf.predict(X) == labels).mean() > 0.9


def test_classifier_kirszbraun_probabilities_keep_the_constant():
    """With Kirszbraun and the Euclidean projection, fitted rows and predicted probabilities together
    are L-Lipschitz (the projection onto the simplex is 1-Lipschitz)."""
    rng = np.random.default_rng(7)
    X = rng.uniform(size=(30, 2))
    labels = (X[:, 0] + 0.3 * X[:, 1] > 0.6).astype(int)
    clf = LipschitzClassifier(lam=0.02, extension="kirszbraun").fit(X, labels)
    X_new = rng.uniform(size=(8, 2))
    P = clf.predict_proba(X_new)
    points, values = np.vstack([clf.result_.X, X_new]), np.vstack([clf.result_.values, P])
    iu = np.triu_indices(points.shape[0], 1)
    excess = pairwise_distances(values, values)[iu] - clf.lipschitz_ * pairwise_distances(points, points)[iu]
    assert excess.max() <= 1e-6


def test_pipeline_grid_search_and_cross_val_score():
    """The model-selection tools give the numbers of the same fits done by hand."""
    X, y, rng = _data(8, n=36)
    X_new = rng.uniform(size=(10, 2))
    pipe = make_pipeline(StandardScaler(), LipschitzRegressor(lam=0.05))
    scaler = StandardScaler().fit(X)
    by_hand = LipschitzRegressor(lam=0.05).fit(scaler.transform(X), y)
    assert_allclose(pipe.fit(X, y).predict(X_new), by_hand.predict(scaler.transform(X_new)), rtol=0, atol=0)

    cv = KFold(3, shuffle=True, random_state=0)
    lams = [1e-3, 0.05, 3.0]

    def fold_scores(lam):
        model = clone(pipe).set_params(lipschitzregressor__lam=lam)
        return [clone(model).fit(X[tr], y[tr]).score(X[te], y[te]) for tr, te in cv.split(X)]

    by_hand_scores = {lam: fold_scores(lam) for lam in lams}
    assert_allclose(cross_val_score(pipe, X, y, cv=cv), by_hand_scores[0.05], rtol=0, atol=0)
    grid = GridSearchCV(pipe, {"lipschitzregressor__lam": lams}, cv=cv).fit(X, y)
    means = [np.mean(by_hand_scores[lam]) for lam in lams]
    assert_allclose(grid.cv_results_["mean_test_score"], means, rtol=0, atol=1e-15)
    assert np.ptp(means) > 0.1  # lam matters, so the choice below is a real one
    assert grid.best_params_ == {"lipschitzregressor__lam": lams[int(np.argmax(means))]}
    assert grid.best_estimator_[-1].lam == grid.best_params_["lipschitzregressor__lam"]

    labels = (X[:, 0] > 0.5).astype(int)
    clf = LipschitzClassifier(lam=0.02)
    by_hand = [clone(clf).fit(X[tr], labels[tr]).score(X[te], labels[te]) for tr, te in cv.split(X)]
    assert_allclose(cross_val_score(clf, X, labels, cv=cv), by_hand, rtol=0, atol=0)


@pytest.mark.parametrize("make, message", [
    (lambda: LipschitzRegressor(lam=0.0), "lam must be finite and > 0, got 0.0"),
    (lambda: LipschitzRegressor(loss="cross_entropy"), "loss must be one of .*, got 'cross_entropy'"),
    (lambda: LipschitzRegressor(loss="huber", delta=-1.0), "delta must be finite and > 0, got -1.0"),
    (lambda: LipschitzRegressor(extension="auto"), "extension must be one of .*, got 'auto'"),
    (lambda: LipschitzRegressor(extension="kirszbraun", p_x=1), "extension 'kirszbraun' needs p_x = p_y = 2, got p_x = 1"),
    (lambda: LipschitzRegressor(p_y=3), "p_y must be one of 1, 2, inf"),
    (lambda: LipschitzClassifier(eps=0.0), "eps must be finite and > 0, got 0.0"),
])
def test_bad_parameters(make, message):
    X, y, _ = _data(9, n=10)
    target = (y > 0).astype(int) if isinstance(make(), LipschitzClassifier) else y
    with pytest.raises(ValueError, match=message):
        make().fit(X, target)


@pytest.mark.parametrize("weights, message", [
    (-np.ones(10), "sample_weight must be >= 0, got a smallest entry of -1.0"),
    (np.ones(9), r"sample_weight must have shape \(10,\) to match X, got shape \(9,\)"),
    (np.zeros(10), "sample_weight must have a positive sum"),
])
def test_bad_sample_weight(weights, message):
    X, y, _ = _data(9, n=10)
    with pytest.raises(ValueError, match=message):
        LipschitzRegressor().fit(X, y, sample_weight=weights)


def test_one_class_left_by_the_weights():
    X, _, _ = _data(9, n=10)
    labels = np.arange(10) % 2
    with pytest.raises(ValueError, match="at least 2 classes with positive weight, got 1 class"):
        LipschitzClassifier().fit(X, labels, sample_weight=labels.astype(float))


def _run(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_scikit_learn_is_optional():
    """Without scikit-learn the solvers work and lipconv.sklearn names the extra to install; an old
    scikit-learn is refused with its version."""
    missing = _run(
        "import sys; sys.modules['sklearn'] = None\n"
        "from lipconv import lipschitz_regression\n"
        "print(lipschitz_regression([0.0, 1.0], [0.0, 1.0], lam=0.1).certified)\n"
        "try:\n    import lipconv.sklearn\nexcept ImportError as exc:\n    print(exc)\n"
    )
    assert missing.splitlines() == [
        "True", 'lipconv.sklearn needs scikit-learn >= 1.6: install it with pip install "lipconv[sklearn]" '
        "(scikit-learn is not installed)"]
    old = _run(
        "import sklearn; sklearn.__version__ = '1.5.2'\n"
        "try:\n    import lipconv.sklearn\nexcept ImportError as exc:\n    print(exc)\n"
    )
    assert "(found scikit-learn 1.5.2)" in old
