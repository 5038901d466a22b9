"""Baseline-versus-scenario map: village times before and after, minutes saved, changed facilities."""
from __future__ import annotations

import logging

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach._errors import InputError
from healthreach.coverage.result import AnalysisResult
from healthreach.tiers import TIERS, tier_members
from healthreach.maps import labels
from healthreach.maps.basemaps import add_basemap, add_tile_layer, for_display
from healthreach.maps.coverage_map import (
    facility_marker,
    legend_html,
    require_columns,
    title_html,
    village_marker,
    village_popup,
    village_tiers,
)
from healthreach.maps.style import (
    DASH,
    TIER_COLOURS,
    UNREACHABLE_FILL,
    minutes_text,
    time_class_labels,
    time_colour,
)
from healthreach.maps.labels import esc, text
from healthreach.maps.offline import HtmlBox, data_bounds, display_frame, new_map, render_html

log = logging.getLogger(__name__)

# Minutes-saved classes: (lower bound in minutes, colour), checked from the top.
SAVED_CLASSES: tuple[tuple[float, str], ...] = ((15.0, "#1b7837"), (5.0, "#5aae61"), (0.05, "#a6dba0"))
NO_CHANGE = "#f7f7f7"
WORSE = "#d6604d"
NEWLY_REACHABLE = "#00a6ca"
LOST_ACCESS = "#67001f"
CHANGE_COLOURS = {"added": "#1b9e77", "removed": "#636363", "upgraded": "#7570b3"}


def _unique_ids(frame: pd.DataFrame, column: str, layer: str) -> None:
    dup = frame[column][frame[column].duplicated()]
    if len(dup):
        raise InputError(f"{layer}: {column} {dup.iloc[0]!r} appears more than once; ids must be unique")


def minutes_saved(baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame, tier: str) -> pd.DataFrame:
    """Per village (joined on `vid`): baseline and scenario `tier` times (s) and minutes saved.

    Columns: `vid`, `before_s`, `after_s`, `saved_min` (baseline minus scenario, minutes; NaN
    where either side is unreachable), `status`: 'newly_reachable', 'lost_access', 'saved',
    'worse', 'no_change' or 'unreachable'. Villages missing from the scenario are left out.
    """
    col = f"{tier}_time_s"
    require_columns(baseline, ["vid", col], "baseline villages")
    require_columns(scenario, ["vid", col], "scenario villages")
    _unique_ids(baseline, "vid", "baseline villages")
    _unique_ids(scenario, "vid", "scenario villages")
    joined = pd.DataFrame({"vid": baseline["vid"].to_numpy(), "before_s": baseline[col].to_numpy(dtype=float)})
    after = pd.Series(scenario[col].to_numpy(dtype=float), index=scenario["vid"].to_numpy())
    missing = ~joined["vid"].isin(after.index)
    if missing.any():
        log.warning("scenario lacks %d baseline villages (e.g. %s); they are left off the map",
                    int(missing.sum()), joined["vid"][missing].iloc[0])
    joined = joined[~missing].reset_index(drop=True)
    joined["after_s"] = after.reindex(joined["vid"]).to_numpy()
    joined["saved_min"] = (joined["before_s"] - joined["after_s"]) / 60.0
    before_ok, after_ok = joined["before_s"].notna(), joined["after_s"].notna()
    # Differences under 3 s are rounding noise from the router, not a change.
    status = np.select(
        [~before_ok & after_ok, before_ok & ~after_ok, ~before_ok & ~after_ok,
         joined["saved_min"] >= 0.05, joined["saved_min"] <= -0.05],
        ["newly_reachable", "lost_access", "unreachable", "saved", "worse"],
        default="no_change",
    )
    joined["status"] = status
    return joined


def saved_colour(status: str, saved_min: float) -> str:
    """Fill colour of a village on the minutes-saved layer."""
    if status == "saved":
        return next(colour for lower, colour in SAVED_CLASSES if saved_min >= lower)
    return {"newly_reachable": NEWLY_REACHABLE, "lost_access": LOST_ACCESS, "worse": WORSE,
            "unreachable": UNREACHABLE_FILL}.get(status, NO_CHANGE)


def facility_changes(baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame) -> pd.DataFrame:
    """Facilities that differ, by `fid`: 'added' (scenario only), 'removed' (baseline only) and
    'upgraded' (kind changed). Columns: `fid`, `change`, `kind_before`, `kind_after`, and the
    row (name, counts, geometry) from the scenario, or from the baseline for removed ones."""
    for frame, layer in ((baseline, "baseline facilities"), (scenario, "scenario facilities")):
        require_columns(frame, ["fid", "kind"], layer)
        _unique_ids(frame, "fid", layer)
    before = baseline.set_index("fid", drop=False)
    after = scenario.set_index("fid", drop=False)
    rows = []
    for fid in after.index.difference(before.index, sort=False):
        rows.append({**after.loc[fid].to_dict(), "change": "added", "kind_before": None,
                     "kind_after": after.loc[fid, "kind"]})
    for fid in before.index.difference(after.index, sort=False):
        rows.append({**before.loc[fid].to_dict(), "change": "removed", "kind_before": before.loc[fid, "kind"],
                     "kind_after": None})
    common = after.index.intersection(before.index, sort=False)
    for fid in common[(after.loc[common, "kind"] != before.loc[common, "kind"]).to_numpy()]:
        rows.append({**after.loc[fid].to_dict(), "change": "upgraded", "kind_before": before.loc[fid, "kind"],
                     "kind_after": after.loc[fid, "kind"]})
    if not rows:
        return gpd.GeoDataFrame({"fid": [], "change": [], "kind_before": [], "kind_after": []},
                                geometry=gpd.GeoSeries([], crs=scenario.crs), crs=scenario.crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=scenario.crs)


def _saved_popup(row: pd.Series, change: pd.Series, tiers: list[str], lang: str) -> str:
    unit = text("minutes", lang)
    status = str(change["status"])
    saved = DASH if np.isnan(change["saved_min"]) else f"{change['saved_min']:.1f}"
    flag = "" if status in ("saved", "no_change") else f" <b>({text(status, lang)})</b>"
    summary = (f"<p>{text('before', lang)} {minutes_text(change['before_s'])} {unit} → "
               f"{text('after', lang)} {minutes_text(change['after_s'])} {unit}<br>"
               f"{text('saved', lang)}: <b class='hr-saved'>{saved}</b> {unit}{flag}</p>")
    return village_popup(row, tiers, lang, extra=summary)


def _add_village_layers(m: folium.Map, baseline: AnalysisResult, scenario: AnalysisResult,
                        tier: str, lang: str) -> None:
    col = f"{tier}_time_s"
    changes = minutes_saved(baseline.villages, scenario.villages, tier).set_index("vid")
    unit = text("minutes", lang)
    tier_label = labels.tier_name(tier, lang)
    # Base layers: Leaflet shows exactly one, so the three village views never overlap.
    for result, key in ((baseline, "baseline"), (scenario, "scenario")):
        frame = display_frame(result.villages, f"{key} villages")
        tiers = village_tiers(frame)
        group = folium.FeatureGroup(name=esc(f"{text(key, lang)}: {tier_label}"), overlay=False, show=False)
        for _, row in frame.iterrows():
            tooltip = f"{esc(row['name'])} · {minutes_text(row[col])} {unit}"
            village_marker(row, time_colour(row[col]), village_popup(row, tiers, lang), tooltip,
                           dashed=pd.isna(row[col])).add_to(group)
        group.add_to(m)

    frame = display_frame(scenario.villages, "scenario villages")
    tiers = village_tiers(frame)
    group = folium.FeatureGroup(name=esc(f"{text('minutes_saved', lang)}: {tier_label}"), overlay=False, show=True)
    for _, row in frame[frame["vid"].isin(changes.index)].iterrows():
        change = changes.loc[row["vid"]]
        saved = DASH if np.isnan(change["saved_min"]) else f"{change['saved_min']:.1f}"
        tooltip = f"{esc(row['name'])} · {text('saved', lang)} {saved} {unit}"
        marker = village_marker(row, saved_colour(str(change["status"]), float(change["saved_min"])),
                                _saved_popup(row, change, tiers, lang), tooltip,
                                dashed=change["status"] in ("lost_access", "unreachable"))
        marker.add_to(group)
    group.add_to(m)


def _in_tier(facilities: pd.DataFrame, tier: str) -> np.ndarray:
    """Whether each facility belongs to an analysis tier, or offers the service `tier`."""
    if tier in TIERS:
        ambulances = facilities["ambulances"].tolist() if "ambulances" in facilities.columns else [None] * len(facilities)
        return np.array(tier_members(facilities["kind"].tolist(), ambulances, tier), dtype=bool)
    if "services" not in facilities.columns:
        return np.zeros(len(facilities), dtype=bool)
    offered = facilities["services"].fillna("").astype(str).str.replace("、", ";").str.split(";")
    return np.array([tier in {s.strip() for s in items} for items in offered], dtype=bool)


def _add_facility_layers(m: folium.Map, baseline: AnalysisResult, scenario: AnalysisResult,
                         tier: str, lang: str) -> None:
    facilities = display_frame(scenario.facilities, "scenario facilities")
    if len(facilities):
        inside = _in_tier(facilities, tier)
        group = folium.FeatureGroup(name=esc(f"{text('scenario', lang)}: {text('facilities', lang)}"
                                             f" ({labels.tier_name(tier, lang)})"), show=True)
        for _, row in facilities[inside].iterrows():
            facility_marker(row, TIER_COLOURS.get(tier, "#2166ac"), lang, radius=6.0).add_to(group)
        group.add_to(m)

    changes = facility_changes(baseline.facilities, scenario.facilities)
    if not len(changes):
        return
    changes = display_frame(changes, "changed facilities")
    group = folium.FeatureGroup(name=text("changed_facilities", lang), show=True)
    for _, row in changes.iterrows():
        kind = str(row["change"])
        before = labels.kind_name(row["kind_before"], lang) if row["kind_before"] is not None else DASH
        after = labels.kind_name(row["kind_after"], lang) if row["kind_after"] is not None else DASH
        style = {"color": CHANGE_COLOURS[kind], "weight": 3.5, "fill": False, "fill_color": None,
                 "dash_array": "4 3" if kind == "removed" else None}
        tag = f"<p><b>{text(kind, lang)}: {esc(before)} → {esc(after)}</b></p>"
        facility_marker(row, CHANGE_COLOURS[kind], lang, radius=13.0, popup_prefix=tag,
                        extra_class=f"hr-change-{kind}", **style).add_to(group)
    group.add_to(m)


def _scenario_legend(lang: str) -> str:
    unit = text("minutes", lang)
    rows = [(SAVED_CLASSES[0][1], f"≥ 15 {unit}"), (SAVED_CLASSES[1][1], f"5–15 {unit}"),
            (SAVED_CLASSES[2][1], f"< 5 {unit}"), (NO_CHANGE, text("no_change", lang)),
            (WORSE, text("worse", lang)), (NEWLY_REACHABLE, text("newly_reachable", lang)),
            (LOST_ACCESS, text("lost_access", lang)), (UNREACHABLE_FILL, text("unreachable", lang))]
    changes = "".join(
        f"<div><i style='background:transparent;border:3px solid {colour}'></i>{text(kind, lang)}</div>"
        for kind, colour in CHANGE_COLOURS.items()
    )
    times = "".join(f"<div><i style='background:{c}'></i>{label}</div>" for c, label in time_class_labels(lang))
    extra = (f"<h4>{text('changed_facilities', lang)}</h4>{changes}"
             f"<h4>{text('baseline', lang)} / {text('scenario', lang)}</h4>{times}")
    return legend_html(lang, [], heading=text("minutes_saved", lang), classes=rows, extra=extra)


def scenario_map_html(baseline: AnalysisResult, scenario: AnalysisResult, *, name: str, title: str,
                      tier: str = "township", lang: str = "zh", basemap: str = "none",
                      basemap_key: str | None = None) -> str:
    """Self-contained HTML comparing a scenario with the baseline for one tier (works offline).

    Village layers (one shown at a time): baseline times, scenario times and minutes saved
    (baseline `tier` time minus scenario time, minutes; newly reachable villages flagged).
    Overlays: offline basemap, the scenario's facilities of `tier`, and facilities added,
    removed or whose kind changed (upgraded), matched by `fid`. `basemap` and `basemap_key` as for
    the coverage map (tiles off until turned on; GCJ-02 display with 'amap'). Inputs are not modified.
    """
    labels.check_lang(lang)
    baseline, scenario = for_display(baseline, basemap), for_display(scenario, basemap)
    bounds = data_bounds(baseline.villages, baseline.facilities, scenario.facilities, baseline.boundaries)
    m = new_map(bounds)
    add_tile_layer(m, basemap, lang, key=basemap_key)
    add_basemap(m, baseline, lang)
    _add_village_layers(m, baseline, scenario, tier, lang)
    _add_facility_layers(m, baseline, scenario, tier, lang)
    folium.LayerControl(collapsed=True).add_to(m)
    subtitle = f"{baseline.project_name} · {text('scenario_map', lang)} · {name}"
    m.add_child(HtmlBox(title_html(title, subtitle)))
    m.add_child(HtmlBox(_scenario_legend(lang)))
    return render_html(m)
