"""Scenario files: changes to a base project (facilities and roads), loaded with line-numbered errors.

A scenario is YAML (see design.md "Scenarios"). Loading collects every mistake of the whole `extends`
chain and raises one `InputError` whose lines read `file:line: field: problem (expected ...)`.
Applying a scenario never mutates its inputs: it returns new frames and a new `Project`.
"""
from __future__ import annotations

import logging
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Union

import pyproj
import yaml

from healthreach._errors import InputError
from healthreach.layers.crs import is_geographic, parse_crs
from healthreach.layers.yamlfile import MAX_BYTES, Map, Seq, error_line, error_text, load_yaml
from healthreach.rules import CLASS_SPEEDS_KMH, NO_WALK_CLASSES, WALK_ONLY_CLASSES, base_class
from healthreach.tiers import KINDS, SERVICES, normalise_kind

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
ROAD_CLASSES: frozenset[str] = frozenset(CLASS_SPEEDS_KMH) | WALK_ONLY_CLASSES | NO_WALK_CLASSES
"""OSM `highway` classes a scenario may name (each also with a `_link` suffix)."""
COUNT_ATTRIBUTES: tuple[str, ...] = ("beds", "doctors", "nurses", "ambulances")
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
MAX_NAME = 64


@dataclass(frozen=True)
class AddFacility:
    """A new facility at lon/lat (degrees in `crs`); `attrs` holds counts, township, services, vid."""

    fid: str
    name: str
    kind: str
    lon: float
    lat: float
    crs: str
    attrs: tuple[tuple[str, Any], ...]
    source: Path | None = field(default=None, kw_only=True)
    line: int = field(default=0, kw_only=True)


@dataclass(frozen=True)
class SetKind:
    """Upgrade or downgrade facility `fid` to canonical `kind`."""

    fid: str
    kind: str
    action: str = field(default="upgrade", kw_only=True)
    """'upgrade' or 'downgrade', as written in the file."""
    source: Path | None = field(default=None, kw_only=True)
    line: int = field(default=0, kw_only=True)


@dataclass(frozen=True)
class RemoveFacility:
    """Close facility `fid`."""

    fid: str
    source: Path | None = field(default=None, kw_only=True)
    line: int = field(default=0, kw_only=True)


@dataclass(frozen=True)
class SetAttributes:
    """Set attributes of facility `fid` (counts in persons/beds/vehicles, text fields, services)."""

    fid: str
    values: tuple[tuple[str, Any], ...]
    source: Path | None = field(default=None, kw_only=True)
    line: int = field(default=0, kw_only=True)


@dataclass(frozen=True)
class RoadSpeed:
    """Speed (km/h) of every road of class `highway`, optionally only inside the `within` polygons."""

    highway: str
    speed_kmh: float
    within: Path | None
    source: Path | None = field(default=None, kw_only=True)
    line: int = field(default=0, kw_only=True)


@dataclass(frozen=True)
class AddRoad:
    """A straight two-way road of class `highway` between the nodes nearest to start and end (lon, lat)."""

    start: tuple[float, float]
    end: tuple[float, float]
    highway: str
    crs: str = "wgs84"
    source: Path | None = field(default=None, kw_only=True)
    line: int = field(default=0, kw_only=True)


Change = Union[AddFacility, SetKind, RemoveFacility, SetAttributes, RoadSpeed, AddRoad]


@dataclass(frozen=True)
class Scenario:
    """A named list of changes; `changes` includes those of the `extends` chain, oldest first."""

    name: str
    title: str
    path: Path
    base: Path | None
    changes: tuple[Change, ...]
    files: tuple[Path, ...] = ()
    """Every file the scenario reads: itself, its `extends` chain and `within` layers."""


# --------------------------------------------------------------------------- validation helpers


def _on_earth(spec: str) -> bool:
    """Whether a pyproj CRS is on an Earth ellipsoid (PROJ also knows Mars and Moon systems)."""
    ellipsoid = pyproj.CRS.from_user_input(spec).ellipsoid
    return ellipsoid is not None and 6.35e6 < ellipsoid.semi_major_metre < 6.4e6


def _beside(path: Path, value: object) -> Path:
    """`value` as a path relative to the folder of `path`, absolute and without '..' parts."""
    return Path(os.path.normpath(path.parent.absolute() / str(value)))


class _Problems:
    """Collects `file:line: field: problem` lines for one InputError."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.read: list[Path] = []
        """Files read, for the commands' check that no output replaces an input."""

    def add(self, path: Path, line: int, where: str, problem: str) -> None:
        self.lines.append(f"{path}:{line}: {where}: {problem}")


@dataclass
class _Reader:
    """Reads the fields of one YAML mapping, reporting problems with the line of each key."""

    path: Path
    mapping: Map
    prefix: str
    problems: _Problems

    def line(self, key: str) -> int:
        return self.mapping.key_lines.get(key, self.mapping.line)

    def report(self, key: str, problem: str) -> None:
        self.problems.add(self.path, self.line(key), f"{self.prefix}{key}", problem)

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key in self.mapping:
            if key not in allowed:
                self.report(str(key), f"unknown field (expected one of: {', '.join(allowed)})")

    def text(self, key: str, *, required: bool = True) -> str | None:
        value = self.mapping.get(key)
        if value is None:
            if required:
                self.report(key, "missing (expected a non-empty text)")
            return None
        if isinstance(value, bool) or not isinstance(value, (str, int)) or not str(value).strip():
            self.report(key, f"{value!r} is not usable (expected a non-empty text)")
            return None
        return str(value).strip()

    def kind(self, key: str) -> str | None:
        value = self.mapping.get(key)
        if value is None:
            self.report(key, "missing (expected a facility kind such as township_hc or 乡镇卫生院)")
            return None
        kind = normalise_kind(value)
        if kind is None:
            self.report(key, f"unknown kind {value!r} (expected one of: {', '.join(KINDS)}, or a Chinese label)")
        return kind

    def number(self, key: str, *, low: float, high: float, what: str, positive: bool = False) -> float | None:
        """A finite number in [low, high], above 0 when `positive`."""
        value = self.mapping.get(key)
        if value is None:
            self.report(key, f"missing (expected {what})")
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            self.report(key, f"{value!r} is not a number (expected {what})")
            return None
        if positive and value <= 0:
            self.report(key, f"{value} is not above 0 (expected {what})")
            return None
        if not low <= value <= high:
            self.report(key, f"{value} is out of range (expected {what})")
            return None
        return float(value)

    def road_class(self, key: str) -> str | None:
        value = self.mapping.get(key)
        if value is None:
            self.report(key, "missing (expected an OSM road class such as tertiary or track)")
            return None
        text = str(value).strip()
        if base_class(text) not in ROAD_CLASSES:
            self.report(key, f"unknown road class {value!r} (expected one of: {', '.join(sorted(ROAD_CLASSES))})")
            return None
        return text

    def crs(self, key: str) -> str:
        value = self.mapping.get(key, "wgs84")
        expected = "expected a longitude/latitude system: wgs84, cgcs2000, gcj02, bd09 or EPSG:4326"
        try:
            spec = parse_crs(value)
            if spec not in ("gcj02", "bd09") and not _on_earth(spec):
                raise ValueError(spec)
        except ValueError:
            self.report(key, f"unknown coordinate system {value!r} ({expected})")
            return "wgs84"
        if not is_geographic(spec):
            self.report(key, f"{value!r} is not in degrees ({expected})")
            return "wgs84"
        return spec

    def point(self, key: str) -> tuple[float, float] | None:
        value = self.mapping.get(key)
        expected = "expected [longitude, latitude] in degrees"
        if value is None:
            self.report(key, f"missing ({expected})")
            return None
        if not isinstance(value, list) or len(value) != 2:
            self.report(key, f"{value!r} is not a pair ({expected})")
            return None
        lon, lat = value
        for number in value:
            if isinstance(number, bool) or not isinstance(number, (int, float)) or not math.isfinite(number):
                self.report(key, f"{number!r} is not a number ({expected})")
                return None
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            self.report(key, f"{value!r} is out of range ({expected}, -180..180 and -90..90)")
            return None
        return float(lon), float(lat)

    def within(self, key: str) -> Path | None:
        value = self.mapping.get(key)
        if value is None:
            return None
        candidate = _beside(self.path, value)
        if not candidate.is_file():
            self.report(key, f"file {candidate} does not exist (expected a polygon layer beside the scenario)")
            return None
        return candidate

    def attributes(self, keys: tuple[str, ...]) -> tuple[tuple[str, Any], ...]:
        """Facility attributes present among `keys`, validated (counts: non-negative integers)."""
        out: list[tuple[str, Any]] = []
        for key in keys:
            if key not in self.mapping:
                continue
            value = self.mapping[key]
            if key in COUNT_ATTRIBUTES:
                if value is None:
                    out.append((key, None))
                elif isinstance(value, bool) or not isinstance(value, int) or value < 0:
                    self.report(key, f"{value!r} is not a count (expected a whole number 0 or more)")
                else:
                    out.append((key, int(value)))
            elif key == "services":
                services = self.services(key, value)
                if services is not None:
                    out.append((key, services))
            else:
                text = self.text(key)
                if text is not None:
                    out.append((key, text))
        return tuple(out)

    def services(self, key: str, value: Any) -> str | None:
        if value is None:
            return ""
        items = value if isinstance(value, list) else re.split(r"[;、]", str(value))
        ids = [str(item).strip() for item in items if str(item).strip()]
        unknown = [item for item in ids if item not in SERVICES]
        if unknown:
            self.report(key, f"unknown service {', '.join(map(repr, unknown))} (expected: {', '.join(SERVICES)})")
            return None
        return ";".join(ids)


# --------------------------------------------------------------------------- change parsers

_ATTRIBUTE_KEYS = COUNT_ATTRIBUTES + ("township", "services", "vid")
_CHANGE_FIELDS: dict[str, tuple[str, ...]] = {
    "add": ("fid", "name", "kind", "lon", "lat", "crs") + _ATTRIBUTE_KEYS,
    "upgrade": ("fid", "kind"),
    "downgrade": ("fid", "kind"),
    "remove": ("fid",),
    "set": ("fid", "name") + _ATTRIBUTE_KEYS,
    "road_speed": ("class", "speed_kmh", "within"),
    "add_road": ("from", "to", "class", "crs"),
}


def _parse_change(reader: _Reader, kind: str) -> Change | None:
    """One change from its validated mapping, or None when a problem was reported."""
    where = {"source": reader.path, "line": reader.mapping.line}
    reader.check_keys(_CHANGE_FIELDS[kind])
    before = len(reader.problems.lines)
    change: Change | None = None
    if kind == "add":
        fid, name, facility_kind = reader.text("fid"), reader.text("name"), reader.kind("kind")
        crs = reader.crs("crs")
        lon = reader.number("lon", low=-180, high=180, what="a longitude in degrees, -180..180")
        lat = reader.number("lat", low=-90, high=90, what="a latitude in degrees, -90..90")
        attrs = reader.attributes(_ATTRIBUTE_KEYS)
        if fid and name and facility_kind and lon is not None and lat is not None:
            change = AddFacility(fid, name, facility_kind, lon, lat, crs, attrs, **where)
    elif kind in ("upgrade", "downgrade"):
        fid, facility_kind = reader.text("fid"), reader.kind("kind")
        if fid and facility_kind:
            change = SetKind(fid, facility_kind, action=kind, **where)
    elif kind == "remove":
        fid = reader.text("fid")
        if fid:
            change = RemoveFacility(fid, **where)
    elif kind == "set":
        fid = reader.text("fid")
        values = reader.attributes(_CHANGE_FIELDS["set"][1:])
        if not any(key != "fid" for key in reader.mapping):
            reader.report("fid", f"nothing to set (expected one of: {', '.join(_CHANGE_FIELDS['set'][1:])})")
        elif fid and values:
            change = SetAttributes(fid, values, **where)
    elif kind == "road_speed":
        highway, speed, within = reader.road_class("class"), reader.number("speed_kmh", low=0, high=math.inf, what="a speed in km/h greater than 0", positive=True), reader.within("within")
        if highway and speed:
            change = RoadSpeed(highway, speed, within, **where)
    else:
        start, end = reader.point("from"), reader.point("to")
        highway, crs = reader.road_class("class"), reader.crs("crs")
        if start and end and highway:
            change = AddRoad(start, end, highway, crs, **where)
    return change if len(reader.problems.lines) == before else None


def _parse_changes(path: Path, doc: Map, problems: _Problems) -> list[Change]:
    changes_value = doc.get("changes")
    if changes_value is None:
        return []
    if not isinstance(changes_value, list):
        problems.add(path, doc.key_lines["changes"], "changes", "not a list (expected a list of changes)")
        return []
    changes: list[Change] = []
    for index, item in enumerate(changes_value):
        label = f"changes[{index}]"
        if not isinstance(item, Map) or len(item) != 1:
            line = changes_value.item_lines[index] if isinstance(changes_value, Seq) else doc.line
            problems.add(path, line, label, f"expected one change such as `- add: {{...}}` (one of: {', '.join(_CHANGE_FIELDS)})")
            continue
        ((kind, body),) = item.items()
        if kind not in _CHANGE_FIELDS:
            problems.add(path, item.line, label, f"unknown change type {kind!r} (expected one of: {', '.join(_CHANGE_FIELDS)})")
            continue
        if not isinstance(body, Map):
            problems.add(path, item.line, f"{kind}", f"{body!r} is not a mapping (expected {kind}: {{fid: ..., ...}})")
            continue
        change = _parse_change(_Reader(path, body, f"{kind}.", problems), kind)
        if change is not None:
            changes.append(change)
    return changes


# --------------------------------------------------------------------------- loading


def _read_yaml(path: Path, problems: _Problems, line: int, origin: Path | None) -> Map | None:
    """The top-level mapping of a scenario file, or None after reporting why it cannot be read."""
    where, field_name = (origin, "extends") if origin is not None else (path, "file")
    try:
        if path.is_dir():
            problems.add(where, line, field_name, f"{path} is a folder (expected a scenario file)")
            return None
        if path.stat().st_size > MAX_BYTES:
            problems.add(path, 1, "file", f"{path.stat().st_size:,} bytes (expected a scenario file under "
                                          f"{MAX_BYTES:,} bytes)")
            return None
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if origin is None:
            raise InputError(f"{path}: scenario file not found (expected a scenario file, YAML)") from None
        problems.add(origin, line, "extends", f"file {path} does not exist (expected a scenario file)")
        return None
    except UnicodeDecodeError as exc:
        problems.add(path, 1, "file", f"not UTF-8 text ({exc.reason}; expected a UTF-8 YAML file)")
        return None
    except OSError as exc:
        problems.add(where, line, field_name, f"cannot read {path}: {exc.strerror} (expected a readable file)")
        return None
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        problems.add(path, error_line(exc) or 1, "YAML", f"{error_text(exc)} (expected valid YAML)")
        return None
    if not isinstance(doc, Map):
        problems.add(path, 1, "file", "not a mapping (expected name:, title:, changes: ...)")
        return None
    return doc


def _load_chain(
    path: Path, problems: _Problems, chain: tuple[Path, ...], line: int, origin: Path | None
) -> tuple[Map | None, list[Change], Path | None]:
    """Document, changes (extends first) and base of one file in an extends chain."""
    problems.read.append(path)
    doc = _read_yaml(path, problems, line, origin)
    if doc is None:
        return None, [], None
    reader = _Reader(path, doc, "", problems)
    reader.check_keys(("name", "title", "base", "extends", "changes"))
    inherited: list[Change] = []
    base: Path | None = None
    if doc.get("extends") is not None:
        parent = _beside(path, doc["extends"])
        resolved = [p.resolve() for p in chain]
        if parent.resolve() in resolved:
            cycle = " -> ".join(str(p) for p in chain[resolved.index(parent.resolve()):] + (parent,))
            reader.report("extends", f"cycle {cycle} (expected a chain that ends)")
        else:
            _, inherited, base = _load_chain(parent, problems, chain + (parent,), reader.line("extends"), path)
    if doc.get("base") is not None:
        base = _beside(path, doc["base"])
        if not base.is_file():
            reader.report("base", f"file {base} does not exist (expected a project file)")
    return doc, inherited + _parse_changes(path, doc, problems), base


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file and its `extends` chain (changes of the chain come first).

    Raises InputError listing every problem found, one `file:line: field: problem` per line.
    """
    path = Path(os.path.normpath(Path(path).absolute()))
    problems = _Problems()
    doc, changes, base = _load_chain(path, problems, (path,), 1, None)
    name, title = "", ""
    if doc is not None:
        reader = _Reader(path, doc, "", problems)
        name = reader.text("name") or ""
        if name and not _NAME_PATTERN.fullmatch(name):
            reader.report("name", f"{name!r} has other characters (expected letters A-Z a-z, digits, '-' and '_')")
        elif len(name) > MAX_NAME:
            # The name becomes file names (scenario_<name>.html); file systems stop at 255 bytes.
            reader.report("name", f"{len(name)} characters (expected at most {MAX_NAME})")
        title = reader.text("title", required=False) or name
    if problems.lines:
        raise InputError("invalid scenario:\n" + "\n".join(problems.lines))
    log.info("scenario %s: %d changes from %s", name, len(changes), path)
    within = [c.within for c in changes if isinstance(c, RoadSpeed) and c.within is not None]
    return Scenario(name=name, title=title, path=path, base=base, changes=tuple(changes),
                    files=tuple(dict.fromkeys([*problems.read, *within])))
