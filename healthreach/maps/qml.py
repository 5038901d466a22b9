"""QGIS layer styles (`.qml`) written beside exported layers, so they open styled like the HTML map.

QGIS loads `<layer>.qml` automatically when it sits beside a shapefile with the same stem; for a
GeoPackage layer the user loads it through Layer Properties › Style › Load Style. Symbols carry
both the `<Option>` map of QGIS ≥ 3.26 and the `<prop>` list older 3.x releases read.
"""
from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from healthreach.maps.style import UNREACHABLE_FILL, band_colours, minutes_label, time_classes
from healthreach.maps.exports import atomic_write

log = logging.getLogger(__name__)

QGIS_VERSION = "3.28.0"
GEOMETRY_SYMBOLS = {"point": ("marker", "SimpleMarker"), "line": ("line", "SimpleLine"),
                    "polygon": ("fill", "SimpleFill")}
# Upper bound standing in for "no limit" on the last graduated class (seconds).
_OPEN_END_S = 1e9
# Unreachable villages have an empty time; graduated classes skip NULL, so it is mapped to this.
_UNREACHABLE_VALUE = -1.0


def _rgba(colour: str, alpha: float = 1.0) -> str:
    """'#rrggbb' as QGIS's 'r,g,b,a' (0–255)."""
    value = colour.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"colour {colour!r}: expected #rrggbb")
    r, g, b = (int(value[i : i + 2], 16) for i in (0, 2, 4))
    return f"{r},{g},{b},{round(alpha * 255)}"


def _symbol(parent: ET.Element, name: str, geometry: str, colour: str, *, alpha: float = 1.0) -> None:
    kind, layer_class = GEOMETRY_SYMBOLS[geometry]
    symbol = ET.SubElement(parent, "symbol", {"type": kind, "name": name, "alpha": "1", "clip_to_extent": "1",
                                              "force_rhr": "0"})
    layer = ET.SubElement(symbol, "layer", {"class": layer_class, "enabled": "1", "pass": "0", "locked": "0"})
    if geometry == "point":
        props = {"name": "circle", "color": _rgba(colour, alpha), "outline_color": "51,51,51,255",
                 "outline_width": "0.2", "outline_width_unit": "MM", "size": "2.8", "size_unit": "MM"}
    elif geometry == "line":
        props = {"line_color": _rgba(colour, alpha), "line_width": "0.4", "line_width_unit": "MM",
                 "line_style": "solid"}
    else:
        props = {"color": _rgba(colour, alpha), "outline_color": _rgba(colour, 1.0), "outline_width": "0.2",
                 "outline_width_unit": "MM", "style": "solid", "outline_style": "solid"}
    options = ET.SubElement(layer, "Option", {"type": "Map"})
    for key, value in props.items():
        ET.SubElement(options, "Option", {"type": "QString", "name": key, "value": value})
    for key, value in props.items():
        ET.SubElement(layer, "prop", {"k": key, "v": value})


def _document(renderer_type: str, attr: str) -> tuple[ET.Element, ET.Element]:
    root = ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology"})
    renderer = ET.SubElement(root, "renderer-v2", {"type": renderer_type, "attr": attr, "symbollevels": "0",
                                                   "enableorderby": "0", "forceraster": "0"})
    return root, renderer


def _write(root: ET.Element, path: Path) -> Path:
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    text = f"<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>\n{body}\n"
    with atomic_write(Path(path)) as temp:
        temp.write_text(text, encoding="utf-8")
    log.info("wrote %s", path)
    return Path(path)


def graduated_qml(attr: str, classes: Sequence[tuple[float, float, str, str]], geometry: str) -> ET.Element:
    """A graduated renderer on `attr` (a field or a QGIS expression): (lower, upper, colour, label) per class."""
    if geometry not in GEOMETRY_SYMBOLS:
        raise ValueError(f"geometry {geometry!r}: expected one of {', '.join(GEOMETRY_SYMBOLS)}")
    root, renderer = _document("graduatedSymbol", attr)
    renderer.set("graduatedMethod", "GraduatedColor")
    ranges = ET.SubElement(renderer, "ranges")
    symbols = ET.SubElement(renderer, "symbols")
    for index, (lower, upper, colour, label) in enumerate(classes):
        ET.SubElement(ranges, "range", {"lower": f"{lower:.6f}", "upper": f"{upper:.6f}", "symbol": str(index),
                                        "label": label, "render": "true"})
        _symbol(symbols, str(index), geometry, colour)
    ET.SubElement(renderer, "mode", {"name": "fixed"})
    ET.SubElement(renderer, "classificationMethod", {"id": "Fixed"})
    return root


def categorized_qml(attr: str, categories: Sequence[tuple[str, str, str]], geometry: str, *,
                    alpha: float = 1.0) -> ET.Element:
    """A categorised renderer on field `attr`: (value, colour, label) per category."""
    if geometry not in GEOMETRY_SYMBOLS:
        raise ValueError(f"geometry {geometry!r}: expected one of {', '.join(GEOMETRY_SYMBOLS)}")
    root, renderer = _document("categorizedSymbol", attr)
    cats = ET.SubElement(renderer, "categories")
    symbols = ET.SubElement(renderer, "symbols")
    for index, (value, colour, label) in enumerate(categories):
        ET.SubElement(cats, "category", {"value": value, "symbol": str(index), "label": label, "render": "true"})
        _symbol(symbols, str(index), geometry, colour, alpha=alpha)
    return root


def village_time_qml(path: Path, field: str, bands_min: Sequence[float], *,
                     lang_labels: tuple[str, str] = ("min", "unreachable")) -> Path:
    """Villages graduated by travel time in seconds (`field`, e.g. `twn_time_s`) in the map's classes
    of `bands_min` (the run's bands, minutes).

    Unreachable villages (empty time) form a grey class of their own.
    """
    unit, unreachable = lang_labels
    classes = [(_UNREACHABLE_VALUE - 1.0, _UNREACHABLE_VALUE + 0.5, UNREACHABLE_FILL, unreachable)]
    lower = 0.0
    for limit, colour in time_classes(bands_min):
        upper = limit * 60.0 if math.isfinite(limit) else _OPEN_END_S
        label = (f"≤ {minutes_label(limit)} {unit}" if math.isfinite(limit)
                 else f"> {minutes_label(lower / 60.0)} {unit}")
        classes.append((lower, upper, colour, label))
        lower = upper
    attr = f'coalesce("{field}", {_UNREACHABLE_VALUE:g})'
    return _write(graduated_qml(attr, classes, "point"), path)


def catchment_band_qml(path: Path, bands_min: Sequence[float], attr: str = "band_min", *, unit: str = "min") -> Path:
    """Catchment polygons categorised by band, one category per band of `bands_min` (the run's bands,
    minutes), half transparent, in the map's band colours."""
    categories = [(minutes_label(b), c, f"≤ {minutes_label(b)} {unit}") for b, c in band_colours(bands_min).items()]
    return _write(categorized_qml(attr, categories, "polygon", alpha=0.35), path)


def links_qml(path: Path, colour: str = "#2166ac") -> Path:
    """Village→facility lines in one colour (a single-symbol renderer)."""
    root = ET.Element("qgis", {"version": QGIS_VERSION, "styleCategories": "Symbology"})
    renderer = ET.SubElement(root, "renderer-v2", {"type": "singleSymbol", "symbollevels": "0",
                                                   "enableorderby": "0", "forceraster": "0"})
    symbols = ET.SubElement(renderer, "symbols")
    _symbol(symbols, "0", "line", colour, alpha=0.8)
    return _write(root, path)
