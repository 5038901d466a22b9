"""What the siting solvers share: the Solution they return, reachable pairs, input checks and the
pieces of the covering models. Seconds of network travel, persons, candidate and demand indices."""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from healthreach._errors import InputError, UsageError

logger = logging.getLogger(__name__)

CostMatrix = sp.csr_matrix | sp.csr_array | np.ndarray


@dataclass(frozen=True)
class Solution:
    """A siting solution; indices refer to rows (demand) and columns (candidates) of the cost matrix."""

    problem: str
    """'mclp', 'lscp' or 'pmedian'."""
    chosen: np.ndarray
    """Chosen candidate indices (fixed ones included), sorted, int64."""
    objective: float
    """Persons covered (mclp), number of sites (lscp) or person-seconds of travel (pmedian)."""
    bound: float
    """Best proven bound on the objective: upper for mclp, lower for lscp and pmedian."""
    gap: float
    """``|bound - objective| / max(|objective|, 1)``; 0 when proven optimal."""
    status: str
    """'optimal' (gap <= 1e-6, HiGHS's own tolerance), 'within_gap' (proven within ``mip_gap``)
    or 'time_limit'."""
    solve_s: float
    """Wall-clock seconds spent in the solver function."""
    greedy_chosen: np.ndarray
    """The greedy solution computed alongside, for comparison (fixed sites included)."""
    greedy_objective: float
    """Objective of ``greedy_chosen``, in the same units as ``objective`` (pmedian: inf when the greedy
    sites serve fewer persons than the chosen ones)."""
    assignment: np.ndarray
    """Per demand point, the nearest chosen candidate serving it (within the band for mclp/lscp,
    within ``max_cost_s`` for pmedian), or -1."""
    covered: np.ndarray
    """Per demand point, whether a chosen candidate serves it (``assignment >= 0``): False for the
    unreachable ones, and in p-median for those in parts of the network the ``k`` sites cannot all
    reach."""
    unreachable: np.ndarray
    """Demand point indices that no candidate can serve (within the band / ``max_cost_s``)."""


@dataclass(frozen=True)
class Pairs:
    """Reachable (demand, candidate) pairs sorted by demand, with their cost in seconds."""

    rows: np.ndarray
    cols: np.ndarray
    seconds: np.ndarray
    shape: tuple[int, int]


def open_groups(
    cover: sp.csr_matrix, fixed_idx: np.ndarray, pop: np.ndarray
) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix, np.ndarray]:
    """What a covering model still has to decide: the fixed-site mask, which demand points the fixed
    sites already serve, and the other reachable, populated points grouped by identical candidate
    sets (group x candidate pattern, persons per group)."""
    fixed_mask = np.zeros(cover.shape[1], dtype=bool)
    fixed_mask[fixed_idx] = True
    served_by_fixed = (cover @ fixed_mask.astype(float)) > 0.5
    open_rows = np.flatnonzero(~served_by_fixed & (pop > 0) & (np.diff(cover.indptr) > 0))
    groups, weight = aggregate(cover, open_rows, pop)
    return fixed_mask, served_by_fixed, groups, weight


def finish(
    problem: str, pairs: Pairs, chosen: np.ndarray, objective: float, bound: float, integral: bool,
    mip_gap: float, t0: float, greedy_chosen: np.ndarray,
    greedy_objective: float, *, maximise: bool,
) -> Solution:
    """Round counts, compute the gap and the per-demand assignment, and pack the Solution."""
    if integral:
        objective = float(round(objective))
        bound = float(math.floor(bound + 1e-6) if maximise else math.ceil(bound - 1e-6))
        if math.isfinite(greedy_objective):
            greedy_objective = float(round(greedy_objective))
    bound = max(bound, objective) if maximise else min(bound, objective)
    gap = abs(bound - objective) / max(abs(objective), 1.0)
    if gap <= 1e-12:
        gap = 0.0
    # HiGHS itself declares optimality at a relative gap of about 1e-6 (its tolerances).
    if gap <= 1e-6:
        status = "optimal"
    elif gap <= mip_gap:
        status = "within_gap"
    else:
        status = "time_limit"
    assignment, _ = nearest_chosen(pairs, chosen)
    has_pair = np.bincount(pairs.rows, minlength=pairs.shape[0]) > 0
    logger.info("%s: objective %s, bound %s, gap %.4f, %s", problem, objective, bound, gap, status)
    return Solution(
        problem=problem,
        chosen=np.asarray(chosen, dtype=np.int64),
        objective=float(objective),
        bound=float(bound),
        gap=float(gap),
        status=status,
        solve_s=time.perf_counter() - t0,
        greedy_chosen=np.asarray(greedy_chosen, dtype=np.int64),
        greedy_objective=float(greedy_objective),
        assignment=assignment,
        covered=assignment >= 0,
        unreachable=np.flatnonzero(~has_pair),
    )


# --- input handling -------------------------------------------------------------------------


def pairs_from_triplets(
    rows: np.ndarray, cols: np.ndarray, seconds: np.ndarray, shape: tuple[int, int], what: str
) -> Pairs:
    """Validate triplets, drop unreachable ones, keep the fastest of duplicates, sort by demand."""
    n_dem, n_cand = int(shape[0]), int(shape[1])
    if not (rows.shape == cols.shape == seconds.shape) or rows.ndim != 1:
        raise InputError(f"{what}: rows, cols and seconds must be 1-D arrays of equal length, "
                         f"got shapes {rows.shape}, {cols.shape}, {seconds.shape}")
    for name, idx, limit in (("demand index", rows, n_dem), ("candidate index", cols, n_cand)):
        if idx.size and (idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= limit):
            raise InputError(f"{what}: every {name} must be an integer in [0, {limit}), "
                             f"got values from {idx.min()} to {idx.max()} ({idx.dtype})")
    bad = np.flatnonzero(np.isnan(seconds) | (seconds < 0))
    if bad.size:
        i = bad[0]
        raise InputError(f"{what}: demand {rows[i]}, candidate {cols[i]}: travel time {seconds[i]} s; "
                         f"expected seconds >= 0 (np.inf or no entry for unreachable); {bad.size} such")
    keep = np.isfinite(seconds)
    rows, cols, seconds = rows[keep].astype(np.int64), cols[keep].astype(np.int64), seconds[keep]
    order = np.lexsort((seconds, cols, rows))
    rows, cols, seconds = rows[order], cols[order], seconds[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = (rows[1:] != rows[:-1]) | (cols[1:] != cols[:-1])
    return Pairs(rows[first], cols[first], seconds[first], (n_dem, n_cand))


def pairs_from_cost(cost: CostMatrix) -> Pairs:
    """Reachable pairs of a dense (``np.inf`` = unreachable) or sparse (stored = reachable) matrix."""
    if sp.issparse(cost):
        coo = sp.coo_matrix(cost)
        return pairs_from_triplets(coo.row, coo.col, coo.data.astype(float), coo.shape, "cost matrix")
    dense = np.asarray(cost, dtype=float)
    if dense.ndim != 2:
        raise InputError(f"cost matrix: expected a 2-D (demand x candidates) array of seconds, "
                         f"got {dense.ndim} dimensions")
    rows, cols = np.nonzero(~(dense == math.inf))
    return pairs_from_triplets(rows, cols, dense[rows, cols], dense.shape, "cost matrix")


def within(pairs: Pairs, limit_s: float) -> Pairs:
    """Keep pairs with travel time at most ``limit_s`` seconds."""
    keep = pairs.seconds <= limit_s
    return Pairs(pairs.rows[keep], pairs.cols[keep], pairs.seconds[keep], pairs.shape)


def to_csr(pairs: Pairs) -> sp.csr_matrix:
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pairs.rows, minlength=pairs.shape[0]))])
    return sp.csr_matrix((pairs.seconds.copy(), pairs.cols.copy(), indptr), shape=pairs.shape)


def to_pattern(pairs: Pairs) -> sp.csr_matrix:
    """0/1 coverage matrix: ones at every reachable pair (so zero-second pairs stay visible)."""
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pairs.rows, minlength=pairs.shape[0]))])
    return sp.csr_matrix((np.ones(pairs.rows.size), pairs.cols.copy(), indptr), shape=pairs.shape)


def check_population(population: Sequence[float] | np.ndarray, cost: CostMatrix) -> np.ndarray:
    pop = np.asarray(population, dtype=float)
    n_dem = cost.shape[0]
    if pop.shape != (n_dem,):
        raise InputError(f"population: expected {n_dem} values (one per cost-matrix row), got shape {pop.shape}")
    bad = np.flatnonzero(~np.isfinite(pop) | (pop < 0))
    if bad.size:
        raise InputError(f"population: demand point {bad[0]} has {pop[bad[0]]}; expected persons >= 0")
    return pop


def check_fixed(fixed: Sequence[int], n_cand: int) -> np.ndarray:
    idx = np.asarray(fixed)
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    if idx.ndim != 1 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n_cand:
        raise InputError(f"fixed: expected candidate indices (integers in [0, {n_cand})), got {list(idx)}")
    if np.unique(idx).size != idx.size:
        raise InputError(f"fixed: candidate indices repeat: {list(idx)}")
    return np.sort(idx.astype(np.int64))


def check_k(k: int, fixed_idx: np.ndarray, n_cand: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < max(fixed_idx.size, 1):
        raise UsageError(f"k={k}: expected an integer number of sites >= 1 and >= the "
                         f"{fixed_idx.size} fixed sites")
    if k > n_cand:
        raise UsageError(f"k={k}: only {n_cand} candidates are available")


def check_seconds(value: float, name: str) -> float:
    if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value >= 0):
        raise UsageError(f"{name}={value}: expected a finite number of seconds >= 0")
    return float(value)


def check_limits(time_limit_s: float, mip_gap: float) -> None:
    if not time_limit_s > 0:
        raise UsageError(f"time_limit_s={time_limit_s}: expected seconds > 0")
    if not 0 <= mip_gap < 1:
        raise UsageError(f"mip_gap={mip_gap}: expected a relative gap in [0, 1)")


# --- model pieces ---------------------------------------------------------------------------


def aggregate(cover: sp.csr_matrix, rows: np.ndarray, pop: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
    """Merge demand rows with identical candidate sets, summing their population (persons)."""
    index: dict[bytes, int] = {}
    group_of = np.empty(rows.size, dtype=np.int64)
    first: list[int] = []
    for n, r in enumerate(rows):
        key = np.sort(cover.indices[cover.indptr[r] : cover.indptr[r + 1]]).tobytes()
        g = index.setdefault(key, len(first))
        if g == len(first):
            first.append(int(r))
        group_of[n] = g
    weight = np.bincount(group_of, weights=pop[rows], minlength=len(first))
    groups = cover[np.asarray(first, dtype=np.int64)] if first else cover[:0]
    return groups.tocsr(), weight


def covered_population(cover: sp.csr_matrix, pop: np.ndarray, chosen: np.ndarray) -> float:
    x = np.zeros(cover.shape[1])
    x[chosen] = 1.0
    return float(pop[(cover @ x) > 0.5].sum())


def nearest_chosen(pairs: Pairs, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each demand point, the nearest chosen candidate and its time in seconds (-1 / inf if none)."""
    mask = np.zeros(pairs.shape[1], dtype=bool)
    mask[chosen] = True
    sel = mask[pairs.cols]
    rows, cols, secs = pairs.rows[sel], pairs.cols[sel], pairs.seconds[sel]
    order = np.lexsort((cols, secs, rows))
    rows, cols, secs = rows[order], cols[order], secs[order]
    first = np.ones(rows.size, dtype=bool)
    first[1:] = rows[1:] != rows[:-1]
    assignment = np.full(pairs.shape[0], -1, dtype=np.int64)
    seconds = np.full(pairs.shape[0], math.inf)
    assignment[rows[first]] = cols[first]
    seconds[rows[first]] = secs[first]
    return assignment, seconds


