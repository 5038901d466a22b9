"""Field dictionary for GIS exports: 10-byte shapefile names, units and bilingual descriptions.

Shapefile (dBASE) field names are at most 10 bytes, and ArcGIS and QGIS only agree on plain ASCII
ones, so the long column names of the data model get deterministic short names here. The field
dictionary written next to every shapefile maps them back.
"""
from __future__ import annotations

import re

import pandas as pd

from healthreach._errors import UsageError
from healthreach.tiers import SERVICE_TABLE, TIERS, display_name

MAX_FIELD_BYTES = 10

# Three letters per tier or service so that `xxx_time_s`, `xxx_dist_m`, `xxx_line_m` fit in 10 bytes.
TIER_CODES: dict[str, str] = {
    "hospital": "hsp",
    "subcentre": "sub",
    "township": "twn",
    "community": "com",
    "village": "vil",
    "ems": "ems",
    "chest_pain": "chp",
    "stroke": "stk",
    "trauma": "trm",
    "critical_maternal": "crm",
    "critical_neonatal": "crn",
    "fever_clinic": "fvc",
    "fever_sentinel": "fvs",
    "infectious_dept": "inf",
    "tcm_hall": "tcm",
    "rehab_dept": "reh",
    "geriatrics_dept": "ger",
    "regional_centre": "rgc",
}

# Per-tier measures: suffix -> (unit, zh template, en template); {zh}/{en} is the tier's name.
_TIER_SUFFIXES: dict[str, tuple[str, str, str]] = {
    "_fid": ("facility id", "最近的{zh}编号", "id of the nearest {en}"),
    "_time_s": ("seconds", "到最近{zh}的出行时间（秒，空值=不可达）",
                "travel time to the nearest {en} (seconds, empty = unreachable)"),
    "_dist_m": ("metres", "到最近{zh}的路网距离（米）", "network distance to the nearest {en} (metres)"),
    "_line_m": ("metres", "到最近{zh}的直线距离（米）", "straight-line distance to the nearest {en} (metres)"),
}

# Plain columns: name -> (short name, unit, zh, en).
_PLAIN: dict[str, tuple[str, str, str, str]] = {
    "vid": ("vid", "", "村代码", "village id"),
    "fid": ("fid", "", "机构编号", "facility id"),
    "name": ("name", "", "名称", "name"),
    "kind": ("kind", "", "机构类型", "facility kind"),
    "population": ("population", "persons", "常住人口（人）", "resident population (persons)"),
    "elderly": ("elderly", "persons", "65岁及以上人口（人）", "residents aged 65+ (persons)"),
    "children": ("children", "persons", "6岁以下儿童（人）", "children under 6 (persons)"),
    "township": ("township", "", "乡镇", "township"),
    "setting": ("setting", "", "城乡类型（urban/rural）", "setting (urban/rural)"),
    "access_m": ("access_m", "metres", "村点/机构到路网的距离（米）",
                 "distance from the point to the road network (metres)"),
    "note": ("note", "", "备注（不可达原因等）", "note (e.g. why unreachable)"),
    "beds": ("beds", "beds", "床位数", "beds"),
    "doctors": ("doctors", "persons", "执业（助理）医师数", "doctors (persons)"),
    "nurses": ("nurses", "persons", "注册护士数", "nurses (persons)"),
    "ambulances": ("ambulances", "vehicles", "救护车数", "ambulances (vehicles)"),
    "services": ("services", "", "服务能力（专科中心等）", "services offered"),
    "tier": ("tier", "", "层级", "tier"),
    "mode": ("mode", "", "出行方式", "travel mode"),
    "band_min": ("band_min", "minutes", "时间圈（分钟）", "travel-time band (minutes)"),
    "villages": ("villages", "villages", "村庄数", "number of villages"),
    "level": ("level", "", "行政级别", "administrative level"),
    "highway": ("highway", "", "道路等级", "road class"),
}

def _tier_names(tier: str) -> tuple[str, str] | None:
    """Chinese and English name of a tier or service id, or None when unknown."""
    if tier not in TIERS and tier not in SERVICE_TABLE:
        return None
    return display_name(tier, "zh"), display_name(tier, "en")


def _split_tier(column: str) -> tuple[str, str] | None:
    """(tier, suffix) when `column` is a per-tier measure such as `township_time_s`."""
    for suffix in _TIER_SUFFIXES:
        if column.endswith(suffix) and len(column) > len(suffix):
            return column[: -len(suffix)], suffix
    return None


def describe(column: str) -> tuple[str, str, str]:
    """Unit, Chinese and English description of a column name ('' where nothing is known)."""
    if column in _PLAIN:
        _, unit, zh, en = _PLAIN[column]
        return unit, zh, en
    split = _split_tier(column)
    if split is not None:
        tier, suffix = split
        unit, zh_t, en_t = _TIER_SUFFIXES[suffix]
        zh, en = _tier_names(tier) or (tier, tier.replace("_", " "))
        return unit, zh_t.format(zh=zh), en_t.format(en=en)
    if column.endswith("_s"):
        return "seconds", "", f"{column} (seconds)"
    if column.endswith("_m"):
        return "metres", "", f"{column} (metres)"
    if column.endswith("_min"):
        return "minutes", "", f"{column} (minutes)"
    if column.startswith("share"):
        return "share (0-1)", "", f"{column} (share, 0-1)"
    return "", "", ""


def _known_short(column: str) -> str | None:
    """The built-in short name of a data-model column, or None."""
    if column in _PLAIN:
        return _PLAIN[column][0]
    split = _split_tier(column)
    if split is not None and split[0] in TIER_CODES:
        return TIER_CODES[split[0]] + split[1]
    return None


def _systematic(column: str) -> str:
    """ASCII abbreviation of any column name: vowels dropped inside words, then cut to 10 bytes."""
    split = _split_tier(column)
    if split is not None:
        # Keep the unit-bearing suffix whole: `xyz_time_s` still reads as seconds in ArcGIS.
        tier = re.sub(r"[^A-Za-z0-9]", "", split[0])
        if tier:
            code = (tier[0] + re.sub(r"[aeiouAEIOU]", "", tier[1:]))[:3]
            return ("f" + code if code[0].isdigit() else code)[: MAX_FIELD_BYTES - len(split[1])] + split[1]
    words = [w for w in re.split(r"[^A-Za-z0-9]+", column) if w]
    if not words:
        return "field"
    text = "_".join(words)
    if len(text) > MAX_FIELD_BYTES:
        # Vowels carry the least information in English column names; the first letter stays.
        text = "_".join(w[0] + re.sub(r"[aeiouAEIOU]", "", w[1:]) for w in words)
    if len(text) > MAX_FIELD_BYTES:
        text = "".join(w[0] + re.sub(r"[aeiouAEIOU]", "", w[1:]) for w in words)
    if text[0].isdigit():
        text = "f" + text
    return text[:MAX_FIELD_BYTES]


def _valid_short(short: str) -> bool:
    """Whether `short` is a field name every shapefile reader accepts."""
    return bool(re.fullmatch(r"[A-Za-z][A-Za-z0-9_]{0,9}", short))


def short_names(columns: list[str], fields: dict[str, str] | None = None) -> dict[str, str]:
    """Unique ASCII field names of at most 10 bytes for `columns`, in the same order.

    `fields` maps long names to short names chosen by the caller; they are checked, not changed.
    Built-in abbreviations come next, then the systematic one with a numeric suffix on collision.
    dBASE readers compare names case-insensitively, so uniqueness is checked that way.
    """
    chosen = dict(fields or {})
    for long, short in chosen.items():
        if not _valid_short(short):
            raise UsageError(
                f"shapefile field name {short!r} for column {long!r}: expected ASCII letters, digits "
                f"or '_', starting with a letter, at most {MAX_FIELD_BYTES} bytes"
            )
    out: dict[str, str] = {}
    taken: set[str] = set()
    # Reserve names given by the caller and the built-in ones first, so that a fallback name can
    # never take the slot of a well-known column that comes later in the table.
    for column in columns:
        if column in chosen:
            if chosen[column].lower() in taken:
                raise UsageError(f"shapefile field name {chosen[column]!r} is given to two columns")
            out[column] = chosen[column]
            taken.add(chosen[column].lower())
    for column in columns:
        short = _known_short(column) or (column if _valid_short(column) else None)
        if column not in out and short is not None and short.lower() not in taken:
            out[column] = short
            taken.add(short.lower())
    for column in columns:
        if column in out:
            continue
        base = _systematic(column)
        short = base
        number = 1
        while short.lower() in taken:
            tail = str(number)
            short = base[: MAX_FIELD_BYTES - len(tail)] + tail
            number += 1
        out[column] = short
        taken.add(short.lower())
    return {column: out[column] for column in columns}


def field_table(mapping: dict[str, str]) -> pd.DataFrame:
    """Field dictionary: `short_name`, `full_name`, `unit`, `description` (zh / en)."""
    rows = []
    for long, short in mapping.items():
        unit, zh, en = describe(long)
        description = " / ".join(part for part in (zh, en) if part)
        rows.append({"short_name": short, "full_name": long, "unit": unit, "description": description})
    return pd.DataFrame(rows, columns=["short_name", "full_name", "unit", "description"])


def chinese_header(column: str) -> str:
    """Chinese name of a column for bilingual table headers ('' when none is known)."""
    zh = describe(column)[1]
    # Headers stay short: drop the parenthesised explanation the field dictionary carries.
    return re.sub(r"（[^）]*）$", "", zh)
