"""What the maps and pictures measure from a village table: the tier villages are coloured by, the
tiers summarised, and the coverage curve with its minutes and band marks (from the run's bands)."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from healthreach.tiers import SUMMARY_TIERS
from healthreach.maps.offline import require_columns
from healthreach.maps.style import check_bands

# The village layer's tier: primary care, that is the township health centres, else (an urban district
# has none) the community health stations; else the first summarised tier residents can reach.
PRIMARY_CARE: tuple[str, ...] = ("township", "community")


def _reachable(villages: pd.DataFrame, tier: str) -> bool:
    column = f"{tier}_time_s"
    return column in villages.columns and bool(np.isfinite(villages[column].to_numpy(dtype=float)).any())


def shown_tier(villages: pd.DataFrame) -> str:
    """The tier villages are coloured by on the maps: township health centres where any village
    reaches one, else community health stations (walking), else the first tier of the summary order
    that some village reaches, else township."""
    for tier in (*PRIMARY_CARE, *SUMMARY_TIERS):
        if _reachable(villages, tier):
            return tier
    return PRIMARY_CARE[0]


def summary_tiers(villages: pd.DataFrame) -> list[str]:
    """Tiers of the summary panel, its table and its curve alike: the summarised tiers some village
    reaches, in summary order (a tier with no facility within reach, a township centre in an urban
    district, would be a row of zeros and a flat line)."""
    return [t for t in SUMMARY_TIERS if _reachable(villages, t)]


def curve_minutes(bands_min: Sequence[float]) -> np.ndarray:
    """Minutes at which the coverage curve is sampled: 0, 1, … up to half again the largest band,
    rounded up to ten (0–90 for bands up to 60), so the largest band lies well inside the chart."""
    top = max(check_bands(bands_min))
    x_max = max(10.0, math.ceil(1.5 * top / 10.0) * 10.0)
    return np.arange(0.0, x_max + 0.5, 1.0)


def band_marks(bands_min: Sequence[float]) -> tuple[float, ...]:
    """Minutes at which the coverage charts draw their vertical band lines: the run's bands."""
    return check_bands(bands_min)


def coverage_curve(villages: pd.DataFrame, tier: str, minutes: np.ndarray) -> np.ndarray:
    """Share (0–1) of residents whose `tier` travel time is at most each of `minutes`.

    Unreachable villages (missing time) count in the total and are never reached. All NaN when
    the villages have no residents.
    """
    require_columns(villages, ["population", f"{tier}_time_s"], "villages")
    pop = pd.to_numeric(villages["population"], errors="coerce").fillna(0).to_numpy(dtype=float)
    seconds = villages[f"{tier}_time_s"].to_numpy(dtype=float)
    total = pop.sum()
    if total <= 0:
        return np.full(len(minutes), np.nan)
    reached = np.isfinite(seconds)
    order = np.argsort(seconds[reached])
    cumulative = np.concatenate([[0.0], np.cumsum(pop[reached][order])])
    # 1e-9 s slack: a village exactly on a band limit counts as inside, as in the summary tables.
    index = np.searchsorted(seconds[reached][order], np.asarray(minutes) * 60.0 + 1e-9, side="right")
    return cumulative[index] / total
