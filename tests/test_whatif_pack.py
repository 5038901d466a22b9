"""The what-if tool's packed network, checked without a browser: codecs decoded independently, the
projection polynomial against pyproj, village joins against a brute-force nearest-segment search
with road islands recomputed by networkx."""
from __future__ import annotations

import base64
import dataclasses
import json
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Transformer

from healthreach.commands.setup import Options, prepare
from healthreach.config import Settings
from healthreach.coverage.network import build_networks
from healthreach.layers.crs import metric_xy
from healthreach.layers.roads.speeds import MODES, segment_speeds_kmh
from healthreach.maps import whatif
from healthreach.maps.coverage_map import coverage_map_html
from healthreach.maps.whatif_pack import (
    END_M,
    b64_varint,
    fit_projection,
    junctions,
    pack_network,
)

SAMPLES = Path(__file__).resolve().parents[1] / "healthreach" / "data" / "samples"


def decode_varints(packed: dict) -> np.ndarray:
    """LEB128 zigzag varints as written by b64_varint, decoded byte by byte (an independent reader)."""
    data = base64.b64decode(packed["b64"])
    out, value, shift = [], 0, 0
    for byte in data:
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            out.append((value >> 1) ^ -(value & 1))
            value, shift = 0, 0
    values = np.array(out, dtype=np.int64)
    assert len(values) == packed["n"]
    return np.cumsum(values) if packed["delta"] else values


def poly(coef: list[list[float]], degree: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    terms = [u**i * v**j for i in range(degree + 1) for j in range(degree + 1 - i)]
    return np.stack([sum(c * t for c, t in zip(row, terms)) for row in coef], axis=-1)


@pytest.fixture(scope="module")
def district():
    return prepare(SAMPLES / "district" / "project.yml", Options())


def test_varints_round_trip_signed_and_large() -> None:
    values = np.array([0, 1, -1, 63, -64, 64, 127, 128, 2**20, -(2**20), 2**31 - 1, -(2**31) + 1, 5, 5])
    assert np.array_equal(decode_varints(b64_varint(values, delta=False)), values)
    walk = np.array([1_000_000, 1_000_400, 999_100, 5, 2_000_000_000])
    packed = b64_varint(walk, delta=True)
    assert np.array_equal(decode_varints(packed), walk)
    # Differences are small where neighbours are near: the first value costs 3 bytes, +400 two.
    assert len(base64.b64decode(b64_varint(walk[:2], delta=True)["b64"])) == 5


@pytest.mark.parametrize("crs, box", [("EPSG:4546", (110.9, 38.6, 112.1, 39.4)),  # a county, GK zone
                                      ("EPSG:32649", (108.0, 35.0, 112.0, 38.0))])  # UTM over 400 km
def test_projection_polynomial_matches_pyproj(crs: str, box: tuple[float, float, float, float]) -> None:
    fit = fit_projection(crs, box)
    assert fit is not None
    rng = np.random.default_rng(5)
    lon, lat = rng.uniform(box[0], box[2], 2000), rng.uniform(box[1], box[3], 2000)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    got = poly(fit["fwd"], fit["fwd_degree"], (lon - fit["lon0"]) / fit["su"], (lat - fit["lat0"]) / fit["sv"])
    assert np.abs(got[:, 0] + fit["x0"] - x).max() < 0.001 and np.abs(got[:, 1] + fit["y0"] - y).max() < 0.001
    back = poly(fit["inv"], fit["inv_degree"], (np.asarray(x) - fit["x0"]) / fit["sx"],
                (np.asarray(y) - fit["y0"]) / fit["sy"])
    assert np.abs(back[:, 0] + fit["lon0"] - lon).max() < 2e-7
    assert np.abs(back[:, 1] + fit["lat0"] - lat).max() < 2e-7


def test_packed_network_decodes_to_the_engines_roads(district) -> None:
    edges, villages = district.edges, district.project.villages
    settings, crs = district.config.settings, district.project.crs
    packed = json.loads(json.dumps(pack_network(edges, villages, settings, crs)))  # as the page reads it
    table = junctions(edges)
    assert np.array_equal(decode_varints(packed["segments"]["u"]), table.seg_u)
    assert np.array_equal(decode_varints(packed["segments"]["v"]), table.seg_v)
    net = build_networks(edges, ("drive",), settings, crs, metric_xy(villages, crs))["drive"]
    q, origin = packed["quantum_m"], np.array(packed["origin"])
    nodes = np.column_stack([decode_varints(packed["nodes"]["x"]), decode_varints(packed["nodes"]["y"])]) * q + origin
    assert np.abs(nodes - net.node_xy[: len(table.ids)]).max() <= q
    # Each segment's line: its junctions at the ends, its interior vertices between.
    counts = decode_varints(packed["segments"]["vcount"])
    verts = np.column_stack([decode_varints(packed["segments"]["vx"]), decode_varints(packed["segments"]["vy"])])
    lines = net.geoms[: net.n_segments]
    start = np.r_[0, np.cumsum(counts)]
    for s in range(0, len(edges), 7):
        inner = verts[start[s]:start[s + 1]] * q + origin
        own = s in packed["segments"]["explicit"]
        coords = inner if own else np.vstack([nodes[table.seg_u[s]], inner, nodes[table.seg_v[s]]])
        assert np.abs(coords - shapely.get_coordinates(lines[s])).max() <= q
    # Palette: every segment's km/h per mode and one-way flag are the engine's.
    palette = np.frombuffer(base64.b64decode(packed["segments"]["palette"]["b64"]), dtype=packed["segments"]["palette"]["dtype"])
    for m, mode in enumerate(MODES):
        kmh = np.array([packed["palette"][e]["kmh"][m] or np.nan for e in palette], dtype=float)
        assert np.allclose(kmh, segment_speeds_kmh(edges, mode, settings), equal_nan=True)
    oneway = np.array([packed["palette"][e]["oneway"] for e in palette])
    assert np.array_equal(oneway, edges["oneway"].to_numpy(dtype=bool)) and oneway.any()


def small_pieces(edges, mode: str, settings: Settings) -> np.ndarray:
    """Segments on a small piece of `mode`'s network, recomputed with networkx from the rule in
    docs/roads.md: strongly connected parts of the junction graph (one-way segments u -> v, every
    segment two-way on foot) of fewer than `small_component_size` junctions, other than the largest;
    a one-way segment between two parts belongs to the smaller."""
    usable = np.isfinite(segment_speeds_kmh(edges, mode, settings))
    graph = nx.DiGraph()
    for u, v, oneway in edges.loc[usable, ["u", "v", "oneway"]].itertuples(index=False):
        graph.add_edge(u, v)
        if not oneway or mode == "walk":
            graph.add_edge(v, u)
    parts = sorted(nx.strongly_connected_components(graph), key=len, reverse=True)
    assert len(parts) == 1 or len(parts[0]) > len(parts[1])  # one largest part: no tie to break
    size = {node: (0 if k == 0 else len(part)) for k, part in enumerate(parts) for node in part}
    small = np.zeros(len(edges), dtype=bool)
    for s, (u, v) in enumerate(zip(edges["u"], edges["v"])):
        if usable[s] and (size[u] or size[v]):
            small[s] = min(size[u] or np.inf, size[v] or np.inf) < settings.small_component_size
    return small


@pytest.mark.parametrize("max_snap_m", [2000.0, 150.0])
def test_village_joins_skip_small_road_islands(district, max_snap_m: float) -> None:
    """Recomputed by brute force: distance to every usable segment line; when the nearest lies on a
    small piece (`small_pieces`), the nearest segment off small pieces within max_snap_m instead; then
    the end-of-segment rule. With max_snap_m 150 m, 兴里社区 (33 m from a parking-lot island, 232 m from
    the connected streets) stays on the island; with 2,000 m it joins the streets."""
    edges, villages = district.edges, district.project.villages
    settings = dataclasses.replace(district.config.settings, max_snap_m=max_snap_m)
    crs = district.project.crs
    packed = pack_network(edges, villages, settings, crs)
    table = junctions(edges)
    lines = edges.geometry.to_crs(crs).to_numpy()
    points = shapely.points(metric_xy(villages, crs))
    length = edges["length_m"].to_numpy(dtype=float)
    skipped = {}
    for mode in MODES:
        usable = np.isfinite(segment_speeds_kmh(edges, mode, settings))
        small = small_pieces(edges, mode, settings)
        assert np.array_equal(decode_varints(packed["small"][mode]), np.flatnonzero(small))
        joins = packed["joins"][mode]
        for i, point in enumerate(points):
            dist = np.where(usable, shapely.distance(lines, point), np.inf)
            best = int(np.argmin(dist))
            if dist[best] > settings.max_snap_m:
                assert joins["leg_s"][i] is None
                continue
            if small[best]:
                connected = int(np.argmin(np.where(small, np.inf, dist)))
                if dist[connected] <= settings.max_snap_m:
                    skipped[mode, villages["vid"].iloc[i]] = dist[best]
                    best = connected
            assert joins["leg_s"][i] == pytest.approx(dist[best] / settings.access_kmh * 3.6, abs=1e-6)
            frac = shapely.line_locate_point(lines[best], point, normalized=True)
            if frac * length[best] <= END_M or (1 - frac) * length[best] <= END_M:
                end = table.seg_u[best] if frac * length[best] <= END_M else table.seg_v[best]
                assert joins["node"][i] == end or dist[joins["seg"][i]] == pytest.approx(dist[best])
            else:
                seg = joins["seg"][i]
                assert seg >= 0 and dist[seg] == pytest.approx(dist[best], abs=1e-6)
                if seg == best:
                    assert joins["frac"][i] == pytest.approx(frac, abs=1e-9)
    # The sample's parking-lot island (walk only: parking aisles are closed to cars) is exercised.
    assert list(skipped) == ([("walk", "140599002001")] if max_snap_m > 232 else [])
    assert all(d == pytest.approx(32.5, abs=0.1) for d in skipped.values())


def test_payload_text_cannot_close_its_script() -> None:
    text = whatif._script_json({"name": "</script><script>alert(1)</script>", "q": "\u2028`${x}`&"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"name": "</script><script>alert(1)</script>", "q": "\u2028`${x}`&"}


def test_large_network_gets_a_note_instead_of_the_tool(district, monkeypatch) -> None:
    from healthreach.coverage.pipeline import analyze

    result = analyze(district.project, district.edges, district.config)
    monkeypatch.setattr(whatif, "MAX_JUNCTIONS", 100)
    html = coverage_map_html(result, bands_min=district.config.settings.bands_min, settings=district.config.settings)
    assert "healthreachWhatIf(" not in html and "超过在图上试算的上限（100）" in html
    # The road basemap is then drawn as before, from the result's road lines.
    assert html.count('"type": "LineString"') + html.count('"type":"LineString"') > 100
    monkeypatch.undo()
    with_tool = coverage_map_html(result, bands_min=district.config.settings.bands_min, settings=district.config.settings)
    assert "healthreachWhatIf(" in with_tool
    # Without the run's settings there is no tool (and no note).
    assert "hr-whatif" not in coverage_map_html(result, bands_min=district.config.settings.bands_min)


def test_settings_reach_the_page(district) -> None:
    edges, villages, crs = district.edges, district.project.villages, district.project.crs
    slow = dataclasses.replace(Settings(), access_kmh=3.0, max_snap_m=500.0)
    packed = pack_network(edges, villages, slow, crs)
    assert packed["access_kmh"] == 3.0 and packed["max_snap_m"] == 500.0
