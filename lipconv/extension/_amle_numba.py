r"""numba kernels of the graph AMLE (imported lazily by :mod:`._amle`).

The local problem at node i with neighbour values :math:`v_j` and edge lengths :math:`d_j` is

.. math:: \min_t \max_j |v_j - t| / d_j, \qquad
          \lambda^* = \max_{a, b} \frac{v_a - v_b}{d_a + d_b}, \qquad
          t^* = \frac{d_b v_a + d_a v_b}{d_a + d_b} \ \text{for a maximizing pair } (a, b)

(Oberman 2005). ``MODES``: 0 = unit lengths (the mid-range, O(degree)); 1 = Dinkelbach's iteration on
the ratio (O(degree) per pass, a few passes; after ``3 + log2(degree)`` passes it hands over to the
sorted-hull solve, so O(degree log degree) in the worst case); 2 = the exhaustive pair search,
O(degree^2), kept as the reference it is checked against.
"""
import numba
import numpy as np

__all__ = ["MODES", "csr_from_edges", "reached_from", "gauss_seidel", "residual", "fractional_pair", "hull_pair", "exhaustive_pair"]

MODES = {"unit": 0, "dinkelbach": 1, "pairs": 2}


@numba.njit(cache=True)
def _t(u, indices, lengths, ia, ib):
    da, db = lengths[ia], lengths[ib]
    return (db * u[indices[ia]] + da * u[indices[ib]]) / (da + db)


@numba.njit(cache=True)
def exhaustive_pair(u, indices, lengths, s, e):
    """The maximizing pair by search over all neighbour pairs, O(degree^2); returns (t, a, b)."""
    best = -1.0
    ia = ib = s
    for a in range(s, e):
        ua, da = u[indices[a]], lengths[a]
        for b in range(s, e):
            score = (ua - u[indices[b]]) / (da + lengths[b])
            if score > best:
                best, ia, ib = score, a, b
    return _t(u, indices, lengths, ia, ib), ia, ib


@numba.njit(cache=True)
def hull_pair(u, indices, lengths, s, e):
    r"""The maximizing pair in O(degree log degree): sort by length, then walk two hulls.

    With :math:`P_j = (d_j, v_j)` and :math:`Q_j = (-d_j, v_j)`, :math:`\lambda^*` is the largest slope
    from a point of Q to a point of P: an edge between the lower hull of Q and the upper hull of P.
    Equivalently, :math:`A(\lambda) = \max_j (v_j - \lambda d_j)` (upper hull of P) and
    :math:`B(\lambda) = \min_j (v_j + \lambda d_j)` (lower hull of Q) cross at :math:`\lambda^*`; the walk
    lowers :math:`\lambda` from :math:`+\infty` through the hulls' breakpoints until the active lines cross.
    """
    order = s + np.argsort(lengths[s:e])
    m = e - s
    hp = np.empty(m, np.int64)  # upper hull of P, left to right (length ascending)
    hq = np.empty(m, np.int64)  # lower hull of Q, left to right (length descending)
    npp = 0
    for r in range(m):
        j = order[r]
        x, y = lengths[j], u[indices[j]]
        if npp > 0 and lengths[hp[npp - 1]] == x:
            if u[indices[hp[npp - 1]]] >= y:
                continue
            npp -= 1
        while npp >= 2:
            a, b = hp[npp - 2], hp[npp - 1]
            ax, ay, bx, by = lengths[a], u[indices[a]], lengths[b], u[indices[b]]
            if (bx - ax) * (y - ay) - (by - ay) * (x - ax) >= 0.0:
                npp -= 1
            else:
                break
        hp[npp] = j
        npp += 1
    nq = 0
    for r in range(m - 1, -1, -1):
        j = order[r]
        x, y = -lengths[j], u[indices[j]]
        if nq > 0 and -lengths[hq[nq - 1]] == x:
            if u[indices[hq[nq - 1]]] <= y:
                continue
            nq -= 1
        while nq >= 2:
            a, b = hq[nq - 2], hq[nq - 1]
            ax, ay, bx, by = -lengths[a], u[indices[a]], -lengths[b], u[indices[b]]
            if (bx - ax) * (y - ay) - (by - ay) * (x - ax) <= 0.0:
                nq -= 1
            else:
                break
        hq[nq] = j
        nq += 1
    # At lambda = +inf both envelopes are attained by the shortest edge: P's first, Q's last vertex.
    k, q = 0, nq - 1
    while True:
        a, b = hp[k], hq[q]
        va, vb, da, db = u[indices[a]], u[indices[b]], lengths[a], lengths[b]
        lam = (va - vb) / (da + db)
        next_p = -np.inf
        if k + 1 < npp:
            c = hp[k + 1]
            next_p = (u[indices[c]] - va) / (lengths[c] - da)
        next_q = -np.inf
        if q >= 1:
            c = hq[q - 1]
            next_q = (vb - u[indices[c]]) / (lengths[c] - db)
        if lam >= max(next_p, next_q):
            return _t(u, indices, lengths, a, b), a, b
        if next_p >= next_q:
            k += 1
        else:
            q -= 1


@numba.njit(cache=True)
def fractional_pair(u, indices, lengths, s, e, max_passes):
    r"""The maximizing pair by Dinkelbach's iteration; returns (t, a, b).

    Each pass finds :math:`a = \arg\max_j (v_j - \lambda d_j)`, :math:`b = \arg\min_j (v_j + \lambda d_j)`
    in O(degree) and raises :math:`\lambda` to their ratio, a Newton step on the convex decreasing
    :math:`\max_j (v_j - \lambda d_j) - \min_j (v_j + \lambda d_j)`; it stops exactly at
    :math:`\lambda^*` when no pair beats it. After ``max_passes`` passes (never reached in the
    benchmarks) it calls :func:`hull_pair`.
    """
    lam = 0.0
    for _ in range(max_passes):
        hi, lo = -np.inf, np.inf
        ia = ib = s
        for j in range(s, e):
            v, d = u[indices[j]], lengths[j]
            if v - lam * d > hi:
                hi, ia = v - lam * d, j
            if v + lam * d < lo:
                lo, ib = v + lam * d, j
        ratio = (u[indices[ia]] - u[indices[ib]]) / (lengths[ia] + lengths[ib])
        if not ratio > lam:
            return _t(u, indices, lengths, ia, ib), ia, ib
        lam = ratio
    return hull_pair(u, indices, lengths, s, e)


@numba.njit(cache=True, fastmath=True)
def _midrange_sweeps(u, indptr, indices, free, sweeps, stop, omega):
    """Up to ``sweeps`` unit-length sweeps, u_i <- u_i + omega ((max_j u_j + min_j u_j) / 2 - u_i)
    (over-relaxed Gauss-Seidel when omega > 1: same fixed points), ending after the first
    whose largest |Delta_inf u_i| at its visit (twice the change of u_i) is <= ``stop``; returns
    (sweeps done, that largest value, the same of the sweep before: inf after one sweep). fastmath lets LLVM vectorize the max/min reduction (0.19
    against 0.24 ms a sweep at n = 2,000; graphlearning's C 0.17); max and min are exact in any order
    and the values are finite (validated), so the iterates are unchanged."""
    prev = est = np.inf
    for done in range(1, sweeps + 1):
        prev, est = est, 0.0
        for r in range(free.shape[0]):
            i = free[r]
            s, e = indptr[i], indptr[i + 1]
            if e == s:
                continue
            hi = lo = u[indices[s]]
            for j in range(s + 1, e):
                hi = max(hi, u[indices[j]])
                lo = min(lo, u[indices[j]])
            est = max(est, abs(hi + lo - 2.0 * u[i]))
            u[i] += omega * (0.5 * (hi + lo) - u[i])
        if est <= stop:
            return done, est, prev
    return sweeps, est, prev


@numba.njit(cache=True, fastmath=True)
def _midrange_pairs(u, indptr, indices, free, pair_a, pair_b, omega):
    """One unit-length sweep that also stores each node's (argmax, argmin) neighbour; returns the
    largest |Delta_inf u_i| at the visits. The extremes are found by the vectorized reduction and then
    located by a scan that stops at them: 1.6x (n = 2,000) and 1.3x (n = 4,096) faster than tracking the
    indices in one branchy loop."""
    est = 0.0
    for r in range(free.shape[0]):
        i = free[r]
        s, e = indptr[i], indptr[i + 1]
        if e == s:
            pair_a[r] = pair_b[r] = -1
            continue
        hi = lo = u[indices[s]]
        for j in range(s + 1, e):
            hi = max(hi, u[indices[j]])
            lo = min(lo, u[indices[j]])
        ia = ib = s
        while ia < e - 1 and u[indices[ia]] != hi:
            ia += 1
        while ib < e - 1 and u[indices[ib]] != lo:
            ib += 1
        pair_a[r], pair_b[r] = ia, ib
        est = max(est, abs(hi + lo - 2.0 * u[i]))
        u[i] += omega * (0.5 * (hi + lo) - u[i])
    return est


@numba.njit(cache=True)
def gauss_seidel(u, indptr, indices, lengths, free, sweeps, mode, pair_a, pair_b, stop, omega):
    r"""Up to ``sweeps`` in-place sweeps over ``free``: u_i <- the local minimizer t* (module docstring).

    Returns (sweeps done, estimate, previous estimate): the estimate is the largest
    :math:`|\Delta_\infty u_i|` of the last sweep, each taken at the node's visit,
    :math:`(1/d_a + 1/d_b) |t^* - u_i|`; the previous one is that of the sweep before (inf after one
    sweep). The sweeps end early once it is <= ``stop`` (the caller then computes the true residual). The last sweep stores
    each node's maximizing pair (edge positions; -1 at a node without neighbours) in ``pair_a``,
    ``pair_b`` (with unit lengths, unless the sweeps ended early): the Newton step of :mod:`._amle`
    solves with them fixed. ``omega``: the over-relaxation of the unit-length sweeps (1: none;
    the other modes ignore it).
    """
    if mode == 0:  # all but the last sweep without recording the pairs
        done, est, prev = _midrange_sweeps(u, indptr, indices, free, sweeps - 1, stop, omega)
        if est > stop:
            prev, est = est, _midrange_pairs(u, indptr, indices, free, pair_a, pair_b, omega)
            done += 1
        return done, est, prev
    done, prev, est = 0, np.inf, np.inf
    for _ in range(sweeps):
        done += 1
        prev, est = est, 0.0
        for r in range(free.shape[0]):
            i = free[r]
            s, e = indptr[i], indptr[i + 1]
            if e == s:
                pair_a[r] = pair_b[r] = -1
                continue
            if mode == 1:
                t, ia, ib = fractional_pair(u, indices, lengths, s, e, 3 + int(np.log2(e - s)))
            else:
                t, ia, ib = exhaustive_pair(u, indices, lengths, s, e)
            est = max(est, (1.0 / lengths[ia] + 1.0 / lengths[ib]) * abs(t - u[i]))
            pair_a[r], pair_b[r] = ia, ib
            u[i] = t
        if est <= stop:
            break
    return done, est, prev


@numba.njit(cache=True)
def residual(u, indptr, indices, lengths, free, unit):
    r""":math:`\max_{i \in free} |\max_j (u_j - u_i)/d_{ij} + \min_j (u_j - u_i)/d_{ij}|` (d = 1 if ``unit``)."""
    out = 0.0
    for r in range(free.shape[0]):
        i = free[r]
        s, e = indptr[i], indptr[i + 1]
        if e == s:
            continue
        hi, lo = -np.inf, np.inf
        for j in range(s, e):
            x = u[indices[j]] - u[i]
            if not unit:
                x = x / lengths[j]
            hi = max(hi, x)
            lo = min(lo, x)
        out = max(out, abs(hi + lo))
    return out


@numba.njit(cache=True)
def csr_from_edges(X, a, b, p):
    """CSR ``(indptr, indices, lengths)`` of the symmetric graph with undirected edges a[e] -- b[e],
    lengths in the p-norm (p in {1, 2, inf}); zero-length edges are dropped.

    A counting scatter, O(n + edges): a sort of the 2 x edges row indices cost 3x more at n = 4,096.
    """
    n, m = X.shape[0], a.shape[0]
    length = np.empty(m)
    indptr = np.zeros(n + 1, dtype=np.int64)
    for e in range(m):
        s = 0.0
        for c in range(X.shape[1]):
            t = abs(X[a[e], c] - X[b[e], c])
            if p == 1.0:
                s += t
            elif p == 2.0:
                s += t * t
            else:
                s = max(s, t)
        length[e] = np.sqrt(s) if p == 2.0 else s
        if length[e] > 0.0:
            indptr[a[e] + 1] += 1
            indptr[b[e] + 1] += 1
    for i in range(n):
        indptr[i + 1] += indptr[i]
    fill = indptr[:-1].copy()
    indices = np.empty(indptr[n], dtype=np.int64)
    lengths = np.empty(indptr[n])
    for e in range(m):
        if length[e] > 0.0:
            indices[fill[a[e]]], lengths[fill[a[e]]] = b[e], length[e]
            fill[a[e]] += 1
            indices[fill[b[e]]], lengths[fill[b[e]]] = a[e], length[e]
            fill[b[e]] += 1
    return indptr, indices, lengths


@numba.njit(cache=True)
def reached_from(indptr, indices, sources):
    """Boolean mask of the nodes with a path to one of ``sources`` (breadth-first search)."""
    n = indptr.shape[0] - 1
    seen = np.zeros(n, dtype=np.bool_)
    queue = np.empty(n, dtype=np.int64)
    tail = 0
    for s in sources:
        if not seen[s]:
            seen[s] = True
            queue[tail] = s
            tail += 1
    head = 0
    while head < tail < n:  # once every node is reached, the rest of the queue adds nothing
        i = queue[head]
        head += 1
        for q in range(indptr[i], indptr[i + 1]):  # an index loop: slicing cost 10x (n = 2,000)
            j = indices[q]
            if not seen[j]:
                seen[j] = True
                queue[tail] = j
                tail += 1
    return seen
