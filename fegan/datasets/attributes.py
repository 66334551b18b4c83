"""Who each actor is: the voice-borne attributes (sex, age, body size) the speaker protocol reads.

Real voices reveal sex, age and body size, and say nothing of eye or hair colour (issue 26), so
these three are what a voice -> face model can know of an unseen speaker, and what the
attribute judges read back from a face. One table per dataset, one row per actor:

| column | meaning |
|---|---|
| ``actor`` | the actor number of the clip table |
| ``sex`` | ``female`` / ``male`` |
| ``age`` | years (NaN where the dataset does not say) |
| ``age_band`` | ``age_band(age)``: 0 under 30, 1 30-44, 2 45-59, 3 60 and over (-1 unknown) |
| ``size`` | body size in [0, 1] (the synthetic population; NaN for real data) |
| ``size_band`` | ``size_band(size)``: 0 small, 1 medium, 2 large (-1 unknown) |

Where the rows come from, by ``data.format`` (``fegan.datasets.actors.read_actors``):

- ``ravdess``: an ``actors.csv`` at the root of ``data.raw_dir`` when there is one (the synthetic
  population writes it, columns ``actor, sex, age, size``); else sex from the actor number
  (RAVDESS: odd male, even female) and age and size unknown.
- ``cremad``: CREMA-D's ``VideoDemographics.csv`` (``ActorID, Age, Sex, Race, Ethnicity``).
- ``enterface``: nothing is published; every attribute unknown.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

SEXES = ("female", "male")
AGE_EDGES = (30.0, 45.0, 60.0)          # band i holds ages in [edge[i-1], edge[i])
AGE_BANDS = ("under 30", "30-44", "45-59", "60+")
SIZE_EDGES = (1 / 3, 2 / 3)
SIZE_BANDS = ("small", "medium", "large")
ACTORS_FILE = "actors.csv"                # at the root of a RAVDESS-layout folder (the synthetic population)
COLUMNS = ["actor", "sex", "age", "age_band", "size", "size_band"]
# attribute -> its classes, in the order the judges' outputs use
ATTRIBUTES = {"sex": SEXES, "age_band": AGE_BANDS, "size_band": SIZE_BANDS}


def age_band(age) -> np.ndarray:
    """Years -> band index (-1 where unknown)."""
    a = np.asarray(age, dtype=np.float64)
    return np.where(np.isnan(a), -1, np.searchsorted(AGE_EDGES, a, side="right")).astype(np.int64)


def size_band(size) -> np.ndarray:
    """Size in [0, 1] -> band index (-1 where unknown)."""
    s = np.asarray(size, dtype=np.float64)
    return np.where(np.isnan(s), -1, np.searchsorted(SIZE_EDGES, s, side="right")).astype(np.int64)


def complete(table: pd.DataFrame) -> pd.DataFrame:
    """``actor, sex[, age][, size]`` -> every column of ``COLUMNS``, sorted by actor."""
    t = table.copy()
    for col in ("age", "size"):
        if col not in t:
            t[col] = np.nan
        t[col] = t[col].astype(np.float64)
    t["sex"] = t["sex"].astype(str).str.strip().str.lower()
    bad = sorted(set(t.sex) - set(SEXES) - {"unknown"})
    if bad:
        raise ValueError(f"sex must be one of {', '.join(SEXES)} (or unknown), got {bad}")
    t["actor"] = t["actor"].astype(np.int64)
    t["age_band"] = age_band(t["age"])
    t["size_band"] = size_band(t["size"])
    return t[COLUMNS].sort_values("actor").reset_index(drop=True)


def from_parity(actors) -> pd.DataFrame:
    """RAVDESS's rule: odd actors are male, even female; nothing else known."""
    actors = sorted({int(a) for a in actors})
    return complete(pd.DataFrame({"actor": actors, "sex": ["male" if a % 2 else "female" for a in actors]}))
