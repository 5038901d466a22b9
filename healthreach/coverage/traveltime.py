"""Travel times on a network's CSR arrays with scipy's compiled Dijkstra.

Access to care is measured **toward** the facility (from the village to the door), by searching the
transposed graph from the facilities; ambulance response runs **from** the station.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from healthreach.coverage.network import Network

_KEEP_SEARCHES = 8
"""Nearest-source searches kept per network (24 bytes per node each: 200 MB at a province's million
junctions); a province run asks for 7 of its 19 searches twice or more."""
_SEARCHES_LOCK = threading.Lock()  # the measuring step searches in two threads
# Bounded searches return a dense (sources x nodes) block; keep each block near this many bytes.
_BLOCK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class Nearest:
    """For every node: cost to/from the nearest source and which source; metres along that route on demand."""

    cost: np.ndarray
    """Seconds (or metres for a distance search); inf where no source is reachable."""
    source: np.ndarray
    """Position in the `sources` array of the nearest source; -1 where none is reachable."""
    net: Network = field(repr=False)
    pred: np.ndarray = field(repr=False)
    """Predecessor of each node in the search's tree; -1 at sources and unreached nodes."""
    toward: bool = True
    weight: str = "time"

    def metres_at(self, nodes: np.ndarray) -> np.ndarray:
        """Network metres along the chosen route of each of `nodes`; NaN where unreachable.

        Walks the search tree up from the given nodes only: the province's villages are some 3 % of
        its road nodes, so this costs far less than the route length of every node.
        """
        nodes = np.asarray(nodes, dtype=np.int64)
        out = np.zeros(len(nodes))
        if self.weight == "length":
            out = self.cost[nodes].copy()
        else:
            at = nodes.copy()
            active = np.flatnonzero(self.pred[at] >= 0)
            while len(active):
                here = at[active]
                up = self.pred[here]
                # In the transposed graph up -> here stands for the real edge here -> up.
                a, b = (here, up) if self.toward else (up, here)
                out[active] += self.net.metres_of_fastest(a, b)
                at[active] = up
                active = active[self.pred[up] >= 0]
        out[~np.isfinite(self.cost[nodes])] = np.nan
        return out


def _graph(net: Network, *, toward: bool, weight: str) -> sparse.csr_matrix:
    if weight not in ("time", "length"):
        raise ValueError(f"weight must be 'time' or 'length', got {weight!r}")
    if weight == "time":
        return net.reverse_s if toward else net.csr_s
    return net.reverse_len if toward else net.csr_len


def nearest(net: Network, sources: np.ndarray, *, toward: bool = True, weight: str = "time") -> Nearest:
    """Nearest source of every node in one multi-source search.

    `toward=True` measures from each node to the source (travel to a facility); `toward=False` from
    the source out (ambulance dispatch). `weight` is 'time' (seconds) or 'length' (metres).
    """
    n = net.n_nodes
    sources = np.asarray(sources, dtype=np.int64)
    if len(sources) == 0:
        return Nearest(np.full(n, np.inf), np.full(n, -1), net, np.full(n, -1), toward, weight)
    graph = _graph(net, toward=toward, weight=weight)
    key = (sources.tobytes(), toward, weight)
    with _SEARCHES_LOCK:
        if key in net.searches:
            net.searches.move_to_end(key)
            return net.searches[key]
    cost, pred, src_node = dijkstra(graph, directed=True, indices=sources, min_only=True,
                                    return_predecessors=True)
    position = np.full(n, -1, dtype=np.int64)
    position[sources[::-1]] = np.arange(len(sources))[::-1]  # a node listed twice maps to its first entry
    source = np.where(src_node >= 0, position[np.maximum(src_node, 0)], -1).astype(np.int32)
    for array in (cost, source, pred):
        array.setflags(write=False)  # shared by every caller that asks for the same search
    found = Nearest(cost, source, net, pred, toward, weight)
    with _SEARCHES_LOCK:
        net.searches[key] = found
        if len(net.searches) > _KEEP_SEARCHES:
            net.searches.popitem(last=False)
    return found


def bounded_costs(
    net: Network, sources: np.ndarray, limit: float, *, toward: bool = True, weight: str = "time",
    at: np.ndarray | None = None,
) -> np.ndarray:
    """Cost (seconds or metres) from/to each source for every node, inf beyond `limit` (inclusive).

    Returns a dense array of shape (len(sources), n_nodes), or (len(sources), len(at)) for the nodes
    `at` only (e.g. the villages): the searches run a block of sources at a time, so only the columns
    kept cost memory. Without `at`, 8 bytes per source and node: at province scale iterate
    :func:`bounded_cost_blocks` instead.
    """
    sources = np.asarray(sources, dtype=np.int64)
    out = np.empty((len(sources), net.n_nodes if at is None else len(at)))
    start = 0
    for block in bounded_cost_blocks(net, sources, limit, toward=toward, weight=weight):
        out[start : start + len(block)] = block if at is None else block[:, at]
        start += len(block)
    return out


def bounded_cost_blocks(
    net: Network, sources: np.ndarray, limit: float, *, toward: bool = True, weight: str = "time"
) -> Iterator[np.ndarray]:
    """The rows of :func:`bounded_costs` (seconds or metres), a block of sources at a time.

    Blocks follow the order of `sources` and hold about 256 MB each: at province scale (1,500
    facilities x 1.2 M nodes) the whole matrix would take 14 GB.
    """
    sources = np.asarray(sources, dtype=np.int64)
    graph = _graph(net, toward=toward, weight=weight)
    block = max(1, _BLOCK_BYTES // (8 * max(net.n_nodes, 1)))
    for start in range(0, len(sources), block):
        chunk = sources[start : start + block]
        # The band boundary is inclusive: widen scipy's limit by rounding noise (1 microsecond/mm).
        yield dijkstra(graph, directed=True, indices=chunk, limit=limit + 1e-6)
