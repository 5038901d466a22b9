"""Map strings in Chinese and English, and the escaping every user-supplied text goes through."""
from __future__ import annotations

import html

from healthreach._errors import UsageError
from healthreach.tiers import KIND_TABLE, display_name

LANGS: tuple[str, ...] = ("zh", "en")

_TEXT: dict[str, dict[str, str]] = {
    "coverage_map": {"zh": "医疗服务可达性", "en": "Health service access"},
    "scenario_map": {"zh": "方案对比", "en": "Scenario comparison"},
    "basemap_roads": {"zh": "道路（离线底图）", "en": "Roads (offline basemap)"},
    "basemap_boundaries": {"zh": "行政边界", "en": "Boundaries"},
    "village_names": {"zh": "村名", "en": "Village names"},
    "facilities": {"zh": "医疗机构", "en": "Facilities"},
    "catchments": {"zh": "服务范围", "en": "Catchment"},
    "villages_by_time": {"zh": "村庄：到乡镇卫生院时间", "en": "Villages: time to township health centre"},
    "villages_unreachable": {"zh": "不可达村庄", "en": "Unreachable villages"},
    "villages_failing": {"zh": "未达标村庄", "en": "Villages failing standards"},
    "legend_time": {"zh": "到乡镇卫生院行车时间", "en": "Drive time to township health centre"},
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
    "distance": {"zh": "距离", "en": "Distance"},
    "band": {"zh": "时间圈", "en": "Band"},
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
    "summary_panel": {"zh": "覆盖人口汇总（全县）", "en": "Population covered (county)"},
    "summary_covered": {"zh": "各时间圈内常住人口（人）及占比", "en": "Residents (persons) within each band, and share"},
    "coverage_curve": {"zh": "覆盖曲线：可达人口占比与出行时间", "en": "Coverage curve: share of residents reached vs minutes"},
    "legend": {"zh": "图例", "en": "Legend"},
    "villages_legend": {"zh": "村庄（按到乡镇卫生院时间）", "en": "Villages (time to township health centre)"},
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


def check_lang(lang: str) -> str:
    """Return `lang` if maps can be drawn in it; raise UsageError otherwise."""
    if lang not in LANGS:
        raise UsageError(f"map language must be one of {', '.join(LANGS)}, got {lang!r}")
    return lang


def text(key: str, lang: str) -> str:
    """The map string `key` in `lang` ('zh' or 'en')."""
    return _TEXT[key][check_lang(lang)]


def tier_name(tier: str, lang: str) -> str:
    """Display name of an analysis tier or service tier; the id itself when unknown (escaped later)."""
    return display_name(tier, check_lang(lang))


def kind_name(kind: object, lang: str) -> str:
    """Display name of a facility kind: Chinese, with the English name first when lang='en'."""
    spec = KIND_TABLE.get(str(kind))
    if spec is None:
        return str(kind)
    return f"{spec.en} ({spec.zh})" if check_lang(lang) == "en" else spec.zh


def esc(value: object) -> str:
    """HTML-escape user text for popups, tooltips, titles and legends.

    Besides `& < > " '`, backticks, `$` and backslashes are replaced by entities, so that text
    stays inert even inside the JavaScript template literals folium writes for some elements.
    """
    escaped = html.escape(str(value), quote=True)
    return escaped.replace("`", "&#96;").replace("$", "&#36;").replace("\\", "&#92;")
