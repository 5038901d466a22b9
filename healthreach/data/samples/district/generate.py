"""Generate the embedded synthetic urban sample district 丹川区（合成样例） deterministically.

``python -m healthreach.data.samples.district.generate [--out DIR]`` writes, by default into this
folder: ``boundaries.gpkg``, ``villages.gpkg`` (the demand points are 社区 communities),
``facilities.gpkg``, ``roads.osm``, ``project.yml``, ``scenarios/*.yml`` and ``README.md`` (from
``README.md.tmpl`` and ``project.yml.tmpl``), built by ``place``; the scenarios are chosen with
networkx on the district's own roads here. Every run writes the same bytes.
"""
from __future__ import annotations

import itertools
import logging
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Point

from healthreach.data.samples._build import (
    Layers,
    Network,
    command_line,
    comment,
    osm_xml,
    render,
    settle,
    write_gpkgs,
)
from healthreach.data.samples.district.place import (
    AREA_M2,
    CENTRE_LONLAT,
    CITY,
    DISTRICT,
    DISTRICT_SHORT,
    EMS_URBAN_M,
    GPKG_DATE,
    HERE,
    METRIC_CRS,
    MODULE,
    N_COMMUNITIES,
    RESIDENTS,
    SEED,
    SOURCE,
    STREETS,
    TRAPS,
    WALK_15MIN_M,
    District,
    build,
    drivable,
    walkable,
)

log = logging.getLogger(__name__)


@dataclass
class Graph:
    """A networkx graph of one travel mode (edge weight ``m``, metres) and its routable segments."""

    g: nx.DiGraph
    segs: list[tuple[int, int, bool]]  # (u, v, oneway) of the largest component
    lines: list[LineString]


def mode_graph(net: Network, mode: str) -> Graph:
    """Graph of ``mode`` ('drive' respects one-way, 'walk' does not) on its largest component."""
    ok = drivable if mode == "drive" else walkable
    g = nx.DiGraph()
    raw: list[tuple[int, int, bool]] = []
    xy = net.coords()
    for nodes, tags in net.ways:
        if not ok(tags):
            continue
        one = mode == "drive" and tags.get("oneway") == "yes"
        for u, v in itertools.pairwise(nodes):
            m = float(np.hypot(*(xy[u - 1] - xy[v - 1])))
            g.add_edge(u, v, m=m)
            if not one:
                g.add_edge(v, u, m=m)
            raw.append((u, v, one))
    main = max(nx.weakly_connected_components(g), key=len)
    g = g.subgraph(main).copy()
    segs = [s for s in raw if s[0] in main]
    return Graph(g, segs, [LineString([xy[u - 1], xy[v - 1]]) for u, v, _ in segs])


def attach(graph: Graph, points: list[np.ndarray], tag: str) -> list[tuple[object, float]]:
    """Join points to the nearest segment of the graph's main component (as OSRM does, not to
    islands); returns the virtual node of each point and its off-network leg (metres)."""
    tree = shapely.STRtree(graph.lines)
    out = []
    for k, p in enumerate(points):
        pt = Point(p)
        s = int(tree.query_nearest(pt)[0])
        line = graph.lines[s]
        u, v, one = graph.segs[s]
        at = line.project(pt)
        node = (tag, k)
        graph.g.add_edge(u, node, m=at)
        graph.g.add_edge(node, v, m=line.length - at)
        if not one:
            graph.g.add_edge(node, u, m=at)
            graph.g.add_edge(v, node, m=line.length - at)
        out.append((node, float(line.distance(pt))))
    return out


def write_layers(d: District, out: Path) -> None:
    """Write boundaries.gpkg, villages.gpkg (社区) and facilities.gpkg (WGS84) into ``out``."""
    make = Layers(METRIC_CRS, SOURCE)
    rows = d.communities
    villages = make.villages(
        {"社区代码": [str(c["code"]) for c in rows], "社区名": [str(c["name"]) for c in rows],
         "常住人口": np.array([c["population"] for c in rows], dtype="int64"),
         "街道": [str(c["street"]) for c in rows], "类型": ["城镇"] * len(rows),
         "65岁以上": np.array([c["elderly"] for c in rows], dtype="int64"),
         "6岁以下": np.array([c["children"] for c in rows], dtype="int64")}, rows)
    write_gpkgs(out, {"boundaries": make.boundaries(DISTRICT, d.outline, [s + "街道" for s in STREETS], d.streets),
                      "villages": villages, "facilities": make.facilities(d.facilities)}, GPKG_DATE)


def _best_site(graph: Graph, sources: list[np.ndarray], targets: list[dict[str, object]],
               covered: dict[str, float], limit_m: float, *, reverse: bool) -> list[tuple[int, int, str]]:
    """Candidate sites (at the uncovered communities) ranked by residents newly within ``limit_m``
    network metres (legs included): (gain persons, -index, code), best first."""
    legs = attach(graph, sources, "site")
    tnodes = attach(graph, [np.asarray(c["xy"]) for c in targets], "target")
    g = graph.g.reverse(copy=False) if reverse else graph.g
    ranked = []
    for k, ((node, leg), c) in enumerate(zip(legs, targets)):
        if covered[str(c["code"])] <= limit_m:
            continue
        dist = nx.single_source_dijkstra_path_length(g, node, cutoff=limit_m, weight="m")
        gain = sum(int(t["population"]) for (tn, tleg), t in zip(tnodes, targets)
                   if covered[str(t["code"])] > limit_m and dist.get(tn, math.inf) + leg + tleg <= limit_m)
        ranked.append((gain, -k, str(c["code"])))
    return sorted(ranked, reverse=True)


def _nearest(graph: Graph, bases: list[np.ndarray], targets: list[dict[str, object]], *,
             outward: bool) -> dict[str, float]:
    """Network metres (legs included) from the nearest base to each target (or back, walking)."""
    bnodes = attach(graph, bases, "base")
    tnodes = attach(graph, [np.asarray(c["xy"]) for c in targets], "target")
    g = graph.g.copy() if outward else graph.g.reverse(copy=True)
    for node, leg in bnodes:
        g.add_edge("SOURCE", node, m=leg)
    dist = nx.single_source_dijkstra_path_length(g, "SOURCE", weight="m")
    return {str(c["code"]): dist.get(n, math.inf) + leg for (n, leg), c in zip(tnodes, targets)}


def scenario_texts(d: District) -> dict[str, str]:
    """The two sample scenarios (YAML text), with choices computed on the sample's own network."""
    to_wgs = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True)
    roads = shapely.union_all([d.net.line(i) for i, (_, t) in enumerate(d.net.ways) if drivable(t)])
    by_code = {str(c["code"]): c for c in d.communities}
    head = comment(f"{DISTRICT}: SYNTHETIC sample scenario (合成样例).")
    # 1. The 15-minute walking circle (URBAN-15MIN, 003 §四(三)1): 1,000 m at 4 km/h.
    community = [np.asarray(f["xy"]) for f in d.facilities if f["kind"] in ("社区卫生服务中心", "社区卫生服务站")]
    walk = _nearest(mode_graph(d.net, "walk"), community, d.communities, outward=False)
    ranked = _best_site(mode_graph(d.net, "walk"), [np.asarray(c["xy"]) for c in d.communities],
                        d.communities, walk, WALK_15MIN_M, reverse=True)
    gap = sum(int(c["population"]) for c in d.communities if walk[str(c["code"])] > WALK_15MIN_M)
    host = by_code[ranked[0][2]]
    site = settle(np.asarray(host["xy"]) + np.array([25.0, -20.0]), roads,
                  np.random.default_rng(SEED + 1), lo=15.0, hi=120.0, reach_m=20.0)
    lon, lat = to_wgs.transform(*site)
    top = ", ".join(f"{by_code[c]['name']} {g:,}" for g, _, c in ranked[:3])
    station = head + comment(
        f"Chosen by the generator: the community health station that closes the largest gap in the "
        f"15-minute walking circle (1,000 m at 4 km/h on every way open on foot, footways and steps "
        f"included, private ways excluded; points joined to the nearest way of the main network). "
        f"{gap:,} residents live farther than 1,000 m from every community health service centre or "
        f"station; residents newly within 1,000 m of a station at each such community, best three: "
        f"{top}.") + f"""\
name: community-station-walk-gap
title: {host['name']}新建社区卫生服务站（合成样例）
base: ../project.yml
changes:
  - add: {{fid: CS99, name: {str(host['name'])[:-2]}社区卫生服务站, kind: community_station,
          doctors: 3, nurses: 3, township: {host['street']}, vid: '{host['code']}',
          lon: {lon:.6f}, lat: {lat:.6f}, crs: wgs84}}
"""
    # 2. The 5 km urban ambulance radius (EMS-RADIUS-URBAN, 003 §四(一)6), driven from the station.
    bases = [np.asarray(f["xy"]) for f in d.facilities
             if f["kind"] in ("急救中心", "急救站") or int(f["ambulances"]) > 0]
    ems = _nearest(mode_graph(d.net, "drive"), bases, d.communities, outward=True)
    ranked = _best_site(mode_graph(d.net, "drive"), [np.asarray(c["xy"]) for c in d.communities],
                        d.communities, ems, EMS_URBAN_M, reverse=False)
    beyond = sum(int(c["population"]) for c in d.communities if ems[str(c["code"])] > EMS_URBAN_M)
    host = by_code[ranked[0][2]]
    site = settle(np.asarray(host["xy"]) + np.array([-30.0, 25.0]), roads,
                  np.random.default_rng(SEED + 2), lo=15.0, hi=120.0, reach_m=20.0)
    lon, lat = to_wgs.transform(*site)
    top = ", ".join(f"{by_code[c]['name']} {g:,}" for g, _, c in ranked[:3])
    ems_text = head + comment(
        f"Chosen by the generator: the emergency station that brings the most residents within the "
        f"5 km urban ambulance radius (network distance driven from the station, one-way streets "
        f"respected, on roads open to cars; bases: the emergency centre, the stations and every "
        f"facility with ambulances). {beyond:,} residents live beyond 5 km of every base; residents "
        f"newly within 5 km of a station at each such community, best three: {top}.") + f"""\
name: ems-station-5km-gap
title: {host['street']}{host['name']}新建急救站（2辆救护车，合成样例）
base: ../project.yml
changes:
  - add: {{fid: EMS04, name: {CITY}急救中心{str(host['name'])[:-2]}站, kind: ems_station, ambulances: 2,
          township: {host['street']}, lon: {lon:.6f}, lat: {lat:.6f}, crs: wgs84}}
"""
    return {"community-station-walk-gap.yml": station, "ems-station-5km-gap.yml": ems_text}


def readme_text(d: District, scenarios: dict[str, str]) -> str:
    """README.md for the sample folder: sources of every modelling choice, counts, traps."""
    pop = sum(int(c["population"]) for c in d.communities)
    classes = Counter(tags["highway"] for _, tags in d.net.ways)
    kinds = Counter(str(f["kind"]) for f in d.facilities)
    beds = {k: sum(int(f["beds"]) for f in d.facilities if f["kind"] == k) for k in kinds}
    amb = sum(int(f["ambulances"]) for f in d.facilities)
    streets = Counter(str(c["street"]) for c in d.communities)
    chc = {str(f["township"]) for f in d.facilities if f["kind"] == "社区卫生服务中心"}
    without = ", ".join(s + "街道" for s in STREETS if s + "街道" not in chc)
    trap = next(c for c in d.communities if c["trap"])
    island = d.traps["parking_island"][0]
    island_m = d.net.line(island).distance(Point(np.asarray(trap["xy"])))
    others = shapely.union_all([d.net.line(i) for i, (_, t) in enumerate(d.net.ways)
                                if drivable(t) and i != island])
    road_m = others.distance(Point(np.asarray(trap["xy"])))
    trap_rows = "\n".join(f"| `{name}` | {TRAPS[name]} | {', '.join(str(w + 1) for w in ways)} |"
                           for name, ways in d.traps.items())
    district_beds = sum(int(f["beds"]) for f in d.facilities if f["fid"] != "H01")
    return render(
        HERE / "README.md.tmpl", district=DISTRICT, district_short=DISTRICT_SHORT, city=CITY, lon=CENTRE_LONLAT[0],
        lat=CENTRE_LONLAT[1], streets=len(d.streets), communities=len(d.communities), facilities=len(d.facilities),
        nodes=len(d.net.xy), ways=len(d.net.ways), scenario_files=", ".join(f"`{n}`" for n in sorted(scenarios)),
        residents=f"{pop:,}", elderly=f'{sum(int(c["elderly"]) for c in d.communities):,}',
        children=f'{sum(int(c["children"]) for c in d.communities):,}', area=f"{d.outline.area / 1e6:,.1f}",
        crs=METRIC_CRS, street_counts=", ".join(f"{s} {n}" for s, n in sorted(streets.items())),
        kinds=", ".join(f"{k} {n}" for k, n in sorted(kinds.items())), beds=f"{sum(beds.values()):,}",
        beds_by_kind=", ".join(f"{k} {b:,}" for k, b in sorted(beds.items()) if b), ambulances=amb,
        classes=", ".join(f"{k} {n}" for k, n in sorted(classes.items())), without=without,
        district_beds=f"{district_beds:,}", district_beds_per_1000=f"{1000 * district_beds / pop:.2f}",
        planned_residents=f"{RESIDENTS:,}", planned_area=f"{AREA_M2 / 1e6:.0f}", n_streets=len(STREETS),
        n_communities=N_COMMUNITIES, trap_rows=trap_rows, trap_name=trap["name"], trap_code=trap["code"],
        island_m=f"{island_m:.0f}", road_m=f"{road_m:.0f}", seed=SEED)


def generate(out: str | Path) -> District:
    """Build the sample district and write all its files into folder ``out``; returns what was built."""
    out = Path(out)
    (out / "scenarios").mkdir(parents=True, exist_ok=True)
    d = build()
    write_layers(d, out)
    (out / "roads.osm").write_text(osm_xml(d.net, METRIC_CRS, DISTRICT, MODULE), encoding="utf-8")
    (out / "project.yml").write_text(render(HERE / "project.yml.tmpl", district=DISTRICT, crs=METRIC_CRS),
                                     encoding="utf-8")
    scenarios = scenario_texts(d)
    for name, text in scenarios.items():
        (out / "scenarios" / name).write_text(text, encoding="utf-8")
    (out / "README.md").write_text(readme_text(d, scenarios), encoding="utf-8")
    log.info("wrote %s: %d communities, %d facilities, %d road nodes, %d ways", out,
             len(d.communities), len(d.facilities), len(d.net.xy), len(d.net.ways))
    return d


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m healthreach.data.samples.district.generate [--out DIR]``."""
    command_line(generate, f"district {DISTRICT}", HERE, argv)


if __name__ == "__main__":
    main()
