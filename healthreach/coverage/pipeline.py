"""The analysis of a project: the measuring step over one area or over county areas, then one assessment.

A single run measures the whole project as one area in this process. A partitioned run
(`config.execution.partitioned`) measures each county's area as a Dask task (see healthreach.partition),
keeping finished counties in `parts_dir` so an interrupted run resumes, and combines what each
county reports about its own villages and facilities. The assessment is the same code either way,
so the partitioned result equals the single run's wherever the partition buffer covers the routes.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach._errors import UsageError
from healthreach.config import RunConfig, Settings
from healthreach.coverage.assess import assess
from healthreach.coverage.measure import Measurement, combine, measure, pair_limits_s
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.project import Project
from healthreach.partition.counties import Area, county_areas, default_buffer_m, fastest_kmh, whole
from healthreach.partition.runner import RunReport, run_parts

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
MeasureFn = Callable[[Area], Measurement]


def analyze(project: Project, edges: gpd.GeoDataFrame, config: RunConfig, *, parts_dir: Path | None = None,
            progress: Progress | None = None, measure_fn: MeasureFn | None = None) -> AnalysisResult:
    """Village access, catchments, standards and summaries of `project` on the road edge table `edges`.

    `config.settings.catchment_type` must be settled ('overlap' or 'split'). A partitioned run needs
    `parts_dir`; `measure_fn` replaces the measuring step of each part (tests inject failures with it).
    """
    settings = config.settings
    nv, nf = len(project.villages), len(project.facilities)
    if not config.execution.partitioned:
        measured = combine([measure(whole(project, edges), settings, progress=progress)], nv, nf)
        return assess(project, measured, settings, edges)
    if parts_dir is None:
        raise UsageError("a partitioned run needs a folder for its parts")
    say = progress or (lambda _msg: None)
    buffer_m = config.execution.buffer_m
    if buffer_m is None:
        buffer_m = default_buffer_m(edges, settings, reach_min(settings))
    reach_s = buffer_m / (fastest_kmh(edges, settings) / 3.6)
    say(f"partitioning by county (buffer {buffer_m / 1000:.1f} km, exact up to {reach_s / 60:.1f} min)")
    fn = measure_fn or partial(measure, settings=settings)
    results, report = run_parts(county_areas(project, edges, settings, buffer_m=buffer_m), parts_dir, fn,
                                workers=config.execution.workers, scheduler=config.execution.scheduler,
                                progress=say)
    say(f"combining {len(results)} counties")
    measured = combine([r.value for r in results], nv, nf)
    unverified = unverified_villages(measured.villages, reach_s)
    if unverified.any():
        log.warning("%d villages have a travel time beyond the partition's exact reach (%.0f min) or none: "
                    "a wider buffer may change them", int(unverified.sum()), reach_s / 60)
    record = _partition_record(report, [r.value for r in results], measured, unverified, buffer_m, reach_s,
                               settings)
    return assess(project, measured, settings, edges, provenance={"partition": record})


def reach_min(settings: Settings) -> float:
    """Minutes of travel the results depend on: the largest band, and the cost pairs' reach."""
    return max(float(max(settings.bands_min)), *(limit / 60.0 for limit in pair_limits_s(settings)))


def unverified_villages(villages: pd.DataFrame, reach_s: float) -> np.ndarray:
    """Villages some time of which the partition cannot vouch for: beyond `reach_s` seconds, or
    empty although the village is on the network and other villages reach that tier."""
    joined = villages["access_m"].notna().to_numpy()
    flag = np.zeros(len(villages), dtype=bool)
    for column in [c for c in villages.columns if c.endswith("_time_s")]:
        t = pd.to_numeric(villages[column], errors="coerce").to_numpy(dtype=float)
        flag |= np.isfinite(t) & (t > reach_s)
        if np.isfinite(t).any():
            flag |= joined & ~np.isfinite(t)
    return flag


def _partition_record(report: RunReport, parts: list[Measurement], measured: Measurement, unverified: np.ndarray,
                      buffer_m: float, reach_s: float, settings: Settings) -> dict[str, Any]:
    finished = list(report.finished.values())
    return {
        "counties": len(parts), "buffer_m": round(buffer_m, 1), "exact_reach_s": round(reach_s, 1),
        "resumed": list(report.resumed), "wall_s": report.wall_s,
        "parts": [{"county": m.label, "seconds": f.seconds, "peak_rss_mb": f.peak_rss_mb,
                   "villages": len(m.village_pos)} for m, f in zip(parts, finished)],
        "unverified_villages": int(unverified.sum()),
        "unverified_vids": measured.villages["vid"].astype(str).to_numpy()[unverified][:100].tolist(),
        # Capacity, 2SFCA and the sub-centre ranking rest on the cost pairs: complete when every route
        # within their reach stays on a part's roads.
        "pairs_exact": bool(reach_s >= max(pair_limits_s(settings))),
    }
