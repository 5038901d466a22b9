"""Small hand-built OSM files and projects (coordinates in metres from netfixtures.ORIGIN)."""
from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import shapely

from netfixtures import CRS, xy


def lonlat(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """WGS84 lon/lat of points given in metres from ORIGIN."""
    series = gpd.GeoSeries(shapely.points(xy(points)), crs=CRS).to_crs("EPSG:4326")
    return [(p.x, p.y) for p in series]


def write_osm(path: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict[str, str]]]) -> Path:
    """An OSM XML file of `nodes` (metres from ORIGIN) and `ways` (node ids, tags), way ids from 1."""
    lines = ['<?xml version="1.0" encoding="UTF-8"?>', '<osm version="0.6" generator="test">']
    for n, (lon, lat) in zip(nodes, lonlat(list(nodes.values()))):
        lines.append(f'  <node id="{n}" version="1" lat="{lat:.9f}" lon="{lon:.9f}"/>')
    for w, (refs, tags) in enumerate(ways, start=1):
        lines.append(f'  <way id="{w}" version="1">')
        lines += [f'    <nd ref="{r}"/>' for r in refs]
        lines += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in tags.items()]
        lines.append("  </way>")
    lines.append("</osm>")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _points(path: Path, rows: list[dict], at: list[tuple[float, float]]) -> None:
    features = [{"type": "Feature", "properties": row, "geometry": {"type": "Point", "coordinates": list(p)}}
                for row, p in zip(rows, lonlat(at))]
    path.write_text(json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
                    encoding="utf-8")


def write_project(folder: Path, nodes: dict[int, tuple[float, float]], ways: list[tuple[list[int], dict[str, str]]],
                  villages: dict[str, tuple[float, float]], facilities: dict[str, tuple[str, tuple[float, float]]],
                  ) -> Path:
    """A project folder: roads, villages (id -> place; 100 residents each) and facilities (id -> kind, place)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_osm(folder / "roads.osm", nodes, ways)
    _points(folder / "villages.geojson",
            [{"vid": v, "name": f"{v}村", "population": 100, "township": "甲镇", "setting": "rural"} for v in villages],
            list(villages.values()))
    _points(folder / "facilities.geojson",
            [{"fid": f, "name": f"{f}所", "kind": kind, "beds": 0, "doctors": 1, "nurses": 0,
              "ambulances": 1 if kind.startswith("ems") else 0, "township": "甲镇"}
             for f, (kind, _) in facilities.items()], [p for _, p in facilities.values()])
    (folder / "project.yml").write_text(
        f"name: 测试\ncrs: {CRS}\nlayers:\n  roads: roads.osm\n  facilities: facilities.geojson\n"
        "  villages: villages.geojson\nparameters: {}\n", encoding="utf-8")
    return folder / "project.yml"
