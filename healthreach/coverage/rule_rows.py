"""Rows of the standards table: one per rule x scope, each with a status read as the plans read it.

Statuses: `met` / `not_met` for floors, ceilings and ranges (these also fill `passed`); `below_level`,
`at_level`, `above_level` for planning levels ("左右"); `advisory` where the plans ask only "where
conditions allow"; `not_applicable` where the rule does not apply or the inputs cannot check it (the
note says why, and which column or kind would enable it). `passed` is empty except for met / not_met.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from healthreach.coverage.masks import equal_masks
from healthreach.config import Settings
from healthreach.coverage.rule_inputs import people
from healthreach.rules import INDICATION_NOTE, Rule

COLUMNS = ["rule_id", "title", "scope", "scope_id", "scope_name", "value", "target", "unit", "status", "passed",
           "source", "note"]
STATUSES = ("met", "not_met", "below_level", "at_level", "above_level", "advisory", "not_applicable")
EPS = 1e-9


def level_status(value: float, rule: Rule) -> str:
    """below_level / at_level / above_level: at level within ± rule.tolerance x the rule's figure."""
    band = rule.tolerance * rule.value
    if value < rule.value - band - EPS:
        return "below_level"
    if value > rule.value + band + EPS:
        return "above_level"
    return "at_level"


def _fmt(x: float) -> str:
    return f"{x:,.4g}" if abs(x) < 1000 else f"{x:,.0f}"


def rule_notes(rule: Rule) -> list[str]:
    """What the row's note must say about the rule's reading: the plan figure chosen and the others,
    the level band, and what the project file changed."""
    notes: list[str] = []
    if rule.figures:
        chosen = next((f for f in rule.figures if f.key == rule.plan), None)
        others = "; ".join(f"{_fmt(f.value)} ({f.source})" for f in rule.figures if f.key != rule.plan)
        if chosen is not None and "value" not in rule.set_by_project:
            notes.append(f"figure of plan {chosen.key} ({chosen.source}); other plans: {others} "
                         f"(choose with parameters.rules.{rule.id}.plan)")
        else:
            plans = "; ".join(f"{_fmt(f.value)} ({f.source})" for f in rule.figures)
            notes.append(f"figure set in the project file; the plans say: {plans}")
    elif "value" in rule.set_by_project:
        notes.append(f"figure {_fmt(rule.value)} set in the project file")
    if rule.kind == "level":
        notes.append(f"'at level' = within ±{rule.tolerance:.0%} of {_fmt(rule.value)} (healthreach reading of "
                     f"左右; parameters.rules.{rule.id}.tolerance)")
    changed = [k for k in rule.set_by_project if k not in ("value", "plan", "tolerance")]
    if changed:
        notes.append("set in the project file: " + ", ".join(f"{k} = {_show(rule, k)}" for k in changed))
    return notes


def _show(rule: Rule, key: str) -> str:
    value = rule.upper if key == "upper" else rule.option(key)
    if isinstance(value, tuple):
        return "、".join(value)
    return _fmt(value) if isinstance(value, float) else str(value)


class Rows:
    """Collects standards rows, filling title, unit, target, source and the reading notes from the rule."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.rows: list[dict] = []

    def rule(self, rule_id: str) -> Rule:
        return self.settings.rule(rule_id)

    def add(self, rule_id: str, scope: str, scope_id: object, scope_name: object, value: float | None,
            status: str, *, target: float | str | None = None, unit: str | None = None, note: str = "",
            reading: bool = True) -> None:
        """One row; `reading` adds the rule's reading notes (plan figure, level band, project changes)."""
        assert status in STATUSES, status
        rule = self.rule(rule_id)
        notes = [note] if note else []
        if rule.kind == "level" and status in ("below_level", "above_level"):
            notes.append(rule.below if status == "below_level" else rule.above)
        if reading:
            notes += rule_notes(rule)
        if rule.indication and scope == "county":
            notes.append(INDICATION_NOTE)
        source = rule.source
        chosen = next((f for f in rule.figures if f.key == rule.plan), None)
        if chosen is not None and "value" not in rule.set_by_project:
            source = chosen.source
        self.rows.append({
            "rule_id": rule_id, "title": rule.title_zh, "scope": scope, "scope_id": str(scope_id),
            "scope_name": str(scope_name),
            "value": float(value) if value is not None and np.isfinite(value) else np.nan,
            "target": rule.value if target is None else target, "unit": unit or rule.unit, "status": status,
            "passed": {"met": True, "not_met": False}.get(status), "source": source, "note": "; ".join(notes),
        })

    def judged(self, rule_id: str, scope: str, scope_id: object, scope_name: object, value: float | None,
               ok: bool, **kw) -> None:
        """A floor, ceiling or range row whose verdict the caller worked out."""
        self.add(rule_id, scope, scope_id, scope_name, value, "met" if ok else "not_met", **kw)

    def at_least(self, rule_id: str, scope: str, scope_id: object, scope_name: object, value: float,
                 target: float | None = None, **kw) -> None:
        """met when `value` >= target (the rule's figure unless given)."""
        goal = self.rule(rule_id).value if target is None else target
        ok = bool(np.isfinite(value) and value >= goal - EPS)
        self.judged(rule_id, scope, scope_id, scope_name, value, ok, target=target, **kw)

    def within(self, rule_id: str, scope: str, scope_id: object, scope_name: object, value: float, **kw) -> None:
        """met when the rule's figure <= `value` <= its upper end (a range rule)."""
        rule = self.rule(rule_id)
        upper = rule.upper if rule.upper is not None else np.inf
        ok = rule.value - EPS <= value <= upper + EPS
        self.judged(rule_id, scope, scope_id, scope_name, value, ok, target=f"{_fmt(rule.value)}–{_fmt(upper)}",
                    **kw)

    def level(self, rule_id: str, scope: str, scope_id: object, scope_name: object, value: float, **kw) -> None:
        """A planning level: below / at / above."""
        self.add(rule_id, scope, scope_id, scope_name, value, level_status(value, self.rule(rule_id)), **kw)

    def not_applicable(self, rule_id: str, scope: str, scope_id: object, scope_name: object, note: str,
                       value: float | None = None, **kw) -> None:
        self.add(rule_id, scope, scope_id, scope_name, value, "not_applicable", note=note, reading=False, **kw)

    def share(self, rule_id: str, scope: str, scope_id: object, scope_name: object, ok: np.ndarray,
              what: str, target: float | None = None) -> None:
        """A county share of facilities meeting a facility rule (floor: the rule's share)."""
        share = float(ok.mean())
        self.at_least(rule_id, scope, scope_id, scope_name, round(share, 4), target=target, unit="share",
                      note=f"{int(ok.sum())} of {len(ok)} {what}")

    def frame(self) -> pd.DataFrame:
        return frame(self.rows)


def village_shares(rows: Rows, rule_id: str, villages: pd.DataFrame, county: np.ndarray, mask: np.ndarray,
                   ok: np.ndarray, *, what: str, empty: str, note: str = "", townships: bool = True,
                   advisory: bool = False) -> None:
    """County (and township) rows: the share of residents of the `mask` villages with `ok` (target: all;
    `advisory`: shown, not judged). A county without such villages gets a not_applicable row saying `empty`."""
    pop = villages["population"].to_numpy(dtype=float)
    town = villages["township"].to_numpy(dtype=object)
    of_town = equal_masks(town, {t for t in town if t}) if townships else {}
    for name, in_county in equal_masks(county, dict.fromkeys(c for c in county if c is not None)).items():
        inside = mask & in_county
        groups = [("county", name, inside)]
        if townships:
            groups += [("township", t, inside & of_town[t]) for t in sorted({t for t in town[inside] if t})]
        for scope, label, members in groups:
            total = pop[members].sum()
            if scope == "county" and (not members.any() or total <= 0):
                rows.not_applicable(rule_id, scope, label, label, empty if not members.any() else "no residents")
                continue
            if total <= 0:
                continue
            good = pop[members & ok].sum()
            text = f"{people(total - good)} of {people(total)} residents {what}"
            text = f"{text}; {note}" if note else text
            if advisory:
                rows.add(rule_id, scope, label, label, round(good / total, 4), "advisory", target=1.0, unit="share",
                         note=f"{text}; for reference, not judged")
            else:
                rows.at_least(rule_id, scope, label, label, round(good / total, 4), target=1.0, unit="share", note=text)


def frame(rows: list[dict]) -> pd.DataFrame:
    """The standards table of `rows` (columns COLUMNS; `target` and `passed` as objects)."""
    table = pd.DataFrame(rows, columns=COLUMNS)
    table["target"] = table["target"].astype(object)
    table["passed"] = table["passed"].astype(object).where(table["passed"].notna(), None)
    return table
