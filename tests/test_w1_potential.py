"""wasserstein1(..., potential=g): the Kantorovich lower bound of a user's semi-dual potential (POT's
convention), beside the package's bracket."""
from __future__ import annotations

import numpy as np
import ot
import pytest
from numpy.testing import assert_allclose

from lipconv.discrepancy import wasserstein1
from lipconv.discrepancy._semidiscrete import rho_points
from lipconv.manifolds import FlatCube


def _optimal_segment_potential(cube, X):
    r"""The optimal Kantorovich potential of W1(rho_n, U[-1, 1]) on a segment, in POT's convention:
    :math:`\varphi(z) = -\int_{-1}^z \mathrm{sign}(F(t) - F_n(t))\,dt` attains
    :math:`\int \varphi\, d(\rho - \rho_n) = \int |F - F_n| = W_1` (in model units, times the scale),
    and g = -phi at the samples."""
    z = np.sort(cube.model(X)[:, 0])
    t = np.linspace(-1.0, 1.0, 400_001)
    sign = np.sign((t + 1.0) / 2.0 - np.searchsorted(z, t, side="right") / z.size)
    phi = -np.concatenate([[0.0], np.cumsum(0.5 * (sign[1:] + sign[:-1]) * np.diff(t))])
    return lambda points: -cube.scale * np.interp(cube.model(points)[:, 0], t, phi)


def test_the_optimal_potential_attains_the_exact_segment_value():
    """Property ([FCAO] Lemma 4.10 with L = 1, Kantorovich-Rubinstein): the optimal potential's bound
    is W1 itself (exact on a segment), up to the quadrature of rho; a sign error in the convention
    would give a bound far below it."""
    cube = FlatCube(1, 1)
    X = cube.sample(50, np.random.default_rng(3))
    res = wasserstein1(X, cube, potential=_optimal_segment_potential(cube, X))
    assert res.method == "exact-segment"
    # 4 x 4,096 Sobol points of a 1-Lipschitz integrand: the estimate is within 1e-3 of the value.
    assert_allclose(res.potential_value, res.value, rtol=1e-3)
    assert res.potential_lo <= res.value * (1.0 + 1e-9)
    assert 0.0 < res.potential_error < 1e-3 * res.value


@pytest.mark.skipif(not hasattr(ot, "semidiscrete"), reason=f"POT {ot.__version__} has no ot.semidiscrete")
def test_pots_potential_gives_its_c_transform_bound():
    """POT's semi-discrete potential: the bound is the mean of POT's own c-transform over the points
    of rho minus its mean at the samples, which is at least POT's semi-dual value on the same points."""
    from ot.semidiscrete import semidiscrete_c_transform, solve_semidiscrete

    cube = FlatCube(2, 2)
    X = cube.sample(96, np.random.default_rng(4))
    sampler_rng = np.random.default_rng(5)
    g = solve_semidiscrete(X, lambda b: cube.sample(b, sampler_rng), metric="euclidean", max_iter=200, batch_size=32)
    res = wasserstein1(X, cube, potential=g, seed=7)
    # The replicates the bound used: those of the bracket's lower side (the plan's own N points),
    # drawn from a fresh generator of the same seed.
    size = res.N
    rng = np.random.default_rng(7)
    points = [rho_points(cube, size, rng)[0] for _ in range(4)]

    def c_transform(Y):
        return semidiscrete_c_transform(X, Y, g, metric="euclidean")

    estimates = [np.mean(c_transform(Y)) - np.mean(c_transform(X)) for Y in points]
    assert_allclose(res.potential_value, np.mean(estimates), rtol=1e-12)
    assert_allclose(res.potential_error, np.std(estimates, ddof=1) / 2.0, rtol=1e-9)
    semidual = np.mean([np.mean(c_transform(Y)) + np.mean(g) for Y in points])
    assert res.potential_value >= semidual
    assert res.potential_lo <= res.hi


def test_the_bracket_does_not_change():
    cube = FlatCube(2, 2)
    X = cube.sample(64, np.random.default_rng(6))
    plain = wasserstein1(X, cube, seed=3)
    with_potential = wasserstein1(X, cube, seed=3, potential=np.zeros(64))
    assert (plain.value, plain.lo, plain.hi, plain.integration_error) == (
        with_potential.value, with_potential.lo, with_potential.hi, with_potential.integration_error)
    assert plain.potential_lo is None and with_potential.potential_lo < with_potential.lo


@pytest.mark.parametrize("potential, kwargs, message", [
    (np.zeros(9), {}, r"potential must have one value per sample, shape \(10,\), got shape \(9,\)"),
    (np.full(10, np.nan), {}, "potential must be finite, got 10 NaN or inf entries"),
    (lambda points: np.zeros((len(points), 2)), {}, r"potential must have one value per sample, shape \(10,\), got shape \(10, 2\)"),
    (np.zeros(10), {"replicates": 1}, "replicates must be an integer >= 2, got 1"),
    (np.zeros(10), {"N": 0}, "N must be an integer >= 1, got 0"),
])
def test_bad_potential(potential, kwargs, message):
    cube = FlatCube(1, 1)
    X = cube.sample(10, np.random.default_rng(0))
    with pytest.raises(ValueError, match=message):
        wasserstein1(X, cube, potential=potential, **kwargs)
