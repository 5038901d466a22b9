"""The rules table of standards.md and the road-class defaults, with their sources, in one place.

Every figure a check or a default uses is read from here; a project's `parameters:` overrides them
(see healthreach.config.settings_from_parameters).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Rule:
    """One planning rule: a target value with its unit and where it comes from."""

    id: str
    title_zh: str
    title_en: str
    value: float
    unit: str
    source: str


RULES: dict[str, Rule] = {
    r.id: r
    for r in (
        Rule("EMS-RADIUS-URBAN", "城市急救服务半径", "Emergency service radius, urban", 5000, "m",
             "忻政发〔2023〕14号 §四(一)6 (seed 003)"),
        Rule("EMS-RADIUS-RURAL", "农村急救服务半径", "Emergency service radius, rural (upper bound)", 20000,
             "m", "忻政发〔2023〕14号 §四(一)6 (seed 003); 偏政办发〔2024〕5号 item 11 (seed 001)"),
        Rule("EMS-RADIUS-RURAL-10KM", "农村急救服务半径（10公里）", "Emergency service radius, rural (10 km figure)",
             10000, "m", "忻政发〔2023〕14号 §四(一)6 (seed 003): 10–20 km"),
        Rule("EMS-AMB-POP", "每3万人口救护车数", "Ambulances per 30,000 residents", 1, "per 30,000",
             "忻政发〔2023〕14号 §四(一)6 (seed 003)"),
        Rule("EMS-AMB-THC", "每个乡镇卫生院救护车", "Ambulances per township health centre", 1, "vehicles",
             "偏政办发〔2024〕5号 item 11 (seed 001)"),
        Rule("EMS-3TIER", "农村三级急救网络",
             "Rural emergency network: county emergency centre -> sub-centre -> township health centre", 3,
             "tiers linked", "忻政发〔2023〕14号 §四(一)6 (seed 003); 朔政办发〔2023〕42号 §二(一)3 (seed 000); "
             "偏政办发〔2024〕5号 item 11 (seed 001)"),
        Rule("URBAN-15MIN", "城市社区15分钟步行服务圈", "Urban 15-minute walking circle to a community station",
             15, "min", "忻政发〔2023〕14号 §四(三)1 (seed 003)"),
        Rule("MED-15MIN", "15分钟医疗服务圈", "15-minute medical service circle", 15, "min",
             "National Health Commission, 6th National Health Services Survey (2022, 2025): 90% of households"),
        Rule("MED-15MIN-SHARE", "15分钟医疗服务圈覆盖率", "Share of residents in the 15-minute circle", 0.90,
             "share", "National Health Commission, 6th National Health Services Survey (2022, 2025)"),
        Rule("THC-PER-TOWNSHIP", "每个乡镇一所乡镇卫生院", "One township health centre per township", 1,
             "per township", "忻政发〔2023〕14号 §四(三)1 (seed 003)"),
        Rule("VC-PER-VILLAGE", "每个行政村一个村卫生室", "One village clinic per administrative village", 1,
             "per village", "忻政发〔2023〕14号 §四(三)1 (seed 003); 朔政办发〔2023〕42号 §二(一)3 (seed 000)"),
        Rule("VC-EXEMPT", "人口少于200人的行政村可巡诊", "Villages under 200 residents may be served by visits",
             200, "persons", "偏政办发〔2024〕5号 item 3 (seed 001)"),
        Rule("VD-PER-POP", "每千服务人口村医数", "Village doctors per 1,000 served residents", 1,
             "per 1,000", "忻政发〔2023〕14号 §四(三)3 (seed 003); 偏政办发〔2024〕5号 item 3 (seed 001)"),
        Rule("BEDS-COUNTY", "每千人口县办医院及基层床位", "Beds, county hospitals + grassroots, per 1,000", 3.5,
             "per 1,000", "忻政发〔2023〕14号 Table 1 (seed 003); 城政办发〔2023〕28号 §二(一)1 (seed 002)"),
        Rule("SUBCENTRE-COUNT", "县域医疗次中心数量", "County medical sub-centres per county", 1, "1-3",
             "朔政办发〔2023〕42号 §二(一)3 (seed 000); 忻政发〔2023〕14号 §五(四)3 (seed 003)"),
        Rule("FIVE-CENTRES", "急诊急救五大中心全覆盖",
             "Five emergency centres in every county (chest pain, stroke, trauma, critical maternal, "
             "critical neonatal)", 5, "centres",
             "朔政办发〔2023〕42号 §二(一)4 (seed 000); 城政办发〔2023〕28号 §二(二)7 (seed 002)"),
        Rule("GOLDEN-HOUR", "五大中心黄金1小时（假设）",
             "Golden hour: ambulance transport to each emergency centre (assumption: the seeds set no time)",
             60, "min", "healthreach assumption (not in the seeds); overridable in parameters.rules"),
        Rule("FEVER-SENTINEL", "乡镇卫生院和社区卫生服务中心设置发热诊室（门诊、哨点）",
             "Fever room (sentinel) in every township health centre and community centre; a fever clinic "
             "in central township health centres", 1.0, "share",
             "偏政办发〔2024〕5号 item 18 (seed 001); 忻政发〔2023〕14号 Table 1 (seed 003): 100%"),
        Rule("INFECTIOUS-DEPT", "二级以上综合医院设置感染性疾病科",
             "Infectious-disease department in every secondary or higher general hospital", 1.0, "share",
             "忻政发〔2023〕14号 Table 1 (seed 003): 100%; 偏政办发〔2024〕5号 item 18 (seed 001)"),
        Rule("TCM-HALL", "设置中医馆的乡镇卫生院和社区卫生服务中心",
             "TCM hall in every township health centre and community health service centre", 1.0, "share",
             "忻政发〔2023〕14号 Table 1, §五(三)3 (seed 003): 100%; 偏政办发〔2024〕5号 item 12 (seed 001)"),
        Rule("GERIATRICS-70", "二级以上综合医院设置老年医学科的比例",
             "Share of secondary or higher general hospitals with a geriatrics department", 0.70, "share",
             "忻政发〔2023〕14号 Table 1 (seed 003): ≥70%"),
        Rule("REHAB-DEPT", "常住人口超过30万的县至少1所县级公立医院设置康复医学科",
             "Counties above this many residents need a county public hospital with a rehabilitation "
             "department", 300000, "persons", "忻政发〔2023〕14号 §四(四)1 (seed 003)"),
        Rule("BEDS-TOTAL", "每千常住人口医疗卫生机构床位数", "Beds in all medical institutions per 1,000", 7.5,
             "per 1,000", "忻政发〔2023〕14号 Table 1, §三(二) (seed 003)"),
        Rule("BEDS-TCM", "每千常住人口公立中医医院床位数", "Public TCM hospital beds per 1,000", 0.85,
             "per 1,000", "忻政发〔2023〕14号 §三(二) text (seed 003; Table 1 gives 1.60)"),
        Rule("DOCTORS", "每千常住人口执业（助理）医师数", "Licensed (assistant) physicians per 1,000", 3.0,
             "per 1,000", "忻政发〔2023〕14号 Table 1, §三(三) (seed 003)"),
        Rule("NURSES", "每千常住人口注册护士数", "Registered nurses per 1,000", 3.0, "per 1,000",
             "忻政发〔2023〕14号 Table 1, §三(三) (seed 003)"),
        Rule("GP", "每万常住人口全科医生数", "General practitioners per 10,000", 3.0, "per 10,000",
             "忻政发〔2023〕14号 Table 1 (seed 003; binding; the text §三(三) gives 3.5)"),
    )
}


# Road-class speeds (km/h) when OSM has no maxspeed: standards.md "Defaults the seeds do not fix".
CLASS_SPEEDS_KMH: dict[str, float] = {
    "motorway": 100, "trunk": 80, "primary": 60, "secondary": 50, "tertiary": 40,
    "unclassified": 30, "residential": 30, "road": 30, "living_street": 15, "service": 15, "track": 15,
}
# Design speeds (km/h) of Chinese highway grades, the cap on ambulance speeds (JTG B01-2014 grades:
# expressway 120, class-1 100, class-2 80/60, class-3 40, class-4 30/20).
DESIGN_SPEEDS_KMH: dict[str, float] = {
    "motorway": 120, "trunk": 100, "primary": 80, "secondary": 60, "tertiary": 40,
    "unclassified": 30, "residential": 30, "road": 30, "living_street": 20, "service": 20, "track": 20,
}
WALK_ONLY_CLASSES = frozenset({"footway", "path", "pedestrian", "steps", "cycleway", "bridleway", "corridor"})
NO_WALK_CLASSES = frozenset({"motorway"})


def base_class(highway: str) -> str:
    """OSM class without its `_link` suffix ('primary_link' -> 'primary')."""
    return highway[:-5] if highway.endswith("_link") else highway
