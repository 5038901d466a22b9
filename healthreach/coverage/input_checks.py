"""The checks of `healthreach validate` that need the road network: points far from any road,
points on road islands, undeclared GCJ-02 layers — as rows of the validation report."""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from healthreach.layers.roads.speeds import MODES
from healthreach.coverage.network import build_networks
from healthreach.coverage.quality import network_qa
from healthreach.config import Settings
from healthreach.layers.crs import metric_xy
from healthreach.layers.validate import PROBLEM_COLUMNS

# QA checks that are about a place in an input layer (the rest describe the road data as a whole).
_POINT_CHECKS = {"not_joined", "long_snap", "island", "gcj02_offset"}
_SUGGESTIONS = {
    "not_joined": "check the coordinates (and the layer's crs:), or add the missing road",
    "long_snap": "check the coordinates; the access leg is charged at walking speed",
    "island": "connect the road island to the network, or check the point",
    "gcj02_offset": "set crs: gcj02 for this layer (Amap/Tencent coordinates)",
}


def _severity(check: str, feature: str, group: pd.DataFrame) -> str:
    # A village off the network is a fact the analysis reports (unreachable, with the reason); a
    # facility off the network silently serves nobody, so it stops the run.
    if feature == "facility" and check == "not_joined":
        return "error"
    return "warning"


def network_problems(project: Any, edges: pd.DataFrame, settings: Settings) -> pd.DataFrame:
    """Validation rows (PROBLEM_COLUMNS) for villages and facilities, from the network quality report."""
    villages, facilities = project.villages, project.facilities
    points = np.vstack([metric_xy(villages, project.crs), metric_xy(facilities, project.crs)])
    networks = build_networks(edges, MODES, settings, project.crs, points)
    qa = network_qa(edges, networks, villages, facilities, settings)
    qa = qa[qa["check"].isin(_POINT_CHECKS) & qa["severity"].isin(["warning", "error"])]
    files = {"village": project.inputs.get("villages"), "facility": project.inputs.get("facilities")}
    ids = {"village": list(villages["vid"]), "facility": list(facilities["fid"])}
    rows = []
    # The same point appears once per travel mode; the report names it once with the modes listed.
    for (check, feature, ident), group in qa.groupby(["check", "feature", "id"], sort=False, dropna=False):
        path = files.get(feature)
        position = ids.get(feature, []).index(ident) + 1 if ident in ids.get(feature, []) else None
        modes = ", ".join(sorted(set(group["mode"].dropna().astype(str)) - {""}))
        message = group["message"].iat[0] + (f" (modes: {modes})" if modes else "")
        rows.append({"file": path.name if path is not None else str(feature), "row": position,
                     "id": "" if ident is None else str(ident), "field": "geometry",
                     "severity": _severity(check, feature, group),
                     "problem": message, "suggestion": _SUGGESTIONS.get(check, "")})
    table = pd.DataFrame(rows, columns=PROBLEM_COLUMNS)
    table["row"] = table["row"].astype("Int64")
    return table
