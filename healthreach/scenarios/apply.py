"""Applying a scenario: its facility changes to a project, its road changes to the road edge table.

Inputs are never changed: every function returns new frames (`dataclasses.replace` for the project).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely

from healthreach._errors import InputError
from healthreach.layers.crs import to_wgs84, to_wgs84_points
from healthreach.rules import base_class
from healthreach.scenarios.scenario import (
    WGS84,
    AddFacility,
    AddRoad,
    Change,
    RemoveFacility,
    RoadSpeed,
    Scenario,
    SetKind,
)

if TYPE_CHECKING:
    from healthreach.layers.project import Project

log = logging.getLogger(__name__)
_GEOD = pyproj.Geod(ellps="WGS84")


def _fail(change: Change, field_name: str, problem: str) -> InputError:
    return InputError(f"{change.source}:{change.line}: {field_name}: {problem}")


def _township_of(point: shapely.Point, boundaries: gpd.GeoDataFrame | None) -> str:
    """Name of the township polygon containing `point` (WGS84), '' when none does."""
    if boundaries is None or boundaries.empty or "level" not in boundaries:
        return ""
    townships = boundaries[boundaries["level"] == "township"]
    hit = townships[townships.geometry.covers(point)]
    return str(hit["name"].iloc[0]) if len(hit) else ""


def _new_facility(change: AddFacility, facilities: gpd.GeoDataFrame, project: Project) -> gpd.GeoDataFrame:
    """A one-row facilities frame for `change`, in WGS84, with the columns of `facilities`."""
    point = to_wgs84_points((np.array([change.lon]), np.array([change.lat])), change.crs).iloc[0]
    attrs = dict(change.attrs)
    row: dict[str, Any] = {column: pd.NA for column in facilities.columns if column != "geometry"}
    row.update(fid=change.fid, name=change.name, kind=change.kind, services="", vid="")
    row["township"] = attrs.pop("township", None) or _township_of(point, project.boundaries)
    row.update(attrs)
    frame = gpd.GeoDataFrame([row], geometry=[point], crs=WGS84)
    return frame.astype({c: facilities[c].dtype for c in frame.columns if c in facilities and c != "geometry"})


def apply_to_project(project: Project, scenario: Scenario) -> Project:
    """The project with the scenario's facility changes applied in order (road changes are ignored here).

    Returns a new Project; `project.facilities` is not modified. Raises InputError naming the scenario
    file and line when a change names an fid that does not exist, or adds an fid that already does.
    """
    facilities = project.facilities.copy()
    for change in scenario.changes:
        if isinstance(change, (RoadSpeed, AddRoad)):
            continue
        present = facilities["fid"] == change.fid
        if isinstance(change, AddFacility):
            if present.any():
                raise _fail(change, "add.fid", f"facility {change.fid!r} already exists (expected a new fid)")
            facilities = pd.concat([facilities, _new_facility(change, facilities, project)], ignore_index=True)
            continue
        if not present.any():
            label = change.action if isinstance(change, SetKind) else "remove" if isinstance(change, RemoveFacility) else "set"
            raise _fail(change, f"{label}.fid", f"no facility {change.fid!r} in the project (expected an existing fid)")
        if isinstance(change, SetKind):
            facilities.loc[present, "kind"] = change.kind
        elif isinstance(change, RemoveFacility):
            facilities = facilities[~present]
            if facilities.empty:  # nothing would be left to reach: every time and table would be empty
                raise _fail(change, "remove.fid", f"removing {change.fid!r} leaves no facility at all (expected "
                                                  "at least one facility to remain)")
        else:
            for key, value in change.values:
                facilities.loc[present, key] = pd.NA if value is None else value
    facilities = gpd.GeoDataFrame(facilities.reset_index(drop=True), geometry="geometry", crs=project.facilities.crs)
    return dataclasses.replace(project, facilities=facilities)


# --------------------------------------------------------------------------- applying to roads


def _node_table(edges: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node ids and their lon/lat (degrees), from the first and last points of each edge."""
    coords = shapely.get_coordinates(edges.geometry.to_numpy(), return_index=True)
    points, owner = coords[0], coords[1]
    first = np.searchsorted(owner, np.arange(len(edges)), side="left")
    last = np.searchsorted(owner, np.arange(len(edges)), side="right") - 1
    ids = np.concatenate([edges["u"].to_numpy(np.int64), edges["v"].to_numpy(np.int64)])
    xy = np.concatenate([points[first], points[last]])
    ids, keep = np.unique(ids, return_index=True)
    return ids, xy[keep, 0], xy[keep, 1]


def _nearest_node(ids: np.ndarray, lon: np.ndarray, lat: np.ndarray, point: tuple[float, float]) -> tuple[int, float]:
    """Id of the node nearest to `point` (lon, lat degrees) and its geodesic distance (metres)."""
    _, _, dist = _GEOD.inv(np.full(lon.shape, point[0]), np.full(lat.shape, point[1]), lon, lat)
    best = int(np.argmin(dist))
    return int(ids[best]), float(dist[best])


def _within_mask(edges: gpd.GeoDataFrame, change: RoadSpeed) -> pd.Series:
    if change.within is None:
        return pd.Series(True, index=edges.index)
    try:
        area = gpd.read_file(change.within)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise _fail(change, "road_speed.within", f"cannot read {change.within}: {exc} (expected a polygon layer)") from exc
    polygons = area[area.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise _fail(change, "road_speed.within", f"{change.within} has no polygons (expected a polygon layer)")
    union = to_wgs84(polygons).geometry.union_all()
    return edges.geometry.intersects(union)


def apply_to_roads(edges: gpd.GeoDataFrame, scenario: Scenario) -> gpd.GeoDataFrame:
    """The road edge table (WGS84) with the scenario's `road_speed` and `add_road` changes, in order.

    `road_speed` sets `maxspeed_kmh` (km/h) on edges of the class (and its `_link` roads), optionally
    only those intersecting `within`. `add_road` appends a straight two-way edge between the existing
    nodes nearest to its ends, with a geodesic `length_m` (metres). `edges` is not modified.
    """
    out = edges.copy()
    for change in scenario.changes:
        if isinstance(change, RoadSpeed):
            same_class = (out["highway"] == change.highway) | (out["highway"].map(base_class) == change.highway)
            if not same_class.any():
                present = ", ".join(sorted({base_class(str(h)) for h in out["highway"].dropna()}))
                raise _fail(change, "road_speed.class", f"no road of class {change.highway!r} in the network "
                                                        f"(expected one of its classes: {present})")
            chosen = same_class & _within_mask(out, change)
            if not chosen.any():
                raise _fail(change, "road_speed.within", f"no road of class {change.highway!r} crosses "
                                                         f"{change.within} (expected the area to hold such roads)")
            out.loc[chosen, "maxspeed_kmh"] = change.speed_kmh
            log.info("road_speed %s: %d edges set to %g km/h", change.highway, int(chosen.sum()), change.speed_kmh)
        elif isinstance(change, AddRoad):
            out = _add_road(out, change)
    return out


def _add_road(edges: gpd.GeoDataFrame, change: AddRoad) -> gpd.GeoDataFrame:
    if edges.empty:
        raise _fail(change, "add_road", "the road network has no edges to connect (expected roads)")
    ends = to_wgs84_points((np.array([change.start[0], change.end[0]]), np.array([change.start[1], change.end[1]])), change.crs)
    ids, lon, lat = _node_table(edges)
    u, u_gap = _nearest_node(ids, lon, lat, (ends.iloc[0].x, ends.iloc[0].y))
    v, v_gap = _nearest_node(ids, lon, lat, (ends.iloc[1].x, ends.iloc[1].y))
    if u == v:
        raise _fail(change, "add_road", f"both ends join the same road node {u} (expected ends near different junctions)")
    iu, iv = np.searchsorted(ids, u), np.searchsorted(ids, v)
    line = shapely.LineString([(lon[iu], lat[iu]), (lon[iv], lat[iv])])
    log.info("add_road: node %d (%.0f m from `from`) to node %d (%.0f m from `to`)", u, u_gap, v, v_gap)
    row = {
        "u": u, "v": v, "highway": change.highway, "name": "", "maxspeed_kmh": np.nan, "oneway": False,
        "length_m": float(_GEOD.geometry_length(line)),
    }
    new = gpd.GeoDataFrame([row], geometry=[line], crs=edges.crs)
    new = new.astype({c: edges[c].dtype for c in row if c in edges})
    return gpd.GeoDataFrame(pd.concat([edges, new], ignore_index=True), geometry="geometry", crs=edges.crs)
