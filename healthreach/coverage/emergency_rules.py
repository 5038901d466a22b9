"""The rural emergency networks, one row per township (乡/镇/苏木; 街道 are urban, where neither applies):

- EMS-3TIER (003 §四(一)6): county emergency centre -> central township health centre (the sub-centre)
  -> township health centre, each tier present and linked by road in the dispatch direction
  (coverage.referral.ems_three_tier). Ambulances are not part of it: EMS-AMB-THC reports them.
- REFERRAL-3TIER (000 §二(一)3, 001 item 11, 003 §五(四)4): county hospital - township health centre -
  village, linked: a township health centre with an ambulance (001 item 11: 每个机构至少一辆救护车) that
  reaches a hospital by road, and every village of the township reaching a township health centre.
  The 10–20 km radius of the network is EMS-RADIUS-RURAL's.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from healthreach.config import Settings
from healthreach.coverage.rule_inputs import county_of_townships, counts, is_street
from healthreach.coverage.rule_rows import Rows
from healthreach.tiers import THC_KINDS

AMBULANCE_GAPS = ("township health centre without ambulance", "sub-centre without ambulance")


def emergency_network_rows(chains: pd.DataFrame, settings: Settings, *, referral: pd.DataFrame,
                           villages: pd.DataFrame, facilities: pd.DataFrame, village_county: Sequence[object],
                           facility_county: Sequence[object]) -> pd.DataFrame:
    """EMS-3TIER and REFERRAL-3TIER rows per township (value: minutes of the longest link chain), and a
    county row saying why where a county has no 乡/镇/苏木."""
    rows = Rows(settings)
    vcounty = np.asarray(village_county, dtype=object)
    fcounty = np.asarray(facility_county, dtype=object)
    vtown = villages["township"].to_numpy(dtype=object)
    names = sorted({str(t) for t in chains["township"].dropna()} | {t for t in vtown if isinstance(t, str) and t})
    home = county_of_townships(names, vtown, vcounty, facilities["township"].to_numpy(dtype=object), fcounty)
    counties = list(dict.fromkeys(c for c in [*vcounty, *fcounty] if c is not None))
    # Each table grouped by township once: a province has some 1,400 townships.
    chains_of = {str(t): g for t, g in chains.groupby("township", sort=False)}
    referral_of = {str(t): g for t, g in referral.groupby("township", sort=False)}
    rural_of = {str(t): g for t, g in villages[(villages["setting"] != "urban").to_numpy()].groupby(
        "township", sort=False)}
    thc = facilities[facilities["kind"].isin(THC_KINDS).to_numpy()]
    ambulances = dict(zip(thc["fid"].astype(str), counts(thc, "ambulances")))
    for county in counties:
        towns = [t for t in names if home[t] == county and not is_street(t, settings)]
        if not towns:
            for rule_id in ("EMS-3TIER", "REFERRAL-3TIER"):
                rows.not_applicable(rule_id, "county", county, county, "no 乡/镇/苏木 (only urban subdistricts, 街道): "
                                    "the rural network does not apply")
            continue
        for town in towns:
            _ems_chain(rows, town, chains_of.get(town, chains.iloc[:0]))
            _referral(rows, town, referral_of.get(town, referral.iloc[:0]), ambulances,
                      rural_of.get(town, villages.iloc[:0]))
    return rows.frame()


def _ems_chain(rows: Rows, town: str, group: pd.DataFrame) -> None:
    gaps = sorted({g for text in group["gap"].dropna() for g in str(text).split("; ") if g})
    missing = [g for g in gaps if g not in AMBULANCE_GAPS]
    aside = [g for g in gaps if g in AMBULANCE_GAPS]
    chain_s = group["chain_s"].to_numpy(dtype=float)
    value = float(np.max(chain_s)) / 60 if len(chain_s) and np.isfinite(chain_s).all() else np.nan
    note = "; ".join(missing) if missing else "every tier present and linked by road"
    if aside:
        note += f" ({'; '.join(aside)}: EMS-AMB-THC's finding, not this rule's)"
    rows.judged("EMS-3TIER", "township", town, town, round(value, 2) if np.isfinite(value) else None, not missing,
                target="three tiers linked", unit="min", note=note)


def _referral(rows: Rows, town: str, centres: pd.DataFrame, ambulances: dict[str, float],
              rural: pd.DataFrame) -> None:
    gaps: list[str] = []
    value = None
    if not len(centres):
        gaps.append("no township health centre in the township")
    else:
        if sum(ambulances.get(fid, 0.0) for fid in centres["fid"].astype(str)) < 1:
            gaps.append("no ambulance at the township health centre (001 item 11: at least one)")
        times = centres["hospital_time_s"].to_numpy(dtype=float)
        if not np.isfinite(times).any():
            gaps.append("no hospital reachable by road from the township health centre")
        else:
            value = round(float(np.nanmax(times)) / 60, 2)
            far = centres["name"][~np.isfinite(times)].astype(str).tolist()
            if far:
                gaps.append(f"no hospital reachable by road from {'、'.join(far)}")
    cut = rural[(rural["population"].to_numpy(dtype=float) > 0)
                & ~np.isfinite(rural["township_time_s"].to_numpy(dtype=float))]
    if len(cut):
        listed = "、".join(cut["name"].astype(str).head(8)) + ("…" if len(cut) > 8 else "")
        gaps.append(f"{len(cut)} village{'s' if len(cut) > 1 else ''} reach no township health centre by road: "
                    f"{listed}")
    rows.judged("REFERRAL-3TIER", "township", town, town, value, not gaps, target="county-township-village linked",
                unit="min", note=("; ".join(gaps) if gaps else "linked: hospital reachable from the township health "
                                  "centre, which has an ambulance, and every village reaches a township health centre")
                + "; value: longest drive from the township health centre to a hospital; the 10–20 km radius is "
                "EMS-RADIUS-RURAL's")
