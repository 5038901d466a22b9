"""The network quality report: what in the road data and the point layers may distort travel times.

`network_qa` returns one table (`QA_COLUMNS`) with one row per statistic or problem: connected
components and the villages/facilities stranded on road islands, the points that joined the connected
network instead of a nearer road island (`island_join`), snap (access-leg) distances, where
edge speeds came from, edges no mode can use, implausible speeds, degenerate edges, and the mark of
point layers that are really GCJ-02 (Amap/Tencent) but were read as WGS84 (`gcj02_offset_warning`).
Distances are metres, speeds km/h; `lon`/`lat` (WGS84 degrees) locate rows that have a place.
"""
from __future__ import annotations

import logging
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse.csgraph import connected_components

from healthreach.coverage.network import Network
from healthreach.layers.roads.speeds import open_to, segment_speeds_kmh
from healthreach.config import Settings
from healthreach.rules import NO_WALK_CLASSES, WALK_ONLY_CLASSES, base_class
from healthreach.coverage.traveltime import nearest
from healthreach.layers.crs import WGS84, gcj02_to_wgs84

log = logging.getLogger(__name__)

QA_COLUMNS = ["check", "severity", "mode", "feature", "id", "name", "value", "unit", "lon", "lat", "message"]

SNAP_WARN_M = 500.0
"""Access legs longer than this (metres) are worth a look: the point may be misplaced."""
MIN_SPEED_KMH = 5.0
MAX_SPEED_KMH = 130.0
"""OSM maxspeed outside [MIN, MAX] km/h is almost always a tagging error (130: China's motorway limit)."""
DESIGN_FACTOR = 1.5
"""maxspeed above this multiple of the class design speed is suspicious (e.g. 100 on a track)."""
ZERO_EDGE_M = 0.01
SHORT_EDGE_M = 1.0
MAX_LISTED = 500
"""Per check and mode, at most this many edges get a row of their own; the count row gives the total."""

# The GCJ-02 offset is 300–700 m across China; a point displaced by it sits at most that far from the
# road it belongs to (less where the road runs along the offset), so a layer whose median snap lies
# outside this window is not simply GCJ-shifted.
GCJ_MEDIAN_M = (50.0, 1000.0)
GCJ_MIN_POINTS = 5
GCJ_SAMPLE = 2000
"""Points the GCJ-02 check measures at most (every k-th of the layer): a median and a mean direction
need no more, and a province's 28,000 villages cost four nearest-road searches each."""
GCJ_RESULTANT = 0.5
"""Minimum |mean offset vector| / mean |offset vector| (1: all offsets point the same way, ~0: random)."""
GCJ_REDUCTION = 0.5
"""The inverse GCJ-02 shift must bring the median snap distance below this share of what it was."""

_LAYER_FEATURE = {"villages": "village", "facilities": "facility"}


def _row(check: str, severity: str, mode: str, feature: str, *, id: object = "", name: object = "",
         value: float = np.nan, unit: str = "", lon: float = np.nan, lat: float = np.nan,
         message: str = "") -> dict[str, Any]:
    return {"check": check, "severity": severity, "mode": mode, "feature": feature, "id": str(id),
            "name": "" if name is None or (isinstance(name, float) and np.isnan(name)) else str(name),
            "value": float(value), "unit": unit, "lon": float(lon), "lat": float(lat), "message": message}


def _lonlat(frame: gpd.GeoDataFrame) -> np.ndarray:
    """WGS84 lon/lat (degrees) of each feature's representative point, shape (n, 2)."""
    if not len(frame):
        return np.zeros((0, 2))
    geoms = frame.geometry.to_crs(WGS84).representative_point()
    return shapely.get_coordinates(geoms.to_numpy())


def network_qa(
    edges: gpd.GeoDataFrame,
    networks: dict[str, Network],
    villages: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    settings: Settings,
    *,
    snap_warn_m: float = SNAP_WARN_M,
) -> pd.DataFrame:
    """Quality report of the road edge table and the networks built from it (columns `QA_COLUMNS`).

    `networks` are those of `build_network` with villages joined as points 0..nv-1 and facilities as
    nv.. (table order). Severity is 'error' for what makes results wrong or missing (a point not
    joined, a village that can reach no facility), 'warning' for what deserves a look, 'info' for
    statistics.
    """
    nv, nf = len(villages), len(facilities)
    point_lonlat = np.vstack([_lonlat(villages), _lonlat(facilities)])
    point_ids = np.r_[villages["vid"].astype(str).to_numpy(), facilities["fid"].astype(str).to_numpy()]
    point_names = np.r_[villages["name"].to_numpy(dtype=object), facilities["name"].to_numpy(dtype=object)]
    point_feature = np.array(["village"] * nv + ["facility"] * nf)
    points = (point_lonlat, point_ids, point_names, point_feature, nv)
    mid = shapely.get_coordinates(shapely.line_interpolate_point(edges.geometry.to_numpy(), 0.5, normalized=True)
                                  ) if len(edges) else np.zeros((0, 2))
    rows: list[dict[str, Any]] = []
    crs = ""
    for mode, net in networks.items():
        if len(net.point_node) != nv + nf:
            raise ValueError(f"{mode} network joins {len(net.point_node)} points, expected {nv} villages + {nf} "
                             "facilities")
        crs = net.crs
        speed = segment_speeds_kmh(edges, mode, settings)
        rows += _component_rows(edges, net, speed, points)
        rows += _island_join_rows(net, settings, points)
        rows += _snap_rows(net, settings, points, snap_warn_m)
        rows += _no_speed_rows(edges, mode, speed, mid)
    rows += _speed_rows(edges, settings, mid)
    rows += _degenerate_rows(edges)
    if crs:
        # The networks hold the roads already projected, one line per edge row, first.
        tree, lines = _road_tree(edges, crs, next(iter(networks.values())).geoms[:len(edges)])
        for layer, frame in (("villages", villages), ("facilities", facilities)):
            warning = _gcj02_check(frame, tree, lines, crs, layer=layer)
            if warning is not None:
                rows.append(warning)
    table = pd.DataFrame(rows, columns=QA_COLUMNS)
    log.info("network QA: %d rows (%d errors, %d warnings)", len(table),
             int((table["severity"] == "error").sum()), int((table["severity"] == "warning").sum()))
    return table


def _component_rows(edges: gpd.GeoDataFrame, net: Network, speed: np.ndarray, points: tuple) -> list[dict]:
    """Strongly connected components of one mode, the size of the largest, and the points off it."""
    lonlat, ids, names, feature, nv = points
    mode = net.mode
    n = net.n_nodes
    n_road = n - 2 * len(net.point_node)  # junction nodes come first (see Network)
    _, label = connected_components(net.csr_s, directed=True, connection="strong")
    degree = np.diff(net.csr_s.indptr) + np.bincount(net.csr_s.indices, minlength=n)
    used = degree > 0
    junction = used.copy()
    junction[n_road:] = False
    if not junction.any():
        return [_row("components", "error", mode, "network", value=0, unit="count",
                     message=f"no road is usable in the {mode} network")]
    comps = np.unique(label[used])
    nodes_in = np.bincount(label[junction], minlength=n)
    # Segment ends as graph nodes: junction ids are sorted (np.unique in build_network).
    seg_u = np.searchsorted(net.node_id[:n_road], edges["u"].to_numpy())
    seg_v = np.searchsorted(net.node_id[:n_road], edges["v"].to_numpy())
    usable = np.isfinite(speed) & (speed > 0)
    length_km = edges["length_m"].to_numpy(dtype=float) / 1000.0
    inside = usable & (label[seg_u] == label[seg_v])
    km_in = np.bincount(label[seg_u][inside], weights=length_km[inside], minlength=n)
    largest = int(np.argmax(nodes_in))
    rows = [
        _row("components", "info" if len(comps) == 1 else "warning", mode, "network", value=len(comps),
             unit="count", message=f"{len(comps)} strongly connected part(s) in the {mode} network"),
        _row("largest_component", "info", mode, "network", value=int(nodes_in[largest]), unit="nodes",
             message=f"largest part: {int(nodes_in[largest])} of {int(junction.sum())} road junctions"),
        _row("largest_component", "info", mode, "network", value=round(float(km_in[largest]), 3), unit="km",
             message=f"largest part: {km_in[largest]:.1f} of {length_km[usable].sum():.1f} km of usable road"),
    ]
    joined = np.flatnonzero(net.point_joined)
    island = joined[label[net.point_node[joined]] != largest]
    if not len(island):
        return rows
    fac_nodes = net.point_node[nv:][net.point_joined[nv:]]
    # Ambulances drive out from their base; everyone else travels to the facility.
    reach = np.isfinite(nearest(net, fac_nodes, toward=mode != "ambulance").cost[net.point_node])
    for i in island:
        part = label[net.point_node[i]]
        where = (f"on a road island ({int(nodes_in[part])} junctions, {km_in[part]:.1f} km) cut off from the "
                 f"largest part of the {mode} network")
        stranded = i < nv and not reach[i]
        message = f"{where}; it can reach no facility" if stranded else where
        rows.append(_row("island", "error" if stranded else "warning", mode, feature[i], id=ids[i],
                         name=names[i], value=int(nodes_in[part]), unit="nodes", lon=lonlat[i, 0],
                         lat=lonlat[i, 1], message=message))
    return rows


def _island_join_rows(net: Network, settings: Settings, points: tuple) -> list[dict]:
    """One row per point whose nearest road lies on a small piece of network and that joined the connected
    network instead: value is the access leg used (metres); the message gives the island's junctions and
    both distances."""
    lonlat, ids, names, feature, _ = points
    mode = net.mode
    return [_row("island_join", "warning", mode, feature[i], id=ids[i], name=names[i],
                 value=round(float(net.point_access_m[i]), 1), unit="m", lon=lonlat[i, 0], lat=lonlat[i, 1],
                 message=(f"nearest {mode} road, {net.point_island_m[i]:,.0f} m away, lies on a road island of "
                          f"{int(net.point_island_junctions[i])} junctions (fewer than small_component_size "
                          f"{settings.small_component_size:g}): joined the connected network "
                          f"{net.point_access_m[i]:,.0f} m away instead"))
            for i in np.flatnonzero(net.point_skipped_island)]


def _snap_rows(net: Network, settings: Settings, points: tuple, warn_m: float) -> list[dict]:
    """Access-leg statistics per point layer, long legs (warning) and points not joined (error)."""
    lonlat, ids, names, feature, nv = points
    mode = net.mode
    rows = []
    access = net.point_access_m
    for kind, part in (("village", slice(0, nv)), ("facility", slice(nv, None))):
        metres = access[part][np.isfinite(access[part])]
        if not len(metres):
            continue
        for check, value in (("snap_median", np.median(metres)), ("snap_p95", np.percentile(metres, 95)),
                             ("snap_max", metres.max())):
            rows.append(_row(check, "info", mode, kind, value=round(float(value), 1), unit="m",
                             message=f"{kind} access legs ({len(metres)} points) in the {mode} network"))
    for i in np.flatnonzero(net.point_joined & (access > warn_m)):
        rows.append(_row("long_snap", "warning", mode, feature[i], id=ids[i], name=names[i],
                         value=round(float(access[i]), 1), unit="m", lon=lonlat[i, 0], lat=lonlat[i, 1],
                         message=f"nearest {mode} road is {access[i]:,.0f} m away (over {warn_m:,.0f} m): "
                                 "check the location"))
    for i in np.flatnonzero(~net.point_joined):
        far = np.isfinite(access[i])
        rows.append(_row("not_joined", "error", mode, feature[i], id=ids[i], name=names[i],
                         value=round(float(access[i]), 1) if far else np.nan, unit="m", lon=lonlat[i, 0],
                         lat=lonlat[i, 1],
                         message=(f"nearest {mode} road is {access[i]:,.0f} m away" if far else
                                  f"no {mode} road at all") + f", beyond max_snap_m {settings.max_snap_m:,.0f} m: "
                                                               "not joined, unreachable"))
    return rows


def _edge_rows(check: str, severity: str, mode: str, edges: gpd.GeoDataFrame, mid: np.ndarray,
               index: np.ndarray, values: np.ndarray, unit: str, messages: list[str]) -> list[dict]:
    """One row per listed edge (the first MAX_LISTED), located at its midpoint."""
    u, v, names = edges["u"].to_numpy(), edges["v"].to_numpy(), edges["name"].to_numpy(dtype=object)
    return [_row(check, severity, mode, "edge", id=f"{u[e]}-{v[e]}", name=names[e], value=float(values[k]),
                 unit=unit, lon=mid[e, 0], lat=mid[e, 1], message=messages[k])
            for k, e in enumerate(index[:MAX_LISTED])]


def _no_speed_rows(edges: gpd.GeoDataFrame, mode: str, speed: np.ndarray, mid: np.ndarray) -> list[dict]:
    """Edges the mode may not use: a count of those closed by their access tags, and edges of an unknown
    class (walk-only paths in driving modes and motorways on foot are expected, as are closed roads)."""
    codes, tags = pd.factorize(edges["highway"].astype(str))  # a few dozen tags over a million edges
    classes = np.array([base_class(h) for h in tags], dtype=object)[codes]
    closed = ~open_to(edges, "foot" if mode == "walk" else "access")
    expected = np.isin(classes, list(NO_WALK_CLASSES if mode == "walk" else WALK_ONLY_CLASSES)) | closed
    bad = np.flatnonzero(~(np.isfinite(speed) & (speed > 0)) & ~expected)
    length = edges["length_m"].to_numpy(dtype=float)
    who = "on foot" if mode == "walk" else "to motor vehicles"
    closed_rows = [_row("closed", "info", mode, "network", value=int(closed.sum()), unit="edges",
                        message=f"{int(closed.sum())} edges ({length[closed].sum() / 1000:.1f} km) are closed {who} "
                                "(access, motor_vehicle, foot or service tags): left out of the "
                                f"{mode} network")]
    kinds = ", ".join(sorted({str(edges["highway"].iat[e]) for e in bad}))
    rows = [_row("no_speed", "warning" if len(bad) else "info", mode, "network", value=len(bad), unit="edges",
                 message=f"{len(bad)} edges ({length[bad].sum() / 1000:.1f} km) have no usable {mode} speed"
                         + (f"; classes: {kinds} (add them to class_speeds_kmh)" if len(bad) else ""))]
    messages = [f"class {edges['highway'].iat[e]!r} has no {mode} speed: the edge is left out" for e in bad]
    return closed_rows + rows + _edge_rows("no_speed", "warning", mode, edges, mid, bad, length[bad], "m", messages)


def _speed_rows(edges: gpd.GeoDataFrame, settings: Settings, mid: np.ndarray) -> list[dict]:
    """Where driving speeds come from (maxspeed or class default) and implausible maxspeed values."""
    classes = [base_class(str(h)) for h in edges["highway"]]
    maxspeed = edges["maxspeed_kmh"].to_numpy(dtype=float)
    length_km = edges["length_m"].to_numpy(dtype=float) / 1000.0
    drivable = np.array([c in settings.class_speeds_kmh for c in classes], dtype=bool) & open_to(edges, "access")
    tagged = drivable & np.isfinite(maxspeed) & (maxspeed > 0)
    by_class = drivable & ~tagged
    rows = []
    for check, mask, what in (("speed_from_maxspeed", tagged, "OSM maxspeed"),
                              ("speed_from_class_default", by_class, "the class default speed")):
        note = f"{int(mask.sum())} edges, {length_km[mask].sum():.1f} km: driving speed from {what}"
        rows.append(_row(check, "info", "drive", "network", value=int(mask.sum()), unit="edges", message=note))
        rows.append(_row(check, "info", "drive", "network", value=round(float(length_km[mask].sum()), 3),
                         unit="km", message=note))
    design = np.array([settings.design_speeds_kmh.get(c, np.nan) for c in classes], dtype=float)
    odd = np.isfinite(maxspeed) & ((maxspeed < MIN_SPEED_KMH) | (maxspeed > MAX_SPEED_KMH))
    above = np.isfinite(maxspeed) & ~odd & np.isfinite(design) & (maxspeed > DESIGN_FACTOR * design)
    flagged = np.flatnonzero(odd | above)
    messages = [
        f"maxspeed {maxspeed[e]:g} km/h is outside {MIN_SPEED_KMH:g}–{MAX_SPEED_KMH:g} km/h: probably a tagging error"
        if odd[e] else
        f"maxspeed {maxspeed[e]:g} km/h is over {DESIGN_FACTOR:g} x the {classes[e]} design speed {design[e]:g} km/h"
        for e in flagged
    ]
    return rows + _edge_rows("unusual_speed", "warning", "drive", edges, mid, flagged, maxspeed[flagged], "km/h",
                             messages)


def _degenerate_rows(edges: gpd.GeoDataFrame) -> list[dict]:
    """Counts of zero-length, very short, self-loop and duplicate parallel edges in the edge table."""
    length = edges["length_m"].to_numpy(dtype=float)
    u, v = edges["u"].to_numpy(), edges["v"].to_numpy()
    oneway = edges["oneway"].to_numpy(dtype=bool)
    loop = u == v
    # Two-way edges match in either direction, one-way ones only in the same direction.
    key = pd.DataFrame({"a": np.where(oneway, u, np.minimum(u, v)), "b": np.where(oneway, v, np.maximum(u, v)),
                        "oneway": oneway, "m": np.round(length)})[~loop]
    duplicates = int(key.duplicated().sum())
    counts = (
        ("zero_length", int((length < ZERO_EDGE_M).sum()), f"edges shorter than {ZERO_EDGE_M * 100:g} cm"),
        ("short_edge", int(((length >= ZERO_EDGE_M) & (length < SHORT_EDGE_M)).sum()),
         f"edges of {ZERO_EDGE_M * 100:g} cm to {SHORT_EDGE_M:g} m"),
        ("self_loop", int(loop.sum()), "edges that start and end at the same junction"),
        ("duplicate_edge", duplicates, "edges repeating another's end junctions and length (to the metre)"),
    )
    return [_row(check, "warning" if count else "info", "all", "network", value=count, unit="edges",
                 message=f"{count} {what}") for check, count, what in counts]


def _road_tree(edges: gpd.GeoDataFrame, crs: str, lines: np.ndarray | None = None
               ) -> tuple[shapely.STRtree, np.ndarray]:
    """The road lines in `crs` (`lines` when already projected) and their tree."""
    if lines is None:
        lines = np.asarray(edges.geometry.to_crs(crs).array, dtype=object)
    return shapely.STRtree(lines), lines


def _offsets(tree: shapely.STRtree, lines: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """Vector (metres, shape (n, 2)) from each point to the nearest point of the nearest road."""
    pts = shapely.points(xy)
    (p_idx, t_idx) = tree.query_nearest(pts, all_matches=False)
    out = np.full((len(xy), 2), np.nan)
    foot = shapely.get_coordinates(shapely.line_interpolate_point(
        lines[t_idx], shapely.line_locate_point(lines[t_idx], pts[p_idx])))
    out[p_idx] = foot - xy[p_idx]
    return out


def gcj02_offset_warning(points: gpd.GeoDataFrame, edges: gpd.GeoDataFrame, crs: str, *, layer: str
                         ) -> dict[str, Any] | None:
    """A warning row (`QA_COLUMNS`) when `points` look like undeclared GCJ-02 coordinates, else None.

    Points read as WGS84 that are really GCJ-02 sit 300–700 m from their roads, all displaced the same
    way. The row is returned when the median distance (metres, in the metric `crs`) to the nearest
    road lies in `GCJ_MEDIAN_M`, the offsets point one way (resultant length >= `GCJ_RESULTANT`), and
    reading the points as GCJ-02 (shifting them by the inverse transform) cuts the median distance
    below `GCJ_REDUCTION` of what it was. `layer` names the project layer ('villages', 'facilities').
    """
    if len(points) < GCJ_MIN_POINTS or not len(edges):
        return None
    tree, lines = _road_tree(edges, crs)
    return _gcj02_check(points, tree, lines, crs, layer=layer)


def _gcj02_check(points: gpd.GeoDataFrame, tree: shapely.STRtree, lines: np.ndarray, crs: str, *, layer: str
                 ) -> dict[str, Any] | None:
    if len(points) < GCJ_MIN_POINTS or not len(lines):
        return None
    lonlat = _lonlat(points)[:: -(-len(points) // GCJ_SAMPLE)]
    to_metric = gpd.GeoSeries(shapely.points(lonlat), crs=WGS84).to_crs(crs)
    before = _offsets(tree, lines, shapely.get_coordinates(to_metric.to_numpy()))
    dist = np.hypot(before[:, 0], before[:, 1])
    ok = np.isfinite(dist)
    if ok.sum() < GCJ_MIN_POINTS:
        return None
    median = float(np.median(dist[ok]))
    resultant = float(np.hypot(*before[ok].mean(axis=0)) / max(dist[ok].mean(), 1e-9))
    if not (GCJ_MEDIAN_M[0] <= median <= GCJ_MEDIAN_M[1]) or resultant < GCJ_RESULTANT:
        return None
    lon, lat = gcj02_to_wgs84(lonlat[:, 0], lonlat[:, 1])
    shifted = gpd.GeoSeries(shapely.points(lon, lat), crs=WGS84).to_crs(crs)
    after = _offsets(tree, lines, shapely.get_coordinates(shifted.to_numpy()))
    median_after = float(np.median(np.hypot(after[ok, 0], after[ok, 1])))
    if median_after >= GCJ_REDUCTION * median:
        return None
    log.warning("%s look like undeclared GCJ-02 coordinates (median road distance %.0f m, %.0f m as GCJ-02)",
                layer, median, median_after)
    return _row(
        "gcj02_offset", "warning", "all", _LAYER_FEATURE.get(layer, "network"), id=layer, name=layer,
        value=round(median, 1), unit="m",
        message=(f"{layer}: points sit a median {median:,.0f} m from the nearest road, displaced the same way "
                 f"(resultant {resultant:.2f}); read as GCJ-02 (Amap/Tencent) the median falls to "
                 f"{median_after:,.0f} m. The layer is probably GCJ-02: set `crs: gcj02` for {layer} in the "
                 "project file."),
    )
