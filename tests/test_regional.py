"""Regional medical centres across counties: county assignment, dependence, counties left outside."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from healthreach.commands.api import analyze
from healthreach.coverage.regional import regional_table
from healthreach.layers.boundaries import assign_counties
from healthreach.config import Settings
from healthreach.layers.project import Project, RoadsSource
from netfixtures import CRS, edge_table, xy

KMH = 3.6


def _boxes(spans: dict[str, tuple[float, float]]) -> gpd.GeoDataFrame:
    """County polygons (WGS84) spanning x ranges (metres from the fixture origin), y from -10 to 10 km."""
    geoms = [shapely.box(*xy([(x0, -10000)])[0], *xy([(x1, 10000)])[0]) for x0, x1 in spans.values()]
    frame = gpd.GeoDataFrame({"name": list(spans), "level": "county"}, geometry=geoms, crs=CRS)
    return frame.to_crs("EPSG:4326")


SPANS = {"甲县": (-1000, 5000), "乙县": (5000, 40000), "丙县": (40000, 60000), "丁县": (60000, 80000)}
# Villages: one in 甲, two in 乙 (one near each centre), one in 丙, one in 丁 with no road nearby.
VILLAGE_XY = [(2000, 0), (8000, 0), (38000, 0), (50000, 0), (70000, 5000)]
POPULATION = [1000, 2000, 500, 300, 100]
# Regional centres: RC1 in 甲 at x = 1,000, RC2 in 丙 at x = 55,000; a township centre in 乙.
FACILITY_XY = [(1000, 0), (55000, 0), (20000, 0)]


def _points(points: list[tuple[float, float]]) -> gpd.GeoSeries:
    return gpd.GeoSeries(gpd.points_from_xy(*xy(points).T), crs=CRS).to_crs("EPSG:4326")


def test_points_are_assigned_to_counties_by_polygon():
    boundaries = _boxes(SPANS)
    got = assign_counties(boundaries, _points([*VILLAGE_XY, (-50000, 0)]), default="项目")
    assert list(got) == ["甲县", "乙县", "乙县", "丙县", "丁县", None]
    # One county polygon (or none, or only townships): the project is the county.
    one = boundaries.iloc[:1]
    assert list(assign_counties(one, _points([(100000, 0)]), default="项目")) == ["项目"]
    assert list(assign_counties(None, _points([(0, 0)]), default="项目")) == ["项目"]
    towns = boundaries.assign(level="township")
    assert list(assign_counties(towns, _points([(2000, 0)]), default="项目")) == ["项目"]


def test_dependence_and_outside_from_hand_set_times():
    villages = pd.DataFrame({
        "population": POPULATION,
        "regional_centre_fid": pd.array(["RC1", "RC1", "RC2", "RC2", None], dtype="string"),
        "regional_centre_time_s": [600.0, 3000.0, 6000.0, 300.0, np.nan],
    })
    facilities = pd.DataFrame({"fid": ["RC1", "RC2"], "name": ["甲县人民医院", "丙县人民医院"]})
    table = regional_table(villages, facilities, Settings(), village_county=["甲县", "乙县", "乙县", "丙县", "丁县"],
                           facility_county=["甲县", "丙县"]).set_index("county")
    b = table.loc["乙县"]
    assert b["population"] == 2500 and b["depends_on"] == "RC1" and b["centre_county"] == "甲县"
    assert b["depends_on_name"] == "甲县人民医院" and b["depends_persons"] == 2000
    assert [b["pop_60min"], b["pop_90min"], b["pop_120min"]] == [2000, 2000, 2500]
    assert b["mean_time_s"] == pytest.approx((2000 * 3000 + 500 * 6000) / 2500)
    assert not b["outside"]
    assert table.loc["丙县", "depends_on"] == "RC2" and table.loc["丙县", "centre_county"] == "丙县"
    d = table.loc["丁县"]
    assert d["outside"] and pd.isna(d["depends_on"]) and d["share_120min"] == 0 and "left outside" in d["note"]
    assert list(table.index) == ["甲县", "乙县", "丙县", "丁县"]  # in the order the villages list them
    assert regional_table(villages.drop(columns=["regional_centre_fid", "regional_centre_time_s"]), facilities,
                          Settings(), village_county=["甲县"] * 5, facility_county=["甲县"] * 2).empty


@pytest.fixture
def two_county_project(tmp_path: Path) -> tuple[Project, gpd.GeoDataFrame]:
    n = len(FACILITY_XY)
    facilities = gpd.GeoDataFrame({
        "fid": ["RC1", "RC2", "T1"], "name": ["甲县人民医院", "丙县人民医院", "乙镇卫生院"],
        "kind": ["county_hospital", "county_hospital", "township_hc"],
        "beds": pd.array([300, 200, 20], dtype="Int64"), "doctors": pd.array([90, 60, 5], dtype="Int64"),
        "nurses": pd.array([100, 70, 4], dtype="Int64"), "ambulances": pd.array([2, 1, 0], dtype="Int64"),
        "township": ["甲镇", "丙镇", "乙镇"], "services": ["regional_centre;stroke", "regional_centre", ""],
        "vid": [""] * n,
    }, geometry=_points(FACILITY_XY).to_numpy(), crs="EPSG:4326")
    villages = gpd.GeoDataFrame({
        "vid": [f"V{i}" for i in range(5)], "name": [f"村{i}" for i in range(5)],
        "population": pd.array(POPULATION, dtype="Int64"), "township": ["甲镇", "乙镇", "乙镇", "丙镇", "丁镇"],
        "setting": ["rural"] * 5, "elderly": pd.array([100, 200, 50, 30, 10], dtype="Int64"),
        "children": pd.array([pd.NA] * 5, dtype="Int64"),
    }, geometry=_points(VILLAGE_XY).to_numpy(), crs="EPSG:4326")
    project = Project(
        name="两县", path=tmp_path / "project.yml", crs=CRS, facilities=facilities, villages=villages,
        boundaries=_boxes(SPANS), roads=RoadsSource(path=tmp_path / "roads.osm", format="osm"),
        parameters={"regional_bands_min": [10, 25]}, inputs={"project": tmp_path / "project.yml"})
    edges = edge_table([[(-1000, 0), (60000, 0)]], highway="secondary")
    return project, edges


def test_two_county_project_end_to_end(two_county_project):
    project, edges = two_county_project
    result = analyze(project, edges=edges)
    villages = result.villages.set_index("vid")
    # Driving 50 km/h on the secondary road; villages and centres sit on it.
    assert villages.at["V1", "regional_centre_fid"] == "RC1"
    assert villages.at["V1", "regional_centre_time_s"] == pytest.approx(7000 / 50 * KMH, abs=0.2)
    assert villages.at["V2", "regional_centre_fid"] == "RC2"
    assert villages.at["V2", "regional_centre_time_s"] == pytest.approx(17000 / 50 * KMH, abs=0.2)
    assert villages.at["V1", "stroke_time_s"] == pytest.approx(7000 / 60 * KMH, abs=0.2)  # ambulance 60 km/h
    table = result.summary["regional"].set_index("county")
    b = table.loc["乙县"]
    # 乙县 depends on 甲县's centre: 2,000 of its 2,500 residents are nearest to RC1 (8.4 min).
    assert b["depends_on"] == "RC1" and b["centre_county"] == "甲县" and b["depends_persons"] == 2000
    assert b["pop_10min"] == 2000 and b["pop_25min"] == 2500 and not b["outside"]
    assert table.loc["丁县", "outside"] and table.loc["丁县", "population"] == 100
    # Rules are split by county; the elderly table and the services table are there too.
    standards = result.standards
    five = standards[standards["rule_id"] == "FIVE-CENTRES"].set_index("scope_id")
    assert five.at["甲县", "value"] == 1 and five.at["丙县", "value"] == 0
    assert {"services", "groups", "regional"} <= set(result.summary)
    groups = result.summary["groups"]
    west = groups[(groups["name"] == "乙县") & (groups["group"] == "elderly")].iloc[0]
    assert west["population"] == 250
