"""Services as tiers, their rules and resource ratios, and the old and the young; all checked by hand."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from healthreach._errors import InputError
from healthreach.coverage.assess import summarise
from healthreach.tiers import SUMMARY_TIERS
from healthreach.layers.roads.speeds import MODES
from healthreach.coverage.network import build_network
from healthreach.config import Settings, settings_from_parameters
from healthreach.coverage.service_rules import check_service_rules
from healthreach.coverage.services import (
    EMERGENCY_CENTRES,
    add_service_access,
    facility_services,
    group_summary,
    service_summary,
    services_present,
)
from healthreach.coverage.rule_rows import COLUMNS
from healthreach.coverage.traveltime import nearest
from netfixtures import CRS, edge_table, xy

S = Settings()
KMH = 3.6  # seconds per metre at 1 km/h


# --------------------------------------------------------------------------- services as tiers


def _stroke_network() -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, dict, np.ndarray, np.ndarray]:
    """A one-way secondary road A(0,0) -> B(6000,0) and a two-way track detour B -> (3000,4000) -> A.

    Village V1 at A, village V2 on an island road far away; the stroke centre H2 (also a TCM hall) at
    B; a chest-pain-only hospital H1 500 m along the one-way road.
    """
    lines = [[(0, 0), (6000, 0)], [(6000, 0), (3000, 4000), (0, 0)], [(30000, 0), (31000, 0)]]
    edges = edge_table(lines, highway=["secondary", "track", "tertiary"], oneway=[True, False, False])
    village_xy = xy([(0, 0), (30500, 0)])
    facility_xy = xy([(500, 0), (6000, 0)])
    points = np.vstack([village_xy, facility_xy])
    networks = {mode: build_network(edges, mode, S, CRS, points) for mode in MODES}
    villages = gpd.GeoDataFrame({"vid": ["V1", "V2"], "population": [1000, 200]},
                                geometry=gpd.points_from_xy(*village_xy.T), crs=CRS)
    facilities = gpd.GeoDataFrame({"fid": ["H1", "H2"], "services": ["chest_pain", "stroke;tcm_hall"]},
                                  geometry=gpd.points_from_xy(*facility_xy.T), crs=CRS)
    return villages, facilities, networks, village_xy, facility_xy


def test_stroke_centre_is_reached_by_ambulance_toward_the_centre_in_a_known_time():
    villages, facilities, networks, vxy, fxy = _stroke_network()
    out = add_service_access(villages, facilities, networks, vxy, fxy)
    # Ambulance on a secondary road: 50 km/h x 1.2 = 60 km/h (its design speed). Toward the centre the
    # one-way road is usable: 6,000 m in 360 s. Dispatch from the centre would need the 10,000 m track.
    assert out.at[0, "stroke_fid"] == "H2"
    assert out.at[0, "stroke_time_s"] == pytest.approx(6000 / 60 * KMH, abs=0.1)
    assert out.at[0, "stroke_dist_m"] == pytest.approx(6000, abs=0.1)
    assert out.at[0, "stroke_line_m"] == pytest.approx(6000, abs=0.1)
    amb = networks["ambulance"]
    dispatch = nearest(amb, amb.point_node[[2 + 1]], toward=False).cost[amb.point_node[0]]
    assert dispatch == pytest.approx(10000 / 18 * KMH, abs=0.5)  # track 15 x 1.2 = 18 km/h: the other way
    # The TCM hall at the same site is measured driving: 50 km/h.
    assert out.at[0, "tcm_hall_time_s"] == pytest.approx(6000 / 50 * KMH, abs=0.1)
    # The chest-pain centre 500 m down the road.
    assert out.at[0, "chest_pain_fid"] == "H1"
    assert out.at[0, "chest_pain_time_s"] == pytest.approx(500 / 60 * KMH, abs=0.1)
    # The island village keeps its row with every measure empty.
    for service in ("stroke", "tcm_hall", "chest_pain"):
        assert pd.isna(out.at[1, f"{service}_fid"])
        assert np.isnan(out.loc[1, [f"{service}_time_s", f"{service}_dist_m", f"{service}_line_m"]]
                        .to_numpy(dtype=float)).all()
    # No columns for services nobody offers.
    assert not any(c.startswith("trauma_") for c in out.columns)


def test_services_are_parsed_from_the_column_in_canonical_order():
    frame = pd.DataFrame({"services": ["tcm_hall; stroke", None, "", "regional_centre"]})
    assert facility_services(frame) == [frozenset({"tcm_hall", "stroke"}), frozenset(), frozenset(),
                                        frozenset({"regional_centre"})]
    assert services_present(frame) == ("stroke", "tcm_hall", "regional_centre")
    assert services_present(pd.DataFrame({"fid": ["X"]})) == ()


# --------------------------------------------------------------------------- summaries: bands, groups

def _timed_villages() -> pd.DataFrame:
    """Four villages in two townships with hand-set stroke and township times (seconds)."""
    return pd.DataFrame({
        "vid": ["A", "B", "C", "D"], "township": ["东", "东", "西", "西"],
        "population": [1000, 2000, 500, 300],
        "elderly": pd.array([100, 300, pd.NA, 60], dtype="Int64"),
        "children": pd.array([pd.NA] * 4, dtype="Int64"),
        "stroke_time_s": [1200.0, 3600.0, 5000.0, np.nan],     # 20 min, 60 min, 83.3 min, unreachable
        "township_time_s": [600.0, 1000.0, 2000.0, 4000.0],   # 10, 16.7, 33.3, 66.7 min
        "subcentre_time_s": [np.nan] * 4, "hospital_time_s": [600.0] * 4,
        "village_time_s": [60.0] * 4, "ems_time_s": [np.nan] * 4, "community_time_s": [np.nan] * 4,
    })


def test_service_summary_bands_and_golden_hour_by_hand():
    table = service_summary(_timed_villages(), S, counties=["县"] * 4)
    county = table[(table["scope"] == "county") & (table["group"] == "all")].iloc[0]
    assert county["service"] == "stroke" and county["mode"] == "ambulance"
    assert county["population"] == 3800 and county["reached"] == 3500
    assert [county[f"pop_{b}min"] for b in (30, 60, 90, 120)] == [1000, 3000, 3500, 3500]
    assert county["share_60min"] == pytest.approx(3000 / 3800, abs=1e-4)
    assert county["golden_hour_share"] == county["share_60min"]
    assert county["mean_time_s"] == pytest.approx((1000 * 1200 + 2000 * 3600 + 500 * 5000) / 3500, abs=0.1)
    assert "pop_15min" not in table  # a driving band: no service here uses it
    # The elderly: counts 100, 300, (missing = 0), 60; the children carry no counts and are left out.
    elderly = table[(table["scope"] == "county") & (table["group"] == "elderly")].iloc[0]
    assert elderly["population"] == 460 and elderly["pop_60min"] == 400 and elderly["pop_30min"] == 100
    assert set(table["group"]) == {"all", "elderly"}
    west = table[(table["name"] == "西") & (table["group"] == "all")].iloc[0]
    assert west["pop_90min"] == 500 and west["share_90min"] == pytest.approx(500 / 800, abs=1e-4)


def test_golden_hour_and_service_bands_follow_the_parameters():
    settings = settings_from_parameters({"service_bands_min": [45, 15], "rules": {"GOLDEN-HOUR": 90}})
    assert settings.service_bands_min == (15, 45)
    row = service_summary(_timed_villages(), settings, counties=["县"] * 4).iloc[0]
    assert row["pop_15min"] == 0 and row["pop_45min"] == 1000
    assert row["golden_hour_share"] == pytest.approx(3500 / 3800, abs=1e-4)
    with pytest.raises(InputError, match=r"parameters\.service_bands_min: expected a list of minutes"):
        settings_from_parameters({"service_bands_min": 60})
    with pytest.raises(InputError, match=r"parameters\.regional_bands_min: expected a number > 0"):
        settings_from_parameters({"regional_bands_min": [60, -5]})


def test_elderly_tier_coverage_equals_a_hand_sum():
    villages = _timed_villages()
    table = group_summary(villages, S, counties=["县"] * 4, tiers=SUMMARY_TIERS)
    east = table[(table["name"] == "东") & (table["group"] == "elderly")].iloc[0]
    assert east["population"] == 400
    assert east["township_pop_15min"] == 100  # only A (10 min); B takes 16.7 min
    assert east["township_pop_30min"] == 400
    county = table[(table["scope"] == "county") & (table["group"] == "elderly")].iloc[0]
    assert county["township_pop_60min"] == 400 and county["share_township_60min"] == pytest.approx(400 / 460, abs=1e-4)
    assert set(table["group"]) == {"elderly"}


def test_group_figures_match_the_county_table_when_everyone_is_elderly():
    # Independent cross-check: with elderly = population the group rows must equal summarise()'s.
    villages = _timed_villages().assign(elderly=[1000, 2000, 500, 300])
    facilities = pd.DataFrame({"fid": [], "township": [], "beds": [], "doctors": [], "nurses": [], "ambulances": []})
    expected = summarise(villages, facilities, S, county="县")["county"].iloc[0]
    got = group_summary(villages, S, counties=["县"] * 4, tiers=SUMMARY_TIERS).iloc[0]
    columns = [c for c in expected.index if c.startswith(tuple(f"{t}_pop" for t in SUMMARY_TIERS))
               or c.startswith("share_")]
    assert len(columns) == 2 * len(SUMMARY_TIERS) * len(S.bands_min)
    for column in columns:
        assert got[column] == pytest.approx(expected[column], nan_ok=True), column


# --------------------------------------------------------------------------- rules and ratios


def _facilities(rows: list[tuple]) -> pd.DataFrame:
    columns = ["fid", "name", "kind", "beds", "doctors", "nurses", "ambulances", "township", "services"]
    frame = pd.DataFrame(rows, columns=columns)
    for c in ("beds", "doctors", "nurses", "ambulances"):
        frame[c] = pd.array(frame[c], dtype="Int64")
    return frame


SMALL = _facilities([
    ("H1", "县医院", "county_hospital", 200, 60, 70, 3, "东", "chest_pain;trauma;critical_maternal;critical_neonatal;"
     "infectious_dept;geriatrics_dept"),
    ("H2", "市医院", "city_hospital", 100, 30, 40, 0, "东", "rehab_dept"),
    ("S1", "中心卫生院", "subcentre", 30, 8, 6, 1, "西", "fever_sentinel;tcm_hall"),
    ("T1", "卫生院", "township_hc", 20, 5, 4, None, "东", "fever_sentinel"),
    ("VC1", "村卫生室", "village_clinic", None, 2, None, None, "西", ""),
])
SMALL_VILLAGES = pd.DataFrame({"vid": ["A", "B", "C"], "township": ["东", "东", "西"],
                               "setting": ["urban", "rural", "rural"], "population": [30000, 1200, 800]})


def _rules(facilities: pd.DataFrame = SMALL, settings: Settings = S) -> pd.DataFrame:
    return check_service_rules(SMALL_VILLAGES, facilities, settings, village_county=["县"] * 3,
                               facility_county=["县"] * len(facilities))


def _row(table: pd.DataFrame, rule: str, scope_id: str) -> pd.Series:
    rows = table[(table["rule_id"] == rule) & (table["scope_id"] == scope_id)]
    assert len(rows) == 1, (rule, scope_id, rows)
    return rows.iloc[0]


def test_four_of_five_centres_fails_naming_the_missing_one():
    table = _rules()
    assert list(table.columns) == COLUMNS
    row = _row(table, "FIVE-CENTRES", "县")
    assert row["value"] == 4 and not row["passed"] and row["target"] == 5
    assert "stroke" in row["note"] and "卒中中心" in row["note"]
    assert all(s not in row["note"] for s in EMERGENCY_CENTRES if s != "stroke")
    assert "城政办发〔2023〕28号" in row["source"]
    with_stroke = SMALL.assign(services=SMALL["services"].where(SMALL["fid"] != "H2", "rehab_dept;stroke"))
    assert _row(_rules(with_stroke), "FIVE-CENTRES", "县")["passed"]


def test_fever_infectious_tcm_and_geriatrics_rules():
    table = _rules()
    # A fever room or sentinel meets the rule at every township health centre, central ones included;
    # the central centre's fever clinic is asked for only where conditions allow (001 item 18): advisory.
    assert _row(table, "FEVER-SENTINEL", "S1")["status"] == "met" and _row(table, "FEVER-SENTINEL", "T1")["passed"]
    clinic = _row(table, "FEVER-CLINIC", "S1")
    assert clinic["status"] == "advisory" and pd.isna(clinic["passed"]) and "有条件的" in clinic["note"]
    assert _row(table, "FEVER-SENTINEL", "县")["value"] == pytest.approx(1.0)
    assert _row(table, "INFECTIOUS-DEPT", "H1")["passed"] and not _row(table, "INFECTIOUS-DEPT", "H2")["passed"]
    assert _row(table, "TCM-HALL", "S1")["passed"] and not _row(table, "TCM-HALL", "T1")["passed"]
    geriatrics = _row(table, "GERIATRICS", "县")  # 1 of 2 secondary or higher general hospitals
    assert geriatrics["value"] == pytest.approx(0.5) and geriatrics["status"] == "not_met"
    assert not (table["scope_id"] == "VC1").any()  # village clinics are not subject to these rules
    assert table["source"].str.len().gt(0).all()


def test_rehabilitation_rule_follows_the_county_size():
    # 32,000 residents: at most 300,000, so a county public hospital needs a rehabilitation clinic; the
    # rehabilitation department is at the city hospital, which is not county-run.
    table = _rules()
    assert "REHAB-DEPT" not in set(table["rule_id"])
    assert _row(table, "REHAB-OUTPATIENT", "县")["status"] == "not_met"
    low = settings_from_parameters({"rules": {"REHAB-DEPT": {"threshold": 10000}}})
    row = _row(_rules(settings=low), "REHAB-DEPT", "县")
    assert row["value"] == 0 and not row["passed"] and "10,000" in row["note"]
    with_rehab = SMALL.at[0, "services"] + ";rehab_dept"
    moved = SMALL.assign(services=SMALL["services"].where(SMALL["fid"] != "H1", with_rehab))
    assert _row(_rules(moved, low), "REHAB-DEPT", "县")["passed"]


def test_ratios_by_hand_for_the_county_only():
    table = _rules(SMALL.assign(gp=[4, 1, 2, 1, 0]))
    # County: 32,000 residents; 350 beds, 103 licensed physicians (the village clinic's 2 doctors are
    # village doctors), 120 nurses, 8 GPs, 4 ambulances.
    assert _row(table, "BEDS-TOTAL", "县")["value"] == pytest.approx(350 / 32, abs=1e-3)
    doctors = _row(table, "DOCTORS", "县")
    assert doctors["value"] == pytest.approx(103 / 32, abs=1e-3) and doctors["passed"]
    assert "乡村医生" in doctors["note"] and "indication" in doctors["note"]
    assert _row(table, "NURSES", "县")["value"] == pytest.approx(120 / 32, abs=1e-3)
    assert _row(table, "GP", "县")["value"] == pytest.approx(8 / 3.2, abs=1e-3)
    assert _row(table, "BEDS-TCM", "县")["value"] == 0
    assert _row(table, "EMS-AMB-POP", "县")["value"] == pytest.approx(4 / (32000 / 30000), abs=1e-3)
    # City-wide ratios are never reported per township (standards.md: scope).
    assert set(table["scope"]) <= {"county", "facility"}
    # Without a `gp` attribute the rule cannot be checked, and the row says which column would do it.
    gp = _row(_rules(), "GP", "县")
    assert gp["status"] == "not_applicable" and "`gp`" in gp["note"] and pd.isna(gp["passed"])


def test_rules_split_by_county():
    table = check_service_rules(SMALL_VILLAGES, SMALL, S, village_county=["甲", "甲", "乙"],
                                facility_county=["甲", "甲", "乙", "甲", "乙"])
    assert _row(table, "FIVE-CENTRES", "乙")["value"] == 0
    assert _row(table, "BEDS-TOTAL", "乙")["value"] == pytest.approx(30 / 0.8)
    assert _row(table, "EMS-AMB-POP", "甲")["value"] == pytest.approx(3 / (31200 / 30000), abs=1e-3)
    geriatrics = _row(table, "GERIATRICS", "乙")  # no secondary or higher hospital: says so
    assert geriatrics["status"] == "not_applicable" and "no secondary" in geriatrics["note"]


def test_sample_like_point_layers_keep_their_geometry():
    # add_service_access returns the village table with its geometry and rows intact.
    villages, facilities, networks, vxy, fxy = _stroke_network()
    out = add_service_access(villages, facilities, networks, vxy, fxy)
    assert isinstance(out, gpd.GeoDataFrame) and out.crs == villages.crs
    assert shapely.equals(out.geometry.to_numpy(), villages.geometry.to_numpy()).all()
    assert list(out["vid"]) == ["V1", "V2"]
