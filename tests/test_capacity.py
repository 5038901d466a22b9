"""Capacity-aware coverage: allocations worked out by hand, and invariants on random instances."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings as hsettings, strategies as st

from healthreach._errors import InputError
from healthreach.coverage.capacity import (
    CapacityOptions,
    allocate,
    capacity_coverage,
    facility_capacity,
    village_doctor_capacity,
)
from healthreach.coverage.network import build_network
from healthreach.config import Settings
from healthreach.coverage.village_rules import village_doctor_allowance
from healthreach.rules import RULES
from netfixtures import CRS, dense_pairs, drive_pairs, edge_table, xy

S = Settings()
# Villages on a 10 km tertiary road (and one on an island road); two township health centres.
VILLAGES = pd.DataFrame({"vid": ["V1", "V2", "V3", "V4"], "name": ["v1", "v2", "v3", "v4"],
                         "population": [600, 800, 900, 100], "township": ["T1", "T1", "T2", "T2"]})
VILLAGE_X = [1000, 3000, 6000, 50500]
FACILITIES = pd.DataFrame({"fid": ["F1", "F2", "C1"], "name": ["f1", "f2", "c1"],
                           "kind": ["township_hc", "subcentre", "village_clinic"], "township": ["T1", "T2", "T2"],
                           "doctors": [1, 2, 2], "beds": [7, 3, 0], "ambulances": [0, 0, 0]})
FACILITY_X = [0, 7000, 6000]


def drive():
    edges = edge_table([[(0, 0), (10000, 0)], [(50000, 0), (51000, 0)]])
    pts = xy([(x, 0) for x in VILLAGE_X + FACILITY_X])
    return build_network(edges, "drive", S, CRS, pts)


NET = drive()
PAIRS = drive_pairs(NET, len(VILLAGES), len(FACILITIES))


def township_rows(result):
    return result.facilities[result.facilities["tier"] == "township"].set_index("fid")


def test_largest_first_allocation_by_hand():
    # F2 (2,000 persons) first: V3 900 (1 km), V2 800 (4 km), then 300 of V1's 600 (6 km): full.
    # F1 (1,000) takes the other 300 of V1. V4 is on an island: residual 100.
    result = capacity_coverage(VILLAGES, FACILITIES, PAIRS, county="C")
    rows = township_rows(result)
    assert rows.loc["F2", "order"] == 1 and rows.loc["F1", "order"] == 2
    assert rows.loc["F2", "capacity"] == 2000 and rows.loc["F2", "served"] == 2000 and rows.loc["F2", "full"]
    assert rows.loc["F1", "served"] == 300 and not rows.loc["F1", "full"] and rows.loc["F1", "spare"] == 700
    assert rows.loc["F2", "villages_served"] == 3 and rows.loc["F1", "villages_served"] == 1
    assert result.residual["township"].tolist() == [0, 0, 0, 100]
    towns = result.townships[result.townships["tier"] == "township"].set_index("name")
    assert towns.loc["C", "served"] == 2300 and towns.loc["C", "residual"] == 100
    assert towns.loc["T2", "residual"] == 100 and towns.loc["T2", "share_served"] == pytest.approx(0.9)


def test_processing_order_changes_the_allocation():
    # Smallest first: F1 takes V1 600 and 400 of V2 (full); F2 then V3 900 and V2's other 400.
    result = capacity_coverage(VILLAGES, FACILITIES, PAIRS, county="C", options=CapacityOptions(descending=False))
    rows = township_rows(result)
    assert rows.loc["F1", "order"] == 1
    assert rows.loc["F1", "served"] == 1000 and rows.loc["F1", "full"]
    assert rows.loc["F2", "served"] == 1300 and not rows.loc["F2", "full"]
    assert result.residual["township"].tolist() == [0, 0, 0, 100]


def test_order_by_a_column_and_beds():
    # Capacity from beds (285 persons each): F1 1,995, F2 855; ordered by the beds column, largest first.
    options = CapacityOptions(source="beds", order_by="beds")
    rows = township_rows(capacity_coverage(VILLAGES, FACILITIES, PAIRS, county="C", options=options))
    assert rows.loc["F1", "capacity"] == 7 * 285 and rows.loc["F2", "capacity"] == 3 * 285
    # F1: V1 600, V2 800, V3 595 of 900 (full); F2: V3's other 305.
    assert rows.loc["F1", "served"] == 1995 and rows.loc["F2", "served"] == 305


def test_band_limits_what_a_facility_takes():
    # Village tier: clinic C1 (2 doctors: 1,500 persons under VD-PER-POP) at x = 6 km. Within 5 min
    # (3,333 m at 40 km/h) lie V3 (0 m) and V2 (3,000 m): it takes V3's 900 and 600 of V2's 800.
    result = capacity_coverage(VILLAGES, FACILITIES, PAIRS, county="C",
                               options=CapacityOptions(bands_min=(("village", 5.0),)))
    assert result.residual["village"].tolist() == [600, 200, 0, 100]
    row = result.facilities.set_index("fid").loc["C1"]
    assert row["capacity"] == 1500 and row["served"] == 1500 and row["full"] and row["villages_served"] == 2
    assert set(result.facilities["tier"]) == {"village"}


def test_village_doctor_capacity_inverts_vd_per_pop():
    assert [village_doctor_capacity(d) for d in (0, 1, 2, 3)] == [0, 1000, 1500, 2000]
    for population in range(1, 5000, 37):
        need = village_doctor_allowance(population, RULES["VD-PER-POP"])  # the most VD-PER-POP allows
        assert village_doctor_capacity(need) >= population
        assert need == 1 or village_doctor_capacity(need - 1) < population


def test_bad_options_name_the_problem():
    with pytest.raises(InputError, match="no column 'rank'"):
        capacity_coverage(VILLAGES, FACILITIES, PAIRS, county="C", options=CapacityOptions(order_by="rank"))
    with pytest.raises(InputError, match="'doctors' or 'beds'"):
        facility_capacity(FACILITIES, "township", CapacityOptions(source="nurses"))


@hsettings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_allocation_invariants(seed):
    rng = np.random.default_rng(seed)
    nf, nv = int(rng.integers(1, 6)), int(rng.integers(1, 12))
    population = rng.integers(0, 2000, nv).astype(float)
    capacity = rng.integers(0, 3000, nf)
    cost = rng.uniform(0, 5000, (nf, nv))
    cost[rng.random((nf, nv)) < 0.3] = np.inf
    limit = 3600.0
    order = rng.permutation(nf)
    alloc = allocate(population, dense_pairs(cost), capacity, order, limit)
    reference = _allocate_one_by_one(population, cost, capacity, order, limit)
    assert list(zip(alloc.facility, alloc.village)) == [(f, v) for f, v, _ in reference]
    np.testing.assert_allclose(alloc.persons, [p for _, _, p in reference])
    by_f = alloc.served_by_facility(nf)
    by_v = alloc.served_village(nv)
    assert (alloc.persons > 0).all()
    assert (by_f <= capacity + 1e-9).all()
    assert (by_v <= population + 1e-9).all()
    assert by_f.sum() == pytest.approx(by_v.sum())
    assert (cost[alloc.facility, alloc.village] <= limit).all()
    residual = population - by_v
    assert (residual >= -1e-9).all() and (residual + by_v == population).all()
    # A facility left with spare capacity took everyone within its band.
    for f in np.flatnonzero(by_f < capacity - 1e-9):
        assert (residual[cost[f] <= limit] == 0).all()
    # Each facility took its villages nearest first.
    for f in range(nf):
        mine = alloc.facility == f
        if mine.any():
            taken = cost[f, alloc.village[mine]]
            assert np.all(np.diff(taken) >= 0)


def _allocate_one_by_one(population, cost, capacity, order, limit):
    """AccessMod's procedure written plainly: each facility in turn, its villages nearest first."""
    remaining = population.astype(float).copy()
    out = []
    for f in order:
        spare = float(capacity[f])
        inside = np.flatnonzero(cost[f] <= limit + 1e-6)
        for v in inside[np.argsort(cost[f, inside], kind="stable")]:
            if spare <= 0:
                break
            take = min(remaining[v], spare)
            if take > 0:
                remaining[v] -= take
                spare -= take
                out.append((int(f), int(v), take))
    return out
