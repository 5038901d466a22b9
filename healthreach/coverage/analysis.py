"""The baseline analysis of a project: networks, village access, catchments, standards, summary."""
from __future__ import annotations

import dataclasses
import platform
import time
from collections.abc import Callable
from importlib import metadata
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.coverage import service_areas
from healthreach.coverage.access import village_access
from healthreach.coverage.network import MODES, Network, build_networks
from healthreach.coverage.quality import network_qa
from healthreach.coverage.regional import assign_counties, regional_table
from healthreach.coverage.service_rules import check_service_rules
from healthreach.coverage.services import add_service_access, group_summary, service_summary
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.roads import read_project_roads
from healthreach.config import Settings, settings_from_parameters
from healthreach.coverage.standards import check_standards
from healthreach.layers.crs import metric_xy
from healthreach.coverage.capacity import capacity_coverage
from healthreach.coverage.indices import fca_pairs, fca_tables_from_pairs
from healthreach.coverage.referral import ems_three_tier, ems_three_tier_standards, referral_times
from healthreach.coverage.subcentres import rank_subcentres

Progress = Callable[[str], None]

SUMMARY_TIERS = ("township", "subcentre", "hospital", "village", "ems")
_VERSIONED = ("healthreach", "geopandas", "pyogrio", "pyproj", "shapely", "osmnx", "networkx", "scipy",
              "numpy", "pandas", "folium")


def analyze(
    project: Any,
    *,
    edges: gpd.GeoDataFrame | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
) -> AnalysisResult:
    """Analyse a loaded project (see healthreach.layers.project.Project).

    `edges` is the road edge table (read from the project's roads when omitted); comparisons pass the
    same table to every scenario so they run on one network.
    """
    say = progress or (lambda _msg: None)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    settings = settings or settings_from_parameters(project.parameters, source=str(project.path))
    if edges is None:
        say(f"reading roads {project.roads.path.name}")
        edges = read_project_roads(project, progress=say)
        lap("read_roads")
    villages, facilities = project.villages, project.facilities
    village_xy = metric_xy(villages, project.crs)
    facility_xy = metric_xy(facilities, project.crs)
    points = np.vstack([village_xy, facility_xy])
    say("building the drive, walk and ambulance networks")
    networks: dict[str, Network] = build_networks(edges, MODES, settings, project.crs, points)
    lap("build_networks")

    say("travel times per tier")
    access = village_access(villages, facilities, networks, village_xy, facility_xy, settings)
    lap("village_access")
    kind = service_areas.catchment_type(villages, facilities, networks, settings)
    if kind != settings.catchment_type:
        say(f"catchment polygons: {kind} (catchment_type auto)")
        settings = dataclasses.replace(settings, catchment_type=kind)
    catch = service_areas.catchments(villages, facilities, networks, settings, project.crs, progress=say)
    say("rings, dissolved and allocated catchments, ambulance radii, walking circles")
    layers = {
        "rings": service_areas.rings(catch, project.crs),
        "dissolved": service_areas.dissolved(catch, access, project.crs),
        "allocation": service_areas.allocation(villages, facilities, access, networks, settings, project.crs,
                                               catchments=catch),
        "ems_radius": service_areas.ems_radius(villages, facilities, networks, settings, project.crs),
        "walk_15min": service_areas.walk_circles(villages, facilities, networks, settings, project.crs),
    }
    lap("catchments")

    say("checking standards")
    townships = _township_names(project.boundaries)
    standards = check_standards(access, facilities, settings, county=project.name, townships=townships)
    lap("standards")

    analysed = facilities.copy()
    nv = len(villages)
    drive = networks["drive"]
    analysed["access_m"] = np.where(drive.point_joined[nv:], np.round(drive.point_access_m[nv:], 1), np.nan)
    analysed["note"] = pd.array(
        ["" if j else f"no road within {settings.max_snap_m:,.0f} m: not joined to the network"
         for j in drive.point_joined[nv:]], dtype="string")
    summary = summarise(access, facilities, settings, county=project.name)
    summary["network_qa"] = network_qa(edges, networks, villages, facilities, settings)
    say("services, regional centres, the old and the young")
    access = add_service_access(access, facilities, networks, village_xy, facility_xy)
    in_county = {"village_county": assign_counties(project.boundaries, villages.geometry, default=project.name),
                 "facility_county": assign_counties(project.boundaries, facilities.geometry, default=project.name)}
    standards = pd.concat([standards, check_service_rules(access, facilities, settings, **in_county)],
                          ignore_index=True)
    extra = {"services": service_summary(access, settings, counties=in_county["village_county"]),
             "groups": group_summary(access, settings, counties=in_county["village_county"], tiers=SUMMARY_TIERS),
             "regional": regional_table(access, facilities, settings, **in_county)}
    summary.update({name: table for name, table in extra.items() if len(table)})
    lap("services")
    say("referral, three-tier emergency network, capacity, 2SFCA, sub-centre candidates")
    chains = ems_three_tier(facilities, networks["ambulance"], nv=nv,
                            townships=townships or sorted(villages["township"].dropna().unique()))
    standards = pd.concat([standards, ems_three_tier_standards(chains, settings)], ignore_index=True)
    capacity = capacity_coverage(villages, facilities, drive, county=project.name)
    access["township_residual"] = capacity.residual["township"]
    pairs = fca_pairs(villages, facilities, drive)
    fca_villages, fca_townships = fca_tables_from_pairs(villages, facilities, pairs, county=project.name)
    summary.update({"referral": referral_times(facilities, drive, nv=nv), "ems_3tier": chains,
                    "capacity": capacity.facilities, "capacity_township": capacity.townships,
                    "access_2sfca": fca_villages, "access_2sfca_township": fca_townships,
                    "subcentre_ranking": rank_subcentres(villages, facilities, drive)})
    lap("referral_capacity_indices")
    roads = edges[["highway", "name", "geometry"]].copy()
    provenance = {
        "project": project.name,
        "inputs": {role: str(path) for role, path in project.inputs.items()},
        "settings": _jsonable(dataclasses.asdict(settings)),
        "catchments": kind,
        "network": {mode: {"nodes": net.n_nodes, "directed_edges": len(net.edge_from),
                           "road_segments": net.n_segments} for mode, net in networks.items()},
        "versions": _versions(),
        "timings_s": timings,
    }
    return AnalysisResult(
        project_name=project.name, villages=access, facilities=analysed, catchments=catch, roads=roads,
        boundaries=project.boundaries, standards=standards, summary=summary, provenance=provenance,
        fca_pairs=pairs, layers=layers,
    )


def _township_names(boundaries: gpd.GeoDataFrame | None) -> list[str] | None:
    if boundaries is None or "level" not in boundaries:
        return None
    names = boundaries.loc[boundaries["level"] == "township", "name"].astype(str).tolist()
    return names or None


def summarise(villages: pd.DataFrame, facilities: pd.DataFrame, settings: Settings, *, county: str
              ) -> dict[str, pd.DataFrame]:
    """County and township tables: residents within each band of each tier, and resource ratios."""
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
