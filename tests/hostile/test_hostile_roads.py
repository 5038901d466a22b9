"""Hostile road files: they fail while the run holds its output folder, which must come through intact."""
from __future__ import annotations

import geopandas as gpd
import pyogrio
import pytest
import shapely
from conftest import Hostile

JOSM = """<?xml version='1.0' encoding='UTF-8'?>
<osm version='0.6' generator='JOSM'>
  <node id='-101' action='modify' lat='38.93' lon='111.60' />
  <node id='-102' action='modify' lat='38.93' lon='111.70' />
  <way id='-201' action='modify'><nd ref='-101' /><nd ref='-102' /><tag k='highway' v='tertiary' /></way>
</osm>
"""


def _roads(case: Hostile, name: str) -> None:
    case.project(f"roads: {case.sample / 'roads.osm'}", f"roads: {case.root / name}")


def _lines(case: Hostile, frame: gpd.GeoDataFrame, name: str = "roads.geojson", mapping: str = "") -> None:
    pyogrio.write_dataframe(frame, case.root / name)
    case.project(f"roads: {case.sample / 'roads.osm'}",
                 f"roads:\n    path: {case.root / name}" + (f"\n    columns: {mapping}" if mapping else ""))


def _sample_lines(case: Hostile) -> gpd.GeoDataFrame:
    """A few road lines across the sample county."""
    lines = [shapely.LineString([(111.45 + 0.05 * i, 38.85), (111.45 + 0.05 * i, 39.05)]) for i in range(8)]
    return gpd.GeoDataFrame({"highway": ["tertiary"] * 8, "speed": [40.0] * 8}, geometry=lines, crs="EPSG:4326")


def test_roads_file_missing(case: Hostile) -> None:
    _roads(case, "nowhere.osm")
    case.expect("run", "project.yml", code=1, says=("nowhere.osm", "file not found"), previous=True)


def test_roads_of_an_unsupported_type(case: Hostile) -> None:
    case.write("roads.txt", "a road\n")
    _roads(case, "roads.txt")
    case.expect("run", "project.yml", code=1, says=("roads.txt", "is not supported", "expected .osm"))


def test_truncated_osm_xml(case: Hostile) -> None:
    text = (case.sample / "roads.osm").read_text(encoding="utf-8")
    case.write("roads.osm", text[: len(text) // 2])
    _roads(case, "roads.osm")
    case.expect("run", "project.yml", code=1, says=("roads.osm", "not a readable OSM file"), previous=True)


def test_osm_with_negative_ids_from_josm(case: Hostile) -> None:
    """Refused with a pybind11 cast message before."""
    case.write("roads.osm", JOSM)
    _roads(case, "roads.osm")
    case.expect("run", "project.yml", code=1, says=("roads.osm", "negative ids", "expected an OSM file with positive ids"),
                previous=True)


def test_osm_without_highways(case: Hostile) -> None:
    case.write("roads.osm", JOSM.replace("'-", "'").replace("highway", "waterway"))
    _roads(case, "roads.osm")
    case.expect("run", "project.yml", code=1, says=("roads.osm", "no routable roads"))


def test_pbf_of_garbage(case: Hostile) -> None:
    case.write("roads.osm.pbf", b"\x00\x00\x00\x0dnot protobuf" * 50)
    _roads(case, "roads.osm.pbf")
    case.expect("run", "project.yml", code=1, says=("roads.osm.pbf", "not a readable OSM file"), previous=True)


def test_lines_without_class_or_speed(case: Hostile) -> None:
    _lines(case, _sample_lines(case).drop(columns=["highway", "speed"]).assign(kind="x"))
    case.expect("run", "project.yml", code=1, says=("roads.geojson", "neither a class nor a speed column"))


def test_lines_with_a_mapped_column_absent(case: Hostile) -> None:
    _lines(case, _sample_lines(case), mapping="{class: 等级}")
    case.expect("run", "project.yml", code=1, says=("roads.geojson", "column '等级'", "is not in the file"))


def test_lines_of_points(case: Hostile) -> None:
    frame = _sample_lines(case)
    _lines(case, frame.set_geometry(frame.geometry.representative_point()))
    case.expect("run", "project.yml", code=1, says=("roads.geojson", "row 1", "geometry"), previous=True)


@pytest.mark.parametrize("speed", ["fast", -40.0, 0.0])
def test_lines_with_bad_speeds(case: Hostile, speed: object) -> None:
    frame = _sample_lines(case).assign(highway="tertiary")
    frame["speed"] = frame["speed"].astype(object)
    frame.loc[2, "speed"] = speed
    _lines(case, frame, mapping="{speed_kmh: speed}")
    case.expect("run", "project.yml", code=1, says=("roads.geojson", "speed", "km/h > 0"), previous=True)


def test_lines_with_an_unknown_class(case: Hostile) -> None:
    _lines(case, _sample_lines(case).assign(highway="超级公路").drop(columns=["speed"]))
    case.expect("run", "project.yml", code=1, says=("roads.geojson", "超级公路"))


def test_lines_far_from_the_county(case: Hostile) -> None:
    frame = _sample_lines(case)
    _lines(case, frame.set_geometry(frame.geometry.translate(20.0, 0.0)))
    case.expect("run", "project.yml", code=1, says=("roads.geojson", "no road lines within the study area"))
