"""The baseline coverage map: offline basemap, facilities, catchments, villages by travel time,
a name search and a summary panel with the coverage curve."""
from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.config import Settings
from healthreach.coverage.result import AnalysisResult
from healthreach.coverage.services import (
    facility_services,
    services_present,
)
from healthreach.layers.crs import wgs84_to_gcj02
from healthreach.tiers import SERVICES, TIERS, tier_members
from healthreach.maps import labels
from healthreach.maps.basemaps import add_basemap, add_tile_layer, for_display
from healthreach.maps.labels import esc, text
from healthreach.maps.curves import shown_tier
from healthreach.maps.style import (
    SERVICE_COLOURS,
    TIER_COLOURS,
    UNREACHABLE_FILL,
    band_colours,
    count_text,
    is_missing,
    minutes_label,
    minutes_text,
    time_class_labels,
    time_colour,
)
from healthreach.maps.popups import (
    facility_names,
    facility_popup,
    failing_html,
    failing_rules,
    or_dash,
    village_popup,
)
from healthreach.maps.summary_panel import summary_panel_html
from healthreach.maps.whatif import add_whatif, without_roads
from healthreach.maps.offline import (
    HtmlBox,
    HtmlPopup,
    HtmlTooltip,
    SearchBox,
    data_bounds,
    display_frame,
    dom_class,
    feature_collection,
    in_pane,
    new_map,
    render_html,
    require_columns,
)

log = logging.getLogger(__name__)

# Catchment tiers drawn under a name of their own rather than "catchment: <tier>".
CATCHMENT_LAYER_KEYS: dict[str, str] = {"ems": "ems_radius", "community": "walk_15min"}
# (name, detail, marker, group) for the search box; name and detail are escaped HTML.
SearchEntry = tuple[str, str, folium.CircleMarker, folium.FeatureGroup]


def village_tiers(villages: pd.DataFrame) -> list[str]:
    """Tiers with a `T_time_s` column, analysis tiers first; services are listed apart in popups."""
    present = [c[: -len("_time_s")] for c in villages.columns if c.endswith("_time_s")]
    return [t for t in TIERS if t in present] + sorted(t for t in present if t not in TIERS and t not in SERVICES)


def layer_name(key: str, tier: str, lang: str) -> str:
    """Layer-control name such as '医疗机构：乡镇卫生院' (escaped: Leaflet shows it as HTML)."""
    sep = "：" if lang == "zh" else ": "
    return esc(f"{text(key, lang)}{sep}{labels.tier_name(tier, lang)}")


def village_radius(population: object) -> float:
    """Marker radius (pixels) growing with the square root of population (persons)."""
    pop = 0.0 if is_missing(population) else max(float(population), 0.0)  # type: ignore[arg-type]
    return float(min(4.0 + math.sqrt(pop) / 8.0, 12.0))


def facility_marker(row: pd.Series, colour: str, lang: str, *, radius: float = 6.0, popup_prefix: str = "",
                    popup_suffix: str = "", extra_class: str = "", **style: Any) -> folium.CircleMarker:
    """A facility as a white-ringed coloured dot (or as styled by `style`) with popup and tooltip.

    `popup_prefix` / `popup_suffix` are ready-made HTML put above / below the facility's details;
    `extra_class` adds CSS classes.
    """
    point = row.geometry.representative_point()
    options = {"color": "#ffffff", "weight": 2.0, "fill_color": colour, "fill_opacity": 1.0, **style}
    options = {k: v for k, v in options.items() if v is not None}
    css = f"hr-facility {dom_class('hr-f', row.get('fid'))} {extra_class}".strip()
    marker = in_pane(folium.CircleMarker([point.y, point.x], radius=radius, className=css, **options), "hr-facilities")
    marker.add_child(HtmlPopup(popup_prefix + facility_popup(row, lang, extra=popup_suffix)))
    marker.add_child(HtmlTooltip(f"{esc(row.get('name', ''))} · {esc(labels.kind_name(row.get('kind'), lang))}"))
    return marker


def add_facilities(m: folium.Map, facilities: gpd.GeoDataFrame, lang: str, *,
                   standards: pd.DataFrame | None = None) -> tuple[list[str], list[SearchEntry]]:
    """One layer per tier that has facilities; returns those tiers and one search entry per facility.

    Popups list the facility-scope rules of `standards` the facility fails.
    """
    if not len(facilities):
        return [], []
    require_columns(facilities, ["fid", "name", "kind"], "facilities")
    failing = failing_rules(standards, scope="facility")
    entries: dict[str, SearchEntry] = {}
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
        style = tier_marker_style(tier)
        for _, row in frame[inside].iterrows():
            fails = failing.get(str(row["fid"]), [])
            marker = facility_marker(row, TIER_COLOURS[tier], lang,
                                     popup_suffix=failing_html(fails, lang) if fails else "", **style)
            marker.add_to(group)
            entries.setdefault(str(row["fid"]), (esc(row["name"]), esc(labels.kind_name(row["kind"], lang)),
                                                 marker, group))
        group.add_to(m)
    return present, list(entries.values())


def tier_marker_style(tier: str) -> dict[str, Any]:
    """Marker options of a tier's facilities: dots sized by level; ambulance bases, often also health
    centres, as a ring that keeps the centre's own colour visible."""
    if tier == "ems":
        return {"radius": 11.0, "color": TIER_COLOURS[tier], "weight": 2.5, "fill": False, "fill_color": None}
    return {"radius": {"hospital": 9.0, "subcentre": 8.0, "township": 7.0}.get(tier, 5.0)}


def add_service_layers(m: folium.Map, facilities: gpd.GeoDataFrame, lang: str) -> list[str]:
    """One overlay per service offered, hidden by default ('服务：卒中中心'), drawing the facilities that
    offer it as rings in the service's colour. Returns the services drawn, in the order of SERVICES."""
    if not len(facilities) or "services" not in facilities.columns:
        return []
    frame = display_frame(facilities, "facilities")
    offered = facility_services(frame)
    present = list(services_present(frame))
    for service in present:
        group = folium.FeatureGroup(name=layer_name("service", service, lang), show=False)
        for i in np.flatnonzero([service in s for s in offered]):
            # A ring larger than any tier dot, so the facility's own tier colour stays visible inside.
            facility_marker(frame.iloc[i], SERVICE_COLOURS[service], lang, radius=13.0,
                            color=SERVICE_COLOURS[service], weight=3.0, fill=False, fill_color=None,
                            extra_class=f"hr-service hr-service-{service}").add_to(group)
        group.add_to(m)
    return present


def add_catchments(m: folium.Map, catchments: gpd.GeoDataFrame, lang: str, bands_min: Sequence[float]) -> None:
    """One layer per tier with catchments, coloured by band among `bands_min` (minutes); larger bands
    first so smaller ones lie on top."""
    if not len(catchments):
        return
    require_columns(catchments, ["fid", "tier", "band_min"], "catchments")
    frame = display_frame(catchments, "catchments")
    colours = band_colours(bands_min)
    order = [t for t in TIERS if t in set(frame["tier"])] + sorted(set(frame["tier"]) - set(TIERS))
    for tier in order:
        part = frame[frame["tier"] == tier].sort_values("band_min", ascending=False, kind="stable")
        own_key = CATCHMENT_LAYER_KEYS.get(tier)
        name = esc(text(own_key, lang)) if own_key else layer_name("catchments", tier, lang)
        group = folium.FeatureGroup(name=name, show=tier == "township")
        for _, row in part.iterrows():
            band = float(row["band_min"])
            colour = next((c for b, c in colours.items() if band <= b + 1e-9), list(colours.values())[-1])
            style = {"color": colour, "weight": 0.6, "fillColor": colour, "fillOpacity": 0.22}
            layer = folium.GeoJson(feature_collection(gpd.GeoSeries([row.geometry])),
                                   style_function=lambda _f, s=style: s, control=False)
            tip = (f"{esc(row.get('name', row['fid']))} · ≤ {minutes_label(band)} {text('minutes', lang)}"
                   f" · {text('population', lang)} {esc(count_text(row.get('population')))}")
            layer.add_child(HtmlTooltip(tip))
            layer.add_to(group)
        group.add_to(m)


def village_marker(row: pd.Series, fill: str, popup: str, tooltip: str, *, dashed: bool = False) -> folium.CircleMarker:
    """A village dot sized by population, with the given fill, popup and tooltip HTML."""
    point = row.geometry.representative_point()
    outline = {"color": "#000000", "weight": 1.6, "dash_array": "2 2"} if dashed else {"color": "#333333", "weight": 0.8}
    marker = in_pane(folium.CircleMarker([point.y, point.x], radius=village_radius(row.get("population")),
                                         fill_color=fill, fill_opacity=0.9,
                                         className=f"hr-village {dom_class('hr-v', row.get('vid'))}", **outline),
                     "hr-villages")
    marker.add_child(HtmlPopup(popup))
    marker.add_child(HtmlTooltip(tooltip))
    return marker


def ring_marker(row: pd.Series, colour: str, popup: str, css: str) -> folium.CircleMarker:
    """A hollow ring around a village, highlighting it (unreachable, failing a standard)."""
    point = row.geometry.representative_point()
    marker = in_pane(folium.CircleMarker([point.y, point.x], radius=village_radius(row.get("population")) + 5,
                                         color=colour, weight=2.5, fill=False,
                                         className=f"{css} {dom_class('hr-v', row.get('vid'))}"), "hr-villages")
    marker.add_child(HtmlPopup(popup))
    return marker


FAILING_RING = "#b2182b"


def add_villages(m: folium.Map, result: AnalysisResult, lang: str, bands_min: Sequence[float], tier: str
                 ) -> list[SearchEntry]:
    """Villages by time to `tier` in the classes of `bands_min`, plus highlight rings for unreachable
    villages and for those falling short of a village-scope standard (both layers hidden at first).

    Returns one search entry per village (its dot on the travel-time layer).
    """
    villages = result.villages
    if not len(villages):
        return []
    column = f"{tier}_time_s"
    require_columns(villages, ["vid", "name", "population", column], "villages")
    frame = display_frame(villages, "villages")
    tiers = village_tiers(frame)
    names = facility_names(result.facilities)
    failing = failing_rules(result.standards)
    by_time = folium.FeatureGroup(name=esc(labels.time_heading(tier, lang, key="villages_time_to")), show=True)
    unreachable = folium.FeatureGroup(name=text("villages_unreachable", lang), show=False)
    failing_group = folium.FeatureGroup(name=text("villages_failing", lang), show=False)
    unit = text("minutes", lang)
    entries: list[SearchEntry] = []
    for _, row in frame.iterrows():
        seconds = row[column]
        fails = failing.get(str(row["vid"]), [])
        popup = village_popup(row, tiers, lang, names, extra=failing_html(fails, lang) if fails else "")
        tooltip = f"{esc(row['name'])} · {minutes_text(seconds)} {unit}"
        marker = village_marker(row, time_colour(seconds, bands_min), popup, tooltip, dashed=is_missing(seconds))
        marker.add_to(by_time)
        entries.append((esc(row["name"]), esc(or_dash(row.get("township"))), marker, by_time))
        if is_missing(seconds):
            ring_marker(row, "#000000", popup, "hr-unreachable").add_to(unreachable)
        if fails:
            ring_marker(row, FAILING_RING, popup, "hr-failing").add_to(failing_group)
    by_time.add_to(m)
    unreachable.add_to(m)
    if failing:
        failing_group.add_to(m)
    return entries


QA_LAYER_NAME = {"zh": "路网质量问题", "en": "Network quality problems"}
QA_COLOURS = {"error": "#b2182b", "warning": "#f4a582", "info": "#92c5de"}


def add_network_qa(m: folium.Map, qa: pd.DataFrame | None, lang: str, *, gcj02: bool = False) -> None:
    """Layer of the network-QA rows that have a place (hidden by default): one ring per feature
    (village, facility, edge midpoint) in the colour of its worst severity, its popup listing every
    problem found there by mode. `gcj02` shifts the rings to GCJ-02, as the rest of an Amap map."""
    if qa is None or not len(qa):
        return
    require_columns(qa, ["check", "severity", "mode", "feature", "id", "name", "lon", "lat", "message"],
                    "network_qa")
    located = qa[np.isfinite(qa["lon"].to_numpy(dtype=float)) & np.isfinite(qa["lat"].to_numpy(dtype=float))]
    if not len(located):
        return
    group = folium.FeatureGroup(name=esc(QA_LAYER_NAME[labels.check_lang(lang)]), show=False)
    for (feature, fid), rows in located.groupby(["feature", "id"], sort=False):
        worst = next(s for s in QA_COLOURS if (rows["severity"] == s).any() or s == "info")
        name = str(rows["name"].iat[0]) or str(fid)
        items = "".join(f"<li>{esc(r['mode'])} · {esc(r['check'])}: {esc(r['message'])}</li>"
                        for _, r in rows.iterrows())
        lon, lat = float(rows["lon"].iat[0]), float(rows["lat"].iat[0])
        if gcj02:
            lon, lat = (float(c) for c in wgs84_to_gcj02(lon, lat))
        marker = in_pane(folium.CircleMarker([lat, lon], radius=9, color=QA_COLOURS[worst], weight=3, fill=False,
                                             className=f"hr-qa hr-qa-{worst}"), "hr-facilities")
        marker.add_child(HtmlPopup(f"<b>{esc(name)}</b> <small>{esc(feature)} {esc(fid)}</small><ul>{items}</ul>"))
        marker.add_child(HtmlTooltip(f"{esc(name)} · {esc(', '.join(dict.fromkeys(rows['check'])))}"))
        marker.add_to(group)
    group.add_to(m)


def legend_html(lang: str, tiers: list[str], *, heading: str, classes: list[tuple[str, str]], extra: str = "") -> str:
    """Legend box: `heading` over colour `classes` (colour, label), the facility tiers drawn, then
    `extra` (ready-made HTML). Headings and labels are escaped here."""
    body = "".join(f"<div><i style='background:{c}'></i>{esc(label)}</div>" for c, label in classes)
    tier_rows = "".join(
        f"<div><i style='{tier_swatch(t)}'></i>{esc(labels.tier_name(t, lang))}</div>"
        for t in tiers
    )
    tiers_block = f"<h4>{text('legend_facilities', lang)}</h4>{tier_rows}" if tiers else ""
    return f"<div class='hr-box hr-legend'><h4>{esc(heading)}</h4>{body}{tiers_block}{extra}</div>"


def time_legend_classes(lang: str, bands_min: Sequence[float]) -> list[tuple[str, str]]:
    """The travel-time classes of `bands_min` and the unreachable grey, as legend rows."""
    return time_class_labels(lang, bands_min) + [(UNREACHABLE_FILL, text("unreachable", lang))]


def catchment_legend(lang: str, bands_min: Sequence[float]) -> str:
    """Legend block of the catchment band colours (when catchments are drawn)."""
    unit = text("minutes", lang)
    rows = "".join(f"<div class='hr-band-key' data-band='{minutes_label(b)}'><i class='sq' style='background:{c}'></i>"
                   f"≤ {minutes_label(b)} {unit}</div>" for b, c in band_colours(bands_min).items())
    return f"<h4>{text('catchment_legend', lang)}</h4>{rows}"


def failing_legend(lang: str) -> str:
    """Legend line explaining the red ring of the (hidden) failing-villages layer."""
    return f"<p><i class='ring' style='border-color:{FAILING_RING}'></i>{esc(text('failing_legend', lang))}</p>"


def tier_swatch(tier: str, colour: str | None = None) -> str:
    """Legend swatch style of a tier's facility marker (a ring for ambulance bases)."""
    colour = colour or TIER_COLOURS[tier]
    if tier == "ems":
        return f"background:transparent;border:2px solid {colour}"
    return f"background:{colour};border-color:#fff"


def title_html(title: str, subtitle: str) -> str:
    """Title box; both strings are escaped here."""
    return f"<div class='hr-box hr-title'>{esc(title)}<small>{esc(subtitle)}</small></div>"


def coverage_map_html(result: AnalysisResult, *, bands_min: Sequence[float], lang: str = "zh",
                      title: str | None = None, basemap: str = "none", basemap_key: str | None = None,
                      settings: Settings | None = None) -> str:
    """Self-contained HTML of the baseline coverage map (works with no network).

    Layers: offline basemap (roads by class, boundaries, village names), catchment bands per tier
    (emergency radii and 15-minute circles under their own names), then above them villages coloured
    by time to the township tier (or, where no village reaches one, the first summarised tier reached)
    in the classes of `bands_min` (the run's bands, minutes), unreachable villages and villages falling
    short of a standard (both hidden at first), facilities per tier on top, and one hidden overlay per
    service offered. A search box finds villages and facilities by name; a summary panel gives
    residents within each band, the golden-hour share of each emergency centre and the coverage curves.
    The map opens on the study area clear of its boxes. `basemap` ('none', 'osm', 'tianditu' with
    `basemap_key`, 'amap') lists a tile layer that stays off until the user turns it on; with 'amap'
    every layer is drawn in GCJ-02 to match its tiles. With `settings` (the run's) and the result's edge
    table, the page carries the what-if tool (healthreach.maps.whatif), which also draws the road
    basemap from its packed network. `result` is not modified.
    """
    labels.check_lang(lang)
    shown = for_display(result, basemap)
    bounds = data_bounds(shown.villages, shown.facilities, shown.boundaries)
    tier = shown_tier(shown.villages)
    m = new_map(bounds)
    add_tile_layer(m, basemap, lang, key=basemap_key)
    draws_roads = add_whatif(m, result, settings, lang=lang, basemap=basemap)
    add_basemap(m, without_roads(shown) if draws_roads else shown, lang)
    add_catchments(m, shown.catchments, lang, bands_min)
    tiers, facility_entries = add_facilities(m, shown.facilities, lang, standards=shown.standards)
    add_service_layers(m, shown.facilities, lang)
    village_entries = add_villages(m, shown, lang, bands_min, tier)
    add_network_qa(m, result.summary.get("network_qa"), lang, gcj02=basemap == "amap")
    folium.LayerControl(collapsed=True).add_to(m)
    m.add_child(HtmlBox(title_html(title or result.project_name, text("coverage_map", lang))))
    extra = (catchment_legend(lang, bands_min) if len(shown.catchments) else "") + (
        failing_legend(lang) if failing_rules(shown.standards) else "")
    m.add_child(HtmlBox(legend_html(lang, tiers, heading=labels.time_heading(tier, lang),
                                    classes=time_legend_classes(lang, bands_min), extra=extra)))
    m.add_child(SearchBox(village_entries + facility_entries, placeholder=text("search", lang)))
    panel = summary_panel_html(result, lang, bands_min)
    if panel:
        m.add_child(HtmlBox(panel))
    log.info("coverage map: %d villages, %d facilities, %d road lines",
             len(result.villages), len(result.facilities), len(result.roads))
    return render_html(m)
