"""A thin wrapper around HiGHS (through ``scipy.optimize.milp``) for the siting models."""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.optimize import Bounds, LinearConstraint, milp

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class MilpOutcome:
    """What HiGHS returned, always in the minimisation sense of the model it was given."""

    x: np.ndarray | None
    """Best feasible point found, or None."""
    dual_bound: float
    """Proven lower bound on the minimum (``-inf`` when HiGHS proved nothing)."""
    status: str
    """'optimal', 'time_limit', 'infeasible' or 'error'."""


def run_milp(
    c: np.ndarray,
    matrix: sp.csr_matrix,
    row_lo: np.ndarray,
    row_hi: np.ndarray,
    col_lo: np.ndarray,
    col_hi: np.ndarray,
    integrality: np.ndarray,
    *,
    time_limit_s: float,
    mip_gap: float,
) -> MilpOutcome:
    """Minimise ``c @ x`` subject to ``row_lo <= matrix @ x <= row_hi`` and column bounds.

    ``time_limit_s`` is wall-clock seconds for HiGHS; ``mip_gap`` its relative stopping gap.
    scipy's HiGHS is used rather than highspy because highspy prints a banner to stdout
    whenever a solver object is created, which would corrupt command-line output.
    """
    constraints = [LinearConstraint(matrix, row_lo, row_hi)] if matrix.shape[0] else []
    res = milp(
        c=c,
        constraints=constraints,
        integrality=integrality,
        bounds=Bounds(col_lo, col_hi),
        options={"time_limit": max(time_limit_s, 0.01), "mip_rel_gap": mip_gap, "presolve": True},
    )
    logger.debug("HiGHS: status %s, %s", res.status, res.message)
    x = None if res.x is None else np.asarray(res.x, dtype=float)
    bound = getattr(res, "mip_dual_bound", None)
    dual_bound = -math.inf if bound is None or not np.isfinite(bound) else float(bound)
    if res.status == 0:
        if not np.isfinite(dual_bound) and x is not None:
            dual_bound = float(c @ x)
        return MilpOutcome(x, dual_bound, "optimal")
    if res.status == 1:
        return MilpOutcome(x, dual_bound, "time_limit")
    if res.status == 2:
        return MilpOutcome(None, math.inf, "infeasible")
    return MilpOutcome(x, dual_bound, "error")
