"""Routable networks as arrays: one per travel mode, with the study's points joined at the nearest edge.

A point (village, facility or candidate site) joins the network at the nearest point of the nearest
usable road segment: the segment is split there, so the road on either side of the join is charged
only for the part actually driven, and the off-network leg from the point to the road is an edge of
its own charged at the access speed. Every point thus becomes a graph node, and one Dijkstra search
gives door-to-door times.

As OSRM does, a point whose nearest road lies on a small piece of the network (a strongly connected
part of fewer than `settings.small_component_size` road junctions that is not the largest part: a
parking lot, a stub cut off by a data gap) joins the nearest road of the connected network instead
when one lies within `max_snap_m`, with the longer access leg; only when none does is it joined to
the small piece (and reaches only what lies on it).
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property

import geopandas as gpd
import numpy as np
import shapely
from pyproj import Transformer
from scipy import sparse
from scipy.sparse.csgraph import connected_components

from healthreach.config import Settings
from healthreach.layers.roads.speeds import segment_speeds_kmh

_MIN_SECONDS = 1e-9  # csgraph must see an edge even where two points coincide
_END_M = 0.01  # a join this close (metres) to a segment's end is at that end


@dataclass(frozen=True)
class Network:
    """One travel mode's network as arrays (metric CRS; seconds and metres).

    Nodes are road junctions first, then one join node per point (on its road), then one node per
    point. `edge_*` arrays hold every directed edge; `csr_s` keeps, for each ordered node pair, the
    fastest of any parallel edges, and `csr_len` the shortest.
    """

    mode: str
    crs: str
    node_xy: np.ndarray
    node_id: np.ndarray
    """Road node id (OSM id) of each junction node; -1 for join and point nodes."""
    edge_from: np.ndarray
    edge_to: np.ndarray
    edge_s: np.ndarray
    edge_m: np.ndarray
    edge_geom: np.ndarray
    """Index into `geoms` of the line each edge runs along."""
    edge_f0: np.ndarray
    edge_f1: np.ndarray
    """Edge start and end as fractions of its line (f0 > f1 where the edge runs against the line)."""
    edge_rev: np.ndarray
    """The edge running the other way along the same piece of line; -1 for one-way roads."""
    geoms: np.ndarray
    """Road segment lines (in edge-table order), then the access legs of the joined points."""
    csr_s: sparse.csr_matrix
    csr_len: sparse.csr_matrix
    fast_edge: np.ndarray
    """For each stored entry of `csr_s` (CSR order), the index of the directed edge it stands for."""
    point_node: np.ndarray
    """Graph node of each joined point (in input order)."""
    point_access_m: np.ndarray
    """Straight-line metres from each point to the road it joins (its nearest usable road)."""
    point_joined: np.ndarray
    """False where the nearest usable road is farther than `max_snap_m`: the point stays isolated."""
    n_segments: int
    point_island_junctions: np.ndarray
    """Junctions of the small piece of road the point's nearest road lies on (within `max_snap_m`); 0
    where that road belongs to the connected network, or none is that near."""
    point_island_m: np.ndarray
    """Metres to that small piece (NaN where 0 junctions)."""
    point_skipped_island: np.ndarray
    """True where the point joined the connected network instead of the nearer small piece."""

    @property
    def n_nodes(self) -> int:
        return int(self.node_xy.shape[0])

    @cached_property
    def searches(self) -> OrderedDict:
        """The last few nearest-source searches on this network (see `traveltime.nearest`): access,
        catchments, service access and referral ask for the same ones."""
        return OrderedDict()

    @cached_property
    def line_vertices(self) -> tuple[np.ndarray, np.ndarray]:
        """Vertices (metres) of all `geoms` as one (n, 2) array, and where each line's vertices start
        (one entry more than `geoms`: line i is xy[start[i]:start[i + 1]]). Split catchments walk them."""
        xy, line = shapely.get_coordinates(self.geoms, return_index=True)
        return xy, np.searchsorted(line, np.arange(len(self.geoms) + 1)).astype(np.int64)

    @cached_property
    def reverse_s(self) -> sparse.csr_matrix:
        """`csr_s` transposed (b -> a for every edge a -> b): searches toward a facility run on it."""
        return self.csr_s.T.tocsr()

    @cached_property
    def reverse_len(self) -> sparse.csr_matrix:
        """`csr_len` transposed."""
        return self.csr_len.T.tocsr()

    def metres_of_fastest(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Metres of the fastest edge a -> b for node pairs known to be joined by one."""
        indptr, indices = self.csr_s.indptr, self.csr_s.indices
        out = np.full(len(a), np.nan)
        # Rows are short (road junction degree): step each unresolved pair one entry along its row,
        # keeping only the unresolved ones, so each round costs only what is left.
        pos = indptr[a].astype(np.int64)
        ends = indptr[a + 1]
        todo = np.flatnonzero(pos < ends)
        while len(todo):
            at = pos[todo]
            hit = indices[at] == b[todo]
            out[todo[hit]] = self.edge_m[self.fast_edge[at[hit]]]
            todo = todo[~hit]
            pos[todo] += 1
            todo = todo[pos[todo] < ends[todo]]
        return out


def build_network(
    edges: gpd.GeoDataFrame,
    mode: str,
    settings: Settings,
    crs: str,
    points_xy: np.ndarray,
) -> Network:
    """Network of `mode` from a road edge table, with `points_xy` (metric, shape (k, 2)) joined to it.

    Each point joins the nearest road segment usable in `mode` if one lies within
    `settings.max_snap_m`; the leg to it is charged at `settings.access_kmh`.
    """
    return build_networks(edges, (mode,), settings, crs, points_xy)[mode]


def build_networks(
    edges: gpd.GeoDataFrame,
    modes: tuple[str, ...],
    settings: Settings,
    crs: str,
    points_xy: np.ndarray,
) -> dict[str, Network]:
    """The networks of several modes (as :func:`build_network`), projecting the roads once and
    finding the points' nearest roads once for modes that may use the same roads."""
    geoms, ends = _projected_lines(edges, crs)
    points_xy = np.asarray(points_xy, dtype=float).reshape(-1, 2)
    pts = shapely.points(points_xy)
    ids, inverse = np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]), return_inverse=True)
    seg_u, seg_v = inverse[: len(edges)], inverse[len(edges):]
    oneway = edges["oneway"].to_numpy(dtype=bool)
    joins: list[tuple[np.ndarray, bool, Join]] = []
    out = {}
    for mode in modes:
        speed = segment_speeds_kmh(edges, mode, settings)
        usable = np.isfinite(speed) & (speed > 0)
        walk = mode == "walk"  # one-way streets are walked both ways: other components
        join = next((j for u, w, j in joins if w == walk and np.array_equal(u, usable)), None)
        if join is None:
            two_way = ~oneway | walk
            join = _join_points(geoms, usable, _piece_junctions(seg_u, seg_v, usable, two_way, len(ids)), pts,
                                settings)
            joins.append((usable, walk, join))
        out[mode] = _network(edges, mode, settings, crs, points_xy, speed, geoms, ends, (ids, seg_u, seg_v), join)
    return out


def small_piece_segments(edges: gpd.GeoDataFrame, mode: str, settings: Settings) -> np.ndarray:
    """True for each road segment (edge-table order) usable in `mode` that lies on a small piece of its
    network, as `build_networks` decides it: a point whose nearest road is one joins instead the nearest
    other usable segment within `max_snap_m` (the in-page what-if tool applies the same rule)."""
    ids, inverse = np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()]), return_inverse=True)
    speed = segment_speeds_kmh(edges, mode, settings)
    usable = np.isfinite(speed) & (speed > 0)
    two_way = ~edges["oneway"].to_numpy(dtype=bool) | (mode == "walk")
    piece = _piece_junctions(inverse[: len(edges)], inverse[len(edges):], usable, two_way, len(ids))
    return _small(usable, piece, settings)


def _small(usable: np.ndarray, piece: np.ndarray, settings: Settings) -> np.ndarray:
    """Usable segments on a piece of fewer than `settings.small_component_size` junctions (0: the largest)."""
    return usable & (piece > 0) & (piece < settings.small_component_size)


@dataclass(frozen=True)
class Join:
    """Where each point joins one mode's roads (see `_join_points`)."""

    seg_of: np.ndarray
    """Segment joined (-1: none usable at all)."""
    frac: np.ndarray
    """Position of the join along that segment (0..1)."""
    access_m: np.ndarray
    """Straight metres to the joined segment (inf: no usable road)."""
    island_junctions: np.ndarray
    island_m: np.ndarray
    skipped: np.ndarray


def _piece_junctions(seg_u: np.ndarray, seg_v: np.ndarray, usable: np.ndarray, two_way: np.ndarray,
                     n_nodes: int) -> np.ndarray:
    """For each usable segment, the road junctions of the strongly connected piece it lies on, or 0 when
    that piece is the largest (the connected network). A one-way segment between two pieces counts as
    the smaller: a point joined on it reaches, or is reached from, only that one."""
    a, b, both = seg_u[usable], seg_v[usable], two_way[usable]
    out = np.zeros(len(seg_u), dtype=np.int64)
    if not len(a):
        return out
    graph = sparse.csr_matrix((np.ones(len(a) + int(both.sum())), (np.r_[a, b[both]], np.r_[b, a[both]])),
                              shape=(n_nodes, n_nodes))
    _, label = connected_components(graph, directed=True, connection="strong")
    touched = np.zeros(n_nodes, dtype=bool)
    touched[a] = touched[b] = True
    size = np.bincount(label[touched], minlength=int(label.max()) + 1)
    largest = int(np.argmax(size))
    la, lb = label[a], label[b]
    junctions = np.where(la == lb, size[la], np.minimum(size[la], size[lb]))
    out[usable] = np.where((la == largest) & (lb == largest), 0, junctions)
    return out


def _join_points(geoms: np.ndarray, usable: np.ndarray, piece: np.ndarray, pts: np.ndarray,
                 settings: Settings) -> Join:
    """Each point's join: its nearest usable segment, unless that lies on a small piece (fewer than
    `settings.small_component_size` junctions, not the largest) and a segment of the connected network
    lies within `max_snap_m`: then the nearest such segment."""
    seg_of, frac, dist = _nearest_segments(geoms, usable, pts, settings.max_snap_m)
    nearest_piece = np.where(seg_of >= 0, piece[np.maximum(seg_of, 0)], 0)
    small = _small(usable, piece, settings)
    on_small = (seg_of >= 0) & small[np.maximum(seg_of, 0)] & (dist <= settings.max_snap_m)
    island_junctions = np.where(on_small, nearest_piece, 0)
    island_m = np.where(on_small, dist, np.nan)
    skipped = np.zeros(len(pts), dtype=bool)
    if on_small.any():
        ask = np.flatnonzero(on_small)
        alt_seg, alt_frac, alt_dist = _nearest_segments(geoms, usable & ~small, pts[ask], settings.max_snap_m,
                                                        bounded=True)
        found = alt_dist <= settings.max_snap_m
        take = ask[found]
        seg_of, frac, dist = seg_of.copy(), frac.copy(), dist.copy()
        seg_of[take], frac[take], dist[take] = alt_seg[found], alt_frac[found], alt_dist[found]
        skipped[take] = True
    return Join(seg_of, frac, dist, island_junctions, island_m, skipped)


def _network(
    edges: gpd.GeoDataFrame, mode: str, settings: Settings, crs: str, points_xy: np.ndarray, speed: np.ndarray,
    geoms: np.ndarray, ends: np.ndarray, nodes: tuple[np.ndarray, np.ndarray, np.ndarray], join: Join,
) -> Network:
    """One mode's network from projected lines and where the points join its usable segments."""
    length = edges["length_m"].to_numpy(dtype=float)
    usable = np.isfinite(speed) & (speed > 0)
    seg_s = np.where(usable, length / np.where(usable, speed, 1.0) * 3.6, np.nan)
    two_way = ~edges["oneway"].to_numpy(dtype=bool) | (mode == "walk")

    ids, seg_u, seg_v = nodes
    n_seg = len(edges)
    node_xy = np.zeros((len(ids), 2))
    if n_seg:
        node_xy[seg_u] = ends[0]
        node_xy[seg_v] = ends[1]
    n0 = len(ids)

    k = len(points_xy)
    seg_of, frac, access = join.seg_of, join.frac, join.access_m
    joined = np.isfinite(access) & (access <= settings.max_snap_m)

    snap_node = n0 + np.arange(k)
    point_node = n0 + k + np.arange(k)
    snap_xy = points_xy.copy()
    if joined.any():
        snap_xy[joined] = shapely.get_coordinates(
            shapely.line_interpolate_point(geoms[seg_of[joined]], frac[joined], normalized=True)
        )
    all_xy = np.vstack([node_xy, snap_xy, points_xy])

    # A point that joins at a segment's end joins its end node: splitting there would hang it on
    # that segment alone (unreachable from the node when the segment is one-way).
    seg_len = np.where(seg_of >= 0, length[np.maximum(seg_of, 0)], 0.0)
    at_u = joined & (frac * seg_len <= _END_M)
    at_v = joined & ~at_u & ((1 - frac) * seg_len <= _END_M)
    join_node = snap_node.copy()
    join_node[at_u] = seg_u[seg_of[at_u]]
    join_node[at_v] = seg_v[seg_of[at_v]]
    inner = joined & ~at_u & ~at_v

    # Segment pieces: each segment from u to v, cut at the join points inside it.
    whole = usable.copy()
    whole[np.unique(seg_of[inner])] = False
    order = np.flatnonzero(inner)
    order = order[np.lexsort((frac[order], seg_of[order]))]
    o_seg = seg_of[order]
    first = np.r_[True, o_seg[1:] != o_seg[:-1]] if len(order) else np.zeros(0, bool)
    last = np.r_[o_seg[1:] != o_seg[:-1], True] if len(order) else np.zeros(0, bool)
    prev_node = np.where(first, seg_u[o_seg], np.r_[0, snap_node[order][:-1]])
    prev_frac = np.where(first, 0.0, np.r_[0.0, frac[order][:-1]])
    piece_seg = np.concatenate([np.flatnonzero(whole), o_seg, o_seg[last]])
    piece_a = np.concatenate([seg_u[whole], prev_node, snap_node[order][last]])
    piece_b = np.concatenate([seg_v[whole], snap_node[order], seg_v[o_seg[last]]])
    piece_f0 = np.concatenate([np.zeros(whole.sum()), prev_frac, frac[order][last]])
    piece_f1 = np.concatenate([np.ones(whole.sum()), frac[order], np.ones(last.sum())])
    share = piece_f1 - piece_f0
    back = two_way[piece_seg]

    # Access legs: point <-> its join node, a straight line of their own.
    legs = np.flatnonzero(joined)
    leg_geoms = shapely.linestrings(
        np.stack([points_xy[legs], snap_xy[legs]], axis=1)
    ) if len(legs) else np.zeros(0, dtype=object)
    leg_m = access[legs]
    leg_s = leg_m / settings.access_kmh * 3.6
    leg_geom_idx = n_seg + np.arange(len(legs))

    e_from = np.concatenate([piece_a, piece_b[back], point_node[legs], join_node[legs]])
    e_to = np.concatenate([piece_b, piece_a[back], join_node[legs], point_node[legs]])
    e_s = np.concatenate([share * seg_s[piece_seg], (share * seg_s[piece_seg])[back], leg_s, leg_s])
    e_m = np.concatenate([share * length[piece_seg], (share * length[piece_seg])[back], leg_m, leg_m])
    e_geom = np.concatenate([piece_seg, piece_seg[back], leg_geom_idx, leg_geom_idx])
    e_f0 = np.concatenate([piece_f0, piece_f1[back], np.zeros(len(legs)), np.ones(len(legs))])
    e_f1 = np.concatenate([piece_f1, piece_f0[back], np.ones(len(legs)), np.zeros(len(legs))])

    n_piece, n_back, n_leg = len(piece_seg), int(back.sum()), len(legs)
    e_rev = np.full(n_piece + n_back + 2 * n_leg, -1, dtype=np.int64)
    e_rev[np.flatnonzero(back)] = n_piece + np.arange(n_back)
    e_rev[n_piece: n_piece + n_back] = np.flatnonzero(back)
    leg0 = n_piece + n_back
    e_rev[leg0: leg0 + n_leg] = leg0 + n_leg + np.arange(n_leg)
    e_rev[leg0 + n_leg:] = leg0 + np.arange(n_leg)

    n = len(all_xy)
    (csr_s, fast_edge), (csr_len, _) = _collapsed_csr(e_from, e_to, (e_s, e_m), n)
    return Network(
        mode=mode, crs=crs, node_xy=all_xy, node_id=np.r_[ids, np.full(2 * k, -1)].astype(np.int64),
        edge_from=e_from.astype(np.int64), edge_to=e_to.astype(np.int64), edge_s=e_s, edge_m=e_m,
        edge_geom=e_geom.astype(np.int64), edge_f0=e_f0, edge_f1=e_f1, edge_rev=e_rev,
        geoms=np.concatenate([geoms, leg_geoms]) if len(leg_geoms) else geoms,
        csr_s=csr_s, csr_len=csr_len, fast_edge=fast_edge,
        point_node=point_node, point_access_m=access, point_joined=joined, n_segments=n_seg,
        point_island_junctions=join.island_junctions, point_island_m=join.island_m,
        point_skipped_island=join.skipped,
    )


def _nearest_segments(
    geoms: np.ndarray, usable: np.ndarray, pts: np.ndarray, max_snap_m: float, *, bounded: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Nearest usable segment of each point, the position on it (fraction 0..1) and the distance (m);
    with `bounded`, only within `max_snap_m` (-1 and inf beyond)."""
    k = len(pts)
    seg_of = np.full(k, -1, dtype=np.int64)
    frac = np.zeros(k)
    dist = np.full(k, np.inf)
    candidates = np.flatnonzero(usable)
    if len(candidates) == 0 or k == 0:
        return seg_of, frac, dist
    tree = shapely.STRtree(geoms[candidates])
    # Most points lie near a road: a bounded search answers them quickly; the rest search unbounded.
    (p_idx, t_idx), d = tree.query_nearest(pts, max_distance=max_snap_m, return_distance=True, all_matches=False)
    far = np.ones(k, dtype=bool)
    far[p_idx] = False
    if far.any() and not bounded:
        (p_far, t_far), d_far = tree.query_nearest(pts[far], return_distance=True, all_matches=False)
        p_idx = np.concatenate([p_idx, np.flatnonzero(far)[p_far]])
        t_idx = np.concatenate([t_idx, t_far])
        d = np.concatenate([d, d_far])
    seg_of[p_idx] = candidates[t_idx]
    dist[p_idx] = d
    frac[p_idx] = shapely.line_locate_point(geoms[seg_of[p_idx]], pts[p_idx], normalized=True)
    return seg_of, frac, dist


def _projected_lines(edges: gpd.GeoDataFrame, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """Edge lines in the metric `crs` and their (start, end) coordinates, shape (2, n, 2).

    Projects one flat coordinate array with pyproj and rebuilds the lines in one call: a province's
    1.7 M lines are too many to transform as separate geometry objects.
    """
    lines = np.asarray(edges.geometry.array, dtype=object)
    if len(lines) == 0:
        return lines, np.zeros((2, 0, 2))
    coords = shapely.get_coordinates(lines)
    counts = shapely.get_num_coordinates(lines)
    if edges.crs is not None and not edges.crs.equals(crs):
        x, y = Transformer.from_crs(edges.crs, crs, always_xy=True).transform(coords[:, 0], coords[:, 1])
        coords = np.column_stack([x, y])
    geoms = shapely.linestrings(coords, indices=np.repeat(np.arange(len(lines)), counts))
    last = np.cumsum(counts) - 1
    return geoms, np.stack([coords[last - counts + 1], coords[last]])


def _collapsed_csr(
    e_from: np.ndarray, e_to: np.ndarray, weights: tuple[np.ndarray, ...], n: int
) -> list[tuple[sparse.csr_matrix, np.ndarray]]:
    """CSR matrices keeping the smallest weight of parallel edges (a plain COO->CSR would sum them).

    Returns, per weight array, the matrix and, per stored entry in CSR order, the index of the edge
    kept. All matrices share one structure (same node pairs in the same order).
    """
    pair = e_from.astype(np.int64) * n + e_to
    by_pair = np.argsort(pair, kind="stable")
    p = pair[by_pair]
    start = np.r_[True, p[1:] != p[:-1]] if len(p) else np.zeros(0, bool)
    group = np.cumsum(start) - 1
    indptr = np.zeros(n + 1, dtype=np.int32)
    indptr[1:] = np.cumsum(np.bincount(e_from[by_pair[start]], minlength=n))
    indices = e_to[by_pair[start]].astype(np.int32)
    size = np.bincount(group)
    multi = np.flatnonzero(size[group] > 1)  # positions (in pair order) of parallel edges
    out = []
    for weight in weights:
        # Parallel edges are rare: pick the cheapest of each such pair among those positions only.
        kept = by_pair[start].copy()
        if len(multi):
            order = multi[np.lexsort((weight[by_pair[multi]], group[multi]))]
            first = np.r_[True, group[order][1:] != group[order][:-1]]
            kept[group[order[first]]] = by_pair[order[first]]
        data = np.maximum(weight[kept], _MIN_SECONDS)
        out.append((sparse.csr_matrix((data, indices, indptr), shape=(n, n)), kept))
    return out
