"""Roads as drivers use them, on small hand-built OSM files with hand-computed times: access tags close roads
to cars (and to walkers), maxspeed sets a speed but never drivability, and points beside small road
islands join the connected network as OSRM joins them."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from healthreach._errors import InputError
from healthreach.config import Settings, settings_from_parameters
from healthreach.coverage.network import build_networks
from healthreach.coverage.quality import network_qa
from healthreach.coverage.traveltime import nearest
from healthreach.layers.roads import read_roads
from healthreach.layers.roads.lines import read_road_lines
from healthreach.layers.roads.speeds import MODES
from netfixtures import CRS, ORIGIN, xy
from osmfixtures import write_osm

S = Settings()
REL = 1e-4  # the file stores degrees: a millimetre of projection and rounding on a few hundred metres


def door_to_door(edges: gpd.GeoDataFrame, points: list[tuple[float, float]], settings: Settings = S
                 ) -> dict[str, np.ndarray]:
    """Per mode, seconds from each point to the last one (toward it), points joined as a run joins them."""
    nets = build_networks(edges, MODES, settings, CRS, xy(points))
    return {mode: nearest(net, net.point_node[[-1]], toward=True).cost[net.point_node[:-1]]
            for mode, net in nets.items()}


# A village V west of node 1 and a clinic F east of node 4, 30 m off the road ends. An unclassified detour
# (30 km/h) runs 1,500 m north, 2,000 m east, 1,500 m south: 5,000 m. A 2,000 m short cut joins nodes 1 and 4
# directly, tagged as each case says.
NODES = {1: (0, 0), 2: (0, 1500), 3: (2000, 1500), 4: (2000, 0), 5: (1000, 0)}
V, F = (-30, 0), (2030, 0)
LEGS_S = 2 * 30 / 4 * 3.6  # two 30 m access legs at 4 km/h
DETOUR_S = 5000 / 30 * 3.6  # 600 s by car, ambulance (unclassified: 30 km/h, design speed 30) alike
DETOUR_WALK_S = 5000 / 4 * 3.6  # 4,500 s
CUT_WALK_S = 2000 / 4 * 3.6  # 1,800 s


def cut(kmh: float) -> float:
    return 2000 / kmh * 3.6


# tags of the short cut -> (drive, walk, ambulance) road seconds V -> F, worked out by hand.
CASES = {
    "footway with maxspeed 60": ({"highway": "footway", "maxspeed": "60"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "cycleway with maxspeed 30": ({"highway": "cycleway", "maxspeed": "30"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "pedestrian street with maxspeed 10": ({"highway": "pedestrian", "maxspeed": "10"}, DETOUR_S, CUT_WALK_S,
                                           DETOUR_S),
    "path": ({"highway": "path"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "steps": ({"highway": "steps", "maxspeed": "50"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "bridleway": ({"highway": "bridleway"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "construction": ({"highway": "construction", "maxspeed": "60"}, DETOUR_S, DETOUR_WALK_S, DETOUR_S),
    "proposed": ({"highway": "proposed"}, DETOUR_S, DETOUR_WALK_S, DETOUR_S),
    "private residential": ({"highway": "residential", "access": "private"}, DETOUR_S, DETOUR_WALK_S, DETOUR_S),
    "access=no": ({"highway": "tertiary", "access": "no"}, DETOUR_S, DETOUR_WALK_S, DETOUR_S),
    "motor_vehicle=no bridge": ({"highway": "tertiary", "motor_vehicle": "no", "bridge": "yes"}, DETOUR_S,
                                CUT_WALK_S, DETOUR_S),
    "motorcar=no": ({"highway": "tertiary", "motorcar": "no"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "vehicle=no": ({"highway": "tertiary", "vehicle": "no"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "parking aisle": ({"highway": "service", "service": "parking_aisle"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "driveway": ({"highway": "service", "service": "driveway"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "emergency access": ({"highway": "service", "service": "emergency_access"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    "private service road": ({"highway": "service", "service": "private"}, DETOUR_S, CUT_WALK_S, DETOUR_S),
    # Open: the most specific tag decides; maxspeed sets the speed of what may be driven.
    "access=no but motor_vehicle=yes": ({"highway": "tertiary", "access": "no", "motor_vehicle": "yes"}, cut(40),
                                        DETOUR_WALK_S, cut(40)),
    "access=no but foot=yes": ({"highway": "tertiary", "access": "no", "foot": "yes"}, DETOUR_S, CUT_WALK_S,
                               DETOUR_S),
    "foot=no": ({"highway": "tertiary", "foot": "no"}, cut(40), DETOUR_WALK_S, cut(40)),
    "tertiary with maxspeed 20": ({"highway": "tertiary", "maxspeed": "20"}, cut(20), CUT_WALK_S, cut(24)),
    # Unlike osmnx's drive filter, tracks and plain service roads stay, at the plans' 15 km/h (ambulance
    # x 1.2 = 18, under the 20 km/h design speed).
    "track": ({"highway": "track"}, cut(15), CUT_WALK_S, cut(18)),
    "agricultural track": ({"highway": "track", "motor_vehicle": "agricultural"}, cut(15), CUT_WALK_S, cut(18)),
    "service road": ({"highway": "service"}, cut(15), CUT_WALK_S, cut(18)),
    "alley": ({"highway": "service", "service": "alley"}, cut(15), CUT_WALK_S, cut(18)),
    "destination only": ({"highway": "residential", "access": "destination"}, cut(30), CUT_WALK_S, cut(30)),
    "motorway": ({"highway": "motorway"}, cut(100), DETOUR_WALK_S, cut(120)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_short_cut_is_used_only_as_its_tags_allow(case: str, tmp_path: Path) -> None:
    tags, drive, walk, ambulance = CASES[case]
    ways = [([1, 2, 3, 4], {"highway": "unclassified"}), ([1, 5, 4], tags)]
    edges = read_roads(write_osm(tmp_path / "roads.osm", NODES, ways))
    times = door_to_door(edges, [V, F])
    assert times["drive"][0] == pytest.approx(LEGS_S + drive, rel=REL)
    assert times["walk"][0] == pytest.approx(LEGS_S + walk, rel=REL)
    assert times["ambulance"][0] == pytest.approx(LEGS_S + ambulance, rel=REL)


def test_access_codes_are_carried_per_segment(tmp_path: Path) -> None:
    ways = [([1, 2, 3, 4], {"highway": "unclassified"}), ([1, 5], {"highway": "residential", "access": "private"}),
            ([5, 4], {"highway": "tertiary", "motor_vehicle": "no"})]
    edges = read_roads(write_osm(tmp_path / "roads.osm", NODES, ways)).set_index(["u", "v"])
    assert edges.loc[(1, 4), ["access", "foot"]].tolist() == ["yes", "yes"]
    assert edges.loc[(1, 5), ["access", "foot"]].tolist() == ["private", "private"]
    assert edges.loc[(5, 4), ["access", "foot"]].tolist() == ["no", "yes"]


def test_closed_roads_are_counted_in_the_quality_report(tmp_path: Path) -> None:
    ways = [([1, 2, 3, 4], {"highway": "unclassified"}), ([1, 5], {"highway": "residential", "access": "private"}),
            ([5, 4], {"highway": "footway", "maxspeed": "40"})]
    edges = read_roads(write_osm(tmp_path / "roads.osm", NODES, ways))
    villages, facilities = _points({"V": V}, "vid"), _points({"F": F}, "fid")
    nets = build_networks(edges, MODES, S, CRS, xy([V, F]))
    qa = network_qa(edges, nets, villages, facilities, S).set_index(["check", "mode"])
    assert qa.loc[("closed", "drive"), "value"] == 1 and qa.loc[("closed", "walk"), "value"] == 1
    # A closed road or a footway is no unknown class: nothing to add to class_speeds_kmh.
    assert qa.loc[("no_speed", "drive"), "value"] == 0
    assert qa.loc[("speed_from_maxspeed", "drive")]["value"].min() == 0  # the footway's maxspeed is unused


def test_line_layers_carry_an_optional_access_column(tmp_path: Path) -> None:
    lines = [[(0, 0), (0, 1500), (2000, 1500), (2000, 0)], [(0, 0), (1000, 0), (2000, 0)]]
    geoms = [shapely.LineString([(ORIGIN[0] + x, ORIGIN[1] + y) for x, y in line]) for line in lines]
    path = tmp_path / "roads.gpkg"
    gpd.GeoDataFrame({"等级": ["乡道", "县道"], "access": [None, "专用"]}, geometry=geoms, crs=CRS).to_file(path)
    edges = read_road_lines(path, class_column="等级").edges
    assert sorted(edges["access"]) == ["private", "yes"] and set(edges["foot"]) == {"yes"}
    times = door_to_door(edges, [V, F])
    assert times["drive"][0] == pytest.approx(LEGS_S + DETOUR_S, rel=REL)
    assert times["walk"][0] == pytest.approx(LEGS_S + CUT_WALK_S, rel=REL)  # no foot column: walked
    gpd.GeoDataFrame({"等级": ["乡道", "县道"], "access": ["yes", "maybe"]}, geometry=geoms, crs=CRS).to_file(path)
    with pytest.raises(InputError, match=r"row 2, field 'access': access value 'maybe'"):
        read_road_lines(path, class_column="等级")


# --------------------------------------------------------------------------- road islands

# The connected network: a tertiary road (40 km/h) along y = 0 from x = 0 to 3,000 m. A parking lot of
# plain service roads 300 m north (an island of 2 junctions) with a village 20 m from it; a second lot
# 3,000 m north (beyond max_snap_m of the road) holding a village and its clinic.
ISLAND_NODES = {1: (0, 0), 2: (1500, 0), 3: (3000, 0), 11: (1000, 300), 12: (1100, 300),
                21: (1000, 3000), 22: (1200, 3000)}
ISLAND_WAYS = [([1, 2, 3], {"highway": "tertiary"}), ([11, 12], {"highway": "service"}),
               ([21, 22], {"highway": "service"})]
NEAR_LOT, FAR_LOT, FAR_CLINIC, HOSPITAL = (1050, 320), (1050, 3020), (1150, 3010), (3000, -30)


def _points(named: dict[str, tuple[float, float]], id_col: str) -> gpd.GeoDataFrame:
    geoms = gpd.GeoSeries(shapely.points(xy(list(named.values()))), crs=CRS).to_crs("EPSG:4326")
    return gpd.GeoDataFrame({id_col: list(named), "name": [f"名{k}" for k in named]}, geometry=geoms.to_numpy(),
                            crs="EPSG:4326")


@pytest.fixture(scope="module")
def island_edges(tmp_path_factory: pytest.TempPathFactory) -> gpd.GeoDataFrame:
    return read_roads(write_osm(tmp_path_factory.mktemp("islands") / "roads.osm", ISLAND_NODES, ISLAND_WAYS))


def test_a_point_beside_a_parking_lot_joins_the_connected_road(island_edges: gpd.GeoDataFrame) -> None:
    times = door_to_door(island_edges, [NEAR_LOT, HOSPITAL])
    # 320 m walked straight south to the road at x = 1,050, 1,950 m driven east at 40 km/h, 30 m walked.
    expected = 320 / 4 * 3.6 + 1950 / 40 * 3.6 + 30 / 4 * 3.6
    assert times["drive"][0] == pytest.approx(expected, rel=REL)
    assert times["walk"][0] == pytest.approx((320 + 1950 + 30) / 4 * 3.6, rel=REL)


def test_the_join_is_listed_in_the_quality_report(island_edges: gpd.GeoDataFrame) -> None:
    villages = _points({"V1": NEAR_LOT, "V2": FAR_LOT}, "vid")
    facilities = _points({"VC": FAR_CLINIC, "H": HOSPITAL}, "fid")
    nets = build_networks(island_edges, MODES, S, CRS, xy([NEAR_LOT, FAR_LOT, FAR_CLINIC, HOSPITAL]))
    qa = network_qa(island_edges, nets, villages, facilities, S)
    joins = qa[qa["check"] == "island_join"]
    assert sorted(joins["mode"]) == sorted(MODES) and set(joins["id"]) == {"V1"}
    assert joins["value"].tolist() == pytest.approx([320.0] * 3)
    assert joins["message"].str.contains("20 m away, lies on a road island of 2 junctions").all()
    assert joins["message"].str.contains("joined the connected network 320 m away").all()
    # The far lot has no connected road within max_snap_m: its village and clinic stay on it.
    assert set(qa.loc[qa["check"] == "island", "id"]) == {"V2", "VC"}


def test_far_from_the_network_an_island_keeps_its_points(island_edges: gpd.GeoDataFrame) -> None:
    times = door_to_door(island_edges, [FAR_LOT, HOSPITAL])
    assert np.isinf(times["drive"][0])  # cut off from the hospital
    clinic = door_to_door(island_edges, [FAR_LOT, FAR_CLINIC])
    # 20 m to the lot, 100 m along it at 15 km/h, 10 m to the clinic.
    assert clinic["drive"][0] == pytest.approx(30 / 4 * 3.6 + 100 / 15 * 3.6, rel=REL)


def test_small_component_size_is_a_parameter(island_edges: gpd.GeoDataFrame) -> None:
    settings = settings_from_parameters({"small_component_size": 1})
    assert settings.small_component_size == 1 and S.small_component_size == 250
    times = door_to_door(island_edges, [NEAR_LOT, HOSPITAL], settings)
    assert np.isinf(times["drive"][0])  # every piece counts as connected: the village stays on its lot
    assert np.isfinite(door_to_door(island_edges, [NEAR_LOT, HOSPITAL], replace(S, small_component_size=3))["drive"][0])
    with pytest.raises(InputError, match="small_component_size"):
        settings_from_parameters({"small_component_size": 0})
