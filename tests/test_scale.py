"""The province-scale paths of the engine: split catchments of all facilities from one search, cost blocks,
parallel-edge collapsing and array projection, cross-checked against the exact small-scale methods."""
from __future__ import annotations

import numpy as np
import pytest
import shapely
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from netfixtures import CRS, edge_table, xy

from healthreach.coverage import traveltime
from healthreach.coverage.allocation import allocated_pieces
from healthreach.coverage.catchments import reached_lines
from healthreach.coverage.network import build_network
from healthreach.config import Settings
from healthreach.coverage.split_areas import split_areas
from healthreach.coverage.traveltime import bounded_cost_blocks, bounded_costs, nearest

S = Settings()
KMH = 3.6


def _grid_lines(n: int, spacing: float, rng: np.random.Generator) -> list[list[tuple[float, float]]]:
    """A small perturbed street grid with some blocks missing (metres)."""
    pts = {(i, j): (i * spacing + rng.uniform(-20, 20), j * spacing + rng.uniform(-20, 20))
           for i in range(n) for j in range(n)}
    lines = []
    for (i, j), p in pts.items():
        for q in ((i + 1, j), (i, j + 1)):
            if q in pts and rng.random() > 0.15:
                mid = ((p[0] + pts[q][0]) / 2 + rng.uniform(-15, 15), (p[1] + pts[q][1]) / 2 + rng.uniform(-15, 15))
                lines.append([p, mid, pts[q]])
    return lines


def _check_split(net, sources, bands, buffer_m, *, toward=True, weight="time"):
    """Split areas of `sources` checked against the exact reached roads of the same search."""
    near = nearest(net, sources, toward=toward, weight=weight)
    areas = split_areas(net, near, bands, buffer_m, toward=toward, weight=weight)
    diagonal = areas.cell_m * np.sqrt(2)
    for k, band in enumerate(bands):
        pieces = reached_lines(net, near.cost, band, toward=toward, weight=weight)
        whole, own = areas.dissolved_of(k), areas.own[k]
        if not pieces:
            assert whole is None and own == {}
            continue
        reach = shapely.union_all(np.asarray(pieces, dtype=object))
        assert whole.is_valid and all(p.is_valid for p in own.values())
        # Together they contain every reached road point (a hair of tolerance for points on cell edges) ...
        assert whole.buffer(1e-6).covers(reach)
        # ... and extend no farther than the buffer plus one cell diagonal beyond them.
        assert whole.difference(reach.buffer(buffer_m + diagonal + 1e-6)).is_empty
        # The facilities' own areas tile the dissolved one without overlapping.
        assert sum(p.area for p in own.values()) == pytest.approx(whole.area, rel=1e-9)
        assert shapely.union_all(list(own.values())).symmetric_difference(whole).area == pytest.approx(0, abs=1e-3)
        if toward and weight == "time":
            # A facility's own road farther than two cells from any other's lies in its own polygon.
            pieces, owner = allocated_pieces(net, near, band)
            for s, polygon in own.items():
                mine = [p for p, o in zip(pieces, owner) if o == s]
                others = shapely.union_all([p for p, o in zip(pieces, owner) if o != s] or [shapely.Point()])
                away = shapely.union_all(mine).difference(others.buffer(2 * diagonal))
                assert away.is_empty or polygon.buffer(1e-6).covers(away)
        if k:  # bands nest, facility by facility
            for s, polygon in areas.own[k - 1].items():
                assert polygon.difference(own[s]).area == pytest.approx(0.0, abs=1e-6)
    return areas


def test_split_catchments_match_the_exact_reached_roads_on_a_street_grid():
    rng = np.random.default_rng(3)
    lines = _grid_lines(8, 300.0, rng)
    edges = edge_table(lines, highway=list(rng.choice(["tertiary", "residential", "track"], len(lines))),
                       oneway=list(rng.random(len(lines)) < 0.1))
    pts = xy([(1000, 1000), (120, 40), (1900, 2000), (640, 1500)])
    net = build_network(edges, "drive", S, CRS, pts)
    one = _check_split(net, net.point_node[[0]], [60.0, 120.0, 180.0, 240.0], 100.0)
    assert one.own[0][0].area < one.own[-1][0].area
    three = _check_split(net, net.point_node[[0, 1, 2]], [60.0, 120.0, 180.0, 240.0], 100.0)
    assert sorted(three.own[-1]) == [0, 1, 2]
    # Adding facilities takes area from the first one and adds to the whole.
    assert three.own[-1][0].area < one.own[-1][0].area
    assert three.dissolved_of(3).area >= one.dissolved_of(3).area - 1e-6


def test_split_catchment_band_boundary_is_inclusive_and_partial_edges_are_cut():
    # Clinic at x=0 on a 2 km road at 40 km/h: 1,000 m takes exactly 90 s.
    net = build_network(edge_table([[(0, 0), (2000, 0)]]), "drive", S, CRS, xy([(0, 0), (1000, 0)]))
    areas = _check_split(net, net.point_node[[0]], [90.0], 100.0)
    poly = areas.own[0][0]
    assert poly.contains(shapely.Point(xy([(1000, 0)])[0]))
    # 1,000 m reached + at most 100 + 70.7 m: 1,200 m is outside.
    assert not poly.contains(shapely.Point(xy([(1200, 0)])[0]))


def test_a_road_between_two_clinics_is_split_where_they_are_equally_near():
    # Clinics at x=0 and x=2,000 on one road: each owns its half; the middle goes to neither's polygon
    # by more than a cell.
    net = build_network(edge_table([[(0, 0), (2000, 0)]]), "drive", S, CRS, xy([(0, 0), (2000, 0)]))
    areas = _check_split(net, net.point_node, [600.0], 100.0)
    left, right = areas.own[0][0], areas.own[0][1]
    assert left.contains(shapely.Point(xy([(800, 0)])[0])) and not left.contains(shapely.Point(xy([(1200, 0)])[0]))
    assert right.contains(shapely.Point(xy([(1200, 0)])[0]))
    assert not left.intersection(right).area


def test_ambulance_radius_split_areas_run_outward_by_distance():
    lines = [[(0, 0), (3000, 0)], [(3000, 0), (3000, 3000)], [(0, 0), (0, 2000)]]
    edges = edge_table(lines, oneway=[True, False, False])
    net = build_network(edges, "ambulance", S, CRS, xy([(0, 0)]))
    areas = _check_split(net, net.point_node[[0]], [1000.0, 4000.0], 150.0, toward=False, weight="length")
    assert areas.own[1][0].contains(shapely.Point(xy([(3000, 900)])[0]))
    assert not areas.own[0][0].contains(shapely.Point(xy([(1500, 0)])[0]))


def test_every_two_way_edge_knows_its_reverse():
    rng = np.random.default_rng(4)
    lines = _grid_lines(5, 300.0, rng)
    edges = edge_table(lines, oneway=list(rng.random(len(lines)) < 0.3))
    net = build_network(edges, "drive", S, CRS, xy([tuple(rng.uniform(0, 1200, 2)) for _ in range(5)]))
    rev = net.edge_rev
    has = np.flatnonzero(rev >= 0)
    assert 0 < len(has) < len(rev)  # one-way roads have none
    np.testing.assert_array_equal(rev[rev[has]], has)
    np.testing.assert_array_equal(net.edge_from[rev[has]], net.edge_to[has])
    np.testing.assert_array_equal(net.edge_geom[rev[has]], net.edge_geom[has])
    np.testing.assert_allclose(net.edge_f0[rev[has]], net.edge_f1[has])
    # An edge without a reverse is a one-way road piece: nothing else runs along it.
    lone = np.flatnonzero(rev < 0)
    pieces = set(zip(net.edge_geom[has], np.minimum(net.edge_f0, net.edge_f1)[has].round(9)))
    assert not pieces & set(zip(net.edge_geom[lone], np.minimum(net.edge_f0, net.edge_f1)[lone].round(9)))


def test_nothing_reached_gives_no_polygon():
    lines = [[(0, 0), (1000, 0)], [(5000, 0), (6000, 0)]]
    net = build_network(edge_table(lines), "drive", S, CRS, xy([(5500, 0)]))
    near = nearest(net, np.zeros(0, dtype=np.int64))
    areas = split_areas(net, near, [60.0, 120.0], 100.0)
    assert [areas.dissolved_of(k) for k in range(2)] == [None, None] and areas.own == [{}, {}]
    with pytest.raises(ValueError):
        split_areas(net, near, [120.0, 60.0], 100.0)


@hsettings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 6), st.floats(60.0, 400.0), st.sampled_from([40.0, 100.0, 250.0]),
       st.integers(1, 4))
def test_random_grids_keep_the_split_polygon_invariants(seed, n, band, buffer_m, n_sources):
    rng = np.random.default_rng(seed)
    lines = _grid_lines(n, 250.0, rng)
    if not lines:
        return
    edges = edge_table(lines, highway=list(rng.choice(["primary", "tertiary", "track"], len(lines))),
                       oneway=list(rng.random(len(lines)) < 0.3))
    pts = xy([tuple(rng.uniform(0, 250.0 * (n - 1), 2)) for _ in range(4)])
    net = build_network(edges, "drive", S, CRS, pts)
    sources = net.point_node[rng.choice(4, n_sources, replace=False)]
    _check_split(net, sources, [band / 3, band / 2, band], buffer_m)


def test_cost_blocks_equal_the_whole_matrix(monkeypatch):
    rng = np.random.default_rng(5)
    net = build_network(edge_table(_grid_lines(5, 300.0, rng)), "drive", S, CRS,
                        xy([tuple(rng.uniform(0, 1200, 2)) for _ in range(7)]))
    sources = net.point_node
    whole = bounded_costs(net, sources, 150.0)
    monkeypatch.setattr(traveltime, "_BLOCK_BYTES", 8 * net.n_nodes * 2)  # two sources a block
    blocks = list(bounded_cost_blocks(net, sources, 150.0))
    assert [len(b) for b in blocks] == [2, 2, 2, 1]
    np.testing.assert_array_equal(np.vstack(blocks), whole)
    # Only some columns (the villages), gathered block by block.
    at = net.point_node[[4, 0, 6]]
    np.testing.assert_array_equal(bounded_costs(net, sources, 150.0, at=at), whole[:, at])


def test_parallel_roads_keep_the_fastest_for_time_and_the_shortest_for_length():
    # Two roads between the same junctions: a straight track (1,000 m at 15 km/h) and a bent
    # primary (about 1,414 m at 60 km/h); time takes the primary, length the track.
    lines = [[(0, 0), (1000, 0)], [(0, 0), (500, 500), (1000, 0)]]
    edges = edge_table(lines, highway=["track", "primary"])
    net = build_network(edges, "drive", S, CRS, xy([(0, 0), (1000, 0)]))
    a, b = net.point_node
    bent = 2 * np.hypot(500, 500)
    assert nearest(net, [b]).cost[a] == pytest.approx(bent / 60 * KMH)
    assert nearest(net, [b]).metres_at([a])[0] == pytest.approx(bent)
    assert nearest(net, [b], weight="length").cost[a] == pytest.approx(1000.0)


def test_projected_road_nodes_match_geopandas():
    rng = np.random.default_rng(9)
    edges = edge_table(_grid_lines(4, 500.0, rng))
    net = build_network(edges, "walk", S, CRS, np.zeros((0, 2)))
    metric = edges.geometry.to_crs(CRS)
    starts = shapely.get_coordinates(shapely.get_point(metric.to_numpy(), 0))
    ids = np.unique(np.concatenate([edges["u"], edges["v"]]))
    np.testing.assert_allclose(net.node_xy[np.searchsorted(ids, edges["u"])], starts, atol=1e-6)
    np.testing.assert_allclose(shapely.length(net.geoms), metric.length, rtol=1e-9)


def _metres_by_pointer_jumping(net, near):
    """Route metres of every node recomputed a different way: pointer jumping over the whole tree."""
    pred = near.pred
    n = len(pred)
    has = pred >= 0
    idx = np.flatnonzero(has)
    a, b = (idx, pred[idx]) if near.toward else (pred[idx], idx)
    total = np.zeros(n)
    total[idx] = net.metres_of_fastest(a, b)
    parent = np.where(has, pred, np.arange(n))
    while not np.array_equal(parent[parent], parent):
        total = total + total[parent] * (parent != np.arange(n))
        parent = parent[parent]
    return np.where(np.isfinite(near.cost), total, np.nan)


@pytest.mark.parametrize("toward", [True, False])
def test_route_metres_of_villages_equal_the_whole_tree_recomputed(toward):
    rng = np.random.default_rng(11)
    lines = _grid_lines(12, 300.0, rng)
    edges = edge_table(lines, highway=list(rng.choice(["primary", "tertiary", "track"], len(lines))),
                       oneway=list(rng.random(len(lines)) < 0.2))
    net = build_network(edges, "drive", S, CRS, xy([tuple(rng.uniform(0, 3300, 2)) for _ in range(40)]))
    near = nearest(net, net.point_node[:4], toward=toward)
    every = np.arange(net.n_nodes)
    np.testing.assert_allclose(near.metres_at(every), _metres_by_pointer_jumping(net, near), rtol=1e-12)
    assert np.nanmax(near.metres_at(every)) > 3000  # long routes, many steps up the tree
    by_length = nearest(net, net.point_node[:4], toward=toward, weight="length")
    np.testing.assert_array_equal(by_length.metres_at(every), np.where(np.isfinite(by_length.cost), by_length.cost,
                                                                       np.nan))
    # The fastest route is never shorter than the shortest one.
    assert np.all(near.metres_at(every)[np.isfinite(near.cost)] >= by_length.cost[np.isfinite(near.cost)] - 1e-6)
