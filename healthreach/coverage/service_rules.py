"""Checks of the service rules and resource ratios (rules table in healthreach.rules) per county.

Facility rows where the plans ask every facility of a kind for a service, county rows for the shares,
the resource ratios (county only: Table 1 of seed 003 sets city-wide targets, an indication for a
county, never per township) and ambulances per resident. Institutions per county are county_rules'.
Rows have the columns of rule_rows.COLUMNS and each cites its rule's source.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from healthreach.config import Settings
from healthreach.coverage.county_rules import city_rules, county_rules
from healthreach.coverage.rule_inputs import counts, given, licensed_doctors, people
from healthreach.coverage.rule_rows import Rows
from healthreach.coverage.services import EMERGENCY_CENTRES, facility_services
from healthreach.tiers import SECONDARY_HOSPITALS, display_name

COUNTY_PUBLIC_HOSPITALS = ("county_hospital", "county_tcm_hospital", "maternal_child")
"""County-run public hospitals (县办公立医院; Table 1's note: 含同级妇幼保健院)."""
GRASSROOTS = ("subcentre", "township_hc", "community_centre", "community_station", "village_clinic")
FEVER_SITES = ("subcentre", "township_hc", "community_centre")
TCM_HALL_SITES = ("subcentre", "township_hc", "community_centre")
COMMUNITY = ("community_centre", "community_station")
SECONDARY_TEXT = "secondary or higher general hospitals (二级以上综合医院, TCM hospitals included: 含中医医院)"


def _label(service: str) -> str:
    return f"{display_name(service, 'zh')} ({service})"


def check_service_rules(
    villages: pd.DataFrame,
    facilities: pd.DataFrame,
    settings: Settings,
    *,
    village_county: Sequence[object],
    facility_county: Sequence[object],
) -> pd.DataFrame:
    """Rows of the service rules, resource ratios and county institutions (county_rules), per county.

    `village_county` / `facility_county` give each village's and facility's county name (None: outside
    every county). Populations are persons; ratios per 1,000 (GP per 10,000; EMS-AMB-POP per 30,000).
    """
    rows = Rows(settings)
    vcounty = np.asarray(village_county, dtype=object)
    fcounty = np.asarray(facility_county, dtype=object)
    offered = facility_services(facilities)
    _facility_rows(rows, facilities, offered)
    counties = list(dict.fromkeys(c for c in [*vcounty, *fcounty] if c is not None))
    population = villages["population"].to_numpy(dtype=float)
    for county in counties:
        fmask = fcounty == county
        residents = float(population[vcounty == county].sum())
        mine = facilities[fmask]
        services = [offered[i] for i in np.flatnonzero(fmask)]
        _county_services(rows, county, residents, mine, services)
        _ratios(rows, county, residents, mine)
        county_rules(rows, county, residents, mine, services, counties)
    city_rules(rows, facilities, offered, fcounty, counties)
    return rows.frame()


def _has(services: list[frozenset[str]], service: str) -> np.ndarray:
    return np.array([service in s for s in services], dtype=bool)


def _facility_rows(rows: Rows, facilities: pd.DataFrame, offered: list[frozenset[str]]) -> None:
    """Facility rows of FEVER-SENTINEL, FEVER-CLINIC (advisory), TCM-HALL, INFECTIOUS-DEPT, REHAB-HOSP."""
    for i, (fid, name, kind) in enumerate(zip(facilities["fid"], facilities["name"], facilities["kind"])):
        services = offered[i]
        if kind in FEVER_SITES:
            ok = bool({"fever_clinic", "fever_sentinel"} & services)
            rows.judged("FEVER-SENTINEL", "facility", fid, name, float(ok), ok, target="fever room, clinic or sentinel",
                        unit="present", note="" if ok else f"no {_label('fever_sentinel')} or {_label('fever_clinic')}")
        if kind == "subcentre":
            ok = "fever_clinic" in services
            rows.add("FEVER-CLINIC", "facility", fid, name, float(ok), "advisory", target="fever_clinic",
                     note=("has a " if ok else "no ") + f"{_label('fever_clinic')}; the plan asks for one where "
                     "conditions allow (有条件的): advisory, not a failure")
        if kind in TCM_HALL_SITES:
            ok = "tcm_hall" in services
            rows.judged("TCM-HALL", "facility", fid, name, float(ok), ok, target="tcm_hall", unit="present",
                        note="" if ok else f"no {_label('tcm_hall')}")
        if kind in SECONDARY_HOSPITALS:
            for rule_id, service in (("INFECTIOUS-DEPT", "infectious_dept"), ("REHAB-HOSP", "rehab_dept")):
                ok = service in services
                rows.judged(rule_id, "facility", fid, name, float(ok), ok, target=service, unit="present",
                            note="" if ok else f"no {_label(service)}")


def _county_services(rows: Rows, county: str, residents: float, facilities: pd.DataFrame,
                     offered: list[frozenset[str]]) -> None:
    """County rows: FIVE-CENTRES, the facility-rule shares, GERIATRICS and the rehabilitation rules."""
    kind = facilities["kind"].to_numpy(dtype=object)
    everything = frozenset().union(*offered)
    missing = [s for s in EMERGENCY_CENTRES if s not in everything]
    rows.at_least("FIVE-CENTRES", "county", county, county, len(EMERGENCY_CENTRES) - len(missing),
                  note=f"missing: {', '.join(_label(s) for s in missing)}" if missing else "all five present")
    fever = _has(offered, "fever_clinic") | _has(offered, "fever_sentinel")
    hospitals = np.isin(kind, SECONDARY_HOSPITALS)
    for rule_id, ok, sites, what, none in (
        ("FEVER-SENTINEL", fever, np.isin(kind, FEVER_SITES), "township health centres and community centres with "
         "a fever room, clinic or sentinel", "no township health centres or community health service centres"),
        ("TCM-HALL", _has(offered, "tcm_hall"), np.isin(kind, TCM_HALL_SITES), "township health centres and "
         "community centres with a TCM hall", "no township health centres or community health service centres"),
        ("INFECTIOUS-DEPT", _has(offered, "infectious_dept"), hospitals, f"{SECONDARY_TEXT} with the department",
         "no secondary or higher general hospital"),
        ("GERIATRICS", _has(offered, "geriatrics_dept"), hospitals, f"{SECONDARY_TEXT} with geriatrics",
         "no secondary or higher general hospital"),
        ("REHAB-HOSP", _has(offered, "rehab_dept"), hospitals, f"{SECONDARY_TEXT} with rehabilitation",
         "no secondary or higher general hospital"),
        ("REHAB-COMMUNITY", _has(offered, "rehab_dept"), np.isin(kind, COMMUNITY), "community health centres and "
         "stations offering rehabilitation (rehab_dept)", "no community health institutions"),
    ):
        if sites.any():
            rows.share(rule_id, "county", county, county, ok[sites], what)
        else:
            rows.not_applicable(rule_id, "county", county, county, none)
    if not (kind == "subcentre").any():
        rows.not_applicable("FEVER-CLINIC", "county", county, county, "no sub-centres (central township health "
                            "centres)")
    _rehabilitation(rows, county, residents, kind, _has(offered, "rehab_dept"))


def _rehabilitation(rows: Rows, county: str, residents: float, kind: np.ndarray, rehab: np.ndarray) -> None:
    """REHAB-DEPT above the threshold of residents, REHAB-OUTPATIENT at or below it (one row, the one
    that applies); a rehabilitation department counts as the clinic."""
    threshold = float(rows.rule("REHAB-DEPT").option("threshold"))
    public = np.isin(kind, COUNTY_PUBLIC_HOSPITALS)
    rule_id = "REHAB-DEPT" if residents > threshold else "REHAB-OUTPATIENT"
    side = "above" if residents > threshold else "at or below"
    what = f"{people(residents)} residents ({side} {threshold:,.0f}, rule REHAB-DEPT's threshold)"
    if not public.any():
        rows.judged(rule_id, "county", county, county, 0, False, note=f"{what}: no county public hospital")
        return
    have = int((rehab & public).sum())
    clinic = "; a rehabilitation department (rehab_dept) counts as the clinic" if rule_id == "REHAB-OUTPATIENT" else ""
    rows.at_least(rule_id, "county", county, county, have,
                  note=f"{what}: {have} of {int(public.sum())} county public hospitals with "
                  f"{_label('rehab_dept')}{clinic}")


RATIOS: tuple[tuple[str, str, float], ...] = (
    ("BEDS-TOTAL", "beds in all medical institutions", 1000.0),
    ("BEDS-COUNTY", "beds in county-run public hospitals (maternal and child included) and grassroots institutions",
     1000.0),
    ("BEDS-TCM", "beds in public TCM hospitals", 1000.0),
    ("DOCTORS", "licensed (assistant) physicians", 1000.0),
    ("NURSES", "registered nurses", 1000.0),
    ("GP", "general practitioners", 10000.0),
)


def _ratios(rows: Rows, county: str, residents: float, facilities: pd.DataFrame) -> None:
    """County rows of the resource ratios (an indication of city-wide targets) and EMS-AMB-POP."""
    kind = facilities["kind"].to_numpy(dtype=object)
    beds = counts(facilities, "beds")
    amounts = {
        "BEDS-TOTAL": beds.sum(),
        "BEDS-COUNTY": beds[np.isin(kind, COUNTY_PUBLIC_HOSPITALS + GRASSROOTS)].sum(),
        "BEDS-TCM": beds[kind == "county_tcm_hospital"].sum(),
        "DOCTORS": licensed_doctors(facilities).sum(),
        "NURSES": counts(facilities, "nurses").sum(),
        "GP": counts(facilities, "gp").sum(),
    }
    clinics = kind == "village_clinic"
    village_doctors = counts(facilities, "doctors")[clinics & ~given(facilities, "licensed_doctors")].sum()
    for rule_id, what, per in RATIOS:
        if residents <= 0:
            rows.not_applicable(rule_id, "county", county, county, "no residents")
            continue
        if rule_id == "GP" and not given(facilities, "gp").any():
            rows.not_applicable(rule_id, "county", county, county, "the facilities carry no `gp` column (general "
                                "practitioners per facility): add it to check this rule")
            continue
        ratio = round(amounts[rule_id] / residents * per, 3)
        note = f"{amounts[rule_id]:,.0f} {what} for {people(residents)} residents"
        if rule_id == "DOCTORS" and village_doctors:
            note += (f"; the {village_doctors:,.0f} doctors of village clinics are village doctors (乡村医生), "
                     "not counted (give `licensed_doctors` where some are licensed)")
        if rows.rule(rule_id).kind == "level":
            rows.level(rule_id, "county", county, county, ratio, note=note)
        else:
            rows.at_least(rule_id, "county", county, county, ratio, note=note)
    if residents <= 0:
        rows.not_applicable("EMS-AMB-POP", "county", county, county, "no residents")
        return
    total = counts(facilities, "ambulances").sum()
    rows.at_least("EMS-AMB-POP", "county", county, county, round(total / residents * 30000, 3),
                  note=f"{total:,.0f} ambulances for {people(residents)} residents (remote areas may need more)")
