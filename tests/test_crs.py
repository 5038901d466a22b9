"""GCJ-02 / BD-09 conversions, CRS specs and the metric zone choice."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import shapely

from healthreach.layers import crs as hc
from healthreach.layers.project import load_project

GEOD = pyproj.Geod(ellps="WGS84")
GOOD = Path(__file__).parent / "data" / "good"
SHANXI = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "shanxi_counties_amap_gcj02.geojson"


def metres(lon1: np.ndarray, lat1: np.ndarray, lon2: np.ndarray, lat2: np.ndarray) -> np.ndarray:
    return np.asarray(GEOD.inv(lon1, lat1, lon2, lat2)[2])


def grid(west: float, south: float, east: float, north: float, n: int = 40) -> tuple[np.ndarray, np.ndarray]:
    lon, lat = np.meshgrid(np.linspace(west, east, n), np.linspace(south, north, n))
    return lon.ravel(), lat.ravel()


# Shanxi, and Inner Mongolia (incl. Bayannur / Urad Middle Banner) by bounding box.
REGIONS = {"shanxi": (110.2, 34.5, 114.6, 40.8), "inner_mongolia": (97.2, 37.4, 126.1, 53.4)}


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_gcj02_round_trip_within_half_a_metre(region: str) -> None:
    lon, lat = grid(*REGIONS[region])
    back = hc.gcj02_to_wgs84(*hc.wgs84_to_gcj02(lon, lat))
    assert metres(lon, lat, *back).max() <= 0.5


@pytest.mark.parametrize("region", sorted(REGIONS))
def test_bd09_round_trip_within_half_a_metre(region: str) -> None:
    lon, lat = grid(*REGIONS[region])
    assert metres(lon, lat, *hc.bd09_to_wgs84(*hc.wgs84_to_bd09(lon, lat))).max() <= 0.5
    glon, glat = hc.wgs84_to_gcj02(lon, lat)
    assert metres(glon, glat, *hc.bd09_to_gcj02(*hc.gcj02_to_bd09(glon, glat))).max() <= 0.5


def test_inverse_is_iterated_not_one_step() -> None:
    # One subtraction of the forward offset leaves metres of error; the iterated inverse must not.
    lon, lat = grid(*REGIONS["shanxi"])
    glon, glat = hc.wgs84_to_gcj02(lon, lat)
    flon, flat = hc.wgs84_to_gcj02(glon, glat)
    one_step = metres(lon, lat, 2 * glon - flon, 2 * glat - flat)
    assert one_step.max() > 0.5
    assert metres(lon, lat, *hc.gcj02_to_wgs84(glon, glat)).max() < 0.05


def test_forward_offset_in_shanxi_is_300_to_700_m() -> None:
    lon, lat = grid(*REGIONS["shanxi"])
    offset = metres(lon, lat, *hc.wgs84_to_gcj02(lon, lat))
    assert offset.min() >= 300 and offset.max() <= 700


def test_bd09_sits_further_from_wgs84_than_gcj02() -> None:
    lon, lat = np.array([111.7]), np.array([39.4])
    gcj = metres(lon, lat, *hc.wgs84_to_gcj02(lon, lat))[0]
    bd = metres(lon, lat, *hc.wgs84_to_bd09(lon, lat))[0]
    assert bd > gcj + 300  # BD-09 adds a further ≈ 0.0065°/0.006° shift on top of GCJ-02


def test_outside_china_is_unchanged_and_nan_passes_through() -> None:
    lon, lat = np.array([2.35, -74.0, np.nan]), np.array([48.85, 40.7, 39.0])
    for convert in (hc.wgs84_to_gcj02, hc.gcj02_to_wgs84):
        out_lon, out_lat = convert(lon, lat)
        np.testing.assert_array_equal(out_lon[:2], lon[:2])
        np.testing.assert_array_equal(out_lat[:2], lat[:2])
        assert np.isnan(out_lon[2]) and np.isnan(out_lat[2])


def test_scalars_and_arrays_agree() -> None:
    lon, lat = hc.wgs84_to_gcj02(np.array([111.7, 114.2]), np.array([39.4, 36.1]))
    one_lon, one_lat = hc.wgs84_to_gcj02(114.2, 36.1)
    assert float(one_lon) == lon[1] and float(one_lat) == lat[1]


@pytest.mark.parametrize(("lon", "epsg"), [(111.7, 4546), (111.0, 4546), (114.0, 4547), (105.0, 4544),
                                           (112.6, 4547), (75.2, 4534), (134.9, 4554)])
def test_metric_crs_for_picks_the_nearest_3_degree_zone(lon: float, epsg: int) -> None:
    code = hc.metric_crs_for(lon, 38.0)
    assert code == f"EPSG:{epsg}"
    crs = pyproj.CRS(code)
    assert "CGCS2000" in crs.name and "3-degree" in crs.name
    meridian = next(p.value for p in crs.coordinate_operation.params if p.name == "Longitude of natural origin")
    assert abs(meridian - lon) <= 1.5  # independent of the formula: the zone's own central meridian


def test_metric_crs_outside_china_is_utm() -> None:
    assert hc.metric_crs_for(2.35, 48.85) == "EPSG:32631"
    assert pyproj.CRS(hc.metric_crs_for(2.35, 48.85)).is_projected


@pytest.mark.parametrize(("spec", "expected"), [
    ("EPSG:4546", "EPSG:4546"), (4546, "EPSG:4546"), ("4546", "EPSG:4546"), ("epsg:4547", "EPSG:4547"),
    ("wgs84", "EPSG:4326"), ("WGS-84", "EPSG:4326"), ("cgcs2000", "EPSG:4490"), ("GCJ-02", "gcj02"),
    ("bd09", "bd09"), ("BD_09", "bd09"),
])
def test_parse_crs(spec: object, expected: str) -> None:
    assert hc.parse_crs(spec) == expected


@pytest.mark.parametrize("spec", ["gcj-03", "EPSG:999999", True])
def test_parse_crs_rejects_nonsense(spec: object) -> None:
    with pytest.raises(ValueError, match="CRS"):
        hc.parse_crs(spec)


def test_to_wgs84_points_from_projected_arrays_matches_pyproj() -> None:
    x, y = np.array([551682.1, 560000.0]), np.array([4363083.5, 4370000.0])
    out = hc.to_wgs84_points((x, y), "EPSG:4546")
    lon, lat = pyproj.Transformer.from_crs(4546, 4326, always_xy=True).transform(x, y)
    np.testing.assert_allclose(out.x, lon, atol=1e-9)
    np.testing.assert_allclose(out.y, lat, atol=1e-9)
    assert out.crs == "EPSG:4326"


def test_to_wgs84_points_from_gcj02_frame_keeps_index() -> None:
    lon, lat = np.array([111.6, 111.7]), np.array([39.4, 39.5])
    glon, glat = hc.wgs84_to_gcj02(lon, lat)
    frame = gpd.GeoDataFrame(geometry=shapely.points(glon, glat), index=[7, 9], crs=4326)
    out = hc.to_wgs84_points(frame, "gcj02")
    assert list(out.index) == [7, 9]
    assert metres(lon, lat, out.x.to_numpy(), out.y.to_numpy()).max() < 0.05


def test_shanxi_counties_in_gcj02_move_300_to_700_m(tmp_path: Path) -> None:
    project = tmp_path / "project.yml"
    project.write_text(
        "name: 山西\n"
        "layers:\n"
        f"  roads: {GOOD / 'roads.osm'}\n"
        f"  facilities: {GOOD / 'facilities.geojson'}\n"
        f"  villages: {GOOD / 'villages_canonical.csv'}\n"
        f"  boundaries: {{path: {SHANXI}, crs: gcj02, columns: {{name: district}}}}\n",
        encoding="utf-8",
    )
    loaded = load_project(project).boundaries
    raw = gpd.read_file(SHANXI)
    assert loaded is not None and len(loaded) == len(raw) == 117
    assert set(loaded["level"]) == {"county"}  # 区县 is understood without a values: mapping
    assert list(loaded["name"]) == list(raw["district"])
    before = shapely.get_coordinates(raw.geometry.to_numpy())
    after = shapely.get_coordinates(loaded.geometry.to_numpy())
    assert before.shape == after.shape
    moved = metres(before[:, 0], before[:, 1], after[:, 0], after[:, 1])
    assert moved.min() >= 300 and moved.max() <= 700
    # The shift is the inverse of the public forward formula: going forward again gives the file back.
    fwd = np.column_stack(hc.wgs84_to_gcj02(after[:, 0], after[:, 1]))
    assert metres(before[:, 0], before[:, 1], fwd[:, 0], fwd[:, 1]).max() < 0.05
