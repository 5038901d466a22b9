"""Institutions every county should have, and staffing ratios: COUNTY-HOSP, MCH-CDC, EMS-CENTRE,
SUBCENTRE-COUNT, SUBCENTRE-LEVEL, BED-DOCTOR, BED-NURSE, BED-STAFF, DOCTOR-NURSE, DOCTOR-NURSE-HOSP;
and the city rule REGIONAL-CENTRE.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from healthreach.coverage.rule_inputs import counts, health_workers, is_district, licensed_doctors
from healthreach.coverage.rule_rows import Rows
from healthreach.tiers import HOSPITAL_KINDS, THC_KINDS

PUBLIC_HOSPITALS = HOSPITAL_KINDS
"""Public hospitals among the kinds (city, county general and TCM, maternal and child): the layers
have no private hospitals."""
_GRADES = ((3, ("三级", "tertiary", "3")), (2, ("二级", "secondary", "2")), (1, ("一级", "primary", "1")))


def grade_level(text: object) -> int | None:
    """Hospital grade 1–3 from a `grade` cell (二级甲等, 二甲, secondary, 2); None when not understood."""
    value = str(text or "").strip().lower()
    value = re.sub(r"^([一二三])([甲乙丙])$", r"\1级", value)
    for level, marks in _GRADES:
        if any(value.startswith(m) for m in marks):
            return level
    return None


def _names(frame: pd.DataFrame) -> str:
    return "、".join(frame["name"].astype(str)) or "none"


def county_rules(rows: Rows, county: str, residents: float, facilities: pd.DataFrame,
                 offered: list[frozenset[str]], counties: list[str]) -> None:
    """The county's rows of the institution and staffing rules (and REGIONAL-CENTRE for a one-county
    project, where that city rule does not apply)."""
    kind = facilities["kind"].to_numpy(dtype=object)
    _hospitals(rows, county, facilities, kind)
    _public_health(rows, county, facilities, kind)
    _subcentres(rows, county, facilities, kind)
    _bed_staff(rows, county, facilities, kind)
    if len(counties) < 2:
        here = facilities[np.array(["regional_centre" in s for s in offered], dtype=bool)]
        rows.not_applicable("REGIONAL-CENTRE", "county", county, county, "a city rule (1–2 regional centres per city, "
                            f"outside the city seat) and this project is one county; designated here: {_names(here)}",
                            value=len(here))


def city_rules(rows: Rows, facilities: pd.DataFrame, offered: list[frozenset[str]], facility_county: np.ndarray,
               counties: list[str]) -> None:
    """REGIONAL-CENTRE over a project of several counties (a city): 1–2 regional centres outside the
    city seat (rule option `city_seat`)."""
    if len(counties) < 2:
        return
    seat = str(rows.rule("REGIONAL-CENTRE").option("city_seat"))
    centre = np.array(["regional_centre" in s for s in offered], dtype=bool)
    counted = centre & (facility_county != seat) if seat else centre
    listed = "; ".join(f"{n} ({c})" for n, c in zip(facilities["name"][centre], facility_county[centre])) or "none"
    where = (f"centres in the city seat {seat} not counted" if seat else
             "the city seat is not named (parameters.rules.REGIONAL-CENTRE.city_seat), so 'outside the seat' "
             "is not checked")
    rows.within("REGIONAL-CENTRE", "city", "city", "all counties of the project", int(counted.sum()),
                note=f"designated: {listed}; {where}")


def _hospitals(rows: Rows, county: str, facilities: pd.DataFrame, kind: np.ndarray) -> None:
    """COUNTY-HOSP: a county general and a county TCM hospital; advisory in an urban district."""
    general, tcm = facilities[kind == "county_hospital"], facilities[kind == "county_tcm_hospital"]
    value = int(len(general) > 0) + int(len(tcm) > 0)
    found = f"general: {_names(general)}; TCM: {_names(tcm)}"
    if is_district(county, rows.settings):
        rows.add("COUNTY-HOSP", "county", county, county, value, "advisory",
                 note=f"{found}; an urban district (市辖区, by its name: rule ADMIN-UNITS) may decide whether to run "
                 "district hospitals (003 §四(二)2: 可根据实际决定是否举办区级医院)")
        return
    rows.judged("COUNTY-HOSP", "county", county, county, value, bool(len(general) and len(tcm)),
                note=f"{found}; 000 §二(一)4 asks each county to run 1–2 county hospitals well")


def _public_health(rows: Rows, county: str, facilities: pd.DataFrame, kind: np.ndarray) -> None:
    """MCH-CDC and EMS-CENTRE."""
    mch = facilities[kind == "maternal_child"]
    cdc = ("the CDC half (疾病预防控制中心) cannot be checked: healthreach's facility kinds have no CDC (a `cdc` "
           "kind in healthreach.tiers would enable it)")
    if not len(mch):
        rows.judged("MCH-CDC", "county", county, county, 0, False,
                    note=f"no maternal and child health institution (妇幼保健院); {cdc}")
    else:
        rows.not_applicable("MCH-CDC", "county", county, county, f"maternal and child health: {_names(mch)} (that "
                            f"half is met); {cdc}", value=len(mch))
    ems = facilities[np.isin(kind, ("ems_centre", "ems_station"))]
    rows.at_least("EMS-CENTRE", "county", county, county, len(ems),
                  note=f"emergency centres and stations: {_names(ems)}" if len(ems) else
                  "no emergency centre or station; where conditions are lacking the plan hosts the county emergency "
                  "centre in its strongest hospital: record it as kind 急救中心 at that hospital")


def _subcentres(rows: Rows, county: str, facilities: pd.DataFrame, kind: np.ndarray) -> None:
    """SUBCENTRE-COUNT (1–3 per county) and SUBCENTRE-LEVEL (each built to secondary level)."""
    subs = facilities[kind == "subcentre"]
    if not np.isin(kind, THC_KINDS).any() and is_district(county, rows.settings):
        rows.not_applicable("SUBCENTRE-COUNT", "county", county, county, "an urban district without township health "
                            "centres: no centre to upgrade")
    else:
        rows.within("SUBCENTRE-COUNT", "county", county, county, len(subs), unit="sub-centres",
                    note=f"sub-centres: {_names(subs)}")
    if not len(subs):
        rows.not_applicable("SUBCENTRE-LEVEL", "county", county, county, "no sub-centres (see SUBCENTRE-COUNT)")
        return
    grades = subs["grade"].to_numpy(dtype=object) if "grade" in subs else np.full(len(subs), "", dtype=object)
    beds = counts(subs, "beds")
    for fid, name, text, n in zip(subs["fid"], subs["name"], grades, beds):
        text = "" if pd.isna(text) else str(text).strip()
        level = grade_level(text)
        if level is None:
            why = (f"grade '{text}' not understood (expected 一级/二级/三级, 二甲, secondary …)" if text
                   else "needs the facilities' `grade` column (e.g. 二级甲等) to check")
            rows.not_applicable("SUBCENTRE-LEVEL", "facility", fid, name, f"{why}; {n:,.0f} beds recorded")
        else:
            rows.at_least("SUBCENTRE-LEVEL", "facility", fid, name, level, note=f"grade {text}")


def _bed_staff(rows: Rows, county: str, facilities: pd.DataFrame, kind: np.ndarray) -> None:
    """BED-DOCTOR, BED-NURSE, BED-STAFF (hospital rows and the county as an indication), DOCTOR-NURSE
    (county) and DOCTOR-NURSE-HOSP (the county's public hospitals)."""
    beds, doctors, nurses = counts(facilities, "beds"), licensed_doctors(facilities), counts(facilities, "nurses")
    staff, own = health_workers(facilities)
    hospitals = np.flatnonzero(np.isin(kind, PUBLIC_HOSPITALS) & (beds > 0))
    fids, names = facilities["fid"].to_numpy(dtype=object), facilities["name"].to_numpy(dtype=object)
    for i in hospitals:
        for rule_id, amount, what in (("BED-DOCTOR", doctors[i], "licensed physicians"),
                                      ("BED-NURSE", nurses[i], "registered nurses")):
            rows.at_least(rule_id, "facility", fids[i], names[i], round(amount / beds[i], 3),
                          note=f"{amount:,.0f} {what} for {beds[i]:,.0f} beds")
        if own[i]:
            rows.at_least("BED-STAFF", "facility", fids[i], names[i], round(staff[i] / beds[i], 3),
                          note=f"{staff[i]:,.0f} staff for {beds[i]:,.0f} beds")
        else:
            rows.not_applicable("BED-STAFF", "facility", fids[i], names[i], "needs the facilities' `staff` column "
                                "(all health workers, 卫生人员)")
    total = beds.sum()
    for rule_id, amount, what in (("BED-DOCTOR", doctors.sum(), "licensed physicians"),
                                  ("BED-NURSE", nurses.sum(), "registered nurses"),
                                  ("BED-STAFF", staff.sum(), "staff")):
        if total <= 0:
            rows.not_applicable(rule_id, "county", county, county, "no beds")
        elif rule_id == "BED-STAFF" and not own.all():
            rows.not_applicable(rule_id, "county", county, county, f"needs the facilities' `staff` column (given for "
                                f"{int(own.sum())} of {len(own)} facilities)")
        else:
            rows.at_least(rule_id, "county", county, county, round(amount / total, 3),
                          note=f"{amount:,.0f} {what} for {total:,.0f} beds in all institutions")
    if doctors.sum() > 0:
        rows.at_least("DOCTOR-NURSE", "county", county, county, round(nurses.sum() / doctors.sum(), 3),
                      note=f"{nurses.sum():,.0f} registered nurses for {doctors.sum():,.0f} licensed physicians")
    else:
        rows.not_applicable("DOCTOR-NURSE", "county", county, county, "no licensed physicians")
    public = np.isin(kind, PUBLIC_HOSPITALS)
    if doctors[public].sum() > 0:
        ratio = round(nurses[public].sum() / doctors[public].sum(), 3)
        rows.level("DOCTOR-NURSE-HOSP", "county", county, county, ratio,
                   note=f"{nurses[public].sum():,.0f} nurses for {doctors[public].sum():,.0f} licensed physicians in "
                   f"the public hospitals ({_names(facilities[public])})")
    else:
        rows.not_applicable("DOCTOR-NURSE-HOSP", "county", county, county, "no public hospital with physicians")
