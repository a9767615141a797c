"""numba Gauss-Seidel sweeps of Oberman's local AMLE update (imported lazily by :mod:`._amle`)."""
import numba

__all__ = ["gauss_seidel"]


@numba.njit(cache=True)
def gauss_seidel(u, indptr, indices, lengths, free, sweeps, unit):
    """``sweeps`` in-place sweeps over ``free``: u_i <- the minimizer of max_j |u_j - t| / d_ij.

    With ``unit`` (all d_ij = 1) the minimizer is the mid-range (max_j u_j + min_j u_j) / 2, found in
    O(degree); otherwise the best pair (a, b) of Oberman's formula is searched in O(degree^2).
    """
    for _ in range(sweeps):
        for r in range(free.shape[0]):
            i = free[r]
            s, e = indptr[i], indptr[i + 1]
            if e == s:
                continue
            if unit:
                hi = u[indices[s]]
                lo = hi
                for a in range(s + 1, e):
                    v = u[indices[a]]
                    if v > hi:
                        hi = v
                    elif v < lo:
                        lo = v
                u[i] = 0.5 * (hi + lo)
                continue
            best = -1.0
            t = u[i]
            for a in range(s, e):
                ua, da = u[indices[a]], lengths[a]
                for b in range(s, e):
                    ub, db = u[indices[b]], lengths[b]
                    score = (ua - ub) / (da + db)
                    if score > best:
                        best = score
                        t = (db * ua + da * ub) / (da + db)
            u[i] = t
