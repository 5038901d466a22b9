"""Scenario files: changes to a base project (facilities and roads), loaded with line-numbered errors.

A scenario is YAML (see design.md "Scenarios"). Loading collects every mistake of the whole `extends`
chain and raises one `InputError` whose lines read `file:line: field: problem (expected ...)`.
Applying a scenario never mutates its inputs: it returns new frames and a new `Project`.
"""
from __future__ import annotations

import dataclasses
import logging
import math
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import yaml

from healthreach._errors import InputError
from healthreach.coverage.rules import CLASS_SPEEDS_KMH, NO_WALK_CLASSES, WALK_ONLY_CLASSES, base_class
from healthreach.layers.kinds import KINDS, normalise_kind

if TYPE_CHECKING:
    from healthreach.layers.project import Project

log = logging.getLogger(__name__)

WGS84 = "EPSG:4326"
ROAD_CLASSES: frozenset[str] = frozenset(CLASS_SPEEDS_KMH) | WALK_ONLY_CLASSES | NO_WALK_CLASSES
"""OSM `highway` classes a scenario may name (each also with a `_link` suffix)."""
SERVICES: tuple[str, ...] = (
    "chest_pain", "stroke", "trauma", "critical_maternal", "critical_neonatal", "fever_clinic",
    "fever_sentinel", "infectious_dept", "tcm_hall", "rehab_dept", "geriatrics_dept", "regional_centre",
)
"""Canonical service ids a scenario may give a facility (design.md "Data model")."""
COUNT_ATTRIBUTES: tuple[str, ...] = ("beds", "doctors", "nurses", "ambulances")
_NAME_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
_GEOD = pyproj.Geod(ellps="WGS84")


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


# --------------------------------------------------------------------------- YAML with line numbers


class _Map(dict):  # type: ignore[type-arg]
    """A YAML mapping that remembers its own line and the line of each key (1-based)."""

    line: int
    key_lines: dict[Any, int]
    duplicates: list[tuple[Any, int]]


class _LineLoader(yaml.SafeLoader):
    """SafeLoader whose mappings are `_Map`s, so every mistake can name its line."""


def _construct_map(loader: _LineLoader, node: yaml.MappingNode) -> Iterator[_Map]:
    data = _Map()
    data.line = node.start_mark.line + 1
    data.key_lines = {}
    data.duplicates = []
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) and key is not None:
            key = str(key)
        line = key_node.start_mark.line + 1
        if key in data:
            data.duplicates.append((key, line))
        data.key_lines[key] = line
        data[key] = loader.construct_object(value_node, deep=True)


class _Seq(list):  # type: ignore[type-arg]
    """A YAML sequence that remembers the line of each item (1-based)."""

    item_lines: list[int]


def _construct_seq(loader: _LineLoader, node: yaml.SequenceNode) -> Iterator[_Seq]:
    data = _Seq()
    data.item_lines = [item.start_mark.line + 1 for item in node.value]
    yield data
    data.extend(loader.construct_object(item, deep=True) for item in node.value)


_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_map)
_LineLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_seq)


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

    def add(self, path: Path, line: int, where: str, problem: str) -> None:
        self.lines.append(f"{path}:{line}: {where}: {problem}")


@dataclass
class _Reader:
    """Reads the fields of one YAML mapping, reporting problems with the line of each key."""

    path: Path
    mapping: _Map
    prefix: str
    problems: _Problems

    def line(self, key: str) -> int:
        return self.mapping.key_lines.get(key, self.mapping.line)

    def report(self, key: str, problem: str) -> None:
        self.problems.add(self.path, self.line(key), f"{self.prefix}{key}", problem)

    def check_keys(self, allowed: tuple[str, ...]) -> None:
        for key, line in self.mapping.duplicates:
            self.problems.add(self.path, line, f"{self.prefix}{key}", "given twice (expected each field once)")
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
        from healthreach.layers.crs import is_geographic, parse_crs

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


def _parse_changes(path: Path, doc: _Map, problems: _Problems) -> list[Change]:
    changes_value = doc.get("changes")
    if changes_value is None:
        return []
    if not isinstance(changes_value, list):
        problems.add(path, doc.key_lines["changes"], "changes", "not a list (expected a list of changes)")
        return []
    changes: list[Change] = []
    for index, item in enumerate(changes_value):
        label = f"changes[{index}]"
        if not isinstance(item, _Map) or len(item) != 1:
            line = changes_value.item_lines[index] if isinstance(changes_value, _Seq) else doc.line
            problems.add(path, line, label, f"expected one change such as `- add: {{...}}` (one of: {', '.join(_CHANGE_FIELDS)})")
            continue
        ((kind, body),) = item.items()
        if kind not in _CHANGE_FIELDS:
            problems.add(path, item.line, label, f"unknown change type {kind!r} (expected one of: {', '.join(_CHANGE_FIELDS)})")
            continue
        if not isinstance(body, _Map):
            problems.add(path, item.line, f"{kind}", f"{body!r} is not a mapping (expected {kind}: {{fid: ..., ...}})")
            continue
        change = _parse_change(_Reader(path, body, f"{kind}.", problems), kind)
        if change is not None:
            changes.append(change)
    return changes


# --------------------------------------------------------------------------- loading


def _read_yaml(path: Path, problems: _Problems, line: int, origin: Path | None) -> _Map | None:
    """The top-level mapping of a scenario file, or None after reporting why it cannot be read."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if origin is None:
            raise InputError(f"{path}: scenario file not found") from None
        problems.add(origin, line, "extends", f"file {path} does not exist (expected a scenario file)")
        return None
    except UnicodeDecodeError as exc:
        problems.add(path, 1, "file", f"not UTF-8 text ({exc.reason}; expected a UTF-8 YAML file)")
        return None
    try:
        doc = yaml.load(text, Loader=_LineLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problems.add(path, (mark.line + 1) if mark else 1, "YAML", f"{exc.problem} (expected valid YAML)")
        return None
    if not isinstance(doc, _Map):
        problems.add(path, 1, "file", "not a mapping (expected name:, title:, changes: ...)")
        return None
    return doc


def _load_chain(
    path: Path, problems: _Problems, chain: tuple[Path, ...], line: int, origin: Path | None
) -> tuple[_Map | None, list[Change], Path | None]:
    """Document, changes (extends first) and base of one file in an extends chain."""
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
        title = reader.text("title", required=False) or name
    if problems.lines:
        raise InputError("invalid scenario:\n" + "\n".join(problems.lines))
    log.info("scenario %s: %d changes from %s", name, len(changes), path)
    return Scenario(name=name, title=title, path=path, base=base, changes=tuple(changes))


# --------------------------------------------------------------------------- applying to a project


def _fail(change: Change, field_name: str, problem: str) -> InputError:
    return InputError(f"{change.source}:{change.line}: {field_name}: {problem}")


def _township_of(point: shapely.Point, boundaries: gpd.GeoDataFrame | None) -> str:
    """Name of the township polygon containing `point` (WGS84), '' when none does."""
    if boundaries is None or boundaries.empty or "level" not in boundaries:
        return ""
    townships = boundaries[boundaries["level"] == "township"]
    hit = townships[townships.geometry.covers(point)]
    return str(hit["name"].iloc[0]) if len(hit) else ""


def _new_facility(change: AddFacility, facilities: gpd.GeoDataFrame, project: Project) -> gpd.GeoDataFrame:
    """A one-row facilities frame for `change`, in WGS84, with the columns of `facilities`."""
    from healthreach.layers.crs import to_wgs84_points

    point = to_wgs84_points((np.array([change.lon]), np.array([change.lat])), change.crs).iloc[0]
    attrs = dict(change.attrs)
    row: dict[str, Any] = {column: pd.NA for column in facilities.columns if column != "geometry"}
    row.update(fid=change.fid, name=change.name, kind=change.kind, services="", vid="")
    row["township"] = attrs.pop("township", None) or _township_of(point, project.boundaries)
    row.update(attrs)
    frame = gpd.GeoDataFrame([row], geometry=[point], crs=WGS84)
    return frame.astype({c: facilities[c].dtype for c in frame.columns if c in facilities and c != "geometry"})


def apply_to_project(project: Project, scenario: Scenario) -> Project:
    """The project with the scenario's facility changes applied in order (road changes are ignored here).

    Returns a new Project; `project.facilities` is not modified. Raises InputError naming the scenario
    file and line when a change names an fid that does not exist, or adds an fid that already does.
    """
    facilities = project.facilities.copy()
    for change in scenario.changes:
        if isinstance(change, (RoadSpeed, AddRoad)):
            continue
        present = facilities["fid"] == change.fid
        if isinstance(change, AddFacility):
            if present.any():
                raise _fail(change, "add.fid", f"facility {change.fid!r} already exists (expected a new fid)")
            facilities = pd.concat([facilities, _new_facility(change, facilities, project)], ignore_index=True)
            continue
        if not present.any():
            label = change.action if isinstance(change, SetKind) else "remove" if isinstance(change, RemoveFacility) else "set"
            raise _fail(change, f"{label}.fid", f"no facility {change.fid!r} in the project (expected an existing fid)")
        if isinstance(change, SetKind):
            facilities.loc[present, "kind"] = change.kind
        elif isinstance(change, RemoveFacility):
            facilities = facilities[~present]
        else:
            for key, value in change.values:
                facilities.loc[present, key] = pd.NA if value is None else value
    facilities = gpd.GeoDataFrame(facilities.reset_index(drop=True), geometry="geometry", crs=project.facilities.crs)
    return dataclasses.replace(project, facilities=facilities)


# --------------------------------------------------------------------------- applying to roads


def _node_table(edges: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Node ids and their lon/lat (degrees), from the first and last points of each edge."""
    coords = shapely.get_coordinates(edges.geometry.to_numpy(), return_index=True)
    points, owner = coords[0], coords[1]
    first = np.searchsorted(owner, np.arange(len(edges)), side="left")
    last = np.searchsorted(owner, np.arange(len(edges)), side="right") - 1
    ids = np.concatenate([edges["u"].to_numpy(np.int64), edges["v"].to_numpy(np.int64)])
    xy = np.concatenate([points[first], points[last]])
    ids, keep = np.unique(ids, return_index=True)
    return ids, xy[keep, 0], xy[keep, 1]


def _nearest_node(ids: np.ndarray, lon: np.ndarray, lat: np.ndarray, point: tuple[float, float]) -> tuple[int, float]:
    """Id of the node nearest to `point` (lon, lat degrees) and its geodesic distance (metres)."""
    _, _, dist = _GEOD.inv(np.full(lon.shape, point[0]), np.full(lat.shape, point[1]), lon, lat)
    best = int(np.argmin(dist))
    return int(ids[best]), float(dist[best])


def _within_mask(edges: gpd.GeoDataFrame, change: RoadSpeed) -> pd.Series:
    if change.within is None:
        return pd.Series(True, index=edges.index)
    from healthreach.layers.crs import to_wgs84

    try:
        area = gpd.read_file(change.within)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise _fail(change, "road_speed.within", f"cannot read {change.within}: {exc} (expected a polygon layer)") from exc
    polygons = area[area.geometry.geom_type.isin(["Polygon", "MultiPolygon"])]
    if polygons.empty:
        raise _fail(change, "road_speed.within", f"{change.within} has no polygons (expected a polygon layer)")
    union = to_wgs84(polygons).geometry.union_all()
    return edges.geometry.intersects(union)


def apply_to_roads(edges: gpd.GeoDataFrame, scenario: Scenario) -> gpd.GeoDataFrame:
    """The road edge table (WGS84) with the scenario's `road_speed` and `add_road` changes, in order.

    `road_speed` sets `maxspeed_kmh` (km/h) on edges of the class (and its `_link` roads), optionally
    only those intersecting `within`. `add_road` appends a straight two-way edge between the existing
    nodes nearest to its ends, with a geodesic `length_m` (metres). `edges` is not modified.
    """
    out = edges.copy()
    for change in scenario.changes:
        if isinstance(change, RoadSpeed):
            same_class = (out["highway"] == change.highway) | (out["highway"].map(base_class) == change.highway)
            chosen = same_class & _within_mask(out, change)
            out.loc[chosen, "maxspeed_kmh"] = change.speed_kmh
            log.info("road_speed %s: %d edges set to %g km/h", change.highway, int(chosen.sum()), change.speed_kmh)
        elif isinstance(change, AddRoad):
            out = _add_road(out, change)
    return out


def _add_road(edges: gpd.GeoDataFrame, change: AddRoad) -> gpd.GeoDataFrame:
    from healthreach.layers.crs import to_wgs84_points

    if edges.empty:
        raise _fail(change, "add_road", "the road network has no edges to connect (expected roads)")
    ends = to_wgs84_points((np.array([change.start[0], change.end[0]]), np.array([change.start[1], change.end[1]])), change.crs)
    ids, lon, lat = _node_table(edges)
    u, u_gap = _nearest_node(ids, lon, lat, (ends.iloc[0].x, ends.iloc[0].y))
    v, v_gap = _nearest_node(ids, lon, lat, (ends.iloc[1].x, ends.iloc[1].y))
    if u == v:
        raise _fail(change, "add_road", f"both ends join the same road node {u} (expected ends near different junctions)")
    iu, iv = np.searchsorted(ids, u), np.searchsorted(ids, v)
    line = shapely.LineString([(lon[iu], lat[iu]), (lon[iv], lat[iv])])
    log.info("add_road: node %d (%.0f m from `from`) to node %d (%.0f m from `to`)", u, u_gap, v, v_gap)
    row = {
        "u": u, "v": v, "highway": change.highway, "name": "", "maxspeed_kmh": np.nan, "oneway": False,
        "length_m": float(_GEOD.geometry_length(line)),
    }
    new = gpd.GeoDataFrame([row], geometry=[line], crs=edges.crs)
    new = new.astype({c: edges[c].dtype for c in row if c in edges})
    return gpd.GeoDataFrame(pd.concat([edges, new], ignore_index=True), geometry="geometry", crs=edges.crs)
