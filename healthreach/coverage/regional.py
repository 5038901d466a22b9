"""City-level regional medical centres (市级区域医疗中心) serving several counties.

Villages and facilities are assigned to counties by point-in-polygon on the boundaries layer's county
polygons. Each county's residents within the regional bands of the nearest regional centre (driving
toward it: the `regional_centre_time_s` column of the village access table) are counted; the centre a
county depends on is the one that is the fastest regional centre for the largest number of its
residents; a county is left outside when fewer than half its residents are within the largest band.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from healthreach.config import Settings
from healthreach.coverage.services import persons_within


SOURCE = ("朔政办发〔2023〕42号 §二(一)5 (seed 000); "
          "忻政发〔2023〕14号 §三(二) (seed 003: 宁武县创建市级区域医疗中心); bands are a healthreach assumption")
OUTSIDE_BELOW_SHARE = 0.5
"""A county is 'left outside' when less than this share of its residents is within the largest band."""


def regional_table(
    villages: pd.DataFrame,
    facilities: pd.DataFrame,
    settings: Settings,
    *,
    village_county: Sequence[object],
    facility_county: Sequence[object],
) -> pd.DataFrame:
    """Table `regional`: one row per county, its residents within the regional bands and its centre.

    Columns: county, population, villages, `pop_<b>min` (persons) and `share_<b>min` per band of
    `settings.regional_bands_min`, depends_on (fid), depends_on_name, centre_county, depends_persons
    (residents for whom that centre is the fastest), mean_time_s (person-weighted, to the nearest
    centre, over the residents reached), outside (bool), note, source. Empty when no facility is a
    regional centre (no `regional_centre_time_s` column).
    """
    if "regional_centre_time_s" not in villages:
        return pd.DataFrame()
    county = np.asarray(village_county, dtype=object)
    fcounty = dict(zip(facilities["fid"].astype(str), facility_county))
    fname = dict(zip(facilities["fid"].astype(str), facilities["name"].astype(str)))
    pop = villages["population"].to_numpy(dtype=float)
    t = villages["regional_centre_time_s"].to_numpy(dtype=float)
    fid = villages["regional_centre_fid"].astype(object).where(villages["regional_centre_fid"].notna(), None)
    fid = fid.to_numpy(dtype=object)
    bands = sorted(settings.regional_bands_min)
    names = list(dict.fromkeys(c for c in [*county, *facility_county] if c is not None))
    records = []
    for name in names:
        mask = county == name
        total = float(pop[mask].sum())
        rec: dict[str, Any] = {"county": name, "population": int(total), "villages": int(mask.sum())}
        for band in bands:
            covered = persons_within(t, pop, mask, band)
            rec[f"pop_{band}min"] = int(covered)
            rec[f"share_{band}min"] = round(covered / total, 4) if total else np.nan
        by_centre = pd.Series(pop[mask & np.isfinite(t)], index=fid[mask & np.isfinite(t)], dtype=float)
        by_centre = by_centre.groupby(level=0).sum()
        centre = str(by_centre.sort_values(ascending=False, kind="stable").index[0]) if by_centre.sum() > 0 else None
        reached = mask & np.isfinite(t)
        weight = pop[reached].sum()
        largest = rec[f"share_{bands[-1]}min"] if bands else np.nan
        outside = bool(not total or largest < OUTSIDE_BELOW_SHARE)
        rec.update({
            "depends_on": centre, "depends_on_name": fname.get(centre) if centre else None,
            "centre_county": fcounty.get(centre) if centre else None,
            "depends_persons": int(by_centre.get(centre, 0.0)) if centre else 0,
            "mean_time_s": round(float((t[reached] * pop[reached]).sum() / weight), 1) if weight else np.nan,
            "outside": outside,
            "note": _note(total, largest, bands, outside),
            "source": SOURCE,
        })
        records.append(rec)
    return pd.DataFrame(records)


def _note(total: float, largest: float, bands: list[int], outside: bool) -> str:
    if not total:
        return "no residents in this county"
    if outside:
        return (f"left outside: {largest:.0%} of residents within {bands[-1]} min of a regional centre "
                f"(below {OUTSIDE_BELOW_SHARE:.0%})")
    return ""
