"""Road inputs: OSM (XML, bz2, PBF) with pyosmium, clipping, clipped extracts, and road line layers."""
from __future__ import annotations

import bz2
import logging
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmium
import pandas as pd
import pyproj
import pytest
import shapely

from healthreach._errors import InputError
from healthreach.coverage.network import build_network
from healthreach.layers.roads.osm import read_osm
from healthreach.layers.roads.lines import read_road_lines
from healthreach.layers.roads import load_roads, read_roads
from healthreach.layers.roads.table import ROUTABLE_CLASSES
from healthreach.config import Settings
from healthreach.rules import base_class
from healthreach.coverage.traveltime import nearest
from healthreach.layers.crs import wgs84_to_gcj02
from healthreach.layers.project import RoadsSource
import osm_rules
from netfixtures import CRS, ORIGIN, xy

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real"
BEIJING_OSM = REAL / "beijing_haidian_cau.osm"
BEIJING_PBF = REAL / "beijing_haidian_cau.osm.pbf"
DATA = Path(__file__).parent / "data" / "roads"
S = Settings()
GEOD = pyproj.Geod(ellps="WGS84")
BEIJING_CRS = "EPSG:4548"  # CGCS2000 GK zone CM117: metres around Beijing


def _sorted(edges: gpd.GeoDataFrame) -> pd.DataFrame:
    table = pd.DataFrame(edges.drop(columns="geometry"))
    table["coords"] = [tuple(map(tuple, np.round(shapely.get_coordinates(g), 9))) for g in edges.geometry]
    return table.sort_values(["u", "v", "length_m"]).reset_index(drop=True)


def _junction_costs(edges: gpd.GeoDataFrame, crs: str, sources: list[int]) -> np.ndarray:
    """Drive seconds from each source node to every junction node id, rows in `sources` order."""
    net = build_network(edges, "drive", S, crs, np.zeros((0, 2)))
    index = {int(n): i for i, n in enumerate(net.node_id) if n >= 0}
    ids = np.sort([n for n in index])
    return np.array([nearest(net, np.array([index[s]]), toward=False).cost[[index[n] for n in ids]]
                     for s in sources])


# --------------------------------------------------------------------------- OSM formats


@pytest.fixture(scope="module")
def beijing() -> dict[str, gpd.GeoDataFrame]:
    return {"osm": read_roads(BEIJING_OSM), "pbf": read_roads(BEIJING_PBF)}


def test_osm_xml_bz2_and_pbf_give_the_same_edge_table(beijing, tmp_path):
    bz = tmp_path / "beijing.osm.bz2"
    bz.write_bytes(bz2.compress(BEIJING_OSM.read_bytes()))
    tables = {**beijing, "bz2": read_roads(bz)}
    ref = _sorted(tables["osm"])
    assert len(ref) > 500 and set(ref["highway"]) >= {"primary", "tertiary", "service", "footway"}
    for name in ("pbf", "bz2"):
        other = _sorted(tables[name])
        pd.testing.assert_frame_equal(ref.drop(columns="length_m"), other.drop(columns="length_m"))
        assert np.abs(ref["length_m"] - other["length_m"]).max() <= 1e-6
        assert other["length_m"].sum() / 1000 == pytest.approx(ref["length_m"].sum() / 1000, abs=1e-9)


def test_osm_and_pbf_give_equal_travel_times(beijing):
    ends = np.unique(np.r_[beijing["osm"]["u"], beijing["osm"]["v"]])
    sources = [int(ends[i]) for i in (0, len(ends) // 3, len(ends) // 2, len(ends) - 1)]
    a = _junction_costs(beijing["osm"], BEIJING_CRS, sources)
    b = _junction_costs(beijing["pbf"], BEIJING_CRS, sources)
    assert np.isfinite(a).mean(axis=1).max() > 0.5  # most of the campus is reachable from some source
    np.testing.assert_array_equal(np.isfinite(a), np.isfinite(b))
    np.testing.assert_allclose(a[np.isfinite(a)], b[np.isfinite(b)], rtol=0, atol=1e-6)


def test_pyosmium_reader_agrees_with_osmnx_graph(beijing):
    """Same junctions, same total length, same shortest times between junctions as osmnx's graph."""
    import osmnx as ox

    graph = ox.graph_from_xml(BEIJING_OSM, bidirectional=False, simplify=False, retain_all=True)
    graph.remove_edges_from([(u, v, k) for u, v, k, d in graph.edges(keys=True, data=True)
                             if base_class(str(d.get("highway"))) not in ROUTABLE_CLASSES or d.get("area") == "yes"])
    graph.remove_nodes_from([n for n, deg in dict(graph.degree()).items() if deg == 0])
    undirected = nx.Graph(graph.to_undirected())
    junctions = {n for n in undirected if undirected.degree(n) != 2}
    edges = beijing["osm"]
    ends = set(edges["u"]) | set(edges["v"])
    assert junctions <= ends
    # Where this reader splits but osmnx would not, the node is a pass-through (two neighbours).
    assert all(undirected.degree(n) == 2 for n in ends - junctions)
    simplified = ox.simplify_graph(graph.copy(), edge_attrs_differ=["highway", "maxspeed", "oneway"])
    assert junctions <= set(simplified.nodes)

    # Each OSM segment once (osmnx adds a reversed copy of two-way segments), geodesic metres.
    lon = {n: d["x"] for n, d in graph.nodes(data=True)}
    lat = {n: d["y"] for n, d in graph.nodes(data=True)}
    u, v, data = zip(*[(a, b, d) for a, b, d in graph.edges(data=True) if not d.get("reversed", False)])
    metres = np.asarray(GEOD.inv(np.array([lon[n] for n in u]), np.array([lat[n] for n in u]),
                                 np.array([lon[n] for n in v]), np.array([lat[n] for n in v]))[2])
    assert metres.sum() == pytest.approx(edges["length_m"].sum(), rel=1e-9)

    # Driving rules read independently (tests/osm_rules.py) from osmnx's tags.
    tagged = osm_rules.read_graph(BEIJING_OSM)
    timed = nx.DiGraph()
    for a, b, d, m in zip(u, v, data, metres):
        tags = tagged.get_edge_data(a, b)[0]
        if not osm_rules.drivable(tags):
            continue
        kmh = osm_rules.drive_kmh(tags)
        for x, y in ((a, b), (b, a)) if not d["oneway"] else ((a, b),):
            s = m / kmh * 3.6
            if not timed.has_edge(x, y) or timed[x][y]["s"] > s:
                timed.add_edge(x, y, s=s)
    ids = sorted(n for n in ends)
    chosen = sorted(junctions & set(timed.nodes))
    sources = [chosen[i] for i in (0, len(chosen) // 4, len(chosen) // 2, len(chosen) - 1)]
    mine = _junction_costs(edges, BEIJING_CRS, sources)
    for row, s in zip(mine, sources):
        theirs = nx.single_source_dijkstra_path_length(timed, s, weight="s")
        expected = np.array([theirs.get(n, np.inf) for n in ids])
        at = np.isin(ids, chosen)
        np.testing.assert_array_equal(np.isfinite(row[at]), np.isfinite(expected[at]))
        np.testing.assert_allclose(row[at][np.isfinite(row[at])], expected[at][np.isfinite(expected[at])],
                                   rtol=1e-9, atol=1e-6)


# --------------------------------------------------------------------------- clipping


def test_clip_keeps_ways_with_a_node_inside_whole_and_counts_the_rest(beijing):
    box = shapely.box(116.345, 39.998, 116.352, 40.004)
    read = load_roads(BEIJING_PBF, clip=box, buffer_m=100.0)
    area = gpd.GeoSeries([box], crs="EPSG:4326").to_crs(BEIJING_CRS).buffer(100.0).to_crs("EPSG:4326").iloc[0]
    # Independent pass: whole routable ways with their node locations, straight from pyosmium.
    inside_m, total_ways, outside = 0.0, 0, 0
    for way in osmium.FileProcessor(str(BEIJING_PBF)).with_locations().with_filter(
            osmium.filter.KeyFilter("highway")):
        if way.type_str() != "w" or base_class(way.tags["highway"]) not in ROUTABLE_CLASSES:
            continue
        if way.tags.get("area") == "yes":
            continue
        total_ways += 1
        lon = [n.lon for n in way.nodes]
        lat = [n.lat for n in way.nodes]
        if shapely.contains_xy(area, lon, lat).any():
            inside_m += float(np.sum(GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])[2]))
        else:
            outside += 1
    assert read.counts["ways_read"] == total_ways
    assert read.counts["ways_outside"] == outside > 0
    assert read.edges["length_m"].sum() == pytest.approx(inside_m, rel=1e-9)
    assert read.edges["length_m"].sum() < beijing["pbf"]["length_m"].sum()


def test_clipped_extract_is_split_at_missing_nodes(caplog):
    with caplog.at_level(logging.WARNING):
        read = read_osm(DATA / "clipped_extract.osm")
    assert "3 roads reference 2 nodes that are not in the file" in caplog.text
    assert read.counts["ways_gapped"] == 3 and read.counts["nodes_missing"] == 2
    e = read.edges.set_index(["u", "v"])
    assert sorted(e.index) == [(1, 2), (4, 5), (5, 7), (5, 9)]  # 6 is shared only with a building
    assert e.loc[(1, 2), "name"] == "甲路" and not e.loc[(1, 2), "oneway"]
    assert e.loc[(5, 9), "oneway"] and e.loc[(5, 9), "maxspeed_kmh"] == 30  # oneway=-1 turned round
    # 0.001 degrees of longitude at 39.4 N, and 0.002 degrees of latitude (via node 6).
    step = GEOD.inv(111.500, 39.4, 111.501, 39.4)[2]
    assert e.loc[(1, 2), "length_m"] == pytest.approx(step, abs=1e-6)
    assert e.loc[(5, 7), "length_m"] == pytest.approx(GEOD.inv(111.504, 39.4, 111.504, 39.402)[2], abs=1e-6)
    assert shapely.get_num_coordinates(read.edges.geometry).tolist() == [2, 2, 3, 2]


def test_unreadable_osm_file_is_an_input_error(tmp_path):
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"not a pbf at all")
    with pytest.raises(InputError, match="bad.osm.pbf: not a readable OSM file"):
        read_roads(bad)
    with pytest.raises(InputError, match="not found"):
        read_roads(tmp_path / "missing.osm")


def write_grid_pbf(path: Path, n: int, *, step: float = 0.001, x0: float = 111.0, y0: float = 39.0) -> None:
    """An n x n grid of nodes (`step` degrees apart), one way per row (tertiary) and column."""
    with osmium.SimpleWriter(str(path), overwrite=True) as w:
        for j in range(n):
            for i in range(n):
                w.add_node(osmium.osm.mutable.Node(id=j * n + i + 1, location=(x0 + i * step, y0 + j * step)))
        for j in range(n):
            w.add_way(osmium.osm.mutable.Way(id=j + 1, nodes=[j * n + i + 1 for i in range(n)],
                                             tags={"highway": "tertiary", "name": f"横{j} 路"}))
        for i in range(n):
            w.add_way(osmium.osm.mutable.Way(id=n + i + 1, nodes=[j * n + i + 1 for j in range(n)],
                                             tags={"highway": "residential", "oneway": "yes"}))


def test_synthetic_large_pbf_segments_clip_and_progress(tmp_path):
    n = 450  # 202,500 nodes
    path = tmp_path / "grid.osm.pbf"
    write_grid_pbf(path, n)
    messages: list[str] = []
    # Rows 100..119 and columns 200..229 have nodes inside the box (edges midway between grid lines).
    box = shapely.box(111.0 + 199.5e-3, 39.0 + 99.5e-3, 111.0 + 229.5e-3, 39.0 + 119.5e-3)
    read = load_roads(path, clip=box, buffer_m=0.0, progress=messages.append)
    assert read.counts["ways_read"] == 2 * n
    assert read.counts["ways_outside"] == 2 * n - 20 - 30
    # Every node on a kept row meets a kept column only inside the box: rows split at 30 crossings.
    rows = read.edges[read.edges["highway"] == "tertiary"]
    cols = read.edges[read.edges["highway"] == "residential"]
    assert len(rows) == 20 * (30 + 1) and len(cols) == 30 * (20 + 1)
    assert rows["name"].str.match(r"横\d+ 路").all() and cols["oneway"].all() and not rows["oneway"].any()
    assert any("road nodes located" in m for m in messages) and any("routable ways" in m for m in messages)
    whole = read_osm(path)
    assert len(whole.edges) == 2 * n * (n - 1)


# --------------------------------------------------------------------------- road line layers


def _layer(path: Path, lines: list[list[tuple[float, float]]], crs: str = CRS, **columns) -> Path:
    geoms = [shapely.LineString([(ORIGIN[0] + x, ORIGIN[1] + y) for x, y in line]) for line in lines]
    gpd.GeoDataFrame(columns, geometry=geoms, crs=crs).to_file(path)
    return path


def _time(edges: gpd.GeoDataFrame, a: tuple[float, float], b: tuple[float, float]) -> float:
    """Drive seconds from a to b, each joined to its nearest road even on a small piece (the topology
    of the lines is what is tested, not island joins)."""
    net = build_network(edges, "drive", Settings(small_component_size=1), CRS, xy([a, b]))
    return float(nearest(net, net.point_node[[1]]).cost[net.point_node[0]])


def test_t_junction_end_2m_from_a_road_joins_it(tmp_path):
    path = _layer(tmp_path / "t.gpkg", [[(0, 0), (1000, 0)], [(500, 2), (500, 1000)]], 等级=["县道", "县道"])
    read = read_road_lines(path, class_column="等级")
    assert read.counts["ends_snapped"] == 1 and read.counts["vertices_inserted"] == 1
    assert len(read.edges) == 3 and set(read.edges["highway"]) == {"tertiary"}
    # (0,0) -> junction (500,0) -> (500,1000) at 40 km/h: 1,500 m.
    assert _time(read.edges, (0, 0), (500, 1000)) == pytest.approx(1500 / 40 * 3.6, rel=1e-4)


def test_crossing_without_shared_vertex_is_a_bridge(tmp_path):
    lines = [[(0, 0), (1000, 0)], [(500, -500), (500, 500)]]
    bridge = read_road_lines(_layer(tmp_path / "x.gpkg", lines, highway=["tertiary"] * 2)).edges
    assert len(bridge) == 2 and np.isinf(_time(bridge, (0, 0), (500, 500)))
    shared = [[(0, 0), (500, 0), (1000, 0)], [(500, -500), (500, 0), (500, 500)]]
    junction = read_road_lines(_layer(tmp_path / "x2.gpkg", shared, highway=["tertiary"] * 2)).edges
    assert len(junction) == 4
    assert _time(junction, (0, 0), (500, 500)) == pytest.approx(1000 / 40 * 3.6, rel=1e-4)


def test_ends_near_each_other_merge_and_far_ends_stay_apart(tmp_path):
    lines = [[(0, 0), (1000, 0)], [(1003, 0), (2000, 0)], [(2010, 0), (3000, 0)]]
    edges = read_road_lines(_layer(tmp_path / "gap.gpkg", lines, highway=["tertiary"] * 3)).edges
    # The end at x=1000 moves onto the other line's end at x=1003: the first line grows to 1,003 m.
    assert _time(edges, (0, 0), (2000, 0)) == pytest.approx(2000 / 40 * 3.6, rel=1e-4)
    assert np.isinf(_time(edges, (0, 0), (3000, 0)))  # 10 m gap is more than the 5 m tolerance


def test_gbk_shapefile_gcj02_speed_and_oneway_columns(tmp_path):
    lines = [[(0, 0), (1000, 0)], [(1000, 0), (1000, 1000)]]
    metric = gpd.GeoSeries([shapely.LineString([(ORIGIN[0] + x, ORIGIN[1] + y) for x, y in ln]) for ln in lines],
                           crs=CRS).to_crs("EPSG:4326")
    gcj = [shapely.transform(g, lambda c: np.column_stack(wgs84_to_gcj02(c[:, 0], c[:, 1]))) for g in metric]
    frame = gpd.GeoDataFrame({"等级": ["乡道", "机耕路"], "速度": [60.0, None], "单行": ["TF", "否"]},
                             geometry=gcj, crs="EPSG:4326")
    path = tmp_path / "roads.shp"
    frame.to_file(path, encoding="GBK")
    source = RoadsSource(path=path, format="lines", class_column="等级", speed_column="速度",
                         oneway_column="单行", crs="gcj02", encoding="GBK")
    edges = read_roads(source)
    assert list(edges["highway"]) == ["unclassified", "track"]
    assert edges["maxspeed_kmh"].iloc[0] == 60 and np.isnan(edges["maxspeed_kmh"].iloc[1])
    assert list(edges["oneway"]) == [True, False]
    # GCJ-02 undone: the line is back on its WGS84 position (centimetres), drawn against its digitising.
    back = gpd.GeoSeries(edges.geometry, crs="EPSG:4326").to_crs(CRS)
    assert shapely.get_coordinates(back.iloc[0]) == pytest.approx(xy([(1000, 0), (0, 0)]), abs=0.05)
    assert edges["length_m"].iloc[0] == pytest.approx(1000, rel=1e-3)


def test_unknown_classes_are_listed_with_counts_and_a_suggestion(tmp_path):
    path = _layer(tmp_path / "u.gpkg", [[(0, 0), (10, 0)], [(0, 5), (10, 5)], [(0, 9), (10, 9)]],
                  等级=["县级公路", "县级公路", "高架"])
    with pytest.raises(InputError) as err:
        read_road_lines(path, class_column="等级")
    text = str(err.value)
    assert "u.gpkg: field '等级': 2 unknown road class values" in text
    assert "'县级公路' (2 lines, first row 1) -> tertiary?" in text
    assert "'高架' (1 lines, first row 3)." in text  # no guess offered


def test_line_layer_errors_name_file_row_and_field(tmp_path):
    path = _layer(tmp_path / "e.gpkg", [[(0, 0), (10, 0)], [(0, 5), (10, 5)]], kind=["a", "b"],
                  v=["fast", "30"], ow=["1", "sometimes"])
    with pytest.raises(InputError, match="neither a class nor a speed column"):
        read_road_lines(path)
    with pytest.raises(InputError, match=r"field 'grade' \(the class column\) is not in the file"):
        read_road_lines(path, class_column="grade")
    with pytest.raises(InputError, match=r"e.gpkg: field 'v': 1 speeds are not numbers of km/h > 0: row 1 \('fast'\)"):
        read_road_lines(path, speed_column="v")
    good = _layer(tmp_path / "g.gpkg", [[(0, 0), (10, 0)], [(0, 5), (10, 5)]], speed_kmh=[30.0, 40.0],
                  ow=["1", "sometimes"])
    with pytest.raises(InputError, match=r"g.gpkg: row 2, field 'ow': one-way value 'sometimes'"):
        read_road_lines(good, oneway_column="ow")
    broken = tmp_path / "broken.geojson"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="broken.geojson: cannot be read as a line layer"):
        read_roads(broken)


def test_real_shanxi_county_converted_from_gcj02_clips_the_roads():
    """五寨县 (140928) from the Amap boundaries, converted to WGS84, clips the sample's roads."""
    from healthreach.layers.crs import to_wgs84
    from healthreach.commands import sample_dir

    SAMPLE_DIR = sample_dir("county")

    counties = gpd.read_file(REAL / "shanxi_counties_amap_gcj02.geojson")
    county = to_wgs84(counties[counties["adcode"].astype(str) == "140928"], "gcj02").geometry.iloc[0]
    roads = SAMPLE_DIR / "roads.osm"
    whole = read_roads(roads)
    clipped = load_roads(roads, clip=county, buffer_m=0)
    kept = clipped.edges
    assert 0 < len(kept) < len(whole) and clipped.counts["ways_outside"] > 0
    # Kept ways have a node in the county; ways with no node in it are gone, whole ways kept.
    inside = shapely.contains_xy(county, *shapely.get_coordinates(kept.geometry.to_numpy()).T)
    assert inside.any()
    ids = set(kept["u"]) | set(kept["v"])
    dropped = whole[~whole["u"].isin(ids) & ~whole["v"].isin(ids)]
    coords = shapely.get_coordinates(dropped.geometry.to_numpy())
    assert not shapely.contains_xy(county, coords[:, 0], coords[:, 1]).any()
