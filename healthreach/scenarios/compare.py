"""Compare a scenario's results with the baseline: coverage per scope, per village, and standards.

Village tables carry the design.md village-access columns (`vid`, `name`, `population`, `township`,
and per tier T: `T_fid`, `T_time_s` with NaN where unreachable, `T_dist_m`). Baseline and scenario are
matched on `vid`; population and township come from the baseline. A service (or tier) measured on one
side only — a scenario that closes the last stroke centre, or opens the first — has no facility on the
other: its times there are empty (unreachable), never a reason to refuse the comparison.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import pandas as pd

from healthreach._errors import InputError

log = logging.getLogger(__name__)

P95 = 0.95
COMPARE_COLUMNS = [
    "scenario", "scope", "scope_name", "tier", "band_min", "pop_total", "pop_before", "pop_after", "pop_gain",
    "mean_min_before", "mean_min_after", "p95_min_before", "p95_min_after",
]
DELTA_COLUMNS = [
    "vid", "name", "township", "population", "tier", "fid_before", "fid_after", "time_s_before",
    "time_s_after", "saved_s", "became_reachable", "became_unreachable",
]
_STANDARD_KEYS = ["rule_id", "scope", "scope_id"]


def tiers_in(*villages: pd.DataFrame) -> list[str]:
    """Tiers (and services) that have a `<tier>_time_s` column in any of the tables: the first table's
    in column order, then those only a later one has."""
    columns = [c for table in villages for c in table.columns if c.endswith("_time_s")]
    return [column[: -len("_time_s")] for column in dict.fromkeys(columns)]


def _aligned(baseline: pd.DataFrame, scenario: pd.DataFrame, tiers: Sequence[str]) -> pd.DataFrame:
    """One row per baseline village with `<tier>_before`/`<tier>_after` seconds and fids; a tier that
    only one side measures is empty (unreachable) on the other."""
    for label, table in (("baseline", baseline), ("scenario", scenario)):
        if "vid" not in table:
            raise InputError(f"{label} village table lacks the column vid (expected village-access columns)")
    nowhere = [f"{t}_time_s" for t in tiers if f"{t}_time_s" not in baseline and f"{t}_time_s" not in scenario]
    if nowhere:
        raise InputError(f"neither village table has the columns {nowhere} (expected village-access columns)")
    base_ids, scen_ids = set(baseline["vid"]), set(scenario["vid"])
    if base_ids != scen_ids or baseline["vid"].duplicated().any():
        odd = sorted(map(str, base_ids ^ scen_ids))[:5]
        raise InputError(f"baseline and scenario village tables differ in vid (e.g. {odd}; expected the same villages)")
    keep = ["vid"] + [c for t in tiers for c in (f"{t}_time_s", f"{t}_fid") if c in scenario]
    after = pd.DataFrame(scenario[keep]).rename(columns=lambda c: c if c == "vid" else f"{c}@after")
    base = pd.DataFrame(baseline[[c for c in baseline.columns if c != "geometry"]])
    merged = base.merge(after, on="vid", how="left", validate="one_to_one")
    for tier in tiers:
        for column in (f"{tier}_time_s", f"{tier}_time_s@after"):
            if column not in merged:
                merged[column] = np.nan
        for column in (f"{tier}_fid", f"{tier}_fid@after"):
            if column not in merged:
                merged[column] = pd.array([None] * len(merged), dtype="string")
    merged["population"] = pd.to_numeric(merged["population"]).fillna(0).astype(float)
    return merged


def weighted_p95(times: np.ndarray, weights: np.ndarray) -> float:
    """Population-weighted 95th percentile of `times`: the smallest time whose cumulative weight reaches 95 %.

    NaN times (unreachable) and zero weights are left out; NaN when no weight remains.
    """
    ok = ~np.isnan(times) & (weights > 0)
    if not ok.any():
        return float("nan")
    order = np.argsort(times[ok], kind="stable")
    sorted_times, cum = times[ok][order], np.cumsum(weights[ok][order])
    # relative tolerance: 0.95 x total is not exact in binary for most integer totals
    index = int(np.searchsorted(cum, P95 * cum[-1] * (1 - 1e-12), side="left"))
    return float(sorted_times[index])


def _weighted_mean(times: np.ndarray, weights: np.ndarray) -> float:
    ok = ~np.isnan(times) & (weights > 0)
    total = weights[ok].sum()
    return float((times[ok] * weights[ok]).sum() / total) if total > 0 else float("nan")


def _scope_rows(
    rows: pd.DataFrame, scope: str, scope_name: str, tiers: Sequence[str], bands_min: Sequence[float], scenario_name: str
) -> list[dict[str, object]]:
    weights = rows["population"].to_numpy(float)
    out = []
    for tier in tiers:
        before = pd.to_numeric(rows[f"{tier}_time_s"]).to_numpy(float) / 60.0
        after = pd.to_numeric(rows[f"{tier}_time_s@after"]).to_numpy(float) / 60.0
        stats = {
            "mean_min_before": _weighted_mean(before, weights), "mean_min_after": _weighted_mean(after, weights),
            "p95_min_before": weighted_p95(before, weights), "p95_min_after": weighted_p95(after, weights),
        }
        for band in bands_min:
            # NaN <= band is False: unreachable villages count as not covered
            pop_before = float(weights[before <= band].sum())
            pop_after = float(weights[after <= band].sum())
            out.append({
                "scenario": scenario_name, "scope": scope, "scope_name": scope_name, "tier": tier,
                "band_min": band, "pop_total": float(weights.sum()), "pop_before": pop_before,
                "pop_after": pop_after, "pop_gain": pop_after - pop_before, **stats,
            })
    return out


def compare_tables(
    baseline_villages: pd.DataFrame,
    scenario_villages: pd.DataFrame,
    *,
    scenario_name: str,
    bands_min: Sequence[float] = (15, 30, 45, 60),
    tiers: Sequence[str] | None = None,
    county_name: str = "",
) -> pd.DataFrame:
    """Coverage before and after, one row per scope (county, then each township) x tier x band.

    Populations are persons within `band_min` minutes; means and p95 are population-weighted minutes
    over the villages that can reach the tier (unreachable ones count only as not covered). `tiers`
    defaults to every tier with a `_time_s` column in either table.
    """
    tiers = list(tiers) if tiers is not None else tiers_in(baseline_villages, scenario_villages)
    merged = _aligned(baseline_villages, scenario_villages, tiers)
    rows = _scope_rows(merged, "county", county_name, tiers, bands_min, scenario_name)
    for township, group in merged.groupby("township", sort=False, dropna=False):
        rows += _scope_rows(group, "township", "" if pd.isna(township) else str(township), tiers, bands_min, scenario_name)
    log.info("compare %s: %d villages, %d tiers", scenario_name, len(merged), len(tiers))
    return pd.DataFrame(rows, columns=COMPARE_COLUMNS)


def village_deltas(
    baseline: pd.DataFrame, scenario: pd.DataFrame, *, tiers: Sequence[str] | None = None
) -> pd.DataFrame:
    """Per village and tier: nearest fid and travel seconds before/after, seconds saved, reachability flips.

    `saved_s` is before - after (negative when slower) and NaN unless both are reachable;
    `became_reachable` / `became_unreachable` mark villages whose time appears or disappears.
    """
    tiers = list(tiers) if tiers is not None else tiers_in(baseline, scenario)
    merged = _aligned(baseline, scenario, tiers)
    frames = []
    for tier in tiers:
        before = pd.to_numeric(merged[f"{tier}_time_s"]).astype(float)
        after = pd.to_numeric(merged[f"{tier}_time_s@after"]).astype(float)
        frames.append(pd.DataFrame({
            "vid": merged["vid"], "name": merged.get("name"), "township": merged.get("township"),
            "population": merged["population"], "tier": tier,
            "fid_before": merged.get(f"{tier}_fid"), "fid_after": merged.get(f"{tier}_fid@after"),
            "time_s_before": before, "time_s_after": after, "saved_s": before - after,
            "became_reachable": before.isna() & after.notna(),
            "became_unreachable": before.notna() & after.isna(),
        }))
    if not frames:
        return pd.DataFrame(columns=DELTA_COLUMNS)
    return pd.concat(frames, ignore_index=True)[DELTA_COLUMNS]


def _passed(value: object) -> bool | None:
    """A `passed` cell as True/False, or None when the rule was not measured (NaN/NA/None)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return bool(value)


def _statuses(table: pd.DataFrame) -> list[str | None]:
    """Each row's `status`; for tables from before the column existed, met / not_met from `passed`."""
    if "status" in table:
        return [None if v is None or (not isinstance(v, str) and pd.isna(v)) else str(v) for v in table["status"]]
    return [None if p is None else ("met" if p else "not_met") for p in map(_passed, table["passed"])]


def standards_changes(std_before: pd.DataFrame, std_after: pd.DataFrame) -> pd.DataFrame:
    """Standards rows whose `status` differs between baseline and scenario, matched on rule_id+scope+scope_id.

    Columns: rule_id, scope, scope_id, scope_name, target, value_before, value_after, status_before,
    status_after (met, not_met, below_level, at_level, above_level, advisory, not_applicable; None where
    the row is absent), passed_before, passed_after (True/False for floors and ceilings, else None),
    source. A table without `status` (older outputs) reads met / not_met from `passed`.
    """
    for label, table in (("baseline", std_before), ("scenario", std_after)):
        missing = [c for c in _STANDARD_KEYS + ["passed", "value"] if c not in table]
        if missing:
            raise InputError(f"{label} standards table lacks columns {missing} (expected the standards.csv columns)")
    detail = [c for c in ("scope_name", "target", "source") if c in std_before or c in std_after]
    left = std_before[_STANDARD_KEYS + ["value", "passed"] + [c for c in detail if c in std_before]]
    right = std_after[_STANDARD_KEYS + ["value", "passed"] + [c for c in detail if c in std_after]]
    # outer merges sort their keys; keep baseline order, then rows new in the scenario
    left = left.assign(status=_statuses(std_before), _order=np.arange(len(left)))
    right = right.assign(status=_statuses(std_after), _order_after=np.arange(len(right)))
    merged = left.merge(right, on=_STANDARD_KEYS, how="outer", suffixes=("_before", "_after"))
    merged = merged.sort_values(["_order", "_order_after"], na_position="last", kind="stable")
    for column in detail:
        pair = [f"{column}_after", f"{column}_before", column]
        present = [merged[c] for c in pair if c in merged]
        merged[column] = present[0].combine_first(present[1]) if len(present) > 1 else present[0]
    status = {}
    for side in ("before", "after"):
        merged[f"passed_{side}"] = pd.Series([_passed(v) for v in merged[f"passed_{side}"]], index=merged.index,
                                             dtype=object)
        status[side] = [v if isinstance(v, str) else None for v in merged[f"status_{side}"]]
        merged[f"status_{side}"] = pd.Series(status[side], index=merged.index, dtype=object)
    # pandas compares missing as unequal (NaN != NaN), so compare the Python values
    changed = merged[[b != a for b, a in zip(status["before"], status["after"])]]
    columns = _STANDARD_KEYS + [c for c in ("scope_name", "target") if c in detail] + [
        "value_before", "value_after", "status_before", "status_after", "passed_before", "passed_after"] + (
        ["source"] if "source" in detail else [])
    return changed[columns].reset_index(drop=True)
