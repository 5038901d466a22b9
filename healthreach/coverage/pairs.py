"""Sparse cost pairs: every target within a band of every source, by many small bounded searches.

scipy's ``dijkstra(indices=..., limit=...)`` sets up arrays of the whole network for each source and
returns a dense (sources x nodes) block: 9 MB a facility on a province network (~1.2 M nodes), however
small the band. Here each search touches only the nodes it reaches (some ten thousand in 30 minutes),
resets only those and keeps only the targets: time follows the band, memory the pairs found.
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from scipy import sparse

# The band boundary is inclusive; widen it by rounding noise (1 microsecond or 1 mm), as
# traveltime.bounded_cost_blocks does, so a target at exactly `limit` is never lost to rounding.
_SLACK = 1e-6
_MAX_THREADS = 32  # beyond this the searches are memory-bound and each thread costs 8 bytes per node
_CHUNKS_PER_THREAD = 4  # searches differ in size (town vs mountains): smaller chunks balance threads


@dataclass(frozen=True)
class CostPairs:
    """(source, target, cost) within the limit, sorted by (source, cost, target): nearest targets first."""

    source: np.ndarray
    """int64 position in the `sources` array given to :func:`bounded_pairs`."""
    target: np.ndarray
    """int64 position in the `targets` array."""
    cost: np.ndarray
    """float64 cost in the graph's unit (seconds for a time graph, metres for a length graph)."""
    n_sources: int
    n_targets: int

    def __len__(self) -> int:
        return len(self.cost)


@numba.njit(nogil=True, cache=True)
def _grow(a: np.ndarray, used: int) -> np.ndarray:
    """`a` at twice the size, its first `used` entries kept."""
    out = np.empty(2 * len(a), a.dtype)
    for i in range(used):  # a loop, not a slice assignment: compiles in a tenth of the time
        out[i] = a[i]
    return out


@numba.njit(nogil=True, cache=True)
def _sift_down(heap_c: np.ndarray, heap_n: np.ndarray, size: int) -> None:
    """After popping the root of a heap now of `size` entries: move entry `size` into place."""
    lc, ln, i = heap_c[size], heap_n[size], 0
    while True:
        m = 2 * i + 1
        if m >= size:
            break
        # The smaller child by arithmetic, not a branch (~15 % faster searches). Slot m + 1 may be
        # `size`, which still holds lc: if chosen, the test below stops here, rightly.
        m += np.int64(heap_c[m + 1] < heap_c[m])
        if heap_c[m] >= lc:
            break
        heap_c[i], heap_n[i] = heap_c[m], heap_n[m]
        i = m
    heap_c[i], heap_n[i] = lc, ln


@numba.njit(nogil=True, cache=True)
def _sift_up(heap_c: np.ndarray, heap_n: np.ndarray, i: int, c: float, node: int) -> None:
    """Insert (c, node) into a heap of `i` entries (capacity for one more is the caller's job)."""
    while i > 0:
        q = (i - 1) // 2
        if heap_c[q] <= c:
            break
        heap_c[i], heap_n[i] = heap_c[q], heap_n[q]
        i = q
    heap_c[i], heap_n[i] = c, node


@numba.njit(nogil=True, cache=True)
def _search_chunk(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, sources: np.ndarray,
                  first_pos: np.ndarray, next_pos: np.ndarray, n_hits: int,
                  bound: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bounded Dijkstra from each of `sources` (node ids) in turn: per-source pair counts, and the
    targets' positions and costs in source order, each source's in cost order (ties in any order).

    `first_pos[node]` is the node's first position in the targets (-1 if not a target), `next_pos[pos]`
    the next one (-1 at the end) and `n_hits` the number of distinct target nodes.
    """
    # Scratch of fixed size, so the search loop never checks capacity. Only `dist` is written in full
    # (once per chunk; each search resets just the nodes it touched); the np.empty arrays cost memory
    # only as far as a search fills them. A push needs a strict improvement along an edge out of a
    # node being settled, and each node is settled once: at most one push per stored edge, plus one.
    dist = np.full(len(indptr) - 1, np.inf)
    touched = np.empty(len(dist), np.int64)
    heap_c = np.empty(len(indices) + 1)  # binary min-heap of (cost, node) with lazy deletion
    heap_n = np.empty(len(indices) + 1, np.int64)
    hits = np.empty(n_hits, np.int64)  # target nodes in the order settled, i.e. by cost
    out_t = np.empty(2 * len(next_pos) + 1024, np.int64)  # grows by doubling between searches
    out_c = np.empty(len(out_t))
    counts, k = np.zeros(len(sources), np.int64), 0
    for s in range(len(sources)):
        src, nt, hs, nh = sources[s], 1, 1, 0
        dist[src], touched[0], heap_c[0], heap_n[0] = 0.0, src, 0.0, src
        while hs > 0:
            c, u = heap_c[0], heap_n[0]
            hs -= 1
            _sift_down(heap_c, heap_n, hs)
            if c > dist[u]:
                continue  # stale: u was reached more cheaply after this entry was pushed
            if first_pos[u] >= 0:
                hits[nh] = u
                nh += 1
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e]
                nc = c + data[e]
                if nc <= bound and nc < dist[v]:
                    if dist[v] == np.inf:
                        touched[nt] = v
                        nt += 1
                    dist[v] = nc
                    _sift_up(heap_c, heap_n, hs, nc, v)
                    hs += 1
        # Every position of each settled target; a search yields at most one pair per position.
        while k + len(next_pos) > len(out_t):
            out_t, out_c = _grow(out_t, k), _grow(out_c, k)
        start = k
        for j in range(nh):
            p = first_pos[hits[j]]
            while p >= 0:
                out_t[k], out_c[k] = p, dist[hits[j]]
                k += 1
                p = next_pos[p]
        for j in range(nt):
            dist[touched[j]] = np.inf
        counts[s] = k - start
    return counts, out_t[:k], out_c[:k]


def bounded_pairs(graph: sparse.csr_matrix | sparse.csr_array, sources: np.ndarray, targets: np.ndarray,
                  limit: float, *, threads: int | None = None) -> CostPairs:
    """Every target node reached from each source node with cost <= `limit` (inclusive).

    `graph` holds edge costs (seconds or metres; `limit` in the same unit); the search follows the
    stored entries i -> j, every stored entry being an edge (zero included). Pass the transposed
    graph to measure toward the sources. `sources` and `targets` are node ids; either may repeat, and
    each position gets its own pairs. A source that is also a target pairs with it at cost 0.
    Searches run in contiguous chunks of sources on `threads` threads (default: os.cpu_count(), at
    most 32); each thread writes 8 bytes per node of scratch, plus what its searches reach.
    """
    graph = sparse.csr_matrix(graph)
    n, m = graph.shape
    if n != m:
        raise ValueError(f"graph must be square, got shape {graph.shape}")
    data = np.asarray(graph.data, dtype=np.float64)
    if np.isnan(data).any() or (data < 0).any():
        raise ValueError("graph has negative or NaN edge costs")
    limit = float(limit)
    if not limit >= 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    sources, targets = np.asarray(sources, np.int64).ravel(), np.asarray(targets, np.int64).ravel()
    for name, nodes in (("sources", sources), ("targets", targets)):
        if len(nodes) and (nodes.min() < 0 or nodes.max() >= n):
            raise ValueError(f"{name} must be node ids in [0, {n})")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    if len(sources) == 0 or len(targets) == 0:
        return CostPairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), len(sources), len(targets))
    # Positions of each target node as a linked list in increasing position, so repeated targets all
    # pair: chain the positions of equal nodes in stable sorted order.
    first_pos, next_pos = np.full(n, -1, np.int64), np.full(len(targets), -1, np.int64)
    order = np.argsort(targets, kind="stable")
    same = targets[order[1:]] == targets[order[:-1]]
    next_pos[order[:-1][same]] = order[1:][same]
    head = order[np.r_[True, ~same]]
    first_pos[targets[head]] = head
    indptr, indices = np.asarray(graph.indptr, np.int64), np.asarray(graph.indices, np.int64)
    bound = limit + _SLACK

    def search(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _search_chunk(indptr, indices, data, chunk, first_pos, next_pos, len(head), bound)

    threads = min(threads or min(os.cpu_count() or 1, _MAX_THREADS), len(sources))
    if threads == 1:
        parts = [search(sources)]
    else:
        chunks = np.array_split(sources, min(len(sources), threads * _CHUNKS_PER_THREAD))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(search, chunks))  # map keeps the chunks' (= sources') order
    counts, target, cost = (np.concatenate([p[i] for p in parts]) for i in range(3))
    source = np.repeat(np.arange(len(sources), dtype=np.int64), counts)
    # Each source's pairs come in cost order (Dijkstra settles nodes so); equal costs (grids, repeated
    # targets) go in target order, whatever the heap did. Only tied pairs are sorted: all would cost more.
    tie = (cost[1:] == cost[:-1]) & (source[1:] == source[:-1])
    if tie.any():
        tied = np.flatnonzero(np.r_[tie, False] | np.r_[False, tie])
        group = np.cumsum(np.r_[True, ~tie])[tied]
        target[tied] = target[tied][np.lexsort((target[tied], group))]
    return CostPairs(source, target, cost, len(sources), len(targets))
