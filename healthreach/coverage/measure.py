"""The measuring step of the analysis: everything found by searching one area's road network.

A single run measures one area holding the whole project; a partitioned run measures each county's
area and `combine` joins what each reports about its own villages and facilities. Either way the
result is one `Measurement` about the whole project, which `assess` turns into the analysis result.
"""
from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.config import Settings
from healthreach.coverage import service_areas
from healthreach.coverage.access import village_access
from healthreach.layers.roads.speeds import MODES
from healthreach.coverage.network import Network, build_networks
from healthreach.coverage.pairs import CostPairs, bounded_pairs
from healthreach.coverage.quality import network_qa
from healthreach.coverage.referral import ems_three_tier, referral_times
from healthreach.coverage.services import add_service_access
from healthreach.coverage.subcentres import RADIATED_BANDS_MIN, seat_times
from healthreach.coverage.indices import CATCHMENT_MIN
from healthreach.layers.crs import metric_xy
from healthreach.partition.counties import Area
from healthreach.tiers import CATCHMENT_TIERS, EMS_KINDS, THC_KINDS

Progress = Callable[[str], None]

PER_FACILITY_LAYERS = ("rings", "allocation", "ems_radius", "walk_15min")
"""Catchment layers drawn per facility while measuring (the `dissolved` layer is joined from each
area's piece when assessing)."""


@dataclass(frozen=True)
class Measurement:
    """What the measuring step found, about the whole project's villages and facilities (in order)."""

    villages: gpd.GeoDataFrame
    """Village access table: the villages' columns plus per tier `T_fid`, `T_time_s` (seconds, NaN
    where unreachable), `T_dist_m`, `T_line_m`, the services' columns, `ems_radius_m`, `access_m`, `note`."""
    facilities: gpd.GeoDataFrame
    """Facilities as analysed: their columns plus `access_m` and `note`."""
    seat: pd.DataFrame
    """Per facility: `to_seat_s` (township health centres' driving seconds to the county seat), `seat_hospital`."""
    pairs: CostPairs
    """Drive-toward seconds from villages (targets) to facilities (sources) within each facility's reach
    (`pair_limits_s`): the bounded cost pairs capacity, 2SFCA and the sub-centre ranking are built from."""
    catchments: gpd.GeoDataFrame
    layers: dict[str, gpd.GeoDataFrame]
    """The per-facility catchment layers (PER_FACILITY_LAYERS)."""
    dissolved: gpd.GeoDataFrame
    """Per tier and band, one piece per area: the catchments of its own facilities as one geometry."""
    referral: pd.DataFrame
    chains: pd.DataFrame
    """Three-tier emergency chains, one row per township health centre."""
    network_qa: pd.DataFrame
    network: dict[str, dict[str, int]]
    """Per mode: nodes, directed edges and road segments (summed over areas)."""
    timings: dict[str, float] = field(default_factory=dict)
    """Seconds per step (summed over areas)."""
    label: str = ""
    """The area measured (a county's name in a partitioned run)."""
    village_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    """Position in the whole village table of each row of `villages`."""
    facility_pos: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


def pair_limits_s(settings: Settings) -> tuple[float, float]:
    """Reach (seconds) of the cost pairs: township health centres, then every other facility.

    Township health centres need their capacity band and the sub-centre ranking's radiated bands;
    the others their capacity band (village clinics) and the 2SFCA catchment.
    """
    thc = max(settings.capacity_band_min("township"), max(RADIATED_BANDS_MIN), CATCHMENT_MIN)
    other = max(settings.capacity_band_min("village"), CATCHMENT_MIN)
    return thc * 60.0, other * 60.0


def facility_pairs(net: Network, nv: int, facilities: pd.DataFrame, settings: Settings) -> CostPairs:
    """Drive-toward cost pairs of every facility but the ambulance bases (numbered as `facilities`)
    to the villages (points 0..nv-1 of `net`), each within its reach (`pair_limits_s`)."""
    kinds = facilities["kind"].to_numpy(dtype=object)
    thc = np.isin(kinds, THC_KINDS)
    other = ~thc & ~np.isin(kinds, EMS_KINDS)
    parts = []
    for members, limit in zip((np.flatnonzero(thc), np.flatnonzero(other)), pair_limits_s(settings)):
        found = bounded_pairs(net.reverse_s, net.point_node[nv + members], net.point_node[:nv], limit, xy=net.node_xy)
        parts.append((members[found.source], found.target, found.cost))
    source, target, cost = (np.concatenate(column) for column in zip(*parts))
    # Each group is sorted by (source, cost, target) and holds other facilities: a stable sort by
    # facility keeps that order within each.
    order = np.argsort(source, kind="stable")
    return CostPairs(source=source[order], target=target[order], cost=cost[order],
                     n_sources=len(facilities), n_targets=nv)


def measure(area: Area, settings: Settings, *, progress: Progress | None = None) -> Measurement:
    """Measure one area (see `Area`): only its own villages and facilities are reported, with
    positions of the whole project's tables. `settings.catchment_type` must be settled (not auto)."""
    say = progress or (lambda _msg: None)
    if settings.catchment_type not in ("overlap", "split"):
        raise ValueError(f"catchment_type must be settled before measuring, got {settings.catchment_type!r}")
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(step: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        timings[step] = round(now - clock, 3)
        clock = now

    project, crs = area.project, area.project.crs
    villages, facilities = project.villages, project.facilities
    nv = len(villages)
    village_xy, facility_xy = metric_xy(villages, crs), metric_xy(facilities, crs)
    say("building the drive, walk and ambulance networks")
    networks = build_networks(area.edges, MODES, settings, crs, np.vstack([village_xy, facility_xy]))
    drive = networks["drive"]
    lap("build_networks")
    # The cost pairs' searches are compiled and release the GIL, as do most of the network report's
    # tree queries and array work: they run beside the rest of the step, most of which holds one core.
    _ = drive.reverse_s  # built here, once, before two threads want it
    with ThreadPoolExecutor(max_workers=2) as background:
        pairs_of = background.submit(facility_pairs, drive, nv, facilities, settings)
        qa_of = background.submit(network_qa, area.edges, networks, villages, facilities, settings)
        measured = _search(area, settings, networks, village_xy, facility_xy, say, lap)
        say("network quality report and cost pairs")
        pairs, qa = pairs_of.result(), qa_of.result()
    lap("pairs_wait")
    for net in networks.values():  # each kept search points back at its network: let both go now
        net.searches.clear()
    return _own(dataclasses.replace(measured, pairs=pairs, network_qa=qa), area, timings)


def _search(area: Area, settings: Settings, networks: dict[str, Network], village_xy: np.ndarray,
            facility_xy: np.ndarray, say: Progress, lap: Callable[[str], None]) -> Measurement:
    """Everything the measuring step finds but the cost pairs and the network report (left empty here)."""
    villages, facilities, crs = area.project.villages, area.project.facilities, area.project.crs
    nv, drive = len(villages), networks["drive"]
    say("travel times per tier and service")
    access = village_access(villages, facilities, networks, village_xy, facility_xy, settings)
    access = add_service_access(access, facilities, networks, village_xy, facility_xy)
    lap("village_access")

    drawn = service_areas.draw_catchments(villages, facilities, networks, settings, crs, own=area.own_facilities,
                                          progress=say)
    catch = drawn.catchments
    say("allocated catchments, ambulance radii, walking circles")
    layers = {
        "rings": drawn.rings,
        "allocation": service_areas.allocation(villages, facilities, access, networks, settings, crs,
                                               catchments=catch),
        "ems_radius": service_areas.ems_radius(villages, facilities, networks, settings, crs),
        "walk_15min": service_areas.walk_circles(villages, facilities, networks, settings, crs),
    }
    lap("catchments")

    say("referral and emergency chains")
    analysed = facilities.copy()
    analysed["access_m"] = np.where(drive.point_joined[nv:], np.round(drive.point_access_m[nv:], 1), np.nan)
    analysed["note"] = pd.array(
        ["" if j else f"no road within {settings.max_snap_m:,.0f} m: not joined to the network"
         for j in drive.point_joined[nv:]], dtype="string")
    measured = Measurement(
        villages=access, facilities=analysed, seat=seat_times(facilities, drive, nv=nv),
        pairs=CostPairs(source=np.zeros(0, np.int64), target=np.zeros(0, np.int64), cost=np.zeros(0),
                        n_sources=len(facilities), n_targets=nv),
        catchments=catch, layers=layers, dissolved=drawn.dissolved, referral=referral_times(facilities, drive, nv=nv),
        chains=ems_three_tier(facilities, networks["ambulance"], nv=nv),
        network_qa=pd.DataFrame(),
        network={mode: {"nodes": net.n_nodes, "directed_edges": len(net.edge_from),
                        "road_segments": net.n_segments} for mode, net in networks.items()},
    )
    lap("referral_quality")
    return measured


def _own(m: Measurement, area: Area, timings: dict[str, float]) -> Measurement:
    """The measurement cut to the area's own villages and facilities, renumbered to the whole tables."""
    own_v, own_f = np.flatnonzero(area.own_villages), np.flatnonzero(area.own_facilities)
    fids = area.project.facilities["fid"].astype(str).to_numpy()
    own_fids = set(fids[own_f])
    keep = area.own_facilities[m.pairs.source]
    # Numbered in the whole tables; `combine` sets their sizes.
    pairs = CostPairs(source=area.facility_pos[m.pairs.source[keep]], target=area.village_pos[m.pairs.target[keep]],
                      cost=m.pairs.cost[keep], n_sources=-1, n_targets=-1)
    vids = set(area.project.villages["vid"].astype(str).to_numpy()[own_v])
    qa = m.network_qa
    # Rows about one point stay with the area that owns it; statistics (no id) stay with every area.
    about = (qa["id"] == "") | np.where(qa["feature"] == "village", qa["id"].isin(vids),
                                        np.where(qa["feature"] == "facility", qa["id"].isin(own_fids), True))
    return Measurement(
        villages=m.villages.iloc[own_v], facilities=m.facilities.iloc[own_f], seat=m.seat.iloc[own_f],
        pairs=pairs, catchments=_of(m.catchments, own_fids),
        layers={name: _of(layer, own_fids) for name, layer in m.layers.items()}, dissolved=m.dissolved,
        referral=_of(m.referral, own_fids), chains=m.chains[m.chains["thc_id"].astype(str).isin(own_fids)],
        network_qa=qa[about], network=m.network, timings=timings, label=area.label,
        village_pos=area.village_pos[own_v], facility_pos=area.facility_pos[own_f],
    )


def _of(table: pd.DataFrame, fids: set[str]) -> pd.DataFrame:
    return table[table["fid"].astype(str).isin(fids)] if len(table) else table


def combine(ms: Sequence[Measurement], n_villages: int, n_facilities: int) -> Measurement:
    """One measurement of the whole project from the areas' own rows (each village and facility
    reported by exactly one area), in the whole tables' order."""
    v_pos = np.concatenate([m.village_pos for m in ms])
    f_pos = np.concatenate([m.facility_pos for m in ms])
    for what, pos, n in (("village", v_pos, n_villages), ("facility", f_pos, n_facilities)):
        if len(pos) != n or len(np.unique(pos)) != n:
            raise AssertionError(f"partition: {len(pos)} {what} rows for {n} {what} "
                                 f"({len(pos) - len(np.unique(pos))} duplicated)")
    v_order, f_order = np.argsort(v_pos, kind="stable"), np.argsort(f_pos, kind="stable")
    fid_pos = dict(zip(np.concatenate([m.facilities["fid"].astype(str).to_numpy() for m in ms]), f_pos))
    source = np.concatenate([m.pairs.source for m in ms])
    target = np.concatenate([m.pairs.target for m in ms])
    cost = np.concatenate([m.pairs.cost for m in ms])
    order = np.argsort(source, kind="stable")  # each facility's pairs come from one area, in order
    # With several areas each quality row says which county's roads it is about.
    qa = pd.concat([m.network_qa.assign(county=m.label) if len(ms) > 1 else m.network_qa for m in ms],
                   ignore_index=True)
    return Measurement(
        villages=_rows([m.villages for m in ms], v_order), facilities=_rows([m.facilities for m in ms], f_order),
        seat=pd.concat([m.seat for m in ms]).iloc[f_order],
        pairs=CostPairs(source=source[order], target=target[order], cost=cost[order], n_sources=n_facilities,
                        n_targets=n_villages),
        catchments=_by_facility([m.catchments for m in ms], fid_pos, tiers=True),
        layers={name: _by_facility([m.layers[name] for m in ms], fid_pos, tiers=name == "rings")
                for name in ms[0].layers},
        dissolved=pd.concat([m.dissolved for m in ms], ignore_index=True),
        referral=_by_facility([m.referral for m in ms], fid_pos),
        chains=_by_facility([m.chains.rename(columns={"thc_id": "fid"}) for m in ms], fid_pos).rename(
            columns={"fid": "thc_id"}),
        network_qa=qa,
        network={mode: {key: sum(m.network[mode][key] for m in ms) for key in ms[0].network[mode]}
                 for mode in ms[0].network},
        timings={step: round(sum(m.timings.get(step, 0.0) for m in ms), 3) for step in ms[0].timings},
        label=ms[0].label if len(ms) == 1 else "", village_pos=np.arange(n_villages), facility_pos=np.arange(n_facilities),
    )


def _rows(frames: list[pd.DataFrame], order: np.ndarray) -> gpd.GeoDataFrame:
    """Per-area rows in the whole table's order; service columns only some areas have are filled NA."""
    widest = max(frames, key=lambda f: f.shape[1])
    columns = list(widest.columns)
    for frame in frames:
        columns += [c for c in frame.columns if c not in columns]
    merged = pd.concat([f.reindex(columns=columns) for f in frames]).iloc[order]
    return gpd.GeoDataFrame(merged, geometry=frames[0].geometry.name, crs=frames[0].crs)


def _by_facility(frames: list[pd.DataFrame], fid_pos: dict[str, int], *, tiers: bool = False) -> pd.DataFrame:
    """Per-facility rows of every area in a single run's order: by tier (catchments), then facility."""
    frames = [f for f in frames if len(f)] or frames[:1]
    merged = pd.concat(frames, ignore_index=True)
    if not len(merged):
        return merged
    keys = [merged["fid"].astype(str).map(fid_pos).to_numpy(dtype=np.int64)]
    if tiers:
        keys.append(merged["tier"].map({t: i for i, t in enumerate(CATCHMENT_TIERS)}).fillna(99).to_numpy())
    merged = merged.iloc[np.lexsort(keys)].reset_index(drop=True)  # the last key sorts first; stable
    like = frames[0]
    return gpd.GeoDataFrame(merged, geometry=like.geometry.name, crs=like.crs) if isinstance(like, gpd.GeoDataFrame) \
        else merged
