"""QGIS styles: well-formed XML with the structure QGIS reads, classes matching the map's."""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from healthreach.maps.style import UNREACHABLE_FILL, band_colours, time_classes
from healthreach.maps.qml import catchment_band_qml, graduated_qml, links_qml, village_time_qml


def _read(path: Path) -> ET.Element:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE qgis")
    root = ET.fromstring(text.split("\n", 1)[1])
    assert root.tag == "qgis" and root.get("version", "").startswith("3.")
    return root


def _rgba(colour: str) -> str:
    return ",".join(str(int(colour[i:i + 2], 16)) for i in (1, 3, 5))


@pytest.mark.parametrize("bands", [(15, 30, 45, 60), (10, 20, 40, 90), (30, 60, 90, 120)])
def test_village_style_is_graduated_on_the_time_field(tmp_path: Path, bands: tuple[int, ...]) -> None:
    TIME_CLASSES = time_classes(bands)
    root = _read(village_time_qml(tmp_path / "villages.qml", "twn_time_s", bands, lang_labels=("分钟", "不可达")))
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "graduatedSymbol"
    assert renderer.get("attr") == 'coalesce("twn_time_s", -1)'
    ranges = renderer.findall("ranges/range")
    symbols = {s.get("name"): s for s in renderer.findall("symbols/symbol")}
    assert len(ranges) == len(TIME_CLASSES) + 1 == len(symbols)
    # The unreachable class holds -1 (the NULL stand-in), then the map's classes in seconds.
    lowers = [float(r.get("lower")) for r in ranges]
    uppers = [float(r.get("upper")) for r in ranges]
    assert lowers[0] < -1 < uppers[0] <= lowers[1] == 0
    assert uppers[1:-1] == [limit * 60 for limit, _ in TIME_CLASSES if math.isfinite(limit)]
    assert lowers[2:] == uppers[1:-1] and uppers[-1] > 1e6
    assert uppers[1:-1] == [b * 60 for b in bands]
    assert [r.get("label") for r in ranges] == ["不可达", *(f"≤ {b} 分钟" for b in bands), f"> {bands[-1]} 分钟"]
    colours = [UNREACHABLE_FILL] + [c for _, c in TIME_CLASSES]
    for rng, colour in zip(ranges, colours):
        symbol = symbols[rng.get("symbol")]
        assert symbol.get("type") == "marker"
        layer = symbol.find("layer")
        assert layer.get("class") == "SimpleMarker"
        option = layer.find("Option[@type='Map']/Option[@name='color']").get("value")
        prop = layer.find("prop[@k='color']").get("v")
        assert option == prop == _rgba(colour) + ",255"


def test_catchment_style_is_categorised_by_band(tmp_path: Path) -> None:
    root = _read(catchment_band_qml(tmp_path / "c.qml", [40, 10, 20, 90]))
    renderer = root.find("renderer-v2")
    assert renderer.get("type") == "categorizedSymbol" and renderer.get("attr") == "band_min"
    cats = renderer.findall("categories/category")
    assert [c.get("value") for c in cats] == ["10", "20", "40", "90"]
    assert [c.get("label") for c in cats] == ["≤ 10 min", "≤ 20 min", "≤ 40 min", "≤ 90 min"]
    colours = band_colours([10, 20, 40, 90])
    for cat in cats:
        symbol = renderer.find(f"symbols/symbol[@name='{cat.get('symbol')}']")
        assert symbol.get("type") == "fill" and symbol.find("layer").get("class") == "SimpleFill"
        fill = symbol.find("layer/prop[@k='color']").get("v")
        assert fill.startswith(_rgba(colours[float(cat.get("value"))])) and fill.endswith(",89")


def test_links_style_and_bad_geometry(tmp_path: Path) -> None:
    root = _read(links_qml(tmp_path / "l.qml"))
    assert root.find("renderer-v2").get("type") == "singleSymbol"
    assert root.find("renderer-v2/symbols/symbol").get("type") == "line"
    with pytest.raises(ValueError, match="raster"):
        graduated_qml("x", [(0, 1, "#000000", "a")], "raster")
