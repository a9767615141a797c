"""The certified 1-D references (lipconv.continuum.lifted_reference) and the study's label families
(issue 13): brackets that contain the closed forms, bounds that hold, agreement with direct
fine-quadrature solves on the cube (an independent path: the general solver on 2-D nodes, the label
at the nodes rather than its cell means, no lifting), and the noisy labels' population problem."""
from __future__ import annotations

import numpy as np
import pytest

from lipconv.continuum import continuum_minimizer, lifted_reference, ramp_reference, step_reference
from lipconv.manifolds import FlatCube, onehot_label, ramp_label, sine_label, soft_label, step_label
from lipconv.rates import make_problem, parse_label


@pytest.mark.parametrize("kind, lam", [("ramp", 0.02), ("ramp", 0.08), ("step", 0.05)])
def test_lifted_bracket_contains_the_closed_form_and_bounds_its_error(kind, lam):
    """J* of the closed form lies in [lower, value]; the certified L2 and sup bounds are at least the
    actual distance from v_h to the closed form, on a fine grid."""
    M = FlatCube(2, 3, seed=0)
    if kind == "ramp":
        label, exact = ramp_label(0.5), ramp_reference(lam, 0.5, 2, scale=M.scale)
    else:
        label, exact = step_label(), step_reference(lam, 2, scale=M.scale)
    ref = lifted_reference(label, lam=lam, m=2, scale=M.scale, N=2048)
    assert ref.lower <= exact.value <= ref.value
    assert ref.error_value < 1e-6 * exact.value
    t = np.linspace(-1.0, 1.0, 200001)
    diff = ref.u(t) - exact.u(t)
    assert np.sqrt(np.mean(diff**2)) <= ref.error_l2
    assert np.abs(diff).max() <= ref.error_sup
    np.testing.assert_allclose(ref.lipschitz, exact.lipschitz, rtol=1e-3)


def test_lifted_bracket_excludes_a_planted_wrong_value():
    """The bracket is narrow enough to reject the closed form of a 1 % different lam."""
    M = FlatCube(1, 1)
    ref = lifted_reference(ramp_label(0.5), lam=0.05, m=1, scale=M.scale, N=2048)
    wrong = ramp_reference(0.0505, 0.5, 1, scale=M.scale).value
    assert not (ref.lower <= wrong <= ref.value)


def test_lifted_bounds_shrink_with_the_cells():
    """J's bracket falls like N^-2 (at least 3x per doubling) and the L2 bound like 1/N."""
    M = FlatCube(2, 2)
    a = lifted_reference(soft_label(3), lam=0.05, loss="cross_entropy", m=2, scale=M.scale, N=512)
    b = lifted_reference(soft_label(3), lam=0.05, loss="cross_entropy", m=2, scale=M.scale, N=1024)
    assert b.error_value < a.error_value / 3.0
    assert b.error_l2 < a.error_l2 / 1.5


def _direct(label, lam, loss, nx=120, ny=3):
    """The continuum problem on FlatCube(2, 2) by the general solver on an nx x ny midpoint grid."""
    M = FlatCube(2, 2)
    sol = continuum_minimizer(M, label, lam=lam, loss=loss, N=nx * ny, estimate_error=False,
                              quadrature=lambda n: M.grid_quadrature((nx, ny)), method="cutting-plane")
    return M, sol


@pytest.mark.parametrize("label, loss", [
    (onehot_label(3), "cross_entropy"),
    (soft_label(3), "cross_entropy"),
    (sine_label(1.0), "squared"),
    (ramp_label(0.5), "absolute"),
    (ramp_label(0.5), "huber"),
])
def test_lifted_reference_agrees_with_a_direct_fine_quadrature_solve(label, loss):
    """The lifted reference against a direct solve of the 2-D continuum problem on a 120 x 3 grid:
    J within 1 % and the values at the nodes within 0.05 (the grid's own quadrature error, which
    is O(1/120) near the label's jumps); a wrong lam (x 1.5) is outside that tolerance."""
    lam = 0.05
    M, sol = _direct(label, lam, loss)
    ref = lifted_reference(label, lam=lam, loss=loss, m=2, scale=M.scale, N=4096)
    np.testing.assert_allclose(sol.objective, ref.value, rtol=1e-2)
    vals = np.asarray(sol.values).reshape(sol.nodes.shape[0], -1)
    u = np.asarray(ref.u(M.coordinate(sol.nodes))).reshape(vals.shape)
    assert np.abs(vals - u).max() <= 0.05
    wrong = lifted_reference(label, lam=1.5 * lam, loss=loss, m=2, scale=M.scale, N=4096)
    assert abs(wrong.value - sol.objective) > 1e-2 * sol.objective


def test_cross_entropy_reference_lies_on_the_simplex_and_is_certified():
    ref = lifted_reference(onehot_label(3), lam=0.02, loss="cross_entropy", m=2, scale=FlatCube(2, 2).scale, N=2048)
    t = np.linspace(-1, 1, 5001)
    U = ref.u(t)
    assert U.shape == (t.size, 3)
    assert U.min() >= -1e-12
    np.testing.assert_allclose(U.sum(axis=1), 1.0, atol=1e-9)
    assert np.isfinite(ref.error_l2) and ref.error_l2 < 5e-3
    # Symmetry of the problem: class 0 at t is class 2 at -t.
    np.testing.assert_allclose(U[:, 0], U[::-1, 2], atol=1e-6)


def test_noisy_labels_population_problem():
    """ramp + noise: the closed form of the mean label with J raised by sigma^2; flip p: the mean
    label (1 - 2p) y and J raised by E 4p(1-p) y^2. Both checked against a Monte Carlo estimate of
    E l(u_ref(x), y) over noisy samples."""
    rng = np.random.default_rng(0)
    for spec in ("ramp+noise:0.5", "ramp+flip:0.2", "onehot:3+flip:0.1"):
        loss = "cross_entropy" if spec.startswith("onehot") else "squared"
        prob = make_problem("cube", 1, lam=0.05, label=spec, loss=loss)
        M = prob.manifold()
        X = M.sample(400_000, rng)
        y = prob.sample_labels(M, X, rng)
        from lipconv.losses import get_loss

        U = np.asarray(prob.u_ref(X)).reshape(X.shape[0], -1)
        J = float(np.mean(get_loss(loss).value(U, y))) + prob.lam * prob.lipschitz_ref
        se = float(np.std(get_loss(loss).value(U, y)) / np.sqrt(X.shape[0]))
        assert abs(J - prob.J_ref) <= 4 * se + 1e-6, (spec, J, prob.J_ref, se)
        base = make_problem("cube", 1, lam=0.05, label=spec.partition("+")[0], loss=loss)
        assert prob.J_ref > base.J_ref + 10 * se  # the noise is in J, not lost


def test_flip_mean_and_samples():
    model = parse_label("ramp+flip:0.25")
    t = np.linspace(-1, 1, 11)
    np.testing.assert_allclose(model.mean(t), 0.5 * ramp_label(0.5)(t))
    rng = np.random.default_rng(1)
    tt = np.full(200_000, 0.8)
    y = model.sample(tt, rng)
    assert set(np.unique(y)) == {-1.0, 1.0}
    assert abs(np.mean(y == -1.0) - 0.25) < 0.01
    oh = parse_label("onehot:3+flip:0.3")
    z = oh.sample(np.full(100_000, -0.9), rng)
    assert abs(np.mean(z[:, 0] == 0.0) - 0.3) < 0.01
    np.testing.assert_allclose(oh.mean(np.array([-0.9])), [[0.7, 0.15, 0.15]])


@pytest.mark.parametrize("spec, match", [
    ("ramp+noise:-1", "noise sigma"),
    ("ramp+flip:0.5", "flip probability"),
    ("soft:3+flip:0.1", "one-hot"),
    ("onehot:3+noise:0.1", "scalar labels"),
    ("sin:x", "needs a number"),
    ("ramp+blur:1", "modifiers"),
    ("wave", "label must be one of"),
])
def test_bad_label_specs_raise(spec, match):
    with pytest.raises(ValueError, match=match):
        parse_label(spec)


@pytest.mark.parametrize("kwargs, match", [
    (dict(label="ramp", loss="cross_entropy"), "simplex"),
    (dict(label="onehot:3", loss="absolute"), "vector labels need"),
    (dict(label="ramp+noise:0.1", loss="huber"), "noisy labels"),
])
def test_bad_label_loss_pairs_raise(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_problem("cube", 2, lam=0.05, **kwargs)


def test_vector_labels_off_the_cube_raise():
    with pytest.raises(ValueError, match="flat cube"):
        make_problem("sphere", 2, lam=0.05, label="onehot:3", loss="cross_entropy")


@pytest.mark.parametrize("kwargs, match", [
    (dict(lam=0.0), "lam must be finite and > 0"),
    (dict(lam=float("nan")), "lam must be finite and > 0"),
    (dict(lam=0.1, N=2), "N must be an integer >= 4"),
    (dict(lam=0.1, scale=-1.0), "scale must be finite and > 0"),
    (dict(lam=0.1, p_y=3), "p_y must be one of"),
])
def test_lifted_reference_bad_input_raises(kwargs, match):
    with pytest.raises(ValueError, match=match):
        lifted_reference(ramp_label(0.5), **kwargs)


def test_lifted_reference_rejects_a_label_that_is_not_a_function_and_nan_labels():
    with pytest.raises(ValueError, match="label must be a callable"):
        lifted_reference("ramp", lam=0.1)
    with pytest.raises(ValueError, match="finite"):
        lifted_reference(lambda t: t * np.nan, lam=0.1, N=8)
