"""Partitioned runs for province and national scale: one part per county, run as Dask tasks.

Each part holds one county's villages and facilities (its "own" points) plus the villages,
facilities and roads within the county grown by a buffer, so a village near a border may use a
facility across it. Every part is analysed with the ordinary engine (`healthreach.coverage.analysis`)
and only its own villages, facilities and their catchments are kept; `partition_merge` joins the
parts and recomputes standards and summaries on the merged tables.

Why the result equals a single run: a route of T seconds never leaves the disk of radius T x the
fastest speed of any travel mode around its start, so every route no longer than
`buffer_m / fastest speed` lies inside the part's roads and is found there exactly. Villages with a
time beyond that reach (or none at all) cannot be vouched for; the merge counts and logs them.

Parts run on `dask.distributed` (a `LocalCluster` of single-threaded worker processes, or an
existing scheduler). Each finished part is written atomically to `<parts_dir>/<key>.pkl` beside a
`<key>.sha256` holding the hash of its inputs and settings, so an interrupted run resumes by skipping
the parts whose hash still matches. With `--scheduler`, `parts_dir` must be on a file system the
workers share with this process: the workers read their inputs and write their results there.
"""
from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
import re
import resource
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from healthreach._errors import InputError, UsageError
from healthreach.coverage.analysis import analyze
from healthreach.layers.roads.speeds import MODES, segment_speeds_kmh
from healthreach.coverage.regional import assign_counties, county_polygons
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.roads import clip_area
from healthreach.config import Settings
from healthreach.coverage.service_areas import SPLIT_ABOVE_NODES
from healthreach.layers.project import Project

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

BUFFER_CAP_M = 60000.0
"""Default cap (metres) on the partition buffer: a province's parts stay small."""
RECOMPUTED_LAYERS = ("rings", "dissolved")
"""Catchment layers the merge rebuilds from the merged catchments; the others are per facility."""
_SOURCE_DIGEST: str | None = None


@dataclass(frozen=True)
class PartInput:
    """What one county's task needs: the part's project and roads, and which rows are its own."""

    county: str
    key: str
    """File stem of the part in the parts folder (the county name made safe for file names)."""
    project: Project
    edges: gpd.GeoDataFrame
    settings: Settings
    village_pos: np.ndarray
    """Position in the full village table of each of the part's villages."""
    facility_pos: np.ndarray
    own_villages: np.ndarray
    """Boolean per part village: inside this county (kept in the merged result)."""
    own_facilities: np.ndarray
    digest: str


@dataclass(frozen=True)
class PartResult:
    """The rows one county contributes to the merged result."""

    county: str
    digest: str
    result: AnalysisResult
    """The part's analysis, with villages, facilities, catchments and per-facility layers cut to the
    county's own rows (other tables as the part computed them; the merge selects from those)."""
    village_pos: np.ndarray
    """Position in the full village table of each row of `result.villages`."""
    facility_pos: np.ndarray
    """Position in the full facility table of each row of `result.facilities`."""
    own_fids: frozenset[str]
    seconds: float
    peak_rss_mb: float
    """Peak resident memory (MB) of the worker process when the part finished."""
    fca_pairs: pd.DataFrame | None = None
    """2SFCA catchment pairs of the county's own facilities (`fid`, `vid`, `minutes`): the merge
    computes the indices province-wide from them."""


@dataclass(frozen=True)
class PartStatus:
    """What a task sends back to the scheduler: small, the part itself is on disk."""

    county: str
    key: str
    seconds: float
    peak_rss_mb: float
    villages: int
    road_segments: int


@dataclass
class PartitionReport:
    """Per county: seconds, peak worker memory (MB), villages; which counties were resumed or failed."""

    parts: list[PartStatus] = field(default_factory=list)
    resumed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    buffer_m: float = 0.0
    reach_s: float = 0.0


def fastest_kmh(edges: gpd.GeoDataFrame, settings: Settings) -> float:
    """The fastest speed (km/h) of any road segment in any travel mode, or of the access leg."""
    fastest = settings.access_kmh
    for mode in MODES:
        speed = segment_speeds_kmh(edges, mode, settings)
        if np.isfinite(speed).any():
            fastest = max(fastest, float(np.nanmax(speed)))
    return fastest


def default_buffer_m(edges: gpd.GeoDataFrame, settings: Settings, *, cap_m: float = BUFFER_CAP_M) -> float:
    """Partition buffer (metres): the largest band's reach at the fastest speed, at most `cap_m`."""
    reach_m = max(settings.bands_min) / 60.0 * fastest_kmh(edges, settings) * 1000.0
    return float(min(reach_m, cap_m))


def _safe_name(name: str, taken: set[str]) -> str:
    stem = re.sub(r"[^\w\-]+", "_", name, flags=re.UNICODE).strip("_") or "county"
    key, n = stem, 1
    while key in taken:
        n += 1
        key = f"{stem}_{n}"
    taken.add(key)
    return key


def _source_digest() -> str:
    """Hash of the package's own source: a part computed by other code is not reused."""
    global _SOURCE_DIGEST  # computed once per process; the source does not change while it runs
    if _SOURCE_DIGEST is None:
        h = hashlib.sha256()
        for path in sorted(Path(__file__).parent.rglob("*.py")):
            h.update(path.read_bytes())
        _SOURCE_DIGEST = h.hexdigest()
    return _SOURCE_DIGEST


def _frame_digest(h: Any, frame: gpd.GeoDataFrame) -> None:
    plain = pd.DataFrame(frame.drop(columns=frame.geometry.name))
    h.update(repr(list(plain.columns)).encode())
    h.update(pd.util.hash_pandas_object(plain.astype(object), index=True).to_numpy().tobytes())
    h.update(b"".join(shapely.to_wkb(frame.geometry.to_numpy(), hex=False)))


def part_digest(project: Project, edges: gpd.GeoDataFrame, settings: Settings, own_villages: np.ndarray,
                own_facilities: np.ndarray, county: str) -> str:
    """SHA-256 of everything a part's result depends on: its layers, roads, settings and the code."""
    h = hashlib.sha256()
    for text in (county, project.name, project.crs, repr(dataclasses.asdict(settings)), _source_digest()):
        h.update(text.encode())
        h.update(b"\0")
    for frame in (project.villages, project.facilities, edges):
        _frame_digest(h, frame)
    if project.boundaries is not None:
        _frame_digest(h, project.boundaries)
    h.update(own_villages.tobytes())
    h.update(own_facilities.tobytes())
    return h.hexdigest()


def county_parts(project: Project, edges: gpd.GeoDataFrame, settings: Settings, *, buffer_m: float
                 ) -> Iterator[PartInput]:
    """One `PartInput` per county polygon of the project's boundaries (built one at a time).

    Villages and facilities belong to the first county polygon that covers them; one covered by none
    goes to the nearest county. Roads are those whose line meets the county grown by `buffer_m`.
    """
    counties = county_polygons(project.boundaries)
    if counties is None or len(counties) < 2:
        raise UsageError("a partitioned run needs a boundaries layer with two or more polygons of level "
                         "'county'")
    names = counties["name"].astype(str).to_numpy()
    polygons = counties.geometry.to_crs("EPSG:4326").to_numpy()
    v_home = home_counties(project.boundaries, project.villages.geometry, names, polygons)
    f_home = home_counties(project.boundaries, project.facilities.geometry, names, polygons)
    edge_tree = shapely.STRtree(edges.geometry.to_numpy())
    v_geom, f_geom = project.villages.geometry.to_numpy(), project.facilities.geometry.to_numpy()
    taken: set[str] = set()
    for name, polygon in zip(names, polygons):
        area = clip_area(polygon, buffer_m)
        v_take = np.flatnonzero(shapely.covers(area, v_geom) | (v_home == name))
        f_take = np.flatnonzero(shapely.covers(area, f_geom) | (f_home == name))
        e_take = np.sort(edge_tree.query(area, predicate="intersects"))
        sub = dataclasses.replace(project, villages=project.villages.iloc[v_take],
                                  facilities=project.facilities.iloc[f_take])
        part_edges = edges.iloc[e_take]
        own_v, own_f = v_home[v_take] == name, f_home[f_take] == name
        yield PartInput(county=name, key=_safe_name(name, taken), project=sub, edges=part_edges,
                        settings=settings, village_pos=v_take, facility_pos=f_take, own_villages=own_v,
                        own_facilities=own_f,
                        digest=part_digest(sub, part_edges, settings, own_v, own_f, name))


def home_counties(boundaries: gpd.GeoDataFrame | None, points: gpd.GeoSeries, names: np.ndarray,
          polygons: np.ndarray) -> np.ndarray:
    """County of each point as in `assign_counties`; a point outside every county takes the nearest."""
    home = assign_counties(boundaries, points.to_crs("EPSG:4326"), default="")
    lost = np.flatnonzero([h is None for h in home])
    if len(lost):
        tree = shapely.STRtree(polygons)
        geoms = points.to_crs("EPSG:4326").to_numpy()[lost]
        # Degrees are fine for choosing among a few nearby polygons.
        home[lost] = names[tree.query_nearest(geoms, all_matches=False)[1]]
    return home.astype(object)


def run_part(part: PartInput) -> PartResult:
    """Analyse one part and keep the county's own villages, facilities and catchments."""
    started = time.perf_counter()
    result = analyze(part.project, edges=part.edges, settings=part.settings)
    own_fids = frozenset(part.project.facilities["fid"].astype(str).to_numpy()[part.own_facilities])
    villages = result.villages.iloc[np.flatnonzero(part.own_villages)]
    facilities = result.facilities.iloc[np.flatnonzero(part.own_facilities)]
    catch = result.catchments[result.catchments["fid"].astype(str).isin(own_fids)]
    layers = {name: frame[frame["fid"].astype(str).isin(own_fids)] for name, frame in result.layers.items()
              if name not in RECOMPUTED_LAYERS and "fid" in frame}
    trimmed = dataclasses.replace(result, villages=villages, facilities=facilities, catchments=catch,
                                  layers=layers, roads=result.roads.iloc[:0], fca_pairs=None)
    return PartResult(county=part.county, digest=part.digest, result=trimmed,
                      village_pos=part.village_pos[part.own_villages],
                      facility_pos=part.facility_pos[part.own_facilities], own_fids=own_fids,
                      seconds=round(time.perf_counter() - started, 3), peak_rss_mb=round(peak_rss_mb(), 1),
                      fca_pairs=_own_fca_pairs(part, result.fca_pairs))


def _own_fca_pairs(part: PartInput, pairs: pd.DataFrame) -> pd.DataFrame:
    """The 2SFCA pairs of the part's own facilities, by id: complete when the buffer covers the
    catchment's reach, as every route within it then stays on the part's roads."""
    project = part.project
    own = pairs[part.own_facilities[pairs["facility"].to_numpy()]]
    return pd.DataFrame({"fid": project.facilities["fid"].astype(str).to_numpy()[own["facility"].to_numpy()],
                         "vid": project.villages["vid"].astype(str).to_numpy()[own["village"].to_numpy()],
                         "minutes": own["minutes"].to_numpy()})


def peak_rss_mb() -> float:
    """Peak resident memory (MB) of this process so far.

    Linux's VmHWM belongs to the process's own address space; `ru_maxrss` is not used because a worker
    started by fork and exec inherits its parent's figure (the driver holding the province's roads).
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


PartRunner = Callable[[PartInput], PartResult]


def _atomic_pickle(value: Any, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as stream:
            pickle.dump(value, stream, protocol=pickle.HIGHEST_PROTOCOL)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _atomic_text(text: str, path: Path) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as stream:
        stream.write(text)
    os.replace(tmp, path)


def part_task(input_path: str, runner: PartRunner = run_part) -> PartStatus:
    """Dask task: read a part's input file, analyse it, write `<key>.pkl` then `<key>.sha256`.

    The result file is complete before its hash file appears, so a hash file that matches always
    stands beside a whole result, whatever kills the worker in between. A task run again (Dask
    recomputes a finished task whose worker died before the driver collected it) reuses that result.
    """
    source = Path(input_path)
    with source.open("rb") as stream:
        part: PartInput = pickle.load(stream)
    folder = source.parent
    if is_done(folder, part):
        outcome = load_part(folder, part.key)
    else:
        outcome = runner(part)
        _atomic_pickle(outcome, folder / f"{part.key}.pkl")
        _atomic_text(part.digest, folder / f"{part.key}.sha256")
    return PartStatus(county=part.county, key=part.key, seconds=outcome.seconds, peak_rss_mb=outcome.peak_rss_mb,
                      villages=len(outcome.village_pos), road_segments=len(part.edges))


def is_done(parts_dir: Path, part: PartInput) -> bool:
    """True when the part's result is on disk and was computed from the same inputs and settings."""
    digest_file, result_file = parts_dir / f"{part.key}.sha256", parts_dir / f"{part.key}.pkl"
    return (digest_file.is_file() and result_file.is_file()
            and digest_file.read_text(encoding="utf-8").strip() == part.digest)


def load_part(parts_dir: Path, key: str) -> PartResult:
    """A finished part's result from the parts folder."""
    with (parts_dir / f"{key}.pkl").open("rb") as stream:
        outcome: PartResult = pickle.load(stream)
    return outcome


def run_parts(
    parts: Iterator[PartInput],
    parts_dir: Path,
    *,
    workers: int | None = None,
    scheduler: str | None = None,
    retries: int = 2,
    runner: PartRunner = run_part,
    progress: Progress | None = None,
) -> PartitionReport:
    """Run every part not already finished in `parts_dir` as a task on dask.distributed.

    A local cluster of `workers` single-threaded processes, or the cluster at `scheduler`. At most two
    parts per worker wait in the queue, so the driver never holds every part's roads at once. A part
    that fails is retried `retries` times, then reported in `failed`; the others go on.
    """
    from dask.distributed import Client, LocalCluster, as_completed

    say = progress or (lambda _msg: None)
    if scheduler is None and (workers is None or workers < 1):
        raise UsageError(f"--workers {workers}: expected a number of worker processes >= 1, or --scheduler")
    parts_dir.mkdir(parents=True, exist_ok=True)
    report = PartitionReport()
    cluster = None
    # The in-process scheduler logs every worker event at INFO; the caller's progress display says enough.
    noisy = logging.getLogger("distributed")
    level = noisy.level
    noisy.setLevel(max(level, logging.WARNING))
    if scheduler is not None:
        client = Client(scheduler)
    else:
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    try:
        capacity = 2 * max(1, len(client.scheduler_info().get("workers", {})), workers or 1)
        queue = as_completed()
        pending: dict[str, PartInput] = {}
        total = 0
        source = iter(parts)

        def feed() -> None:
            nonlocal total
            while len(pending) < capacity:
                part = next(source, None)
                if part is None:
                    return
                total += 1
                if is_done(parts_dir, part):
                    report.resumed.append(part.county)
                    say(f"county {part.county}: already done, skipped")
                    continue
                path = parts_dir / f"{part.key}.input.pkl"
                _atomic_pickle(part, path)
                future = client.submit(part_task, str(path), runner, key=f"part-{part.key}-{part.digest[:12]}",
                                       retries=retries, pure=False)
                pending[future.key] = part
                queue.add(future)

        feed()
        while pending:
            future = next(queue)
            part = pending.pop(future.key)
            if future.status == "finished":
                status: PartStatus = future.result()
                report.parts.append(status)
                say(f"county {part.county} done ({len(report.parts) + len(report.resumed)} finished, "
                    f"{status.seconds:.1f} s)")
                (parts_dir / f"{part.key}.input.pkl").unlink(missing_ok=True)
            else:
                try:
                    error = future.exception()
                except Exception as exc:  # a cancelled future (scheduler lost) has no exception to fetch
                    error = exc
                report.failed[part.county] = f"{type(error).__name__}: {error}"
                say(f"county {part.county} FAILED after {retries} retries: {error}")
                log.error("county %s failed: %s", part.county, error)
            future.release()
            feed()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
        noisy.setLevel(level)
    return report


def run_and_load(parts: Iterator[PartInput], parts_dir: Path, *, workers: int | None = None,
                 scheduler: str | None = None, retries: int = 2, runner: Callable[[PartInput], Any] = run_part,
                 progress: Progress | None = None) -> tuple[list[Any], PartitionReport]:
    """`run_parts`, then every part's result read back in the order of `parts`.

    Raises InputError naming every county that still failed after its retries; the finished counties
    stay in `parts_dir` for the next run.
    """
    keys: list[str] = []

    def listed() -> Iterator[PartInput]:
        for part in parts:
            keys.append(part.key)
            yield part

    report = run_parts(listed(), parts_dir, workers=workers, scheduler=scheduler, retries=retries,
                       runner=runner, progress=progress)
    if report.failed:
        lines = "\n".join(f"  {county}: {error}" for county, error in report.failed.items())
        raise InputError(f"{len(report.failed)} of {len(keys)} counties failed (finished counties are kept in "
                         f"{parts_dir} and skipped when the run is repeated):\n{lines}")
    return [load_part(parts_dir, key) for key in keys], report


def is_partitioned(workers: int | None, scheduler: str | None) -> bool:
    """Whether the commands run per county on Dask: `workers` > 1 or a `scheduler` address."""
    return scheduler is not None or (workers is not None and workers > 1)


def analyze_partitioned(
    project: Project,
    *,
    edges: gpd.GeoDataFrame,
    settings: Settings,
    parts_dir: Path,
    workers: int | None = None,
    scheduler: str | None = None,
    buffer_m: float | None = None,
    retries: int = 2,
    runner: PartRunner = run_part,
    progress: Progress | None = None,
) -> AnalysisResult:
    """`analyze` run per county on dask.distributed and merged (see the module docstring).

    `buffer_m` (metres) defaults to `default_buffer_m`. `catchment_type: auto` becomes split for every
    county when the province has more than `SPLIT_ABOVE_NODES` road segments, else overlap; split areas
    are then split among the facilities each county's part can see. Raises InputError naming every county that
    still failed after its retries; the finished counties stay in `parts_dir` for the next run.
    """
    from healthreach.partition_merge import merge_parts

    say = progress or (lambda _msg: None)
    started = time.perf_counter()
    buffer_m = default_buffer_m(edges, settings) if buffer_m is None else float(buffer_m)
    if not np.isfinite(buffer_m) or buffer_m < 0:
        raise UsageError(f"partition buffer {buffer_m!r}: expected metres >= 0")
    if settings.catchment_type == "auto":
        # Settled once for every county, so the merged layers are all of one kind.
        kind = "split" if len(edges) > SPLIT_ABOVE_NODES else "overlap"
        settings = dataclasses.replace(settings, catchment_type=kind)
        say(f"catchment polygons: {kind} in every county ({len(edges):,} road segments)")
    reach_s = buffer_m / (fastest_kmh(edges, settings) / 3.6)
    say(f"partitioning by county (buffer {buffer_m / 1000:.1f} km, exact up to {reach_s / 60:.1f} min)")
    results, report = run_and_load(county_parts(project, edges, settings, buffer_m=buffer_m), parts_dir,
                                   workers=workers, scheduler=scheduler, retries=retries, runner=runner,
                                   progress=say)
    report.buffer_m, report.reach_s = buffer_m, reach_s
    say(f"merging {len(results)} counties")
    return merge_parts(project, edges, settings, results, report=report,
                       wall_s=round(time.perf_counter() - started, 3))


Analysis = Callable[[Project, gpd.GeoDataFrame, Settings, str], AnalysisResult]


def analysis_runner(*, workers: int | None, scheduler: str | None, parts_root: Path,
                    buffer_m: float | None = None, progress: Progress | None = None) -> Analysis:
    """The analysis the commands call as `run(project, edges, settings, tag)`.

    Plain `analyze` in this process unless `workers` > 1 or a `scheduler` address is given; then a
    partitioned run whose parts go to `parts_root/<tag>/` (tag: 'baseline' or the scenario's name).
    """
    if workers is not None and workers < 1:
        raise UsageError(f"--workers {workers}: expected a number of worker processes >= 1")
    partitioned = is_partitioned(workers, scheduler)

    def run(project: Project, edges: gpd.GeoDataFrame, settings: Settings, tag: str) -> AnalysisResult:
        if not partitioned:
            return analyze(project, edges=edges, settings=settings, progress=progress)
        return analyze_partitioned(project, edges=edges, settings=settings, parts_dir=parts_root / tag,
                                   workers=workers, scheduler=scheduler, buffer_m=buffer_m, progress=progress)

    return run
