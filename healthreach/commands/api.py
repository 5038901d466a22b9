"""The library's entry points for scripts: the commands' steps with the defaults a run would use."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd

from healthreach.commands.outfolder import plan_out, staged
from healthreach.commands.setup import Options, run_config
from healthreach.config import RunConfig
from healthreach.coverage import pipeline
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.project import Project
from healthreach.layers.roads import read_project_roads
from healthreach.maps import outputs
from healthreach.scenarios import runs
from healthreach.scenarios.outcome import ScenarioOutcome
from healthreach.scenarios.scenario import Scenario


def _inputs(project: Project, edges: gpd.GeoDataFrame | None, config: RunConfig | None
            ) -> tuple[gpd.GeoDataFrame, RunConfig]:
    edges = read_project_roads(project) if edges is None else edges
    return edges, config if config is not None else run_config(project, edges, Options())


def analyze(project: Project, *, edges: gpd.GeoDataFrame | None = None, config: RunConfig | None = None
            ) -> AnalysisResult:
    """The analysis of a loaded project; `edges` default to its roads, `config` to what `run` would use."""
    edges, config = _inputs(project, edges, config)
    return pipeline.analyze(project, edges, config)


def compare(project: Project, scenarios: Sequence[Scenario], *, edges: gpd.GeoDataFrame | None = None,
            config: RunConfig | None = None) -> tuple[AnalysisResult, list[ScenarioOutcome]]:
    """The baseline and each loaded scenario on the same network, with their comparison tables."""
    edges, config = _inputs(project, edges, config)
    return runs.compare(project, scenarios, edges, config)


def write_outputs(result: AnalysisResult, out: str | Path, *, config: RunConfig | None = None,
                  outcomes: Sequence[ScenarioOutcome] = (), provenance: dict[str, Any] | None = None) -> Path:
    """The output folder of a result (`config`: the one it was computed with; default options), written
    as the commands write it: never over an input the result was read from, and replacing the folder
    only once complete (healthreach.commands.outfolder)."""
    record = dict(provenance if provenance is not None else result.provenance)
    entries = (record.get("inputs") or {}).values()
    reads = [Path(e["path"] if isinstance(e, dict) else e) for e in entries
             if isinstance(e, (str, Path)) or (isinstance(e, dict) and e.get("path"))]
    plan = plan_out(Path(out), reads, run_id=record.get("run_id"))
    record["run_id"] = plan.run_id
    with staged(plan) as stage:
        outputs.write_outputs(result, stage, config or RunConfig(), outcomes=outcomes, provenance=record)
    return plan.target
