"""The embedded synthetic sample county: determinism, counts and ranges, road network, scenarios."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pytest
import shapely
import yaml
from geopandas.testing import assert_geodataframe_equal

import healthreach.data.samples.county as sample_pkg
from healthreach.data.samples.county.generate import generate
from healthreach.tiers import normalise_kind

SAMPLE = Path(sample_pkg.__file__).parent
LAYERS = {"boundaries": "boundaries", "villages": "villages", "facilities": "facilities"}
SERVICES = {"chest_pain", "stroke", "trauma", "critical_maternal", "critical_neonatal", "fever_clinic",
            "fever_sentinel", "infectious_dept", "tcm_hall", "rehab_dept", "geriatrics_dept",
            "regional_centre"}
SPEED_KMH = {"primary": 60, "secondary": 50, "tertiary": 40, "unclassified": 30, "residential": 30,
             "track": 15}


def _read(folder: Path, stem: str, crs: str | None = None) -> gpd.GeoDataFrame:
    gdf = gpd.read_file(folder / f"{stem}.gpkg", layer=LAYERS[stem])
    return gdf.to_crs(crs) if crs else gdf


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    generate(out)
    return out


@pytest.fixture(scope="module")
def bounds() -> gpd.GeoDataFrame:
    return _read(SAMPLE, "boundaries", "EPSG:4546")


@pytest.fixture(scope="module")
def villages() -> gpd.GeoDataFrame:
    return _read(SAMPLE, "villages", "EPSG:4546")


@pytest.fixture(scope="module")
def facilities() -> gpd.GeoDataFrame:
    return _read(SAMPLE, "facilities", "EPSG:4546")


@pytest.fixture(scope="module")
def graph() -> nx.MultiDiGraph:
    return ox.graph_from_xml(SAMPLE / "roads.osm", bidirectional=False, simplify=True, retain_all=True)


@pytest.fixture(scope="module")
def edges(graph: nx.MultiDiGraph) -> gpd.GeoDataFrame:
    gdf = ox.graph_to_gdfs(graph, nodes=False).to_crs("EPSG:4546")
    gdf["hw"] = [h if isinstance(h, str) else "|".join(sorted(set(h))) for h in gdf["highway"]]
    return gdf


def test_regeneration_is_byte_identical(regenerated: Path) -> None:
    files = ["roads.osm", "project.yml", "README.md", "scenarios/upgrade-remote-subcentre.yml",
             "scenarios/ems-farthest-township.yml", *(f"{stem}.gpkg" for stem in LAYERS)]
    for name in files:
        assert (regenerated / name).read_bytes() == (SAMPLE / name).read_bytes(), name
    for stem in LAYERS:
        assert_geodataframe_equal(_read(regenerated, stem), _read(SAMPLE, stem))


def test_everything_is_labelled_synthetic(bounds: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame,
                                          villages: gpd.GeoDataFrame) -> None:
    county = bounds[bounds["level"] == "county"]
    assert len(county) == 1 and "合成样例" in county["name"].iloc[0]
    assert bounds["source"].str.contains("synthetic").all()
    assert facilities["source"].str.contains("synthetic").all()
    assert villages["来源"].str.contains("synthetic").all()
    head = (SAMPLE / "roads.osm").read_text(encoding="utf-8")[:600]
    assert "<!--" in head and "SYNTHETIC" in head and "合成样例" in head
    assert "synthetic" in (SAMPLE / "README.md").read_text(encoding="utf-8").lower()
    assert "合成样例" in yaml.safe_load((SAMPLE / "project.yml").read_text(encoding="utf-8"))["name"]


def test_county_and_townships_tile_the_area(bounds: gpd.GeoDataFrame) -> None:
    county = bounds[bounds["level"] == "county"].geometry.iloc[0]
    towns = bounds[bounds["level"] == "township"]
    assert county.area >= 1.5e9 and county.area <= 1.9e9
    assert 7 <= len(towns) <= 10 and towns["name"].is_unique
    assert towns["name"].str[-1].isin(["乡", "镇"]).all()
    # Townships cover the county without overlaps: areas add up and the union is the county.
    assert towns.area.sum() == pytest.approx(county.area, rel=1e-4)
    assert shapely.union_all(towns.geometry).symmetric_difference(county).area < 1e-4 * county.area


def test_villages_counts_ranges_and_ids(villages: gpd.GeoDataFrame) -> None:
    pop = villages["常住人口"]
    assert 90_000 <= pop.sum() <= 110_000 and (pop > 0).all()
    urban = villages[villages["类型"] == "城镇"]
    rural = villages[villages["类型"] == "农村"]
    assert len(urban) + len(rural) == len(villages)
    assert 4 <= len(urban) <= 8 and urban["常住人口"].between(5_000, 20_000).all()
    assert (urban["乡镇"] == "城关镇").all() and urban["村名"].str.endswith("社区").all()
    assert 120 <= len(rural) <= 200 and rural["村名"].str.endswith("村").all()
    assert rural["常住人口"].min() < 100 and rural["常住人口"].max() > 1_000
    assert villages["村代码"].is_unique and villages["村代码"].str.fullmatch(r"140999\d{6}").all()
    assert not villages.duplicated(["乡镇", "村名"]).any()
    assert (villages["65岁以上"] + villages["6岁以下"] <= pop).all()
    assert (villages["65岁以上"] > 0).mean() > 0.9
    # Rural Shanxi is older than the county seat.
    share = villages["65岁以上"].groupby(villages["类型"]).sum() / pop.groupby(villages["类型"]).sum()
    assert share["农村"] > share["城镇"]


def test_villages_inside_county_and_their_township(villages: gpd.GeoDataFrame,
                                                    bounds: gpd.GeoDataFrame) -> None:
    county = bounds[bounds["level"] == "county"].geometry.iloc[0]
    towns = bounds[bounds["level"] == "township"].set_index("name").geometry
    assert villages.within(county).all()
    assert set(villages["乡镇"]) == set(towns.index)
    inside = [towns[t].contains(p) for t, p in zip(villages["乡镇"], villages.geometry)]
    assert all(inside)


def test_facilities_kinds_counts_and_resources(facilities: gpd.GeoDataFrame,
                                               villages: gpd.GeoDataFrame,
                                               bounds: gpd.GeoDataFrame) -> None:
    assert facilities["fid"].is_unique
    canon = facilities["kind"].map(normalise_kind)
    assert canon.notna().all() and not facilities["kind"].isin(canon).any()  # Chinese labels only
    counts = canon.value_counts()
    for kind in ("county_hospital", "county_tcm_hospital", "maternal_child", "ems_centre"):
        assert counts[kind] == 1
    assert 3 <= counts["community_station"] <= 5
    towns = bounds.loc[bounds["level"] == "township", "name"]
    thc = facilities[canon == "township_hc"]
    assert sorted(thc["township"]) == sorted(towns)
    assert thc["beds"].between(0, 30).all() and thc["doctors"].between(2, 15).all()
    assert thc["ambulances"].between(0, 2).all() and (thc["ambulances"] == 0).sum() >= 2
    hosp = facilities[canon == "county_hospital"].iloc[0]
    assert 250 <= hosp["beds"] <= 400 and set(hosp["services"].split(";")) >= {"chest_pain", "stroke"}
    assert facilities[canon == "ems_centre"]["ambulances"].iloc[0] > 0
    tokens = {s for text in facilities["services"] for s in text.split(";") if s}
    assert tokens <= SERVICES and "fever_sentinel" in tokens and "tcm_hall" in tokens
    vc = facilities[canon == "village_clinic"]
    assert vc["doctors"].between(1, 3).all()
    rural = villages[villages["类型"] == "农村"].set_index("村代码")
    assert vc["vid"].is_unique and vc["vid"].isin(rural.index).all()
    assert (vc["township"].to_numpy() == rural.loc[vc["vid"], "乡镇"].to_numpy()).all()
    assert 0.80 <= len(vc) / len(rural) <= 0.90
    without = rural[~rural.index.isin(vc["vid"])]
    assert (without["常住人口"] < 200).sum() >= 5 and (without["常住人口"] >= 200).sum() in (2, 3)
    cs = facilities[canon == "community_station"]
    assert cs["vid"].isin(villages.loc[villages["类型"] == "城镇", "村代码"]).all()
    others = facilities[~canon.isin(["village_clinic", "community_station"])]
    assert (others["vid"] == "").all()


def test_osm_parses_with_classes_oneways_and_tags(graph: nx.MultiDiGraph,
                                                  edges: gpd.GeoDataFrame) -> None:
    path = SAMPLE / "roads.osm"
    assert path.stat().st_size < 3_000_000
    text = path.read_text(encoding="utf-8")
    assert '<osm version="0.6"' in text and "<relation" not in text and 'id="-' not in text
    classes = {h for hw in edges["hw"] for h in hw.split("|")}
    assert classes >= {"primary", "secondary", "tertiary", "unclassified", "track", "residential",
                       "footway", "path"}
    oneway = edges[edges["oneway"].astype(bool)]
    assert len(oneway) >= 2 and set(oneway["hw"]) == {"residential"}
    # A one-way street has no edge back in the other direction; a two-way street does.
    assert all(not graph.has_edge(v, u) for u, v, _ in oneway.index)
    assert all(graph.has_edge(v, u) for u, v, _ in edges[~edges["oneway"].astype(bool)].index)
    speeds = edges.dropna(subset=["maxspeed"])
    assert "60" in set(speeds.loc[speeds["hw"] == "primary", "maxspeed"])
    assert "50" in set(speeds.loc[speeds["hw"] == "secondary", "maxspeed"])
    assert edges["ref"].astype(str).str.contains("S249").any()
    assert edges["name"].dropna().astype(str).str.contains("[\u4e00-\u9fff]").all()


def test_village_and_facility_distances_to_roads(villages: gpd.GeoDataFrame,
                                                 facilities: gpd.GeoDataFrame,
                                                 edges: gpd.GeoDataFrame) -> None:
    tree = shapely.STRtree(edges.geometry.to_numpy())
    v_idx, v_dist = tree.query_nearest(villages.geometry.to_numpy(), return_distance=True,
                                         all_matches=False)
    assert (v_idx[0] == np.arange(len(villages))).all()
    far = v_dist > 3000
    assert far.sum() == 1
    assert villages.loc[far, "常住人口"].iloc[0] < 100
    assert (v_dist[~far] <= 800).all() and np.median(v_dist[~far]) >= 50
    nearest = edges["hw"].to_numpy()[v_idx[1]]
    assert (nearest == "track").sum() >= 2
    f_idx, f_dist = tree.query_nearest(facilities.geometry.to_numpy(), return_distance=True,
                                         all_matches=False)
    assert len(f_dist) == len(facilities) and ((f_dist >= 10) & (f_dist <= 200)).all()


def test_project_and_scenarios_resolve_and_match_an_independent_ranking(
        graph: nx.MultiDiGraph, facilities: gpd.GeoDataFrame, bounds: gpd.GeoDataFrame) -> None:
    project = yaml.safe_load((SAMPLE / "project.yml").read_text(encoding="utf-8"))
    assert project["crs"] == "EPSG:4546" and project["parameters"] == {}
    layers = project["layers"]
    assert layers["villages"]["columns"]["population"] == "常住人口"
    assert layers["villages"]["values"] == {"setting": {"城镇": "urban", "农村": "rural"}}
    for value in (layers["roads"], layers["facilities"], layers["villages"]["path"], layers["boundaries"]):
        assert (SAMPLE / value).is_file()
    upgrade = yaml.safe_load((SAMPLE / "scenarios/upgrade-remote-subcentre.yml").read_text(encoding="utf-8"))
    ems = yaml.safe_load((SAMPLE / "scenarios/ems-farthest-township.yml").read_text(encoding="utf-8"))
    for scen in (upgrade, ems):
        assert (SAMPLE / "scenarios" / scen["base"]).resolve() == (SAMPLE / "project.yml").resolve()
    target = facilities.set_index("fid").loc[upgrade["changes"][0]["upgrade"]["fid"]]
    assert target["kind"] == "乡镇卫生院" and upgrade["changes"][0]["upgrade"]["kind"] == "subcentre"
    add = ems["changes"][0]["add"]
    assert add["kind"] == "ems_station" and add["ambulances"] == 1 and add["crs"] == "wgs84"
    assert add["fid"] not in set(facilities["fid"])

    # Independent check on the osmnx graph: drive times from the county seat's hospital to each
    # township health centre; the chosen one must be (within a minute) the farthest.
    drive = graph.edge_subgraph([(u, v, k) for u, v, k, h in graph.edges(keys=True, data="highway")
                                 if (h if isinstance(h, str) else h[0]) in SPEED_KMH]).copy()
    drive = ox.routing.add_edge_speeds(drive, hwy_speeds=SPEED_KMH)
    drive = ox.routing.add_edge_travel_times(drive)
    nodes = ox.graph_to_gdfs(drive, edges=False).to_crs("EPSG:4546")
    ids, xy = nodes.index.to_numpy(), np.column_stack([nodes.geometry.x, nodes.geometry.y])

    def nearest(point: shapely.Point) -> int:
        return int(ids[np.argmin(np.hypot(xy[:, 0] - point.x, xy[:, 1] - point.y))])

    hospital = facilities[facilities["fid"] == "H01"].geometry.iloc[0]
    times = nx.single_source_dijkstra_path_length(drive, nearest(hospital), weight="travel_time")
    thc = facilities[(facilities["kind"] == "乡镇卫生院") & (facilities["township"] != "城关镇")]
    thc_times = {row.township: times[nearest(row.geometry)] for row in thc.itertuples()}
    assert thc_times[target["township"]] >= max(thc_times.values()) - 60
    site = gpd.GeoSeries(gpd.points_from_xy([add["lon"]], [add["lat"]]), crs="EPSG:4326").to_crs("EPSG:4546")
    towns = bounds[bounds["level"] == "township"].set_index("name")
    chosen = ems["title"].split("新建")[0]
    assert towns.loc[chosen].geometry.contains(site.iloc[0])
    # The station goes to the township farthest from its nearest existing ambulance base.
    bases = {nearest(g) for g in facilities.loc[facilities["ambulances"].astype(float) > 0].geometry}
    from_bases = nx.multi_source_dijkstra_path_length(drive, bases, weight="travel_time")
    base_times = {row.township: from_bases[nearest(row.geometry)] for row in thc.itertuples()}
    assert base_times[chosen] >= max(base_times.values()) - 120
    assert facilities.loc[(facilities["township"] == chosen) & (facilities["kind"] == "乡镇卫生院"),
                          "ambulances"].astype(float).eq(0).all()
