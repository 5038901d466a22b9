"""Popup contents of the HTML maps, in one language: villages (access per tier, by facility name),
facilities, and the standards a village or facility falls short of. Every user text is escaped here."""
from __future__ import annotations

import math
import re
from collections.abc import Mapping

import pandas as pd

from healthreach.rules import RULES
from healthreach.tiers import SERVICES, TIERS
from healthreach.maps import labels
from healthreach.maps.labels import esc, text
from healthreach.maps.offline import require_columns
from healthreach.maps.style import DASH, count_text, is_missing, km_text, minutes_text

# Standards `status` values that draw a village's red ring and are listed in popups; a report without
# `status` (older runs) marks the same rows with passed == False.
FALLING_SHORT = ("not_met", "below_level")


# The reasons healthreach.coverage.access writes into a village's `note` (in English), in Chinese.
_NOTES_ZH: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"no road within ([\d,.]+) m \(nearest road ([\d,.]+) m\): not joined to the network"),
     "{0}米内无道路（最近道路{1}米），未接入路网"),
    (re.compile(r"no road within ([\d,.]+) m \(no road at all\): not joined to the network"),
     "{0}米内无道路（附近没有道路），未接入路网"),
    (re.compile(r"no road within ([\d,.]+) m: not joined to the network"), "{0}米内无道路，未接入路网"),
    (re.compile(r"no (\w+) facility reachable on the (\w+) network"), "{1}路网上无可达的{0}"),
)


def note_text(note: object, lang: str) -> str:
    """A village or facility note in `lang`: the analysis' own reasons translated for Chinese
    readers; any other text (the user's own) as it is. '' when there is none."""
    if is_missing(note) or not str(note).strip():
        return ""
    if lang != "zh":
        return str(note)
    parts = []
    for part in str(note).split("; "):
        for pattern, template in _NOTES_ZH:
            found = pattern.fullmatch(part.strip())
            if found:
                groups = [labels.tier_name(g, lang) if g in TIERS else labels.MODE_NAMES.get(g, {}).get(lang, g)
                          for g in found.groups()]
                part = template.format(*groups)
                break
        parts.append(part)
    return "；".join(parts)


def or_dash(value: object) -> object:
    """The value, or '—' where it is missing or empty."""
    return DASH if is_missing(value) or value == "" else value


def row_table(rows: list[tuple[str, str]]) -> str:
    """A two-column table of ready-made (escaped) HTML cells."""
    return "<table>" + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"


def facility_names(*frames: pd.DataFrame | None) -> dict[str, str]:
    """Facility id -> name over `frames` (later frames win), for naming the nearest facility."""
    names: dict[str, str] = {}
    for frame in frames:
        if frame is not None and len(frame) and {"fid", "name"} <= set(frame.columns):
            names.update({str(f): str(n) for f, n in zip(frame["fid"], frame["name"]) if not is_missing(n)})
    return names


def nearest_name(row: pd.Series, tier: str, names: Mapping[str, str]) -> object:
    """Name of the village's nearest facility of `tier` (its id when unnamed), or '—'."""
    fid = row.get(f"{tier}_fid")
    if is_missing(fid) or fid == "":
        return DASH
    return names.get(str(fid), str(fid))


def village_popup(row: pd.Series, tiers: list[str], lang: str, names: Mapping[str, str], *,
                  services: list[str] | None = None, extra: str = "") -> str:
    """Popup HTML for one village: name, population, township, then per tier (and per service of
    `services`) the nearest facility by name, how it is travelled, minutes and km ('—' where
    unreachable), the note, then `extra` (ready-made HTML)."""
    rows = [
        (text("population", lang), esc(count_text(row.get("population")))),
        (text("township", lang), esc(or_dash(row.get("township")))),
    ]
    columns = (f"<th>{text('nearest', lang)}</th><th>{text('mode', lang)}</th><th>{text('minutes', lang)}</th>"
               f"<th>{text('km', lang)}</th></tr>")

    def line(tier: str, attrs: str) -> str:
        return (f"<tr{attrs}><td>{esc(labels.tier_name(tier, lang))}</td><td>{esc(nearest_name(row, tier, names))}</td>"
                f"<td>{esc(labels.mode_name(tier, lang))}</td>"
                f"<td class='hr-min'>{minutes_text(row.get(f'{tier}_time_s'))}</td>"
                f"<td>{km_text(row.get(f'{tier}_dist_m'))}</td></tr>")

    access = "".join(line(t, f" class='hr-tier-row' data-tier='{t}'") for t in tiers)
    offered = services if services is not None else [s for s in SERVICES if f"{s}_time_s" in row.index]
    service_rows = "".join(line(s, f" class='hr-svc' data-service='{s}'") for s in offered)
    service_table = (f"<table class='hr-services'><tr><th>{text('service', lang)}</th>{columns}{service_rows}</table>"
                     if offered else "")
    note = note_text(row.get("note"), lang)
    note_html = f"<p>{text('note', lang)}: {esc(note)}</p>" if note else ""
    return (f"<b>{esc(row.get('name', ''))}</b> <small>{esc(row.get('vid', ''))}</small>{row_table(rows)}"
            f"<table><tr><th>{text('tier', lang)}</th>{columns}{access}</table>{service_table}{note_html}{extra}")


def facility_popup(row: pd.Series, lang: str, *, extra: str = "") -> str:
    """Popup HTML for one facility: name, kind, beds, doctors, nurses, ambulances, township, services
    offered, then `extra` HTML."""
    rows = [(text("kind", lang), esc(labels.kind_name(row.get("kind"), lang)))]
    rows += [(text(col, lang), esc(count_text(row.get(col)))) for col in ("beds", "doctors", "nurses", "ambulances")]
    if not is_missing(row.get("township")):
        rows.append((text("township", lang), esc(row.get("township"))))
    cell = row.get("services")
    offered = [] if is_missing(cell) else [s for s in SERVICES if s in str(cell).split(";")]
    if offered:
        rows.append((text("services", lang), esc("、".join(labels.tier_name(s, lang) for s in offered))))
    return f"<b>{esc(row.get('name', ''))}</b> <small>{esc(row.get('fid', ''))}</small>{row_table(rows)}{extra}"


def failing_rules(standards: pd.DataFrame | None, *, scope: str = "village") -> dict[str, list[pd.Series]]:
    """Standards rows of `scope` ('village' or 'facility') that fall short, by scope id: `status`
    not_met or below_level where the report has a status, else passed == False."""
    if standards is None or not len(standards) or "scope" not in standards.columns:
        return {}
    if "status" in standards.columns:
        require_columns(standards, ["rule_id", "scope_id"], "standards")
        short = standards["status"].isin(FALLING_SHORT)
    else:
        require_columns(standards, ["rule_id", "scope_id", "passed"], "standards")
        short = standards["passed"].eq(False)
    failed = standards[(standards["scope"] == scope) & short]
    out: dict[str, list[pd.Series]] = {}
    for _, row in failed.iterrows():
        out.setdefault(str(row["scope_id"]), []).append(row)
    return out


def _number(value: object, unit: str, lang: str) -> str:
    """A standards value or target as a reader expects it: shares in %, presence as yes/no."""
    if is_missing(value):
        return DASH
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return labels.service_list(value, lang) if unit == "present" else str(value)
    if unit == "present":
        return text("yes" if number > 0 else "no", lang)
    if unit == "share":
        return f"{number:.1%}"
    if not math.isfinite(number):
        return DASH
    return f"{number:,.0f}" if abs(number) >= 100 or number == round(number) else f"{number:.2f}".rstrip("0")


def rule_title(row: pd.Series, lang: str) -> str:
    """The rule's title in `lang` (from the rules table; the report's own title or id otherwise)."""
    rule = RULES.get(str(row.get("rule_id")))
    if rule is not None:
        return rule.title_zh if lang == "zh" else rule.title_en
    return str(or_dash(row.get("title") if not is_missing(row.get("title")) else row.get("rule_id")))


def failing_html(rows: list[pd.Series], lang: str) -> str:
    """List of the standards in `rows`: title, value against target in the reader's units, status."""
    items = []
    for r in rows:
        unit = str(r.get("unit", "")) if not is_missing(r.get("unit")) else ""
        unit_text = labels.unit_name(unit, lang)
        suffix = f" {esc(unit_text)}" if unit_text else ""
        target = (labels.service_list(r.get("target"), lang) if unit == "present"
                  else _number(r.get("target"), unit, lang))
        status = r.get("status")
        status_html = ("" if is_missing(status) else
                       f" · {text('status', lang)}: {esc(labels.status_name(str(status), lang))}")
        items.append(f"<li class='hr-rule' data-rule='{esc(r['rule_id'])}'>{esc(rule_title(r, lang))}"
                     f"{'：' if lang == 'zh' else ': '}"
                     f"{text('value', lang)} {esc(_number(r.get('value'), unit, lang))}{suffix if unit != 'present' else ''}"
                     f" / {text('target', lang)} {esc(target)}{suffix if unit != 'present' else ''}{status_html}</li>")
    return f"<p><b>{text('failed_rules', lang)}</b></p><ul>{''.join(items)}</ul>"
