"""Offline HTML maps without a browser: no external URLs, escaping, languages, size, scenario diffs."""
from __future__ import annotations

import dataclasses
import json
import math
import re

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from healthreach._errors import InputError, UsageError
from healthreach.coverage.result import AnalysisResult
from healthreach.maps import labels
from healthreach.layers.crs import wgs84_to_gcj02
from healthreach.commands import sample_dir
from healthreach.commands.setup import Options, output_options
from healthreach.layers.project import load_project
from healthreach.maps.basemaps import for_display
from healthreach.maps.coverage_map import coverage_map_html
from healthreach.maps.curves import coverage_curve, summary_tiers
from healthreach.maps.style import UNREACHABLE_FILL, time_classes, time_colour
from healthreach.maps.offline import display_frame, inline_assets, vendor_text
from healthreach.maps.scenario_map import facility_changes, minutes_saved, scenario_map_html
from map_fixtures import (
    BANDS,
    COUNTY_SUMMARY,
    MALICIOUS,
    SAVED_MINUTES_V05,
    VILLAGES,
    county_sized_result,
    scenario_pair,
    small_result,
)

ATTRIBUTE_URL = re.compile(r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?)\s*(?:https?:)?//""", re.I)
ANY_URL = re.compile(r"https?://[^\s\"'\\)<>]+")


def _without_vendor(html: str) -> str:
    """The page minus the vendored Leaflet files (whose comments and attribution link hold URLs)."""
    js, css = vendor_text("leaflet.js"), vendor_text("leaflet.css")
    assert html.count(js) == 1 and html.count(css) == 1
    return html.replace(js, "").replace(css, "")


@pytest.fixture(scope="module")
def pages() -> dict[str, str]:
    base, scenario = scenario_pair()
    return {
        "zh": coverage_map_html(small_result(), bands_min=BANDS),
        "en": coverage_map_html(small_result(), lang="en", bands_min=BANDS),
        "tiles": coverage_map_html(small_result(), basemap="osm", bands_min=BANDS),
        "amap": coverage_map_html(small_result(), basemap="amap", bands_min=BANDS),
        "tianditu": coverage_map_html(small_result(), basemap="tianditu", basemap_key="KEY123", bands_min=BANDS),
        "scenario": scenario_map_html(base, scenario, name="tianfengping", title="天峰坪新建卫生院", bands_min=BANDS),
        "scenario_en": scenario_map_html(base, scenario, name="tianfengping", title="New THC", lang="en", bands_min=BANDS),
    }


TILE_HOSTS = {"tiles": {"tile.openstreetmap.org"}, "amap": {"webrd0{s}.is.autonavi.com"},
              "tianditu": {"t{s}.tianditu.gov.cn"}}


@pytest.mark.parametrize("key", ["zh", "en", "tiles", "amap", "tianditu", "scenario", "scenario_en"])
def test_no_external_resources(pages: dict[str, str], key: str) -> None:
    page = _without_vendor(pages[key])
    assert not ATTRIBUTE_URL.search(page)
    urls = set(ANY_URL.findall(page))
    # The only URLs left are the tile templates, and only when a tile basemap was asked for.
    assert {url.split("/")[2] for url in urls} == TILE_HOSTS.get(key, set())
    if key == "tianditu":
        assert len(urls) == 2 and page.count("\\u0026tk=KEY123\"") == 2  # map and annotation layers
    assert "cdn.jsdelivr" not in page and "jquery" not in page.lower()


def test_leaflet_vendored_with_licence() -> None:
    assert "Leaflet 1.9.4" in vendor_text("leaflet.js")
    assert "BSD 2-Clause" in vendor_text("LICENSE")
    css = vendor_text("leaflet.css")
    assert "url(images/" not in css and css.count("data:image/png;base64,") == 3


def test_inline_assets_on_plain_folium_and_refuses_unknown_cdn() -> None:
    m = folium.Map(tiles=None)
    folium.CircleMarker([39.4, 111.5]).add_to(m)
    page = inline_assets(m.get_root().render())
    assert not ATTRIBUTE_URL.search(_without_vendor(page))
    plugin = m.get_root().render().replace("</head>", '<script src="https://unpkg.com/x/plugin.js"></script></head>')
    with pytest.raises(RuntimeError, match="unpkg.com"):
        inline_assets(plugin)
    with pytest.raises(RuntimeError, match="Leaflet"):
        inline_assets("<html><head></head><body></body></html>")


@pytest.mark.parametrize("key", ["zh", "en", "scenario"])
def test_user_text_only_escaped(pages: dict[str, str], key: str) -> None:
    page = pages[key]
    assert MALICIOUS not in page
    assert "\\u003cimg" not in page.lower()  # a JS string holding a raw tag would become live HTML
    hits = [m.start() for m in re.finditer("onerror=alert", page)]
    assert hits, "the malicious village must be on the map"
    for start in hits:
        before = page[max(0, start - 30) : start]
        assert before.endswith(("&lt;img src=x ", "\\u0026lt;img src=x ")), before
    assert "${x}" not in page and "`${" not in page  # the note's template-literal payload
    for _vid, name, *_ in VILLAGES:
        assert labels.esc(name) in page or labels.esc(name).replace("&", "\\u0026") in page


def test_project_name_and_title_escaped() -> None:
    page = coverage_map_html(small_result(project_name=MALICIOUS), bands_min=BANDS)
    assert MALICIOUS not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    base, scenario = scenario_pair()
    page = scenario_map_html(base, scenario, name="a", title="<b>t</b>", bands_min=BANDS)
    assert "<b>t</b>" not in page and "&lt;b&gt;t&lt;/b&gt;" in page


def _shows(page: str, label: str) -> bool:
    """Whether `label` is in the page as text or as a JSON string (folium writes layer names so)."""
    return label in page or json.dumps(label)[1:-1] in page


def test_languages_switch(pages: dict[str, str]) -> None:
    zh, en = pages["zh"], pages["en"]
    for lang_text in (lambda lang: labels.text("basemap_roads", lang),
                      lambda lang: labels.time_heading("township", lang),
                      lambda lang: labels.time_heading("township", lang, key="villages_time_to")):
        assert _shows(zh, lang_text("zh")) and not _shows(en, lang_text("zh"))
        assert _shows(en, lang_text("en")) and not _shows(zh, lang_text("en"))
    assert labels.time_heading("township", "zh") == "到乡镇卫生院行车时间"
    assert labels.time_heading("community", "zh") == "到社区卫生服务机构步行时间"
    assert labels.time_heading("community", "en") == "Walking time to community health station"
    assert _shows(pages["scenario_en"], labels.text("minutes_saved", "en"))
    assert _shows(pages["scenario"], labels.text("minutes_saved", "zh"))
    with pytest.raises(UsageError, match="fr"):
        coverage_map_html(small_result(), lang="fr", bands_min=BANDS)


def test_time_classes() -> None:
    classes = time_classes(BANDS)
    limits = [limit for limit, _ in classes]
    colours = [colour for _, colour in classes]
    assert limits == [15, 30, 45, 60, math.inf] and len(set(colours)) == 5
    assert time_colour(limits[0] * 60, BANDS) == colours[0]
    assert time_colour(limits[0] * 60 + 1, BANDS) == colours[1]
    assert time_colour(3601.0, BANDS) == colours[-1]
    assert time_colour(math.nan, BANDS) == time_colour(None, BANDS) == UNREACHABLE_FILL
    # Other bands, other classes: 40 min is in the third of 10/20/40/90 and the first of 60/120.
    assert time_colour(2400.0, (10, 20, 40, 90)) == time_classes((10, 20, 40, 90))[2][1]
    assert time_colour(2400.0, (120, 60)) == time_classes((60, 120))[0][1]


def test_minutes_saved_matches_hand_figures() -> None:
    base, scenario = scenario_pair()
    table = minutes_saved(base.villages, scenario.villages, "township").set_index("vid")
    assert f"{table.loc['V05', 'saved_min']:.1f}" == SAVED_MINUTES_V05
    assert table.loc["V05", "status"] == "saved"
    assert table.loc["V01", "saved_min"] == pytest.approx(-1.0) and table.loc["V01", "status"] == "worse"
    assert table.loc["V04", "status"] == "newly_reachable" and math.isnan(table.loc["V04", "saved_min"])
    assert table.loc["V02", "status"] == "no_change" and table.loc["V02", "saved_min"] == 0.0
    # Independent check: the saving is the plain difference of the two frames' columns.
    merged = base.villages.merge(scenario.villages, on="vid", suffixes=("_b", "_s"))
    expected = (merged["township_time_s_b"] - merged["township_time_s_s"]) / 60.0
    np.testing.assert_allclose(table.loc[merged["vid"], "saved_min"], expected)


def test_duplicate_vid_is_input_error() -> None:
    base, scenario = scenario_pair()
    doubled = pd.concat([scenario.villages, scenario.villages.iloc[:1]])
    with pytest.raises(InputError, match="V01"):
        minutes_saved(base.villages, doubled, "township")


def test_facility_changes() -> None:
    base, scenario = scenario_pair()
    changes = facility_changes(base.facilities, scenario.facilities).set_index("fid")
    assert dict(changes["change"]) == {"F-NEW": "added", "F-VC1": "removed", "F-THC2": "upgraded"}
    assert changes.loc["F-THC2", ["kind_before", "kind_after"]].tolist() == ["township_hc", "subcentre"]
    assert changes.loc["F-VC1", "geometry"].equals(base.facilities.set_index("fid").loc["F-VC1", "geometry"])


def test_missing_township_time_is_input_error() -> None:
    result = small_result()
    times = [c for c in result.villages.columns if c.endswith("_time_s")]
    broken = result.__class__(**{**result.__dict__, "villages": result.villages.drop(columns=times)})
    with pytest.raises(InputError, match="township_time_s"):
        coverage_map_html(broken, bands_min=BANDS)


def test_display_frame_simplifies_within_tolerance() -> None:
    line = shapely.LineString([(111.3 + i * 0.0005, 39.3 + 0.00005 * ((-1) ** i)) for i in range(200)])
    frame = gpd.GeoDataFrame({"highway": ["track"]}, geometry=[line], crs=4326)
    shown = display_frame(frame, "roads", tolerance_m=25.0, decimals=5)
    out = shown.geometry.iloc[0]
    assert shapely.get_num_coordinates(out) < shapely.get_num_coordinates(line) / 10
    coords = shapely.get_coordinates(out)
    assert np.array_equal(coords, np.round(coords, 5))
    metric = frame.estimate_utm_crs()
    a = gpd.GeoSeries([line], crs=4326).to_crs(metric).iloc[0]
    b = gpd.GeoSeries([out], crs=4326).to_crs(metric).iloc[0]
    assert a.hausdorff_distance(b) <= 25.0 + 2.0  # tolerance plus 5-decimal rounding (< 1 m each axis)
    assert frame.geometry.iloc[0].equals(line)


def test_county_sized_map_is_small_and_inputs_untouched() -> None:
    result = county_sized_result()
    copies = {name: getattr(result, name).copy(deep=True) for name in ("villages", "roads", "catchments")}
    page = coverage_map_html(result, bands_min=BANDS)
    assert len(page.encode("utf-8")) < 5_000_000
    for name, before in copies.items():
        after = getattr(result, name)
        pd.testing.assert_frame_equal(pd.DataFrame(after.drop(columns="geometry")),
                                      pd.DataFrame(before.drop(columns="geometry")))
        assert after.geometry.geom_equals_exact(before.geometry, tolerance=0).all()


def test_tianditu_needs_a_key_and_basemap_names_are_checked(monkeypatch: pytest.MonkeyPatch,
                                                            tmp_path) -> None:
    monkeypatch.delenv("TIANDITU_KEY", raising=False)
    with pytest.raises(UsageError, match="TIANDITU_KEY"):
        coverage_map_html(small_result(), basemap="tianditu", bands_min=BANDS)
    with pytest.raises(UsageError, match="--basemap bing"):
        coverage_map_html(small_result(), basemap="bing", bands_min=BANDS)
    # The key: the project file's basemap_key, else the environment; decided once by the commands.
    project = dataclasses.replace(load_project(sample_dir("county") / "project.yml"), basemap_key="FROMFILE")
    tianditu = Options(basemap="tianditu")
    with pytest.raises(UsageError, match="TIANDITU_KEY"):
        output_options(dataclasses.replace(project, basemap_key=None), tianditu)
    monkeypatch.setenv("TIANDITU_KEY", "FROMENV")
    assert output_options(project, tianditu).basemap_key == "FROMFILE"
    assert output_options(dataclasses.replace(project, basemap_key=None), tianditu).basemap_key == "FROMENV"
    assert output_options(project, Options()).basemap_key is None


def test_amap_display_shifts_every_layer_but_not_the_input() -> None:
    result = small_result()
    before = result.villages.geometry.copy()
    shown = for_display(result, "amap")
    assert result.villages.geometry.geom_equals_exact(before, 0).all()
    for name in ("villages", "facilities", "catchments", "roads", "boundaries"):
        moved = getattr(shown, name).geometry.to_crs(4546).centroid.distance(
            getattr(result, name).geometry.to_crs(4546).centroid)
        assert ((moved > 300) & (moved < 700)).all(), name
    lon, lat = wgs84_to_gcj02(np.array([111.50]), np.array([39.40]))
    v01 = shown.villages.geometry[shown.villages["vid"] == "V01"].iloc[0]
    assert (v01.x, v01.y) == (lon[0], lat[0])
    assert for_display(result, "osm") is result


def test_search_index_lists_every_village_and_facility_once(pages: dict[str, str]) -> None:
    page = pages["zh"]
    script = page[page.index("window.hrSearchIndex"):]
    entries = re.search(r"var entries=\[(.*?)\];window.hrSearchIndex", page, re.S).group(1)
    count = entries.count("{n:")
    assert count == len(VILLAGES) + 5  # five facilities, the ambulance-holding ones not repeated
    assert "老营村" in entries and "偏关县人民医院" in entries
    assert "\\u0026lt;img src=x" in entries  # the malicious name is escaped before it becomes JS
    assert "innerHTML=e.n" in script


def test_summary_panel_and_curve_from_the_result(pages: dict[str, str]) -> None:
    page = pages["zh"]
    for key, pop in COUNTY_SUMMARY.items():
        tier, band = key.split("_pop_")
        cell = re.search(rf"data-tier='{tier}' data-band='{band[:-3]}' data-pop='(\d+)'>([\d,]+)", page)
        assert cell and int(cell.group(1)) == pop and int(cell.group(2).replace(",", "")) == pop, key
    assert page.count("class='hr-curve-line'") == 2  # hospital and township tiers have times


def test_coverage_curve_hand_figures() -> None:
    villages = small_result().villages
    shares = coverage_curve(villages, "township", np.array([0.0, 10.0, 24.9, 25.0, 40.0, 66.0, 67.0, 90.0]))
    expected = np.array([0, 1234, 1234, 2090, 2411, 2411, 4421, 4421]) / 4571
    np.testing.assert_allclose(shares, expected)
    assert np.isnan(coverage_curve(villages.assign(population=0), "township", np.arange(3.0))).all()
    assert summary_tiers(villages) == ["township", "hospital"]  # the tiers the curve draws, in summary order


def test_catchment_tiers_get_their_own_layers() -> None:
    result = small_result()
    extra = result.catchments.iloc[:2].assign(tier=["ems", "community"], band_min=[15, 15])
    page = coverage_map_html(dataclasses.replace(result, catchments=pd.concat([result.catchments, extra])),
                             bands_min=BANDS)
    assert _shows(page, labels.text("ems_radius", "zh")) and _shows(page, labels.text("walk_15min", "zh"))
    assert not _shows(coverage_map_html(result, bands_min=BANDS), labels.text("ems_radius", "zh"))


def test_facility_popup_lists_failed_facility_rules() -> None:
    result = small_result()
    rule = pd.DataFrame([{"rule_id": "THC-BEDS", "scope": "facility", "scope_id": "F-THC2", "scope_name": "x",
                          "value": 15, "target": 20, "unit": "beds", "passed": False, "source": "s", "note": ""}])
    page = coverage_map_html(dataclasses.replace(result, standards=pd.concat([result.standards, rule])),
                             bands_min=BANDS)
    assert page.count("THC-BEDS") >= 1 and "THC-BEDS" not in coverage_map_html(result, bands_min=BANDS)


# Services on the small result, worked out by hand. F-HOSP offers chest pain, stroke and the regional
# centre designation (its name is made malicious), F-THC1 a TCM hall. Times to F-HOSP by ambulance:
# V01 12 min, V02 33 min, V03 45.5 min, V04 unreachable, V05 75 min; so within the 60-minute golden
# hour: V01 + V02 + V03 = 1234 + 856 + 321 = 2411 of 4571 persons.
HOSPITAL_SERVICE_S = {"V01": 720.0, "V02": 1980.0, "V03": 2730.0, "V04": math.nan, "V05": 4500.0}
GOLDEN_SHARE = round(2411 / 4571, 4)


def service_result(*, golden_min: float | None = None) -> AnalysisResult:
    """The small result with services on two facilities, their village columns and a `services` table."""
    result = small_result()
    facilities = result.facilities.copy()
    facilities["services"] = ["chest_pain;stroke;regional_centre", "tcm_hall", "", "", ""]
    facilities.loc[facilities["fid"] == "F-HOSP", "name"] = MALICIOUS
    villages = result.villages.copy()
    seconds = villages["vid"].map(HOSPITAL_SERVICE_S).to_numpy(dtype=float)
    for service in ("chest_pain", "stroke", "regional_centre"):
        villages[f"{service}_fid"] = np.where(np.isfinite(seconds), "F-HOSP", None)
        villages[f"{service}_time_s"] = seconds
        villages[f"{service}_dist_m"] = seconds * 15.0
    villages["tcm_hall_fid"] = villages["township_fid"]
    villages["tcm_hall_time_s"] = villages["township_time_s"]
    villages["tcm_hall_dist_m"] = villages["township_dist_m"]
    rows = [{"scope": "county", "name": "偏关县", "group": "all", "service": s, "population": 4571,
             "golden_hour_share": GOLDEN_SHARE} for s in ("chest_pain", "stroke")]
    rows += [{"scope": "county", "name": "偏关县", "group": "elderly", "service": "stroke", "population": 500,
              "golden_hour_share": 0.9},
             {"scope": "township", "name": "老营镇", "group": "all", "service": "stroke", "population": 1705,
              "golden_hour_share": 0.1},
             {"scope": "county", "name": "偏关县", "group": "all", "service": "tcm_hall", "population": 4571,
              "golden_hour_share": math.nan}]
    summary = {**result.summary, "services": pd.DataFrame(rows)}
    provenance = {} if golden_min is None else {"settings": {"rules": {"GOLDEN-HOUR": {"value": golden_min}}}}
    return dataclasses.replace(result, facilities=facilities, villages=villages, summary=summary,
                               provenance=provenance)


def _overlays(page: str) -> dict[str, str]:
    """Layer-control overlay name -> folium variable, read from the page's script."""
    block = page[page.index("overlays :"):]
    block = block[: block.index("}")]
    return {json.loads(f'"{name}"'): var for name, var in re.findall(r'"((?:[^"\\]|\\.)*)" : (feature_group_\w+)', block)}


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_service_overlays_hidden_escaped_and_only_for_services_present(lang: str) -> None:
    page = coverage_map_html(service_result(), lang=lang, bands_min=BANDS)
    overlays = _overlays(page)
    sep = "：" if lang == "zh" else ": "
    offered = {"chest_pain": 1, "stroke": 1, "regional_centre": 1, "tcm_hall": 1}
    for service, facilities in offered.items():
        name = labels.esc(f"{labels.text('service', lang)}{sep}{labels.tier_name(service, lang)}")
        assert name in overlays, name
        assert f"{overlays[name]}.addTo(" not in page  # hidden until the user ticks it
        assert page.count(f"hr-service-{service}\"") == facilities
    assert ("服务：卒中中心" if lang == "zh" else "Service: Stroke centre") in overlays
    assert sum(n.startswith(labels.text("service", lang) + sep) for n in overlays) == len(offered)
    assert "hr-service-trauma" not in page  # no facility offers it
    assert MALICIOUS not in page and "\\u0026lt;img src=x onerror=alert(1)\\u0026gt;" in page
    assert coverage_map_html(small_result(), lang=lang, bands_min=BANDS).count("hr-service-") == 0


def test_village_popup_lists_services_present_in_order() -> None:
    from healthreach.maps.coverage_map import village_tiers
    from healthreach.maps.popups import facility_names, village_popup

    result = service_result()
    villages = result.villages.set_index("vid", drop=False)
    names = facility_names(result.facilities)
    tiers = village_tiers(villages)
    assert tiers == ["hospital", "township"]
    popup = village_popup(villages.loc["V02"], tiers, "zh", names)
    found = re.findall(r"data-service='(\w+)'><td>([^<]+)</td><td>([^<]+)</td><td>([^<]+)</td>"
                       r"<td class='hr-min'>([^<]+)</td>", popup)
    hospital = labels.esc(MALICIOUS)  # F-HOSP's name in this result, escaped
    assert found == [("chest_pain", "胸痛中心", hospital, "救护车", "33.0"), ("stroke", "卒中中心", hospital, "救护车", "33.0"),
                     ("tcm_hall", "中医馆", "水泉乡卫生院", "行车", "25.0"),
                     ("regional_centre", "市级区域医疗中心", hospital, "行车", "33.0")]
    unreachable = village_popup(villages.loc["V04"], tiers, "en", names)
    assert re.findall(r"data-service='stroke'><td>Stroke centre</td><td>(.)</td><td>Ambulance</td>"
                      r"<td class='hr-min'>(.)</td>", unreachable) == [("—", "—")]
    assert "hr-svc" not in village_popup(small_result().villages.iloc[0], tiers, "zh", names)


def test_golden_hour_line_from_the_county_services_table() -> None:
    result = service_result()
    page = coverage_map_html(result, bands_min=BANDS)
    shown = dict(re.findall(r"class='hr-golden' data-service='(\w+)' data-share='([\d.]+)'", page))
    assert shown == {"chest_pain": f"{GOLDEN_SHARE:.4f}", "stroke": f"{GOLDEN_SHARE:.4f}"}
    # Independent check from the village table: persons within 60 minutes of a stroke centre.
    villages = result.villages
    within = villages["stroke_time_s"].to_numpy(dtype=float) <= 3600
    assert float(shown["stroke"]) == pytest.approx(villages["population"][within].sum() / villages["population"].sum(),
                                                   abs=5e-5)
    assert f"卒中中心 {GOLDEN_SHARE:.1%}" in page and "救护车60分钟内" in page
    assert "救护车90分钟内" in coverage_map_html(service_result(golden_min=90), bands_min=BANDS)
    assert "hr-golden" not in coverage_map_html(small_result(), bands_min=BANDS)
