"""The run configuration: analysis settings, output options and how the run is scheduled, frozen.

Built once by the commands from the project file and the command line, then passed down: nothing
below the commands reads the project file or the environment again.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

from healthreach._errors import InputError
from healthreach.rules import CLASS_SPEEDS_KMH, DESIGN_SPEEDS_KMH, RULES, Rule, override_rule
from healthreach.tiers import CATCHMENT_TIERS


@dataclass(frozen=True)
class Settings:
    """Analysis settings: the rules table plus the defaults of standards.md, after project overrides."""

    rules: dict[str, Rule] = field(default_factory=lambda: dict(RULES))
    class_speeds_kmh: dict[str, float] = field(default_factory=lambda: dict(CLASS_SPEEDS_KMH))
    design_speeds_kmh: dict[str, float] = field(default_factory=lambda: dict(DESIGN_SPEEDS_KMH))
    walk_kmh: float = 4.0
    """Walking speed on the walkable network (the 15-minute circle: 1,000 m in 15 min)."""
    access_kmh: float = 4.0
    """Speed charged on the off-network leg from a point to its nearest road (walking)."""
    ambulance_factor: float = 1.2
    """Ambulance speed = class speed x this factor, capped by the class design speed."""
    max_snap_m: float = 2000.0
    """Points farther than this from any road are not joined to the network (flagged unreachable)."""
    small_component_size: float = 250.0
    """A piece of road network with fewer road junctions than this (and not the largest piece) is an
    island: a point whose nearest road lies on one joins the connected network within `max_snap_m`
    instead, as OSRM's `small_component_size` does (docs/roads.md explains the default)."""
    bands_min: tuple[int, ...] = (15, 30, 45, 60)
    catchment_buffer_m: float = 250.0
    """Half-width of a catchment polygon around the reached roads (metres)."""
    catchment_tiers: tuple[str, ...] = CATCHMENT_TIERS
    catchment_type: str = "auto"
    """'overlap': one polygon per facility and band, exact (ArcGIS "overlap"); 'split': each facility's
    own area, the one it is nearest for (ArcGIS "split", AccessMod catchments), drawn as a raster from
    one search; 'auto' (settled by the commands before any analysis, see
    coverage.service_areas.resolve_catchment_type): split where overlap is unaffordable."""
    capacity_bands_min: tuple[tuple[str, float], ...] = (("township", 0.0), ("village", 30.0))
    """Band (minutes, driving toward the facility) within which each tier's facilities take residents
    in capacity allocation; 0 means the largest of `bands_min`. The village-clinic 30 minutes is an
    assumption (the seeds set no band)."""
    service_bands_min: tuple[int, ...] = (30, 60, 90, 120)
    """Bands (minutes, by ambulance to the centre) for the five emergency centres; an assumption (the
    seeds set none). The golden-hour share uses rule GOLDEN-HOUR."""
    regional_bands_min: tuple[int, ...] = (60, 90, 120)
    """Bands (minutes, driving) to a city-level regional medical centre; an assumption (the seeds set none)."""

    def rule(self, rule_id: str) -> Rule:
        return self.rules[rule_id]

    def capacity_band_min(self, tier: str) -> float:
        """Capacity-allocation band of `tier` in minutes."""
        band = dict(self.capacity_bands_min)[tier]
        return float(band) if band > 0 else float(max(self.bands_min))


CATCHMENT_TYPES = ("auto", "overlap", "split")
_SCALARS = ("walk_kmh", "access_kmh", "ambulance_factor", "max_snap_m", "small_component_size", "catchment_buffer_m")
_HIGHEST: dict[str, float] = {"walk_kmh": 30.0, "access_kmh": 30.0, "ambulance_factor": 3.0,
                              "max_snap_m": 100_000.0, "small_component_size": 1_000_000.0,
                              "catchment_buffer_m": 10_000.0}
"""Largest value each scalar parameter may take (km/h, factor, metres): beyond it a typo is likelier."""
MAX_BAND_MIN = 1440
"""Longest band (minutes): a day."""
MAX_SPEED_KMH = 300.0
_BANDS = ("bands_min", "service_bands_min", "regional_bands_min")
CAPACITY_TIERS = ("township", "village")


def settings_from_parameters(parameters: dict[str, Any] | None, *, source: str = "project file") -> Settings:
    """Settings with a project's `parameters:` applied.

    Understood keys: `walk_kmh`, `access_kmh`, `ambulance_factor`, `max_snap_m`, `small_component_size`
    (road junctions), `catchment_buffer_m`
    (finite numbers > 0, at most `_HIGHEST`), `bands_min`, `service_bands_min`, `regional_bands_min`
    (lists of whole minutes, each once, at most a day; sorted here),
    `catchment_type` (auto, overlap or split), `class_speeds_kmh` (class -> km/h), and `rules`
    (rule id -> its figure, or a mapping of value / upper / tolerance / plan / the rule's options; see
    healthreach.rules.override_rule and docs/rules.md).
    """
    settings = Settings()
    if not parameters:
        return settings
    if not isinstance(parameters, dict):
        raise InputError(f"{source}: parameters: expected a mapping, got {type(parameters).__name__}")
    problems: list[str] = []
    changes: dict[str, Any] = {}

    def positive(key: str, value: Any, highest: float = math.inf) -> float | None:
        """A finite number in (0, highest]; NaN and infinities are refused (YAML's .nan, .inf)."""
        try:
            number = float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
        except OverflowError:
            number = None
        if number is None or not math.isfinite(number) or number <= 0 or number > highest:
            limit = f" and at most {highest:g}" if math.isfinite(highest) else ""
            problems.append(f"{source}: parameters.{key}: expected a number > 0{limit}, got {str(value)[:40]}")
            return None
        return number

    for key, value in parameters.items():
        if key in _SCALARS:
            number = positive(key, value, _HIGHEST[key])
            if number is not None:
                changes[key] = number
        elif key in _BANDS:
            if not isinstance(value, list) or not value:
                problems.append(f"{source}: parameters.{key}: expected a list of minutes, got {str(value)[:40]}")
                continue
            bands = [positive(key, v, MAX_BAND_MIN) for v in value]
            if not all(b is not None for b in bands):
                continue
            minutes = [float(b) for b in bands if b is not None]
            odd = [f"{m:g} is not a whole number" for m in minutes if m != int(m)]
            odd += [f"{m:g} is given twice" for m in sorted(set(minutes)) if minutes.count(m) > 1]
            if odd:  # a band of 0.5 would become 0, a repeated one would draw every polygon twice
                problems.append(f"{source}: parameters.{key}: {odd[0]} (expected whole minutes, each once)")
                continue
            changes[key] = tuple(sorted(int(m) for m in minutes))
        elif key == "catchment_type":
            if value not in CATCHMENT_TYPES:
                problems.append(f"{source}: parameters.catchment_type: expected one of "
                                f"{', '.join(CATCHMENT_TYPES)}, got {value!r}")
                continue
            changes[key] = value
        elif key == "capacity_bands_min":
            if not isinstance(value, dict) or not set(value) <= set(CAPACITY_TIERS):
                problems.append(f"{source}: parameters.capacity_bands_min: expected a mapping of "
                                f"{' and/or '.join(CAPACITY_TIERS)} to minutes, got {value!r}")
                continue
            bands = dict(settings.capacity_bands_min)
            for tier, minutes in value.items():
                number = positive(f"capacity_bands_min.{tier}", minutes, MAX_BAND_MIN)
                if number is not None:
                    bands[tier] = number
            changes[key] = tuple(bands.items())
        elif key == "class_speeds_kmh":
            if not isinstance(value, dict):
                problems.append(f"{source}: parameters.class_speeds_kmh: expected a mapping class -> km/h")
                continue
            speeds = dict(settings.class_speeds_kmh)
            for cls, speed in value.items():
                number = positive(f"class_speeds_kmh.{cls}", speed, MAX_SPEED_KMH)
                if number is not None:
                    speeds[str(cls)] = number
            changes[key] = speeds
        elif key == "rules":
            if not isinstance(value, dict):
                problems.append(f"{source}: parameters.rules: expected a mapping rule id -> value or settings")
                continue
            rules = dict(settings.rules)
            for rule_id, spec in value.items():
                if rule_id not in rules:
                    problems.append(f"{source}: parameters.rules.{rule_id}: unknown rule "
                                    f"(known: {', '.join(sorted(rules))})")
                    continue
                rules[rule_id], found = override_rule(rules[rule_id], spec, f"{source}: parameters.rules.{rule_id}")
                problems.extend(found)
            changes[key] = rules
        else:
            known = ", ".join((*_SCALARS, *_BANDS, "catchment_type", "capacity_bands_min", "class_speeds_kmh", "rules"))
            problems.append(f"{source}: parameters.{key}: unknown parameter (known: {known})")
    if problems:
        raise InputError("\n".join(problems))
    return replace(settings, **changes)


@dataclass(frozen=True)
class OutputOptions:
    """How the output folder is written, already checked and resolved by the commands."""

    lang: str = "zh"
    """'zh' or 'en': maps, pictures and the English column guides."""
    basemap: str = "none"
    """Optional tile layer on the HTML maps (off until turned on): none, osm, tianditu or amap."""
    basemap_key: str | None = None
    """The Tianditu key when `basemap` is tianditu."""
    shp_encoding: str = "UTF-8"
    """Shapefile code page: UTF-8 or GBK."""
    out_crs: str = "EPSG:4326"
    """EPSG code of the shapefiles' coordinates (GeoPackages stay WGS84)."""


@dataclass(frozen=True)
class Execution:
    """Where the measuring step runs: in this process, or per county on Dask."""

    workers: int | None = None
    """Local Dask worker processes (> 1: partitioned per county)."""
    scheduler: str | None = None
    """Address of an existing Dask scheduler (partitioned per county)."""
    buffer_m: float | None = None
    """Partition buffer around each county (metres); None: the largest band's reach at the fastest speed."""

    @property
    def partitioned(self) -> bool:
        return self.scheduler is not None or (self.workers is not None and self.workers > 1)


@dataclass(frozen=True)
class SolverOptions:
    """Limits of the siting solver."""

    time_limit_s: float = 60.0
    mip_gap: float = 0.0
    """Relative gap (0.01 = 1 %) at which the search stops once the solver proves it."""


@dataclass(frozen=True)
class RunConfig:
    """Everything one command run decides before the analysis starts, passed down unchanged."""

    settings: Settings = field(default_factory=Settings)
    output: OutputOptions = field(default_factory=OutputOptions)
    execution: Execution = field(default_factory=Execution)
    solver: SolverOptions = field(default_factory=SolverOptions)

    @property
    def bands_min(self) -> tuple[int, ...]:
        """The travel-time bands (minutes) every table, map and picture of the run uses."""
        return self.settings.bands_min

