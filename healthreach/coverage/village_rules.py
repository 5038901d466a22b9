"""Village clinic rules: VC-PER-VILLAGE, VC-EXEMPT and VD-PER-POP for rural administrative villages.

A village clinic belongs to the village its `vid` names. A village without a clinic is exempt when it
has fewer residents than VC-EXEMPT's figure or lies within VC-EXEMPT's `near_m` metres by road of a
township health centre (001 item 3: "临近乡镇卫生院、常住人口不足200人"). Village doctors (VD-PER-POP) are
counted only in villages with a clinic: exempt villages and villages without one are not in the
township rows (the missing clinic is VC-PER-VILLAGE's finding).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from healthreach.coverage.masks import equal_masks
from healthreach.coverage.rule_inputs import counts, people
from healthreach.coverage.rule_rows import Rows, village_shares
from healthreach.rules import Rule


def village_doctor_need(population: float, rule: Rule) -> int:
    """Village doctors a village clinic needs under VD-PER-POP: `value` per `per` served residents
    (ceiling), and at least one in every clinic (003 §四(三)3: 保证每个行政村至少有1名乡村医生)."""
    per = float(rule.option("per"))
    return max(1, math.ceil(population * rule.value / per - 1e-9))


def village_doctor_allowance(population: float, rule: Rule) -> int:
    """Village doctors a clinic *may* have: the need, or 1 for the first `per` residents plus one per
    further `allowance_per` (每增加500人可增配1名乡村医生), whichever is more."""
    per, step = float(rule.option("per")), float(rule.option("allowance_per"))
    extra = math.ceil((population - per) / step - 1e-9) if population > per and step > 0 else 0
    return max(village_doctor_need(population, rule), 1 + extra)


def _clinics(facilities: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Per village id: clinics naming it and their doctors; and how many clinics name no village."""
    clinic = facilities[facilities["kind"] == "village_clinic"]
    vid = clinic["vid"].fillna("").astype(str) if "vid" in clinic else pd.Series([""] * len(clinic))
    table = pd.DataFrame({"vid": vid.to_numpy(), "doctors": counts(clinic, "doctors")})
    named = table[table["vid"] != ""]
    return named.groupby("vid")["doctors"].agg(clinics="size", doctors="sum"), int((table["vid"] == "").sum())


def village_clinic_rules(rows: Rows, villages: pd.DataFrame, facilities: pd.DataFrame, county: np.ndarray) -> None:
    """VC-PER-VILLAGE and VC-EXEMPT (village rows and shares) and VD-PER-POP (village, township, county)."""
    by_village, unnamed = _clinics(facilities)
    exempt_rule, vd_rule = rows.rule("VC-EXEMPT"), rows.rule("VD-PER-POP")
    near_m = float(exempt_rule.option("near_m"))
    rural = villages["setting"].to_numpy() != "urban"
    vids = villages["vid"].astype(str).to_numpy()
    names = villages["name"].astype(str).to_numpy()
    population = villages["population"].to_numpy(dtype=float)
    clinics = by_village["clinics"].reindex(vids).fillna(0).to_numpy()
    doctors = by_village["doctors"].reindex(vids).fillna(0).to_numpy()
    thc_m = villages["township_dist_m"].to_numpy(dtype=float)
    thc_s = villages["township_time_s"].to_numpy(dtype=float)
    fname = dict(zip(facilities["fid"].astype(str), facilities["name"].astype(str)))
    thc = np.array([fname.get(str(f), str(f)) if pd.notna(f) else "" for f in villages["township_fid"]], dtype=object)
    reading = (f"exempt: fewer than {exempt_rule.value:,.0f} residents, or within {near_m:,.0f} m by road of a "
               "township health centre ('near': healthreach assumption, parameters.rules.VC-EXEMPT.near_m)")
    served = np.zeros(len(villages), dtype=bool)
    need = np.zeros(len(villages))
    for i in np.flatnonzero(rural):
        where = (f"nearest township health centre {thc[i]}: {thc_m[i] / 1000:,.1f} km, {thc_s[i] / 60:,.0f} min by "
                 "road" if np.isfinite(thc_m[i]) else "no township health centre reachable by road")
        if clinics[i]:
            served[i] = True
            rows.judged("VC-PER-VILLAGE", "village", vids[i], names[i], clinics[i], True, unit="clinics")
            need[i] = village_doctor_need(population[i], vd_rule)
            may = village_doctor_allowance(population[i], vd_rule)
            rows.judged("VD-PER-POP", "village", vids[i], names[i], doctors[i], doctors[i] >= need[i], target=need[i],
                        unit="doctors", note=f"{people(population[i])} residents need {need[i]:.0f} (at least "
                        f"{vd_rule.value:g} per {float(vd_rule.option('per')):,.0f}, 1 in every clinic); up to "
                        f"{may} allowed (one more may be added per further "
                        f"{float(vd_rule.option('allowance_per')):,.0f})")
            continue
        small = population[i] < exempt_rule.value
        near = bool(np.isfinite(thc_m[i]) and thc_m[i] <= near_m)
        if small or near:
            served[i] = True
            why = (f"{people(population[i])} residents (fewer than {exempt_rule.value:,.0f})" if small
                   else f"{thc_m[i]:,.0f} m by road from township health centre {thc[i]} (within {near_m:,.0f} m)")
            rows.judged("VC-EXEMPT", "village", vids[i], names[i], population[i], True, unit="persons",
                        note=f"no clinic of its own: {why}; may be served by scheduled visits, a posted doctor or a "
                        f"neighbouring village's clinic; {reading}")
            rows.judged("VC-PER-VILLAGE", "village", vids[i], names[i], 0, True, unit="clinics",
                        note=f"exempt (VC-EXEMPT): {why}")
        else:
            rows.judged("VC-PER-VILLAGE", "village", vids[i], names[i], 0, False, unit="clinics",
                        note=f"no village clinic for {people(population[i])} residents; {where} (not near); {reading}")
    village_shares(rows, "VC-PER-VILLAGE", villages, county, rural, served, what="in villages without a clinic "
                   "and not exempt", empty="no rural administrative villages", note=reading)
    _doctor_totals(rows, villages, county, rural & (clinics > 0), need, doctors, unnamed)


def _doctor_totals(rows: Rows, villages: pd.DataFrame, county: np.ndarray, served: np.ndarray, need: np.ndarray,
                   doctors: np.ndarray, unnamed: int) -> None:
    """VD-PER-POP per township and county over the villages with a clinic: met when every one of them
    has the doctors it needs (value: doctors; target: the doctors needed, summed)."""
    town = villages["township"].to_numpy(dtype=object)
    rural = villages["setting"].to_numpy() != "urban"
    names = villages["name"].astype(str).to_numpy()
    population = villages["population"].to_numpy(dtype=float)
    left_out = f"; {unnamed} village clinics name no village (`vid`) and are left out" if unnamed else ""
    of_town = equal_masks(town, {t for t in town if t})
    for name, inside in equal_masks(county, dict.fromkeys(c for c in county if c is not None)).items():
        if not (rural & inside).any():
            rows.not_applicable("VD-PER-POP", "county", name, name, "no rural administrative villages")
            continue
        groups = [("county", name, inside)] + [("township", t, inside & of_town[t])
                                               for t in sorted({t for t in town[inside & rural] if t})]
        for scope, label, members in groups:
            mine = members & served
            if not mine.any():
                rows.not_applicable("VD-PER-POP", scope, label, label, "no village clinic in its villages "
                                    "(see VC-PER-VILLAGE)")
                continue
            short = np.flatnonzero(mine & (doctors < need))
            listed = "、".join(names[short][:8]) + ("…" if len(short) > 8 else "")
            rows.judged("VD-PER-POP", scope, label, label, doctors[mine].sum(), not len(short), target=need[mine].sum(),
                        unit="doctors", note=f"{int(mine.sum())} villages with a clinic, "
                        f"{people(population[mine].sum())} "
                        f"residents: {need[mine].sum():.0f} village doctors needed, {doctors[mine].sum():.0f} there; "
                        + (f"{len(short)} village{'s' if len(short) > 1 else ''} short: {listed}" if len(short)
                           else "every village has its need")
                        + "; exempt villages and villages without a clinic are not counted" + left_out)
