"""`healthreach optimize`: choose sites, write them as a scenario, then analyse and map that scenario."""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from healthreach._errors import UsageError
from healthreach.commands.outfolder import default_out, plan_out, staged
from healthreach.commands.run import load_scenarios, write_run
from healthreach.commands.setup import Options, load, prepare_loaded
from healthreach.config import MAX_BAND_MIN
from healthreach.maps.exports import write_csv
from healthreach.maps.labels import siting_title
from healthreach.maps.outputs import write_text
from healthreach.scenarios import siting
from healthreach.scenarios.site import SitingJob, site
from healthreach.tiers import KINDS, normalise_kind

Progress = Callable[[str], None]
PROBLEMS = ("mclp", "lscp", "pmedian")


def check_job(problem: str, kind: str, k: int | None, band_min: float, candidates: str,
              min_from_seat_min: float, demand: str) -> SitingJob:
    """The siting job, every option checked (usage errors, exit 2) before any input is read."""
    if problem not in PROBLEMS:
        raise UsageError(f"--problem {problem}: expected one of {', '.join(PROBLEMS)}")
    target = normalise_kind(kind)
    if target is None:
        raise UsageError(f"--kind {kind}: unknown kind (expected one of {', '.join(KINDS)})")
    if not (math.isfinite(band_min) and 0 < band_min <= MAX_BAND_MIN):
        raise UsageError(f"--band {band_min}: expected minutes > 0 and at most {MAX_BAND_MIN}")
    if k is not None and k < 1:
        raise UsageError(f"--k {k}: expected a number of new sites, at least 1")
    if not (math.isfinite(min_from_seat_min) and 0 <= min_from_seat_min <= MAX_BAND_MIN):
        raise UsageError(f"--min-from-seat {min_from_seat_min}: expected minutes from 0 to {MAX_BAND_MIN}")
    siting.demand_minutes(demand)
    siting.candidate_file(candidates)
    return SitingJob(problem=problem, kind=target, k=k, band_min=band_min, candidates=candidates,
                     min_from_seat_min=min_from_seat_min, demand=demand)


def optimize_project(project_path: str | Path, *, problem: str, kind: str, k: int | None, band_min: float,
                     candidates: str, out: Path | None = None, min_from_seat_min: float = 0.0,
                     demand: str = "population", per_county: bool = False, options: Options | None = None,
                     progress: Progress | None = None) -> Path:
    """Write optimized.yml and optimize.csv, and the comparison of that scenario, as one output folder.

    `per_county`: each county of the boundaries chooses its own sites (`k` per county, see
    healthreach.scenarios.site), on Dask when the options ask for workers or a scheduler."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    options = options or Options()
    job = check_job(problem, kind, k, band_min, candidates, min_from_seat_min, demand)
    project = load(project_path, options, progress=say)
    candidate_file = siting.candidate_file(candidates)
    plan = plan_out(out if out is not None else default_out(project.name),
                    [*project.inputs.values(), *([candidate_file] if candidate_file else [])])
    with staged(plan) as stage:
        prepared = prepare_loaded(project, options, progress=say)
        say(f"solving {problem} for {job.kind} with HiGHS (time limit {prepared.config.solver.time_limit_s:g} s)")
        changes, table = site(project, prepared.edges, prepared.config, job, per_county=per_county,
                              parts_dir=plan.parts / "optimize", progress=say)
        changes = siting.unique_new_ids(changes, taken=set(project.facilities["fid"].astype(str)))
        suffix = "-per-county" if per_county else ""
        title = siting_title(problem, job.kind, band_min, prepared.config.output.lang, per_county=per_county)
        # `base` is relative to where the file will be; the staging folder sits beside it, so it
        # reads the same from there.
        document = {"name": f"optimized-{problem}-{job.kind}{suffix}".replace("_", "-"), "title": title,
                    "base": os.path.relpath(project.path, plan.target), "changes": changes}
        write_text(siting.scenario_yaml(document), stage / "optimized.yml")
        write_csv(table, stage / "optimize.csv")
        scenarios = load_scenarios(project, [stage / "optimized.yml"])
        write_run(stage, plan, prepared, scenarios, started=started, progress=say)
    return plan.target
