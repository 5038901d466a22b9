"""The embedded synthetic samples `samples/district` (urban) and `samples/banner` (pastoral): their files,
counts against their READMEs, kinds, extents, road traps and deterministic regeneration. Data only: no
analysis is run here."""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import networkx as nx
import pyogrio
import pytest
import shapely
import yaml
from shapely.geometry import LineString

import healthreach.data.samples.banner as banner_pkg
import healthreach.data.samples.district as district_pkg
from healthreach.data.samples.banner.generate import generate as generate_banner
from healthreach.data.samples.district.generate import generate as generate_district
from healthreach.tiers import KINDS, normalise_kind, normalise_service

DISTRICT = Path(district_pkg.__file__).parent
BANNER = Path(banner_pkg.__file__).parent
SAMPLES = {"district": DISTRICT, "banner": BANNER}
CRS = {"district": "EPSG:4547", "banner": "EPSG:4545"}
# Village columns of each sample (vid, name, township) as mapped by its project file.
COLUMNS = {"district": ("社区代码", "社区名", "街道"), "banner": ("嘎查村代码", "嘎查村名", "苏木镇")}
DRIVE = {"motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential", "service", "track",
         "living_street", "road"}
WALK_ONLY = {"footway", "pedestrian", "steps", "path", "cycleway", "bridleway"}
FILES = ("roads.osm", "villages.gpkg", "facilities.gpkg", "boundaries.gpkg", "project.yml", "README.md",
         "generate.py", "__init__.py")


@dataclass(frozen=True)
class Way:
    id: int
    nodes: tuple[int, ...]
    tags: dict[str, str]


@dataclass(frozen=True)
class Osm:
    xy: dict[int, tuple[float, float]]  # node id -> metric x, y
    ways: tuple[Way, ...]

    def line(self, way: Way) -> LineString:
        return LineString([self.xy[n] for n in way.nodes])


def read_osm(path: Path, crs: str) -> Osm:
    root = ET.parse(path).getroot()
    ids = [int(n.get("id")) for n in root.iter("node")]
    lon = [float(n.get("lon")) for n in root.iter("node")]
    lat = [float(n.get("lat")) for n in root.iter("node")]
    pts = gpd.GeoSeries(gpd.points_from_xy(lon, lat), crs="EPSG:4326").to_crs(crs)
    xy = {i: (p.x, p.y) for i, p in zip(ids, pts)}
    ways = tuple(Way(int(w.get("id")), tuple(int(nd.get("ref")) for nd in w.iter("nd")),
                     {t.get("k"): t.get("v") for t in w.iter("tag")}) for w in root.iter("way"))
    return Osm(xy, ways)


def drivable(tags: dict[str, str]) -> bool:
    return (tags["highway"] in DRIVE and tags.get("access") not in ("private", "no")
            and tags.get("motor_vehicle") != "no" and tags.get("motorcar") != "no")


def readme_counts(text: str, label: str) -> dict[str, int]:
    """'- Label: a 1, b 2 (x km).' from a README as {a: 1, b: 2}."""
    line = re.search(rf"^- {label}: (.*)\.$", text, re.MULTILINE)
    assert line, f"README has no '- {label}:' line"
    return {k: int(n.replace(",", "")) for k, n in re.findall(r"(\S+) ([\d,]+)(?: \([^)]*\))?(?:,|$)",
                                                                  line.group(1))}


@pytest.fixture(scope="module", params=sorted(SAMPLES))
def sample(request: pytest.FixtureRequest) -> str:
    return request.param


def layer(name: str, stem: str) -> gpd.GeoDataFrame:
    return gpd.read_file(SAMPLES[name] / f"{stem}.gpkg", layer=stem, engine="pyogrio").to_crs(CRS[name])


@pytest.fixture(scope="module")
def osm_of() -> dict[str, Osm]:
    return {name: read_osm(folder / "roads.osm", CRS[name]) for name, folder in SAMPLES.items()}


def test_files_exist_are_small_and_readable(sample: str) -> None:
    folder = SAMPLES[sample]
    for name in FILES:
        assert (folder / name).is_file(), name
    assert len(list((folder / "scenarios").glob("*.yml"))) == 2
    data = [p for p in folder.rglob("*") if p.is_file() and "__pycache__" not in p.parts]
    assert sum(p.stat().st_size for p in data) < 1_500_000
    for stem in ("villages", "facilities", "boundaries"):
        layers = pyogrio.list_layers(folder / f"{stem}.gpkg")
        assert [str(x) for x in layers[:, 0]] == [stem]
        gdf = layer(sample, stem)
        assert len(gdf) > 0 and gdf.geometry.is_valid.all() and not gdf.geometry.is_empty.any()
    text = (folder / "roads.osm").read_text(encoding="utf-8")
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>') and '<osm version="0.6"' in text
    root = ET.fromstring(text.encode("utf-8"))
    used = {nd.get("ref") for nd in root.iter("nd")}
    assert used == {n.get("id") for n in root.iter("node")}  # every node used, none missing


def test_everything_is_labelled_synthetic(sample: str) -> None:
    folder = SAMPLES[sample]
    project = yaml.safe_load((folder / "project.yml").read_text(encoding="utf-8"))
    assert "合成样例" in project["name"]
    assert "SYNTHETIC" in (folder / "project.yml").read_text(encoding="utf-8").splitlines()[0]
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "合成样例" in readme.splitlines()[0] and "**Everything in this folder is synthetic.**" in readme
    head = (folder / "roads.osm").read_text(encoding="utf-8")[:600]
    assert "SYNTHETIC" in head and "合成样例" in head
    bounds = layer(sample, "boundaries")
    assert bounds.loc[bounds["level"] == "county", "name"].str.contains("合成样例").all()
    for stem in ("boundaries", "facilities"):
        assert layer(sample, stem)["source"].str.contains("synthetic").all()
    assert layer(sample, "villages")["来源"].str.contains("synthetic").all()
    for path in (folder / "scenarios").glob("*.yml"):
        text = path.read_text(encoding="utf-8")
        assert "SYNTHETIC" in text.splitlines()[0] and "合成样例" in yaml.safe_load(text)["title"]


def test_counts_and_totals_match_the_readme(sample: str, osm_of: dict[str, Osm]) -> None:
    folder = SAMPLES[sample]
    readme = (folder / "README.md").read_text(encoding="utf-8")
    villages, facilities = layer(sample, "villages"), layer(sample, "facilities")
    bounds = layer(sample, "boundaries")
    residents = int(re.search(r"^- Residents: ([\d,]+)", readme, re.MULTILINE).group(1).replace(",", ""))
    assert villages["常住人口"].sum() == residents
    assert readme_counts(readme, "Facilities") == dict(Counter(facilities["kind"]))
    assert readme_counts(readme, "Road ways") == dict(Counter(w.tags["highway"] for w in osm_of[sample].ways))
    nodes, ways = map(int, re.search(r"OSM XML 0\.6: (\d+) nodes, (\d+) ways", readme).groups())
    assert (nodes, ways) == (len(osm_of[sample].xy), len(osm_of[sample].ways))
    area = float(re.search(r"^- Area: ([\d,.]+) km²", readme, re.MULTILINE).group(1).replace(",", ""))
    county = bounds.loc[bounds["level"] == "county"].geometry.iloc[0]
    assert county.area / 1e6 == pytest.approx(area, abs=0.5)
    towns = bounds[bounds["level"] == "township"]
    assert f"and {len(towns)} " in readme
    vid, name, township = COLUMNS[sample]
    assert villages[vid].is_unique and villages[vid].str.fullmatch(r"\d{12}").all()
    assert set(villages[township]) == set(towns["name"])
    assert (villages["65岁以上"] + villages["6岁以下"] < villages["常住人口"]).all()
    assert (villages["常住人口"] > 0).all() and not villages.duplicated([township, name]).any()
    # Townships tile the area, and every village stands in its own township.
    assert towns.area.sum() == pytest.approx(county.area, rel=1e-4)
    shapes = towns.set_index("name").geometry
    assert all(shapes[t].contains(p) for t, p in zip(villages[township], villages.geometry))


def test_every_kind_and_service_is_known(sample: str) -> None:
    facilities = layer(sample, "facilities")
    assert facilities["fid"].is_unique
    canon = facilities["kind"].map(normalise_kind)
    assert canon.notna().all() and set(canon) <= set(KINDS)
    tokens = {s for text in facilities["services"] for s in text.split(";") if s}
    assert all(normalise_service(s) for s in tokens)
    villages = layer(sample, "villages")
    vid = COLUMNS[sample][0]
    linked = facilities.loc[facilities["vid"] != "", "vid"]
    assert linked.isin(villages[vid]).all()
    for kind in ("maternal_child", "county_tcm_hospital", "ems_centre"):
        assert (canon == kind).sum() == 1, kind
    assert facilities.loc[canon == "ems_centre", "ambulances"].iloc[0] > 0


def test_district_is_urban_with_no_township_centre_or_village_clinic() -> None:
    villages, facilities = layer("district", "villages"), layer("district", "facilities")
    bounds = layer("district", "boundaries")
    canon = facilities["kind"].map(normalise_kind)
    assert not canon.isin(["township_hc", "subcentre", "village_clinic"]).any()
    assert (villages["类型"] == "城镇").all() and villages["社区名"].str.endswith("社区").all()
    assert 24 <= len(villages) <= 99 and 300_000 <= villages["常住人口"].sum() <= 700_000
    streets = bounds.loc[bounds["level"] == "township", "name"]
    assert 4 <= len(streets) <= 10 and streets.str.endswith("街道").all()
    assert (canon == "city_hospital").sum() >= 1 and 1 <= (canon == "ems_station").sum() <= 3
    centres = set(facilities.loc[canon == "community_centre", "township"])
    assert centres < set(streets) and len(centres) >= len(streets) - 2  # about one per 街道, one without
    assert (canon == "community_station").sum() >= len(streets)
    county = bounds.loc[bounds["level"] == "county"].geometry.iloc[0]
    assert 50e6 <= county.area <= 200e6


def test_banner_is_wide_pastoral_with_subcentres_and_clinics(osm_of: dict[str, Osm]) -> None:
    villages, facilities = layer("banner", "villages"), layer("banner", "facilities")
    bounds = layer("banner", "boundaries")
    county = bounds.loc[bounds["level"] == "county"].geometry.iloc[0]
    x0, y0, x1, y1 = county.bounds
    assert x1 - x0 > 100_000 and y1 - y0 > 100_000 and county.area > 10_000e6
    towns = bounds.loc[bounds["level"] == "township", "name"]
    assert 8 <= len(towns) <= 12 and towns.str.contains("(?:苏木|镇)$").all()
    assert towns.str.endswith("苏木").sum() >= 3
    project = yaml.safe_load((BANNER / "project.yml").read_text(encoding="utf-8"))
    assert project["parameters"] == {"bands_min": [30, 60, 90, 120]}
    canon = facilities["kind"].map(normalise_kind)
    counts = canon.value_counts()
    assert counts["county_hospital"] == 1 and counts["subcentre"] == 2 and counts["township_hc"] >= 5
    assert (facilities.loc[canon == "subcentre", "kind"] == "中心卫生院").all()
    assert (facilities.loc[canon == "township_hc", "kind"] == "苏木镇卫生院").all()
    assert (facilities.loc[canon == "village_clinic", "kind"] == "嘎查村卫生室").all()
    thc_amb = facilities.loc[canon == "township_hc", "ambulances"]
    assert (thc_amb > 0).any() and (thc_amb == 0).any()
    rural = villages[villages["类型"] == "农村"]
    urban = villages[villages["类型"] == "城镇"]
    assert len(rural) > 3 * len(urban) and 3 <= len(urban) <= 10 and urban["苏木镇"].nunique() == 1
    assert rural["嘎查村名"].str.endswith("嘎查").mean() > 0.75 and rural["嘎查村名"].str.endswith("村").any()
    clinics = set(facilities.loc[canon == "village_clinic", "vid"])
    has = rural["嘎查村代码"].isin(clinics)
    assert has.mean() > 0.8  # most 嘎查村 have a clinic
    assert ((rural["常住人口"] < 200) & ~has).sum() >= 2  # some small ones have none
    assert not facilities.loc[canon == "village_clinic", "vid"].isin(urban["嘎查村代码"]).any()
    # Exactly one village more than 2 km from any road, and it is small and has no clinic.
    roads = shapely.union_all([osm_of["banner"].line(w) for w in osm_of["banner"].ways])
    gap = villages.geometry.distance(roads)
    off = villages[gap > 2000]
    assert len(off) == 1 and off["常住人口"].iloc[0] < 200 and off["嘎查村代码"].iloc[0] not in clinics
    assert (gap[gap <= 2000] <= 500).all()


def test_banner_roads_are_sparse_with_long_tracks(osm_of: dict[str, Osm]) -> None:
    osm = osm_of["banner"]
    km = Counter()
    longest = Counter()
    for w in osm.ways:
        length = osm.line(w).length / 1000.0
        km[w.tags["highway"]] += length
        longest[w.tags["highway"]] = max(longest[w.tags["highway"]], length)
    assert set(km) >= {"primary", "secondary", "unclassified", "track"}
    assert sum(1 for w in osm.ways if w.tags["highway"] == "track") >= 20
    assert km["track"] >= 150 and longest["track"] >= 15  # over an hour at 15 km/h
    county = layer("banner", "boundaries").query("level == 'county'").geometry.iloc[0]
    assert sum(km.values()) / (county.area / 1e6) < 0.1  # km of road per km²


def test_district_road_traps_are_present(osm_of: dict[str, Osm]) -> None:
    osm = osm_of["district"]
    ways = osm.ways
    oneway = [w for w in ways if w.tags.get("oneway") == "yes"]
    assert len(oneway) >= 2 and all(w.tags["highway"] == "residential" for w in oneway)
    walk = [w for w in ways if w.tags["highway"] in WALK_ONLY]
    assert {"footway", "pedestrian", "steps"} <= {w.tags["highway"] for w in walk}
    with_speed = [w for w in walk if "maxspeed" in w.tags]
    assert len(with_speed) >= 2 and len(walk) > len(with_speed)
    service = Counter(w.tags.get("service") for w in ways if w.tags["highway"] == "service")
    assert service["parking_aisle"] >= 2 and service["driveway"] >= 1
    closed = [w for w in ways if w.tags.get("access") == "private" or w.tags.get("motor_vehicle") == "no"]
    assert len(closed) >= 2
    # Components of the way graph: the parking-lot island is a small one of parking aisles only.
    g = nx.Graph()
    for w in ways:
        nx.add_path(g, w.nodes, way=w.id)
    parts = sorted(nx.connected_components(g), key=len, reverse=True)
    islands = parts[1:]
    assert len(islands) == 1 and 3 <= len(islands[0]) <= 6
    island = [w for w in ways if set(w.nodes) <= islands[0]]
    assert all(w.tags["highway"] == "service" and w.tags.get("service") == "parking_aisle" for w in island)
    # A community right beside it: nearer to the island than to any other way, within 300 m of a
    # drivable road of the main network.
    villages = layer("district", "villages")
    island_geom = shapely.union_all([osm.line(w) for w in island])
    others = shapely.union_all([osm.line(w) for w in ways if w not in island])
    connected = shapely.union_all([osm.line(w) for w in ways if w not in island and drivable(w.tags)
                                   and set(w.nodes) <= parts[0]])
    beside = villages[villages.geometry.distance(island_geom) < villages.geometry.distance(others)]
    assert len(beside) == 1
    assert beside.geometry.distance(connected).iloc[0] <= 300.0
    assert beside.geometry.distance(island_geom).iloc[0] < 100.0
    # The README's trap table names these ways by id.
    readme = (DISTRICT / "README.md").read_text(encoding="utf-8")
    table = {name: {int(i) for i in ids.split(", ")}
             for name, ids in re.findall(r"^\| `(\w+)` \| .* \| ([\d, ]+) \|$", readme, re.MULTILINE)}
    by_id = {w.id: w for w in ways}
    assert table["parking_island"] == {w.id for w in island}
    assert table["oneway"] == {w.id for w in oneway}
    assert table["walk_only_maxspeed"] == {w.id for w in with_speed}
    assert all(by_id[i].tags.get("service") == "parking_aisle" for i in table["parking_aisle"])
    assert all(by_id[i].tags.get("service") == "driveway" for i in table["driveway"])
    assert all(by_id[i].tags.get("access") == "private" for i in table["private"])
    assert all(by_id[i].tags.get("motor_vehicle") == "no" for i in table["no_motor_vehicles"])
    beside_text = beside["社区代码"].iloc[0]
    assert beside_text in readme


def test_scenarios_resolve_against_their_sample(sample: str) -> None:
    folder = SAMPLES[sample]
    fids = set(layer(sample, "facilities")["fid"])
    for path in sorted((folder / "scenarios").glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert (path.parent / doc["base"]).resolve() == (folder / "project.yml").resolve()
        assert re.fullmatch(r"[A-Za-z0-9_-]+", doc["name"]) and doc["name"] == path.stem
        for change in doc["changes"]:
            (action, body), = change.items()
            if action == "add":
                assert body["fid"] not in fids and normalise_kind(body["kind"])
                site = gpd.GeoSeries(gpd.points_from_xy([body["lon"]], [body["lat"]]), crs="EPSG:4326")
                county = layer(sample, "boundaries").query("level == 'county'").to_crs("EPSG:4326")
                assert county.geometry.iloc[0].contains(site.iloc[0])
            else:
                assert body["fid"] in fids


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_generator_is_deterministic(name: str, tmp_path: Path) -> None:
    generate = {"district": generate_district, "banner": generate_banner}[name]
    generate(tmp_path)
    folder = SAMPLES[name]
    texts = ["roads.osm", "project.yml", "README.md", "villages.gpkg", "facilities.gpkg", "boundaries.gpkg"]
    texts += [f"scenarios/{p.name}" for p in (folder / "scenarios").glob("*.yml")]
    for rel in texts:
        assert (tmp_path / rel).read_bytes() == (folder / rel).read_bytes(), rel
    assert pyogrio.get_gdal_config_option("OGR_CURRENT_DATE") is None  # the fixed date is not left set
