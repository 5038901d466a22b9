"""Generate the embedded synthetic pastoral sample banner 额林中旗（合成样例） deterministically.

``python -m healthreach.data.samples.banner.generate [--out DIR]`` writes, by default into this
folder: ``boundaries.gpkg``, ``villages.gpkg`` (the demand points are 嘎查, a few 村 and the seat
town's 社区), ``facilities.gpkg``, ``roads.osm``, ``project.yml``, ``scenarios/*.yml`` and
``README.md`` (from ``README.md.tmpl`` and ``project.yml.tmpl``), built by ``place``; the scenarios
and the README's travel figures are computed with networkx on the banner's own roads here. Every run
writes the same bytes.
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
from shapely.geometry import LineString, Point

from healthreach.data.samples._build import Layers, Network, command_line, comment, osm_xml, render, write_gpkgs
from healthreach.data.samples.banner.place import (
    BAND_S,
    BANNER,
    BANNER_SHORT,
    CENTRE_LONLAT,
    CLASS_SPEED_KMH,
    EMS_RURAL_M,
    GPKG_DATE,
    HERE,
    METRIC_CRS,
    MODULE,
    RESIDENTS,
    SEED,
    SOURCE,
    TOWNSHIPS,
    Banner,
    build,
)

log = logging.getLogger(__name__)


@dataclass
class Graph:
    """A networkx graph of the drive network (edge weights ``m`` metres, ``s`` seconds)."""

    g: nx.DiGraph
    segs: list[tuple[int, int, float]]  # (u, v, speed m/s) of the largest component
    lines: list[LineString]


def drive_graph(net: Network) -> Graph:
    """The drive network at class speeds (maxspeed where tagged), its largest component only."""
    g = nx.DiGraph()
    raw = []
    xy = net.coords()
    for nodes, tags in net.ways:
        if tags["highway"] not in CLASS_SPEED_KMH:
            continue
        speed = float(tags.get("maxspeed", CLASS_SPEED_KMH[tags["highway"]])) / 3.6
        for u, v in itertools.pairwise(nodes):
            m = float(np.hypot(*(xy[u - 1] - xy[v - 1])))
            g.add_edge(u, v, m=m, s=m / speed)
            g.add_edge(v, u, m=m, s=m / speed)
            raw.append((u, v, speed))
    main = max(nx.weakly_connected_components(g), key=len)
    g = g.subgraph(main).copy()
    segs = [s for s in raw if s[0] in main]
    return Graph(g, segs, [LineString([xy[u - 1], xy[v - 1]]) for u, v, _ in segs])


WALK_MS = 4.0 / 3.6  # the off-network leg is charged at walking speed (standards.md)


def attach(graph: Graph, points: list[np.ndarray], tag: str, *, max_m: float = 2000.0) -> list[tuple[object, float, float]]:
    """Join points to the nearest road segment; returns (virtual node, leg metres, leg seconds), the
    node None for a point farther than ``max_m`` (healthreach's max_snap_m default)."""
    tree = shapely.STRtree(graph.lines)
    out: list[tuple[object, float, float]] = []
    for k, p in enumerate(points):
        pt = Point(p)
        s = int(tree.query_nearest(pt)[0])
        line = graph.lines[s]
        leg = float(line.distance(pt))
        if leg > max_m:
            out.append((None, leg, math.inf))
            continue
        u, v, speed = graph.segs[s]
        at = line.project(pt)
        node = (tag, k)
        for x, y, m in ((u, node, at), (node, v, line.length - at)):
            graph.g.add_edge(x, y, m=m, s=m / speed)
            graph.g.add_edge(y, x, m=m, s=m / speed)
        out.append((node, leg, leg / WALK_MS))
    return out


def nearest_cost(graph: Graph, sources: list[np.ndarray], weight: str,
                 vnodes: list[tuple[object, float, float]]) -> list[float]:
    """Cost (``m`` metres or ``s`` seconds, legs included) from the nearest source to each village."""
    local = Graph(graph.g.copy(), graph.segs, graph.lines)
    snodes = attach(local, sources, "src")
    for node, m, sec in snodes:
        if node is not None:
            local.g.add_edge("SOURCE", node, m=m, s=sec)
    dist = nx.single_source_dijkstra_path_length(local.g, "SOURCE", weight=weight)
    return [math.inf if n is None else dist.get(n, math.inf) + (m if weight == "m" else sec)
            for n, m, sec in vnodes]


def write_layers(b: Banner, out: Path) -> None:
    """Write boundaries.gpkg, villages.gpkg and facilities.gpkg (WGS84) into ``out``."""
    make = Layers(METRIC_CRS, SOURCE)
    rows = b.villages
    villages = make.villages(
        {"嘎查村代码": [str(v["code"]) for v in rows], "嘎查村名": [str(v["name"]) for v in rows],
         "常住人口": np.array([v["population"] for v in rows], dtype="int64"),
         "苏木镇": [str(v["township_name"]) for v in rows],
         "类型": ["城镇" if v["urban"] else "农村" for v in rows],
         "65岁以上": np.array([v["elderly"] for v in rows], dtype="int64"),
         "6岁以下": np.array([v["children"] for v in rows], dtype="int64")}, rows)
    write_gpkgs(out, {"boundaries": make.boundaries(BANNER, b.outline, [t[0] for t in TOWNSHIPS], b.townships),
                      "villages": villages, "facilities": make.facilities(b.facilities)}, GPKG_DATE)


@dataclass(frozen=True)
class Measures:
    """Per village (in ``Banner.villages`` order): drive seconds to the nearest township centre and
    to the nearest hospital or sub-centre, ambulance metres from the nearest base."""

    township_s: list[float]
    hospital_s: list[float]
    ems_m: list[float]
    vnodes: list[tuple[object, float, float]]
    graph: Graph


def measure(b: Banner) -> Measures:
    """Drive times and ambulance distances (networkx, legs at walking speed, 2 km snapping limit)."""
    graph = drive_graph(b.net)
    vnodes = attach(graph, [np.asarray(v["xy"]) for v in b.villages], "v")
    fac = b.facilities
    township = [np.asarray(f["xy"]) for f in fac if f["kind"] in ("中心卫生院", "苏木镇卫生院")]
    hospital = [np.asarray(f["xy"]) for f in fac
                if f["kind"] in ("county_hospital", "county_tcm_hospital", "妇幼保健院", "中心卫生院")]
    bases = [np.asarray(f["xy"]) for f in fac if f["kind"] == "急救中心" or int(f["ambulances"]) > 0]
    return Measures(nearest_cost(graph, township, "s", vnodes), nearest_cost(graph, hospital, "s", vnodes),
                    nearest_cost(graph, bases, "m", vnodes), vnodes, graph)


def scenario_texts(b: Banner, ms: Measures) -> dict[str, str]:
    """The two sample scenarios (YAML text), with choices computed on the sample's own network."""
    pops = [int(v["population"]) for v in b.villages]
    thcs = [f for f in b.facilities if f["kind"] == "苏木镇卫生院"]
    head = comment(f"{BANNER}: SYNTHETIC sample scenario (合成样例).")
    # 1. A third banner medical sub-centre (SUBCENTRE-COUNT 1-3, SUBCENTRE-CRITERIA: far from the
    #    seat, large radiated population): the 苏木镇卫生院 that brings the most residents who are now
    #    more than an hour from every hospital and sub-centre within an hour of a sub-centre.
    gains = []
    for f in thcs:
        t = nearest_cost(ms.graph, [np.asarray(f["xy"])], "s", ms.vnodes)
        gains.append((sum(p for p, h, x in zip(pops, ms.hospital_s, t) if h > BAND_S and x <= BAND_S), f))
    gains.sort(key=lambda gf: (-gf[0], str(gf[1]["fid"])))
    far = sum(p for p, h in zip(pops, ms.hospital_s) if h > BAND_S)
    best = gains[0][1]
    top = ", ".join(f"{f['name']} {g:,}" for g, f in gains[:3])
    upgrade = head + comment(
        f"Chosen by the generator: the 苏木镇卫生院 to upgrade to a third banner medical sub-centre "
        f"(SUBCENTRE-COUNT allows 1-3): the one that brings the most residents who are now more than 60 "
        f"minutes from every banner hospital and both sub-centres within 60 minutes of a sub-centre. "
        f"Driving time computed with networkx on roads.osm at the standards.md class speeds (primary 60, "
        f"secondary 50, tertiary 40, unclassified/residential 30, track 15 km/h; maxspeed where tagged), "
        f"the walk to the road at 4 km/h, points over 2 km from a road unreached. {far:,} residents are "
        f"more than 60 minutes away today; newly within 60 minutes, best three: {top}.") + f"""\
name: upgrade-third-subcentre
title: {best['name']}升级为旗域医疗次中心（合成样例）
base: ../project.yml
changes:
  - upgrade: {{fid: {best['fid']}, kind: subcentre}}
"""
    # 2. One ambulance for a 苏木镇卫生院 that has none (EMS-AMB-THC, EMS-RADIUS-RURAL 20 km).
    gains = []
    for f in (f for f in thcs if int(f["ambulances"]) == 0):
        m = nearest_cost(ms.graph, [np.asarray(f["xy"])], "m", ms.vnodes)
        gains.append((sum(p for p, e, x in zip(pops, ms.ems_m, m) if e > EMS_RURAL_M and x <= EMS_RURAL_M), f))
    gains.sort(key=lambda gf: (-gf[0], str(gf[1]["fid"])))
    beyond = sum(p for p, e in zip(pops, ms.ems_m) if e > EMS_RURAL_M)
    best = gains[0][1]
    top = ", ".join(f"{f['name']} {g:,}" for g, f in gains[:3])
    ems = head + comment(
        f"Chosen by the generator: the 苏木镇卫生院 without an ambulance (EMS-AMB-THC asks for one in "
        f"each) whose new ambulance brings the most residents within the 20 km rural ambulance radius "
        f"(network distance from the base, the walk to the road included; bases: the emergency centre "
        f"and every facility with ambulances). {beyond:,} residents live beyond 20 km of every base; "
        f"newly within 20 km, best three: {top}.") + f"""\
name: ems-sumu-ambulance
title: {best['name']}配备救护车1辆（合成样例）
base: ../project.yml
changes:
  - set: {{fid: {best['fid']}, ambulances: 1}}
"""
    return {"upgrade-third-subcentre.yml": upgrade, "ems-sumu-ambulance.yml": ems}


def readme_text(b: Banner, ms: Measures, scenarios: dict[str, str]) -> str:
    """README.md for the sample folder: sources of every modelling choice, counts, test cases."""
    vil = b.villages
    pop = sum(int(v["population"]) for v in vil)
    urban = [v for v in vil if v["urban"]]
    gacha = [v for v in vil if not v["urban"] and str(v["name"]).endswith("嘎查")]
    cun = [v for v in vil if str(v["name"]).endswith("村")]
    classes = Counter(tags["highway"] for _, tags in b.net.ways)
    length = Counter()
    for i, (_, tags) in enumerate(b.net.ways):
        length[tags["highway"]] += b.net.line(i).length / 1000.0
    kinds = Counter(str(f["kind"]) for f in b.facilities)
    clinics = {str(f["vid"]) for f in b.facilities if f["kind"] == "嘎查村卫生室"}
    rural = [v for v in vil if not v["urban"]]
    without = [v for v in rural if str(v["code"]) not in clinics]
    off = next(v for v in vil if v["off_road"])
    off_m = b.net.union().distance(Point(np.asarray(off["xy"])))
    hour = [v for v, t in zip(vil, ms.township_s) if t > BAND_S and math.isfinite(t)]
    worst = max((t, str(v["name"])) for v, t in zip(vil, ms.township_s) if math.isfinite(t))
    x0, y0, x1, y1 = b.outline.bounds
    amb = {str(f["name"]): int(f["ambulances"]) for f in b.facilities if f["kind"] == "苏木镇卫生院"}
    by_t = Counter(str(v["township_name"]) for v in vil)
    pop_t = Counter()
    for v in vil:
        pop_t[str(v["township_name"])] += int(v["population"])
    towns = "\n".join(f"| {name} | {'旗政府驻地' if role == 'seat' else '镇' if name.endswith('镇') else '苏木'} "
                      f"| {by_t[name]} | {pop_t[name]:,} | {b.townships[t].area / 1e6:,.0f} |"
                      for t, (name, _, _, role) in enumerate(TOWNSHIPS))
    return render(
        HERE / "README.md.tmpl", banner=BANNER, banner_short=BANNER_SHORT, lon=CENTRE_LONLAT[0], lat=CENTRE_LONLAT[1],
        extent_x=f"{(x1 - x0) / 1000:.0f}", extent_y=f"{(y1 - y0) / 1000:.0f}", townships=len(TOWNSHIPS),
        urban=len(urban), gacha=len(gacha), cun=len(cun), facilities=len(b.facilities), nodes=len(b.net.xy),
        ways=len(b.net.ways), scenario_files=", ".join(f"`{n}`" for n in sorted(scenarios)), residents=f"{pop:,}",
        urban_residents=f'{sum(int(v["population"]) for v in urban):,}',
        elderly=f'{sum(int(v["elderly"]) for v in vil):,}', children=f'{sum(int(v["children"]) for v in vil):,}',
        area=f"{b.outline.area / 1e6:,.0f}", crs=METRIC_CRS, density=f"{pop / (b.outline.area / 1e6):.1f}",
        kinds=", ".join(f"{k} {n}" for k, n in sorted(kinds.items())),
        ambulances=sum(int(f["ambulances"]) for f in b.facilities),
        with_amb=", ".join(n for n, a in sorted(amb.items()) if a),
        without_amb=", ".join(n for n, a in sorted(amb.items()) if not a),
        classes=", ".join(f"{k} {n} ({length[k]:,.0f} km)" for k, n in sorted(classes.items())), towns=towns,
        off_name=off["name"], off_code=off["code"], off_population=off["population"], off_township=off["township_name"],
        off_m=f"{off_m:,.0f}", hour=len(hour), worst_name=worst[1], worst_min=f"{worst[0] / 60:.0f}",
        without=len(without), planned_residents=f"{RESIDENTS:,}", seed=SEED)


def generate(out: str | Path) -> Banner:
    """Build the sample banner and write all its files into folder ``out``; returns what was built."""
    out = Path(out)
    (out / "scenarios").mkdir(parents=True, exist_ok=True)
    b = build()
    ms = measure(b)
    write_layers(b, out)
    (out / "roads.osm").write_text(osm_xml(b.net, METRIC_CRS, BANNER, MODULE), encoding="utf-8")
    (out / "project.yml").write_text(render(HERE / "project.yml.tmpl", banner=BANNER, crs=METRIC_CRS),
                                     encoding="utf-8")
    scenarios = scenario_texts(b, ms)
    for name, text in scenarios.items():
        (out / "scenarios" / name).write_text(text, encoding="utf-8")
    (out / "README.md").write_text(readme_text(b, ms, scenarios), encoding="utf-8")
    log.info("wrote %s: %d villages/communities, %d facilities, %d road nodes, %d ways", out,
             len(b.villages), len(b.facilities), len(b.net.xy), len(b.net.ways))
    return b


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m healthreach.data.samples.banner.generate [--out DIR]``."""
    command_line(generate, f"banner {BANNER}", HERE, argv)


if __name__ == "__main__":
    main()
