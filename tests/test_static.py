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
