"""The output folder of design.md: maps, pictures, GeoPackages, shapefiles with QGIS styles, CSV,
Excel and run.json."""
from __future__ import annotations

import html
import logging
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry import LineString

from healthreach.config import RunConfig
from healthreach.coverage.result import AnalysisResult
from healthreach.maps import labels
from healthreach.maps.coverage_map import coverage_map_html
from healthreach.maps.exports import (
    atomic_write,
    write_csv,
    write_gpkg,
    write_json,
    write_shapefile,
    write_xlsx,
)
from healthreach.maps.fields import short_names
from healthreach.maps.offline import require_columns
from healthreach.maps.qml import catchment_band_qml, links_qml, village_time_qml
from healthreach.maps.scenario_map import scenario_map_html
from healthreach.maps.static import write_coverage_curve_png, write_coverage_map_png
from healthreach.scenarios.outcome import ScenarioOutcome

log = logging.getLogger(__name__)

CSV_TABLES = ("network_qa",)
BASELINE_FILES = ("coverage_map.html", "coverage_map.png", "coverage_curve.png", "villages.gpkg", "villages.qml",
                  "catchments.gpkg", "catchments.qml", "facilities.gpkg", "standards.csv", "summary.xlsx",
                  "run.json", "shp")
LINK_TIER = "township"
RUN_ID_META = "healthreach-run-id"
"""Name of the HTML maps' <meta> tag carrying the run id of run.json."""
_HEAD = re.compile(r"<head(\s[^>]*)?>", re.IGNORECASE)


def new_run_id() -> str:
    """A run id: UTC time and random hex, e.g. 20240501T083000Z-3f9a1c2e (sorts by time)."""
    return f"{datetime.now(timezone.utc):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


def output_names() -> tuple[str, ...]:
    """Names (glob patterns) of everything write_outputs may put in an output folder."""
    return (*BASELINE_FILES, *(f"{name}.csv" for name in CSV_TABLES), "compare.csv", "scenario_*")


def with_run_id(page: str, run_id: str) -> str:
    """An HTML page with a <meta name="healthreach-run-id"> tag as the first element of its head."""
    tag = f'\n<meta name="{RUN_ID_META}" content="{html.escape(run_id)}">'
    found = _HEAD.search(page)
    return page[:found.end()] + tag + page[found.end():] if found else tag.lstrip() + "\n" + page


def write_text(text: str, path: Path) -> Path:
    """Write UTF-8 text atomically."""
    with atomic_write(path) as temp:
        temp.write_text(text, encoding="utf-8")
    return path


def village_links(villages: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, tier: str = LINK_TIER
                  ) -> gpd.GeoDataFrame:
    """The allocation as lines: each village to its nearest facility of `tier` (`<tier>_fid`).

    Columns: `vid`, `name`, `population` (persons), `fid`, `facility`, `<tier>_time_s` (seconds),
    `<tier>_dist_m` (network metres), LineString from village to facility in WGS84. Villages with
    no facility of the tier (unreachable) have no line.
    """
    fid_col, time_col, dist_col = f"{tier}_fid", f"{tier}_time_s", f"{tier}_dist_m"
    require_columns(villages, ["vid", "name", "population", fid_col], "villages")
    require_columns(facilities, ["fid", "name"], "facilities")
    places = facilities.to_crs(4326).drop_duplicates("fid").set_index("fid")
    points = villages.to_crs(4326)
    linked = points[points[fid_col].notna() & points[fid_col].isin(places.index)]
    unknown = points[points[fid_col].notna() & ~points[fid_col].isin(places.index)]
    if len(unknown):
        log.warning("%d villages name a %s facility missing from the facilities (e.g. %s): no link drawn",
                    len(unknown), tier, unknown[fid_col].iloc[0])
    lines = [LineString([v.representative_point().coords[0], places.geometry[f].representative_point().coords[0]])
             for v, f in zip(linked.geometry, linked[fid_col])]
    data = {"vid": linked["vid"].to_numpy(), "name": linked["name"].to_numpy(),
            "population": linked["population"].to_numpy(), "fid": linked[fid_col].to_numpy(),
            "facility": places.loc[linked[fid_col], "name"].to_numpy()}
    for column in (time_col, dist_col):
        data[column] = linked[column].to_numpy(dtype=float) if column in linked.columns else np.full(len(linked), np.nan)
    return gpd.GeoDataFrame(data, geometry=gpd.GeoSeries(lines, crs=4326), crs=4326)


def _sources(result: AnalysisResult, provenance: dict[str, Any], lang: str) -> str:
    """Input file names for a map's data-source line, flagged when the data are the synthetic sample;
    '' when the run names none (the picture then leaves the line out)."""
    inputs = provenance.get("inputs") or result.provenance.get("inputs") or {}
    names = []
    for role, entry in inputs.items():
        path = entry.get("path") if isinstance(entry, dict) else entry
        if role != "project" and not str(role).startswith("scenario:") and path:
            names.append(Path(str(path)).name)
    text = ", ".join(names)
    if text and provenance.get("synthetic_sample"):
        text += f" ({labels.text('synthetic', lang)})"
    return text


def _write_styles(result: AnalysisResult, out: Path, lang: str, bands_min: Sequence[float]) -> None:
    """QGIS styles beside the GeoPackages and shapefiles (shapefiles use the 10-byte field names), in
    the classes of the run's bands."""
    unit, unreachable = labels.text("minutes", lang), labels.text("unreachable", lang)
    time_col = f"{LINK_TIER}_time_s"
    village_columns = [str(c) for c in result.villages.columns if c != result.villages.geometry.name]
    if time_col in village_columns:
        short = short_names(village_columns)[time_col]
        village_time_qml(out / "villages.qml", time_col, bands_min, lang_labels=(unit, unreachable))
        village_time_qml(out / "shp" / "villages.qml", short, bands_min, lang_labels=(unit, unreachable))
    drawn = set(result.catchments["band_min"].astype(float)) if "band_min" in result.catchments.columns else set()
    if drawn - {float(b) for b in bands_min}:
        log.warning("catchments hold bands %s outside the run's bands %s; QGIS styles show the run's",
                    sorted(drawn - {float(b) for b in bands_min}), list(bands_min))
    catchment_band_qml(out / "catchments.qml", bands_min, unit=unit)
    catchment_band_qml(out / "shp" / "catchments.qml", bands_min, unit=unit)
    links_qml(out / "shp" / "village_links.qml")


def write_outputs(
    result: AnalysisResult,
    out_dir: str | Path,
    config: RunConfig,
    *,
    outcomes: Sequence[ScenarioOutcome] = (),
    provenance: dict[str, Any] | None = None,
) -> Path:
    """Write the baseline outputs, and each scenario's, into `out_dir`; every file atomically.

    `config.output` chooses the language, the maps' optional tile layer, and the shapefiles' code page
    and CRS (GeoPackages stay WGS84); every map, picture and style draws its bands from
    `config.bands_min`. The record's `run_id` (run.json) is carried by every GeoPackage
    layer, HTML map and the workbook, so files of different runs are told apart.
    """
    options = config.output
    bands = config.bands_min
    lang, basemap, basemap_key = options.lang, options.basemap, options.basemap_key
    shp_encoding, out_crs = options.shp_encoding, options.out_crs
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    record = dict(provenance if provenance is not None else result.provenance)
    run_id = str(record.setdefault("run_id", new_run_id()))

    write_text(with_run_id(coverage_map_html(result, bands_min=bands, lang=lang, basemap=basemap,
                                             basemap_key=basemap_key, settings=config.settings), run_id),
               out / "coverage_map.html")
    write_coverage_map_png(result, out / "coverage_map.png", bands_min=bands, lang=lang,
                           sources=_sources(result, record, lang))
    runs = [(labels.text("baseline", lang), result.villages)]
    runs += [(o.name, o.result.villages) for o in outcomes]
    write_coverage_curve_png(runs, out / "coverage_curve.png", bands_min=bands, lang=lang, title=result.project_name)
    links = village_links(result.villages, result.facilities)
    # Each output GeoPackage starts afresh with its first layer, so no layer of an earlier run lingers.
    write_gpkg(result.villages, out / "villages.gpkg", "villages", keep_other_layers=False, run_id=run_id)
    write_gpkg(links, out / "villages.gpkg", "village_links", run_id=run_id)
    write_gpkg(result.catchments, out / "catchments.gpkg", "catchments", keep_other_layers=False, run_id=run_id)
    for name, layer in result.layers.items():
        write_gpkg(layer, out / "catchments.gpkg", name, run_id=run_id)
    write_gpkg(result.facilities, out / "facilities.gpkg", "facilities", keep_other_layers=False, run_id=run_id)
    for layer, name in ((result.villages, "villages"), (result.catchments, "catchments"), (links, "village_links")):
        write_shapefile(layer, out / "shp" / f"{name}.shp", encoding=shp_encoding, crs=out_crs)
    _write_styles(result, out, lang, bands)
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
        write_gpkg(outcome.result.villages, folder / "villages.gpkg", "villages", keep_other_layers=False,
                   run_id=run_id)
        write_text(with_run_id(scenario_map_html(result, outcome.result, name=outcome.name, title=outcome.title,
                                                 bands_min=bands, lang=lang, basemap=basemap,
                                                 basemap_key=basemap_key), run_id),
                   out / f"scenario_{outcome.name}.html")
        sheets[f"scenario {outcome.name}"] = outcome.table
        if len(outcome.standards_changes):
            sheets[f"rules {outcome.name}"] = outcome.standards_changes
    if outcomes:
        write_csv(pd.concat([o.table for o in outcomes], ignore_index=True), out / "compare.csv")
    write_xlsx(sheets, out / "summary.xlsx", run_id=run_id)
    write_json(record, out / "run.json")
    return out
