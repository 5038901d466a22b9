"""healthreach: who can reach care, how fast, and what a new site would change.

    import healthreach as hr
    project = hr.load_project("project.yml")        # validated, normalised layers
    result = hr.analyze(project)                    # village access, catchments, standards, summary
    baseline, outcomes = hr.compare(project, [hr.load_scenario("new_site.yml")])
    hr.write_outputs(result, "maps/demo")           # the output folder of design.md
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# Imported on first use: the pipeline pulls in geopandas, osmnx and scipy, which a plain
# `import healthreach` (e.g. for the CLI's --help) need not pay for.
_API = {
    "load_project": "healthreach.layers.project",
    "analyze": "healthreach.commands.api",
    "load_scenario": "healthreach.scenarios.scenario",
    "compare": "healthreach.commands.api",
    "write_outputs": "healthreach.commands.api",
}
__all__ = [*_API, "__version__"]


def __getattr__(name: str) -> Any:
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'healthreach' has no attribute {name!r}")
