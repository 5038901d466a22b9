"""Referral chains from township health centres, and the rural three-tier emergency network (EMS-3TIER).

Referral is measured **toward** the receiving facility (a patient driven from the township health
centre to the hospital); the emergency chain runs in the **dispatch** direction, as ambulances do:
county emergency centre -> central township health centre (sub-centre) -> township health centre.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from healthreach.coverage.access import tier_mask
from healthreach.coverage.network import Network
from healthreach.config import Settings
from healthreach.coverage.emergency_rules import emergency_network_rows
from healthreach.coverage.traveltime import nearest
from healthreach.tiers import THC_KINDS


REFERRAL_COLUMNS = ["fid", "name", "township", "kind", "hospital_fid", "hospital_name", "hospital_time_s",
                    "hospital_dist_m", "subcentre_fid", "subcentre_name", "subcentre_time_s", "subcentre_dist_m",
                    "note"]
EMS_COLUMNS = ["township", "thc_id", "thc_name", "thc_kind", "thc_ambulances", "centre_id", "centre_name",
               "subcentre_fid", "subcentre_name", "centre_to_subcentre_s", "centre_to_subcentre_m",
               "subcentre_to_thc_s", "subcentre_to_thc_m", "chain_s", "linked", "gap"]


def _num(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").fillna(0).to_numpy(dtype=float)


def _facility_nodes(net: Network, nv: int, members: np.ndarray) -> np.ndarray:
    """Graph nodes of facilities (positions in the facility table); villages are points 0..nv-1."""
    return net.point_node[nv + members]


def _time(value: float) -> float:
    return round(float(value), 1) if np.isfinite(value) else np.nan


def referral_times(facilities: pd.DataFrame, drive: Network, *, nv: int) -> pd.DataFrame:
    """Driving time (seconds) and network metres from every township health centre to the nearest
    hospital (tier `hospital`) and to the nearest sub-centre, measured toward the receiving facility.

    `nv` is the number of villages joined to `drive` before the facilities. A sub-centre's own
    sub-centre columns stay empty: it is the receiving level itself. Unreachable pairs are empty,
    never 0, with the reason in `note`.
    """
    kinds = facilities["kind"].to_numpy(dtype=object)
    thc = np.flatnonzero(np.isin(kinds, THC_KINDS))
    fids = facilities["fid"].to_numpy(dtype=object)
    names = facilities["name"].to_numpy(dtype=object)
    out = pd.DataFrame({
        "fid": fids[thc], "name": names[thc], "township": facilities["township"].to_numpy(dtype=object)[thc],
        "kind": kinds[thc],
    })
    notes: list[list[str]] = [[] for _ in thc]
    for pos, f in enumerate(thc):
        if not drive.point_joined[nv + f]:
            notes[pos].append("not joined to the road network")
    thc_nodes = _facility_nodes(drive, nv, thc)
    for level, receivers in (("hospital", np.flatnonzero(tier_mask(facilities, "hospital"))),
                             ("subcentre", np.flatnonzero(kinds == "subcentre"))):
        result = nearest(drive, _facility_nodes(drive, nv, receivers), toward=True)
        cost, src, metres = result.cost[thc_nodes], result.source[thc_nodes], result.metres_at(thc_nodes)
        reached = np.isfinite(cost)
        if level == "subcentre":
            # A sub-centre is the receiving level itself: its nearest sub-centre is no referral.
            reached &= kinds[thc] != "subcentre"
        chosen = receivers[np.where(reached, src, 0)] if len(receivers) else np.zeros(len(thc), dtype=np.int64)
        out[f"{level}_fid"] = pd.array([fids[c] if r else None for c, r in zip(chosen, reached)], dtype="string")
        out[f"{level}_name"] = pd.array([names[c] if r else None for c, r in zip(chosen, reached)], dtype="string")
        out[f"{level}_time_s"] = np.where(reached, np.round(cost, 1), np.nan)
        out[f"{level}_dist_m"] = np.where(reached, np.round(metres, 1), np.nan)
        for pos in np.flatnonzero(~reached):
            if level == "subcentre" and kinds[thc[pos]] == "subcentre":
                continue
            if not len(receivers):
                notes[pos].append(f"no {level} in the county")
            elif drive.point_joined[nv + thc[pos]]:
                notes[pos].append(f"no {level} reachable by road")
    out["note"] = pd.array(["; ".join(n) for n in notes], dtype="string")
    return out[REFERRAL_COLUMNS]


def ems_three_tier(facilities: pd.DataFrame, ambulance: Network, *, nv: int) -> pd.DataFrame:
    """The chain county emergency centre -> sub-centre -> township health centre, one row per
    township health centre, on the ambulance network in the dispatch direction (seconds, metres).
    `complete_chains` adds the townships that have none.

    Each township health centre is dispatched from its nearest sub-centre (by ambulance time); that
    sub-centre from its nearest emergency centre. A township health centre that is a sub-centre itself
    is its own middle tier (0 s). `linked` is True when every link exists, is reachable and the
    township health centre has an ambulance; otherwise `gap` names every missing piece.
    """
    kinds = facilities["kind"].to_numpy(dtype=object)
    fids = facilities["fid"].to_numpy(dtype=object)
    names = facilities["name"].to_numpy(dtype=object)
    towns = facilities["township"].to_numpy(dtype=object)
    ambulances = _num(facilities["ambulances"])
    centres = np.flatnonzero(kinds == "ems_centre")
    subs = np.flatnonzero(kinds == "subcentre")
    thc = np.flatnonzero(np.isin(kinds, THC_KINDS))
    # Nearest emergency centre of each sub-centre and nearest sub-centre of each THC, dispatch direction.
    from_centre = nearest(ambulance, _facility_nodes(ambulance, nv, centres), toward=False)
    from_sub = nearest(ambulance, _facility_nodes(ambulance, nv, subs), toward=False)
    # Route metres of every link at once: walking the search trees node by node per centre costs
    # seconds at province scale (1,500 centres).
    thc_nodes = _facility_nodes(ambulance, nv, thc)
    sub_metres = dict(zip(thc.tolist(), from_sub.metres_at(thc_nodes)))
    centre_metres = dict(zip(subs.tolist(), from_centre.metres_at(_facility_nodes(ambulance, nv, subs))))
    rows: list[dict] = []
    for f in thc:
        gaps: list[str] = []
        node = ambulance.point_node[nv + f]
        rec: dict = {"township": towns[f], "thc_id": fids[f], "thc_name": names[f], "thc_kind": kinds[f],
                     "thc_ambulances": int(ambulances[f])}
        if not ambulance.point_joined[nv + f]:
            gaps.append("township health centre not joined to the road network")
        if ambulances[f] < 1:
            gaps.append("township health centre without ambulance")
        if kinds[f] == "subcentre":
            sub, sub_s, sub_m = f, 0.0, 0.0
        elif not len(subs):
            sub, sub_s, sub_m = None, np.inf, np.nan
            gaps.append("no sub-centre in the county")
        elif from_sub.source[node] < 0:
            sub, sub_s, sub_m = None, np.inf, np.nan
            gaps.append("township health centre unreachable from every sub-centre")
        else:
            sub = int(subs[from_sub.source[node]])
            sub_s, sub_m = float(from_sub.cost[node]), float(sub_metres[int(f)])
        centre, cen_s, cen_m = None, np.inf, np.nan
        if sub is not None:
            if ambulances[sub] < 1 and sub != f:
                gaps.append("sub-centre without ambulance")
            sub_node = ambulance.point_node[nv + sub]
            if not len(centres):
                gaps.append("no emergency centre in the county")
            elif from_centre.source[sub_node] < 0:
                gaps.append("sub-centre unreachable from the emergency centre")
            else:
                centre = int(centres[from_centre.source[sub_node]])
                cen_s, cen_m = float(from_centre.cost[sub_node]), float(centre_metres[int(sub)])
        elif not len(centres):
            gaps.append("no emergency centre in the county")
        rec.update({
            "centre_id": fids[centre] if centre is not None else None,
            "centre_name": names[centre] if centre is not None else None,
            "subcentre_fid": fids[sub] if sub is not None else None,
            "subcentre_name": names[sub] if sub is not None else None,
            "centre_to_subcentre_s": _time(cen_s), "centre_to_subcentre_m": _time(cen_m),
            "subcentre_to_thc_s": _time(sub_s), "subcentre_to_thc_m": _time(sub_m),
            "chain_s": _time(cen_s + sub_s), "linked": not gaps, "gap": "; ".join(gaps),
        })
        rows.append(rec)
    return _typed(pd.DataFrame(rows, columns=EMS_COLUMNS))


def complete_chains(chains: pd.DataFrame, facilities: pd.DataFrame, townships: list[str]) -> pd.DataFrame:
    """`chains` with one row more for each of `townships` that has no township health centre."""
    known = set(facilities["township"].to_numpy(dtype=object)[np.isin(facilities["kind"], THC_KINDS)])
    missing = [{"township": town, "thc_ambulances": 0, "linked": False,
                "gap": "no township health centre in the township"} for town in townships if town not in known]
    if not missing:
        return _typed(chains.reset_index(drop=True)[EMS_COLUMNS])
    return _typed(pd.concat([chains, pd.DataFrame(missing, columns=EMS_COLUMNS)], ignore_index=True)[EMS_COLUMNS])


def _typed(table: pd.DataFrame) -> pd.DataFrame:
    for col in ("thc_id", "thc_name", "thc_kind", "centre_id", "centre_name", "subcentre_fid",
                "subcentre_name", "gap"):
        table[col] = table[col].astype("string")
    table["thc_ambulances"] = table["thc_ambulances"].astype(int)
    table["linked"] = table["linked"].astype(bool)
    return table


def ems_three_tier_standards(chains: pd.DataFrame, settings: Settings, *, referral: pd.DataFrame,
                             villages: pd.DataFrame, facilities: pd.DataFrame, village_county: Sequence[object],
                             facility_county: Sequence[object]) -> pd.DataFrame:
    """Standards rows of the rural emergency networks (columns of rule_rows.COLUMNS): EMS-3TIER (003
    §四(一)6) from `chains` and REFERRAL-3TIER from the `referral` times, one row per 乡/镇/苏木; see
    coverage.emergency_rules."""
    return emergency_network_rows(chains, settings, referral=referral, villages=villages, facilities=facilities,
                                  village_county=village_county, facility_county=facility_county)
