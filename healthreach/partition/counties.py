"""Splitting a project into county parts: each county's own villages and facilities, plus what lies
within a buffer around it, with the roads that meet the county grown by that buffer.

Why a part's results equal a single run's: a route of T seconds never leaves the disk of radius
T x the fastest speed of any travel mode around its start, so every route no longer than
`buffer_m / fastest speed` lies inside the part's roads and is found there exactly.
"""
from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from healthreach._errors import UsageError
from healthreach.config import Settings
from healthreach.layers.boundaries import assign_counties, county_polygons
from healthreach.layers.project import Project
from healthreach.layers.roads import clip_area
from healthreach.layers.roads.speeds import MODES, segment_speeds_kmh

BUFFER_CAP_M = 60000.0
"""Default cap (metres) on the partition buffer: a province's parts stay small."""
_SOURCE_DIGEST: str | None = None


@dataclass(frozen=True)
class Area:
    """The villages, facilities and roads one measuring step sees, and which of them it reports on.

    A single run is one area holding the whole project; a partitioned run has one per county.
    """

    key: str
    """File stem of the part in a parts folder."""
    label: str
    """The county's name (or the project's, for a whole-project area)."""
    project: Project
    edges: gpd.GeoDataFrame
    village_pos: np.ndarray
    """Position in the whole project's village table of each of the area's villages."""
    facility_pos: np.ndarray
    own_villages: np.ndarray
    """Boolean per area village: reported by this area (inside its county)."""
    own_facilities: np.ndarray
    digest: str = ""
    """SHA-256 of everything the area's result depends on (empty where no resume is needed)."""
    county: str | None = None
    """The county the area is (None: the whole project)."""


def whole(project: Project, edges: gpd.GeoDataFrame) -> Area:
    """The whole project as one area (a single run)."""
    nv, nf = len(project.villages), len(project.facilities)
    return Area(key="all", label=project.name, project=project, edges=edges, village_pos=np.arange(nv),
                facility_pos=np.arange(nf), own_villages=np.ones(nv, dtype=bool),
                own_facilities=np.ones(nf, dtype=bool))


def home_counties(boundaries: gpd.GeoDataFrame | None, points: gpd.GeoSeries) -> np.ndarray:
    """County of each point as in `assign_counties`; a point outside every county takes the nearest."""
    counties = county_polygons(boundaries)
    if counties is None:
        raise UsageError("a partitioned run needs a boundaries layer with polygons of level 'county'")
    names = counties["name"].astype(str).to_numpy()
    polygons = counties.geometry.to_crs("EPSG:4326").to_numpy()
    home = assign_counties(boundaries, points.to_crs("EPSG:4326"), default=str(names[0]))
    lost = np.flatnonzero([h is None for h in home])
    if len(lost):
        tree = shapely.STRtree(polygons)
        geoms = points.to_crs("EPSG:4326").to_numpy()[lost]
        # Degrees are fine for choosing among a few nearby polygons.
        home[lost] = names[tree.query_nearest(geoms, all_matches=False)[1]]
    return home.astype(object)


def fastest_kmh(edges: gpd.GeoDataFrame, settings: Settings) -> float:
    """The fastest speed (km/h) of any road segment in any travel mode, or of the access leg."""
    fastest = settings.access_kmh
    for mode in MODES:
        speed = segment_speeds_kmh(edges, mode, settings)
        if np.isfinite(speed).any():
            fastest = max(fastest, float(np.nanmax(speed)))
    return fastest


def default_buffer_m(edges: gpd.GeoDataFrame, settings: Settings, reach_min: float, *,
                     cap_m: float = BUFFER_CAP_M) -> float:
    """Partition buffer (metres): `reach_min` minutes at the fastest speed, at most `cap_m`."""
    return float(min(reach_min / 60.0 * fastest_kmh(edges, settings) * 1000.0, cap_m))


def _safe_name(name: str, taken: set[str]) -> str:
    stem = re.sub(r"[^\w\-]+", "_", name, flags=re.UNICODE).strip("_") or "county"
    key, n = stem, 1
    while key in taken:
        n += 1
        key = f"{stem}_{n}"
    taken.add(key)
    return key


def source_digest() -> str:
    """Hash of the package's own source: a part computed by other code is not reused."""
    global _SOURCE_DIGEST  # computed once per process; the source does not change while it runs
    if _SOURCE_DIGEST is None:
        h = hashlib.sha256()
        for path in sorted(Path(__file__).parent.parent.rglob("*.py")):
            h.update(path.read_bytes())
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def _frame_digest(h: Any, frame: gpd.GeoDataFrame) -> None:
    plain = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    h.update(repr(list(plain.columns)).encode())
    h.update(pd.util.hash_pandas_object(plain.astype(object), index=True).to_numpy().tobytes())
    h.update(b"".join(shapely.to_wkb(frame.geometry.to_numpy(), hex=False)))


def area_digest(area: Area, settings: Settings, *salt: str) -> str:
    """SHA-256 of everything an area's result depends on: its layers, roads, settings and the code."""
    h = hashlib.sha256()
    project = area.project
    for text in (area.label, project.name, project.crs, repr(dataclasses.asdict(settings)), source_digest(), *salt):
        h.update(text.encode())
        h.update(b"\0")
    for frame in (project.villages, project.facilities, area.edges):
        _frame_digest(h, frame)
    if project.boundaries is not None:
        _frame_digest(h, project.boundaries)
    for array in (area.village_pos, area.facility_pos, area.own_villages, area.own_facilities):
        h.update(np.ascontiguousarray(array).tobytes())
    return h.hexdigest()


def county_areas(project: Project, edges: gpd.GeoDataFrame, settings: Settings, *, buffer_m: float,
                 salt: str = "") -> Iterator[Area]:
    """One `Area` per county polygon of the project's boundaries (built one at a time).

    Villages and facilities belong to the first county polygon that covers them; one covered by none
    goes to the nearest county. Roads are those whose line meets the county grown by `buffer_m`.
    """
    counties = county_polygons(project.boundaries)
    if counties is None or len(counties) < 2:
        raise UsageError("a partitioned run needs a boundaries layer with two or more polygons of level 'county'")
    if not np.isfinite(buffer_m) or buffer_m < 0:
        raise UsageError(f"partition buffer {buffer_m!r}: expected metres >= 0")
    names = counties["name"].astype(str).to_numpy()
    polygons = counties.geometry.to_crs("EPSG:4326").to_numpy()
    v_home = home_counties(project.boundaries, project.villages.geometry)
    f_home = home_counties(project.boundaries, project.facilities.geometry)
    edge_tree = shapely.STRtree(edges.geometry.to_numpy())
    v_geom, f_geom = project.villages.geometry.to_numpy(), project.facilities.geometry.to_numpy()
    taken: set[str] = set()
    for name, polygon in zip(names, polygons):
        grown = clip_area(polygon, buffer_m)
        v_take = np.flatnonzero(shapely.covers(grown, v_geom) | (v_home == name))
        f_take = np.flatnonzero(shapely.covers(grown, f_geom) | (f_home == name))
        e_take = np.sort(edge_tree.query(grown, predicate="intersects"))
        sub = dataclasses.replace(project, villages=project.villages.iloc[v_take],
                                  facilities=project.facilities.iloc[f_take])
        area = Area(key=_safe_name(name, taken), label=name, project=sub, edges=edges.iloc[e_take],
                    village_pos=v_take, facility_pos=f_take, own_villages=v_home[v_take] == name,
                    own_facilities=f_home[f_take] == name, county=name)
        yield dataclasses.replace(area, digest=area_digest(area, settings, salt))
