"""Hostile facility and village layers: cells, geometries, encodings and files that are not what they say."""
from __future__ import annotations

import re
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import pytest
import shapely
from conftest import Hostile

from healthreach.layers.points import dbf_text_cells

POP = "常住人口"


def _cell(column: str, row: int, value: object):
    def edit(frame: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        frame[column] = frame[column].astype(object)
        frame.loc[row, column] = value
        return frame
    return edit


@pytest.mark.parametrize("value, says", [
    ("[/]", "'[/]' is not a number"),  # a value that used to crash the error reporter (console markup)
    ("[bold red]12[/bold red]", "'[bold red]12[/bold red]' is not a number"),
    ("99999999999999999999999", "is too large (expected at most 1e9)"),
    (1e300, "is too large"),
    (-5, "'-5' is negative"),
    (2.5, "'2.5' is not a whole number"),
    ("inf", "'inf' is not a finite number"),
    ("NaN", "not a finite number"),
    (None, "value is missing"),
])
def test_bad_population_cell_named_with_its_row(case: Hostile, value: object, says: str) -> None:
    case.layer("villages", _cell(POP, 4, value))
    case.expect("run", "project.yml", code=1, says=("villages.gpkg", "row 5", "population", says))


def test_duplicate_village_id(case: Hostile) -> None:
    case.layer("villages", lambda f: f.assign(村代码=f["村代码"].where(f.index != 7, f["村代码"].iloc[3])))
    case.expect("run", "project.yml", code=1, says=("villages.gpkg", "row 8", "is a duplicate of row 4"))


def test_missing_village_id(case: Hostile) -> None:
    case.layer("villages", _cell("村代码", 2, None))
    case.expect("run", "project.yml", code=1, says=("villages.gpkg", "row 3", "id is missing"))


def test_mapped_column_absent(case: Hostile) -> None:
    case.layer("villages", lambda f: f.drop(columns=[POP]))
    case.expect("run", "project.yml", code=1, says=("villages.gpkg", "population", POP))


def test_unknown_facility_kind(case: Hostile) -> None:
    case.layer("facilities", _cell("kind", 3, "医院?"))
    case.expect("run", "project.yml", code=1, says=("facilities.gpkg", "row 4", "kind", "医院?"))


def test_negative_beds(case: Hostile) -> None:
    case.layer("facilities", _cell("beds", 0, -3))
    case.expect("run", "project.yml", code=1, says=("facilities.gpkg", "row 1", "beds", "negative"))


def test_facilities_layer_without_rows(case: Hostile) -> None:
    case.layer("facilities", lambda f: f.iloc[:0])
    case.expect("run", "project.yml", code=1, says=("facilities.gpkg", "has no facilities"))


def test_village_without_geometry(case: Hostile) -> None:
    case.layer("villages", lambda f: f.set_geometry(f.geometry.where(f.index != 6, shapely.Point())))
    case.expect("run", "project.yml", code=1, says=("villages.gpkg", "row 7", "geometry is empty"))


def test_csv_coordinate_not_a_number(case: Hostile) -> None:
    path = case.layer("villages", suffix=".csv")
    text = path.read_text(encoding="utf-8-sig").splitlines()
    text[3] = re.sub(r",[0-9.]+,([0-9.]+)$", r",abc,\1", text[3])
    path.write_text("\n".join(text) + "\n", encoding="utf-8-sig")
    case.expect("run", "project.yml", code=1, says=("villages.csv", "row 3", "lon", "'abc' cannot be read"))


def test_csv_coordinates_swapped(case: Hostile) -> None:
    case.layer("villages", lambda f: f.set_geometry(gpd.points_from_xy(f.geometry.y, f.geometry.x)), suffix=".csv")
    case.expect("run", "project.yml", code=1, says=("villages.csv", "row 1", "appear swapped"))


def test_csv_longitude_out_of_range(case: Hostile) -> None:
    case.layer("villages", lambda f: f.set_geometry(f.geometry.where(
        f.index != 0, shapely.Point(500.0, 38.9))), suffix=".csv")
    case.expect("run", "project.yml", code=1, says=("villages.csv", "row 1", "outside the valid range"))


def test_csv_not_in_the_declared_encoding(case: Hostile) -> None:
    path = case.layer("villages", suffix=".csv")
    path.write_bytes(path.read_text(encoding="utf-8-sig").encode("gbk"))
    case.edit("    path: " + str(path), "    path: " + str(path) + "\n    encoding: utf-8")
    case.expect("run", "project.yml", code=1, says=("villages.csv", "utf-8"))


def test_csv_without_coordinate_columns(case: Hostile) -> None:
    path = case.layer("villages", suffix=".csv")
    path.write_text(path.read_text(encoding="utf-8-sig").replace(",lon,lat", ",经,纬", 1), encoding="utf-8-sig")
    case.expect("run", "project.yml", code=1, says=("villages.csv", "no x coordinate column found"))


def _shapefile(case: Hostile, *, gbk_rows: range = range(0), encoding: str = "UTF-8",
               cpg: str | None = None) -> Path:
    """The villages as a shapefile in `encoding` with ASCII column names, the names of `gbk_rows`
    rewritten in GBK inside the .dbf, and `cpg` as its .cpg (none when None)."""
    frame = gpd.read_file(case.sample / "villages.gpkg").rename(columns={
        "村代码": "vid", "村名": "name", POP: "pop", "乡镇": "town", "类型": "type", "65岁以上": "old", "6岁以下": "young",
        "来源": "src"})
    path = case.root / "villages.shp"
    pyogrio.write_dataframe(frame, path, encoding=encoding)
    dbf = path.with_suffix(".dbf")
    raw = bytearray(dbf.read_bytes())
    for row in gbk_rows:
        name = frame.loc[row, "name"]
        utf8, gbk = name.encode("utf-8"), name.encode("gbk")
        at = raw.find(utf8)
        raw[at:at + len(utf8)] = gbk + b" " * (len(utf8) - len(gbk))
    dbf.write_bytes(bytes(raw))
    path.with_suffix(".cpg").unlink(missing_ok=True)
    if cpg is not None:
        path.with_suffix(".cpg").write_text(cpg, encoding="ascii")
    mapping = "columns: {vid: vid, name: name, population: pop, township: town, setting: type, elderly: old, children: young}"
    text = case.project(f"path: {case.sample / 'villages.gpkg'}", f"path: {path}").read_text(encoding="utf-8")
    case.project(text=re.sub(r"columns: \{vid: 村代码[^}]*\}", mapping, text))
    return path


def test_dbf_mixing_gbk_and_utf8_is_refused_naming_rows(case: Hostile) -> None:
    """It used to be read as GB18030, garbling the UTF-8 rows' names without a word."""
    path = _shapefile(case, gbk_rows=range(10, 20))
    names, rows = dbf_text_cells(path.with_suffix(".dbf"))
    assert len(rows) == 155 and all(not row[names.index("name")].isascii() for row in rows)
    case.expect("run", "project.yml", code=1,
                says=("villages.shp", "text mixes encodings", "rows 1, 2, 3", "rows 11, 12, 13", "(field name)",
                      "expected one encoding"))


def test_cpg_naming_gbk_on_utf8_text_is_named(case: Hostile) -> None:
    _shapefile(case, cpg="GBK")
    case.expect("run", "project.yml", code=1, says=("villages.shp", "villages.cpg says GBK", "the text is UTF-8"))


def test_cpg_naming_utf8_on_gbk_text_is_named(case: Hostile) -> None:
    _shapefile(case, encoding="GBK", cpg="UTF-8")
    case.expect("run", "project.yml", code=1, says=("villages.shp", "does not decode as UTF-8, the encoding its .cpg file names"))


def test_gbk_shapefile_without_cpg_is_read(case: Hostile, tmp_path: Path) -> None:
    """The counterpart of the refusals above: a file wholly in GBK is read as such (validate, exit 0)."""
    _shapefile(case, encoding="GBK")
    result = case.run("validate", "project.yml", out="report")
    assert result.returncode == 0 and "Traceback" not in result.text, result.text


def test_geopackage_with_two_layers(case: Hostile) -> None:
    path = case.layer("villages")
    pyogrio.write_dataframe(gpd.read_file(path).iloc[:3], path, layer="extra", layer_options={"FID": "gpkg_fid"})
    case.expect("run", "project.yml", code=1, says=("villages.gpkg", "holds 2 layers", "choose one with layer:"))


def test_named_layer_absent(case: Hostile) -> None:
    path = case.layer("villages")
    case.edit("    path: " + str(path), "    path: " + str(path) + "\n    layer: nosuch")
    case.expect("run", "project.yml", code=1, says=("villages.gpkg", "layer 'nosuch' is not in the file"))


@pytest.mark.parametrize("content", [b"", b"not a geopackage at all" * 40, np.random.default_rng(1).bytes(5000)])
def test_file_that_is_not_a_gis_file(case: Hostile, content: bytes) -> None:
    case.write("villages.gpkg", content)
    case.project(f"path: {case.sample / 'villages.gpkg'}", f"path: {case.root / 'villages.gpkg'}")
    case.expect("run", "project.yml", code=1, says=("villages.gpkg", "cannot be"))


def test_boundaries_of_points(case: Hostile) -> None:
    frame = gpd.read_file(case.sample / "boundaries.gpkg")
    frame = frame.set_geometry(frame.geometry.representative_point())
    pyogrio.write_dataframe(frame, case.root / "boundaries.gpkg")
    case.project(f"boundaries: {case.sample / 'boundaries.gpkg'}", f"boundaries: {case.root / 'boundaries.gpkg'}")
    case.expect("run", "project.yml", code=1, says=("boundaries.gpkg", "row 1", "geometry is a Point", "polygon"))


def test_setting_value_not_mapped(case: Hostile) -> None:
    case.layer("villages", _cell("类型", 9, "郊区"))
    case.expect("run", "project.yml", code=1, says=("villages.gpkg", "row 10", "setting", "郊区"))
