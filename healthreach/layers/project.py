"""The project file (YAML): which layers to read, how their columns map, and the normalised result.

`load_project` reads everything, collects every problem and raises one `InputError` listing the
errors; `validate_project` runs the same checks and returns them as a table without raising.
"""
from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import yaml

from healthreach.layers import crs as crsmod
from healthreach.layers.points import LayerSpec, read_layer
from healthreach.layers.validate import (
    ID_COLUMN,
    ROLE_COLUMNS,
    Problems,
    make_table,
    normalise_boundaries,
    normalise_facilities,
    normalise_villages,
)
from healthreach.layers.yamlfile import MAX_BYTES, error_text, error_where, is_refusal, load_yaml

logger = logging.getLogger(__name__)

TOP_KEYS = ("name", "crs", "layers", "parameters", "basemap_key")
LAYER_ROLES = ("roads", "facilities", "villages", "boundaries")
REQUIRED_ROLES = ("roads", "facilities", "villages")
SPEC_KEYS: dict[str, tuple[str, ...]] = {
    "roads": ("path", "encoding", "crs", "columns", "layer"),
    "facilities": ("path", "encoding", "crs", "columns", "values", "x", "y", "layer"),
    "villages": ("path", "encoding", "crs", "columns", "values", "x", "y", "layer"),
    "boundaries": ("path", "encoding", "crs", "columns", "values", "layer"),
}
OSM_SUFFIXES = (".osm", ".osm.bz2", ".osm.pbf")
LINE_SUFFIXES = (".shp", ".gpkg", ".geojson", ".json")


@dataclass(frozen=True)
class RoadsSource:
    """Where the road network comes from; the coverage engine reads it."""

    path: Path
    format: str
    class_column: str | None = None
    speed_column: str | None = None
    oneway_column: str | None = None
    crs: str | None = None
    encoding: str | None = None


@dataclass(frozen=True)
class Project:
    """A validated project: WGS84 layers with canonical columns, the metric CRS and the road source."""

    name: str
    path: Path
    crs: str
    facilities: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame
    boundaries: gpd.GeoDataFrame | None
    roads: RoadsSource
    parameters: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Path] = field(default_factory=dict)
    basemap_key: str | None = None
    """The project file's `basemap_key` (a Tianditu key), if any."""


def load_project(path: str | Path) -> Project:
    """Read, check and normalise a project file and the layers it names.

    Raises InputError listing every error (one line each: file, row and id, field, problem, what was
    expected); warnings are logged. Input files are only read.
    """
    problems = Problems()
    project = _build(Path(path), problems)
    problems.raise_if_errors(str(path))
    if project is None:  # _build only gives None after recording an error
        raise AssertionError("project could not be built but no error was recorded")
    logger.info("%s: %d facilities, %d villages, metric CRS %s", project.name, len(project.facilities),
                len(project.villages), project.crs)
    return project


def validate_project(path: str | Path) -> pd.DataFrame:
    """Every problem of a project as a table: file, row, id, field, severity, problem, suggestion."""
    problems = Problems()
    _build(Path(path), problems)
    return problems.frame()


def declared_inputs(path: str | Path) -> tuple[str | None, list[Path]]:
    """The project's name and every file it names (itself and its layers), without reading the layers
    and whatever is wrong with it: what a command must not overwrite even when the project is invalid."""
    path = Path(path)
    doc = _read_yaml(path, Problems())
    files = [path.resolve()]
    if doc is None:
        return None, files
    layers = doc.get("layers")
    for entry in layers.values() if isinstance(layers, dict) else []:
        raw = entry.get("path") if isinstance(entry, dict) else entry
        if isinstance(raw, str) and raw.strip():
            files.append((path.resolve().parent / raw).resolve())
    name = doc.get("name")
    return (str(name).strip() or None) if isinstance(name, (str, int)) else None, files


def _build(path: Path, problems: Problems) -> Project | None:
    label = path.name
    doc = _read_yaml(path, problems)
    if doc is None:
        return None
    base = path.resolve().parent
    for key in doc:
        if key not in TOP_KEYS:
            problems.error(label, f"unknown top-level key '{key}'", field=str(key),
                           suggestion=_closest(str(key), TOP_KEYS, "allowed keys"))
    name = doc.get("name")
    if name is None or not str(name).strip():
        problems.error(label, "'name' is missing", field="name", suggestion="expected name: <county name>")
    elif isinstance(name, (dict, list, bool)):
        problems.error(label, f"'name' is not a text: {str(name)[:80]}", field="name",
                       suggestion="expected name: <county name>")
    project_crs = _project_crs(doc.get("crs"), label, problems)
    parameters = doc.get("parameters") or {}
    if not isinstance(parameters, dict):
        problems.error(label, "'parameters' is not a mapping", field="parameters",
                       suggestion="expected parameters: {key: value, ...}")
    specs = _layer_specs(doc.get("layers"), base, label, problems)

    inputs: dict[str, Path] = {"project": path.resolve()}
    roads = _roads(specs["roads"], problems) if "roads" in specs else None
    layers: dict[str, gpd.GeoDataFrame | None] = {}
    for role, normalise in (("facilities", normalise_facilities), ("villages", normalise_villages),
                            ("boundaries", normalise_boundaries)):
        if role in specs:
            layers[role] = _layer(specs[role], normalise, problems)
    for role, spec in specs.items():
        inputs[role] = spec.path
    facilities, villages = layers.get("facilities"), layers.get("villages")
    boundaries = layers.get("boundaries")
    if boundaries is not None:
        for role, frame in (("facilities", facilities), ("villages", villages)):
            if frame is not None:
                _check_inside(frame, boundaries, specs[role].label, ID_COLUMN[role], problems)
    if facilities is not None and villages is not None:
        _check_facility_villages(facilities, villages, specs["facilities"].label, problems)
    if project_crs is not None:
        _check_crs_extent(project_crs, [f for f in (villages, facilities) if f is not None], label, problems)
    if problems.errors or facilities is None or villages is None or roads is None:
        return None
    if project_crs is None:
        project_crs = _default_crs(villages)
    return Project(
        name=str(name).strip(), path=path.resolve(), crs=project_crs, facilities=facilities,
        villages=villages, boundaries=boundaries, roads=roads, parameters=dict(parameters), inputs=inputs,
        basemap_key=str(doc["basemap_key"]).strip() or None if doc.get("basemap_key") is not None else None,
    )


def _read_yaml(path: Path, problems: Problems) -> dict[str, Any] | None:
    label = path.name
    if path.is_dir():
        problems.error(label, f"{path} is a folder", suggestion="expected a YAML project file")
        return None
    if not path.is_file():
        problems.error(label, f"project file not found: {path}", suggestion="expected a YAML project file")
        return None
    if path.stat().st_size > MAX_BYTES:
        problems.error(label, f"the file holds {path.stat().st_size:,} bytes",
                       suggestion=f"expected a project file under {MAX_BYTES:,} bytes")
        return None
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        problems.error(label, f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                       suggestion="save the project file as UTF-8")
        return None
    except OSError as exc:
        problems.error(label, f"cannot be read: {exc.strerror}", suggestion="expected a readable project file")
        return None
    try:
        doc = load_yaml(text)
    except yaml.YAMLError as exc:
        what = "YAML" if is_refusal(exc) else "YAML syntax error"
        problems.error(label, f"{error_where(exc)}{what}: {error_text(exc)}",
                       suggestion="expected valid YAML (check indentation, ':' and quotes)")
        return None
    if not isinstance(doc, dict):
        problems.error(label, f"the file holds a {type(doc).__name__}, not a mapping of keys",
                       suggestion="expected keys name:, layers: and optionally crs:, parameters:")
        return None
    return doc


def _closest(value: str, options: tuple[str, ...], what: str) -> str:
    close = difflib.get_close_matches(value, options, n=1)
    hint = f"did you mean '{close[0]}'? " if close else ""
    return f"{hint}{what}: {', '.join(options)}"


def _project_crs(value: object, label: str, problems: Problems) -> str | None:
    if value is None:
        return None
    try:
        spec = crsmod.parse_crs(value)
    except ValueError as exc:
        problems.error(label, str(exc), field="crs", suggestion="expected a projected CRS such as EPSG:4546")
        return None
    if crsmod.is_geographic(spec):
        problems.error(label, f"crs {value} is not projected (degrees, not metres)", field="crs",
                       suggestion="expected a projected CRS such as EPSG:4546, or leave crs: out")
        return None
    return spec


def _layer_specs(layers: object, base: Path, label: str, problems: Problems) -> dict[str, LayerSpec]:
    if layers is None:
        problems.error(label, "'layers' is missing", field="layers",
                       suggestion="expected layers: with roads:, facilities: and villages:")
        return {}
    if not isinstance(layers, dict):
        problems.error(label, "'layers' is not a mapping", field="layers",
                       suggestion="expected layers: with roads:, facilities: and villages:")
        return {}
    specs: dict[str, LayerSpec] = {}
    for role, entry in layers.items():
        if role not in LAYER_ROLES:
            problems.error(label, f"unknown layer '{role}'", field=f"layers.{role}",
                           suggestion=_closest(str(role), LAYER_ROLES, "known layers"))
            continue
        spec = _layer_spec(str(role), entry, base, label, problems)
        if spec is not None:
            specs[str(role)] = spec
    for role in REQUIRED_ROLES:
        if role not in layers:
            problems.error(label, f"layer '{role}' is missing", field=f"layers.{role}",
                           suggestion=f"expected layers: {role}: <file>")
    return specs


def _layer_spec(role: str, entry: object, base: Path, label: str, problems: Problems) -> LayerSpec | None:
    where = f"layers.{role}"
    if isinstance(entry, str):
        entry = {"path": entry}
    if not isinstance(entry, dict):
        problems.error(label, f"'{where}' is neither a path nor a mapping", field=where,
                       suggestion="expected a file path, or a mapping with path: and optional settings")
        return None
    ok = True
    for key in entry:
        if key not in SPEC_KEYS[role]:
            problems.error(label, f"unknown setting '{key}'", field=where,
                           suggestion=_closest(str(key), SPEC_KEYS[role], f"settings for {role}"))
            ok = False
    raw_path = entry.get("path")
    if not isinstance(raw_path, str) or not raw_path.strip():
        problems.error(label, "'path' is missing", field=f"{where}.path", suggestion="expected path: <file>")
        return None
    path = (base / raw_path).resolve()
    if not path.is_file():
        problems.error(raw_path, f"{path} is a folder" if path.is_dir() else f"file not found: {path}",
                       field=f"{where}.path", suggestion="expected a path relative to the project file")
        ok = False
    layer_crs = None
    if entry.get("crs") is not None:
        try:
            layer_crs = crsmod.parse_crs(entry["crs"])
        except ValueError as exc:
            problems.error(label, str(exc), field=f"{where}.crs",
                           suggestion="expected wgs84, cgcs2000, gcj02, bd09 or an EPSG code")
            ok = False
    columns = _columns(entry.get("columns"), role, label, problems)
    values = _values(entry.get("values"), role, label, problems)
    texts = {}
    for key in ("encoding", "x", "y", "layer"):
        value = entry.get(key)
        if value is not None and not isinstance(value, (str, int)):
            problems.error(label, f"'{key}' is not a name", field=f"{where}.{key}",
                           suggestion=f"expected {key}: <text>")
            ok = False
        texts[key] = None if value is None else str(value)
    if not ok or columns is None or values is None:
        return None
    return LayerSpec(role=role, path=path, label=raw_path, encoding=texts["encoding"], crs=layer_crs,
                     columns=columns, values=values, x=texts["x"], y=texts["y"], layer=texts["layer"])


def _columns(columns: object, role: str, label: str, problems: Problems) -> dict[str, str] | None:
    where = f"layers.{role}.columns"
    if columns is None:
        return {}
    if not isinstance(columns, dict):
        problems.error(label, "'columns' is not a mapping", field=where,
                       suggestion="expected columns: {canonical: file column, ...}")
        return None
    out: dict[str, str] = {}
    for canonical, source in columns.items():
        if canonical not in ROLE_COLUMNS[role]:
            problems.error(label, f"unknown column '{canonical}'", field=where,
                           suggestion=_closest(str(canonical), ROLE_COLUMNS[role], f"columns of {role}"))
        elif not isinstance(source, (str, int)):
            problems.error(label, f"column for '{canonical}' is not a name", field=where,
                           suggestion=f"expected {canonical}: <file column>")
        else:
            out[str(canonical)] = str(source)
    return out if len(out) == len(columns) else None


def _values(values: object, role: str, label: str, problems: Problems) -> dict[str, Mapping[object, object]] | None:
    where = f"layers.{role}.values"
    if values is None:
        return {}
    if not isinstance(values, dict) or not all(isinstance(v, dict) for v in values.values()):
        problems.error(label, "'values' is not a mapping of mappings", field=where,
                       suggestion="expected values: {column: {file value: canonical value}}")
        return None
    unknown = [c for c in values if c not in ROLE_COLUMNS[role]]
    for column in unknown:
        problems.error(label, f"values for unknown column '{column}'", field=where,
                       suggestion=_closest(str(column), ROLE_COLUMNS[role], f"columns of {role}"))
    return None if unknown else {str(k): v for k, v in values.items()}


def _roads(spec: LayerSpec, problems: Problems) -> RoadsSource | None:
    """The road source; a line layer must name (or hold) a class or speed column."""
    name = spec.path.name.lower()
    if any(name.endswith(s) for s in OSM_SUFFIXES):
        if spec.columns:
            problems.error(spec.label, "columns: do not apply to OSM files", field="columns",
                           suggestion="OSM roads use their highway and maxspeed tags")
            return None
        return RoadsSource(path=spec.path, format="osm", crs=spec.crs, encoding=spec.encoding)
    if spec.path.suffix.lower() not in LINE_SUFFIXES:
        problems.error(spec.label, f"road file type '{spec.path.suffix}' is not supported",
                       suggestion="expected .osm, .osm.bz2, .osm.pbf, or a line layer (.shp, .gpkg, .geojson)")
        return None
    try:
        fields = [str(f) for f in pyogrio.read_info(spec.path, layer=spec.layer, encoding=spec.encoding)["fields"]]
    except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, UnicodeDecodeError) as exc:
        problems.error(spec.label, f"cannot be read: {exc}", suggestion="expected a readable line layer")
        return None
    chosen: dict[str, str | None] = {}
    defaults = {"class": ("highway", "class"), "speed_kmh": ("speed_kmh",), "oneway": ("oneway",)}
    for canonical, default in defaults.items():
        given = spec.columns.get(canonical)
        if given is not None and given not in fields:
            problems.error(spec.label, f"column '{given}' (mapped to '{canonical}') is not in the file",
                           field=canonical, suggestion=f"the file has columns: {', '.join(fields)}")
            return None
        chosen[canonical] = given or next((f for f in default if f in fields), None)
    if chosen["class"] is None and chosen["speed_kmh"] is None:
        problems.error(spec.label, "road lines have neither a class nor a speed column", field="columns",
                       suggestion="name one under columns: class: / speed_kmh: "
                                  f"(the file has columns: {', '.join(fields)})")
        return None
    return RoadsSource(path=spec.path, format="lines", class_column=chosen["class"],
                       speed_column=chosen["speed_kmh"], oneway_column=chosen["oneway"],
                       crs=spec.crs, encoding=spec.encoding)


def _layer(spec: LayerSpec, normalise: Any, problems: Problems) -> gpd.GeoDataFrame | None:
    raw = read_layer(spec, problems, points=spec.role != "boundaries", id_column=ID_COLUMN.get(spec.role))
    if raw is None:
        return None
    if spec.role != "boundaries" and raw.data.empty:
        problems.error(spec.label, f"the layer has no {spec.role}", suggestion="expected at least one row")
        return None
    table = make_table(spec.label, raw.data, spec.role, spec.columns, spec.values, problems)
    attributes = normalise(table, problems)
    if attributes is None:
        return None
    return gpd.GeoDataFrame(attributes, geometry=raw.geometry.reset_index(drop=True), crs=crsmod.WGS84)


def _check_inside(points: gpd.GeoDataFrame, boundaries: gpd.GeoDataFrame, label: str, id_column: str,
                  problems: Problems) -> None:
    """Warn about each point that lies outside every boundary polygon."""
    usable = boundaries.geometry.dropna()
    if usable.empty:
        return
    inside = np.zeros(len(points), dtype=bool)
    hits = usable.sindex.query(points.geometry, predicate="intersects")
    inside[hits[0]] = True
    for i in np.flatnonzero(~inside & points.geometry.notna().to_numpy()):
        problems.warning(label, "point lies outside every boundary polygon", row=int(i) + 1,
                         id=str(points[id_column].iloc[i]), field="geometry",
                         suggestion="check its coordinates and crs:, or the boundaries layer")


def _check_facility_villages(facilities: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, label: str,
                             problems: Problems) -> None:
    """Warn about facilities whose `vid` names no village."""
    known = set(villages["vid"])
    for i, (fid, vid) in enumerate(zip(facilities["fid"], facilities["vid"]), start=1):
        if vid and vid not in known:
            problems.warning(label, f"vid '{vid}' is not a village of the villages layer", row=i, id=fid,
                             field="vid", suggestion="expected the vid of the village the facility is in, or empty")


def _check_crs_extent(project_crs: str, layers: list[gpd.GeoDataFrame], label: str, problems: Problems) -> None:
    """An error when the project's metric CRS is not meant for where the points are (distances there
    would be stretched, or the points fall outside its zone altogether)."""
    points = [g for frame in layers for g in frame.geometry.dropna()]
    if not points:
        return
    problem = crsmod.extent_problem(project_crs, tuple(gpd.GeoSeries(points).total_bounds))
    if problem is not None:
        problems.error(label, problem, field="crs",
                       suggestion="expected the Gauss–Krüger zone of the area (e.g. EPSG:4546 at 111°E), or "
                                  "leave crs: out to have it chosen from the data")


def _default_crs(villages: gpd.GeoDataFrame) -> str:
    west, south, east, north = villages.geometry.dropna().total_bounds
    return crsmod.metric_crs_for((west + east) / 2.0, (south + north) / 2.0)
