"""numba kernels of the package's KD-tree (:mod:`lipconv._tree`): boxes, per-node minima, distances,
and the additively weighted nearest-neighbour query; imported lazily, compiled once and cached."""
import numba
import numpy as np

__all__ = ["accumulate", "finish", "box_distance", "point_distance", "tree_boxes", "tree_umin", "weighted_nearest_kernel"]


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


@numba.njit(cache=True, fastmath=False, inline="always")
def box_distance(x, lo, hi, node, code):
    """Distance in the p-norm (code) from point x to the box of ``node``, from coordinate gaps
    computed with the same monotone operations as point differences (so it never exceeds the
    distance to a point of the box in floating point)."""
    acc = 0.0
    for c in range(x.shape[0]):
        g = 0.0
        if x[c] < lo[node, c]:
            g = lo[node, c] - x[c]
        elif x[c] > hi[node, c]:
            g = x[c] - hi[node, c]
        if code == 1:
            acc += g * g
        elif code == 0:
            acc += g
        elif g > acc:
            acc = g
    return np.sqrt(acc) if code == 1 else acc


@numba.njit(cache=True, fastmath=False, inline="always")
def point_distance(x, Xs, j, code):
    """||x - Xs[j]|| in the p-norm (code 0: l1, 1: l2, 2: linf), loops specialized per norm."""
    acc = 0.0
    if code == 1:
        for c in range(x.shape[0]):
            t = x[c] - Xs[j, c]
            acc += t * t
        return np.sqrt(acc)
    if code == 0:
        for c in range(x.shape[0]):
            acc += abs(x[c] - Xs[j, c])
        return acc
    for c in range(x.shape[0]):
        t = abs(x[c] - Xs[j, c])
        if t > acc:
            acc = t
    return acc


@numba.njit(cache=True, fastmath=False, inline="always")
def push_pair(stack, bounds, sp, a, ba, b, bb):
    """Push the children a, b of a node with their lower bounds ba, bb, the smaller on top (popped
    first: best-first descent); returns the new stack size (unchanged when the stack is full)."""
    if sp + 2 > stack.shape[0]:
        return sp
    if ba <= bb:
        stack[sp], bounds[sp] = b, bb
        stack[sp + 1], bounds[sp + 1] = a, ba
    else:
        stack[sp], bounds[sp] = a, ba
        stack[sp + 1], bounds[sp + 1] = b, bb
    return sp + 2


@numba.njit(cache=True, fastmath=False)
def tree_boxes(Xs, start, end, left, right, lo, hi):
    """Bounding boxes of every node (children stored after their parent)."""
    for node in range(start.shape[0] - 1, -1, -1):
        if left[node] < 0:
            for c in range(Xs.shape[1]):
                a, b = np.inf, -np.inf
                for j in range(start[node], end[node]):
                    if Xs[j, c] < a:
                        a = Xs[j, c]
                    if Xs[j, c] > b:
                        b = Xs[j, c]
                lo[node, c], hi[node, c] = a, b
        else:
            for c in range(Xs.shape[1]):
                lo[node, c] = min(lo[left[node], c], lo[right[node], c])
                hi[node, c] = max(hi[left[node], c], hi[right[node], c])



@numba.njit(cache=True, fastmath=False)
def tree_umin(u, start, end, left, right, umin):
    """Minimum of u over every node of the tree (children stored after their parent)."""
    for node in range(start.shape[0] - 1, -1, -1):
        if left[node] < 0:
            v = np.inf
            for j in range(start[node], end[node]):
                if u[j] < v:
                    v = u[j]
            umin[node] = v
        else:
            umin[node] = min(umin[left[node]], umin[right[node]])


@numba.njit(parallel=True, cache=True, fastmath=False)
def weighted_nearest_kernel(Xs, u, lo, hi, start, end, left, right, umin, L, cx, Xq, out, arg):
    """out[q] = min_j (u_j + L ||Xq[q] - Xs[j]||) over the tree's points and arg[q] its j (tree
    order), by a best-first descent pruned with umin(node) + L dist(x, box(node))."""
    depth_max = 128
    nq = Xq.shape[0]
    chunk = 256
    for ch in numba.prange((nq + chunk - 1) // chunk):
        stack = np.empty(depth_max, dtype=np.int64)
        bounds = np.empty(depth_max)
        for q in range(ch * chunk, min(nq, (ch + 1) * chunk)):
            x = Xq[q]
            stack[0] = 0
            bounds[0] = umin[0] + L * box_distance(x, lo, hi, 0, cx)
            sp = 1
            best = np.inf
            best_j = -1
            while sp > 0:
                sp -= 1
                node = stack[sp]
                if bounds[sp] >= best:
                    continue
                if left[node] < 0:
                    for j in range(start[node], end[node]):
                        v = u[j] + L * point_distance(x, Xs, j, cx)
                        if v < best:
                            best = v
                            best_j = j
                else:
                    a, b = left[node], right[node]
                    ba = umin[a] + L * box_distance(x, lo, hi, a, cx)
                    bb = umin[b] + L * box_distance(x, lo, hi, b, cx)
                    sp = push_pair(stack, bounds, sp, a, ba, b, bb)
            out[q] = best
            arg[q] = best_j
