"""The road edge table every travel mode is built from, and the split of roads into segments.

The edge table is a GeoDataFrame in WGS84 with one row per road segment between two junctions or
ends: `u`, `v` (int64 node ids), `highway` (OSM class), `name`, `maxspeed_kmh` (NaN when absent),
`oneway` (True: only u -> v may be driven), `access` (may motor vehicles use it: `yes`, `no` or
`private`), `foot` (may people walk on it: the same codes), `length_m` (metres) and a LineString from
u to v. A table without `access` or `foot` (or with an empty cell) means open: hand-built tables and
roads a scenario adds need not carry them. docs/roads.md gives the rules.

Two readers fill it: `osm` (OSM `.osm`, `.osm.bz2`, `.osm.pbf` with pyosmium) and `lines`
(Shapefile / GeoPackage / GeoJSON lines with a class and/or speed column). Both describe roads as
node sequences and hand them to :func:`segment_table`, so they split the same way: at every node
used more than once (a junction) and at the ends of each line.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pyproj
import shapely

from healthreach.rules import CLASS_SPEEDS_KMH, NO_WALK_CLASSES, WALK_ONLY_CLASSES, base_class
from healthreach.layers.crs import metric_crs_for

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

EDGE_COLUMNS = ["u", "v", "highway", "name", "maxspeed_kmh", "oneway", "access", "foot", "length_m", "geometry"]
OPEN, CLOSED, PRIVATE = "yes", "no", "private"
"""Codes of the `access` (motor vehicles) and `foot` columns."""
ACCESS_CODES = (OPEN, CLOSED, PRIVATE)
OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf", ".pbf", ".xml")
LINE_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json")
DEFAULT_BUFFER_M = 20000.0

# Classes that carry no traffic (planned or abandoned roads, platforms, race tracks) are not routable.
ROUTABLE_CLASSES = frozenset(base_class(c) for c in CLASS_SPEEDS_KMH) | WALK_ONLY_CLASSES | NO_WALK_CLASSES
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")
_GEOD = pyproj.Geod(ellps="WGS84")


@dataclass(frozen=True)
class RoadsRead:
    """A road edge table and what reading it dropped or repaired (counts, for the run report)."""

    edges: gpd.GeoDataFrame
    counts: dict[str, int] = field(default_factory=dict)
    """E.g. `ways_read`, `ways_outside` (dropped by the clip), `ways_gapped`, `nodes_missing`."""


def parse_maxspeed(value: object) -> float:
    """OSM `maxspeed` as km/h ('60', '60;80' -> 60, '30 mph' -> 48.3); NaN when absent or symbolic."""
    if isinstance(value, (list, tuple)):
        speeds = [parse_maxspeed(v) for v in value]
        speeds = [s for s in speeds if np.isfinite(s)]
        return float(np.mean(speeds)) if speeds else float("nan")
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return float("nan")
    text = str(value)
    match = _NUMBER.search(text)
    if not match:
        return float("nan")
    speed = float(match.group(1))
    return speed * 1.609344 if "mph" in text else speed


def clip_area(boundary: shapely.Geometry, buffer_m: float) -> shapely.Geometry:
    """The WGS84 boundary grown by `buffer_m` metres (buffered in the local Gauss–Krüger zone)."""
    if buffer_m < 0 or not np.isfinite(buffer_m):
        raise ValueError(f"buffer_m must be a finite number of metres >= 0, got {buffer_m!r}")
    centre = boundary.centroid
    metric = metric_crs_for(centre.x, centre.y)
    grown = gpd.GeoSeries([boundary], crs="EPSG:4326").to_crs(metric).buffer(buffer_m)
    area = grown.to_crs("EPSG:4326").iloc[0]
    shapely.prepare(area)
    return area


def segment_table(
    node_ids: np.ndarray,
    lon: np.ndarray,
    lat: np.ndarray,
    piece: np.ndarray,
    piece_attrs: dict[str, Sequence[object]],
) -> gpd.GeoDataFrame:
    """Edge table from roads given as node sequences (one "piece" per unbroken run of nodes).

    `node_ids`, `lon`, `lat` (degrees) and `piece` are per node occurrence, pieces contiguous and in
    drawing order; `piece_attrs` holds `highway`, `name`, `maxspeed_kmh`, `oneway` and optionally
    `access` and `foot` (ACCESS_CODES; open when not given) per piece.
    Pieces split at their ends and at every node that occurs more than once in the whole input;
    lengths are geodesic metres on the WGS84 ellipsoid.
    """
    n = len(node_ids)
    if n == 0:
        return empty_edge_table()
    first = np.r_[True, piece[1:] != piece[:-1]]
    last = np.r_[piece[1:] != piece[:-1], True]
    _, inverse, counts = np.unique(node_ids, return_inverse=True, return_counts=True)
    split = first | last | (counts[inverse] > 1)
    at = np.flatnonzero(split)
    pair = piece[at[:-1]] == piece[at[1:]]
    a, b = at[:-1][pair], at[1:][pair]
    seg_piece = piece[a]

    # Geodesic length of each consecutive node pair, summed over each segment's run of pairs.
    _, _, step = _GEOD.inv(lon[:-1], lat[:-1], lon[1:], lat[1:])
    step = np.r_[step, 0.0]
    bounds = np.column_stack([a, b]).ravel()
    length = np.add.reduceat(step, bounds)[::2]

    size = b - a + 1
    seg_of = np.repeat(np.arange(len(a)), size)
    pos = np.repeat(a, size) + (np.arange(size.sum()) - np.repeat(np.cumsum(size) - size, size))
    geoms = shapely.linestrings(np.column_stack([lon[pos], lat[pos]]), indices=seg_of)
    return gpd.GeoDataFrame(
        {
            "u": node_ids[a].astype(np.int64),
            "v": node_ids[b].astype(np.int64),
            "highway": np.asarray(piece_attrs["highway"], dtype=object)[seg_piece],
            "name": np.asarray(piece_attrs["name"], dtype=object)[seg_piece],
            "maxspeed_kmh": np.asarray(piece_attrs["maxspeed_kmh"], dtype=float)[seg_piece],
            "oneway": np.asarray(piece_attrs["oneway"], dtype=bool)[seg_piece],
            **{code: (np.asarray(piece_attrs[code], dtype=object)[seg_piece] if code in piece_attrs
                      else np.full(len(a), OPEN, dtype=object)) for code in ("access", "foot")},
            "length_m": length,
        },
        geometry=geoms,
        crs="EPSG:4326",
    )


def empty_edge_table() -> gpd.GeoDataFrame:
    """An edge table with no rows (the columns and dtypes of the contract)."""
    return gpd.GeoDataFrame(
        {"u": np.zeros(0, np.int64), "v": np.zeros(0, np.int64), "highway": np.zeros(0, object),
         "name": np.zeros(0, object), "maxspeed_kmh": np.zeros(0), "oneway": np.zeros(0, bool),
         "access": np.zeros(0, object), "foot": np.zeros(0, object), "length_m": np.zeros(0)},
        geometry=gpd.GeoSeries([], crs="EPSG:4326").array, crs="EPSG:4326",
    )
