"""Every kind of place in the plans end to end: the farming county, the urban district (no township health
centre, no village clinic) and the pastoral banner. Each sample goes through every command — validate, run
and compare (with scenarios that empty whole tiers), optimize (mclp, lscp and pmedian) — once, and its
figures are checked against an independent computation: osmnx's graph of the same roads.osm with the
drive and walk rules of docs/roads.md written out again in tests/osm_rules.py, searched with networkx."""
from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import yaml

import osm_rules
from healthreach.commands import compare_project, optimize_project, sample_dir, validate_inputs
from healthreach.config import RunConfig, SolverOptions, settings_from_parameters
from healthreach.layers.crs import metric_xy
from healthreach.layers.project import load_project
from healthreach.layers.roads import read_project_roads
from healthreach.scenarios.scenario import load_scenario
from healthreach.scenarios.site import SitingJob, site
from healthreach.tiers import EMS_KINDS, HOSPITAL_KINDS, THC_KINDS, TIERS, normalise_kind

# Per sample: scenarios written by the test that empty whole tiers, the siting problem run through the
# `optimize` command (the other two go through its siting step), and the kind and band sited.
EMPTIED = {
    "county": {"no-county-hospital": ["H01"]},
    "district": {"no-hospital-no-ambulance": "hospital+ems"},
    "banner": {"no-township-centre": "township"},
}
SITING = {"county": ("mclp", "subcentre", 30.0, "existing:township_hc"),
          "district": ("pmedian", "township_hc", 15.0, "villages"),
          "banner": ("lscp", "ems_station", 60.0, "villages")}
CHECKED_VILLAGES = 8  # villages per sample whose times are recomputed independently


def _emptying(project, sample: str, folder: Path) -> list[Path]:
    """Scenario files removing the facilities EMPTIED names (fids, or every member of the tiers)."""
    paths = []
    facilities = project.facilities
    for name, what in EMPTIED[sample].items():
        if isinstance(what, list):
            fids = what
        else:
            kinds = {"hospital": HOSPITAL_KINDS, "ems": EMS_KINDS, "township": THC_KINDS}
            chosen = np.zeros(len(facilities), dtype=bool)
            for tier in what.split("+"):
                chosen |= facilities["kind"].isin(kinds[tier]).to_numpy()
                if tier == "ems":
                    chosen |= pd.to_numeric(facilities["ambulances"], errors="coerce").fillna(0).to_numpy() > 0
            fids = list(facilities.loc[chosen, "fid"])
        path = folder / f"{name}.yml"
        path.write_text(yaml.safe_dump({"name": name, "title": name, "base": str(project.path),
                                        "changes": [{"remove": {"fid": str(f)}} for f in fids]},
                                       allow_unicode=True), encoding="utf-8")
        paths.append(path)
    return paths


def _commands(sample: str, work: Path) -> dict:
    """The sample through validate, compare (the emptying scenarios, and for the district and the banner
    their own scenarios: the demo) and the optimize command. The county's demo and optimize command
    run in test_workflow.py and test_siting.py; here it compares the scenario closing its hospital."""
    folder = sample_dir(sample)
    project = load_project(folder / "project.yml")
    report, _ = validate_inputs(folder / "project.yml", out=work / "validate")
    own = sorted((folder / "scenarios").glob("*.yml")) if sample != "county" else []
    scenarios = own + _emptying(project, sample, work)
    out = compare_project(folder / "project.yml", scenarios, out=work / "out")
    optimized = None
    if sample != "county":
        problem, kind, band, candidates = SITING[sample]
        optimized = optimize_project(folder / "project.yml", problem=problem, kind=kind, k=2, band_min=band,
                                     candidates=candidates, out=work / "optimized")
    return {"sample": sample, "project": project, "report": report, "out": out, "optimized": optimized,
            "scenarios": [load_scenario(p).name for p in scenarios]}


@pytest.mark.parametrize("sample", sorted(EMPTIED))
def test_every_command_on_the_sample(sample: str, tmp_path: Path) -> None:
    """One analysis per sample (the tests below would otherwise repeat it on every test worker)."""
    place = _commands(sample, tmp_path)
    _validate_passes_and_names_only_real_problems(place)
    _every_village_has_a_time_or_a_reason(place)
    _emptied_tiers_compare_as_empty(place)
    if place["optimized"] is not None:
        _optimize_command_writes_a_scenario_that_compares(place)
    _every_siting_problem(place)
    _times_match_an_independent_osmnx_computation(place)


def _villages(out: Path, scenario: str | None = None) -> gpd.GeoDataFrame:
    path = out / (f"scenario_{scenario}/villages.gpkg" if scenario else "villages.gpkg")
    return gpd.read_file(path, layer="villages")


def _validate_passes_and_names_only_real_problems(place: dict) -> None:
    report = place["report"]
    assert not (report["severity"] == "error").any()
    if place["sample"] == "banner":  # the off-road 嘎查, 2.5-4 km from every road
        far = report[report["problem"].str.contains("beyond max_snap_m")]
        assert far["id"].nunique() == 1


def _every_village_has_a_time_or_a_reason(place: dict) -> None:
    villages = _villages(place["out"])
    assert len(villages) == len(place["project"].villages)
    for tier in ("hospital", "ems"):
        unreached = villages[f"{tier}_time_s"].isna()
        assert (villages.loc[unreached, "note"].fillna("") != "").all(), tier
    if place["sample"] == "district":
        # No township health centre and no village clinic: empty times, not a failure.
        assert villages["township_time_s"].isna().all() and villages["village_time_s"].isna().all()
        trap = villages.set_index("vid").loc["140599002001"]  # beside the parking island
        assert np.isfinite(trap["hospital_time_s"]) and trap["access_m"] == pytest.approx(231.6, abs=0.5)
        qa = pd.read_csv(place["out"] / "network_qa.csv", dtype={"id": str})
        join = qa[(qa["check"] == "island_join") & (qa["id"] == "140599002001")]
        assert list(join["mode"]) == ["walk"]  # the aisles are closed to cars, walked by everyone
        assert "33 m away, lies on a road island of 2 junctions" in join["message"].iat[0]


def _emptied_tiers_compare_as_empty(place: dict) -> None:
    out, sample = place["out"], place["sample"]
    name = next(iter(EMPTIED[sample]))
    after = _villages(out, name)
    compare = pd.read_csv(out / "compare.csv")
    mine = compare[(compare["scenario"] == name) & (compare["scope"] == "county")]
    if sample == "district":
        assert after["hospital_time_s"].isna().all() and after["ems_time_s"].isna().all()
        # Every service the hospitals offered is gone too: compared as unreachable, not refused.
        gone = mine[mine["tier"].isin(["hospital", "ems", "stroke", "chest_pain", "trauma"])]
        assert set(gone["tier"]) == {"hospital", "ems", "stroke", "chest_pain", "trauma"}
        assert (gone["pop_after"] == 0).all() and (gone.groupby("tier")["pop_before"].max() > 0).all()
    elif sample == "banner":
        assert after["township_time_s"].isna().all() and after["subcentre_time_s"].isna().all()
        assert (mine.loc[mine["tier"] == "township", "pop_after"] == 0).all()
    else:
        # H01 had the only trauma centre: the scenario measures no trauma at all, compared as unreachable.
        assert "trauma_time_s" not in after
        trauma = mine[mine["tier"] == "trauma"]
        assert len(trauma) and (trauma["pop_after"] == 0).all() and (trauma["pop_before"] > 0).any()
        before = _villages(out).set_index("vid")["hospital_time_s"]
        later = after.set_index("vid")["hospital_time_s"]
        both = before.notna() & later.notna()
        assert (later.notna() == before.notna()).all()  # the other hospitals still reach whom H01 reached
        assert (later[both] >= before[both] - 1e-6).all() and (later[both] > before[both] + 1).any()
    summary = pd.read_excel(out / "summary.xlsx", sheet_name=None)
    assert any(sheet.startswith("scenario ") for sheet in summary)
    for scenario in place["scenarios"]:
        assert (out / f"scenario_{scenario}.html").is_file()


def _optimize_command_writes_a_scenario_that_compares(place: dict) -> None:
    out = place["optimized"]
    table = pd.read_csv(out / "optimize.csv", encoding="utf-8-sig")
    problem, kind, _, _ = SITING[place["sample"]]
    assert set(table["problem"]) == {problem} and set(table["status"]) <= {"optimal", "within_gap"}
    scenario = load_scenario(out / "optimized.yml")
    assert scenario.changes and all(normalise_kind(c.kind) == kind for c in scenario.changes)
    assert (out / "compare.csv").is_file() and (out / f"scenario_{scenario.name}.html").is_file()
    if place["sample"] == "district":
        # No township health centre existed: two new ones, and every community now reaches one.
        after = _villages(out, scenario.name)
        assert len(scenario.changes) == 2 and after["township_time_s"].notna().all()


def _every_siting_problem(place: dict) -> None:
    """The problems the optimize command did not run, through its siting step (same code, no maps)."""
    project = place["project"]
    done, kind, band, candidates = SITING[place["sample"]]
    done = done if place["optimized"] is not None else ""
    settings = settings_from_parameters(project.parameters)
    config = RunConfig(settings=settings, solver=SolverOptions(time_limit_s=30.0, mip_gap=0.01))
    edges = read_project_roads(project)
    for problem in sorted({"mclp", "lscp", "pmedian"} - {done}):
        job = SitingJob(problem=problem, kind=kind, k=None if problem == "lscp" else 2, band_min=band,
                        candidates=candidates)
        changes, table = site(project, edges, config, job)
        assert changes and set(table["problem"]) == {problem}, problem
        assert (table["gap"] <= 0.01 + 1e-9).all() and set(table["status"]) <= {"optimal", "within_gap"}
        assert (table["not_served_persons"] >= 0).all()


def _drive_and_walk(project):
    raw = osm_rules.read_graph(project.roads.path)
    return raw, osm_rules.drive_graph(raw), osm_rules.walk_graph(raw)


def _times_match_an_independent_osmnx_computation(place: dict) -> None:
    """Door-to-door seconds to the nearest hospital (driving) — and in the district to the nearest
    community health facility (walking) — for a few villages, recomputed on osmnx's graph."""
    project, out = place["project"], place["out"]
    villages = _villages(out).set_index("vid")
    raw, drive, walk = _drive_and_walk(project)
    crs = project.crs
    rng = np.random.default_rng(13)
    vids = list(project.villages["vid"].astype(str))
    picked = sorted(rng.choice(len(vids), size=CHECKED_VILLAGES, replace=False).tolist())
    if place["sample"] == "district":
        picked.append(vids.index("140599002001"))
    if place["sample"] == "banner":
        far = project.villages["vid"].astype(str).isin(villages.index[villages["access_m"].isna()])
        picked += np.flatnonzero(far.to_numpy()).tolist()  # the off-road 嘎查: unreachable both ways
    v_xy = metric_xy(project.villages.iloc[picked], crs)
    facilities = project.facilities
    checks = [("hospital", drive, TIERS["hospital"].kinds)]
    if place["sample"] == "district":
        checks.append(("community", walk, TIERS["community"].kinds))
    for tier, graph, kinds in checks:
        members = facilities["kind"].isin(kinds).to_numpy()
        f_xy = metric_xy(facilities[members], crs)
        expected = osm_rules.door_to_door(raw, graph, crs, [tuple(p) for p in v_xy], [tuple(p) for p in f_xy])
        ours = villages.loc[[vids[i] for i in picked], f"{tier}_time_s"].to_numpy(dtype=float)
        assert np.isfinite(expected).sum() >= CHECKED_VILLAGES - 1, tier
        np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(expected))
        np.testing.assert_allclose(ours[np.isfinite(ours)], np.asarray(expected)[np.isfinite(expected)],
                                   rtol=1e-4, atol=0.1)
