"""Merge county parts into one AnalysisResult, recomputing what depends on the whole project.

Rows that belong to one village or one facility come from the part of that village's or facility's
county and are put back in the full tables' order. Standards, the county and township summaries,
services, population groups, regional centres, the three-tier emergency chains, and the ring and
dissolved catchment layers are recomputed on the merged tables with the functions `analyze` uses,
so they equal a single run's.

The 2SFCA indices are recomputed province-wide from the catchment pairs of every county's own
facilities. Tables that rest on whole-project optimisation are kept per county and say so in the
provenance (`partition.per_county_tables`): capacity allocation (`capacity`, `capacity_township`,
the villages' `township_residual`), the sub-centre ranking (ranked within each county, as the plans choose 1-3 sub-centres per county) and the
network quality report (rows about each county's own villages and facilities).
"""
from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.coverage import service_areas
from healthreach.coverage.analysis import (
    SUMMARY_TIERS,
    _jsonable,
    _township_names,
    _versions,
    summarise,
)
from healthreach.coverage.referral import (
    EMS_COLUMNS,
    THC_KINDS,
    ems_three_tier_standards,
)
from healthreach.coverage.indices import CATCHMENT_MIN, fca_tables_from_pairs
from healthreach.coverage.regional import assign_counties, regional_table
from healthreach.coverage.result import AnalysisResult
from healthreach.config import Settings
from healthreach.coverage.service_rules import check_service_rules
from healthreach.coverage.services import group_summary, service_summary
from healthreach.coverage.standards import check_standards
from healthreach.layers.project import Project

if TYPE_CHECKING:
    from healthreach.partition import PartitionReport, PartResult

log = logging.getLogger(__name__)

PER_COUNTY_TABLES = ("capacity", "capacity_township", "access_2sfca", "access_2sfca_township",
                     "subcentre_ranking", "network_qa")
_STRING_CHAIN_COLUMNS = ("thc_id", "thc_name", "thc_kind", "centre_id", "centre_name", "subcentre_fid",
                         "subcentre_name", "gap")


def _ordered(frames: list[pd.DataFrame], positions: list[np.ndarray], n: int, what: str) -> pd.DataFrame:
    """Concatenate per-part rows and put them in full-table order (each position exactly once)."""
    pos = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    if len(pos) != n or len(np.unique(pos)) != n:
        raise AssertionError(f"partition merge: {len(pos)} {what} rows for {n} {what} "
                             f"({len(pos) - len(np.unique(pos))} duplicated)")
    columns = _column_union(frames)
    merged = pd.concat([f.reindex(columns=columns) for f in frames])
    return merged.iloc[np.argsort(pos, kind="stable")]


def _column_union(frames: list[pd.DataFrame]) -> list[str]:
    """Columns of the widest part first, then any others in order of appearance.

    Parts differ only by the service columns of services no facility of the part offers."""
    widest = max(frames, key=lambda f: f.shape[1])
    columns = list(widest.columns)
    for frame in frames:
        columns += [c for c in frame.columns if c not in columns]
    return columns


def _by_facility(frames: list[pd.DataFrame], fid_pos: dict[str, int], *, tiers: tuple[str, ...] = ()
                 ) -> pd.DataFrame:
    """Per-facility rows of every part in a single run's order: by tier (if `tiers`), then facility."""
    frames = [f for f in frames if f is not None]
    if not frames:
        return pd.DataFrame()
    merged = pd.concat(frames, ignore_index=True)
    if not len(merged):
        return merged
    keys = [merged["fid"].astype(str).map(fid_pos).to_numpy(dtype=np.int64)]
    if tiers:
        keys.append(merged["tier"].map({t: i for i, t in enumerate(tiers)}).fillna(len(tiers)).to_numpy())
    order = np.lexsort(keys)  # the last key sorts first; lexsort is stable
    return merged.iloc[order].reset_index(drop=True)


def _gdf(frame: pd.DataFrame, like: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(frame, geometry=like.geometry.name, crs=like.crs)


def merge_chains(parts: list[PartResult], facilities: pd.DataFrame, townships: list[str],
                 fid_pos: dict[str, int]) -> pd.DataFrame:
    """The three-tier emergency chains as `ems_three_tier` gives them for the whole project.

    One row per township health centre (from its county's part), then one per township without any."""
    own = []
    for part in parts:
        rows = part.result.summary.get("ems_3tier")
        if rows is not None:
            own.append(rows[rows["thc_id"].notna().to_numpy() & rows["thc_id"].astype(str).isin(part.own_fids)])
    chains = pd.concat(own, ignore_index=True) if own else pd.DataFrame(columns=EMS_COLUMNS)
    if len(chains):
        chains = chains.iloc[np.argsort(chains["thc_id"].astype(str).map(fid_pos).to_numpy(), kind="stable")]
    kinds = facilities["kind"].to_numpy(dtype=object)
    known = set(facilities["township"].to_numpy(dtype=object)[np.isin(kinds, THC_KINDS)])
    missing = [{"township": town, "thc_ambulances": 0, "linked": False,
                "gap": "no township health centre in the township"} for town in townships if town not in known]
    table = pd.concat([chains, pd.DataFrame(missing, columns=EMS_COLUMNS)], ignore_index=True)[EMS_COLUMNS] \
        if missing else chains.reset_index(drop=True)[EMS_COLUMNS]
    for col in _STRING_CHAIN_COLUMNS:
        table[col] = table[col].astype("string")
    table["thc_ambulances"] = table["thc_ambulances"].astype(int)
    table["linked"] = table["linked"].astype(bool)
    return table


def _per_county(parts: list[PartResult], name: str, own_vids: list[set[str]]) -> pd.DataFrame | None:
    """A table that cannot be merged exactly: each part's rows about its own villages or facilities,
    or its own townships, with the part's county in a `county` column."""
    pieces = []
    for part, vids in zip(parts, own_vids):
        table = part.result.summary.get(name)
        if table is None or not len(table):
            continue
        if "fid" in table:
            keep = table["fid"].astype(str).isin(part.own_fids)
        elif "vid" in table:
            keep = table["vid"].astype(str).isin(vids)
        elif "id" in table and "feature" in table:
            keep = table["id"].astype(str).isin(vids | part.own_fids)
        elif "scope" in table:
            towns = set(part.result.villages["township"].dropna().astype(str))
            keep = (table["scope"] == "township") & table["name"].astype(str).isin(towns)
        else:
            keep = pd.Series(True, index=table.index)
        pieces.append(table[keep.to_numpy()].assign(county=part.county))
    return pd.concat(pieces, ignore_index=True) if pieces else None


def _merged_fca_pairs(villages: pd.DataFrame, parts: list[PartResult], fid_pos: dict[str, int]) -> pd.DataFrame:
    """Every county's 2SFCA pairs by position in the full tables (each facility's pairs come from its own
    county's part, where its whole catchment lies when the buffer covers the catchment's reach)."""
    pairs = pd.concat([p.fca_pairs for p in parts], ignore_index=True)
    vid_pos = {v: i for i, v in enumerate(villages["vid"].astype(str))}
    return pd.DataFrame({"facility": pairs["fid"].map(fid_pos).to_numpy(dtype=np.int64),
                         "village": pairs["vid"].map(vid_pos).to_numpy(dtype=np.int64),
                         "minutes": pairs["minutes"].to_numpy(dtype=float)})


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


def merge_parts(project: Project, edges: gpd.GeoDataFrame, settings: Settings, parts: list[PartResult], *,
                report: PartitionReport, wall_s: float) -> AnalysisResult:
    """One AnalysisResult from county parts, equal to `analyze(project)` where the partition is exact."""
    fids = project.facilities["fid"].astype(str).to_numpy()
    fid_pos = {f: i for i, f in enumerate(fids)}
    villages = _ordered([p.result.villages for p in parts], [p.village_pos for p in parts],
                        len(project.villages), "village")
    villages = _gdf(villages.set_axis(project.villages.index), parts[0].result.villages)
    facilities = _ordered([p.result.facilities for p in parts], [p.facility_pos for p in parts],
                          len(project.facilities), "facility")
    facilities = _gdf(facilities.set_axis(project.facilities.index), parts[0].result.facilities)
    catch = _gdf(_by_facility([p.result.catchments for p in parts], fid_pos, tiers=settings.catchment_tiers),
                 parts[0].result.catchments)
    layers: dict[str, gpd.GeoDataFrame] = {"rings": service_areas.rings(catch, project.crs),
                                           "dissolved": service_areas.dissolved(catch, villages, project.crs)}
    for name in parts[0].result.layers:
        frames = [p.result.layers[name] for p in parts if name in p.result.layers]
        layers[name] = _gdf(_by_facility(frames, fid_pos), frames[0])

    townships = _township_names(project.boundaries)
    chains = merge_chains(parts, project.facilities, townships or sorted(villages["township"].dropna().unique()),
                          fid_pos)
    in_county = {"village_county": assign_counties(project.boundaries, villages.geometry, default=project.name),
                 "facility_county": assign_counties(project.boundaries, project.facilities.geometry,
                                                    default=project.name)}
    standards = pd.concat([check_standards(villages, project.facilities, settings, county=project.name,
                                           townships=townships),
                           check_service_rules(villages, project.facilities, settings, **in_county),
                           ems_three_tier_standards(chains, settings)], ignore_index=True)
    summary = summarise(villages, project.facilities, settings, county=project.name)
    own_vids = [set(p.result.villages["vid"].astype(str)) for p in parts]
    extra = {"services": service_summary(villages, settings, counties=in_county["village_county"]),
             "groups": group_summary(villages, settings, counties=in_county["village_county"], tiers=SUMMARY_TIERS),
             "regional": regional_table(villages, project.facilities, settings, **in_county)}
    summary.update({name: table for name, table in extra.items() if len(table)})
    referral = _by_facility([p.result.summary["referral"][p.result.summary["referral"]["fid"].astype(str)
                             .isin(p.own_fids)] for p in parts if "referral" in p.result.summary], fid_pos)
    summary.update({"referral": referral, "ems_3tier": chains})
    per_county = list(PER_COUNTY_TABLES)
    pairs = None
    if all(p.fca_pairs is not None for p in parts):
        pairs = _merged_fca_pairs(villages, parts, fid_pos)
        summary["access_2sfca"], summary["access_2sfca_township"] = fca_tables_from_pairs(
            villages, project.facilities, pairs, county=project.name)
        per_county = [name for name in per_county if not name.startswith("access_2sfca")]
    for name in per_county:
        table = _per_county(parts, name, own_vids)
        if table is not None:
            summary[name] = table

    unverified = unverified_villages(villages, report.reach_s)
    if unverified.any():
        log.warning("%d villages have a travel time beyond the partition's exact reach (%.0f min) or none: "
                    "a wider buffer may change them", int(unverified.sum()), report.reach_s / 60)
    provenance = {
        "project": project.name,
        "inputs": {role: str(path) for role, path in project.inputs.items()},
        "settings": _jsonable(dataclasses.asdict(settings)),
        "catchments": settings.catchment_type,
        "network": {mode: {key: int(sum(p.result.provenance["network"][mode][key] for p in parts))
                           for key in ("nodes", "directed_edges", "road_segments")}
                    for mode in parts[0].result.provenance.get("network", {})},
        "versions": _versions(),
        "timings_s": _summed_timings(parts),
        "partition": _partition_record(report, parts, villages, unverified, wall_s, per_county),
    }
    return AnalysisResult(
        project_name=project.name, villages=villages, facilities=facilities, catchments=catch,
        roads=edges[["highway", "name", "geometry"]].copy(), boundaries=project.boundaries,
        standards=standards, summary=summary, provenance=provenance, fca_pairs=pairs, layers=layers,
    )


def _summed_timings(parts: list[PartResult]) -> dict[str, float]:
    out: dict[str, float] = {}
    for part in parts:
        for step, seconds in part.result.provenance.get("timings_s", {}).items():
            out[step] = round(out.get(step, 0.0) + float(seconds), 3)
    return out


def _partition_record(report: PartitionReport, parts: list[PartResult], villages: pd.DataFrame,
                      unverified: np.ndarray, wall_s: float, per_county: list[str]) -> dict[str, Any]:
    return {
        "counties": len(parts), "buffer_m": round(report.buffer_m, 1), "exact_reach_s": round(report.reach_s, 1),
        "resumed": list(report.resumed), "wall_s": wall_s,
        "parts": [{"county": p.county, "seconds": p.seconds, "peak_rss_mb": p.peak_rss_mb,
                   "villages": len(p.village_pos)} for p in parts],
        "unverified_villages": int(unverified.sum()),
        "unverified_vids": villages["vid"].astype(str).to_numpy()[unverified][:100].tolist(),
        "per_county_tables": per_county,
        # The 2SFCA pairs are complete when every route within the catchment stays on a part's roads.
        "fca_exact": bool(report.reach_s >= CATCHMENT_MIN * 60.0 and "access_2sfca" not in per_county),
    }
