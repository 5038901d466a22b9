"""The baseline coverage map: offline basemap, facilities, catchments, villages by travel time,
a name search and a summary panel with the coverage curve."""
from __future__ import annotations

import logging
import math
import re
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.coverage.result import AnalysisResult
from healthreach.coverage.rules import RULES
from healthreach.coverage.services import (
    EMERGENCY_CENTRES,
    facility_services,
    services_present,
)
from healthreach.layers.crs import wgs84_to_gcj02
from healthreach.layers.kinds import SERVICES, TIERS, tier_members
from healthreach.maps import labels
from healthreach.maps.basemaps import add_basemap, add_tile_layer, for_display
from healthreach.maps.labels import esc, text
from healthreach.maps.offline import (
    HtmlBox,
    HtmlPopup,
    HtmlTooltip,
    SearchBox,
    data_bounds,
    display_frame,
    dom_class,
    feature_collection,
    new_map,
    render_html,
    require_columns,
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
# One colour per service (qualitative palette), for the service filter overlays.
SERVICE_COLOURS: dict[str, str] = dict(zip(SERVICES, (
    "#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#ff7f00", "#a65628",
    "#f781bf", "#999999", "#1b9e77", "#d95f02", "#7570b3", "#e7298a",
)))
BAND_COLOURS: dict[int, str] = {15: "#08519c", 30: "#3182bd", 45: "#6baed6", 60: "#bdd7e7"}
# Catchment tiers drawn under a name of their own rather than "catchment: <tier>".
CATCHMENT_LAYER_KEYS: dict[str, str] = {"ems": "ems_radius", "community": "walk_15min"}
CURVE_MINUTES = np.arange(0, 91, dtype=float)
# (name, detail, marker, group) for the search box; name and detail are escaped HTML.
SearchEntry = tuple[str, str, folium.CircleMarker, folium.FeatureGroup]


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
    """Tiers with a `T_time_s` column, analysis tiers first; services are left to `village_services`."""
    present = [c[: -len("_time_s")] for c in villages.columns if c.endswith("_time_s")]
    return [t for t in TIERS if t in present] + sorted(t for t in present if t not in TIERS and t not in SERVICES)


def village_services(columns: pd.Index) -> list[str]:
    """Services with a `<service>_time_s` column among `columns`, in the order of SERVICES."""
    return [s for s in SERVICES if f"{s}_time_s" in columns]


def layer_name(key: str, tier: str, lang: str) -> str:
    """Layer-control name such as '医疗机构：乡镇卫生院' (escaped: Leaflet shows it as HTML)."""
    sep = "：" if lang == "zh" else ": "
    return esc(f"{text(key, lang)}{sep}{labels.tier_name(tier, lang)}")


def _row_table(rows: list[tuple[str, str]]) -> str:
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def village_popup(row: pd.Series, tiers: list[str], lang: str, *, extra: str = "") -> str:
    """Popup HTML for one village: name, population, township, access per tier and per service present
    (nearest facility, minutes, km; '—' where unreachable), note."""
    rows = [
        (text("population", lang), esc(count_text(row.get("population")))),
        (text("township", lang), esc(_or_dash(row.get("township")))),
    ]
    access = "".join(
        f"<tr><td>{esc(labels.tier_name(t, lang))}</td><td>{esc(_or_dash(row.get(f'{t}_fid')))}</td>"
        f"<td>{minutes_text(row.get(f'{t}_time_s'))}</td><td>{km_text(row.get(f'{t}_dist_m'))}</td></tr>"
        for t in tiers
    )
    columns = f"<th>{text('nearest', lang)}</th><th>{text('minutes', lang)}</th><th>{text('km', lang)}</th></tr>"
    head = f"<tr><th>{text('tier', lang)}</th>{columns}"
    services = village_services(row.index)
    service_rows = "".join(
        f"<tr class='hr-svc' data-service='{s}'><td>{esc(labels.tier_name(s, lang))}</td>"
        f"<td>{esc(_or_dash(row.get(f'{s}_fid')))}</td><td class='hr-min'>{minutes_text(row.get(f'{s}_time_s'))}</td>"
        f"<td>{km_text(row.get(f'{s}_dist_m'))}</td></tr>"
        for s in services
    )
    service_table = (f"<table class='hr-services'><tr><th>{text('service', lang)}</th>{columns}{service_rows}</table>"
                     if services else "")
    note = row.get("note")
    note_html = "" if _missing(note) or not str(note) else f"<p>{text('note', lang)}: {esc(note)}</p>"
    return (f"<b>{esc(row.get('name', ''))}</b> <small>{esc(row.get('vid', ''))}</small>"
            f"{_row_table(rows)}<table>{head}{access}</table>{service_table}{note_html}{extra}")


def _or_dash(value: object) -> object:
    return DASH if _missing(value) or value == "" else value


def village_radius(population: object) -> float:
    """Marker radius (pixels) growing with the square root of population (persons)."""
    pop = 0.0 if _missing(population) else max(float(population), 0.0)  # type: ignore[arg-type]
    return float(min(4.0 + math.sqrt(pop) / 8.0, 12.0))


def facility_popup(row: pd.Series, lang: str, *, extra: str = "") -> str:
    """Popup HTML for one facility: name, kind, beds, doctors, nurses, ambulances, township, services
    offered, then `extra` HTML."""
    rows = [(text("kind", lang), esc(labels.kind_name(row.get("kind"), lang)))]
    rows += [(text(col, lang), esc(count_text(row.get(col)))) for col in ("beds", "doctors", "nurses", "ambulances")]
    if not _missing(row.get("township")):
        rows.append((text("township", lang), esc(row.get("township"))))
    cell = row.get("services")
    offered = [] if _missing(cell) else [s for s in SERVICES if s in str(cell).split(";")]
    if offered:
        rows.append((text("services", lang), esc("、".join(labels.tier_name(s, lang) for s in offered))))
    return f"<b>{esc(row.get('name', ''))}</b> <small>{esc(row.get('fid', ''))}</small>{_row_table(rows)}{extra}"


def facility_marker(row: pd.Series, colour: str, lang: str, *, radius: float = 6.0, popup_prefix: str = "",
                    popup_suffix: str = "", extra_class: str = "", **style: Any) -> folium.CircleMarker:
    """A facility as a white-ringed coloured dot (or as styled by `style`) with popup and tooltip.

    `popup_prefix` / `popup_suffix` are ready-made HTML put above / below the facility's details;
    `extra_class` adds CSS classes.
    """
    point = row.geometry.representative_point()
    options = {"color": "#ffffff", "weight": 1.5, "fill_color": colour, "fill_opacity": 0.95, **style}
    options = {k: v for k, v in options.items() if v is not None}
    css = f"hr-facility {dom_class('hr-f', row.get('fid'))} {extra_class}".strip()
    marker = folium.CircleMarker([point.y, point.x], radius=radius, className=css, **options)
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
        radius = {"hospital": 9.0, "subcentre": 8.0, "township": 7.0}.get(tier, 5.0)
        # Ambulance bases are often also health centres: a ring keeps the centre's own colour visible.
        style = {"radius": 11.0, "color": TIER_COLOURS[tier], "weight": 2.5, "fill": False,
                 "fill_color": None} if tier == "ems" else {"radius": radius}
        for _, row in frame[inside].iterrows():
            fails = failing.get(str(row["fid"]), [])
            marker = facility_marker(row, TIER_COLOURS[tier], lang,
                                     popup_suffix=_failing_html(fails, lang) if fails else "", **style)
            marker.add_to(group)
            entries.setdefault(str(row["fid"]), (esc(row["name"]), esc(labels.kind_name(row["kind"], lang)),
                                                 marker, group))
        group.add_to(m)
    return present, list(entries.values())


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
        own_key = CATCHMENT_LAYER_KEYS.get(tier)
        name = esc(text(own_key, lang)) if own_key else layer_name("catchments", tier, lang)
        group = folium.FeatureGroup(name=name, show=tier == "township")
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


def failing_rules(standards: pd.DataFrame | None, *, scope: str = "village") -> dict[str, list[pd.Series]]:
    """Standards rows of `scope` ('village' or 'facility') with passed == False, by scope id."""
    if standards is None or not len(standards) or "scope" not in standards.columns:
        return {}
    require_columns(standards, ["rule_id", "scope_id", "passed"], "standards")
    failed = standards[(standards["scope"] == scope) & standards["passed"].eq(False)]
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


def add_villages(m: folium.Map, result: AnalysisResult, lang: str) -> list[SearchEntry]:
    """Villages by time to the township tier, plus highlight rings for unreachable and failing ones.

    Returns one search entry per village (its dot on the travel-time layer).
    """
    villages = result.villages
    if not len(villages):
        return []
    require_columns(villages, ["vid", "name", "population", "township_time_s"], "villages")
    frame = display_frame(villages, "villages")
    tiers = village_tiers(frame)
    failing = failing_rules(result.standards)
    by_time = folium.FeatureGroup(name=text("villages_by_time", lang), show=True)
    unreachable = folium.FeatureGroup(name=text("villages_unreachable", lang), show=False)
    failing_group = folium.FeatureGroup(name=text("villages_failing", lang), show=True)
    unit = text("minutes", lang)
    entries: list[SearchEntry] = []
    for _, row in frame.iterrows():
        seconds = row["township_time_s"]
        fails = failing.get(str(row["vid"]), [])
        popup = village_popup(row, tiers, lang, extra=_failing_html(fails, lang) if fails else "")
        tooltip = f"{esc(row['name'])} · {minutes_text(seconds)} {unit}"
        marker = village_marker(row, time_colour(seconds), popup, tooltip, dashed=_missing(seconds))
        marker.add_to(by_time)
        entries.append((esc(row["name"]), esc(_or_dash(row.get("township"))), marker, by_time))
        if _missing(seconds):
            ring_marker(row, "#000000", popup, "hr-unreachable").add_to(unreachable)
        if fails:
            ring_marker(row, "#b2182b", popup, "hr-failing").add_to(failing_group)
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
        marker = folium.CircleMarker([lat, lon], radius=9,
                                     color=QA_COLOURS[worst], weight=3, fill=False,
                                     className=f"hr-qa hr-qa-{worst}")
        marker.add_child(HtmlPopup(f"<b>{esc(name)}</b> <small>{esc(feature)} {esc(fid)}</small><ul>{items}</ul>"))
        marker.add_child(HtmlTooltip(f"{esc(name)} · {esc(', '.join(dict.fromkeys(rows['check'])))}"))
        marker.add_to(group)
    group.add_to(m)


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


def coverage_curve(villages: pd.DataFrame, tier: str, minutes: np.ndarray = CURVE_MINUTES) -> np.ndarray:
    """Share (0–1) of residents whose `tier` travel time is at most each of `minutes`.

    Unreachable villages (missing time) count in the total and are never reached. All NaN when
    the villages have no residents.
    """
    require_columns(villages, ["population", f"{tier}_time_s"], "villages")
    pop = pd.to_numeric(villages["population"], errors="coerce").fillna(0).to_numpy(dtype=float)
    seconds = villages[f"{tier}_time_s"].to_numpy(dtype=float)
    total = pop.sum()
    if total <= 0:
        return np.full(len(minutes), np.nan)
    reached = np.isfinite(seconds)
    order = np.argsort(seconds[reached])
    cumulative = np.concatenate([[0.0], np.cumsum(pop[reached][order])])
    # 1e-9 s slack: a village exactly on a band limit counts as inside, as in the summary tables.
    index = np.searchsorted(seconds[reached][order], np.asarray(minutes) * 60.0 + 1e-9, side="right")
    return cumulative[index] / total


def curve_tiers(villages: pd.DataFrame) -> list[str]:
    """Analysis tiers with a travel-time column and at least one reachable village."""
    return [t for t in TIERS if f"{t}_time_s" in villages.columns
            and np.isfinite(villages[f"{t}_time_s"].to_numpy(dtype=float)).any()]


def curve_svg(curves: list[tuple[str, np.ndarray, np.ndarray, str, str]], lang: str, *,
              width: int = 400, height: int = 230) -> str:
    """Inline SVG line chart of coverage curves: (label, minutes, shares 0–1, colour, dash) each.

    Labels are escaped here. The x axis runs from 0 to the largest minute, the y axis 0–100 %.
    """
    left, right, top, bottom = 34, 110, 8, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max = max((float(np.max(m)) for _, m, _, _, _ in curves), default=90.0) or 90.0

    def x(v: float) -> float:
        return left + plot_w * v / x_max

    def y(v: float) -> float:
        return top + plot_h * (1.0 - v)

    parts = [f"<svg class='hr-curve' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' font-size='10'>"]
    for tick in range(0, int(x_max) + 1, 15):
        parts.append(f"<line x1='{x(tick):.1f}' y1='{top}' x2='{x(tick):.1f}' y2='{top + plot_h}' stroke='#ddd'/>"
                     f"<text x='{x(tick):.1f}' y='{top + plot_h + 12}' text-anchor='middle'>{tick}</text>")
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f"<line x1='{left}' y1='{y(share):.1f}' x2='{left + plot_w}' y2='{y(share):.1f}' stroke='#ddd'/>"
                     f"<text x='{left - 3}' y='{y(share) + 3:.1f}' text-anchor='end'>{share:.0%}</text>")
    parts.append(f"<text x='{left + plot_w / 2:.1f}' y='{height - 3}' text-anchor='middle'>"
                 f"{text('minutes', lang)}</text>")
    for i, (label, minutes, shares, colour, dash) in enumerate(curves):
        ok = np.isfinite(shares)
        points = " ".join(f"{x(float(m)):.1f},{y(float(v)):.1f}" for m, v in zip(minutes[ok], shares[ok]))
        dash_attr = f" stroke-dasharray='{dash}'" if dash else ""
        parts.append(f"<polyline class='hr-curve-line' fill='none' stroke='{colour}' stroke-width='1.8'"
                     f"{dash_attr} points='{points}'/>")
        ly = top + 10 + 13 * i
        parts.append(f"<line x1='{left + plot_w + 6}' y1='{ly - 3}' x2='{left + plot_w + 20}' y2='{ly - 3}' "
                     f"stroke='{colour}' stroke-width='2'{dash_attr}/>"
                     f"<text x='{left + plot_w + 23}' y='{ly}'>{esc(label)}</text>")
    parts.append("</svg>")
    return "".join(parts)


def golden_hour_minutes(result: AnalysisResult) -> float:
    """The GOLDEN-HOUR rule's minutes the analysis used (its recorded settings), else the default."""
    rules = result.provenance.get("settings", {}).get("rules", {}) if result.provenance else {}
    value = rules.get("GOLDEN-HOUR", {}).get("value") if isinstance(rules, dict) else None
    return float(value if value is not None else RULES["GOLDEN-HOUR"].value)


def golden_hour_html(result: AnalysisResult, lang: str) -> str:
    """Line giving, per emergency centre present, the county share of residents (group 'all') within the
    golden hour by ambulance, from `summary['services']`; '' when the table has none.

    Several county rows are pooled, weighting each share by the county's residents (persons).
    """
    table = result.summary.get("services") if result.summary else None
    if table is None or not len(table) or "golden_hour_share" not in table.columns:
        return ""
    require_columns(table, ["scope", "group", "service", "population", "golden_hour_share"], "services")
    rows = table[(table["scope"] == "county") & (table["group"] == "all")]
    items = []
    for service in EMERGENCY_CENTRES:
        part = rows[rows["service"] == service]
        share = pd.to_numeric(part["golden_hour_share"], errors="coerce").to_numpy(dtype=float)
        pop = pd.to_numeric(part["population"], errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(share) & np.isfinite(pop) & (pop > 0)
        if not ok.any():
            continue
        value = float((share[ok] * pop[ok]).sum() / pop[ok].sum())
        items.append(f"<span class='hr-golden' data-service='{service}' data-share='{value:.4f}'>"
                     f"{esc(labels.tier_name(service, lang))} {value:.1%}</span>")
    if not items:
        return ""
    heading = esc(text("golden_hour", lang).format(minutes=golden_hour_minutes(result)))
    return f"<p class='hr-golden-hour'>{heading}<br>{' · '.join(items)}</p>"


def summary_panel_html(result: AnalysisResult, lang: str) -> str:
    """Collapsible panel: county residents within each band per tier (from `summary['county']`),
    and the coverage curve of each tier. Empty string when there is nothing to show."""
    county = result.summary.get("county") if result.summary else None
    body = ""
    if county is not None and len(county):
        row = county.iloc[0]
        found = [re.fullmatch(r"(.+)_pop_(\d+)min", str(c)) for c in county.columns]
        bands = sorted({int(f.group(2)) for f in found if f})
        tiers = list(dict.fromkeys(f.group(1) for f in found if f))
        unit = text("minutes", lang)
        head = "".join(f"<th>≤ {b} {unit}</th>" for b in bands)
        lines = []
        for tier in tiers:
            cells = []
            for band in bands:
                pop = row.get(f"{tier}_pop_{band}min")
                share = row.get(f"share_{tier}_{band}min")
                share_text = "" if _missing(share) else f"<br><small>{float(share):.1%}</small>"
                cells.append(f"<td>{DASH}</td>" if _missing(pop) else
                             f"<td class='hr-pop' data-tier='{esc(tier)}' data-band='{band}' "
                             f"data-pop='{int(pop)}'>{int(pop):,}{share_text}</td>")
            lines.append(f"<tr><td>{esc(labels.tier_name(tier, lang))}</td>{''.join(cells)}</tr>")
        total = "" if _missing(row.get("population")) else (
            f"<p>{text('population', lang)}: <b class='hr-total'>{int(row['population']):,}</b></p>")
        body = (f"{total}<p>{text('summary_covered', lang)}</p>"
                f"<table><tr><th>{text('tier', lang)}</th>{head}</tr>{''.join(lines)}</table>")
    body += golden_hour_html(result, lang)
    tiers = curve_tiers(result.villages) if len(result.villages) else []
    if tiers:
        curves = [(labels.tier_name(t, lang), CURVE_MINUTES, coverage_curve(result.villages, t),
                   TIER_COLOURS[t], "") for t in tiers]
        body += f"<p>{text('coverage_curve', lang)}</p>{curve_svg(curves, lang)}"
    if not body:
        return ""
    return (f"<details class='hr-box hr-summary' open><summary>{text('summary_panel', lang)}</summary>"
            f"{body}</details>")


def coverage_map_html(result: AnalysisResult, *, lang: str = "zh", title: str | None = None,
                      basemap: str = "none", basemap_key: str | None = None) -> str:
    """Self-contained HTML of the baseline coverage map (works with no network).

    Layers: offline basemap (roads by class, boundaries, village names), facilities per tier,
    catchment bands per tier (emergency radii and 15-minute circles under their own names),
    villages coloured by drive time to the township tier (minutes), unreachable villages and
    villages failing village-scope standards, and one hidden overlay per service offered (the
    facilities offering it; village popups give each service's nearest facility and minutes). A search box finds villages and facilities by name;
    a summary panel gives residents (persons) within each band, the golden-hour share of each
    emergency centre (from `summary['services']`) and the coverage curves.
    `basemap` ('none', 'osm', 'tianditu' with `basemap_key`, 'amap') lists a tile layer that stays
    off until the user turns it on; with 'amap' every layer is drawn in GCJ-02 to match its tiles.
    `result` is not modified.
    """
    labels.check_lang(lang)
    shown = for_display(result, basemap)
    bounds = data_bounds(shown.villages, shown.facilities, shown.boundaries)
    m = new_map(bounds)
    add_tile_layer(m, basemap, lang, key=basemap_key)
    add_basemap(m, shown, lang)
    add_catchments(m, shown.catchments, lang)
    tiers, facility_entries = add_facilities(m, shown.facilities, lang, standards=shown.standards)
    add_service_layers(m, shown.facilities, lang)
    village_entries = add_villages(m, shown, lang)
    add_network_qa(m, result.summary.get("network_qa"), lang, gcj02=basemap == "amap")
    folium.LayerControl(collapsed=True).add_to(m)
    m.add_child(HtmlBox(title_html(title or result.project_name, text("coverage_map", lang))))
    m.add_child(HtmlBox(legend_html(lang, tiers)))
    m.add_child(SearchBox(village_entries + facility_entries, placeholder=text("search", lang)))
    panel = summary_panel_html(result, lang)
    if panel:
        m.add_child(HtmlBox(panel))
    log.info("coverage map: %d villages, %d facilities, %d road lines",
             len(result.villages), len(result.facilities), len(result.roads))
    return render_html(m)
