"""Read road networks into the road edge table every travel mode is built from.

The edge table is a GeoDataFrame in WGS84 with one row per road segment between two junctions or
ends: `u`, `v` (int64 node ids), `highway` (OSM class), `name`, `maxspeed_kmh` (NaN when absent),
`oneway` (True: only u -> v may be driven), `length_m` (metres) and a LineString from u to v.
"""
from __future__ import annotations

import logging
import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach._errors import InputError
from healthreach.coverage.rules import NO_WALK_CLASSES, WALK_ONLY_CLASSES, CLASS_SPEEDS_KMH, base_class

log = logging.getLogger(__name__)

EDGE_COLUMNS = ["u", "v", "highway", "name", "maxspeed_kmh", "oneway", "length_m", "geometry"]

# Classes that carry no traffic: planned or abandoned roads, platforms, race tracks.
_ROUTABLE = frozenset(base_class(c) for c in CLASS_SPEEDS_KMH) | WALK_ONLY_CLASSES | NO_WALK_CLASSES
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


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


def _first(value: object) -> object:
    return value[0] if isinstance(value, (list, tuple)) else value


def _joined(value: object) -> str:
    if isinstance(value, (list, tuple)):
        return ";".join(dict.fromkeys(str(v) for v in value if v is not None))
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    return str(value)


def read_osm_edges(path: str | Path) -> gpd.GeoDataFrame:
    """Road edge table from an OSM XML file (`.osm` or `.osm.bz2`), parsed with osmnx.

    Ways without a routable `highway` tag (buildings, landuse, construction) are dropped before the
    graph is simplified to one edge per segment between junctions.
    """
    import osmnx as ox

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: roads file not found")
    try:
        graph = ox.graph_from_xml(path, bidirectional=False, simplify=False, retain_all=True)
    except ValueError as exc:
        if "missing nodes" in str(exc):
            raise InputError(
                f"{path}: some ways reference nodes that are not in the file (a clipped extract); "
                "export the extract with complete ways (osmium extract --strategy complete_ways)"
            ) from exc
        raise InputError(f"{path}: not a readable OSM XML file ({exc})") from exc
    except Exception as exc:  # the XML parser raises its own error types
        raise InputError(f"{path}: not a readable OSM XML file ({exc})") from exc

    drop = [
        (u, v, k)
        for u, v, k, d in graph.edges(keys=True, data=True)
        if base_class(str(_first(d.get("highway")))) not in _ROUTABLE or d.get("area") == "yes"
    ]
    graph.remove_edges_from(drop)
    graph.remove_nodes_from([n for n, deg in dict(graph.degree()).items() if deg == 0])
    if graph.number_of_edges() == 0:
        raise InputError(f"{path}: no routable roads (ways tagged highway=*) in the file")
    graph = ox.simplify_graph(graph, edge_attrs_differ=["highway", "maxspeed", "oneway"])
    edges = ox.graph_to_gdfs(graph, nodes=False).reset_index()
    log.info("%s: %d road segments from %d ways", path.name, len(edges), len(drop))
    return _edge_table(edges)


def _edge_table(edges: pd.DataFrame) -> gpd.GeoDataFrame:
    """Edge table from osmnx edge rows: one row per segment, two-way segments kept once."""
    table = gpd.GeoDataFrame(
        {
            "u": edges["u"].astype("int64").to_numpy(),
            "v": edges["v"].astype("int64").to_numpy(),
            "highway": [str(_first(h)) for h in edges["highway"]],
            "name": [_joined(n) for n in edges.get("name", pd.Series([None] * len(edges)))],
            "maxspeed_kmh": [parse_maxspeed(m) for m in edges.get("maxspeed", pd.Series([None] * len(edges)))],
            "oneway": [bool(_first(o)) for o in edges["oneway"]],
            "length_m": edges["length"].astype(float).to_numpy(),
        },
        geometry=edges.geometry.to_numpy(),
        crs="EPSG:4326",
    )
    # osmnx stores a two-way segment twice (u->v and v->u); keep the copy drawn from the smaller id.
    two_way = table.loc[~table["oneway"]]
    key = pd.DataFrame(
        {
            "lo": np.minimum(two_way["u"], two_way["v"]),
            "hi": np.maximum(two_way["u"], two_way["v"]),
            "h": two_way["highway"],
            "len": two_way["length_m"].round(1),
            "later": two_way["u"] > two_way["v"],
        },
        index=two_way.index,
    ).sort_values("later", kind="stable")
    keep = ~table.index.isin(key.index[key.duplicated(["lo", "hi", "h", "len"])])
    return table.loc[keep, EDGE_COLUMNS].reset_index(drop=True)


def read_roads(path: str | Path) -> gpd.GeoDataFrame:
    """Road edge table from a roads file named in a project (OSM XML for now)."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".osm") or name.endswith(".osm.bz2") or name.endswith(".xml"):
        return read_osm_edges(path)
    raise InputError(f"{path}: unsupported roads format (expected .osm or .osm.bz2)")
