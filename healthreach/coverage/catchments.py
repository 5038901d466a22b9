"""Catchment polygons built from the reached network, as ArcGIS Network Analyst draws service areas.

A band's polygon is the reached road lines (an edge reached only in part is cut at the reached point)
buffered by a fixed width: it contains every reached road point and extends no farther than that width
beyond them. Band boundaries are inclusive: a 60-minute catchment includes what is reached in exactly
60 minutes.
"""
from __future__ import annotations

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
    # A two-way road reached whole is reached both ways: one copy of its line is enough.
    pieces: list[shapely.LineString] = list(net.geoms[np.unique(net.edge_geom[idx[full]])])
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
