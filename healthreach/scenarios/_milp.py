"""A thin wrapper around HiGHS (highspy) for the siting models.

The caller's best solution is handed to HiGHS as its starting incumbent: HiGHS's own heuristics find far
worse ones on covering models (on a 3,000 x 500 maximal covering with k = 30 its incumbent after 60 s
covered 1.33 M persons where the swap search had 1.59 M), and its relative gap, hence its stop at
`mip_rel_gap`, is measured against its incumbent.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import highspy
import numpy as np
import scipy.sparse as sp

logger = logging.getLogger(__name__)


class _QuietHighs(highspy.Highs):
    """HiGHS with its console output off before anything is printed.

    `highspy.Highs()` prints a banner to stdout while it sets up its callbacks, which would corrupt the
    command line's output; switching output off first (in the method its constructor calls) keeps it silent.
    """

    def enableCallbacks(self) -> None:
        self.setOptionValue("output_flag", False)
        super().enableCallbacks()


@dataclass(frozen=True)
class MilpOutcome:
    """What HiGHS returned, always in the minimisation sense of the model it was given."""

    x: np.ndarray | None
    """Best feasible point found (the start, if HiGHS found nothing better), or None."""
    dual_bound: float
    """Proven lower bound on the minimum (``-inf`` when HiGHS proved nothing)."""
    status: str
    """'optimal' (within `mip_gap`), 'time_limit', 'infeasible' or 'error'."""


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
    start: np.ndarray | None = None,
) -> MilpOutcome:
    """Minimise ``c @ x`` subject to ``row_lo <= matrix @ x <= row_hi`` and column bounds.

    ``integrality`` is 1 for integer columns, 0 for continuous ones; ``time_limit_s`` is wall-clock
    seconds for HiGHS; it stops as soon as its gap (incumbent against proven bound, relative to the
    incumbent) is within ``mip_gap``. ``start``, a feasible point, is its first incumbent.
    """
    n_col = len(c)
    matrix = sp.csr_matrix(matrix)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n_col, matrix.shape[0]
    lp.col_cost_ = np.asarray(c, dtype=float)
    lp.col_lower_, lp.col_upper_ = np.asarray(col_lo, dtype=float), np.asarray(col_hi, dtype=float)
    inf = highspy.kHighsInf
    lp.row_lower_ = np.where(np.isfinite(row_lo), row_lo, -inf).astype(float)
    lp.row_upper_ = np.where(np.isfinite(row_hi), row_hi, inf).astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = n_col, matrix.shape[0]
    lp.a_matrix_.start_ = matrix.indptr.astype(np.int32)
    lp.a_matrix_.index_ = matrix.indices.astype(np.int32)
    lp.a_matrix_.value_ = matrix.data.astype(float)
    kinds = (highspy.HighsVarType.kContinuous, highspy.HighsVarType.kInteger)
    lp.integrality_ = [kinds[int(i)] for i in integrality]

    highs = _QuietHighs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", float(max(time_limit_s, 0.01)))
    highs.setOptionValue("mip_rel_gap", float(mip_gap))
    highs.passModel(lp)
    if start is not None:
        solution = highspy.HighsSolution()
        solution.col_value = np.asarray(start, dtype=float).tolist()
        solution.value_valid = True
        highs.setSolution(solution)
    highs.run()
    status = highs.getModelStatus()
    info = highs.getInfo()
    logger.debug("HiGHS: %s, objective %s, bound %s, gap %s", highs.modelStatusToString(status),
                 info.objective_function_value, info.mip_dual_bound, info.mip_gap)
    has_x = info.primal_solution_status == highspy.kSolutionStatusFeasible
    x = np.asarray(highs.getSolution().col_value, dtype=float) if has_x else None
    dual_bound = float(info.mip_dual_bound) if np.isfinite(info.mip_dual_bound) else -math.inf
    if status == highspy.HighsModelStatus.kOptimal:
        if not np.isfinite(dual_bound) and x is not None:
            dual_bound = float(np.dot(c, x))
        return MilpOutcome(x, dual_bound, "optimal")
    if status == highspy.HighsModelStatus.kTimeLimit:
        return MilpOutcome(x, dual_bound, "time_limit")
    if status == highspy.HighsModelStatus.kInfeasible:
        return MilpOutcome(None, math.inf, "infeasible")
    return MilpOutcome(x, dual_bound, "error")
