"""Hostile scenario files for `compare`: every one is refused before the baseline is analysed."""
from __future__ import annotations

import geopandas as gpd
import pytest
from conftest import Hostile
from hostile_cli import BOMB

HEAD = "name: s1\nbase: ../project.yml\n"


def _compare(case: Hostile, *scenarios: str, code: int = 1, says: tuple[str, ...] = (), previous: bool = False):
    case.project()
    return case.expect("compare", "project.yml", *scenarios, code=code, says=says, previous=previous)


def _scenario(case: Hostile, body: str, name: str = "s.yml", head: str = HEAD) -> str:
    case.write(f"scenarios/{name}", head + body)
    return f"scenarios/{name}"


def test_scenario_file_missing(case: Hostile) -> None:
    _compare(case, "scenarios/nope.yml", says=("nope.yml", "scenario file not found"))


def test_scenario_path_is_a_folder(case: Hostile) -> None:
    """It gave an IsADirectoryError traceback."""
    (case.root / "scenarios").mkdir()
    _compare(case, "scenarios", says=("scenarios", "is a folder (expected a scenario file)"))


def test_scenario_alias_bomb(case: Hostile) -> None:
    _scenario(case, "bomb:\n  " + BOMB.replace("\n", "\n  ") + "\n")
    _compare(case, "scenarios/s.yml", says=("s.yml", "aliases"))


def test_scenario_duplicate_key(case: Hostile) -> None:
    _scenario(case, "changes:\n  - upgrade: {fid: THC04, kind: subcentre, kind: ems_station}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "key 'kind' is given twice"))


def test_scenario_name_of_300_characters(case: Hostile) -> None:
    """It failed with a traceback (file name too long) after the baseline files were written."""
    _scenario(case, "changes: []\n", head="name: " + "a" * 300 + "\nbase: ../project.yml\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:1", "name", "300 characters (expected at most 64)"), previous=True)


@pytest.mark.parametrize("name", ["../../escaped", "a b", "地图", "'.'"])
def test_scenario_name_used_in_file_names(case: Hostile, name: str) -> None:
    _scenario(case, "changes: []\n", head=f"name: {name}\nbase: ../project.yml\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:1", "name", "expected letters A-Z a-z, digits"))


def test_two_scenarios_of_one_name(case: Hostile) -> None:
    """One's outputs silently replaced the other's."""
    _scenario(case, "changes:\n  - upgrade: {fid: THC04, kind: subcentre}\n", name="a.yml")
    _scenario(case, "changes:\n  - upgrade: {fid: THC03, kind: subcentre}\n", name="b.yml")
    _compare(case, "scenarios/a.yml", "scenarios/b.yml", says=("b.yml", "name: s1 is also the name of", "a.yml"))


def test_one_scenario_given_twice(case: Hostile) -> None:
    _scenario(case, "changes:\n  - upgrade: {fid: THC04, kind: subcentre}\n")
    _compare(case, "scenarios/s.yml", "scenarios/s.yml", says=("s.yml", "is also the name of"))


def test_base_naming_another_project(case: Hostile) -> None:
    """It was ignored: the scenario was applied to whatever project was given."""
    case.project(name="other.yml")
    _scenario(case, "changes: []\n", head="name: s1\nbase: ../other.yml\n")
    _compare(case, "scenarios/s.yml", says=("s.yml", "base:", "other.yml", "is not the project being compared"))


def test_base_missing(case: Hostile) -> None:
    _scenario(case, "changes: []\n", head="name: s1\nbase: ../gone.yml\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:2", "base", "does not exist (expected a project file)"))


def test_extends_cycle(case: Hostile) -> None:
    _scenario(case, "extends: b.yml\nchanges: []\n", name="a.yml")
    _scenario(case, "extends: a.yml\nchanges: []\n", name="b.yml")
    _compare(case, "scenarios/a.yml", says=("extends", "cycle"))


def test_extends_missing(case: Hostile) -> None:
    _scenario(case, "extends: gone.yml\nchanges: []\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:3", "extends", "gone.yml", "does not exist"))


def test_extends_a_folder(case: Hostile) -> None:
    (case.root / "scenarios" / "dir.yml").mkdir(parents=True)
    _scenario(case, "extends: dir.yml\nchanges: []\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:3", "extends", "is a folder"))


def test_removing_every_facility(case: Hostile) -> None:
    """It failed with an unrelated message (missing columns) after the whole analysis."""
    fids = gpd.read_file(case.sample / "facilities.gpkg")["fid"]
    _scenario(case, "changes:\n" + "".join(f"  - remove: {{fid: {f}}}\n" for f in fids))
    _compare(case, "scenarios/s.yml", says=("s.yml", "remove.fid", "leaves no facility at all"), previous=True)


def test_road_speed_on_a_class_absent_from_the_network(case: Hostile) -> None:
    """It did nothing, silently."""
    _scenario(case, "changes:\n  - road_speed: {class: motorway, speed_kmh: 100}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "road_speed.class", "no road of class 'motorway'"),
             previous=True)


@pytest.mark.parametrize("speed", [".nan", ".inf", "-10", "fast", "0"])
def test_road_speed_not_a_speed(case: Hostile, speed: str) -> None:
    _scenario(case, f"changes:\n  - road_speed: {{class: tertiary, speed_kmh: {speed}}}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "road_speed.speed_kmh"))


def test_road_speed_within_a_missing_file(case: Hostile) -> None:
    _scenario(case, "changes:\n  - road_speed: {class: tertiary, speed_kmh: 20, within: gone.gpkg}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "road_speed.within", "does not exist"))


@pytest.mark.parametrize("lon, lat", [(".nan", "38.9"), ("111.6", ".inf"), ("500", "38.9"), ("'east'", "38.9")])
def test_added_site_off_the_earth(case: Hostile, lon: str, lat: str) -> None:
    _scenario(case, f"changes:\n  - add: {{fid: N1, name: 新站, kind: ems_station, lon: {lon}, lat: {lat}}}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "add."))


def test_added_site_reusing_an_id(case: Hostile) -> None:
    _scenario(case, "changes:\n  - add: {fid: THC04, name: 新站, kind: ems_station, lon: 111.6, lat: 38.9}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "add.fid", "already exists"), previous=True)


def test_upgrading_an_unknown_facility(case: Hostile) -> None:
    _scenario(case, "changes:\n  - upgrade: {fid: NOPE, kind: subcentre}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "upgrade.fid", "no facility 'NOPE'"))


def test_upgrade_to_an_unknown_kind(case: Hostile) -> None:
    _scenario(case, "changes:\n  - upgrade: {fid: THC04, kind: 大医院}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "upgrade.kind", "unknown kind"))


def test_road_added_between_one_node(case: Hostile) -> None:
    _scenario(case, "changes:\n  - add_road: {from: [111.6, 38.9], to: [111.6, 38.9], class: tertiary}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "add_road", "same road node"))


def test_unknown_change_type(case: Hostile) -> None:
    _scenario(case, "changes:\n  - demolish: {fid: THC04}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "unknown change type 'demolish'"))


def test_added_site_in_an_unknown_crs(case: Hostile) -> None:
    _scenario(case, "changes:\n  - add: {fid: N1, name: x, kind: ems_station, lon: 111.6, lat: 38.9, crs: 'EPSG:0'}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:4", "add.crs", "unknown coordinate system"))


def test_changes_not_a_list(case: Hostile) -> None:
    _scenario(case, "changes: {upgrade: THC04}\n")
    _compare(case, "scenarios/s.yml", says=("s.yml:3", "changes", "not a list"))


def test_scenario_not_utf8(case: Hostile) -> None:
    case.write("scenarios/s.yml", (HEAD + "title: 升级\nchanges: []\n").encode("gbk"))
    _compare(case, "scenarios/s.yml", says=("s.yml:1", "not UTF-8"))
