"""GIS and table exports that open cleanly in ArcGIS, QGIS and Excel, all written atomically.

Every writer writes to a temporary file beside the target and moves it into place only when
complete, so a crash or a bad value never leaves a half-written file where a planner expects one.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import glob
import hashlib
import itertools
import json
import logging
import math
import os
import re
import secrets
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyproj import CRS

from healthreach._errors import InputError, UsageError
from healthreach.layers.crs import metric_crs_for
from healthreach.maps.fields import chinese_header, describe, field_table, short_names

log = logging.getLogger(__name__)

DBF_TEXT_BYTES = 254
SHAPEFILE_ENCODINGS: dict[str, str] = {"utf-8": "UTF-8", "utf8": "UTF-8", "gbk": "GBK", "cp936": "GBK"}
# Index files a previous write may have left; they would describe the old geometry.
_STALE_SIDECARS = (".qix", ".sbn", ".sbx")
RUN_ID_KEY = "healthreach_run_id"
"""Metadata key of the run id in GeoPackage layers (the xlsx keeps it as its `identifier` property)."""
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make Excel or LibreOffice read a cell as a formula (OWASP "CSV injection")."""


def _temp_sibling(path: Path) -> Path:
    """A hidden, unique name in the same folder as `path` that keeps its suffix (drivers read it)."""
    return path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp{path.suffix}")


def _remove_temp(temp: Path) -> None:
    """Delete `temp` and any journal files a driver created beside it (`temp-journal`, `temp-wal`)."""
    for leftover in temp.parent.glob(glob.escape(temp.name) + "*"):
        if leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_write(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write to; on success it replaces `path`, on error it is removed.

    The temporary file lives in the same folder so that `os.replace` is an atomic rename. Parent
    folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = _temp_sibling(path)
    try:
        yield temp
        if not temp.exists():
            raise UsageError(f"{path}: nothing was written to the temporary file {temp.name}")
        with open(temp, "rb") as handle:
            # The rename must not become visible before the data is on disk.
            os.fsync(handle.fileno())
        os.replace(temp, path)
    finally:
        _remove_temp(temp)


def hash_file(path: Path) -> str:
    """SHA-256 of a file's bytes as 64 hex digits (for provenance in run.json)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _require_gdf(gdf: object, what: str) -> gpd.GeoDataFrame:
    """`gdf` itself when it is a GeoDataFrame with a CRS; raise UsageError otherwise."""
    if not isinstance(gdf, gpd.GeoDataFrame):
        raise UsageError(f"{what}: expected a GeoDataFrame, got {type(gdf).__name__}")
    if gdf.crs is None:
        raise UsageError(f"{what}: the GeoDataFrame has no CRS; set it before exporting")
    return gdf


def write_gpkg(gdf: gpd.GeoDataFrame, path: Path, layer: str, *, keep_other_layers: bool = True,
               run_id: str | None = None) -> Path:
    """Write `gdf` as layer `layer` of a GeoPackage, full column names and Chinese text kept.

    Other layers already in the file are preserved (unless `keep_other_layers` is False: the file
    then holds this layer alone); a layer of the same name is replaced. `run_id` is kept in the
    layer's metadata (`healthreach_run_id`, see `RUN_ID_KEY`), as run.json records it.
    """
    path = Path(path)
    gdf = _require_gdf(gdf, f"{path} layer {layer!r}")
    with atomic_write(path) as temp:
        if keep_other_layers and path.exists():
            shutil.copyfile(path, temp)
        # GeoPackage reserves `fid` for its integer key; our text `fid` (facility id) must stay a
        # column, so the key gets another name.
        key = next(n for n in ("gpkg_fid", "gpkg_fid_", "gpkg_row_id") if n not in gdf.columns)
        # Layer metadata, not dataset metadata: GDAL keeps the latter in an .aux.xml file beside a
        # GeoPackage that already has a layer.
        pyogrio.write_dataframe(gdf, temp, layer=layer, driver="GPKG", layer_options={"FID": key},
                                layer_metadata={RUN_ID_KEY: run_id} if run_id else None)
    log.info("wrote %s layer %s (%d features)", path, layer, len(gdf))
    return path


def _truncate_bytes(text: str, limit: int, encoding: str) -> str:
    """Longest prefix of `text` that encodes to at most `limit` bytes, never splitting a character."""
    used = 0
    for index, char in enumerate(text):
        used += len(char.encode(encoding))
        if used > limit:
            return text[:index]
    return text


def _is_text(series: pd.Series) -> bool:
    """Whether a column holds text (object or string dtype), as opposed to numbers or dates."""
    return pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)


def _prepare_text(series: pd.Series, column: str, encoding: str, source: str) -> pd.Series:
    """Text column ready for dBASE: values as str, cut to 254 bytes, checked against `encoding`."""
    values: list[object] = []
    for row, value in enumerate(series.tolist()):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            values.append(None)
            continue
        text = value if isinstance(value, str) else str(value)
        try:
            size = len(text.encode(encoding))
        except UnicodeEncodeError as exc:
            bad = text[exc.start : exc.end]
            raise InputError(
                f"{source}: row {row}, field {column!r}: character {bad!r} cannot be written in "
                f"{encoding}; expected text that {encoding} can encode (write the shapefile as UTF-8)"
            ) from exc
        if size > DBF_TEXT_BYTES:
            short = _truncate_bytes(text, DBF_TEXT_BYTES, encoding)
            log.warning(
                "%s: row %d, field %r: text of %d bytes cut to %d bytes (shapefile limit %d bytes)",
                source, row, column, size, len(short.encode(encoding)), DBF_TEXT_BYTES,
            )
            text = short
        values.append(text)
    return pd.Series(values, index=series.index, dtype=object)


OUT_CRS_CHOICES: tuple[str, ...] = ("wgs84", "cgcs2000", "gk")


def resolve_out_crs(choice: str, project_crs: str | None = None, *,
                    centre: tuple[float, float] | None = None) -> str:
    """EPSG code for `--out-crs`: 'wgs84' → EPSG:4326, 'cgcs2000' → EPSG:4490, 'gk' → the project's
    CGCS2000 Gauss–Krüger zone; an 'EPSG:n' code is returned as given.

    For 'gk', `project_crs` is used when it is a CGCS2000 Gauss–Krüger zone (EPSG:4491–4554);
    otherwise the 3-degree zone of `centre` (longitude, latitude in degrees) is chosen.
    """
    key = choice.strip().lower()
    if key.startswith("epsg:"):
        return choice.strip().upper()
    if key == "wgs84":
        return "EPSG:4326"
    if key == "cgcs2000":
        return "EPSG:4490"
    if key != "gk":
        raise UsageError(f"--out-crs {choice}: expected one of {', '.join(OUT_CRS_CHOICES)}")
    if project_crs is not None:
        code = CRS.from_user_input(project_crs).to_epsg()
        if code is not None and 4491 <= code <= 4554:
            return f"EPSG:{code}"
    if centre is None:
        raise UsageError(f"--out-crs gk: the project CRS {project_crs} is not a CGCS2000 Gauss–Krüger zone "
                         "and no study-area centre was given to choose one")
    chosen = metric_crs_for(*centre)
    log.info("--out-crs gk: project CRS %s is not a CGCS2000 Gauss–Krüger zone; using %s", project_crs, chosen)
    return chosen


def shapefile_encoding(encoding: str) -> str:
    """Canonical `UTF-8` or `GBK` for a user-given encoding name."""
    canonical = SHAPEFILE_ENCODINGS.get(encoding.strip().lower().replace("_", "-"))
    if canonical is None:
        raise UsageError(f"shapefile encoding {encoding!r}: expected UTF-8 or GBK")
    return canonical


def write_shapefile(
    gdf: gpd.GeoDataFrame,
    path: Path,
    *,
    encoding: str = "UTF-8",
    fields: dict[str, str] | None = None,
    crs: str | None = None,
) -> pd.DataFrame:
    """Write a shapefile (.shp .shx .dbf .prj .cpg) and its field dictionary; return the dictionary.

    Field names become unique ASCII names of at most 10 bytes (`fields` overrides long -> short);
    `<name>_fields.csv` beside the shapefile maps them back, with units and zh/en descriptions.
    `encoding` is `UTF-8` or `GBK` (older ArcGIS installs in China expect GBK) and is recorded
    in the .cpg. Text longer than 254 bytes is cut on a character boundary, with a warning. With
    `crs`, features are reprojected first so the .prj describes that CRS.
    """
    path = Path(path)
    if path.suffix.lower() != ".shp":
        path = path.with_name(path.name + ".shp")
    gdf = _require_gdf(gdf, str(path))
    codec = shapefile_encoding(encoding)
    if crs is not None:
        gdf = gdf.to_crs(crs)
    columns = [c for c in gdf.columns if c != gdf.geometry.name]
    names = [str(c) for c in columns]
    mapping = short_names(names, fields)
    data: dict[str, Any] = {}
    for column, name in zip(columns, names):
        series = gdf[column]
        if _is_text(series):
            series = _prepare_text(series, name, codec, str(path))
        data[mapping[name]] = series.reset_index(drop=True)
    out = gpd.GeoDataFrame(data, geometry=gdf.geometry.reset_index(drop=True), crs=gdf.crs)
    table = field_table(mapping)
    stem = path.stem
    fields_csv = path.with_name(f"{stem}_fields.csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.parent / f".{stem}.{secrets.token_hex(6)}.tmpdir"
    staging.mkdir()
    try:
        pyogrio.write_dataframe(out, staging / path.name, driver="ESRI Shapefile", encoding=codec)
        table.to_csv(staging / fields_csv.name, index=False, encoding="utf-8-sig")
        _check_cpg(staging / f"{stem}.cpg", codec)
        for suffix in _STALE_SIDECARS:
            path.with_suffix(suffix).unlink(missing_ok=True)
        # The .shp goes last: readers look for it first, and it is only complete with its siblings.
        staged = sorted(staging.iterdir(), key=lambda p: p.suffix.lower() == ".shp")
        for item in staged:
            with open(item, "rb") as handle:
                os.fsync(handle.fileno())
            os.replace(item, path.parent / item.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    log.info("wrote %s (%d features, %s) and %s", path, len(out), codec, fields_csv.name)
    return table


def _check_cpg(cpg: Path, codec: str) -> None:
    """Fail loudly if GDAL recorded another code page than asked (ArcGIS would misread the text)."""
    written = cpg.read_text(encoding="ascii").strip() if cpg.exists() else ""
    if written.upper() != codec.upper():
        raise RuntimeError(f"{cpg}: expected code page {codec}, GDAL wrote {written!r}")


def formula_safe(text: str) -> str:
    """`text` with a leading apostrophe when a spreadsheet would read it as a formula (OWASP)."""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _formula_safe_table(df: pd.DataFrame) -> pd.DataFrame:
    """Text cells and column names made formula-safe; numbers (negative ones too) stay numbers."""
    out = df.rename(columns=lambda c: formula_safe(c) if isinstance(c, str) else c)
    for column in out.columns:
        if _is_text(out[column]):
            out[column] = out[column].map(lambda v: formula_safe(v) if isinstance(v, str) else v)
    return out


def write_csv(df: pd.DataFrame, path: Path) -> Path:
    """Write a table as UTF-8 CSV with a byte-order mark, so Excel shows Chinese text correctly.

    A GeoDataFrame's geometry is written as WKT; the index is not written. Text that a spreadsheet
    would run as a formula (starting with =, +, -, @, tab or CR) gets a leading apostrophe.
    """
    path = Path(path)
    if isinstance(df, gpd.GeoDataFrame):
        df = pd.DataFrame(df).assign(**{df.geometry.name: df.geometry.to_wkt()})
    df = _formula_safe_table(df)
    with atomic_write(path) as temp:
        # CRLF rows (RFC 4180): a carriage return inside a cell then gets the cell quoted, not the row split.
        df.to_csv(temp, index=False, encoding="utf-8-sig", lineterminator="\r\n")
    return path


def _jsonable(obj: object, where: str) -> object:
    """`obj` made of JSON types only: numpy/pandas scalars unwrapped, NaN -> null, Path -> str."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v, f"{where}.{k}") for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        items = sorted(obj, key=str) if isinstance(obj, (set, frozenset)) else obj
        return [_jsonable(v, f"{where}[{i}]") for i, v in enumerate(items)]
    if isinstance(obj, np.ndarray):
        return _jsonable(obj.tolist(), where)
    if isinstance(obj, pd.DataFrame):
        return _jsonable(obj.to_dict(orient="records"), where)
    if isinstance(obj, pd.Series):
        return _jsonable(obj.to_dict(), where)
    if isinstance(obj, np.generic):
        obj = obj.item()
    if obj is None or obj is pd.NA or obj is pd.NaT:
        return None
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, (str, bool, int)):
        return obj
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, (dt.datetime, dt.date, dt.time)):
        return obj.isoformat()
    if isinstance(obj, (dt.timedelta, pd.Timedelta)):
        return pd.Timedelta(obj).total_seconds()
    raise UsageError(f"JSON export: value at {where} of type {type(obj).__name__} cannot be written")


def write_json(obj: object, path: Path) -> Path:
    """Write `obj` as UTF-8 JSON (Chinese kept, indent 2); numpy/pandas scalars, NaN and Paths allowed.

    NaN and infinities become null (strict JSON has no NaN); timedeltas become seconds.
    """
    path = Path(path)
    text = json.dumps(_jsonable(obj, "$"), ensure_ascii=False, indent=2, allow_nan=False)
    with atomic_write(path) as temp:
        temp.write_text(text + "\n", encoding="utf-8")
    return path


_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\]")


def sheet_names(names: list[str]) -> list[str]:
    """Valid, unique Excel sheet names: at most 31 characters, none of `[]:*?/\\`.

    Excel compares sheet names case-insensitively and rejects a leading or trailing apostrophe.
    """
    out: list[str] = []
    taken: set[str] = set()
    for raw in names:
        base = _SHEET_FORBIDDEN.sub("_", str(raw)).strip("'").strip() or "Sheet"
        base = base[:31]
        name = base
        number = 2
        while name.lower() in taken:
            tail = f" ({number})"
            name = base[: 31 - len(tail)] + tail
            number += 1
        taken.add(name.lower())
        out.append(name)
    return out


def _number_format(column: str, series: pd.Series) -> str | None:
    """Excel number format for a column: persons with thousands separators, minutes 0.0, shares %."""
    if not pd.api.types.is_numeric_dtype(series.dtype) or pd.api.types.is_bool_dtype(series.dtype):
        return None
    if column.lower().startswith("share"):
        return "0.0%"
    unit = describe(column)[0]
    if unit == "persons" or "population" in column.lower():
        return "#,##0"
    if column.endswith("_min") or unit == "minutes":
        return "0" if pd.api.types.is_integer_dtype(series.dtype) else "0.0"
    if unit in ("seconds", "metres"):
        return "#,##0"
    return None


def _cell_value(value: object) -> object:
    """A value openpyxl can store; missing values become empty cells."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        # Excel has no time zones; keep the wall-clock time the planner saw.
        value = value.replace(tzinfo=None)
    if isinstance(value, (int, float, bool, dt.datetime, dt.date, dt.time)):
        return value
    text = value if isinstance(value, str) else str(value)
    if _XLSX_ILLEGAL.search(text):
        # Control characters (often pasted from other systems) make the whole workbook unreadable.
        log.warning("control characters removed from text %r for Excel", text)
        text = _XLSX_ILLEGAL.sub("", text)
    return text


def _display_width(value: object) -> int:
    """Approximate column width in Excel units: CJK characters are about two Latin ones wide."""
    text = "" if value is None else str(value)
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)


def _table_for_sheet(df: pd.DataFrame) -> pd.DataFrame:
    """A plain DataFrame: named index levels become columns, geometry is dropped, names are str."""
    if isinstance(df, gpd.GeoDataFrame):
        df = pd.DataFrame(df.drop(columns=df.geometry.name))
    if any(name is not None for name in df.index.names):
        df = df.reset_index()
    df = df.copy()
    df.columns = [
        " ".join(str(p) for p in c) if isinstance(c, tuple) else str(c) for c in df.columns
    ]
    return df


def _as_text(cell: Any) -> None:
    """Keep a cell's text as text: never a formula, and still text when edited in Excel (quotePrefix)."""
    cell.data_type = "s"
    cell.quotePrefix = True


def write_xlsx(
    tables: dict[str, pd.DataFrame],
    path: Path,
    *,
    headers_zh: dict[str, str] | None = None,
    run_id: str | None = None,
) -> Path:
    """Write one sheet per table: bold frozen headers (column name, then Chinese name), formats.

    The second header row holds the Chinese name from `headers_zh` or the field dictionary and is
    only added when at least one column of that sheet has one. Missing values are empty cells. Text
    beginning like a formula (=, +, -, @, tab, CR) is stored as text; `run_id` becomes the workbook's
    `identifier` property.
    """
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    path = Path(path)
    if not tables:
        raise UsageError(f"{path}: no tables to write")
    zh_names = dict(headers_zh or {})
    workbook = Workbook()
    workbook.remove(workbook.active)
    bold = Font(bold=True)
    for sheet_name, df in zip(sheet_names(list(tables)), tables.values()):
        table = _table_for_sheet(df)
        sheet = workbook.create_sheet(sheet_name)
        columns = list(table.columns)
        zh_row = [zh_names.get(c) or chinese_header(c) for c in columns]
        header_rows = [columns, zh_row] if any(zh_row) else [columns]
        body = ([_cell_value(v) for v in r] for r in table.itertuples(index=False, name=None))
        for row in itertools.chain(header_rows, body):
            sheet.append(row)
            for column, value in enumerate(row, start=1):
                if isinstance(value, str) and value.startswith(FORMULA_STARTS):
                    _as_text(sheet.cell(row=sheet.max_row, column=column))
        for cell_row in sheet.iter_rows(min_row=1, max_row=len(header_rows)):
            for cell in cell_row:
                cell.font = bold
        sheet.freeze_panes = sheet.cell(row=len(header_rows) + 1, column=1)
        first_data = len(header_rows) + 1
        for index, column in enumerate(columns, start=1):
            letter = get_column_letter(index)
            number_format = _number_format(column, table[column])
            if number_format is not None:
                for (cell,) in sheet.iter_rows(min_row=first_data, min_col=index, max_col=index):
                    cell.number_format = number_format
            sample = table[column].head(1000).tolist()
            width = max(_display_width(v) for v in [*[h[index - 1] for h in header_rows], *sample])
            sheet.column_dimensions[letter].width = min(max(width + 2, 8), 60)
    if run_id:
        workbook.properties.identifier = run_id
    with atomic_write(path) as temp:
        workbook.save(temp)
    log.info("wrote %s (%d sheets)", path, len(tables))
    return path
