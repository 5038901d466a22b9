"""Siting optimisation on a network travel-time matrix: maximal covering, set covering, p-median.

Every solver takes a cost matrix of shape (n_demand, n_candidates) in **seconds** of network travel
(never straight-line distance) and a population (persons) per demand point. Unreachable pairs are
``np.inf`` in a dense matrix, or simply not stored in a sparse one: in a sparse matrix every *stored*
entry is a reachable pair, including a stored ``0`` (a village next to the candidate), so the stored
pattern — not ``.data > 0`` — says what is reachable. Build sparse matrices with
:func:`cost_matrix_from_pairs`, which keeps explicit zeros; avoid ``eliminate_zeros()`` and sparse
arithmetic on them, which would drop those pairs.

Models are solved by HiGHS (highspy), started from the greedy or local-search answer, and stop as
soon as the proven gap is within ``mip_gap``. Maximal covering at province scale is too large for a
plain MIP, so it is solved on aggregated demand with a greedy start, swap search and a Lagrangian
relaxation that also proves which candidates can be left out of the MIP (see ``_lagrangian``);
p-median lives in ``_pmedian``, what the solvers share in ``_model``.
"""
from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from healthreach.scenarios._lagrangian import greedy_cover, solve_max_cover
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
    open_groups,
    pairs_from_cost,
    pairs_from_triplets,
    to_csr,
    to_pattern,
    within,
)
from healthreach.scenarios._pmedian import solve_pmedian

__all__ = ["CostMatrix", "Solution", "cost_matrix_from_pairs", "solve_lscp", "solve_mclp", "solve_pmedian"]

logger = logging.getLogger(__name__)


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
    pairs = pairs_from_triplets(
        np.asarray(rows), np.asarray(cols), np.asarray(seconds, dtype=float), shape, "pairs"
    )
    return to_csr(pairs)


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
    pop = check_population(population, cost)
    pairs = within(pairs_from_cost(cost), check_seconds(band_s, "band_s"))
    n_dem, n_cand = pairs.shape
    fixed_idx = check_fixed(fixed, n_cand)
    check_k(k, fixed_idx, n_cand)
    check_limits(time_limit_s, mip_gap)
    integral = bool(np.all(pop == np.round(pop)))

    cover = to_pattern(pairs)
    fixed_mask, served_by_fixed, groups, weight = open_groups(cover, fixed_idx, pop)
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
    objective = covered_population(cover, pop, chosen)
    bound = max(result.bound + constant, objective)
    return finish(
        "mclp", pairs, chosen, objective, bound, integral, mip_gap, t0,
        greedy_chosen, covered_population(cover, pop, greedy_chosen), maximise=True,
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
    pop = check_population(population, cost)
    pairs = within(pairs_from_cost(cost), check_seconds(band_s, "band_s"))
    n_cand = pairs.shape[1]
    fixed_idx = check_fixed(fixed, n_cand)
    check_limits(time_limit_s, mip_gap)

    cover = to_pattern(pairs)
    _, _, groups, _ = open_groups(cover, fixed_idx, pop)
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
    return finish(
        "lscp", pairs, chosen, float(chosen.size), float(bound), True, mip_gap, t0,
        greedy_chosen, float(greedy_chosen.size), maximise=False,
    )


def _greedy_set_cover(groups: sp.csr_matrix) -> np.ndarray:
    """Classic greedy set cover: the lazy greedy of maximal covering with every group weighing 1 and
    no limit on the number of sites, so it runs until nothing is left to cover."""
    return greedy_cover(groups, groups.T.tocsr(), np.ones(groups.shape[0]), groups.shape[1])


