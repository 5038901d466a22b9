"""The standards of the three embedded samples (county, urban district, pastoral banner), read as a
planner would: every rule answers in every county, city-wide ratios only per county, and the key rows
recomputed here from the sample layers, independently of the checks."""
from __future__ import annotations

import functools
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

import healthreach as hr
from healthreach.commands import sample_dir
from healthreach.commands.setup import Options, run_config
from healthreach.coverage.rule_rows import STATUSES
from healthreach.layers.roads import read_project_roads
from healthreach.rules import RULES

SAMPLES = ("county", "district", "banner")


@functools.cache
def _analysis(name: str) -> tuple:
    project = hr.load_project(sample_dir(name) / "project.yml")
    edges = read_project_roads(project)
    config = run_config(project, edges, Options())
    # The standards read no catchment polygon: skip drawing them (most of an analysis's time).
    config = replace(config, settings=replace(config.settings, catchment_tiers=(), catchment_type="split"))
    return project, hr.analyze(project, edges=edges, config=config).standards


class _Lazy:
    """Each sample is analysed once per test process, and only when a test asks for it."""

    def __getitem__(self, name: str) -> tuple:
        return _analysis(name)


@pytest.fixture(scope="module")
def analysed() -> _Lazy:
    return _Lazy()


def rows(table: pd.DataFrame, rule: str, scope: str | None = None) -> pd.DataFrame:
    picked = table[table["rule_id"] == rule]
    return picked if scope is None else picked[picked["scope"] == scope]


@pytest.mark.parametrize("name", SAMPLES)
def test_every_rule_answers_and_statuses_are_consistent(analysed, name):
    project, table = analysed[name]
    assert set(table["status"]) <= set(STATUSES)
    judged = table["status"].isin(["met", "not_met"])
    assert (table.loc[judged, "passed"] == (table.loc[judged, "status"] == "met")).all()
    assert table.loc[~judged, "passed"].isna().all()
    assert table[["rule_id", "scope", "scope_id"]].drop_duplicates().shape[0] == len(table)
    answered = set(table.loc[table["scope"].isin(["county", "city", "township", "facility"]), "rule_id"])
    # VC-EXEMPT qualifies VC-PER-VILLAGE: it has rows only for the villages it exempts.
    expected = {r.id for r in RULES.values() if r.kind not in ("choice", "figure")} - {"VC-EXEMPT"}
    rehab = {"REHAB-DEPT", "REHAB-OUTPATIENT"}
    assert expected - rehab <= answered and len(answered & rehab) == 1  # one of the two, by county size
    assert set(table["rule_id"]) <= set(RULES)
    for _, r in table[table["status"] == "not_applicable"].iterrows():
        assert isinstance(r["note"], str) and len(r["note"]) > 10, r["rule_id"]


@pytest.mark.parametrize("name", SAMPLES)
def test_city_wide_ratios_are_reported_per_county_only(analysed, name):
    _, table = analysed[name]
    for rule in (r for r in RULES.values() if r.indication):
        scopes = set(rows(table, rule.id)["scope"])
        assert scopes <= {"county", "facility"}, rule.id
        assert "indication" in rows(table, rule.id, "county")["note"].iat[0], rule.id
    for rule_id in ("EMS-AMB-POP", "MED-15MIN-SHARE"):
        assert set(rows(table, rule_id)["scope"]) == {"county"}


def test_county_sample_reads_the_plans(analysed):
    project, table = analysed["county"]
    f, v = project.facilities, project.villages
    doctors = pd.to_numeric(f["doctors"]).fillna(0)
    population = v["population"].sum()
    licensed = doctors[f["kind"] != "village_clinic"].sum()
    row = rows(table, "DOCTORS").iloc[0]
    assert row["value"] == pytest.approx(round(licensed / population * 1000, 3)) and row["status"] == "not_met"
    assert licensed / population * 1000 < 3.0 <= doctors.sum() / population * 1000  # the village doctors decide
    # Village doctors with the plan's reading: 1 per 1,000 served residents, rounded up, at least 1 per
    # clinic; only villages with a clinic count.
    by_vid = f[f["kind"] == "village_clinic"].groupby("vid")["doctors"].sum()
    rural = v[(v["setting"] != "urban") & v["vid"].isin(by_vid.index)]
    need = rural["population"].map(lambda p: max(1, math.ceil(p / 1000)))
    have = rural["vid"].map(by_vid)
    met = (have >= need).groupby(rural["township"]).all()
    vd = rows(table, "VD-PER-POP", "township").set_index("scope_id")["status"]
    assert (vd == "met").to_dict() == met.to_dict() and int(met.sum()) == 6 and len(met) == 9
    # TCM hospitals in the hospital shares: the TCM hospital has no infectious-disease department.
    assert rows(table, "INFECTIOUS-DEPT", "county")["value"].iat[0] == 0.5
    assert rows(table, "BEDS-COUNTY", "county")["status"].iat[0] == "above_level"
    # 城关镇's urban communities (42,661 residents) have no community health service centre.
    urban = v.loc[(v["township"] == "城关镇") & (v["setting"] == "urban"), "population"].sum()
    chc = rows(table, "CHC-PER-STREET").set_index("scope_id")
    assert urban == 42661 and chc.loc["城关镇", "status"] == "not_met" and "42,661" in chc.loc["城关镇", "note"]
    # No central township health centre: every township's emergency chain lacks its middle tier.
    assert not (f["kind"] == "subcentre").any()
    ems = rows(table, "EMS-3TIER", "township")
    assert (ems["status"] == "not_met").all() and ems["note"].str.contains("no sub-centre").all()
    hospital = f[f["kind"] == "county_hospital"].iloc[0]
    bed = rows(table, "BED-DOCTOR", "facility").set_index("scope_id").loc[hospital["fid"]]
    assert bed["value"] == pytest.approx(round(hospital["doctors"] / hospital["beds"], 3))
    assert bed["status"] == "not_met"


def test_district_sample_has_subdistricts_not_townships(analysed):
    project, table = analysed["district"]
    f = project.facilities
    assert rows(table, "THC-PER-TOWNSHIP", "township").empty
    streets = sorted(project.villages["township"].unique())
    with_centre = set(f.loc[f["kind"] == "community_centre", "township"])
    chc = rows(table, "CHC-PER-STREET", "township").set_index("scope_id")["status"]
    assert chc.to_dict() == {s: "met" if s in with_centre else "not_met" for s in streets}
    assert (chc == "not_met").sum() == 1
    assert rows(table, "COUNTY-HOSP")["status"].iat[0] == "advisory"
    for rule_id in ("EMS-3TIER", "REFERRAL-3TIER", "SUBCENTRE-COUNT", "VC-PER-VILLAGE", "THC-STAFF"):
        assert rows(table, rule_id)["status"].tolist() == ["not_applicable"], rule_id


def test_banner_township_staff_levels_recomputed(analysed):
    project, table = analysed["banner"]
    f, v = project.facilities, project.villages
    centres = f[f["kind"].isin(["township_hc", "subcentre"])]
    staff = (pd.to_numeric(centres["doctors"]) + pd.to_numeric(centres["nurses"])).groupby(centres["township"]).sum()
    residents = v.groupby("township")["population"].sum()
    share = (staff / residents.reindex(staff.index)).dropna()
    expected = np.where(share < 0.009 - 1e-12, "below_level",
                        np.where(share > 0.011 + 1e-12, "above_level", "at_level"))
    got = rows(table, "THC-STAFF", "township").set_index("scope_id")
    assert got.loc[share.index, "status"].tolist() == expected.tolist()
    seat = sorted(set(residents.index) - set(staff.index))
    assert seat and (got.loc[seat, "status"] == "not_applicable").all()
    assert rows(table, "SUBCENTRE-COUNT")["status"].iat[0] == "met"
    assert set(rows(table, "FEVER-CLINIC")["status"]) == {"advisory"}
