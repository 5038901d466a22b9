"""Inputs are never modified: every command, run through the CLI, leaves its input files byte-identical.

Each command runs in a fresh process (`python -m healthreach.cli`) on one copy of the sample project;
the input folder is hashed (sha256 of every file, and the list of files, so no sidecar such as a
GeoPackage `-wal` or an `.aux.xml` appears) before and after.
"""
from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import healthreach

SAMPLE = Path(healthreach.__file__).resolve().parent / "data" / "samples" / "county"
SCENARIO = "scenarios/upgrade-remote-subcentre.yml"


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder` (compiled Python caches aside), by relative path."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the sample project's data files (not its Python) in a folder of its own."""
    folder = tmp_path_factory.mktemp("sample")
    shutil.copytree(SAMPLE, folder, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


def test_the_copy_holds_every_input(project: Path) -> None:
    names = set(digest(project))
    assert {"project.yml", "roads.osm", "facilities.gpkg", "villages.gpkg", "boundaries.gpkg", SCENARIO} <= names
    assert all(digest(SAMPLE)[name] == sha for name, sha in digest(project).items())


COMMANDS: dict[str, list[str]] = {
    "validate": ["validate", "{project}/project.yml"],
    "run": ["run", "{project}/project.yml"],
    "compare": ["compare", "{project}/project.yml", f"{{project}}/{SCENARIO}"],
    "optimize": ["optimize", "{project}/project.yml", "--problem", "mclp", "--kind", "subcentre", "--k", "1",
                 "--time-limit", "20"],
    "demo": ["demo"],
}


MAIN_OUTPUT = {"validate": "validation.csv", "run": "coverage_map.html", "compare": "compare.csv",
               "optimize": "optimized.yml", "demo": "coverage_map.html"}


@pytest.mark.parametrize("command", list(COMMANDS))
def test_command_leaves_inputs_unchanged(command: str, project: Path, tmp_path: Path) -> None:
    before, sample_before = digest(project), digest(SAMPLE)
    out = tmp_path / "out"
    args = [a.format(project=project) for a in COMMANDS[command]]
    done = subprocess.run([sys.executable, "-m", "healthreach.cli", *args, "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert digest(project) == before
    assert digest(SAMPLE) == sample_before  # the demo reads the packaged sample itself
    assert (out / MAIN_OUTPUT[command]).is_file()  # the command did its work, into --out only
