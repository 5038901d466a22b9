"""The rules table of standards.md and the road-class defaults, with their sources, in one place.

Every figure, threshold and interpretation choice a check uses is read from here; a project's
`parameters: rules:` overrides them (see healthreach.config.settings_from_parameters). docs/rules.md
lists every rule with its plan, scope and the statuses its rows can take.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

KINDS = ("floor", "ceiling", "range", "level", "advisory", "choice", "figure")
"""floor: met at or above the figure; ceiling: met at or below it; range: met from `value` to `upper`;
level: a planning level ("左右"), reported below / at / above within `tolerance`; advisory: the plans
ask for it only where conditions allow ("有条件的"); choice: holds interpretation choices other rules
read; figure: a figure other parts of healthreach use (no rows of its own)."""

LEVEL_TOLERANCE = 0.10
"""Relative band around a level that counts as "at level" (±10 %): a healthreach assumption, since the
plans' "左右" (about) fixes no band. Overridable per rule: `rules: {BEDS-COUNTY: {tolerance: 0.05}}`."""


@dataclass(frozen=True)
class Option:
    """An interpretation choice the plans leave open: its current value and what it means."""

    name: str
    value: float | str | tuple[str, ...]
    doc: str
    allowed: tuple[str, ...] = ()
    """The values a text choice may take (empty: any number > 0, or any list of texts)."""


@dataclass(frozen=True)
class PlanFigure:
    """The figure one plan gives where the plans disagree."""

    key: str
    value: float
    source: str


@dataclass(frozen=True)
class Rule:
    """One planning rule: a target with its unit, where it comes from and how it is read."""

    id: str
    title_zh: str
    title_en: str
    value: float
    unit: str
    source: str
    kind: str = "floor"
    upper: float | None = None
    """Upper end of a range rule (SUBCENTRE-COUNT 1–3)."""
    tolerance: float = 0.0
    """Level rules: |value - target| <= tolerance x target is "at level"."""
    scope: str = "county"
    """Where rows are reported (docs): village, facility, township, county, city."""
    above: str = ""
    """Level rules: what the plans conclude above the level."""
    below: str = ""
    """Level rules: what the plans conclude below the level."""
    plan: str = ""
    """Key of the plan figure in use (`figures`), when the plans disagree."""
    figures: tuple[PlanFigure, ...] = ()
    options: tuple[Option, ...] = ()
    indication: bool = False
    """County rows are an indication of a city-wide target (standards.md, "How to read the targets")."""
    set_by_project: tuple[str, ...] = ()
    """What the project file changed (value, upper, tolerance, plan or an option's name), for the notes."""

    def option(self, name: str) -> float | str | tuple[str, ...]:
        """The current value of the choice `name`."""
        for opt in self.options:
            if opt.name == name:
                return opt.value
        raise KeyError(f"rule {self.id} has no option {name!r}")

    def with_option(self, name: str, value: float | str | tuple[str, ...]) -> Rule:
        self.option(name)  # unknown names raise
        return replace(self, options=tuple(replace(o, value=value) if o.name == name else o for o in self.options))

    def with_plan(self, key: str) -> Rule:
        """This rule with the figure of plan `key` (one of `figures`)."""
        figure = next(f for f in self.figures if f.key == key)
        return replace(self, plan=key, value=figure.value)


_T1 = "忻政发〔2023〕14号 Table 1 (seed 003)"
_NO_NEW_BEDS = "超出当地床位规划目标的地区不再新增床位 (seed 003 §三(二)4): no new beds above the level"
_ROOM_FOR_BEDS = "below the planned level: room to add beds up to it (seed 003 §三(二)1: 加大向县域倾斜力度)"
INDICATION_NOTE = ("a city-wide 2025 target of seed 003 (city-run and private institutions included): an "
                   "indication at county level only")

_RULES: tuple[Rule, ...] = (
    # ------------------------------------------------------------------ emergency care
    Rule("EMS-RADIUS-URBAN", "城市急救服务半径", "Emergency service radius, urban", 5000, "m",
         "忻政发〔2023〕14号 §四(一)6 (seed 003)", kind="ceiling", scope="village, township, county"),
    Rule("EMS-RADIUS-RURAL", "农村急救服务半径", "Emergency service radius, rural (upper bound)", 20000, "m",
         "忻政发〔2023〕14号 §四(一)6 (seed 003); 偏政办发〔2024〕5号 item 11 (seed 001)", kind="ceiling",
         scope="village, township, county"),
    Rule("EMS-RADIUS-RURAL-10KM", "农村急救服务半径（10公里）", "Emergency service radius, rural (10 km figure)",
         10000, "m", "忻政发〔2023〕14号 §四(一)6 (seed 003): 10–20 km", kind="advisory", scope="township, county"),
    Rule("EMS-BASES", "急救服务半径的起点", "Which ambulance bases the radius rules measure from", 0, "",
         "healthreach assumption: 003 §四(一)6 sets the radius of 急救中心（站）; 001 item 11 puts ambulances "
         "in every township health centre for the 10–20 km rural network", kind="choice", scope="-",
         options=(Option("bases", "any", "any: every facility with an ambulance (emergency centres and stations, "
                         "and hospitals or health centres with ambulances > 0); stations: emergency centres and "
                         "stations (急救中心、急救站) only", allowed=("any", "stations")),)),
    Rule("EMS-AMB-POP", "每3万人口救护车数", "Ambulances per 30,000 residents", 1, "per 30,000",
         "忻政发〔2023〕14号 §四(一)6 (seed 003): 不低于每3万人口配置1辆，偏远地区可增加"),
    Rule("EMS-AMB-THC", "每个乡镇卫生院至少一辆救护车", "At least one ambulance per township health centre", 1,
         "vehicles", "偏政办发〔2024〕5号 item 11 (seed 001)", scope="facility"),
    Rule("EMS-CENTRE", "县级急救中心（站）", "An emergency centre or station in every county", 1, "centres",
         "忻政发〔2023〕14号 §四(一)6 (seed 003)"),
    Rule("EMS-3TIER", "农村县级急救中心—中心乡镇卫生院—乡镇卫生院三级急救网",
         "Rural emergency network: county emergency centre -> central township health centre -> township "
         "health centre", 3, "tiers linked", "忻政发〔2023〕14号 §四(一)6 (seed 003)", scope="township"),
    Rule("REFERRAL-3TIER", "县乡村三级农村急救转诊网络",
         "County-township-village rural emergency referral network", 3, "tiers linked",
         "朔政办发〔2023〕42号 §二(一)3 (seed 000); 偏政办发〔2024〕5号 item 11 (seed 001); "
         "忻政发〔2023〕14号 §五(四)4 (seed 003)", scope="township"),
    Rule("FIVE-CENTRES", "急诊急救五大中心全覆盖",
         "Five emergency centres in every county (chest pain, stroke, trauma, critical maternal, critical "
         "neonatal)", 5, "centres",
         "朔政办发〔2023〕42号 §二(一)4 (seed 000); 城政办发〔2023〕28号 §二(二)7 (seed 002); "
         "乌拉特中旗方案 item 2 (seed 004)"),
    Rule("GOLDEN-HOUR", "五大中心黄金1小时（假设）",
         "Golden hour: ambulance transport to each emergency centre (assumption: the seeds set no time)",
         60, "min", "healthreach assumption (not in the seeds); overridable in parameters.rules", kind="figure",
         scope="-"),
    # ------------------------------------------------------------------ access circles
    Rule("URBAN-15MIN", "城市社区15分钟服务圈（步行）", "Urban 15-minute circle to a community health facility "
         "(walking: healthreach assumption)", 15, "min", "忻政发〔2023〕14号 §四(三)1 (seed 003)",
         kind="ceiling", scope="village, township, county"),
    Rule("MED-15MIN-SHARE", "15分钟医疗服务圈覆盖率（全国参考）",
         "Share of residents within 15 minutes of a medical point (national reference)", 0.90, "share",
         "National Health Commission, 6th National Health Services Survey (2022, 2025): 90% of households; "
         "a national reference, not a target of the seeds",
         options=(Option("minutes", 15.0, "minutes to the nearest medical point of any tier (driving; "
                         "walking for community stations)"),)),
    # ------------------------------------------------------------------ grassroots institutions
    Rule("ADMIN-UNITS", "街道、市辖区的识别", "How subdistricts and urban districts are recognised", 0, "",
         "healthreach assumption: names as the plans use them (003 §四(三)1: 乡镇 vs 街道; 003 §四(二)2: 市辖区)",
         kind="choice", scope="-",
         options=(Option("street_suffixes", ("街道", "办事处"), "a township whose name ends so is an urban "
                         "subdistrict (街道): CHC-PER-STREET applies there, not the township rules"),
                  Option("district_suffixes", ("区",), "a county whose name (before any bracket) ends so is an "
                         "urban district (市辖区)"))),
    Rule("THC-PER-TOWNSHIP", "每个乡镇一所乡镇卫生院", "One township health centre per township", 1,
         "per township", "忻政发〔2023〕14号 §四(三)1 (seed 003)", scope="township"),
    Rule("CHC-PER-STREET", "每个街道（或3—10万人）一家社区卫生服务中心",
         "One community health service centre per subdistrict (街道) or per 30,000–100,000 residents", 1,
         "centres", "忻政发〔2023〕14号 §四(三)1 (seed 003)", scope="township",
         options=(Option("residents_low", 30000.0, "a 乡/镇 with at least this many urban residents needs a "
                         "centre too (the plan's 3万)"),
                  Option("residents_high", 100000.0, "one centre per this many residents at most (the plan's "
                         "10万): a larger 街道 needs more"))),
    Rule("VC-PER-VILLAGE", "每个行政村一个村卫生室", "One village clinic per administrative village", 1,
         "per village", "忻政发〔2023〕14号 §四(三)1 (seed 003); 朔政办发〔2023〕42号 §二(一)3 (seed 000)",
         scope="village, township, county"),
    Rule("VC-EXEMPT", "临近乡镇卫生院或常住人口不足200人的行政村可不单设村卫生室",
         "Villages near a township health centre or under 200 residents may go without a clinic", 200, "persons",
         "偏政办发〔2024〕5号 item 3 (seed 001)", scope="village",
         options=(Option("near_m", 2000.0, "'near a township health centre' (临近乡镇卫生院; the plan fixes no "
                         "distance): at most this many metres by road to the nearest one — healthreach "
                         "assumption"),)),
    Rule("VD-PER-POP", "每千服务人口不少于1名乡村医生", "Village doctors: at least 1 per 1,000 served residents",
         1, "per 1,000", "忻政发〔2023〕14号 §四(三)3 (seed 003); 偏政办发〔2024〕5号 item 3 (seed 001)",
         scope="village, township",
         options=(Option("per", 1000.0, "served residents per `value` doctors (每千名服务人口)"),
                  Option("allowance_per", 500.0, "one more doctor *may* be added per further this many "
                         "residents (每增加500人可增配1名): an allowance, not a requirement"))),
    Rule("THC-STAFF", "乡镇卫生院人员按服务人口1%左右配置",
         "Township health centre staff about 1 % of the service population", 0.01, "share",
         "乌拉特中旗方案 item 17 (seed 004)", kind="level", tolerance=LEVEL_TOLERANCE, scope="township",
         above="above the level: the establishment is reviewed every 5 years (seed 004 item 17: 每5年动态调整)",
         below="below the level: room to add posts up to about 1 % (seed 004 item 17)"),
    Rule("SUBCENTRE-COUNT", "每县1—3所县域医疗次中心", "County medical sub-centres per county", 1, "sub-centres",
         "朔政办发〔2023〕42号 §二(一)3 (seed 000); 忻政发〔2023〕14号 §五(四)3, 专栏4 (seed 003)",
         kind="range", upper=3),
    Rule("SUBCENTRE-LEVEL", "县域医疗次中心按二级医院水平建设", "County medical sub-centres at secondary-hospital "
         "level", 2, "grade", "偏政办发〔2024〕5号 item 2 (seed 001); 忻政发〔2023〕14号 §三(二)4, §五(四)3 (seed 003)",
         scope="facility, county"),
    Rule("FEVER-SENTINEL", "乡镇卫生院和社区卫生服务中心设置发热诊室（门诊、哨点）",
         "Fever room, clinic or sentinel in every township health centre and community health service centre",
         1.0, "share", f"{_T1}: 100%; 偏政办发〔2024〕5号 item 18 (seed 001)", scope="facility, county"),
    Rule("FEVER-CLINIC", "有条件的乡镇中心卫生院建立标准化发热门诊",
         "A fever clinic in central township health centres where conditions allow", 1, "present",
         "偏政办发〔2024〕5号 item 18 (seed 001): 有条件的", kind="advisory", scope="facility"),
    Rule("TCM-HALL", "乡镇卫生院和社区卫生服务中心设置中医馆",
         "TCM hall in every township health centre and community health service centre", 1.0, "share",
         f"{_T1}: 100%; 忻政发〔2023〕14号 §五(三)1, 专栏3 (seed 003); 偏政办发〔2024〕5号 item 12 (seed 001)",
         scope="facility, county"),
    # ------------------------------------------------------------------ hospitals
    Rule("COUNTY-HOSP", "每县一所县办综合医院和一所县办中医类医院",
         "One county general hospital and one county TCM hospital per county", 2, "hospitals",
         "忻政发〔2023〕14号 §四(二)2 (seed 003); 朔政办发〔2023〕42号 §二(一)4 (seed 000)"),
    Rule("MCH-CDC", "每县一个妇幼保健机构和一个疾病预防控制中心",
         "One maternal and child health institution and one CDC per county", 2, "institutions",
         "忻政发〔2023〕14号 §四(一)1, §四(一)3 (seed 003)"),
    Rule("REGIONAL-CENTRE", "市级区域医疗中心1—2个（政府所在地之外）",
         "1–2 city regional medical centres, outside the city seat", 1, "centres",
         "朔政办发〔2023〕42号 §二(一)5 (seed 000); 忻政发〔2023〕14号 §三(二)4, 专栏2 (seed 003)",
         kind="range", upper=2, scope="city",
         options=(Option("city_seat", "", "name of the county or district that is the city seat (its centres "
                         "do not count); empty: not checked"),)),
    Rule("INFECTIOUS-DEPT", "二级以上综合医院（含中医医院）设置感染性疾病科",
         "Infectious-disease department in every secondary or higher general hospital (TCM hospitals included)",
         1.0, "share", f"{_T1}: 100%; 忻政发〔2023〕14号 §五(一)3 (seed 003); 偏政办发〔2024〕5号 item 18 (seed 001)",
         scope="facility, county"),
    Rule("GERIATRICS", "二级以上综合医院（含中医医院）设置老年医学科的比例",
         "Share of secondary or higher general hospitals (TCM hospitals included) with a geriatrics department",
         0.70, "share", _T1, plan="003-table1", figures=(
             PlanFigure("003-table1", 0.70, f"{_T1}: ≥70%"),
             PlanFigure("003-text", 0.60, "忻政发〔2023〕14号 §五(五)1 (seed 003): 60%以上"),
             PlanFigure("004", 0.90, "乌拉特中旗方案 item 9 (seed 004): 二级公立综合医院 90%以上"))),
    Rule("REHAB-DEPT", "常住人口超过30万的县至少1所县级公立医院设置康复医学科",
         "Counties above 300,000 residents: a county public hospital with a rehabilitation department", 1,
         "hospitals", "忻政发〔2023〕14号 §四(四)1 (seed 003)",
         options=(Option("threshold", 300000.0, "residents above which a department (REHAB-DEPT) rather than an "
                         "outpatient clinic (REHAB-OUTPATIENT) is asked for (the plan's 30万)"),)),
    Rule("REHAB-OUTPATIENT", "常住人口30万以下的县至少1所县级公立医院设置康复医学科门诊",
         "Counties of 300,000 residents or fewer: a county public hospital with a rehabilitation clinic", 1,
         "hospitals", "忻政发〔2023〕14号 §四(四)1 (seed 003)"),
    Rule("REHAB-HOSP", "二级以上综合医院（含中医医院）设置康复医学科",
         "Rehabilitation department in every secondary or higher general hospital (TCM hospitals included)",
         1.0, "share", "忻政发〔2023〕14号 §四(四)1 (seed 003): 100%", scope="facility, county"),
    Rule("REHAB-COMMUNITY", "社区医疗机构康复服务设置达50%以上",
         "Share of community health institutions offering rehabilitation", 0.5, "share",
         "忻政发〔2023〕14号 §四(四)1 (seed 003)"),
    # ------------------------------------------------------------------ resources (county indications)
    Rule("BEDS-TOTAL", "每千常住人口医疗卫生机构床位数7.50张左右", "Beds in all medical institutions per 1,000",
         7.5, "per 1,000", "忻政发〔2023〕14号 Table 1, §三(二)1 (seed 003)", kind="level",
         tolerance=LEVEL_TOLERANCE,
         above="above the city-wide level, city-run and private beds included (the county's own part is BEDS-COUNTY)",
         below="below the city-wide level, which includes city-run (2.20) and private (1.60) beds a county may not "
               "have: the county's own part is BEDS-COUNTY", indication=True),
    Rule("BEDS-COUNTY", "每千常住人口县办公立医院及基层医疗卫生机构床位3.50张左右",
         "Beds, county-run public hospitals + grassroots institutions, per 1,000", 3.5, "per 1,000",
         "忻政发〔2023〕14号 Table 1, §三(二)1 (seed 003); 城政办发〔2023〕28号 §二(一)1 (seed 002: 区域公立医疗卫生"
         "机构床位达到3.5张/千人)", kind="level", tolerance=LEVEL_TOLERANCE, above=_NO_NEW_BEDS,
         below=_ROOM_FOR_BEDS, indication=True),
    Rule("BEDS-TCM", "每千常住人口公立中医医院床位数", "Public TCM hospital beds per 1,000", 0.85, "per 1,000",
         "忻政发〔2023〕14号 §三(二)2 (seed 003)", kind="level", tolerance=LEVEL_TOLERANCE,
         above="above the planned level of public TCM beds (003 §三(二)2: 按照…0.85张左右配置)",
         below="below the planned level: room to add public TCM beds up to it (003 §三(二)2)", plan="003-text", figures=(
             PlanFigure("003-text", 0.85, "忻政发〔2023〕14号 §三(二)2 (seed 003): 0.85张左右"),
             PlanFigure("003-table1", 1.60, f"{_T1}: 1.60")), indication=True),
    Rule("DOCTORS", "每千常住人口执业（助理）医师数", "Licensed (assistant) physicians per 1,000", 3.0,
         "per 1,000", "忻政发〔2023〕14号 Table 1, §三(三)2 (seed 003)", indication=True),
    Rule("NURSES", "每千常住人口注册护士数", "Registered nurses per 1,000", 3.0, "per 1,000",
         "忻政发〔2023〕14号 Table 1, §三(三)2 (seed 003)", indication=True),
    Rule("GP", "每万常住人口全科医生数", "General practitioners per 10,000", 3.0, "per 10,000", _T1,
         plan="003-table1", figures=(
             PlanFigure("003-table1", 3.0, f"{_T1}: 3.0 (约束性, binding)"),
             PlanFigure("003-text", 3.5, "忻政发〔2023〕14号 §三(三)2 (seed 003): 3.5")), indication=True),
    Rule("DOCTOR-NURSE", "医护比", "Registered nurses per licensed physician", 1.0, "nurses per doctor", _T1,
         plan="003-table1", figures=(
             PlanFigure("003-table1", 1.0, f"{_T1}: 1:1"),
             PlanFigure("003-text", 1.1, "忻政发〔2023〕14号 §三(三)2 (seed 003): 1:1.1")), indication=True),
    Rule("DOCTOR-NURSE-HOSP", "公立医院医护比1:1.5左右", "Nurses per licensed physician in public hospitals", 1.5,
         "nurses per doctor", "忻政发〔2023〕14号 §三(三)2 (seed 003)", kind="level", tolerance=LEVEL_TOLERANCE,
         above="above the level: more nurses per doctor than planned (the plans draw no consequence)",
         below="below the level: the plan asks to raise nurse staffing (003 §三(三)2: 大幅度提高护士配置水平)"),
    Rule("BED-DOCTOR", "床医比不低于1:0.40", "Licensed physicians per bed", 0.40, "doctors per bed",
         "忻政发〔2023〕14号 §三(二)3 (seed 003)", scope="facility, county", indication=True),
    Rule("BED-NURSE", "床护比不低于1:0.40", "Registered nurses per bed", 0.40, "nurses per bed",
         "忻政发〔2023〕14号 §三(二)3 (seed 003)", scope="facility, county", indication=True),
    Rule("BED-STAFF", "床人（卫生人员）比不低于1:1.65", "Health workers per bed", 1.65, "staff per bed",
         f"忻政发〔2023〕14号 §三(二)3 (seed 003); {_T1}", scope="facility, county", indication=True),
)

RULES: dict[str, Rule] = {r.id: r for r in _RULES}


def _number(value: object, *, minimum: float = 0.0, strict: bool = True) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if value < minimum or (strict and value == minimum):
        return None
    return float(value)


def override_rule(rule: Rule, spec: object, where: str) -> tuple[Rule, list[str]]:
    """`rule` with a project's override applied, and the problems found (each naming `where`).

    `spec` is a number (the rule's figure) or a mapping of `value`, `upper` (range rules), `tolerance`
    (level rules, 0 <= t < 1), `plan` (one of the rule's plan figures) and the rule's options (numbers
    >= 0, one of the allowed texts, or a list of texts).
    """
    # A bare number is the rule's figure; its problems then name the rule itself, as it was written.
    value_at = where if not isinstance(spec, dict) else f"{where}.value"
    if not isinstance(spec, dict):
        spec = {"value": spec}
    problems: list[str] = []
    changed: list[str] = []
    if "value" in spec and "plan" in spec:
        problems.append(f"{where}: give either value or plan, not both")
        return rule, problems
    for key, given in spec.items():
        key = str(key)
        if key == "value":
            if rule.kind == "choice":
                problems.append(f"{where}: {rule.id} holds choices, not a figure (options: "
                                f"{', '.join(o.name for o in rule.options)})")
                continue
            number = _number(given)
            if number is None:
                problems.append(f"{value_at}: expected a number > 0, got {given!r}")
                continue
            rule = replace(rule, value=number)
        elif key == "upper" and rule.upper is not None:
            number = _number(given)
            if number is None:
                problems.append(f"{where}.upper: expected a number > 0, got {given!r}")
                continue
            rule = replace(rule, upper=number)
        elif key == "tolerance" and rule.kind == "level":
            number = _number(given, strict=False)
            if number is None or number >= 1:
                problems.append(f"{where}.tolerance: expected a share from 0 to below 1 (0.1 = ±10 %), got {given!r}")
                continue
            rule = replace(rule, tolerance=number)
        elif key == "plan" and rule.figures:
            keys = [f.key for f in rule.figures]
            if str(given) not in keys:
                problems.append(f"{where}.plan: expected one of {', '.join(keys)}, got {given!r}")
                continue
            rule = rule.with_plan(str(given))
        elif key in {o.name for o in rule.options}:
            value, problem = _option_value(next(o for o in rule.options if o.name == key), given)
            if problem:
                problems.append(f"{where}.{key}: {problem}")
                continue
            rule = rule.with_option(key, value)
        else:
            known = [k for k, ok in (("value", rule.kind != "choice"), ("upper", rule.upper is not None),
                                     ("tolerance", rule.kind == "level"), ("plan", bool(rule.figures))) if ok]
            known += [o.name for o in rule.options]
            problems.append(f"{where}.{key}: unknown setting of {rule.id} (known: {', '.join(known)})")
            continue
        changed.append(key)
    if rule.upper is not None and rule.upper < rule.value:
        problems.append(f"{where}: upper {rule.upper:g} is below value {rule.value:g}")
    return replace(rule, set_by_project=tuple(dict.fromkeys((*rule.set_by_project, *changed)))), problems


def _option_value(option: Option, given: object) -> tuple[float | str | tuple[str, ...], str]:
    """The checked value of an option override, or a problem."""
    if isinstance(option.value, float):
        number = _number(given, strict=False)
        return (number, "") if number is not None else (option.value, f"expected a number >= 0, got {given!r}")
    if isinstance(option.value, tuple):
        items = [given] if isinstance(given, str) else given
        if not isinstance(items, list) or not items or not all(isinstance(i, str) and i.strip() for i in items):
            return option.value, f"expected a list of texts, got {given!r}"
        return tuple(i.strip() for i in items), ""
    if not isinstance(given, str) or (option.allowed and given not in option.allowed):
        allowed = f"one of {', '.join(option.allowed)}" if option.allowed else "a text"
        return option.value, f"expected {allowed}, got {given!r}"
    return given.strip(), ""


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
