"""Catchment polygons built from the reached network, as ArcGIS Network Analyst draws service areas.

A band's polygon is the reached road lines (an edge reached only in part is cut at the reached point)
buffered by a fixed width: it contains every reached road point and extends no farther than that width
beyond them. Band boundaries are inclusive: a 60-minute catchment includes what is reached in exactly
60 minutes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
import shapely.geometry
from shapely.ops import substring

from healthreach.coverage.network import Network

_EPS = 1e-6  # inclusive band boundary: tolerate rounding noise (1 microsecond or 1 mm)


def reached_lines(
    net: Network, cost: np.ndarray, band: float, *, toward: bool = True, weight: str = "time"
) -> list[shapely.LineString]:
    """Pieces of road (metric lines) from which the source is reached within `band` (inclusive).

    `cost` is one row of :func:`healthreach.coverage.traveltime.bounded_costs` for the same
    direction and weight; `band` is in its unit (seconds or metres).
    """
    edge_cost = net.edge_s if weight == "time" else net.edge_m
    # The node at the source-side end of each edge: its head when travelling toward the source.
    end_cost = cost[net.edge_to] if toward else cost[net.edge_from]
    slack = band + _EPS - end_cost
    hit = np.isfinite(end_cost) & (slack >= 0)
    share = np.ones(len(edge_cost))
    positive = edge_cost > 0
    share[positive] = np.minimum(1.0, slack[positive] / edge_cost[positive])
    idx = np.flatnonzero(hit)
    f0, f1 = net.edge_f0[idx], net.edge_f1[idx]
    s = share[idx]
    # Fraction of the line reached: the part next to the source-side end of the edge.
    if toward:
        lo_end, hi_end = f1 - s * (f1 - f0), f1
    else:
        lo_end, hi_end = f0, f0 + s * (f1 - f0)
    lo, hi = np.minimum(lo_end, hi_end), np.maximum(lo_end, hi_end)
    geoms = net.geoms[net.edge_geom[idx]]
    full = (lo <= _EPS) & (hi >= 1 - _EPS)
    pieces: list[shapely.LineString] = list(geoms[full])
    for geom, a, b in zip(geoms[~full], lo[~full], hi[~full]):
        if b - a > _EPS:
            pieces.append(substring(geom, a, b, normalized=True))
        else:
            pieces.append(shapely.Point(shapely.line_interpolate_point(geom, a, normalized=True)))
    return pieces


def catchment_polygon(pieces: list, buffer_m: float) -> shapely.Geometry | None:
    """Polygon of the reached pieces buffered by `buffer_m` metres; None when nothing is reached."""
    if not pieces:
        return None
    # Buffering each piece and then dissolving is several times faster than buffering one big
    # union of lines; quad_segs=2 rounds caps with inscribed octagons, so nothing lies beyond buffer_m.
    disks = shapely.buffer(np.asarray(pieces, dtype=object), buffer_m, quad_segs=2)
    try:
        return shapely.union_all(disks)
    except shapely.errors.GEOSException:
        # Floating-point overlay can fail on exactly collinear buffer edges (perfectly regular street
        # grids); snap-rounding to 1 mm is robust and moves nothing by more than that.
        return shapely.union_all(disks, grid_size=0.001)


# --- Province scale: every band of one facility from one raster ------------------------------------
#
# Buffering and dissolving hundreds of thousands of reached pieces per facility and band takes
# minutes per facility at province scale. Instead the reached roads are drawn into a grid of square
# cells: a cell is marked when a reached road passes through it (the line's "supercover"), and also
# when a 4-neighbour is, which closes the one-cell gaps between roads of a town grid as a buffer
# would. The marked cells are polygonised once per facility with each cell carrying the smallest band
# that reaches it, so the bands nest by construction. With cell side c = buffer / sqrt(2), every
# reached road point lies inside the polygon and every polygon point lies within c + c*sqrt(2)
# (= 1.71 x buffer, less than buffer + one cell diagonal) of a reached road point. That is looser
# than the exact polygons' bound (the buffer width), the price of province-scale speed.


@dataclass(frozen=True)
class CatchmentGrid:
    """What :func:`band_polygons` reuses across the facilities of one network and direction."""

    cell_m: float
    """Side of a grid cell (metres); cells are anchored at (0, 0) of the metric CRS."""
    toward: bool
    weight: str
    end_ptr: np.ndarray
    end_edges: np.ndarray
    """Directed edges grouped by their source-side end node (CSR: node -> edges)."""
    edge_piece: np.ndarray
    """The piece of road each directed edge runs along: its line in `net.geoms` where it runs the whole
    line, else one of the pieces numbered after the lines."""
    piece_ptr: np.ndarray
    piece_ix: np.ndarray
    piece_iy: np.ndarray
    """Cells crossed by each piece (CSR: piece -> cell columns and rows)."""


def catchment_grid(net: Network, buffer_m: float, *, toward: bool = True, weight: str = "time") -> CatchmentGrid:
    """Prepare a network for :func:`band_polygons` with polygons `buffer_m` metres around the roads."""
    if not buffer_m > 0:
        raise ValueError(f"catchment buffer must be > 0 metres, got {buffer_m!r}")
    cell = buffer_m / np.sqrt(2.0)
    end = net.edge_to if toward else net.edge_from
    order = np.argsort(end, kind="stable")
    ptr = np.zeros(net.n_nodes + 1, dtype=np.int64)
    ptr[1:] = np.cumsum(np.bincount(end, minlength=net.n_nodes))
    lo = np.minimum(net.edge_f0, net.edge_f1)
    hi = np.maximum(net.edge_f0, net.edge_f1)
    split = np.flatnonzero((lo > _EPS) | (hi < 1 - _EPS))
    n_lines = len(net.geoms)
    edge_piece = net.edge_geom.copy()
    edge_piece[split] = n_lines + np.arange(len(split))
    coords, line = shapely.get_coordinates(net.geoms, return_index=True)
    cut_xy, cut_piece = _cut_pieces(net, split, np.ones(len(split)), toward=toward)
    part, ix, iy = _supercover(np.vstack([coords, cut_xy]), np.concatenate([line, n_lines + cut_piece]), cell)
    piece_ptr = np.zeros(n_lines + len(split) + 1, dtype=np.int64)
    piece_ptr[1:] = np.cumsum(np.bincount(part, minlength=n_lines + len(split)))
    return CatchmentGrid(cell_m=cell, toward=toward, weight=weight, end_ptr=ptr, end_edges=order,
                         edge_piece=edge_piece, piece_ptr=piece_ptr, piece_ix=ix, piece_iy=iy)


def band_polygons(net: Network, grid: CatchmentGrid, cost: np.ndarray, bands: list[float] | np.ndarray
                  ) -> list[shapely.Geometry | None]:
    """Catchment polygon (metric) for each band (seconds or metres, ascending), None where nothing is reached.

    `cost` is one row of :func:`healthreach.coverage.traveltime.bounded_costs` (or a block of
    :func:`healthreach.coverage.traveltime.bounded_cost_blocks`) for the grid's direction and weight,
    searched at least to the largest band. Band boundaries are inclusive.
    """
    import rasterio.features
    from affine import Affine

    bands = np.asarray(bands, dtype=float)
    if len(bands) == 0:
        return []
    if np.any(np.diff(bands) < 0):
        raise ValueError(f"bands must be ascending, got {list(bands)}")
    edges = _edges_ending_in(grid, np.flatnonzero(cost <= bands[-1] + _EPS))
    edge_cost = (net.edge_s if grid.weight == "time" else net.edge_m)[edges]
    end_cost = cost[net.edge_to[edges] if grid.toward else net.edge_from[edges]]
    limits = bands + _EPS
    first_full = np.searchsorted(limits, end_cost + edge_cost, side="left")  # band that takes all of it
    first_any = np.searchsorted(limits, end_cost, side="left")  # band that reaches its end
    ix_parts, iy_parts, band_parts = [], [], []

    full = first_full < len(bands)
    pieces = grid.edge_piece[edges[full]]
    starts, counts = grid.piece_ptr[pieces], grid.piece_ptr[pieces + 1] - grid.piece_ptr[pieces]
    cells = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    ix_parts.append(grid.piece_ix[cells])
    iy_parts.append(grid.piece_iy[cells])
    band_parts.append(np.repeat(first_full[full], counts))

    # Each band's partly reached edges are cut at the reached point.
    cut_edge: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    cut_share: list[np.ndarray] = [np.zeros(0)]
    cut_band: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
    for k in range(len(bands)):
        part = (first_any <= k) & (first_full > k)
        if part.any():
            ec = edge_cost[part]
            share = np.where(ec > 0, (limits[k] - end_cost[part]) / np.where(ec > 0, ec, 1.0), 1.0)
            cut_edge.append(edges[part])
            cut_share.append(np.clip(share, 0.0, 1.0))
            cut_band.append(np.full(int(part.sum()), k))
    cut_e, share, cut_k = np.concatenate(cut_edge), np.concatenate(cut_share), np.concatenate(cut_band)
    if len(cut_e):
        coords, piece = _cut_pieces(net, cut_e, share, toward=grid.toward)
        which, ix, iy = _supercover(coords, piece, grid.cell_m)
        ix_parts.append(ix)
        iy_parts.append(iy)
        band_parts.append(cut_k[which])

    ix, iy, band = np.concatenate(ix_parts), np.concatenate(iy_parts), np.concatenate(band_parts)
    if len(ix) == 0:
        return [None] * len(bands)
    # Local raster with a one-cell margin for the neighbour rule; 255 marks "not reached".
    x0, y0 = ix.min() - 1, iy.min() - 1
    raster = np.full((iy.max() - y0 + 2, ix.max() - x0 + 2), 255, dtype=np.uint8)
    for k in range(len(bands) - 1, -1, -1):  # smaller bands overwrite larger ones
        sel = band == k
        raster[iy[sel] - y0, ix[sel] - x0] = k
    grown = raster.copy()
    np.minimum(grown[1:], raster[:-1], out=grown[1:])
    np.minimum(grown[:-1], raster[1:], out=grown[:-1])
    np.minimum(grown[:, 1:], raster[:, :-1], out=grown[:, 1:])
    np.minimum(grown[:, :-1], raster[:, 1:], out=grown[:, :-1])
    # Polygonise each band's cells (those of its own or a smaller band), cropped to where they are,
    # in whole cell units; the outline's corners are then scaled to metres.
    out: list[shapely.Geometry | None] = []
    for k in range(len(bands)):
        rows, cols = np.nonzero(grown <= k)
        if not len(rows):
            out.append(None)
            continue
        r0, c0 = rows.min(), cols.min()
        mask = (grown[r0 : rows.max() + 1, c0 : cols.max() + 1] <= k).astype(np.uint8)
        parts = [_polygon(g) for g, _ in
                 rasterio.features.shapes(mask, mask=mask.astype(bool), connectivity=4, transform=Affine.identity())]
        merged = parts[0] if len(parts) == 1 else shapely.MultiPolygon(parts)
        offset = np.array([x0 + c0, y0 + r0], dtype=float)
        out.append(shapely.transform(merged, lambda xy, at=offset: (xy + at) * grid.cell_m))
    return out


def _polygon(geojson: dict) -> shapely.Polygon:
    """Polygon from a GeoJSON-like mapping, its rings built as arrays (faster than shapely's shape())."""
    rings = [np.asarray(ring, dtype=float) for ring in geojson["coordinates"]]
    return shapely.Polygon(rings[0], rings[1:])


def _edges_ending_in(grid: CatchmentGrid, nodes: np.ndarray) -> np.ndarray:
    """Directed edges whose source-side end is one of `nodes`."""
    starts, counts = grid.end_ptr[nodes], grid.end_ptr[nodes + 1] - grid.end_ptr[nodes]
    pos = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(counts.sum())
    return grid.end_edges[pos]


def _cut_pieces(net: Network, edges: np.ndarray, share: np.ndarray, *, toward: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    """Vertices (metric) of the reached part of each edge, and the piece each vertex belongs to.

    The reached part is `share` of the edge next to its source-side end (its head when toward).
    """
    f0, f1 = net.edge_f0[edges], net.edge_f1[edges]
    a, b = (f1 - share * (f1 - f0), f1) if toward else (f0, f0 + share * (f1 - f0))
    lo, hi = np.minimum(a, b), np.maximum(a, b)
    geoms = net.geoms[net.edge_geom[edges]]
    coords, piece = shapely.get_coordinates(geoms, return_index=True)
    # Position of each vertex along its line, as a fraction of the line's length.
    new_line = np.r_[True, piece[1:] != piece[:-1]] if len(piece) else np.zeros(0, bool)
    step = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)] if len(piece) else np.zeros(0)
    step[new_line] = 0.0
    along = np.cumsum(step)
    along -= np.repeat(along[new_line], np.bincount(piece, minlength=len(geoms)))
    total = np.bincount(piece, weights=step, minlength=len(geoms))
    t = along / np.where(total[piece] > 0, total[piece], 1.0)
    ends = np.stack([_point_at(coords, piece, t, lo), _point_at(coords, piece, t, hi)])
    inner = (t > lo[piece]) & (t < hi[piece])
    n = len(edges)
    all_xy = np.vstack([ends[0], coords[inner], ends[1]])
    all_piece = np.concatenate([np.arange(n), piece[inner], np.arange(n)])
    all_t = np.concatenate([lo, t[inner], hi])
    order = np.lexsort((all_t, all_piece))
    return all_xy[order], all_piece[order]


def _point_at(coords: np.ndarray, piece: np.ndarray, t: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Point at fraction `at[i]` along line i, given its vertices' fractions `t` (lines in order)."""
    key = piece * 2.0 + t  # increasing: within a line by t, and from one line to the next
    count = np.bincount(piece, minlength=len(at))
    last = np.cumsum(count) - 1
    # The segment holding the point: from the vertex at or before it, never past the line's last segment.
    i = np.clip(np.searchsorted(key, np.arange(len(at)) * 2.0 + at, side="right") - 1, last - count + 1, last - 1)
    span = t[i + 1] - t[i]
    w = np.clip(np.where(span > 0, (at - t[i]) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
    return coords[i] + (coords[i + 1] - coords[i]) * w[:, None]


def _supercover(coords: np.ndarray, part: np.ndarray, cell: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Grid cells (column, row) crossed by polylines, with the polyline of each cell (may repeat).

    `coords` holds each polyline's vertices in order (at least two), `part` its polyline id
    (non-decreasing).
    Segments are sampled at most one cell apart, so consecutive samples lie in the same or
    neighbouring cells; where they are diagonal neighbours, both cells beside the step are marked
    too, since the line may cross either.
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
    all_ix = np.concatenate([ix, ix[step], ix[step + 1]])
    all_iy = np.concatenate([iy, iy[step + 1], iy[step]])
    all_part = np.concatenate([owner, owner[step], owner[step]])
    order = np.argsort(all_part, kind="stable")
    return all_part[order], all_ix[order], all_iy[order]
