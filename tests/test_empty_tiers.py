"""Every tier may be empty before or after a scenario: comparisons line up the services either side has."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from healthreach._errors import InputError
from healthreach.scenarios.compare import compare_tables, village_deltas


def _villages(stroke: list[float] | None) -> pd.DataFrame:
    table = pd.DataFrame({
        "vid": ["V1", "V2", "V3"], "name": ["甲", "乙", "丙"], "population": [100, 200, 300],
        "township": ["A", "A", "B"], "hospital_fid": ["H1", "H1", "H1"],
        "hospital_time_s": [600.0, 1200.0, 2400.0],
    })
    if stroke is not None:
        table["stroke_fid"] = pd.array(["H1", "H1", None], dtype="string")
        table["stroke_time_s"] = stroke
    return table


def test_a_service_closed_by_the_scenario_is_unreachable_after() -> None:
    # The last stroke centre closes: the scenario's table has no stroke columns at all.
    base, scen = _villages([600.0, 1800.0, np.nan]), _villages(None)
    table = compare_tables(base, scen, scenario_name="close", bands_min=(15, 30))
    county = table[(table["scope"] == "county") & (table["tier"] == "stroke")].set_index("band_min")
    assert county.loc[15, ["pop_before", "pop_after"]].tolist() == [100, 0]
    assert county.loc[30, ["pop_before", "pop_after"]].tolist() == [300, 0]
    assert county["mean_min_after"].isna().all()
    deltas = village_deltas(base, scen).set_index(["vid", "tier"])
    assert deltas.loc[("V1", "stroke"), "became_unreachable"] and deltas.loc[("V2", "stroke"), "became_unreachable"]
    assert not deltas.loc[("V3", "stroke"), "became_unreachable"]  # it never reached one
    assert pd.isna(deltas.loc[("V1", "stroke"), "fid_after"])


def test_a_service_opened_by_the_scenario_is_compared_too() -> None:
    base, scen = _villages(None), _villages([600.0, 600.0, 600.0])
    table = compare_tables(base, scen, scenario_name="open", bands_min=(15,))
    stroke = table[(table["scope"] == "county") & (table["tier"] == "stroke")].iloc[0]
    assert (stroke["pop_before"], stroke["pop_after"], stroke["pop_gain"]) == (0, 600, 600)
    assert village_deltas(base, scen).query("tier == 'stroke'")["became_reachable"].all()


def test_a_tier_neither_side_measures_is_still_refused() -> None:
    with pytest.raises(InputError, match="trauma_time_s"):
        compare_tables(_villages(None), _villages(None), scenario_name="s", tiers=["trauma"])
