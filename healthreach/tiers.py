"""Facility kinds, services and analysis tiers: each declared once, with its names, mode and colour.

Everything else (input labels, map legends and colours, the columns of the village table, the order
of the summary tables) derives from the three tables below. Adding a tier is one `Tier` entry here
plus its rules in `healthreach.rules`.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """A facility kind: canonical id, display names and the Chinese labels input files use for it."""

    id: str
    zh: str
    en: str
    labels: tuple[str, ...] = ()
    """Labels seen in county plans and in facility lists scraped from Amap/Baidu."""


@dataclass(frozen=True)
class Tier:
    """A level of care residents travel to (or that is dispatched to them)."""

    id: str
    kinds: tuple[str, ...]
    mode: str
    """Travel mode: 'drive', 'walk' or 'ambulance'."""
    toward: bool
    """True: measured from the village to the facility; False: from the facility out (dispatch)."""
    zh: str
    en: str
    colour: str
    summary: int | None
    """Position in the summary tables, the summary panel and the coverage curve; None: not summarised."""
    with_ambulances: bool = False
    """Also every facility with ambulances > 0 (the emergency tier)."""
    catchments: bool = False
    """Drawn as catchment polygons per facility and band."""


@dataclass(frozen=True)
class Service:
    """A service a facility may offer (`services` column); each is a tier of its own in analysis."""

    id: str
    zh: str
    en: str
    labels: tuple[str, ...]
    colour: str
    emergency_centre: bool = False
    """One of the five emergency centres (急诊急救五大中心): measured by ambulance toward the centre."""

    @property
    def mode(self) -> str:
        return "ambulance" if self.emergency_centre else "drive"


_KINDS: tuple[Kind, ...] = (
    Kind("city_hospital", "市级医院", "City hospital", ("市人民医院", "市级医院")),
    # A banner (旗) or urban district (区) hospital is the county level of those places.
    Kind("county_hospital", "县级综合医院", "County general hospital",
         ("县人民医院", "县医院", "县级综合医院", "旗人民医院", "旗医院", "区人民医院")),
    Kind("county_tcm_hospital", "县中医院", "County TCM hospital",
         ("中医院", "县中医院", "中医医院", "区中医院", "蒙医医院", "旗蒙医医院", "蒙中医医院", "旗蒙中医医院")),
    Kind("maternal_child", "妇幼保健院", "Maternal and child health hospital",
         ("妇幼保健院", "妇幼保健计划生育服务中心", "区妇幼保健计划生育服务中心")),
    Kind("subcentre", "县域医疗次中心", "County medical sub-centre", ("中心卫生院", "中心乡镇卫生院", "县域医疗次中心")),
    Kind("township_hc", "乡镇卫生院", "Township health centre", ("乡镇卫生院", "卫生院", "镇卫生院", "苏木镇卫生院", "苏木卫生院")),
    Kind("community_centre", "社区卫生服务中心", "Community health service centre", ("社区卫生服务中心",)),
    Kind("community_station", "社区卫生服务站", "Community health service station", ("社区卫生服务站",)),
    Kind("village_clinic", "村卫生室", "Village clinic", ("村卫生室", "嘎查村卫生室", "嘎查卫生室")),
    Kind("ems_centre", "急救中心", "Emergency centre", ("急救中心",)),
    Kind("ems_station", "急救站", "Emergency station", ("急救站", "急救分站")),
)

# Declaration order is the order of the village table's columns.
_TIERS: tuple[Tier, ...] = (
    Tier("hospital", ("city_hospital", "county_hospital", "county_tcm_hospital", "maternal_child"), "drive", True,
         "县级及以上医院", "Hospital", "#c51b7d", summary=3),
    Tier("subcentre", ("subcentre",), "drive", True, "县域医疗次中心", "Sub-centre", "#762a83", summary=2,
         catchments=True),
    Tier("township", ("subcentre", "township_hc"), "drive", True, "乡镇卫生院", "Township health centre", "#2166ac",
         summary=1, catchments=True),
    # The 15-minute circle: the plans name no mode; walking is this tool's stated assumption.
    Tier("community", ("community_centre", "community_station"), "walk", True, "社区卫生服务机构（步行）",
         "Community health station (walking)", "#01665e", summary=6),
    Tier("village", ("village_clinic",), "drive", True, "村卫生室", "Village clinic", "#8c510a", summary=4),
    # Ambulances drive out from the station (dispatch direction).
    Tier("ems", ("ems_centre", "ems_station"), "ambulance", False, "急救站点", "Emergency (ambulance) station",
         "#e31a1c", summary=5, with_ambulances=True),
)

_SERVICES: tuple[Service, ...] = (
    Service("chest_pain", "胸痛中心", "Chest pain centre", ("胸痛中心",), "#e41a1c", emergency_centre=True),
    Service("stroke", "卒中中心", "Stroke centre", ("卒中中心",), "#377eb8", emergency_centre=True),
    Service("trauma", "创伤中心", "Trauma centre", ("创伤中心",), "#4daf4a", emergency_centre=True),
    Service("critical_maternal", "危重孕产妇救治中心", "Critical maternal care centre", ("危重孕产妇救治中心",),
            "#984ea3", emergency_centre=True),
    Service("critical_neonatal", "危重儿童和新生儿救治中心", "Critical neonatal care centre",
            ("危重儿童和新生儿救治中心",), "#ff7f00", emergency_centre=True),
    Service("fever_clinic", "发热门诊", "Fever clinic", ("发热门诊",), "#a65628"),
    Service("fever_sentinel", "发热诊室/哨点", "Fever sentinel", ("发热诊室", "发热哨点"), "#f781bf"),
    Service("infectious_dept", "感染性疾病科", "Infectious diseases dept.", ("感染性疾病科",), "#999999"),
    Service("tcm_hall", "中医馆", "TCM hall", ("中医馆", "蒙医馆"), "#1b9e77"),
    Service("rehab_dept", "康复医学科", "Rehabilitation dept.", ("康复医学科",), "#d95f02"),
    Service("geriatrics_dept", "老年医学科", "Geriatrics dept.", ("老年医学科",), "#7570b3"),
    # The 市级区域医疗中心 designation, carried as a service so it travels with the rest.
    Service("regional_centre", "市级区域医疗中心", "Regional medical centre", ("市级区域医疗中心", "区域医疗中心"),
            "#e7298a"),
)

KIND_TABLE: dict[str, Kind] = {k.id: k for k in _KINDS}
TIERS: dict[str, Tier] = {t.id: t for t in _TIERS}
SERVICE_TABLE: dict[str, Service] = {s.id: s for s in _SERVICES}

KINDS: tuple[str, ...] = tuple(KIND_TABLE)
SERVICES: tuple[str, ...] = tuple(SERVICE_TABLE)
KIND_LABELS: dict[str, str] = {label: k.id for k in _KINDS for label in k.labels}
SERVICE_LABELS: dict[str, str] = {label: s.id for s in _SERVICES for label in s.labels}
SUMMARY_TIERS: tuple[str, ...] = tuple(t.id for t in sorted(_TIERS, key=lambda t: t.summary or 0) if t.summary)
CATCHMENT_TIERS: tuple[str, ...] = tuple(t.id for t in sorted(_TIERS, key=lambda t: t.summary or 0) if t.catchments)
EMERGENCY_CENTRES: tuple[str, ...] = tuple(s.id for s in _SERVICES if s.emergency_centre)
THC_KINDS: tuple[str, ...] = TIERS["township"].kinds
"""Township health centres, central ones (sub-centres) included."""
HOSPITAL_KINDS: tuple[str, ...] = TIERS["hospital"].kinds
GENERAL_HOSPITALS: tuple[str, ...] = ("city_hospital", "county_hospital")
"""General hospitals (综合医院) among the kinds."""
SECONDARY_HOSPITALS: tuple[str, ...] = ("city_hospital", "county_hospital", "county_tcm_hospital")
"""Secondary or higher general hospitals as the plans count them: "二级以上综合医院（含中医医院，下同）"
(seed 003 Table 1) includes the TCM hospitals."""
EMS_KINDS: tuple[str, ...] = TIERS["ems"].kinds

# The tier a new site of each kind is measured in: its most specific (a sub-centre is measured as a
# sub-centre, not as one more township centre).
KIND_TIER: dict[str, str] = {kind: tier.id for tier in reversed(_TIERS) for kind in tier.kinds}


def normalise_kind(value: object) -> str | None:
    """Canonical kind for a canonical name or a common Chinese label; None when unknown."""
    if value is None:
        return None
    text = str(value).strip()
    return text if text in KIND_TABLE else KIND_LABELS.get(text)


def normalise_service(value: object) -> str | None:
    """Canonical service id for a canonical id or a Chinese label; None when unknown."""
    if value is None:
        return None
    text = str(value).strip()
    return text if text in SERVICE_TABLE else SERVICE_LABELS.get(text)


def tier_members(kinds: Sequence[object], ambulances: Sequence[object], tier: str) -> list[bool]:
    """Whether each facility (given by kind and ambulance count) belongs to `tier`."""
    spec = TIERS[tier]
    out = []
    for kind, amb in zip(kinds, ambulances):
        inside = kind in spec.kinds
        if spec.with_ambulances and not inside:
            try:
                inside = amb is not None and float(amb) > 0  # type: ignore[arg-type]  # NaN compares False
            except (TypeError, ValueError):
                inside = False
        out.append(bool(inside))
    return out


def tier_mode(tier: str) -> str:
    """Travel mode of an analysis tier or a service tier."""
    return TIERS[tier].mode if tier in TIERS else SERVICE_TABLE[tier].mode


def display_name(tier: str, lang: str) -> str:
    """Name of an analysis tier or service in `lang` ('zh' or 'en'); the id itself when unknown."""
    spec = TIERS.get(tier) or SERVICE_TABLE.get(tier)
    if spec is None:
        return tier
    return spec.zh if lang == "zh" else spec.en


def colour(tier: str) -> str:
    """Map colour of an analysis tier or service."""
    spec = TIERS.get(tier) or SERVICE_TABLE.get(tier)
    return spec.colour if spec is not None else "#666666"
