"""`healthreach run`, `compare` and `demo`: the analysis of a project and its scenarios, written out."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from healthreach._errors import InputError, UsageError
from healthreach.commands.outfolder import OutPlan, default_out, plan_out, staged
from healthreach.commands.setup import SAMPLES_DIR, Options, Prepared, load, prepare_loaded
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.project import Project
from healthreach.maps.exports import hash_file
from healthreach.maps.outputs import write_outputs
from healthreach.scenarios.apply import apply_to_project, apply_to_roads
from healthreach.scenarios.runs import compare
from healthreach.scenarios.scenario import AddRoad, RoadSpeed, Scenario, load_scenario

Progress = Callable[[str], None]
SAMPLES: tuple[str, ...] = ("county", "district", "banner")


def sample_dir(sample: str) -> Path:
    """Folder of an embedded synthetic sample (county, district or banner)."""
    if sample not in SAMPLES:
        raise UsageError(f"--sample {sample}: expected one of {', '.join(SAMPLES)}")
    folder = SAMPLES_DIR / sample
    if not (folder / "project.yml").is_file():
        raise UsageError(f"the {sample} sample is missing from this installation ({folder})")
    return folder


def load_scenarios(project: Project, paths: Sequence[str | Path]) -> list[Scenario]:
    """The scenario files, each checked against the project: a `base:` naming another project file,
    or two scenarios of one name (their outputs would share file names), are input errors."""
    scenarios = [load_scenario(p) for p in paths]
    problems = []
    for scenario in scenarios:
        if scenario.base is not None and scenario.base.resolve() != project.path.resolve():
            problems.append(f"{scenario.path}: base: {scenario.base} is not the project being compared "
                            f"({project.path}); expected that project file, or no base:")
    named: dict[str, Scenario] = {}
    for scenario in scenarios:
        first = named.setdefault(scenario.name, scenario)
        if first is not scenario:
            problems.append(f"{scenario.path}: name: {scenario.name} is also the name of {first.path}; expected "
                            "each scenario to have its own name (its outputs are named after it)")
    if problems:
        raise InputError("invalid scenario:\n" + "\n".join(problems))
    return scenarios


def _hashes(paths: dict[str, Path]) -> dict[str, str]:
    return {role: hash_file(p) for role, p in paths.items() if p.is_file()}


def provenance(result: AnalysisResult, inputs: dict[str, Path], hashes: dict[str, str], started: float,
               extra: dict[str, Any]) -> dict[str, Any]:
    """run.json: the analysis' own record with the inputs' SHA-256 (checked unchanged), times and `extra`."""
    after = _hashes(inputs)
    changed = sorted(role for role in hashes if after.get(role) != hashes[role])
    if changed:  # inputs are only ever read; a change means something else wrote them meanwhile
        raise InputError(f"input files changed while the analysis ran: {', '.join(changed)}")
    record = dict(result.provenance)
    record["inputs"] = {role: {"path": str(p), "sha256": hashes.get(role)} for role, p in inputs.items()}
    record["created"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record["wall_s"] = round(time.perf_counter() - started, 3)
    record["synthetic_sample"] = Path(inputs.get("project", Path())).resolve().parent.parent == SAMPLES_DIR
    record.update(extra)
    return record


def write_run(stage: Path, plan: OutPlan, prepared: Prepared, scenarios: Sequence[Scenario], *, started: float,
              progress: Progress) -> None:
    """The baseline and each scenario analysed and written into the staging folder of `plan`."""
    project, edges, config = prepared.project, prepared.edges, prepared.config
    for scenario in scenarios:  # a change that cannot apply is reported now, not after the baseline
        apply_to_project(project, scenario)
        if any(isinstance(change, (RoadSpeed, AddRoad)) for change in scenario.changes):
            apply_to_roads(edges, scenario)
    inputs = dict(project.inputs)
    inputs.update({f"scenario:{s.name}": s.path for s in scenarios})
    hashes = _hashes(inputs)
    baseline, outcomes = compare(project, scenarios, edges, config, parts_root=plan.parts, progress=progress)
    progress(f"writing outputs to {plan.given}")
    record = provenance(baseline, inputs, hashes, started, {
        "run_id": plan.run_id,
        "scenarios": [{"name": s.name, "title": s.title, "path": str(plan.staged_path(s.path))} for s in scenarios],
        "lang": config.output.lang, "bands_min": list(config.bands_min)})
    for entry in record["inputs"].values():  # a scenario written by this run is recorded where it will be
        entry["path"] = str(plan.staged_path(Path(entry["path"])))
    record["timings_s"] = {"read_roads": prepared.read_s, **record.get("timings_s", {})}
    write_outputs(baseline, stage, config, outcomes=outcomes, provenance=record)


def compare_project(project_path: str | Path, scenario_paths: Sequence[str | Path], *, out: Path | None = None,
                    options: Options | None = None, progress: Progress | None = None,
                    prepared: Prepared | None = None) -> Path:
    """`healthreach compare` (and `run`, with no scenario): baseline and each scenario on the same
    network, with their differences; returns the output folder.

    Every input is read and every option checked before the output folder is touched; the outputs
    are written beside it and replace it only once complete (healthreach.commands.outfolder)."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    options = options or Options()
    project = prepared.project if prepared is not None else load(project_path, options, progress=say)
    scenarios = load_scenarios(project, scenario_paths)
    plan = plan_out(out if out is not None else default_out(project.name),
                    [*project.inputs.values(), *(f for s in scenarios for f in s.files)])
    with staged(plan) as stage:
        prepared = prepared or prepare_loaded(project, options, progress=say)
        write_run(stage, plan, prepared, scenarios, started=started, progress=say)
    return plan.target


def run_project(project_path: str | Path, *, out: Path | None = None, options: Options | None = None,
                progress: Progress | None = None) -> Path:
    """`healthreach run`: the baseline analysis and every output file; returns the output folder."""
    return compare_project(project_path, [], out=out, options=options, progress=progress)


def run_demo(*, sample: str = "county", out: Path | None = None, options: Options | None = None,
             progress: Progress | None = None) -> Path:
    """`healthreach demo`: an embedded synthetic sample, baseline plus its scenarios."""
    folder = sample_dir(sample)
    scenarios = sorted((folder / "scenarios").glob("*.yml"))
    return compare_project(folder / "project.yml", scenarios, out=out, options=options, progress=progress)
