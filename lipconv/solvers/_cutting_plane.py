r"""The scalable exact method: cutting planes on the pair constraints of [FCAO] eq. (2.7).

The finite program (DESIGN.md, "The core problem")

.. math::

    \min_{u \in \mathbb{R}^{n \times k},\, L \ge 0}\ \sum_i w_i\, \ell(u_i, y_i) + \lambda L
    \quad \text{s.t.}\quad \|u_i - u_j\|_{p_y} \le L\, \|x_i - x_j\|_{p_x}\ \ \forall i < j

has n(n-1)/2 constraints, but at the optimum only a few per point are active (about 1.8 per point on
FlatCube(2, 3) at n = 8,192; they are long: median length 0.12, eleven times the point spacing, since
the multipliers form a transport plan along the rays where u has slope L). The method solves the
program restricted to an active set of pairs E (a relaxation, so its objective is a lower bound),
asks an exact oracle for the pairs violated by the relaxed solution among ALL pairs, adds the worst
``per_point`` per point, and repeats. It stops when no pair outside E is violated by more than
``viol_tol`` relative to L; since the last relaxation is then feasible for the full program to that
tolerance, its value is the optimum (a lower bound attained by a feasible point).

Where it is slow: large problems on 2-manifolds. The rounds on a level fall with the share of the
final active pairs that its starting set holds, and the coarse level predicts few of them. Measured
on FlatCube(2, 3), n = 25,000 (squared loss, lam = 0.01, ramp(0.5) + 0.1 noise, load about 1), whose
finest level takes 19 rounds and 33 s. The optimum has 24,410 active pairs. The starting set (the
coarse level's active pairs, the pairs they pass to the new points and the 2-NN graph: 71k pairs)
holds 25 % of them. Pairing the new points of both ends of each coarse active pair holds 12 %. For
46 %, the nearest coarse points of the two ends are a coarse active pair with one end kept and the
other kept or moved to one of its 6 nearest coarse neighbours. Planting 50 %, 80 % or all of them in
the start cut the level to 11, 9 and 3 rounds (19.5, 13.8 and 4.7 s). Label noise is not the main
cause of the rounds: without it the level still took 16 rounds (20.6 s). Adding each point's
near-tight partners as cuts left the rounds at 16-19. In round 11, 142,836 of 150,878 rows were
within a relative slack of 1.1e-3 of tight, the band of near-active pairs; narrowing it cost more in
rounds than it saved (``keep_slack``).

**The forest method** (``engine="forest"``, :mod:`._forest`, the default where it applies: squared
loss, scalar outputs, positive weights). The same levels and oracle, but each level is solved by an
exact dual active-set method on the forest of tight rows instead of interior-point rounds: no
factorization, each step touches two trees. Measured (CPU seconds, ``time.process_time``, one
process after a warm-up solve; lam = 0.01; load 5-13 on this 2-core machine, shared), against the
interior-point rounds (``engine="ipm"``), both certified, objectives equal to <= 2e-10 relative:
FlatCube(2, 3) ramp(0.5) + 0.1 noise n = 300 / 500 / 1,000 / 2,000 / 8,000 / 20,000 / 50,000:
0.019 / 0.040 / 0.078 / 0.22 / 1.5 / 9.4 / 54 s against 0.032 / 0.058 / 0.15 / 0.49 / 7.5 / 22 s
(50,000: not run); Sphere n = 10,000 0.87 / 2.2 s; FlatCube(3, 3) n = 8,192 0.68 / 1.8 s;
FlatCube(5, 5) n = 8,192 0.67 / 2.1 s; make_friedman1 (d = 10, noise 1) n = 4,000 0.40 / 12.5 s.
Why the active set has to come from a fine-level solve (FlatCube(2, 3), n = 20,000, 19,464 active
pairs at the optimum u*): at u* itself each point's 1 / 2 / 3 / 5 worst partners (the oracle's
lists) hold 48 / 75 / 89 / 98 % of them, but at the coarse level's solution carried to the fine
points (value of the nearest coarse point, or the midpoint of its McShane and Whitney extensions:
mean errors 7.1e-3 and 4.7e-3 against u*, normalized labels) the 3 / 5 / 8 worst hold only 11-21 /
15-27 / 18-33 %: the optimum's structure is set by the noise at the scale of a few point spacings,
which a coarser sample does not see. Tried and not kept: (a) merging all violated rows and splitting
all negative-flow edges at once (no ratio test): after 40 scans (7.2 s) the forest held 24 % of the
active pairs, the values were 1.1e-2 off; (b) starting the fine level from singletons instead of the
coarse forest: 14.8 s against 13.5 s (n = 20,000, fixed L); (c) solving each L to the end before its
Newton step: 4.1 s against 2.9 s (n = 8,000) and 2.3 s against 0.6 s (friedman, 4,000), so L is
updated after every scan; (d) each scan's rows alone, without re-enforcing those of earlier scans
(``keep`` 0): 102 scans and 16 s against 36 scans and 13.5 s (n = 20,000). What limits it: the trees
of the optimum are large in 2-D (n = 20,000: 1,181 trees, the largest of 3,182 points and 142-593
edges deep, a point's tree 1,084 points on average), each step walks the two trees it joins, and
rows are added about 8 times for each edge that stays (155,402 full steps for 18,819 edges: 80M
nodes walked); numbering the points in the oracle tree's order cut 8.98 s to 7.38 s (cache). So the
time grows like n^1.9 in 2-D (20,000 -> 50,000: 9.4 -> 54 s), and FlatCube(2, 3) at 10^5 and 10^6
points stays out of reach; a dynamic-tree structure (link-cut or Euler-tour trees with subtree
minima) would make each step polylogarithmic, and the ratio test then needs the minimum flow per
unit weight over the edges hanging below the row's side of each tree.

**The interior-point rounds' cheap items (issue 26).** The intrinsic dimension is estimated once from
a seeded sample of 2,048 points (:func:`intrinsic_dimension`); from an estimate of 4 on, k_init =
"auto" is 2 and every level is in the fill regime (``keep_slack``), at any size: make_friedman1,
d = 10, n = 4,000: 12.45 -> 0.58 CPU s with k_init 2 (0.59 with the fill values too: the kNN(6)
program filled in, 31.7k rows, 4.4 s an interior-point iteration); FlatCube(5, 5), n = 8,192:
2.07 -> 1.87 s with k_init 2, 1.50 s with the fill values on every level; FlatCube(3, 3), n = 8,192
(estimate about 3: unchanged): k_init 6 / 2 1.85 / 1.81 s. The scale estimate of the subproblems'
objective (``lipschitz_regression``) uses a kNN graph of at most 2,048 points (:func:`sample_knn_pairs`;
on all points it cost 9.4 CPU s at d = 64, n = 16,000 and 4.7 s at d = 10, n = 50,000). A Clarabel
set-up cannot be kept when rows are added: its data updates (``DefaultSolver.update``,
``is_data_update_allowed``; clarabel 0.11.1, src/solver/implementations/default/data_updating.rs)
require the same dimensions and sparsity pattern; measured on one 141,347-row round (FlatCube(2, 3),
n = 20,000): building the arrays 0.016 s, Clarabel's set-up 0.21 s (mostly the KKT ordering), its
iterations 0.72 s.
"""
from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree

from .._pairwise import pair_distances
from .._validation import check_int, check_positive
from ..norms import pnorm
from ._certificate import lipschitz_on_pairs
from ._oracle import TREE_MIN_N, build_tree, scan_pairs
from ._pairs import reference_pairs
from ._result import RawSolution
from ._subproblem import SUBPROBLEMS, direct_supported

__all__ = ["solve_cutting_plane", "knn_pairs", "sample_knn_pairs", "TREE_MIN_N"]



def knn_pairs(X: np.ndarray, k: int, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Unique pairs ``i < j`` of the symmetrized k-nearest-neighbour graph in the p-norm."""
    n = X.shape[0]
    k = min(int(k), n - 1)
    _, nb = cKDTree(X).query(X, k=k + 1, p=p)
    a = np.repeat(np.arange(n, dtype=np.int64), k + 1)
    b = nb.reshape(-1).astype(np.int64)
    keep = a != b
    i, j = np.minimum(a, b)[keep], np.maximum(a, b)[keep]
    key = np.unique(i * n + j)
    return key // n, key % n


def sample_knn_pairs(X: np.ndarray, k: int, p: float, *, size: int = 2048, seed: int = 0):
    """:func:`knn_pairs` of a seeded random sample of at most ``size`` points (all of them when
    n <= size), as pairs of X's rows. For estimates (the slope of the labels that scales the
    subproblems' objective): a kNN graph of all n points cost 9.4 CPU s at n = 16,000 in d = 64
    (make_friedman1), where the KD-tree is no faster than brute force."""
    n = X.shape[0]
    if n <= size:
        return knn_pairs(X, k, p)
    sample = np.sort(np.random.default_rng(seed).choice(n, size, replace=False))
    i, j = knn_pairs(X[sample], k, p)
    return sample[i], sample[j]


def intrinsic_dimension(coarse: np.ndarray, fine: np.ndarray, p: float, *, k: int = 4) -> float:
    r"""Estimate of the intrinsic dimension m of a point set from two nested samples of it.

    The mean distance from a point to its k nearest neighbours, for n points sampled with a density
    on an m-dimensional set, scales as :math:`n^{-1/m}`; with :math:`r_c, r_f` its medians over the
    coarse and the fine set, :math:`\hat m = \log(n_f / n_c) / \log(r_c / r_f)` (an estimate, not a
    bound; inf when the distances do not shrink, as for duplicated points). With k = 4 (k = 1 was
    twice as noisy): on FlatCube(m, 3), 2,048 of 8,192 points, 2.89-2.99 for m = 3 and 1.97-2.02
    for m = 2 over six seeds; from 400 of 1,600 points 2.73-3.10 and 1.91-2.14. Used only to choose
    how a level starts (``transfer``); the solution and its certificate do not depend on it.
    """
    def median_knn(P):
        kk = min(int(k), len(P) - 1)
        return float(np.median(cKDTree(P).query(P, k=kk + 1, p=p)[0][:, 1:].mean(axis=1)))

    rc, rf = median_knn(coarse), median_knn(fine)
    if not (rf > 0 and rc > rf):
        return float("inf")
    return float(np.log(len(fine) / len(coarse)) / np.log(rc / rf))


# From this estimated intrinsic dimension on (from a seeded sample of DIMENSION_SAMPLE points and
# its first quarter; skipped below 4 DIMENSION_SAMPLE_MIN points), every level of the interior-point
# rounds is in the fill regime and k_init = "auto" is HIGH_DIM_K_INIT instead of K_INIT (see
# ``solve_cutting_plane``).
HIGH_DIM = 4.0
DIMENSION_SAMPLE = 2048
DIMENSION_SAMPLE_MIN = 64
K_INIT = 6
HIGH_DIM_K_INIT = 2
# Levels while one has at least coarsen * coarse_min points: coarse_min = "auto" is COARSE_MIN for
# the interior-point rounds and FOREST_COARSE_MIN for the forest method.
COARSE_MIN = 2048
FOREST_COARSE_MIN = 256
# ``transfer="auto"`` inherits pairs unless the next level has at least TRANSFER_FILL_N points of an
# estimated intrinsic dimension of at least TRANSFER_MAX_DIM (see ``solve_cutting_plane``).
TRANSFER_MAX_DIM = 2.5
TRANSFER_FILL_N = 32768
# Per-level values of the options left at "auto": on a level in the fill regime (at least
# TRANSFER_FILL_N points, estimated intrinsic dimension at least TRANSFER_MAX_DIM) and elsewhere.
LEVEL_DEFAULTS = {"keep_slack": 1.0, "per_point": 3, "fine_k": 2}
FILL_SETTINGS = {"keep_slack": 0.1, "per_point": 2, "fine_k": 1}


def _check_auto_options(**options):
    """ValueError naming an option that is neither "auto" nor a number in its range (keep_slack a
    finite real >= 0, per_point an integer >= 1, fine_k an integer >= 0; the checks of
    :mod:`lipconv._validation`, with a message that also offers "auto")."""
    low = {"keep_slack": 0, "per_point": 1, "fine_k": 0}
    for name, value in options.items():
        if isinstance(value, str) and value == "auto":
            continue
        try:
            if name == "keep_slack":
                check_positive(value, name, allow_zero=True)
            else:
                check_int(value, name, minimum=low[name])
        except ValueError:
            kind = "a finite number" if name == "keep_slack" else "an integer"
            raise ValueError(f"{name} must be {kind} >= {low[name]} or 'auto', got {value!r}") from None


def _children_pairs(a, b, owner, m):
    """For coarse pairs (a, b) and the new fine points m, m+1, ... with nearest coarse point
    ``owner``, the fine pairs (p, b) for every p owned by a and (a, p) for every p owned by b."""
    new = np.arange(m, m + len(owner), dtype=np.int64)
    by = np.argsort(owner, kind="stable")
    starts = np.searchsorted(owner[by], np.arange(m + 1))
    count = starts[1:] - starts[:-1]

    def expand(parent, other):
        c = count[parent]
        total = int(c.sum())
        if total == 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        offsets = np.arange(total) - np.repeat(np.cumsum(c) - c, c)
        return new[by[np.repeat(starts[parent], c) + offsets]], np.repeat(other, c)

    pa, pb = expand(a, b)  # (p, b), p owned by a
    qb, qa = expand(b, a)  # (a, q), q owned by b
    return np.concatenate([pa, qa]), np.concatenate([pb, qb])


def _near_active(X, U, L, i, j, p_x, p_y, slack, *, oriented=False):
    """Mask of the pairs whose constraint is within ``slack`` (relative to L d_ij) of being tight;
    ``oriented``: the row ``u_i - u_j <= L d_ij`` of scalar outputs."""
    du = U[i] - U[j]
    nu = du[:, 0] if oriented else pnorm(du, p_y, axis=1)
    return nu >= (1.0 - slack) * L * pair_distances(X, i, j, p=p_x)


def _solve_level(
    X, Y, w, loss, lam, init, *, p_x, p_y, solver, tol, viol_tol, per_point, max_rounds, backend,
    leaf_size, drop, keep_slack, loose, loose_max, bar, label, u0=None, objective_scale=None, subproblem="auto",
    fixed_L=None, oracle="auto", drop_scale=10.0, loose_newton=1,
):
    """The cutting-plane loop on one (normalized) point set. ``init = ((i, j), (ci, cj))``: graph
    pairs (both orientations where cuts are oriented, or the one ``u0`` makes steeper) and pairs
    carried from a coarser level (already oriented). Returns ``values, L, status, keys, weights,
    last, info``: the final pair keys ``a n + b`` with their multiplier sizes (for dropping and
    carrying), and ``last = (i, j, Lam, max_excess)``, the pairs of the last subproblem with its
    pair multipliers (:mod:`._certificate`) and the oracle's exact all-pairs maximum excess at the
    returned (values, L) (None when no scan followed the last solve)."""
    n, k = Y.shape
    if subproblem == "auto":
        subproblem = "clarabel-direct" if direct_supported(loss, k, p_y, solver) else "cvxpy"
    direct = subproblem == "clarabel-direct"
    program = SUBPROBLEMS[subproblem](
        X, Y, w, loss, lam, p_x=p_x, p_y=p_y, solver=solver, tol=tol, objective_scale=objective_scale,
        fixed_L=fixed_L, **({"loose_newton": loose_newton} if direct else {}),
    )
    # Oriented cuts (scalar outputs on the direct path): the pair (a, b) stands for the single row
    # u_a - u_b <= L d_ab, the only one of the two that a violation can make active.
    oriented = direct and k == 1

    def solve_restricted(a, b, round_tol):
        return program.solve(a, b, pair_distances(X, a, b, p=p_x), oriented=oriented, tol=round_tol)

    exact_graph = X.shape[1] == 1
    # The oracle's KD-tree depends on X only: built once per level (scalar outputs; numba).
    if oracle == "auto":  # below this the search is cheap either way and the tree's kernels cost a load
        oracle = "tree" if n >= TREE_MIN_N else "blocks"
    use_tree = oracle == "tree" and k == 1 and not exact_graph and backend in ("auto", "numba")
    tree = build_tree(X, 16) if use_tree else None
    (i, j), (ci, cj) = ((np.asarray(v, dtype=np.int64) for v in pair) for pair in init)
    if oriented:
        # Both orientations of the graph until a solution tells which one can be active, or the one
        # that a coarse estimate u0 (when given) says is steeper; ties keep both.
        if u0 is not None:
            du = u0[i] - u0[j]
            keep_ij, keep_ji = du >= 0, du <= 0
            i, j = np.concatenate([i[keep_ij], j[keep_ji], ci]), np.concatenate([j[keep_ij], i[keep_ji], cj])
        else:
            i, j = np.concatenate([i, j, ci]), np.concatenate([j, i, cj])
    else:
        i, j = np.concatenate([i, ci]), np.concatenate([j, cj])
        i, j = np.minimum(i, j), np.maximum(i, j)
    keep = i != j
    keys = np.unique(i[keep] * n + j[keep])
    i, j = keys // n, keys % n
    info = dict(
        n=int(n), rounds=0, pairs_per_round=[], violation_per_round=[], subproblem_times=[], oracle_time=0.0,
        subproblem_time=0.0, subproblem=subproblem, oriented=oriented,
        backend=backend, dropped=False,
    )
    values, L, status, mult, last = None, None, "not_started", None, (i, j, None, None)
    info["constant"] = False
    dropping = drop is not None and loss.theta > 0
    last_objective, stalls = -np.inf, 0
    # Early rounds only need the relaxed solution to about the size of the violations they expose:
    # solve to round_tol = clip(loose * worst violation, tol, loose_max); the loop never stops on a
    # loose solve (it tightens to tol and re-solves first).
    loose = loose if direct and not exact_graph else 0.0  # cvxpy and exact graphs: always at tol
    round_tol = max(tol, loose_max) if loose else tol
    info["tolerance_per_round"] = []
    info["oracle_times"], info["pruned_per_round"] = [], []
    for _ in range(max_rounds):
        t0 = time.perf_counter()
        values, L_solver, status, mult, Lam = solve_restricted(i, j, round_tol)
        info["tolerance_per_round"].append(round_tol)
        info["subproblem_times"].append(time.perf_counter() - t0)
        info["subproblem_time"] += info["subproblem_times"][-1]
        info["rounds"] += 1
        info["pairs_per_round"].append(int(len(i)))
        if values is None or status not in ("optimal", "optimal_inaccurate"):
            return values, L_solver, status, keys, mult, (i, j, None, None), info
        # The solver's own L can sit far above the tightest L of its pairs when lam is tiny (L then
        # barely moves the objective), and below it by the values' round-off over the shortest
        # pairs (in 1-D, 1e-11 over a spacing of 1e-5 made L 1e-6 too large); the oracle and the
        # returned point use the smaller, whose excess the certificate then measures.
        L = min(L_solver, lipschitz_on_pairs(X, values, i, j, p_x=p_x, p_y=p_y, oriented=oriented))
        if fixed_L is not None:  # the constraints are at fixed_L: test every pair against it
            L = float(fixed_L)
        last = (i, j, Lam, None)
        if fixed_L is None and L <= 1e-9 and np.ptp(values, axis=0).max() <= 1e-6:
            # The relaxed values are constant up to solver noise in normalized units (lam above its
            # critical value). The caller compares with the exact constant and certifies the gap
            # with this solve's multipliers, so they must come from a solve at tol (a loose round's
            # left a gap of 4e-3 on an LP); continuing after that would chase the noise.
            info["violation_per_round"].append(0.0)
            if round_tol > tol:
                round_tol = tol
                continue
            info["constant"] = True
            break
        if exact_graph:
            info["violation_per_round"].append(0.0)
            break
        t0 = time.perf_counter()
        scan = scan_pairs(
            X, values, L, p_x=p_x, p_y=p_y, per_point=per_point, threshold=viol_tol,
            leaf_size=leaf_size, backend=backend, tree=tree, blocks=oracle == "blocks",
        )
        info["oracle_time"] += time.perf_counter() - t0
        info["oracle_times"].append(time.perf_counter() - t0)
        info["pruned_per_round"].append(scan.pruned_fraction)
        info["backend"] = scan.backend
        worst = scan.max_excess  # in normalized label units: the feasibility certificate's measure
        # Exact over all pairs when the tree path ran (it always searches at threshold 0) or when it
        # is above the threshold; else the caller rescans for the certificate.
        last = (i, j, Lam, worst if (tree is not None or worst > viol_tol) else None)
        info["violation_per_round"].append(worst)
        a, b = scan.i, scan.j
        if oriented:  # the violated row is u_a - u_b <= L d with u_a > u_b
            flip = values[a, 0] < values[b, 0]
            a, b = np.where(flip, b, a), np.where(flip, a, b)
        new = a * n + b
        new = new[~np.isin(new, keys)]
        bar.update(1)
        bar.set_postfix(level=label, pairs=len(i), L=f"{L:.6g}", viol=f"{worst:.2e}", new=len(new))
        if len(new) == 0:
            if round_tol <= tol:
                break
            round_tol = tol  # converged on a loose solve: confirm at the target tolerance
            continue
        if loose:
            round_tol = float(np.clip(loose * worst, tol, max(tol, loose_max)))
        objective = float(w @ loss.value(values, Y)) + (0.0 if fixed_L is not None else lam * L)
        # Dropping inactive pairs keeps the relaxed optimum (their multipliers are 0), so the relaxed
        # objective still cannot decrease; with a strictly convex loss the minimizer is unique and the
        # loop cannot cycle. As a guard against solver noise, stop dropping after 3 rounds in a row in
        # which the objective did not increase.
        # A loose cross-entropy round that stopped after ``loose_newton`` steps is not at the relaxed
        # optimum, so its objective says nothing about cycling: only converged rounds are counted.
        if getattr(program, "converged", True):
            stalls = 0 if objective > last_objective * (1.0 + 1e-12) else stalls + 1
            last_objective = max(objective, last_objective)
        dropping = dropping and stalls < 3
        if dropping:
            if mult is not None:
                # Relative to the round's own tolerance: a loose solve leaves inactive multipliers
                # at about its gap, and keeping them all kept 32k rows where 5.5k were active
                # (FlatCube(4, 4), n = 8,192: 27.6 s, 3.3 s with the scaled threshold).
                keep = mult > max(drop, drop_scale * round_tol) * max(float(mult.max(initial=0.0)), np.finfo(float).tiny)
                if keep_slack:
                    # The band is relative to L d, like the old excess / L it was tuned with.
                    keep |= _near_active(X, values, L, i, j, p_x, p_y, keep_slack * worst / max(L, 1e-300), oriented=oriented)
                keys = keys[keep]
            else:
                keys = keys[_near_active(X, values, L, i, j, p_x, p_y, drop)]
        info["dropped"] = dropping
        keys = np.union1d(keys, new)
        i, j = keys // n, keys % n
    else:
        status = "max_rounds"
    return values, L, status, keys, mult, last, info


ENGINES = ("auto", "ipm", "forest")
# The forest method's first L: the labels' slope on the kNN graph of at most this many points.
FOREST_SLOPE_SAMPLE = 2048


def _use_forest(engine, loss, k, w, *, solver, subproblem, oracle, backend, exact_graph) -> bool:
    """Whether the levels are solved by the forest method (``engine``; see :func:`solve_cutting_plane`)."""
    from ._forest import forest_supported

    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if engine == "ipm":
        return False
    supported = forest_supported(loss, k, w)
    if engine == "forest":
        if not supported:
            raise ValueError(f"engine 'forest' needs the squared loss, scalar outputs and positive weights (and "
                             f"numba), got loss {loss.name!r}, k = {k}")
        return True
    return (supported and not exact_graph and solver == "CLARABEL" and subproblem in ("auto", "clarabel-direct")
            and oracle in ("auto", "tree") and backend in ("auto", "numba"))


def _forest_level(X, Y, w, lam, carried, L0, *, p_x, viol_tol, fixed_L, bar, label, per_point, keep, k_init, max_rounds):
    """One level by the forest method (:mod:`._forest`), returned like :func:`_solve_level`: the
    forest's edges as keys ``a n + b`` with their flows as the multiplier sizes, and ``last`` with
    the flows as the pair multipliers and the last scan's exact all-pairs maximum excess. Without
    a coarser level's L, L starts at the labels' slope on the ``k_init``-nearest-neighbour graph."""
    from ._forest import solve_forest

    n = len(Y)
    if L0 is None or not L0 > 0:  # the points are in random order: the first few are a sample
        sample = min(n, FOREST_SLOPE_SAMPLE)
        i, j = knn_pairs(X[:sample], k_init, p_x)
        L0 = lipschitz_on_pairs(X[:sample], Y[:sample], i, j, p_x=p_x, p_y=2.0)
        L0 = L0 if L0 > 0 else 1.0
    t0 = time.perf_counter()
    sol = solve_forest(X, Y[:, 0], w, lam, p_x=p_x, L0=L0, viol_tol=viol_tol, per_point=per_point, keep=keep,
                       init=carried, fixed_L=fixed_L, bar=bar, label=label, scans_per_L=1, max_scans=max_rounds)
    fi = sol.info
    info = dict(
        n=int(n), rounds=fi["scans"], pairs_per_round=fi["pairs_per_round"],
        violation_per_round=fi["violation_per_round"], oracle_time=fi["oracle_time"],
        subproblem_time=fi["process_time"], subproblem_times=[], subproblem="forest", oriented=True, backend="numba",
        dropped=False, constant=False, engine="forest", outer=fi["outer"], L_per_outer=fi["L_per_outer"],
        steps=fi["full_steps"] + fi["partial_steps"] + fi["cycle_steps"], forest_time=time.perf_counter() - t0,
        **{key: fi[key] for key in ("full_steps", "partial_steps", "cycle_steps", "walked", "drops", "sweeps")},
    )
    keys = sol.a * n + sol.b
    last = (sol.a, sol.b, sol.z[:, None], sol.max_excess)
    return sol.values[:, None], sol.L, sol.status, keys, sol.z, last, info


def solve_cutting_plane(
    X, Y, w, loss, lam, *, p_x, p_y, solver, tol, verbose, k_init="auto", per_point="auto", viol_tol=None,
    max_rounds=100, backend="auto", leaf_size=64, drop=1e-6, keep_slack="auto", coarsen=4, coarse_min="auto",
    seed=0, fine_k="auto", loose=1e-2, loose_max=1e-5, objective_scale=None, subproblem="auto", fixed_L=None,
    transfer="auto", oracle="auto", drop_scale=10.0, loose_newton=1, engine="auto", high_dim=HIGH_DIM,
):
    r"""Solve [FCAO] eq. (2.7) (finite form) exactly by cutting planes on the pair constraints.

    Algorithm (module docstring): start from the symmetrized ``k_init``-nearest-neighbour graph in
    the :math:`p_x`-norm (for d = 1 the adjacent pairs, which are exact, and no iteration), solve the
    restricted program, find the violated pairs among ALL pairs with the exact pruned oracle
    :func:`~lipconv.solvers._oracle.scan_pairs`, add each point's ``per_point`` worst violated
    partners not yet in the set, and repeat until none is left above ``viol_tol`` (relative to L, as
    in :func:`~lipconv.solvers.violation_scan`).

    Coarse-to-fine start. Most rounds of a cold start are spent discovering the long pairs that carry
    the global slope (a kNN path is longer than the straight segment, so the first relaxations are
    too steep by the graph's stretch). For n >= ``coarsen * coarse_min`` the points are first put in a
    seeded random order; the problem on the first ``n / coarsen`` of them (with renormalized weights,
    solved the same way, recursively) gives active pairs that are also pairs of the full set, and the
    full problem starts from those plus its kNN graph. This only changes the starting set: the
    stopping rule and the certificate are those of the cold start. Measured on FlatCube(2, 3),
    lam = 0.01: see ``benchmarks/solver_scaling.py``.

    The subproblem (a seam: :data:`lipconv.solvers._subproblem.SUBPROBLEMS`, chosen by
    ``subproblem``). For the squared loss (a QP), the absolute loss (an LP) and the cross-entropy (a
    sequence of QPs, damped Newton), with scalar outputs or :math:`p_y \in \{2, \infty\}`, the
    restricted program is handed to Clarabel directly in its standard form
    (:class:`~lipconv.solvers._subproblem.ClarabelProgram`), without cvxpy: the objective and loss
    rows are built once, the pair rows are appended from arrays each round. For scalar outputs each cut is oriented:
    one row :math:`u_a - u_b \le L d_{ab}` (the side the oracle found violated) instead of two, which
    halves the constraint rows and, at n = 16,384, cut one solve from 5.1 s (46 interior-point
    iterations) to 2.0 s (33). We chose the interior-point solver over a warm-started first-order
    method because the certificate asks for the reference's accuracy (objective to 1e-6 relative):
    measured on n = 10,000 (46k pairs) Clarabel reaches 1e-8 in 3.7 s, OSQP needed 17 s for 1e-5 and
    88 s for 1e-7. An interior-point method gains nothing from a primal warm start, so the warm start
    between rounds is the active set itself: each round re-solves only the active pairs plus the new
    cuts. All other cases (Huber, vector outputs with :math:`p_y = 1`, a solver other than Clarabel)
    use the same loop with the cvxpy program of the reference
    (:func:`~lipconv.solvers._pairs.solve_pair_program`) rebuilt on the active pairs each round:
    exact, only slower.

    Parameters
    ----------
    X : ndarray, shape (n, d)
    Y : ndarray, shape (n, k)
    w : ndarray, shape (n,)
        Weights summing to 1.
    loss : lipconv.losses.Loss
    lam : float
    p_x, p_y : {1.0, 2.0, inf}
    solver : str
        "CLARABEL" uses the direct path where supported; other names go through cvxpy.
    tol : float
        Solver tolerance (gap and feasibility).
    verbose : bool
        A tqdm bar showing level, rounds, pairs, L and the worst violation.
    k_init : int or "auto"
        Neighbours of the initial graph. "auto" (default): 6, and 2 when the estimated intrinsic
        dimension of the points is at least ``high_dim`` (module docstring).
    high_dim : float
        Interior-point rounds: from this estimated intrinsic dimension on (default ``HIGH_DIM`` = 4),
        k_init = "auto" is 2 and every level is in the fill regime (``keep_slack``); inf: never (the
        rule before issue 26).
    per_point : int or "auto"
        Violated pairs added per point and round. "auto" (default): 3, and 2 on a level in the fill
        regime (``keep_slack``).
    viol_tol : float, optional
        Stopping tolerance on the relative violation (default ``max(10 tol, 1e-9)``: the subproblem is
        itself only feasible to about ``tol``).
    max_rounds : int
        Rounds per level.
    drop : float or None
        For strictly convex losses (theta > 0), pairs that are inactive in the last solve are dropped
        before the new cuts are added, which keeps the subproblem near the ~1 active pair per point of
        the optimum. Inactive means a multiplier at most ``drop`` times the largest on the direct path,
        a relative slack above ``drop`` on the cvxpy path. None disables it; it is never used for the
        absolute loss, whose LP optimum may be non-unique.
    keep_slack : float or "auto"
        Direct path: an inactive pair is still kept while its relative slack is at most
        ``keep_slack`` times the round's worst violation (the solution moves by about that much in a
        round, so such a pair would likely come back as a cut). Measured on FlatCube(2, 3) at
        n = 8,192 (coarse-to-fine start in both): 22 rounds on the finest level without the band, 11
        with it. "auto" (default): 1.0, except on a level in the *fill regime*, where the options
        left at "auto" take ``FILL_SETTINGS`` (keep_slack 0.1, per_point 2, fine_k 1) instead of
        ``LEVEL_DEFAULTS`` (1.0, 3, 2). The fill regime: the levels where ``transfer="auto"`` does
        not inherit, those of at least ``TRANSFER_FILL_N`` points whose estimated intrinsic
        dimension is at least ``TRANSFER_MAX_DIM`` (the estimate is made whenever one of these
        options is "auto"; ``info["levels"]`` records each level's values and ``fill``). Why: there
        every row fills in the factorization of every interior-point step, and fewer rows (a
        narrower band, fewer cuts, a sparser local graph) save more than the extra rounds cost.
        Measured (squared loss, lam = 0.01, ramp(0.5) + 0.1 noise, load about 1), whole solves, each
        option set on every level: FlatCube(3, 3) n = 65,536 82.7 s (18 rounds on the finest level)
        with the old values; keep_slack 0.5 72.7 s, 0.25 68.2 s, 0.1 65.9 s (26 rounds), 0.05 with
        per_point 2 69.5 s; with 0.1: per_point 2 61.6 and 63.2 s, 1 67.9 s, 5 80.5 s; fine_k 1 63.3 s,
        0 72.8 s, 4 190 s; fine_k 1 with per_point 2 57.4 s. The rule as built (the fill values on
        the finest level only): 60.1 s, 32 rounds. keep_slack 1.0 / 0.1 on FlatCube(3, 3)
        n = 8,192: 2.52 / 2.54 s (means of 2), n = 32,768 24.1 / 21.0 s (means of 2). In 2-D the
        wide band pays: FlatCube(2, 3) n = 25,000 took 38.8 s (mean of 2) with 1.0, 38.3 s with 0.5
        and 42.6 s with 0.25; per_point 1 there took 42.1 s against 30.8 s (an earlier session's
        baseline), so the rule keeps the defaults below three dimensions.
    coarsen, coarse_min : int, and int or "auto"
        Coarse-to-fine start: levels of n / coarsen^l points while a level has at least
        ``coarsen * coarse_min`` points (``coarsen = 0`` disables it). coarse_min "auto" (default):
        2,048 for the interior-point rounds, 256 for the forest method, whose coarsest level finds
        L (make_friedman1, d = 10, n = 4,000: 0.40 s with 256 against 0.60 s with one level).
    oracle : {"auto", "tree", "blocks"}
        The pair search of scalar outputs ("auto": the tree from ``TREE_MIN_N`` points on): the
        weighted nearest-neighbour descent of a KD-tree
        (:mod:`lipconv._tree`; per point, bound :math:`\min_{node} u + L\,\mathrm{dist}(x, box)`) or
        the symmetric block-pair bound used before (kept selectable for the benchmark). Vector
        outputs always use the blocks.
    drop_scale : float
        Pairs are dropped when their multiplier is at most ``max(drop, drop_scale * round_tol)``
        times the largest (0: ``drop`` alone, as before).
    fine_k : int or "auto"
        Levels after the first also start from their ``fine_k``-nearest-neighbour graph (0: none;
        "auto", the default: 2, and 1 on a level in the fill regime, see ``keep_slack``),
        beside the pairs carried and transferred from the coarser level; its cuts are oriented by
        the coarse solution at the nearest coarse point (ties keep both). Without local pairs a new
        point follows its own label wherever only long carried pairs bind it (FlatCube(2, 2),
        n = 8,192: first violation 0.2, 17 rounds, against 14 rounds and half the time with 2).
    transfer : bool or "auto"
        Each new point of a level inherits the active pairs of its nearest coarse point (a pair
        (a, b) of the coarse level gives (p, b) for every new p nearest to a, and (a, q) for every
        new q nearest to b). "auto" (default): except on a level of at least ``TRANSFER_FILL_N`` =
        32,768 points whose estimated intrinsic dimension (:func:`intrinsic_dimension`, recorded as
        ``dimension_estimate`` in the coarser level's ``info``) is at least ``TRANSFER_MAX_DIM`` =
        2.5. Why: the inherited pairs are long, and in three dimensions long pairs fill in the
        factorization of every interior-point step, which outgrows what the inherited start saves
        from about 32,768 points on. Measured (squared loss, lam = 0.01, ramp(0.5) + 0.1 noise,
        load about 1), with / without the transfer, medians of 3 solves: FlatCube(3, 3) n = 8,192
        1.62 / 1.74 s, n = 16,384 4.89 / 5.62 s, n = 32,768 20.6 / 18.4 s; single solves, time of
        the finest level: FlatCube(3, 3) n = 65,536 100.7 / 71.0 s (its first subproblem: 218k rows
        in 32 s / 145k rows in 2.5 s), FlatCube(2, 3) n = 25,000 26.5 / 31.0 s.
    loose, loose_max : float
        Direct path: each round solves to ``clip(loose * worst violation, tol, loose_max)`` (the first
        to ``loose_max``), without Clarabel's iterative refinement; a converged loose round is
        confirmed by a solve at ``tol`` before the loop stops. ``loose = 0`` solves every round at tol.
    loose_newton : int or None
        Direct path, cross-entropy: damped Newton steps per loose round (None: until converged, as
        before; :meth:`~lipconv.solvers._subproblem.DirectSubproblem._newton`). Measured on
        FlatCube(2, 3), k = 3 one-hot labels from x_1, lam = 0.01, n = 8,192 (load average 1.6):
        None 56.7 s (55 QPs), 1 26.2 s (23 QPs), both certified (``benchmarks/solver_scaling.py
        --vector``). Rounds that stopped after these steps do not count as stalls of ``drop``
        (their objective is not the relaxed optimum); counting them stopped the dropping and left
        42k pairs instead of 11k (64 s).
    objective_scale : float, optional
        Factor on the subproblems' objective (default n for the direct path, 1 for cvxpy).
    subproblem : {"auto", "clarabel-direct", "cvxpy"}
        The subproblem solver; "auto" takes the direct path where it applies.
    fixed_L : float, optional
        Solve the program at this Lipschitz constant instead (no lambda term; ``lam`` ignored).
    engine : {"auto", "ipm", "forest"}
        How each level is solved. "ipm": the interior-point rounds above. "forest": the exact dual
        active-set method on forests of tight rows (:mod:`._forest`), for the squared loss with
        scalar outputs and positive weights (ValueError otherwise); its multipliers are the forest's
        flows, its duality gap at round-off, and a level it cannot finish (status "failed") is
        re-solved by interior-point rounds from its rows (``info["levels"][i]["fallback"]``).
        "auto" (default): "forest" where it applies and the solver is Clarabel with the default
        subproblem, oracle and backend, in d >= 2 (measured faster at every n from 300 on, module
        docstring); else "ipm". ``info["engine"]`` records it; with the forest a level's
        ``rounds`` are its oracle scans, ``steps`` its active-set steps.
    seed : int
        Seed of the random order that defines the coarse levels (recorded in ``info``).
    backend : {"auto", "numba", "numpy", "torch"}
        Oracle backend.
    leaf_size : int
        Oracle block size.

    Returns
    -------
    values : ndarray, shape (n, k)
    L : float
    status : str
        "optimal" on success; "max_rounds" if the loop did not converge; else the solver's status.
    n_pairs : int
        Pairs in the final restricted program.
    info : dict
        For the full level: rounds, pairs_per_round, violation_per_round (relative), oracle_time,
        subproblem_time, subproblem_times, tolerance_per_round, subproblem ("clarabel-direct" or
        "cvxpy"), oriented, backend, dropped (pairs_per_round counts oriented cuts), constant (the
        solution was recognized as constant with L = 0, lam above its critical value), the level's
        keep_slack, per_point and fine_k and whether it was in the fill regime (``fill``); and
        k_init, viol_tol, seed, and ``levels`` (one dict like the above per level, coarsest first)
        with the total time of each.
    """
    from tqdm.auto import tqdm

    n, k = Y.shape
    if not (transfer == "auto" or isinstance(transfer, (bool, np.bool_))):
        raise ValueError(f"transfer must be True, False or 'auto', got {transfer!r}")
    _check_auto_options(keep_slack=keep_slack, per_point=per_point, fine_k=fine_k)
    autos = {"keep_slack": keep_slack, "per_point": per_point, "fine_k": fine_k}
    viol_tol = max(10.0 * tol, 1e-9) if viol_tol is None else float(viol_tol)
    exact_graph = X.shape[1] == 1
    forest = _use_forest(engine, loss, k, w, solver=solver, subproblem=subproblem, oracle=oracle, backend=backend,
                         exact_graph=exact_graph)
    if not (isinstance(k_init, str) and k_init == "auto"):
        check_int(k_init, "k_init", minimum=1)
    off = isinstance(high_dim, float) and high_dim == np.inf  # inf: the rule is off
    high_dim = np.inf if off else check_positive(high_dim, "high_dim")
    if not (isinstance(coarse_min, str) and coarse_min == "auto"):
        check_int(coarse_min, "coarse_min", minimum=1)
    else:
        coarse_min = FOREST_COARSE_MIN if forest else COARSE_MIN
    # The points' intrinsic dimension, estimated once from a seeded sample (interior-point rounds
    # only: the fill regime and k_init = "auto" depend on it).
    high = False
    any_auto = transfer == "auto" or any(isinstance(v, str) for v in autos.values()) or isinstance(k_init, str)
    dimension_first = None
    if any_auto and not forest and not exact_graph and n >= 4 * DIMENSION_SAMPLE_MIN:
        sample = np.random.default_rng(seed).permutation(n)[:DIMENSION_SAMPLE]
        dimension_first = intrinsic_dimension(X[sample[: len(sample) // 4]], X[sample], p_x)
        high = dimension_first >= high_dim
    k_init = (HIGH_DIM_K_INIT if high else K_INIT) if isinstance(k_init, str) else int(k_init)
    sizes = [n]
    while coarsen and coarsen > 1 and not exact_graph and sizes[-1] >= coarsen * coarse_min:
        sizes.append(sizes[-1] // coarsen)
    sizes = sizes[::-1]
    order = np.random.default_rng(seed).permutation(n) if len(sizes) > 1 else np.arange(n)
    opts = dict(
        p_x=p_x, p_y=p_y, solver=solver, tol=tol, viol_tol=viol_tol,
        max_rounds=max_rounds, backend=backend, leaf_size=leaf_size, drop=drop,
        loose=loose, loose_max=loose_max, objective_scale=objective_scale,
        subproblem=subproblem, fixed_L=fixed_L, oracle=oracle, drop_scale=drop_scale, loose_newton=loose_newton,
    )
    levels = []
    bar = tqdm(total=None, disable=not verbose, desc="cutting-plane", leave=False)
    carried = (np.zeros(0, dtype=np.int64),) * 2
    u0 = None
    L_prev = None
    fill = high  # the next level is in the fill regime (see ``transfer`` and ``keep_slack``)
    try:
        for li, m in enumerate(sizes):
            t0 = time.perf_counter()
            idx = order[:m]
            Xl, Yl = X[idx], Y[idx]
            total = w[idx].sum()
            wl = w[idx] / total if total > 0 else np.full(m, 1.0 / m)
            # The options left at "auto" take this level's values (FILL_SETTINGS in the fill regime).
            level = {key: (FILL_SETTINGS if fill and not forest else LEVEL_DEFAULTS)[key] if isinstance(v, str) else v
                     for key, v in autos.items()}
            if forest:
                values, L, status, keys, mult, last, linfo = _forest_level(
                    Xl, Yl, wl, lam, carried, L_prev, p_x=p_x, viol_tol=viol_tol, fixed_L=fixed_L, bar=bar,
                    label=f"{li + 1}/{len(sizes)}", per_point=int(level["per_point"]),
                    keep=float(level["keep_slack"]), k_init=k_init, max_rounds=max_rounds,
                )
            if not forest or status == "failed":
                if forest:  # the forest method failed (round-off): interior-point rounds from its rows
                    init = (knn_pairs(Xl, k_init, p_x), (keys // m, keys % m))
                elif exact_graph:
                    init = (reference_pairs(Xl), carried)
                elif li == 0 or level["fine_k"]:
                    init = (knn_pairs(Xl, k_init if li == 0 else int(level["fine_k"]), p_x), carried)
                else:
                    init = ((np.zeros(0, dtype=np.int64),) * 2, carried)
                values, L, status, keys, mult, last, linfo = _solve_level(
                    Xl, Yl, wl, loss, lam, init, bar=bar, label=f"{li + 1}/{len(sizes)}", u0=u0,
                    keep_slack=float(level["keep_slack"]), per_point=int(level["per_point"]), **opts
                )
                if forest:
                    linfo["fallback"] = "ipm"
            L_prev = L
            linfo["time"] = time.perf_counter() - t0
            linfo.update(level, fill=bool(fill))
            levels.append(linfo)
            final = li == len(sizes) - 1
            if values is None or (status not in ("optimal", "optimal_inaccurate") and (final or status != "max_rounds")):
                break  # a coarse level that ran out of rounds still gives a start; a solver failure does not
            # Level li's points are the first m of the next level's, so its active pairs carry over.
            if mult is None or len(mult) != len(keys):  # cvxpy path, or cuts added after the last solve
                active = keys
            else:
                active = keys[mult > (drop or 0.0) * max(float(mult.max(initial=0.0)), np.finfo(float).tiny)]
            carried = (active // m, active % m)
            if li + 1 < len(sizes) and not forest:  # the forest starts from the coarse forest alone
                nxt = X[order[: sizes[li + 1]]]
                near = cKDTree(Xl).query(nxt[m:], k=1, p=p_x)[1]
                fill = high
                if any_auto and not high and len(nxt) >= TRANSFER_FILL_N:
                    m_hat = intrinsic_dimension(Xl, nxt, p_x)
                    levels[-1]["dimension_estimate"] = m_hat
                    fill = m_hat >= TRANSFER_MAX_DIM
                inherit = (not fill) if transfer == "auto" else transfer
                if inherit:
                    # Each new point inherits the active pairs of its nearest coarse point.
                    ti, tj = _children_pairs(carried[0], carried[1], near, m)
                    carried = (np.concatenate([carried[0], ti]), np.concatenate([carried[1], tj]))
                if values.shape[1] == 1:
                    # Estimate for the next level's points: the value of the nearest point of this level.
                    u0 = np.concatenate([values[:, 0], values[near, 0]])
    finally:
        bar.close()
    info = dict(levels[-1])
    info.update(k_init=int(k_init), viol_tol=viol_tol, seed=seed, levels=levels, engine="forest" if forest else "ipm",
                dimension_first=dimension_first, coarse_min=int(coarse_min))
    # Unordered pairs of the final program (an oriented cut and its reverse count once).
    m = sizes[len(levels) - 1]
    n_pairs = len(np.unique(np.minimum(keys // m, keys % m) * m + np.maximum(keys // m, keys % m)))
    li, lj, Lam, max_excess = last
    if values is not None and len(sizes) > 1:
        if len(levels) == len(sizes):
            out = np.empty_like(values)
            out[order] = values
            values = out
            li, lj = order[li], order[lj]
        else:  # a coarse level failed: report its status, no values for the full set
            values = None
    if status == "optimal_inaccurate":
        status = "inaccurate"
    return RawSolution(values, L, status, li, lj, Lam, n_pairs, info, max_excess, oriented=bool(info.get("oriented")))
