"""What the sample generators share: an OSM-like road network in metres and its OSM XML, the layers as
GeoPackages with fixed timestamps (byte-identical on every run), text templates, the command line and a
few deterministic geometry helpers. Everything they write is synthetic and labelled so."""
from __future__ import annotations

import argparse
import logging
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from string import Template
from xml.sax.saxutils import quoteattr

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, MultiPoint, Point, Polygon

VILLAGE_SOURCE = "合成样例（synthetic）"
FACILITY_COLUMNS = ["fid", "name", "kind", "beds", "doctors", "nurses", "ambulances", "township", "services", "vid"]


@dataclass
class Network:
    """OSM-like road network in metres: nodes (1-based ids) and tagged ways."""

    xy: list[tuple[float, float]] = field(default_factory=list)
    ways: list[tuple[list[int], dict[str, str]]] = field(default_factory=list)

    def node(self, p: np.ndarray | Sequence[float]) -> int:
        """Add a node at metric point ``p`` and return its id."""
        self.xy.append((float(p[0]), float(p[1])))
        return len(self.xy)

    def way(self, start: int, interior: np.ndarray, end: int, tags: dict[str, str]) -> int:
        """Add a way start → interior points (metres) → end and return its index."""
        nodes = [start] + [self.node(p) for p in interior] + [end]
        return self.add(nodes, tags)

    def add(self, nodes: list[int], tags: dict[str, str]) -> int:
        """Add a way over node ids and return its index (way id = index + 1)."""
        self.ways.append((list(nodes), dict(tags)))
        return len(self.ways) - 1

    def coords(self, ids: list[int] | None = None) -> np.ndarray:
        """Node coordinates (metres) as an (n, 2) array, for all nodes or the given ids."""
        arr = np.asarray(self.xy)
        return arr if ids is None else arr[np.asarray(ids) - 1]

    def line(self, index: int) -> LineString:
        """Geometry (metres) of way ``index``."""
        return LineString(self.coords(self.ways[index][0]))

    def lines(self, classes: tuple[str, ...] | None = None) -> list[LineString]:
        """Way geometries (metres), optionally only of the given highway classes."""
        return [self.line(i) for i, (_, tags) in enumerate(self.ways)
                if classes is None or tags["highway"] in classes]

    def union(self) -> shapely.Geometry:
        """All ways as one geometry (metres)."""
        return shapely.union_all([self.line(i) for i in range(len(self.ways))])


def join_crossings(net: Network) -> int:
    """Give each pair of crossing road segments a shared junction node; returns how many were added."""
    segs = []
    for w, (nodes, _) in enumerate(net.ways):
        xy = net.coords(nodes)
        segs += [(w, k, LineString(xy[k:k + 2])) for k in range(len(nodes) - 1)]
    lines = [seg for _, _, seg in segs]
    left, right = shapely.STRtree(lines).query(lines, predicate="crosses")
    inserts: dict[tuple[int, int], list[tuple[float, int]]] = {}
    added = 0
    for i, j in sorted(zip(left.tolist(), right.tolist())):
        hit = lines[i].intersection(lines[j])
        if i >= j or hit.geom_type != "Point":
            continue
        node = net.node((hit.x, hit.y))
        added += 1
        for w, k, seg in (segs[i], segs[j]):
            inserts.setdefault((w, k), []).append((seg.project(hit), node))
    for w, (nodes, tags) in enumerate(net.ways):
        out = []
        for k, n in enumerate(nodes):
            out.append(n)
            out += [m for _, m in sorted(inserts.get((w, k), []))]
        net.ways[w] = (out, tags)
    return added


def cells(outline: Polygon, seats: np.ndarray, *, extend_m: float, what: str) -> list[Polygon]:
    """Voronoi cells of the seats (townships, 街道 offices) clipped to ``outline``, in seat order."""
    found = shapely.voronoi_polygons(MultiPoint(seats), extend_to=outline.buffer(extend_m)).geoms
    out = []
    for seat in seats:
        cell = next(c for c in found if c.contains(Point(seat)))
        clipped = cell.intersection(outline)
        if clipped.geom_type != "Polygon":
            raise RuntimeError(f"{what} cell at {seat} is a {clipped.geom_type}")
        out.append(clipped)
    return out


def settle(p: np.ndarray, roads: shapely.Geometry, rng: np.random.Generator, *, lo: float, hi: float,
           within: Polygon | None = None, tries: int = 400, reach_m: float = 40.0, grow_m: float = 2.0
           ) -> np.ndarray:
    """Nudge point ``p`` until its distance to ``roads`` is in [lo, hi] metres (inside ``within``): try
    points ever farther away, ``reach_m`` + ``grow_m`` per try, up to ``tries`` times."""
    cand = np.asarray(p, float)
    for attempt in range(tries):
        pt = Point(cand)
        if lo <= roads.distance(pt) <= hi and (within is None or within.contains(pt)):
            return cand
        reach = reach_m + grow_m * attempt
        cand = np.asarray(p, float) + rng.uniform(-reach, reach, size=2)
    raise RuntimeError(f"no point {lo}-{hi} m from a road near {p}")


class Layers:
    """Boundaries, villages and facilities as WGS84 GeoDataFrames from rows in metres (``crs``)."""

    def __init__(self, crs: str, source: str) -> None:
        self.to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
        self.source = source

    def points(self, rows: list[dict[str, object]]) -> list[Point]:
        return [Point(np.round(self.to_wgs.transform(*r["xy"]), 7)) for r in rows]

    def polygon(self, poly: Polygon) -> Polygon:
        return shapely.set_precision(shapely.transform(poly, lambda a: np.column_stack(
            self.to_wgs.transform(a[:, 0], a[:, 1]))), 1e-7)

    def boundaries(self, name: str, outline: Polygon, names: list[str], polygons: list[Polygon]) -> gpd.GeoDataFrame:
        """The county-level outline (`level` county) and its townships (`level` township)."""
        every = [name] + names
        return gpd.GeoDataFrame(
            {"name": every, "level": ["county"] + ["township"] * len(names), "source": [self.source] * len(every)},
            geometry=[self.polygon(outline)] + [self.polygon(p) for p in polygons], crs="EPSG:4326")

    def villages(self, columns: dict[str, object], rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
        """The demand points with the sample's own (Chinese) columns, labelled synthetic in `来源`."""
        return gpd.GeoDataFrame({**columns, "来源": [VILLAGE_SOURCE] * len(rows)}, geometry=self.points(rows),
                                crs="EPSG:4326")

    def facilities(self, rows: list[dict[str, object]]) -> gpd.GeoDataFrame:
        frame = gpd.GeoDataFrame({c: [f[c] for f in rows] for c in FACILITY_COLUMNS}, geometry=self.points(rows),
                                 crs="EPSG:4326")
        frame["source"] = self.source
        return frame


def write_gpkgs(out: Path, layers: dict[str, gpd.GeoDataFrame], date: str) -> None:
    """Each layer as ``out/<stem>.gpkg`` (layer ``stem``), its timestamps fixed to ``date`` (ISO 8601)
    so that every run writes the same bytes; the GDAL option is restored afterwards."""
    previous = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": date})
    try:
        for stem, gdf in layers.items():
            path = out / f"{stem}.gpkg"
            path.unlink(missing_ok=True)
            # GeoPackage calls its integer primary key `fid` by default, clashing with our text `fid`.
            gdf.to_file(path, layer=stem, driver="GPKG", engine="pyogrio", layer_options={"FID": "row_id"})
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": previous})


def osm_xml(net: Network, crs: str, name: str, module: str) -> str:
    """The network as OSM XML 0.6 text (WGS84, 7 decimals), labelled synthetic; empty tags are left out."""
    to_wgs = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    xy = net.coords()
    lon, lat = to_wgs.transform(xy[:, 0], xy[:, 1])
    lines = ['<?xml version="1.0" encoding="UTF-8"?>',
             f"<!-- {name}: SYNTHETIC road network (合成样例), invented by {module}; not real roads, "
             "not OpenStreetMap data. -->",
             '<osm version="0.6" generator="healthreach sample generator (synthetic)">',
             f'  <bounds minlat="{lat.min():.7f}" minlon="{lon.min():.7f}" maxlat="{lat.max():.7f}" '
             f'maxlon="{lon.max():.7f}"/>']
    lines += [f'  <node id="{i + 1}" version="1" lat="{la:.7f}" lon="{lo:.7f}"/>'
              for i, (lo, la) in enumerate(zip(lon, lat))]
    for w, (nodes, tags) in enumerate(net.ways):
        lines.append(f'  <way id="{w + 1}" version="1">')
        lines += [f'    <nd ref="{n}"/>' for n in nodes]
        tags = {**tags, "source": "synthetic"}
        lines += [f"    <tag k={quoteattr(k)} v={quoteattr(v)}/>" for k, v in sorted(tags.items()) if v]
        lines.append("  </way>")
    lines.append("</osm>")
    return "\n".join(lines) + "\n"


def comment(text: str) -> str:
    """``text`` as a YAML comment block wrapped at 100 columns."""
    return textwrap.fill(text, width=98, initial_indent="# ", subsequent_indent="# ") + "\n"


def render(template: Path, **values: object) -> str:
    """A text template (``$name`` placeholders, ``$$`` for a dollar) filled with ``values``; every
    placeholder must be given."""
    return Template(template.read_text(encoding="utf-8")).substitute({k: str(v) for k, v in values.items()})


def command_line(generate: Callable[[Path], object], what: str, folder: Path,
                 argv: list[str] | None = None) -> None:
    """``python -m healthreach.data.samples.<sample>.generate [--out DIR]`` (default: the sample's folder)."""
    parser = argparse.ArgumentParser(description=f"Regenerate the synthetic sample {what}.")
    parser.add_argument("--out", type=Path, default=folder, help="output folder (default: this sample's folder)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("pyogrio").setLevel(logging.WARNING)
    generate(args.out)
