"""numba kernels of the pair oracle (imported lazily by :mod:`._oracle`; compiled once and cached)."""
import numba
import numpy as np

__all__ = ["scan_kernel"]


@numba.njit(cache=True, fastmath=False)
def accumulate(acc, t, code):
    """One coordinate |t| of a norm: code 0 (l1) adds t, 1 (l2) adds t^2, 2 (linf) keeps the max."""
    if code == 0:
        return acc + t
    if code == 1:
        return acc + t * t
    return t if t > acc else acc


@numba.njit(cache=True, fastmath=False)
def finish(acc, code):
    return np.sqrt(acc) if code == 1 else acc


@numba.njit(cache=True, fastmath=False)
def norm_diff(A, i, B, j, code):
    acc = 0.0
    for c in range(A.shape[1]):
        acc = accumulate(acc, abs(A[i, c] - B[j, c]), code)
    return finish(acc, code)


@numba.njit(cache=True, fastmath=False)
def box_bound(a, b, xlo, xhi, ulo, uhi, L, cx, cy):
    """Upper bound of the excess over blocks a, b: span norm of the U boxes minus L times the gap
    norm of the X boxes (module docstring of :mod:`._oracle`)."""
    g = 0.0
    for c in range(xlo.shape[1]):
        g = accumulate(g, max(0.0, max(xlo[b, c] - xhi[a, c], xlo[a, c] - xhi[b, c])), cx)
    s = 0.0
    for c in range(ulo.shape[1]):
        s = accumulate(s, max(uhi[b, c] - ulo[a, c], uhi[a, c] - ulo[b, c]), cy)
    return finish(s, cy) - L * finish(g, cx)


@numba.njit(cache=True, fastmath=False)
def insert(best_val, best_idx, i, v, j):
    m = best_val.shape[1]
    if v <= best_val[i, m - 1]:
        return
    r = m - 1
    while r > 0 and best_val[i, r - 1] < v:
        best_val[i, r] = best_val[i, r - 1]
        best_idx[i, r] = best_idx[i, r - 1]
        r -= 1
    best_val[i, r] = v
    best_idx[i, r] = j


@numba.njit(cache=True, fastmath=False)
def scan_kernel(Xs, Us, starts, xlo, xhi, ulo, uhi, L, cx, cy, threshold, m, best_val, best_idx):
    nb = starts.shape[0] - 1
    worst = 0.0
    pruned = 0
    for a in range(nb):
        for b in range(a, nb):
            tau = threshold if m > 0 else max(threshold, worst)
            if box_bound(a, b, xlo, xhi, ulo, uhi, L, cx, cy) <= tau:
                pruned += 1
                continue
            for i in range(starts[a], starts[a + 1]):
                j0 = i + 1 if a == b else starts[b]
                for j in range(j0, starts[b + 1]):
                    e = norm_diff(Us, i, Us, j, cy) - L * norm_diff(Xs, i, Xs, j, cx)
                    if e > worst:
                        worst = e
                    if m > 0 and e > threshold:
                        insert(best_val, best_idx, i, e, j)
                        insert(best_val, best_idx, j, e, i)
    return worst, pruned
