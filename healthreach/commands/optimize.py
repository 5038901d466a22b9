"""`healthreach optimize`: choose sites, write them as a scenario, then analyse and map that scenario."""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from healthreach._errors import UsageError
from healthreach.commands.run import check_out, compare_project
from healthreach.commands.setup import Options, default_out, prepare
from healthreach.maps.exports import write_csv
from healthreach.maps.labels import siting_title
from healthreach.maps.outputs import write_text
from healthreach.scenarios import siting
from healthreach.scenarios.site import SitingJob, site
from healthreach.tiers import KINDS, normalise_kind

Progress = Callable[[str], None]
PROBLEMS = ("mclp", "lscp", "pmedian")


def optimize_project(project_path: str | Path, *, problem: str, kind: str, k: int | None, band_min: float,
                     candidates: str, out: Path | None = None, min_from_seat_min: float = 0.0,
                     demand: str = "population", per_county: bool = False, options: Options | None = None,
                     progress: Progress | None = None) -> Path:
    """Write optimized.yml and optimize.csv into the output folder, then compare that scenario.

    `per_county`: each county of the boundaries chooses its own sites (`k` per county, see
    healthreach.scenarios.site), on Dask when the options ask for workers or a scheduler."""
    say = progress or (lambda _msg: None)
    if problem not in PROBLEMS:
        raise UsageError(f"--problem {problem}: expected one of {', '.join(PROBLEMS)}")
    target = normalise_kind(kind)
    if target is None:
        raise UsageError(f"--kind {kind}: unknown kind (expected one of {', '.join(KINDS)})")
    if not band_min > 0:
        raise UsageError(f"--band {band_min}: expected minutes > 0")
    prepared = prepare(project_path, options or Options(), progress=say)
    project = prepared.project
    out = out if out is not None else default_out(project.name)
    check_out(out, list(project.inputs.values()))
    job = SitingJob(problem=problem, kind=target, k=k, band_min=band_min, candidates=candidates,
                    min_from_seat_min=min_from_seat_min, demand=demand)
    say(f"solving {problem} for {target} with HiGHS (time limit {prepared.config.solver.time_limit_s:g} s)")
    changes, table = site(project, prepared.edges, prepared.config, job, per_county=per_county,
                          parts_dir=out / "parts" / "optimize", progress=say)
    suffix = "-per-county" if per_county else ""
    title = siting_title(problem, target, band_min, prepared.config.output.lang, per_county=per_county)
    document = {"name": f"optimized-{problem}-{target}{suffix}".replace("_", "-"), "title": title,
                "base": os.path.relpath(project.path.resolve(), out.resolve()), "changes": changes}
    out.mkdir(parents=True, exist_ok=True)
    write_text(siting.scenario_yaml(document), out / "optimized.yml")
    write_csv(table, out / "optimize.csv")
    return compare_project(project.path, [out / "optimized.yml"], out=out, progress=progress, prepared=prepared)
