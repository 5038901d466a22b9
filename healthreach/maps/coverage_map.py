"""The baseline coverage map: offline basemap, facilities, catchments and villages by travel time."""
from __future__ import annotations

import logging
import math
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach._errors import InputError
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.kinds import TIERS, tier_members
from healthreach.maps import labels
from healthreach.maps.labels import esc, text
from healthreach.maps.offline import (
    HtmlBox,
    HtmlPopup,
    HtmlTooltip,
    data_bounds,
    display_frame,
    dom_class,
    feature_collection,
    new_map,
    render_html,
)

log = logging.getLogger(__name__)

DASH = "—"
# Upper limits (minutes) of the travel-time classes and their colours (green = near, red = far).
TIME_CLASSES: tuple[tuple[float, str], ...] = (
    (15.0, "#1a9850"),
    (30.0, "#91cf60"),
    (45.0, "#fee08b"),
    (60.0, "#fc8d59"),
    (math.inf, "#d73027"),
)
UNREACHABLE_FILL = "#9e9e9e"
TIER_COLOURS: dict[str, str] = {
    "hospital": "#c51b7d",
    "subcentre": "#762a83",
    "township": "#2166ac",
    "community": "#01665e",
    "village": "#8c510a",
    "ems": "#e31a1c",
}
BAND_COLOURS: dict[int, str] = {15: "#08519c", 30: "#3182bd", 45: "#6baed6", 60: "#bdd7e7"}
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


def minutes_text(seconds: object) -> str:
    """Seconds as minutes with one decimal, or '—' where missing (unreachable)."""
    return DASH if _missing(seconds) else f"{float(seconds) / 60.0:.1f}"  # type: ignore[arg-type]


def km_text(metres: object) -> str:
    """Metres as kilometres with one decimal, or '—' where missing."""
    return DASH if _missing(metres) else f"{float(metres) / 1000.0:.1f}"  # type: ignore[arg-type]


def count_text(value: object) -> str:
    """A count (persons, beds) as an integer, or '—' where missing."""
    return DASH if _missing(value) else str(int(round(float(value))))  # type: ignore[arg-type]


def _missing(value: object) -> bool:
    try:
        return value is None or bool(pd.isna(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return False


def time_colour(seconds: object) -> str:
    """Fill colour of a travel time in seconds; grey where unreachable (missing)."""
    if _missing(seconds):
        return UNREACHABLE_FILL
    minutes = float(seconds) / 60.0  # type: ignore[arg-type]
    return next(colour for limit, colour in TIME_CLASSES if minutes <= limit)


def time_class_labels(lang: str) -> list[tuple[str, str]]:
    """(colour, label) per travel-time class, for legends."""
    unit = text("minutes", lang)
    out, lower = [], 0.0
    for limit, colour in TIME_CLASSES:
        label = f"≤ {limit:.0f} {unit}" if math.isfinite(limit) else f"> {lower:.0f} {unit}"
        out.append((colour, label))
        lower = limit
    return out


def village_tiers(villages: pd.DataFrame) -> list[str]:
    """Tiers (and service tiers) with a `T_time_s` column, analysis tiers first."""
    present = [c[: -len("_time_s")] for c in villages.columns if c.endswith("_time_s")]
    return [t for t in TIERS if t in present] + sorted(t for t in present if t not in TIERS)


def require_columns(frame: pd.DataFrame, columns: list[str], layer: str) -> None:
    """Raise InputError naming the first column of `columns` missing from `frame`."""
    for column in columns:
        if column not in frame.columns:
            raise InputError(f"{layer}: column {column!r} is missing; expected it in the analysis result")


def layer_name(key: str, tier: str, lang: str) -> str:
    """Layer-control name such as '医疗机构：乡镇卫生院' (escaped: Leaflet shows it as HTML)."""
    sep = "：" if lang == "zh" else ": "
    return esc(f"{text(key, lang)}{sep}{labels.tier_name(tier, lang)}")


def _row_table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def village_popup(row: pd.Series, tiers: list[str], lang: str, *, extra: str = "") -> str:
    """Popup HTML for one village: name, population, township, per-tier access, note."""
    rows = [
        (text("population", lang), esc(count_text(row.get("population")))),
        (text("township", lang), esc(_or_dash(row.get("township")))),
    ]
    access = "".join(
        f"<tr><td>{esc(labels.tier_name(t, lang))}</td><td>{esc(_or_dash(row.get(f'{t}_fid')))}</td>"
        f"<td>{minutes_text(row.get(f'{t}_time_s'))}</td><td>{km_text(row.get(f'{t}_dist_m'))}</td></tr>"
        for t in tiers
    )
    head = (f"<tr><th>{text('tier', lang)}</th><th>{text('nearest', lang)}</th>"
            f"<th>{text('minutes', lang)}</th><th>{text('km', lang)}</th></tr>")
    note = row.get("note")
    note_html = "" if _missing(note) or not str(note) else f"<p>{text('note', lang)}: {esc(note)}</p>"
    return (f"<b>{esc(row.get('name', ''))}</b> <small>{esc(row.get('vid', ''))}</small>"
            f"{_row_table(rows)}<table>{head}{access}</table>{note_html}{extra}")


def _or_dash(value: object) -> object:
    return DASH if _missing(value) or value == "" else value


def village_radius(population: object) -> float:
    """Marker radius (pixels) growing with the square root of population (persons)."""
    pop = 0.0 if _missing(population) else max(float(population), 0.0)  # type: ignore[arg-type]
    return float(min(4.0 + math.sqrt(pop) / 8.0, 12.0))


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
    roads_group.add_to(m)

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
    return "" if _missing(value) else str(value)


def _line_layer(geoms: gpd.GeoSeries, style: dict[str, Any]) -> folium.GeoJson:
    fixed = {"fill": False, "opacity": 0.9, **style}
    return folium.GeoJson(feature_collection(geoms), style_function=lambda _f: fixed,
                          control=False, smooth_factor=1.5)


def facility_popup(row: pd.Series, lang: str) -> str:
    """Popup HTML for one facility: name, kind, beds, doctors, nurses, ambulances."""
    rows = [(text("kind", lang), esc(labels.kind_name(row.get("kind"), lang)))]
    rows += [(text(col, lang), esc(count_text(row.get(col)))) for col in ("beds", "doctors", "nurses", "ambulances")]
    if not _missing(row.get("township")):
        rows.append((text("township", lang), esc(row.get("township"))))
    return f"<b>{esc(row.get('name', ''))}</b> <small>{esc(row.get('fid', ''))}</small>{_row_table(rows)}"


def facility_marker(row: pd.Series, colour: str, lang: str, *, radius: float = 6.0, popup_prefix: str = "",
                    extra_class: str = "", **style: Any) -> folium.CircleMarker:
    """A facility as a white-ringed coloured dot (or as styled by `style`) with popup and tooltip.

    `popup_prefix` is ready-made HTML put above the facility's details; `extra_class` adds CSS classes.
    """
    point = row.geometry.representative_point()
    options = {"color": "#ffffff", "weight": 1.5, "fill_color": colour, "fill_opacity": 0.95, **style}
    options = {k: v for k, v in options.items() if v is not None}
    css = f"hr-facility {dom_class('hr-f', row.get('fid'))} {extra_class}".strip()
    marker = folium.CircleMarker([point.y, point.x], radius=radius, className=css, **options)
    marker.add_child(HtmlPopup(popup_prefix + facility_popup(row, lang)))
    marker.add_child(HtmlTooltip(f"{esc(row.get('name', ''))} · {esc(labels.kind_name(row.get('kind'), lang))}"))
    return marker


def add_facilities(m: folium.Map, facilities: gpd.GeoDataFrame, lang: str) -> list[str]:
    """One layer per tier that has facilities; returns those tiers."""
    if not len(facilities):
        return []
    require_columns(facilities, ["fid", "name", "kind"], "facilities")
    frame = display_frame(facilities, "facilities")
    ambulances = frame["ambulances"].tolist() if "ambulances" in frame.columns else [None] * len(frame)
    present = []
    for tier in TIERS:
        inside = np.array(tier_members(frame["kind"].tolist(), ambulances, tier), dtype=bool)
        if not inside.any():
            continue
        present.append(tier)
        group = folium.FeatureGroup(name=layer_name("facilities", tier, lang),
                                    show=tier != "village")
        radius = {"hospital": 9.0, "subcentre": 8.0, "township": 7.0}.get(tier, 5.0)
        # Ambulance bases are often also health centres: a ring keeps the centre's own colour visible.
        style = {"radius": 11.0, "color": TIER_COLOURS[tier], "weight": 2.5, "fill": False,
                 "fill_color": None} if tier == "ems" else {"radius": radius}
        for _, row in frame[inside].iterrows():
            facility_marker(row, TIER_COLOURS[tier], lang, **style).add_to(group)
        group.add_to(m)
    return present


def band_colour(band_min: float) -> str:
    """Fill colour of a catchment band (minutes); bands beyond 60 take the palest colour."""
    for band, colour in BAND_COLOURS.items():
        if band_min <= band:
            return colour
    return BAND_COLOURS[60]


def add_catchments(m: folium.Map, catchments: gpd.GeoDataFrame, lang: str) -> None:
    """One layer per tier with catchments; larger bands first so smaller ones lie on top."""
    if not len(catchments):
        return
    require_columns(catchments, ["fid", "tier", "band_min"], "catchments")
    frame = display_frame(catchments, "catchments")
    order = [t for t in TIERS if t in set(frame["tier"])] + sorted(set(frame["tier"]) - set(TIERS))
    for tier in order:
        part = frame[frame["tier"] == tier].sort_values("band_min", ascending=False, kind="stable")
        group = folium.FeatureGroup(name=layer_name("catchments", tier, lang),
                                    show=tier == "township")
        for _, row in part.iterrows():
            band = float(row["band_min"])
            colour = band_colour(band)
            style = {"color": colour, "weight": 0.6, "fillColor": colour, "fillOpacity": 0.22}
            layer = folium.GeoJson(feature_collection(gpd.GeoSeries([row.geometry])),
                                   style_function=lambda _f, s=style: s, control=False)
            tip = (f"{esc(row.get('name', row['fid']))} · {band:.0f} {text('minutes', lang)}"
                   f" · {text('population', lang)} {esc(count_text(row.get('population')))}")
            layer.add_child(HtmlTooltip(tip))
            layer.add_to(group)
        group.add_to(m)


def failing_rules(standards: pd.DataFrame) -> dict[str, list[pd.Series]]:
    """Village-scope standards rows with passed == False, by village id."""
    if standards is None or not len(standards) or "scope" not in standards.columns:
        return {}
    require_columns(standards, ["rule_id", "scope_id", "passed"], "standards")
    failed = standards[(standards["scope"] == "village") & standards["passed"].eq(False)]
    out: dict[str, list[pd.Series]] = {}
    for _, row in failed.iterrows():
        out.setdefault(str(row["scope_id"]), []).append(row)
    return out


def _failing_html(rows: list[pd.Series], lang: str) -> str:
    items = "".join(
        f"<li>{esc(r['rule_id'])}: {text('value', lang)} {esc(_or_dash(r.get('value')))}"
        f" / {text('target', lang)} {esc(_or_dash(r.get('target')))} {esc(_or_dash(r.get('unit', '')))}</li>"
        for r in rows
    )
    return f"<p><b>{text('failed_rules', lang)}</b></p><ul>{items}</ul>"


def village_marker(row: pd.Series, fill: str, popup: str, tooltip: str, *, dashed: bool = False) -> folium.CircleMarker:
    """A village dot sized by population, with the given fill, popup and tooltip HTML."""
    point = row.geometry.representative_point()
    outline = {"color": "#000000", "weight": 1.6, "dash_array": "2 2"} if dashed else {"color": "#333333", "weight": 0.8}
    marker = folium.CircleMarker([point.y, point.x], radius=village_radius(row.get("population")),
                                 fill_color=fill, fill_opacity=0.9,
                                 className=f"hr-village {dom_class('hr-v', row.get('vid'))}", **outline)
    marker.add_child(HtmlPopup(popup))
    marker.add_child(HtmlTooltip(tooltip))
    return marker


def ring_marker(row: pd.Series, colour: str, popup: str, css: str) -> folium.CircleMarker:
    """A hollow ring around a village, highlighting it (unreachable, failing a standard)."""
    point = row.geometry.representative_point()
    marker = folium.CircleMarker([point.y, point.x], radius=village_radius(row.get("population")) + 5,
                                 color=colour, weight=2.5, fill=False,
                                 className=f"{css} {dom_class('hr-v', row.get('vid'))}")
    marker.add_child(HtmlPopup(popup))
    return marker


def add_villages(m: folium.Map, result: AnalysisResult, lang: str) -> None:
    """Villages by time to the township tier, plus highlight rings for unreachable and failing ones."""
    villages = result.villages
    if not len(villages):
        return
    require_columns(villages, ["vid", "name", "population", "township_time_s"], "villages")
    frame = display_frame(villages, "villages")
    tiers = village_tiers(frame)
    failing = failing_rules(result.standards)
    by_time = folium.FeatureGroup(name=text("villages_by_time", lang), show=True)
    unreachable = folium.FeatureGroup(name=text("villages_unreachable", lang), show=False)
    failing_group = folium.FeatureGroup(name=text("villages_failing", lang), show=True)
    unit = text("minutes", lang)
    for _, row in frame.iterrows():
        seconds = row["township_time_s"]
        fails = failing.get(str(row["vid"]), [])
        popup = village_popup(row, tiers, lang, extra=_failing_html(fails, lang) if fails else "")
        tooltip = f"{esc(row['name'])} · {minutes_text(seconds)} {unit}"
        village_marker(row, time_colour(seconds), popup, tooltip, dashed=_missing(seconds)).add_to(by_time)
        if _missing(seconds):
            ring_marker(row, "#000000", popup, "hr-unreachable").add_to(unreachable)
        if fails:
            ring_marker(row, "#b2182b", popup, "hr-failing").add_to(failing_group)
    by_time.add_to(m)
    unreachable.add_to(m)
    if failing:
        failing_group.add_to(m)


def legend_html(lang: str, tiers: list[str], *, heading: str | None = None,
                classes: list[tuple[str, str]] | None = None, extra: str = "") -> str:
    """Legend box: colour classes (default: travel time to the township tier), facility tiers,
    then `extra` (ready-made HTML)."""
    rows = classes if classes is not None else time_class_labels(lang) + [(UNREACHABLE_FILL, text("unreachable", lang))]
    body = "".join(f"<div><i style='background:{c}'></i>{esc(label)}</div>" for c, label in rows)
    tier_rows = "".join(
        f"<div><i style='{_tier_swatch(t)}'></i>{esc(labels.tier_name(t, lang))}</div>"
        for t in tiers
    )
    tiers_block = f"<h4>{text('legend_facilities', lang)}</h4>{tier_rows}" if tiers else ""
    return (f"<div class='hr-box hr-legend'><h4>{esc(heading or text('legend_time', lang))}</h4>"
            f"{body}{tiers_block}{extra}</div>")


def _tier_swatch(tier: str) -> str:
    if tier == "ems":
        return f"background:transparent;border:2px solid {TIER_COLOURS[tier]}"
    return f"background:{TIER_COLOURS[tier]};border-color:#fff"


def title_html(title: str, subtitle: str) -> str:
    """Title box; both strings are escaped here."""
    return f"<div class='hr-box hr-title'>{esc(title)}<small>{esc(subtitle)}</small></div>"


def coverage_map_html(result: AnalysisResult, *, lang: str = "zh", title: str | None = None,
                      osm_tiles: bool = False) -> str:
    """Self-contained HTML of the baseline coverage map (works with no network).

    Layers: offline basemap (roads by class, boundaries, village names), facilities per tier,
    catchment bands per tier, villages coloured by drive time to the township tier (minutes),
    unreachable villages and villages failing village-scope standards. `osm_tiles` lists an
    OpenStreetMap tile layer, switched off. `result` is not modified.
    """
    labels.check_lang(lang)
    bounds = data_bounds(result.villages, result.facilities, result.boundaries)
    m = new_map(bounds, osm_tiles=osm_tiles, tiles_name=text("osm_tiles", lang))
    add_basemap(m, result, lang)
    add_catchments(m, result.catchments, lang)
    tiers = add_facilities(m, result.facilities, lang)
    add_villages(m, result, lang)
    folium.LayerControl(collapsed=True).add_to(m)
    m.add_child(HtmlBox(title_html(title or result.project_name, text("coverage_map", lang))))
    m.add_child(HtmlBox(legend_html(lang, tiers)))
    log.info("coverage map: %d villages, %d facilities, %d road lines",
             len(result.villages), len(result.facilities), len(result.roads))
    return render_html(m)
