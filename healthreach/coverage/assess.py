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
from healthreach.coverage.rule_inputs import licensed_doctors
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
    standards = pd.concat([check_standards(villages, facilities, settings, townships=townships, **in_county),
                           check_service_rules(villages, facilities, settings, **in_county),
                           ems_three_tier_standards(chains, settings, referral=measured.referral, villages=villages,
                                                    facilities=facilities, **in_county)], ignore_index=True)

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
    layers = {"rings": measured.layers["rings"],
              "dissolved": service_areas.dissolved(measured.dissolved, villages, project.crs),
              **{name: layer for name, layer in measured.layers.items() if name != "rings"}}
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
    towns = sorted(villages["township"].dropna().unique())
    # Group 0 is the county, group k the k-th township (one pass of bincount per measure, not per township).
    v_group = _groups(villages["township"], towns)
    f_group = _groups(facilities["township"], towns)
    n = len(towns) + 1
    pop = villages["population"].to_numpy(dtype=float)

    def per_group(weights: np.ndarray, group: np.ndarray) -> np.ndarray:
        sums = np.bincount(group[group >= 0], weights=weights[group >= 0], minlength=n)
        sums[0] = weights.sum()
        return sums

    total = per_group(pop, v_group)
    table = pd.DataFrame({"scope": ["county"] + ["township"] * len(towns), "name": [county, *towns],
                          "population": total.astype(np.int64),
                          "villages": per_group(np.ones(len(villages)), v_group).astype(np.int64)})
    unreachable = np.isnan(villages["township_time_s"].to_numpy(dtype=float)).astype(float)
    table["unreachable_villages"] = per_group(unreachable, v_group).astype(np.int64)
    with np.errstate(invalid="ignore", divide="ignore"):
        for tier in SUMMARY_TIERS:
            t = villages[f"{tier}_time_s"].to_numpy(dtype=float)
            for band in settings.bands_min:
                within = per_group(np.where(np.isfinite(t) & (t <= band * 60 + 1e-9), pop, 0.0), v_group)
                table[f"{tier}_pop_{band}min"] = within.astype(np.int64)
                table[f"share_{tier}_{band}min"] = np.where(total > 0, np.round(within / total, 4), np.nan)
        for col in ("beds", "doctors", "nurses", "ambulances"):
            # Licensed physicians, as the column is labelled: village doctors left out.
            counts = licensed_doctors(facilities) if col == "doctors" else \
                pd.to_numeric(facilities[col], errors="coerce").fillna(0)
            value = per_group(np.asarray(counts, dtype=float), f_group)
            table[col] = value.astype(np.int64)
            table[f"{col}_per_1000"] = np.where(total > 0, np.round(value / total * 1000, 3), np.nan)
    return {"county": table.iloc[:1].reset_index(drop=True), "township": table.iloc[1:].reset_index(drop=True)}


def _groups(township: pd.Series, towns: list[str]) -> np.ndarray:
    """1 + position in `towns` of each row's township; -1 where it has none."""
    index = {town: k + 1 for k, town in enumerate(towns)}
    return np.array([index.get(t, -1) for t in township.to_numpy(dtype=object)], dtype=np.int64)


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
