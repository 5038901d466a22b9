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
a buffer would). Each cell takes the band and facility of the fastest piece through it or beside it.

What this guarantees:
- the union of all facilities' band-k polygons (returned as `dissolved`) contains every road point
  reached within band k, and none of its points lies farther than c + c*sqrt(2) (1.71 x buffer) from one;
- polygons of different facilities do not overlap, and a facility's bands nest;
- a cell crossed by the roads of two facilities goes to the one reached faster, so next to the border
  between two areas a facility's road may lie up to one cell inside its neighbour's polygon.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

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
    owner: np.ndarray = field(repr=False, default_factory=lambda: np.full((1, 1), -1, dtype=np.int32))
    """Source position owning each raster cell; -1 where nothing is reached."""

    @cached_property
    def dissolved(self) -> list[shapely.Geometry | None]:
        """Per band: all sources' areas together; None where nothing is reached."""
        return [self.dissolved_of(k) for k in range(len(self.own))]

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
    empty = SplitAreas([{} for _ in bands], cell, np.full((1, 1), np.inf), Affine.identity())
    if len(bands) == 0:
        return empty
    part_band, part_owner, part_cost, coords, part = _owned_pieces(net, near, bands + _EPS, toward=toward,
                                                                  weight=weight)
    if len(coords) == 0:
        return empty
    which, ix, iy = _supercover(coords, part, cell)
    x0, y0 = ix.min() - 1, iy.min() - 1
    height, width = int(iy.max() - y0 + 2), int(ix.max() - x0 + 2)
    # One number orders cells by band, then by time within it: the fastest piece through a cell wins.
    span = float(bands[-1]) * 2.0 + 1.0
    key = part_band[which] * span + part_cost[which]
    cell_id = (iy - y0) * width + (ix - x0)
    best = np.full(height * width, np.inf)
    np.minimum.at(best, cell_id, key)
    owner = np.full(height * width, -1, dtype=np.int32)
    won = key == best[cell_id]
    owner[cell_id[won]] = part_owner[which[won]]
    best, owner = best.reshape(height, width), owner.reshape(height, width)
    grown, grown_owner = best.copy(), owner.copy()
    for dst, src in (((slice(1, None),), (slice(None, -1),)), ((slice(None, -1),), (slice(1, None),)),
                     ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                     ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
        closer = best[src] < grown[dst]
        grown[dst][closer] = best[src][closer]
        grown_owner[dst][closer] = owner[src][closer]
    band_of = np.where(np.isfinite(grown), np.floor(grown / span), np.inf)
    transform = Affine(cell, 0.0, x0 * cell, 0.0, cell, y0 * cell)
    own: list[dict[int, shapely.Geometry]] = []
    for k in range(len(bands)):
        inside = band_of <= k
        parts: dict[int, list[shapely.Polygon]] = {}
        for geojson, value in _shapes(np.where(inside, grown_owner, -1).astype(np.int32), inside, transform):
            parts.setdefault(int(value), []).append(_polygon(geojson))
        own.append({s: _merged(p) for s, p in sorted(parts.items())})
    return SplitAreas(own, cell, band_of, transform, np.where(np.isfinite(band_of), grown_owner, -1).astype(np.int32))


def _owned_pieces(net: Network, near: Nearest, limits: np.ndarray, *, toward: bool, weight: str
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Pieces of road, each within one band and owned by one source: band index, owner, cost at the
    piece's start (seconds or metres), and the pieces' vertices (metric) with the piece of each."""
    w = net.edge_s if weight == "time" else net.edge_m
    end, far = (net.edge_to, net.edge_from) if toward else (net.edge_from, net.edge_to)
    d_all = near.cost[end]
    edges = np.flatnonzero(np.isfinite(d_all) & (d_all <= limits[-1]))
    d_end, d_far, w_e = d_all[edges], near.cost[far[edges]], w[edges]
    rev = net.edge_rev[edges]
    w_back = np.where(rev >= 0, w[np.maximum(rev, 0)], np.inf)
    # Position r along the edge, 0 at its source-side end: reached at d_end + r w this way, or at
    # d_far + (1 - r) w_back through the other end; the edge is owned up to where the two are equal.
    both = np.isfinite(w_back) & np.isfinite(d_far) & (w_e + w_back > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_equal = np.where(both, (d_far + w_back - d_end) / np.where(both, w_e + w_back, 1.0), 1.0)
        r_band = np.where(w_e[:, None] > 0, (limits[None, :] - d_end[:, None]) / w_e[:, None], np.inf)
    hi = np.minimum(np.clip(r_band, 0.0, 1.0), np.clip(r_equal, 0.0, 1.0)[:, None])
    lo = np.concatenate([np.zeros((len(edges), 1)), hi[:, :-1]], axis=1)
    first = np.searchsorted(limits, d_end, side="left")  # the band that reaches the source-side end
    k = np.arange(len(limits))[None, :]
    # A reached node lies on the piece of the edge its fastest route takes (that edge is owned to its
    # far end); only the sources themselves need a point of their own.
    keep = (hi > lo + 1e-12) | ((k == first[:, None]) & (d_end == 0.0)[:, None])
    row, band = np.nonzero(keep)
    r0, r1 = lo[row, band], hi[row, band]
    cost = d_end[row] + r0 * w_e[row]
    owner = near.source[end[edges[row]]]
    piece_edge = edges[row]
    # Most pieces are whole lines: their vertices are the line's own; only the rest are cut.
    f0, f1 = net.edge_f0[piece_edge], net.edge_f1[piece_edge]
    whole = (r0 <= 0.0) & (r1 >= 1.0) & (np.minimum(f0, f1) <= 0.0) & (np.maximum(f0, f1) >= 1.0)
    at_whole, at_cut = np.flatnonzero(whole), np.flatnonzero(~whole)
    whole_xy, whole_part = shapely.get_coordinates(net.geoms[net.edge_geom[piece_edge[at_whole]]], return_index=True)
    cut_xy, cut_part = _cut_pieces(net, piece_edge[at_cut], r0[at_cut], r1[at_cut], toward=toward)
    coords = np.vstack([whole_xy, cut_xy])
    part = np.concatenate([at_whole[whole_part], at_cut[cut_part]])  # each piece's vertices stay together
    return band.astype(float), owner.astype(np.int32), cost, coords, part


def _polygon(geojson: dict) -> shapely.Polygon:
    """Polygon from a GeoJSON-like mapping, its rings built as arrays (faster than shapely's shape())."""
    rings = [np.asarray(ring, dtype=float) for ring in geojson["coordinates"]]
    return shapely.Polygon(rings[0], rings[1:])


def _cut_pieces(net: Network, edges: np.ndarray, start: np.ndarray, stop: np.ndarray, *, toward: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (metric) of the part of each edge from `start` to `stop` (shares of the edge measured
    from its source-side end, the head when `toward`), and the piece each vertex belongs to."""
    f0, f1 = net.edge_f0[edges], net.edge_f1[edges]
    if toward:
        a, b = f1 - start * (f1 - f0), f1 - stop * (f1 - f0)
    else:
        a, b = f0 + start * (f1 - f0), f0 + stop * (f1 - f0)
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    n = len(edges)
    coords, piece = shapely.get_coordinates(net.geoms[net.edge_geom[edges]], return_index=True)
    if not len(piece):
        return np.zeros((0, 2)), np.zeros(0, dtype=np.int64)
    count = np.bincount(piece, minlength=n)
    first = np.cumsum(count) - count
    # Position of each vertex along its line, as a fraction of the line's length.
    step = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
    step[first] = 0.0
    along = np.cumsum(step)
    along -= np.repeat(along[first], count)
    total = np.repeat(along[first + count - 1], count)
    t = along / np.where(total > 0, total, 1.0)
    inner = (t > lo[piece]) & (t < hi[piece])
    n_inner = np.bincount(piece[inner], minlength=n)
    # Each piece: its start point, the line's vertices strictly inside, its end point, in order.
    size = n_inner + 2
    offset = np.cumsum(size) - size
    out = np.empty((int(size.sum()), 2))
    out[offset] = _point_at(coords, piece, t, first, count, lo)
    out[offset + size - 1] = _point_at(coords, piece, t, first, count, hi)
    inner_piece = piece[inner]
    rank = np.arange(len(inner_piece)) - np.repeat(np.cumsum(n_inner) - n_inner, n_inner)
    out[offset[inner_piece] + 1 + rank] = coords[inner]
    return out, np.repeat(np.arange(n), size)


def _point_at(coords: np.ndarray, piece: np.ndarray, t: np.ndarray, first: np.ndarray, count: np.ndarray,
              at: np.ndarray) -> np.ndarray:
    """Point at fraction `at[i]` along line i, given its vertices' fractions `t` (lines in order, line i's
    vertices from `first[i]`, `count[i]` of them)."""
    # The segment holding the point: from the last vertex at or before it, never past the last segment.
    before = np.bincount(piece, weights=t <= at[piece], minlength=len(at)).astype(np.int64)
    i = first + np.clip(before - 1, 0, count - 2)
    span = t[i + 1] - t[i]
    w = np.clip(np.where(span > 0, (at - t[i]) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
    return coords[i] + (coords[i + 1] - coords[i]) * w[:, None]


def _supercover(coords: np.ndarray, part: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid cells (column, row) crossed by polylines, with the polyline of each cell (may repeat).

    `coords` holds each polyline's vertices in order (at least two), `part` its polyline id (each
    polyline's vertices together). Segments are sampled at most one cell apart, so consecutive samples lie in the
    same or neighbouring cells; where they are diagonal neighbours, both cells beside the step are
    marked too, since the line may cross either.
    """
    same = part[1:] == part[:-1]
    seg = np.flatnonzero(same)
    p, q = coords[seg], coords[seg + 1]
    n_sub = np.maximum(1, np.ceil(np.hypot(*(q - p).T) / cell)).astype(np.int64)
    rep = np.repeat(np.arange(len(seg)), n_sub + 1)
    j = np.arange(rep.size) - np.repeat(np.cumsum(n_sub + 1) - (n_sub + 1), n_sub + 1)
    frac = j / n_sub[rep]
    xy = p[rep] + (q - p)[rep] * frac[:, None]
    ix = np.floor(xy[:, 0] / cell).astype(np.int64)
    iy = np.floor(xy[:, 1] / cell).astype(np.int64)
    owner = part[seg][rep]
    step = np.flatnonzero((rep[1:] == rep[:-1]) & (ix[1:] != ix[:-1]) & (iy[1:] != iy[:-1]))
    return (np.concatenate([owner, owner[step], owner[step]]), np.concatenate([ix, ix[step], ix[step + 1]]),
            np.concatenate([iy, iy[step + 1], iy[step]]))
