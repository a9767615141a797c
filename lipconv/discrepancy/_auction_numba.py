"""numba kernels of the transport auction (:mod:`lipconv.discrepancy._semidiscrete`): the two best
sites of a point under additive prices, the Gauss-Seidel auction with capacities, and an exact
check of its optimality conditions; imported lazily, compiled once and cached.

The search walks the package's KD-tree (:mod:`lipconv._tree`) as its weighted nearest-neighbour query
does, keeping the two best sites instead of one.

State shared by the kernels: site j (tree order) holds ``caps[j]`` slots with prices
``slot_price[j, :caps[j]]`` kept ascending and holders ``slot_holder[j, :caps[j]]`` (-1 for a free
slot); its price is its cheapest slot's, ``slot_price[j, 0]``; ``assign[k]`` is point k's site or -1.
"""
import numba
import numpy as np

from .._tree_numba import box_distance, point_distance, push_pair, tree_umin

__all__ = ["two_best", "two_best_listed", "auction", "check", "settle"]

_L2 = 1  # norm code of lipconv._tree_numba: Euclidean


@numba.njit(cache=True, fastmath=False)
def two_best(x, Xs, u, lo, hi, start, end, left, right, umin, stack, bounds):
    """The smallest and second smallest u_j + ||x - Xs[j]|| over the tree's points and their j (tree
    order; -1 and inf when there is no second point), by a best-first descent pruned with
    umin(node) + dist(x, box(node)) against the second best."""
    stack[0] = 0
    bounds[0] = umin[0] + box_distance(x, lo, hi, 0, _L2)
    sp = 1
    b1, j1, b2, j2 = np.inf, -1, np.inf, -1
    while sp > 0:
        sp -= 1
        node = stack[sp]
        if bounds[sp] >= b2:
            continue
        if left[node] < 0:
            for j in range(start[node], end[node]):
                v = u[j] + point_distance(x, Xs, j, _L2)
                if v < b1:
                    b2, j2 = b1, j1
                    b1, j1 = v, j
                elif v < b2:
                    b2, j2 = v, j
        else:
            a, b = left[node], right[node]
            ba = umin[a] + box_distance(x, lo, hi, a, _L2)
            bb = umin[b] + box_distance(x, lo, hi, b, _L2)
            sp = push_pair(stack, bounds, sp, a, ba, b, bb)
    return b1, j1, b2, j2


@numba.njit(cache=True, fastmath=False)
def two_best_listed(sites, costs, u):
    """two_best over one point's candidate sites only (costs: their distances)."""
    b1, j1, b2, j2 = np.inf, -1, np.inf, -1
    for r in range(sites.shape[0]):
        j = sites[r]
        v = u[j] + costs[r]
        if v < b1:
            b2, j2 = b1, j1
            b1, j1 = v, j
        elif v < b2:
            b2, j2 = v, j
    return b1, j1, b2, j2


@numba.njit(cache=True, fastmath=False)
def _refresh_path(j, u, leaf_of, parent, start, end, left, right, umin):
    """Restore umin on the path from the leaf of point j to the root after u[j] changed."""
    node = leaf_of[j]
    v = np.inf
    for t in range(start[node], end[node]):
        if u[t] < v:
            v = u[t]
    umin[node] = v
    node = parent[node]
    while node >= 0:
        v = min(umin[left[node]], umin[right[node]])
        if v == umin[node]:
            break
        umin[node] = v
        node = parent[node]


@numba.njit(cache=True, fastmath=False)
def _slot_of(k, j, slot_holder):
    slot = 0
    while slot_holder[j, slot] != k:
        slot += 1
    return slot


@numba.njit(cache=True, fastmath=False)
def _keep(k, j, limit, slot_price, slot_holder):
    """Lower point k's slot price at site j to ``limit`` (never below the site's price) and restore the
    ascending order. Called when k's site is within eps of its best, limit = best + eps - cost: the
    point then stays within eps of its best however the site's price rises (it rises to at most the
    price of k's slot before k is evicted); without it a slot bought dear in an earlier phase would
    fail the check while its holder is well placed."""
    r = _slot_of(k, j, slot_holder)
    if slot_price[j, r] <= limit:
        return
    price = max(limit, slot_price[j, 0])
    while r > 0 and slot_price[j, r - 1] > price:
        slot_price[j, r] = slot_price[j, r - 1]
        slot_holder[j, r] = slot_holder[j, r - 1]
        r -= 1
    slot_price[j, r] = price
    slot_holder[j, r] = k


@numba.njit(cache=True, fastmath=False)
def auction(Y, Xs, lo, hi, start, end, left, right, leaf_of, parent, caps, slot_price, slot_holder, assign,
            eps_list, max_bids, cand, cand_cost):
    """Gauss-Seidel auction (Bertsekas) for the transportation problem: points Y (one unit each),
    sites Xs (tree order) with integer capacities caps summing to len(Y), cost ||y - x||.

    A free point bids for its best site j1 the price at which it would be indifferent to its best
    other site, plus eps, and takes j1's cheapest slot (whose holder becomes free). Prices only rise
    within a phase, each bid by at least eps, so every phase ends. At the start of each phase
    (eps_list, decreasing) a point whose site is more than eps worse than its best site under the
    current prices is freed (the others keep their slot, see :func:`_keep`). On return every point
    holds a slot and ||y_k - x_j|| + P_j <= min_l (||y_k - x_l|| + P_l) + eps for its site j (eps
    the last): the plan's cost is within eps per unit mass of the dual value of the prices P.

    With candidate lists (``cand``, shape (N, C), C > 0: sites in tree order, ``cand_cost`` their
    distances) every search is over a point's own list instead of the tree: the auction of the
    problem restricted to those pairs, about 20x cheaper per bid. It may not finish (a site in too
    few lists), hence ``max_bids``; its conditions hold for the listed sites only (see :func:`check`).

    Returns the number of bids, or -1 when ``max_bids`` was reached.
    """
    listed = cand.shape[1] > 0
    n = Xs.shape[0]
    N = Y.shape[0]
    u = np.empty(n)
    umin = np.empty(start.shape[0])
    stack = np.empty(128, dtype=np.int64)
    bounds = np.empty(128)
    queue = np.empty(N, dtype=np.int64)
    bids = 0
    for phase in range(eps_list.shape[0]):
        eps = eps_list[phase]
        for j in range(n):
            u[j] = slot_price[j, 0]
        tree_umin(u, start, end, left, right, umin)
        count = 0
        for k in range(N):
            j = assign[k]
            if j >= 0:
                if listed:
                    b1, _, _, _ = two_best_listed(cand[k], cand_cost[k], u)
                else:
                    b1, _, _, _ = two_best(Y[k], Xs, u, lo, hi, start, end, left, right, umin, stack, bounds)
                c = point_distance(Y[k], Xs, j, _L2)
                if c + u[j] <= b1 + eps:
                    _keep(k, j, b1 + eps - c, slot_price, slot_holder)
                    continue
                slot_holder[j, _slot_of(k, j, slot_holder)] = -1
                assign[k] = -1
            queue[count] = k
            count += 1
        head = 0
        tail = count % N
        while count > 0:
            if bids >= max_bids:
                return -1
            k = queue[head]
            head = (head + 1) % N
            count -= 1
            if listed:
                b1, j1, b2, j2 = two_best_listed(cand[k], cand_cost[k], u)
            else:
                b1, j1, b2, j2 = two_best(Y[k], Xs, u, lo, hi, start, end, left, right, umin, stack, bounds)
            bids += 1
            cost1 = b1 - u[j1]
            bid = (b2 - cost1 if j2 >= 0 else u[j1]) + eps
            old = slot_holder[j1, 0]
            if old >= 0:
                assign[old] = -1
                queue[tail] = old
                tail = (tail + 1) % N
                count += 1
            r = 0
            while r + 1 < caps[j1] and slot_price[j1, r + 1] < bid:
                slot_price[j1, r] = slot_price[j1, r + 1]
                slot_holder[j1, r] = slot_holder[j1, r + 1]
                r += 1
            slot_price[j1, r] = bid
            slot_holder[j1, r] = k
            assign[k] = j1
            if u[j1] != slot_price[j1, 0]:
                u[j1] = slot_price[j1, 0]
                if not listed:
                    _refresh_path(j1, u, leaf_of, parent, start, end, left, right, umin)
    return bids


@numba.njit(parallel=True, cache=True, fastmath=False)
def check(Y, Xs, lo, hi, start, end, left, right, slot_price, assign, eps, best, second, limit):
    """The auction's optimality condition checked against every site, read-only and parallel.

    For every point k: its two best sites under the site prices (``best``, ``second``, tree order)
    and ``limit[k]`` = best value + eps - its own cost. Returns the mask of the points that are free
    or whose site is more than eps worse than their best.
    """
    n = Xs.shape[0]
    N = Y.shape[0]
    u = np.empty(n)
    for j in range(n):
        u[j] = slot_price[j, 0]
    umin = np.empty(start.shape[0])
    tree_umin(u, start, end, left, right, umin)
    bad = np.zeros(N, dtype=np.bool_)
    chunk = 256
    for ch in numba.prange((N + chunk - 1) // chunk):
        stack = np.empty(128, dtype=np.int64)
        bounds = np.empty(128)
        for k in range(ch * chunk, min(N, (ch + 1) * chunk)):
            b1, j1, _, j2 = two_best(Y[k], Xs, u, lo, hi, start, end, left, right, umin, stack, bounds)
            best[k] = j1
            second[k] = j2
            j = assign[k]
            if j < 0:
                bad[k] = True
                continue
            c = point_distance(Y[k], Xs, j, _L2)
            limit[k] = b1 + eps - c
            bad[k] = c + u[j] > b1 + eps
    return bad


@numba.njit(cache=True, fastmath=False)
def settle(bad, limit, best, second, cand, cand_cost, Y, Xs, slot_price, slot_holder, assign):
    """After :func:`check`: free the flagged points and put their two best sites into their candidate
    lists (in place of the farthest entries), so that the next listed pass reaches them; lower the
    slot prices of the others as :func:`_keep` does."""
    for k in range(Y.shape[0]):
        j = assign[k]
        if not bad[k]:
            _keep(k, j, limit[k], slot_price, slot_holder)
            continue
        if j >= 0:
            slot_holder[j, _slot_of(k, j, slot_holder)] = -1
            assign[k] = -1
        for t in range(2):
            s = best[k] if t == 0 else second[k]
            if s < 0:
                continue
            present = False
            far = 0
            for r in range(cand.shape[1]):
                if cand[k, r] == s:
                    present = True
                if cand_cost[k, r] > cand_cost[k, far]:
                    far = r
            if not present:
                cand[k, far] = s
                cand_cost[k, far] = point_distance(Y[k], Xs, s, _L2)
