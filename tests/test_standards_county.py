"""County service, resource and institution rules on a small hand-built county (丙县, 100,000
residents), every expected value worked out by hand from the facility list below."""
from __future__ import annotations

import pandas as pd
import pytest

from healthreach.config import Settings, settings_from_parameters
from healthreach.coverage.assess import summarise
from healthreach.coverage.service_rules import check_service_rules
from healthreach.tiers import SUMMARY_TIERS

S = Settings()
# fid, kind, beds, doctors, nurses, ambulances, services
_F = [
    ("C1", "city_hospital", 200, 60, 80, 0, "infectious_dept;geriatrics_dept;rehab_dept"),
    ("H1", "county_hospital", 300, 150, 150, 2, "infectious_dept;rehab_dept;geriatrics_dept;chest_pain;stroke;trauma"),
    ("H2", "county_tcm_hospital", 100, 30, 45, 0, "rehab_dept;tcm_hall"),
    ("M1", "maternal_child", 50, 20, 40, 0, "critical_maternal;critical_neonatal"),
    ("E1", "ems_centre", 0, 5, 5, 3, ""),
    ("SC", "subcentre", 40, 20, 20, 1, "fever_sentinel;tcm_hall"),
    ("TH", "township_hc", 10, 8, 6, 1, "fever_clinic"),
    ("CS", "community_station", 0, 2, 2, 0, "rehab_dept"),
    ("VC", "village_clinic", 0, 10, 0, 0, ""),
]
FACILITIES = pd.DataFrame({
    "fid": [f[0] for f in _F], "name": [f"{f[0]}名" for f in _F], "kind": [f[1] for f in _F],
    "beds": [f[2] for f in _F], "doctors": [f[3] for f in _F], "nurses": [f[4] for f in _F],
    "ambulances": [f[5] for f in _F], "services": [f[6] for f in _F], "township": "某镇", "vid": "",
})
VILLAGES = pd.DataFrame({"vid": ["V1", "V2"], "township": ["某镇", "某镇"], "setting": ["urban", "rural"],
                         "population": [70000, 30000]})


def rules(facilities: pd.DataFrame = FACILITIES, settings: Settings = S, counties: tuple[str, str] | None = None,
          ) -> pd.DataFrame:
    vc = list(counties) if counties else ["丙县"] * 2
    fc = ["丙县"] * len(facilities) if not counties else [counties[i % 2] for i in range(len(facilities))]
    return check_service_rules(VILLAGES, facilities, settings, village_county=vc, facility_county=fc)


def row(table: pd.DataFrame, rule: str, scope_id: str = "丙县") -> pd.Series:
    rows = table[(table["rule_id"] == rule) & (table["scope_id"] == scope_id)]
    assert len(rows) == 1, (rule, scope_id, rows)
    return rows.iloc[0]


def without(fid: str) -> pd.DataFrame:
    return FACILITIES[FACILITIES["fid"] != fid].reset_index(drop=True)


def test_licensed_physicians_leave_out_village_doctors():
    # 60 + 150 + 30 + 20 + 5 + 20 + 8 + 2 = 295 licensed physicians: 2.95 per 1,000, short of 3.0. Counting
    # the village clinic's 10 village doctors (the old reading) would give 3.05 and a pass.
    doctors = row(rules(), "DOCTORS")
    assert doctors["value"] == pytest.approx(2.95) and doctors["status"] == "not_met"
    assert "10 doctors of village clinics are village doctors" in doctors["note"]
    # Where the layer says 5 of the clinic's doctors are licensed, they count: 300 -> 3.0.
    licensed = FACILITIES.assign(licensed_doctors=pd.array([None] * 8 + [5], dtype="Int64"))
    assert row(rules(licensed), "DOCTORS")["value"] == pytest.approx(3.0)
    assert row(rules(licensed), "DOCTORS")["status"] == "met"
    assert row(rules(), "NURSES")["value"] == pytest.approx(3.48)  # 348 nurses


def test_tcm_hospitals_are_in_every_secondary_hospital_share():
    table = rules()
    # Secondary or higher general hospitals: C1, H1 and the TCM hospital H2 (含中医医院).
    infectious = row(table, "INFECTIOUS-DEPT")
    assert infectious["value"] == pytest.approx(2 / 3, abs=1e-4) and infectious["status"] == "not_met"
    assert row(table, "INFECTIOUS-DEPT", "H2")["status"] == "not_met"
    assert row(table, "REHAB-HOSP")["value"] == 1.0 and row(table, "REHAB-HOSP")["status"] == "met"
    geriatrics = row(table, "GERIATRICS")
    assert geriatrics["value"] == pytest.approx(2 / 3, abs=1e-4) and geriatrics["status"] == "not_met"


def test_a_plan_figure_override_changes_the_verdict_and_names_the_others():
    default = row(rules(), "GERIATRICS")
    assert default["target"] == 0.70 and "60%以上" in default["note"] and "90%以上" in default["note"]
    text = row(rules(settings=settings_from_parameters({"rules": {"GERIATRICS": {"plan": "003-text"}}})), "GERIATRICS")
    assert text["target"] == 0.60 and text["status"] == "met" and "§五(五)1" in text["source"]
    banner = row(rules(settings=settings_from_parameters({"rules": {"GERIATRICS": {"plan": "004"}}})), "GERIATRICS")
    assert banner["target"] == 0.90 and banner["status"] == "not_met"
    tcm = row(rules(settings=settings_from_parameters({"rules": {"BEDS-TCM": {"plan": "003-table1"}}})), "BEDS-TCM")
    assert tcm["target"] == 1.60 and tcm["status"] == "below_level"  # 1.0 per 1,000, below 1.44


def test_levels_above_at_and_below():
    table = rules()
    # County-run + grassroots beds 300 + 100 + 50 + 40 + 10 = 500: 5.0 per 1,000, above 3.5 (±10 %).
    county = row(table, "BEDS-COUNTY")
    assert county["value"] == 5.0 and county["status"] == "above_level" and pd.isna(county["passed"])
    assert "不再新增床位" in county["note"] and "indication" in county["note"]
    # All beds, the city hospital's 200 included: 7.0 per 1,000, within 6.75-8.25.
    assert row(table, "BEDS-TOTAL")["status"] == "at_level"
    assert row(table, "BEDS-TCM")["status"] == "above_level"  # 1.0 against 0.85 (±10 %)
    # Public hospitals' nurses per physician: 315 / 260 = 1.21, below 1.5 (±10 %).
    hosp = row(table, "DOCTOR-NURSE-HOSP")
    assert hosp["value"] == pytest.approx(315 / 260, abs=1e-3) and hosp["status"] == "below_level"
    wide = settings_from_parameters({"rules": {"BEDS-COUNTY": {"tolerance": 0.5}}})
    assert row(rules(settings=wide), "BEDS-COUNTY")["status"] == "at_level"


def test_bed_and_staff_ratios_per_hospital():
    table = rules()
    bed_doctor = table[(table["rule_id"] == "BED-DOCTOR") & (table["scope"] == "facility")].set_index("scope_id")
    assert bed_doctor["value"].to_dict() == pytest.approx({"C1": 0.3, "H1": 0.5, "H2": 0.3, "M1": 0.4})
    assert bed_doctor["status"].to_dict() == {"C1": "not_met", "H1": "met", "H2": "not_met", "M1": "met"}
    assert row(table, "BED-NURSE", "H2")["value"] == pytest.approx(0.45)
    assert row(table, "BED-DOCTOR")["value"] == pytest.approx(295 / 700, abs=1e-3)
    staff = row(table, "BED-STAFF", "H1")
    assert staff["status"] == "not_applicable" and "`staff`" in staff["note"]
    staffed = rules(FACILITIES.assign(staff=pd.array([None, 450] + [None] * 7, dtype="Int64")))
    h1 = row(staffed, "BED-STAFF", "H1")
    assert h1["value"] == pytest.approx(1.5) and h1["status"] == "not_met"
    ratio = row(table, "DOCTOR-NURSE")
    assert ratio["value"] == pytest.approx(348 / 295, abs=1e-3) and ratio["status"] == "met"


def test_county_institutions():
    table = rules()
    assert row(table, "COUNTY-HOSP")["status"] == "met"
    assert row(rules(without("H2")), "COUNTY-HOSP")["status"] == "not_met"
    mch = row(table, "MCH-CDC")
    assert mch["status"] == "not_applicable" and "`cdc` kind" in mch["note"]
    assert row(rules(without("M1")), "MCH-CDC")["status"] == "not_met"
    assert row(table, "EMS-CENTRE")["status"] == "met"
    assert row(rules(without("E1")), "EMS-CENTRE")["status"] == "not_met"
    assert row(table, "SUBCENTRE-COUNT")["status"] == "met" and row(table, "SUBCENTRE-COUNT")["target"] == "1–3"
    two = settings_from_parameters({"rules": {"SUBCENTRE-COUNT": 2}})
    assert row(rules(settings=two), "SUBCENTRE-COUNT")["status"] == "not_met"
    assert row(table, "SUBCENTRE-LEVEL", "SC")["status"] == "not_applicable"
    graded = FACILITIES.assign(grade=["三级甲等", "", "", "", "", "二级乙等", "", "", ""])
    level = row(rules(graded), "SUBCENTRE-LEVEL", "SC")
    assert level["value"] == 2 and level["status"] == "met"
    first = FACILITIES.assign(grade=[""] * 5 + ["一级"] + [""] * 3)
    assert row(rules(first), "SUBCENTRE-LEVEL", "SC")["status"] == "not_met"
    assert row(table, "REGIONAL-CENTRE")["status"] == "not_applicable"


def test_service_rules_of_grassroots_institutions():
    table = rules()
    assert row(table, "FEVER-SENTINEL", "SC")["status"] == "met"
    assert row(table, "FEVER-SENTINEL", "TH")["status"] == "met"
    assert row(table, "FEVER-CLINIC", "SC")["status"] == "advisory"
    assert row(table, "TCM-HALL")["value"] == 0.5 and row(table, "TCM-HALL")["status"] == "not_met"
    assert row(table, "REHAB-COMMUNITY")["status"] == "met"
    outpatient = row(table, "REHAB-OUTPATIENT")  # 100,000 residents; H1 and H2 have the department
    assert outpatient["value"] == 2 and outpatient["status"] == "met"
    assert row(table, "FIVE-CENTRES")["status"] == "met"
    assert row(table, "EMS-AMB-POP")["value"] == pytest.approx(7 * 30000 / 100000)
    gp = row(rules(FACILITIES.assign(gp=pd.array([0, 0, 0, 0, 0, 1, 2, 0, 0], dtype="Int64"))), "GP")
    assert gp["value"] == pytest.approx(0.3) and gp["status"] == "not_met"


def test_regional_centres_over_a_city_of_two_counties():
    centres = FACILITIES.assign(services=FACILITIES["services"].where(
        ~FACILITIES["fid"].isin(["C1", "H1"]), FACILITIES["services"] + ";regional_centre"))
    table = rules(centres, counties=("丙县", "丁县"))  # C1 in 丙县, H1 in 丁县
    city = row(table, "REGIONAL-CENTRE", "city")
    assert city["value"] == 2 and city["status"] == "met" and "not checked" in city["note"]
    seat = settings_from_parameters({"rules": {"REGIONAL-CENTRE": {"city_seat": "丙县"}}})
    assert row(rules(centres, seat, counties=("丙县", "丁县")), "REGIONAL-CENTRE", "city")["value"] == 1
    assert "REGIONAL-CENTRE" not in set(table.loc[table["scope"] == "county", "rule_id"])


def test_the_summary_counts_licensed_physicians_as_its_column_says():
    villages = VILLAGES.assign(**{f"{t}_time_s": 600.0 for t in SUMMARY_TIERS})
    county = summarise(villages, FACILITIES, S, county="丙县")["county"].iloc[0]
    assert county["doctors"] == 295 and county["doctors_per_1000"] == pytest.approx(2.95)
