"""Partitioned runs on a local Dask cluster equal a single run on a small three-county province."""
from __future__ import annotations

import dataclasses
import itertools
import os
import pickle
import sys
from pathlib import Path

import cloudpickle
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal

from healthreach.commands.setup import Options, run_config
from healthreach.config import Execution, RunConfig
from healthreach.coverage.measure import Measurement, measure
from healthreach.coverage.pipeline import analyze
from healthreach.layers.project import load_project
from healthreach.layers.roads import read_project_roads
from healthreach.partition.counties import Area, county_areas

# Runners below are sent to worker processes: pickle them by value, not as an import of this file.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

LON0, LAT0 = 111.0, 39.0
KM_LON, KM_LAT = 1 / 86.5, 1 / 111.0  # degrees per km at 39°N
COUNTIES = ("西县", "中县", "东县")
BUFFER_M = 9000.0  # narrower than a county (15 km): each part sees only part of its neighbours


def _pt(x_km: float, y_km: float) -> shapely.Point:
    return shapely.Point(LON0 + x_km * KM_LON, LAT0 + y_km * KM_LAT)


def _write_province(folder: Path) -> Path:
    """Three 15 x 15 km counties side by side, a 1.5 km road grid across them, 30 villages each.

    Township health centres sit 1 km inside the west and east borders of the middle county and 14 km
    inside the outer counties, so the outer counties' border villages are nearest to a centre across
    the border."""
    rng = np.random.default_rng(7)
    lines, classes = [], []
    xs, ys = np.arange(0, 45.01, 1.5), np.arange(0, 15.01, 1.5)
    for y in ys:
        for a, b in itertools.pairwise(xs):
            lines.append(shapely.LineString([_pt(a, y), _pt(b, y)]))
            classes.append("primary" if y == 7.5 else "tertiary")
    for x in xs:
        for a, b in itertools.pairwise(ys):
            lines.append(shapely.LineString([_pt(x, a), _pt(x, b)]))
            classes.append("tertiary")
    gpd.GeoDataFrame({"highway": classes}, geometry=lines, crs="EPSG:4326").to_file(folder / "roads.geojson")
    boxes = [shapely.Polygon([_pt(15 * i, 0).coords[0], _pt(15 * i + 15, 0).coords[0],
                              _pt(15 * i + 15, 15).coords[0], _pt(15 * i, 15).coords[0]]) for i in range(3)]
    gpd.GeoDataFrame({"name": list(COUNTIES), "level": ["county"] * 3}, geometry=boxes,
                     crs="EPSG:4326").to_file(folder / "boundaries.geojson")
    rows, geoms = [], []
    for c, county in enumerate(COUNTIES):
        for k in range(30):
            x, y = 15 * c + rng.uniform(0.3, 14.7), rng.uniform(0.3, 14.7)
            rows.append({"vid": f"V{c}{k:02d}", "name": f"{county}村{k}", "population": int(rng.integers(200, 3000)),
                         "township": f"{county}{'北' if y > 7.5 else '南'}镇", "setting": "rural"})
            geoms.append(_pt(x, y))
    gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326").to_file(folder / "villages.geojson")
    fac, fgeoms = [], []

    def add(fid: str, kind: str, x: float, y: float, town: str, ambulances: int = 0, doctors: int = 5) -> None:
        fac.append({"fid": fid, "name": fid, "kind": kind, "beds": 20, "doctors": doctors, "nurses": 5,
                    "ambulances": ambulances, "township": town})
        fgeoms.append(_pt(x, y))

    for c, county in enumerate(COUNTIES):
        inner = {0: 1.0, 1: 7.5, 2: 14.0}[c]  # outer counties' centres far from the shared borders
        add(f"H{c}", "county_hospital", 15 * c + 7.6, 7.4, f"{county}南镇", ambulances=2, doctors=60)
        add(f"E{c}", "ems_centre", 15 * c + 7.4, 7.6, f"{county}南镇", ambulances=3)
        if c == 1:
            add("T1N", "township_hc", 16.0, 11.0, f"{county}北镇", ambulances=1)
            add("T1S", "subcentre", 29.0, 4.0, f"{county}南镇", ambulances=1)
        else:
            add(f"T{c}N", "township_hc", 15 * c + inner, 11.0, f"{county}北镇", ambulances=1)
            add(f"T{c}S", "subcentre", 15 * c + inner, 4.0, f"{county}南镇")
        for k in range(3):
            add(f"C{c}{k}", "village_clinic", 15 * c + 2 + 5 * k, 2.0 + 5 * k, f"{county}南镇", doctors=1)
    gpd.GeoDataFrame(fac, geometry=fgeoms, crs="EPSG:4326").to_file(folder / "facilities.geojson")
    project = folder / "project.yml"
    project.write_text("name: 合成三县\nlayers:\n  roads: roads.geojson\n  facilities: facilities.geojson\n"
                       "  villages: villages.geojson\n  boundaries: boundaries.geojson\n", encoding="utf-8")
    return project


@pytest.fixture(scope="module")
def province(tmp_path_factory):
    folder = tmp_path_factory.mktemp("province")
    project = load_project(_write_province(folder))
    edges = read_project_roads(project)
    return project, edges, run_config(project, edges, Options())


@pytest.fixture(scope="module")
def single(province):
    project, edges, config = province
    return analyze(project, edges, config)


@pytest.fixture(scope="module")
def cluster():
    from dask.distributed import LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as local:
        yield local


def _on(cluster, config: RunConfig, buffer_m: float) -> RunConfig:
    return dataclasses.replace(config, execution=Execution(scheduler=cluster.scheduler_address, buffer_m=buffer_m))


def _partitioned(province, cluster, parts_dir, runner=None):
    project, edges, config = province
    return analyze(project, edges, _on(cluster, config, BUFFER_M), parts_dir=parts_dir, measure_fn=runner)


@pytest.fixture(scope="module")
def merged(province, cluster, tmp_path_factory):
    parts_dir = tmp_path_factory.mktemp("parts")
    return _partitioned(province, cluster, parts_dir), parts_dir


def test_parts_are_smaller_than_the_province_and_cover_every_point_once(province):
    project, edges, config = province
    parts = list(county_areas(project, edges, config.settings, buffer_m=BUFFER_M))
    assert [p.county for p in parts] == list(COUNTIES)
    assert all(len(p.edges) < len(edges) and len(p.project.villages) < len(project.villages) for p in parts)
    own = np.concatenate([p.village_pos[p.own_villages] for p in parts])
    assert sorted(own) == list(range(len(project.villages)))
    assert sorted(np.concatenate([p.facility_pos[p.own_facilities] for p in parts])) == \
        list(range(len(project.facilities)))


def test_catchment_type_is_settled_once_like_a_single_run(single, merged):
    result, _ = merged
    assert result.provenance["catchments"] == single.provenance["catchments"] == "overlap"
    assert result.provenance["settings"] == single.provenance["settings"]


def test_village_table_equals_a_single_run(single, merged):
    result, _ = merged
    assert_frame_equal(result.villages, single.villages, check_like=False)
    assert_frame_equal(result.facilities, single.facilities)


def test_standards_and_summary_equal_a_single_run(single, merged):
    result, _ = merged
    assert_frame_equal(result.standards, single.standards)
    for name in ("county", "township", "referral", "ems_3tier", *(n for n in ("services", "groups", "regional")
                                                                  if n in single.summary)):
        assert_frame_equal(result.summary[name], single.summary[name], obj=name)


def test_border_village_uses_the_centre_across_the_border(single, merged):
    result, _ = merged
    villages = result.villages.set_index("vid")
    # West county villages near its east border (x > 13 km) are nearer T1N/T1S in the middle county.
    lon = villages.geometry.x
    border = villages[(lon > LON0 + 13.5 * KM_LON) & (lon < LON0 + 15 * KM_LON)]
    assert len(border) > 0
    assert border["township_fid"].isin(["T1N", "T1S"]).all()
    assert (border["township_fid"] == single.villages.set_index("vid").loc[border.index, "township_fid"]).all()


@pytest.fixture(scope="module")
def wide(province, cluster, tmp_path_factory):
    """A run whose buffer (80 km, reach 66 min at 72 km/h) vouches for every village of this province
    and for every cost pair (60 minutes)."""
    project, edges, config = province
    return analyze(project, edges, _on(cluster, config, 80000.0), parts_dir=tmp_path_factory.mktemp("wide"))


def test_no_unverified_villages_when_the_buffer_covers_every_route(wide, merged):
    assert wide.provenance["partition"]["unverified_villages"] == 0
    assert wide.provenance["partition"]["exact_reach_s"] > wide.villages.filter(like="_time_s").max().max()
    # The narrow run cannot vouch for times beyond 9 km at 72 km/h (450 s), though they came out equal.
    narrow, _ = merged
    times = narrow.villages.filter(like="_time_s").to_numpy(dtype=float)
    beyond = (np.nan_to_num(times, nan=0.0) > 450.0).any(axis=1)
    assert narrow.provenance["partition"]["unverified_villages"] == int(beyond.sum()) > 0


def test_catchments_and_layers_equal_a_single_run(single, wide):
    assert_frame_equal(pd.DataFrame(wide.catchments.drop(columns="geometry")),
                       pd.DataFrame(single.catchments.drop(columns="geometry")))
    assert wide.catchments.geometry.geom_equals_exact(single.catchments.geometry, tolerance=1e-9).all()
    assert set(wide.layers) == set(single.layers)
    for name, layer in single.layers.items():
        assert_frame_equal(pd.DataFrame(wide.layers[name].drop(columns="geometry")),
                           pd.DataFrame(layer.drop(columns="geometry")), obj=name)
        if name == "dissolved":  # one area's union against several areas' pieces joined: the same
            # ground, vertices in another order (square metres)
            a, b = wide.layers[name].to_crs(4546).geometry, layer.to_crs(4546).geometry
            assert (a.symmetric_difference(b).area <= 1e-6 * b.area + 1.0).all(), name
        else:
            assert wide.layers[name].geometry.geom_equals_exact(layer.geometry, tolerance=1e-9).all(), name


class RaiseOnce:
    """Raises on the first attempt at `county` (a marker file remembers across processes)."""

    def __init__(self, marker: Path, county: str, config: RunConfig) -> None:
        self.marker, self.county, self.settings = marker, county, config.settings

    def __call__(self, area: Area) -> Measurement:
        if area.county == self.county and not self.marker.exists():
            self.marker.touch()
            raise RuntimeError(f"injected failure in {area.county}")
        return measure(area, self.settings)


class ExitOnce(RaiseOnce):
    """Kills its worker process on the first attempt at `county`."""

    def __call__(self, area: Area) -> Measurement:
        if area.county == self.county and not self.marker.exists():
            self.marker.touch()
            os._exit(3)
        return measure(area, self.settings)


class AlwaysFail:
    def __call__(self, area: Area) -> Measurement:
        raise RuntimeError(f"no work expected for {area.county}")


def test_failed_part_is_retried(province, cluster, single, tmp_path):
    marker = tmp_path / "raised"
    result = _partitioned(province, cluster, tmp_path / "parts", RaiseOnce(marker, "中县", province[2]))
    assert marker.exists()
    assert_frame_equal(result.villages, single.villages)


def test_killed_worker_neither_loses_nor_duplicates(province, cluster, single, tmp_path):
    marker = tmp_path / "exited"
    result = _partitioned(province, cluster, tmp_path / "parts", ExitOnce(marker, "东县", province[2]))
    assert marker.exists()
    assert_frame_equal(result.villages, single.villages)
    assert sorted(p.name for p in (tmp_path / "parts").glob("*.pkl")) == sorted(
        f"{c}.pkl" for c in COUNTIES)


def test_resume_skips_finished_parts_and_reruns_a_missing_one(province, cluster, merged, single, tmp_path):
    _, parts_dir = merged
    again = _partitioned(province, cluster, parts_dir, AlwaysFail())
    assert again.provenance["partition"]["resumed"] == list(COUNTIES)
    assert_frame_equal(again.villages, single.villages)
    (parts_dir / "中县.sha256").unlink()
    marker = tmp_path / "ran"

    class Count(RaiseOnce):
        def __call__(self, area: Area) -> Measurement:
            if area.county != "中县":
                raise RuntimeError(f"{area.county} should have been skipped")
            return measure(area, self.settings)

    third = _partitioned(province, cluster, parts_dir, Count(marker, "中县", province[2]))
    assert third.provenance["partition"]["resumed"] == ["西县", "东县"]
    assert_frame_equal(third.villages, single.villages)


def test_a_part_whose_inputs_changed_is_not_reused(province, merged):
    project, edges, config = province
    result, parts_dir = merged
    part = next(county_areas(project, edges, config.settings, buffer_m=BUFFER_M))
    changed = next(county_areas(project, edges.iloc[1:], config.settings, buffer_m=BUFFER_M))
    assert part.digest == (parts_dir / f"{part.key}.sha256").read_text().strip()
    assert changed.digest != part.digest
    with (parts_dir / f"{part.key}.pkl").open("rb") as stream:
        assert pickle.load(stream).digest == part.digest


def test_tables_from_cost_pairs_are_province_wide_and_equal_a_single_run(single, wide, merged):
    # The wide buffer covers every facility's 60-minute pairs: capacity, 2SFCA and the ranking are exact.
    assert wide.provenance["partition"]["pairs_exact"]
    assert not merged[0].provenance["partition"]["pairs_exact"]
    for name in ("access_2sfca", "access_2sfca_township", "capacity", "capacity_township", "subcentre_ranking"):
        ours, theirs = wide.summary[name], single.summary[name]
        assert "county" not in ours.columns
        assert_frame_equal(ours.reset_index(drop=True), theirs.reset_index(drop=True), check_exact=False,
                           rtol=1e-9, atol=1e-12, obj=name)
    assert_frame_equal(wide.villages, single.villages)
