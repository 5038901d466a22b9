"""End to end on the embedded sample county: the demo's outputs, cross-checked independently."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import osmnx as ox
import pandas as pd
import pyogrio
import pyproj
import pytest
import shapely
from chromium import open_page
from playwright.sync_api import Browser

from healthreach.coverage.network import build_network
from healthreach.layers.roads import parse_maxspeed, read_roads
from healthreach.config import Settings
from healthreach.rules import CLASS_SPEEDS_KMH, base_class
from healthreach.coverage.traveltime import nearest
from healthreach.layers.project import load_project
from healthreach.commands import run_demo, sample_dir

SAMPLE_DIR = sample_dir("county")

DESIGN_FILES = ["coverage_map.html", "villages.gpkg", "catchments.gpkg", "facilities.gpkg", "standards.csv",
                "summary.xlsx", "run.json", "compare.csv", "shp/villages.shp", "shp/villages.cpg",
                "shp/villages.prj", "shp/catchments.shp"]
TIERS = ["hospital", "subcentre", "township", "community", "village", "ems"]


def _tree_hashes(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    before = _tree_hashes(SAMPLE_DIR)
    out = run_demo(out=tmp_path_factory.mktemp("demo") / "out")
    assert _tree_hashes(SAMPLE_DIR) == before  # inputs are never modified
    return out


@pytest.fixture(scope="module")
def project():
    return load_project(SAMPLE_DIR / "project.yml")


def test_demo_writes_every_design_file(demo: Path):
    for name in DESIGN_FILES:
        assert (demo / name).is_file(), name
    for scenario in ("upgrade-remote-subcentre", "ems-farthest-township"):
        assert (demo / f"scenario_{scenario}.html").is_file()
        assert (demo / f"scenario_{scenario}" / "villages.gpkg").is_file()
    assert not list(demo.rglob("*.tmp*")) and not [p for p in demo.rglob(".*") if p.is_file()]


def test_every_village_kept_with_times_or_a_reason(demo: Path, project):
    villages = gpd.read_file(demo / "villages.gpkg", layer="villages")
    assert len(villages) == len(project.villages)
    assert set(villages["vid"]) == set(project.villages["vid"])
    for tier in TIERS:
        for col in (f"{tier}_fid", f"{tier}_time_s", f"{tier}_dist_m"):
            assert col in villages
        times = villages[f"{tier}_time_s"]
        assert (times.dropna() > 0).all()  # never 0 or a sentinel
    hamlet = villages[villages["access_m"].isna()]
    assert len(hamlet) == 1  # the synthetic hamlet more than 3 km from any road
    assert hamlet["township_time_s"].isna().all()
    assert "no road within" in hamlet["note"].iat[0]
    # Network distance is never shorter than the straight line between the same two points.
    for tier in ("hospital", "township", "ems"):
        ok = villages[f"{tier}_dist_m"].notna()
        assert (villages.loc[ok, f"{tier}_dist_m"] >= villages.loc[ok, f"{tier}_line_m"] - 1.0).all()


def test_exports_read_back_with_chinese_text(demo: Path, project):
    gpkg = gpd.read_file(demo / "villages.gpkg", layer="villages")
    shp = pyogrio.read_dataframe(demo / "shp" / "villages.shp")
    assert (demo / "shp" / "villages.cpg").read_text().strip().upper().replace("-", "") == "UTF8"
    assert list(shp["name"]) == list(gpkg["name"])
    assert any("村" in n for n in shp["name"])
    assert all(len(c.encode()) <= 10 for c in shp.columns)
    fields = pd.read_csv(demo / "shp" / "villages_fields.csv", encoding="utf-8-sig")
    assert set(fields["full_name"]) >= {"township_time_s", "ems_radius_m"}
    short = dict(zip(fields["full_name"], fields["short_name"]))
    np.testing.assert_allclose(shp[short["township_time_s"]].to_numpy(dtype=float),
                               gpkg["township_time_s"].to_numpy(dtype=float), equal_nan=True)
    facilities = gpd.read_file(demo / "facilities.gpkg")
    assert facilities["fid"].is_unique and facilities["name"].str.endswith("卫生院").sum() >= 7


def test_run_json_records_input_hashes(demo: Path):
    run = json.loads((demo / "run.json").read_text(encoding="utf-8"))
    for role, entry in run["inputs"].items():
        assert entry["sha256"] == hashlib.sha256(Path(entry["path"]).read_bytes()).hexdigest(), role
    assert run["synthetic_sample"] is True
    assert {"read_roads", "build_networks", "catchments"} <= set(run["timings_s"])
    assert run["versions"]["scipy"]


def test_standards_rows_cite_sources(demo: Path):
    table = pd.read_csv(demo / "standards.csv", encoding="utf-8-sig")
    required = {"EMS-RADIUS-URBAN", "EMS-RADIUS-RURAL", "EMS-RADIUS-RURAL-10KM", "URBAN-15MIN", "MED-15MIN-SHARE",
                "VC-PER-VILLAGE", "VC-EXEMPT", "VD-PER-POP", "EMS-AMB-POP", "EMS-AMB-THC", "THC-PER-TOWNSHIP",
                "BEDS-COUNTY"}
    assert required <= set(table["rule_id"])
    assert table["source"].notna().all() and (table["source"].str.len() > 5).all()
    # The sample has larger villages without a clinic: VC-PER-VILLAGE must fail for them.
    failing = table[(table["rule_id"] == "VC-PER-VILLAGE") & (table["scope"] == "village")
                    & (table["status"] == "not_met")]
    assert len(failing) >= 3


def test_radius_rule_recomputed_from_village_table(demo: Path):
    villages = gpd.read_file(demo / "villages.gpkg", layer="villages")
    table = pd.read_csv(demo / "standards.csv", encoding="utf-8-sig", dtype={"scope_id": str})
    rows = table[(table["rule_id"] == "EMS-RADIUS-RURAL") & (table["scope"] == "village")]
    radius = villages.set_index("vid")["ems_radius_m"]
    expected = radius.reindex(rows["scope_id"]).le(20000).to_numpy()
    assert list(rows["passed"]) == list(expected)
    rural = villages[villages["setting"] == "rural"]
    within = rural.loc[rural["ems_radius_m"] <= 20000, "population"].sum() / rural["population"].sum()
    county = table[(table["rule_id"] == "EMS-RADIUS-RURAL") & (table["scope"] == "county")]
    assert county["value"].iat[0] == pytest.approx(within, abs=1e-4)


def test_scenarios_change_only_what_they_should(demo: Path):
    base = gpd.read_file(demo / "villages.gpkg", layer="villages").set_index("vid")
    up = gpd.read_file(demo / "scenario_upgrade-remote-subcentre" / "villages.gpkg").set_index("vid")
    ems = gpd.read_file(demo / "scenario_ems-farthest-township" / "villages.gpkg").set_index("vid")
    # Upgrading a township centre to a sub-centre creates the sub-centre tier and changes no other tier.
    assert base["subcentre_time_s"].isna().all() and up["subcentre_time_s"].notna().sum() > 100
    for tier in ("hospital", "township", "community", "village", "ems"):
        pd.testing.assert_series_equal(base[f"{tier}_time_s"], up[f"{tier}_time_s"])
    # A new ambulance station never lengthens an ambulance time and helps somebody.
    b, a = base["ems_time_s"], ems["ems_time_s"]
    both = b.notna() & a.notna()
    assert (a[both] <= b[both] + 1e-6).all() and (a[both] < b[both] - 1).any()
    pd.testing.assert_series_equal(base["township_time_s"], ems["township_time_s"])
    compare = pd.read_csv(demo / "compare.csv", encoding="utf-8-sig")
    gain = compare[(compare["scenario"] == "ems-farthest-township") & (compare["scope"] == "county")
                   & (compare["tier"] == "ems")]
    assert (gain["pop_gain"] >= 0).all() and gain["pop_gain"].sum() > 0


def test_catchments_grow_with_the_band(demo: Path):
    catch = gpd.read_file(demo / "catchments.gpkg", layer="catchments").to_crs("EPSG:4546")
    for fid, group in catch.groupby("fid"):
        group = group.sort_values("band_min")
        assert list(group["band_min"]) == [15, 30, 45, 60]
        assert group["population"].is_monotonic_increasing
        geoms = list(group.geometry)
        for small, large in zip(geoms, geoms[1:]):
            assert large.buffer(1.0).contains(small), fid


def test_sample_times_match_networkx_on_an_independent_parse(project):
    """Our edge table + CSR + scipy against osmnx's raw graph + networkx Dijkstra on the same file."""
    edges = read_roads(project.roads.path)
    net = build_network(edges, "drive", Settings(), project.crs, np.zeros((0, 2)))
    raw = ox.graph_from_xml(project.roads.path, bidirectional=False, simplify=False, retain_all=True)
    geod = pyproj.Geod(ellps="WGS84")  # lengths on the ellipsoid, as the reader measures them
    graph = nx.MultiDiGraph()
    for u, v, data in raw.edges(data=True):
        cls = base_class(str(data.get("highway")))
        if cls not in CLASS_SPEEDS_KMH:
            continue
        speed = parse_maxspeed(data.get("maxspeed"))
        speed = speed if np.isfinite(speed) else CLASS_SPEEDS_KMH[cls]
        length = geod.inv(raw.nodes[u]["x"], raw.nodes[u]["y"], raw.nodes[v]["x"], raw.nodes[v]["y"])[2]
        graph.add_edge(u, v, tt=length / speed * 3.6)
    rng = np.random.default_rng(7)
    junctions = net.node_id[net.node_id >= 0]
    sources = rng.choice(junctions, 5, replace=False)
    reference = nx.multi_source_dijkstra_path_length(graph.reverse(copy=True), set(sources), weight="tt")
    index = {int(i): n for n, i in enumerate(net.node_id) if i >= 0}
    ours = nearest(net, np.array([index[int(s)] for s in sources])).cost
    compared = 0
    for osm_id, node in index.items():
        if osm_id in reference:
            assert ours[node] == pytest.approx(reference[osm_id], rel=1e-6, abs=1e-6)
            compared += 1
        else:
            assert not np.isfinite(ours[node])
    assert compared > 200


def test_cli_exit_codes_and_readable_errors(tmp_path: Path):
    cli = [sys.executable, "-m", "healthreach.cli"]
    missing = subprocess.run([*cli, "run", str(tmp_path / "nope.yml")], capture_output=True, text=True)
    assert missing.returncode == 1 and "Traceback" not in missing.stderr and "nope.yml" in missing.stderr
    usage = subprocess.run([*cli, "run"], capture_output=True, text=True)
    assert usage.returncode == 2
    bad_lang = subprocess.run([*cli, "demo", "--lang", "fr"], capture_output=True, text=True)
    assert bad_lang.returncode == 2 and "Traceback" not in bad_lang.stderr


def test_out_folder_may_not_replace_an_input(tmp_path: Path):
    # A project whose villages file is called villages.gpkg, with --out set to the project's folder.
    for name in ("project.yml", "roads.osm", "facilities.gpkg", "villages.gpkg", "boundaries.gpkg"):
        (tmp_path / name).write_bytes((SAMPLE_DIR / name).read_bytes())
    before = _tree_hashes(tmp_path)
    result = subprocess.run([sys.executable, "-m", "healthreach.cli", "run", str(tmp_path / "project.yml"),
                             "--out", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 2 and "would replace the input" in result.stderr
    assert _tree_hashes(tmp_path) == before


def test_demo_map_in_a_browser_offline(demo: Path, browser: Browser):
    villages = gpd.read_file(demo / "villages.gpkg", layer="villages")
    opened = open_page(browser, demo / "coverage_map.html", "typeof L === 'object'")
    page = opened.page
    assert opened.external == []
    layers = page.locator(".leaflet-control-layers-overlays label").all_inner_texts()
    assert any("村" in t or "乡镇" in t for t in layers) and len(layers) >= 5
    # Open the popup of the most populous village through Leaflet and read its figures.
    top = villages.sort_values("population").iloc[-1]
    text = page.evaluate(
        """([lat, lon]) => { let found = null;
             window.__hr_maps = Object.values(window).filter(v => v instanceof L.Map);
             for (const m of window.__hr_maps) m.eachLayer(l => {
               if (!found && l.getLatLng && l.getPopup && l.getPopup()) {
                 const ll = l.getLatLng();
                 if (Math.abs(ll.lat - lat) < 1e-5 && Math.abs(ll.lng - lon) < 1e-5) { l.openPopup(); found = l; }
               } });
             const el = document.querySelector('.leaflet-popup-content');
             return el ? el.innerText : null; }""",
        [float(top.geometry.y), float(top.geometry.x)],
    )
    page.close()
    assert text is not None and str(top["name"]) in text
    assert f"{int(top['population'])}" in text.replace(",", "")
    assert f"{top['township_time_s'] / 60:.1f}" in text


def test_catchment_polygons_hold_their_villages(demo: Path):
    catch = gpd.read_file(demo / "catchments.gpkg", layer="catchments").to_crs("EPSG:4546")
    villages = gpd.read_file(demo / "villages.gpkg", layer="villages").to_crs("EPSG:4546")
    row = catch[(catch["fid"] == "THC01") & (catch["band_min"] == 30)].iloc[0]
    reached = villages[(villages["township_fid"] == "THC01") & (villages["township_time_s"] <= 1800)]
    assert len(reached) > 0
    poly = row.geometry.buffer(1.0)
    assert all(poly.contains(shapely.Point(g.x, g.y)) for g in reached.geometry)


def test_catchment_layers_written_beside_the_disks(demo: Path):
    names = [name for name, _ in pyogrio.list_layers(demo / "catchments.gpkg")]
    assert {"catchments", "rings", "dissolved", "allocation", "ems_radius", "walk_15min"} <= set(names)
    radius = gpd.read_file(demo / "catchments.gpkg", layer="ems_radius")
    assert set(radius["radius_m"]) <= {5000.0, 10000.0, 20000.0} and len(radius) > 0
    alloc = gpd.read_file(demo / "catchments.gpkg", layer="allocation")
    villages = gpd.read_file(demo / "villages.gpkg", layer="villages")
    within = villages[villages["township_time_s"] <= 3600]
    assert alloc.set_index("fid")["villages"].sum() == len(within)


def test_validate_reports_network_problems_with_row_numbers(tmp_path: Path):
    from healthreach.commands import validate_inputs

    report, path = validate_inputs(SAMPLE_DIR / "project.yml", out=tmp_path)
    assert path == tmp_path / "validation.csv" and path.read_bytes().startswith(b"\xef\xbb\xbf")
    hamlet = report[(report["field"] == "geometry") & report["problem"].str.contains("not joined")]
    assert len(hamlet) == 1 and hamlet["severity"].iat[0] == "warning"
    villages = gpd.read_file(SAMPLE_DIR / "villages.gpkg")
    row = int(hamlet["row"].iat[0])
    assert str(villages["村代码"].iat[row - 1]) == hamlet["id"].iat[0]  # row numbers are 1-based data rows
    assert not (report["severity"] == "error").any()
    result = subprocess.run([sys.executable, "-m", "healthreach.cli", "validate", str(SAMPLE_DIR / "project.yml"),
                             "--out", str(tmp_path / "cli")], capture_output=True, text=True)
    assert result.returncode == 0 and (tmp_path / "cli" / "validation.csv").is_file()


def test_removing_a_facility_never_shortens_a_time(project, tmp_path: Path):
    from healthreach.commands.api import analyze
    from healthreach.scenarios.apply import apply_to_project
    from healthreach.scenarios.scenario import load_scenario

    scenario = tmp_path / "close.yml"
    scenario.write_text("name: close-thc02\nchanges:\n  - remove: {fid: THC02}\n  - remove: {fid: VC010}\n",
                        encoding="utf-8")
    edges = read_roads(project.roads.path)
    before = analyze(project, edges=edges).villages.set_index("vid")
    after = analyze(apply_to_project(project, load_scenario(scenario)), edges=edges).villages.set_index("vid")
    for tier in TIERS:
        b, a = before[f"{tier}_time_s"], after[f"{tier}_time_s"]
        both = b.notna() & a.notna()
        assert (a[both] >= b[both] - 1e-6).all(), tier
        assert not (a.notna() & b.isna()).any(), tier  # nothing becomes reachable by closing a site
    assert (after["township_fid"] != "THC02").all()
    assert (after["township_time_s"] > before["township_time_s"] + 1).any()


def test_python_api_matches_the_command_line(demo: Path, tmp_path: Path):
    import healthreach as hr

    project = hr.load_project(SAMPLE_DIR / "project.yml")
    baseline, outcomes = hr.compare(project, [hr.load_scenario(SAMPLE_DIR / "scenarios" / "upgrade-remote-subcentre.yml")])
    table = outcomes[0].table
    written = pd.read_csv(demo / "compare.csv", encoding="utf-8-sig")
    written = written[written["scenario"] == "upgrade-remote-subcentre"].reset_index(drop=True)
    np.testing.assert_allclose(table["pop_after"].to_numpy(dtype=float), written["pop_after"].to_numpy(dtype=float))
    out = hr.write_outputs(baseline, tmp_path / "api")
    assert (out / "coverage_map.html").is_file() and (out / "villages.gpkg").is_file()
    with pytest.raises(AttributeError):
        hr.no_such_function  # noqa: B018


def test_split_catchments_on_the_sample_count_what_the_overlapping_ones_do(project, demo: Path, tmp_path: Path):
    from dataclasses import replace

    from healthreach.commands.api import analyze
    from healthreach.config import RunConfig, settings_from_parameters
    from healthreach.maps.outputs import write_outputs

    settings = replace(settings_from_parameters(project.parameters), catchment_type="split")
    config = RunConfig(settings=settings)
    result = analyze(project, edges=read_roads(project.roads.path), config=config)
    assert result.provenance["catchments"] == "split"
    overlap = gpd.read_file(demo / "catchments.gpkg", layer="catchments")
    assert json.loads((demo / "run.json").read_text(encoding="utf-8"))["catchments"] == "overlap"
    split = result.catchments
    assert list(zip(split["fid"], split["band_min"])) == list(zip(overlap["fid"], overlap["band_min"]))
    for (tier, band), rows in split.groupby(["tier", "band_min"]):
        times = result.villages[f"{tier}_time_s"].to_numpy(dtype=float)
        # Split areas count each village within the band once; overlapping ones may count it many times.
        assert rows["villages"].sum() == int((times <= band * 60 + 1e-6).sum())
        same = overlap[(overlap["tier"] == tier) & (overlap["band_min"] == band)]
        assert rows["villages"].sum() <= same["villages"].sum()
        metric = rows.to_crs(project.crs).geometry.dropna()
        assert metric.area.sum() == pytest.approx(shapely.union_all(metric.to_numpy()).area, rel=1e-9)
    alloc = result.layers["allocation"]
    top = split[(split["tier"] == "township") & (split["band_min"] == max(settings.bands_min))]
    assert list(alloc["fid"]) == list(top["fid"]) and list(alloc["population"]) == list(top["population"])
    out = write_outputs(result, tmp_path / "split", config)
    assert len(gpd.read_file(out / "catchments.gpkg", layer="allocation")) == len(alloc)


def test_scenarios_draw_catchments_as_the_baseline_did(project):
    from healthreach.commands.api import compare
    from healthreach.scenarios.scenario import load_scenario

    scenario = load_scenario(SAMPLE_DIR / "scenarios" / "ems-farthest-township.yml")
    baseline, (outcome,) = compare(project, [scenario])
    assert baseline.provenance["catchments"] in ("overlap", "split")
    assert outcome.result.provenance["catchments"] == baseline.provenance["catchments"]
    assert outcome.result.provenance["settings"] == baseline.provenance["settings"]
