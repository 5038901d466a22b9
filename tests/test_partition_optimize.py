"""Siting per county (`optimize --per-county`) on the three-county province, checked by brute force."""
from __future__ import annotations

import dataclasses

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
import yaml
from test_partition import COUNTIES, _write_province

from healthreach.coverage.access import tier_mask
from healthreach.coverage.network import build_network
from healthreach.layers.roads import read_project_roads
from healthreach.config import settings_from_parameters
from healthreach.coverage.traveltime import bounded_costs, nearest
from healthreach.layers.crs import metric_xy
from healthreach.layers.project import load_project
from healthreach.commands import optimize_project
from healthreach.config import Execution, RunConfig, SolverOptions
from healthreach.scenarios.site import SitingJob, site

BAND_MIN = 8.0
JOB = SitingJob(problem="mclp", kind="ems_station", k=1, band_min=BAND_MIN, candidates="villages")


def site_per_county(project, edges, settings, job, *, parts_dir, workers=None):
    config = RunConfig(settings=settings, execution=Execution(workers=workers), solver=SolverOptions(time_limit_s=30.0))
    return site(project, edges, config, job, per_county=True, parts_dir=parts_dir)


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    folder = tmp_path_factory.mktemp("province")
    project = load_project(_write_province(folder))
    return project, read_project_roads(project), settings_from_parameters(project.parameters)


@pytest.fixture(scope="module")
def in_process(province, tmp_path_factory):
    project, edges, settings = province
    return site_per_county(project, edges, settings, JOB, parts_dir=tmp_path_factory.mktemp("parts"))


def _county_of(project, geoms) -> np.ndarray:
    counties = project.boundaries[project.boundaries["level"] == "county"].to_crs("EPSG:4326")
    inside = np.array([[shapely.covers(c, g) for c in counties.geometry] for g in geoms])
    return counties["name"].to_numpy()[inside.argmax(axis=1)]


def test_each_county_gets_k_sites_inside_it(province, in_process):
    project, _, _ = province
    changes, table = in_process
    added = [c["add"] for c in changes]
    assert len(added) == len(COUNTIES) and len({a["fid"] for a in added}) == len(added)
    where = _county_of(project, [shapely.Point(a["lon"], a["lat"]) for a in added])
    assert sorted(where) == sorted(COUNTIES)
    for a, county in zip(added, where):
        assert county in table.loc[~table["fixed"], "county"].tolist()
        assert a["fid"].startswith("OPT-")
    assert set(table["county"]) == set(COUNTIES)


def test_each_county_objective_equals_brute_force(province, in_process):
    project, edges, settings = province
    _, table = in_process
    villages, facilities = project.villages, project.facilities
    home = _county_of(project, villages.geometry)
    existing = np.flatnonzero(tier_mask(facilities, "ems"))
    pop = villages["population"].to_numpy(dtype=float)
    band = BAND_MIN * 60.0
    for county in COUNTIES:
        own = np.flatnonzero(home == county)
        # Every own village as the one new station, added to the existing ones: the best coverage.
        xy = np.vstack([metric_xy(villages.geometry, project.crs), metric_xy(facilities.geometry, project.crs)])
        net = build_network(edges, "ambulance", settings, project.crs, xy)
        nv = len(villages)
        base = nearest(net, net.point_node[nv + existing], toward=False).cost[net.point_node[own]]
        best = 0.0
        for c in own:
            new = nearest(net, net.point_node[[c]], toward=False).cost[net.point_node[own]]
            best = max(best, pop[own][np.minimum(base, new) <= band + 1e-6].sum())
        reported = table.loc[table["county"] == county, "objective"].iloc[0]
        assert reported == pytest.approx(best)


def test_dask_workers_choose_the_same_sites(province, in_process, tmp_path):
    project, edges, settings = province
    changes, table = site_per_county(project, edges, settings, JOB, parts_dir=tmp_path / "parts", workers=2)
    assert changes == in_process[0]
    pd.testing.assert_frame_equal(table.drop(columns=["solve_s"]), in_process[1].drop(columns=["solve_s"]))
    assert len(list((tmp_path / "parts").glob("*.pkl"))) == len(COUNTIES)


def test_a_county_without_candidates_is_reported_not_fatal(province, tmp_path):
    project, edges, settings = province
    sites = project.villages[project.villages["vid"].str.startswith(("V0", "V1"))]  # west and middle only
    path = tmp_path / "sites.geojson"
    gpd.GeoDataFrame({"name": sites["name"].to_numpy()}, geometry=sites.geometry.to_numpy(),
                     crs="EPSG:4326").to_file(path)
    job = dataclasses.replace(JOB, candidates=str(path))
    changes, table = site_per_county(project, edges, settings, job, parts_dir=tmp_path / "parts")
    assert len(changes) == 2
    east = table[table["county"] == COUNTIES[2]]
    assert list(east["note"]) == ["no candidate site in the county"]


def test_optimize_per_county_writes_one_scenario_and_compares_it(province, tmp_path):
    project, _, _ = province
    out = optimize_project(project.path, problem="lscp", kind="ems_station", k=None, band_min=12.0,
                           candidates="villages", out=tmp_path / "out", per_county=True)
    document = yaml.safe_load((out / "optimized.yml").read_text(encoding="utf-8"))
    assert document["name"] == "optimized-lscp-ems-station-per-county"
    table = pd.read_csv(out / "optimize.csv", encoding="utf-8-sig")
    assert set(table["county"]) == set(COUNTIES) and set(table["problem"]) == {"lscp"}
    compared = pd.read_csv(out / "compare.csv", encoding="utf-8-sig")
    assert len(compared) and (out / "scenario_optimized-lscp-ems-station-per-county.html").is_file()
    # Set covering per county: afterwards every village that a station at one of its county's villages
    # could reach within 12 minutes is reached within 12 minutes (recomputed on the whole network).
    after = gpd.read_file(out / "scenario_optimized-lscp-ems-station-per-county" / "villages.gpkg")
    villages = project.villages
    edges = read_project_roads(project)
    xy = metric_xy(villages.geometry, project.crs)
    # A station at a village is a point of its own there (it joins the road as the village does).
    net = build_network(edges, "ambulance", settings_from_parameters(None), project.crs, np.vstack([xy, xy]))
    nv = len(villages)
    reach = bounded_costs(net, net.point_node[nv:], 12 * 60.0, toward=False)[:, net.point_node[:nv]]
    home = _county_of(project, villages.geometry)
    coverable = np.array([np.any(reach[home == home[v], v] <= 12 * 60 + 1e-6) for v in range(len(villages))])
    assert 0 < coverable.sum() < len(villages)  # villages far from the grid cannot be reached in time
    assert (after["vid"] == villages["vid"]).all()
    assert (after["ems_time_s"].to_numpy()[coverable] <= 12 * 60 + 1e-6).all()
