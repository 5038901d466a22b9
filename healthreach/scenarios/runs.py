"""Run the baseline and each scenario through the one analysis pipeline, on the same network."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd

from healthreach.config import RunConfig
from healthreach.coverage.pipeline import analyze
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.project import Project
from healthreach.scenarios.apply import apply_to_project, apply_to_roads
from healthreach.scenarios.compare import compare_tables, standards_changes, village_deltas
from healthreach.scenarios.outcome import ScenarioOutcome
from healthreach.scenarios.scenario import Scenario

Progress = Callable[[str], None]


def compare(project: Project, scenarios: Sequence[Scenario], edges: gpd.GeoDataFrame, config: RunConfig, *,
            parts_root: Path | None = None, progress: Progress | None = None
            ) -> tuple[AnalysisResult, list[ScenarioOutcome]]:
    """The baseline and each scenario's analysis, with their comparison tables.

    Every run uses `config` as it is (bands, catchment type, scheduling); a partitioned run keeps its
    parts in `parts_root/baseline` and `parts_root/scenario_<name>`."""
    say = progress or (lambda _msg: None)

    def parts(tag: str) -> Path | None:
        return parts_root / tag if parts_root is not None else None

    baseline = analyze(project, edges, config, parts_dir=parts("baseline"), progress=say)
    outcomes = []
    for scenario in scenarios:
        say(f"scenario {scenario.name}")
        result = analyze(apply_to_project(project, scenario), apply_to_roads(edges, scenario), config,
                         parts_dir=parts(f"scenario_{scenario.name}"), progress=say)
        outcomes.append(ScenarioOutcome(
            name=scenario.name, title=scenario.title, result=result,
            table=compare_tables(baseline.villages, result.villages, scenario_name=scenario.name,
                                 bands_min=config.bands_min, county_name=project.name),
            deltas=village_deltas(baseline.villages, result.villages),
            standards_changes=standards_changes(baseline.standards, result.standards),
        ))
    return baseline, outcomes
