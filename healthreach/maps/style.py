"""Colours, classes and number formats shared by the HTML maps, the print maps and the QGIS styles."""
from __future__ import annotations

import math

import pandas as pd

from healthreach.tiers import SERVICES, TIERS
from healthreach.tiers import colour as tier_colour
from healthreach.maps.labels import text

DASH = "—"
# Upper limits (minutes) of the travel-time classes and their colours (green = near, red = far).
TIME_CLASSES: tuple[tuple[float, str], ...] = (
    (15.0, "#1a9850"),
    (30.0, "#91cf60"),
    (45.0, "#fee08b"),
    (60.0, "#fc8d59"),
    (math.inf, "#d73027"),
)
UNREACHABLE_FILL = "#9e9e9e"
TIER_COLOURS: dict[str, str] = {tier: tier_colour(tier) for tier in TIERS}
SERVICE_COLOURS: dict[str, str] = {service: tier_colour(service) for service in SERVICES}
BAND_COLOURS: dict[int, str] = {15: "#08519c", 30: "#3182bd", 45: "#6baed6", 60: "#bdd7e7"}


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


def time_colour(seconds: object) -> str:
    """Fill colour of a travel time in seconds; grey where unreachable (missing)."""
    if is_missing(seconds):
        return UNREACHABLE_FILL
    minutes = float(seconds) / 60.0  # type: ignore[arg-type]
    return next(colour for limit, colour in TIME_CLASSES if minutes <= limit)


def time_class_labels(lang: str) -> list[tuple[str, str]]:
    """(colour, label) per travel-time class, for legends."""
    unit = text("minutes", lang)
    out, lower = [], 0.0
    for limit, colour in TIME_CLASSES:
        label = f"≤ {limit:.0f} {unit}" if math.isfinite(limit) else f"> {lower:.0f} {unit}"
        out.append((colour, label))
        lower = limit
    return out


def band_colour(band_min: float) -> str:
    """Fill colour of a catchment band (minutes); bands beyond 60 take the palest colour."""
    for band, colour in BAND_COLOURS.items():
        if band_min <= band:
            return colour
    return BAND_COLOURS[60]
