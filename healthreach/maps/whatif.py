"""The coverage map's what-if tool: place proposed facilities in the page and see who gains.

`add_whatif` packs the analysis' road network and the villages' baseline times into the page
(healthreach.maps.whatif_pack) with the scripts that recompute travel times in the browser
(whatif_*.js beside this module), and draws the offline road basemap from the same arrays, so the
network is embedded once. Networks of more than `MAX_JUNCTIONS` junctions leave the tool out with a
note in the page (beyond it the file passes 15 MB and a placement 300 ms).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from importlib import resources
from typing import Any

import folium
import numpy as np
import pandas as pd
from branca.element import MacroElement
from jinja2 import Template

from healthreach.config import Settings
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.crs import wgs84_to_gcj02
from healthreach.maps import labels
from healthreach.maps.labels import esc
from healthreach.maps.offline import HtmlBox
from healthreach.maps.whatif_pack import junctions, pack_network
from healthreach.tiers import KIND_TIER, KINDS, TIERS

log = logging.getLogger(__name__)

MAX_JUNCTIONS = 150_000
"""Largest road network (junctions) the page carries the what-if tool for: at 100,000 junctions the
page is about 12 MB and answers in about 60 ms; at 250,000 it passes 23 MB and 300 ms."""
DEFAULT_KIND = "township_hc"
SAVED_CLASSES: tuple[tuple[float, str], ...] = (
    (2.0, "#c7e9c0"), (5.0, "#a1d99b"), (10.0, "#74c476"), (20.0, "#31a354"), (math.inf, "#006d2c"))
"""Upper limits (minutes saved) and colours of the villages that gain; newly reachable ones are purple."""
NEWLY_COLOUR = "#6a51a3"

_TEXT: dict[str, dict[str, Any]] = {
    "title": {"zh": "假如在此新建机构？（在图上试算）", "en": "What if a facility stood here? (try it on the map)"},
    "kind": {"zh": "机构类型", "en": "Kind"},
    "place": {"zh": "在地图上放置", "en": "Place on the map"},
    "placing": {"zh": "请点击地图放置（Esc 取消）；放置后可拖动标记调整位置",
                "en": "Click the map to place it (Esc cancels); drag its marker to move it"},
    "remove": {"zh": "删除", "en": "Remove"},
    "outside": {"zh": "超出路网范围，未接入", "en": "outside the road network: not joined"},
    "access": {"zh": "距道路 {m} 米", "en": "{m} m from the road"},
    "island_skipped": {"zh": "（已越过 {m} 米外孤立的小段道路）", "en": " (past a small road island {m} m away)"},
    "island_stay": {"zh": "（在孤立的小段道路上：{m} 米内无连通路网）",
                    "en": " (on a small road island: no connected road within {m} m)"},
    "not_joined": {"zh": "{m} 米内无可用道路，未接入", "en": "no usable road within {m} m: not joined"},
    "modes": {lang: {mode: names[lang] for mode, names in labels.MODE_NAMES.items()} for lang in labels.LANGS},
    "tier_shown": {"zh": "显示层级", "en": "Tier shown"},
    "band": {"zh": "时间圈", "en": "Band"},
    "before": {"zh": "现状（人）", "en": "Before (persons)"},
    "after": {"zh": "新建后（人）", "en": "After (persons)"},
    "gain": {"zh": "新增覆盖", "en": "Newly within"},
    "minutes": {"zh": "分钟", "en": "min"},
    "mean": {"zh": "人口加权平均（分钟）", "en": "Population-weighted mean (min)"},
    "p95": {"zh": "95% 人口可达时间（分钟）", "en": "95th percentile (min)"},
    "gaining": {"zh": "受益村庄 {n} 个，共 {p} 人", "en": "{n} villages gain ({p} persons)"},
    "saved": {"zh": "节省 {x} 分钟", "en": "{x} min saved"},
    "newly": {"zh": "新增可达", "en": "newly reachable"},
    "saved_legend": {"zh": "节省时间：", "en": "Minutes saved:"},
    "download": {"zh": "下载方案文件（YAML）", "en": "Download scenario (YAML)"},
    "clear": {"zh": "全部清除", "en": "Clear all"},
    "note": {"zh": "在浏览器中按分析引擎的规则计算（无需联网）；下载的方案文件可用 healthreach compare 复核。",
             "en": "Computed in your browser by the engine's rules (no network needed); check the downloaded "
                   "scenario with healthreach compare."},
    "new_prefix": {"zh": "新建", "en": "New "},
    "scenario_title": {"zh": "{project}：在地图上新建{n}处机构", "en": "{project}: {n} facilities placed on the map"},
    "too_large": {"zh": "路网有 {n:,} 个路口，超过在图上试算的上限（{limit:,}），本图未嵌入试算工具；"
                        "请写方案文件并用 healthreach compare 计算。",
                  "en": "The road network has {n:,} junctions, more than the in-map what-if tool takes ({limit:,}): "
                        "write a scenario file and run healthreach compare instead."},
    "no_projection": {"zh": "无法在本图中换算坐标系 {crs}，未嵌入试算工具；请用 healthreach compare。",
                      "en": "The page cannot convert to the coordinate system {crs}: no what-if tool; "
                            "use healthreach compare."},
}


def _text(key: str, lang: str) -> Any:
    return _TEXT[key][labels.check_lang(lang)]


def _script_json(value: object) -> str:
    """JSON that is safe as the text of an HTML <script> element (no '<', '>' or '&' outside escapes)."""
    text = json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def _seconds(values: pd.Series) -> list[float | None]:
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return [float(v) if np.isfinite(v) else None for v in numbers]


def _villages(result: AnalysisResult, tiers: list[str], basemap: str) -> dict[str, Any]:
    """Village ids, names, persons, display position and baseline seconds per tier (None: unreachable)."""
    villages = result.villages
    points = villages.geometry.to_crs(4326).representative_point()
    lon, lat = points.x.to_numpy(), points.y.to_numpy()
    if basemap == "amap":
        lon, lat = wgs84_to_gcj02(lon, lat)
    population = pd.to_numeric(villages["population"], errors="coerce").fillna(0).to_numpy(dtype=float)
    return {
        "vid": villages["vid"].astype(str).tolist(),
        "name": villages["name"].fillna("").astype(str).tolist(),
        "population": population.tolist(),
        "latlon": [[round(float(a), 6), round(float(o), 6)] for a, o in zip(lat, lon)],
        "before": {tier: _seconds(villages[f"{tier}_time_s"]) for tier in tiers},
    }


def whatif_payload(result: AnalysisResult, settings: Settings, *, lang: str, basemap: str = "none"
                   ) -> dict[str, Any] | None:
    """Everything the page's what-if script reads, or None when the projection cannot be fitted."""
    if result.edges is None or result.crs is None:
        raise ValueError("the analysis result carries no road edge table or CRS to pack")
    tiers = [t for t in TIERS if f"{t}_time_s" in result.villages.columns]
    network = pack_network(result.edges, result.villages, settings, result.crs)
    if network is None:
        return None
    kinds = {k: {"name": labels.kind_name(k, lang), "tier": KIND_TIER[k]} for k in KINDS if KIND_TIER[k] in tiers}
    unit = _text("minutes", lang)
    lower = 0.0
    classes = []
    for upper, colour in SAVED_CLASSES:
        label = f"{lower:g}–{upper:g} {unit}" if math.isfinite(upper) else f"≥ {lower:g} {unit}"
        classes.append([upper if math.isfinite(upper) else 1e9, colour, label])
        lower = upper
    return {
        "project": result.project_name, "gcj02": basemap == "amap", "bands_min": list(settings.bands_min),
        "network": network, "villages": _villages(result, tiers, basemap),
        "tiers": {t: {"name": labels.tier_name(t, lang), "mode": TIERS[t].mode, "toward": TIERS[t].toward,
                      "kinds": list(TIERS[t].kinds), "colour": TIERS[t].colour} for t in tiers},
        "kinds": kinds, "default_kind": DEFAULT_KIND if DEFAULT_KIND in kinds else next(iter(kinds), None),
        "fids": result.facilities["fid"].astype(str).tolist() if len(result.facilities) else [],
        "saved_classes": classes, "newly_colour": NEWLY_COLOUR,
        "text": {key: _text(key, lang) for key in _TEXT},
    }


SCRIPTS = ("whatif_engine.js", "whatif_roads.js", "whatif_panel.js")
"""The page scripts beside this module: the engine (routing, figures, scenario file), the road tiles,
and the panel with window.healthreach; together they define healthreachWhatIf(map, data, roadsGroup)."""


def whatif_script() -> str:
    """The page scripts, in order."""
    folder = resources.files("healthreach.maps")
    return "\n".join(folder.joinpath(name).read_text("utf-8") for name in SCRIPTS)


class WhatIfTool(MacroElement):
    """The what-if panel and engine: the payload as a JSON <script>, then the script started on the map."""

    _template = Template(
        "{% macro html(this, kwargs) %}"
        "<script type=\"application/json\" id=\"{{ this.get_name() }}\">{{ this.payload }}</script>"
        "{% endmacro %}"
        "{% macro script(this, kwargs) %}"
        "{{ this.code }}\n"
        "healthreachWhatIf({{ this._parent.get_name() }}, "
        "JSON.parse(document.getElementById(\"{{ this.get_name() }}\").textContent), {{ this.roads }});\n"
        "{% endmacro %}"
    )

    def __init__(self, payload: dict[str, Any], roads: folium.FeatureGroup) -> None:
        super().__init__()
        self._name = "WhatIfTool"
        self.payload = _script_json(payload)
        self.code = whatif_script()
        self.roads = roads.get_name()


def _note(message: str, lang: str) -> HtmlBox:
    return HtmlBox(f"<details class='hr-box hr-whatif' style='top:56px;right:10px;max-width:300px'>"
                   f"<summary>{esc(_text('title', lang))}</summary><p>{esc(message)}</p></details>")


def add_whatif(m: folium.Map, result: AnalysisResult, settings: Settings | None, *, lang: str,
               basemap: str = "none") -> bool:
    """Add the what-if tool to the coverage map `m`; True when it also draws the road basemap.

    Without `settings` or the result's edge table there is nothing to add; a network over
    MAX_JUNCTIONS junctions (or a CRS the page cannot convert to) gets a note instead.
    """
    if settings is None or result.edges is None or result.crs is None or not len(result.edges) \
            or not len(result.villages):
        return False
    n = len(junctions(result.edges).ids)
    if n > MAX_JUNCTIONS:
        log.info("what-if tool left out: %d junctions (limit %d)", n, MAX_JUNCTIONS)
        m.add_child(_note(_text("too_large", lang).format(n=n, limit=MAX_JUNCTIONS), lang))
        return False
    payload = whatif_payload(result, settings, lang=lang, basemap=basemap)
    if payload is None:
        m.add_child(_note(_text("no_projection", lang).format(crs=result.crs), lang))
        return False
    roads = folium.FeatureGroup(name=esc(labels.text("basemap_roads", lang)), show=True)
    roads.add_to(m)
    m.add_child(WhatIfTool(payload, roads))
    return True


def without_roads(result: AnalysisResult) -> AnalysisResult:
    """`result` with no road lines: for the basemap when the what-if tool draws the roads itself."""
    return dataclasses.replace(result, roads=result.roads.iloc[:0])
