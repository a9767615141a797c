"""Every public callable refuses bad input with a ValueError or TypeError that names the parameter
(issue 27), and each study's command line refuses bad flags with exit code 2 and an 'error:' line.

The walk enumerates ``__all__`` of every subpackage (:data:`SUBPACKAGES`) at collection time: a
public callable with no entry in :data:`CATALOGUE` (and not a result record in :data:`RECORDS`) fails
``test_every_public_callable_has_a_catalogue_entry``, so a new public function cannot land without
its bad inputs. Each entry gives a valid call and, per parameter, the bad values to try (NaN, inf,
empty, wrong shape, wrong dtype incl. complex/object/str, zero or negative sizes, duplicated points,
labels of the wrong kind, unknown options); each bad value replaces the valid one alone, and the call
must raise ValueError or TypeError whose message names that parameter (as a word, or the regex the
entry gives). A silent return, another exception type (a crash inside numpy, scipy or torch) or a
message that does not name the parameter fails.

``python tests/test_public_inputs.py`` prints the counts (inputs tried, clear errors, and the other
outcomes) per subpackage.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import importlib.util
import inspect
import io
import os
import re
import sys
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("solvers", "extension", "losses", "norms", "manifolds", "continuum", "discrepancy", "rates",
               "neural", "nn", "datasets", "plotting")
TORCH_SUBPACKAGES = ("neural", "nn")

# Public classes that are records (frozen dataclasses returned by the functions, or exception and
# warning types): they hold results and take no user input to check.
RECORDS = {
    "solvers": ("Certificate", "LipschitzResult", "SolverError", "CertificateWarning"),
    "extension": ("AMLEResult",),
    "losses": ("Loss",),
    "norms": ("OperatorNormResult", "NormProductResult", "PowerMethodResult", "OperatorIterationResult"),
    "manifolds": ("Label", "Manifold"),
    "continuum": ("ContinuumReference", "ReflectionReference", "ContinuumSolution", "LiftedReference"),
    "discrepancy": ("W1Result",),
    "rates": ("SlopeFit", "Problem", "LabelModel", "TightnessFamily", "SharpnessTarget"),
    "neural": ("NeuralResult", "LipschitzBracket"),
    "nn": ("PenaltyResult", "JacobianNormResult", "RegularizedLossResult", "AdversarialDistances",
           "LipschitzEstimate", "ExtremeValueFit", "GradientNormDetector", "CleverResult", "LipschitzBracket",
           "LipschitzLossGap", "BestLossRow"),
}


# --- bad values by kind --------------------------------------------------------------------------------


def _with(a, index, value):
    a = np.array(a, dtype=float, copy=True)
    a[index] = value
    return a


def bad_points(X):
    """Bad versions of a point array X (n, d)."""
    n, d = X.shape
    return [
        ("NaN", _with(X, (0, 0), np.nan)), ("inf", _with(X, (0, 0), np.inf)), ("empty", np.zeros((0, d))),
        ("3-D", X[:, :, None]), ("complex", X + 1j), ("str", np.full((n, d), "a")),
        ("object", np.array([[object()] * d] * n, dtype=object)),
    ]


def bad_values(y):
    """Bad versions of values y (n,) or (n, k) on n points."""
    y = np.asarray(y, dtype=float)
    first = (0,) * y.ndim
    return [
        ("NaN", _with(y, first, np.nan)), ("inf", _with(y, first, np.inf)), ("complex", y + 1j),
        ("str", np.full(y.shape, "a")), ("wrong length", y[:-1]), ("no columns", np.zeros((y.shape[0], 0))),
        ("3-D", y.reshape(y.shape[0], -1)[:, :, None] * np.ones(2)),
    ]


POSITIVE = [("zero", 0.0), ("negative", -1.0), ("NaN", float("nan")), ("inf", float("inf")), ("str", "1"),
            ("complex", 1j)]
NONNEGATIVE = [("negative", -1.0), ("NaN", float("nan")), ("inf", float("inf")), ("str", "1")]
FRACTION = [("negative", -0.1), ("above 1", 1.5), ("NaN", float("nan")), ("str", "0.5")]
NORM = [("unknown", "L7"), ("zero", 0), ("None", None)]
CHOICE = [("unknown", "bogus"), ("None", None)]
SEED = [("str", "x"), ("fraction", 1.5)]
NOT_CALLABLE = [("not callable", 3)]


def INT(minimum=1):
    return [("below the minimum", minimum - 1), ("fraction", minimum + 0.5), ("str", str(minimum)),
            ("NaN", float("nan"))]


# --- the catalogue ----------------------------------------------------------------------------------------


@dataclass
class Entry:
    """A valid call of ``func`` (keyword arguments ``valid``) and bad values per parameter.

    ``names`` maps a parameter to the regex its error message must contain (default: the parameter
    as a word). ``run_valid``: whether the walk runs the valid call itself (False where it is costly;
    the valid arguments are still bound to the signature)."""

    func: Callable
    valid: dict
    bad: dict
    names: dict = field(default_factory=dict)
    run_valid: bool = True


def _rng(seed=0):
    return np.random.default_rng(seed)


X6 = np.linspace(0.0, 1.0, 6)[:, None] * np.array([[1.0, 0.5]]) + np.array([[0.0, 0.1]]) * np.arange(6)[:, None] ** 0.5
Y6 = np.sin(3.0 * X6[:, 0])
XQ = np.array([[0.3, 0.2], [0.9, 0.5]])


def _dup(X, y):
    """X with its last row a copy of its first, y with a different value there (no finite L)."""
    X = np.array(X, dtype=float, copy=True)
    X[-1] = X[0]
    y = np.array(y, dtype=float, copy=True)
    y[-1] = y[0] + 1.0
    return X, y


def _solvers():
    from lipconv import solvers

    res = solvers.lipschitz_regression(X6, Y6, lam=0.1)
    i, j, M = res.dual
    return {
        "lipschitz_regression": Entry(
            solvers.lipschitz_regression, dict(X=X6, y=Y6, lam=0.1),
            dict(X=bad_points(X6), y=bad_values(Y6),
                 lam=POSITIVE, loss=CHOICE, p_x=NORM, p_y=NORM,
                 weights=bad_values(np.full(6, 1 / 6)) + [("negative", np.r_[-1.0, np.ones(5)])],
                 method=CHOICE, tol=POSITIVE, feasibility_tol=POSITIVE, gap_tol=POSITIVE,
                 method_options=[("not a mapping", "x"), ("unknown key", {"bogus": 1})]),
        ),
        "lipschitz_regression#cross_entropy": Entry(
            solvers.lipschitz_regression, dict(X=X6, y=np.eye(2)[np.arange(6) % 2], lam=0.1, loss="cross_entropy"),
            dict(y=[("scalar labels", np.arange(6) % 2 * 1.0), ("rows off the simplex", 2.0 * np.eye(2)[np.arange(6) % 2]),
                    ("negative entries", np.c_[-np.ones(6), 2 * np.ones(6)])]),
        ),
        "certify": Entry(
            solvers.certify, dict(X=X6, y=Y6, values=res.values, lam=0.1, dual=res.dual),
            dict(X=bad_points(X6), y=bad_values(Y6), values=bad_values(res.values[:, 0]), lam=POSITIVE,
                 lipschitz=NONNEGATIVE, loss=CHOICE, p_x=NORM, p_y=NORM,
                 dual=[("array", np.ones(3)), ("str", "abc"), ("two parts", (i, j)),
                       ("NaN multipliers", (i, j, np.full_like(M, np.nan))), ("float indices", (i * 1.0, j, M)),
                       ("index out of range", (i + 100, j, M)), ("lengths differ", (i[:-1], j, M))],
                 feasibility_tol=POSITIVE, gap_tol=POSITIVE),
        ),
        "kantorovich_dual": Entry(
            solvers.kantorovich_dual, dict(X=X6, c=np.r_[np.full(3, 1 / 3), np.full(3, -1 / 3)]),
            dict(X=bad_points(X6), c=bad_values(np.zeros(6))[:6] + [("not summing to 0", np.ones(6))], p=NORM),
        ),
        "violation_scan": Entry(
            solvers.violation_scan, dict(X=X6, U=Y6, L=1.0),
            dict(X=bad_points(X6), U=bad_values(Y6), L=NONNEGATIVE, p_x=NORM, p_y=NORM, scale=POSITIVE,
                 block_bytes=INT(), backend=CHOICE),
        ),
    }


def _extension():
    from lipconv import extension as ext

    # X with a duplicated point: valid values agree there (yc), the bad ones differ (yd: no finite L).
    Xd, yd = _dup(X6, Y6)
    yc = np.r_[Y6[:-1], Y6[0]]
    scalar = {
        name: Entry(getattr(ext, name), dict(X=Xd, u=yc, X_new=XQ),
                    dict(X=bad_points(X6), u=bad_values(Y6)[:5] + [("duplicate points, other values", yd)],
                         X_new=bad_points(XQ) + [("wrong d", XQ[:, :1])], L=NONNEGATIVE, p=NORM, block_bytes=INT()))
        for name in ("mcshane", "whitney", "midpoint")
    }
    U2 = np.c_[Y6, Y6**2]
    graph = ext.point_cloud_graph(X6, k=3)
    return {
        **scalar,
        "kirszbraun": Entry(
            ext.kirszbraun, dict(X=Xd, U=np.c_[yc, yc], X_new=XQ),
            dict(X=bad_points(X6), U=bad_values(U2)[:5] + [("duplicates, other values", np.c_[yd, yd])],
                 X_new=bad_points(XQ) + [("wrong d", XQ[:, :1])], L=NONNEGATIVE, queries=CHOICE, start=INT(),
                 tol=POSITIVE, batch=INT()),
        ),
        "extend": Entry(
            ext.extend, dict(X=X6, U=U2, X_new=XQ, L=5.0),
            dict(X=bad_points(X6), U=bad_values(U2)[:5], X_new=bad_points(XQ) + [("wrong d", XQ[:, :1])],
                 L=NONNEGATIVE, kind=CHOICE, p_x=NORM, p_y=NORM),
        ),
        "lipschitz_constant": Entry(
            ext.lipschitz_constant, dict(X=X6, u=Y6),
            dict(X=bad_points(X6), u=bad_values(Y6), p_x=NORM, p_y=NORM, block_bytes=INT()),
        ),
        "dataset_lipschitz_constant": Entry(
            ext.dataset_lipschitz_constant, dict(X=X6, labels=np.arange(6) % 2),
            dict(X=bad_points(X6), labels=[("NaN", np.r_[np.nan, np.ones(5)]), ("complex", np.ones(6) + 1j),
                                           ("wrong length", np.ones(5)), ("3-D", np.ones((6, 2, 2)))],
                 p=NORM, block_bytes=INT()),
        ),
        "absolutely_minimizing_extension": Entry(
            ext.absolutely_minimizing_extension, dict(X=X6, known_index=[0, 5], known_values=[0.0, 1.0], k=3),
            dict(X=bad_points(X6), known_index=[("float", [0.0, 5.0]), ("out of range", [0, 6]), ("repeated", [0, 0]),
                                                ("empty", []), ("2-D", [[0, 5]]), ("negative", [-1, 5])],
                 known_values=[("NaN", [np.nan, 1.0]), ("complex", [1j, 1.0]), ("wrong length", [1.0]),
                               ("str", ["a", "b"])],
                 graph=CHOICE, k=INT(), p=NORM, weights=CHOICE, tol=POSITIVE, max_iter=INT(),
                 coarse_min=INT(), check_every=INT(), local_solve=CHOICE, seed=SEED),
        ),
        "absolutely_minimizing_extension#epsilon": Entry(
            ext.absolutely_minimizing_extension,
            dict(X=X6, known_index=[0, 5], known_values=[0.0, 1.0], graph="epsilon", radius=0.6),
            dict(radius=POSITIVE + [("None", None)]),
        ),
        "graph_infinity_laplacian": Entry(
            ext.graph_infinity_laplacian, dict(u=Y6, indptr=graph[0], indices=graph[1], lengths=graph[2]),
            dict(u=[("NaN", _with(Y6, 0, np.nan)), ("wrong length", Y6[:-1]), ("complex", Y6 + 1j)],
                 indptr=[("wrong length", graph[0][:-1]), ("float", graph[0] * 1.0)],
                 indices=[("out of range", graph[1] + 6), ("float", graph[1] * 1.0)],
                 lengths=[("negative", -graph[2]), ("NaN", _with(graph[2], 0, np.nan)), ("wrong length", graph[2][:-1])]),
        ),
        "point_cloud_graph": Entry(
            ext.point_cloud_graph, dict(X=X6, k=3), dict(X=bad_points(X6), graph=CHOICE, k=INT(), p=NORM),
        ),
        "point_cloud_graph#epsilon": Entry(
            ext.point_cloud_graph, dict(X=X6, graph="epsilon", radius=0.5), dict(radius=POSITIVE + [("None", None)]),
        ),
    }


def _losses():
    from lipconv import losses

    return {
        "get_loss": Entry(losses.get_loss, dict(loss="squared"),
                          dict(loss=[("unknown", "bogus"), ("int", 3), ("None", None)])),
        "squared": Entry(losses.squared, {}, {}),
        "absolute": Entry(losses.absolute, {}, {}),
        "huber": Entry(losses.huber, dict(delta=0.5), dict(delta=POSITIVE)),
        "cross_entropy": Entry(losses.cross_entropy, dict(eps=0.1), dict(eps=POSITIVE)),
    }


def _norms():
    from lipconv import norms

    A = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
    v = np.array([3.0, -4.0])
    vec_bad = [("NaN", np.array([np.nan, 1.0])), ("complex", v + 1j), ("str", np.array(["a", "b"])),
               ("object", np.array([object(), 1.0], dtype=object))]
    P_ANY = [("below 1", 0.5), ("unknown", "L7"), ("None", None), ("NaN", float("nan"))]
    mat_bad = [("NaN", _with(A, (0, 0), np.nan)), ("complex", A + 1j), ("1-D", A[0]), ("empty", np.zeros((0, 2))),
               ("str", np.full(A.shape, "a"))]

    def matvec(x):
        return A @ x

    def rmatvec(y):
        return A.T @ y

    return {
        "pnorm": Entry(norms.pnorm, dict(v=v, p=2), dict(v=vec_bad, p=P_ANY, axis=[("out of range", 3), ("fraction", 0.5)])),
        "dual_exponent": Entry(norms.dual_exponent, dict(p=3.0), dict(p=P_ANY)),
        "dual_norm": Entry(norms.dual_norm, dict(v=v, p=2), dict(v=vec_bad, p=P_ANY, axis=[("out of range", 3)])),
        "steepest_direction": Entry(norms.steepest_direction, dict(z=v, p=3.0), dict(z=vec_bad + [("scalar", 1.0)], p=P_ANY)),
        "sphere_projection": Entry(norms.sphere_projection, dict(x=v, p=2),
                                   dict(x=vec_bad + [("empty", np.zeros(0))], p=NORM + [("p = 3", 3)])),
        "operator_norm": Entry(norms.operator_norm, dict(A=A, p=2, q=2),
                               dict(A=mat_bad, p=P_ANY, q=P_ANY, max_vertices=INT(), fallback=CHOICE, iters=INT(),
                                    restarts=INT(), seed=SEED)),
        "layer_norm_product": Entry(norms.layer_norm_product, dict(weights=[A.T, A], p=2, q=2),
                                    dict(weights=[("empty", []), ("NaN", [_with(A, (0, 0), np.nan)]),
                                                  ("shapes do not chain", [A, A]), ("1-D", [v])],
                                         p=P_ANY, q=P_ANY, max_vertices=INT())),
        "power_method": Entry(norms.power_method, dict(matvec=matvec, rmatvec=rmatvec, shape=A.shape),
                              dict(matvec=NOT_CALLABLE, rmatvec=NOT_CALLABLE,
                                   shape=[("zero", (0, 2)), ("negative", (-1, 2)), ("str", "x"), ("one axis", (3,))],
                                   iters=INT(), tol=NONNEGATIVE, v0=[("NaN", np.array([np.nan, 1.0])), ("wrong length", v[:1]),
                                                                  ("zero", np.zeros(2))],
                                   seed=SEED)),
        "operator_norm_iteration": Entry(
            norms.operator_norm_iteration, dict(matvec=matvec, rmatvec=rmatvec, p=2, q=2, shape=A.shape),
            dict(matvec=NOT_CALLABLE, rmatvec=NOT_CALLABLE, p=P_ANY, q=P_ANY,
                 shape=[("zero", (0, 2)), ("negative", (-1, 2)), ("str", "x")], alpha=[("zero", 0.0), ("negative", -1.0),
                                                                                     ("NaN", float("nan"))],
                 iters=INT(), tol=NONNEGATIVE, v0=[("NaN", np.array([np.nan, 1.0])), ("wrong length", v[:1])], seed=SEED),
        ),
    }


def _manifolds():
    from lipconv import manifolds as mf

    D = [("NaN", float("nan")), ("zero", 0), ("fraction", 2.5), ("str", "3")]
    out = {
        "FlatCube": Entry(mf.FlatCube, dict(m=2, d=3), dict(m=INT(), d=INT() + [("below m", 1)], density=CHOICE, seed=SEED)),
        "Circle": Entry(mf.Circle, dict(d=2), dict(d=D + [("below 2", 1)], density=CHOICE, seed=SEED)),
        "Sphere": Entry(mf.Sphere, dict(d=3), dict(d=D + [("below 3", 2)], density=CHOICE, seed=SEED)),
        "Torus": Entry(mf.Torus, dict(d=4), dict(d=D + [("below 4", 3)], density=CHOICE, seed=SEED)),
        "CurvedTorus": Entry(mf.CurvedTorus, dict(d=4), dict(d=D + [("below 4", 3)],
                                                             curvature=NONNEGATIVE, density=CHOICE, seed=SEED)),
        "ramp_label": Entry(mf.ramp_label, dict(delta=0.5), dict(delta=POSITIVE)),
        "step_label": Entry(mf.step_label, {}, {}),
        "smooth_label": Entry(mf.smooth_label, {}, {}),
        "sine_label": Entry(mf.sine_label, dict(k=2.0), dict(k=POSITIVE)),
        "onehot_label": Entry(mf.onehot_label, dict(k=3), dict(k=INT(2))),
        "soft_label": Entry(mf.soft_label, dict(k=3), dict(k=INT(2), beta=POSITIVE)),
        "corrupt_labels": Entry(mf.corrupt_labels, dict(y=np.eye(3)[[0, 1, 2, 0]], fraction=0.5, rng=0),
                                dict(y=[("NaN", _with(np.eye(3)[[0, 1, 2, 0]], (0, 0), np.nan)), ("3-D", np.ones((4, 3, 1))),
                                        ("complex", np.eye(3) + 1j), ("str", np.full((4, 3), "a"))],
                                     fraction=FRACTION, rng=SEED)),
    }
    # The manifolds' public methods: the samplers, quadratures and the sup bracket take user input too.
    M = mf.Sphere(3)
    x = M.sample(5, 0)
    pts = bad_points(x) + [("wrong d", x[:, :2])]
    out.update({
        "Manifold.sample": Entry(M.sample, dict(n=5, rng=0), dict(n=INT(), rng=SEED)),
        "Manifold.quadrature": Entry(M.quadrature, dict(N=16), dict(N=INT(2))),
        "Manifold.stratified": Entry(M.stratified, dict(N=16, rng=0), dict(N=INT(2), rng=SEED, per_stratum=INT(2))),
        "Manifold.lipschitz_sup": Entry(M.lipschitz_sup, dict(f=lambda z: z[:, 0], L=1.0, N0=64, max_evals=2000),
                                        dict(f=NOT_CALLABLE, L=NONNEGATIVE, rtol=POSITIVE, N0=INT(2), max_evals=INT(),
                                             t_extra=[("NaN", [np.nan]), ("str", ["a"])])),
        "Manifold.embed": Entry(M.embed, dict(p=M.model(x)), dict(p=bad_points(M.model(x)) + [("wrong D", x[:, :2])])),
        "Manifold.model": Entry(M.model, dict(x=x), dict(x=pts)),
        "Manifold.density": Entry(M.density, dict(x=x), dict(x=pts)),
        "Manifold.coordinate": Entry(M.coordinate, dict(x=x), dict(x=pts)),
        "Manifold.distance_to_manifold": Entry(M.distance_to_manifold, dict(x=x), dict(x=pts)),
        "Manifold.check_on_manifold": Entry(M.check_on_manifold, dict(x=x), dict(x=pts + [("off M", x * 0 + 0.5)],
                                                                                rtol=POSITIVE)),
    })
    return out


def _continuum():
    from lipconv import continuum as co
    from lipconv.manifolds import Circle, ramp_label

    return {
        "ramp_reference": Entry(co.ramp_reference, dict(lam=0.02, delta=0.5, m=1),
                                dict(lam=POSITIVE, delta=POSITIVE, m=INT(), scale=POSITIVE)),
        "step_reference": Entry(co.step_reference, dict(lam=0.02, m=1), dict(lam=POSITIVE, m=INT(), scale=POSITIVE)),
        "reflection_reference": Entry(
            co.reflection_reference, dict(manifold=Circle(2), label=ramp_label(0.5), lam=0.02),
            dict(manifold=[("str", "circle"), ("int", 3)], label=[("int", 3), ("str", "ramp")], lam=POSITIVE,
                 loss=CHOICE, law=[("unknown", "bogus")]),
        ),
        "continuum_minimizer": Entry(
            co.continuum_minimizer, dict(manifold=Circle(2), label=ramp_label(0.5), lam=0.1, N=32, estimate_error=False),
            dict(manifold=[("str", "circle")], label=[("int", 3)], lam=POSITIVE, loss=CHOICE, N=INT(2), method=CHOICE,
                 seed=SEED, quadrature=NOT_CALLABLE),
            run_valid=False,
        ),
        "lifted_reference": Entry(
            co.lifted_reference, dict(label=ramp_label(0.5), lam=0.02, N=16),
            dict(label=[("int", 3), ("complex values", lambda t: t + 1j), ("NaN values", lambda t: t * np.nan),
                        ("str values", lambda t: np.full(t.shape, "a")), ("wrong shape", lambda t: t[:3]),
                        ("3-D values", lambda t: np.ones((t.size, 2, 2)))],
                 lam=POSITIVE, loss=CHOICE, m=INT(), scale=POSITIVE, N=INT(4), p_y=NORM),
        ),
    }


def _discrepancy():
    from lipconv import discrepancy as di
    from lipconv.manifolds import Circle, FlatCube, Sphere

    M = Sphere(3)
    x = M.sample(8, 0)
    N_BAD = [("zero", 0), ("negative", -5), ("NaN", float("nan")), ("str", "8")]
    # The ball-mass constant is derived for flat cubes and spheres only.
    NOT_CUBE_OR_SPHERE = [("str", "cube"), ("int", 3), ("a circle", Circle(2))]
    return {
        "wasserstein1": Entry(
            di.wasserstein1, dict(samples=x, manifold=M),
            dict(samples=bad_points(x) + [("wrong d", x[:, :2]), ("off M", x * 0 + 0.5)],
                 manifold=[("str", "sphere"), ("int", 3)], N=INT(), metric=CHOICE, seed=SEED,
                 points_per_sample=INT(), replicates=INT(2), se_multiple=POSITIVE),
        ),
        "discrepancy_bound": Entry(di.discrepancy_bound, dict(n=100, m=2),
                                   dict(n=N_BAD + [("one", 1)], m=INT(), t=POSITIVE, C=POSITIVE)),
        "sharp_rate": Entry(di.sharp_rate, dict(n=100, m=2), dict(n=N_BAD, m=INT())),
        "theory_exponent": Entry(di.theory_exponent, dict(m=2), dict(m=INT())),
        "sharp_exponent": Entry(di.sharp_exponent, dict(m=2), dict(m=INT())),
        "ball_mass_constant": Entry(di.ball_mass_constant, dict(manifold=FlatCube(2, 2)),
                                    dict(manifold=NOT_CUBE_OR_SPHERE)),
        "quantization_floor": Entry(di.quantization_floor, dict(n=[16, 64], manifold=M),
                                    dict(n=N_BAD + [("empty", []), ("complex", 16 + 1j), ("inf", float("inf"))],
                                         manifold=NOT_CUBE_OR_SPHERE)),
    }


@functools.lru_cache(maxsize=None)
def _sweep_tables():
    """A tiny rate sweep and tightness table (valid inputs for the reports, fits and figures)."""
    import tempfile

    import pandas as pd

    from lipconv.rates import SweepConfig, fit_rate, run_sweep, tightness_run, tightness_table

    out = tempfile.mkdtemp(prefix="lipconv-walk-")
    config = SweepConfig(problems=("cube:m=1",), ns=(16, 32), seeds=(0, 1), output=os.path.join(out, "rates.csv"),
                         sup_evals=1000, backend="sequential", progress=False)
    df = run_sweep(config)
    fits = fit_rate(df, n_boot=50)
    tdf = pd.DataFrame([tightness_run("fixed", 1, n, s, n_lifted=64) for n in (16, 32) for s in (0, 1)])
    tdf.to_csv(os.path.join(out, "tightness.csv"), index=False)
    return out, config, df, fits, tdf, tightness_table(tdf, n_boot=50)


@functools.lru_cache(maxsize=None)
def _sharpness_tables():
    """Rows of a tiny sharpness study (two series and W1, m = 1, n = 16, 32, two seeds) in a CSV, and their
    table: valid inputs of the study's readers, tables and figure."""
    import tempfile

    import pandas as pd

    from lipconv.rates import sharpness_run, sharpness_table

    out = tempfile.mkdtemp(prefix="lipconv-walk-")
    rows = [sharpness_run(e, f, 0.0 if e == "w1" else 0.3, 1, n, s)
            for e, f in (("penalized", "ramp"), ("constrained", "bumps"), ("w1", "samples")) for n in (16, 32) for s in (0, 1)]
    df = pd.DataFrame(rows)
    df.to_csv(os.path.join(out, "sharpness.csv"), index=False)
    return out, df, sharpness_table(df, n_boot=50)


# A path given as an int would be a file descriptor to open() (3 is pytest's own): paths are tried
# as a float instead, which no function can open.
def _garbage_file(text="not a table\x00\x01"):
    import tempfile

    fd, path = tempfile.mkstemp(prefix="lipconv-walk-", suffix=".csv")
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def _rates():
    import pandas as pd

    from lipconv import rates
    from lipconv.solvers import lipschitz_regression

    out, config, df, fits, tdf, table = _sweep_tables()
    problem = rates.make_problem("cube", 1, lam=0.02)
    M = problem.manifold()
    X = M.sample(16, 0)
    y = problem.label().on(M, X)
    result = lipschitz_regression(X, y, lam=0.02)
    FRAME = [("str", "x"), ("empty", pd.DataFrame()), ("missing columns", pd.DataFrame({"a": [1.0]}))]
    SPEC = [("unknown", "bogus"), ("int", 3)]
    path = str(Path(out) / "walk.csv")
    grid = dict(families=("fixed",), ms=(1,), ns=(16,), seeds=(0,), n_lifted=64, n_jobs=1, progress=False)
    return {
        "SweepConfig": Entry(
            rates.SweepConfig, dict(problems=("cube:m=1",), ns=(16, 32), seeds=(0,)),
            dict(problems=[("unknown", ("bogus",)), ("bad m", ("cube:m=0",))], manifolds=[("unknown", ("bogus",))],
                 ms=[("zero", (0,))], ds=[("zero", (0,))], ns=[("one", (1,)), ("fraction", (16.5,)), ("empty", ())],
                 seeds=[("negative", (-1,)), ("str", ("a",))], lams=[("zero", (0.0,)), ("NaN", (float("nan"),))],
                 losses=[("unknown", ("bogus",))], labels=[("unknown", ("bogus",))], methods=[("unknown", ("bogus",))],
                 density=CHOICE, n_caps=[("unknown problem", {"bogus": 16}), ("cap 1", {"cube m=1 d=1": 1})],
                 l2_rtol=POSITIVE, sup_rtol=POSITIVE, sup_evals=INT(1000), n_reference=INT(4),
                 run_costs=[("negative", {"cube m=1 d=1": (-1.0, 1.0)})], n_jobs=INT(), backend=CHOICE),
            names=dict(problems=r"manifold|problem|\bm\b", manifolds=r"\bmanifolds?\b", ms=r"\bms?\b", ds=r"\bds?\b", ns=r"\bns?\b",
                       seeds=r"\bseeds?\b", lams=r"\blams?\b", losses=r"\bloss(es)?\b", labels=r"\blabels?\b",
                       methods=r"\bmethods?\b", n_caps=r"\bn_caps\b"),
        ),
        "run_sweep": Entry(rates.run_sweep, dict(config=config), dict(config=[("str", "x"), ("dict", {})])),
        "read_results": Entry(rates.read_results, dict(path=config.output),
                              dict(path=[("not a sweep CSV", _garbage_file()), ("number", 3.5)]),
                              names=dict(path=r"\bpath\b|\boutput\b")),
        "plan_runs": Entry(rates.plan_runs, dict(config=config), dict(config=[("str", "x"), ("dict", {})])),
        "parse_problem": Entry(rates.parse_problem, dict(spec="cube:m=2"),
                               dict(spec=SPEC + [("bad m", "cube:m=x"), ("m = 0", "cube:m=0")]),
                               names=dict(spec=r"\bspec\b|\bproblem\b|\bmanifold\b|\bm\b")),
        "fit_slope": Entry(
            rates.fit_slope, dict(n=[16, 16, 32, 32, 64, 64], errors=[1.0, 1.1, 0.5, 0.6, 0.25, 0.3], n_boot=50),
            dict(n=[("NaN", [np.nan, 16, 32, 32, 64, 64]), ("negative", [-16, 16, 32, 32, 64, 64]),
                    ("one n", [16] * 6), ("wrong length", [16, 32]), ("str", ["a"] * 6)],
                 errors=[("NaN", [np.nan, 1.1, 0.5, 0.6, 0.25, 0.3]), ("mean <= 0 at an n", [-1.0, 0.5, 0.5, 0.6, 0.25, 0.3]),
                         ("wrong length", [1.0]), ("complex", [1j] * 6)],
                 n_boot=INT(), level=[("zero", 0.0), ("one", 1.0), ("NaN", float("nan"))], seed=SEED),
        ),
        "fit_rate": Entry(rates.fit_rate, dict(df=df, n_boot=50),
                          dict(df=FRAME, quantities=[("unknown", ["bogus"])], n_boot=INT(),
                               level=[("zero", 0.0), ("one", 1.0)], seed=SEED),
                          names=dict(quantities=r"\bquantit(y|ies)\b")),
        "theorem_exponents": Entry(rates.theorem_exponents, dict(quantity="l2sq", m=2),
                                   dict(quantity=[("int", 3), ("None", None)], m=INT())),
        "error_metrics": Entry(
            rates.error_metrics, dict(result=result, problem=problem, X=X, y=y, seed=0, max_sup_evals=2000),
            dict(result=[("str", "x")], problem=[("str", "x")], X=bad_points(X)[:3] + [("wrong n", X[:-1])],
                 y=[("NaN", _with(y, 0, np.nan)), ("wrong length", y[:-1])], seed=SEED, rtol_l2=POSITIVE,
                 rtol_sup=POSITIVE, max_error_points=INT(), max_sup_evals=INT()),
            run_valid=False,
        ),
        "theorem_bounds": Entry(
            rates.theorem_bounds, dict(n=100, m=2, lam=0.02, J_ref=0.1, theta=2.0, lipschitz_diff=3.0),
            dict(n=INT(2), m=INT(), lam=POSITIVE, J_ref=NONNEGATIVE, theta=NONNEGATIVE, lipschitz_diff=NONNEGATIVE,
                 t=POSITIVE, C=POSITIVE),
        ),
        "summary_markdown": Entry(rates.summary_markdown, dict(df=df, fits=fits, wall=1.0, load=(0.5, 0.5, 0.5)),
                                  dict(df=FRAME, fits=FRAME, wall=NONNEGATIVE, load=[("str", "x"), ("NaN", (np.nan,) * 3)],
                                       cores=INT())),
        "group_name": Entry(rates.group_name, dict(row=df.iloc[0]), dict(row=[("str", "x"), ("int", 3)])),
        "get_runner": Entry(rates.get_runner, dict(name="convex"), dict(name=CHOICE), names=dict(name=r"\bname\b|\bmethod\b")),
        "convex_runner": Entry(rates.convex_runner, dict(X=X, y=y, lam=0.02, loss="squared"),
                               dict(X=bad_points(X), y=bad_values(y)[:5], lam=POSITIVE, loss=CHOICE, method=CHOICE)),
        "make_problem": Entry(
            rates.make_problem, dict(manifold_name="cube", m=1, lam=0.02),
            dict(manifold_name=CHOICE, m=INT(), d=INT(), density=CHOICE, label=SPEC, lam=POSITIVE, loss=CHOICE,
                 n_reference=INT(4), n_lifted=INT(4)),
            names=dict(manifold_name=r"\bmanifold(_name)?\b"),
        ),
        "make_manifold": Entry(rates.make_manifold, dict(name="cube", m=2),
                               dict(name=CHOICE, m=INT(), d=INT() + [("below m", 1)], density=CHOICE),
                               names=dict(name=r"\bname\b|\bmanifold\b")),
        "make_label": Entry(rates.make_label, dict(spec="ramp"), dict(spec=SPEC + [("bad parameter", "sin:x")]),
                            names=dict(spec=r"\bspec\b|\blabel\b")),
        "problem_name": Entry(rates.problem_name, dict(manifold="cube", m=2, d=2),
                              dict(manifold=[("int", 3)], m=INT(), d=INT())),
        "parse_label": Entry(rates.parse_label, dict(spec="ramp+noise:0.1"),
                             dict(spec=SPEC + [("negative noise", "ramp+noise:-1"), ("flip above 1", "ramp+flip:2")]),
                             names=dict(spec=r"\bspec\b|\blabel\b|\bnoise\b|\bflip\b")),
        "label_hypotheses": Entry(rates.label_hypotheses, dict(spec="ramp"), dict(spec=SPEC),
                                  names=dict(spec=r"\bspec\b|\blabel\b")),
        "loss_hypotheses": Entry(rates.loss_hypotheses, dict(loss="squared"), dict(loss=SPEC)),
        "tightness_scale": Entry(rates.tightness_scale, dict(n=64, m=2), dict(n=INT(2), m=INT())),
        "tightness_problem": Entry(rates.tightness_problem, dict(family="fixed", m=1, n=16, n_lifted=64),
                                   dict(family=CHOICE, m=INT(), n=INT(2), n_lifted=INT(4))),
        "tightness_run": Entry(rates.tightness_run, dict(family="fixed", m=1, n=16, seed=0, n_lifted=64),
                               dict(family=CHOICE, m=INT(), n=INT(2), seed=INT(0), n_lifted=INT(4),
                                    rtol_l2=POSITIVE + [("above 1", 1.5)])),
        "tightness_table": Entry(rates.tightness_table, dict(df=tdf, n_boot=50),
                                 dict(df=FRAME + [("without ref_effect", tdf.drop(columns=["ref_effect"]))], n_boot=INT(),
                                      level=[("zero", 0.0), ("one", 1.0), ("NaN", float("nan"))],
                                      seed=SEED + [("negative", -1)])),
        "tightness_markdown": Entry(rates.tightness_markdown, dict(table=table), dict(table=FRAME)),
        "tightness_summary": Entry(rates.tightness_summary, dict(table=table), dict(table=FRAME)),
        "plot_tightness": Entry(rates.plot_tightness, dict(table=table, path=str(Path(out) / "t.png")),
                                dict(table=FRAME + [("no rows", table.iloc[:0])],
                                     path=[("number", 3.5), ("a directory", out), ("folder missing", str(Path(out) / "no" / "t.png"))])),
        "tightness_sweep": Entry(rates.tightness_sweep, dict(output=path, **grid),
                                 dict(output=[("number", 3.5), ("a directory", out)],
                                      families=[("unknown", ("bogus",)), ("repeated", ("fixed", "fixed"))],
                                      ms=[("zero", (0,)), ("repeated", (1, 1))],
                                      ns=[("one", (1,)), ("repeated", (16, 16))], seeds=[("negative", (-1,)), ("repeated", (0, 0))],
                                      n_lifted=INT(4), rtol_l2=POSITIVE + [("above 1", 1.5)], n_jobs=INT()),
                                 names=dict(families=r"\bfamil(y|ies)\b", ms=r"\bms?\b", ns=r"\bns?\b", seeds=r"\bseeds?\b"),
                                 run_valid=False),
        "read_tightness": Entry(rates.read_tightness, dict(path=str(Path(out) / "tightness.csv")),
                                dict(path=[("not a tightness CSV", _garbage_file()), ("number", 3.5),
                                           ("a sweep CSV", config.output), ("missing", str(Path(out) / "missing.csv")),
                                           ("a directory", out)])),
        **_sharpness_entries(),
    }


def _sharpness_entries():
    import pandas as pd

    from lipconv import rates
    from lipconv.manifolds import Sphere

    out, df, table = _sharpness_tables()
    cube = rates.make_manifold("cube", 2)
    sweep_out = str(Path(out) / "sweep.csv")
    TABLE = [("str", "x"), ("empty", pd.DataFrame()), ("missing columns", table.drop(columns=["slope"]))]
    ROWS = [("str", "x"), ("empty", pd.DataFrame()), ("missing columns", pd.DataFrame({"a": [1.0]})),
            ("W1 rows without their brackets", df.drop(columns=["w1_hi"])),
            ("estimator rows without l2sq", df.drop(columns=["l2sq"]))]
    # rtol_l2 is a relative standard error: in (0, 1)
    RTOL = POSITIVE + [("above 1", 1.5)]
    return {
        "sharpness_target": Entry(
            rates.sharpness_target, dict(family="bumps", manifold=cube, n=64, seed=0),
            dict(family=CHOICE, manifold=[("str", "cube"), ("int", 3), ("a sphere", Sphere(3))], n=INT(2), seed=INT(0)),
        ),
        "bump_energy": Entry(rates.bump_energy, dict(m=2, n=64, points=1000), dict(m=INT(), n=INT(2), points=INT())),
        "sharpness_run": Entry(
            rates.sharpness_run, dict(estimator="constrained", family="ramp", sigma=0.3, m=1, n=16, seed=0),
            dict(estimator=CHOICE, family=CHOICE + [("not of the estimator", "samples")], sigma=NONNEGATIVE + [("complex", 1j)],
                 m=INT(), n=INT(2), seed=INT(0), lam=POSITIVE, rtol_l2=RTOL),
        ),
        "sharpness_sweep": Entry(
            rates.sharpness_sweep,
            dict(output=sweep_out, series=("w1",), sigmas=(0.3,), grid={1: (16,)}, seeds=(0,), n_jobs=1, progress=False),
            dict(output=[("number", 3.5), ("a directory", out)],
                 series=[("unknown", ("bogus",)), ("empty", ()), ("repeated", ("w1", "w1")), ("str", "w1")],
                 sigmas=[("negative", (-1.0,)), ("NaN", (float("nan"),)), ("str", ("a",)), ("repeated", (0.3, 0.3)),
                         ("empty", ()), ("a number", 0.3)],
                 grid=[("m zero", {0: (16,)}), ("n one", {1: (1,)}), ("repeated n", {1: (16, 16)}), ("fraction n", {1: (16.5,)}),
                       ("no n", {1: ()}), ("empty", {}), ("not a mapping", "x")],
                 seeds=[("negative", (-1,)), ("repeated", (0, 0)), ("str", ("a",)), ("empty", ())],
                 lam=POSITIVE, rtol_l2=RTOL, n_jobs=INT(), stop_after=POSITIVE),
            names=dict(sigmas=r"\bsigmas?\b", grid=r"\bgrid\b|\bm\b|\bn\b", seeds=r"\bseeds?\b"),
            run_valid=False,
        ),
        "read_sharpness": Entry(rates.read_sharpness, dict(path=str(Path(out) / "sharpness.csv")),
                                dict(path=[("not a sharpness CSV", _garbage_file()), ("number", 3.5), ("None", None),
                                           ("a tightness CSV", _sweep_tables()[0] + "/tightness.csv"),
                                           ("missing", str(Path(out) / "missing.csv")), ("a directory", out)])),
        "sharpness_table": Entry(rates.sharpness_table, dict(df=df, n_boot=50),
                                 dict(df=ROWS, n_boot=INT(), level=[("zero", 0.0), ("one", 1.0), ("NaN", float("nan"))],
                                      seed=SEED + [("negative", -1)])),
        "sharpness_markdown": Entry(rates.sharpness_markdown, dict(table=table), dict(table=TABLE)),
        "sharpness_summary": Entry(rates.sharpness_summary, dict(table=table), dict(table=TABLE)),
        "plot_sharpness": Entry(rates.plot_sharpness, dict(table=table, path=str(Path(out) / "s.png")),
                                dict(table=TABLE + [("no rows", table.iloc[:0])],
                                     path=[("number", 3.5), ("a directory", out), ("folder missing", str(Path(out) / "no" / "s.png"))])),
    }


def _neural():
    import torch

    from lipconv import neural

    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 1)).double()
    relu = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)).double()
    x = torch.rand(5, 2, dtype=torch.float64)
    return {
        "neural_lipschitz_regression": Entry(
            neural.neural_lipschitz_regression,
            dict(X=X6, y=Y6, lam=0.1, hidden=(4,), epochs=2, n_random=8, dense_points=16, device="cpu"),
            dict(X=bad_points(X6), y=bad_values(Y6), lam=POSITIVE, loss=CHOICE,
                 hidden=[("zero width", (0,)), ("str", "x"), ("fraction", (2.5,))], epochs=INT(), lr=POSITIVE,
                 n_random=INT(0), dense_points=INT(), device=[("unknown", "bogus")], seed=SEED),
        ),
        "gradient_norms": Entry(neural.gradient_norms, dict(model=model, x=x),
                                dict(model=[("str", "x")], x=[("numpy", x.numpy()), ("NaN", x * np.nan),
                                                              ("int", x.long()), ("1-D", x[0])])),
        "rate_runner": Entry(neural.rate_runner, dict(X=X6, y=Y6, lam=0.1, loss="squared"),
                             dict(X=bad_points(X6)[:3], y=bad_values(Y6)[:3], lam=POSITIVE[:3], loss=CHOICE),
                             run_valid=False),
        "box_lipschitz_bounds": Entry(neural.box_lipschitz_bounds, dict(model=relu, centres=XQ, half_widths=[0.1, 0.2]),
                                      dict(model=[("str", "x"), ("tanh", model)], centres=bad_points(XQ),
                                           half_widths=[("negative", [-0.1, 0.1]), ("NaN", [np.nan, 0.1]),
                                                        ("wrong length", [0.1]), ("str", ["a", "b"])],
                                           patterns=INT(0))),
        "lipschitz_bracket": Entry(neural.lipschitz_bracket, dict(model=relu, lo=[0.0, 0.0], hi=[1.0, 1.0], max_boxes=64),
                                   dict(model=[("str", "x"), ("tanh", model)],
                                        lo=[("NaN", [np.nan, 0.0]), ("above hi", [1.0, 2.0]), ("wrong length", [0.0])],
                                        hi=[("inf", [np.inf, 1.0]), ("wrong length", [1.0, 1.0, 1.0])], rtol=POSITIVE,
                                        n0=INT(), max_boxes=INT()),
                                   names=dict(lo=r"\blo\b", hi=r"\bhi\b")),
    }


def _entered(context_manager):
    """A call that enters (and leaves) the context manager, so that its checks run."""

    def call(**kwargs):
        with context_manager(**kwargs):
            pass

    call.__signature__ = inspect.signature(context_manager)
    return call


def _nn():
    import torch

    from lipconv import nn as lnn

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(), torch.nn.Linear(6, 3)).double()
    x = 0.25 + 0.5 * torch.rand(5, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1])
    X_BAD = [("NaN", x * float("nan")), ("int", (x * 10).long()), ("empty", x[:0]), ("1-D", x[0]), ("numpy", x.numpy()),
             ("complex", x.to(torch.complex128))]
    # One-hot float targets are class probabilities for torch's cross-entropy (valid for the losses);
    # they are wrong where class indices are read (margins, minimal distances).
    Y_BAD = [("float", y.double() + 0.5), ("out of range", y + 5), ("wrong length", y[:-1]), ("negative", y - 3)]
    ONE_HOT = [("one-hot", torch.eye(3)[y])]
    MODEL_BAD = [("str", "x"), ("one output", torch.nn.Linear(4, 1).double())]
    NN_NORM = [("unknown", "L7"), ("None", None)]
    EPS = [("negative", -0.1), ("NaN", float("nan")), ("str", "0.1")]
    common = dict(model=MODEL_BAD, x=X_BAD, y=Y_BAD)
    dists = np.array([0.1, 0.2, np.inf])
    penalties = {name: Entry(getattr(lnn, name), dict(model=model, x=x, y=y), dict(**common, norm=NN_NORM))
                 for name in ("tv_penalty", "lipschitz_penalty", "fd_gradient_penalty", "double_backprop_penalty")}
    penalties["fd_gradient_penalty"].bad["h"] = POSITIVE
    return {
        **penalties,
        "jacobian_operator_norm": Entry(lnn.jacobian_operator_norm, dict(model=model, x=x),
                                        dict(model=MODEL_BAD[:1], x=X_BAD, p=NN_NORM, q=NN_NORM, iters=INT(),
                                             alpha=[("zero", 0.0), ("negative", -1.0)])),
        "jacobian_spectral_penalty": Entry(lnn.jacobian_spectral_penalty, dict(model=model, x=x),
                                           dict(model=MODEL_BAD[:1], x=X_BAD, iters=INT(), form=CHOICE, eps=POSITIVE)),
        "jacobian_operator_penalty": Entry(lnn.jacobian_operator_penalty, dict(model=model, x=x),
                                           dict(model=MODEL_BAD[:1], x=X_BAD, p=NN_NORM, q=NN_NORM, iters=INT())),
        "global_spectral_penalty": Entry(lnn.global_spectral_penalty, dict(model=model),
                                         dict(model=MODEL_BAD[:1], iters=INT(), conv=CHOICE)),
        "RegularizedLoss": Entry(lnn.RegularizedLoss, dict(terms={"tv": (0.1, lnn.tv_penalty)}),
                                 dict(terms=[("weight NaN", {"tv": (float("nan"), lnn.tv_penalty)}),
                                             ("not a pair", {"tv": 0.1}), ("str", "tv")], loss_fn=NOT_CALLABLE),
                                 names=dict(terms=r"\bterms?\b")),
        "TanhLogits": Entry(lnn.TanhLogits, dict(num_features=3), dict(num_features=INT(), t0=POSITIVE)),
        "per_sample_mode": Entry(_entered(lnn.per_sample_mode), dict(model=model), dict(model=[("str", "x")])),
        "fgsm": Entry(lnn.fgsm, dict(model=model, x=x, y=y, eps=0.1), dict(**common, eps=EPS, norm=NN_NORM)),
        "pgd": Entry(lnn.pgd, dict(model=model, x=x, y=y, eps=0.1, steps=2),
                     dict(**common, eps=EPS, norm=NN_NORM, steps=INT(), alpha=POSITIVE[:3] + POSITIVE[4:])),
        "project_ball": Entry(lnn.project_ball, dict(delta=x, eps=0.1, norm="L2"),
                              dict(delta=X_BAD[:1] + X_BAD[3:5], eps=EPS, norm=NN_NORM)),
        "minimal_adversarial_distance": Entry(
            lnn.minimal_adversarial_distance, dict(model=model, x=x, y=y, bisections=2, steps=2),
            dict(model=MODEL_BAD, x=X_BAD, y=Y_BAD + ONE_HOT, norm=NN_NORM, eps_max=POSITIVE, bisections=INT(0),
                 steps=INT())),
        "margin_loss": Entry(lnn.margin_loss, dict(logits=model(x), y=y),
                             dict(logits=[("NaN", model(x) * float("nan")), ("1-D", model(x)[0]), ("one column", model(x)[:, :1])],
                                  y=Y_BAD + ONE_HOT)),
        "error_curve": Entry(lnn.error_curve, dict(distances=dists, eps=[0.0, 0.15]),
                             dict(distances=[("NaN", np.array([np.nan, 1.0])), ("negative", np.array([-1.0])),
                                             ("empty", np.zeros(0))],
                                  eps=[("NaN", [np.nan]), ("negative", [-1.0])])),
        "median_adversarial_distance": Entry(lnn.median_adversarial_distance, dict(distances=dists),
                                             dict(distances=[("NaN", np.array([np.nan, 1.0])), ("empty", np.zeros(0)),
                                                             ("negative", np.array([-1.0]))])),
        "jacobian": Entry(lnn.jacobian, dict(model=model, x=x), dict(model=MODEL_BAD[:1], x=X_BAD, transform=NOT_CALLABLE)),
        "empirical_lipschitz": Entry(lnn.empirical_lipschitz, dict(model=model, data=x),
                                     dict(model=MODEL_BAD[:1], data=X_BAD, norm=NN_NORM, out_norm=NN_NORM, of=CHOICE,
                                          batch_size=INT())),
        "layer_norm_product": Entry(lnn.layer_norm_product, dict(model=model, input_shape=(4,)),
                                    dict(model=MODEL_BAD[:1], input_shape=[("zero", (0,)), ("str", "x")], norm=NN_NORM,
                                         out_norm=NN_NORM)),
        "l_bound": Entry(lnn.l_bound, dict(loss_values=np.array([-1.0, 0.5]), L=2.0),
                         dict(loss_values=[("NaN", np.array([np.nan])), ("complex", np.array([1j]))], L=POSITIVE,
                              l0=[("NaN", float("nan"))])),
        "omega_bound": Entry(lnn.omega_bound, dict(loss_values=np.array([-1.0, 0.5]), grad_norms=np.array([1.0, 2.0]),
                                                   eps=0.1, omega=1.0),
                             dict(loss_values=[("NaN", np.array([np.nan, 1.0]))],
                                  grad_norms=[("negative", np.array([-1.0, 1.0])), ("wrong length", np.array([1.0]))],
                                  eps=NONNEGATIVE, omega=NONNEGATIVE)),
        "modulus_of_continuity": Entry(lnn.modulus_of_continuity, dict(model=model, x=x, y=y, eps=0.1, n_samples=4),
                                       dict(**common, eps=NONNEGATIVE, norm=NN_NORM, n_samples=INT())),
        "reverse_weibull_location": Entry(lnn.reverse_weibull_location, dict(maxima=np.linspace(1.0, 2.0, 20) ** 0.5),
                                          dict(maxima=[("NaN", np.r_[np.nan, np.ones(19)]), ("one value", np.ones(1)),
                                                       ("complex", np.ones(20) + 1j), ("2-D", np.ones((4, 5)))],
                                               c_init=POSITIVE)),
        "fit_extreme_value": Entry(lnn.fit_extreme_value, dict(maxima=np.linspace(1.0, 2.0, 20) ** 0.5),
                                   dict(maxima=[("NaN", np.r_[np.nan, np.ones(19)]), ("empty", np.zeros(0)),
                                                ("complex", np.ones(20) + 1j)],
                                        p=FRACTION, min_distinct=FRACTION, ks_level=FRACTION)),
        "gradient_norm_detector": Entry(lnn.gradient_norm_detector, dict(model=model, x_clean=x),
                                        dict(model=MODEL_BAD[:1], x_clean=X_BAD, fpr=FRACTION, norm=NN_NORM,
                                             out_norm=NN_NORM)),
        "clever": Entry(lnn.clever, dict(model=model, x=x, radius=0.1, nb_batches=4, batch_size=4, pool_factor=2, refine=2),
                        dict(model=MODEL_BAD, x=X_BAD, radius=POSITIVE, norm=NN_NORM, nb_batches=INT(), batch_size=INT(),
                             pool_factor=INT())),
        "lipschitz_bracket": Entry(lnn.lipschitz_bracket, dict(model=model, x=x),
                                   dict(model=MODEL_BAD[:1], x=X_BAD, norm=NN_NORM, out_norm=NN_NORM,
                                        estimate=[("negative", -1.0), ("NaN", float("nan"))])),
        "pair_lipschitz": Entry(lnn.pair_lipschitz, dict(model=model, x=x),
                                dict(model=MODEL_BAD[:1], x=X_BAD, norm=NN_NORM, out_norm=NN_NORM, batch_size=INT())),
        "lipschitz_loss_gap": Entry(lnn.lipschitz_loss_gap, dict(model=model, x=x, y=y),
                                    dict(**common, loss=CHOICE, outputs=CHOICE, p_x=NN_NORM, p_y=NN_NORM),
                                    run_valid=False),
    }


def _small_files():
    """A valid IDX image/label pair and a CIFAR batch in a temporary folder."""
    import pickle
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="lipconv-walk-"))
    images = np.arange(2 * 2 * 3, dtype=np.uint8).reshape(2, 2, 3)
    (folder / "images").write_bytes(bytes([0, 0, 8, 3]) + np.array([2, 2, 3], ">u4").tobytes() + images.tobytes())
    (folder / "labels").write_bytes(bytes([0, 0, 8, 1]) + np.array([2], ">u4").tobytes() + bytes([0, 1]))
    with open(folder / "batch", "wb") as fh:
        pickle.dump({b"data": np.zeros((2, 3072), dtype=np.uint8), b"labels": [0, 1]}, fh)
    return folder


def _datasets():
    from lipconv import datasets

    f = _small_files()
    PATH = [("not such a file", _garbage_file()), ("number", 3.5), ("missing", str(f / "missing"))]
    return {
        "load_sklearn": Entry(datasets.load_sklearn, dict(name="iris"), dict(name=CHOICE + [("int", 3)])),
        "load_idx": Entry(datasets.load_idx, dict(path=f / "images"), dict(path=PATH)),
        "load_mnist": Entry(datasets.load_mnist, dict(images=f / "images", labels=f / "labels"),
                            dict(images=PATH, labels=PATH + [("other length", f / "images")])),
        "load_cifar_batch": Entry(datasets.load_cifar_batch, dict(path=f / "batch"), dict(path=PATH)),
        "load_cifar": Entry(datasets.load_cifar, dict(paths=[f / "batch"]),
                            dict(paths=[("empty", []), ("not a CIFAR batch", [_garbage_file()]), ("one path", str(f / "batch"))])),
        "drop_conflicting_duplicates": Entry(
            datasets.drop_conflicting_duplicates, dict(X=X6, labels=np.arange(6) % 2),
            dict(X=bad_points(X6), labels=[("wrong length", np.ones(5)), ("NaN", np.r_[np.nan, np.ones(5)]),
                                           ("3-D", np.ones((6, 2, 2)))]),
        ),
    }


def _plotting():
    from lipconv import plotting

    out, _, df, fits, _, _ = _sweep_tables()
    FRAME = [("str", "x"), ("int", 3)]
    png = str(Path(out) / "p.png")
    return {
        "plot_rate": Entry(plotting.plot_rate, dict(df=df, fits=fits, quantity="l2sq", path=png),
                           dict(df=FRAME, fits=FRAME, quantity=CHOICE)),
        "plot_rates": Entry(plotting.plot_rates, dict(df=df, fits=fits, directory=out, quantities=["l2sq"]),
                            dict(df=FRAME, fits=FRAME, quantities=[("unknown", ["bogus"])], ext=CHOICE),
                            names=dict(quantities=r"\bquantit(y|ies)\b")),
        "plot_theorem": Entry(plotting.plot_theorem, dict(df=df, fits=fits, quantity="l2sq", path=png),
                              dict(df=FRAME, fits=FRAME, quantity=CHOICE)),
        "plot_panel": Entry(plotting.plot_panel, dict(df=df, fits=fits, path=png), dict(df=FRAME, fits=FRAME),
                            run_valid=False),
        "plot_study": Entry(plotting.plot_study, dict(df=df, fits=fits, directory=out), dict(df=FRAME, fits=FRAME, ext=CHOICE),
                            run_valid=False),
    }


BUILDERS = {"solvers": _solvers, "extension": _extension, "losses": _losses, "norms": _norms, "manifolds": _manifolds,
            "continuum": _continuum, "discrepancy": _discrepancy, "rates": _rates, "neural": _neural, "nn": _nn,
            "datasets": _datasets, "plotting": _plotting}


@functools.lru_cache(maxsize=None)
def catalogue(subpackage: str) -> dict:
    return BUILDERS[subpackage]()


def public_callables():
    """(subpackage, name) of every callable in every subpackage's ``__all__`` that is not a record."""
    out = []
    for sp in SUBPACKAGES:
        if sp in TORCH_SUBPACKAGES and importlib.util.find_spec("torch") is None:
            continue
        module = importlib.import_module(f"lipconv.{sp}")
        for name in module.__all__:
            obj = getattr(module, name)
            if callable(obj) and name not in RECORDS.get(sp, ()):
                out.append((sp, name))
    return out


# --- the walk -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    case: str  # "<param>: <label>"
    kind: str  # "clear", "unclear" (ValueError/TypeError not naming the parameter), "crash", "silent"
    detail: str


def _call(func, kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            return func(**kwargs)


def walk_entry(entry: Entry) -> list[Outcome]:
    inspect.signature(entry.func).bind(**entry.valid)  # the valid call matches the signature
    if entry.run_valid:
        _call(entry.func, entry.valid)
    outcomes = []
    for param, values in entry.bad.items():
        pattern = entry.names.get(param, rf"(?<![\w.]){re.escape(param)}(?!\w)")
        for label, value in values:
            case = f"{param}: {label}"
            try:
                _call(entry.func, {**entry.valid, param: value})
            except (ValueError, TypeError) as exc:
                msg = str(exc)
                ok = re.search(pattern, msg) is not None
                outcomes.append(Outcome(case, "clear" if ok else "unclear", f"{type(exc).__name__}: {msg[:200]}"))
            except Exception as exc:  # noqa: BLE001 - every other exception is a crash
                outcomes.append(Outcome(case, "crash", f"{type(exc).__name__}: {str(exc)[:200]}"))
            else:
                outcomes.append(Outcome(case, "silent", "returned without an error"))
    return outcomes


def walk(subpackage: str, name: str) -> list[Outcome]:
    """The outcomes of every bad input of ``name``'s entries (its key, and variants keyed "name#...")."""
    entries = [(k, e) for k, e in catalogue(subpackage).items() if k.split("#")[0] == name]
    if not entries:
        raise LookupError(f"no catalogue entry for lipconv.{subpackage}.{name}")
    return [o for _, e in entries for o in walk_entry(e)]


def _extra_entries():
    """Catalogue entries that are not names of ``__all__`` (public methods of public classes)."""
    return [(sp, k) for sp in SUBPACKAGES if sp == "manifolds" for k in catalogue(sp) if "." in k and "#" not in k]


def _params():
    return [pytest.param(sp, name, id=f"{sp}.{name}") for sp, name in public_callables() + _extra_entries()]


def test_every_public_callable_has_a_catalogue_entry():
    missing = [f"lipconv.{sp}.{name}" for sp, name in public_callables() if name not in catalogue(sp)]
    assert not missing, f"public callables without bad inputs in tests/test_public_inputs.py: {missing}"
    for sp, names in RECORDS.items():
        module = importlib.import_module(f"lipconv.{sp}")
        for name in names:
            obj = getattr(module, name)
            frozen = dataclasses.is_dataclass(obj) and obj.__dataclass_params__.frozen
            assert frozen or issubclass(obj, (Exception, Warning)) or inspect.isabstract(obj), \
                f"lipconv.{sp}.{name} is listed as a record but is not a frozen dataclass, an exception or abstract"


@pytest.mark.parametrize("subpackage, name", _params())
def test_bad_input_raises_a_clear_error(subpackage, name):
    if subpackage in TORCH_SUBPACKAGES:
        pytest.importorskip("torch")
    bad = [o for o in walk(subpackage, name) if o.kind != "clear"]
    assert not bad, "\n".join(f"lipconv.{subpackage}.{name}({o.case}): {o.kind}: {o.detail}" for o in bad)


# --- the studies' command lines ----------------------------------------------------------------------


class _ReachedTheWork(Exception):
    """Raised where a study would start its parallel work: the flag was not refused up front."""


def _load_study(name: str):
    spec = importlib.util.spec_from_file_location(f"_walk_{name}_study", REPO / "studies" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_RATES_BASE = ["--problems", "cube:m=1", "--n", "16", "32", "--seeds", "2", "--jobs", "1", "--backend", "sequential",
               "--no-progress", "--no-plots"]
_TIGHT_BASE = ["--families", "fixed", "--m", "1", "--n", "16", "32", "--seeds", "2", "--jobs", "1", "--no-progress",
               "--no-plots"]
_SHARP_BASE = ["--series", "constrained/ramp", "w1", "--sigma", "0.3", "--m", "1", "--n", "16", "32", "--seeds", "2",
               "--jobs", "1", "--no-progress", "--no-plots"]
BASES = {"rates": _RATES_BASE, "tightness": _TIGHT_BASE, "sharpness": _SHARP_BASE}
# (flags replacing the base's, regex the error line must match: the flag or the parameter it sets)
CLI_CASES = {
    "rates": [
        (["--seeds", "0"], "seeds"), (["--seeds", "x"], "seeds"), (["--jobs", "0"], "jobs"), (["--budget", "-1"], "budget"),
        (["--budget", "nan"], "budget"), (["--n", "1"], r"\bn\b"), (["--n", "64", "64", "128"], r"--n\b"),
        (["--lam", "0"], "lam"), (["--lam", "nan"], "lam"), (["--lam", "0.1", "0.1"], "lam"), (["--loss", "bogus"], "loss"),
        (["--label", "bogus"], "label"), (["--method", "bogus"], "method"), (["--l2-rtol", "0"], "l2.rtol"),
        (["--sup-rtol", "-1"], "sup.rtol"), (["--sup-evals", "0"], "sup.evals"), (["--n-reference", "0"], "n.reference"),
        (["--boot", "0"], "boot"), (["--boot", "-1"], "boot"), (["--cap", "xx"], "cap"), (["--cap", "cube m=1 d=1=1"], "caps?"),
        (["--problems", "bogus"], "manifold|problems"), (["--d", "0"], r"\bd\b"), (["--density", "bogus"], "density"),
        (["--out", "{file}"], "out"), (["--backend", "dask", "--scheduler", "tcp://127.0.0.1:1"], "scheduler"),
        (["--scheduler", "tcp://127.0.0.1:1"], "scheduler"), (["--backend", "bogus"], "backend"),
    ],
    "tightness": [
        (["--seeds", "0"], "seeds"), (["--jobs", "0"], "jobs"), (["--boot", "0"], "boot"), (["--boot", "-1"], "boot"),
        (["--n", "64", "64", "128"], r"--n\b|\bns?\b"), (["--m", "1", "1"], r"--m\b|\bms?\b"), (["--m", "0"], r"\bm\b"),
        (["--n", "1"], r"\bn\b"), (["--n-lifted", "2"], "n.lifted"), (["--l2-rtol", "0"], "l2.rtol|rtol.l2"),
        (["--l2-rtol", "2"], "l2.rtol|rtol.l2"), (["--families", "bogus"], "families"), (["--out", "{file}"], "out"),
        (["--jobs", "-1"], "jobs"), (["--seeds", "-1"], "seeds"), (["--n-lifted", "x"], "n.lifted"),
    ],
    "sharpness": [
        (["--seeds", "0"], "seeds"), (["--seeds", "x"], "seeds"), (["--jobs", "0"], "jobs"), (["--boot", "0"], "boot"),
        (["--boot", "-1"], "boot"), (["--m", "0"], r"\bm\b"), (["--m", "1", "1"], r"--m\b"), (["--n", "1"], r"\bn\b"),
        (["--n", "64", "64", "128"], r"--n\b"), (["--n", "16.5"], r"--n\b"), (["--sigma", "-1"], "sigma"),
        (["--sigma", "nan"], "sigma"), (["--sigma", "0.3", "0.3"], "sigma"), (["--lam", "0"], "lam"),
        (["--lam", "inf"], "lam"), (["--l2-rtol", "0"], "l2.rtol|rtol.l2"), (["--l2-rtol", "2"], "l2.rtol|rtol.l2"),
        (["--stop-after", "0"], "stop.after"), (["--stop-after", "-5"], "stop.after"), (["--series", "bogus"], "series"),
        (["--quick", "--long"], "long|quick"), (["--out", "{file}"], "out"),
    ],
}


def _replace(base, flags):
    out = list(base)
    if flags[0] in out:
        i = out.index(flags[0]) + 1
        while i < len(out) and not out[i].startswith("--"):
            del out[i]
        del out[out.index(flags[0])]
    return out + flags


def _cli_params():
    return [pytest.param(study, flags, pattern, id=f"{study} {' '.join(flags)}")
            for study, cases in CLI_CASES.items() for flags, pattern in cases]


def test_every_study_has_bad_flags():
    """Each command line under studies/ is walked: a new study cannot land without its bad flags."""
    studies = sorted(p.stem for p in (REPO / "studies").glob("*.py") if not p.stem.startswith("_"))
    assert sorted(CLI_CASES) == studies, f"studies without CLI_CASES in tests/test_public_inputs.py: " \
        f"{sorted(set(studies) - set(CLI_CASES))}"
    assert sorted(BASES) == studies


@pytest.fixture(scope="module")
def studies():
    return {name: _load_study(name) for name in CLI_CASES}


@pytest.mark.parametrize("study, flags, pattern", _cli_params())
def test_study_refuses_a_bad_flag(study, flags, pattern, studies, tmp_path, monkeypatch):
    import joblib

    def reached(*args, **kwargs):
        raise _ReachedTheWork("the study started its parallel work")

    monkeypatch.setattr(joblib, "Parallel", reached)
    file = tmp_path / "a_file.txt"
    file.write_text("")
    flags = [f.replace("{file}", str(file)) for f in flags]
    argv = _replace(BASES[study] + ["--out", str(tmp_path / "out")], flags)
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = studies[study].main(argv)
        except SystemExit as exc:  # argparse's own refusals
            code = exc.code
    text = err.getvalue()
    assert code == 2, f"{study} {' '.join(flags)}: exit code {code}, stderr {text[-300:]!r}"
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert "error:" in last and re.search(pattern, last), last


# --- counts ---------------------------------------------------------------------------------------------------


def _counts() -> None:
    total = Counter()
    for sp in SUBPACKAGES:
        per = Counter()
        for name in catalogue(sp):
            for o in walk_entry(catalogue(sp)[name]):
                per[o.kind] += 1
        total.update(per)
        print(f"{sp:12s} tried {sum(per.values()):4d}  clear {per['clear']:4d}  unclear {per['unclear']:3d}  "
              f"crash {per['crash']:3d}  silent {per['silent']:3d}")
    print(f"{'all':12s} tried {sum(total.values()):4d}  clear {total['clear']:4d}  unclear {total['unclear']:3d}  "
          f"crash {total['crash']:3d}  silent {total['silent']:3d}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    _counts()
