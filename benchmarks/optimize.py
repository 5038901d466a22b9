"""Benchmark the siting solvers on a county and a province instance (synthetic, seeded).

Points lie in a plane, clustered around towns as villages are; travel time is a network-like
distance (1.3 x straight line, times a per-pair detour factor) at a rural driving speed. Prints wall
time, objective, bound, gap, peak RSS and greedy against the solution. Run:

    .venv/bin/python benchmarks/optimize.py [--only county|province]
"""
from __future__ import annotations

import argparse
import logging
import resource
import time

import numpy as np
from scipy.spatial import cKDTree

from healthreach.scenarios.optimize import (
    Solution,
    cost_matrix_from_pairs,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)

SPEED_MS = 40 / 3.6  # rural driving speed, metres per second


def _points(rng: np.random.Generator, n: int, side_m: float, n_towns: int) -> np.ndarray:
    """Villages clustered around towns: 70 % near a town, the rest scattered (metres)."""
    towns = rng.uniform(0, side_m, size=(n_towns, 2))
    near = rng.random(n) < 0.7
    pts = rng.uniform(0, side_m, size=(n, 2))
    which = rng.integers(0, n_towns, size=n)
    pts[near] = towns[which[near]] + rng.normal(0, side_m / n_towns**0.5 / 4, size=(int(near.sum()), 2))
    return np.clip(pts, 0, side_m)


def instance(seed: int, n_dem: int, n_cand: int, side_m: float, limit_s: float, n_towns: int):
    """(sparse cost matrix in seconds, population in persons) with pairs up to ``limit_s`` stored."""
    rng = np.random.default_rng(seed)
    dem = _points(rng, n_dem, side_m, n_towns)
    cand = dem[rng.choice(n_dem, size=n_cand, replace=False)] if n_cand <= n_dem else _points(
        rng, n_cand, side_m, n_towns)
    pop = np.round(rng.lognormal(mean=6.0, sigma=0.8, size=n_dem)).astype(float)
    # Pairs whose detoured time could reach the limit: straight line at most limit*speed/1.3.
    radius = limit_s * SPEED_MS / 1.3
    coo = cKDTree(dem).sparse_distance_matrix(cKDTree(cand), radius, output_type="coo_matrix")
    detour = rng.uniform(1.0, 1.4, size=coo.nnz)
    seconds = np.round(1.3 * coo.data * detour / SPEED_MS)
    keep = seconds <= limit_s
    cost = cost_matrix_from_pairs(coo.row[keep], coo.col[keep], seconds[keep], (n_dem, n_cand))
    return cost, pop


def report(name: str, sol: Solution) -> None:
    rss_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2
    if sol.problem == "mclp":
        greedy = f"greedy {sol.greedy_objective:,.0f} ({sol.objective / max(sol.greedy_objective, 1) - 1:+.2%})"
    else:
        greedy = f"greedy {sol.greedy_objective:,.0f} ({sol.greedy_objective / max(sol.objective, 1) - 1:+.2%})"
    print(f"{name:<34} {sol.solve_s:7.2f} s  obj {sol.objective:>16,.0f}  bound {sol.bound:>16,.1f}  "
          f"gap {sol.gap:.4%}  {sol.status:<10}  {greedy}  peak RSS {rss_gb:.2f} GB", flush=True)


def county() -> None:
    cost, pop = instance(1, 200, 200, 41_000, 3600, 9)
    # The network engine may hand over a dense matrix: np.inf where unreachable.
    dense = np.full(cost.shape, np.inf)
    coo = cost.tocoo()
    dense[coo.row, coo.col] = coo.data
    print(f"county: 200 x 200, {cost.nnz} pairs within 60 min, population {pop.sum():,.0f}")
    for k in (3, 5, 10):
        report(f"county mclp k={k} band=15min", solve_mclp(cost, pop, k=k, band_s=900))
    report("county lscp band=15min", solve_lscp(cost, pop, band_s=900))
    report("county pmedian k=10 (dense input)", solve_pmedian(dense, pop, k=10))
    report("county pmedian k=20 (dense input)", solve_pmedian(dense, pop, k=20))


def province() -> None:
    t = time.perf_counter()
    cost, pop = instance(2, 25_000, 1_400, 290_000, 1800, 600)
    per = cost.getnnz(axis=1)
    print(f"province: 25,000 x 1,400, {cost.nnz:,} pairs within 30 min "
          f"(mean {per.mean():.1f} candidates per demand point, {np.mean(per == 0):.1%} with none), "
          f"population {pop.sum():,.0f}; built in {time.perf_counter() - t:.1f} s")
    report("province mclp k=100 band=30min", solve_mclp(cost, pop, k=100, band_s=1800, time_limit_s=60))
    report("province mclp k=100 gap 1%", solve_mclp(cost, pop, k=100, band_s=1800, mip_gap=0.01))
    report("province mclp k=300 band=30min", solve_mclp(cost, pop, k=300, band_s=1800, time_limit_s=60))
    report("province lscp band=30min", solve_lscp(cost, pop, band_s=1800, time_limit_s=60))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--only", choices=["county", "province"])
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING)
    if args.only in (None, "county"):
        county()
    if args.only in (None, "province"):
        province()


if __name__ == "__main__":
    main()
