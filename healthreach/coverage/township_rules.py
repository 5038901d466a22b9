"""Township-level institution rules: THC-PER-TOWNSHIP, CHC-PER-STREET, EMS-AMB-THC and THC-STAFF.

乡/镇/苏木 need a township health centre (a central one, the sub-centre, counts); urban subdistricts
(街道, rule ADMIN-UNITS) need community health service centres instead (003 §四(三)1), as does a 乡/镇
with enough urban residents ("或3—10万人").
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from healthreach.coverage.masks import equal_masks
from healthreach.coverage.rule_inputs import county_of_townships, counts, health_workers, is_street, people
from healthreach.coverage.rule_rows import Rows
from healthreach.tiers import THC_KINDS


def township_rules(rows: Rows, villages: pd.DataFrame, facilities: pd.DataFrame, county: np.ndarray,
                   facility_county: np.ndarray, townships: list[str] | None) -> None:
    """Township rows of THC-PER-TOWNSHIP, CHC-PER-STREET and THC-STAFF; facility rows of EMS-AMB-THC; a
    county row where a county has nothing the rule applies to, saying why."""
    vtown = villages["township"].to_numpy(dtype=object)
    ftown = facilities["township"].to_numpy(dtype=object)
    names = townships if townships else sorted({t for t in vtown if isinstance(t, str) and t})
    home = county_of_townships(names, vtown, county, ftown, facility_county)
    kind = facilities["kind"].to_numpy(dtype=object)
    pop = villages["population"].to_numpy(dtype=float)
    urban = (villages["setting"] == "urban").to_numpy()
    counties = list(dict.fromkeys(c for c in [*county, *facility_county] if c is not None))
    of_village, of_facility = equal_masks(vtown, names), equal_masks(ftown, names)
    for name in counties:
        mine = [t for t in names if home[t] == name]
        streets = [t for t in mine if is_street(t, rows.settings)]
        towns = [t for t in mine if t not in streets]
        for town in towns:
            _thc(rows, town, int(np.isin(kind[of_facility[town]], THC_KINDS).sum()))
        if not towns:
            rows.not_applicable("THC-PER-TOWNSHIP", "county", name, name, "no 乡/镇/苏木: only urban subdistricts "
                                "(街道), where CHC-PER-STREET applies" if mine else "no townships in the inputs")
        found = [_chc(rows, t, t in streets, pop[of_village[t]].sum(), pop[of_village[t] & urban].sum(),
                      int((kind[of_facility[t]] == "community_centre").sum())) for t in mine]
        if not any(found):
            low = float(rows.rule("CHC-PER-STREET").option("residents_low"))
            rows.not_applicable("CHC-PER-STREET", "county", name, name, f"no 街道 and no 乡/镇 with {low:,.0f} urban "
                                "residents or more")
        in_county = facility_county == name
        _ambulances(rows, name, facilities[in_county & np.isin(kind, THC_KINDS)])
        _staff(rows, name, towns, of_village, pop, facilities[in_county])


def _thc(rows: Rows, town: str, count: int) -> None:
    rows.at_least("THC-PER-TOWNSHIP", "township", town, town, count,
                  note="" if count else "no township health centre (乡镇卫生院, 中心卫生院)")


def _chc(rows: Rows, town: str, street: bool, residents: float, urban: float, centres: int) -> bool:
    """CHC-PER-STREET for one township-level unit; False when the rule does not apply to it."""
    rule = rows.rule("CHC-PER-STREET")
    low, high = float(rule.option("residents_low")), float(rule.option("residents_high"))
    counted = residents if street else urban
    if not street and counted < low:
        return False
    need = max(int(rule.value), math.ceil(counted / high - 1e-9))
    what = (f"a 街道 (by its name, rule ADMIN-UNITS) of {people(counted)} residents" if street else
            f"a 乡/镇 with {people(counted)} urban residents (at least {low:,.0f}: the plan's '或3—10万人'); "
            "township health centres are not counted")
    rows.at_least("CHC-PER-STREET", "township", town, town, centres, target=need,
                  note=f"{what}: {need} community health service centre(s) needed at one per {high:,.0f} residents "
                  f"at most, {centres} there")
    return True


def _ambulances(rows: Rows, county: str, centres: pd.DataFrame) -> None:
    """EMS-AMB-THC: every township health centre (sub-centres too) with at least one ambulance."""
    if not len(centres):
        rows.not_applicable("EMS-AMB-THC", "county", county, county, "no township health centres")
        return
    ambulances = counts(centres, "ambulances")
    for fid, name, n in zip(centres["fid"], centres["name"], ambulances):
        rows.at_least("EMS-AMB-THC", "facility", fid, name, n)


def _staff(rows: Rows, county: str, towns: list[str], of_village: dict[object, np.ndarray], pop: np.ndarray,
           facilities: pd.DataFrame) -> None:
    """THC-STAFF: township health centre staff against about 1 % of the township's residents (the
    centre's service population), per township and over the county's townships with a centre."""
    thc = facilities[np.isin(facilities["kind"].to_numpy(dtype=object), THC_KINDS)]
    staff, own = health_workers(thc)
    at = equal_masks(thc["township"].to_numpy(dtype=object), towns)
    total_staff, total_pop, counted = 0.0, 0.0, []
    for town in towns:
        here = at[town]
        residents = pop[of_village[town]].sum()
        if not here.any() or residents <= 0:
            why = "no township health centre (see THC-PER-TOWNSHIP)" if not here.any() else "no residents"
            rows.not_applicable("THC-STAFF", "township", town, town, why)
            continue
        counted.append(own[here])
        total_staff, total_pop = total_staff + staff[here].sum(), total_pop + residents
        rows.level("THC-STAFF", "township", town, town, round(staff[here].sum() / residents, 5),
                   note=_staff_note(staff[here].sum(), residents, own[here]))
    if not counted:
        rows.not_applicable("THC-STAFF", "county", county, county, "no township health centres")
        return
    rows.level("THC-STAFF", "county", county, county, round(total_staff / total_pop, 5),
               note=_staff_note(total_staff, total_pop, np.concatenate(counted)) + "; townships with a centre")


def _staff_note(staff: float, residents: float, own: np.ndarray) -> str:
    counted = ("staff from the `staff` column" if own.all() else
               "staff counted as doctors + nurses (a lower bound; give `staff` for the whole establishment, 编制)"
               if not own.any() else "staff from `staff` where given, else doctors + nurses")
    return f"{staff:,.0f} staff for {people(residents)} residents; {counted}"
