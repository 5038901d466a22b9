"""Sparse cost pairs: every target within a band of every source, by many small bounded searches.

scipy's ``dijkstra(indices=..., limit=...)`` sets up arrays of the whole network for each source and
returns a dense (sources x nodes) block: 9 MB a facility on a province network (~1.2 M nodes), however
small the band. Here each search touches only the nodes it reaches (some ten thousand in 30 minutes),
resets only those and keeps only the targets: time follows the band, memory the pairs found.

The searches wait on memory, so: given coordinates, nodes are renumbered along a Hilbert curve (a
search's nodes then lie close in memory, whatever order the network came in: OSM ids are not
spatial); sources are searched in node order (the next search finds much of its network still in
cache); a bucket queue replaces one large heap; the next node's edges are prefetched.
benchmarks/pairs.py measures it (--permute scrambles the node ids as OSM's are).
"""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from scipy import sparse

from healthreach.coverage.node_order import hilbert_order, renumbered

# The band boundary is inclusive; widen it by rounding noise (1 microsecond or 1 mm), as
# traveltime.bounded_cost_blocks does, so a target at exactly `limit` is never lost to rounding.
_SLACK = 1e-6
_MAX_THREADS = 32  # beyond this the searches are memory-bound and each thread costs 8 bytes per node
_CHUNKS_PER_THREAD = 4  # searches differ in size (town vs mountains): smaller chunks balance threads
_BUCKETS = 1 << 15  # the band in this many cost buckets (0.1 s at 60 minutes)
_MIN_HEAP = 8  # open buckets until the heap holds this many: the next node is then known, to prefetch
# Renumbering costs ~0.4 us a node and saves ~0.5 ms a 30-minute search on a grid of a million
# junctions (more on scrambled ones): worth it from one source per ~1,000 nodes.
_NODES_PER_SOURCE_TO_RENUMBER = 1024


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


@intrinsic
def _prefetch(typingctx, arr, i):
    """Ask the CPU to start loading arr[i] into cache: a hint (never faults), no effect on results."""
    def codegen(context, builder, sig, args):
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0],
                                       context.make_array(sig.args[0])(context, builder, args[0]), [args[1]])
        byte, i32 = ir.IntType(8).as_pointer(), ir.IntType(32)
        fn = builder.module.declare_intrinsic("llvm.prefetch", [byte],
                                              ir.FunctionType(ir.VoidType(), [byte, i32, i32, i32]))
        builder.call(fn, [builder.bitcast(ptr, byte), i32(0), i32(3), i32(1)])  # read, keep, data
        return context.get_dummy_value()
    return types.void(arr, i), codegen


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
def _sort_ties(target: np.ndarray, cost: np.ndarray, i: int, end: int) -> None:
    """Pairs i..end-1 of one search come by cost; equal costs (grids, repeated targets) are put by
    target position, whatever order the heap settled them in. (Kept out of the search loop, whose
    machine code it would slow.)"""
    while i < end:
        j = i + 1
        while j < end and cost[j] == cost[i]:
            j += 1
        if j - i > 1:
            target[i:j] = np.sort(target[i:j])
        i = j


@numba.njit(nogil=True, cache=True)
def _search_chunk(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, sources: np.ndarray,
                  first_pos: np.ndarray, next_pos: np.ndarray,
                  bound: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bounded Dijkstra from each of `sources` (uint32 node ids: no negative-index code in the loop)
    in turn: per-source pair counts, and the targets' positions and costs in source order, each
    source's by (cost, position). `first_pos[node]` is the node's first position in the targets (-1 if
    none), `next_pos[pos]` the next one (-1 at the end).

    The queue: costs [0, bound] cut into _BUCKETS equal buckets, each an unsorted linked list of
    entries, and a small binary heap holding the open buckets. The bucket is a monotone function of
    the cost, so no entry of a later bucket is cheaper, and the heap settles the open ones in exact
    cost order: Dijkstra's order (ties aside) at the same costs as with one heap, for far less work.
    """
    # Scratch of fixed size, so the search loop never checks capacity. Only `dist` is written in full
    # (once per chunk; each search resets just the nodes it touched); the np.empty arrays cost memory
    # only as far as searches fill them. A push needs a strict improvement along an edge out of a
    # node being settled, and each node is settled once: at most one push per stored edge, plus one.
    far = np.nextafter(bound, np.inf)  # "not reached": then one test `nc < dist[v]` also bounds nc
    dist = np.full(len(indptr) - 1, far)
    touched = np.empty(len(dist), np.uint32)
    cap = len(indices) + 1
    pool_c, pool_n, pool_next = np.empty(cap), np.empty(cap, np.uint32), np.empty(cap, np.int32)
    heap_c, heap_n = np.empty(cap), np.empty(cap, np.uint32)
    head = np.full(_BUCKETS, -1, np.int32)  # each bucket's latest pool entry; a search empties all
    per = _BUCKETS / bound if np.isfinite(bound) else 0.0  # buckets per unit cost (0: one bucket)
    out_t = np.empty(2 * len(next_pos) + 1024, np.int64)  # grows by doubling between searches
    out_c = np.empty(len(out_t))
    counts, k = np.zeros(len(sources), np.int64), 0
    for s in range(len(sources)):
        while k + len(next_pos) > len(out_t):
            out_t, out_c = _grow(out_t, k), _grow(out_c, k)
        src, nt, start = sources[s], 1, k
        dist[src], touched[0], heap_c[0], heap_n[0] = 0.0, src, 0.0, src
        hs, used, open_b, last_b = 1, 0, 0, 0
        while True:
            if hs == 0:  # the open buckets are settled: move the next ones into the heap
                while hs < _MIN_HEAP and open_b < last_b:
                    open_b += 1
                    p, head[open_b] = head[open_b], -1
                    while p >= 0:
                        c, v = pool_c[p], pool_n[p]
                        if c <= dist[v]:  # else stale: v was reached more cheaply since
                            _sift_up(heap_c, heap_n, hs, c, v)
                            hs += 1
                            _prefetch(indices, indptr[v])
                            _prefetch(data, indptr[v])
                        p = pool_next[p]
                if hs == 0:
                    break
                continue
            c, u = heap_c[0], heap_n[0]
            hs -= 1
            _sift_down(heap_c, heap_n, hs)
            if hs > 0:  # fetch the next node's edges while this one's are relaxed
                _prefetch(indices, indptr[heap_n[0]])
                _prefetch(data, indptr[heap_n[0]])
            if c > dist[u]:
                continue  # stale: u was reached more cheaply after this entry was pushed
            p = first_pos[u]  # every position of a settled target; one pair per position
            while p >= 0:
                out_t[k], out_c[k] = p, c
                k += 1
                p = next_pos[p]
            for e in range(indptr[u], indptr[u + 1]):
                v = indices[e]
                nc = c + data[e]
                if nc < dist[v]:
                    if dist[v] == far:
                        touched[nt] = v
                        nt += 1
                    dist[v] = nc
                    b = np.int64(min(nc * per, _BUCKETS - 1.0))
                    if b <= open_b:
                        _sift_up(heap_c, heap_n, hs, nc, v)
                        hs += 1
                    else:
                        pool_c[used], pool_n[used], pool_next[used] = nc, v, head[b]
                        head[b] = used
                        used += 1
                        last_b = max(last_b, b)
        for j in range(nt):
            dist[touched[j]] = far
        _sort_ties(out_t, out_c, start, k)
        counts[s] = k - start
    return counts, out_t[:k], out_c[:k]


@numba.njit(nogil=True, cache=True)
def _place(counts: np.ndarray, caller_pos: np.ndarray, start: np.ndarray, target: np.ndarray,
           cost: np.ndarray, out_t: np.ndarray, out_c: np.ndarray) -> None:
    """Copy each searched source's block of pairs to where its caller position puts it."""
    k = 0
    for i in range(len(counts)):
        d = start[caller_pos[i]]
        for j in range(counts[i]):
            out_t[d + j], out_c[d + j] = target[k], cost[k]
            k += 1


def bounded_pairs(graph: sparse.csr_matrix | sparse.csr_array, sources: np.ndarray, targets: np.ndarray,
                  limit: float, *, threads: int | None = None, xy: np.ndarray | None = None) -> CostPairs:
    """Every target node reached from each source node with cost <= `limit` (inclusive).

    `graph` holds edge costs (seconds or metres; `limit` in the same unit); the search follows the
    stored entries i -> j, every stored entry being an edge (zero included). Pass the transposed
    graph to measure toward the sources. `sources` and `targets` are node ids; either may repeat, and
    each position gets its own pairs. A source that is also a target pairs with it at cost 0.
    `xy` (optional, shape (nodes, 2), metres or any planar unit; NaN allowed): the nodes' coordinates;
    with many sources the searches then run on a copy of the graph (~16 bytes an edge) with its nodes
    in spatial order: faster, same pairs. Searches run in chunks of sources on `threads` threads
    (default: os.cpu_count(), at most 32); each writes 8 bytes per node of scratch, plus what its
    searches reach.
    """
    graph = sparse.csr_matrix(graph)
    n, m = graph.shape
    if n != m:
        raise ValueError(f"graph must be square, got shape {graph.shape}")
    if n >= 2**31 or graph.nnz >= 2**31:
        raise ValueError(f"graph too large: {n} nodes and {graph.nnz} edges (at most 2**31 - 1 each)")
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
    if xy is not None and np.shape(xy) != (n, 2):
        raise ValueError(f"xy must be the nodes' coordinates, shape ({n}, 2), got shape {np.shape(xy)}")
    if len(sources) == 0 or len(targets) == 0:
        return CostPairs(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0), len(sources), len(targets))
    indptr, indices = graph.indptr.astype(np.uint32), graph.indices.astype(np.uint32)
    source_node, target_node = sources, targets
    if xy is not None and len(sources) * _NODES_PER_SOURCE_TO_RENUMBER >= n:
        indptr, indices, data, rank = renumbered(indptr, indices, data, hilbert_order(xy))
        source_node, target_node = rank[sources], rank[targets]
    # Positions of each target node as a linked list in increasing position, so repeated targets all
    # pair: chain the positions of equal nodes in stable sorted order.
    first_pos, next_pos = np.full(n, -1, np.int64), np.full(len(targets), -1, np.int64)
    order = np.argsort(target_node, kind="stable")
    same = target_node[order[1:]] == target_node[order[:-1]]
    next_pos[order[:-1][same]] = order[1:][same]
    head = order[np.r_[True, ~same]]
    first_pos[target_node[head]] = head
    bound = limit + _SLACK
    # Searched in node order (spatial when renumbered), each chunk a contiguous run of it.
    searched = np.argsort(source_node, kind="stable")
    in_order = source_node[searched].astype(np.uint32)

    def search(chunk: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return _search_chunk(indptr, indices, data, chunk, first_pos, next_pos, bound)

    threads = min(threads or min(os.cpu_count() or 1, _MAX_THREADS), len(sources))
    if threads == 1:
        parts = [search(in_order)]
    else:
        chunks = np.array_split(in_order, min(len(sources), threads * _CHUNKS_PER_THREAD))
        with ThreadPoolExecutor(max_workers=threads) as pool:
            parts = list(pool.map(search, chunks))  # map keeps the chunks' order
    counts, target, cost = (np.concatenate([p[i] for p in parts]) for i in range(3))
    per_source = np.empty(len(sources), np.int64)
    per_source[searched] = counts
    start = np.cumsum(per_source) - per_source
    out_t, out_c = np.empty_like(target), np.empty_like(cost)
    _place(counts, searched, start, target, cost, out_t, out_c)
    source = np.repeat(np.arange(len(sources), dtype=np.int64), per_source)
    return CostPairs(source, out_t, out_c, len(sources), len(targets))
