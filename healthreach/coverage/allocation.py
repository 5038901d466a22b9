"""Allocation: which facility each piece of road belongs to (its nearest, by travel toward it).

A two-way road between two facilities' areas is split where the times to both are equal, as ArcGIS
Network Analyst's "split" service-area polygons are; a one-way road belongs wholly to the facility
its direction of travel leads to.
"""
from __future__ import annotations

import numpy as np
import shapely
from shapely.ops import substring

from healthreach.coverage.network import Network
from healthreach.coverage.traveltime import Nearest

_EPS = 1e-6


def allocated_pieces(net: Network, near: Nearest, band_s: float) -> tuple[list[shapely.LineString], np.ndarray]:
    """Road pieces (metric lines) reached within `band_s` seconds, each with its nearest source.

    Returns the pieces and, for each, the position of its source in the `sources` given to
    :func:`healthreach.coverage.traveltime.nearest` (a search toward the sources, by time).
    """
    d_from, d_to = near.cost[net.edge_from], near.cost[net.edge_to]
    t = net.edge_s
    rev = net.edge_rev
    t_back = np.where(rev >= 0, t[np.maximum(rev, 0)], np.inf)
    reach = np.isfinite(d_to) & (d_to <= band_s + _EPS)
    safe_t = np.where(t > 0, t, 1.0)
    # Point at s (0 at the tail) goes forward: (1 - s) t + D(to); back: s t_back + D(from).
    s_band = np.where(t > 0, 1.0 - (band_s + _EPS - d_to) / safe_t, 0.0)
    with np.errstate(invalid="ignore"):
        s_equal = np.where(np.isfinite(t_back) & np.isfinite(d_from),
                           (t + d_to - d_from) / np.where(t + t_back > 0, t + t_back, 1.0), 0.0)
    start = np.clip(np.maximum(s_band, s_equal), 0.0, 1.0)
    keep = reach & (start < 1.0 - 1e-12)
    idx = np.flatnonzero(keep)
    f0, f1 = net.edge_f0[idx], net.edge_f1[idx]
    a = f0 + start[idx] * (f1 - f0)
    lo, hi = np.minimum(a, f1), np.maximum(a, f1)
    geoms = net.geoms[net.edge_geom[idx]]
    pieces = [g if (l <= 1e-9 and h >= 1 - 1e-9) else substring(g, l, h, normalized=True)
              for g, l, h in zip(geoms, lo, hi)]
    return pieces, near.source[net.edge_to[idx]]
