"""The assessment step of the analysis: standards, summaries, capacity, indices and provenance of the
whole project, from one `Measurement` (however the measuring was scheduled)."""
from __future__ import annotations

import dataclasses
import platform
from importlib import metadata
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.config import CAPACITY_TIERS, Settings
from healthreach.coverage import service_areas
from healthreach.coverage.capacity import CapacityOptions, capacity_coverage
from healthreach.coverage.indices import fca_tables
from healthreach.coverage.measure import Measurement
from healthreach.coverage.referral import complete_chains, ems_three_tier_standards
from healthreach.coverage.regional import regional_table
from healthreach.coverage.result import AnalysisResult
from healthreach.coverage.service_rules import check_service_rules
from healthreach.coverage.services import group_summary, service_summary
from healthreach.coverage.standards import check_standards
from healthreach.coverage.subcentres import rank_subcentres
from healthreach.layers.boundaries import assign_counties, township_names
from healthreach.layers.project import Project
from healthreach.tiers import SUMMARY_TIERS

_VERSIONED = ("healthreach", "geopandas", "pyogrio", "pyproj", "shapely", "osmnx", "networkx", "scipy",
              "numpy", "pandas", "folium", "numba")


def assess(project: Project, measured: Measurement, settings: Settings, edges: gpd.GeoDataFrame, *,
           provenance: dict[str, Any] | None = None) -> AnalysisResult:
    """The analysis result of a project from its measurement (`edges`: the roads, for the maps).

    `provenance` adds to the record the measurement's own (network sizes, timings, settings)."""
    villages, facilities = measured.villages, project.facilities
    county = project.name
    townships = township_names(project.boundaries)
    in_county = {"village_county": assign_counties(project.boundaries, villages.geometry, default=county),
                 "facility_county": assign_counties(project.boundaries, facilities.geometry, default=county)}
    chains = complete_chains(measured.chains, facilities,
                             townships or sorted(villages["township"].dropna().unique()))
    standards = pd.concat([check_standards(villages, facilities, settings, county=county, townships=townships),
                           check_service_rules(villages, facilities, settings, **in_county),
                           ems_three_tier_standards(chains, settings)], ignore_index=True)

    capacity = capacity_coverage(villages, facilities, measured.pairs, county=county, options=CapacityOptions(
        bands_min=tuple((tier, settings.capacity_band_min(tier)) for tier in CAPACITY_TIERS)))
    villages = villages.copy()
    villages["township_residual"] = capacity.residual["township"]
    fca_villages, fca_townships = fca_tables(villages, facilities, measured.pairs, county=county)
    summary = summarise(villages, facilities, settings, county=county)
    extra = {"services": service_summary(villages, settings, counties=in_county["village_county"]),
             "groups": group_summary(villages, settings, counties=in_county["village_county"], tiers=SUMMARY_TIERS),
             "regional": regional_table(villages, facilities, settings, **in_county)}
    summary.update({name: table for name, table in extra.items() if len(table)})
    summary.update({
        "network_qa": measured.network_qa.reset_index(drop=True), "referral": measured.referral.reset_index(drop=True),
        "ems_3tier": chains, "capacity": capacity.facilities, "capacity_township": capacity.townships,
        "access_2sfca": fca_villages, "access_2sfca_township": fca_townships,
        "subcentre_ranking": rank_subcentres(villages, facilities, measured.pairs, measured.seat),
    })
    catch = measured.catchments
    layers = {"rings": service_areas.rings(catch, project.crs),
              "dissolved": service_areas.dissolved(catch, villages, project.crs), **measured.layers}
    record = {
        "project": project.name,
        "inputs": {role: str(path) for role, path in project.inputs.items()},
        "settings": _jsonable(dataclasses.asdict(settings)),
        "catchments": settings.catchment_type,
        "network": measured.network,
        "versions": _versions(),
        "timings_s": dict(measured.timings),
        **(provenance or {}),
    }
    return AnalysisResult(
        project_name=project.name, villages=villages, facilities=measured.facilities, catchments=catch,
        roads=edges[["highway", "name", "geometry"]].copy(), boundaries=project.boundaries, standards=standards,
        summary=summary, provenance=record, layers=layers, pairs=measured.pairs, edges=edges, crs=project.crs,
    )


def summarise(villages: pd.DataFrame, facilities: pd.DataFrame, settings: Settings, *, county: str
              ) -> dict[str, pd.DataFrame]:
    """County and township tables: residents within each band of each summary tier, and resource ratios."""
    groups = [("county", county, np.ones(len(villages), dtype=bool), np.ones(len(facilities), dtype=bool))]
    for town in sorted(villages["township"].dropna().unique()):
        groups.append(("township", town, (villages["township"] == town).to_numpy(),
                       (facilities["township"] == town).to_numpy()))
    pop = villages["population"].to_numpy(dtype=float)
    records = []
    for scope, name, vmask, fmask in groups:
        total = pop[vmask].sum()
        rec: dict[str, Any] = {"scope": scope, "name": name, "population": int(total),
                               "villages": int(vmask.sum()),
                               "unreachable_villages": int(np.isnan(villages["township_time_s"].to_numpy(dtype=float)[vmask]).sum())}
        for tier in SUMMARY_TIERS:
            t = villages[f"{tier}_time_s"].to_numpy(dtype=float)
            for band in settings.bands_min:
                within = vmask & np.isfinite(t) & (t <= band * 60 + 1e-9)
                rec[f"{tier}_pop_{band}min"] = int(pop[within].sum())
                rec[f"share_{tier}_{band}min"] = round(pop[within].sum() / total, 4) if total else np.nan
        for col in ("beds", "doctors", "nurses", "ambulances"):
            value = pd.to_numeric(facilities.loc[fmask, col], errors="coerce").fillna(0).sum()
            rec[col] = int(value)
            rec[f"{col}_per_1000"] = round(value / total * 1000, 3) if total else np.nan
        records.append(rec)
    table = pd.DataFrame(records)
    return {"county": table[table["scope"] == "county"].reset_index(drop=True),
            "township": table[table["scope"] == "township"].reset_index(drop=True)}


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
