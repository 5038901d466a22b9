"""The rules table: every rule cited and readable, and every figure and choice overridable from the
project file (`parameters: rules:`), with clear errors for bad overrides."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from healthreach._errors import InputError
from healthreach.config import Settings, settings_from_parameters
from healthreach.coverage.masks import equal_masks
from healthreach.coverage.rule_rows import STATUSES, level_status, rule_notes
from healthreach.layers.validate import RULE_COLUMNS, Problems, make_table, normalise_facilities
from healthreach.rules import KINDS, RULES

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "rules.md"


def test_every_rule_is_cited_and_typed():
    for rule in RULES.values():
        assert rule.kind in KINDS, rule.id
        assert re.search(r"seed 00[0-4]|healthreach assumption|National Health Commission", rule.source), rule.id
        if rule.kind == "level":
            assert 0 < rule.tolerance < 1 and rule.above and rule.below, rule.id
        if rule.kind == "range":
            assert rule.upper is not None and rule.upper >= rule.value, rule.id
        if rule.figures:
            chosen = [f for f in rule.figures if f.key == rule.plan]
            assert len(chosen) == 1 and chosen[0].value == rule.value, rule.id


def test_plan_figures_are_the_seeds_own_words():
    # Where the plans disagree, each figure is quoted from its seed (read here, not from our table).
    text = {n: (SEEDS / name).read_text(encoding="utf-8") for n, name in
            (("003", "003_b71a70da0695ec68.txt"), ("004", "004_28dbd5b4a2ee952d.txt"),
             ("001", "001_d79df0d05b291292.txt"))}
    assert "二级及以上综合性医院设立规范的老年医学科的比例达60%以上" in text["003"]
    assert "二级公立综合医院设立老年医学科比例达90%以上" in text["004"]
    assert "公立中医医院床位数按照每千常住人口0.85张左右配置" in text["003"]
    assert "每万人口全科医生数达到3.5人" in text["003"]
    assert "在有条件的乡镇中心卫生院建立标准化的发热门诊" in text["001"]
    assert "临近乡镇卫生院、常住人口不足 200 人" in text["001"]
    assert "床人（卫生人员）比、床护比、床医比分别不低于1:1.65、1:0.40、1:0.40" in text["003"]
    assert "在每个街道（或3—10万人）设置1家社区卫生服务中心" in text["003"]
    assert "按照服务人口1%左右的比例" in text["004"]
    figures = {(r.id, f.key): f.value for r in RULES.values() for f in r.figures}
    assert figures[("GERIATRICS", "003-text")] == 0.60 and figures[("GERIATRICS", "004")] == 0.90
    assert figures[("BEDS-TCM", "003-text")] == 0.85 and figures[("GP", "003-text")] == 3.5


def test_docs_list_every_rule_with_its_statuses():
    text = DOCS.read_text(encoding="utf-8")
    for rule in RULES.values():
        assert f"`{rule.id}`" in text, rule.id
    for status in STATUSES:
        assert f"`{status}`" in text, status
    readme = (DOCS.parents[1] / "README.md").read_text(encoding="utf-8")
    assert "## Planning rules" in readme and "docs/rules.md" in readme


def test_a_level_is_read_below_at_or_above_within_its_tolerance():
    rule = RULES["BEDS-COUNTY"]  # 3.5 左右, ±10 %: 3.15 .. 3.85 is at level
    assert [level_status(v, rule) for v in (3.14, 3.15, 3.5, 3.85, 3.86)] == [
        "below_level", "at_level", "at_level", "at_level", "above_level"]
    narrow = settings_from_parameters({"rules": {"BEDS-COUNTY": {"tolerance": 0.0}}}).rule("BEDS-COUNTY")
    assert [level_status(v, narrow) for v in (3.49, 3.5, 3.51)] == ["below_level", "at_level", "above_level"]
    assert "±0%" in " ".join(rule_notes(narrow))


def test_the_number_form_still_sets_a_rules_figure():
    settings = settings_from_parameters({"rules": {"EMS-RADIUS-RURAL": 15000, "VD-PER-POP": 2}})
    assert settings.rule("EMS-RADIUS-RURAL").value == 15000 and settings.rule("VD-PER-POP").value == 2
    assert settings.rule("VD-PER-POP").set_by_project == ("value",)
    assert Settings().rule("VD-PER-POP").value == 1  # the defaults are untouched


def test_choices_and_plans_are_overridable():
    settings = settings_from_parameters({"rules": {
        "GERIATRICS": {"plan": "004"}, "VC-EXEMPT": {"near_m": 500, "value": 150},
        "EMS-BASES": {"bases": "stations"}, "ADMIN-UNITS": {"street_suffixes": ["街道", "社区"]},
        "SUBCENTRE-COUNT": {"upper": 2}, "REGIONAL-CENTRE": {"city_seat": "忻府区"}}})
    assert settings.rule("GERIATRICS").value == 0.90 and settings.rule("GERIATRICS").plan == "004"
    assert settings.rule("VC-EXEMPT").option("near_m") == 500 and settings.rule("VC-EXEMPT").value == 150
    assert settings.rule("EMS-BASES").option("bases") == "stations"
    assert settings.rule("ADMIN-UNITS").option("street_suffixes") == ("街道", "社区")
    assert settings.rule("SUBCENTRE-COUNT").upper == 2
    assert settings.rule("REGIONAL-CENTRE").option("city_seat") == "忻府区"
    notes = " ".join(rule_notes(settings.rule("GERIATRICS")))
    assert "plan 004" in notes and "0.7" in notes and "0.6" in notes  # the others are named
    assert "near_m = 500" in " ".join(rule_notes(settings.rule("VC-EXEMPT")))


@pytest.mark.parametrize("rules, message", [
    ({"NO-SUCH-RULE": 1}, r"parameters\.rules\.NO-SUCH-RULE: unknown rule"),
    ({"GERIATRICS": {"plan": "005"}}, r"GERIATRICS\.plan: expected one of 003-table1, 003-text, 004"),
    ({"GERIATRICS": {"plan": "004", "value": 0.5}}, r"GERIATRICS: give either value or plan"),
    ({"EMS-BASES": 3}, r"EMS-BASES holds choices, not a figure \(options: bases\)"),
    ({"EMS-BASES": {"bases": "helicopters"}}, r"EMS-BASES\.bases: expected one of any, stations"),
    ({"VC-EXEMPT": {"near_m": "far"}}, r"VC-EXEMPT\.near_m: expected a number >= 0"),
    ({"VC-EXEMPT": {"radius": 3}}, r"VC-EXEMPT\.radius: unknown setting of VC-EXEMPT \(known: value, near_m\)"),
    ({"BEDS-COUNTY": {"tolerance": 1.5}}, r"BEDS-COUNTY\.tolerance: expected a share from 0 to below 1"),
    ({"DOCTORS": {"tolerance": 0.1}}, r"DOCTORS\.tolerance: unknown setting"),
    ({"SUBCENTRE-COUNT": {"upper": 0.5}}, r"SUBCENTRE-COUNT: upper 0.5 is below value 1"),
    ({"VD-PER-POP": -1}, r"VD-PER-POP: expected a number > 0"),
    ({"VD-PER-POP": {"value": float("nan")}}, r"VD-PER-POP\.value: expected a number > 0"),
    ({"ADMIN-UNITS": {"street_suffixes": []}}, r"street_suffixes: expected a list of texts"),
])
def test_bad_overrides_name_the_setting(rules: dict, message: str):
    with pytest.raises(InputError, match=message):
        settings_from_parameters({"rules": rules}, source="p.yml")


def test_the_facilities_layer_accepts_the_rules_optional_columns():
    data = pd.DataFrame({"fid": ["A", "B"], "name": ["甲村卫生室", "县医院"], "kind": ["村卫生室", "县医院"],
                         "doctors": [2, 10], "执业医师": [1, None], "staff": ["", "x"], "grade": ["", "二甲"]})
    problems = Problems()
    table = make_table("f.csv", data, "facilities", {"licensed_doctors": "执业医师"}, {}, problems)
    out = normalise_facilities(table, problems)
    assert out["licensed_doctors"].tolist()[0] == 1 and pd.isna(out["licensed_doctors"].tolist()[1])
    assert out["grade"].tolist() == ["", "二甲"] and "gp" not in out  # absent columns stay absent
    assert [(p.field, p.row) for p in problems.errors] == [("staff", 2)]  # 'x' is not a count
    plain = normalise_facilities(make_table("f.csv", data[["fid", "name", "kind"]], "facilities", {}, {}, Problems()),
                                 Problems())
    assert not set(RULE_COLUMNS) & set(plain.columns)


@pytest.mark.parametrize("values, keys", [
    (["马坊镇", None, "城关镇", "马坊镇", float("nan"), 3, "3"], ["马坊镇", "城关镇", 3, "3", "无此镇"]),
    (np.array(["a", "b", None], dtype=object), ["b", "b", "a"]),
])
def test_masks_by_hash_equal_masks_by_comparison(values, keys):
    masks = equal_masks(values, keys)
    assert list(masks) == list(dict.fromkeys(keys))
    for key, mask in masks.items():
        assert mask.tolist() == [v == key and type(v) is type(key) for v in values]
