"""Catchment variants on hand-built networks: allocation split, rings, radii, per-facility bands."""
from __future__ import annotations

from dataclasses import replace

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from healthreach.coverage import service_areas
from healthreach.coverage.access import village_access
from healthreach.coverage.allocation import allocated_pieces
from healthreach.coverage.network import build_network
from healthreach.config import Settings
from healthreach.layers.project import Project, RoadsSource
from healthreach.coverage.traveltime import bounded_costs, nearest
from netfixtures import CRS, edge_table, xy

S = Settings()


def _points(coords: list[tuple[float, float]]) -> gpd.GeoSeries:
    return gpd.GeoSeries(shapely.points(xy(coords)), crs=CRS).to_crs("EPSG:4326")


def _layers(facility_xy, village_xy, *, kinds, setting="rural", band_min=None, radius_m=None, ambulances=None):
    n = len(facility_xy)
    facilities = gpd.GeoDataFrame({
        "fid": [f"F{i}" for i in range(n)], "name": [f"站{i}" for i in range(n)], "kind": kinds,
        "beds": pd.array([0] * n, dtype="Int64"), "doctors": pd.array([1] * n, dtype="Int64"),
        "nurses": pd.array([0] * n, dtype="Int64"),
        "ambulances": pd.array(ambulances or [0] * n, dtype="Int64"), "township": ["甲"] * n,
        "services": [""] * n, "vid": [""] * n, "band_min": band_min or [""] * n,
        "radius_m": pd.array(radius_m or [None] * n, dtype="Float64")}, geometry=_points(facility_xy))
    villages = gpd.GeoDataFrame({
        "vid": [f"V{i}" for i in range(len(village_xy))], "name": [f"村{i}" for i in range(len(village_xy))],
        "population": pd.array([100] * len(village_xy), dtype="Int64"), "township": ["甲"] * len(village_xy),
        "setting": [setting] * len(village_xy)}, geometry=_points(village_xy))
    return facilities, villages


def _networks(edges, villages, facilities, settings=S):
    pts = np.vstack([xy([(0, 0)])[:0], _xy(villages), _xy(facilities)])
    return {m: build_network(edges, m, settings, CRS, pts) for m in ("drive", "walk", "ambulance")}


def _xy(frame):
    g = frame.geometry.to_crs(CRS)
    return np.column_stack([g.x, g.y])


@pytest.mark.parametrize("second, split", [(2000.0, 1000.0), (1500.0, 750.0)])
def test_allocation_splits_a_two_way_road_where_times_are_equal(second, split):
    edges = edge_table([[(0, 0), (2000, 0)]])
    net = build_network(edges, "drive", S, CRS, xy([(0, 0), (second, 0)]))
    near = nearest(net, net.point_node[[0, 1]])
    pieces, owner = allocated_pieces(net, near, 3600.0)
    road = [p for p in pieces if p.length > 0]
    first = sum(p.length for p, o in zip(pieces, owner) if o == 0)
    other = sum(p.length for p, o in zip(pieces, owner) if o == 1)
    assert first == pytest.approx(split, abs=0.01)
    assert other == pytest.approx(2000.0 - split, abs=0.01)
    assert shapely.union_all(road).length == pytest.approx(2000.0, abs=0.01)


def test_allocation_of_a_one_way_road_follows_the_direction_of_travel():
    edges = edge_table([[(0, 0), (2000, 0)]], oneway=True)
    net = build_network(edges, "drive", S, CRS, xy([(0, 0), (2000, 0)]))
    near = nearest(net, net.point_node[[0, 1]])
    pieces, owner = allocated_pieces(net, near, 3600.0)
    # Every point of the road drives on toward x = 2000: all of it belongs to the second facility.
    assert sum(p.length for p, o in zip(pieces, owner) if o == 1) == pytest.approx(2000.0, abs=0.01)
    assert sum(p.length for p, o in zip(pieces, owner) if o == 0) == pytest.approx(0.0, abs=0.01)


def test_allocation_is_cut_at_the_band():
    edges = edge_table([[(0, 0), (4000, 0)]])
    net = build_network(edges, "drive", S, CRS, xy([(0, 0)]))
    near = nearest(net, net.point_node[[0]])
    pieces, _ = allocated_pieces(net, near, 90.0)  # 1,000 m at 40 km/h
    assert sum(p.length for p in pieces) == pytest.approx(1000.0, abs=0.01)


def test_rings_partition_the_largest_disk_and_facility_bands_override():
    edges = edge_table([[(0, 0), (20000, 0)]], highway="tertiary")
    facilities, villages = _layers([(0, 0), (20000, 0)], [(1000, 50), (10000, 50)],
                                   kinds=["township_hc", "township_hc"], band_min=["5;10", ""])
    networks = _networks(edges, villages, facilities)
    catch = service_areas.catchments(villages, facilities, networks, S, CRS)
    assert list(catch.loc[catch["fid"] == "F0", "band_min"]) == [5.0, 10.0]
    assert list(catch.loc[catch["fid"] == "F1", "band_min"]) == [15.0, 30.0, 45.0, 60.0]
    rings = service_areas.rings(catch, CRS).to_crs(CRS)
    disks = catch.to_crs(CRS)
    for fid in ("F0", "F1"):
        r = rings[rings["fid"] == fid]
        largest = disks[disks["fid"] == fid].sort_values("band_min").geometry.iloc[-1]
        assert r.geometry.area.sum() == pytest.approx(largest.area, rel=1e-6)
        assert shapely.union_all(r.geometry.to_numpy()).symmetric_difference(largest).area < 1.0
    # 5 minutes at 40 km/h is 3,333 m of road: the village 1 km away is in, the one at 10 km is not.
    f0 = catch[(catch["fid"] == "F0") & (catch["band_min"] == 5.0)].iloc[0]
    assert f0["villages"] == 1 and f0["population"] == 100


def test_ems_radius_urban_rural_and_override():
    edges = edge_table([[(0, 0), (30000, 0)]], highway="secondary")
    for setting, expected in (("urban", [5000.0]), ("rural", [10000.0, 20000.0])):
        facilities, villages = _layers([(0, 0)], [(100, 10)], kinds=["ems_station"], setting=setting,
                                       ambulances=[1])
        radius = service_areas.ems_radius(villages, facilities, _networks(edges, villages, facilities), S, CRS)
        assert list(radius["radius_m"]) == expected
        reach = radius.to_crs(CRS).geometry.iloc[-1]
        # The polygon reaches along the road to the radius (plus the buffer) and no farther.
        far = xy([(expected[-1] + S.catchment_buffer_m + 50, 0)])[0]
        near = xy([(expected[-1] - 50, 0)])[0]
        assert reach.contains(shapely.Point(near)) and not reach.contains(shapely.Point(far))
    facilities, villages = _layers([(0, 0)], [(100, 10)], kinds=["ems_station"], ambulances=[1],
                                   radius_m=[7000.0])
    radius = service_areas.ems_radius(villages, facilities, _networks(edges, villages, facilities), S, CRS)
    assert list(radius["radius_m"]) == [7000.0]


def test_walk_circle_and_allocation_layer_on_a_small_town():
    lines = [[(0, 0), (3000, 0)], [(1500, 0), (1500, 1500)]]
    edges = edge_table(lines, highway="residential")
    facilities, villages = _layers([(0, 0), (3000, 0), (1500, 1500)], [(500, 20), (2900, 20), (1500, 900)],
                                   kinds=["community_station", "township_hc", "township_hc"], setting="urban")
    # The side street shares no node with the main one: a piece of its own, which F2's village uses
    # (with island joins it would be left for the main street, 900 m away).
    networks = _networks(edges, villages, facilities, replace(S, small_component_size=1))
    access = village_access(villages, facilities, networks, _xy(villages), _xy(facilities), S)
    walk = service_areas.walk_circles(villages, facilities, networks, S, CRS)
    assert list(walk["fid"]) == ["F0"] and walk["villages"].iat[0] == 1  # 1,000 m in 15 min at 4 km/h
    alloc = service_areas.allocation(villages, facilities, access, networks, S, CRS)
    assert list(alloc["fid"]) == ["F1", "F2"]
    # Villages are allocated to their nearest township centre and counted there.
    assert list(alloc["villages"]) == [2, 1]
    dissolved = service_areas.dissolved(service_areas.catchments(villages, facilities, networks, S, CRS),
                                        access, CRS)
    assert set(dissolved["tier"]) == {"township"}
    assert dissolved["population"].is_monotonic_increasing


SPLIT = Settings(catchment_type="split")
AUTO = Settings(catchment_type="auto")


def resolve(edges, villages, facilities, settings):
    """The catchment type a run on these layers would settle on."""
    project = Project(name="t", path=Path("t.yml"), crs=CRS, facilities=facilities, villages=villages,
                      boundaries=None, roads=RoadsSource(path=Path("roads.geojson"), format="lines"))
    return service_areas.resolve_catchment_type(project, edges, settings)


def _town_grid(n_fac: int, seed: int, *, own_bands: bool = False):
    rng = np.random.default_rng(seed)
    lines = [[(i * 600.0, j * 600.0), (i * 600.0 + 600.0 * di, j * 600.0 + 600.0 * (1 - di))]
             for i in range(11) for j in range(11) for di in (0, 1) if (i, j)[1 - di] < 10]
    edges = edge_table(lines, highway=list(rng.choice(["tertiary", "residential", "track"], len(lines))))
    fxy = [tuple(rng.uniform(0, 6000, 2)) for _ in range(n_fac)]
    vxy = [tuple(rng.uniform(0, 6000, 2)) for _ in range(60)]
    facilities, villages = _layers(fxy, vxy, kinds=["township_hc"] * n_fac,
                                   band_min=["4;8" if own_bands else ""] + [""] * (n_fac - 1), ambulances=[1] * n_fac)
    return edges, facilities, villages


def test_split_catchments_count_each_village_once_and_do_not_overlap():
    edges, facilities, villages = _town_grid(4, 8, own_bands=True)
    networks = _networks(edges, villages, facilities)
    assert resolve(edges, villages, facilities, SPLIT) == "split"
    assert resolve(edges, villages, facilities, AUTO) == "overlap"
    catch = service_areas.catchments(villages, facilities, networks, SPLIT, CRS)
    overlap = service_areas.catchments(villages, facilities, networks, S, CRS)
    # The same rows as overlapping catchments, the first facility with its own bands.
    assert list(catch[["fid", "band_min"]].itertuples(index=False)) == \
        list(overlap[["fid", "band_min"]].itertuples(index=False))
    assert list(catch.loc[catch["fid"] == "F0", "band_min"]) == [4.0, 8.0]

    edges, facilities, villages = _town_grid(4, 8)
    networks = _networks(edges, villages, facilities)
    access = village_access(villages, facilities, networks, _xy(villages), _xy(facilities), SPLIT)
    catch = service_areas.catchments(villages, facilities, networks, SPLIT, CRS)
    overlap = service_areas.catchments(villages, facilities, networks, S, CRS)
    times = access["township_time_s"].to_numpy(dtype=float)
    metric = catch.to_crs(CRS)
    vpoints = shapely.points(_xy(villages))
    for band, rows in metric.groupby("band_min"):
        # Each village within the band is counted once, for its nearest facility ...
        within = times <= band * 60 + 1e-6
        assert rows["villages"].sum() == int(within.sum()) > 0
        for fid, count in zip(rows["fid"], rows["villages"]):
            assert count == int(((access["township_fid"] == fid) & (times <= band * 60 + 1e-6)).sum())
        # ... lies inside the split polygons, which do not overlap one another.
        union = shapely.union_all(rows.geometry.dropna().to_numpy())
        assert union.buffer(1e-6).contains(vpoints[within]).all()
        assert rows.geometry.area.sum() == pytest.approx(union.area, rel=1e-9)
        # Split areas cover what the overlapping ones reach (up to the raster's reach beyond the buffer).
        whole = shapely.union_all(overlap.to_crs(CRS)[overlap["band_min"] == band].geometry.dropna().to_numpy())
        assert whole.difference(union.buffer(S.catchment_buffer_m)).area == pytest.approx(0.0, abs=1.0)
    # The allocation layer is the split catchments at the largest band.
    alloc = service_areas.allocation(villages, facilities, access, networks, SPLIT, CRS, catchments=catch)
    again = service_areas.allocation(villages, facilities, access, networks, SPLIT, CRS)
    assert list(alloc["villages"]) == list(again["villages"])
    assert alloc.geometry.to_crs(CRS).symmetric_difference(again.geometry.to_crs(CRS)).area.max() < 1e-3
    exact = service_areas.allocation(villages, facilities, access, networks, S, CRS)
    assert list(alloc["villages"]) == list(exact["villages"])


@pytest.mark.parametrize("own_bands", [False, True])
def test_split_rings_and_dissolved_traced_from_the_raster_equal_the_polygon_overlay(own_bands):
    """Split areas trace rings and the dissolved layer from their raster; the same ground as
    differencing and unioning the split catchment polygons with GEOS (square metres)."""
    edges, facilities, villages = _town_grid(4, 8, own_bands=own_bands)
    networks = _networks(edges, villages, facilities)
    own = np.array([True, True, False, True])
    drawn = service_areas.draw_catchments(villages, facilities, networks, SPLIT, CRS, own=own)
    catch = drawn.catchments.to_crs(CRS)
    overlay = service_areas.rings(drawn.catchments, CRS).to_crs(CRS)
    traced = drawn.rings.to_crs(CRS)
    assert list(traced[["fid", "band_from_min", "band_min"]].itertuples(index=False)) == \
        list(overlay[["fid", "band_from_min", "band_min"]].itertuples(index=False))
    for a, b in zip(traced.geometry, overlay.geometry):
        assert (a is None or a.is_empty) == (b is None or b.is_empty)
        if a is not None and not a.is_empty:
            assert a.is_valid and a.symmetric_difference(b).area <= 1e-6 * b.area + 1.0
    mine = catch[catch["fid"].isin(list(facilities["fid"][own]))]
    pieces = drawn.dissolved.to_crs(CRS)
    assert sorted(pieces["band_min"]) == sorted(mine["band_min"].unique())
    for band, piece in zip(pieces["band_min"], pieces.geometry):
        union = shapely.union_all(mine[mine["band_min"] == band].geometry.dropna().to_numpy())
        assert piece.is_valid and piece.symmetric_difference(union).area <= 1e-6 * union.area + 1.0
    # Leaving a facility out takes its ground out of the pieces.
    assert pieces.area.max() < catch[catch["band_min"] == catch["band_min"].max()].area.sum() - 1.0


def test_split_ambulance_radii_split_bases_that_share_radii():
    edges, facilities, villages = _town_grid(3, 9)
    networks = _networks(edges, villages, facilities)
    split = service_areas.ems_radius(villages, facilities, networks, SPLIT, CRS)
    overlap = service_areas.ems_radius(villages, facilities, networks, S, CRS)
    assert sorted(split["radius_m"]) == sorted(overlap["radius_m"])
    for radius in (10000.0, 20000.0):
        rows = split[split["radius_m"] == radius]
        # Every village is within 10 km of road of some base on this 6 km town grid, counted once.
        assert rows["villages"].sum() == len(villages)
        metric = rows.to_crs(CRS).geometry
        assert metric.area.sum() == pytest.approx(shapely.union_all(metric.to_numpy()).area, rel=1e-9)


def test_auto_catchments_are_split_where_overlapping_ones_would_cost_too_much(monkeypatch):
    edges, facilities, villages = _town_grid(4, 8)
    networks = _networks(edges, villages, facilities)
    assert resolve(edges, villages, facilities, AUTO) == "overlap"
    assert resolve(edges, villages, facilities, SPLIT) == "split"
    assert resolve(edges, villages, facilities, S) == "overlap"
    # Every band of the four facilities' catchments and of their ambulance radii (rural: 10 and 20 km),
    # counted here from whole cost matrices.
    nv, drive, amb = len(villages), networks["drive"], networks["ambulance"]
    reach = bounded_costs(drive, drive.point_node[nv:], 3600.0)[:, drive.edge_to]
    radius = bounded_costs(amb, amb.point_node[nv:], 20000.0, toward=False, weight="length")[:, amb.edge_from]
    pieces = (sum(int((reach <= b * 60.0).sum()) for b in S.bands_min)
              + int((radius <= 10000.0).sum()) + int((radius <= 20000.0).sum()))
    assert pieces > 4 * len(drive.edge_to)
    monkeypatch.setattr(service_areas, "SPLIT_ABOVE_PIECES", pieces - 1)
    assert resolve(edges, villages, facilities, AUTO) == "split"
    monkeypatch.setattr(service_areas, "SPLIT_ABOVE_PIECES", pieces)
    assert resolve(edges, villages, facilities, AUTO) == "overlap"
    # A road network of more junctions than SPLIT_ABOVE_NODES (this grid has 121) is split unsearched.
    monkeypatch.setattr(service_areas, "SPLIT_ABOVE_NODES", 120)
    assert resolve(edges, villages, facilities, AUTO) == "split"
    monkeypatch.setattr(service_areas, "SPLIT_ABOVE_NODES", 121)
    assert resolve(edges, villages, facilities, AUTO) == "overlap"
