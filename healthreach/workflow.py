"""The commands' work as library calls: run, compare, demo, validate (the CLI only parses arguments)."""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthreach._errors import InputError, UsageError
from healthreach.coverage.analysis import analyze
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.roads import read_project_roads
from healthreach.config import settings_from_parameters
from healthreach.tiers import KINDS, normalise_kind
from healthreach.layers.project import Project, load_project, validate_project
from healthreach.maps.exports import hash_file
from healthreach.partition import analysis_runner
from healthreach.maps.outputs import BASELINE_FILES, OutputOptions, resolve_options, write_outputs
from healthreach.scenarios.compare import compare_tables, standards_changes, village_deltas
from healthreach.scenarios.outcome import ScenarioOutcome
from healthreach.scenarios.apply import apply_to_project, apply_to_roads
from healthreach.scenarios.scenario import load_scenario

Progress = Callable[[str], None]

SAMPLE_DIR = Path(__file__).parent / "data" / "sample"


def _quiet(_message: str) -> None:
    """Progress sink for library callers who want none."""


def default_out(project: Project) -> Path:
    """maps/<project name>/ under the current folder."""
    return Path("maps") / project.name


def _check_out(out: Path, project: Project, extra_inputs: Sequence[Path] = ()) -> None:
    """Refuse an output folder where an output would replace one of the inputs."""
    inputs = {p.resolve() for p in (*project.inputs.values(), *extra_inputs)}
    for name in BASELINE_FILES:
        target = (out / name).resolve()
        if target in inputs or any(target in p.parents for p in inputs):
            raise UsageError(f"--out {out}: writing {name} there would replace the input {target}; "
                             "choose another output folder")


def _hashes(paths: dict[str, Path]) -> dict[str, str]:
    return {role: hash_file(p) for role, p in paths.items() if p.is_file()}


def _provenance(result: AnalysisResult, inputs: dict[str, Path], hashes: dict[str, str],
                started: float, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    after = _hashes(inputs)
    changed = sorted(role for role in hashes if after.get(role) != hashes[role])
    if changed:  # inputs are only ever read; a change means something else wrote them meanwhile
        raise InputError(f"input files changed while the analysis ran: {', '.join(changed)}")
    record = dict(result.provenance)
    record["inputs"] = {role: {"path": str(p), "sha256": hashes.get(role)} for role, p in inputs.items()}
    record["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record["wall_s"] = round(time.perf_counter() - started, 3)
    record["synthetic_sample"] = Path(inputs.get("project", Path())).resolve().parent == SAMPLE_DIR.resolve()
    if extra:
        record.update(extra)
    return record


def compare(project: Project, scenarios: Sequence[Any], *, edges: Any = None, settings: Any = None,
            progress: Progress | None = None, run: Callable[..., AnalysisResult] | None = None,
            ) -> tuple[AnalysisResult, list[ScenarioOutcome]]:
    """Baseline and each loaded scenario on the same network, with their comparison tables.

    `edges` defaults to the project's roads, `settings` to its parameters; `run(project, edges,
    settings, label)` defaults to one in-process analysis (the partitioned runner takes its place).
    """
    say = progress or _quiet
    settings = settings or settings_from_parameters(project.parameters, source=str(project.path))
    edges = edges if edges is not None else read_project_roads(project, progress=say)
    run = run or (lambda p, e, s, _label: analyze(p, edges=e, settings=s, progress=say))
    baseline = run(project, edges, settings, "baseline")
    # Scenarios draw their catchments as the baseline did, so the maps compare like with like.
    kind = baseline.provenance.get("catchments", settings.catchment_type)
    settings = dataclasses.replace(settings, catchment_type=kind)
    outcomes = []
    for scenario in scenarios:
        say(f"scenario {scenario.name}")
        result = run(apply_to_project(project, scenario), apply_to_roads(edges, scenario), settings,
                     f"scenario_{scenario.name}")
        outcomes.append(ScenarioOutcome(
            name=scenario.name, title=scenario.title, result=result,
            table=compare_tables(baseline.villages, result.villages, scenario_name=scenario.name,
                                 bands_min=settings.bands_min, county_name=project.name),
            deltas=village_deltas(baseline.villages, result.villages),
            standards_changes=standards_changes(baseline.standards, result.standards),
        ))
    return baseline, outcomes


def run_project(project_path: str | Path, *, out: Path | None = None, lang: str = "zh",
                progress: Progress | None = None, options: OutputOptions | None = None,
                workers: int | None = None, scheduler: str | None = None) -> Path:
    """`healthreach run`: baseline analysis and every output file; returns the output folder.

    With `workers` > 1 or a Dask `scheduler` address the analysis runs per county (healthreach.partition),
    its parts kept in `<out>/parts/` so an interrupted run resumes."""
    return compare_project(project_path, [], out=out, lang=lang, progress=progress, options=options,
                           workers=workers, scheduler=scheduler)


def compare_project(project_path: str | Path, scenario_paths: Sequence[str | Path], *, out: Path | None = None,
                    lang: str = "zh", progress: Progress | None = None,
                    options: OutputOptions | None = None, workers: int | None = None,
                    scheduler: str | None = None) -> Path:
    """`healthreach compare`: baseline and each scenario on the same network, with their differences.

    `workers`/`scheduler`: partitioned per county on Dask, as for `run_project`."""
    say = progress or _quiet
    started = time.perf_counter()
    say(f"loading project {Path(project_path).name}")
    project = load_project(project_path)
    options = resolve_options(options, project)
    scenarios = [load_scenario(p) for p in scenario_paths]
    out = out if out is not None else default_out(project)
    scenario_files = [s.path for s in scenarios]
    _check_out(out, project, scenario_files)
    inputs = dict(project.inputs)
    inputs.update({f"scenario:{s.name}": s.path for s in scenarios})
    hashes = _hashes(inputs)
    settings = settings_from_parameters(project.parameters, source=str(project.path))

    say(f"reading roads {project.roads.path.name}")
    clock = time.perf_counter()
    edges = read_project_roads(project, progress=say)
    read_s = round(time.perf_counter() - clock, 3)
    run = analysis_runner(workers=workers, scheduler=scheduler, parts_root=out / "parts", progress=say)
    baseline, outcomes = compare(project, scenarios, edges=edges, settings=settings, progress=say, run=run)
    say(f"writing outputs to {out}")
    provenance = _provenance(baseline, inputs, hashes, started,
                             {"scenarios": [{"name": s.name, "title": s.title, "path": str(s.path)} for s in scenarios],
                              "lang": lang})
    provenance["timings_s"] = {"read_roads": read_s, **provenance.get("timings_s", {})}
    return write_outputs(baseline, out, lang=lang, outcomes=outcomes, provenance=provenance, options=options)


def run_demo(*, out: Path | None = None, lang: str = "zh", progress: Progress | None = None,
             options: OutputOptions | None = None) -> Path:
    """`healthreach demo`: the embedded synthetic sample county, baseline plus its scenarios."""
    project_path = SAMPLE_DIR / "project.yml"
    if not project_path.exists():
        raise UsageError(f"the sample county is missing from this installation ({project_path})")
    scenarios = sorted((SAMPLE_DIR / "scenarios").glob("*.yml"))
    return compare_project(project_path, scenarios, out=out, lang=lang, progress=progress, options=options)


def validate_inputs(project_path: str | Path, *, out: Path | None = None,
                    progress: Progress | None = None) -> tuple[pd.DataFrame, Path]:
    """`healthreach validate`: one row per problem (file, row, id, field, severity, problem, suggestion).

    When the layers themselves are sound, the points are also checked against the road network (far
    from any road, on a road island, undeclared GCJ-02). The report is written as validation.csv.
    """
    from healthreach.coverage.input_checks import network_problems
    from healthreach.maps.exports import write_csv

    say = progress or _quiet
    say(f"checking {Path(project_path).name}")
    report = validate_project(project_path)
    project = None
    if not (report["severity"] == "error").any():
        project = load_project(project_path)
        say(f"checking points against the roads in {project.roads.path.name}")
        settings = settings_from_parameters(project.parameters, source=str(project.path))
        edges = read_project_roads(project, progress=say)
        report = pd.concat([report, network_problems(project, edges, settings)], ignore_index=True)
    if out is None:
        out = default_out(project) if project is not None else Path("maps") / Path(project_path).stem
    return report, write_csv(report, Path(out) / "validation.csv")


def optimize_project(project_path: str | Path, *, problem: str, kind: str, k: int | None, band_min: float,
                     candidates: str, out: Path | None = None, time_limit_s: float = 60.0, lang: str = "zh",
                     min_from_seat_min: float = 0.0, demand: str = "population",
                     progress: Progress | None = None,
                     options: OutputOptions | None = None, per_county: bool = False,
                     workers: int | None = None, scheduler: str | None = None) -> Path:
    """`healthreach optimize`: choose sites, write optimized.yml and optimize.csv, then map the answer.

    `per_county`: each county of the boundaries chooses its own sites (`k` per county; see
    healthreach.partition_optimize), on Dask with `workers` > 1 or a `scheduler`, parts kept in
    `<out>/parts/optimize/`. The comparison that follows is partitioned the same way."""
    from healthreach.maps.exports import write_csv
    from healthreach.maps.outputs import write_text
    from healthreach.scenarios import siting

    say = progress or _quiet
    target = normalise_kind(kind)
    if target is None:
        raise UsageError(f"--kind {kind}: unknown kind (expected one of {', '.join(KINDS)})")
    if band_min <= 0:
        raise UsageError(f"--band {band_min}: expected minutes > 0")
    say(f"loading project {Path(project_path).name}")
    project = load_project(project_path)
    out = out if out is not None else default_out(project)
    _check_out(out, project)
    settings = settings_from_parameters(project.parameters, source=str(project.path))
    say(f"reading roads {project.roads.path.name}")
    edges = read_project_roads(project, progress=say)
    base = os.path.relpath(project.path.resolve(), out.resolve())
    if per_county:
        from healthreach.partition_optimize import SitingJob, site_per_county

        if problem != "lscp" and (k is None or k < 1):
            raise UsageError(f"--problem {problem} needs --k N (new sites per county, at least 1)")
        job = SitingJob(problem=problem, kind=target, k=k, band_min=band_min, candidates=candidates,
                        time_limit_s=time_limit_s, min_from_seat_min=min_from_seat_min, demand=demand)
        changes, table = site_per_county(project, edges, settings, job, parts_dir=out / "parts" / "optimize",
                                         workers=workers, scheduler=scheduler, progress=say)
        out.mkdir(parents=True, exist_ok=True)
        document = {"name": f"optimized-{problem}-{target}-per-county".replace("_", "-"),
                    "title": f"{problem.upper()} {target} ({band_min:g} min band), per county: solver choice",
                    "base": base, "changes": changes}
        write_text(siting.scenario_yaml(document), out / "optimized.yml")
        write_csv(table, out / "optimize.csv")
        return compare_project(project.path, [out / "optimized.yml"], out=out, lang=lang, progress=progress,
                               options=options, workers=workers, scheduler=scheduler)
    sites = siting.candidate_sites(project, candidates, target, settings)
    sites = siting.far_from_seat(project, edges, sites, settings, min_from_seat_min * 60.0)
    band_s = band_min * 60.0
    say(f"network cost matrix: {len(project.villages)} villages x {len(sites.points)} sites")
    limit = band_s if problem != "pmedian" else np.inf
    cost = siting.cost_matrix(project, edges, sites, target, settings, limit)
    say(f"solving {problem} with HiGHS (time limit {time_limit_s:g} s)")
    population = siting.demand_weights(project, edges, settings, demand)
    solution = siting.solve(problem, cost, population, k=k, band_s=band_s,
                            fixed=sites.points["fixed"].to_numpy(), time_limit_s=time_limit_s)
    out.mkdir(parents=True, exist_ok=True)
    document = siting.solution_scenario(solution, sites, target, problem=problem, base=base, band_min=band_min)
    write_text(siting.scenario_yaml(document), out / "optimized.yml")
    write_csv(siting.solution_table(solution, sites), out / "optimize.csv")
    return compare_project(project.path, [out / "optimized.yml"], out=out, lang=lang, progress=progress,
                           options=options)
