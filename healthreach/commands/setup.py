"""What every command does first: check the options, load the project and its roads, and decide the
run configuration once (healthreach.config.RunConfig), before any analysis."""
from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd

from healthreach._errors import UsageError
from healthreach.config import Execution, OutputOptions, RunConfig, SolverOptions, settings_from_parameters
from healthreach.coverage.service_areas import resolve_catchment_type
from healthreach.layers.project import Project, load_project
from healthreach.layers.roads import read_project_roads
from healthreach.maps.basemaps import check_basemap
from healthreach.maps.exports import resolve_out_crs, shapefile_encoding
from healthreach.maps.labels import check_lang

Progress = Callable[[str], None]
TIANDITU_ENV = "TIANDITU_KEY"
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"


@dataclass(frozen=True)
class Options:
    """The command line's choices, as given (checked by `check_options`)."""

    lang: str = "zh"
    basemap: str = "none"
    shp_encoding: str = "utf-8"
    out_crs: str = "wgs84"
    workers: int | None = None
    scheduler: str | None = None
    time_limit_s: float = 60.0
    gap_pct: float = 0.0


@dataclass(frozen=True)
class Prepared:
    """A command's inputs and its one run configuration."""

    project: Project
    edges: gpd.GeoDataFrame
    config: RunConfig
    read_s: float = 0.0
    """Seconds spent reading the roads."""


def check_options(options: Options) -> None:
    """Usage errors (exit 2) for choices that need no input file to judge."""
    check_lang(options.lang)
    check_basemap(options.basemap)
    shapefile_encoding(options.shp_encoding)
    if options.out_crs.strip().lower() not in ("wgs84", "cgcs2000", "gk") and \
            not options.out_crs.strip().upper().startswith("EPSG:"):
        raise UsageError(f"--out-crs {options.out_crs}: expected wgs84, cgcs2000, gk or EPSG:<code>")
    if options.workers is not None and options.workers < 1:
        raise UsageError(f"--workers {options.workers}: expected a number of worker processes >= 1")
    if not options.time_limit_s > 0:
        raise UsageError(f"--time-limit {options.time_limit_s}: expected seconds > 0")
    if not 0 <= options.gap_pct < 100:
        raise UsageError(f"--gap {options.gap_pct}: expected a percentage from 0 to under 100")


def output_options(project: Project, options: Options) -> OutputOptions:
    """The output choices resolved for this project: the Tianditu key (project file `basemap_key`, else
    the TIANDITU_KEY environment variable) and the shapefile CRS as an EPSG code."""
    key = None
    if options.basemap == "tianditu":
        key = project.basemap_key or os.environ.get(TIANDITU_ENV, "").strip() or None
        if not key:
            raise UsageError("--basemap tianditu needs a Tianditu key: set basemap_key: in the project file "
                             f"or the {TIANDITU_ENV} environment variable")
    west, south, east, north = project.villages.to_crs(4326).total_bounds
    out_crs = resolve_out_crs(options.out_crs, project.crs, centre=((west + east) / 2, (south + north) / 2))
    return OutputOptions(lang=options.lang, basemap=options.basemap, basemap_key=key,
                         shp_encoding=shapefile_encoding(options.shp_encoding), out_crs=out_crs)


def run_config(project: Project, edges: gpd.GeoDataFrame, options: Options, *,
               progress: Progress | None = None) -> RunConfig:
    """The one run configuration: the project's parameters, the command line's options, and the
    catchment type settled for these roads."""
    check_options(options)
    settings = settings_from_parameters(project.parameters, source=str(project.path))
    output = output_options(project, options)
    kind = resolve_catchment_type(project, edges, settings)
    if settings.catchment_type == "auto" and progress is not None:
        progress(f"catchment polygons: {kind} (catchment_type auto)")
    return RunConfig(
        settings=dataclasses.replace(settings, catchment_type=kind), output=output,
        execution=Execution(workers=options.workers, scheduler=options.scheduler),
        solver=SolverOptions(time_limit_s=options.time_limit_s, mip_gap=options.gap_pct / 100.0),
    )


def prepare(project_path: str | Path, options: Options, *, progress: Progress | None = None) -> Prepared:
    """Check the options, load the project and its roads, and build the run configuration."""
    say = progress or (lambda _msg: None)
    check_options(options)
    say(f"loading project {Path(project_path).name}")
    project = load_project(project_path)
    say(f"reading roads {project.roads.path.name}")
    clock = time.perf_counter()
    edges = read_project_roads(project, progress=say)
    read_s = round(time.perf_counter() - clock, 3)
    return Prepared(project, edges, run_config(project, edges, options, progress=say), read_s)


def default_out(project_name: str) -> Path:
    """maps/<project name>/ under the current folder."""
    return Path("maps") / project_name
