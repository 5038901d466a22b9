"""Which county and township polygons a project has, and which county each point lies in."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely


def county_polygons(boundaries: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """The county-level polygons of a boundaries layer (WGS84), or None when it has none."""
    if boundaries is None or "level" not in boundaries or len(boundaries) == 0:
        return None
    counties = boundaries[boundaries["level"] == "county"]
    return counties if len(counties) else None


def assign_counties(boundaries: gpd.GeoDataFrame | None, points: gpd.GeoSeries, *, default: str) -> np.ndarray:
    """County name of each point (object array in the order of `points`).

    With two or more county polygons, a point takes the name of the first polygon that covers it and
    None when none does. With one or none, the project is one county: every point gets `default`.
    """
    counties = county_polygons(boundaries)
    if counties is None or len(counties) < 2 or len(points) == 0:
        return np.full(len(points), default, dtype=object)
    polygons = counties.geometry.to_crs(points.crs).to_numpy()
    names = counties["name"].astype(str).to_numpy()
    out = np.full(len(points), None, dtype=object)
    geoms = points.to_numpy()
    for name, polygon in zip(names, polygons):
        # A point on a shared border goes to the first county listed, never to two.
        free = np.array([o is None for o in out], dtype=bool)
        out[free & shapely.covers(polygon, geoms)] = name
    return out


def township_names(boundaries: gpd.GeoDataFrame | None) -> list[str] | None:
    """Names of the township polygons (level 'township'), or None when the layer has none."""
    if boundaries is None or "level" not in boundaries:
        return None
    names = boundaries.loc[boundaries["level"] == "township", "name"].astype(str).tolist()
    return names or None
