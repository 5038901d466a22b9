"""`healthreach optimize` on the sample county, its answer recomputed through the scenario it writes."""
from __future__ import annotations

from itertools import combinations
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from healthreach._errors import UsageError
from healthreach.layers.roads import read_roads
from healthreach.config import Settings
from healthreach.layers.project import load_project
from healthreach.scenarios import siting
from healthreach.scenarios.scenario import load_scenario
from healthreach.commands import optimize_project, sample_dir

SAMPLE_DIR = sample_dir("county")

PROJECT = SAMPLE_DIR / "project.yml"


@pytest.fixture(scope="module")
def project():
    return load_project(PROJECT)


@pytest.fixture(scope="module")
def edges(project):
    return read_roads(project.roads.path)


def test_mclp_answer_matches_the_scenario_it_writes(tmp_path: Path):
    out = optimize_project(PROJECT, problem="mclp", kind="subcentre", k=2, band_min=30,
                           candidates="existing:township_hc", out=tmp_path / "opt")
    table = pd.read_csv(out / "optimize.csv", encoding="utf-8-sig")
    scenario = load_scenario(out / "optimized.yml")
    assert len(scenario.changes) == 2 and all(c.kind == "subcentre" for c in scenario.changes)
    assert set(table["fid"]) == {c.fid for c in scenario.changes}
    assert (table["gap"] == 0).all() and (table["objective"] >= table["greedy_objective"]).all()
    # Recompute: the scenario's village access puts exactly the objective within 30 minutes.
    villages = gpd.read_file(out / "scenario_optimized-mclp-subcentre" / "villages.gpkg", layer="villages")
    covered = villages.loc[villages["subcentre_time_s"] <= 1800, "population"].sum()
    assert covered == table["objective"].iat[0]
    # No chosen site lies in the county-seat township (SUBCENTRE-CRITERIA).
    facilities = gpd.read_file(SAMPLE_DIR / "facilities.gpkg").set_index("fid")
    assert "城关镇" not in set(facilities.loc[table["fid"], "township"])


def _dense(cost) -> np.ndarray:
    """A sparse siting cost matrix as dense seconds, inf where no pair is stored."""
    out = np.full(cost.shape, np.inf)
    pairs = cost.tocoo()
    out[pairs.row, pairs.col] = pairs.data
    return out


def _costs(project, edges, sites, kind, limit_s):
    nets = siting.siting_networks(project, edges, sites, kind, Settings())
    return siting.cost_matrix(nets, kind, limit_s)


def test_mclp_is_the_best_pair_by_enumeration(project, edges):
    settings = Settings()
    sites = siting.candidate_sites(project, "existing:township_hc", "subcentre", settings)
    cost = _dense(_costs(project, edges, sites, "subcentre", 1800.0))
    pop = project.villages["population"].to_numpy(dtype=float)
    covered = cost <= 1800.0
    best = max(pop[covered[:, list(pair)].any(axis=1)].sum() for pair in combinations(range(cost.shape[1]), 2))
    solution = siting.solve("mclp", cost, pop, k=2, band_s=1800.0, fixed=sites.points["fixed"].to_numpy(),
                            time_limit_s=30)
    assert solution.objective == best


def test_ems_sites_keep_existing_bases_fixed(project, edges):
    settings = Settings()
    sites = siting.candidate_sites(project, "villages", "ems_station", settings)
    fixed = sites.points["fixed"].to_numpy()
    assert fixed.sum() == (project.facilities["ambulances"].fillna(0) > 0).sum()
    cost = _dense(_costs(project, edges, sites, "ems_station", 900.0))
    pop = project.villages["population"].to_numpy(dtype=float)
    solution = siting.solve("lscp", cost, pop, k=None, band_s=900.0, fixed=fixed, time_limit_s=30)
    assert set(np.flatnonzero(fixed)) <= set(solution.chosen)
    reach = cost[:, solution.chosen].min(axis=1) <= 900.0
    coverable = (cost <= 900.0).any(axis=1) & (pop > 0)
    assert reach[coverable].all()  # set covering covers everyone who can be covered


def test_grid_candidates_and_pmedian_run(project, edges):
    settings = Settings()
    sites = siting.candidate_sites(project, "grid:5000", "township_hc", settings)
    assert (~sites.points["fixed"]).sum() > 40
    cost = _dense(_costs(project, edges, sites, "township_hc", np.inf))
    pop = project.villages["population"].to_numpy(dtype=float)
    solution = siting.solve("pmedian", cost, pop, k=1, band_s=0, fixed=sites.points["fixed"].to_numpy(),
                            time_limit_s=30)
    before = cost[:, sites.points["fixed"].to_numpy()].min(axis=1)
    after = cost[:, solution.chosen].min(axis=1)
    ok = np.isfinite(before)
    assert (after[ok] <= before[ok] + 1e-9).all()  # a new site never lengthens anyone's time


def test_bad_requests_are_usage_errors(project):
    with pytest.raises(UsageError, match="unknown kind"):
        siting.candidate_sites(project, "existing:医院X", "subcentre", Settings())
    with pytest.raises(UsageError, match="grid"):
        siting.candidate_sites(project, "grid:abc", "subcentre", Settings())
    with pytest.raises(UsageError, match="file not found"):
        siting.candidate_sites(project, "nope.csv", "subcentre", Settings())
    with pytest.raises(UsageError, match="--k"):
        siting.solve("mclp", np.zeros((2, 2)), np.ones(2), k=None, band_s=1, fixed=np.zeros(2, bool),
                     time_limit_s=1)


def test_min_time_from_seat_drops_near_candidates(project, edges):
    settings = Settings()
    sites = siting.candidate_sites(project, "existing:township_hc", "subcentre", settings)
    nets = siting.siting_networks(project, edges, sites, "subcentre", settings)
    far = siting.far_from_seat(nets, sites, 20 * 60.0)
    kept = set(far.points.loc[~far.points["fixed"], "fid"])
    assert kept and kept < set(sites.points.loc[~sites.points["fixed"], "fid"])
    # Independently: the referral table's hospital times say which centres are 20+ minutes out.
    from healthreach.commands.api import analyze

    referral = analyze(project, edges=edges).summary["referral"].set_index("fid")
    far_enough = {fid for fid in sites.points.loc[~sites.points["fixed"], "fid"]
                  if referral.at[fid, "hospital_time_s"] >= 1200}
    assert kept == far_enough
    with pytest.raises(UsageError, match="no candidate"):
        siting.far_from_seat(nets, sites, 10 * 3600.0)


def test_radiated_demand_counts_only_residents_far_from_hospitals(project, edges):
    from healthreach.commands.api import analyze

    settings = Settings()
    sites = siting.candidate_sites(project, "existing:township_hc", "subcentre", settings)
    nets = siting.siting_networks(project, edges, sites, "subcentre", settings)
    weights = siting.demand_weights(project, nets, "radiated:30")
    hospital = analyze(project, edges=edges).villages["hospital_time_s"].to_numpy(dtype=float)
    far = ~(hospital <= 1800)  # NaN (unreachable) counts as far
    pop = project.villages["population"].to_numpy(dtype=float)
    np.testing.assert_array_equal(weights, np.where(far, pop, 0.0))
    assert 0 < weights.sum() < pop.sum()
    np.testing.assert_array_equal(siting.demand_weights(project, nets, "population"), pop)
    with pytest.raises(UsageError, match="radiated"):
        siting.demand_weights(project, nets, "remote")
