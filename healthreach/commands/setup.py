"""What every command does first: check the options, load the project and its roads, and decide the
run configuration once (healthreach.config.RunConfig), before any analysis."""
from __future__ import annotations

import dataclasses
import math
import os
import re
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pyproj

from healthreach._errors import UsageError
from healthreach.config import Execution, OutputOptions, RunConfig, SolverOptions, settings_from_parameters
from healthreach.coverage.service_areas import resolve_catchment_type
from healthreach.layers.crs import extent_problem
from healthreach.layers.project import Project, load_project
from healthreach.layers.roads import read_project_roads
from healthreach.maps.basemaps import check_basemap
from healthreach.maps.exports import resolve_out_crs, shapefile_encoding
from healthreach.maps.labels import check_lang

Progress = Callable[[str], None]
TIANDITU_ENV = "TIANDITU_KEY"
SAMPLES_DIR = Path(__file__).resolve().parent.parent / "data" / "samples"
SCHEDULER = re.compile(r"(tcp|tls|ws|wss)://(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})/?")
"""A Dask scheduler address: scheme://host:port."""
SCHEDULER_PROBE_S = 10.0


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
    out_crs = options.out_crs.strip()
    if out_crs.lower() not in ("wgs84", "cgcs2000", "gk"):
        try:
            if not out_crs.upper().startswith("EPSG:"):
                raise pyproj.exceptions.CRSError(out_crs)
            pyproj.CRS.from_user_input(out_crs.upper())
        except pyproj.exceptions.CRSError:
            raise UsageError(f"--out-crs {options.out_crs}: expected wgs84, cgcs2000, gk or a known "
                             "EPSG:<code>") from None
    if options.workers is not None and options.workers < 1:
        raise UsageError(f"--workers {options.workers}: expected a number of worker processes >= 1")
    if options.scheduler is not None and not SCHEDULER.fullmatch(options.scheduler.strip()):
        raise UsageError(f"--scheduler {options.scheduler}: expected a Dask scheduler address such as "
                         "tcp://10.0.0.5:8786")
    if not (math.isfinite(options.time_limit_s) and options.time_limit_s > 0):
        raise UsageError(f"--time-limit {options.time_limit_s}: expected a finite number of seconds > 0")
    if not 0 <= options.gap_pct < 100:
        raise UsageError(f"--gap {options.gap_pct}: expected a percentage from 0 to under 100")


def check_scheduler(address: str | None) -> None:
    """Usage error when the scheduler does not answer on its port (before any analysis, not after it)."""
    if address is None:
        return
    found = SCHEDULER.fullmatch(address.strip())
    if found is None:
        raise UsageError(f"--scheduler {address}: expected a Dask scheduler address such as tcp://10.0.0.5:8786")
    host, port = found.group(2).strip("[]"), int(found.group(3))
    try:
        socket.create_connection((host, port), timeout=SCHEDULER_PROBE_S).close()
    except OSError as exc:
        raise UsageError(f"--scheduler {address}: cannot reach the Dask scheduler ({exc.strerror or exc}); "
                         "expected a running scheduler at that address") from None


def output_options(project: Project, options: Options) -> OutputOptions:
    """The output choices resolved for this project: the Tianditu key (project file `basemap_key`, else
    the TIANDITU_KEY environment variable) and the shapefile CRS as an EPSG code."""
    key = None
    if options.basemap == "tianditu":
        key = project.basemap_key or os.environ.get(TIANDITU_ENV, "").strip() or None
        if not key:
            raise UsageError("--basemap tianditu needs a Tianditu key: expected basemap_key: in the project "
                             f"file or the {TIANDITU_ENV} environment variable")
    west, south, east, north = project.villages.to_crs(4326).total_bounds
    out_crs = resolve_out_crs(options.out_crs, project.crs, centre=((west + east) / 2, (south + north) / 2))
    if not pyproj.CRS.from_user_input(out_crs).is_geographic:
        problem = extent_problem(out_crs, (west, south, east, north))
        if problem is not None:
            raise UsageError(f"--out-crs {options.out_crs}: {problem}; expected wgs84, cgcs2000, gk or an EPSG "
                             "code meant for the area")
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


def load(project_path: str | Path, options: Options, *, progress: Progress | None = None) -> Project:
    """The project file and its layers, checked with the options before any analysis: InputError for
    the project's parameters, UsageError for options that do not fit it (--out-crs, a Tianditu key,
    an unreachable scheduler)."""
    check_options(options)
    (progress or (lambda _msg: None))(f"loading project {Path(project_path).name}")
    project = load_project(project_path)
    settings_from_parameters(project.parameters, source=str(project.path))
    output_options(project, options)
    check_scheduler(options.scheduler)
    return project


def prepare_loaded(project: Project, options: Options, *, progress: Progress | None = None) -> Prepared:
    """Read a loaded project's roads and build the run configuration."""
    say = progress or (lambda _msg: None)
    say(f"reading roads {project.roads.path.name}")
    clock = time.perf_counter()
    edges = read_project_roads(project, progress=say)
    read_s = round(time.perf_counter() - clock, 3)
    return Prepared(project, edges, run_config(project, edges, options, progress=say), read_s)


def prepare(project_path: str | Path, options: Options, *, progress: Progress | None = None) -> Prepared:
    """Check the options, load the project and its roads, and build the run configuration."""
    return prepare_loaded(load(project_path, options, progress=progress), options, progress=progress)
