"""The road network packed for the coverage map's in-page what-if tool: typed arrays in base64.

The page recomputes travel times in the browser by the engine's rules (healthreach.coverage.network):
a new site joins the nearest usable road segment of each mode, split there, with the access leg at
`Settings.access_kmh` (unless that segment lies on a small piece of the mode's network: then the
nearest other usable segment within `max_snap_m`, when there is one); one-way segments run u -> v only (every segment is two-way on foot); segment
seconds are `length_m / km/h * 3.6` with the km/h of `segment_speeds_kmh`. What it needs:

- junctions: x, y in the project's metric CRS, quantised to `QUANTUM_M`, relative to an origin;
- segments (edge-table order): junction u and v, `length_m` (float32), a palette entry (km/h per
  mode, one-way, basemap style) and the segment's line (interior vertices; ends are the junctions);
- per mode, the segments on a small piece of that mode's network (`small_piece_segments`, the very
  function the engine joins points by), so that a new site skips road islands as villages do;
- villages: per mode the join the engine made (segment and fraction, or a junction when it joined at
  a segment's end, and the access leg in seconds), taken from `build_networks` itself;
- a polynomial for longitude/latitude -> metric x, y (and back, for drawing), fitted to pyproj over
  the roads' extent and checked to `PROJECTION_TOLERANCE_M`.

Integer arrays are delta- and zigzag-coded LEB128 varints, floats raw little-endian; all base64.
"""
from __future__ import annotations

import base64
import re
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from healthreach.config import Settings
from healthreach.coverage.network import Network, build_networks, small_piece_segments
from healthreach.layers.crs import metric_xy
from healthreach.layers.roads.speeds import MODES, segment_speeds_kmh
from healthreach.maps.basemaps import ROAD_STYLES

QUANTUM_M = 0.001
"""Coordinates are stored in millimetres (a site's join moves by under 1 mm), or centimetres when the
roads span more than 2,000 km (int32 range)."""
PROJECTION_TOLERANCE_M = 0.001
"""Largest error (metres) allowed of the fitted longitude/latitude -> metric polynomial."""
INVERSE_TOLERANCE_DEG = 1e-7
"""Largest error (degrees, about 1 cm) of the metric -> longitude/latitude polynomial (drawing only)."""
END_M = 0.01
"""As healthreach.coverage.network: a join this close (metres) to a segment's end is at that end."""
_MINOR_STYLE = 4  # ROAD_STYLES index of unknown classes (drawn as minor roads, as the basemap does)


@dataclass(frozen=True)
class Junctions:
    """Junction numbering of an edge table, as `build_networks` numbers its road nodes."""

    ids: np.ndarray
    seg_u: np.ndarray
    seg_v: np.ndarray


def junctions(edges: pd.DataFrame) -> Junctions:
    """Sorted unique road node ids and each segment's end junctions (positions among them)."""
    ids, inverse = np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]), return_inverse=True)
    n = len(edges)
    return Junctions(ids=ids, seg_u=inverse[:n], seg_v=inverse[n:])


def b64_raw(values: np.ndarray, dtype: str) -> dict[str, object]:
    """A typed array as {'dtype', 'n', 'b64'} (little-endian `dtype`: 'f4', 'f8', 'u1', 'u2', 'i4')."""
    data = np.ascontiguousarray(values, dtype=np.dtype(dtype).newbyteorder("<"))
    return {"dtype": dtype, "n": int(len(data)), "b64": base64.b64encode(data.tobytes()).decode("ascii")}


def b64_varint(values: np.ndarray, *, delta: bool) -> dict[str, object]:
    """Integers (|value| < 2**31) as zigzag LEB128 varints, of successive differences when `delta`."""
    v = np.asarray(values, dtype=np.int64)
    if delta and len(v):
        v = np.diff(v, prepend=0)
    z = np.where(v >= 0, 2 * v, -2 * v - 1).astype(np.uint64)
    nbytes = np.ones(len(z), dtype=np.int64)
    for k in range(1, 5):
        nbytes += z >= (1 << (7 * k))
    end = np.cumsum(nbytes)
    out = np.zeros(int(end[-1]) if len(z) else 0, dtype=np.uint8)
    start = end - nbytes
    for k in range(5):
        has = nbytes > k
        byte = (z[has] >> np.uint64(7 * k)) & np.uint64(0x7F)
        more = (nbytes[has] > k + 1).astype(np.uint64) << np.uint64(7)
        out[start[has] + k] = (byte | more).astype(np.uint8)
    return {"codec": "varint", "delta": delta, "n": int(len(z)), "b64": base64.b64encode(out.tobytes()).decode("ascii")}


def _monomials(u: np.ndarray, v: np.ndarray, degree: int) -> np.ndarray:
    """Design matrix of u**i * v**j for i + j <= degree, in the order the page evaluates them."""
    return np.column_stack([u**i * v**j for i in range(degree + 1) for j in range(degree + 1 - i)])


def _fit(u: np.ndarray, v: np.ndarray, out: np.ndarray, check: tuple[np.ndarray, np.ndarray, np.ndarray],
         tolerance: float) -> tuple[int, list[list[float]]] | None:
    """Lowest polynomial degree (3..11) fitting `out` (n, 2) within `tolerance` on `check`."""
    for degree in range(3, 12):
        coef, *_ = np.linalg.lstsq(_monomials(u, v, degree), out, rcond=None)
        cu, cv, cout = check
        if np.abs(_monomials(cu, cv, degree) @ coef - cout).max() <= tolerance:
            return degree, coef.T.tolist()
    return None


def fit_projection(crs: str, bounds: tuple[float, float, float, float]) -> dict[str, object] | None:
    """Polynomials lon/lat (degrees) <-> x/y in `crs` (metres) over `bounds` (west, south, east, north).

    Forward: x, y = origin-free metres from normalised lon, lat; inverse: lon, lat from normalised x, y.
    None when no polynomial of degree <= 11 reaches the tolerances (then the page has no what-if tool).
    """
    west, south, east, north = bounds
    lon0, lat0 = (west + east) / 2, (south + north) / 2
    su, sv = max((east - west) / 2, 1e-6), max((north - south) / 2, 1e-6)
    to_metric = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    cheb = np.cos(np.pi * (np.arange(40) + 0.5) / 40)
    gu, gv = (a.ravel() for a in np.meshgrid(cheb, cheb))
    dense = np.linspace(-1, 1, 61)
    du, dv = (a.ravel() for a in np.meshgrid(dense, dense))
    fx, fy = to_metric.transform(lon0 + gu * su, lat0 + gv * sv)
    cx, cy = to_metric.transform(lon0 + du * su, lat0 + dv * sv)
    x0, y0 = float(np.mean(fx)), float(np.mean(fy))
    sx = max(float(np.ptp(np.r_[fx, cx])) / 2, 1.0)
    sy = max(float(np.ptp(np.r_[fy, cy])) / 2, 1.0)
    forward = _fit(gu, gv, np.column_stack([np.subtract(fx, x0), np.subtract(fy, y0)]),
                   (du, dv, np.column_stack([np.subtract(cx, x0), np.subtract(cy, y0)])), PROJECTION_TOLERANCE_M)
    inverse = _fit((np.asarray(fx) - x0) / sx, (np.asarray(fy) - y0) / sy, np.column_stack([gu * su, gv * sv]),
                   ((np.asarray(cx) - x0) / sx, (np.asarray(cy) - y0) / sy, np.column_stack([du * su, dv * sv])),
                   INVERSE_TOLERANCE_DEG)
    if forward is None or inverse is None:
        return None
    return {"lon0": lon0, "lat0": lat0, "su": su, "sv": sv, "x0": x0, "y0": y0, "sx": sx, "sy": sy,
            "fwd_degree": forward[0], "fwd": forward[1], "inv_degree": inverse[0], "inv": inverse[1]}


def _style_index(highway: pd.Series) -> np.ndarray:
    """ROAD_STYLES index of each segment's class (the basemap's drawing style; a list of classes, as
    osmnx gives for merged ways, draws as its first)."""
    # A dozen classes among a province's segments: decide per distinct class, then index.
    codes, classes = pd.factorize(highway.astype(str))
    style = []
    for name in classes:
        listed = re.findall(r"[A-Za-z_]+", name) if name.startswith("[") else []
        first = listed[0] if listed else name
        style.append(next((i for i, (members, _s) in enumerate(ROAD_STYLES) if first in members), _MINOR_STYLE))
    return np.asarray(style, dtype=np.int64)[codes]


def palette(edges: pd.DataFrame, settings: Settings) -> tuple[np.ndarray, list[dict[str, object]]]:
    """Each segment's palette entry and the palette: km/h per mode (None: not usable), one-way, style."""
    speeds = np.column_stack([segment_speeds_kmh(edges, mode, settings) for mode in MODES])
    usable = np.isfinite(speeds) & (speeds > 0)
    columns = [np.where(usable[:, m], speeds[:, m], -1.0) for m in range(len(MODES))]
    columns += [edges["oneway"].to_numpy(dtype=bool), _style_index(edges["highway"])]
    # Few distinct values per column: number each column's values, then the combinations.
    key = np.zeros(len(edges), dtype=np.int64)
    for column in columns:
        codes, uniques = pd.factorize(column)
        key = key * len(uniques) + codes
    entry = pd.factorize(key)[0]
    first = np.unique(entry, return_index=True)[1]  # a segment of each entry, in entry order
    table = [{"kmh": [float(columns[m][i]) if columns[m][i] > 0 else None for m in range(len(MODES))],
              "oneway": bool(columns[len(MODES)][i]), "style": int(columns[len(MODES) + 1][i])} for i in first]
    return entry, table


def village_joins(net: Network, n_junctions: int, k: int, settings: Settings) -> dict[str, list[object]]:
    """How the engine joined each of the `k` points of `net` (villages): segment and fraction (-1 when it
    joined a junction), junction (-1 unless at a segment's end), access leg seconds (None: not joined)."""
    seg = np.full(k, -1, dtype=np.int64)
    frac = np.zeros(k)
    node = np.full(k, -1, dtype=np.int64)
    first_point = n_junctions + k
    leg = net.edge_from >= first_point
    point, join = net.edge_from[leg] - first_point, net.edge_to[leg]
    at_end = join < n_junctions
    node[point[at_end]] = join[at_end]
    # A join inside a segment is a node of its own; every road piece ending there has that fraction.
    piece = (net.edge_geom < net.n_segments) & (net.edge_to >= n_junctions)
    owner = net.edge_to[piece] - n_junctions
    seg[owner] = net.edge_geom[piece]
    frac[owner] = net.edge_f1[piece]
    joined = net.point_joined[:k]
    leg_s = net.point_access_m[:k] / settings.access_kmh * 3.6
    return {"seg": seg.tolist(), "frac": frac.tolist(), "node": node.tolist(),
            "leg_s": [float(s) if j else None for s, j in zip(leg_s, joined)]}


def pack_network(edges: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, settings: Settings, crs: str
                 ) -> dict[str, object] | None:
    """The payload describing the road network and the villages' joins (see the module docstring).

    None when the projection cannot be fitted to tolerance over the roads' extent.
    """
    west, south, east, north = (float(b) for b in edges.to_crs(4326).total_bounds)
    margin_deg = (settings.max_snap_m + 1000.0) / 111_320.0
    lat_scale = max(np.cos(np.radians((south + north) / 2)), 0.1)
    projection = fit_projection(crs, (west - margin_deg / lat_scale, south - margin_deg,
                                      east + margin_deg / lat_scale, north + margin_deg))
    if projection is None:
        return None
    village_xy = metric_xy(villages, crs)
    nets = build_networks(edges, MODES, settings, crs, village_xy)
    net = nets[MODES[0]]
    table = junctions(edges)
    n0, k = len(table.ids), len(village_xy)
    if net.n_nodes != n0 + 2 * k:
        raise AssertionError(f"network has {net.n_nodes} nodes, expected {n0} junctions + 2 x {k} points")
    lines = net.geoms[: net.n_segments]
    coords = shapely.get_coordinates(lines)
    counts = shapely.get_num_coordinates(lines)
    origin = np.floor(np.minimum(coords.min(axis=0), net.node_xy[:n0].min(axis=0)))
    span = float(np.max(np.maximum(coords.max(axis=0), net.node_xy[:n0].max(axis=0)) - origin))
    quantum = QUANTUM_M if span / QUANTUM_M < 2**31 - 1 else 10 * QUANTUM_M
    node_q = np.round((net.node_xy[:n0] - origin) / quantum).astype(np.int64)
    coords_q = np.round((coords - origin) / quantum).astype(np.int64)
    first = np.cumsum(counts) - counts
    last = first + counts - 1
    # Lines whose ends are not their junctions' positions keep their ends among their vertices.
    explicit = (np.abs(coords_q[first] - node_q[table.seg_u]).max(axis=1) > 0) | \
               (np.abs(coords_q[last] - node_q[table.seg_v]).max(axis=1) > 0)
    keep = np.ones(len(coords), dtype=bool)
    keep[first[~explicit]] = False
    keep[last[~explicit]] = False
    stored = np.where(explicit, counts, counts - 2)
    entry, table_rows = palette(edges, settings)
    return {
        "crs": crs, "quantum_m": quantum, "origin": origin.tolist(), "projection": projection,
        "modes": list(MODES), "access_kmh": settings.access_kmh, "max_snap_m": settings.max_snap_m,
        "end_m": END_M, "palette": table_rows,
        "road_styles": [dict(style) for _members, style in ROAD_STYLES],
        "nodes": {"x": b64_varint(node_q[:, 0], delta=True), "y": b64_varint(node_q[:, 1], delta=True)},
        "segments": {
            "u": b64_varint(table.seg_u, delta=True), "v": b64_varint(table.seg_v, delta=True),
            "length_m": b64_raw(edges["length_m"].to_numpy(dtype=float), "f4"),
            "palette": b64_raw(entry, "u1" if len(table_rows) <= 2**8 else "u2" if len(table_rows) <= 2**16 else "i4"),
            "vcount": b64_varint(stored, delta=False),
            "explicit": np.flatnonzero(explicit).tolist(),
            "vx": b64_varint(coords_q[keep, 0], delta=True), "vy": b64_varint(coords_q[keep, 1], delta=True),
        },
        "small": {mode: b64_varint(np.flatnonzero(small_piece_segments(edges, mode, settings)), delta=True)
                  for mode in MODES},
        "joins": {mode: village_joins(nets[mode], n0, k, settings) for mode in MODES},
    }
