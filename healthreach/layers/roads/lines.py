"""Road line layers (Shapefile, GeoPackage, GeoJSON) into the edge table, with topology repaired.

A line layer carries a road class column (OSM classes, or the Chinese grades below) and/or a speed
column (km/h), and optionally a one-way column. Lines become a network this way:

* a line **end** that dangles (no other line uses it) within `snap_m` metres (default 5) of another
  line joins it: at that line's nearest vertex within the tolerance, or else at a vertex inserted at
  the nearest point of the line — digitised T junctions rarely meet exactly;
* lines split where they **share a vertex** (a junction in the data, to 1 cm), and nowhere else: two
  lines that cross without a common vertex are a bridge or underpass and do not connect.

Optional `access` and `foot` columns say who may use each line (empty cells: open): `yes`/是/允许/1,
`no`/否/禁止/禁行/0 or `private`/专用/内部; a line closed to motor vehicles is left out of the driving
networks, one closed on foot out of walking (docs/roads.md).

Chinese grades map to OSM classes (the speeds of standards.md then apply):
高速公路 → motorway; 国道, 城市快速路 → trunk; 一级公路, 主干路 → primary; 省道, 二级公路, 次干路 → secondary;
县道, 三级公路 → tertiary; 乡道, 四级公路, 村道 → unclassified; 城市道路, 支路, 街巷 → residential;
专用公路 → service; 等外公路, 机耕路, 机耕道 → track; 人行道, 步行道 → footway.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely
from scipy.spatial import cKDTree

from healthreach._errors import InputError
from healthreach.layers.roads.table import (
    ACCESS_CODES,
    CLOSED,
    OPEN,
    PRIVATE,
    ROUTABLE_CLASSES,
    Progress,
    RoadsRead,
    segment_table,
)
from healthreach.rules import base_class
from healthreach.layers.crs import metric_crs_for, to_wgs84

log = logging.getLogger(__name__)

CHINESE_CLASSES: dict[str, str] = {
    "高速公路": "motorway", "高速": "motorway",
    "国道": "trunk", "城市快速路": "trunk", "快速路": "trunk",
    "一级公路": "primary", "主干路": "primary", "主干道": "primary",
    "省道": "secondary", "二级公路": "secondary", "次干路": "secondary", "次干道": "secondary",
    "县道": "tertiary", "三级公路": "tertiary",
    "乡道": "unclassified", "四级公路": "unclassified", "村道": "unclassified",
    "城市道路": "residential", "支路": "residential", "街巷": "residential",
    "专用公路": "service",
    "等外公路": "track", "机耕路": "track", "机耕道": "track",
    "人行道": "footway", "步行道": "footway",
}
# Keywords that suggest a class for an unknown label (suggestions only; never applied silently).
_HINTS = (("高速", "motorway"), ("国道", "trunk"), ("省道", "secondary"), ("县道", "tertiary"),
          ("乡道", "unclassified"), ("村", "unclassified"), ("机耕", "track"), ("等外", "track"),
          ("县", "tertiary"), ("省", "secondary"), ("乡", "unclassified"), ("国", "trunk"),
          ("街", "residential"), ("路", "residential"))
_ONEWAY_VALUES: dict[str, int] = {
    **dict.fromkeys(("", "0", "no", "n", "false", "f", "否", "双向", "b", "both"), 0),
    **dict.fromkeys(("1", "yes", "y", "true", "t", "是", "单向", "正向", "ft"), 1),
    **dict.fromkeys(("-1", "reverse", "tf", "反向", "逆向"), -1),
}
_ACCESS_VALUES: dict[str, str] = {
    **dict.fromkeys(("", "yes", "y", "true", "1", "是", "允许", "开放", "permissive", "destination", "designated"), OPEN),
    **dict.fromkeys(("no", "n", "false", "0", "否", "禁止", "禁行", "禁止通行", "禁止机动车"), CLOSED),
    **dict.fromkeys(("private", "专用", "内部", "私有", "私人"), PRIVATE),
}
_DEFAULT_COLUMNS = {"class": ("highway", "class"), "speed": ("speed_kmh",), "oneway": ("oneway",)}
_KEY_M = 0.01  # vertices closer than this (metres) are one node
SPEED_ONLY_CLASS = "road"  # OSM's class for a road of unknown type; used where only a speed is given


def read_road_lines(
    path: str | Path,
    *,
    class_column: str | None = None,
    speed_column: str | None = None,
    oneway_column: str | None = None,
    crs: str | None = None,
    encoding: str | None = None,
    layer: str | None = None,
    snap_m: float = 5.0,
    area: shapely.Geometry | None = None,
    progress: Progress | None = None,
) -> RoadsRead:
    """Road edge table from a line layer; `crs` overrides the file's (EPSG code, wgs84, gcj02, bd09).

    Columns default to `highway`/`class`, `speed_kmh` and `oneway` when present. Lines not meeting
    `area` (WGS84) are dropped. Counts returned: `lines_read`, `lines_outside`, `ends_snapped`,
    `vertices_inserted`, `segments`.
    """
    path = Path(path)
    say = progress or (lambda _msg: None)
    label = path.name
    if not path.exists():
        raise InputError(f"{path}: roads file not found")
    try:
        frame = pyogrio.read_dataframe(path, layer=layer, encoding=encoding)
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as a line layer ({exc})") from exc
    say(f"{label}: {len(frame):,} road lines read")
    cls_col, speed_col, oneway_col = (
        _column(frame, label, given, _DEFAULT_COLUMNS[role], role)
        for role, given in (("class", class_column), ("speed", speed_column), ("oneway", oneway_column)))
    if cls_col is None and speed_col is None:
        raise InputError(f"{label}: road lines have neither a class nor a speed column "
                         f"(expected a column named with class: or speed_kmh:; the file has "
                         f"{', '.join(map(str, frame.columns.drop('geometry')))})")
    try:
        frame = to_wgs84(frame, crs)
    except ValueError as exc:
        raise InputError(f"{label}: crs {crs!r} is not usable ({exc})") from exc

    highway = _classes(frame, cls_col, label)
    speed = _speeds(frame, speed_col, label)
    if cls_col is None and not np.isfinite(speed).all():
        log.warning("%s: %d lines have no speed and no class; driven at the default %s speed",
                    label, int((~np.isfinite(speed)).sum()), SPEED_ONLY_CLASS)
    direction = _directions(frame, oneway_col, label)
    names = (frame["name"].fillna("").astype(str).to_numpy(dtype=object) if "name" in frame
             else np.full(len(frame), "", dtype=object))
    access = {code: _access(frame, code, label) for code in ("access", "foot")}

    parts, feature = _line_parts(frame, label)
    counts = {"lines_read": len(frame), "lines_outside": 0}
    if area is not None:
        near = shapely.intersects(area, parts)
        counts["lines_outside"] = int(len(np.unique(feature[~near])))
        parts, feature = parts[near], feature[near]
        if counts["lines_outside"]:
            log.info("%s: %d lines lie outside the study area plus its buffer and were dropped",
                     label, counts["lines_outside"])
    if len(parts) == 0:
        raise InputError(f"{label}: no road lines within the study area (expected roads around the villages "
                         "and facilities; check the layer's crs:)")
    # Lines digitised against the one-way direction are turned round so u -> v is the way to drive.
    back = direction[feature] < 0
    parts[back] = shapely.reverse(parts[back])

    node, lon, lat, line, snapped, inserted = _topology(parts, snap_m)
    counts.update(ends_snapped=snapped, vertices_inserted=inserted)
    attrs = {"highway": highway[feature], "name": names[feature], "maxspeed_kmh": speed[feature],
             "oneway": direction[feature] != 0, **{code: values[feature] for code, values in access.items()}}
    edges = segment_table(node, lon, lat, line, attrs)
    counts["segments"] = len(edges)
    log.info("%s: %d road segments from %d lines (%d ends snapped, %d vertices inserted)",
             label, len(edges), len(parts), snapped, inserted)
    return RoadsRead(edges=edges, counts=counts)


def _column(frame: pd.DataFrame, label: str, given: str | None, defaults: tuple[str, ...],
            role: str) -> str | None:
    if given is not None:
        if given not in frame.columns:
            raise InputError(f"{label}: field '{given}' (the {role} column) is not in the file; it has "
                             f"{', '.join(map(str, frame.columns.drop('geometry')))}")
        return given
    return next((c for c in defaults if c in frame.columns), None)


def road_class(value: object) -> str | None:
    """OSM class of a class label (an OSM class or a Chinese grade); None when unknown."""
    text = str(value).strip()
    if base_class(text.lower()) in ROUTABLE_CLASSES:
        return text.lower()
    return CHINESE_CLASSES.get(text)


def _classes(frame: pd.DataFrame, column: str | None, label: str) -> np.ndarray:
    """OSM class of each line; unknown labels raise one InputError listing them with counts."""
    if column is None:
        return np.full(len(frame), SPEED_ONLY_CLASS, dtype=object)
    values = frame[column]
    out = np.empty(len(frame), dtype=object)
    unknown: Counter[str] = Counter()
    first_row: dict[str, int] = {}
    for i, value in enumerate(values):
        if pd.isna(value) or str(value).strip() == "":
            raise InputError(f"{label}: row {i + 1}, field '{column}': the road class is empty "
                             "(expected an OSM class such as tertiary, or a grade such as 县道)")
        cls = road_class(value)
        if cls is None:
            unknown[str(value)] += 1
            first_row.setdefault(str(value), i + 1)
        out[i] = cls
    if unknown:
        lines = [f"'{v}' ({n} lines, first row {first_row[v]})" + _suggest(v) for v, n in unknown.most_common()]
        raise InputError(
            f"{label}: field '{column}': {len(unknown)} unknown road class values: " + "; ".join(lines)
            + ". Recode them: expected OSM classes (motorway, trunk, primary, secondary, tertiary, "
              "unclassified, residential, service, track) or to the grades "
            + "、".join(CHINESE_CLASSES))
    return out


def _suggest(value: str) -> str:
    for word, cls in _HINTS:
        if word in value:
            return f" -> {cls}?"
    return ""


def _speeds(frame: pd.DataFrame, column: str | None, label: str) -> np.ndarray:
    """Speed (km/h) of each line; NaN where the column is empty (class speeds then apply)."""
    if column is None:
        return np.full(len(frame), np.nan)
    raw = frame[column]
    speed = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float)
    bad = np.flatnonzero((raw.notna().to_numpy() & ~np.isfinite(speed)) | (speed <= 0))
    if len(bad):
        rows = ", ".join(f"row {i + 1} ({raw.iloc[i]!r})" for i in bad[:10])
        raise InputError(f"{label}: field '{column}': {len(bad)} speeds are not numbers of km/h > 0: {rows} "
                         "(expected a speed in km/h, or an empty cell for the class speed)")
    return speed


def _access(frame: pd.DataFrame, column: str, label: str) -> np.ndarray:
    """The access code (ACCESS_CODES) of each line from its optional `access` or `foot` column."""
    out = np.full(len(frame), OPEN, dtype=object)
    if column not in frame:
        return out
    for i, value in enumerate(frame[column]):
        if pd.isna(value):
            continue
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        code = _ACCESS_VALUES.get(text.strip().lower())
        if code is None:
            raise InputError(f"{label}: row {i + 1}, field '{column}': access value {value!r} is not understood "
                             f"(expected {' / '.join(ACCESS_CODES)}, or 是/否/专用; empty means open)")
        out[i] = code
    return out


def _directions(frame: pd.DataFrame, column: str | None, label: str) -> np.ndarray:
    """+1 one-way along the line, -1 one-way against it, 0 two-way."""
    if column is None:
        return np.zeros(len(frame), dtype=np.int8)
    out = np.zeros(len(frame), dtype=np.int8)
    for i, value in enumerate(frame[column]):
        if pd.isna(value):
            continue
        text = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        code = _ONEWAY_VALUES.get(text.strip().lower())
        if code is None:
            raise InputError(f"{label}: row {i + 1}, field '{column}': one-way value {value!r} is not "
                             "understood (expected 1/0, yes/no, 是/否, -1 for against the line, or FT/TF/B)")
        out[i] = code
    return out


def _line_parts(frame: gpd.GeoDataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Single LineStrings (WGS84, 2-D) and the row each came from; empty geometries are skipped."""
    geoms = frame.geometry.to_numpy()
    kind = shapely.get_type_id(geoms)
    empty = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    wrong = np.flatnonzero(~empty & ~np.isin(kind, (1, 5)))
    if len(wrong):
        i = int(wrong[0])
        raise InputError(f"{label}: row {i + 1}, field 'geometry': a {shapely.get_type_id(geoms[i])} "
                         f"geometry ({len(wrong)} such rows); expected LineString or MultiLineString")
    if empty.any():
        log.warning("%s: %d lines without geometry were skipped", label, int(empty.sum()))
    parts, feature = shapely.get_parts(geoms[~empty], return_index=True)
    feature = np.flatnonzero(~empty)[feature]
    parts = shapely.force_2d(parts)
    ok = shapely.get_num_coordinates(parts) >= 2
    return parts[ok], feature[ok]


def _topology(parts: np.ndarray, snap_m: float
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int, int]:
    """Node id, lon and lat per vertex occurrence and the line of each, with dangling ends joined.

    Returns those four arrays, the number of ends snapped and of vertices inserted into lines.
    """
    coords, line = shapely.get_coordinates(parts, return_index=True)
    metric = metric_crs_for(float(np.mean(coords[:, 0])), float(np.mean(coords[:, 1])))
    xy = np.column_stack(pyproj.Transformer.from_crs("EPSG:4326", metric, always_xy=True)
                         .transform(coords[:, 0], coords[:, 1]))
    _, first, node = np.unique(np.round(xy / _KEY_M).astype(np.int64), axis=0, return_index=True,
                               return_inverse=True)
    node = node.ravel()
    node_xy, node_lonlat = xy[first], coords[first]
    start = np.r_[True, line[1:] != line[:-1]]
    end_pos = np.flatnonzero(start | np.r_[line[1:] != line[:-1], True])
    dangling = end_pos[np.bincount(node, minlength=len(first))[node[end_pos]] == 1]

    parent = np.arange(len(first) + len(dangling))  # room for one inserted vertex per end
    snapped, unsnapped = _snap_to_vertices(node, line, node_xy, dangling, parent, snap_m)
    inserts = _snap_to_lines(xy, line, node, unsnapped, snap_m)

    seq_node, seq_line, extra_xy = [], [], []
    next_id = len(first)
    line_start = np.flatnonzero(start)
    for ln, (a, b) in enumerate(zip(line_start, np.r_[line_start[1:], len(line)])):
        todo = sorted(inserts.get(ln, []), key=lambda t: t[0])
        along_line = np.r_[0.0, np.cumsum(np.hypot(*np.diff(xy[a:b], axis=0).T))]
        k = 0
        for i in range(a, b):
            while k < len(todo) and todo[k][0] < along_line[i - a]:
                _, at, end_node = todo[k]
                extra_xy.append(at)
                seq_node.append(next_id)
                seq_line.append(ln)
                parent[end_node] = next_id
                next_id += 1
                k += 1
            seq_node.append(int(node[i]))
            seq_line.append(ln)
    extra = np.asarray(extra_xy, dtype=float).reshape(-1, 2)
    back = pyproj.Transformer.from_crs(metric, "EPSG:4326", always_xy=True)
    lonlat = np.vstack([node_lonlat, np.column_stack(back.transform(extra[:, 0], extra[:, 1]))])
    final = np.array([_root(parent, n) for n in seq_node], dtype=np.int64)
    lines = np.asarray(seq_line, dtype=np.int64)
    # A snapped end may land on its neighbour vertex: drop the repeat, then lines left with one node.
    keep = np.r_[True, (final[1:] != final[:-1]) | (lines[1:] != lines[:-1])]
    final, lines = final[keep], lines[keep]
    size = np.bincount(lines)
    ok = np.repeat(size >= 2, size)
    final, lines = final[ok], lines[ok]
    return final + 1, lonlat[final, 0], lonlat[final, 1], lines, snapped + len(extra), len(extra)


def _root(parent: np.ndarray, i: int) -> int:
    while parent[i] != i:
        i = int(parent[i])
    return i


def _snap_to_vertices(node: np.ndarray, line: np.ndarray, node_xy: np.ndarray, dangling: np.ndarray,
                      parent: np.ndarray, snap_m: float) -> tuple[int, list[int]]:
    """Join each dangling end to the nearest vertex of another line within `snap_m` (in `parent`).

    Returns how many ends were joined and the positions of the ends with no such vertex.
    """
    pairs = np.unique(np.column_stack([node, line]), axis=0)
    n_lines = np.bincount(pairs[:, 0], minlength=len(node_xy))
    some_line = np.full(len(node_xy), -1)
    some_line[pairs[:, 0]] = pairs[:, 1]
    tree = cKDTree(node_xy)
    snapped, unsnapped = 0, []
    for pos in dangling:
        e, own = int(node[pos]), int(line[pos])
        near = [j for j in tree.query_ball_point(node_xy[e], snap_m)
                if j != e and (n_lines[j] > 1 or some_line[j] != own)]
        if not near:
            unsnapped.append(int(pos))
            continue
        gaps = np.hypot(*(node_xy[near] - node_xy[e]).T)
        target = _root(parent, near[int(np.argmin(gaps))])
        if target != e:  # two ends choosing each other are joined once
            parent[e] = target
            snapped += 1
    return snapped, unsnapped


def _snap_to_lines(xy: np.ndarray, line: np.ndarray, node: np.ndarray, ends: list[int], snap_m: float
                   ) -> dict[int, list[tuple[float, np.ndarray, int]]]:
    """For ends near another line's interior: line -> [(metres along it, metric point, end node)]."""
    inserts: dict[int, list[tuple[float, np.ndarray, int]]] = {}
    if not ends:
        return inserts
    m_parts = shapely.linestrings(xy, indices=line)
    pts = shapely.points(xy[ends])
    p_idx, l_idx = shapely.STRtree(m_parts).query(pts, predicate="dwithin", distance=snap_m)
    other = l_idx != line[np.asarray(ends)[p_idx]]
    p_idx, l_idx = p_idx[other], l_idx[other]
    dist = shapely.distance(m_parts[l_idx], pts[p_idx])
    for p in np.unique(p_idx):
        mine = np.flatnonzero(p_idx == p)
        ln = int(l_idx[mine[np.argmin(dist[mine])]])
        along = float(shapely.line_locate_point(m_parts[ln], pts[p]))
        at = shapely.get_coordinates(shapely.line_interpolate_point(m_parts[ln], along))[0]
        inserts.setdefault(ln, []).append((along, at, int(node[ends[p]])))
    return inserts
