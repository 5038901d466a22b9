"""Map strings in Chinese and English, and the escaping every user-supplied text goes through."""
from __future__ import annotations

import html
import re

from healthreach._errors import UsageError
from healthreach.tiers import KIND_TABLE, SERVICE_TABLE, display_name, tier_mode

LANGS: tuple[str, ...] = ("zh", "en")

_TEXT: dict[str, dict[str, str]] = {
    "coverage_map": {"zh": "医疗服务可达性", "en": "Health service access"},
    "scenario_map": {"zh": "方案对比", "en": "Scenario comparison"},
    "basemap_roads": {"zh": "道路（离线底图）", "en": "Roads (offline basemap)"},
    "basemap_boundaries": {"zh": "行政边界", "en": "Boundaries"},
    "township_boundary": {"zh": "乡镇界", "en": "Township boundary"},
    "village_names": {"zh": "村名", "en": "Village names"},
    "facilities": {"zh": "医疗机构", "en": "Facilities"},
    "catchments": {"zh": "服务范围", "en": "Catchment"},
    "villages_unreachable": {"zh": "不可达村庄", "en": "Unreachable villages"},
    "villages_failing": {"zh": "未达标村庄", "en": "Villages failing standards"},
    "failing_legend": {"zh": "红圈：村庄未达到至少一项标准（图层“未达标村庄”，默认隐藏；点击村庄查看）",
                       "en": "Red ring: the village misses at least one standard (layer “Villages failing "
                             "standards”, hidden at first; click a village for the rules)"},
    "catchment_legend": {"zh": "服务范围（时间圈）", "en": "Catchments (travel-time bands)"},
    "mode": {"zh": "方式", "en": "Mode"},
    "time_to": {"zh": "到{tier}{mode}时间", "en": "{mode} time to {tier}"},
    "villages_time_to": {"zh": "村庄：到{tier}{mode}时间", "en": "Villages: {mode} time to {tier}"},
    "status": {"zh": "状态", "en": "status"},
    "yes": {"zh": "有", "en": "yes"},
    "no": {"zh": "无", "en": "no"},
    "or": {"zh": "或", "en": " or "},
    "show_tier": {"zh": "显示层级", "en": "Tier shown"},
    "unchanged": {"zh": "无变化", "en": "unchanged"},
    "compare_panel": {"zh": "方案效果（{area}）", "en": "What the scenario changes ({area})"},
    "newly_within": {"zh": "新增覆盖人口", "en": "Newly within"},
    "mean_minutes": {"zh": "平均时间（分钟）", "en": "Mean (min)"},
    "p95_minutes": {"zh": "95%人口在此时间内（分钟）", "en": "95th percentile (min)"},
    "within_band": {"zh": "时间圈内人口", "en": "Residents within"},
    "changed": {"zh": "配置变更", "en": "Resources changed"},
    "legend_facilities": {"zh": "医疗机构层级", "en": "Facility tiers"},
    "unreachable": {"zh": "不可达", "en": "Unreachable"},
    "minutes": {"zh": "分钟", "en": "min"},
    "km": {"zh": "公里", "en": "km"},
    "name": {"zh": "名称", "en": "Name"},
    "kind": {"zh": "类型", "en": "Kind"},
    "beds": {"zh": "床位", "en": "Beds"},
    "doctors": {"zh": "医师", "en": "Doctors"},
    "nurses": {"zh": "护士", "en": "Nurses"},
    "ambulances": {"zh": "救护车", "en": "Ambulances"},
    "population": {"zh": "人口", "en": "Population"},
    "township": {"zh": "乡镇", "en": "Township"},
    "note": {"zh": "备注", "en": "Note"},
    "tier": {"zh": "层级", "en": "Tier"},
    "nearest": {"zh": "最近机构", "en": "Nearest"},
    "time": {"zh": "时间", "en": "Time"},
    "failed_rules": {"zh": "未达标规则", "en": "Rules not met"},
    "value": {"zh": "实际", "en": "value"},
    "target": {"zh": "目标", "en": "target"},
    "baseline": {"zh": "现状", "en": "Baseline"},
    "scenario": {"zh": "方案", "en": "Scenario"},
    "minutes_saved": {"zh": "节省时间（分钟）", "en": "Minutes saved"},
    "newly_reachable": {"zh": "新增可达", "en": "Newly reachable"},
    "lost_access": {"zh": "变为不可达", "en": "No longer reachable"},
    "worse": {"zh": "变慢", "en": "Slower"},
    "no_change": {"zh": "无变化", "en": "No change"},
    "changed_facilities": {"zh": "变化的机构", "en": "Changed facilities"},
    "added": {"zh": "新增", "en": "Added"},
    "removed": {"zh": "撤销", "en": "Removed"},
    "upgraded": {"zh": "类型变更（升级）", "en": "Kind changed (upgrade)"},
    "before": {"zh": "现状", "en": "before"},
    "after": {"zh": "方案", "en": "after"},
    "saved": {"zh": "节省", "en": "saved"},
    "ems_radius": {"zh": "急救半径（救护车行车时间）", "en": "Emergency radius (ambulance time)"},
    "walk_15min": {"zh": "15分钟健康服务圈（步行）", "en": "15-minute health circle (walking)"},
    "search": {"zh": "搜索村庄或医疗机构…", "en": "Search villages or facilities…"},
    "summary_panel": {"zh": "覆盖人口汇总（{area}）", "en": "Population covered ({area})"},
    "summary_covered": {"zh": "各时间圈内常住人口（人）及占比", "en": "Residents (persons) within each band, and share"},
    "coverage_curve": {"zh": "覆盖曲线：可达人口占比与出行时间", "en": "Coverage curve: share of residents reached vs minutes"},
    "legend": {"zh": "图例", "en": "Legend"},
    "scale": {"zh": "比例尺", "en": "Scale"},
    "north": {"zh": "北", "en": "N"},
    "data_sources": {"zh": "数据来源", "en": "Data sources"},
    "map_date": {"zh": "制图日期", "en": "Map date"},
    "crs_note": {"zh": "坐标系", "en": "Coordinate system"},
    "synthetic": {"zh": "合成示例数据，非真实县域", "en": "synthetic sample data, not a real county"},
    "roads": {"zh": "道路", "en": "Roads"},
    "service": {"zh": "服务", "en": "Service"},
    "services": {"zh": "提供服务", "en": "Services"},
    "golden_hour": {"zh": "黄金时间（救护车{minutes:g}分钟内）人口占比：",
                    "en": "Golden hour: residents within {minutes:g} min by ambulance:"},
}


MODE_NAMES: dict[str, dict[str, str]] = {
    "drive": {"zh": "行车", "en": "Drive"},
    "walk": {"zh": "步行", "en": "Walking"},
    "ambulance": {"zh": "救护车", "en": "Ambulance"},
}

# Units of the standards table (healthreach.rules) as a reader of each language writes them.
UNITS: dict[str, dict[str, str]] = {
    "m": {"zh": "米", "en": "m"},
    "min": {"zh": "分钟", "en": "min"},
    "vehicles": {"zh": "辆", "en": "vehicles"},
    "persons": {"zh": "人", "en": "persons"},
    "clinics": {"zh": "所", "en": "clinics"},
    "doctors": {"zh": "名", "en": "doctors"},
    "beds": {"zh": "张", "en": "beds"},
    "share": {"zh": "", "en": ""},
    "per 1,000": {"zh": "每千人", "en": "per 1,000"},
    "per 30,000": {"zh": "每3万人", "en": "per 30,000"},
    "per township": {"zh": "每乡镇", "en": "per township"},
    "per village": {"zh": "每村", "en": "per village"},
    "sub-centres": {"zh": "个", "en": "sub-centres"},
    "centres": {"zh": "个", "en": "centres"},
    "tiers linked": {"zh": "级", "en": "tiers linked"},
    "1-3": {"zh": "个（1–3）", "en": "(1–3)"},
    "present": {"zh": "", "en": ""},
}

# `status` of the standards report (issue 14 vocabulary); a report without it has only `passed`.
STATUSES: dict[str, dict[str, str]] = {
    "met": {"zh": "达标", "en": "met"},
    "not_met": {"zh": "未达标", "en": "not met"},
    "below_level": {"zh": "低于规划水平", "en": "below the planned level"},
    "at_level": {"zh": "达到规划水平", "en": "at the planned level"},
    "above_level": {"zh": "高于规划水平", "en": "above the planned level"},
    "advisory": {"zh": "参考", "en": "advisory"},
    "not_applicable": {"zh": "不适用", "en": "not applicable"},
}

_SITING: dict[str, dict[str, str]] = {
    "mclp": {"zh": "最大覆盖选址（MCLP）", "en": "Maximal covering siting (MCLP)"},
    "lscp": {"zh": "集合覆盖选址（LSCP）", "en": "Set covering siting (LSCP)"},
    "pmedian": {"zh": "P中位选址（p-median）", "en": "P-median siting"},
}


def check_lang(lang: str) -> str:
    """Return `lang` if maps can be drawn in it; raise UsageError otherwise."""
    if lang not in LANGS:
        raise UsageError(f"map language must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def text(key: str, lang: str) -> str:
    """The map string `key` in `lang` ('zh' or 'en')."""
    return _TEXT[key][check_lang(lang)]


_UNITS = {"区": "district", "旗": "banner", "市": "city", "县": "county", "盟": "league", "州": "prefecture",
          "省": "province"}
"""Administrative units by the last character of a place's name, as its planners name their whole
(全区 in a district, 全旗 in a banner: a 县 and a 旗 are both county-level, a 区 is a city's district)."""


def _unit(project_name: object) -> str | None:
    """The unit character the project name ends in (bracketed notes and spaces ignored), if any."""
    name = re.sub(r"[（(][^）)]*[）)]", "", str(project_name or "")).strip()
    return name[-1:] if name[-1:] in _UNITS else None


def whole_area(project_name: object, lang: str) -> str:
    """What the summary covers ("全区", "banner"...) by the project name; "全域" / "whole area" when the
    name ends in no unit."""
    unit = _unit(project_name)
    if check_lang(lang) == "zh":
        return f"全{unit}" if unit else "全域"
    return _UNITS[unit] if unit else "whole area"


def boundary_name(project_name: object, lang: str) -> str:
    """The legend's name for the outer boundary: 区界 / 旗界 / 县界... by the project name (县界 otherwise)."""
    unit = _unit(project_name) or "县"
    return f"{unit}界" if check_lang(lang) == "zh" else f"{_UNITS[unit].capitalize()} boundary"


def tier_name(tier: str, lang: str) -> str:
    """Display name of an analysis tier or service tier; the id itself when unknown (escaped later)."""
    return display_name(tier, check_lang(lang))


def kind_name(kind: object, lang: str) -> str:
    """Display name of a facility kind in `lang` (popups speak one language); the kind itself when unknown."""
    spec = KIND_TABLE.get(str(kind))
    if spec is None:
        return str(kind)
    return spec.en if check_lang(lang) == "en" else spec.zh


def esc(value: object) -> str:
    """HTML-escape user text for popups, tooltips, titles and legends.

    Besides `& < > " '`, backticks, `$` and backslashes are replaced by entities, so that text
    stays inert even inside the JavaScript template literals folium writes for some elements.
    """
    escaped = html.escape(str(value), quote=True)
    return escaped.replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")


def mode_name(tier: str, lang: str) -> str:
    """How a tier's times are travelled ('行车', 'Walking', …)."""
    return MODE_NAMES[tier_mode(tier)][check_lang(lang)]


def _name_without_mode(tier: str, lang: str) -> str:
    """The tier's name without a trailing mode note such as '（步行）' (the heading names the mode)."""
    name = tier_name(tier, lang)
    mode = MODE_NAMES[tier_mode(tier)][lang]
    for note in (f"（{mode}）", f" ({mode.lower()})"):
        if name.endswith(note):
            name = name[: -len(note)]
    return name if lang == "zh" else name[:1].lower() + name[1:]


def time_heading(tier: str, lang: str, *, key: str = "time_to") -> str:
    """'到乡镇卫生院行车时间' / 'Drive time to township health centre' (unescaped); `key`
    'villages_time_to' gives the village layer's name."""
    return text(key, lang).format(tier=_name_without_mode(tier, lang), mode=mode_name(tier, lang))


def unit_name(unit: object, lang: str) -> str:
    """A standards unit in `lang`; an unknown unit as it is."""
    return UNITS.get(str(unit), {}).get(check_lang(lang), str(unit))


def status_name(status: str, lang: str) -> str:
    """A standards `status` in `lang`; an unknown one as it is."""
    return STATUSES.get(status, {}).get(check_lang(lang), status)


def service_list(ids: object, lang: str) -> str:
    """Service ids as the standards table lists them ('fever_clinic or fever_sentinel') by name."""
    parts = [p.strip() for p in str(ids).replace(";", " or ").split(" or ") if p.strip()]
    return text("or", lang).join(tier_name(p, lang) if p in SERVICE_TABLE else p for p in parts)


def siting_title(problem: str, kind: str, band_min: float | None, lang: str, *, per_county: bool = False) -> str:
    """Title of an optimized scenario: '最大覆盖选址（MCLP）：乡镇卫生院，30分钟时间圈，求解器方案'.

    `band_min` is named only for problems that use a band (not p-median, which minimises time)."""
    parts = [kind_name(kind, lang)]
    if band_min is not None and problem != "pmedian":
        parts.append(f"{band_min:g}分钟时间圈" if lang == "zh" else f"{band_min:g} min band")
    if per_county:
        parts.append("各县分别选址" if lang == "zh" else "per county")
    parts.append("求解器方案" if lang == "zh" else "solver choice")
    head = _SITING.get(problem, {}).get(check_lang(lang), problem.upper())
    return f"{head}：{'，'.join(parts)}" if lang == "zh" else f"{head}: {', '.join(parts)}"

