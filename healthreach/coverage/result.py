"""The result of one analysis: what maps, exports and comparisons read."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import geopandas as gpd
import pandas as pd

from healthreach.coverage.pairs import CostPairs


@dataclass(frozen=True)
class AnalysisResult:
    """Village access, catchments and standards checks for one project or scenario.

    All geometries are WGS84 (EPSG:4326). Times are seconds, distances metres, populations persons.
    """

    project_name: str
    villages: gpd.GeoDataFrame
    """One row per village: `vid`, `name`, `population`, `township`, `setting`, `access_m`, `note`
    and per tier T: `T_fid`, `T_time_s` (NaN where unreachable), `T_dist_m`, `T_line_m`."""
    facilities: gpd.GeoDataFrame
    """Facilities as analysed: `fid`, `name`, `kind`, `beds`, `doctors`, `nurses`, `ambulances`,
    `township`, `services`, `access_m`, `note`."""
    catchments: gpd.GeoDataFrame
    """One row per facility and band: `fid`, `name`, `kind`, `tier`, `mode`, `band_min`,
    `population`, `villages`, polygon geometry (disks: a band includes the smaller ones)."""
    roads: gpd.GeoDataFrame
    """Road lines for the offline basemap: `highway`, `name`, LineString geometry."""
    boundaries: gpd.GeoDataFrame | None
    """County/township polygons with `name`, `level` ('county' or 'township'), or None."""
    standards: pd.DataFrame
    """One row per rule x scope: `rule_id`, `scope`, `scope_id`, `scope_name`, `value`, `target`,
    `unit`, `passed`, `source`, `note`."""
    summary: dict[str, pd.DataFrame] = field(default_factory=dict)
    """Tables by name, e.g. 'county' and 'township': population and share within each band."""
    provenance: dict[str, Any] = field(default_factory=dict)
    """Inputs with hashes, parameters, versions and timings (written as run.json)."""
    pairs: CostPairs | None = None
    """The bounded cost pairs (drive-toward seconds from villages to facilities, by position in the
    tables) behind capacity, 2SFCA and the sub-centre ranking. Not exported."""
    layers: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)
    """Further catchment layers by name (e.g. 'rings', 'allocation', 'dissolved', 'ems_radius',
    'walk_15min'): written as layers of catchments.gpkg."""
    edges: gpd.GeoDataFrame | None = None
    """The full road edge table the analysis ran on (`u`, `v`, `highway`, `maxspeed_kmh`, `oneway`,
    `length_m`, WGS84 lines): the coverage map packs it for its in-page what-if tool. Not exported."""
    crs: str | None = None
    """The project's metric CRS (metres) the networks were built in."""
