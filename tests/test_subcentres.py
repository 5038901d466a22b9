"""Sub-centre candidate ranking: criteria by hand, the seat township excluded, the score recomputed."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthreach._errors import InputError
from healthreach.coverage.network import build_network
from healthreach.config import Settings
from healthreach.coverage.subcentres import DEFAULT_WEIGHTS, rank_subcentres, seat_times
from healthreach.coverage.traveltime import nearest
from netfixtures import CRS, drive_pairs, edge_table, xy

S = Settings()
KMH = 3.6
# One 30 km tertiary road (40 km/h: 30 min = 20 km, 60 min = 40 km); the county hospital at x = 0.
VILLAGES = pd.DataFrame({"vid": ["V1", "V2", "V3", "V4", "V5", "V6"], "name": "v",
                         "population": [3000, 1000, 2000, 1500, 800, 500],
                         "township": ["Seat", "A", "A", "B", "C", "C"]})
VILLAGE_X = [2000, 9000, 15000, 22000, 26000, 29000]
FACILITIES = pd.DataFrame({
    "fid": ["H", "T0", "T1", "T2", "T3"], "name": ["h", "t0", "t1", "t2", "t3"],
    "kind": ["county_hospital", "township_hc", "township_hc", "township_hc", "subcentre"],
    "township": ["Seat", "Seat", "A", "B", "C"], "beds": [300, 50, 20, 30, 10], "doctors": [90, 20, 8, 12, 6],
    "ambulances": [2, 1, 1, 1, 1],
})
FACILITY_X = [0, 1000, 5000, 20000, 28000]


def drive():
    pts = xy([(x, 0) for x in VILLAGE_X + FACILITY_X])
    return build_network(edge_table([[(0, 0), (30000, 0)]]), "drive", S, CRS, pts)


NET = drive()
NV = len(VILLAGES)
PAIRS = drive_pairs(NET, NV, len(FACILITIES))
HOSPITAL_S = nearest(NET, NET.point_node[NV:NV + 1], toward=True).cost[NET.point_node[:NV]]


def rank(**kwargs):
    return rank_subcentres(VILLAGES.assign(hospital_time_s=HOSPITAL_S), FACILITIES, PAIRS,
                           seat_times(FACILITIES, NET, nv=NV), **kwargs)


def test_criteria_by_hand():
    table = rank().set_index("fid")
    assert table.loc["T1", "to_seat_s"] == pytest.approx(5000 / 40 * KMH, abs=0.05)
    assert table.loc["T3", "to_seat_s"] == pytest.approx(28000 / 40 * KMH, abs=0.05)
    assert (table["seat_hospital"] == "H").all()
    # Residents more than 30 min (20 km) from the hospital: V4, V5, V6 (2,800).
    # T1 at 5 km reaches V4 (17 km) within 30 min, all three within 60 min.
    assert table.loc["T1", "radiated_30min_pop"] == 1500 and table.loc["T1", "radiated_60min_pop"] == 2800
    assert table.loc["T2", "radiated_30min_pop"] == 2800
    assert table.loc["T0", "radiated_30min_pop"] == 0  # 30 min from T0 ends at 21 km: V4 is at 22 km
    assert table.loc["T1", "township_population"] == 3000 and table.loc["T3", "township_population"] == 1300
    assert table.loc["T2", "beds"] == 30 and table.loc["T3", "doctors"] == 6
    assert not table["large_town"].any()


def test_seat_township_is_excluded():
    table = rank()
    seat = table.set_index("fid").loc["T0"]
    assert seat["seat_township"] and not seat["eligible"]
    assert pd.isna(seat["rank"]) and np.isnan(seat["score"]) and "county-seat" in seat["note"]
    assert table["fid"].iloc[-1] == "T0"  # listed after the ranked candidates
    assert sorted(table["rank"].dropna().astype(int)) == [1, 2, 3]


def test_score_is_the_weighted_sum_of_the_shown_components():
    table = rank()
    ok = table[table["eligible"]]
    expected = np.zeros(len(ok))
    for key, weight in DEFAULT_WEIGHTS.items():
        raw = ok[key].to_numpy(dtype=float)
        spread = raw.max() - raw.min()
        norm = (raw - raw.min()) / spread if spread > 0 else np.zeros(len(raw))
        np.testing.assert_allclose(ok[f"{key}_norm"].to_numpy(dtype=float), norm)
        expected += weight * norm
    np.testing.assert_allclose(ok["score"].to_numpy(dtype=float), expected)
    assert list(ok["score"]) == sorted(ok["score"], reverse=True)
    assert list(ok["rank"]) == [1, 2, 3]


def test_weights_change_the_ranking():
    by_distance = rank(weights={"to_seat_s": 1.0})
    assert by_distance["fid"].tolist()[:3] == ["T3", "T2", "T1"]
    by_size = rank(weights={"township_population": 1.0})
    assert by_size["fid"].iloc[0] == "T1"
    with pytest.raises(InputError, match="unknown criteria nurses"):
        rank(weights={"nurses": 1.0})
