"""Checks of the planning standards (rules table in rules.py) against village access and facilities.

One row per rule x scope (county, township, village, facility); every row cites the rule's source.
"""
from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.config import Settings

COLUMNS = ["rule_id", "title", "scope", "scope_id", "scope_name", "value", "target", "unit", "passed",
           "source", "note"]

COUNTY_RUN = ("county_hospital", "county_tcm_hospital", "maternal_child")
GRASSROOTS = ("subcentre", "township_hc", "community_centre", "community_station", "village_clinic")
THC = ("subcentre", "township_hc")


def required_village_doctors(population: float) -> int:
    """Village doctors a village needs (VD-PER-POP): 1 up to 1,000 served residents, +1 per further 500."""
    if population <= 1000:
        return 1
    return 1 + math.ceil((population - 1000) / 500)


class _Rows:
    def __init__(self, settings: Settings, county: str) -> None:
        self.settings = settings
        self.county = county
        self.rows: list[dict] = []

    def add(self, rule_id: str, scope: str, scope_id: str, scope_name: str, value: float,
            passed: bool, *, target: float | str | None = None, unit: str | None = None, note: str = "") -> None:
        rule = self.settings.rule(rule_id)
        self.rows.append({
            "rule_id": rule_id, "title": rule.title_zh, "scope": scope, "scope_id": str(scope_id),
            "scope_name": str(scope_name), "value": float(value) if value is not None else np.nan,
            "target": rule.value if target is None else target, "unit": unit or rule.unit,
            "passed": bool(passed), "source": rule.source, "note": note,
        })

    def shares(self, rule_id: str, villages: pd.DataFrame, ok: np.ndarray, *, what: str) -> None:
        """County and township rows: population share of `villages` meeting a village-level rule."""
        pop = villages["population"].to_numpy(dtype=float)
        # One pass over the villages (a province has ~1,400 townships and ~28,000 villages).
        codes, towns = pd.factorize(villages["township"], sort=True)
        known = codes >= 0
        total_by = np.bincount(codes[known], weights=pop[known], minlength=len(towns))
        ok_by = np.bincount(codes[known], weights=(pop * ok)[known], minlength=len(towns))
        groups = [("county", self.county, pop.sum(), (pop * ok).sum())]
        groups += [("township", town, total_by[k], ok_by[k]) for k, town in enumerate(towns)]
        for scope, name, total, good in groups:
            if total <= 0:
                continue
            share = good / total
            self.add(rule_id, scope, name, name, round(share, 4), share >= 1 - 1e-12, target=1.0, unit="share",
                     note=f"{int(round(total - good)):,} of {int(total):,} residents {what}")


def check_standards(
    villages: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, settings: Settings, *, county: str,
    townships: list[str] | None = None,
) -> pd.DataFrame:
    """Standards checks as a table (columns COLUMNS). Village access columns of design.md are read."""
    rows = _Rows(settings, county)
    pop = villages["population"].to_numpy(dtype=float)
    vids = villages["vid"].astype(str).to_numpy()
    names = villages["name"].astype(str).to_numpy()
    urban = (villages["setting"] == "urban").to_numpy()

    # Emergency radius: shortest network distance from the nearest ambulance base.
    radius = villages["ems_radius_m"].to_numpy(dtype=float)
    for rule_id, mask in (("EMS-RADIUS-URBAN", urban), ("EMS-RADIUS-RURAL", ~urban)):
        target = settings.rule(rule_id).value
        ok = np.isfinite(radius) & (radius <= target + 1e-9)
        for i in np.flatnonzero(mask):
            rows.add(rule_id, "village", vids[i], names[i], radius[i], ok[i],
                     note="" if np.isfinite(radius[i]) else "no ambulance base reachable")
        if mask.any():
            rows.shares(rule_id, villages[mask], ok[mask], what=f"beyond {target / 1000:g} km")
    if (~urban).any():
        target = settings.rule("EMS-RADIUS-RURAL-10KM").value
        ok = np.isfinite(radius) & (radius <= target + 1e-9)
        rows.shares("EMS-RADIUS-RURAL-10KM", villages[~urban], ok[~urban], what=f"beyond {target / 1000:g} km")

    # The 15-minute walking circle for urban communities.
    walk = villages["community_time_s"].to_numpy(dtype=float)
    limit = settings.rule("URBAN-15MIN").value * 60
    ok = np.isfinite(walk) & (walk <= limit + 1e-9)
    for i in np.flatnonzero(urban):
        rows.add("URBAN-15MIN", "village", vids[i], names[i], walk[i] / 60, ok[i],
                 unit="min", note="" if np.isfinite(walk[i]) else "no community station reachable on foot")
    if urban.any():
        rows.shares("URBAN-15MIN", villages[urban], ok[urban], what="beyond a 15-minute walk")

    # 15-minute medical circle: the nearest medical point of any tier, driving (walking for stations).
    times = np.column_stack([villages[f"{t}_time_s"].to_numpy(dtype=float)
                             for t in ("village", "township", "hospital", "community")])
    best = np.fmin.reduce(times, axis=1)
    limit = settings.rule("MED-15MIN").value * 60
    ok = np.isfinite(best) & (best <= limit + 1e-9)
    share = pop[ok].sum() / pop.sum() if pop.sum() > 0 else 0.0
    target = settings.rule("MED-15MIN-SHARE").value
    rows.add("MED-15MIN-SHARE", "county", county, county, round(share, 4), share >= target,
             note=f"{int(pop[~ok].sum()):,} residents more than 15 min from any medical point")
    rows.shares("MED-15MIN", villages, ok, what="beyond 15 min of any medical point")

    _village_clinics(rows, villages, facilities, settings)
    _facility_rules(rows, villages, facilities, settings, county, townships)
    table = pd.DataFrame(rows.rows, columns=COLUMNS)
    table["target"] = table["target"].astype(object)
    return table


def _clinics_by_village(facilities: pd.DataFrame) -> pd.DataFrame:
    """Per village id: how many village clinics name it (`vid`) and their doctors."""
    clinics = facilities[(facilities["kind"] == "village_clinic") & (facilities["vid"].fillna("") != "")]
    doctors = pd.to_numeric(clinics["doctors"], errors="coerce").fillna(0).astype(float)
    return pd.DataFrame({"vid": clinics["vid"].astype(str), "doctors": doctors}).groupby("vid")["doctors"].agg(
        clinics="size", doctors="sum")


def _village_clinics(rows: _Rows, villages: pd.DataFrame, facilities: pd.DataFrame, settings: Settings) -> None:
    """VC-PER-VILLAGE, VC-EXEMPT and VD-PER-POP for every rural administrative village."""
    by_village = _clinics_by_village(facilities)
    exempt_below = settings.rule("VC-EXEMPT").value
    rural = villages["setting"].to_numpy() != "urban"
    vids = villages["vid"].astype(str).to_numpy()
    names = villages["name"].astype(str).to_numpy()
    clinics = by_village["clinics"].reindex(vids).fillna(0).to_numpy()
    doctors = by_village["doctors"].reindex(vids).fillna(0).to_numpy()
    population = villages["population"].to_numpy(dtype=float)
    served = np.zeros(len(villages), dtype=bool)
    for i in np.flatnonzero(rural):
        vid, name = vids[i], names[i]
        if clinics[i]:
            served[i] = True
            rows.add("VC-PER-VILLAGE", "village", vid, name, clinics[i], True, unit="clinics")
            need = required_village_doctors(population[i])
            rows.add("VD-PER-POP", "village", vid, name, doctors[i], doctors[i] >= need, target=need,
                     unit="doctors", note=f"{int(population[i]):,} residents need {need}")
        elif population[i] < exempt_below:
            served[i] = True
            rows.add("VC-EXEMPT", "village", vid, name, population[i], True, unit="persons",
                     note="no clinic of its own; under 200 residents: may be served by scheduled visits")
            rows.add("VC-PER-VILLAGE", "village", vid, name, 0, True, unit="clinics", note="exempt (VC-EXEMPT)")
        else:
            rows.add("VC-PER-VILLAGE", "village", vid, name, 0, False, unit="clinics",
                     note=f"no village clinic for {int(population[i]):,} residents")
    if rural.any():
        rows.shares("VC-PER-VILLAGE", villages[rural], served[rural], what="in villages without a clinic")


def _num(series: pd.Series) -> np.ndarray:
    return pd.to_numeric(series, errors="coerce").fillna(0).to_numpy(dtype=float)


def _facility_rules(rows: _Rows, villages: pd.DataFrame, facilities: pd.DataFrame, settings: Settings,
                    county: str, townships: list[str] | None) -> None:
    population = float(villages["population"].sum())
    kind = facilities["kind"]
    ambulances = _num(facilities["ambulances"])
    total_amb = ambulances.sum()
    per_30k = total_amb / (population / 30000) if population > 0 else np.nan
    rows.add("EMS-AMB-POP", "county", county, county, round(per_30k, 3), per_30k >= settings.rule("EMS-AMB-POP").value,
             note=f"{int(total_amb)} ambulances for {int(population):,} residents")
    for i in np.flatnonzero(kind.isin(THC).to_numpy()):
        rows.add("EMS-AMB-THC", "facility", facilities["fid"].iat[i], facilities["name"].iat[i], ambulances[i],
                 ambulances[i] >= settings.rule("EMS-AMB-THC").value)
    names = townships if townships else sorted(villages["township"].dropna().unique())
    thc_town = facilities.loc[kind.isin(THC), "township"]
    for town in names:
        count = int((thc_town == town).sum())
        rows.add("THC-PER-TOWNSHIP", "township", town, town, count, count >= settings.rule("THC-PER-TOWNSHIP").value,
                 note="" if count else "no township health centre")
    beds = _num(facilities["beds"])
    county_beds = beds[kind.isin(COUNTY_RUN + GRASSROOTS).to_numpy()].sum()
    per_1000 = county_beds / (population / 1000) if population > 0 else np.nan
    rows.add("BEDS-COUNTY", "county", county, county, round(per_1000, 3),
             per_1000 >= settings.rule("BEDS-COUNTY").value,
             note=f"{int(county_beds):,} beds in county-run hospitals and grassroots institutions")
    subcentres = int((kind == "subcentre").sum())
    rows.add("SUBCENTRE-COUNT", "county", county, county, subcentres, 1 <= subcentres <= 3, target="1-3",
             unit="sub-centres")
