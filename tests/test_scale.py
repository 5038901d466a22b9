"""The province-scale paths of the engine: raster catchments for all bands at once, cost blocks,
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
from healthreach.coverage.catchments import band_polygons, catchment_grid, reached_lines
from healthreach.coverage.network import build_network
from healthreach.coverage.rules import Settings
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


def _check_bands(net, cost, bands, buffer_m, *, toward=True, weight="time"):
    grid = catchment_grid(net, buffer_m, toward=toward, weight=weight)
    polygons = band_polygons(net, grid, cost, bands)
    diagonal = grid.cell_m * np.sqrt(2)
    previous = None
    for band, polygon in zip(bands, polygons):
        pieces = reached_lines(net, cost, band, toward=toward, weight=weight)
        if not pieces:
            assert polygon is None
            continue
        reach = shapely.union_all(np.asarray(pieces, dtype=object))
        assert polygon.is_valid
        # Contains every reached road point (a hair of tolerance for points on cell edges) ...
        assert polygon.buffer(1e-6).covers(reach)
        # ... and extends no farther than the buffer plus one cell diagonal beyond them.
        assert polygon.difference(reach.buffer(buffer_m + diagonal + 1e-6)).is_empty
        if previous is not None:  # bands nest
            assert previous.difference(polygon).area == pytest.approx(0.0, abs=1e-6)
        previous = polygon
    return polygons


def test_raster_catchments_match_the_exact_reached_roads_on_a_street_grid():
    rng = np.random.default_rng(3)
    lines = _grid_lines(8, 300.0, rng)
    edges = edge_table(lines, highway=list(rng.choice(["tertiary", "residential", "track"], len(lines))),
                       oneway=list(rng.random(len(lines)) < 0.1))
    pts = xy([(1000, 1000), (120, 40), (1900, 2000), (640, 1500)])
    net = build_network(edges, "drive", S, CRS, pts)
    cost = bounded_costs(net, net.point_node[[0]], 240.0)[0]
    polygons = _check_bands(net, cost, [60.0, 120.0, 180.0, 240.0], 100.0)
    assert polygons[0].area < polygons[-1].area


def test_raster_catchment_band_boundary_is_inclusive_and_partial_edges_are_cut():
    # Clinic at x=0 on a 2 km road at 40 km/h: 1,000 m takes exactly 90 s.
    net = build_network(edge_table([[(0, 0), (2000, 0)]]), "drive", S, CRS, xy([(0, 0), (1000, 0)]))
    cost = bounded_costs(net, net.point_node[[0]], 90.0)[0]
    (poly,) = _check_bands(net, cost, [90.0], 100.0)
    assert poly.contains(shapely.Point(xy([(1000, 0)])[0]))
    # 1,000 m reached + at most 100 + 70.7 m: 1,200 m is outside.
    assert not poly.contains(shapely.Point(xy([(1200, 0)])[0]))


def test_ambulance_radius_polygons_run_outward_by_distance():
    lines = [[(0, 0), (3000, 0)], [(3000, 0), (3000, 3000)], [(0, 0), (0, 2000)]]
    edges = edge_table(lines, oneway=[True, False, False])
    net = build_network(edges, "ambulance", S, CRS, xy([(0, 0)]))
    cost = bounded_costs(net, net.point_node[[0]], 4000.0, toward=False, weight="length")[0]
    polygons = _check_bands(net, cost, [1000.0, 4000.0], 150.0, toward=False, weight="length")
    assert polygons[1].contains(shapely.Point(xy([(3000, 900)])[0]))
    assert not polygons[0].contains(shapely.Point(xy([(1500, 0)])[0]))


def test_nothing_reached_gives_no_polygon():
    lines = [[(0, 0), (1000, 0)], [(5000, 0), (6000, 0)]]
    net = build_network(edge_table(lines), "drive", S, CRS, xy([(5500, 0)]))
    cost = np.full(net.n_nodes, np.inf)
    grid = catchment_grid(net, 100.0)
    assert band_polygons(net, grid, cost, [60.0, 120.0]) == [None, None]
    with pytest.raises(ValueError):
        band_polygons(net, grid, cost, [120.0, 60.0])


@hsettings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 6), st.floats(60.0, 400.0), st.sampled_from([40.0, 100.0, 250.0]))
def test_random_grids_keep_the_polygon_invariants(seed, n, band, buffer_m):
    rng = np.random.default_rng(seed)
    lines = _grid_lines(n, 250.0, rng)
    if not lines:
        return
    edges = edge_table(lines, highway=list(rng.choice(["primary", "tertiary", "track"], len(lines))),
                       oneway=list(rng.random(len(lines)) < 0.3))
    pts = xy([tuple(rng.uniform(0, 250.0 * (n - 1), 2)) for _ in range(4)])
    net = build_network(edges, "drive", S, CRS, pts)
    source = net.point_node[[int(rng.integers(0, 4))]]
    bands = [band / 3, band / 2, band]
    cost = bounded_costs(net, source, band)[0]
    _check_bands(net, cost, bands, buffer_m)


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


def test_parallel_roads_keep_the_fastest_for_time_and_the_shortest_for_length():
    # Two roads between the same junctions: a straight track (1,000 m at 15 km/h) and a bent
    # primary (about 1,414 m at 60 km/h); time takes the primary, length the track.
    lines = [[(0, 0), (1000, 0)], [(0, 0), (500, 500), (1000, 0)]]
    edges = edge_table(lines, highway=["track", "primary"])
    net = build_network(edges, "drive", S, CRS, xy([(0, 0), (1000, 0)]))
    a, b = net.point_node
    bent = 2 * np.hypot(500, 500)
    assert nearest(net, [b]).cost[a] == pytest.approx(bent / 60 * KMH)
    assert nearest(net, [b]).metres[a] == pytest.approx(bent)
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
