"""Building blocks for folium maps that work with no network.

folium's defaults pull Leaflet, jQuery, Bootstrap and Font Awesome from CDNs; `inline_assets`
replaces Leaflet with the copy vendored beside this module and drops the rest, so every element
used here must run on plain Leaflet (popups and tooltips below are bound without jQuery).
"""
from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import Element, MacroElement
from jinja2 import Template

from healthreach._errors import InputError


def require_columns(frame: pd.DataFrame, columns: list[str], layer: str) -> None:
    """Raise InputError naming the first column of `columns` missing from `frame`."""
    for column in columns:
        if column not in frame.columns:
            raise InputError(f"{layer}: column {column!r} is missing; expected it in the analysis result")


# folium 0.20 default assets that nothing drawn by healthreach needs.
_DROPPABLE = (
    "jquery",
    "bootstrap",
    "awesome-markers",
    "fontawesome",
    "font-awesome",
    "glyphicons",
    "leaflet.awesome.rotate",
)
_SCRIPT_SRC = re.compile(r"<script\b[^>]*\bsrc\s*=\s*[\"']([^\"']+)[\"'][^>]*>\s*</script>", re.I)
_CSS_LINK = re.compile(r"<link\b[^>]*\bhref\s*=\s*[\"']([^\"']+)[\"'][^>]*/?>", re.I)
_EXTERNAL_REF = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*["']?|url\(\s*["']?|@import\s+["']?)\s*(?:https?:)?//""", re.I
)
_PLACEHOLDER = "<!--healthreach-vendor-{}-->"


def vendor_text(filename: str) -> str:
    """Contents of a vendored asset (`leaflet.js`, `leaflet.css`, `LICENSE`)."""
    return resources.files("healthreach.maps").joinpath("vendor", filename).read_text("utf-8")


def _is_remote(url: str) -> bool:
    return bool(re.match(r"\s*(?:https?:)?//", url, re.I))


def _replace_remote_tag(match: re.Match[str]) -> str:
    url = match.group(1)
    if not _is_remote(url):
        return match.group(0)
    leaf = url.rsplit("/", 1)[-1].lower()
    if leaf in ("leaflet.js", "leaflet.css") and "leaflet" in url.lower():
        return _PLACEHOLDER.format(leaf)
    if any(token in url.lower() for token in _DROPPABLE):
        return ""
    return match.group(0)


def inline_assets(html: str) -> str:
    """Make a rendered folium page self-contained.

    Leaflet's JS and CSS links are replaced by the vendored files, folium's other CDN assets are
    removed. Raises RuntimeError if any `src=`/`href=`/`url()` to http(s) or `//` remains, or if
    the page does not load Leaflet at all.
    """
    out = _SCRIPT_SRC.sub(_replace_remote_tag, html)
    out = _CSS_LINK.sub(_replace_remote_tag, out)
    leftover = _EXTERNAL_REF.search(out)
    if leftover:
        context = out[max(0, leftover.start() - 60) : leftover.end() + 60]
        raise RuntimeError(f"map HTML still references an external resource: ...{context}...")
    js_mark, css_mark = _PLACEHOLDER.format("leaflet.js"), _PLACEHOLDER.format("leaflet.css")
    if js_mark not in out:
        raise RuntimeError("map HTML does not load Leaflet; expected folium's leaflet.js link")
    # Leaflet's CSS must precede folium's own style rules, which override some of it.
    if css_mark in out:
        out = out.replace(css_mark, "", 1)
    out = out.replace(js_mark, f"<style>{vendor_text('leaflet.css')}</style>\n"
                      f"<script>{vendor_text('leaflet.js')}</script>", 1)
    return out.replace(js_mark, "").replace(css_mark, "")


def js_string(value: str) -> str:
    """A JavaScript string literal for `value` that is also safe inside an HTML <script>."""
    text = json.dumps(value, ensure_ascii=False)
    for char, code in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(char, code)
    return text


def dom_class(prefix: str, value: object) -> str:
    """A CSS class naming one feature (e.g. a village by `vid`) so tests and users can find it."""
    raw = str(value)
    if re.fullmatch(r"[A-Za-z0-9_-]+", raw):
        return f"{prefix}-{raw}"
    return f"{prefix}-x{raw.encode('utf-8').hex()}"


class HtmlPopup(MacroElement):
    """Bind a popup of ready-made (already escaped) HTML to the parent layer, without jQuery."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this._parent.get_name() }}.bindPopup({{ this.content }}, {{ this.options }});\n"
        "{% endmacro %}"
    )

    def __init__(self, html: str, *, max_width: int = 320) -> None:
        super().__init__()
        self._name = "HtmlPopup"
        self.content = js_string(html)
        self.options = json.dumps({"maxWidth": max_width})


class HtmlTooltip(MacroElement):
    """Bind a tooltip of ready-made (already escaped) HTML to the parent layer."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "{{ this._parent.get_name() }}.bindTooltip({{ this.content }}, {{ this.options }});\n"
        "{% endmacro %}"
    )

    def __init__(self, html: str, **options: Any) -> None:
        super().__init__()
        self._name = "HtmlTooltip"
        self.content = js_string(html)
        self.options = json.dumps({"sticky": True, **options})


class ScaleBar(MacroElement):
    """Leaflet's metric scale bar."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({metric: true, imperial: false, maxWidth: 160})"
        ".addTo({{ this._parent.get_name() }});\n"
        "{% endmacro %}"
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "ScaleBar"


class SearchBox(MacroElement):
    """A search box for place names: typing lists matches, choosing one zooms to it and opens its popup.

    `entries` are (name, detail, marker, group): `name` and `detail` already escaped HTML, `marker`
    a folium layer with a popup and `group` the FeatureGroup holding it (shown when needed). Matching
    compares the escaped query with the escaped names, so user text never becomes live HTML.
    """

    _template = Template(
        "{% macro html(this, kwargs) %}"
        "<div class='hr-box hr-search' id='{{ this.get_name() }}'>"
        "<input type='search' placeholder={{ this.placeholder }} autocomplete='off'><ul></ul></div>"
        "{% endmacro %}"
        "{% macro script(this, kwargs) %}"
        "(function(){var map={{ this._parent.get_name() }};"
        "var entries=[{% for e in this.entries %}{n:{{ e[0] }},k:{{ e[1] }},m:{{ e[2] }},g:{{ e[3] }}},{% endfor %}];"
        "window.hrSearchIndex=entries;"
        "var box=document.getElementById('{{ this.get_name() }}');"
        "var input=box.querySelector('input'),list=box.querySelector('ul');"
        "function esc(s){return s.replace(/&/g,'&amp;').replace(/</g,'&lt;').replace(/>/g,'&gt;')"
        ".replace(/\"/g,'&quot;').replace(/'/g,'&#x27;').replace(/`/g,'&#96;').replace(/[$]/g,'&#36;')"
        ".replace(/\\\\/g,'&#92;');}"
        "function show(e){if(!map.hasLayer(e.g)){map.addLayer(e.g);}"
        "map.setView(e.m.getLatLng(),Math.max(map.getZoom(),13));e.m.openPopup();list.textContent='';}"
        "input.addEventListener('input',function(){list.textContent='';"
        "var q=esc(input.value.trim()).toLowerCase();if(!q){return;}"
        "entries.filter(function(e){return e.n.toLowerCase().indexOf(q)>=0;}).slice(0,15)"
        ".forEach(function(e){var li=document.createElement('li');li.innerHTML=e.n+' <small>'+e.k+'</small>';"
        "li.addEventListener('click',function(){show(e);});list.appendChild(li);});});"
        "input.addEventListener('keydown',function(ev){if(ev.key==='Enter'){"
        "var first=list.querySelector('li');if(first){first.click();}}});"
        "L.DomEvent.disableClickPropagation(box);L.DomEvent.disableScrollPropagation(box);})();\n"
        "{% endmacro %}"
    )

    def __init__(self, entries: list[tuple[str, str, Any, Any]], *, placeholder: str) -> None:
        super().__init__()
        self._name = "SearchBox"
        self.placeholder = json.dumps(placeholder, ensure_ascii=False).replace("'", "&#x27;")
        self.entries = [(js_string(name), js_string(detail), marker.get_name(), group.get_name())
                        for name, detail, marker, group in entries]


class FitFreeArea(MacroElement):
    """Fit the map to `bounds` in the part of the window the boxes leave free, once they are laid out.

    Boxes in the left half reserve a strip on the left, those in the right half one on the right, the
    title and the search box one at the top. Where the free width would be under 45 % of the window,
    open collapsible boxes (`details.hr-box`) are closed first, so the study area is never under a box
    at first view. `bounds` is (west, south, east, north) in degrees.
    """

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "(function(){var map={{ this._parent.get_name() }};"
        "var bounds=L.latLngBounds([[{{ this.south }},{{ this.west }}],[{{ this.north }},{{ this.east }}]]);"
        "function pads(){var size=map.getSize(),top=20,left=20,right=20,bottom=20;"
        "document.querySelectorAll('.hr-box').forEach(function(el){var r=el.getBoundingClientRect();"
        "if(!r.width||!r.height){return;}"
        "if(el.classList.contains('hr-title')||el.classList.contains('hr-search')){top=Math.max(top,r.bottom+10);}"
        "else if(r.left+r.width/2<size.x/2){left=Math.max(left,r.right+10);}"
        "else{right=Math.max(right,size.x-r.left+10);}});"
        "return {tl:[left,top],br:[right,bottom],free:size.x-left-right,width:size.x};}"
        "var p=pads();if(p.free<0.45*p.width){"
        "document.querySelectorAll('details.hr-box[open]').forEach(function(d){d.open=false;});p=pads();}"
        "map.fitBounds(bounds,{paddingTopLeft:p.tl,paddingBottomRight:p.br,animate:false});})();\n"
        "{% endmacro %}"
    )

    def __init__(self, bounds: tuple[float, float, float, float]) -> None:
        super().__init__()
        self._name = "FitFreeArea"
        self.west, self.south, self.east, self.north = (float(v) for v in bounds)


# Leaflet panes above the catchments' overlay pane (z-index 400): villages, then facilities on top,
# so no marker is ever hidden under a catchment fill, whatever order the user turns layers on in.
PANES: dict[str, int] = {"hr-villages": 410, "hr-facilities": 420}


def in_pane(layer: Any, pane: str) -> Any:
    """`layer` (a folium vector layer) drawn in one of PANES; returns it."""
    if pane not in PANES:
        raise ValueError(f"pane {pane!r}: expected one of {', '.join(PANES)}")
    layer.options["pane"] = pane
    return layer


class HtmlBox(MacroElement):
    """A fixed-position box (title, legend) of ready-made (already escaped) HTML."""

    _template = Template("{% macro html(this, kwargs) %}{{ this.markup }}{% endmacro %}")

    def __init__(self, markup: str) -> None:
        super().__init__()
        self._name = "HtmlBox"
        self.markup = markup


_PAGE_CSS = """<style>
.folium-map.leaflet-container{background:#f4f1ea}
.hr-box{position:fixed;z-index:1000;background:rgba(255,255,255,.92);padding:6px 10px;
 border-radius:4px;box-shadow:0 1px 4px rgba(0,0,0,.35);font:13px/1.4 "Noto Sans CJK SC",
 "Microsoft YaHei",sans-serif;color:#222}
.hr-title{top:10px;left:50%;transform:translateX(-50%);font-size:16px;font-weight:bold;
 text-align:center;max-width:60%}
.hr-title small{display:block;font-weight:normal;font-size:12px;color:#555}
.hr-legend{bottom:28px;right:10px;max-width:260px}
.hr-legend h4{margin:4px 0 2px;font-size:13px}
.hr-legend{max-height:calc(100vh - 120px);overflow-y:auto}
.hr-legend i.ring{background:transparent;border:2.5px solid #b2182b}
.hr-legend i.sq{border-radius:2px;opacity:.8}
.hr-legend p{margin:2px 0;font-size:12px;max-width:240px}
.hr-legend i{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:6px;
 vertical-align:-1px;border:1px solid #555}
.hr-label{background:transparent;border:0;box-shadow:none;padding:0;font-size:11px;color:#333;
 text-shadow:0 0 2px #fff,0 0 2px #fff,0 0 3px #fff}
.hr-label:before{display:none}
.leaflet-popup-content table{border-collapse:collapse;font-size:12px}
.hr-search{top:10px;left:54px;width:220px;padding:4px 6px}
.hr-search input{width:100%;box-sizing:border-box;font-size:13px;padding:3px}
.hr-search ul{list-style:none;margin:2px 0 0;padding:0;max-height:260px;overflow-y:auto}
.hr-search li{padding:2px 4px;cursor:pointer;border-bottom:1px solid #eee}
.hr-search li:hover,.hr-search li.hr-active{background:#e6f0fa}
.hr-summary{bottom:40px;left:10px;max-width:430px;max-height:60vh;overflow:auto}
.hr-curve-keys{font-size:11px;columns:2;column-gap:10px;max-width:410px}
.hr-curve-key{break-inside:avoid}
.hr-curve-key svg{vertical-align:middle;margin-right:4px}
.hr-switch{top:84px;left:10px;max-width:320px}
.hr-switch label{display:block;cursor:pointer;white-space:nowrap}
.hr-switch small{color:#666}
.hr-summary summary{font-weight:bold;cursor:pointer}
.hr-summary table{border-collapse:collapse;font-size:12px;margin:4px 0}
.hr-summary td,.hr-summary th{padding:1px 5px;text-align:right;border-bottom:1px solid #ddd}
.hr-summary th:first-child,.hr-summary td:first-child{text-align:left}
.leaflet-popup-content td,.leaflet-popup-content th{padding:1px 6px 1px 0;text-align:left}
</style>"""


def new_map(bounds: tuple[float, float, float, float]) -> folium.Map:
    """An empty offline map (no tile layer) fitted to `bounds` (west, south, east, north in degrees)
    in the part of the window its boxes leave free (see FitFreeArea)."""
    west, south, east, north = bounds
    # Quarter zoom steps let the fit use the free area well; the +/- buttons still step whole levels.
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], tiles=None, zoom_start=10,
                   control_scale=False, prefer_canvas=False, zoom_snap=0.25)
    m.get_root().header.add_child(Element(_PAGE_CSS), name="healthreach_css")
    for pane, z_index in PANES.items():
        m.add_child(folium.map.CustomPane(pane, z_index=z_index, pointer_events=True))
    m.add_child(ScaleBar())
    # Fitted once the page's boxes are laid out, clear of them (a second, animated fit would race it).
    m.add_child(FitFreeArea(bounds))
    return m


def render_html(m: folium.Map) -> str:
    """Render `m` to a self-contained HTML page (see `inline_assets`)."""
    return inline_assets(m.get_root().render())


def data_bounds(*frames: gpd.GeoDataFrame | None) -> tuple[float, float, float, float]:
    """Bounds (west, south, east, north, degrees) of the non-empty frames' geometries."""
    boxes = [f.total_bounds for f in frames if f is not None and len(f) and not f.geometry.is_empty.all()]
    boxes = [b for b in boxes if np.all(np.isfinite(b))]
    if not boxes:
        raise InputError("analysis result: no village, facility or boundary geometry to draw")
    arr = np.array(boxes)
    return (float(arr[:, 0].min()), float(arr[:, 1].min()), float(arr[:, 2].max()), float(arr[:, 3].max()))


def display_frame(gdf: gpd.GeoDataFrame, layer: str, *, tolerance_m: float = 25.0,
                  decimals: int = 5) -> gpd.GeoDataFrame:
    """A copy of `gdf` for drawing: simplified by `tolerance_m` metres, coordinates rounded.

    Simplification runs in a metric (UTM) CRS; the result is WGS84 with `decimals` decimal places
    (5 places ≈ 1 m). Rows whose geometry is missing or becomes empty are dropped. `layer` names
    the layer in error messages. The input frame is not modified.
    """
    if gdf.crs is None:
        raise InputError(f"{layer}: geometry has no CRS; expected EPSG:4326 (WGS84)")
    frame = gdf[gdf.geometry.notna() & ~gdf.geometry.is_empty].to_crs(4326)
    if frame.empty:
        return frame
    geoms = frame.geometry
    if tolerance_m > 0 and not geoms.geom_type.isin(["Point", "MultiPoint"]).all():
        metric = frame.estimate_utm_crs()
        geoms = geoms.to_crs(metric).simplify(tolerance_m, preserve_topology=True).to_crs(4326)
    rounded = shapely.transform(np.asarray(geoms.values), lambda xy: np.round(xy, decimals))
    out = frame.set_geometry(gpd.GeoSeries(rounded, index=frame.index, crs=4326))
    return out[~out.geometry.is_empty]


def feature_collection(geoms: gpd.GeoSeries) -> dict[str, Any]:
    """A GeoJSON FeatureCollection of bare geometries (no properties: styles are per layer)."""
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(g)}
            for g in geoms
        ],
    }
