"""Basemaps: the offline one drawn from the project's own data, optional online tiles (off by
default) and the display datum each tile source needs.

Maps never fetch anything unless the user turns a tile layer on. Amap (高德) tiles are drawn in
GCJ-02, so when Amap is chosen every layer of the map is shifted to GCJ-02 for display only;
exports and analysis stay in WGS84.
"""
from __future__ import annotations

import dataclasses
import logging
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from healthreach._errors import UsageError
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.crs import wgs84_to_gcj02
from healthreach.maps.labels import esc, text
from healthreach.maps.offline import HtmlTooltip, display_frame, feature_collection, require_columns

log = logging.getLogger(__name__)

BASEMAPS: tuple[str, ...] = ("none", "osm", "tianditu", "amap")
TIANDITU_ENV = "TIANDITU_KEY"
PROJECT_KEY = "basemap_key"

_OSM_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
_TIANDITU_URL = ("https://t{s}.tianditu.gov.cn/{layer}_w/wmts?SERVICE=WMTS&REQUEST=GetTile&VERSION=1.0.0"
                 "&LAYER={layer}&STYLE=default&TILEMATRIXSET=w&FORMAT=tiles&TILEMATRIX={z}&TILEROW={y}"
                 "&TILECOL={x}&tk={key}")
_AMAP_URL = "https://webrd0{s}.is.autonavi.com/appmaptile?lang=zh_cn&size=1&scale=1&style=8&x={x}&y={y}&z={z}"

# Road classes from the most to the least important; unknown classes draw as minor roads.
ROAD_STYLES: tuple[tuple[frozenset[str], dict[str, Any]], ...] = (
    (frozenset({"motorway", "trunk", "motorway_link", "trunk_link"}), {"color": "#3d3d3d", "weight": 4.5}),
    (frozenset({"primary", "primary_link"}), {"color": "#555555", "weight": 3.5}),
    (frozenset({"secondary", "secondary_link"}), {"color": "#6e6e6e", "weight": 2.8}),
    (frozenset({"tertiary", "tertiary_link"}), {"color": "#8c8c8c", "weight": 1.8}),
    (frozenset({"unclassified", "residential", "living_street", "road"}), {"color": "#a6a6a6", "weight": 1.2}),
    (frozenset({"track", "service", "path", "footway"}), {"color": "#b3b3b3", "weight": 0.8, "dashArray": "3 3"}),
)
_MINOR_ROAD = ROAD_STYLES[4][1]

_NAMES: dict[str, dict[str, str]] = {
    "osm": {"zh": "OpenStreetMap 在线底图", "en": "OpenStreetMap tiles (online)"},
    "tianditu": {"zh": "天地图 在线底图", "en": "Tianditu tiles (online)"},
    "amap": {"zh": "高德 在线底图（GCJ-02）", "en": "Amap tiles (online, GCJ-02)"},
}


def check_basemap(basemap: str) -> str:
    """Return `basemap` if it is one of BASEMAPS; raise UsageError otherwise."""
    if basemap not in BASEMAPS:
        raise UsageError(f"--basemap {basemap}: expected one of {', '.join(BASEMAPS)}")
    return basemap


def basemap_name(basemap: str, lang: str) -> str:
    """Layer-control name of a tile basemap ('osm', 'tianditu' or 'amap') in `lang`."""
    return _NAMES[basemap][lang]


def add_tile_layer(m: folium.Map, basemap: str, lang: str, *, key: str | None = None) -> None:
    """List the chosen tile basemap in the layer control, switched off (nothing is fetched until shown).

    'none' adds nothing. 'tianditu' needs `key` (the project's `basemap_key` or TIANDITU_KEY) and adds the vector map with
    its annotation layer.
    """
    check_basemap(basemap)
    if basemap == "none":
        return
    options = {"overlay": True, "show": False, "max_zoom": 18, "name": basemap_name(basemap, lang)}
    if basemap == "osm":
        folium.TileLayer(_OSM_URL, attr="© OpenStreetMap contributors", **options).add_to(m)
    elif basemap == "amap":
        folium.TileLayer(_AMAP_URL, attr="© 高德地图 AutoNavi", subdomains="1234", **options).add_to(m)
    else:
        if not key:
            raise UsageError(f"--basemap tianditu needs a Tianditu key: set {PROJECT_KEY}: in the project "
                             f"file or the {TIANDITU_ENV} environment variable")
        group = folium.FeatureGroup(name=options["name"], overlay=True, show=False)
        for layer in ("vec", "cva"):
            url = _TIANDITU_URL.replace("{layer}", layer).replace("{key}", key)
            folium.TileLayer(url, attr="© 天地图 Tianditu", subdomains="01234567", max_zoom=18,
                             overlay=True, control=False).add_to(group)
        group.add_to(m)


def _to_gcj02(gdf: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame | None:
    """A WGS84 copy of `gdf` whose coordinates are GCJ-02 (for drawing over Amap tiles only)."""
    if gdf is None or not len(gdf):
        return gdf
    frame = gdf.to_crs(4326)

    def shift(xy: np.ndarray) -> np.ndarray:
        lon, lat = wgs84_to_gcj02(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    moved = shapely.transform(np.asarray(frame.geometry.values), shift)
    return frame.set_geometry(gpd.GeoSeries(moved, index=frame.index, crs=4326))


def for_display(result: AnalysisResult, basemap: str) -> AnalysisResult:
    """`result` with every layer in the datum the basemap's tiles use (GCJ-02 for Amap, else as is)."""
    if check_basemap(basemap) != "amap":
        return result
    log.info("Amap basemap: every map layer is shifted to GCJ-02 for display")
    return dataclasses.replace(
        result,
        villages=_to_gcj02(result.villages), facilities=_to_gcj02(result.facilities),
        catchments=_to_gcj02(result.catchments), roads=_to_gcj02(result.roads),
        boundaries=_to_gcj02(result.boundaries),
        layers={name: _to_gcj02(layer) for name, layer in result.layers.items()},
    )


def add_basemap(m: folium.Map, result: AnalysisResult, lang: str) -> None:
    """Offline basemap from the project's own data: roads by class, boundaries, village names."""
    roads_group = folium.FeatureGroup(name=text("basemap_roads", lang), show=True)
    if len(result.roads):
        require_columns(result.roads, ["highway"], "roads")
        roads = display_frame(result.roads, "roads")
        classes = roads["highway"].map(_road_class)
        drawn = np.zeros(len(roads), dtype=bool)
        # Least important first so that major roads are drawn on top.
        for members, style in reversed(ROAD_STYLES):
            mask = classes.isin(members).to_numpy()
            if style is _MINOR_ROAD:
                mask = mask | ~classes.isin(frozenset().union(*(s for s, _ in ROAD_STYLES))).to_numpy()
            mask = mask & ~drawn
            drawn |= mask
            if mask.any():
                _line_layer(roads.geometry[mask], style).add_to(roads_group)
        roads_group.add_to(m)  # none without road lines: the what-if tool draws its own (maps.whatif)

    if result.boundaries is not None and len(result.boundaries):
        bounds_group = folium.FeatureGroup(name=text("basemap_boundaries", lang), show=True)
        frame = display_frame(result.boundaries, "boundaries")
        county = (frame["level"] == "county").to_numpy() if "level" in frame.columns else np.zeros(len(frame), bool)
        for mask, style in ((~county, {"color": "#7b3294", "weight": 1.2, "dashArray": "6 4"}),
                            (county, {"color": "#40004b", "weight": 2.5})):
            if mask.any():
                _line_layer(frame.geometry[mask].boundary, style).add_to(bounds_group)
        bounds_group.add_to(m)

    if len(result.villages):
        names = folium.FeatureGroup(name=text("village_names", lang), show=False)
        for _, row in display_frame(result.villages, "villages").iterrows():
            point = row.geometry.representative_point()
            marker = folium.CircleMarker([point.y, point.x], radius=1, stroke=False, fill=False)
            marker.add_child(HtmlTooltip(esc(row.get("name", "")), permanent=True, direction="bottom",
                                         sticky=False, className="hr-label", offset=[0, 6]))
            marker.add_to(names)
        names.add_to(m)


def _road_class(value: object) -> str:
    # osmnx gives a list when simplified edges merge ways of different classes: take the first.
    if isinstance(value, (list, tuple, np.ndarray)):
        value = value[0] if len(value) else ""
    return "" if value is None or value is pd.NA or (isinstance(value, float) and np.isnan(value)) else str(value)


def _line_layer(geoms: gpd.GeoSeries, style: dict[str, Any]) -> folium.GeoJson:
    fixed = {"fill": False, "opacity": 0.9, **style}
    return folium.GeoJson(feature_collection(geoms), style_function=lambda _f: fixed,
                          control=False, smooth_factor=1.5)
