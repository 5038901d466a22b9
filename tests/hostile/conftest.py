"""Hostile inputs, one case each: shared fixtures and the check every case makes.

Each case writes only what it breaks (a project file, a layer, a scenario) into a folder of its own;
everything else is read from one copy of the sample county per test module. `Hostile.expect` runs the
command and asserts: the exit code; no traceback; the message names the file, row or field and what
was expected; no input byte changed (the case folder and the shared sample, hashed before and after);
and the output folder is untouched (absent, or byte-identical to an earlier run's) with nothing left
beside it. With HEALTHREACH_HOSTILE_REPORT=<file> every case also appends its outcome there as a
JSON line (the counts of issue 16's closing note come from it).
"""
from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest

sys.path.insert(0, str(Path(__file__).parent))

from hostile_cli import Cli, Result, digest, leftovers, record  # noqa: E402

import healthreach  # noqa: E402

SAMPLE = Path(healthreach.__file__).resolve().parent / "data" / "samples" / "county"
PREVIOUS_ID = "20000101T000000Z-previous"
EXPECTED_WORDS = ("expected", " — ", "did you mean", "known:", "must be one of", "should be")
"""A message says what was expected: in these words, as the suggestion a problem line gives after its
dash ("file, row 3, field 'kind': unknown kind 'x' — closest known kind: ..."), or in the words of the
command-line parser ("Input should be a valid integer")."""


@pytest.fixture(scope="session")
def cli(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    runner = Cli(tmp_path_factory.mktemp("cli-output"))
    yield runner
    runner.close()


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One copy of the sample county's data files (not its Python) for the whole module."""
    folder = tmp_path_factory.mktemp("sample")
    shutil.copytree(SAMPLE, folder, dirs_exist_ok=True, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return folder


def sample_project(sample: Path) -> str:
    """The sample's project.yml with its layer paths made absolute (so a case folder can hold it)."""
    text = (sample / "project.yml").read_text(encoding="utf-8")
    for name in ("roads.osm", "facilities.gpkg", "villages.gpkg", "boundaries.gpkg"):
        text = text.replace(f" {name}", f" {sample / name}")
    return text


def previous_run(folder: Path) -> Path:
    """A stand-in for an earlier run's output folder (names healthreach writes, run id PREVIOUS_ID)."""
    folder.mkdir(parents=True)
    (folder / "run.json").write_text(json.dumps({"run_id": PREVIOUS_ID}), encoding="utf-8")
    (folder / "coverage_map.html").write_text(f'<html><head><meta name="healthreach-run-id" '
                                              f'content="{PREVIOUS_ID}"></head></html>', encoding="utf-8")
    (folder / "standards.csv").write_text("rule_id,value\nA,1\n", encoding="utf-8")
    (folder / "shp").mkdir()
    (folder / "shp" / "villages.cpg").write_text("UTF-8", encoding="ascii")
    return folder


class Hostile:
    """A case's own folder, the module's sample copy, and the check of what a command did."""

    def __init__(self, cli: Cli, sample: Path, root: Path, name: str) -> None:
        self.cli, self.sample, self.root, self.name = cli, sample, root, name

    def project(self, old: str | None = None, new: str = "", *, text: str | None = None,
                name: str = "project.yml") -> Path:
        """Write the sample's project file into the case folder, with `old` replaced by `new`."""
        body = text if text is not None else sample_project(self.sample)
        if old is not None:
            assert old in body, old
            body = body.replace(old, new, 1)
        path = self.root / name
        path.write_text(body, encoding="utf-8")
        return path

    def edit(self, old: str, new: str, *, name: str = "project.yml") -> Path:
        """Replace `old` by `new` in the case's current project file."""
        return self.project(old, new, text=(self.root / name).read_text(encoding="utf-8"), name=name)

    def layer(self, role: str, edit: Callable[[gpd.GeoDataFrame], gpd.GeoDataFrame | None] = lambda f: None, *,
              suffix: str = ".gpkg") -> Path:
        """The sample's `role` layer (facilities or villages) edited by `edit`, written into the case
        folder as `suffix` (.gpkg, .csv with lon/lat, .geojson), and a project file reading it."""
        frame = gpd.read_file(self.sample / f"{role}.gpkg")
        edited = edit(frame)
        frame = edited if edited is not None else frame
        path = self.root / f"{role}{suffix}"
        if suffix == ".csv":
            table = pd.DataFrame(frame.drop(columns="geometry"))
            table["lon"], table["lat"] = frame.geometry.x, frame.geometry.y
            table.to_csv(path, index=False, encoding="utf-8-sig")
        else:
            pyogrio.write_dataframe(frame, path, layer_options={"FID": "gpkg_fid"} if suffix == ".gpkg" else None)
        self.project(f"{self.sample / f'{role}.gpkg'}", str(path))
        return path

    def write(self, relative: str, content: str | bytes) -> Path:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        return path

    def run(self, *args: object, out: str | None = "out") -> Result:
        return self.cli.run([str(a) for a in args] + (["--out", out] if out is not None else []), cwd=self.root)

    def expect(self, *args: object, code: int, says: tuple[str, ...] = (), out: str | None = "out",
               previous: bool = False, extra: dict[str, str] | None = None) -> Result:
        """Run `healthreach ARGS --out OUT` in the case folder and check it failed cleanly (see module doc).

        `previous`: OUT first holds an earlier run's outputs (and the `extra` files), which must come
        through byte-identical."""
        target = self.root / out if out is not None else None
        if previous and target is not None:
            previous_run(target)
            for name, text in (extra or {}).items():
                (target / name).write_text(text, encoding="utf-8")
        kept = digest(target) if target is not None and target.exists() else None
        inputs = {**{f"case/{k}": v for k, v in digest(self.root).items() if not _in(k, out)},
                  **{f"sample/{k}": v for k, v in digest(self.sample).items()}}
        result = self.run(*args, out=out)
        after = {**{f"case/{k}": v for k, v in digest(self.root).items() if not _in(k, out)},
                 **{f"sample/{k}": v for k, v in digest(self.sample).items()}}
        changed = sorted(k for k in set(inputs) | set(after) if inputs.get(k) != after.get(k))
        untouched = target is None or (digest(target) == kept if kept is not None else not target.exists())
        left = leftovers(target) if target is not None else []
        _record(self.name, args, result, code, changed, untouched and not left)
        assert result.returncode == code, result.text
        assert "Traceback" not in result.text, result.text
        assert any(word in result.text.lower() for word in EXPECTED_WORDS), result.text
        for fragment in says:
            assert fragment in result.text, f"{fragment!r} not in: {result.text}"
        assert not changed, changed
        assert untouched, f"{target} was changed"
        assert not left, left
        return result


def _in(relative: str, out: str | None) -> bool:
    """Whether a path of the case folder is the output folder, in it, or beside it as its staging,
    lock or parts (those are judged by `leftovers`, not as inputs)."""
    if out is None:
        return False
    out = out.rstrip("/")
    return relative == out or relative.startswith((f"{out}/", f".{out}.", f"{out}.parts/"))


def _record(name: str, args: tuple[object, ...], result: Result, code: int, changed: list[str],
            untouched: bool) -> None:
    record(kind="case", case=name, args=[str(a) for a in args], code=result.returncode, expected=code,
           traceback="Traceback" in result.text, inputs_changed=len(changed), out_untouched=untouched)


@pytest.fixture
def case(cli: Cli, sample: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Hostile:
    root = tmp_path / "case"
    root.mkdir()
    return Hostile(cli, sample, root, request.node.name)
