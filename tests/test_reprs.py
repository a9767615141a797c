"""Short summaries of results: ``print(result)`` shows the numbers that matter, each equal to the
result's own, and never the arrays."""
from __future__ import annotations

import re

import numpy as np
import pytest
from numpy.testing import assert_allclose

from lipconv.discrepancy import wasserstein1
from lipconv.manifolds import FlatCube
from lipconv.rates import fit_slope
from lipconv.solvers import CertificateWarning, lipschitz_regression

SIX_DIGITS = 5e-6  # a value printed with 6 significant digits is within half a unit of the 6th
THREE_DIGITS = 5e-3


def _fields(text: str) -> dict:
    """``key=value`` pairs of a one-line repr (values up to the next ', ' or the closing paren)."""
    return dict(re.findall(r"(\w+)=([^,]+?)(?=, |\)$| \()", text))


def _instance(n=120, k=1):
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(n, 2))
    Y = np.column_stack([np.sin(3.0 * X[:, 0]), np.cos(2.0 * X[:, 1])])[:, :k] + 0.1 * rng.standard_normal((n, k))
    return X, (Y[:, 0] if k == 1 else Y)


@pytest.mark.parametrize("kwargs", [{"lam": 0.02}, {"lipschitz": 0.8}, {"lam": 0.02, "k": 2}])
def test_lipschitz_result_summary(kwargs):
    kwargs = dict(kwargs)
    X, y = _instance(k=kwargs.pop("k", 1))
    res = lipschitz_regression(X, y, **kwargs)
    text = repr(res)
    assert str(res) == text and "\n" not in text and len(text) < 300
    f = _fields(text)
    assert (int(f["n"]), int(f["k"])) == res.values.shape
    assert f["lam"] == ("None" if res.lam is None else f"{res.lam:.6g}")
    assert_allclose(float(f["L"]), res.lipschitz, rtol=SIX_DIGITS)
    assert_allclose(float(f["objective"]), res.objective, rtol=SIX_DIGITS)
    assert_allclose(float(f["max_violation"]), res.max_violation, rtol=THREE_DIGITS)
    assert_allclose(float(f["relative_gap"]), res.relative_gap, rtol=THREE_DIGITS)
    assert f["certified"] == str(res.certified)
    assert (f["method"], f["status"]) == (repr(res.method), repr(res.status))
    assert_allclose(float(f["solve_time"].rstrip("s")), res.solve_time, rtol=THREE_DIGITS)
    assert f"max_violation={res.max_violation:.3g} (tol {res.feasibility_tol:g})" in text
    assert f"relative_gap={res.relative_gap:.3g} (tol {res.gap_tol:g})" in text


def test_lipschitz_result_summary_shows_a_failed_certificate():
    """A gap tolerance below what the solver reaches: the summary says so, with that tolerance. The
    interior-point rounds stop at a gap of about their own tolerance (1e-8), far above 1e-15 (the
    forest engine's exact multipliers reach round-off, 4e-16 here, and would pass)."""
    X, y = _instance()
    with pytest.warns(CertificateWarning):
        res = lipschitz_regression(X, y, lam=0.02, gap_tol=1e-15, method="cutting-plane",
                                   method_options={"engine": "ipm"})
    assert not res.certified
    assert "(tol 1e-15), certified=False" in repr(res)


def test_w1_result_summary():
    cube = FlatCube(2, 2)
    X = cube.sample(64, np.random.default_rng(1))
    res = wasserstein1(X, cube, potential=np.zeros(64))
    text = repr(res)
    assert "\n" not in text and len(text) < 300
    f = _fields(text)
    for name in ("value", "lo", "hi"):
        assert_allclose(float(f[name]), getattr(res, name), rtol=SIX_DIGITS)
    assert_allclose(float(f["relative_width"]), res.relative_width, rtol=THREE_DIGITS)
    assert_allclose(float(f["integration_error"]), res.integration_error, rtol=THREE_DIGITS)
    assert (f["method"], f["metric"]) == (repr(res.method), repr(res.metric))
    assert (int(f["n"]), int(f["N"]), int(f["replicates"])) == (res.n, res.N, res.replicates)
    assert_allclose(float(f["potential_lo"]), res.potential_lo, rtol=SIX_DIGITS)
    assert f"(estimate {res.potential_value:.6g})" in text
    assert "potential" not in repr(wasserstein1(X, cube))


def test_slope_fit_summary():
    rng = np.random.default_rng(2)
    n = np.repeat([64, 128, 256, 512], 5)[:-1]
    fit = fit_slope(n, n**-0.5 * np.exp(0.1 * rng.standard_normal(n.size)), n_boot=200)
    text = repr(fit)
    f = _fields(text)
    assert_allclose(float(f["slope"]), fit.slope, rtol=1e-3)
    assert_allclose(float(f["intercept"]), fit.intercept, rtol=1e-3)
    low, high = map(float, re.search(r"95% interval \[([^,]+), ([^\]]+)\]", text).groups())
    assert_allclose([low, high], [fit.ci_low, fit.ci_high], rtol=1e-3)
    assert "n=64..512 (4 sizes, 4-5 rows each), n_boot=200)" in text
