"""Partitioned (per-county, Dask) runs of a synthetic province: wall time, worker memory, scaling.

Generates (seeded) a grid of `side` x `side` square counties, each `county_km` wide with a road grid
every `spacing_m` metres (a tertiary every 5th line, a primary every 20th, the rest unclassified)
crossing the borders; per county 2 townships, 30 villages, a county hospital, an emergency centre,
2 township health centres (one a sub-centre) and 10 village clinics. Then it runs
the partitioned analysis (`healthreach.coverage.pipeline.analyze` with county parts on Dask) on a
local cluster of 1 and of 2 workers (fresh parts folders, so nothing is resumed),
prints wall time, per-county seconds and peak resident memory per worker, the 2-worker speed-up, and
the time projected for 2,800 counties on 32 workers from the measured mean per-county cost.

Run:  .venv/bin/python benchmarks/partitioned.py [--side 10] [--county-km 20] [--spacing-m 200]
      [--buffer-m 5000]        (defaults: 100 counties, 1,000,000 road junctions)
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

from dask.distributed import LocalCluster

from healthreach.config import Execution, RunConfig, Settings
from healthreach.coverage.pipeline import analyze
from healthreach.coverage.service_areas import resolve_catchment_type
from healthreach.layers.project import Project, RoadsSource
from healthreach.partition.counties import fastest_kmh

CRS = "EPSG:4546"
X0, Y0 = 400_000.0, 4_300_000.0
_TO_WGS = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)


def _wgs(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return _TO_WGS.transform(x, y)


def roads(side_m: float, spacing_m: float) -> gpd.GeoDataFrame:
    """Road edge table (roads.py contract) of a square grid `side_m` wide, one segment per grid step."""
    n = round(side_m / spacing_m) + 1
    ij = np.arange(n)
    node = lambda i, j: i * n + j
    # Horizontal then vertical steps.
    i, j = np.meshgrid(ij, ij[:-1], indexing="ij")
    hu, hv, hline = node(i, j).ravel(), node(i, j + 1).ravel(), i.ravel()
    i, j = np.meshgrid(ij[:-1], ij, indexing="ij")
    vu, vv, vline = node(i, j).ravel(), node(i + 1, j).ravel(), j.ravel()
    u, v, line = np.r_[hu, vu], np.r_[hv, vv], np.r_[hline, vline]
    # Junctions jittered by up to 10 % of the spacing: an exact lattice makes GEOS unions of the
    # catchment buffers degenerate, and real roads are never one.
    jitter = np.random.default_rng(7).uniform(-0.1, 0.1, (n * n, 2)) * spacing_m
    x = X0 + (np.arange(n * n) % n) * spacing_m + jitter[:, 0]
    y = Y0 + (np.arange(n * n) // n) * spacing_m + jitter[:, 1]
    lon, lat = _wgs(x, y)
    coords = np.stack([np.column_stack([lon[u], lat[u]]), np.column_stack([lon[v], lat[v]])], axis=1)
    highway = np.where(line % 20 == 10, "primary", np.where(line % 5 == 2, "tertiary", "unclassified"))
    return gpd.GeoDataFrame(
        {"u": u.astype(np.int64), "v": v.astype(np.int64), "highway": highway.astype(object),
         "name": np.full(len(u), "", dtype=object), "maxspeed_kmh": np.full(len(u), np.nan),
         "oneway": np.zeros(len(u), bool), "length_m": np.hypot(x[u] - x[v], y[u] - y[v])},
        geometry=shapely.linestrings(coords), crs="EPSG:4326")


def layers(side: int, county_m: float, rng: np.random.Generator) -> tuple[gpd.GeoDataFrame, ...]:
    """Villages, facilities and county boundaries (WGS84) of `side` x `side` counties."""
    vrows, vxy, frows, fxy, names, boxes = [], [], [], [], [], []
    for c in range(side * side):
        cx, cy = X0 + (c % side) * county_m, Y0 + (c // side) * county_m
        county = f"县{c:04d}"
        names.append(county)
        box = np.array([[cx, cy], [cx + county_m, cy], [cx + county_m, cy + county_m], [cx, cy + county_m]])
        boxes.append(shapely.Polygon(np.column_stack(_wgs(box[:, 0], box[:, 1]))))
        for k in range(30):
            x, y = cx + rng.uniform(0.02, 0.98) * county_m, cy + rng.uniform(0.02, 0.98) * county_m
            town = f"{county}{'北' if y > cy + county_m / 2 else '南'}镇"
            vrows.append({"vid": f"V{c:04d}{k:02d}", "name": f"村{c}-{k}", "population": int(rng.integers(200, 3000)),
                          "township": town, "setting": "rural"})
            vxy.append((x, y))
        mid = (cx + county_m / 2, cy + county_m / 2)
        plan = [("county_hospital", mid, "南", 60, 2), ("ems_centre", (mid[0] + 300, mid[1]), "南", 5, 3),
                ("subcentre", (cx + 0.25 * county_m, cy + 0.25 * county_m), "南", 10, 1),
                ("township_hc", (cx + 0.75 * county_m, cy + 0.75 * county_m), "北", 8, 1)]
        plan += [("village_clinic", (cx + rng.uniform(0.05, 0.95) * county_m, cy + rng.uniform(0.05, 0.95) * county_m),
                  "南", 1, 0) for _ in range(10)]
        for k, (kind, xy, half, doctors, amb) in enumerate(plan):
            frows.append({"fid": f"F{c:04d}{k:02d}", "name": f"{kind}{c}-{k}", "kind": kind, "beds": 10 * doctors,
                          "doctors": doctors, "nurses": doctors, "ambulances": amb, "township": f"{county}{half}镇",
                          "services": "", "vid": None})
            fxy.append(xy)

    def points(rows: list[dict], xy: list[tuple[float, float]]) -> gpd.GeoDataFrame:
        arr = np.array(xy)
        lon, lat = _wgs(arr[:, 0], arr[:, 1])
        return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=shapely.points(np.column_stack([lon, lat])),
                                crs="EPSG:4326")

    boundaries = gpd.GeoDataFrame({"name": names, "level": ["county"] * len(names)}, geometry=boxes, crs="EPSG:4326")
    return points(vrows, vxy), points(frows, fxy), boundaries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", type=int, default=10, help="counties per side (side^2 counties)")
    parser.add_argument("--county-km", type=float, default=20.0)
    parser.add_argument("--spacing-m", type=float, default=200.0)
    parser.add_argument("--buffer-m", type=float, default=5000.0)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args()
    rng = np.random.default_rng(20261126)
    t0 = time.perf_counter()
    edges = roads(args.side * args.county_km * 1000, args.spacing_m)
    villages, facilities, boundaries = layers(args.side, args.county_km * 1000, rng)
    project = Project(name="synthetic-partitioned", path=Path("synthetic-partitioned.yml"), crs=CRS,
                      facilities=facilities, villages=villages, boundaries=boundaries,
                      roads=RoadsSource(path=Path("synthetic-roads"), format="edges"))
    settings = Settings()
    settings = dataclasses.replace(settings, catchment_type=resolve_catchment_type(project, edges, settings))
    junctions = len(np.unique(np.r_[edges["u"], edges["v"]]))
    print(f"synthetic province: {args.side ** 2} counties of {args.county_km:g} km, {junctions:,} road junctions, "
          f"{len(edges):,} segments, {len(villages):,} villages, {len(facilities):,} facilities "
          f"(generated in {time.perf_counter() - t0:.1f} s)")
    reach_min = args.buffer_m / (fastest_kmh(edges, settings) / 3.6) / 60
    print(f"buffer {args.buffer_m / 1000:g} km (exact reach {reach_min:.1f} min)")
    walls: dict[int, float] = {}
    per_county: dict[int, np.ndarray] = {}
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as folder, LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
            config = RunConfig(settings=settings,
                               execution=Execution(scheduler=cluster.scheduler_address, buffer_m=args.buffer_m))
            started = time.perf_counter()
            result = analyze(project, edges, config, parts_dir=Path(folder))
            walls[workers] = time.perf_counter() - started
        parts = result.provenance["partition"]["parts"]
        seconds = np.array([p["seconds"] for p in parts])
        peak = max(p["peak_rss_mb"] for p in parts)
        per_county[workers] = seconds
        print(f"{workers} worker(s): wall {walls[workers]:.1f} s; per county mean {seconds.mean():.2f} s, "
              f"max {seconds.max():.2f} s; peak RSS per worker {peak:.0f} MB; "
              f"unverified villages {result.provenance['partition']['unverified_villages']}")
    if 1 in walls and len(walls) > 1:
        for workers, wall in walls.items():
            if workers > 1:
                print(f"speed-up with {workers} workers: {walls[1] / wall:.2f}x (ideal {workers}x)")
    mean_s = per_county[min(per_county)].mean()
    projected = 2800 * mean_s / 32
    print(f"projected 2,800 counties on 32 workers at {mean_s:.2f} s per county: {projected / 60:.1f} min "
          "(task time only; per-county cost here is for a part of "
          f"{(args.county_km + 2 * args.buffer_m / 1000) ** 2:.0f} km2 with {30} villages)")


if __name__ == "__main__":
    main()
