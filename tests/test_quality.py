"""Network quality report on hand-made networks, the undeclared-GCJ-02 detector, and the demo's outputs."""
from __future__ import annotations

import json
import re

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from healthreach.layers.roads.speeds import MODES
from healthreach.coverage.network import build_network
from healthreach.coverage.quality import QA_COLUMNS, gcj02_offset_warning, network_qa
from healthreach.config import Settings
from healthreach.layers.crs import gcj02_to_wgs84, wgs84_to_gcj02
from healthreach.maps.labels import esc
from healthreach.maps.offline import js_string
from healthreach.commands import run_project, sample_dir

SAMPLE_DIR = sample_dir("county")
from netfixtures import CRS, edge_table, xy

S = Settings()

# Main part: tertiary road A (0,0)-(2000,0); a branch north tagged maxspeed=300; a zero-length edge at
# (0,0); the same 1 km road twice (a duplicate); a road of an unknown class going south. Two islands
# far away: island 1 with a village only, island 2 with a village and a facility.
LINES = [
    [(0, 0), (2000, 0)],
    [(2000, 0), (2000, 2000)],
    [(0, 0), (0, 0)],
    [(2000, 0), (3000, 0)],
    [(2000, 0), (3000, 0)],
    [(0, 0), (0, -1000)],
    [(5000, 5000), (6000, 5000)],
    [(8000, 5000), (9000, 5000)],
]
HIGHWAY = ["tertiary", "tertiary", "tertiary", "tertiary", "tertiary", "bogus", "tertiary", "tertiary"]
MAXSPEED = [np.nan, 300.0, np.nan, np.nan, np.nan, np.nan, np.nan, np.nan]
VILLAGES = {"V1": (500, 50), "V2": (1000, 800), "V3": (5500, 5010), "V4": (8500, 5010), "V5": (1000, -5000)}
FACILITIES = {"F1": (100, -20), "F2": (8800, 5020)}


def _points(named: dict[str, tuple[float, float]], id_col: str) -> gpd.GeoDataFrame:
    geoms = gpd.GeoSeries(shapely.points(xy(list(named.values()))), crs=CRS).to_crs("EPSG:4326")
    return gpd.GeoDataFrame({id_col: list(named), "name": [f"名{k}" for k in named]}, geometry=geoms.to_numpy(),
                            crs="EPSG:4326")


@pytest.fixture(scope="module")
def fixture():
    edges = edge_table(LINES, highway=HIGHWAY, maxspeed=MAXSPEED)
    villages, facilities = _points(VILLAGES, "vid"), _points(FACILITIES, "fid")
    pts = xy(list(VILLAGES.values()) + list(FACILITIES.values()))
    networks = {m: build_network(edges, m, S, CRS, pts) for m in MODES}
    return edges, villages, facilities, network_qa(edges, networks, villages, facilities, S)


# Checks of the edge table itself (mode 'drive' for speeds, 'all' for geometry), not of one mode's network.
TABLE_CHECKS = ["speed_from_maxspeed", "speed_from_class_default", "unusual_speed", "zero_length", "short_edge",
                "self_loop", "duplicate_edge", "gcj02_offset"]


def _key(qa: pd.DataFrame) -> list[tuple]:
    return sorted((r.check, r.severity, r.feature, r.id, r.unit, round(float(r.value), 1) if np.isfinite(r.value)
                   else None) for r in qa.itertuples())


def test_columns_and_vocabularies(fixture):
    qa = fixture[3]
    assert list(qa.columns) == QA_COLUMNS
    assert set(qa["severity"]) <= {"info", "warning", "error"}
    assert set(qa["feature"]) <= {"village", "facility", "edge", "network"}
    assert set(qa["mode"]) == {*MODES, "all"}


def test_per_mode_rows_exactly(fixture):
    edges, _, _, qa = fixture
    bogus = f"{edges['u'].iat[5]}-{edges['v'].iat[5]}"
    village_legs = [50, 800, 10, 10, 5000]
    for mode in MODES:
        expected = [
            ("components", "warning", "network", "", "count", 3.0),
            ("largest_component", "info", "network", "", "nodes", 4.0),
            ("largest_component", "info", "network", "", "km", 6.0),
            ("island", "error", "village", "V3", "nodes", 2.0),  # island 1 has no facility
            ("island", "warning", "village", "V4", "nodes", 2.0),
            ("island", "warning", "facility", "F2", "nodes", 2.0),
            ("snap_median", "info", "village", "", "m", 50.0),
            ("snap_p95", "info", "village", "", "m", round(float(np.percentile(village_legs, 95)), 1)),
            ("snap_max", "info", "village", "", "m", 5000.0),
            ("snap_median", "info", "facility", "", "m", 20.0),
            ("snap_p95", "info", "facility", "", "m", 20.0),
            ("snap_max", "info", "facility", "", "m", 20.0),
            ("long_snap", "warning", "village", "V2", "m", 800.0),
            ("not_joined", "error", "village", "V5", "m", 5000.0),
            ("closed", "info", "network", "", "edges", 0.0),
            ("no_speed", "warning", "network", "", "edges", 1.0),
            ("no_speed", "warning", "edge", bogus, "m", 1000.0),
        ]
        assert _key(qa[(qa["mode"] == mode) & ~qa["check"].isin(TABLE_CHECKS)]) == sorted(expected), mode
    stranded = qa[(qa["check"] == "island") & (qa["id"] == "V3")]
    assert stranded["message"].str.contains("can reach no facility").all()
    assert not qa[(qa["check"] == "island") & (qa["id"] == "V4")]["message"].str.contains("no facility").any()


def test_edge_table_rows_exactly(fixture):
    edges, _, _, qa = fixture
    branch = f"{edges['u'].iat[1]}-{edges['v'].iat[1]}"
    expected = [
        ("speed_from_maxspeed", "info", "network", "", "edges", 1.0),
        ("speed_from_maxspeed", "info", "network", "", "km", 2.0),
        ("speed_from_class_default", "info", "network", "", "edges", 6.0),  # 'bogus' has neither
        ("speed_from_class_default", "info", "network", "", "km", 6.0),
        ("unusual_speed", "warning", "edge", branch, "km/h", 300.0),
        ("zero_length", "warning", "network", "", "edges", 1.0),
        ("short_edge", "info", "network", "", "edges", 0.0),
        ("self_loop", "warning", "network", "", "edges", 1.0),
        ("duplicate_edge", "warning", "network", "", "edges", 1.0),
    ]
    table_level = qa[qa["check"].isin(TABLE_CHECKS)]
    assert _key(table_level) == sorted(expected)
    assert set(table_level["mode"]) == {"drive", "all"}
    assert "gcj02_offset" not in set(qa["check"])


def test_located_rows_sit_on_their_feature(fixture):
    edges, villages, facilities, qa = fixture
    located = qa[qa["lon"].notna()]
    assert set(located["feature"]) == {"village", "facility", "edge"}
    assert (qa["lon"].notna() == (qa["id"] != "")).all()  # rows about one feature have its place, statistics none
    for frame, col in ((villages, "vid"), (facilities, "fid")):
        where = frame.set_index(col).geometry
        for r in located[located["id"].isin(where.index)].itertuples():
            assert (r.lon, r.lat) == pytest.approx((where[r.id].x, where[r.id].y), abs=1e-9)
    # The 300 km/h branch runs north from (2000, 0) to (2000, 2000): its midpoint is (2000, 1000).
    row = located[located["check"] == "unusual_speed"].iloc[0]
    mid = gpd.GeoSeries(shapely.points([row.lon], [row.lat]), crs="EPSG:4326").to_crs(CRS).iloc[0]
    assert (mid.x, mid.y) == pytest.approx(tuple(xy([(2000, 1000)])[0]), abs=0.01)


def test_design_speed_and_slow_speed_flags():
    edges = edge_table([[(0, 0), (1000, 0)], [(1000, 0), (2000, 0)], [(2000, 0), (3000, 0)],
                        [(3000, 0), (4000, 0)]], highway=["track", "tertiary", "primary", "motorway"],
                       maxspeed=[40.0, 3.0, 80.0, 130.0])
    villages, facilities = _points({"V": (500, 10)}, "vid"), _points({"F": (3500, 10)}, "fid")
    nets = {m: build_network(edges, m, S, CRS, xy([(500, 10), (3500, 10)])) for m in MODES}
    qa = network_qa(edges, nets, villages, facilities, S)
    odd = qa[qa["check"] == "unusual_speed"].set_index("value")["message"]
    # track: 40 > 1.5 x design 20; tertiary 3 < 5; primary 80 = design; motorway 130 is the legal limit.
    assert sorted(odd.index) == [3.0, 40.0]
    assert "design speed" in odd[40.0] and "outside" in odd[3.0]


def test_one_way_dead_end_is_its_own_strong_component():
    # A one-way spur leaves the two-way road: a village on it can be reached but cannot get out.
    edges = edge_table([[(0, 0), (1000, 0)], [(1000, 0), (1000, 1000)]], oneway=[False, True])
    villages, facilities = _points({"V": (1010, 900)}, "vid"), _points({"F": (100, 10)}, "fid")
    no_islands = Settings(small_component_size=1)
    nets = {m: build_network(edges, m, no_islands, CRS, xy([(1010, 900), (100, 10)])) for m in MODES}
    qa = network_qa(edges, nets, villages, facilities, no_islands)
    islands = qa[qa["check"] == "island"]
    # Driving to F is impossible; the ambulance from F gets there; walkers ignore one-way streets.
    assert list(islands["mode"]) == ["drive", "ambulance"]
    assert list(islands["severity"]) == ["error", "warning"]
    assert list(qa.loc[qa["check"] == "components", "value"]) == [3, 1, 3]  # main, spur piece, dead end
    # As OSRM does, by default the village leaves the dead end (a piece of one junction) for the two-way
    # road 900 m south, within max_snap_m: it can drive out; walkers keep the spur, walked both ways.
    nets = {m: build_network(edges, m, S, CRS, xy([(1010, 900), (100, 10)])) for m in MODES}
    qa = network_qa(edges, nets, villages, facilities, S)
    assert qa[qa["check"] == "island"].empty
    joins = qa[qa["check"] == "island_join"]
    assert list(joins["mode"]) == ["drive", "ambulance"] and (joins["id"] == "V").all()
    assert joins["value"].tolist() == pytest.approx([np.hypot(10, 900)] * 2, abs=0.05)  # to the road's end
    assert joins["message"].str.contains("10 m away, lies on a road island of 1 junctions").all()


def _star_roads() -> gpd.GeoDataFrame:
    """Roads 5 km apart in several directions over a 20 km square (a sparse rural network)."""
    lines = [[(0, y), (20000, y)] for y in (0, 5000, 10000, 15000, 20000)]
    lines += [[(x, 0), (x, 20000)] for x in (0, 5000, 10000, 15000, 20000)]
    lines += [[(0, 0), (20000, 20000)], [(0, 20000), (20000, 0)]]
    return edge_table(lines)


def _on_roads(edges: gpd.GeoDataFrame, n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lines = edges.geometry.to_crs(CRS).to_numpy()
    picks = shapely.line_interpolate_point(lines[rng.integers(0, len(lines), n)], rng.uniform(0.02, 0.98, n),
                                           normalized=True)
    return shapely.get_coordinates(picks)


def _frame(metric_xy: np.ndarray, *, gcj: bool) -> gpd.GeoDataFrame:
    lonlat = gpd.GeoSeries(shapely.points(metric_xy), crs=CRS).to_crs("EPSG:4326")
    lon, lat = lonlat.x.to_numpy(), lonlat.y.to_numpy()
    if gcj:
        lon, lat = wgs84_to_gcj02(lon, lat)
    return gpd.GeoDataFrame({"fid": [f"P{i}" for i in range(len(lon))], "name": "x"},
                            geometry=shapely.points(lon, lat), crs="EPSG:4326")


def test_gcj02_detector_fires_on_shifted_road_points():
    edges = _star_roads()
    warning = gcj02_offset_warning(_frame(_on_roads(edges, 40, 1), gcj=True), edges, CRS, layer="facilities")
    assert warning is not None and set(warning) == set(QA_COLUMNS)
    assert (warning["check"], warning["severity"], warning["feature"], warning["id"]) == \
        ("gcj02_offset", "warning", "facility", "facilities")
    assert "crs: gcj02" in warning["message"]
    assert 50 <= warning["value"] <= 700  # the displacement's component across the roads


def test_gcj02_detector_fires_on_points_near_roads():
    # Points up to 150 m beside their road in random directions, then GCJ-shifted: still detected.
    edges = _star_roads()
    rng = np.random.default_rng(2)
    true = _on_roads(edges, 60, 3) + rng.uniform(-150, 150, (60, 2))
    assert gcj02_offset_warning(_frame(true, gcj=True), edges, CRS, layer="villages") is not None
    assert gcj02_offset_warning(_frame(true, gcj=False), edges, CRS, layer="villages") is None


@pytest.mark.parametrize("seed", [4, 5, 6])
def test_gcj02_detector_quiet_on_true_and_scattered_points(seed):
    edges = _star_roads()
    assert gcj02_offset_warning(_frame(_on_roads(edges, 40, seed), gcj=False), edges, CRS, layer="villages") is None
    scattered = np.random.default_rng(seed).uniform(0, 20000, (60, 2)) + np.array(xy([(0, 0)])[0])
    assert gcj02_offset_warning(_frame(scattered, gcj=False), edges, CRS, layer="villages") is None
    assert gcj02_offset_warning(_frame(scattered, gcj=True), edges, CRS, layer="villages") is None


def test_gcj02_shift_round_trip_is_what_the_detector_undoes():
    # The detector's correction is gcj02_to_wgs84: it must undo wgs84_to_gcj02 to centimetres.
    edges = _star_roads()
    frame = _frame(_on_roads(edges, 10, 7), gcj=True)
    lon, lat = gcj02_to_wgs84(frame.geometry.x, frame.geometry.y)
    back = gpd.GeoSeries(shapely.points(lon, lat), crs="EPSG:4326").to_crs(CRS)
    road = shapely.union_all(edges.geometry.to_crs(CRS).to_numpy())
    assert shapely.distance(back.to_numpy(), road).max() < 0.05


def test_network_qa_includes_the_gcj02_row(fixture):
    edges = _star_roads()
    villages = _frame(_on_roads(edges, 30, 8), gcj=True).rename(columns={"fid": "vid"})
    facilities = _frame(_on_roads(edges, 6, 9), gcj=False)
    pts = np.vstack([shapely.get_coordinates(villages.to_crs(CRS).geometry.to_numpy()),
                     shapely.get_coordinates(facilities.to_crs(CRS).geometry.to_numpy())])
    nets = {m: build_network(edges, m, S, CRS, pts) for m in MODES}
    qa = network_qa(edges, nets, villages, facilities, S)
    gcj = qa[qa["check"] == "gcj02_offset"]
    assert list(gcj["id"]) == ["villages"] and list(gcj["feature"]) == ["village"]


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    # The demo's baseline run (its scenarios add nothing to the QA table and would double the time).
    return run_project(SAMPLE_DIR / "project.yml", out=tmp_path_factory.mktemp("qa_demo") / "out")


def test_demo_writes_network_qa_and_maps_it(demo):
    qa = pd.read_csv(demo / "network_qa.csv", encoding="utf-8-sig", dtype={"id": str})
    assert list(qa.columns) == QA_COLUMNS
    assert set(qa["mode"]) >= set(MODES)
    # The sample's off-network hamlet (more than 3 km from any road) is listed in every mode.
    hamlet = qa[qa["check"] == "not_joined"]
    assert len(hamlet) == 3 and set(hamlet["mode"]) == set(MODES) and (hamlet["severity"] == "error").all()
    assert len(set(hamlet["id"])) == 1 and (hamlet["value"] > 3000).all()
    assert "gcj02_offset" not in set(qa["check"])  # the sample is true WGS84
    html = (demo / "coverage_map.html").read_text(encoding="utf-8")
    assert json.dumps("路网质量问题") in html  # the layer-control name, as folium writes it
    # The hamlet's ring: its popup names it and lists the problem; the layer starts hidden.
    popup = js_string(f"<b>{esc(hamlet['name'].iat[0])}</b> <small>village {esc(hamlet['id'].iat[0])}</small>")
    at = html.index(popup[1:-1])
    assert "not_joined" in html[at: at + 2000]
    ring = re.findall(r'"className": "hr-qa hr-qa-error".*?\)\.addTo\((feature_group_\w+)\)', html, re.S)
    assert ring and f"{ring[0]}.addTo(map_" not in html


def test_gcj02_detector_on_a_large_layer_measures_a_sample_and_still_fires():
    # 5,000 points: the check measures every 3rd (GCJ_SAMPLE = 2,000 at most) and still sees the shift,
    # and stays quiet on the same points unshifted.
    edges = _star_roads()
    true = _on_roads(edges, 5000, 8)
    warning = gcj02_offset_warning(_frame(true, gcj=True), edges, CRS, layer="villages")
    assert warning is not None and 50 <= warning["value"] <= 700
    assert gcj02_offset_warning(_frame(true, gcj=False), edges, CRS, layer="villages") is None
