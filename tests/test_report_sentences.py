"""The rate study's report says only what its data show (STYLE.md 14): tables are planted with
slopes that contradict each computed sentence, and the sentence must not be printed; verdicts name
a theorem only where its hypotheses hold; the pre-asymptotic diagnostic flags an L_n that has not
settled; the manifold panel compares slopes on a common n range."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from lipconv.rates import fit_rate, summary_markdown
from lipconv.rates._report import lipschitz_settling, theorem_status

NS = (64, 256, 1024, 4096)


def _rows(manifold="cube", m=2, d=2, label="ramp", loss="squared", method="convex", ns=NS, seeds=5,
          slopes=None, lipschitz=None, gap=1e-9, theta=2.0):
    """Synthetic sweep rows whose quantities follow q(n) = c n^b (1 + 1 % noise), b from ``slopes``."""
    slopes = {"w1": -0.5, "l2sq": -0.9, "l2sq_midpoint": -1.0, "l2sq_samples": -1.0, "linf_hi": -0.3, "linf_lo": -0.3,
              **(slopes or {})}
    rng = np.random.default_rng(0)
    out = []
    for n in ns:
        for s in range(seeds):
            row = dict(manifold=manifold, m=m, d=d, density="uniform", lam=0.02, loss=loss, label=label, method=method,
                       n=n, seed=s, status="ok", theta=theta, max_violation=0.0, relative_gap=gap,
                       lipschitz_ref=4.0, lipschitz=(lipschitz or {}).get(n, 4.0 * (1 - 1 / n)),
                       bound_w1=(np.log(n) / n) ** (1 / (m + 2)), bound_l2sq=10 * (np.log(n) / n) ** (1 / (m + 2)),
                       bound_linf=(np.log(n) / n) ** (1 / (m + 2) ** 2))
            for q, b in slopes.items():
                row[q] = 0.5 * n ** b * (1 + 0.01 * rng.standard_normal())
            out.append(row)
    return out


def _report(rows):
    df = pd.DataFrame(rows)
    return summary_markdown(df, fit_rate(df, n_boot=200), wall=1.0, load=(0, 0, 0), n_boot=200)


def test_parametric_sentence_follows_the_sample_slope():
    text = _report(_rows(m=4, d=4, slopes={"l2sq_samples": -0.25}) + _rows(m=1, d=1, slopes={"l2sq_samples": -1.0}))
    reached = [line for line in text.splitlines() if line.startswith("At the samples the parametric exponent -1 (")]
    missed = [line for line in text.splitlines() if line.startswith("At the samples the parametric exponent -1 is not")]
    assert len(reached) == 1 and "cube m=1 d=1" in reached[0] and "cube m=4 d=4" not in reached[0]
    assert len(missed) == 1 and "cube m=4 d=4 (-0.25 [" in missed[0]
    only_slow = _report(_rows(m=4, d=4, slopes={"l2sq_samples": -0.25}))
    assert "is reached" not in only_slow and "set by the spacing" not in only_slow


def test_theorem_comparison_sentence_is_not_printed_when_a_slope_is_not_steeper():
    steep = _report(_rows(slopes={"l2sq": -0.9}))
    assert "Every worst-extension slope here is steeper than the theorem's exponent" in steep
    shallow = _report(_rows(slopes={"l2sq": -0.1}) + _rows(m=1, d=1, slopes={"l2sq": -0.9}))
    assert "Every worst-extension slope here is steeper" not in shallow
    assert "not steeper than the theorem's exponent -1/(m+2): cube m=2 d=2 (-0.10 [" in shallow
    assert "worst case over targets" not in shallow


def test_verdicts_name_a_theorem_only_where_its_hypotheses_hold():
    rows = _rows(label="ramp") + _rows(label="ramp+noise:0.2")
    text = _report(rows)
    verdicts = text.split("## Verdicts")[1].split("\n## ")[0]
    noisy = [line for line in verdicts.splitlines() if "ramp+noise:0.2 | l2sq" in line or "ramp+noise:0.2 | linf_hi" in line]
    clean = [line for line in verdicts.splitlines() if "ramp | l2sq |" in line]
    assert len(noisy) == 2 and all("none (noisy labels)" in line and "measured for comparison" in line for line in noisy)
    assert all("Theorem 4.8" not in line and "Corollary 4.9" not in line and "decreasing" not in line for line in noisy)
    assert len(clean) == 1 and "| Theorem 4.8 |" in clean[0] and "decreasing" in clean[0]
    # W1 (Lemma 4.10) is about the samples, not the labels: it keeps its verdict.
    assert any("ramp+noise:0.2 | w1 | Lemma 4.10" in line for line in verdicts.splitlines())
    applies, why = theorem_status(dict(label="step", loss="absolute"), pd.DataFrame(_rows(label="step", loss="absolute")))
    assert not applies and why == "labels not Lipschitz, loss not strongly convex"
    not_minimizers = pd.DataFrame(_rows(gap=0.01))
    assert theorem_status(dict(label="ramp", loss="squared"), not_minimizers) == (
        False, f"{len(not_minimizers)} of {len(not_minimizers)} rows not certified minimizers")


def test_an_unsettled_lipschitz_constant_is_flagged():
    drifting = {64: 6.3, 256: 6.53, 1024: 6.72, 4096: 6.74}  # away from L* = 4.0, as measured with noise at m = 4
    rows = _rows(lipschitz=drifting)
    assert lipschitz_settling(pd.DataFrame(rows))["state"] == "NOT SETTLED"
    text = _report(rows)
    assert "L_n has not settled for: cube m=2 d=2" in text and "| NOT SETTLED |" in text
    assert "decreasing; L_n not settled" in text
    settled = _report(_rows())
    assert "| NOT SETTLED |" not in settled and "L_n not settled" not in settled and "L_n has not settled" not in settled
    assert "| settled |" in settled
    approaching = lipschitz_settling(pd.DataFrame(_rows(lipschitz={64: 3.0, 256: 3.5, 1024: 3.7, 4096: 3.85})))
    assert approaching["state"] == "approaching"
    np.testing.assert_allclose([r for _, r in approaching["ratios"]], [0.75, 0.875, 0.925, 0.9625], rtol=1e-12)


def test_panel_describes_the_isometric_bend_and_refits_on_the_common_n():
    rows = (_rows("curved_torus", 2, 4, ns=(64, 256, 1024, 4096)) + _rows("curved_torus", 2, 8, ns=(64, 256, 1024))
            + _rows("cube", 4, 4, ns=(64, 256, 1024, 4096)))
    text = _report(rows)
    panel = text.split("## The manifold hypothesis")[1].split("\n## ")[0]
    assert "bent isometrically" in panel and "chordal geometry" in panel and "non-isometric" not in panel
    assert "n = 64 to 1024 (3 values)" in panel
    full_range = fit_rate(pd.DataFrame(rows), n_boot=200)
    d4 = full_range[(full_range["manifold"] == "curved_torus") & (full_range["d"] == 4) & (full_range["quantity"] == "l2sq")]
    assert int(d4["n_max"].iloc[0]) == 4096  # the global fit used 4096, the panel must not
    common = fit_rate(pd.DataFrame([r for r in rows if r["n"] <= 1024]), n_boot=200)
    c4 = common[(common["manifold"] == "curved_torus") & (common["d"] == 4) & (common["quantity"] == "l2sq")].iloc[0]
    assert f"d=4: {c4['slope']:+.3f} [{c4['ci_low']:+.3f}, {c4['ci_high']:+.3f}]" in panel


@pytest.mark.parametrize("phrase", ["parametric rate: the target u^lambda is fixed", "set by the spacing n^-1/m",
                                    "which is a worst case over targets", "non-isometric map"])
def test_retired_unmeasured_claims_are_gone(phrase):
    text = _report(_rows(m=4, d=4, slopes={"l2sq_samples": -0.25}) + _rows("curved_torus", 2, 4)
                   + _rows("curved_torus", 2, 6) + _rows("cube", 4, 4))
    assert phrase not in text
