"""Travel times on hand-built networks, checked by hand and against networkx."""
from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import shapely
from hypothesis import assume, given, settings as hsettings, strategies as st

from healthreach.coverage.catchments import catchment_polygon, reached_lines
from healthreach.coverage.network import build_network
from healthreach.config import Settings
from healthreach.coverage.traveltime import bounded_costs, nearest
from netfixtures import CRS, edge_table, xy

S = Settings()
NO_ISLANDS = Settings(small_component_size=1)
KMH = 3.6  # seconds per metre at 1 km/h


def test_straight_road_time_by_hand():
    # A tertiary road (40 km/h) 1,000 m long; village 50 m north of x=200, clinic 30 m south of x=900.
    net = build_network(edge_table([[(0, 0), (1000, 0)]]), "drive", S, CRS, xy([(200, 50), (900, -30)]))
    res = nearest(net, net.point_node[[1]])
    v = net.point_node[0]
    assert res.cost[v] == pytest.approx(700 / 40 * KMH + 80 / 4 * KMH)
    assert res.metres_at([v])[0] == pytest.approx(780)
    assert list(net.point_access_m) == pytest.approx([50, 30])


def test_maxspeed_beats_class_speed_and_walk_ignores_it():
    edges = edge_table([[(0, 0), (1000, 0)]], highway="primary", maxspeed=[100.0])
    pts = xy([(0, 0), (1000, 0)])
    drive = build_network(edges, "drive", S, CRS, pts)
    walk = build_network(edges, "walk", S, CRS, pts)
    assert nearest(drive, drive.point_node[[1]]).cost[drive.point_node[0]] == pytest.approx(1000 / 100 * KMH)
    assert nearest(walk, walk.point_node[[1]]).cost[walk.point_node[0]] == pytest.approx(1000 / 4 * KMH)


def test_ambulance_is_faster_but_capped_by_design_speed():
    pts = xy([(0, 0), (1000, 0)])
    sec = build_network(edge_table([[(0, 0), (1000, 0)]], highway="secondary"), "ambulance", S, CRS, pts)
    ter = build_network(edge_table([[(0, 0), (1000, 0)]], highway="tertiary"), "ambulance", S, CRS, pts)
    # secondary: 50 x 1.2 = 60 = its design speed; tertiary: 40 x 1.2 = 48 capped at design 40.
    assert nearest(sec, sec.point_node[[1]], toward=False).cost[sec.point_node[0]] == pytest.approx(1000 / 60 * KMH)
    assert nearest(ter, ter.point_node[[1]], toward=False).cost[ter.point_node[0]] == pytest.approx(1000 / 40 * KMH)


def test_one_way_street_is_measured_toward_the_facility():
    # One-way east along y=0 (A->B), a two-way detour north via (500, 400).
    lines = [[(0, 0), (1000, 0)], [(0, 0), (500, 400), (1000, 0)]]
    edges = edge_table(lines, highway="residential", oneway=[True, False])
    pts = xy([(0, 0), (1000, 0)])  # village at A, clinic at B
    net = build_network(edges, "drive", S, CRS, pts)
    detour = 2 * float(np.hypot(500, 400))
    to_b = nearest(net, net.point_node[[1]])  # A -> B may use the one-way street
    to_a = nearest(net, net.point_node[[0]])  # B -> A must take the detour
    assert to_b.cost[net.point_node[0]] == pytest.approx(1000 / 30 * KMH)
    assert to_a.cost[net.point_node[1]] == pytest.approx(detour / 30 * KMH)
    walk = build_network(edges, "walk", S, CRS, pts)  # walkers ignore one-way restrictions
    assert nearest(walk, walk.point_node[[0]]).cost[walk.point_node[1]] == pytest.approx(1000 / 4 * KMH)


def test_a_repeated_search_is_shared_read_only_and_kept_apart_by_direction_and_weight():
    lines = [[(0, 0), (1000, 0)], [(0, 0), (500, 400), (1000, 0)]]
    edges = edge_table(lines, highway="residential", oneway=[True, False])
    net = build_network(edges, "drive", S, CRS, xy([(0, 0), (1000, 0)]))
    first = nearest(net, net.point_node[[1]])
    assert nearest(net, net.point_node[[1]]) is first
    with pytest.raises(ValueError):
        first.cost[0] = 0.0  # one caller cannot change what the next one reads
    # The other direction, the other weight and other sources are searches of their own.
    out = nearest(net, net.point_node[[1]], toward=False)
    assert out is not first and out.cost[net.point_node[0]] > first.cost[net.point_node[0]]
    assert nearest(net, net.point_node[[1]], weight="length").cost[net.point_node[0]] == pytest.approx(1000.0, abs=1.0)
    assert nearest(net, net.point_node[[0]]).cost[net.point_node[1]] > first.cost[net.point_node[0]]


def test_island_and_far_point_are_unreachable():
    lines = [[(0, 0), (1000, 0)], [(5000, 0), (6000, 0)]]
    pts = xy([(100, 10), (5500, 10), (900, 10), (20000, 0)])  # village, island village, clinic, hamlet
    net = build_network(edge_table(lines), "drive", S, CRS, pts)
    res = nearest(net, net.point_node[[2]])
    assert np.isfinite(res.cost[net.point_node[0]])
    assert np.isinf(res.cost[net.point_node[1]]) and res.source[net.point_node[1]] == -1
    assert not net.point_joined[3] and net.point_access_m[3] == pytest.approx(14000)
    assert np.isinf(res.cost[net.point_node[3]]) and np.isnan(res.metres_at([net.point_node[3]])[0])


def test_two_points_on_one_segment_are_chained_in_order():
    pts = xy([(100, 0), (600, 0), (300, 0)])
    net = build_network(edge_table([[(0, 0), (1000, 0)]]), "drive", S, CRS, pts)
    res = nearest(net, net.point_node[[1]])
    assert res.cost[net.point_node[0]] == pytest.approx(500 / 40 * KMH)
    assert res.cost[net.point_node[2]] == pytest.approx(300 / 40 * KMH)


def test_band_boundary_is_inclusive_and_partial_edges_are_cut():
    # Clinic at x=0 on a 2 km road at 40 km/h: 1,000 m takes exactly 90 s.
    net = build_network(edge_table([[(0, 0), (2000, 0)]]), "drive", S, CRS, xy([(0, 0), (1000, 0)]))
    cost = bounded_costs(net, net.point_node[[0]], 90.0)[0]
    assert cost[net.point_node[1]] == pytest.approx(90.0)
    assert np.isfinite(cost[net.point_node[1]])  # the village at exactly 90 s is inside the 90 s search
    pieces = reached_lines(net, cost, 90.0)
    reach = shapely.union_all(np.asarray(pieces, dtype=object))
    assert reach.length == pytest.approx(1000.0, abs=0.01)
    poly = catchment_polygon(pieces, 100.0)
    assert poly.contains(shapely.Point(xy([(999, 0)])[0]))
    assert not poly.contains(shapely.Point(xy([(1150, 0)])[0]))  # beyond reach + buffer


@st.composite
def road_graphs(draw):
    """Random small road graphs; nodes never lie on a segment they do not end (no hidden junctions)."""
    coords = draw(st.lists(st.tuples(st.integers(0, 20), st.integers(0, 20)), min_size=2, max_size=9, unique=True))
    pts = [(x * 100.0, y * 100.0) for x, y in coords]
    pairs = draw(st.lists(st.tuples(st.integers(0, len(pts) - 1), st.integers(0, len(pts) - 1))
                          .filter(lambda p: p[0] != p[1]), min_size=1, max_size=20))
    oneway = [draw(st.booleans()) for _ in pairs]
    highway = [draw(st.sampled_from(["primary", "tertiary", "track"])) for _ in pairs]
    for a, b in pairs:
        seg = shapely.LineString([pts[a], pts[b]])
        used = {p for pair in pairs for p in pair}
        assume(all(seg.distance(shapely.Point(pts[i])) > 1.0 for i in used if i not in (a, b)))
    return pts, pairs, oneway, highway


@hsettings(max_examples=40, deadline=None)
@given(road_graphs(), st.data())
def test_times_equal_networkx_and_adding_a_facility_never_lengthens(graph, data):
    pts, pairs, oneway, highway = graph
    lines = [[pts[a], pts[b]] for a, b in pairs]
    edges = edge_table(lines, highway=highway, oneway=oneway)
    # Points exactly at road nodes so networkx on the plain node graph is the reference.
    villages = sorted({p for pair in pairs for p in (pts[pair[0]], pts[pair[1]])})
    n_fac = data.draw(st.integers(1, min(3, len(villages))))
    fac_idx = data.draw(st.lists(st.integers(0, len(villages) - 1), min_size=n_fac, max_size=n_fac, unique=True))
    points = villages + [villages[i] for i in fac_idx]
    # Every point joins the node it stands on, small pieces included (no island joins): the reference
    # below is the plain node graph.
    net = build_network(edges, "drive", NO_ISLANDS, CRS, xy(points))
    nv = len(villages)
    res = nearest(net, net.point_node[nv:])

    g = nx.DiGraph()
    speeds = {"primary": 60, "tertiary": 40, "track": 15}
    for (a, b), one, h, line in zip(pairs, oneway, highway, lines):
        length = float(np.hypot(line[1][0] - line[0][0], line[1][1] - line[0][1]))
        w = length / speeds[h] * KMH
        for x, y in ([(pts[a], pts[b])] if one else [(pts[a], pts[b]), (pts[b], pts[a])]):
            if not g.has_edge(x, y) or g[x][y]["w"] > w:
                g.add_edge(x, y, w=w)
    targets = [villages[i] for i in fac_idx]
    reverse = g.reverse(copy=True)
    ref = nx.multi_source_dijkstra_path_length(reverse, targets, weight="w")
    for i, v in enumerate(villages):
        ours = res.cost[net.point_node[i]]
        if v in ref:
            assert ours == pytest.approx(ref[v], abs=1e-6)
        else:
            assert np.isinf(ours)

    # Adding one more facility never lengthens any time.
    extra = data.draw(st.integers(0, nv - 1))
    net2 = build_network(edges, "drive", NO_ISLANDS, CRS, xy(points + [villages[extra]]))
    res2 = nearest(net2, net2.point_node[nv:])
    before = res.cost[net.point_node[:nv]]
    after = res2.cost[net2.point_node[:nv]]
    assert np.all(after <= before + 1e-9)


@hsettings(max_examples=25, deadline=None)
@given(road_graphs(), st.integers(1, 30), st.integers(1, 30))
def test_larger_band_covers_no_fewer_and_polygons_hold_reached_points(graph, b1, b2):
    pts, pairs, oneway, highway = graph
    edges = edge_table([[pts[a], pts[b]] for a, b in pairs], highway=highway, oneway=oneway)
    nodes = sorted({p for pair in pairs for p in (pts[pair[0]], pts[pair[1]])})
    net = build_network(edges, "drive", S, CRS, xy(nodes))
    src = net.point_node[[0]]
    small, large = sorted((b1 * 10.0, b2 * 10.0))
    cost = bounded_costs(net, src, large)[0]
    v = cost[net.point_node]
    assert np.sum(v <= large + 1e-9) >= np.sum(v <= small + 1e-9)
    poly = catchment_polygon(reached_lines(net, cost, large), 50.0)
    for i in np.flatnonzero(v <= large + 1e-9):
        assert poly.buffer(1e-6).contains(shapely.Point(net.node_xy[net.point_node[i]]))
