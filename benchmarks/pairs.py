"""Sparse cost pairs (facility, village, seconds) at province scale: bounded_pairs vs scipy and networkx.

Generates (seeded) a perturbed grid road network of about 1,000,000 junctions at 400 m spacing with a
hierarchy of road classes at their class speeds (motorway every 160th line down to tracks), 18 % of
minor edges missing and 5 % of residential edges one-way; 28,000 "village" target nodes and 2,000
"facility" source nodes. Then, in the same run:

1. `bounded_pairs` from every source to every target within 30 and 60 minutes (all threads), given
   the junctions' coordinates (so it renumbers the nodes in spatial order), after one warm-up call
   whose time (numba JIT compile, or loading numba's on-disk cache) is shown; with `--no-xy`, without
   coordinates (the nodes searched in the graph's own order);
2. scipy `dijkstra(indices=50 sources, limit=...)` at the same limits, seconds per source;
3. networkx `single_source_dijkstra_path_length(cutoff=...)` from a sample of sources on a DiGraph
   built from the same edges (its build time is shown but not counted), seconds per source;
4. a check that a few sources' pairs equal scipy's.

`--permute` scrambles the node ids (seeded) as OSM ids are scrambled: a row-major grid is kinder to
the caches than real networks are.

Run:  .venv/bin/python benchmarks/pairs.py [--sources 2000] [--targets 28000] [--minutes 30,60] [--nx-sources 10]
      [--threads N] [--permute] [--no-xy]
"""
from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import networkx as nx
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import dijkstra

from healthreach.coverage.pairs import bounded_pairs
from healthreach.rules import CLASS_SPEEDS_KMH

SPACING_M = 400.0
CLASSES = ((160, "motorway"), (80, "trunk"), (40, "primary"), (20, "secondary"), (5, "tertiary"))
MINOR = np.array(["unclassified", "residential", "track"])


def grid_graph(side: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Directed edges (from, to, seconds) of a side x side perturbed grid with road classes, and the
    nodes' coordinates (metres, shape (side**2, 2)); node id i * side + j is at column i, row j."""
    x = np.arange(side)[:, None] * SPACING_M + rng.uniform(-100, 100, (side, side))
    y = np.arange(side)[None, :] * SPACING_M + rng.uniform(-100, 100, (side, side))
    nid = np.arange(side * side).reshape(side, side)
    # Horizontal edges along row j take the class of line j, vertical ones that of column i.
    u = np.r_[nid[:-1, :].ravel(), nid[:, :-1].ravel()]
    v = np.r_[nid[1:, :].ravel(), nid[:, 1:].ravel()]
    line = np.r_[np.broadcast_to(np.arange(side), (side - 1, side)).ravel(), np.repeat(np.arange(side), side - 1)]
    speed = np.full(len(u), np.nan)
    for every, cls in CLASSES:  # coarser classes last: they win where lines coincide
        speed[line % every == every // 2] = CLASS_SPEEDS_KMH[cls]
    minor = np.isnan(speed)
    pick = rng.choice(len(MINOR), len(u), p=[0.5, 0.3, 0.2])  # each minor edge its own class
    speed[minor] = np.array([CLASS_SPEEDS_KMH[c] for c in MINOR])[pick[minor]]
    keep = ~minor | (rng.random(len(u)) > 0.18)
    oneway = minor & (MINOR[pick] == "residential") & (rng.random(len(u)) < 0.05)
    u, v, speed, oneway = u[keep], v[keep], speed[keep], oneway[keep]
    xf, yf = x.ravel(), y.ravel()
    seconds = np.hypot(xf[u] - xf[v], yf[u] - yf[v]) / speed * 3.6
    back = ~oneway
    return np.r_[u, v[back]], np.r_[v, u[back]], np.r_[seconds, seconds[back]], np.c_[xf, yf]


def _peak_rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=1000, help="grid side in junctions (1000: 1 M nodes)")
    parser.add_argument("--sources", type=int, default=2000)
    parser.add_argument("--targets", type=int, default=28000)
    parser.add_argument("--scipy-sources", type=int, default=50)
    parser.add_argument("--nx-sources", type=int, default=10)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--minutes", default="30,60", help="limits to run, comma-separated (the first is checked)")
    parser.add_argument("--permute", action="store_true", help="scramble the node ids, as OSM's are")
    parser.add_argument("--no-xy", action="store_true", help="do not give bounded_pairs the coordinates")
    args = parser.parse_args()
    bands = [int(m) for m in args.minutes.split(",")]
    rng = np.random.default_rng(42)
    print(f"load average at start: {os.getloadavg()[0]:.2f} (other work on the machine skews the timings)")

    t0 = time.perf_counter()
    a, b, w, xy = grid_graph(args.side, rng)
    n = args.side**2
    new_id = np.random.default_rng(7).permutation(n) if args.permute else np.arange(n)
    a, b, xy = new_id[a], new_id[b], xy[np.argsort(new_id)]
    graph = sparse.csr_matrix((w, (a, b)), shape=(n, n))
    print(f"grid: {n:,} nodes, {graph.nnz:,} directed edges, built in {time.perf_counter() - t0:.1f} s")
    targets = new_id[rng.choice(n, args.targets, replace=False)]  # the same junctions, however numbered
    sources = new_id[rng.choice(n, args.sources, replace=False)]
    threads = args.threads or min(os.cpu_count() or 1, 32)
    print(f"sources={len(sources)} targets={len(targets)} threads={threads} node ids "
          f"{'scrambled' if args.permute else 'row-major'}; coordinates {'not ' if args.no_xy else ''}given")
    # Passed only when given, so that --no-xy also runs against an older bounded_pairs (before/after).
    coords = {} if args.no_xy else {"xy": xy}

    t0 = time.perf_counter()
    bounded_pairs(graph, sources, targets, 0.0, **coords)  # compiles every kernel; no search work
    print(f"first_call_s={time.perf_counter() - t0:.2f} (numba compile or cache load, plus setup)")

    # Wall seconds as asked, and CPU seconds (all threads) too: on a shared machine the CPU time per
    # source still compares the kernels when the wall time does not.
    ours: dict[int, float] = {}
    cpu: dict[tuple[str, int], float] = {}
    pairs_first = None
    one = min(200, len(sources))
    for minutes in bands:
        t0, c0 = time.perf_counter(), time.process_time()
        pairs = bounded_pairs(graph, sources, targets, minutes * 60.0, threads=args.threads, **coords)
        ours[minutes] = time.perf_counter() - t0
        cpu["pairs", minutes] = (time.process_time() - c0) / len(sources)
        print(f"pairs_{minutes}min_s={ours[minutes]:.2f} ({ours[minutes] / len(sources) * 1e3:.2f} ms/source wall, "
              f"{threads} threads) pairs={len(pairs):,} ({len(pairs) / len(sources):.0f}/source, "
              f"{(pairs.source.nbytes + pairs.target.nbytes + pairs.cost.nbytes) / 2**20:.0f} MB; "
              f"cpu {cpu['pairs', minutes] * 1e3:.2f} ms/source)")
        if pairs_first is None:
            pairs_first = pairs
        t0 = time.perf_counter()
        bounded_pairs(graph, sources[:one], targets, minutes * 60.0, threads=1, **coords)
        print(f"pairs_{minutes}min_1thread_ms_per_source={(time.perf_counter() - t0) / one * 1e3:.2f} "
              f"(first {one} sources)")
    print(f"peak_rss_after_pairs_gb={_peak_rss_gb():.2f}")

    # scipy's dense block: the first call also pays the page faults of fresh output memory (8 bytes
    # per node and source); later calls of the same size reuse memory. Both are shown; the ratio
    # uses the warm (faster) one.
    scipy_per: dict[int, float] = {}
    k = args.scipy_sources
    for minutes in bands:
        limit = minutes * 60.0 + 1e-6
        timings, cpus = [], []
        for _ in range(2):
            t0, c0 = time.perf_counter(), time.process_time()
            dense = dijkstra(graph, directed=True, indices=sources[:k], limit=limit)
            timings.append((time.perf_counter() - t0) / k)
            cpus.append((time.process_time() - c0) / k)
            if minutes == bands[0] and len(timings) == 1:
                # Check: the first sources' pairs equal scipy's (same targets, costs to 1e-12).
                for i in range(5):
                    d = dense[i, targets]
                    ref = np.flatnonzero(np.isfinite(d))
                    mine = pairs_first.source == i
                    order = np.argsort(pairs_first.target[mine])
                    assert np.array_equal(pairs_first.target[mine][order], ref), i
                    assert np.allclose(pairs_first.cost[mine][order], d[ref], rtol=1e-12, atol=0), i
                print("check: 5 sources' pairs equal scipy's")
            del dense
        scipy_per[minutes] = min(timings)
        cpu["scipy", minutes] = cpus[int(np.argmin(timings))]
        print(f"scipy_{minutes}min_ms_per_source={scipy_per[minutes] * 1e3:.2f} (first call {timings[0] * 1e3:.2f}; "
              f"{k} sources a call; extrapolated to {len(sources)} sources: {scipy_per[minutes] * len(sources):.1f} s, "
              f"dense output {len(sources) * n * 8 / 2**30:.0f} GB; cpu {cpu['scipy', minutes] * 1e3:.2f} ms/source)")

    t0 = time.perf_counter()
    g = nx.DiGraph()
    g.add_weighted_edges_from(zip(a.tolist(), b.tolist(), w.tolist()))
    print(f"networkx graph build {time.perf_counter() - t0:.1f} s (not counted)")
    target_set = set(targets.tolist())
    nx_per: dict[int, float] = {}
    for minutes in bands:
        t0, c0 = time.perf_counter(), time.process_time()
        found = 0
        for s in sources[: args.nx_sources].tolist():
            reach = nx.single_source_dijkstra_path_length(g, s, cutoff=minutes * 60.0 + 1e-6)
            found += len(target_set.intersection(reach))
        nx_per[minutes] = (time.perf_counter() - t0) / args.nx_sources
        cpu["networkx", minutes] = (time.process_time() - c0) / args.nx_sources
        mine = len(bounded_pairs(graph, sources[: args.nx_sources], targets, minutes * 60.0))
        assert found == mine, (minutes, found, mine)
        print(f"networkx_{minutes}min_ms_per_source={nx_per[minutes] * 1e3:.1f} on {args.nx_sources} sources "
              f"(extrapolated to {len(sources)} sources: {nx_per[minutes] * len(sources):.0f} s; "
              f"cpu {cpu['networkx', minutes] * 1e3:.1f} ms/source)")

    for minutes in bands:
        per = ours[minutes] / len(sources)
        print(f"{minutes}min: pairs_vs_scipy_x={scipy_per[minutes] / per:.1f} "
              f"pairs_vs_networkx_x={nx_per[minutes] / per:.0f} (wall); by cpu time: "
              f"{cpu['scipy', minutes] / cpu['pairs', minutes]:.1f} and "
              f"{cpu['networkx', minutes] / cpu['pairs', minutes]:.0f}")
    first = bands[0]
    print(f"pairs_vs_scipy_x={scipy_per[first] / (ours[first] / len(sources)):.1f}")
    print(f"pairs_vs_networkx_x={nx_per[first] / (ours[first] / len(sources)):.0f}")
    print(f"pair_count_{first}min={len(pairs_first)}")
    print(f"peak_rss_gb={_peak_rss_gb():.2f}")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
