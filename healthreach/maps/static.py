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

import matplotlib
import numpy as np
import pandas as pd
import pyproj
from matplotlib import font_manager, patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from healthreach.coverage.result import AnalysisResult
from healthreach.layers.crs import metric_crs_for
from healthreach.tiers import tier_members
from healthreach.maps import labels
from healthreach.maps.basemaps import ROAD_STYLES
from healthreach.maps.coverage_map import village_radius
from healthreach.maps.curves import band_marks, coverage_curve, curve_minutes, shown_tier, summary_tiers
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
# Facility tiers drawn on the print map: (tier, marker, size in points², hollow). Village clinics (one
# in nearly every village) are left off; the legend lists only the tiers present.
MAP_TIERS: tuple[tuple[str, str, float, bool], ...] = (
    ("community", "^", 55, False), ("township", "s", 60, False), ("subcentre", "D", 80, False),
    ("hospital", "P", 130, False), ("ems", "o", 150, True),
)
LEGEND_ORDER: tuple[str, ...] = ("hospital", "subcentre", "township", "community", "ems")
LABEL_ZORDER = 10
"""Township names are drawn over everything else on the print map (facilities go up to 9)."""


_CJK_FILES = re.compile(r"(NotoSansCJK|NotoSerifCJK|SourceHanSans|wqy-|msyh|simhei)", re.IGNORECASE)


@functools.cache
def cjk_font() -> str | None:
    """Family name of an installed CJK font matplotlib can use, or None."""

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


def coverage_curve_figure(runs: Sequence[tuple[str, pd.DataFrame]], bands_min: Sequence[float], *,
                          lang: str = "zh", title: str = "", dpi: int = CURVE_DPI) -> Any:
    """The coverage-curve chart as a matplotlib Figure (A4 landscape at `dpi`): share of residents
    reached against minutes, per summarised tier, from 0 to half again the largest of `bands_min`,
    with a vertical line at each band (`curves.band_marks`).

    `runs` are (label, villages) pairs — the baseline first, then scenarios: colour by tier, line
    style by run. A scenario's curve that equals the baseline's for the same tier is left out, so the
    chart shows what changes. The key sits under the plot, inside the page."""

    lang, rc = _setup(lang)
    with matplotlib.rc_context(rc):
        return _curve_figure(runs, bands_min, lang, rc, title, dpi)


def _curve_figure(runs: Sequence[tuple[str, pd.DataFrame]], bands_min: Sequence[float], lang: str,
                  rc: dict[str, Any], title: str, dpi: int) -> Any:

    has_cjk = rc["font.family"] != "DejaVu Sans"
    minutes = curve_minutes(bands_min)
    fig = Figure(figsize=A4_LANDSCAPE_IN, dpi=dpi, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    baseline: dict[str, np.ndarray] = {}
    for index, (run_label, villages) in enumerate(runs):
        dash = RUN_DASHES[index % len(RUN_DASHES)]
        run_text = _drawable(run_label, has_cjk) or f"#{index + 1}"
        for tier in summary_tiers(villages):
            shares = coverage_curve(villages, tier, minutes)
            if index == 0:
                baseline[tier] = shares
            elif tier in baseline and np.allclose(shares, baseline[tier], equal_nan=True):
                continue
            label = labels.tier_name(tier, lang)
            if len(runs) > 1:
                label = f"{label} · {run_text}"
            ax.plot(minutes, shares * 100.0, color=TIER_COLOURS[tier], linestyle=dash, linewidth=2.0, label=label)
    for band in band_marks(bands_min):
        ax.axvline(band, color="#bbbbbb", linewidth=0.8, zorder=0, gid=f"band-{band:g}")
    ax.set_xticks(sorted({0.0, *band_marks(bands_min), float(minutes[-1])}))
    ax.set_xlim(0, float(minutes[-1]))
    ax.set_ylim(0, 100)
    ax.set_xlabel(labels.text("minutes", lang), fontsize=13)
    ax.set_ylabel("%", fontsize=13)
    ax.grid(axis="y", color="#e5e5e5")
    heading = labels.text("coverage_curve", lang)
    shown_title = _drawable(title, has_cjk)
    ax.set_title(f"{shown_title}\n{heading}" if shown_title else heading, fontsize=16)
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside lower center", fontsize=10, ncol=2)
    return fig


def write_coverage_curve_png(runs: Sequence[tuple[str, pd.DataFrame]], path: Path, *, bands_min: Sequence[float],
                             lang: str = "zh", title: str = "", dpi: int = CURVE_DPI) -> Path:
    """Write `coverage_curve.png` (see `coverage_curve_figure`); returns the path."""

    path = _check_png(path)
    with matplotlib.rc_context(_setup(lang)[1]):
        fig = coverage_curve_figure(runs, bands_min, lang=lang, title=title, dpi=dpi)
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


def _draw_layers(ax: Any, result: AnalysisResult, crs: str, has_cjk: bool, bands_min: Sequence[float],
                 tier: str) -> dict[str, Any]:
    """Boundaries, roads by class, villages by `tier` time in the classes of `bands_min`, and the
    facilities of MAP_TIERS, in `crs`. Returns what was drawn, for the legend: 'counties',
    'townships', 'roads', 'unreachable' (bools) and 'tiers' (the MAP_TIERS rows with facilities)."""
    drawn: dict[str, Any] = {"counties": False, "townships": False, "roads": False, "unreachable": False,
                             "tiers": []}
    if result.boundaries is not None and len(result.boundaries):
        bounds = result.boundaries.to_crs(crs)
        county = (bounds["level"] == "county").to_numpy() if "level" in bounds.columns else np.zeros(len(bounds), bool)
        # A province's boundaries may hold counties only (or townships only): plot what there is.
        if (~county).any():
            bounds[~county].boundary.plot(ax=ax, color="#7b3294", linewidth=0.7, linestyle=(0, (6, 4)), zorder=2)
            drawn["townships"] = True
        if county.any():
            bounds[county].boundary.plot(ax=ax, color="#40004b", linewidth=1.6, zorder=2)
            drawn["counties"] = True
        for _, row in bounds[~county].iterrows():
            name = _drawable(row.get("name"), has_cjk)
            if name:
                point = row.geometry.representative_point()
                # Above villages and facilities with a white halo: a township centre often stands
                # where its name goes, and a print map must stay readable.
                ax.text(point.x, point.y, name, fontsize=9, color="#7b3294", ha="center", zorder=LABEL_ZORDER,
                        path_effects=[patheffects.withStroke(linewidth=2.5, foreground="white")])
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
                drawn["roads"] = True
    villages = result.villages.to_crs(crs)
    if len(villages):
        column = f"{tier}_time_s"
        times = villages[column] if column in villages.columns else pd.Series(np.nan, villages.index)
        colours = [time_colour(v, bands_min) for v in times]
        sizes = [village_radius(p) ** 2 * 0.9 for p in villages["population"]]
        ax.scatter(villages.geometry.x, villages.geometry.y, s=sizes, c=colours, edgecolors="#333333",
                   linewidths=0.4, zorder=6)
        drawn["unreachable"] = bool(times.isna().any())
    facilities = result.facilities.to_crs(crs)
    if len(facilities):
        ambulances = facilities["ambulances"].tolist() if "ambulances" in facilities.columns else [None] * len(facilities)
        for row in MAP_TIERS:
            name, marker, size, hollow = row
            inside = np.array(tier_members(facilities["kind"].tolist(), ambulances, name), dtype=bool)
            if not inside.any():
                continue
            part = facilities[inside]
            colour = TIER_COLOURS[name]
            ax.scatter(part.geometry.x, part.geometry.y, s=size, marker=marker,
                       c="none" if hollow else colour, edgecolors=colour if hollow else "white",
                       linewidths=1.8 if hollow else 0.8, zorder=9 if hollow else 8)
            drawn["tiers"].append(row)
    return drawn


def picture_crs(result: AnalysisResult) -> str:
    """The metric CRS the print map of `result` is drawn in (see layers.crs.metric_crs_for)."""
    frames = [f for f in (result.villages, result.facilities, result.boundaries) if f is not None and len(f)]
    if not frames:
        raise ValueError("analysis result: no village, facility or boundary geometry to draw")
    west, south, east, north = np.array([f.to_crs(4326).total_bounds for f in frames]).T
    return metric_crs_for((west.min() + east.max()) / 2, (south.min() + north.max()) / 2)


def crs_label(crs: str) -> str:
    """The CRS a picture is drawn in, as pyproj names it: 'CGCS2000 / 3-degree Gauss-Kruger CM 111E (EPSG:4546)'."""
    return f"{pyproj.CRS.from_user_input(crs).name} ({crs})"


def _legend_handles(drawn: dict[str, Any], lang: str, bands_min: Sequence[float], place: str) -> list[Any]:
    """Legend entries for what `_draw_layers` drew, and nothing else; `place` is the project name."""

    def dot(colour: str, label: str) -> Any:
        return Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=colour,
                      markeredgecolor="#333333", label=label)

    handles = [dot(c, label) for c, label in time_class_labels(lang, bands_min)]
    if drawn["unreachable"]:
        handles.append(dot(UNREACHABLE_FILL, labels.text("unreachable", lang)))
    for tier, marker, _size, hollow in sorted(drawn["tiers"], key=lambda row: LEGEND_ORDER.index(row[0])):
        colour = TIER_COLOURS[tier]
        handles.append(Line2D([], [], marker=marker, linestyle="", markersize=10,
                              markerfacecolor="none" if hollow else colour,
                              markeredgecolor=colour if hollow else "white", markeredgewidth=1.8 if hollow else 1.0,
                              label=labels.tier_name(tier, lang)))
    if drawn["roads"]:
        handles.append(Line2D([], [], color=ROAD_STYLES[1][1]["color"], linewidth=1.6, label=labels.text("roads", lang)))
    if drawn["counties"]:
        handles.append(Line2D([], [], color="#40004b", linewidth=1.6, label=labels.boundary_name(place, lang)))
    if drawn["townships"]:
        handles.append(Line2D([], [], color="#7b3294", linewidth=0.9, linestyle=(0, (6, 4)),
                              label=labels.text("township_boundary", lang)))
    return handles


def coverage_map_figure(result: AnalysisResult, bands_min: Sequence[float], *, lang: str = "zh",
                        title: str | None = None, sources: str = "", date: dt.date | None = None,
                        dpi: int = MAP_DPI) -> Any:
    """The print map as a matplotlib Figure (A4 landscape at `dpi`; see `write_coverage_map_png`)."""

    lang, rc = _setup(lang)
    has_cjk = rc["font.family"] != "DejaVu Sans"
    crs = picture_crs(result)
    tier = shown_tier(result.villages)
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=A4_LANDSCAPE_IN, dpi=dpi)
        FigureCanvasAgg(fig)
        day = (date or dt.date.today()).isoformat()
        shown_sources = _drawable(sources, has_cjk) if sources and sources.strip() else None
        footer = ([f"{labels.text('data_sources', lang)}: {shown_sources}"] if shown_sources else []) + [
            f"{labels.text('crs_note', lang)}: {crs_label(crs)}", f"{labels.text('map_date', lang)}: {day} · healthreach"]
        note = fig.text(0.03, 0.02, "\n".join(footer), ha="left", va="bottom", fontsize=9, color="#333333",
                        linespacing=1.5, gid="footer")
        # The frame starts above the footer as drawn (its height depends on the font and the lines).
        top_of_footer = fig.transFigure.inverted().transform(
            note.get_window_extent(fig.canvas.get_renderer()).corners()[1])[1]
        bottom = top_of_footer + 0.015
        ax = fig.add_axes((0.03, bottom, 0.70, 0.89 - bottom))
        drawn = _draw_layers(ax, result, crs, has_cjk, bands_min, tier)
        # The legend sits at the right edge of the page; the frame takes what it leaves (long English
        # labels make it wider), so neither the page edge nor the frame ever cuts a label.
        legend = fig.legend(handles=_legend_handles(drawn, lang, bands_min, result.project_name), loc="upper right",
                            bbox_to_anchor=(0.985, 0.89), fontsize=11, title=labels.text("legend", lang),
                            title_fontsize=13, frameon=True, borderpad=1.0)
        legend_left = fig.transFigure.inverted().transform(
            legend.get_window_extent(fig.canvas.get_renderer()).corners()[0])[0]
        right = min(0.73, legend_left - 0.02)
        ax.set_position((0.03, bottom, right - 0.03, 0.89 - bottom))
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
        centre = (0.03 + right) / 2
        fig.text(centre, 0.955, f"{heading}  {labels.text('coverage_map', lang)}".strip(), ha="center",
                 va="center", fontsize=20, fontweight="bold")
        fig.text(centre, 0.915, labels.time_heading(tier, lang), ha="center", va="center", fontsize=12,
                 color="#444444")
    return fig


def write_coverage_map_png(result: AnalysisResult, path: Path, *, bands_min: Sequence[float], lang: str = "zh",
                           title: str | None = None, sources: str = "", date: dt.date | None = None,
                           dpi: int = MAP_DPI) -> Path:
    """Write a print-ready A4-landscape `coverage_map.png` at `dpi` (default 200: 2339 × 1654 px).

    The map is drawn in the CGCS2000 Gauss–Krüger zone of the study area (metres), or the WGS 84 UTM
    zone outside China, named in the footer as pyproj names it, so the scale bar is true; villages are
    coloured as on the HTML map in the classes of `bands_min`. The legend lists only what is drawn;
    `sources` names the data (the line is left out when empty), `date` defaults to today.
    """

    path = _check_png(path)
    with matplotlib.rc_context(_setup(lang)[1]):
        fig = coverage_map_figure(result, bands_min, lang=lang, title=title, sources=sources, date=date, dpi=dpi)
        with atomic_write(path) as temp:
            fig.savefig(temp, dpi=dpi, format="png")
    log.info("wrote %s (%s, %d dpi)", path, picture_crs(result), dpi)
    return path
