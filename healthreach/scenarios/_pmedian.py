"""p-median on network travel times: at most k sites minimising person-seconds to the nearest one."""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from healthreach.scenarios._lagrangian import solve_max_cover
from healthreach.scenarios._milp import run_milp
from healthreach.scenarios._model import (
    CostMatrix,
    Solution,
    check_fixed,
    check_k,
    check_limits,
    check_population,
    check_seconds,
    covered_population,
    finish,
    nearest_chosen,
    open_groups,
    Pairs,
    pairs_from_cost,
    to_pattern,
    within,
)

logger = logging.getLogger(__name__)


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
    reachable candidate are listed in ``Solution.unreachable``. Every other demand point with residents
    is served when ``k`` sites can serve them all; when they cannot (the demand lies in more separate
    parts of the network than ``k`` sites reach), the sites serve as many persons as any ``k`` sites
    can, at the least person-seconds, and ``Solution.covered`` is False for the points left out.
    """
    t0 = time.perf_counter()
    pop = check_population(population, cost)
    pairs = pairs_from_cost(cost)
    if max_cost_s is not None:
        pairs = within(pairs, check_seconds(max_cost_s, "max_cost_s"))
    n_dem, n_cand = pairs.shape
    fixed_idx = check_fixed(fixed, n_cand)
    check_k(k, fixed_idx, n_cand)
    check_limits(time_limit_s, mip_gap)
    integral = bool(np.all(pop == np.round(pop)) and np.all(pairs.seconds == np.round(pairs.seconds)))

    has_pair = np.bincount(pairs.rows, minlength=n_dem) > 0
    model_rows = np.flatnonzero(has_pair & (pop > 0))
    in_model = np.zeros(n_dem, dtype=bool)
    in_model[model_rows] = True
    sel = in_model[pairs.rows]
    rows, cols, secs = pairs.rows[sel], pairs.cols[sel], pairs.seconds[sel]
    greedy = _greedy_pmedian(rows, cols, secs, pop, fixed_idx, k, n_dem, n_cand)
    total = float(pop[model_rows].sum())
    start_sites, servable = greedy, _served(pairs, pop, greedy, model_rows)
    if servable < total:
        start_sites, servable = _most_served(Pairs(rows, cols, secs, pairs.shape), pop, fixed_idx, k, greedy,
                                             deadline=t0 + 0.3 * time_limit_s)
    everyone = servable >= total
    if not everyone:
        logger.info("p-median: %d sites can serve %.0f of %.0f persons who reach a candidate", k, servable, total)

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
    blocks = [assign_rows, link, budget]
    # Each point is served once (everyone), or at most once with as many persons served as k sites can.
    row_lo = [np.ones(n_m) if everyone else np.full(n_m, -math.inf), np.full(n_z, -math.inf), [-math.inf]]
    row_hi = [np.ones(n_m), np.zeros(n_z), [float(k)]]
    if not everyone:
        blocks.append(sp.csr_matrix((pop[rows], (np.zeros(n_z, dtype=int), n_cand + z_idx)),
                                    shape=(1, n_cand + n_z)))
        row_lo.append([servable - 1e-6 * max(1.0, servable)])
        row_hi.append([math.inf])
    col_lo = np.zeros(n_cand + n_z)
    col_lo[fixed_idx] = 1.0
    c = np.concatenate([np.zeros(n_cand), pop[rows] * secs])
    integrality = np.concatenate([np.ones(n_cand), np.zeros(n_z)])
    out = run_milp(
        c, sp.vstack(blocks, format="csr"), np.concatenate(row_lo), np.concatenate(row_hi), col_lo,
        np.ones(n_cand + n_z), integrality, time_limit_s=time_limit_s - (time.perf_counter() - t0),
        mip_gap=mip_gap, start=_start(pairs.shape, rows, cols, secs, start_sites),
    )
    chosen = start_sites
    if out.x is not None:
        chosen = np.union1d(fixed_idx, np.flatnonzero(out.x[:n_cand] > 0.5)).astype(np.int64)
    objective = _weighted_time(pairs, pop, chosen, model_rows)
    greedy_served = _served(pairs, pop, greedy, model_rows) >= servable
    greedy_objective = _weighted_time(pairs, pop, greedy, model_rows) if greedy_served else math.inf
    bound = min(out.dual_bound, objective)
    if integral and math.isfinite(bound):
        bound = float(math.ceil(bound - 1e-6 * max(1.0, abs(bound))))
    return finish(
        "pmedian", pairs, chosen, objective, bound, integral, mip_gap, t0,
        greedy, greedy_objective, maximise=False,
    )


def _served(pairs: Pairs, pop: np.ndarray, chosen: np.ndarray, rows: np.ndarray) -> float:
    """Persons of ``rows`` some chosen site reaches."""
    assignment, _ = nearest_chosen(pairs, chosen)
    return float(pop[rows][assignment[rows] >= 0].sum())


def _most_served(pairs: Pairs, pop: np.ndarray, fixed_idx: np.ndarray, k: int, greedy: np.ndarray, *,
                 deadline: float) -> tuple[np.ndarray, float]:
    """Sites (fixed ones included) serving the most persons any ``k`` sites can reach, and those persons:
    a maximal covering of the reachable pairs, started from the greedy p-median's new sites."""
    cover = to_pattern(pairs)
    fixed_mask, served_by_fixed, groups, weight = open_groups(cover, fixed_idx, pop)
    allowed = ~fixed_mask & (np.diff(groups.tocsc().indptr) > 0)
    start = np.setdiff1d(greedy, fixed_idx)
    result = solve_max_cover(groups, weight, k - fixed_idx.size, allowed, start[allowed[start]],
                             integral=bool(np.all(weight == np.round(weight))),
                             time_limit_s=max(deadline - time.perf_counter(), 0.01), mip_gap=0.0)
    chosen = np.union1d(fixed_idx, result.chosen).astype(np.int64)
    return chosen, covered_population(cover, pop, chosen)


def _start(shape: tuple[int, int], rows: np.ndarray, cols: np.ndarray, secs: np.ndarray, sites: np.ndarray
           ) -> np.ndarray:
    """The model's columns for ``sites`` open and every demand point assigned to the nearest of them."""
    n_cand = shape[1]
    x = np.zeros(n_cand + rows.size)
    x[sites] = 1.0
    open_pair = np.flatnonzero(x[cols] > 0.5)
    order = open_pair[np.lexsort((cols[open_pair], secs[open_pair], rows[open_pair]))]
    first = order[np.r_[True, rows[order][1:] != rows[order][:-1]]] if order.size else order
    x[n_cand + first] = 1.0
    return x


def _weighted_time(pairs: Pairs, pop: np.ndarray, chosen: np.ndarray, rows: np.ndarray) -> float:
    """Person-seconds from those of ``rows`` a chosen site reaches to the nearest one."""
    _, seconds = nearest_chosen(pairs, chosen)
    reached = np.isfinite(seconds[rows])
    return float(np.sum(pop[rows][reached] * seconds[rows][reached]))


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
