"""Hostile output folders: an output never replaces an input, and a folder that cannot hold a run is
refused before the analysis starts."""
from __future__ import annotations

import fcntl
import os
import shutil
import time
from pathlib import Path

import pytest
from conftest import Hostile
from hostile_cli import digest

SCENARIO = "scenarios/upgrade-remote-subcentre.yml"


def _sample_scenario(case: Hostile) -> str:
    text = (case.sample / SCENARIO).read_text(encoding="utf-8")
    case.write(SCENARIO, text)
    return SCENARIO


def test_out_is_a_file(case: Hostile) -> None:
    """It failed with a traceback after the whole analysis."""
    case.project()
    case.write("afile", "notes")
    case.expect("run", "project.yml", code=2, says=("--out afile", "is a file (expected a folder"), out="afile")


def test_out_below_a_file(case: Hostile) -> None:
    case.project()
    case.write("afile", "notes")
    case.expect("run", "project.yml", code=2, says=("a part of", "is a file (expected folders)"), out="afile/sub")


def test_out_where_nothing_may_be_written(case: Hostile) -> None:
    case.project()
    result = case.run("run", "project.yml", out="/proc/self/healthreach-out")
    assert result.returncode == 2 and "Traceback" not in result.text, result.text
    assert "expected a folder this user can write" in result.text and "reading roads" not in result.text


def test_read_only_folder(case: Hostile) -> None:
    """Refused at once for a user who cannot write it (root can, and then validate simply succeeds)."""
    case.project()
    locked = case.root / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        writable = os.access(locked, os.W_OK)
        result = case.run("validate", "project.yml", out="ro/out")
    finally:
        locked.chmod(0o755)
    assert "Traceback" not in result.text, result.text
    if writable:
        assert result.returncode == 0 and (locked / "out" / "validation.csv").is_file(), result.text
    else:
        assert result.returncode == 2 and "is read-only (expected a folder this user can write)" in result.text
        assert not (locked / "out").exists()


def test_out_is_the_project_folder(case: Hostile) -> None:
    case.project()
    case.expect("run", "project.yml", code=2, says=("would replace the input", "project.yml"), out=".")


def test_out_is_the_parent_of_the_project_folder(case: Hostile) -> None:
    (case.root / "county").mkdir()
    case.project(name="county/project.yml")
    case.expect("run", "county/project.yml", code=2, says=("would replace the input", "county/project.yml"),
                out=".")


def test_out_is_a_link_to_the_project_folder(case: Hostile) -> None:
    (case.root / "county").mkdir()
    case.project(name="county/project.yml")
    (case.root / "link").symlink_to(case.root / "county")
    case.expect("run", "county/project.yml", code=2, says=("would replace the input",), out="link")


def test_root_folder(case: Hostile) -> None:
    case.project()
    result = case.run("run", "project.yml", out="/")
    assert result.returncode == 2 and "the root folder cannot be an output folder" in result.text, result.text


def test_run_would_replace_an_input_named_like_an_output(case: Hostile) -> None:
    """`run` replaced an input layer named network_qa.csv."""
    path = case.layer("villages", suffix=".csv")
    (case.root / "out").mkdir()
    moved = path.rename(case.root / "out" / "network_qa.csv")
    case.edit(str(path), str(moved))
    case.expect("run", "project.yml", code=2, says=("would replace the input", "network_qa.csv"), out="out")


def test_compare_would_replace_an_input_in_a_scenario_folder(case: Hostile) -> None:
    """`compare` replaced an input scenario_s/villages.gpkg."""
    path = case.layer("villages")
    folder = case.root / "out" / "scenario_upgrade-remote-subcentre"
    folder.mkdir(parents=True)
    moved = path.rename(folder / "villages.gpkg")
    case.edit(str(path), str(moved))
    case.expect("compare", "project.yml", _sample_scenario(case), code=2,
                says=("would replace the input", "scenario_upgrade-remote-subcentre/villages.gpkg"), out="out")


def test_validate_would_replace_an_input_named_validation_csv(case: Hostile) -> None:
    """`validate --out <project folder>` replaced an input layer named validation.csv."""
    path = case.layer("villages", suffix=".csv")
    moved = path.rename(case.root / "validation.csv")
    case.edit(str(path), str(moved))
    case.expect("validate", "project.yml", code=2, says=("would replace the input", "validation.csv"), out=".")


def test_validate_into_the_project_folder_adds_only_its_report(case: Hostile) -> None:
    case.project()
    before = digest(case.root)
    result = case.run("validate", "project.yml", out=".")
    assert result.returncode == 0 and "Traceback" not in result.text, result.text
    after = digest(case.root)
    assert set(after) - set(before) == {"validation.csv"}
    assert {k: v for k, v in after.items() if k in before} == before


def test_optimize_would_replace_its_own_project_file(case: Hostile) -> None:
    """`optimize` overwrote a project file named optimized.yml in its output folder, then failed."""
    (case.root / "out").mkdir()
    case.project(name="out/optimized.yml")
    case.expect("optimize", "out/optimized.yml", "--problem", "mclp", "--kind", "subcentre", "--k", "1", code=2,
                says=("would replace the input", "optimized.yml"), out="out")


def test_candidate_file_inside_the_output_folder(case: Hostile) -> None:
    case.project()
    case.write("out/sites.csv", "name,lon,lat\na,111.6,38.9\n")
    case.expect("optimize", "project.yml", "--problem", "mclp", "--kind", "subcentre", "--k", "1",
                "--candidates", "out/sites.csv", code=2, says=("would replace the input", "sites.csv"), out="out")


def test_scenario_files_inside_the_output_folder(case: Hostile) -> None:
    case.project()
    case.write("out/base.yml", "name: b\nchanges:\n  - upgrade: {fid: THC04, kind: subcentre}\n")
    case.write("s.yml", "name: s\nbase: project.yml\nextends: out/base.yml\nchanges: []\n")
    case.expect("compare", "project.yml", "s.yml", code=2, says=("would replace the input", "base.yml"), out="out")


def test_road_speed_area_inside_the_output_folder(case: Hostile) -> None:
    case.project()
    shutil.copy(case.sample / "boundaries.gpkg", case.root / "out.gpkg")
    (case.root / "out").mkdir()
    shutil.move(case.root / "out.gpkg", case.root / "out" / "area.gpkg")
    case.write("s.yml", "name: s\nbase: project.yml\nchanges:\n"
                        "  - road_speed: {class: tertiary, speed_kmh: 20, within: out/area.gpkg}\n")
    case.expect("compare", "project.yml", "s.yml", code=2, says=("would replace the input", "area.gpkg"), out="out")


def test_folder_holding_files_healthreach_did_not_write(case: Hostile) -> None:
    case.project()
    case.write("out/my notes.docx", "do not lose me")
    case.write("out/summary.xlsx", "an earlier run's")
    case.expect("run", "project.yml", code=2, says=("holds files healthreach did not write", "my notes.docx"),
                out="out")


def test_folder_another_run_is_writing(case: Hostile) -> None:
    """A second run into a folder fails at once while the first holds its lock."""
    case.project()
    lock = case.root / ".out.lock"
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        started = time.perf_counter()
        result = case.run("run", "project.yml", out="out")
        took = time.perf_counter() - started
    lock.unlink()
    assert result.returncode == 2 and "Traceback" not in result.text, result.text
    assert "another healthreach run is writing" in result.text and "reading roads" not in result.text
    assert not (case.root / "out").exists() and took < 60


@pytest.mark.parametrize("out", ["[red]x[/red]", "out:castle:", "出口 [/]"])
def test_folder_name_printed_as_given(case: Hostile, out: str) -> None:
    case.project()
    result = case.run("validate", "project.yml", out=out)
    assert result.returncode == 0 and "Traceback" not in result.text, result.text
    assert f"{case.root / out}" in result.text or out in result.text
    assert (case.root / out / "validation.csv").is_file()


def test_stale_leftovers_of_a_killed_validate_are_cleared(case: Hostile) -> None:
    case.project()
    (case.root / "report").mkdir()
    stale = case.write("report/.validation.csv.0a1b2c3d4e5f.tmp.csv", "half")
    mine = case.write("report/.my.tmp.notes", "kept")
    result = case.run("validate", "project.yml", out="report")
    assert result.returncode == 0, result.text
    assert not stale.exists() and mine.exists() and not (case.root / ".report.lock").exists()


def test_default_folder_is_under_maps(case: Hostile) -> None:
    case.project()
    result = case.run("validate", "project.yml", out=None)
    assert result.returncode == 0, result.text
    assert (case.root / "maps" / "黄梁县（合成样例）" / "validation.csv").is_file()
    assert Path(case.root / "maps").is_dir() and not list(case.root.glob(".*"))


def test_what_viewers_add_to_an_earlier_run_is_not_foreign(case: Hostile) -> None:
    """Finder's .DS_Store or the -wal file of a GeoPackage open in QGIS do not make a folder foreign:
    the run goes on (here to fail on its roads, leaving the folder as it was)."""
    case.project(f"roads: {case.sample / 'roads.osm'}", "roads: nowhere.osm")
    result = case.expect("run", "project.yml", code=1, says=("nowhere.osm", "file not found"), previous=True,
                         extra={".DS_Store": "", "villages.gpkg-wal": "", "~$summary.xlsx": ""})
    assert "did not write" not in result.text
