"""What each travel mode may use of the roads, and how fast (km/h)."""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from healthreach.config import Settings
from healthreach.rules import NO_WALK_CLASSES, WALK_ONLY_CLASSES, base_class

MODES = ("drive", "walk", "ambulance")


def segment_speeds_kmh(edges: gpd.GeoDataFrame, mode: str, settings: Settings) -> np.ndarray:
    """Speed (km/h) of each road segment in `mode`; NaN where the mode may not use it."""
    # A province has millions of segments but a dozen classes: decide per distinct class, then index.
    codes, uniques = pd.factorize(edges["highway"].astype(str))
    classes = [base_class(h) for h in uniques]
    maxspeed = edges["maxspeed_kmh"].to_numpy(dtype=float)
    if mode == "walk":
        usable = np.array([c not in NO_WALK_CLASSES and (c in settings.class_speeds_kmh or c in WALK_ONLY_CLASSES)
                           for c in classes], dtype=bool)[codes]
        return np.where(usable, settings.walk_kmh, np.nan)
    class_speed = np.array([settings.class_speeds_kmh.get(c, np.nan) for c in classes], dtype=float)[codes]
    speed = np.where(np.isfinite(maxspeed) & (maxspeed > 0), maxspeed, class_speed)
    if mode == "drive":
        return speed
    if mode == "ambulance":
        design = np.array([settings.design_speeds_kmh.get(c, np.nan) for c in classes], dtype=float)[codes]
        cap = np.fmax(design, speed)
        return np.fmax(speed, np.fmin(speed * settings.ambulance_factor, cap))
    raise ValueError(f"unknown travel mode {mode!r} (expected one of {', '.join(MODES)})")
