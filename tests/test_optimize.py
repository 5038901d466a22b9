"""Siting solvers against brute force on small instances and a plain MIP on medium ones."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

from healthreach._errors import InputError, UsageError
from healthreach.scenarios.optimize import (
    cost_matrix_from_pairs,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)

SEEDS = range(12)


def _random_instance(seed: int, n_dem: int = 12, n_cand: int = 7, p_inf: float = 0.25):
    """Integer seconds 0..20 (zeros included), some pairs unreachable, integer populations."""
    rng = np.random.default_rng(seed)
    cost = rng.integers(0, 21, size=(n_dem, n_cand)).astype(float)
    cost[rng.random(cost.shape) < p_inf] = np.inf
    pop = rng.integers(0, 500, size=n_dem).astype(float)
    return rng, cost, pop


def _sparse(cost: np.ndarray) -> sp.csr_matrix:
    rows, cols = np.nonzero(np.isfinite(cost))
    return cost_matrix_from_pairs(rows, cols, cost[rows, cols], cost.shape)


def _brute_mclp(cost, pop, k, band, fixed):
    free = [j for j in range(cost.shape[1]) if j not in fixed]
    best = 0.0
    for extra in itertools.combinations(free, k - len(fixed)):
        sites = list(fixed) + list(extra)
        best = max(best, pop[(cost[:, sites] <= band).any(axis=1)].sum())
    return best


def _check_assignment(sol, cost, limit):
    """Assignment is the nearest chosen site within ``limit`` seconds, -1 only when none is."""
    within = np.isfinite(cost[:, sol.chosen]) & (cost[:, sol.chosen] <= limit)
    for i, a in enumerate(sol.assignment):
        if within[i].any():
            assert a in sol.chosen
            assert cost[i, a] == cost[i, sol.chosen].min()
        else:
            assert a == -1
    np.testing.assert_array_equal(sol.covered, sol.assignment >= 0)


@pytest.mark.parametrize("seed", SEEDS)
def test_mclp_matches_brute_force(seed):
    rng, cost, pop = _random_instance(seed)
    k = int(rng.integers(1, 5))
    band = float(rng.integers(3, 12))
    fixed = sorted(rng.choice(cost.shape[1], size=int(rng.integers(0, min(k, 2) + 1)), replace=False).tolist())
    expected = _brute_mclp(cost, pop, k, band, fixed)
    for matrix in (cost, _sparse(cost)):
        sol = solve_mclp(matrix, pop, k=k, band_s=band, fixed=fixed)
        assert sol.problem == "mclp"
        assert sol.objective == expected
        assert sol.status == "optimal" and sol.gap == 0
        assert sol.bound >= sol.objective
        assert set(fixed) <= set(sol.chosen.tolist()) and len(sol.chosen) <= k
        assert set(fixed) <= set(sol.greedy_chosen.tolist())
        assert sol.greedy_objective <= sol.objective
        assert pop[sol.covered].sum() == sol.objective
        _check_assignment(sol, cost, band)
        np.testing.assert_array_equal(sol.unreachable, np.flatnonzero(~(cost <= band).any(axis=1)))


@pytest.mark.parametrize("seed", SEEDS)
def test_lscp_matches_smallest_cover(seed):
    rng, cost, pop = _random_instance(seed, p_inf=0.4)
    pop = np.maximum(pop, 1.0)
    band = float(rng.integers(5, 15))
    fixed = [int(rng.integers(cost.shape[1]))] if seed % 2 else []
    reach = cost <= band
    must = reach.any(axis=1)
    expected = next(
        r for r in range(len(fixed), cost.shape[1] + 1)
        for extra in itertools.combinations([j for j in range(cost.shape[1]) if j not in fixed], r - len(fixed))
        if reach[must][:, fixed + list(extra)].any(axis=1).all()
    )
    sol = solve_lscp(_sparse(cost) if seed % 3 else cost, pop, band_s=band, fixed=fixed)
    assert sol.objective == expected == len(sol.chosen)
    assert sol.bound <= sol.objective and sol.status == "optimal"
    assert set(fixed) <= set(sol.chosen.tolist())
    assert sol.greedy_objective >= sol.objective
    np.testing.assert_array_equal(sol.covered, must)
    np.testing.assert_array_equal(sol.unreachable, np.flatnonzero(~must))
    _check_assignment(sol, cost, band)


@pytest.mark.parametrize("seed", SEEDS)
def test_pmedian_matches_brute_force(seed):
    rng, cost, pop = _random_instance(seed, p_inf=0.2)
    cost[0] = np.inf  # one demand point nobody reaches: reported and excluded
    k = int(rng.integers(2, 5))
    fixed = [int(rng.integers(cost.shape[1]))] if seed % 2 else []
    model = np.isfinite(cost).any(axis=1) & (pop > 0)
    # Serve as many persons as k sites can, then at the least person-seconds.
    best = (np.inf, np.inf)
    for extra in itertools.combinations([j for j in range(cost.shape[1]) if j not in fixed], k - len(fixed)):
        nearest = cost[:, fixed + list(extra)].min(axis=1)
        served = model & np.isfinite(nearest)
        best = min(best, (-float(pop[served].sum()), float(np.sum(pop[served] * nearest[served]))))
    matrix = _sparse(cost) if seed % 3 else cost
    sol = solve_pmedian(matrix, pop, k=k, fixed=fixed)
    assert (-float(pop[sol.covered].sum()), sol.objective) == best
    assert sol.bound <= sol.objective and sol.status == "optimal"
    if -best[0] == pop[model].sum():
        assert sol.greedy_objective >= sol.objective
    assert set(fixed) <= set(sol.chosen.tolist()) and len(sol.chosen) <= k
    assert 0 in sol.unreachable and not sol.covered[0] and sol.assignment[0] == -1
    _check_assignment(sol, cost, np.inf)


def test_pmedian_max_cost_makes_pairs_unreachable():
    cost = np.array([[10.0, 100.0], [100.0, 10.0], [50.0, 60.0]])
    pop = np.array([1.0, 1.0, 10.0])
    sol = solve_pmedian(cost, pop, k=1)
    assert sol.chosen.tolist() == [0] and sol.objective == 10 + 100 + 10 * 50
    # Within 55 s one site cannot serve both demand 0 and demand 1: site 0 serves the most persons (0 and
    # 2); demand 1 is reported as not served, though a candidate reaches it.
    sol = solve_pmedian(cost, pop, k=1, max_cost_s=55)
    assert sol.chosen.tolist() == [0] and sol.objective == 10 + 10 * 50
    assert sol.covered.tolist() == [True, False, True] and sol.unreachable.tolist() == []
    sol = solve_pmedian(cost, pop, k=2, max_cost_s=55)
    assert sol.chosen.tolist() == [0, 1] and sol.objective == 10 + 10 + 10 * 50
    # Within 40 s nobody reaches demand 2: it is reported and left out of the objective.
    sol = solve_pmedian(cost, pop, k=2, max_cost_s=40)
    assert sol.unreachable.tolist() == [2] and sol.objective == 20 and sol.assignment[2] == -1


def test_zero_cost_pairs_are_reachable():
    sparse = cost_matrix_from_pairs([0, 1, 1, 2], [1, 0, 0, 2], [0.0, 30.0, 5.0, 0.0], (3, 3))
    assert sparse.nnz == 3  # duplicate (1, 0) keeps its fastest time
    assert sparse[1, 0] == 5.0
    pop = np.array([7.0, 3.0, 11.0])
    sol = solve_mclp(sparse, pop, k=2, band_s=0.0)
    assert sol.objective == 18 and sol.chosen.tolist() == [1, 2]
    assert sol.covered.tolist() == [True, False, True]
    sol = solve_lscp(sparse, pop, band_s=0.0)
    assert sol.objective == 2 and sol.unreachable.tolist() == [1]
    sol = solve_pmedian(sparse, pop, k=3)
    assert sol.objective == 3 * 5.0 and sol.assignment.tolist() == [1, 0, 2]


def test_unreachable_demand_is_reported_not_infeasible():
    cost = np.array([[5.0, np.inf], [np.inf, np.inf], [np.inf, 8.0]])
    pop = np.array([10.0, 1000.0, 20.0])
    mclp = solve_mclp(cost, pop, k=1, band_s=10)
    assert mclp.objective == 20 and mclp.chosen.tolist() == [1]
    assert mclp.unreachable.tolist() == [1] and mclp.assignment.tolist() == [-1, -1, 1]
    lscp = solve_lscp(cost, pop, band_s=10)
    assert lscp.objective == 2 and lscp.unreachable.tolist() == [1]


def _plain_mclp_mip(cost, pop, k, band, fixed):
    """Independent reference: the textbook MCLP MIP over every demand point, no aggregation."""
    a = (cost <= band).astype(float)
    n_dem, n_cand = a.shape
    matrix = sp.vstack([
        sp.hstack([-sp.csr_matrix(a), sp.identity(n_dem)]),
        sp.csr_matrix(np.concatenate([np.ones(n_cand), np.zeros(n_dem)])[None, :]),
    ])
    lo = np.zeros(n_cand + n_dem)
    lo[fixed] = 1
    res = milp(
        -np.concatenate([np.zeros(n_cand), pop]),
        constraints=[LinearConstraint(matrix, -np.inf, np.concatenate([np.zeros(n_dem), [k]]))],
        integrality=np.concatenate([np.ones(n_cand), np.zeros(n_dem)]),
        bounds=Bounds(lo, 1),
    )
    return round(-res.fun)


@pytest.mark.parametrize("seed", range(4))
def test_mclp_medium_matches_plain_mip(seed):
    """Plane instances where swaps, the Lagrangian bound and the reduced MIP all take part."""
    rng = np.random.default_rng(100 + seed)
    dem = rng.uniform(0, 40_000, size=(400, 2))
    cand = rng.uniform(0, 40_000, size=(80, 2))
    dist = np.hypot(*(dem[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
    cost = np.round(1.3 * dist * rng.uniform(1.0, 1.3, size=dist.shape) / 11.1)
    pop = rng.integers(0, 2_000, size=400).astype(float)
    k, band = 6 + 2 * seed, 900.0
    fixed = [0] if seed % 2 else []
    sol = solve_mclp(_sparse(np.where(cost <= 1800, cost, np.inf)), pop, k=k, band_s=band, fixed=fixed)
    assert sol.objective == _plain_mclp_mip(cost, pop, k, band, fixed)
    assert sol.bound == sol.objective and sol.status == "optimal"
    assert sol.greedy_objective <= sol.objective
    assert pop[(cost[:, sol.chosen] <= band).any(axis=1)].sum() == sol.objective


def test_mip_gap_and_time_limit_are_honoured_honestly():
    rng = np.random.default_rng(7)
    dem = rng.uniform(0, 60_000, size=(1500, 2))
    cand = rng.uniform(0, 60_000, size=(150, 2))
    dist = np.hypot(*(dem[:, None, :] - cand[None, :, :]).transpose(2, 0, 1))
    cost = np.where(dist < 9000, np.round(1.3 * dist / 11.1), np.inf)
    pop = rng.integers(1, 3_000, size=1500).astype(float)
    sol = solve_mclp(cost, pop, k=12, band_s=900, mip_gap=0.05, time_limit_s=20)
    assert sol.gap <= 0.05 and sol.status in ("optimal", "within_gap")
    assert sol.bound >= sol.objective >= sol.greedy_objective
    assert sol.gap == pytest.approx((sol.bound - sol.objective) / sol.objective)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda c, p: solve_mclp(np.where(c == 0, np.nan, c), p, k=1, band_s=5), InputError, "expected seconds"),
        (lambda c, p: solve_mclp(-c - 1, p, k=1, band_s=5), InputError, "demand 0, candidate 0"),
        (lambda c, p: solve_mclp(c, p[:-1], k=1, band_s=5), InputError, "population"),
        (lambda c, p: solve_mclp(c, -p, k=1, band_s=5), InputError, "persons >= 0"),
        (lambda c, p: solve_mclp(c, p, k=1, band_s=5, fixed=[99]), InputError, "fixed"),
        (lambda c, p: solve_mclp(c, p, k=1, band_s=5, fixed=[0, 1]), UsageError, "k=1"),
        (lambda c, p: solve_mclp(c, p, k=2, band_s=-1), UsageError, "band_s"),
        (lambda c, p: solve_pmedian(c, p, k=50), UsageError, "candidates"),
        (lambda c, p: solve_lscp(c, p, band_s=5, mip_gap=2), UsageError, "mip_gap"),
        (lambda c, p: cost_matrix_from_pairs([0], [9], [1.0], (2, 2)), InputError, "candidate index"),
    ],
)
def test_bad_input_is_named(call, error, match):
    cost = np.array([[0.0, 3.0], [4.0, np.inf]])
    with pytest.raises(error, match=match):
        call(cost, np.array([5.0, 6.0]))
