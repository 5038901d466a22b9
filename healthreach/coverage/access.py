"""Village access per tier, from the networks of each travel mode."""
from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.coverage.network import Network
from healthreach.coverage.rule_inputs import radius_bases
from healthreach.config import Settings
from healthreach.coverage.traveltime import nearest
from healthreach.tiers import TIERS, tier_members

Progress = Callable[[str], None]

ACCESS_TIERS = tuple(TIERS)


def _toward(tier: str) -> bool:
    return tier != "ems"


def tier_mask(facilities: pd.DataFrame, tier: str) -> np.ndarray:
    """Which facilities belong to `tier` (the `ems` tier includes any facility with ambulances)."""
    return np.asarray(tier_members(list(facilities["kind"]), list(facilities["ambulances"]), tier), dtype=bool)


def village_access(
    villages: gpd.GeoDataFrame,
    facilities: gpd.GeoDataFrame,
    networks: dict[str, Network],
    village_xy: np.ndarray,
    facility_xy: np.ndarray,
    settings: Settings,
) -> gpd.GeoDataFrame:
    """Village access table (design.md columns): per tier the nearest facility, seconds and metres.

    Networks carry villages as points 0..nv-1 and facilities as points nv.. (in table order).
    Unreachable villages keep their row with empty times and a reason in `note`.
    """
    nv = len(villages)
    out = villages.copy()
    drive = networks["drive"]
    out["access_m"] = np.round(drive.point_access_m[:nv], 1)
    notes: list[list[str]] = [[] for _ in range(nv)]
    for i in np.flatnonzero(~drive.point_joined[:nv]):
        nearest_m = drive.point_access_m[i]
        where = f"nearest road {nearest_m:,.0f} m" if np.isfinite(nearest_m) else "no road at all"
        notes[i].append(f"no road within {settings.max_snap_m:,.0f} m ({where}): not joined to the network")
    for i in np.flatnonzero(drive.point_island_junctions[:nv] > 0):
        island = (f"the nearest road ({drive.point_island_m[i]:,.0f} m) lies on a road island of "
                  f"{int(drive.point_island_junctions[i])} junctions")
        notes[i].append(f"{island}: joined the connected network {drive.point_access_m[i]:,.0f} m away instead"
                        if drive.point_skipped_island[i] else
                        f"{island}, and no connected road lies within {settings.max_snap_m:,.0f} m")
    out.loc[~drive.point_joined[:nv], "access_m"] = np.nan
    fids = facilities["fid"].to_numpy(dtype=object)
    for tier in ACCESS_TIERS:
        net = networks[TIERS[tier].mode]
        members = np.flatnonzero(tier_mask(facilities, tier))
        result = nearest(net, net.point_node[nv + members], toward=_toward(tier))
        vnodes = net.point_node[:nv]
        cost = result.cost[vnodes]
        src = result.source[vnodes]
        ok = np.isfinite(cost)
        chosen = members[np.where(ok, src, 0)] if len(members) else np.zeros(nv, dtype=np.int64)
        line = np.hypot(*(village_xy - facility_xy[chosen]).T) if len(members) else np.full(nv, np.nan)
        out[f"{tier}_fid"] = pd.array([fids[c] if o else None for c, o in zip(chosen, ok)], dtype="string")
        out[f"{tier}_time_s"] = np.where(ok, np.round(cost, 1), np.nan)
        out[f"{tier}_dist_m"] = np.where(ok, np.round(result.metres_at(vnodes), 1), np.nan)
        out[f"{tier}_line_m"] = np.where(ok, np.round(line, 1), np.nan)
        if tier == "ems":
            bases = radius_bases(facilities, settings, members)  # rule EMS-BASES
            by_length = nearest(net, net.point_node[nv + bases], toward=False, weight="length")
            radius = by_length.cost[vnodes]
            out["ems_radius_m"] = np.where(np.isfinite(radius), np.round(radius, 1), np.nan)
        if tier == "community" or not len(members):
            continue  # rural villages do not walk to community stations; a missing tier is no village's fault
        mode = TIERS[tier].mode
        for i in np.flatnonzero(~ok & net.point_joined[:nv]):
            notes[i].append(f"no {tier} facility reachable on the {mode} network")
    out["note"] = pd.array(["; ".join(n) for n in notes], dtype="string")
    return out
