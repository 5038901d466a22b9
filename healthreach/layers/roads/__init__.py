"""Read a project's roads (OSM or road lines) into the edge table of `table`."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely

from healthreach._errors import InputError
from healthreach.layers.project import Project, RoadsSource
from healthreach.layers.roads.lines import read_road_lines
from healthreach.layers.roads.osm import read_osm
from healthreach.layers.roads.table import (
    DEFAULT_BUFFER_M,
    EDGE_COLUMNS,
    LINE_SUFFIXES,
    OSM_SUFFIXES,
    Progress,
    RoadsRead,
    clip_area,
    empty_edge_table,
    parse_maxspeed,
    segment_table,
)

__all__ = ["DEFAULT_BUFFER_M", "EDGE_COLUMNS", "RoadsRead", "clip_area", "empty_edge_table", "load_roads",
           "parse_maxspeed", "read_project_roads", "read_roads", "segment_table", "study_area"]


def load_roads(
    source_or_path: RoadsSource | str | Path,
    *,
    clip: shapely.Geometry | None = None,
    buffer_m: float = DEFAULT_BUFFER_M,
    progress: Progress | None = None,
) -> RoadsRead:
    """Road edge table and reading report from a project's `RoadsSource` or a file path.

    `clip` (a WGS84 polygon, e.g. the county) keeps only roads with a node within `buffer_m` metres
    of it, whole; the rest is dropped before any network is built.
    """
    area = clip_area(clip, buffer_m) if clip is not None else None
    if isinstance(source_or_path, (str, Path)):
        path, fmt, source = Path(source_or_path), None, None
    else:
        source = source_or_path
        path, fmt = Path(source.path), source.format
    name = path.name.lower()
    if fmt == "osm" or (fmt is None and name.endswith(OSM_SUFFIXES)):
        return read_osm(path, area=area, progress=progress)
    if fmt == "lines" or (fmt is None and name.endswith(LINE_SUFFIXES)):
        return read_road_lines(
            path,
            class_column=source.class_column if source else None,
            speed_column=source.speed_column if source else None,
            oneway_column=source.oneway_column if source else None,
            crs=source.crs if source else None,
            encoding=source.encoding if source else None,
            area=area,
            progress=progress,
        )
    raise InputError(
        f"{path}: unsupported roads format (expected .osm, .osm.bz2, .osm.pbf, or a line layer "
        ".shp / .gpkg / .geojson)"
    )


def read_roads(
    source_or_path: RoadsSource | str | Path,
    *,
    clip: shapely.Geometry | None = None,
    buffer_m: float = DEFAULT_BUFFER_M,
    progress: Progress | None = None,
) -> gpd.GeoDataFrame:
    """Road edge table (see the module docstring) from a `RoadsSource` or a roads file path."""
    return load_roads(source_or_path, clip=clip, buffer_m=buffer_m, progress=progress).edges


def study_area(project: Project) -> shapely.Geometry | None:
    """The WGS84 area a project's roads are clipped to: its boundaries, else the hull of its points."""
    if project.boundaries is not None and len(project.boundaries):
        return shapely.union_all(project.boundaries.geometry.to_numpy())
    points = [f.geometry for f in (project.villages, project.facilities) if len(f)]
    if not points:
        return None
    return shapely.union_all(np.concatenate([p.to_numpy() for p in points])).convex_hull


def read_project_roads(
    project: Project, *, buffer_m: float = DEFAULT_BUFFER_M, progress: Progress | None = None
) -> gpd.GeoDataFrame:
    """A project's road edge table, clipped to its study area grown by `buffer_m` metres."""
    return read_roads(project.roads, clip=study_area(project), buffer_m=buffer_m, progress=progress)
