r"""The rate study's report: hypotheses, verdicts with unknown constants, certification per row, the
manifold-hypothesis panel, the errors at and between the samples, the pre-asymptotic diagnostic and
the network against the exact minimizer ([FCAO] Section 4).

Everything here reads a sweep table (:func:`lipconv.rates.run_sweep`) and its fits
(:func:`lipconv.rates.fit_rate`); nothing is solved again, so a report can be redrawn from a CSV. A
sentence that explains or compares rates is printed only with the measured slope and interval it
rests on, and only when they support it (STYLE.md 14): comparisons with an exponent are made by
where the 95 % interval lies ("steeper": entirely below it; "shallower": entirely above it;
"contains").

What a verdict checks. The bounds of Lemma 4.10, Theorem 4.8 and Corollary 4.9 hold with an unknown
constant C and with probability :math:`1 - 2 t^{-m/(m+2)} n^{-(ct-1)}`, which is negative at the
nominal t = 1; so "error <= bound at C = 1" checks no statement and is shown only as the nominal
ratio. With C unknown, what the data can test is the trend of the ratio r(n) = error / bound: the
theorem predicts r bounded, and a ratio that rises with n, resolved by the bootstrap, contradicts it.
The verdict is therefore on the fitted exponent of r (its 95 % interval): "decreasing" (interval
below 0), "flat" (interval contains 0, no resolved rise between neighbouring n) or "RISES" (interval
above 0, or a resolved rise). A verdict names Theorem 4.8 or Corollary 4.9 only for a row set that
meets their hypotheses (deterministic Lipschitz labels, a strongly convex loss, and rows that are
certified minimizers of (2.7)); any other row set is "measured for comparison".
"""
from __future__ import annotations

import numpy as np

__all__ = ["HYPOTHESIS_COLUMNS", "hypotheses", "summary_markdown", "panel_verdict", "certification_counts",
           "W1_TARGET", "L2_TARGET", "GAP_TARGET", "group_name", "theorem_status", "lipschitz_settling"]

W1_TARGET = 0.05  # hi - lo of the W1 bracket, relative to its value (issue 12, item 1)
L2_TARGET = 0.05  # standard error of the L2 estimate, relative to its value (item 2)
# The quantities whose verdicts the report prints, with the theorem each is set beside; the sup
# uses the upper end of its certified bracket (the conservative side for an upper bound).
VERDICT_QUANTITIES = ("w1", "l2sq", "linf_hi")
HYPOTHESIS_COLUMNS = ("problem", "m", "d", "loss", "labels", "density bounded below",
                      "smooth compact manifold", "theorems that apply")
MAX_FAILED_LISTED = 20
GAP_TARGET = 0.02  # the network's median certified gap at every n (issue 24, item 5)
# L_n / L* within this relative distance of 1 at the largest n counts as settled (diagnostic only).
SETTLED_RTOL = 0.02


def _key_columns():
    from ._fit import GROUP_COLUMNS

    return GROUP_COLUMNS


def group_name(row, varying=()) -> str:
    """"cube m=2 d=3", followed by the label, lam, loss and method when they vary in the table."""
    from ._problems import problem_name

    if not hasattr(row, "__getitem__") or isinstance(row, (str, bytes)):
        raise ValueError(f"row must be a row of a sweep table (a pandas.Series or a dict), got {type(row).__name__}")
    name = problem_name(row["manifold"], int(row["m"]), int(row["d"]))
    extra = [f"{c}={row[c]:g}" if c == "lam" else str(row[c]) for c in ("label", "lam", "loss", "method")
             if c in varying]
    if row.get("density", "uniform") != "uniform":
        extra.insert(0, f"density={row['density']}")
    return " ".join([name, *extra])


def _varying(df) -> tuple:
    return tuple(c for c in ("label", "lam", "loss", "method") if c in df.columns and df[c].nunique() > 1)


def _fmt(x, spec="+.3f") -> str:
    try:
        ok = x is not None and np.isfinite(float(x))
    except (TypeError, ValueError):
        return ""
    return format(float(x), spec) if ok else ""


def hypotheses(df) -> list[dict]:
    """One dict per problem group: the hypotheses of [FCAO] Section 4, and which results apply.

    * loss: strongly convex (theta > 0, Theorem 4.8 and Corollary 4.9), strictly convex (Theorem
      4.7), Lipschitz on the bounded label range [-1, 1] (every loss of :mod:`lipconv.losses` is);
    * labels: Lipschitz (ramp, smooth, sin, soft) or not (step, one-hot), deterministic y(x) as in
      eq. (4.4) or noisy (``+noise``, ``+flip``: outside the deterministic-label theory;
      :func:`lipconv.rates.label_hypotheses`);
    * density bounded below: both densities of :mod:`lipconv.manifolds` are (uniform; 1 + t/2 >= 1/2);
    * smooth compact manifold: the sphere, circle and tori are; the cube is not (it has faces, edges
      and corners, where its sup errors sit, and where Theorem A.1's constant fails by the corner
      factor; DESIGN.md).
    """
    from ..losses import get_loss
    from ._problems import label_hypotheses, loss_hypotheses, parse_label

    varying = _varying(df)
    out = []
    ok = df[df["status"] == "ok"] if "status" in df.columns else df
    for key, g in ok.groupby(list(_key_columns()), sort=True, dropna=False):
        row = dict(zip(_key_columns(), key))
        loss = get_loss(row["loss"])
        strong = loss.theta > 0
        strict = strong or loss.name not in ("absolute", "huber")
        model = parse_label(row["label"])
        lipschitz_labels = bool(np.isfinite(model.base.lipschitz))
        smooth = row["manifold"] != "cube"
        if len(g) and "relative_gap" in g.columns and not _minimizer_rows(g).any():
            applies = ("Lemma 4.10 for the samples; none for the errors (no row is a certified minimizer of (2.7)): "
                       "measured for comparison")
        elif not model.deterministic:
            applies = "none (noisy labels: outside the deterministic-label theory): measured for comparison"
        elif not lipschitz_labels:
            applies = "none (labels not Lipschitz): measured for comparison"
        elif strong:
            applies = "Lemma 4.10, Theorem 4.8, Corollary 4.9" + ("" if smooth else " (M the cube: the proof of Lemma 4.10 starts there, [FCAO] App. B)")
        elif strict:
            applies = "Lemma 4.10, Theorem 4.7 (no rate)"
        else:
            applies = "Lemma 4.10 only (loss not strictly convex)"
        out.append({
            "problem": group_name(row, varying), "m": int(row["m"]), "d": int(row["d"]),
            "loss": f"{loss.name}: {loss_hypotheses(loss)}",
            "labels": f"{row['label']}: {label_hypotheses(row['label'])}",
            "density bounded below": "yes" if row["density"] == "uniform" else "yes (>= 1/2)",
            "smooth compact manifold": "yes" if smooth else "no: boundary (faces, edges, corners)",
            "theorems that apply": applies,
        })
    return out


def _minimizer_rows(g) -> np.ndarray:
    """Rows whose two-part certificate holds (max_violation and relative_gap within the solver's
    tolerances, :mod:`lipconv.solvers._certificate`): certified minimizers of (2.7)."""
    from ..solvers._certificate import FEASIBILITY_TOL, GAP_TOL

    if "relative_gap" not in g.columns or "max_violation" not in g.columns:
        return np.zeros(len(g), dtype=bool)
    gap = g["relative_gap"].to_numpy(dtype=float)
    viol = g["max_violation"].to_numpy(dtype=float)
    return (gap <= GAP_TOL) & (viol <= FEASIBILITY_TOL)


def theorem_status(key: dict, g) -> tuple[bool, str]:
    """Whether Theorem 4.8 and Corollary 4.9 of [FCAO] apply to a row set, and if not, why.

    They need deterministic labels y(x) (eq. (4.4)), Lipschitz labels, a Lipschitz strongly convex
    loss, and minimizers of (2.7): rows that are certified minimizers (:func:`_minimizer_rows`).
    Returns (applies, reason): reason lists the hypotheses that fail ("" when they all hold)."""
    from ..losses import get_loss
    from ._problems import parse_label

    reasons = []
    model = parse_label(key["label"])
    if not model.deterministic:
        reasons.append("noisy labels")
    if not np.isfinite(model.base.lipschitz):
        reasons.append("labels not Lipschitz")
    if get_loss(key["loss"]).theta <= 0:
        reasons.append("loss not strongly convex")
    certified = _minimizer_rows(g)
    if not certified.all():
        reasons.append(f"{int((~certified).sum())} of {len(g)} rows not certified minimizers")
    return not reasons, ", ".join(reasons)


def lipschitz_settling(g) -> dict:
    r"""The pre-asymptotic diagnostic of a row set: :math:`L_n / L^*` (mean over seeds) at each n.

    ``state`` is "settled" when it is within ``SETTLED_RTOL`` of 1 at the largest n, "approaching"
    when its distance to 1 shrank between the two largest n, and "NOT SETTLED" otherwise (L_n moves
    away from the continuum constant: the fitted slopes describe a transient, not a rate); "" with
    fewer than two n or no reference constant."""
    if "lipschitz_ref" not in g.columns or "lipschitz" not in g.columns:
        return {"ratios": [], "state": ""}
    ref = g["lipschitz_ref"].to_numpy(dtype=float)
    if not (np.all(np.isfinite(ref)) and np.all(ref > 0)):
        return {"ratios": [], "state": ""}
    r = (g["lipschitz"].astype(float) / g["lipschitz_ref"].astype(float)).groupby(g["n"]).mean()
    ratios = [(int(n), float(v)) for n, v in r.items()]
    if len(ratios) < 2:
        return {"ratios": ratios, "state": ""}
    last, prev = abs(ratios[-1][1] - 1.0), abs(ratios[-2][1] - 1.0)
    state = "settled" if last <= SETTLED_RTOL else ("approaching" if last < prev else "NOT SETTLED")
    return {"ratios": ratios, "state": state}


def _relation(f, exponent: float) -> str:
    """Where the slope interval of a fit lies relative to ``exponent``."""
    lo, hi = float(f["ci_low"]), float(f["ci_high"])
    if not (np.isfinite(lo) and np.isfinite(hi) and np.isfinite(exponent)):
        return ""
    return "steeper" if hi < exponent else ("shallower" if lo > exponent else "contains")


def _slope_text(f) -> str:
    return f"{_fmt(f['slope'], '+.2f')} [{_fmt(f['ci_low'], '+.2f')}, {_fmt(f['ci_high'], '+.2f')}]"


def _fits_by_group(fits) -> dict:
    """{group key tuple: {quantity: fit row}} over the finite fits."""
    from ._fit import GROUP_COLUMNS

    out: dict = {}
    for _, f in fits.iterrows():
        if np.isfinite(float(f["slope"])):
            out.setdefault(tuple(f[c] for c in GROUP_COLUMNS), {})[f["quantity"]] = f
    return out


def _reference_accuracy(ok, varying) -> list[str]:
    r"""The certified references' accuracy against the smallest measured L2 error of their problem.

    The measured :math:`E = \|\bar u_n - v_h\|^2` differs from the error against :math:`u^\lambda`
    by at most :math:`2 e_2 \sqrt{E} + e_2^2` (triangle inequality), e_2 the reference's certified
    L2 bound; the table gives that over E at the smallest E of the problem (target: <= 1 %)."""
    if "ref_err_l2" not in ok.columns or "ref_kind" not in ok.columns:
        return []
    rows = []
    for key, g in ok[ok["ref_kind"] == "lifted"].groupby(list(_key_columns()), sort=True, dropna=False):
        e2 = float(g["ref_err_l2"].astype(float).max())
        E = g["l2sq"].astype(float)
        if not (np.isfinite(e2) and len(E) and E.min() > 0):
            continue
        Emin = float(E.min())
        rel = (2.0 * e2 * np.sqrt(Emin) + e2**2) / Emin
        rows.append([group_name(dict(zip(_key_columns(), key)), varying), _fmt(float(g["ref_err_J"].max()), ".2e"),
                     _fmt(e2, ".2e"), _fmt(float(g["ref_err_sup"].max()), ".2e"), _fmt(Emin, ".3e"), _fmt(rel, ".2%"),
                     "yes" if rel <= 0.01 else "NO"])
    if not rows:
        return []
    return ["", "## Accuracy of the certified 1-D references", "",
            "lifted references (lipconv.continuum.lifted_reference): J* within [lower, J[v_h]] (width below), "
            "||v_h - u^lam||_L2 <= e_2 and sup |v_h - u^lam| <= e_sup, all certified. Effect on the smallest "
            "measured L2^2 error E of the problem: (2 e_2 sqrt(E) + e_2^2) / E.", "",
            *_table(["problem", "J bracket width", "e_2 (L2 bound)", "e_sup (sup bound)", "smallest E",
                     "effect on E", "<= 1 %"], rows)]


def certification_counts(df) -> list[dict]:
    """Per problem group: how many rows meet the W1 bracket target (relative width <= 5 %, exact paths
    width 0), the L2 target (relative standard error <= 5 %), and the sup bracket's (relative width
    hi / lo - 1 <= ``sup_rtol``), with the worst value of each."""
    ok = df[df["status"] == "ok"]
    varying = _varying(df)
    out = []
    for key, g in ok.groupby(list(_key_columns()), sort=True, dropna=False):
        row = dict(zip(_key_columns(), key))
        w1w = g["w1_rel_width"].to_numpy(dtype=float) if "w1_rel_width" in g else np.full(len(g), np.nan)
        l2se = g["l2sq_rel_se"].to_numpy(dtype=float) if "l2sq_rel_se" in g else np.full(len(g), np.nan)
        lo, hi = (g[c].to_numpy(dtype=float) if c in g else np.full(len(g), np.nan) for c in ("linf_lo", "linf_hi"))
        supw = np.where(lo > 0, hi / np.where(lo > 0, lo, 1.0) - 1.0, np.where(hi > 0, np.inf, 0.0))
        sup_rtol = float(g["sup_rtol"].iloc[0]) if "sup_rtol" in g else 0.05
        out.append({
            "problem": group_name(row, varying), "rows": len(g),
            "w1_ok": int(np.sum(w1w <= W1_TARGET)), "w1_worst": float(np.nanmax(w1w)) if np.isfinite(w1w).any() else np.nan,
            "l2_ok": int(np.sum(l2se <= L2_TARGET)), "l2_worst": float(np.nanmax(l2se)) if np.isfinite(l2se).any() else np.nan,
            "sup_ok": int(np.sum(supw <= sup_rtol)), "sup_worst": float(np.nanmax(supw)) if np.isfinite(supw).any() else np.nan,
            "sup_rtol": sup_rtol,
        })
    return out


def _empty_fits():
    import pandas as pd

    return pd.DataFrame(columns=[*_key_columns(), "quantity", "slope", "ci_low", "ci_high", "theorem",
                                 "theory_exponent", "sharp_exponent", "n_min", "n_max", "seeds_min", "note"])


def _trend(f) -> str:
    lo, hi = f.get("ratio_ci_low"), f.get("ratio_ci_high")
    if lo is None or not np.isfinite(float(lo)):
        return ""
    if float(lo) > 0 or f.get("non_increasing") is False or f.get("non_increasing") == 0:
        return "RISES"
    return "decreasing" if float(hi) < 0 else "flat"


def _overlap(a, b) -> bool:
    return bool(a["ci_low"] <= b["ci_high"] and b["ci_low"] <= a["ci_high"])


def panel_verdict(fits, *, curved="curved_torus", full=("cube", 4)) -> list[dict]:
    """The manifold-hypothesis panel: for each quantity, whether the slope intervals of the curved
    m = 2 problem agree across d (every pair overlaps) and whether each differs from the
    full-dimensional cube's (m = 4 by default; intervals disjoint)."""
    out = []
    for q in ("w1", "l2sq", "linf_hi"):
        fq = fits[(fits["quantity"] == q) & np.isfinite(fits["slope"].astype(float))]
        c = fq[fq["manifold"] == curved].sort_values("d")
        f = fq[(fq["manifold"] == full[0]) & (fq["m"] == full[1])]
        if len(c) < 2:
            continue
        rows = [r for _, r in c.iterrows()]
        agree = all(_overlap(a, b) for i, a in enumerate(rows) for b in rows[i + 1:])
        entry = {"quantity": q, "curved": [(int(r["d"]), r["slope"], r["ci_low"], r["ci_high"]) for r in rows],
                 "agree_across_d": agree, "full": None, "differ_from_full": None}
        if len(f):
            fr = f.iloc[0]
            entry["full"] = (int(fr["m"]), int(fr["d"]), fr["slope"], fr["ci_low"], fr["ci_high"])
            entry["differ_from_full"] = all(not _overlap(r, fr) for r in rows)
        out.append(entry)
    return out


def _table(header, rows) -> list[str]:
    """A markdown table; each row a sequence in the order of ``header``."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + \
           ["| " + " | ".join(str(v) for v in r) + " |" for r in rows]


def _key(values) -> tuple:
    """A group key that compares equal however its numbers were read (1, 1.0, numpy ints)."""
    import numbers

    return tuple(repr(float(v)) if isinstance(v, numbers.Real) and not isinstance(v, bool) else str(v) for v in values)


def summary_markdown(df, fits, *, wall: float, load: tuple, cores: int | None = None, budget: str = "",
                     n_boot: int = 2000, neural_note: str = "") -> str:
    """The study's report as markdown (module docstring): hypotheses, verdicts, the pre-asymptotic
    diagnostic, certification, Lemma 4.12, the panel, the errors at and between the samples, the
    network against the exact minimizer, and the failed runs. ``n_boot`` is used for the panel's
    refit on a common n range; ``neural_note`` is printed in the network's section when the table
    has no network rows (e.g. why the panel was skipped)."""
    from .._validation import check_frame, check_int, check_positive, check_real
    from ._fit import GROUP_COLUMNS

    check_frame(df, "df", columns=(*GROUP_COLUMNS, "n", "seed", "status"), min_rows=0)
    check_frame(fits, "fits", min_rows=0)
    wall = check_positive(wall, "wall", allow_zero=True)
    load = check_real(load, "load")
    if load.shape != (3,) or not np.all(np.isfinite(load)):
        raise ValueError(f"load must be the three finite load averages (os.getloadavg()), got {load!r}")
    if cores is not None:
        check_int(cores, "cores", minimum=1)
    n_boot = check_int(n_boot, "n_boot", minimum=1)
    ok = df[df["status"] == "ok"]
    varying = _varying(df)
    if len(ok):
        check_frame(fits, "fits (fit_rate of df, which has successful runs)", columns=(*GROUP_COLUMNS, "quantity", "slope"))
    else:  # no successful run: nothing was fitted
        fits = _empty_fits()
    seeds = ok.groupby(list(GROUP_COLUMNS) + ["n"]).size()
    groups = {_key(k): (dict(zip(GROUP_COLUMNS, k)), g) for k, g in ok.groupby(list(GROUP_COLUMNS), sort=True, dropna=False)}
    by_group = {k: v for k, v in ((_key(k), v) for k, v in _fits_by_group(fits).items())}
    lines = [
        "# Convergence-rate study ([FCAO]: Lemma 4.10, Theorem 4.8, Corollary 4.9)",
        "",
        f"Runs: {len(df)} ({len(df) - len(ok)} failed); wall time {wall:.0f} s"
        + (f" on {cores} cores" if cores else "")
        + f"; load average at the end {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min)."
        + (f" {budget}" if budget else ""),
        f"Seeds per (problem, n): {int(seeds.min()) if len(seeds) else 0} to {int(seeds.max()) if len(seeds) else 0}; "
        "each row records its seed and settings (rates.csv).",
        "",
        "## Hypotheses of the theorems, per problem",
        "",
    ]
    hyp = hypotheses(df)
    lines += _table(HYPOTHESIS_COLUMNS, [[h[c] for c in HYPOTHESIS_COLUMNS] for h in hyp])
    lines += _verdict_section(fits, groups, varying)
    lines += _settling_section(groups, by_group, varying)

    lines += ["", "## Certification of every row", "",
              f"W1: hi - lo of the bracket <= {W1_TARGET:.0%} of the value (exact 1-D paths: width 0). "
              f"L2: standard error of the stratified estimate <= {L2_TARGET:.0%} of the value. Sup: the "
              "bracket's hi / lo - 1 within the sweep's sup_rtol (a budget-limited bracket is still "
              "certified, only wider).", ""]
    cert = certification_counts(df)
    lines += _table(["problem", "rows", "W1 width <= 5 %", "worst W1 width", "L2 SE <= 5 %", "worst L2 SE",
                     "sup width <= sup_rtol", "worst sup width"],
                    [[c["problem"], c["rows"], f"{c['w1_ok']}/{c['rows']}", _fmt(c["w1_worst"], ".2%"),
                      f"{c['l2_ok']}/{c['rows']}", _fmt(c["l2_worst"], ".2%"), f"{c['sup_ok']}/{c['rows']}",
                      _fmt(c["sup_worst"], ".2%")] for c in cert])
    all_w1 = sum(c["w1_ok"] for c in cert), sum(c["rows"] for c in cert)
    all_l2 = sum(c["l2_ok"] for c in cert)
    lines += ["", f"All rows: W1 target met in {all_w1[0]}/{all_w1[1]}, L2 target in {all_l2}/{all_w1[1]}."]

    if "lemma412" in ok.columns and np.isfinite(ok["lemma412"].to_numpy(dtype=float)).any():
        lines += ["", "## Lemma 4.12 per run", "",
                  "J[u] - J[u^lam] >= (theta/2) ||u - u^lam||^2 for every u, here each extension of the "
                  "returned sample values; the column is the largest ratio right side / (left side + 2 "
                  "standard errors) over the three extensions (<= 1: the lemma holds within the estimate's "
                  "error).", ""]
        lrows = []
        for info, g in groups.values():
            v = g["lemma412"].to_numpy(dtype=float)
            v = v[np.isfinite(v)]
            if len(v):
                lrows.append([group_name(info, varying), f"{int(np.sum(v <= 1))}/{len(v)}", _fmt(v.max(), ".3f")])
        lines += _table(["problem", "runs with ratio <= 1", "largest ratio"], lrows)

    lines += _panel_section(ok, fits, n_boot)
    lines += _samples_section(groups, by_group, varying)
    lines += _network_section(ok, groups, by_group, varying, neural_note)
    lines += _reference_accuracy(ok, varying)

    failed = df[df["status"] != "ok"]
    if len(failed):
        lines += ["", f"## Failed runs ({len(failed)}; kept as done on resume: rerun into another --out to retry)", ""]
        for _, r in failed.head(MAX_FAILED_LISTED).iterrows():
            lines.append(f"- {group_name(r, ('label', 'lam', 'loss', 'method'))} n={r['n']} seed={r['seed']}: {r['error']}")
        if len(failed) > MAX_FAILED_LISTED:
            lines.append(f"- ... and {len(failed) - MAX_FAILED_LISTED} more (status 'failed' in rates.csv)")
    return "\n".join(lines) + "\n"


def _verdict_section(fits, groups, varying) -> list[str]:
    """The verdict table: a theorem's name only where its hypotheses hold (:func:`theorem_status`)."""
    from ._fit import GROUP_COLUMNS

    lines = [
        "",
        "## Verdicts",
        "",
        "Slope: least-squares fit of log(mean over seeds) on log n, with its 95 % stratified-bootstrap "
        "interval over seeds; beside it the local slope between the two largest n. Theory exponent: the "
        "theorem's, -1/(m+2) (W1, L2^2) and -1/(m+2)^2 (sup); in parentheses the log-log slope of the "
        "bound itself over the measured n (logs kept). The sharp rate is known for W1 only (n^-1/2, "
        "sqrt(log n / n), n^-1/m for m = 1, 2, >= 3); no column claims one for the errors. The errors are "
        "those of the worst extension of u_n (McShane or Whitney envelope: the theorems bound every "
        "minimizer; for vector outputs the pointwise bound B(x) = min_i (||u_i - u^lam(x)|| + L_n |x - x_i|) "
        "on the error of every extension); the sup is the upper end of its certified bracket.",
        "",
        "**What is checked with C unknown**: the ratio error / bound must stay bounded; its fitted "
        "exponent and interval are shown, and the verdict is 'decreasing' (interval below 0), 'flat' "
        "(contains 0, no resolved rise) or 'RISES' (contradicts the theorem). A row set outside a "
        "theorem's hypotheses (noisy or non-Lipschitz labels, a loss that is not strongly convex, rows "
        "that are not certified minimizers) gets no verdict: it is 'measured for comparison', and the "
        "theorem column says which hypotheses fail. The **nominal** ratio at C = 1, t = 1 is shown for "
        "scale only: at t = 1 the theorems' probability is negative, so it checks no statement.",
        "",
    ]
    header = ["problem", "quantity", "theorem", "slope [95 % CI]", "local slope (last two n)",
              "theory exp. (logs kept)", "sharp exp. (logs kept)", "ratio exponent [95 % CI]", "verdict (C unknown)",
              "nominal ratio max (C = 1)", "n", "seeds"]
    rows, left_out = [], []
    for _, f in fits.iterrows():
        if f["quantity"] not in VERDICT_QUANTITIES:
            continue
        key = _key(f[c] for c in GROUP_COLUMNS)
        info, g = groups.get(key, (dict(zip(GROUP_COLUMNS, (f[c] for c in GROUP_COLUMNS))), None))
        if g is not None and not _minimizer_rows(g).any():
            left_out.append(group_name(info, varying))
            continue
        slope = (f"{_fmt(f['slope'])} [{_fmt(f['ci_low'])}, {_fmt(f['ci_high'])}]" if np.isfinite(float(f["slope"]))
                 else str(f.get("note", "")))
        local = str(f.get("local_slopes", "") or "").split()
        theory = f"{_fmt(f['theory_exponent'])} ({_fmt(f.get('theory_exponent_log'), '+.2f')})" \
            if np.isfinite(float(f["theory_exponent"])) else "none (no rate)"
        sharp = f"{_fmt(f['sharp_exponent'])} ({_fmt(f.get('sharp_exponent_log'), '+.2f')})" \
            if np.isfinite(float(f["sharp_exponent"])) else "not known"
        ratio = f"{_fmt(f.get('ratio_slope'))} [{_fmt(f.get('ratio_ci_low'))}, {_fmt(f.get('ratio_ci_high'))}]" \
            if _fmt(f.get("ratio_slope")) else ""
        theorem, verdict = f["theorem"], _trend(f)
        if f["quantity"] != "w1" and g is not None:
            applies, reason = theorem_status(info, g)
            if not applies:
                theorem, verdict = f"none ({reason})", "measured for comparison"
        if verdict and g is not None and lipschitz_settling(g)["state"] == "NOT SETTLED":
            verdict += "; L_n not settled"
        rows.append([group_name(info, varying), f["quantity"], theorem, slope, local[-1] if local else "", theory,
                     sharp, ratio, verdict, _fmt(f.get("max_ratio"), ".3g"), f"{f['n_min']}-{f['n_max']}",
                     f["seeds_min"]])
    lines += _table(header, rows)
    if left_out:
        lines += ["", "Left out of this table: " + ", ".join(sorted(set(left_out))) + " (no row is a certified "
                  "minimizer of (2.7); see 'The network against the exact minimizer')."]
    return lines


def _settling_section(groups, by_group, varying) -> list[str]:
    """The pre-asymptotic diagnostic: L_n / L* per n, beside the global and the last local slope."""
    rows, unsettled = [], []
    for key, (info, g) in groups.items():
        if not _minimizer_rows(g).any():
            continue
        st = lipschitz_settling(g)
        if not st["ratios"]:
            continue
        f = by_group.get(key, {}).get("l2sq")
        local = str(f.get("local_slopes", "") or "").split() if f is not None else []
        rows.append([group_name(info, varying), " / ".join(f"{v:.3f}" for _, v in st["ratios"]),
                     f"{st['ratios'][0][0]}-{st['ratios'][-1][0]}", st["state"] or "",
                     _slope_text(f) if f is not None else "", local[-1] if local else ""])
        if st["state"] == "NOT SETTLED":
            unsettled.append(group_name(info, varying))
    if not rows:
        return []
    lines = ["", "## Pre-asymptotic diagnostic", "",
             "L_n / L*: the mean over seeds of the minimizer's Lipschitz constant over the continuum "
             "minimizer's, at each n. 'settled': within "
             f"{SETTLED_RTOL:.0%} of 1 at the largest n; 'approaching': closer to 1 than at the n before; "
             "'NOT SETTLED': moving away from it, so that the fitted slopes describe a transient. Beside it the "
             "global slope of the worst extension's L2^2 error and its local slope over the two largest n.", ""]
    lines += _table(["problem", "L_n / L* by n", "n", "state", "L2^2 slope [95 % CI]", "local slope (last two n)"],
                    rows)
    if unsettled:
        lines += ["", "L_n has not settled for: " + ", ".join(unsettled) + "; their verdicts are flagged."]
    return lines


def _panel_section(ok, fits, n_boot) -> list[str]:
    """The manifold-hypothesis panel, its slopes refitted on the n range common to its problems."""
    from ._fit import fit_rate

    curved = ok[ok["manifold"] == "curved_torus"]
    if curved.empty or curved["d"].nunique() < 2:
        return []
    full = ok[(ok["manifold"] == "cube") & (ok["m"] == 4)]
    sets = [set(g["n"]) for _, g in curved.groupby("d")] + ([set(full["n"])] if len(full) else [])
    common = sorted(set.intersection(*sets))
    if len(common) < 2:
        return []
    sub = ok[ok["n"].isin(common) & ((ok["manifold"] == "curved_torus") | ((ok["manifold"] == "cube") & (ok["m"] == 4)))]
    panel = panel_verdict(fit_rate(sub, quantities=[q for q in ("w1", "l2sq", "linf_hi") if q in sub.columns],
                                   n_boot=n_boot))
    if not panel:
        return []
    lines = ["", "## The manifold hypothesis: same m = 2 problem, chordal geometry changing with d", "",
             "CurvedTorus(d): one flat torus bent isometrically into R^d. Its intrinsic metric, uniform "
             "measure and labels are the same for every d; what changes with d is its chordal geometry (the "
             "ambient distances that the Lipschitz constraint uses) and its curvature (the bending curve's "
             "curvature is (d - 4)/2). Beside it, full-dimensional data (the cube m = 4 in d = 4). The "
             "manifold hypothesis predicts slopes that agree across d and differ from the full-dimensional "
             f"one. All slopes here are refitted on the n common to these problems, n = {common[0]} to "
             f"{common[-1]} ({len(common)} values), so that no comparison mixes n ranges.", ""]
    prow = []
    for e in panel:
        curved_txt = "; ".join(f"d={d}: {_fmt(s)} [{_fmt(lo)}, {_fmt(hi)}]" for d, s, lo, hi in e["curved"])
        full_txt = "" if e["full"] is None else f"m={e['full'][0]} d={e['full'][1]}: {_fmt(e['full'][2])} " \
                                                f"[{_fmt(e['full'][3])}, {_fmt(e['full'][4])}]"
        prow.append([e["quantity"], curved_txt, "yes" if e["agree_across_d"] else "NO", full_txt,
                     "" if e["differ_from_full"] is None else ("yes" if e["differ_from_full"] else "NO")])
    lines += _table(["quantity", "curved m = 2 slopes", "agree across d (intervals overlap)",
                     "full-dimensional slope", "differs from full-dim. (disjoint)"], prow)
    return lines


def _samples_section(groups, by_group, varying) -> list[str]:
    """The error at the samples beside the errors between them, with computed comparisons only."""
    rows, reached, not_reached, theorem_cmp = [], [], [], []
    for key, (info, g) in groups.items():
        fs = by_group.get(key, {})
        if "l2sq_samples" not in fs or not _minimizer_rows(g).any():
            continue
        m = int(info["m"])
        name = group_name(info, varying)
        samp, worst = fs["l2sq_samples"], fs.get("l2sq")
        rel_samples = _relation(samp, -1.0)
        rows.append([name, m, _slope_text(samp), _slope_text(fs["l2sq_midpoint"]) if "l2sq_midpoint" in fs else "",
                     _slope_text(worst) if worst is not None else "", rel_samples,
                     _relation(worst, -1.0 / m) if worst is not None else "",
                     _relation(worst, -1.0 / (m + 2)) if worst is not None else ""])
        (reached if rel_samples in ("contains", "steeper") else not_reached).append(f"{name} ({_slope_text(samp)})")
        if worst is not None:
            theorem_cmp.append((name, m, _relation(worst, -1.0 / (m + 2)), _slope_text(worst)))
    if not rows:
        return []
    lines = ["", "## At the samples and between them", "",
             "The error at the samples, (1/n) sum_i |u_n(x_i) - u^lam(x_i)|^2, involves no extension; the "
             "L2(rho) errors of the midpoint and of the worst extension add the error between the samples. "
             "Each comparison column says where the slope's 95 % interval lies relative to the exponent: "
             "'steeper' (entirely below), 'shallower' (entirely above) or 'contains'.", ""]
    lines += _table(["problem", "m", "at the samples", "midpoint extension", "worst extension",
                     "samples vs -1 (parametric)", "worst vs -1/m", "worst vs -1/(m+2) (Theorem 4.8)"], rows)
    lines.append("")
    if reached:
        lines.append("At the samples the parametric exponent -1 (that of estimating finitely many numbers from n "
                     "observations) is reached, the interval containing it or lying below it, for: "
                     + "; ".join(reached) + ".")
    if not_reached:
        lines.append("At the samples the parametric exponent -1 is not reached (the interval lies above it) for: "
                     + "; ".join(not_reached) + ".")
    steeper = [c for c in theorem_cmp if c[2] == "steeper"]
    others = [c for c in theorem_cmp if c[2] != "steeper"]
    if steeper and not others:
        lines.append("Every worst-extension slope here is steeper than the theorem's exponent -1/(m+2) (interval "
                     "entirely below it).")
    elif others:
        lines.append("Worst-extension slopes not steeper than the theorem's exponent -1/(m+2): "
                     + "; ".join(f"{n} ({t}: {rel})" for n, _, rel, t in others) + ".")
    lines.append("Theorem 4.8 bounds the error for each target; it does not say that a target attains its rate "
                 "(studies/tightness.py chooses targets per n to probe that).")
    return lines


def _network_section(ok, groups, by_group, varying, note: str) -> list[str]:
    """The network against the exact minimizer: certified gaps and the errors of both."""
    lines = ["", "## The network against the exact minimizer", ""]
    net_keys = [k for k, (info, g) in groups.items()
                if "l2sq_function" in g.columns and np.isfinite(g["l2sq_function"].to_numpy(dtype=float)).any()]
    if not net_keys:
        return lines + [note or "No network rows in this table (methods: "
                        + ", ".join(sorted(ok["method"].unique())) + ")."]
    lines += [
        "A ReLU network u_theta trained on J_n ([FCAO] eq. (2.6) with eps = 0; lipconv.neural) beside the exact "
        "minimizer u_n of the same samples. Gap: the certified relative optimality gap (J_n - D) / J_n of the "
        "network's sample values at their discrete Lipschitz constant (a feasible point of (2.7)), D the "
        "convex solve's certified lower bound (lipconv.solvers.certify); 'at Lip+' is the same at the certified "
        "upper bound of Lip(u_theta) on X, a bound on the suboptimality of the network as a function. Errors: "
        "the network's own L2(rho)^2 error (stratified, with its standard error) and the upper end of its "
        "certified sup bracket (cells judged with the certified upper bound of Lip(u_theta) on X), beside the "
        "exact minimizer's midpoint and worst extensions on the same (n, seed), and the worst extension of the "
        f"network's own sample values. Target: median gap <= {GAP_TARGET:.0%} at every n.",
        "",
    ]
    rows, slope_rows, missed, inconsistent, wide = [], [], [], [], []
    for key in net_keys:
        info, g = groups[key]
        name = group_name(info, varying)
        exact = _exact_partner(ok, info)
        for n, gn in g.groupby("n"):
            gap = gn["relative_gap"].to_numpy(dtype=float)
            gap_up = gn["relative_gap_upper"].to_numpy(dtype=float)
            ex = exact[(exact["n"] == n) & exact["seed"].isin(gn["seed"])] if exact is not None else None
            med = float(np.median(gap))
            if med > GAP_TARGET:
                missed.append(f"{name} n={n} ({med:.2%})")
            bad = gn[(gap < -1e-6) | (gap_up < -1e-6)]
            inconsistent += [f"{name} n={n} seed={s}" for s in bad["seed"]]
            rows.append([name, int(n), len(gn), f"{med:.2%}", f"{np.max(gap):.2%}", f"{np.median(gap_up):.2%}",
                         _fmt(gn["l2sq_function"].mean(), ".3e"),
                         _fmt(ex["l2sq_midpoint"].mean(), ".3e") if ex is not None and len(ex) else "",
                         _fmt(ex["l2sq"].mean(), ".3e") if ex is not None and len(ex) else "",
                         _fmt(gn["l2sq"].mean(), ".3e"),
                         f"[{_fmt(gn['linf_function_lo'].mean(), '.3f')}, {_fmt(gn['linf_function_hi'].mean(), '.3f')}]",
                         _fmt(ex["linf_hi"].mean(), ".3f") if ex is not None and len(ex) else "",
                         _fmt(gn["linf_hi"].mean(), ".3f")])
        fs = by_group.get(key, {})
        efs = _partner_fits(exact, g) if exact is not None else {}
        slope_rows.append([name, _slope_text(fs["l2sq_function"]) if "l2sq_function" in fs else "",
                           _slope_text(efs["l2sq_midpoint"]) if "l2sq_midpoint" in efs else "",
                           _slope_text(efs["l2sq"]) if "l2sq" in efs else "",
                           _slope_text(fs["linf_function_lo"]) if "linf_function_lo" in fs else "",
                           _slope_text(fs["linf_function_hi"]) if "linf_function_hi" in fs else "",
                           _slope_text(efs["linf_hi"]) if "linf_hi" in efs else ""])
        lo_, hi_ = g["linf_function_lo"].to_numpy(dtype=float), g["linf_function_hi"].to_numpy(dtype=float)
        width = np.where(lo_ > 0, hi_ / np.where(lo_ > 0, lo_, 1.0) - 1.0, np.inf)
        rtol = float(g["sup_rtol"].iloc[0]) if "sup_rtol" in g.columns else 0.05
        if np.any(width > rtol):
            excess = g["lipschitz_upper"].to_numpy(dtype=float) / g["lipschitz"].to_numpy(dtype=float) - 1.0
            wide.append(f"{name}: {int(np.sum(width > rtol))} of {len(g)} rows (median width {np.median(width):.0%}; "
                        f"the certified Lip(u_theta) bound on X exceeds L_disc by {np.median(excess):.0%} at the median)")
    lines += _table(["problem", "n", "seeds", "median gap", "max gap", "median gap at Lip+", "network L2^2",
                     "exact: midpoint L2^2", "exact: worst L2^2", "worst extension of network values L2^2",
                     "network sup [lo, hi]", "exact: worst sup (hi)", "worst extension of network values sup (hi)"], rows)
    lines += ["", "Slopes in n with 95 % intervals (the exact minimizer's refitted on the network's n and seeds):", ""]
    lines += _table(["problem", "network L2^2", "exact: midpoint L2^2", "exact: worst L2^2", "network sup (lo)",
                     "network sup (hi)", "exact: worst sup (hi)"], slope_rows)
    lines.append("")
    if wide:
        lines.append("Network sup brackets wider than the sweep's sup_rtol (their upper ends are set by the evaluation "
                     "budget and the certified Lipschitz bound, not by the error; the lower ends are attained values): "
                     + "; ".join(wide) + ".")
    lines.append(f"Target met: the median gap is <= {GAP_TARGET:.0%} at every n." if not missed else
                 f"Target missed (median gap above {GAP_TARGET:.0%}) at: " + "; ".join(missed) + ".")
    if inconsistent:
        lines.append("INCONSISTENT rows (a certified lower bound above a feasible objective: something is wrong): "
                     + "; ".join(inconsistent) + ".")
    return lines


def _exact_partner(ok, info):
    """The certified-minimizer rows of the same problem, label, loss and lam as a network group."""
    same = np.logical_and.reduce([ok[c].astype(str) == str(info[c]) for c in ("manifold", "label", "loss")]
                                 + [np.isclose(ok["m"].astype(float), float(info["m"])),
                                    np.isclose(ok["d"].astype(float), float(info["d"])),
                                    np.isclose(ok["lam"].astype(float), float(info["lam"]))])
    rows = ok[same & (ok["method"] != info["method"])]
    rows = rows[_minimizer_rows(rows)]
    if rows.empty:
        return None
    return rows[rows["method"] == sorted(rows["method"].unique())[0]]


def _partner_fits(exact, g) -> dict:
    """Fits of the exact minimizer's rows restricted to the network's (n, seed) pairs."""
    from ._fit import fit_rate

    pairs = set(zip(g["n"], g["seed"]))
    sub = exact[[p in pairs for p in zip(exact["n"], exact["seed"])]]
    if sub["n"].nunique() < 2:
        return {}
    fits = fit_rate(sub, quantities=[q for q in ("l2sq_midpoint", "l2sq", "linf_hi") if q in sub.columns], n_boot=500)
    return {f["quantity"]: f for _, f in fits.iterrows() if np.isfinite(float(f["slope"]))}
