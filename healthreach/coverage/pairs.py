"""Sparse cost pairs: every target within a band of every source, by many small bounded searches.

scipy's ``dijkstra(indices=..., limit=...)`` sets up arrays of the full network for each source and
returns a dense (sources x nodes) block: on a province network (~1.2 M nodes) that is some 15 ms and
9 MB per facility before the search starts. Here each search touches only the nodes it reaches
(a 30-minute band holds a few thousand), resets only those, and keeps only the target nodes, so
28,000 facilities x 30 minutes costs seconds and memory proportional to the pairs found.
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
def _grow(a: np.ndarray) -> np.ndarray:
    out = np.empty(2 * len(a), a.dtype)
    out[: len(a)] = a
    return out


@numba.njit(nogil=True, cache=True)
def _sift_down(heap_c: np.ndarray, heap_n: np.ndarray, size: int) -> None:
    """After popping the root of a heap now of `size` entries: move entry `size` into place."""
    lc, ln, i = heap_c[size], heap_n[size], 0
    while True:
        m = 2 * i + 1
        if m >= size:
            break
        if m + 1 < size and heap_c[m + 1] < heap_c[m]:
            m += 1
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
def _search_chunk(indptr, indices, data, sources, first_pos, next_pos, bound):
    """Bounded Dijkstra from each of `sources` (node ids) in turn.

    Returns per-source pair counts and the targets' positions and costs, concatenated in source order,
    each source's pairs sorted by (cost, target position). `first_pos[node]` is the first position of
    the node in the targets array (-1 if not a target) and `next_pos[pos]` the next one (-1 at the end).
    """
    dist = np.full(len(indptr) - 1, np.inf)  # the one O(nodes) array; reset after each search at touched nodes only
    # Everything else grows (doubling) with what the searches reach: touched nodes, the binary
    # min-heap of (cost, node) whose stale entries are skipped when popped, and the output.
    touched, heap_n, out_t = np.empty(1024, np.int64), np.empty(1024, np.int64), np.empty(1024, np.int64)
    heap_c, out_c = np.empty(1024), np.empty(1024)
    counts = np.zeros(len(sources), np.int64)
    k = 0
    for s in range(len(sources)):
        src, start, nt, hs = sources[s], k, 1, 1
        dist[src], touched[0], heap_c[0], heap_n[0] = 0.0, src, 0.0, src
        while hs > 0:
            c, u = heap_c[0], heap_n[0]
            hs -= 1
            _sift_down(heap_c, heap_n, hs)
            if c > dist[u]:
                continue  # stale: u was reached more cheaply after this entry was pushed
            # Pushes happen only on strict improvement, so each node is settled once, in cost order.
            p = first_pos[u]
            while p >= 0:
                if k == len(out_t):
                    out_t, out_c = _grow(out_t), _grow(out_c)
                out_t[k], out_c[k] = p, c
                k += 1
                p = next_pos[p]
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e]
                nc = c + data[e]
                if nc <= bound and nc < dist[v]:
                    if dist[v] == np.inf:
                        if nt == len(touched):
                            touched = _grow(touched)
                        touched[nt] = v
                        nt += 1
                    dist[v] = nc
                    if hs == len(heap_c):
                        heap_c, heap_n = _grow(heap_c), _grow(heap_n)
                    _sift_up(heap_c, heap_n, hs, nc, v)
                    hs += 1
        for j in range(nt):
            dist[touched[j]] = np.inf
        # Pairs came out in cost order; targets of equal cost (ties on grids, repeated targets) are
        # put in position order so the output does not depend on the heap's tie-breaking.
        a = start
        while a < k:
            b = a + 1
            while b < k and out_c[b] == out_c[a]:
                b += 1
            if b - a > 1:
                out_t[a:b].sort()
            a = b
        counts[s] = k - start
    return counts, out_t[:k], out_c[:k]


def bounded_pairs(graph: sparse.csr_matrix | sparse.csr_array, sources: np.ndarray, targets: np.ndarray,
                  limit: float, *, threads: int | None = None) -> CostPairs:
    """Every target node reached from each source node with cost <= `limit` (inclusive).

    `graph` holds edge costs (seconds or metres; `limit` in the same unit); the search follows the
    stored entries i -> j, every stored entry being an edge (zero included). Pass the transposed
    graph to measure toward the sources. `sources` and `targets` are node ids; either may repeat, and
    each position gets its own pairs. A source that is also a target pairs with it at cost 0.
    Searches run in contiguous chunks of sources on `threads` threads (default: the usable CPUs);
    each thread holds 8 bytes per node of scratch, plus what its searches reach.
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
    sources = np.asarray(sources, dtype=np.int64).ravel()
    targets = np.asarray(targets, dtype=np.int64).ravel()
    for name, nodes in (("sources", sources), ("targets", targets)):
        if len(nodes) and (nodes.min() < 0 or nodes.max() >= n):
            raise ValueError(f"{name} must be node ids in [0, {n})")
    if threads is not None and threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")

    if len(sources) == 0 or len(targets) == 0:
        return CostPairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), len(sources), len(targets))
    # Positions of each target node as a linked list in increasing position, so repeated targets all
    # pair: chain the positions of equal nodes in stable sorted order.
    first_pos = np.full(n, -1, dtype=np.int64)
    next_pos = np.full(len(targets), -1, dtype=np.int64)
    order = np.argsort(targets, kind="stable")
    same = targets[order[1:]] == targets[order[:-1]]
    next_pos[order[:-1][same]] = order[1:][same]
    head = order[np.r_[True, ~same]]
    first_pos[targets[head]] = head

    indptr = np.asarray(graph.indptr, dtype=np.int64)
    indices = np.asarray(graph.indices, dtype=np.int64)
    bound = limit + _SLACK

    def run(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _search_chunk(indptr, indices, data, chunk, first_pos, next_pos, bound)

    threads = min(threads or min(os.cpu_count() or 1, _MAX_THREADS), len(sources))
    if threads == 1:
        parts = [run(sources)]
    else:
        chunks = np.array_split(sources, min(len(sources), threads * _CHUNKS_PER_THREAD))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(run, chunks))  # map keeps the chunks' (= sources') order
    counts, target, cost = (np.concatenate([p[i] for p in parts]) for i in range(3))
    source = np.repeat(np.arange(len(sources), dtype=np.int64), counts)
    return CostPairs(source, target, cost, len(sources), len(targets))
