"""Hostile command-line options: every one is a usage error (exit 2) before any analysis."""
from __future__ import annotations

import socket

import pytest
from conftest import Hostile

OPTIMIZE = ("optimize", "project.yml", "--problem", "mclp", "--kind", "subcentre", "--k", "1")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize("option, value, says", [
    ("--lang", "fr", "zh, en"),
    ("--basemap", "google", "--basemap"),
    ("--shp-encoding", "latin1", "expected UTF-8 or GBK"),
    ("--out-crs", "EPSG:0", "--out-crs EPSG:0: expected wgs84, cgcs2000, gk or a known EPSG:<code>"),
    ("--out-crs", "mercator", "--out-crs mercator: expected"),
    ("--out-crs", "EPSG:32633", "--out-crs EPSG:32633: crs EPSG:32633 is meant for"),
    ("--out-crs", "EPSG:3857", "stretches lengths"),
    ("--scheduler", "nonsense://", "--scheduler nonsense://: expected a Dask scheduler address"),
    ("--scheduler", "tcp://10.0.0.5", "expected a Dask scheduler address such as tcp://10.0.0.5:8786"),
])
def test_output_and_execution_options(case: Hostile, option: str, value: str, says: str) -> None:
    case.project()
    case.expect("run", "project.yml", option, value, code=2, says=(says,), previous=True)


def test_unreachable_scheduler_is_found_before_the_analysis(case: Hostile) -> None:
    """It was found only after the project had been partitioned."""
    case.project()
    result = case.expect("run", "project.yml", "--scheduler", f"tcp://127.0.0.1:{_free_port()}", code=2,
                         says=("cannot reach the Dask scheduler",))
    assert "reading roads" not in result.text


def test_tianditu_without_a_key(case: Hostile) -> None:
    case.project()
    case.expect("run", "project.yml", "--basemap", "tianditu", code=2, says=("needs a Tianditu key",))


@pytest.mark.parametrize("args", [("--workers", "0"), ("--workers", "-3"), ("--workers", "two")])
def test_workers_not_a_count(case: Hostile, args: tuple[str, str]) -> None:
    case.project()
    case.expect("run", "project.yml", *args, code=2, says=("--workers",))


@pytest.mark.parametrize("args, says", [
    (("--problem", "best"), "--problem"),
    (("--kind", "castle"), "--kind castle: unknown kind"),
    (("--band", "nan"), "--band nan: expected minutes > 0"),
    (("--band", "inf"), "--band inf: expected minutes > 0 and at most 1440"),
    (("--band", "-30"), "--band -30.0: expected minutes > 0"),
    (("--k", "0"), "--k 0: expected a number of new sites, at least 1"),
    (("--k", "-2"), "--k -2: expected a number of new sites"),
    (("--k", "many"), "--k"),
    (("--candidates", "grid:nan"), "--candidates grid:nan: expected grid:METRES with 100 to 100000 metres"),
    (("--candidates", "grid:inf"), "--candidates grid:inf: expected grid:METRES"),
    (("--candidates", "grid:5"), "--candidates grid:5: expected grid:METRES"),
    (("--candidates", "grid:"), "--candidates grid:: expected grid:METRES"),
    (("--candidates", "existing:castle"), "--candidates existing:castle: unknown kind"),
    (("--candidates", "nowhere.csv"), "--candidates nowhere.csv: file not found"),
    (("--candidates", "."), "--candidates .: is a folder"),
    (("--demand", "radiated:nan"), "--demand radiated:nan: expected population or radiated:MIN"),
    (("--demand", "radiated:-5"), "--demand radiated:-5: expected"),
    (("--demand", "everyone"), "--demand everyone: expected"),
    (("--min-from-seat", "nan"), "--min-from-seat nan: expected minutes from 0 to 1440"),
    (("--min-from-seat", "-1"), "--min-from-seat -1.0: expected minutes from 0"),
    (("--time-limit", "0"), "--time-limit 0.0: expected a finite number of seconds > 0"),
    (("--time-limit", "inf"), "--time-limit inf: expected a finite number of seconds > 0"),
    (("--gap", "nan"), "--gap nan: expected a percentage"),
    (("--gap", "100"), "--gap 100.0: expected a percentage from 0 to under 100"),
])
def test_siting_options(case: Hostile, args: tuple[str, str], says: str) -> None:
    """`grid:nan` and `--demand radiated:nan` gave a traceback and an empty answer."""
    case.project()
    base = list(OPTIMIZE)
    if args[0] in base:
        index = base.index(args[0])
        base[index + 1] = args[1]
        args = ()
    case.expect(*base, *args, code=2, says=(says,), previous=True)


@pytest.mark.parametrize("body, says", [
    ("name,lon,lat\na,111.6,38.9\nb,,\n", "rows 3, fields lon/lat"),
    ("name,lon,lat\na,111.6,38.9\nb,east,38.9\n", "rows 3, fields lon/lat"),
    ("name,lon,lat\na,511.6,38.9\n", "rows 2, fields lon/lat"),
    ("name,x,y\na,111.6,38.9\n", "candidate CSV needs columns lon and lat"),
    ("name,lon,lat\n", "no candidate sites"),
])
def test_candidate_file_with_bad_rows(case: Hostile, body: str, says: str) -> None:
    """Empty coordinates gave a traceback."""
    case.project()
    case.write("candidates.csv", body)
    case.expect(*OPTIMIZE, "--candidates", "candidates.csv", code=1, says=("candidates.csv", says), previous=True)


def test_demo_of_an_unknown_sample(case: Hostile) -> None:
    case.expect("demo", "--sample", "atlantis", code=2, says=("--sample atlantis: expected one of county",))
