"""Pictures: A4 landscape at the stated dpi, not blank, Chinese font found (or English fallback)."""
from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib import patheffects
from PIL import Image

from healthreach.maps import static
from healthreach.maps.static import (
    cjk_font,
    coverage_curve_figure,
    nice_length,
    write_coverage_curve_png,
    write_coverage_map_png,
)
from map_fixtures import BANDS, scenario_pair, small_result

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def _check_a4(path: Path, dpi: int) -> np.ndarray:
    with Image.open(path) as image:
        # matplotlib truncates the pixel size: within one pixel of 297 × 210 mm.
        width, height = image.size
        assert 0 <= 297 / 25.4 * dpi - width < 1 and 0 <= 210 / 25.4 * dpi - height < 1
        assert image.info["dpi"] == pytest.approx((dpi, dpi), abs=0.01)
        pixels = np.asarray(image.convert("L"), dtype=float)
    assert pixels.std() > 10  # not a blank page
    return pixels


def test_nice_length() -> None:
    assert nice_length(52_000) == 10_000
    assert nice_length(9_000) == 1_000
    assert nice_length(30_000) == 5_000
    with pytest.raises(ValueError):
        nice_length(0)


def test_cjk_font_installed_after_matplotlib_built_its_cache(tmp_path: Path) -> None:
    # A fresh machine: `make demo` builds matplotlib's font cache, then `make test` installs
    # fonts-noto-cjk. A font list without the CJK fonts stands for that cache.
    env = {**os.environ, "MPLCONFIGDIR": str(tmp_path)}
    subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], env=env, check=True)
    (cache,) = tmp_path.glob("fontlist-*.json")
    listing = json.loads(cache.read_text())
    listing["ttflist"] = [f for f in listing["ttflist"] if "CJK" not in f["name"]]
    cache.write_text(json.dumps(listing))
    probe = ("import matplotlib.font_manager as fm\n"
             "assert not any('CJK' in f.name for f in fm.fontManager.ttflist)\n"
             "from healthreach.maps.static import cjk_font\nprint(cjk_font())")
    found = subprocess.run([sys.executable, "-c", probe], env=env, check=True, capture_output=True, text=True)
    assert found.stdout.strip() in static.CJK_FAMILIES


def test_coverage_map_png_is_a4_and_drawn(tmp_path: Path) -> None:
    assert cjk_font() is not None  # fonts-noto-cjk is installed on the test machines
    ARTIFACTS.mkdir(exist_ok=True)
    path = write_coverage_map_png(small_result(), ARTIFACTS / "coverage_map_static.png", bands_min=BANDS,
                                  sources="test data", date=dt.date(2026, 11, 26), dpi=100)
    pixels = _check_a4(path, 100)
    # Village colours of the map appear: the dark green of <= 15 min and the grey of unreachable.
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB")).reshape(-1, 3)
    for colour in ("#1a9850", "#9e9e9e"):
        target = np.array([int(colour[i:i + 2], 16) for i in (1, 3, 5)])
        assert (np.abs(rgb - target).sum(axis=1) < 12).sum() > 20, colour
    assert pixels.shape == (826, 1169)  # 210 mm, 297 mm at 100 dpi


def test_coverage_curve_png_baseline_and_scenario(tmp_path: Path) -> None:
    base, scenario = scenario_pair()
    one = write_coverage_curve_png([("现状", base.villages)], tmp_path / "one.png", bands_min=BANDS, dpi=80)
    two = write_coverage_curve_png([("现状", base.villages), ("方案", scenario.villages)],
                                   ARTIFACTS / "coverage_curve.png", bands_min=BANDS, dpi=80)
    a, b = _check_a4(one, 80), _check_a4(two, 80)
    # The scenario changes township times, so its curve adds ink; identical curves are not redrawn.
    assert (b < 128).sum() > (a < 128).sum()
    keys = [t.get_text() for t in coverage_curve_figure([("现状", base.villages), ("方案", scenario.villages)],
                                                        BANDS, dpi=80).legends[0].get_texts()]
    assert keys == ["乡镇卫生院 · 现状", "县级及以上医院 · 现状", "乡镇卫生院 · 方案"]
    same = coverage_curve_figure([("现状", base.villages), ("同", base.villages)], BANDS, dpi=80)
    assert [t.get_text() for t in same.legends[0].get_texts()] == keys[:2]


def test_without_cjk_font_english_labels_and_a_warning(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(static, "cjk_font", lambda: None)
    result = dataclasses.replace(small_result(), project_name="偏关县")
    with caplog.at_level(logging.WARNING, logger="healthreach.maps.static"):
        path = write_coverage_map_png(result, tmp_path / "en.png", bands_min=BANDS, dpi=60)
    assert "no CJK font" in caplog.text
    _check_a4(path, 60)
    assert static._drawable("偏关县", False) is None and static._drawable("Pianguan", False) == "Pianguan"


def _moved(result, dlon: float, dlat: float):
    """The result shifted by (dlon, dlat) degrees, to draw it in another projection zone."""
    from shapely import affinity

    def shift(frame):
        if frame is None or not len(frame):
            return frame
        return frame.set_geometry(frame.geometry.map(lambda g: affinity.translate(g, dlon, dlat)))

    return dataclasses.replace(result, villages=shift(result.villages), facilities=shift(result.facilities),
                               catchments=shift(result.catchments), roads=shift(result.roads),
                               boundaries=shift(result.boundaries))


def _texts(fig) -> list[str]:
    return [t.get_text() for t in fig.texts]


def test_map_footer_names_the_crs_drawn_and_stays_clear_of_the_frame() -> None:
    china = static.coverage_map_figure(small_result(), BANDS, sources="roads.osm", date=dt.date(2026, 1, 1), dpi=60)
    footer = next(t for t in china.texts if t.get_gid() == "footer")
    assert "CGCS2000 / 3-degree Gauss-Kruger CM 111E (EPSG:4546)" in footer.get_text()
    assert "数据来源: roads.osm" in footer.get_text()
    # A study area at 27°E, 50°N (outside China): WGS 84 / UTM 35N, named as such.
    abroad = static.coverage_map_figure(_moved(small_result(), 27.0 - 111.5, 50.0 - 39.4), BANDS, dpi=60)
    text = next(t for t in abroad.texts if t.get_gid() == "footer").get_text()
    assert "WGS 84 / UTM zone 35N (EPSG:32635)" in text and "CGCS2000" not in text and "Gauss" not in text
    assert "数据来源" not in text  # no sources named: no line, not "—"
    for fig in (china, abroad):
        renderer = fig.canvas.get_renderer()
        (ax,) = [a for a in fig.axes]
        note = next(t for t in fig.texts if t.get_gid() == "footer").get_window_extent(renderer)
        frame = ax.get_window_extent(renderer)
        assert note.y1 < frame.y0  # the footer's top line sits below the frame
        assert fig.bbox.contains(note.x0, note.y0)


def test_map_legend_lists_only_what_is_drawn() -> None:
    fig = static.coverage_map_figure(small_result(), (10, 20, 40, 90), dpi=60)
    entries = [t.get_text() for t in fig.legends[0].get_texts()]
    # small_result: a county hospital, two township centres, a village clinic (not drawn), an
    # ambulance station; one unreachable village; roads; county and township boundaries.
    assert entries == ["≤ 10 分钟", "≤ 20 分钟", "≤ 40 分钟", "≤ 90 分钟", "> 90 分钟", "不可达",
                       "县级及以上医院", "乡镇卫生院", "急救站点", "道路", "县界", "乡镇界"]
    reachable = dataclasses.replace(small_result(), boundaries=None)
    villages = reachable.villages.assign(township_time_s=reachable.villages["township_time_s"].fillna(100.0))
    entries = [t.get_text() for t in static.coverage_map_figure(
        dataclasses.replace(reachable, villages=villages), BANDS, dpi=60).legends[0].get_texts()]
    assert "不可达" not in entries and "县界" not in entries and "乡镇界" not in entries
    # A banner's outer line is 旗界, a district's 区界.
    for name, line in (("额林中旗（合成样例）", "旗界"), ("丹川区", "区界")):
        fig = static.coverage_map_figure(dataclasses.replace(small_result(), project_name=name), BANDS, dpi=60)
        entries = [t.get_text() for t in fig.legends[0].get_texts()]
        assert line in entries and "县界" not in entries
    # In English the labels are longer: the legend stays on the page and off the frame.
    fig = static.coverage_map_figure(_moved(small_result(), 0, 0), BANDS, lang="en", dpi=60)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    box = fig.legends[0].get_window_extent(renderer)
    assert "Emergency (ambulance) station" in [t.get_text() for t in fig.legends[0].get_texts()]
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1
    assert not fig.axes[0].get_window_extent(renderer).overlaps(box)


def test_curve_marks_the_run_bands_and_keeps_its_key_on_the_page() -> None:
    from healthreach.maps.curves import band_marks, curve_minutes

    assert band_marks((40, 10, 20, 90)) == (10.0, 20.0, 40.0, 90.0)
    assert curve_minutes((15, 30, 45, 60))[-1] == 90 and curve_minutes((10, 20, 40, 90))[-1] == 140
    assert curve_minutes((30, 60, 90, 120))[-1] == 180
    base, scenario = scenario_pair()
    villages = base.villages.assign(community_time_s=base.villages["township_time_s"] * 2)
    fig = coverage_curve_figure([("Baseline", villages), ("a scenario with a long name", scenario.villages)],
                                (10, 20, 40, 90), lang="en", dpi=60)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = fig.legends[0]
    assert "Community health station (walking) · Baseline" in [t.get_text() for t in legend.get_texts()]
    box = legend.get_window_extent(renderer)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and fig.bbox.y0 <= box.y0 and box.y1 <= fig.bbox.y1
    (ax,) = fig.axes
    assert not ax.get_window_extent(renderer).overlaps(box)  # the key covers no curve
    marks = sorted(float(line.get_gid()[5:]) for line in ax.get_lines() if str(line.get_gid()).startswith("band-"))
    assert marks == [10.0, 20.0, 40.0, 90.0] and ax.get_xlim() == (0.0, 140.0)


def test_township_names_stay_readable_over_villages_and_facilities() -> None:
    """On the demo county's print map the township centres stood on their own names (高家塬乡, 石湾乡,
    桥头镇): names now sit above every dot and marker, with a white halo."""
    result = small_result()
    fig = static.coverage_map_figure(result, BANDS, dpi=60)
    ax = fig.axes[0]
    names = set(result.boundaries.loc[result.boundaries["level"] != "county", "name"])
    texts = [t for t in ax.texts if t.get_text() in names]
    assert texts and {t.get_text() for t in texts} == names
    top = max(c.get_zorder() for c in ax.collections)
    for text in texts:
        assert text.get_zorder() > top
        assert any(isinstance(e, patheffects.withStroke) for e in text.get_path_effects())
