"""Maps that never mislead, without a browser: the scenario map's tier, one colour meaning per legend,
the rules layer, one language in popups, the summary panel's tiers, and siting titles."""
from __future__ import annotations

import dataclasses
import json
import math
import re

import numpy as np
import pandas as pd
import pytest

from healthreach.maps import labels
from healthreach.maps.coverage_map import coverage_map_html
from healthreach.maps.curves import shown_tier, summary_tiers
from healthreach.maps.popups import facility_names, failing_html, failing_rules, note_text, village_popup
from healthreach.maps.scenario_map import (
    NO_CHANGE,
    SAVED_CLASSES,
    changed_person_minutes,
    facility_changes,
    scenario_map_html,
)
from healthreach.maps.style import band_colours, ramp, time_classes
from map_fixtures import BANDS, scenario_pair, small_result
from test_maps_html import _overlays

EVIL = "<script>alert(1)</script>\"'`${x}`"


def _shown(page: str) -> str:
    return json.loads(re.search(r'var data=(\{.*?\});var views', page).group(1).replace("\\u003c", "<")
                      .replace("\\u003e", ">").replace("\\u0026", "&"))["shown"]


def test_changed_person_minutes_by_hand() -> None:
    base, scenario = scenario_pair()
    # Township tier: V05 saves 42 min (2,010 persons); V01 loses 1 min (1,234); V04 becomes reachable
    # at 30 min (150), counted from the largest time of the tier (V05's 4,000 s before).
    expected = 42.0 * 2010 + 1.0 * 1234 + (4000 / 60 - 30.0) * 150
    assert changed_person_minutes(base.villages, scenario.villages, "township", BANDS) == pytest.approx(expected)
    assert changed_person_minutes(base.villages, scenario.villages, "hospital", BANDS) == 0.0


def test_scenario_map_opens_on_the_tier_changed_most() -> None:
    base, scenario = scenario_pair()
    assert _shown(scenario_map_html(base, scenario, name="s", title="t", bands_min=BANDS)) == "township"
    # Half an hour saved to the hospital for everyone (4,571 persons x 30 min) outweighs the township change.
    faster = dataclasses.replace(scenario, villages=scenario.villages.assign(hospital_time_s=0.0))
    assert _shown(scenario_map_html(base, faster, name="s", title="t", bands_min=BANDS)) == "hospital"
    # Nothing changes: the tier the coverage map colours villages by, every tier marked unchanged.
    same = scenario_map_html(base, base, name="s", title="t", bands_min=BANDS)
    assert _shown(same) == shown_tier(base.villages) == "township"
    assert same.count("（无变化）") == 2


def test_scenario_legend_gives_each_colour_one_meaning() -> None:
    base, scenario = scenario_pair()
    page = scenario_map_html(base, scenario, name="s", title="t", bands_min=BANDS)
    legend = page[page.index("<div class='hr-box hr-legend'>"):]
    blocks = re.findall(r"<div class='hr-legend-view' data-view='(\w+)'[^>]*>(.*?)</div>(?=<div class='hr-legend-view'|<h4>)",
                        legend, re.S)
    assert [v for v, _ in blocks] == ["saved", "times"]
    for _, block in blocks:
        colours = re.findall(r"background:(#[0-9a-f]{6})", block)
        assert len(colours) == len(set(colours)), block  # one meaning per colour in each legend
    saved = set(re.findall(r"background:(#[0-9a-f]{6})", blocks[0][1]))
    times = set(re.findall(r"background:(#[0-9a-f]{6})", blocks[1][1])) - {"#9e9e9e"}
    assert not saved & times  # "slower" is no longer the red of the farthest class
    assert NO_CHANGE in saved and {c for _, c in SAVED_CLASSES} <= saved
    assert "hidden" in re.search(r"data-view='times'([^>]*)>", legend).group(1)  # shown only with its view


def test_facility_changes_include_resources() -> None:
    base, scenario = scenario_pair()
    scenario = dataclasses.replace(scenario, facilities=scenario.facilities.assign(
        ambulances=np.where(scenario.facilities["fid"] == "F-THC1", 3, scenario.facilities["ambulances"])))
    changes = facility_changes(base.facilities, scenario.facilities).set_index("fid")
    assert changes.loc["F-THC1", "change"] == "changed"
    assert changes.loc["F-THC1", "detail"] == {"ambulances": ("1", "3")}
    assert changes.loc["F-THC2", "change"] == "upgraded"


def test_scenario_panels_escape_user_text() -> None:
    base, scenario = scenario_pair()
    evil_villages = [v.assign(name=np.where(v["vid"] == "V05", EVIL, v["name"])) for v in (base.villages, scenario.villages)]
    base = dataclasses.replace(base, villages=evil_villages[0], project_name=EVIL)
    scenario = dataclasses.replace(scenario, villages=evil_villages[1], facilities=scenario.facilities.assign(
        name=np.where(scenario.facilities["fid"] == "F-NEW", EVIL, scenario.facilities["name"])))
    page = scenario_map_html(base, scenario, name=EVIL, title=EVIL, bands_min=BANDS)
    assert "<script>alert" not in page and "\\u003cscript" not in page.lower()
    assert "${x}" not in page
    assert page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 2  # title, subtitle (HTML)
    assert "\\u0026lt;script\\u0026gt;alert(1)" in page  # tooltips and popups (JS strings, escaped first)


def test_failing_layer_hidden_explained_and_read_from_status() -> None:
    result = small_result()
    page = coverage_map_html(result, bands_min=BANDS)
    failing_var = _overlays(page)[labels.text("villages_failing", "zh")]
    assert f"{failing_var}.addTo(" not in page  # off until the user turns it on
    assert labels.esc(labels.text("failing_legend", "zh")) in page
    # With a `status` column it decides: not_met and below_level fall short, above_level does not,
    # whatever `passed` says.
    standards = result.standards.assign(status=["above_level", "not_met", "met"])
    assert set(failing_rules(standards)) == {"V01"}
    assert set(failing_rules(result.standards)) == {"V05"}  # no status: passed == False
    assert "hr-failing" not in coverage_map_html(dataclasses.replace(result, standards=result.standards.iloc[1:2]),
                                                 bands_min=BANDS)


def test_popups_speak_one_language() -> None:
    rows = pd.DataFrame([
        {"rule_id": "TCM-HALL", "scope": "facility", "scope_id": "F-THC1", "value": 0.0, "target": "tcm_hall",
         "unit": "present", "passed": False},
        {"rule_id": "EMS-AMB-THC", "scope": "facility", "scope_id": "F-THC1", "value": 0.0, "target": 1,
         "unit": "vehicles", "passed": False},
        {"rule_id": "FEVER-SENTINEL", "scope": "facility", "scope_id": "F-THC1", "value": 0.0,
         "target": "fever_clinic or fever_sentinel", "unit": "present", "passed": False},
    ])
    zh = re.sub(r"<[^>]+>", "", failing_html([r for _, r in rows.iterrows()], "zh"))
    assert "中医馆" in zh and "辆" in zh and "发热门诊或发热诊室/哨点" in zh and "设置中医馆" in zh
    assert not re.search(r"[A-Za-z]{3,}", zh), zh  # no English word left (rule ids only in tag attributes)
    en = failing_html([r for _, r in rows.iterrows()], "en")
    assert "TCM hall" in en and "vehicles" in en and not re.search(r"[\u4e00-\u9fff]", en)
    assert note_text("no road within 2,000 m (nearest road 5,889 m): not joined to the network", "zh") == \
        "2,000米内无道路（最近道路5,889米），未接入路网"
    assert note_text("no ems facility reachable on the ambulance network", "zh") == "救护车路网上无可达的急救站点"
    assert note_text("道路未连通", "zh") == "道路未连通"


def test_village_popup_names_facilities_and_walking() -> None:
    result = small_result()
    villages = result.villages.assign(community_fid="F-VC1", community_time_s=900.0, community_dist_m=1000.0)
    row = villages.iloc[0]
    popup = village_popup(row, ["township", "community"], "zh", facility_names(result.facilities))
    cells = re.findall(r"data-tier='(\w+)'><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>", popup)
    assert cells == [("township", "乡镇卫生院", "老营镇卫生院", "行车"),
                     ("community", "社区卫生服务机构（步行）", "老营村卫生室", "步行")]
    assert "F-THC1" not in popup and "F-VC1" not in popup


def test_summary_table_has_a_row_per_curve() -> None:
    result = small_result()
    villages = result.villages.assign(ems_fid="F-EMS", ems_time_s=result.villages["township_time_s"] * 0.5,
                                      subcentre_time_s=np.nan)
    page = coverage_map_html(dataclasses.replace(result, villages=villages), bands_min=BANDS)
    rows = re.findall(r"<tr data-tier='(\w+)'>", page)
    keys = re.findall(r"<div class='hr-curve-key'>.*?</svg>([^<]+)</div>", page)
    assert rows == summary_tiers(villages) == ["township", "hospital", "ems"]  # nobody reaches a sub-centre
    assert keys == [labels.tier_name(t, "zh") for t in rows]
    assert page.count("class='hr-curve-line'") == 3
    # The ems row has no county figures: it stays, with dashes.
    assert re.search(r"<tr data-tier='ems'><td>[^<]+</td>(<td>—</td>){4}</tr>", page)


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_siting_titles_are_translated_and_pmedian_names_no_band(lang: str) -> None:
    mclp = labels.siting_title("mclp", "township_hc", 30.0, lang)
    pmedian = labels.siting_title("pmedian", "subcentre", 30.0, lang, per_county=True)
    for title in (mclp, pmedian):
        assert "township_hc" not in title and "subcentre" not in title and "MCLP township" not in title
    assert ("30分钟" if lang == "zh" else "30 min") in mclp
    assert "30" not in pmedian and "分钟" not in pmedian and "min band" not in pmedian
    if lang == "zh":
        assert mclp == "最大覆盖选址（MCLP）：乡镇卫生院，30分钟时间圈，求解器方案"
        assert not re.search(r"[a-z_]{4,}", mclp)
    else:
        assert mclp == "Maximal covering siting (MCLP): Township health centre, 30 min band, solver choice"
        assert pmedian == "P-median siting: County medical sub-centre, per county, solver choice"


def test_colour_ramps_follow_the_number_of_bands() -> None:
    assert ramp(("#000000", "#ffffff"), 3) == ["#000000", "#808080", "#ffffff"]
    assert [c for _, c in time_classes((15, 30, 45, 60))] == ["#1a9850", "#91cf60", "#fee08b", "#fc8d59", "#d73027"]
    seven = time_classes((5, 10, 20, 30, 45, 60))
    assert len({c for _, c in seven}) == 7 and seven[0][1] == "#1a9850" and seven[-1] == (math.inf, "#d73027")
    assert list(band_colours((90, 10, 40, 20))) == [10.0, 20.0, 40.0, 90.0]
    with pytest.raises(ValueError, match="bands_min"):
        time_classes(())
