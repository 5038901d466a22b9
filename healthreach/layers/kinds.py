"""Facility kinds, the Chinese labels that mean them, and the analysis tiers built from them."""
from __future__ import annotations

KINDS: tuple[str, ...] = (
    "city_hospital",
    "county_hospital",
    "county_tcm_hospital",
    "maternal_child",
    "subcentre",
    "township_hc",
    "community_centre",
    "community_station",
    "village_clinic",
    "ems_centre",
    "ems_station",
)

# Labels seen in county plans and in facility lists scraped from Amap/Baidu.
KIND_LABELS: dict[str, str] = {
    "市人民医院": "city_hospital",
    "市级医院": "city_hospital",
    "县人民医院": "county_hospital",
    "县医院": "county_hospital",
    "县级综合医院": "county_hospital",
    "中医院": "county_tcm_hospital",
    "县中医院": "county_tcm_hospital",
    "妇幼保健院": "maternal_child",
    "妇幼保健计划生育服务中心": "maternal_child",
    "中心卫生院": "subcentre",
    "中心乡镇卫生院": "subcentre",
    "县域医疗次中心": "subcentre",
    "乡镇卫生院": "township_hc",
    "卫生院": "township_hc",
    "苏木镇卫生院": "township_hc",
    "社区卫生服务中心": "community_centre",
    "社区卫生服务站": "community_station",
    "村卫生室": "village_clinic",
    "嘎查村卫生室": "village_clinic",
    "急救中心": "ems_centre",
    "急救站": "ems_station",
    "急救分站": "ems_station",
}

KIND_NAMES_ZH: dict[str, str] = {
    "city_hospital": "市级医院",
    "county_hospital": "县级综合医院",
    "county_tcm_hospital": "县中医院",
    "maternal_child": "妇幼保健院",
    "subcentre": "县域医疗次中心",
    "township_hc": "乡镇卫生院",
    "community_centre": "社区卫生服务中心",
    "community_station": "社区卫生服务站",
    "village_clinic": "村卫生室",
    "ems_centre": "急救中心",
    "ems_station": "急救站",
}

# Tier -> kinds. `ems` also takes every facility with ambulances > 0 (see tier_members).
TIERS: dict[str, tuple[str, ...]] = {
    "hospital": ("city_hospital", "county_hospital", "county_tcm_hospital", "maternal_child"),
    "subcentre": ("subcentre",),
    "township": ("subcentre", "township_hc"),
    "community": ("community_centre", "community_station"),
    "village": ("village_clinic",),
    "ems": ("ems_centre", "ems_station"),
}

# Travel mode per tier: the community tier is the walking 15-minute circle; ambulances drive out
# from the station (dispatch direction), every other tier is measured driving toward the facility.
TIER_MODE: dict[str, str] = {
    "hospital": "drive",
    "subcentre": "drive",
    "township": "drive",
    "community": "walk",
    "village": "drive",
    "ems": "ambulance",
}

TIER_NAMES: dict[str, dict[str, str]] = {
    "hospital": {"zh": "县级及以上医院", "en": "Hospital"},
    "subcentre": {"zh": "县域医疗次中心", "en": "Sub-centre"},
    "township": {"zh": "乡镇卫生院", "en": "Township health centre"},
    "community": {"zh": "社区卫生服务机构", "en": "Community health station"},
    "village": {"zh": "村卫生室", "en": "Village clinic"},
    "ems": {"zh": "急救站点", "en": "Emergency (ambulance) station"},
}


def normalise_kind(value: object) -> str | None:
    """Canonical kind for a canonical name or a common Chinese label; None when unknown."""
    if value is None:
        return None
    text = str(value).strip()
    if text in KINDS:
        return text
    return KIND_LABELS.get(text)


def tier_members(kinds: "list[str] | tuple[str, ...]", ambulances: "list[object]", tier: str) -> list[bool]:
    """Whether each facility (given by kind and ambulance count) belongs to `tier`."""
    members = TIERS[tier]
    out = []
    for kind, amb in zip(kinds, ambulances):
        inside = kind in members
        if tier == "ems" and not inside:
            try:
                inside = amb is not None and float(amb) > 0  # NaN compares False
            except (TypeError, ValueError):
                inside = False
        out.append(bool(inside))
    return out

# Services a facility may offer (`services` column); each is a tier of its own in analysis.
# `regional_centre` is the 市级区域医疗中心 designation, carried as a service so it travels with the rest.
SERVICES: tuple[str, ...] = (
    "chest_pain",
    "stroke",
    "trauma",
    "critical_maternal",
    "critical_neonatal",
    "fever_clinic",
    "fever_sentinel",
    "infectious_dept",
    "tcm_hall",
    "rehab_dept",
    "geriatrics_dept",
    "regional_centre",
)

SERVICE_LABELS: dict[str, str] = {
    "胸痛中心": "chest_pain",
    "卒中中心": "stroke",
    "创伤中心": "trauma",
    "危重孕产妇救治中心": "critical_maternal",
    "危重儿童和新生儿救治中心": "critical_neonatal",
    "发热门诊": "fever_clinic",
    "发热诊室": "fever_sentinel",
    "发热哨点": "fever_sentinel",
    "感染性疾病科": "infectious_dept",
    "中医馆": "tcm_hall",
    "蒙医馆": "tcm_hall",
    "康复医学科": "rehab_dept",
    "老年医学科": "geriatrics_dept",
    "市级区域医疗中心": "regional_centre",
    "区域医疗中心": "regional_centre",
}


def normalise_service(value: object) -> str | None:
    """Canonical service id for a canonical id or a Chinese label; None when unknown."""
    if value is None:
        return None
    text = str(value).strip()
    if text in SERVICES:
        return text
    return SERVICE_LABELS.get(text)
