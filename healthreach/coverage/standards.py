"""Checks of the spatial planning standards (rules table in healthreach.rules) against village access.

Village rows where the plans set the rule per village, township and county rows as shares of
residents; the township-level institution rules (township_rules) and the village clinic rules
(village_rules) are added here too. Rows have the columns of rule_rows.COLUMNS and cite their source.
"""
from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.config import Settings
from healthreach.coverage.rule_inputs import BASES_TEXT, people
from healthreach.coverage.rule_rows import COLUMNS, EPS, Rows, village_shares
from healthreach.coverage.township_rules import township_rules
from healthreach.coverage.village_rules import village_clinic_rules

__all__ = ["COLUMNS", "check_standards", "village_shares"]

def check_standards(
    villages: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, settings: Settings, *,
    village_county: Sequence[object], facility_county: Sequence[object], townships: list[str] | None = None,
) -> pd.DataFrame:
    """Standards rows of the spatial, village and township rules (columns COLUMNS).

    Reads the village access columns of design.md (`ems_radius_m`, `T_time_s`, `township_dist_m`);
    `village_county` / `facility_county` give each village's and facility's county (None: outside all).
    """
    rows = Rows(settings)
    county = np.asarray(village_county, dtype=object)
    _radius(rows, villages, facilities, county)
    _urban_circle(rows, villages, facilities, county)
    _medical_circle(rows, villages, county)
    village_clinic_rules(rows, villages, facilities, county)
    township_rules(rows, villages, facilities, county, np.asarray(facility_county, dtype=object), townships)
    return rows.frame()


def _radius(rows: Rows, villages: pd.DataFrame, facilities: pd.DataFrame, county: np.ndarray) -> None:
    """EMS-RADIUS-URBAN / -RURAL (village rows and shares) and the 10 km figure (shares): network metres
    from the nearest ambulance base of rule EMS-BASES."""
    urban = (villages["setting"] == "urban").to_numpy()
    radius = villages["ems_radius_m"].to_numpy(dtype=float)
    bases = BASES_TEXT[str(rows.rule("EMS-BASES").option("bases"))]
    reading = f"network distance from the nearest ambulance base; bases: {bases} (rule EMS-BASES)"
    vids, names = villages["vid"].astype(str).to_numpy(), villages["name"].astype(str).to_numpy()
    for rule_id, mask, kind in (("EMS-RADIUS-URBAN", urban, "urban"), ("EMS-RADIUS-RURAL", ~urban, "rural"),
                                ("EMS-RADIUS-RURAL-10KM", ~urban, "rural")):
        target = rows.rule(rule_id).value
        ok = np.isfinite(radius) & (radius <= target + EPS)
        if rule_id != "EMS-RADIUS-RURAL-10KM":
            for i in np.flatnonzero(mask):
                rows.judged(rule_id, "village", vids[i], names[i], radius[i], bool(ok[i]),
                            note="no ambulance base reachable" if not np.isfinite(radius[i]) else "")
        range_note = ("; the plan's rural radius is 10–20 km: its bound, 20 km, is EMS-RADIUS-RURAL"
                      if rule_id == "EMS-RADIUS-RURAL-10KM" else "")
        village_shares(rows, rule_id, villages, county, mask, ok, what=f"beyond {target / 1000:g} km",
                       empty=f"no {kind} villages", note=reading + range_note,
                       advisory=rows.rule(rule_id).kind == "advisory")


def _urban_circle(rows: Rows, villages: pd.DataFrame, facilities: pd.DataFrame, county: np.ndarray) -> None:
    """URBAN-15MIN: urban communities within the walking circle of a community health facility."""
    urban = (villages["setting"] == "urban").to_numpy()
    walk = villages["community_time_s"].to_numpy(dtype=float)
    limit = rows.rule("URBAN-15MIN").value * 60
    ok = np.isfinite(walk) & (walk <= limit + EPS)
    vids, names = villages["vid"].astype(str).to_numpy(), villages["name"].astype(str).to_numpy()
    none = not facilities["kind"].isin(("community_centre", "community_station")).any()
    for i in np.flatnonzero(urban):
        why = "" if np.isfinite(walk[i]) else ("no community health facility in the project" if none
                                              else "no community health facility reachable on foot")
        rows.judged("URBAN-15MIN", "village", vids[i], names[i], round(walk[i] / 60, 2), bool(ok[i]), unit="min",
                    note=why)
    village_shares(rows, "URBAN-15MIN", villages, county, urban, ok, what="beyond a 15-minute walk",
                   empty="no urban communities", note="walking is healthreach's reading (the plan names no mode)")


def _medical_circle(rows: Rows, villages: pd.DataFrame, county: np.ndarray) -> None:
    """MED-15MIN-SHARE per county: residents within the minutes of the nearest medical point of any
    tier (driving; walking to community stations)."""
    rule = rows.rule("MED-15MIN-SHARE")
    minutes = float(rule.option("minutes"))
    times = np.column_stack([villages[f"{t}_time_s"].to_numpy(dtype=float)
                             for t in ("village", "township", "hospital", "community")])
    best = np.fmin.reduce(times, axis=1)
    ok = np.isfinite(best) & (best <= minutes * 60 + EPS)
    pop = villages["population"].to_numpy(dtype=float)
    for name in dict.fromkeys(c for c in county if c is not None):
        inside = county == name
        total = pop[inside].sum()
        if total <= 0:
            rows.not_applicable("MED-15MIN-SHARE", "county", name, name, "no residents")
            continue
        share = pop[inside & ok].sum() / total
        rows.at_least("MED-15MIN-SHARE", "county", name, name, round(share, 4),
                      note=f"{people(pop[inside & ~ok].sum())} residents more than {minutes:g} min from any "
                      "medical point (village clinic, township health centre, hospital, community station)")
