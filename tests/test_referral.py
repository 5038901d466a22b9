"""Referral times and the three-tier emergency chain on hand-built roads (times worked out by hand)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest

from healthreach.coverage.network import build_network
from healthreach.coverage.referral import complete_chains, ems_three_tier, ems_three_tier_standards, referral_times
from healthreach.config import Settings
from healthreach.rules import RULES
from netfixtures import CRS, edge_table, xy

S = Settings()
KMH = 3.6  # seconds per metre at 1 km/h
ROAD = [[(0, 0), (10000, 0)]]  # tertiary: 40 km/h driving, ambulances capped at its design speed 40


def facilities(rows: list[tuple[str, str, str, float, int]]) -> pd.DataFrame:
    """(fid, kind, township, x, ambulances) rows; every point lies on the road y=0."""
    return pd.DataFrame({
        "fid": [r[0] for r in rows], "name": [f"name {r[0]}" for r in rows], "kind": [r[1] for r in rows],
        "township": [r[2] for r in rows], "x": [r[3] for r in rows], "ambulances": [r[4] for r in rows],
        "beds": 10, "doctors": 5,
    })


def network(edges: gpd.GeoDataFrame, fac: pd.DataFrame, mode: str, village_x: tuple[float, ...] = (500.0,)):
    pts = xy([(x, 0) for x in village_x] + [(x, 0) for x in fac["x"]])
    return build_network(edges, mode, S, CRS, pts), len(village_x)


def test_referral_times_by_hand():
    fac = facilities([("H", "county_hospital", "T0", 0, 0), ("A", "township_hc", "T1", 2000, 1),
                      ("S", "subcentre", "T2", 5000, 1), ("B", "township_hc", "T3", 8000, 0)])
    net, nv = network(edge_table(ROAD), fac, "drive")
    table = referral_times(fac, net, nv=nv).set_index("fid")
    assert list(table.index) == ["A", "S", "B"]
    assert table.loc["A", "hospital_time_s"] == pytest.approx(2000 / 40 * KMH, abs=0.05)
    assert table.loc["B", "hospital_time_s"] == pytest.approx(8000 / 40 * KMH, abs=0.05)
    assert table.loc["B", "hospital_dist_m"] == pytest.approx(8000, abs=0.05)
    assert table.loc["A", "subcentre_fid"] == "S" and table.loc["B", "subcentre_fid"] == "S"
    assert table.loc["A", "subcentre_time_s"] == pytest.approx(3000 / 40 * KMH, abs=0.05)
    assert table.loc["B", "subcentre_dist_m"] == pytest.approx(3000, abs=0.05)
    # A sub-centre refers to the hospital, not to itself.
    assert table.loc["S", "hospital_fid"] == "H" and pd.isna(table.loc["S", "subcentre_time_s"])


def test_referral_is_measured_toward_the_hospital_on_one_way_roads():
    # One-way from east to west: THC -> hospital is possible, the way back is not.
    edges = edge_table([[(8000, 0), (0, 0)]], oneway=True)
    fac = facilities([("H", "county_hospital", "T0", 0, 0), ("A", "township_hc", "T1", 8000, 1)])
    net, nv = network(edges, fac, "drive", village_x=(4000.0,))
    row = referral_times(fac, net, nv=nv).iloc[0]
    assert row["hospital_time_s"] == pytest.approx(8000 / 40 * KMH, abs=0.05)
    assert row["note"] == "no subcentre in the county"


def test_unreachable_hospital_is_empty_never_zero():
    edges = edge_table([[(0, 0), (1000, 0)], [(5000, 0), (6000, 0)]])
    fac = facilities([("H", "county_hospital", "T0", 0, 0), ("A", "township_hc", "T1", 5500, 1)])
    net, nv = network(edges, fac, "drive")
    row = referral_times(fac, net, nv=nv).iloc[0]
    assert np.isnan(row["hospital_time_s"]) and pd.isna(row["hospital_fid"])
    assert "no hospital reachable by road" in row["note"]


CHAIN = [("E", "ems_centre", "T0", 0, 3), ("A", "township_hc", "T1", 1000, 1), ("S", "subcentre", "T2", 4000, 1),
         ("B", "township_hc", "T3", 9000, 0)]


def test_three_tier_chain_by_hand():
    fac = facilities(CHAIN)
    net, nv = network(edge_table(ROAD), fac, "ambulance")
    chains = complete_chains(ems_three_tier(fac, net, nv=nv), fac, ["T1", "T2", "T3", "T4"]).set_index("township")
    speed = 40 / KMH  # metres per second
    a, s, b = chains.loc["T1"], chains.loc["T2"], chains.loc["T3"]
    assert a["subcentre_fid"] == "S" and a["centre_id"] == "E"
    assert a["centre_to_subcentre_s"] == pytest.approx(4000 / speed, abs=0.05)
    assert a["subcentre_to_thc_s"] == pytest.approx(3000 / speed, abs=0.05)
    assert a["chain_s"] == pytest.approx(7000 / speed, abs=0.1)
    assert a["linked"] and a["gap"] == ""
    assert s["subcentre_fid"] == "S" and s["subcentre_to_thc_s"] == 0 and s["linked"]
    assert b["subcentre_to_thc_m"] == pytest.approx(5000, abs=0.05)
    assert not b["linked"] and b["gap"] == "township health centre without ambulance"
    assert not chains.loc["T4", "linked"] and chains.loc["T4", "gap"] == "no township health centre in the township"

    # Standards rows: a hospital H at x=0 receives referrals (it plays no part in the dispatch chain).
    with_h = facilities(CHAIN + [("H", "county_hospital", "T0", 0, 0)])
    drive, nv = network(edge_table(ROAD), with_h, "drive")
    villages = pd.DataFrame({"vid": ["v1", "v3"], "name": ["村一", "村三"], "township": ["T1", "T3"],
                             "setting": "rural", "population": [300, 200], "township_time_s": [60.0, np.nan]})
    rows = ems_three_tier_standards(chains.reset_index(), S, referral=referral_times(with_h, drive, nv=nv),
                                    villages=villages, facilities=with_h, village_county=["县"] * 2,
                                    facility_county=["县"] * 5)
    ems = rows[rows["rule_id"] == "EMS-3TIER"].set_index("scope_id")
    assert list(ems.index) == ["T1", "T2", "T3", "T4"]
    # T3's centre has no ambulance: a gap of EMS-AMB-THC, not of the dispatch chain (003 §四(一)6 names tiers).
    assert ems["status"].tolist() == ["met", "met", "met", "not_met"]
    assert ems["passed"].tolist() == [True, True, True, False]
    assert ems.loc["T1", "value"] == pytest.approx(7000 / speed / 60, abs=0.01)
    assert ems.loc["T3", "value"] == pytest.approx(9000 / speed / 60, abs=0.01)
    assert "EMS-AMB-THC" in ems.loc["T3", "note"] and ems.loc["T4", "note"] == "no township health centre in the township"
    assert (ems["source"] == RULES["EMS-3TIER"].source).all() and "seed 003" in RULES["EMS-3TIER"].source
    assert "seed 000" not in RULES["EMS-3TIER"].source and "seed 000" in RULES["REFERRAL-3TIER"].source
    # The county-township-village network: T1 and T2 linked (centres with ambulances, hospital 1 km and
    # 4 km away at 40 km/h); T3's centre has no ambulance and its village reaches no centre; T4 has none.
    referral = rows[rows["rule_id"] == "REFERRAL-3TIER"].set_index("scope_id")
    assert referral["status"].tolist() == ["met", "met", "not_met", "not_met"]
    assert referral.loc["T1", "value"] == pytest.approx(1000 / 40 * KMH / 60, abs=0.01)
    assert referral.loc["T2", "value"] == pytest.approx(4000 / 40 * KMH / 60, abs=0.01)
    assert "no ambulance" in referral.loc["T3", "note"] and "村三" in referral.loc["T3", "note"]
    assert "no township health centre" in referral.loc["T4", "note"]


def test_emergency_networks_do_not_apply_to_urban_subdistricts():
    fac = facilities([("E", "ems_centre", "东关街道", 0, 3), ("C", "community_centre", "东关街道", 1000, 0)])
    net, nv = network(edge_table(ROAD), fac, "ambulance")
    chains = complete_chains(ems_three_tier(fac, net, nv=nv), fac, ["东关街道"])
    villages = pd.DataFrame({"vid": ["c1"], "name": ["社区"], "township": ["东关街道"], "setting": "urban",
                             "population": [5000], "township_time_s": [np.nan]})
    rows = ems_three_tier_standards(chains, S, referral=referral_times(fac, net, nv=nv), villages=villages,
                                    facilities=fac, village_county=["某区"], facility_county=["某区"] * 2)
    assert rows["scope"].tolist() == ["county", "county"] and set(rows["status"]) == {"not_applicable"}
    assert rows["passed"].isna().all() and rows["note"].str.contains("街道").all()


def test_chain_runs_in_dispatch_direction():
    # Roads one-way eastward: ambulances drive out from the centre, nothing can drive back west.
    edges = edge_table([[(0, 0), (4000, 0)], [(4000, 0), (10000, 0)]], oneway=True)
    fac = facilities([("E", "ems_centre", "T0", 0, 3), ("S", "subcentre", "T2", 4000, 1),
                      ("A", "township_hc", "T1", 7000, 1), ("W", "township_hc", "T3", 2000, 1)])
    net, nv = network(edges, fac, "ambulance", village_x=(9500.0,))
    chains = ems_three_tier(fac, net, nv=nv).set_index("township")
    assert chains.loc["T1", "linked"], chains.loc["T1", "gap"]
    assert chains.loc["T1", "chain_s"] == pytest.approx(7000 / 40 * KMH, abs=0.1)
    # West of the sub-centre: reachable from the centre, but not from the sub-centre downstream.
    assert chains.loc["T3", "gap"] == "township health centre unreachable from every sub-centre"


@pytest.mark.parametrize("rows, gap", [
    ([r for r in CHAIN if r[0] != "S"], "no sub-centre in the county"),
    ([r for r in CHAIN if r[0] != "E"], "no emergency centre in the county"),
])
def test_missing_tier_is_flagged(rows, gap):
    fac = facilities(rows)
    net, nv = network(edge_table(ROAD), fac, "ambulance")
    chains = ems_three_tier(fac, net, nv=nv)
    a = chains.set_index("thc_id").loc["A"]
    assert not a["linked"] and a["gap"] == gap and np.isnan(a["chain_s"])


def test_unreachable_links_are_flagged():
    # The sub-centre sits on an island road: no ambulance reaches it, nor it the THCs.
    edges = edge_table([[(0, 0), (2000, 0)], [(20000, 0), (21000, 0)]])
    fac = facilities([("E", "ems_centre", "T0", 0, 3), ("A", "township_hc", "T1", 1000, 1),
                      ("S", "subcentre", "T2", 20500, 1)])
    net, nv = network(edges, fac, "ambulance")
    chains = ems_three_tier(fac, net, nv=nv).set_index("thc_id")
    assert chains.loc["A", "gap"] == "township health centre unreachable from every sub-centre"
    assert chains.loc["S", "gap"] == "sub-centre unreachable from the emergency centre"
    assert not chains["linked"].any()
