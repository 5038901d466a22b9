"""What each travel mode may use of the roads, and how fast (km/h).

Driving (and ambulances) use the classes with a speed in `class_speeds_kmh` that are open to motor
vehicles (`access` code `yes`); walking uses every road but motorways, and footways, paths, steps and
the like, where walking is allowed (`foot` code `yes`). A `maxspeed` tag sets the driving speed of a
road the mode may use, never whether it may: a footway tagged maxspeed stays a footway. docs/roads.md
states the rules and where they come from.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.config import Settings
from healthreach.layers.roads.table import OPEN
from healthreach.rules import NO_WALK_CLASSES, WALK_ONLY_CLASSES, base_class

MODES = ("drive", "walk", "ambulance")


def open_to(edges: pd.DataFrame, column: str) -> np.ndarray:
    """Whether each segment's `access` or `foot` code lets the mode on; a missing column or cell is open."""
    if column not in edges:
        return np.ones(len(edges), dtype=bool)
    codes = edges[column]
    return (codes.isna() | (codes.astype(object) == OPEN)).to_numpy(dtype=bool)


def segment_speeds_kmh(edges: gpd.GeoDataFrame, mode: str, settings: Settings) -> np.ndarray:
    """Speed (km/h) of each road segment in `mode`; NaN where the mode may not use it."""
    if mode not in MODES:
        raise ValueError(f"unknown travel mode {mode!r} (expected one of {', '.join(MODES)})")
    # A province has millions of segments but a dozen classes: decide per distinct class, then index.
    codes, uniques = pd.factorize(edges["highway"].astype(str))
    classes = [base_class(h) for h in uniques]
    if mode == "walk":
        usable = np.array([c not in NO_WALK_CLASSES and (c in settings.class_speeds_kmh or c in WALK_ONLY_CLASSES)
                           for c in classes], dtype=bool)[codes] & open_to(edges, "foot")
        return np.where(usable, settings.walk_kmh, np.nan)
    class_speed = np.array([settings.class_speeds_kmh.get(c, np.nan) for c in classes], dtype=float)[codes]
    class_speed[~open_to(edges, "access")] = np.nan
    maxspeed = edges["maxspeed_kmh"].to_numpy(dtype=float)
    speed = np.where(np.isfinite(class_speed) & np.isfinite(maxspeed) & (maxspeed > 0), maxspeed, class_speed)
    if mode == "drive":
        return speed
    design = np.array([settings.design_speeds_kmh.get(c, np.nan) for c in classes], dtype=float)[codes]
    cap = np.fmax(design, speed)
    # fmax ignores a NaN argument: keep the segments the mode may not use NaN explicitly.
    return np.where(np.isfinite(speed), np.fmax(speed, np.fmin(speed * settings.ambulance_factor, cap)), np.nan)
