"""The scenario map's panels and its tier switch: the comparison summary per tier (the county rows of
compare.csv), the switch itself, and the script that shows one tier at a time (and the legend block
of the village view shown).

Every text is built and escaped in Python; the script only swaps styles, ready-made tooltips and
the visibility of blocks, so no user text ever passes through JavaScript unescaped.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from healthreach.maps import labels
from healthreach.maps.labels import esc, text, whole_area
from healthreach.maps.style import DASH, is_missing, minutes_label


def js_json(value: object) -> str:
    """JSON for a <script>: '<', '>' and '&' written as escapes so no text can close the script."""
    out = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("\u2028", "\\u2028"),
                       ("\u2029", "\\u2029")):
        out = out.replace(char, code)
    return out


def _number(value: object, pattern: str = "{:,.0f}") -> str:
    return DASH if is_missing(value) else pattern.format(float(value))  # type: ignore[arg-type]


def comparison_html(table: pd.DataFrame, tier: str, lang: str) -> str:
    """The county rows of one tier of `table` (compare_tables columns) as a table: per band the
    residents within it before and after and those newly within; then mean and p95 minutes."""
    rows = table[(table["scope"] == "county") & (table["tier"] == tier)].sort_values("band_min", kind="stable")
    if not len(rows):
        return f"<p>{DASH}</p>"
    unit = text("minutes", lang)
    head = (f"<tr><th>{text('within_band', lang)}</th><th>{text('baseline', lang)}</th>"
            f"<th>{text('scenario', lang)}</th><th>{text('newly_within', lang)}</th></tr>")
    lines = "".join(
        f"<tr class='hr-cmp-band' data-band='{minutes_label(float(r['band_min']))}'>"
        f"<td>≤ {minutes_label(float(r['band_min']))} {unit}</td><td>{_number(r['pop_before'])}</td>"
        f"<td>{_number(r['pop_after'])}</td><td class='hr-gain' data-gain='{_number(r['pop_gain'], '{:.0f}')}'>"
        f"{_number(r['pop_gain'], '{:+,.0f}')}</td></tr>"
        for _, r in rows.iterrows()
    )
    first = rows.iloc[0]
    stats = "".join(
        f"<tr class='hr-cmp-stat' data-stat='{key}'><td>{text(label, lang)}</td>"
        f"<td>{_number(first[f'{key}_before'], '{:.1f}')}</td><td>{_number(first[f'{key}_after'], '{:.1f}')}</td>"
        f"<td></td></tr>"
        for key, label in (("mean_min", "mean_minutes"), ("p95_min", "p95_minutes"))
    )
    return f"<table class='hr-cmp'>{head}{lines}{stats}</table>"


def compare_panel_html(table: pd.DataFrame, tiers: Sequence[str], shown: str, lang: str, *, project_name: str = ""
                       ) -> str:
    """Collapsible panel with one comparison block per tier; only the `shown` tier's is visible."""
    blocks = "".join(
        f"<div class='hr-cmp-tier' data-tier='{esc(t)}'{'' if t == shown else ' hidden'}>"
        f"<p><b>{esc(labels.tier_name(t, lang))}</b></p>{comparison_html(table, t, lang)}</div>"
        for t in tiers
    )
    heading = esc(text("compare_panel", lang).format(area=whole_area(project_name, lang)))
    return f"<details class='hr-box hr-summary hr-compare' open><summary>{heading}</summary>{blocks}</details>"


def switch_html(tiers: Sequence[str], shown: str, changes: dict[str, float], lang: str) -> str:
    """Radio buttons choosing the tier shown; tiers the scenario leaves unchanged say so."""
    def note(tier: str) -> str:
        if changes.get(tier, 0.0) > 0:
            return ""
        word = text("unchanged", lang)
        return f" <small>（{word}）</small>" if lang == "zh" else f" <small>({word})</small>"

    items = "".join(
        f"<label><input type='radio' name='hr-tier' value='{esc(t)}'{' checked' if t == shown else ''}> "
        f"{esc(labels.tier_name(t, lang))}{note(t)}</label>"
        for t in tiers
    )
    return f"<div class='hr-box hr-switch'><b>{text('show_tier', lang)}</b>{items}</div>"


def highlight_css(tiers: Sequence[str]) -> str:
    """Rules that mark the shown tier's row in every comparison popup (body class `hr-show-<tier>`)."""
    rules = "".join(f".hr-show-{t} tr.hr-cmp-row[data-tier='{t}']{{background:#fff3b0;font-weight:bold}}"
                    for t in tiers)
    return f"<style>{rules}</style>"


class TierSwitch(MacroElement):
    """The script showing one tier at a time on the scenario map.

    `views` maps each village view ('baseline', 'scenario', 'saved') to its FeatureGroup and its
    markers (in village order); `styles[tier][view]` gives per village (fill colour index into
    `palette`, dashed 0/1) and `tips[tier][view]` the ready-made tooltip HTML; `groups[tier]` is the
    FeatureGroup of that tier's facilities. Sets `window.healthreach.tier` and offers
    `window.healthreach.showTier(tier)`.
    """

    _template = Template(
        "{% macro html(this, kwargs) %}{{ this.markup }}{% endmacro %}"
        "{% macro script(this, kwargs) %}"
        "(function(){var map={{ this._parent.get_name() }};var data={{ this.data }};"
        "var views={ {% for view, group, markers in this.views %}"
        "{{ view|tojson }}:{group:{{ group }},markers:[{{ markers|join(',') }}]},{% endfor %} };"
        "var groups={ {% for tier, group in this.groups %}{{ tier|tojson }}:{{ group }},{% endfor %} };"
        "var api=window.healthreach=window.healthreach||{};api.tiers=data.tiers.slice();"
        "function viewOf(layer){for(var v in views){if(views[v].group===layer){return v;}}return null;}"
        "var current='saved';for(var v in views){if(map.hasLayer(views[v].group)){current=v;}}"
        "function legend(){document.querySelectorAll('.hr-legend-view').forEach(function(el){"
        "el.hidden=el.getAttribute('data-view')!==(current==='saved'?'saved':'times');});}"
        "function show(tier){if(data.tiers.indexOf(tier)<0){throw new Error('unknown tier '+tier);}"
        "for(var v in views){var st=data.styles[tier][v],tips=data.tips[tier][v];"
        "views[v].markers.forEach(function(m,i){m.setStyle({fillColor:data.palette[st[i][0]],"
        "dashArray:st[i][1]?'2 2':null,color:st[i][1]?'#000000':'#333333',weight:st[i][1]?1.6:0.8});"
        "m.setTooltipContent(tips[i]);});}"
        "for(var t in groups){if(t===tier){map.addLayer(groups[t]);}else if(map.hasLayer(groups[t])){"
        "map.removeLayer(groups[t]);}}"
        "document.querySelectorAll('[data-tier].hr-cmp-tier,[data-tier].hr-legend-tier').forEach(function(el){"
        "el.hidden=el.getAttribute('data-tier')!==tier;});"
        "document.querySelectorAll('.hr-switch input').forEach(function(i){i.checked=i.value===tier;});"
        "data.tiers.forEach(function(t){document.body.classList.remove('hr-show-'+t);});"
        "document.body.classList.add('hr-show-'+tier);api.tier=tier;}"
        "api.showTier=show;"
        "document.querySelectorAll('.hr-switch input').forEach(function(i){"
        "i.addEventListener('change',function(){if(i.checked){show(i.value);}});});"
        "document.querySelectorAll('.hr-switch').forEach(function(box){"
        "L.DomEvent.disableClickPropagation(box);L.DomEvent.disableScrollPropagation(box);});"
        "map.on('baselayerchange',function(e){var v=viewOf(e.layer);if(v){current=v;legend();}});"
        "legend();show(data.shown);})();\n"
        "{% endmacro %}"
    )

    def __init__(self, *, markup: str, tiers: Sequence[str], shown: str, palette: Sequence[str],
                 styles: dict[str, dict[str, list[list[int]]]], tips: dict[str, dict[str, list[str]]],
                 views: list[tuple[str, Any, list[Any]]], groups: dict[str, Any]) -> None:
        super().__init__()
        self._name = "TierSwitch"
        self.markup = markup
        self.data = js_json({"tiers": list(tiers), "shown": shown, "palette": list(palette),
                             "styles": styles, "tips": tips})
        self.views = [(view, group.get_name(), [m.get_name() for m in markers]) for view, group, markers in views]
        self.groups = [(tier, group.get_name()) for tier, group in groups.items()]
