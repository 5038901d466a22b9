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
from healthreach.coverage.pairs import CostPairs, bounded_pairs
from healthreach.layers.roads import read_project_roads
from healthreach.config import settings_from_parameters
from healthreach.layers.crs import metric_xy
from healthreach.layers.project import load_project

SAMPLE_PROJECT = Path(data.__file__).parent / "samples" / "county" / "project.yml"


def random_graph(seed: int, n: int = 300) -> sparse.csr_matrix:
    """A road-like directed graph: two clusters of near neighbours (no edge between them), isolated
    nodes, mostly two-way edges with some one-way, and parallel edges collapsed to the cheapest."""
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
    return sparse.csr_matrix((list(best.values()), (pairs[:, 0], pairs[:, 1])), shape=(n, n))


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
    np.testing.assert_allclose(ours.cost, ref.cost, rtol=1e-12, atol=0)


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
