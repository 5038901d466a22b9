"""Small hand-built analysis results for the map tests (every figure can be checked by hand)."""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString, Point, Polygon, box

from healthreach.coverage.result import AnalysisResult

MALICIOUS = "<img src=x onerror=alert(1)>"
NAN = math.nan
BANDS = (15, 30, 45, 60)
"""The bands of the hand-built results (their county summary has these columns)."""

# vid, name, population, township, lon, lat, township tier (fid, seconds, metres), note
VILLAGES = [
    ("V01", "老营村", 1234, "老营镇", 111.50, 39.40, ("F-THC1", 600.0, 6500.0), ""),
    ("V02", "水泉村", 856, "水泉乡", 111.62, 39.46, ("F-THC2", 1500.0, 14200.0), ""),
    ("V03", MALICIOUS, 321, "老营镇", 111.44, 39.35, ("F-THC1", 2400.0, 21000.0), MALICIOUS),
    ("V04", "万家寨村", 150, "万家寨镇", 111.40, 39.52, (None, NAN, NAN), "道路未连通 <5 km & `${x}`"),
    ("V05", "天峰坪村", 2010, "水泉乡", 111.70, 39.33, ("F-THC2", 4000.0, 41000.0), ""),
]

FACILITIES = [
    ("F-HOSP", "偏关县人民医院", "county_hospital", 300, 120, 150, 4, "老营镇", 111.52, 39.43),
    ("F-THC1", "老营镇卫生院", "township_hc", 20, 6, 8, 1, "老营镇", 111.49, 39.38),
    ("F-THC2", "水泉乡卫生院", "township_hc", 15, 4, 5, 0, "水泉乡", 111.64, 39.44),
    ("F-VC1", "老营村卫生室", "village_clinic", 0, 1, 0, 0, "老营镇", 111.505, 39.405),
    ("F-EMS", "县急救站", "ems_station", None, 2, 2, 2, "老营镇", 111.55, 39.41),
]


def _villages(township: dict[str, tuple[object, float, float]] | None = None) -> gpd.GeoDataFrame:
    rows = []
    for vid, name, pop, town, lon, lat, (fid, secs, metres), note in VILLAGES:
        fid, secs, metres = (township or {}).get(vid, (fid, secs, metres))
        rows.append({
            "vid": vid, "name": name, "population": pop, "township": town, "setting": "rural",
            "access_m": 120.0, "note": note,
            "hospital_fid": "F-HOSP", "hospital_time_s": 1800.0, "hospital_dist_m": 20000.0,
            "hospital_line_m": 15000.0,
            "township_fid": fid, "township_time_s": secs, "township_dist_m": metres,
            "township_line_m": metres * 0.7,
            "geometry": Point(lon, lat),
        })
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _facilities(rows: list[tuple]) -> gpd.GeoDataFrame:
    cols = ["fid", "name", "kind", "beds", "doctors", "nurses", "ambulances", "township"]
    records = [dict(zip(cols, r[:8]), geometry=Point(r[8], r[9])) for r in rows]
    frame = gpd.GeoDataFrame(records, geometry="geometry", crs=4326)
    frame["services"] = ""
    frame["access_m"] = 50.0
    frame["note"] = ""
    return frame


def _catchments() -> gpd.GeoDataFrame:
    rows = []
    for fid, name, kind, tier, lon, lat, bands in (
        ("F-THC1", "老营镇卫生院", "township_hc", "township", 111.49, 39.38, (15, 30)),
        ("F-THC2", "水泉乡卫生院", "township_hc", "township", 111.64, 39.44, (15, 30)),
        ("F-HOSP", "偏关县人民医院", "county_hospital", "hospital", 111.52, 39.43, (30,)),
    ):
        for band in bands:
            rows.append({"fid": fid, "name": name, "kind": kind, "tier": tier, "mode": "drive",
                         "band_min": band, "population": 1000 * band, "villages": 2,
                         "geometry": Point(lon, lat).buffer(band / 600.0)})
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _roads() -> gpd.GeoDataFrame:
    lines = [
        ("primary", "G338", [(111.35, 39.40), (111.50, 39.41), (111.75, 39.42)]),
        ("secondary", "S249", [(111.50, 39.41), (111.52, 39.50), (111.55, 39.58)]),
        ("tertiary", None, [(111.52, 39.43), (111.64, 39.44), (111.70, 39.33)]),
        ("track", None, [(111.44, 39.35), (111.49, 39.38)]),
        ("unclassified", None, [(111.62, 39.46), (111.64, 39.44)]),
        (["residential", "track"], None, [(111.40, 39.52), (111.45, 39.50)]),
    ]
    return gpd.GeoDataFrame(
        [{"highway": h, "name": n, "geometry": LineString(c)} for h, n, c in lines], geometry="geometry", crs=4326
    )


def _boundaries() -> gpd.GeoDataFrame:
    rows = [
        {"name": "偏关县（合成）", "level": "county", "geometry": box(111.30, 39.28, 111.80, 39.60)},
        {"name": "老营镇", "level": "township", "geometry": box(111.30, 39.28, 111.56, 39.60)},
        {"name": "水泉乡", "level": "township", "geometry": box(111.56, 39.28, 111.80, 39.60)},
    ]
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=4326)


def _standards() -> pd.DataFrame:
    return pd.DataFrame([
        {"rule_id": "MED-15MIN", "scope": "village", "scope_id": "V05", "scope_name": "天峰坪村",
         "value": 66.7, "target": 15.0, "unit": "min", "passed": False, "source": "NHC 2022", "note": ""},
        {"rule_id": "MED-15MIN", "scope": "village", "scope_id": "V01", "scope_name": "老营村",
         "value": 10.0, "target": 15.0, "unit": "min", "passed": True, "source": "NHC 2022", "note": ""},
        {"rule_id": "THC-PER-TOWNSHIP", "scope": "county", "scope_id": "C", "scope_name": "偏关县",
         "value": 1, "target": 1, "unit": "", "passed": False, "source": "003", "note": ""},
    ])


# County summary as analysis.summarise writes it, worked out by hand from VILLAGES (total 4,571
# persons): township tier V01 10 min, V02 25 min, V03 40 min, V04 unreachable, V05 66.7 min;
# hospital tier 30 min everywhere.
COUNTY_SUMMARY = {"township_pop_15min": 1234, "township_pop_30min": 2090, "township_pop_45min": 2411,
                  "township_pop_60min": 2411, "hospital_pop_15min": 0, "hospital_pop_30min": 4571,
                  "hospital_pop_45min": 4571, "hospital_pop_60min": 4571}


def _summary() -> dict[str, pd.DataFrame]:
    row: dict[str, object] = {"scope": "county", "name": "偏关县（合成示例）", "population": 4571, "villages": 5}
    for key, pop in COUNTY_SUMMARY.items():
        tier, band = key.split("_pop_")
        row[key] = pop
        row[f"share_{tier}_{band}"] = round(pop / 4571, 4)
    return {"county": pd.DataFrame([row])}


def small_result(project_name: str = "偏关县（合成示例）") -> AnalysisResult:
    """Five villages (one unreachable, one with a malicious name), five facilities, two townships."""
    return AnalysisResult(
        project_name=project_name,
        villages=_villages(),
        facilities=_facilities(FACILITIES),
        catchments=_catchments(),
        roads=_roads(),
        boundaries=_boundaries(),
        standards=_standards(),
        summary=_summary(),
    )


# The scenario upgrades F-THC2 to a sub-centre, adds F-NEW near V05 and removes F-VC1.
SCENARIO_TOWNSHIP = {
    "V01": ("F-THC1", 660.0, 6900.0),   # 1.0 min slower
    "V04": ("F-NEW", 1800.0, 19000.0),  # newly reachable
    "V05": ("F-NEW", 1480.0, 12000.0),  # 4000 s -> 1480 s: 42.0 min saved
}
SAVED_MINUTES_V05 = "42.0"


def scenario_pair() -> tuple[AnalysisResult, AnalysisResult]:
    """Baseline and scenario results whose township-tier differences are listed above."""
    base = small_result()
    new_fac = [r if r[0] != "F-THC2" else (*r[:2], "subcentre", *r[3:]) for r in FACILITIES if r[0] != "F-VC1"]
    new_fac.append(("F-NEW", "天峰坪新建卫生院", "township_hc", 10, 3, 3, 1, "水泉乡", 111.69, 39.34))
    scenario = AnalysisResult(
        project_name=base.project_name,
        villages=_villages(SCENARIO_TOWNSHIP),
        facilities=_facilities(new_fac),
        catchments=base.catchments,
        roads=base.roads,
        boundaries=base.boundaries,
        standards=base.standards,
    )
    return base, scenario


def county_sized_result(seed: int = 7) -> AnalysisResult:
    """About 200 villages, 2,000 detailed road lines and 40 catchment polygons (for size checks)."""
    rng = np.random.default_rng(seed)
    lon0, lat0 = 111.3, 39.2
    n_v = 200
    lons, lats = lon0 + rng.uniform(0, 0.5, n_v), lat0 + rng.uniform(0, 0.4, n_v)
    secs = rng.uniform(60, 5000, n_v)
    secs[rng.choice(n_v, 10, replace=False)] = NAN
    villages = gpd.GeoDataFrame({
        "vid": [f"V{i:03d}" for i in range(n_v)], "name": [f"村{i}" for i in range(n_v)],
        "population": rng.integers(50, 3000, n_v), "township": [f"镇{i % 9}" for i in range(n_v)],
        "setting": "rural", "access_m": 100.0, "note": "",
        "township_fid": [f"T{i % 9}" for i in range(n_v)], "township_time_s": secs,
        "township_dist_m": secs * 12.0, "township_line_m": secs * 8.0,
        "geometry": [Point(x, y) for x, y in zip(lons, lats)],
    }, geometry="geometry", crs=4326)
    roads = []
    classes = ["primary", "secondary", "tertiary", "unclassified", "track"]
    for i in range(2000):
        start = np.array([lon0 + rng.uniform(0, 0.5), lat0 + rng.uniform(0, 0.4)])
        steps = rng.normal(0, 0.0008, size=(40, 2)).cumsum(axis=0)  # ~40 vertices every ~70 m
        roads.append({"highway": classes[i % 5], "name": None, "geometry": LineString(start + steps)})
    catch = []
    for i in range(40):
        centre = Point(lon0 + rng.uniform(0, 0.5), lat0 + rng.uniform(0, 0.4))
        angles = np.linspace(0, 2 * np.pi, 400, endpoint=False)
        radius = 0.02 * (1 + 0.3 * rng.uniform(size=400))
        ring = [(centre.x + r * np.cos(a), centre.y + r * np.sin(a)) for a, r in zip(angles, radius)]
        catch.append({"fid": f"T{i % 9}", "name": f"卫生院{i}", "kind": "township_hc", "tier": "township",
                      "mode": "drive", "band_min": (15, 30, 45, 60)[i % 4], "population": 1000, "villages": 5,
                      "geometry": Polygon(ring)})
    facilities = _facilities([(f"T{i}", f"卫生院{i}", "township_hc", 20, 5, 5, 1, f"镇{i}",
                               lon0 + 0.05 * i, lat0 + 0.04 * i) for i in range(9)])
    return AnalysisResult(
        project_name="size-check", villages=villages, facilities=facilities,
        catchments=gpd.GeoDataFrame(catch, geometry="geometry", crs=4326),
        roads=gpd.GeoDataFrame(roads, geometry="geometry", crs=4326),
        boundaries=None, standards=pd.DataFrame(),
    )
