"""An independent reading of docs/roads.md for cross-checks: which OSM ways cars and walkers may use, at
what speed, written from the rules' text with plain Python over osmnx's graphs (nothing of healthreach's
road readers, speeds or networks is used)."""
from __future__ import annotations

import math
import re
from pathlib import Path

import networkx as nx
import numpy as np
import osmnx as ox
import pyproj
import shapely

# The plans' class speeds (standards.md "Defaults the seeds do not fix"), km/h.
CLASS_KMH = {"motorway": 100, "trunk": 80, "primary": 60, "secondary": 50, "tertiary": 40, "unclassified": 30,
             "residential": 30, "road": 30, "living_street": 15, "service": 15, "track": 15}
NOT_WALKED = {"motorway"}
WALK_ONLY = {"footway", "path", "pedestrian", "steps", "cycleway", "bridleway", "corridor"}
SERVICE_CLOSED = {"parking_aisle", "parking", "driveway", "private", "emergency_access"}
TAGS = ["access", "motor_vehicle", "motorcar", "vehicle", "foot", "service", "maxspeed", "oneway", "highway"]
GEOD = pyproj.Geod(ellps="WGS84")


def read_graph(path: Path) -> nx.MultiDiGraph:
    """osmnx's unsimplified graph of an OSM XML file, keeping the access tags the rules read."""
    keep = ox.settings.useful_tags_way
    ox.settings.useful_tags_way = list(dict.fromkeys([*keep, *TAGS]))
    try:
        return ox.graph_from_xml(path, bidirectional=True, simplify=False, retain_all=True)
    finally:
        ox.settings.useful_tags_way = keep


def _cls(data: dict) -> str:
    highway = str(data.get("highway"))
    return highway[: -len("_link")] if highway.endswith("_link") else highway


def _first(data: dict, keys: tuple[str, ...]) -> str | None:
    return next((str(data[k]) for k in keys if k in data), None)


def drivable(data: dict) -> bool:
    """Cars may use the way: a road class with a plan speed, not closed by its most specific access tag,
    and not a parking aisle, driveway, private or emergency service road."""
    if _cls(data) not in CLASS_KMH or data.get("service") in SERVICE_CLOSED:
        return False
    return _first(data, ("motorcar", "motor_vehicle", "vehicle", "access")) not in ("no", "private")


def walkable(data: dict) -> bool:
    cls = _cls(data)
    if cls in NOT_WALKED or not (cls in CLASS_KMH or cls in WALK_ONLY):
        return False
    return _first(data, ("foot", "access")) not in ("no", "private")


def drive_kmh(data: dict) -> float:
    """The way's maxspeed (first number; mph converted) where tagged, else the class speed."""
    match = re.search(r"\d+(?:\.\d+)?", str(data.get("maxspeed", "")))
    if match:
        return float(match.group()) * (1.609344 if "mph" in str(data["maxspeed"]) else 1.0)
    return float(CLASS_KMH[_cls(data)])


def is_oneway(data: dict) -> bool:
    return str(data.get("oneway")).lower() in ("true", "yes", "1", "-1")


def metres(graph: nx.MultiDiGraph, u: int, v: int) -> float:
    a, b = graph.nodes[u], graph.nodes[v]
    return GEOD.inv(a["x"], a["y"], b["x"], b["y"])[2]


def drive_graph(graph: nx.MultiDiGraph) -> nx.DiGraph:
    """Drivable directed edges of an osmnx graph with `s` (seconds, fastest of parallel edges) and `m`."""
    out = nx.DiGraph()
    for u, v, data in graph.edges(data=True):
        if not drivable(data):
            continue
        m = metres(graph, u, v)
        s = m / drive_kmh(data) * 3.6
        if not out.has_edge(u, v) or out[u][v]["s"] > s:
            out.add_edge(u, v, s=s, m=m)
    return out


def walk_graph(graph: nx.MultiDiGraph, walk_kmh: float = 4.0) -> nx.DiGraph:
    """Walkable edges, both ways (one-way streets do not bind walkers), with `s` seconds at `walk_kmh`."""
    out = nx.DiGraph()
    for u, v, data in graph.edges(data=True):
        if walkable(data):
            m = metres(graph, u, v)
            for a, b in ((u, v), (v, u)):
                out.add_edge(a, b, s=m / walk_kmh * 3.6, m=m)
    return out


def door_to_door(raw: nx.MultiDiGraph, timed: nx.DiGraph, crs: str, origins: list[tuple[float, float]],
                 targets: list[tuple[float, float]], *, leg_kmh: float = 4.0, max_snap_m: float = 2000.0
                 ) -> list[float]:
    """Seconds from each origin to its nearest target over `timed`, points given in metres of `crs`.

    Each point walks straight (at `leg_kmh`) to the nearest point of the nearest edge of the largest
    strongly connected part within `max_snap_m` (else it is unreachable: inf), and the edge is split
    there: the part of it driven is charged its share of the edge's seconds, in the directions it may
    be driven."""
    main = max(nx.strongly_connected_components(timed), key=len)
    g = timed.subgraph(main).copy()
    to_metric = pyproj.Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    xy = {n: np.array(to_metric.transform(raw.nodes[n]["x"], raw.nodes[n]["y"])) for n in g.nodes}
    pairs = sorted({tuple(sorted((u, v))) for u, v in g.edges})
    lines = shapely.linestrings([[xy[u], xy[v]] for u, v in pairs])
    on_edge: dict[tuple, list[tuple[float, object]]] = {}
    points = [("o", k, p) for k, p in enumerate(origins)] + [("t", k, p) for k, p in enumerate(targets)]
    for kind, k, p in points:
        pt = shapely.Point(p)
        dist = shapely.distance(lines, pt)
        e = int(np.argmin(dist))
        if dist[e] > max_snap_m:
            continue
        frac = float(shapely.line_locate_point(lines[e], pt, normalized=True))
        node = (kind, k)
        g.add_edge(node, ("at", kind, k), s=dist[e] / leg_kmh * 3.6)
        g.add_edge(("at", kind, k), node, s=dist[e] / leg_kmh * 3.6)
        on_edge.setdefault(pairs[e], []).append((frac, ("at", kind, k)))
    for (u, v), joins in on_edge.items():
        chain = [(0.0, u)] + sorted(joins, key=lambda j: j[0]) + [(1.0, v)]
        for a, b in ((u, v), (v, u)):
            if not timed.has_edge(a, b):
                continue
            s = timed[a][b]["s"]
            steps = chain if a == u else [(1.0 - f, n) for f, n in reversed(chain)]
            for (f0, n0), (f1, n1) in zip(steps, steps[1:]):
                g.add_edge(n0, n1, s=(f1 - f0) * s)
    sources = [("t", k) for k in range(len(targets)) if ("t", k) in g]
    reach = nx.multi_source_dijkstra_path_length(g.reverse(copy=True), sources, weight="s") if sources else {}
    return [float(reach.get(("o", k), math.inf)) for k in range(len(origins))]
