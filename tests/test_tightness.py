"""Tests of the tightness probe ([FCAO] Theorem 4.8): the families' targets and the table on a tiny grid."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import lipconv.rates._tightness as tightness_module
from lipconv.rates import (
    TIGHTNESS_FAMILIES, read_tightness, tightness_markdown, tightness_run, tightness_scale, tightness_sweep,
    tightness_table,
)
from lipconv.rates._tightness import LIPSCHITZ_BOUND, TABLE_COLUMNS, TIGHTNESS_COLUMNS

T = np.linspace(-1.0, 1.0, 400001)
PER_N = [name for name, fam in TIGHTNESS_FAMILIES.items() if name != "fixed"]


def _lipschitz_on_grid(label) -> float:
    return float(np.max(np.abs(np.diff(label(T))) / np.diff(T)))


@pytest.mark.parametrize("family", list(TIGHTNESS_FAMILIES))
@pytest.mark.parametrize("m", [1, 2, 3])
def test_targets_share_one_lipschitz_bound(family, m):
    """Every target of a family has Lip_t <= 1 at every n (numerically, on a grid of 400,001 points), as
    its Label claims, and the bound is nearly attained (the targets are not trivially flat)."""
    for n in (32, 64, 1024, 8192):
        label, lam, _ = TIGHTNESS_FAMILIES[family](n, m)
        lip = _lipschitz_on_grid(label)
        assert label.lipschitz == LIPSCHITZ_BOUND
        assert lip <= LIPSCHITZ_BOUND * (1.0 + 1e-9)
        assert lip >= 0.9 * LIPSCHITZ_BOUND
        assert lam > 0


@pytest.mark.parametrize("family", PER_N)
def test_per_n_families_change_with_n_and_their_scale_shrinks(family):
    """A per-n family's target (or lam) differs between n = 32 and 64, its scale shrinks with n, and
    the oscillating/tent families' scale is h_n = n^(-1/(m+2)) or the spacing 2 n^(-1/m), as claimed."""
    for m in (1, 2, 3):
        (l1, lam1, s1), (l2, lam2, s2) = TIGHTNESS_FAMILIES[family](32, m), TIGHTNESS_FAMILIES[family](64, m)
        assert s2 < s1
        changed = np.max(np.abs(l1(T) - l2(T))) > 1e-6 or lam1 != lam2
        assert changed
        expected = 2.0 * 64.0 ** (-1.0 / m) if family == "spacing" else tightness_scale(64, m)
        np.testing.assert_allclose(s2, expected, rtol=1e-12, atol=0)
    if family == "lam_n":
        assert TIGHTNESS_FAMILIES[family](1024, 2)[1] < TIGHTNESS_FAMILIES[family](64, 2)[1]
    else:
        assert TIGHTNESS_FAMILIES[family].lam_fixed


def test_oscillation_period_is_the_scale():
    """The osc target minus its baseline repeats with period h_n (and not with period 2 h_n only)."""
    n, m = 256, 2
    label, _, h = TIGHTNESS_FAMILIES["osc"](n, m)
    base = TIGHTNESS_FAMILIES["fixed"](n, m)[0]
    t = np.linspace(-0.9, 0.9 - h, 1001)
    wiggle = lambda s: label(s) - 0.5 * base(s)  # noqa: E731
    np.testing.assert_allclose(wiggle(t + h), wiggle(t), rtol=0, atol=1e-12)
    assert np.max(np.abs(wiggle(t))) == pytest.approx(h / (4 * np.pi), rel=1e-3)


@pytest.fixture(scope="module")
def tiny_rows():
    rows = [tightness_run("osc", 1, n, seed, n_lifted=4096) for n in (32, 64) for seed in (0, 1)]
    return pd.DataFrame(rows)


def test_tiny_grid_rows_and_table(tiny_rows):
    """m = 1, n = 32, 64, 2 seeds, one family: complete rows with the seed recorded, and a table with the
    expected columns, a finite slope and interval, and -1/(m+2) beside it."""
    df = tiny_rows
    assert tuple(df.columns) == TIGHTNESS_COLUMNS
    assert (df["status"] == "ok").all(), df["error"].tolist()
    assert sorted(df["seed"]) == [0, 0, 1, 1]
    assert np.all(np.isfinite(df["l2sq"])) and np.all(df["l2sq"] > 0)
    assert np.all(df["ref_effect"] < 0.05)  # the reference's certified error is small against the errors
    table = tightness_table(df, n_boot=200)
    assert tuple(table.columns) == TABLE_COLUMNS
    assert len(table) == 1
    row = table.iloc[0]
    assert np.isfinite([row.slope, row.ci_low, row.ci_high]).all()
    assert row.ci_low <= row.slope <= row.ci_high
    np.testing.assert_allclose(row.theory, -1.0 / 3.0, rtol=1e-12, atol=0)
    np.testing.assert_allclose(row.ratio, row.slope / row.theory, rtol=1e-12, atol=0)
    assert bool(row.slowest)
    assert "osc" in tightness_markdown(table)


def test_rows_use_the_target_of_their_n(tiny_rows):
    """Each row records the target drawn for its own n (the period h_n = n^(-1/3) at m = 1)."""
    for r in tiny_rows.itertuples():
        np.testing.assert_allclose(r.h, r.n ** (-1.0 / 3.0), rtol=1e-12, atol=0)
        assert r.target == TIGHTNESS_FAMILIES["osc"](r.n, 1)[0].name


def test_bad_family_is_refused():
    with pytest.raises(ValueError, match="family must be one of"):
        tightness_run("nope", 1, 32, 0)


def test_table_refuses_an_empty_frame():
    with pytest.raises(ValueError, match="df must have at least one row"):
        tightness_table(pd.DataFrame(columns=list(TIGHTNESS_COLUMNS)))


# (amplitude / scale, period / scale) of each oscillating family's deviation from the half control
SHAPES = {"osc": (1.0 / (4.0 * np.pi), 1.0), "spacing": (1.0 / (4.0 * np.pi), 1.0), "tents": (0.25, 2.0)}


@pytest.mark.parametrize("family", list(SHAPES))
@pytest.mark.parametrize("m", [1, 2, 3])
def test_deviation_has_the_claimed_amplitude_and_period(family, m):
    """At every n the target is half the control plus a periodic piece whose amplitude and period are
    the claimed multiples of the family's scale (h_n = n^(-1/(m+2)), or the spacing 2 n^(-1/m)), so
    that the structure shrinks with n at the claimed rate."""
    base = TIGHTNESS_FAMILIES["fixed"](32, m)[0]
    amp_per_scale, period_per_scale = SHAPES[family]
    for n in (64, 512, 4096):
        label, _, scale = TIGHTNESS_FAMILIES[family](n, m)
        period = period_per_scale * scale
        t = np.linspace(-0.95, 0.95 - period, 20001)
        dev_t, dev_shifted, dev_all = (label(s) - 0.5 * base(s) for s in (t, t + period, T))
        np.testing.assert_allclose(dev_shifted, dev_t, rtol=0, atol=1e-12)
        np.testing.assert_allclose(np.max(np.abs(dev_all)), amp_per_scale * scale, rtol=1e-3, atol=0)


def test_sweep_resumes_without_redoing_finished_rows(tmp_path, monkeypatch):
    """A second sweep on the same CSV computes nothing; a record cut short by an interruption is redone
    (and only it); a new seed adds only its runs; a CSV of other settings is refused."""
    path = str(tmp_path / "tightness.csv")
    grid = dict(families=("fixed",), ms=(1,), ns=(32, 64), n_lifted=1024, n_jobs=1, progress=False)
    first = tightness_sweep(path, seeds=(0, 1), **grid)
    assert len(first) == 4 and (first["status"] == "ok").all()
    assert sorted(zip(first["n"], first["seed"])) == [(32, 0), (32, 1), (64, 0), (64, 1)]

    calls = []
    real_run = tightness_module.tightness_run

    def counting_run(family, m, n, seed, **kwargs):
        calls.append((family, m, n, seed))
        return real_run(family, m, n, seed, **kwargs)

    monkeypatch.setattr(tightness_module, "tightness_run", counting_run)
    again = tightness_sweep(path, seeds=(0, 1), **grid)
    assert calls == []
    pd.testing.assert_frame_equal(again, first)

    # The last record loses its end, as when killed while appending: fields and line end, or the line end only.
    for cut in (40, 1):
        calls.clear()
        with open(path) as fh:
            text = fh.read()
        with open(path, "w") as fh:
            fh.write(text[: len(text) - cut])
        resumed = tightness_sweep(path, seeds=(0, 1), **grid)
        assert len(calls) == 1
        assert len(resumed) == 4 and len(read_tightness(path)) == 4
        pd.testing.assert_frame_equal(resumed.drop(columns=["solve_time", "metrics_time"]),
                                      first.drop(columns=["solve_time", "metrics_time"]))

    calls.clear()
    more = tightness_sweep(path, seeds=(0, 1, 2), **grid)
    assert sorted(calls) == [("fixed", 1, 32, 2), ("fixed", 1, 64, 2)]
    assert len(more) == 6 and sorted(more["seed"].unique()) == [0, 1, 2]

    with pytest.raises(ValueError, match="n_lifted: the CSV at .* was computed with n_lifted = 1024"):
        tightness_sweep(path, seeds=(0,), **{**grid, "n_lifted": 2048})
