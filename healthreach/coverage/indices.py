"""Two-step floating catchment accessibility (2SFCA) and its enhanced form (E2SFCA).

Doctors and beds per 1,000 residents as each village can reach them (Luo & Wang 2003): step 1 gives
every facility its supply-to-demand ratio R_j = S_j / sum_i W_ij P_i over the villages within its
catchment; step 2 sums, for every village, the ratios of the facilities it reaches, A_i = sum_j W_ij R_j.
2SFCA weighs every pair within the catchment 1; E2SFCA (Luo & Qi 2009) weighs travel-time zones with
a step function (0-10, 10-20, 20-30 min: 1.00, 0.68, 0.22), in both steps. Computed on sparse
(facilities x villages) matrices built from network travel times.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import sparse

from healthreach.coverage.masks import equal_masks
from healthreach.coverage.pairs import CostPairs
from healthreach.tiers import EMS_KINDS

# Luo & Qi (2009): upper bound of each zone (minutes, inclusive) and its weight.
E2SFCA_STEPS: tuple[tuple[float, float], ...] = ((10.0, 1.00), (20.0, 0.68), (30.0, 0.22))
CATCHMENT_MIN = 30.0
# Ambulance bases are not places residents go for care; their doctors would inflate the ratios.
EXCLUDED_KINDS = EMS_KINDS
RESOURCES = ("doctors", "beds")


@dataclass(frozen=True)
class FcaMatrix:
    """Travel times (minutes) of the facility x village pairs within the catchment, as sparse COO parts."""

    facility: np.ndarray
    village: np.ndarray
    minutes: np.ndarray
    shape: tuple[int, int]


def cost_pairs(cost_s: np.ndarray, catchment_min: float) -> FcaMatrix:
    """Pairs of a dense (facilities x villages) seconds matrix within `catchment_min` minutes."""
    inside = np.isfinite(cost_s) & (cost_s <= catchment_min * 60 + 1e-6)
    f, v = np.nonzero(inside)
    return FcaMatrix(f, v, cost_s[f, v] / 60.0, cost_s.shape)


def step_weights(minutes: np.ndarray, steps: tuple[tuple[float, float], ...]) -> np.ndarray:
    """Weight of each travel time (minutes) under a step function of (upper bound, weight) zones;
    0 beyond the last zone. Upper bounds are inclusive, as in PySAL access's `weights.step_fn`."""
    bounds = np.array([b for b, _ in steps], dtype=float)
    weights = np.array([w for _, w in steps] + [0.0], dtype=float)
    order = np.argsort(bounds)
    return weights[np.r_[order, len(bounds)]][np.searchsorted(bounds[order], minutes, side="left")]


def fca(supply: np.ndarray, demand: np.ndarray, pairs: FcaMatrix,
        steps: tuple[tuple[float, float], ...] | None = None) -> np.ndarray:
    """Accessibility (supply units per person) of every village by 2SFCA, or E2SFCA with `steps`.

    `supply` per facility (e.g. doctors), `demand` per village (persons). A facility whose catchment
    holds nobody has no ratio (it serves no one); a village that reaches no facility scores 0.
    """
    return _accessibility(supply, demand, weight_matrix(pairs, steps))


def weight_matrix(pairs: FcaMatrix, steps: tuple[tuple[float, float], ...] | None = None) -> sparse.csr_matrix:
    """The (facilities x villages) weights W_ij: 1 within the catchment, or the E2SFCA `steps` weights."""
    weights = np.ones(len(pairs.minutes)) if steps is None else step_weights(pairs.minutes, steps)
    keep = weights > 0
    return sparse.csr_matrix((weights[keep], (pairs.facility[keep], pairs.village[keep])), shape=pairs.shape)


def _accessibility(supply: np.ndarray, demand: np.ndarray, w: sparse.csr_matrix) -> np.ndarray:
    weighted_demand = w @ np.asarray(demand, dtype=float)
    ratio = np.divide(np.asarray(supply, dtype=float), weighted_demand,
                      out=np.zeros(w.shape[0]), where=weighted_demand > 0)
    return np.asarray(w.T @ ratio)


def fca_tables(villages: pd.DataFrame, facilities: pd.DataFrame, pairs: CostPairs, *, county: str,
               catchment_min: float = CATCHMENT_MIN,
               steps: tuple[tuple[float, float], ...] = E2SFCA_STEPS) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Doctors and beds per 1,000 residents by 2SFCA and E2SFCA, per village and per county/township
    (population-weighted means), driving toward the facility within `catchment_min` minutes.

    `pairs`: drive-toward seconds from the villages (targets, numbered as `villages`) to the
    facilities (sources, numbered as `facilities`), complete within the catchment. Facilities of the
    EXCLUDED_KINDS (ambulance bases) are left out.
    """
    excluded = facilities["kind"].isin(EXCLUDED_KINDS).to_numpy()
    keep = ~excluded[pairs.source]
    f, v, m = pairs.source[keep], pairs.target[keep], pairs.cost[keep] / 60.0
    population = pd.to_numeric(villages["population"], errors="coerce").fillna(0).to_numpy(dtype=float)
    shape = (len(facilities), len(villages))
    plain_in, enhanced_in = m <= catchment_min + 1e-8, m <= max(b for b, _ in steps) + 1e-8
    # One matrix per method, shared by every resource (a province has millions of pairs).
    plain = weight_matrix(FcaMatrix(f[plain_in], v[plain_in], m[plain_in], shape))
    enhanced = weight_matrix(FcaMatrix(f[enhanced_in], v[enhanced_in], m[enhanced_in], shape), steps)
    out = pd.DataFrame({"vid": villages["vid"].to_numpy(dtype=object), "name": villages["name"].to_numpy(dtype=object),
                        "township": villages["township"].to_numpy(dtype=object), "population": population})
    for resource in RESOURCES:
        supply = pd.to_numeric(facilities[resource], errors="coerce").fillna(0).to_numpy(dtype=float)
        supply[excluded] = 0.0
        out[f"{resource}_2sfca"] = _accessibility(supply, population, plain) * 1000
        out[f"{resource}_e2sfca"] = _accessibility(supply, population, enhanced) * 1000
    return out, _weighted_means(out, county)


def _weighted_means(table: pd.DataFrame, county: str) -> pd.DataFrame:
    measures = [c for c in table.columns if c.endswith("sfca")]
    groups = [("county", county, np.ones(len(table), dtype=bool))]
    towns = sorted(table["township"].dropna().unique())
    groups += [("township", town, mask) for town, mask in equal_masks(table["township"], towns).items()]
    pop = table["population"].to_numpy(dtype=float)
    rows = []
    for scope, name, mask in groups:
        total = pop[mask].sum()
        rec = {"scope": scope, "name": name, "population": total}
        for col in measures:
            values = table[col].to_numpy(dtype=float)[mask]
            rec[col] = float(values @ pop[mask] / total) if total > 0 else np.nan
        rows.append(rec)
    return pd.DataFrame(rows, columns=["scope", "name", "population", *measures])
