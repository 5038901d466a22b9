"""A tiny county (a 6 x 6 km road grid, twelve villages, five facilities) whose full run takes seconds:
the kill and concurrency tests run it many times."""
from __future__ import annotations

import itertools
from pathlib import Path

import geopandas as gpd
import shapely

LON0, LAT0 = 111.5, 38.9
KM_LON, KM_LAT = 1 / 86.6, 1 / 111.0  # degrees per km near 39°N


def _pt(x_km: float, y_km: float) -> shapely.Point:
    return shapely.Point(LON0 + x_km * KM_LON, LAT0 + y_km * KM_LAT)


def write_tiny(folder: Path) -> Path:
    """Write the tiny project's layers and project.yml into `folder`; return the project file."""
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
                  ("T2", "西乡卫生院", "township_hc", 0.9, 4.8, 0), ("C1", "河村卫生室", "village_clinic", 2.1, 0.9, 0),
                  ("E1", "急救中心", "ems_centre", 3.2, 2.9, 3)]
    gpd.GeoDataFrame(
        [{"fid": f, "name": n, "kind": k, "beds": 20, "doctors": 5, "nurses": 5, "ambulances": a,
          "township": "东镇" if x > 3 else "西乡"} for f, n, k, x, _, a in facilities],
        geometry=[_pt(x, y) for *_, x, y, _ in facilities], crs="EPSG:4326").to_file(folder / "facilities.geojson")
    villages = [(0.3 + (i % 4) * 1.7, 0.4 + (i // 4) * 2.1) for i in range(12)]
    gpd.GeoDataFrame(
        [{"vid": f"V{i:02d}", "name": f"{i}号村", "population": 300 + 40 * i,
          "township": "东镇" if x > 3 else "西乡", "setting": "rural"} for i, (x, _) in enumerate(villages)],
        geometry=[_pt(x, y) for x, y in villages], crs="EPSG:4326").to_file(folder / "villages.geojson")
    project = folder / "project.yml"
    project.write_text("name: 小县\ncrs: EPSG:4546\nlayers:\n  roads: roads.geojson\n  facilities: facilities.geojson\n"
                       "  villages: villages.geojson\nparameters: {}\n", encoding="utf-8")
    return project
