"""The siting step: choose new sites for one area's residents, in this process or per county on Dask.

A single `optimize` sites the whole project as one area. With `--per-county` each county plans its
own new sites for its own residents, as county plans are made (the seeds set sub-centres and
ambulance bases per county): each county chooses `k` new sites (MCLP, p-median) or the fewest that
cover its villages (LSCP) among the candidates inside it; existing facilities of the tier within the
partition buffer count as already chosen, so a village near a border may be covered from across it.
Counties run as parts of healthreach.partition (Dask tasks with retries and resume), and their
choices merge into one scenario.
"""
from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach._errors import UsageError
from healthreach.config import RunConfig, Settings, SolverOptions
from healthreach.partition.counties import Area, county_areas, default_buffer_m, home_counties, whole
from healthreach.partition.runner import run_parts
from healthreach.scenarios import siting

Progress = Callable[[str], None]


@dataclass(frozen=True)
class SitingJob:
    """What `healthreach optimize` was asked, the same for every area."""

    problem: str
    """'mclp', 'lscp' or 'pmedian'."""
    kind: str
    """The kind the chosen sites become."""
    k: int | None
    """New sites (per county with --per-county); None for lscp."""
    band_min: float
    candidates: str
    min_from_seat_min: float = 0.0
    demand: str = "population"


@dataclass(frozen=True)
class AreaSiting:
    """One area's answer: its scenario changes and optimize.csv rows (empty, with a note, when it has
    no candidate or no village)."""

    label: str
    changes: list[dict]
    table: pd.DataFrame
    note: str


def site_area(area: Area, settings: Settings, job: SitingJob, solver: SolverOptions) -> AreaSiting:
    """Solve one area's siting problem on its roads, for its own villages.

    For the whole project (a single run) a missing candidate is a usage error; a county without
    candidates, or with too few, is reported in its note instead.
    """
    county = area.county
    own = dataclasses.replace(area.project, villages=area.project.villages.iloc[np.flatnonzero(area.own_villages)])
    sites = siting.candidate_sites(own, job.candidates, job.kind, settings, allow_none=county is not None)
    if county is not None:
        points = sites.points
        inside = points["fixed"].to_numpy() | (home_counties(area.project.boundaries, points.geometry) == county)
        sites = siting.Candidates(points[inside].reset_index(drop=True))
    label = county or area.label
    if not (~sites.points["fixed"]).any():
        return AreaSiting(label, [], pd.DataFrame(), "no candidate site in the county")
    if not len(own.villages):
        return AreaSiting(label, [], pd.DataFrame(), "no village in the county")
    nets = siting.siting_networks(own, area.edges, sites, job.kind, settings)
    note = ""
    if job.min_from_seat_min > 0:
        try:
            kept = siting.far_from_seat(nets, sites, job.min_from_seat_min * 60.0)
        except UsageError as exc:
            if county is None:
                raise
            return AreaSiting(label, [], pd.DataFrame(), str(exc))
        if len(kept.points) != len(sites.points):
            sites = kept
            nets = siting.siting_networks(own, area.edges, sites, job.kind, settings)
    k = job.k
    if county is not None and k is not None and k > int((~sites.points["fixed"]).sum()):
        k = int((~sites.points["fixed"]).sum())
        note = f"only {k} candidate sites: all chosen"
    band_s = job.band_min * 60.0
    cost = siting.cost_matrix(nets, job.kind, band_s if job.problem != "pmedian" else np.inf)
    weights = siting.demand_weights(own, nets, job.demand)
    solution = siting.solve(job.problem, cost, weights, k=k, band_s=band_s, fixed=sites.points["fixed"].to_numpy(),
                            time_limit_s=solver.time_limit_s, mip_gap=solver.mip_gap)
    document = siting.solution_scenario(solution, sites, job.kind, problem=job.problem, base="",
                                        band_min=job.band_min)
    changes = document["changes"] if county is None else [_prefixed(c, area.key) for c in document["changes"]]
    table = siting.solution_table(solution, sites, own.villages, weights)
    if county is not None:
        table.insert(0, "county", county)
        table["note"] = ["; ".join(n for n in (note, solved) if n) for solved in table["note"]]
    return AreaSiting(label, changes, table, note)


def _prefixed(change: dict, key: str) -> dict:
    """A new site's id made unique across counties (OPT1 -> OPT-<county>-1)."""
    if "add" in change:
        return {"add": {**change["add"], "fid": change["add"]["fid"].replace("OPT", f"OPT-{key}-", 1)}}
    return change


def site(project, edges: gpd.GeoDataFrame, config: RunConfig, job: SitingJob, *, per_county: bool = False,
         parts_dir: Path | None = None, progress: Progress | None = None) -> tuple[list[dict], pd.DataFrame]:
    """The chosen sites as scenario changes, and optimize.csv (with a `county` column per county).

    `per_county`: every county of the boundaries chooses its own (as Dask parts in `parts_dir` when
    `config.execution` is partitioned, else one after another here). Raises InputError naming the
    counties that failed after their retries.
    """
    say = progress or (lambda _msg: None)
    settings, solver = config.settings, config.solver
    if not per_county:
        answer = site_area(whole(project, edges), settings, job, solver)
        return answer.changes, answer.table
    if job.problem != "lscp" and (job.k is None or job.k < 1):
        raise UsageError(f"--problem {job.problem} needs --k N (new sites per county, at least 1)")
    buffer_m = config.execution.buffer_m
    if buffer_m is None:
        buffer_m = default_buffer_m(edges, settings, max(job.band_min, float(max(settings.bands_min))))
    salt = hashlib.sha256(repr((dataclasses.astuple(job), dataclasses.astuple(solver))).encode()).hexdigest()
    areas = county_areas(project, edges, settings, buffer_m=buffer_m, salt=salt)
    fn = partial(site_area, settings=settings, job=job, solver=solver)
    if config.execution.partitioned:
        if parts_dir is None:
            raise UsageError("a partitioned run needs a folder for its parts")
        answers = [f.value for f in run_parts(areas, parts_dir, fn, workers=config.execution.workers,
                                              scheduler=config.execution.scheduler, progress=say)[0]]
    else:
        answers = []
        for area in areas:
            say(f"county {area.label}: siting")
            answers.append(fn(area))
    changes = [change for answer in answers for change in answer.changes]
    notes = pd.DataFrame([{"county": a.label, "note": a.note} for a in answers if a.note and not len(a.table)])
    table = pd.concat([a.table for a in answers if len(a.table)] + ([notes] if len(notes) else []),
                      ignore_index=True)
    return changes, table
