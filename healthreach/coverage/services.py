"""Services as tiers: the nearest facility offering each service, and residents within bands.

A facility's `services` column lists canonical service ids (healthreach.tiers.SERVICES) joined
by ';'. Each service present is analysed like a tier. The five emergency centres are measured by
ambulance **toward** the centre: the question is how long a patient takes to reach a centre that can
treat them, not how long a dispatch takes to reach the patient. Every other service is measured driving
toward the facility. Populations are persons; times seconds; distances metres.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.coverage.masks import equal_masks
from healthreach.coverage.network import Network
from healthreach.config import Settings
from healthreach.coverage.traveltime import nearest
from healthreach.tiers import EMERGENCY_CENTRES, SERVICE_TABLE, SERVICES

POPULATION_GROUPS: tuple[str, ...] = ("elderly", "children")
"""Village columns counting residents aged 65+ and under 6 (一老一小)."""

Scope = tuple[str, str, np.ndarray]


def facility_services(facilities: pd.DataFrame) -> list[frozenset[str]]:
    """The set of service ids of each facility (empty where the `services` cell is missing or blank)."""
    if "services" not in facilities:
        return [frozenset()] * len(facilities)
    out = []
    for cell in facilities["services"]:
        text = "" if pd.isna(cell) else str(cell)
        out.append(frozenset(s.strip() for s in text.split(";") if s.strip()))
    return out


def services_present(facilities: pd.DataFrame) -> tuple[str, ...]:
    """Service ids offered by at least one facility, in the order of SERVICES."""
    offered = set().union(*facility_services(facilities)) if len(facilities) else set()
    return tuple(s for s in SERVICES if s in offered)


def service_mode(service: str) -> str:
    """Travel mode a service is measured with: 'ambulance' for the five centres, else 'drive'."""
    return SERVICE_TABLE[service].mode


def service_bands(service: str, settings: Settings) -> tuple[int, ...]:
    """Bands (minutes) reported for a service: `service_bands_min` for the five centres, else `bands_min`."""
    return tuple(settings.service_bands_min if service in EMERGENCY_CENTRES else settings.bands_min)


def nearest_columns(
    prefix: str,
    net: Network,
    members: np.ndarray,
    village_xy: np.ndarray,
    facility_xy: np.ndarray,
    fids: np.ndarray,
    *,
    toward: bool,
) -> dict[str, Any]:
    """`<prefix>_fid`, `_time_s` (seconds), `_dist_m` (network metres), `_line_m` (straight metres).

    Villages are network points 0..nv-1, facilities nv.. in table order; `members` are the facility
    positions that offer the service. Every measure is empty (NA/NaN) where no member is reachable.
    """
    nv = len(village_xy)
    vnodes = net.point_node[:nv]
    result = nearest(net, net.point_node[nv + members], toward=toward)
    cost = result.cost[vnodes]
    ok = np.isfinite(cost)
    chosen = members[np.where(ok, result.source[vnodes], 0)] if len(members) else np.zeros(nv, dtype=np.int64)
    line = np.hypot(*(village_xy - facility_xy[chosen]).T) if len(members) else np.full(nv, np.nan)
    return {
        f"{prefix}_fid": pd.array([fids[c] if o else None for c, o in zip(chosen, ok)], dtype="string"),
        f"{prefix}_time_s": np.where(ok, np.round(cost, 1), np.nan),
        f"{prefix}_dist_m": np.where(ok, np.round(result.metres_at(vnodes), 1), np.nan),
        f"{prefix}_line_m": np.where(ok, np.round(line, 1), np.nan),
    }


def add_service_access(
    villages: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    networks: dict[str, Network],
    village_xy: np.ndarray,
    facility_xy: np.ndarray,
) -> gpd.GeoDataFrame:
    """A copy of the village access table with the four measures of every service present.

    `village_xy`/`facility_xy` are metric coordinates (metres) in the networks' CRS.
    """
    out = villages.copy()
    offered = facility_services(facilities)
    fids = facilities["fid"].to_numpy(dtype=object)
    for service in services_present(facilities):
        members = np.flatnonzero([service in s for s in offered])
        net = networks[service_mode(service)]
        for column, values in nearest_columns(service, net, members, village_xy, facility_xy, fids,
                                              toward=True).items():
            out[column] = values
    return out


def scopes(villages: pd.DataFrame, counties: Sequence[object]) -> list[Scope]:
    """(scope, name, village mask) for every county (by `counties`, one name per village) and township."""
    county = np.asarray(counties, dtype=object)
    out: list[Scope] = [("county", str(c), county == c) for c in dict.fromkeys(c for c in county if c is not None)]
    towns = sorted(villages["township"].dropna().unique())
    out += [("township", str(town), mask) for town, mask in equal_masks(villages["township"], towns).items()]
    return out


def group_weights(villages: pd.DataFrame) -> list[tuple[str, np.ndarray]]:
    """Persons per village for 'all' residents and for each of POPULATION_GROUPS the villages carry.

    A group is left out when no village gives its count; a village without a count adds 0 persons.
    """
    out = [("all", villages["population"].to_numpy(dtype=float))]
    for group in POPULATION_GROUPS:
        if group in villages:
            counts = pd.to_numeric(villages[group], errors="coerce")
            if counts.notna().any():
                out.append((group, counts.fillna(0).to_numpy(dtype=float)))
    return out


def persons_within(times_s: np.ndarray, weights: np.ndarray, mask: np.ndarray, band_min: float) -> float:
    """Persons (sum of `weights` over `mask`) whose travel time is at most `band_min` minutes."""
    within = mask & np.isfinite(times_s) & (times_s <= band_min * 60 + 1e-9)
    return float(weights[within].sum())


def service_summary(villages: pd.DataFrame, settings: Settings, *, counties: Sequence[object]) -> pd.DataFrame:
    """Table `services`: per county/township x population group x service, persons and share within bands.

    Columns: scope, name, group ('all', 'elderly', 'children'), service, mode, population (persons of
    the group), reached (persons with any route), `pop_<b>min`, `share_<b>min` for the service's bands
    (empty for bands the service does not use), `golden_hour_share` (five centres: share within rule
    GOLDEN-HOUR minutes), `mean_time_s` (person-weighted over those reached).
    """
    present = [s for s in SERVICES if f"{s}_time_s" in villages]
    golden = settings.rule("GOLDEN-HOUR").value
    bands = sorted({b for s in present for b in service_bands(s, settings)})
    records = []
    for scope, name, mask in scopes(villages, counties):
        for group, weights in group_weights(villages):
            total = float(weights[mask].sum())
            for service in present:
                t = villages[f"{service}_time_s"].to_numpy(dtype=float)
                reached = mask & np.isfinite(t)
                rec: dict[str, Any] = {"scope": scope, "name": name, "group": group, "service": service,
                                       "mode": service_mode(service), "population": int(total),
                                       "reached": int(weights[reached].sum())}
                for band in service_bands(service, settings):
                    covered = persons_within(t, weights, mask, band)
                    rec[f"pop_{band}min"] = int(covered)
                    rec[f"share_{band}min"] = round(covered / total, 4) if total else np.nan
                if service in EMERGENCY_CENTRES:
                    covered = persons_within(t, weights, mask, golden)
                    rec["golden_hour_share"] = round(covered / total, 4) if total else np.nan
                w = weights[reached]
                rec["mean_time_s"] = round(float((t[reached] * w).sum() / w.sum()), 1) if w.sum() else np.nan
                records.append(rec)
    columns = ["scope", "name", "group", "service", "mode", "population", "reached",
               *[c for b in bands for c in (f"pop_{b}min", f"share_{b}min")], "golden_hour_share", "mean_time_s"]
    table = pd.DataFrame(records, columns=columns)
    for b in bands:
        table[f"pop_{b}min"] = table[f"pop_{b}min"].astype("Int64")
    return table


def group_summary(villages: pd.DataFrame, settings: Settings, *, counties: Sequence[object],
                  tiers: Sequence[str]) -> pd.DataFrame:
    """Table `groups`: the county/township band figures of `tiers` for the elderly and the children.

    One row per scope x group with `<tier>_pop_<b>min` (persons of the group) and `share_<tier>_<b>min`,
    named as in the county and township tables; empty when the villages carry neither group.
    """
    records = []
    for scope, name, mask in scopes(villages, counties):
        for group, weights in group_weights(villages)[1:]:
            total = float(weights[mask].sum())
            rec: dict[str, Any] = {"scope": scope, "name": name, "group": group, "population": int(total)}
            for tier in tiers:
                t = villages[f"{tier}_time_s"].to_numpy(dtype=float)
                for band in settings.bands_min:
                    covered = persons_within(t, weights, mask, band)
                    rec[f"{tier}_pop_{band}min"] = int(covered)
                    rec[f"share_{tier}_{band}min"] = round(covered / total, 4) if total else np.nan
            records.append(rec)
    return pd.DataFrame(records)
