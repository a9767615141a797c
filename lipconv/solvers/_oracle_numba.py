"""numba kernels of the pair oracle (imported lazily by :mod:`._oracle`; compiled once and cached)."""
import numba
import numpy as np

from .._tree_numba import accumulate, box_distance, finish, point_distance

__all__ = ["scan_kernel", "weighted_nn_kernel"]


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


@numba.njit(parallel=True, cache=True, fastmath=False)
def weighted_nn_kernel(Xs, u, lo, hi, start, end, left, right, umin, L, cx, threshold, m, margin,
                       vmin, vidx, evals, best_val, best_idx):
    """For every point i (tree order): vmin[i] = min_j (u_j + L d_ij) over the points j != i with
    u_j + L d_ij < u_i - threshold (its arg min in vidx; inf and -1 if none), and its m smallest such
    values and indices, by a best-first descent of the KD-tree pruned with the lower bound
    umin(node) + L dist(x_i, box(node)) (module docstring of :mod:`._oracle`). ``margin`` widens
    the pruning test by a few ulps of the numbers involved so that no pair is lost to round-off.
    Points are processed in chunks, one stack per chunk (an allocation per point cost more than
    the search in 2-D); a node's bound is computed once, when it is pushed."""
    n = Xs.shape[0]
    depth_max = 128
    chunk = 256
    n_chunks = (n + chunk - 1) // chunk
    for ch in numba.prange(n_chunks):
        stack = np.empty(depth_max, dtype=np.int64)
        bounds = np.empty(depth_max)
        for i in range(ch * chunk, min(n, (ch + 1) * chunk)):
            x = Xs[i]
            limit = u[i] - threshold
            cut = limit + margin  # prune only nodes whose bound is above the limit even with margin
            stack[0] = 0
            bounds[0] = umin[0] + L * box_distance(x, lo, hi, 0, cx)
            sp = 1
            best = np.inf
            arg = -1
            count = 0
            while sp > 0:
                sp -= 1
                node = stack[sp]
                kth = (-best_val[i, m - 1] if m > 0 else best) + margin  # lists hold -v, largest first
                if bounds[sp] >= cut or bounds[sp] >= kth:
                    continue
                if left[node] < 0:
                    count += end[node] - start[node]
                    for j in range(start[node], end[node]):
                        if j == i:
                            continue
                        v = u[j] + L * point_distance(x, Xs, j, cx)
                        if v < best:
                            best = v
                            arg = j
                        if m > 0 and v < limit:
                            insert(best_val, best_idx, i, -v, j)
                else:
                    a, b = left[node], right[node]
                    ba = umin[a] + L * box_distance(x, lo, hi, a, cx)
                    bb = umin[b] + L * box_distance(x, lo, hi, b, cx)
                    if sp + 2 > depth_max:
                        continue  # cannot happen for trees of depth < 64
                    if ba <= bb:  # the nearer (smaller bound) child is popped first
                        stack[sp], bounds[sp] = b, bb
                        stack[sp + 1], bounds[sp + 1] = a, ba
                    else:
                        stack[sp], bounds[sp] = a, ba
                        stack[sp + 1], bounds[sp + 1] = b, bb
                    sp += 2
            vmin[i] = best
            vidx[i] = arg
            evals[i] = count