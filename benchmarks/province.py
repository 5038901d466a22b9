"""Province-scale benchmark of the coverage engine against networkx and a bare scipy floor.

Generates a synthetic province (seeded): a perturbed grid road network of about 1.04 million
junctions over 416 x 408 km with a hierarchy of road classes (motorway to track) and some one-way
streets, as the road edge table of `healthreach.layers.roads` (WGS84); 28,000 villages; 1,400
township health centres and 100 sub-centres; 26,000 village clinics; county hospitals, community
stations and emergency stations. Then, in the same run:

1. the **whole analysis** in one process (`healthreach.coverage.pipeline.analyze`: every table of a
   run, capacity allocation, 2SFCA and the sub-centre ranking from bounded cost pairs included), with
   its wall time and peak memory (first, so that no earlier step's pages count in its peak);
2. the **baseline analysis** done the healthreach way, step by step with the library's functions
   (networks for the three modes with every point joined, nearest facility of every tier, township
   and sub-centre catchments at 15/30/45/60 minutes and ambulance radii, split by nearest facility as
   `analyze` draws them on province-sized networks, standards checks);
3. the nearest-facility work of step 2 again, timed alone (`nearest()` per tier on the built networks);
4. the same searches with networkx (graph built from the same directed edge list,
   `multi_source_dijkstra_path_length` per tier) — on a subset of tiers when that would take long,
   compared against healthreach on the same subset;
5. a bare `scipy.sparse.csgraph.dijkstra(min_only=True)` call per tier as the floor.

Run:  .venv/bin/python benchmarks/province.py [--nx-tiers N] [--scale 1.0]
"""
from __future__ import annotations

import argparse
import dataclasses
import gc
import logging
import resource
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from healthreach.coverage.access import ACCESS_TIERS, tier_mask, village_access
from healthreach.coverage import service_areas
from healthreach.coverage.network import build_networks
from healthreach.config import RunConfig, Settings
from healthreach.coverage.pipeline import analyze
from healthreach.coverage.service_areas import resolve_catchment_type
from healthreach.coverage.standards import check_standards
from healthreach.coverage.traveltime import nearest
from healthreach.tiers import TIERS
from healthreach.layers.project import Project, RoadsSource

CRS = "EPSG:4546"  # CGCS2000 3-degree Gauss-Krueger, CM 111 E (metres)
SPACING_M = 400.0
X0, Y0 = 292_000.0, 3_950_000.0


def _classes(index: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Road class of a grid line by its row/column index; minor roads drawn at random."""
    out = rng.choice(np.array(["unclassified", "residential", "track"], dtype=object), size=len(index),
                     p=[0.5, 0.3, 0.2])
    for every, cls in ((5, "tertiary"), (20, "secondary"), (40, "primary"), (80, "trunk"), (160, "motorway")):
        out[index % every == every // 2] = cls
    return out


def road_edges(rng: np.random.Generator, nx_: int, ny_: int) -> tuple[gpd.GeoDataFrame, dict[str, float]]:
    """Road edge table (WGS84) of a perturbed grid; also the seconds spent building it."""
    times: dict[str, float] = {}
    t0 = time.perf_counter()
    gx, gy = np.meshgrid(np.arange(nx_), np.arange(ny_), indexing="ij")
    node_x = X0 + gx.ravel() * SPACING_M + rng.uniform(-100, 100, gx.size)
    node_y = Y0 + gy.ravel() * SPACING_M + rng.uniform(-100, 100, gx.size)
    nid = np.arange(gx.size).reshape(nx_, ny_)
    # Horizontal edges run along row j (class by j), vertical ones along column i (class by i).
    hu, hv = nid[:-1, :].ravel(), nid[1:, :].ravel()
    vu, vv = nid[:, :-1].ravel(), nid[:, 1:].ravel()
    h_cls = _classes(np.arange(ny_), rng)[np.broadcast_to(np.arange(ny_), (nx_ - 1, ny_)).ravel()]
    v_cls = _classes(np.arange(nx_), rng)[np.repeat(np.arange(nx_), ny_ - 1)]
    u = np.concatenate([hu, vu])
    v = np.concatenate([hv, vv])
    cls = np.concatenate([h_cls, v_cls])
    minor = np.isin(cls, ["unclassified", "residential", "track"])
    # Minor roads do not form a full grid; the class lines do (they are whole routes).
    keep = ~minor | (rng.random(len(u)) > 0.18)
    u, v, cls, minor = u[keep], v[keep], cls[keep], minor[keep]
    # Per minor edge, its own class draw (a route changes class from block to block).
    cls[minor] = rng.choice(np.array(["unclassified", "residential", "track"], dtype=object),
                            size=int(minor.sum()), p=[0.5, 0.3, 0.2])
    oneway = (cls == "residential") & (rng.random(len(u)) < 0.05)
    # Three vertices per segment: the middle one pushed sideways so roads bend.
    mid_x = (node_x[u] + node_x[v]) / 2 + rng.normal(0, 25, len(u))
    mid_y = (node_y[u] + node_y[v]) / 2 + rng.normal(0, 25, len(u))
    xs = np.stack([node_x[u], mid_x, node_x[v]], axis=1)
    ys = np.stack([node_y[u], mid_y, node_y[v]], axis=1)
    length = (np.hypot(xs[:, 1] - xs[:, 0], ys[:, 1] - ys[:, 0])
              + np.hypot(xs[:, 2] - xs[:, 1], ys[:, 2] - ys[:, 1]))
    times["grid_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(xs.ravel(), ys.ravel())
    coords = np.column_stack([lon, lat])
    geoms = shapely.linestrings(coords, indices=np.repeat(np.arange(len(u)), 3))
    times["geometry_vectorised_s"] = time.perf_counter() - t0

    # For comparison: building the same lines one shapely object at a time (on a sample, scaled).
    sample = min(50_000, len(u))
    t0 = time.perf_counter()
    [shapely.LineString(coords[3 * i: 3 * i + 3]) for i in range(sample)]
    times["geometry_one_by_one_est_s"] = (time.perf_counter() - t0) * len(u) / sample

    t0 = time.perf_counter()
    edges = gpd.GeoDataFrame(
        {"u": u.astype(np.int64), "v": v.astype(np.int64), "highway": cls.astype(str),
         "name": np.full(len(u), "", dtype=object), "maxspeed_kmh": np.full(len(u), np.nan),
         "oneway": oneway, "length_m": length},
        geometry=geoms, crs="EPSG:4326")
    times["frame_s"] = time.perf_counter() - t0
    return edges, times


def _points_gdf(xy: np.ndarray, columns: dict[str, object]) -> gpd.GeoDataFrame:
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(xy[:, 0], xy[:, 1])
    return gpd.GeoDataFrame(columns, geometry=shapely.points(np.column_stack([lon, lat])), crs="EPSG:4326")


def layers(rng: np.random.Generator, extent: tuple[float, float], n_villages: int, n_thc: int,
           n_sub: int, n_clinics: int) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """Villages and facilities (WGS84, canonical columns) scattered over the province."""
    w, h = extent
    n_towns = n_thc + n_sub
    towns = np.column_stack([X0 + rng.uniform(2000, w - 2000, n_towns), Y0 + rng.uniform(2000, h - 2000, n_towns)])
    town_of = rng.integers(0, n_towns, n_villages)
    vxy = towns[town_of] + rng.normal(0, 3500, (n_villages, 2))
    vxy[:, 0] = np.clip(vxy[:, 0], X0, X0 + w)
    vxy[:, 1] = np.clip(vxy[:, 1], Y0, Y0 + h)
    tnames = np.array([f"T{i:04d}" for i in range(n_towns)], dtype=object)
    urban = rng.random(n_villages) < 0.08
    villages = _points_gdf(vxy, {
        "vid": [f"V{i:06d}" for i in range(n_villages)],
        "name": [f"村{i}" for i in range(n_villages)],
        "population": pd.array(np.round(rng.lognormal(6.6, 0.6, n_villages)).astype(int), dtype="Int64"),
        "township": tnames[town_of].astype(str),
        "setting": np.where(urban, "urban", "rural"),
    })

    n_county = min(117, max(1, n_towns // 13))
    county_seats = towns[rng.choice(n_towns, n_county, replace=False)]
    kinds: list[np.ndarray] = []
    xys: list[np.ndarray] = []
    towns_of: list[np.ndarray] = []

    def add(kind: str, xy: np.ndarray, town: np.ndarray) -> None:
        kinds.append(np.full(len(xy), kind, dtype=object))
        xys.append(xy)
        towns_of.append(town)

    seat_town = rng.choice(n_towns, n_county, replace=False)
    county_seats = towns[seat_town]
    add("county_hospital", county_seats + 300, seat_town)
    add("county_tcm_hospital", county_seats - 300, seat_town)
    add("maternal_child", county_seats + [300, -300], seat_town)
    add("city_hospital", county_seats[:11] + [-300, 300], seat_town[:11])
    add("ems_centre", county_seats + [0, 500], seat_town)
    add("subcentre", towns[:n_sub], np.arange(n_sub))
    add("township_hc", towns[n_sub:], np.arange(n_sub, n_towns))
    clinic_of = rng.choice(n_villages, n_clinics, replace=n_clinics > n_villages)
    add("village_clinic", vxy[clinic_of] + rng.normal(0, 50, (n_clinics, 2)), town_of[clinic_of])
    urban_idx = np.flatnonzero(urban)
    stations = urban_idx[: len(urban_idx) // 2]
    add("community_station", vxy[stations] + 80, town_of[stations])
    add("ems_station", towns[rng.choice(n_towns, 200, replace=False)] + [200, 200],
        rng.integers(0, n_towns, 200))
    kind = np.concatenate(kinds)
    xy = np.vstack(xys)
    n = len(kind)
    hospital = np.isin(kind, ["county_hospital", "county_tcm_hospital", "city_hospital", "maternal_child"])
    amb = np.where(hospital | np.isin(kind, ["ems_centre", "subcentre"]), 2,
                   np.where((kind == "township_hc") & (rng.random(n) < 0.6), 1, 0))
    facilities = _points_gdf(xy, {
        "fid": [f"F{i:06d}" for i in range(n)],
        "name": [f"{k}{i}" for i, k in enumerate(kind)],
        "kind": kind.astype(str),
        "beds": pd.array(np.where(hospital, 300, np.where(kind == "village_clinic", 0, 30)), dtype="Int64"),
        "doctors": pd.array(np.where(hospital, 100, np.where(kind == "village_clinic", 1, 10)), dtype="Int64"),
        "nurses": pd.array(np.where(hospital, 150, np.where(kind == "village_clinic", 0, 12)), dtype="Int64"),
        "ambulances": pd.array(amb, dtype="Int64"),
        "township": tnames[np.concatenate(towns_of)].astype(str),
        "services": np.where(hospital, "chest_pain;stroke", ""),
        "vid": np.full(n, "", dtype=object),  # the village a clinic serves, set below
        "band_min": np.full(n, "", dtype=object),
        "radius_m": pd.array(np.full(n, np.nan), dtype="Float64"),
    })
    clinic = np.flatnonzero(kind == "village_clinic")
    facilities.loc[clinic, "vid"] = np.asarray(villages["vid"], dtype=object)[clinic_of]
    return villages, facilities


def _rss_reset() -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) so a step's own peak can be read."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def _peak_rss_gb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def baseline(project: Project, edges: gpd.GeoDataFrame, settings: Settings) -> tuple[dict, dict[str, float | int]]:
    """The baseline analysis, step by step with the library's functions: networks, nearest facility of
    every tier (with route metres and the ambulance radius distance), township and sub-centre
    catchments at 15/30/45/60 minutes and ambulance radii (split: the networks are province-sized),
    standards. Returns the networks and timings."""
    steps: dict[str, float | int] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        steps[name] = now - clock
        clock = now
        print(f"  {name}: {steps[name]:.1f} s", flush=True)

    villages, facilities = project.villages, project.facilities
    vxy, fxy = _xy(villages), _xy(facilities)
    points = np.vstack([vxy, fxy])
    networks = build_networks(edges, ("drive", "walk", "ambulance"), settings, CRS, points)
    lap("networks")
    access = village_access(villages, facilities, networks, vxy, fxy, settings)
    lap("nearest_every_tier")
    catch = service_areas.catchments(villages, facilities, networks, settings, CRS)
    steps["township_polygons"] = int(catch.geometry.notna().sum())
    lap("township_catchments")
    radii = service_areas.ems_radius(villages, facilities, networks, settings, CRS)
    steps["ems_radius_polygons"] = int(radii.geometry.notna().sum())
    lap("ems_radii")
    check_standards(access, facilities, settings, village_county=[project.name] * len(villages),
                    facility_county=[project.name] * len(facilities))
    lap("standards")
    return networks, steps


def _searches(project: Project, networks: dict) -> list[tuple[str, str, np.ndarray, bool]]:
    """(tier, mode, source nodes, toward) of every nearest-facility search the baseline makes."""
    nv = len(project.villages)
    out = []
    for tier in ACCESS_TIERS:
        net = networks[TIERS[tier].mode]
        members = np.flatnonzero(tier_mask(project.facilities, tier))
        out.append((tier, TIERS[tier].mode, net.point_node[nv + members], tier != "ems"))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nx-tiers", type=int, default=2,
                        help="tiers searched with networkx (largest first); healthreach is compared on the same")
    parser.add_argument("--scale", type=float, default=1.0, help="side of the grid relative to the default")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    rng = np.random.default_rng(20261126)
    total = time.perf_counter()

    nx_, ny_ = int(1040 * args.scale), int(1020 * args.scale)
    edges, gen = road_edges(rng, nx_, ny_)
    n_junctions = len(np.unique(np.concatenate([edges["u"].to_numpy(), edges["v"].to_numpy()])))
    # Smaller runs (--scale < 1) keep the province's density of villages and facilities.
    area = args.scale ** 2
    villages, facilities = layers(rng, ((nx_ - 1) * SPACING_M, (ny_ - 1) * SPACING_M), int(28_000 * area),
                                  int(1_400 * area), max(1, int(100 * area)), int(26_000 * area))
    print(f"synthetic province: {n_junctions:,} junctions, {len(edges):,} road segments "
          f"({int(edges['oneway'].sum()):,} one-way), {len(villages):,} villages, {len(facilities):,} facilities "
          f"({(facilities['kind'] == 'township_hc').sum():,} township HCs, "
          f"{(facilities['kind'] == 'village_clinic').sum():,} village clinics)")
    print("generation: " + ", ".join(f"{k}={v:.2f}" for k, v in gen.items()))
    project = Project(name="synthetic-province", path=Path("synthetic-province.yml"), crs=CRS,
                      facilities=facilities, villages=villages, boundaries=None,
                      roads=RoadsSource(path=Path("synthetic-roads"), format="edges"))
    gc.collect()

    # 1. The whole analysis in one process, with its own peak memory (first: the later steps' networkx
    # graphs would leave the allocator's pages behind).
    settings = Settings()
    settings = dataclasses.replace(settings, catchment_type=resolve_catchment_type(project, edges, settings))
    exact_peak = _rss_reset()
    t0 = time.perf_counter()
    result = analyze(project, edges, RunConfig(settings=settings))
    whole_s = time.perf_counter() - t0
    whole_gb = _peak_rss_gb()
    print("whole analyze steps (s): " + ", ".join(f"{k}={v:.1f}" for k, v in result.provenance["timings_s"].items()))
    print(f"whole analyze: {len(result.pairs):,} cost pairs, {len(result.standards):,} standards rows, "
          f"{len(result.catchments):,} catchment polygons ({result.provenance['catchments']})"
          + ("" if exact_peak else "; peak RSS could not be reset"))
    del result
    gc.collect()

    # 2. The baseline of the last session's benchmark (networks, nearest, catchments, radii, standards),
    # step by step, with its own peak memory.
    exact_peak = _rss_reset()
    t0 = time.perf_counter()
    networks, steps = baseline(project, edges, settings)
    baseline_s = time.perf_counter() - t0
    peak_gb = _peak_rss_gb()
    print("baseline steps (s): " + ", ".join(f"{k}={v:.1f}" if isinstance(v, float) else f"{k}={v}"
                                          for k, v in steps.items()))
    if not exact_peak:
        print("note: peak RSS could not be reset; it includes the data generation")
    gc.collect()

    # 3.-5. The nearest-facility searches alone: healthreach, bare scipy, networkx.
    searches = _searches(project, networks)
    hr_s: dict[str, float] = {}
    results: dict[str, np.ndarray] = {}
    for tier, mode, src, toward in searches:
        networks[mode].searches.clear()  # the baseline's searches are kept on the network: time a fresh one
        t0 = time.perf_counter()
        res = nearest(networks[mode], src, toward=toward)
        hr_s[tier] = time.perf_counter() - t0
        results[tier] = res.cost

    from scipy.sparse.csgraph import dijkstra

    floor_s: dict[str, float] = {}
    for tier, mode, src, toward in searches:
        graph = networks[mode].csr_s.T.tocsr() if toward else networks[mode].csr_s  # prepared, not timed
        t0 = time.perf_counter()
        cost = dijkstra(graph, directed=True, indices=src, min_only=True)
        floor_s[tier] = time.perf_counter() - t0
        if not np.allclose(np.nan_to_num(cost, posinf=-1), np.nan_to_num(results[tier], posinf=-1)):
            raise AssertionError(f"{tier}: healthreach and scipy disagree")

    import networkx as nx

    order = sorted(searches, key=lambda s: -len(s[2]))[: max(1, args.nx_tiers)]
    nx_s: dict[str, float] = {}
    nx_build: dict[str, float] = {}
    graphs: dict[tuple[str, bool], nx.DiGraph] = {}
    for tier, mode, src, toward in order:
        net = networks[mode]
        key = (mode, toward)
        if key not in graphs:
            t0 = time.perf_counter()
            # A planner's graph: the same directed edges (cheapest of parallels), reversed for "toward".
            a, b = (net.edge_to, net.edge_from) if toward else (net.edge_from, net.edge_to)
            order_e = np.argsort(-net.edge_s, kind="stable")  # later (cheaper) edges overwrite
            g = nx.DiGraph()
            g.add_nodes_from(range(net.n_nodes))
            g.add_weighted_edges_from(zip(a[order_e].tolist(), b[order_e].tolist(),
                                          np.maximum(net.edge_s[order_e], 1e-9).tolist()))
            graphs[key] = g
            nx_build[f"{mode}{'_reversed' if toward else ''}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        dist = nx.multi_source_dijkstra_path_length(graphs[key], set(src.tolist()))
        nx_s[tier] = time.perf_counter() - t0
        vnodes = net.point_node[: len(villages)]
        ref = np.array([dist.get(int(n), np.inf) for n in vnodes])
        ours = results[tier][vnodes]
        if not np.allclose(np.nan_to_num(ref, posinf=-1), np.nan_to_num(ours, posinf=-1), atol=1e-6):
            raise AssertionError(f"{tier}: healthreach and networkx disagree")
        del dist
    graphs.clear()

    print("nearest per tier (s): " + ", ".join(
        f"{t}: hr {hr_s[t]:.2f} / scipy {floor_s[t]:.2f}" + (f" / nx {nx_s[t]:.2f}" if t in nx_s else "")
        for t, *_ in searches))
    print("networkx graph builds (s, not in the ratio): " + ", ".join(f"{k}={v:.1f}" for k, v in nx_build.items()))
    subset = list(nx_s)
    if len(subset) < len(searches):
        print(f"networkx ran on {len(subset)} of {len(searches)} searches ({', '.join(subset)}); "
              "nearest_vs_networkx_x compares healthreach on those same searches")
    print(f"benchmark total {time.perf_counter() - total:.0f} s")
    print(f"baseline_wall_s={baseline_s:.1f}")
    print(f"peak_rss_gb={peak_gb:.2f}")
    print(f"nearest_vs_networkx_x={sum(nx_s.values()) / sum(hr_s[t] for t in subset):.1f}")
    print(f"nearest_vs_scipy_floor_x={sum(hr_s.values()) / sum(floor_s.values()):.2f}")

    print(f"whole_analyze_wall_s={whole_s:.1f}")
    print(f"whole_analyze_rss_gb={whole_gb:.2f}")


def _xy(frame: gpd.GeoDataFrame) -> np.ndarray:
    lon, lat = shapely.get_coordinates(frame.geometry.array).T
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(lon, lat)
    return np.column_stack([x, y])


if __name__ == "__main__":
    main()
