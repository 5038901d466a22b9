"""Whole runs on the tiny county, each a real `python -m healthreach` process: formula-safe outputs
that carry one run id, a second run into a busy folder, runs killed at several points, resume."""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import openpyxl
import pyogrio
import pytest
import yaml
from hostile_cli import ENV, digest, leftovers, record
from tiny import HOSTILE_NAMES, WEST, write_tiny

TIMEOUT_S = 600.0
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
BASELINE = ("coverage_map.html", "coverage_map.png", "coverage_curve.png", "villages.gpkg", "villages.qml",
            "catchments.gpkg", "facilities.gpkg", "standards.csv", "network_qa.csv", "summary.xlsx", "run.json",
            "shp/villages.shp", "shp/catchments.shp", "shp/village_links.shp")


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    """`python -m healthreach ARGS` in a session of its own (so a partitioned run's workers can be ended with it)."""
    return subprocess.Popen([sys.executable, "-m", "healthreach", *args], cwd=cwd, env=ENV, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


def finish(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, err = process.communicate(timeout=TIMEOUT_S)
    return process.returncode, re.sub(r"\s+", " ", out + err)


def wait_for(condition: Callable[[], bool], process: subprocess.Popen[str]) -> bool:
    """True once `condition` holds; False if the process ended first."""
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline:
        if condition():
            return True
        if process.poll() is not None:
            return condition()
        time.sleep(0.01)
    raise TimeoutError("the run neither reached the point nor ended")


def staged(out: Path, name: str) -> Callable[[], bool]:
    """Whether `name` is complete in the run's staging folder (written atomically: present = whole)."""
    return lambda: any(out.parent.glob(f".{out.name}.staging-*/{name}"))


def run_ids(out: Path) -> dict[str, str | None]:
    """The run id each output carries: run.json, every GeoPackage layer, every HTML map, the workbook."""
    ids: dict[str, str | None] = {"run.json": json.loads((out / "run.json").read_text(encoding="utf-8"))["run_id"]}
    for gpkg in out.rglob("*.gpkg"):
        for layer in pyogrio.list_layers(gpkg)[:, 0]:
            metadata = pyogrio.read_info(gpkg, layer=layer)["layer_metadata"] or {}
            ids[f"{gpkg.relative_to(out)}:{layer}"] = metadata.get("healthreach_run_id")
    for page in out.glob("*.html"):
        found = re.search(r'<meta name="healthreach-run-id" content="([^"]+)">', page.read_text(encoding="utf-8"))
        ids[page.name] = found.group(1) if found else None
    ids["summary.xlsx"] = openpyxl.load_workbook(out / "summary.xlsx", read_only=True).properties.identifier
    return ids


def one_complete_run(out: Path, *extra: str, clean: bool = True) -> str:
    """The run id of a complete output folder: every baseline file (and `extra`) present, one id in all,
    and (`clean`) nothing left beside it."""
    missing = [name for name in (*BASELINE, *extra) if not (out / name).is_file()]
    assert not missing, missing
    ids = run_ids(out)
    assert len(set(ids.values())) == 1 and None not in ids.values(), ids
    assert not clean or not leftovers(out), leftovers(out)
    return next(iter(ids.values()))  # type: ignore[return-value]


def _complete(out: Path) -> bool:
    try:
        one_complete_run(out, "compare.csv", clean=False)
    except (AssertionError, OSError, KeyError, ValueError):
        return False
    return True


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tiny")
    write_tiny(folder / "in")
    return folder


@pytest.fixture(scope="module")
def compared(tiny: Path) -> tuple[Path, str, tuple[int, str]]:
    """`compare` of the tiny county and its scenario into out/; while it holds the folder a second run
    into the same folder is started, and must fail at once. Returns the folder, the first run's
    output, and the second's exit code and output."""
    before = digest(tiny / "in")
    first = start(["compare", "in/project.yml", "in/west.yml", "--out", "out"], tiny)
    assert wait_for(lambda: any(tiny.glob(".out.staging-*")), first)
    started = time.perf_counter()
    second = finish(start(["run", "in/project.yml", "--out", "out"], tiny))
    assert time.perf_counter() - started < 120  # at once: no analysis, only loading the project
    code, text = finish(first)
    assert code == 0 and "Traceback" not in text, text
    assert digest(tiny / "in") == before
    return tiny / "out", text, second


def test_second_run_into_a_busy_folder_fails_at_once(compared: tuple[Path, str, tuple[int, str]]) -> None:
    """Two runs into one folder both exited 0, leaving a folder that mixed their populations."""
    _, _, (code, text) = compared
    assert code == 2 and "Traceback" not in text, text
    assert "another healthreach run is writing" in text and "reading roads" not in text


def test_compare_writes_one_complete_run(compared: tuple[Path, str, tuple[int, str]]) -> None:
    out, _, _ = compared
    one_complete_run(out, "compare.csv", "scenario_-west.html", "scenario_-west/villages.gpkg")
    assert not (out.parent / "out.parts").exists()


def test_no_formula_reaches_a_spreadsheet(compared: tuple[Path, str, tuple[int, str]]) -> None:
    """Names such as =HYPERLINK(...) became live formulas in summary.xlsx and raw formula cells in CSV."""
    out, _, _ = compared
    workbook = openpyxl.load_workbook(out / "summary.xlsx")
    cells = [cell for sheet in workbook for row in sheet.iter_rows() for cell in row if cell.value is not None]
    raw = []
    for table in out.rglob("*.csv"):
        with open(table, encoding="utf-8-sig", newline="") as stream:
            raw += [c for row in csv.reader(stream) for c in row if c.startswith(FORMULA_STARTS) and not _number(c)]
    record(kind="formula", xlsx_formula_cells=sum(c.data_type == "f" for c in cells), csv_formula_cells=len(raw))
    assert not [c.coordinate for c in cells if c.data_type == "f"] and not raw
    risky = [c for c in cells if isinstance(c.value, str) and c.value.startswith(FORMULA_STARTS)]
    assert all(c.data_type == "s" and c.quotePrefix for c in risky)
    texts = {c.value for c in risky}
    assert WEST in texts and "=1+2" in texts and HOSTILE_NAMES[0] in texts
    assert all(c.data_type == "n" for c in cells if isinstance(c.value, (int, float)) and not isinstance(c.value, bool))
    seen: set[str] = set()
    for table in out.rglob("*.csv"):
        with open(table, encoding="utf-8-sig", newline="") as stream:
            for row in csv.reader(stream):
                for cell in row:
                    seen.add(cell)
                    assert not cell.startswith(FORMULA_STARTS) or _number(cell)  # -3.5 stays a number
    assert f"'{WEST}" in seen and "'-west" in seen
    names = {c.value for c in cells if isinstance(c.value, str)} | seen
    assert any(name in names or f"'{name}" in names for name in HOSTILE_NAMES)


def test_killed_runs_leave_the_previous_outputs_or_a_complete_new_run(
        compared: tuple[Path, str, tuple[int, str]], tmp_path: Path) -> None:
    """SIGKILL, SIGINT and SIGTERM at several points of a run over an earlier complete run: the folder
    is the earlier run byte for byte, or (a kill just after the swap) a complete new run; SIGINT and
    SIGTERM also remove their staging folder and lock; the next run clears what SIGKILL left."""
    source, _, _ = compared
    tiny = source.parent
    points: list[tuple[signal.Signals, str | float]] = [
        (signal.SIGKILL, 1.0), (signal.SIGKILL, "coverage_map.html"), (signal.SIGKILL, "catchments.gpkg"),
        (signal.SIGKILL, "run.json"), (signal.SIGINT, "coverage_map.png"), (signal.SIGTERM, "summary.xlsx")]
    previous = tmp_path / "previous"
    shutil.copytree(source, previous)
    kept, first_id = digest(previous), run_ids(previous)["run.json"]
    for number, (sig, point) in enumerate(points):
        out = tiny / f"killed{number}"
        shutil.copytree(previous, out)
        process = start(["compare", "in/project.yml", "in/west.yml", "--out", out.name], tiny)
        if isinstance(point, float):
            time.sleep(point)
        else:
            wait_for(staged(out, point), process)
        process.send_signal(sig)
        code, text = finish(process)
        assert "Traceback" not in text, (sig, point, text)
        state = "previous" if digest(out) == kept else "new" if _complete(out) else "mixed"
        record(kind="kill", signal=sig.name, point=point, code=code, folder=state, traceback="Traceback" in text)
        if digest(out) != kept:  # the signal came after the new run was in place
            assert one_complete_run(out, "compare.csv", clean=sig != signal.SIGKILL) != first_id, (sig, point)
        else:
            assert code != 0, (sig, point, text)
        if sig != signal.SIGKILL:
            assert not leftovers(out), (sig, point, code, leftovers(out))
    # The next run into a folder a SIGKILL left behind clears it and replaces it whole.
    out = tiny / "killed1"
    assert leftovers(out)  # the staging folder (and lock file) of the killed run
    code, text = finish(start(["run", "in/project.yml", "--out", out.name], tiny))
    assert code == 0 and "Traceback" not in text, text
    one_complete_run(out)
    assert not (out / "compare.csv").exists() and not list(out.glob("scenario_*"))


def test_two_runs_started_at_once(tiny: Path, tmp_path: Path) -> None:
    """Exactly one writes the folder; the other fails at once; the folder holds the winner's county."""
    write_tiny(tmp_path / "double", population_factor=2)
    runs = {"single": start(["run", "in/project.yml", "--out", "raced"], tiny),
            "double": start(["run", str(tmp_path / "double" / "project.yml"), "--out", "raced"], tiny)}
    outcomes = {name: finish(process) for name, process in runs.items()}
    assert sorted(code for code, _ in outcomes.values()) == [0, 2], outcomes
    winner = next(name for name, (code, _) in outcomes.items() if code == 0)
    loser_text = next(text for code, text in outcomes.values() if code == 2)
    assert "another healthreach run is writing" in loser_text and "Traceback" not in loser_text
    one_complete_run(tiny / "raced")
    population = pyogrio.read_dataframe(tiny / "raced" / "villages.gpkg", layer="villages")["population"].sum()
    assert population == sum(300 + 40 * i for i in range(12)) * (2 if winner == "double" else 1)


def test_optimize_is_one_staged_run_and_its_ids_never_collide(tmp_path: Path) -> None:
    """optimize wrote optimized.yml and then compared into the same folder: a kill between left a
    mixed folder. Its generated id OPT1 collided with an existing facility OPT1."""
    write_tiny(tmp_path / "in", extra_fid="OPT1")
    args = ["optimize", "in/project.yml", "--problem", "mclp", "--kind", "ems_station", "--k", "1",
            "--band", "5", "--candidates", "villages", "--out", "out"]
    killed = start(args, tmp_path)
    wait_for(staged(tmp_path / "out", "optimized.yml"), killed)
    killed.send_signal(signal.SIGINT)
    code, text = finish(killed)
    assert code != 0 and "Traceback" not in text and not (tmp_path / "out").exists(), text
    assert not leftovers(tmp_path / "out")
    code, text = finish(start(args, tmp_path))
    assert code == 0 and "Traceback" not in text, text
    out = tmp_path / "out"
    one_complete_run(out, "optimized.yml", "optimize.csv", "compare.csv")
    document = yaml.safe_load((out / "optimized.yml").read_text(encoding="utf-8"))
    added = [c["add"]["fid"] for c in document["changes"] if "add" in c]
    assert added == ["OPT1-2"], document
    assert json.loads((out / "run.json").read_text(encoding="utf-8"))["scenarios"][0]["path"] == \
        str(out.resolve() / "optimized.yml")


def test_partitioned_run_resumes_from_parts_kept_beside_the_folder(tmp_path: Path) -> None:
    """Finished counties wait in out.parts/ (never inside the outputs) until the run completes."""
    write_tiny(tmp_path / "in", counties=True)
    args = ["run", "in/project.yml", "--workers", "2", "--out", "out"]
    parts = tmp_path / "out.parts" / "baseline"
    first = start(args, tmp_path)
    wait_for(lambda: len(list(parts.glob("*.sha256"))) >= 1, first)
    os.killpg(first.pid, signal.SIGKILL)  # the run and its Dask workers, as a power cut would
    finish(first)
    done = {p.stem for p in parts.glob("*.sha256")}
    assert done and not (tmp_path / "out").exists()
    code, text = finish(start(args, tmp_path))
    assert code == 0 and "Traceback" not in text, text
    assert text.count("already done, skipped") >= len(done), text
    one_complete_run(tmp_path / "out")
    assert not (tmp_path / "out.parts").exists()
