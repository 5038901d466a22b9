"""Hostile project files: YAML tricks, names used as paths, coordinate systems and parameters."""
from __future__ import annotations

import time

import pytest
from conftest import Hostile, sample_project
from hostile_cli import BOMB



def test_missing_project_file(case: Hostile) -> None:
    case.expect("run", "nope.yml", code=1, says=("nope.yml", "not found", "expected a YAML project file"))


def test_project_path_is_a_folder(case: Hostile) -> None:
    (case.root / "folder.yml").mkdir()
    case.expect("run", "folder.yml", code=1, says=("folder.yml", "is a folder"))


def test_empty_project_file(case: Hostile) -> None:
    case.write("project.yml", "")
    case.expect("run", "project.yml", code=1, says=("project.yml", "not a mapping"))


def test_project_file_not_utf8(case: Hostile) -> None:
    case.write("project.yml", sample_project(case.sample).encode("gbk"))
    case.expect("run", "project.yml", code=1, says=("project.yml", "not UTF-8", "save the project file as UTF-8"))


def test_yaml_syntax_error_names_line_and_column(case: Hostile) -> None:
    case.project("layers:", "layers: : :")
    case.expect("run", "project.yml", code=1, says=("project.yml", "line ", "column", "YAML syntax error"))


@pytest.mark.parametrize("where", ["parameters", "name"])
def test_alias_bomb_refused_at_once(case: Hostile, where: str) -> None:
    bomb = "  " + BOMB.replace("\n", "\n  ")
    body = sample_project(case.sample)
    if where == "parameters":
        body = body.replace("parameters: {}", f"parameters:\n{bomb}")
    else:  # an alias must come after its anchor
        body = f"bomb:\n{bomb}\n" + body.replace("name: 黄梁县（合成样例）", "name: *i")
    case.write("project.yml", body)
    started = time.perf_counter()
    case.expect("run", "project.yml", code=1, says=("project.yml", "line ", "aliases"))
    assert time.perf_counter() - started < 30  # it used to take 40 s and 4 GB before a MemoryError


def test_recursive_alias(case: Hostile) -> None:
    case.project("parameters: {}", "parameters: &p {loop: *p}")
    case.expect("run", "project.yml", code=1, says=("project.yml", "line ", "recursive"))


def test_deep_nesting(case: Hostile) -> None:
    case.project("parameters: {}", "parameters: " + "[" * 3000 + "]" * 3000)
    case.expect("run", "project.yml", code=1, says=("project.yml", "line 1", "nested more than"))


def test_duplicate_top_level_key_is_refused_naming_both_lines(case: Hostile) -> None:
    case.project("crs: EPSG:4546", "crs: EPSG:4546\ncrs: EPSG:4545")
    case.expect("run", "project.yml", code=1, says=("project.yml", "key 'crs' is given twice", "first on line 4"))


def test_duplicate_nested_key(case: Hostile) -> None:
    case.project("parameters: {}", "parameters:\n  walk_kmh: 4\n  walk_kmh: 5")
    case.expect("run", "project.yml", code=1, says=("project.yml", "key 'walk_kmh' is given twice"))


def test_top_level_list(case: Hostile) -> None:
    case.write("project.yml", "- name: x\n- layers: y\n")
    case.expect("run", "project.yml", code=1, says=("project.yml", "not a mapping"))


def test_unknown_top_level_key(case: Hostile) -> None:
    case.project("parameters: {}", "parameters: {}\nnmae: x")
    case.expect("run", "project.yml", code=1, says=("project.yml", "nmae", "allowed keys"))


def test_name_missing(case: Hostile) -> None:
    case.project("name: 黄梁县（合成样例）", "")
    case.expect("run", "project.yml", code=1, says=("project.yml", "'name' is missing"))


def test_name_is_a_list(case: Hostile) -> None:
    case.project("name: 黄梁县（合成样例）", "name: [a, b]")
    case.expect("run", "project.yml", code=1, says=("project.yml", "'name' is not a text"))


@pytest.mark.parametrize("name", ["../../escaped", "{absolute}", "a/../../../b", "..", "x" * 300])
def test_project_name_never_leaves_the_working_folder(case: Hostile, name: str) -> None:
    """The default output folder is maps/<sanitised name> under the current folder (validate writes
    there), whatever the name says; an absolute name was written where it pointed."""
    absolute = case.root.parent.parent / "escaped-absolute"
    case.project("name: 黄梁县（合成样例）", f"name: '{name.format(absolute=absolute)}'")
    before = set(case.root.parent.parent.iterdir())
    result = case.run("validate", "project.yml", out=None)
    assert result.returncode == 0 and "Traceback" not in result.text, result.text
    written = list((case.root / "maps").rglob("validation.csv"))
    assert len(written) == 1 and written[0].parent.parent == case.root / "maps", written
    assert len(written[0].parent.name.encode()) <= 120
    assert set(case.root.parent.parent.iterdir()) == before and not absolute.exists()


def test_crs_not_understood(case: Hostile) -> None:
    case.project("crs: EPSG:4546", "crs: EPSG:999999")
    case.expect("run", "project.yml", code=1, says=("project.yml", "crs", "EPSG:999999"))


def test_crs_in_degrees(case: Hostile) -> None:
    case.project("crs: EPSG:4546", "crs: EPSG:4326")
    case.expect("run", "project.yml", code=1, says=("project.yml", "not projected"))


@pytest.mark.parametrize("crs", ["EPSG:32633", "EPSG:4545", "EPSG:4540", "EPSG:32650"])
def test_crs_for_another_place_is_refused(case: Hostile, crs: str) -> None:
    """A CRS for Europe gave times off by up to 249 s; a wrong Gauss–Krüger zone made every village
    unreachable with warnings only."""
    case.project("crs: EPSG:4546", f"crs: {crs}")
    case.expect("run", "project.yml", code=1, says=("project.yml", f"crs {crs} is meant for", "111."))


def test_crs_that_stretches_lengths(case: Hostile) -> None:
    case.project("crs: EPSG:4546", "crs: EPSG:3857")
    case.expect("run", "project.yml", code=1, says=("project.yml", "stretches lengths by 28."))


def test_markup_in_a_message_is_printed_as_text(case: Hostile) -> None:
    case.project("crs: EPSG:4546", "crs: '[longitude, latitude] [/] [bold]'")
    case.expect("run", "project.yml", code=1, says=("[longitude, latitude] [/] [bold]",))


def test_parameters_not_a_mapping(case: Hostile) -> None:
    case.project("parameters: {}", "parameters: [1, 2]")
    case.expect("run", "project.yml", code=1, says=("project.yml", "'parameters' is not a mapping"))


@pytest.mark.parametrize("parameters, says", [
    ("{walk_kmh: .nan}", "parameters.walk_kmh: expected a number > 0 and at most 30, got nan"),
    ("{walk_kmh: .inf}", "parameters.walk_kmh: expected a number > 0 and at most 30, got inf"),
    ("{max_snap_m: .nan}", "parameters.max_snap_m: expected a number > 0"),
    ("{max_snap_m: -5}", "parameters.max_snap_m: expected a number > 0"),
    ("{access_kmh: 1e400}", "parameters.access_kmh: expected a number > 0"),
    ("{walk_kmh: 100000000000000000000000000000000000000000000000000}", "parameters.walk_kmh"),
    ("{ambulance_factor: yes}", "parameters.ambulance_factor: expected a number > 0"),
    ("{catchment_buffer_m: '250'}", "parameters.catchment_buffer_m: expected a number > 0"),
    ("{bands_min: [0.5, 15, 30]}", "parameters.bands_min: 0.5 is not a whole number"),
    ("{bands_min: [15, 15, 30]}", "parameters.bands_min: 15 is given twice"),
    ("{bands_min: []}", "parameters.bands_min: expected a list of minutes"),
    ("{bands_min: 30}", "parameters.bands_min: expected a list of minutes"),
    ("{bands_min: [15, .nan]}", "parameters.bands_min: expected a number > 0 and at most 1440, got nan"),
    ("{service_bands_min: [30, 100000]}", "parameters.service_bands_min: expected a number > 0 and at most 1440"),
    ("{catchment_type: fast}", "parameters.catchment_type: expected one of auto, overlap, split"),
    ("{class_speeds_kmh: {primary: 1e9}}", "parameters.class_speeds_kmh.primary: expected a number > 0 and at most 300"),
    ("{class_speeds_kmh: [60]}", "parameters.class_speeds_kmh: expected a mapping"),
    ("{capacity_bands_min: {township: .nan}}", "parameters.capacity_bands_min.township: expected a number > 0"),
    ("{rules: {GOLDEN-HOUR: .nan}}", "parameters.rules.GOLDEN-HOUR: expected a number > 0"),
    ("{walking_speed: 4}", "parameters.walking_speed: unknown parameter"),
])
def test_parameter_checked_before_any_analysis(case: Hostile, parameters: str, says: str) -> None:
    """NaN walk_kmh or max_snap_m made every village unreachable with exit 0; a band of 0.5 minutes
    became 0; a repeated band drew every polygon twice."""
    case.project("parameters: {}", f"parameters: {parameters}")
    case.expect("run", "project.yml", code=1, says=("project.yml", says))


def test_layers_missing(case: Hostile) -> None:
    text = sample_project(case.sample)
    case.write("project.yml", text[:text.index("layers:")] + "parameters: {}\n")
    case.expect("run", "project.yml", code=1, says=("project.yml", "'layers' is missing"))


def test_required_layer_missing(case: Hostile) -> None:
    case.project(f"  roads: {case.sample / 'roads.osm'}\n", "")
    case.expect("run", "project.yml", code=1, says=("project.yml", "layer 'roads' is missing"))


def test_layer_file_not_found(case: Hostile) -> None:
    case.project(f"facilities: {case.sample / 'facilities.gpkg'}", "facilities: nowhere.gpkg")
    case.expect("run", "project.yml", code=1, says=("nowhere.gpkg", "file not found", "layers.facilities.path"))


def test_layer_path_is_a_folder(case: Hostile) -> None:
    (case.root / "facilities.gpkg").mkdir()
    case.project(f"facilities: {case.sample / 'facilities.gpkg'}", "facilities: facilities.gpkg")
    case.expect("run", "project.yml", code=1, says=("facilities.gpkg", "is a folder", "layers.facilities.path"))


def test_layer_setting_unknown(case: Hostile) -> None:
    case.project("    columns: {vid:", "    encodng: gbk\n    columns: {vid:")
    case.expect("run", "project.yml", code=1, says=("project.yml", "unknown setting 'encodng'", "did you mean"))


def test_project_file_too_large(case: Hostile) -> None:
    case.write("project.yml", sample_project(case.sample) + "#" + "x" * 21_000_000 + "\n")
    case.expect("run", "project.yml", code=1, says=("project.yml", "bytes", "expected a project file under"))
