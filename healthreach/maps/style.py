"""Colours, classes and number formats shared by the HTML maps, the print maps and the QGIS styles.

The travel-time classes and the catchment band colours are drawn from the run's bands
(`RunConfig.bands_min`), passed down by the caller: a colour ramp is spread over however many bands
the run has, so nothing here holds a band of its own.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import pandas as pd

from healthreach.tiers import SERVICES, TIERS
from healthreach.tiers import colour as tier_colour
from healthreach.maps.labels import text

DASH = "—"
# Ramps the classes are spread over: travel time from near (green) to far (red); catchment bands
# from the nearest (dark) to the farthest (pale), in warm greys so that no facility tier colour
# (blue township centres above all) is lost on a catchment fill.
TIME_RAMP: tuple[str, ...] = ("#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027")
BAND_RAMP: tuple[str, ...] = ("#4d4239", "#7d7065", "#aca196", "#d9d1c7")
UNREACHABLE_FILL = "#9e9e9e"
TIER_COLOURS: dict[str, str] = {tier: tier_colour(tier) for tier in TIERS}
SERVICE_COLOURS: dict[str, str] = {service: tier_colour(service) for service in SERVICES}


def check_bands(bands_min: Sequence[float]) -> tuple[float, ...]:
    """The bands (minutes) sorted and without repeats; ValueError when none, or one is not > 0."""
    bands = tuple(sorted({float(b) for b in bands_min}))
    if not bands or not all(math.isfinite(b) and b > 0 for b in bands):
        raise ValueError(f"bands_min: expected one or more minutes > 0, got {list(bands_min)!r}")
    return bands


def _rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def ramp(anchors: Sequence[str], n: int) -> list[str]:
    """`n` colours spread evenly along `anchors` (linear in RGB): the anchors themselves when `n`
    equals their number, the first anchor when `n` is 1."""
    if n <= 0:
        return []
    if n == 1:
        return [anchors[0]]
    out = []
    for i in range(n):
        position = i * (len(anchors) - 1) / (n - 1)
        low = min(int(math.floor(position)), len(anchors) - 2)
        weight = position - low
        a, b = _rgb(anchors[low]), _rgb(anchors[low + 1])
        out.append("#" + "".join(f"{round(x + (y - x) * weight):02x}" for x, y in zip(a, b)))
    return out


def time_classes(bands_min: Sequence[float]) -> list[tuple[float, str]]:
    """(upper limit in minutes, colour) per travel-time class: one per band, then one open class."""
    bands = check_bands(bands_min)
    return list(zip((*bands, math.inf), ramp(TIME_RAMP, len(bands) + 1)))


def band_colours(bands_min: Sequence[float]) -> dict[float, str]:
    """Catchment fill colour of each band (minutes), darkest for the nearest."""
    bands = check_bands(bands_min)
    return dict(zip(bands, ramp(BAND_RAMP, len(bands))))


def minutes_label(minutes: float) -> str:
    """A band's minutes as written in legends: '30', or '7.5' for a fractional band."""
    return f"{minutes:g}"


def minutes_text(seconds: object) -> str:
    """Seconds as minutes with one decimal, or '—' where missing (unreachable)."""
    return DASH if is_missing(seconds) else f"{float(seconds) / 60.0:.1f}"  # type: ignore[arg-type]


def km_text(metres: object) -> str:
    """Metres as kilometres with one decimal, or '—' where missing."""
    return DASH if is_missing(metres) else f"{float(metres) / 1000.0:.1f}"  # type: ignore[arg-type]


def count_text(value: object) -> str:
    """A count (persons, beds) as an integer, or '—' where missing."""
    return DASH if is_missing(value) else str(int(round(float(value))))  # type: ignore[arg-type]


def is_missing(value: object) -> bool:
    """Whether a cell is empty (None, NaN, NA): an unreachable time or an unknown count."""
    try:
        return value is None or bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def time_colour(seconds: object, bands_min: Sequence[float]) -> str:
    """Fill colour of a travel time in seconds among the classes of `bands_min`; grey where unreachable."""
    if is_missing(seconds):
        return UNREACHABLE_FILL
    minutes = float(seconds) / 60.0  # type: ignore[arg-type]
    # 1e-9 min slack: a village exactly on a band limit is inside it, as in the summary tables.
    return next(colour for limit, colour in time_classes(bands_min) if minutes <= limit + 1e-9)


def time_class_labels(lang: str, bands_min: Sequence[float]) -> list[tuple[str, str]]:
    """(colour, label) per travel-time class of `bands_min`, for legends: '≤ 30 分钟' … '> 60 分钟'."""
    unit = text("minutes", lang)
    out, lower = [], 0.0
    for limit, colour in time_classes(bands_min):
        label = (f"≤ {minutes_label(limit)} {unit}" if math.isfinite(limit)
                 else f"> {minutes_label(lower)} {unit}")
        out.append((colour, label))
        lower = limit
    return out
