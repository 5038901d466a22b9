"""`healthreach run`, `compare` and `demo`: the analysis of a project and its scenarios, written out."""
from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from healthreach._errors import InputError, UsageError
from healthreach.commands.setup import SAMPLES_DIR, Options, Prepared, default_out, prepare
from healthreach.coverage.result import AnalysisResult
from healthreach.maps.exports import hash_file
from healthreach.maps.outputs import BASELINE_FILES, write_outputs
from healthreach.scenarios.runs import compare
from healthreach.scenarios.scenario import load_scenario

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


def check_out(out: Path, inputs: Sequence[Path]) -> None:
    """Refuse an output folder where an output would replace one of the inputs."""
    resolved = {p.resolve() for p in inputs}
    for name in BASELINE_FILES:
        target = (out / name).resolve()
        if target in resolved or any(target in p.parents for p in resolved):
            raise UsageError(f"--out {out}: writing {name} there would replace the input {target}; "
                             "choose another output folder")


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


def compare_project(project_path: str | Path, scenario_paths: Sequence[str | Path], *, out: Path | None = None,
                    options: Options | None = None, progress: Progress | None = None,
                    prepared: Prepared | None = None) -> Path:
    """`healthreach compare` (and `run`, with no scenario): baseline and each scenario on the same
    network, with their differences; returns the output folder."""
    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    prepared = prepared or prepare(project_path, options or Options(), progress=say)
    project, edges, config = prepared.project, prepared.edges, prepared.config
    scenarios = [load_scenario(p) for p in scenario_paths]
    out = out if out is not None else default_out(project.name)
    check_out(out, [*project.inputs.values(), *(s.path for s in scenarios)])
    inputs = dict(project.inputs)
    inputs.update({f"scenario:{s.name}": s.path for s in scenarios})
    hashes = _hashes(inputs)
    baseline, outcomes = compare(project, scenarios, edges, config, parts_root=out / "parts", progress=say)
    say(f"writing outputs to {out}")
    record = provenance(baseline, inputs, hashes, started, {
        "scenarios": [{"name": s.name, "title": s.title, "path": str(s.path)} for s in scenarios],
        "lang": config.output.lang, "bands_min": list(config.bands_min)})
    record["timings_s"] = {"read_roads": prepared.read_s, **record.get("timings_s", {})}
    return write_outputs(baseline, out, config, outcomes=outcomes, provenance=record)


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
