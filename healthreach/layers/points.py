"""Reading one layer file (GeoPackage, Shapefile, GeoJSON, CSV, XLSX) into WGS84 geometries.

Files are only ever opened for reading. Every problem goes to the `Problems` collector; a layer that
cannot be read at all gives None.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pyproj
import shapely

from healthreach.layers import crs as crsmod
from healthreach.layers.validate import Problems, id_text, is_missing

logger = logging.getLogger(__name__)

VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json")
TABLE_SUFFIXES = (".csv", ".xlsx")
X_NAMES = ("lon", "lng", "longitude", "x", "经度")
Y_NAMES = ("lat", "latitude", "y", "纬度")
# Rough extent of China (degrees) for spotting swapped longitude/latitude.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)
_SHAPEFILE_GUESSES = ("utf-8", "gb18030")
_TEXT_GUESSES = ("utf-8-sig", "gb18030")
_AREA_MARGIN_DEG = 1.0
_CHINESE_CODE_PAGES = ("GBK", "936", "CP936", "GB2312", "GB18030", "ANSI936")


@dataclass(frozen=True)
class LayerSpec:
    """One entry of the project's `layers:` (paths already resolved against the project file)."""

    role: str
    path: Path
    label: str
    encoding: str | None = None
    crs: str | None = None
    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[object, object]] = field(default_factory=dict)
    x: str | None = None
    y: str | None = None
    layer: str | None = None


@dataclass(frozen=True)
class RawLayer:
    """A layer's attributes (file columns, input order) and WGS84 geometry (None where unusable)."""

    data: pd.DataFrame
    geometry: gpd.GeoSeries


def suffix_of(path: Path) -> str:
    """The lower-case file suffix that decides how a layer is read."""
    return path.suffix.lower()


def read_layer(spec: LayerSpec, problems: Problems, *, points: bool, id_column: str | None) -> RawLayer | None:
    """Read a layer and convert its geometry to WGS84.

    With `points`, polygons become representative points and CSV/XLSX rows become points from their
    coordinate columns; otherwise the layer must hold polygons. `id_column` (canonical fid/vid) names
    rows in messages.
    """
    suffix = suffix_of(spec.path)
    if suffix in TABLE_SUFFIXES:
        if not points:
            problems.error(spec.label, f"a {suffix} table cannot hold {spec.role} polygons",
                           suggestion="expected a GeoPackage, Shapefile or GeoJSON polygon layer")
            return None
        data = _read_table(spec, problems)
        if data is None:
            return None
        ids = _ids(data, spec, id_column)
        xy = _coordinates(data, spec, ids, problems)
        if xy is None:
            return None
        source_crs = spec.crs or crsmod.WGS84
        geoms = gpd.GeoSeries(shapely.points(xy[0], xy[1]), index=data.index)
        geoms = geoms.where(np.isfinite(xy[0]) & np.isfinite(xy[1]), None)
    elif suffix in VECTOR_SUFFIXES:
        frame = _read_vector(spec, problems)
        if frame is None:
            return None
        data = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        ids = _ids(data, spec, id_column)
        source_crs = _vector_crs(frame, spec, problems)
        geoms = _check_geometry(frame.geometry, spec, ids, problems, points=points)
    else:
        problems.error(spec.label, f"file type '{suffix}' is not supported for {spec.role}",
                       suggestion="expected .gpkg, .shp, .geojson, .csv or .xlsx")
        return None
    data = data.reset_index(drop=True)
    geoms = geoms.reset_index(drop=True)
    geoms = _check_position(geoms, source_crs, spec, ids, problems)
    if points:
        converted = crsmod.to_wgs84_points(_filled(geoms), source_crs)
    else:
        converted = crsmod.to_wgs84(gpd.GeoDataFrame(geometry=_filled(geoms)), source_crs).geometry
    return RawLayer(data, converted.where(geoms.notna(), None).set_crs(crsmod.WGS84, allow_override=True))


def _filled(geoms: gpd.GeoSeries) -> gpd.GeoSeries:
    """Unusable rows as empty points, so vectorised conversion runs over the whole column."""
    return gpd.GeoSeries(geoms.fillna(shapely.Point()), index=geoms.index)


def _ids(data: pd.DataFrame, spec: LayerSpec, id_column: str | None) -> list[str]:
    if id_column is None:
        return [""] * len(data)
    name = spec.columns.get(id_column, id_column)
    if name not in data.columns:
        return [""] * len(data)
    return [id_text(v) for v in data[name]]


def _read_table(spec: LayerSpec, problems: Problems) -> pd.DataFrame | None:
    """A CSV or XLSX sheet as text/number cells with string column names."""
    if suffix_of(spec.path) == ".csv":
        encodings = (spec.encoding,) if spec.encoding else _TEXT_GUESSES
        for encoding in encodings:
            try:
                data = pd.read_csv(spec.path, dtype=str, keep_default_na=False, encoding=encoding)
            except UnicodeDecodeError:
                continue
            except (pd.errors.ParserError, pd.errors.EmptyDataError, LookupError, OSError) as exc:
                problems.error(spec.label, f"cannot be read as CSV: {exc}",
                               suggestion="expected a comma-separated table with a header row")
                return None
            if not spec.encoding:
                logger.info("%s: read as %s", spec.label, encoding)
            return data
        problems.error(spec.label, f"text is not in {' or '.join(encodings)}",
                       suggestion="state the file's encoding under encoding:")
        return None
    try:
        with warnings.catch_warnings():
            # Sheets saved by WPS/older Excel lack a default style; openpyxl warns and reads them fine.
            warnings.filterwarnings("ignore", category=UserWarning, module="openpyxl")
            data = pd.read_excel(spec.path, sheet_name=spec.layer or 0, dtype=object, engine="openpyxl")
    except (ValueError, KeyError, OSError) as exc:
        problems.error(spec.label, f"cannot be read as an Excel workbook: {exc}",
                       suggestion="expected an .xlsx file (sheet named by layer:, default the first)")
        return None
    data.columns = [str(c).strip() for c in data.columns]
    return data


def _coordinates(data: pd.DataFrame, spec: LayerSpec, ids: list[str],
                 problems: Problems) -> tuple[np.ndarray, np.ndarray] | None:
    """The x/y (lon/lat) columns as floats; NaN where a cell cannot be parsed (reported)."""
    names: list[str] = []
    for axis, given, defaults in (("x", spec.x, X_NAMES), ("y", spec.y, Y_NAMES)):
        present = [str(c) for c in data.columns]
        if given is not None:
            if given not in present:
                problems.error(spec.label, f"coordinate column '{given}' (named by {axis}:) is not in the file",
                               field=given, suggestion=f"the file has columns: {', '.join(present)}")
                return None
            names.append(given)
            continue
        lower = {c.lower(): c for c in present}
        found = next((lower[n] for n in defaults if n in lower), None)
        if found is None:
            problems.error(spec.label, f"no {axis} coordinate column found", field=axis,
                           suggestion=f"name it with {axis}: (looked for {', '.join(defaults)}; "
                                      f"the file has columns: {', '.join(present)})")
            return None
        names.append(found)
    arrays = []
    for name in names:
        values = np.full(len(data), np.nan)
        for i, cell in enumerate(data[name]):
            try:
                values[i] = float(str(cell).strip().replace("°", ""))
            except ValueError:
                values[i] = np.nan
            if not np.isfinite(values[i]):
                problems.error(spec.label, f"coordinate '{'' if is_missing(cell) else cell}' cannot be read "
                               "as a number", row=i + 1, id=ids[i], field=name,
                               suggestion="expected a decimal number (degrees, or metres in a projected crs:)")
        arrays.append(values)
    return arrays[0], arrays[1]


def _read_vector(spec: LayerSpec, problems: Problems) -> gpd.GeoDataFrame | None:
    """A GeoPackage/Shapefile/GeoJSON layer; Shapefile text decoded from .cpg, else UTF-8, else GB18030."""
    try:
        layers = [str(name) for name in pyogrio.list_layers(spec.path)[:, 0]]
    except (pyogrio.errors.DataSourceError, OSError) as exc:
        problems.error(spec.label, f"cannot be opened: {exc}", suggestion="expected a readable GIS file")
        return None
    layer = spec.layer
    if layer is not None and layer not in layers:
        problems.error(spec.label, f"layer '{layer}' is not in the file", field="layer",
                       suggestion=f"the file has layers: {', '.join(layers)}")
        return None
    if layer is None and len(layers) > 1:
        problems.error(spec.label, f"the file holds {len(layers)} layers", field="layer",
                       suggestion=f"choose one with layer: ({', '.join(layers)})")
        return None
    if suffix_of(spec.path) == ".shp" and not _dbf_text_sound(spec, problems):
        return None
    encodings: tuple[str | None, ...] = (spec.encoding,)
    if spec.encoding is None and suffix_of(spec.path) == ".shp" and not _has_cpg(spec.path):
        encodings = _SHAPEFILE_GUESSES
    for encoding in encodings:
        try:
            frame = gpd.read_file(spec.path, layer=layer, encoding=encoding, engine="pyogrio")
        except UnicodeDecodeError:
            continue
        except (pyogrio.errors.DataSourceError, pyogrio.errors.DataLayerError, LookupError, ValueError) as exc:
            problems.error(spec.label, f"cannot be read: {exc}", suggestion="expected a readable GIS file")
            return None
        if len(encodings) > 1:
            logger.info("%s: no .cpg file; text decoded as %s", spec.label, encoding)
        return frame
    if spec.encoding is None and _has_cpg(spec.path):
        cpg = spec.path.with_suffix(".cpg").read_text(encoding="ascii", errors="replace").strip()
        problems.error(spec.label, f"text does not decode as {cpg}, the encoding its .cpg file names",
                       field="encoding", suggestion="the .cpg is probably wrong; state the real encoding under "
                       "encoding: (e.g. gbk for files from ArcGIS on Chinese Windows)")
    elif spec.encoding is None:
        problems.error(spec.label, "text is neither UTF-8 nor GB18030/GBK", field="encoding",
                       suggestion="state the encoding under encoding: or add a .cpg file")
    else:
        problems.error(spec.label, f"text does not decode as {spec.encoding}", field="encoding",
                       suggestion="check the encoding: given for this layer")
    return None


def _has_cpg(path: Path) -> bool:
    return any(path.with_suffix(s).exists() for s in (".cpg", ".CPG"))


def _cpg(path: Path) -> tuple[Path, str] | None:
    """The .cpg file beside a shapefile and the code page it names."""
    for suffix in (".cpg", ".CPG"):
        cpg = path.with_suffix(suffix)
        if cpg.is_file():
            return cpg, cpg.read_text(encoding="ascii", errors="replace").strip()
    return None


def dbf_text_cells(dbf: Path) -> tuple[list[str], list[list[bytes]]]:
    """The text (C) field names of a dBASE file and, per record, the raw bytes of those fields
    (deleted records left out, as GDAL reads them), so their encoding can be judged cell by cell."""
    data = dbf.read_bytes()
    if len(data) < 32:
        return [], []
    count = int.from_bytes(data[4:8], "little")
    header, size = int.from_bytes(data[8:10], "little"), int.from_bytes(data[10:12], "little")
    names, fields, offset = [], [], 1
    for pos in range(32, header - 31, 32):
        if data[pos] == 0x0D:
            break
        length = data[pos + 16]
        if chr(data[pos + 11]) == "C":
            names.append(data[pos:pos + 11].split(b"\0")[0].decode("latin-1"))
            fields.append((offset, length))
        offset += length
    rows = []
    for index in range(count):
        record = data[header + index * size: header + (index + 1) * size]
        if len(record) < size:
            break
        if record[:1] != b"*":
            rows.append([record[start:start + length] for start, length in fields])
    return names, rows


def _rows_text(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:8])
    return f"row{'s' if len(rows) > 1 else ''} {shown}" + (f" and {len(rows) - 8} more" if len(rows) > 8 else "")


def _dbf_text_sound(spec: LayerSpec, problems: Problems) -> bool:
    """False (with an error) when a shapefile's text mixes UTF-8 and GBK rows (any single encoding
    would turn some names into mojibake), or is UTF-8 while its .cpg names a Chinese code page."""
    dbf = next((spec.path.with_suffix(s) for s in (".dbf", ".DBF") if spec.path.with_suffix(s).is_file()), None)
    if dbf is None:
        return True
    try:
        names, rows = dbf_text_cells(dbf)
    except OSError:
        return True  # the reader reports an unreadable file
    utf8: dict[int, set[str]] = {}
    other: dict[int, set[str]] = {}
    for number, cells in enumerate(rows, start=1):
        for name, raw in zip(names, cells):
            if raw.isascii():
                continue
            try:
                raw.decode("utf-8")
                utf8.setdefault(number, set()).add(name)
            except UnicodeDecodeError:
                other.setdefault(number, set()).add(name)
    if utf8 and other:
        def described(cells: dict[int, set[str]]) -> str:
            fields = sorted(set().union(*cells.values()))
            return f"{_rows_text(sorted(cells))} (field{'s' if len(fields) > 1 else ''} {', '.join(fields)})"

        problems.error(spec.label, f"text mixes encodings: {described(utf8)} UTF-8, {described(other)} not "
                       "UTF-8 (GBK or another code page)", field="encoding",
                       suggestion="expected one encoding for the whole file; re-save the cells of one kind "
                                  "(e.g. in QGIS with the right encoding) so the names are not garbled")
        return False
    cpg = _cpg(spec.path)
    chinese_page = cpg is not None and cpg[1].upper().replace("-", "") in _CHINESE_CODE_PAGES
    if spec.encoding is None and chinese_page and utf8:
        problems.error(spec.label, f"its .cpg file {cpg[0].name} says {cpg[1]}, but the text is UTF-8 "
                       f"({_rows_text(sorted(utf8))})", field="encoding",
                       suggestion=f"expected a .cpg naming the text's encoding: write UTF-8 in {cpg[0].name}, "
                                  "or state encoding: utf-8 for this layer")
        return False
    return True


def _vector_crs(frame: gpd.GeoDataFrame, spec: LayerSpec, problems: Problems) -> str:
    if spec.crs is not None:
        if frame.crs is not None and spec.crs not in (crsmod.GCJ02, crsmod.BD09):
            own = crsmod.parse_crs(frame.crs.to_string())
            if own != spec.crs:
                logger.info("%s: file says %s; crs: %s from the project is used", spec.label, own, spec.crs)
        return spec.crs
    if frame.crs is None:
        problems.warning(spec.label, "the file states no coordinate system: taken as WGS84", field="crs",
                         suggestion="state it under crs: (e.g. wgs84, cgcs2000, gcj02, EPSG:4546)")
        return crsmod.WGS84
    return crsmod.parse_crs(frame.crs.to_string())


def _check_geometry(geoms: gpd.GeoSeries, spec: LayerSpec, ids: list[str], problems: Problems, *,
                    points: bool) -> gpd.GeoSeries:
    """Usable geometry per row (None where missing, empty, invalid or of the wrong type)."""
    out: list[shapely.Geometry | None] = []
    allowed = ("Point", "MultiPoint", "Polygon", "MultiPolygon") if points else ("Polygon", "MultiPolygon")
    expected = "a point or polygon" if points else "a polygon"
    for i, geom in enumerate(geoms, start=1):
        problem = ""
        if geom is None:
            problem = "geometry is missing"
        elif geom.is_empty:
            problem = "geometry is empty"
        elif geom.geom_type not in allowed:
            problem = f"geometry is a {geom.geom_type}"
        elif not shapely.is_valid(geom):
            problem = f"geometry is invalid ({shapely.is_valid_reason(geom)})"
        if problem:
            problems.error(spec.label, problem, row=i, id=ids[i - 1], field="geometry",
                           suggestion=f"expected {expected}" + (" (repair it, e.g. QGIS Fix geometries)"
                                                                 if "invalid" in problem else ""))
            out.append(None)
        elif points and geom.geom_type != "Point":
            out.append(geom.representative_point())
        else:
            out.append(geom)
    return gpd.GeoSeries(out, index=geoms.index)


def _check_position(geoms: gpd.GeoSeries, source_crs: str, spec: LayerSpec, ids: list[str],
                    problems: Problems) -> gpd.GeoSeries:
    """Drop (and report) points whose coordinates cannot be in the stated CRS; swapped axes named."""
    anchors = geoms.representative_point() if len(geoms) else geoms
    x = np.array([g.x if g is not None and not g.is_empty else np.nan for g in anchors], dtype=float)
    y = np.array([g.y if g is not None and not g.is_empty else np.nan for g in anchors], dtype=float)
    bad = _implausible(x, y, source_crs)
    keep = geoms.copy()
    for i in (k for k, found in enumerate(bad) if found is not None):
        problem, suggestion = bad[i]
        problems.error(spec.label, problem, row=int(i) + 1, id=ids[i], field="geometry", suggestion=suggestion)
        keep.iloc[i] = None
    return keep


def _implausible(x: np.ndarray, y: np.ndarray, source_crs: str) -> np.ndarray:
    """Per point: (problem, suggestion) when the coordinates cannot be right, else None (object array)."""
    out = np.full(len(x), None, dtype=object)
    finite = np.isfinite(x) & np.isfinite(y)
    if crsmod.is_geographic(source_crs):
        swapped = finite & _in_china(y, x) & ~_in_china(x, y)
        out_of_range = finite & ((np.abs(y) > 90) | (np.abs(x) > 180))
        for i in np.flatnonzero(swapped | out_of_range):
            where = f"lon {x[i]:g}, lat {y[i]:g}"
            if swapped[i]:
                out[i] = (f"{where}: longitude and latitude appear swapped",
                          "swap the columns (x: is longitude, y: is latitude) or fix the row")
            else:
                out[i] = (f"{where}: outside the valid range", "expected longitude -180..180 and latitude -90..90")
        return out
    west, south, east, north = _area_of_use(source_crs)
    to_geo = pyproj.Transformer.from_crs(source_crs, crsmod.WGS84, always_xy=True)
    lon, lat = to_geo.transform(x, y)
    lon_s, lat_s = to_geo.transform(y, x)

    def inside(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore"):
            return np.isfinite(a) & np.isfinite(b) & (a >= west) & (a <= east) & (b >= south) & (b <= north)

    fits, fits_swapped = inside(lon, lat), inside(lon_s, lat_s)
    for i in np.flatnonzero(finite & ~fits):
        where = f"x {x[i]:g}, y {y[i]:g}"
        if fits_swapped[i]:
            out[i] = (f"{where}: x and y appear swapped for {source_crs}",
                      "swap the columns (x: is the easting; Chinese surveys often call the northing X)")
        else:
            out[i] = (f"{where}: outside the area where {source_crs} applies",
                      "check crs: (e.g. the Gauss–Krüger zone, with or without zone prefix) and the columns")
    return out


def _in_china(lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return (lon >= CHINA_LON[0]) & (lon <= CHINA_LON[1]) & (lat >= CHINA_LAT[0]) & (lat <= CHINA_LAT[1])


def _area_of_use(source_crs: str) -> tuple[float, float, float, float]:
    """The CRS's area of use (degrees) widened by a margin; the whole globe when unknown."""
    area = pyproj.CRS.from_user_input(source_crs).area_of_use
    if area is None:
        return -180.0, -90.0, 180.0, 90.0
    m = _AREA_MARGIN_DEG
    return area.west - m, area.south - m, area.east + m, area.north + m
