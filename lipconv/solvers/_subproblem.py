r"""Subproblem solvers of the cutting plane: the finite program of [FCAO] eq. (2.7) restricted to a
set of pairs, solved to a tolerance, returning values, L and the pair multipliers of the certificate.

The seam (``SUBPROBLEMS``): a subproblem class is built once per point set,

    Sub(X, Y, w, loss, lam, *, p_x, p_y, solver, tol, objective_scale, fixed_L=None)

(``fixed_L``: the program at that Lipschitz constant, without the lambda term)

and ``solve(i, j, d, *, oriented, tol)`` returns ``(U, L, status, weights, Lam)``: the values, the
solver's L, the status ("optimal", "optimal_inaccurate" or a failure), one multiplier size per pair
(used to drop inactive pairs) and the multipliers (P, k) of :mod:`._certificate`, oriented as
:math:`\langle \Lambda_r, u_{i_r} - u_{j_r}\rangle`, in the units of the unscaled objective.

* ``"clarabel-direct"`` (:class:`DirectSubproblem`): the program in Clarabel's standard form built
  from arrays (:class:`ClarabelProgram`), for the squared loss (a QP), the absolute loss (an LP) and
  the cross-entropy (a sequence of QPs, below), every output norm.
* ``"cvxpy"`` (:class:`CvxpySubproblem`): the reference's cvxpy program (:mod:`._pairs`) on the
  pairs, for every loss, norm and solver.

**The cross-entropy without exponential cones.** Seed 000 eq. (4.6) is smooth and, on the simplex,
strongly convex with a diagonal Hessian :math:`H = \mathrm{diag}(w_i (z_{ic} + \epsilon) / (u_{ic} +
\epsilon)^2)`. :class:`DirectSubproblem` minimizes it by damped Newton steps whose direction solves
the program with F replaced by its second-order model at the iterate :math:`u^t`,

.. math:: \min_{\delta, L}\ \nabla F(u^t)^\top \delta + \tfrac12 \delta^\top H \delta + \lambda L
          \quad\text{s.t. the pair constraints on } u^t + \delta,\ u^t + \delta \in \Delta^n,

a QP of the same shape as the squared loss's (the pair constraints and the simplex are imposed
exactly, only the objective is modelled), followed by a backtracking line search on the true
objective between feasible points. It stops when the model predicts a decrease below ``tol`` times
the objective. The last QP's multipliers are those of the true problem at convergence, and the
certificate evaluates them with the exact cross-entropy dual (:meth:`lipconv.losses.Loss.dual_inner`),
so an inexact Newton solve can only show up as a larger gap. Why: Clarabel's exponential-cone
solves through cvxpy stalled ("almost solved", or failed) on 5 of 300 random small cross-entropy
problems at the tolerance the certificate needs, each time with values 1e-5 off; the QPs do not.

The rows :math:`u \ge 0` of the simplex enter the QPs as cuts, only for the entries a QP returned
negative (kept for the later steps). At one-hot labels the optimum keeps most entries at 0 with zero
multipliers (the loss's gradient at the labels is the same in every entry, so the simplex multiplier
cancels it), a degenerate complementarity on which Clarabel stopped with "insufficient progress" on
the fixed-L programs of two trained digits networks (n = 30, k = 10, issue 28); without those rows
the same QPs solved in 11-14 iterations.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ._pairs import RETRY_SETTINGS, solve_pair_program

__all__ = ["ClarabelProgram", "DirectSubproblem", "CvxpySubproblem", "SUBPROBLEMS", "DIRECT_LOSSES", "direct_supported"]

DIRECT_LOSSES = ("squared", "absolute", "cross_entropy")


def direct_supported(loss, k: int, p_y: float, solver: str) -> bool:
    """Whether :class:`DirectSubproblem` handles this loss, output dimension, norm and solver."""
    return solver == "CLARABEL" and loss.name in DIRECT_LOSSES


class ClarabelProgram:
    r"""The restricted program around a base point, in Clarabel's standard form, from arrays.

    Variables ``x = [vec(delta) (row-major, n k), L, t (n k, absolute loss only)]`` with
    :math:`u = u^0 + \delta`; objective :math:`\sigma(g^\top \delta + \frac12 \delta^\top \mathrm{diag}(h)
    \delta + \lambda L)` (plus :math:`\sigma \sum w_i t_i`, :math:`t \ge |\delta|` for the absolute
    loss, whose base point is y). For the squared loss the base point is y, so delta is the
    residual and the objective :math:`\sum_i w_i \|r_i\|^2 + \lambda L` has no constant term: the
    solver's relative gap is relative to J itself. (In u the squared loss carries the constant
    :math:`\sum_i w_i y_i^2`, which at lam = 1e-5 was 1,000 times J and left a relative gap of 4e-5 at
    tol 1e-8.) The base point enters the pair rows' right-hand sides, :math:`u_i - u_j = \delta_i -
    \delta_j + (u^0_i - u^0_j)`; a pair in the output 1-norm (k > 1) gets k auxiliary variables,
    :math:`-\tau \le u_i - u_j \le \tau`, :math:`\sum_c \tau_c \le L d`; ``simplex`` adds
    :math:`\sum_c u_{ic} = 1` (zero cone) and
    :math:`u \ge 0`. The pair rows are rebuilt from the pair arrays each solve (O(pairs), negligible
    next to the factorizations).

    ``objective_scale`` sigma (default n) multiplies the objective;
    :func:`~lipconv.solvers.lipschitz_regression` passes n / J_ref, J_ref an estimate of the
    optimum, so that the scaled objective is about n >= 1. Clarabel stops when the gap is below tol
    absolutely or relative to max(1, |objective|), and normalizes its dual residual by
    max(1, |q| + |x| + |z|): with an objective below 1 both become absolute. Scaled by n alone, the
    optimum at lam = 1e-8 is about 1e-6 and a gap of tol = 1e-8 was 0.3 % of it; scaled to about 1,
    the loose rounds' multipliers were too noisy to drop pairs (FlatCube(3, 3), n = 4,096: 41,656
    rows and 6.4 s instead of 3,330 rows and 1.9 s).
    """

    def __init__(self, n, k, lam, *, p_y, tol, objective_scale=None, absolute=False, simplex=False, fixed_L=None):
        import clarabel

        self.clarabel = clarabel
        self.n, self.k = n, k
        nk = n * k
        self.absolute, self.simplex = bool(absolute), bool(simplex)
        self.nvar = nk + 1 + (nk if self.absolute else 0)
        self.iL = nk
        self.scale = float(n) if objective_scale is None else float(objective_scale)
        self.fixed_L = None if fixed_L is None else float(fixed_L)
        self.lam = 0.0 if fixed_L is not None else float(lam)
        self.soc = k > 1 and p_y == 2.0
        self.l1 = k > 1 and p_y == 1.0
        settings = clarabel.DefaultSettings()
        settings.verbose = False
        settings.tol_gap_abs = settings.tol_gap_rel = settings.tol_feas = tol
        settings.max_iter = 500
        # "auto" picks faer on large problems; measured at n = 32,768 (245k pair rows) faer took 106 s
        # where qdldl took 7.2 s for the same solve.
        settings.direct_solve_method = "qdldl"
        self.settings = settings
        self.tol = float(tol)
        self.base = None

    def set_objective(self, base, *, h=None, g=None, w_abs=None, bounded=None):
        """Base point u^0 (n, k), curvature h and linear term g (n k, of delta), absolute-loss
        weights w_abs (n k, for t); ``bounded`` (bool, n k; None: all) selects the entries that get
        the row u >= 0 of the simplex."""
        n, k, nk = self.n, self.k, self.n * self.k
        self.base = np.ascontiguousarray(base, dtype=float)
        s = self.scale
        q = np.zeros(self.nvar)
        q[self.iL] = self.lam * s
        if g is not None:
            q[:nk] = s * np.asarray(g, dtype=float).reshape(-1)
        diag = np.zeros(self.nvar)
        if h is not None:
            diag[:nk] = s * np.asarray(h, dtype=float).reshape(-1)
        if self.absolute:
            q[nk + 1:] = s * np.asarray(w_abs, dtype=float).reshape(-1)
        self.q = q
        self.P = sp.diags(diag, format="csc")
        zero_A, zero_b, lin_A, lin_b = [], [], [self._unit_row(-1.0)], [np.zeros(1)]
        if self.fixed_L is not None:  # L = fixed_L, a zero-cone row
            zero_A.append(self._unit_row(1.0))
            zero_b.append(np.array([self.fixed_L]))
        if self.absolute:
            I = sp.identity(nk, format="csc")
            T = sp.hstack([sp.csc_matrix((nk, nk + 1)), I], format="csc")
            R = sp.hstack([I, sp.csc_matrix((nk, self.nvar - nk))], format="csc")
            lin_A += [R - T, -R - T]
            lin_b += [np.zeros(2 * nk)]
        if self.simplex:
            rows = np.repeat(np.arange(n), k)
            zero_A.append(sp.csc_matrix((np.ones(nk), (rows, np.arange(nk))), shape=(n, self.nvar)))
            zero_b.append(1.0 - self.base.sum(axis=1))
            sel = np.arange(nk) if bounded is None else np.flatnonzero(bounded)
            lin_A.append(sp.csc_matrix((-np.ones(sel.size), (np.arange(sel.size), sel)), shape=(sel.size, self.nvar)))
            lin_b.append(self.base.reshape(-1)[sel])
        self.n_zero = (n if self.simplex else 0) + (1 if self.fixed_L is not None else 0)
        self.A_fixed = sp.vstack(zero_A + lin_A, format="csc")
        self.b_fixed = np.concatenate(zero_b + lin_b)

    def _unit_row(self, value):
        return sp.csc_matrix(([value], ([0], [self.iL])), shape=(1, self.nvar))

    def _pair_rows(self, i, j, d, oriented):
        """Rows ``(A, b)`` of ``A x + s = b`` for the pairs. Oriented (k = 1): one row
        ``u_i - u_j - d L <= 0`` per pair. Otherwise linear pairs ``+-(u_ic - u_jc) - d L <= 0``
        (2 k rows), SOC blocks ``(d L, u_i - u_j)`` (k + 1 rows), or for the 1-norm rows
        ``+-(u_ic - u_jc) - tau_rc <= 0`` (2 k) and ``sum_c tau_rc - d L <= 0`` (1), tau the columns
        after the program's own. With ``u = u^0 + delta`` the base differences ``du0 = u^0_i - u^0_j``
        go to b."""
        k, P = self.k, len(i)
        du0 = (self.base[i] - self.base[j]).reshape(-1)
        c = np.arange(k)
        ci = (i[:, None] * k + c).reshape(-1)
        cj = (j[:, None] * k + c).reshape(-1)
        if oriented:
            r = np.arange(P)
            rows = np.concatenate([r, r, r])
            cols = np.concatenate([i, j, np.full(P, self.iL)])
            vals = np.concatenate([np.ones(P), -np.ones(P), -d])
            return sp.csc_matrix((vals, (rows, cols)), shape=(P, self.nvar)), -du0
        if self.soc:
            # Block r: row (k+1) r holds -d L (s0 = d L), rows (k+1) r + 1 + c hold -(u_ic - u_jc).
            base = (np.arange(P) * (k + 1))[:, None]
            rc = (base + 1 + c).reshape(-1)
            rows = np.concatenate([base[:, 0], rc, rc])
            cols = np.concatenate([np.full(P, self.iL), ci, cj])
            vals = np.concatenate([-d, -np.ones(P * k), np.ones(P * k)])
            b = np.zeros(P * (k + 1))
            b[rc] = du0
            return sp.csc_matrix((vals, (rows, cols)), shape=(P * (k + 1), self.nvar)), b
        m = P * k
        r = np.arange(m)
        if self.l1:
            tau = self.nvar + r  # tau_rc, row-major like ci
            pr = np.arange(P)
            rows = np.concatenate([r, r, r, m + r, m + r, m + r, 2 * m + np.repeat(pr, k), 2 * m + pr])
            cols = np.concatenate([ci, cj, tau, ci, cj, tau, tau, np.full(P, self.iL)])
            vals = np.concatenate([np.ones(m), -np.ones(m), -np.ones(m), -np.ones(m), np.ones(m), -np.ones(m),
                                   np.ones(m), -d])
            A = sp.csc_matrix((vals, (rows, cols)), shape=(2 * m + P, self.nvar + m))
            return A, np.concatenate([-du0, du0, np.zeros(P)])
        dk = np.repeat(d, k)
        rows = np.concatenate([r, r, r, m + r, m + r, m + r])
        cols = np.concatenate([ci, cj, np.full(m, self.iL), ci, cj, np.full(m, self.iL)])
        vals = np.concatenate([np.ones(m), -np.ones(m), -dk, -np.ones(m), np.ones(m), -dk])
        return sp.csc_matrix((vals, (rows, cols)), shape=(2 * m, self.nvar)), np.concatenate([-du0, du0])

    def solve(self, i, j, d, *, oriented=False, tol=None, feas_tol=None):
        """Solve the program restricted to the pairs; returns ``(U, L, status, weights, Lam)``.

        ``weights`` has one entry per pair, the size of its multiplier (the sum of the duals of its
        rows; for an SOC block its first entry, the dual norm bound), used to drop inactive pairs.
        ``Lam`` (P, k) are the pair multipliers of :mod:`._certificate`, oriented as (i, j): the
        dual z of the oriented row ``u_i - u_j - d L <= 0``; ``z+ - z-`` of the two signed rows;
        ``-z[1:]`` of an SOC block, whose slack is ``(d L, u_i - u_j)``; ``z+ - z-`` of a 1-norm
        pair's signed rows (its size: the dual of ``sum tau <= d L``); all divided by the
        objective scale. ``tol`` overrides the gap and feasibility tolerances for this solve,
        ``feas_tol`` the feasibility tolerance alone."""
        clarabel = self.clarabel
        if tol is not None:
            self.settings.tol_gap_abs = self.settings.tol_gap_rel = float(tol)
            # At the target tolerance also the residuals 100x tighter: the certificate's dual bound
            # needs the L-row of the stationarity, sum_r z_r d_r = lam, to hold (the duals are
            # scaled until it does, and the bound shrinks with them: at tol_feas = 1e-8 an LP's
            # multipliers overpaid lam by 1.3e-6 and the certified gap was 1.3e-6 for a solver gap
            # of 4e-9).
            self.settings.tol_feas = float(tol) * (1e-2 if float(tol) <= self.tol else 1.0)
            # Iterative refinement of the KKT solves only on solves at the target tolerance: a loose
            # round does not need it (measured at n = 32,768, 245k rows: 7.1 s -> 5.5 s, same L to 1e-11).
            self.settings.iterative_refinement_enable = float(tol) <= self.tol
        if feas_tol is not None:
            self.settings.tol_feas = float(feas_tol)
        oriented = bool(oriented) and self.k == 1
        Apair, bpair = self._pair_rows(i, j, d, oriented)
        extra = Apair.shape[1] - self.nvar  # auxiliary tau of the 1-norm pairs
        A_fixed, P_mat, q = self.A_fixed, self.P, self.q
        if extra:
            A_fixed = sp.hstack([A_fixed, sp.csc_matrix((A_fixed.shape[0], extra))], format="csc")
            P_mat = sp.block_diag([P_mat, sp.csc_matrix((extra, extra))], format="csc")
            q = np.concatenate([q, np.zeros(extra)])
        A = sp.vstack([A_fixed, Apair], format="csc")
        b = np.concatenate([self.b_fixed, bpair])
        n_fixed = self.A_fixed.shape[0]
        n_lin = n_fixed - self.n_zero
        cones = [clarabel.ZeroConeT(self.n_zero)] if self.n_zero else []
        if self.soc and not oriented:
            cones += [clarabel.NonnegativeConeT(n_lin)] + [clarabel.SecondOrderConeT(self.k + 1)] * len(i)
        else:
            cones += [clarabel.NonnegativeConeT(n_lin + Apair.shape[0])]
        sol = clarabel.DefaultSolver(P_mat, q, A, b, cones, self.settings).solve()
        if str(sol.status) != "Solved":  # a stall: once more with RETRY_SETTINGS (see _pairs)
            # and iterative refinement, which the loose rounds switch off and RETRY_SETTINGS tunes:
            # without it the primal residual of a cross-entropy QP grew from 1e-5 to 1e-2 as the gap closed.
            default = {key: getattr(self.settings, key) for key in (*RETRY_SETTINGS, "iterative_refinement_enable")}
            for key, value in RETRY_SETTINGS.items():
                setattr(self.settings, key, value)
            self.settings.iterative_refinement_enable = True
            retry = clarabel.DefaultSolver(P_mat, q, A, b, cones, self.settings).solve()
            for key, value in default.items():
                setattr(self.settings, key, value)
            if str(retry.status) == "Solved":
                sol = retry
        status = str(sol.status)
        status = {"Solved": "optimal", "AlmostSolved": "optimal_inaccurate"}.get(status, status.lower())
        x = np.asarray(sol.x, dtype=float)
        if x.size != self.nvar + extra or not np.all(np.isfinite(x)):
            return None, None, status, None, None
        z = np.asarray(sol.z, dtype=float)[n_fixed:] / self.scale  # duals of the unscaled objective
        P, k = len(i), self.k
        if oriented:
            mult, Lam = z, z[:, None]
        elif self.soc:
            blocks = z.reshape(P, k + 1)
            mult, Lam = blocks[:, 0], -blocks[:, 1:]
        elif self.l1:  # |Lambda_rc| = |z+ - z-| <= z+ + z- = the multiplier of sum tau <= d L
            zp, zm = z[: P * k].reshape(P, k), z[P * k: 2 * P * k].reshape(P, k)
            mult, Lam = z[2 * P * k:], zp - zm
        else:
            zp, zm = z[: P * k].reshape(P, k), z[P * k:].reshape(P, k)
            mult, Lam = zp.sum(axis=1) + zm.sum(axis=1), zp - zm
        return self.base + x[: self.n * k].reshape(self.n, k), max(float(x[self.iL]), 0.0), status, mult, Lam


class DirectSubproblem:
    """The ``"clarabel-direct"`` subproblem (module docstring): one program solve for the squared
    and absolute losses, damped Newton steps of QPs for the cross-entropy."""

    def __init__(self, X, Y, w, loss, lam, *, p_x, p_y, solver, tol, objective_scale=None, max_newton=50, fixed_L=None,
                 loose_newton=None):
        n, k = Y.shape
        self.Y, self.w, self.loss, self.tol = Y, w, loss, float(tol)
        self.lam = 0.0 if fixed_L is not None else float(lam)
        self.max_newton = int(max_newton)
        self.loose_newton = None if loose_newton is None else int(loose_newton)
        self.program = ClarabelProgram(
            n, k, lam, p_y=p_y, tol=tol, objective_scale=objective_scale,
            absolute=loss.name == "absolute", simplex=loss.name == "cross_entropy", fixed_L=fixed_L,
        )
        wk = np.repeat(w, k)
        if loss.name == "squared":
            self.program.set_objective(Y, h=2.0 * wk)
        elif loss.name == "absolute":
            self.program.set_objective(Y, w_abs=wk)
        self.iterate = None  # the cross-entropy's last Newton iterate, the next solve's start
        self.bounded = np.zeros(n * k, dtype=bool)  # the cross-entropy's entries with a row u >= 0
        self.converged = True  # whether the last solve is the restricted program's optimum (to its tol)

    def objective(self, U, L) -> float:
        return float(self.w @ self.loss.value(U, self.Y)) + self.lam * float(L)

    def solve(self, i, j, d, *, oriented=False, tol=None):
        if self.loss.name != "cross_entropy":
            return self.program.solve(i, j, d, oriented=oriented, tol=tol)
        return self._newton(i, j, d, oriented=oriented, tol=self.tol if tol is None else float(tol))

    def _newton(self, i, j, d, *, oriented, tol):
        """Damped Newton on the cross-entropy (module docstring). The first step starts from the
        previous solve's point (the labels at first), which may violate the new pairs; the QP's
        point satisfies them, so from the second step on the line search runs between feasible
        points. Stops after a full step of at most ``100 tol`` in every value (labels are
        normalized to the simplex): Newton converges quadratically, so the returned point, the last
        QP's, is that much closer still. (A test on the predicted decrease, <= tol J, stopped with
        values 1.6e-6 off at tol 1e-8, being only a square-root bound on the values.) Also stops when
        the predicted decrease is at round-off (<= 1e-13 J): the QPs' own error then exceeds it and
        the line search cannot tell a better point. At the target tolerance the QPs are solved to a gap
        of tol / 100 (at tol they proposed the same 1.6e-6 step again and again) and a feasibility of
        tol / 100 (at tol / 10^4 they stalled).

        A loose solve (``tol`` above the subproblem's own, an early cutting-plane round) takes at most
        ``loose_newton`` steps (None: as many as at the target tolerance): such a round only has to
        expose the violated pairs, and the next round's first step starts from this iterate, so the
        Newton iteration runs on across rounds instead of converging inside each one; its QPs are
        feasible to the round's tolerance only (at tol / 100 they stalled and were retried).
        ``converged`` tells the caller whether the returned point is the restricted optimum. The
        rounds at the target tolerance, and so the returned point and multipliers, converge as
        before."""
        eps = self.loss.params["eps"]
        a = self.Y + eps
        wcol = self.w[:, None]
        u = self.Y.copy() if self.iterate is None else self.iterate
        loose = tol > self.tol and self.loose_newton is not None
        steps = self.loose_newton if loose else self.max_newton
        qp_tol = 1e-2 * tol if tol <= self.tol else tol
        qp_feas = 1e-2 * tol if not loose else tol
        L = None  # the start's L is unknown (it may be infeasible): take the first step whole
        status, mult, Lam = "not_started", None, None
        self.converged = False
        for _ in range(steps):
            grad = -wcol * a / (u + eps)
            hess = wcol * a / (u + eps) ** 2
            while True:  # the rows u >= 0 as cuts: only on the entries that went negative
                self.program.set_objective(u, h=hess, g=grad, bounded=self.bounded)
                U, L_new, status, mult, Lam = self.program.solve(i, j, d, oriented=oriented, tol=qp_tol,
                                                                 feas_tol=qp_feas)
                if U is None or status not in ("optimal", "optimal_inaccurate"):
                    return U, L_new, status, mult, Lam
                # Entries a hair below 0 are the QPs' rounding of entries at 0 (up to -5e-9 at tol 1e-8
                # on a 1-D one-hot problem, where cutting them added a few rows per solve for 200+
                # solves); the iterate clips them.
                below = (U.reshape(-1) < -10.0 * tol) & ~self.bounded
                if not below.any():
                    break
                self.bounded |= below
            U = np.clip(U, 0.0, None)  # the QP's u >= 0 holds to its tolerance; the loss needs it exactly
            delta = U - u
            alpha, flat = 1.0, False
            if L is not None:
                predicted = float((grad * delta).sum() + 0.5 * (hess * delta * delta).sum()) + self.lam * (L_new - L)
                phi0 = self.objective(u, L)
                flat = -predicted <= 1e-13 * abs(phi0)
                while not flat and alpha > 1e-10 and self.objective(u + alpha * delta, L + alpha * (L_new - L)) > phi0 + 0.25 * alpha * predicted:
                    alpha *= 0.5
            small = float(np.abs(delta).max()) <= 100.0 * tol
            u, L = (U, L_new) if alpha == 1.0 else (u + alpha * delta, L + alpha * (L_new - L))
            if flat or (small and alpha == 1.0):
                self.converged = True
                break
        else:
            if not loose:
                status = "optimal_inaccurate"
        self.iterate = u
        return u, L, status, mult, Lam


class CvxpySubproblem:
    """The ``"cvxpy"`` subproblem: :func:`~lipconv.solvers._pairs.solve_pair_program` on the pairs
    (every loss, norm and cvxpy solver; no loose rounds, no dropping weights)."""

    def __init__(self, X, Y, w, loss, lam, *, p_x, p_y, solver, tol, objective_scale=None, fixed_L=None):
        self.args = (X, Y, w, loss, lam)
        self.opts = dict(p_x=p_x, p_y=p_y, solver=solver, tol=tol, objective_scale=objective_scale, fixed_L=fixed_L)

    def solve(self, i, j, d, *, oriented=False, tol=None):
        values, L, status, Lam = solve_pair_program(*self.args, i, j, **self.opts)
        return values, L, status, None, Lam


SUBPROBLEMS = {"clarabel-direct": DirectSubproblem, "cvxpy": CvxpySubproblem}
