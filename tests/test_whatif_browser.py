"""The coverage map's what-if tool in headless Chromium (every non-file request aborted), against the
engine: sites placed by clicking the map, dragged, removed, and placed through `window.healthreach`;
the page's times, gains, means and 95th percentiles checked against `healthreach compare` run on the
scenario file the page downloads."""
from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely
from chromium import Opened, open_page
from playwright.sync_api import Browser, Page
from pyproj import Transformer
from test_whatif_pack import small_pieces

from healthreach.commands.setup import Options, Prepared, prepare
from healthreach.coverage.pipeline import analyze
from healthreach.coverage.result import AnalysisResult
from healthreach.layers.crs import gcj02_to_wgs84, metric_xy, wgs84_to_gcj02
from healthreach.layers.roads.speeds import segment_speeds_kmh
from healthreach.maps import labels
from healthreach.maps.coverage_map import coverage_map_html
from healthreach.maps.whatif import SAVED_CLASSES
from healthreach.scenarios.runs import compare
from healthreach.scenarios.scenario import AddFacility, load_scenario
from healthreach.tiers import KIND_TIER, TIERS

pytestmark = pytest.mark.browser

SAMPLES = Path(__file__).resolve().parents[1] / "healthreach" / "data" / "samples"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
MAP = "Object.values(window).find(v => v instanceof L.Map)"
# (kind, tier whose slowest village the site goes to); the first is placed by clicking the map.
SITES = {
    "county": [("township_hc", "township"), ("subcentre", "hospital"), ("ems_station", "ems")],
    "district": [("community_station", "community"), ("ems_station", "ems"), ("township_hc", "hospital")],
    "banner": [("township_hc", "township"), ("ems_station", "ems"), ("subcentre", "subcentre")],
}
HOSTILE = ["<img src=x onerror=\"window.__pwned=1\">", "<script>window.__pwned=2</script>",
           "quote \" apostrophe ' `${window.__pwned=3}` back\\slash"]


@lru_cache(maxsize=None)
def analysed(sample: str) -> tuple[Prepared, AnalysisResult]:
    prepared = prepare(SAMPLES / sample / "project.yml", Options())
    return prepared, analyze(prepared.project, prepared.edges, prepared.config)


@pytest.fixture
def open_map(browser: Browser, tmp_path: Path) -> Iterator:
    pages: list[Opened] = []

    def _open(html: str) -> Opened:
        path = tmp_path / "coverage_map.html"
        path.write_text(html, encoding="utf-8")
        pages.append(open_page(browser, path, "!!(window.healthreach && window.healthreach.tryFacility)",
                               downloads=True))
        return pages[-1]

    yield _open
    for opened in pages:
        opened.page.close()


def slowest_village(result: AnalysisResult, tier: str, rank: int = 0) -> tuple[float, float]:
    """Lon/lat 150 m east of the village with the longest time to `tier` among those on the network
    (`rank` 1: the next longest...); the slowest to hospital when no facility of the tier exists."""
    villages = result.villages
    times = pd.to_numeric(villages[f"{tier}_time_s"]).fillna(-1.0).to_numpy()
    if times.max() < 0:
        times = pd.to_numeric(villages["hospital_time_s"]).fillna(-1.0).to_numpy()
    point = villages.geometry.iloc[int(np.argsort(-times, kind="stable")[rank])]
    return point.x + 150 / (111_320 * math.cos(math.radians(point.y))), point.y


def click_place(page: Page, kind: str, lat: float, lon: float) -> None:
    """Place a site of `kind` through the panel: choose the kind, press the button, click the map at
    the (display) position, centred first so that no panel covers it."""
    page.evaluate(f"([lat, lon]) => {MAP}.setView([lat, lon], 13, {{animate: false}})", [lat, lon])
    page.select_option(".hr-wi-kind", kind)
    page.locator(".hr-wi-place").click()
    box = page.locator(".folium-map").bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    assert page.evaluate("([x, y]) => !document.elementFromPoint(x, y).closest('.hr-box')", [x, y])
    page.mouse.click(x, y)


def open_panel(page: Page) -> None:
    if not page.evaluate("document.querySelector('.hr-whatif').open"):
        page.locator(".hr-whatif summary").click()


def download_scenario(page: Page, folder: Path) -> Path:
    with page.expect_download() as info:
        page.locator(".hr-wi-download").click()
    path = folder / "whatif.yml"
    info.value.save_as(path)
    return path


def saved_colour(minutes: float) -> str:
    return next(colour for upper, colour in SAVED_CLASSES if minutes < upper)


def _screenshot(page: Page, name: str) -> None:
    page.wait_for_timeout(500)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / name)
    assert (ARTIFACTS / name).stat().st_size > 10_000


@pytest.mark.parametrize("sample", ["county", "district", "banner"])
def test_placed_sites_equal_compare_on_their_scenario(sample: str, open_map, tmp_path: Path) -> None:
    prepared, result = analysed(sample)
    opened = open_map(coverage_map_html(result, bands_min=prepared.config.settings.bands_min, settings=prepared.config.settings))
    page = opened.page
    open_panel(page)
    (ui_kind, ui_tier), *api_sites = SITES[sample]

    # Through the panel: place a site by clicking the map, then drag it 24 px east and 16 px north.
    lon, lat = slowest_village(result, ui_tier)
    click_place(page, ui_kind, lat, lon)
    page.locator(".hr-wi-site-NEW1").wait_for()
    placed = page.evaluate("window.healthreach.whatIf().sites[0]")
    assert placed["kind"] == ui_kind and abs(placed["lon"] - lon) < 1e-4 and abs(placed["lat"] - lat) < 1e-4
    marker = page.locator(".hr-wi-site-NEW1").bounding_box()
    x, y = marker["x"] + marker["width"] / 2, marker["y"] + marker["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(1, 9):
        page.mouse.move(x + 3 * step, y - 2 * step)
    page.mouse.up()
    page.wait_for_function("window.healthreach.whatIf().sites[0].lon !== %r" % placed["lon"])
    dragged = page.evaluate("window.healthreach.whatIf().sites[0]")
    assert dragged["lon"] > placed["lon"] and dragged["lat"] > placed["lat"]
    assert all(j["joined"] for j in dragged["joins"].values()), dragged

    # Through the API: the other kinds, each answered for its tier with every site placed so far.
    for kind, tier in api_sites:
        lon, lat = slowest_village(result, tier)
        answer = page.evaluate("(s) => window.healthreach.tryFacility(s)", {"lon": lon, "lat": lat, "kind": kind})
        assert answer["tier"] == KIND_TIER[kind] and len(answer["villages"]) == len(result.villages)
        assert set(answer["gain"]) == {str(b) for b in prepared.config.bands_min}
    # One more, removed again with its button in the list.
    extra = page.evaluate("(s) => window.healthreach.tryFacility(s)",
                          {"lon": float(result.villages.geometry.iloc[0].x), "lat": float(result.villages.geometry.iloc[0].y),
                           "kind": "village_clinic"})
    page.locator(f".hr-wi-site-row[data-fid='{extra['fid']}'] .hr-wi-remove").click()
    state = page.evaluate("window.healthreach.whatIf()")
    assert [s["fid"] for s in state["sites"]] == ["NEW1", "NEW2", "NEW3"]
    assert "village" not in state["tiers"] or all(
        v["after_s"] == v["before_s"] for v in state["tiers"]["village"]["villages"])

    # The scenario file the page downloads is the one scenarioYaml() gives, and compare reads it.
    path = download_scenario(page, tmp_path)
    assert path.read_text(encoding="utf-8") == page.evaluate("window.healthreach.scenarioYaml()")
    scenario = load_scenario(path)
    adds = [c for c in scenario.changes if isinstance(c, AddFacility)]
    assert [(a.fid, a.kind, a.lon, a.lat) for a in adds] == \
        [(s["fid"], s["kind"], s["lon"], s["lat"]) for s in state["sites"]]
    baseline, (outcome,) = compare(prepared.project, [scenario], prepared.edges, prepared.config)
    after = outcome.result.villages.set_index("vid")
    before = baseline.villages.set_index("vid")
    assert set(state["tiers"]) == {t for s in state["sites"] for t in TIERS if s["kind"] in TIERS[t].kinds}
    for tier, shown in state["tiers"].items():
        for village in shown["villages"]:
            engine_before = before.at[village["vid"], f"{tier}_time_s"]
            engine_after = after.at[village["vid"], f"{tier}_time_s"]
            assert (village["before_s"] is None) == bool(np.isnan(engine_before))
            assert village["before_s"] is None or village["before_s"] == pytest.approx(engine_before, abs=1e-9)
            assert (village["after_s"] is None) == bool(np.isnan(engine_after)), (tier, village)
            assert village["after_s"] is None or abs(village["after_s"] - engine_after) <= 1.0, (tier, village)
        rows = outcome.table[(outcome.table["scope"] == "county") & (outcome.table["tier"] == tier)]
        assert {str(int(b)): float(g) for b, g in zip(rows["band_min"], rows["pop_gain"])} == shown["gain"]
        row = rows.iloc[0]
        for key in ("mean_min_before", "mean_min_after", "p95_min_before", "p95_min_after"):
            assert (shown[key] is None) == bool(np.isnan(row[key])), key
            assert shown[key] is None or abs(shown[key] - row[key]) <= 1 / 60, key
    assert any(g > 0 for shown in state["tiers"].values() for g in shown["gain"].values())

    # The panel shows the figures of the tier shown, and the villages that gain in its colours.
    shown_tier = page.locator(".hr-wi-tier").input_value()
    gains = state["tiers"][shown_tier]["gain"]
    for band, gain in gains.items():
        cell = page.locator(f".hr-wi-table tr[data-band='{band}'] .hr-wi-gain").inner_text()
        assert cell == (f"+{gain:,.0f}" if gain > 0 else f"{gain:,.0f}")
    deltas = outcome.deltas[outcome.deltas["tier"] == shown_tier]
    gaining = deltas[(deltas["saved_s"] > 0) | deltas["became_reachable"]]
    drawn = {g["vid"]: g for g in page.evaluate("window.healthreach.gainers()")}
    assert set(drawn) == set(gaining["vid"])
    for _, row in gaining.iterrows():
        colour = saved_colour(row["saved_s"] / 60) if row["saved_s"] > 0 else "#6a51a3"
        assert drawn[row["vid"]]["colour"] == colour
    assert opened.clean(), (opened.external, opened.dialogs, opened.errors)


@pytest.mark.parametrize("max_snap_m", [2000.0, 150.0])
def test_a_site_beside_a_road_island_joins_as_the_engine(max_snap_m: float, open_map, tmp_path: Path) -> None:
    """A community station 5 m outside the district's parking-lot island (walk only; 兴里社区 stands
    inside its U, 232 m from the streets). With max_snap_m 2,000 m the page joins the station to the
    nearest connected street, as the engine (and OSRM) do; with 150 m no street is that near and it stays
    on the island, reaching 兴里社区 alone. Either way the page's times are `healthreach compare`'s on
    the scenario it downloads."""
    prepared, _ = analysed("district")
    settings = dataclasses.replace(prepared.config.settings, max_snap_m=max_snap_m)
    config = dataclasses.replace(prepared.config, settings=settings)
    result = analyze(prepared.project, prepared.edges, config)
    edges, crs = prepared.edges, prepared.project.crs
    small = small_pieces(edges, "walk", settings)  # recomputed with networkx
    (island,) = np.flatnonzero(small)
    lines = edges.geometry.to_crs(crs).to_numpy()
    inside = metric_xy(result.villages[result.villages["vid"] == "140599002001"], crs)[0]
    middle = shapely.get_coordinates(shapely.line_interpolate_point(lines[island], 0.5, normalized=True))[0]
    site = middle + 5.0 * (middle - inside) / np.hypot(*(middle - inside))  # away from the village
    lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(*site)
    point = shapely.Point(*site)
    dist = np.where(np.isfinite(segment_speeds_kmh(edges, "walk", settings)), shapely.distance(lines, point), np.inf)
    assert int(np.argmin(dist)) == island and dist[island] == pytest.approx(5.0, abs=0.01)
    street = float(np.min(np.where(small, np.inf, dist)))
    assert 150 < street < 2000

    opened = open_map(coverage_map_html(result, bands_min=settings.bands_min, settings=settings))
    page = opened.page
    open_panel(page)
    answer = page.evaluate("(s) => window.healthreach.tryFacility(s)",
                           {"lon": lon, "lat": lat, "kind": "community_station"})
    walk = answer["sites"][0]["joins"]["walk"]
    skips = max_snap_m > street
    assert walk["joined"] and walk["on_island"] is not skips
    assert walk["access_m"] == pytest.approx(street if skips else dist[island], abs=0.01)
    assert walk["island_m"] == (pytest.approx(dist[island], abs=0.01) if skips else None)
    row = page.locator(".hr-wi-site-row[data-fid='NEW1'] small").inner_text()
    assert ("已越过 5 米外孤立的小段道路" if skips else "在孤立的小段道路上：150 米内无连通路网") in row, row

    scenario = load_scenario(download_scenario(page, tmp_path))
    baseline, (outcome,) = compare(prepared.project, [scenario], edges, config)
    before = baseline.villages.set_index("vid")["community_time_s"]
    after = outcome.result.villages.set_index("vid")["community_time_s"]
    shown = {v["vid"]: v for v in answer["villages"]}
    assert set(shown) == set(after.index)
    for vid, village in shown.items():
        assert (village["after_s"] is None) == bool(np.isnan(after[vid])), vid
        assert village["after_s"] is None or abs(village["after_s"] - after[vid]) <= 1.0, (vid, village)
    gaining = {vid for vid in shown if after[vid] < before[vid] or (np.isnan(before[vid]) and not np.isnan(after[vid]))}
    # Joined to the streets the station serves the streets around; on the island only 兴里社区.
    assert "140599002001" in gaining and (len(gaining) > 1) is skips, gaining
    assert opened.clean(), (opened.external, opened.dialogs, opened.errors)


def test_county_answers_a_placement_within_100_ms(open_map) -> None:
    prepared, result = analysed("county")
    page = open_map(coverage_map_html(result, bands_min=prepared.config.settings.bands_min, settings=prepared.config.settings)).page
    spots = [dict(zip(("lon", "lat"), slowest_village(result, tier)), kind=kind) for kind, tier in SITES["county"]]
    # Each placement timed three times (placed, removed, placed again): the fastest is the page's own
    # time, the others include whatever else the test machine was doing.
    for spot in spots:
        best = page.evaluate("""async (spot) => { let best = Infinity;
            for (let round = 0; round < 3; round++) {
              const t0 = performance.now(); const answer = await window.healthreach.tryFacility(spot);
              best = Math.min(best, performance.now() - t0);
              if (round < 2) { await window.healthreach.removeFacility(answer.fid); } }
            return best; }""", spot)
        assert best < 100, (spot, best)


def test_user_text_in_the_panel_stays_text(open_map, tmp_path: Path) -> None:
    prepared, result = analysed("county")
    villages = result.villages.copy()
    times = pd.to_numeric(villages["township_time_s"]).fillna(-1.0)
    slowest = times.sort_values(ascending=False).index[: len(HOSTILE)]
    villages.loc[slowest, "name"] = HOSTILE
    hostile = dataclasses.replace(result, villages=villages, project_name=HOSTILE[2])
    opened = open_map(coverage_map_html(hostile, bands_min=prepared.config.settings.bands_min, settings=prepared.config.settings))
    page = opened.page
    open_panel(page)
    lon, lat = slowest_village(result, "township")
    page.evaluate("(s) => window.healthreach.tryFacility(s)",
                  {"lon": lon, "lat": lat, "kind": "township_hc", "name": HOSTILE[0]})
    # A name typed into the list, with quotes, backticks and a template literal.
    name_box = page.locator(".hr-wi-site-row[data-fid='NEW1'] .hr-wi-name")
    assert name_box.input_value() == HOSTILE[0]
    name_box.fill(HOSTILE[2])
    page.locator(".hr-wi-site-NEW1").hover()
    assert page.locator(".leaflet-tooltip", has_text="apostrophe").inner_text() == HOSTILE[2]
    listed = page.locator(".hr-wi-gainers .hr-wi-vname").all_inner_texts()
    assert set(HOSTILE) & set(listed), listed
    assert page.evaluate("window.__pwned") is None
    assert page.locator("img[src='x']").count() == 0 and page.locator(".hr-whatif script").count() == 0
    scenario = load_scenario(download_scenario(page, tmp_path))
    (added,) = scenario.changes
    assert isinstance(added, AddFacility) and added.name == HOSTILE[2]
    assert scenario.title.startswith(HOSTILE[2])
    assert opened.clean(), (opened.external, opened.dialogs, opened.errors)


def test_amap_page_places_sites_in_wgs84(open_map) -> None:
    """Over Amap tiles the page draws in GCJ-02: a click is turned back into WGS84 before it is routed
    and written to the scenario, and API coordinates (WGS84) are drawn shifted."""
    prepared, result = analysed("district")
    page = open_map(coverage_map_html(result, bands_min=prepared.config.settings.bands_min, settings=prepared.config.settings, basemap="amap")).page
    open_panel(page)
    lon, lat = slowest_village(result, "community")
    glon, glat = wgs84_to_gcj02(lon, lat)
    click_place(page, "community_station", float(glat), float(glon))
    page.locator(".hr-wi-site-NEW1").wait_for()
    clicked = page.evaluate("(() => { const m = " + MAP + "; const c = m.getSize().divideBy(2); "
                            "const ll = m.containerPointToLatLng(c); return [ll.lng, ll.lat]; })()")
    site = page.evaluate("window.healthreach.whatIf().sites[0]")
    want_lon, want_lat = gcj02_to_wgs84(*clicked)
    assert abs(site["lon"] - float(want_lon)) < 2e-7 and abs(site["lat"] - float(want_lat)) < 2e-7
    page.evaluate("(s) => window.healthreach.tryFacility(s)", {"lon": lon, "lat": lat, "kind": "ems_station"})
    drawn = page.evaluate("(() => { let ll = null; " + MAP + ".eachLayer(l => { if (l.options.icon && "
                          "l.options.icon.options.className.includes('hr-wi-site-NEW2')) ll = l.getLatLng(); }); "
                          "return [ll.lng, ll.lat]; })()")
    assert abs(drawn[0] - float(glon)) < 1e-7 and abs(drawn[1] - float(glat)) < 1e-7


def test_roads_drawn_from_the_packed_network(open_map) -> None:
    prepared, result = analysed("county")
    opened = open_map(coverage_map_html(result, bands_min=prepared.config.settings.bands_min, settings=prepared.config.settings))
    page = opened.page
    names = [s.strip() for s in page.locator(".leaflet-control-layers label span span").all_text_contents()]
    assert names.count(labels.text("basemap_roads", "zh")) == 1
    page.wait_for_function("document.querySelectorAll('canvas.hr-road-tile').length > 0")
    page.wait_for_timeout(300)
    inked = page.evaluate("""Array.from(document.querySelectorAll('canvas.hr-road-tile')).map(c => {
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
        for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; })""")
    assert sum(inked) > 2000  # road pixels drawn
    page.locator(".leaflet-control-layers").hover()
    page.locator("label", has_text=labels.text("basemap_roads", "zh")).locator("input").uncheck()
    page.wait_for_timeout(200)
    assert page.locator("canvas.hr-road-tile").count() == 0
    # Wrong input is refused with a reason; a site far outside the roads joins nothing and changes nothing.
    refused = page.evaluate("window.healthreach.tryFacility({lon: 111.5, lat: 38.9, kind: 'spaceport'})"
                            ".then(() => 'placed', e => e.message)")
    assert refused.startswith("unknown kind \"spaceport\"")
    far = page.evaluate("(s) => window.healthreach.tryFacility(s)", {"lon": 100.0, "lat": 30.0, "kind": "township_hc"})
    assert far["sites"][0]["inside"] is False and set(far["gain"].values()) == {0}
    assert all(v["after_s"] == v["before_s"] for v in far["villages"])
    assert opened.clean()


def test_two_sites_on_the_county_map(open_map) -> None:
    """Two new township health centres at the two slowest villages: the picture for a human to look at,
    and the figures of two sites together (each village takes the nearer)."""
    prepared, result = analysed("county")
    opened = open_map(coverage_map_html(result, bands_min=prepared.config.settings.bands_min, settings=prepared.config.settings))
    page = opened.page
    open_panel(page)
    answers = [page.evaluate("(s) => window.healthreach.tryFacility(s)",
                             dict(zip(("lon", "lat"), slowest_village(result, "township", rank)), kind="township_hc"))
               for rank in (0, 3)]
    first, both = answers[0]["villages"], answers[1]["villages"]
    assert all(b["after_s"] <= a["after_s"] for a, b in zip(first, both) if a["after_s"] is not None)
    assert sum(answers[1]["gain"].values()) > sum(answers[0]["gain"].values()) > 0
    west, south, east, north = result.villages.total_bounds
    page.evaluate(f"{MAP}.fitBounds([[{south}, {west}], [{north}, {east}]], "
                  "{animate: false, paddingTopLeft: [20, 60], paddingBottomRight: [350, 20]})")
    page.mouse.move(5, 400)
    page.evaluate("document.querySelectorAll('details.hr-summary').forEach(d => { d.open = false; })")
    _screenshot(page, "whatif_two_sites.png")
    assert opened.clean()
