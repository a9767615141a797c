"""Every public callable of lipconv.nn against a catalogue of bad inputs (issue 27, item 1).

For each callable in ``lipconv.nn.__all__`` (the result dataclasses excepted: they are outputs) the
walk holds one valid call on a tiny model, runs it once, then replaces one argument at a time by each
bad value of that argument's kind: NaN, inf, empty, wrong shape, wrong dtype (integer, complex,
object, str), negative or zero sizes, labels of the wrong kind (float, one-hot, out of range), a
one-output model where classes are needed, inputs outside the attack box, a non-callable model. Each
must raise ``ValueError`` or ``TypeError`` whose message names the argument (the one check,
``lipconv.nn._common.check_inputs``, words it "<name> must ..."). A new public function without an
entry here fails ``test_every_public_callable_is_walked``.

Below the walk: the silent wrong answers of the issue, each with the number it used to return.
"""
from __future__ import annotations

import dataclasses
import functools
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn

import lipconv.nn as L  # noqa: E402

pytestmark = pytest.mark.usefixtures("torch_one_thread")

N, D, K = 3, 4, 3


def _model(k=K, seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(D, 5), nn.Tanh(), nn.Linear(5, k)).double()


def _x():
    return 0.25 + 0.5 * torch.rand((N, D), generator=torch.Generator().manual_seed(1), dtype=torch.float64)


def _y():
    return torch.tensor([0, 1, 2])


# ----------------------------------------------------------------------------- the catalogue of bad values
def _bad_batches(good):
    """Bad values for a batch tensor of shape (n, ...)."""
    nan = good.clone()
    nan[0, 0] = math.nan
    inf = good.clone()
    inf[-1, -1] = math.inf
    return {
        "NaN": nan, "inf": inf, "empty": good[:0], "one sample axis only": good[0], "integer dtype": good.to(torch.int64),
        "complex dtype": good.to(torch.complex128), "numpy array": good.numpy(), "str": "x", "None": None,
    }


def _bad_labels(good):
    return {
        "float labels": good.to(torch.float64), "one-hot labels": nn.functional.one_hot(good, K),
        "negative label": torch.tensor([0, -1, 2]), "label >= k": torch.tensor([0, 1, K]),
        "wrong length": good[:2], "bool labels": good > 0, "list": [0, 1, 2], "str": "y",
    }


def _bad_targets(good):
    nan = good.clone()
    nan[0] = math.nan
    return {"NaN targets": nan, "wrong length": good[:2], "list": good.tolist(), "str": "y"}


_REAL = {"NaN": math.nan, "inf": math.inf, "str": "1", "complex": 1j, "bool": True, "list": [1.0], "None": None}
_POSITIVE = {**_REAL, "zero": 0.0, "negative": -1.0}
_NONNEG = {**_REAL, "negative": -1.0}
_INT1 = {"zero": 0, "negative": -3, "float": 2.5, "NaN": math.nan, "str": "2", "bool": True, "None": None}
_INT0 = {"negative": -1, "float": 0.5, "NaN": math.nan, "str": "0", "None": None}
_SEED = {"negative": -1, "float": 0.5, "NaN": math.nan, "str": "0"}
_NORM = {"L3": "L3", "zero": 0, "None": None, "NaN": math.nan}
_CHOICE = {"unknown": "nope", "None": None, "int": 3}
_CALLABLE = {"int": 3, "str": "f"}
_CLAMP = {"reversed": (1.0, 0.0), "NaN": (math.nan, 1.0), "one number": 1.0, "str": "box", "triple": (0, 1, 2)}
_SHAPE = {"negative": (-4,), "zero": (0,), "float": (4.0,), "empty": (), "str": "4", "int": 4}
_FRACTION = {"zero": 0.0, "one": 1.0, "negative": -0.1, "NaN": math.nan, "str": "0.5", "None": None}
_BOOL = {"str": "yes", "int": 2, "None": None}


def _arrays(ndim=1, size=6, nonneg=False):
    good = np.linspace(0.1, 1.0, size)
    out = {"NaN": np.where(np.arange(size) == 1, np.nan, good), "empty": np.array([]), "complex": good + 1j,
           "object": good.astype(object), "str": np.array(["a"] * size), "wrong shape": good.reshape(2, -1)}
    if nonneg:
        out["negative"] = -good
    return out


def _outside_box(good):
    out = good.clone()
    out[0, 0] = 1.5
    return out


# ----------------------------------------------------------------------------- one valid call per callable
# name -> (function of the keyword arguments, valid arguments, {argument: bad values})
def _specs():
    m, x, y = _model(), _x(), _y()
    batch, labels = _bad_batches(x), _bad_labels(y)
    one_out = {"one-output model": _model(k=1), "not callable": 3}
    any_model = {"not callable": 3}
    clamp_x = {**batch, "outside the box": _outside_box(x)}
    targets = x[:, :K].clone()
    mse = functools.partial(_mse)
    specs = {}

    def add(name, f, good, bad):
        specs[name] = (f, good, bad)

    penalty_bad = {"model": one_out, "x": batch, "y": labels, "norm": _NORM, "loss_fn": _CALLABLE}
    add("tv_penalty", L.tv_penalty, dict(model=m, x=x, y=y, method="fd"),
        {**penalty_bad, "method": _CHOICE, "h": _POSITIVE})
    add("lipschitz_penalty", L.lipschitz_penalty, dict(model=m, x=x, y=y), {**penalty_bad, "method": _CHOICE, "h": _POSITIVE})
    add("fd_gradient_penalty", L.fd_gradient_penalty, dict(model=m, x=x, y=y), {**penalty_bad, "h": _POSITIVE})
    add("fd_gradient_penalty (custom loss)", L.fd_gradient_penalty, dict(model=m, x=x, y=targets, loss_fn=mse),
        {"y": _bad_targets(targets)})
    add("double_backprop_penalty", L.double_backprop_penalty, dict(model=m, x=x, y=y), penalty_bad)
    jac_bad = {"model": any_model, "x": batch, "p": _NORM, "q": _NORM, "iters": _INT1, "seed": _SEED,
               "v0": {**{k: v for k, v in _bad_batches(x).items() if k != "None"}, "wrong shape": x[:2]}, "alpha": {k: v for k, v in _POSITIVE.items() if k != "None"}}
    add("jacobian_operator_norm", L.jacobian_operator_norm, dict(model=m, x=x), jac_bad)
    add("jacobian_operator_penalty", L.jacobian_operator_penalty, dict(model=m, x=x), jac_bad)
    add("jacobian_spectral_penalty", L.jacobian_spectral_penalty, dict(model=m, x=x),
        {k: v for k, v in jac_bad.items() if k not in ("p", "q", "alpha")} | {"eps": _POSITIVE, "form": _CHOICE})
    add("global_spectral_penalty", L.global_spectral_penalty, dict(model=m),
        {"model": {"function": lambda z: z, "int": 3}, "iters": _INT1, "seed": _SEED, "conv": _CHOICE,
         "state": {"list": [], "str": "s"}, "input_shape": _SHAPE})
    add("RegularizedLoss", L.RegularizedLoss, dict(terms={"tv": (0.1, L.tv_penalty)}),
        {"terms": {"list": [1], "bad pair": {"tv": L.tv_penalty}, "negative weight": {"tv": (-1, L.tv_penalty)},
                   "NaN weight": {"tv": (math.nan, L.tv_penalty)}, "str weight": {"tv": ("1", L.tv_penalty)}},
         "loss_fn": _CALLABLE, "share_forward": _BOOL})
    reg = L.RegularizedLoss({"tv": (0.1, L.tv_penalty)})
    add("RegularizedLoss.__call__", reg, dict(model=m, x=x, y=y), {"model": one_out, "x": batch, "y": labels})
    add("TanhLogits", L.TanhLogits, dict(num_features=3), {"num_features": _INT1, "t0": _POSITIVE})
    add("per_sample_mode", lambda model: L.per_sample_mode(model).__enter__(), dict(model=m), {"model": any_model})
    attack_bad = {"model": one_out, "x": clamp_x, "y": labels, "eps": _NONNEG, "norm": _NORM, "loss_fn": _CALLABLE,
                  "clamp": _CLAMP}
    add("fgsm", L.fgsm, dict(model=m, x=x, y=y, eps=0.1), attack_bad)
    add("pgd", L.pgd, dict(model=m, x=x, y=y, eps=0.5, norm="L1", steps=2),
        {**attack_bad, "steps": _INT1, "restarts": _INT1, "seed": _SEED, "random_start": _BOOL,
         "alpha": {k: v for k, v in _POSITIVE.items() if k not in ("None", "inf")},
         "l1_sparsity": {k: v for k, v in _FRACTION.items() if k not in ("zero", "None")},
         "x_init": {**{k: v for k, v in _bad_batches(x).items() if k != "None"}, "wrong shape": x[:2]},
         "eps (per sample)": None})
    add("project_ball", L.project_ball, dict(delta=x - 0.5, eps=0.3, norm="L2"),
        {"delta": {k: v for k, v in batch.items()}, "eps": _NONNEG, "norm": _NORM})
    add("minimal_adversarial_distance", L.minimal_adversarial_distance,
        dict(model=m, x=x, y=y, norm="L1", eps_max=2.0, bisections=1, steps=2),
        {"model": one_out, "x": clamp_x, "y": labels, "norm": _NORM, "eps_max": _POSITIVE, "bisections": _INT0,
         "steps": _INT1, "restarts": _INT1, "seed": _SEED, "clamp": _CLAMP, "loss_fn": _CALLABLE,
         "alpha_ratio": {k: v for k, v in _POSITIVE.items() if k != "None"},
         "l1_sparsity": {k: v for k, v in _FRACTION.items() if k not in ("zero", "None")}})
    logits = m(x).detach()
    add("margin_loss", L.margin_loss, dict(logits=logits, y=y),
        {"logits": {**_bad_batches(logits), "one output": logits[:, :1]}, "y": labels})
    dist = np.array([0.5, 1.0, np.inf])
    add("error_curve", L.error_curve, dict(distances=dist, eps=[0.1, 1.0]),
        {"distances": {**_arrays(nonneg=True), "-inf": np.array([-np.inf, 1.0])}, "eps": {**_arrays(ndim=0, nonneg=True)}})
    add("median_adversarial_distance", L.median_adversarial_distance, dict(distances=dist),
        {"distances": _arrays(nonneg=True)})
    add("jacobian", L.jacobian, dict(model=m, x=x), {"model": any_model, "x": batch, "transform": _CALLABLE})
    add("empirical_lipschitz", L.empirical_lipschitz, dict(model=m, data=x),
        {"model": any_model, "data": batch, "norm": _NORM, "out_norm": _NORM, "of": _CHOICE, "batch_size": _INT1,
         "seed": _SEED})
    add("empirical_lipschitz (of='loss')", L.empirical_lipschitz, dict(model=m, data=x, of="loss", y=y),
        {"model": one_out, "y": labels, "loss_fn": _CALLABLE})
    add("layer_norm_product", L.layer_norm_product, dict(model=m, input_shape=(D,)),
        {"model": {"function": lambda z: z, "no parameters": nn.Sequential(nn.ReLU())}, "input_shape": _SHAPE,
         "norm": _NORM, "out_norm": _NORM})
    add("l_bound", L.l_bound, dict(loss_values=np.array([-1.0, -0.5]), L=2.0),
        {"loss_values": _arrays(), "L": _POSITIVE, "l0": _REAL})
    add("omega_bound", L.omega_bound,
        dict(loss_values=np.array([-1.0, -0.5]), grad_norms=np.array([0.5, 1.0]), eps=[0.1, 0.2], omega=[0.0, 0.01]),
        {"loss_values": _arrays(), "grad_norms": _arrays(nonneg=True), "eps": _arrays(ndim=0, nonneg=True),
         "omega": _arrays(ndim=0), "l0": _REAL})
    add("modulus_of_continuity", L.modulus_of_continuity, dict(model=m, x=x, y=y, eps=0.1, n_samples=2),
        {"model": one_out, "x": batch, "y": labels, "eps": _NONNEG, "norm": _NORM, "n_samples": _INT1, "seed": _SEED,
         "loss_fn": _CALLABLE})
    maxima = np.linspace(1.0, 2.0, 8) + 0.01 * np.sin(np.arange(8))
    add("fit_extreme_value", L.fit_extreme_value, dict(maxima=maxima),
        {"maxima": {**_arrays(), "too few": maxima[:3]}, "p": _FRACTION, "min_distinct": {**_FRACTION, "zero": -1e-3, "one": 1.5},
         "ks_level": {**_FRACTION, "zero": -1e-3, "one": 1.5}})
    add("gradient_norm_detector", L.gradient_norm_detector, dict(model=m, x_clean=x),
        {"model": one_out, "x_clean": batch, "fpr": _FRACTION, "norm": _NORM, "out_norm": _NORM, "softmax": _BOOL})
    det = L.gradient_norm_detector(m, x)
    add("GradientNormDetector.detect", det.detect, dict(model=m, x=x), {"model": one_out, "x": batch})
    add("clever", L.clever, dict(model=m, x=x, radius=0.2, nb_batches=5, batch_size=2, pool_factor=2, refine=1),
        {"model": one_out, "x": clamp_x, "radius": _POSITIVE, "norm": _NORM, "nb_batches": _INT1, "batch_size": _INT1,
         "pool_factor": _INT1, "refine": _INT0, "seed": _SEED, "c_init": _POSITIVE, "clamp": _CLAMP,
         "input_shape": _SHAPE})
    add("reverse_weibull_location", L.reverse_weibull_location, dict(maxima=maxima),
        {"maxima": {**_arrays(), "one value": maxima[:1]}, "c_init": _POSITIVE})
    add("lipschitz_bracket", L.lipschitz_bracket, dict(model=m, x=x),
        {"model": any_model, "x": batch, "norm": _NORM, "out_norm": _NORM, "seed": _SEED, "input_shape": _SHAPE,
         "estimate": _REAL | {"None": 1j}})
    add("pair_lipschitz", L.pair_lipschitz, dict(model=m, x=x),
        {"model": any_model, "x": batch, "norm": _NORM, "out_norm": _NORM, "batch_size": _INT1})
    add("lipschitz_loss_gap", L.lipschitz_loss_gap, dict(model=m, x=x, y=y),
        {"model": one_out, "x": batch, "y": labels, "outputs": _CHOICE, "p_x": _NORM, "p_y": _NORM, "seed": _SEED,
         "loss": _CHOICE, "input_shape": _SHAPE, "solve": _CALLABLE})
    return specs


def _mse(out, t):
    return ((out - t) ** 2).sum(dim=1)


_SPECS = _specs()
_RESULTS = {name for name in L.__all__ if dataclasses.is_dataclass(getattr(L, name))}
_CASES = [(name, arg, label) for name, (_, _, bad) in _SPECS.items() for arg, values in bad.items() if values
          for label in values]


def test_every_public_callable_is_walked():
    walked = {name.split(" ")[0].split(".")[0] for name in _SPECS}
    missing = set(L.__all__) - _RESULTS - walked
    assert not missing, f"public callables without a bad-input walk: {sorted(missing)}"
    assert "GradientNormDetector" in _RESULTS and "CleverResult" in _RESULTS


@pytest.mark.parametrize("name", sorted(_SPECS))
def test_the_valid_call_of_each_walk_runs(name):
    f, good, _ = _SPECS[name]
    f(**good)


@pytest.mark.parametrize("name", sorted(_SPECS))
def test_bad_input_raises_naming_the_parameter(name):
    """Each bad value of each argument, one at a time (the failures are collected, then reported together)."""
    f, good, bad = _SPECS[name]
    failures = []
    for arg, values in bad.items():
        for label, value in (values or {}).items():
            kwargs = dict(good)
            kwargs[arg] = value
            try:
                f(**kwargs)
            except (ValueError, TypeError) as err:
                if arg not in str(err):
                    failures.append(f"{arg}={label}: message does not name {arg!r}: {err}")
            except Exception as err:  # noqa: BLE001 - reported as a failure of the check
                failures.append(f"{arg}={label}: {type(err).__name__}: {err}")
            else:
                failures.append(f"{arg}={label}: no error")
    assert not failures, "\n".join(failures)


def test_walk_counts():
    """The catalogue's size, for the closing note: callables walked and bad inputs tried."""
    assert len(_SPECS) >= 35 and len(_CASES) >= 800


# ----------------------------------------------------------------------------- the silent wrong answers of issue 27
def test_clever_with_nan_input_raises_instead_of_an_infinite_score():
    """Before: score inf for the NaN sample (margin NaN, every comparison false)."""
    x = _x()
    x[1, 2] = math.nan
    with pytest.raises(ValueError, match=r"x must be finite, got 1 NaN or inf entries"):
        L.clever(_model(), x, radius=0.1, nb_batches=5, batch_size=2, refine=0)


def test_minimal_adversarial_distance_rejects_float_and_one_hot_labels():
    """Before: float labels never equal an argmax, so every sample counted as misclassified: distance 0 for all;
    one-hot labels failed inside torch."""
    m, x, y = _model(), _x(), _y()
    with pytest.raises(TypeError, match=r"y must hold integer class labels \(e.g. torch.int64\), got dtype torch.float64"):
        L.minimal_adversarial_distance(m, x, y.double(), eps_max=1.0)
    with pytest.raises(ValueError, match=r"y must have shape \(3,\) .* got shape \(3, 3\) \(one-hot rows\? pass y.argmax"):
        L.minimal_adversarial_distance(m, x, nn.functional.one_hot(y, K), eps_max=1.0)


def test_lipschitz_loss_gap_rejects_float_labels_instead_of_truncating():
    """Before: y = [0.9, 1.7, 2.2] became [0, 1, 2] silently."""
    with pytest.raises(TypeError, match=r"y must hold integer class labels"):
        L.lipschitz_loss_gap(_model(), _x(), torch.tensor([0.9, 1.7, 2.2]))


def test_l1_pgd_refuses_inputs_outside_the_box_and_nan():
    """Before: an input at 1.5 with clamp (0, 1) was clamped first, so the 'attack' moved it by 13.8 in l1 for
    eps 0.5 (issue 28, item 5 as well); NaN input gave NaN output."""
    m, x, y = _model(), _x(), _y()
    far = x.clone()
    far[:, 0] = 1.5
    with pytest.raises(ValueError, match=r"x must lie in the box clamp = \(0, 1\) .* got entries in \[0.30.*, 1.5\]"):
        L.pgd(m, far, y, eps=0.5, norm="L1")
    out = L.pgd(m, far, y, eps=0.5, norm="L1", clamp=None, steps=3)
    assert float((out - far).abs().sum(dim=1).max()) <= 0.5 * (1 + 1e-9)
    nan = x.clone()
    nan[0, 0] = math.nan
    with pytest.raises(ValueError, match=r"x must be finite"):
        L.pgd(m, nan, y, eps=0.5, norm="L1")


def test_integer_inputs_one_output_models_and_out_of_range_labels_are_named():
    """Before: failures inside torch ('only floating point tensors can require gradients', an IndexError
    'Target 3 is out of bounds', or a message about an internal A)."""
    m, x, y = _model(), _x(), _y()
    with pytest.raises(TypeError, match=r"x must have a floating-point dtype .* got torch.int64"):
        L.fd_gradient_penalty(m, (x * 4).to(torch.int64), y)
    with pytest.raises(ValueError, match=r"model must return logits of shape \(3, k\) with k >= 2 classes, got shape \(3, 1\)"):
        L.pgd(_model(k=1), x, y, eps=0.1)
    with pytest.raises(ValueError, match=r"y must hold class labels in \[0, 3\) for a model with k = 3 outputs, "
                                         r"got labels in \[0, 3\]"):
        L.tv_penalty(m, x, torch.tensor([0, 1, 3]))
    with pytest.raises(ValueError, match=r"model must return logits"):
        L.clever(_model(k=1), x, radius=0.1)
