"""Generate the embedded synthetic sample county 黄梁县（合成样例） deterministically.

``python -m healthreach.data.samples.county.generate [--out DIR]`` writes, by default into this folder:
``boundaries.gpkg``, ``villages.gpkg``, ``facilities.gpkg``, ``roads.osm``, ``project.yml``,
``scenarios/*.yml`` and ``README.md`` (from ``README.md.tmpl`` and ``project.yml.tmpl``), built by
``place``; the scenarios are chosen by driving times computed here with networkx on the roads. The
same code always writes the same bytes.
"""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import shapely
from pyproj import Transformer

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
from healthreach.data.samples.county.place import (
    CLASS_SPEED_KMH,
    COUNTY,
    GPKG_DATE,
    HERE,
    METRIC_CRS,
    MODULE,
    SEED,
    SOURCE,
    TOWNSHIPS,
    County,
    build,
)

log = logging.getLogger(__name__)


def drive_times(net: Network, source: int) -> dict[int, float]:
    """Driving time (seconds) from node ``source`` to every reachable node, at class speeds or maxspeed."""
    g = nx.DiGraph()
    for nodes, tags in net.ways:
        if tags["highway"] not in CLASS_SPEED_KMH:
            continue
        speed = float(tags.get("maxspeed", CLASS_SPEED_KMH[tags["highway"]])) / 3.6
        xy = net.coords(nodes)
        for (u, v), seg in zip(zip(nodes[:-1], nodes[1:]), np.hypot(*np.diff(xy, axis=0).T)):
            pairs = [(u, v)] if tags.get("oneway") == "yes" else [(u, v), (v, u)]
            for a, b in pairs:
                if not g.has_edge(a, b) or g[a][b]["time"] > seg / speed:
                    g.add_edge(a, b, time=float(seg / speed))
    return nx.single_source_dijkstra_path_length(g, source, weight="time")


def write_layers(county: County, out: Path) -> None:
    """Write boundaries.gpkg, villages.gpkg and facilities.gpkg (WGS84) into ``out``."""
    make = Layers(METRIC_CRS, SOURCE)
    rows = sorted(county.villages, key=lambda v: str(v["code"]))
    villages = make.villages(
        {"村代码": [str(v["code"]) for v in rows], "村名": [str(v["name"]) for v in rows],
         "常住人口": np.array([v["population"] for v in rows], dtype="int64"),
         "乡镇": [str(v["township"]) for v in rows], "类型": ["城镇" if v["urban"] else "农村" for v in rows],
         "65岁以上": np.array([v["elderly"] for v in rows], dtype="int64"),
         "6岁以下": np.array([v["children"] for v in rows], dtype="int64")}, rows)
    write_gpkgs(out, {"boundaries": make.boundaries(COUNTY, county.county, [n for n, _, _ in TOWNSHIPS], county.townships),
                      "villages": villages, "facilities": make.facilities(county.facilities)}, GPKG_DATE)


HOW_TIMED = ("driving time computed by the generator with networkx on roads.osm at the standards.md "
             "class speeds (primary 60, secondary 50, tertiary 40, unclassified/residential 30, "
             "track 15 km/h; maxspeed where tagged)")


def _slowest(minutes: dict[str, float]) -> str:
    top = sorted(minutes.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    return ", ".join(f"{n} {m:.1f} min" for n, m in top)


def scenario_texts(county: County) -> dict[str, str]:
    """The two sample scenarios (YAML text), chosen by driving time (minutes) on the sample roads."""
    names = [n for n, _, _ in TOWNSHIPS]
    net = county.net
    from_seat = drive_times(net, county.seat_nodes[0])
    seat_min = {names[t]: from_seat[county.seat_nodes[t]] / 60 for t in range(1, len(names))}
    remote = max(seat_min, key=lambda n: (seat_min[n], n))
    thc = next(f for f in county.facilities if f["kind"] == "乡镇卫生院" and f["township"] == remote)
    drivable = sorted({n for nodes, tags in net.ways if tags["highway"] in CLASS_SPEED_KMH
                       for n in nodes})
    # The planner's question: which township seat is farthest from every existing ambulance base?
    bases = [f for f in county.facilities if int(f["ambulances"]) > 0]
    ems_min = {names[t]: float("inf") for t in range(1, len(names))}
    for base in bases:
        node = drivable[int(np.argmin(np.hypot(*(net.coords(drivable) - base["xy"]).T)))]
        times = drive_times(net, node)
        for t in range(1, len(names)):
            ems_min[names[t]] = min(ems_min[names[t]], times.get(county.seat_nodes[t], float("inf")) / 60)
    far = max(ems_min, key=lambda n: (ems_min[n], n))
    site = settle(county.seats[names.index(far)] + np.array([60.0, -45.0]),
                  shapely.union_all(net.lines()), np.random.default_rng(SEED + 1), lo=15.0, hi=180.0)
    lon, lat = Transformer.from_crs(METRIC_CRS, "EPSG:4326", always_xy=True).transform(*site)
    head = comment(f"{COUNTY}: SYNTHETIC sample scenario (合成样例).")
    upgrade = head + comment(
        f"Chosen by the generator: the township health centre of the township whose seat has the "
        f"longest {HOW_TIMED}, from the county seat centre. Longest: {_slowest(seat_min)}.") + f"""\
name: upgrade-remote-subcentre
title: {thc['name']}升级为县域医疗次中心（合成样例）
base: ../project.yml
changes:
  - upgrade: {{fid: {thc['fid']}, kind: subcentre}}
"""
    station = head + comment(
        f"Chosen by the generator: the township seat farthest by {HOW_TIMED} from its nearest "
        f"ambulance base (the emergency centre and every facility with ambulances). Farthest: "
        f"{_slowest(ems_min)}. The station stands beside the road in that seat.") + f"""\
name: ems-farthest-township
title: {far}新建急救分站（1辆救护车，合成样例）
base: ../project.yml
changes:
  - add: {{fid: EMS02, name: {far}急救分站, kind: ems_station, ambulances: 1,
          lon: {lon:.6f}, lat: {lat:.6f}, crs: wgs84}}
"""
    return {"upgrade-remote-subcentre.yml": upgrade, "ems-farthest-township.yml": station}


def readme_text(county: County) -> str:
    """README.md for the sample folder, with summary counts."""
    vil = county.villages
    urban = [v for v in vil if v["urban"]]
    classes = Counter(tags["highway"] for _, tags in county.net.ways)
    kinds = Counter(str(f["kind"]) for f in county.facilities)
    return render(HERE / "README.md.tmpl", county=COUNTY, townships=len(county.townships), urban=len(urban),
                  rural=len(vil) - len(urban), facilities=len(county.facilities), nodes=len(county.net.xy),
                  ways=len(county.net.ways), residents=f"{sum(int(v['population']) for v in vil):,}",
                  urban_residents=f"{sum(int(v['population']) for v in urban):,}",
                  area=f"{county.county.area / 1e6:,.0f}", kinds=", ".join(f"{k} {n}" for k, n in sorted(kinds.items())),
                  classes=", ".join(f"{k} {n}" for k, n in sorted(classes.items())), seed=SEED)


def generate(out: str | Path) -> County:
    """Build the sample county and write all its files into folder ``out``; returns what was built."""
    out = Path(out)
    (out / "scenarios").mkdir(parents=True, exist_ok=True)
    county = build()
    write_layers(county, out)
    (out / "roads.osm").write_text(osm_xml(county.net, METRIC_CRS, COUNTY, MODULE), encoding="utf-8")
    (out / "project.yml").write_text(render(HERE / "project.yml.tmpl", county=COUNTY, crs=METRIC_CRS),
                                     encoding="utf-8")
    for name, text in scenario_texts(county).items():
        (out / "scenarios" / name).write_text(text, encoding="utf-8")
    (out / "README.md").write_text(readme_text(county), encoding="utf-8")
    log.info("wrote %s: %d villages/communities, %d facilities, %d road nodes", out,
             len(county.villages), len(county.facilities), len(county.net.xy))
    return county


def main(argv: list[str] | None = None) -> None:
    """Command line: ``python -m healthreach.data.samples.county.generate [--out DIR]``."""
    command_line(generate, f"county {COUNTY}", HERE, argv)


if __name__ == "__main__":
    main()
