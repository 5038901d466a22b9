"""Exports read back with real GDAL, pyproj and openpyxl: names, encodings, CRS, formats, atomicity."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from openpyxl import load_workbook
from pyproj import CRS, Transformer

from healthreach._errors import InputError, UsageError
from healthreach.maps.exports import (
    atomic_write,
    hash_file,
    resolve_out_crs,
    sheet_names,
    write_csv,
    write_gpkg,
    write_json,
    write_shapefile,
    write_xlsx,
)
from healthreach.maps.fields import short_names
from healthreach.maps.outputs import village_links

TIERS = ("hospital", "subcentre", "township", "community", "village", "ems")
MEASURES = ("_fid", "_time_s", "_dist_m", "_line_m")


def village_access() -> gpd.GeoDataFrame:
    """Four villages with Chinese names, every tier column, unreachable (NaN) entries."""
    data: dict[str, object] = {
        "vid": ["V001", "V002", "V003", "V004"],
        "name": ["老营村", "水泉村", "窑头村", "万家寨村"],
        "population": [1203, 845, 12050, 0],
        "township": ["老营镇", "水泉乡", "天峰坪镇", "万家寨镇"],
        "setting": ["rural", "rural", "urban", "rural"],
        "access_m": [12.5, 230.0, 3.2, np.nan],
        "note": [None, None, None, "无道路连通"],
    }
    for k, tier in enumerate(TIERS):
        data[f"{tier}_fid"] = [f"F{k}1", f"F{k}2", f"F{k}3", None]
        data[f"{tier}_time_s"] = [600.0 + k, 1234.5, 90.0, np.nan]
        data[f"{tier}_dist_m"] = [5000.0 + k, 15000.25, 800.0, np.nan]
        data[f"{tier}_line_m"] = [4000.0, 9000.0, 600.0 + k, 2500.0]
    points = [shapely.Point(111.5 + i * 0.05, 39.4 + i * 0.03) for i in range(4)]
    return gpd.GeoDataFrame(data, geometry=points, crs="EPSG:4326")


def test_village_columns_get_the_documented_short_names() -> None:
    columns = list(village_access().columns.drop("geometry"))
    mapping = short_names(columns)
    assert mapping["township_time_s"] == "twn_time_s"
    assert mapping["hospital_dist_m"] == "hsp_dist_m"
    assert mapping["ems_fid"] == "ems_fid"
    shorts = list(mapping.values())
    assert all(len(s.encode("ascii")) <= 10 for s in shorts)
    assert len({s.lower() for s in shorts}) == len(shorts)


def test_unknown_names_are_abbreviated_uniquely_and_deterministically() -> None:
    columns = ["到乡镇卫生院的行车时间", "到县医院时间", "very_long_column_name", "very_long_column_nome",
               "Name", "name", "mystery_tier_time_s", "1st_value"]
    first = short_names(columns)
    assert first == short_names(columns)
    shorts = list(first.values())
    assert len({s.lower() for s in shorts}) == len(shorts)
    for short in shorts:
        assert short.isascii() and len(short) <= 10 and short[0].isalpha()
    assert first["mystery_tier_time_s"].endswith("_time_s")


def test_caller_field_names_are_validated() -> None:
    with pytest.raises(UsageError, match="at most 10 bytes"):
        short_names(["a"], {"a": "much_too_long"})
    with pytest.raises(UsageError, match="two columns"):
        short_names(["a", "b"], {"a": "x", "b": "X"})
    assert short_names(["township_time_s"], {"township_time_s": "t_time"}) == {"township_time_s": "t_time"}


@pytest.mark.parametrize("encoding", ["UTF-8", "GBK"])
def test_shapefile_round_trip(tmp_path: Path, encoding: str) -> None:
    gdf = village_access()
    path = tmp_path / "out" / "shp" / "villages.shp"
    table = write_shapefile(gdf, path, encoding=encoding)

    assert sorted(p.name for p in path.parent.iterdir()) == sorted(
        ["villages.shp", "villages.shx", "villages.dbf", "villages.prj", "villages.cpg", "villages_fields.csv"]
    )
    assert (path.parent / "villages.cpg").read_bytes().decode("ascii").strip() == encoding
    info = pyogrio.read_info(path)
    names = list(info["fields"])
    assert all(name.isascii() and len(name.encode()) <= 10 for name in names)
    assert len({n.lower() for n in names}) == len(names)

    back = gpd.read_file(path, engine="pyogrio")
    fields = pd.read_csv(path.parent / "villages_fields.csv", encoding="utf-8-sig", keep_default_na=False)
    assert list(fields.columns) == ["short_name", "full_name", "unit", "description"]
    pd.testing.assert_frame_equal(fields, table.fillna(""), check_dtype=False)
    long_of = dict(zip(fields["short_name"], fields["full_name"]))
    assert set(long_of) == set(names)
    assert set(long_of.values()) == set(gdf.columns.drop("geometry"))
    for short, long in long_of.items():
        expected, got = gdf[long], back[short]
        if pd.api.types.is_numeric_dtype(expected):
            np.testing.assert_allclose(got.to_numpy(float), expected.to_numpy(float), equal_nan=True)
        else:
            assert [None if pd.isna(v) else v for v in got] == [None if pd.isna(v) else v for v in expected]
    assert back["twn_time_s"].isna().tolist() == [False, False, False, True]
    assert back["name"].tolist() == ["老营村", "水泉村", "窑头村", "万家寨村"]
    assert back.geometry.geom_equals_exact(gdf.geometry, tolerance=1e-9).all()
    units = dict(zip(fields["full_name"], fields["unit"]))
    assert units["township_time_s"] == "seconds"
    assert units["ems_dist_m"] == units["access_m"] == units["village_line_m"] == "metres"
    assert units["population"] == "persons"
    assert units["hospital_fid"] == "facility id"
    description = dict(zip(fields["full_name"], fields["description"]))["township_time_s"]
    assert "乡镇卫生院" in description and "seconds" in description


@pytest.mark.parametrize("target", [None, "EPSG:4546"])
def test_prj_describes_the_requested_crs(tmp_path: Path, target: str | None) -> None:
    gdf = village_access()
    path = tmp_path / "v.shp"
    write_shapefile(gdf, path, crs=target)
    prj = CRS.from_wkt((tmp_path / "v.prj").read_text())
    expected = CRS.from_user_input(target or "EPSG:4326")
    assert prj.to_epsg() == expected.to_epsg()
    # GDAL writes the ESRI flavour of WKT, so compare what the CRS does, not how it is spelled.
    lon, lat = 111.53, 39.42
    via_prj = Transformer.from_crs("EPSG:4326", prj, always_xy=True).transform(lon, lat)
    via_epsg = Transformer.from_crs("EPSG:4326", expected, always_xy=True).transform(lon, lat)
    np.testing.assert_allclose(via_prj, via_epsg, atol=1e-6)
    back = gpd.read_file(path, engine="pyogrio")
    # Independent check of the reprojection: the coordinates are the projected ones, not degrees.
    assert back.geometry.geom_equals_exact(gdf.to_crs(expected).geometry, tolerance=1e-3).all()


@pytest.mark.parametrize("encoding, width", [("UTF-8", 3), ("GBK", 2)])
def test_long_text_cut_on_character_boundary(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, encoding: str, width: int
) -> None:
    # 100 CJK characters: 300 bytes in UTF-8, 200 in GBK; one ASCII char first shifts the cut
    # so that a naive byte cut at 254 would land inside a character.
    text = "a" + "村" * 100 + "x" * 60
    gdf = gpd.GeoDataFrame({"note": [text]}, geometry=[shapely.Point(111, 39)], crs="EPSG:4326")
    with caplog.at_level(logging.WARNING, logger="healthreach.maps.exports"):
        write_shapefile(gdf, tmp_path / "t.shp", encoding=encoding)
    got = gpd.read_file(tmp_path / "t.shp", engine="pyogrio")["note"][0]
    size = len(got.encode(encoding))
    assert size <= 254 and size > 254 - width
    assert text.startswith(got)
    assert any("cut" in r.getMessage() and "'note'" in r.getMessage() for r in caplog.records)


def test_gbk_rejects_characters_it_cannot_encode(tmp_path: Path) -> None:
    gdf = gpd.GeoDataFrame({"name": ["老营", "𠮷野村"]}, geometry=[shapely.Point(111, 39)] * 2, crs=4326)
    with pytest.raises(InputError, match=r"row 1, field 'name'.*GBK"):
        write_shapefile(gdf, tmp_path / "g.shp", encoding="GBK")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(UsageError, match="UTF-8 or GBK"):
        write_shapefile(gdf, tmp_path / "g.shp", encoding="latin-1")


def test_gpkg_keeps_full_chinese_column_names_and_other_layers(tmp_path: Path) -> None:
    gdf = village_access().rename(columns={"note": "备注说明（不可达原因）"})
    path = tmp_path / "villages.gpkg"
    write_gpkg(gdf, path, "villages")
    write_gpkg(gdf.iloc[:2], path, "other")
    write_gpkg(gdf.iloc[:3], path, "villages")
    assert sorted(pyogrio.list_layers(path)[:, 0]) == ["other", "villages"]
    back = gpd.read_file(path, layer="villages", engine="pyogrio")
    assert list(back.columns) == list(gdf.columns)
    assert len(back) == 3
    assert back["备注说明（不可达原因）"].isna().all()
    assert back["name"].tolist() == gdf["name"].tolist()[:3]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["villages.gpkg"]
    # A new run's first layer starts the file afresh: no layer of the earlier run lingers.
    write_gpkg(gdf.iloc[:1], path, "villages", keep_other_layers=False)
    assert list(pyogrio.list_layers(path)[:, 0]) == ["villages"]


def test_xlsx_headers_formats_and_blanks(tmp_path: Path) -> None:
    township = pd.DataFrame({
        "township": ["老营镇", "水泉乡"],
        "population": [12345, 6789],
        "mean_min": [12.345, np.nan],
        "share_30min": [0.9512, 0.5],
    })
    odd = pd.DataFrame({"a": [1], "text": ["bad\x01name"]})
    path = tmp_path / "summary.xlsx"
    write_xlsx({"township": township, "deltas: a/b [x]": odd, "Township": odd}, path,
               headers_zh={"mean_min": "平均时间（分钟）"})
    book = load_workbook(path)
    assert book.sheetnames == ["township", "deltas_ a_b _x_", "Township (2)"]
    sheet = book["township"]
    assert [c.value for c in sheet[1]] == list(township.columns)
    assert [c.value for c in sheet[2]][:3] == ["乡镇", "常住人口", "平均时间（分钟）"]
    assert sheet.freeze_panes == "A3"
    assert all(c.font.bold for c in sheet[1]) and all(c.font.bold for c in sheet[2])
    assert sheet["B3"].value == 12345 and sheet["B3"].number_format == "#,##0"
    assert sheet["C3"].number_format == "0.0"
    assert sheet["C4"].value is None
    assert sheet["D3"].number_format == "0.0%" and sheet["D3"].value == pytest.approx(0.9512)
    assert sheet.column_dimensions["A"].width >= 8
    other = book["Township (2)"]
    assert other.freeze_panes == "A2" and other["A2"].value == 1
    assert other["B2"].value == "badname"
    book.close()


def test_sheet_names_are_valid_and_unique() -> None:
    names = sheet_names(["x" * 40, "x" * 40, "'quoted'", "", "a?b*c"])
    assert all(0 < len(n) <= 31 for n in names)
    assert len({n.lower() for n in names}) == len(names)
    assert not any(ch in n for n in names for ch in "[]:*?/\\")


def test_csv_has_bom_and_json_serialises_numpy(tmp_path: Path) -> None:
    csv = write_csv(pd.DataFrame({"乡镇": ["老营镇"], "value": [1.5]}), tmp_path / "a" / "s.csv")
    raw = csv.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert raw.decode("utf-8-sig").splitlines()[1] == "老营镇,1.5"
    obj = {"n": np.int64(3), "x": np.float64("nan"), "p": Path("/tmp/a.osm"), "名称": "偏关县",
           "arr": np.array([1.0, 2.5]), "when": pd.Timestamp("2025-01-02")}
    path = write_json(obj, tmp_path / "run.json")
    text = path.read_text(encoding="utf-8")
    assert "偏关县" in text and "\n  " in text
    assert json.loads(text) == {"n": 3, "x": None, "p": "/tmp/a.osm", "名称": "偏关县",
                                "arr": [1.0, 2.5], "when": "2025-01-02T00:00:00"}


def test_hash_file_matches_hashlib(tmp_path: Path) -> None:
    import hashlib

    path = tmp_path / "f.bin"
    data = bytes(range(256)) * 5000
    path.write_bytes(data)
    assert hash_file(path) == hashlib.sha256(data).hexdigest()


def test_failed_shapefile_write_leaves_previous_files(tmp_path: Path) -> None:
    path = tmp_path / "villages.shp"
    write_shapefile(village_access(), path)
    before = {p.name: hash_file(p) for p in tmp_path.iterdir()}
    bad = village_access().assign(z=np.array([1 + 2j, 3j, 0j, 1j]))  # GDAL has no complex field type
    with pytest.raises(NotImplementedError):
        write_shapefile(bad, path)
    assert {p.name: hash_file(p) for p in tmp_path.iterdir()} == before


def test_failed_gpkg_write_leaves_previous_file(tmp_path: Path) -> None:
    gpkg = tmp_path / "v.gpkg"
    write_gpkg(village_access(), gpkg, "villages")
    before = hash_file(gpkg)
    with pytest.raises(NotImplementedError):
        write_gpkg(village_access().assign(z=np.array([1j] * 4)), gpkg, "villages")
    assert hash_file(gpkg) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["v.gpkg"]


def test_atomic_write_removes_temp_on_error(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("old", encoding="utf-8")
    with pytest.raises(RuntimeError):
        with atomic_write(path) as temp:
            temp.write_text("half", encoding="utf-8")
            raise RuntimeError("boom")
    assert path.read_text(encoding="utf-8") == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]
    with atomic_write(tmp_path / "new" / "y.txt") as temp:
        assert temp.parent == tmp_path / "new"
        temp.write_text("done", encoding="utf-8")
    assert (tmp_path / "new" / "y.txt").read_text(encoding="utf-8") == "done"
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["y.txt"]


@pytest.mark.parametrize("choice, epsg", [("wgs84", 4326), ("cgcs2000", 4490), ("gk", 4546)])
def test_out_crs_choices_give_a_prj_pyproj_reads_back(tmp_path: Path, choice: str, epsg: int) -> None:
    target = resolve_out_crs(choice, "EPSG:4546", centre=(111.5, 39.4))
    assert target == f"EPSG:{epsg}"
    write_shapefile(village_access(), tmp_path / "v.shp", crs=target)
    prj = CRS.from_wkt((tmp_path / "v.prj").read_text())
    assert prj.to_epsg(min_confidence=70) == epsg
    # What the .prj does, not how GDAL spells it (ESRI names): the same coordinates as the EPSG code.
    via_prj = Transformer.from_crs("EPSG:4326", prj, always_xy=True).transform(111.53, 39.42)
    via_epsg = Transformer.from_crs("EPSG:4326", f"EPSG:{epsg}", always_xy=True).transform(111.53, 39.42)
    np.testing.assert_allclose(via_prj, via_epsg, atol=1e-6)


def test_gk_choice_without_a_gk_project_crs_uses_the_centre_zone() -> None:
    assert resolve_out_crs("gk", "EPSG:32649", centre=(117.2, 31.8)) == "EPSG:4548"  # CM 117°E
    assert resolve_out_crs("gk", "EPSG:4545", centre=(111.5, 39.4)) == "EPSG:4545"  # the project's own
    assert resolve_out_crs("EPSG:3857") == "EPSG:3857"
    with pytest.raises(UsageError, match="--out-crs utm"):
        resolve_out_crs("utm")
    with pytest.raises(UsageError, match="no study-area centre"):
        resolve_out_crs("gk", "EPSG:4326")


def test_village_links_gbk_shapefile_and_gpkg_layer(tmp_path: Path) -> None:
    villages = village_access()
    facilities = gpd.GeoDataFrame(
        {"fid": ["F21", "F22", "F23"], "name": ["老营镇卫生院", "水泉乡卫生院", "天峰坪镇卫生院"]},
        geometry=[shapely.Point(111.6, 39.5), shapely.Point(111.7, 39.5), shapely.Point(111.8, 39.6)],
        crs="EPSG:4326")
    links = village_links(villages, facilities, "township")
    # V004 has no township facility (unreachable): no line.
    assert links["vid"].tolist() == ["V001", "V002", "V003"]
    assert links["facility"].tolist() == ["老营镇卫生院", "水泉乡卫生院", "天峰坪镇卫生院"]
    for (_, link), v, f in zip(links.iterrows(), villages.geometry[:3], facilities.geometry):
        assert link.geometry.coords[0] == v.coords[0] and link.geometry.coords[-1] == f.coords[0]
    path = tmp_path / "shp" / "village_links.shp"
    write_shapefile(links, path, encoding="GBK", crs="EPSG:4490")
    assert (path.parent / "village_links.cpg").read_text().strip() == "GBK"
    # The .dbf holds GBK bytes, and GDAL (via the .cpg) decodes them back to the same Chinese text.
    assert "老营镇卫生院".encode("gbk") in (path.parent / "village_links.dbf").read_bytes()
    back = gpd.read_file(path, engine="pyogrio")
    assert back["facility"].tolist() == links["facility"].tolist()
    assert back["name"].tolist() == ["老营村", "水泉村", "窑头村"]
    write_gpkg(villages, tmp_path / "villages.gpkg", "villages")
    write_gpkg(links, tmp_path / "villages.gpkg", "village_links")
    layers = dict(pyogrio.list_layers(tmp_path / "villages.gpkg"))
    assert layers == {"villages": "Point", "village_links": "LineString"}
