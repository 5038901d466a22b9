"""The output folder of design.md: maps, GeoPackages, shapefiles, CSV, Excel and run.json."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from healthreach.coverage.result import AnalysisResult
from healthreach.maps.coverage_map import coverage_map_html
from healthreach.maps.exports import atomic_write, write_csv, write_gpkg, write_json, write_shapefile, write_xlsx
from healthreach.maps.scenario_map import scenario_map_html
from healthreach.scenarios.outcome import ScenarioOutcome

CSV_TABLES = ("network_qa",)
BASELINE_FILES = ("coverage_map.html", "villages.gpkg", "catchments.gpkg", "facilities.gpkg",
                  "standards.csv", "summary.xlsx", "run.json", "shp")


def write_text(text: str, path: Path) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_write(path) as temp:
        temp.write_text(text, encoding="utf-8")
    return path


def write_outputs(
    result: AnalysisResult,
    out_dir: str | Path,
    *,
    lang: str = "zh",
    outcomes: Sequence[ScenarioOutcome] = (),
    shp_encoding: str = "UTF-8",
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write the baseline outputs, and each scenario's, into `out_dir`; every file atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_text(coverage_map_html(result, lang=lang), out / "coverage_map.html")
    write_gpkg(result.villages, out / "villages.gpkg", "villages")
    write_gpkg(result.catchments, out / "catchments.gpkg", "catchments")
    for name, layer in result.layers.items():
        write_gpkg(layer, out / "catchments.gpkg", name)
    write_gpkg(result.facilities, out / "facilities.gpkg", "facilities")
    write_shapefile(result.villages, out / "shp" / "villages.shp", encoding=shp_encoding)
    write_shapefile(result.catchments, out / "shp" / "catchments.shp", encoding=shp_encoding)
    write_csv(result.standards, out / "standards.csv")
    # Every table of the analysis becomes a sheet (county and township first); tables named in
    # CSV_TABLES are also written as CSV for scripts.
    sheets: dict[str, pd.DataFrame] = {name: result.summary[name] for name in ("county", "township")
                                       if name in result.summary}
    sheets["standards"] = result.standards
    for name, table in result.summary.items():
        sheets.setdefault(name, table)
        if name in CSV_TABLES:
            write_csv(table, out / f"{name}.csv")
    for outcome in outcomes:
        folder = out / f"scenario_{outcome.name}"
        write_gpkg(outcome.result.villages, folder / "villages.gpkg", "villages")
        write_text(scenario_map_html(result, outcome.result, name=outcome.name, title=outcome.title, lang=lang),
                   out / f"scenario_{outcome.name}.html")
        sheets[f"scenario {outcome.name}"] = outcome.table
        if len(outcome.standards_changes):
            sheets[f"rules {outcome.name}"] = outcome.standards_changes
    if outcomes:
        write_csv(pd.concat([o.table for o in outcomes], ignore_index=True), out / "compare.csv")
    write_xlsx(sheets, out / "summary.xlsx")
    write_json(provenance if provenance is not None else result.provenance, out / "run.json")
    return out
