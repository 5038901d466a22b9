"""The map's summary panel: residents covered per tier and band, the golden hour, the coverage curve."""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from healthreach.coverage.result import AnalysisResult
from healthreach.rules import RULES
from healthreach.coverage.services import EMERGENCY_CENTRES
from healthreach.maps import labels
from healthreach.tiers import TIERS
from healthreach.maps.labels import esc, text
from healthreach.maps.offline import require_columns
from healthreach.maps.style import DASH, TIER_COLOURS, is_missing

CURVE_MINUTES = np.arange(0, 91, dtype=float)


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
                share_text = "" if is_missing(share) else f"<br><small>{float(share):.1%}</small>"
                cells.append(f"<td>{DASH}</td>" if is_missing(pop) else
                             f"<td class='hr-pop' data-tier='{esc(tier)}' data-band='{band}' "
                             f"data-pop='{int(pop)}'>{int(pop):,}{share_text}</td>")
            lines.append(f"<tr><td>{esc(labels.tier_name(tier, lang))}</td>{''.join(cells)}</tr>")
        total = "" if is_missing(row.get("population")) else (
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
