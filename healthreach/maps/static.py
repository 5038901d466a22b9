"""Pictures for reports and meetings, drawn with matplotlib: the coverage curve and a print-ready
A4-landscape coverage map (title, legend, scale bar, north arrow, data sources and date).

Chinese labels need a CJK font; Noto Sans CJK (Debian: fonts-noto-cjk) is looked up through
matplotlib's font manager. Without one, labels fall back to English (with a logged warning) and
place names that need CJK glyphs are left off, rather than drawn as empty boxes.
"""
from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from healthreach.coverage.result import AnalysisResult
from healthreach.layers.crs import metric_crs_for
from healthreach.tiers import tier_members
from healthreach.maps import labels
from healthreach.maps.basemaps import ROAD_STYLES
from healthreach.maps.coverage_map import village_radius
from healthreach.maps.summary_panel import CURVE_MINUTES, coverage_curve, curve_tiers
from healthreach.maps.style import TIER_COLOURS, UNREACHABLE_FILL, time_class_labels, time_colour
from healthreach.maps.exports import atomic_write

log = logging.getLogger(__name__)

A4_LANDSCAPE_IN = (297 / 25.4, 210 / 25.4)
MAP_DPI = 200
CURVE_DPI = 150
CJK_FAMILIES = ("Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans CJK TC", "Source Han Sans SC",
                "WenQuanYi Zen Hei", "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei")
# Line styles of the runs on one coverage-curve chart: baseline solid, scenarios after it.
RUN_DASHES: tuple[Any, ...] = ("-", "--", ":", "-.", (0, (5, 1, 1, 1)))


_CJK_FILES = re.compile(r"(NotoSansCJK|NotoSerifCJK|SourceHanSans|wqy-|msyh|simhei)", re.IGNORECASE)


@functools.cache
def cjk_font() -> str | None:
    """Family name of an installed CJK font matplotlib can use, or None."""
    from matplotlib import font_manager

    def known() -> str | None:
        installed = {f.name for f in font_manager.fontManager.ttflist}
        return next((family for family in CJK_FAMILIES if family in installed), None)

    family = known()
    if family is None:
        # matplotlib keeps the font list it built on first import; fonts installed since then
        # (fonts-noto-cjk installed after a first run) are found only by looking at the folders again.
        for path in font_manager.findSystemFonts():
            if _CJK_FILES.search(Path(path).name):
                try:
                    font_manager.fontManager.addfont(path)
                except (OSError, RuntimeError, ValueError):
                    continue
        family = known()
    return family


def _setup(lang: str) -> tuple[str, dict[str, Any]]:
    """The language to draw in and matplotlib rc settings (font) for it."""
    labels.check_lang(lang)
    family = cjk_font()
    if family is None:
        if lang == "zh":
            log.warning("no CJK font found (install fonts-noto-cjk); pictures are labelled in English")
        return "en", {"font.family": "DejaVu Sans"}
    return lang, {"font.family": [family, "DejaVu Sans"], "axes.unicode_minus": False}


def _drawable(value: object, has_cjk: bool) -> str | None:
    """Text to draw, or None when it needs CJK glyphs that no installed font has."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value)
    return text if has_cjk or text.isascii() else None


def _check_png(path: Path) -> Path:
    path = Path(path)
    if path.suffix.lower() != ".png":
        path = path.with_name(path.name + ".png")
    return path


def write_coverage_curve_png(runs: Sequence[tuple[str, pd.DataFrame]], path: Path, *, lang: str = "zh",
                             title: str = "", dpi: int = CURVE_DPI) -> Path:
    """Write `coverage_curve.png`: share of residents reached against minutes, per tier.

    `runs` are (label, villages) pairs — the baseline first, then scenarios — drawn on one A4
    landscape chart at `dpi`: colour by tier, line style by run. A scenario's curve that equals the
    baseline's for the same tier is left out, so the chart shows what changes. Returns the path.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    path = _check_png(path)
    lang, rc = _setup(lang)
    has_cjk = rc["font.family"] != "DejaVu Sans"
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=A4_LANDSCAPE_IN, dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        baseline: dict[str, np.ndarray] = {}
        for index, (run_label, villages) in enumerate(runs):
            dash = RUN_DASHES[index % len(RUN_DASHES)]
            run_text = _drawable(run_label, has_cjk) or f"#{index + 1}"
            for tier in curve_tiers(villages):
                shares = coverage_curve(villages, tier)
                if index == 0:
                    baseline[tier] = shares
                elif tier in baseline and np.allclose(shares, baseline[tier], equal_nan=True):
                    continue
                label = labels.tier_name(tier, lang)
                if len(runs) > 1:
                    label = f"{label} · {run_text}"
                ax.plot(CURVE_MINUTES, shares * 100.0, color=TIER_COLOURS[tier], linestyle=dash,
                        linewidth=2.0, label=label)
        for band in (15, 30, 45, 60):
            ax.axvline(band, color="#bbbbbb", linewidth=0.8, zorder=0)
        ax.set_xlim(0, float(CURVE_MINUTES[-1]))
        ax.set_ylim(0, 100)
        ax.set_xlabel(labels.text("minutes", lang), fontsize=13)
        ax.set_ylabel("%", fontsize=13)
        ax.grid(axis="y", color="#e5e5e5")
        heading = labels.text("coverage_curve", lang)
        shown_title = _drawable(title, has_cjk)
        ax.set_title(f"{shown_title}\n{heading}" if shown_title else heading, fontsize=16)
        ax.legend(loc="lower right", fontsize=10, ncol=2 if len(runs) > 1 else 1)
        fig.tight_layout()
        with atomic_write(path) as temp:
            fig.savefig(temp, dpi=dpi, format="png")
    log.info("wrote %s", path)
    return path


def nice_length(span_m: float) -> float:
    """A round scale-bar length (metres): 1, 2 or 5 × 10^k, about a fifth of `span_m`."""
    if not span_m > 0:
        raise ValueError(f"map width must be > 0 m, got {span_m}")
    target = span_m / 5.0
    power = 10 ** math.floor(math.log10(target))
    return float(max(m * power for m in (1, 2, 5) if m * power <= target))


def _scale_bar(ax: Any, length_m: float, lang: str) -> None:
    """Alternating black and white scale bar in the lower left, labelled in km (or m)."""
    from matplotlib.patches import Rectangle

    x0, x1 = ax.get_xlim()
    y0, y1 = ax.get_ylim()
    left, base, height = x0 + 0.04 * (x1 - x0), y0 + 0.04 * (y1 - y0), 0.012 * (y1 - y0)
    for i in range(4):
        ax.add_patch(Rectangle((left + i * length_m / 4, base), length_m / 4, height, facecolor="black" if i % 2 == 0
                               else "white", edgecolor="black", linewidth=0.8, zorder=20))
    unit, scale = ("km", 1000.0) if length_m >= 1000 else ("m", 1.0)
    for i in (0, 2, 4):
        value = length_m * i / 4 / scale
        ax.text(left + i * length_m / 4, base + 1.6 * height, f"{value:g}", ha="center", va="bottom",
                fontsize=8, zorder=20)
    ax.text(left + length_m + 0.01 * (x1 - x0), base, f"{unit}  ({labels.text('scale', lang)})",
            va="bottom", fontsize=8, zorder=20)


def _north_arrow(ax: Any, lang: str) -> None:
    """A north arrow in the upper right of the map (the projected grid's north, Gauss–Krüger)."""
    ax.annotate("", xy=(0.95, 0.95), xytext=(0.95, 0.86), xycoords="axes fraction",
                arrowprops={"facecolor": "black", "edgecolor": "black", "width": 5, "headwidth": 14},
                zorder=20)
    ax.text(0.95, 0.965, labels.text("north", lang), transform=ax.transAxes, ha="center", va="bottom",
            fontsize=13, fontweight="bold", zorder=20)


def _draw_layers(ax: Any, result: AnalysisResult, crs: str, has_cjk: bool) -> None:
    """Boundaries, roads by class, villages by township-tier time and main facilities, in `crs`."""
    if result.boundaries is not None and len(result.boundaries):
        bounds = result.boundaries.to_crs(crs)
        county = (bounds["level"] == "county").to_numpy() if "level" in bounds.columns else np.zeros(len(bounds), bool)
        # A province's boundaries may hold counties only (or townships only): plot what there is.
        if (~county).any():
            bounds[~county].boundary.plot(ax=ax, color="#7b3294", linewidth=0.7, linestyle=(0, (6, 4)), zorder=2)
        if county.any():
            bounds[county].boundary.plot(ax=ax, color="#40004b", linewidth=1.6, zorder=2)
        for _, row in bounds[~county].iterrows():
            name = _drawable(row.get("name"), has_cjk)
            if name:
                point = row.geometry.representative_point()
                ax.text(point.x, point.y, name, fontsize=9, color="#7b3294", alpha=0.8, ha="center", zorder=3)
    if len(result.roads):
        roads = result.roads.to_crs(crs)
        classes = roads["highway"].map(lambda v: v[0] if isinstance(v, (list, tuple)) and v else v).astype(str)
        known: set[str] = set().union(*(members for members, _ in ROAD_STYLES))
        for members, style in reversed(ROAD_STYLES):
            mask = classes.isin(members)
            if style is ROAD_STYLES[4][1]:
                mask |= ~classes.isin(known)
            if mask.any():
                roads[mask.to_numpy()].plot(ax=ax, color=style["color"], linewidth=style["weight"] * 0.45, zorder=4)
    villages = result.villages.to_crs(crs)
    if len(villages):
        times = villages["township_time_s"] if "township_time_s" in villages.columns else pd.Series(np.nan, villages.index)
        colours = [time_colour(v) for v in times]
        sizes = [village_radius(p) ** 2 * 0.9 for p in villages["population"]]
        ax.scatter(villages.geometry.x, villages.geometry.y, s=sizes, c=colours, edgecolors="#333333",
                   linewidths=0.4, zorder=6)
    facilities = result.facilities.to_crs(crs)
    if len(facilities):
        ambulances = facilities["ambulances"].tolist() if "ambulances" in facilities.columns else [None] * len(facilities)
        for tier, size, marker in (("township", 60, "s"), ("subcentre", 80, "D"), ("hospital", 130, "P")):
            inside = np.array(tier_members(facilities["kind"].tolist(), ambulances, tier), dtype=bool)
            part = facilities[inside]
            ax.scatter(part.geometry.x, part.geometry.y, s=size, marker=marker, c=TIER_COLOURS[tier],
                       edgecolors="white", linewidths=0.8, zorder=8)


def write_coverage_map_png(result: AnalysisResult, path: Path, *, lang: str = "zh", title: str | None = None,
                           sources: str = "", date: dt.date | None = None, dpi: int = MAP_DPI) -> Path:
    """Write a print-ready A4-landscape `coverage_map.png` at `dpi` (default 200: 2339 × 1654 px).

    The map is drawn in the CGCS2000 Gauss–Krüger zone of the study area (metres), so the scale bar
    is true; villages are coloured by drive time to the township tier as on the HTML map. `sources`
    names the data, `date` defaults to today.
    """
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    path = _check_png(path)
    lang, rc = _setup(lang)
    has_cjk = rc["font.family"] != "DejaVu Sans"
    frames = [f for f in (result.villages, result.facilities, result.boundaries) if f is not None and len(f)]
    if not frames:
        raise ValueError("analysis result: no village, facility or boundary geometry to draw")
    west, south, east, north = np.array([f.to_crs(4326).total_bounds for f in frames]).T
    crs = metric_crs_for((west.min() + east.max()) / 2, (south.min() + north.max()) / 2)
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=A4_LANDSCAPE_IN, dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_axes((0.03, 0.09, 0.70, 0.80))
        _draw_layers(ax, result, crs, has_cjk)
        ax.set_xlabel("")
        ax.set_ylabel("")
        ax.set_aspect("equal", adjustable="datalim")
        ax.margins(0.04)
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_edgecolor("#555555")
        fig.canvas.draw()  # fixes the limits the equal aspect chose before the scale bar reads them
        x0, x1 = ax.get_xlim()
        _scale_bar(ax, nice_length(x1 - x0), lang)
        _north_arrow(ax, lang)

        heading = _drawable(title or result.project_name, has_cjk) or ""
        fig.text(0.38, 0.955, f"{heading}  {labels.text('coverage_map', lang)}".strip(), ha="center",
                 va="center", fontsize=20, fontweight="bold")
        fig.text(0.38, 0.915, labels.text("legend_time", lang), ha="center", va="center", fontsize=12,
                 color="#444444")

        handles = [Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=c,
                          markeredgecolor="#333333", label=label) for c, label in time_class_labels(lang)]
        handles.append(Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=UNREACHABLE_FILL,
                              markeredgecolor="#333333", label=labels.text("unreachable", lang)))
        for tier, marker in (("hospital", "P"), ("subcentre", "D"), ("township", "s")):
            handles.append(Line2D([], [], marker=marker, linestyle="", markersize=10,
                                  markerfacecolor=TIER_COLOURS[tier], markeredgecolor="white",
                                  label=labels.tier_name(tier, lang)))
        handles.append(Line2D([], [], color=ROAD_STYLES[1][1]["color"], linewidth=1.6,
                              label=labels.text("roads", lang)))
        handles.append(Line2D([], [], color="#7b3294", linewidth=0.9, linestyle=(0, (6, 4)),
                              label=labels.text("basemap_boundaries", lang)))
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.75, 0.89), fontsize=11,
                   title=labels.text("legend", lang), title_fontsize=13, frameon=True, borderpad=1.0)

        day = (date or dt.date.today()).isoformat()
        crs_name = f"CGCS2000 Gauss–Krüger ({crs})"
        footer = [f"{labels.text('data_sources', lang)}: {_drawable(sources, has_cjk) or '—'}",
                  f"{labels.text('crs_note', lang)}: {crs_name}",
                  f"{labels.text('map_date', lang)}: {day} · healthreach"]
        fig.text(0.03, 0.035, "\n".join(footer), ha="left", va="bottom", fontsize=9, color="#333333",
                 linespacing=1.5)
        with atomic_write(path) as temp:
            fig.savefig(temp, dpi=dpi, format="png")
    log.info("wrote %s (%s, %d dpi)", path, crs, dpi)
    return path
