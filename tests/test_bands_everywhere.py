"""The run's bands reach every output, and the sample scenario maps open on the tier they change.

Each sample is run once (one test per run, so the parallel workers never run the same sample twice):
the county with `parameters: {bands_min: [10, 20, 40, 90]}` and its two scenarios through the command
(every output file), the banner as shipped (bands 30/60/90/120) and the district with their
scenarios through the library (the analysis, then their maps).
Figures on the pages are checked against compare.csv, read back from disk.
"""
from __future__ import annotations

import html
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest

import healthreach
from healthreach.commands import compare_project
from healthreach.commands.api import compare
from healthreach.layers.project import load_project
from healthreach.maps import labels
from healthreach.maps.coverage_map import coverage_map_html
from healthreach.maps.curves import band_marks, curve_minutes
from healthreach.maps.scenario_map import scenario_map_html
from healthreach.maps.static import coverage_curve_figure
from healthreach.scenarios.scenario import load_scenario
from test_maps_browser import open_map  # noqa: F401  (fixture)

SAMPLES = Path(healthreach.__file__).resolve().parent / "data" / "samples"
COUNTY_BANDS = (10, 20, 40, 90)
BANNER_BANDS = (30, 60, 90, 120)
# What each sample scenario changes, stated from the scenario itself: an upgrade to sub-centre changes
# the sub-centre tier, an ambulance base the emergency tier, a community station the walking tier.
EXPECTED_TIER = {
    "upgrade-remote-subcentre": "subcentre", "ems-farthest-township": "ems",
    "upgrade-third-subcentre": "subcentre", "ems-sumu-ambulance": "ems",
    "community-station-walk-gap": "community", "ems-station-5km-gap": "ems",
}
BAND_TEXT = re.compile(r"([≤>]) (\d+(?:\.\d+)?) (?:分钟|min)\b")


def _bands_in_text(page: str) -> tuple[set[float], set[float]]:
    """Minutes written as '≤ N 分钟' and as '> N 分钟' anywhere in a page (legends, panels, tooltips)."""
    found = BAND_TEXT.findall(html.unescape(page.replace("\\u003e", ">").replace("\\u0026", "&")))
    return {float(n) for s, n in found if s == "≤"}, {float(n) for s, n in found if s == ">"}


def _attr_bands(page: str, css: str) -> set[float]:
    return {float(b) for b in re.findall(rf"class='{css}'[^>]*?data-band='([\d.]+)'", page)}


def check_pages(out: Path, bands: tuple[int, ...]) -> None:
    """Every map of `out` (legends, summary panel, curve, comparison panels, tooltips) uses exactly
    `bands` (minutes)."""
    expected = {float(b) for b in bands}
    pages = [out / "coverage_map.html", *sorted(out.glob("scenario_*.html"))]
    assert len(pages) >= 2
    for path in pages:
        page = path.read_text(encoding="utf-8")
        within, beyond = _bands_in_text(page)
        assert within == expected and beyond == {float(max(bands))}, path.name
    coverage = pages[0].read_text(encoding="utf-8")
    assert _attr_bands(coverage, "hr-pop") == expected  # the summary table's columns
    assert _attr_bands(coverage, "hr-band-mark") == expected  # the curve's band lines
    assert _attr_bands(coverage, "hr-band-key") == expected  # the catchment legend
    for path in pages[1:]:
        assert _attr_bands(path.read_text(encoding="utf-8"), "hr-cmp-band") == expected, path.name


def check_bands_everywhere(out: Path, bands: tuple[int, ...]) -> None:
    """Every map, panel, curve, table and style in `out` uses exactly `bands` (minutes)."""
    check_pages(out, bands)
    expected = {float(b) for b in bands}

    # The coverage curve: the marks it draws, its x range, and the picture itself.
    assert band_marks(bands) == tuple(float(b) for b in bands)
    assert curve_minutes(bands)[0] == 0 and curve_minutes(bands)[-1] >= max(bands)
    villages = gpd.read_file(out / "villages.gpkg", layer="villages")
    figure = coverage_curve_figure([("baseline", villages)], bands, lang="en", dpi=40)
    (axes,) = figure.axes
    marks = sorted(float(line.get_gid()[len("band-"):]) for line in axes.get_lines()
                   if str(line.get_gid()).startswith("band-"))
    assert marks == sorted(expected) and axes.get_xlim()[1] >= max(bands)
    assert (out / "coverage_curve.png").stat().st_size > 20_000 and (out / "coverage_map.png").stat().st_size > 50_000

    table = pd.read_csv(out / "compare.csv", encoding="utf-8-sig")
    assert set(table["band_min"].astype(float)) == expected
    for sheet in ("county", "township"):
        columns = pd.read_excel(out / "summary.xlsx", sheet_name=sheet, nrows=0).columns
        found = {float(m.group(1)) for c in columns if (m := re.fullmatch(r"\w+_pop_(\d+)min", str(c)))}
        assert found == expected, sheet
    catchments = pyogrio.read_dataframe(out / "catchments.gpkg", layer="catchments", read_geometry=False)
    assert set(catchments["band_min"].astype(float)) == expected
    for qml in (out / "catchments.qml", out / "shp" / "catchments.qml"):
        root = ET.fromstring(qml.read_text(encoding="utf-8").split("\n", 1)[1])
        assert [float(c.get("value")) for c in root.iter("category")] == sorted(expected), qml
    root = ET.fromstring((out / "villages.qml").read_text(encoding="utf-8").split("\n", 1)[1])
    uppers = [float(r.get("upper")) for r in root.iter("range")][1:-1]
    assert uppers == [b * 60.0 for b in sorted(bands)]


def check_scenario_maps(out: Path, opener) -> None:
    """Each scenario map opens on the tier its scenario changes, shows compare.csv's county figures for
    it, and switches tiers on demand."""
    table = pd.read_csv(out / "compare.csv", encoding="utf-8-sig")
    for path in sorted(out.glob("scenario_*.html")):
        name = path.stem[len("scenario_"):]
        opened = opener(path.read_text(encoding="utf-8"), path.name)
        page = opened.page
        tier = page.evaluate("window.healthreach.tier")
        assert tier == EXPECTED_TIER[name], name
        rows = table[(table["scenario"] == name) & (table["scope"] == "county") & (table["tier"] == tier)]
        assert rows["pop_gain"].max() > 0 or (rows["mean_min_after"] < rows["mean_min_before"]).any(), name
        block = page.locator(f".hr-cmp-tier[data-tier='{tier}']")
        assert block.is_visible() or not page.locator("details.hr-compare").evaluate("d => d.open")
        for _, row in rows.iterrows():
            band = f"{row['band_min']:g}"
            cells = block.locator(f"tr.hr-cmp-band[data-band='{band}'] td").all_text_contents()
            assert [c.replace(",", "") for c in cells[1:3]] == [f"{row['pop_before']:.0f}", f"{row['pop_after']:.0f}"]
            assert block.locator(f"tr.hr-cmp-band[data-band='{band}'] td.hr-gain").get_attribute("data-gain") == \
                f"{row['pop_gain']:.0f}"
        stats = block.locator("tr.hr-cmp-stat[data-stat='mean_min'] td").all_text_contents()
        first = rows.iloc[0]
        assert stats[1:3] == ["—" if np.isnan(v) else f"{v:.1f}"  # nobody reached the tier before: no mean
                              for v in (first["mean_min_before"], first["mean_min_after"])]
        # Every other tier is one click away; the page follows.
        other = next(t for t in page.evaluate("window.healthreach.tiers") if t != tier)
        page.evaluate("t => window.healthreach.showTier(t)", other)
        assert page.evaluate("window.healthreach.tier") == other
        assert page.locator(f".hr-cmp-tier[data-tier='{tier}']").is_hidden()
        assert opened.external == [] and opened.errors == [] and opened.dialogs == []


def _copy_sample(name: str, folder: Path, bands: tuple[int, ...] | None = None) -> Path:
    shutil.copytree(SAMPLES / name, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    if bands is not None:
        project = folder / "project.yml"
        text = project.read_text(encoding="utf-8")
        assert "parameters: {}" in text
        project.write_text(text.replace("parameters: {}", f"parameters: {{bands_min: {list(bands)}}}"),
                           encoding="utf-8")
    return folder / "project.yml"


@pytest.mark.browser
def test_county_with_bands_10_20_40_90_shows_them_everywhere(tmp_path: Path, open_map) -> None:  # noqa: F811
    project = _copy_sample("county", tmp_path / "county", COUNTY_BANDS)
    out = compare_project(project, sorted((project.parent / "scenarios").glob("*.yml")), out=tmp_path / "out")
    check_bands_everywhere(out, COUNTY_BANDS)
    check_scenario_maps(out, open_map)


def _maps_only(sample: str, out: Path) -> tuple[int, ...]:
    """The sample's baseline and scenarios analysed (no output folder), their maps and compare.csv
    written to `out`; returns the run's bands as compare.csv reports them."""
    folder = SAMPLES / sample
    project = load_project(folder / "project.yml")
    baseline, outcomes = compare(project, [load_scenario(p) for p in sorted((folder / "scenarios").glob("*.yml"))])
    out.mkdir()
    bands = tuple(int(b) for b in np.unique(outcomes[0].table["band_min"]))
    (out / "coverage_map.html").write_text(coverage_map_html(baseline, bands_min=bands), encoding="utf-8")
    for outcome in outcomes:
        html = scenario_map_html(baseline, outcome.result, name=outcome.name, title=outcome.title, bands_min=bands)
        (out / f"scenario_{outcome.name}.html").write_text(html, encoding="utf-8")
    pd.concat([o.table for o in outcomes]).to_csv(out / "compare.csv", index=False, encoding="utf-8-sig")
    return bands


@pytest.mark.browser
def test_banner_maps_show_its_bands_30_to_120(tmp_path: Path, open_map) -> None:  # noqa: F811
    bands = _maps_only("banner", tmp_path / "out")
    assert bands == BANNER_BANDS  # from the sample's project.yml
    check_pages(tmp_path / "out", bands)
    check_scenario_maps(tmp_path / "out", open_map)
    # A banner's planners speak of 全旗, not 全县.
    for page in (tmp_path / "out").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "全旗" in text and "全县" not in text, page.name


@pytest.mark.browser
def test_district_scenario_maps_open_on_the_tier_they_change(tmp_path: Path, open_map) -> None:  # noqa: F811
    _maps_only("district", tmp_path / "out")
    check_scenario_maps(tmp_path / "out", open_map)
    # An urban district has no township health centre: its villages are coloured by the walk to a
    # community station, and the summary lists only tiers someone reaches.
    page = (tmp_path / "out" / "coverage_map.html").read_text(encoding="utf-8")
    assert labels.time_heading("community", "zh") in page and labels.time_heading("township", "zh") not in page
    assert "<tr data-tier='township'>" not in page and "<tr data-tier='community'>" in page
    assert "覆盖人口汇总（全区）" in page and "全县" not in page  # a district's summary is of 全区


@pytest.mark.parametrize("name, zh, en", [("黄梁县（合成样例）", "全县", "county"), ("额林中旗", "全旗", "banner"),
                                          ("丹川区 (synthetic)", "全区", "district"), ("忻州市", "全市", "city"),
                                          ("合成三县示例", "全域", "whole area"), ("", "全域", "whole area")])
def test_the_summary_speaks_of_the_whole_place_by_its_name(name: str, zh: str, en: str) -> None:
    assert (labels.whole_area(name, "zh"), labels.whole_area(name, "en")) == (zh, en)
