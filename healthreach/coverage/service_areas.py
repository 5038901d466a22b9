"""Catchments (service areas) as ArcGIS Network Analyst users expect them.

- per facility and band, as disks (a band includes the smaller ones) — `catchments`;
- the same as rings (each band minus the smaller one) — `rings`;
- dissolved per tier and band — `dissolved`;
- split by nearest facility (which facility each piece of road and each village belongs to) — `allocation`;
- the ambulance radius by network distance from each ambulance base, 5 km urban and 10/20 km rural —
  `ems_radius`; and the 15-minute walking circle of community stations — `walk_15min`.

A facility's own `band_min` (minutes, e.g. "10;20") or `radius_m` replaces the defaults for it.
Population and village counts come from network times, not from the polygons.

The catchments and ambulance radii are drawn "overlap" (one exact polygon per facility) or "split"
(each facility's own area, all of a tier from one search; see `split_areas`), by the setting
`catchment_type`; at province scale only split is affordable. Split ambulance radii are split among
the bases that share the same radii. In split mode a facility's population is that of the villages
it is nearest for, within the band.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from healthreach.coverage.allocation import allocated_pieces
from healthreach.coverage.catchments import catchment_polygon, reached_lines
from healthreach.coverage.network import Network, build_networks
from healthreach.coverage.rule_inputs import radius_bases
from healthreach.config import Settings
from healthreach.coverage.split_areas import SplitAreas, split_areas
from healthreach.coverage.traveltime import bounded_cost_blocks, nearest
from healthreach.tiers import TIERS
from healthreach.coverage.access import tier_mask
from healthreach.layers.crs import metric_xy
from healthreach.layers.project import Project
from healthreach.layers.roads.speeds import segment_speeds_kmh

Progress = Callable[[str], None]
_EPS = 1e-6
COLUMNS = ["fid", "name", "kind", "tier", "mode", "band_min", "population", "villages"]
RING_COLUMNS = ["fid", "name", "kind", "tier", "mode", "band_from_min", "band_min"]
DISSOLVED_COLUMNS = ["tier", "mode", "band_min"]
SPLIT_ABOVE_NODES = 200_000
"""With `catchment_type: auto`, drive networks with more nodes than this get split catchments."""
SPLIT_ABOVE_PIECES = 200_000
"""... and so do smaller ones where the overlapping polygons would buffer and dissolve more reached
road pieces than this in all (a dense town grid: minutes of GEOS work per county)."""


def resolve_catchment_type(project: Project, edges: gpd.GeoDataFrame, settings: Settings) -> str:
    """'overlap' or 'split': the setting, or for 'auto' what the roads' size and density afford.

    Decided once per run, before any analysis, so that a partitioned run and every scenario draw the
    same kind. Split when the drive network has more than SPLIT_ABOVE_NODES junctions (a province);
    otherwise counts the road pieces the overlapping catchments and ambulance radii would buffer and
    dissolve, band by band: one bounded search per facility (milliseconds on a county), where the
    polygons would take some 40 microseconds per piece."""
    if settings.catchment_type != "auto":
        return settings.catchment_type
    drivable = np.isfinite(segment_speeds_kmh(edges, "drive", settings))
    junctions = len(np.unique(np.concatenate([edges["u"].to_numpy()[drivable], edges["v"].to_numpy()[drivable]])))
    if junctions > SPLIT_ABOVE_NODES:
        return "split"
    villages, facilities = project.villages, project.facilities
    xy = np.vstack([metric_xy(villages, project.crs), metric_xy(facilities, project.crs)])
    modes = tuple(dict.fromkeys([*(TIERS[t].mode for t in settings.catchment_tiers), "ambulance"]))
    networks = build_networks(edges, modes, settings, project.crs, xy)
    nv, pieces = len(villages), 0
    bands = facility_bands(facilities, settings.bands_min)
    work = []
    for tier in settings.catchment_tiers:
        members = np.flatnonzero(tier_mask(facilities, tier))
        limits = [[b * 60.0 for b in bands[f]] for f in members]
        work.append((networks[TIERS[tier].mode], members, True, "time", limits))
    bases = np.flatnonzero(tier_mask(facilities, "ems"))
    if len(bases):
        work.append((networks["ambulance"], bases, False, "length", _radii(villages, facilities, bases, settings,
                                                                       project.crs)))
    for net, members, toward, weight, limits in work:
        if not len(members):
            continue
        ends = net.edge_to if toward else net.edge_from
        longest = max(max(own) for own in limits)
        for row, cost in _cost_rows(net, net.point_node[nv + members], longest, toward=toward, weight=weight):
            reached = np.sort(cost[ends][np.isfinite(cost[ends])])
            pieces += int(np.searchsorted(reached, np.asarray(limits[row]) + _EPS, side="right").sum())
            if pieces > SPLIT_ABOVE_PIECES:
                return "split"
    return "overlap"


def _cost_rows(net: Network, sources: np.ndarray, limit: float, *, toward: bool = True,
               weight: str = "time") -> Iterator[tuple[int, np.ndarray]]:
    """(position in `sources`, cost row) per source, searched a block at a time so that memory stays
    bounded however many facilities a province has."""
    start = 0
    for block in bounded_cost_blocks(net, sources, limit, toward=toward, weight=weight):
        for offset, row in enumerate(block):
            yield start + offset, row
        start += len(block)


def _nested_polygons(net: Network, cost: np.ndarray, limits: list[float], *, toward: bool, weight: str,
                     buffer_m: float) -> list:
    """One polygon per limit (ascending), each containing the previous one."""
    out, previous = [], None
    for limit in limits:
        polygon = catchment_polygon(reached_lines(net, cost, limit, toward=toward, weight=weight), buffer_m)
        # The buffers' polygonal caps differ by metres between bands; the union keeps disks nested.
        if previous is not None:
            polygon = previous if polygon is None else shapely.union(polygon, previous)
        out.append(polygon)
        previous = polygon
    return out


def facility_bands(facilities: pd.DataFrame, default: tuple[int, ...]) -> list[list[float]]:
    """Bands (minutes) of each facility: its own `band_min` where given, else the project's."""
    own = facilities["band_min"] if "band_min" in facilities else pd.Series([""] * len(facilities))
    return [sorted(float(b) for b in str(text).split(";")) if isinstance(text, str) and text else
            [float(b) for b in default] for text in own]


def catchments(villages: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, networks: dict[str, Network],
               settings: Settings, crs: str, *, progress: Progress | None = None) -> gpd.GeoDataFrame:
    """Disks per facility of the catchment tiers and per band (WGS84), overlapping or split."""
    nv = len(villages)
    pop = villages["population"].to_numpy(dtype=float)
    bands = facility_bands(facilities, settings.bands_min)
    rows, geoms = [], []
    if settings.catchment_type == "split":
        for tier in settings.catchment_tiers:
            members = np.flatnonzero(tier_mask(facilities, tier))
            if len(members) and progress:
                progress(f"catchments: {len(members)} {tier} facilities, split")
            _split_rows(rows, geoms, facilities, members, networks[TIERS[tier].mode], nv, pop,
                        [[b * 60.0 for b in bands[f]] for f in members], settings.catchment_buffer_m,
                        toward=True, weight="time", row=lambda f, limit, p, n, t=tier: _row(
                            facilities, f, t, limit / 60.0, p, n))
        return _frame(rows, geoms, crs)
    for tier in settings.catchment_tiers:
        net = networks[TIERS[tier].mode]
        members = np.flatnonzero(tier_mask(facilities, tier))
        if not len(members):
            continue
        if progress:
            progress(f"catchments: {len(members)} {tier} facilities")
        longest = max(max(bands[f]) for f in members) * 60.0
        for row, cost in _cost_rows(net, net.point_node[nv + members], longest):
            f = members[row]
            vcost = cost[net.point_node[:nv]]
            limits = [b * 60.0 for b in bands[f]]
            polygons = _nested_polygons(net, cost, limits, toward=True, weight="time",
                                        buffer_m=settings.catchment_buffer_m)
            for band, limit, polygon in zip(bands[f], limits, polygons):
                inside = vcost <= limit + _EPS
                rows.append(_row(facilities, f, tier, band, pop[inside].sum(), inside.sum()))
                geoms.append(polygon)
    return _frame(rows, geoms, crs)


@dataclass(frozen=True)
class Drawn:
    """The catchment layers of one area (WGS84)."""

    catchments: gpd.GeoDataFrame
    """Per facility and band: its disk (see `catchments`)."""
    rings: gpd.GeoDataFrame
    """Per facility and band: the disk less the facility's next smaller one (see `rings`)."""
    dissolved: gpd.GeoDataFrame
    """Per tier and band: the disks of the facilities `own` marks as one geometry (`tier`, `mode`,
    `band_min`); `dissolved` joins the pieces of several areas and counts the residents."""


def draw_catchments(villages: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, networks: dict[str, Network],
                    settings: Settings, crs: str, *, own: np.ndarray | None = None,
                    progress: Progress | None = None) -> Drawn:
    """Catchments, their rings and their dissolved pieces. Split areas are traced from their raster
    (rings and unions cost no polygon overlay); overlapping ones go through GEOS."""
    own = np.ones(len(facilities), dtype=bool) if own is None else np.asarray(own, dtype=bool)
    if settings.catchment_type != "split":
        catch = catchments(villages, facilities, networks, settings, crs, progress=progress)
        mine = catch[catch["fid"].astype(str).isin(set(facilities["fid"].astype(str).to_numpy()[own]))]
        groups = list(mine.to_crs(crs).groupby(["tier", "band_min"], sort=True))
        pieces = _frame([{"tier": t, "mode": TIERS[t].mode, "band_min": float(b)} for (t, b), _ in groups],
                        [shapely.union_all(g.geometry.dropna().to_numpy()) for _, g in groups], crs, DISSOLVED_COLUMNS)
        return Drawn(catch, rings(catch, crs), pieces)
    nv = len(villages)
    pop = villages["population"].to_numpy(dtype=float)
    bands = facility_bands(facilities, settings.bands_min)
    rows, geoms, ring_rows, ring_geoms, piece_rows, piece_geoms = [], [], [], [], [], []
    for tier in settings.catchment_tiers:
        members = np.flatnonzero(tier_mask(facilities, tier))
        if len(members) and progress:
            progress(f"catchments: {len(members)} {tier} facilities, split")
        limits = [[b * 60.0 for b in bands[f]] for f in members]
        drawn = _split_rows(rows, geoms, facilities, members, networks[TIERS[tier].mode], nv, pop, limits,
                            settings.catchment_buffer_m, toward=True, weight="time", row=lambda f, limit, p, n, t=tier:
                            _row(facilities, f, t, limit / 60.0, p, n))
        if drawn is None:
            continue
        areas, every = drawn
        traced: dict[tuple[int, int], dict[int, shapely.Geometry]] = {}
        for position, f in enumerate(members):
            lower, start = -1, 0.0
            for limit in limits[position]:
                upper = every.index(limit)
                if (lower, upper) not in traced:
                    traced[(lower, upper)] = areas.rings_of(lower, upper)
                ring_rows.append({**_row(facilities, f, tier, 0.0, 0.0, 0), "band_from_min": start,
                                  "band_min": limit / 60.0})
                ring_geoms.append(traced[(lower, upper)].get(position))
                lower, start = upper, limit / 60.0
        for k, limit in enumerate(every):
            # A facility counts in band k when the band is one of its own (a facility's own bands).
            keep = own[members] & np.array([limit in own_limits for own_limits in limits], dtype=bool)
            if keep.any():
                piece_rows.append({"tier": tier, "mode": TIERS[tier].mode, "band_min": limit / 60.0})
                piece_geoms.append(areas.dissolved_of(k, keep))
    return Drawn(_frame(rows, geoms, crs), _frame(ring_rows, ring_geoms, crs, RING_COLUMNS),
                 _frame(piece_rows, piece_geoms, crs, DISSOLVED_COLUMNS))


def _split_rows(rows: list[dict], geoms: list, facilities: pd.DataFrame, members: np.ndarray, net: Network,
                nv: int, pop: np.ndarray, limits: list[list[float]], buffer_m: float, *, toward: bool, weight: str,
                row: Callable[[int, float, float, int], dict]) -> tuple[SplitAreas, list[float]] | None:
    """Append a row and polygon per member and limit (seconds or metres): the member's split area.
    Returns the split areas and the limits they were drawn for (ascending), or None without members."""
    if not len(members):
        return None
    near = nearest(net, net.point_node[nv + members], toward=toward, weight=weight)
    every = sorted({b for own in limits for b in own})
    areas = split_areas(net, near, every, buffer_m, toward=toward, weight=weight)
    vsrc, vcost = near.source[net.point_node[:nv]], near.cost[net.point_node[:nv]]
    people, count = np.zeros((len(every), len(members))), np.zeros((len(every), len(members)), dtype=np.int64)
    for k, limit in enumerate(every):
        inside = (vsrc >= 0) & (vcost <= limit + _EPS)
        people[k] = np.bincount(vsrc[inside], weights=pop[inside], minlength=len(members))
        count[k] = np.bincount(vsrc[inside], minlength=len(members))
    for position, f in enumerate(members):
        for limit in limits[position]:
            k = every.index(limit)
            rows.append(row(f, limit, people[k, position], count[k, position]))
            geoms.append(areas.own[k].get(position))
    return areas, every


def _row(facilities: pd.DataFrame, f: int, tier: str, band: float, population: float, count: int) -> dict:
    return {"fid": facilities["fid"].iat[f], "name": facilities["name"].iat[f], "kind": facilities["kind"].iat[f],
            "tier": tier, "mode": TIERS[tier].mode, "band_min": float(band), "population": int(population),
            "villages": int(count)}


def _frame(rows: list[dict], geoms: list, crs: str, columns: list[str] = COLUMNS) -> gpd.GeoDataFrame:
    table = gpd.GeoDataFrame(pd.DataFrame(rows, columns=columns), geometry=list(geoms), crs=crs)
    return table.to_crs("EPSG:4326")


def rings(catchments: gpd.GeoDataFrame, crs: str) -> gpd.GeoDataFrame:
    """Each band minus the facility's next smaller band (`band_from_min` to `band_min`)."""
    columns = [*RING_COLUMNS, "geometry"]
    if not len(catchments):
        return gpd.GeoDataFrame(columns=columns, geometry="geometry", crs="EPSG:4326")
    metric = catchments.to_crs(crs)
    # Facilities in their order of appearance, each's bands ascending: one vectorised difference.
    group = pd.factorize(pd.MultiIndex.from_frame(metric[["fid", "tier"]].astype(str)))[0]
    order = np.lexsort((metric["band_min"].to_numpy(dtype=float), group))
    ordered = metric.iloc[order].reset_index(drop=True)
    geoms = ordered.geometry.to_numpy()
    first = np.r_[True, group[order][1:] != group[order][:-1]]
    previous = np.r_[None, geoms[:-1]]
    previous[first] = None
    ring = geoms.copy()
    both = ~first & ~shapely.is_missing(geoms) & ~shapely.is_missing(previous)
    ring[both] = shapely.difference(geoms[both], previous[both])
    bands = ordered["band_min"].to_numpy(dtype=float)
    frame = gpd.GeoDataFrame(
        {**{c: ordered[c].to_numpy() for c in ("fid", "name", "kind", "tier", "mode")},
         "band_from_min": np.where(first, 0.0, np.r_[0.0, bands[:-1]]), "band_min": bands},
        geometry=gpd.GeoSeries(ring, crs=crs), crs=crs)
    return frame[columns].to_crs("EPSG:4326")


def dissolved(pieces: gpd.GeoDataFrame, access: pd.DataFrame, crs: str) -> gpd.GeoDataFrame:
    """Catchments (or areas' dissolved pieces, `Drawn.dissolved`) joined per tier and band; population =
    residents within the band of the tier (persons)."""
    metric = pieces.to_crs(crs)
    pop = access["population"].to_numpy(dtype=float)
    rows, geoms = [], []
    for (tier, band), group in metric.groupby(["tier", "band_min"], sort=True):
        times = access[f"{tier}_time_s"].to_numpy(dtype=float)
        inside = np.isfinite(times) & (times <= band * 60 + _EPS)
        rows.append({"tier": tier, "mode": TIERS[tier].mode, "band_min": float(band),
                     "population": int(pop[inside].sum()), "villages": int(inside.sum())})
        parts = group.geometry.dropna().to_numpy()
        # One area's piece is already whole; a union of one raster-traced multipolygon would only cost time.
        geoms.append(parts[0] if len(parts) == 1 else shapely.union_all(parts) if len(parts) else None)
    return _frame(rows, geoms, crs, [*DISSOLVED_COLUMNS, "population", "villages"])


def allocation(villages: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, access: pd.DataFrame,
               networks: dict[str, Network], settings: Settings, crs: str, *, tier: str = "township",
               catchments: gpd.GeoDataFrame | None = None) -> gpd.GeoDataFrame:
    """Area of each facility of `tier` split by nearest facility, within the largest band.

    In split mode the split `catchments` of that band are the answer when they hold every facility.
    """
    nv = len(villages)
    net = networks[TIERS[tier].mode]
    members = np.flatnonzero(tier_mask(facilities, tier))
    if not len(members):
        return _frame([], [], crs)
    band = max(settings.bands_min) * 60.0
    if settings.catchment_type == "split":
        if catchments is not None:
            same = catchments[(catchments["tier"] == tier) & (catchments["band_min"] == band / 60)]
            if sorted(same["fid"]) == sorted(facilities["fid"].iloc[members]):
                return same.reset_index(drop=True)
        rows: list[dict] = []
        geoms: list = []
        _split_rows(rows, geoms, facilities, members, net, nv, access["population"].to_numpy(dtype=float),
                    [[band]] * len(members), settings.catchment_buffer_m, toward=True, weight="time",
                    row=lambda f, limit, p, n: _row(facilities, f, tier, limit / 60.0, p, n))
        return _frame(rows, geoms, crs)
    near = nearest(net, net.point_node[nv + members], toward=True)
    pieces, owner = allocated_pieces(net, near, band)
    pop = access["population"].to_numpy(dtype=float)
    times = access[f"{tier}_time_s"].to_numpy(dtype=float)
    fids = access[f"{tier}_fid"].fillna("").to_numpy(dtype=object)
    rows, geoms = [], []
    for position, f in enumerate(members):
        mine = [p for p, o in zip(pieces, owner) if o == position]
        inside = (fids == facilities["fid"].iat[f]) & np.isfinite(times) & (times <= band + _EPS)
        rows.append(_row(facilities, f, tier, band / 60, pop[inside].sum(), inside.sum()))
        geoms.append(catchment_polygon(mine, settings.catchment_buffer_m))
    return _frame(rows, geoms, crs)


def _settings_of(facilities: gpd.GeoDataFrame, villages: gpd.GeoDataFrame, crs: str) -> np.ndarray:
    """Urban or rural for each facility: the setting of its nearest village or community."""
    if len(villages) == 0:
        return np.array(["rural"] * len(facilities))
    vxy = villages.geometry.to_crs(crs)
    fxy = facilities.geometry.to_crs(crs)
    tree = shapely.STRtree(vxy.to_numpy())
    nearest_village = tree.query_nearest(fxy.to_numpy(), all_matches=False)[1]
    return villages["setting"].to_numpy()[nearest_village]


def _radii(villages: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, members: np.ndarray, settings: Settings,
           crs: str) -> list[list[float]]:
    """Radii (metres) of each ambulance base in `members`: its own `radius_m`, else urban or rural."""
    setting = _settings_of(facilities, villages, crs)
    own = facilities["radius_m"] if "radius_m" in facilities else pd.Series([np.nan] * len(facilities))
    urban = [settings.rule("EMS-RADIUS-URBAN").value]
    rural = [settings.rule("EMS-RADIUS-RURAL-10KM").value, settings.rule("EMS-RADIUS-RURAL").value]
    return [[float(own.iat[f])] if pd.notna(own.iat[f]) else (urban if setting[f] == "urban" else rural)
            for f in members]


def ems_radius(villages: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, networks: dict[str, Network],
               settings: Settings, crs: str) -> gpd.GeoDataFrame:
    """Ambulance radius by network distance from each ambulance base (EMS-RADIUS-URBAN/-RURAL).

    Urban bases get the urban radius (5 km); rural ones the 10 km figure and the 20 km upper bound;
    a facility's own `radius_m` replaces these. Column `radius_m` holds the radius.
    """
    nv = len(villages)
    net = networks["ambulance"]
    members = radius_bases(facilities, settings, np.flatnonzero(tier_mask(facilities, "ems")))  # rule EMS-BASES
    if not len(members):
        return _frame([], [], crs, [*COLUMNS, "radius_m"])
    radii = _radii(villages, facilities, members, settings, crs)
    pop = villages["population"].to_numpy(dtype=float)
    rows, geoms = [], []
    if settings.catchment_type == "split":
        for group in sorted({tuple(r) for r in radii}):
            mine = [i for i, r in enumerate(radii) if tuple(r) == group]
            _split_rows(rows, geoms, facilities, members[mine], net, nv, pop, [list(group)] * len(mine),
                        settings.catchment_buffer_m, toward=False, weight="length",
                        row=lambda f, limit, p, n: {**_row(facilities, f, "ems", np.nan, p, n), "radius_m": limit})
        return _frame(rows, geoms, crs, [*COLUMNS, "radius_m"])
    rows_of = _cost_rows(net, net.point_node[nv + members], max(max(r) for r in radii), toward=False,
                         weight="length")
    for row, cost in rows_of:
        f = members[row]
        vcost = cost[net.point_node[:nv]]
        polygons = _nested_polygons(net, cost, radii[row], toward=False, weight="length",
                                    buffer_m=settings.catchment_buffer_m)
        for radius, polygon in zip(radii[row], polygons):
            inside = vcost <= radius + _EPS
            rows.append({**_row(facilities, f, "ems", np.nan, pop[inside].sum(), inside.sum()), "radius_m": radius})
            geoms.append(polygon)
    return _frame(rows, geoms, crs, [*COLUMNS, "radius_m"])


def walk_circles(villages: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, networks: dict[str, Network],
                 settings: Settings, crs: str) -> gpd.GeoDataFrame:
    """The 15-minute walking circle (URBAN-15MIN) of every community health facility: overlapping, or
    split by nearest facility as the catchments are (`settings.catchment_type`)."""
    nv = len(villages)
    net = networks["walk"]
    members = np.flatnonzero(tier_mask(facilities, "community"))
    minutes = settings.rule("URBAN-15MIN").value
    if not len(members):
        return _frame([], [], crs)
    pop = villages["population"].to_numpy(dtype=float)
    rows, geoms = [], []
    buffer_m = min(settings.catchment_buffer_m, 100.0)
    if settings.catchment_type == "split":
        _split_rows(rows, geoms, facilities, members, net, nv, pop, [[minutes * 60.0]] * len(members), buffer_m,
                    toward=True, weight="time",
                    row=lambda f, limit, p, n: _row(facilities, f, "community", limit / 60.0, p, n))
        return _frame(rows, geoms, crs)
    rows_of = _cost_rows(net, net.point_node[nv + members], minutes * 60.0)
    for row, cost in rows_of:
        f = members[row]
        (polygon,) = _nested_polygons(net, cost, [minutes * 60.0], toward=True, weight="time", buffer_m=buffer_m)
        inside = cost[net.point_node[:nv]] <= minutes * 60.0 + _EPS
        rows.append(_row(facilities, f, "community", minutes, pop[inside].sum(), inside.sum()))
        geoms.append(polygon)
    return _frame(rows, geoms, crs)
