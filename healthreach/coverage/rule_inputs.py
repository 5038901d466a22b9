"""What the rule checks read from the layers: counts, who counts as a licensed physician, and which
places are urban subdistricts (街道) or urban districts (市辖区)."""
from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from healthreach.coverage.masks import equal_masks
from healthreach.config import Settings


def counts(frame: pd.DataFrame, column: str) -> np.ndarray:
    """A count column as floats, missing cells (and a missing column) as 0."""
    if column not in frame:
        return np.zeros(len(frame))
    return pd.to_numeric(frame[column], errors="coerce").fillna(0).to_numpy(dtype=float)


def given(frame: pd.DataFrame, column: str) -> np.ndarray:
    """Which rows carry a value in `column` (all False when the layer has no such column)."""
    if column not in frame:
        return np.zeros(len(frame), dtype=bool)
    return pd.to_numeric(frame[column], errors="coerce").notna().to_numpy()


def licensed_doctors(facilities: pd.DataFrame) -> np.ndarray:
    """Licensed (assistant) physicians (执业（助理）医师) per facility: `licensed_doctors` where given;
    otherwise `doctors`, except at village clinics, whose doctors are village doctors (乡村医生)."""
    own = given(facilities, "licensed_doctors")
    clinic = (facilities["kind"] == "village_clinic").to_numpy() if "kind" in facilities else np.zeros(len(facilities),
                                                                                                       dtype=bool)
    fallback = np.where(clinic, 0.0, counts(facilities, "doctors"))
    return np.where(own, counts(facilities, "licensed_doctors"), fallback)


def health_workers(facilities: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Staff per facility: `staff` where given, else doctors + nurses (a lower bound); and which rows
    gave `staff`."""
    own = given(facilities, "staff")
    return np.where(own, counts(facilities, "staff"), counts(facilities, "doctors") + counts(facilities, "nurses")), own


BASES_TEXT = {"any": "any facility with an ambulance (emergency centres and stations, hospitals and health centres "
                     "with ambulances)",
              "stations": "emergency centres and stations (急救中心、急救站) only"}


def radius_bases(facilities: pd.DataFrame, settings: Settings, members: np.ndarray) -> np.ndarray:
    """The positions in `members` (the `ems` tier) the radius rules measure from (rule EMS-BASES)."""
    if settings.rule("EMS-BASES").option("bases") == "any":
        return members
    kinds = facilities["kind"].to_numpy(dtype=object)[members]
    return members[np.isin(kinds, ("ems_centre", "ems_station"))]


def _bare(name: str) -> str:
    """A name without a trailing bracketed remark ('丹川区（合成样例）' -> '丹川区')."""
    return re.sub(r"\s*[（(][^（）()]*[）)]\s*$", "", str(name)).strip()


def is_street(township: object, settings: Settings) -> bool:
    """Whether a township-level unit is an urban subdistrict (街道), by its name (rule ADMIN-UNITS)."""
    suffixes = settings.rule("ADMIN-UNITS").option("street_suffixes")
    return isinstance(township, str) and _bare(township).endswith(tuple(suffixes))


def is_district(county: object, settings: Settings) -> bool:
    """Whether a county-level unit is an urban district (市辖区), by its name (rule ADMIN-UNITS)."""
    suffixes = settings.rule("ADMIN-UNITS").option("district_suffixes")
    return isinstance(county, str) and _bare(county).endswith(tuple(suffixes))


def county_of_townships(townships: Sequence[str], village_township: np.ndarray, village_county: np.ndarray,
                        facility_township: np.ndarray, facility_county: np.ndarray) -> dict[str, object]:
    """The county of each township: the county most of its villages (else facilities) lie in; the only
    county when there is one; None when nothing places it."""
    counties = list(dict.fromkeys(c for c in [*village_county, *facility_county] if c is not None))
    out: dict[str, object] = {}
    of_village, of_facility = equal_masks(village_township, townships), equal_masks(facility_township, townships)
    for town in townships:
        found = [c for c in village_county[of_village[town]] if c is not None]
        found = found or [c for c in facility_county[of_facility[town]] if c is not None]
        if found:
            out[town] = max(dict.fromkeys(found), key=found.count)
        else:
            out[town] = counties[0] if len(counties) == 1 else None
    return out


def people(n: float) -> str:
    return f"{int(round(n)):,}"
