"""CREMA-D names and demographics: ``VideoFlash/AAAA_SSS_EEE_LL.flv`` (SPEC section 6).

CREMA-D (Cao et al. 2014; ODbL): 91 actors (1001..1091) each read 12 sentences (three-letter
codes, below) in six emotions at one of four levels; 480x360 Flash video with MP3 audio.

- **emotion**: ANG DIS FEA HAP NEU SAD, mapped to the RAVDESS codes 5 7 6 3 1 4 so that every
  dataset shares the emotion labels (and the judges' classes).
- **intensity**: LO 1, MD 2, HI 3, XX 0. Only IEO was directed at low, medium and high; XX,
  "unspecified", is every other sentence's level (and neutral's), so 0 means "not directed",
  not "lower than LO". The scale is CREMA-D's own, not RAVDESS's (1 normal, 2 strong).
- **statement**: the 1-based index of the sentence code in ``SENTENCES`` (IEO 1 .. WSI 12), so
  the clip table's integer column holds it as it holds RAVDESS's 1 and 2.

``VideoDemographics.csv`` at the dataset's root gives each actor's age, sex, race and
ethnicity (``ActorID,Age,Sex,Race,Ethnicity``); ``read_demographics`` reads it for the clip
table's ``gender`` and the speaker protocol's attributes (``fegan.datasets.actors.read_actors``).
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from ..errors import FeganError

# CREMA-D codes -> (name, RAVDESS emotion code)
EMOTIONS = {
    "ANG": ("angry", 5), "DIS": ("disgust", 7), "FEA": ("fearful", 6),
    "HAP": ("happy", 3), "NEU": ("neutral", 1), "SAD": ("sad", 4),
}
LEVELS = {"LO": 1, "MD": 2, "HI": 3, "XX": 0}
SENTENCES = {
    "IEO": "It's eleven o'clock", "TIE": "That is exactly what happened",
    "IOM": "I'm on my way to the meeting", "IWW": "I wonder what this is about",
    "TAI": "The airplane is almost full", "MTI": "Maybe tomorrow it will be cold",
    "IWL": "I would like a new alarm clock", "ITH": "I think I have a doctor's appointment",
    "DFA": "Don't forget a jacket", "ITS": "I think I've seen this before",
    "TSI": "The surface is slick", "WSI": "We'll stop in a couple of minutes",
}
ACTORS = range(1001, 1092)
DEMOGRAPHICS = "VideoDemographics.csv"
# the file's header, in its order -> our names; read_demographics returns COLUMNS
_COLUMNS = {"ActorID": "actor", "Age": "age", "Sex": "sex", "Race": "race", "Ethnicity": "ethnicity"}
COLUMNS = ["actor", "sex", "age", "race", "ethnicity"]
_HEADER = {ours: theirs for theirs, ours in _COLUMNS.items()}

_NAME = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$", re.IGNORECASE)


class InvalidName(ValueError):
    """A file name that does not follow the CREMA-D convention."""


@dataclass(frozen=True)
class CremadName:
    actor: int
    sentence: str          # IEO .. WSI
    emotion_code: str      # ANG .. SAD
    level: str             # LO MD HI XX

    @property
    def statement(self) -> int:
        return list(SENTENCES).index(self.sentence) + 1

    @property
    def emotion(self) -> int:
        """The RAVDESS code."""
        return EMOTIONS[self.emotion_code][1]

    @property
    def emotion_name(self) -> str:
        return EMOTIONS[self.emotion_code][0]

    @property
    def intensity(self) -> int:
        return LEVELS[self.level]

    @property
    def stem(self) -> str:
        return f"{self.actor}_{self.sentence}_{self.emotion_code}_{self.level}"


def parse_name(stem: str) -> CremadName:
    """Parse a file stem (no extension); raises ``InvalidName`` with the reason."""
    m = _NAME.match(stem)
    if not m:
        raise InvalidName(f"not a CREMA-D name (want AAAA_SSS_EEE_LL, e.g. 1001_DFA_ANG_XX): {stem!r}")
    n = CremadName(int(m.group(1)), *(g.upper() for g in m.groups()[1:]))
    checks = [
        (n.actor in ACTORS, f"actor {n.actor} (1001..1091)"),
        (n.sentence in SENTENCES, f"sentence {n.sentence} (one of {' '.join(SENTENCES)})"),
        (n.emotion_code in EMOTIONS, f"emotion {n.emotion_code} (one of {' '.join(EMOTIONS)})"),
        (n.level in LEVELS, f"level {n.level} (one of {' '.join(LEVELS)})"),
    ]
    for ok, what in checks:
        if not ok:
            raise InvalidName(f"invalid CREMA-D name {stem}: {what}")
    return n


def read_demographics(root: str | Path) -> pd.DataFrame:
    """``root/VideoDemographics.csv`` as ``actor, sex, age, race, ethnicity``, one row per actor,
    sorted by actor; sex ``male``/``female``. A missing or malformed file is a ``FeganError``."""
    path = Path(root) / DEMOGRAPHICS
    if not path.is_file():
        raise FeganError(f"no {DEMOGRAPHICS} in {root} (CREMA-D's actor table: point data.raw_dir at the folder "
                         "that holds it and VideoFlash/)")
    try:
        with warnings.catch_warnings():         # a row's extra trailing fields (a trailing comma) are dropped
            warnings.simplefilter("ignore", pd.errors.ParserWarning)
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", skipinitialspace=True,
                              index_col=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise FeganError(f"{path}: not a readable CSV ({str(e).splitlines()[0] if str(e) else type(e).__name__})")
    raw.columns = [str(c).strip() for c in raw.columns]
    missing = [c for c in _COLUMNS if c not in raw.columns]
    if missing:
        raise FeganError(f"{path} lacks column(s) {', '.join(missing)} (want {','.join(_COLUMNS)})")
    t = raw[list(_COLUMNS)].rename(columns=_COLUMNS).apply(lambda c: c.str.strip())
    t["sex"] = t.sex.str.lower()
    for col, ok in (("actor", t.actor.str.fullmatch(r"\d+")),
                    ("age", t.age.str.fullmatch(r"\d+(\.\d*)?") | (t.age == "")),
                    ("sex", t.sex.isin(("male", "female")))):
        if not ok.all():
            i = int((~ok).to_numpy().argmax())
            raise FeganError(f"{path}: bad {col} {raw[_HEADER[col]].iloc[i]!r} on line {i + 2}")
    t["actor"] = t.actor.astype("int64")
    t["age"] = pd.to_numeric(t.age).astype("float64")      # NaN where the file leaves it blank
    dup = t.actor[t.actor.duplicated()]
    if len(dup):
        raise FeganError(f"{path}: actor {dup.iloc[0]} listed twice")
    return t[COLUMNS].sort_values("actor").reset_index(drop=True)

