"""Capacity-aware coverage in the manner of AccessMod's geographic coverage analysis.

Facilities of a tier are processed one after another in a stated order (default: largest capacity
first, AccessMod's option). Each takes the residents of the villages within its travel-time band, the
nearest villages first, until its capacity (persons) is used up; the last village may be taken in part.
Residents already taken by an earlier facility are not taken again. What no facility takes is the
residual: people who can reach a facility in time but find it full, or who reach none.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from healthreach.coverage.masks import equal_masks
from healthreach._errors import InputError
from healthreach.coverage.access import tier_mask
from healthreach.coverage.pairs import CostPairs

# Assumptions (no seed fixes them; override through CapacityOptions):
# - village tier: capacity from doctors by inverting VD-PER-POP (1 doctor for the first 1,000 served
#   residents, +1 per further 500), so a clinic that meets the rule for its village is exactly full.
# - township tier: 1,000 persons per doctor, the same first-doctor ratio of VD-PER-POP, for lack of a
#   township figure in the seeds.
# - beds, when chosen: 1,000 / 3.5 = 285 persons per bed, the inverse of BEDS-COUNTY (3.5 per 1,000).
# - bands: the run's `capacity_bands_min` (healthreach.config.Settings): by default the largest band
#   for township health centres and 30 min for village clinics.
PERSONS_PER_TOWNSHIP_DOCTOR = 1000
PERSONS_PER_BED = math.floor(1000 / 3.5)
FACILITY_COLUMNS = ["tier", "order", "fid", "name", "kind", "township", "doctors", "beds", "capacity",
                    "served", "spare", "full", "villages_served", "band_min", "note"]
TOWNSHIP_COLUMNS = ["tier", "scope", "name", "population", "capacity", "served", "residual", "share_served"]


@dataclass(frozen=True)
class CapacityOptions:
    """How capacity is derived and the order facilities are processed in (persons, minutes)."""

    source: str = "doctors"
    """'doctors' or 'beds': the resource that sets a facility's capacity."""
    persons_per_township_doctor: int = PERSONS_PER_TOWNSHIP_DOCTOR
    persons_per_bed: int = PERSONS_PER_BED
    order_by: str = "capacity"
    """Column of the facility table (or 'capacity') to process facilities by; ties keep table order."""
    descending: bool = True
    bands_min: tuple[tuple[str, float], ...] = (("township", 60.0), ("village", 30.0))
    """(tier, minutes driving toward the facility) in the order the tiers are allocated."""


def village_doctor_capacity(doctors: float) -> int:
    """Residents (persons) `doctors` village doctors may serve under VD-PER-POP: 1,000 for the first,
    500 for each further one; 0 without a doctor."""
    d = int(doctors)
    return 0 if d < 1 else 1000 + 500 * (d - 1)


def facility_capacity(facilities: pd.DataFrame, tier: str, options: CapacityOptions) -> np.ndarray:
    """Capacity (persons) of each facility row when counted in `tier` ('village' or 'township')."""
    if options.source not in ("doctors", "beds"):
        raise InputError(f"capacity source: expected 'doctors' or 'beds', got {options.source!r}")
    resource = pd.to_numeric(facilities[options.source], errors="coerce").fillna(0).to_numpy(dtype=float)
    if options.source == "beds":
        return np.floor(resource * options.persons_per_bed).astype(np.int64)
    if tier == "village":
        return np.array([village_doctor_capacity(d) for d in resource], dtype=np.int64)
    return np.floor(resource * options.persons_per_township_doctor).astype(np.int64)


def processing_order(facilities: pd.DataFrame, capacity: np.ndarray, options: CapacityOptions) -> np.ndarray:
    """Positions of `facilities` in processing order: by `options.order_by`, ties in table order."""
    if options.order_by == "capacity":
        key = capacity.astype(float)
    elif options.order_by in facilities:
        key = pd.to_numeric(facilities[options.order_by], errors="coerce").to_numpy(dtype=float)
        if np.isnan(key).any():
            bad = int(np.flatnonzero(np.isnan(key))[0])
            raise InputError(f"facilities: row {bad + 1} (fid {facilities['fid'].iat[bad]}): field "
                             f"{options.order_by!r}: expected a number to order capacity allocation by")
    else:
        raise InputError(f"facilities: no column {options.order_by!r} to order capacity allocation by "
                         f"(expected 'capacity' or one of {', '.join(map(str, facilities.columns))})")
    return np.argsort(-key if options.descending else key, kind="stable")


@dataclass(frozen=True)
class Allocation:
    """Who serves whom: one entry per (facility, village) pair that took residents (persons)."""

    facility: np.ndarray
    village: np.ndarray
    persons: np.ndarray

    def served_by_facility(self, n_facilities: int) -> np.ndarray:
        """Persons each facility serves."""
        return np.bincount(self.facility, weights=self.persons, minlength=n_facilities)

    def served_village(self, n_villages: int) -> np.ndarray:
        """Persons of each village served by some facility."""
        return np.bincount(self.village, weights=self.persons, minlength=n_villages)


def allocate(population: np.ndarray, pairs: CostPairs, capacity: np.ndarray, order: np.ndarray,
             limit: float) -> Allocation:
    """Allocate village residents (persons) to facilities processed in `order`.

    `pairs` holds the (facility, village, seconds) pairs within reach, facilities numbered as
    `capacity`, sorted by (facility, seconds, village) as CostPairs are; `limit` is the band in seconds
    (inclusive). Each facility takes its villages nearest first (ties in village order) until its
    capacity is used up.
    """
    remaining = population.astype(float).copy()
    inside = pairs.cost <= limit + 1e-6
    fac_all, vil_all = pairs.source[inside], pairs.target[inside]
    starts = np.searchsorted(fac_all, np.arange(len(capacity) + 1))
    fac: list[np.ndarray] = []
    vil: list[np.ndarray] = []
    persons: list[np.ndarray] = []
    for f in order:
        spare = float(capacity[f])
        if spare <= 0:
            continue
        villages = vil_all[starts[f]:starts[f + 1]]
        want = remaining[villages]
        # Taking nearest first until full is the running sum of what the villages still need, capped.
        before = np.concatenate([[0.0], np.cumsum(want)[:-1]])
        take = np.clip(spare - before, 0.0, want)
        took = take > 0
        remaining[villages[took]] -= take[took]
        fac.append(np.full(int(took.sum()), f, dtype=np.int64))
        vil.append(villages[took])
        persons.append(take[took])
    if not fac:
        return Allocation(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0))
    return Allocation(np.concatenate(fac), np.concatenate(vil), np.concatenate(persons))


@dataclass(frozen=True)
class CapacityCoverage:
    """Capacity-aware coverage of the village and township tiers."""

    facilities: pd.DataFrame
    """One row per facility and tier (FACILITY_COLUMNS): capacity, served, spare (persons), full."""
    townships: pd.DataFrame
    """Per tier, county and township: population, capacity, served, residual (persons)."""
    residual: dict[str, np.ndarray]
    """Per tier, residents of each village (in village order) left unserved (persons)."""


def capacity_coverage(villages: pd.DataFrame, facilities: pd.DataFrame, pairs: CostPairs, *, county: str,
                      options: CapacityOptions | None = None) -> CapacityCoverage:
    """Capacity-aware coverage of the village tier (village clinics) and the township tier (township
    health centres and sub-centres), driving toward the facility.

    `pairs` are the drive-toward cost pairs of the facilities (numbered as in `facilities`) to the
    villages (numbered as in `villages`) within at least each tier's band.
    """
    options = options or CapacityOptions()
    nv = len(villages)
    population = pd.to_numeric(villages["population"], errors="coerce").fillna(0).to_numpy(dtype=float)
    rows: list[pd.DataFrame] = []
    town_rows: list[dict] = []
    residual: dict[str, np.ndarray] = {}
    for tier, band in options.bands_min:
        members = np.flatnonzero(tier_mask(facilities, tier))
        table = facilities.iloc[members]
        capacity = facility_capacity(table, tier, options)
        order = processing_order(table, capacity, options)
        limit = band * 60.0
        local = np.full(len(facilities), -1, dtype=np.int64)
        local[members] = np.arange(len(members))
        mine = local[pairs.source] >= 0
        tier_pairs = CostPairs(source=local[pairs.source[mine]], target=pairs.target[mine], cost=pairs.cost[mine],
                               n_sources=len(members), n_targets=nv)
        allocation = allocate(population, tier_pairs, capacity, order, limit)
        served_f = allocation.served_by_facility(len(members))
        served_v = allocation.served_village(nv)
        rank = np.empty(len(members), dtype=np.int64)
        rank[order] = np.arange(1, len(members) + 1)
        reached = np.bincount(tier_pairs.source[tier_pairs.cost <= limit + 1e-6], minlength=len(members)) > 0
        frame = pd.DataFrame({
            "tier": tier, "order": rank, "fid": table["fid"].to_numpy(dtype=object),
            "name": table["name"].to_numpy(dtype=object), "kind": table["kind"].to_numpy(dtype=object),
            "township": table["township"].to_numpy(dtype=object),
            "doctors": pd.to_numeric(table["doctors"], errors="coerce").to_numpy(dtype=float),
            "beds": pd.to_numeric(table["beds"], errors="coerce").to_numpy(dtype=float),
            "capacity": capacity, "served": served_f, "spare": capacity - served_f,
            "full": (capacity > 0) & (served_f >= capacity),
            "villages_served": np.bincount(allocation.facility, minlength=len(members)),
            "band_min": float(band),
            "note": [f"no {options.source} recorded: no capacity" if c <= 0
                     else ("" if r else f"no village within {band:g} min")
                     for c, r in zip(capacity, reached)],
        })
        rows.append(frame)
        residual[tier] = population - served_v
        town_rows.extend(_township_totals(villages, population, served_v, table, capacity, tier, county))
    facility_table = pd.concat(rows, ignore_index=True)[FACILITY_COLUMNS] if rows else pd.DataFrame(
        columns=FACILITY_COLUMNS)
    return CapacityCoverage(facility_table, pd.DataFrame(town_rows, columns=TOWNSHIP_COLUMNS), residual)


def _township_totals(villages: pd.DataFrame, population: np.ndarray, served: np.ndarray,
                     facilities: pd.DataFrame, capacity: np.ndarray, tier: str, county: str) -> list[dict]:
    towns = villages["township"].to_numpy(dtype=object)
    ftowns = facilities["township"].to_numpy(dtype=object)
    groups = [("county", county, np.ones(len(villages), dtype=bool), np.ones(len(facilities), dtype=bool))]
    names = sorted(villages["township"].dropna().unique())
    in_town, has_town = equal_masks(towns, names), equal_masks(ftowns, names)
    groups += [("township", town, in_town[town], has_town[town]) for town in names]
    out = []
    for scope, name, vmask, fmask in groups:
        total = float(population[vmask].sum())
        got = float(served[vmask].sum())
        out.append({"tier": tier, "scope": scope, "name": name, "population": total,
                    "capacity": int(capacity[fmask].sum()), "served": got, "residual": total - got,
                    "share_served": round(got / total, 4) if total else np.nan})
    return out
