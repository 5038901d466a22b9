"""Sparse cost pairs (bounded_pairs) against scipy's and networkx's Dijkstra, and its edge cases."""
from __future__ import annotations

from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from healthreach import data
from healthreach.coverage.network import build_network
from healthreach.coverage import pairs as pairs_module
from healthreach.coverage.node_order import hilbert_order, renumbered
from healthreach.coverage.pairs import CostPairs, bounded_pairs
from healthreach.layers.roads import read_project_roads
from healthreach.config import settings_from_parameters
from healthreach.layers.crs import metric_xy
from healthreach.layers.project import load_project

SAMPLE_PROJECT = Path(data.__file__).parent / "samples" / "county" / "project.yml"


def random_graph(seed: int, n: int = 300) -> sparse.csr_matrix:
    return random_network(seed, n)[0]


def random_network(seed: int, n: int = 300) -> tuple[sparse.csr_matrix, np.ndarray]:
    """A road-like directed graph: two clusters of near neighbours (no edge between them), isolated
    nodes, mostly two-way edges with some one-way, and parallel edges collapsed to the cheapest; and
    its nodes' coordinates (metres)."""
    rng = np.random.default_rng(seed)
    xy = rng.uniform(0, 1000, (n, 2))
    cluster = np.where(np.arange(n) < n // 2, 0, 1)
    cluster[rng.choice(n, 10, replace=False)] = -1  # isolated: no edges at all
    d = np.hypot(*(xy[:, None, :] - xy[None, :, :]).transpose(2, 0, 1))
    d[(cluster[:, None] != cluster[None, :]) | (cluster[:, None] < 0) | np.eye(n, dtype=bool)] = np.inf
    # Each node links to 3 of its 5 nearest nodes of its own cluster.
    near = np.argsort(d, axis=1)[:, :5]
    u = np.repeat(np.arange(n), 3)
    v = near[u, np.concatenate([rng.choice(5, 3, replace=False) for _ in range(n)])]
    ok = np.isfinite(d[u, v])
    u, v = u[ok], v[ok]
    d = d[u, v]
    w = d / rng.choice([15.0, 30.0, 60.0], len(u)) * 3.6  # seconds at a class speed
    two_way = rng.random(len(u)) > 0.2
    a, b, w = np.r_[u, v[two_way]], np.r_[v, u[two_way]], np.r_[w, w[two_way]]
    dup = rng.random(len(a)) < 0.1  # parallel edges, dearer or cheaper than the first
    a, b, w = np.r_[a, a[dup]], np.r_[b, b[dup]], np.r_[w, w[dup] * rng.uniform(0.5, 1.5, dup.sum())]
    best: dict[tuple[int, int], float] = {}
    for i, j, c in zip(a.tolist(), b.tolist(), w.tolist()):
        best[i, j] = min(c, best.get((i, j), np.inf))
    pairs = np.array(list(best.keys()))
    return sparse.csr_matrix((list(best.values()), (pairs[:, 0], pairs[:, 1])), shape=(n, n)), xy


def reference(graph: sparse.csr_matrix, sources: np.ndarray, targets: np.ndarray, limit: float) -> CostPairs:
    """The pairs from scipy's dense bounded Dijkstra, restricted to the targets and sorted."""
    d = dijkstra(graph, directed=True, indices=sources, limit=limit + 1e-6)[:, targets].reshape(len(sources), -1)
    s, t = np.nonzero(np.isfinite(d))
    c = d[s, t]
    order = np.lexsort((t, c, s))
    return CostPairs(s[order], t[order], c[order], len(sources), len(targets))


def assert_same(ours: CostPairs, ref: CostPairs) -> None:
    assert (ours.n_sources, ours.n_targets) == (ref.n_sources, ref.n_targets)
    assert ours.source.dtype == ours.target.dtype == np.int64 and ours.cost.dtype == np.float64
    np.testing.assert_array_equal(ours.source, ref.source)
    np.testing.assert_array_equal(ours.target, ref.target)
    # Bit for bit: any exact shortest-path search sums each path's edges in the same order.
    np.testing.assert_array_equal(ours.cost, ref.cost)


@pytest.mark.parametrize("seed", range(6))
def test_random_graphs_match_scipy(seed: int):
    graph = random_graph(seed)
    rng = np.random.default_rng(100 + seed)
    sources = rng.integers(0, graph.shape[0], 40)  # repeats likely, in both
    targets = rng.integers(0, graph.shape[0], 120)
    full = dijkstra(graph, indices=sources)
    limit = float(np.median(full[np.isfinite(full) & (full > 0)]))  # cuts through every cluster
    ours = bounded_pairs(graph, sources, targets, limit, threads=2)
    ref = reference(graph, sources, targets, limit)
    assert_same(ours, ref)
    # The test has teeth: some reachable targets lie beyond the limit, some nodes are unreachable.
    assert 0 < len(ours) < np.isfinite(full[:, targets]).sum() < full[:, targets].size
    # The reverse graph (searches toward the sources) agrees with scipy too.
    reverse = graph.T.tocsr()
    assert_same(bounded_pairs(reverse, sources, targets, limit), reference(reverse, sources, targets, limit))


def test_small_graph_with_zero_and_parallel_edges_matches_networkx():
    edges = [(0, 1, 2.0), (1, 2, 0.0), (2, 3, 1.5), (3, 0, 4.0), (0, 2, 5.0), (1, 4, 3.0), (4, 3, 0.0),
             (5, 6, 1.0), (2, 5, 7.5), (3, 1, 1.0), (6, 0, 2.0)]
    parallel = [(0, 1, 3.0), (2, 3, 1.0)]  # a dearer and a cheaper second edge
    g = nx.DiGraph()
    for u, v, w in edges + parallel:
        if not g.has_edge(u, v) or g[u][v]["weight"] > w:
            g.add_edge(u, v, weight=w)
    n = 7
    rows, cols = zip(*g.edges())
    csr = sparse.csr_matrix(([g[u][v]["weight"] for u, v in g.edges()], (rows, cols)), shape=(n, n))
    targets = np.arange(n)
    for limit in (0.0, 1.0, 3.0, 6.0, 100.0):
        pairs = bounded_pairs(csr, targets, targets, limit)
        for s in range(n):
            expect = nx.single_source_dijkstra_path_length(g, s, cutoff=limit)
            mine = pairs.source == s
            assert dict(zip(pairs.target[mine].tolist(), pairs.cost[mine].tolist())) == pytest.approx(expect)
    # A csr_array works as well as a csr_matrix.
    assert_same(bounded_pairs(sparse.csr_array(csr), targets, targets, 6.0), bounded_pairs(csr, targets, targets, 6.0))
    # The zero-weight edge 1 -> 2 counts: 2 is as near as 1.
    near = bounded_pairs(csr, [0], [2, 1], 2.0)
    assert near.target.tolist() == [0, 1] and near.cost.tolist() == [2.0, 2.0]


def test_limit_is_inclusive_and_forgives_rounding():
    # A chain 0 -> 1 -> 2 -> 3 of 0.1 each: 0.1 + 0.1 + 0.1 is 0.30000000000000004 in floating point.
    chain = sparse.csr_matrix(([0.1, 0.1, 0.1], ([0, 1, 2], [1, 2, 3])), shape=(4, 4))
    assert bounded_pairs(chain, [0], [3], 0.3).target.tolist() == [0]
    assert len(bounded_pairs(chain, [0], [3], 0.2999)) == 0
    whole = sparse.csr_matrix(([1.0, 1.0, 1.0], ([0, 1, 2], [1, 2, 3])), shape=(4, 4))
    assert bounded_pairs(whole, [0], [3, 2], 3.0).cost.tolist() == [2.0, 3.0]
    assert bounded_pairs(whole, [0], [3, 2], 2.99).cost.tolist() == [2.0]
    assert len(bounded_pairs(whole, [3], [0, 1, 2], 10.0)) == 0  # edges are followed one way only


def test_source_as_target_repeats_and_ordering():
    # A 6 x 6 grid of unit edges both ways: many targets tie at equal cost.
    side = 6
    idx = np.arange(side * side).reshape(side, side)
    a = np.r_[idx[:-1].ravel(), idx[:, :-1].ravel()]
    b = np.r_[idx[1:].ravel(), idx[:, 1:].ravel()]
    grid = sparse.csr_matrix((np.ones(2 * len(a)), (np.r_[a, b], np.r_[b, a])), shape=(side**2, side**2))
    targets = np.array([35, 14, 7, 14, 0, 21, 35, 8])  # node 14 and 35 twice
    sources = np.array([14, 0, 14])
    pairs = bounded_pairs(grid, sources, targets, 4.0)
    assert_same(pairs, reference(grid, sources, targets, 4.0))
    first = pairs.source == 0
    # Node 14 (at positions 1 and 3) is the source itself; 8 is 1 away, 7 and 21 are 2, 0 is 4.
    assert pairs.target[first].tolist() == [1, 3, 7, 2, 5, 4]
    assert pairs.cost[first].tolist() == [0.0, 0.0, 1.0, 2.0, 2.0, 4.0]
    for s in range(len(sources)):  # per source: cost non-decreasing, ties by target position
        mine = pairs.source == s
        key = list(zip(pairs.cost[mine], pairs.target[mine]))
        assert key == sorted(key)
    np.testing.assert_array_equal(pairs.source[pairs.source != 1], np.repeat([0, 2], first.sum()))
    assert pairs.target[pairs.source == 2].tolist() == pairs.target[first].tolist()
    # Every node a target, in shuffled order and some twice: ties everywhere, ordered by position.
    shuffled = np.r_[np.random.default_rng(5).permutation(side**2), [3, 17, 3]]
    everywhere = bounded_pairs(grid, np.arange(side**2), shuffled, 5.0)
    assert_same(everywhere, reference(grid, np.arange(side**2), shuffled, 5.0))


def test_empty_inputs():
    graph = random_graph(0, 50)
    for sources, targets in (([], [1, 2]), ([1, 2], []), ([], [])):
        pairs = bounded_pairs(graph, np.array(sources, dtype=np.int64), np.array(targets, dtype=np.int64), 60.0)
        assert len(pairs) == 0 and (pairs.n_sources, pairs.n_targets) == (len(sources), len(targets))
        assert pairs.source.dtype == pairs.target.dtype == np.int64 and pairs.cost.dtype == np.float64
    assert len(bounded_pairs(sparse.csr_matrix((1, 1)), [0], [0], 0.0)) == 1  # a lone node reaches itself


def test_threads_give_identical_output():
    graph = random_graph(3, 400)
    rng = np.random.default_rng(9)
    sources = rng.integers(0, 400, 300)
    targets = rng.integers(0, 400, 200)
    limit = 150.0
    one = bounded_pairs(graph, sources, targets, limit, threads=1)
    for threads in (2, 7):
        other = bounded_pairs(graph, sources, targets, limit, threads=threads)
        for field in ("source", "target", "cost"):
            np.testing.assert_array_equal(getattr(one, field), getattr(other, field))
    assert len(one) > 1000


def test_bad_inputs_raise():
    graph = random_graph(1, 40)
    for bad in (-1.0, np.nan):
        g = graph.copy()
        g.data[3] = bad
        with pytest.raises(ValueError, match="negative or NaN"):
            bounded_pairs(g, [0], [1], 100.0)
    with pytest.raises(ValueError, match="targets"):
        bounded_pairs(graph, [0], [40], 100.0)
    with pytest.raises(ValueError, match="limit"):
        bounded_pairs(graph, [0], [1], -1.0)
    with pytest.raises(ValueError, match="square"):
        bounded_pairs(sparse.csr_matrix((3, 4)), [0], [1], 1.0)


def test_sample_county_facilities_to_villages_match_scipy():
    """All facilities to all villages within 30 minutes on the sample county's drive network."""
    project = load_project(SAMPLE_PROJECT)
    villages = metric_xy(project.villages, project.crs)
    facilities = metric_xy(project.facilities, project.crs)
    net = build_network(read_project_roads(project), "drive", settings_from_parameters(project.parameters),
                        project.crs, np.vstack([villages, facilities]))
    sources, targets = net.point_node[len(villages):], net.point_node[: len(villages)]
    graph = net.reverse_s  # toward the facility, as access is measured
    pairs = bounded_pairs(graph, sources, targets, 1800.0)
    assert_same(pairs, reference(graph, sources, targets, 1800.0))
    assert 0 < len(pairs) < len(sources) * len(targets)


def weighted_grid(side: int, seed: int) -> tuple[sparse.csr_matrix, np.ndarray]:
    """A side x side grid, both ways, of road-like costs (seconds; some repeated, a few zero, a few
    one-way), numbered row by row; and the nodes' coordinates (metres, 400 m apart)."""
    rng = np.random.default_rng(seed)
    idx = np.arange(side * side).reshape(side, side)
    a = np.r_[idx[:-1].ravel(), idx[:, :-1].ravel()]
    b = np.r_[idx[1:].ravel(), idx[:, 1:].ravel()]
    w = np.where(rng.random(len(a)) < 0.3, 24.0, rng.uniform(10, 90, len(a)))  # ties: 30 % at 24 s
    w[rng.random(len(a)) < 0.02] = 0.0
    back = rng.random(len(a)) > 0.05
    graph = sparse.csr_matrix((np.r_[w, w[back]], (np.r_[a, b[back]], np.r_[b, a[back]])), shape=(side**2,) * 2)
    xy = np.c_[np.repeat(np.arange(side), side), np.tile(np.arange(side), side)] * 400.0
    return graph, xy


def assert_identical(a: CostPairs, b: CostPairs) -> None:
    assert (a.n_sources, a.n_targets) == (b.n_sources, b.n_targets)
    for field in ("source", "target", "cost"):
        np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


@pytest.mark.parametrize("seed", range(3))
def test_coordinates_give_the_same_pairs(seed: int):
    """With coordinates the searches run on a renumbered copy, sources in spatial order: the pairs
    come back the same, bit for bit, and in the caller's source order."""
    graph, xy = random_network(seed)
    rng = np.random.default_rng(200 + seed)
    sources = rng.integers(0, graph.shape[0], 60)  # unsorted, repeats likely
    targets = rng.integers(0, graph.shape[0], 150)
    for threads in (1, 3):
        plain = bounded_pairs(graph, sources, targets, 120.0, threads=threads)
        spatial = bounded_pairs(graph, sources, targets, 120.0, threads=threads, xy=xy)
        assert_identical(spatial, plain)
        assert_same(spatial, reference(graph, sources, targets, 120.0))
    assert len(plain) > 500
    # Each source's block is its own search's, wherever the source stands in the node order.
    for i in (0, 17, 59):
        alone = bounded_pairs(graph, sources[i:i + 1], targets, 120.0, xy=xy)
        mine = spatial.source == i
        assert spatial.target[mine].tolist() == alone.target.tolist()
        assert spatial.cost[mine].tolist() == alone.cost.tolist()


def test_scrambled_node_ids_give_the_same_pairs():
    """A grid numbered row by row, then its node ids scrambled as OSM's are: the same pairs, the
    same costs bit for bit, with and without coordinates (renumbered or not)."""
    side = 40
    graph, xy = weighted_grid(side, 3)
    rng = np.random.default_rng(11)
    sources = rng.choice(side**2, 50, replace=False)
    targets = np.r_[rng.choice(side**2, 200, replace=False), sources[:5]]  # some sources are targets
    new_id = rng.permutation(side**2)
    old_of = np.argsort(new_id)
    scrambled = sparse.csr_matrix(graph[old_of][:, old_of])
    assert scrambled[new_id[0], new_id[1]] == graph[0, 1]
    limit = 600.0
    ref = reference(graph, sources, targets, limit)
    for g, xy_, s, t in ((graph, xy, sources, targets), (scrambled, xy[old_of], new_id[sources], new_id[targets])):
        assert_same(bounded_pairs(g, s, t, limit), ref)
        assert_same(bounded_pairs(g, s, t, limit, xy=xy_), ref)
    assert 0 < len(ref) < len(sources) * len(targets)
    assert np.any(np.diff(ref.cost)[np.diff(ref.source) == 0] == 0)  # ties to order, as on any grid


def test_few_sources_search_the_graph_as_given():
    """Renumbering pays only for many sources: one source on a larger graph searches it as given,
    two renumber it; both give the same pairs."""
    per = pairs_module._NODES_PER_SOURCE_TO_RENUMBER
    side = int(np.sqrt(1.5 * per))
    assert per < side**2 < 2 * per  # one source does not renumber, two do
    graph, xy = weighted_grid(side, 5)
    targets, mid = np.arange(0, side**2, 7), side**2 // 2 + side // 3
    one = bounded_pairs(graph, [mid], targets, 900.0, xy=xy)
    two = bounded_pairs(graph, [mid, mid], targets, 900.0, xy=xy)
    assert len(one) > 50 and len(two) == 2 * len(one)
    for s in (0, 1):
        assert two.target[two.source == s].tolist() == one.target.tolist()
        assert two.cost[two.source == s].tolist() == one.cost.tolist()
    assert_same(one, reference(graph, np.array([mid]), targets, 900.0))


def test_hilbert_order_walks_neighbours_and_renumbering_permutes():
    """On a 16 x 16 lattice (any scale) the curve steps to an adjacent cell every time; the
    renumbered graph is the graph permuted, as scipy permutes it."""
    side = 16
    cells = np.c_[np.repeat(np.arange(side), side), np.tile(np.arange(side), side)]
    for scale, shift in ((1.0, 0.0), (250.0, 3.5e5)):
        order = hilbert_order(cells * scale + shift)
        assert sorted(order.tolist()) == list(range(side**2))
        steps = np.abs(np.diff(cells[order], axis=0)).sum(axis=1)
        assert (steps == 1).all()
    graph, _ = weighted_grid(side, 2)
    indptr, indices, data, rank = renumbered(graph.indptr, graph.indices, graph.data, order)
    assert (rank[order] == np.arange(side**2)).all()
    mine = sparse.csr_matrix((data, indices, indptr), shape=graph.shape)
    expect = graph[order][:, order]
    assert (mine != expect).nnz == 0 and mine.nnz == graph.nnz


def test_bucket_queue_settles_exactly_across_magnitudes():
    """Edge costs from nanoseconds to hours, zeros and exact ties in one band: the bucket queue
    (buckets of ~0.1 s at this limit) still settles every node at scipy's cost, in cost order."""
    rng = np.random.default_rng(4)
    n = 400
    a, b = rng.integers(0, n, 3000), rng.integers(0, n, 3000)
    keep = a != b
    a, b = a[keep], b[keep]
    w = rng.choice([0.0, 1e-9, 1e-3, 0.05, 0.1, 7.0, 300.0, 3599.0], len(a)) * rng.choice([1.0, 1.0, 1.5], len(a))
    best: dict[tuple[int, int], float] = {}
    for i, j, c in zip(a.tolist(), b.tolist(), w.tolist()):
        best[i, j] = min(c, best.get((i, j), np.inf))
    keys = np.array(list(best.keys()))
    graph = sparse.csr_matrix((list(best.values()), (keys[:, 0], keys[:, 1])), shape=(n, n))
    sources, targets = rng.integers(0, n, 30), np.arange(n)
    for limit in (0.0, 1e-6, 0.1, 3600.0, np.inf):
        ours = bounded_pairs(graph, sources, targets, limit, threads=2)
        if np.isfinite(limit):
            assert_same(ours, reference(graph, sources, targets, limit))
        else:  # no limit: everything reachable, at scipy's unbounded costs
            full = dijkstra(graph, indices=sources)
            assert len(ours) == np.isfinite(full).sum()
            np.testing.assert_array_equal(ours.cost, full[ours.source, ours.target])
        per = [ours.cost[ours.source == s] for s in range(len(sources))]
        assert all((np.diff(c) >= 0).all() for c in per)
    assert len(bounded_pairs(graph, sources, targets, 0.0)) > len(sources)  # zero-cost edges pair at 0


def test_coordinates_of_the_wrong_shape_raise_and_missing_ones_do_no_harm():
    graph, xy = random_network(1, 40)
    for bad in (xy[:-1], xy[:, :1], xy.ravel()):
        with pytest.raises(ValueError, match="xy"):
            bounded_pairs(graph, [0], [1], 100.0, xy=bad)
    sources, targets = np.arange(0, 40, 3), np.arange(40)
    expect = bounded_pairs(graph, sources, targets, 100.0)
    assert len(expect) > 20
    for missing in ([3, 7], np.arange(40)):  # some nodes without coordinates, or all
        partly = xy.copy()
        partly[missing] = [np.nan, np.inf]
        assert_identical(bounded_pairs(graph, sources, targets, 100.0, xy=partly), expect)
    order = hilbert_order(np.r_[[[np.nan, 0.0]], np.c_[np.arange(5.0), np.zeros(5)]])
    assert order[0] == 0 and sorted(order.tolist()) == list(range(6))
