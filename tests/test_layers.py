"""Project file and point layers: normalisation, formats, encodings, and every broken input."""
from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import openpyxl
import pandas as pd
import pyproj
import pytest
import shapely

from healthreach._errors import InputError
from healthreach.layers import crs as hc
from healthreach.layers.project import Project, load_project, validate_project
from healthreach.layers.validate import PROBLEM_COLUMNS, id_text, parse_count

DATA = Path(__file__).parent / "data"
GOOD = DATA / "good"
BAD = DATA / "bad"
GEOD = pyproj.Geod(ellps="WGS84")

VILLAGE_COLUMNS = "{vid: 村代码, name: 村名, population: 常住人口, township: 乡镇, setting: 类型, elderly: 老年人口}"
VILLAGE_VALUES = "{setting: {城: urban, 乡: rural}}"


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def write_project(folder: Path, villages: str, **extra: str) -> Path:
    """A project using the good roads/facilities/boundaries and the given villages entry."""
    lines = ["name: 测试县", "layers:", f"  roads: {GOOD / 'roads.osm'}",
             f"  facilities: {extra.get('facilities', GOOD / 'facilities.geojson')}",
             f"  villages: {villages}"]
    if "boundaries" in extra:
        lines.append(f"  boundaries: {extra['boundaries']}")
    path = folder / "project.yml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def good() -> Project:
    return load_project(GOOD / "project.yml")


def test_good_project_has_canonical_columns_and_dtypes(good: Project) -> None:
    assert good.name == "测试县"
    assert good.crs == "EPSG:4546"  # 111.6–111.85°E: CGCS2000 GK zone CM 111
    assert good.path == (GOOD / "project.yml").resolve()
    assert good.parameters == {"bands_min": [15, 30]}
    fac, vil = good.facilities, good.villages
    assert list(fac.columns) == ["fid", "name", "kind", "beds", "doctors", "nurses", "ambulances", "township",
                                 "services", "vid", "band_min", "radius_m", "geometry"]
    assert list(vil.columns) == ["vid", "name", "population", "township", "setting", "elderly", "children",
                                 "geometry"]
    for frame in (fac, vil):
        assert frame.crs == "EPSG:4326"
        assert list(frame.index) == list(range(len(frame)))
        assert (frame.geom_type == "Point").all()
    for column in ("beds", "doctors", "nurses", "ambulances"):
        assert fac[column].dtype == "Int64"
    for column in ("population", "elderly", "children"):
        assert vil[column].dtype == "Int64"
    for column in ("fid", "name", "kind", "township", "services", "vid"):
        assert pd.api.types.is_string_dtype(fac[column])
    assert list(fac["fid"]) == ["F1", "F2", "F3"]
    assert list(fac["kind"]) == ["county_hospital", "township_hc", "village_clinic"]  # 县医院, 乡镇卫生院
    assert list(fac["services"]) == ["chest_pain;stroke", "fever_sentinel", ""]
    assert list(fac["vid"]) == ["V001", "", "V004"]
    assert fac["beds"].isna().tolist() == [False, False, True]
    assert list(vil["vid"]) == ["V001", "V002", "V003", "V004"]
    assert list(vil["setting"]) == ["urban", "rural", "rural", "rural"]  # via values: {城: urban, 乡: rural}
    assert vil["population"].tolist() == [1200, 800, 450, 300]
    assert vil["elderly"].isna().tolist() == [False, True, False, False]
    assert vil["children"].isna().all()


def test_polygon_village_becomes_a_point_inside_it(good: Project) -> None:
    raw = gpd.read_file(GOOD / "villages.geojson")
    polygon = raw.geometry.iloc[2]
    assert polygon.geom_type == "Polygon"
    assert polygon.contains(good.villages.geometry.iloc[2])


def test_good_project_boundaries_roads_and_inputs(good: Project) -> None:
    assert good.boundaries is not None
    assert list(good.boundaries.columns) == ["name", "level", "geometry"]
    assert list(good.boundaries["level"]) == ["township", "township"]  # 乡镇 and township
    assert good.roads.format == "osm" and good.roads.path == (GOOD / "roads.osm").resolve()
    assert set(good.inputs) == {"project", "roads", "facilities", "villages", "boundaries"}
    assert all(p.is_absolute() and p.is_file() for p in good.inputs.values())
    assert validate_project(GOOD / "project.yml").empty


@pytest.fixture(scope="module")
def formats(tmp_path_factory: pytest.TempPathFactory, good: Project) -> dict[str, Path]:
    """The good villages written as CSV (GBK), XLSX, Shapefile (GBK, no .cpg) and GeoPackage."""
    folder = tmp_path_factory.mktemp("formats")
    raw = gpd.read_file(GOOD / "villages.geojson")
    points = raw.set_geometry(good.villages.geometry.to_numpy())
    lon, lat = points.geometry.x, points.geometry.y
    table = pd.DataFrame(raw.drop(columns="geometry"))
    table.assign(经度=lon, 纬度=lat).to_csv(folder / "villages.csv", index=False, encoding="gbk")
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "村庄"
    sheet.append([*table.columns, "东经", "北纬"])
    for row, x, y in zip(table.itertuples(index=False), lon, lat):
        sheet.append([None if pd.isna(v) else v for v in row] + [x, y])
    book.save(folder / "villages.xlsx")
    points.to_file(folder / "villages.shp", encoding="GBK")
    (folder / "villages.cpg").unlink()
    raw.to_file(folder / "villages.gpkg", layer="村庄")  # keeps the polygon village
    specs = {
        "csv": f"{{path: villages.csv, columns: {VILLAGE_COLUMNS}, values: {VILLAGE_VALUES}}}",
        "xlsx": f"{{path: villages.xlsx, layer: 村庄, x: 东经, y: 北纬, columns: {VILLAGE_COLUMNS}, "
                f"values: {VILLAGE_VALUES}}}",
        "shp": f"{{path: villages.shp, columns: {VILLAGE_COLUMNS}, values: {VILLAGE_VALUES}}}",
        "gpkg": f"{{path: villages.gpkg, columns: {VILLAGE_COLUMNS}, values: {VILLAGE_VALUES}}}",
    }
    out = {}
    for name, spec in specs.items():
        sub = folder / name
        sub.mkdir()
        out[name] = write_project(sub, spec.replace("villages.", "../villages."))
    return out


@pytest.mark.parametrize("fmt", ["csv", "xlsx", "shp", "gpkg"])
def test_formats_give_equal_villages(fmt: str, formats: dict[str, Path], good: Project) -> None:
    folder = formats[fmt].parent.parent
    before = digest(folder)
    loaded = load_project(formats[fmt]).villages
    assert digest(folder) == before  # inputs are never modified
    pd.testing.assert_frame_equal(pd.DataFrame(loaded.drop(columns="geometry")),
                                  pd.DataFrame(good.villages.drop(columns="geometry")))
    np.testing.assert_allclose(loaded.geometry.x, good.villages.geometry.x, atol=1e-9)
    np.testing.assert_allclose(loaded.geometry.y, good.villages.geometry.y, atol=1e-9)


def test_shapefile_without_cpg_reports_the_encoding_it_chose(formats: dict[str, Path],
                                                           caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="healthreach.layers"):
        load_project(formats["shp"])
    assert any("no .cpg file; text decoded as gb18030" in r.getMessage() for r in caplog.records)


def test_good_inputs_are_unchanged_by_loading() -> None:
    before = digest(GOOD)
    load_project(GOOD / "project.yml")
    validate_project(GOOD / "project.yml")
    assert digest(GOOD) == before


@pytest.mark.parametrize(("crs", "forward"), [("gcj02", hc.wgs84_to_gcj02), ("bd09", hc.wgs84_to_bd09)])
def test_obfuscated_csv_lands_on_the_true_position(tmp_path: Path, crs: str, forward: object) -> None:
    lon, lat = np.array([111.6, 111.85]), np.array([39.4, 39.44])
    x, y = forward(lon, lat)  # type: ignore[operator]
    pd.DataFrame({"vid": ["V001", "V004"], "name": ["甲", "丁"], "population": [1, 2], "setting": ["rural"] * 2,
                  "township": ["甲镇", "乙乡"], "lng": x, "lat": y}).to_csv(tmp_path / "v.csv", index=False)
    loaded = load_project(write_project(tmp_path, f"{{path: v.csv, crs: {crs}}}")).villages
    moved = GEOD.inv(lon, lat, loaded.geometry.x.to_numpy(), loaded.geometry.y.to_numpy())[2]
    assert np.max(moved) < 0.05
    assert min(GEOD.inv(lon, lat, x, y)[2]) > 300  # the file really was offset


def test_projected_csv_with_x_y_columns(tmp_path: Path) -> None:
    lon, lat = np.array([111.6, 111.85]), np.array([39.4, 39.44])
    x, y = pyproj.Transformer.from_crs(4326, 4546, always_xy=True).transform(lon, lat)
    pd.DataFrame({"vid": ["V001", "V004"], "name": ["甲", "丁"], "population": [1, 2], "setting": ["rural"] * 2,
                  "township": ["甲镇", "乙乡"], "X": x, "Y": y}).to_csv(tmp_path / "v.csv", index=False)
    loaded = load_project(write_project(tmp_path, "{path: v.csv, crs: 4546}")).villages
    np.testing.assert_allclose(loaded.geometry.x, lon, atol=1e-8)
    np.testing.assert_allclose(loaded.geometry.y, lat, atol=1e-8)


def test_excel_numeric_ids_and_kind_value_mapping(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["编号", "名称", "类型", "床位", "经度", "纬度"])
    sheet.append([101, "甲卫生所", "卫生所", 12.0, 111.6, 39.4])
    sheet.append([102, "县中医院", "中医院", None, 111.7, 39.45])
    book.save(tmp_path / "f.xlsx")
    facilities = ("{path: f.xlsx, columns: {fid: 编号, name: 名称, kind: 类型, beds: 床位}, "
                  "values: {kind: {卫生所: township_hc}}}")
    project = load_project(write_project(tmp_path, str(GOOD / "villages_canonical.csv"), facilities=facilities))
    fac = project.facilities
    assert list(fac["fid"]) == ["101", "102"]
    assert list(fac["kind"]) == ["township_hc", "county_tcm_hospital"]
    assert fac["beds"].tolist()[0] == 12 and fac["beds"].isna().tolist() == [False, True]


def test_warnings_do_not_stop_loading(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "v.csv").write_text(
        "vid,name,population,township,lon,lat\nV001,甲村,0,甲镇,111.6,39.4\nV009,远村,50,乙乡,112.5,39.4\n",
        encoding="utf-8")
    path = write_project(tmp_path, "v.csv", boundaries=GOOD / "boundaries.geojson")
    table = validate_project(path)
    assert list(table.columns) == PROBLEM_COLUMNS
    assert set(table["severity"]) == {"warning"}
    found = {(r.file, None if pd.isna(r.row) else int(r.row), r.field, r.problem) for r in table.itertuples()}
    assert ("v.csv", 1, "population", "population is 0") in found
    assert ("v.csv", None, "setting", "no 'setting' column: every village taken as 'rural'") in found
    assert ("v.csv", 2, "geometry", "point lies outside every boundary polygon") in found
    assert any(f == str(GOOD / "facilities.geojson") and row == 3 and field == "vid" for f, row, field, _ in found)
    with caplog.at_level(logging.WARNING, logger="healthreach.layers"):
        project = load_project(path)
    assert list(project.villages["setting"]) == ["rural", "rural"]
    assert any("population is 0" in r.getMessage() for r in caplog.records)


def test_geopackage_with_two_layers_needs_a_layer_name(tmp_path: Path, good: Project) -> None:
    good.villages.to_file(tmp_path / "two.gpkg", layer="a")
    good.villages.to_file(tmp_path / "two.gpkg", layer="b")
    with pytest.raises(InputError) as info:
        load_project(write_project(tmp_path, "two.gpkg"))
    assert "two.gpkg, field 'layer': the file holds 2 layers — choose one with layer: (a, b)" in str(info.value)
    assert load_project(write_project(tmp_path, "{path: two.gpkg, layer: b}")).villages["vid"].tolist() == \
        good.villages["vid"].tolist()


def test_road_lines_find_their_class_column(tmp_path: Path) -> None:
    roads = gpd.GeoDataFrame({"highway": ["secondary"], "限速": [60]},
                             geometry=[shapely.LineString([(111.6, 39.4), (111.78, 39.36)])], crs=4326)
    roads.to_file(tmp_path / "roads.gpkg")
    path = write_project(tmp_path, str(GOOD / "villages_canonical.csv"))
    path.write_text(path.read_text(encoding="utf-8").replace(
        str(GOOD / "roads.osm"), "{path: roads.gpkg, columns: {speed_kmh: 限速}}"), encoding="utf-8")
    source = load_project(path).roads
    assert (source.format, source.class_column, source.speed_column, source.oneway_column) == \
        ("lines", "highway", "限速", None)
    assert source.path == (tmp_path / "roads.gpkg").resolve()


def test_missing_project_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="project file not found"):
        load_project(tmp_path / "nope.yml")
    assert validate_project(tmp_path / "nope.yml")["severity"].tolist() == ["error"]


@pytest.mark.parametrize(("value", "expected"), [
    (3, (3, "")), (3.0, (3, "")), ("1,200", (1200, "")), (" 45 ", (45, "")), (None, (None, "")),
    ("", (None, "")), (float("nan"), (None, "")), (-1, (None, "'-1' is negative")),
    ("2.5", (None, "'2.5' is not a whole number")), ("约300", (None, "'约300' is not a number")),
])
def test_parse_count(value: object, expected: tuple[int | None, str]) -> None:
    assert parse_count(value) == expected


def test_id_text() -> None:
    assert [id_text(v) for v in (7.0, 7, " V1 ", None, float("nan"), 7.5)] == ["7", "7", "V1", "", "", "7.5"]


BAD_CASES: dict[str, list[str]] = {
    "yaml_syntax": ["yaml_syntax.yml: line 5, column 13: YAML syntax error: mapping values are not allowed here"
                    " — expected valid YAML (check indentation, ':' and quotes)"],
    "unknown_key": ["unknown_key.yml, field 'nmae': unknown top-level key 'nmae' — did you mean 'name'? "
                    "allowed keys: name, crs, layers, parameters, basemap_key",
                    "unknown_key.yml, field 'name': 'name' is missing — expected name: <county name>"],
    "missing_villages": ["missing_villages.yml, field 'layers.villages': layer 'villages' is missing — "
                         "expected layers: villages: <file>"],
    "missing_file": [f"no_such_villages.gpkg, field 'layers.villages.path': file not found: "
                     f"{(BAD / 'no_such_villages.gpkg').resolve()} — expected a path relative to the project file"],
    "duplicate_vid": ["duplicate_vid.csv, row 2, field 'vid': id is missing — expected a unique, non-empty vid "
                      "in every row",
                      "duplicate_vid.csv, row 3 (id V1), field 'vid': id 'V1' is a duplicate of row 1 — expected "
                      "every vid to be unique"],
    "bad_population": [
        "bad_population.csv, row 1 (id V1), field 'population': '-5' is negative — expected a whole number >= 0",
        "bad_population.csv, row 2 (id V2), field 'population': '12.5' is not a whole number — expected a whole "
        "number >= 0",
        "bad_population.csv, row 3 (id V3), field 'population': '约300' is not a number — expected a whole "
        "number >= 0",
        "bad_population.csv, row 4 (id V4), field 'population': value is missing — expected a whole number >= 0"],
    "unknown_kind": [
        "unknown_kind.csv, row 1 (id F1), field 'kind': unknown kind '老营镇中心卫生院' — closest known kind: "
        "'中心卫生院' (subcentre); map it under values: kind:",
        "unknown_kind.csv, row 2 (id F2), field 'kind': unknown kind '卫生所' — closest known kind: '卫生院' "
        "(township_hc); map it under values: kind:",
        "unknown_kind.csv, row 2 (id F2), field 'beds': 'x' is not a number — expected a whole number >= 0",
        "unknown_kind.csv, row 3 (id F3), field 'beds': '-2' is negative — expected a whole number >= 0"],
    "bad_coordinates": [
        "bad_coordinates.csv, row 2 (id V2), field 'lon': coordinate 'abc' cannot be read as a number — "
        "expected a decimal number (degrees, or metres in a projected crs:)",
        "bad_coordinates.csv, row 3 (id V3), field 'lat': coordinate '' cannot be read as a number — "
        "expected a decimal number (degrees, or metres in a projected crs:)"],
    "swapped_lonlat": [
        "swapped_lonlat.csv, row 2 (id V2), field 'geometry': lon 39.41, lat 111.61: longitude and latitude "
        "appear swapped — swap the columns (x: is longitude, y: is latitude) or fix the row",
        "swapped_lonlat.csv, row 3 (id V3), field 'geometry': lon 111.62, lat 95: outside the valid range — "
        "expected longitude -180..180 and latitude -90..90"],
    "projected_swapped": [
        "projected_swapped.csv, row 2 (id V2), field 'geometry': x 4.36308e+06, y 551682: x and y appear "
        "swapped for EPSG:4546 — swap the columns (x: is the easting; Chinese surveys often call the northing X)"],
    "missing_column": [
        "missing_column.csv, field 'population': required column 'population' is missing — name it under "
        "columns: (the file has columns: vid, name, 人口, lon, lat)"],
    "mapped_column_missing": [
        "missing_column.csv, field 'population': column '常住人口' (mapped to 'population') is not in the file — "
        "the file has columns: vid, name, 人口, lon, lat"],
    "empty_geometry": [
        "empty_geometry.geojson, row 1 (id V1), field 'geometry': geometry is missing — expected a point or polygon",
        "empty_geometry.geojson, row 2 (id V2), field 'geometry': geometry is a LineString — expected a point or "
        "polygon"],
    "invalid_boundary": [
        "invalid_boundary.geojson, row 1, field 'geometry': geometry is invalid (Self-intersection[111.6 39.4]) — "
        "expected a polygon (repair it, e.g. QGIS Fix geometries)",
        "invalid_boundary.geojson, row 1, field 'level': unknown level '县城' — expected county or township "
        "(or 区县 / 乡镇); map it under values: level:"],
    "bad_setting": [
        "bad_setting.csv, row 1 (id V1), field 'setting': unknown setting '郊区' — expected urban or rural "
        "(or 城镇 / 农村); map it under values: setting:"],
    "bad_services": [
        "bad_services.csv, row 1 (id F1), field 'services': unknown service '卒中中兴' — closest known service: "
        "'卒中中心' (stroke); map it under values: services:"],
    "bad_crs": [
        "bad_crs.yml, field 'crs': crs EPSG:4326 is not projected (degrees, not metres) — expected a projected "
        "CRS such as EPSG:4546, or leave crs: out",
        "bad_crs.yml, field 'layers.facilities.crs': CRS 'gcj-03' is not understood (expected an EPSG code such "
        "as EPSG:4546, or one of wgs84, cgcs2000, gcj02, bd09) — expected wgs84, cgcs2000, gcj02, bd09 or an "
        "EPSG code",
        "bad_crs.yml, field 'layers.villages': unknown setting 'colums' — did you mean 'columns'? settings for "
        "villages: path, encoding, crs, columns, values, x, y, layer",
        "bad_crs.yml, field 'layers.hospitals': unknown layer 'hospitals' — known layers: roads, facilities, "
        "villages, boundaries"],
    "empty_villages": ["empty_villages.csv: the layer has no villages — expected at least one row"],
    # GDAL's own wording follows the prefix and may change between GDAL versions.
    "corrupt": ["corrupt.geojson: cannot be opened: Failed to read GeoJSON data..."],
    "bad_roads": [
        "../good/boundaries.geojson, field 'speed_kmh': column '限速' (mapped to 'speed_kmh') is not in the file — "
        "the file has columns: name, level"],
    "negative_staff": [
        "negative_staff.csv, row 1 (id F1), field 'doctors': '1.5' is not a whole number — expected a whole number >= 0",
        "negative_staff.csv, row 1 (id F1), field 'nurses': '-3' is negative — expected a whole number >= 0",
        "negative_staff.csv, row 1 (id F1), field 'ambulances': '两辆' is not a number — expected a whole number >= 0"],
    "duplicate_fid": [
        "duplicate_fid.csv, row 2 (id F1), field 'fid': id 'F1' is a duplicate of row 1 — expected every fid to be "
        "unique"],
    "bad_band": [
        "bad_band.csv, row 1 (id F1), field 'band_min': bad band 'abc' — expected minutes > 0, several separated by "
        "';' (e.g. 15;30)",
        "bad_band.csv, row 2 (id F2), field 'band_min': bad band '15;0' — expected minutes > 0, several separated by "
        "';' (e.g. 15;30)",
        "bad_band.csv, row 1 (id F1), field 'radius_m': bad value '-5' — expected one number > 0"],
    "bad_elderly": [
        "bad_elderly.csv, row 1 (id V1), field 'elderly': '许多' is not a number — expected a whole number >= 0",
        "bad_elderly.csv, row 1 (id V1), field 'children': '-1' is negative — expected a whole number >= 0"],
    "unknown_crs": [
        "unknown_crs.yml, field 'crs': CRS 'EPSG:999999' is not understood (expected an EPSG code such as EPSG:4546, "
        "or one of wgs84, cgcs2000, gcj02, bd09) — expected a projected CRS such as EPSG:4546"],
    "boundaries_table": [
        "boundaries_table.csv: a .csv table cannot hold boundaries polygons — expected a GeoPackage, Shapefile or "
        "GeoJSON polygon layer"],
    "missing_roads": [
        f"no_such_roads.osm.pbf, field 'layers.roads.path': file not found: {(BAD / 'no_such_roads.osm.pbf').resolve()}"
        " — expected a path relative to the project file"],
    "roads_type": [
        "../good/villages_canonical.csv: road file type '.csv' is not supported — expected .osm, .osm.bz2, .osm.pbf, "
        "or a line layer (.shp, .gpkg, .geojson)"],
    "values_unknown_column": [
        "values_unknown_column.yml, field 'layers.villages.values': values for unknown column '性别' — columns of "
        "villages: vid, name, population, township, setting, elderly, children"],
    "unknown_mapped_column": [
        "unknown_mapped_column.yml, field 'layers.villages.columns': unknown column 'pop' — columns of villages: vid, "
        "name, population, township, setting, elderly, children"],
    "not_utf8": ["not_utf8.yml: not UTF-8 text (invalid start byte at byte 6) — save the project file as UTF-8"],
    "xlsx_no_latitude": [
        "xlsx_no_latitude.xlsx, field 'y': no y coordinate column found — name it with y: (looked for lat, latitude, "
        "y, 纬度; the file has columns: 编号, 名称, 类型, 经度, 纬度(GCJ))"],
    # A GBK shapefile whose .cpg says UTF-8: the .cpg is believed, so the text cannot be decoded.
    "gbk_cpg_utf8": [
        "gbk_cpg_utf8.shp, field 'encoding': text does not decode as UTF-8, the encoding its .cpg file names — "
        "the .cpg is probably wrong; state the real encoding under encoding: (e.g. gbk for files from ArcGIS on "
        "Chinese Windows)"],
    "invalid_village_polygon": [
        "invalid_village_polygon.geojson, row 1 (id V1), field 'geometry': geometry is invalid "
        "(Self-intersection[111.61 39.41]) — expected a point or polygon (repair it, e.g. QGIS Fix geometries)"],
}


def test_there_are_at_least_twelve_broken_inputs() -> None:
    assert len(BAD_CASES) >= 12
    assert {p.stem for p in BAD.glob("*.yml")} == set(BAD_CASES)


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_broken_input_raises_input_error_listing_every_problem(case: str) -> None:
    before = digest(BAD)
    with pytest.raises(InputError) as info:
        load_project(BAD / f"{case}.yml")
    assert type(info.value) is InputError
    header, *lines = str(info.value).splitlines()
    assert header == f"{BAD / f'{case}.yml'}: {len(lines)} problem(s) in the input:"
    expected = BAD_CASES[case]
    assert len(lines) == len(expected)
    for line, want in zip(lines, expected):  # exactly these problems, in reading order
        assert line.startswith(want[:-3]) if want.endswith("...") else line == want
    table = validate_project(BAD / f"{case}.yml")
    errors = table[table["severity"] == "error"]
    assert len(errors) == len(lines)
    for line, row in zip(lines, errors.itertuples()):
        assert line.startswith(row.file)
        assert row.problem in line
        assert pd.isna(row.row) or f", row {row.row}" in line
        assert not row.field or f"field '{row.field}'" in line
    assert digest(BAD) == before


def test_basemap_key_is_allowed_and_band_overrides_are_checked(tmp_path: Path) -> None:
    import shutil

    for item in GOOD.iterdir():
        shutil.copy(item, tmp_path / item.name)
    text = (tmp_path / "project.yml").read_text(encoding="utf-8")
    (tmp_path / "project.yml").write_text(text + "basemap_key: ABC\n", encoding="utf-8")
    assert load_project(tmp_path / "project.yml").name == "测试县"
    facilities = gpd.read_file(tmp_path / "facilities.geojson")
    facilities["band_min"] = ["10;20"] + ["abc"] * (len(facilities) - 1)
    facilities.to_file(tmp_path / "facilities.geojson", driver="GeoJSON")
    with pytest.raises(InputError, match=r"field 'band_min': bad band 'abc'"):
        load_project(tmp_path / "project.yml")
    facilities["band_min"] = ["10;20"] + [""] * (len(facilities) - 1)
    facilities.to_file(tmp_path / "facilities.geojson", driver="GeoJSON")
    assert load_project(tmp_path / "project.yml").facilities["band_min"].iat[0] == "10;20"


def test_corpus_holds_at_least_25_broken_inputs_of_small_files() -> None:
    assert len(BAD_CASES) >= 25
    assert all(p.stat().st_size < 10_000 for p in BAD.iterdir())
    # The binary files really are what their case says: GBK text behind a .cpg claiming UTF-8.
    assert (BAD / "gbk_cpg_utf8.cpg").read_text(encoding="ascii").strip() == "UTF-8"
    assert "老营村".encode("gbk") in (BAD / "gbk_cpg_utf8.dbf").read_bytes()
    assert "老营村".encode() not in (BAD / "gbk_cpg_utf8.dbf").read_bytes()
    assert gpd.read_file(BAD / "gbk_cpg_utf8.shp", encoding="gbk")["name"].tolist() == ["老营村", "水泉村"]
    assert next(openpyxl.load_workbook(BAD / "xlsx_no_latitude.xlsx").active.values)[3:] == ("经度", "纬度(GCJ)")
    assert not shapely.is_valid(gpd.read_file(BAD / "invalid_village_polygon.geojson").geometry.iloc[0])


@pytest.mark.parametrize("case", ["not_utf8", "gbk_cpg_utf8", "xlsx_no_latitude", "invalid_village_polygon",
                                  "missing_roads"])
def test_validate_command_exits_1_without_traceback(case: str, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    before = digest(BAD)
    done = subprocess.run([sys.executable, "-m", "healthreach.cli", "validate", str(BAD / f"{case}.yml"),
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "COLUMNS": "400"}, cwd=tmp_path)
    output = done.stdout + done.stderr  # the CLI reports on stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output and "Error:" not in output
    problem = BAD_CASES[case][0].split(": ", 1)[1].split(" — ")[0]
    assert problem in output
    report = pd.read_csv(tmp_path / "validation.csv")
    assert report["severity"].eq("error").sum() == len(BAD_CASES[case])
    assert digest(BAD) == before
