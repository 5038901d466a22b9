"""The map's summary panel: residents covered per tier and band, the golden hour, the coverage curve.

Bands, table rows and curves all come from the run's bands and one list of tiers (`curves.summary_tiers`).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from healthreach.coverage.result import AnalysisResult
from healthreach.rules import RULES
from healthreach.coverage.services import EMERGENCY_CENTRES
from healthreach.maps import labels
from healthreach.maps.curves import band_marks, coverage_curve, curve_minutes, summary_tiers
from healthreach.maps.labels import esc, text, whole_area
from healthreach.maps.offline import require_columns
from healthreach.maps.style import DASH, TIER_COLOURS, check_bands, is_missing, minutes_label

Curve = tuple[str, np.ndarray, np.ndarray, str, str]


def curve_svg(curves: list[Curve], lang: str, *, marks: Sequence[float] = (), width: int = 400,
              height: int = 210) -> str:
    """Inline SVG line chart of coverage curves, (label, minutes, shares 0–1, colour, dash) each,
    with a vertical line at each of `marks` (the bands, minutes), and its key below as HTML (which
    wraps, so no label is ever cut). Labels are escaped here. The x axis runs from 0 to the largest
    minute of the curves, the y axis 0–100 %.
    """
    left, right, top, bottom = 34, 10, 8, 28
    plot_w, plot_h = width - left - right, height - top - bottom
    x_max = max((float(np.max(m)) for _, m, _, _, _ in curves), default=0.0) or max(marks, default=90.0)

    def x(v: float) -> float:
        return left + plot_w * v / x_max

    def y(v: float) -> float:
        return top + plot_h * (1.0 - v)

    parts = [f"<svg class='hr-curve' width='{width}' height='{height}' "
             f"viewBox='0 0 {width} {height}' font-size='10'>"]
    for tick in sorted({0.0, x_max, *marks}):
        if tick <= x_max:
            mark = f"class='hr-band-mark' data-band='{minutes_label(tick)}'" if tick in marks else "class='hr-tick'"
            parts.append(f"<line {mark} x1='{x(tick):.1f}' y1='{top}' x2='{x(tick):.1f}' y2='{top + plot_h}' "
                         f"stroke='{'#bbb' if tick in marks else '#eee'}'/>"
                         f"<text x='{x(tick):.1f}' y='{top + plot_h + 12}' text-anchor='middle'>"
                         f"{minutes_label(tick)}</text>")
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(f"<line x1='{left}' y1='{y(share):.1f}' x2='{left + plot_w}' y2='{y(share):.1f}' stroke='#ddd'/>"
                     f"<text x='{left - 3}' y='{y(share) + 3:.1f}' text-anchor='end'>{share:.0%}</text>")
    parts.append(f"<text x='{left + plot_w / 2:.1f}' y='{height - 3}' text-anchor='middle'>"
                 f"{text('minutes', lang)}</text>")
    keys = []
    for label, minutes, shares, colour, dash in curves:
        ok = np.isfinite(shares)
        points = " ".join(f"{x(float(m)):.1f},{y(float(v)):.1f}" for m, v in zip(minutes[ok], shares[ok]))
        dash_attr = f" stroke-dasharray='{dash}'" if dash else ""
        parts.append(f"<polyline class='hr-curve-line' fill='none' stroke='{colour}' stroke-width='1.8'"
                     f"{dash_attr} points='{points}'/>")
        keys.append(f"<div class='hr-curve-key'><svg width='16' height='8'><line x1='0' y1='4' x2='16' y2='4' "
                    f"stroke='{colour}' stroke-width='2'{dash_attr}/></svg>{esc(label)}</div>")
    parts.append("</svg>")
    return "".join(parts) + f"<div class='hr-curve-keys'>{''.join(keys)}</div>"


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


def _band_key(band: float) -> str:
    """A band as the summary tables name their columns (`township_pop_30min`)."""
    return minutes_label(band)


def summary_panel_html(result: AnalysisResult, lang: str, bands_min: Sequence[float]) -> str:
    """Collapsible panel: county residents within each of `bands_min` per tier (from
    `summary['county']`, '—' where the table lacks a figure), the golden hour, and the coverage curve
    of the same tiers with the bands marked. Empty string when there is nothing to show."""
    bands = check_bands(bands_min)
    villages = result.villages
    tiers = summary_tiers(villages) if len(villages) else []
    county = result.summary.get("county") if result.summary else None
    row = county.iloc[0] if county is not None and len(county) else pd.Series(dtype=object)
    body = ""
    if tiers:
        unit = text("minutes", lang)
        head = "".join(f"<th>≤ {minutes_label(b)} {unit}</th>" for b in bands)
        lines = []
        for tier in tiers:
            cells = []
            for band in bands:
                pop = row.get(f"{tier}_pop_{_band_key(band)}min")
                share = row.get(f"share_{tier}_{_band_key(band)}min")
                share_text = "" if is_missing(share) else f"<br><small>{float(share):.1%}</small>"
                cells.append(f"<td>{DASH}</td>" if is_missing(pop) else
                             f"<td class='hr-pop' data-tier='{esc(tier)}' data-band='{_band_key(band)}' "
                             f"data-pop='{int(pop)}'>{int(pop):,}{share_text}</td>")
            lines.append(f"<tr data-tier='{esc(tier)}'><td>{esc(labels.tier_name(tier, lang))}</td>{''.join(cells)}</tr>")
        total = "" if is_missing(row.get("population")) else (
            f"<p>{text('population', lang)}: <b class='hr-total'>{int(row['population']):,}</b></p>")
        body = (f"{total}<p>{text('summary_covered', lang)}</p>"
                f"<table class='hr-bands'><tr><th>{text('tier', lang)}</th>{head}</tr>{''.join(lines)}</table>")
    body += golden_hour_html(result, lang)
    if tiers:
        minutes = curve_minutes(bands)
        curves = [(labels.tier_name(t, lang), minutes, coverage_curve(villages, t, minutes), TIER_COLOURS[t], "")
                  for t in tiers]
        body += f"<p>{text('coverage_curve', lang)}</p>{curve_svg(curves, lang, marks=band_marks(bands))}"
    if not body:
        return ""
    heading = esc(text("summary_panel", lang).format(area=whole_area(result.project_name, lang)))
    return (f"<details class='hr-box hr-summary' open><summary>{heading}</summary>"
            f"{body}</details>")
