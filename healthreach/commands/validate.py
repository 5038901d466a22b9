"""`healthreach validate`: the input checks alone, as a report (validation.csv)."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from healthreach.commands.outfolder import default_out, plan_out, writing_files
from healthreach.config import settings_from_parameters
from healthreach.coverage.input_checks import network_problems
from healthreach.layers.project import declared_inputs, load_project, validate_project
from healthreach.layers.roads import read_project_roads
from healthreach.maps.exports import write_csv

Progress = Callable[[str], None]
REPORT = "validation.csv"


def validate_inputs(project_path: str | Path, *, out: Path | None = None,
                    progress: Progress | None = None) -> tuple[pd.DataFrame, Path]:
    """One row per problem (file, row, id, field, severity, problem, suggestion), written as validation.csv.

    When the layers themselves are sound, the points are also checked against the road network (far
    from any road, on a road island, undeclared GCJ-02). Only validation.csv is written into the
    folder (default maps/<project name>/), never over an input.
    """
    say = progress or (lambda _msg: None)
    name, files = declared_inputs(project_path)
    plan = plan_out(out if out is not None else default_out(name or Path(project_path).stem), files,
                    whole_folder=False, files=[REPORT])
    with writing_files(plan, [REPORT]) as folder:  # locked and writable before any check runs
        say(f"checking {Path(project_path).name}")
        report = validate_project(project_path)
        if not (report["severity"] == "error").any():
            project = load_project(project_path)
            say(f"checking points against the roads in {project.roads.path.name}")
            settings = settings_from_parameters(project.parameters, source=str(project.path))
            edges = read_project_roads(project, progress=say)
            report = pd.concat([report, network_problems(project, edges, settings)], ignore_index=True)
        return report, write_csv(report, folder / REPORT)
