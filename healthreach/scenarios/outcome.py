"""What a comparison produces for one scenario: its analysis and its differences from the baseline."""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from healthreach.coverage.result import AnalysisResult


@dataclass(frozen=True)
class ScenarioOutcome:
    """One scenario run on the baseline's network, with its comparison tables."""

    name: str
    title: str
    result: AnalysisResult
    table: pd.DataFrame
    """compare_tables rows: scope x tier x band, population and times before and after."""
    deltas: pd.DataFrame
    """village_deltas rows: per village and tier, seconds before, after and saved."""
    standards_changes: pd.DataFrame
    """Standards rows whose pass/fail changed."""
