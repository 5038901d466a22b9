"""The split catchments' compiled raster kernel against a plain numpy reference that builds every piece of
road, its vertices and the cells it crosses as arrays (the kernel's former implementation)."""
from __future__ import annotations

import numpy as np
import shapely
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from netfixtures import CRS, edge_table, xy

from healthreach.config import Settings
from healthreach.coverage.network import build_network
from healthreach.coverage.split_areas import _EPS, split_areas
from healthreach.coverage.traveltime import nearest

S = Settings()


def _reference_grid(net, near, bands, buffer_m, *, toward, weight):
    """(band_of, owner, x0, y0) of the split areas, computed piece by piece with numpy."""
    cell = buffer_m / np.sqrt(2.0)
    bands = np.asarray(bands, dtype=float)
    part_band, part_owner, part_cost, coords, part = _owned_pieces(net, near, bands + _EPS, toward=toward,
                                                                  weight=weight)
    which, ix, iy = _supercover(coords, part, cell)
    x0, y0 = ix.min() - 1, iy.min() - 1
    height, width = int(iy.max() - y0 + 2), int(ix.max() - x0 + 2)
    span = float(bands[-1]) * 2.0 + 1.0
    key = part_band[which] * span + part_cost[which]
    cell_id = (iy - y0) * width + (ix - x0)
    best = np.full(height * width, np.inf)
    np.minimum.at(best, cell_id, key)
    won = key == best[cell_id]
    owner = np.full(height * width, np.iinfo(np.int32).max, dtype=np.int32)
    np.minimum.at(owner, cell_id[won], part_owner[which[won]])  # of equal keys, the lowest source
    owner[owner == np.iinfo(np.int32).max] = -1
    best, owner = best.reshape(height, width), owner.reshape(height, width)
    grown, grown_owner = best.copy(), owner.copy()
    for dst, src in (((slice(1, None),), (slice(None, -1),)), ((slice(None, -1),), (slice(1, None),)),
                     ((slice(None), slice(1, None)), (slice(None), slice(None, -1))),
                     ((slice(None), slice(None, -1)), (slice(None), slice(1, None)))):
        closer = best[src] < grown[dst]
        grown[dst][closer] = best[src][closer]
        grown_owner[dst][closer] = owner[src][closer]
    band_of = np.where(np.isfinite(grown), np.floor(grown / span), np.inf)
    return band_of, np.where(np.isfinite(band_of), grown_owner, -1), int(x0), int(y0)


def _owned_pieces(net, near, limits, *, toward, weight):
    """Pieces of road, each within one band and owned by one source: band, owner, cost at its start, and
    the pieces' vertices with the piece of each."""
    w = net.edge_s if weight == "time" else net.edge_m
    end, far = (net.edge_to, net.edge_from) if toward else (net.edge_from, net.edge_to)
    d_all = near.cost[end]
    edges = np.flatnonzero(np.isfinite(d_all) & (d_all <= limits[-1]))
    d_end, d_far, w_e = d_all[edges], near.cost[far[edges]], w[edges]
    rev = net.edge_rev[edges]
    w_back = np.where(rev >= 0, w[np.maximum(rev, 0)], np.inf)
    both = np.isfinite(w_back) & np.isfinite(d_far) & (w_e + w_back > 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r_equal = np.where(both, (d_far + w_back - d_end) / np.where(both, w_e + w_back, 1.0), 1.0)
        r_band = np.where(w_e[:, None] > 0, (limits[None, :] - d_end[:, None]) / w_e[:, None], np.inf)
    hi = np.minimum(np.clip(r_band, 0.0, 1.0), np.clip(r_equal, 0.0, 1.0)[:, None])
    lo = np.concatenate([np.zeros((len(edges), 1)), hi[:, :-1]], axis=1)
    first = np.searchsorted(limits, d_end, side="left")
    k = np.arange(len(limits))[None, :]
    keep = (hi > lo + 1e-12) | ((k == first[:, None]) & (d_end == 0.0)[:, None])
    row, band = np.nonzero(keep)
    r0, r1 = lo[row, band], hi[row, band]
    cost = d_end[row] + r0 * w_e[row]
    owner = near.source[end[edges[row]]]
    piece_edge = edges[row]
    f0, f1 = net.edge_f0[piece_edge], net.edge_f1[piece_edge]
    whole = (r0 <= 0.0) & (r1 >= 1.0) & (np.minimum(f0, f1) <= 0.0) & (np.maximum(f0, f1) >= 1.0)
    at_whole, at_cut = np.flatnonzero(whole), np.flatnonzero(~whole)
    whole_xy, whole_part = shapely.get_coordinates(net.geoms[net.edge_geom[piece_edge[at_whole]]], return_index=True)
    cut_xy, cut_part = _cut_pieces(net, piece_edge[at_cut], r0[at_cut], r1[at_cut], toward=toward)
    coords = np.vstack([whole_xy, cut_xy])
    part = np.concatenate([at_whole[whole_part], at_cut[cut_part]])
    return band.astype(float), owner.astype(np.int32), cost, coords, part


def _cut_pieces(net, edges, start, stop, *, toward):
    """Vertices of the part of each edge from `start` to `stop` (shares from its source-side end)."""
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
    # Each line's vertex fractions from its own running sum (as the kernel adds them up).
    step = np.r_[0.0, np.hypot(*np.diff(coords, axis=0).T)]
    step[first] = 0.0
    along = np.concatenate([np.cumsum(step[a:a + c]) for a, c in zip(first, count)])
    total = np.repeat(along[first + count - 1], count)
    t = along / np.where(total > 0, total, 1.0)
    inner = (t > lo[piece]) & (t < hi[piece])
    n_inner = np.bincount(piece[inner], minlength=n)
    size = n_inner + 2
    offset = np.cumsum(size) - size
    out = np.empty((int(size.sum()), 2))
    out[offset] = _point_at(coords, piece, t, first, count, lo)
    out[offset + size - 1] = _point_at(coords, piece, t, first, count, hi)
    inner_piece = piece[inner]
    rank = np.arange(len(inner_piece)) - np.repeat(np.cumsum(n_inner) - n_inner, n_inner)
    out[offset[inner_piece] + 1 + rank] = coords[inner]
    return out, np.repeat(np.arange(n), size)


def _point_at(coords, piece, t, first, count, at):
    """Point at fraction `at[i]` along line i."""
    before = np.bincount(piece, weights=t <= at[piece], minlength=len(at)).astype(np.int64)
    i = first + np.clip(before - 1, 0, count - 2)
    span = t[i + 1] - t[i]
    w = np.clip(np.where(span > 0, (at - t[i]) / np.where(span > 0, span, 1.0), 0.0), 0.0, 1.0)
    return coords[i] + (coords[i + 1] - coords[i]) * w[:, None]


def _supercover(coords, part, cell):
    """Cells (column, row) crossed by polylines, with the polyline of each, sampled at most a cell apart."""
    seg = np.flatnonzero(part[1:] == part[:-1])
    p, q = coords[seg], coords[seg + 1]
    n_sub = np.maximum(1, np.ceil(np.hypot(*(q - p).T) / cell)).astype(np.int64)
    rep = np.repeat(np.arange(len(seg)), n_sub + 1)
    j = np.arange(rep.size) - np.repeat(np.cumsum(n_sub + 1) - (n_sub + 1), n_sub + 1)
    sample = p[rep] + (q - p)[rep] * (j / n_sub[rep])[:, None]
    ix = np.floor(sample[:, 0] / cell).astype(np.int64)
    iy = np.floor(sample[:, 1] / cell).astype(np.int64)
    owner = part[seg][rep]
    step = np.flatnonzero((rep[1:] == rep[:-1]) & (ix[1:] != ix[:-1]) & (iy[1:] != iy[:-1]))
    return (np.concatenate([owner, owner[step], owner[step]]), np.concatenate([ix, ix[step], ix[step + 1]]),
            np.concatenate([iy, iy[step + 1], iy[step]]))


def _random_roads(rng, n):
    """A perturbed street grid with blocks missing, its lines bent through a few vertices (metres)."""
    pts = {(i, j): (i * 300.0 + rng.uniform(-40, 40), j * 300.0 + rng.uniform(-40, 40))
           for i in range(n) for j in range(n)}
    lines = []
    for (i, j), p in pts.items():
        for q in ((i + 1, j), (i, j + 1)):
            if q in pts and rng.random() > 0.2:
                inner = [(p[0] + (pts[q][0] - p[0]) * s + rng.uniform(-25, 25),
                          p[1] + (pts[q][1] - p[1]) * s + rng.uniform(-25, 25))
                         for s in np.sort(rng.uniform(0.05, 0.95, rng.integers(0, 4)))]
                lines.append([p, *inner, pts[q]])
    return lines


@hsettings(max_examples=30, deadline=None)
@given(st.integers(0, 100_000), st.integers(3, 6), st.sampled_from([30.0, 100.0, 250.0]), st.integers(1, 5),
       st.booleans())
def test_the_kernel_draws_the_reference_grid(seed, n, buffer_m, n_sources, ambulance):
    rng = np.random.default_rng(seed)
    lines = _random_roads(rng, n)
    if not lines:
        return
    edges = edge_table(lines, highway=list(rng.choice(["primary", "tertiary", "track"], len(lines))),
                       oneway=list(rng.random(len(lines)) < 0.3))
    # Points join the roads part-way along, so many edges cover only part of their line.
    pts = xy([tuple(rng.uniform(-50, 300.0 * (n - 1) + 50, 2)) for _ in range(8)])
    toward, weight = (False, "length") if ambulance else (True, "time")
    net = build_network(edges, "ambulance" if ambulance else "drive", S, CRS, pts)
    near = nearest(net, net.point_node[rng.choice(8, n_sources, replace=False)], toward=toward, weight=weight)
    top = float(np.nanmax(np.where(np.isfinite(near.cost), near.cost, np.nan)))
    bands = sorted(rng.uniform(0.05, 0.8, 3) * top)
    areas = split_areas(net, near, bands, buffer_m, toward=toward, weight=weight)
    band_of, owner, x0, y0 = _reference_grid(net, near, bands, buffer_m, toward=toward, weight=weight)
    assert areas.transform.c == x0 * areas.cell_m and areas.transform.f == y0 * areas.cell_m
    np.testing.assert_array_equal(areas.band_of, band_of)
    np.testing.assert_array_equal(areas.owner, owner)
    assert (areas.owner >= 0).any()
