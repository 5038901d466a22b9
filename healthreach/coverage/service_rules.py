"""Checks of the service rules and resource ratios (rules table in rules.py) per county and township.

Rows have the columns of healthreach.coverage.standards.COLUMNS and each cites its rule's source.
Only what the inputs let us measure produces a row: GP needs a `gp` facility attribute, ratios need a
scope with residents, the hospital shares need at least one hospital of the kinds they are about.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from healthreach.config import Settings
from healthreach.coverage.services import EMERGENCY_CENTRES, facility_services
from healthreach.coverage.standards import COLUMNS, required_village_doctors
from healthreach.tiers import display_name

GENERAL_HOSPITALS = ("city_hospital", "county_hospital")
"""Secondary or higher general hospitals (二级以上综合医院) among the facility kinds."""
COUNTY_PUBLIC_HOSPITALS = ("county_hospital", "county_tcm_hospital", "maternal_child")
"""County public hospitals (县级公立医院) for REHAB-DEPT."""
FEVER_SITES = ("subcentre", "township_hc", "community_centre")
TCM_HALL_SITES = ("subcentre", "township_hc", "community_centre")
# Ratio rules over all facilities: rule id -> (facility attribute, residents the target is per).
RATIOS: dict[str, tuple[str, float]] = {
    "BEDS-TOTAL": ("beds", 1000.0),
    "DOCTORS": ("doctors", 1000.0),
    "NURSES": ("nurses", 1000.0),
    "GP": ("gp", 10000.0),
}


class _Rows:
    """Collects rows in the standards columns, filling title, unit, target and source from the rule."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rows: list[dict] = []

    def add(self, rule_id: str, scope: str, scope_id: object, scope_name: object, value: float, passed: bool,
            *, target: float | str | None = None, unit: str | None = None, note: str = "") -> None:
        rule = self.settings.rule(rule_id)
        self.rows.append({
            "rule_id": rule_id, "title": rule.title_zh, "scope": scope, "scope_id": str(scope_id),
            "scope_name": str(scope_name), "value": float(value), "target": rule.value if target is None else target,
            "unit": unit or rule.unit, "passed": bool(passed), "source": rule.source, "note": note,
        })

    def facility_share(self, rule_id: str, county: str, ok: np.ndarray, what: str) -> None:
        """County row: share of the facilities in `ok` meeting the rule (target: the rule's share)."""
        if not len(ok):
            return
        share = float(ok.mean())
        self.add(rule_id, "county", county, county, round(share, 4), share >= self.settings.rule(rule_id).value - 1e-12,
                 note=f"{int(ok.sum())} of {len(ok)} {what}")


def _label(service: str) -> str:
    return f"{display_name(service, 'zh')} ({service})"


def _num(frame: pd.DataFrame, column: str) -> np.ndarray:
    return pd.to_numeric(frame[column], errors="coerce").fillna(0).to_numpy(dtype=float)


def check_service_rules(
    villages: pd.DataFrame,
    facilities: pd.DataFrame,
    settings: Settings,
    *,
    village_county: Sequence[object],
    facility_county: Sequence[object],
) -> pd.DataFrame:
    """Rows for FIVE-CENTRES, FEVER-SENTINEL, INFECTIOUS-DEPT, TCM-HALL, GERIATRICS-70, REHAB-DEPT and the
    ratio rules (BEDS-TOTAL, BEDS-TCM, DOCTORS, NURSES, GP, EMS-AMB-POP, VD-PER-POP) per county and township.

    `village_county` / `facility_county` give each village's and facility's county name (None: outside
    every county). Populations are persons; ratios per 1,000 (GP per 10,000; EMS-AMB-POP per 30,000).
    """
    rows = _Rows(settings)
    vcounty = np.asarray(village_county, dtype=object)
    fcounty = np.asarray(facility_county, dtype=object)
    offered = facility_services(facilities)
    kind = facilities["kind"].to_numpy(dtype=object)
    _facility_services(rows, facilities, offered)
    counties = list(dict.fromkeys(c for c in [*vcounty, *fcounty] if c is not None))
    for county in counties:
        vmask, fmask = vcounty == county, fcounty == county
        population = float(villages["population"].to_numpy(dtype=float)[vmask].sum())
        _county_services(rows, county, population, kind[fmask], [offered[i] for i in np.flatnonzero(fmask)])
        _ratios(rows, "county", county, population, facilities[fmask])
        tcm = fmask & (kind == "county_tcm_hospital")
        if population > 0:
            per = _num(facilities, "beds")[tcm].sum() / population * 1000
            rows.add("BEDS-TCM", "county", county, county, round(per, 3), per >= settings.rule("BEDS-TCM").value,
                     note=f"{int(_num(facilities, 'beds')[tcm].sum()):,} beds in county TCM hospitals")
        if len(counties) > 1:  # a single county's EMS-AMB-POP row comes from standards.py
            _ambulances(rows, "county", county, population, facilities[fmask])
    for town in sorted(villages["township"].dropna().unique()):
        vmask = (villages["township"] == town).to_numpy()
        population = float(villages["population"].to_numpy(dtype=float)[vmask].sum())
        in_town = facilities[(facilities["township"] == town).to_numpy()]
        _ratios(rows, "township", town, population, in_town)
        _ambulances(rows, "township", town, population, in_town)
        _village_doctors(rows, town, villages[vmask], in_town)
    table = pd.DataFrame(rows.rows, columns=COLUMNS)
    table["target"] = table["target"].astype(object)
    return table


def _facility_services(rows: _Rows, facilities: pd.DataFrame, offered: list[frozenset[str]]) -> None:
    """Facility rows of FEVER-SENTINEL, INFECTIOUS-DEPT and TCM-HALL (value 1 = present)."""
    for i, (fid, name, kind) in enumerate(zip(facilities["fid"], facilities["name"], facilities["kind"])):
        services = offered[i]
        if kind in FEVER_SITES:
            need = ("fever_clinic",) if kind == "subcentre" else ("fever_clinic", "fever_sentinel")
            ok = any(s in services for s in need)
            rows.add("FEVER-SENTINEL", "facility", fid, name, float(ok), ok, target=" or ".join(need), unit="present",
                     note="" if ok else f"no {' or '.join(_label(s) for s in need)}")
        if kind in GENERAL_HOSPITALS:
            ok = "infectious_dept" in services
            rows.add("INFECTIOUS-DEPT", "facility", fid, name, float(ok), ok, target="infectious_dept",
                     unit="present", note="" if ok else f"no {_label('infectious_dept')}")
        if kind in TCM_HALL_SITES:
            ok = "tcm_hall" in services
            rows.add("TCM-HALL", "facility", fid, name, float(ok), ok, target="tcm_hall", unit="present",
                     note="" if ok else f"no {_label('tcm_hall')}")


def _county_services(rows: _Rows, county: str, population: float, kind: np.ndarray,
                     offered: list[frozenset[str]]) -> None:
    """County rows: FIVE-CENTRES, the shares of the facility rules, GERIATRICS-70 and REHAB-DEPT."""
    everything = frozenset().union(*offered)
    missing = [s for s in EMERGENCY_CENTRES if s not in everything]
    present = len(EMERGENCY_CENTRES) - len(missing)
    rows.add("FIVE-CENTRES", "county", county, county, present, present >= rows.settings.rule("FIVE-CENTRES").value,
             note=f"missing: {', '.join(_label(s) for s in missing)}" if missing else "all five present")
    subcentre = kind == "subcentre"
    fever = np.array([("fever_clinic" in s) or (not c and "fever_sentinel" in s)
                      for s, c in zip(offered, subcentre)], dtype=bool)
    rows.facility_share("FEVER-SENTINEL", county, fever[np.isin(kind, FEVER_SITES)],
                        "township health centres and community centres with a fever room (clinic in sub-centres)")
    infectious = np.array(["infectious_dept" in s for s in offered], dtype=bool)
    general = np.isin(kind, GENERAL_HOSPITALS)
    rows.facility_share("INFECTIOUS-DEPT", county, infectious[general], "general hospitals with the department")
    tcm = np.array(["tcm_hall" in s for s in offered], dtype=bool)
    rows.facility_share("TCM-HALL", county, tcm[np.isin(kind, TCM_HALL_SITES)],
                        "township health centres and community centres with a TCM hall")
    geriatrics = np.array(["geriatrics_dept" in s for s in offered], dtype=bool)
    rows.facility_share("GERIATRICS-70", county, geriatrics[general], "general hospitals with geriatrics")
    threshold = rows.settings.rule("REHAB-DEPT").value
    if population > threshold:
        rehab = np.array(["rehab_dept" in s for s in offered], dtype=bool)[np.isin(kind, COUNTY_PUBLIC_HOSPITALS)]
        rows.add("REHAB-DEPT", "county", county, county, int(rehab.sum()), bool(rehab.any()), target=1,
                 unit="hospitals", note=f"{int(population):,} residents (above {int(threshold):,}): "
                 f"{int(rehab.sum())} county public hospitals with {_label('rehab_dept')}")


def _ratios(rows: _Rows, scope: str, name: str, population: float, facilities: pd.DataFrame) -> None:
    """BEDS-TOTAL, DOCTORS, NURSES and (when facilities carry `gp`) GP for one scope with residents."""
    if population <= 0:
        return
    for rule_id, (column, per) in RATIOS.items():
        if column not in facilities:
            continue
        total = _num(facilities, column).sum()
        ratio = total / population * per
        rows.add(rule_id, scope, name, name, round(ratio, 3), ratio >= rows.settings.rule(rule_id).value - 1e-12,
                 note=f"{int(total):,} {column} for {int(population):,} residents")


def _ambulances(rows: _Rows, scope: str, name: str, population: float, facilities: pd.DataFrame) -> None:
    """EMS-AMB-POP: ambulances per 30,000 residents of one scope."""
    if population <= 0:
        return
    total = _num(facilities, "ambulances").sum()
    per = total / (population / 30000)
    rows.add("EMS-AMB-POP", scope, name, name, round(per, 3), per >= rows.settings.rule("EMS-AMB-POP").value - 1e-12,
             note=f"{int(total)} ambulances based here for {int(population):,} residents")


def _village_doctors(rows: _Rows, town: str, villages: pd.DataFrame, facilities: pd.DataFrame) -> None:
    """VD-PER-POP per township: doctors of its village clinics against the sum over its rural villages of
    1 per village up to 1,000 residents plus 1 per further 500."""
    rural = villages[villages["setting"] != "urban"]
    if not len(rural):
        return
    need = sum(required_village_doctors(float(p)) for p in rural["population"])
    have = _num(facilities[facilities["kind"] == "village_clinic"], "doctors").sum()
    rows.add("VD-PER-POP", "township", town, town, have, have >= need, target=need, unit="doctors",
             note=f"{len(rural)} rural villages, {int(rural['population'].sum()):,} residents need {need}")
