"""Scenario files: loading with line-numbered errors, applying to projects and roads, comparing results."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import pytest
import shapely

from healthreach._errors import InputError
from healthreach.layers.crs import gcj02_to_wgs84, wgs84_to_gcj02
from healthreach.layers.project import Project, RoadsSource
from healthreach.scenarios.compare import compare_tables, standards_changes, village_deltas, weighted_p95
from healthreach.scenarios.apply import apply_to_project, apply_to_roads
from healthreach.scenarios.scenario import (
    AddFacility,
    AddRoad,
    RemoveFacility,
    RoadSpeed,
    SetAttributes,
    SetKind,
    load_scenario,
)

DATA = (Path(__file__).parent / "data" / "scenarios").absolute()
GEOD = pyproj.Geod(ellps="WGS84")


# --------------------------------------------------------------------------- fixtures


def _facilities() -> gpd.GeoDataFrame:
    frame = pd.DataFrame({
        "fid": ["H1", "THC1", "VC1"],
        "name": ["县人民医院", "老营镇卫生院", "村卫生室"],
        "kind": ["county_hospital", "township_hc", "village_clinic"],
        "beds": pd.array([300, 30, pd.NA], dtype="Int64"),
        "doctors": pd.array([80, 6, 1], dtype="Int64"),
        "nurses": pd.array([120, 8, pd.NA], dtype="Int64"),
        "ambulances": pd.array([4, 0, pd.NA], dtype="Int64"),
        "township": ["城关镇", "老营镇", "老营镇"],
        "services": ["stroke;chest_pain", "", ""],
        "vid": ["", "", "V2"],
    })
    geometry = shapely.points([[111.50, 39.43], [111.61, 39.41], [111.63, 39.42]])
    return gpd.GeoDataFrame(frame, geometry=geometry, crs="EPSG:4326")


@pytest.fixture
def project(tmp_path: Path) -> Project:
    villages = gpd.GeoDataFrame(
        {"vid": ["V1"], "name": ["老营村"], "population": pd.array([500], dtype="Int64"), "township": ["老营镇"],
         "setting": ["rural"], "elderly": pd.array([pd.NA], dtype="Int64"), "children": pd.array([pd.NA], dtype="Int64")},
        geometry=shapely.points([[111.62, 39.40]]), crs="EPSG:4326",
    )
    boundaries = gpd.GeoDataFrame(
        {"name": ["老营镇"], "level": ["township"]},
        geometry=[shapely.box(111.55, 39.35, 111.70, 39.45)], crs="EPSG:4326",
    )
    return Project(
        name="test", path=tmp_path / "project.yml", crs="EPSG:4546", facilities=_facilities(), villages=villages,
        boundaries=boundaries, roads=RoadsSource(path=tmp_path / "roads.osm", format="osm"), parameters={},
        inputs={"project": tmp_path / "project.yml"},
    )


def _edges() -> gpd.GeoDataFrame:
    """A 3 x 3 grid of nodes 0.01 degrees apart west of 111.62, track roads east of 111.61."""
    nodes = {i * 3 + j: (111.60 + 0.01 * j, 39.50 + 0.01 * i) for i in range(3) for j in range(3)}
    pairs = [(a, a + 1) for a in nodes if a % 3 < 2] + [(a, a + 3) for a in nodes if a < 6]
    highway = ["track" if nodes[u][0] >= 111.61 and nodes[v][0] >= 111.61 else "secondary" for u, v in pairs]
    lines = [shapely.LineString([nodes[u], nodes[v]]) for u, v in pairs]
    return gpd.GeoDataFrame({
        "u": np.array([u for u, _ in pairs], dtype=np.int64), "v": np.array([v for _, v in pairs], dtype=np.int64),
        "highway": highway, "name": [""] * len(pairs), "maxspeed_kmh": np.full(len(pairs), np.nan),
        "oneway": np.zeros(len(pairs), dtype=bool), "length_m": [GEOD.geometry_length(g) for g in lines],
    }, geometry=lines, crs="EPSG:4326")


# --------------------------------------------------------------------------- loading: good files


def test_extends_chain_applies_changes_oldest_first() -> None:
    scenario = load_scenario(DATA / "good_grandchild.yml")
    assert scenario.name == "grandchild" and scenario.title == "道路改善"
    assert [type(c) for c in scenario.changes] == [
        AddFacility, SetKind, SetAttributes, RemoveFacility, RoadSpeed, AddRoad, SetKind]
    assert [c.source.name for c in scenario.changes] == ["good_base.yml"] * 2 + ["good_child.yml"] * 2 + [
        "good_grandchild.yml"] * 3
    assert [c.line for c in scenario.changes] == [4, 5, 5, 6, 5, 6, 7]
    # base is inherited from the chain when the leaf names none
    assert scenario.base == (DATA / "project_stub.yml").absolute()
    add = scenario.changes[0]
    assert add.kind == "township_hc"  # from the Chinese label 乡镇卫生院
    assert dict(add.attrs) == {"beds": 20, "services": "fever_clinic"}
    assert scenario.changes[4].within == DATA / "area.geojson"
    assert scenario.changes[6].action == "downgrade"


def test_title_defaults_to_name() -> None:
    assert load_scenario(DATA / "good_child.yml").title == "child_step"


def test_extends_cycle_is_reported() -> None:
    with pytest.raises(InputError) as info:
        load_scenario(DATA / "cycle_a.yml")
    a, b = DATA / "cycle_a.yml", DATA / "cycle_b.yml"
    assert f"{b}:2: extends: cycle {a} -> {b} -> {a}" in str(info.value)


# --------------------------------------------------------------------------- loading: one mistake per file

BAD = [
    ("bad_change_type.yml", 4, "changes[1]", "unknown change type 'build'"),
    ("bad_missing_fid.yml", 4, "upgrade.fid", "missing"),
    ("bad_unknown_kind.yml", 6, "add.kind", "unknown kind 'super_hospital'"),
    ("bad_lon_missing.yml", 3, "add.lon", "missing"),
    ("bad_lat_range.yml", 8, "add.lat", "95 is out of range"),
    ("bad_lon_text.yml", 7, "add.lon", "'111.6E' is not a number"),
    ("bad_crs.yml", 9, "add.crs", "unknown coordinate system 'mars2000'"),
    ("bad_crs_projected.yml", 9, "add.crs", "'EPSG:4546' is not in degrees"),
    ("bad_negative_beds.yml", 5, "set.beds", "-5 is not a count"),
    ("bad_negative_ambulances.yml", 9, "add.ambulances", "-1 is not a count"),
    ("bad_name.yml", 2, "name", "'老营 upgrade' has other characters"),
    ("bad_speed.yml", 5, "road_speed.speed_kmh", "0 is not above 0"),
    ("bad_road_point.yml", 4, "add_road.from", "[111.6] is not a pair"),
    ("bad_road_class.yml", 6, "add_road.class", "unknown road class 'superhighway'"),
    ("bad_within.yml", 6, "road_speed.within", f"file {DATA / 'nowhere.geojson'} does not exist"),
    ("bad_unknown_field.yml", 5, "set.bed", "unknown field"),
    ("bad_extends_missing.yml", 3, "extends", f"file {DATA / 'missing.yml'} does not exist"),
    ("bad_yaml.yml", 4, "YAML", "expected ',' or '}'"),
]


@pytest.mark.parametrize(("filename", "line", "field", "problem"), BAD)
def test_each_mistake_names_file_line_and_field(filename: str, line: int, field: str, problem: str) -> None:
    with pytest.raises(InputError) as info:
        load_scenario(DATA / filename)
    lines = str(info.value).splitlines()[1:]
    assert len(lines) == 1, lines
    assert lines[0].startswith(f"{DATA / filename}:{line}: {field}: {problem}")
    assert "expected" in lines[0]


def test_every_mistake_is_collected_in_one_error() -> None:
    with pytest.raises(InputError) as info:
        load_scenario(DATA / "bad_many.yml")
    path = DATA / "bad_many.yml"
    lines = str(info.value).splitlines()[1:]
    assert [line.split(": ")[0] + ": " + line.split(": ")[1] for line in lines] == [
        f"{path}:3: upgrade.kind", f"{path}:4: road_speed.speed_kmh", f"{path}:5: add.lon", f"{path}:1: name"]


def test_mistakes_of_an_extended_file_are_reported_with_its_own_name() -> None:
    with pytest.raises(InputError) as info:
        load_scenario(DATA / "bad_child_of_bad.yml")
    text = str(info.value)
    assert f"{DATA / 'bad_speed.yml'}:5: road_speed.speed_kmh" in text
    assert f"{DATA / 'bad_child_of_bad.yml'}:4: remove.fid: missing" in text


def test_missing_scenario_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="scenario file not found"):
        load_scenario(tmp_path / "none.yml")


# --------------------------------------------------------------------------- applying to a project


def _frames_equal(a: gpd.GeoDataFrame, b: gpd.GeoDataFrame) -> None:
    pd.testing.assert_frame_equal(pd.DataFrame(a.drop(columns="geometry")), pd.DataFrame(b.drop(columns="geometry")))
    assert a.geometry.geom_equals(b.geometry).all()


def test_apply_never_mutates_the_project(project: Project) -> None:
    before = project.facilities.copy()
    villages_before = project.villages.copy()
    result = apply_to_project(project, load_scenario(DATA / "good_grandchild.yml"))
    _frames_equal(project.facilities, before)
    _frames_equal(project.villages, villages_before)
    assert result is not project and result.villages is project.villages
    assert list(result.facilities["fid"]) == ["H1", "THC1", "NEW1"]
    assert list(result.facilities.index) == [0, 1, 2]


def test_upgrade_changes_only_the_kind_of_that_fid(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "up.yml"
    path.write_text("name: up\nchanges:\n  - upgrade: {fid: THC1, kind: 中心卫生院}\n", encoding="utf-8")
    after = apply_to_project(project, load_scenario(path)).facilities
    before = project.facilities
    assert after.loc[1, "kind"] == "subcentre"
    expected = before.copy()
    expected.loc[1, "kind"] = "subcentre"
    _frames_equal(after, expected)


def test_add_set_remove_in_order(project: Project) -> None:
    after = apply_to_project(project, load_scenario(DATA / "good_child.yml")).facilities
    assert list(after["fid"]) == ["H1", "THC1", "NEW1"]
    thc, new = after.iloc[1], after.iloc[2]
    assert thc["kind"] == "subcentre" and thc["ambulances"] == 2 and thc["township"] == "老营镇"
    assert new["beds"] == 20 and pd.isna(new["ambulances"]) and new["services"] == "fever_clinic"
    # township taken from the boundary polygon that contains the new point
    assert new["township"] == "老营镇"
    assert (new.geometry.x, new.geometry.y) == (111.62, 39.41)
    assert after["beds"].dtype == project.facilities["beds"].dtype


def test_gcj02_add_is_converted_to_wgs84(project: Project) -> None:
    added = apply_to_project(project, load_scenario(DATA / "gcj_add.yml")).facilities.iloc[-1]
    lon, lat = added.geometry.x, added.geometry.y
    back_lon, back_lat = wgs84_to_gcj02(np.array([lon]), np.array([lat]))
    assert abs(back_lon[0] - 111.62) < 1e-6 and abs(back_lat[0] - 39.41) < 1e-6
    _, _, shift = GEOD.inv(111.62, 39.41, lon, lat)
    assert 300 < shift < 700  # the GCJ-02 offset in Shanxi (standards.md: 478-641 m)
    expected = gcj02_to_wgs84(np.array([111.62]), np.array([39.41]))
    assert np.allclose([lon, lat], [expected[0][0], expected[1][0]])


@pytest.mark.parametrize(("yaml_text", "field"), [
    ("  - upgrade: {fid: NOPE, kind: subcentre}\n", "upgrade.fid"),
    ("  - remove: {fid: NOPE}\n", "remove.fid"),
    ("  - set: {fid: NOPE, beds: 3}\n", "set.fid"),
    ("  - add: {fid: H1, name: x, kind: ems_station, lon: 111.6, lat: 39.4}\n", "add.fid"),
    ("  - remove: {fid: VC1}\n  - set: {fid: VC1, beds: 3}\n", "set.fid"),
])
def test_unknown_or_duplicate_fid_names_file_and_line(project: Project, tmp_path: Path, yaml_text: str, field: str) -> None:
    path = tmp_path / "s.yml"
    path.write_text("name: s\nchanges:\n" + yaml_text, encoding="utf-8")
    line = 2 + yaml_text.count("\n")
    with pytest.raises(InputError) as info:
        apply_to_project(project, load_scenario(path))
    assert str(info.value).startswith(f"{path}:{line}: {field}: ")


# --------------------------------------------------------------------------- applying to roads


def test_road_speed_within_polygon_and_add_road(tmp_path: Path) -> None:
    edges = _edges()
    before = edges.copy()
    out = apply_to_roads(edges, load_scenario(DATA / "good_grandchild.yml"))
    pd.testing.assert_frame_equal(pd.DataFrame(edges), pd.DataFrame(before))
    assert len(out) == len(edges) + 1
    area = shapely.box(111.605, 39.49, 111.63, 39.53)
    old = out.iloc[: len(edges)]
    expected = (old["highway"] == "track") & old.geometry.intersects(area)
    assert expected.any() and (~expected & (old["highway"] == "track")).sum() == 0
    assert (old.loc[expected, "maxspeed_kmh"] == 25).all() and old.loc[~expected, "maxspeed_kmh"].isna().all()
    new = out.iloc[-1]
    # nearest nodes of (111.6001, 39.5001) and (111.6199, 39.5199): node 0 and node 8
    assert (new["u"], new["v"], new["highway"], bool(new["oneway"])) == (0, 8, "tertiary", False)
    assert np.allclose(shapely.get_coordinates(new.geometry), [(111.60, 39.50), (111.62, 39.52)], atol=1e-12)
    _, _, direct = GEOD.inv(111.60, 39.50, 111.62, 39.52)
    assert new["length_m"] == pytest.approx(direct, rel=1e-6)
    assert out["u"].dtype == np.int64 and out["oneway"].dtype == bool


def test_road_speed_without_area_sets_every_edge_of_the_class_and_its_links(tmp_path: Path) -> None:
    edges = _edges()
    edges.loc[0, "highway"] = "secondary_link"
    path = tmp_path / "r.yml"
    path.write_text("name: r\nchanges:\n  - road_speed: {class: secondary, speed_kmh: 70}\n", encoding="utf-8")
    out = apply_to_roads(edges, load_scenario(path))
    secondary = edges["highway"].isin(["secondary", "secondary_link"])
    assert (out.loc[secondary, "maxspeed_kmh"] == 70).all()
    assert out.loc[~secondary, "maxspeed_kmh"].isna().all()


def test_add_road_onto_one_node_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "r.yml"
    path.write_text("name: r\nchanges:\n  - add_road: {from: [111.6, 39.5], to: [111.6001, 39.5001], class: track}\n",
                    encoding="utf-8")
    with pytest.raises(InputError, match=f"^{path}:3: add_road: both ends join the same road node 0"):
        apply_to_roads(_edges(), load_scenario(path))


# --------------------------------------------------------------------------- comparing


def _villages(times_s: list[float], fids: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame({
        "vid": ["V1", "V2", "V3", "V4"], "name": ["甲", "乙", "丙", "丁"],
        "population": pd.array([100, 200, 300, 400], dtype="Int64"), "township": ["A", "A", "B", "B"],
        "setting": ["rural"] * 4, "township_fid": fids, "township_time_s": times_s,
        "township_dist_m": [t * 10 for t in times_s],
    })


BASE = _villages([600, 2400, np.nan, 1200], ["T1", "T2", None, "T1"])  # 10, 40, -, 20 minutes
SCEN = _villages([600, 1500, 3000, 600], ["T1", "N1", "N1", "N1"])  # 10, 25, 50, 10 minutes


def test_compare_tables_hand_computed() -> None:
    table = compare_tables(BASE, SCEN, scenario_name="s", bands_min=(15, 30))
    assert list(table["scope"] + ":" + table["scope_name"]) == ["county:", "county:", "township:A", "township:A",
                                                                 "township:B", "township:B"]
    county = table[table["scope"] == "county"].set_index("band_min")
    assert county.loc[15, ["pop_before", "pop_after", "pop_gain"]].tolist() == [100, 500, 400]
    assert county.loc[30, ["pop_before", "pop_after", "pop_gain"]].tolist() == [500, 700, 200]
    assert (county["pop_total"] == 1000).all()
    # means over reachable villages, population-weighted (minutes)
    assert county.loc[15, "mean_min_before"] == pytest.approx((100 * 10 + 200 * 40 + 400 * 20) / 700)
    assert county.loc[15, "mean_min_after"] == pytest.approx((100 * 10 + 200 * 25 + 300 * 50 + 400 * 10) / 1000)
    # p95: before, weights sorted by time 10:100, 20:400, 40:200 -> 95 % of 700 = 665 reached at 40
    assert county.loc[15, "p95_min_before"] == 40
    assert county.loc[15, "p95_min_after"] == 50
    b = table[(table["scope_name"] == "B") & (table["band_min"] == 15)].iloc[0]
    assert (b["pop_before"], b["pop_after"], b["mean_min_before"]) == (0, 400, 20)


def test_identical_tables_give_zero_gain_everywhere() -> None:
    table = compare_tables(BASE, BASE.iloc[::-1].copy(), scenario_name="same")
    assert len(table) == 3 * 4 and (table["pop_gain"] == 0).all()
    pd.testing.assert_series_equal(table["mean_min_before"], table["mean_min_after"], check_names=False)
    pd.testing.assert_series_equal(table["p95_min_before"], table["p95_min_after"], check_names=False)


def test_compare_does_not_modify_its_inputs() -> None:
    base, scen = BASE.copy(), SCEN.copy()
    compare_tables(base, scen, scenario_name="s")
    village_deltas(base, scen)
    pd.testing.assert_frame_equal(base, BASE)
    pd.testing.assert_frame_equal(scen, SCEN)


def test_weighted_p95_matches_expanded_sample() -> None:
    rng = np.random.default_rng(7)
    times = rng.uniform(0, 100, 30)
    weights = rng.integers(0, 20, 30).astype(float)
    expanded = np.repeat(times, weights.astype(int))
    # the inverted-CDF percentile of the sample with each village repeated once per resident
    assert weighted_p95(times, weights) == np.percentile(expanded, 95, method="inverted_cdf")
    assert np.isnan(weighted_p95(np.array([np.nan, 5.0]), np.array([10.0, 0.0])))


def test_village_deltas_flags() -> None:
    deltas = village_deltas(BASE, SCEN).set_index("vid")
    assert deltas.loc["V2", "saved_s"] == 900 and deltas.loc["V2", "fid_after"] == "N1"
    assert bool(deltas.loc["V3", "became_reachable"]) and np.isnan(deltas.loc["V3", "saved_s"])
    assert deltas["became_unreachable"].sum() == 0
    back = village_deltas(SCEN, BASE).set_index("vid")
    assert bool(back.loc["V3", "became_unreachable"]) and back.loc["V2", "saved_s"] == -900


def test_compare_rejects_tables_of_different_villages() -> None:
    with pytest.raises(InputError, match="differ in vid"):
        compare_tables(BASE, SCEN.iloc[:3], scenario_name="s")


def test_standards_changes_only_rows_whose_verdict_changed() -> None:
    keys = {"rule_id": ["THC-PER-TOWNSHIP", "THC-PER-TOWNSHIP", "SUBCENTRE-COUNT", "EMS-AMB-POP"],
            "scope": ["township", "township", "county", "county"], "scope_id": ["A", "B", "C1", "C1"],
            "scope_name": ["A", "B", "县", "县"], "target": [1, 1, 1, 3.3], "source": ["003"] * 4}
    before = pd.DataFrame({**keys, "value": [1, 0, 0, 3.0], "passed": [True, False, False, None]})
    after = pd.DataFrame({**keys, "value": [1, 1, 0, 3.0], "passed": [True, True, False, None]})
    after = pd.concat([after, pd.DataFrame({"rule_id": ["SUBCENTRE-COUNT"], "scope": ["township"], "scope_id": ["B"],
                                            "scope_name": ["B"], "target": [1], "source": ["000"], "value": [1],
                                            "passed": [True]})], ignore_index=True)
    changes = standards_changes(before, after)
    assert list(zip(changes["rule_id"], changes["scope_id"])) == [("THC-PER-TOWNSHIP", "B"), ("SUBCENTRE-COUNT", "B")]
    assert changes["passed_before"].tolist() == [False, None]
    assert changes["passed_after"].tolist() == [True, True]
    assert standards_changes(before, before.copy()).empty


def test_scenario_is_frozen() -> None:
    scenario = load_scenario(DATA / "good_base.yml")
    with pytest.raises(dataclasses.FrozenInstanceError):
        scenario.name = "other"  # type: ignore[misc]
