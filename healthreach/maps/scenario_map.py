"""Baseline-versus-scenario map: village times before and after, minutes saved, changed facilities,
one tier at a time (opening on the tier the scenario changes most), with the comparison's figures."""
from __future__ import annotations

import logging
from collections.abc import Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach._errors import InputError
from healthreach.coverage.result import AnalysisResult
from healthreach.scenarios.compare import compare_tables
from healthreach.tiers import SERVICES, SUMMARY_TIERS, TIERS, tier_members
from healthreach.maps import labels
from healthreach.maps.basemaps import add_basemap, add_tile_layer, for_display
from healthreach.maps.coverage_map import (
    facility_marker,
    legend_html,
    tier_marker_style,
    tier_swatch,
    require_columns,
    time_legend_classes,
    title_html,
    village_marker,
    village_tiers,
)
from healthreach.maps.curves import shown_tier, summary_tiers
from healthreach.maps.popups import facility_names, village_popup
from healthreach.maps.scenario_panel import (
    TierSwitch,
    compare_panel_html,
    highlight_css,
    switch_html,
)
from healthreach.maps.style import (
    DASH,
    SERVICE_COLOURS,
    TIER_COLOURS,
    UNREACHABLE_FILL,
    check_bands,
    count_text,
    is_missing,
    minutes_text,
    time_class_labels,
    time_colour,
)
from healthreach.maps.labels import esc, text
from healthreach.maps.offline import HtmlBox, data_bounds, display_frame, new_map, render_html

log = logging.getLogger(__name__)

# Minutes-saved classes: (lower bound in minutes, colour), checked from the top. No colour of this
# legend is reused by the travel-time classes' legend (red there means the farthest class only).
SAVED_CLASSES: tuple[tuple[float, str], ...] = ((15.0, "#1b7837"), (5.0, "#5aae61"), (0.05, "#a6dba0"))
NO_CHANGE = "#f7f7f7"
WORSE = "#f1a340"
NEWLY_REACHABLE = "#00a6ca"
LOST_ACCESS = "#40004b"
# Rings around changed facilities: (colour, dash pattern).
CHANGE_STYLES: dict[str, tuple[str, str | None]] = {
    "added": ("#000000", None), "removed": ("#636363", "4 3"), "upgraded": ("#7570b3", None),
    "changed": ("#000000", "1 4"),
}
RESOURCE_COLUMNS = ("ambulances", "beds", "doctors", "nurses", "services")
# Time differences under 3 s are rounding noise from the router, not a change.
NOISE_MIN = 0.05
VIEWS = ("baseline", "scenario", "saved")


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
    status = np.select(
        [~before_ok & after_ok, before_ok & ~after_ok, ~before_ok & ~after_ok,
         joined["saved_min"] >= NOISE_MIN, joined["saved_min"] <= -NOISE_MIN],
        ["newly_reachable", "lost_access", "unreachable", "saved", "worse"],
        default="no_change",
    )
    joined["status"] = status
    return joined


def changed_person_minutes(baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame, tier: str,
                           bands_min: Sequence[float]) -> float:
    """How much the scenario changes `tier`: residents × minutes gained or lost (persons × minutes),
    both directions counted. A village that becomes reachable (or unreachable) counts as if the
    unreachable side took the largest of the bands and of all the tier's times, so gaining access
    weighs at least as much as any saving; differences under 3 s count as none."""
    table = minutes_saved(baseline, scenario, tier)
    pop = pd.Series(pd.to_numeric(baseline["population"], errors="coerce").fillna(0.0).to_numpy(dtype=float),
                    index=baseline["vid"].to_numpy())
    weights = pop.reindex(table["vid"]).fillna(0.0).to_numpy()
    before, after = table["before_s"].to_numpy() / 60.0, table["after_s"].to_numpy() / 60.0
    finite = np.concatenate([before[np.isfinite(before)], after[np.isfinite(after)]])
    cap = max(max(check_bands(bands_min)), float(finite.max()) if finite.size else 0.0)
    delta = np.abs(np.where(np.isfinite(before), before, cap) - np.where(np.isfinite(after), after, cap))
    delta[delta < NOISE_MIN] = 0.0
    return float((weights * delta).sum())


def scenario_tiers(baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame, bands_min: Sequence[float]
                   ) -> tuple[list[str], dict[str, float]]:
    """Tiers the scenario map can show (summary tiers with times in both runs that some village reaches
    in either, then the services whose times change) and how much the scenario changes each
    (`changed_person_minutes`)."""
    reached = set(summary_tiers(baseline)) | set(summary_tiers(scenario))
    both = [t for t in SUMMARY_TIERS if t in reached and f"{t}_time_s" in baseline.columns
            and f"{t}_time_s" in scenario.columns]
    services = [s for s in SERVICES if f"{s}_time_s" in baseline.columns and f"{s}_time_s" in scenario.columns]
    changes = {t: changed_person_minutes(baseline, scenario, t, bands_min) for t in both + services}
    return both + [s for s in services if changes[s] > 0], changes


def default_tier(tiers: Sequence[str], changes: dict[str, float], villages: pd.DataFrame) -> str:
    """The tier the map opens on: the one changed most (first in order on a tie); where nothing
    changes, the tier the coverage map colours villages by."""
    best = max(tiers, key=lambda t: changes.get(t, 0.0), default=None)
    if best is not None and changes.get(best, 0.0) > 0:
        return best
    fallback = shown_tier(villages)
    return fallback if fallback in tiers or not tiers else tiers[0]


def saved_colour(status: str, saved_min: float) -> str:
    """Fill colour of a village on the minutes-saved layer."""
    if status == "saved":
        return next(colour for lower, colour in SAVED_CLASSES if saved_min >= lower)
    return {"newly_reachable": NEWLY_REACHABLE, "lost_access": LOST_ACCESS, "worse": WORSE,
            "unreachable": UNREACHABLE_FILL}.get(status, NO_CHANGE)


def _resources(row: pd.Series) -> dict[str, str]:
    out = {}
    for column in RESOURCE_COLUMNS:
        value = row.get(column)
        if column == "services":
            out[column] = "" if is_missing(value) else ";".join(sorted(s for s in str(value).split(";") if s))
        else:
            out[column] = "0" if is_missing(value) else count_text(value)
    return out


def facility_changes(baseline: gpd.GeoDataFrame, scenario: gpd.GeoDataFrame) -> pd.DataFrame:
    """Facilities that differ, by `fid`: 'added' (scenario only), 'removed' (baseline only),
    'upgraded' (kind changed) and 'changed' (same kind, other ambulances, beds, staff or services).
    Columns: `fid`, `change`, `kind_before`, `kind_after`, `detail` ({column: (before, after)} of the
    changed resources), and the row (name, counts, geometry) from the scenario, or from the baseline
    for removed ones."""
    for frame, layer in ((baseline, "baseline facilities"), (scenario, "scenario facilities")):
        require_columns(frame, ["fid", "kind"], layer)
        _unique_ids(frame, "fid", layer)
    before = baseline.set_index("fid", drop=False)
    after = scenario.set_index("fid", drop=False)
    rows = []
    for fid in after.index.difference(before.index, sort=False):
        rows.append({**after.loc[fid].to_dict(), "change": "added", "kind_before": None,
                     "kind_after": after.loc[fid, "kind"], "detail": {}})
    for fid in before.index.difference(after.index, sort=False):
        rows.append({**before.loc[fid].to_dict(), "change": "removed", "kind_before": before.loc[fid, "kind"],
                     "kind_after": None, "detail": {}})
    for fid in after.index.intersection(before.index, sort=False):
        old, new = _resources(before.loc[fid]), _resources(after.loc[fid])
        detail = {c: (old[c], new[c]) for c in RESOURCE_COLUMNS if old[c] != new[c]}
        kind_changed = after.loc[fid, "kind"] != before.loc[fid, "kind"]
        if kind_changed or detail:
            rows.append({**after.loc[fid].to_dict(), "change": "upgraded" if kind_changed else "changed",
                         "kind_before": before.loc[fid, "kind"], "kind_after": after.loc[fid, "kind"],
                         "detail": detail})
    if not rows:
        return gpd.GeoDataFrame({"fid": [], "change": [], "kind_before": [], "kind_after": [], "detail": []},
                                geometry=gpd.GeoSeries([], crs=scenario.crs), crs=scenario.crs)
    return gpd.GeoDataFrame(rows, geometry="geometry", crs=scenario.crs)


def _comparison_popup(row: pd.Series, changes: dict[str, pd.DataFrame], tiers: list[str], lang: str) -> str:
    """A village's popup on the minutes-saved view: every tier before, after and saved (the shown
    tier's row marked by the page's style)."""
    unit = text("minutes", lang)
    lines = []
    for tier in tiers:
        change = changes[tier].loc[row["vid"]]
        status = str(change["status"])
        saved = DASH if np.isnan(change["saved_min"]) else f"{change['saved_min']:.1f}"
        flag = "" if status in ("saved", "no_change", "worse") else f" <b>({text(status, lang)})</b>"
        lines.append(f"<tr class='hr-cmp-row' data-tier='{esc(tier)}'><td>{esc(labels.tier_name(tier, lang))}</td>"
                     f"<td>{minutes_text(change['before_s'])}</td><td>{minutes_text(change['after_s'])}</td>"
                     f"<td class='hr-saved' data-tier='{esc(tier)}'>{saved}</td><td>{flag}</td></tr>")
    head = (f"<tr><th>{text('tier', lang)}</th><th>{text('before', lang)} ({unit})</th>"
            f"<th>{text('after', lang)} ({unit})</th><th>{text('saved', lang)} ({unit})</th><th></th></tr>")
    return (f"<b>{esc(row.get('name', ''))}</b> <small>{esc(row.get('vid', ''))}</small>"
            f"<p>{text('population', lang)}: {esc(count_text(row.get('population')))}</p>"
            f"<table>{head}{''.join(lines)}</table>")


def _village_layers(m: folium.Map, baseline: AnalysisResult, scenario: AnalysisResult, tiers: list[str],
                    shown: str, bands_min: Sequence[float], lang: str) -> tuple[list, list[str], dict, dict]:
    """The three village views (base layers: one shown at a time) styled for the `shown` tier, and
    per tier and view the styles and tooltips the tier switch applies. Villages are those of the
    comparison, in baseline order."""
    changes = {t: minutes_saved(baseline.villages, scenario.villages, t).set_index("vid") for t in tiers}
    frames = {"baseline": display_frame(baseline.villages, "baseline villages"),
              "scenario": display_frame(scenario.villages, "scenario villages")}
    common = set(changes[tiers[0]].index) & set(frames["scenario"]["vid"])
    vids = [v for v in frames["baseline"]["vid"] if v in common]
    frames = {k: f.set_index("vid", drop=False).loc[vids] for k, f in frames.items()}
    frames["saved"] = frames["scenario"]
    palette = [UNREACHABLE_FILL, NO_CHANGE, WORSE, NEWLY_REACHABLE, LOST_ACCESS, *(c for _, c in SAVED_CLASSES)]
    palette += [c for c, _ in time_class_labels(lang, bands_min) if c not in palette]
    index = {c: i for i, c in enumerate(palette)}
    unit, saved_word = text("minutes", lang), text("saved", lang)
    names = [esc(n) for n in frames["baseline"]["name"]]
    styles: dict[str, dict[str, list[list[int]]]] = {}
    tips: dict[str, dict[str, list[str]]] = {}
    for tier in tiers:
        table = changes[tier].loc[vids]
        before, after = table["before_s"].to_numpy(), table["after_s"].to_numpy()
        saved = ["—" if np.isnan(s) else f"{s:.1f}" for s in table["saved_min"]]
        status = table["status"].astype(str).tolist()
        styles[tier] = {
            "baseline": [[index[time_colour(b, bands_min)], int(np.isnan(b))] for b in before],
            "scenario": [[index[time_colour(a, bands_min)], int(np.isnan(a))] for a in after],
            "saved": [[index[saved_colour(st, sv)], int(st in ("lost_access", "unreachable"))]
                      for st, sv in zip(status, table["saved_min"])],
        }
        tips[tier] = {
            "baseline": [f"{n} · {minutes_text(b)} {unit}" for n, b in zip(names, before)],
            "scenario": [f"{n} · {minutes_text(a)} {unit}" for n, a in zip(names, after)],
            "saved": [f"{n} · {saved_word} {s} {unit}" + ("" if st in ("saved", "no_change", "worse")
                                                          else f" ({text(st, lang)})")
                      for n, s, st in zip(names, saved, status)],
        }
    views = []
    facility_frames = {"baseline": baseline.facilities, "scenario": scenario.facilities}
    for view in VIEWS:
        frame = frames[view]
        key = "scenario" if view == "saved" else view
        name = text("minutes_saved", lang) if view == "saved" else text(view, lang)
        group = folium.FeatureGroup(name=esc(name), overlay=False, show=view == "saved")
        own_tiers = village_tiers(frame)
        fac_names = facility_names(facility_frames[key])
        markers = []
        for i, (_, row) in enumerate(frame.iterrows()):
            fill, dashed = styles[shown][view][i]
            popup = (_comparison_popup(row, changes, tiers, lang) if view == "saved"
                     else village_popup(row, own_tiers, lang, fac_names))
            marker = village_marker(row, palette[fill], popup, tips[shown][view][i], dashed=bool(dashed))
            marker.options["className"] += f" hr-view-{view}"
            marker.add_to(group)
            markers.append(marker)
        group.add_to(m)
        views.append((view, group, markers))
    return views, palette, styles, tips


def _in_tier(facilities: pd.DataFrame, tier: str) -> np.ndarray:
    """Whether each facility belongs to an analysis tier, or offers the service `tier`."""
    if tier in TIERS:
        ambulances = facilities["ambulances"].tolist() if "ambulances" in facilities.columns else [None] * len(facilities)
        return np.array(tier_members(facilities["kind"].tolist(), ambulances, tier), dtype=bool)
    if "services" not in facilities.columns:
        return np.zeros(len(facilities), dtype=bool)
    offered = facilities["services"].fillna("").astype(str).str.replace("、", ";").str.split(";")
    return np.array([tier in {s.strip() for s in items} for items in offered], dtype=bool)


def _facility_layers(m: folium.Map, baseline: AnalysisResult, scenario: AnalysisResult, tiers: list[str],
                     shown: str, lang: str) -> dict[str, folium.FeatureGroup]:
    """Per tier the scenario's facilities of that tier (only the shown tier's on the map; the switch
    swaps them), and the changed facilities as rings (always shown). Returns the per-tier groups."""
    facilities = display_frame(scenario.facilities, "scenario facilities")
    groups = {}
    for tier in tiers:
        group = folium.FeatureGroup(name=esc(f"{text('facilities', lang)}: {labels.tier_name(tier, lang)}"),
                                    control=False, show=tier == shown)
        if len(facilities):
            style = tier_marker_style(tier) if tier in TIERS else {"radius": 6.0}
            for _, row in facilities[_in_tier(facilities, tier)].iterrows():
                facility_marker(row, _colour(tier), lang, **style).add_to(group)
        group.add_to(m)
        groups[tier] = group

    changes = facility_changes(baseline.facilities, scenario.facilities)
    if not len(changes):
        return groups
    changes = display_frame(changes, "changed facilities")
    group = folium.FeatureGroup(name=text("changed_facilities", lang), show=True)
    for _, row in changes.iterrows():
        kind = str(row["change"])
        before = labels.kind_name(row["kind_before"], lang) if row["kind_before"] is not None else DASH
        after = labels.kind_name(row["kind_after"], lang) if row["kind_after"] is not None else DASH
        colour, dash = CHANGE_STYLES[kind]
        style = {"color": colour, "weight": 3.5, "fill": False, "fill_color": None, "dash_array": dash}
        details = "".join(f"<br>{text(c, lang)}: {esc(_resource_text(old, lang))} → {esc(_resource_text(new, lang))}"
                          for c, (old, new) in (row.get("detail") or {}).items())
        tag = f"<p><b>{text(kind, lang)}: {esc(before)} → {esc(after)}</b>{details}</p>"
        facility_marker(row, colour, lang, radius=13.0, popup_prefix=tag,
                        extra_class=f"hr-change-{kind}", **style).add_to(group)
    group.add_to(m)
    return groups


def _colour(tier: str) -> str:
    """Map colour of an analysis tier or a service."""
    return {**SERVICE_COLOURS, **TIER_COLOURS}.get(tier, "#666666")


def _resource_text(value: str, lang: str) -> str:
    """A resource cell for a popup: services by name, counts as they are."""
    if value and not value.isdigit():
        return "、".join(labels.tier_name(s, lang) for s in value.split(";"))
    return value or DASH


def _legend(lang: str, tiers: list[str], shown: str, bands_min: Sequence[float], changed: set[str]) -> str:
    """Legend: the minutes-saved classes (minutes-saved view) or the time classes (before / after
    views), never both at once; the facilities of the tier shown; the rings of the kinds of change
    in `changed`."""
    unit = text("minutes", lang)
    saved_rows = [(SAVED_CLASSES[0][1], f"≥ 15 {unit}"), (SAVED_CLASSES[1][1], f"5–15 {unit}"),
                  (SAVED_CLASSES[2][1], f"< 5 {unit}"), (NO_CHANGE, text("no_change", lang)),
                  (WORSE, text("worse", lang)), (NEWLY_REACHABLE, text("newly_reachable", lang)),
                  (LOST_ACCESS, text("lost_access", lang)), (UNREACHABLE_FILL, text("unreachable", lang))]

    def rows(items: list[tuple[str, str]]) -> str:
        return "".join(f"<div><i style='background:{c}'></i>{esc(label)}</div>" for c, label in items)

    views = (f"<div class='hr-legend-view' data-view='saved'><h4>{text('minutes_saved', lang)}</h4>"
             f"{rows(saved_rows)}</div>"
             f"<div class='hr-legend-view' data-view='times' hidden><h4>{text('baseline', lang)} / "
             f"{text('scenario', lang)}: {unit}</h4>{rows(time_legend_classes(lang, bands_min))}</div>")
    facility_rows = "".join(
        f"<div class='hr-legend-tier' data-tier='{esc(t)}'{'' if t == shown else ' hidden'}>"
        f"<i style='{tier_swatch(t, _colour(t))}'></i>"
        f"{esc(labels.tier_name(t, lang))}</div>" for t in tiers)
    changes = "".join(
        f"<div><i style='background:transparent;border:3px {'dashed' if dash and dash.startswith('4') else 'dotted' if dash else 'solid'} "
        f"{colour}'></i>{text(kind, lang)}</div>"
        for kind, (colour, dash) in CHANGE_STYLES.items() if kind in changed
    )
    extra = (f"<h4>{text('facilities', lang)}</h4>{facility_rows}"
             + (f"<h4>{text('changed_facilities', lang)}</h4>{changes}" if changes else ""))
    return legend_html(lang, [], heading=text("legend", lang), classes=[], extra=views + extra)


def scenario_map_html(baseline: AnalysisResult, scenario: AnalysisResult, *, name: str, title: str,
                      bands_min: Sequence[float], lang: str = "zh", basemap: str = "none",
                      basemap_key: str | None = None) -> str:
    """Self-contained HTML comparing a scenario with the baseline (works offline), one tier at a time.

    The map opens on the tier the scenario changes most (`changed_person_minutes`); a switch shows
    any other, and `window.healthreach.tier` names the tier shown. Village views (one shown at a
    time): baseline times, scenario times (classes of `bands_min`, the run's bands) and minutes saved
    (newly reachable villages flagged). A panel gives the comparison of the tier shown as compare.csv
    does (county residents within each band before and after, newly within, mean and p95 minutes).
    Overlays: offline basemap, the scenario's facilities of the tier shown, and facilities added,
    removed, upgraded or changed in resources (matched by `fid`). `basemap`, `basemap_key` as for the
    coverage map. Inputs are not modified.
    """
    labels.check_lang(lang)
    baseline, scenario = for_display(baseline, basemap), for_display(scenario, basemap)
    tiers, changes = scenario_tiers(baseline.villages, scenario.villages, bands_min)
    if not tiers:
        raise InputError("scenario map: the village tables have no travel-time column in common")
    shown = default_tier(tiers, changes, baseline.villages)
    bounds = data_bounds(baseline.villages, baseline.facilities, scenario.facilities, baseline.boundaries)
    m = new_map(bounds)
    add_tile_layer(m, basemap, lang, key=basemap_key)
    add_basemap(m, baseline, lang)
    views, palette, styles, tips = _village_layers(m, baseline, scenario, tiers, shown, bands_min, lang)
    groups = _facility_layers(m, baseline, scenario, tiers, shown, lang)
    folium.LayerControl(collapsed=True).add_to(m)
    subtitle = f"{baseline.project_name} · {text('scenario_map', lang)} · {name}"
    m.add_child(HtmlBox(title_html(title, subtitle)))
    changed = set(facility_changes(baseline.facilities, scenario.facilities)["change"])
    m.add_child(HtmlBox(_legend(lang, tiers, shown, bands_min, changed)))
    table = compare_tables(baseline.villages, scenario.villages, scenario_name=name, bands_min=tuple(bands_min),
                           tiers=tiers, county_name=baseline.project_name)
    markup = (switch_html(tiers, shown, changes, lang) + compare_panel_html(table, tiers, shown, lang, project_name=baseline.project_name)
              + highlight_css(tiers))
    m.add_child(TierSwitch(markup=markup, tiers=tiers, shown=shown, palette=palette, styles=styles, tips=tips,
                           views=views, groups=groups))
    log.info("scenario map %s: tiers %s, opens on %s", name, ", ".join(tiers), shown)
    return render_html(m)
