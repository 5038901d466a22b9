"""Siting optimisation per county: each county plans its own new sites for its own residents.

A province-wide MCLP or p-median with one budget does not separate by county, but county plans are
made county by county (the seeds set sub-centres and ambulance bases per county), and then the
problem does separate: with `--per-county`, each county chooses `k` new sites (MCLP, p-median) or
the fewest sites that cover its villages (LSCP) among the candidates inside it, for the demand of its
own villages. Existing facilities of the tier in the county and within the partition buffer around
it count as already chosen, so a village near a border may be covered from across it. Counties run
as the parts of `healthreach.partition` (Dask tasks with retries and resume, or one after another in
this process), and their choices merge into one scenario.
"""
from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach._errors import UsageError
from healthreach.coverage.regional import county_polygons
from healthreach.config import Settings
from healthreach.layers.project import Project
from healthreach.partition import (
    PartInput,
    county_parts,
    default_buffer_m,
    home_counties,
    is_partitioned,
    peak_rss_mb,
    run_and_load,
)
from healthreach.scenarios import siting

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SitingJob:
    """What `healthreach optimize` was asked, the same for every county."""

    problem: str
    kind: str
    k: int | None
    band_min: float
    candidates: str
    time_limit_s: float
    min_from_seat_min: float
    demand: str


@dataclass(frozen=True)
class CountySiting:
    """One county's answer: its scenario changes and optimize.csv rows (empty when it had no candidates)."""

    county: str
    digest: str
    changes: list[dict]
    table: pd.DataFrame
    note: str
    seconds: float
    peak_rss_mb: float
    village_pos: np.ndarray
    """Positions of the county's own villages in the full table (its demand)."""


def site_county(job: SitingJob, part: PartInput) -> CountySiting:
    """Solve one county's siting problem on its part of the roads."""
    started = time.perf_counter()
    own = dataclasses.replace(part.project, villages=part.project.villages.iloc[np.flatnonzero(part.own_villages)])
    sites = siting.candidate_sites(own, job.candidates, job.kind, part.settings, allow_none=True)
    points = sites.points
    home = home_counties(part.project.boundaries, points.geometry, *_counties(part.project))
    inside = points["fixed"].to_numpy() | (home == part.county)
    sites = siting.Candidates(points[inside].reset_index(drop=True))
    changes: list[dict] = []
    table = pd.DataFrame()
    note = ""
    n_new = int((~sites.points["fixed"]).sum())
    if n_new == 0:
        note = "no candidate site in the county"
    elif len(own.villages) == 0:
        note = "no village in the county"
    else:
        if job.min_from_seat_min > 0:
            try:
                sites = siting.far_from_seat(own, part.edges, sites, part.settings, job.min_from_seat_min * 60.0)
            except UsageError as exc:  # a county with no candidate far enough is reported, not fatal
                note = str(exc)
        if not note:
            k = job.k if job.k is None else min(job.k, int((~sites.points["fixed"]).sum()))
            if k is not None and k < job.k:
                note = f"only {k} candidate sites: all chosen"
            band_s = job.band_min * 60.0
            cost = siting.cost_matrix(own, part.edges, sites, job.kind, part.settings,
                                      band_s if job.problem != "pmedian" else np.inf)
            demand = siting.demand_weights(own, part.edges, part.settings, job.demand)
            solution = siting.solve(job.problem, cost, demand, k=k, band_s=band_s,
                                    fixed=sites.points["fixed"].to_numpy(), time_limit_s=job.time_limit_s)
            document = siting.solution_scenario(solution, sites, job.kind, problem=job.problem, base="",
                                                band_min=job.band_min)
            changes = [_prefixed(change, part.key) for change in document["changes"]]
            table = siting.solution_table(solution, sites)
            table.insert(0, "county", part.county)
            table["note"] = note
    peak_mb = peak_rss_mb()
    return CountySiting(county=part.county, digest=part.digest, changes=changes, table=table, note=note,
                        seconds=round(time.perf_counter() - started, 3), peak_rss_mb=round(peak_mb, 1),
                        village_pos=part.village_pos[part.own_villages])


def _counties(project: Project) -> tuple[np.ndarray, np.ndarray]:
    counties = county_polygons(project.boundaries)
    return counties["name"].astype(str).to_numpy(), counties.geometry.to_crs("EPSG:4326").to_numpy()


def _prefixed(change: dict, key: str) -> dict:
    """A new site's id made unique across counties (OPT1 -> OPT-<county>-1)."""
    if "add" in change:
        return {"add": {**change["add"], "fid": change["add"]["fid"].replace("OPT", f"OPT-{key}-", 1)}}
    return change


def site_per_county(project: Project, edges: gpd.GeoDataFrame, settings: Settings, job: SitingJob, *,
                    parts_dir: Path, workers: int | None = None, scheduler: str | None = None,
                    buffer_m: float | None = None, progress: Progress | None = None
                    ) -> tuple[list[dict], pd.DataFrame]:
    """Every county's choice: the merged scenario changes and optimize.csv (a `county` column first).

    Runs the counties as Dask tasks when `workers` > 1 or a `scheduler` is given, else one after
    another here. Raises InputError naming the counties that failed after their retries.
    """
    say = progress or (lambda _msg: None)
    buffer_m = default_buffer_m(edges, settings) if buffer_m is None else float(buffer_m)
    salt = hashlib.sha256(repr(dataclasses.astuple(job)).encode()).hexdigest()

    def parts() -> Iterator[PartInput]:
        for part in county_parts(project, edges, settings, buffer_m=buffer_m):
            yield dataclasses.replace(part, digest=hashlib.sha256((part.digest + salt).encode()).hexdigest())

    runner = partial(site_county, job)
    results: list[CountySiting]
    if is_partitioned(workers, scheduler):
        results, _ = run_and_load(parts(), parts_dir, workers=workers, scheduler=scheduler, runner=runner,
                                  progress=say)
    else:
        results = []
        for part in parts():
            say(f"county {part.county}: siting")
            results.append(runner(part))
    changes = [change for result in results for change in result.changes]
    notes = pd.DataFrame([{"county": r.county, "note": r.note} for r in results if r.note and not len(r.table)])
    table = pd.concat([r.table for r in results if len(r.table)] + ([notes] if len(notes) else []),
                      ignore_index=True)
    return changes, table
