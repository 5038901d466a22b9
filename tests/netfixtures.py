"""Hand-built road networks in a metric CRS whose travel times can be worked out by hand."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely

from healthreach.coverage.network import Network
from healthreach.coverage.pairs import CostPairs, bounded_pairs

CRS = "EPSG:4546"  # CGCS2000 GK zone CM111: metres
ORIGIN = (500000.0, 4300000.0)


def edge_table(lines: list[list[tuple[float, float]]], highway: list[str] | str = "tertiary",
               oneway: list[bool] | bool = False, maxspeed: list[float] | None = None) -> gpd.GeoDataFrame:
    """Edge table (WGS84) from lines given in metres relative to ORIGIN; node ids from end points."""
    n = len(lines)
    highway = [highway] * n if isinstance(highway, str) else highway
    oneway = [oneway] * n if isinstance(oneway, bool) else oneway
    ids: dict[tuple[float, float], int] = {}
    u, v, geoms = [], [], []
    for line in lines:
        pts = [(ORIGIN[0] + x, ORIGIN[1] + y) for x, y in line]
        u.append(ids.setdefault(line[0], len(ids) + 1))
        v.append(ids.setdefault(line[-1], len(ids) + 1))
        geoms.append(shapely.LineString(pts))
    metric = gpd.GeoSeries(geoms, crs=CRS)
    return gpd.GeoDataFrame(
        {"u": np.array(u, dtype=np.int64), "v": np.array(v, dtype=np.int64), "highway": highway,
         "name": [""] * n, "maxspeed_kmh": maxspeed or [np.nan] * n, "oneway": oneway,
         "length_m": metric.length.to_numpy()},
        geometry=metric.to_crs("EPSG:4326").to_numpy(), crs="EPSG:4326")


def xy(points: list[tuple[float, float]]) -> np.ndarray:
    """Metric coordinates (CRS) of points given relative to ORIGIN."""
    return np.array([(ORIGIN[0] + x, ORIGIN[1] + y) for x, y in points], dtype=float)


def drive_pairs(net: Network, nv: int, nf: int, limit_s: float = 36000.0) -> CostPairs:
    """Drive-toward cost pairs of every facility (points nv.. of `net`) to every village (0..nv-1)."""
    return bounded_pairs(net.reverse_s, net.point_node[nv:nv + nf], net.point_node[:nv], limit_s)


def dense_pairs(cost: np.ndarray) -> CostPairs:
    """The finite entries of a (facilities x villages) seconds matrix as cost pairs, nearest first."""
    f, v = np.nonzero(np.isfinite(cost))
    order = np.lexsort((v, cost[f, v], f))
    return CostPairs(source=f[order], target=v[order], cost=cost[f, v][order], n_sources=cost.shape[0],
                     n_targets=cost.shape[1])
