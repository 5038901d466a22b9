"""Ranking township health centres as sub-centre candidates (SUBCENTRE-CRITERIA of standards.md).

The plans ask for sub-centres far from the county seat, with a large radiated population and strong
service capacity, outside the county-seat town (seed 000 §二(一)3, 001 item 2, 003 §四(三)1). Every
criterion is a column; the score is a weighted sum of the criteria min-max normalised to 0-1 over the
eligible candidates, with the weights in one dict, so a planner can recompute any rank by hand.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from healthreach._errors import InputError
from healthreach.coverage.access import tier_mask
from healthreach.coverage.network import Network
from healthreach.coverage.pairs import CostPairs
from healthreach.coverage.traveltime import nearest
from healthreach.tiers import THC_KINDS

# Residents farther than this from every hospital (minutes by car) are the population a sub-centre
# would serve in the hospital's stead (the "radiated" population).
FAR_FROM_HOSPITAL_MIN = 30.0
RADIATED_BANDS_MIN = (30, 60)
# Non-county-seat towns of at least this population are preferred (seed 003 §四(三)1).
LARGE_TOWN = 100_000
# Default weights (sum 1): distance from the seat and radiated population weigh most, as the plans
# list them first; capacity and township size complete the picture.
DEFAULT_WEIGHTS: dict[str, float] = {
    "to_seat_s": 0.25,
    "radiated_30min_pop": 0.20,
    "radiated_60min_pop": 0.15,
    "beds": 0.10,
    "doctors": 0.10,
    "township_population": 0.20,
}
RANKING_COLUMNS = ["rank", "score", "fid", "name", "kind", "township", "seat_township", "large_town",
                   "eligible", "seat_hospital", *DEFAULT_WEIGHTS, *(f"{k}_norm" for k in DEFAULT_WEIGHTS), "note"]


def min_max(values: np.ndarray) -> np.ndarray:
    """Values scaled to 0-1 (min -> 0, max -> 1); NaN stays NaN; all 0 when every value is equal,
    since a criterion without spread cannot rank."""
    finite = values[np.isfinite(values)]
    if not len(finite):
        return np.full(len(values), np.nan)
    low, high = finite.min(), finite.max()
    if high - low <= 0:
        return np.where(np.isfinite(values), 0.0, np.nan)
    return (values - low) / (high - low)


def seat_hospitals(facilities: pd.DataFrame) -> np.ndarray:
    """Positions of the county-seat hospitals: the county hospitals, or every hospital when none."""
    seat = np.flatnonzero(facilities["kind"].to_numpy(dtype=object) == "county_hospital")
    return seat if len(seat) else np.flatnonzero(tier_mask(facilities, "hospital"))


def seat_times(facilities: pd.DataFrame, drive: Network, *, nv: int) -> pd.DataFrame:
    """Driving seconds from every township health centre to the county seat (its nearest county
    hospital; any hospital when the county has none), toward the hospital.

    One row per facility of `facilities` (NaN and NA for the others and where unreachable):
    `to_seat_s`, `seat_hospital` (fid). Villages are points 0..nv-1 of `drive`, facilities nv...
    """
    kinds = facilities["kind"].to_numpy(dtype=object)
    seat = seat_hospitals(facilities)
    thc = np.flatnonzero(np.isin(kinds, THC_KINDS))
    to_seat = nearest(drive, drive.point_node[nv + seat], toward=True)
    nodes = drive.point_node[nv + thc]
    cost, source = to_seat.cost[nodes], to_seat.source[nodes]
    seconds = np.full(len(facilities), np.nan)
    seconds[thc] = np.where(np.isfinite(cost), np.round(cost, 1), np.nan)
    fids = facilities["fid"].to_numpy(dtype=object)
    hospital = np.full(len(facilities), None, dtype=object)
    hospital[thc] = [fids[seat[s]] if s >= 0 else None for s in source]
    return pd.DataFrame({"to_seat_s": seconds, "seat_hospital": pd.array(hospital, dtype="string")},
                        index=facilities.index)


def rank_subcentres(villages: pd.DataFrame, facilities: pd.DataFrame, pairs: CostPairs, seat: pd.DataFrame, *,
                    weights: dict[str, float] | None = None) -> pd.DataFrame:
    """One row per township health centre (kinds subcentre and township_hc), best candidate first.

    Criteria: `to_seat_s` driving seconds to the county hospital (from `seat_times`),
    `radiated_30min_pop` / `radiated_60min_pop` residents (persons) within 30 / 60 min of the centre
    who are more than FAR_FROM_HOSPITAL_MIN from every hospital (the villages' `hospital_time_s`),
    `beds`, `doctors`, and `township_population` (persons); each criterion's 0-1 value is shown in
    `<name>_norm`. Centres in the county-seat township are not eligible (the plans exclude the seat)
    and get no score. `pairs`: drive-toward seconds from the villages (targets) to the facilities
    (sources), complete within 60 minutes.
    """
    weights = dict(DEFAULT_WEIGHTS if weights is None else weights)
    unknown = sorted(set(weights) - set(DEFAULT_WEIGHTS))
    if unknown:
        raise InputError(f"sub-centre weights: unknown criteria {', '.join(unknown)} "
                         f"(expected some of {', '.join(DEFAULT_WEIGHTS)})")
    kinds = facilities["kind"].to_numpy(dtype=object)
    thc = np.flatnonzero(np.isin(kinds, THC_KINDS))
    fids = facilities["fid"].to_numpy(dtype=object)
    towns = facilities["township"].to_numpy(dtype=object)
    seat_towns = {str(t) for t in towns[seat_hospitals(facilities)] if isinstance(t, str)}
    population = pd.to_numeric(villages["population"], errors="coerce").fillna(0).to_numpy(dtype=float)
    hospital_time = villages["hospital_time_s"].to_numpy(dtype=float)
    far = ~(hospital_time <= FAR_FROM_HOSPITAL_MIN * 60 + 1e-6)
    town_pop = pd.Series(population).groupby(villages["township"].to_numpy(dtype=object)).sum()

    table = pd.DataFrame({
        "fid": fids[thc], "name": facilities["name"].to_numpy(dtype=object)[thc], "kind": kinds[thc],
        "township": towns[thc],
    })
    table["seat_township"] = np.array([isinstance(t, str) and t in seat_towns for t in towns[thc]], dtype=bool)
    table["eligible"] = ~table["seat_township"].to_numpy(dtype=bool)
    table["seat_hospital"] = pd.array(seat["seat_hospital"].to_numpy(dtype=object)[thc], dtype="string")
    table["to_seat_s"] = seat["to_seat_s"].to_numpy(dtype=float)[thc]
    row_of = np.full(len(facilities), -1, dtype=np.int64)
    row_of[thc] = np.arange(len(thc))
    mine = row_of[pairs.source] >= 0
    rows, targets, cost = row_of[pairs.source[mine]], pairs.target[mine], pairs.cost[mine]
    for band in RADIATED_BANDS_MIN:
        within = (cost <= band * 60 + 1e-6) & far[targets]
        table[f"radiated_{band}min_pop"] = np.bincount(rows[within], weights=population[targets[within]],
                                                       minlength=len(thc))
    for resource in ("beds", "doctors"):
        table[resource] = pd.to_numeric(facilities[resource].iloc[thc], errors="coerce").to_numpy(dtype=float)
    table["township_population"] = np.array([float(town_pop.get(t, 0.0)) for t in towns[thc]], dtype=float)
    table["large_town"] = table["township_population"].to_numpy() >= LARGE_TOWN

    eligible = table["eligible"].to_numpy(dtype=bool)
    score = np.zeros(len(table))
    for key in DEFAULT_WEIGHTS:
        values = table[key].to_numpy(dtype=float).copy()
        values[~eligible] = np.nan
        norm = min_max(values)
        table[f"{key}_norm"] = norm
        score += weights.get(key, 0.0) * np.nan_to_num(norm, nan=0.0)
    table["score"] = np.where(eligible, score, np.nan)
    table["rank"] = table["score"].rank(ascending=False, method="min").astype("Int64")
    table["note"] = [_note(row) for row in table.itertuples()]
    table = table.sort_values(["rank", "fid"], na_position="last", kind="stable").reset_index(drop=True)
    return table[RANKING_COLUMNS]


def _note(row: Any) -> str:
    notes = []
    if row.seat_township:
        notes.append("in the county-seat township: excluded by the plans")
    if not np.isfinite(row.to_seat_s):
        notes.append("county hospital not reachable by road: distance criterion counted 0")
    for resource, value in (("beds", row.beds), ("doctors", row.doctors)):
        if not np.isfinite(value):
            notes.append(f"{resource} not recorded: counted 0")
    return "; ".join(notes)
