"""The maps in headless Chromium with every non-file request blocked and counted."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from chromium import Opened, open_page
from playwright.sync_api import Browser, Page

from healthreach.maps import labels
from healthreach.maps.basemaps import basemap_name
from healthreach.maps.coverage_map import coverage_map_html
from healthreach.maps.scenario_map import scenario_map_html
from map_fixtures import BANDS, COUNTY_SUMMARY, MALICIOUS, SAVED_MINUTES_V05, scenario_pair, small_result

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture
def open_map(browser: Browser, tmp_path: Path) -> Iterator:
    pages: list[Opened] = []

    def _open(html: str, filename: str = "map.html") -> Opened:
        path = tmp_path / filename
        path.write_text(html, encoding="utf-8")
        pages.append(open_page(browser, path, "typeof L === 'object' && document.querySelectorAll('path').length > 0"))
        return pages[-1]

    yield _open
    for opened in pages:
        opened.page.close()


def _layer_names(page: Page) -> list[str]:
    return [s.strip() for s in page.locator(".leaflet-control-layers label span span").all_text_contents()]


def _screenshot(page: Page, filename: str) -> None:
    """Save a screenshot for a human to look at, once Leaflet's zoom animation has settled."""
    page.wait_for_timeout(400)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / filename)
    assert (ARTIFACTS / filename).stat().st_size > 10_000


def _popup_after_click(page: Page, selector: str) -> str:
    """Close any open popup, click the first element matching `selector`, return the popup's text."""
    close = page.locator(".leaflet-popup-close-button")
    if close.count():
        close.first.click()
        page.locator(".leaflet-popup").wait_for(state="detached")
    page.locator(selector).first.click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    return popup.inner_text()


def test_coverage_map_offline(open_map) -> None:
    opened = open_map(coverage_map_html(small_result(), bands_min=BANDS))
    page = opened.page
    assert page.evaluate("typeof L") == "object"
    names = _layer_names(page)
    expected = [labels.text(k, "zh") for k in ("basemap_roads", "basemap_boundaries", "village_names",
                                                 "villages_unreachable", "villages_failing")]
    expected.append(labels.time_heading("township", "zh", key="villages_time_to"))
    expected += [f"医疗机构：{labels.tier_name(t, 'zh')}" for t in ("hospital", "township", "village", "ems")]
    expected += [f"服务范围：{labels.tier_name(t, 'zh')}" for t in ("hospital", "township")]
    assert sorted(names) == sorted(expected)
    assert page.locator(".hr-title").inner_text().startswith("偏关县（合成示例）")
    assert page.locator(".leaflet-control-scale").count() == 1
    _screenshot(page, "coverage_map.png")
    assert opened.external == [] and opened.errors == [] and opened.dialogs == []


def test_village_popup_gives_population_and_minutes(open_map) -> None:
    page = open_map(coverage_map_html(small_result(), bands_min=BANDS)).page
    text = _popup_after_click(page, "path.hr-village.hr-v-V01")
    # The nearest facility by name, not by id; the mode of each tier in the reader's language.
    assert "老营村" in text and "1234" in text and "10.0" in text and "6.5" in text and "老营镇卫生院" in text
    assert "F-THC1" not in text and "行车" in text
    text = _popup_after_click(page, "path.hr-village.hr-v-V04")
    assert "万家寨村" in text and "—" in text and "道路未连通 <5 km & `${x}`" in text


def test_malicious_name_renders_as_text(open_map) -> None:
    opened = open_map(coverage_map_html(small_result(project_name=MALICIOUS), bands_min=BANDS))
    page = opened.page
    page.locator("path.hr-village.hr-v-V03").first.hover()
    assert MALICIOUS in page.locator(".leaflet-tooltip").first.inner_text()
    text = _popup_after_click(page, "path.hr-village.hr-v-V03")
    assert text.count(MALICIOUS) == 2  # the name and the note
    assert page.locator(".leaflet-popup-content img").count() == 0
    assert page.locator(".hr-title").inner_text().startswith(MALICIOUS)
    assert page.locator("img[src='x']").count() == 0
    assert opened.dialogs == [] and opened.errors == [] and opened.external == []


def test_tiles_requested_only_when_shown(open_map) -> None:
    opened = open_map(coverage_map_html(small_result(), basemap="osm", bands_min=BANDS))
    page = opened.page
    page.wait_for_timeout(300)
    assert opened.external == []
    page.locator(".leaflet-control-layers").hover()
    page.locator("label", has_text=basemap_name("osm", "zh")).locator("input").check()
    page.wait_for_timeout(500)
    # Turning the layer on does reach for tiles: the counter is live, and was zero before.
    assert opened.external and all("tile.openstreetmap.org" in url for url in opened.external)


def test_scenario_map_minutes_saved(open_map) -> None:
    base, scenario = scenario_pair()
    opened = open_map(scenario_map_html(base, scenario, name="tianfengping", title="天峰坪新建卫生院",
                                        bands_min=BANDS), "scenario.html")
    page = opened.page
    _screenshot(page, "scenario_map.png")
    saved_layer = labels.text("minutes_saved", "zh")
    names = _layer_names(page)
    assert saved_layer in names and labels.text("changed_facilities", "zh") in names
    checked = page.locator(".leaflet-control-layers-base input:checked + span").inner_text().strip()
    assert checked == saved_layer
    assert page.evaluate("window.healthreach.tier") == "township"  # the only tier the scenario changes
    _popup_after_click(page, "path.hr-village.hr-view-saved.hr-v-V05")
    assert page.locator(".leaflet-popup-content .hr-saved[data-tier='township']").inner_text() == SAVED_MINUTES_V05
    text = _popup_after_click(page, "path.hr-village.hr-view-saved.hr-v-V04")
    assert labels.text("newly_reachable", "zh") in text
    changed = {c: page.locator(f"path.hr-change-{c}").count() for c in ("added", "removed", "upgraded")}
    assert changed == {"added": 1, "removed": 1, "upgraded": 1}
    assert opened.external == [] and opened.errors == [] and opened.dialogs == []


def test_search_finds_a_village_and_opens_its_popup(open_map) -> None:
    opened = open_map(coverage_map_html(small_result(), bands_min=BANDS))
    page = opened.page
    search = page.locator(".hr-search input")
    search.fill("水泉")
    hits = page.locator(".hr-search li")
    assert sorted(hits.all_inner_texts()) == sorted(["水泉村 水泉乡", "水泉乡卫生院 乡镇卫生院"])
    page.locator(".hr-search li", has_text="水泉村").click()
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for(timeout=5000)
    assert "水泉村" in popup.inner_text() and "856" in popup.inner_text()
    # The malicious name is found by its text and listed as text, not as an element.
    search.fill("<img")
    assert page.locator(".hr-search li").count() == 1
    assert MALICIOUS in page.locator(".hr-search li").inner_text()
    assert page.locator(".hr-search img").count() == 0
    search.press("Enter")
    page.wait_for_timeout(300)
    assert MALICIOUS in page.locator(".leaflet-popup-content").inner_text()
    _screenshot(page, "coverage_map_search.png")
    assert opened.external == [] and opened.errors == [] and opened.dialogs == []


def test_summary_panel_equals_county_summary(open_map) -> None:
    result = small_result()
    opened = open_map(coverage_map_html(result, bands_min=BANDS))
    cells = opened.page.locator(".hr-summary td.hr-pop")
    shown = {}
    for i in range(cells.count()):
        cell = cells.nth(i)
        key = f"{cell.get_attribute('data-tier')}_pop_{cell.get_attribute('data-band')}min"
        # text_content: the panel may start collapsed on a narrow window; its figures are there all the same.
        shown[key] = int(cell.evaluate("td => td.firstChild.textContent").replace(",", ""))
    county = result.summary["county"].iloc[0]
    assert shown == {k: int(county[k]) for k in COUNTY_SUMMARY} == COUNTY_SUMMARY
    assert opened.page.locator(".hr-summary svg polyline.hr-curve-line").count() == 2
    assert opened.external == []


def _village_latlng(page, name: str) -> tuple[float, float]:
    return tuple(page.evaluate(
        "n => { const e = window.hrSearchIndex.find(x => x.n === n); const p = e.m.getLatLng(); return [p.lat, p.lng]; }",
        name))


def test_amap_display_moves_villages_300_to_700_m(open_map) -> None:
    plain = open_map(coverage_map_html(small_result(), bands_min=BANDS), "plain.html")
    shifted = open_map(coverage_map_html(small_result(), basemap="amap", bands_min=BANDS), "amap.html")
    for name in ("老营村", "水泉村", "天峰坪村"):
        (lat0, lon0), (lat1, lon1) = _village_latlng(plain.page, name), _village_latlng(shifted.page, name)
        # Haversine, independent of the GCJ-02 code under test.
        p0, p1, dl = np.radians(lat0), np.radians(lat1), np.radians(lon1 - lon0)
        a = np.sin((p1 - p0) / 2) ** 2 + np.cos(p0) * np.cos(p1) * np.sin(dl / 2) ** 2
        metres = 2 * 6_371_008.8 * np.arcsin(np.sqrt(a))
        assert 300 < metres < 700, (name, metres)
    assert plain.external == [] and shifted.external == []


def test_service_overlay_toggles_and_popup_gives_the_service_minutes(open_map) -> None:
    from test_maps_html import service_result

    result = service_result()
    opened = open_map(coverage_map_html(result, bands_min=BANDS))
    page = opened.page
    overlay = f"{labels.text('service', 'zh')}：{labels.tier_name('stroke', 'zh')}"
    assert overlay in _layer_names(page)
    assert page.locator("path.hr-service-stroke").count() == 0  # hidden by default
    page.locator(".leaflet-control-layers").hover()
    page.locator("label", has_text=overlay).locator("input").check()
    offering = result.facilities["services"].str.split(";").map(lambda s: "stroke" in s).sum()
    assert page.locator("path.hr-service-stroke").count() == offering == 1
    assert page.locator("path.hr-service-trauma").count() == 0
    page.mouse.move(600, 400)  # let the layer control collapse before clicking on the map
    villages = result.villages.set_index("vid")
    for vid in ("V02", "V04"):
        _popup_after_click(page, f"path.hr-village.hr-v-{vid}")
        shown = page.locator(".leaflet-popup-content tr.hr-svc[data-service='stroke'] td.hr-min").inner_text()
        seconds = villages.loc[vid, "stroke_time_s"]
        assert shown == ("—" if np.isnan(seconds) else f"{seconds / 60:.1f}"), vid
    _screenshot(page, "coverage_map_services.png")
    assert opened.external == [] and opened.errors == [] and opened.dialogs == []


def _all_tiers_result():
    """The small result with a travel time for every summarised tier (for long tier names)."""
    import dataclasses

    result = small_result()
    times = result.villages["township_time_s"]
    villages = result.villages.assign(subcentre_time_s=times * 1.5, village_time_s=times * 0.3,
                                      ems_time_s=times * 0.8, community_time_s=times * 2.0)
    return dataclasses.replace(result, villages=villages)


def _rects(page: Page, selector: str) -> list[dict]:
    return page.evaluate(f"Array.from(document.querySelectorAll({selector!r})).map(e => e.getBoundingClientRect())"
                         ".filter(r => r.width > 0).map(r => ({l: r.left, r: r.right, t: r.top, b: r.bottom}))")


def _overlap(a: dict, b: dict) -> bool:
    return a["l"] < b["r"] and b["l"] < a["r"] and a["t"] < b["b"] and b["t"] < a["b"]


@pytest.fixture(scope="module")
def boxed_pages() -> dict[str, str]:
    """An English coverage map with every tier (the widest panel) and a scenario map."""
    base, scenario = scenario_pair()
    return {"coverage.html": coverage_map_html(_all_tiers_result(), bands_min=BANDS, lang="en"),
            "scenario.html": scenario_map_html(base, scenario, name="s", title="t", bands_min=BANDS)}


@pytest.mark.parametrize("size", [(1200, 800), (1600, 1000), (1920, 1080)])
def test_boxes_leave_the_study_area_clear_at_first_view(browser: Browser, tmp_path: Path, boxed_pages, size) -> None:
    for name, html in boxed_pages.items():
        (tmp_path / name).write_text(html, encoding="utf-8")
        page = browser.new_page(viewport={"width": size[0], "height": size[1]})
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://") else route.abort())
        page.goto((tmp_path / name).as_uri())
        page.wait_for_function("document.querySelectorAll('path.hr-village').length > 0")
        page.wait_for_timeout(300)
        boxes = _rects(page, ".hr-box")
        features = _rects(page, "path.hr-village, path.hr-facility")
        assert features and boxes
        covered = [(f, b) for f in features for b in boxes if _overlap(f, b)]
        assert covered == [], (name, size, covered[:3])
        # Collapsible: the panel folds away and opens again.
        panel = page.locator("details.hr-summary")
        panel.locator("summary").click()
        panel.locator("summary").click()
        assert panel.count() == 1
        page.close()


def test_facilities_stay_above_catchments_whatever_the_order(open_map) -> None:
    opened = open_map(coverage_map_html(small_result(), bands_min=BANDS))
    page = opened.page
    catchments = f"服务范围：{labels.tier_name('township', 'zh')}"
    page.locator(".leaflet-control-layers").hover()
    box = page.locator("label", has_text=catchments).locator("input")
    box.uncheck()
    box.check()  # Leaflet appends a re-added layer's paths last, on top of its own pane
    page.mouse.move(600, 400)
    for fid in ("F-THC1", "F-THC2"):
        marker = page.locator(f"path.hr-facility.hr-f-{fid}").first
        r = marker.bounding_box()
        top = page.evaluate("([x, y]) => document.elementFromPoint(x, y).getAttribute('class')",
                            [r["x"] + r["width"] / 2, r["y"] + r["height"] / 2])
        assert f"hr-f-{fid}" in top, top
        assert marker.evaluate("p => p.closest('.leaflet-pane').className").find("hr-facilities") >= 0
    assert page.locator("path.hr-failing").count() == 0  # the rules layer waits to be turned on
    assert opened.external == [] and opened.errors == []


def test_english_curve_keys_are_whole(open_map) -> None:
    opened = open_map(coverage_map_html(_all_tiers_result(), bands_min=BANDS, lang="en"))
    page = opened.page
    page.evaluate("document.querySelector('details.hr-summary').open = true")
    keys = page.locator(".hr-curve-key")
    names = [labels.tier_name(t, "en") for t in ("township", "subcentre", "hospital", "village", "ems", "community")]
    assert keys.all_inner_texts() == names
    panel = page.locator("details.hr-summary").bounding_box()
    for i in range(keys.count()):
        key = keys.nth(i)
        assert key.evaluate("k => k.scrollWidth <= k.clientWidth + 1"), key.inner_text()
        r = key.bounding_box()
        assert panel["x"] <= r["x"] and r["x"] + r["width"] <= panel["x"] + panel["width"]
    assert page.locator("tr[data-tier]").count() == len(names)  # a table row per curve
    assert opened.external == [] and opened.errors == []


def test_scenario_tier_switch_and_escaped_names(open_map) -> None:
    import dataclasses

    evil = "<script>alert(1)</script>\"'`${x}`"
    base, scenario = scenario_pair()
    renamed = [v.assign(name=np.where(v["vid"] == "V05", evil, v["name"])) for v in (base.villages, scenario.villages)]
    base = dataclasses.replace(base, villages=renamed[0], project_name=evil)
    scenario = dataclasses.replace(scenario, villages=renamed[1], facilities=scenario.facilities.assign(
        name=np.where(scenario.facilities["fid"] == "F-NEW", evil, scenario.facilities["name"])))
    opened = open_map(scenario_map_html(base, scenario, name=evil, title=evil, bands_min=BANDS), "evil.html")
    page = opened.page
    scripts = page.evaluate("document.scripts.length")
    assert page.evaluate("window.healthreach.tier") == "township"
    assert evil in page.locator(".hr-title").inner_text()
    saved_fill = page.locator("path.hr-v-V05").first.get_attribute("fill")
    page.locator(".hr-switch input[value='hospital']").check()  # by the UI
    assert page.evaluate("window.healthreach.tier") == "hospital"
    assert page.locator(".hr-cmp-tier[data-tier='township']").is_hidden()
    assert page.locator("path.hr-v-V05").first.get_attribute("fill") != saved_fill  # restyled: no change there
    page.evaluate("window.healthreach.showTier('township')")  # and by script
    assert page.locator("path.hr-v-V05").first.get_attribute("fill") == saved_fill
    page.locator("path.hr-v-V05").first.hover()
    tip = page.locator(".leaflet-tooltip").last.inner_text()
    assert evil in tip and SAVED_MINUTES_V05 in tip  # the name as text, set again by the switch
    text = _popup_after_click(page, "path.hr-v-V05")
    assert evil in text
    _popup_after_click(page, "path.hr-f-F-NEW:not(.hr-change-added)")
    assert evil in page.locator(".leaflet-popup-content").inner_text()
    assert page.evaluate("document.scripts.length") == scripts
    # One legend block at a time: the minutes-saved classes, or the time classes of the view shown.
    assert page.locator(".hr-legend-view[data-view='saved']").is_visible()
    assert page.locator(".hr-legend-view[data-view='times']").is_hidden()
    page.locator(".leaflet-popup-close-button").click()
    page.locator(".leaflet-control-layers").hover()
    page.locator(".leaflet-control-layers-base label", has_text=labels.text("baseline", "zh")).locator("input").check()
    assert page.locator(".hr-legend-view[data-view='times']").is_visible()
    assert page.locator(".hr-legend-view[data-view='saved']").is_hidden()
    _screenshot(page, "scenario_map_switch.png")
    assert opened.dialogs == [] and opened.errors == [] and opened.external == []
