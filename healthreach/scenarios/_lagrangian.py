"""Maximal covering on aggregated demand: greedy, swap search, Lagrangian bounds, reduced MIP.

The model works on *groups*: demand points with identical candidate sets, weighted by their summed
population (persons). ``cover`` is a CSR matrix (groups x candidates) whose stored entries mark the
candidates within the band of each group. Only *free* candidates (not fixed by the caller) appear;
groups already served by fixed sites have been removed by the caller.

The Lagrangian relaxation dualises ``y_g <= sum_j a_gj x_j``: for multipliers ``lam`` in [0, w] the
relaxed problem separates into ``y_g = [w_g > lam_g]`` and the ``k`` candidates with the largest
positive ``c_j = sum_g a_gj lam_g``; its value is an upper bound on covered persons and the chosen
candidates are a feasible solution of the original problem. Bounds kept for every candidate with
``x_j`` forced to 1 (or 0) over all iterations let us prove that most candidates cannot be part of
(or must be part of) any solution better than the incumbent; HiGHS then searches what is left.
"""
from __future__ import annotations

import heapq
import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from healthreach.scenarios._milp import run_milp

logger = logging.getLogger(__name__)

_MAX_ITERATIONS = 3000
_STALL_ITERATIONS = 15
_MIN_STEP = 1e-4
# Shares of the time limit: subgradient until 30 %, local search until 50 %, HiGHS gets the rest.
_LAGRANGIAN_SHARE = 0.3
_SEARCH_SHARE = 0.5


@dataclass(frozen=True)
class CoverResult:
    """Outcome on the aggregated model (persons are summed group weights)."""

    chosen: np.ndarray
    """Chosen free candidate indices, sorted."""
    value: float
    """Persons covered by ``chosen`` (groups of the model only)."""
    bound: float
    """Proven upper bound on persons any ``k`` free candidates can cover."""
    mip_status: str
    """'not_needed', or the status HiGHS gave on the reduced model."""


def covered_value(cover: sp.csr_matrix, weight: np.ndarray, chosen: np.ndarray) -> float:
    """Persons in groups that have at least one chosen candidate."""
    x = np.zeros(cover.shape[1])
    x[chosen] = 1.0
    return float(weight[(cover @ x) > 0.5].sum())


def greedy_cover(cover: sp.csr_matrix, cover_t: sp.csr_matrix, weight: np.ndarray, k: int) -> np.ndarray:
    """Lazy greedy: add the candidate covering the most uncovered persons, ``k`` times at most.

    Coverage gain only shrinks as sites are added (submodularity), so a stale gain in the heap is an
    upper bound and a candidate whose refreshed gain still tops the heap is the true best.
    """
    gains = cover_t @ weight
    heap = [(-g, j) for j, g in enumerate(gains) if g > 0]
    heapq.heapify(heap)
    covered = np.zeros(cover.shape[0], dtype=bool)
    chosen: list[int] = []
    while heap and len(chosen) < k:
        _, j = heapq.heappop(heap)
        rows = cover_t.indices[cover_t.indptr[j] : cover_t.indptr[j + 1]]
        gain = float(weight[rows[~covered[rows]]].sum())
        if gain <= 0:
            continue
        if heap and gain < -heap[0][0]:
            heapq.heappush(heap, (-gain, j))
            continue
        chosen.append(j)
        covered[rows] = True
    return np.sort(np.asarray(chosen, dtype=np.int64))


def swap_search(
    cover: sp.csr_matrix,
    cover_t: sp.csr_matrix,
    weight: np.ndarray,
    chosen: np.ndarray,
    allowed: np.ndarray,
    deadline: float,
) -> np.ndarray:
    """Best-improvement swaps (one chosen site out, one allowed candidate in) until none helps."""
    chosen = np.sort(np.asarray(chosen, dtype=np.int64))
    if chosen.size == 0:
        return chosen
    tol = 1e-9 * (1.0 + float(weight.sum()))
    while time.perf_counter() < deadline:
        x = np.zeros(cover.shape[1])
        x[chosen] = 1.0
        count = cover @ x
        gain = cover_t @ np.where(count < 0.5, weight, 0.0)
        single = np.flatnonzero(np.abs(count - 1.0) < 0.5)
        sub = cover[:, chosen].tocsr()
        owner = sub.indices[sub.indptr[single]]
        loss = np.bincount(owner, weights=weight[single], minlength=chosen.size)
        regain = sp.csr_matrix(
            (weight[single], (owner, single)), shape=(chosen.size, cover.shape[0])
        ) @ cover
        delta = regain.toarray() + gain[None, :] - loss[:, None]
        delta[:, ~allowed] = -math.inf
        delta[:, chosen] = -math.inf
        out, into = np.unravel_index(int(np.argmax(delta)), delta.shape)
        if delta[out, into] <= tol:
            break
        chosen = np.sort(np.append(np.delete(chosen, out), into))
    return chosen


def ruin_and_recreate(
    cover: sp.csr_matrix,
    cover_t: sp.csr_matrix,
    weight: np.ndarray,
    chosen: np.ndarray,
    allowed: np.ndarray,
    deadline: float,
    *,
    target: float = math.inf,
    seed: int = 0,
    max_rounds: int = 200,
) -> np.ndarray:
    """Iterated local search: drop a few random sites, refill greedily (without the dropped ones),
    run swaps, keep the result if it covers more persons; stop once ``target`` persons are covered,
    after ``max_rounds`` rounds without improvement, or at ``deadline`` (``time.perf_counter()``)."""
    rng = np.random.default_rng(seed)
    best = np.sort(np.asarray(chosen, dtype=np.int64))
    if best.size < 2:
        return best
    best_value = covered_value(cover, weight, best)
    n_drop = max(2, best.size // 10)
    idle = 0
    while idle < max_rounds and best_value < target and time.perf_counter() < deadline:
        idle += 1
        drop = rng.choice(best.size, size=min(n_drop, best.size), replace=False)
        trial = np.delete(best, drop)
        barred = ~allowed.copy()
        barred[best] = True
        x = np.zeros(cover.shape[1])
        x[trial] = 1.0
        count = cover @ x
        for _ in range(drop.size):
            gain = cover_t @ np.where(count < 0.5, weight, 0.0)
            gain[barred] = -1.0
            j = int(np.argmax(gain))
            if gain[j] <= 0:
                break
            trial = np.append(trial, j)
            barred[j] = True
            count += cover[:, [j]].toarray().ravel()
        trial = swap_search(cover, cover_t, weight, trial, allowed, deadline)
        value = covered_value(cover, weight, trial)
        if value > best_value:
            best, best_value, idle = trial, value, 0
    return best


def _top(c: np.ndarray, k: int) -> tuple[np.ndarray, float, float]:
    """Indices of the ``k`` largest positive entries, the smallest of them if ``k`` were taken
    (else 0), and the next positive value below them (else 0)."""
    n = c.size
    if k >= n:
        top = np.flatnonzero(c > 0)
        return top, 0.0, 0.0
    part = np.argpartition(-c, k)
    top = part[:k]
    top = top[c[top] > 0]
    last = float(c[top].min()) if top.size == k else 0.0
    nxt = max(float(c[part[k]]), 0.0)
    return top, last, nxt


def _beats(bound: np.ndarray | float, lb: float, integral: bool) -> np.ndarray | bool:
    """Whether a solution with value within ``bound`` could strictly improve on ``lb`` persons."""
    tol = 1e-9 * max(1.0, abs(lb))
    if integral:
        return np.asarray(bound) + tol >= lb + 1.0
    return np.asarray(bound) > lb + tol


def solve_max_cover(
    cover: sp.csr_matrix,
    weight: np.ndarray,
    k: int,
    allowed: np.ndarray,
    start: np.ndarray,
    *,
    integral: bool,
    time_limit_s: float,
    mip_gap: float,
) -> CoverResult:
    """Choose at most ``k`` allowed candidates maximising covered persons.

    ``start`` is a feasible solution (e.g. greedy); ``integral`` says weights are whole persons, which
    lets bounds be rounded down; ``time_limit_s`` is wall-clock seconds for the whole search.
    """
    t0 = time.perf_counter()
    deadline = t0 + time_limit_s
    cover = cover.tocsr()
    cover_t = cover.T.tocsr()
    allowed_idx = np.flatnonzero(allowed)
    if k <= 0 or allowed_idx.size == 0:
        return CoverResult(np.zeros(0, dtype=np.int64), 0.0, 0.0, "not_needed")
    if k >= allowed_idx.size:
        value = covered_value(cover, weight, allowed_idx)
        return CoverResult(allowed_idx, value, value, "not_needed")

    best = swap_search(cover, cover_t, weight, start, allowed, deadline)
    lb = covered_value(cover, weight, best)
    logger.info("max cover: start %.0f, after swaps %.0f persons", covered_value(cover, weight, start), lb)

    def closed(ub: float) -> bool:
        # Relative to the incumbent, as HiGHS measures its gap against the primal value.
        return not bool(_beats(ub, lb, integral)) or (ub - lb) <= mip_gap * lb

    lam_deadline = t0 + _LAGRANGIAN_SHARE * time_limit_s
    c_mask = np.where(allowed, 0.0, -math.inf)
    x0 = np.zeros(cover.shape[1])
    x0[best] = 1.0
    # Start from the incumbent's shares: each covered group's weight split among its chosen sites.
    count0 = cover @ x0
    lam = np.where(count0 > 0.5, weight / np.maximum(count0, 1.0), 0.5 * weight)
    best_ub = float(weight.sum())  # covering everyone is the trivial bound
    best_lagrangian = math.inf
    min_in = np.full(cover.shape[1], math.inf)
    min_out = np.full(cover.shape[1], math.inf)
    step, stall, iteration = 2.0, 0, 0
    while iteration < _MAX_ITERATIONS and step > _MIN_STEP and time.perf_counter() < lam_deadline:
        iteration += 1
        y = weight > lam
        c = cover_t @ lam + c_mask
        top, last, nxt = _top(c, k)
        ub = float(np.where(y, weight - lam, 0.0).sum() + c[top].sum())
        in_top = np.zeros(c.size, dtype=bool)
        in_top[top] = True
        np.minimum(min_in, np.where(in_top, ub, ub + c - last), out=min_in)
        np.minimum(min_out, np.where(in_top, ub - c + nxt, ub), out=min_out)
        best_ub = min(best_ub, ub)
        # Progress is judged against the best Lagrangian value, not the trivial bound: the relaxation
        # starts far above everyone and must be given the steps to come down below it.
        if ub < best_lagrangian - 1e-12 * max(1.0, ub):
            best_lagrangian, stall = ub, 0
        else:
            stall += 1
            if stall >= _STALL_ITERATIONS:
                step, stall = step / 2, 0
        x = np.zeros(cover.shape[1])
        x[top] = 1.0
        count = cover @ x
        value = float(weight[count > 0.5].sum())
        if value > lb or (iteration % 25 == 0 and value >= 0.99 * lb):
            cand = swap_search(cover, cover_t, weight, top, allowed, deadline)
            cand_value = covered_value(cover, weight, cand)
            if cand_value > lb:
                best, lb = cand, cand_value
        if closed(best_ub):
            break
        grad = count - y
        # einsum, not `@`: a BLAS dot spins up threads and costs milliseconds on a busy machine.
        norm = float(np.einsum("i,i", grad, grad))
        if norm == 0.0:
            break
        lam = np.clip(lam - step * (ub - lb) / norm * grad, 0.0, weight)
    if integral:
        best_ub = math.floor(best_ub + 1e-9 * max(1.0, best_ub))
    logger.info(
        "max cover: Lagrangian %d iterations, bound %.0f, incumbent %.0f persons", iteration, best_ub, lb
    )
    if not closed(best_ub):
        best = ruin_and_recreate(
            cover, cover_t, weight, best, allowed, min(deadline, t0 + _SEARCH_SHARE * time_limit_s),
            target=best_ub / (1.0 + mip_gap),
        )
        lb = covered_value(cover, weight, best)
        logger.info("max cover: after ruin-and-recreate %.0f persons", lb)
    if closed(best_ub) or time.perf_counter() >= deadline:
        return CoverResult(best, lb, max(best_ub, lb), "not_needed")

    # Candidates that cannot be in (or must be in) any strictly better solution.
    may_enter = allowed & _beats(min_in, lb, integral)
    must_enter = allowed & ~_beats(min_out, lb, integral)
    if np.any(must_enter & ~may_enter):
        return CoverResult(best, lb, lb, "not_needed")
    keep = may_enter.copy()
    keep[best] = True
    result = _reduced_mip(cover, weight, k, keep, must_enter, best, lb, integral, deadline, mip_gap)
    chosen, value, mip_bound, status = result
    bound = min(best_ub, max(mip_bound, lb))
    return CoverResult(chosen, value, bound, status)


def _reduced_mip(
    cover: sp.csr_matrix,
    weight: np.ndarray,
    k: int,
    keep: np.ndarray,
    force: np.ndarray,
    incumbent: np.ndarray,
    lb: float,
    integral: bool,
    deadline: float,
    mip_gap: float,
) -> tuple[np.ndarray, float, float, str]:
    """Solve the model restricted to ``keep`` candidates (``force`` ones set to 1) with HiGHS.

    Returns chosen candidates, their value, an upper bound on any strictly better solution's value
    (persons), and HiGHS's status. Every solution better than ``lb`` satisfies the restriction, so
    the bound HiGHS proves on the restricted model bounds the full model once combined with ``lb``.
    """
    cols = np.flatnonzero(keep)
    sub = cover[:, cols].tocsr()
    rows = np.flatnonzero(np.diff(sub.indptr) > 0)
    sub = sub[rows]
    n_x, n_y = cols.size, rows.size
    logger.info("max cover: reduced MIP with %d candidates (%d forced), %d groups", n_x, int(force.sum()), n_y)
    if int(force.sum()) > k:
        return incumbent, lb, lb, "optimal"
    start = np.zeros(n_x + n_y)
    start[:n_x] = np.isin(cols, incumbent)
    start[n_x:] = (sub @ start[:n_x]) > 0.5
    link = sp.hstack([-sub, sp.identity(n_y, format="csr")], format="csr")
    budget = sp.csr_matrix(np.concatenate([np.ones(n_x), np.zeros(n_y)])[None, :])
    matrix = sp.vstack([link, budget], format="csr")
    row_lo = np.full(n_y + 1, -math.inf)
    row_hi = np.concatenate([np.zeros(n_y), [float(k)]])
    col_lo = np.concatenate([force[cols].astype(float), np.zeros(n_y)])
    col_hi = np.ones(n_x + n_y)
    integrality = np.concatenate([np.ones(n_x), np.zeros(n_y)])
    c = -np.concatenate([np.zeros(n_x), weight[rows]])
    remaining = deadline - time.perf_counter()
    out = run_milp(c, matrix, row_lo, row_hi, col_lo, col_hi, integrality, time_limit_s=remaining,
                   mip_gap=mip_gap, start=start if np.all(start[:n_x] >= col_lo[:n_x]) else None)
    if out.status == "infeasible":
        return incumbent, lb, lb, "optimal"
    bound = -out.dual_bound
    if integral and math.isfinite(bound):
        bound = math.floor(bound + 1e-9 * max(1.0, abs(bound)))
    chosen, value = incumbent, lb
    if out.x is not None:
        cand = np.sort(cols[out.x[:n_x] > 0.5])
        cand_value = covered_value(cover, weight, cand)
        if cand_value > lb:
            chosen, value = cand, cand_value
    return chosen, value, bound, out.status
