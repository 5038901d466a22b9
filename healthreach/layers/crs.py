"""Coordinate systems Chinese users bring: WGS84, CGCS2000, projected GK zones, GCJ-02 and BD-09.

GCJ-02 (Amap/Gaode, Tencent) and BD-09 (Baidu) are not EPSG systems: they are obfuscated longitude and
latitude computed from WGS84 by a public formula. The forward formulas below are the well-known public
ones; the inverses are solved by fixed-point iteration because no closed form exists.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import ArrayLike, NDArray

logger = logging.getLogger(__name__)

GCJ02 = "gcj02"
BD09 = "bd09"
WGS84 = "EPSG:4326"
CGCS2000 = "EPSG:4490"

# Krasovsky 1940 ellipsoid, as used by the public GCJ-02 formula.
_KRASOVSKY_A = 6378245.0
_KRASOVSKY_EE = 0.00669342162296594323
_BD_X_PI = math.pi * 3000.0 / 180.0
# The inverse stops once every point reproduces its input to this many degrees (≈ 1 cm).
_INVERSE_TOLERANCE_DEG = 1e-7
_INVERSE_MAX_ITERATIONS = 30
EXTENT_MARGIN_DEG = 1.0
"""How far (degrees) data may reach beyond a metric CRS's area of use: a county just over a Gauss–Krüger
zone edge is commonly kept in one zone, where lengths grow by well under 0.1 %."""
MAX_SCALE_ERROR = 0.005
"""Largest length error (a fraction) a project CRS may make within the data's extent."""

# Bounding box (degrees) inside which the GCJ-02 offset applies, as in the public reference code.
_CHINA_LON = (72.004, 137.8347)
_CHINA_LAT = (0.8293, 55.8271)

_ALIASES = {
    "wgs84": WGS84,
    "cgcs2000": CGCS2000,
    "gcj02": GCJ02,
    "amap": GCJ02,
    "bd09": BD09,
    "baidu": BD09,
}

Array = NDArray[np.float64]


def parse_crs(spec: object) -> str:
    """Canonical form of a `crs:` value: 'EPSG:<code>', 'gcj02' or 'bd09'.

    Accepts an EPSG code as an integer or string ('4546', 'EPSG:4546'), the names wgs84, cgcs2000,
    gcj02 and bd09 (case, '-' and '_' ignored), or any other definition pyproj understands.
    Raises ValueError with a readable message when the value means nothing.
    """
    if isinstance(spec, bool) or spec is None:
        raise ValueError(f"CRS {spec!r} is not a coordinate system")
    if isinstance(spec, int):
        text = str(spec)
    else:
        text = str(spec).strip()
    key = text.lower().replace("-", "").replace("_", "").replace(" ", "")
    if key in _ALIASES:
        return _ALIASES[key]
    if text.isdigit():
        text = f"EPSG:{text}"
    try:
        crs = pyproj.CRS.from_user_input(text)
    except pyproj.exceptions.CRSError as exc:
        raise ValueError(
            f"CRS {spec!r} is not understood (expected an EPSG code such as EPSG:4546, "
            "or one of wgs84, cgcs2000, gcj02, bd09)"
        ) from exc
    epsg = crs.to_epsg()
    return f"EPSG:{epsg}" if epsg is not None else crs.to_string()


def is_geographic(spec: str) -> bool:
    """Whether a canonical CRS (see `parse_crs`) holds longitude/latitude in degrees."""
    if spec in (GCJ02, BD09):
        return True
    return bool(pyproj.CRS.from_user_input(spec).is_geographic)


def _outside_china(lon: Array, lat: Array) -> NDArray[np.bool_]:
    return (lon < _CHINA_LON[0]) | (lon > _CHINA_LON[1]) | (lat < _CHINA_LAT[0]) | (lat > _CHINA_LAT[1])


def _gcj_delta_lat(x: Array, y: Array) -> Array:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(y * math.pi) + 40.0 * np.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * np.sin(y / 12.0 * math.pi) + 320.0 * np.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _gcj_delta_lon(x: Array, y: Array) -> Array:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * np.sqrt(np.abs(x))
    ret += (20.0 * np.sin(6.0 * x * math.pi) + 20.0 * np.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * np.sin(x * math.pi) + 40.0 * np.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * np.sin(x / 12.0 * math.pi) + 300.0 * np.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _arrays(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    lon_a = np.asarray(lon, dtype=float)
    lat_a = np.asarray(lat, dtype=float)
    if lon_a.shape != lat_a.shape:
        raise ValueError(f"lon and lat differ in shape: {lon_a.shape} vs {lat_a.shape}")
    return lon_a, lat_a


def wgs84_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 longitude/latitude (degrees) of WGS84 points; points outside China are unchanged."""
    lon_a, lat_a = _arrays(lon, lat)
    dlat = _gcj_delta_lat(lon_a - 105.0, lat_a - 35.0)
    dlon = _gcj_delta_lon(lon_a - 105.0, lat_a - 35.0)
    radlat = lat_a / 180.0 * math.pi
    magic = 1.0 - _KRASOVSKY_EE * np.sin(radlat) ** 2
    sqrtmagic = np.sqrt(magic)
    dlat = (dlat * 180.0) / ((_KRASOVSKY_A * (1.0 - _KRASOVSKY_EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_KRASOVSKY_A / sqrtmagic * np.cos(radlat) * math.pi)
    outside = _outside_china(lon_a, lat_a)
    return np.where(outside, lon_a, lon_a + dlon), np.where(outside, lat_a, lat_a + dlat)


def gcj02_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """BD-09 longitude/latitude (degrees) of GCJ-02 points."""
    x, y = _arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _BD_X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _BD_X_PI)
    return z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006


def _invert(
    forward: Callable[[Array, Array], tuple[Array, Array]], lon: ArrayLike, lat: ArrayLike
) -> tuple[Array, Array]:
    """Solve forward(x, y) = (lon, lat) by fixed-point iteration (the offsets vary slowly)."""
    target_lon, target_lat = _arrays(lon, lat)
    x, y = target_lon.copy(), target_lat.copy()
    for _ in range(_INVERSE_MAX_ITERATIONS):
        fx, fy = forward(x, y)
        ex, ey = fx - target_lon, fy - target_lat
        x, y = x - ex, y - ey
        residual = np.fmax(np.abs(ex), np.abs(ey))
        if not np.any(residual >= _INVERSE_TOLERANCE_DEG):  # NaN input never blocks convergence
            break
    else:
        logger.warning("coordinate inverse did not converge to %g degrees", _INVERSE_TOLERANCE_DEG)
    return x, y


def gcj02_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """WGS84 longitude/latitude (degrees) of GCJ-02 points, iterated to < 1e-7 degrees."""
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """GCJ-02 longitude/latitude (degrees) of BD-09 points, iterated to < 1e-7 degrees."""
    return _invert(gcj02_to_bd09, lon, lat)


def wgs84_to_bd09(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """BD-09 longitude/latitude (degrees) of WGS84 points."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: ArrayLike, lat: ArrayLike) -> tuple[Array, Array]:
    """WGS84 longitude/latitude (degrees) of BD-09 points."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def metric_crs_for(lon: float, lat: float) -> str:
    """Projected CRS (metres) for a study area centred at lon/lat (degrees).

    Inside China's longitudes: the CGCS2000 3-degree Gauss–Krüger zone whose central meridian is
    nearest (CM 75..135 → EPSG:4534..4554, e.g. 111°E → EPSG:4546). Elsewhere: the WGS84 UTM zone.
    """
    if not (math.isfinite(lon) and math.isfinite(lat)):
        raise ValueError(f"centre ({lon}, {lat}) is not a finite longitude/latitude")
    if 73.5 <= lon < 136.5:
        central_meridian = 3 * round(lon / 3.0)
        return f"EPSG:{4534 + (central_meridian - 75) // 3}"
    zone = int((lon + 180.0) // 6.0) % 60 + 1
    return f"EPSG:{(32600 if lat >= 0 else 32700) + zone}"


def extent_problem(spec: str, bounds: tuple[float, float, float, float], *,
                   margin_deg: float = EXTENT_MARGIN_DEG) -> str | None:
    """Why the projected CRS `spec` cannot measure data within `bounds` (west, south, east, north in
    degrees): they reach beyond its area of use (pyproj) by more than `margin_deg`, or it stretches
    lengths there by more than `MAX_SCALE_ERROR` (Web Mercator, a far zone). None when it fits."""
    crs = pyproj.CRS.from_user_input(spec)
    west, south, east, north = (float(b) for b in bounds)
    where = f"the villages and facilities lie at longitude {west:.2f}..{east:.2f}, latitude {south:.2f}..{north:.2f}"
    area = crs.area_of_use
    if area is not None and area.west <= area.east and not (
            west >= area.west - margin_deg and east <= area.east + margin_deg
            and south >= area.south - margin_deg and north <= area.north + margin_deg):
        name = area.name.split(".")[0][:60]
        return (f"crs {spec} is meant for {name} (longitude {area.west:g}..{area.east:g}, latitude "
                f"{area.south:g}..{area.north:g}); {where}")
    lons, lats = np.array([west, east, west, east]), np.array([south, south, north, north])
    with np.errstate(all="ignore"):
        factors = pyproj.Proj(crs).get_factors(lons, lats, errcheck=False)
        scale = np.fmax(np.abs(np.asarray(factors.meridional_scale) - 1),
                        np.abs(np.asarray(factors.parallel_scale) - 1))
    worst = float(np.max(np.where(np.isfinite(scale), scale, np.inf)))
    if worst > MAX_SCALE_ERROR:
        stretch = f"by {worst:.1%}" if math.isfinite(worst) else "without bound"
        return f"crs {spec} stretches lengths {stretch} where the data are ({where})"
    return None


def _obfuscated_to_wgs84(spec: str) -> Callable[[Array, Array], tuple[Array, Array]]:
    return gcj02_to_wgs84 if spec == GCJ02 else bd09_to_wgs84


def to_wgs84_points(
    gdf_or_xy: gpd.GeoDataFrame | gpd.GeoSeries | tuple[ArrayLike, ArrayLike], crs_spec: object = None
) -> gpd.GeoSeries:
    """Points in WGS84 (EPSG:4326) from point geometries or an (x, y) pair of arrays.

    `crs_spec` (see `parse_crs`) says what the input coordinates are; None means the GeoDataFrame's
    own CRS, or WGS84 for bare arrays. GCJ-02/BD-09 inputs are de-obfuscated with the iterated inverse.
    """
    if isinstance(gdf_or_xy, (gpd.GeoDataFrame, gpd.GeoSeries)):
        geoms = gpd.GeoSeries(gdf_or_xy.geometry, crs=gdf_or_xy.crs)
        index = geoms.index
        x, y = geoms.x.to_numpy(dtype=float), geoms.y.to_numpy(dtype=float)
        own = geoms.crs.to_string() if geoms.crs is not None else WGS84
    else:
        x, y = _arrays(*gdf_or_xy)
        index = None
        own = WGS84
    spec = parse_crs(crs_spec) if crs_spec is not None else parse_crs(own)
    if spec in (GCJ02, BD09):
        lon, lat = _obfuscated_to_wgs84(spec)(x, y)
    else:
        transformer = pyproj.Transformer.from_crs(spec, WGS84, always_xy=True)
        lon, lat = transformer.transform(x, y)
    return gpd.GeoSeries(shapely.points(np.asarray(lon), np.asarray(lat)), index=index, crs=WGS84)


def to_wgs84(gdf: gpd.GeoDataFrame, crs_spec: object = None) -> gpd.GeoDataFrame:
    """A copy of `gdf` (any geometry type) in WGS84; `crs_spec` overrides the frame's own CRS."""
    own = gdf.crs.to_string() if gdf.crs is not None else WGS84
    spec = parse_crs(crs_spec if crs_spec is not None else own)
    out = gdf.copy()
    if spec in (GCJ02, BD09):
        inverse = _obfuscated_to_wgs84(spec)

        def convert(coords: Array) -> Array:
            lon, lat = inverse(coords[:, 0], coords[:, 1])
            return np.column_stack([lon, lat])

        return out.set_geometry(shapely.transform(out.geometry.to_numpy(), convert), crs=WGS84)
    return out.set_crs(spec, allow_override=True).to_crs(WGS84)



def metric_xy(geoms: gpd.GeoSeries | gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """Point coordinates (metres) in the metric CRS `crs`, shape (n, 2); (0, 2) when there are none."""
    series = geoms.geometry if isinstance(geoms, gpd.GeoDataFrame) else geoms
    if len(series) == 0:
        return np.zeros((0, 2))
    metric = series.to_crs(crs)
    return np.column_stack([metric.x.to_numpy(), metric.y.to_numpy()])
