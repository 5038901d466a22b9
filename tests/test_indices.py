"""2SFCA and E2SFCA: by hand, by invariant, and against PySAL `access` on the same cost matrix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from access import Access, weights

from healthreach.coverage.indices import E2SFCA_STEPS, cost_pairs, fca, fca_tables, step_weights
from healthreach.coverage.network import build_network
from healthreach.config import Settings
from healthreach.coverage.traveltime import bounded_costs
from netfixtures import CRS, drive_pairs, edge_table, xy

S = Settings()
# A tree of tertiary roads (40 km/h = 666.7 m per minute), 25 km east-west with two branches north.
# No village lies exactly 30 min from a facility: the catchment edge is inclusive here (within a
# microsecond) and exact in PySAL, which would make a tie differ by rounding alone.
ROADS = [[(0, 0), (8000, 0)], [(8000, 0), (17000, 0)], [(17000, 0), (25000, 0)], [(8000, 0), (8000, 9000)],
         [(17000, 0), (17000, 6000)]]
VILLAGE_XY = [(500, 0), (3000, 0), (7000, 0), (8000, 3900), (8000, 9000), (12000, 0), (16000, 0),
              (17000, 3000), (17000, 6000), (21200, 0), (24500, 0), (2000, 0)]
POPULATION = [1200, 800, 450, 2300, 300, 1500, 950, 700, 260, 1800, 640, 380]
FACILITY_XY = [(1000, 0), (8000, 1000), (16500, 0), (24000, 0), (10000, 0)]
FACILITIES = pd.DataFrame({
    "fid": ["H1", "T1", "T2", "T3", "E1"], "name": ["h1", "t1", "t2", "t3", "e1"],
    "kind": ["county_hospital", "township_hc", "township_hc", "subcentre", "ems_centre"],
    "doctors": [40, 6, 9, 12, 8], "beds": [200, 20, 15, 40, 0], "township": ["A", "A", "B", "B", "A"],
})
VILLAGES = pd.DataFrame({"vid": [f"V{i:02d}" for i in range(len(VILLAGE_XY))], "name": "v",
                         "population": POPULATION, "township": ["A"] * 6 + ["B"] * 6})


def drive():
    pts = xy(VILLAGE_XY + FACILITY_XY)
    return build_network(edge_table(ROADS), "drive", S, CRS, pts)


NET = drive()
NV = len(VILLAGES)
PAIRS = drive_pairs(NET, NV, len(FACILITIES), limit_s=1800.0)


def cost_minutes() -> np.ndarray:
    """Facilities (ambulance base left out) x villages, minutes; inf beyond 60 min."""
    nodes = NET.point_node[NV + np.arange(4)]
    return bounded_costs(NET, nodes, 3600.0)[:, NET.point_node[:NV]] / 60


def test_two_sfca_by_hand():
    # One facility with 2 doctors, villages of 1,000 and 3,000 residents within reach, one beyond.
    cost_s = np.array([[600.0, 900.0, 2400.0]])
    pairs = cost_pairs(cost_s, 30)
    access = fca(np.array([2.0]), np.array([1000.0, 3000.0, 500.0]), pairs)
    assert access * 1000 == pytest.approx([0.5, 0.5, 0.0])
    # E2SFCA: weights 1 and 0.68; R = 2 / (1000 + 0.68 x 3000) per person.
    enhanced = fca(np.array([2.0]), np.array([1000.0, 3000.0, 500.0]), pairs, E2SFCA_STEPS)
    ratio = 2 / (1000 + 0.68 * 3000)
    assert enhanced == pytest.approx([ratio, 0.68 * ratio, 0.0])


def test_step_weights_match_pysal_step_function():
    minutes = np.array([0, 5, 10, 10.0001, 20, 25, 30, 30.5, 100])
    fn = weights.step_fn({upper: w for upper, w in E2SFCA_STEPS})
    assert step_weights(minutes, E2SFCA_STEPS).tolist() == [fn(m) for m in minutes]


def test_supply_is_conserved():
    # Sum over villages of population x access equals the supply of every facility someone reaches.
    table, towns = fca_tables(VILLAGES, FACILITIES, PAIRS, county="C")
    pop = table["population"].to_numpy()
    cost = cost_minutes()
    reached = (cost <= 30).any(axis=1)
    for resource in ("doctors", "beds"):
        supply = FACILITIES[resource].to_numpy()[:4]
        assert pop @ table[f"{resource}_2sfca"] / 1000 == pytest.approx(supply[reached].sum(), rel=1e-12)
        assert pop @ table[f"{resource}_e2sfca"] / 1000 == pytest.approx(supply[reached].sum(), rel=1e-12)
    county = towns.set_index("scope").loc["county"]
    assert county["doctors_2sfca"] == pytest.approx(FACILITIES["doctors"][:4][reached].sum() / pop.sum() * 1000)
    town_a = towns.set_index("name").loc["A"]
    mask = (table["township"] == "A").to_numpy()
    assert town_a["beds_e2sfca"] == pytest.approx(np.average(table["beds_e2sfca"][mask], weights=pop[mask]))


@pytest.mark.parametrize("method", ["2sfca", "e2sfca"])
def test_against_pysal_access(method):
    table, _ = fca_tables(VILLAGES, FACILITIES, PAIRS, county="C")
    cost = cost_minutes()
    assert not (np.abs(cost - 30) < 0.01).any()  # no ties at the catchment edge (see ROADS)
    f, v = np.nonzero(np.isfinite(cost))
    long = pd.DataFrame({"origin": VILLAGES["vid"].to_numpy()[v], "dest": FACILITIES["fid"].to_numpy()[f],
                         "cost": cost[f, v]})
    demand = VILLAGES.set_index("vid")[["population"]].astype(float)
    supply = FACILITIES.iloc[:4].set_index("fid")[["doctors", "beds"]].astype(float)
    model = Access(demand_df=demand, demand_index=True, demand_value="population", supply_df=supply,
                   supply_index=True, supply_value=["doctors", "beds"], cost_df=long, cost_origin="origin",
                   cost_dest="dest", cost_name="cost")
    if method == "2sfca":
        theirs = model.two_stage_fca(name="x", max_cost=30)
    else:
        theirs = model.enhanced_two_stage_fca(name="x", max_cost=30,
                                               weight_fn=weights.step_fn(dict(E2SFCA_STEPS)))
    theirs = theirs.reindex(VILLAGES["vid"]).fillna(0.0)
    ours = table.set_index("vid")
    assert (ours[f"doctors_{method}"] > 0).sum() >= 8  # the fixture exercises overlapping catchments
    for resource in ("doctors", "beds"):
        np.testing.assert_allclose(ours[f"{resource}_{method}"].to_numpy(),
                                   theirs[f"x_{resource}"].to_numpy() * 1000, rtol=1e-9, atol=0)
