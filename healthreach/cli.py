"""Command line: parses arguments, calls the library, shows progress. Exit codes: 0 ok, 1 bad input, 2 usage."""
from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.console import Console
from rich.markup import escape

from healthreach._errors import InputError, UsageError
from healthreach.commands import (
    Options,
    outfolder,
    compare_project,
    optimize_project,
    run_demo,
    run_project,
    validate_inputs,
)

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    help="healthreach: who can reach care, how fast, and what a new clinic or ambulance station would change.",
)
console = Console(stderr=True, highlight=False, soft_wrap=True, emoji=False)
# Every message that holds user text (file names, cell values, project names) goes through
# rich.markup.escape: a value such as `[/]` or `[longitude, latitude]` is text, not markup; no emoji
# codes (`existing:castle:`), no highlighting, and no line breaks inside a message (paths stay whole).


class Steps:
    """Progress display: a spinner for the running step, a line with its time when it ends."""

    def __init__(self) -> None:
        self._status: Any = None
        self._message = ""
        self._started = 0.0

    def __call__(self, message: str) -> None:
        outfolder.check_interrupted()
        self.done()
        self._message, self._started = escape(message), time.perf_counter()
        self._status = console.status(self._message)
        self._status.start()

    def done(self) -> None:
        if self._status is not None:
            self._status.stop()
            console.print(f"[green]✓[/green] {self._message} [dim]({time.perf_counter() - self._started:.1f} s)[/dim]")
            self._status = None


def _guarded(action: Callable[[Steps], None]) -> None:
    steps = Steps()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        action(steps)
    except InputError as exc:
        steps.done()
        console.print(f"[red]Invalid input[/red]\n{escape(str(exc))}")
        raise typer.Exit(1) from None
    except UsageError as exc:
        steps.done()
        console.print(f"[red]Usage error:[/red] {escape(str(exc))}")
        raise typer.Exit(2) from None
    except OSError as exc:  # the file system refused (disk full, permissions changed during the run)
        steps.done()
        where = f"{exc.filename}: " if exc.filename else ""
        console.print(f"[red]Cannot read or write a file:[/red] {escape(where + (exc.strerror or str(exc)))}; "
                      "the output folder keeps its previous contents")
        raise typer.Exit(1) from None
    steps.done()


BASEMAP_HELP = ("Optional tile basemap on the maps, off until turned on: none, osm, tianditu (key: basemap_key "
                "in the project file or TIANDITU_KEY) or amap (layers shown in GCJ-02).")
WORKERS_HELP = ("Run per county on a local Dask cluster of N worker processes (N > 1; needs two or more county "
                "polygons in the boundaries layer); finished counties are kept in <out>.parts/ beside the output "
                "folder until the run completes, so an interrupted run resumes.")
SCHEDULER_HELP = ("Run per county on an existing Dask cluster (e.g. tcp://10.0.0.5:8786); the output folder must "
                  "be on a file system the workers share.")
OUT_CRS_HELP = "Shapefile CRS: wgs84 (EPSG:4326), cgcs2000 (EPSG:4490) or gk (the project's CGCS2000 Gauss–Krüger zone)."


# Options shared by the commands that write an output folder.
OutOpt = Annotated[Optional[Path], typer.Option("--out", help=(
    "Output folder (default maps/<project name>/), new or of an earlier run: it is replaced as a whole "
    "once the new outputs are complete."))]
LangOpt = Annotated[str, typer.Option("--lang", help="Map language: zh or en.")]
BasemapOpt = Annotated[str, typer.Option("--basemap", help=BASEMAP_HELP)]
EncodingOpt = Annotated[str, typer.Option("--shp-encoding", help="Shapefile code page: utf-8 or gbk.")]
OutCrsOpt = Annotated[str, typer.Option("--out-crs", help=OUT_CRS_HELP)]
WorkersOpt = Annotated[Optional[int], typer.Option("--workers", min=1, help=WORKERS_HELP)]
SchedulerOpt = Annotated[Optional[str], typer.Option("--scheduler", help=SCHEDULER_HELP)]
ProjectArg = Annotated[Path, typer.Argument(help="Project file (YAML).")]


def _options(lang: str = "zh", basemap: str = "none", shp_encoding: str = "utf-8", out_crs: str = "wgs84",
             workers: int | None = None, scheduler: str | None = None, time_limit: float = 60.0,
             gap: float = 0.0) -> Any:
    return Options(lang=lang, basemap=basemap, shp_encoding=shp_encoding, out_crs=out_crs, workers=workers,
                   scheduler=scheduler, time_limit_s=time_limit, gap_pct=gap)


@app.command()
def demo(
    sample: Annotated[str, typer.Option("--sample", help="Which embedded synthetic sample: county (default), "
                                        "district (an urban district of 街道 and 社区) or banner (a pastoral "
                                        "banner of 苏木 and 嘎查).")] = "county",
    out: OutOpt = None,
    lang: LangOpt = "zh",
    basemap: BasemapOpt = "none",
    shp_encoding: EncodingOpt = "utf-8",
    out_crs: OutCrsOpt = "wgs84",
) -> None:
    """Run an embedded synthetic sample end to end: baseline and its scenarios."""
    _guarded(lambda steps: _report(run_demo(sample=sample, out=out, progress=steps,
                                            options=_options(lang, basemap, shp_encoding, out_crs))))


@app.command()
def run(
    project: ProjectArg,
    out: OutOpt = None,
    lang: LangOpt = "zh",
    basemap: BasemapOpt = "none",
    shp_encoding: EncodingOpt = "utf-8",
    out_crs: OutCrsOpt = "wgs84",
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Baseline analysis of a project: village access, catchments, standards, maps and exports."""
    _guarded(lambda steps: _report(run_project(project, out=out, progress=steps, options=_options(
        lang, basemap, shp_encoding, out_crs, workers, scheduler))))


@app.command()
def compare(
    project: ProjectArg,
    scenarios: list[Path] = typer.Argument(..., help="One or more scenario files (YAML)."),
    out: OutOpt = None,
    lang: LangOpt = "zh",
    basemap: BasemapOpt = "none",
    shp_encoding: EncodingOpt = "utf-8",
    out_crs: OutCrsOpt = "wgs84",
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Baseline and each scenario on the same network, with their differences."""
    _guarded(lambda steps: _report(compare_project(project, scenarios, out=out, progress=steps, options=_options(
        lang, basemap, shp_encoding, out_crs, workers, scheduler))))


@app.command()
def optimize(
    project: ProjectArg,
    problem: str = typer.Option(..., "--problem", help="mclp (maximal covering), lscp (set covering) or pmedian."),
    kind: str = typer.Option(..., "--kind", help="Kind the chosen sites become, e.g. subcentre or ems_station."),
    k: Optional[int] = typer.Option(None, "--k", help="Number of sites (mclp, pmedian)."),
    band: float = typer.Option(30.0, "--band", help="Coverage band in minutes (mclp, lscp)."),
    candidates: str = typer.Option("existing:township_hc", "--candidates",
                                   help="existing:KIND | villages | grid:METRES | FILE"),
    out: OutOpt = None,
    time_limit: float = typer.Option(60.0, "--time-limit", help="Solver time limit in seconds."),
    gap: float = typer.Option(0.0, "--gap", help="Stop the solver once its proven gap is within this many percent "
                                                  "(e.g. 1 for 1 %); 0 searches for the optimum."),
    min_from_seat: float = typer.Option(0.0, "--min-from-seat",
                                        help="Only candidates at least this many minutes' drive from a county "
                                             "hospital (SUBCENTRE-CRITERIA: far from the county seat)."),
    demand: str = typer.Option("population", "--demand",
                               help="Who counts: population, or radiated:MIN (residents more than MIN minutes "
                                    "from any hospital; SUBCENTRE-CRITERIA as weights)."),
    lang: LangOpt = "zh",
    basemap: BasemapOpt = "none",
    shp_encoding: EncodingOpt = "utf-8",
    out_crs: OutCrsOpt = "wgs84",
    per_county: bool = typer.Option(False, "--per-county",
                                    help="Each county chooses its own sites for its own villages (--k per "
                                         "county); needs county polygons in the boundaries layer."),
    workers: WorkersOpt = None,
    scheduler: SchedulerOpt = None,
) -> None:
    """Choose sites with a MIP solver; the answer is written as a scenario file (optimized.yml)."""
    if problem not in ("mclp", "lscp", "pmedian"):
        raise typer.BadParameter("expected mclp, lscp or pmedian", param_hint="--problem")
    _guarded(lambda steps: _report(optimize_project(
        project, problem=problem, kind=kind, k=k, band_min=band, candidates=candidates, out=out,
        min_from_seat_min=min_from_seat, demand=demand, per_county=per_county, progress=steps,
        options=_options(lang, basemap, shp_encoding, out_crs, workers, scheduler, time_limit, gap))))


@app.command()
def validate(
    project: ProjectArg,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for validation.csv (default maps/<project name>/).")] = None,
) -> None:
    """Check a project's inputs only; exit 1 when there are errors (warnings do not fail)."""
    def action(steps: Steps) -> None:
        report, path = validate_inputs(project, out=out, progress=steps)
        steps.done()
        for row in report.itertuples(index=False):
            colour = "red" if row.severity == "error" else "yellow"
            text = f"{row.file} row {row.row} ({row.id}) {row.field}: {row.problem}. {row.suggestion}"
            console.print(f"[{colour}]{escape(str(row.severity))}[/{colour}] {escape(text)}")
        errors = int((report["severity"] == "error").sum()) if len(report) else 0
        console.print(f"{errors} errors, {len(report) - errors} warnings; report written to {escape(str(path))}")
        if errors:
            raise typer.Exit(1)

    _guarded(action)


def _report(out_dir: Path) -> None:
    console.print(f"Outputs written to [bold]{escape(str(out_dir))}[/bold]")


def main() -> None:
    """Console-script entry point."""
    outfolder.handle_interrupts()
    try:
        app()
    except KeyboardInterrupt:
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    main()
