"""numba kernels of the forest method (:mod:`._forest`; imported lazily, compiled once and cached).

State shared by the kernels: oriented edges ``ea[e] -> eb[e]`` (the row u_a - u_b <= L d_e held with
equality) of length ``ed[e]``, ``alive[e]``; per-node adjacency lists (``head``, ``nxt``; slot 2e
belongs to ea[e], 2e + 1 to eb[e]); values ``u``; tree labels ``tid``. Work arrays (one entry per
node): ``order`` (preorder of the walked trees), ``pos`` (position in it), ``parent``, ``pedge``
(edge to the parent), ``psi`` (potential: u = c + L psi on a tree), ``sr`` and ``sw`` (subtree sums
of the residual mass 2 w (y - u) and of w), ``cnt`` (subtree sizes), ``mark`` (visit stamps) and
``stack``.
"""
import numba
import numpy as np

from .._tree_numba import point_distance

__all__ = ["walk", "add_row", "process_rows", "split_negative", "newton_L", "all_flows", "set_all", "spanning"]


@numba.njit(cache=True)
def walk(root, start, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack):
    """Preorder of root's tree into ``order[start:]`` (subtrees are contiguous), with parents and
    the potential psi (psi[root] = 0, psi_a - psi_b = d_e on every edge a -> b). Returns its size."""
    parent[root] = -1
    pedge[root] = -1
    psi[root] = 0.0
    mark[root] = stamp
    stack[0] = root
    sp = 1
    k = start
    while sp > 0:
        sp -= 1
        v = stack[sp]
        order[k] = v
        pos[v] = k
        k += 1
        s = head[v]
        while s >= 0:
            e = s >> 1
            if alive[e]:
                x = eb[e] if ea[e] == v else ea[e]
                if mark[x] != stamp:
                    mark[x] = stamp
                    parent[x] = v
                    pedge[x] = e
                    psi[x] = psi[v] - ed[e] if ea[e] == v else psi[v] + ed[e]
                    stack[sp] = x
                    sp += 1
            s = nxt[s]
    return k - start


@numba.njit(cache=True)
def subtree_sums(start, k, order, parent, w, y, u, sr, sw, cnt):
    """Subtree sums of the residual mass 2 w (y - u), of w and of the node count (reverse preorder)."""
    for q in range(start, start + k):
        v = order[q]
        sr[v] = 2.0 * w[v] * (y[v] - u[v])
        sw[v] = w[v]
        cnt[v] = 1
    for q in range(start + k - 1, start, -1):
        v = order[q]
        p = parent[v]
        sr[p] += sr[v]
        sw[p] += sw[v]
        cnt[p] += cnt[v]


@numba.njit(cache=True)
def set_values(start, k, order, psi, w, y, L, u, pending, tid, label):
    """u = c + L psi on the nodes of order[start:start+k] labelled ``label`` (all if label < 0),
    with c such that sum 2 w (u - y) + pending = 0 (``pending``: the flow leaving the tree through
    a row that is not yet an edge). Returns their weight."""
    W = 0.0
    s = 0.0
    for q in range(start, start + k):
        v = order[q]
        if label < 0 or tid[v] == label:
            W += w[v]
            s += w[v] * (y[v] - L * psi[v])
    c = (s - 0.5 * pending) / W
    for q in range(start, start + k):
        v = order[q]
        if label < 0 or tid[v] == label:
            u[v] = c + L * psi[v]
    return W


@numba.njit(cache=True)
def relabel(start, k, order, tid, label):
    for q in range(start, start + k):
        tid[order[q]] = label


@numba.njit(cache=True)
def add_row(i, j, X, code, w, y, L, u, tid, head, nxt, ea, eb, ed, alive, m, order, pos, parent, pedge, psi,
            sr, sw, cnt, mark, stamp, stack, labels, tol, max_steps, counts):
    """Enforce the row u_i - u_j <= L d_ij by the dual active-set step of Goldfarb and Idnani
    (module docstring of :mod:`._forest`). Returns ``(m, stamp, labels, steps, status)``: status 0
    (not violated), 1 (added as an edge), -1 (no blocking edge on a cycle: cannot happen in exact
    arithmetic), -2 (edge arrays full), -3 (``max_steps`` reached). ``counts`` adds the steps by kind:
    rows found satisfied, full steps, partial steps, cycle steps, and the nodes walked."""
    dij = point_distance(X[i], X, j, code)
    t = 0.0  # flow already sent through the row (i, j) in partial steps
    steps = 0
    while steps < max_steps:
        steps += 1
        viol = u[i] - u[j] - L * dij
        if t == 0.0 and viol <= tol:
            counts[0] += 1
            return m, stamp, labels, steps, 0
        stamp += 1
        if tid[i] == tid[j]:
            counts[3] += 1
            # A cycle: the row's flow returns along the tree path j -> i without moving u; the
            # first path edge whose flow falls to zero leaves, and j's side becomes a tree.
            k = walk(i, 0, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack)
            counts[4] += k
            subtree_sums(0, k, order, parent, w, y, u, sr, sw, cnt)
            best = np.inf
            bv = -1
            x = j
            while x != i:
                e = pedge[x]
                p = parent[x]
                if ea[e] == p:  # oriented p -> x, against the returning flow x -> p: it decreases
                    z = -(sr[x] + t)
                    if z < best:
                        best = z
                        bv = x
                x = p
            if bv < 0:
                return m, stamp, labels, steps, -1
            t += max(best, 0.0)
            alive[pedge[bv]] = False
            labels += 1
            relabel(pos[bv], cnt[bv], order, tid, labels)
            continue
        k1 = walk(i, 0, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack)
        k2 = walk(j, k1, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack)
        counts[4] += k1 + k2
        subtree_sums(0, k1, order, parent, w, y, u, sr, sw, cnt)
        subtree_sums(k1, k2, order, parent, w, y, u, sr, sw, cnt)
        W1 = sw[i]
        W2 = sw[j]
        # Ratio test: as the row's flow grows by s, i's tree moves down by s / (2 W1) and j's up by
        # s / (2 W2); the flow of an edge whose upper end is on the row's side of the tree
        # (i's side in i's tree, j's far side in j's tree) falls by s W_sub / W.
        best = np.inf
        bv = -1
        for q in range(1, k1 + k2):
            v = order[q]
            if q == k1:
                continue  # j, the root of its tree
            upper_child = ea[pedge[v]] == v
            if q < k1 and not upper_child:
                tb = max(-sr[v], 0.0) * W1 / sw[v]
            elif q > k1 and upper_child:
                tb = max(sr[v], 0.0) * W2 / sw[v]
            else:
                continue
            if tb < best:
                best = tb
                bv = v
        full = viol / (0.5 / W1 + 0.5 / W2)
        if full <= best:
            if m >= ea.shape[0]:
                return m, stamp, labels, steps, -2
            ea[m] = i
            eb[m] = j
            ed[m] = dij
            alive[m] = True
            nxt[2 * m] = head[i]
            head[i] = 2 * m
            nxt[2 * m + 1] = head[j]
            head[j] = 2 * m + 1
            m += 1
            # One tree now: j's potentials relative to i (psi_j = -d_ij), values c + L psi, one label.
            labels += 1
            Wm = 0.0
            acc = 0.0
            for q in range(k1 + k2):
                v = order[q]
                if q >= k1:
                    psi[v] -= dij
                tid[v] = labels
                Wm += w[v]
                acc += w[v] * (y[v] - L * psi[v])
            c = acc / Wm
            for q in range(k1 + k2):
                v = order[q]
                u[v] = c + L * psi[v]
            counts[1] += 1
            return m, stamp, labels, steps, 1
        counts[2] += 1
        t += best
        for q in range(k1):
            u[order[q]] -= 0.5 * best / W1
        for q in range(k1, k1 + k2):
            u[order[q]] += 0.5 * best / W2
        alive[pedge[bv]] = False
        labels += 1
        relabel(pos[bv], cnt[bv], order, tid, labels)
    return m, stamp, labels, steps, -3


@numba.njit(cache=True)
def process_rows(I, J, X, code, w, y, L, u, tid, head, nxt, ea, eb, ed, alive, m, order, pos, parent, pedge,
                 psi, sr, sw, cnt, mark, stamp, stack, labels, tol, max_steps, counts):
    """:func:`add_row` for each pair (I[r], J[r]) in turn, oriented by the current values.
    Returns ``(m, stamp, labels, steps, added, failures)``."""
    steps = 0
    added = 0
    failures = 0
    for r in range(I.shape[0]):
        i, j = I[r], J[r]
        if u[i] < u[j]:
            i, j = j, i
        m, stamp, labels, s, status = add_row(i, j, X, code, w, y, L, u, tid, head, nxt, ea, eb, ed, alive, m,
                                              order, pos, parent, pedge, psi, sr, sw, cnt, mark, stamp, stack,
                                              labels, tol, max_steps, counts)
        steps += s
        if status == 1:
            added += 1
        elif status < 0:
            failures += 1
            if status == -2:
                break
    return m, stamp, labels, steps, added, failures


@numba.njit(cache=True)
def set_all(roots, w, y, L, u, tid, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp,
            stack, labels):
    """Values c + L psi of every tree (one root per tree in ``roots``), each tree relabelled."""
    for r in roots:
        stamp += 1
        k = walk(r, 0, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack)
        labels += 1
        relabel(0, k, order, tid, labels)
        set_values(0, k, order, psi, w, y, L, u, 0.0, tid, -1)
    return stamp, labels


@numba.njit(cache=True)
def split_negative(roots, w, y, L, u, tid, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, sr, sw,
                   cnt, mark, stamp, stack, labels, eps):
    """Restore dual feasibility: in every tree, drop the edge of most negative flow (below -eps)
    and re-solve both parts, until no tree has one. Returns ``(stamp, labels, drops)``."""
    drops = 0
    todo = np.empty(roots.shape[0] + 2 * ea.shape[0], dtype=np.int64)
    top = 0
    for r in roots:
        todo[top] = r
        top += 1
    while top > 0:
        top -= 1
        r = todo[top]
        stamp += 1
        k = walk(r, 0, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack)
        subtree_sums(0, k, order, parent, w, y, u, sr, sw, cnt)
        worst = -eps
        bv = -1
        for q in range(1, k):
            v = order[q]
            z = sr[v] if ea[pedge[v]] == v else -sr[v]
            if z < worst:
                worst = z
                bv = v
        if bv < 0:
            continue
        alive[pedge[bv]] = False
        drops += 1
        labels += 1
        relabel(pos[bv], cnt[bv], order, tid, labels)
        set_values(pos[bv], cnt[bv], order, psi, w, y, L, u, 0.0, tid, -1)
        set_values(0, k, order, psi, w, y, L, u, 0.0, tid, tid[r])
        todo[top] = r
        todo[top + 1] = bv
        top += 2
    return stamp, labels, drops


@numba.njit(cache=True)
def all_flows(roots, w, y, u, head, nxt, ea, eb, ed, alive, m, order, pos, parent, pedge, psi, sr, sw, cnt, mark,
              stamp, stack):
    """Flow (multiplier) of every alive edge, from the subtree sums of its tree; dead edges get 0."""
    z = np.zeros(m)
    for r in roots:
        stamp += 1
        k = walk(r, 0, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack)
        subtree_sums(0, k, order, parent, w, y, u, sr, sw, cnt)
        for q in range(1, k):
            v = order[q]
            e = pedge[v]
            z[e] = sr[v] if ea[e] == v else -sr[v]
    return z, stamp


@numba.njit(cache=True)
def newton_L(roots, w, y, lam, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack):
    """The L minimizing sum w (u - y)^2 + lam L when every edge is held with equality (u = c_T +
    L psi on each tree T): (sum w (y - ybar)(psi - psibar) - lam / 2) / sum w (psi - psibar)^2,
    bars the weighted means per tree. Returns (L, stamp); L is nan when no tree has an edge."""
    num = 0.0
    den = 0.0
    for r in roots:
        stamp += 1
        k = walk(r, 0, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack)
        if k < 2:
            continue
        W = 0.0
        yb = 0.0
        pb = 0.0
        for q in range(k):
            v = order[q]
            W += w[v]
            yb += w[v] * y[v]
            pb += w[v] * psi[v]
        yb /= W
        pb /= W
        for q in range(k):
            v = order[q]
            num += w[v] * (y[v] - yb) * (psi[v] - pb)
            den += w[v] * (psi[v] - pb) ** 2
    if den <= 0.0:
        return np.nan, stamp
    return (num - 0.5 * lam) / den, stamp


@numba.njit(cache=True)
def spanning(n, head, nxt, ea, eb, ed, alive, m, order, pos, parent, pedge, psi, mark, stamp, stack):
    """One walk over all trees: one root per tree, and the edges of a spanning forest (each walk's
    parent edges; an edge closing a cycle is not among them). Returns (roots, used, stamp)."""
    stamp += 1
    roots = np.empty(n, dtype=np.int64)
    used = np.zeros(m, dtype=np.bool_)
    nr = 0
    for r in range(n):
        if mark[r] == stamp:
            continue
        roots[nr] = r
        nr += 1
        k = walk(r, 0, head, nxt, ea, eb, ed, alive, order, pos, parent, pedge, psi, mark, stamp, stack)
        for q in range(1, k):
            used[pedge[order[q]]] = True
    return roots[:nr], used, stamp


@numba.njit(cache=True)
def enforce(I, J, ki, kj, kd, X, code, w, y, L, u, tid, head, nxt, ea, eb, ed, alive, m, order, pos, parent, pedge,
            psi, sr, sw, cnt, mark, stamp, stack, labels, tol, max_steps, max_sweeps, counts):
    """:func:`process_rows` on the scan's rows (I, J), then sweeps over the kept rows (ki, kj) of
    length kd: the violated ones, worst first, until none is violated or ``max_sweeps``.
    Returns ``(m, stamp, labels, failures, sweeps)``; stops early when the edge arrays are full
    (failure -2 counted, the caller grows them and calls again)."""
    m, stamp, labels, _, _, failures = process_rows(I, J, X, code, w, y, L, u, tid, head, nxt, ea, eb, ed, alive, m,
                                                    order, pos, parent, pedge, psi, sr, sw, cnt, mark, stamp, stack,
                                                    labels, tol, max_steps, counts)
    sweeps = 0
    excess = np.empty(ki.shape[0])
    while sweeps < max_sweeps and failures == 0:
        nbad = 0
        for r in range(ki.shape[0]):
            e = abs(u[ki[r]] - u[kj[r]]) - L * kd[r]
            excess[r] = e
            if e > tol:
                nbad += 1
        if nbad == 0:
            break
        sweeps += 1
        bad = np.empty(nbad, dtype=np.int64)
        q = 0
        for r in range(ki.shape[0]):
            if excess[r] > tol:
                bad[q] = r
                q += 1
        bad = bad[np.argsort(-excess[bad])]
        m, stamp, labels, _, _, f = process_rows(ki[bad], kj[bad], X, code, w, y, L, u, tid, head, nxt, ea, eb, ed,
                                                 alive, m, order, pos, parent, pedge, psi, sr, sw, cnt, mark, stamp,
                                                 stack, labels, tol, max_steps, counts)
        failures += f
    return m, stamp, labels, failures, sweeps
