"""Siting on the road network: candidates, network cost matrix, solver, and the answer as a scenario."""
from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
import shapely
import yaml

from healthreach._errors import InputError, UsageError
from healthreach.config import Settings
from healthreach.coverage.access import tier_mask
from healthreach.coverage.network import Network, build_networks
from healthreach.coverage.pairs import bounded_pairs
from healthreach.coverage.traveltime import nearest
from healthreach.layers.crs import metric_xy
from healthreach.tiers import KIND_TABLE, KIND_TIER, TIERS, normalise_kind
from healthreach.scenarios.optimize import (
    CostMatrix,
    Solution,
    cost_matrix_from_pairs,
    solve_lscp,
    solve_mclp,
    solve_pmedian,
)


GRID_STEP_M = (100.0, 100_000.0)
"""Smallest and largest spacing (metres) of grid candidates."""


@dataclass(frozen=True)
class Candidates:
    """Candidate sites: WGS84 points, and for existing facilities their fid (else '')."""

    points: gpd.GeoDataFrame
    """Columns `fid` (existing facility or ''), `name`, `fixed` (bool: already of the target tier)."""


def candidate_sites(project, spec: str, kind: str, settings: Settings, *, allow_none: bool = False) -> Candidates:
    """Candidate sites from `existing:KIND`, `villages`, `grid:METRES` or a point file.

    Facilities already in the target kind's tier are added as fixed (already chosen) sites. For
    sub-centres the SUBCENTRE-CRITERIA exclusion applies: no candidate in the county-seat township
    (the township of a county hospital). No candidate at all is an error unless `allow_none`.
    """
    facilities, villages = project.facilities, project.villages
    tier = KIND_TIER[kind]
    frames = []
    if spec.startswith("existing:"):
        source_kind = normalise_kind(spec.split(":", 1)[1])
        if source_kind is None:
            raise UsageError(f"--candidates {spec}: unknown kind (expected one of {', '.join(KIND_TIER)})")
        pool = facilities[facilities["kind"] == source_kind]
        if kind == "subcentre":
            seat = set(facilities.loc[facilities["kind"].isin(TIERS["hospital"].kinds), "township"].dropna())
            pool = pool[~pool["township"].isin(seat)]
        frames.append(gpd.GeoDataFrame({"fid": pool["fid"], "name": pool["name"]}, geometry=pool.geometry))
    elif spec == "villages":
        frames.append(gpd.GeoDataFrame({"fid": "", "name": villages["name"]}, geometry=villages.geometry))
    elif spec.startswith("grid:"):
        frames.append(_grid(project, grid_step(spec)))
    else:
        frames.append(_point_file(Path(spec)))
    fixed = facilities[tier_mask(facilities, tier)]
    frames.append(gpd.GeoDataFrame({"fid": fixed["fid"], "name": fixed["name"]}, geometry=fixed.geometry))
    points = pd.concat(frames, ignore_index=True)
    points["fixed"] = np.r_[np.zeros(len(points) - len(fixed), bool), np.ones(len(fixed), bool)]
    points["fid"] = points["fid"].fillna("")
    # An existing facility that is already of the tier is a fixed site, not also a candidate.
    points = points[(points["fid"] == "") | ~points.duplicated("fid", keep="last")].reset_index(drop=True)
    if not allow_none and not (~points["fixed"]).any():
        what = (f"the project has no {spec.split(':', 1)[1]} facility" if spec.startswith("existing:")
                else "no candidate site")
        raise UsageError(f"--candidates {spec}: {what} to choose from (expected existing:KIND of a kind the "
                         "project has, villages, grid:METRES or a point file)")
    return Candidates(gpd.GeoDataFrame(points, geometry="geometry", crs="EPSG:4326"))


def _grid(project, step: float) -> gpd.GeoDataFrame:
    metric = project.villages.geometry.to_crs(project.crs)
    area = (project.boundaries.to_crs(project.crs).union_all() if project.boundaries is not None
            else metric.union_all().convex_hull.buffer(step))
    x0, y0, x1, y1 = area.bounds
    xs, ys = np.meshgrid(np.arange(x0 + step / 2, x1, step), np.arange(y0 + step / 2, y1, step))
    pts = shapely.points(xs.ravel(), ys.ravel())
    pts = pts[shapely.contains(area, pts)]
    grid = gpd.GeoSeries(pts, crs=project.crs).to_crs("EPSG:4326")
    return gpd.GeoDataFrame({"fid": "", "name": [f"grid {i + 1}" for i in range(len(grid))]}, geometry=grid)


def grid_step(spec: str) -> float:
    """Spacing (metres) of `grid:METRES`: a finite number from GRID_STEP_M."""
    try:
        step = float(spec.split(":", 1)[1])
    except ValueError:
        step = math.nan
    if not (math.isfinite(step) and GRID_STEP_M[0] <= step <= GRID_STEP_M[1]):
        raise UsageError(f"--candidates {spec}: expected grid:METRES with {GRID_STEP_M[0]:g} to "
                         f"{GRID_STEP_M[1]:g} metres, e.g. grid:2000")
    return step


def candidate_file(spec: str) -> Path | None:
    """The point file `--candidates` names (None for existing:KIND, villages and grid:METRES), every
    form checked: usage errors for an unknown kind, a bad grid spacing, a missing file or a folder."""
    if spec.startswith("existing:"):
        if normalise_kind(spec.split(":", 1)[1]) is None:
            raise UsageError(f"--candidates {spec}: unknown kind (expected one of {', '.join(KIND_TIER)})")
        return None
    if spec == "villages":
        return None
    if spec.startswith("grid:"):
        grid_step(spec)
        return None
    path = Path(spec)
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "file not found"
        raise UsageError(f"--candidates {spec}: {what} (expected existing:KIND, villages, grid:METRES or a point "
                         "file)")
    return path


def _point_file(path: Path) -> gpd.GeoDataFrame:
    candidate_file(str(path))
    try:
        if path.suffix.lower() == ".csv":
            table = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
            if not {"lon", "lat"} <= set(table.columns):
                raise InputError(f"{path}: candidate CSV needs columns lon and lat (WGS84); has {list(table.columns)} "
                                 "(expected lon and lat in decimal degrees)")
            lon, lat = (pd.to_numeric(table[c].str.strip(), errors="coerce").to_numpy(float) for c in ("lon", "lat"))
            bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
            if bad.any():
                rows = ", ".join(str(i + 2) for i in np.flatnonzero(bad)[:10])
                raise InputError(f"{path}: rows {rows}, fields lon/lat: not a longitude/latitude (expected decimal "
                                 "degrees, -180..180 and -90..90, in every row)")
            frame = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
        else:
            frame = gpd.read_file(path).to_crs("EPSG:4326")
    except InputError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: cannot read candidate sites ({exc}); expected a point layer or a CSV with "
                         "columns lon and lat") from exc
    usable = frame.geometry.notna() & ~frame.geometry.is_empty
    if not usable.all() or not frame.geom_type.eq("Point").all():
        rows = ", ".join(str(i + 1) for i in np.flatnonzero(~(usable & frame.geom_type.eq("Point")))[:10])
        raise InputError(f"{path}: features {rows}: not a point (expected a point per candidate site)")
    if not len(frame):
        raise InputError(f"{path}: no candidate sites (expected at least one point)")
    names = frame["name"].astype(str) if "name" in frame else [f"site {i + 1}" for i in range(len(frame))]
    return gpd.GeoDataFrame({"fid": "", "name": names}, geometry=frame.geometry.to_numpy(), crs="EPSG:4326")


@dataclass(frozen=True)
class SitingNetworks:
    """The networks siting searches: villages, then candidate sites, then hospitals joined as points."""

    networks: dict[str, Network]
    nv: int
    ns: int

    def nodes(self, mode: str, what: str) -> np.ndarray:
        """Graph nodes of the villages, sites or hospitals in `mode`."""
        net = self.networks[mode]
        span = {"villages": slice(0, self.nv), "sites": slice(self.nv, self.nv + self.ns),
                "hospitals": slice(self.nv + self.ns, None)}[what]
        return net.point_node[span]


def siting_networks(project, edges: gpd.GeoDataFrame, candidates: Candidates, kind: str,
                    settings: Settings) -> SitingNetworks:
    """The drive network and the network of `kind`'s tier, with villages, sites and hospitals joined."""
    hospitals = project.facilities.geometry[tier_mask(project.facilities, "hospital")]
    frames = [project.villages.geometry, candidates.points.geometry, hospitals]
    xy = np.vstack([metric_xy(g, project.crs) for g in frames])
    modes = tuple(dict.fromkeys(("drive", TIERS[KIND_TIER[kind]].mode)))
    return SitingNetworks(build_networks(edges, modes, settings, project.crs, xy), len(project.villages),
                          len(candidates.points))


def far_from_seat(nets: SitingNetworks, candidates: Candidates, min_s: float) -> Candidates:
    """Drop candidates within `min_s` seconds' drive of the nearest county hospital (SUBCENTRE-CRITERIA:
    sub-centres are meant for places far from the county seat). Fixed sites are kept."""
    hospitals = nets.nodes("drive", "hospitals")
    if min_s <= 0 or not len(hospitals):
        return candidates
    points = candidates.points
    seconds = nearest(nets.networks["drive"], hospitals, toward=True).cost[nets.nodes("drive", "sites")]
    keep = points["fixed"].to_numpy() | (seconds >= min_s)
    if not (keep & ~points["fixed"].to_numpy()).any():
        raise UsageError(f"--min-from-seat {min_s / 60:g}: no candidate is that far from a county hospital")
    return Candidates(points[keep].reset_index(drop=True))


def demand_minutes(spec: str) -> float | None:
    """MIN of `--demand radiated:MIN` (finite, 0 to a day), None for `population`; usage error otherwise."""
    if spec == "population":
        return None
    minutes = math.nan
    if spec.startswith("radiated:"):
        try:
            minutes = float(spec.split(":", 1)[1])
        except ValueError:
            pass
    if not (math.isfinite(minutes) and 0 <= minutes <= 1440):
        raise UsageError(f"--demand {spec}: expected population or radiated:MIN with MIN minutes from 0 to 1440, "
                         "e.g. radiated:30")
    return minutes


def demand_weights(project, nets: SitingNetworks, spec: str) -> np.ndarray:
    """Persons each village counts for in the objective.

    `population` (default): every resident. `radiated:MIN`: only residents more than MIN minutes'
    drive from any hospital — the "radiated population" a sub-centre is meant to serve
    (SUBCENTRE-CRITERIA, used as weights rather than as a constraint).
    """
    population = project.villages["population"].to_numpy(dtype=float)
    minutes = demand_minutes(spec)
    if minutes is None:
        return population
    hospitals = nets.nodes("drive", "hospitals")
    if not len(hospitals):
        return population
    seconds = nearest(nets.networks["drive"], hospitals, toward=True).cost[nets.nodes("drive", "villages")]
    return np.where(seconds > minutes * 60.0, population, 0.0)  # unreachable (inf) counts as far


def cost_matrix(nets: SitingNetworks, kind: str, limit_s: float) -> sp.csr_matrix:
    """Travel seconds (villages x sites) on the network of `kind`'s tier within `limit_s`, as sparse
    pairs: a stored entry (zero included) is a reachable pair, a missing one is beyond the limit."""
    tier = TIERS[KIND_TIER[kind]]
    net = nets.networks[tier.mode]
    graph = net.reverse_s if tier.toward else net.csr_s
    found = bounded_pairs(graph, nets.nodes(tier.mode, "sites"), nets.nodes(tier.mode, "villages"), limit_s,
                          xy=net.node_xy)
    return cost_matrix_from_pairs(found.target, found.source, found.cost, (nets.nv, nets.ns))


def solve(problem: str, cost: CostMatrix, population: np.ndarray, *, k: int | None, band_s: float,
          fixed: np.ndarray, time_limit_s: float, mip_gap: float = 0.0) -> Solution:
    """Run the chosen model; `k` counts new sites (fixed ones come on top)."""
    fixed_idx = np.flatnonzero(fixed)
    if problem in ("mclp", "pmedian"):
        if k is None or k < 1:
            raise UsageError(f"--problem {problem} needs --k N (the number of new sites, at least 1)")
        if k > int((~fixed).sum()):
            raise UsageError(f"--k {k}: only {int((~fixed).sum())} candidate sites")
        total = k + len(fixed_idx)
        if problem == "mclp":
            return solve_mclp(cost, population, k=total, band_s=band_s, fixed=fixed_idx, time_limit_s=time_limit_s,
                              mip_gap=mip_gap)
        return solve_pmedian(cost, population, k=total, fixed=fixed_idx, time_limit_s=time_limit_s, mip_gap=mip_gap)
    if problem == "lscp":
        return solve_lscp(cost, population, band_s=band_s, fixed=fixed_idx, time_limit_s=time_limit_s,
                          mip_gap=mip_gap)
    raise UsageError(f"--problem {problem}: expected mclp, lscp or pmedian")


def solution_scenario(solution: Solution, candidates: Candidates, kind: str, *, problem: str,
                      base: str, band_min: float) -> dict:
    """The chosen new sites as a scenario document: `upgrade` existing ones, `add` new points."""
    changes = []
    points = candidates.points
    for n, i in enumerate(c for c in solution.chosen if not points["fixed"].iat[c]):
        row = points.iloc[i]
        if row["fid"]:
            changes.append({"upgrade": {"fid": str(row["fid"]), "kind": kind}})
        else:
            changes.append({"add": {
                "fid": f"OPT{n + 1}", "name": f"{row['name']} 新{KIND_TABLE[kind].zh}",
                "kind": kind, "lon": round(float(row.geometry.x), 6), "lat": round(float(row.geometry.y), 6),
                "crs": "wgs84", **({"ambulances": 1} if kind.startswith("ems") else {}),
            }})
    return {
        "name": f"optimized-{problem}-{kind}".replace("_", "-"),
        "title": f"{problem.upper()} {kind} ({band_min:g} min band): solver choice",
        "base": base,
        "changes": changes,
    }


def not_served(solution: Solution, villages: pd.DataFrame, weights: np.ndarray) -> tuple[int, int, str]:
    """Villages with residents (weight > 0) no chosen site serves — beyond the band (mclp, lscp), or in a
    part of the network the sites do not reach (pmedian) — their persons, and a note naming those no
    candidate reaches at all (at most 10)."""
    left = (np.asarray(weights) > 0) & ~solution.covered
    never = np.zeros(len(left), dtype=bool)
    never[solution.unreachable] = True
    never &= left
    note = ""
    if never.any():
        names = villages["name"].astype(str).to_numpy()[never]
        listed = "、".join(names[:10]) + (f" and {len(names) - 10} more" if len(names) > 10 else "")
        reach = "within the band" if solution.problem != "pmedian" else "by road"
        note = f"{int(never.sum())} villages no candidate site reaches {reach}: {listed}"
    return int(left.sum()), int(round(float(np.asarray(weights)[left].sum()))), note


def solution_table(solution: Solution, candidates: Candidates, villages: pd.DataFrame, weights: np.ndarray
                   ) -> pd.DataFrame:
    """optimize.csv: one row per chosen site with the run's objective, bound, gap and solver time, and
    the villages (and persons, as weighted) no chosen site serves (`not_served_*`, `note`)."""
    points = candidates.points
    left, persons, note = not_served(solution, villages, weights)
    rows = []
    for i in solution.chosen:
        row = points.iloc[i]
        rows.append({"candidate": int(i), "fid": row["fid"], "name": row["name"],
                     "lon": round(float(row.geometry.x), 6), "lat": round(float(row.geometry.y), 6),
                     "fixed": bool(row["fixed"]), "also_greedy": bool(i in set(solution.greedy_chosen)),
                     "problem": solution.problem, "objective": solution.objective, "bound": solution.bound,
                     "gap": solution.gap, "status": solution.status, "solve_s": round(solution.solve_s, 3),
                     "greedy_objective": solution.greedy_objective, "not_served_villages": left,
                     "not_served_persons": persons, "note": note})
    return pd.DataFrame(rows)


def unique_new_ids(changes: list[dict], taken: set[str]) -> list[dict]:
    """The changes with every added site's fid made unique: not an existing facility's, nor another
    added site's (OPT1 stays OPT1 unless the project has one; then OPT1-2, ...)."""
    used = set(taken)
    out = []
    for change in changes:
        if "add" in change:
            fid, number = str(change["add"]["fid"]), 2
            base = fid
            while fid in used:
                fid, number = f"{base}-{number}", number + 1
            change = {"add": {**change["add"], "fid": fid}}
            used.add(fid)
        out.append(change)
    return out


def scenario_yaml(document: dict) -> str:
    """YAML text of a scenario document (Chinese kept readable)."""
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)
