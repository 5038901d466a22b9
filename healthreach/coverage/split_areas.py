"""Split catchments of many facilities at once, as ArcGIS Network Analyst's "split" service areas and
AccessMod's catchments are: each facility's own area, band by band, from one multi-source search.

Overlapping per-facility polygons need one bounded search and one polygon per facility; at province
scale (1,500 township centres whose 60-minute areas cover some 10,000 km² each) that is minutes of
work. Split areas need the one nearest-facility search the access table already makes, and one raster.

Every road point goes to the facility it reaches first (an edge between two facilities' areas is cut
where both are equally near; a one-way edge follows its direction) and to the smallest band that
reaches it; partly reached edges are cut at the reached point. These pieces are drawn into square
cells of side c = buffer / sqrt(2) anchored at (0, 0) of the metric CRS: a cell is marked when a piece
passes through it, and also when a 4-neighbour is (which closes the one-cell gaps of a town grid, as
a buffer would). Each cell takes the band and facility of the fastest piece through it or beside it
(of equally fast pieces, the facility listed first). One compiled pass over the edges draws the raster.

What this guarantees:
- the union of all facilities' band-k polygons (`dissolved_of`) contains every road point
  reached within band k, and none of its points lies farther than c + c*sqrt(2) (1.71 x buffer) from one;
- polygons of different facilities do not overlap, and a facility's bands nest;
- a cell crossed by the roads of two facilities goes to the one reached faster, so next to the border
  between two areas a facility's road may lie up to one cell inside its neighbour's polygon.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numba
import numpy as np
import shapely

from healthreach.coverage.network import Network
from healthreach.coverage.traveltime import Nearest

_EPS = 1e-6  # inclusive band boundary: tolerate rounding noise (1 microsecond or 1 mm)


@dataclass(frozen=True)
class SplitAreas:
    """Split catchment polygons (metric CRS) of one search, per band (ascending)."""

    own: list[dict[int, shapely.Geometry]]
    """Per band: position of the source (in the `sources` given to `nearest`) -> its area within the band
    (a disk: it includes the smaller bands). Sources reaching nothing are absent."""
    cell_m: float
    """Side of a raster cell (metres)."""
    band_of: np.ndarray = field(repr=False)
    """Band index of each raster cell; inf where nothing is reached."""
    transform: Any = field(repr=False)
    owner: np.ndarray = field(repr=False)
    """Source position owning each raster cell; -1 where nothing is reached."""

    def dissolved_of(self, k: int, keep: np.ndarray | None = None) -> shapely.Geometry | None:
        """Band k's areas of the sources `keep` marks (boolean per source; default all) as one geometry,
        traced from the raster at once (no polygon union); None where they reach nothing."""
        inside = self.band_of <= k
        if keep is not None:
            inside &= np.where(self.owner >= 0, np.asarray(keep, dtype=bool)[np.maximum(self.owner, 0)], False)
        return _merged([_polygon(g) for g, _ in _shapes(inside.astype(np.uint8), inside, self.transform)])

    def rings_of(self, lower: int, upper: int) -> dict[int, shapely.Geometry]:
        """Per source: its area reached in bands lower+1..upper (indices; lower -1 for the first band),
        traced from the raster: the disk of band `upper` less that of band `lower`."""
        inside = (self.band_of > lower) & (self.band_of <= upper)
        parts: dict[int, list[shapely.Polygon]] = {}
        for geojson, value in _shapes(np.where(inside, self.owner, -1).astype(np.int32), inside, self.transform):
            parts.setdefault(int(value), []).append(_polygon(geojson))
        return {source: _merged(polygons) for source, polygons in sorted(parts.items())}


def _merged(polygons: list[shapely.Polygon]) -> shapely.Geometry | None:
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)


def _shapes(raster: np.ndarray, mask: np.ndarray, transform: Any) -> Iterator[tuple[dict, float]]:
    import rasterio.features

    return rasterio.features.shapes(raster, mask=mask, connectivity=4, transform=transform)


def split_areas(net: Network, near: Nearest, bands: list[float] | np.ndarray, buffer_m: float, *,
                toward: bool = True, weight: str = "time") -> SplitAreas:
    """Split catchments of every source of `near` for `bands` (seconds or metres, ascending, inclusive).

    `near` is the multi-source search of :func:`healthreach.coverage.traveltime.nearest` made with the
    same `toward` and `weight`; `buffer_m` (metres) sets the cell side as described above.
    """
    from rasterio.transform import Affine

    if not buffer_m > 0:
        raise ValueError(f"catchment buffer must be > 0 metres, got {buffer_m!r}")
    bands = np.asarray(bands, dtype=float)
    if np.any(np.diff(bands) < 0):
        raise ValueError(f"bands must be ascending, got {list(bands)}")
    cell = buffer_m / np.sqrt(2.0)
    empty = SplitAreas([{} for _ in bands], cell, np.full((1, 1), np.inf), Affine.identity(),
                       np.full((1, 1), -1, dtype=np.int32))
    if len(bands) == 0:
        return empty
    w = net.edge_s if weight == "time" else net.edge_m
    end, far = (net.edge_to, net.edge_from) if toward else (net.edge_from, net.edge_to)
    limits = bands + _EPS
    d_end = near.cost[end]
    edges = np.flatnonzero(np.isfinite(d_end) & (d_end <= limits[-1]))
    if not len(edges):
        return empty
    xy, start = net.line_vertices
    x_lo, y_lo, x_hi, y_hi = _bounds(edges, net.edge_geom, xy, start, cell)
    # Two cells of margin: a point interpolated on a segment may round past its vertices' cells.
    x0, y0 = x_lo - 2, y_lo - 2
    best = np.full((y_hi - y0 + 3, x_hi - x0 + 3), np.inf)
    owner = np.full(best.shape, -1, dtype=np.int32)
    # One number orders cells by band, then by time within it: the fastest piece through a cell wins.
    span = float(bands[-1]) * 2.0 + 1.0
    _draw(edges, end, far, near.cost, near.source, w, net.edge_rev, net.edge_f0, net.edge_f1, net.edge_geom, xy,
          start, limits, span, cell, toward, x0, y0, best, owner)
    rows, cols = np.flatnonzero(np.isfinite(best).any(axis=1)), np.flatnonzero(np.isfinite(best).any(axis=0))
    if not len(rows):
        return empty
    # Keep one empty cell around the marked ones: growing by a cell reaches it.
    r0, c0 = rows[0] - 1, cols[0] - 1
    best, owner = best[r0:rows[-1] + 2, c0:cols[-1] + 2], owner[r0:rows[-1] + 2, c0:cols[-1] + 2]
    x0, y0 = int(x0 + c0), int(y0 + r0)
    band_of, grown_owner = _grown(best, owner, span)
    transform = Affine(cell, 0.0, x0 * cell, 0.0, cell, y0 * cell)
    own: list[dict[int, shapely.Geometry]] = []
    for k in range(len(bands)):
        inside = band_of <= k
        parts: dict[int, list[shapely.Polygon]] = {}
        for geojson, value in _shapes(np.where(inside, grown_owner, -1).astype(np.int32), inside, transform):
            parts.setdefault(int(value), []).append(_polygon(geojson))
        own.append({s: _merged(p) for s, p in sorted(parts.items())})
    return SplitAreas(own, cell, band_of, transform, grown_owner)


def _polygon(geojson: dict) -> shapely.Polygon:
    """Polygon from a GeoJSON-like mapping, its rings built as arrays (faster than shapely's shape())."""
    rings = [np.asarray(ring, dtype=float) for ring in geojson["coordinates"]]
    return shapely.Polygon(rings[0], rings[1:])


@numba.njit(cache=True, nogil=True)
def _bounds(edges: np.ndarray, edge_geom: np.ndarray, xy: np.ndarray, start: np.ndarray, cell: float
            ) -> tuple[int, int, int, int]:
    """Smallest and largest column and row of a cell holding a vertex of the lines of `edges`."""
    x_lo = y_lo = 1 << 62
    x_hi = y_hi = -(1 << 62)
    for e in edges:
        g = edge_geom[e]
        for v in range(start[g], start[g + 1]):
            ix, iy = int(np.floor(xy[v, 0] / cell)), int(np.floor(xy[v, 1] / cell))
            x_lo, x_hi, y_lo, y_hi = min(x_lo, ix), max(x_hi, ix), min(y_lo, iy), max(y_hi, iy)
    return x_lo, y_lo, x_hi, y_hi


@numba.njit(cache=True, nogil=True)
def _draw(edges: np.ndarray, end: np.ndarray, far: np.ndarray, cost: np.ndarray, source: np.ndarray,
          w: np.ndarray, rev: np.ndarray, edge_f0: np.ndarray, edge_f1: np.ndarray, edge_geom: np.ndarray,
          xy: np.ndarray, start: np.ndarray, limits: np.ndarray, span: float, cell: float, toward: bool,
          x0: int, y0: int, best: np.ndarray, owner: np.ndarray) -> None:
    """Mark in `best` (key band * span + cost, per cell; row y - y0, column x - x0) and `owner` the pieces
    of road that `edges` (directed, their source-side end `end` reached at `cost`) give each band.

    Position r along an edge is 0 at its source-side end: reached at cost[end] + r w this way, or through
    the other end at cost[far] + (1 - r) w_back; the edge is owned up to where the two are equal. A piece
    within band k runs from where band k-1 stops to where band k (or ownership) does.
    """
    longest = 0
    for g in range(len(start) - 1):
        longest = max(longest, start[g + 1] - start[g])
    t = np.empty(longest)  # the fraction along its line of each vertex of the edge's line
    n_band = len(limits)
    for e in edges:
        d_end, d_far, w_e = cost[end[e]], cost[far[e]], w[e]
        w_back = w[rev[e]] if rev[e] >= 0 else np.inf
        r_equal = 1.0
        if np.isfinite(w_back) and np.isfinite(d_far) and w_e + w_back > 0:
            r_equal = min(max((d_far + w_back - d_end) / (w_e + w_back), 0.0), 1.0)
        first = 0  # the band that reaches the source-side end
        while first < n_band and limits[first] < d_end:
            first += 1
        f0, f1, g = edge_f0[e], edge_f1[e], edge_geom[e]
        s0, n_v = start[g], start[g + 1] - start[g]
        whole_line = min(f0, f1) <= 0.0 and max(f0, f1) >= 1.0
        o = source[end[e]]
        have_t = False
        lo = 0.0
        for k in range(n_band):
            r_band = (limits[k] - d_end) / w_e if w_e > 0 else np.inf
            hi = min(min(max(r_band, 0.0), 1.0), r_equal)
            # A reached node lies on the piece of the edge its fastest route takes (that edge is owned to
            # its far end); only the sources themselves need a point of their own.
            if hi > lo + 1e-12 or (k == first and d_end == 0.0):
                key = k * span + (d_end + lo * w_e)
                if whole_line and lo <= 0.0 and hi >= 1.0:
                    for v in range(s0, s0 + n_v - 1):
                        _cover(xy[v, 0], xy[v, 1], xy[v + 1, 0], xy[v + 1, 1], key, o, cell, x0, y0, best, owner)
                else:
                    if not have_t:
                        _fractions(xy, s0, n_v, t)
                        have_t = True
                    if toward:
                        a, b = f1 - lo * (f1 - f0), f1 - hi * (f1 - f0)
                    else:
                        a, b = f0 + lo * (f1 - f0), f0 + hi * (f1 - f0)
                    t_lo, t_hi = min(a, b), max(a, b)
                    # The piece: its start point, the line's vertices strictly inside, its end point.
                    px, py = _point_at(xy, s0, n_v, t, t_lo)
                    for v in range(n_v):
                        if t_lo < t[v] < t_hi:
                            qx, qy = xy[s0 + v, 0], xy[s0 + v, 1]
                            _cover(px, py, qx, qy, key, o, cell, x0, y0, best, owner)
                            px, py = qx, qy
                    qx, qy = _point_at(xy, s0, n_v, t, t_hi)
                    _cover(px, py, qx, qy, key, o, cell, x0, y0, best, owner)
            lo = hi


@numba.njit(cache=True, nogil=True, inline="always")
def _fractions(xy: np.ndarray, s0: int, n_v: int, t: np.ndarray) -> None:
    """Into t[:n_v]: the position of each vertex of line xy[s0:s0 + n_v] as a fraction of its length."""
    along = 0.0
    t[0] = 0.0
    for v in range(1, n_v):
        along += np.hypot(xy[s0 + v, 0] - xy[s0 + v - 1, 0], xy[s0 + v, 1] - xy[s0 + v - 1, 1])
        t[v] = along
    if along > 0:
        for v in range(n_v):
            t[v] /= along


@numba.njit(cache=True, nogil=True, inline="always")
def _point_at(xy: np.ndarray, s0: int, n_v: int, t: np.ndarray, at: float) -> tuple[float, float]:
    """Point at fraction `at` along line xy[s0:s0 + n_v], its vertices at fractions t[:n_v]."""
    # The segment holding the point: from the last vertex at or before it, never past the last segment.
    before = 0
    for v in range(n_v):
        if t[v] <= at:
            before += 1
    i = min(max(before - 1, 0), n_v - 2)
    gap = t[i + 1] - t[i]
    share = min(max((at - t[i]) / gap if gap > 0 else 0.0, 0.0), 1.0)
    a, b = s0 + i, s0 + i + 1
    return xy[a, 0] + (xy[b, 0] - xy[a, 0]) * share, xy[a, 1] + (xy[b, 1] - xy[a, 1]) * share


@numba.njit(cache=True, nogil=True, inline="always")
def _cover(px: float, py: float, qx: float, qy: float, key: float, o: int, cell: float, x0: int, y0: int,
           best: np.ndarray, owner: np.ndarray) -> None:
    """Mark the cells segment p-q crosses: samples at most one cell apart lie in the same or neighbouring
    cells; where they are diagonal neighbours, both cells beside the step, since the line may cross either."""
    dx, dy = qx - px, qy - py
    n = max(1, int(np.ceil(np.hypot(dx, dy) / cell)))
    last_x = last_y = 0
    for j in range(n + 1):
        share = j / n
        ix = int(np.floor((px + dx * share) / cell)) - x0
        iy = int(np.floor((py + dy * share) / cell)) - y0
        _mark(best, owner, iy, ix, key, o)
        if j and ix != last_x and iy != last_y:
            _mark(best, owner, iy, last_x, key, o)
            _mark(best, owner, last_y, ix, key, o)
        last_x, last_y = ix, iy


@numba.njit(cache=True, nogil=True, inline="always")
def _mark(best: np.ndarray, owner: np.ndarray, row: int, col: int, key: float, o: int) -> None:
    """Keep the smaller key in a cell; of equal keys, the lower source position (any order of edges
    then gives the same grid)."""
    if key < best[row, col] or (key == best[row, col] and o < owner[row, col]):
        best[row, col] = key
        owner[row, col] = o


@numba.njit(cache=True, nogil=True)
def _grown(best: np.ndarray, owner: np.ndarray, span: float) -> tuple[np.ndarray, np.ndarray]:
    """Band index (inf: nothing reached) and owner (-1) of each cell once every cell takes the smallest
    key of itself and its 4-neighbours (of equal ones: itself, then above, below, left, right)."""
    h, w = best.shape
    band_of = np.full((h, w), np.inf)
    grown_owner = np.full((h, w), -1, dtype=np.int32)
    for i in range(h):
        for j in range(w):
            b, o = best[i, j], owner[i, j]
            if i > 0 and best[i - 1, j] < b:
                b, o = best[i - 1, j], owner[i - 1, j]
            if i + 1 < h and best[i + 1, j] < b:
                b, o = best[i + 1, j], owner[i + 1, j]
            if j > 0 and best[i, j - 1] < b:
                b, o = best[i, j - 1], owner[i, j - 1]
            if j + 1 < w and best[i, j + 1] < b:
                b, o = best[i, j + 1], owner[i, j + 1]
            if b < np.inf:
                band_of[i, j], grown_owner[i, j] = np.floor(b / span), o
    return band_of, grown_owner
