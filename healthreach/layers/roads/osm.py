"""OSM road networks (`.osm`, `.osm.bz2`, `.osm.pbf`) read with pyosmium straight into the edge table.

Two streaming passes, no graph of the whole file: the first keeps the node lists and tags of ways
with a routable `highway` tag, the second reads the locations of just the nodes those ways use
(libosmium skips every other node before Python sees it). Clipping to the study area, the repair of
clipped extracts and the split into segments are then array operations.

Ways split at junctions (nodes used more than once by the routable ways) and at their ends; a way
whose nodes are partly missing from the file (an extract clipped without `complete_ways`) splits at
the gaps instead of failing.

Each way's access tags become the `access` (motor vehicles) and `foot` codes of its segments, read as
OSRM's car and foot profiles read them: the most specific tag present decides (`motorcar`, then
`motor_vehicle`, `vehicle`, `access` for cars; `foot`, then `access` for walking), and service roads
that are no through roads for the public (`service=parking_aisle`, `parking`, `driveway`, `private`,
`emergency_access`) are closed to motor traffic whatever their other tags. docs/roads.md has the rules.
"""
from __future__ import annotations

import io
import logging
import re
import tempfile
from pathlib import Path

import numpy as np
import osmium
import pandas as pd
import shapely

from healthreach._errors import InputError
from healthreach.layers.roads.table import (
    CLOSED,
    OPEN,
    PRIVATE,
    ROUTABLE_CLASSES,
    Progress,
    RoadsRead,
    parse_maxspeed,
    segment_table,
)
from healthreach.rules import base_class

log = logging.getLogger(__name__)

_FORWARD = frozenset({"yes", "true", "1"})
_BACKWARD = frozenset({"-1", "reverse"})
_ROUNDABOUTS = frozenset({"roundabout", "circular"})
_CHUNK_BYTES = 64 * 2**20  # node text parsed per block (bounded memory on province files)
_ESCAPE = re.compile(r"%([0-9a-fA-F]+)%")  # OPL writes special characters as %<hex code point>%
_NODE_TAGS = re.compile(rb" T\S*")
# Most specific first, as OSRM's profiles read them (car.lua `access_tags_hierarchy`, foot.lua).
_MOTOR_KEYS = ("motorcar", "motor_vehicle", "vehicle", "access")
_FOOT_KEYS = ("foot", "access")
# Service roads that are no through road for the public (osmnx's `drive` filter; OSRM forbids
# emergency_access and crawls the rest): kept out of the driving networks, still walked.
_SERVICE_PRIVATE = frozenset({"parking_aisle", "parking", "driveway", "private"})
_SERVICE_CLOSED = frozenset({"emergency_access"})


def read_osm(path: str | Path, *, area: shapely.Geometry | None = None,
             progress: Progress | None = None) -> RoadsRead:
    """Road edge table from an OSM file; ways with no node inside `area` (WGS84) are dropped whole.

    Counts returned: `ways_read` (routable ways in the file), `ways_outside` (dropped by `area`),
    `ways_gapped` and `nodes_missing` (ways referencing nodes absent from the file, and how many
    distinct nodes), `segments`.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: roads file not found")
    say = progress or (lambda _msg: None)
    try:
        with tempfile.TemporaryDirectory(prefix="healthreach-osm-") as folder:
            refs, starts, attrs = _read_ways(path, say, folder)
            ids, lon, lat = _read_nodes(path, np.unique(refs), say, folder)
    except RuntimeError as exc:  # libosmium reports unreadable or malformed files this way
        raise InputError(f"{path}: not a readable OSM file ({exc}); expected OSM XML (.osm, .osm.bz2) or "
                         "PBF (.osm.pbf)") from exc
    n_ways = len(starts) - 1
    counts = {"ways_read": n_ways, "ways_outside": 0, "ways_gapped": 0, "nodes_missing": 0, "segments": 0}
    if n_ways == 0:
        raise InputError(f"{path}: no routable roads in the file (expected ways tagged highway=*, e.g. "
                         "highway=tertiary)")

    way_of = np.repeat(np.arange(n_ways), np.diff(starts))
    where = np.searchsorted(ids, refs)
    present = where < len(ids)
    present[present] = ids[where[present]] == refs[present]
    where[~present] = 0
    node_lon, node_lat = lon[where], lat[where]

    has_node = np.zeros(n_ways, dtype=bool)
    has_node[way_of[present]] = True
    outside = np.zeros(n_ways, dtype=bool)
    if area is not None:
        near = np.zeros(n_ways, dtype=bool)
        near[way_of[present & _inside(area, node_lon, node_lat)]] = True
        outside = has_node & ~near
        counts["ways_outside"] = int(outside.sum())
        if counts["ways_outside"]:
            log.info("%s: %d of %d roads lie wholly outside the study area plus its buffer and were dropped",
                     path.name, counts["ways_outside"], n_ways)

    gapped = ~outside[way_of] & ~present
    if gapped.any():
        counts["ways_gapped"] = int(len(np.unique(way_of[gapped])))
        counts["nodes_missing"] = int(len(np.unique(refs[gapped])))
        log.warning("%s: %d roads reference %d nodes that are not in the file (a clipped extract); "
                    "they were split at the missing nodes", path.name, counts["ways_gapped"],
                    counts["nodes_missing"])
    keep_way = has_node & ~outside
    kept = keep_way[way_of]

    # Pieces: unbroken runs of present nodes; a missing node or a new way starts a new piece.
    use = kept & present
    new_piece = np.r_[True, way_of[1:] != way_of[:-1]] | np.r_[False, ~present[:-1]]
    piece = np.cumsum(new_piece) - 1
    piece, way_of, node_ids = piece[use], way_of[use], refs[use]
    node_lon, node_lat = node_lon[use], node_lat[use]
    # A piece of one node (between two gaps, or a way clipped to one node) is not a road.
    _, size = np.unique(piece, return_counts=True)
    long_enough = np.repeat(size >= 2, size)
    piece, way_of, node_ids = piece[long_enough], way_of[long_enough], node_ids[long_enough]
    node_lon, node_lat = node_lon[long_enough], node_lat[long_enough]
    if len(piece) == 0:
        raise InputError(f"{path}: no routable roads within the study area (all {n_ways} ways dropped)")
    piece_way = way_of[np.r_[True, piece[1:] != piece[:-1]]]
    piece = np.cumsum(np.r_[True, piece[1:] != piece[:-1]]) - 1
    piece_attrs = {key: [values[w] for w in piece_way] for key, values in attrs.items()}
    edges = segment_table(node_ids, node_lon, node_lat, piece, piece_attrs)
    counts["segments"] = len(edges)
    log.info("%s: %d road segments from %d ways", path.name, len(edges), int(keep_way.sum()))
    return RoadsRead(edges=edges, counts=counts)


def _filtered_opl(path: Path, entities: osmium.osm.osm_entity_bits, keep: object, folder: str) -> Path:
    """Objects of `path` passing the filter `keep`, written as OPL text by libosmium (no Python per object).

    Reading objects one by one through Python costs microseconds each; a province has tens of
    millions of nodes, so libosmium filters and serialises them and the text is parsed in bulk.
    """
    out = Path(folder) / ("ways.opl" if entities == osmium.osm.WAY else "nodes.opl")
    writer = osmium.SimpleWriter(osmium.io.File(str(out), "opl,add_metadata=false"), overwrite=True)
    try:
        processor = (osmium.FileProcessor(str(path), entities).with_filter(keep).with_filter(writer)
                     .with_filter(osmium.filter.EntityFilter(osmium.osm.NOTHING)))
        for _ in processor:  # everything is written by the writer filter; nothing reaches Python
            pass
    finally:
        writer.close()
    return out


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def _read_ways(path: Path, say: Progress, folder: str
               ) -> tuple[np.ndarray, np.ndarray, dict[str, list[object]]]:
    """Node ids of the routable ways (flat, one-way roads drawn in driving direction), way offsets, tags."""
    opl = _filtered_opl(path, osmium.osm.WAY, osmium.filter.KeyFilter("highway"), folder)
    node_lists: list[str] = []
    attrs: dict[str, list[object]] = {"highway": [], "name": [], "maxspeed_kmh": [], "oneway": [], "access": [],
                                      "foot": []}
    backward: list[bool] = []
    seen = 0
    with open(opl, encoding="utf-8") as lines:
        for line in lines:
            seen += 1
            # An OPL way line (no metadata): "w<id> T<k=v,k=v> N<n1,n2,...>"; escaped text has no spaces.
            _, tag_field, node_field = line.rstrip("\n").split(" ")
            tags = dict(kv.split("=", 1) for kv in tag_field[1:].split(",") if kv)
            highway = _unescape(tags.get("highway", ""))
            if base_class(highway) not in ROUTABLE_CLASSES or tags.get("area") == "yes":
                continue
            if node_field.count(",") < 1:
                continue
            oneway_tag = _unescape(tags.get("oneway", ""))
            back = oneway_tag in _BACKWARD
            node_lists.append(node_field[1:])
            backward.append(back)
            attrs["highway"].append(highway)
            attrs["name"].append(_unescape(tags.get("name", "")))
            attrs["maxspeed_kmh"].append(parse_maxspeed(_unescape(tags["maxspeed"])) if "maxspeed" in tags
                                         else float("nan"))
            attrs["oneway"].append(oneway_tag in _FORWARD or back or (
                _unescape(tags.get("junction", "")) in _ROUNDABOUTS and oneway_tag != "no"))
            attrs["access"].append(motor_access(tags))
            attrs["foot"].append(foot_access(tags))
    say(f"{path.name}: {len(node_lists):,} routable ways of {seen:,} highway ways")
    sizes = np.array([s.count(",") + 1 for s in node_lists], dtype=np.int64)
    starts = np.r_[0, np.cumsum(sizes)]
    if not node_lists:
        return np.zeros(0, np.int64), starts, attrs
    text = "\n".join(node_lists).replace(",", "\n").replace("n", "")
    refs = pd.read_csv(io.StringIO(text), header=None, dtype=np.int64, engine="c").iloc[:, 0].to_numpy().copy()
    # One-way roads tagged against their drawing direction (oneway=-1) are turned round.
    for w in np.flatnonzero(backward):
        refs[starts[w]:starts[w + 1]] = refs[starts[w]:starts[w + 1]][::-1].copy()
    return refs, starts, attrs


def _code(tags: dict[str, str], keys: tuple[str, ...]) -> str:
    """The access code the most specific of `keys` present gives (open when none is tagged)."""
    for key in keys:
        if key in tags:
            value = _unescape(tags[key]).strip().lower()
            # Other values (destination, agricultural, delivery, permissive, designated, ...) leave the
            # road open: the residents and ambulances measured here drive to the places it serves.
            return CLOSED if value == "no" else PRIVATE if value == "private" else OPEN
    return OPEN


def motor_access(tags: dict[str, str]) -> str:
    """Motor-vehicle access code (`yes`, `no`, `private`) of a way's tags (OPL-escaped values)."""
    service = _unescape(tags.get("service", ""))
    if service in _SERVICE_CLOSED:
        return CLOSED
    if service in _SERVICE_PRIVATE:
        return PRIVATE
    return _code(tags, _MOTOR_KEYS)


def foot_access(tags: dict[str, str]) -> str:
    """Walking access code (`yes`, `no`, `private`) of a way's tags (OPL-escaped values)."""
    return _code(tags, _FOOT_KEYS)


def _read_nodes(path: Path, wanted: np.ndarray, say: Progress, folder: str
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted ids and lon/lat (degrees) of the `wanted` nodes found in the file with a location."""
    if len(wanted) == 0:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    if wanted[0] < 0:  # sorted: JOSM gives objects not yet uploaded negative ids, libosmium's filter cannot
        raise InputError(f"{path}: {int((wanted < 0).sum()):,} road nodes have negative ids (objects a JOSM "
                         "editor has not uploaded); expected an OSM file with positive ids, e.g. renumbered "
                         "with `osmium renumber`")
    opl = _filtered_opl(path, osmium.osm.NODE, osmium.filter.IdFilter(wanted.tolist()), folder)
    ids, lon, lat = [], [], []
    with open(opl, "rb") as lines:
        while True:
            chunk = b"".join(lines.readlines(_CHUNK_BYTES))
            if not chunk:
                break
            # "n<id> T<tags> x<lon> y<lat>" -> "<id> <lon> <lat>" (an unknown location stays empty: NaN).
            chunk = _NODE_TAGS.sub(b"", chunk).translate(None, b"nxy")
            table = pd.read_csv(io.BytesIO(chunk), sep=" ", header=None, names=["id", "lon", "lat"],
                                dtype={"id": np.int64, "lon": float, "lat": float}, engine="c")
            ids.append(table["id"].to_numpy())
            lon.append(table["lon"].to_numpy())
            lat.append(table["lat"].to_numpy())
            say(f"{path.name}: {sum(map(len, ids)):,} of {len(wanted):,} road nodes located")
    out_ids, out_lon, out_lat = np.concatenate(ids), np.concatenate(lon), np.concatenate(lat)
    ok = np.isfinite(out_lon) & np.isfinite(out_lat)
    order = np.argsort(out_ids[ok], kind="stable")
    return out_ids[ok][order], out_lon[ok][order], out_lat[ok][order]


def _inside(area: shapely.Geometry, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Which points (degrees) lie in `area`; a bounding-box test first spares the polygon test."""
    x0, y0, x1, y1 = area.bounds
    box = (lon >= x0) & (lon <= x1) & (lat >= y0) & (lat <= y1)
    out = np.zeros(len(lon), dtype=bool)
    out[box] = shapely.contains_xy(area, lon[box], lat[box])
    return out
