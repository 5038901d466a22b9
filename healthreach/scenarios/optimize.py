"""Siting optimisation on a network travel-time matrix: maximal covering, set covering, p-median.

Every solver takes a cost matrix of shape (n_demand, n_candidates) in **seconds** of network travel
(never straight-line distance) and a population (persons) per demand point. Unreachable pairs are
``np.inf`` in a dense matrix, or simply not stored in a sparse one: in a sparse matrix every *stored*
entry is a reachable pair, including a stored ``0`` (a village next to the candidate), so the stored
pattern — not ``.data > 0`` — says what is reachable. Build sparse matrices with
:func:`cost_matrix_from_pairs`, which keeps explicit zeros; avoid ``eliminate_zeros()`` and sparse
arithmetic on them, which would drop those pairs.

Models are solved by HiGHS (through ``scipy.optimize.milp``). Maximal covering at province scale is
too large for a plain MIP, so it is solved on aggregated demand with a greedy start, swap search and
a Lagrangian relaxation that also proves which candidates can be left out of the MIP
(see ``_lagrangian``).
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from healthreach._errors import InputError, UsageError
from healthreach.scenarios._lagrangian import greedy_cover, solve_max_cover
from healthreach.scenarios._milp import run_milp

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
    """Objective of ``greedy_chosen``, in the same units as ``objective``."""
    assignment: np.ndarray
    """Per demand point, the nearest chosen candidate serving it (within the band for mclp/lscp,
    within ``max_cost_s`` for pmedian), or -1."""
    covered: np.ndarray
    """Per demand point, whether a chosen candidate serves it (``assignment >= 0``)."""
    unreachable: np.ndarray
    """Demand point indices that no candidate can serve (within the band / ``max_cost_s``)."""


@dataclass(frozen=True)
class _Pairs:
    """Reachable (demand, candidate) pairs sorted by demand, with their cost in seconds."""

    rows: np.ndarray
    cols: np.ndarray
    seconds: np.ndarray
    shape: tuple[int, int]


def cost_matrix_from_pairs(
    rows: Sequence[int] | np.ndarray,
    cols: Sequence[int] | np.ndarray,
    seconds: Sequence[float] | np.ndarray,
    shape: tuple[int, int],
) -> sp.csr_matrix:
    """Build a sparse cost matrix (seconds) from (demand index, candidate index, seconds) triplets.

    Every stored entry is a reachable pair, and zero-second pairs are kept as explicit zeros (the
    sparsity pattern, not the values, marks reachability). Duplicate pairs keep their smallest
    time (scipy would sum them); ``inf`` seconds mean unreachable and are not stored.
    """
    pairs = _pairs_from_triplets(
        np.asarray(rows), np.asarray(cols), np.asarray(seconds, dtype=float), shape, "pairs"
    )
    return _to_csr(pairs)


def _open_groups(
    cover: sp.csr_matrix, fixed_idx: np.ndarray, pop: np.ndarray
) -> tuple[np.ndarray, np.ndarray, sp.csr_matrix, np.ndarray]:
    """What a covering model still has to decide: the fixed-site mask, which demand points the fixed
    sites already serve, and the other reachable, populated points grouped by identical candidate
    sets (group x candidate pattern, persons per group)."""
    fixed_mask = np.zeros(cover.shape[1], dtype=bool)
    fixed_mask[fixed_idx] = True
    served_by_fixed = (cover @ fixed_mask.astype(float)) > 0.5
    open_rows = np.flatnonzero(~served_by_fixed & (pop > 0) & (np.diff(cover.indptr) > 0))
    groups, weight = _aggregate(cover, open_rows, pop)
    return fixed_mask, served_by_fixed, groups, weight


def solve_mclp(
    cost: CostMatrix,
    population: Sequence[float] | np.ndarray,
    *,
    k: int,
    band_s: float,
    fixed: Sequence[int] = (),
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
) -> Solution:
    """Maximal covering: at most ``k`` sites in total (``fixed`` ones included) maximising the
    population (persons) within ``band_s`` seconds of a chosen site.

    Sites that would add no coverage are not chosen, so fewer than ``k`` may be returned.
    ``time_limit_s`` bounds the search (wall-clock seconds); ``mip_gap`` is the relative gap at which
    the search may stop.
    """
    t0 = time.perf_counter()
    pop = _check_population(population, cost)
    pairs = _within(_pairs_from_cost(cost), _check_seconds(band_s, "band_s"))
    n_dem, n_cand = pairs.shape
    fixed_idx = _check_fixed(fixed, n_cand)
    _check_k(k, fixed_idx, n_cand)
    _check_limits(time_limit_s, mip_gap)
    integral = bool(np.all(pop == np.round(pop)))

    cover = _to_pattern(pairs)
    fixed_mask, served_by_fixed, groups, weight = _open_groups(cover, fixed_idx, pop)
    logger.info("mclp: %d demand points -> %d groups, %d candidates", n_dem, groups.shape[0], n_cand)

    k_free = k - fixed_idx.size
    greedy = greedy_cover(groups, groups.T.tocsr(), weight, k_free)
    allowed = ~fixed_mask & (np.diff(groups.tocsc().indptr) > 0)
    result = solve_max_cover(
        groups,
        weight,
        k_free,
        allowed,
        greedy,
        integral=integral,
        time_limit_s=time_limit_s - (time.perf_counter() - t0),
        mip_gap=mip_gap,
    )
    logger.info("mclp: HiGHS on the reduced model: %s", result.mip_status)
    constant = float(pop[served_by_fixed].sum())
    chosen = np.union1d(fixed_idx, result.chosen).astype(np.int64)
    greedy_chosen = np.union1d(fixed_idx, greedy).astype(np.int64)
    objective = _covered_population(cover, pop, chosen)
    bound = max(result.bound + constant, objective)
    return _finish(
        "mclp", pairs, chosen, objective, bound, integral, mip_gap, t0,
        greedy_chosen, _covered_population(cover, pop, greedy_chosen), maximise=True,
    )


def solve_lscp(
    cost: CostMatrix,
    population: Sequence[float] | np.ndarray,
    *,
    band_s: float,
    fixed: Sequence[int] = (),
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
) -> Solution:
    """Set covering: the fewest sites (``fixed`` ones included) such that every demand point with
    residents (population > 0) that some candidate reaches within ``band_s`` seconds is covered.

    Demand points no candidate reaches within the band are listed in ``Solution.unreachable``
    instead of making the problem infeasible.
    """
    t0 = time.perf_counter()
    pop = _check_population(population, cost)
    pairs = _within(_pairs_from_cost(cost), _check_seconds(band_s, "band_s"))
    n_cand = pairs.shape[1]
    fixed_idx = _check_fixed(fixed, n_cand)
    _check_limits(time_limit_s, mip_gap)

    cover = _to_pattern(pairs)
    _, _, groups, _ = _open_groups(cover, fixed_idx, pop)
    greedy = _greedy_set_cover(groups)
    greedy_chosen = np.union1d(fixed_idx, greedy).astype(np.int64)
    chosen, bound = greedy_chosen, float(fixed_idx.size)
    if groups.shape[0]:
        cols = np.flatnonzero(np.diff(groups.tocsc().indptr) > 0)
        sub = groups[:, cols].tocsr()
        out = run_milp(
            np.ones(cols.size), sub, np.ones(sub.shape[0]), np.full(sub.shape[0], math.inf),
            np.zeros(cols.size), np.ones(cols.size), np.ones(cols.size),
            time_limit_s=time_limit_s - (time.perf_counter() - t0), mip_gap=mip_gap,
        )
        proven = math.ceil(out.dual_bound - 1e-6) if math.isfinite(out.dual_bound) else 1
        bound = fixed_idx.size + max(proven, 1)
        if out.x is not None and np.count_nonzero(out.x > 0.5) <= greedy.size:
            chosen = np.union1d(fixed_idx, cols[out.x > 0.5]).astype(np.int64)
    return _finish(
        "lscp", pairs, chosen, float(chosen.size), float(bound), True, mip_gap, t0,
        greedy_chosen, float(greedy_chosen.size), maximise=False,
    )


def solve_pmedian(
    cost: CostMatrix,
    population: Sequence[float] | np.ndarray,
    *,
    k: int,
    fixed: Sequence[int] = (),
    max_cost_s: float | None = None,
    time_limit_s: float = 60.0,
    mip_gap: float = 0.0,
) -> Solution:
    """p-median: at most ``k`` sites in total (``fixed`` ones included) minimising the
    population-weighted travel time to the nearest site (person-seconds).

    Pairs slower than ``max_cost_s`` seconds (if given) count as unreachable. Demand points with no
    reachable candidate are listed in ``Solution.unreachable`` and excluded; every other demand point
    with residents must be served, and :class:`InputError` says so when ``k`` sites cannot do that.
    """
    t0 = time.perf_counter()
    pop = _check_population(population, cost)
    pairs = _pairs_from_cost(cost)
    if max_cost_s is not None:
        pairs = _within(pairs, _check_seconds(max_cost_s, "max_cost_s"))
    n_dem, n_cand = pairs.shape
    fixed_idx = _check_fixed(fixed, n_cand)
    _check_k(k, fixed_idx, n_cand)
    _check_limits(time_limit_s, mip_gap)
    integral = bool(np.all(pop == np.round(pop)) and np.all(pairs.seconds == np.round(pairs.seconds)))

    has_pair = np.bincount(pairs.rows, minlength=n_dem) > 0
    model_rows = np.flatnonzero(has_pair & (pop > 0))
    in_model = np.zeros(n_dem, dtype=bool)
    in_model[model_rows] = True
    sel = in_model[pairs.rows]
    rows, cols, secs = pairs.rows[sel], pairs.cols[sel], pairs.seconds[sel]
    greedy = _greedy_pmedian(rows, cols, secs, pop, fixed_idx, k, n_dem, n_cand)
    greedy_ok = bool(np.all(_nearest(pairs, greedy)[0][model_rows] >= 0))

    dense_row = np.searchsorted(model_rows, rows)
    n_z, n_m = rows.size, model_rows.size
    z_idx = np.arange(n_z)
    assign_rows = sp.csr_matrix((np.ones(n_z), (dense_row, n_cand + z_idx)), shape=(n_m, n_cand + n_z))
    link = sp.csr_matrix(
        (np.concatenate([np.ones(n_z), -np.ones(n_z)]),
         (np.concatenate([z_idx, z_idx]), np.concatenate([n_cand + z_idx, cols]))),
        shape=(n_z, n_cand + n_z),
    )
    budget = sp.csr_matrix((np.ones(n_cand), (np.zeros(n_cand, dtype=int), np.arange(n_cand))),
                           shape=(1, n_cand + n_z))
    matrix = sp.vstack([assign_rows, link, budget], format="csr")
    row_lo = np.concatenate([np.ones(n_m), np.full(n_z, -math.inf), [-math.inf]])
    row_hi = np.concatenate([np.ones(n_m), np.zeros(n_z), [float(k)]])
    col_lo = np.zeros(n_cand + n_z)
    col_lo[fixed_idx] = 1.0
    c = np.concatenate([np.zeros(n_cand), pop[rows] * secs])
    integrality = np.concatenate([np.ones(n_cand), np.zeros(n_z)])
    out = run_milp(
        c, matrix, row_lo, row_hi, col_lo, np.ones(n_cand + n_z), integrality,
        time_limit_s=time_limit_s - (time.perf_counter() - t0), mip_gap=mip_gap,
    )
    if out.status == "infeasible":
        raise InputError(
            f"p-median: {k} sites cannot serve every reachable demand point with residents "
            f"({n_m} points); expected a larger k or max_cost_s"
        )
    chosen = greedy
    if out.x is not None:
        chosen = np.union1d(fixed_idx, np.flatnonzero(out.x[:n_cand] > 0.5)).astype(np.int64)
    elif not greedy_ok:
        raise InputError(f"p-median: no solution serving all {n_m} reachable demand points was found "
                         f"within {time_limit_s} s; expected a larger k, max_cost_s or time limit")
    objective = _weighted_time(pairs, pop, chosen, model_rows)
    greedy_objective = _weighted_time(pairs, pop, greedy, model_rows) if greedy_ok else math.inf
    bound = min(out.dual_bound, objective)
    if integral and math.isfinite(bound):
        bound = float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
    return _finish(
        "pmedian", pairs, chosen, objective, bound, integral, mip_gap, t0,
        greedy, greedy_objective, maximise=False,
    )


def _finish(
    problem: str, pairs: _Pairs, chosen: np.ndarray, objective: float, bound: float, integral: bool,
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
    assignment, _ = _nearest(pairs, chosen)
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


def _pairs_from_triplets(
    rows: np.ndarray, cols: np.ndarray, seconds: np.ndarray, shape: tuple[int, int], what: str
) -> _Pairs:
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
    return _Pairs(rows[first], cols[first], seconds[first], (n_dem, n_cand))


def _pairs_from_cost(cost: CostMatrix) -> _Pairs:
    """Reachable pairs of a dense (``np.inf`` = unreachable) or sparse (stored = reachable) matrix."""
    if sp.issparse(cost):
        coo = sp.coo_matrix(cost)
        return _pairs_from_triplets(coo.row, coo.col, coo.data.astype(float), coo.shape, "cost matrix")
    dense = np.asarray(cost, dtype=float)
    if dense.ndim != 2:
        raise InputError(f"cost matrix: expected a 2-D (demand x candidates) array of seconds, "
                         f"got {dense.ndim} dimensions")
    rows, cols = np.nonzero(~(dense == math.inf))
    return _pairs_from_triplets(rows, cols, dense[rows, cols], dense.shape, "cost matrix")


def _within(pairs: _Pairs, limit_s: float) -> _Pairs:
    """Keep pairs with travel time at most ``limit_s`` seconds."""
    keep = pairs.seconds <= limit_s
    return _Pairs(pairs.rows[keep], pairs.cols[keep], pairs.seconds[keep], pairs.shape)


def _to_csr(pairs: _Pairs) -> sp.csr_matrix:
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pairs.rows, minlength=pairs.shape[0]))])
    return sp.csr_matrix((pairs.seconds.copy(), pairs.cols.copy(), indptr), shape=pairs.shape)


def _to_pattern(pairs: _Pairs) -> sp.csr_matrix:
    """0/1 coverage matrix: ones at every reachable pair (so zero-second pairs stay visible)."""
    indptr = np.concatenate([[0], np.cumsum(np.bincount(pairs.rows, minlength=pairs.shape[0]))])
    return sp.csr_matrix((np.ones(pairs.rows.size), pairs.cols.copy(), indptr), shape=pairs.shape)


def _check_population(population: Sequence[float] | np.ndarray, cost: CostMatrix) -> np.ndarray:
    pop = np.asarray(population, dtype=float)
    n_dem = cost.shape[0]
    if pop.shape != (n_dem,):
        raise InputError(f"population: expected {n_dem} values (one per cost-matrix row), got shape {pop.shape}")
    bad = np.flatnonzero(~np.isfinite(pop) | (pop < 0))
    if bad.size:
        raise InputError(f"population: demand point {bad[0]} has {pop[bad[0]]}; expected persons >= 0")
    return pop


def _check_fixed(fixed: Sequence[int], n_cand: int) -> np.ndarray:
    idx = np.asarray(fixed)
    if idx.size == 0:
        return np.zeros(0, dtype=np.int64)
    if idx.ndim != 1 or idx.dtype.kind not in "iu" or idx.min() < 0 or idx.max() >= n_cand:
        raise InputError(f"fixed: expected candidate indices (integers in [0, {n_cand})), got {list(idx)}")
    if np.unique(idx).size != idx.size:
        raise InputError(f"fixed: candidate indices repeat: {list(idx)}")
    return np.sort(idx.astype(np.int64))


def _check_k(k: int, fixed_idx: np.ndarray, n_cand: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < max(fixed_idx.size, 1):
        raise UsageError(f"k={k}: expected an integer number of sites >= 1 and >= the "
                         f"{fixed_idx.size} fixed sites")
    if k > n_cand:
        raise UsageError(f"k={k}: only {n_cand} candidates are available")


def _check_seconds(value: float, name: str) -> float:
    if not (isinstance(value, (int, float, np.number)) and math.isfinite(value) and value >= 0):
        raise UsageError(f"{name}={value}: expected a finite number of seconds >= 0")
    return float(value)


def _check_limits(time_limit_s: float, mip_gap: float) -> None:
    if not time_limit_s > 0:
        raise UsageError(f"time_limit_s={time_limit_s}: expected seconds > 0")
    if not 0 <= mip_gap < 1:
        raise UsageError(f"mip_gap={mip_gap}: expected a relative gap in [0, 1)")


# --- model pieces ---------------------------------------------------------------------------


def _aggregate(cover: sp.csr_matrix, rows: np.ndarray, pop: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
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


def _covered_population(cover: sp.csr_matrix, pop: np.ndarray, chosen: np.ndarray) -> float:
    x = np.zeros(cover.shape[1])
    x[chosen] = 1.0
    return float(pop[(cover @ x) > 0.5].sum())


def _nearest(pairs: _Pairs, chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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


def _weighted_time(pairs: _Pairs, pop: np.ndarray, chosen: np.ndarray, rows: np.ndarray) -> float:
    """Person-seconds from ``rows`` to their nearest chosen site."""
    _, seconds = _nearest(pairs, chosen)
    return float(np.sum(pop[rows] * seconds[rows]))


def _greedy_set_cover(groups: sp.csr_matrix) -> np.ndarray:
    """Classic greedy set cover: the lazy greedy of maximal covering with every group weighing 1 and
    no limit on the number of sites, so it runs until nothing is left to cover."""
    return greedy_cover(groups, groups.T.tocsr(), np.ones(groups.shape[0]), groups.shape[1])


def _greedy_pmedian(
    rows: np.ndarray, cols: np.ndarray, secs: np.ndarray, pop: np.ndarray, fixed_idx: np.ndarray,
    k: int, n_dem: int, n_cand: int,
) -> np.ndarray:
    """Greedy p-median: add the site saving the most person-seconds, starting from the fixed ones.

    A demand point not yet served is charged a penalty above any real travel time, so serving it
    first is what saves the most.
    """
    penalty = 2.0 * (float(secs.max()) if secs.size else 0.0) + 1.0
    best = np.full(n_dem, penalty)
    chosen = np.zeros(n_cand, dtype=bool)
    chosen[fixed_idx] = True
    np.minimum.at(best, rows[chosen[cols]], secs[chosen[cols]])
    for _ in range(k - fixed_idx.size):
        saving = np.bincount(cols, weights=pop[rows] * np.maximum(best[rows] - secs, 0.0), minlength=n_cand)
        saving[chosen] = -1.0
        j = int(np.argmax(saving))
        if saving[j] <= 0:
            break
        chosen[j] = True
        at = cols == j
        np.minimum.at(best, rows[at], secs[at])
    return np.flatnonzero(chosen).astype(np.int64)
